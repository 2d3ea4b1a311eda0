use super::*;

#[test]
fn working_passwords_are_kept() {
    assert_eq!(account_action(false, false), AccountAction::Create);
    assert_eq!(account_action(false, true), AccountAction::Create);
    assert_eq!(account_action(true, true), AccountAction::Keep);
    assert_eq!(account_action(true, false), AccountAction::ResetPassword);
}

#[test]
fn run_sids_are_random_machine_form_sids() {
    assert_eq!(run_sid([0; 16]), "S-1-5-21-0-0-0-0");
    assert_eq!(run_sid([0xff; 16]), LONGEST_RUN_SID);
    let mut bytes = [0u8; 16];
    bytes[0] = 1;
    bytes[15] = 1;
    assert_eq!(run_sid(bytes), "S-1-5-21-1-0-0-16777216");
}

#[test]
fn restricting_sids_are_the_run_sid_and_the_logon_sid_never_everyone() {
    let run = run_sid([7; 16]);
    let logon = "S-1-5-5-0-123456";
    let sids = restricting_sids(&run, logon).unwrap();
    assert_eq!(sids, vec![run.clone(), logon.to_string()]);
    assert!(!sids.iter().any(|s| s == EVERYONE_SID));
    assert!(!sids.iter().any(|s| s.starts_with("S-1-15-3-")));
    // Everyone, a capability SID, a user SID of the wrong shape, or a
    // non-logon SID in the logon place are refused.
    for (r, l) in [
        (EVERYONE_SID, logon),
        ("S-1-15-3-1024-1-2-3-4", logon),
        ("S-1-5-21-1-2-3", logon),
        ("S-1-5-21-1-2-3-x", logon),
        (run.as_str(), EVERYONE_SID),
        (run.as_str(), "S-1-5-21-1-2-3-4"),
        (run.as_str(), "S-1-5-5-0"),
    ] {
        assert!(restricting_sids(r, l).is_err(), "{r} {l}");
    }
}

fn hold(run: &str, pid: u32, account: &str, objects: &[&str]) -> GrantHold {
    GrantHold {
        run: run.into(),
        pid,
        started: u64::from(pid) * 10,
        account_sid: account.into(),
        objects: objects.iter().map(|o| (*o).to_string()).collect(),
    }
}

const OFFLINE: &str = "S-1-5-21-1-2-3-1002";
const ONLINE: &str = "S-1-5-21-1-2-3-1003";

#[test]
fn account_grants_are_revoked_when_the_last_run_holding_them_ends() {
    let mut ledger = GrantLedger::default();
    ledger.acquire(hold("a", 1, OFFLINE, &["C:\\w", "winsta:WinSta0"]));
    ledger.acquire(hold("b", 2, OFFLINE, &["C:\\w", "C:\\other"]));
    ledger.acquire(hold("c", 3, ONLINE, &["C:\\w"]));
    let alive = |_: u32, _: u64| true;
    // Run a ends: C:\w is still held by b for the same account.
    assert_eq!(
        ledger.release("a", alive),
        vec![(OFFLINE.to_string(), "winsta:WinSta0".to_string())]
    );
    // Run b ends: everything of offline goes; online's stays.
    assert_eq!(
        ledger.release("b", alive),
        vec![
            (OFFLINE.to_string(), "C:\\other".to_string()),
            (OFFLINE.to_string(), "C:\\w".to_string())
        ]
    );
    assert_eq!(ledger.holds.len(), 1);
    assert_eq!(
        ledger.release("c", alive),
        vec![(ONLINE.to_string(), "C:\\w".to_string())]
    );
    assert!(ledger.holds.is_empty());
    // Releasing an unknown run revokes nothing.
    assert!(ledger.release("zzz", alive).is_empty());
}

#[test]
fn holds_of_dead_runs_are_released_with_the_next_run() {
    let mut ledger = GrantLedger::default();
    ledger.acquire(hold("killed", 7, OFFLINE, &["C:\\old"]));
    ledger.acquire(hold("live", 8, OFFLINE, &["C:\\w"]));
    ledger.acquire(hold("mine", 9, OFFLINE, &["C:\\w"]));
    // pid 7 is gone (or reused with another start time).
    let alive = |pid: u32, started: u64| pid != 7 && started == u64::from(pid) * 10;
    assert_eq!(
        ledger.release("mine", alive),
        vec![(OFFLINE.to_string(), "C:\\old".to_string())]
    );
    assert_eq!(ledger.holds.len(), 1);
    assert_eq!(ledger.holds[0].run, "live");
    // A run acquiring twice keeps one hold.
    ledger.acquire(hold("live", 8, OFFLINE, &["C:\\w", "C:\\x"]));
    assert_eq!(ledger.holds.len(), 1);
    let text = serde_json::to_string(&ledger).unwrap();
    let back: GrantLedger = serde_json::from_str(&text).unwrap();
    assert_eq!(back, ledger);
}

#[test]
fn firewall_state_needs_s_ok_and_every_profile_on() {
    let on = |name: &str| ObservedProfile {
        name: name.into(),
        local_enabled: true,
        policy_enabled: None,
    };
    let all = vec![on("domain"), on("private"), on("public")];
    let ok = ModifyState {
        s_ok: true,
        state: MODIFY_STATE_OK,
    };
    assert!(firewall_state_problems(ok, &all).is_empty());
    let s_false = ModifyState { s_ok: false, ..ok };
    let problems = firewall_state_problems(s_false, &all);
    assert_eq!(problems.len(), 1);
    assert!(problems[0].contains("S_FALSE"));
    let mut gp_off = all.clone();
    gp_off[1].policy_enabled = Some(false);
    let problems = firewall_state_problems(ok, &gp_off);
    assert_eq!(problems.len(), 1);
    assert!(problems[0].contains("group policy turns Windows Firewall off for the private"));
    // Group policy turning a locally-off profile on is in force.
    let mut gp_on = all.clone();
    gp_on[2].local_enabled = false;
    gp_on[2].policy_enabled = Some(true);
    assert!(firewall_state_problems(ok, &gp_on).is_empty());
}

#[test]
fn profile_variables_come_from_the_accounts_profile() {
    let caller_env = vec![
        ("USERPROFILE".to_string(), "C:\\Users\\me".to_string()),
        (
            "appdata".to_string(),
            "C:\\Users\\me\\AppData\\Roaming".to_string(),
        ),
        ("PATH".to_string(), "C:\\bin".to_string()),
    ];
    let stripped = strip_profile_variables(&caller_env);
    assert_eq!(stripped, vec![("PATH".to_string(), "C:\\bin".to_string())]);
    let profile = vec![
        (
            "USERPROFILE".to_string(),
            "C:\\Users\\cordon-offline".to_string(),
        ),
        (
            "LocalAppData".to_string(),
            "C:\\Users\\cordon-offline\\AppData\\Local".to_string(),
        ),
        ("PATH".to_string(), "C:\\Windows".to_string()),
    ];
    assert_eq!(
        profile_overrides(&profile),
        vec![
            (
                "USERPROFILE".to_string(),
                "C:\\Users\\cordon-offline".to_string()
            ),
            (
                "LOCALAPPDATA".to_string(),
                "C:\\Users\\cordon-offline\\AppData\\Local".to_string()
            ),
        ]
    );
}

#[test]
fn only_a_restricted_token_command_needs_no_window() {
    // CreateProcessWithLogonW always makes a new console, with which
    // CREATE_NO_WINDOW is documented as ignored: not passed.
    assert!(console_flags(SandboxedStart::Runner).is_empty());
    assert!(console_flags(SandboxedStart::RunnerCommand).is_empty());
    assert_eq!(
        console_flags(SandboxedStart::RestrictedTokenCommand),
        ["CREATE_NO_WINDOW"]
    );
}

#[test]
fn a_console_is_never_a_sandboxed_stdin() {
    assert_eq!(sandboxed_stdin(true), SandboxStdin::NullDevice);
    assert_eq!(sandboxed_stdin(false), SandboxStdin::Inherit);
}
