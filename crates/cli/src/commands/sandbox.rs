//! `cordon sandbox [linux] -- CMD`.

use crate::settings::RunSettings;
use anyhow::Result;
use cordon_sandbox::plan::PlanOptions;
use cordon_sandbox::SandboxError;
use std::ffi::OsString;

/// Exit status when cordon itself refuses or fails to start the command.
pub const EXIT_REFUSED: i32 = 125;

fn warn(msg: &str) {
    eprintln!("cordon: warning: {msg}");
}

/// Plans and runs `command`; returns the exit status for cordon.
pub fn run(settings: RunSettings, command: &[OsString], plan_only: bool) -> Result<i32> {
    for w in &settings.warnings {
        warn(w);
    }
    let policy = cordon_policy::resolve(&settings.policy)?;
    for missing in &policy.missing_roots {
        warn(&format!(
            "writable root {} does not exist; ignored",
            missing.display()
        ));
    }
    let options = PlanOptions {
        allow_degraded: settings.allow_degraded,
        log_denials: settings.log_denials,
    };
    let facts = cordon_sandbox::host_facts(plan_only);
    let plan = match cordon_sandbox::plan_for_host(&policy, &facts, options) {
        Ok(plan) => plan,
        Err(e) => return refuse(e),
    };
    if plan_only {
        println!("{}", serde_json::to_string_pretty(&plan)?);
        return Ok(0);
    }
    let env = cordon_sandbox::command_env(&policy);
    announce_degraded(&plan.unenforced);
    let outcome = match cordon_sandbox::execute(&policy, &plan, command, &env) {
        Ok(outcome) => outcome,
        Err(e @ SandboxError::Setup { .. }) if e.is_namespace_failure() => {
            // Explain with a real probe; fall back only when allowed.
            let facts = cordon_sandbox::host_facts(true);
            match cordon_sandbox::plan_for_host(&policy, &facts, options) {
                // The probe says namespaces work: the original failure stands.
                Ok(plan) if !plan.namespaces.is_empty() => return refuse(e),
                Ok(plan) => {
                    announce_degraded(&plan.unenforced);
                    match cordon_sandbox::execute(&policy, &plan, command, &env) {
                        Ok(outcome) => outcome,
                        Err(e) => return refuse(e),
                    }
                }
                Err(missing) => return refuse(missing),
            }
        }
        Err(e) => return refuse(e),
    };
    if let Some(summary) = outcome.denial_summary {
        eprint!("{summary}");
    }
    Ok(outcome.exit_code)
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

fn refuse(e: SandboxError) -> Result<i32> {
    let code = match &e {
        SandboxError::Exec { source, .. } if source.kind() == std::io::ErrorKind::NotFound => 127,
        SandboxError::Exec { .. } => 126,
        _ => EXIT_REFUSED,
    };
    eprintln!("cordon: {e}");
    Ok(code)
}
