//! `cordon sandbox linux|macos|windows --plan`: every backend's plan is
//! printed as JSON on any host, runs nothing, and is consistent with
//! itself (the proxy port in the environment is the one the WFP filters
//! or the Seatbelt profile let through).

use super::common::{text, World, CORDON};
use serde_json::Value;

fn plan(w: &World, flags: &[&str], cmd: &[&str]) -> Value {
    let out = w.cordon(flags, cmd);
    assert_eq!(out.status.code(), Some(0), "{}", text(&out));
    serde_json::from_slice(&out.stdout).unwrap_or_else(|e| panic!("{e}: {}", text(&out)))
}

/// The value of `name` in a plan's `env` (an array of [name, value]).
fn env<'a>(plan: &'a Value, name: &str) -> &'a str {
    plan["env"]
        .as_array()
        .unwrap()
        .iter()
        .find(|kv| kv[0] == name)
        .unwrap_or_else(|| panic!("no {name} in {}", plan["env"]))[1]
        .as_str()
        .unwrap()
}

fn port_of(url: &str) -> u16 {
    url.rsplit(':').next().unwrap().parse().unwrap()
}

#[test]
fn linux_plan_names_its_os_and_proxy_port() {
    let w = World::new();
    let p = plan(&w, &["linux", "--plan", "--network", "proxy"], &["true"]);
    assert_eq!(p["os"], "linux");
    let port = p["proxy"]["port"].as_u64().unwrap() as u16;
    assert_eq!(port_of(env(&p, "HTTP_PROXY")), port);
    assert_eq!(port_of(env(&p, "https_proxy")), port);
}

#[test]
fn windows_proxy_plan_is_consistent() {
    let w = World::new();
    std::fs::create_dir(w.work().join(".git")).unwrap();
    let ran = w.work().join("ran");
    let p = plan(
        &w,
        &["windows", "--plan", "--full-auto", "--network", "proxy"],
        &["touch", ran.to_str().unwrap()],
    );
    assert!(!ran.exists(), "--plan runs nothing");
    assert_eq!(p["os"], "windows");
    assert_eq!(p["identity"], "offline");
    assert_eq!(p["launch"], "logon-user");
    assert_eq!(p["trustee"]["kind"], "account-and-run-sid");
    // The account starts cordon's runner, which restricts itself first.
    let runner = p["runner_command_line"].as_str().unwrap();
    assert!(
        runner.ends_with(" sandbox windows-runner --run-sid RUN-SID"),
        "{runner}"
    );
    // The workspace root holds a .git: it cannot be renamed away.
    let fixed = p["fixed_directories"].as_array().unwrap();
    assert!(
        fixed
            .iter()
            .any(|e| e["path"] == w.work().to_str().unwrap() && e["access"] == "deny-delete"),
        "{fixed:?}"
    );
    assert_eq!(p["allow_local_binding"], false);
    let ports: Vec<u16> = p["proxy_ports"]
        .as_array()
        .unwrap()
        .iter()
        .map(|v| v.as_u64().unwrap() as u16)
        .collect();
    assert_eq!(ports.len(), 1);
    let port = ports[0];
    for var in [
        "HTTP_PROXY",
        "HTTPS_PROXY",
        "http_proxy",
        "WS_PROXY",
        "wss_proxy",
    ] {
        assert_eq!(port_of(env(&p, var)), port, "{var}");
        // The proxy listens on the host's loopback: its URLs carry a token.
        assert!(
            env(&p, var).contains("://cordon:PER-RUN-TOKEN@127.0.0.1:"),
            "{var}"
        );
    }
    assert_eq!(
        p["setup_marker"]["proxy_ports"][0].as_u64(),
        Some(port.into())
    );
    // Firewall rules hold non-loopback traffic only (KB 2771908: they
    // have no effect on loopback).
    let rules = p["firewall_rules"].as_array().unwrap();
    assert_eq!(rules.len(), 2);
    for r in rules {
        for key in [
            "name",
            "direction",
            "action",
            "protocol",
            "remote_addresses",
            "remote_ports",
        ] {
            assert!(r[key].is_string(), "{key} in {r}");
        }
        assert_eq!(r["direction"], "out");
        assert_eq!(r["action"], "block");
        assert_eq!(r["protocol"], "any");
        assert_eq!(r["remote_ports"], "*");
    }
    // Loopback is held by WFP filters: blocks first, then a permit for
    // exactly the proxy port, on both ALE connect layers.
    let filters = p["wfp_filters"].as_array().unwrap();
    assert_eq!(filters.len(), 6, "{filters:?}");
    for f in filters {
        for key in ["name", "layer", "action", "weight", "conditions"] {
            assert!(!f[key].is_null(), "{key} in {f}");
        }
        let c = &f["conditions"];
        assert_eq!(c["account"], "cordon-offline");
        assert_eq!(c["loopback"], true);
        assert!(f["layer"]
            .as_str()
            .unwrap()
            .starts_with("FWPM_LAYER_ALE_AUTH_CONNECT_V"));
    }
    let actions: Vec<&str> = filters
        .iter()
        .map(|f| f["action"].as_str().unwrap())
        .collect();
    assert_eq!(
        actions,
        ["block", "block", "block", "block", "permit", "permit"]
    );
    for f in &filters[4..] {
        assert_eq!(f["conditions"]["protocol"], "tcp");
        assert_eq!(f["conditions"]["remote_ports"], serde_json::json!([port]));
        assert!(f["weight"].as_u64() > filters[0]["weight"].as_u64());
    }
    let blocked: Vec<&str> = filters[..4]
        .iter()
        .map(|f| f["conditions"]["protocol"].as_str().unwrap())
        .collect();
    assert_eq!(blocked, ["udp", "udp", "tcp", "tcp"]);
    for f in &filters[..4] {
        assert_eq!(f["conditions"]["remote_ports"], serde_json::json!([]));
    }
    assert_eq!(
        p["restricting_sids"],
        serde_json::json!(["RUN-SID", "LOGON-SID"])
    );
    assert!(p["job_ui_limits"]
        .as_array()
        .unwrap()
        .iter()
        .any(|l| l == "JOB_OBJECT_UILIMIT_HANDLES"));
    // The runner's console is the one CreateProcessWithLogonW always
    // makes (on the private desktop): no CREATE_NO_WINDOW, documented as
    // ignored with it.
    assert_eq!(
        p["console_starts"],
        serde_json::json!([
            {"start": "runner", "flags": []},
            {"start": "runner-command", "flags": []}
        ])
    );
    // A writable TEMP of the account's own, granted like a writable root.
    let temp = p["temp_dir"].as_str().unwrap();
    assert!(temp.ends_with("cordon-offline"), "{temp}");
    assert_eq!(env(&p, "TEMP"), temp);
    assert_eq!(env(&p, "TMP"), temp);
    let roots: Vec<&str> = p["writable_roots"]
        .as_array()
        .unwrap()
        .iter()
        .map(|r| r["path"].as_str().unwrap())
        .collect();
    assert!(roots.contains(&w.work().to_str().unwrap()), "{roots:?}");
    assert!(roots.contains(&temp), "{roots:?}");
    let denied: Vec<&str> = p["protected_paths"]
        .as_array()
        .unwrap()
        .iter()
        .map(|r| r["path"].as_str().unwrap())
        .collect();
    assert!(
        denied.contains(&w.work().join(".git").to_str().unwrap()),
        "{denied:?}"
    );
    assert_eq!(
        p["argv"],
        serde_json::json!(["touch", ran.to_str().unwrap()])
    );
}

#[test]
fn windows_unelevated_keeps_proxy_runs_on_the_offline_account() {
    let w = World::new();
    let unelevated = ["windows", "--plan", "-c", "windows.sandbox=unelevated"];
    let mut flags = unelevated.to_vec();
    flags.extend(["--network", "proxy"]);
    let p = plan(&w, &flags, &["true"]);
    assert_eq!(p["launch"], "logon-user");
    assert_eq!(p["identity"], "offline");
    assert!(p["launch_reason"].as_str().unwrap().contains("unelevated"));
    let mut flags = unelevated.to_vec();
    flags.extend(["--network", "full"]);
    let p = plan(&w, &flags, &["true"]);
    assert_eq!(p["launch"], "restricted-token");
    assert_eq!(p["identity"], "online");
    // Started by cordon, it must not attach to your console.
    assert_eq!(
        p["console_starts"],
        serde_json::json!([{"start": "restricted-token-command", "flags": ["CREATE_NO_WINDOW"]}])
    );
    assert_eq!(p["firewall_rules"], serde_json::json!([]));
    assert_eq!(p["wfp_filters"], serde_json::json!([]));
}

#[test]
fn windows_allow_local_binding_drops_the_loopback_filters() {
    let w = World::new();
    let p = plan(
        &w,
        &[
            "windows",
            "--plan",
            "--network",
            "proxy",
            "-c",
            "network.allow_local_binding=true",
        ],
        &["true"],
    );
    assert_eq!(p["allow_local_binding"], true);
    let rules = p["firewall_rules"].as_array().unwrap();
    assert_eq!(rules.len(), 2, "{rules:?}");
    assert!(rules.iter().all(|r| r["protocol"] == "any"));
    // The non-loopback block stays; no loopback filter is installed.
    assert_eq!(p["wfp_filters"], serde_json::json!([]));
}

#[test]
fn macos_proxy_plan_is_consistent() {
    let w = World::new();
    let ran = w.work().join("ran");
    let p = plan(
        &w,
        &["macos", "--plan", "--full-auto", "--network", "proxy"],
        &["touch", ran.to_str().unwrap()],
    );
    assert!(!ran.exists(), "--plan runs nothing");
    assert_eq!(p["os"], "macos");
    let port = port_of(env(&p, "HTTP_PROXY"));
    assert_eq!(port_of(env(&p, "ALL_PROXY")), port);
    assert_eq!(
        env(&p, "ALL_PROXY"),
        format!("socks5h://cordon:PER-RUN-TOKEN@127.0.0.1:{port}")
    );
    let profile = p["profile"].as_str().unwrap();
    assert!(
        profile.starts_with("(version 1)\n(deny default)"),
        "{profile}"
    );
    let outbound: Vec<&str> = profile
        .lines()
        .filter(|l| l.contains("network-outbound"))
        .collect();
    assert_eq!(
        outbound,
        vec![format!(
            "(allow network-outbound (remote ip \"localhost:{port}\"))"
        )],
        "{profile}"
    );
    let argv: Vec<&str> = p["argv"]
        .as_array()
        .unwrap()
        .iter()
        .map(|a| a.as_str().unwrap())
        .collect();
    assert_eq!(&argv[..3], &["/usr/bin/sandbox-exec", "-p", profile]);
    let work = w.work();
    let work = work.to_str().unwrap();
    let root = argv
        .iter()
        .find_map(|a| a.strip_prefix("-D")?.strip_suffix(&format!("={work}")))
        .unwrap_or_else(|| panic!("no -D parameter for the workspace: {argv:?}"));
    assert!(root.starts_with("WRITABLE_ROOT_"), "{root}");
    assert!(
        profile.contains(&format!("(subpath (param \"{root}\"))")),
        "{profile}"
    );
    let sep = argv.iter().position(|a| *a == "--").unwrap();
    assert_eq!(&argv[sep + 1..], &["touch", ran.to_str().unwrap()]);
}

#[test]
fn macos_plan_without_network_allows_no_network() {
    let w = World::new();
    let p = plan(&w, &["macos", "--plan"], &["true"]);
    let profile = p["profile"].as_str().unwrap();
    assert!(!profile.contains("network-outbound"), "{profile}");
    assert!(
        !profile.contains("(allow file-write* (subpath"),
        "read-only: {profile}"
    );
    assert_eq!(env(&p, "CORDON_NETWORK"), "none");
}

#[test]
fn other_os_backends_refuse_to_run_here() {
    let w = World::new();
    let ran = w.work().join("ran");
    for backend in ["windows", "macos"] {
        let out = w.cordon(&[backend], &["touch", ran.to_str().unwrap()]);
        assert_eq!(out.status.code(), Some(2), "{backend}: {}", text(&out));
        assert!(
            String::from_utf8_lossy(&out.stderr).contains("--plan"),
            "{backend}: {}",
            text(&out)
        );
        assert!(!ran.exists(), "{backend} ran the command");
    }
    for action in [&["windows", "setup"][..], &["windows", "uninstall"][..]] {
        let mut c = std::process::Command::new(super::common::CORDON);
        c.arg("sandbox")
            .args(action)
            .env("CORDON_HOME", w.home.path());
        let out = c.output().unwrap();
        assert_eq!(out.status.code(), Some(2), "{action:?}: {}", text(&out));
    }
    // `--for-user` is accepted (and refused here only for the OS); an
    // empty one is bad input, named.
    let setup_for = |user: &str| {
        std::process::Command::new(super::common::CORDON)
            .args(["sandbox", "windows", "setup", "--for-user", user])
            .env("CORDON_HOME", w.home.path())
            .output()
            .unwrap()
    };
    let out = setup_for("alice");
    assert_eq!(out.status.code(), Some(2), "{}", text(&out));
    assert!(text(&out).contains("only on Windows"), "{}", text(&out));
    let out = setup_for(" ");
    assert_eq!(out.status.code(), Some(2), "{}", text(&out));
    assert!(
        text(&out).contains("--for-user needs a user name"),
        "{}",
        text(&out)
    );
}

/// The legacy aliases: `cordon debug seatbelt` is `cordon sandbox macos`
/// and `cordon debug landlock` is `cordon sandbox linux` (here, planned).
#[test]
fn debug_aliases_plan_like_their_backends() {
    for (alias, os) in [("seatbelt", "macos"), ("landlock", "linux")] {
        let o = std::process::Command::new(CORDON)
            .args(["debug", alias, "--full-auto", "--plan", "--", "true"])
            .output()
            .unwrap();
        assert_eq!(
            o.status.code(),
            Some(0),
            "{}",
            String::from_utf8_lossy(&o.stderr)
        );
        let plan: serde_json::Value = serde_json::from_slice(&o.stdout).unwrap();
        assert_eq!(plan["os"], os);
        assert_eq!(plan["mode"], "workspace-write");
    }
}
