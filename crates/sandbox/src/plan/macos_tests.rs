use super::*;
use cordon_policy::{ProtectedKind, ProtectedPath, WritableRoot};
use std::path::Path;

fn policy(mode: SandboxMode, network: NetworkMode) -> SandboxPolicy {
    let writable_roots = if mode == SandboxMode::WorkspaceWrite {
        vec![
            WritableRoot {
                root: "/Users/me/work".into(),
                protected: vec![
                    ProtectedPath {
                        path: "/Users/me/work/.cordon".into(),
                        kind: ProtectedKind::Missing,
                    },
                    ProtectedPath {
                        path: "/Users/me/work/.git".into(),
                        kind: ProtectedKind::Existing,
                    },
                    ProtectedPath {
                        path: "/Users/me/work/vendor/lib/.git".into(),
                        kind: ProtectedKind::Existing,
                    },
                ],
            },
            WritableRoot {
                root: "/private/tmp".into(),
                protected: vec![],
            },
        ]
    } else {
        vec![]
    };
    SandboxPolicy {
        mode,
        network,
        cwd: "/Users/me/work".into(),
        writable_roots,
        missing_roots: vec![],
        warnings: vec![],
        pins: Default::default(),
    }
}

fn options(allow_local_binding: bool) -> MacosOptions {
    MacosOptions {
        proxy_port: 3128,
        proxy_token: "t0k3n".into(),
        allow_local_binding,
        log_denials: false,
        cordon_exe: "/usr/local/bin/cordon".into(),
    }
}

fn cmd() -> Vec<OsString> {
    vec!["/bin/echo".into(), "hi".into()]
}

const MODES: [SandboxMode; 2] = [SandboxMode::ReadOnly, SandboxMode::WorkspaceWrite];
const NETWORKS: [NetworkMode; 3] = [NetworkMode::None, NetworkMode::Proxy, NetworkMode::Full];

fn golden_path(name: &str) -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR"))
        .join("src/plan/golden")
        .join(name)
}

/// The profile equals its checked-in golden file (set
/// `CORDON_UPDATE_GOLDEN=1` to rewrite them after a deliberate change).
fn check_golden(name: &str, profile: &str) {
    let path = golden_path(name);
    if std::env::var_os("CORDON_UPDATE_GOLDEN").is_some() {
        std::fs::create_dir_all(path.parent().unwrap()).unwrap();
        std::fs::write(&path, profile).unwrap();
    }
    let golden = std::fs::read_to_string(&path).unwrap_or_else(|e| {
        panic!(
            "{}: {e} (CORDON_UPDATE_GOLDEN=1 creates it)",
            path.display()
        )
    });
    assert_eq!(profile, golden, "{} differs", path.display());
}

fn golden_name(mode: SandboxMode, network: NetworkMode, local: bool) -> String {
    let local = if local { "-local-binding" } else { "" };
    format!("macos-{mode}-{network}{local}.sbpl")
}

#[test]
fn profiles_match_golden_files() {
    for mode in MODES {
        for network in NETWORKS {
            for local in [false, true] {
                if local && network == NetworkMode::Full {
                    continue;
                }
                let plan = plan_macos(&policy(mode, network), &cmd(), &options(local)).unwrap();
                check_golden(&golden_name(mode, network, local), &plan.profile);
            }
        }
    }
}

fn parens_balanced(text: &str) -> bool {
    let mut depth = 0i32;
    let mut in_string = false;
    for line in text.lines() {
        let line = if in_string {
            line
        } else {
            line.split(';').next().unwrap_or("")
        };
        for c in line.chars() {
            match c {
                '"' => in_string = !in_string,
                '(' if !in_string => depth += 1,
                ')' if !in_string => depth -= 1,
                _ => {}
            }
            if depth < 0 {
                return false;
            }
        }
    }
    depth == 0 && !in_string
}

#[test]
fn every_profile_is_structurally_sound() {
    for mode in MODES {
        for network in NETWORKS {
            for local in [false, true] {
                let plan = plan_macos(&policy(mode, network), &cmd(), &options(local)).unwrap();
                let p = &plan.profile;
                let what = format!("{mode} {network} local={local}");
                assert!(p.starts_with("(version 1)\n(deny default)\n"), "{what}");
                assert!(parens_balanced(p), "{what}:\n{p}");
                assert!(!p.contains("(allow default)"), "{what}");
                assert!(
                    !p.contains("/Users/me"),
                    "paths go through -D params: {what}"
                );
                // `local ip` only ever appears in bind/inbound rules.
                for line in p.lines().filter(|l| l.contains("local ip")) {
                    assert!(
                        line.starts_with("(allow network-bind")
                            || line.starts_with("(allow network-inbound"),
                        "{what}: {line}"
                    );
                }
                let outbound: Vec<&str> = p
                    .lines()
                    .filter(|l| l.contains("network-outbound"))
                    .collect();
                match network {
                    NetworkMode::None => assert!(outbound.is_empty(), "{what}: {outbound:?}"),
                    NetworkMode::Proxy => {
                        assert_eq!(
                            outbound,
                            vec!["(allow network-outbound (remote ip \"localhost:3128\"))"],
                            "{what}"
                        );
                        assert!(!p.contains("network*"), "{what}");
                        assert!(!p.contains("(allow system-socket)"), "{what}");
                    }
                    NetworkMode::Full => {
                        assert!(outbound.contains(&"(allow network-outbound)"), "{what}")
                    }
                }
                let binds = p.contains("(allow network-bind (local ip \"localhost:*\"))");
                assert_eq!(binds, local && network != NetworkMode::Full, "{what}");
            }
        }
    }
}

#[test]
fn writable_roots_carve_out_protected_paths() {
    let plan = plan_macos(
        &policy(SandboxMode::WorkspaceWrite, NetworkMode::None),
        &cmd(),
        &options(false),
    )
    .unwrap();
    let param = |name: &str| -> PathBuf {
        plan.params
            .iter()
            .find(|p| p.name == name)
            .unwrap_or_else(|| panic!("no param {name}"))
            .path
            .clone()
    };
    assert_eq!(param("READABLE_ROOT_0"), PathBuf::from("/"));
    assert_eq!(param("WRITABLE_ROOT_0"), PathBuf::from("/Users/me/work"));
    assert_eq!(
        param("WRITABLE_ROOT_0_RO_0"),
        PathBuf::from("/Users/me/work/.cordon")
    );
    assert_eq!(
        param("WRITABLE_ROOT_0_RO_1"),
        PathBuf::from("/Users/me/work/.git")
    );
    assert_eq!(
        param("WRITABLE_ROOT_0_RO_2"),
        PathBuf::from("/Users/me/work/vendor/lib/.git")
    );
    assert_eq!(param("WRITABLE_ROOT_1"), PathBuf::from("/private/tmp"));
    // The root and the directories above the nested .git are fixed:
    // renaming the root, vendor/ or vendor/lib would carry a .git off.
    assert_eq!(
        param("WRITABLE_ROOT_0_FIXED_0"),
        PathBuf::from("/Users/me/work")
    );
    assert_eq!(
        param("WRITABLE_ROOT_0_FIXED_1"),
        PathBuf::from("/Users/me/work/vendor")
    );
    assert_eq!(
        param("WRITABLE_ROOT_0_FIXED_2"),
        PathBuf::from("/Users/me/work/vendor/lib")
    );
    assert!(plan
        .params
        .iter()
        .all(|p| p.name != "WRITABLE_ROOT_0_FIXED_3"));
    assert!(
        plan.params
            .iter()
            .all(|p| p.name != "WRITABLE_ROOT_1_FIXED_0"),
        "nothing protected in /private/tmp"
    );
    assert!(plan.profile.contains(
        "(deny file-write*\n  (literal (param \"WRITABLE_ROOT_0_FIXED_0\"))\n  (literal (param \"WRITABLE_ROOT_0_FIXED_1\"))\n  (literal (param \"WRITABLE_ROOT_0_FIXED_2\"))\n)"
    ));
    // The deny comes after every allow it narrows.
    assert!(
        plan.profile.find("(deny file-write*").unwrap()
            > plan.profile.rfind("(allow file-write*").unwrap()
    );
    assert!(plan
        .profile
        .contains("(require-not (subpath (param \"WRITABLE_ROOT_0_RO_1\")))"));
    assert!(plan
        .profile
        .contains("(allow file-write* (subpath (param \"WRITABLE_ROOT_1\")))"));
    let ro = plan_macos(
        &policy(SandboxMode::ReadOnly, NetworkMode::None),
        &cmd(),
        &options(false),
    )
    .unwrap();
    assert!(!ro.profile.contains("(allow file-write* (subpath"));
}

#[test]
fn argv_passes_every_param_and_the_command() {
    let plan = plan_macos(
        &policy(SandboxMode::WorkspaceWrite, NetworkMode::Proxy),
        &cmd(),
        &options(false),
    )
    .unwrap();
    let argv: Vec<String> = plan
        .argv
        .iter()
        .map(|a| a.to_str().unwrap().to_string())
        .collect();
    assert_eq!(argv[0], SANDBOX_EXEC);
    assert_eq!(argv[1], "-p");
    assert_eq!(argv[2], plan.profile);
    let sep = argv.iter().position(|a| a == "--").unwrap();
    assert_eq!(&argv[sep + 1..], &["/bin/echo", "hi"]);
    let defines: Vec<&String> = argv[3..sep].iter().collect();
    assert_eq!(defines.len(), plan.params.len());
    for p in &plan.params {
        let want = format!("-D{}={}", p.name, p.path.display());
        assert!(defines.contains(&&want), "{want}");
        assert!(
            plan.profile.contains(&format!("(param \"{}\")", p.name)),
            "{}",
            p.name
        );
    }
    // Every parameter the profile uses is defined.
    for chunk in plan.profile.split("(param \"").skip(1) {
        let name = chunk.split('"').next().unwrap();
        assert!(plan.params.iter().any(|p| p.name == name), "{name}");
    }
    // The environment points at the same port the profile allows, with
    // the run's token (the proxy listens on the host's loopback).
    let http = plan.env.iter().find(|(k, _)| k == "HTTP_PROXY").unwrap();
    assert_eq!(http.1, "http://cordon:t0k3n@127.0.0.1:3128");
    let socks = plan.env.iter().find(|(k, _)| k == "ALL_PROXY").unwrap();
    assert_eq!(socks.1, "socks5h://cordon:t0k3n@127.0.0.1:3128");
    // Every proxy URL carries the token.
    for (k, v) in &plan.env {
        if v.contains("127.0.0.1:3128") && v.contains("://") {
            assert!(v.contains("cordon:t0k3n@"), "{k}={v}");
        }
    }
    assert_eq!(plan.proxy_ports, vec![3128]);
}

#[test]
fn awkward_paths_stay_out_of_the_profile() {
    let mut p = policy(SandboxMode::WorkspaceWrite, NetworkMode::None);
    p.writable_roots[0].root = "/Users/me/a \"b\" (c) ;d".into();
    let plan = plan_macos(&p, &cmd(), &options(false)).unwrap();
    assert!(!plan.profile.contains("(c)") && !plan.profile.contains(";d"));
    assert!(plan
        .argv
        .iter()
        .any(|a| a == "-DWRITABLE_ROOT_0=/Users/me/a \"b\" (c) ;d"));
}

#[test]
fn danger_full_access_runs_the_command_itself() {
    let plan = plan_macos(
        &policy(SandboxMode::DangerFullAccess, NetworkMode::Proxy),
        &cmd(),
        &options(false),
    )
    .unwrap();
    assert!(plan.profile.is_empty());
    assert_eq!(plan.argv, cmd());
    assert!(plan.env.is_empty());
}

#[test]
fn proxy_without_a_port_is_refused() {
    let mut o = options(false);
    o.proxy_port = 0;
    let err = plan_macos(
        &policy(SandboxMode::ReadOnly, NetworkMode::Proxy),
        &cmd(),
        &o,
    );
    assert!(matches!(err, Err(SandboxError::Layer { ref layer, .. }) if layer == "seatbelt"));
    assert!(matches!(
        plan_macos(&policy(SandboxMode::ReadOnly, NetworkMode::None), &[], &o),
        Err(SandboxError::NoCommand)
    ));
}

#[test]
fn log_stream_follows_sandbox_reports_as_ndjson() {
    let argv = log_stream_argv();
    assert_eq!(argv[0], "/usr/bin/log");
    assert!(argv.iter().any(|a| a == "ndjson"));
    assert!(argv.last().unwrap().to_str().unwrap().contains("Sandbox"));
}

#[test]
fn fixed_directories_are_the_root_and_those_between_it_and_protected_paths() {
    let root = Path::new("/w");
    assert_eq!(
        fixed_directories(
            root,
            &[
                "/w/.git".into(),
                "/w/a/b/.git".into(),
                "/w/a/.cordon".into()
            ]
        ),
        vec![PathBuf::from("/w"), "/w/a".into(), "/w/a/b".into()]
    );
    assert_eq!(
        fixed_directories(root, &["/w/.git".into()]),
        vec![PathBuf::from("/w")],
        "renaming the root itself would carry its .git off"
    );
    assert!(fixed_directories(root, &[]).is_empty());
}

/// Whatever SBPL's precedence between rules, no allow covers a fixed
/// directory: each is a `require-not` of the allow of the root holding it,
/// and denied again after every allow (last-match semantics).
#[test]
fn fixed_directories_are_outside_every_allow_and_denied_last() {
    let o = options(false);
    let plan = plan_macos(
        &policy(SandboxMode::WorkspaceWrite, NetworkMode::None),
        &cmd(),
        &o,
    )
    .unwrap();
    let fixed: Vec<&ProfileParam> = plan
        .params
        .iter()
        .filter(|p| p.name.contains("_FIXED_"))
        .collect();
    assert_eq!(fixed.len(), 3, "{:?}", plan.params);
    let allow_end = plan.profile.find("  ))\n").unwrap();
    let deny_start = plan
        .profile
        .find("(deny file-write*\n")
        .expect("a trailing deny");
    assert!(deny_start > allow_end);
    for p in fixed {
        let carve = format!("(require-not (literal (param \"{}\")))", p.name);
        let at = plan
            .profile
            .find(&carve)
            .unwrap_or_else(|| panic!("{carve} missing"));
        assert!(at < allow_end, "{carve} is inside the allow");
        assert!(plan.profile[deny_start..].contains(&format!("(literal (param \"{}\"))", p.name)));
    }
}
