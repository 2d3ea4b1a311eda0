//! The `cordon exec --json` event stream: one JSON object per line.
//!
//! ```text
//! {"type":"thread.started","thread_id":"…"}
//! {"type":"turn.started"}
//! {"type":"item.started","item":{"id":"item_0","type":"command_execution","command":"ls","aggregated_output":"","exit_code":null,"status":"in_progress"}}
//! {"type":"item.completed","item":{"id":"item_0","type":"command_execution",…,"exit_code":0,"status":"completed"}}
//! {"type":"item.completed","item":{"id":"item_1","type":"file_change","changes":[{"path":"a","kind":"add"}],"status":"completed"}}
//! {"type":"item.started"|"item.updated"|"item.completed","item":{"id":"item_2","type":"todo_list","items":[{"text":"…","completed":false}]}}
//! {"type":"item.completed","item":{"id":"item_3","type":"reasoning","text":"…"}}
//! {"type":"item.completed","item":{"id":"item_4","type":"agent_message","text":"…"}}
//! {"type":"item.started","item":{"id":"item_5","type":"mcp_tool_call","server":"docs","tool":"search","arguments":{…},"result":null,"error":null,"status":"in_progress"}}
//! {"type":"item.completed","item":{"id":"item_5","type":"mcp_tool_call",…,"result":{"content":[…],"structured_content":null},"error":null,"status":"completed"}}
//! {"type":"item.completed","item":{"id":"item_6","type":"error","message":"…"}}
//! {"type":"turn.completed","usage":{"input_tokens":1,"cached_input_tokens":0,"output_tokens":1}}
//! {"type":"turn.failed","error":{"message":"…"}}
//! ```
//!
//! Statuses: `in_progress`, `completed`, `failed`, `declined` (an escalation
//! refused by the approval policy).

use crate::agent::{AgentEvent, ChangeKind, ToolDetail};
use crate::model::Usage;
use serde_json::{json, Value};

/// Turns [`AgentEvent`]s into exec events, numbering items.
#[derive(Debug, Default)]
pub struct EventMapper {
    next: u64,
    /// `call_id` → item id of a started command.
    started: Vec<(String, String, Value)>,
    /// The open todo list: item id and its items.
    todo: Option<(String, Value)>,
    /// Session id of a running `exec_command` → its item (id and
    /// output so far).
    processes: Vec<(u32, String, String)>,
}

impl EventMapper {
    fn id(&mut self) -> String {
        let id = format!("item_{}", self.next);
        self.next += 1;
        id
    }

    /// The events for one agent event (often none: deltas are not items).
    pub fn map(&mut self, event: &AgentEvent) -> Vec<Value> {
        match event {
            AgentEvent::TextDelta(_)
            | AgentEvent::Reasoning(_)
            | AgentEvent::Item(_)
            | AgentEvent::Usage(_)
            | AgentEvent::Compacted { .. } => vec![],
            AgentEvent::MessageCompleted(text) => {
                let id = self.id();
                vec![completed(
                    json!({"id": id, "type": "agent_message", "text": text}),
                )]
            }
            AgentEvent::ReasoningCompleted(text) => {
                let id = self.id();
                vec![completed(
                    json!({"id": id, "type": "reasoning", "text": text}),
                )]
            }
            AgentEvent::ToolStarted {
                call_id,
                name,
                arguments,
            } if name == "shell" => {
                let argv: Vec<String> = serde_json::from_str::<Value>(arguments)
                    .ok()
                    .and_then(|v| v.get("command").cloned())
                    .and_then(|c| serde_json::from_value(c).ok())
                    .unwrap_or_default();
                if crate::patch::parse_heredoc_invocation(&argv).is_some() {
                    return vec![];
                }
                let id = self.id();
                let item = json!({
                    "id": id,
                    "type": "command_execution",
                    "command": crate::runner::display_command(&argv),
                    "aggregated_output": "",
                    "exit_code": null,
                    "status": "in_progress",
                });
                self.started.push((call_id.clone(), id, item.clone()));
                vec![json!({"type": "item.started", "item": item})]
            }
            AgentEvent::ToolStarted {
                call_id,
                name,
                arguments,
            } if name == "exec_command" => {
                let args = serde_json::from_str::<Value>(arguments).unwrap_or_default();
                let command = match (args.get("cmd").and_then(Value::as_str), args.get("argv")) {
                    (Some(cmd), _) => cmd.to_string(),
                    (None, Some(argv)) => crate::runner::display_command(
                        &serde_json::from_value::<Vec<String>>(argv.clone()).unwrap_or_default(),
                    ),
                    _ => String::new(),
                };
                let id = self.id();
                let item = json!({
                    "id": id,
                    "type": "command_execution",
                    "command": command,
                    "aggregated_output": "",
                    "exit_code": null,
                    "status": "in_progress",
                });
                self.started.push((call_id.clone(), id, item.clone()));
                vec![json!({"type": "item.started", "item": item})]
            }
            AgentEvent::ToolStarted { .. } => vec![],
            AgentEvent::McpCallStarted {
                call_id,
                server,
                tool,
                arguments,
            } => {
                let id = self.id();
                let item = json!({
                    "id": id,
                    "type": "mcp_tool_call",
                    "server": server,
                    "tool": tool,
                    "arguments": arguments,
                    "result": null,
                    "error": null,
                    "status": "in_progress",
                });
                self.started.push((call_id.clone(), id, item.clone()));
                vec![json!({"type": "item.started", "item": item})]
            }
            AgentEvent::Warning(message) => {
                let id = self.id();
                vec![completed(
                    json!({"id": id, "type": "error", "message": message}),
                )]
            }
            AgentEvent::ToolCompleted {
                call_id,
                output,
                detail,
                ..
            } => match detail {
                ToolDetail::Command {
                    command,
                    exit_code,
                    failed,
                    declined,
                    ..
                } => {
                    let pos = self.started.iter().position(|(c, ..)| c == call_id);
                    let id = match pos {
                        Some(i) => self.started.remove(i).1,
                        None => self.id(),
                    };
                    let status = if *declined {
                        "declined"
                    } else if *failed {
                        "failed"
                    } else {
                        "completed"
                    };
                    vec![completed(json!({
                        "id": id,
                        "type": "command_execution",
                        "command": command,
                        "aggregated_output": output,
                        "exit_code": exit_code,
                        "status": status,
                    }))]
                }
                ToolDetail::Patch { changes, applied } => {
                    let id = self.id();
                    let changes: Vec<Value> = changes
                        .iter()
                        .map(|(path, kind)| {
                            let kind = match kind {
                                ChangeKind::Add => "add",
                                ChangeKind::Update => "update",
                                ChangeKind::Delete => "delete",
                            };
                            json!({"path": path, "kind": kind})
                        })
                        .collect();
                    let mut item = json!({
                        "id": id,
                        "type": "file_change",
                        "changes": changes,
                        "status": if *applied { "completed" } else { "failed" },
                    });
                    if !applied {
                        item["error"] = json!(output);
                    }
                    vec![completed(item)]
                }
                ToolDetail::McpCall {
                    server,
                    tool,
                    arguments,
                    result,
                    error,
                } => {
                    let pos = self.started.iter().position(|(c, ..)| c == call_id);
                    let id = match pos {
                        Some(i) => self.started.remove(i).1,
                        None => self.id(),
                    };
                    vec![completed(json!({
                        "id": id,
                        "type": "mcp_tool_call",
                        "server": server,
                        "tool": tool,
                        "arguments": arguments,
                        "result": result,
                        "error": error.as_ref().map(|m| json!({"message": m})),
                        "status": if error.is_some() { "failed" } else { "completed" },
                    }))]
                }
                ToolDetail::Process {
                    session_id,
                    command,
                    output,
                    exit_code,
                    running,
                } => {
                    // The item of the exec_command that started it: by
                    // call id (exec_command itself), else by session id.
                    let (id, mut seen) = match self.started.iter().position(|(c, ..)| c == call_id)
                    {
                        Some(i) => (self.started.remove(i).1, String::new()),
                        None => match self.processes.iter().position(|(s, ..)| s == session_id) {
                            Some(i) => {
                                let (_, id, seen) = self.processes.remove(i);
                                (id, seen)
                            }
                            // A write to a session this stream never saw start.
                            None => return vec![],
                        },
                    };
                    seen.push_str(output);
                    let item = json!({
                        "id": id,
                        "type": "command_execution",
                        "command": command,
                        "aggregated_output": seen,
                        "exit_code": exit_code,
                        "status": if *running {
                            "in_progress"
                        } else if *exit_code == Some(0) {
                            "completed"
                        } else {
                            "failed"
                        },
                    });
                    if *running {
                        self.processes.push((*session_id, id, seen));
                        vec![json!({"type": "item.updated", "item": item})]
                    } else {
                        vec![completed(item)]
                    }
                }
                ToolDetail::None => vec![],
            },
            AgentEvent::Plan(plan) => {
                let items: Vec<Value> = plan
                    .as_array()
                    .map(|steps| {
                        steps
                            .iter()
                            .map(|s| {
                                json!({
                                    "text": s.get("step").and_then(Value::as_str).unwrap_or(""),
                                    "completed": s.get("status").and_then(Value::as_str) == Some("completed"),
                                })
                            })
                            .collect()
                    })
                    .unwrap_or_default();
                match &mut self.todo {
                    Some((id, current)) => {
                        *current = json!(items);
                        vec![
                            json!({"type": "item.updated", "item": {"id": id, "type": "todo_list", "items": items}}),
                        ]
                    }
                    None => {
                        let id = self.id();
                        self.todo = Some((id.clone(), json!(items)));
                        vec![
                            json!({"type": "item.started", "item": {"id": id, "type": "todo_list", "items": items}}),
                        ]
                    }
                }
            }
            AgentEvent::Retrying {
                attempt,
                delay,
                reason,
            } => {
                let id = self.id();
                vec![completed(json!({
                    "id": id,
                    "type": "error",
                    "message": format!("{reason}; retry {attempt} in {:.1} s", delay.as_secs_f64()),
                }))]
            }
        }
    }

    /// Events closing the turn: the todo list completes, then
    /// `turn.completed` (with `usage`) or `turn.failed` (with `error`).
    pub fn finish(&mut self, result: Result<&Usage, &str>) -> Vec<Value> {
        let mut out = Vec::new();
        if let Some((id, items)) = self.todo.take() {
            out.push(completed(
                json!({"id": id, "type": "todo_list", "items": items}),
            ));
        }
        out.push(match result {
            Ok(u) => json!({
                "type": "turn.completed",
                "usage": {"input_tokens": u.input_tokens, "cached_input_tokens": 0, "output_tokens": u.output_tokens},
            }),
            Err(message) => json!({"type": "turn.failed", "error": {"message": message}}),
        });
        out
    }
}

fn completed(item: Value) -> Value {
    json!({"type": "item.completed", "item": item})
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::time::Duration;

    #[test]
    fn items_are_numbered_and_paired() {
        let mut m = EventMapper::default();
        let started = m.map(&AgentEvent::ToolStarted {
            call_id: "c1".into(),
            name: "shell".into(),
            arguments: r#"{"command":["ls","a b"]}"#.into(),
        });
        assert_eq!(started[0]["type"], "item.started");
        assert_eq!(started[0]["item"]["command"], "ls 'a b'");
        let plan =
            json!([{"step": "look", "status": "completed"}, {"step": "fix", "status": "pending"}]);
        assert_eq!(
            m.map(&AgentEvent::Plan(plan.clone()))[0]["type"],
            "item.started"
        );
        assert_eq!(m.map(&AgentEvent::Plan(plan))[0]["type"], "item.updated");
        let done = m.map(&AgentEvent::ToolCompleted {
            call_id: "c1".into(),
            name: "shell".into(),
            output: "x".into(),
            detail: ToolDetail::Command {
                command: "ls 'a b'".into(),
                exit_code: Some(2),
                failed: true,
                declined: false,
                denials: Vec::new(),
            },
        });
        assert_eq!(done[0]["item"]["id"], started[0]["item"]["id"]);
        assert_eq!(done[0]["item"]["status"], "failed");
        assert_eq!(done[0]["item"]["exit_code"], 2);
        let retry = m.map(&AgentEvent::Retrying {
            attempt: 1,
            delay: Duration::from_millis(200),
            reason: "HTTP 500".into(),
        });
        assert_eq!(retry[0]["item"]["type"], "error");
        let end = m.finish(Ok(&Usage {
            input_tokens: 3,
            output_tokens: 4,
        }));
        assert_eq!(end[0]["item"]["type"], "todo_list");
        assert_eq!(end[0]["item"]["items"][0]["completed"], true);
        assert_eq!(end[1]["usage"]["output_tokens"], 4);
        assert_eq!(m.finish(Err("boom"))[0]["error"]["message"], "boom");
    }

    #[test]
    fn mcp_calls_are_paired_with_result_or_error() {
        let mut m = EventMapper::default();
        let started = m.map(&AgentEvent::McpCallStarted {
            call_id: "c1".into(),
            server: "docs".into(),
            tool: "search".into(),
            arguments: json!({"q": "x"}),
        });
        assert_eq!(started[0]["item"]["type"], "mcp_tool_call");
        assert_eq!(started[0]["item"]["status"], "in_progress");
        let done = m.map(&AgentEvent::ToolCompleted {
            call_id: "c1".into(),
            name: "mcp__docs__search".into(),
            output: "hit".into(),
            detail: ToolDetail::McpCall {
                server: "docs".into(),
                tool: "search".into(),
                arguments: json!({"q": "x"}),
                result: Some(json!({"content": [{"type": "text", "text": "hit"}], "structured_content": null})),
                error: None,
            },
        });
        let item = &done[0]["item"];
        assert_eq!(item["id"], started[0]["item"]["id"]);
        assert_eq!(item["status"], "completed");
        assert_eq!(item["result"]["content"][0]["text"], "hit");
        assert_eq!(item["error"], Value::Null);
        let failed = m.map(&AgentEvent::ToolCompleted {
            call_id: "c2".into(),
            name: "mcp__docs__search".into(),
            output: "declined".into(),
            detail: ToolDetail::McpCall {
                server: "docs".into(),
                tool: "search".into(),
                arguments: json!({}),
                result: None,
                error: Some("declined".into()),
            },
        });
        assert_eq!(failed[0]["item"]["status"], "failed");
        assert_eq!(failed[0]["item"]["error"]["message"], "declined");
        let warning = m.map(&AgentEvent::Warning("mcp: x failed to start: y".into()));
        assert_eq!(warning[0]["item"]["type"], "error");
    }
}
