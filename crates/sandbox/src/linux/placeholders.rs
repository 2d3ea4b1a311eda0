//! Stale placeholders: the empty `.git`/`.cordon` directories a run creates
//! at a root's top carry the extended attribute [`MARK`]. A run that was
//! killed (SIGKILL) cannot remove its own; the next run removes any it can
//! prove is a leftover: still empty, still marked, and nobody holds its
//! lock (every live run holds a shared `flock` on it for its whole length).

use std::ffi::CString;
use std::os::fd::AsRawFd;
use std::os::unix::ffi::OsStrExt;
use std::os::unix::fs::{MetadataExt, OpenOptionsExt};
use std::path::{Path, PathBuf};

/// The extended attribute that marks a directory as cordon's placeholder.
pub const MARK: &str = "user.cordon.placeholder";

/// Marks a placeholder this run created and holds locked. Best effort: a
/// file system without user xattrs leaves it unmarked, and an unmarked
/// directory is never swept (it is then left behind after a SIGKILL).
pub(crate) fn mark(dir: &std::fs::File) {
    let Ok(name) = CString::new(MARK) else {
        return;
    };
    // SAFETY: `dir` is open, `name` NUL-terminated; the value is one byte.
    unsafe { libc::fsetxattr(dir.as_raw_fd(), name.as_ptr(), b"1".as_ptr().cast(), 1, 0) };
}

/// Whether `dir` (opened O_NOFOLLOW) carries the mark.
fn is_marked(dir: &std::fs::File) -> bool {
    let Ok(name) = CString::new(MARK) else {
        return false;
    };
    let mut value = [0u8; 4];
    // SAFETY: `dir` is open; the buffer is writable for its length.
    let n = unsafe {
        libc::fgetxattr(
            dir.as_raw_fd(),
            name.as_ptr(),
            value.as_mut_ptr().cast(),
            value.len(),
        )
    };
    n == 1 && value[0] == b'1'
}

/// Whether a marked placeholder at `path` is stale (empty, marked,
/// unlocked); when `remove`, removes it, in the parent opened first and
/// only if it is still the directory that was checked. Returns whether it
/// was (found and) stale.
pub(crate) fn check(path: &Path, remove: bool) -> bool {
    let open_dir = |p: &Path| {
        std::fs::OpenOptions::new()
            .read(true)
            .custom_flags(libc::O_DIRECTORY | libc::O_NOFOLLOW)
            .open(p)
    };
    let (Some(parent_path), Some(name)) = (path.parent(), path.file_name()) else {
        return false;
    };
    let (Ok(parent), Ok(dir), Ok(cname)) = (
        open_dir(parent_path),
        open_dir(path),
        CString::new(name.as_bytes()),
    ) else {
        return false;
    };
    let empty = std::fs::read_dir(path).is_ok_and(|mut d| d.next().is_none());
    if !empty || !is_marked(&dir) {
        return false;
    }
    // SAFETY: flock on a descriptor we own; released when `dir` closes.
    if unsafe { libc::flock(dir.as_raw_fd(), libc::LOCK_EX | libc::LOCK_NB) } != 0 {
        return false; // a live run holds it
    }
    if !remove {
        return true;
    }
    remove_if_same(&parent, &cname, &dir)
}

/// Removes the empty directory `name` in `parent` if it is still the very
/// directory `dir` (never by path: `parent` was opened first, so a swapped
/// path changes nothing). rmdir semantics: one no longer empty stays.
pub(crate) fn remove_if_same(
    parent: &std::fs::File,
    name: &std::ffi::CStr,
    dir: &std::fs::File,
) -> bool {
    // SAFETY: a zeroed stat is a valid out-buffer; `parent` is open and
    // `name` NUL-terminated.
    let mut st: libc::stat = unsafe { std::mem::zeroed() };
    let found = unsafe {
        libc::fstatat(
            parent.as_raw_fd(),
            name.as_ptr(),
            &mut st,
            libc::AT_SYMLINK_NOFOLLOW,
        )
    } == 0;
    let same = found
        && dir
            .metadata()
            .is_ok_and(|m| m.dev() == st.st_dev && m.ino() == st.st_ino);
    // SAFETY: as for fstatat.
    same && unsafe { libc::unlinkat(parent.as_raw_fd(), name.as_ptr(), libc::AT_REMOVEDIR) } == 0
}

/// The placeholder paths to look at for `roots`: `.git` and `.cordon` at
/// each root's top.
pub(crate) fn candidates(roots: &[PathBuf]) -> Vec<PathBuf> {
    roots
        .iter()
        .flat_map(|r| {
            cordon_policy::PROTECTED_NAMES
                .iter()
                .map(move |n| r.join(n))
        })
        .collect()
}
