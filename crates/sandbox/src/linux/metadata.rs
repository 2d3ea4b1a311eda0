//! The calls that change an inode's mode, owner, times or extended
//! attributes, performed by the sandbox's init on the command's behalf.
//!
//! The owner of a file may change these without any capability, and run as
//! root the command owns `/tmp`; so a writable root's own top directory
//! (`chmod 0777 /tmp`) would be the command's to change. Landlock has no
//! right for these calls and seccomp cannot look at paths, so the filter
//! routes them to init's listener, which:
//! 1. copies the arguments once from the command's memory, takes the
//!    directory or descriptor they are relative to, and only then checks
//!    the notification is still live;
//! 2. resolves the path itself to an `O_PATH` descriptor, following links
//!    exactly where the call would;
//! 3. decides on that object, never on the path: a writable root's top
//!    (pinned by device and inode when the sandbox was set up) is refused
//!    with EPERM, and an object on none of the sandbox's mounts (reached
//!    through a descriptor inherited from outside, such as a redirected
//!    standard stream) with EROFS, like everything outside the roots;
//! 4. otherwise makes the change through that descriptor and answers with
//!    the kernel's result (EROFS outside the writable roots and on
//!    protected paths, EPERM on a file the command does not own).
//!
//! `/proc/self` at the start of a path means the caller, not init; a link
//! elsewhere into `/proc/self` resolves as init, whose descriptors are the
//! command's standard streams or lie on no sandbox mount. Pipes and
//! sockets lie on no file system and may be changed; a memfd or another
//! anonymous inode may not.
//!
//! The call is never continued (`SECCOMP_USER_NOTIF_FLAG_CONTINUE`) after
//! a check, so a symlink swapped in or a second thread rewriting the path
//! changes nothing that was decided. Init acts with the command's own
//! rights: its effective capability set is empty ([`super::caps`]), and it
//! raises `CAP_SYS_PTRACE` only in step 1.

mod args;
mod caller;

use super::caps;
use super::notify::{self, Request};
use crate::denials::Attempt;
use args::{last_errno, Change, Errno, Memory};
use caller::{Caller, Named};
use cordon_policy::FileId;
use std::collections::{HashMap, HashSet};
use std::ffi::CString;
use std::os::fd::{AsRawFd, OwnedFd, RawFd};
use std::path::PathBuf;

const PIPEFS_MAGIC: i64 = 0x5049_5045;
const SOCKFS_MAGIC: i64 = 0x534F_434B;

fn cvt(r: libc::c_int) -> Result<(), Errno> {
    if r < 0 {
        Err(last_errno())
    } else {
        Ok(())
    }
}

fn times_ptr(times: &Option<[libc::timespec; 2]>) -> *const libc::timespec {
    times.as_ref().map_or(std::ptr::null(), |t| t.as_ptr())
}

/// Makes `change` on `obj`: through the descriptor itself (`via_fd`, as
/// the `f*` call the command made), or through `/proc/self/fd/N`, which
/// reaches exactly that object and follows nothing further.
fn act(change: &Change, obj: &OwnedFd, via_fd: bool) -> Result<(), Errno> {
    let fd = obj.as_raw_fd();
    let times = match change {
        Change::Times(t) => t.map(|t| {
            t.map(|(sec, nsec)| libc::timespec {
                tv_sec: sec as _,
                tv_nsec: nsec as _,
            })
        }),
        _ => None,
    };
    // SAFETY (all calls below): valid descriptors, C strings and buffers
    // that outlive the call.
    if via_fd {
        return cvt(unsafe {
            match change {
                Change::Mode(m) => libc::fchmod(fd, *m),
                Change::Owner(u, g) => libc::fchown(fd, *u, *g),
                // glibc's utimensat refuses a NULL path; this is the same call.
                Change::Times(_) => libc::futimens(fd, times_ptr(&times)),
                Change::SetXattr { name, value, flags } => libc::fsetxattr(
                    fd,
                    name.as_ptr(),
                    value.as_ptr().cast(),
                    value.len(),
                    *flags,
                ),
                Change::RemoveXattr { name } => libc::fremovexattr(fd, name.as_ptr()),
            }
        });
    }
    let p = CString::new(format!("/proc/self/fd/{fd}")).map_err(|_| libc::EINVAL)?;
    cvt(unsafe {
        match change {
            Change::Mode(m) => libc::chmod(p.as_ptr(), *m),
            Change::Owner(u, g) => libc::chown(p.as_ptr(), *u, *g),
            Change::Times(_) => libc::utimensat(libc::AT_FDCWD, p.as_ptr(), times_ptr(&times), 0),
            Change::SetXattr { name, value, flags } => libc::setxattr(
                p.as_ptr(),
                name.as_ptr(),
                value.as_ptr().cast(),
                value.len(),
                *flags,
            ),
            Change::RemoveXattr { name } => libc::removexattr(p.as_ptr(), name.as_ptr()),
        }
    })
}

/// The mount `fd`'s object lies on (`statx`, or `fdinfo` before 5.8).
fn mount_id(fd: RawFd) -> Option<u64> {
    // SAFETY: statx is plain data; a valid descriptor and empty C string.
    unsafe {
        let mut stx: libc::statx = std::mem::zeroed();
        if libc::statx(
            fd,
            c"".as_ptr(),
            libc::AT_EMPTY_PATH,
            libc::STATX_MNT_ID,
            &mut stx,
        ) == 0
            && stx.stx_mask & libc::STATX_MNT_ID != 0
        {
            return Some(stx.stx_mnt_id);
        }
    }
    std::fs::read_to_string(format!("/proc/self/fdinfo/{fd}"))
        .ok()?
        .lines()
        .find_map(|l| l.strip_prefix("mnt_id:"))
        .and_then(|v| v.trim().parse().ok())
}

/// The mount ids of init's (the sandbox's) mount namespace.
fn sandbox_mounts() -> HashSet<u64> {
    std::fs::read_to_string("/proc/self/mountinfo")
        .unwrap_or_default()
        .lines()
        .filter_map(|l| l.split(' ').next()?.parse().ok())
        .collect()
}

/// A pipe or socket: kernel-internal, no file on any file system.
fn is_pipe_or_socket(fd: RawFd, mode: libc::mode_t) -> bool {
    let kind = mode & libc::S_IFMT;
    if kind != libc::S_IFIFO && kind != libc::S_IFSOCK {
        return false;
    }
    // SAFETY: statfs is plain data; a valid descriptor.
    unsafe {
        let mut fs: libc::statfs = std::mem::zeroed();
        libc::fstatfs(fd, &mut fs) == 0 && matches!(fs.f_type as i64, PIPEFS_MAGIC | SOCKFS_MAGIC)
    }
}

/// A refusal: the errno and, when the sandbox (not ownership) refused,
/// what to report with `--log-denials`.
struct Refusal {
    errno: Errno,
    path: Option<PathBuf>,
}

impl From<Errno> for Refusal {
    fn from(errno: Errno) -> Self {
        Refusal { errno, path: None }
    }
}

fn path_of(fd: &OwnedFd) -> Option<PathBuf> {
    std::fs::read_link(format!("/proc/self/fd/{}", fd.as_raw_fd())).ok()
}

/// Performs the mediated calls for the command.
pub struct Mediator {
    /// Syscall number to name, for the calls the filter routes here.
    calls: HashMap<i32, &'static str>,
    /// Every writable root's top directory.
    tops: Vec<FileId>,
    /// The sandbox's mounts, read when first needed and again on a miss.
    mounts: Option<HashSet<u64>>,
    /// False once init could not shed its capabilities: then every call
    /// is refused rather than made with more rights than the command has.
    may_act: bool,
}

impl Mediator {
    /// A mediator for the calls `names` (the plan's), refusing changes to
    /// the directories `tops`; `may_act` says init's capabilities are shed.
    pub fn new(names: &[&'static str], tops: &[FileId], may_act: bool) -> Self {
        let calls = names
            .iter()
            .filter_map(|n| Some((i32::try_from(super::seccomp::resolve(n)?).ok()?, *n)))
            .collect();
        Mediator {
            calls,
            tops: tops.to_vec(),
            mounts: None,
            may_act,
        }
    }

    /// Whether `req` is a call this performs.
    pub fn handles(&self, req: &Request) -> bool {
        self.calls.contains_key(&req.data.nr)
    }

    /// Performs `req` and answers it on the listener `fd`; returns the
    /// attempt when the sandbox refused it.
    pub fn handle(&mut self, fd: RawFd, req: &Request) -> Option<Attempt> {
        let name = *self.calls.get(&req.data.nr)?;
        let outcome = self.perform(fd, req, name)?;
        let _ = match &outcome {
            Ok(()) => notify::respond_value(fd, req.id, 0),
            Err(r) => notify::respond_error(fd, req.id, r.errno),
        };
        let path = outcome.err()?.path?;
        Some(Attempt::Metadata {
            op: name.to_string(),
            path,
        })
    }

    /// `None` when the notification is no longer live (nothing was done).
    fn perform(&mut self, fd: RawFd, req: &Request, name: &str) -> Option<Result<(), Refusal>> {
        if !self.may_act {
            return Some(Err(libc::EPERM.into()));
        }
        let mut caller = Caller {
            tid: req.pid,
            pidfd: None,
        };
        let mem = Memory {
            pid: req.pid as libc::pid_t,
        };
        // Step 1: everything taken from the caller, once.
        let gathered = caps::with_ptrace(|| {
            let (target, change) = args::decode(name, &req.data.args, &mem)?;
            Ok::<_, Errno>((caller.reach(target)?, change))
        });
        let gathered = match gathered {
            Ok(g) => g,
            Err(_) => {
                self.may_act = false;
                return Some(Err(libc::EPERM.into()));
            }
        };
        // The caller is still blocked in this very call, so its pid was
        // not reused while we read.
        notify::id_valid(fd, req.id).ok()?;
        Some(self.decide_and_act(gathered))
    }

    fn decide_and_act(&mut self, gathered: Result<(Named, Change), Errno>) -> Result<(), Refusal> {
        let (named, change) = gathered?;
        let (obj, via_fd) = caller::open(named)?;
        // SAFETY: stat is plain data; a valid descriptor.
        let mut st: libc::stat = unsafe { std::mem::zeroed() };
        // SAFETY: as above.
        cvt(unsafe { libc::fstat(obj.as_raw_fd(), &mut st) })?;
        let refuse = |errno| Refusal {
            errno,
            path: path_of(&obj),
        };
        let id = FileId {
            dev: st.st_dev,
            ino: st.st_ino,
        };
        if self.tops.contains(&id) {
            return Err(refuse(libc::EPERM));
        }
        if !self.on_sandbox_mount(obj.as_raw_fd(), st.st_mode) {
            return Err(refuse(libc::EROFS));
        }
        match act(&change, &obj, via_fd) {
            Err(libc::EROFS) => Err(refuse(libc::EROFS)),
            other => other.map_err(Refusal::from),
        }
    }

    /// Whether the object lies on one of the sandbox's own mounts (or is
    /// a pipe or socket, which lie on no file system).
    fn on_sandbox_mount(&mut self, fd: RawFd, mode: libc::mode_t) -> bool {
        let Some(id) = mount_id(fd) else {
            return false;
        };
        if self.mounts.as_ref().is_some_and(|m| m.contains(&id)) {
            return true;
        }
        if is_pipe_or_socket(fd, mode) {
            return true;
        }
        // First use, or a mount that appeared since (an automount).
        let mounts = sandbox_mounts();
        let found = mounts.contains(&id);
        self.mounts = Some(mounts);
        found
    }
}
