//! The tree of directories under one root as discovery last saw it, and the
//! walk that brings it up to date: a directory is read again only when it
//! cannot be trusted to be unchanged (by `ctime` for the index, by the
//! absence of events for a session's watch); the rest only have their
//! protected entries evaluated again.

use super::sys::{self, Stat};
use cordon_policy::{is_protected_name, Discovery, DiscoveryBuilder, EntryKind};
use std::cell::OnceCell;
use std::collections::{HashMap, HashSet};
use std::ffi::{CString, OsStr};
use std::os::fd::{AsFd, BorrowedFd, OwnedFd};
use std::os::unix::ffi::OsStrExt;
use std::path::{Path, PathBuf};

/// The directory's `ctime` was too close to the walk to tell a later change
/// by it (the kernel stamps with a coarse clock): read it again next time.
pub(crate) const RACY: u8 = 1;
/// It could not be read: it stays read-only and is tried again every time.
pub(crate) const UNREADABLE: u8 = 2;
/// It is on a file system whose `ctime` (or events) are not trusted.
pub(crate) const UNTRUSTED_FS: u8 = 4;
/// A session could not watch it.
pub(crate) const UNWATCHED: u8 = 8;

/// File systems whose directory `ctime` a run trusts: local ones where
/// every change to a directory's entries sets its `ctime` from the kernel's
/// clock, and where nothing but this kernel changes them. Not trusted: NFS,
/// SMB, FUSE and other remote or user-space ones (the server or daemon
/// stamps times, caches attributes, or changes entries behind the
/// kernel's back), and overlayfs (a lower layer changed underneath is not
/// reflected in the merged directory's `ctime`).
const TRUSTED_FS: [i64; 4] = [
    0xEF53,      // ext2, ext3, ext4
    0x5846_5342, // xfs
    0x9123_683E, // btrfs
    0x0102_1994, // tmpfs
];

/// A name stored in the tree's arena.
#[derive(Debug, Clone, Copy, Default)]
pub(crate) struct Span {
    pub off: u32,
    pub len: u16,
}

/// One directory.
#[derive(Debug, Clone, Copy)]
pub(crate) struct Node {
    /// Index of the parent; `u32::MAX` for the root (node 0).
    pub parent: u32,
    /// Its name in the parent (empty for the root).
    pub name: Span,
    pub dev: u64,
    pub ino: u64,
    pub ctime_s: i64,
    pub ctime_ns: u32,
    pub flags: u8,
    /// Range of its protected entries in `Tree::specials`.
    pub specials: (u32, u32),
    /// Range of its subdirectories in `Tree::child_ids` (sorted by name).
    pub children: (u32, u32),
}

impl Node {
    fn same_as(&self, st: &Stat) -> bool {
        st.is_dir()
            && st.dev == self.dev
            && st.ino == self.ino
            && st.ctime_s == self.ctime_s
            && st.ctime_ns == self.ctime_ns
    }
}

/// A `.git` or `.cordon` entry of a directory.
#[derive(Debug, Clone, Copy)]
pub(crate) struct Special {
    pub name: Span,
    pub kind: EntryKind,
}

/// The directories under one root.
#[derive(Debug, Default)]
pub(crate) struct Tree {
    /// The canonical root.
    pub root: PathBuf,
    /// Roots nested in this one, not descended.
    pub skip: Vec<PathBuf>,
    pub names: Vec<u8>,
    pub nodes: Vec<Node>,
    pub specials: Vec<Special>,
    pub child_ids: Vec<u32>,
}

impl Tree {
    pub(crate) fn name(&self, span: Span) -> &[u8] {
        &self.names[span.off as usize..span.off as usize + span.len as usize]
    }

    pub(crate) fn children(&self, node: &Node) -> &[u32] {
        &self.child_ids[node.children.0 as usize..(node.children.0 + node.children.1) as usize]
    }

    pub(crate) fn node_specials(&self, node: &Node) -> &[Special] {
        &self.specials[node.specials.0 as usize..(node.specials.0 + node.specials.1) as usize]
    }

    /// The subdirectory `name` of `node`, by binary search.
    fn find_child(&self, node: u32, name: &[u8]) -> Option<u32> {
        let n = &self.nodes[node as usize];
        let kids = self.children(n);
        kids.binary_search_by(|&k| self.name(self.nodes[k as usize].name).cmp(name))
            .ok()
            .map(|i| kids[i])
    }

    fn add_name(&mut self, name: &[u8]) -> Span {
        let off = self.names.len() as u32;
        self.names.extend_from_slice(name);
        Span {
            off,
            len: name.len() as u16,
        }
    }

    /// The absolute path of `node`.
    pub(crate) fn path_of(&self, node: u32) -> PathBuf {
        let mut parts = Vec::new();
        let mut at = node;
        while at != 0 && at != u32::MAX {
            let n = &self.nodes[at as usize];
            parts.push(self.name(n.name));
            at = n.parent;
        }
        let mut path = self.root.clone();
        for part in parts.iter().rev() {
            path.push(OsStr::from_bytes(part));
        }
        path
    }

    /// Groups each node's subdirectories, sorted by name (after a walk,
    /// which adds a node before its subdirectories).
    pub(crate) fn link_children(&mut self) {
        let n = self.nodes.len();
        let mut count = vec![0u32; n];
        for node in self.nodes.iter().skip(1) {
            count[node.parent as usize] += 1;
        }
        let mut start = vec![0u32; n];
        let mut acc = 0u32;
        for i in 0..n {
            start[i] = acc;
            acc += count[i];
        }
        let mut child_ids = vec![0u32; acc as usize];
        let mut fill = start.clone();
        for (i, node) in self.nodes.iter().enumerate().skip(1) {
            let p = node.parent as usize;
            child_ids[fill[p] as usize] = i as u32;
            fill[p] += 1;
        }
        for i in 0..n {
            let range = &mut child_ids[start[i] as usize..(start[i] + count[i]) as usize];
            if range.len() > 1 {
                let (names, nodes) = (&self.names, &self.nodes);
                range.sort_by(|&a, &b| {
                    let an = nodes[a as usize].name;
                    let bn = nodes[b as usize].name;
                    names[an.off as usize..an.off as usize + an.len as usize]
                        .cmp(&names[bn.off as usize..bn.off as usize + bn.len as usize])
                });
            }
            self.nodes[i].children = (start[i], count[i]);
        }
        self.child_ids = child_ids;
    }

    /// Whether directory `node` still holds exactly what is recorded: the
    /// same identity (and every ancestor's, opened by descriptor from the
    /// root), the same protected entries, the same subdirectories with the
    /// same identities. A directory recorded unreadable must still be
    /// unreadable. Any difference or doubt is `false`.
    pub(crate) fn unchanged(&self, node: u32) -> bool {
        self.check_unchanged(node).unwrap_or(false)
    }

    fn check_unchanged(&self, node: u32) -> Option<bool> {
        let mut chain = Vec::new();
        let mut at = node;
        while at != u32::MAX {
            chain.push(at);
            at = self.nodes.get(at as usize)?.parent;
        }
        chain.reverse();
        let mut fd: Option<OwnedFd> = None;
        for (i, &id) in chain.iter().enumerate() {
            let n = &self.nodes[id as usize];
            let name = if id == 0 {
                CString::new(self.root.as_os_str().as_bytes()).ok()?
            } else {
                CString::new(self.name(n.name)).ok()?
            };
            let dir = fd.as_ref().map(|f| f.as_fd());
            if i + 1 == chain.len() {
                let st = sys::lstatat(dir, &name).ok()?;
                if !st.is_dir() || (st.dev, st.ino) != (n.dev, n.ino) {
                    return Some(false);
                }
                match sys::openat(dir, &name, sys::DIR_READ) {
                    Ok(next) => {
                        if n.flags & UNREADABLE != 0 {
                            return Some(false);
                        }
                        fd = Some(next);
                    }
                    Err(e) if n.flags & UNREADABLE != 0 => {
                        return Some(matches!(e.raw_os_error(), Some(libc::EACCES | libc::EPERM)));
                    }
                    Err(_) => return Some(false),
                }
            } else {
                let next = sys::openat(dir, &name, sys::DIR_PATH).ok()?;
                let st = sys::fstat(next.as_fd()).ok()?;
                if !st.is_dir() || (st.dev, st.ino) != (n.dev, n.ino) {
                    return Some(false);
                }
                fd = Some(next);
            }
        }
        let fd = fd?;
        let st = sys::fstat(fd.as_fd()).ok()?;
        if (st.dev, st.ino) != (self.nodes[node as usize].dev, self.nodes[node as usize].ino) {
            return Some(false);
        }
        let mut specials: Vec<(Vec<u8>, u8)> = Vec::new();
        let mut dirs: Vec<CString> = Vec::new();
        let dir_path = (!self.skip.is_empty()).then(|| self.path_of(node));
        for entry in sys::read_entries(fd.as_fd()).ok()? {
            let kind = match entry.kind {
                Some(kind) => kind,
                None => sys::lstatat(Some(fd.as_fd()), &entry.name).ok()?.kind(),
            };
            let bytes = entry.name.to_bytes();
            if is_protected_name(OsStr::from_bytes(bytes)) {
                specials.push((bytes.to_vec(), kind as u8));
            } else if kind == EntryKind::Dir {
                if let Some(p) = &dir_path {
                    if self.skip.contains(&p.join(OsStr::from_bytes(bytes))) {
                        continue;
                    }
                }
                dirs.push(entry.name);
            }
        }
        let n = &self.nodes[node as usize];
        let mut recorded: Vec<(Vec<u8>, u8)> = self
            .node_specials(n)
            .iter()
            .map(|s| (self.name(s.name).to_vec(), s.kind as u8))
            .collect();
        specials.sort();
        recorded.sort();
        if specials != recorded {
            return Some(false);
        }
        dirs.sort();
        let kids = self.children(n);
        if dirs.len() != kids.len() {
            return Some(false);
        }
        for (d, &k) in dirs.iter().zip(kids) {
            let kid = &self.nodes[k as usize];
            if d.to_bytes() != self.name(kid.name) {
                return Some(false);
            }
            let st = sys::lstatat(Some(fd.as_fd()), d).ok()?;
            if !st.is_dir() || (st.dev, st.ino) != (kid.dev, kid.ino) {
                return Some(false);
            }
        }
        Some(true)
    }

    /// Whether `other` records the same directories (identity, name,
    /// parent, readability) with the same protected entries, in the same
    /// order: only `ctime`s and the "too recent" marks may differ.
    pub(crate) fn same_content(&self, other: &Tree) -> bool {
        self.nodes.len() == other.nodes.len()
            && self.nodes.iter().zip(&other.nodes).all(|(a, b)| {
                a.parent == b.parent
                    && (a.dev, a.ino) == (b.dev, b.ino)
                    && a.flags & !RACY == b.flags & !RACY
                    && self.name(a.name) == other.name(b.name)
                    && a.specials.1 == b.specials.1
                    && self
                        .node_specials(a)
                        .iter()
                        .zip(other.node_specials(b))
                        .all(|(x, y)| x.kind == y.kind && self.name(x.name) == other.name(y.name))
            })
    }

    /// What discovery finds in this tree: the protected entries recorded
    /// are evaluated again now (a `.git` file's pointer, a `commondir`, a
    /// link's target can change without any directory changing).
    pub(crate) fn discovery(&self) -> Discovery {
        let mut builder = DiscoveryBuilder::new(&self.root);
        for (i, node) in self.nodes.iter().enumerate() {
            if node.flags & UNREADABLE != 0 {
                builder.unreadable(self.path_of(i as u32));
            }
            if node.specials.1 > 0 {
                let dir = self.path_of(i as u32);
                for s in self.node_specials(node) {
                    builder.protected_entry(&dir, OsStr::from_bytes(self.name(s.name)), s.kind);
                }
            }
        }
        builder.finish()
    }
}

/// When a recorded directory is trusted without reading it again.
pub(crate) enum Trust<'a> {
    /// Its identity and `ctime` are unchanged (the index, one-shot runs);
    /// a `ctime` at or after `racy_from` is too recent to tell a later
    /// change by, and is read again next time.
    Stat { racy_from: (i64, u32) },
    /// No event was seen for it (a session's watch). New directories are
    /// watched before they are read.
    Events {
        dirty: &'a HashSet<(u64, u64)>,
        inotify: BorrowedFd<'a>,
        wds: &'a mut HashMap<i32, (u64, u64)>,
    },
}

/// Why a walk gave up.
#[derive(Debug)]
pub(crate) enum WalkError {
    /// Something did not add up (a directory gone from an unchanged parent,
    /// out of descriptors): the caller walks everything the plain way.
    Doubt(String),
    /// inotify's watch limit was reached.
    WatchLimit,
}

/// What a walk did, for tests and benchmarks.
#[derive(Debug, Default, Clone, Copy, PartialEq, Eq)]
pub struct WalkStats {
    /// Directories in the tree.
    pub dirs: usize,
    /// Directories read (getdents).
    pub read: usize,
}

/// A directory descriptor opened only when a subdirectory needs it.
struct At<'p> {
    parent: Option<&'p At<'p>>,
    name: &'p [u8],
    expect: (u64, u64),
    fd: OnceCell<Option<OwnedFd>>,
}

impl At<'_> {
    fn fd(&self) -> Result<BorrowedFd<'_>, WalkError> {
        let fd = self.fd.get_or_init(|| {
            let dir = match self.parent {
                Some(p) => Some(p.fd().ok()?),
                None => None,
            };
            let name = CString::new(self.name).ok()?;
            let fd = sys::openat(dir, &name, sys::DIR_PATH).ok()?;
            let st = sys::fstat(fd.as_fd()).ok()?;
            (st.is_dir() && (st.dev, st.ino) == self.expect).then_some(fd)
        });
        fd.as_ref().map(|f| f.as_fd()).ok_or_else(|| {
            WalkError::Doubt(format!(
                "directory {} is no longer the one recorded",
                String::from_utf8_lossy(self.name)
            ))
        })
    }
}

/// Brings a tree up to date.
pub(crate) struct Walker<'a> {
    old: Option<&'a Tree>,
    new: Tree,
    trust: Trust<'a>,
    started: (i64, u32),
    fs: Vec<(u64, bool)>,
    stats: WalkStats,
}

impl<'a> Walker<'a> {
    /// Walks `root` (canonical), using `old` where `trust` allows.
    pub(crate) fn walk(
        root: &Path,
        skip: &[PathBuf],
        old: Option<&'a Tree>,
        trust: Trust<'a>,
    ) -> Result<(Tree, WalkStats), WalkError> {
        let started = match &trust {
            Trust::Stat { racy_from } => *racy_from,
            Trust::Events { .. } => sys::now(),
        };
        let mut walker = Walker {
            old,
            new: Tree {
                root: root.to_path_buf(),
                skip: skip.to_vec(),
                ..Tree::default()
            },
            trust,
            started,
            fs: Vec::new(),
            stats: WalkStats::default(),
        };
        let old_root = old.filter(|o| !o.nodes.is_empty()).map(|_| 0u32);
        walker.visit(None, root.as_os_str().as_bytes(), old_root, u32::MAX, false)?;
        walker.new.link_children();
        walker.stats.dirs = walker.new.nodes.len();
        Ok((walker.new, walker.stats))
    }

    fn always_read(&self) -> u8 {
        match self.trust {
            Trust::Stat { .. } => RACY | UNREADABLE | UNTRUSTED_FS,
            Trust::Events { .. } => UNREADABLE | UNTRUSTED_FS | UNWATCHED,
        }
    }

    /// Adds `node` (from the old tree) to the new one, unchanged.
    fn copy(&mut self, old: &Tree, node: &Node, parent: u32) -> u32 {
        let name = self.new.add_name(old.name(node.name));
        let first = self.new.specials.len() as u32;
        for s in old.node_specials(node) {
            let name = self.new.add_name(old.name(s.name));
            self.new.specials.push(Special { name, kind: s.kind });
        }
        self.new.nodes.push(Node {
            parent,
            name,
            specials: (first, node.specials.1),
            children: (0, 0),
            ..*node
        });
        (self.new.nodes.len() - 1) as u32
    }

    fn visit(
        &mut self,
        at: Option<&At<'_>>,
        name: &[u8],
        old: Option<u32>,
        parent: u32,
        parent_trusted: bool,
    ) -> Result<Option<u32>, WalkError> {
        let always = self.always_read();
        let cname =
            || CString::new(name).map_err(|_| WalkError::Doubt("a name holds a NUL".into()));
        let recorded = match (self.old, old) {
            (Some(tree), Some(i)) => Some((tree, tree.nodes[i as usize])),
            _ => None,
        }
        .filter(|(_, n)| n.flags & always == 0);
        if let Some((tree, node)) = recorded {
            match &self.trust {
                Trust::Stat { .. } if node.children.1 == 0 => {
                    let dir = at.map(|a| a.fd()).transpose()?;
                    if matches!(sys::lstatat(dir, &cname()?), Ok(st) if node.same_as(&st)) {
                        return Ok(Some(self.copy(tree, &node, parent)));
                    }
                }
                Trust::Stat { .. } => {
                    let dir = at.map(|a| a.fd()).transpose()?;
                    if let Ok(fd) = sys::openat(dir, &cname()?, sys::DIR_PATH) {
                        if matches!(sys::fstat(fd.as_fd()), Ok(st) if node.same_as(&st)) {
                            let here = At {
                                parent: at,
                                name,
                                expect: (node.dev, node.ino),
                                fd: OnceCell::from(Some(fd)),
                            };
                            return self.copy_subtree(tree, &node, parent, &here).map(Some);
                        }
                    }
                }
                Trust::Events { dirty, .. } => {
                    // Below a directory just read, check the subdirectory is
                    // still the one recorded (one stat; a rename over it
                    // shows in its parent's events, not its own).
                    let same = parent_trusted || {
                        let dir = at.map(|a| a.fd()).transpose()?;
                        matches!(sys::lstatat(dir, &cname()?),
                            Ok(st) if st.is_dir() && (st.dev, st.ino) == (node.dev, node.ino))
                    };
                    if same && !dirty.contains(&(node.dev, node.ino)) {
                        let here = At {
                            parent: at,
                            name,
                            expect: (node.dev, node.ino),
                            fd: OnceCell::new(),
                        };
                        return self.copy_subtree(tree, &node, parent, &here).map(Some);
                    }
                }
            }
        }
        self.read(at, name, old, parent, parent_trusted)
    }

    /// A trusted directory: the same entries, its subdirectories visited.
    fn copy_subtree(
        &mut self,
        tree: &Tree,
        node: &Node,
        parent: u32,
        here: &At<'_>,
    ) -> Result<u32, WalkError> {
        let id = self.copy(tree, node, parent);
        for &kid in tree.children(node) {
            let kname = tree.name(tree.nodes[kid as usize].name);
            if self
                .visit(Some(here), kname, Some(kid), id, true)?
                .is_none()
            {
                return Err(WalkError::Doubt(
                    "a directory vanished from an unchanged parent".into(),
                ));
            }
        }
        Ok(id)
    }

    fn fs_trusted(&mut self, dev: u64, fd: BorrowedFd<'_>) -> bool {
        if let Some((_, ok)) = self.fs.iter().find(|(d, _)| *d == dev) {
            return *ok;
        }
        let ok = sys::fs_type(fd).is_ok_and(|t| TRUSTED_FS.contains(&t));
        self.fs.push((dev, ok));
        ok
    }

    fn push_node(&mut self, parent: u32, name: &[u8], st: Option<&Stat>, flags: u8) -> u32 {
        let name = if parent == u32::MAX {
            Span::default()
        } else {
            self.new.add_name(name)
        };
        let first = self.new.specials.len() as u32;
        self.new.nodes.push(Node {
            parent,
            name,
            dev: st.map_or(0, |s| s.dev),
            ino: st.map_or(0, |s| s.ino),
            ctime_s: st.map_or(0, |s| s.ctime_s),
            ctime_ns: st.map_or(0, |s| s.ctime_ns),
            flags,
            specials: (first, 0),
            children: (0, 0),
        });
        (self.new.nodes.len() - 1) as u32
    }

    /// Reads a directory (new, changed, or never trusted).
    fn read(
        &mut self,
        at: Option<&At<'_>>,
        name_bytes: &[u8],
        old: Option<u32>,
        parent: u32,
        parent_trusted: bool,
    ) -> Result<Option<u32>, WalkError> {
        self.stats.read += 1;
        let cname =
            CString::new(name_bytes).map_err(|_| WalkError::Doubt("a name holds a NUL".into()))?;
        let name = cname.as_c_str();
        let vanished = || {
            if parent_trusted {
                Err(WalkError::Doubt(
                    "a directory vanished from an unchanged parent".into(),
                ))
            } else {
                Ok(None)
            }
        };
        let dir = at.map(|a| a.fd()).transpose()?;
        let fd = match sys::openat(dir, name, sys::DIR_READ) {
            Ok(fd) => fd,
            Err(e) => {
                return match e.raw_os_error() {
                    Some(libc::ENOENT | libc::ENOTDIR | libc::ELOOP) => vanished(),
                    Some(libc::EMFILE | libc::ENFILE | libc::ENOMEM) => Err(WalkError::Doubt(
                        format!("cannot open {}: {e}", name.to_string_lossy()),
                    )),
                    _ => match sys::lstatat(dir, name) {
                        Ok(st) if st.is_dir() => Ok(Some(self.push_node(
                            parent,
                            name.to_bytes(),
                            Some(&st),
                            UNREADABLE,
                        ))),
                        Ok(_) => vanished(),
                        // Cannot even stat it: still protect the name.
                        Err(_) => Ok(Some(self.push_node(
                            parent,
                            name.to_bytes(),
                            None,
                            UNREADABLE,
                        ))),
                    },
                };
            }
        };
        let st = sys::fstat(fd.as_fd())
            .map_err(|e| WalkError::Doubt(format!("fstat {}: {e}", name.to_string_lossy())))?;
        let mut flags = 0;
        if let Trust::Events { inotify, wds, .. } = &mut self.trust {
            // Watch before reading: a change after this point is an event.
            match super::watch::add_watch(*inotify, fd.as_fd()) {
                Ok(wd) => {
                    wds.insert(wd, (st.dev, st.ino));
                }
                Err(e) if e.raw_os_error() == Some(libc::ENOSPC) => {
                    return Err(WalkError::WatchLimit)
                }
                Err(_) => flags |= UNWATCHED,
            }
        } else if (st.ctime_s, st.ctime_ns) >= self.started {
            flags |= RACY;
        }
        if !self.fs_trusted(st.dev, fd.as_fd()) {
            flags |= UNTRUSTED_FS;
        }
        let entries = match sys::read_entries(fd.as_fd()) {
            Ok(entries) => entries,
            Err(e) if matches!(e.raw_os_error(), Some(libc::ENOMEM)) => {
                return Err(WalkError::Doubt(format!("getdents: {e}")))
            }
            Err(_) => {
                flags |= UNREADABLE;
                Vec::new()
            }
        };
        let id = self.push_node(parent, name.to_bytes(), Some(&st), flags);
        let mut dirs = Vec::new();
        for entry in entries {
            let kind = match entry.kind {
                Some(kind) => kind,
                None => match sys::lstatat(Some(fd.as_fd()), &entry.name) {
                    Ok(st) => st.kind(),
                    Err(_) => continue,
                },
            };
            if is_protected_name(OsStr::from_bytes(entry.name.to_bytes())) {
                let name = self.new.add_name(entry.name.to_bytes());
                self.new.specials.push(Special { name, kind });
                self.new.nodes[id as usize].specials.1 += 1;
            } else if kind == EntryKind::Dir {
                dirs.push(entry.name);
            }
        }
        let here = At {
            parent: at,
            name: name_bytes,
            expect: (st.dev, st.ino),
            fd: OnceCell::from(Some(fd)),
        };
        let skip_any = !self.new.skip.is_empty();
        let dir_path = skip_any.then(|| self.new.path_of(id));
        for d in dirs {
            if let Some(dir_path) = &dir_path {
                let child = dir_path.join(OsStr::from_bytes(d.to_bytes()));
                if self.new.skip.contains(&child) {
                    continue;
                }
            }
            let old_kid = match (self.old, old) {
                (Some(tree), Some(o)) => tree.find_child(o, d.to_bytes()),
                _ => None,
            };
            self.visit(Some(&here), d.to_bytes(), old_kid, id, false)?;
        }
        Ok(Some(id))
    }
}
