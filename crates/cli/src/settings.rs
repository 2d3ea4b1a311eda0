//! Raw arguments + config → the settings a command works with.

use crate::args::{ModeArg, NetworkArg, RunArgs};
use anyhow::Result;
use cordon_config::{Config, Overrides};
use cordon_policy::{NetworkMode, PolicyInputs, SandboxMode};

/// A usage or configuration error: exit status 2.
#[derive(Debug)]
pub struct UsageError(pub String);

impl std::fmt::Display for UsageError {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(&self.0)
    }
}

impl std::error::Error for UsageError {}

/// Settings for one sandboxed run.
pub struct RunSettings {
    /// Inputs for the policy resolver.
    pub policy: PolicyInputs,
    /// Degraded runs allowed.
    pub allow_degraded: bool,
    /// Print denials.
    pub log_denials: bool,
    /// Warnings to show before running.
    pub warnings: Vec<String>,
}

fn overrides(args: &RunArgs) -> Overrides {
    let sandbox_mode = if args.full_auto {
        Some(SandboxMode::WorkspaceWrite)
    } else {
        args.sandbox.map(|m| match m {
            ModeArg::ReadOnly => SandboxMode::ReadOnly,
            ModeArg::WorkspaceWrite => SandboxMode::WorkspaceWrite,
            ModeArg::DangerFullAccess => SandboxMode::DangerFullAccess,
        })
    };
    Overrides {
        sandbox_mode,
        network: args.network.map(|n| match n {
            NetworkArg::None => NetworkMode::None,
            NetworkArg::Full => NetworkMode::Full,
        }),
        allow_degraded: args.allow_degraded.then_some(true),
        profile: args.profile.clone(),
        raw: args.config.clone(),
    }
}

/// Loads config and merges it with `args`.
pub fn run_settings(args: &RunArgs) -> Result<RunSettings> {
    let usage = |e: cordon_config::ConfigError| UsageError(e.to_string());
    let home = cordon_config::cordon_home().map_err(usage)?;
    let config: Config = cordon_config::load(&home, &overrides(args)).map_err(usage)?;
    let cwd = match &args.cd {
        Some(dir) => dir.clone(),
        None => std::env::current_dir()?,
    };
    let mut writable_roots = config.workspace_write.writable_roots.clone();
    writable_roots.extend(args.writable_roots.iter().cloned());
    let mut warnings = config.warnings.clone();
    if config.sandbox_mode != SandboxMode::WorkspaceWrite && !writable_roots.is_empty() {
        warnings.push(format!(
            "writable roots are ignored in {} mode (use --full-auto or -s workspace-write)",
            config.sandbox_mode
        ));
    }
    Ok(RunSettings {
        policy: PolicyInputs {
            mode: config.sandbox_mode,
            network: config.network,
            cwd,
            writable_roots,
            exclude_tmpdir_env_var: config.workspace_write.exclude_tmpdir_env_var,
            exclude_slash_tmp: config.workspace_write.exclude_slash_tmp,
            tmpdir: std::env::var_os("TMPDIR")
                .filter(|v| !v.is_empty())
                .map(Into::into),
            cordon_home: Some(config.cordon_home.clone()),
        },
        allow_degraded: config.allow_degraded,
        log_denials: args.log_denials,
        warnings,
    })
}
