//! `cordon exec`: one headless turn (new or resumed session), with the
//! event stream on stdout (`--json`) or the final message on stdout and a
//! readable account on stderr.

use crate::agent::{AgentEvent, ToolDetail};
use crate::approval::DeclineAll;
use crate::interrupt::Interrupt;
use crate::model::Usage;
use crate::pinned_dir::PinnedDir;
use crate::session::{turn_failure, Resume, Session, SessionConfig, SessionEvent};
use crate::tool_provider::ServerStatus;
use crate::CoreError;
use cordon_config::ModelProvider;
use cordon_policy::{ApprovalPolicy, SandboxPolicy};
use serde_json::Value;
use std::ffi::OsString;
use std::io::Write;
use std::path::{Path, PathBuf};
use std::sync::Arc;

/// Everything one `cordon exec` needs, resolved by the CLI.
pub struct ExecRequest {
    /// `$CORDON_HOME`.
    pub home: PathBuf,
    /// Working directory.
    pub cwd: PathBuf,
    /// The prompt (with stdin appended when both were given).
    pub prompt: String,
    /// Model name.
    pub model: String,
    /// Provider.
    pub provider: ModelProvider,
    /// The session's sandbox policy.
    pub policy: SandboxPolicy,
    /// Arguments for `cordon sandbox` that reproduce the policy.
    pub sandbox_args: Vec<OsString>,
    /// The `cordon` executable.
    pub cordon_exe: PathBuf,
    /// `--json`.
    pub json: bool,
    /// Colour on stderr.
    pub color: bool,
    /// `-o FILE`.
    pub output_last_message: Option<PathBuf>,
    /// `--output-schema` contents.
    pub output_schema: Option<Value>,
    /// `--ephemeral`.
    pub ephemeral: bool,
    /// `exec resume`.
    pub resume: Option<Resume>,
    /// `notify` argv.
    pub notify: Vec<String>,
    /// `project_doc_max_bytes`.
    pub instructions_max: usize,
    /// Ctrl-C.
    pub interrupt: Arc<Interrupt>,
    /// The MCP servers' tools (started already; required ones are waited
    /// for before the turn).
    pub tool_provider: Option<Box<dyn crate::tool_provider::ToolProvider>>,
    /// Offer `exec_command` and `write_stdin` (`[features] unified_exec`).
    pub unified_exec: bool,
}

/// Where events go: stdout as JSON lines, or stderr for people.
struct Output {
    json: bool,
    color: bool,
}

impl Output {
    fn emit(&self, event: &Value) {
        if self.json {
            let mut out = std::io::stdout().lock();
            let _ = writeln!(out, "{event}");
            let _ = out.flush();
        }
    }

    fn human(&self, label: &str, text: &str) {
        if self.json {
            return;
        }
        let (label, text) = (&printable(label), &printable(text));
        let mut err = std::io::stderr().lock();
        if self.color {
            let _ = writeln!(err, "\x1b[1m{label}\x1b[0m {text}");
        } else {
            let _ = writeln!(err, "{label} {text}");
        }
    }
}

/// `text` safe for a terminal: what a command or the model wrote may
/// hold escape sequences (set the clipboard, the title...); control
/// characters other than line breaks and tabs become `�`, CRs go.
fn printable(text: &str) -> String {
    text.chars()
        .filter(|&c| c != '\r')
        .map(|c| {
            if c.is_control() && c != '\n' && c != '\t' {
                '\u{fffd}'
            } else {
                c
            }
        })
        .collect()
}

/// Runs one turn; returns whether it completed.
pub fn run(req: ExecRequest, env: &dyn Fn(&str) -> Option<String>) -> Result<bool, CoreError> {
    // `-o`: its directory is pinned now, before any command runs, so no
    // symlink a command plants on the way can move the answer.
    let output_file = match &req.output_last_message {
        Some(path) => Some(pin_output(path)?),
        None => None,
    };
    let out = Output {
        json: req.json,
        color: req.color,
    };
    let unified_exec = req.unified_exec;
    let config = SessionConfig {
        home: req.home,
        cwd: req.cwd,
        model: req.model,
        provider: req.provider,
        policy: req.policy,
        sandbox_args: req.sandbox_args,
        cordon_exe: req.cordon_exe,
        // exec has no one to ask: escalations are declined and reported.
        approval: ApprovalPolicy::Never,
        output_schema: req.output_schema,
        ephemeral: req.ephemeral,
        resume: req.resume,
        notify: req.notify,
        instructions_max: req.instructions_max,
        interrupt: req.interrupt,
    };
    let mut session = Session::start(config, env, Box::new(DeclineAll))?;
    if unified_exec {
        session.enable_unified_exec();
    }
    if let Some(provider) = req.tool_provider {
        session.set_tool_provider(provider);
    }
    out.human(
        "cordon exec",
        &format!(
            "· model {} · provider {} ({}) · sandbox {} · network {} · session {}",
            session.model(),
            session.provider().id,
            session.endpoint(),
            session.policy().mode,
            session.policy().network,
            session.id()
        ),
    );
    out.human("user", &req.prompt);
    // Only required servers are waited for; the others join when ready.
    if let Some(provider) = session.tool_provider() {
        let waiting: Vec<String> = provider
            .servers()
            .into_iter()
            .filter(|s| s.required && s.status == ServerStatus::Starting)
            .map(|s| s.name)
            .collect();
        if !waiting.is_empty() {
            out.human(
                "mcp",
                &format!(
                    "waiting for the required server(s) {} to start",
                    waiting.join(", ")
                ),
            );
        }
        provider.wait_required().map_err(CoreError::Mcp)?;
    }
    let result = session.run_turn(&req.prompt, &mut |event| match event {
        SessionEvent::Agent(e) => show(&out, &e),
        SessionEvent::Json(v) => out.emit(&v),
    });
    let last = match &result {
        Ok((text, usage)) => {
            show_usage(&out, usage);
            Some(text.clone())
        }
        Err(e) => {
            out.human("error", &turn_failure(e));
            None
        }
    };
    if let Some(e) = session.rollout_error() {
        eprintln!("cordon: warning: the session file stopped being written: {e}");
    }
    if let Some(text) = &last {
        if !req.json {
            let mut stdout = std::io::stdout().lock();
            let _ = writeln!(stdout, "{text}");
            let _ = stdout.flush();
        }
        if let (Some((dir, name)), Some(path)) = (&output_file, &req.output_last_message) {
            dir.replace(name, text.as_bytes())
                .map_err(|e| CoreError::Io {
                    path: path.clone(),
                    message: e.to_string(),
                })?;
        }
    }
    Ok(last.is_some())
}

/// The directory of `-o FILE`, held open, and the file's name.
fn pin_output(path: &Path) -> Result<(PinnedDir, String), CoreError> {
    let io = |message: String| CoreError::Io {
        path: path.to_path_buf(),
        message,
    };
    let name = path
        .file_name()
        .and_then(|n| n.to_str())
        .ok_or_else(|| io("does not name a file".into()))?;
    let parent = match path.parent() {
        Some(p) if !p.as_os_str().is_empty() => p,
        _ => Path::new("."),
    };
    let dir = PinnedDir::open(parent).map_err(|e| io(format!("its directory: {e}")))?;
    Ok((dir, name.to_string()))
}

/// The readable account of one event on stderr.
fn show(out: &Output, event: &AgentEvent) {
    match event {
        AgentEvent::ReasoningCompleted(t) => out.human("thinking", t.trim()),
        AgentEvent::MessageCompleted(t) => out.human("assistant", t.trim()),
        AgentEvent::ToolStarted {
            name, arguments, ..
        } if name == "shell" => {
            let argv: Vec<String> = serde_json::from_str::<Value>(arguments)
                .ok()
                .and_then(|v| serde_json::from_value(v["command"].clone()).ok())
                .unwrap_or_default();
            out.human("exec", &crate::runner::display_command(&argv));
        }
        AgentEvent::ToolCompleted { detail, output, .. } => match detail {
            ToolDetail::Command {
                exit_code,
                declined,
                ..
            } => {
                let status = match (declined, exit_code) {
                    (true, _) => "declined".to_string(),
                    (false, Some(c)) => format!("exited {c}"),
                    (false, None) => "did not run".to_string(),
                };
                let lines: Vec<&str> = output.lines().collect();
                let tail = lines[lines.len().saturating_sub(5)..].join("\n  ");
                out.human(&format!("  {status}:"), &tail);
            }
            ToolDetail::Patch { .. } => out.human("apply_patch", output.trim()),
            ToolDetail::McpCall { error, .. } => match error {
                Some(e) => out.human("  failed:", e.lines().next().unwrap_or("")),
                None => {
                    let lines: Vec<&str> = output.lines().collect();
                    let tail = lines[lines.len().saturating_sub(5)..].join("\n  ");
                    out.human("  returned:", &tail);
                }
            },
            ToolDetail::Process {
                session_id,
                exit_code,
                running,
                ..
            } => {
                let status = match (running, exit_code) {
                    (true, _) => format!("running as session {session_id}"),
                    (false, Some(c)) => format!("session {session_id} exited {c}"),
                    (false, None) => format!("session {session_id} ended"),
                };
                let lines: Vec<&str> = output.lines().collect();
                let tail = lines[lines.len().saturating_sub(5)..].join("\n  ");
                out.human(&format!("  {status}:"), &tail);
            }
            ToolDetail::None => {}
        },
        AgentEvent::McpCallStarted {
            server,
            tool,
            arguments,
            ..
        } => out.human("mcp", &format!("{server}.{tool}({arguments})")),
        AgentEvent::Warning(message) => out.human("warning", message),
        AgentEvent::Plan(plan) => out.human("plan", &plan.to_string()),
        AgentEvent::Retrying {
            attempt,
            delay,
            reason,
        } => out.human(
            "retry",
            &format!(
                "{reason}; attempt {} in {:.1} s",
                attempt + 1,
                delay.as_secs_f64()
            ),
        ),
        _ => {}
    }
}

fn show_usage(out: &Output, usage: &Usage) {
    out.human(
        "tokens used",
        &format!("{} in, {} out", usage.input_tokens, usage.output_tokens),
    );
}
