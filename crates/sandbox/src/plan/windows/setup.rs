//! Who `cordon sandbox windows setup` is for, and how the accounts'
//! passwords are kept for that user: the pure decision the executor takes
//! from the caller's token, its session and `$CORDON_HOME`, before it
//! changes anything.
//!
//! Two cases, by the documentation of `CryptProtectData`:
//! * **The caller runs cordon itself** (an administrator elevating their
//!   own split token): the passwords are sealed in the DPAPI *user* scope,
//!   which only the same user on the same machine can unseal.
//! * **Someone else runs cordon** (a standard user who elevated with an
//!   administrator's credentials, "over the shoulder"; or an explicit
//!   `--for-user`): the elevated token is the administrator's, so a
//!   user-scope blob would be sealed for the administrator, and sealing
//!   one for the target user needs their credentials, which setup does not
//!   have (`TokenLinkedToken` does not help: the linked token of an
//!   over-the-shoulder elevation is the administrator's own filtered
//!   token). The passwords are then sealed in the *machine* scope
//!   (`CRYPTPROTECT_LOCAL_MACHINE`, which any local user can unseal) and
//!   the files get a protected DACL naming only SYSTEM, Administrators
//!   (full) and the target user (read), set when the file is created: the
//!   file's ACL, not the key, keeps other users and the sandbox accounts
//!   out.

use super::host::{ADMINISTRATORS_SID, LOCAL_SYSTEM_SID};
use crate::SandboxError;
use serde::{Deserialize, Serialize};

/// Who runs `cordon sandbox windows setup` and for whom, as the executor
/// reads it before changing anything.
#[derive(Debug, Clone, PartialEq, Eq, Default)]
pub struct SetupCaller {
    /// The token is elevated (`TokenElevation`).
    pub elevated: bool,
    /// The token's user SID (`TokenUser`).
    pub user_sid: String,
    /// The user logged on to the token's session (`TokenSessionId`, then
    /// `WTSQuerySessionInformation` `WTSDomainName\WTSUserName`), when the
    /// session has one: after an over-the-shoulder elevation, the standard
    /// user at the keyboard, not the administrator whose token this is.
    pub session_user_sid: Option<String>,
    /// `--for-user`, resolved to a SID.
    pub for_user_sid: Option<String>,
    /// The owner of `$CORDON_HOME` (where the passwords and the marker
    /// are stored), when it exists.
    pub home_owner_sid: Option<String>,
    /// `$CORDON_HOME` or its `windows-sandbox` directory, when either is
    /// a reparse point (junction or symbolic link).
    pub home_reparse_point: Option<String>,
    /// The SIDs of the sandbox accounts that already exist.
    pub sandbox_account_sids: Vec<String>,
}

/// The DPAPI scope the stored passwords are sealed in.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "kebab-case")]
pub enum PasswordScope {
    /// `CryptProtectData` without `CRYPTPROTECT_LOCAL_MACHINE`: only the
    /// user who ran setup can unseal them.
    User,
    /// `CRYPTPROTECT_LOCAL_MACHINE`: any local user could unseal them, so
    /// the file's DACL admits only SYSTEM, Administrators and the target
    /// user.
    Machine,
}

/// For whom setup seals the passwords, and how.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct SetupTarget {
    /// The SID of the user whose runs use the sandbox accounts.
    pub user_sid: String,
    /// How the passwords are sealed.
    pub scope: PasswordScope,
}

fn refuse(why: String, fix: &str) -> SandboxError {
    SandboxError::Layer {
        layer: "windows-setup".into(),
        why,
        fix: fix.into(),
    }
}

/// Refuses an administrative action (setup or uninstall) before anything
/// is touched: not elevated, or LocalSystem (`CreateProcessWithLogonW`
/// cannot be used from it, so no run could start).
pub fn admin_refusal(caller: &SetupCaller) -> Option<SandboxError> {
    if caller.user_sid.eq_ignore_ascii_case(LOCAL_SYSTEM_SID) {
        return Some(refuse(
            "setup is running as LocalSystem, from which CreateProcessWithLogonW cannot start the sandbox accounts' processes".into(),
            "run `cordon sandbox windows setup` from an elevated prompt of the user who runs cordon",
        ));
    }
    if !caller.elevated {
        return Some(refuse(
            "creating the sandbox accounts and the firewall and WFP filters needs an elevated (administrator) process; nothing was changed".into(),
            "run `cordon sandbox windows setup` from an elevated prompt (Run as administrator)",
        ));
    }
    None
}

/// Whether `sid` names a user account (`S-1-5-21-…`: a local or domain
/// account), not a well-known or service identity.
fn is_user_sid(sid: &str) -> bool {
    sid.get(..9)
        .is_some_and(|p| p.eq_ignore_ascii_case("S-1-5-21-"))
}

fn same(a: &str, b: &str) -> bool {
    a.eq_ignore_ascii_case(b)
}

/// Decides, before anything is touched, for whom setup seals the
/// passwords and in which DPAPI scope, or refuses with the reason:
/// * [`admin_refusal`] (not elevated, LocalSystem);
/// * the target is `--for-user`, else the session's user when it is not
///   the caller (an over-the-shoulder elevation), else the caller; it must
///   be a user account (`S-1-5-21-…`) and not a sandbox account (which
///   could then read the other account's password);
/// * for the caller: `$CORDON_HOME` must be theirs (or the Administrators
///   group's, which owns an elevated administrator's new files) or not
///   exist yet; user scope;
/// * for another user: `$CORDON_HOME` must exist and be owned by that
///   user (the runs look for the passwords there: a home in the
///   administrator's profile would hold passwords the user's runs never
///   find), and neither it nor its `windows-sandbox` directory may be a
///   reparse point (an elevated process writing into a directory another
///   user controls must not be redirected); machine scope.
pub fn setup_target(caller: &SetupCaller) -> Result<SetupTarget, SandboxError> {
    if let Some(refusal) = admin_refusal(caller) {
        return Err(refusal);
    }
    let me = caller.user_sid.as_str();
    let target = caller
        .for_user_sid
        .clone()
        .or_else(|| {
            caller
                .session_user_sid
                .clone()
                .filter(|session| !same(session, me))
        })
        .unwrap_or_else(|| me.to_string());
    if !is_user_sid(&target) {
        return Err(refuse(
            format!("setup would be for {target}, which is not a user account (S-1-5-21-…)"),
            "pass --for-user with the name of the user who runs cordon",
        ));
    }
    if caller
        .sandbox_account_sids
        .iter()
        .any(|sid| same(sid, &target))
    {
        return Err(refuse(
            format!("setup would be for {target}, a sandbox account: it could read both accounts' passwords"),
            "pass --for-user with the name of the user who runs cordon",
        ));
    }
    let owner = caller.home_owner_sid.as_deref();
    if same(&target, me) {
        if let Some(owner) = owner {
            if !same(owner, me) && !same(owner, ADMINISTRATORS_SID) {
                return Err(refuse(
                    format!(
                        "setup runs as {me} for itself, but $CORDON_HOME belongs to {owner}: the passwords would be sealed (DPAPI user scope) for {me}, and {owner}'s runs could not read them"
                    ),
                    &format!(
                        "if {owner} runs cordon, run setup again with --for-user naming that user; otherwise set CORDON_HOME to a directory of yours"
                    ),
                ));
            }
        }
        return Ok(SetupTarget {
            user_sid: target,
            scope: PasswordScope::User,
        });
    }
    let how = if caller.for_user_sid.is_some() {
        "--for-user"
    } else {
        "the user of this session (an elevation with another administrator's credentials)"
    };
    match owner {
        None => {
            return Err(refuse(
                format!(
                    "setup runs as {me} for {target} ({how}), but $CORDON_HOME does not exist: the passwords and the marker go to the CORDON_HOME of the user who runs cordon, which must exist and be theirs"
                ),
                "run `cordon sandbox doctor` once as that user (it creates their CORDON_HOME), then run setup with CORDON_HOME set to that directory",
            ))
        }
        Some(owner) if !same(owner, &target) => {
            return Err(refuse(
                format!(
                    "setup runs as {me} for {target} ({how}), but $CORDON_HOME belongs to {owner}, not {target}: their runs would not find the passwords there (with an elevation by another administrator, CORDON_HOME resolves in that administrator's profile)"
                ),
                &format!(
                    "set CORDON_HOME to {target}'s (by default .cordon in their profile) before running setup; or, if {me} runs cordon, pass --for-user naming {me}"
                ),
            ))
        }
        Some(_) => {}
    }
    if let Some(path) = &caller.home_reparse_point {
        return Err(refuse(
            format!(
                "{path} is a junction or symbolic link: setup, elevated as {me}, would write the passwords through a link that {target} controls"
            ),
            "make CORDON_HOME and its windows-sandbox directory plain directories, then run setup again",
        ));
    }
    Ok(SetupTarget {
        user_sid: target,
        scope: PasswordScope::Machine,
    })
}

/// The protected DACL a stored password file is created with: SYSTEM and
/// Administrators full control, `target` read (full control in the user
/// scope, where it is their own file). Nothing for Users, Everyone or the
/// sandbox accounts: in the machine scope this DACL is all that keeps the
/// password from another local user.
pub fn password_file_sddl(target: &SetupTarget) -> String {
    let access = match target.scope {
        PasswordScope::User => "FA",
        PasswordScope::Machine => "FR",
    };
    format!(
        "D:P(A;;FA;;;SY)(A;;FA;;;BA)(A;;{access};;;{})",
        target.user_sid
    )
}

/// Refuses a run by `run_user_sid` when setup was made for another user
/// (the marker's `for_user`): their runs could not read the passwords (the
/// user scope), or must not (the machine scope's DACL names one user).
pub fn marker_user_refusal(for_user: Option<&str>, run_user_sid: &str) -> Option<SandboxError> {
    let Some(for_user) = for_user else {
        return Some(refuse(
            "the setup marker does not say for whom the sandbox accounts were set up".into(),
            "run `cordon sandbox windows setup` again from an elevated prompt",
        ));
    };
    if same(for_user, run_user_sid) {
        return None;
    }
    Some(refuse(
        format!(
            "the sandbox accounts in this CORDON_HOME were set up for {for_user}, and this run is {run_user_sid}"
        ),
        "run setup for this user (`cordon sandbox windows setup --for-user NAME` from an elevated prompt), or use your own CORDON_HOME",
    ))
}

#[cfg(test)]
#[path = "setup_tests.rs"]
mod tests;
