//! Request bodies for both wire APIs from one conversation history.
//!
//! A [`RequestBody`] borrows the history and serializes straight from it:
//! a long session's request is written out item by item, never copied
//! whole into a JSON tree first.

use crate::tools::{chat_tools, responses_tools, ToolSpec};
use serde::ser::{Serialize, SerializeMap, SerializeSeq, Serializer};
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

/// Which wire API a body is for.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Wire {
    /// OpenAI Responses API.
    Responses,
    /// Chat Completions.
    Chat,
}

/// One request's body, borrowing the conversation: serializes to the
/// same JSON as [`responses_body`] or [`chat_body`] without building it.
pub struct RequestBody<'a> {
    /// Which API.
    pub wire: Wire,
    /// Model name.
    pub model: &'a str,
    /// Instructions.
    pub instructions: Option<&'a str>,
    /// The conversation.
    pub items: &'a [Item],
    /// A JSON schema the answer must follow.
    pub schema: Option<&'a Value>,
    /// Tools beyond the built-in ones.
    pub extra_tools: &'a [ToolSpec],
}

impl RequestBody<'_> {
    /// The body as a JSON value (for transports that take one).
    pub fn to_value(&self) -> Value {
        serde_json::to_value(self).unwrap_or(Value::Null)
    }

    /// The body as JSON bytes, in a buffer of exactly their size (a long
    /// session's body is megabytes: no doubling slack).
    pub fn to_vec(&self) -> serde_json::Result<Vec<u8>> {
        let mut counted = Counter(0);
        serde_json::to_writer(&mut counted, self)?;
        let mut bytes = Vec::with_capacity(counted.0);
        serde_json::to_writer(&mut bytes, self)?;
        Ok(bytes)
    }
}

/// Counts the bytes written to it.
struct Counter(usize);

impl std::io::Write for Counter {
    fn write(&mut self, buf: &[u8]) -> std::io::Result<usize> {
        self.0 += buf.len();
        Ok(buf.len())
    }
    fn flush(&mut self) -> std::io::Result<()> {
        Ok(())
    }
}

/// Serializes each of `items` through `one` (one small JSON value at a
/// time).
struct Each<'a, T>(&'a [T], fn(&T) -> Value);

impl<T> Serialize for Each<'_, T> {
    fn serialize<S: Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
        let mut seq = s.serialize_seq(Some(self.0.len()))?;
        for item in self.0 {
            seq.serialize_element(&(self.1)(item))?;
        }
        seq.end()
    }
}

/// The Chat Completions messages: the system message, then one per
/// group of items (an assistant's text and the calls that follow it).
struct ChatMessages<'a> {
    instructions: Option<&'a str>,
    items: &'a [Item],
}

impl Serialize for ChatMessages<'_> {
    fn serialize<S: Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
        let mut seq = s.serialize_seq(None)?;
        if let Some(i) = self.instructions {
            seq.serialize_element(&json!({"role": "system", "content": i}))?;
        }
        for group in chat_groups(self.items) {
            seq.serialize_element(&chat_message(group))?;
        }
        seq.end()
    }
}

impl Serialize for RequestBody<'_> {
    fn serialize<S: Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
        let mut map = s.serialize_map(None)?;
        map.serialize_entry("model", self.model)?;
        match self.wire {
            Wire::Responses => {
                map.serialize_entry("input", &Each(self.items, responses_item))?;
                map.serialize_entry("tools", &responses_tools(self.extra_tools))?;
                map.serialize_entry("tool_choice", "auto")?;
                map.serialize_entry("parallel_tool_calls", &false)?;
                map.serialize_entry("stream", &true)?;
                map.serialize_entry("store", &false)?;
                if let Some(i) = self.instructions {
                    map.serialize_entry("instructions", i)?;
                }
                if let Some(schema) = self.schema {
                    map.serialize_entry(
                        "text",
                        &json!({"format": {"type": "json_schema", "name": "output", "schema": schema, "strict": true}}),
                    )?;
                }
            }
            Wire::Chat => {
                map.serialize_entry(
                    "messages",
                    &ChatMessages {
                        instructions: self.instructions,
                        items: self.items,
                    },
                )?;
                map.serialize_entry("tools", &chat_tools(self.extra_tools))?;
                map.serialize_entry("stream", &true)?;
                map.serialize_entry("stream_options", &json!({"include_usage": true}))?;
                if let Some(schema) = self.schema {
                    map.serialize_entry(
                        "response_format",
                        &json!({"type": "json_schema", "json_schema": {"name": "output", "schema": schema, "strict": true}}),
                    )?;
                }
            }
        }
        map.end()
    }
}

/// One conversation item as a Responses API input item.
fn responses_item(item: &Item) -> Value {
    match item {
        Item::User(t) => {
            json!({"type": "message", "role": "user", "content": [{"type": "input_text", "text": t}]})
        }
        Item::Assistant(t) => {
            json!({"type": "message", "role": "assistant", "content": [{"type": "output_text", "text": t}]})
        }
        Item::Call {
            call_id,
            name,
            arguments,
        } => {
            json!({"type": "function_call", "call_id": call_id, "name": name, "arguments": arguments})
        }
        Item::Output { call_id, output } => {
            json!({"type": "function_call_output", "call_id": call_id, "output": output})
        }
    }
}

/// The items split into Chat messages: an assistant's text (or nothing)
/// and the calls right after it form one; every other item is its own.
fn chat_groups(items: &[Item]) -> impl Iterator<Item = &[Item]> {
    let mut rest = items;
    std::iter::from_fn(move || {
        let first = rest.first()?;
        let mut len = 1;
        if matches!(first, Item::Assistant(_) | Item::Call { .. }) {
            while matches!(rest.get(len), Some(Item::Call { .. })) {
                len += 1;
            }
        }
        let (group, tail) = rest.split_at(len);
        rest = tail;
        Some(group)
    })
}

/// One Chat message from a group of [`chat_groups`].
fn chat_message(group: &[Item]) -> Value {
    let calls: Vec<Value> = group
        .iter()
        .filter_map(|i| match i {
            Item::Call {
                call_id,
                name,
                arguments,
            } => Some(
                json!({"id": call_id, "type": "function", "function": {"name": name, "arguments": arguments}}),
            ),
            _ => None,
        })
        .collect();
    match group.first() {
        Some(Item::User(t)) => json!({"role": "user", "content": t}),
        Some(Item::Output { call_id, output }) => {
            json!({"role": "tool", "tool_call_id": call_id, "content": output})
        }
        Some(Item::Assistant(t)) if calls.is_empty() => json!({"role": "assistant", "content": t}),
        Some(Item::Assistant(t)) => {
            json!({"role": "assistant", "content": t, "tool_calls": calls})
        }
        _ => json!({"role": "assistant", "content": null, "tool_calls": calls}),
    }
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
    RequestBody {
        wire: Wire::Responses,
        model,
        instructions,
        items,
        schema,
        extra_tools,
    }
    .to_value()
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
    RequestBody {
        wire: Wire::Chat,
        model,
        instructions,
        items,
        schema,
        extra_tools,
    }
    .to_value()
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

    /// The bytes written straight from the history are the same JSON as
    /// the value, in a buffer of exactly their size, for both APIs.
    #[test]
    fn bytes_from_the_history_are_the_value_without_slack() {
        let schema = json!({"type": "object"});
        let mut items = history();
        items.push(Item::Assistant("after the outputs".into()));
        items.push(Item::Output {
            call_id: "c3".into(),
            output: "\u{1b}[31m\"quoted\" é\n".repeat(500),
        });
        for wire in [Wire::Responses, Wire::Chat] {
            let body = RequestBody {
                wire,
                model: "m",
                instructions: Some("be brief"),
                items: &items,
                schema: Some(&schema),
                extra_tools: &[],
            };
            let bytes = body.to_vec().unwrap();
            assert_eq!(bytes.capacity(), bytes.len());
            let back: Value = serde_json::from_slice(&bytes).unwrap();
            assert_eq!(back, body.to_value(), "{wire:?}");
        }
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
