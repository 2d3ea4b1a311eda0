//! The on-disk index: one file per writable root under
//! `$CORDON_HOME/discovery`, written atomically (temporary file, then
//! rename) with mode 0600.
//!
//! Format (little-endian): magic `CRDNIDX\0`, version, the root path and
//! its device and inode, the nested roots not descended, the node count,
//! the nodes in breadth-first order (each node's subdirectories together,
//! sorted by name), then an FNV-1a 64 checksum of everything before it.
//! Each node: parent index, name, device, inode, `ctime` (seconds and
//! nanoseconds), flags, and its `.git`/`.cordon` entries with their kinds.
//!
//! A file that is not a regular file owned by the user, is writable by
//! group or others, fails to decode, carries another version, root or
//! set of nested roots, or whose checksum does not match is ignored (and
//! replaced after the walk): never trusted.

use super::sys;
use super::tree::{Node, Span, Special, Tree};
use cordon_policy::EntryKind;
use std::ffi::CString;
use std::io::{Read, Write};
use std::os::fd::{AsFd, OwnedFd};
use std::os::unix::ffi::OsStrExt;
use std::path::{Path, PathBuf};

const MAGIC: &[u8; 8] = b"CRDNIDX\0";
/// Bumped whenever the format or what a record means changes.
pub(crate) const VERSION: u32 = 1;
/// Larger files are not read (about 40 million directories).
const MAX_SIZE: u64 = 2 << 30;

/// Why an index was not used.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Ignored {
    /// There was none.
    Missing,
    /// It could not be opened or read.
    Unreadable(String),
    /// Not a regular file, owned by another user, or writable by others.
    Untrusted(String),
    /// It does not decode (truncated, corrupt, bad checksum).
    Corrupt(String),
    /// Another format version.
    Version(u32),
    /// It was written for another root, another root object, or another
    /// set of nested roots.
    OtherRoot,
}

impl std::fmt::Display for Ignored {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            Ignored::Missing => f.write_str("no index yet"),
            Ignored::Unreadable(e) => write!(f, "unreadable: {e}"),
            Ignored::Untrusted(e) => write!(f, "not trusted: {e}"),
            Ignored::Corrupt(e) => write!(f, "corrupt: {e}"),
            Ignored::Version(v) => write!(f, "format version {v}, not {VERSION}"),
            Ignored::OtherRoot => f.write_str("written for another root"),
        }
    }
}

/// The index file's name for `root`.
pub(crate) fn file_name(root: &Path) -> String {
    format!("{:016x}.idx", fnv1a(root.as_os_str().as_bytes()))
}

fn fnv1a(bytes: &[u8]) -> u64 {
    let mut h: u64 = 0xcbf2_9ce4_8422_2325;
    for &b in bytes {
        h ^= b as u64;
        h = h.wrapping_mul(0x0000_0100_0000_01b3);
    }
    h
}

/// Opens `$CORDON_HOME/discovery`, creating it (0700) when `create`, and
/// checks it is a directory of the user's, not a link, not writable by
/// group or others.
pub(crate) fn open_dir(home: &Path, create: bool) -> Result<OwnedFd, String> {
    let chome = CString::new(home.as_os_str().as_bytes()).map_err(|e| e.to_string())?;
    let home_fd =
        sys::openat(None, &chome, sys::DIR_PATH).map_err(|e| format!("{}: {e}", home.display()))?;
    let name = c"discovery";
    if create {
        match sys::mkdirat(Some(home_fd.as_fd()), name, 0o700) {
            Ok(()) => {}
            Err(e) if e.raw_os_error() == Some(libc::EEXIST) => {}
            Err(e) => return Err(format!("cannot create {}/discovery: {e}", home.display())),
        }
    }
    let fd = sys::openat(Some(home_fd.as_fd()), name, sys::DIR_PATH)
        .map_err(|e| format!("{}/discovery: {e}", home.display()))?;
    let st = sys::fstat(fd.as_fd()).map_err(|e| e.to_string())?;
    if st.uid != sys::euid() {
        return Err(format!(
            "{}/discovery is owned by uid {}, not {}",
            home.display(),
            st.uid,
            sys::euid()
        ));
    }
    if st.mode & 0o022 != 0 {
        return Err(format!(
            "{}/discovery is writable by group or others (mode {:o})",
            home.display(),
            st.mode & 0o7777
        ));
    }
    Ok(fd)
}

/// Loads the index for `root` (whose identity is `root_id`) with nested
/// roots `skip` from the directory `dir`.
pub(crate) fn load(
    dir: &OwnedFd,
    root: &Path,
    root_id: (u64, u64),
    skip: &[PathBuf],
) -> Result<Tree, Ignored> {
    let name = CString::new(file_name(root)).map_err(|e| Ignored::Unreadable(e.to_string()))?;
    let fd = match sys::openat(
        Some(dir.as_fd()),
        &name,
        libc::O_RDONLY | libc::O_NOFOLLOW | libc::O_NONBLOCK | libc::O_NOCTTY,
    ) {
        Ok(fd) => fd,
        Err(e) if e.raw_os_error() == Some(libc::ENOENT) => return Err(Ignored::Missing),
        Err(e) => return Err(Ignored::Unreadable(e.to_string())),
    };
    let st = sys::fstat(fd.as_fd()).map_err(|e| Ignored::Unreadable(e.to_string()))?;
    if !st.is_file() {
        return Err(Ignored::Untrusted("not a regular file".into()));
    }
    if st.uid != sys::euid() {
        return Err(Ignored::Untrusted(format!(
            "owned by uid {}, not {}",
            st.uid,
            sys::euid()
        )));
    }
    if st.mode & 0o022 != 0 {
        return Err(Ignored::Untrusted(format!(
            "writable by group or others (mode {:o})",
            st.mode & 0o7777
        )));
    }
    if st.size > MAX_SIZE {
        return Err(Ignored::Corrupt(format!("{} bytes", st.size)));
    }
    let mut bytes = Vec::with_capacity(st.size as usize);
    std::fs::File::from(fd)
        .take(MAX_SIZE)
        .read_to_end(&mut bytes)
        .map_err(|e| Ignored::Unreadable(e.to_string()))?;
    let tree = decode(&bytes)?;
    let node = tree.nodes.first().ok_or(Ignored::OtherRoot)?;
    if tree.root != root || tree.skip != skip || (node.dev, node.ino) != root_id {
        return Err(Ignored::OtherRoot);
    }
    Ok(tree)
}

/// Writes `tree` as the index of its root, atomically.
pub(crate) fn store(dir: &OwnedFd, tree: &Tree) -> std::io::Result<()> {
    let bytes = encode(tree);
    let name = CString::new(file_name(&tree.root))?;
    let mut nonce = [0u8; 8];
    let (s, ns) = sys::now();
    nonce[..4].copy_from_slice(&ns.to_le_bytes());
    nonce[4..].copy_from_slice(&(std::process::id() ^ s as u32).to_le_bytes());
    let tmp = CString::new(format!(
        "{}.tmp.{:016x}",
        file_name(&tree.root),
        u64::from_le_bytes(nonce)
    ))?;
    let mut file = sys::create_private(dir.as_fd(), &tmp)?;
    let written = file.write_all(&bytes);
    drop(file);
    if let Err(e) = written.and_then(|()| sys::renameat(dir.as_fd(), &tmp, &name)) {
        let _ = sys::unlinkat(dir.as_fd(), &tmp);
        return Err(e);
    }
    Ok(())
}

fn put_bytes(out: &mut Vec<u8>, bytes: &[u8]) {
    out.extend_from_slice(&(bytes.len() as u32).to_le_bytes());
    out.extend_from_slice(bytes);
}

fn kind_byte(kind: EntryKind) -> u8 {
    match kind {
        EntryKind::Dir => 0,
        EntryKind::File => 1,
        EntryKind::Symlink => 2,
        EntryKind::Other => 3,
    }
}

/// The file's bytes for `tree` (whose children are linked).
pub(crate) fn encode(tree: &Tree) -> Vec<u8> {
    let mut out = Vec::with_capacity(64 + tree.nodes.len() * 48 + tree.names.len());
    out.extend_from_slice(MAGIC);
    out.extend_from_slice(&VERSION.to_le_bytes());
    put_bytes(&mut out, tree.root.as_os_str().as_bytes());
    out.extend_from_slice(&(tree.skip.len() as u32).to_le_bytes());
    for s in &tree.skip {
        put_bytes(&mut out, s.as_os_str().as_bytes());
    }
    out.extend_from_slice(&(tree.nodes.len() as u32).to_le_bytes());
    // Breadth-first: each node's subdirectories follow one another, in
    // name order, so the reader finds them by range and binary search.
    let mut order: Vec<u32> = Vec::with_capacity(tree.nodes.len());
    let mut new_index = vec![0u32; tree.nodes.len()];
    if !tree.nodes.is_empty() {
        order.push(0);
    }
    let mut i = 0;
    while i < order.len() {
        let id = order[i];
        new_index[id as usize] = i as u32;
        order.extend_from_slice(tree.children(&tree.nodes[id as usize]));
        i += 1;
    }
    for &id in &order {
        let node = &tree.nodes[id as usize];
        let parent = if node.parent == u32::MAX {
            u32::MAX
        } else {
            new_index[node.parent as usize]
        };
        out.extend_from_slice(&parent.to_le_bytes());
        let name = tree.name(node.name);
        out.extend_from_slice(&(name.len() as u16).to_le_bytes());
        out.extend_from_slice(name);
        out.extend_from_slice(&node.dev.to_le_bytes());
        out.extend_from_slice(&node.ino.to_le_bytes());
        out.extend_from_slice(&node.ctime_s.to_le_bytes());
        out.extend_from_slice(&node.ctime_ns.to_le_bytes());
        out.push(node.flags);
        out.extend_from_slice(&(node.specials.1 as u16).to_le_bytes());
        for s in
            &tree.specials[node.specials.0 as usize..(node.specials.0 + node.specials.1) as usize]
        {
            let name = tree.name(s.name);
            out.extend_from_slice(&(name.len() as u16).to_le_bytes());
            out.extend_from_slice(name);
            out.push(kind_byte(s.kind));
        }
    }
    let sum = fnv1a(&out);
    out.extend_from_slice(&sum.to_le_bytes());
    out
}

struct Reader<'a> {
    bytes: &'a [u8],
    at: usize,
}

impl<'a> Reader<'a> {
    fn take(&mut self, n: usize) -> Result<&'a [u8], Ignored> {
        let end = self
            .at
            .checked_add(n)
            .filter(|&e| e <= self.bytes.len())
            .ok_or_else(|| Ignored::Corrupt("truncated".into()))?;
        let out = &self.bytes[self.at..end];
        self.at = end;
        Ok(out)
    }
    fn u8(&mut self) -> Result<u8, Ignored> {
        Ok(self.take(1)?[0])
    }
    fn u16(&mut self) -> Result<u16, Ignored> {
        let b = self.take(2)?;
        Ok(u16::from_le_bytes([b[0], b[1]]))
    }
    fn u32(&mut self) -> Result<u32, Ignored> {
        let mut a = [0u8; 4];
        a.copy_from_slice(self.take(4)?);
        Ok(u32::from_le_bytes(a))
    }
    fn u64(&mut self) -> Result<u64, Ignored> {
        let mut a = [0u8; 8];
        a.copy_from_slice(self.take(8)?);
        Ok(u64::from_le_bytes(a))
    }
    fn path(&mut self) -> Result<PathBuf, Ignored> {
        let n = self.u32()? as usize;
        let b = self.take(n)?;
        Ok(PathBuf::from(std::ffi::OsStr::from_bytes(b)))
    }
}

/// A name that is one path component: not empty, not `.`/`..`, no `/` or NUL.
fn is_component(name: &[u8]) -> bool {
    !name.is_empty() && name != b"." && name != b".." && !name.contains(&b'/') && !name.contains(&0)
}

fn corrupt(why: &str) -> Ignored {
    Ignored::Corrupt(why.into())
}

/// Decodes an index file, checking every length, link and name.
pub(crate) fn decode(bytes: &[u8]) -> Result<Tree, Ignored> {
    if bytes.len() < MAGIC.len() + 4 + 8 || &bytes[..MAGIC.len()] != MAGIC {
        return Err(corrupt("not an index file"));
    }
    let (body, sum) = bytes.split_at(bytes.len() - 8);
    let mut r = Reader {
        bytes: body,
        at: MAGIC.len(),
    };
    let version = r.u32()?;
    if version != VERSION {
        return Err(Ignored::Version(version));
    }
    let mut want = [0u8; 8];
    want.copy_from_slice(sum);
    if fnv1a(body) != u64::from_le_bytes(want) {
        return Err(corrupt("checksum mismatch"));
    }
    let root = r.path()?;
    if !root.is_absolute() {
        return Err(corrupt("relative root"));
    }
    let nskip = r.u32()? as usize;
    let mut skip = Vec::new();
    for _ in 0..nskip.min(body.len()) {
        skip.push(r.path()?);
    }
    let count = r.u32()? as usize;
    if count == 0 || count > body.len() / 32 {
        return Err(corrupt("node count"));
    }
    let mut tree = Tree {
        root,
        skip,
        ..Tree::default()
    };
    tree.nodes.reserve(count);
    for i in 0..count {
        let parent = r.u32()?;
        let name_len = r.u16()? as usize;
        let name = r.take(name_len)?;
        if i == 0 {
            if parent != u32::MAX || !name.is_empty() {
                return Err(corrupt("first node is not the root"));
            }
        } else {
            let prev = tree.nodes[i - 1].parent;
            if parent as usize >= i || (i > 1 && parent < prev) || !is_component(name) {
                return Err(corrupt("node order or name"));
            }
            if i > 1 && parent == prev {
                let prev_name = tree.name(tree.nodes[i - 1].name);
                if prev_name >= name {
                    return Err(corrupt("subdirectories out of order"));
                }
            }
        }
        let name = tree_name(&mut tree, name, i == 0);
        let dev = r.u64()?;
        let ino = r.u64()?;
        let ctime_s = r.u64()? as i64;
        let ctime_ns = r.u32()?;
        let flags = r.u8()?;
        let nspecial = r.u16()? as u32;
        let first = tree.specials.len() as u32;
        for _ in 0..nspecial {
            let n = r.u16()? as usize;
            let sname = r.take(n)?;
            if !cordon_policy::is_protected_name(std::ffi::OsStr::from_bytes(sname)) {
                return Err(corrupt("protected entry name"));
            }
            let kind = match r.u8()? {
                0 => EntryKind::Dir,
                1 => EntryKind::File,
                2 => EntryKind::Symlink,
                3 => EntryKind::Other,
                _ => return Err(corrupt("entry kind")),
            };
            let span = tree_name(&mut tree, sname, false);
            tree.specials.push(Special { name: span, kind });
        }
        tree.nodes.push(Node {
            parent,
            name,
            dev,
            ino,
            ctime_s,
            ctime_ns,
            flags,
            specials: (first, nspecial),
            children: (0, 0),
        });
    }
    if r.at != body.len() {
        return Err(corrupt("trailing bytes"));
    }
    // Breadth-first order: node i's subdirectories are one run.
    tree.child_ids = (0..count as u32).collect();
    let mut i = 1;
    while i < count {
        let p = tree.nodes[i].parent as usize;
        let start = i;
        while i < count && tree.nodes[i].parent as usize == p {
            i += 1;
        }
        tree.nodes[p].children = (start as u32, (i - start) as u32);
    }
    Ok(tree)
}

fn tree_name(tree: &mut Tree, name: &[u8], root: bool) -> Span {
    if root {
        return Span::default();
    }
    let off = tree.names.len() as u32;
    tree.names.extend_from_slice(name);
    Span {
        off,
        len: name.len() as u16,
    }
}
