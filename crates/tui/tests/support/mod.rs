//! What the snapshot tests share: drawing lines through ratatui's
//! `TestBackend` and turning the rows into one picture for `insta`.

use ratatui::backend::TestBackend;
use ratatui::text::Line;
use ratatui::widgets::{Paragraph, Wrap};
use ratatui::Terminal;

/// `lines` drawn at `width` (wrapped as the terminal would), as rows.
pub fn draw(lines: Vec<Line<'static>>, width: u16) -> Vec<String> {
    let height = cordon_tui::app::line_count(&lines, width).max(1);
    let mut terminal = Terminal::new(TestBackend::new(width, height)).unwrap();
    terminal
        .draw(|f| {
            f.render_widget(
                Paragraph::new(lines.clone()).wrap(Wrap { trim: false }),
                f.area(),
            )
        })
        .unwrap();
    let buf = terminal.backend().buffer();
    (0..height)
        .map(|y| {
            let row: String = (0..width)
                .map(|x| buf[(x, y)].symbol().to_string())
                .collect();
            row.trim_end().to_string()
        })
        .collect()
}

/// `rows` as one picture for an inline snapshot, each row behind a `│`.
///
/// insta normalises an inline snapshot before comparing: it drops the
/// indentation all lines share and, by its legacy rule, leading blank
/// lines. With every row starting at the gutter neither can happen, so a
/// cell's leading blank row or a change of indentation of every row still
/// fails the test.
pub fn picture(rows: &[String]) -> String {
    rows.iter()
        .map(|row| format!("│{row}"))
        .collect::<Vec<_>>()
        .join("\n")
}

/// `lines` drawn at `width`, as a picture.
pub fn shot(lines: Vec<Line<'static>>, width: u16) -> String {
    picture(&draw(lines, width))
}
