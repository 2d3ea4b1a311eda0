//! The Linux implementation: the index and the session's watch.

pub mod agent;
mod index_file;
mod sys;
mod tree;
pub(crate) mod watch;

pub use index_file::Ignored;
pub use tree::WalkStats;

use crate::{HandedRoot, HandedSet};
use cordon_policy::{discover_protected, Discovery, FileId, ProtectedKind};
use std::os::fd::OwnedFd;
use std::os::unix::ffi::OsStrExt;
use std::path::{Path, PathBuf};
use std::sync::{Arc, Mutex};
use tree::{Trust, WalkError, Walker};

/// What one indexed discovery did.
#[derive(Debug, Default, Clone, PartialEq, Eq)]
pub struct Report {
    /// Why the stored index was not used (`None`: it was).
    pub ignored: Option<Ignored>,
    /// Directories in the tree and how many were read.
    pub stats: WalkStats,
    /// Why the incremental walk gave up and everything was walked plainly.
    pub fallback: Option<String>,
    /// Whether the index was (re)written.
    pub written: bool,
}

/// The discovery indexes under `$CORDON_HOME/discovery`, one per root.
pub struct IndexStore {
    dir: Option<OwnedFd>,
    disabled: Option<String>,
    racy_window_s: i64,
    write: bool,
}

/// How far back from a run's start a directory's `ctime` is too recent to
/// trust next time: the kernel stamps with a clock that may lag the wall
/// clock by a tick, and a change in the same tick as the read could leave
/// the same `ctime`; some file systems keep coarser stamps. Two seconds
/// covers both; such directories are simply read again.
const RACY_WINDOW_S: i64 = 2;

/// An index is rewritten when there was none, or when more directories
/// than this were read, or when at least a sixteenth of the tree was read
/// and what it records changed (a directory or a protected entry came or
/// went): writing a large index costs more than reading a few changed
/// directories again next time (about 40 bytes a directory: 4 MB at
/// 100,000), and replacing even a small one costs the file system a flush
/// (milliseconds on ext4) while a run usually changes only a root's top
/// (its placeholders come and go, leaving the same entries), which the
/// next run reads again in microseconds.
const REWRITE_AFTER_READS: usize = 64;

impl IndexStore {
    /// Opens (creating) `$CORDON_HOME/discovery`. `roots` are the run's
    /// canonical writable roots: when one of them lies in `$CORDON_HOME`
    /// (other than `memories`), a command could write the index, so none is
    /// used or written.
    pub fn open(home: Option<&Path>, roots: &[PathBuf]) -> IndexStore {
        IndexStore::open_with(home, roots, true)
    }

    /// [`IndexStore::open`] for a run that writes nothing under
    /// `$CORDON_HOME` (`exec --ephemeral`): an index there is used, none is
    /// created or rewritten.
    pub fn open_read_only(home: Option<&Path>, roots: &[PathBuf]) -> IndexStore {
        IndexStore::open_with(home, roots, false)
    }

    fn open_with(home: Option<&Path>, roots: &[PathBuf], write: bool) -> IndexStore {
        let Some(home) = home else {
            return IndexStore::without("no $CORDON_HOME");
        };
        let home = std::fs::canonicalize(home).unwrap_or_else(|_| home.to_path_buf());
        let memories = home.join("memories");
        if let Some(r) = roots
            .iter()
            .find(|r| r.starts_with(&home) && !r.starts_with(&memories))
        {
            return IndexStore::without(&format!(
                "writable root {} is inside $CORDON_HOME",
                r.display()
            ));
        }
        match index_file::open_dir(&home, write) {
            Ok(dir) => IndexStore {
                dir: Some(dir),
                disabled: None,
                racy_window_s: RACY_WINDOW_S,
                write,
            },
            Err(why) => IndexStore::without(&why),
        }
    }

    /// A store that keeps nothing: every discovery walks the whole tree.
    pub fn without(why: &str) -> IndexStore {
        IndexStore {
            dir: None,
            disabled: Some(why.to_string()),
            racy_window_s: RACY_WINDOW_S,
            write: false,
        }
    }

    /// Why no index is kept, if none is.
    pub fn disabled(&self) -> Option<&str> {
        self.disabled.as_deref()
    }

    /// What [`discover_protected`] would find under `root`, reading only
    /// the directories whose `ctime` changed since the index was written.
    pub fn discover(&self, root: &Path, skip: &[PathBuf]) -> Discovery {
        self.discover_report(root, skip).0
    }

    /// [`IndexStore::discover`], with what it did.
    pub fn discover_report(&self, root: &Path, skip: &[PathBuf]) -> (Discovery, Report) {
        let mut report = Report::default();
        let now = sys::now();
        let racy_from = (now.0 - self.racy_window_s, now.1);
        let croot = match std::ffi::CString::new(root.as_os_str().as_bytes()) {
            Ok(c) => c,
            Err(_) => return plain(root, skip, report, "root path holds a NUL"),
        };
        let root_id = match sys::lstatat(None, &croot) {
            Ok(st) if st.is_dir() => (st.dev, st.ino),
            _ => return plain(root, skip, report, "root is not a directory"),
        };
        let old = match &self.dir {
            Some(dir) => match index_file::load(dir, root, root_id, skip) {
                Ok(tree) => Some(tree),
                Err(why) => {
                    report.ignored = Some(why);
                    None
                }
            },
            None => {
                report.ignored = Some(Ignored::Unreadable(
                    self.disabled.clone().unwrap_or_default(),
                ));
                None
            }
        };
        let walked = match Walker::walk(root, skip, old.as_ref(), Trust::Stat { racy_from }) {
            Err(WalkError::Doubt(why)) if old.is_some() => {
                report.fallback = Some(why);
                Walker::walk(root, skip, None, Trust::Stat { racy_from })
            }
            other => other,
        };
        let (tree, stats) = match walked {
            Ok(done) => done,
            Err(WalkError::Doubt(why)) => return plain(root, skip, report, &why),
            Err(WalkError::WatchLimit) => return plain(root, skip, report, "watch limit"),
        };
        report.stats = stats;
        if let Some(dir) = self.dir.as_ref().filter(|_| self.write) {
            let worth = match &old {
                None => true,
                Some(old) => {
                    stats.read > REWRITE_AFTER_READS
                        || (stats.read * 16 >= stats.dirs && !old.same_content(&tree))
                }
            };
            if worth && stats.read > 0 && !tree.nodes.is_empty() {
                report.written = index_file::store(dir, &tree).is_ok();
            }
        }
        (tree.discovery(), report)
    }
}

fn plain(root: &Path, skip: &[PathBuf], mut report: Report, why: &str) -> (Discovery, Report) {
    report.fallback = Some(why.to_string());
    (discover_protected(root, skip), report)
}

enum State {
    Starting,
    Ready(Box<watch::Watch>),
    Failed(String),
}

/// A session's watch on its writable roots: hands each command the current
/// protected set without walking (see the `watch` module).
pub struct Watcher {
    state: Mutex<State>,
}

impl Watcher {
    /// Starts watching `roots` (each with the roots nested in it, not
    /// descended) on a thread of its own; until it has read them all,
    /// [`Watcher::current`] says it is not ready.
    pub fn start(roots: Vec<(PathBuf, Vec<PathBuf>)>) -> Arc<Watcher> {
        let watcher = Arc::new(Watcher {
            state: Mutex::new(State::Starting),
        });
        let w = watcher.clone();
        let spawned = std::thread::Builder::new()
            .name("cordon-watch".into())
            .spawn(move || {
                let state = match watch::Watch::start(&roots) {
                    Ok(watch) => State::Ready(Box::new(watch)),
                    Err(why) => State::Failed(why),
                };
                if let Ok(mut s) = w.state.lock() {
                    *s = state;
                }
            });
        if let Err(e) = spawned {
            if let Ok(mut s) = watcher.state.lock() {
                *s = State::Failed(format!("cannot start the watch thread: {e}"));
            }
        }
        watcher
    }

    /// Starts watching `roots` and returns once they are all read.
    pub fn start_now(roots: Vec<(PathBuf, Vec<PathBuf>)>) -> Watcher {
        let state = match watch::Watch::start(&roots) {
            Ok(watch) => State::Ready(Box::new(watch)),
            Err(why) => State::Failed(why),
        };
        Watcher {
            state: Mutex::new(state),
        }
    }

    /// The protected set now, for the next command; `Err` says why there is
    /// none (still starting, the watch limit reached, something in doubt),
    /// and the command discovers for itself.
    pub fn current(&self) -> Result<HandedSet, String> {
        let mut state = self
            .state
            .lock()
            .map_err(|_| "the watch thread panicked".to_string())?;
        let watch = match &mut *state {
            State::Starting => return Err("the watch is still reading the roots".into()),
            State::Failed(why) => return Err(why.clone()),
            State::Ready(watch) => watch,
        };
        if let Err(why) = watch.refresh() {
            if why.contains("watch limit") {
                *state = State::Failed(why.clone());
            }
            return Err(why);
        }
        let roots = watch
            .trees()
            .map(|tree| {
                let discovery = tree.discovery();
                // The root as it was read (not as its path names now): a
                // launcher that pins another directory there drops the set.
                let root_id = tree.nodes.first().map(|n| {
                    (
                        tree.root.clone(),
                        FileId {
                            dev: n.dev,
                            ino: n.ino,
                        },
                    )
                });
                let ids = root_id
                    .into_iter()
                    .chain(
                        discovery
                            .protected
                            .iter()
                            .filter(|p| p.kind == ProtectedKind::Existing)
                            .filter_map(|p| FileId::of(&p.path).map(|id| (p.path.clone(), id))),
                    )
                    .collect();
                HandedRoot {
                    root: tree.root.clone(),
                    skip: tree.skip.clone(),
                    discovery,
                    ids,
                }
            })
            .collect();
        Ok(HandedSet { roots })
    }

    /// How many directories the last [`Watcher::current`] read.
    pub fn last_read(&self) -> Option<usize> {
        match &*self.state.lock().ok()? {
            State::Ready(w) => Some(w.last_read),
            _ => None,
        }
    }
}

#[cfg(test)]
#[path = "tests.rs"]
mod tests;
