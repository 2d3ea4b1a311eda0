//! Pure decisions the Windows executor takes about the host: what to do
//! with an existing account, the restricting SIDs of a
//! run's token, which ACL grants of the sandbox accounts a finished run
//! may take back, and the effective firewall state.

use crate::SandboxError;
use serde::{Deserialize, Serialize};

/// LocalSystem.
pub const LOCAL_SYSTEM_SID: &str = "S-1-5-18";
/// BUILTIN\Administrators.
pub const ADMINISTRATORS_SID: &str = "S-1-5-32-544";
/// Everyone (never a restricting SID: it would grant every write that
/// Everyone may do).
pub const EVERYONE_SID: &str = "S-1-1-0";
/// OWNER RIGHTS: an entry for it replaces the implicit rights of an
/// object's owner (`READ_CONTROL` and `WRITE_DAC`).
pub const OWNER_RIGHTS_SID: &str = "S-1-3-4";

/// What setup does with one sandbox account.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
#[serde(rename_all = "kebab-case")]
pub enum AccountAction {
    /// No such account: create it with a new random password.
    Create,
    /// It exists and the stored password logs it on: leave it.
    Keep,
    /// It exists but no stored password logs it on: set a new one.
    ResetPassword,
}

/// Setup's decision for an account; a password that works is not reset
/// (runs in progress or other users' setups keep working).
pub fn account_action(exists: bool, stored_password_logs_on: bool) -> AccountAction {
    match (exists, stored_password_logs_on) {
        (false, _) => AccountAction::Create,
        (true, true) => AccountAction::Keep,
        (true, false) => AccountAction::ResetPassword,
    }
}

/// A per-run SID of the `S-1-5-21-X-Y-Z-R` form (a machine-account shape
/// no real account has, from 16 random bytes). Capability SIDs
/// (`S-1-15-3-...`) alone are reported to make `CreateRestrictedToken`
/// fail with error 87 and the CLR refuse to start.
pub fn run_sid(random: [u8; 16]) -> String {
    let parts: Vec<String> = random
        .chunks_exact(4)
        .map(|c| u32::from_le_bytes([c[0], c[1], c[2], c[3]]).to_string())
        .collect();
    format!("S-1-5-21-{}", parts.join("-"))
}

/// The longest SID [`run_sid`] produces.
pub const LONGEST_RUN_SID: &str = "S-1-5-21-4294967295-4294967295-4294967295-4294967295";

/// The restricting SIDs of a run's write-restricted token: the run's SID
/// (granted on the writable roots) and the token's logon SID (granted by
/// its default DACL on the objects it creates). Refused: Everyone, a SID
/// that is not of the `S-1-5-21-` or logon (`S-1-5-5-`) form, or two equal
/// SIDs.
pub fn restricting_sids(run_sid: &str, logon_sid: &str) -> Result<Vec<String>, SandboxError> {
    let bad = |why: String| SandboxError::Layer {
        layer: "windows-token".into(),
        why,
        fix: "this is a bug in cordon; report it".into(),
    };
    if !is_sid(run_sid, "S-1-5-21-", 4) {
        return Err(bad(format!("{run_sid} is not a per-run S-1-5-21 SID")));
    }
    if !is_sid(logon_sid, "S-1-5-5-", 2) {
        return Err(bad(format!("{logon_sid} is not a logon SID")));
    }
    let sids = vec![run_sid.to_string(), logon_sid.to_string()];
    if sids.iter().any(|s| s == EVERYONE_SID) || run_sid.eq_ignore_ascii_case(logon_sid) {
        return Err(bad(format!(
            "restricting SIDs {sids:?} are not distinct run SIDs"
        )));
    }
    Ok(sids)
}

fn is_sid(sid: &str, prefix: &str, parts: usize) -> bool {
    sid.strip_prefix(prefix).is_some_and(|rest| {
        let numbers: Vec<&str> = rest.split('-').collect();
        numbers.len() == parts && numbers.iter().all(|n| n.parse::<u32>().is_ok())
    })
}

/// One run's hold on ACL grants of a sandbox account.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct GrantHold {
    /// The run (its run SID).
    pub run: String,
    /// The process id of the cordon that holds it.
    pub pid: u32,
    /// The process's creation time (`FILETIME` as u64), so a reused pid
    /// does not keep a dead run's hold.
    pub started: u64,
    /// The account's SID.
    pub account_sid: String,
    /// The objects granted (paths, or `winsta:NAME` for a window station).
    pub objects: Vec<String>,
}

/// The account grants runs hold, kept as JSON under the ACL lock; each
/// grant stays while one live run holds it.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct GrantLedger {
    /// Every hold.
    pub holds: Vec<GrantHold>,
}

impl GrantLedger {
    /// Records `hold`.
    pub fn acquire(&mut self, hold: GrantHold) {
        self.holds.retain(|h| h.run != hold.run);
        self.holds.push(hold);
    }

    /// Ends the hold of `run`, and of every run that `alive` says is gone
    /// (pid and start time), and returns the (account SID, object) grants
    /// no remaining hold names: those the executor revokes.
    pub fn release(
        &mut self,
        run: &str,
        alive: impl Fn(u32, u64) -> bool,
    ) -> Vec<(String, String)> {
        let (gone, kept): (Vec<GrantHold>, Vec<GrantHold>) = std::mem::take(&mut self.holds)
            .into_iter()
            .partition(|h| h.run == run || !alive(h.pid, h.started));
        self.holds = kept;
        let mut revoke: Vec<(String, String)> = gone
            .iter()
            .flat_map(|h| h.objects.iter().map(|o| (h.account_sid.clone(), o.clone())))
            .filter(|(sid, object)| {
                !self
                    .holds
                    .iter()
                    .any(|h| &h.account_sid == sid && h.objects.contains(object))
            })
            .collect();
        revoke.sort();
        revoke.dedup();
        revoke
    }
}

/// One firewall profile as read before a run.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ObservedProfile {
    /// `domain`, `private` or `public`.
    pub name: String,
    /// `INetFwPolicy2::get_FirewallEnabled` (the local setting).
    pub local_enabled: bool,
    /// `EnableFirewall` under
    /// `HKLM\SOFTWARE\Policies\Microsoft\WindowsFirewall\<Profile>`, which
    /// group policy writes and which overrides the local setting.
    pub policy_enabled: Option<bool>,
}

impl ObservedProfile {
    /// Whether the firewall is in force for this profile.
    pub fn effective(&self) -> bool {
        self.policy_enabled.unwrap_or(self.local_enabled)
    }
}

/// `NET_FW_MODIFY_STATE_OK`.
pub const MODIFY_STATE_OK: i32 = 0;

/// What `get_LocalPolicyModifyState` answered.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct ModifyState {
    /// The call returned `S_OK` (not `S_FALSE`, which the `windows`
    /// crate also turns into `Ok`: the answer does not cover every
    /// profile).
    pub s_ok: bool,
    /// The `NET_FW_MODIFY_STATE` value.
    pub state: i32,
}

/// Why the firewall's own state does not let cordon rely on its rules;
/// empty when it does: the local-policy modify state must be `S_OK` with
/// `NET_FW_MODIFY_STATE_OK`, and the firewall effectively on in every
/// profile.
pub fn firewall_state_problems(modify: ModifyState, profiles: &[ObservedProfile]) -> Vec<String> {
    let mut problems = Vec::new();
    if !modify.s_ok {
        problems.push(
            "LocalPolicyModifyState answered S_FALSE: rules added locally may not take effect in every profile".to_string(),
        );
    }
    match modify.state {
        MODIFY_STATE_OK => {}
        1 => problems.push(
            "group policy overrides local firewall rules (NET_FW_MODIFY_STATE_GP_OVERRIDE), so the rules setup added may not apply".to_string(),
        ),
        2 => problems.push(
            "local firewall rules do not take effect (NET_FW_MODIFY_STATE_INBOUND_BLOCKED)".to_string(),
        ),
        other => problems.push(format!("unknown local policy modify state {other}")),
    }
    for name in ["domain", "private", "public"] {
        match profiles.iter().find(|p| p.name == name) {
            None => problems.push(format!("the {name} profile's state could not be read")),
            Some(p) if !p.effective() => problems.push(match p.policy_enabled {
                Some(false) => {
                    format!("group policy turns Windows Firewall off for the {name} profile")
                }
                _ => format!("Windows Firewall is off for the {name} profile"),
            }),
            Some(_) => {}
        }
    }
    problems
}

/// Variables a logon-user run takes from the sandbox account's own
/// profile (`CreateEnvironmentBlock`), not from the caller's environment:
/// the caller's profile directories are not the account's to write.
pub const PROFILE_VARIABLES: [&str; 8] = [
    "USERPROFILE",
    "APPDATA",
    "LOCALAPPDATA",
    "HOMEDRIVE",
    "HOMEPATH",
    "USERNAME",
    "USERDOMAIN",
    "ONEDRIVE",
];

/// The [`PROFILE_VARIABLES`] of `profile_env` (the account's profile
/// environment), as additions that replace the caller's; a variable the
/// profile lacks is removed (empty value is not set: the pair is left out
/// and the caller's dropped by [`strip_profile_variables`]).
pub fn profile_overrides(profile_env: &[(String, String)]) -> Vec<(String, String)> {
    PROFILE_VARIABLES
        .iter()
        .filter_map(|name| {
            profile_env
                .iter()
                .find(|(k, _)| k.eq_ignore_ascii_case(name))
                .map(|(_, v)| ((*name).to_string(), v.clone()))
        })
        .collect()
}

/// `env` without the [`PROFILE_VARIABLES`].
pub fn strip_profile_variables(env: &[(String, String)]) -> Vec<(String, String)> {
    env.iter()
        .filter(|(k, _)| !PROFILE_VARIABLES.iter().any(|p| p.eq_ignore_ascii_case(k)))
        .cloned()
        .collect()
}

/// How a sandboxed process is started, for its console.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
#[serde(rename_all = "kebab-case")]
pub enum SandboxedStart {
    /// cordon's runner, as the sandbox account (`CreateProcessWithLogonW`).
    Runner,
    /// The command, by the runner (`CreateProcessAsUserW`).
    RunnerCommand,
    /// The command, by cordon under a restricted copy of your token
    /// (`CreateProcessAsUserW`).
    RestrictedTokenCommand,
}

/// The console flags (beyond `CREATE_SUSPENDED` and
/// `CREATE_UNICODE_ENVIRONMENT`) each sandboxed start passes, by the
/// process-creation-flags documentation:
/// * the runner: none. `CreateProcessWithLogonW` always adds
///   `CREATE_NEW_CONSOLE` (and `CREATE_NEW_PROCESS_GROUP`), and
///   `CREATE_NO_WINDOW` "is ignored if ... used with CREATE_NEW_CONSOLE";
///   the runner's console is made on the run's private desktop;
/// * the runner's command: none, so it shares that private console;
/// * a restricted-token command: `CREATE_NO_WINDOW`, so it gets a console
///   of its own without a window instead of attaching to yours (from
///   which it could open `CONIN$` and queue input for your shell).
pub fn console_flags(start: SandboxedStart) -> &'static [&'static str] {
    match start {
        SandboxedStart::Runner | SandboxedStart::RunnerCommand => &[],
        SandboxedStart::RestrictedTokenCommand => &["CREATE_NO_WINDOW"],
    }
}

/// One sandboxed start and its console flags, as the plan lists them.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct ConsoleStart {
    /// Which start.
    pub start: SandboxedStart,
    /// Its flags ([`console_flags`]).
    pub flags: Vec<String>,
}

/// Where a sandboxed process's standard input comes from.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
#[serde(rename_all = "kebab-case")]
pub enum SandboxStdin {
    /// cordon's own standard input (a pipe or a file).
    Inherit,
    /// The `NUL` device: cordon's standard input is a console, whose input
    /// buffer a sandboxed process could write to (`WriteConsoleInput`),
    /// queueing keystrokes your shell reads after the run (the Windows
    /// form of `TIOCSTI`).
    NullDevice,
}

/// A console as standard input is never handed to a sandboxed process.
pub fn sandboxed_stdin(stdin_is_console: bool) -> SandboxStdin {
    if stdin_is_console {
        SandboxStdin::NullDevice
    } else {
        SandboxStdin::Inherit
    }
}

#[cfg(test)]
#[path = "host_tests.rs"]
mod tests;
