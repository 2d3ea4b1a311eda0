//! Applying a parsed patch: check everything, then write.

use super::parse::{Hunk, Operation, Patch};
use super::PatchError;
use crate::agent::ChangeKind;
use crate::approval::FileDiff;
use cordon_policy::SandboxPolicy;
use std::path::{Component, Path, PathBuf};

/// What happened to one file.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum FileChange {
    /// Created.
    Added(PathBuf),
    /// Changed (and maybe moved: `from`, `to`).
    Updated {
        /// Before.
        from: PathBuf,
        /// After (same as `from` unless moved).
        to: PathBuf,
    },
    /// Removed.
    Deleted(PathBuf),
}

/// The result of applying a patch.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Applied {
    /// One entry per operation, in order.
    pub changes: Vec<FileChange>,
}

/// One planned write: the path and its new content (`None`: delete).
#[derive(Debug)]
pub struct Write {
    path: PathBuf,
    content: Option<String>,
}

fn resolve(cwd: &Path, rel: &str) -> Result<PathBuf, PatchError> {
    let p = Path::new(rel);
    let bad = || PatchError::BadPath {
        path: rel.to_string(),
    };
    if rel.is_empty() || p.is_absolute() {
        return Err(bad());
    }
    let mut out = cwd.to_path_buf();
    for c in p.components() {
        match c {
            Component::Normal(n) => out.push(n),
            Component::CurDir => {}
            _ => return Err(bad()),
        }
    }
    real_path(&out).map_err(|message| PatchError::State {
        path: rel.to_string(),
        message,
    })
}

/// `path` with every symlink and `..` resolved: the deepest part that
/// exists is canonicalized, the rest (which does not exist yet) appended.
/// The policy is checked against this path and the write goes to it, so a
/// symlink planted by a command cannot redirect a patch outside the policy.
/// A dangling symlink on the way is refused.
fn real_path(path: &Path) -> Result<PathBuf, String> {
    let mut existing = path.to_path_buf();
    let mut missing = Vec::new();
    loop {
        match std::fs::symlink_metadata(&existing) {
            Ok(_) => break,
            Err(e) if e.kind() == std::io::ErrorKind::NotFound => {
                match existing.components().next_back() {
                    Some(Component::Normal(name)) => missing.push(name.to_os_string()),
                    _ => return Err("the path leaves the directories that exist".into()),
                }
                existing.pop();
            }
            Err(e) => return Err(e.to_string()),
        }
    }
    let mut real = std::fs::canonicalize(&existing).map_err(|e| match e.kind() {
        std::io::ErrorKind::NotFound => "a symlink on the way points nowhere".to_string(),
        _ => e.to_string(),
    })?;
    for name in missing.into_iter().rev() {
        real.push(name);
    }
    Ok(real)
}

fn check_policy(policy: Option<&SandboxPolicy>, path: &Path) -> Result<(), PatchError> {
    match policy {
        Some(p) if !p.allows_write(path) => Err(PatchError::Denied {
            path: path.to_path_buf(),
        }),
        _ => Ok(()),
    }
}

fn read(path: &Path, rel: &str) -> Result<String, PatchError> {
    std::fs::read_to_string(path).map_err(|e| match e.kind() {
        std::io::ErrorKind::NotFound => PatchError::State {
            path: rel.to_string(),
            message: "does not exist".into(),
        },
        _ => PatchError::Io {
            path: path.to_path_buf(),
            message: e.to_string(),
        },
    })
}

/// Finds `needle` as consecutive lines in `hay` at or after `from`.
fn find(hay: &[&str], needle: &[String], from: usize) -> Option<usize> {
    if needle.is_empty() {
        return Some(from.min(hay.len()));
    }
    (from..=hay.len().saturating_sub(needle.len())).find(|&i| {
        hay[i..i + needle.len()]
            .iter()
            .zip(needle)
            .all(|(a, b)| *a == b.as_str())
    })
}

/// Applies `hunks` to `text`; errors name the file and the hunk.
fn apply_hunks(rel: &str, text: &str, hunks: &[Hunk]) -> Result<String, PatchError> {
    let lines: Vec<&str> = text.lines().collect();
    let mut out: Vec<String> = Vec::new();
    let mut pos = 0;
    for (n, hunk) in hunks.iter().enumerate() {
        let no_match = || PatchError::NoMatch {
            path: rel.to_string(),
            hunk: n + 1,
            anchor: hunk
                .anchor
                .as_ref()
                .map(|a| format!(" (@@ {a})"))
                .unwrap_or_default(),
            expected: hunk
                .old
                .iter()
                .map(|l| format!("  |{l}"))
                .collect::<Vec<_>>()
                .join("\n"),
        };
        let mut start = pos;
        if let Some(anchor) = &hunk.anchor {
            let at = (pos..lines.len())
                .find(|&i| lines[i] == anchor || lines[i].trim() == anchor.trim())
                .ok_or_else(no_match)?;
            // The anchor itself may be part of the hunk's context.
            start = if hunk.old.first().map(String::as_str) == Some(lines[at]) {
                at
            } else {
                at + 1
            };
        }
        let at = if hunk.at_eof {
            let at = lines
                .len()
                .checked_sub(hunk.old.len())
                .ok_or_else(no_match)?;
            (at >= start && find(&lines, &hunk.old, at) == Some(at))
                .then_some(at)
                .ok_or_else(no_match)?
        } else {
            find(&lines, &hunk.old, start).ok_or_else(no_match)?
        };
        out.extend(lines[pos..at].iter().map(|s| s.to_string()));
        out.extend(hunk.new.iter().cloned());
        pos = at + hunk.old.len();
    }
    out.extend(lines[pos..].iter().map(|s| s.to_string()));
    let mut result = out.join("\n");
    if !result.is_empty() && (text.ends_with('\n') || text.is_empty()) {
        result.push('\n');
    }
    Ok(result)
}

/// Checks every operation against the files and the policy, and computes
/// the writes, without changing anything.
pub fn plan(
    patch: &Patch,
    cwd: &Path,
    policy: Option<&SandboxPolicy>,
) -> Result<(Vec<Write>, Applied), PatchError> {
    let mut writes = Vec::new();
    let mut changes = Vec::new();
    for op in &patch.ops {
        match op {
            Operation::Add { path, lines } => {
                let abs = resolve(cwd, path)?;
                check_policy(policy, &abs)?;
                if abs.exists() {
                    return Err(PatchError::State {
                        path: path.clone(),
                        message: "already exists (use *** Update File)".into(),
                    });
                }
                let mut content = lines.join("\n");
                content.push('\n');
                writes.push(Write {
                    path: abs.clone(),
                    content: Some(content),
                });
                changes.push(FileChange::Added(abs));
            }
            Operation::Delete { path } => {
                let abs = resolve(cwd, path)?;
                check_policy(policy, &abs)?;
                if !abs.is_file() {
                    return Err(PatchError::State {
                        path: path.clone(),
                        message: "is not an existing file".into(),
                    });
                }
                writes.push(Write {
                    path: abs.clone(),
                    content: None,
                });
                changes.push(FileChange::Deleted(abs));
            }
            Operation::Update {
                path,
                move_to,
                hunks,
            } => {
                let abs = resolve(cwd, path)?;
                check_policy(policy, &abs)?;
                let text = read(&abs, path)?;
                let new = apply_hunks(path, &text, hunks)?;
                let dest = match move_to {
                    Some(m) => {
                        let d = resolve(cwd, m)?;
                        check_policy(policy, &d)?;
                        if d != abs && d.exists() {
                            return Err(PatchError::State {
                                path: m.clone(),
                                message: "move destination already exists".into(),
                            });
                        }
                        d
                    }
                    None => abs.clone(),
                };
                if dest != abs {
                    writes.push(Write {
                        path: abs.clone(),
                        content: None,
                    });
                }
                writes.push(Write {
                    path: dest.clone(),
                    content: Some(new),
                });
                changes.push(FileChange::Updated {
                    from: abs,
                    to: dest,
                });
            }
        }
    }
    Ok((writes, Applied { changes }))
}

/// Applies `patch` under `cwd`. Nothing is written unless every operation
/// checks out; `policy`, when given, must allow every path touched.
pub fn apply(
    patch: &Patch,
    cwd: &Path,
    policy: Option<&SandboxPolicy>,
) -> Result<Applied, PatchError> {
    let (writes, applied) = plan(patch, cwd, policy)?;
    for w in writes {
        let io = |e: std::io::Error| PatchError::Io {
            path: w.path.clone(),
            message: e.to_string(),
        };
        match &w.content {
            Some(content) => {
                if let Some(parent) = w.path.parent() {
                    std::fs::create_dir_all(parent).map_err(io)?;
                }
                crate::pinned_dir::write_replacing(&w.path, content.as_bytes()).map_err(io)?;
            }
            None => std::fs::remove_file(&w.path).map_err(io)?,
        }
    }
    Ok(applied)
}

/// Each file `patch` would touch under `cwd`, with a unified diff, for a
/// person to judge before it is applied (nothing is written).
pub fn preview(patch: &Patch, cwd: &Path) -> Result<Vec<FileDiff>, PatchError> {
    let (writes, _) = plan(patch, cwd, None)?;
    Ok(writes
        .iter()
        .map(|w| {
            let old = std::fs::read_to_string(&w.path).ok();
            let kind = match (&old, &w.content) {
                (_, None) => ChangeKind::Delete,
                (Some(_), Some(_)) => ChangeKind::Update,
                (None, Some(_)) => ChangeKind::Add,
            };
            let (old, new) = (
                old.as_deref().unwrap_or(""),
                w.content.as_deref().unwrap_or(""),
            );
            let diff = similar::TextDiff::from_lines(old, new);
            let (mut added, mut removed) = (0, 0);
            for change in diff.iter_all_changes() {
                match change.tag() {
                    similar::ChangeTag::Insert => added += 1,
                    similar::ChangeTag::Delete => removed += 1,
                    similar::ChangeTag::Equal => {}
                }
            }
            let name = w.path.display().to_string();
            FileDiff {
                path: w.path.clone(),
                kind,
                diff: diff
                    .unified_diff()
                    .context_radius(3)
                    .header(&name, &name)
                    .to_string(),
                added,
                removed,
            }
        })
        .collect())
}

#[cfg(test)]
#[path = "apply_tests.rs"]
mod tests;
