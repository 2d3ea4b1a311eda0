//! Thin wrappers over the raw Linux calls the executor needs and libc does
//! not wrap: the new mount API, signal masks, and small helpers.

use std::ffi::{CStr, CString};
use std::io;
use std::os::fd::{AsRawFd, FromRawFd, OwnedFd, RawFd};
use std::path::Path;

pub const OPEN_TREE_CLONE: libc::c_uint = 1;
pub const AT_RECURSIVE: libc::c_uint = 0x8000;
pub const MOVE_MOUNT_F_EMPTY_PATH: libc::c_uint = 0x4;
pub const MOUNT_ATTR_RDONLY: u64 = 0x1;
pub const MOUNT_ATTR_NOSUID: u64 = 0x2;

#[repr(C)]
struct MountAttr {
    attr_set: u64,
    attr_clr: u64,
    propagation: u64,
    userns_fd: u64,
}

/// Converts a `-1` return into the thread's errno.
pub fn cvt(ret: libc::c_long) -> io::Result<libc::c_long> {
    if ret < 0 {
        Err(io::Error::last_os_error())
    } else {
        Ok(ret)
    }
}

/// A path as a C string.
pub fn cpath(path: &Path) -> io::Result<CString> {
    use std::os::unix::ffi::OsStrExt;
    CString::new(path.as_os_str().as_bytes())
        .map_err(|_| io::Error::new(io::ErrorKind::InvalidInput, "path contains NUL"))
}

/// `open_tree(AT_FDCWD, path, OPEN_TREE_CLONE | [AT_RECURSIVE] | O_CLOEXEC)`:
/// a detached copy of the mount (tree) at `path`.
pub fn clone_tree(path: &CStr, recursive: bool) -> io::Result<OwnedFd> {
    let mut flags = OPEN_TREE_CLONE | libc::O_CLOEXEC as libc::c_uint;
    if recursive {
        flags |= AT_RECURSIVE;
    }
    // SAFETY: path is a valid C string; the syscall returns a new fd or -1.
    let fd =
        cvt(unsafe { libc::syscall(libc::SYS_open_tree, libc::AT_FDCWD, path.as_ptr(), flags) })?;
    // SAFETY: fd was just returned by the kernel and is owned by nobody else.
    Ok(unsafe { OwnedFd::from_raw_fd(fd as RawFd) })
}

/// `openat2(path, O_PATH, RESOLVE_NO_SYMLINKS | RESOLVE_NO_MAGICLINKS)`:
/// the object at exactly this path, refusing any symlink on the way.
pub fn open_no_symlinks(path: &CStr) -> io::Result<OwnedFd> {
    #[repr(C)]
    struct OpenHow {
        flags: u64,
        mode: u64,
        resolve: u64,
    }
    let how = OpenHow {
        flags: (libc::O_PATH | libc::O_CLOEXEC | libc::O_NOFOLLOW) as u64,
        mode: 0,
        resolve: 0x04 | 0x02, // RESOLVE_NO_SYMLINKS | RESOLVE_NO_MAGICLINKS
    };
    // SAFETY: how outlives the call and its size is passed.
    let fd = cvt(unsafe {
        libc::syscall(
            libc::SYS_openat2,
            libc::AT_FDCWD,
            path.as_ptr(),
            &how as *const OpenHow,
            std::mem::size_of::<OpenHow>(),
        )
    })?;
    // SAFETY: a new fd owned by nobody else.
    Ok(unsafe { OwnedFd::from_raw_fd(fd as RawFd) })
}

/// A detached copy of the mount (tree) at the object `fd` refers to.
pub fn clone_tree_fd(fd: &OwnedFd, recursive: bool) -> io::Result<OwnedFd> {
    let mut flags =
        OPEN_TREE_CLONE | libc::O_CLOEXEC as libc::c_uint | libc::AT_EMPTY_PATH as libc::c_uint;
    if recursive {
        flags |= AT_RECURSIVE;
    }
    // SAFETY: valid fd and an empty C string.
    let new =
        cvt(unsafe { libc::syscall(libc::SYS_open_tree, fd.as_raw_fd(), c"".as_ptr(), flags) })?;
    // SAFETY: a new fd owned by nobody else.
    Ok(unsafe { OwnedFd::from_raw_fd(new as RawFd) })
}

/// Attaches the detached mount `fd` on the object `target` refers to.
pub fn attach_fd(fd: &OwnedFd, target: &OwnedFd) -> io::Result<()> {
    // SAFETY: valid fds and empty C strings.
    cvt(unsafe {
        libc::syscall(
            libc::SYS_move_mount,
            fd.as_raw_fd(),
            c"".as_ptr(),
            target.as_raw_fd(),
            c"".as_ptr(),
            MOVE_MOUNT_F_EMPTY_PATH | 0x40, // MOVE_MOUNT_T_EMPTY_PATH
        )
    })?;
    Ok(())
}

/// Attaches a detached mount `fd` at `target`.
pub fn attach(fd: &OwnedFd, target: &CStr) -> io::Result<()> {
    // SAFETY: valid fd and C strings; no memory is retained by the kernel.
    cvt(unsafe {
        libc::syscall(
            libc::SYS_move_mount,
            fd.as_raw_fd(),
            c"".as_ptr(),
            libc::AT_FDCWD,
            target.as_ptr(),
            MOVE_MOUNT_F_EMPTY_PATH,
        )
    })?;
    Ok(())
}

/// `mount_setattr` setting `attrs` on `path` (or on `fd` when `path` is
/// empty), recursively.
pub fn set_mount_attrs(fd: RawFd, path: &CStr, attrs: u64) -> io::Result<()> {
    let attr = MountAttr {
        attr_set: attrs,
        attr_clr: 0,
        propagation: 0,
        userns_fd: 0,
    };
    let mut flags = AT_RECURSIVE;
    if path.is_empty() {
        flags |= libc::AT_EMPTY_PATH as libc::c_uint;
    }
    // SAFETY: attr outlives the call and its size is passed.
    cvt(unsafe {
        libc::syscall(
            libc::SYS_mount_setattr,
            fd,
            path.as_ptr(),
            flags,
            &attr as *const MountAttr,
            std::mem::size_of::<MountAttr>(),
        )
    })?;
    Ok(())
}

/// `mount(2)` with optional source, fstype and data.
pub fn mount(
    source: Option<&CStr>,
    target: &CStr,
    fstype: Option<&CStr>,
    flags: libc::c_ulong,
    data: Option<&CStr>,
) -> io::Result<()> {
    let ptr = |c: Option<&CStr>| c.map_or(std::ptr::null(), |c| c.as_ptr());
    // SAFETY: all pointers are valid C strings or null.
    let ret = unsafe {
        libc::mount(
            ptr(source),
            target.as_ptr(),
            ptr(fstype),
            flags,
            ptr(data).cast(),
        )
    };
    cvt(ret as libc::c_long).map(drop)
}

/// Writes `data` to `path` in one `write` (for `/proc/self/uid_map` and friends).
pub fn write_file(path: &str, data: &str) -> io::Result<()> {
    use std::io::Write;
    let mut f = std::fs::OpenOptions::new().write(true).open(path)?;
    f.write_all(data.as_bytes())
}

/// A signal set holding `signals`.
pub fn sigset(signals: &[libc::c_int]) -> libc::sigset_t {
    // SAFETY: sigset_t is plain data; sigemptyset initialises it.
    unsafe {
        let mut set: libc::sigset_t = std::mem::zeroed();
        libc::sigemptyset(&mut set);
        for &s in signals {
            libc::sigaddset(&mut set, s);
        }
        set
    }
}

/// Signals cordon relays to the command; SIGCHLD is waited for.
pub const RELAYED: [libc::c_int; 7] = [
    libc::SIGINT,
    libc::SIGTERM,
    libc::SIGHUP,
    libc::SIGQUIT,
    libc::SIGUSR1,
    libc::SIGUSR2,
    libc::SIGWINCH,
];

/// Blocks `set` and returns the previous mask.
pub fn block(set: &libc::sigset_t) -> libc::sigset_t {
    // SAFETY: valid sigset pointers.
    unsafe {
        let mut old: libc::sigset_t = std::mem::zeroed();
        libc::pthread_sigmask(libc::SIG_BLOCK, set, &mut old);
        old
    }
}

/// Restores a signal mask.
pub fn set_mask(set: &libc::sigset_t) {
    // SAFETY: valid sigset pointer.
    unsafe {
        libc::pthread_sigmask(libc::SIG_SETMASK, set, std::ptr::null_mut());
    }
}

/// Waits for one signal of `set`.
pub fn wait_signal(set: &libc::sigset_t) -> libc::c_int {
    loop {
        let mut sig: libc::c_int = 0;
        // SAFETY: valid pointers; sigwait only writes sig.
        if unsafe { libc::sigwait(set, &mut sig) } == 0 {
            return sig;
        }
    }
}

/// Converts a wait status into a shell-style exit code.
pub fn exit_code(status: libc::c_int) -> i32 {
    if libc::WIFEXITED(status) {
        libc::WEXITSTATUS(status)
    } else if libc::WIFSIGNALED(status) {
        128 + libc::WTERMSIG(status)
    } else {
        1
    }
}

/// `waitpid(pid, WNOHANG)`; `Some(status)` when it has ended.
pub fn try_wait(pid: libc::pid_t) -> Option<libc::c_int> {
    let mut status = 0;
    // SAFETY: status is a valid out-pointer.
    let r = unsafe { libc::waitpid(pid, &mut status, libc::WNOHANG) };
    (r == pid).then_some(status)
}

/// `clone(flags | SIGCHLD)` with no new stack: a `fork` that puts the child
/// straight into the new namespaces `flags` names (`CLONE_NEWUSER`,
/// `CLONE_NEWPID`, ...), so no intermediate process has to `unshare` them.
/// Returns the child's pid in the parent and 0 in the child, as `fork` does.
/// Unlike libc's `fork` it runs no `atfork` handlers: the caller must be
/// single-threaded, and the child must keep to what a forked child may do.
pub fn fork_into(flags: libc::c_int) -> io::Result<libc::pid_t> {
    // SAFETY: with a null stack, clone copies the address space as fork
    // does; the remaining arguments (parent/child tid, tls) are unused
    // without the flags that read them, whatever their order on this arch.
    let pid = unsafe {
        libc::syscall(
            libc::SYS_clone,
            (flags | libc::SIGCHLD) as libc::c_ulong,
            0usize,
            0usize,
            0usize,
            0usize,
        )
    };
    cvt(pid).map(|p| p as libc::pid_t)
}

/// True when the reading end of the pipe whose writing end is `fd` is
/// closed everywhere: for a child holding the writing end of a pipe its
/// parent reads, "my parent is gone" (`getppid` cannot say so once the
/// child is in a PID namespace of its own, where it reads 0).
pub fn reader_gone(fd: RawFd) -> bool {
    let mut pfd = libc::pollfd {
        fd,
        events: 0,
        revents: 0,
    };
    // SAFETY: one valid pollfd, no timeout.
    let n = unsafe { libc::poll(&mut pfd, 1, 0) };
    n == 1 && pfd.revents & libc::POLLERR != 0
}

/// A pipe with both ends close-on-exec: (read, write).
pub fn pipe() -> io::Result<(OwnedFd, OwnedFd)> {
    let mut fds = [0; 2];
    // SAFETY: fds is a valid 2-element array.
    cvt(unsafe { libc::pipe2(fds.as_mut_ptr(), libc::O_CLOEXEC) } as libc::c_long)?;
    // SAFETY: both fds were just created and are owned here.
    Ok(unsafe { (OwnedFd::from_raw_fd(fds[0]), OwnedFd::from_raw_fd(fds[1])) })
}

/// How many threads this process runs (`/proc/self/task` links its `.`,
/// its parent and one directory per thread); `None` if it cannot be read.
pub fn thread_count() -> Option<u64> {
    use std::os::unix::fs::MetadataExt;
    let links = std::fs::metadata("/proc/self/task").ok()?.nlink();
    Some(links.saturating_sub(2))
}

/// Ends the current (forked) process without running destructors or atexit hooks.
pub fn exit_now(code: i32) -> ! {
    // SAFETY: _exit never returns and is async-signal-safe.
    unsafe { libc::_exit(code) }
}
