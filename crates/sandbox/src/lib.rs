//! Runs one command under a cordon policy.
//!
//! The crate is split into pure *planners* and thin *executors*:
//! * [`plan`] turns a [`SandboxPolicy`] plus [`support::HostSupport`] into a
//!   [`plan::LinuxPlan`]: namespaces, mount steps, Landlock rules, seccomp
//!   rules, and the list of guarantees a degraded run gives up;
//! * the Linux executor (private module `linux`) applies that plan;
//! * [`plan::windows`] and [`plan::macos`] plan Windows and macOS runs
//!   (accounts, firewall rules and ACLs; a Seatbelt profile), and the
//!   executors [`windows_setup`], [`windows_uninstall`],
//!   [`execute_windows`] and [`execute_macos`] apply them on those systems
//!   (elsewhere they return [`SandboxError::Unsupported`]);
//! * [`support`] and [`doctor`] say which layers this host has and why not;
//! * [`denials`] decides which observed attempts the policy denied.
//!
//! # Limitations
//! * Each executor runs only on its own OS; elsewhere it returns
//!   [`SandboxError::Unsupported`].
//! * The Windows and macOS executors are compiled and linted for their
//!   targets in CI but have not been run on a real Windows or macOS machine.
//! * `--log-denials` is a prediction from observed calls, not a kernel audit
//!   trail; see [`denials`].

pub mod denials;
pub mod doctor;
mod error;
pub mod plan;
pub mod support;

#[cfg(target_os = "linux")]
mod linux;
#[cfg(target_os = "macos")]
#[path = "exec_macos.rs"]
mod macos_exec;
#[cfg(not(target_os = "macos"))]
#[path = "exec_unsupported/macos.rs"]
mod macos_exec;
#[cfg(target_os = "windows")]
#[path = "exec_windows/mod.rs"]
mod windows_exec;
#[cfg(not(target_os = "windows"))]
#[path = "exec_unsupported/windows.rs"]
mod windows_exec;

pub use error::SandboxError;

use cordon_policy::SandboxPolicy;
use plan::macos::MacosPlan;
use plan::windows::{SetupMarker, WindowsPlan};
use plan::{LinuxPlan, PlanOptions};
use std::ffi::OsString;
use std::path::{Path, PathBuf};
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

/// The command's environment: `inherited` (cordon's own, or what
/// `[shell_environment_policy]` made of it) with the plan's additions
/// (`CORDON_SANDBOX`, `CORDON_NETWORK`, proxy variables) replacing any
/// variables of the same name, so nothing inherited can change those.
pub fn command_env(
    plan: &LinuxPlan,
    inherited: impl IntoIterator<Item = (OsString, OsString)>,
) -> Vec<(OsString, OsString)> {
    let mut env: Vec<(OsString, OsString)> = inherited
        .into_iter()
        .filter(|(k, _)| !plan.env.iter().any(|(name, _)| k == name.as_str()))
        .collect();
    env.extend(plan.env.iter().map(|(k, v)| (k.into(), v.into())));
    env
}

/// Removes the placeholders a killed run left at the top of `policy`'s
/// writable roots (empty, marked as cordon's, locked by no live run) and
/// returns them; call before resolving the policy again.
pub fn sweep_stale_placeholders(policy: &SandboxPolicy) -> Vec<PathBuf> {
    find_stale_placeholders(policy, true)
}

/// The stale placeholders [`sweep_stale_placeholders`] would remove.
pub fn stale_placeholders(policy: &SandboxPolicy) -> Vec<PathBuf> {
    find_stale_placeholders(policy, false)
}

fn find_stale_placeholders(policy: &SandboxPolicy, remove: bool) -> Vec<PathBuf> {
    #[cfg(target_os = "linux")]
    {
        let roots: Vec<PathBuf> = policy
            .writable_roots
            .iter()
            .map(|r| r.root.clone())
            .collect();
        linux::placeholders::candidates(&roots)
            .into_iter()
            .filter(|p| linux::placeholders::check(p, remove))
            .collect()
    }
    #[cfg(not(target_os = "linux"))]
    {
        let _ = (policy, remove);
        Vec::new()
    }
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

/// Where the Windows setup keeps its marker and encrypted passwords.
pub fn windows_state_dir(cordon_home: &Path) -> PathBuf {
    cordon_home.join("windows-sandbox")
}

/// Reads the marker the last `cordon sandbox windows setup` wrote, if any.
/// A marker that cannot be parsed counts as none (setup runs again).
pub fn read_windows_marker(cordon_home: &Path) -> Result<Option<SetupMarker>, SandboxError> {
    read_marker_in(&windows_state_dir(cordon_home))
}

/// [`read_windows_marker`] given the state directory itself.
pub(crate) fn read_marker_in(state: &Path) -> Result<Option<SetupMarker>, SandboxError> {
    let path = state.join("setup.json");
    match std::fs::read(&path) {
        Ok(bytes) => Ok(serde_json::from_slice(&bytes).ok()),
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => Ok(None),
        Err(source) => Err(SandboxError::Io {
            context: format!("reading {}", path.display()),
            source,
        }),
    }
}

/// Creates the `offline` and `online` accounts (random passwords stored
/// with DPAPI under `cordon_home`), programs the offline account's firewall
/// rules and loopback WFP filters for `marker`, and writes the marker.
/// Refuses, changing nothing, unless elevated and not LocalSystem; the
/// passwords are sealed for `for_user` (a user name; default: the user of
/// the session, else the caller), whose `cordon_home` it must be
/// ([`plan::windows::setup_target`]).
pub fn windows_setup(
    cordon_home: &Path,
    marker: &SetupMarker,
    for_user: Option<&str>,
) -> Result<(), SandboxError> {
    windows_exec::setup(&windows_state_dir(cordon_home), marker, for_user)
}

/// Removes what [`windows_setup`] created: WFP filters, firewall rules,
/// accounts, stored passwords and the marker.
pub fn windows_uninstall(cordon_home: &Path) -> Result<(), SandboxError> {
    windows_exec::uninstall(&windows_state_dir(cordon_home))
}

/// Runs a planned Windows command; blocks until it ends. Setup must be up
/// to date (the plan's `setup` decision).
pub fn execute_windows(
    cordon_home: &Path,
    plan: &WindowsPlan,
    env: &[(OsString, OsString)],
) -> Result<RunOutcome, SandboxError> {
    windows_exec::run(&windows_state_dir(cordon_home), plan, env)
}

/// The runner half of a logon-user Windows run: started as the sandbox
/// account by [`execute_windows`], it restricts its own token to
/// `run_sid` and runs the command line it finds in
/// [`plan::windows::RUNNER_COMMAND_LINE_VAR`]. Not for direct use.
pub fn windows_runner(run_sid: &str) -> Result<RunOutcome, SandboxError> {
    windows_exec::runner(run_sid)
}

/// Runs a planned macOS command under `sandbox-exec`; blocks until it ends.
/// With `log_denials`, follows the unified log and returns the summary.
pub fn execute_macos(
    plan: &MacosPlan,
    env: &[(OsString, OsString)],
) -> Result<RunOutcome, SandboxError> {
    macos_exec::run(plan, env)
}
