//! `cordon sandbox [linux] -- CMD`, and helpers the other backends share.

use crate::settings::{ProxySettings, RunSettings};
use anyhow::Result;
use cordon_policy::SandboxPolicy;
use cordon_proxy::{AuditLog, Proxy, ProxyConfig};
use cordon_sandbox::plan::{LinuxPlan, PlanOptions};
use cordon_sandbox::{RunHooks, SandboxError};
use std::ffi::OsString;

/// Exit status when cordon itself refuses or fails to start the command.
pub const EXIT_REFUSED: i32 = 125;

pub(crate) fn warn(msg: &str) {
    eprintln!("cordon: warning: {msg}");
}

/// A port for the proxy inside the sandbox's fresh network namespace, where
/// every port is free; varied so programs cannot count on a fixed one.
pub(crate) fn pick_proxy_port() -> u16 {
    let nanos = std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map(|d| d.subsec_nanos())
        .unwrap_or(0);
    20_000 + ((nanos ^ std::process::id()) % 40_000) as u16
}

/// `--parent-pid PID`: this launcher dies with PID (a parent-death
/// SIGKILL, which takes its sandboxed tree down), and refuses to run when
/// PID already died before the signal was set (it is no longer our parent).
pub fn die_with_parent(parent: i32) -> Result<()> {
    #[cfg(target_os = "linux")]
    {
        // SAFETY: prctl with PR_SET_PDEATHSIG takes a signal number only.
        if unsafe { libc::prctl(libc::PR_SET_PDEATHSIG, libc::SIGKILL as libc::c_ulong) } != 0 {
            anyhow::bail!(
                "--parent-pid {parent}: cannot set the parent-death signal: {}; not running the command",
                std::io::Error::last_os_error()
            );
        }
        // SAFETY: getppid has no preconditions.
        let actual = unsafe { libc::getppid() };
        if actual != parent {
            anyhow::bail!(
                "--parent-pid {parent}: process {parent} is not this launcher's parent (the parent is {actual}); \
                 the agent that started it has exited, so the command does not run"
            );
        }
        Ok(())
    }
    #[cfg(not(target_os = "linux"))]
    anyhow::bail!(
        "--parent-pid {parent} is not supported on this OS (no parent-death signal); not running the command"
    )
}

/// Plans and runs `command`; returns the exit status for cordon.
pub fn run(settings: RunSettings, command: &[OsString], plan_only: bool) -> Result<i32> {
    for w in &settings.warnings {
        warn(w);
    }
    let facts = cordon_sandbox::host_facts(plan_only);
    let proxy_needed = settings.policy.network == cordon_policy::NetworkMode::Proxy;
    let proxy = if proxy_needed && !plan_only {
        Some(build_proxy(&settings.proxy, None)?)
    } else {
        None
    };
    let inherited = settings.inherited_env();
    let handed = settings
        .protected_set_fd
        .and_then(crate::discovery::read_handed_set);
    // Discovery and mounting are pinned to the same objects; when something
    // under the writable roots changes in between (another program
    // creating or removing a .git in /tmp, say), discover again.
    const ATTEMPTS: usize = 5;
    let mut attempt = 0;
    let outcome = loop {
        attempt += 1;
        // The session's set, on the first attempt only; a retry discovers.
        let set = handed.as_ref().filter(|_| attempt == 1);
        let read_only = settings.index_read_only;
        let agent = settings.discovery_agent;
        let mut policy = crate::discovery::resolve(&settings.policy, set, read_only, agent)?;
        if attempt == 1 {
            // A killed run's placeholders read as real `.git`s: remove
            // them, then discover again.
            if !cordon_sandbox::sweep_stale_placeholders(&policy).is_empty() {
                policy = crate::discovery::resolve(&settings.policy, None, read_only, false)?;
            }
            warn_policy(&policy);
        }
        let options = PlanOptions {
            allow_degraded: settings.allow_degraded,
            log_denials: settings.log_denials,
            proxy_port: pick_proxy_port(),
            cordon_exe: std::env::current_exe()
                .map(|p| p.to_string_lossy().into_owned())
                .unwrap_or_else(|_| "cordon".into()),
            tty: settings.tty,
        };
        let plan = match cordon_sandbox::plan_for_host(&policy, &facts, options.clone()) {
            Ok(plan) => start_in(plan, settings.command_cwd.as_deref()),
            Err(e) => return refuse(e),
        };
        if plan_only {
            let plan = cordon_sandbox::plan::OsPlan::Linux(Box::new(plan));
            println!("{}", serde_json::to_string_pretty(&plan)?);
            return Ok(0);
        }
        match launch(&policy, &plan, command, &inherited, proxy.as_ref()) {
            Ok(outcome) => break outcome,
            Err(e) if e.is_stale_pin() && attempt < ATTEMPTS => continue,
            Err(e) if e.is_namespace_failure() && !e.is_stale_pin() => {
                // Explain with a real probe; fall back only when allowed.
                let facts = cordon_sandbox::host_facts(true);
                match cordon_sandbox::plan_for_host(&policy, &facts, options) {
                    // The probe says namespaces work: the original failure stands.
                    Ok(plan) if !plan.namespaces.is_empty() => return refuse(e),
                    Ok(plan) => match launch(
                        &policy,
                        &start_in(plan, settings.command_cwd.as_deref()),
                        command,
                        &inherited,
                        None,
                    ) {
                        Ok(outcome) => break outcome,
                        Err(e) => return refuse(e),
                    },
                    Err(missing) => return refuse(missing),
                }
            }
            Err(e) => return refuse(e),
        }
    };
    if let Some(proxy) = &proxy {
        proxy.flush_audit();
    }
    if settings.log_denials {
        let summary = denial_summary(outcome.denial_summary, proxy.as_ref());
        write_denial_report(&summary, settings.denial_report_fd);
    }
    Ok(outcome.exit_code)
}

/// Writes the `--log-denials` summary to descriptor `fd` (the agent's
/// unnamed report file), or to stderr.
pub(crate) fn write_denial_report(summary: &str, fd: Option<i32>) {
    let Some(fd) = fd else {
        eprint!("{summary}");
        return;
    };
    #[cfg(unix)]
    {
        use std::io::Write;
        use std::os::fd::FromRawFd;
        // SAFETY: F_GETFD only asks whether `fd` is open.
        if unsafe { libc::fcntl(fd, libc::F_GETFD) } >= 0 {
            // SAFETY: the descriptor was handed to us for this report alone
            // (`--denial-report-fd`, 3 or above) and is open; it is ours to close.
            let mut file = unsafe { std::fs::File::from_raw_fd(fd) };
            match file.write_all(summary.as_bytes()) {
                Ok(()) => return,
                Err(e) => warn(&format!("cannot write the denial report to fd {fd}: {e}")),
            }
        } else {
            warn(&format!(
                "--denial-report-fd {fd} is not an open descriptor"
            ));
        }
    }
    #[cfg(not(unix))]
    warn(&format!(
        "--denial-report-fd {fd} is not supported on this OS; the report goes to stderr"
    ));
    eprint!("{summary}");
}

/// The `--log-denials` report: the sandbox's own summary, then what the
/// proxy refused, one line per host.
pub(crate) fn denial_summary(sandbox: Option<String>, proxy: Option<&Proxy>) -> String {
    let mut summary = sandbox.unwrap_or_default();
    if let Some(proxy) = proxy {
        let lines = cordon_proxy::denial_summary(&proxy.denials());
        if !lines.is_empty() {
            summary.push_str("cordon: the proxy refused:\n");
            summary.push_str(&lines);
        }
    }
    summary
}

/// The plan with the command starting in `dir` (the agent's `workdir`)
/// instead of the policy's working directory; the policy is unchanged.
fn start_in(mut plan: LinuxPlan, dir: Option<&std::path::Path>) -> LinuxPlan {
    if let Some(dir) = dir {
        plan.cwd = dir.to_path_buf();
    }
    plan
}

/// The egress proxy for one run, with its audit log. `token` is required
/// from clients when the proxy listens on a host address (macOS, Windows);
/// inside the sandbox's own namespace nothing else can reach it.
pub(crate) fn build_proxy(s: &ProxySettings, token: Option<String>) -> Result<Proxy> {
    let audit = match &s.audit_log {
        Some(path) => Some(
            AuditLog::open(path)
                .map_err(|e| anyhow::anyhow!("cannot open audit log {}: {e}", path.display()))?,
        ),
        None => None,
    };
    let config = ProxyConfig {
        rules: s.rules.clone(),
        allow_local_binding: s.allow_local_binding,
        upstream: s.upstream.clone(),
        token,
        own_addresses: cordon_proxy::own_addresses()?,
        ..Default::default()
    };
    Ok(Proxy::new(config, audit))
}

/// Serves `proxy` on `listener` from a runtime on its own threads.
pub fn serve_in_background(proxy: Proxy, listener: std::net::TcpListener) {
    std::thread::spawn(move || {
        // One thread: a proxy's work is mostly the kernel's copying, and
        // cross-thread wake-ups would cost more than they bring.
        let runtime = tokio::runtime::Builder::new_current_thread()
            .enable_all()
            .build();
        let Ok(runtime) = runtime else {
            eprintln!("cordon: cannot start the proxy runtime; the command has no network");
            return;
        };
        runtime.block_on(async move {
            if listener.set_nonblocking(true).is_err() {
                return;
            }
            if let Ok(listener) = tokio::net::TcpListener::from_std(listener) {
                let _ = proxy.serve(listener).await;
            }
        });
    });
}

fn launch(
    policy: &SandboxPolicy,
    plan: &LinuxPlan,
    command: &[OsString],
    inherited: &[(OsString, OsString)],
    proxy: Option<&Proxy>,
) -> Result<cordon_sandbox::RunOutcome, SandboxError> {
    announce_degraded(&plan.unenforced);
    let env = cordon_sandbox::command_env(plan, inherited.iter().cloned());
    let mut hooks = RunHooks::default();
    if let Some(proxy) = proxy {
        let proxy = proxy.clone();
        hooks.on_proxy_listener = Some(Box::new(move |listener| {
            serve_in_background(proxy, listener)
        }));
    }
    cordon_sandbox::execute(policy, plan, command, &env, hooks)
}

/// The per-run proxy token for a backend whose proxy listens on the
/// host's loopback; a placeholder when only printing the plan.
pub(crate) fn proxy_token(plan_only: bool) -> Result<String> {
    if plan_only {
        return Ok("PER-RUN-TOKEN".into());
    }
    cordon_proxy::new_token().map_err(|e| anyhow::anyhow!("cannot generate the proxy token: {e}"))
}

/// Refuses a backend that cannot run on this host (exit status 2), or
/// returns the usual refusal.
pub(crate) fn refuse_here(e: SandboxError) -> Result<i32> {
    match e {
        SandboxError::Unsupported(msg) => Err(crate::settings::UsageError(msg).into()),
        e => refuse(e),
    }
}

/// cordon's own path, for `GIT_SSH_COMMAND` in the proxy environment.
pub(crate) fn cordon_exe() -> String {
    std::env::current_exe()
        .map(|p| p.to_string_lossy().into_owned())
        .unwrap_or_else(|_| "cordon".into())
}

/// Resolves the policy and warns about roots that do not exist.
pub(crate) fn resolve_policy(settings: &RunSettings) -> Result<SandboxPolicy> {
    for w in &settings.warnings {
        warn(w);
    }
    let policy = crate::discovery::resolve(
        &settings.policy,
        None,
        settings.index_read_only,
        settings.discovery_agent,
    )?;
    warn_policy(&policy);
    Ok(policy)
}

/// Warns about roots that do not exist and directories held read-only.
fn warn_policy(policy: &SandboxPolicy) {
    for missing in &policy.missing_roots {
        warn(&format!(
            "writable root {} does not exist; ignored",
            missing.display()
        ));
    }
    for w in &policy.warnings {
        warn(w);
    }
}

fn announce_degraded(unenforced: &[String]) {
    if unenforced.is_empty() {
        return;
    }
    eprintln!("cordon: running DEGRADED (--allow-degraded); NOT enforced:");
    for u in unenforced {
        eprintln!("  - {u}");
    }
}

/// Prints why cordon refused to run and returns the exit status.
pub(crate) fn refuse(e: SandboxError) -> Result<i32> {
    let code = match &e {
        SandboxError::Exec { source, .. } if source.kind() == std::io::ErrorKind::NotFound => 127,
        SandboxError::Exec { .. } => 126,
        _ => EXIT_REFUSED,
    };
    eprintln!("cordon: {e}");
    if e.is_stale_pin() {
        eprintln!("cordon: paths under the writable roots kept changing while the sandbox was set up (a .git or writable root replaced, or a symlink swapped in); cordon refuses rather than protect the wrong object");
    }
    if matches!(&e, SandboxError::Setup { layer, .. } if layer == "working directory") {
        eprintln!("cordon: the sandbox enters the working directory with your own permissions; start cordon in a directory you can enter, or name one with -C DIR");
    }
    Ok(code)
}
