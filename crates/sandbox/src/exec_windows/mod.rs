//! The Windows executor: applies a [`WindowsPlan`] with the Win32 and COM
//! APIs (through Microsoft's `windows` crate).
//!
//! * [`accounts`]: the `offline` and `online` local accounts, random
//!   passwords kept with DPAPI under `$CORDON_HOME/windows-sandbox`;
//! * [`firewall`]: the offline account's rules through `INetFwPolicy2`;
//! * [`acl`]: grants on writable and readable roots, denies on protected
//!   paths and on the directories above them;
//! * [`spawn`]: cordon's runner started with `CreateProcessWithLogonW`
//!   (logon-user), which restricts its own token with the run's capability
//!   SID; or a restricted copy of the caller's token (restricted-token);
//!   either way the command starts with `CreateProcessAsUserW`, suspended,
//!   in a kill-on-close job;
//! * [`token`]: the restricted token, its default DACL, the runner's DACL.
//!
//! # Limitations
//! Compiled and linted for `x86_64-pc-windows-msvc` only; it has not been
//! run on a real Windows machine.

mod accounts;
mod acl;
mod firewall;
mod spawn;
mod token;

use crate::plan::windows::{
    setup_decision, Identity, Launch, SetupDecision, SetupMarker, Trustee, WindowsPlan,
};
use crate::{RunOutcome, SandboxError};
use std::ffi::OsString;
use std::path::Path;

/// A Win32 or COM failure as the crate's error, naming the layer and step.
pub(crate) fn win_err(layer: &str, step: &str, e: &windows::core::Error) -> SandboxError {
    SandboxError::Setup {
        layer: layer.into(),
        step: step.into(),
        source: std::io::Error::other(e.message()),
    }
}

/// A Win32 status code as the crate's error.
pub(crate) fn code_err(layer: &str, step: &str, code: u32) -> SandboxError {
    SandboxError::Setup {
        layer: layer.into(),
        step: step.into(),
        source: std::io::Error::from_raw_os_error(i32::try_from(code).unwrap_or(i32::MAX)),
    }
}

fn io_err(context: String) -> impl FnOnce(std::io::Error) -> SandboxError {
    move |source| SandboxError::Io { context, source }
}

pub(crate) fn setup(state: &Path, marker: &SetupMarker) -> Result<(), SandboxError> {
    std::fs::create_dir_all(state).map_err(io_err(format!("creating {}", state.display())))?;
    // No marker while the rules are being changed: a setup that fails
    // part-way leaves runs refusing, not trusting half-programmed rules.
    let path = state.join("setup.json");
    match std::fs::remove_file(&path) {
        Ok(()) => {}
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => {}
        Err(source) => {
            return Err(SandboxError::Io {
                context: format!("removing {}", path.display()),
                source,
            })
        }
    }
    for identity in [Identity::Offline, Identity::Online] {
        accounts::ensure(state, identity)?;
    }
    let offline_sid = accounts::sid_string(Identity::Offline.account())?;
    firewall::program(&offline_sid, marker)?;
    let tmp = state.join("setup.json.tmp");
    let text = serde_json::to_vec_pretty(marker).map_err(|e| SandboxError::Io {
        context: "encoding the setup marker".into(),
        source: std::io::Error::other(e),
    })?;
    std::fs::write(&tmp, text).map_err(io_err(format!("writing {}", tmp.display())))?;
    std::fs::rename(&tmp, &path).map_err(io_err(format!("writing {}", path.display())))?;
    Ok(())
}

pub(crate) fn uninstall(state: &Path) -> Result<(), SandboxError> {
    firewall::remove_all()?;
    for identity in [Identity::Offline, Identity::Online] {
        accounts::remove(identity)?;
    }
    match std::fs::remove_dir_all(state) {
        Ok(()) => Ok(()),
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => Ok(()),
        Err(source) => Err(SandboxError::Io {
            context: format!("removing {}", state.display()),
            source,
        }),
    }
}

pub(crate) fn run(
    state: &Path,
    plan: &WindowsPlan,
    env: &[(OsString, OsString)],
) -> Result<RunOutcome, SandboxError> {
    if plan.launch == Launch::Unsandboxed {
        return spawn::unsandboxed(plan, env);
    }
    if plan.launch == Launch::LogonUser {
        // The rules in force must be the ones this plan was made for.
        let marker = crate::read_marker_in(state)?;
        if let SetupDecision::Run { reason } = setup_decision(marker.as_ref(), &plan.setup_marker) {
            return Err(SandboxError::Layer {
                layer: "windows-firewall".into(),
                why: format!("the sandbox accounts are not set up for this run: {reason}"),
                fix: "run `cordon sandbox windows setup` from an elevated prompt".into(),
            });
        }
        if plan.identity == Some(Identity::Offline) {
            // ...and they must still be in force now.
            let sid = accounts::sid_string(Identity::Offline.account())?;
            firewall::verify(&sid, &plan.firewall_rules)?;
        }
    }
    for dir in &plan.placeholders {
        std::fs::create_dir_all(dir).map_err(io_err(format!("creating {}", dir.display())))?;
    }
    // Every sandboxed write needs the run's capability SID (the token is
    // write-restricted to it); its entries are revoked after the run.
    let account = match &plan.trustee {
        Trustee::AccountAndCapabilitySid { name } => Some(accounts::sid_string(name)?),
        Trustee::CapabilitySid => None,
        Trustee::None => {
            return Err(SandboxError::Layer {
                layer: "acl".into(),
                why: "a sandboxed plan names no trustee".into(),
                fix: "this is a bug in cordon's planner; report it".into(),
            })
        }
    };
    let entries: Vec<_> = plan
        .readable_roots
        .iter()
        .chain(&plan.writable_roots)
        .chain(&plan.protected_paths)
        .chain(&plan.fixed_directories)
        .collect();
    let capability = acl::new_capability_sid()?;
    let applied = acl::locked(|| {
        if let Some(account) = &account {
            // The account's half of each grant (its normal access check);
            // kept, since concurrent runs share the account and it allows
            // no write alone.
            acl::apply(account, &entries)?;
            if let Some(exe) = &plan.runner_exe {
                acl::try_grant_read(account, exe)?;
            }
        }
        acl::apply(&capability, &entries)
    });
    let outcome = applied.and_then(|()| match plan.identity {
        Some(identity) if plan.launch == Launch::LogonUser => {
            let password = accounts::password(state, identity)?;
            spawn::logon_user(plan, identity, &password, &capability, env)
        }
        _ => spawn::restricted_token(plan, &capability, env),
    });
    // Taken off again even after a failure (entries never added are skipped).
    let revoked = acl::locked(|| acl::revoke(&capability, &entries));
    spawn::cleaned_up();
    let outcome = outcome?;
    revoked?;
    Ok(outcome)
}

/// The runner's side of a logon-user run (`cordon sandbox windows-runner`).
pub(crate) fn runner(capability_sid: &str) -> Result<RunOutcome, SandboxError> {
    spawn::runner(capability_sid)
}
