//! The few system calls discovery makes, relative to directory descriptors
//! so a path is never followed through a link a command could plant.

use cordon_policy::EntryKind;
use std::ffi::{CStr, CString};
use std::io;
use std::os::fd::{AsRawFd, BorrowedFd, FromRawFd, OwnedFd, RawFd};

/// What discovery needs of a `stat`.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) struct Stat {
    pub dev: u64,
    pub ino: u64,
    pub mode: u32,
    pub uid: u32,
    pub ctime_s: i64,
    pub ctime_ns: u32,
    pub size: u64,
}

impl Stat {
    fn from_raw(st: &libc::stat) -> Stat {
        Stat {
            dev: st.st_dev,
            ino: st.st_ino,
            mode: st.st_mode,
            uid: st.st_uid,
            ctime_s: st.st_ctime,
            ctime_ns: st.st_ctime_nsec as u32,
            size: st.st_size as u64,
        }
    }

    /// Whether this is a directory.
    pub fn is_dir(&self) -> bool {
        self.mode & libc::S_IFMT == libc::S_IFDIR
    }

    /// Whether this is a regular file.
    pub fn is_file(&self) -> bool {
        self.mode & libc::S_IFMT == libc::S_IFREG
    }

    /// The entry kind discovery records.
    pub fn kind(&self) -> EntryKind {
        match self.mode & libc::S_IFMT {
            libc::S_IFDIR => EntryKind::Dir,
            libc::S_IFREG => EntryKind::File,
            libc::S_IFLNK => EntryKind::Symlink,
            _ => EntryKind::Other,
        }
    }
}

fn check(ret: libc::c_int) -> io::Result<libc::c_int> {
    if ret < 0 {
        Err(io::Error::last_os_error())
    } else {
        Ok(ret)
    }
}

/// `openat(dir, name, flags)`; `dir` `None` is the working directory (for
/// absolute roots).
pub(crate) fn openat(dir: Option<BorrowedFd<'_>>, name: &CStr, flags: i32) -> io::Result<OwnedFd> {
    let dirfd = dir.map_or(libc::AT_FDCWD, |d| d.as_raw_fd());
    // SAFETY: a valid C string and descriptor; the result is checked.
    let fd = check(unsafe { libc::openat(dirfd, name.as_ptr(), flags | libc::O_CLOEXEC, 0) })?;
    // SAFETY: `fd` was just opened and is owned by nobody else.
    Ok(unsafe { OwnedFd::from_raw_fd(fd) })
}

/// A directory opened to be named by later calls, not read (`O_PATH`).
pub(crate) const DIR_PATH: i32 = libc::O_PATH | libc::O_DIRECTORY | libc::O_NOFOLLOW;
/// A directory opened to be read.
pub(crate) const DIR_READ: i32 =
    libc::O_RDONLY | libc::O_DIRECTORY | libc::O_NOFOLLOW | libc::O_NONBLOCK;

/// `fstat(fd)`.
pub(crate) fn fstat(fd: BorrowedFd<'_>) -> io::Result<Stat> {
    // SAFETY: a zeroed stat is a valid out-parameter.
    let mut st: libc::stat = unsafe { std::mem::zeroed() };
    // SAFETY: valid descriptor and out-pointer.
    check(unsafe { libc::fstat(fd.as_raw_fd(), &mut st) })?;
    Ok(Stat::from_raw(&st))
}

/// `fstatat(dir, name, AT_SYMLINK_NOFOLLOW)`.
pub(crate) fn lstatat(dir: Option<BorrowedFd<'_>>, name: &CStr) -> io::Result<Stat> {
    let dirfd = dir.map_or(libc::AT_FDCWD, |d| d.as_raw_fd());
    // SAFETY: a zeroed stat is a valid out-parameter.
    let mut st: libc::stat = unsafe { std::mem::zeroed() };
    // SAFETY: valid descriptor, C string and out-pointer.
    check(unsafe { libc::fstatat(dirfd, name.as_ptr(), &mut st, libc::AT_SYMLINK_NOFOLLOW) })?;
    Ok(Stat::from_raw(&st))
}

/// `stat(path)`, following links (for `/proc/PID/ns/*`).
pub(crate) fn statat_follow(path: &CStr) -> io::Result<Stat> {
    // SAFETY: a zeroed stat is a valid out-parameter.
    let mut st: libc::stat = unsafe { std::mem::zeroed() };
    // SAFETY: valid C string and out-pointer.
    check(unsafe { libc::fstatat(libc::AT_FDCWD, path.as_ptr(), &mut st, 0) })?;
    Ok(Stat::from_raw(&st))
}

/// The file-system type (`statfs.f_type`) of what `fd` is on.
pub(crate) fn fs_type(fd: BorrowedFd<'_>) -> io::Result<i64> {
    // SAFETY: a zeroed statfs is a valid out-parameter.
    let mut sf: libc::statfs = unsafe { std::mem::zeroed() };
    // SAFETY: valid descriptor and out-pointer.
    check(unsafe { libc::fstatfs(fd.as_raw_fd(), &mut sf) })?;
    Ok(sf.f_type as i64)
}

/// The wall clock now, as the kernel stamps `ctime` with.
pub(crate) fn now() -> (i64, u32) {
    // SAFETY: a zeroed timespec is a valid out-parameter.
    let mut ts: libc::timespec = unsafe { std::mem::zeroed() };
    // SAFETY: valid clock id and out-pointer.
    unsafe { libc::clock_gettime(libc::CLOCK_REALTIME, &mut ts) };
    (ts.tv_sec, ts.tv_nsec as u32)
}

/// The effective user id.
pub(crate) fn euid() -> u32 {
    // SAFETY: geteuid has no preconditions.
    unsafe { libc::geteuid() }
}

/// One entry of a directory: its name and, when the file system says, its kind.
pub(crate) struct DirEntry {
    pub name: CString,
    pub kind: Option<EntryKind>,
}

/// Reads every entry of the directory open (for reading) as `fd`, except
/// `.` and `..`.
pub(crate) fn read_entries(fd: BorrowedFd<'_>) -> io::Result<Vec<DirEntry>> {
    let mut entries = Vec::new();
    let mut buf = vec![0u8; 32 * 1024];
    loop {
        // SAFETY: a valid descriptor and a buffer of the given length.
        let n = unsafe {
            libc::syscall(
                libc::SYS_getdents64,
                fd.as_raw_fd(),
                buf.as_mut_ptr(),
                buf.len(),
            )
        };
        if n < 0 {
            return Err(io::Error::last_os_error());
        }
        if n == 0 {
            return Ok(entries);
        }
        let n = n as usize;
        let mut off = 0;
        // struct linux_dirent64 { u64 d_ino; i64 d_off; u16 d_reclen; u8 d_type; char d_name[]; }
        while off + 19 <= n {
            let reclen = u16::from_ne_bytes([buf[off + 16], buf[off + 17]]) as usize;
            if reclen == 0 || off + reclen > n {
                return Err(io::Error::from_raw_os_error(libc::EIO));
            }
            let d_type = buf[off + 18];
            let name_bytes = &buf[off + 19..off + reclen];
            let len = name_bytes
                .iter()
                .position(|&b| b == 0)
                .unwrap_or(name_bytes.len());
            let name = &name_bytes[..len];
            off += reclen;
            if name == b"." || name == b".." || name.is_empty() {
                continue;
            }
            let kind = match d_type {
                libc::DT_DIR => Some(EntryKind::Dir),
                libc::DT_REG => Some(EntryKind::File),
                libc::DT_LNK => Some(EntryKind::Symlink),
                libc::DT_UNKNOWN => None,
                _ => Some(EntryKind::Other),
            };
            let Ok(name) = CString::new(name) else {
                continue;
            };
            entries.push(DirEntry { name, kind });
        }
    }
}

/// `/proc/self/fd/N` for `fd`: names exactly the object `fd` is open on
/// (for `inotify_add_watch`, which takes only paths).
pub(crate) fn proc_fd_path(fd: RawFd) -> CString {
    // The formatted number never holds a NUL.
    CString::new(format!("/proc/self/fd/{fd}")).unwrap_or_default()
}

/// `renameat(dir, from, dir, to)`.
pub(crate) fn renameat(dir: BorrowedFd<'_>, from: &CStr, to: &CStr) -> io::Result<()> {
    // SAFETY: valid descriptor and C strings.
    check(unsafe { libc::renameat(dir.as_raw_fd(), from.as_ptr(), dir.as_raw_fd(), to.as_ptr()) })
        .map(|_| ())
}

/// `unlinkat(dir, name, 0)`.
pub(crate) fn unlinkat(dir: BorrowedFd<'_>, name: &CStr) -> io::Result<()> {
    // SAFETY: valid descriptor and C string.
    check(unsafe { libc::unlinkat(dir.as_raw_fd(), name.as_ptr(), 0) }).map(|_| ())
}

/// `mkdirat(dir, name, mode)`.
pub(crate) fn mkdirat(dir: Option<BorrowedFd<'_>>, name: &CStr, mode: u32) -> io::Result<()> {
    let dirfd = dir.map_or(libc::AT_FDCWD, |d| d.as_raw_fd());
    // SAFETY: valid descriptor and C string.
    check(unsafe { libc::mkdirat(dirfd, name.as_ptr(), mode) }).map(|_| ())
}

/// Creates `name` in `dir` exclusively, mode 0600, for writing.
pub(crate) fn create_private(dir: BorrowedFd<'_>, name: &CStr) -> io::Result<std::fs::File> {
    // SAFETY: valid descriptor and C string; the result is checked.
    let fd = check(unsafe {
        libc::openat(
            dir.as_raw_fd(),
            name.as_ptr(),
            libc::O_WRONLY | libc::O_CREAT | libc::O_EXCL | libc::O_NOFOLLOW | libc::O_CLOEXEC,
            0o600 as libc::c_uint,
        )
    })?;
    // SAFETY: `fd` was just opened and is owned by nobody else.
    Ok(unsafe { std::fs::File::from_raw_fd(fd) })
}
