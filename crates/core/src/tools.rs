//! The tools offered to the model (`shell`, `apply_patch`, `update_plan`)
//! as JSON function schemas for both wire APIs, and the cap on tool output
//! returned to the model.

use serde_json::{json, Value};

/// A tool beyond the built-in ones (an MCP server's), as offered to the model.
#[derive(Debug, Clone, PartialEq)]
pub struct ToolSpec {
    /// The name the model calls it by.
    pub name: String,
    /// What it does.
    pub description: String,
    /// JSON schema of its arguments.
    pub parameters: Value,
}

/// `(name, description, JSON schema of the parameters)` for each tool.
pub fn definitions() -> Vec<(&'static str, &'static str, Value)> {
    vec![
        (
            "shell",
            "Run a command (argv array) in the sandbox and return its exit code and output.",
            json!({
                "type": "object",
                "properties": {
                    "command": {"type": "array", "items": {"type": "string"}, "description": "argv, e.g. [\"cargo\", \"test\"]"},
                    "workdir": {"type": "string", "description": "working directory (default: the session's)"},
                    "timeout_ms": {"type": "integer", "description": "kill the command after this many milliseconds"},
                    "sandbox_permissions": {"type": "string", "enum": ["use_default", "require_escalated"]},
                    "justification": {"type": "string", "description": "why escalation is needed"}
                },
                "required": ["command"],
                "additionalProperties": false
            }),
        ),
        (
            "apply_patch",
            "Add, update, move or delete files with a patch in the *** Begin Patch format.",
            json!({
                "type": "object",
                "properties": {"input": {"type": "string", "description": "the whole patch, from *** Begin Patch to *** End Patch"}},
                "required": ["input"],
                "additionalProperties": false
            }),
        ),
        (
            "update_plan",
            "Record the plan: steps with a status each (at most one in_progress).",
            json!({
                "type": "object",
                "properties": {
                    "explanation": {"type": "string"},
                    "plan": {"type": "array", "items": {
                        "type": "object",
                        "properties": {
                            "step": {"type": "string"},
                            "status": {"type": "string", "enum": ["pending", "in_progress", "completed"]}
                        },
                        "required": ["step", "status"],
                        "additionalProperties": false
                    }}
                },
                "required": ["plan"],
                "additionalProperties": false
            }),
        ),
    ]
}

/// The built-in tools, then `extra`, as `(name, description, parameters)`.
fn all(extra: &[ToolSpec]) -> impl Iterator<Item = (&str, &str, Value)> {
    definitions().into_iter().chain(extra.iter().map(|t| {
        (
            t.name.as_str(),
            t.description.as_str(),
            t.parameters.clone(),
        )
    }))
}

/// Tools in the Responses API shape: the built-in ones, then `extra`.
pub fn responses_tools(extra: &[ToolSpec]) -> Value {
    Value::Array(
        all(extra)
            .map(|(name, description, parameters)| {
                json!({"type": "function", "name": name, "description": description, "parameters": parameters, "strict": false})
            })
            .collect(),
    )
}

/// Tools in the Chat Completions shape: the built-in ones, then `extra`.
pub fn chat_tools(extra: &[ToolSpec]) -> Value {
    Value::Array(
        all(extra)
            .map(|(name, description, parameters)| {
                json!({"type": "function", "function": {"name": name, "description": description, "parameters": parameters}})
            })
            .collect(),
    )
}

/// Caps `text` at about `max` bytes for the model: keeps the head and the
/// tail (on character boundaries) and says how much was cut between them.
pub fn cap_output(text: &str, max: usize) -> String {
    if text.len() <= max {
        return text.to_string();
    }
    let half = max / 2;
    let mut head_end = half;
    while !text.is_char_boundary(head_end) {
        head_end -= 1;
    }
    let mut tail_start = text.len() - half;
    while !text.is_char_boundary(tail_start) {
        tail_start += 1;
    }
    let cut = tail_start - head_end;
    let marker = format!("\n[... {cut} bytes cut: output exceeded {max} bytes ...]\n");
    // Sized exactly: a long session keeps hundreds of these, and growing
    // a `format!` buffer would leave each with up to twice its length.
    let mut out = String::with_capacity(head_end + marker.len() + (text.len() - tail_start));
    out.push_str(&text[..head_end]);
    out.push_str(&marker);
    out.push_str(&text[tail_start..]);
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn both_wire_shapes_name_the_three_tools() {
        let extra = [ToolSpec {
            name: "mcp__s__t".into(),
            description: "d".into(),
            parameters: json!({"type": "object"}),
        }];
        let r = responses_tools(&extra);
        let names: Vec<&str> = r
            .as_array()
            .unwrap()
            .iter()
            .map(|t| t["name"].as_str().unwrap())
            .collect();
        assert_eq!(names, ["shell", "apply_patch", "update_plan", "mcp__s__t"]);
        let c = chat_tools(&[]);
        assert_eq!(c[0]["function"]["parameters"]["required"][0], "command");
        assert_eq!(
            c[2]["function"]["parameters"]["properties"]["plan"]["items"]["properties"]["status"]
                ["enum"][1],
            "in_progress"
        );
    }

    #[test]
    fn output_keeps_head_and_tail_and_says_what_was_cut() {
        assert_eq!(cap_output("short", 100), "short");
        let long = format!("{}{}", "a".repeat(1000), "z".repeat(1000));
        let capped = cap_output(&long, 100);
        assert!(capped.starts_with(&"a".repeat(50)) && capped.ends_with(&"z".repeat(50)));
        assert_eq!(capped.capacity(), capped.len(), "no slack kept per output");
        assert!(capped.contains("[... 1900 bytes cut"), "{capped}");
        let multibyte = "é".repeat(100);
        let capped = cap_output(&multibyte, 51);
        assert!(capped.contains("bytes cut"));
    }
}
