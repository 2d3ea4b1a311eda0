//! The sandbox crate's error type.

use crate::plan::MissingLayer;
use std::ffi::OsString;

/// Why a sandboxed run could not start.
#[derive(Debug, thiserror::Error)]
pub enum SandboxError {
    /// Layers the policy needs are not available and degraded runs were not allowed.
    #[error("refusing to run: {}\n(pass --allow-degraded to run without them; `cordon sandbox doctor` explains)", describe_missing(.0))]
    MissingLayers(Vec<MissingLayer>),
    /// A layer could not be applied while setting up the sandbox.
    #[error("refusing to run: sandbox layer `{layer}` could not be applied: {step}: {source}{}", hint(.layer))]
    Setup {
        /// The layer (namespaces, mounts, landlock, seccomp, capabilities).
        layer: String,
        /// What was being done.
        step: String,
        /// The OS error.
        source: std::io::Error,
    },
    /// The command could not be executed.
    #[error("cannot execute {}: {source}", .program.to_string_lossy())]
    Exec {
        /// The program.
        program: OsString,
        /// Why.
        source: std::io::Error,
    },
    /// No command was given.
    #[error("no command given")]
    NoCommand,
    /// An argument contains a NUL byte.
    #[error("argument or environment entry contains a NUL byte")]
    Nul,
    /// A layer cannot be applied; which one, why, and how to fix it.
    #[error("refusing to run: sandbox layer `{layer}` cannot be applied: {why}\n(fix: {fix})")]
    Layer {
        /// The layer (windows-firewall, windows-accounts, acl, seatbelt, ...).
        layer: String,
        /// Why it cannot be applied.
        why: String,
        /// What the user can do.
        fix: String,
    },
    /// The host OS has no executor for this backend yet.
    #[error("{0}")]
    Unsupported(String),
    /// An OS call in cordon itself failed.
    #[error("{context}: {source}")]
    Io {
        /// What cordon was doing.
        context: String,
        /// Why it failed.
        source: std::io::Error,
    },
}

impl SandboxError {
    /// Whether a path under the writable roots changed between discovery
    /// and mounting (the run was refused; discovering again may succeed).
    pub fn is_stale_pin(&self) -> bool {
        matches!(self, SandboxError::Setup { layer, source, .. }
            if layer == "mounts" && source.raw_os_error() == Some(libc_estale()))
    }

    /// Whether this is a failure to create namespaces or mounts, which a
    /// probe can explain and a degraded run can avoid.
    pub fn is_namespace_failure(&self) -> bool {
        matches!(self, SandboxError::Setup { layer, .. } if layer == "namespaces" || layer == "mounts")
    }
}

fn describe_missing(missing: &[MissingLayer]) -> String {
    missing
        .iter()
        .map(|m| format!("layer `{}` is unavailable: {}", m.layer.name(), m.reason))
        .collect::<Vec<_>>()
        .join("\n")
}

fn hint(layer: &str) -> &'static str {
    match layer {
        "namespaces" | "mounts" => {
            "\n(run `cordon sandbox doctor` for the likely cause and fix; --allow-degraded runs without namespaces)"
        }
        _ => "\n(run `cordon sandbox doctor` for details)",
    }
}

/// ESTALE on Linux (the executor's "changed since discovery").
const fn libc_estale() -> i32 {
    116
}
