//! Reads [`HostFacts`] on Linux. The cheap readings are taken for every run;
//! the namespace probe forks a child that really creates the namespaces and
//! mounts a `/proc` (for `doctor`, and to explain a failed run).

use super::{landlock, sys};
use crate::support::HostFacts;
use std::io::Read;
use std::os::fd::AsRawFd;

fn read_u64(path: &str) -> Option<u64> {
    std::fs::read_to_string(path).ok()?.trim().parse().ok()
}

/// Readings that cost a few microseconds.
pub fn quick_facts() -> HostFacts {
    let kernel_release = std::fs::read_to_string("/proc/sys/kernel/osrelease")
        .unwrap_or_default()
        .trim()
        .to_string();
    let status = std::fs::read_to_string("/proc/self/status").unwrap_or_default();
    let seccomp_mode_of_self = status
        .lines()
        .find_map(|l| l.strip_prefix("Seccomp:"))
        .and_then(|v| v.trim().parse().ok());
    // SAFETY: PR_GET_SECCOMP takes no pointer arguments.
    let seccomp_available = unsafe { libc::prctl(libc::PR_GET_SECCOMP, 0, 0, 0, 0) } >= 0;
    let cgroup = std::fs::read_to_string("/proc/1/cgroup").unwrap_or_default();
    HostFacts {
        wsl1: kernel_release.contains("Microsoft"),
        kernel_release,
        userns_probe: None,
        other_ns_probe: None,
        max_user_namespaces: read_u64("/proc/sys/user/max_user_namespaces"),
        unprivileged_userns_clone: read_u64("/proc/sys/kernel/unprivileged_userns_clone"),
        apparmor_restrict_userns: read_u64(
            "/proc/sys/kernel/apparmor_restrict_unprivileged_userns",
        ),
        // SAFETY: geteuid cannot fail.
        euid: unsafe { libc::geteuid() },
        landlock_abi: landlock::abi_version(),
        landlock_in_lsm_list: std::fs::read_to_string("/sys/kernel/security/lsm")
            .ok()
            .map(|l| l.split(',').any(|m| m.trim() == "landlock")),
        seccomp_available,
        seccomp_mode_of_self,
        seccomp_listener: seccomp_available.then(|| probe_listener(seccomp_mode_of_self)),
        in_container: std::path::Path::new("/.dockerenv").exists()
            || std::path::Path::new("/run/.containerenv").exists()
            || ["docker", "containerd", "kubepods", "lxc"]
                .iter()
                .any(|c| cgroup.contains(c)),
    }
}

/// Whether init can listen for the command's calls and act on them (see
/// [`HostFacts::seccomp_listener`]). Costs two syscalls, and a fork only
/// when cordon already runs under a filter.
fn probe_listener(mode_of_self: Option<u32>) -> Result<(), String> {
    if !user_notification_available() {
        return Err("seccomp user notification is unavailable (needs Linux 5.0)".into());
    }
    // SAFETY: an invalid pidfd: EBADF where the call exists, ENOSYS where not.
    let r = unsafe { libc::syscall(libc::SYS_pidfd_getfd, -1, 0, 0) };
    if r < 0 && std::io::Error::last_os_error().raw_os_error() == Some(libc::ENOSYS) {
        return Err("the kernel has no pidfd_getfd (Linux 5.6)".into());
    }
    if mode_of_self == Some(2) {
        return probe_second_listener();
    }
    Ok(())
}

/// Whether the kernel has `SECCOMP_RET_USER_NOTIF` and the
/// `SECCOMP_FILTER_FLAG_NEW_LISTENER` flag (Linux 5.0).
fn user_notification_available() -> bool {
    const SECCOMP_SET_MODE_FILTER: libc::c_ulong = 1;
    const SECCOMP_GET_ACTION_AVAIL: libc::c_ulong = 2;
    const SECCOMP_FILTER_FLAG_NEW_LISTENER: libc::c_ulong = 1 << 3;
    const SECCOMP_RET_USER_NOTIF: u32 = 0x7fc0_0000;
    let action = SECCOMP_RET_USER_NOTIF;
    // SAFETY: a pointer to a u32 the kernel only reads.
    let r = unsafe {
        libc::syscall(
            libc::SYS_seccomp,
            SECCOMP_GET_ACTION_AVAIL,
            0,
            &action as *const u32,
        )
    };
    if r != 0 {
        return false;
    }
    // A known flag passes the flag check and fails on the null program
    // (EFAULT); an unknown one fails first (EINVAL). Nothing is loaded.
    // SAFETY: a null program is never dereferenced by user space.
    let r = unsafe {
        libc::syscall(
            libc::SYS_seccomp,
            SECCOMP_SET_MODE_FILTER,
            SECCOMP_FILTER_FLAG_NEW_LISTENER,
            std::ptr::null::<libc::sock_fprog>(),
        )
    };
    r < 0 && std::io::Error::last_os_error().raw_os_error() == Some(libc::EFAULT)
}

/// Under a filter already, loads an allow-all filter with a listener in a
/// child (by the raw syscall, so the kernel's own errno comes back): the
/// kernel refuses a second listener in a process's filters (EBUSY), as
/// inside cordon's own sandbox.
fn probe_second_listener() -> Result<(), String> {
    const SECCOMP_RET_ALLOW: u32 = 0x7fff_0000;
    let allow = [libc::sock_filter {
        code: (libc::BPF_RET | libc::BPF_K) as u16,
        jt: 0,
        jf: 0,
        k: SECCOMP_RET_ALLOW,
    }];
    let prog = libc::sock_fprog {
        len: 1,
        filter: allow.as_ptr().cast_mut(),
    };
    // A child that shares our memory and runs while we wait (as
    // posix_spawn does): no copy of cordon's page tables for two syscalls.
    let mut stack = vec![0u8; 64 * 1024];
    // No signal handler may run in the child (on our memory), as in
    // posix_spawn: all blocked around the clone, the child inheriting it.
    // SAFETY: an all-filled set on the stack.
    let all = unsafe {
        let mut all: libc::sigset_t = std::mem::zeroed();
        libc::sigfillset(&mut all);
        all
    };
    let old_mask = sys::block(&all);
    // SAFETY: the stack grows down from its (16-byte aligned) top; the
    // child only makes raw syscalls on it and exits, and CLONE_VFORK keeps
    // `stack` and `prog` alive and untouched until then.
    let pid = unsafe {
        let top = stack.as_mut_ptr().add(stack.len());
        let top = top.sub(top as usize % 16);
        libc::clone(
            listener_child,
            top.cast(),
            libc::CLONE_VM | libc::CLONE_VFORK | libc::SIGCHLD,
            (&prog as *const libc::sock_fprog).cast_mut().cast(),
        )
    };
    let started = if pid < 0 {
        Err(errno_text("start a probe"))
    } else {
        Ok(())
    };
    sys::set_mask(&old_mask);
    started?;
    let mut status = 0;
    // SAFETY: waiting for our child.
    unsafe { libc::waitpid(pid, &mut status, 0) };
    match sys::exit_code(status) {
        0 => Ok(()),
        libc::EBUSY => Err(
            "cordon already runs under a seccomp filter with a listener (an outer sandbox, such as cordon itself), and the kernel allows one listener per process".into(),
        ),
        code => Err(format!(
            "a seccomp filter with a listener cannot be added here: {}",
            std::io::Error::from_raw_os_error(code)
        )),
    }
}

/// The probe's child: loads the filter `prog` (a `sock_fprog`) with a
/// listener and exits 0, or with the errno. Raw syscalls only: it runs on
/// a borrowed stack in its parent's memory.
extern "C" fn listener_child(prog: *mut libc::c_void) -> libc::c_int {
    const SECCOMP_SET_MODE_FILTER: libc::c_long = 1;
    const SECCOMP_FILTER_FLAG_NEW_LISTENER: libc::c_long = 1 << 3;
    // SAFETY: prctl with integers; seccomp with the valid program the
    // parent passed; the raw exit_group ends this child alone (no
    // CLONE_THREAD) without touching the shared memory's libc state.
    unsafe {
        libc::syscall(libc::SYS_prctl, libc::PR_SET_NO_NEW_PRIVS, 1, 0, 0, 0);
        let r = libc::syscall(
            libc::SYS_seccomp,
            SECCOMP_SET_MODE_FILTER,
            SECCOMP_FILTER_FLAG_NEW_LISTENER,
            prog,
        );
        // libc::syscall leaves the error in errno: the parent's (shared
        // memory), which is suspended until this child exits.
        let code = if r < 0 {
            (*libc::__errno_location()).clamp(1, 255)
        } else {
            0
        };
        libc::syscall(libc::SYS_exit_group, code);
    }
    0
}

/// All readings, including the namespace probe.
pub fn full_facts() -> HostFacts {
    let mut facts = quick_facts();
    let (user, other) = probe_namespaces();
    facts.userns_probe = Some(user);
    facts.other_ns_probe = Some(other);
    facts
}

fn errno_text(step: &str) -> String {
    format!("{step}: {}", std::io::Error::last_os_error())
}

/// Forks a child that unshares a user namespace, then mount/pid/ipc/uts/net
/// namespaces, and mounts a new `/proc` in a grandchild. Reports each stage.
fn probe_namespaces() -> (Result<(), String>, Result<(), String>) {
    let Ok((r, w)) = sys::pipe() else {
        return (Err("pipe failed".into()), Err("not probed".into()));
    };
    // SAFETY: single-threaded caller; the child only makes syscalls and exits.
    let pid = unsafe { libc::fork() };
    if pid == 0 {
        drop(r);
        let report = |msg: &str| {
            // SAFETY: writing a short buffer to our pipe.
            unsafe { libc::write(w.as_raw_fd(), msg.as_ptr().cast(), msg.len()) };
        };
        // SAFETY: as in the sandbox's init (geteuid and getegid cannot fail).
        let (uid, gid) = unsafe { (libc::geteuid(), libc::getegid()) };
        // SAFETY: unshare with flags only.
        if unsafe { libc::unshare(libc::CLONE_NEWUSER) } != 0 {
            report(&format!("U{}", errno_text("unshare(CLONE_NEWUSER)")));
            sys::exit_now(1);
        }
        let _ = sys::write_file("/proc/self/setgroups", "deny");
        if let Err(e) = sys::write_file("/proc/self/uid_map", &format!("{uid} {uid} 1"))
            .and_then(|_| sys::write_file("/proc/self/gid_map", &format!("{gid} {gid} 1")))
        {
            report(&format!("Uwrite uid_map/gid_map: {e}"));
            sys::exit_now(1);
        }
        report("U");
        let flags = libc::CLONE_NEWNS
            | libc::CLONE_NEWPID
            | libc::CLONE_NEWIPC
            | libc::CLONE_NEWUTS
            | libc::CLONE_NEWNET;
        // SAFETY: unshare with flags only.
        if unsafe { libc::unshare(flags) } != 0 {
            report(&format!(
                "\nN{}",
                errno_text("unshare(mount, pid, ipc, uts, net)")
            ));
            sys::exit_now(1);
        }
        // SAFETY: single-threaded child.
        let grandchild = unsafe { libc::fork() };
        if grandchild == 0 {
            let r = sys::mount(None, c"/", None, libc::MS_REC | libc::MS_PRIVATE, None)
                .map_err(|e| format!("make / private: {e}"))
                .and_then(|_| {
                    sys::mount(
                        Some(c"proc"),
                        c"/proc",
                        Some(c"proc"),
                        libc::MS_NOSUID | libc::MS_NODEV | libc::MS_NOEXEC,
                        None,
                    )
                    .map_err(|e| format!("mount /proc: {e}"))
                });
            match r {
                Ok(()) => report("\nN"),
                Err(e) => report(&format!("\nN{e}")),
            }
            sys::exit_now(0);
        }
        if grandchild < 0 {
            report(&format!(
                "\nN{}",
                errno_text("fork into the new namespaces")
            ));
            sys::exit_now(1);
        }
        let mut status = 0;
        // SAFETY: waiting for our child.
        unsafe { libc::waitpid(grandchild, &mut status, 0) };
        sys::exit_now(0);
    }
    if pid < 0 {
        // No child to wait for (waitpid(-1) would wait for any other).
        let e = errno_text("fork a probe");
        return (Err(e.clone()), Err(e));
    }
    drop(w);
    let mut text = String::new();
    let _ = std::fs::File::from(r).read_to_string(&mut text);
    let mut status = 0;
    // SAFETY: waiting for our child.
    unsafe { libc::waitpid(pid, &mut status, 0) };
    let mut user = Err("probe did not report".to_string());
    let mut other = Err("not probed (no user namespace)".to_string());
    for line in text.lines() {
        if let Some(rest) = line.strip_prefix('U') {
            user = if rest.is_empty() {
                Ok(())
            } else {
                Err(rest.to_string())
            };
        } else if let Some(rest) = line.strip_prefix('N') {
            other = if rest.is_empty() {
                Ok(())
            } else {
                Err(rest.to_string())
            };
        }
    }
    (user, other)
}
