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

/// No discovery agent off Linux.
pub mod agent {
    use crate::HandedRoot;
    use std::path::{Path, PathBuf};
    use std::time::Duration;

    /// How long an idle agent would wait.
    pub const IDLE: Duration = Duration::from_secs(600);

    pub use crate::agent_unavailable::AgentUnavailable;

    /// Never connected off Linux.
    pub struct AgentClient;

    impl AgentClient {
        /// Always refused: the agent is Linux-only.
        pub fn connect(_home: &Path, _budget: Duration) -> Result<AgentClient, AgentUnavailable> {
            Err(AgentUnavailable::Refused(
                "the discovery agent is Linux-only".into(),
            ))
        }

        /// Never connected.
        pub fn pid(&self) -> i32 {
            0
        }

        /// Never a set.
        pub fn ask(&mut self, _root: &Path, _skip: &[PathBuf]) -> Result<HandedRoot, String> {
            Err("the discovery agent is Linux-only".into())
        }
    }

    /// Not supported off Linux.
    pub fn spawn(_home: &Path, _roots: &[(PathBuf, Vec<PathBuf>)]) -> std::io::Result<()> {
        Err(std::io::Error::new(
            std::io::ErrorKind::Unsupported,
            "the discovery agent is Linux-only",
        ))
    }

    /// Not supported off Linux.
    pub fn parse_roots(_json: &str) -> Result<Vec<(PathBuf, Vec<PathBuf>)>, String> {
        Err("the discovery agent is Linux-only".into())
    }

    /// Not supported off Linux.
    pub fn serve(
        _home: &Path,
        _idle: Duration,
        _roots: &[(PathBuf, Vec<PathBuf>)],
    ) -> Result<(), String> {
        Err("the discovery agent is Linux-only".into())
    }
}
