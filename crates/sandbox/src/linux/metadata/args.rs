//! The arguments of a mediated call, read once from the command's memory
//! the way the kernel reads them.

use std::ffi::CString;
use std::io;

const PATH_MAX: usize = 4096;
const XATTR_NAME_MAX: usize = 255;
const XATTR_SIZE_MAX: u64 = 65536;

/// An errno value.
pub type Errno = i32;

/// The errno of `e` (EPERM when it has none).
pub fn errno(e: &io::Error) -> Errno {
    e.raw_os_error().unwrap_or(libc::EPERM)
}

/// The calling thread's errno.
pub fn last_errno() -> Errno {
    errno(&io::Error::last_os_error())
}

/// Where the command names the object, as read from its memory.
#[derive(Debug, PartialEq, Eq)]
pub enum Target {
    /// A path relative to `dirfd` (`AT_FDCWD`: the working directory).
    Path {
        /// The directory descriptor argument.
        dirfd: i32,
        /// The path, as copied.
        path: Vec<u8>,
        /// Whether a final symlink is followed.
        follow: bool,
        /// `AT_EMPTY_PATH`: an empty path names `dirfd` itself.
        empty_path: bool,
    },
    /// One of the command's descriptors.
    Fd(i32),
}

/// What the command asks to change.
#[derive(Debug, PartialEq, Eq)]
pub enum Change {
    /// `chmod` to this mode.
    Mode(libc::mode_t),
    /// `chown` to this uid and gid (-1: unchanged).
    Owner(libc::uid_t, libc::gid_t),
    /// `None`: both to the current time.
    Times(Option<[(i64, i64); 2]>),
    /// Set an extended attribute.
    SetXattr {
        /// Its name.
        name: CString,
        /// Its value.
        value: Vec<u8>,
        /// `XATTR_CREATE`/`XATTR_REPLACE`.
        flags: i32,
    },
    /// Remove an extended attribute.
    RemoveXattr {
        /// Its name.
        name: CString,
    },
}

/// The command's memory, read with `process_vm_readv`.
pub struct Memory {
    /// The thread.
    pub pid: libc::pid_t,
}

impl Memory {
    /// Reads up to `buf.len()` bytes; fewer at an unmapped page.
    fn read(&self, addr: u64, buf: &mut [u8]) -> Result<usize, Errno> {
        let local = libc::iovec {
            iov_base: buf.as_mut_ptr().cast(),
            iov_len: buf.len(),
        };
        let remote = libc::iovec {
            iov_base: addr as *mut libc::c_void,
            iov_len: buf.len(),
        };
        // SAFETY: local describes `buf`; remote is only read by the kernel.
        let n = unsafe { libc::process_vm_readv(self.pid, &local, 1, &remote, 1, 0) };
        if n >= 0 {
            return Ok(n as usize);
        }
        match last_errno() {
            // Kernels without CONFIG_CROSS_MEMORY_ATTACH.
            libc::ENOSYS => {
                use std::os::unix::fs::FileExt;
                let mem = std::fs::File::open(format!("/proc/{}/mem", self.pid))
                    .map_err(|e| errno(&e))?;
                mem.read_at(buf, addr).map_err(|_| libc::EFAULT)
            }
            e => Err(e),
        }
    }

    fn exact(&self, addr: u64, len: usize) -> Result<Vec<u8>, Errno> {
        let mut buf = vec![0u8; len];
        if self.read(addr, &mut buf)? == len {
            Ok(buf)
        } else {
            Err(libc::EFAULT)
        }
    }

    /// A NUL-terminated string of at most `max` bytes before the NUL;
    /// `Ok(None)` when it is longer.
    fn string(&self, addr: u64, max: usize) -> Result<Option<Vec<u8>>, Errno> {
        if addr == 0 {
            return Err(libc::EFAULT);
        }
        let mut out = Vec::new();
        let mut chunk = [0u8; 512];
        while out.len() <= max {
            // Never read across a page boundary in one go: the next page
            // may be unmapped while the string ends before it.
            let at = addr.wrapping_add(out.len() as u64);
            let room = (4096 - (at % 4096)) as usize;
            let want = room.min(chunk.len());
            let n = self.read(at, &mut chunk[..want])?;
            if n == 0 {
                return Err(libc::EFAULT);
            }
            if let Some(end) = chunk[..n].iter().position(|&b| b == 0) {
                out.extend_from_slice(&chunk[..end]);
                return Ok((out.len() <= max).then_some(out));
            }
            out.extend_from_slice(&chunk[..n]);
        }
        Ok(None)
    }

    fn path(&self, addr: u64) -> Result<Vec<u8>, Errno> {
        self.string(addr, PATH_MAX - 1)?.ok_or(libc::ENAMETOOLONG)
    }

    fn xattr_name(&self, addr: u64) -> Result<CString, Errno> {
        match self.string(addr, XATTR_NAME_MAX)? {
            Some(name) if !name.is_empty() => CString::new(name).map_err(|_| libc::ERANGE),
            _ => Err(libc::ERANGE),
        }
    }

    /// Two (seconds, sub-second) pairs of `T` at `addr`.
    fn pairs<T: Copy>(&self, addr: u64) -> Result<[T; 2], Errno> {
        let size = std::mem::size_of::<[T; 2]>();
        let bytes = self.exact(addr, size)?;
        // SAFETY: `bytes` holds exactly size_of::<[T; 2]>() bytes, and the
        // types read are plain C structs valid for any bit pattern.
        Ok(unsafe { std::ptr::read_unaligned(bytes.as_ptr().cast::<[T; 2]>()) })
    }

    /// `utimensat`'s times: NULL is now; each nanosecond field is valid,
    /// `UTIME_NOW` or `UTIME_OMIT`.
    fn timespecs(&self, addr: u64) -> Result<Option<[(i64, i64); 2]>, Errno> {
        if addr == 0 {
            return Ok(None);
        }
        let t: [libc::timespec; 2] = self.pairs(addr)?;
        let valid = |ns: i64| {
            (0..1_000_000_000).contains(&ns) || ns == libc::UTIME_NOW || ns == libc::UTIME_OMIT
        };
        let t = t.map(|t| (t.tv_sec, t.tv_nsec));
        if t.iter().all(|(_, ns)| valid(*ns)) {
            Ok(Some(t))
        } else {
            Err(libc::EINVAL)
        }
    }

    /// `utimes`/`futimesat`'s times: microseconds below a million.
    fn timevals(&self, addr: u64) -> Result<Option<[(i64, i64); 2]>, Errno> {
        if addr == 0 {
            return Ok(None);
        }
        let t: [libc::timeval; 2] = self.pairs(addr)?;
        let t = t.map(|t| (t.tv_sec, t.tv_usec));
        if t.iter().all(|(_, us)| (0..1_000_000).contains(us)) {
            Ok(Some(t.map(|(s, us)| (s, us * 1000))))
        } else {
            Err(libc::EINVAL)
        }
    }

    /// `utime`'s whole seconds.
    fn utimbuf(&self, addr: u64) -> Result<Option<[(i64, i64); 2]>, Errno> {
        if addr == 0 {
            return Ok(None);
        }
        // `time_t` is 64 bits on every architecture cordon builds for.
        let t: [i64; 2] = self.pairs(addr)?;
        Ok(Some([(t[0], 0), (t[1], 0)]))
    }
}

/// `AT_SYMLINK_NOFOLLOW` and `AT_EMPTY_PATH` (anything else is EINVAL),
/// as (follow, empty path allowed).
fn at_flags(flags: u64) -> Result<(bool, bool), Errno> {
    let flags = flags as i32;
    if flags & !(libc::AT_SYMLINK_NOFOLLOW | libc::AT_EMPTY_PATH) != 0 {
        return Err(libc::EINVAL);
    }
    Ok((
        flags & libc::AT_SYMLINK_NOFOLLOW == 0,
        flags & libc::AT_EMPTY_PATH != 0,
    ))
}

/// Reads the arguments of syscall `name` (`a`) from the command's memory.
/// ENOSYS for a call this does not know (the plan's list and this must agree).
pub fn decode(name: &str, a: &[u64; 6], mem: &Memory) -> Result<(Target, Change), Errno> {
    let cwd = libc::AT_FDCWD;
    let fd = |i: usize| a[i] as i32;
    let path = |i: usize, dirfd: i32, (follow, empty_path): (bool, bool)| {
        mem.path(a[i]).map(|path| Target::Path {
            dirfd,
            path,
            follow,
            empty_path,
        })
    };
    let owner = |u: u64, g: u64| Change::Owner(u as libc::uid_t, g as libc::gid_t);
    let follow = (true, false);
    let no_follow = (false, false);
    Ok(match name {
        "chmod" => (path(0, cwd, follow)?, Change::Mode(a[1] as libc::mode_t)),
        "fchmod" => (Target::Fd(fd(0)), Change::Mode(a[1] as libc::mode_t)),
        "fchmodat" => (path(1, fd(0), follow)?, Change::Mode(a[2] as libc::mode_t)),
        "fchmodat2" => {
            let flags = at_flags(a[3])?;
            (path(1, fd(0), flags)?, Change::Mode(a[2] as libc::mode_t))
        }
        "chown" => (path(0, cwd, follow)?, owner(a[1], a[2])),
        "lchown" => (path(0, cwd, no_follow)?, owner(a[1], a[2])),
        "fchown" => (Target::Fd(fd(0)), owner(a[1], a[2])),
        "fchownat" => {
            let flags = at_flags(a[4])?;
            (path(1, fd(0), flags)?, owner(a[2], a[3]))
        }
        "utime" => {
            let times = mem.utimbuf(a[1])?;
            (path(0, cwd, follow)?, Change::Times(times))
        }
        "utimes" => {
            let times = mem.timevals(a[1])?;
            (path(0, cwd, follow)?, Change::Times(times))
        }
        "futimesat" | "utimensat" => {
            let (times, flags) = if name == "futimesat" {
                (mem.timevals(a[2])?, 0)
            } else {
                (mem.timespecs(a[2])?, a[3])
            };
            // A NULL path means the descriptor itself (and no flags).
            let target = if a[1] == 0 {
                if fd(0) == cwd {
                    return Err(libc::EFAULT);
                }
                if flags != 0 {
                    return Err(libc::EINVAL);
                }
                Target::Fd(fd(0))
            } else {
                path(1, fd(0), at_flags(flags)?)?
            };
            (target, Change::Times(times))
        }
        "setxattr" | "lsetxattr" | "fsetxattr" => {
            if a[3] > XATTR_SIZE_MAX {
                return Err(libc::E2BIG);
            }
            let xname = mem.xattr_name(a[1])?;
            let value = if a[3] == 0 {
                Vec::new()
            } else {
                mem.exact(a[2], a[3] as usize)?
            };
            let target = match name {
                "fsetxattr" => Target::Fd(fd(0)),
                "setxattr" => path(0, cwd, follow)?,
                _ => path(0, cwd, no_follow)?,
            };
            let change = Change::SetXattr {
                name: xname,
                value,
                flags: a[4] as i32,
            };
            (target, change)
        }
        "removexattr" | "lremovexattr" | "fremovexattr" => {
            let xname = mem.xattr_name(a[1])?;
            let target = match name {
                "fremovexattr" => Target::Fd(fd(0)),
                "removexattr" => path(0, cwd, follow)?,
                _ => path(0, cwd, no_follow)?,
            };
            (target, Change::RemoveXattr { name: xname })
        }
        _ => return Err(libc::ENOSYS),
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    fn own() -> Memory {
        Memory {
            // SAFETY: getpid cannot fail.
            pid: unsafe { libc::getpid() },
        }
    }

    #[test]
    fn every_planned_call_is_decoded() {
        for name in crate::plan::MEDIATED_SYSCALLS {
            let got = decode(name, &[0; 6], &own());
            assert_ne!(got.err(), Some(libc::ENOSYS), "{name}");
        }
        assert_eq!(decode("open", &[0; 6], &own()).err(), Some(libc::ENOSYS));
    }

    #[test]
    fn arguments_are_read_as_the_kernel_reads_them() {
        let path = c"some/dir";
        let p = path.as_ptr() as u64;
        let (t, c) = decode(
            "fchownat",
            &[7, p, 5, 6, libc::AT_SYMLINK_NOFOLLOW as u64, 0],
            &own(),
        )
        .unwrap();
        assert_eq!(
            t,
            Target::Path {
                dirfd: 7,
                path: b"some/dir".to_vec(),
                follow: false,
                empty_path: false
            }
        );
        assert_eq!(c, Change::Owner(5, 6));
        assert_eq!(
            decode("fchownat", &[7, p, 5, 6, 0x4000_0000, 0], &own()).err(),
            Some(libc::EINVAL),
            "unknown flags"
        );
        let times = [
            libc::timespec {
                tv_sec: 1,
                tv_nsec: libc::UTIME_OMIT,
            },
            libc::timespec {
                tv_sec: 2,
                tv_nsec: 3,
            },
        ];
        let (t, c) = decode("utimensat", &[9, 0, times.as_ptr() as u64, 0, 0, 0], &own()).unwrap();
        assert_eq!(t, Target::Fd(9), "a NULL path is the descriptor");
        assert_eq!(c, Change::Times(Some([(1, libc::UTIME_OMIT), (2, 3)])));
        let bad = [libc::timespec {
            tv_sec: 0,
            tv_nsec: 1_000_000_000,
        }; 2];
        assert_eq!(
            decode("utimensat", &[9, p, bad.as_ptr() as u64, 0, 0, 0], &own()).err(),
            Some(libc::EINVAL)
        );
        let long = vec![b'a'; PATH_MAX + 10];
        let long = CString::new(long).unwrap();
        assert_eq!(
            decode("chmod", &[long.as_ptr() as u64, 0o755, 0, 0, 0, 0], &own()).err(),
            Some(libc::ENAMETOOLONG)
        );
        assert_eq!(
            decode("chmod", &[0, 0o755, 0, 0, 0, 0], &own()).err(),
            Some(libc::EFAULT)
        );
        let value = b"v";
        let (t, c) = decode(
            "lsetxattr",
            &[p, c"user.x".as_ptr() as u64, value.as_ptr() as u64, 1, 0, 0],
            &own(),
        )
        .unwrap();
        assert!(matches!(t, Target::Path { follow: false, .. }));
        assert_eq!(
            c,
            Change::SetXattr {
                name: c"user.x".to_owned(),
                value: b"v".to_vec(),
                flags: 0
            }
        );
        assert_eq!(
            decode(
                "setxattr",
                &[p, c"user.x".as_ptr() as u64, 0, 70_000, 0, 0],
                &own()
            )
            .err(),
            Some(libc::E2BIG)
        );
    }
}
