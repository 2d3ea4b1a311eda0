//! `cordon sandbox macos ... -- CMD`.

use crate::commands::sandbox::{
    build_proxy, cordon_exe, denial_summary, pick_proxy_port, proxy_token, refuse, refuse_here,
    resolve_policy, serve_in_background, write_denial_report,
};
use crate::settings::{RunSettings, UsageError};
use anyhow::Result;
use cordon_policy::{NetworkMode, SandboxMode};
use cordon_sandbox::plan::macos::{plan_macos, MacosOptions};
use cordon_sandbox::plan::OsPlan;
use std::ffi::OsString;

/// Plans (and on macOS runs) `command`; returns the exit status.
pub fn run(settings: RunSettings, command: &[OsString], plan_only: bool) -> Result<i32> {
    if !plan_only && !cfg!(target_os = "macos") {
        return Err(UsageError(
            "`cordon sandbox macos` runs commands only on macOS; add --plan to print what it would do".into(),
        )
        .into());
    }
    let policy = resolve_policy(&settings)?;
    let needs_proxy =
        policy.network == NetworkMode::Proxy && policy.mode != SandboxMode::DangerFullAccess;
    // A real run listens first and plans with the port it got.
    let listener = if needs_proxy && !plan_only {
        Some(
            std::net::TcpListener::bind(("127.0.0.1", 0))
                .map_err(|e| anyhow::anyhow!("cannot listen on loopback for the proxy: {e}"))?,
        )
    } else {
        None
    };
    let proxy_port = match &listener {
        Some(l) => l.local_addr()?.port(),
        None => pick_proxy_port(),
    };
    let token = proxy_token(plan_only)?;
    let options = MacosOptions {
        proxy_port,
        proxy_token: token.clone(),
        allow_local_binding: settings.proxy.allow_local_binding,
        log_denials: settings.log_denials,
        cordon_exe: cordon_exe(),
    };
    let plan = match plan_macos(&policy, command, &options) {
        Ok(plan) => plan,
        Err(e) => return refuse(e),
    };
    if plan_only {
        println!("{}", serde_json::to_string_pretty(&OsPlan::Macos(plan))?);
        return Ok(0);
    }
    let proxy = match listener {
        Some(listener) => {
            let proxy = build_proxy(&settings.proxy, Some(token))?;
            serve_in_background(proxy.clone(), listener);
            Some(proxy)
        }
        None => None,
    };
    let env: Vec<(OsString, OsString)> = settings.inherited_env();
    let outcome = match cordon_sandbox::execute_macos(&plan, &env) {
        Ok(outcome) => outcome,
        Err(e) => return refuse_here(e),
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
