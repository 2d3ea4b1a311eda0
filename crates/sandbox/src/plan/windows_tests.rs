use super::*;
use cordon_policy::{ProtectedPath, WritableRoot};

const MODES: [SandboxMode; 3] = [
    SandboxMode::ReadOnly,
    SandboxMode::WorkspaceWrite,
    SandboxMode::DangerFullAccess,
];
const NETWORKS: [NetworkMode; 3] = [NetworkMode::None, NetworkMode::Proxy, NetworkMode::Full];

fn policy(mode: SandboxMode, network: NetworkMode) -> SandboxPolicy {
    let writable_roots = if mode == SandboxMode::WorkspaceWrite {
        vec![
            WritableRoot {
                root: "/w".into(),
                protected: vec![
                    ProtectedPath {
                        path: "/w/.cordon".into(),
                        kind: ProtectedKind::Missing,
                    },
                    ProtectedPath {
                        path: "/w/.git".into(),
                        kind: ProtectedKind::Existing,
                    },
                    // A gitdir pointing at another root must not freeze it.
                    ProtectedPath {
                        path: "/w/sub".into(),
                        kind: ProtectedKind::Existing,
                    },
                ],
            },
            WritableRoot {
                root: "/w/sub".into(),
                protected: vec![],
            },
        ]
    } else {
        vec![]
    };
    SandboxPolicy {
        mode,
        network,
        cwd: "/w".into(),
        writable_roots,
        missing_roots: vec![],
        warnings: vec![],
        pins: Default::default(),
    }
}

fn options(sandbox: WindowsSandbox) -> WindowsOptions {
    WindowsOptions {
        sandbox,
        proxy_port: 3128,
        proxy_token: "t0k3n".into(),
        cordon_exe: "cordon.exe".into(),
        ..Default::default()
    }
}

fn argv() -> Vec<OsString> {
    vec!["cmd.exe".into(), "/c".into(), "echo hi".into()]
}

fn env(pairs: &[(&str, &str)]) -> Vec<(String, String)> {
    pairs
        .iter()
        .map(|(k, v)| (k.to_string(), v.to_string()))
        .collect()
}

#[test]
fn identity_for_every_mode_and_network() {
    for mode in MODES {
        for network in NETWORKS {
            let expected = match (mode, network) {
                (SandboxMode::DangerFullAccess, _) => None,
                (_, NetworkMode::Full) => Some(Identity::Online),
                (_, NetworkMode::None | NetworkMode::Proxy) => Some(Identity::Offline),
            };
            assert_eq!(select_identity(mode, network), expected, "{mode} {network}");
            let plan = plan_windows(
                &policy(mode, network),
                &argv(),
                &options(WindowsSandbox::Elevated),
            )
            .unwrap();
            assert_eq!(plan.identity, expected, "{mode} {network}");
        }
    }
}

#[test]
fn launch_for_every_mode_network_and_requested_sandbox() {
    for mode in MODES {
        for network in NETWORKS {
            for requested in [WindowsSandbox::Elevated, WindowsSandbox::Unelevated] {
                let plan =
                    plan_windows(&policy(mode, network), &argv(), &options(requested)).unwrap();
                let expected = match (mode, network, requested) {
                    (SandboxMode::DangerFullAccess, _, _) => Launch::Unsandboxed,
                    (_, _, WindowsSandbox::Elevated) => Launch::LogonUser,
                    // No accounts set up (no marker): nothing a restricted
                    // token could read.
                    (_, NetworkMode::Full, WindowsSandbox::Unelevated) => Launch::RestrictedToken,
                    // Network enforcement needs the offline account.
                    (_, _, WindowsSandbox::Unelevated) => Launch::LogonUser,
                };
                assert_eq!(plan.launch, expected, "{mode} {network} {requested:?}");
            }
        }
    }
}

#[test]
fn proxy_run_is_moved_to_logon_user_and_says_why() {
    let plan = plan_windows(
        &policy(SandboxMode::WorkspaceWrite, NetworkMode::Proxy),
        &argv(),
        &options(WindowsSandbox::Unelevated),
    )
    .unwrap();
    assert_eq!(plan.launch, Launch::LogonUser);
    assert_eq!(plan.identity, Some(Identity::Offline));
    assert!(
        plan.launch_reason.contains("unelevated"),
        "{}",
        plan.launch_reason
    );
    assert_eq!(
        plan.trustee,
        Trustee::AccountAndRunSid {
            name: "cordon-offline".into()
        }
    );
    // The runner is what starts as the account (the command's own line
    // travels in the environment).
    let runner = plan.runner_command_line.as_deref().unwrap();
    assert_eq!(
        split_like_msvcrt(runner),
        vec![
            "cordon.exe",
            "sandbox",
            "windows-runner",
            "--run-sid",
            "RUN-SID",
        ]
    );
    assert_eq!(plan.runner_exe, Some(PathBuf::from("cordon.exe")));
}

#[test]
fn ports_from_both_cases_deduplicated_and_sorted() {
    let e = env(&[
        ("http_proxy", "http://127.0.0.1:3128"),
        ("HTTPS_PROXY", "http://localhost:3128/"),
        ("ALL_PROXY", "socks5h://127.0.0.1:1081"),
        ("ws_proxy", "http://127.5.6.7:9000"),
        ("WSS_PROXY", "http://[::1]:9001"),
        ("PATH", "http://127.0.0.1:1"),
    ]);
    assert_eq!(proxy_ports_from_env(&e), vec![1081, 3128, 9000, 9001]);
}

#[test]
fn ports_ignore_credentials_and_non_loopback_hosts() {
    assert_eq!(
        loopback_proxy_port("http://user:p%40ss@127.0.0.1:8080"),
        Some(8080)
    );
    assert_eq!(
        loopback_proxy_port("http://user:p@ss@localhost:8081/x"),
        Some(8081)
    );
    // Credentials naming loopback do not make a remote host loopback.
    assert_eq!(
        loopback_proxy_port("http://127.0.0.1:1@proxy.example:8080"),
        None
    );
    assert_eq!(loopback_proxy_port("http://10.0.0.1:3128"), None);
    assert_eq!(loopback_proxy_port("http://proxy.example:3128"), None);
    assert_eq!(loopback_proxy_port("http://[2001:db8::1]:3128"), None);
    assert_eq!(loopback_proxy_port("http://[::ffff:10.0.0.1]:3128"), None);
    assert_eq!(loopback_proxy_port("http://localhost.example:3128"), None);
    assert_eq!(loopback_proxy_port("LOCALHOST:3130"), Some(3130));
    assert_eq!(loopback_proxy_port("http://[::1]:3131"), Some(3131));
    assert_eq!(
        loopback_proxy_port("http://[0:0:0:0:0:0:0:1]:3132"),
        Some(3132)
    );
    assert_eq!(
        loopback_proxy_port("http://127.255.255.254:3133"),
        Some(3133)
    );
}

#[test]
fn ports_reject_zero_and_garbage_and_default_by_scheme() {
    assert_eq!(loopback_proxy_port("http://127.0.0.1:0"), None);
    assert_eq!(loopback_proxy_port("http://127.0.0.1:65536"), None);
    assert_eq!(loopback_proxy_port("http://127.0.0.1:abc"), None);
    assert_eq!(loopback_proxy_port("http://[::1"), None);
    assert_eq!(loopback_proxy_port(""), None);
    assert_eq!(loopback_proxy_port("http://localhost"), Some(80));
    assert_eq!(loopback_proxy_port("https://localhost"), Some(443));
    assert_eq!(loopback_proxy_port("socks5h://[::1]"), Some(1080));
    assert_eq!(loopback_proxy_port("localhost"), None, "no scheme, no port");
    let e = env(&[
        ("HTTP_PROXY", "http://127.0.0.1:0"),
        ("HTTPS_PROXY", "http://10.1.1.1:3128"),
    ]);
    assert!(proxy_ports_from_env(&e).is_empty());
}

#[test]
fn enforced_proxy_without_a_usable_port_is_an_error() {
    let mut o = options(WindowsSandbox::Elevated);
    o.proxy_port = 0;
    let err = plan_windows(
        &policy(SandboxMode::ReadOnly, NetworkMode::Proxy),
        &argv(),
        &o,
    )
    .unwrap_err();
    match err {
        SandboxError::Layer { layer, why, fix } => {
            assert_eq!(layer, "windows-firewall");
            assert!(why.contains("HTTP_PROXY"), "{why}");
            assert!(!fix.is_empty());
        }
        other => panic!("unexpected {other:?}"),
    }
    // Not enforced: no error, no ports.
    let plan = plan_windows(
        &policy(SandboxMode::ReadOnly, NetworkMode::None),
        &argv(),
        &o,
    )
    .unwrap();
    assert!(plan.proxy_ports.is_empty());
}

#[test]
fn inherited_proxy_variables_are_overridden_by_cordons() {
    let mut o = options(WindowsSandbox::Elevated);
    o.inherited_env = env(&[
        ("HTTP_PROXY", "http://127.0.0.1:9999"),
        ("wss_proxy", "http://127.0.0.1:9998"),
        ("Ws_Proxy", "http://127.0.0.1:9997"),
    ]);
    let plan = plan_windows(
        &policy(SandboxMode::ReadOnly, NetworkMode::Proxy),
        &argv(),
        &o,
    )
    .unwrap();
    assert_eq!(plan.proxy_ports, vec![3128]);
}

#[test]
fn firewall_rules_block_only_non_loopback_traffic() {
    let rules = firewall_rules();
    let names: Vec<&str> = rules.iter().map(|r| r.name.as_str()).collect();
    assert_eq!(names, vec![RULE_NON_LOOPBACK_V4, RULE_NON_LOOPBACK_V6]);
    for r in &rules {
        assert_eq!(r.direction, Direction::Out);
        assert_eq!(r.action, FirewallAction::Block);
        assert_eq!(r.protocol, Protocol::Any);
        assert_eq!(r.remote_ports, "*");
    }
    assert_eq!(rules[0].remote_addresses, NON_LOOPBACK_V4);
    assert_eq!(rules[1].remote_addresses, NON_LOOPBACK_V6);
    // The loopback rules of earlier setups are removed by name.
    for legacy in LEGACY_RULE_NAMES {
        assert!(ALL_RULE_NAMES.contains(&legacy));
        assert!(!names.contains(&legacy));
    }
}

#[test]
fn plan_rules_are_consistent_with_the_proxy_port() {
    let plan = plan_windows(
        &policy(SandboxMode::WorkspaceWrite, NetworkMode::Proxy),
        &argv(),
        &options(WindowsSandbox::Elevated),
    )
    .unwrap();
    assert_eq!(plan.proxy_ports, vec![3128]);
    assert_eq!(plan.setup_marker.proxy_ports, vec![3128]);
    let permits: Vec<&WfpFilter> = plan
        .wfp_filters
        .iter()
        .filter(|f| f.action == WfpAction::Permit)
        .collect();
    assert_eq!(permits.len(), 2);
    for p in permits {
        assert_eq!(p.conditions.remote_ports, vec![3128]);
    }
    let http = plan.env.iter().find(|(k, _)| k == "HTTP_PROXY").unwrap();
    assert_eq!(http.1, "http://cordon:t0k3n@127.0.0.1:3128");
    // The token is stripped when the ports are read back from the URLs.
    assert_eq!(proxy_ports_from_env(&plan.env), vec![3128]);
}

#[test]
fn online_runs_get_no_firewall_rules() {
    let plan = plan_windows(
        &policy(SandboxMode::WorkspaceWrite, NetworkMode::Full),
        &argv(),
        &options(WindowsSandbox::Elevated),
    )
    .unwrap();
    assert!(plan.firewall_rules.is_empty());
    assert!(plan.wfp_filters.is_empty());
    assert!(plan.proxy_ports.is_empty());
}

#[test]
fn acl_grants_and_denies() {
    let plan = plan_windows(
        &policy(SandboxMode::WorkspaceWrite, NetworkMode::None),
        &argv(),
        &options(WindowsSandbox::Elevated),
    )
    .unwrap();
    let paths = |e: &[AclEntry]| -> Vec<PathBuf> { e.iter().map(|a| a.path.clone()).collect() };
    assert_eq!(
        paths(&plan.writable_roots),
        vec![PathBuf::from("/w"), "/w/sub".into()]
    );
    assert!(plan
        .writable_roots
        .iter()
        .all(|a| a.access == AclAccess::Modify));
    assert_eq!(
        paths(&plan.protected_paths),
        vec![PathBuf::from("/w/.cordon"), "/w/.git".into()],
        "a protected path that is itself a root is not denied"
    );
    assert!(plan
        .protected_paths
        .iter()
        .all(|a| a.access == AclAccess::DenyWrite));
    assert_eq!(plan.placeholders, vec![PathBuf::from("/w/.cordon")]);
    assert_eq!(paths(&plan.readable_roots), vec![PathBuf::from("/w")]);
    // The root holding .git and .cordon cannot be renamed away; /w/sub
    // holds nothing protected.
    assert_eq!(paths(&plan.fixed_directories), vec![PathBuf::from("/w")]);
    assert!(plan
        .fixed_directories
        .iter()
        .all(|a| a.access == AclAccess::DenyDelete));

    let ro = plan_windows(
        &policy(SandboxMode::ReadOnly, NetworkMode::None),
        &argv(),
        &options(WindowsSandbox::Elevated),
    )
    .unwrap();
    assert!(ro.writable_roots.is_empty() && ro.protected_paths.is_empty());
    assert!(ro.fixed_directories.is_empty());

    let rt = plan_windows(
        &policy(SandboxMode::WorkspaceWrite, NetworkMode::Full),
        &argv(),
        &options(WindowsSandbox::Unelevated),
    )
    .unwrap();
    assert_eq!(rt.trustee, Trustee::RunSid);
    assert_eq!(rt.writable_roots.len(), 2);
    assert!(rt.readable_roots.is_empty());
    assert_eq!(rt.runner_command_line, None, "no account, no runner");
    assert_eq!(rt.runner_exe, None);
    assert_eq!(paths(&rt.fixed_directories), vec![PathBuf::from("/w")]);
}

#[test]
fn env_marks_the_sandbox_and_is_empty_without_one() {
    let plan = plan_windows(
        &policy(SandboxMode::ReadOnly, NetworkMode::None),
        &argv(),
        &options(WindowsSandbox::Elevated),
    )
    .unwrap();
    assert_eq!(
        plan.env,
        env(&[("CORDON_SANDBOX", "1"), ("CORDON_NETWORK", "none")])
    );
    let plan = plan_windows(
        &policy(SandboxMode::DangerFullAccess, NetworkMode::Proxy),
        &argv(),
        &options(WindowsSandbox::Elevated),
    )
    .unwrap();
    assert!(plan.env.is_empty() && plan.proxy_ports.is_empty());
    assert_eq!(plan.setup, SetupDecision::NotNeeded);
}

fn marker(ports: &[u16], allow_local_binding: bool) -> SetupMarker {
    SetupMarker {
        version: MARKER_VERSION,
        proxy_ports: ports.to_vec(),
        allow_local_binding,
        for_user: None,
        password_scope: None,
    }
}

#[test]
fn marker_decision() {
    assert!(matches!(
        setup_decision(None, &marker(&[3128], false)),
        SetupDecision::Run { .. }
    ));
    assert_eq!(
        setup_decision(Some(&marker(&[3128], false)), &marker(&[3128], false)),
        SetupDecision::UpToDate
    );
    let SetupDecision::Run { reason } =
        setup_decision(Some(&marker(&[3128], false)), &marker(&[3129], false))
    else {
        panic!("ports differ")
    };
    assert_eq!(reason, "proxy ports changed from 3128 to 3129");
    let SetupDecision::Run { reason } =
        setup_decision(Some(&marker(&[3128], false)), &marker(&[3128], true))
    else {
        panic!("flag differs")
    };
    assert_eq!(reason, "allow_local_binding changed from false to true");
    let SetupDecision::Run { reason } =
        setup_decision(Some(&marker(&[], true)), &marker(&[1, 2], false))
    else {
        panic!("both differ")
    };
    assert!(reason.contains("from none to 1,2") && reason.contains("allow_local_binding"));
    let mut old = marker(&[3128], false);
    old.version = 0;
    assert!(matches!(
        setup_decision(Some(&old), &marker(&[3128], false)),
        SetupDecision::Run { .. }
    ));
}

#[test]
fn plan_reports_stale_setup_and_keeps_marker_ports_for_network_none() {
    let mut o = options(WindowsSandbox::Elevated);
    o.marker = Some(marker(&[4000], false));
    let plan = plan_windows(
        &policy(SandboxMode::ReadOnly, NetworkMode::Proxy),
        &argv(),
        &o,
    )
    .unwrap();
    assert!(
        matches!(plan.setup, SetupDecision::Run { ref reason } if reason.contains("4000 to 3128"))
    );
    let plan = plan_windows(
        &policy(SandboxMode::ReadOnly, NetworkMode::None),
        &argv(),
        &o,
    )
    .unwrap();
    assert_eq!(plan.setup, SetupDecision::UpToDate);
    assert_eq!(plan.setup_marker.proxy_ports, vec![4000]);
    assert_eq!(preferred_proxy_port(o.marker.as_ref()), 4000);
    assert_eq!(preferred_proxy_port(None), DEFAULT_PROXY_PORT);
}

#[test]
fn log_denials_is_refused() {
    let mut o = options(WindowsSandbox::Elevated);
    o.log_denials = true;
    let err = plan_windows(
        &policy(SandboxMode::ReadOnly, NetworkMode::None),
        &argv(),
        &o,
    );
    assert!(matches!(err, Err(SandboxError::Unsupported(_))));
}

#[test]
fn command_line_quoting() {
    let cl =
        |args: &[&str]| command_line(&args.iter().map(OsString::from).collect::<Vec<_>>()).unwrap();
    assert_eq!(cl(&["a", "b c", ""]), r#"a "b c" """#);
    assert_eq!(cl(&[r"C:\dir\", r"x\y"]), r"C:\dir\ x\y");
    assert_eq!(cl(&[r"C:\my dir\"]), r#""C:\my dir\\""#);
    assert_eq!(cl(&[r#"say "hi""#]), r#""say \"hi\"""#);
    assert_eq!(cl(&[r#"a\"b c"#]), r#""a\\\"b c""#);
}

#[test]
fn environment_block_overrides_without_case_and_terminates() {
    let inherited: Vec<(OsString, OsString)> = vec![
        ("Path".into(), "C:\\bin".into()),
        ("http_proxy".into(), "http://elsewhere:1".into()),
    ];
    let block =
        environment_block(&inherited, &env(&[("HTTP_PROXY", "http://127.0.0.1:3128")])).unwrap();
    let text = String::from_utf16(&block).unwrap();
    assert_eq!(text, "HTTP_PROXY=http://127.0.0.1:3128\0Path=C:\\bin\0\0");
    assert_eq!(environment_block(&[], &[]).unwrap(), vec![0, 0]);
    assert!(environment_block(&[], &env(&[("A=B", "x")])).is_err());
}

const SID: &str = "S-1-5-21-1-2-3-1001";

/// The firewall as setup leaves it for `rules`.
fn observed_as_installed(rules: &[FirewallRule]) -> ObservedFirewall {
    ObservedFirewall {
        modify_state: ModifyState {
            s_ok: true,
            state: 0,
        },
        profiles: ["domain", "private", "public"]
            .iter()
            .map(|name| ObservedProfile {
                name: (*name).into(),
                local_enabled: true,
                policy_enabled: None,
            })
            .collect(),
        rules: rules
            .iter()
            .map(|r| {
                let found = ObservedRule {
                    enabled: true,
                    block: true,
                    outbound: true,
                    protocol: r.protocol.number(),
                    remote_ports: if r.protocol == Protocol::Any {
                        String::new()
                    } else {
                        r.remote_ports.clone()
                    },
                    profiles: 0x7fff_ffff,
                    local_users: format!("O:LSD:(A;;CC;;;{SID})"),
                    local_addresses: "*".into(),
                    local_ports: if r.protocol == Protocol::Any {
                        String::new()
                    } else {
                        "*".into()
                    },
                    interface_types: "All".into(),
                    application_name: String::new(),
                    service_name: String::new(),
                    app_package: String::new(),
                };
                (r.name.clone(), Some(found))
            })
            .collect(),
    }
}

#[test]
fn installed_rules_verify_and_every_drift_is_named() {
    // The planned rules, and a TCP rule with ports (the checker handles
    // every protocol, though setup plans only protocol-any rules now).
    let mut rules = firewall_rules();
    rules.push(rule("cordon-test-udp", Protocol::Udp, NON_LOOPBACK_V4, "*"));
    rules.push(rule(
        "cordon-test-tcp",
        Protocol::Tcp,
        NON_LOOPBACK_V4,
        "1-3127,3129-65535",
    ));
    let good = observed_as_installed(&rules);
    assert_eq!(firewall_problems(&rules, SID, &good), Vec::<String>::new());
    // The API may space or order port ranges differently.
    let mut spaced = good.clone();
    for (name, r) in &mut spaced.rules {
        if name == "cordon-test-tcp" {
            r.as_mut().unwrap().remote_ports = "3129-65535, 1-3127".into();
        }
    }
    assert!(firewall_problems(&rules, SID, &spaced).is_empty());

    type Drift = Box<dyn Fn(&mut ObservedFirewall)>;
    let drifted: Vec<(&str, Drift)> = vec![
        ("group policy", Box::new(|o| o.modify_state.state = 1)),
        ("INBOUND_BLOCKED", Box::new(|o| o.modify_state.state = 2)),
        ("S_FALSE", Box::new(|o| o.modify_state.s_ok = false)),
        (
            "off for the public",
            Box::new(|o| o.profiles[2].local_enabled = false),
        ),
        (
            "group policy turns Windows Firewall off for the domain",
            Box::new(|o| o.profiles[0].policy_enabled = Some(false)),
        ),
        (
            "private profile's state could not be read",
            Box::new(|o| {
                o.profiles.remove(1);
            }),
        ),
        ("missing", Box::new(|o| o.rules[0].1 = None)),
        (
            "disabled",
            Box::new(|o| o.rules[1].1.as_mut().unwrap().enabled = false),
        ),
        (
            "not block",
            Box::new(|o| o.rules[2].1.as_mut().unwrap().block = false),
        ),
        (
            "not outbound",
            Box::new(|o| o.rules[3].1.as_mut().unwrap().outbound = false),
        ),
        (
            "protocol",
            Box::new(|o| o.rules[2].1.as_mut().unwrap().protocol = 6),
        ),
        (
            "remote ports",
            Box::new(|o| o.rules[3].1.as_mut().unwrap().remote_ports = "1-3127".into()),
        ),
        (
            "remote ports",
            Box::new(|o| o.rules[3].1.as_mut().unwrap().remote_ports = "*".into()),
        ),
        (
            "profiles",
            Box::new(|o| o.rules[0].1.as_mut().unwrap().profiles = 4),
        ),
        (
            "does not name exactly the offline account",
            Box::new(|o| {
                o.rules[1].1.as_mut().unwrap().local_users = "O:LSD:(A;;CC;;;S-1-5-21-9)".into()
            }),
        ),
        (
            "does not name exactly the offline account",
            Box::new(|o| {
                o.rules[1].1.as_mut().unwrap().local_users = format!("O:LSD:(A;;CC;;;{SID}2)")
            }),
        ),
        (
            "does not name exactly the offline account",
            Box::new(|o| {
                o.rules[1].1.as_mut().unwrap().local_users =
                    format!("O:LSD:(D;;CC;;;{SID})(A;;CC;;;WD)")
            }),
        ),
        (
            "local addresses",
            Box::new(|o| o.rules[0].1.as_mut().unwrap().local_addresses = "10.0.0.9".into()),
        ),
        (
            "local ports",
            Box::new(|o| o.rules[3].1.as_mut().unwrap().local_ports = "80".into()),
        ),
        (
            "interface types",
            Box::new(|o| o.rules[0].1.as_mut().unwrap().interface_types = "Wireless".into()),
        ),
        (
            "limited to the program",
            Box::new(|o| o.rules[1].1.as_mut().unwrap().application_name = r"C:\x.exe".into()),
        ),
        (
            "limited to the app package",
            Box::new(|o| o.rules[2].1.as_mut().unwrap().app_package = "pkg".into()),
        ),
        (
            "limited to the service",
            Box::new(|o| o.rules[2].1.as_mut().unwrap().service_name = "dnscache".into()),
        ),
    ];
    for (want, change) in drifted {
        let mut o = good.clone();
        change(&mut o);
        let problems = firewall_problems(&rules, SID, &o);
        assert_eq!(problems.len(), 1, "{want}: {problems:?}");
        assert!(problems[0].contains(want), "{want}: {problems:?}");
    }
}

#[test]
fn group_policy_decides_a_profiles_effective_state() {
    let profile = |local, policy| ObservedProfile {
        name: "public".into(),
        local_enabled: local,
        policy_enabled: policy,
    };
    assert!(profile(true, None).effective());
    assert!(!profile(false, None).effective());
    // Group policy overrides the local setting, both ways.
    assert!(!profile(true, Some(false)).effective());
    assert!(profile(false, Some(true)).effective());
}

#[test]
fn port_sets_merge_and_compare() {
    assert_eq!(port_set("*"), Some(vec![(0, 65_535)]));
    assert_eq!(port_set("1-65535"), port_set("*"));
    assert_eq!(
        port_set("1-3127,3129-65535"),
        Some(vec![(1, 3127), (3129, 65_535)])
    );
    assert_eq!(port_set("5,3-4,1-2"), Some(vec![(1, 5)]));
    assert_eq!(port_set("1-3127,3128,3129-65535"), port_set("*"));
    assert_eq!(port_set("9-3"), None);
    assert_eq!(port_set("abc"), None);
    assert_eq!(port_set("70000"), None);
}

/// Splits a command line the way the Microsoft C runtime does (the rules
/// `command_line` quotes for), to check that the runner gets the command's
/// line back unchanged.
fn split_like_msvcrt(line: &str) -> Vec<String> {
    let mut args = Vec::new();
    let mut chars = line.chars().peekable();
    loop {
        while chars.peek() == Some(&' ') {
            chars.next();
        }
        if chars.peek().is_none() {
            return args;
        }
        let mut arg = String::new();
        let mut quoted = false;
        while let Some(&c) = chars.peek() {
            if c == ' ' && !quoted {
                break;
            }
            chars.next();
            match c {
                '\\' => {
                    let mut n = 1;
                    while chars.peek() == Some(&'\\') {
                        chars.next();
                        n += 1;
                    }
                    if chars.peek() == Some(&'"') {
                        arg.extend(std::iter::repeat_n('\\', n / 2));
                        if n % 2 == 1 {
                            chars.next();
                            arg.push('"');
                        }
                    } else {
                        arg.extend(std::iter::repeat_n('\\', n));
                    }
                }
                '"' => quoted = !quoted,
                _ => arg.push(c),
            }
        }
        args.push(arg);
    }
}

#[test]
fn command_lines_split_back_into_their_arguments() {
    for argv in [
        vec!["cmd.exe", "/c", "echo hi"],
        vec![r"C:\my dir\tool.exe", r#"say "hi""#, r"trailing\", ""],
        vec![r#"a\"b c"#, r"C:\x\\"],
    ] {
        let argv: Vec<OsString> = argv.into_iter().map(OsString::from).collect();
        let line = command_line(&argv).unwrap();
        let back: Vec<OsString> = split_like_msvcrt(&line)
            .into_iter()
            .map(OsString::from)
            .collect();
        assert_eq!(back, argv);
    }
    let exe = r"C:\Program Files\cordon\cordon.exe";
    let runner = runner_command_line(exe, "S-1-15-3-1024-1-2-3-4").unwrap();
    assert_eq!(
        split_like_msvcrt(&runner),
        vec![
            exe,
            "sandbox",
            "windows-runner",
            "--run-sid",
            "S-1-15-3-1024-1-2-3-4"
        ]
    );
}

#[test]
fn a_runner_line_windows_would_cut_is_refused() {
    let sid = "S-1-15-3-1024-4294967295-4294967295-4294967295-4294967295";
    let long_exe = format!(r"C:\{}\cordon.exe", "d".repeat(1000));
    assert!(matches!(
        runner_command_line(&long_exe, sid),
        Err(SandboxError::Unsupported(_))
    ));
    // The check assumes the longest SID even when planning with the
    // placeholder: an exe path that fits only a short SID is refused.
    let exe = format!(r"C:\{}\cordon.exe", "d".repeat(930));
    assert!(runner_command_line(&exe, "S-1-15-3-1024-1-2-3-4").is_err());
    assert!(runner_command_line(&exe, RUN_SID_PLACEHOLDER).is_err());
    // A long command is fine: its line travels in the environment.
    let long_cmd = vec![OsString::from("cmd.exe"), "x".repeat(5000).into()];
    let plan = plan_windows(
        &policy(SandboxMode::WorkspaceWrite, NetworkMode::Proxy),
        &long_cmd,
        &options(WindowsSandbox::Elevated),
    )
    .unwrap();
    assert!(plan.runner_command_line.unwrap().len() < LOGON_COMMAND_LINE_MAX);
}

#[test]
fn nested_protected_paths_fix_every_directory_above_them() {
    let mut p = policy(SandboxMode::WorkspaceWrite, NetworkMode::None);
    p.writable_roots[0].protected.push(ProtectedPath {
        path: "/w/vendor/lib/.git".into(),
        kind: ProtectedKind::Existing,
    });
    let plan = plan_windows(&p, &argv(), &options(WindowsSandbox::Elevated)).unwrap();
    let fixed: Vec<PathBuf> = plan
        .fixed_directories
        .iter()
        .map(|a| a.path.clone())
        .collect();
    assert_eq!(
        fixed,
        vec![
            PathBuf::from("/w"),
            "/w/vendor".into(),
            "/w/vendor/lib".into()
        ]
    );
}

#[test]
fn drive_directory_variables_pass_through_the_environment_block() {
    // cmd.exe's hidden per-drive directories, as std reads them back.
    let inherited: Vec<(OsString, OsString)> = vec![
        ("=C:".into(), "C:\\work".into()),
        ("=ExitCode".into(), "00000000".into()),
        ("Path".into(), "C:\\bin".into()),
    ];
    let block = environment_block(&inherited, &[]).unwrap();
    let text = String::from_utf16(&block).unwrap();
    assert_eq!(text, "=C:=C:\\work\0=ExitCode=00000000\0Path=C:\\bin\0\0");
    // Another `=`, or a name that is only `=`, is still refused.
    for bad in ["=C:=x", "=", "A=B"] {
        let inherited: Vec<(OsString, OsString)> = vec![(bad.into(), "v".into())];
        assert!(environment_block(&inherited, &[]).is_err(), "{bad}");
    }
}

#[test]
fn wfp_filters_for_every_network_mode_and_allow_local_binding() {
    for network in NETWORKS {
        for allow_local_binding in [false, true] {
            let mut o = options(WindowsSandbox::Elevated);
            o.allow_local_binding = allow_local_binding;
            o.marker = Some(marker(&[4000], allow_local_binding));
            let plan =
                plan_windows(&policy(SandboxMode::WorkspaceWrite, network), &argv(), &o).unwrap();
            let what = format!("{network} allow_local_binding={allow_local_binding}");
            let permits: Vec<&WfpFilter> = plan
                .wfp_filters
                .iter()
                .filter(|f| f.action == WfpAction::Permit)
                .collect();
            let blocks = plan.wfp_filters.len() - permits.len();
            match (network, allow_local_binding) {
                (NetworkMode::Full, _) | (_, true) => {
                    assert!(plan.wfp_filters.is_empty(), "{what}");
                }
                (NetworkMode::Proxy, false) => {
                    assert_eq!((blocks, permits.len()), (4, 2), "{what}");
                    // The ports the command's proxy variables name.
                    for p in permits {
                        assert_eq!(p.conditions.remote_ports, plan.proxy_ports, "{what}");
                    }
                }
                (NetworkMode::None, false) => {
                    // The ports setup programmed stay (see Limitations).
                    assert_eq!((blocks, permits.len()), (4, 2), "{what}");
                    for p in permits {
                        assert_eq!(p.conditions.remote_ports, vec![4000], "{what}");
                    }
                }
            }
            // The firewall rules for non-loopback traffic stay whenever the
            // account is offline, allow_local_binding or not.
            let expect_rules = network != NetworkMode::Full;
            assert_eq!(!plan.firewall_rules.is_empty(), expect_rules, "{what}");
            for f in &plan.wfp_filters {
                assert_eq!(f.conditions.account, Identity::Offline.account());
            }
        }
    }
}

#[test]
fn full_network_runs_use_the_online_account_once_it_is_set_up() {
    let mut o = options(WindowsSandbox::Unelevated);
    let full = policy(SandboxMode::WorkspaceWrite, NetworkMode::Full);
    let plan = plan_windows(&full, &argv(), &o).unwrap();
    assert_eq!(plan.launch, Launch::RestrictedToken);
    // Once setup has stored the passwords, a restricted copy of the
    // caller's token could read them: run as the account instead.
    o.marker = Some(marker(&[3128], false));
    let plan = plan_windows(&full, &argv(), &o).unwrap();
    assert_eq!(plan.launch, Launch::LogonUser);
    assert_eq!(plan.identity, Some(Identity::Online));
    assert!(
        plan.launch_reason.contains("passwords"),
        "{}",
        plan.launch_reason
    );
}

#[test]
fn sandboxed_runs_get_a_writable_temp_restricting_sids_and_ui_limits() {
    let mut o = options(WindowsSandbox::Elevated);
    o.temp_root = Some("/home/me/.cordon/windows-sandbox/tmp".into());
    let plan = plan_windows(
        &policy(SandboxMode::ReadOnly, NetworkMode::None),
        &argv(),
        &o,
    )
    .unwrap();
    let temp = PathBuf::from("/home/me/.cordon/windows-sandbox/tmp/cordon-offline");
    assert_eq!(plan.temp_dir.as_ref(), Some(&temp));
    // Writable even in read-only mode (like a private /tmp).
    assert!(plan
        .writable_roots
        .iter()
        .any(|e| e.path == temp && e.access == AclAccess::Modify));
    for var in ["TEMP", "TMP"] {
        let value = plan.env.iter().find(|(k, _)| k == var).unwrap();
        assert_eq!(PathBuf::from(&value.1), temp);
    }
    assert_eq!(plan.restricting_sids, vec!["RUN-SID", "LOGON-SID"]);
    assert!(!plan.restricting_sids.iter().any(|s| s == "S-1-1-0"));
    assert_eq!(plan.job_ui_limits.len(), JOB_UI_LIMITS.len());
    assert!(plan
        .job_ui_limits
        .iter()
        .any(|l| l == "JOB_OBJECT_UILIMIT_HANDLES"));
    // Unsandboxed: nothing of the kind.
    let plan = plan_windows(
        &policy(SandboxMode::DangerFullAccess, NetworkMode::Full),
        &argv(),
        &o,
    )
    .unwrap();
    assert!(plan.temp_dir.is_none());
    assert!(plan.restricting_sids.is_empty());
    assert!(plan.job_ui_limits.is_empty());
    assert!(!plan.env.iter().any(|(k, _)| k == "TEMP"));
}

#[test]
fn protocols_have_the_numbers_the_firewall_api_takes() {
    assert_eq!(Protocol::Any.number(), 256);
    assert_eq!(Protocol::Tcp.number(), 6);
    assert_eq!(Protocol::Udp.number(), 17);
}
