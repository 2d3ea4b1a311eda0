//! Opening the audit log on Windows, which has no `O_NOFOLLOW`: the last
//! path component is opened as itself (`FILE_FLAG_OPEN_REPARSE_POINT`), not
//! followed, and refused if it is a reparse point or not a regular file.
//! The owner is not checked (unlike Unix).

use std::fs::File;
use std::os::windows::fs::{MetadataExt, OpenOptionsExt};
use std::path::Path;
use windows_sys::Win32::Storage::FileSystem::{
    FILE_ATTRIBUTE_REPARSE_POINT, FILE_FLAG_OPEN_REPARSE_POINT,
};

/// Opens `path` for appending, refusing a symlink, junction or other
/// reparse point, and anything but a regular file.
pub(super) fn open_append(path: &Path) -> std::io::Result<File> {
    // A clear refusal before anything is opened; the check on the open
    // handle below is the one a racing rename cannot slip past.
    match std::fs::symlink_metadata(path) {
        Ok(meta) if is_refused(&meta) => return Err(refused(path)),
        Ok(_) => {}
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => {}
        Err(e) => return Err(e),
    }
    let file = std::fs::OpenOptions::new()
        .create(true)
        .append(true)
        .custom_flags(FILE_FLAG_OPEN_REPARSE_POINT)
        .open(path)?;
    if is_refused(&file.metadata()?) {
        return Err(refused(path));
    }
    Ok(file)
}

fn is_refused(meta: &std::fs::Metadata) -> bool {
    !meta.is_file() || meta.file_attributes() & FILE_ATTRIBUTE_REPARSE_POINT != 0
}

fn refused(path: &Path) -> std::io::Error {
    std::io::Error::other(format!(
        "{} is not a regular file (symlinks and other reparse points are refused)",
        path.display()
    ))
}
