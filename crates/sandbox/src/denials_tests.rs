use super::*;
use cordon_policy::{ProtectedKind, ProtectedPath, SandboxMode, WritableRoot};

fn policy(network: NetworkMode) -> SandboxPolicy {
    SandboxPolicy {
        mode: SandboxMode::WorkspaceWrite,
        network,
        cwd: "/w".into(),
        writable_roots: vec![WritableRoot {
            root: "/w".into(),
            protected: vec![ProtectedPath {
                path: "/w/.git".into(),
                kind: ProtectedKind::Existing,
            }],
        }],
        missing_roots: vec![],
        warnings: vec![],
        pins: Default::default(),
    }
}

fn write(op: &str, p: &str) -> Attempt {
    Attempt::Write {
        op: op.into(),
        path: p.into(),
    }
}

#[test]
fn writes_outside_roots_and_into_protected_paths_are_denied() {
    let attempts = vec![
        write("openat", "/w/src/main.rs"),
        write("openat", "/etc/passwd"),
        write("mkdir", "/etc/passwd"),
        write("unlink", "/w/.git/config"),
        write("openat", "/dev/null"),
        write("openat", "/proc/self/fd/1"),
    ];
    let d = classify(&policy(NetworkMode::None), &attempts);
    assert_eq!(d.len(), 2, "{d:?}");
    assert_eq!(d[0].target, "/etc/passwd");
    assert_eq!(d[0].ops, "openat,mkdir");
    assert_eq!(d[0].count, 2);
    assert_eq!(d[1].target, "/w/.git/config");
}

#[test]
fn network_denials_depend_on_mode() {
    let attempts = vec![
        Attempt::Connect {
            op: "connect".into(),
            addr: "10.0.0.1:80".parse().unwrap(),
        },
        Attempt::Connect {
            op: "connect".into(),
            addr: "127.0.0.1:80".parse().unwrap(),
        },
        Attempt::Connect {
            op: "sendto".into(),
            addr: "[2001:db8::1]:53".parse().unwrap(),
        },
    ];
    let d = classify(&policy(NetworkMode::None), &attempts);
    assert_eq!(d.iter().filter(|d| d.kind == "network").count(), 2);
    assert!(classify(&policy(NetworkMode::Full), &attempts).is_empty());
}

#[test]
fn summary_lists_each_target_and_caps_the_list() {
    let attempts = vec![
        write("rename", "/etc/a"),
        Attempt::Connect {
            op: "connect".into(),
            addr: "[2001:db8::1]:9".parse().unwrap(),
        },
        Attempt::UnixSocket,
    ];
    let d = classify(&policy(NetworkMode::None), &attempts);
    let s = summary(&d);
    assert!(
        s.contains("unix-socket") && s.contains("/etc/a (rename)") && s.contains("[2001:db8::1]:9"),
        "{s}"
    );
    assert_eq!(summary(&[]), "cordon: no denials recorded\n");
    let many: Vec<Attempt> = (0..150)
        .map(|i| write("openat", &format!("/etc/f{i}")))
        .collect();
    let s = summary(&classify(&policy(NetworkMode::None), &many));
    assert!(s.contains("... and 50 more"), "{s}");
    assert_eq!(s.lines().count(), 102);
}

#[test]
fn a_summary_reads_back_into_its_denials() {
    let denials = vec![
        Denial {
            kind: "write",
            target: "/var/tmp/a file (1)".into(),
            ops: "openat,mkdir".into(),
            count: 3,
        },
        Denial {
            kind: "network",
            target: "10.0.0.1:80".into(),
            ops: "connect".into(),
            count: 1,
        },
        Denial {
            kind: "unix-socket",
            target: "socket(AF_UNIX)".into(),
            ops: "socket".into(),
            count: 2,
        },
    ];
    assert_eq!(parse_summary(&summary(&denials)), denials);
    assert!(parse_summary(&summary(&[])).is_empty());
}
