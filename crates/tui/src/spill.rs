//! Large command outputs of finished cells, kept on disk for the
//! transcript pager (Ctrl+T) instead of in memory: a long session with
//! big outputs must not grow the UI by megabytes per command.
//!
//! The outputs go to one file with no name (`O_TMPFILE`, or created with
//! `O_EXCL`, mode 0600, and unlinked at once) in `$CORDON_HOME`, and only
//! when that directory is outside every writable root: no sandboxed
//! command can reach the file by name or redirect it with a symlink. It
//! is gone when cordon exits. Without such a place the output stays in
//! memory.

use std::fs::File;
use std::io::{Seek, SeekFrom, Write};
use std::path::{Path, PathBuf};

/// Outputs shorter than this stay in memory.
pub const MIN_SPILLED: usize = 4 * 1024;

/// Where one output lies in the spill file.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Spilled {
    offset: u64,
    len: usize,
}

/// The spill file, or why there is none.
#[derive(Debug)]
pub struct Spill {
    file: Result<File, String>,
    end: u64,
}

impl Spill {
    /// An unnamed file in `home`, when `home` (as it resolves) lies
    /// outside each of `writable_roots`; otherwise none (outputs stay in
    /// memory), with the reason.
    pub fn open(home: &Path, writable_roots: &[PathBuf]) -> Spill {
        let file = match std::fs::canonicalize(home) {
            Err(e) => Err(format!("{}: {e}", home.display())),
            Ok(real) => {
                let inside = writable_roots.iter().find(|root| {
                    let root = std::fs::canonicalize(root).unwrap_or_else(|_| root.to_path_buf());
                    real.starts_with(&root)
                });
                match inside {
                    Some(root) => Err(format!(
                        "{} is inside the writable root {}",
                        real.display(),
                        root.display()
                    )),
                    None => {
                        tempfile::tempfile_in(&real).map_err(|e| format!("{}: {e}", real.display()))
                    }
                }
            }
        };
        if let Err(why) = &file {
            log::info!("command outputs stay in memory for the transcript: {why}");
        }
        Spill { file, end: 0 }
    }

    /// A spill that keeps nothing on disk (tests, or no place for it).
    pub fn none() -> Spill {
        Spill {
            file: Err("no spill file".into()),
            end: 0,
        }
    }

    /// Writes `text` at the end of the file; `None` (keep it in memory)
    /// when it is short, or there is no file or the write failed.
    pub fn put(&mut self, text: &str) -> Option<Spilled> {
        if text.len() < MIN_SPILLED {
            return None;
        }
        let file = self.file.as_mut().ok()?;
        let written = file
            .seek(SeekFrom::Start(self.end))
            .and_then(|_| file.write_all(text.as_bytes()));
        match written {
            Ok(()) => {
                let at = Spilled {
                    offset: self.end,
                    len: text.len(),
                };
                self.end += text.len() as u64;
                Some(at)
            }
            Err(e) => {
                log::warn!("cannot keep a command's output on disk: {e}");
                None
            }
        }
    }

    /// Reads back what [`Spill::put`] wrote; `Err` says why it cannot.
    pub fn get(&self, at: Spilled) -> Result<String, String> {
        use std::io::Read;
        let mut file = self.file.as_ref().map_err(Clone::clone)?;
        let mut bytes = vec![0u8; at.len];
        file.seek(SeekFrom::Start(at.offset))
            .and_then(|_| file.read_exact(&mut bytes))
            .map_err(|e| e.to_string())?;
        String::from_utf8(bytes).map_err(|e| e.to_string())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn large_outputs_round_trip_through_an_unnamed_file() {
        let home = tempfile::tempdir().unwrap();
        let mut spill = Spill::open(home.path(), &[]);
        assert!(spill.put("short").is_none(), "short outputs stay in memory");
        let a = "a\n".repeat(5000);
        let b = "é".repeat(3000);
        let (at_a, at_b) = (spill.put(&a).unwrap(), spill.put(&b).unwrap());
        assert_eq!(spill.get(at_b).unwrap(), b);
        assert_eq!(spill.get(at_a).unwrap(), a);
        // Nothing is left under a name in the directory.
        assert_eq!(std::fs::read_dir(home.path()).unwrap().count(), 0);
    }

    #[test]
    fn no_file_inside_a_writable_root() {
        let root = tempfile::tempdir().unwrap();
        let home = root.path().join("home");
        std::fs::create_dir(&home).unwrap();
        let mut spill = Spill::open(&home, &[root.path().to_path_buf()]);
        let err = spill.file.as_ref().unwrap_err();
        assert!(err.contains("inside the writable root"), "{err}");
        assert!(spill.put(&"x".repeat(MIN_SPILLED)).is_none());
        // Control: the same home, not a root's, gets the file.
        let mut spill = Spill::open(&home, &[]);
        assert!(spill.put(&"x".repeat(MIN_SPILLED)).is_some());
    }
}
