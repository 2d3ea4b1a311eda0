//! Reading the server name from a TLS ClientHello.
//!
//! A small, bounds-checked parser over the first TLS record; it never
//! panics on malformed input (fuzzed in `fuzz/`).

/// What the first bytes of a tunnel say.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Hello {
    /// Not TLS (no handshake record header).
    NotTls,
    /// More bytes are needed to parse the ClientHello.
    Incomplete,
    /// A ClientHello with this SNI host name (lower-cased).
    Sni(String),
    /// A ClientHello without an SNI extension.
    NoSni,
    /// A handshake record that is not a valid ClientHello.
    Malformed,
}

/// Largest ClientHello accepted, across records.
pub const MAX_HELLO: usize = 64 * 1024;

struct Reader<'a> {
    buf: &'a [u8],
    pos: usize,
}

impl<'a> Reader<'a> {
    fn take(&mut self, n: usize) -> Option<&'a [u8]> {
        let end = self.pos.checked_add(n)?;
        let out = self.buf.get(self.pos..end)?;
        self.pos = end;
        Some(out)
    }
    fn u8(&mut self) -> Option<u8> {
        self.take(1).map(|b| b[0])
    }
    fn u16(&mut self) -> Option<usize> {
        self.take(2)
            .map(|b| usize::from(u16::from_be_bytes([b[0], b[1]])))
    }
    fn u24(&mut self) -> Option<usize> {
        self.take(3)
            .map(|b| (usize::from(b[0]) << 16) | (usize::from(b[1]) << 8) | usize::from(b[2]))
    }
}

/// Parses the start of a tunnel's client bytes. A ClientHello split over
/// several handshake records is reassembled first.
pub fn parse_client_hello(data: &[u8]) -> Hello {
    if data.is_empty() {
        return Hello::Incomplete;
    }
    if data[0] != 0x16 {
        return Hello::NotTls;
    }
    let mut handshake = Vec::new();
    let mut pos = 0;
    loop {
        let Some(header) = data.get(pos..pos + 5) else {
            return Hello::Incomplete;
        };
        if header[0] != 0x16 {
            // Another record type before the ClientHello is complete.
            return Hello::Malformed;
        }
        if header[1] != 0x03 {
            return if pos == 0 {
                Hello::NotTls
            } else {
                Hello::Malformed
            };
        }
        let len = usize::from(u16::from_be_bytes([header[3], header[4]]));
        if len == 0 || len > 16 * 1024 + 256 {
            return Hello::Malformed;
        }
        let Some(payload) = data.get(pos + 5..pos + 5 + len) else {
            return Hello::Incomplete;
        };
        handshake.extend_from_slice(payload);
        pos += 5 + len;
        if handshake.len() >= 4 {
            let want = 4
                + ((usize::from(handshake[1]) << 16)
                    | (usize::from(handshake[2]) << 8)
                    | usize::from(handshake[3]));
            if want > MAX_HELLO {
                return Hello::Malformed;
            }
            if handshake.len() >= want {
                return parse_handshake(&handshake[..want]).unwrap_or(Hello::Malformed);
            }
        }
        if pos >= MAX_HELLO {
            return Hello::Malformed;
        }
    }
}

fn parse_handshake(record: &[u8]) -> Option<Hello> {
    let mut r = Reader {
        buf: record,
        pos: 0,
    };
    if r.u8()? != 0x01 {
        return None; // not a ClientHello
    }
    let len = r.u24()?;
    let body = r.take(len)?;
    let mut r = Reader { buf: body, pos: 0 };
    r.take(2)?; // legacy_version
    r.take(32)?; // random
    let sid = usize::from(r.u8()?);
    r.take(sid)?;
    let suites = r.u16()?;
    r.take(suites)?;
    let comp = usize::from(r.u8()?);
    r.take(comp)?;
    if r.pos == body.len() {
        return Some(Hello::NoSni);
    }
    let ext_len = r.u16()?;
    let exts = r.take(ext_len)?;
    let mut e = Reader { buf: exts, pos: 0 };
    while e.pos < exts.len() {
        let kind = e.u16()?;
        let len = e.u16()?;
        let data = e.take(len)?;
        if kind == 0 {
            let mut s = Reader { buf: data, pos: 0 };
            let list_len = s.u16()?;
            let list = s.take(list_len)?;
            let mut l = Reader { buf: list, pos: 0 };
            while l.pos < list.len() {
                let name_type = l.u8()?;
                let name_len = l.u16()?;
                let name = l.take(name_len)?;
                if name_type == 0 {
                    let name = std::str::from_utf8(name).ok()?;
                    return Some(Hello::Sni(name.trim_end_matches('.').to_ascii_lowercase()));
                }
            }
            return None;
        }
    }
    Some(Hello::NoSni)
}

#[cfg(test)]
#[path = "sni_tests.rs"]
mod tests;
