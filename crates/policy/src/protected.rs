//! Discovery of paths that stay read-only inside a writable root.
//!
//! Git metadata is the classic escape hatch for a sandboxed agent: a hook or a
//! `core.fsmonitor` line written into `.git/config` runs later, outside the
//! sandbox, the next time the user types `git status`. So every `.git`
//! (directory, file or symlink) found under a writable root, the real git
//! directory a `.git` *file* points to (submodules, worktrees), and every
//! `.cordon` directory stay read-only. A `.git` or `.cordon` missing at the top
//! of a root is reported as [`ProtectedKind::Missing`] so the sandbox can stop
//! it from being created.
//!
//! A `.git` or `.cordon` that is a symlink cannot be held in place by a bind
//! mount (a mount covers what the link points to, not the link), and a
//! sandboxed command could have planted it there. It never stops a run:
//! the directory that holds the link stays read-only instead (so the link
//! cannot be swapped), its target too, and [`Discovery::symlinks`] names it
//! so the caller can warn.

use serde::{Deserialize, Serialize};
use std::ffi::OsStr;
use std::fs;
use std::path::{Path, PathBuf};

/// Names that are always read-only inside writable roots.
pub const PROTECTED_NAMES: [&str; 2] = [".git", ".cordon"];

/// Whether a protected path exists or must be kept from being created.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "kebab-case")]
pub enum ProtectedKind {
    /// The path exists: it is made read-only.
    Existing,
    /// The path does not exist at the top of a root: it must not be created.
    Missing,
}

/// A path inside a writable root that the sandboxed command may not change.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct ProtectedPath {
    /// Absolute path.
    pub path: PathBuf,
    /// Whether it exists.
    pub kind: ProtectedKind,
}

/// What [`discover_protected`] found under one root.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct Discovery {
    /// Paths that stay read-only (or must not be created), sorted.
    pub protected: Vec<ProtectedPath>,
    /// `.git`/`.cordon` entries that are symlinks; the directory holding
    /// each is in `protected`.
    pub symlinks: Vec<PathBuf>,
}

/// What kind of file a directory entry is, as discovery needs to know.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "kebab-case")]
pub enum EntryKind {
    /// A directory.
    Dir,
    /// A regular file.
    File,
    /// A symbolic link.
    Symlink,
    /// Anything else (FIFO, socket, device).
    Other,
}

/// Whether `name` is one discovery protects (`.git`, `.cordon`).
pub fn is_protected_name(name: &OsStr) -> bool {
    PROTECTED_NAMES.iter().any(|p| name == *p)
}

/// Builds a [`Discovery`] from what a walk saw, one directory at a time.
///
/// [`discover_protected`] is the plain walk; an incremental walk that
/// knows a directory's entries without reading it again feeds the same
/// builder, so both give the same answer. What a protected entry leads to
/// (the git directory a `.git` file names, a `commondir`, a symlink's
/// target) is read again every time, never remembered.
#[derive(Debug, Default)]
pub struct DiscoveryBuilder {
    found: Vec<ProtectedPath>,
    symlinks: Vec<PathBuf>,
    /// The root is its own canonical path: then so is every directory a
    /// walk that follows no link finds under it, and a `.git` directory's
    /// path needs no `realpath` (which reads every prefix of a deep path
    /// again: milliseconds in a deep `node_modules`).
    canonical_root: bool,
}

impl DiscoveryBuilder {
    /// Starts a discovery of `root`: a `.git` or `.cordon` missing at its
    /// top is recorded as [`ProtectedKind::Missing`].
    pub fn new(root: &Path) -> DiscoveryBuilder {
        let mut builder = DiscoveryBuilder {
            canonical_root: fs::canonicalize(root).is_ok_and(|c| c == root),
            ..DiscoveryBuilder::default()
        };
        for name in PROTECTED_NAMES {
            let top = root.join(name);
            match fs::symlink_metadata(&top) {
                Err(e) if e.kind() == std::io::ErrorKind::NotFound => {
                    builder.found.push(ProtectedPath {
                        path: top,
                        kind: ProtectedKind::Missing,
                    })
                }
                // Cannot tell: protect whatever is there (pinning refuses the
                // run if it is not a directory it can bind).
                Err(_) => push_existing(&mut builder.found, top),
                Ok(_) => {}
            }
        }
        builder
    }

    /// Records the entry `name` (a protected name) of `kind` in `dir`.
    pub fn protected_entry(&mut self, dir: &Path, name: &OsStr, kind: EntryKind) {
        let path = dir.join(name);
        if kind == EntryKind::Symlink {
            // A bind mount cannot cover the link itself: hold the
            // directory it lives in, and whatever it points to.
            push_existing(&mut self.found, dir.to_path_buf());
            if let Ok(target) = fs::canonicalize(&path) {
                if target.is_dir() {
                    push_existing(&mut self.found, target);
                }
            }
            self.symlinks.push(path);
        } else if name == ".git" {
            protect_git_entry(
                &path,
                kind == EntryKind::File,
                self.canonical_root,
                &mut self.found,
            );
        } else {
            push_existing(&mut self.found, path);
        }
    }

    /// Records a directory that could not be read: it stays read-only, as
    /// it may hide a repository and the command (same owner) could chmod
    /// its way in.
    pub fn unreadable(&mut self, dir: PathBuf) {
        push_existing(&mut self.found, dir);
    }

    /// The discovery, sorted and without duplicates.
    pub fn finish(self) -> Discovery {
        let DiscoveryBuilder {
            mut found,
            mut symlinks,
            ..
        } = self;
        found.sort_by(|a, b| a.path.cmp(&b.path));
        found.dedup_by(|a, b| a.path == b.path);
        symlinks.sort();
        symlinks.dedup();
        Discovery {
            protected: found,
            symlinks,
        }
    }
}

/// Finds every protected path under `root`, not descending into `skip`
/// (other writable roots nested in this one, which are walked on their own).
///
/// Symlinks are not followed while walking. Unreadable directories stay
/// read-only: the command (same owner) could chmod its way in.
pub fn discover_protected(root: &Path, skip: &[PathBuf]) -> Discovery {
    let mut builder = DiscoveryBuilder::new(root);
    let mut stack = vec![root.to_path_buf()];
    while let Some(dir) = stack.pop() {
        let entries = match fs::read_dir(&dir) {
            Ok(entries) => entries,
            Err(e) if e.kind() == std::io::ErrorKind::NotFound => continue,
            Err(_) => {
                builder.unreadable(dir);
                continue;
            }
        };
        for entry in entries.flatten() {
            let Ok(file_type) = entry.file_type() else {
                continue;
            };
            let name = entry.file_name();
            if is_protected_name(&name) {
                let kind = if file_type.is_symlink() {
                    EntryKind::Symlink
                } else if file_type.is_dir() {
                    EntryKind::Dir
                } else if file_type.is_file() {
                    EntryKind::File
                } else {
                    EntryKind::Other
                };
                builder.protected_entry(&dir, &name, kind);
            } else if file_type.is_dir() {
                let path = entry.path();
                if !skip.iter().any(|s| s == &path) {
                    stack.push(path);
                }
            }
        }
    }
    builder.finish()
}

fn push_existing(found: &mut Vec<ProtectedPath>, path: PathBuf) {
    found.push(ProtectedPath {
        path,
        kind: ProtectedKind::Existing,
    });
}

/// Protects a `.git` entry and, for a `.git` file or symlink, the git
/// directory it leads to (and that directory's `commondir`, for worktrees).
/// `canonical`: `path` is known canonical (found by a walk from a canonical
/// root that follows no link).
fn protect_git_entry(path: &Path, is_file: bool, canonical: bool, found: &mut Vec<ProtectedPath>) {
    let git_dir = if is_file {
        push_existing(found, path.to_path_buf());
        read_gitfile(path)
    } else if canonical {
        // A directory (symlinks are refused before this); should it be
        // swapped for a link now, pinning refuses the run.
        Some(path.to_path_buf())
    } else {
        fs::canonicalize(path).ok()
    };
    let Some(git_dir) = git_dir else { return };
    if let Some(common) = read_small_file(&git_dir.join("commondir")) {
        if let Ok(common) = fs::canonicalize(git_dir.join(common.trim_end())) {
            push_existing(found, common);
        }
    }
    push_existing(found, git_dir);
}

/// Reads `gitdir: PATH` from a `.git` file; relative paths are relative to
/// the file's directory.
fn read_gitfile(path: &Path) -> Option<PathBuf> {
    let text = read_small_file(path)?;
    let target = text.lines().next()?.strip_prefix("gitdir:")?.trim();
    let base = path.parent()?;
    fs::canonicalize(base.join(target)).ok()
}

/// Reads a regular file of at most 4 KiB, never through a final symlink and
/// never blocking on a FIFO or device planted by a sandboxed command.
fn read_small_file(path: &Path) -> Option<String> {
    use std::io::Read;
    let file = crate::os::open_guarded(path).ok()?;
    let meta = file.metadata().ok()?;
    if !meta.is_file() || meta.len() > 4096 {
        return None;
    }
    let mut text = String::new();
    file.take(4096).read_to_string(&mut text).ok()?;
    Some(text)
}

// The tests build symlinks and permission bits with Unix APIs.
#[cfg(all(test, unix))]
#[path = "protected_tests.rs"]
mod tests;
