//! Server-Sent Events for the model streams, decoded by the `sse-stream`
//! crate (the decoder rmcp uses) behind a push interface: bytes in as they
//! arrive, events out. Events without `data` (keep-alives) are dropped; a
//! line longer than [`MAX_LINE`] or an event longer than [`MAX_EVENT`] is
//! refused.

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
    /// The `event:` field, or `message`.
    pub event: String,
    /// The `data:` lines joined with newlines.
    pub data: String,
}

/// Largest line accepted (a whole JSON event usually sits on one line).
pub const MAX_LINE: usize = 8 * 1024 * 1024;

/// Largest event accepted (its lines up to the blank line that ends it).
pub const MAX_EVENT: usize = 32 * 1024 * 1024;

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

/// Feeds bytes in, takes events out. Bytes may split anywhere, even inside
/// a UTF-8 character or a CRLF.
pub struct SseParser {
    queue: Rc<RefCell<VecDeque<Bytes>>>,
    decoder: Pin<Box<Decoder>>,
    /// Bytes since the last line end.
    line: usize,
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
            line: 0,
            event: 0,
            after_cr: false,
        }
    }
}

impl std::fmt::Debug for SseParser {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("SseParser")
            .field("line", &self.line)
            .finish()
    }
}

impl SseParser {
    /// A new parser.
    pub fn new() -> Self {
        Self::default()
    }

    /// Adds bytes; returns the events they complete.
    pub fn feed(&mut self, bytes: &[u8]) -> Result<Vec<SseEvent>, StreamError> {
        for &b in bytes {
            match b {
                b'\n' if self.after_cr => self.after_cr = false,
                b'\r' | b'\n' => {
                    if self.line == 0 {
                        self.event = 0;
                    }
                    self.line = 0;
                    self.after_cr = b == b'\r';
                }
                _ => {
                    self.line += 1;
                    self.event += 1;
                    self.after_cr = false;
                }
            }
        }
        if self.line > MAX_LINE {
            return Err(StreamError::TooLarge(MAX_LINE));
        }
        if self.event > MAX_EVENT {
            return Err(StreamError::TooLarge(MAX_EVENT));
        }
        if !bytes.is_empty() {
            self.queue
                .borrow_mut()
                .push_back(Bytes::copy_from_slice(bytes));
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
                    event: sse.event.unwrap_or_else(|| "message".into()),
                    data,
                });
            }
        }
        Ok(out)
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

    #[test]
    fn a_line_that_is_not_sse_is_an_error_naming_the_reason() {
        let mut p = SseParser::new();
        let e = p.feed(b"<html>bad gateway</html>\n\n").unwrap_err();
        assert!(e.to_string().contains("not Server-Sent Events"), "{e}");
    }
}
