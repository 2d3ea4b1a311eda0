//! `cordon mcp-server`: cordon as MCP tools for other agents, over stdio.
//!
//! Three tools: `cordon` starts a session and runs one turn, `cordon-reply`
//! continues a session, and `cordon-sandbox` runs one command under
//! cordon's sandbox with no model involved. Sessions are the same session
//! core `cordon exec` and the TUI use (each on its own thread, recorded as
//! rollouts); approvals are asked by standard form elicitation; progress
//! goes out as `notifications/progress` (or log messages) and
//! `notifications/cancelled` interrupts a turn and kills its commands.
//!
//! The CLI parses `cordon mcp-server` and hands [`serve`] a [`Setup`]:
//! how to resolve a session's settings from config (the same resolution
//! `cordon exec` uses) and cordon's own pinned executable.

mod args;
mod elicit;
mod error;
// `notifications/message` and `logging/setLevel` are deprecated for the
// protocol after 2025-11-25 (SEP-2577) but are how this one logs.
#[allow(deprecated)]
mod handler;
#[allow(deprecated)]
mod progress;
mod sandbox_tool;
mod schema;
mod sessions;

pub use error::McpServerError;

use cordon_core::session::SessionConfig;
use cordon_policy::{ApprovalPolicy, NetworkMode, SandboxMode};
use std::path::PathBuf;

/// What a `cordon` tool call asks of a new session's settings, before
/// config is applied; the front end resolves it.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct SessionRequest {
    /// `model`.
    pub model: Option<String>,
    /// `profile`.
    pub profile: Option<String>,
    /// `cwd` (absolute, an existing directory).
    pub cwd: Option<PathBuf>,
    /// `approval-policy`.
    pub approval: Option<ApprovalPolicy>,
    /// `sandbox`.
    pub sandbox: Option<SandboxMode>,
    /// `network`.
    pub network: Option<NetworkMode>,
    /// `allow-domains` (checked patterns).
    pub allow_domains: Vec<String>,
    /// `config`, as `-c key=value` lines (values in TOML).
    pub config: Vec<String>,
}

/// Resolves a [`SessionRequest`] into a session's settings (config loaded
/// with the request's overrides, the policy resolved, the pinned cordon
/// executable, `approval_policy` from config when the request has none);
/// an error is a message for the client.
pub type Resolve = dyn Fn(&SessionRequest) -> Result<SessionConfig, String> + Send + Sync;

/// What the server needs from the CLI.
pub struct Setup {
    /// Session settings from config.
    pub resolve: Box<Resolve>,
    /// cordon's own executable, pinned (for `cordon-sandbox`).
    pub cordon_exe: PathBuf,
    /// The server's working directory (the default `cwd`).
    pub cwd: PathBuf,
}

/// Serves MCP on stdin/stdout until the client closes the connection.
pub fn serve(setup: Setup) -> Result<(), McpServerError> {
    let runtime = tokio::runtime::Builder::new_multi_thread()
        .worker_threads(2)
        .enable_all()
        .build()
        .map_err(McpServerError::Runtime)?;
    runtime.block_on(handler::run(setup))
}
