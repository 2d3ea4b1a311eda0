//! `cordon sandbox windows [setup|uninstall] ... -- CMD`.

use crate::commands::sandbox::{
    build_proxy, cordon_exe, proxy_token, refuse, refuse_here, resolve_policy, serve_in_background,
};
use crate::settings::{RunSettings, UsageError, WindowsSetupSettings};
use anyhow::Result;
use cordon_policy::NetworkMode;
use cordon_sandbox::plan::windows::{
    plan_windows, preferred_proxy_port, SetupDecision, SetupMarker, WindowsOptions, MARKER_VERSION,
};
use cordon_sandbox::plan::OsPlan;
use std::ffi::OsString;

/// Plans (and on Windows runs) `command`; returns the exit status.
pub fn run(settings: RunSettings, command: &[OsString], plan_only: bool) -> Result<i32> {
    if !plan_only && !cfg!(target_os = "windows") {
        return Err(UsageError(
            "`cordon sandbox windows` runs commands only on Windows; add --plan to print what it would do".into(),
        )
        .into());
    }
    let policy = resolve_policy(&settings)?;
    let marker = cordon_sandbox::read_windows_marker(&settings.cordon_home)?;
    let token = proxy_token(plan_only)?;
    let inherited = settings.inherited_env();
    let options = WindowsOptions {
        proxy_token: token.clone(),
        sandbox: settings.windows_sandbox,
        allow_local_binding: settings.proxy.allow_local_binding,
        proxy_port: preferred_proxy_port(marker.as_ref()),
        cordon_exe: cordon_exe(),
        inherited_env: inherited
            .iter()
            .cloned()
            .filter_map(|(k, v)| Some((k.into_string().ok()?, v.into_string().ok()?)))
            .collect(),
        marker,
        temp_root: Some(cordon_sandbox::windows_state_dir(&settings.cordon_home).join("tmp")),
        log_denials: settings.log_denials,
    };
    let plan = match plan_windows(&policy, command, &options) {
        Ok(plan) => plan,
        Err(e) => return refuse(e),
    };
    if plan_only {
        println!(
            "{}",
            serde_json::to_string_pretty(&OsPlan::Windows(Box::new(plan)))?
        );
        return Ok(0);
    }
    if let SetupDecision::Run { reason } = &plan.setup {
        eprintln!("cordon: running the Windows sandbox setup first: {reason}");
        if let Err(e) =
            cordon_sandbox::windows_setup(&settings.cordon_home, &plan.setup_marker, None)
        {
            return refuse_here(e);
        }
    }
    let mut proxy = None;
    if plan.network == NetworkMode::Proxy && plan.identity.is_some() {
        let serving = build_proxy(&settings.proxy, Some(token))?;
        for port in &plan.proxy_ports {
            let listener = std::net::TcpListener::bind(("127.0.0.1", *port)).map_err(|e| {
                anyhow::anyhow!(
                    "cannot listen on 127.0.0.1:{port} for the proxy (the port the WFP filters allow): {e}; free the port or run `cordon sandbox windows setup --proxy-port PORT`"
                )
            })?;
            serve_in_background(serving.clone(), listener);
        }
        proxy = Some(serving);
    }
    let outcome = cordon_sandbox::execute_windows(&settings.cordon_home, &plan, &inherited);
    if let Some(proxy) = &proxy {
        proxy.flush_audit();
    }
    match outcome {
        Ok(outcome) => Ok(outcome.exit_code),
        Err(e) => refuse_here(e),
    }
}

/// `cordon sandbox windows-runner`: the runner half of a logon-user run.
pub fn runner(run_sid: &str) -> Result<i32> {
    match cordon_sandbox::windows_runner(run_sid) {
        Ok(outcome) => Ok(outcome.exit_code),
        Err(e) => refuse_here(e),
    }
}

/// `cordon sandbox windows setup`.
pub fn setup(settings: WindowsSetupSettings) -> Result<i32> {
    let existing = cordon_sandbox::read_windows_marker(&settings.cordon_home)?;
    let mut proxy_ports = if settings.proxy_ports.is_empty() {
        vec![preferred_proxy_port(existing.as_ref())]
    } else {
        settings.proxy_ports.clone()
    };
    proxy_ports.sort_unstable();
    proxy_ports.dedup();
    let marker = SetupMarker {
        version: MARKER_VERSION,
        proxy_ports,
        allow_local_binding: settings.allow_local_binding,
        // Setup fills these in from who it is for.
        for_user: None,
        password_scope: None,
    };
    match cordon_sandbox::windows_setup(
        &settings.cordon_home,
        &marker,
        settings.for_user.as_deref(),
    ) {
        Ok(()) => {
            let written = cordon_sandbox::read_windows_marker(&settings.cordon_home)?;
            println!(
                "cordon: Windows sandbox set up (proxy ports {:?}, allow_local_binding {}; for {}, passwords sealed with DPAPI in the {} scope)",
                marker.proxy_ports,
                marker.allow_local_binding,
                written
                    .as_ref()
                    .and_then(|m| m.for_user.clone())
                    .unwrap_or_else(|| "?".into()),
                match written.as_ref().and_then(|m| m.password_scope) {
                    Some(cordon_sandbox::plan::windows::PasswordScope::Machine) => "machine",
                    Some(cordon_sandbox::plan::windows::PasswordScope::User) => "user",
                    None => "?",
                }
            );
            Ok(0)
        }
        Err(e) => refuse_here(e),
    }
}

/// `cordon sandbox windows uninstall`.
pub fn uninstall(cordon_home: std::path::PathBuf) -> Result<i32> {
    match cordon_sandbox::windows_uninstall(&cordon_home) {
        Ok(()) => {
            println!(
                "cordon: Windows sandbox accounts, firewall rules, WFP filters and stored passwords removed"
            );
            Ok(0)
        }
        Err(e) => refuse_here(e),
    }
}
