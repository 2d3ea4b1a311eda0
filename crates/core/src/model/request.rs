//! Request bodies for both wire APIs from one conversation history.

use crate::tools::{chat_tools, responses_tools, ToolSpec};
use serde_json::{json, Value};

/// One item of the conversation.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Item {
    /// The user's message.
    User(String),
    /// The assistant's text.
    Assistant(String),
    /// A function call the model made.
    Call {
        /// Id to answer with.
        call_id: String,
        /// Tool name.
        name: String,
        /// Arguments as JSON text.
        arguments: String,
    },
    /// A tool's result.
    Output {
        /// The call answered.
        call_id: String,
        /// What the tool returned.
        output: String,
    },
}

/// The Responses API body (`POST {base_url}/responses`); `extra_tools`
/// follow the built-in ones.
pub fn responses_body(
    model: &str,
    instructions: Option<&str>,
    items: &[Item],
    schema: Option<&Value>,
    extra_tools: &[ToolSpec],
) -> Value {
    let input: Vec<Value> = items
        .iter()
        .map(|item| match item {
            Item::User(t) => json!({"type": "message", "role": "user", "content": [{"type": "input_text", "text": t}]}),
            Item::Assistant(t) => json!({"type": "message", "role": "assistant", "content": [{"type": "output_text", "text": t}]}),
            Item::Call { call_id, name, arguments } => {
                json!({"type": "function_call", "call_id": call_id, "name": name, "arguments": arguments})
            }
            Item::Output { call_id, output } => json!({"type": "function_call_output", "call_id": call_id, "output": output}),
        })
        .collect();
    let mut body = json!({
        "model": model,
        "input": input,
        "tools": responses_tools(extra_tools),
        "tool_choice": "auto",
        "parallel_tool_calls": false,
        "stream": true,
        "store": false,
    });
    if let Some(i) = instructions {
        body["instructions"] = json!(i);
    }
    if let Some(s) = schema {
        body["text"] = json!({"format": {"type": "json_schema", "name": "output", "schema": s, "strict": true}});
    }
    body
}

/// The Chat Completions body (`POST {base_url}/chat/completions`). An
/// assistant's text and the calls that follow it form one message, as the
/// API requires tool results to follow the message that made the calls.
pub fn chat_body(
    model: &str,
    instructions: Option<&str>,
    items: &[Item],
    schema: Option<&Value>,
    extra_tools: &[ToolSpec],
) -> Value {
    let mut messages: Vec<Value> = Vec::new();
    if let Some(i) = instructions {
        messages.push(json!({"role": "system", "content": i}));
    }
    for item in items {
        match item {
            Item::User(t) => messages.push(json!({"role": "user", "content": t})),
            Item::Assistant(t) => messages.push(json!({"role": "assistant", "content": t})),
            Item::Call {
                call_id,
                name,
                arguments,
            } => {
                let call = json!({"id": call_id, "type": "function", "function": {"name": name, "arguments": arguments}});
                match messages.last_mut() {
                    Some(last) if last["role"] == "assistant" => {
                        if last.get("tool_calls").is_none() {
                            last["tool_calls"] = json!([]);
                        }
                        if let Some(calls) = last["tool_calls"].as_array_mut() {
                            calls.push(call);
                        }
                    }
                    _ => messages
                        .push(json!({"role": "assistant", "content": null, "tool_calls": [call]})),
                }
            }
            Item::Output { call_id, output } => {
                messages.push(json!({"role": "tool", "tool_call_id": call_id, "content": output}))
            }
        }
    }
    let mut body = json!({
        "model": model,
        "messages": messages,
        "tools": chat_tools(extra_tools),
        "stream": true,
        "stream_options": {"include_usage": true},
    });
    if let Some(s) = schema {
        body["response_format"] = json!({"type": "json_schema", "json_schema": {"name": "output", "schema": s, "strict": true}});
    }
    body
}

#[cfg(test)]
mod tests {
    use super::*;

    fn history() -> Vec<Item> {
        vec![
            Item::User("list files".into()),
            Item::Assistant("Looking.".into()),
            Item::Call {
                call_id: "c1".into(),
                name: "shell".into(),
                arguments: "{\"command\":[\"ls\"]}".into(),
            },
            Item::Call {
                call_id: "c2".into(),
                name: "shell".into(),
                arguments: "{\"command\":[\"pwd\"]}".into(),
            },
            Item::Output {
                call_id: "c1".into(),
                output: "a\nb".into(),
            },
            Item::Output {
                call_id: "c2".into(),
                output: "/w".into(),
            },
        ]
    }

    #[test]
    fn responses_shape() {
        let schema = json!({"type": "object"});
        let b = responses_body("gpt-x", Some("be brief"), &history(), Some(&schema), &[]);
        assert_eq!(b["instructions"], "be brief");
        assert_eq!(b["input"][0]["content"][0]["type"], "input_text");
        assert_eq!(b["input"][2]["type"], "function_call");
        assert_eq!(b["input"][4]["type"], "function_call_output");
        assert_eq!(b["text"]["format"]["strict"], true);
        assert_eq!(b["stream"], true);
    }

    #[test]
    fn chat_groups_calls_after_the_assistant_text() {
        let b = chat_body("llama", Some("be brief"), &history(), None, &[]);
        let m = b["messages"].as_array().unwrap();
        assert_eq!(m[0]["role"], "system");
        assert_eq!(m[2]["role"], "assistant");
        assert_eq!(m[2]["tool_calls"].as_array().unwrap().len(), 2);
        assert_eq!(m[3]["role"], "tool");
        assert_eq!(m[3]["tool_call_id"], "c1");
        assert_eq!(m.len(), 5);
        assert!(b.get("response_format").is_none());
        let b = chat_body(
            "m",
            None,
            &[Item::Call {
                call_id: "x".into(),
                name: "n".into(),
                arguments: "{}".into(),
            }],
            None,
            &[],
        );
        assert_eq!(b["messages"][0]["content"], Value::Null);
    }
}
