//! The inline viewport at the bottom of the terminal and the history
//! above it.
//!
//! Finished cells are written above the viewport as plain styled text:
//! each logical line is printed once and the terminal wraps it itself
//! (soft wraps), inside a scroll region that ends above the viewport, so
//! lines pushed off the top go into the terminal's own scrollback. Copying
//! from the scrollback gives the text as written, without hard line breaks
//! inside paragraphs and without gutter characters. The viewport is drawn
//! from a ratatui [`Buffer`], diffed against the previous frame.

use crossterm::style::{
    Attribute, Color as CColor, Print, SetAttribute, SetBackgroundColor, SetForegroundColor,
};
use crossterm::terminal::{Clear, ClearType};
use crossterm::{cursor, queue};
use ratatui::backend::{Backend, CrosstermBackend};
use ratatui::buffer::Buffer;
use ratatui::layout::Rect;
use ratatui::style::{Color, Modifier, Style};
use ratatui::text::Line;
use std::io::Write;
use unicode_width::UnicodeWidthStr;

/// The viewport and what is known of the terminal.
pub struct Screen<W: Write> {
    backend: CrosstermBackend<W>,
    cols: u16,
    rows: u16,
    top: u16,
    height: u16,
    prev: Option<Buffer>,
    color: bool,
}

/// How many terminal rows `line` takes when the terminal wraps it at `cols`.
pub fn rows_for(line: &Line<'_>, cols: u16) -> u16 {
    let width: usize = line.spans.iter().map(|s| s.content.width()).sum();
    let cols = usize::from(cols.max(1));
    u16::try_from(width.div_ceil(cols).max(1)).unwrap_or(u16::MAX)
}

impl<W: Write> Screen<W> {
    /// A viewport starting at row `cursor_row` of a `cols`×`rows` terminal.
    pub fn new(writer: W, cols: u16, rows: u16, cursor_row: u16, color: bool) -> Self {
        Screen {
            backend: CrosstermBackend::new(writer),
            cols: cols.max(1),
            rows: rows.max(2),
            top: cursor_row.min(rows.saturating_sub(1)),
            height: 0,
            prev: None,
            color,
        }
    }

    /// The terminal's width.
    pub fn cols(&self) -> u16 {
        self.cols
    }

    /// The terminal's height.
    pub fn rows(&self) -> u16 {
        self.rows
    }

    /// The viewport's first row.
    pub fn top(&self) -> u16 {
        self.top
    }

    /// The writer (for tests).
    pub fn writer(&self) -> &W {
        self.backend.writer()
    }

    fn out(&mut self) -> &mut W {
        self.backend.writer_mut()
    }

    /// Writes `lines` above the viewport (into the scrollback once they
    /// scroll off the top).
    pub fn insert_lines(&mut self, lines: &[Line<'_>]) -> std::io::Result<()> {
        if lines.is_empty() {
            return Ok(());
        }
        let needed: u32 = lines
            .iter()
            .map(|l| u32::from(rows_for(l, self.cols)))
            .sum();
        let height = self.height.max(1);
        let room = self.rows.saturating_sub(self.top + height);
        let down = u16::try_from(needed.min(u32::from(room))).unwrap_or(room);
        let old_top = self.top;
        let new_top = old_top + down;
        let color = self.color;
        let out = self.out();
        // The old viewport goes; it is drawn again below the new lines.
        queue!(
            out,
            cursor::Hide,
            cursor::MoveTo(0, old_top),
            Clear(ClearType::FromCursorDown)
        )?;
        if new_top == 0 {
            return Ok(());
        }
        // Scroll region: the rows above the (moved) viewport.
        write!(out, "\x1b[1;{new_top}r")?;
        let mut first_at_top = old_top == 0;
        queue!(out, cursor::MoveTo(0, old_top.saturating_sub(1)))?;
        for line in lines {
            if first_at_top {
                first_at_top = false;
            } else {
                write!(out, "\r\n")?;
            }
            write_line(out, line, color)?;
        }
        write!(out, "\x1b[r")?;
        self.top = new_top;
        self.prev = None;
        Ok(())
    }

    /// Draws the viewport, `height` rows tall (as far as the terminal
    /// allows); `render` fills the buffer and says where the cursor goes.
    pub fn draw(
        &mut self,
        height: u16,
        render: impl FnOnce(Rect, &mut Buffer) -> Option<(u16, u16)>,
    ) -> std::io::Result<()> {
        let height = height.clamp(1, self.rows.saturating_sub(1).max(1));
        if self.top + height > self.rows {
            // Push what is above up into the scrollback to make room.
            let push = self.top + height - self.rows;
            let rows = self.rows;
            let out = self.out();
            queue!(out, cursor::MoveTo(0, rows - 1))?;
            for _ in 0..push {
                out.write_all(b"\n")?;
            }
            self.top -= push;
            self.prev = None;
        }
        let area = Rect::new(0, self.top, self.cols, height);
        if self.prev.as_ref().is_none_or(|p| p.area != area) {
            let top = self.top;
            queue!(
                self.out(),
                cursor::MoveTo(0, top),
                Clear(ClearType::FromCursorDown)
            )?;
            self.prev = Some(Buffer::empty(area));
        }
        self.height = height;
        let mut buf = Buffer::empty(area);
        let cursor_at = render(area, &mut buf);
        if !self.color {
            strip_colors(&mut buf);
        }
        let prev = self.prev.take().unwrap_or_else(|| Buffer::empty(area));
        let diff = prev.diff(&buf);
        self.backend.draw(diff.into_iter())?;
        let out = self.out();
        queue!(out, SetAttribute(Attribute::Reset))?;
        match cursor_at {
            Some((x, y)) => queue!(out, cursor::MoveTo(x, y), cursor::Show)?,
            None => queue!(out, cursor::Hide)?,
        }
        out.flush()?;
        self.prev = Some(buf);
        Ok(())
    }

    /// The terminal changed size: the viewport is drawn again from scratch
    /// (the terminal re-flows the scrollback's soft-wrapped lines itself).
    pub fn resize(&mut self, cols: u16, rows: u16) -> std::io::Result<()> {
        self.cols = cols.max(1);
        self.rows = rows.max(2);
        let h = self.height.max(1);
        if self.top + h > self.rows {
            self.top = self.rows.saturating_sub(h);
        }
        let top = self.top;
        queue!(
            self.out(),
            cursor::MoveTo(0, top),
            Clear(ClearType::FromCursorDown)
        )?;
        self.prev = None;
        Ok(())
    }

    /// Forgets the last frame so the next draw repaints everything (Ctrl+L).
    pub fn invalidate(&mut self) {
        self.prev = None;
    }

    /// Clears the viewport and leaves the cursor where it began, so the
    /// shell's prompt follows the history.
    pub fn finish(&mut self) -> std::io::Result<()> {
        let top = self.top;
        let out = self.out();
        queue!(
            out,
            SetAttribute(Attribute::Reset),
            cursor::MoveTo(0, top),
            Clear(ClearType::FromCursorDown),
            cursor::Show
        )?;
        out.flush()
    }

    /// Flushes what is queued.
    pub fn flush(&mut self) -> std::io::Result<()> {
        self.out().flush()
    }
}

fn strip_colors(buf: &mut Buffer) {
    for cell in buf.content.iter_mut() {
        cell.fg = Color::Reset;
        cell.bg = Color::Reset;
    }
}

/// Writes one line's spans with their styles (no newline).
pub fn write_line(out: &mut impl Write, line: &Line<'_>, color: bool) -> std::io::Result<()> {
    for span in &line.spans {
        let style = line.style.patch(span.style);
        set_style(out, style, color)?;
        queue!(out, Print(span.content.as_ref()))?;
        queue!(out, SetAttribute(Attribute::Reset))?;
    }
    Ok(())
}

fn set_style(out: &mut impl Write, style: Style, color: bool) -> std::io::Result<()> {
    if color {
        if let Some(fg) = style.fg.and_then(to_crossterm) {
            queue!(out, SetForegroundColor(fg))?;
        }
        if let Some(bg) = style.bg.and_then(to_crossterm) {
            queue!(out, SetBackgroundColor(bg))?;
        }
    }
    let m = style.add_modifier;
    for (flag, attr) in [
        (Modifier::BOLD, Attribute::Bold),
        (Modifier::DIM, Attribute::Dim),
        (Modifier::ITALIC, Attribute::Italic),
        (Modifier::UNDERLINED, Attribute::Underlined),
        (Modifier::REVERSED, Attribute::Reverse),
        (Modifier::CROSSED_OUT, Attribute::CrossedOut),
    ] {
        if m.contains(flag) {
            queue!(out, SetAttribute(attr))?;
        }
    }
    Ok(())
}

fn to_crossterm(c: Color) -> Option<CColor> {
    Some(match c {
        Color::Reset => return None,
        Color::Black => CColor::Black,
        Color::Red => CColor::DarkRed,
        Color::Green => CColor::DarkGreen,
        Color::Yellow => CColor::DarkYellow,
        Color::Blue => CColor::DarkBlue,
        Color::Magenta => CColor::DarkMagenta,
        Color::Cyan => CColor::DarkCyan,
        Color::Gray => CColor::Grey,
        Color::DarkGray => CColor::DarkGrey,
        Color::LightRed => CColor::Red,
        Color::LightGreen => CColor::Green,
        Color::LightYellow => CColor::Yellow,
        Color::LightBlue => CColor::Blue,
        Color::LightMagenta => CColor::Magenta,
        Color::LightCyan => CColor::Cyan,
        Color::White => CColor::White,
        Color::Indexed(i) => CColor::AnsiValue(i),
        Color::Rgb(r, g, b) => CColor::Rgb { r, g, b },
    })
}
