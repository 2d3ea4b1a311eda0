use super::*;

#[test]
fn sandbox_modes_are_spelled_as_in_config_and_parse_back() {
    for (mode, text) in [
        (SandboxMode::ReadOnly, "read-only"),
        (SandboxMode::WorkspaceWrite, "workspace-write"),
        (SandboxMode::DangerFullAccess, "danger-full-access"),
    ] {
        assert_eq!(mode.as_str(), text);
        assert_eq!(mode.to_string(), text);
        assert_eq!(text.parse::<SandboxMode>(), Ok(mode));
    }
    let err = "read_only".parse::<SandboxMode>().unwrap_err();
    assert!(err.contains("`read_only`"), "{err}");
}

#[test]
fn network_modes_are_spelled_as_in_config_and_parse_back() {
    for (mode, text) in [
        (NetworkMode::None, "none"),
        (NetworkMode::Proxy, "proxy"),
        (NetworkMode::Full, "full"),
    ] {
        assert_eq!(mode.as_str(), text);
        assert_eq!(mode.to_string(), text);
        assert_eq!(text.parse::<NetworkMode>(), Ok(mode));
    }
    let err = "all".parse::<NetworkMode>().unwrap_err();
    assert!(err.contains("`all`"), "{err}");
}

#[test]
fn approval_policies_are_spelled_as_in_config() {
    for (policy, text) in [
        (ApprovalPolicy::Untrusted, "untrusted"),
        (ApprovalPolicy::OnFailure, "on-failure"),
        (ApprovalPolicy::OnRequest, "on-request"),
        (ApprovalPolicy::Never, "never"),
    ] {
        assert_eq!(policy.as_str(), text);
        assert_eq!(policy.to_string(), text);
    }
}
