//! File identity and guarded opens on Unix.

use std::fs::{File, OpenOptions};
use std::path::Path;

/// Device and inode of `path` itself (a final symlink is not followed).
pub(crate) fn file_id(path: &Path) -> Option<(u64, u64)> {
    use std::os::unix::fs::MetadataExt;
    let m = std::fs::symlink_metadata(path).ok()?;
    Some((m.dev(), m.ino()))
}

/// Opens `path` for reading without following a final symlink and without
/// blocking on a FIFO or taking a controlling terminal.
pub(crate) fn open_guarded(path: &Path) -> std::io::Result<File> {
    use std::os::unix::fs::OpenOptionsExt;
    OpenOptions::new()
        .read(true)
        .custom_flags(O_NONBLOCK | O_NOFOLLOW | O_NOCTTY)
        .open(path)
}

// Open flags, spelled out to keep this crate free of libc.
#[cfg(target_os = "linux")]
const O_NONBLOCK: i32 = 0o4000;
#[cfg(target_os = "linux")]
const O_NOFOLLOW: i32 = 0o400000;
#[cfg(target_os = "linux")]
const O_NOCTTY: i32 = 0o400;
#[cfg(not(target_os = "linux"))]
const O_NONBLOCK: i32 = 4;
#[cfg(not(target_os = "linux"))]
const O_NOFOLLOW: i32 = 0x100;
#[cfg(not(target_os = "linux"))]
const O_NOCTTY: i32 = 0x20000;
