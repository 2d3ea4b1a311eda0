//! A session's watch on its writable roots: every directory under them is
//! watched with inotify (added before the directory is read, so no change
//! after the read is missed); before each command the events queued since
//! the last one mark their directories for reading again, and the rest of
//! the tree is taken as it was.
//!
//! It gives up (the caller then discovers with the index, or walks) when
//! the watch limit is reached; it reads everything again after an event
//! queue overflow (`IN_Q_OVERFLOW`), an unmount under a root, or any change
//! of the mount table (a mount changes what a path holds without an event).

use super::sys;
use super::tree::{Tree, Trust, WalkError, Walker, UNREADABLE, UNTRUSTED_FS, UNWATCHED};
use std::collections::{HashMap, HashSet};
use std::io::Read;
use std::os::fd::{AsFd, AsRawFd, BorrowedFd, FromRawFd, OwnedFd};
use std::path::PathBuf;

/// What each watched directory reports: its entries changing (created,
/// deleted, renamed in or out) and its own or an entry's metadata (a
/// `chmod` that makes it readable or not), and the directory itself going.
const MASK: u32 = libc::IN_CREATE
    | libc::IN_DELETE
    | libc::IN_MOVED_FROM
    | libc::IN_MOVED_TO
    | libc::IN_ATTRIB
    | libc::IN_DELETE_SELF
    | libc::IN_MOVE_SELF
    | libc::IN_ONLYDIR;

/// Watches the directory open as `fd` (by `/proc/self/fd/N`, which names
/// exactly that object; inotify takes only paths).
pub(crate) fn add_watch(inotify: BorrowedFd<'_>, fd: BorrowedFd<'_>) -> std::io::Result<i32> {
    let path = sys::proc_fd_path(fd.as_raw_fd());
    // SAFETY: valid descriptor and C string.
    let wd = unsafe { libc::inotify_add_watch(inotify.as_raw_fd(), path.as_ptr(), MASK) };
    if wd < 0 {
        Err(std::io::Error::last_os_error())
    } else {
        Ok(wd)
    }
}

struct Watched {
    tree: Tree,
    rescan: bool,
    /// Each directory's node, by identity (built after each walk).
    ids: HashMap<(u64, u64), u32>,
    /// Directories read again at every refresh: unreadable, unwatched, or
    /// on a file system whose events are not trusted.
    always: Vec<u32>,
}

impl Watched {
    fn index(&mut self) {
        self.ids.clear();
        self.always.clear();
        for (i, n) in self.tree.nodes.iter().enumerate() {
            self.ids.insert((n.dev, n.ino), i as u32);
            if n.flags & (UNREADABLE | UNTRUSTED_FS | UNWATCHED) != 0 {
                self.always.push(i as u32);
            }
        }
    }
}

/// The watch on one session's roots (Linux).
pub(crate) struct Watch {
    inotify: OwnedFd,
    mounts: Option<std::fs::File>,
    wds: HashMap<i32, (u64, u64)>,
    dirty: HashSet<(u64, u64)>,
    roots: Vec<Watched>,
    /// Directories read by the last refresh (for tests and benchmarks).
    pub(crate) last_read: usize,
}

impl Watch {
    /// Watches `roots` (each with the nested roots it does not descend) and
    /// reads them all once.
    pub(crate) fn start(roots: &[(PathBuf, Vec<PathBuf>)]) -> Result<Watch, String> {
        // SAFETY: inotify_init1 has no preconditions; the result is checked.
        let fd = unsafe { libc::inotify_init1(libc::IN_NONBLOCK | libc::IN_CLOEXEC) };
        if fd < 0 {
            return Err(format!("inotify: {}", std::io::Error::last_os_error()));
        }
        // SAFETY: `fd` was just created and is owned by nobody else.
        let inotify = unsafe { OwnedFd::from_raw_fd(fd) };
        let mounts = std::fs::File::open("/proc/self/mountinfo").ok();
        let mut watch = Watch {
            inotify,
            mounts,
            wds: HashMap::new(),
            dirty: HashSet::new(),
            roots: Vec::new(),
            last_read: 0,
        };
        for (root, skip) in roots {
            let tree = Tree {
                root: root.clone(),
                skip: skip.clone(),
                ..Tree::default()
            };
            watch.roots.push(Watched {
                tree,
                rescan: true,
                ids: HashMap::new(),
                always: Vec::new(),
            });
        }
        watch.refresh()?;
        Ok(watch)
    }

    /// The trees, as of the last refresh.
    pub(crate) fn trees(&self) -> impl Iterator<Item = &Tree> {
        self.roots.iter().map(|w| &w.tree)
    }

    /// Takes in the events queued since the last call and reads again what
    /// they touched.
    pub(crate) fn refresh(&mut self) -> Result<(), String> {
        self.drain()?;
        if self.mounts_changed() {
            self.rescan_all();
        }
        // A root's own path can come to name another directory with no
        // event on anything watched (a parent renamed and made again):
        // then read it all again.
        for w in &mut self.roots {
            let recorded = w.tree.nodes.first().map(|n| (n.dev, n.ino));
            let now = std::ffi::CString::new(w.tree.root.as_os_str().as_encoded_bytes())
                .ok()
                .and_then(|c| sys::lstatat(None, &c).ok())
                .filter(|st| st.is_dir())
                .map(|st| (st.dev, st.ino));
            if recorded.is_none() || now != recorded {
                w.rescan = true;
            }
        }
        let mut read = 0;
        let nothing = HashSet::new();
        for watched in &mut self.roots {
            if !watched.rescan {
                // Most often a directory's events leave it as it was (a
                // run's placeholders come and go at a root's top): check
                // just those directories, and walk only on a difference.
                let touched: Vec<u32> = self
                    .dirty
                    .iter()
                    .filter_map(|id| watched.ids.get(id).copied())
                    .chain(watched.always.iter().copied())
                    .collect();
                if touched.iter().all(|&n| watched.tree.unchanged(n)) {
                    read += touched.len();
                    continue;
                }
            }
            let old = std::mem::take(&mut watched.tree);
            let (root, skip) = (old.root.clone(), old.skip.clone());
            let trust = Trust::Events {
                dirty: if watched.rescan {
                    &nothing
                } else {
                    &self.dirty
                },
                inotify: self.inotify.as_fd(),
                wds: &mut self.wds,
            };
            let previous = (!watched.rescan && !old.nodes.is_empty()).then_some(&old);
            match Walker::walk(&root, &skip, previous, trust) {
                Ok((tree, stats)) => {
                    read += stats.read;
                    watched.tree = tree;
                    watched.rescan = false;
                    watched.index();
                }
                Err(WalkError::WatchLimit) => {
                    return Err(
                        "the inotify watch limit was reached (fs.inotify.max_user_watches)".into(),
                    )
                }
                Err(WalkError::Doubt(why)) => {
                    watched.tree = old;
                    watched.rescan = true;
                    return Err(why);
                }
            }
        }
        self.dirty.clear();
        self.last_read = read;
        Ok(())
    }

    fn rescan_all(&mut self) {
        for w in &mut self.roots {
            w.rescan = true;
        }
    }

    /// Whether the mount table changed since the last look.
    fn mounts_changed(&mut self) -> bool {
        let Some(file) = &self.mounts else {
            return true;
        };
        let mut pfd = libc::pollfd {
            fd: file.as_raw_fd(),
            events: libc::POLLPRI,
            revents: 0,
        };
        // SAFETY: one valid pollfd, no wait.
        let n = unsafe { libc::poll(&mut pfd, 1, 0) };
        n != 0 && (n < 0 || pfd.revents & (libc::POLLPRI | libc::POLLERR) != 0)
    }

    /// Reads every queued event.
    fn drain(&mut self) -> Result<(), String> {
        let mut buf = vec![0u8; 64 * 1024];
        let mut file = std::mem::ManuallyDrop::new(
            // SAFETY: borrowed for reading only; ManuallyDrop never closes it.
            unsafe { std::fs::File::from_raw_fd(self.inotify.as_raw_fd()) },
        );
        loop {
            let n = match file.read(&mut buf) {
                Ok(n) => n,
                Err(e) if e.kind() == std::io::ErrorKind::WouldBlock => return Ok(()),
                Err(e) if e.kind() == std::io::ErrorKind::Interrupted => continue,
                Err(e) => return Err(format!("reading inotify events: {e}")),
            };
            if n == 0 {
                return Ok(());
            }
            let mut off = 0;
            // struct inotify_event { int wd; u32 mask; u32 cookie; u32 len; char name[]; }
            while off + 16 <= n {
                let word = |i: usize| {
                    let mut a = [0u8; 4];
                    a.copy_from_slice(&buf[off + i..off + i + 4]);
                    a
                };
                let wd = i32::from_ne_bytes(word(0));
                let mask = u32::from_ne_bytes(word(4));
                let len = u32::from_ne_bytes(word(12)) as usize;
                off += 16 + len;
                if mask & (libc::IN_Q_OVERFLOW | libc::IN_UNMOUNT) != 0 {
                    self.rescan_all();
                    continue;
                }
                if let Some(id) = self.wds.get(&wd) {
                    self.dirty.insert(*id);
                }
                if mask & libc::IN_IGNORED != 0 {
                    self.wds.remove(&wd);
                }
            }
        }
    }
}
