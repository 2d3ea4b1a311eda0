//! Turning a mode plus settings into the concrete set of writable roots.

use crate::protected::{discover_protected, Discovery, ProtectedKind, ProtectedPath};
use crate::{NetworkMode, PolicyError, SandboxMode};
use serde::{Deserialize, Serialize};
use std::path::{Path, PathBuf};

/// Everything [`resolve`] needs, already merged from flags and config.
#[derive(Debug, Clone, Default)]
pub struct PolicyInputs {
    /// The sandbox mode.
    pub mode: SandboxMode,
    /// The network mode.
    pub network: NetworkMode,
    /// The command's working directory (a writable root in workspace-write).
    pub cwd: PathBuf,
    /// Extra writable roots (`writable_roots`, `--writable-root`).
    pub writable_roots: Vec<PathBuf>,
    /// Do not make `$TMPDIR` writable.
    pub exclude_tmpdir_env_var: bool,
    /// Do not make `/tmp` writable.
    pub exclude_slash_tmp: bool,
    /// The value of `$TMPDIR`, if set.
    pub tmpdir: Option<PathBuf>,
    /// `$CORDON_HOME`; its `memories` directory is writable in workspace-write.
    pub cordon_home: Option<PathBuf>,
}

/// A directory the command may write, with the paths inside it that stay read-only.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct WritableRoot {
    /// Canonical absolute path.
    pub root: PathBuf,
    /// Read-only carve-outs inside `root`.
    pub protected: Vec<ProtectedPath>,
}

/// The identity of a file-system object (device and inode).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
pub struct FileId {
    /// Device number.
    pub dev: u64,
    /// Inode number.
    pub ino: u64,
}

impl FileId {
    /// The identity of `path` itself (a final symlink is not followed).
    /// Always `None` on Windows, where nothing is pinned.
    pub fn of(path: &Path) -> Option<FileId> {
        let (dev, ino) = crate::os::file_id(path)?;
        Some(FileId { dev, ino })
    }
}

/// A resolved sandbox policy.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct SandboxPolicy {
    /// The sandbox mode.
    pub mode: SandboxMode,
    /// The network mode.
    pub network: NetworkMode,
    /// Canonical working directory.
    pub cwd: PathBuf,
    /// Writable roots, shallowest first; empty unless workspace-write.
    pub writable_roots: Vec<WritableRoot>,
    /// Requested roots that do not exist and were left out.
    pub missing_roots: Vec<PathBuf>,
    /// What the caller should tell the user: directories held read-only
    /// because a `.git`/`.cordon` in them is a symlink.
    pub warnings: Vec<String>,
    /// What each root and existing protected path was when discovered; the
    /// sandbox refuses to run if one has been swapped by the time it is
    /// mounted.
    #[serde(skip)]
    pub pins: std::collections::BTreeMap<PathBuf, FileId>,
}

impl SandboxPolicy {
    /// Whether the policy lets the command create or change `path` (an
    /// absolute, normalised path). The deepest matching root or protected
    /// path decides, as the deepest mount does in the sandbox.
    pub fn allows_write(&self, path: &Path) -> bool {
        if self.mode == SandboxMode::DangerFullAccess {
            return true;
        }
        let mut best: Option<(usize, bool)> = None;
        let mut consider = |prefix: &Path, writable: bool| {
            if path.starts_with(prefix) {
                let depth = prefix.components().count();
                if best.is_none_or(|(d, _)| depth >= d) {
                    best = Some((depth, writable));
                }
            }
        };
        for root in &self.writable_roots {
            consider(&root.root, true);
        }
        for root in &self.writable_roots {
            for p in &root.protected {
                consider(&p.path, false);
            }
        }
        best.is_some_and(|(_, writable)| writable)
    }
}

/// Resolves `inputs` into a policy: canonicalises the roots, drops duplicates
/// and missing ones, and discovers the protected paths under each root.
pub fn resolve(inputs: &PolicyInputs) -> Result<SandboxPolicy, PolicyError> {
    resolve_with(inputs, &mut |root, skip| discover_protected(root, skip))
}

/// The writable roots `inputs` asks for, before canonicalising: the
/// working directory, the extra roots (relative ones against it), `/tmp`,
/// `$TMPDIR` and `$CORDON_HOME/memories` unless excluded.
fn requested_roots(inputs: &PolicyInputs, cwd: &Path) -> Vec<PathBuf> {
    let mut requested = vec![cwd.to_path_buf()];
    for root in &inputs.writable_roots {
        if root.is_relative() {
            requested.push(cwd.join(root));
        } else {
            requested.push(root.clone());
        }
    }
    if !inputs.exclude_slash_tmp {
        requested.push(PathBuf::from("/tmp"));
    }
    if !inputs.exclude_tmpdir_env_var {
        if let Some(tmpdir) = inputs.tmpdir.as_ref().filter(|t| t.is_absolute()) {
            requested.push(tmpdir.clone());
        }
    }
    if let Some(home) = &inputs.cordon_home {
        requested.push(home.join("memories"));
    }
    requested
}

impl PolicyInputs {
    /// The canonical writable roots a workspace-write run would get (those
    /// that exist); empty in other modes.
    pub fn canonical_roots(&self) -> Vec<PathBuf> {
        if self.mode != SandboxMode::WorkspaceWrite {
            return Vec::new();
        }
        let Ok(cwd) = std::fs::canonicalize(&self.cwd) else {
            return Vec::new();
        };
        requested_roots(self, &cwd)
            .iter()
            .filter_map(|r| std::fs::canonicalize(r).ok())
            .collect()
    }
}

/// How the protected paths under one root are found: called with the
/// canonical root and the other roots nested in it (not to be descended);
/// must answer what [`discover_protected`] would.
pub type Discover<'a> = dyn FnMut(&Path, &[PathBuf]) -> Discovery + 'a;

/// [`resolve`] with discovery done by `discover` (an index, or a set a
/// session keeps current) instead of a plain walk.
pub fn resolve_with(
    inputs: &PolicyInputs,
    discover: &mut Discover<'_>,
) -> Result<SandboxPolicy, PolicyError> {
    let cwd = std::fs::canonicalize(&inputs.cwd).map_err(|source| PolicyError::Cwd {
        path: inputs.cwd.clone(),
        source,
    })?;
    let mut policy = SandboxPolicy {
        mode: inputs.mode,
        network: inputs.network,
        cwd: cwd.clone(),
        writable_roots: Vec::new(),
        missing_roots: Vec::new(),
        warnings: Vec::new(),
        pins: Default::default(),
    };
    if inputs.mode != SandboxMode::WorkspaceWrite {
        return Ok(policy);
    }
    if let Some(home) = &inputs.cordon_home {
        // Best effort: if it cannot be created the sandbox cannot create it either.
        let memories = home.join("memories");
        let _ = std::fs::create_dir_all(&memories);
        // cordon's own directory keeps its `.git` and `.cordon` as lasting
        // empty directories (read-only inside, as every existing one), so a
        // run need not make and remove placeholders there each time.
        // `mkdir` follows no link: a name already taken is left as it is.
        for name in crate::protected::PROTECTED_NAMES {
            let _ = std::fs::create_dir(memories.join(name));
        }
    }
    let requested = requested_roots(inputs, &cwd);
    let mut roots: Vec<PathBuf> = Vec::new();
    for root in requested {
        match std::fs::canonicalize(&root) {
            Ok(real) if real.is_dir() => roots.push(real),
            _ => policy.missing_roots.push(root),
        }
    }
    roots.sort_by_key(|r| (r.components().count(), r.clone()));
    roots.dedup();
    // cordon's own home (config, sessions) stays read-only whatever its
    // name, except `memories`, a root of its own.
    let home = inputs
        .cordon_home
        .as_ref()
        .and_then(|h| std::fs::canonicalize(h).ok());
    let mut read_only_roots = Vec::new();
    for root in &roots {
        let nested: Vec<PathBuf> = roots
            .iter()
            .filter(|r| *r != root && r.starts_with(root))
            .cloned()
            .collect();
        let found = discover(root, &nested);
        let mut protected = found.protected;
        for link in &found.symlinks {
            let holder = link.parent().unwrap_or(root);
            policy.warnings.push(format!(
                "{} is a symlink, which the sandbox cannot hold in place; {} stays read-only in this run (replace the link with the directory it points to)",
                link.display(),
                holder.display()
            ));
        }
        // A root whose own top holds such a link is not writable at all.
        if protected
            .iter()
            .any(|p| p.path == *root && p.kind == ProtectedKind::Existing)
        {
            read_only_roots.push(root.clone());
            continue;
        }
        // `$CORDON_HOME/memories` keeps its missing-`.git`/`.cordon`
        // placeholders like every root: a `git status` there would
        // otherwise run a planted `core.fsmonitor`.
        if let Some(home) = home.as_ref().filter(|h| h.starts_with(root)) {
            protected.push(ProtectedPath {
                path: home.clone(),
                kind: ProtectedKind::Existing,
            });
            protected.sort_by(|a, b| a.path.cmp(&b.path));
            protected.dedup_by(|a, b| a.path == b.path);
        }
        policy.writable_roots.push(WritableRoot {
            root: root.clone(),
            protected,
        });
    }
    // A root held read-only was skipped by the walk of any root around it:
    // carve it out of those explicitly.
    for held in read_only_roots {
        for outer in &mut policy.writable_roots {
            if held.starts_with(&outer.root) {
                outer.protected.push(ProtectedPath {
                    path: held.clone(),
                    kind: ProtectedKind::Existing,
                });
                outer.protected.sort_by(|a, b| a.path.cmp(&b.path));
                outer.protected.dedup_by(|a, b| a.path == b.path);
            }
        }
    }
    for root in &policy.writable_roots {
        let existing = root
            .protected
            .iter()
            .filter(|p| p.kind == ProtectedKind::Existing)
            .map(|p| &p.path);
        for path in std::iter::once(&root.root).chain(existing) {
            if let Some(id) = FileId::of(path) {
                policy.pins.insert(path.clone(), id);
            }
        }
    }
    Ok(policy)
}

#[cfg(test)]
#[path = "resolve_tests.rs"]
mod tests;
