//! Upstream connections and the copy loop, with the SNI check on the way.

use crate::sni::{parse_client_hello, Hello, MAX_HELLO};
use crate::{Reason, Upstream};
use std::net::SocketAddr;
use std::time::Duration;
use tokio::io::{AsyncRead, AsyncReadExt, AsyncWrite, AsyncWriteExt, BufReader};
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

async fn copy<R: AsyncRead + Unpin, W: AsyncWrite + Unpin>(r: R, mut w: W) -> u64 {
    let mut r = BufReader::with_capacity(BUF, r);
    let n = tokio::io::copy_buf(&mut r, &mut w).await.unwrap_or(0);
    let _ = w.shutdown().await;
    n
}

/// Relays both ways until both sides close. `pending` holds client bytes
/// already read. With `sni_host`, a TLS ClientHello from the client must
/// name that host, or the tunnel is closed with [`Reason::SniMismatch`].
/// Returns bytes (up, down).
pub(crate) async fn relay(
    client: TcpStream,
    upstream: TcpStream,
    mut pending: Vec<u8>,
    sni_host: Option<&str>,
) -> Result<(u64, u64), Reason> {
    let (mut cr, mut cw) = client.into_split();
    let (ur, mut uw) = upstream.into_split();
    // Server-first protocols must not wait on the client: start downstream now.
    let down = tokio::spawn(async move { copy(ur, &mut cw).await });
    let mut up = 0u64;
    if let Some(host) = sni_host {
        // TLS must show a complete, well-formed ClientHello naming `host`
        // (or no name at all) before anything reaches upstream; anything
        // else that starts like TLS is refused rather than passed on.
        loop {
            match parse_client_hello(&pending) {
                Hello::Incomplete => {
                    let mut buf = [0u8; 4096];
                    // Before the first byte, wait as long as the client likes
                    // (server-first protocols); once a ClientHello started,
                    // it must complete in time.
                    let read = if pending.is_empty() {
                        Ok(cr.read(&mut buf).await)
                    } else {
                        tokio::time::timeout(Duration::from_secs(30), cr.read(&mut buf)).await
                    };
                    match read {
                        Ok(Ok(n)) if n > 0 && pending.len() < MAX_HELLO => {
                            pending.extend_from_slice(&buf[..n])
                        }
                        // Closed before sending anything: nothing to check.
                        Ok(Ok(0)) if pending.is_empty() => break,
                        _ => {
                            down.abort();
                            return Err(Reason::SniMismatch);
                        }
                    }
                }
                Hello::Sni(name) if name != host => {
                    down.abort();
                    return Err(Reason::SniMismatch);
                }
                Hello::Malformed => {
                    down.abort();
                    return Err(Reason::SniMismatch);
                }
                Hello::Sni(_) | Hello::NoSni | Hello::NotTls => break,
            }
        }
    }
    if !pending.is_empty() {
        if uw.write_all(&pending).await.is_err() {
            down.abort();
            return Ok((0, 0));
        }
        up += pending.len() as u64;
    }
    up += copy(&mut cr, &mut uw).await;
    let down = down.await.unwrap_or(0);
    Ok((up, down))
}
