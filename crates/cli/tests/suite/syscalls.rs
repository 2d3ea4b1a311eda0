//! Dangerous system calls fail inside the sandbox; each works outside.

use super::common::*;

/// Seccomp's answer, EPERM, inside in every sandboxed mode; the control:
/// the same action works outside and under danger-full-access (no filter).
#[track_caller]
fn assert_filtered(w: &World, action: &[&str]) {
    for flags in [&[][..], &["--full-auto"][..], &["--network", "full"][..]] {
        assert_escape_blocked_errno(w, flags, action, libc::EPERM);
    }
    assert_ok(&w.probe_in(&["-s", "danger-full-access"], action));
}

/// ptrace and process_vm_* aimed at a process in the same sandbox (the
/// probe's own child, same user, same PID namespace, same Landlock domain),
/// where seccomp is the only layer that can refuse them.
#[test]
fn ptrace_and_process_vm_of_a_process_inside_the_sandbox_fail() {
    let w = World::new();
    assert_filtered(&w, &["ptrace-child"]);
    assert_filtered(&w, &["process-vm-child", "read"]);
    assert_filtered(&w, &["process-vm-child", "write"]);
}

/// Keyrings, perf events, userfaultfd, chroot and pivot_root: each works
/// outside and under danger-full-access, each is EPERM inside.
#[test]
fn keyrings_perf_userfaultfd_chroot_and_pivot_root_are_refused() {
    let w = World::new();
    for action in ["keyctl", "add-key", "request-key", "userfaultfd"] {
        assert_filtered(&w, &[action]);
    }
    // chroot looks its path up before checking privilege: ENOENT outside
    // shows the call reached the kernel; only a filter says EPERM first.
    assert_filtered(&w, &["chroot-missing"]);
    // pivot_root in a fresh user and mount namespace outside; inside, no
    // namespace can be made, and pivot_root itself is refused.
    let dir = w.outside();
    assert_filtered(&w, &["pivot-root", dir.to_str().unwrap()]);
    let paranoid: i32 = std::fs::read_to_string("/proc/sys/kernel/perf_event_paranoid")
        .ok()
        .and_then(|v| v.trim().parse().ok())
        .unwrap_or(4);
    if !skip_without(
        "perf-events-for-users",
        is_root() || paranoid <= 2,
        "kernel.perf_event_paranoid > 2 refuses the control to this user",
    ) {
        assert_filtered(&w, &["perf-event-open"]);
    }
}

#[test]
fn tiocsti_is_refused_even_with_high_bits() {
    let w = World::new();
    let legacy = std::fs::read_to_string("/proc/sys/dev/tty/legacy_tiocsti")
        .map(|v| v.trim() == "1")
        .unwrap_or(true);
    if skip_without(
        "legacy-tiocsti",
        legacy || is_root(),
        "dev.tty.legacy_tiocsti=0 refuses the TIOCSTI control to this user",
    ) {
        return;
    }
    assert_escape_blocked_errno(&w, &[], &["tiocsti"], libc::EPERM);
    assert_escape_blocked_errno(&w, &[], &["tiocsti-high"], libc::EPERM);
}

#[test]
fn io_uring_is_refused() {
    let w = World::new();
    let io_uring_on = std::fs::read_to_string("/proc/sys/kernel/io_uring_disabled")
        .map(|v| v.trim() == "0")
        .unwrap_or(true);
    if skip_without(
        "io-uring",
        io_uring_on,
        "kernel.io_uring_disabled refuses the io_uring control",
    ) {
        return;
    }
    for flags in [&[][..], &["--full-auto"][..]] {
        assert_escape_blocked_errno(&w, flags, &["io-uring"], libc::EPERM);
    }
}

#[test]
fn bpf_and_personality_are_refused() {
    let w = World::new();
    assert_escape_blocked_errno(&w, &[], &["personality"], libc::EPERM);
    assert_ok(&w.probe_in(&[], &["personality-query"]));
    // Inside, seccomp's EPERM whoever runs it; the control (the call
    // reaching the kernel's bpf code) needs a user the kernel lets use bpf.
    assert_denied_errno(&w.probe_in(&[], &["bpf"]), libc::EPERM);
    let control = probe_outside(&w.work(), &["bpf"]);
    if !skip_without(
        "bpf-for-this-user",
        control.status.success(),
        "kernel.unprivileged_bpf_disabled refuses the bpf control to this user",
    ) {
        assert_ok(&control);
        assert_ok(&w.probe_in(&["-s", "danger-full-access"], &["bpf"]));
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
