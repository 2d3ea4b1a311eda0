//! Repeated denials, coalesced: the first denial of a host for a reason
//! opens a one-second window and is written at once; identical denials
//! (same host, same reason) inside the window are only counted, and one
//! summary line carrying the count is written when the window closes. A
//! command looping on a refused request costs two lines a second, not one
//! line per attempt. Allowed connections are never coalesced: each carries
//! its own byte counts and duration.

use super::AuditRecord;
use std::collections::HashMap;
use std::time::{Duration, Instant};

/// How long a window stays open after its first denial.
pub(super) const WINDOW: Duration = Duration::from_secs(1);

/// Open windows kept at most; beyond this (a command trying thousands of
/// distinct hosts a second) denials are written uncoalesced, never dropped.
const MAX_WINDOWS: usize = 4096;

struct Window {
    opened: Instant,
    first: AuditRecord,
    repeated: u64,
}

/// The open windows, by (host, reason).
#[derive(Default)]
pub(super) struct Windows {
    open: HashMap<(String, String), Window>,
}

impl Windows {
    /// Takes `record` at `now`: pushes onto `out` the summaries of windows
    /// that have closed, then `record` itself unless it repeats a denial of
    /// an open window (then it is counted). Returns true when `record` is
    /// the first repeat of its window (a summary is now due).
    pub(super) fn take(
        &mut self,
        record: &AuditRecord,
        now: Instant,
        out: &mut Vec<AuditRecord>,
    ) -> bool {
        self.close(now, out);
        if record.decision != "deny" {
            out.push(record.clone());
            return false;
        }
        let key = (record.host.clone(), record.reason.clone());
        if let Some(window) = self.open.get_mut(&key) {
            window.repeated += 1;
            return window.repeated == 1;
        }
        if self.open.len() < MAX_WINDOWS {
            self.open.insert(
                key,
                Window {
                    opened: now,
                    first: record.clone(),
                    repeated: 0,
                },
            );
        }
        out.push(record.clone());
        false
    }

    /// Pushes onto `out` the summaries of windows closed by `now` and
    /// forgets every closed window.
    pub(super) fn close(&mut self, now: Instant, out: &mut Vec<AuditRecord>) {
        let mut closed: Vec<(String, String)> = Vec::new();
        for (key, window) in &self.open {
            if now >= window.opened + WINDOW {
                closed.push(key.clone());
            }
        }
        // Oldest first, so summaries appear in the order their windows opened.
        closed.sort_by_key(|k| self.open.get(k).map(|w| w.opened));
        for key in closed {
            if let Some(window) = self.open.remove(&key) {
                push_summary(window, out);
            }
        }
    }

    /// Pushes every pending summary now (shutdown, end of a run).
    pub(super) fn close_all(&mut self, out: &mut Vec<AuditRecord>) {
        let mut all: Vec<Window> = self.open.drain().map(|(_, w)| w).collect();
        all.sort_by_key(|w| w.opened);
        for window in all {
            push_summary(window, out);
        }
    }

    /// When the next window holding repeats closes.
    pub(super) fn next_due(&self) -> Option<Instant> {
        self.open
            .values()
            .filter(|w| w.repeated > 0)
            .map(|w| w.opened + WINDOW)
            .min()
    }
}

/// The window's first record again, stamped now, with its repeat count.
fn push_summary(window: Window, out: &mut Vec<AuditRecord>) {
    if window.repeated == 0 {
        return;
    }
    let mut summary = window.first;
    summary.time = super::now();
    summary.repeated = window.repeated;
    out.push(summary);
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::Reason;

    fn deny(host: &str, reason: Reason) -> AuditRecord {
        AuditRecord::refused("http", host, 80, reason)
    }

    #[test]
    fn first_at_once_repeats_counted_other_hosts_at_once() {
        let mut w = Windows::default();
        let t0 = Instant::now();
        let mut out = Vec::new();
        assert!(!w.take(&deny("a.test", Reason::NotAllowed), t0, &mut out));
        assert_eq!(out.len(), 1, "the first is written at once");
        let ms = Duration::from_millis;
        assert!(w.take(&deny("a.test", Reason::NotAllowed), t0 + ms(1), &mut out));
        for i in 2..10 {
            assert!(!w.take(&deny("a.test", Reason::NotAllowed), t0 + ms(i), &mut out));
        }
        assert_eq!(out.len(), 1, "repeats are only counted");
        // Another host, and the same host for another reason: at once.
        w.take(&deny("b.test", Reason::NotAllowed), t0 + ms(20), &mut out);
        w.take(&deny("a.test", Reason::Denied), t0 + ms(30), &mut out);
        assert_eq!(out.len(), 3);
        assert_eq!(w.next_due(), Some(t0 + WINDOW));
        // An allowed record after the window closed: the summary first.
        let allowed = AuditRecord::allowed("http", "c.test", 80, "x".into(), 1, 2, 3);
        w.take(&allowed, t0 + WINDOW + ms(40), &mut out);
        assert_eq!(out.len(), 5, "{:?}", out);
        assert_eq!((out[3].host.as_str(), out[3].repeated), ("a.test", 9));
        assert_eq!(out[4].decision, "allow");
        assert_eq!(w.next_due(), None, "windows without repeats leave nothing");
        // After the window a denial is a first again.
        w.take(
            &deny("a.test", Reason::NotAllowed),
            t0 + WINDOW + ms(50),
            &mut out,
        );
        assert_eq!(out.len(), 6);
        assert_eq!(out[5].repeated, 0);
    }

    #[test]
    fn close_all_writes_every_pending_count() {
        let mut w = Windows::default();
        let t0 = Instant::now();
        let mut out = Vec::new();
        for _ in 0..4 {
            w.take(&deny("a.test", Reason::Auth), t0, &mut out);
            w.take(&deny("b.test", Reason::Auth), t0, &mut out);
        }
        out.clear();
        w.close_all(&mut out);
        let counts: Vec<u64> = out.iter().map(|r| r.repeated).collect();
        assert_eq!(counts, vec![3, 3]);
        assert_eq!(w.next_due(), None);
    }
}
