//! Config errors, CLI usage errors, doctor, plans and the denial log.

use super::common::*;

#[test]
fn bad_config_value_exits_2_with_location() {
    let w = World::new();
    std::fs::write(
        w.home.path().join("config.toml"),
        "\n[sandbox_workspace_write]\nexclude_slash_tmp = \"yes\"\n",
    )
    .unwrap();
    let out = w.cordon(&[], &["true"]);
    assert_eq!(out.status.code(), Some(2), "{}", text(&out));
    let err = String::from_utf8_lossy(&out.stderr);
    assert!(
        err.contains("config.toml:3:21: sandbox_workspace_write.exclude_slash_tmp:"),
        "{err}"
    );
}

/// A bad `[shell_environment_policy]` stops `cordon exec` before any model
/// call, and `cordon sandbox` too, with file, line, key and reason (exit 2).
#[test]
fn bad_shell_environment_policy_exits_2_with_location() {
    let w = World::new();
    for (policy, expected) in [
        (
            "inherit = \"some\"\n",
            "config.toml:3:11: shell_environment_policy.inherit: unknown variant `some`, expected one of `all`, `core`, `none`",
        ),
        (
            "exclude = [\"AWS_[AB]\"]\n",
            "config.toml:3:11: shell_environment_policy.exclude[0]: `AWS_[AB]` is not a name pattern",
        ),
        (
            "set = { CI = true }\n",
            "config.toml:3:14: shell_environment_policy.set.CI: invalid type: boolean `true`, expected a string",
        ),
    ] {
        std::fs::write(
            w.home.path().join("config.toml"),
            format!("model = \"m\"\n[shell_environment_policy]\n{policy}"),
        )
        .unwrap();
        let exec = std::process::Command::new(CORDON)
            .args(["exec", "--skip-git-repo-check", "hi"])
            .current_dir(w.work())
            .env("CORDON_HOME", w.home.path())
            .stdin(std::process::Stdio::null())
            .output()
            .unwrap();
        let sandbox = w.cordon(&[], &["true"]);
        for out in [exec, sandbox] {
            assert_eq!(out.status.code(), Some(2), "{policy}: {}", text(&out));
            let err = String::from_utf8_lossy(&out.stderr);
            assert!(err.contains(expected), "{policy}: {err}");
        }
    }
}

#[test]
fn bad_override_profile_and_flags_exit_2() {
    let w = World::new();
    for flags in [
        &["-c", "sandbox_mode=42"][..],
        &["-p", "nope"][..],
        &["--network", "sideways"][..],
        &["-s", "yolo"][..],
    ] {
        let out = w.cordon(flags, &["true"]);
        assert_eq!(out.status.code(), Some(2), "{flags:?}: {}", text(&out));
    }
    let out = std::process::Command::new(CORDON)
        .args(["sandbox"])
        .output()
        .unwrap();
    assert_eq!(
        out.status.code(),
        Some(2),
        "missing command: {}",
        text(&out)
    );
}

#[test]
fn unknown_key_warns_and_profile_applies() {
    let w = World::new();
    std::fs::write(
        w.home.path().join("config.toml"),
        "colour = true\nprofile = \"work\"\n[profiles.work]\nsandbox_mode = \"workspace-write\"\n",
    )
    .unwrap();
    let out = w.probe_in(&[], &["write", w.work().join("f").to_str().unwrap()]);
    assert_ok(&out);
    assert!(
        String::from_utf8_lossy(&out.stderr).contains("unknown key `colour`"),
        "{}",
        text(&out)
    );
}

#[test]
fn doctor_reports_every_layer_as_json() {
    let out = std::process::Command::new(CORDON)
        .args(["sandbox", "doctor", "--json"])
        .output()
        .unwrap();
    let v: serde_json::Value = serde_json::from_slice(&out.stdout).unwrap();
    let layers = v["layers"].as_array().unwrap();
    assert_eq!(layers.len(), 5);
    assert!(layers.iter().all(|l| l["available"].is_boolean()));
    assert_eq!(layers[4]["layer"], "seccomp listener");
    assert_eq!(
        v["ready"], true,
        "this test host must support every layer: {v}"
    );
    assert_eq!(out.status.code(), Some(0));
}

#[test]
fn plan_prints_layers_and_runs_nothing() {
    let w = World::new();
    let marker = w.work().join("ran");
    let out = w.cordon(
        &["--full-auto", "--plan"],
        &["touch", marker.to_str().unwrap()],
    );
    assert!(out.status.success(), "{}", text(&out));
    let v: serde_json::Value = serde_json::from_slice(&out.stdout).unwrap();
    assert!(v["landlock"]["abi"].as_u64().unwrap() >= 1);
    assert!(v["seccomp"]["denied_syscalls"]
        .as_array()
        .unwrap()
        .iter()
        .any(|s| s == "ptrace"));
    assert!(v["mounts"]
        .as_array()
        .unwrap()
        .iter()
        .any(|m| m["op"] == "read-only-root"));
    assert!(!marker.exists());
}

#[test]
fn log_denials_names_writes_and_connects() {
    let w = World::new();
    let target = w.outside().join("denied-file");
    let ip = own_addresses()
        .into_iter()
        .find(std::net::IpAddr::is_ipv4)
        .unwrap();
    let l = std::net::TcpListener::bind((ip, 0)).unwrap();
    let addr = l.local_addr().unwrap().to_string();
    let script = format!(
        "{PROBE} write {}; {PROBE} tcp {addr}; {PROBE} unix-socket; {PROBE} write ok-file; true",
        target.display()
    );
    let out = w.cordon(&["--full-auto", "--log-denials"], &["sh", "-c", &script]);
    let err = String::from_utf8_lossy(&out.stderr);
    assert!(out.status.success(), "{}", text(&out));
    // The unix socket is refused as without the flag (EPERM) and reported.
    assert!(
        err.contains("denied: socket(AF_UNIX): Operation not permitted (os error 1)"),
        "{err}"
    );
    assert!(
        err.contains("  unix-socket socket(AF_UNIX) (socket)"),
        "{err}"
    );
    assert!(
        err.contains(&format!("write       {} (openat)", target.display())),
        "{err}"
    );
    assert!(
        err.contains(&format!("network     {addr} (connect)")),
        "{err}"
    );
    assert!(
        !err.contains("ok-file"),
        "allowed writes are not denials: {err}"
    );
    // Control: without the flag, no summary.
    let out = w.cordon(&["--full-auto"], &["sh", "-c", &script]);
    assert!(!String::from_utf8_lossy(&out.stderr).contains("denied target"));
    // Control: a run that makes no unix socket reports none.
    let quiet = w.cordon(
        &["--full-auto", "--log-denials"],
        &[PROBE, "write", target.to_str().unwrap()],
    );
    let err = String::from_utf8_lossy(&quiet.stderr);
    assert!(
        err.contains("denied target") && !err.contains("unix-socket"),
        "{err}"
    );
}

/// Issue 10 item 11: with `*` allowed, a deny rule on a name cannot stop
/// the host's address; `--plan` and `--log-denials` runs say so. The
/// control: `*` alone, or a deny with named allows, says nothing.
#[test]
fn a_name_deny_under_star_is_called_out() {
    let w = World::new();
    let note = "match names only";
    for (flags, expect) in [
        (
            &[
                "--allow-domain",
                "*",
                "--deny-domain",
                "evil.example",
                "--plan",
            ][..],
            true,
        ),
        (
            &[
                "--allow-domain",
                "*",
                "--deny-domain",
                "evil.example",
                "--log-denials",
            ][..],
            true,
        ),
        (&["--allow-domain", "*", "--plan"][..], false),
        (
            &[
                "--allow-domain",
                "good.example",
                "--deny-domain",
                "evil.example",
                "--plan",
            ][..],
            false,
        ),
    ] {
        let mut all = vec!["--network", "proxy"];
        all.extend_from_slice(flags);
        let o = w.cordon(&all, &["true"]);
        assert!(o.status.success(), "{flags:?}: {}", text(&o));
        let err = String::from_utf8_lossy(&o.stderr);
        assert_eq!(err.contains(note), expect, "{flags:?}: {err}");
        if expect {
            assert!(err.contains("evil.example"), "{err}");
        }
    }
}

/// `cordon doctor`: with a provider whose endpoint (a listener the test
/// runs on 127.0.0.1) accepts connections and its key set, every check
/// passes (exit 0); an unset key, a closed port and a `$CORDON_HOME`
/// writable by others each fail with their fix (exit 1).
#[test]
fn doctor_checks_the_installation_and_names_each_fix() {
    let home = tempfile::tempdir().unwrap();
    let listener = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
    let open_port = listener.local_addr().unwrap().port();
    let closed_port = {
        let l = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
        l.local_addr().unwrap().port()
    };
    let configure = |port: u16| {
        std::fs::write(
            home.path().join("config.toml"),
            format!("model = \"m\"\nmodel_provider = \"local\"\n[model_providers.local]\nname = \"Local\"\nbase_url = \"http://127.0.0.1:{port}/v1\"\nenv_key = \"DOCTOR_TEST_KEY\"\n"),
        )
        .unwrap();
    };
    let doctor = |key: Option<&str>| {
        let mut c = std::process::Command::new(CORDON);
        c.args(["doctor", "--json"])
            .env("CORDON_HOME", home.path())
            .env_remove("DOCTOR_TEST_KEY");
        if let Some(k) = key {
            c.env("DOCTOR_TEST_KEY", k);
        }
        let o = c.output().unwrap();
        let v: serde_json::Value = serde_json::from_slice(&o.stdout)
            .unwrap_or_else(|e| panic!("{e}: {}", String::from_utf8_lossy(&o.stdout)));
        (o.status.code(), v)
    };
    let status = |v: &serde_json::Value, name: &str| {
        v["checks"]
            .as_array()
            .unwrap()
            .iter()
            .find(|c| c["name"] == name)
            .map(|c| (c["status"].as_str().unwrap().to_string(), c["fix"].clone()))
            .unwrap_or_else(|| panic!("no check {name}: {v}"))
    };
    use std::os::unix::fs::PermissionsExt;
    std::fs::set_permissions(home.path(), std::fs::Permissions::from_mode(0o700)).unwrap();
    configure(open_port);
    let (code, v) = doctor(Some("k"));
    let sandbox_ok = status(&v, "sandbox").0 == "ok";
    assert_eq!(status(&v, "endpoint").0, "ok", "{v}");
    assert_eq!(status(&v, "api key").0, "ok", "{v}");
    assert_eq!(status(&v, "cordon home").0, "ok", "{v}");
    assert_eq!(code, Some(if sandbox_ok { 0 } else { 1 }), "{v}");
    let (code, v) = doctor(None);
    assert_eq!(code, Some(1));
    let (s, fix) = status(&v, "api key");
    assert_eq!(s, "fail");
    assert!(fix.as_str().unwrap().contains("DOCTOR_TEST_KEY"), "{v}");
    configure(closed_port);
    let (code, v) = doctor(Some("k"));
    assert_eq!(code, Some(1));
    assert_eq!(status(&v, "endpoint").0, "fail", "{v}");
    configure(open_port);
    std::fs::set_permissions(home.path(), std::fs::Permissions::from_mode(0o777)).unwrap();
    let (code, v) = doctor(Some("k"));
    assert_eq!(code, Some(1));
    let (s, fix) = status(&v, "cordon home");
    assert_eq!(s, "fail", "{v}");
    assert!(fix.as_str().unwrap().contains("chmod go-w"), "{v}");
    drop(listener);
}

/// `cordon completion SHELL` prints a script naming cordon's commands.
#[test]
fn completion_scripts_name_the_commands() {
    for shell in ["bash", "zsh", "fish", "powershell", "elvish"] {
        let o = std::process::Command::new(CORDON)
            .args(["completion", shell])
            .output()
            .unwrap();
        assert_eq!(o.status.code(), Some(0), "{shell}");
        let script = String::from_utf8_lossy(&o.stdout);
        assert!(
            script.contains("sandbox") && script.contains("exec"),
            "{shell}"
        );
    }
    let bad = std::process::Command::new(CORDON)
        .args(["completion", "tcsh"])
        .output()
        .unwrap();
    assert_eq!(bad.status.code(), Some(2));
}
