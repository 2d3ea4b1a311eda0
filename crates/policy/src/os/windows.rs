//! File identity and guarded opens on Windows.
//!
//! # Limitations
//! No (volume, file index) identity is read without extra Win32 calls, so
//! [`file_id`] returns `None` and nothing is pinned: only the Linux executor
//! mounts by pinned identity.

use std::fs::{File, OpenOptions};
use std::path::Path;

/// Always `None` on Windows (see the module's limitations).
pub(crate) fn file_id(_path: &Path) -> Option<(u64, u64)> {
    None
}

/// Opens `path` for reading; a reparse point (symlink, junction) is opened
/// itself rather than followed, so its metadata is not a regular file.
pub(crate) fn open_guarded(path: &Path) -> std::io::Result<File> {
    use std::os::windows::fs::OpenOptionsExt;
    OpenOptions::new()
        .read(true)
        .custom_flags(FILE_FLAG_OPEN_REPARSE_POINT)
        .open(path)
}

/// `FILE_FLAG_OPEN_REPARSE_POINT` from `winbase.h`.
const FILE_FLAG_OPEN_REPARSE_POINT: u32 = 0x0020_0000;
