//! The HTTP side: CONNECT tunnels and absolute-form forwarding.

use crate::decide::{decide, Refusal};
use crate::pending::Slot;
use crate::relay::{connect, forward_one, relay, Framing};
use crate::{AuditRecord, Deadlines, Proxy, Reason};
use std::time::Instant;
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::TcpStream;

/// Largest request head accepted.
pub const MAX_HEAD: usize = 64 * 1024;

enum HeadError {
    TooLarge,
    Timeout,
    Closed,
}

/// Reads until the end of the head, by `deadline`; returns the buffer and
/// the head length.
async fn read_head(
    stream: &mut TcpStream,
    deadline: tokio::time::Instant,
) -> Result<(Vec<u8>, usize), HeadError> {
    let mut buf = Vec::with_capacity(1024);
    let mut chunk = [0u8; 4096];
    loop {
        if let Some(end) = find_head_end(&buf) {
            return Ok((buf, end));
        }
        if buf.len() >= MAX_HEAD {
            return Err(HeadError::TooLarge);
        }
        let n = match tokio::time::timeout_at(deadline, stream.read(&mut chunk)).await {
            Err(_) => return Err(HeadError::Timeout),
            Ok(Ok(0)) | Ok(Err(_)) => return Err(HeadError::Closed),
            Ok(Ok(n)) => n,
        };
        buf.extend_from_slice(&chunk[..n]);
    }
}

fn find_head_end(buf: &[u8]) -> Option<usize> {
    // A proxy head is ASCII; searching is bounded by MAX_HEAD.
    buf.windows(4).position(|w| w == b"\r\n\r\n").map(|p| p + 4)
}

async fn respond(stream: &mut TcpStream, status: &str, reason: Reason, body: &str, extra: &str) {
    let resp = format!(
        "HTTP/1.1 {status}\r\nx-cordon-deny: {}\r\ncontent-type: text/plain; charset=utf-8\r\ncontent-length: {}\r\nconnection: close\r\n{extra}\r\n{body}",
        reason.as_str(),
        body.len()
    );
    let _ = stream.write_all(resp.as_bytes()).await;
    let _ = stream.shutdown().await;
}

/// How the request's body is delimited; conflicting or unsupported framing
/// is refused (it is how requests get smuggled past a proxy).
fn framing(headers: &[(String, Vec<u8>)]) -> Result<Framing, &'static str> {
    let mut length: Option<u64> = None;
    let mut chunked = false;
    for (name, value) in headers {
        if name.eq_ignore_ascii_case("content-length") {
            let v = std::str::from_utf8(value)
                .ok()
                .map(str::trim)
                .filter(|v| !v.is_empty() && v.bytes().all(|b| b.is_ascii_digit()))
                .and_then(|v| v.parse::<u64>().ok());
            match (v, length) {
                (None, _) => return Err("bad content-length\n"),
                (Some(v), Some(prev)) if v != prev => {
                    return Err("conflicting content-length headers\n")
                }
                (Some(v), _) => length = Some(v),
            }
        } else if name.eq_ignore_ascii_case("transfer-encoding") {
            let v = String::from_utf8_lossy(value).to_ascii_lowercase();
            if v.trim() != "chunked" {
                return Err("only `transfer-encoding: chunked` is supported\n");
            }
            chunked = true;
        }
    }
    match (chunked, length) {
        (true, Some(_)) => Err("both content-length and transfer-encoding\n"),
        (true, None) => Ok(Framing::Chunked),
        (false, Some(n)) => Ok(Framing::Length(n)),
        (false, None) => Ok(Framing::Empty),
    }
}

/// What a request asks the proxy for.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Target {
    /// `CONNECT host:port`.
    Connect {
        /// Host.
        host: String,
        /// Port.
        port: u16,
    },
    /// An absolute-form `http://` request.
    Forward {
        /// Host.
        host: String,
        /// Port (80 by default).
        port: u16,
        /// Origin-form path and query.
        path: String,
    },
}

/// Reads the request line's method and target.
pub fn parse_target(method: &str, target: &str) -> Result<Target, &'static str> {
    if method.eq_ignore_ascii_case("CONNECT") {
        let (host, port) = split_authority(target, None).ok_or("CONNECT needs host:port\n")?;
        return Ok(Target::Connect { host, port });
    }
    let after = target
        .strip_prefix("http://")
        .or_else(|| target.strip_prefix("HTTP://"))
        .ok_or("cordon is a proxy: send absolute-form http:// URLs, or CONNECT for TLS\n")?;
    let (authority, path) = match after.find(['/', '?']) {
        Some(i) if after.as_bytes()[i] == b'/' => (&after[..i], after[i..].to_string()),
        Some(i) => (&after[..i], format!("/{}", &after[i..])),
        None => (after, "/".to_string()),
    };
    if authority.contains('@') {
        return Err("credentials in the URL are not forwarded\n");
    }
    let (host, port) = split_authority(authority, Some(80)).ok_or("bad host in URL\n")?;
    Ok(Target::Forward { host, port, path })
}

/// Parses a request head the way the proxy does (for fuzzing and tests):
/// the target, or why it is refused.
pub fn parse_head(head: &[u8]) -> Result<Target, Reason> {
    if head.len() > MAX_HEAD {
        return Err(Reason::TooLarge);
    }
    let end = find_head_end(head).ok_or(Reason::BadRequest)?;
    let mut headers = [httparse::EMPTY_HEADER; 96];
    let mut req = httparse::Request::new(&mut headers);
    match req.parse(&head[..end]) {
        Ok(httparse::Status::Complete(_)) => {}
        _ => return Err(Reason::BadRequest),
    }
    let (Some(method), Some(target)) = (req.method, req.path) else {
        return Err(Reason::BadRequest);
    };
    parse_target(method, target).map_err(|_| Reason::BadRequest)
}

/// Splits `host:port` (with `[v6]:port`), using `default` when no port.
pub(crate) fn split_authority(auth: &str, default: Option<u16>) -> Option<(String, u16)> {
    let (host, port) = if let Some(rest) = auth.strip_prefix('[') {
        let (h, after) = rest.split_once(']')?;
        (h.to_string(), after.strip_prefix(':'))
    } else {
        match auth.rsplit_once(':') {
            Some((h, p)) if !h.contains(':') => (h.to_string(), Some(p)),
            _ => (auth.to_string(), None),
        }
    };
    let port = match port {
        Some(p) => p.parse().ok().filter(|p| *p != 0)?,
        None => default?,
    };
    if host.is_empty() {
        return None;
    }
    Some((host, port))
}

/// Standard base64 with padding (for Basic proxy credentials).
pub fn base64(input: &[u8]) -> String {
    const T: &[u8; 64] = b"ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789+/";
    let mut out = String::new();
    for chunk in input.chunks(3) {
        let b = [
            chunk[0],
            *chunk.get(1).unwrap_or(&0),
            *chunk.get(2).unwrap_or(&0),
        ];
        let n = (u32::from(b[0]) << 16) | (u32::from(b[1]) << 8) | u32::from(b[2]);
        for i in 0..4 {
            if i <= chunk.len() {
                out.push(T[((n >> (18 - 6 * i)) & 63) as usize] as char);
            } else {
                out.push('=');
            }
        }
    }
    out
}

/// Whether the head carries the proxy's token as Basic credentials.
fn authorized(proxy: &Proxy, headers: &[httparse::Header]) -> bool {
    let Some(token) = &proxy.config().token else {
        return true;
    };
    let expected = format!("Basic {}", base64(format!("cordon:{token}").as_bytes()));
    headers.iter().any(|h| {
        h.name.eq_ignore_ascii_case("proxy-authorization") && h.value == expected.as_bytes()
    })
}

/// A request head, parsed and owned, so the parsing buffers are gone
/// before a long-lived tunnel starts.
struct Request {
    method: String,
    target: Target,
    headers: Vec<(String, Vec<u8>)>,
    rest: Vec<u8>,
}

/// Reads and checks one request head (credentials included, so by the
/// authentication deadline); answers and returns `None` when it is refused.
/// The connection leaves the pending set once its credentials pass.
async fn read_request(
    proxy: &Proxy,
    stream: &mut TcpStream,
    slot: Slot,
    deadlines: Deadlines,
) -> Option<Request> {
    let (buf, head_len) = match read_head(stream, deadlines.auth).await {
        Ok(head) => head,
        Err(HeadError::TooLarge) => {
            proxy.record(AuditRecord::refused("http", "", 0, Reason::TooLarge));
            respond(
                stream,
                "431 Request Header Fields Too Large",
                Reason::TooLarge,
                "request head over 64 KiB\n",
                "",
            )
            .await;
            return None;
        }
        Err(HeadError::Timeout) => {
            proxy.record(AuditRecord::refused("http", "", 0, Reason::Timeout));
            respond(
                stream,
                "408 Request Timeout",
                Reason::Timeout,
                "request head not received in time\n",
                "",
            )
            .await;
            return None;
        }
        Err(HeadError::Closed) => return None,
    };
    let mut headers = [httparse::EMPTY_HEADER; 96];
    let mut req = httparse::Request::new(&mut headers);
    let parsed = matches!(
        req.parse(&buf[..head_len]),
        Ok(httparse::Status::Complete(_))
    );
    let (Some(method), Some(target)) = (req.method.filter(|_| parsed), req.path) else {
        proxy.record(AuditRecord::refused("http", "", 0, Reason::BadRequest));
        respond(
            stream,
            "400 Bad Request",
            Reason::BadRequest,
            "malformed request\n",
            "",
        )
        .await;
        return None;
    };
    if !authorized(proxy, req.headers) {
        proxy.record(AuditRecord::refused("http", "", 0, Reason::Auth));
        respond(
            stream,
            "407 Proxy Authentication Required",
            Reason::Auth,
            "proxy credentials required\n",
            "proxy-authenticate: Basic realm=\"cordon\"\r\n",
        )
        .await;
        return None;
    }
    slot.authenticated();
    let target_parsed = match parse_target(method, target) {
        Ok(t) => t,
        Err(message) => {
            proxy.record(AuditRecord::refused("http", target, 0, Reason::BadRequest));
            respond(stream, "400 Bad Request", Reason::BadRequest, message, "").await;
            return None;
        }
    };
    let keep_headers = matches!(target_parsed, Target::Forward { .. });
    Some(Request {
        method: method.to_string(),
        target: target_parsed,
        headers: if keep_headers {
            req.headers
                .iter()
                .map(|h| (h.name.to_string(), h.value.to_vec()))
                .collect()
        } else {
            Vec::new()
        },
        rest: buf[head_len..].to_vec(),
    })
}

pub(crate) async fn handle(proxy: &Proxy, mut stream: TcpStream, slot: Slot, deadlines: Deadlines) {
    let started = Instant::now();
    // Boxed: its buffers exist only while the head is read.
    let Some(Request {
        method,
        target,
        headers,
        rest,
    }) = Box::pin(read_request(proxy, &mut stream, slot, deadlines)).await
    else {
        return;
    };
    let (host, port, path) = match target {
        Target::Connect { host, port } => {
            return tunnel(proxy, stream, &host, port, rest, started).await
        }
        Target::Forward { host, port, path } => (host, port, path),
    };
    // Framing is checked before anything is connected.
    let framing = match framing(&headers) {
        Ok(f) => f,
        Err(message) => {
            proxy.record(AuditRecord::refused(
                "http",
                &host,
                port,
                Reason::BadRequest,
            ));
            return respond(
                &mut stream,
                "400 Bad Request",
                Reason::BadRequest,
                message,
                "",
            )
            .await;
        }
    };
    let decided = match Box::pin(decide(proxy.config(), &host, port)).await {
        Ok(d) => d,
        Err(refusal) => return deny(proxy, &mut stream, "http", &host, port, refusal).await,
    };
    let upstream = match Box::pin(connect(decided.addr, proxy.config().upstream.as_ref())).await {
        Ok(s) => s,
        Err(reason) => {
            proxy.record(AuditRecord::refused("http", &host, port, reason));
            return respond(
                &mut stream,
                "502 Bad Gateway",
                reason,
                "upstream connection failed\n",
                "",
            )
            .await;
        }
    };
    // Origin-form request line; Host from the checked authority; hop-by-hop
    // and proxy headers dropped; exactly one request per connection.
    let authority = if host.contains(':') {
        format!("[{host}]")
    } else {
        host.clone()
    };
    let authority = if port == 80 {
        authority
    } else {
        format!("{authority}:{port}")
    };
    let mut head = format!("{method} {path} HTTP/1.1\r\nhost: {authority}\r\n");
    for (hname, hvalue) in &headers {
        let name = hname.to_ascii_lowercase();
        if matches!(
            name.as_str(),
            "host" | "proxy-authorization" | "proxy-connection" | "connection" | "keep-alive"
        ) {
            continue;
        }
        head.push_str(hname);
        head.push_str(": ");
        head.push_str(&String::from_utf8_lossy(hvalue));
        head.push_str("\r\n");
    }
    head.push_str("connection: close\r\n\r\n");
    let (up, down) = forward_one(stream, upstream, head.into_bytes(), rest, framing).await;
    proxy.record(AuditRecord::allowed(
        "http",
        &host,
        port,
        decided.addr.to_string(),
        up,
        down,
        started.elapsed().as_millis() as u64,
    ));
}

async fn tunnel(
    proxy: &Proxy,
    mut stream: TcpStream,
    host: &str,
    port: u16,
    rest: Vec<u8>,
    started: Instant,
) {
    let decided = match Box::pin(decide(proxy.config(), host, port)).await {
        Ok(d) => d,
        Err(refusal) => return deny(proxy, &mut stream, "connect", host, port, refusal).await,
    };
    let upstream = match Box::pin(connect(decided.addr, proxy.config().upstream.as_ref())).await {
        Ok(s) => s,
        Err(reason) => {
            proxy.record(AuditRecord::refused("connect", host, port, reason));
            return respond(
                &mut stream,
                "502 Bad Gateway",
                reason,
                "upstream connection failed\n",
                "",
            )
            .await;
        }
    };
    if stream
        .write_all(b"HTTP/1.1 200 Connection Established\r\n\r\n")
        .await
        .is_err()
    {
        return;
    }
    let sni_host = cordon_policy::network::normalize_host(host);
    match relay(stream, upstream, rest, Some(&sni_host)).await {
        Ok((up, down)) => proxy.record(AuditRecord::allowed(
            "connect",
            host,
            port,
            decided.addr.to_string(),
            up,
            down,
            started.elapsed().as_millis() as u64,
        )),
        Err(reason) => proxy.record(AuditRecord::refused("connect", host, port, reason)),
    }
}

async fn deny(
    proxy: &Proxy,
    stream: &mut TcpStream,
    protocol: &str,
    host: &str,
    port: u16,
    refusal: Refusal,
) {
    let mut record = AuditRecord::refused(protocol, host, port, refusal.reason);
    record.refused_addresses = refusal.refused.iter().map(|ip| ip.to_string()).collect();
    proxy.record(record);
    respond(
        stream,
        "403 Forbidden",
        refusal.reason,
        &refusal.explain(host, port),
        "",
    )
    .await;
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn authorities_and_base64() {
        assert_eq!(
            split_authority("a.com:443", None),
            Some(("a.com".into(), 443))
        );
        assert_eq!(
            split_authority("[::1]:8080", None),
            Some(("::1".into(), 8080))
        );
        assert_eq!(
            split_authority("a.com", Some(80)),
            Some(("a.com".into(), 80))
        );
        assert_eq!(split_authority("a.com", None), None);
        assert_eq!(split_authority("a.com:0", None), None);
        assert_eq!(split_authority(":80", None), None);
        assert_eq!(base64(b"cordon:abc"), "Y29yZG9uOmFiYw==");
        assert_eq!(base64(b"ab"), "YWI=");
    }

    #[test]
    fn heads() {
        let t = parse_head(b"CONNECT a.com:443 HTTP/1.1\r\nHost: a.com\r\n\r\n").unwrap();
        assert_eq!(
            t,
            Target::Connect {
                host: "a.com".into(),
                port: 443
            }
        );
        let t = parse_head(b"GET http://a.com:8080/x?y HTTP/1.1\r\n\r\n").unwrap();
        assert_eq!(
            t,
            Target::Forward {
                host: "a.com".into(),
                port: 8080,
                path: "/x?y".into()
            }
        );
        let t = parse_head(b"GET http://a.com?q HTTP/1.1\r\n\r\n").unwrap();
        assert_eq!(
            t,
            Target::Forward {
                host: "a.com".into(),
                port: 80,
                path: "/?q".into()
            }
        );
        for bad in [
            &b"GET /relative HTTP/1.1\r\n\r\n"[..],
            b"CONNECT a.com HTTP/1.1\r\n\r\n",
            b"GET http://u:p@a.com/ HTTP/1.1\r\n\r\n",
            b"\x00\x01garbage\r\n\r\n",
            b"GET http://a.com/ HTTP/1.1\r\n",
        ] {
            assert_eq!(
                parse_head(bad),
                Err(Reason::BadRequest),
                "{:?}",
                String::from_utf8_lossy(bad)
            );
        }
        assert_eq!(parse_head(&vec![b'a'; MAX_HEAD + 1]), Err(Reason::TooLarge));
    }
}
