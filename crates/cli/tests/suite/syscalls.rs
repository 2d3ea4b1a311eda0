//! Dangerous system calls fail inside the sandbox; each works outside.

use super::common::*;

#[test]
fn ptrace_and_process_vm_of_an_outside_process_fail() {
    let w = World::new();
    for action in ["ptrace", "process-vm-read"] {
        let mut victim = std::process::Command::new("sleep")
            .arg("30")
            .spawn()
            .unwrap();
        let pid = victim.id().to_string();
        assert_escape_blocked(&w, &[], &[action, &pid]);
        assert_escape_blocked(&w, &["--full-auto"], &[action, &pid]);
        victim.kill().unwrap();
        victim.wait().unwrap();
    }
}

#[test]
fn tiocsti_is_refused_even_with_high_bits() {
    let w = World::new();
    let legacy = std::fs::read_to_string("/proc/sys/dev/tty/legacy_tiocsti")
        .map(|v| v.trim() == "1")
        .unwrap_or(true);
    assert!(
        legacy || is_root(),
        "TIOCSTI control needs dev.tty.legacy_tiocsti=1 or root"
    );
    assert_escape_blocked(&w, &[], &["tiocsti"]);
    assert_escape_blocked(&w, &[], &["tiocsti-high"]);
}

#[test]
fn io_uring_bpf_personality_fail() {
    let w = World::new();
    let io_uring_on = std::fs::read_to_string("/proc/sys/kernel/io_uring_disabled")
        .map(|v| v.trim() == "0")
        .unwrap_or(true);
    assert!(
        io_uring_on,
        "io_uring is disabled on this host; the control cannot run"
    );
    assert_escape_blocked(&w, &[], &["io-uring"]);
    assert_escape_blocked(&w, &[], &["personality"]);
    assert_ok(&w.probe_in(&[], &["personality-query"]));
    if is_root() {
        assert_escape_blocked(&w, &[], &["bpf"]);
    } else {
        assert_denied(&w.probe_in(&[], &["bpf"]));
    }
}

/// Issue 10 item 12: fanotify (unprivileged since 5.13) could watch host
/// mounts from inside; seccomp refuses it with EPERM in every mode but
/// danger-full-access, where it works as outside (the positive control).
#[test]
fn fanotify_init_is_refused() {
    let w = World::new();
    for flags in [&[][..], &["--full-auto"][..]] {
        assert_escape_blocked_errno(&w, flags, &["fanotify"], libc::EPERM);
    }
    assert_ok(&w.probe_in(&["-s", "danger-full-access"], &["fanotify"]));
}

/// The filter admits only the native architecture: `unshare` by the i386
/// entry (`int 0x80`) and a call by its x32 number kill the caller with
/// SIGSYS instead of reaching the kernel. Outside, the i386 call works
/// (IA32 emulation) and the x32 call is answered by the kernel.
#[cfg(target_arch = "x86_64")]
#[test]
fn foreign_architecture_calls_are_killed() {
    let w = World::new();
    let ia32 = probe_outside(&w.work(), &["int80-unshare"]);
    if !skip_without(
        "IA32 emulation",
        ia32.status.success(),
        &format!("int 0x80 fails outside the sandbox: {}", text(&ia32)),
    ) {
        for flags in [&[][..], &["--full-auto"][..]] {
            let o = w.probe_in(flags, &["int80-unshare"]);
            assert_denied(&o);
            assert!(text(&o).contains("killed by signal 31"), "{}", text(&o));
        }
    }
    assert_ok(&probe_outside(&w.work(), &["x32-getpid"]));
    for flags in [&[][..], &["--full-auto"][..]] {
        let o = w.probe_in(flags, &["x32-getpid"]);
        assert_denied(&o);
        assert!(text(&o).contains("killed by signal 31"), "{}", text(&o));
    }
    assert_ok(&w.probe_in(&["-s", "danger-full-access"], &["x32-getpid"]));
}

#[test]
fn namespaces_and_mounts_cannot_be_created_or_entered() {
    let w = World::new();
    let dir = w.outside();
    let d = dir.to_str().unwrap();
    for flags in [&[][..], &["--full-auto"][..]] {
        assert_escape_blocked(&w, flags, &["unshare"]);
        assert_escape_blocked(&w, flags, &["clone-newuser"]);
        assert_escape_blocked(&w, flags, &["setns"]);
        assert_escape_blocked(&w, flags, &["mount", d]);
    }
}
