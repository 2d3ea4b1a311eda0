//! seccomp alone: the plan's filter on a process with no namespace, no
//! Landlock and all its capabilities. Each attack gets arguments that make
//! it succeed, or fail early in the kernel with an errno other than the
//! filter's, when no filter is loaded.

use super::{
    child_args, child_main, child_main_on, probe, run_in_child, skip_without, Errno, Fixture,
    Outcome, Probe, Refusal,
};
use crate::linux::seccomp;
use crate::plan::Namespace;
use std::ffi::CStr;

fn ret(r: libc::c_long) -> Outcome {
    Outcome::of(r)
}

/// A raw syscall with up to five arguments (the sixth is 0).
fn call(nr: libc::c_long, a: [libc::c_long; 5]) -> Outcome {
    // SAFETY: each probe passes arguments the kernel validates (bad pointers
    // give EFAULT); probes run in a process of their own.
    ret(unsafe { libc::syscall(nr, a[0], a[1], a[2], a[3], a[4], 0 as libc::c_long) })
}

/// A raw syscall with `-1` in all six argument registers.
fn call_all_ones(nr: libc::c_long) -> Outcome {
    // SAFETY: -1 is no valid pointer, descriptor, length or flag set: the
    // kernel rejects each of these calls early (and the filter first).
    ret(unsafe { libc::syscall(nr, -1, -1, -1, -1, -1, -1 as libc::c_long) })
}

/// The native number of syscall `name`, if it has one here.
fn syscall_number(name: &str) -> Option<libc::c_long> {
    crate::linux::seccomp::resolve(name).map(libc::c_long::from)
}

fn ptr(s: &CStr) -> libc::c_long {
    s.as_ptr() as libc::c_long
}

fn dev_null_ioctl(request: u64) -> Outcome {
    let Ok(f) = std::fs::File::open("/dev/null") else {
        return Outcome::Died(0);
    };
    use std::os::fd::AsRawFd;
    let c: libc::c_char = b'x' as libc::c_char;
    call(
        libc::SYS_ioctl,
        [
            f.as_raw_fd().into(),
            request as libc::c_long,
            &c as *const libc::c_char as libc::c_long,
            0,
            0,
        ],
    )
}

/// `ptrace(PTRACE_ATTACH)` on a child of our own.
fn ptrace_own_child() -> Outcome {
    // SAFETY: the child only pauses until it is killed.
    let target = unsafe { libc::fork() };
    if target == 0 {
        loop {
            // SAFETY: pause has no arguments.
            unsafe { libc::pause() };
        }
    }
    let outcome = call(
        libc::SYS_ptrace,
        [libc::PTRACE_ATTACH as libc::c_long, target.into(), 0, 0, 0],
    );
    // SAFETY: killing and reaping our own child.
    unsafe { libc::kill(target, libc::SIGKILL) };
    loop {
        let mut status = 0;
        // SAFETY: waiting for our own child.
        let r = unsafe { libc::waitpid(target, &mut status, 0) };
        if r < 0 || libc::WIFEXITED(status) || libc::WIFSIGNALED(status) {
            break;
        }
    }
    outcome
}

/// `process_vm_readv` (`write` false) or `_writev` on our own memory.
fn process_vm(write: bool) -> Outcome {
    let mut ours = [7u8; 8];
    let mut theirs = [0u8; 8];
    let local = libc::iovec {
        iov_base: ours.as_mut_ptr().cast(),
        iov_len: 8,
    };
    let remote = libc::iovec {
        iov_base: theirs.as_mut_ptr().cast(),
        iov_len: 8,
    };
    let nr = if write {
        libc::SYS_process_vm_writev
    } else {
        libc::SYS_process_vm_readv
    };
    // SAFETY: getpid cannot fail.
    let pid = unsafe { libc::getpid() };
    call(
        nr,
        [
            pid.into(),
            &local as *const libc::iovec as libc::c_long,
            1,
            &remote as *const libc::iovec as libc::c_long,
            1,
        ],
    )
}

/// `clone(CLONE_NEWUSER)`; the new child exits at once.
fn clone_new_user() -> Outcome {
    // SAFETY: without CLONE_VM the child runs on a copy of our memory and
    // leaves through `_exit` straight away.
    let r = unsafe {
        libc::syscall(
            libc::SYS_clone,
            (libc::CLONE_NEWUSER | libc::SIGCHLD) as libc::c_long,
            0,
            0,
            0,
            0,
        )
    };
    if r == 0 {
        super::sys::exit_now(0)
    }
    let outcome = ret(r);
    if r > 0 {
        let mut status = 0;
        // SAFETY: waiting for our own child.
        unsafe { libc::waitpid(r as libc::pid_t, &mut status, 0) };
    }
    outcome
}

fn socket(family: i64, kind: libc::c_int) -> Outcome {
    call(libc::SYS_socket, [family, kind.into(), 0, 0, 0])
}

fn socketpair(kind: libc::c_int) -> Outcome {
    let mut fds = [0 as libc::c_int; 2];
    call(
        libc::SYS_socketpair,
        [
            libc::AF_UNIX.into(),
            kind.into(),
            0,
            fds.as_mut_ptr() as libc::c_long,
            0,
        ],
    )
}

/// An attack the filter refuses: name, the planned errno, and what the
/// control needs from the host to show a different result.
struct Attack {
    name: &'static str,
    errno: i32,
    feature: &'static str,
    run: fn() -> Outcome,
}

const fn attack(
    name: &'static str,
    errno: i32,
    feature: &'static str,
    run: fn() -> Outcome,
) -> Attack {
    Attack {
        name,
        errno,
        feature,
        run,
    }
}

const PTRACE: &str = "ptrace(PTRACE_ATTACH) of one's own child (Yama ptrace_scope < 3)";
const KEYS: &str = "keyrings not refused by the host (e.g. a container's seccomp profile)";
const HOST_FILTER: &str = "the call not refused by the host's own seccomp profile";
const USERNS: &str = "unprivileged user namespaces";

/// Every attack, with arguments that succeed (or fail otherwise) without
/// the filter.
fn attacks() -> Vec<Attack> {
    let eperm = libc::EPERM;
    vec![
        attack("ptrace attach", eperm, PTRACE, ptrace_own_child),
        attack("process_vm_readv of oneself", eperm, HOST_FILTER, || {
            process_vm(false)
        }),
        attack("process_vm_writev of oneself", eperm, HOST_FILTER, || {
            process_vm(true)
        }),
        attack("keyctl(KEYCTL_GET_KEYRING_ID)", eperm, KEYS, || {
            // KEYCTL_GET_KEYRING_ID on KEY_SPEC_PROCESS_KEYRING, created.
            call(libc::SYS_keyctl, [0, -2, 1, 0, 0])
        }),
        attack("add_key", eperm, KEYS, || {
            let payload = b"x";
            call(
                libc::SYS_add_key,
                [
                    ptr(c"user"),
                    ptr(c"cordon-layer-alone"),
                    payload.as_ptr() as libc::c_long,
                    1,
                    -2,
                ],
            )
        }),
        attack(
            "request_key (ENOKEY without the filter)",
            eperm,
            KEYS,
            || {
                call(
                    libc::SYS_request_key,
                    [ptr(c"user"), ptr(c"cordon-layer-alone-absent"), 0, 0, 0],
                )
            },
        ),
        attack(
            "io_uring_setup",
            eperm,
            "io_uring (kernel.io_uring_disabled = 0)",
            || {
                let mut params = [0u64; 15];
                call(
                    libc::SYS_io_uring_setup,
                    [1, params.as_mut_ptr() as libc::c_long, 0, 0, 0],
                )
            },
        ),
        attack(
            "perf_event_open (EFAULT without the filter)",
            eperm,
            HOST_FILTER,
            || call(libc::SYS_perf_event_open, [0, 0, -1, -1, 0]),
        ),
        attack(
            "fanotify_init(FAN_REPORT_FID)",
            eperm,
            "unprivileged fanotify (Linux 5.13+)",
            // FAN_CLASS_NOTIF | FAN_REPORT_FID, O_RDONLY.
            || call(libc::SYS_fanotify_init, [0x200, 0, 0, 0, 0]),
        ),
        attack(
            "userfaultfd(UFFD_USER_MODE_ONLY)",
            eperm,
            "user-mode userfaultfd (Linux 5.11+)",
            || {
                call(
                    libc::SYS_userfaultfd,
                    [(libc::O_CLOEXEC | 1).into(), 0, 0, 0, 0],
                )
            },
        ),
        attack("unshare(CLONE_NEWUSER)", eperm, USERNS, || {
            call(libc::SYS_unshare, [libc::CLONE_NEWUSER.into(), 0, 0, 0, 0])
        }),
        attack("clone(CLONE_NEWUSER)", eperm, USERNS, clone_new_user),
        attack(
            "clone3 (EINVAL without the filter)",
            libc::ENOSYS,
            HOST_FILTER,
            || call(libc::SYS_clone3, [0, 0, 0, 0, 0]),
        ),
        attack(
            "setns (EBADF without the filter)",
            eperm,
            HOST_FILTER,
            || call(libc::SYS_setns, [-1, libc::CLONE_NEWNET.into(), 0, 0, 0]),
        ),
        attack(
            "mount (EFAULT without the filter)",
            eperm,
            HOST_FILTER,
            || call(libc::SYS_mount, [ptr(c"none"), ptr(c"/"), 1, 0, 0]),
        ),
        attack(
            "umount2 (EINVAL without the filter)",
            eperm,
            HOST_FILTER,
            || call(libc::SYS_umount2, [ptr(c"/"), 0xffff_ffff, 0, 0, 0]),
        ),
        attack(
            "chroot (ENOENT without the filter)",
            eperm,
            HOST_FILTER,
            || call(libc::SYS_chroot, [ptr(c"/nonexistent/cordon"), 0, 0, 0, 0]),
        ),
        attack(
            "ioctl(TIOCSTI) (ENOTTY without the filter)",
            eperm,
            HOST_FILTER,
            || dev_null_ioctl(0x5412),
        ),
        attack(
            "ioctl(TIOCSTI | 1 << 32) (ENOTTY without the filter)",
            eperm,
            HOST_FILTER,
            || dev_null_ioctl(0x1_0000_5412),
        ),
        attack(
            "ioctl(TIOCLINUX) (ENOTTY without the filter)",
            eperm,
            HOST_FILTER,
            || dev_null_ioctl(0x541C),
        ),
        attack("socket(AF_UNIX)", eperm, HOST_FILTER, || {
            socket(libc::AF_UNIX.into(), libc::SOCK_STREAM)
        }),
        attack(
            "socket(AF_UNIX | 1 << 32)",
            libc::EAFNOSUPPORT,
            HOST_FILTER,
            || socket(0x1_0000_0001, libc::SOCK_STREAM),
        ),
        attack(
            "socket(AF_NETLINK)",
            libc::EAFNOSUPPORT,
            HOST_FILTER,
            || socket(libc::AF_NETLINK.into(), libc::SOCK_RAW),
        ),
        attack(
            "socketpair(AF_UNIX, SOCK_DGRAM)",
            eperm,
            HOST_FILTER,
            || socketpair(libc::SOCK_DGRAM),
        ),
        attack("personality(ADDR_NO_RANDOMIZE)", eperm, HOST_FILTER, || {
            call(libc::SYS_personality, [0x0040000, 0, 0, 0, 0])
        }),
    ]
}

const INT80: &str = "int 0x80 unshare(CLONE_NEWUSER) (i386 entry)";
const X32: &str = "getpid by its x32 number";

/// `unshare(CLONE_NEWUSER)` through the i386 entry (i386 number 310): a
/// filter that checked numbers but not the architecture would pass it.
#[cfg(target_arch = "x86_64")]
fn int80_unshare() -> Outcome {
    let ret: i32;
    // SAFETY: rbx (reserved by LLVM) is swapped in and back; r8-r11 are
    // declared clobbered; the probe runs in a process of its own.
    unsafe {
        std::arch::asm!(
            "xchg {arg:r}, rbx",
            "int 0x80",
            "xchg {arg:r}, rbx",
            arg = inout(reg) libc::CLONE_NEWUSER as u64 => _,
            inlateout("eax") 310i32 => ret,
            out("r8") _, out("r9") _, out("r10") _, out("r11") _,
        )
    };
    if ret < 0 {
        Errno(-ret)
    } else {
        Outcome::Done
    }
}

/// Foreign-architecture calls: the filter kills the caller (SIGSYS).
#[cfg(target_arch = "x86_64")]
fn foreign() -> Vec<Probe> {
    vec![
        probe(INT80, |_| int80_unshare()),
        probe(X32, |_| call(0x4000_0000 | libc::SYS_getpid, [0; 5])),
    ]
}

#[cfg(not(target_arch = "x86_64"))]
fn foreign() -> Vec<Probe> {
    Vec::new()
}

const INET: &str = "socket(AF_INET) (allowed)";
const STREAM_PAIR: &str = "socketpair(AF_UNIX, SOCK_STREAM) (allowed)";
const PERSONALITY_QUERY: &str = "personality(0xffffffff) query (allowed)";

/// What the filter must leave working.
fn allowed() -> Vec<Probe> {
    vec![
        probe(INET, |_| socket(libc::AF_INET.into(), libc::SOCK_STREAM)),
        probe(STREAM_PAIR, |_| socketpair(libc::SOCK_STREAM)),
        probe(PERSONALITY_QUERY, |_| {
            call(libc::SYS_personality, [0xffff_ffff, 0, 0, 0, 0])
        }),
    ]
}

/// The probe name of a denied syscall called with `-1` everywhere.
fn planned(name: &str) -> String {
    format!("planned: {name}(-1, ...)")
}

#[test]
fn seccomp_alone_refuses_the_planned_calls() {
    if let Some(args) = child_args() {
        child(&args)
    }
    // SAFETY: PR_GET_SECCOMP takes no pointer arguments.
    let available = unsafe { libc::prctl(libc::PR_GET_SECCOMP, 0, 0, 0, 0) } >= 0;
    if skip_without("seccomp", available, "the kernel has no seccomp filters") {
        return;
    }
    let (f, _guard) = Fixture::create();
    let plan = f.plan();
    let planned_calls = &plan
        .seccomp
        .as_ref()
        .expect("seccomp is planned")
        .denied_syscalls;
    let Some(r) = run_in_child(&[f.base.display().to_string()]) else {
        return;
    };
    for a in attacks() {
        r.assert_refuses(a.name, a.errno, a.feature);
    }
    for name in [INET, STREAM_PAIR, PERSONALITY_QUERY] {
        r.assert_allows(name);
    }
    // Without the filter the kernel answers these (the i386 call works
    // with IA32 emulation; the x32 one gives ENOSYS without x32 support).
    if cfg!(target_arch = "x86_64") {
        for name in [INT80, X32] {
            let got = r.layer_outcomes().get(name).copied();
            let control = r.control(name);
            assert_eq!(
                got,
                Some(Outcome::Died(libc::SIGSYS)),
                "{name} with the filter alone (control: {control})"
            );
            assert!(
                !matches!(control, Outcome::Died(_)),
                "{name} without the filter: {control}"
            );
        }
    }
    // Every call the plan denies, with arguments the kernel would reject
    // itself: the filter answers EPERM first. (Where the kernel refuses this
    // user with EPERM too, the attacks above are the controls.)
    let mut checked = 0;
    for name in planned_calls.iter().filter(|n| syscall_number(n).is_some()) {
        let key = planned(name);
        let got = r.layer_outcomes().get(&key).copied();
        assert_eq!(
            got,
            Some(Errno(libc::EPERM)),
            "{key} with the filter alone: got {got:?} (without it: {})",
            r.control(&key)
        );
        checked += 1;
    }
    assert!(
        checked > 0,
        "no planned syscall exists here: {planned_calls:?}"
    );
}

fn child(args: &[String]) -> ! {
    let f = Fixture::at(&args[0]);
    let plan = f.plan().seccomp.expect("seccomp is planned");
    let mut probes: Vec<Probe> = attacks()
        .into_iter()
        .map(|a| probe(a.name, move |_| (a.run)()))
        .collect();
    probes.extend(allowed());
    probes.extend(foreign());
    for name in &plan.denied_syscalls {
        if let Some(nr) = syscall_number(name) {
            probes.push(probe(planned(name), move |_| call_all_ones(nr)));
        }
    }
    child_main(&|| load(&plan), &probes)
}

const FSOPEN: &str = "fsopen(tmpfs)";
const FSCONFIG: &str = "fsconfig(FSCONFIG_CMD_CREATE)";
const FSMOUNT: &str = "fsmount";
const OPEN_TREE: &str = "open_tree(OPEN_TREE_CLONE)";
const MOVE_MOUNT: &str = "move_mount of a cloned tree";
const FSPICK: &str = "fspick(/)";
const MOUNT_TMPFS: &str = "mount(tmpfs)";
const UMOUNT: &str = "umount2 of a tmpfs";
const MOUNT_SETATTR: &str = "mount_setattr(/, MOUNT_ATTR_RDONLY)";
const PIVOT_ROOT: &str = "pivot_root onto a tmpfs";
const CHROOT: &str = "chroot(/)";
const UNSHARE_NS: &str = "unshare(CLONE_NEWNS)";

fn mount_tmpfs(dir: &CStr) -> Outcome {
    call(
        libc::SYS_mount,
        [ptr(c"none"), ptr(dir), ptr(c"tmpfs"), 0, 0],
    )
}

/// `fsopen("tmpfs")`, then `fsconfig(CMD_CREATE)` if `create`, returning
/// the descriptor (or -1) and the last call's outcome.
fn fs_context(create: bool) -> (libc::c_long, Outcome) {
    // SAFETY: a valid C string; FSOPEN_CLOEXEC.
    let fd = unsafe { libc::syscall(libc::SYS_fsopen, c"tmpfs".as_ptr(), 1) };
    let mut outcome = ret(fd);
    if create {
        // FSCONFIG_CMD_CREATE (6) on the context; the filter answers first
        // even when fsopen failed.
        outcome = call(libc::SYS_fsconfig, [fd, 6, 0, 0, 0]);
    }
    (fd, outcome)
}

/// The mount API attacks, made by a process that holds CAP_SYS_ADMIN in a
/// user and mount namespace of its own (as the sandbox's init does), so
/// that without the filter they succeed.
fn mount_api_probes(base: &std::path::Path) -> Vec<Probe> {
    let c =
        |name: &str| std::ffi::CString::new(base.join(name).display().to_string()).expect("no NUL");
    let (mnt, mnt2, mnt3, mnt4, mnt5) = (c("mnt"), c("mnt2"), c("mnt"), c("mnt"), c("mnt"));
    vec![
        probe(FSOPEN, |_| fs_context(false).1),
        probe(FSCONFIG, |_| fs_context(true).1),
        probe(FSMOUNT, |_| {
            let (fd, _) = fs_context(true);
            // FSMOUNT_CLOEXEC.
            call(libc::SYS_fsmount, [fd, 1, 0, 0, 0])
        }),
        probe(OPEN_TREE, |_| {
            call(
                libc::SYS_open_tree,
                [
                    libc::AT_FDCWD.into(),
                    ptr(c"/"),
                    (super::sys::OPEN_TREE_CLONE
                        | super::sys::AT_RECURSIVE
                        | libc::O_CLOEXEC as u32)
                        .into(),
                    0,
                    0,
                ],
            )
        }),
        probe(MOVE_MOUNT, move |_| {
            // SAFETY: valid C strings; OPEN_TREE_CLONE of a directory.
            let fd = unsafe {
                libc::syscall(
                    libc::SYS_open_tree,
                    libc::AT_FDCWD,
                    mnt.as_ptr(),
                    super::sys::OPEN_TREE_CLONE | libc::O_CLOEXEC as u32,
                )
            };
            call(
                libc::SYS_move_mount,
                [
                    fd,
                    ptr(c""),
                    libc::AT_FDCWD.into(),
                    ptr(&mnt2),
                    super::sys::MOVE_MOUNT_F_EMPTY_PATH.into(),
                ],
            )
        }),
        // FSPICK_CLOEXEC.
        probe(FSPICK, |_| {
            call(
                libc::SYS_fspick,
                [libc::AT_FDCWD.into(), ptr(c"/"), 1, 0, 0],
            )
        }),
        probe(MOUNT_TMPFS, move |_| mount_tmpfs(&mnt3)),
        probe(UMOUNT, move |_| {
            let _ = mount_tmpfs(&mnt4);
            call(libc::SYS_umount2, [ptr(&mnt4), 0, 0, 0, 0])
        }),
        probe(MOUNT_SETATTR, |_| {
            // struct mount_attr { attr_set = RDONLY, attr_clr, propagation, userns_fd }.
            let attr: [u64; 4] = [super::sys::MOUNT_ATTR_RDONLY, 0, 0, 0];
            call(
                libc::SYS_mount_setattr,
                [
                    libc::AT_FDCWD.into(),
                    ptr(c"/"),
                    super::sys::AT_RECURSIVE.into(),
                    attr.as_ptr() as libc::c_long,
                    32,
                ],
            )
        }),
        probe(PIVOT_ROOT, move |_| {
            let _ = mount_tmpfs(&mnt5);
            // SAFETY: a valid C string.
            if unsafe { libc::chdir(mnt5.as_ptr()) } != 0 {
                return Outcome::of(-1);
            }
            call(libc::SYS_pivot_root, [ptr(c"."), ptr(c"."), 0, 0, 0])
        }),
        probe(CHROOT, |_| call(libc::SYS_chroot, [ptr(c"/"), 0, 0, 0, 0])),
        probe(UNSHARE_NS, |_| {
            call(libc::SYS_unshare, [libc::CLONE_NEWNS.into(), 0, 0, 0, 0])
        }),
    ]
}

#[test]
fn seccomp_alone_refuses_the_mount_api_to_a_namespace_admin() {
    if let Some(args) = child_args() {
        mount_api_child(&args)
    }
    // SAFETY: PR_GET_SECCOMP takes no pointer arguments.
    let available = unsafe { libc::prctl(libc::PR_GET_SECCOMP, 0, 0, 0, 0) } >= 0;
    if skip_without("seccomp", available, "the kernel has no seccomp filters") {
        return;
    }
    let (f, _guard) = Fixture::create();
    for dir in ["mnt", "mnt2"] {
        std::fs::create_dir(f.base.join(dir)).unwrap();
    }
    let Some(r) = run_in_child(&[f.base.display().to_string()]) else {
        return;
    };
    for name in [
        FSOPEN,
        FSCONFIG,
        FSMOUNT,
        OPEN_TREE,
        MOVE_MOUNT,
        FSPICK,
        MOUNT_TMPFS,
        UMOUNT,
        MOUNT_SETATTR,
        PIVOT_ROOT,
        CHROOT,
        UNSHARE_NS,
    ] {
        r.assert_blocks(name, libc::EPERM);
    }
}

fn mount_api_child(args: &[String]) -> ! {
    let f = Fixture::at(&args[0]);
    let plan = f.plan().seccomp.expect("seccomp is planned");
    let probes = mount_api_probes(&f.base);
    child_main_on(
        &|| {
            super::enter_namespaces(&[Namespace::User, Namespace::Mount])?;
            super::sys::mount(None, c"/", None, libc::MS_REC | libc::MS_PRIVATE, None)
                .map_err(|e| Refusal::Failed(format!("make / private: {e}")))
        },
        &|| load(&plan),
        &probes,
    )
}

/// Builds the plan's filter with the executor's builder and loads it.
fn load(plan: &crate::plan::SeccompPlan) -> Result<(), Refusal> {
    seccomp::build(plan)
        .map_err(|e| Refusal::Failed(format!("seccomp::build: {e}")))?
        .load()
        .map(drop)
        .map_err(|e| Refusal::Failed(format!("load the filter: {e}")))
}
