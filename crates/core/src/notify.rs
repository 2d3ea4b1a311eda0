//! `notify = ["program", "arg"]`: after each turn (and wherever an approval
//! is asked) run the program with one more argument, a JSON object. Fire and
//! forget: a failing notifier is reported to the caller, never fatal.

use serde_json::{json, Value};
use std::path::{Path, PathBuf};

/// `{"type":"agent-turn-complete", ...}`.
pub fn turn_complete(
    thread_id: &str,
    turn_id: &str,
    cwd: &str,
    inputs: &[String],
    last: Option<&str>,
) -> Value {
    json!({
        "type": "agent-turn-complete",
        "thread-id": thread_id,
        "turn-id": turn_id,
        "cwd": cwd,
        "input-messages": inputs,
        "last-assistant-message": last,
    })
}

/// `{"type":"approval-requested", ...}`.
pub fn approval_requested(
    thread_id: &str,
    turn_id: &str,
    cwd: &str,
    command: &[String],
    reason: Option<&str>,
) -> Value {
    json!({
        "type": "approval-requested",
        "thread-id": thread_id,
        "turn-id": turn_id,
        "cwd": cwd,
        "command": command,
        "reason": reason,
    })
}

/// Resolves `notify`'s program once, at session start, to a canonical path
/// outside every writable root (`untrusted`): a program a sandboxed command
/// could replace would run unsandboxed. A bare name is looked up on `PATH`,
/// skipping entries inside a root; a program found only inside one, or
/// named by a path inside one, is refused with the reason.
pub fn resolve(argv: &[String], cwd: &Path, untrusted: &[PathBuf]) -> Result<Vec<String>, String> {
    let Some((program, args)) = argv.split_first() else {
        return Ok(Vec::new());
    };
    let inside = |p: &Path| untrusted.iter().find(|r| p.starts_with(r)).cloned();
    let refuse = |path: &Path, root: &Path| {
        format!(
            "{} lies inside the writable root {}, where a sandboxed command could replace it, and cordon runs it unsandboxed; install it outside the writable roots",
            path.display(),
            root.display()
        )
    };
    let found = if program.contains('/') {
        // Missing: judged by the path as written (it could appear later).
        let given = cwd.join(program);
        let real = std::fs::canonicalize(&given).unwrap_or(given);
        if let Some(root) = inside(&real) {
            return Err(refuse(&real, &root));
        }
        real
    } else {
        let mut planted = None;
        let mut hit = None;
        for dir in std::env::split_paths(&std::env::var_os("PATH").unwrap_or_default()) {
            if !dir.is_absolute() {
                continue;
            }
            let Ok(real) = std::fs::canonicalize(dir.join(program)) else {
                continue;
            };
            if !is_executable_file(&real) {
                continue;
            }
            match inside(&real) {
                Some(root) => {
                    planted.get_or_insert((real, root));
                }
                None => {
                    hit = Some(real);
                    break;
                }
            }
        }
        match (hit, planted) {
            (Some(real), _) => real,
            (None, Some((real, root))) => return Err(refuse(&real, &root)),
            // Not there yet: it runs, if ever, by name on the trusted
            // PATH `fire` is given, so a later plant is never found.
            (None, None) => PathBuf::from(program),
        }
    };
    let mut out = vec![found.to_string_lossy().into_owned()];
    out.extend(args.iter().cloned());
    Ok(out)
}

fn is_executable_file(path: &Path) -> bool {
    let Ok(meta) = std::fs::metadata(path) else {
        return false;
    };
    #[cfg(unix)]
    {
        use std::os::unix::fs::PermissionsExt;
        meta.is_file() && meta.permissions().mode() & 0o111 != 0
    }
    #[cfg(not(unix))]
    {
        meta.is_file()
    }
}

/// `PATH` without entries inside `untrusted` (or relative ones), for the
/// `notify` program, which runs outside the sandbox.
pub fn trusted_path(untrusted: &[PathBuf]) -> std::ffi::OsString {
    let path = std::env::var_os("PATH").unwrap_or_default();
    let kept: Vec<PathBuf> = std::env::split_paths(&path)
        .filter(|d| d.is_absolute())
        .filter(|d| {
            let real = std::fs::canonicalize(d).unwrap_or_else(|_| d.clone());
            !untrusted.iter().any(|r| real.starts_with(r))
        })
        .collect();
    std::env::join_paths(kept).unwrap_or_default()
}

/// Starts `argv` with `payload` as its last argument and does not wait.
/// The child is reaped by a detached thread so it never lingers as a zombie.
pub fn fire(argv: &[String], payload: &Value, path: &std::ffi::OsStr) -> std::io::Result<()> {
    let (program, args) = argv
        .split_first()
        .ok_or_else(|| std::io::Error::new(std::io::ErrorKind::InvalidInput, "notify is empty"))?;
    let mut child = std::process::Command::new(program)
        .args(args)
        .arg(payload.to_string())
        .env("PATH", path)
        .stdin(std::process::Stdio::null())
        .stdout(std::process::Stdio::null())
        .stderr(std::process::Stdio::null())
        .spawn()?;
    std::thread::spawn(move || {
        let _ = child.wait();
    });
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn payloads_and_firing() {
        let p = turn_complete("t1", "u1", "/w", &["fix it".into()], Some("done"));
        assert_eq!(p["type"], "agent-turn-complete");
        assert_eq!(p["input-messages"][0], "fix it");
        assert_eq!(p["last-assistant-message"], "done");
        let a = approval_requested(
            "t1",
            "u1",
            "/w",
            &["rm".into(), "-rf".into()],
            Some("cleanup"),
        );
        assert_eq!(a["type"], "approval-requested");
        let tmp = tempfile::tempdir().unwrap();
        let out = tmp.path().join("payload");
        let script = format!("printf '%s' \"$1\" > {}", out.display());
        let path = std::env::var_os("PATH").unwrap_or_default();
        fire(
            &["sh".into(), "-c".into(), script, "notify".into()],
            &p,
            &path,
        )
        .unwrap();
        let start = std::time::Instant::now();
        while std::fs::read_to_string(&out)
            .map(|s| s.is_empty())
            .unwrap_or(true)
        {
            assert!(start.elapsed().as_secs() < 5, "notifier never ran");
            std::thread::sleep(std::time::Duration::from_millis(10));
        }
        let got: Value = serde_json::from_str(&std::fs::read_to_string(&out).unwrap()).unwrap();
        assert_eq!(got, p);
        assert!(
            fire(&["/nonexistent/notifier".into()], &p, &path).is_err(),
            "reported, not fatal"
        );
        assert!(fire(&[], &p, &path).is_err());
    }
}
