//! A full-screen pager on the alternate screen: the whole transcript
//! (Ctrl+T) or `/diff`. The inline view and the scrollback stay as they
//! were underneath and come back on q or Esc.

use crossterm::event::{KeyCode, KeyEvent, KeyModifiers};
use ratatui::buffer::Buffer;
use ratatui::layout::Rect;
use ratatui::style::{Color, Modifier, Style, Stylize};
use ratatui::text::{Line, Span};
use ratatui::widgets::{Paragraph, Widget, Wrap};

/// The pager's state.
#[derive(Debug)]
pub struct Pager {
    title: String,
    lines: Vec<Line<'static>>,
    /// First row shown (of the wrapped text).
    top: usize,
    /// Rows of the wrapped text at the last width drawn.
    total: usize,
    /// Rows the text had room for at the last draw.
    page: usize,
    /// Start at the end (the transcript's latest) once the width is known.
    at_end: bool,
}

impl Pager {
    /// A pager over `lines`, showing the top, or the end with `at_end`.
    pub fn new(title: &str, lines: Vec<Line<'static>>, at_end: bool) -> Pager {
        Pager {
            title: title.to_string(),
            lines,
            top: 0,
            total: 0,
            page: 1,
            at_end,
        }
    }

    /// Handles a key; `false` when the pager closes.
    pub fn key(&mut self, key: &KeyEvent) -> bool {
        let ctrl = key.modifiers.contains(KeyModifiers::CONTROL);
        let last = self.total.saturating_sub(self.page);
        match key.code {
            KeyCode::Char('q') | KeyCode::Esc => return false,
            KeyCode::Char('c') | KeyCode::Char('t') if ctrl => return false,
            KeyCode::Up | KeyCode::Char('k') => self.top = self.top.saturating_sub(1),
            KeyCode::Down | KeyCode::Char('j') | KeyCode::Enter => self.top += 1,
            KeyCode::PageUp | KeyCode::Char('b') => self.top = self.top.saturating_sub(self.page),
            KeyCode::PageDown | KeyCode::Char(' ') | KeyCode::Char('f') => self.top += self.page,
            KeyCode::Home | KeyCode::Char('g') => self.top = 0,
            KeyCode::End | KeyCode::Char('G') => self.top = last,
            _ => {}
        }
        self.top = self.top.min(last);
        true
    }

    /// Draws the title, the text from the current row, and a footer.
    pub fn render(&mut self, area: Rect, buf: &mut Buffer) {
        if area.height < 3 {
            return;
        }
        let body = Rect::new(area.x, area.y + 1, area.width, area.height - 2);
        let para = Paragraph::new(self.lines.clone()).wrap(Wrap { trim: false });
        self.total = para.line_count(area.width);
        self.page = usize::from(body.height).max(1);
        let last = self.total.saturating_sub(self.page);
        if std::mem::take(&mut self.at_end) {
            self.top = last;
        }
        self.top = self.top.min(last);
        buf.set_line(
            area.x,
            area.y,
            &Line::from(vec![
                Span::styled(
                    format!(" {} ", self.title),
                    Style::new().add_modifier(Modifier::REVERSED | Modifier::BOLD),
                ),
                "  q or Esc to return".dim(),
            ]),
            area.width,
        );
        para.scroll((u16::try_from(self.top).unwrap_or(u16::MAX), 0))
            .render(body, buf);
        let percent = if self.total <= self.page {
            100
        } else {
            (self.top + self.page) * 100 / self.total
        };
        buf.set_line(
            area.x,
            area.bottom() - 1,
            &Line::from(
                format!(" ↑/↓ j/k scroll · space/b page · g/G top/end · {percent}% ").dim(),
            ),
            area.width,
        );
    }
}

/// A unified diff's lines coloured (`+` green, `-` red, `@@` cyan, file
/// headers bold); control characters replaced.
pub fn diff_lines(text: &str) -> Vec<Line<'static>> {
    text.lines()
        .map(|l| {
            let l = crate::cells::clean(l);
            let style = if l.starts_with("+++") || l.starts_with("---") || l.starts_with("diff ") {
                Style::new().add_modifier(Modifier::BOLD)
            } else if l.starts_with('+') {
                Style::new().fg(Color::Green)
            } else if l.starts_with('-') {
                Style::new().fg(Color::Red)
            } else if l.starts_with("@@") {
                Style::new().fg(Color::Cyan)
            } else {
                Style::new()
            };
            Line::from(Span::styled(l, style))
        })
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    fn key(c: KeyCode) -> KeyEvent {
        KeyEvent::new(c, KeyModifiers::NONE)
    }

    #[test]
    fn scrolls_within_the_text_and_closes_on_q_or_esc() {
        let lines: Vec<Line<'static>> = (0..100).map(|i| Line::from(format!("line {i}"))).collect();
        let mut p = Pager::new("T", lines, true);
        let area = Rect::new(0, 0, 40, 12);
        let mut buf = Buffer::empty(area);
        p.render(area, &mut buf);
        let row = |b: &Buffer, y: u16| {
            (0..40)
                .map(|x| b[(x, y)].symbol().to_string())
                .collect::<String>()
        };
        assert!(row(&buf, 1).starts_with("line 90"), "starts at the end");
        assert!(row(&buf, 0).contains("q or Esc"));
        assert!(p.key(&key(KeyCode::Char('g'))));
        let mut buf = Buffer::empty(area);
        p.render(area, &mut buf);
        assert!(row(&buf, 1).starts_with("line 0 "));
        assert!(p.key(&key(KeyCode::Char(' '))));
        let mut buf = Buffer::empty(area);
        p.render(area, &mut buf);
        assert!(row(&buf, 1).starts_with("line 10 "));
        assert!(!p.key(&key(KeyCode::Char('q'))));
        assert!(!p.key(&key(KeyCode::Esc)));
    }
}
