//! `notify = ["program", "arg"]`: after each turn (and wherever an approval
//! is asked) run the program with one more argument, a JSON object. Fire and
//! forget: a failing notifier is reported to the caller, never fatal.

use serde_json::{json, Value};

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

/// Starts `argv` with `payload` as its last argument and does not wait.
/// The child is reaped by a detached thread so it never lingers as a zombie.
pub fn fire(argv: &[String], payload: &Value) -> std::io::Result<()> {
    let (program, args) = argv
        .split_first()
        .ok_or_else(|| std::io::Error::new(std::io::ErrorKind::InvalidInput, "notify is empty"))?;
    let mut child = std::process::Command::new(program)
        .args(args)
        .arg(payload.to_string())
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
        fire(&["sh".into(), "-c".into(), script, "notify".into()], &p).unwrap();
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
            fire(&["/nonexistent/notifier".into()], &p).is_err(),
            "reported, not fatal"
        );
        assert!(fire(&[], &p).is_err());
    }
}
