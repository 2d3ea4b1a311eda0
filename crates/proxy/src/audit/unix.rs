//! Opening the audit log on Unix (Linux, macOS): `O_NOFOLLOW`, and only a
//! regular file owned by the effective user.

use libc::{geteuid, O_NOFOLLOW};
use std::fs::File;
use std::os::fd::AsRawFd;
use std::os::unix::fs::{MetadataExt, OpenOptionsExt};
use std::path::Path;

/// Opens `path` for appending, refusing a symlink, anything but a regular
/// file, and a file owned by another user.
pub(super) fn open_append(path: &Path) -> std::io::Result<File> {
    let file = std::fs::OpenOptions::new()
        .create(true)
        .append(true)
        // Non-blocking so a FIFO planted at the path cannot hang us;
        // cleared again below once it is known to be a regular file.
        .custom_flags(O_NOFOLLOW | libc::O_NONBLOCK | libc::O_NOCTTY)
        .open(path)?;
    let meta = file.metadata()?;
    // SAFETY: geteuid cannot fail.
    let me = unsafe { geteuid() };
    if !meta.is_file() || meta.uid() != me {
        return Err(std::io::Error::other(format!(
            "{} is not a regular file owned by uid {me}",
            path.display()
        )));
    }
    // SAFETY: fcntl on a descriptor we own.
    unsafe {
        let flags = libc::fcntl(file.as_raw_fd(), libc::F_GETFL);
        libc::fcntl(file.as_raw_fd(), libc::F_SETFL, flags & !libc::O_NONBLOCK);
    }
    Ok(file)
}
