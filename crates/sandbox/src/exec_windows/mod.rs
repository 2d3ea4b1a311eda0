//! The Windows executor: applies a [`WindowsPlan`] with the Win32 and COM
//! APIs (through Microsoft's `windows` crate).
//!
//! * [`accounts`]: the `offline` and `online` local accounts, random
//!   passwords kept with DPAPI under `$CORDON_HOME/windows-sandbox`;
//! * [`firewall`]: the offline account's non-loopback rules through
//!   `INetFwPolicy2`, and the firewall's effective state;
//! * [`wfp`]: its loopback filters in the Windows Filtering Platform;
//! * [`desktop`]: the account's access to the window station;
//! * [`acl`]: grants on writable and readable roots, denies on protected
//!   paths and on the directories above them;
//! * [`spawn`]: cordon's runner started with `CreateProcessWithLogonW`
//!   (logon-user), which restricts its own token with the run's restricting
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
mod desktop;
mod firewall;
mod process;
mod spawn;
mod token;
mod wfp;

use crate::plan::windows::{
    admin_refusal, marker_user_refusal, password_file_sddl, setup_decision, setup_target,
    wfp_filters, GrantHold, GrantLedger, Identity, Launch, SetupDecision, SetupMarker, Trustee,
    WindowsPlan,
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

pub(crate) fn setup(
    state: &Path,
    marker: &SetupMarker,
    for_user: Option<&str>,
) -> Result<(), SandboxError> {
    // Elevation and for whom first: a refused setup changes nothing, the
    // marker included.
    let home = state.parent().unwrap_or(state);
    let target = setup_target(&token::setup_caller(home, state, for_user, true)?)?;
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
        accounts::ensure(state, identity, &target)?;
    }
    let offline_sid = accounts::sid_string(Identity::Offline.account())?;
    firewall::program(&offline_sid)?;
    wfp::install(
        &offline_sid,
        &wfp_filters(
            Identity::Offline.account(),
            &marker.proxy_ports,
            marker.allow_local_binding,
        ),
    )?;
    // The marker says for whom, and how the passwords are sealed.
    let marker = SetupMarker {
        for_user: Some(target.user_sid.clone()),
        password_scope: Some(target.scope),
        ..marker.clone()
    };
    let tmp = state.join("setup.json.tmp");
    let text = serde_json::to_vec_pretty(&marker).map_err(|e| SandboxError::Io {
        context: "encoding the setup marker".into(),
        source: std::io::Error::other(e),
    })?;
    accounts::write_new_file(&tmp, &text, &password_file_sddl(&target))?;
    std::fs::rename(&tmp, &path).map_err(io_err(format!("writing {}", path.display())))?;
    Ok(())
}

pub(crate) fn uninstall(state: &Path) -> Result<(), SandboxError> {
    // Removing needs elevation, not the user setup was for.
    let home = state.parent().unwrap_or(state);
    if let Some(refusal) = admin_refusal(&token::setup_caller(home, state, None, false)?) {
        return Err(refusal);
    }
    wfp::remove_all()?;
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

/// The SIDs of the sandbox accounts that exist.
pub(super) fn account_sids() -> Vec<String> {
    [Identity::Offline, Identity::Online]
        .iter()
        .filter_map(|id| accounts::sid_string(id.account()).ok())
        .collect()
}

/// The ledger of account grants, read and written under the ACL lock.
fn ledger_path(state: &Path) -> std::path::PathBuf {
    state.join("grants.json")
}

fn read_ledger(state: &Path) -> Result<GrantLedger, SandboxError> {
    let path = ledger_path(state);
    match std::fs::read(&path) {
        // A ledger that does not parse is kept as no holds: its grants
        // were then never revoked, which the next setup's account ACLs
        // do not widen (each write also needs a run SID).
        Ok(bytes) => Ok(serde_json::from_slice(&bytes).unwrap_or_default()),
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => Ok(GrantLedger::default()),
        Err(source) => Err(SandboxError::Io {
            context: format!("reading {}", path.display()),
            source,
        }),
    }
}

fn write_ledger(state: &Path, ledger: &GrantLedger) -> Result<(), SandboxError> {
    let path = ledger_path(state);
    let tmp = state.join("grants.json.tmp");
    let text = serde_json::to_vec_pretty(ledger).map_err(|e| SandboxError::Io {
        context: "encoding the grant ledger".into(),
        source: std::io::Error::other(e),
    })?;
    std::fs::write(&tmp, text).map_err(io_err(format!("writing {}", tmp.display())))?;
    std::fs::rename(&tmp, &path).map_err(io_err(format!("writing {}", path.display())))
}

/// The ledger's name for a window station grant.
const WINSTA_PREFIX: &str = "winsta:";

/// Revokes one account grant the ledger released.
fn revoke_account_grant(account_sid: &str, object: &str) -> Result<(), SandboxError> {
    match object.strip_prefix(WINSTA_PREFIX) {
        Some(station) => desktop::revoke_station(station, account_sid),
        None => acl::revoke_path(account_sid, Path::new(object)),
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
    if plan.launch == Launch::RestrictedToken && accounts::passwords_stored(state) {
        // The command would run as you and could unseal them.
        return Err(SandboxError::Layer {
            layer: "windows-accounts".into(),
            why: format!(
                "the sandbox accounts' passwords are stored under {}, sealed for you, and a restricted copy of your token could read them and log on as either account",
                state.display()
            ),
            fix: "run with [windows] sandbox = \"elevated\" (the plan does so once setup has run; plan again), or `cordon sandbox windows uninstall`".into(),
        });
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
        // ...and set up for the user running it.
        let for_user = marker.as_ref().and_then(|m| m.for_user.as_deref());
        if let Some(refusal) = marker_user_refusal(for_user, &token::own_user_sid()?) {
            return Err(refusal);
        }
        if plan.identity == Some(Identity::Offline) {
            // ...and they must still be in force now.
            let sid = accounts::sid_string(Identity::Offline.account())?;
            firewall::verify(&sid, &plan.firewall_rules)?;
            wfp::verify(&sid, &plan.wfp_filters)?;
        }
    }
    for dir in plan.placeholders.iter().chain(&plan.temp_dir) {
        std::fs::create_dir_all(dir).map_err(io_err(format!("creating {}", dir.display())))?;
    }
    // Every sandboxed write needs the run's SID (the token is
    // write-restricted to it); its entries are revoked after the run.
    let account = match &plan.trustee {
        Trustee::AccountAndRunSid { name } => Some(accounts::sid_string(name)?),
        Trustee::RunSid => None,
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
    let run_sid = acl::new_run_sid()?;
    let deny = account_sids();
    let station = spawn::window_station_name()?;
    // The account's half of each grant (its normal access check), and its
    // access to the window station, are held in the ledger: taken back
    // when the last run holding them ends (also after a failure part-way,
    // since the hold is recorded before anything is applied).
    let hold = account.as_ref().map(|sid| {
        let mut objects: Vec<String> = entries
            .iter()
            .map(|e| e.path.to_string_lossy().into_owned())
            .chain(
                plan.runner_exe
                    .iter()
                    .map(|p| p.to_string_lossy().into_owned()),
            )
            .collect();
        objects.push(format!("{WINSTA_PREFIX}{station}"));
        objects.sort();
        objects.dedup();
        GrantHold {
            run: run_sid.clone(),
            pid: std::process::id(),
            started: process::own_start_time(),
            account_sid: sid.clone(),
            objects,
        }
    });
    let applied = acl::locked(&deny, || {
        if let (Some(account), Some(hold)) = (&account, &hold) {
            let mut ledger = read_ledger(state)?;
            ledger.acquire(hold.clone());
            write_ledger(state, &ledger)?;
            acl::apply(account, &entries)?;
            if let Some(exe) = &plan.runner_exe {
                acl::try_grant_read(account, exe)?;
            }
            desktop::grant_station(&station, account)?;
        }
        acl::apply(&run_sid, &entries)
    });
    let outcome = applied.and_then(|()| {
        let mut desktop_sids: Vec<&str> = vec![&run_sid];
        if let Some(account) = &account {
            desktop_sids.push(account);
        }
        let desktop = spawn::PrivateDesktop::create(&desktop_sids)?;
        match plan.identity {
            Some(identity) if plan.launch == Launch::LogonUser => {
                let password = accounts::password(state, identity)?;
                spawn::logon_user(plan, identity, &password, &run_sid, env, &desktop)
            }
            _ => spawn::restricted_token(plan, &run_sid, env, &desktop),
        }
    });
    // Taken off again even after a failure (entries never added are skipped).
    let revoked = acl::locked(&deny, || {
        let mut first = acl::revoke(&run_sid, &entries).err();
        if hold.is_some() {
            let mut ledger = read_ledger(state)?;
            for (sid, object) in ledger.release(&run_sid, process::alive) {
                if let Err(e) = revoke_account_grant(&sid, &object) {
                    first.get_or_insert(e);
                }
            }
            write_ledger(state, &ledger)?;
        }
        first.map_or(Ok(()), Err)
    });
    spawn::cleaned_up();
    let outcome = outcome?;
    revoked?;
    Ok(outcome)
}

/// The runner's side of a logon-user run (`cordon sandbox windows-runner`).
pub(crate) fn runner(run_sid: &str) -> Result<RunOutcome, SandboxError> {
    spawn::runner(run_sid)
}
