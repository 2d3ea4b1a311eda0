//! The process tree of a sandboxed run and cordon's side of it.
//!
//! ```text
//! cordon ── init (pid 1 of the new PID namespace) ── command
//! ```
//! * **cordon** forks init straight into new user, mount, PID, IPC, UTS and
//!   network namespaces (one `clone`), relays signals to it and returns its
//!   exit status.
//! * **init** maps our uid and gid in its user namespace, applies the mount
//!   plan, raises loopback, forks the command,
//!   sheds its capabilities, then reaps, relays signals, performs the
//!   command's metadata calls ([`super::metadata`]) and (with
//!   `--log-denials`) observes calls. When it exits the kernel kills
//!   everything left in the namespace.
//! * **command** starts a new session, applies Landlock, drops every
//!   capability, loads seccomp and executes the program.
//!
//! Each stage sets `PR_SET_PDEATHSIG`, so when cordon dies the tree dies.
//! Set-up failures travel back on a close-on-exec pipe ([`super::report`]).

use super::bpf::Filter;
use super::report::{self, fail};
use super::{caps, landlock, metadata, mounts, pty, supervisor, sys};
use crate::plan::{LinuxPlan, MountStep, Namespace};
use crate::{RunHooks, RunOutcome, SandboxError};
use cordon_policy::{SandboxMode, SandboxPolicy};
use std::ffi::{CString, OsString};
use std::io::{self, Read};
use std::os::fd::{AsRawFd, OwnedFd, RawFd};
use std::os::unix::ffi::OsStrExt;
use std::path::PathBuf;

/// Everything the forked processes need, prepared before the first fork.
struct Prepared<'a> {
    plan: &'a LinuxPlan,
    policy: &'a SandboxPolicy,
    argv: Vec<CString>,
    envp: Vec<CString>,
    seccomp: Option<Filter>,
    old_mask: libc::sigset_t,
    relay: libc::sigset_t,
    err_w: OwnedFd,
    report_w: Option<OwnedFd>,
    /// Init's end of the channel that carries the proxy listener to cordon.
    proxy_w: Option<OwnedFd>,
    uid: libc::uid_t,
    gid: libc::gid_t,
    /// Every writable root's top directory, as pinned at discovery.
    root_tops: Vec<cordon_policy::FileId>,
}

fn cstring(bytes: &[u8]) -> Result<CString, SandboxError> {
    CString::new(bytes).map_err(|_| SandboxError::Nul)
}

/// Runs `argv` under `plan`, relaying signals, and returns its exit code.
pub fn run(
    policy: &SandboxPolicy,
    plan: &LinuxPlan,
    argv: &[OsString],
    env: &[(OsString, OsString)],
    hooks: RunHooks,
) -> Result<RunOutcome, SandboxError> {
    if argv.is_empty() {
        return Err(SandboxError::NoCommand);
    }
    let mut plan = plan.clone();
    let created = create_placeholders(&mut plan)?;
    // Held until this function returns (forked children never return).
    let _placeholders = PlaceholderGuard::lock(&plan, created)?;
    let argv_c = argv
        .iter()
        .map(|a| cstring(a.as_bytes()))
        .collect::<Result<Vec<_>, _>>()?;
    let envp = env
        .iter()
        .map(|(k, v)| {
            let mut kv = k.as_bytes().to_vec();
            kv.push(b'=');
            kv.extend_from_slice(v.as_bytes());
            cstring(&kv)
        })
        .collect::<Result<Vec<_>, _>>()?;
    let seccomp = match &plan.seccomp {
        Some(s) => Some(
            super::seccomp::build(s).map_err(|source| SandboxError::Setup {
                layer: "seccomp".into(),
                step: "build the filter".into(),
                source,
            })?,
        ),
        None => None,
    };
    let io_err = |context: &str| {
        let context = context.to_string();
        move |source| SandboxError::Io { context, source }
    };
    let (err_r, err_w) = sys::pipe().map_err(io_err("create a pipe"))?;
    let (report_r, report_w) = if plan.log_denials {
        let (r, w) = sys::pipe().map_err(io_err("create a pipe"))?;
        (Some(r), Some(w))
    } else {
        (None, None)
    };
    let (proxy_r, proxy_w) = if plan.proxy.is_some() {
        let (r, w) = socket_pair().map_err(io_err("create a socket pair"))?;
        (Some(r), Some(w))
    } else {
        (None, None)
    };
    let mut relay_signals = sys::RELAYED.to_vec();
    relay_signals.push(libc::SIGCHLD);
    let relay = sys::sigset(&relay_signals);
    let old_mask = sys::block(&relay);
    let prepared = Prepared {
        plan: &plan,
        policy,
        argv: argv_c,
        envp,
        seccomp,
        old_mask,
        relay,
        err_w,
        report_w,
        proxy_w,
        // SAFETY: these getters cannot fail.
        uid: unsafe { libc::geteuid() },
        gid: unsafe { libc::getegid() },
        root_tops: policy
            .writable_roots
            .iter()
            .filter_map(|r| plan.pins.get(&r.root).copied())
            .collect(),
    };

    // The user's keys go to the command's own terminal as typed; restored
    // when this function returns (the forked children never return).
    let _raw = if plan.tty {
        pty::RawMode::enable()
    } else {
        None
    };
    // The child runs on after a raw clone (no fork handlers) and allocates:
    // safe only while no other thread can hold a lock. cordon is
    // single-threaded here; should that ever change, refuse rather than
    // risk a child stuck on another thread's lock.
    if let Some(threads) = sys::thread_count().filter(|&n| n > 1) {
        sys::set_mask(&old_mask);
        return Err(SandboxError::Io {
            context: format!("start init: cordon runs {threads} threads here, and init is cloned only from a single-threaded cordon"),
            source: io::Error::from_raw_os_error(libc::EDEADLK),
        });
    }
    // The child only uses data prepared above and ends in exec or _exit.
    let init = match sys::fork_into(namespace_flags(&plan.namespaces)) {
        Ok(pid) => pid,
        Err(source) => {
            sys::set_mask(&old_mask);
            // Out of processes or memory is no namespace failure (which
            // would send the caller to probe and, if allowed, degrade).
            let resources = matches!(source.raw_os_error(), Some(libc::EAGAIN | libc::ENOMEM));
            return Err(if plan.namespaces.is_empty() || resources {
                SandboxError::Io {
                    context: "fork".into(),
                    source,
                }
            } else {
                SandboxError::Setup {
                    layer: "namespaces".into(),
                    step: "clone into new user, mount, pid, ipc, uts and net namespaces".into(),
                    source,
                }
            });
        }
    };
    if init == 0 {
        drop(err_r);
        drop(report_r);
        drop(proxy_r);
        init_entry(&prepared);
    }
    let Prepared {
        err_w,
        report_w,
        proxy_w,
        ..
    } = prepared;
    drop(err_w);
    drop(report_w);
    drop(proxy_w);

    // Init sends the listener before it starts the command, or closes the
    // channel when set-up fails (then the error pipe says why).
    if let (Some(r), Some(on_listener)) = (proxy_r, hooks.on_proxy_listener) {
        if let Ok(fd) = supervisor::receive_fd(&r) {
            on_listener(std::net::TcpListener::from(fd));
        }
    }

    if let Some(failure) = report::read(err_r) {
        let mut status = 0;
        // SAFETY: waiting for our own child.
        unsafe { libc::waitpid(init, &mut status, 0) };
        sys::set_mask(&old_mask);
        let source = failure.error;
        return Err(if failure.layer == "exec" {
            SandboxError::Exec {
                program: argv[0].clone(),
                source,
            }
        } else {
            SandboxError::Setup {
                layer: failure.layer,
                step: failure.step,
                source,
            }
        });
    }

    let status = loop {
        let sig = sys::wait_signal(&relay);
        if sig == libc::SIGCHLD {
            if let Some(status) = sys::try_wait(init) {
                break status;
            }
        } else {
            // SAFETY: signalling our own child. Init blocks these signals,
            // so they queue for it although it is a namespace's pid 1.
            unsafe { libc::kill(init, sig) };
        }
    };
    let mut denial_summary = None;
    if let Some(r) = report_r {
        let mut text = String::new();
        let _ = std::fs::File::from(r).read_to_string(&mut text);
        denial_summary = Some(text);
    }
    sys::set_mask(&old_mask);
    Ok(RunOutcome {
        exit_code: sys::exit_code(status),
        denial_summary,
    })
}

/// Creates the empty directories that stand in for a missing `.git` or
/// `.cordon`. On a read-only file system nobody can create one, so its bind
/// step is dropped; any other failure refuses the run (lacking permission is
/// no protection: the command, as the directory's owner, could chmod it).
fn create_placeholders(plan: &mut LinuxPlan) -> Result<Vec<PathBuf>, SandboxError> {
    let mut skipped = Vec::new();
    let mut created = Vec::new();
    for path in &plan.placeholders {
        match std::fs::create_dir(path) {
            Err(e) if e.kind() == io::ErrorKind::AlreadyExists => {}
            // A read-only file system: nobody can create it, the command included.
            Err(e) if e.raw_os_error() == Some(libc::EROFS) => {
                skipped.push(path.clone());
                continue;
            }
            Err(source) => {
                return Err(SandboxError::Setup {
                    layer: "mounts".into(),
                    step: format!("create the placeholder {}", path.display()),
                    source,
                })
            }
            Ok(()) => created.push(path.clone()),
        }
        // Pin whatever stands there now; a symlink fails the pinned open.
        if let Some(id) = cordon_policy::FileId::of(path) {
            plan.pins.insert(path.clone(), id);
        }
    }
    plan.mounts.retain(|step| match step {
        MountStep::ProtectReadOnly { path } => !skipped.contains(path),
        _ => true,
    });
    Ok(created)
}

/// Shared `flock`s on every empty protected directory (placeholders, ours
/// or another run's) for the length of the run. On drop, the placeholders
/// this run created are removed, unless another run still holds one: so
/// placeholders do not pile up, and a run never pulls one out from under a
/// concurrent run (which would drop that run's read-only bind).
struct PlaceholderGuard {
    locks: Vec<PlaceholderLock>,
}

/// One locked empty protected directory.
struct PlaceholderLock {
    /// The directory itself, locked shared for the run.
    dir: std::fs::File,
    /// Its parent, opened when it was locked: removal happens in this very
    /// directory, even if the parent's path is swapped meanwhile.
    parent: Option<std::fs::File>,
    /// Its name in `parent`.
    name: CString,
    /// This run created it (and so removes it).
    created: bool,
}

impl PlaceholderGuard {
    fn lock(plan: &LinuxPlan, created: Vec<PathBuf>) -> Result<Self, SandboxError> {
        use std::os::unix::fs::OpenOptionsExt;
        // Built up in place, so a refusal midway still cleans up on drop.
        let mut guard = PlaceholderGuard { locks: Vec::new() };
        for step in &plan.mounts {
            let MountStep::ProtectReadOnly { path } = step else {
                continue;
            };
            let empty_dir = std::fs::read_dir(path)
                .map(|mut d| d.next().is_none())
                .unwrap_or(false);
            if !empty_dir {
                continue;
            }
            let file = std::fs::OpenOptions::new()
                .read(true)
                .custom_flags(libc::O_DIRECTORY | libc::O_NOFOLLOW)
                .open(path);
            if let Ok(file) = file {
                // Anyone may flock a directory they can open, a sandboxed
                // command included: wait a little for an exclusive holder
                // (another run removing it), then refuse rather than hang
                // or run without the lock.
                let mut tries = 0;
                // SAFETY: flock on a descriptor we own.
                while unsafe { libc::flock(file.as_raw_fd(), libc::LOCK_SH | libc::LOCK_NB) } != 0 {
                    tries += 1;
                    if tries > 100 {
                        return Err(SandboxError::Setup {
                            layer: "mounts".into(),
                            step: format!("share the lock on placeholder {} (another process holds it exclusively)", path.display()),
                            source: io::Error::from_raw_os_error(libc::EWOULDBLOCK),
                        });
                    }
                    std::thread::sleep(std::time::Duration::from_millis(20));
                }
                let parent = path.parent().and_then(|p| {
                    std::fs::OpenOptions::new()
                        .read(true)
                        .custom_flags(libc::O_DIRECTORY | libc::O_NOFOLLOW)
                        .open(p)
                        .ok()
                });
                let name = path
                    .file_name()
                    .and_then(|n| CString::new(n.as_bytes()).ok())
                    .unwrap_or_default();
                let created = created.contains(path);
                if created {
                    // Marked only once our shared lock is held, so a run
                    // sweeping stale placeholders never takes a live one.
                    super::placeholders::mark(&file);
                }
                guard.locks.push(PlaceholderLock {
                    dir: file,
                    parent,
                    name,
                    created,
                });
            }
        }
        Ok(guard)
    }
}

impl Drop for PlaceholderGuard {
    fn drop(&mut self) {
        for lock in &self.locks {
            let Some(parent) = &lock.parent else { continue };
            if !lock.created || lock.name.as_bytes().is_empty() {
                continue;
            }
            // SAFETY: flock on a descriptor we own.
            let exclusive =
                unsafe { libc::flock(lock.dir.as_raw_fd(), libc::LOCK_EX | libc::LOCK_NB) } == 0;
            // The very directory we locked, not one created since in its
            // place, looked up in the parent we opened.
            if exclusive {
                super::placeholders::remove_if_same(parent, &lock.name, &lock.dir);
            }
        }
    }
}

fn set_death_signal() {
    // SAFETY: prctl with an integer argument.
    unsafe { libc::prctl(libc::PR_SET_PDEATHSIG, libc::SIGKILL, 0, 0, 0) };
}

/// The `clone` flags for the plan's namespaces: none, or a new user
/// namespace with every other one the plan names (owned by it).
pub(super) fn namespace_flags(namespaces: &[Namespace]) -> libc::c_int {
    if namespaces.is_empty() {
        return 0;
    }
    namespaces.iter().fold(libc::CLONE_NEWUSER, |flags, ns| {
        flags
            | match ns {
                Namespace::User => 0,
                Namespace::Mount => libc::CLONE_NEWNS,
                Namespace::Pid => libc::CLONE_NEWPID,
                Namespace::Ipc => libc::CLONE_NEWIPC,
                Namespace::Uts => libc::CLONE_NEWUTS,
                Namespace::Net => libc::CLONE_NEWNET,
            }
    })
}

/// Init's first steps, in the namespaces it was cloned into.
fn init_entry(p: &Prepared) -> ! {
    set_death_signal();
    // cordon died before the death signal was set: nobody would kill us.
    if sys::reader_gone(p.err_w.as_raw_fd()) {
        sys::exit_now(1);
    }
    // Out of the terminal's foreground group: cordon alone receives
    // keyboard signals and relays them once. With a pty of its own, init
    // reads the terminal (a background group would get SIGTTIN), which is
    // raw: keys make no signals there, they reach the command's own pty.
    if !p.plan.tty {
        // SAFETY: setpgid on ourselves.
        unsafe { libc::setpgid(0, 0) };
    }
    if !p.plan.namespaces.is_empty() {
        map_ids(p);
    }
    init_main(p)
}

/// Maps our uid and gid (alone) in the new user namespace.
fn map_ids(p: &Prepared) {
    if let Err(e) = sys::write_file("/proc/self/setgroups", "deny") {
        if e.kind() != io::ErrorKind::NotFound {
            fail(&p.err_w, "namespaces", "write /proc/self/setgroups", &e);
        }
    }
    if let Err(e) = sys::write_file("/proc/self/uid_map", &format!("{0} {0} 1", p.uid)) {
        fail(&p.err_w, "namespaces", "write /proc/self/uid_map", &e);
    }
    if let Err(e) = sys::write_file("/proc/self/gid_map", &format!("{0} {0} 1", p.gid)) {
        fail(&p.err_w, "namespaces", "write /proc/self/gid_map", &e);
    }
}

fn init_main(p: &Prepared) -> ! {
    if let Err((step, e)) = mounts::apply(&p.plan.mounts, &p.plan.pins) {
        fail(&p.err_w, "mounts", &step, &e);
    }
    if p.plan.namespaces.contains(&Namespace::Net) {
        if let Err(e) = loopback_up() {
            fail(
                &p.err_w,
                "namespaces",
                "bring up loopback in the network namespace",
                &e,
            );
        }
    }
    if let (Some(proxy), Some(channel)) = (&p.plan.proxy, &p.proxy_w) {
        match proxy_listener(proxy.port) {
            Ok(listener) => {
                if let Err(e) = supervisor::send_fd(channel.as_raw_fd(), listener.as_raw_fd()) {
                    fail(&p.err_w, "network", "hand the proxy listener to cordon", &e);
                }
            }
            Err(e) => fail(
                &p.err_w,
                "network",
                "listen on the sandbox's loopback for the proxy",
                &e,
            ),
        }
        // SAFETY: the listener went with the message; our copy closes here.
        unsafe { libc::close(channel.as_raw_fd()) };
    }
    let mediated: &[&'static str] = p
        .plan
        .seccomp
        .as_ref()
        .map_or(&[], |s| &s.mediated_syscalls);
    let observe = p
        .plan
        .seccomp
        .as_ref()
        .is_some_and(|s| s.notify_for_denials);
    let notify_pair = match (&p.seccomp, observe || !mediated.is_empty()) {
        (Some(_), true) => match socket_pair() {
            Ok(pair) => Some(pair),
            Err(e) => fail(&p.err_w, "seccomp", "socketpair for the notify fd", &e),
        },
        _ => None,
    };
    let tty = if p.plan.tty {
        match pty::open(0) {
            Ok(t) => Some(t),
            Err(e) => fail(&p.err_w, "tty", "open a pty on the sandbox's devpts", &e),
        }
    } else {
        None
    };
    // SAFETY: single-threaded process.
    let command = unsafe { libc::fork() };
    if command < 0 {
        fail(
            &p.err_w,
            "namespaces",
            "fork the command",
            &io::Error::last_os_error(),
        );
    }
    if command == 0 {
        command_main(
            p,
            notify_pair.as_ref().map(|(_, c)| c.as_raw_fd()),
            tty.as_ref().map(|t| t.slave.as_c_str()),
        );
    }
    // SAFETY: closing our copy of the set-up pipe.
    unsafe { libc::close(p.err_w.as_raw_fd()) };
    let notify_fd = notify_pair.and_then(|(ours, theirs)| {
        drop(theirs);
        supervisor::receive_fd(&ours).ok()
    });
    // Set-up is done: from here init changes files only for the command,
    // and must have no right the command lacks. If that fails, it refuses
    // every call it would make for the command.
    let may_act = caps::keep_only_ptrace().is_ok();
    let mediator =
        (!mediated.is_empty()).then(|| metadata::Mediator::new(mediated, &p.root_tops, may_act));
    supervisor::run_init(supervisor::Init {
        command,
        relay: p.relay,
        notify_fd,
        mediator,
        observe,
        report: p.report_w.as_ref().map(|w| w.as_raw_fd()),
        policy: p.policy,
        own_pid_namespace: p.plan.namespaces.contains(&Namespace::Pid),
        pty: tty.map(|t| pty::Relay::new(t.master)),
    })
}

fn command_main(p: &Prepared, notify_sock: Option<RawFd>, tty: Option<&std::ffi::CStr>) -> ! {
    // The Rust runtime ignores SIGPIPE; the command must see the defaults
    // (`yes | head -1` ends `yes` with SIGPIPE, as in a shell).
    for sig in 1..32 {
        if sig != libc::SIGKILL && sig != libc::SIGSTOP {
            // SAFETY: resetting a disposition to the default.
            unsafe { libc::signal(sig, libc::SIG_DFL) };
        }
    }
    sys::set_mask(&p.old_mask);
    let sandboxed = p.plan.mode != SandboxMode::DangerFullAccess;
    if sandboxed {
        // SAFETY: setsid has no arguments.
        unsafe { libc::setsid() };
    }
    if let Some(slave) = tty {
        if let Err(e) = pty::attach(slave) {
            fail(&p.err_w, "tty", "make the pty the command's terminal", &e);
        }
    }
    if let Ok(cwd) = sys::cpath(&p.plan.cwd) {
        // SAFETY: valid C string. Re-entering the directory after the mounts
        // moves us onto the writable copy attached over it.
        if unsafe { libc::chdir(cwd.as_ptr()) } != 0 {
            // Its own layer: not a pin that went stale (retried) nor a
            // namespace failure (probed, degraded).
            fail(
                &p.err_w,
                "working directory",
                "chdir to the working directory",
                &io::Error::last_os_error(),
            );
        }
    }
    if let Some(plan) = &p.plan.landlock {
        if let Err(e) = landlock::apply(plan) {
            fail(&p.err_w, "landlock", "restrict the command", &e);
        }
    }
    if sandboxed {
        if let Err(e) = caps::drop_all() {
            fail(&p.err_w, "capabilities", "drop every capability", &e);
        }
    }
    // Descriptors beyond stdio (except our pipes) must not leak in.
    // SAFETY: marks descriptors close-on-exec; no memory involved.
    let marked = unsafe {
        libc::syscall(
            libc::SYS_close_range,
            3u32,
            u32::MAX,
            4u32, /* CLOSE_RANGE_CLOEXEC */
        )
    };
    if marked != 0 {
        // Kernels before 5.11: mark each open descriptor by hand, or refuse.
        match std::fs::read_dir("/proc/self/fd") {
            Ok(dir) => {
                let fds: Vec<i32> = dir
                    .flatten()
                    .filter_map(|e| e.file_name().to_str()?.parse().ok())
                    .collect();
                for fd in fds.into_iter().filter(|fd| *fd > 2) {
                    // SAFETY: setting FD_CLOEXEC on a descriptor number.
                    unsafe { libc::fcntl(fd, libc::F_SETFD, libc::FD_CLOEXEC) };
                }
            }
            Err(e) => fail(&p.err_w, "namespaces", "mark descriptors close-on-exec", &e),
        }
    }
    if let Some(filter) = &p.seccomp {
        let listener = match filter.load() {
            Ok(l) => l,
            Err(e) => fail(&p.err_w, "seccomp", "load the filter", &e),
        };
        if let Some(sock) = notify_sock {
            match listener {
                Some(fd) => {
                    if let Err(e) = supervisor::send_fd(sock, fd.as_raw_fd()) {
                        fail(&p.err_w, "seccomp", "hand the notify fd to init", &e);
                    }
                    // Our copy is closed here.
                    drop(fd);
                }
                None => fail(
                    &p.err_w,
                    "seccomp",
                    "get the notify fd",
                    &io::Error::other("the filter routes no call to a listener"),
                ),
            }
        }
    }
    let mut argv: Vec<*const libc::c_char> = p.argv.iter().map(|a| a.as_ptr()).collect();
    argv.push(std::ptr::null());
    let mut envp: Vec<*const libc::c_char> = p.envp.iter().map(|a| a.as_ptr()).collect();
    envp.push(std::ptr::null());
    // SAFETY: argv and envp are null-terminated arrays of valid C strings.
    unsafe { libc::execvpe(argv[0], argv.as_ptr(), envp.as_ptr()) };
    fail(&p.err_w, "exec", "execvpe", &io::Error::last_os_error())
}

/// Brings up `lo` in the current network namespace.
pub(crate) fn loopback_up() -> io::Result<()> {
    // SAFETY: plain socket creation.
    let fd =
        sys::cvt(
            unsafe { libc::socket(libc::AF_INET, libc::SOCK_DGRAM | libc::SOCK_CLOEXEC, 0) }
                as libc::c_long,
        )? as RawFd;
    // SAFETY: ifreq is plain data; the name fits; fd is ours.
    let result = unsafe {
        let mut ifr: libc::ifreq = std::mem::zeroed();
        for (dst, src) in ifr.ifr_name.iter_mut().zip(b"lo\0") {
            *dst = *src as libc::c_char;
        }
        let r = if libc::ioctl(fd, libc::SIOCGIFFLAGS as libc::Ioctl, &mut ifr) == 0 {
            ifr.ifr_ifru.ifru_flags |= libc::IFF_UP as libc::c_short;
            libc::ioctl(fd, libc::SIOCSIFFLAGS as libc::Ioctl, &ifr)
        } else {
            -1
        };
        let r = sys::cvt(r as libc::c_long).map(drop);
        libc::close(fd);
        r
    };
    result
}

/// The proxy's listening socket on the namespace's 127.0.0.1. Only
/// processes in this network namespace can reach it; the proxy serving it
/// runs in cordon, outside.
fn proxy_listener(port: u16) -> io::Result<std::net::TcpListener> {
    std::net::TcpListener::bind((std::net::Ipv4Addr::LOCALHOST, port))
}

fn socket_pair() -> io::Result<(OwnedFd, OwnedFd)> {
    let mut fds = [0; 2];
    // SAFETY: fds is a two-element array.
    sys::cvt(unsafe {
        libc::socketpair(
            libc::AF_UNIX,
            libc::SOCK_SEQPACKET | libc::SOCK_CLOEXEC,
            0,
            fds.as_mut_ptr(),
        )
    } as libc::c_long)?;
    use std::os::fd::FromRawFd;
    // SAFETY: both fds were just created.
    Ok(unsafe { (OwnedFd::from_raw_fd(fds[0]), OwnedFd::from_raw_fd(fds[1])) })
}
