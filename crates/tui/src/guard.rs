//! Keeps a modal that opens while the user types (an approval or an MCP
//! server's form, arriving in the middle of a turn) from taking the keys
//! meant for the composer: until [`GUARD`] has passed since the modal was
//! first drawn, only the keys that cancel (Esc, Ctrl+C) act on it; a key
//! read from the terminal before that, even one handled later because it
//! waited in the queue, never does.

use crossterm::event::{KeyCode, KeyEvent, KeyModifiers};
use ratatui::style::{Modifier, Style};
use ratatui::text::Line;
use std::time::{Duration, Instant};

/// How long after a modal is first drawn its keys are ignored. Above
/// human visual reaction time (about 200-250 ms), so a key that lands in
/// it was pressed before the user could have seen the modal (typing runs
/// at 100-200 ms a key); short enough that a deliberate answer is not
/// held up noticeably.
pub const GUARD: Duration = Duration::from_millis(300);

/// When a modal was first drawn, and so which keys may act on it.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct KeyGuard {
    drawn: Option<Instant>,
}

impl KeyGuard {
    /// Notes that the modal is on screen (from `now`; later calls keep the
    /// first time).
    pub fn drawn(&mut self, now: Instant) {
        self.drawn.get_or_insert(now);
    }

    /// Whether the guard period is over at `now`.
    pub fn ready(&self, now: Instant) -> bool {
        self.drawn
            .is_some_and(|d| now.checked_duration_since(d).is_some_and(|t| t >= GUARD))
    }

    /// How long from `now` until ready (`None`: not drawn yet, or ready).
    pub fn remaining(&self, now: Instant) -> Option<Duration> {
        let left = GUARD.checked_sub(now.checked_duration_since(self.drawn?)?)?;
        (!left.is_zero()).then_some(left)
    }

    /// Whether `key`, read from the terminal at `read_at`, may act on the
    /// modal: Esc and Ctrl+C always (they only cancel), any other key only
    /// when read once the guard period was over.
    pub fn admits(&self, key: &KeyEvent, read_at: Instant) -> bool {
        cancels(key) || self.ready(read_at)
    }
}

/// Esc or Ctrl+C.
fn cancels(key: &KeyEvent) -> bool {
    key.code == KeyCode::Esc
        || (key.code == KeyCode::Char('c') && key.modifiers.contains(KeyModifiers::CONTROL))
}

/// `line` dimmed, its colours dropped: how a modal's title and choices
/// look while it is guarded.
pub fn dim(line: &mut Line<'static>) {
    for s in &mut line.spans {
        s.style = Style::new().add_modifier(Modifier::DIM);
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn key(code: KeyCode) -> KeyEvent {
        KeyEvent::new(code, KeyModifiers::NONE)
    }

    #[test]
    fn decision_keys_wait_for_the_guard_and_cancel_keys_do_not() {
        let t0 = Instant::now();
        let mut g = KeyGuard::default();
        let decisions = [
            key(KeyCode::Char('y')),
            key(KeyCode::Char('a')),
            key(KeyCode::Char('h')),
            key(KeyCode::Char('n')),
            key(KeyCode::Enter),
            KeyEvent::new(KeyCode::Char('s'), KeyModifiers::CONTROL),
            KeyEvent::new(KeyCode::Char('d'), KeyModifiers::CONTROL),
            key(KeyCode::Char('x')),
        ];
        let cancels = [
            key(KeyCode::Esc),
            KeyEvent::new(KeyCode::Char('c'), KeyModifiers::CONTROL),
        ];
        // Not drawn yet: nothing but cancelling.
        for k in &decisions {
            assert!(!g.admits(k, t0 + Duration::from_secs(5)), "{k:?}");
        }
        g.drawn(t0);
        g.drawn(t0 + Duration::from_secs(1)); // a redraw keeps the first time
        for k in &decisions {
            assert!(!g.admits(k, t0), "{k:?} at once");
            assert!(!g.admits(k, t0 + GUARD - Duration::from_millis(1)), "{k:?}");
            assert!(g.admits(k, t0 + GUARD), "{k:?} after the guard");
            // Read before the modal was drawn (queued): never.
            let before = t0.checked_sub(Duration::from_millis(5)).unwrap();
            assert!(!g.admits(k, before), "{k:?} queued before");
        }
        for k in &cancels {
            assert!(g.admits(k, t0), "{k:?} at once");
        }
        assert_eq!(g.remaining(t0), Some(GUARD));
        assert_eq!(
            g.remaining(t0 + Duration::from_millis(100)),
            Some(GUARD - Duration::from_millis(100))
        );
        assert_eq!(g.remaining(t0 + GUARD), None);
        assert!(!g.ready(t0) && g.ready(t0 + GUARD));
    }

    #[test]
    fn a_dimmed_line_keeps_its_text_and_loses_its_colours() {
        use ratatui::style::Stylize;
        let mut line = Line::from(vec!["› ".cyan(), "Yes (y)".bold()]);
        dim(&mut line);
        assert_eq!(line.to_string(), "› Yes (y)");
        assert!(line
            .spans
            .iter()
            .all(|s| s.style.add_modifier.contains(Modifier::DIM) && s.style.fg.is_none()));
    }
}
