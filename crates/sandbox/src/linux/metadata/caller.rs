//! The thread that made a mediated call, reached from init: its working
//! directory, its descriptors, and what `/proc/self` means for it.

use super::args::{errno, last_errno, Errno, Target};
use std::ffi::CString;
use std::os::fd::{AsRawFd, FromRawFd, OwnedFd, RawFd};

/// `pidfd_open` flag for a pidfd on one thread (Linux 6.9).
const PIDFD_THREAD: libc::c_uint = libc::O_EXCL as libc::c_uint;

/// The object, reached from init: a path (already relative to a
/// descriptor of the command's, or absolute), or the command's descriptor.
pub enum Named {
    /// A path to resolve from init.
    Path {
        /// What a relative path starts from (`None`: it is absolute).
        base: Option<OwnedFd>,
        /// The path, `/proc/self` translated.
        path: CString,
        /// Whether a final symlink is followed.
        follow: bool,
    },
    /// An empty path with `AT_EMPTY_PATH`: the base itself.
    Base(OwnedFd),
    /// The command's own descriptor (duplicated), for an `f*` call.
    Fd(OwnedFd),
}

/// The thread that made the call, reached from init.
pub struct Caller {
    /// Its thread id in init's PID namespace.
    pub tid: u32,
    /// A pidfd on it, opened when first needed.
    pub pidfd: Option<OwnedFd>,
}

fn open_path(path: &str, flags: libc::c_int) -> Result<OwnedFd, Errno> {
    let c = CString::new(path).map_err(|_| libc::EINVAL)?;
    // SAFETY: a valid C string; the result is a new descriptor or -1.
    let fd = unsafe { libc::open(c.as_ptr(), flags | libc::O_CLOEXEC) };
    if fd < 0 {
        return Err(last_errno());
    }
    // SAFETY: a new descriptor owned by nobody else.
    Ok(unsafe { OwnedFd::from_raw_fd(fd) })
}

fn pidfd_open(pid: u32, flags: libc::c_uint) -> Result<OwnedFd, Errno> {
    // SAFETY: integer arguments; the result is a new descriptor or -1.
    let fd = unsafe { libc::syscall(libc::SYS_pidfd_open, pid as libc::pid_t, flags) };
    if fd < 0 {
        return Err(last_errno());
    }
    // SAFETY: a new descriptor owned by nobody else.
    Ok(unsafe { OwnedFd::from_raw_fd(fd as RawFd) })
}

impl Caller {
    /// The thread group of the calling thread.
    fn tgid(&self) -> Result<u32, Errno> {
        let status =
            std::fs::read_to_string(format!("/proc/{}/status", self.tid)).map_err(|e| errno(&e))?;
        status
            .lines()
            .find_map(|l| l.strip_prefix("Tgid:"))
            .and_then(|v| v.trim().parse().ok())
            .ok_or(libc::ESRCH)
    }

    fn pidfd(&mut self) -> Result<RawFd, Errno> {
        if self.pidfd.is_none() {
            // The very thread (Linux 6.9+), else its thread group.
            let fd = match pidfd_open(self.tid, PIDFD_THREAD) {
                Err(libc::EINVAL) => pidfd_open(self.tgid()?, 0)?,
                other => other?,
            };
            self.pidfd = Some(fd);
        }
        Ok(self.pidfd.as_ref().map_or(-1, |f| f.as_raw_fd()))
    }

    /// A duplicate of the caller's descriptor `fd` (same open file).
    fn fd(&mut self, fd: i32) -> Result<OwnedFd, Errno> {
        let pidfd = self.pidfd()?;
        // SAFETY: integer arguments; the result is a new descriptor or -1.
        let new = unsafe { libc::syscall(libc::SYS_pidfd_getfd, pidfd, fd, 0) };
        if new < 0 {
            return Err(last_errno());
        }
        // SAFETY: a new descriptor (close-on-exec) owned by nobody else.
        Ok(unsafe { OwnedFd::from_raw_fd(new as RawFd) })
    }

    /// The caller's working directory.
    fn cwd(&self) -> Result<OwnedFd, Errno> {
        open_path(&format!("/proc/{}/cwd", self.tid), libc::O_PATH)
    }

    /// `/proc/self` and `/proc/thread-self` mean the caller, not init.
    fn translate(&self, path: Vec<u8>) -> Result<Vec<u8>, Errno> {
        for (prefix, thread) in [(&b"/proc/self"[..], false), (b"/proc/thread-self", true)] {
            let rest = match path.strip_prefix(prefix) {
                Some(rest) if rest.is_empty() || rest.starts_with(b"/") => rest,
                _ => continue,
            };
            let who = if thread { self.tid } else { self.tgid()? };
            let mut out = format!("/proc/{who}").into_bytes();
            out.extend_from_slice(rest);
            return Ok(out);
        }
        Ok(path)
    }

    /// Takes what `target` is relative to from the caller.
    pub fn reach(&mut self, target: Target) -> Result<Named, Errno> {
        match target {
            Target::Fd(fd) => self.fd(fd).map(Named::Fd),
            Target::Path {
                dirfd,
                path,
                follow,
                empty_path,
            } => {
                let base = |this: &mut Self| {
                    if dirfd == libc::AT_FDCWD {
                        this.cwd()
                    } else {
                        this.fd(dirfd)
                    }
                };
                if path.is_empty() {
                    return if empty_path {
                        base(self).map(Named::Base)
                    } else {
                        Err(libc::ENOENT)
                    };
                }
                let (base, path) = if path.starts_with(b"/") {
                    (None, self.translate(path)?)
                } else {
                    (Some(base(self)?), path)
                };
                let path = CString::new(path).map_err(|_| libc::EINVAL)?;
                Ok(Named::Path { base, path, follow })
            }
        }
    }
}

/// The object `named` refers to, and whether to act through the
/// command's own descriptor (the `f*` calls) rather than the object.
pub fn open(named: Named) -> Result<(OwnedFd, bool), Errno> {
    match named {
        Named::Fd(fd) => Ok((fd, true)),
        Named::Base(fd) => Ok((fd, false)),
        Named::Path { base, path, follow } => {
            let mut flags = libc::O_PATH | libc::O_CLOEXEC;
            if !follow {
                flags |= libc::O_NOFOLLOW;
            }
            let dir = base.as_ref().map_or(libc::AT_FDCWD, |b| b.as_raw_fd());
            // SAFETY: a valid C string; the result is a new descriptor or -1.
            let fd = unsafe { libc::openat(dir, path.as_ptr(), flags) };
            if fd < 0 {
                return Err(last_errno());
            }
            // SAFETY: a new descriptor owned by nobody else.
            Ok((unsafe { OwnedFd::from_raw_fd(fd) }, false))
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn proc_self_names_the_caller() {
        let caller = Caller {
            tid: 4242,
            pidfd: None,
        };
        assert_eq!(
            caller
                .translate(b"/proc/thread-self/fd/3".to_vec())
                .unwrap(),
            b"/proc/4242/fd/3"
        );
        assert_eq!(
            caller.translate(b"/proc/selfish".to_vec()).unwrap(),
            b"/proc/selfish"
        );
        assert_eq!(caller.translate(b"/tmp/x".to_vec()).unwrap(), b"/tmp/x");
    }
}
