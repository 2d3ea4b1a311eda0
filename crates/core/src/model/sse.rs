//! An incremental Server-Sent Events parser (the subset model APIs use:
//! `event:`, `data:` (multi-line), comments, blank-line dispatch).

use super::StreamError;

/// One dispatched event.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct SseEvent {
    /// The `event:` field, or `message`.
    pub event: String,
    /// The `data:` lines joined with newlines.
    pub data: String,
}

/// Feeds bytes in, takes events out. Bytes may split anywhere, even inside
/// a UTF-8 character.
#[derive(Debug, Default)]
pub struct SseParser {
    buf: Vec<u8>,
    event: Option<String>,
    data: Option<String>,
}

/// Largest line accepted (a whole JSON event usually sits on one line).
pub const MAX_LINE: usize = 8 * 1024 * 1024;

impl SseParser {
    /// A new parser.
    pub fn new() -> Self {
        Self::default()
    }

    /// Adds bytes; returns the events they complete.
    pub fn feed(&mut self, bytes: &[u8]) -> Result<Vec<SseEvent>, StreamError> {
        self.buf.extend_from_slice(bytes);
        let mut out = Vec::new();
        let mut start = 0;
        while let Some(i) = self.buf[start..].iter().position(|&b| b == b'\n') {
            let end = start + i;
            let mut line = &self.buf[start..end];
            if line.ends_with(b"\r") {
                line = &line[..line.len() - 1];
            }
            let line = String::from_utf8_lossy(line).into_owned();
            start = end + 1;
            if let Some(e) = self.line(&line) {
                out.push(e);
            }
        }
        self.buf.drain(..start);
        if self.buf.len() > MAX_LINE {
            return Err(StreamError::TooLarge(MAX_LINE));
        }
        Ok(out)
    }

    fn line(&mut self, line: &str) -> Option<SseEvent> {
        if line.is_empty() {
            let data = self.data.take()?;
            let event = self.event.take().unwrap_or_else(|| "message".into());
            return Some(SseEvent { event, data });
        }
        if line.starts_with(':') {
            return None;
        }
        let (field, value) = match line.split_once(':') {
            Some((f, v)) => (f, v.strip_prefix(' ').unwrap_or(v)),
            None => (line, ""),
        };
        match field {
            "event" => self.event = Some(value.to_string()),
            "data" => match &mut self.data {
                Some(d) => {
                    d.push('\n');
                    d.push_str(value);
                }
                None => self.data = Some(value.to_string()),
            },
            _ => {}
        }
        None
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn events_split_anywhere_with_comments_and_multiline_data() {
        let text = ": keep-alive\r\nevent: a\r\ndata: {\"x\":\r\ndata: 1}\r\n\r\ndata: é\n\n";
        let bytes = text.as_bytes();
        for cut in 0..bytes.len() {
            let mut p = SseParser::new();
            let mut got = p.feed(&bytes[..cut]).unwrap();
            got.extend(p.feed(&bytes[cut..]).unwrap());
            assert_eq!(
                got,
                vec![
                    SseEvent {
                        event: "a".into(),
                        data: "{\"x\":\n1}".into()
                    },
                    SseEvent {
                        event: "message".into(),
                        data: "é".into()
                    },
                ],
                "cut at {cut}"
            );
        }
    }

    #[test]
    fn an_endless_line_is_refused() {
        let mut p = SseParser::new();
        assert!(p.feed(&vec![b'a'; MAX_LINE + 1]).is_err());
    }
}
