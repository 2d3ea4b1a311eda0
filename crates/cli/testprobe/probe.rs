//! The probe's actions (Linux: they attack the Linux sandbox).
//!
//! Exit 0 and `ok` on stdout when the action succeeded; exit 1 and
//! `denied: <step>: <error>` on stderr when it failed; exit 2 on bad usage.
//! Actions that need privilege first try directly, then inside a fresh user
//! namespace, as an attacker in the sandbox would.

use std::ffi::CString;
use std::io::{self, Read, Write};
use std::net::{SocketAddr, TcpStream, UdpSocket};
use std::os::unix::net::UnixStream;
use std::time::Duration;

fn last(step: &str) -> Result<(), String> {
    Err(format!("{step}: {}", io::Error::last_os_error()))
}

fn check(ret: i64, step: &str) -> Result<i64, String> {
    if ret < 0 {
        last(step).map(|_| 0)
    } else {
        Ok(ret)
    }
}

fn io<T>(r: io::Result<T>, step: &str) -> Result<T, String> {
    r.map_err(|e| format!("{step}: {e}"))
}

/// Gains namespace privilege the way an unprivileged attacker would.
fn enter_userns(extra: libc::c_int) -> Result<(), String> {
    let (uid, gid) = unsafe { (libc::geteuid(), libc::getegid()) };
    check(
        unsafe { libc::unshare(libc::CLONE_NEWUSER | extra) } as i64,
        "unshare(CLONE_NEWUSER)",
    )?;
    let _ = std::fs::write("/proc/self/setgroups", "deny");
    io(
        std::fs::write("/proc/self/uid_map", format!("0 {uid} 1")),
        "uid_map",
    )?;
    io(
        std::fs::write("/proc/self/gid_map", format!("0 {gid} 1")),
        "gid_map",
    )?;
    Ok(())
}

fn with_privilege(extra: libc::c_int, f: impl Fn() -> Result<(), String>) -> Result<(), String> {
    match f() {
        Ok(()) => Ok(()),
        Err(first) => {
            enter_userns(extra).map_err(|e| format!("{first}; then {e}"))?;
            f()
        }
    }
}

/// A value the `process-vm-child` action reads from (or writes to) its
/// child's copy; atomic so it lives in writable memory.
static MARKER: std::sync::atomic::AtomicU64 =
    std::sync::atomic::AtomicU64::new(0x636f_7264_6f6e_2121);

/// A child of ours that waits; killed and reaped when dropped.
struct Sleeper(libc::pid_t);

impl Sleeper {
    fn fork() -> Result<Sleeper, String> {
        let pid = check(unsafe { libc::fork() } as i64, "fork")? as libc::pid_t;
        if pid == 0 {
            loop {
                unsafe { libc::pause() };
            }
        }
        Ok(Sleeper(pid))
    }
}

impl Drop for Sleeper {
    fn drop(&mut self) {
        unsafe {
            libc::kill(self.0, libc::SIGKILL);
            libc::waitpid(self.0, std::ptr::null_mut(), 0);
        }
    }
}

/// Runs `f` (a raw call's result: negative is `-errno`) in a forked
/// child: Ok when the call succeeded, its error, or the signal that
/// killed the child (a seccomp filter's SIGSYS).
#[cfg(target_arch = "x86_64")]
fn in_child(step: &str, f: fn() -> i64) -> Result<(), String> {
    let pid = unsafe { libc::fork() };
    if pid == 0 {
        let r = f();
        unsafe { libc::_exit(if r < 0 { (-r).clamp(1, 255) as i32 } else { 0 }) };
    }
    check(pid as i64, "fork")?;
    let mut status = 0;
    unsafe { libc::waitpid(pid, &mut status, 0) };
    if libc::WIFSIGNALED(status) {
        return Err(format!(
            "{step}: killed by signal {}",
            libc::WTERMSIG(status)
        ));
    }
    match libc::WEXITSTATUS(status) {
        0 => Ok(()),
        e => Err(format!("{step}: {}", io::Error::from_raw_os_error(e))),
    }
}

/// `unshare(CLONE_NEWUSER)` by the i386 entry (`int 0x80`, i386 number
/// 310): a filter that checked numbers but not the architecture would
/// let it through.
#[cfg(target_arch = "x86_64")]
fn int80_unshare() -> i64 {
    let ret: i32;
    // SAFETY: rbx is saved and restored around the call (LLVM reserves
    // it); r8-r11 are declared clobbered.
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
    ret.into()
}

/// `getpid` by its x32 number (bit 30 set): the kernel answers (the pid,
/// or ENOSYS without x32 support) unless a filter kills the caller.
#[cfg(target_arch = "x86_64")]
fn x32_getpid() -> i64 {
    let r = unsafe { libc::syscall(0x4000_0000 | libc::SYS_getpid) };
    if r < 0 && io::Error::last_os_error().raw_os_error() == Some(libc::ENOSYS) {
        return 0;
    }
    r
}

fn run(args: &[String]) -> Result<(), String> {
    let arg = |i: usize| {
        args.get(i)
            .cloned()
            .ok_or_else(|| "missing argument".to_string())
    };
    match args.first().map(String::as_str).unwrap_or("") {
        "write" => io(std::fs::write(arg(1)?, "x"), "write"),
        "append" => {
            let mut f = io(
                std::fs::OpenOptions::new().append(true).open(arg(1)?),
                "open",
            )?;
            io(f.write_all(b"x"), "write")
        }
        "read" => io(std::fs::read(arg(1)?), "read").map(drop),
        "mkdir" => io(std::fs::create_dir(arg(1)?), "mkdir"),
        "rename" => io(std::fs::rename(arg(1)?, arg(2)?), "rename"),
        "symlink" => io(std::os::unix::fs::symlink(arg(1)?, arg(2)?), "symlink"),
        "hardlink" => io(std::fs::hard_link(arg(1)?, arg(2)?), "link"),
        "remove-dir-all" => io(std::fs::remove_dir_all(arg(1)?), "remove"),
        "tcp" => {
            let addr: SocketAddr = arg(1)?.parse().map_err(|e| format!("{e}"))?;
            let mut s = io(
                TcpStream::connect_timeout(&addr, Duration::from_secs(3)),
                "connect",
            )?;
            io(s.write_all(b"ping"), "write")?;
            let mut buf = [0u8; 4];
            io(s.read_exact(&mut buf), "read reply")
        }
        "udp" => {
            let addr: SocketAddr = arg(1)?.parse().map_err(|e| format!("{e}"))?;
            let bind = if addr.is_ipv4() {
                "0.0.0.0:0"
            } else {
                "[::]:0"
            };
            let s = io(UdpSocket::bind(bind), "bind")?;
            io(s.set_read_timeout(Some(Duration::from_secs(3))), "timeout")?;
            io(s.send_to(b"ping", addr), "send")?;
            let mut buf = [0u8; 16];
            io(s.recv_from(&mut buf), "receive reply").map(drop)
        }
        "raw-socket" => with_privilege(libc::CLONE_NEWNET, || {
            let fd = check(
                unsafe { libc::socket(libc::AF_INET, libc::SOCK_RAW, libc::IPPROTO_ICMP) } as i64,
                "socket(SOCK_RAW)",
            )?;
            unsafe { libc::close(fd as i32) };
            Ok(())
        }),
        "packet-socket" => with_privilege(libc::CLONE_NEWNET, || {
            let fd = check(
                unsafe { libc::socket(libc::AF_PACKET, libc::SOCK_RAW, 0) } as i64,
                "socket(AF_PACKET)",
            )?;
            unsafe { libc::close(fd as i32) };
            Ok(())
        }),
        "unix" => {
            let mut s = io(UnixStream::connect(arg(1)?), "connect")?;
            io(s.write_all(b"ping"), "write")?;
            let mut buf = [0u8; 4];
            io(s.read_exact(&mut buf), "read reply")
        }
        "unix-socket" => {
            let fd = check(
                unsafe { libc::socket(libc::AF_UNIX, libc::SOCK_STREAM, 0) } as i64,
                "socket(AF_UNIX)",
            )?;
            unsafe { libc::close(fd as i32) };
            Ok(())
        }
        "socketpair" => {
            // Optional type: stream (default), dgram or seqpacket.
            let kind = match args.get(1).map(String::as_str) {
                None | Some("stream") => libc::SOCK_STREAM,
                Some("dgram") => libc::SOCK_DGRAM,
                Some("seqpacket") => libc::SOCK_SEQPACKET,
                Some(other) => return Err(format!("unknown socket type `{other}`")),
            };
            let mut fds = [0; 2];
            check(
                unsafe {
                    libc::socketpair(
                        libc::AF_UNIX,
                        kind | libc::SOCK_CLOEXEC,
                        0,
                        fds.as_mut_ptr(),
                    )
                } as i64,
                "socketpair",
            )?;
            // Optional host pathname socket: a datagram to it must get out
            // only where the pair could be made at all.
            if let Some(target) = args.get(2) {
                let mut addr: libc::sockaddr_un = unsafe { std::mem::zeroed() };
                addr.sun_family = libc::AF_UNIX as libc::sa_family_t;
                for (d, b) in addr.sun_path.iter_mut().zip(target.as_bytes()) {
                    *d = *b as libc::c_char;
                }
                let len = std::mem::size_of::<libc::sockaddr_un>() as libc::socklen_t;
                check(
                    unsafe {
                        libc::sendto(
                            fds[0],
                            b"x".as_ptr().cast(),
                            1,
                            0,
                            (&addr as *const libc::sockaddr_un).cast(),
                            len,
                        )
                    } as i64,
                    "sendto",
                )?;
            }
            Ok(())
        }
        "unix-reach" => {
            // SOURCE (socket | pair) TYPE (stream | dgram | seqpacket)
            // VERB (connect | sendto | sendmsg) PATH: one byte `x` to the
            // host pathname socket PATH, by any of the ways a unix socket
            // can address one.
            let kind = match arg(2)?.as_str() {
                "stream" => libc::SOCK_STREAM,
                "dgram" => libc::SOCK_DGRAM,
                "seqpacket" => libc::SOCK_SEQPACKET,
                other => return Err(format!("unknown socket type `{other}`")),
            };
            let fd = match arg(1)?.as_str() {
                "socket" => check(
                    unsafe { libc::socket(libc::AF_UNIX, kind | libc::SOCK_CLOEXEC, 0) } as i64,
                    "socket(AF_UNIX)",
                )? as i32,
                "pair" => {
                    let mut fds = [0; 2];
                    check(
                        unsafe {
                            libc::socketpair(
                                libc::AF_UNIX,
                                kind | libc::SOCK_CLOEXEC,
                                0,
                                fds.as_mut_ptr(),
                            )
                        } as i64,
                        "socketpair",
                    )?;
                    fds[0]
                }
                other => return Err(format!("unknown source `{other}`")),
            };
            let target = arg(4)?;
            let mut addr: libc::sockaddr_un = unsafe { std::mem::zeroed() };
            addr.sun_family = libc::AF_UNIX as libc::sa_family_t;
            for (d, b) in addr.sun_path.iter_mut().zip(target.as_bytes()) {
                *d = *b as libc::c_char;
            }
            let addr_ptr = (&mut addr as *mut libc::sockaddr_un).cast::<libc::sockaddr>();
            let len = std::mem::size_of::<libc::sockaddr_un>() as libc::socklen_t;
            let byte = b"x";
            match arg(3)?.as_str() {
                "connect" => {
                    check(
                        unsafe { libc::connect(fd, addr_ptr, len) } as i64,
                        "connect",
                    )?;
                    check(
                        unsafe { libc::send(fd, byte.as_ptr().cast(), 1, 0) } as i64,
                        "send",
                    )?;
                }
                "sendto" => {
                    check(
                        unsafe { libc::sendto(fd, byte.as_ptr().cast(), 1, 0, addr_ptr, len) }
                            as i64,
                        "sendto",
                    )?;
                }
                "sendmsg" => {
                    let mut iov = libc::iovec {
                        iov_base: byte.as_ptr() as *mut libc::c_void,
                        iov_len: 1,
                    };
                    let mut msg: libc::msghdr = unsafe { std::mem::zeroed() };
                    msg.msg_name = addr_ptr.cast();
                    msg.msg_namelen = len;
                    msg.msg_iov = &mut iov;
                    msg.msg_iovlen = 1;
                    check(unsafe { libc::sendmsg(fd, &msg, 0) } as i64, "sendmsg")?;
                }
                other => return Err(format!("unknown verb `{other}`")),
            }
            Ok(())
        }
        "socket-high-bits" => {
            // AF_UNIX with bits above 32 set: the kernel truncates to AF_UNIX.
            let fd = check(
                unsafe {
                    libc::syscall(
                        libc::SYS_socket,
                        0x1_0000_0001i64,
                        libc::SOCK_STREAM as i64,
                        0i64,
                    )
                },
                "socket(0x100000001)",
            )?;
            unsafe { libc::close(fd as i32) };
            Ok(())
        }
        "ptrace" => {
            let pid: i32 = arg(1)?.parse().map_err(|e| format!("{e}"))?;
            check(
                unsafe { libc::ptrace(libc::PTRACE_SEIZE, pid, 0, 0) } as i64,
                "ptrace(PTRACE_SEIZE)",
            )?;
            Ok(())
        }
        "process-vm-read" => {
            let pid: i32 = arg(1)?.parse().map_err(|e| format!("{e}"))?;
            let mut buf = [0u8; 8];
            let local = libc::iovec {
                iov_base: buf.as_mut_ptr().cast(),
                iov_len: 8,
            };
            let remote = libc::iovec {
                iov_base: 0x400000 as *mut libc::c_void,
                iov_len: 8,
            };
            let r = unsafe { libc::process_vm_readv(pid, &local, 1, &remote, 1, 0) };
            // EFAULT means the call itself was allowed.
            if r < 0 && io::Error::last_os_error().raw_os_error() != Some(libc::EFAULT) {
                return last("process_vm_readv");
            }
            Ok(())
        }
        "tiocsti-stdin" => {
            // Pushes `x` into the input of the terminal on stdin.
            let c = b'x';
            check(
                unsafe { libc::ioctl(0, libc::TIOCSTI, &c as *const u8) } as i64,
                "ioctl(TIOCSTI) on stdin",
            )
            .map(drop)
        }
        "tiocsti" | "tiocsti-high" => {
            // In a child that owns a fresh pseudo-terminal as its controlling
            // terminal (TIOCSTI's own rule), so nothing reaches a real one.
            let req: u64 = if args[0] == "tiocsti-high" {
                0xffff_ffff_0000_0000 | 0x5412
            } else {
                0x5412
            };
            let child = unsafe { libc::fork() };
            if child == 0 {
                let code = unsafe {
                    libc::setsid();
                    let master = libc::posix_openpt(libc::O_RDWR | libc::O_NOCTTY);
                    libc::grantpt(master);
                    libc::unlockpt(master);
                    let slave = libc::open(libc::ptsname(master), libc::O_RDWR);
                    let c = b'x';
                    if master < 0 || slave < 0 {
                        100
                    } else if libc::syscall(
                        libc::SYS_ioctl,
                        slave as i64,
                        req as i64,
                        &c as *const u8,
                    ) == 0
                    {
                        0
                    } else {
                        *libc::__errno_location()
                    }
                };
                unsafe { libc::_exit(code) };
            }
            let mut status = 0;
            unsafe { libc::waitpid(child, &mut status, 0) };
            match libc::WEXITSTATUS(status) {
                0 => Ok(()),
                100 => Err("could not open a pseudo-terminal".into()),
                errno => Err(format!(
                    "ioctl(TIOCSTI): {}",
                    io::Error::from_raw_os_error(errno)
                )),
            }
        }
        "io-uring" => {
            let mut params = [0u8; 120];
            let fd = check(
                unsafe { libc::syscall(libc::SYS_io_uring_setup, 4i64, params.as_mut_ptr()) },
                "io_uring_setup",
            )?;
            unsafe { libc::close(fd as i32) };
            Ok(())
        }
        "unshare" => enter_userns(0),
        #[cfg(target_arch = "x86_64")]
        "int80-unshare" => in_child("int 0x80 unshare(CLONE_NEWUSER)", int80_unshare),
        #[cfg(target_arch = "x86_64")]
        "x32-getpid" => in_child("x32 getpid", x32_getpid),
        "clone-newuser" => {
            let r = unsafe {
                libc::syscall(
                    libc::SYS_clone,
                    (libc::CLONE_NEWUSER | libc::SIGCHLD) as i64,
                    0i64,
                    0i64,
                    0i64,
                    0i64,
                )
            };
            if r == 0 {
                unsafe { libc::_exit(0) };
            }
            check(r, "clone(CLONE_NEWUSER)")?;
            let mut status = 0;
            unsafe { libc::waitpid(r as i32, &mut status, 0) };
            Ok(())
        }
        "setns" => with_privilege(libc::CLONE_NEWNET, || {
            let fd = check(
                unsafe { libc::open(c"/proc/self/ns/net".as_ptr(), libc::O_RDONLY) } as i64,
                "open ns",
            )? as i32;
            let r = unsafe { libc::setns(fd, libc::CLONE_NEWNET) };
            unsafe { libc::close(fd) };
            check(r as i64, "setns").map(drop)
        }),
        "mount" => {
            let dir = CString::new(arg(1)?).unwrap();
            with_privilege(libc::CLONE_NEWNS, || {
                check(
                    unsafe {
                        libc::mount(
                            c"none".as_ptr(),
                            dir.as_ptr(),
                            c"tmpfs".as_ptr(),
                            0,
                            std::ptr::null(),
                        )
                    } as i64,
                    "mount tmpfs",
                )?;
                unsafe { libc::umount2(dir.as_ptr(), libc::MNT_DETACH) };
                Ok(())
            })
        }
        "personality" => {
            check(
                unsafe { libc::personality(0x0040000) } as i64,
                "personality(ADDR_NO_RANDOMIZE)",
            )?;
            Ok(())
        }
        "personality-query" => check(
            unsafe { libc::personality(0xffff_ffff) } as i64,
            "personality(query)",
        )
        .map(drop),
        "bpf" => {
            let r = unsafe { libc::syscall(libc::SYS_bpf, 0i64, 0i64, 0i64) };
            // EINVAL/EFAULT means the call reached the kernel's bpf code.
            if r < 0 && io::Error::last_os_error().raw_os_error() == Some(libc::EPERM) {
                return last("bpf");
            }
            Ok(())
        }
        "fanotify" => {
            // FAN_CLASS_NOTIF | FAN_REPORT_FID: allowed without privileges
            // since Linux 5.13, so only the sandbox can refuse it.
            let fd = check(
                unsafe { libc::syscall(libc::SYS_fanotify_init, 0x200i64, libc::O_RDONLY as i64) },
                "fanotify_init",
            )?;
            unsafe { libc::close(fd as i32) };
            Ok(())
        }
        // Metadata changes, each by path and by descriptor. `chown` changes
        // the owner to our own uid and gid (a no-op the owner may make);
        // `utimes` sets explicit times (which only the owner may set).
        "chmod" | "chown" | "utimes" | "setxattr" | "fchmod" | "fchown" | "futimes"
        | "fsetxattr" => {
            let path = CString::new(arg(1)?).unwrap();
            let mode = || u32::from_str_radix(&arg(2)?, 8).map_err(|e| format!("mode: {e}"));
            let (uid, gid) = unsafe { (libc::geteuid(), libc::getegid()) };
            let times = [libc::timespec {
                tv_sec: 1_000_000_000,
                tv_nsec: 0,
            }; 2];
            let xattr = c"user.cordon-test";
            let by_fd = args[0].starts_with('f');
            let fd = if by_fd {
                check(
                    unsafe { libc::open(path.as_ptr(), libc::O_RDONLY | libc::O_CLOEXEC) } as i64,
                    "open",
                )? as i32
            } else {
                -1
            };
            let r = unsafe {
                match args[0].as_str() {
                    "chmod" => libc::chmod(path.as_ptr(), mode()?),
                    "fchmod" => libc::fchmod(fd, mode()?),
                    "chown" => libc::chown(path.as_ptr(), uid, gid),
                    "fchown" => libc::fchown(fd, uid, gid),
                    "utimes" => libc::utimensat(libc::AT_FDCWD, path.as_ptr(), times.as_ptr(), 0),
                    "futimes" => libc::futimens(fd, times.as_ptr()),
                    "setxattr" => {
                        libc::setxattr(path.as_ptr(), xattr.as_ptr(), b"1".as_ptr().cast(), 1, 0)
                    }
                    _ => libc::fsetxattr(fd, xattr.as_ptr(), b"1".as_ptr().cast(), 1, 0),
                }
            };
            check(r as i64, &args[0]).map(drop)
        }
        // The newest forms: fchmodat2 (Linux 6.6, here with
        // AT_SYMLINK_NOFOLLOW) and setxattrat (6.13), by number.
        "fchmodat2" => {
            let path = CString::new(arg(1)?).unwrap();
            let mode = u32::from_str_radix(&arg(2)?, 8).map_err(|e| format!("mode: {e}"))?;
            let r = unsafe {
                libc::syscall(
                    452,
                    libc::AT_FDCWD as i64,
                    path.as_ptr(),
                    mode as i64,
                    libc::AT_SYMLINK_NOFOLLOW as i64,
                )
            };
            check(r, "fchmodat2").map(drop)
        }
        "setxattrat" => {
            #[repr(C)]
            struct XattrArgs {
                value: u64,
                size: u32,
                flags: u32,
            }
            let path = CString::new(arg(1)?).unwrap();
            let args = XattrArgs {
                value: b"1".as_ptr() as u64,
                size: 1,
                flags: 0,
            };
            let r = unsafe {
                libc::syscall(
                    463,
                    libc::AT_FDCWD as i64,
                    path.as_ptr(),
                    0i64,
                    c"user.cordon-test".as_ptr(),
                    &args as *const XattrArgs,
                    std::mem::size_of::<XattrArgs>() as i64,
                )
            };
            check(r, "setxattrat").map(drop)
        }
        // fchmod on a descriptor the probe inherited (a redirected stream).
        "fchmod-fd" => {
            let fd: i32 = arg(1)?.parse().map_err(|e| format!("{e}"))?;
            let mode = u32::from_str_radix(&arg(2)?, 8).map_err(|e| format!("mode: {e}"))?;
            check(unsafe { libc::fchmod(fd, mode) } as i64, "fchmod").map(drop)
        }
        "ptrace-child" => {
            // A process inside the same sandbox (our own child): only
            // seccomp stands between it and us.
            let child = Sleeper::fork()?;
            check(
                unsafe { libc::ptrace(libc::PTRACE_SEIZE, child.0, 0, 0) } as i64,
                "ptrace(PTRACE_SEIZE) of our own child",
            )
            .map(drop)
        }
        "process-vm-child" => {
            // read | write: 8 bytes of our own child's copy of MARKER.
            let child = Sleeper::fork()?;
            let mut buf = [0u8; 8];
            let local = libc::iovec {
                iov_base: buf.as_mut_ptr().cast(),
                iov_len: 8,
            };
            let remote = libc::iovec {
                iov_base: MARKER.as_ptr().cast(),
                iov_len: 8,
            };
            let (n, step) = match arg(1)?.as_str() {
                "read" => (
                    unsafe { libc::process_vm_readv(child.0, &local, 1, &remote, 1, 0) },
                    "process_vm_readv of our own child",
                ),
                "write" => {
                    buf = 7u64.to_ne_bytes();
                    (
                        unsafe { libc::process_vm_writev(child.0, &local, 1, &remote, 1, 0) },
                        "process_vm_writev of our own child",
                    )
                }
                other => return Err(format!("unknown direction `{other}`")),
            };
            check(n as i64, step)?;
            let read_back = u64::from_ne_bytes(buf);
            if n != 8
                || (args[1] == "read"
                    && read_back != MARKER.load(std::sync::atomic::Ordering::Relaxed))
            {
                return Err(format!("{step}: moved {n} bytes, read {read_back:#x}"));
            }
            Ok(())
        }
        "keyctl" => check(
            // KEYCTL_GET_KEYRING_ID of the process keyring, created if missing.
            unsafe { libc::syscall(libc::SYS_keyctl, 0i64, -2i64, 1i64) },
            "keyctl(KEYCTL_GET_KEYRING_ID)",
        )
        .map(drop),
        "add-key" => check(
            unsafe {
                libc::syscall(
                    libc::SYS_add_key,
                    c"user".as_ptr(),
                    c"cordon-probe".as_ptr(),
                    b"x".as_ptr(),
                    1usize,
                    -2i64, // KEY_SPEC_PROCESS_KEYRING: gone when we exit
                )
            },
            "add_key",
        )
        .map(drop),
        "request-key" => {
            // No such key and no call-out: ENOKEY means the kernel looked.
            let r = unsafe {
                libc::syscall(
                    libc::SYS_request_key,
                    c"user".as_ptr(),
                    c"cordon-probe-missing".as_ptr(),
                    std::ptr::null::<libc::c_char>(),
                    -2i64,
                )
            };
            if r < 0 && io::Error::last_os_error().raw_os_error() != Some(libc::ENOKEY) {
                return last("request_key");
            }
            Ok(())
        }
        "perf-event-open" => {
            // A software clock on ourselves, user space only: allowed to
            // any user up to perf_event_paranoid 2.
            let mut attr = [0u8; 128];
            attr[0..4].copy_from_slice(&1u32.to_ne_bytes()); // PERF_TYPE_SOFTWARE
            attr[4..8].copy_from_slice(&128u32.to_ne_bytes()); // size
            attr[8..16].copy_from_slice(&1u64.to_ne_bytes()); // PERF_COUNT_SW_TASK_CLOCK
                                                              // disabled | exclude_kernel | exclude_hv
            attr[40..48].copy_from_slice(&(1u64 | 1 << 5 | 1 << 6).to_ne_bytes());
            let fd = check(
                unsafe {
                    libc::syscall(
                        libc::SYS_perf_event_open,
                        attr.as_ptr(),
                        0i64,
                        -1i64,
                        -1i64,
                        0i64,
                    )
                },
                "perf_event_open",
            )?;
            unsafe { libc::close(fd as i32) };
            Ok(())
        }
        "userfaultfd" => {
            // UFFD_USER_MODE_ONLY: allowed to any user since Linux 5.11.
            let fd = check(
                unsafe { libc::syscall(libc::SYS_userfaultfd, (libc::O_CLOEXEC | 1) as i64) },
                "userfaultfd",
            )?;
            unsafe { libc::close(fd as i32) };
            Ok(())
        }
        "chroot-missing" => {
            // The kernel looks the path up before it checks privilege, so
            // ENOENT means the call reached it; only a filter answers first.
            let r = unsafe { libc::chroot(c"/nonexistent-cordon-probe".as_ptr()) };
            if r < 0 && io::Error::last_os_error().raw_os_error() != Some(libc::ENOENT) {
                return last("chroot");
            }
            if r == 0 {
                return Err("chroot to a missing directory succeeded".into());
            }
            Ok(())
        }
        "pivot-root" => {
            // Always in a fresh user and mount namespace (never the
            // caller's): bind DIR on itself and make it the root.
            let dir = CString::new(arg(1)?).unwrap();
            let entered = enter_userns(libc::CLONE_NEWNS);
            let pivot = || -> Result<(), String> {
                check(
                    unsafe {
                        libc::mount(
                            std::ptr::null(),
                            c"/".as_ptr(),
                            std::ptr::null(),
                            libc::MS_REC | libc::MS_PRIVATE,
                            std::ptr::null(),
                        )
                    } as i64,
                    "make / private",
                )?;
                check(
                    unsafe {
                        libc::mount(
                            dir.as_ptr(),
                            dir.as_ptr(),
                            std::ptr::null(),
                            libc::MS_BIND,
                            std::ptr::null(),
                        )
                    } as i64,
                    "bind DIR",
                )?;
                check(unsafe { libc::chdir(dir.as_ptr()) } as i64, "chdir")?;
                check(
                    unsafe { libc::syscall(libc::SYS_pivot_root, c".".as_ptr(), c".".as_ptr()) },
                    "pivot_root",
                )
                .map(drop)
            };
            match entered {
                Ok(()) => pivot(),
                // No namespace of our own (the sandbox refuses one): try
                // where we are, inside the sandbox's own mount namespace.
                Err(e) => check(
                    unsafe { libc::syscall(libc::SYS_pivot_root, c".".as_ptr(), c".".as_ptr()) },
                    "pivot_root",
                )
                .map(drop)
                .map_err(|p| format!("{p} (after {e})")),
            }
        }
        "exists" => io(std::fs::symlink_metadata(arg(1)?), "stat").map(drop),
        "shm-get" => {
            // A System V shared memory segment by key.
            let key: libc::key_t = arg(1)?.parse().map_err(|e| format!("{e}"))?;
            check(
                unsafe { libc::shmget(key, 0, 0) } as i64,
                "shmget of the host's key",
            )
            .map(drop)
        }
        "session-leader" => {
            let (pid, sid) = unsafe { (libc::getpid(), libc::getsid(0)) };
            if pid != sid {
                return Err(format!("pid {pid} is not its session's leader ({sid})"));
            }
            Ok(())
        }
        "open-tty" => {
            let fd = check(
                unsafe { libc::open(c"/dev/tty".as_ptr(), libc::O_RDWR | libc::O_NOCTTY) } as i64,
                "open /dev/tty",
            )?;
            unsafe { libc::close(fd as i32) };
            Ok(())
        }
        "tiocsti-fd" => {
            // TIOCSTI on an inherited terminal descriptor.
            let fd: i32 = arg(1)?.parse().map_err(|e| format!("{e}"))?;
            let c = b'x';
            check(
                unsafe { libc::ioctl(fd, libc::TIOCSTI, &c as *const u8) } as i64,
                "ioctl(TIOCSTI)",
            )
            .map(drop)
        }
        "rename-exchange" => {
            let (a, b) = (
                CString::new(arg(1)?).unwrap(),
                CString::new(arg(2)?).unwrap(),
            );
            check(
                unsafe {
                    libc::syscall(
                        libc::SYS_renameat2,
                        libc::AT_FDCWD as i64,
                        a.as_ptr(),
                        libc::AT_FDCWD as i64,
                        b.as_ptr(),
                        libc::RENAME_EXCHANGE as i64,
                    )
                },
                "renameat2(RENAME_EXCHANGE)",
            )
            .map(drop)
        }
        "exit" => std::process::exit(arg(1)?.parse().map_err(|e| format!("{e}"))?),
        other => Err(format!("unknown action `{other}`")),
    }
}

pub fn main() {
    let args: Vec<String> = std::env::args().skip(1).collect();
    if args.is_empty() {
        eprintln!("usage: cordon-test-probe ACTION [ARGS]");
        std::process::exit(2);
    }
    match run(&args) {
        Ok(()) => println!("ok"),
        Err(e) => {
            eprintln!("denied: {e}");
            std::process::exit(1);
        }
    }
}
