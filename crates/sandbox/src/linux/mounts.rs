//! Applies the planner's mount steps inside the new mount namespace.

use super::sys::{self, cpath};
use crate::plan::MountStep;
use std::collections::HashMap;
use std::ffi::CString;
use std::io;
use std::os::fd::OwnedFd;
use std::os::unix::ffi::OsStrExt;
use std::path::{Path, PathBuf};

/// A failed step: what was being done and the OS error.
pub type StepError = (String, io::Error);

fn at(step: impl Into<String>) -> impl FnOnce(io::Error) -> StepError {
    let step = step.into();
    move |e| (step, e)
}

/// Applies `steps` in order.
pub fn apply(steps: &[MountStep]) -> Result<(), StepError> {
    let mut captured: HashMap<PathBuf, OwnedFd> = HashMap::new();
    for step in steps {
        match step {
            MountStep::MakePrivate => {
                sys::mount(None, c"/", None, libc::MS_REC | libc::MS_PRIVATE, None)
                    .map_err(at("make / private"))?
            }
            MountStep::CaptureWritable { path } => {
                let c = cpath(path).map_err(at("path"))?;
                let fd = sys::clone_tree(&c, true)
                    .map_err(at(format!("capture writable root {}", path.display())))?;
                captured.insert(path.clone(), fd);
            }
            MountStep::ReadOnlyRoot => sys::set_mount_attrs(
                libc::AT_FDCWD,
                c"/",
                sys::MOUNT_ATTR_RDONLY | sys::MOUNT_ATTR_NOSUID,
            )
            .map_err(at("make / read-only (mount_setattr, Linux 5.12+)"))?,
            MountStep::AttachWritable { path } => {
                let c = cpath(path).map_err(at("path"))?;
                let fd = captured.remove(path).ok_or_else(|| {
                    (
                        format!("attach {}", path.display()),
                        io::Error::from_raw_os_error(libc::ENOENT),
                    )
                })?;
                sys::attach(&fd, &c)
                    .map_err(at(format!("attach writable root {}", path.display())))?;
            }
            MountStep::ProtectReadOnly { path } => {
                protect(path).map_err(at(format!("bind {} read-only", path.display())))?
            }
            MountStep::Proc => sys::mount(
                Some(c"proc"),
                c"/proc",
                Some(c"proc"),
                libc::MS_NOSUID | libc::MS_NODEV | libc::MS_NOEXEC,
                None,
            )
            .map_err(at("mount a new /proc"))?,
            MountStep::Dev => dev().map_err(at("build /dev"))?,
        }
    }
    Ok(())
}

/// Binds `path` read-only over itself. A path that vanished since it was
/// discovered (a temp directory removed by another program) is skipped:
/// only something outside the sandbox, which has not started yet, can
/// remove it in that window.
fn protect(path: &Path) -> io::Result<()> {
    match bind_read_only(path) {
        Err(e) if e.raw_os_error() == Some(libc::ENOENT) => Ok(()),
        other => other,
    }
}

fn bind_read_only(path: &Path) -> io::Result<()> {
    let c = cpath(path)?;
    let fd = sys::clone_tree(&c, true)?;
    {
        use std::os::fd::AsRawFd;
        sys::set_mount_attrs(
            fd.as_raw_fd(),
            c"",
            sys::MOUNT_ATTR_RDONLY | sys::MOUNT_ATTR_NOSUID,
        )?;
    }
    sys::attach(&fd, &c)
}

const DEVICES: [&str; 6] = ["null", "zero", "full", "random", "urandom", "tty"];

/// A tmpfs `/dev` with the host's harmless devices bound in, a private
/// devpts, a shm tmpfs and the usual symlinks.
fn dev() -> io::Result<()> {
    let mut devices = Vec::new();
    for name in DEVICES {
        let host = CString::new(format!("/dev/{name}"))?;
        if let Ok(fd) = sys::clone_tree(&host, false) {
            devices.push((host, fd));
        }
    }
    sys::mount(
        Some(c"tmpfs"),
        c"/dev",
        Some(c"tmpfs"),
        libc::MS_NOSUID,
        Some(c"mode=0755,size=1m"),
    )?;
    for (path, fd) in &devices {
        std::fs::File::create(std::ffi::OsStr::from_bytes(path.to_bytes()))?;
        sys::attach(fd, path)?;
    }
    std::fs::create_dir("/dev/pts")?;
    sys::mount(
        Some(c"devpts"),
        c"/dev/pts",
        Some(c"devpts"),
        libc::MS_NOSUID | libc::MS_NOEXEC,
        Some(c"newinstance,ptmxmode=0666,mode=620"),
    )?;
    std::os::unix::fs::symlink("pts/ptmx", "/dev/ptmx")?;
    std::fs::create_dir("/dev/shm")?;
    sys::mount(
        Some(c"tmpfs"),
        c"/dev/shm",
        Some(c"tmpfs"),
        libc::MS_NOSUID | libc::MS_NODEV,
        Some(c"mode=1777"),
    )?;
    for (link, target) in [
        ("/dev/fd", "/proc/self/fd"),
        ("/dev/stdin", "/proc/self/fd/0"),
        ("/dev/stdout", "/proc/self/fd/1"),
        ("/dev/stderr", "/proc/self/fd/2"),
    ] {
        std::os::unix::fs::symlink(target, link)?;
    }
    Ok(())
}
