//! Applying a patch *inside* the sandbox. The agent checks a patch against
//! the policy on the host (so a refusal is friendly and changes nothing),
//! then runs cordon's own executable under `cordon sandbox` with the
//! session's policy as `cordon apply-patch`, which reads the patch on stdin
//! and writes it. The kernel enforces the policy on every write, so a patch
//! can do exactly what a shell command could, whatever a command planted
//! between the check and the write.
//!
//! The helper answers with one JSON object on stdout:
//! `{"changes": [{"kind": "add"|"update"|"delete", "path", "from"?}]}` or
//! `{"error": "..."}`.

use super::{apply, parse, Applied, FileChange};
use serde_json::{json, Value};
use std::path::{Path, PathBuf};

/// The hidden subcommand that applies a patch read from stdin in the
/// current directory.
pub const SUBCOMMAND: &str = "apply-patch";

/// The helper's work: applies `input` in `cwd` and returns whether it
/// applied and the JSON answer for stdout.
pub fn run_helper(input: &str, cwd: &Path) -> (bool, String) {
    match parse(input).and_then(|p| apply(&p, cwd, None)) {
        Ok(applied) => (true, report(&applied).to_string()),
        Err(e) => (false, json!({ "error": e.to_string() }).to_string()),
    }
}

fn report(applied: &Applied) -> Value {
    let changes: Vec<Value> = applied
        .changes
        .iter()
        .map(|c| match c {
            FileChange::Added(p) => json!({"kind": "add", "path": p}),
            FileChange::Updated { from, to } => json!({"kind": "update", "path": to, "from": from}),
            FileChange::Deleted(p) => json!({"kind": "delete", "path": p}),
        })
        .collect();
    json!({ "changes": changes })
}

/// Reads the helper's answer: what was applied, or why not.
pub fn parse_report(stdout: &str) -> Result<Applied, String> {
    let value: Value = serde_json::from_str(stdout.trim())
        .map_err(|e| format!("the patch helper's answer is not JSON ({e})"))?;
    if let Some(error) = value.get("error") {
        return Err(error.as_str().unwrap_or("unknown error").to_string());
    }
    let bad = || "the patch helper's answer has no valid `changes`".to_string();
    let path = |v: &Value, key: &str| v.get(key).and_then(Value::as_str).map(PathBuf::from);
    let changes = value
        .get("changes")
        .and_then(Value::as_array)
        .ok_or_else(bad)?
        .iter()
        .map(|c| {
            let to = path(c, "path").ok_or_else(bad)?;
            match c.get("kind").and_then(Value::as_str) {
                Some("add") => Ok(FileChange::Added(to)),
                Some("delete") => Ok(FileChange::Deleted(to)),
                Some("update") => Ok(FileChange::Updated {
                    from: path(c, "from").ok_or_else(bad)?,
                    to,
                }),
                _ => Err(bad()),
            }
        })
        .collect::<Result<Vec<_>, _>>()?;
    Ok(Applied { changes })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_helper_report_round_trips_and_errors_are_carried() {
        let dir = tempfile::tempdir().unwrap();
        std::fs::write(dir.path().join("old.txt"), "a\n").unwrap();
        let patch = "*** Begin Patch\n*** Add File: new.txt\n+hi\n*** Update File: old.txt\n*** Move to: moved.txt\n@@\n-a\n+b\n*** End Patch\n";
        let (ok, out) = run_helper(patch, dir.path());
        assert!(ok, "{out}");
        let applied = parse_report(&out).unwrap();
        assert_eq!(
            applied.changes,
            [
                FileChange::Added(dir.path().join("new.txt")),
                FileChange::Updated {
                    from: dir.path().join("old.txt"),
                    to: dir.path().join("moved.txt"),
                },
            ]
        );
        assert_eq!(
            std::fs::read_to_string(dir.path().join("moved.txt")).unwrap(),
            "b\n"
        );
        let (ok, out) = run_helper(
            "*** Begin Patch\n*** Delete File: gone\n*** End Patch\n",
            dir.path(),
        );
        assert!(!ok);
        assert!(parse_report(&out).unwrap_err().contains("gone"), "{out}");
        let (ok, out) = run_helper(
            "*** Begin Patch\n*** Delete File: new.txt\n*** End Patch\n",
            dir.path(),
        );
        assert!(ok, "{out}");
        assert_eq!(
            parse_report(&out).unwrap().changes,
            [FileChange::Deleted(dir.path().join("new.txt"))]
        );
        assert!(!dir.path().join("new.txt").exists());
        assert!(parse_report("not json").is_err());
        assert!(parse_report(r#"{"changes": [{"kind": "chmod", "path": "x"}]}"#).is_err());
    }
}
