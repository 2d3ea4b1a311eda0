//! cordon's interactive terminal UI.
//!
//! One [`cordon_core::session::Session`] runs on a worker thread
//! ([`worker`]); its events and approval requests reach the UI thread
//! ([`app`]) over a channel, and the answers go back the same way. The UI
//! is an inline viewport at the bottom of the terminal ([`screen`]):
//! finished cells ([`cells`]) are written above it into the terminal's own
//! scrollback as soft-wrapped lines, so scrolling, selecting and copying
//! are the terminal's.

pub mod app;
pub mod cells;
pub mod composer;
pub mod context;
pub mod diff;
pub mod elicit;
mod error;
pub mod files;
pub mod guard;
pub mod history;
pub mod markdown;
pub mod mcp;
pub mod notify;
pub mod pager;
pub mod popup;
pub mod replay;
pub mod screen;
pub mod slash;
pub mod spill;
pub mod term;
pub mod widgets;
pub mod worker;

pub use error::TuiError;

use cordon_config::{AlternateScreen, Notifications};
use cordon_core::session::Resume;
use cordon_core::tool_provider::SharedProvider;
use cordon_policy::{ApprovalPolicy, SandboxMode, SandboxPolicy};
use std::ffi::OsString;
use std::path::PathBuf;
use std::sync::Arc;

/// Resolves the sandbox policy again from the configuration with another
/// sandbox mode (`/approvals`).
pub type PolicyResolver = Box<dyn Fn(SandboxMode) -> Result<SandboxPolicy, String> + Send>;

/// Answers an MCP server's question (`elicitation/create`): blocks until
/// the user answers the form, or the turn is interrupted.
pub type Elicit = Arc<dyn Fn(elicit::ElicitRequest) -> elicit::ElicitAnswer + Send + Sync>;

/// Starts the configured MCP servers in the background (returning at
/// once), their questions answered through the given [`Elicit`].
pub type McpStart = Box<dyn FnOnce(Elicit) -> Result<SharedProvider, String> + Send>;

/// What the session needs, kept to start new sessions (`/new`, `/resume`).
#[derive(Clone)]
pub struct SessionTemplate {
    /// `$CORDON_HOME`.
    pub home: PathBuf,
    /// Working directory.
    pub cwd: PathBuf,
    /// Model name.
    pub model: String,
    /// Provider.
    pub provider: cordon_config::ModelProvider,
    /// The sandbox policy.
    pub policy: SandboxPolicy,
    /// Arguments for `cordon sandbox` reproducing the policy's config.
    pub sandbox_args: Vec<OsString>,
    /// The pinned `cordon` executable.
    pub cordon_exe: PathBuf,
    /// When to ask.
    pub approval: ApprovalPolicy,
    /// `notify` argv.
    pub notify: Vec<String>,
    /// `project_doc_max_bytes`.
    pub instructions_max: usize,
    /// `model_context_window` (else the model's known window).
    pub context_window: Option<u64>,
    /// `model_auto_compact_token_limit` (else 90 % of the window).
    pub auto_compact_limit: Option<u64>,
    /// Offer `exec_command` and `write_stdin` (`[features] unified_exec`).
    pub unified_exec: bool,
    /// The MCP servers' tools, shared by every session (set by the UI
    /// once it has started them).
    pub tools: Option<SharedProvider>,
}

/// Which session to open first.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum StartWith {
    /// A new one.
    New,
    /// A saved one.
    Resume(Resume),
    /// Pick a saved one from a list.
    Picker,
}

/// Everything `cordon` (the TUI) needs, resolved by the CLI.
pub struct TuiConfig {
    /// The session's settings.
    pub session: SessionTemplate,
    /// Which session to open.
    pub start: StartWith,
    /// A prompt to submit at once.
    pub prompt: Option<String>,
    /// `hide_agent_reasoning`.
    pub hide_agent_reasoning: bool,
    /// `model_context_window` (else the model's known window).
    pub context_window: Option<u64>,
    /// `[tui] notifications`.
    pub notifications: Option<Notifications>,
    /// `[tui] alternate_screen`.
    pub alternate_screen: AlternateScreen,
    /// `--no-alt-screen`.
    pub no_alt_screen: bool,
    /// Domain rules in effect, one per line, for `/status`.
    pub domain_rules: Vec<String>,
    /// Re-resolves the policy for `/approvals`.
    pub resolve_policy: PolicyResolver,
    /// Config warnings to show in the transcript.
    pub warnings: Vec<String>,
    /// Starts the MCP servers (`None`: none are configured).
    pub mcp: Option<McpStart>,
}

/// Runs the TUI until the user quits; returns the exit status.
pub fn run(config: TuiConfig) -> Result<i32, TuiError> {
    app::run(config)
}
