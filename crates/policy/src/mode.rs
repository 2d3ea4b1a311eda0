//! Sandbox and network modes, named as in Codex's `config.toml`.

use serde::{Deserialize, Serialize};
use std::fmt;
use std::str::FromStr;

/// How much of the file system a sandboxed command may change.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize, Default)]
#[serde(rename_all = "kebab-case")]
pub enum SandboxMode {
    /// Read everything, write nothing (except `/dev/null` and friends).
    #[default]
    ReadOnly,
    /// Write the working directory, configured roots and temp directories.
    WorkspaceWrite,
    /// No sandbox at all.
    DangerFullAccess,
}

impl SandboxMode {
    /// The config spelling of this mode.
    pub fn as_str(self) -> &'static str {
        match self {
            SandboxMode::ReadOnly => "read-only",
            SandboxMode::WorkspaceWrite => "workspace-write",
            SandboxMode::DangerFullAccess => "danger-full-access",
        }
    }
}

impl fmt::Display for SandboxMode {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

impl FromStr for SandboxMode {
    type Err = String;
    fn from_str(s: &str) -> Result<Self, Self::Err> {
        match s {
            "read-only" => Ok(Self::ReadOnly),
            "workspace-write" => Ok(Self::WorkspaceWrite),
            "danger-full-access" => Ok(Self::DangerFullAccess),
            other => Err(format!(
                "unknown sandbox mode `{other}` (expected read-only, workspace-write or danger-full-access)"
            )),
        }
    }
}

/// `[windows] sandbox`: how cordon sandboxes commands on Windows.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize, Default)]
#[serde(rename_all = "kebab-case")]
pub enum WindowsSandbox {
    /// Sandbox accounts created once by an elevated setup (the default);
    /// the only way to enforce network policy.
    #[default]
    Elevated,
    /// A restricted copy of the caller's token; no setup, no network
    /// enforcement (runs that need it use the offline account anyway).
    Unelevated,
}

/// How a sandboxed command may reach the network.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize, Default)]
#[serde(rename_all = "kebab-case")]
pub enum NetworkMode {
    /// A private network namespace with only a loopback interface.
    #[default]
    None,
    /// A private network namespace whose only way out is cordon's egress
    /// proxy, listening on the namespace's own loopback.
    Proxy,
    /// The host's network, unrestricted.
    Full,
}

impl NetworkMode {
    /// The config spelling of this mode.
    pub fn as_str(self) -> &'static str {
        match self {
            NetworkMode::None => "none",
            NetworkMode::Proxy => "proxy",
            NetworkMode::Full => "full",
        }
    }
}

impl fmt::Display for NetworkMode {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

impl FromStr for NetworkMode {
    type Err = String;
    fn from_str(s: &str) -> Result<Self, Self::Err> {
        match s {
            "none" => Ok(Self::None),
            "full" => Ok(Self::Full),
            "proxy" => Ok(Self::Proxy),
            other => Err(format!(
                "unknown network mode `{other}` (expected none, proxy or full)"
            )),
        }
    }
}

/// When the agent asks the user before running a command.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize, Default)]
#[serde(rename_all = "kebab-case")]
pub enum ApprovalPolicy {
    /// Ask before any command that is not known to be read-only.
    Untrusted,
    /// Run in the sandbox; ask to run again outside it when it fails.
    OnFailure,
    /// Run in the sandbox; ask only when the model requests escalation.
    #[default]
    OnRequest,
    /// Never ask: escalations are declined and reported to the model.
    Never,
}

impl ApprovalPolicy {
    /// The config spelling of this policy.
    pub fn as_str(self) -> &'static str {
        match self {
            ApprovalPolicy::Untrusted => "untrusted",
            ApprovalPolicy::OnFailure => "on-failure",
            ApprovalPolicy::OnRequest => "on-request",
            ApprovalPolicy::Never => "never",
        }
    }
}

impl fmt::Display for ApprovalPolicy {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

#[cfg(test)]
#[path = "mode_tests.rs"]
mod tests;
