//! Server-Sent Events for the model streams, decoded by the `sse-stream`
//! crate (the decoder rmcp uses) behind a push interface: bytes in as they
//! arrive, events out. Events without `data` (keep-alives) are dropped; a
//! line longer than [`MAX_LINE`] or an event longer than [`MAX_EVENT`] is
//! refused.
//!
//! `sse-stream` fails the whole stream on lines the WHATWG EventSource
//! parsing rules accept or ignore, so each complete line is normalised
//! first ([`Normaliser`]): what the spec ignores (comments, unknown fields,
//! `id:` and `retry:`, which cordon does not use) is dropped, a bare `data`
//! becomes `data:`, only the last `event:` of an event is passed on (just
//! before the blank line that ends it), and invalid UTF-8 is decoded with
//! replacement characters, as the spec does.

use super::StreamError;
use bytes::Bytes;
use std::cell::RefCell;
use std::collections::VecDeque;
use std::pin::Pin;
use std::rc::Rc;
use std::task::{Context, Poll};

/// One dispatched event.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct SseEvent {
    /// The `event:` field, or `message` (also when it is empty).
    pub event: String,
    /// The `data:` lines joined with newlines.
    pub data: String,
}

/// Largest line accepted (a whole JSON event usually sits on one line).
pub const MAX_LINE: usize = 8 * 1024 * 1024;

/// Largest event accepted (its lines up to the blank line that ends it).
pub const MAX_EVENT: usize = 32 * 1024 * 1024;

/// The UTF-8 byte order mark the spec strips from the stream's start.
const BOM: &[u8] = b"\xEF\xBB\xBF";

/// The bytes fed and not yet taken by the decoder; "pending" when empty,
/// so the decoder keeps its partial line for the next feed.
#[derive(Default)]
struct Feed(Rc<RefCell<VecDeque<Bytes>>>);

impl futures_core::Stream for Feed {
    type Item = Result<Bytes, std::convert::Infallible>;

    fn poll_next(self: Pin<&mut Self>, _: &mut Context<'_>) -> Poll<Option<Self::Item>> {
        match self.0.borrow_mut().pop_front() {
            Some(b) => Poll::Ready(Some(Ok(b))),
            None => Poll::Pending,
        }
    }
}

type Decoder = sse_stream::SseStream<sse_stream::ByteStreamBody<Feed, Bytes>>;

/// Rewrites complete lines (without their line end) into lines the
/// decoder accepts and reads as the spec would, each ended by `\n`.
#[derive(Debug, Default)]
struct Normaliser {
    /// Whether a line was seen (a BOM counts only before the first).
    started: bool,
    /// The last `event:` line of the current event, held until its end.
    event: Option<String>,
}

impl Normaliser {
    /// Appends the normalised form of `line` (maybe nothing) to `out`.
    fn line(&mut self, mut line: &[u8], out: &mut Vec<u8>) {
        if !self.started {
            self.started = true;
            line = line.strip_prefix(BOM).unwrap_or(line);
        }
        if line.is_empty() {
            if let Some(event) = self.event.take() {
                // The decoder strips one space after the colon, as the spec.
                out.extend_from_slice(b"event: ");
                out.extend_from_slice(event.as_bytes());
                out.push(b'\n');
            }
            out.push(b'\n');
            return;
        }
        // No colon: the whole line names a field with an empty value.
        let (name, value) = match line.iter().position(|&b| b == b':') {
            Some(i) => (&line[..i], &line[i + 1..]),
            None => (line, &b""[..]),
        };
        let value = value.strip_prefix(b" ").unwrap_or(value);
        match name {
            b"data" => {
                out.extend_from_slice(b"data: ");
                out.extend_from_slice(String::from_utf8_lossy(value).as_bytes());
                out.push(b'\n');
            }
            b"event" => self.event = Some(String::from_utf8_lossy(value).into_owned()),
            // Comments, `id`, `retry` and unknown fields change no event
            // cordon reads.
            _ => {}
        }
    }
}

/// Feeds bytes in, takes events out. Bytes may split anywhere, even inside
/// a UTF-8 character or a CRLF.
pub struct SseParser {
    queue: Rc<RefCell<VecDeque<Bytes>>>,
    decoder: Pin<Box<Decoder>>,
    normaliser: Normaliser,
    /// The bytes since the last line end (at most [`MAX_LINE`]).
    line: Vec<u8>,
    /// Bytes since the last blank line (the event being read).
    event: usize,
    /// Whether the last byte was a CR (a LF after it ends no line).
    after_cr: bool,
}

impl Default for SseParser {
    fn default() -> Self {
        let feed = Feed::default();
        let queue = feed.0.clone();
        SseParser {
            queue,
            decoder: Box::pin(sse_stream::SseStream::from_bytes_stream(feed)),
            normaliser: Normaliser::default(),
            line: Vec::new(),
            event: 0,
            after_cr: false,
        }
    }
}

impl std::fmt::Debug for SseParser {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("SseParser")
            .field("line", &self.line.len())
            .field("event", &self.event)
            .finish()
    }
}

impl SseParser {
    /// A new parser.
    pub fn new() -> Self {
        Self::default()
    }

    /// Adds bytes; returns the events they complete.
    pub fn feed(&mut self, mut bytes: &[u8]) -> Result<Vec<SseEvent>, StreamError> {
        let mut lines = Vec::new();
        while !bytes.is_empty() {
            if self.after_cr && bytes[0] == b'\n' {
                self.after_cr = false;
                bytes = &bytes[1..];
                continue;
            }
            let Some(end) = bytes.iter().position(|&b| b == b'\r' || b == b'\n') else {
                self.take(bytes)?;
                break;
            };
            self.take(&bytes[..end])?;
            if self.line.is_empty() {
                self.event = 0;
            }
            self.normaliser.line(&self.line, &mut lines);
            self.line.clear();
            self.after_cr = bytes[end] == b'\r';
            bytes = &bytes[end + 1..];
        }
        if !lines.is_empty() {
            self.queue.borrow_mut().push_back(Bytes::from(lines));
        }
        let mut out = Vec::new();
        let mut cx = Context::from_waker(std::task::Waker::noop());
        // The feed never waits: the decoder returns every complete event,
        // then "pending" once the fed bytes are used up.
        while let Poll::Ready(Some(item)) =
            futures_core::Stream::poll_next(self.decoder.as_mut(), &mut cx)
        {
            let sse = item.map_err(|e| StreamError::Malformed {
                event: "(stream)".into(),
                reason: format!("not Server-Sent Events: {e}"),
            })?;
            if let Some(data) = sse.data {
                out.push(SseEvent {
                    event: sse
                        .event
                        .filter(|e| !e.is_empty())
                        .unwrap_or_else(|| "message".into()),
                    data,
                });
            }
        }
        Ok(out)
    }

    /// Adds bytes of a line not yet ended, within the caps.
    fn take(&mut self, part: &[u8]) -> Result<(), StreamError> {
        self.after_cr = false;
        if self.line.len() + part.len() > MAX_LINE {
            return Err(StreamError::TooLarge(MAX_LINE));
        }
        self.event += part.len();
        if self.event > MAX_EVENT {
            return Err(StreamError::TooLarge(MAX_EVENT));
        }
        self.line.extend_from_slice(part);
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn events_split_anywhere_with_comments_and_multiline_data() {
        let text = ": keep-alive\r\nevent: a\r\ndata: {\"x\":\r\ndata: 1}\r\n\r\nevent: ping\n\ndata: é\n\n";
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
    fn bare_cr_line_ends_and_an_id_field_are_understood() {
        let mut p = SseParser::new();
        let got = p.feed(b"id: 7\revent: e\rdata: x\r\r").unwrap();
        assert_eq!(
            got,
            vec![SseEvent {
                event: "e".into(),
                data: "x".into()
            }]
        );
    }

    #[test]
    fn an_endless_line_is_refused_even_in_small_pieces() {
        let mut p = SseParser::new();
        assert!(p.feed(&vec![b'a'; MAX_LINE + 1]).is_err());
        let mut p = SseParser::new();
        let piece = vec![b'a'; 1024 * 1024];
        let mut result = Ok(vec![]);
        for _ in 0..9 {
            result = p.feed(&piece);
            if result.is_err() {
                break;
            }
        }
        assert_eq!(result, Err(StreamError::TooLarge(MAX_LINE)));
        // A long line that ends is fine.
        let mut p = SseParser::new();
        let mut line = b"data: ".to_vec();
        line.extend(vec![b'b'; 1024 * 1024]);
        line.extend_from_slice(b"\n\n");
        assert_eq!(p.feed(&line).unwrap()[0].data.len(), 1024 * 1024);
    }

    #[test]
    fn an_endless_event_of_short_lines_is_refused() {
        let mut line = b"data: ".to_vec();
        line.extend(vec![b'c'; 1024 * 1024]);
        line.extend_from_slice(b"\r\n");
        let mut p = SseParser::new();
        let mut result = Ok(vec![]);
        for _ in 0..=MAX_EVENT / (1024 * 1024) {
            result = p.feed(&line);
            if result.is_err() {
                break;
            }
        }
        assert_eq!(result, Err(StreamError::TooLarge(MAX_EVENT)));
        // Control: as many lines, each event ended by a blank line, are fine.
        let mut p = SseParser::new();
        let mut event = line.clone();
        event.extend_from_slice(b"\r\n");
        for _ in 0..=MAX_EVENT / (1024 * 1024) {
            assert_eq!(p.feed(&event).unwrap().len(), 1);
        }
    }

    fn one(event: &str, data: &str) -> SseEvent {
        SseEvent {
            event: event.into(),
            data: data.into(),
        }
    }

    #[test]
    fn lines_that_are_not_fields_are_ignored_as_the_spec_says() {
        // A proxy's error page on a 200 has no colon: unknown field names.
        let mut p = SseParser::new();
        assert_eq!(p.feed(b"<html>bad gateway</html>\n\n").unwrap(), vec![]);
        assert_eq!(
            p.feed(b"data: after\n\n").unwrap(),
            vec![one("message", "after")]
        );
    }

    #[test]
    fn an_unknown_field_is_ignored() {
        let mut p = SseParser::new();
        let got = p.feed(b"x-proxy: hop\ndata: x\nfoo\n\n").unwrap();
        assert_eq!(got, vec![one("message", "x")]);
    }

    #[test]
    fn a_bare_data_line_is_an_empty_data_line() {
        let mut p = SseParser::new();
        assert_eq!(p.feed(b"data\n\n").unwrap(), vec![one("message", "")]);
        let got = p.feed(b"data: a\ndata\ndata: b\n\n").unwrap();
        assert_eq!(got, vec![one("message", "a\n\nb")]);
    }

    #[test]
    fn the_last_event_and_id_lines_of_an_event_win() {
        let mut p = SseParser::new();
        let got = p
            .feed(b"event: a\nid: 1\ndata: x\nevent: b\nid: 2\n\ndata: y\n\n")
            .unwrap();
        // The event type does not carry over to the next event.
        assert_eq!(got, vec![one("b", "x"), one("message", "y")]);
    }

    #[test]
    fn an_empty_event_type_is_message() {
        let mut p = SseParser::new();
        let got = p.feed(b"event: a\nevent\ndata: x\n\n").unwrap();
        assert_eq!(got, vec![one("message", "x")]);
    }

    #[test]
    fn a_retry_that_is_not_a_number_is_ignored_and_so_is_a_second_one() {
        let mut p = SseParser::new();
        let got = p
            .feed(b"retry: soon\ndata: x\n\nretry: 10\nretry: 20\ndata: y\n\n")
            .unwrap();
        assert_eq!(got, vec![one("message", "x"), one("message", "y")]);
    }

    #[test]
    fn invalid_utf8_is_replaced_in_data_and_event() {
        let mut p = SseParser::new();
        let got = p.feed(b"event: e\xff\ndata: a\xc3b\n\n").unwrap();
        assert_eq!(got, vec![one("e\u{FFFD}", "a\u{FFFD}b")]);
    }

    #[test]
    fn only_one_space_after_the_colon_is_stripped() {
        let mut p = SseParser::new();
        let got = p.feed(b"data:  two\ndata:none\n\n").unwrap();
        assert_eq!(got, vec![one("message", " two\nnone")]);
    }

    #[test]
    fn a_stream_of_odd_lines_decodes_split_anywhere_with_any_line_end() {
        for end in ["\n", "\r", "\r\n"] {
            let text = [
                "\u{FEFF}: hi",
                "x-trace: 1",
                "event: a",
                "id: 1",
                "event: b",
                "id: 2",
                "retry: later",
                "data",
                "data: é",
                "",
                "bare",
                "data: {}",
                "",
                "",
            ]
            .join(end);
            let bytes = text.as_bytes();
            for cut in 0..bytes.len() {
                let mut p = SseParser::new();
                let mut got = p.feed(&bytes[..cut]).unwrap();
                got.extend(p.feed(&bytes[cut..]).unwrap());
                assert_eq!(
                    got,
                    vec![one("b", "\né"), one("message", "{}")],
                    "line end {end:?}, cut at {cut}"
                );
            }
        }
    }
}
