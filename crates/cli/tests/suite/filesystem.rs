//! Reads, writes, writable roots and the temp directories.

use super::common::*;

#[test]
fn reads_work_and_writes_outside_fail_in_read_only() {
    let w = World::new();
    let target = w.outside().join("file");
    std::fs::write(&target, "data").unwrap();
    assert_ok(&w.probe_in(&[], &["read", target.to_str().unwrap()]));
    // Control: the same write outside the sandbox works.
    let new = w.outside().join("new");
    assert_escape_blocked(&w, &[], &["write", new.to_str().unwrap()]);
    assert_denied(&w.probe_in(&[], &["write", w.work().join("f").to_str().unwrap()]));
    assert_denied(&w.probe_in(&[], &["append", target.to_str().unwrap()]));
    assert_eq!(std::fs::read_to_string(&target).unwrap(), "data");
}

#[test]
fn workspace_write_allows_the_workspace_only() {
    let w = World::new();
    let inside = w.work().join("created");
    assert_ok(&w.probe_in(&["--full-auto"], &["write", inside.to_str().unwrap()]));
    assert_eq!(std::fs::read_to_string(&inside).unwrap(), "x");
    let outside = w.outside().join("escape");
    assert_escape_blocked(&w, &["--full-auto"], &["write", outside.to_str().unwrap()]);
    assert_denied(&w.probe_in(&["--full-auto"], &["write", "/etc/cordon-escape"]));
}

#[test]
fn extra_writable_root_flag_and_config() {
    let w = World::new();
    let extra = w.outside();
    let f = extra.join("via-flag");
    let flag = format!("--writable-root={}", extra.display());
    assert_ok(&w.probe_in(&["--full-auto", &flag], &["write", f.to_str().unwrap()]));
    std::fs::write(
        w.home.path().join("config.toml"),
        format!("sandbox_mode = \"workspace-write\"\n[sandbox_workspace_write]\nwritable_roots = [{:?}]\n", extra),
    )
    .unwrap();
    assert_ok(&w.probe_in(&[], &["write", extra.join("via-config").to_str().unwrap()]));
}

#[test]
fn slash_tmp_and_tmpdir_follow_the_flags() {
    let w = World::new();
    let tmpdir = tempfile::tempdir_in("/var/tmp").unwrap();
    let tmpdir_path = std::fs::canonicalize(tmpdir.path()).unwrap();
    let in_tmp = format!("/tmp/cordon-test-{}", std::process::id());
    let in_tmpdir = tmpdir_path.join("f");
    let run = |extra: &[&str], path: &str| {
        let mut flags = vec!["--full-auto"];
        flags.extend_from_slice(extra);
        let mut cmd = w.cordon_cmd(&flags, &[PROBE, "write", path]);
        cmd.env("TMPDIR", &tmpdir_path);
        cmd.output().unwrap()
    };
    assert_ok(&run(&[], &in_tmp));
    std::fs::remove_file(&in_tmp).unwrap();
    assert_ok(&run(&[], in_tmpdir.to_str().unwrap()));
    assert_denied(&run(
        &["-c", "sandbox_workspace_write.exclude_slash_tmp=true"],
        &in_tmp,
    ));
    assert_denied(&run(
        &["-c", "sandbox_workspace_write.exclude_tmpdir_env_var=true"],
        in_tmpdir.to_str().unwrap(),
    ));
    assert!(!std::path::Path::new(&in_tmp).exists());
    // Read-only mode: neither is writable.
    let mut cmd = w.cordon_cmd(&[], &[PROBE, "write", in_tmpdir.to_str().unwrap()]);
    cmd.env("TMPDIR", &tmpdir_path);
    assert_denied(&cmd.output().unwrap());
}

#[test]
fn danger_full_access_is_unrestricted() {
    let w = World::new();
    let outside = w.outside().join("free");
    assert_ok(&w.probe_in(
        &["-s", "danger-full-access"],
        &["write", outside.to_str().unwrap()],
    ));
    assert_ok(&w.probe_in(&["-s", "danger-full-access"], &["unix-socket"]));
    assert_ok(&w.probe_in(&["-s", "danger-full-access"], &["unshare"]));
}

/// Inside cordon's own sandbox, namespaces are forbidden: a nested cordon
/// refuses, and with --allow-degraded says what it gives up and still
/// enforces the file system through Landlock alone.
#[test]
fn nested_cordon_refuses_then_degrades_to_landlock() {
    let w = World::new();
    let inner = w.work().join("inner");
    std::fs::create_dir(&inner).unwrap();
    let shared = w.outside();
    let root_flag = format!("--writable-root={}", shared.display());
    let outer = |inner_flags: &[&str], action: &[&str]| {
        let mut cmd = vec![
            CORDON.path(),
            "sandbox",
            "--full-auto",
            "-c",
            "sandbox_workspace_write.exclude_slash_tmp=true",
            "-C",
            inner.to_str().unwrap(),
        ];
        cmd.extend_from_slice(inner_flags);
        cmd.push("--");
        cmd.push(PROBE);
        cmd.extend_from_slice(action);
        w.cordon(&["--full-auto", &root_flag], &cmd)
    };
    let target = shared.join("from-inner");
    // Control: the outer sandbox alone may write there.
    assert_ok(&w.probe_in(
        &["--full-auto", &root_flag],
        &["write", shared.join("from-outer").to_str().unwrap()],
    ));
    let refused = outer(&[], &["write", target.to_str().unwrap()]);
    assert_eq!(refused.status.code(), Some(125), "{}", text(&refused));
    assert!(
        String::from_utf8_lossy(&refused.stderr).contains("allow-degraded"),
        "{}",
        text(&refused)
    );

    let denied = outer(&["--allow-degraded"], &["write", target.to_str().unwrap()]);
    assert_denied(&denied);
    let err = String::from_utf8_lossy(&denied.stderr);
    assert!(
        err.contains("DEGRADED") && err.contains("mount namespace"),
        "{err}"
    );
    // The outer sandbox's seccomp listener is the only one the kernel
    // allows; the inner run says its roots' tops are unprotected.
    assert!(err.contains("seccomp listener"), "{err}");
    assert!(
        err.contains("Permission denied"),
        "Landlock (EACCES), not a read-only mount: {err}"
    );
    assert!(!target.exists());
    assert_ok(&outer(
        &["--allow-degraded"],
        &["write", inner.join("ok").to_str().unwrap()],
    ));
}
