//! Markdown to styled lines (pulldown-cmark): headings, lists, emphasis,
//! inline code, links, quotes and code blocks with a light highlighter.
//!
//! Paragraphs stay one logical line each (soft breaks become spaces); the
//! terminal wraps them. Code blocks keep their lines as they are.

use pulldown_cmark::{CodeBlockKind, Event, HeadingLevel, Options, Parser, Tag, TagEnd};
use ratatui::style::{Color, Modifier, Style};
use ratatui::text::{Line, Span};

/// Code blocks larger than this are shown without highlighting.
pub const HIGHLIGHT_MAX_BLOCK: usize = 64 * 1024;
/// Code lines longer than this are shown without highlighting.
pub const HIGHLIGHT_MAX_LINE: usize = 2_000;

/// Renders `text` as lines.
pub fn render(text: &str) -> Vec<Line<'static>> {
    let mut r = Renderer::default();
    let options = Options::ENABLE_STRIKETHROUGH | Options::ENABLE_TASKLISTS;
    for event in Parser::new_ext(text, options) {
        r.event(event);
    }
    r.flush();
    r.finish()
}

#[derive(Default)]
struct Renderer {
    lines: Vec<Line<'static>>,
    spans: Vec<Span<'static>>,
    styles: Vec<Style>,
    /// Open lists: the next number of an ordered one.
    lists: Vec<Option<u64>>,
    /// Prefix for the next line (a list bullet), and the indent after it.
    bullet: Option<String>,
    indent: usize,
    quote: usize,
    code: Option<(String, String)>,
    link: Vec<String>,
}

impl Renderer {
    fn style(&self) -> Style {
        self.styles.iter().fold(Style::new(), |s, x| s.patch(*x))
    }

    fn push(&mut self, text: String, style: Style) {
        if self.spans.is_empty() {
            let mut prefix = String::new();
            for _ in 0..self.quote {
                prefix.push_str("> ");
            }
            match self.bullet.take() {
                Some(b) => prefix.push_str(&b),
                None => prefix.push_str(&" ".repeat(self.indent)),
            }
            if !prefix.is_empty() {
                self.spans.push(Span::styled(
                    prefix,
                    Style::new().add_modifier(Modifier::DIM),
                ));
            }
        }
        self.spans.push(Span::styled(text, style));
    }

    fn flush(&mut self) {
        if !self.spans.is_empty() {
            self.lines.push(Line::from(std::mem::take(&mut self.spans)));
        }
    }

    fn blank(&mut self) {
        self.flush();
        if self.lines.last().is_some_and(|l| !l.spans.is_empty()) {
            self.lines.push(Line::default());
        }
    }

    fn finish(mut self) -> Vec<Line<'static>> {
        while self.lines.last().is_some_and(|l| l.spans.is_empty()) {
            self.lines.pop();
        }
        self.lines
    }

    fn event(&mut self, event: Event<'_>) {
        if let Some((_, code)) = &mut self.code {
            match event {
                Event::Text(t) => code.push_str(&t),
                Event::End(TagEnd::CodeBlock) => {
                    let (lang, code) = self.code.take().unwrap_or_default();
                    self.flush();
                    for line in highlight(&lang, &code) {
                        let mut spans = vec![Span::raw(" ".repeat(self.indent))];
                        spans.extend(line.spans);
                        self.lines.push(Line::from(spans));
                    }
                    self.blank();
                }
                _ => {}
            }
            return;
        }
        match event {
            Event::Start(tag) => self.start(tag),
            Event::End(tag) => self.end(tag),
            Event::Text(t) => {
                let style = self.style();
                self.push(t.into_string(), style);
            }
            Event::Code(t) => self.push(t.into_string(), Style::new().fg(Color::Cyan)),
            Event::SoftBreak => {
                let style = self.style();
                self.push(" ".into(), style);
            }
            Event::HardBreak => self.flush(),
            Event::Rule => {
                self.flush();
                self.lines.push(Line::from(Span::styled(
                    "———",
                    Style::new().add_modifier(Modifier::DIM),
                )));
                self.blank();
            }
            Event::Html(t) | Event::InlineHtml(t) => {
                let style = self.style();
                for (i, l) in t.lines().enumerate() {
                    if i > 0 {
                        self.flush();
                    }
                    self.push(l.to_string(), style);
                }
            }
            Event::TaskListMarker(done) => {
                self.push(
                    if done { "[x] " } else { "[ ] " }.into(),
                    Style::new().add_modifier(Modifier::DIM),
                );
            }
            Event::FootnoteReference(t) => self.push(format!("[{t}]"), Style::new()),
            _ => {}
        }
    }

    fn start(&mut self, tag: Tag<'_>) {
        match tag {
            Tag::Heading { level, .. } => {
                self.flush();
                let n = match level {
                    HeadingLevel::H1 => 1,
                    HeadingLevel::H2 => 2,
                    HeadingLevel::H3 => 3,
                    HeadingLevel::H4 => 4,
                    HeadingLevel::H5 => 5,
                    HeadingLevel::H6 => 6,
                };
                let mut style = Style::new().add_modifier(Modifier::BOLD);
                if n == 1 {
                    style = style.add_modifier(Modifier::UNDERLINED);
                }
                self.styles.push(style);
                self.push(format!("{} ", "#".repeat(n)), style);
            }
            Tag::Paragraph => {}
            Tag::List(start) => {
                self.flush();
                self.lists.push(start);
            }
            Tag::Item => {
                self.flush();
                let depth = self.lists.len().saturating_sub(1);
                let marker = match self.lists.last_mut() {
                    Some(Some(n)) => {
                        let m = format!("{n}. ");
                        *n += 1;
                        m
                    }
                    _ => "- ".to_string(),
                };
                let pad = "  ".repeat(depth);
                self.indent = pad.len() + marker.chars().count();
                self.bullet = Some(format!("{pad}{marker}"));
            }
            Tag::Emphasis => self
                .styles
                .push(Style::new().add_modifier(Modifier::ITALIC)),
            Tag::Strong => self.styles.push(Style::new().add_modifier(Modifier::BOLD)),
            Tag::Strikethrough => self
                .styles
                .push(Style::new().add_modifier(Modifier::CROSSED_OUT)),
            Tag::BlockQuote(_) => {
                self.flush();
                self.quote += 1;
            }
            Tag::CodeBlock(kind) => {
                self.flush();
                let lang = match kind {
                    CodeBlockKind::Fenced(l) => {
                        l.split_whitespace().next().unwrap_or("").to_string()
                    }
                    CodeBlockKind::Indented => String::new(),
                };
                self.code = Some((lang, String::new()));
            }
            Tag::Link { dest_url, .. } => {
                self.link.push(dest_url.into_string());
                self.styles
                    .push(Style::new().add_modifier(Modifier::UNDERLINED));
            }
            _ => {}
        }
    }

    fn end(&mut self, tag: TagEnd) {
        match tag {
            TagEnd::Heading(_) => {
                self.styles.pop();
                self.blank();
            }
            TagEnd::Paragraph => {
                if self.lists.is_empty() {
                    self.blank();
                } else {
                    self.flush();
                }
            }
            TagEnd::List(_) => {
                self.flush();
                self.lists.pop();
                if self.lists.is_empty() {
                    self.indent = 0;
                    self.blank();
                }
            }
            TagEnd::Item => {
                self.flush();
                self.bullet = None;
            }
            TagEnd::Emphasis | TagEnd::Strong | TagEnd::Strikethrough => {
                self.styles.pop();
            }
            TagEnd::BlockQuote(_) => {
                self.flush();
                self.quote = self.quote.saturating_sub(1);
                self.blank();
            }
            TagEnd::Link => {
                self.styles.pop();
                if let Some(url) = self.link.pop() {
                    let shown = self.spans.last().is_some_and(|s| s.content.as_ref() == url);
                    if !shown {
                        self.push(
                            format!(" ({url})"),
                            Style::new().add_modifier(Modifier::DIM),
                        );
                    }
                }
            }
            _ => {}
        }
    }
}

const KEYWORDS: &[&str] = &[
    "fn",
    "let",
    "mut",
    "pub",
    "use",
    "mod",
    "struct",
    "enum",
    "impl",
    "trait",
    "match",
    "if",
    "else",
    "for",
    "while",
    "loop",
    "return",
    "in",
    "def",
    "class",
    "import",
    "from",
    "const",
    "var",
    "function",
    "async",
    "await",
    "export",
    "type",
    "interface",
    "package",
    "func",
    "go",
    "true",
    "false",
    "None",
    "null",
    "nil",
    "self",
    "Self",
    "static",
    "void",
    "int",
    "break",
    "continue",
    "try",
    "catch",
    "except",
    "raise",
    "throw",
    "new",
    "echo",
    "then",
    "fi",
    "do",
    "done",
    "elif",
    "case",
    "esac",
    "where",
    "as",
    "with",
    "yield",
    "lambda",
];

/// Code lines with strings, comments, numbers and keywords coloured. Work
/// is linear in the input and capped: a block over [`HIGHLIGHT_MAX_BLOCK`]
/// bytes, or a line over [`HIGHLIGHT_MAX_LINE`], is left plain.
pub fn highlight(lang: &str, code: &str) -> Vec<Line<'static>> {
    let base = Style::new().fg(Color::Gray);
    let plain = code.len() > HIGHLIGHT_MAX_BLOCK;
    let hash_comments = matches!(
        lang,
        "sh" | "bash"
            | "zsh"
            | "shell"
            | "console"
            | "python"
            | "py"
            | "toml"
            | "yaml"
            | "yml"
            | "ruby"
            | "rb"
            | "perl"
    );
    code.lines()
        .map(|line| {
            if plain || line.len() > HIGHLIGHT_MAX_LINE || lang.is_empty() {
                return Line::from(Span::styled(line.to_string(), base));
            }
            highlight_line(line, hash_comments, base)
        })
        .collect()
}

fn highlight_line(line: &str, hash_comments: bool, base: Style) -> Line<'static> {
    let mut spans: Vec<Span<'static>> = Vec::new();
    let bytes = line.as_bytes();
    let mut i = 0;
    let mut plain_start = 0;
    let flush_plain = |spans: &mut Vec<Span<'static>>, from: usize, to: usize| {
        if from < to {
            spans.push(Span::styled(line[from..to].to_string(), base));
        }
    };
    while i < bytes.len() {
        let c = bytes[i];
        let rest = &line[i..];
        let comment = rest.starts_with("//") || (hash_comments && c == b'#');
        if comment {
            flush_plain(&mut spans, plain_start, i);
            spans.push(Span::styled(
                rest.to_string(),
                Style::new()
                    .fg(Color::DarkGray)
                    .add_modifier(Modifier::ITALIC),
            ));
            return Line::from(spans);
        }
        if c == b'"' || c == b'\'' {
            flush_plain(&mut spans, plain_start, i);
            let mut j = i + 1;
            while j < bytes.len() && bytes[j] != c {
                j += if bytes[j] == b'\\' { 2 } else { 1 };
            }
            let end = (j + 1).min(bytes.len());
            spans.push(Span::styled(
                line[i..end].to_string(),
                Style::new().fg(Color::Green),
            ));
            i = end;
            plain_start = i;
            continue;
        }
        if c.is_ascii_alphanumeric() || c == b'_' {
            let mut j = i;
            while j < bytes.len() && (bytes[j].is_ascii_alphanumeric() || bytes[j] == b'_') {
                j += 1;
            }
            let word = &line[i..j];
            let style = if c.is_ascii_digit() {
                Some(Style::new().fg(Color::Magenta))
            } else if KEYWORDS.contains(&word) {
                Some(Style::new().fg(Color::Blue).add_modifier(Modifier::BOLD))
            } else {
                None
            };
            if let Some(style) = style {
                flush_plain(&mut spans, plain_start, i);
                spans.push(Span::styled(word.to_string(), style));
                plain_start = j;
            }
            i = j;
            continue;
        }
        // Step over a whole character.
        i += line[i..].chars().next().map_or(1, char::len_utf8);
    }
    flush_plain(&mut spans, plain_start, bytes.len());
    Line::from(spans)
}

/// Splits streaming markdown where it is safe to commit a prefix: after
/// the last blank line outside a code fence. Returns the byte offset.
pub fn commit_point(text: &str) -> usize {
    let mut fence = false;
    let mut point = 0;
    let mut offset = 0;
    for line in text.split_inclusive('\n') {
        let trimmed = line.trim_start();
        if trimmed.starts_with("```") || trimmed.starts_with("~~~") {
            fence = !fence;
        }
        offset += line.len();
        if !fence && line.trim().is_empty() && line.ends_with('\n') {
            point = offset;
        }
    }
    point
}
