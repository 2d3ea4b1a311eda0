//! The composer: a multi-line text field with Emacs-style keys, history
//! and pastes kept whole (a large one shown as a placeholder).

use crossterm::event::{KeyCode, KeyEvent, KeyModifiers};
use ratatui::buffer::Buffer;
use ratatui::layout::Rect;
use ratatui::style::{Color, Modifier, Style};
use unicode_width::UnicodeWidthChar;

/// Pastes longer than this many characters show as a placeholder.
pub const LARGE_PASTE_CHARS: usize = 1000;
/// Most rows the composer grows to.
pub const MAX_ROWS: u16 = 8;

/// What a key did.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Outcome {
    /// Nothing the app must act on.
    None,
    /// Enter: the text (pastes expanded) is to be sent.
    Submit(String),
    /// The key was not the composer's.
    Ignored,
}

/// The composer's state.
#[derive(Debug, Default)]
pub struct Composer {
    text: String,
    /// Byte offset of the cursor in `text`.
    cursor: usize,
    pastes: Vec<(String, String)>,
    history: Vec<String>,
    /// Position while browsing history (`history.len()` = the draft).
    browsing: Option<usize>,
    draft: String,
}

fn is_word(c: char) -> bool {
    c.is_alphanumeric() || c == '_'
}

impl Composer {
    /// An empty composer with `history` (oldest first) for Up/Down.
    pub fn new(history: Vec<String>) -> Self {
        Composer {
            history,
            ..Default::default()
        }
    }

    /// The text as shown (placeholders not expanded).
    pub fn text(&self) -> &str {
        &self.text
    }

    /// Whether nothing is typed.
    pub fn is_empty(&self) -> bool {
        self.text.is_empty()
    }

    /// Replaces the text.
    pub fn set_text(&mut self, text: &str) {
        self.text = text.to_string();
        self.cursor = self.text.len();
        self.pastes.clear();
    }

    /// Adds a sent message to the Up/Down history.
    pub fn remember(&mut self, text: &str) {
        if self.history.last().map(String::as_str) != Some(text) {
            self.history.push(text.to_string());
        }
        self.browsing = None;
    }

    /// Empties the composer and returns the text with pastes expanded.
    pub fn take(&mut self) -> String {
        let mut text = std::mem::take(&mut self.text);
        for (label, content) in self.pastes.drain(..) {
            text = text.replacen(&label, &content, 1);
        }
        self.cursor = 0;
        self.browsing = None;
        text
    }

    /// The `@word` being typed at the cursor: where its `@` is and the
    /// text after it (no whitespace), when the `@` starts a word.
    pub fn mention(&self) -> Option<(usize, &str)> {
        let before = &self.text[..self.cursor];
        let at = before.rfind('@')?;
        let word = &before[at + 1..];
        let starts_word = before[..at]
            .chars()
            .next_back()
            .is_none_or(char::is_whitespace);
        (starts_word && !word.contains(char::is_whitespace)).then_some((at, word))
    }

    /// Replaces the text from byte `start` to the cursor with `with`.
    pub fn replace_before_cursor(&mut self, start: usize, with: &str) {
        if start <= self.cursor && self.text.is_char_boundary(start) {
            self.text.replace_range(start..self.cursor, with);
            self.cursor = start + with.len();
            self.browsing = None;
        }
    }

    /// Types `s` at the cursor.
    pub fn insert_text(&mut self, s: &str) {
        self.insert(s);
    }

    fn insert(&mut self, s: &str) {
        self.text.insert_str(self.cursor, s);
        self.cursor += s.len();
        self.browsing = None;
    }

    /// A bracketed paste: inserted as one piece (never submitted), a large
    /// one as a placeholder expanded on submit.
    pub fn paste(&mut self, text: &str) {
        let text = text.replace("\r\n", "\n").replace('\r', "\n");
        let chars = text.chars().count();
        if chars > LARGE_PASTE_CHARS {
            let label = format!(
                "[Pasted {} lines, {chars} chars #{}]",
                text.lines().count(),
                self.pastes.len() + 1
            );
            self.insert(&label);
            self.pastes.push((label, text));
        } else {
            self.insert(&text);
        }
    }

    fn prev_boundary(&self) -> usize {
        self.text[..self.cursor]
            .char_indices()
            .next_back()
            .map_or(0, |(i, _)| i)
    }

    fn next_boundary(&self) -> usize {
        self.text[self.cursor..]
            .chars()
            .next()
            .map_or(self.cursor, |c| self.cursor + c.len_utf8())
    }

    fn line_start(&self) -> usize {
        self.text[..self.cursor].rfind('\n').map_or(0, |i| i + 1)
    }

    fn line_end(&self) -> usize {
        self.text[self.cursor..]
            .find('\n')
            .map_or(self.text.len(), |i| self.cursor + i)
    }

    fn word_back(&self) -> usize {
        let before = &self.text[..self.cursor];
        let mut chars = before.char_indices().rev().peekable();
        let mut at = self.cursor;
        while let Some(&(i, c)) = chars.peek() {
            if is_word(c) {
                break;
            }
            at = i;
            chars.next();
        }
        while let Some(&(i, c)) = chars.peek() {
            if !is_word(c) {
                break;
            }
            at = i;
            chars.next();
        }
        at
    }

    fn word_forward(&self) -> usize {
        let mut at = self.cursor;
        let mut seen_word = false;
        for c in self.text[self.cursor..].chars() {
            if is_word(c) {
                seen_word = true;
            } else if seen_word {
                break;
            }
            at += c.len_utf8();
        }
        at
    }

    fn on_first_line(&self) -> bool {
        !self.text[..self.cursor].contains('\n')
    }

    fn on_last_line(&self) -> bool {
        !self.text[self.cursor..].contains('\n')
    }

    fn history_up(&mut self) -> bool {
        if self.history.is_empty() {
            return false;
        }
        let at = match self.browsing {
            None => {
                self.draft = self.text.clone();
                self.history.len()
            }
            Some(i) => i,
        };
        if at == 0 {
            return true;
        }
        self.browsing = Some(at - 1);
        self.text = self.history[at - 1].clone();
        self.cursor = self.text.len();
        true
    }

    fn history_down(&mut self) -> bool {
        let Some(at) = self.browsing else {
            return false;
        };
        if at + 1 >= self.history.len() {
            self.browsing = None;
            self.text = std::mem::take(&mut self.draft);
        } else {
            self.browsing = Some(at + 1);
            self.text = self.history[at + 1].clone();
        }
        self.cursor = self.text.len();
        true
    }

    /// Handles one key.
    pub fn key(&mut self, key: KeyEvent) -> Outcome {
        let ctrl = key.modifiers.contains(KeyModifiers::CONTROL);
        let alt = key.modifiers.contains(KeyModifiers::ALT);
        let shift = key.modifiers.contains(KeyModifiers::SHIFT);
        match key.code {
            KeyCode::Enter if shift || alt => self.insert("\n"),
            KeyCode::Char('j') if ctrl => self.insert("\n"),
            KeyCode::Enter => {
                if self.text.trim().is_empty() {
                    return Outcome::None;
                }
                let text = self.take();
                return Outcome::Submit(text);
            }
            KeyCode::Char('a') if ctrl => self.cursor = self.line_start(),
            KeyCode::Char('e') if ctrl => self.cursor = self.line_end(),
            KeyCode::Char('b') if ctrl => self.cursor = self.prev_boundary(),
            KeyCode::Char('f') if ctrl => self.cursor = self.next_boundary(),
            KeyCode::Char('k') if ctrl => {
                let end = self.line_end();
                let end = if end == self.cursor && end < self.text.len() {
                    end + 1
                } else {
                    end
                };
                self.text.replace_range(self.cursor..end, "");
            }
            KeyCode::Char('u') if ctrl => {
                let start = self.line_start();
                self.text.replace_range(start..self.cursor, "");
                self.cursor = start;
            }
            KeyCode::Char('w') if ctrl => {
                let start = self.word_back();
                self.text.replace_range(start..self.cursor, "");
                self.cursor = start;
            }
            KeyCode::Backspace if alt => {
                let start = self.word_back();
                self.text.replace_range(start..self.cursor, "");
                self.cursor = start;
            }
            KeyCode::Char('b') if alt => self.cursor = self.word_back(),
            KeyCode::Char('f') if alt => self.cursor = self.word_forward(),
            KeyCode::Left if ctrl || alt => self.cursor = self.word_back(),
            KeyCode::Right if ctrl || alt => self.cursor = self.word_forward(),
            KeyCode::Char(c) if !ctrl => {
                let mut buf = [0u8; 4];
                self.insert(c.encode_utf8(&mut buf));
            }
            KeyCode::Backspace => {
                let start = self.prev_boundary();
                self.text.replace_range(start..self.cursor, "");
                self.cursor = start;
            }
            KeyCode::Delete | KeyCode::Char('d') if key.code == KeyCode::Delete || ctrl => {
                let end = self.next_boundary();
                self.text.replace_range(self.cursor..end, "");
            }
            KeyCode::Left => self.cursor = self.prev_boundary(),
            KeyCode::Right => self.cursor = self.next_boundary(),
            KeyCode::Home => self.cursor = self.line_start(),
            KeyCode::End => self.cursor = self.line_end(),
            KeyCode::Up => {
                if (self.on_first_line() || self.browsing.is_some()) && self.history_up() {
                    return Outcome::None;
                }
                self.move_vertical(-1);
            }
            KeyCode::Down => {
                if (self.on_last_line() || self.browsing.is_some()) && self.history_down() {
                    return Outcome::None;
                }
                self.move_vertical(1);
            }
            _ => return Outcome::Ignored,
        }
        Outcome::None
    }

    fn move_vertical(&mut self, dir: i32) {
        let start = self.line_start();
        let col = self.text[start..self.cursor].chars().count();
        let target_start = if dir < 0 {
            if start == 0 {
                return;
            }
            self.text[..start - 1].rfind('\n').map_or(0, |i| i + 1)
        } else {
            let end = self.line_end();
            if end >= self.text.len() {
                return;
            }
            end + 1
        };
        let line_end = self.text[target_start..]
            .find('\n')
            .map_or(self.text.len(), |i| target_start + i);
        let mut at = target_start;
        for (n, c) in self.text[target_start..line_end].chars().enumerate() {
            if n >= col {
                break;
            }
            at += c.len_utf8();
        }
        self.cursor = at;
    }

    /// Rows of the text wrapped at `width` (the prompt takes two columns),
    /// with the cursor's row and column.
    fn layout(&self, width: u16) -> (Vec<String>, (usize, u16)) {
        let avail = usize::from(width.saturating_sub(2).max(1));
        let mut rows = vec![String::new()];
        let mut col = 0usize;
        let mut cursor = (0usize, 0u16);
        for (i, c) in self.text.char_indices() {
            if i == self.cursor {
                cursor = (rows.len() - 1, u16::try_from(col).unwrap_or(u16::MAX));
            }
            if c == '\n' {
                rows.push(String::new());
                col = 0;
                continue;
            }
            let w = c.width().unwrap_or(0);
            if col + w > avail {
                rows.push(String::new());
                col = 0;
            }
            if let Some(r) = rows.last_mut() {
                r.push(if c.is_control() { '\u{fffd}' } else { c });
            }
            col += w;
        }
        if self.cursor >= self.text.len() {
            if col >= avail {
                rows.push(String::new());
                col = 0;
            }
            cursor = (rows.len() - 1, u16::try_from(col).unwrap_or(u16::MAX));
        }
        (rows, cursor)
    }

    /// Rows needed at `width` (at most [`MAX_ROWS`]).
    pub fn height(&self, width: u16) -> u16 {
        let (rows, _) = self.layout(width);
        u16::try_from(rows.len())
            .unwrap_or(MAX_ROWS)
            .clamp(1, MAX_ROWS)
    }

    /// Draws into `area`; returns the cursor position.
    pub fn render(&self, area: Rect, buf: &mut Buffer, placeholder: &str) -> (u16, u16) {
        let (rows, (crow, ccol)) = self.layout(area.width);
        let visible = usize::from(area.height.max(1));
        let first = (crow + 1).saturating_sub(visible);
        let prompt = Style::new().fg(Color::Cyan).add_modifier(Modifier::BOLD);
        buf.set_string(area.x, area.y, "›", prompt);
        if self.text.is_empty() {
            buf.set_string(
                area.x + 2,
                area.y,
                placeholder,
                Style::new().add_modifier(Modifier::DIM),
            );
        }
        for (i, row) in rows.iter().skip(first).take(visible).enumerate() {
            let y = area.y + u16::try_from(i).unwrap_or(0);
            buf.set_stringn(
                area.x + 2,
                y,
                row,
                usize::from(area.width.saturating_sub(2)),
                Style::new(),
            );
        }
        let y = area.y + u16::try_from(crow - first).unwrap_or(0);
        (area.x + 2 + ccol.min(area.width.saturating_sub(3)), y)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn key(code: KeyCode, m: KeyModifiers) -> KeyEvent {
        KeyEvent::new(code, m)
    }

    fn typed(c: &mut Composer, s: &str) {
        for ch in s.chars() {
            c.key(key(KeyCode::Char(ch), KeyModifiers::NONE));
        }
    }

    #[test]
    fn emacs_keys_newlines_and_submit() {
        let mut c = Composer::new(vec![]);
        typed(&mut c, "hello world");
        c.key(key(KeyCode::Char('w'), KeyModifiers::CONTROL));
        assert_eq!(c.text(), "hello ");
        c.key(key(KeyCode::Char('a'), KeyModifiers::CONTROL));
        typed(&mut c, "> ");
        c.key(key(KeyCode::Char('e'), KeyModifiers::CONTROL));
        c.key(key(KeyCode::Char('j'), KeyModifiers::CONTROL));
        c.key(key(KeyCode::Enter, KeyModifiers::SHIFT));
        typed(&mut c, "x y");
        c.key(key(KeyCode::Char('b'), KeyModifiers::ALT));
        c.key(key(KeyCode::Char('k'), KeyModifiers::CONTROL));
        assert_eq!(c.text(), "> hello \n\nx ");
        c.key(key(KeyCode::Char('u'), KeyModifiers::CONTROL));
        assert_eq!(c.text(), "> hello \n\n");
        c.key(key(KeyCode::Char('f'), KeyModifiers::ALT));
        typed(&mut c, "z");
        assert_eq!(
            c.key(key(KeyCode::Enter, KeyModifiers::NONE)),
            Outcome::Submit("> hello \n\nz".into())
        );
        assert!(c.is_empty());
    }

    #[test]
    fn history_up_down_keeps_the_draft() {
        let mut c = Composer::new(vec!["one".into(), "two".into()]);
        typed(&mut c, "dr");
        c.key(key(KeyCode::Up, KeyModifiers::NONE));
        assert_eq!(c.text(), "two");
        c.key(key(KeyCode::Up, KeyModifiers::NONE));
        c.key(key(KeyCode::Up, KeyModifiers::NONE));
        assert_eq!(c.text(), "one");
        c.key(key(KeyCode::Down, KeyModifiers::NONE));
        c.key(key(KeyCode::Down, KeyModifiers::NONE));
        assert_eq!(c.text(), "dr");
    }

    #[test]
    fn the_mention_at_the_cursor_is_found_and_replaced() {
        let mut c = Composer::new(vec![]);
        typed(&mut c, "look at @src/ma");
        assert_eq!(c.mention(), Some((8, "src/ma")));
        c.replace_before_cursor(8, "src/main.rs ");
        assert_eq!(c.text(), "look at src/main.rs ");
        assert_eq!(c.mention(), None);
        c.set_text("mail me@example");
        assert_eq!(c.mention(), None, "an @ inside a word is not a mention");
        c.set_text("@");
        assert_eq!(c.mention(), Some((0, "")));
    }

    #[test]
    fn a_large_paste_is_a_placeholder_expanded_on_submit() {
        let mut c = Composer::new(vec![]);
        let big: String = (0..200).map(|i| format!("line {i}\n")).collect();
        typed(&mut c, "see: ");
        c.paste(&big);
        assert!(
            c.text().starts_with("see: [Pasted 200 lines"),
            "{}",
            c.text()
        );
        assert_eq!(c.height(80), 1);
        match c.key(key(KeyCode::Enter, KeyModifiers::NONE)) {
            Outcome::Submit(t) => assert_eq!(t, format!("see: {big}")),
            o => panic!("{o:?}"),
        }
        c.paste("a\r\nb");
        assert_eq!(c.text(), "a\nb");
    }
}
