//! Session events as one-line progress messages, sent as
//! `notifications/progress` when the call carried a progress token and as
//! `notifications/message` log lines otherwise.

use cordon_core::agent::AgentEvent;
use cordon_core::approval::{ApprovalAction, ApprovalRequest};
use cordon_core::session::SessionEvent;
use rmcp::model::{LoggingLevel, ProgressNotificationParam, ProgressToken};
use rmcp::{Peer, RoleServer};
use serde_json::Value;

/// Most characters of a message or reasoning text in one progress line.
const SHORT: usize = 200;

/// `text` on one line, cut at [`SHORT`] characters.
fn short(text: &str) -> String {
    let line = text.split_whitespace().collect::<Vec<_>>().join(" ");
    if line.chars().count() <= SHORT {
        return line;
    }
    let cut: String = line.chars().take(SHORT).collect();
    format!("{cut}…")
}

/// The approval request in one line.
pub fn describe_approval(request: &ApprovalRequest) -> String {
    match &request.action {
        ApprovalAction::Command { argv, cwd } => format!(
            "approval asked: run `{}` in {}",
            cordon_core::runner::display_command(argv),
            cwd.display()
        ),
        ApprovalAction::Patch { files } => format!(
            "approval asked: apply a patch to {}",
            files
                .iter()
                .map(|f| f.path.display().to_string())
                .collect::<Vec<_>>()
                .join(", ")
        ),
        ApprovalAction::McpToolCall { server, tool, .. } => {
            format!("approval asked: call the MCP tool {server}.{tool}")
        }
    }
}

/// Turns events into lines; remembers whether an answer is being written
/// so its deltas become one line.
#[derive(Default)]
pub struct Describer {
    writing: bool,
}

impl Describer {
    /// The line for `event`, if it deserves one.
    pub fn describe(&mut self, event: &SessionEvent) -> Option<String> {
        match event {
            SessionEvent::Agent(AgentEvent::TextDelta(_)) if !self.writing => {
                self.writing = true;
                Some("the model is writing its answer".into())
            }
            SessionEvent::Agent(AgentEvent::MessageCompleted(_)) => {
                self.writing = false;
                None
            }
            SessionEvent::Agent(AgentEvent::Retrying {
                attempt, reason, ..
            }) => Some(format!(
                "retrying the model request (attempt {attempt} failed: {reason})"
            )),
            SessionEvent::Json(v) => json_line(v),
            _ => None,
        }
    }
}

/// The line for one `exec --json` event.
fn json_line(v: &Value) -> Option<String> {
    let s = |v: &Value| v.as_str().unwrap_or_default().to_string();
    let item = &v["item"];
    match (v["type"].as_str()?, item["type"].as_str()) {
        ("thread.started", _) => Some(format!("session {} started", s(&v["thread_id"]))),
        ("turn.started", _) => Some("turn started".into()),
        ("turn.completed", _) => Some(format!(
            "turn completed ({} input tokens, {} output tokens)",
            v["usage"]["input_tokens"], v["usage"]["output_tokens"]
        )),
        ("turn.failed", _) => Some(format!("turn failed: {}", s(&v["error"]["message"]))),
        ("item.started", Some("command_execution")) => {
            Some(format!("command started: {}", s(&item["command"])))
        }
        ("item.completed", Some("command_execution")) => Some(format!(
            "command {} (exit code {}): {}",
            s(&item["status"]),
            item["exit_code"],
            s(&item["command"])
        )),
        ("item.completed", Some("file_change")) => {
            let files: Vec<String> = item["changes"]
                .as_array()
                .map(|c| {
                    c.iter()
                        .map(|c| format!("{} {}", s(&c["kind"]), s(&c["path"])))
                        .collect()
                })
                .unwrap_or_default();
            Some(format!(
                "patch {}: {}",
                if item["status"] == "completed" {
                    "applied"
                } else {
                    "not applied"
                },
                files.join(", ")
            ))
        }
        ("item.completed", Some("agent_message")) => {
            Some(format!("message: {}", short(&s(&item["text"]))))
        }
        ("item.completed", Some("reasoning")) => {
            Some(format!("reasoning: {}", short(&s(&item["text"]))))
        }
        ("item.completed", Some("error")) => Some(format!("error: {}", s(&item["message"]))),
        ("item.started" | "item.updated", Some("todo_list")) => {
            let items = item["items"].as_array().map(Vec::as_slice).unwrap_or(&[]);
            let done = items.iter().filter(|i| i["completed"] == true).count();
            Some(format!("plan: {done} of {} steps done", items.len()))
        }
        _ => None,
    }
}

/// Where one call's progress lines go.
pub struct Notifier {
    peer: Peer<RoleServer>,
    token: Option<ProgressToken>,
    step: u32,
    /// Whether the client wants info-level log lines (`logging/setLevel`).
    log_info: bool,
}

impl Notifier {
    /// For a call from `peer` with `token`, if it carried one.
    pub fn new(peer: Peer<RoleServer>, token: Option<ProgressToken>, log_info: bool) -> Notifier {
        Notifier {
            peer,
            token,
            step: 0,
            log_info,
        }
    }

    /// Sends one line (a failure to send is the client's loss, not the turn's).
    pub async fn say(&mut self, message: String) {
        match &self.token {
            Some(token) => {
                self.step += 1;
                let param = ProgressNotificationParam::new(token.clone(), f64::from(self.step))
                    .with_message(message);
                let _ = self.peer.notify_progress(param).await;
            }
            None if self.log_info => {
                let param = rmcp::model::LoggingMessageNotificationParam::new(
                    LoggingLevel::Info,
                    Value::String(message),
                )
                .with_logger("cordon");
                let _ = self.peer.notify_logging_message(param).await;
            }
            None => {}
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    #[test]
    fn events_become_short_lines_and_deltas_one_line() {
        let mut d = Describer::default();
        let delta = SessionEvent::Agent(AgentEvent::TextDelta("a".into()));
        assert_eq!(
            d.describe(&delta).as_deref(),
            Some("the model is writing its answer")
        );
        assert_eq!(d.describe(&delta), None, "one line per answer");
        assert_eq!(
            d.describe(&SessionEvent::Agent(AgentEvent::MessageCompleted(
                "a".into()
            ))),
            None
        );
        assert!(
            d.describe(&delta).is_some(),
            "the next answer gets its line"
        );
        let started = json!({"type": "item.started", "item": {"type": "command_execution", "command": "sleep 5"}});
        assert_eq!(
            d.describe(&SessionEvent::Json(started)).as_deref(),
            Some("command started: sleep 5")
        );
        let patch = json!({"type": "item.completed", "item": {"type": "file_change", "status": "completed", "changes": [{"path": "a.txt", "kind": "add"}]}});
        assert_eq!(
            d.describe(&SessionEvent::Json(patch)).as_deref(),
            Some("patch applied: add a.txt")
        );
        let long = json!({"type": "item.completed", "item": {"type": "agent_message", "text": "x ".repeat(500)}});
        let line = d.describe(&SessionEvent::Json(long)).unwrap();
        assert!(line.chars().count() < SHORT + 20, "{line}");
    }
}
