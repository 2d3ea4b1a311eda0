//! The JSONL audit log: one line per decision, flushed as written, with
//! repeated identical denials coalesced (see [`coalesce`]).

use serde::Serialize;
use std::fs::File;
use std::io::{BufWriter, Write};
use std::path::Path;
use std::sync::{Arc, Mutex};
use std::time::{Instant, SystemTime, UNIX_EPOCH};

mod coalesce;

// How the file is opened safely differs by OS; the checks are documented on
// [`AuditLog::open`].
#[cfg(unix)]
mod unix;
#[cfg(unix)]
use unix::open_append;
#[cfg(windows)]
mod windows;
#[cfg(windows)]
use windows::open_append;

/// One decision.
#[derive(Debug, Clone, Serialize)]
pub struct AuditRecord {
    /// Seconds since the Unix epoch.
    pub time: f64,
    /// `http`, `connect` or `socks5`.
    pub protocol: String,
    /// Host as requested.
    pub host: String,
    /// Port.
    pub port: u16,
    /// The address connected to, when allowed.
    pub resolved: Option<String>,
    /// Addresses refused as non-public.
    #[serde(skip_serializing_if = "Vec::is_empty")]
    pub refused_addresses: Vec<String>,
    /// `allow` or `deny`.
    pub decision: String,
    /// Reason for a denial (`allowed` otherwise).
    pub reason: String,
    /// Bytes from client to upstream.
    pub bytes_up: u64,
    /// Bytes from upstream to client.
    pub bytes_down: u64,
    /// Milliseconds from request to close.
    pub duration_ms: u64,
    /// On a summary line only: how many denials identical to this one
    /// (same host, same reason) followed it within one second and were not
    /// written on lines of their own.
    #[serde(skip_serializing_if = "is_zero")]
    pub repeated: u64,
}

fn is_zero(n: &u64) -> bool {
    *n == 0
}

fn now() -> f64 {
    SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .map(|d| d.as_secs_f64())
        .unwrap_or(0.0)
}

impl AuditRecord {
    /// A refusal.
    pub(crate) fn refused(protocol: &str, host: &str, port: u16, reason: crate::Reason) -> Self {
        AuditRecord {
            time: now(),
            protocol: protocol.into(),
            host: clean_host(host),
            port,
            resolved: None,
            refused_addresses: Vec::new(),
            decision: "deny".into(),
            reason: reason.as_str().into(),
            bytes_up: 0,
            bytes_down: 0,
            duration_ms: 0,
            repeated: 0,
        }
    }

    /// An allowed connection after it closed.
    pub(crate) fn allowed(
        protocol: &str,
        host: &str,
        port: u16,
        resolved: String,
        up: u64,
        down: u64,
        ms: u64,
    ) -> Self {
        AuditRecord {
            time: now(),
            protocol: protocol.into(),
            host: clean_host(host),
            port,
            resolved: Some(resolved),
            refused_addresses: Vec::new(),
            decision: "allow".into(),
            reason: "allowed".into(),
            bytes_up: up,
            bytes_down: down,
            duration_ms: ms,
            repeated: 0,
        }
    }
}

/// A host as recorded: printable ASCII only, at most 255 bytes, so what a
/// client sends cannot smuggle control characters or grow memory.
pub(crate) fn clean_host(host: &str) -> String {
    host.chars()
        .take(255)
        .map(|c| if c.is_ascii_graphic() { c } else { '?' })
        .collect()
}

/// A shared, line-flushed JSONL writer that coalesces repeated denials.
#[derive(Clone)]
pub struct AuditLog {
    shared: Arc<Shared>,
}

struct Shared {
    state: Mutex<State>,
    /// Woken when a window gets its first repeat (a summary is due).
    summary_due: tokio::sync::Notify,
}

struct State {
    out: BufWriter<File>,
    windows: coalesce::Windows,
}

impl State {
    fn write_lines(&mut self, records: &[AuditRecord]) {
        for record in records {
            if let Ok(line) = serde_json::to_string(record) {
                let _ = writeln!(self.out, "{line}");
            }
        }
        let _ = self.out.flush();
    }
}

impl Drop for State {
    /// The last handle is gone: no count may be lost.
    fn drop(&mut self) {
        let mut out = Vec::new();
        self.windows.close_all(&mut out);
        self.write_lines(&out);
    }
}

impl AuditLog {
    /// Opens (appends to) `path`: never through a symlink, only a regular
    /// file (on Unix also: owned by us). A sandboxed command that can write
    /// the log's directory must not be able to point the next run's log at,
    /// say, `~/.bashrc`.
    ///
    /// # Limitations
    /// On Windows there is no `O_NOFOLLOW` and the owner is not checked: the
    /// path is opened without following a reparse point at its last
    /// component, and any reparse point (symlink, junction, cloud-file
    /// placeholder) is refused, as is anything but a regular file.
    pub fn open(path: &Path) -> std::io::Result<Self> {
        let file = open_append(path)?;
        Ok(AuditLog {
            shared: Arc::new(Shared {
                state: Mutex::new(State {
                    out: BufWriter::new(file),
                    windows: coalesce::Windows::default(),
                }),
                summary_due: tokio::sync::Notify::new(),
            }),
        })
    }

    /// Writes one record as a line and flushes it; a denial repeating one
    /// written less than a second ago (same host, same reason) is counted
    /// instead, for the summary line [`AuditLog::write_summaries`] writes.
    pub fn write(&self, record: &AuditRecord) {
        let mut lines = Vec::new();
        let first_repeat = match self.shared.state.lock() {
            Ok(mut state) => {
                let first_repeat = state.windows.take(record, Instant::now(), &mut lines);
                state.write_lines(&lines);
                first_repeat
            }
            Err(_) => false,
        };
        if first_repeat {
            self.shared.summary_due.notify_one();
        }
    }

    /// Writes every pending count now; for the end of a run, since a
    /// process that exits does not drop its handles.
    pub fn flush_repeats(&self) {
        if let Ok(mut state) = self.shared.state.lock() {
            let mut lines = Vec::new();
            state.windows.close_all(&mut lines);
            state.write_lines(&lines);
        }
    }

    /// Runs forever, writing each summary line as its window closes (so a
    /// flood that stops still gets its count within a second).
    pub async fn write_summaries(&self) {
        loop {
            let due = match self.shared.state.lock() {
                Ok(state) => state.windows.next_due(),
                Err(_) => return,
            };
            match due {
                Some(at) => {
                    tokio::time::sleep_until(at.into()).await;
                    if let Ok(mut state) = self.shared.state.lock() {
                        let mut lines = Vec::new();
                        state.windows.close(Instant::now().max(at), &mut lines);
                        state.write_lines(&lines);
                    }
                }
                // A permit stored by a repeat in between wakes this at once.
                None => self.shared.summary_due.notified().await,
            }
        }
    }
}
