//! The typed shape of `config.toml`.

use cordon_policy::SandboxMode;
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
