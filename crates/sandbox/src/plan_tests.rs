use super::*;
use crate::support::Availability;
use cordon_policy::{ProtectedPath, WritableRoot};

fn policy(mode: SandboxMode, network: NetworkMode) -> SandboxPolicy {
    let writable_roots = if mode == SandboxMode::WorkspaceWrite {
        vec![
            WritableRoot {
                root: "/w".into(),
                protected: vec![
                    ProtectedPath {
                        path: "/w/.git".into(),
                        kind: ProtectedKind::Existing,
                    },
                    ProtectedPath {
                        path: "/w/.cordon".into(),
                        kind: ProtectedKind::Missing,
                    },
                    ProtectedPath {
                        path: "/elsewhere/gitdir".into(),
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

fn missing(reason: &str) -> Availability {
    Availability::Missing {
        reason: reason.into(),
        fix: "fix".into(),
    }
}

#[test]
fn workspace_write_mount_order() {
    let p = plan_linux(
        &policy(SandboxMode::WorkspaceWrite, NetworkMode::None),
        &HostSupport::full(7),
        PlanOptions::default(),
    )
    .unwrap();
    let w = |s: &str| PathBuf::from(s);
    assert_eq!(
        p.mounts,
        vec![
            MountStep::MakePrivate,
            MountStep::CaptureWritable { path: w("/w") },
            MountStep::CaptureWritable { path: w("/w/sub") },
            MountStep::ReadOnlyRoot,
            MountStep::AttachWritable { path: w("/w") },
            MountStep::AttachWritable { path: w("/w/sub") },
            MountStep::ProtectReadOnly {
                path: w("/w/.cordon")
            },
            MountStep::ProtectReadOnly { path: w("/w/.git") },
            MountStep::Proc,
            MountStep::Dev,
        ]
    );
    assert_eq!(
        p.placeholders,
        vec![w("/w/.cordon")],
        "the submodule gitdir inside .git needs no bind of its own"
    );
    assert!(p.namespaces.contains(&Namespace::Net));
    assert!(p.unenforced.is_empty());
}

#[test]
fn read_only_has_no_writable_mounts_and_full_network_keeps_host_net() {
    let p = plan_linux(
        &policy(SandboxMode::ReadOnly, NetworkMode::Full),
        &HostSupport::full(7),
        PlanOptions::default(),
    )
    .unwrap();
    assert!(!p
        .mounts
        .iter()
        .any(|m| matches!(m, MountStep::AttachWritable { .. })));
    assert!(p.mounts.contains(&MountStep::ReadOnlyRoot));
    assert!(!p.namespaces.contains(&Namespace::Net));
    assert_eq!(p.landlock.unwrap().read_write, vec![PathBuf::from("/dev")]);
}

#[test]
fn danger_full_access_plans_nothing() {
    let p = plan_linux(
        &policy(SandboxMode::DangerFullAccess, NetworkMode::Full),
        &HostSupport::full(0),
        PlanOptions::default(),
    )
    .unwrap();
    assert!(
        p.namespaces.is_empty()
            && p.mounts.is_empty()
            && p.landlock.is_none()
            && p.seccomp.is_none()
    );
}

#[test]
fn seccomp_denies_the_listed_calls_and_unix_sockets_by_abi() {
    let p = plan_linux(
        &policy(SandboxMode::ReadOnly, NetworkMode::None),
        &HostSupport::full(7),
        PlanOptions::default(),
    )
    .unwrap();
    let s = p.seccomp.unwrap();
    for name in [
        "ptrace",
        "io_uring_setup",
        "bpf",
        "unshare",
        "setns",
        "mount",
        "keyctl",
        "perf_event_open",
        "process_vm_readv",
    ] {
        assert!(s.denied_syscalls.contains(&name), "{name}");
    }
    assert_eq!(s.unix_sockets, UnixSockets::DenyCreate);
    assert_eq!(s.socket_families, vec!["AF_INET", "AF_INET6"]);
    assert_eq!(
        p.landlock.unwrap().scopes,
        vec!["abstract-unix-socket", "signal"]
    );

    let p = plan_linux(
        &policy(SandboxMode::ReadOnly, NetworkMode::None),
        &HostSupport::full(9),
        PlanOptions::default(),
    )
    .unwrap();
    let s = p.seccomp.unwrap();
    assert_eq!(
        s.unix_sockets,
        UnixSockets::DenyCreate,
        "still refused with RESOLVE_UNIX"
    );
    assert!(!s.socket_families.contains(&"AF_UNIX"));

    let p = plan_linux(
        &policy(SandboxMode::ReadOnly, NetworkMode::None),
        &HostSupport::full(5),
        PlanOptions::default(),
    )
    .unwrap();
    assert!(p.landlock.unwrap().scopes.is_empty());
}

#[test]
fn missing_layer_refuses_unless_degraded() {
    let mut support = HostSupport::full(7);
    support.namespaces = missing("no userns");
    let pol = policy(SandboxMode::WorkspaceWrite, NetworkMode::None);
    let err = plan_linux(&pol, &support, PlanOptions::default()).unwrap_err();
    assert_eq!(err.len(), 1);
    assert_eq!(err[0].layer, Layer::Namespaces);
    assert!(err[0].reason.contains("no userns"));

    let p = plan_linux(
        &pol,
        &support,
        PlanOptions {
            allow_degraded: true,
            ..Default::default()
        },
    )
    .unwrap();
    assert!(p.namespaces.is_empty() && p.mounts.is_empty());
    assert!(p.unenforced.iter().any(|u| u.contains("mount namespace")));
    assert!(p
        .unenforced
        .iter()
        .any(|u| u.contains("refusing IP sockets")));
    let s = p.seccomp.unwrap();
    assert!(
        s.socket_families.is_empty(),
        "network none without a netns refuses IP sockets"
    );
}

#[test]
fn metadata_calls_go_to_init_unless_the_listener_is_missing() {
    let pol = policy(SandboxMode::WorkspaceWrite, NetworkMode::None);
    let p = plan_linux(&pol, &HostSupport::full(7), PlanOptions::default()).unwrap();
    let s = p.seccomp.unwrap();
    assert_eq!(s.mediated_syscalls, MEDIATED_SYSCALLS);
    for name in ["chmod", "fchownat", "utimensat", "fchmodat2", "lsetxattr"] {
        assert!(s.mediated_syscalls.contains(&name), "{name}");
    }
    assert_eq!(s.absent_syscalls, vec!["setxattrat", "removexattrat"]);

    let mut support = HostSupport::full(7);
    support.seccomp_listener = missing("no pidfd_getfd");
    let err = plan_linux(&pol, &support, PlanOptions::default()).unwrap_err();
    assert_eq!(err.len(), 1);
    assert_eq!(err[0].layer, Layer::SeccompListener);
    assert!(err[0].reason.contains("no pidfd_getfd"));
    let p = plan_linux(
        &pol,
        &support,
        PlanOptions {
            allow_degraded: true,
            ..Default::default()
        },
    )
    .unwrap();
    let s = p.seccomp.unwrap();
    assert!(s.mediated_syscalls.is_empty() && s.absent_syscalls.is_empty());
    assert!(
        s.denied_syscalls.contains(&"ptrace"),
        "the rest of the filter stays"
    );
    assert!(p
        .unenforced
        .iter()
        .any(|u| u.contains("seccomp listener") && u.contains("/tmp")));
}

#[test]
fn nothing_left_says_so() {
    let support = HostSupport {
        namespaces: missing("a"),
        landlock: missing("b"),
        landlock_abi: 0,
        seccomp: missing("c"),
        seccomp_listener: missing("d"),
    };
    let p = plan_linux(
        &policy(SandboxMode::ReadOnly, NetworkMode::None),
        &support,
        PlanOptions {
            allow_degraded: true,
            ..Default::default()
        },
    )
    .unwrap();
    assert!(p
        .unenforced
        .iter()
        .any(|u| u.contains("NOT blocked (needs")));
    assert!(p
        .unenforced
        .iter()
        .any(|u| u.contains("writes outside the writable roots are NOT blocked")));
}

#[test]
fn proxy_mode_has_its_own_netns_listener_and_environment() {
    let options = PlanOptions {
        proxy_port: 31337,
        cordon_exe: "/usr/bin/cordon".into(),
        ..Default::default()
    };
    let p = plan_linux(
        &policy(SandboxMode::ReadOnly, NetworkMode::Proxy),
        &HostSupport::full(7),
        options.clone(),
    )
    .unwrap();
    assert!(p.namespaces.contains(&Namespace::Net));
    assert_eq!(p.proxy, Some(ProxyPlan { port: 31337 }));
    let get = |k: &str| p.env.iter().find(|(n, _)| n == k).map(|(_, v)| v.as_str());
    assert_eq!(get("HTTPS_PROXY"), Some("http://127.0.0.1:31337"));
    assert_eq!(get("http_proxy"), Some("http://127.0.0.1:31337"));
    assert_eq!(get("ALL_PROXY"), Some("socks5h://127.0.0.1:31337"));
    assert_eq!(get("NO_PROXY"), Some(""));
    assert_eq!(get("NODE_USE_ENV_PROXY"), Some("1"));
    assert_eq!(get("CORDON_NETWORK"), Some("proxy"));
    assert!(get("JAVA_TOOL_OPTIONS")
        .unwrap()
        .contains("-Dhttps.proxyPort=31337"));
    assert!(get("GIT_SSH_COMMAND")
        .unwrap()
        .contains("/usr/bin/cordon proxy-connect %h %p"));

    // Without namespaces the proxy cannot be the only way out: refused even degraded.
    let mut support = HostSupport::full(7);
    support.namespaces = missing("no userns");
    let degraded = PlanOptions {
        allow_degraded: true,
        ..options
    };
    assert!(plan_linux(
        &policy(SandboxMode::ReadOnly, NetworkMode::Proxy),
        &support,
        degraded
    )
    .is_err());
}

#[test]
fn a_deeper_root_never_covers_a_shallower_roots_protected_path() {
    // /a's gitdir lives inside the deeper root /b/c: bind it after /b/c is attached.
    let pol = SandboxPolicy {
        mode: SandboxMode::WorkspaceWrite,
        network: NetworkMode::None,
        cwd: "/a".into(),
        writable_roots: vec![
            WritableRoot {
                root: "/a".into(),
                protected: vec![ProtectedPath {
                    path: "/b/c/sep".into(),
                    kind: ProtectedKind::Existing,
                }],
            },
            WritableRoot {
                root: "/b/c".into(),
                protected: vec![],
            },
            WritableRoot {
                root: "/h/.cordon/memories".into(),
                protected: vec![],
            },
            WritableRoot {
                root: "/h".into(),
                protected: vec![ProtectedPath {
                    path: "/h/.cordon".into(),
                    kind: ProtectedKind::Existing,
                }],
            },
        ],
        missing_roots: vec![],
        warnings: vec![],
        pins: Default::default(),
    };
    let p = plan_linux(&pol, &HostSupport::full(7), PlanOptions::default()).unwrap();
    let pos = |m: MountStep| p.mounts.iter().position(|x| *x == m).unwrap();
    let w = |s: &str| PathBuf::from(s);
    assert!(
        pos(MountStep::AttachWritable { path: w("/b/c") })
            < pos(MountStep::ProtectReadOnly {
                path: w("/b/c/sep")
            })
    );
    assert!(
        pos(MountStep::ProtectReadOnly {
            path: w("/h/.cordon")
        }) < pos(MountStep::AttachWritable {
            path: w("/h/.cordon/memories")
        })
    );
}

#[test]
fn a_gitdir_pointing_at_a_root_does_not_freeze_it() {
    let pol = SandboxPolicy {
        mode: SandboxMode::WorkspaceWrite,
        network: NetworkMode::None,
        cwd: "/w".into(),
        writable_roots: vec![
            WritableRoot {
                root: "/tmp".into(),
                protected: vec![],
            },
            WritableRoot {
                root: "/w".into(),
                protected: vec![ProtectedPath {
                    path: "/tmp".into(),
                    kind: ProtectedKind::Existing,
                }],
            },
        ],
        missing_roots: vec![],
        warnings: vec![],
        pins: Default::default(),
    };
    let p = plan_linux(&pol, &HostSupport::full(7), PlanOptions::default()).unwrap();
    assert!(!p.mounts.contains(&MountStep::ProtectReadOnly {
        path: PathBuf::from("/tmp")
    }));
}

#[test]
fn layers_are_named_for_messages() {
    assert_eq!(
        Layer::Namespaces.name(),
        "namespaces (user, mount, pid, ipc, net)"
    );
    assert_eq!(Layer::Landlock.name(), "Landlock");
    assert_eq!(Layer::Seccomp.name(), "seccomp");
}

#[test]
fn landlock_resolves_unix_sockets_from_abi_9() {
    let pol = policy(SandboxMode::ReadOnly, NetworkMode::None);
    for (abi, resolve_unix) in [(5, false), (8, false), (9, true), (10, true)] {
        let p = plan_linux(&pol, &HostSupport::full(abi), PlanOptions::default()).unwrap();
        assert_eq!(p.landlock.unwrap().resolve_unix, resolve_unix, "ABI {abi}");
    }
}

#[test]
fn without_seccomp_network_none_is_unblocked_only_without_a_netns() {
    let mut support = HostSupport::full(7);
    support.seccomp = missing("no seccomp");
    let degraded = PlanOptions {
        allow_degraded: true,
        ..Default::default()
    };
    let not_blocked = |p: &LinuxPlan| {
        p.unenforced
            .iter()
            .any(|u| u.contains("network: NOT blocked"))
    };
    let pol = policy(SandboxMode::ReadOnly, NetworkMode::None);
    let p = plan_linux(&pol, &support, degraded.clone()).unwrap();
    assert!(p.seccomp.is_none());
    assert!(
        !not_blocked(&p),
        "the netns still blocks it: {:?}",
        p.unenforced
    );
    support.namespaces = missing("no userns");
    let p = plan_linux(&pol, &support, degraded).unwrap();
    assert!(not_blocked(&p), "{:?}", p.unenforced);
}

/// A protected path inside another one needs no bind of its own, unless a
/// writable root re-attached between them would expose it.
#[test]
fn nested_protected_paths_are_bound_once_unless_a_root_lies_between() {
    let existing = |p: &str| ProtectedPath {
        path: p.into(),
        kind: ProtectedKind::Existing,
    };
    let pol = SandboxPolicy {
        mode: SandboxMode::WorkspaceWrite,
        network: NetworkMode::None,
        cwd: "/w".into(),
        writable_roots: vec![
            WritableRoot {
                root: "/w".into(),
                protected: vec![
                    existing("/w/.git"),
                    existing("/w/.git/modules/sub"),
                    existing("/w/home"),
                ],
            },
            WritableRoot {
                root: "/w/home/memories".into(),
                protected: vec![existing("/w/home/memories/.git")],
            },
        ],
        missing_roots: vec![],
        warnings: vec![],
        pins: Default::default(),
    };
    let p = plan_linux(&pol, &HostSupport::full(7), PlanOptions::default()).unwrap();
    let w = |s: &str| PathBuf::from(s);
    assert_eq!(
        p.mounts,
        vec![
            MountStep::MakePrivate,
            MountStep::CaptureWritable { path: w("/w") },
            MountStep::CaptureWritable {
                path: w("/w/home/memories")
            },
            MountStep::ReadOnlyRoot,
            MountStep::AttachWritable { path: w("/w") },
            MountStep::ProtectReadOnly { path: w("/w/.git") },
            MountStep::ProtectReadOnly { path: w("/w/home") },
            MountStep::AttachWritable {
                path: w("/w/home/memories")
            },
            MountStep::ProtectReadOnly {
                path: w("/w/home/memories/.git")
            },
            MountStep::Proc,
            MountStep::Dev,
        ]
    );
}
