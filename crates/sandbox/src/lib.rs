//! Runs one command under a cordon policy.
//!
//! The crate is split into pure *planners* and thin *executors*:
//! * [`plan`] turns a [`SandboxPolicy`] plus [`support::HostSupport`] into a
//!   [`plan::LinuxPlan`]: namespaces, mount steps, Landlock rules, seccomp
//!   rules, and the list of guarantees a degraded run gives up;
//! * the Linux executor (private module `linux`) applies that plan;
//! * [`support`] and [`doctor`] say which layers this host has and why not;
//! * [`denials`] decides which observed attempts the policy denied.
//!
//! # Limitations
//! * Only Linux has an executor; on other systems [`execute`] returns
//!   [`SandboxError::Unsupported`].
//! * `--log-denials` is a prediction from observed calls, not a kernel audit
//!   trail; see [`denials`].

pub mod denials;
pub mod doctor;
mod error;
pub mod plan;
pub mod support;

#[cfg(target_os = "linux")]
mod linux;

pub use error::SandboxError;

use cordon_policy::SandboxPolicy;
use plan::{LinuxPlan, PlanOptions};
use std::ffi::OsString;
use support::{HostFacts, HostSupport};

/// The result of a sandboxed run.
#[derive(Debug)]
pub struct RunOutcome {
    /// The command's exit code (128+N when killed by signal N).
    pub exit_code: i32,
    /// The `--log-denials` summary, if requested.
    pub denial_summary: Option<String>,
}

/// Callbacks into the caller while a run is starting.
#[derive(Default)]
pub struct RunHooks {
    /// With `--network proxy`: receives the listening socket created inside
    /// the sandbox's network namespace; the caller serves its proxy on it.
    /// Called before the command starts; the process is no longer forked
    /// after this, so the callback may start threads.
    pub on_proxy_listener: Option<Box<dyn FnOnce(std::net::TcpListener)>>,
}

/// Reads facts about this host. `full` also forks a probe that creates the
/// namespaces (as `doctor` does); otherwise they are assumed to work and a
/// failure is explained when it happens.
pub fn host_facts(full: bool) -> HostFacts {
    #[cfg(target_os = "linux")]
    {
        if full {
            linux::probe::full_facts()
        } else {
            linux::probe::quick_facts()
        }
    }
    #[cfg(not(target_os = "linux"))]
    {
        let _ = full;
        HostFacts::default()
    }
}

/// Plans a Linux sandbox for `policy` on this host.
pub fn plan_for_host(
    policy: &SandboxPolicy,
    facts: &HostFacts,
    options: PlanOptions,
) -> Result<LinuxPlan, SandboxError> {
    plan::plan_linux(policy, &HostSupport::from_facts(facts), options)
        .map_err(SandboxError::MissingLayers)
}

/// The command's environment: cordon's own with the plan's additions
/// (`CORDON_SANDBOX`, `CORDON_NETWORK`, proxy variables) replacing any
/// variables of the same name.
pub fn command_env(plan: &LinuxPlan) -> Vec<(OsString, OsString)> {
    let mut env: Vec<(OsString, OsString)> = std::env::vars_os()
        .filter(|(k, _)| !plan.env.iter().any(|(name, _)| k == name.as_str()))
        .collect();
    env.extend(plan.env.iter().map(|(k, v)| (k.into(), v.into())));
    env
}

/// Runs `argv` under `plan`. Blocks until the command ends; relays SIGINT,
/// SIGTERM, SIGHUP, SIGQUIT, SIGUSR1/2 and SIGWINCH to it.
///
/// Must be called while the process is single-threaded.
pub fn execute(
    policy: &SandboxPolicy,
    plan: &LinuxPlan,
    argv: &[OsString],
    env: &[(OsString, OsString)],
    hooks: RunHooks,
) -> Result<RunOutcome, SandboxError> {
    #[cfg(target_os = "linux")]
    {
        linux::spawn::run(policy, plan, argv, env, hooks)
    }
    #[cfg(not(target_os = "linux"))]
    {
        let _ = (policy, plan, argv, env, hooks);
        Err(SandboxError::Unsupported(
            "the Linux sandbox runs only on Linux".into(),
        ))
    }
}
