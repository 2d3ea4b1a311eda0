use super::*;
use crate::plan::windows::{setup_decision, SetupDecision, SetupMarker, MARKER_VERSION};

const ME: &str = "S-1-5-21-10-20-30-1001";
const ADMIN: &str = "S-1-5-21-10-20-30-500";
const ALICE: &str = "S-1-5-21-10-20-30-1005";
const OFFLINE: &str = "S-1-5-21-10-20-30-1010";

fn caller(elevated: bool, user: &str, home_owner: Option<&str>) -> SetupCaller {
    SetupCaller {
        elevated,
        user_sid: user.into(),
        session_user_sid: Some(user.into()),
        home_owner_sid: home_owner.map(str::to_string),
        ..SetupCaller::default()
    }
}

/// A standard user (alice) elevated with the administrator's credentials:
/// the token is the administrator's, the session is alice's.
fn over_the_shoulder(home_owner: Option<&str>) -> SetupCaller {
    SetupCaller {
        session_user_sid: Some(ALICE.into()),
        ..caller(true, ADMIN, home_owner)
    }
}

fn refusal(c: &SetupCaller) -> String {
    setup_target(c).unwrap_err().to_string()
}

#[test]
fn unelevated_setup_is_refused_before_anything_changes() {
    let why = refusal(&caller(false, ME, Some(ME)));
    assert!(why.contains("elevated"), "{why}");
    assert!(why.contains("nothing was changed"), "{why}");
    assert!(admin_refusal(&caller(false, ME, None)).is_some());
    // Positive control: the same user, elevated, may set up, for
    // themselves, in the user scope.
    for owner in [Some(ME), None, Some(ADMINISTRATORS_SID)] {
        assert_eq!(
            setup_target(&caller(true, ME, owner)).unwrap(),
            SetupTarget {
                user_sid: ME.into(),
                scope: PasswordScope::User
            }
        );
    }
    assert!(admin_refusal(&caller(true, ME, None)).is_none());
}

#[test]
fn local_system_is_refused_even_when_elevated() {
    let why = refusal(&caller(true, LOCAL_SYSTEM_SID, None));
    assert!(why.contains("LocalSystem"), "{why}");
    assert!(why.contains("CreateProcessWithLogonW"), "{why}");
    assert!(admin_refusal(&caller(true, LOCAL_SYSTEM_SID, None)).is_some());
}

#[test]
fn over_the_shoulder_elevation_sets_up_for_the_session_user_in_the_machine_scope() {
    assert_eq!(
        setup_target(&over_the_shoulder(Some(ALICE))).unwrap(),
        SetupTarget {
            user_sid: ALICE.into(),
            scope: PasswordScope::Machine
        }
    );
}

#[test]
fn over_the_shoulder_with_the_administrators_own_home_is_refused() {
    // CORDON_HOME resolved in the administrator's profile: alice's runs
    // would never find what setup stores there.
    let why = refusal(&over_the_shoulder(Some(ADMIN)));
    assert!(why.contains(ALICE) && why.contains(ADMIN), "{why}");
    assert!(why.contains("administrator's profile"), "{why}");
    // Owned by the Administrators group (made by an elevated process):
    // not alice's either.
    let why = refusal(&over_the_shoulder(Some(ADMINISTRATORS_SID)));
    assert!(why.contains("not S-1-5-21-10-20-30-1005"), "{why}");
    // Not there at all.
    let why = refusal(&over_the_shoulder(None));
    assert!(why.contains("does not exist"), "{why}");
}

#[test]
fn an_explicit_for_user_names_the_target() {
    // The administrator runs cordon themselves from alice's session.
    let mut c = over_the_shoulder(Some(ADMIN));
    c.for_user_sid = Some(ADMIN.into());
    assert_eq!(
        setup_target(&c).unwrap(),
        SetupTarget {
            user_sid: ADMIN.into(),
            scope: PasswordScope::User
        }
    );
    // From an SSH session (no session user), for alice.
    let mut c = caller(true, ADMIN, Some(ALICE));
    c.session_user_sid = None;
    c.for_user_sid = Some(ALICE.into());
    assert_eq!(setup_target(&c).unwrap().scope, PasswordScope::Machine);
    // Without --for-user, alice's home is refused (for whom is unclear).
    c.for_user_sid = None;
    let why = refusal(&c);
    assert!(why.contains("--for-user"), "{why}");
}

#[test]
fn a_sandbox_account_or_a_non_user_is_never_the_target() {
    let mut c = caller(true, ADMIN, Some(OFFLINE));
    c.for_user_sid = Some(OFFLINE.into());
    c.sandbox_account_sids = vec![OFFLINE.into()];
    let why = refusal(&c);
    assert!(why.contains("sandbox account"), "{why}");
    for sid in ["S-1-5-18", "S-1-5-19", "S-1-1-0", ADMINISTRATORS_SID] {
        let mut c = caller(true, ADMIN, Some(sid));
        c.for_user_sid = Some(sid.into());
        let why = refusal(&c);
        assert!(why.contains("not a user account"), "{sid}: {why}");
    }
}

#[test]
fn another_users_home_through_a_junction_is_refused() {
    let mut c = over_the_shoulder(Some(ALICE));
    c.home_reparse_point = Some("C:\\Users\\alice\\.cordon\\windows-sandbox".into());
    let why = refusal(&c);
    assert!(why.contains("junction or symbolic link"), "{why}");
    // The same link in your own home is yours to make.
    let mut c = caller(true, ME, Some(ME));
    c.home_reparse_point = Some("C:\\Users\\me\\.cordon".into());
    assert!(setup_target(&c).is_ok());
}

#[test]
fn password_files_admit_only_system_administrators_and_the_target() {
    let machine = SetupTarget {
        user_sid: ALICE.into(),
        scope: PasswordScope::Machine,
    };
    let sddl = password_file_sddl(&machine);
    assert_eq!(
        sddl,
        format!("D:P(A;;FA;;;SY)(A;;FA;;;BA)(A;;FR;;;{ALICE})")
    );
    // Protected (no inherited Users entry), and nothing for Users (BU),
    // Everyone (WD), Authenticated Users (AU) or the sandbox account.
    assert!(sddl.starts_with("D:P"));
    for other in [";BU)", ";WD)", ";AU)", OFFLINE] {
        assert!(!sddl.contains(other), "{other}");
    }
    let user = SetupTarget {
        user_sid: ME.into(),
        scope: PasswordScope::User,
    };
    assert!(password_file_sddl(&user).ends_with(&format!("(A;;FA;;;{ME})")));
}

#[test]
fn runs_by_another_user_than_setup_was_for_are_refused() {
    assert!(marker_user_refusal(Some(ALICE), ALICE).is_none());
    assert!(marker_user_refusal(Some(ALICE), &ALICE.to_lowercase()).is_none());
    let why = marker_user_refusal(Some(ALICE), ME).unwrap().to_string();
    assert!(why.contains(ALICE) && why.contains(ME), "{why}");
    assert!(marker_user_refusal(None, ME).is_some());
}

#[test]
fn who_setup_was_for_does_not_make_runs_rerun_setup() {
    let wanted = SetupMarker {
        version: MARKER_VERSION,
        proxy_ports: vec![47128],
        allow_local_binding: false,
        for_user: None,
        password_scope: None,
    };
    let written = SetupMarker {
        for_user: Some(ALICE.into()),
        password_scope: Some(PasswordScope::Machine),
        ..wanted.clone()
    };
    assert_eq!(
        setup_decision(Some(&written), &wanted),
        SetupDecision::UpToDate
    );
    // A version-2 marker (before for_user) parses and makes setup run.
    let old: SetupMarker =
        serde_json::from_str(r#"{"version":2,"proxy_ports":[47128],"allow_local_binding":false}"#)
            .unwrap();
    assert!(old.for_user.is_none());
    assert!(matches!(
        setup_decision(Some(&old), &wanted),
        SetupDecision::Run { .. }
    ));
    let text = serde_json::to_string(&written).unwrap();
    assert!(
        text.contains(r#""for_user":"S-1-5-21-10-20-30-1005""#),
        "{text}"
    );
    assert!(text.contains(r#""password_scope":"machine""#), "{text}");
}
