//! The popup under the composer: slash commands filtered as `/name` is
//! typed, or files matching the `@word` at the cursor.

use crate::cells;
use ratatui::style::Stylize;
use ratatui::text::{Line, Span};

/// Most rows of choices shown.
pub const ROWS: usize = 8;

/// What the popup offers.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Popup {
    /// Slash commands whose name fits what is typed: name and help.
    Commands(Vec<(&'static str, &'static str)>),
    /// Files for the `@word` whose `@` is at byte `at` of the composer.
    Files {
        /// Where the `@` is.
        at: usize,
        /// Matching paths, best first (`None`: still listing the files).
        matches: Option<Vec<String>>,
    },
}

impl Popup {
    /// How many choices there are.
    pub fn len(&self) -> usize {
        match self {
            Popup::Commands(c) => c.len(),
            Popup::Files { matches, .. } => matches.as_ref().map_or(0, Vec::len),
        }
    }

    /// Whether there is nothing to choose.
    pub fn is_empty(&self) -> bool {
        self.len() == 0
    }
}

/// Commands for the composer's `text` when it is a lone `/word` being
/// typed: those whose name starts with it, then those containing it.
pub fn commands(text: &str) -> Option<Vec<(&'static str, &'static str)>> {
    if !text.starts_with('/') || text.contains(char::is_whitespace) {
        return None;
    }
    let all = crate::slash::COMMANDS;
    let mut out: Vec<(&str, &str)> = all
        .iter()
        .filter(|(n, _)| n.starts_with(text))
        .copied()
        .collect();
    out.extend(
        all.iter()
            .filter(|(n, _)| !n.starts_with(text) && n.contains(&text[1..]))
            .copied(),
    );
    Some(out)
}

/// The text a chosen file is inserted as (quoted when it has spaces).
pub fn file_insertion(path: &str) -> String {
    if path.contains(char::is_whitespace) {
        format!("\"{path}\" ")
    } else {
        format!("{path} ")
    }
}

/// The popup's rows, `selected` marked, scrolled to keep it in view.
pub fn lines(popup: &Popup, selected: usize) -> Vec<Line<'static>> {
    let first = (selected + 1).saturating_sub(ROWS);
    let row = |i: usize, text: String, help: &str| {
        let mut spans = if i == selected {
            vec!["▸ ".cyan().bold(), Span::from(text).cyan().bold()]
        } else {
            vec!["  ".into(), Span::from(text)]
        };
        if !help.is_empty() {
            spans.push(format!("  {help}").dim());
        }
        Line::from(spans)
    };
    match popup {
        Popup::Commands(c) if c.is_empty() => vec![Line::from("  no such command".dim())],
        Popup::Commands(c) => c
            .iter()
            .enumerate()
            .skip(first)
            .take(ROWS)
            .map(|(i, (name, help))| row(i, format!("{name:<10}"), help))
            .collect(),
        Popup::Files { matches: None, .. } => vec![Line::from("  listing files…".dim())],
        Popup::Files {
            matches: Some(m), ..
        } if m.is_empty() => vec![Line::from("  no matching file".dim())],
        Popup::Files {
            matches: Some(m), ..
        } => m
            .iter()
            .enumerate()
            .skip(first)
            .take(ROWS)
            .map(|(i, p)| row(i, cells::clean(p), ""))
            .collect(),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn commands_filter_as_typed() {
        let names =
            |t: &str| -> Vec<&str> { commands(t).unwrap().into_iter().map(|(n, _)| n).collect() };
        assert_eq!(
            names("/"),
            crate::slash::COMMANDS
                .iter()
                .map(|c| c.0)
                .collect::<Vec<_>>()
        );
        assert_eq!(names("/co"), ["/compact"]);
        assert_eq!(
            names("/e"),
            ["/exit", "/model", "/new", "/resume", "/mention"]
        );
        assert!(names("/zz").is_empty());
        assert_eq!(commands("/model gpt"), None);
        assert_eq!(commands("hello"), None);
        assert_eq!(file_insertion("a b.txt"), "\"a b.txt\" ");
    }
}
