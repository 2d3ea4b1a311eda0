//! Upstream connections and the copy loop, with the SNI check on the way.

use crate::sni::{parse_client_hello, Hello, MAX_HELLO};
use crate::{Reason, Upstream};
use socket2::SockRef;
use std::net::{Shutdown, SocketAddr};
use std::time::Duration;
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::TcpStream;

// The zero-copy path exists only on Linux; other systems copy.
#[cfg(target_os = "linux")]
mod splice;
#[cfg(not(target_os = "linux"))]
use self::copy_pump as transfer;
#[cfg(target_os = "linux")]
use splice::splice_pump as transfer;

const BUF: usize = 64 * 1024;

/// Connects to exactly `addr` (the address that was checked), directly or
/// through `upstream` with a CONNECT to that same address.
pub(crate) async fn connect(
    addr: SocketAddr,
    upstream: Option<&Upstream>,
) -> Result<TcpStream, Reason> {
    let attempt = async {
        let Some(up) = upstream else {
            return TcpStream::connect(addr).await.ok();
        };
        let mut s = TcpStream::connect(up.addr.as_str()).await.ok()?;
        let mut req = format!("CONNECT {addr} HTTP/1.1\r\nHost: {addr}\r\n");
        if let Some(c) = &up.credentials {
            req.push_str(&format!(
                "Proxy-Authorization: Basic {}\r\n",
                crate::http::base64(c.as_bytes())
            ));
        }
        req.push_str("\r\n");
        s.write_all(req.as_bytes()).await.ok()?;
        // Read the reply head byte by byte: tunnel bytes must stay unread.
        let mut head = Vec::new();
        let mut byte = [0u8; 1];
        while !head.ends_with(b"\r\n\r\n") {
            if s.read(&mut byte).await.ok()? == 0 || head.len() > 16 * 1024 {
                return None;
            }
            head.push(byte[0]);
        }
        let ok = head.starts_with(b"HTTP/1.1 200") || head.starts_with(b"HTTP/1.0 200");
        ok.then_some(s)
    };
    match tokio::time::timeout(Duration::from_secs(15), attempt).await {
        Ok(Some(s)) => {
            let _ = s.set_nodelay(true);
            Ok(s)
        }
        _ => Err(Reason::ConnectFailed),
    }
}

/// Moves `from` to `to` until EOF, then half-closes `to`; returns the bytes
/// moved. On Linux, bytes go socket → pipe → socket with `splice(2)`, never
/// through user space, falling back to copying where splice is refused;
/// elsewhere they are copied through a buffer. Either way the pipe or buffer
/// exists only while data flows, so an idle tunnel holds none.
async fn pump(from: &TcpStream, to: &TcpStream) -> u64 {
    let total = transfer(from, to).await;
    // Half-close: tell the peer no more data follows.
    let _ = SockRef::from(to).shutdown(Shutdown::Write);
    total
}

/// [`pump`] by copying through a buffer taken only while data flows: the
/// fallback of the splice path on Linux, the only path elsewhere.
async fn copy_pump(from: &TcpStream, to: &TcpStream) -> u64 {
    let mut total = 0u64;
    let mut buf: Option<Vec<u8>> = None;
    'outer: loop {
        if from.readable().await.is_err() {
            break;
        }
        let b = buf.get_or_insert_with(|| vec![0u8; BUF]);
        loop {
            match from.try_read(b) {
                Ok(0) => break 'outer,
                Ok(n) => {
                    if write_all(to, &b[..n]).await.is_err() {
                        break 'outer;
                    }
                    total += n as u64;
                }
                Err(e) if e.kind() == std::io::ErrorKind::WouldBlock => {
                    buf = None;
                    break;
                }
                Err(_) => break 'outer,
            }
        }
    }
    total
}

async fn write_all(to: &TcpStream, mut data: &[u8]) -> std::io::Result<()> {
    while !data.is_empty() {
        to.writable().await?;
        match to.try_write(data) {
            Ok(n) => data = &data[n..],
            Err(e) if e.kind() == std::io::ErrorKind::WouldBlock => {}
            Err(e) => return Err(e),
        }
    }
    Ok(())
}

/// Relays both ways in one task until both sides close. `pending` holds
/// client bytes already read. With `sni_host`, a TLS ClientHello from the
/// client must name that host, or the tunnel is closed with
/// [`Reason::SniMismatch`]. Returns bytes (up, down).
pub(crate) async fn relay(
    client: TcpStream,
    upstream: TcpStream,
    mut pending: Vec<u8>,
    sni_host: Option<&str>,
) -> Result<(u64, u64), Reason> {
    // Server-first protocols must not wait on the client: the downstream
    // copy runs from the start, beside the check, in this same task.
    let down = pump(&upstream, &client);
    tokio::pin!(down);
    let mut down_done: Option<u64> = None;
    if let Some(host) = sni_host {
        let check = async {
            // TLS must show a complete, well-formed ClientHello naming
            // `host` (or no name at all) before anything reaches upstream;
            // anything else that starts like TLS is refused.
            loop {
                match parse_client_hello(&pending) {
                    Hello::Incomplete => {
                        // Before the first byte, wait as long as the client
                        // likes; once a ClientHello started, it must finish.
                        // The buffer is taken only once data is there, so
                        // an idle tunnel holds none.
                        let ready = if pending.is_empty() {
                            Ok(client.readable().await)
                        } else {
                            tokio::time::timeout(Duration::from_secs(30), client.readable()).await
                        };
                        if !matches!(ready, Ok(Ok(()))) {
                            return Err(Reason::SniMismatch);
                        }
                        let mut buf = vec![0u8; 4096];
                        match read_some(&client, &mut buf) {
                            Ok(Some(0)) if pending.is_empty() => return Ok(()),
                            Ok(Some(n)) if n > 0 && pending.len() < MAX_HELLO => {
                                pending.extend_from_slice(&buf[..n])
                            }
                            Ok(None) => {}
                            _ => return Err(Reason::SniMismatch),
                        }
                    }
                    Hello::Sni(name) if name != host => return Err(Reason::SniMismatch),
                    Hello::Malformed => return Err(Reason::SniMismatch),
                    Hello::Sni(_) | Hello::NoSni | Hello::NotTls => return Ok(()),
                }
            }
        };
        tokio::pin!(check);
        loop {
            tokio::select! {
                result = &mut check => {
                    result?;
                    break;
                }
                n = &mut down, if down_done.is_none() => down_done = Some(n),
            }
        }
    }
    let mut up = 0u64;
    if !pending.is_empty() {
        if write_all(&upstream, &pending).await.is_err() {
            return Ok((0, down_done.unwrap_or(0)));
        }
        up += pending.len() as u64;
    }
    drop(pending);
    let upward = pump(&client, &upstream);
    let down = match down_done {
        Some(n) => {
            up += upward.await;
            n
        }
        None => {
            let (u, d) = tokio::join!(upward, down);
            up += u;
            d
        }
    };
    Ok((up, down))
}

/// One non-blocking read: `Some(n)` bytes (0 at EOF), `None` when nothing was ready.
fn read_some(s: &TcpStream, buf: &mut [u8]) -> std::io::Result<Option<usize>> {
    match s.try_read(buf) {
        Ok(n) => Ok(Some(n)),
        Err(e) if e.kind() == std::io::ErrorKind::WouldBlock => Ok(None),
        Err(e) => Err(e),
    }
}

/// How a request body is delimited.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Framing {
    /// No body.
    Empty,
    /// `Content-Length: n`.
    Length(u64),
    /// `Transfer-Encoding: chunked`.
    Chunked,
}

/// Sends one request (`head`, then exactly its body from `rest` and the
/// client) upstream and relays the response back. Bytes the client sends
/// after that body (a pipelined second request, perhaps for another host)
/// are never forwarded. Returns bytes (up, down).
pub(crate) async fn forward_one(
    client: TcpStream,
    upstream: TcpStream,
    head: Vec<u8>,
    rest: Vec<u8>,
    framing: Framing,
) -> (u64, u64) {
    let upload = async {
        write_all(&upstream, &head).await.ok()?;
        let mut sent = head.len() as u64;
        let mut body = BodyReader {
            client: &client,
            buf: rest,
        };
        match framing {
            Framing::Empty => {}
            Framing::Length(mut left) => {
                while left > 0 {
                    let chunk = body.take(left.min(BUF as u64) as usize).await?;
                    write_all(&upstream, &chunk).await.ok()?;
                    left -= chunk.len() as u64;
                    sent += chunk.len() as u64;
                }
            }
            Framing::Chunked => loop {
                let line = body.line().await?;
                let size_text = String::from_utf8_lossy(&line);
                let size_text = size_text
                    .trim_end()
                    .split(';')
                    .next()
                    .unwrap_or("")
                    .trim()
                    .to_string();
                // Hex digits only (no sign, no 0x), and a CRLF line ending.
                if size_text.is_empty()
                    || size_text.len() > 15
                    || !size_text.bytes().all(|b| b.is_ascii_hexdigit())
                    || !line.ends_with(b"\r\n")
                {
                    return None;
                }
                let size = u64::from_str_radix(&size_text, 16).ok()?;
                write_all(&upstream, &line).await.ok()?;
                sent += line.len() as u64;
                if size == 0 {
                    // Trailers, up to the empty line.
                    loop {
                        let t = body.line().await?;
                        write_all(&upstream, &t).await.ok()?;
                        sent += t.len() as u64;
                        if t == b"\r\n" || t == b"\n" {
                            break;
                        }
                    }
                    break;
                }
                let mut left = size.checked_add(2)?; // data and its CRLF
                while left > 0 {
                    let chunk = body.take(left.min(BUF as u64) as usize).await?;
                    write_all(&upstream, &chunk).await.ok()?;
                    left -= chunk.len() as u64;
                    sent += chunk.len() as u64;
                }
            },
        }
        Some(sent)
    };
    let (up, down) = tokio::join!(upload, pump(&upstream, &client));
    (up.unwrap_or(0), down)
}

/// Reads a request body from the client, starting with bytes already read.
struct BodyReader<'a> {
    client: &'a TcpStream,
    buf: Vec<u8>,
}

impl BodyReader<'_> {
    async fn fill(&mut self) -> Option<()> {
        let mut chunk = vec![0u8; BUF];
        let n = self.client.read_with_timeout(&mut chunk).await?;
        if n == 0 {
            return None;
        }
        self.buf.extend_from_slice(&chunk[..n]);
        Some(())
    }

    /// Up to `max` bytes (at least one), or `None` at EOF.
    async fn take(&mut self, max: usize) -> Option<Vec<u8>> {
        if self.buf.is_empty() {
            self.fill().await?;
        }
        let n = max.min(self.buf.len());
        Some(self.buf.drain(..n).collect())
    }

    /// One line including its newline (at most 8 KiB).
    async fn line(&mut self) -> Option<Vec<u8>> {
        loop {
            if let Some(i) = self.buf.iter().position(|&b| b == b'\n') {
                return Some(self.buf.drain(..=i).collect());
            }
            if self.buf.len() > 8 * 1024 {
                return None;
            }
            self.fill().await?;
        }
    }
}

trait ReadWithTimeout {
    async fn read_with_timeout(&self, buf: &mut [u8]) -> Option<usize>;
}

impl ReadWithTimeout for TcpStream {
    /// A body that stalls for a minute is abandoned.
    async fn read_with_timeout(&self, buf: &mut [u8]) -> Option<usize> {
        tokio::time::timeout(Duration::from_secs(60), async {
            loop {
                self.readable().await.ok()?;
                match read_some(self, buf) {
                    Ok(Some(n)) => return Some(n),
                    Ok(None) => continue,
                    Err(_) => return None,
                }
            }
        })
        .await
        .ok()
        .flatten()
    }
}

#[cfg(test)]
#[path = "relay_tests.rs"]
mod tests;
