//! The sandbox's init process: reaps children, relays signals, performs
//! the metadata calls the filter routes to it ([`super::metadata`]), and
//! with `--log-denials` observes the calls the seccomp filter reports.
//!
//! Observation never decides anything the kernel enforces: observed calls
//! are continued (`SECCOMP_USER_NOTIF_FLAG_CONTINUE`) and the mount and
//! Landlock layers apply as usual. The only call answered here is
//! `socket(AF_UNIX)`, which is refused, exactly as the filter would have
//! without `--log-denials`. Reading arguments from the caller's memory is
//! racy by nature, which is acceptable for a report and would not be for a
//! decision.

use super::metadata::Mediator;
use super::notify::{self, Request};
use super::seccomp::OBSERVED_WRITES;
use super::{caps, sys};
use crate::denials::{self, Attempt};
use cordon_policy::SandboxPolicy;
use std::collections::HashMap;
use std::io;
use std::net::{Ipv4Addr, Ipv6Addr, SocketAddr};
use std::os::fd::{AsRawFd, FromRawFd, OwnedFd, RawFd};
use std::os::unix::fs::FileExt;
use std::path::{Component, Path, PathBuf};

/// A poll entry that is skipped.
const EMPTY: libc::pollfd = libc::pollfd {
    fd: -1,
    events: 0,
    revents: 0,
};

/// Most denied attempts kept in memory.
const MAX_ATTEMPTS: usize = 10_000;

/// What init needs.
pub struct Init<'a> {
    /// The command's pid (its process group too: it starts a session).
    pub command: libc::pid_t,
    /// Signals to relay (and SIGCHLD).
    pub relay: libc::sigset_t,
    /// The seccomp listener.
    pub notify_fd: Option<OwnedFd>,
    /// Performs the metadata calls the filter routes to the listener.
    pub mediator: Option<Mediator>,
    /// Observe writes and connects (`--log-denials`).
    pub observe: bool,
    /// Where to write the denial summary before exiting.
    pub report: Option<RawFd>,
    /// The policy, to decide which attempts were denied.
    pub policy: &'a SandboxPolicy,
    /// Whether init is pid 1 of its own namespace (else it kills the
    /// command's group itself on exit).
    pub own_pid_namespace: bool,
    /// The command's own terminal (`--tty`), relayed to init's stdin and stdout.
    pub pty: Option<super::pty::Relay>,
}

/// Runs init until the command exits, then exits with its status.
pub fn run_init(mut init: Init) -> ! {
    // SAFETY: signalfd over a valid set; the set is already blocked.
    let sfd = unsafe { libc::signalfd(-1, &init.relay, libc::SFD_CLOEXEC) };
    let observer = init
        .notify_fd
        .as_ref()
        .filter(|_| init.observe)
        .map(|fd| Observer::new(fd.as_raw_fd()));
    let mut attempts: Vec<Attempt> = Vec::new();
    let mut notify_open = init.notify_fd.is_some();
    let status = 'outer: loop {
        let mut fds = [
            libc::pollfd {
                fd: sfd,
                events: libc::POLLIN,
                revents: 0,
            },
            libc::pollfd {
                fd: init.notify_fd.as_ref().map_or(-1, |f| f.as_raw_fd()),
                events: libc::POLLIN,
                revents: 0,
            },
        ];
        if !notify_open {
            fds[1].fd = -1;
        }
        let mut tty_fds = init.pty.as_ref().map(|r| r.poll_fds());
        let mut all = [fds[0], fds[1], EMPTY, EMPTY];
        if let Some(t) = &tty_fds {
            all[2] = t[0];
            all[3] = t[1];
        }
        // SAFETY: all is valid for its four entries (negative fds are skipped).
        if unsafe { libc::poll(all.as_mut_ptr(), all.len() as libc::nfds_t, -1) } < 0 {
            continue;
        }
        fds = [all[0], all[1]];
        if let (Some(relay), Some(t)) = (init.pty.as_mut(), tty_fds.as_mut()) {
            *t = [all[2], all[3]];
            relay.on_ready(t);
        }
        let n = if notify_open { 2 } else { 1 };
        if n == 2 && fds[1].revents != 0 {
            if fds[1].revents & libc::POLLIN != 0 {
                let attempt =
                    handle_notification(fds[1].fd, init.mediator.as_mut(), observer.as_ref());
                if let Some(a) = attempt {
                    if attempts.len() < MAX_ATTEMPTS && denials::is_denied(init.policy, &a) {
                        attempts.push(a);
                    }
                }
            } else {
                notify_open = false;
            }
        }
        if fds[0].revents & libc::POLLIN != 0 {
            // SAFETY: reading one siginfo record into a zeroed buffer.
            let mut info: libc::signalfd_siginfo = unsafe { std::mem::zeroed() };
            let size = std::mem::size_of::<libc::signalfd_siginfo>();
            // SAFETY: info is valid for size bytes.
            let r =
                unsafe { libc::read(sfd, (&mut info as *mut libc::signalfd_siginfo).cast(), size) };
            if r != size as isize {
                continue;
            }
            let sig = info.ssi_signo as libc::c_int;
            if sig == libc::SIGCHLD {
                loop {
                    let mut status = 0;
                    // SAFETY: status is a valid out-pointer.
                    let pid = unsafe { libc::waitpid(-1, &mut status, libc::WNOHANG) };
                    if pid <= 0 {
                        break;
                    }
                    if pid == init.command {
                        break 'outer status;
                    }
                }
            } else if let Some(relay) = &init.pty {
                // The command's own terminal: a new size reaches its
                // foreground job through the kernel; other signals go to
                // that job, as a terminal would send them.
                if sig == libc::SIGWINCH {
                    super::pty::copy_window_size(0, relay.master());
                } else {
                    let group =
                        super::pty::foreground_group(relay.master()).unwrap_or(init.command);
                    // SAFETY: kill with a process group and signal number.
                    unsafe { libc::kill(-group, sig) };
                }
            } else {
                // Like a terminal: the whole foreground group of the command.
                // SAFETY: kill with a pid and signal number.
                unsafe {
                    if libc::kill(-init.command, sig) != 0 {
                        libc::kill(init.command, sig);
                    }
                }
            }
        }
    };
    if let Some(relay) = &init.pty {
        relay.drain();
    }
    if !init.own_pid_namespace {
        // SAFETY: kill with a pid and signal number.
        unsafe { libc::kill(-init.command, libc::SIGKILL) };
    }
    if let Some(fd) = init.report {
        let text = denials::summary(&denials::classify(init.policy, &attempts));
        // Never block here: cordon reads the pipe only after we exit, so a
        // pipe smaller than the summary truncates it instead of hanging.
        // SAFETY: fcntl and write on our pipe end; the buffer is valid.
        unsafe {
            let flags = libc::fcntl(fd, libc::F_GETFL);
            libc::fcntl(fd, libc::F_SETFL, flags | libc::O_NONBLOCK);
            libc::write(fd, text.as_ptr().cast(), text.len());
        }
    }
    sys::exit_now(sys::exit_code(status))
}

/// Receives one notification and answers it: the mediator performs its
/// calls, the observer lets the rest continue; anything else (nothing
/// else is routed here) fails rather than hang.
fn handle_notification(
    fd: RawFd,
    mediator: Option<&mut Mediator>,
    observer: Option<&Observer>,
) -> Option<Attempt> {
    let req = Request::receive(fd).ok()?;
    if let Some(m) = mediator.filter(|m| m.handles(&req)) {
        return m.handle(fd, &req);
    }
    if let Some(obs) = observer {
        return obs.handle(&req);
    }
    let _ = notify::respond_error(fd, req.id, libc::ENOSYS);
    None
}

#[derive(Clone, Copy)]
enum Op {
    /// Path arguments as (dirfd argument, path argument) pairs.
    Write(&'static str, &'static [(Option<usize>, usize)], bool),
    Connect,
    SendTo,
    Socket,
}

struct Observer {
    fd: RawFd,
    ops: HashMap<i32, Op>,
}

fn path_args(name: &str) -> &'static [(Option<usize>, usize)] {
    match name {
        "openat" | "openat2" | "mkdirat" | "unlinkat" | "mknodat" => &[(Some(0), 1)],
        "rename" | "link" => &[(None, 0), (None, 1)],
        "symlink" => &[(None, 1)],
        "renameat" | "renameat2" => &[(Some(0), 1), (Some(2), 3)],
        "linkat" => &[(Some(2), 3)],
        "symlinkat" => &[(Some(1), 2)],
        _ => &[(None, 0)],
    }
}

impl Observer {
    fn new(fd: RawFd) -> Self {
        let mut ops = HashMap::new();
        for (name, _) in OBSERVED_WRITES {
            if let Some(nr) = resolve_nr(name) {
                ops.insert(nr, Op::Write(name, path_args(name), *name == "openat2"));
            }
        }
        for (name, op) in [
            ("connect", Op::Connect),
            ("sendto", Op::SendTo),
            ("socket", Op::Socket),
        ] {
            if let Some(nr) = resolve_nr(name) {
                ops.insert(nr, op);
            }
        }
        Observer { fd, ops }
    }

    /// Answers one notification; returns what it observed.
    fn handle(&self, req: &Request) -> Option<Attempt> {
        let op = self.ops.get(&req.data.nr).copied();
        if let Some(Op::Socket) = op {
            let _ = notify::respond_error(self.fd, req.id, libc::EPERM);
            return Some(Attempt::UnixSocket);
        }
        // Reading another process's memory may need CAP_SYS_PTRACE (a
        // non-dumpable command); nothing here acts on what is read.
        let attempt = op.and_then(|op| caps::with_ptrace(|| self.observe(req, op)).ok().flatten());
        let valid = notify::id_valid(self.fd, req.id).is_ok();
        let _ = notify::respond_continue(self.fd, req.id);
        attempt.filter(|_| valid)
    }

    fn observe(&self, req: &Request, op: Op) -> Option<Attempt> {
        let args = req.data.args;
        let mem = std::fs::File::open(format!("/proc/{}/mem", req.pid)).ok()?;
        match op {
            Op::Write(name, paths, is_openat2) => {
                if is_openat2 {
                    let mut flags = [0u8; 8];
                    mem.read_exact_at(&mut flags, args[2]).ok()?;
                    let flags = u64::from_ne_bytes(flags);
                    let write =
                        (libc::O_WRONLY | libc::O_RDWR | libc::O_CREAT | libc::O_TRUNC) as u64;
                    if flags & write == 0 {
                        return None;
                    }
                }
                // Report the last path argument (the one created or replaced).
                let &(dirfd_arg, path_arg) = paths.last()?;
                let raw = read_c_string(&mem, args[path_arg])?;
                let dirfd = dirfd_arg.map(|a| args[a] as i32);
                let path = resolve(req.pid, dirfd, &raw)?;
                Some(Attempt::Write {
                    op: name.to_string(),
                    path,
                })
            }
            Op::Connect => read_sockaddr(&mem, args[1], args[2]).map(|addr| Attempt::Connect {
                op: "connect".into(),
                addr,
            }),
            Op::SendTo => read_sockaddr(&mem, args[4], args[5]).map(|addr| Attempt::Connect {
                op: "sendto".into(),
                addr,
            }),
            Op::Socket => None,
        }
    }
}

/// The number of syscall `name` here, as the kernel reports it in a
/// notification.
fn resolve_nr(name: &str) -> Option<i32> {
    super::seccomp::resolve(name).and_then(|nr| i32::try_from(nr).ok())
}

fn read_c_string(mem: &std::fs::File, addr: u64) -> Option<Vec<u8>> {
    let mut out = Vec::new();
    let mut chunk = [0u8; 256];
    while out.len() < 4096 {
        // Never read across a page boundary in one go.
        let at = addr + out.len() as u64;
        let room = (4096 - (at % 4096)) as usize;
        let want = room.min(chunk.len());
        let n = mem.read_at(&mut chunk[..want], at).ok()?;
        if n == 0 {
            return None;
        }
        if let Some(end) = chunk[..n].iter().position(|&b| b == 0) {
            out.extend_from_slice(&chunk[..end]);
            return Some(out);
        }
        out.extend_from_slice(&chunk[..n]);
    }
    Some(out)
}

fn read_sockaddr(mem: &std::fs::File, addr: u64, len: u64) -> Option<SocketAddr> {
    let mut buf = [0u8; 28];
    let len = (len as usize).min(buf.len());
    mem.read_exact_at(&mut buf[..len], addr).ok()?;
    let family = u16::from_ne_bytes([buf[0], buf[1]]) as i32;
    let port = u16::from_be_bytes([buf[2], buf[3]]);
    match family {
        libc::AF_INET if len >= 8 => {
            let ip = Ipv4Addr::new(buf[4], buf[5], buf[6], buf[7]);
            Some(SocketAddr::new(ip.into(), port))
        }
        libc::AF_INET6 if len >= 24 => {
            let mut octets = [0u8; 16];
            octets.copy_from_slice(&buf[8..24]);
            Some(SocketAddr::new(Ipv6Addr::from(octets).into(), port))
        }
        _ => None,
    }
}

/// Makes `raw` absolute against the caller's cwd or directory fd, and
/// removes `.` and `..` lexically.
fn resolve(pid: u32, dirfd: Option<i32>, raw: &[u8]) -> Option<PathBuf> {
    use std::os::unix::ffi::OsStrExt;
    let raw = Path::new(std::ffi::OsStr::from_bytes(raw));
    let joined = if raw.is_absolute() {
        raw.to_path_buf()
    } else {
        let base = match dirfd {
            Some(fd) if fd != libc::AT_FDCWD => format!("/proc/{pid}/fd/{fd}"),
            _ => format!("/proc/{pid}/cwd"),
        };
        std::fs::read_link(base).ok()?.join(raw)
    };
    let mut out = PathBuf::from("/");
    for c in joined.components() {
        match c {
            Component::ParentDir => {
                out.pop();
            }
            Component::Normal(n) => out.push(n),
            _ => {}
        }
    }
    Some(out)
}

/// Runs `f` on a message with a one-byte payload and room for one
/// `SCM_RIGHTS` descriptor (the only message the sandbox passes).
fn with_fd_message<R>(f: impl FnOnce(&mut libc::msghdr) -> R) -> R {
    let mut byte = [0u8; 1];
    // u64s keep the control buffer aligned for cmsghdr; 32 bytes fit one fd.
    let mut control = [0u64; 4];
    let mut iov = libc::iovec {
        iov_base: byte.as_mut_ptr().cast(),
        iov_len: 1,
    };
    // SAFETY: msghdr is plain data; every pointer set below outlives `f`.
    let mut msg: libc::msghdr = unsafe { std::mem::zeroed() };
    msg.msg_iov = &mut iov;
    msg.msg_iovlen = 1;
    msg.msg_control = control.as_mut_ptr().cast();
    // SAFETY: CMSG_SPACE only computes a size.
    msg.msg_controllen = unsafe { libc::CMSG_SPACE(std::mem::size_of::<RawFd>() as u32) } as _;
    f(&mut msg)
}

/// Sends `fd` over the unix socket `sock`.
pub fn send_fd(sock: RawFd, fd: RawFd) -> io::Result<()> {
    with_fd_message(|msg| {
        // SAFETY: the control buffer has room for one cmsghdr and one fd.
        unsafe {
            let cmsg = libc::CMSG_FIRSTHDR(msg);
            (*cmsg).cmsg_level = libc::SOL_SOCKET;
            (*cmsg).cmsg_type = libc::SCM_RIGHTS;
            (*cmsg).cmsg_len = libc::CMSG_LEN(std::mem::size_of::<RawFd>() as u32) as _;
            std::ptr::write_unaligned(libc::CMSG_DATA(cmsg).cast::<RawFd>(), fd);
            sys::cvt(libc::sendmsg(sock, msg, 0) as libc::c_long).map(drop)
        }
    })
}

/// Receives one fd sent with [`send_fd`].
pub fn receive_fd(sock: &OwnedFd) -> io::Result<OwnedFd> {
    with_fd_message(|msg| {
        // SAFETY: recvmsg fills buffers sized for one byte and one fd; the
        // descriptor read back is new and owned by nobody else.
        unsafe {
            let n = libc::recvmsg(sock.as_raw_fd(), msg, libc::MSG_CMSG_CLOEXEC);
            sys::cvt(n as libc::c_long)?;
            let cmsg = libc::CMSG_FIRSTHDR(msg);
            if cmsg.is_null() || (*cmsg).cmsg_type != libc::SCM_RIGHTS {
                return Err(io::Error::other("no descriptor received"));
            }
            let fd = std::ptr::read_unaligned(libc::CMSG_DATA(cmsg).cast::<RawFd>());
            Ok(OwnedFd::from_raw_fd(fd))
        }
    })
}
