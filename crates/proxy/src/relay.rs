//! Upstream connections and the copy loop, with the SNI check on the way.

use crate::sni::{parse_client_hello, Hello, MAX_HELLO};
use crate::{Reason, Upstream};
use std::net::SocketAddr;
use std::os::fd::AsRawFd;
use std::time::Duration;
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::TcpStream;

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

/// Moves `from` to `to` until EOF, then half-closes `to`. Bytes go
/// socket → pipe → socket with `splice(2)`, never through user space; the
/// pipe exists only while data flows, so an idle tunnel holds none. Falls
/// back to copying where splice is refused.
async fn pump(from: &TcpStream, to: &TcpStream) -> u64 {
    let total = splice_pump(from, to).await;
    // Half-close: tell the peer no more data follows.
    let _ = socket_shutdown_write(to);
    total
}

async fn splice_pump(from: &TcpStream, to: &TcpStream) -> u64 {
    use tokio::io::Interest;
    let mut total = 0u64;
    let mut pipe: Option<Pipe> = None;
    let mut eof = false;
    loop {
        let p = match pipe.as_mut() {
            Some(p) => p,
            None => {
                // No pipe until data is there: idle tunnels hold none.
                if from.readable().await.is_err() {
                    break;
                }
                match Pipe::new() {
                    Ok(p) => pipe.insert(p),
                    Err(_) => return total + copy_pump(from, to).await,
                }
            }
        };
        if !eof {
            // With the pipe empty, EAGAIN can only mean the socket is dry, so
            // its readiness may be cleared; with data in the pipe, EAGAIN may
            // come from a full pipe, and clearing the socket's readiness would
            // lose its wake-up.
            let filled = if p.held == 0 {
                from.try_io(Interest::READABLE, || p.fill_from(from.as_raw_fd()))
            } else {
                p.fill_from(from.as_raw_fd())
            };
            match filled {
                Ok(0) => eof = true,
                Ok(_) => {}
                Err(e) if e.kind() == std::io::ErrorKind::WouldBlock => {
                    if p.held == 0 {
                        // Dry: give the pipe back until data returns, so
                        // idle tunnels hold no pipe (pipes count against the
                        // user's pipe-buffer limit).
                        pipe = None;
                        continue;
                    }
                }
                Err(e) if e.raw_os_error() == Some(libc::EINVAL) && p.held == 0 => {
                    return total + copy_pump(from, to).await;
                }
                Err(_) => break,
            }
        }
        if p.held == 0 {
            if eof {
                break;
            }
            continue;
        }
        let (read, held) = (p.read.as_raw_fd(), p.held);
        match to.try_io(Interest::WRITABLE, || {
            splice_fds(read, to.as_raw_fd(), held)
        }) {
            Ok(0) => break,
            Ok(n) => {
                p.held -= n;
                total += n as u64;
            }
            Err(e) if e.kind() == std::io::ErrorKind::WouldBlock => {
                if to.writable().await.is_err() {
                    break;
                }
            }
            Err(_) => break,
        }
    }
    total
}

/// The pipe size asked for (the kernel may grant less).
const PIPE_SIZE: usize = 256 * 1024;

/// `splice` between two descriptors, non-blocking.
fn splice_fds(
    from: std::os::fd::RawFd,
    to: std::os::fd::RawFd,
    len: usize,
) -> std::io::Result<usize> {
    // SAFETY: splice between two descriptors we hold; no user memory.
    let n = unsafe {
        libc::splice(
            from,
            std::ptr::null_mut(),
            to,
            std::ptr::null_mut(),
            len,
            libc::SPLICE_F_MOVE | libc::SPLICE_F_NONBLOCK,
        )
    };
    if n < 0 {
        Err(std::io::Error::last_os_error())
    } else {
        Ok(n as usize)
    }
}

/// A non-blocking pipe used as the splice buffer, with what it holds.
struct Pipe {
    read: std::os::fd::OwnedFd,
    write: std::os::fd::OwnedFd,
    held: usize,
}

impl Pipe {
    fn new() -> std::io::Result<Self> {
        use std::os::fd::FromRawFd;
        let mut fds = [0; 2];
        // SAFETY: fds is a two-element array for pipe2 to fill.
        if unsafe { libc::pipe2(fds.as_mut_ptr(), libc::O_NONBLOCK | libc::O_CLOEXEC) } != 0 {
            return Err(std::io::Error::last_os_error());
        }
        // A larger pipe moves more per call; a refusal just keeps 64 KiB.
        // SAFETY: fcntl on a pipe we own.
        unsafe { libc::fcntl(fds[1], libc::F_SETPIPE_SZ, PIPE_SIZE as libc::c_int) };
        // SAFETY: both descriptors were just created and are owned here.
        Ok(unsafe {
            Pipe {
                read: std::os::fd::OwnedFd::from_raw_fd(fds[0]),
                write: std::os::fd::OwnedFd::from_raw_fd(fds[1]),
                held: 0,
            }
        })
    }

    /// Moves what the socket has into the pipe (0 at EOF).
    fn fill_from(&mut self, socket: std::os::fd::RawFd) -> std::io::Result<usize> {
        let n = splice_fds(socket, self.write.as_raw_fd(), PIPE_SIZE)?;
        self.held += n;
        Ok(n)
    }
}

/// The copying fallback of [`pump`].
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

fn socket_shutdown_write(s: &TcpStream) -> std::io::Result<()> {
    use std::os::fd::AsRawFd;
    // SAFETY: shutdown(2) on a descriptor this stream owns.
    if unsafe { libc::shutdown(s.as_raw_fd(), libc::SHUT_WR) } == 0 {
        Ok(())
    } else {
        Err(std::io::Error::last_os_error())
    }
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
