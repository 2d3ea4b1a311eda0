//! A small blocking HTTP/1.1 client for model requests: one `POST` with a
//! JSON body, a streamed response body, TLS by rustls with the system's
//! roots (`SSL_CERT_FILE`/`SSL_CERT_DIR` honoured), the host's
//! `HTTPS_PROXY`/`HTTP_PROXY`/`NO_PROXY`, an idle timeout on every read,
//! and one kept-alive connection reused between the requests of a session.
//!
//! Blocking on purpose: a turn is a sequence of single requests, and a
//! runtime's threads would cost start-up time and memory for nothing.

use super::url::{percent_decode, Url};
use std::cell::RefCell;
use std::io::{self, BufRead, BufReader, Read, Write};
use std::net::{TcpStream, ToSocketAddrs};
use std::rc::Rc;
#[cfg(feature = "tls")]
use std::sync::Arc;
use std::time::Duration;

/// Largest response head accepted.
const MAX_HEAD: usize = 64 * 1024;

/// Why a request could not be made or its response not read.
#[derive(Debug, thiserror::Error)]
pub enum HttpError {
    /// Name resolution, TCP connect or the proxy's CONNECT failed.
    #[error("cannot connect to {target}: {reason}")]
    Connect {
        /// `host:port` (and the proxy, when one is used).
        target: String,
        /// Why.
        reason: String,
    },
    /// The TLS set-up failed (no roots, bad certificate, handshake).
    #[error("TLS with {host} failed: {reason}")]
    Tls {
        /// Server name.
        host: String,
        /// Why.
        reason: String,
    },
    /// No byte arrived within the idle timeout.
    #[error("no data within {0:?}")]
    Idle(Duration),
    /// The response is not HTTP/1.x as expected.
    #[error("bad response from the server: {0}")]
    Protocol(String),
    /// Reading or writing failed.
    #[error("connection failed: {0}")]
    Io(#[from] io::Error),
}

/// Timeouts for one request.
#[derive(Debug, Clone, Copy)]
pub struct Timeouts {
    /// TCP connect, per address.
    pub connect: Duration,
    /// Longest wait for any byte of the response.
    pub idle: Duration,
}

/// Proxies from the environment, read once.
#[derive(Debug, Clone, Default)]
pub struct ProxyEnv {
    https: Option<Url>,
    http: Option<Url>,
    no_proxy: Vec<String>,
}

impl ProxyEnv {
    /// Reads `HTTPS_PROXY`, `HTTP_PROXY`, `ALL_PROXY` and `NO_PROXY` (either
    /// case) through `get`; unusable proxy URLs are reported.
    pub fn from_vars(get: impl Fn(&str) -> Option<String>) -> Result<ProxyEnv, HttpError> {
        let var = |names: &[&str]| {
            names
                .iter()
                .find_map(|n| get(n).filter(|v| !v.trim().is_empty()))
        };
        let parse = |v: Option<String>| -> Result<Option<Url>, HttpError> {
            match v {
                None => Ok(None),
                Some(v) => {
                    let with_scheme = if v.contains("://") {
                        v.clone()
                    } else {
                        format!("http://{v}")
                    };
                    match Url::parse(&with_scheme) {
                        Ok(u) if !u.tls => Ok(Some(u)),
                        _ => Err(HttpError::Connect {
                            target: v.clone(),
                            reason: "only http:// proxies are supported in HTTPS_PROXY/HTTP_PROXY"
                                .into(),
                        }),
                    }
                }
            }
        };
        let all = var(&["ALL_PROXY", "all_proxy"]).filter(|v| !v.starts_with("socks"));
        Ok(ProxyEnv {
            https: parse(var(&["HTTPS_PROXY", "https_proxy"]).or_else(|| all.clone()))?,
            http: parse(var(&["HTTP_PROXY", "http_proxy"]).or(all))?,
            no_proxy: var(&["NO_PROXY", "no_proxy"])
                .map(|v| {
                    v.split(',')
                        .map(|s| s.trim().trim_start_matches('.').to_ascii_lowercase())
                        .filter(|s| !s.is_empty())
                        .collect()
                })
                .unwrap_or_default(),
        })
    }

    /// The proxy to use for `url`, if any.
    pub fn for_url(&self, url: &Url) -> Option<&Url> {
        let host = url.host.to_ascii_lowercase();
        let bypass = self.no_proxy.iter().any(|p| {
            p == "*" || host == *p || host.ends_with(&format!(".{p}")) || {
                let with_port = format!("{host}:{}", url.port);
                with_port == *p
            }
        });
        if bypass {
            return None;
        }
        if url.tls {
            self.https.as_ref()
        } else {
            self.http.as_ref()
        }
    }
}

/// One connection, plain or TLS.
enum Conn {
    Plain(TcpStream),
    #[cfg(feature = "tls")]
    Tls(Box<rustls::StreamOwned<rustls::ClientConnection, TcpStream>>),
}

impl Read for Conn {
    fn read(&mut self, buf: &mut [u8]) -> io::Result<usize> {
        match self {
            Conn::Plain(s) => s.read(buf),
            #[cfg(feature = "tls")]
            Conn::Tls(s) => s.read(buf),
        }
    }
}

impl Write for Conn {
    fn write(&mut self, buf: &[u8]) -> io::Result<usize> {
        match self {
            Conn::Plain(s) => s.write(buf),
            #[cfg(feature = "tls")]
            Conn::Tls(s) => s.write(buf),
        }
    }
    fn flush(&mut self) -> io::Result<()> {
        match self {
            Conn::Plain(s) => s.flush(),
            #[cfg(feature = "tls")]
            Conn::Tls(s) => s.flush(),
        }
    }
}

impl Conn {
    fn tcp(&self) -> &TcpStream {
        match self {
            Conn::Plain(s) => s,
            #[cfg(feature = "tls")]
            Conn::Tls(s) => s.get_ref(),
        }
    }
}

/// Which connection a pooled one can serve.
type PoolKey = (bool, String, u16);

/// A kept-alive connection, put back when a body was read to its end.
type Pool = Rc<RefCell<Option<(PoolKey, BufReader<Conn>)>>>;

/// A blocking HTTP client holding at most one idle connection.
pub struct Client {
    proxies: ProxyEnv,
    #[cfg(feature = "tls")]
    tls: Option<Arc<rustls::ClientConfig>>,
    pool: Pool,
}

/// A response whose body is read as a stream.
pub struct Response {
    /// Status code.
    pub status: u16,
    /// Headers, names lower-cased.
    pub headers: Vec<(String, String)>,
    /// The body.
    pub body: Body,
}

impl Response {
    /// The first header named `name` (lower case).
    pub fn header(&self, name: &str) -> Option<&str> {
        self.headers
            .iter()
            .find(|(n, _)| n == name)
            .map(|(_, v)| v.as_str())
    }
}

impl Client {
    /// A client using `proxies`.
    pub fn new(proxies: ProxyEnv) -> Client {
        Client {
            proxies,
            #[cfg(feature = "tls")]
            tls: None,
            pool: Rc::new(RefCell::new(None)),
        }
    }

    #[cfg(feature = "tls")]
    fn tls_config(&mut self) -> Result<Arc<rustls::ClientConfig>, HttpError> {
        if let Some(c) = &self.tls {
            return Ok(c.clone());
        }
        let tls_err = |reason: String| HttpError::Tls {
            host: "(any)".into(),
            reason,
        };
        let mut roots = rustls::RootCertStore::empty();
        let found = rustls_native_certs::load_native_certs();
        for cert in found.certs {
            let _ = roots.add(cert);
        }
        if roots.is_empty() {
            return Err(tls_err(format!(
                "no trusted root certificates found ({}); install ca-certificates or set SSL_CERT_FILE",
                found
                    .errors
                    .first()
                    .map(|e| e.to_string())
                    .unwrap_or_else(|| "the system store is empty".into())
            )));
        }
        let provider = Arc::new(rustls::crypto::ring::default_provider());
        let config = rustls::ClientConfig::builder_with_provider(provider)
            .with_safe_default_protocol_versions()
            .map_err(|e| tls_err(e.to_string()))?
            .with_root_certificates(roots)
            .with_no_client_auth();
        let config = Arc::new(config);
        self.tls = Some(config.clone());
        Ok(config)
    }

    /// Sends `POST url` with `headers` and `body`; returns once the response
    /// head has arrived.
    pub fn post(
        &mut self,
        url: &Url,
        headers: &[(String, String)],
        body: &[u8],
        timeouts: Timeouts,
        interrupt: Option<&crate::interrupt::Interrupt>,
    ) -> Result<Response, HttpError> {
        let proxy = self.proxies.for_url(url).cloned();
        let key: PoolKey = (url.tls, url.host.clone(), url.port);
        let pooled = self.pool.borrow_mut().take().filter(|(k, _)| *k == key);
        let mut head = request_head(url, proxy.as_ref(), headers, body.len());
        head.extend_from_slice(body);
        if let Some((_, mut conn)) = pooled {
            conn.get_ref().tcp().set_read_timeout(Some(timeouts.idle))?;
            if let Some(i) = interrupt {
                i.watch_socket(conn.get_ref().tcp());
            }
            // A kept-alive connection the server closed meanwhile fails
            // here or at the first read; then try once on a fresh one.
            if conn.get_mut().write_all(&head).is_ok() {
                match read_head(&mut conn, timeouts.idle) {
                    Ok((status, headers)) => {
                        return Ok(self.response(status, headers, conn, key));
                    }
                    Err(HttpError::Io(_)) | Err(HttpError::Protocol(_)) => {}
                    Err(e) => return Err(e),
                }
            }
        }
        let conn = self.connect(url, proxy.as_ref(), timeouts, interrupt)?;
        let mut conn = BufReader::with_capacity(16 * 1024, conn);
        conn.get_mut().write_all(&head)?;
        conn.get_mut().flush()?;
        let (status, headers) = read_head(&mut conn, timeouts.idle)?;
        Ok(self.response(status, headers, conn, key))
    }

    fn response(
        &self,
        status: u16,
        headers: Vec<(String, String)>,
        conn: BufReader<Conn>,
        key: PoolKey,
    ) -> Response {
        let header = |name: &str| {
            headers
                .iter()
                .find(|(n, _)| n == name)
                .map(|(_, v)| v.to_ascii_lowercase())
        };
        let framing = if header("transfer-encoding").is_some_and(|v| v.contains("chunked")) {
            Framing::Chunked {
                left: 0,
                done: false,
            }
        } else if let Some(n) = header("content-length").and_then(|v| v.trim().parse().ok()) {
            Framing::Length(n)
        } else {
            Framing::Close
        };
        let reusable = !header("connection").is_some_and(|v| v.contains("close"))
            && !matches!(framing, Framing::Close);
        Response {
            status,
            headers,
            body: Body {
                conn: Some(conn),
                framing,
                reusable,
                key,
                pool: self.pool.clone(),
            },
        }
    }

    fn connect(
        &mut self,
        url: &Url,
        proxy: Option<&Url>,
        timeouts: Timeouts,
        interrupt: Option<&crate::interrupt::Interrupt>,
    ) -> Result<Conn, HttpError> {
        // A build without TLS (the `tls` feature; checks for other targets
        // leave it out) says so before connecting.
        #[cfg(not(feature = "tls"))]
        if url.tls {
            return Err(HttpError::Tls {
                host: url.host.clone(),
                reason: "this cordon was built without TLS (cordon-core's `tls` feature); build it with the default features".into(),
            });
        }
        let hop = proxy.unwrap_or(url);
        let target = match proxy {
            Some(p) => format!("{} (through the proxy {})", url.host_port(), p.host_port()),
            None => url.host_port(),
        };
        let connect_err = |reason: String| HttpError::Connect {
            target: target.clone(),
            reason,
        };
        let addrs: Vec<_> = (hop.host.as_str(), hop.port)
            .to_socket_addrs()
            .map_err(|e| connect_err(format!("cannot resolve {}: {e}", hop.host)))?
            .collect();
        let mut last = None;
        let mut stream = None;
        for addr in addrs {
            match TcpStream::connect_timeout(&addr, timeouts.connect) {
                Ok(s) => {
                    stream = Some(s);
                    break;
                }
                Err(e) => last = Some(e),
            }
        }
        let stream = stream.ok_or_else(|| {
            connect_err(
                last.map(|e| e.to_string())
                    .unwrap_or_else(|| "the name has no addresses".into()),
            )
        })?;
        // Watched from here on: an interrupt cuts the proxy's CONNECT, the
        // TLS handshake and the response alike.
        if let Some(i) = interrupt {
            i.watch_socket(&stream);
        }
        stream.set_nodelay(true)?;
        stream.set_read_timeout(Some(timeouts.idle))?;
        stream.set_write_timeout(Some(timeouts.idle))?;
        #[cfg(feature = "tls")]
        if url.tls {
            let mut stream = stream;
            if let Some(p) = proxy {
                tunnel(&mut stream, url, p, timeouts.idle).map_err(|e| match e {
                    HttpError::Protocol(reason) => connect_err(reason),
                    other => other,
                })?;
            }
            let config = self.tls_config()?;
            let name = rustls::pki_types::ServerName::try_from(url.host.clone()).map_err(|e| {
                HttpError::Tls {
                    host: url.host.clone(),
                    reason: e.to_string(),
                }
            })?;
            let mut tls =
                rustls::ClientConnection::new(config, name).map_err(|e| HttpError::Tls {
                    host: url.host.clone(),
                    reason: e.to_string(),
                })?;
            while tls.is_handshaking() {
                tls.complete_io(&mut stream).map_err(|e| match e.kind() {
                    io::ErrorKind::WouldBlock | io::ErrorKind::TimedOut => {
                        HttpError::Idle(timeouts.idle)
                    }
                    _ => HttpError::Tls {
                        host: url.host.clone(),
                        reason: e.to_string(),
                    },
                })?;
            }
            return Ok(Conn::Tls(Box::new(rustls::StreamOwned::new(tls, stream))));
        }
        Ok(Conn::Plain(stream))
    }
}

/// `Proxy-Authorization` for a proxy URL with credentials.
fn proxy_auth(proxy: &Url) -> Option<String> {
    proxy.userinfo.as_ref().map(|u| {
        let (user, pass) = u.split_once(':').unwrap_or((u, ""));
        let plain = format!("{}:{}", percent_decode(user), percent_decode(pass));
        format!("Basic {}", base64(plain.as_bytes()))
    })
}

/// Opens a CONNECT tunnel to `url` through `proxy` on `stream`.
#[cfg(feature = "tls")]
fn tunnel(stream: &mut TcpStream, url: &Url, proxy: &Url, idle: Duration) -> Result<(), HttpError> {
    let mut req = format!(
        "CONNECT {hp} HTTP/1.1\r\nHost: {hp}\r\n",
        hp = url.host_port()
    );
    if let Some(auth) = proxy_auth(proxy) {
        req.push_str(&format!("Proxy-Authorization: {auth}\r\n"));
    }
    req.push_str("\r\n");
    stream.write_all(req.as_bytes())?;
    // Read byte by byte: nothing after the head may be consumed, it is TLS.
    let mut head = Vec::new();
    let mut byte = [0u8; 1];
    while !head.ends_with(b"\r\n\r\n") {
        if head.len() > MAX_HEAD {
            return Err(HttpError::Protocol(
                "the proxy's reply head is too large".into(),
            ));
        }
        match stream.read(&mut byte) {
            Ok(0) => {
                return Err(HttpError::Protocol(
                    "the proxy closed the connection".into(),
                ))
            }
            Ok(_) => head.push(byte[0]),
            Err(e)
                if matches!(
                    e.kind(),
                    io::ErrorKind::WouldBlock | io::ErrorKind::TimedOut
                ) =>
            {
                return Err(HttpError::Idle(idle))
            }
            Err(e) => return Err(e.into()),
        }
    }
    let line = String::from_utf8_lossy(&head);
    let status = line.split_whitespace().nth(1).unwrap_or("");
    if status != "200" {
        let first = line.lines().next().unwrap_or("").to_string();
        return Err(HttpError::Protocol(format!(
            "the proxy refused the tunnel: {first}"
        )));
    }
    Ok(())
}

/// The request line and headers.
fn request_head(
    url: &Url,
    proxy: Option<&Url>,
    headers: &[(String, String)],
    len: usize,
) -> Vec<u8> {
    // Through a proxy, plain HTTP uses the absolute form.
    let target = match proxy {
        Some(_) if !url.tls => url.to_string(),
        _ => url.path.clone(),
    };
    let mut head = format!(
        "POST {target} HTTP/1.1\r\nHost: {}\r\nContent-Length: {len}\r\n",
        url.authority()
    );
    if let (Some(p), false) = (proxy, url.tls) {
        if let Some(auth) = proxy_auth(p) {
            head.push_str(&format!("Proxy-Authorization: {auth}\r\n"));
        }
    }
    for (name, value) in headers {
        head.push_str(name);
        head.push_str(": ");
        head.push_str(value);
        head.push_str("\r\n");
    }
    head.push_str("\r\n");
    head.into_bytes()
}

fn io_to_http(e: io::Error, idle: Duration) -> HttpError {
    match e.kind() {
        io::ErrorKind::WouldBlock | io::ErrorKind::TimedOut => HttpError::Idle(idle),
        _ => HttpError::Io(e),
    }
}

/// Reads the status line and headers, skipping `1xx` responses.
fn read_head(
    conn: &mut BufReader<Conn>,
    idle: Duration,
) -> Result<(u16, Vec<(String, String)>), HttpError> {
    loop {
        let mut head = Vec::new();
        loop {
            let n = conn
                .read_until(b'\n', &mut head)
                .map_err(|e| io_to_http(e, idle))?;
            if n == 0 {
                return Err(HttpError::Protocol(if head.is_empty() {
                    "the server closed the connection without answering".into()
                } else {
                    "the connection closed inside the response head".into()
                }));
            }
            if head.ends_with(b"\r\n\r\n") || head.ends_with(b"\n\n") {
                break;
            }
            if head.len() > MAX_HEAD {
                return Err(HttpError::Protocol(
                    "response head larger than 64 KiB".into(),
                ));
            }
        }
        let mut storage = [httparse::EMPTY_HEADER; 64];
        let mut parsed = httparse::Response::new(&mut storage);
        match parsed.parse(&head) {
            Ok(httparse::Status::Complete(_)) => {}
            Ok(httparse::Status::Partial) => {
                return Err(HttpError::Protocol("incomplete response head".into()))
            }
            Err(e) => {
                return Err(HttpError::Protocol(format!(
                    "unparseable response head: {e}"
                )))
            }
        }
        let status = parsed.code.unwrap_or(0);
        if (100..200).contains(&status) {
            continue;
        }
        let headers = parsed
            .headers
            .iter()
            .map(|h| {
                (
                    h.name.to_ascii_lowercase(),
                    String::from_utf8_lossy(h.value).into_owned(),
                )
            })
            .collect();
        return Ok((status, headers));
    }
}

/// How the body's end is known.
enum Framing {
    Length(u64),
    Chunked { left: u64, done: bool },
    Close,
}

/// A response body; a connection read to a clean end goes back to the pool.
pub struct Body {
    conn: Option<BufReader<Conn>>,
    framing: Framing,
    reusable: bool,
    key: PoolKey,
    pool: Pool,
}

impl Body {
    fn finish(&mut self) {
        if let Some(conn) = self.conn.take() {
            if self.reusable {
                *self.pool.borrow_mut() = Some((self.key.clone(), conn));
            }
        }
    }

    /// Reads the whole remaining body, up to `max` bytes (the rest is dropped).
    pub fn read_capped(&mut self, max: usize) -> String {
        let mut out = Vec::new();
        let mut buf = [0u8; 8192];
        while out.len() < max {
            match self.read(&mut buf) {
                Ok(0) | Err(_) => break,
                Ok(n) => out.extend_from_slice(&buf[..n]),
            }
        }
        out.truncate(max);
        String::from_utf8_lossy(&out).into_owned()
    }
}

/// Reads at most `left` more bytes of a counted body part into `buf` and
/// counts them off; the stream ending first is the error `cut`.
fn read_counted(
    conn: &mut impl Read,
    buf: &mut [u8],
    left: &mut u64,
    cut: &str,
) -> io::Result<usize> {
    let want = buf.len().min(usize::try_from(*left).unwrap_or(usize::MAX));
    let n = conn.read(&mut buf[..want])?;
    if n == 0 {
        return Err(io::Error::new(
            io::ErrorKind::UnexpectedEof,
            cut.to_string(),
        ));
    }
    *left -= n as u64;
    Ok(n)
}

fn protocol(msg: &str) -> io::Error {
    io::Error::new(io::ErrorKind::InvalidData, msg.to_string())
}

impl Read for Body {
    fn read(&mut self, buf: &mut [u8]) -> io::Result<usize> {
        let Some(conn) = self.conn.as_mut() else {
            return Ok(0);
        };
        if buf.is_empty() {
            return Ok(0);
        }
        match &mut self.framing {
            Framing::Close => conn.read(buf),
            Framing::Length(left) => {
                if *left == 0 {
                    self.finish();
                    return Ok(0);
                }
                let n = read_counted(conn, buf, left, "the body ended before its Content-Length")?;
                if *left == 0 {
                    self.finish();
                }
                Ok(n)
            }
            Framing::Chunked { left, done } => {
                if *done {
                    return Ok(0);
                }
                if *left == 0 {
                    let mut line = String::new();
                    conn.by_ref().take(1024).read_line(&mut line)?;
                    if !line.ends_with('\n') {
                        return Err(io::Error::new(
                            io::ErrorKind::UnexpectedEof,
                            "the chunked body ended inside a chunk size",
                        ));
                    }
                    let size = line.trim_end().split(';').next().unwrap_or("").trim();
                    let size = u64::from_str_radix(size, 16)
                        .map_err(|_| protocol("bad chunk size in the response"))?;
                    if size == 0 {
                        // Trailers, then the blank line.
                        loop {
                            let mut t = String::new();
                            conn.by_ref().take(8192).read_line(&mut t)?;
                            if t.is_empty() || t == "\r\n" || t == "\n" {
                                break;
                            }
                        }
                        *done = true;
                        self.finish();
                        return Ok(0);
                    }
                    *left = size;
                }
                let n = read_counted(conn, buf, left, "the chunked body ended inside a chunk")?;
                if *left == 0 {
                    let mut crlf = String::new();
                    conn.by_ref().take(2).read_line(&mut crlf)?;
                    if crlf.trim_end() != "" {
                        return Err(protocol("a chunk is not followed by CRLF"));
                    }
                }
                Ok(n)
            }
        }
    }
}

/// Standard base64 with padding.
fn base64(data: &[u8]) -> String {
    const ALPHABET: &[u8; 64] = b"ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789+/";
    let mut out = String::with_capacity(data.len().div_ceil(3) * 4);
    for chunk in data.chunks(3) {
        let b = [
            chunk[0],
            *chunk.get(1).unwrap_or(&0),
            *chunk.get(2).unwrap_or(&0),
        ];
        let n = (u32::from(b[0]) << 16) | (u32::from(b[1]) << 8) | u32::from(b[2]);
        for i in 0..4 {
            if i <= chunk.len() {
                out.push(ALPHABET[(n >> (18 - 6 * i) & 63) as usize] as char);
            } else {
                out.push('=');
            }
        }
    }
    out
}

#[cfg(test)]
#[path = "http_tests.rs"]
mod tests;
