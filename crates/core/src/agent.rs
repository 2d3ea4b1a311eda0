//! The turn loop: send the conversation, decode the streamed answer, run
//! the tools the model calls, send their results back, until the model
//! answers without calling a tool.
//!
//! The loop is independent of HTTP and of how tools run: a [`Transport`]
//! sends request bodies and yields response bytes, [`Tools`] run `shell`
//! and `apply_patch`. That keeps it testable with scripted streams.

use crate::model::decode::{ChatDecoder, ResponsesDecoder};
use crate::model::request::{chat_body, responses_body, Item};
use crate::model::retry::{retry_delay, Failure};
use crate::model::{ModelEvent, SseParser, StreamError, Usage};
use crate::tools::cap_output;
use serde_json::Value;
use std::time::Duration;

/// Which wire API the provider speaks.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum WireApi {
    /// OpenAI Responses API.
    Responses,
    /// Chat Completions.
    Chat,
}

/// A response body as a stream of chunks; a failure mid-stream (reset,
/// idle timeout) ends it.
pub type Chunks<'a> = Box<dyn Iterator<Item = Result<Vec<u8>, Failure>> + 'a>;

/// Sends one request and returns the response body as a byte stream.
pub trait Transport {
    /// Sends `body`; an HTTP error or connection failure is a [`Failure`].
    fn send(&mut self, body: &Value) -> Result<Chunks<'_>, Failure>;
}

/// Runs the model's tools.
pub trait Tools {
    /// Runs `shell` with its parsed arguments; returns the text for the model.
    fn shell(
        &mut self,
        command: &[String],
        workdir: Option<&str>,
        timeout_ms: Option<u64>,
    ) -> String;
    /// Applies a patch; returns the text for the model (success or the error).
    fn apply_patch(&mut self, input: &str) -> String;
}

/// What the loop reports as it goes.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum AgentEvent {
    /// A piece of answer text.
    TextDelta(String),
    /// A piece of reasoning summary.
    Reasoning(String),
    /// A tool is about to run.
    ToolStarted {
        /// Call id.
        call_id: String,
        /// Tool name.
        name: String,
        /// Arguments as JSON text.
        arguments: String,
    },
    /// A tool finished; `output` is the full text (the model gets it capped).
    ToolCompleted {
        /// Call id.
        call_id: String,
        /// Full output.
        output: String,
    },
    /// `update_plan` was called with this plan.
    Plan(Value),
    /// A request is retried after `delay`.
    Retrying {
        /// Attempt number (1-based) that failed.
        attempt: u32,
        /// Wait before the next.
        delay: Duration,
    },
}

/// Settings for a turn.
pub struct TurnConfig<'a> {
    /// Wire API.
    pub wire: WireApi,
    /// Model name.
    pub model: &'a str,
    /// Instructions (AGENTS.md and the like).
    pub instructions: Option<&'a str>,
    /// `--output-schema`.
    pub output_schema: Option<&'a Value>,
    /// Retries per request.
    pub max_retries: u32,
    /// Most bytes of tool output returned to the model.
    pub max_tool_output: usize,
    /// Most model round trips in one turn.
    pub max_steps: usize,
    /// How to wait between retries (tests pass a no-op).
    pub sleep: &'a dyn Fn(Duration),
}

/// Why a turn failed.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum TurnError {
    /// The request failed for good (after retries, or not retryable).
    #[error("model request failed: {0}")]
    Request(String),
    /// The stream could not be decoded.
    #[error(transparent)]
    Stream(#[from] StreamError),
    /// The model kept calling tools past the step limit.
    #[error("stopped after {0} model round trips without a final answer")]
    TooManySteps(usize),
}

fn describe(f: &Failure) -> String {
    match f {
        Failure::Connect => "could not connect to the model provider".into(),
        Failure::Status { code, body, .. } => format!(
            "HTTP {code}: {}",
            body.chars().take(300).collect::<String>()
        ),
        Failure::Truncated => "the stream ended before the response completed".into(),
        Failure::Idle => "no data from the model within the idle timeout".into(),
    }
}

/// One request with retries; returns the decoded events.
fn exchange(
    transport: &mut dyn Transport,
    cfg: &TurnConfig,
    body: &Value,
    on_event: &mut dyn FnMut(AgentEvent),
) -> Result<(Vec<ModelEvent>, Option<Usage>), TurnError> {
    let mut attempt = 0u32;
    loop {
        let result = stream_once(transport, cfg.wire, body);
        let failure = match result {
            Ok(events) => {
                let usage = events.iter().find_map(|e| match e {
                    ModelEvent::Completed { usage } => *usage,
                    _ => None,
                });
                return Ok((events, usage));
            }
            Err(Attempt::Stream(StreamError::Truncated)) => Failure::Truncated,
            Err(Attempt::Stream(e)) => return Err(TurnError::Stream(e)),
            Err(Attempt::Failed(f)) => f,
        };
        match retry_delay(&failure, attempt, cfg.max_retries) {
            Some(delay) => {
                attempt += 1;
                on_event(AgentEvent::Retrying { attempt, delay });
                (cfg.sleep)(delay);
            }
            None => return Err(TurnError::Request(describe(&failure))),
        }
    }
}

enum Attempt {
    Failed(Failure),
    Stream(StreamError),
}

fn stream_once(
    transport: &mut dyn Transport,
    wire: WireApi,
    body: &Value,
) -> Result<Vec<ModelEvent>, Attempt> {
    let chunks = transport.send(body).map_err(Attempt::Failed)?;
    let mut parser = SseParser::new();
    let mut responses = ResponsesDecoder::default();
    let mut chat = ChatDecoder::default();
    let mut events = Vec::new();
    for chunk in chunks {
        let chunk = chunk.map_err(Attempt::Failed)?;
        for sse in parser.feed(&chunk).map_err(Attempt::Stream)? {
            let decoded = match wire {
                WireApi::Responses => responses.event(&sse),
                WireApi::Chat => chat.event(&sse),
            };
            events.extend(decoded.map_err(Attempt::Stream)?);
        }
    }
    match wire {
        WireApi::Responses => responses.finish().map_err(Attempt::Stream)?,
        WireApi::Chat => events.extend(chat.finish().map_err(Attempt::Stream)?),
    }
    Ok(events)
}

/// Runs `name` with `arguments`; returns the full output text.
fn run_tool(
    tools: &mut dyn Tools,
    name: &str,
    arguments: &str,
    on_event: &mut dyn FnMut(AgentEvent),
) -> String {
    let args: Value = match serde_json::from_str(arguments) {
        Ok(v) => v,
        Err(e) => return format!("invalid arguments for {name}: {e}"),
    };
    match name {
        "shell" => {
            let command: Option<Vec<String>> =
                args.get("command").and_then(Value::as_array).map(|a| {
                    a.iter()
                        .filter_map(|s| s.as_str().map(str::to_string))
                        .collect()
                });
            match command {
                Some(c) if !c.is_empty() => tools.shell(
                    &c,
                    args.get("workdir").and_then(Value::as_str),
                    args.get("timeout_ms").and_then(Value::as_u64),
                ),
                _ => "invalid arguments for shell: `command` must be a non-empty array of strings"
                    .into(),
            }
        }
        "apply_patch" => match args.get("input").and_then(Value::as_str) {
            Some(input) => tools.apply_patch(input),
            None => "invalid arguments for apply_patch: `input` must be a string".into(),
        },
        "update_plan" => match args.get("plan").filter(|p| p.is_array()) {
            Some(plan) => {
                on_event(AgentEvent::Plan(plan.clone()));
                "plan updated".into()
            }
            None => "invalid arguments for update_plan: `plan` must be an array".into(),
        },
        other => {
            format!("unknown tool `{other}`; the tools are shell, apply_patch and update_plan")
        }
    }
}

/// Runs one turn on `history` (which gains the new items); returns the
/// final assistant message and the usage summed over the round trips.
pub fn run_turn(
    transport: &mut dyn Transport,
    tools: &mut dyn Tools,
    cfg: &TurnConfig,
    history: &mut Vec<Item>,
    on_event: &mut dyn FnMut(AgentEvent),
) -> Result<(String, Usage), TurnError> {
    let mut total = Usage::default();
    for _ in 0..cfg.max_steps {
        let body = match cfg.wire {
            WireApi::Responses => {
                responses_body(cfg.model, cfg.instructions, history, cfg.output_schema)
            }
            WireApi::Chat => chat_body(cfg.model, cfg.instructions, history, cfg.output_schema),
        };
        let (events, usage) = exchange(transport, cfg, &body, on_event)?;
        if let Some(u) = usage {
            total.input_tokens += u.input_tokens;
            total.output_tokens += u.output_tokens;
        }
        let mut text = String::new();
        let mut calls = Vec::new();
        for e in events {
            match e {
                ModelEvent::TextDelta(t) => {
                    on_event(AgentEvent::TextDelta(t.clone()));
                    text.push_str(&t);
                }
                ModelEvent::ReasoningDelta(t) => on_event(AgentEvent::Reasoning(t)),
                ModelEvent::FunctionCall {
                    call_id,
                    name,
                    arguments,
                } => calls.push((call_id, name, arguments)),
                ModelEvent::Completed { .. } => {}
            }
        }
        if !text.is_empty() {
            history.push(Item::Assistant(text.clone()));
        }
        if calls.is_empty() {
            return Ok((text, total));
        }
        for (call_id, name, arguments) in calls {
            history.push(Item::Call {
                call_id: call_id.clone(),
                name: name.clone(),
                arguments: arguments.clone(),
            });
            on_event(AgentEvent::ToolStarted {
                call_id: call_id.clone(),
                name: name.clone(),
                arguments: arguments.clone(),
            });
            let output = run_tool(tools, &name, &arguments, on_event);
            on_event(AgentEvent::ToolCompleted {
                call_id: call_id.clone(),
                output: output.clone(),
            });
            history.push(Item::Output {
                call_id,
                output: cap_output(&output, cfg.max_tool_output),
            });
        }
    }
    Err(TurnError::TooManySteps(cfg.max_steps))
}

#[cfg(test)]
#[path = "agent_tests.rs"]
mod tests;
