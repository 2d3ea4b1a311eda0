//! One session core for every front end (`exec`, the TUI, the MCP server):
//! start or resume a session, run turns on it, receive its events, answer
//! its approval requests through an [`Approver`], interrupt it.
//!
//! Events come out as [`SessionEvent`]s: what the turn loop reports as it
//! goes (text deltas, tools, plans, retries) and the `exec --json` stream
//! built from them. Each conversation item and JSON event is appended to
//! the session's rollout as it happens.

pub mod store;

pub use store::{list_sessions, Resume, SessionSummary};

use crate::agent::{
    run_turn, AgentEvent, ShellCall, ToolResult, Tools, TurnConfig, TurnError, WireApi,
};
use crate::approval::{ApprovalAction, Approver};
use crate::events::EventMapper;
use crate::ids::{new_id, now_secs};
use crate::interrupt::Interrupt;
use crate::model::client::HttpTransport;
use crate::model::request::Item;
use crate::model::Usage;
use crate::rollout::{self, Rollout};
use crate::runner::{Remembered, SandboxRunner};
use crate::tool_provider::{self, ProvidedTool, ToolProvider};
use crate::tools::ToolSpec;
use crate::{instructions, notify, CoreError};
use cordon_config::ModelProvider;
use cordon_policy::{ApprovalPolicy, SandboxPolicy};
use serde_json::{json, Value};
use std::ffi::OsString;
use std::path::{Path, PathBuf};
use std::sync::{Arc, Mutex};

/// Most model round trips in one turn.
const MAX_STEPS: usize = 200;
/// Most bytes of one tool's output sent back to the model.
const MAX_TOOL_OUTPUT: usize = 16 * 1024;

/// What the model is asked when the conversation is compacted.
pub const COMPACT_PROMPT: &str = "Context is running out: this conversation will be replaced by your summary of it, and the work goes on from that summary alone. Write it for yourself: the user's goals and constraints, what has been done so far (files changed, commands run and what they showed), decisions and why, and what remains to do next. Keep paths, names and numbers exact; leave out pleasantries. Do not call any tool.";

/// How the summary starts the compacted history (the model's first
/// message after a compaction).
pub const COMPACTED_PREFIX: &str =
    "This conversation was compacted to save context. Summary of everything before this point:";

/// The history a compaction leaves: one user message with the summary.
pub fn compacted_history(summary: &str) -> Vec<Item> {
    vec![Item::User(format!(
        "{COMPACTED_PREFIX}\n\n{}",
        summary.trim()
    ))]
}

/// Everything a session needs, resolved by the front end.
pub struct SessionConfig {
    /// `$CORDON_HOME`.
    pub home: PathBuf,
    /// Working directory.
    pub cwd: PathBuf,
    /// Model name.
    pub model: String,
    /// Provider.
    pub provider: ModelProvider,
    /// The session's sandbox policy.
    pub policy: SandboxPolicy,
    /// Arguments for `cordon sandbox` that reproduce the policy's config
    /// (profile, `-c`); mode and network come from `policy`.
    pub sandbox_args: Vec<OsString>,
    /// The `cordon` executable (pinned).
    pub cordon_exe: PathBuf,
    /// When to ask the user.
    pub approval: ApprovalPolicy,
    /// A JSON schema the final message must follow.
    pub output_schema: Option<Value>,
    /// Write nothing under `$CORDON_HOME`.
    pub ephemeral: bool,
    /// Continue a saved session.
    pub resume: Option<Resume>,
    /// `notify` argv.
    pub notify: Vec<String>,
    /// `project_doc_max_bytes`.
    pub instructions_max: usize,
    /// Interrupts the running turn.
    pub interrupt: Arc<Interrupt>,
}

/// Starts watching the policy's writable roots (workspace-write only), so
/// each command gets the current protected set without a walk.
fn watch_roots(policy: &SandboxPolicy) -> Option<Arc<cordon_discovery::Watcher>> {
    if policy.mode != cordon_policy::SandboxMode::WorkspaceWrite {
        return None;
    }
    let roots: Vec<PathBuf> = policy
        .writable_roots
        .iter()
        .map(|r| r.root.clone())
        .collect();
    let with_nested = roots
        .iter()
        .map(|root| {
            let nested = roots
                .iter()
                .filter(|r| *r != root && r.starts_with(root))
                .cloned()
                .collect();
            (root.clone(), nested)
        })
        .collect();
    Some(cordon_discovery::Watcher::start(with_nested))
}

/// What a session reports while a turn runs.
#[derive(Debug, Clone, PartialEq)]
pub enum SessionEvent {
    /// What the turn loop reports as it goes.
    Agent(AgentEvent),
    /// One event of the `exec --json` stream (`thread.started`,
    /// `turn.started`, `item.*`, `turn.completed`, `turn.failed`).
    Json(Value),
}

/// A running session.
pub struct Session {
    id: String,
    home: PathBuf,
    cwd: PathBuf,
    model: String,
    wire: WireApi,
    provider: ModelProvider,
    output_schema: Option<Value>,
    ephemeral: bool,
    instructions: Option<String>,
    history: Vec<Item>,
    rollout: Option<Rollout>,
    rollout_error: Option<String>,
    transport: HttpTransport,
    tools: SandboxRunner,
    tool_provider: Option<Box<dyn ToolProvider>>,
    unified: Option<crate::unified_exec::UnifiedExec>,
    interrupt: Arc<Interrupt>,
    notify_argv: Vec<String>,
    notify_path: std::ffi::OsString,
    turn_id: Arc<Mutex<String>>,
    announced: bool,
    total: Usage,
    inputs: Vec<String>,
    /// Tokens in the context after the last model request (its input
    /// plus output), when the model reported usage.
    context: Option<u64>,
    /// Compact before a turn once `context` reaches this.
    auto_compact: Option<u64>,
}

impl Session {
    /// Starts (or resumes) a session: connects nothing yet, but resolves
    /// the provider, pins `notify`'s program and opens the rollout.
    pub fn start(
        config: SessionConfig,
        env: &dyn Fn(&str) -> Option<String>,
        approver: Box<dyn Approver>,
    ) -> Result<Session, CoreError> {
        let transport = HttpTransport::new(&config.provider, env, config.interrupt.clone())?;
        // notify runs outside the sandbox: pin its program now, outside every
        // writable root, and give it a PATH without them.
        let untrusted: Vec<PathBuf> = config
            .policy
            .writable_roots
            .iter()
            .map(|r| r.root.clone())
            .collect();
        let notify_argv =
            notify::resolve(&config.notify, &config.cwd, &untrusted).map_err(CoreError::Notify)?;
        let notify_path = notify::trusted_path(&untrusted);
        let (id, history, rollout) = open(&config)?;
        let turn_id = Arc::new(Mutex::new(String::new()));
        let on_approval = approval_notifier(
            notify_argv.clone(),
            notify_path.clone(),
            id.clone(),
            turn_id.clone(),
            config.cwd.display().to_string(),
        );
        let tools = SandboxRunner {
            cordon_exe: config.cordon_exe.clone(),
            sandbox_args: config.sandbox_args.clone(),
            cwd: config.cwd.clone(),
            policy: config.policy.clone(),
            approval: config.approval,
            interrupt: config.interrupt.clone(),
            approver,
            on_approval,
            remembered: Remembered::default(),
            watcher: watch_roots(&config.policy),
            index_read_only: config.ephemeral,
            session_domains: Vec::new(),
        };
        let wire = match config.provider.wire_api {
            cordon_config::WireApi::Responses => WireApi::Responses,
            cordon_config::WireApi::Chat => WireApi::Chat,
        };
        Ok(Session {
            instructions: instructions::load(
                Some(&config.home),
                &config.cwd,
                config.instructions_max,
            ),
            id,
            home: config.home,
            cwd: config.cwd,
            model: config.model,
            wire,
            provider: config.provider,
            output_schema: config.output_schema,
            ephemeral: config.ephemeral,
            history,
            rollout,
            rollout_error: None,
            transport,
            tools,
            tool_provider: None,
            unified: None,
            interrupt: config.interrupt,
            notify_argv,
            notify_path,
            turn_id,
            announced: false,
            total: Usage::default(),
            inputs: Vec::new(),
            context: None,
            auto_compact: None,
        })
    }

    /// Offers the model `exec_command` and `write_stdin` (commands that
    /// may keep running, on a terminal of their own) from the next request
    /// on (`[features] unified_exec`).
    pub fn enable_unified_exec(&mut self) {
        if self.unified.is_none() {
            self.unified = Some(crate::unified_exec::UnifiedExec::new(
                self.interrupt.clone(),
            ));
        }
    }

    /// The long-running commands (`/ps`).
    pub fn processes(&self) -> Vec<crate::processes::Listed> {
        self.unified.as_ref().map(|u| u.list()).unwrap_or_default()
    }

    /// Offers `provider`'s tools (the MCP servers') to the model from the
    /// next request on.
    pub fn set_tool_provider(&mut self, provider: Box<dyn ToolProvider>) {
        self.tool_provider = Some(provider);
    }

    /// The tool provider, if one was set.
    pub fn tool_provider(&self) -> Option<&dyn ToolProvider> {
        self.tool_provider.as_deref()
    }

    /// The session id.
    pub fn id(&self) -> &str {
        &self.id
    }

    /// The conversation so far (a resumed session's earlier turns included).
    pub fn history(&self) -> &[Item] {
        &self.history
    }

    /// The model used for the next turn.
    pub fn model(&self) -> &str {
        &self.model
    }

    /// Uses `model` from the next turn on.
    pub fn set_model(&mut self, model: String) {
        self.model = model;
    }

    /// The provider.
    pub fn provider(&self) -> &ModelProvider {
        &self.provider
    }

    /// The endpoint the model requests go to.
    pub fn endpoint(&self) -> String {
        self.transport.url().to_string()
    }

    /// The sandbox policy commands run under.
    pub fn policy(&self) -> &SandboxPolicy {
        &self.tools.policy
    }

    /// The approval policy.
    pub fn approval(&self) -> ApprovalPolicy {
        self.tools.approval
    }

    /// Changes the sandbox mode and approval policy from the next command
    /// on (the TUI's `/approvals`); `policy` must come from the same
    /// configuration with the new mode.
    pub fn set_permissions(&mut self, policy: SandboxPolicy, approval: ApprovalPolicy) {
        self.tools.policy = policy;
        self.tools.approval = approval;
    }

    /// Allows `host` through the proxy for this session's later commands
    /// (each sandboxed run under `--network proxy` gets
    /// `--allow-domain=HOST`); what the approval choice `h` does after the
    /// proxy refused a host. Only a plain host name or address is taken.
    pub fn allow_domain(&mut self, host: &str) -> Result<(), String> {
        if !crate::runner::is_plain_host(host) {
            return Err(format!(
                "{host:?} is not a plain host name or address (patterns are for the config file)"
            ));
        }
        if !self.tools.session_domains.iter().any(|h| h == host) {
            self.tools.session_domains.push(host.to_string());
        }
        Ok(())
    }

    /// Hosts allowed for this session after the proxy refused them.
    pub fn session_domains(&self) -> &[String] {
        &self.tools.session_domains
    }

    /// Tokens used by this session's turns in this process.
    pub fn usage(&self) -> Usage {
        self.total
    }

    /// Tokens in the context after the last model request (input plus
    /// output of that one request, not the turn's sum), when reported.
    pub fn context_tokens(&self) -> Option<u64> {
        self.context
    }

    /// Compacts once the context holds `limit` tokens
    /// (`model_auto_compact_token_limit`): before a turn, and between two
    /// requests of a turn that goes on; `None` never does (`exec`).
    pub fn set_auto_compact(&mut self, limit: Option<u64>) {
        self.auto_compact = limit;
    }

    /// Replaces the history with the model's summary of it: one request
    /// ([`COMPACT_PROMPT`]), then the history becomes
    /// [`compacted_history`], recorded in the rollout (a resumed session
    /// starts from the summary). Reports [`AgentEvent::Compacted`];
    /// returns the request's usage. On failure the history is kept.
    pub fn compact(&mut self, on_event: &mut dyn FnMut(SessionEvent)) -> Result<Usage, TurnError> {
        if self.history.is_empty() {
            return Err(TurnError::Request(
                "nothing to compact: the conversation is empty".into(),
            ));
        }
        self.interrupt.reset();
        let sleeper = self.interrupt.clone();
        let stopper = self.interrupt.clone();
        let cfg = TurnConfig {
            wire: self.wire,
            model: &self.model,
            instructions: self.instructions.as_deref(),
            output_schema: None,
            request_retries: self.provider.request_max_retries,
            stream_retries: self.provider.stream_max_retries,
            max_tool_output: MAX_TOOL_OUTPUT,
            max_steps: 1,
            auto_compact: None,
            sleep: &|d| sleeper.sleep(d),
            interrupted: &|| stopper.is_set(),
        };
        let (summary, usage) = crate::agent::summarize(
            &mut self.transport,
            &cfg,
            &self.history,
            COMPACT_PROMPT,
            &mut |e| on_event(SessionEvent::Agent(e)),
        )?;
        self.history = compacted_history(&summary);
        self.total.input_tokens += usage.input_tokens;
        self.total.output_tokens += usage.output_tokens;
        // What is left is about the summary's size; the next request says.
        self.context = Some(usage.output_tokens);
        self.record(&store::compacted_record(&summary, &[]));
        on_event(SessionEvent::Agent(AgentEvent::Compacted {
            summary,
            kept: Vec::new(),
        }));
        Ok(usage)
    }

    /// Appends one record to the rollout (losing the file stops writing
    /// it, and says why in [`Session::rollout_error`]).
    fn record(&mut self, value: &Value) {
        if let Some(r) = self.rollout.as_mut() {
            if let Err(e) = r.append(value) {
                self.rollout_error = Some(format!("{}: {e}", r.path().display()));
                self.rollout = None;
            }
        }
    }

    /// The interrupt shared with the running turn.
    pub fn interrupt(&self) -> &Arc<Interrupt> {
        &self.interrupt
    }

    /// Why the rollout stopped being written, if it did.
    pub fn rollout_error(&self) -> Option<&str> {
        self.rollout_error.as_deref()
    }

    /// The working directory.
    pub fn cwd(&self) -> &Path {
        &self.cwd
    }

    /// The instructions sent with each request (the `AGENTS.md` files,
    /// unless replaced).
    pub fn instructions(&self) -> Option<&str> {
        self.instructions.as_deref()
    }

    /// Sends `instructions` instead from the next request on (the MCP
    /// server's `base-instructions` and `developer-instructions`).
    pub fn set_instructions(&mut self, instructions: Option<String>) {
        self.instructions = instructions;
    }

    /// Runs one turn on `prompt`: returns the final message and the usage
    /// of this turn. Events arrive through `on_event` as they happen.
    pub fn run_turn(
        &mut self,
        prompt: &str,
        on_event: &mut dyn FnMut(SessionEvent),
    ) -> Result<(String, Usage), TurnError> {
        let full = match (self.auto_compact, self.context) {
            (Some(limit), Some(used)) => used >= limit,
            _ => false,
        };
        if full && !self.history.is_empty() {
            // A failed compaction leaves the history as it was; the turn
            // goes on and the model's own limit decides.
            if let Err(e) = self.compact(on_event) {
                log::warn!("automatic compaction failed: {e}");
            }
        }
        self.interrupt.reset();
        let turn_id = new_id();
        if let Ok(mut t) = self.turn_id.lock() {
            *t = turn_id.clone();
        }
        let Session {
            id,
            home,
            model,
            wire,
            output_schema,
            ephemeral,
            instructions,
            history,
            rollout,
            rollout_error,
            transport,
            tools,
            tool_provider,
            unified,
            interrupt,
            announced,
            provider,
            context,
            auto_compact,
            ..
        } = self;
        let mut record = |value: &Value| {
            if let Some(r) = rollout.as_mut() {
                if let Err(e) = r.append(value) {
                    // Keep going: losing the session file must not lose the turn.
                    *rollout_error = Some(format!("{}: {e}", r.path().display()));
                    *rollout = None;
                }
            }
        };
        if !*announced {
            *announced = true;
            emit(
                json!({"type": "thread.started", "thread_id": id}),
                &mut record,
                on_event,
            );
        }
        if !*ephemeral {
            if let Err(e) = rollout::record_history(home, id, now_secs(), prompt) {
                log::warn!("cannot record the prompt in history.jsonl: {e}");
            }
        }
        emit(json!({"type": "turn.started"}), &mut record, on_event);
        let prompt_item = Item::User(prompt.to_string());
        record(&store::item_record(&prompt_item));
        history.push(prompt_item);
        let sleeper = interrupt.clone();
        let stopper = interrupt.clone();
        let cfg = TurnConfig {
            wire: *wire,
            model,
            instructions: instructions.as_deref(),
            output_schema: output_schema.as_ref(),
            request_retries: provider.request_max_retries,
            stream_retries: provider.stream_max_retries,
            max_tool_output: MAX_TOOL_OUTPUT,
            max_steps: MAX_STEPS,
            auto_compact: *auto_compact,
            sleep: &|d| sleeper.sleep(d),
            interrupted: &|| stopper.is_set(),
        };
        let mut mapper = EventMapper::default();
        let mut tools = SessionTools {
            runner: tools,
            provider: tool_provider.as_deref(),
            offered: Vec::new(),
            unified: unified.as_mut(),
        };
        let result = run_turn(transport, &mut tools, &cfg, history, &mut |event| {
            if let AgentEvent::Item(item) = &event {
                record(&store::item_record(item));
                return;
            }
            if let AgentEvent::Usage(u) = &event {
                *context = Some(u.input_tokens + u.output_tokens);
            }
            if let AgentEvent::Compacted { summary, kept } = &event {
                // In the middle of the turn: a resumed session starts
                // from the summary and what the turn went on from.
                record(&store::compacted_record(summary, kept));
                *context = None;
            }
            let mapped = mapper.map(&event);
            on_event(SessionEvent::Agent(event));
            for e in mapped {
                emit(e, &mut record, on_event);
            }
        });
        let finish = match &result {
            Ok((_, usage)) => mapper.finish(Ok(usage)),
            Err(e) => mapper.finish(Err(&turn_failure(e))),
        };
        for e in finish {
            emit(e, &mut record, on_event);
        }
        if let Ok((text, usage)) = &result {
            self.total.input_tokens += usage.input_tokens;
            self.total.output_tokens += usage.output_tokens;
            self.inputs.push(prompt.to_string());
            if !self.notify_argv.is_empty() {
                let payload = notify::turn_complete(
                    &self.id,
                    &turn_id,
                    &self.cwd.display().to_string(),
                    std::slice::from_ref(&prompt.to_string()),
                    Some(text),
                );
                if let Err(e) = notify::fire(&self.notify_argv, &payload, &self.notify_path) {
                    log::warn!("notify failed: {e}");
                }
            }
        }
        result
    }
}

/// The session's tools for one turn: the built-in ones through the runner,
/// and the provider's (MCP servers') as they are ready.
struct SessionTools<'a> {
    runner: &'a mut SandboxRunner,
    provider: Option<&'a dyn ToolProvider>,
    /// The provider's tools as offered in the last model request.
    offered: Vec<ProvidedTool>,
    /// `exec_command` and `write_stdin`, when enabled.
    unified: Option<&'a mut crate::unified_exec::UnifiedExec>,
}

impl Tools for SessionTools<'_> {
    fn shell(&mut self, call: &ShellCall) -> ToolResult {
        self.runner.shell(call)
    }

    fn apply_patch(&mut self, call_id: &str, input: &str) -> ToolResult {
        self.runner.apply_patch(call_id, input)
    }

    fn extra_tools(&mut self) -> Vec<ToolSpec> {
        self.offered = self.provider.map(|p| p.tools()).unwrap_or_default();
        let mut specs = tool_provider::specs(&self.offered);
        if self.unified.is_some() {
            specs.extend(crate::unified_exec::specs());
        }
        specs
    }

    fn call_extra(
        &mut self,
        call_id: &str,
        name: &str,
        arguments: Value,
        on_event: &mut dyn FnMut(AgentEvent),
    ) -> Option<ToolResult> {
        if let Some(unified) = self.unified.as_deref_mut() {
            match name {
                "exec_command" => {
                    return Some(unified.exec_command(self.runner, call_id, &arguments))
                }
                "write_stdin" => return Some(unified.write_stdin(&arguments)),
                _ => {}
            }
        }
        let provider = self.provider?;
        let tool = self.offered.iter().find(|t| t.model_name == name)?.clone();
        Some(tool_provider::call(
            provider,
            self.runner,
            &tool,
            call_id,
            arguments,
            on_event,
        ))
    }

    fn notices(&mut self) -> Vec<String> {
        self.provider.map(|p| p.notices()).unwrap_or_default()
    }
}

/// Records one `exec --json` event in the rollout and hands it out.
fn emit(value: Value, record: &mut dyn FnMut(&Value), on_event: &mut dyn FnMut(SessionEvent)) {
    record(&json!({"type": "event", "payload": value}));
    on_event(SessionEvent::Json(value));
}

/// How a failed turn is described in `turn.failed`.
pub fn turn_failure(e: &TurnError) -> String {
    match e {
        TurnError::Interrupted => {
            "interrupted: the turn was stopped and its commands killed".to_string()
        }
        other => other.to_string(),
    }
}

/// Fires `notify` with `approval-requested` for each request.
fn approval_notifier(
    argv: Vec<String>,
    path: OsString,
    thread: String,
    turn: Arc<Mutex<String>>,
    cwd: String,
) -> crate::runner::ApprovalHook {
    Box::new(move |request| {
        if argv.is_empty() {
            return;
        }
        let command: Vec<String> = match &request.action {
            ApprovalAction::Command { argv, .. } => argv.clone(),
            ApprovalAction::Patch { files } => std::iter::once("apply_patch".to_string())
                .chain(files.iter().map(|f| f.path.display().to_string()))
                .collect(),
            ApprovalAction::McpToolCall {
                server,
                tool,
                arguments,
            } => vec![format!("{server}.{tool}"), arguments.to_string()],
        };
        let turn = turn.lock().map(|t| t.clone()).unwrap_or_default();
        let reason = request
            .justification
            .clone()
            .unwrap_or_else(|| request.reason.describe());
        let payload = notify::approval_requested(&thread, &turn, &cwd, &command, Some(&reason));
        if let Err(e) = notify::fire(&argv, &payload, &path) {
            log::warn!("notify failed: {e}");
        }
    })
}

/// The session's id, conversation and rollout: a resumed one read back,
/// or a new one.
fn open(config: &SessionConfig) -> Result<(String, Vec<Item>, Option<Rollout>), CoreError> {
    let session_err = |path: &Path, e: std::io::Error| CoreError::Io {
        path: path.to_path_buf(),
        message: e.to_string(),
    };
    match &config.resume {
        Some(which) => {
            let path = store::find_session(&config.home, which)?;
            let records = rollout::read(&path).map_err(CoreError::Session)?;
            let (id, history) = store::history_from_records(&records)?;
            let rollout = if config.ephemeral {
                None
            } else {
                Some(Rollout::resume(path.clone()).map_err(|e| session_err(&path, e))?)
            };
            Ok((id, history, rollout))
        }
        None => {
            let id = new_id();
            let rollout = if config.ephemeral {
                None
            } else {
                let path = rollout::rollout_path(&config.home, now_secs(), &id);
                let meta = json!({
                    "id": id,
                    "timestamp": now_secs(),
                    "cwd": config.cwd.display().to_string(),
                    "model": config.model,
                    "model_provider": config.provider.id,
                    "sandbox_mode": config.policy.mode.as_str(),
                    "network": config.policy.network.as_str(),
                    "cli_version": env!("CARGO_PKG_VERSION"),
                });
                Some(Rollout::create(path.clone(), meta).map_err(|e| session_err(&path, e))?)
            };
            Ok((id, Vec::new(), rollout))
        }
    }
}
