//! Session files: `$CORDON_HOME/sessions/YYYY/MM/DD/rollout-<timestamp>-<id>.jsonl`,
//! one JSON record per line, appended and flushed line by line so a crash
//! loses at most the line being written; and `$CORDON_HOME/history.jsonl`
//! (mode 0600) with the prompts.

use serde_json::{json, Value};
use std::fs::{File, OpenOptions};
use std::io::Write;
use std::path::{Path, PathBuf};

/// Civil date (year, month, day) and time of day for a Unix time.
fn civil(secs: u64) -> (i64, u32, u32, u32, u32, u32) {
    let days = (secs / 86_400) as i64;
    let rem = secs % 86_400;
    // Howard Hinnant's days-from-civil inverse.
    let z = days + 719_468;
    let era = z.div_euclid(146_097);
    let doe = z - era * 146_097;
    let yoe = (doe - doe / 1460 + doe / 36_524 - doe / 146_096) / 365;
    let doy = doe - (365 * yoe + yoe / 4 - yoe / 100);
    let mp = (5 * doy + 2) / 153;
    let d = (doy - (153 * mp + 2) / 5 + 1) as u32;
    let m = if mp < 10 { mp + 3 } else { mp - 9 } as u32;
    let y = yoe + era * 400 + i64::from(m <= 2);
    (
        y,
        m,
        d,
        (rem / 3600) as u32,
        (rem % 3600 / 60) as u32,
        (rem % 60) as u32,
    )
}

/// The rollout file path for a session started at `secs` with `id`.
pub fn rollout_path(home: &Path, secs: u64, id: &str) -> PathBuf {
    let (y, m, d, hh, mm, ss) = civil(secs);
    home.join("sessions")
        .join(format!("{y:04}"))
        .join(format!("{m:02}"))
        .join(format!("{d:02}"))
        .join(format!(
            "rollout-{y:04}-{m:02}-{d:02}T{hh:02}-{mm:02}-{ss:02}-{id}.jsonl"
        ))
}

/// Creates `dir` and its missing parents readable by the owner only.
fn private_dirs(dir: &Path) -> std::io::Result<()> {
    let mut b = std::fs::DirBuilder::new();
    b.recursive(true);
    #[cfg(unix)]
    std::os::unix::fs::DirBuilderExt::mode(&mut b, 0o700);
    b.create(dir)
}

/// Refuses when a directory on the way from `$CORDON_HOME`'s sessions
/// directory to `path` is a symlink (the files themselves are opened with
/// `O_NOFOLLOW`): session files are never written through a link.
fn no_links_on_the_way(path: &Path) -> std::io::Result<()> {
    // sessions/YYYY/MM/DD: at most four directories, up to `sessions`.
    for dir in path.ancestors().skip(1).take(4) {
        if std::fs::symlink_metadata(dir)?.file_type().is_symlink() {
            return Err(std::io::Error::other(format!(
                "{} is a symlink; session files are never written through one",
                dir.display()
            )));
        }
        if dir.file_name().is_some_and(|n| n == "sessions") {
            break;
        }
    }
    Ok(())
}

/// Options that never follow a symlink at the file itself.
fn no_follow(options: &mut OpenOptions) -> &mut OpenOptions {
    #[cfg(unix)]
    std::os::unix::fs::OpenOptionsExt::custom_flags(options, libc::O_NOFOLLOW);
    options
}

/// An open rollout, appended one flushed line at a time.
pub struct Rollout {
    file: File,
    path: PathBuf,
}

impl Rollout {
    /// Creates the file (and its directories) and writes the session record.
    pub fn create(path: PathBuf, meta: Value) -> std::io::Result<Self> {
        if let Some(dir) = path.parent() {
            private_dirs(dir)?;
        }
        no_links_on_the_way(&path)?;
        let mut options = OpenOptions::new();
        no_follow(options.create_new(true).append(true));
        // Sessions hold prompts, command output and file contents.
        #[cfg(unix)]
        std::os::unix::fs::OpenOptionsExt::mode(&mut options, 0o600);
        let file = options.open(&path)?;
        let mut r = Rollout { file, path };
        r.append(&json!({"type": "session_meta", "payload": meta}))?;
        Ok(r)
    }

    /// Reopens an existing rollout to continue it.
    pub fn resume(path: PathBuf) -> std::io::Result<Self> {
        no_links_on_the_way(&path)?;
        let file = no_follow(OpenOptions::new().append(true)).open(&path)?;
        Ok(Rollout { file, path })
    }

    /// Appends one record as a line and flushes it to the kernel.
    pub fn append(&mut self, record: &Value) -> std::io::Result<()> {
        let mut line = serde_json::to_string(record)?;
        line.push('\n');
        self.file.write_all(line.as_bytes())?;
        self.file.flush()
    }

    /// The file's path.
    pub fn path(&self) -> &Path {
        &self.path
    }
}

/// Reads a rollout back; a torn last line (a crash mid-write) is skipped,
/// a bad line elsewhere is an error naming its line number.
pub fn read(path: &Path) -> Result<Vec<Value>, String> {
    let text = std::fs::read_to_string(path).map_err(|e| format!("{}: {e}", path.display()))?;
    let lines: Vec<&str> = text.lines().collect();
    let mut out = Vec::new();
    for (i, line) in lines.iter().enumerate() {
        match serde_json::from_str(line) {
            Ok(v) => out.push(v),
            Err(_) if i + 1 == lines.len() && !text.ends_with('\n') => {}
            Err(e) => return Err(format!("{}:{}: {e}", path.display(), i + 1)),
        }
    }
    Ok(out)
}

/// Appends a prompt to `$CORDON_HOME/history.jsonl`, created with mode 0600.
pub fn record_history(home: &Path, session_id: &str, secs: u64, text: &str) -> std::io::Result<()> {
    std::fs::create_dir_all(home)?;
    let mut options = OpenOptions::new();
    no_follow(options.create(true).append(true));
    #[cfg(unix)]
    std::os::unix::fs::OpenOptionsExt::mode(&mut options, 0o600);
    let mut f = options.open(home.join("history.jsonl"))?;
    let line = format!(
        "{}\n",
        json!({"session_id": session_id, "ts": secs, "text": text})
    );
    f.write_all(line.as_bytes())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn paths_records_and_torn_lines() {
        let tmp = tempfile::tempdir().unwrap();
        // 2026-11-25T17:38:45Z
        let p = rollout_path(tmp.path(), 1_795_628_325, "abc");
        assert!(
            p.ends_with("sessions/2026/11/25/rollout-2026-11-25T17-38-45-abc.jsonl"),
            "{}",
            p.display()
        );
        let mut r = Rollout::create(p.clone(), json!({"id": "abc"})).unwrap();
        r.append(&json!({"type": "event", "n": 1})).unwrap();
        assert!(
            Rollout::create(p.clone(), json!({})).is_err(),
            "never overwrites"
        );
        // A crash mid-line: the torn line is skipped on reading.
        std::fs::OpenOptions::new()
            .append(true)
            .open(&p)
            .unwrap()
            .write_all(b"{\"type\":\"ev")
            .unwrap();
        let records = read(&p).unwrap();
        assert_eq!(records.len(), 2);
        assert_eq!(records[0]["type"], "session_meta");
        record_history(tmp.path(), "abc", 1, "hello").unwrap();
        #[cfg(unix)]
        {
            use std::os::unix::fs::PermissionsExt;
            let mode = std::fs::metadata(tmp.path().join("history.jsonl"))
                .unwrap()
                .permissions()
                .mode();
            assert_eq!(mode & 0o777, 0o600);
        }
    }

    /// Session files are never written through a symlink, at the file or on
    /// the way from `sessions/`; the control writes where no link is.
    #[test]
    #[cfg(unix)]
    fn session_files_are_not_written_through_links() {
        let tmp = tempfile::tempdir().unwrap();
        let elsewhere = tempfile::tempdir().unwrap();
        let p = rollout_path(tmp.path(), 1_795_628_325, "abc");
        Rollout::create(p.clone(), json!({})).unwrap();
        // A linked day directory.
        let day = p.parent().unwrap();
        std::fs::remove_file(&p).unwrap();
        std::fs::remove_dir(day).unwrap();
        std::os::unix::fs::symlink(elsewhere.path(), day).unwrap();
        let e = Rollout::create(p.clone(), json!({})).err().unwrap();
        assert!(e.to_string().contains("symlink"), "{e}");
        assert!(std::fs::read_dir(elsewhere.path())
            .unwrap()
            .next()
            .is_none());
        // A linked history file.
        let victim = elsewhere.path().join("victim");
        std::fs::write(&victim, "precious").unwrap();
        std::os::unix::fs::symlink(&victim, tmp.path().join("history.jsonl")).unwrap();
        let e = record_history(tmp.path(), "abc", 1, "hello").unwrap_err();
        assert_eq!(e.raw_os_error(), Some(libc::ELOOP), "{e}");
        assert_eq!(std::fs::read_to_string(&victim).unwrap(), "precious");
    }

    #[test]
    fn civil_dates() {
        assert_eq!(civil(0), (1970, 1, 1, 0, 0, 0));
        assert_eq!(civil(951_782_400), (2000, 2, 29, 0, 0, 0));
        assert_eq!(civil(1_795_628_325), (2026, 11, 25, 17, 38, 45));
    }
}
