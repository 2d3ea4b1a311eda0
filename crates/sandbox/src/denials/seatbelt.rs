//! macOS `--log-denials`: sandbox violations read from
//! `log stream --style ndjson` (see [`crate::plan::macos::log_stream_argv`]).
//!
//! The kernel reports each violation as a log entry whose message reads
//! `Sandbox: NAME(PID) deny(N) OPERATION TARGET`. Entries from processes
//! outside the command's process tree (other sandboxed programs on the
//! machine) are dropped; the rest are de-duplicated by operation and target
//! and printed with [`crate::denials::summary`].
//!
//! # Limitations
//! A process that exits before its violation is read cannot be placed in
//! the tree unless it was seen earlier; its violations are dropped rather
//! than attributed to the command.

use super::Denial;
use std::collections::BTreeMap;

/// One sandbox violation from the unified log.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Violation {
    /// The violating process's ID.
    pub pid: u32,
    /// Its name as the kernel reports it.
    pub process: String,
    /// The Seatbelt operation (`file-write-create`, `network-outbound`, ...).
    pub operation: String,
    /// The path or address, possibly empty.
    pub target: String,
}

/// Parses one NDJSON line; `None` for other entries and non-JSON lines
/// (`log stream` prints a "Filtering the log data" header first).
pub fn parse_line(line: &str) -> Option<Violation> {
    let value: serde_json::Value = serde_json::from_str(line.trim()).ok()?;
    let message = value.get("eventMessage")?.as_str()?;
    parse_message(message)
}

/// Parses `Sandbox: NAME(PID) deny(N) OPERATION TARGET`.
pub fn parse_message(message: &str) -> Option<Violation> {
    let rest = &message[message.find("Sandbox: ")? + "Sandbox: ".len()..];
    let deny = rest.find(") deny(")?;
    let who = &rest[..=deny];
    let open = who.rfind('(')?;
    let process = who[..open].to_string();
    let pid: u32 = who[open + 1..who.len() - 1].parse().ok()?;
    let after = &rest[deny + ") deny(".len()..];
    let after = &after[after.find(") ")? + 2..];
    let (operation, target) = match after.split_once(' ') {
        Some((op, target)) => (op, target.trim()),
        None => (after.trim(), ""),
    };
    if operation.is_empty() {
        return None;
    }
    Some(Violation {
        pid,
        process,
        operation: operation.to_string(),
        target: target.to_string(),
    })
}

/// Collects the violations of one command's process tree.
#[derive(Debug, Clone)]
pub struct Collector {
    root: u32,
    parents: BTreeMap<u32, u32>,
    seen: BTreeMap<(String, String), (Vec<String>, usize)>,
}

impl Collector {
    /// A collector for the tree rooted at `root` (the command's PID).
    pub fn new(root: u32) -> Self {
        Collector {
            root,
            parents: BTreeMap::new(),
            seen: BTreeMap::new(),
        }
    }

    /// Records that `pid`'s parent is `ppid` (from a process-table read).
    pub fn record_parent(&mut self, pid: u32, ppid: u32) {
        if pid != ppid {
            self.parents.insert(pid, ppid);
        }
    }

    /// Whether `pid` is the root or descends from it by the recorded parents.
    pub fn in_tree(&self, pid: u32) -> bool {
        let mut cur = pid;
        // Bounded: a recorded cycle (PID reuse) cannot loop forever.
        for _ in 0..=self.parents.len() {
            if cur == self.root {
                return true;
            }
            match self.parents.get(&cur) {
                Some(&parent) => cur = parent,
                None => return false,
            }
        }
        false
    }

    /// Handles one log line. `parent_of` reads a live process's parent
    /// (walked up until the root or an unknown process); returns whether
    /// the line was a violation kept for the summary.
    pub fn observe(&mut self, line: &str, mut parent_of: impl FnMut(u32) -> Option<u32>) -> bool {
        let Some(v) = parse_line(line) else {
            return false;
        };
        let mut cur = v.pid;
        for _ in 0..64 {
            if cur == self.root || self.parents.contains_key(&cur) {
                break;
            }
            match parent_of(cur) {
                Some(parent) if parent != 0 && parent != cur => {
                    self.record_parent(cur, parent);
                    cur = parent;
                }
                _ => break,
            }
        }
        if !self.in_tree(v.pid) {
            return false;
        }
        let entry = self.seen.entry((v.operation, v.target)).or_default();
        if !entry.0.contains(&v.process) {
            entry.0.push(v.process);
        }
        entry.1 += 1;
        true
    }

    /// The kept violations, de-duplicated, for [`crate::denials::summary`]:
    /// the target is `OPERATION TARGET`, the ops are the process names.
    pub fn denials(&self) -> Vec<Denial> {
        self.seen
            .iter()
            .map(|((operation, target), (processes, count))| Denial {
                kind: kind_of(operation),
                target: if target.is_empty() {
                    operation.clone()
                } else {
                    format!("{operation} {target}")
                },
                ops: processes.join(","),
                count: *count,
            })
            .collect()
    }
}

fn kind_of(operation: &str) -> &'static str {
    if operation.starts_with("file-write") {
        "write"
    } else if operation.starts_with("file-read") {
        "read"
    } else if operation.starts_with("network") || operation.starts_with("system-socket") {
        "network"
    } else if operation.starts_with("mach") {
        "mach"
    } else if operation.starts_with("process") || operation.starts_with("signal") {
        "process"
    } else {
        "other"
    }
}

#[cfg(test)]
#[path = "seatbelt_tests.rs"]
mod tests;
