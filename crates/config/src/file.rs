//! The typed shape of `config.toml`.

use crate::agent::ModelProviderToml;
use cordon_policy::network::RuleAction;
use cordon_policy::{ApprovalPolicy, NetworkMode, SandboxMode};
use serde::Deserialize;
use std::collections::BTreeMap;
use std::path::PathBuf;

/// One layer of configuration: the file's top level, or a profile.
#[derive(Debug, Clone, Default, Deserialize)]
pub struct ConfigToml {
    /// The profile to apply when `-p` is not given.
    pub profile: Option<String>,
    /// `read-only`, `workspace-write` or `danger-full-access`.
    pub sandbox_mode: Option<SandboxMode>,
    /// Settings used in workspace-write mode.
    pub sandbox_workspace_write: Option<WorkspaceWriteToml>,
    /// Run with the sandbox layers that are available when some are missing.
    pub allow_degraded: Option<bool>,
    /// `[network]`.
    pub network: Option<NetworkToml>,
    /// The model's name.
    pub model: Option<String>,
    /// Which provider (a key of `model_providers` or a built-in).
    pub model_provider: Option<String>,
    /// Provider definitions.
    #[serde(default)]
    pub model_providers: BTreeMap<String, ModelProviderToml>,
    /// When to ask before running commands.
    pub approval_policy: Option<ApprovalPolicy>,
    /// A program run with a JSON argument when a turn completes.
    pub notify: Option<Vec<String>>,
    /// Most bytes of AGENTS.md text sent as instructions.
    pub project_doc_max_bytes: Option<usize>,
    /// `[windows]`.
    pub windows: Option<WindowsToml>,
    /// `[shell_environment_policy]`.
    pub shell_environment_policy: Option<crate::ShellEnvironmentPolicyToml>,
    /// Do not show the model's reasoning summaries in the TUI.
    pub hide_agent_reasoning: Option<bool>,
    /// Start and ask the per-user discovery agent (Linux; default true).
    pub discovery_agent: Option<bool>,
    /// The model's context window in tokens (default: known per model).
    pub model_context_window: Option<u64>,
    /// Compact the conversation when this many tokens are in use.
    pub model_auto_compact_token_limit: Option<u64>,
    /// `[tui]`.
    pub tui: Option<TuiToml>,
    /// `[features]`.
    pub features: Option<FeaturesToml>,
    /// `[mcp_servers.NAME]`.
    #[serde(default)]
    pub mcp_servers: BTreeMap<String, crate::McpServerToml>,
    /// Named profiles: each is a layer with the same keys as the top level.
    #[serde(default)]
    pub profiles: BTreeMap<String, ConfigToml>,
}

/// `[sandbox_workspace_write]`.
#[derive(Debug, Clone, Default, Deserialize, PartialEq, Eq)]
pub struct WorkspaceWriteToml {
    /// Extra writable directories.
    #[serde(default)]
    pub writable_roots: Vec<PathBuf>,
    /// Give the command the host network.
    pub network_access: Option<bool>,
    /// Do not make `$TMPDIR` writable.
    #[serde(default)]
    pub exclude_tmpdir_env_var: bool,
    /// Do not make `/tmp` writable.
    #[serde(default)]
    pub exclude_slash_tmp: bool,
}

/// `[network]`.
#[derive(Debug, Clone, Default, Deserialize, PartialEq, Eq)]
pub struct NetworkToml {
    /// `none`, `proxy` or `full`.
    pub mode: Option<NetworkMode>,
    /// Host pattern → `allow` or `deny`.
    #[serde(default)]
    pub domains: BTreeMap<String, ActionToml>,
    /// Let the proxy reach non-public addresses (local services).
    pub allow_local_binding: Option<bool>,
    /// Chain outbound connections through the host's own `HTTPS_PROXY`.
    pub allow_upstream_proxy: Option<bool>,
}

/// `[windows]`.
#[derive(Debug, Clone, Default, Deserialize, PartialEq, Eq)]
pub struct WindowsToml {
    /// `elevated` (sandbox accounts, the default) or `unelevated`
    /// (restricted token; runs that need network enforcement still use
    /// the offline account).
    pub sandbox: Option<cordon_policy::WindowsSandbox>,
}

/// `[features]`: optional behaviour.
#[derive(Debug, Clone, Default, Deserialize, PartialEq, Eq)]
pub struct FeaturesToml {
    /// Offer the model `exec_command` and `write_stdin` (default: on for
    /// the `openai` provider, off elsewhere).
    pub unified_exec: Option<bool>,
}

/// `[tui]`: the interactive terminal UI.
#[derive(Debug, Clone, Default, Deserialize, PartialEq, Eq)]
pub struct TuiToml {
    /// `true`, `false`, or the kinds to notify about
    /// (`"agent-turn-complete"`, `"approval-requested"`).
    pub notifications: Option<Notifications>,
    /// `"auto"`, `"always"` or `"never"`.
    pub alternate_screen: Option<AlternateScreen>,
}

/// `[tui] notifications`.
#[derive(Debug, Clone, Deserialize, PartialEq, Eq)]
#[serde(untagged)]
pub enum Notifications {
    /// All kinds, or none.
    Enabled(bool),
    /// Only these kinds.
    Kinds(Vec<NotificationKind>),
}

impl Notifications {
    /// Whether `kind` is to be notified.
    pub fn wants(&self, kind: NotificationKind) -> bool {
        match self {
            Notifications::Enabled(on) => *on,
            Notifications::Kinds(kinds) => kinds.contains(&kind),
        }
    }
}

/// What a notification is about.
#[derive(Debug, Clone, Copy, Deserialize, PartialEq, Eq)]
#[serde(rename_all = "kebab-case")]
pub enum NotificationKind {
    /// A turn ended.
    AgentTurnComplete,
    /// The agent waits for an approval.
    ApprovalRequested,
}

/// `[tui] alternate_screen`.
#[derive(Debug, Clone, Copy, Default, Deserialize, PartialEq, Eq)]
#[serde(rename_all = "kebab-case")]
pub enum AlternateScreen {
    /// Inline in the terminal's own scrollback (the default; Zellij
    /// included).
    #[default]
    Auto,
    /// Always the alternate screen.
    Always,
    /// Never.
    Never,
}

/// `"allow"` or `"deny"`.
#[derive(Debug, Clone, Copy, Deserialize, PartialEq, Eq)]
#[serde(rename_all = "kebab-case")]
pub enum ActionToml {
    /// Allow.
    Allow,
    /// Deny.
    Deny,
}

impl From<ActionToml> for RuleAction {
    fn from(a: ActionToml) -> Self {
        match a {
            ActionToml::Allow => RuleAction::Allow,
            ActionToml::Deny => RuleAction::Deny,
        }
    }
}
