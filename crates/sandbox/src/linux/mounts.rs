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

/// Opens `path` without following symlinks and checks it is still the
/// object discovered before the sandbox started. Anything else (a symlink
/// swapped in, a directory renamed away, a path gone) is `ESTALE`: the run
/// is refused, and cordon retries from discovery.
fn open_pinned(path: &Path, pins: &Pins) -> io::Result<OwnedFd> {
    use std::os::unix::fs::MetadataExt;
    let stale = || io::Error::from_raw_os_error(libc::ESTALE);
    let want = pins.get(path).ok_or_else(stale)?;
    let fd = sys::open_no_symlinks(&cpath(path)?).map_err(|e| match e.raw_os_error() {
        Some(libc::ENOENT | libc::ELOOP | libc::ENOTDIR) => stale(),
        _ => e,
    })?;
    let meta = std::fs::File::from(fd.try_clone()?).metadata()?;
    // O_NOFOLLOW on an O_PATH open returns a final symlink itself: refuse it.
    if meta.file_type().is_symlink() || meta.dev() != want.dev || meta.ino() != want.ino {
        return Err(stale());
    }
    Ok(fd)
}

/// Identities of the paths the steps touch.
pub type Pins = std::collections::BTreeMap<PathBuf, cordon_policy::FileId>;

/// Applies `steps` in order.
pub fn apply(steps: &[MountStep], pins: &Pins) -> Result<(), StepError> {
    let mut captured: HashMap<PathBuf, OwnedFd> = HashMap::new();
    for step in steps {
        match step {
            MountStep::MakePrivate => {
                sys::mount(None, c"/", None, libc::MS_REC | libc::MS_PRIVATE, None)
                    .map_err(at("make / private"))?
            }
            MountStep::CaptureWritable { path } => {
                let step = format!("capture writable root {}", path.display());
                let pinned = open_pinned(path, pins).map_err(at(step.clone()))?;
                let fd = sys::clone_tree_fd(&pinned, true).map_err(at(step))?;
                captured.insert(path.clone(), fd);
            }
            MountStep::ReadOnlyRoot => sys::set_mount_attrs(
                libc::AT_FDCWD,
                c"/",
                sys::MOUNT_ATTR_RDONLY | sys::MOUNT_ATTR_NOSUID,
            )
            .map_err(at("make / read-only (mount_setattr, Linux 5.12+)"))?,
            MountStep::AttachWritable { path } => {
                let step = format!("attach writable root {}", path.display());
                let fd = captured
                    .remove(path)
                    .ok_or_else(|| (step.clone(), io::Error::from_raw_os_error(libc::ENOENT)))?;
                let target = open_pinned(path, pins).map_err(at(step.clone()))?;
                sys::attach_fd(&fd, &target).map_err(at(step))?;
            }
            MountStep::ProtectReadOnly { path } => {
                protect(path, pins).map_err(at(format!("bind {} read-only", path.display())))?
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

/// Binds `path` read-only over itself, on exactly the object discovered.
fn protect(path: &Path, pins: &Pins) -> io::Result<()> {
    let pinned = open_pinned(path, pins)?;
    let fd = sys::clone_tree_fd(&pinned, true)?;
    {
        use std::os::fd::AsRawFd;
        sys::set_mount_attrs(
            fd.as_raw_fd(),
            c"",
            sys::MOUNT_ATTR_RDONLY | sys::MOUNT_ATTR_NOSUID,
        )?;
    }
    sys::attach_fd(&fd, &pinned)
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
