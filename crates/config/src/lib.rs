//! cordon's configuration: `$CORDON_HOME/config.toml`, profiles and overrides.
//!
//! Key names follow Codex's `config.toml` where the concept is the same.
//! Precedence, highest first: explicit flags ([`Overrides`]), `-c key=value`,
//! the selected profile (`-p NAME` or top-level `profile`), the file, defaults.
//! Unknown keys produce warnings; a bad value is an error that names the file,
//! line, column and key.

mod agent;
mod edit;
mod error;
mod file;
mod layers;
mod mcp;
mod shell_env;

pub use agent::{resolve_provider, ModelProvider, ModelProviderToml, WireApi, BUILT_IN_PROVIDERS};
pub use edit::{add_server, remove_server, NewServer};
pub use error::ConfigError;
pub use file::{
    ActionToml, AlternateScreen, ConfigToml, NetworkToml, NotificationKind, Notifications, TuiToml,
    WindowsToml, WorkspaceWriteToml,
};
pub use layers::parse_override;
pub use mcp::{
    check_url, valid_server_name, McpSandbox, McpServerConfig, McpServerToml, McpToolToml,
    McpTransport, ToolApprovalMode, DEFAULT_STARTUP_TIMEOUT, DEFAULT_TOOL_TIMEOUT,
};
pub use shell_env::{
    glob_matches, EnvName, EnvPattern, EnvValue, Inherit, ShellEnvironmentPolicy,
    ShellEnvironmentPolicyToml,
};

use cordon_policy::{ApprovalPolicy, NetworkMode, SandboxMode};
use std::path::{Path, PathBuf};

/// Settings given explicitly on the command line; they win over everything.
#[derive(Debug, Clone, Default)]
pub struct Overrides {
    /// `-s MODE` or `--full-auto`.
    pub sandbox_mode: Option<SandboxMode>,
    /// `--network MODE`.
    pub network: Option<NetworkMode>,
    /// `--allow-degraded`.
    pub allow_degraded: Option<bool>,
    /// `-p NAME`.
    pub profile: Option<String>,
    /// `-m MODEL`.
    pub model: Option<String>,
    /// `--oss` (the `ollama` provider).
    pub model_provider: Option<String>,
    /// `-c key.path=value`, in order.
    pub raw: Vec<String>,
}

/// The resolved configuration.
#[derive(Debug, Clone)]
pub struct Config {
    /// `$CORDON_HOME`.
    pub cordon_home: PathBuf,
    /// The sandbox mode.
    pub sandbox_mode: SandboxMode,
    /// Network mode: explicit flag, else `network_access` in workspace-write,
    /// else none.
    pub network: NetworkMode,
    /// `[sandbox_workspace_write]`.
    pub workspace_write: WorkspaceWriteToml,
    /// Run with the layers that are available when some are missing.
    pub allow_degraded: bool,
    /// `[network.domains]`, validated.
    pub domain_rules: cordon_policy::network::DomainRules,
    /// `[network] allow_local_binding`.
    pub allow_local_binding: bool,
    /// `[network] allow_upstream_proxy`.
    pub allow_upstream_proxy: bool,
    /// `[windows] sandbox`.
    pub windows_sandbox: cordon_policy::WindowsSandbox,
    /// The profile in effect, if any.
    pub profile: Option<String>,
    /// The file read (for error messages).
    pub config_path: PathBuf,
    /// `-m`, else `model`.
    pub model: Option<String>,
    /// `--oss`, else `model_provider`, else `openai`.
    pub model_provider_id: String,
    /// `[model_providers]`.
    pub model_providers: std::collections::BTreeMap<String, ModelProviderToml>,
    /// `approval_policy`.
    pub approval_policy: ApprovalPolicy,
    /// `notify`: program and arguments.
    pub notify: Vec<String>,
    /// `project_doc_max_bytes` (default 32 KiB).
    pub project_doc_max_bytes: usize,
    /// `[shell_environment_policy]`: the environment of the agent's commands.
    pub shell_environment_policy: ShellEnvironmentPolicy,
    /// `hide_agent_reasoning`.
    pub hide_agent_reasoning: bool,
    /// `discovery_agent` (default true): one-shot runs start and ask the
    /// per-user discovery agent instead of revalidating the index.
    pub discovery_agent: bool,
    /// `model_context_window`, when set.
    pub model_context_window: Option<u64>,
    /// `model_auto_compact_token_limit`, when set.
    pub model_auto_compact_token_limit: Option<u64>,
    /// `[tui]`.
    pub tui: TuiToml,
    /// `[features] unified_exec`, when set (see [`Config::unified_exec_for`]).
    pub unified_exec: Option<bool>,
    /// `[mcp_servers.NAME]`, in name order.
    pub mcp_servers: Vec<McpServerConfig>,
    /// Warnings for the user (unknown keys and the like).
    pub warnings: Vec<String>,
}

impl Config {
    /// Whether the model gets `exec_command` and `write_stdin` with
    /// `provider`: `[features] unified_exec`, else on for `openai` only.
    pub fn unified_exec_for(&self, provider: &ModelProvider) -> bool {
        self.unified_exec.unwrap_or(provider.id == "openai")
    }

    /// The model and its provider, resolved against the built-ins and the
    /// environment (`OPENAI_BASE_URL`, `CORDON_OSS_BASE_URL`); only the
    /// agent needs them, so a bad provider table does not stop `sandbox`.
    pub fn model(&self) -> Result<(String, ModelProvider), ConfigError> {
        let env = |k: &str| std::env::var(k).ok().filter(|v| !v.is_empty());
        let provider = resolve_provider(
            &self.config_path,
            &self.model_provider_id,
            &self.model_providers,
            &env,
        )?;
        let model = self
            .model
            .clone()
            .unwrap_or_else(|| provider.default_model.to_string());
        if model.trim().is_empty() {
            return Err(ConfigError::Rule {
                path: self.config_path.clone(),
                key: "model".into(),
                message: format!(
                    "no model given: set `model` or pass -m (provider `{}` has no default)",
                    provider.id
                ),
            });
        }
        Ok((model, provider))
    }
}

/// Finds `$CORDON_HOME`: the variable if set, else `~/.cordon` (`HOME`;
/// on Windows, where `HOME` is usually unset, `USERPROFILE`).
pub fn cordon_home() -> Result<PathBuf, ConfigError> {
    if let Some(home) = std::env::var_os("CORDON_HOME").filter(|v| !v.is_empty()) {
        return Ok(PathBuf::from(home));
    }
    std::env::var_os("HOME")
        .filter(|v| !v.is_empty())
        .or_else(|| {
            cfg!(windows)
                .then(|| std::env::var_os("USERPROFILE"))
                .flatten()
                .filter(|v| !v.is_empty())
        })
        .map(|home| Path::new(&home).join(".cordon"))
        .ok_or(ConfigError::NoHome)
}

/// Loads `config.toml` from `home` (a missing file means defaults) and
/// applies the profile, `-c` overrides and explicit flags.
pub fn load(home: &Path, overrides: &Overrides) -> Result<Config, ConfigError> {
    let path = home.join("config.toml");
    let text = match std::fs::read_to_string(&path) {
        Ok(text) => text,
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => String::new(),
        Err(source) => return Err(ConfigError::Read { path, source }),
    };
    load_from_str(home, &path, &text, overrides)
}

/// Like [`load`], with the file's text given (for tests and tools).
pub fn load_from_str(
    home: &Path,
    path: &Path,
    text: &str,
    overrides: &Overrides,
) -> Result<Config, ConfigError> {
    let mut warnings = Vec::new();
    let merged = layers::merge(path, text, overrides, &mut warnings)?;
    let toml = merged.config;
    let workspace_write = toml.sandbox_workspace_write.clone().unwrap_or_default();
    let sandbox_mode = overrides
        .sandbox_mode
        .or(toml.sandbox_mode)
        .unwrap_or_default();
    let network_toml = toml.network.clone().unwrap_or_default();
    let network = overrides.network.or(network_toml.mode).unwrap_or({
        if sandbox_mode == SandboxMode::WorkspaceWrite
            && workspace_write.network_access.unwrap_or(false)
        {
            NetworkMode::Full
        } else {
            NetworkMode::None
        }
    });
    let mut domain_rules = cordon_policy::network::DomainRules::default();
    for (pattern, action) in &network_toml.domains {
        let rule =
            cordon_policy::network::DomainRule::parse(pattern, (*action).into()).map_err(|e| {
                ConfigError::Rule {
                    path: path.to_path_buf(),
                    key: format!("network.domains.\"{pattern}\""),
                    message: e.reason,
                }
            })?;
        domain_rules.push(rule);
    }

    let model_provider_id = overrides
        .model_provider
        .clone()
        .or(toml.model_provider.clone())
        .unwrap_or_else(|| "openai".into());
    let notify = toml.notify.clone().unwrap_or_default();
    if toml.notify.is_some() && notify.first().is_none_or(|p| p.is_empty()) {
        return Err(ConfigError::Rule {
            path: path.to_path_buf(),
            key: "notify".into(),
            message: "must name a program: notify = [\"program\", \"arg\"]".into(),
        });
    }

    let mcp_servers = mcp::resolve(path, text, &toml.mcp_servers)?;

    Ok(Config {
        mcp_servers,
        config_path: path.to_path_buf(),
        model: overrides.model.clone().or(toml.model.clone()),
        model_provider_id,
        model_providers: toml.model_providers.clone(),
        approval_policy: toml.approval_policy.unwrap_or_default(),
        notify,
        project_doc_max_bytes: toml.project_doc_max_bytes.unwrap_or(32 * 1024),
        shell_environment_policy: toml
            .shell_environment_policy
            .clone()
            .unwrap_or_default()
            .into(),
        cordon_home: home.to_path_buf(),
        sandbox_mode,
        network,
        workspace_write,
        allow_degraded: overrides
            .allow_degraded
            .or(toml.allow_degraded)
            .unwrap_or(false),
        domain_rules,
        allow_local_binding: network_toml.allow_local_binding.unwrap_or(false),
        allow_upstream_proxy: network_toml.allow_upstream_proxy.unwrap_or(false),
        windows_sandbox: toml
            .windows
            .as_ref()
            .and_then(|w| w.sandbox)
            .unwrap_or_default(),
        hide_agent_reasoning: toml.hide_agent_reasoning.unwrap_or(false),
        discovery_agent: toml.discovery_agent.unwrap_or(true),
        model_context_window: toml.model_context_window,
        model_auto_compact_token_limit: toml.model_auto_compact_token_limit,
        tui: toml.tui.clone().unwrap_or_default(),
        unified_exec: toml.features.as_ref().and_then(|f| f.unified_exec),
        profile: merged.profile,
        warnings,
    })
}

#[cfg(test)]
#[path = "lib_tests.rs"]
mod tests;
