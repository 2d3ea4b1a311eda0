//! A directory held open by descriptor, for files the host side writes:
//! once pinned, a symlink a sandboxed command plants in any component of
//! the directory's path, or under the file's name, redirects nothing.

use std::io::Write;
use std::path::Path;

/// A directory opened once; files are created in it relative to the
/// descriptor, never by path.
#[derive(Debug)]
pub struct PinnedDir {
    #[cfg(unix)]
    fd: std::os::fd::OwnedFd,
    #[cfg(not(unix))]
    path: std::path::PathBuf,
}

impl PinnedDir {
    /// Opens `dir` (the path as it resolves now) and holds it.
    pub fn open(dir: &Path) -> std::io::Result<PinnedDir> {
        #[cfg(unix)]
        {
            use std::os::unix::fs::OpenOptionsExt;
            let file = std::fs::OpenOptions::new()
                .read(true)
                .custom_flags(libc::O_DIRECTORY | libc::O_CLOEXEC)
                .open(dir)?;
            Ok(PinnedDir { fd: file.into() })
        }
        #[cfg(not(unix))]
        {
            if !dir.is_dir() {
                return Err(std::io::Error::other(format!(
                    "{} is not a directory",
                    dir.display()
                )));
            }
            Ok(PinnedDir {
                path: dir.to_path_buf(),
            })
        }
    }

    /// Writes `content` to a fresh, randomly named sibling (`O_CREAT |
    /// O_EXCL | O_NOFOLLOW`), then renames it over `name`: a crash leaves
    /// the old or the new content, a symlink at `name` is replaced, not
    /// followed. A new file gets 0666 less the umask; a replaced regular
    /// file keeps its permissions.
    pub fn replace(&self, name: &str, content: &[u8]) -> std::io::Result<()> {
        if name.is_empty() || name.contains('/') || name == "." || name == ".." {
            return Err(std::io::Error::new(
                std::io::ErrorKind::InvalidInput,
                format!("{name:?} is not a file name"),
            ));
        }
        let tmp = format!(".{name}.{}.cordon-tmp", crate::ids::random_hex(8)?);
        #[cfg(unix)]
        {
            use std::os::fd::{AsRawFd, FromRawFd};
            let dir = self.fd.as_raw_fd();
            let existing = self
                .stat(name)
                .filter(|st| st.st_mode & libc::S_IFMT == libc::S_IFREG);
            let c_tmp = cstring(&tmp)?;
            let c_name = cstring(name)?;
            let mode: libc::c_uint = if existing.is_some() { 0o600 } else { 0o666 };
            // SAFETY: a valid directory descriptor and C string.
            let fd = unsafe {
                libc::openat(
                    dir,
                    c_tmp.as_ptr(),
                    libc::O_WRONLY
                        | libc::O_CREAT
                        | libc::O_EXCL
                        | libc::O_NOFOLLOW
                        | libc::O_CLOEXEC,
                    mode,
                )
            };
            if fd < 0 {
                return Err(std::io::Error::last_os_error());
            }
            // SAFETY: fd was just opened and is ours.
            let mut file = unsafe { std::fs::File::from_raw_fd(fd) };
            let written = (|| {
                file.write_all(content)?;
                if let Some(st) = existing {
                    // SAFETY: fchmod on our own descriptor.
                    if unsafe { libc::fchmod(file.as_raw_fd(), st.st_mode & 0o7777) } != 0 {
                        return Err(std::io::Error::last_os_error());
                    }
                }
                drop(file);
                // SAFETY: names relative to the same valid directory descriptor.
                if unsafe { libc::renameat(dir, c_tmp.as_ptr(), dir, c_name.as_ptr()) } != 0 {
                    return Err(std::io::Error::last_os_error());
                }
                Ok(())
            })();
            if written.is_err() {
                // SAFETY: as above.
                unsafe { libc::unlinkat(dir, c_tmp.as_ptr(), 0) };
            }
            written
        }
        #[cfg(not(unix))]
        {
            let tmp = self.path.join(tmp);
            let mut file = std::fs::OpenOptions::new()
                .write(true)
                .create_new(true)
                .open(&tmp)?;
            let written = file
                .write_all(content)
                .and_then(|()| std::fs::rename(&tmp, self.path.join(name)));
            if written.is_err() {
                let _ = std::fs::remove_file(&tmp);
            }
            written
        }
    }

    #[cfg(unix)]
    fn stat(&self, name: &str) -> Option<libc::stat> {
        use std::os::fd::AsRawFd;
        let c_name = cstring(name).ok()?;
        // SAFETY: zeroed plain data for fstatat to fill.
        let mut st: libc::stat = unsafe { std::mem::zeroed() };
        // SAFETY: valid descriptor, C string and out-pointer.
        let r = unsafe {
            libc::fstatat(
                self.fd.as_raw_fd(),
                c_name.as_ptr(),
                &mut st,
                libc::AT_SYMLINK_NOFOLLOW,
            )
        };
        (r == 0).then_some(st)
    }
}

#[cfg(unix)]
fn cstring(s: &str) -> std::io::Result<std::ffi::CString> {
    std::ffi::CString::new(s).map_err(|_| {
        std::io::Error::new(
            std::io::ErrorKind::InvalidInput,
            "a NUL byte in a file name",
        )
    })
}

/// Writes `content` to `path` through [`PinnedDir::replace`] on its parent.
pub fn write_replacing(path: &Path, content: &[u8]) -> std::io::Result<()> {
    let name = path.file_name().and_then(|n| n.to_str()).ok_or_else(|| {
        std::io::Error::new(
            std::io::ErrorKind::InvalidInput,
            format!("{} does not name a file", path.display()),
        )
    })?;
    let parent = match path.parent() {
        Some(p) if !p.as_os_str().is_empty() => p,
        _ => Path::new("."),
    };
    PinnedDir::open(parent)?.replace(name, content)
}

/// Symlink swaps are a Unix attack; the tests need Unix to make them.
#[cfg(all(test, unix))]
mod tests {
    use super::*;

    /// The directory stays the one pinned: swapping its path for a symlink
    /// afterwards (as a command could) does not move the write. Control: a
    /// write by path follows the swapped link.
    #[test]
    fn a_pinned_directory_ignores_a_later_swap_and_a_planted_link() {
        let top = tempfile::tempdir().unwrap();
        let out = top.path().join("out");
        let elsewhere = top.path().join("elsewhere");
        std::fs::create_dir(&out).unwrap();
        std::fs::create_dir(&elsewhere).unwrap();
        let victim = elsewhere.join("victim");
        std::fs::write(&victim, "precious").unwrap();
        let pinned = PinnedDir::open(&out).unwrap();
        std::fs::rename(&out, top.path().join("moved")).unwrap();
        std::os::unix::fs::symlink(&elsewhere, &out).unwrap();
        pinned.replace("answer", b"one").unwrap();
        assert_eq!(
            std::fs::read_to_string(top.path().join("moved/answer")).unwrap(),
            "one"
        );
        assert!(!elsewhere.join("answer").exists());
        // A link under the file's own name is replaced, not followed.
        std::os::unix::fs::symlink(&victim, top.path().join("moved/link")).unwrap();
        pinned.replace("link", b"two").unwrap();
        assert_eq!(std::fs::read_to_string(&victim).unwrap(), "precious");
        // Control: by path, the swapped directory leads elsewhere.
        std::fs::write(out.join("answer"), "by path").unwrap();
        assert_eq!(
            std::fs::read_to_string(elsewhere.join("answer")).unwrap(),
            "by path"
        );
        assert!(pinned.replace("../x", b"").is_err());
    }
}
