//! Off Linux: no index and no watch; discovery is the plain walk.

use crate::HandedSet;
use cordon_policy::{discover_protected, Discovery};
use std::path::{Path, PathBuf};
use std::sync::Arc;

/// No index is kept off Linux: every discovery walks.
pub struct IndexStore;

impl IndexStore {
    /// A store that keeps nothing.
    pub fn open(_home: Option<&Path>, _roots: &[PathBuf]) -> IndexStore {
        IndexStore
    }

    /// A store that keeps nothing.
    pub fn open_read_only(_home: Option<&Path>, _roots: &[PathBuf]) -> IndexStore {
        IndexStore
    }

    /// A store that keeps nothing.
    pub fn without(_why: &str) -> IndexStore {
        IndexStore
    }

    /// Always: not on this platform.
    pub fn disabled(&self) -> Option<&str> {
        Some("the discovery index is Linux-only")
    }

    /// The plain walk.
    pub fn discover(&self, root: &Path, skip: &[PathBuf]) -> Discovery {
        discover_protected(root, skip)
    }
}

/// No watch off Linux.
pub struct Watcher;

impl Watcher {
    /// A watch that never has a set.
    pub fn start(_roots: Vec<(PathBuf, Vec<PathBuf>)>) -> Arc<Watcher> {
        Arc::new(Watcher)
    }

    /// A watch that never has a set.
    pub fn start_now(_roots: Vec<(PathBuf, Vec<PathBuf>)>) -> Watcher {
        Watcher
    }

    /// Never a set: each command discovers for itself.
    pub fn current(&self) -> Result<HandedSet, String> {
        Err("the session watch is Linux-only".into())
    }
}
