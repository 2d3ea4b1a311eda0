//! An MCP server's question (`elicitation/create`) as a form in place of
//! the composer: one field per property of the requested flat schema
//! (string, number, integer, boolean, single and multiple choice),
//! required fields marked, values checked against their type when the
//! user accepts, with the reason shown under the form.

use crate::cells;
use crossterm::event::{KeyCode, KeyEvent, KeyModifiers};
use ratatui::style::Stylize;
use ratatui::text::{Line, Span};
use serde_json::{Map, Number, Value};

/// A server's question, as the MCP client hands it over.
#[derive(Debug, Clone, PartialEq)]
pub struct ElicitRequest {
    /// The server's name.
    pub server: String,
    /// What it says.
    pub message: String,
    /// The requested schema (an object with flat `properties`), or
    /// `{"url": URL}` for a URL elicitation.
    pub schema: Value,
}

/// The user's answer.
#[derive(Debug, Clone, PartialEq)]
pub enum ElicitAnswer {
    /// The form, filled in (an object; `null` for a URL elicitation,
    /// which carries no content).
    Accept(Value),
    /// The user said no.
    Decline,
    /// The user dismissed it (or interrupted the turn).
    Cancel,
}

/// What the keys of the form do, shown in its footer.
pub const FOOTER: &str =
    "Tab/↑↓ move · Space/←→ change · Enter next, on the last accept · Ctrl+S accept · Ctrl+D decline · Esc cancel";

/// What a field holds.
#[derive(Debug, Clone, PartialEq)]
enum Kind {
    /// Free text (`format` checked for `email`, `uri`, `date`).
    Text {
        format: Option<String>,
        min_len: Option<u64>,
        max_len: Option<u64>,
    },
    /// A number, within bounds.
    Number {
        integer: bool,
        min: Option<f64>,
        max: Option<f64>,
    },
    /// Yes or no (`None`: not given).
    Bool(Option<bool>),
    /// One of `values` (`labels` shown); `None`: not chosen.
    Choice {
        values: Vec<String>,
        labels: Vec<String>,
        chosen: Option<usize>,
    },
    /// Some of `values`; `cursor` is the one Space toggles.
    Many {
        values: Vec<String>,
        labels: Vec<String>,
        chosen: Vec<bool>,
        cursor: usize,
    },
    /// A type the form cannot take (left out of the answer).
    Unsupported(String),
}

/// One field of the form.
#[derive(Debug, Clone, PartialEq)]
struct Field {
    name: String,
    label: String,
    description: Option<String>,
    required: bool,
    /// Typed text (text and number fields).
    text: String,
    kind: Kind,
}

/// Most lines of a server's message kept for the form.
const MESSAGE_LINES: usize = 64;

/// Most characters of a line of text from a server shown in the form.
const SHOWN_CHARS: usize = 240;

/// Most characters of a URL shown.
const SHOWN_URL_CHARS: usize = 2048;

/// Most choices of a multiple choice shown at once (around the cursor).
const SHOWN_CHOICES: usize = 16;

/// `text` made safe to print, cut at [`SHOWN_CHARS`] characters.
fn shown(text: &str) -> String {
    cut(text, SHOWN_CHARS)
}

/// `text` made safe to print, cut at `max` characters.
fn cut(text: &str, max: usize) -> String {
    let mut out: String = text.chars().take(max).collect();
    if text.chars().nth(max).is_some() {
        out.push('…');
    }
    cells::clean(&out)
}

/// The end of `text` (where typing goes), made safe to print.
fn shown_end(text: &str) -> String {
    let n = text.chars().count();
    if n <= SHOWN_CHARS {
        return cells::clean(text);
    }
    let end: String = text.chars().skip(n - SHOWN_CHARS).collect();
    format!("…{}", cells::clean(&end))
}

/// The form being filled in.
#[derive(Debug, Clone, PartialEq)]
pub struct Form {
    server: String,
    /// The message's first lines, made safe to print and cut.
    message: Vec<String>,
    /// How many lines the message has in all.
    message_lines: usize,
    url: Option<String>,
    fields: Vec<Field>,
    focus: usize,
    error: Option<String>,
}

fn strings(v: Option<&Value>) -> Option<Vec<String>> {
    v?.as_array()?
        .iter()
        .map(|s| s.as_str().map(str::to_string))
        .collect()
}

/// Values and labels of an enum: `enum` (+ legacy `enumNames`), or
/// `oneOf`/`anyOf` of `{const, title}`.
fn options(schema: &Value) -> Option<(Vec<String>, Vec<String>)> {
    if let Some(values) = strings(schema.get("enum")) {
        let labels = strings(schema.get("enumNames"))
            .filter(|l| l.len() == values.len())
            .unwrap_or_else(|| values.clone());
        return Some((values, labels));
    }
    let list = schema
        .get("oneOf")
        .or_else(|| schema.get("anyOf"))?
        .as_array()?;
    let mut values = Vec::new();
    let mut labels = Vec::new();
    for o in list {
        let v = o.get("const")?.as_str()?.to_string();
        labels.push(
            o.get("title")
                .and_then(Value::as_str)
                .map_or_else(|| v.clone(), str::to_string),
        );
        values.push(v);
    }
    Some((values, labels))
}

fn field(name: &str, schema: &Value, required: bool) -> Field {
    let s = |k: &str| schema.get(k).and_then(Value::as_str).map(str::to_string);
    let f = |k: &str| schema.get(k).and_then(Value::as_f64);
    let u = |k: &str| schema.get(k).and_then(Value::as_u64);
    let default = schema.get("default");
    let mut text = String::new();
    let kind = match (s("type").as_deref(), options(schema)) {
        (Some("string") | None, Some((values, labels))) => {
            let chosen = default
                .and_then(Value::as_str)
                .and_then(|d| values.iter().position(|v| v == d))
                .or(if required { Some(0) } else { None });
            Kind::Choice {
                values,
                labels,
                chosen,
            }
        }
        (Some("array"), _) => match schema.get("items").and_then(options) {
            Some((values, labels)) => {
                let given = strings(default).unwrap_or_default();
                let chosen = values.iter().map(|v| given.contains(v)).collect();
                Kind::Many {
                    values,
                    labels,
                    chosen,
                    cursor: 0,
                }
            }
            None => Kind::Unsupported("array".into()),
        },
        (Some("string"), None) => {
            if let Some(d) = default.and_then(Value::as_str) {
                text = d.to_string();
            }
            Kind::Text {
                format: s("format"),
                min_len: u("minLength"),
                max_len: u("maxLength"),
            }
        }
        (Some(t @ ("number" | "integer")), _) => {
            if let Some(d) = default.filter(|d| d.is_number()) {
                text = d.to_string();
            }
            Kind::Number {
                integer: t == "integer",
                min: f("minimum"),
                max: f("maximum"),
            }
        }
        (Some("boolean"), _) => Kind::Bool(default.and_then(Value::as_bool).or(if required {
            Some(false)
        } else {
            None
        })),
        (other, _) => Kind::Unsupported(other.unwrap_or("untyped").to_string()),
    };
    Field {
        name: name.to_string(),
        label: s("title").unwrap_or_else(|| name.to_string()),
        description: s("description"),
        required,
        text,
        kind,
    }
}

impl Form {
    /// The form for `request`: the required fields first, then the
    /// others, each group by name.
    pub fn new(request: &ElicitRequest) -> Form {
        let schema = &request.schema;
        let url = schema
            .get("url")
            .and_then(Value::as_str)
            .map(str::to_string);
        let required = strings(schema.get("required")).unwrap_or_default();
        let mut fields: Vec<Field> = schema
            .get("properties")
            .and_then(Value::as_object)
            .map(|props| {
                props
                    .iter()
                    .map(|(name, s)| field(name, s, required.contains(name)))
                    .collect()
            })
            .unwrap_or_default();
        // The schema's own order does not survive the MCP SDK (its
        // properties are a sorted map): required fields come first, each
        // group by name.
        fields.sort_by_key(|f| !f.required);
        Form {
            server: request.server.clone(),
            message: request
                .message
                .lines()
                .take(MESSAGE_LINES)
                .map(shown)
                .collect(),
            message_lines: request.message.lines().count(),
            url,
            fields,
            focus: 0,
            error: None,
        }
    }

    /// The server that asks.
    pub fn server(&self) -> &str {
        &self.server
    }

    /// The form's answer for `key`, once there is one.
    pub fn key(&mut self, key: &KeyEvent) -> Option<ElicitAnswer> {
        let ctrl = key.modifiers.contains(KeyModifiers::CONTROL);
        let last = self.fields.len().saturating_sub(1);
        match key.code {
            KeyCode::Esc => return Some(ElicitAnswer::Cancel),
            KeyCode::Char('c') if ctrl => return Some(ElicitAnswer::Cancel),
            KeyCode::Char('d') if ctrl => return Some(ElicitAnswer::Decline),
            KeyCode::Char('s') if ctrl => return self.submit(),
            KeyCode::Enter if self.focus >= last => return self.submit(),
            KeyCode::Enter | KeyCode::Tab | KeyCode::Down => {
                self.focus = (self.focus + 1).min(last)
            }
            KeyCode::BackTab | KeyCode::Up => self.focus = self.focus.saturating_sub(1),
            _ => {
                if let Some(f) = self.fields.get_mut(self.focus) {
                    edit(f, key);
                }
            }
        }
        None
    }

    /// Accepts when every value checks out; otherwise shows why and moves
    /// to the field at fault.
    fn submit(&mut self) -> Option<ElicitAnswer> {
        let mut content = Map::new();
        for (i, f) in self.fields.iter().enumerate() {
            match value(f) {
                Ok(Some(v)) => {
                    content.insert(f.name.clone(), v);
                }
                Ok(None) => {}
                Err(why) => {
                    self.focus = i;
                    self.error = Some(format!("{}: {why}", f.label));
                    return None;
                }
            }
        }
        if self.url.is_some() && self.fields.is_empty() {
            return Some(ElicitAnswer::Accept(Value::Null));
        }
        Some(ElicitAnswer::Accept(Value::Object(content)))
    }

    /// The form's lines for a viewport at most `max_rows` tall and `width`
    /// columns wide: the fields around the focused one when not all fit.
    /// Rows are counted as drawn (wrapped at `width`): on a narrow terminal
    /// the wrapped footer takes rows from the fields, not from the viewport.
    pub fn lines(&self, max_rows: usize, width: u16) -> Vec<Line<'static>> {
        let drawn = |lines: &[Line<'static>]| usize::from(crate::app::line_count(lines, width));
        let mut head = vec![Line::from(vec![
            "MCP server ".bold().yellow(),
            shown(&self.server).bold().yellow(),
            " asks:".bold().yellow(),
        ])];
        // At most half the rows for the message: the fields and the keys
        // stay in view however long it is.
        let room = (max_rows / 2).max(2);
        let show = if self.message_lines > room {
            room - 1
        } else {
            self.message_lines
        };
        for l in self.message.iter().take(show) {
            head.push(Line::from(l.clone()));
        }
        if show < self.message_lines {
            head.push(Line::from(
                format!("… {} more lines", self.message_lines - show).dim(),
            ));
        }
        if let Some(url) = &self.url {
            head.push(Line::from(vec![
                "open: ".dim(),
                cut(url, SHOWN_URL_CHARS).underlined(),
            ]));
        }
        let mut tail = Vec::new();
        if let Some(e) = &self.error {
            tail.push(Line::from(format!("✗ {}", shown(e)).red()));
        }
        tail.push(Line::from(FOOTER.dim()));
        let rows: Vec<Vec<Line<'static>>> = self
            .fields
            .iter()
            .enumerate()
            .map(|(i, f)| field_lines(f, i == self.focus))
            .collect();
        let heights: Vec<usize> = rows.iter().map(|r| drawn(r)).collect();
        // Two blank rows around the fields.
        let room = max_rows
            .saturating_sub(drawn(&head) + drawn(&tail) + 2)
            .max(2);
        // The fields from `first` on, as many as fit with the focused one.
        let mut first = 0;
        let fits = |first: usize, upto: usize| -> bool {
            let used: usize = heights[first..=upto].iter().sum();
            let marks = usize::from(first > 0) + usize::from(upto + 1 < rows.len());
            used + marks <= room
        };
        if !rows.is_empty() {
            while first < self.focus && !fits(first, self.focus) {
                first += 1;
            }
        }
        let mut body = Vec::new();
        if first > 0 {
            body.push(Line::from(format!("  … {first} more above").dim()));
        }
        let mut shown = first;
        let mut used = usize::from(first > 0);
        for (r, height) in rows.iter().zip(&heights).skip(first) {
            let rest_mark = usize::from(shown + 1 < rows.len());
            if used + height + rest_mark > room && shown > self.focus {
                break;
            }
            used += height;
            body.extend(r.iter().cloned());
            shown += 1;
        }
        if shown < rows.len() {
            body.push(Line::from(
                format!("  … {} more below", rows.len() - shown).dim(),
            ));
        }
        if self.fields.is_empty() && self.url.is_none() {
            body.push(Line::from("  (no fields: accept to say yes)".dim()));
        }
        head.push(Line::default());
        head.extend(body);
        head.push(Line::default());
        head.extend(tail);
        head
    }
}

/// A field's row (and its description when focused).
fn field_lines(f: &Field, focused: bool) -> Vec<Line<'static>> {
    let marker = if focused {
        "› ".cyan().bold()
    } else {
        Span::raw("  ")
    };
    let mut label = shown(&f.label);
    if f.required {
        label.push_str(" *");
    }
    let label = if focused {
        label.cyan().bold()
    } else {
        label.bold()
    };
    let value: Vec<Span<'static>> = match &f.kind {
        Kind::Text { .. } | Kind::Number { .. } => {
            let mut v = vec![Span::raw(shown_end(&f.text))];
            if focused {
                v.push("▏".cyan());
            }
            v
        }
        Kind::Bool(b) => vec![Span::raw(
            match b {
                Some(true) => "[x] yes",
                Some(false) => "[ ] no",
                None => "[ ] (not given)",
            }
            .to_string(),
        )],
        Kind::Choice { labels, chosen, .. } => {
            let now = chosen
                .and_then(|i| labels.get(i))
                .map_or_else(|| "(none)".to_string(), |l| shown(l));
            vec![Span::raw(format!("‹ {now} › ({} choices)", labels.len()))]
        }
        Kind::Many {
            labels,
            chosen,
            cursor,
            ..
        } => {
            // A window of the choices around the cursor.
            let first = cursor.saturating_sub(SHOWN_CHOICES / 2);
            let end = (first + SHOWN_CHOICES).min(labels.len());
            let first = end.saturating_sub(SHOWN_CHOICES);
            let mut v = Vec::new();
            if first > 0 {
                v.push(format!("… {first} more ").dim());
            }
            for (i, l) in labels.iter().enumerate().take(end).skip(first) {
                if i > first {
                    v.push(Span::raw(" "));
                }
                let mark = if chosen.get(i).copied().unwrap_or(false) {
                    "[x]"
                } else {
                    "[ ]"
                };
                let item = format!("{mark} {}", shown(l));
                v.push(if focused && i == *cursor {
                    item.cyan().underlined()
                } else {
                    Span::raw(item)
                });
            }
            if end < labels.len() {
                v.push(format!(" … {} more", labels.len() - end).dim());
            }
            v
        }
        Kind::Unsupported(t) => vec![format!("({t}: cannot be entered here; left out)").dim()],
    };
    let mut first = vec![marker, label, Span::raw(": ")];
    first.extend(value);
    let mut out = vec![Line::from(first)];
    if focused {
        if let Some(d) = &f.description {
            out.push(Line::from(format!("    {}", shown(d)).dim()));
        }
    }
    out
}

/// A key on the focused field.
fn edit(f: &mut Field, key: &KeyEvent) {
    if key.modifiers.contains(KeyModifiers::CONTROL) {
        return;
    }
    match (&mut f.kind, key.code) {
        (Kind::Text { .. } | Kind::Number { .. }, KeyCode::Char(c)) => f.text.push(c),
        (Kind::Text { .. } | Kind::Number { .. }, KeyCode::Backspace) => {
            f.text.pop();
        }
        (Kind::Bool(b), KeyCode::Char(' ') | KeyCode::Left | KeyCode::Right) => {
            *b = Some(!b.unwrap_or(false))
        }
        (Kind::Bool(b), KeyCode::Char('y')) => *b = Some(true),
        (Kind::Bool(b), KeyCode::Char('n')) => *b = Some(false),
        (Kind::Choice { values, chosen, .. }, code) => {
            // Cycling passes through "none" when the field is optional.
            let n = values.len() + usize::from(!f.required);
            if n == 0 {
                return;
            }
            let at = match *chosen {
                Some(i) => i,
                None => values.len(),
            };
            let next = match code {
                KeyCode::Char(' ') | KeyCode::Right => (at + 1) % n,
                KeyCode::Left => (at + n - 1) % n,
                _ => return,
            };
            *chosen = (next < values.len()).then_some(next);
        }
        (
            Kind::Many {
                values,
                chosen,
                cursor,
                ..
            },
            code,
        ) => match code {
            KeyCode::Left => *cursor = cursor.saturating_sub(1),
            KeyCode::Right => *cursor = (*cursor + 1).min(values.len().saturating_sub(1)),
            KeyCode::Char(' ') => {
                if let Some(c) = chosen.get_mut(*cursor) {
                    *c = !*c;
                }
            }
            _ => {}
        },
        _ => {}
    }
}

/// The field's value for the answer (`None`: left out), or why it is
/// not acceptable.
fn value(f: &Field) -> Result<Option<Value>, String> {
    let text = f.text.trim();
    let missing = || {
        if f.required {
            Err("required".to_string())
        } else {
            Ok(None)
        }
    };
    match &f.kind {
        Kind::Text {
            format,
            min_len,
            max_len,
        } => {
            if f.text.is_empty() {
                return missing();
            }
            let len = f.text.chars().count() as u64;
            if let Some(min) = min_len.filter(|m| len < *m) {
                return Err(format!("at least {min} characters"));
            }
            if let Some(max) = max_len.filter(|m| len > *m) {
                return Err(format!("at most {max} characters"));
            }
            match format.as_deref() {
                Some("email") if !is_email(text) => {
                    return Err("not an email address (name@domain)".into())
                }
                Some("uri") if !text.contains("://") => {
                    return Err("not a URI (scheme://...)".into())
                }
                Some("date") if !is_date(text) => return Err("not a date (YYYY-MM-DD)".into()),
                _ => {}
            }
            Ok(Some(Value::String(f.text.clone())))
        }
        Kind::Number { integer, min, max } => {
            if text.is_empty() {
                return missing();
            }
            let n: Number = if *integer {
                text.parse::<i64>()
                    .map(Number::from)
                    .map_err(|_| format!("not an integer: {text}"))?
            } else {
                text.parse::<f64>()
                    .ok()
                    .filter(|x| x.is_finite())
                    .and_then(Number::from_f64)
                    .ok_or_else(|| format!("not a number: {text}"))?
            };
            let x = n.as_f64().unwrap_or(0.0);
            if let Some(min) = min.filter(|m| x < *m) {
                return Err(format!("at least {min}"));
            }
            if let Some(max) = max.filter(|m| x > *m) {
                return Err(format!("at most {max}"));
            }
            Ok(Some(Value::Number(n)))
        }
        Kind::Bool(b) => match b {
            Some(b) => Ok(Some(Value::Bool(*b))),
            None => missing(),
        },
        Kind::Choice { values, chosen, .. } => match chosen.and_then(|i| values.get(i)) {
            Some(v) => Ok(Some(Value::String(v.clone()))),
            None => missing(),
        },
        Kind::Many { values, chosen, .. } => {
            let picked: Vec<Value> = values
                .iter()
                .zip(chosen)
                .filter(|(_, c)| **c)
                .map(|(v, _)| Value::String(v.clone()))
                .collect();
            if picked.is_empty() {
                return missing();
            }
            Ok(Some(Value::Array(picked)))
        }
        Kind::Unsupported(t) if f.required => Err(format!(
            "required, but a {t} cannot be entered here: decline (Ctrl+D) or cancel (Esc)"
        )),
        Kind::Unsupported(_) => Ok(None),
    }
}

fn is_email(s: &str) -> bool {
    match s.split_once('@') {
        Some((user, domain)) => {
            !user.is_empty() && domain.contains('.') && !domain.starts_with('.') && !s.contains(' ')
        }
        None => false,
    }
}

fn is_date(s: &str) -> bool {
    let b = s.as_bytes();
    b.len() == 10
        && b[4] == b'-'
        && b[7] == b'-'
        && b.iter()
            .enumerate()
            .all(|(i, c)| i == 4 || i == 7 || c.is_ascii_digit())
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    fn key(code: KeyCode) -> KeyEvent {
        KeyEvent::new(code, KeyModifiers::NONE)
    }

    fn ctrl(c: char) -> KeyEvent {
        KeyEvent::new(KeyCode::Char(c), KeyModifiers::CONTROL)
    }

    fn typed(form: &mut Form, text: &str) {
        for c in text.chars() {
            assert_eq!(form.key(&key(KeyCode::Char(c))), None);
        }
    }

    fn form() -> Form {
        Form::new(&ElicitRequest {
            server: "t".into(),
            message: "Who?".into(),
            schema: json!({
                "type": "object",
                "properties": {
                    "name": {"type": "string"},
                    "age": {"type": "integer", "minimum": 0, "maximum": 150},
                    "ok": {"type": "boolean"},
                    "color": {"type": "string", "enum": ["red", "green"]},
                    "tags": {"type": "array", "items": {"anyOf": [{"const": "a", "title": "A"}, {"const": "b", "title": "B"}]}},
                    "mail": {"type": "string", "format": "email"},
                },
                "required": ["name", "age"],
            }),
        })
    }

    #[test]
    fn values_are_type_checked_on_accept_and_the_error_names_the_field() {
        let mut f = form();
        // Required fields first (age, name), then the others by name.
        let order: Vec<&str> = f.fields.iter().map(|f| f.name.as_str()).collect();
        assert_eq!(order, ["age", "name", "color", "mail", "ok", "tags"]);
        assert_eq!(f.key(&ctrl('s')), None);
        assert_eq!(f.error.as_deref(), Some("age: required"));
        typed(&mut f, "2x");
        f.key(&key(KeyCode::Enter));
        typed(&mut f, "Ada");
        assert_eq!(f.key(&ctrl('s')), None);
        assert_eq!(f.error.as_deref(), Some("age: not an integer: 2x"));
        assert_eq!(f.focus, 0, "the field at fault gets the focus");
        f.key(&key(KeyCode::Backspace));
        typed(&mut f, "00");
        assert_eq!(f.key(&ctrl('s')), None);
        assert_eq!(f.error.as_deref(), Some("age: at most 150"));
        f.key(&key(KeyCode::Backspace));
        f.key(&key(KeyCode::Backspace));
        f.key(&key(KeyCode::Tab));
        f.key(&key(KeyCode::Tab));
        f.key(&key(KeyCode::Right)); // color: none -> red
        f.key(&key(KeyCode::Right)); // -> green
        f.key(&key(KeyCode::Tab));
        typed(&mut f, "nope");
        f.key(&key(KeyCode::Tab));
        f.key(&key(KeyCode::Char(' '))); // ok: yes
        f.key(&key(KeyCode::Tab));
        f.key(&key(KeyCode::Right));
        f.key(&key(KeyCode::Char(' '))); // tags: B
        assert_eq!(f.key(&key(KeyCode::Enter)), None, "the last field accepts");
        assert_eq!(
            f.error.as_deref(),
            Some("mail: not an email address (name@domain)")
        );
        assert_eq!(f.focus, 3);
        typed(&mut f, "@x.org");
        assert_eq!(
            f.key(&ctrl('s')),
            Some(ElicitAnswer::Accept(json!({
                "name": "Ada", "age": 2, "ok": true, "color": "green",
                "tags": ["b"], "mail": "nope@x.org"
            })))
        );
    }

    #[test]
    fn decline_and_cancel() {
        let mut f = form();
        typed(&mut f, "d"); // a plain d is text
        assert_eq!(f.key(&ctrl('d')), Some(ElicitAnswer::Decline));
        assert_eq!(f.key(&key(KeyCode::Esc)), Some(ElicitAnswer::Cancel));
        assert_eq!(f.key(&ctrl('c')), Some(ElicitAnswer::Cancel));
    }

    #[test]
    fn a_url_elicitation_shows_the_url_and_accepts_without_content() {
        let mut f = Form::new(&ElicitRequest {
            server: "auth".into(),
            message: "Sign in".into(),
            schema: json!({"url": "https://example.com/login"}),
        });
        let text: Vec<String> = f.lines(20, 80).iter().map(|l| l.to_string()).collect();
        assert!(
            text.contains(&"open: https://example.com/login".to_string()),
            "{text:?}"
        );
        assert_eq!(
            f.key(&key(KeyCode::Enter)),
            Some(ElicitAnswer::Accept(Value::Null))
        );
    }

    #[test]
    fn a_huge_message_or_schema_is_cut_and_leaves_the_fields_and_keys_in_view() {
        let message = "word ".repeat(2_000_000) + "\n" + &"line\n".repeat(100_000);
        let f = Form::new(&ElicitRequest {
            server: "big".into(),
            message,
            schema: json!({"properties": {"a": {"type": "string"}}}),
        });
        let text: Vec<String> = f.lines(20, 80).iter().map(|l| l.to_string()).collect();
        assert!(text.len() <= 20, "{} lines", text.len());
        let chars: usize = text.iter().map(|l| l.chars().count()).sum();
        assert!(chars < 20 * 300, "{chars} characters for 20 rows");
        assert!(text.iter().any(|l| l.starts_with("› a: ")), "{text:?}");
        assert!(
            text.iter().any(|l| l.starts_with("Tab/↑↓ move")),
            "{text:?}"
        );
        assert!(text.iter().any(|l| l == "… 99992 more lines"), "{text:?}");
        // So are a field's huge title, description, default and choices.
        let big = "x".repeat(5_000_000);
        let choices: Vec<String> = (0..100_000).map(|i| format!("c{i}")).collect();
        let mut f = Form::new(&ElicitRequest {
            server: "big".into(),
            message: "m".into(),
            schema: json!({"properties": {
                "a": {"type": "string", "title": big, "description": big, "default": big},
                "b": {"type": "array", "items": {"enum": choices}},
            }, "required": ["a"]}),
        });
        for _ in 0..2 {
            let text: Vec<String> = f.lines(20, 80).iter().map(|l| l.to_string()).collect();
            let chars: usize = text.iter().map(|l| l.chars().count()).sum();
            assert!(chars < 20 * 300, "{chars} characters for 20 rows");
            f.key(&key(KeyCode::Tab));
        }
        // Control: a short message is shown whole.
        let f = Form::new(&ElicitRequest {
            server: "small".into(),
            message: "one\ntwo".into(),
            schema: json!({"properties": {"a": {"type": "string"}}}),
        });
        let text: Vec<String> = f.lines(20, 80).iter().map(|l| l.to_string()).collect();
        assert_eq!(text[1..3], ["one", "two"]);
    }

    #[test]
    fn defaults_fill_the_fields_and_optional_ones_are_left_out() {
        let mut f = Form::new(&ElicitRequest {
            server: "t".into(),
            message: String::new(),
            schema: json!({"properties": {
                "n": {"type": "number", "default": 3.5},
                "s": {"type": "string", "default": "x"},
                "pet": {"type": "string", "enum": ["p1", "p2"], "enumNames": ["Cat", "Dog"], "default": "p2"},
                "skip": {"type": "string"},
                "obj": {"type": "object"},
            }}),
        });
        assert_eq!(
            f.key(&ctrl('s')),
            Some(ElicitAnswer::Accept(
                json!({"n": 3.5, "s": "x", "pet": "p2"})
            ))
        );
    }
}
