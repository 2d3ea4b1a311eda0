//! The turn loop: send the conversation, decode the streamed answer, run
//! the tools the model calls, send their results back, until the model
//! answers without calling a tool.
//!
//! The loop is independent of HTTP and of how tools run: a [`Transport`]
//! sends request bodies and yields response bytes, [`Tools`] run `shell`
//! and `apply_patch`. That keeps it testable with scripted streams.

use crate::model::decode::{ChatDecoder, ResponsesDecoder};
use crate::model::request::{Item, RequestBody, Wire};
use crate::model::retry::{retry_delay, Failure};
use crate::model::{ModelEvent, SseParser, StreamError, Usage};
use crate::tools::{cap_output, ToolSpec};
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

    /// Sends `body`, which borrows the history. The default builds the
    /// JSON value for [`Transport::send`]; a transport that sends bytes
    /// should override it with [`RequestBody::to_vec`], which writes the
    /// JSON straight from the history (no copy of it as a JSON tree, no
    /// slack in the buffer).
    fn send_body(&mut self, body: &RequestBody<'_>) -> Result<Chunks<'_>, Failure> {
        self.send(&body.to_value())
    }
}

/// A `shell` call as the model made it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ShellCall {
    /// The model's id for this call.
    pub call_id: String,
    /// argv.
    pub command: Vec<String>,
    /// Working directory, relative to the session's or absolute.
    pub workdir: Option<String>,
    /// Kill the command after this long.
    pub timeout_ms: Option<u64>,
    /// The model asked to run outside the sandbox.
    pub escalate: bool,
    /// Why, in the model's words.
    pub justification: Option<String>,
}

/// What a file change did.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum ChangeKind {
    /// A new file.
    Add,
    /// Changed in place (or moved).
    Update,
    /// Removed.
    Delete,
}

/// What a tool did, beyond its text.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum ToolDetail {
    /// A command ran (or was refused before it could).
    Command {
        /// The command line as shown to the user.
        command: String,
        /// Exit code, when it ran to an end.
        exit_code: Option<i32>,
        /// It did not run or did not finish normally.
        failed: bool,
        /// It asked to leave the sandbox and was declined.
        declined: bool,
        /// What the sandbox denied it, each with what would allow it.
        denials: Vec<crate::runner::SandboxDenial>,
    },
    /// A patch was applied (all of it) or not (none of it).
    Patch {
        /// Paths and what happened to each.
        changes: Vec<(String, ChangeKind)>,
        /// Whether it applied.
        applied: bool,
    },
    /// A tool of an MCP server was called (or refused).
    McpCall {
        /// The server.
        server: String,
        /// The tool's name on the server.
        tool: String,
        /// The arguments.
        arguments: Value,
        /// `{"content": [...], "structured_content": ...}` when it answered.
        result: Option<Value>,
        /// Why it failed (declined, timed out, `isError`).
        error: Option<String>,
    },
    /// A long-running command (`exec_command`, `write_stdin`): what it
    /// printed since the last call.
    Process {
        /// Its session id.
        session_id: u32,
        /// The command line.
        command: String,
        /// Output since the last call.
        output: String,
        /// Its exit code once it ended.
        exit_code: Option<i32>,
        /// Still running.
        running: bool,
    },
    /// Nothing more to say.
    None,
}

/// A tool's full output and what it did.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ToolResult {
    /// Full output (the model gets it capped).
    pub output: String,
    /// Structured detail for the event stream.
    pub detail: ToolDetail,
}

impl ToolResult {
    /// A result with only text.
    pub fn text(output: impl Into<String>) -> ToolResult {
        ToolResult {
            output: output.into(),
            detail: ToolDetail::None,
        }
    }
}

/// Runs the model's tools.
pub trait Tools {
    /// Runs `shell`.
    fn shell(&mut self, call: &ShellCall) -> ToolResult;
    /// Applies a patch (all or nothing) for call `call_id`.
    fn apply_patch(&mut self, call_id: &str, input: &str) -> ToolResult;
    /// Tools beyond the built-in ones (MCP servers' tools), asked for
    /// before every model request: the list may grow mid-session.
    fn extra_tools(&mut self) -> Vec<ToolSpec> {
        Vec::new()
    }
    /// Runs `name` when it is one of [`Tools::extra_tools`]; `None`: no
    /// such tool.
    fn call_extra(
        &mut self,
        call_id: &str,
        name: &str,
        arguments: Value,
        on_event: &mut dyn FnMut(AgentEvent),
    ) -> Option<ToolResult> {
        let _ = (call_id, name, arguments, on_event);
        None
    }
    /// Messages for the user (a tool server that failed to start or
    /// stopped), each once; asked for before every model request.
    fn notices(&mut self) -> Vec<String> {
        Vec::new()
    }
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
        /// Tool name.
        name: String,
        /// Full output.
        output: String,
        /// What it did.
        detail: ToolDetail,
    },
    /// A tool of an MCP server is about to be called.
    McpCallStarted {
        /// Call id.
        call_id: String,
        /// The server.
        server: String,
        /// The tool's name on the server.
        tool: String,
        /// The arguments.
        arguments: Value,
    },
    /// Something the user should know that is not part of the answer (an
    /// MCP server failed to start).
    Warning(String),
    /// `update_plan` was called with this plan (`[{step, status}]`).
    Plan(Value),
    /// One response's answer text, complete.
    MessageCompleted(String),
    /// One response's reasoning summary, complete.
    ReasoningCompleted(String),
    /// An item was added to the conversation (to record it at once).
    Item(Item),
    /// One model request's reported usage: its input is the context the
    /// model saw, so input plus output is what the next request starts from.
    Usage(Usage),
    /// The history was replaced by this summary (`/compact`, or the
    /// context reached `model_auto_compact_token_limit`), followed by
    /// `kept`.
    Compacted {
        /// The model's summary of the conversation before.
        summary: String,
        /// What follows the summary: in the middle of a turn, the last
        /// response's text, calls and their outputs (the turn goes on
        /// from them); empty otherwise.
        kept: Vec<Item>,
    },
    /// A request is retried after `delay`.
    Retrying {
        /// Attempt number (1-based) that failed.
        attempt: u32,
        /// Wait before the next.
        delay: Duration,
        /// What went wrong.
        reason: String,
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
    /// Retries of a request that could not connect or got 429/5xx.
    pub request_retries: u32,
    /// Retries of a stream that broke off or went idle.
    pub stream_retries: u32,
    /// Most bytes of tool output returned to the model.
    pub max_tool_output: usize,
    /// Most model round trips in one turn.
    pub max_steps: usize,
    /// Compact between two requests of the turn once a response reports
    /// this many tokens in the context (`model_auto_compact_token_limit`);
    /// `None` never does.
    pub auto_compact: Option<u64>,
    /// How to wait between retries (tests pass a no-op).
    pub sleep: &'a dyn Fn(Duration),
    /// Set when the user interrupts the turn.
    pub interrupted: &'a dyn Fn() -> bool,
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
    /// The user interrupted the turn.
    #[error("interrupted")]
    Interrupted,
}

fn describe(f: &Failure) -> String {
    match f {
        Failure::Connect(why) => format!("could not reach the model provider: {why}"),
        Failure::Interrupted => "interrupted".into(),
        Failure::Status { code, body, .. } => format!(
            "HTTP {code}: {}",
            body.chars().take(300).collect::<String>()
        ),
        Failure::NotAStream { content_type, body } => format!(
            "the provider answered with {content_type}, not an event stream (does base_url name the API?): {}",
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
    body: &RequestBody,
    on_event: &mut dyn FnMut(AgentEvent),
) -> Result<(Vec<ModelEvent>, Option<Usage>), TurnError> {
    let mut attempt = 0u32;
    loop {
        let result = stream_once(transport, cfg.wire, body, on_event);
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
        if failure == Failure::Interrupted || (cfg.interrupted)() {
            return Err(TurnError::Interrupted);
        }
        let budget = match failure {
            Failure::Truncated | Failure::Idle => cfg.stream_retries,
            _ => cfg.request_retries,
        };
        match retry_delay(&failure, attempt, budget) {
            Some(delay) => {
                attempt += 1;
                on_event(AgentEvent::Retrying {
                    attempt,
                    delay,
                    reason: describe(&failure),
                });
                (cfg.sleep)(delay);
                if (cfg.interrupted)() {
                    return Err(TurnError::Interrupted);
                }
            }
            None => return Err(TurnError::Request(describe(&failure))),
        }
    }
}

enum Attempt {
    Failed(Failure),
    Stream(StreamError),
}

/// One request's stream, decoded; text and reasoning deltas are reported
/// as they arrive (a retry after a broken stream sends them again, after
/// its [`AgentEvent::Retrying`]).
fn stream_once(
    transport: &mut dyn Transport,
    wire: WireApi,
    body: &RequestBody,
    on_event: &mut dyn FnMut(AgentEvent),
) -> Result<Vec<ModelEvent>, Attempt> {
    let chunks = transport.send_body(body).map_err(Attempt::Failed)?;
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
            for e in decoded.map_err(Attempt::Stream)? {
                report_delta(&e, on_event);
                events.push(e);
            }
        }
    }
    match wire {
        WireApi::Responses => responses.finish().map_err(Attempt::Stream)?,
        WireApi::Chat => {
            for e in chat.finish().map_err(Attempt::Stream)? {
                report_delta(&e, on_event);
                events.push(e);
            }
        }
    }
    Ok(events)
}

/// Reports a text or reasoning delta as it arrives.
fn report_delta(e: &ModelEvent, on_event: &mut dyn FnMut(AgentEvent)) {
    match e {
        ModelEvent::TextDelta(t) => on_event(AgentEvent::TextDelta(t.clone())),
        ModelEvent::ReasoningDelta(t) => on_event(AgentEvent::Reasoning(t.clone())),
        _ => {}
    }
}

/// Runs `name` with `arguments`; returns the full output and detail.
fn run_tool(
    tools: &mut dyn Tools,
    call_id: &str,
    name: &str,
    arguments: &str,
    on_event: &mut dyn FnMut(AgentEvent),
) -> ToolResult {
    let args: Value = match serde_json::from_str(arguments) {
        Ok(v) => v,
        Err(e) => return ToolResult::text(format!("invalid arguments for {name}: {e}")),
    };
    let text = |v: &Value, key: &str| v.get(key).and_then(Value::as_str).map(str::to_string);
    match name {
        "shell" => {
            let command: Option<Vec<String>> = args
                .get("command")
                .and_then(Value::as_array)
                .and_then(|a| a.iter().map(|s| s.as_str().map(str::to_string)).collect());
            match command {
                Some(command) if !command.is_empty() => tools.shell(&ShellCall {
                    call_id: call_id.to_string(),
                    command,
                    workdir: text(&args, "workdir"),
                    timeout_ms: args.get("timeout_ms").and_then(Value::as_u64),
                    escalate: text(&args, "sandbox_permissions").as_deref()
                        == Some("require_escalated"),
                    justification: text(&args, "justification"),
                }),
                _ => ToolResult::text(
                    "invalid arguments for shell: `command` must be a non-empty array of strings",
                ),
            }
        }
        "apply_patch" => match args.get("input").and_then(Value::as_str) {
            Some(input) => tools.apply_patch(call_id, input),
            None => ToolResult::text("invalid arguments for apply_patch: `input` must be a string"),
        },
        "update_plan" => match args.get("plan").filter(|p| p.is_array()) {
            Some(plan) => {
                on_event(AgentEvent::Plan(plan.clone()));
                ToolResult::text("plan updated")
            }
            None => ToolResult::text("invalid arguments for update_plan: `plan` must be an array"),
        },
        other => match tools.call_extra(call_id, other, args, on_event) {
            Some(result) => result,
            None => ToolResult::text(format!(
                "unknown tool `{other}`; the tools are shell, apply_patch, update_plan and those in the tool list"
            )),
        },
    }
}

/// Adds `item` to the history and reports it.
fn remember(history: &mut Vec<Item>, item: Item, on_event: &mut dyn FnMut(AgentEvent)) {
    on_event(AgentEvent::Item(item.clone()));
    history.push(item);
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
        if (cfg.interrupted)() {
            return Err(TurnError::Interrupted);
        }
        // Where this step's items (the answer, calls and outputs) start.
        let step_start = history.len();
        for notice in tools.notices() {
            on_event(AgentEvent::Warning(notice));
        }
        let extra = tools.extra_tools();
        let body = RequestBody {
            wire: wire_of(cfg.wire),
            model: cfg.model,
            instructions: cfg.instructions,
            items: history,
            schema: cfg.output_schema,
            extra_tools: &extra,
        };
        let (events, usage) = exchange(transport, cfg, &body, on_event)?;
        if let Some(u) = usage {
            total.input_tokens += u.input_tokens;
            total.output_tokens += u.output_tokens;
            on_event(AgentEvent::Usage(u));
        }
        let mut text = String::new();
        let mut reasoning = String::new();
        let mut calls = Vec::new();
        for e in events {
            match e {
                // Already reported as they streamed.
                ModelEvent::TextDelta(t) => text.push_str(&t),
                ModelEvent::ReasoningDelta(t) => reasoning.push_str(&t),
                ModelEvent::FunctionCall {
                    call_id,
                    name,
                    arguments,
                } => calls.push((call_id, name, arguments)),
                ModelEvent::Completed { .. } => {}
            }
        }
        if !reasoning.is_empty() {
            on_event(AgentEvent::ReasoningCompleted(reasoning));
        }
        if !text.is_empty() {
            on_event(AgentEvent::MessageCompleted(text.clone()));
            remember(history, Item::Assistant(text.clone()), on_event);
        }
        if calls.is_empty() {
            return Ok((text, total));
        }
        for (call_id, name, arguments) in calls {
            remember(
                history,
                Item::Call {
                    call_id: call_id.clone(),
                    name: name.clone(),
                    arguments: arguments.clone(),
                },
                on_event,
            );
            on_event(AgentEvent::ToolStarted {
                call_id: call_id.clone(),
                name: name.clone(),
                arguments: arguments.clone(),
            });
            let result = run_tool(tools, &call_id, &name, &arguments, on_event);
            remember(
                history,
                Item::Output {
                    call_id: call_id.clone(),
                    output: cap_output(&result.output, cfg.max_tool_output),
                },
                on_event,
            );
            on_event(AgentEvent::ToolCompleted {
                call_id,
                name,
                output: result.output,
                detail: result.detail,
            });
            if (cfg.interrupted)() {
                return Err(TurnError::Interrupted);
            }
        }
        let full = match (cfg.auto_compact, usage) {
            (Some(limit), Some(u)) => u.input_tokens + u.output_tokens >= limit,
            _ => false,
        };
        // Something before this step to summarise (not only a summary
        // made a step ago).
        let earlier = history[..step_start].iter().any(|i| !is_summary(i));
        if full && earlier {
            let u = compact_mid_turn(transport, cfg, history, step_start, on_event);
            total.input_tokens += u.input_tokens;
            total.output_tokens += u.output_tokens;
        }
    }
    Err(TurnError::TooManySteps(cfg.max_steps))
}

/// The body's wire API.
fn wire_of(wire: WireApi) -> Wire {
    match wire {
        WireApi::Responses => Wire::Responses,
        WireApi::Chat => Wire::Chat,
    }
}

/// Whether `item` is the summary a compaction left.
fn is_summary(item: &Item) -> bool {
    matches!(item, Item::User(t) if t.starts_with(crate::session::COMPACTED_PREFIX))
}

/// The context is full and the turn goes on: the history before
/// `step_start` is replaced by the model's summary of it, followed by
/// this step's answer, calls and outputs, so the next request carries
/// the summary and the outputs the model is waiting for. Reports
/// [`AgentEvent::Compacted`]; on failure the history is kept (the
/// model's own limit decides) and a warning says so. Returns the
/// summarisation's usage.
fn compact_mid_turn(
    transport: &mut dyn Transport,
    cfg: &TurnConfig,
    history: &mut Vec<Item>,
    step_start: usize,
    on_event: &mut dyn FnMut(AgentEvent),
) -> Usage {
    let kept = history.split_off(step_start);
    match summarize(
        transport,
        cfg,
        history,
        crate::session::COMPACT_PROMPT,
        on_event,
    ) {
        Ok((summary, usage)) => {
            *history = crate::session::compacted_history(&summary);
            history.extend(kept.iter().cloned());
            on_event(AgentEvent::Compacted { summary, kept });
            usage
        }
        Err(e) => {
            history.extend(kept);
            on_event(AgentEvent::Warning(format!(
                "automatic compaction failed ({e}); the turn goes on with the whole history"
            )));
            Usage::default()
        }
    }
}

/// Asks the model for a summary of `history` that lets it carry on (one
/// request, no tools run; a call it makes anyway is ignored). Returns the
/// summary and the request's usage; only retries are reported.
pub fn summarize(
    transport: &mut dyn Transport,
    cfg: &TurnConfig,
    history: &[Item],
    prompt: &str,
    on_event: &mut dyn FnMut(AgentEvent),
) -> Result<(String, Usage), TurnError> {
    let mut items = history.to_vec();
    items.push(Item::User(prompt.to_string()));
    let body = RequestBody {
        wire: wire_of(cfg.wire),
        model: cfg.model,
        instructions: cfg.instructions,
        items: &items,
        schema: None,
        extra_tools: &[],
    };
    let mut retries = |e: AgentEvent| {
        if matches!(e, AgentEvent::Retrying { .. }) {
            on_event(e);
        }
    };
    let (events, usage) = exchange(transport, cfg, &body, &mut retries)?;
    let text: String = events
        .into_iter()
        .filter_map(|e| match e {
            ModelEvent::TextDelta(t) => Some(t),
            _ => None,
        })
        .collect();
    if text.trim().is_empty() {
        return Err(TurnError::Request(
            "the model returned no summary; the history was kept".into(),
        ));
    }
    Ok((text, usage.unwrap_or_default()))
}

#[cfg(test)]
#[path = "agent_tests.rs"]
mod tests;
