//! The JSONL audit log: one line per decision, flushed as written.

use serde::Serialize;
use std::fs::File;
use std::io::{BufWriter, Write};
use std::path::Path;
use std::sync::{Arc, Mutex};
use std::time::{SystemTime, UNIX_EPOCH};

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

/// A shared, line-flushed JSONL writer.
#[derive(Clone)]
pub struct AuditLog {
    out: Arc<Mutex<BufWriter<File>>>,
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
            out: Arc::new(Mutex::new(BufWriter::new(file))),
        })
    }

    /// Writes one record as a line and flushes it.
    pub fn write(&self, record: &AuditRecord) {
        if let (Ok(line), Ok(mut out)) = (serde_json::to_string(record), self.out.lock()) {
            let _ = writeln!(out, "{line}");
            let _ = out.flush();
        }
    }
}
