//! The protected set a session hands each command's launcher.

use cordon_policy::{Discovery, FileId};
use serde::{Deserialize, Serialize};
use std::collections::BTreeMap;
use std::path::{Path, PathBuf};

/// What a session's watch found under each root, with the identity of each
/// existing protected path when it was found.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct HandedSet {
    /// One entry per root.
    pub roots: Vec<HandedRoot>,
}

/// One root of a [`HandedSet`].
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct HandedRoot {
    /// The canonical root.
    pub root: PathBuf,
    /// The roots nested in it, not descended.
    pub skip: Vec<PathBuf>,
    /// What discovery found.
    pub discovery: Discovery,
    /// The root's and each existing protected path's identity when found.
    pub ids: Vec<(PathBuf, FileId)>,
}

impl HandedSet {
    /// The discovery for `root` with exactly the nested roots `skip`.
    pub fn find(&self, root: &Path, skip: &[PathBuf]) -> Option<&HandedRoot> {
        self.roots.iter().find(|r| r.root == root && r.skip == skip)
    }

    /// Whether every identity recorded agrees with the launcher's own pins
    /// (taken after it resolved the policy): a path swapped in between
    /// means the set is stale.
    pub fn agrees_with(&self, pins: &BTreeMap<PathBuf, FileId>) -> bool {
        self.roots.iter().all(|r| {
            r.ids
                .iter()
                .all(|(path, id)| pins.get(path).is_none_or(|pin| pin == id))
        })
    }

    /// The set as JSON.
    pub fn to_json(&self) -> Option<Vec<u8>> {
        serde_json::to_vec(self).ok()
    }

    /// The set from JSON.
    pub fn from_json(bytes: &[u8]) -> Result<HandedSet, String> {
        serde_json::from_slice(bytes).map_err(|e| e.to_string())
    }
}
