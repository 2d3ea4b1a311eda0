//! Denial records from a run and the summary printed with `--log-denials`.
//!
//! The supervisor inside the sandbox observes what the command *attempted*
//! (file writes, connects, unix sockets); whether an attempt was denied is
//! decided here, against the policy, so the rules are pure and tested.
//! The kernel gives no signal when a mount or Landlock denies a write, so
//! this is a prediction from the policy, made for each observed call.

pub mod seatbelt;

use cordon_policy::{NetworkMode, SandboxPolicy};
use std::collections::BTreeMap;
use std::net::SocketAddr;
use std::path::{Path, PathBuf};

/// One attempt observed in the sandbox.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Attempt {
    /// A call that creates or changes `path` (`op` is the syscall).
    Write {
        /// The syscall.
        op: String,
        /// Absolute path.
        path: PathBuf,
    },
    /// A connect or addressed send to an IP address (denied under network
    /// none and proxy, where only the sandbox's own loopback exists).
    Connect {
        /// The syscall.
        op: String,
        /// Destination.
        addr: SocketAddr,
    },
    /// A `socket(AF_UNIX, ...)`, refused by the filter.
    UnixSocket,
    /// A change of mode, owner, times or extended attributes that init,
    /// which performs these calls, refused or the kernel refused as
    /// read-only: known, not predicted.
    Metadata {
        /// The syscall.
        op: String,
        /// The object's path as init saw it.
        path: PathBuf,
    },
}

/// A denied action, counted.
#[derive(Debug, Clone, PartialEq, Eq, PartialOrd, Ord)]
pub struct Denial {
    /// `write`, `metadata`, `network` or `unix-socket`.
    pub kind: &'static str,
    /// Path or address.
    pub target: String,
    /// Syscalls seen, comma-separated.
    pub ops: String,
    /// How many times.
    pub count: usize,
}

/// Paths the sandbox provides privately; writes there are the sandbox's own.
fn is_private(path: &Path) -> bool {
    path.starts_with("/dev") || path.starts_with("/proc")
}

/// Whether `policy` denies `attempt`.
pub fn is_denied(policy: &SandboxPolicy, attempt: &Attempt) -> bool {
    match attempt {
        Attempt::Write { path, .. } => !is_private(path) && !policy.allows_write(path),
        Attempt::Connect { addr, .. } => {
            policy.network != NetworkMode::Full && !addr.ip().is_loopback()
        }
        Attempt::UnixSocket => true,
        Attempt::Metadata { .. } => true,
    }
}

/// Decides which attempts `policy` denied and groups them.
pub fn classify(policy: &SandboxPolicy, attempts: &[Attempt]) -> Vec<Denial> {
    let mut grouped: BTreeMap<(&'static str, String), (Vec<String>, usize)> = BTreeMap::new();
    let mut add = |kind, target: String, op: &str| {
        let entry = grouped.entry((kind, target)).or_default();
        if !entry.0.iter().any(|o| o == op) {
            entry.0.push(op.to_string());
        }
        entry.1 += 1;
    };
    for attempt in attempts.iter().filter(|a| is_denied(policy, a)) {
        match attempt {
            Attempt::Write { op, path } => add("write", path.display().to_string(), op),
            Attempt::Connect { op, addr } => add("network", addr.to_string(), op),
            Attempt::UnixSocket => add("unix-socket", "socket(AF_UNIX)".into(), "socket"),
            Attempt::Metadata { op, path } => add("metadata", path.display().to_string(), op),
        }
    }
    grouped
        .into_iter()
        .map(|((kind, target), (ops, count))| Denial {
            kind,
            target,
            ops: ops.join(","),
            count,
        })
        .collect()
}

/// Most targets listed in a summary.
pub const SUMMARY_LIMIT: usize = 100;

/// The summary printed to stderr after the command ends (at most
/// [`SUMMARY_LIMIT`] targets, each line at most 512 bytes).
pub fn summary(denials: &[Denial]) -> String {
    if denials.is_empty() {
        return "cordon: no denials recorded\n".into();
    }
    let mut out = format!("cordon: {} denied target(s):\n", denials.len());
    for d in denials.iter().take(SUMMARY_LIMIT) {
        let times = if d.count > 1 {
            format!(" x{}", d.count)
        } else {
            String::new()
        };
        let mut line = format!("  {:<11} {} ({}){times}", d.kind, d.target, d.ops);
        if line.len() > 512 {
            let mut cut = 509;
            while !line.is_char_boundary(cut) {
                cut -= 1;
            }
            line.truncate(cut);
            line.push_str("...");
        }
        out.push_str(&line);
        out.push('\n');
    }
    if denials.len() > SUMMARY_LIMIT {
        out.push_str(&format!(
            "  ... and {} more\n",
            denials.len() - SUMMARY_LIMIT
        ));
    }
    out
}

/// The denials listed in a [`summary`] (what `--denial-report-fd`
/// writes), read back for front ends that report them as data; lines
/// that are not denials (the header, "and N more") are skipped.
pub fn parse_summary(text: &str) -> Vec<Denial> {
    text.lines()
        .filter_map(|line| {
            let line = line.strip_prefix("  ")?;
            let (kind, rest) = line.split_once(' ')?;
            let kind = ["write", "network", "unix-socket"]
                .into_iter()
                .find(|k| *k == kind)?;
            let rest = rest.trim_start();
            // `TARGET (OPS)` or `TARGET (OPS) xN`; the target may hold
            // spaces and parentheses, the ops never do.
            let (body, count) = match rest.rsplit_once(") x") {
                Some((b, n)) if n.parse::<usize>().is_ok() => {
                    (format!("{b})"), n.parse().unwrap_or(1))
                }
                _ => (rest.to_string(), 1),
            };
            let body = body.strip_suffix(')')?;
            let (target, ops) = body.rsplit_once(" (")?;
            Some(Denial {
                kind,
                target: target.to_string(),
                ops: ops.to_string(),
                count,
            })
        })
        .collect()
}

#[cfg(test)]
#[path = "denials_tests.rs"]
mod tests;
