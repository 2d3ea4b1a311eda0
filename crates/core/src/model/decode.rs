//! Decoding SSE events of each wire API into [`ModelEvent`]s.

use super::{ModelEvent, SseEvent, StreamError, Usage};
use serde_json::Value;
use std::collections::BTreeMap;

fn json(event: &SseEvent) -> Result<Value, StreamError> {
    serde_json::from_str(&event.data).map_err(|e| StreamError::Malformed {
        event: event.event.clone(),
        reason: e.to_string(),
    })
}

fn text<'a>(v: &'a Value, key: &str, event: &SseEvent) -> Result<&'a str, StreamError> {
    v.get(key)
        .and_then(Value::as_str)
        .ok_or_else(|| StreamError::Malformed {
            event: event.event.clone(),
            reason: format!("missing string field `{key}`"),
        })
}

fn usage(v: Option<&Value>) -> Option<Usage> {
    let u = v?;
    let n = |k: &str| u.get(k).and_then(Value::as_u64);
    Some(Usage {
        input_tokens: n("input_tokens")
            .or_else(|| n("prompt_tokens"))
            .unwrap_or(0),
        output_tokens: n("output_tokens")
            .or_else(|| n("completion_tokens"))
            .unwrap_or(0),
    })
}

/// The Responses API (`wire_api = "responses"`).
#[derive(Debug, Default)]
pub struct ResponsesDecoder {
    completed: bool,
}

impl ResponsesDecoder {
    /// Decodes one event.
    pub fn event(&mut self, event: &SseEvent) -> Result<Vec<ModelEvent>, StreamError> {
        let kind = event.event.as_str();
        let known = [
            "response.output_text.delta",
            "response.reasoning_summary_text.delta",
            "response.output_item.done",
            "response.completed",
            "response.failed",
            "error",
        ];
        if !known.contains(&kind) {
            return Ok(Vec::new());
        }
        let v = json(event)?;
        Ok(match kind {
            "response.output_text.delta" => {
                vec![ModelEvent::TextDelta(text(&v, "delta", event)?.into())]
            }
            "response.reasoning_summary_text.delta" => {
                vec![ModelEvent::ReasoningDelta(text(&v, "delta", event)?.into())]
            }
            "response.output_item.done" => {
                let item = v.get("item").ok_or_else(|| StreamError::Malformed {
                    event: kind.into(),
                    reason: "missing `item`".into(),
                })?;
                if item.get("type").and_then(Value::as_str) != Some("function_call") {
                    return Ok(Vec::new());
                }
                vec![ModelEvent::FunctionCall {
                    call_id: text(item, "call_id", event)?.into(),
                    name: text(item, "name", event)?.into(),
                    arguments: text(item, "arguments", event)?.into(),
                }]
            }
            "response.completed" => {
                self.completed = true;
                vec![ModelEvent::Completed {
                    usage: usage(v.pointer("/response/usage")),
                }]
            }
            _ => {
                let message = v
                    .pointer("/response/error/message")
                    .or_else(|| v.get("message"))
                    .and_then(Value::as_str)
                    .unwrap_or("unknown error");
                return Err(StreamError::Remote(message.into()));
            }
        })
    }

    /// Called when the stream closes.
    pub fn finish(&self) -> Result<(), StreamError> {
        if self.completed {
            Ok(())
        } else {
            Err(StreamError::Truncated)
        }
    }
}

#[derive(Debug, Default)]
struct PendingCall {
    id: String,
    name: String,
    arguments: String,
}

/// Chat Completions (`wire_api = "chat"`): tool-call arguments arrive in
/// pieces keyed by index and are assembled here.
#[derive(Debug, Default)]
pub struct ChatDecoder {
    calls: BTreeMap<u64, PendingCall>,
    usage: Option<Usage>,
    finished: bool,
    done: bool,
}

impl ChatDecoder {
    /// Decodes one event.
    pub fn event(&mut self, event: &SseEvent) -> Result<Vec<ModelEvent>, StreamError> {
        if self.done {
            return Ok(Vec::new());
        }
        if event.data.trim() == "[DONE]" {
            return Ok(self.complete());
        }
        let v = json(event)?;
        if let Some(err) = v.get("error") {
            let message = err
                .get("message")
                .and_then(Value::as_str)
                .unwrap_or("unknown error");
            return Err(StreamError::Remote(message.into()));
        }
        if let Some(u) = usage(v.get("usage").filter(|u| !u.is_null())) {
            self.usage = Some(u);
        }
        let mut out = Vec::new();
        for choice in v
            .get("choices")
            .and_then(Value::as_array)
            .into_iter()
            .flatten()
        {
            let delta = choice.get("delta");
            if let Some(t) = delta.and_then(|d| d.get("content")).and_then(Value::as_str) {
                if !t.is_empty() {
                    out.push(ModelEvent::TextDelta(t.into()));
                }
            }
            for key in ["reasoning_content", "reasoning"] {
                if let Some(t) = delta.and_then(|d| d.get(key)).and_then(Value::as_str) {
                    if !t.is_empty() {
                        out.push(ModelEvent::ReasoningDelta(t.into()));
                    }
                }
            }
            for call in delta
                .and_then(|d| d.get("tool_calls"))
                .and_then(Value::as_array)
                .into_iter()
                .flatten()
            {
                let index = call.get("index").and_then(Value::as_u64).unwrap_or(0);
                let pending = self.calls.entry(index).or_default();
                if let Some(id) = call.get("id").and_then(Value::as_str) {
                    pending.id = id.into();
                }
                if let Some(f) = call.get("function") {
                    if let Some(n) = f.get("name").and_then(Value::as_str) {
                        pending.name.push_str(n);
                    }
                    if let Some(a) = f.get("arguments").and_then(Value::as_str) {
                        pending.arguments.push_str(a);
                    }
                }
            }
            if choice.get("finish_reason").is_some_and(|r| !r.is_null()) {
                self.finished = true;
            }
        }
        Ok(out)
    }

    fn complete(&mut self) -> Vec<ModelEvent> {
        self.done = true;
        let mut out: Vec<ModelEvent> = std::mem::take(&mut self.calls)
            .into_values()
            .map(|c| ModelEvent::FunctionCall {
                call_id: c.id,
                name: c.name,
                arguments: if c.arguments.is_empty() {
                    "{}".into()
                } else {
                    c.arguments
                },
            })
            .collect();
        out.push(ModelEvent::Completed { usage: self.usage });
        out
    }

    /// Called when the stream closes: a stream that ended after a finish
    /// reason but without `[DONE]` still completes; one that ended earlier
    /// is truncated.
    pub fn finish(&mut self) -> Result<Vec<ModelEvent>, StreamError> {
        if self.done {
            Ok(Vec::new())
        } else if self.finished {
            Ok(self.complete())
        } else {
            Err(StreamError::Truncated)
        }
    }
}

#[cfg(test)]
#[path = "decode_tests.rs"]
mod tests;
