//! Bad input never crashes the proxy or starves others: each case gets the
//! proper reply or a clean close and an audit line, and the proxy keeps
//! serving. Everything runs on 127.0.0.1.
#![allow(clippy::unwrap_used, clippy::expect_used, missing_docs)]

use cordon_policy::network::{DomainRule, DomainRules, RuleAction};
use cordon_proxy::{AuditLog, Proxy, ProxyConfig};
use std::net::SocketAddr;
use std::time::Duration;
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::{TcpListener, TcpStream};

struct Fixture {
    addr: SocketAddr,
    upstream: SocketAddr,
    audit: std::path::PathBuf,
    _dir: tempfile::TempDir,
}

async fn start(token: Option<&str>) -> Fixture {
    let dir = tempfile::tempdir().unwrap();
    let audit = dir.path().join("audit.jsonl");
    // An upstream that answers `ok` to anything.
    let up = TcpListener::bind("127.0.0.1:0").await.unwrap();
    let upstream = up.local_addr().unwrap();
    tokio::spawn(async move {
        while let Ok((mut s, _)) = up.accept().await {
            tokio::spawn(async move {
                let mut buf = [0u8; 1024];
                let _ = s.read(&mut buf).await;
                let _ = s
                    .write_all(b"HTTP/1.1 200 OK\r\ncontent-length: 2\r\n\r\nok")
                    .await;
            });
        }
    });
    let rules = DomainRules::new(vec![
        DomainRule::parse("127.0.0.1", RuleAction::Allow).unwrap(),
        DomainRule::parse("denied.test", RuleAction::Deny).unwrap(),
    ]);
    let config = ProxyConfig {
        rules,
        token: token.map(str::to_string),
        header_timeout: Duration::from_millis(300),
        ..Default::default()
    };
    let proxy = Proxy::new(config, Some(AuditLog::open(&audit).unwrap()));
    let listener = TcpListener::bind("127.0.0.1:0").await.unwrap();
    let addr = listener.local_addr().unwrap();
    tokio::spawn(async move { proxy.serve(listener).await });
    Fixture {
        addr,
        upstream,
        audit,
        _dir: dir,
    }
}

async fn exchange(addr: SocketAddr, send: &[u8]) -> Vec<u8> {
    let mut s = TcpStream::connect(addr).await.unwrap();
    s.write_all(send).await.unwrap();
    let mut out = Vec::new();
    let _ = tokio::time::timeout(Duration::from_secs(5), s.read_to_end(&mut out)).await;
    out
}

/// The audit reasons so far, waiting briefly for `want` (an allowed
/// connection is recorded when it closes, just after the client sees EOF).
async fn reasons_with(f: &Fixture, want: &str) -> Vec<String> {
    for _ in 0..100 {
        let r = reasons(f);
        if r.iter().any(|x| x == want) {
            return r;
        }
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
    reasons(f)
}

fn reasons(f: &Fixture) -> Vec<String> {
    std::fs::read_to_string(&f.audit)
        .unwrap_or_default()
        .lines()
        .map(|l| {
            serde_json::from_str::<serde_json::Value>(l).unwrap()["reason"]
                .as_str()
                .unwrap()
                .to_string()
        })
        .collect()
}

async fn still_serves(f: &Fixture) {
    let req = format!("GET http://{}/ HTTP/1.1\r\nHost: x\r\n\r\n", f.upstream);
    let out = exchange(f.addr, req.as_bytes()).await;
    assert!(out.ends_with(b"ok"), "{}", String::from_utf8_lossy(&out));
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn malformed_oversized_and_slow_http() {
    let f = start(None).await;
    let out = String::from_utf8_lossy(&exchange(f.addr, b"GARBAGE\x00\x01 nonsense\r\n\r\n").await)
        .into_owned();
    assert!(
        out.starts_with("HTTP/1.1 400") && out.contains("x-cordon-deny: bad-request"),
        "{out}"
    );
    let out = String::from_utf8_lossy(&exchange(f.addr, b"GET /relative HTTP/1.1\r\n\r\n").await)
        .into_owned();
    assert!(out.starts_with("HTTP/1.1 400"), "{out}");

    let mut big = b"GET http://127.0.0.1/ HTTP/1.1\r\n".to_vec();
    while big.len() < 70 * 1024 {
        big.extend_from_slice(b"x-filler: aaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaa\r\n");
    }
    let out = String::from_utf8_lossy(&exchange(f.addr, &big).await).into_owned();
    assert!(
        out.starts_with("HTTP/1.1 431") && out.contains("too-large"),
        "{out}"
    );

    // Slow client: half a request line, then nothing.
    let mut s = TcpStream::connect(f.addr).await.unwrap();
    s.write_all(b"GET http://127.").await.unwrap();
    let mut out = Vec::new();
    tokio::time::timeout(Duration::from_secs(5), s.read_to_end(&mut out))
        .await
        .unwrap()
        .unwrap();
    assert!(
        String::from_utf8_lossy(&out).starts_with("HTTP/1.1 408"),
        "{}",
        String::from_utf8_lossy(&out)
    );

    // Half-closed and reset connections.
    let s = TcpStream::connect(f.addr).await.unwrap();
    drop(s);
    let s = TcpStream::connect(f.addr).await.unwrap();
    // A reset (RST) instead of a close; blocking on drop is harmless here.
    #[allow(deprecated)]
    s.set_linger(Some(Duration::ZERO)).unwrap();
    drop(s);
    let mut s = TcpStream::connect(f.addr).await.unwrap();
    s.write_all(b"CONNECT 127.0.0.1:1 HTTP/1.1\r\n")
        .await
        .unwrap();
    s.shutdown().await.unwrap();
    let mut sink = Vec::new();
    let _ = tokio::time::timeout(Duration::from_secs(5), s.read_to_end(&mut sink)).await;

    still_serves(&f).await;
    let r = reasons_with(&f, "allowed").await;
    for expected in ["bad-request", "too-large", "timeout", "allowed"] {
        assert!(
            r.iter().any(|x| x == expected),
            "no {expected} audit line in {r:?}"
        );
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn socks_versions_commands_and_denials() {
    let f = start(None).await;
    // Wrong version in the request.
    let out = exchange(f.addr, &[5, 1, 0, 4, 1, 0, 1]).await;
    assert_eq!(out, [5, 0, 5, 1, 0, 1, 0, 0, 0, 0, 0, 0]);
    // UDP ASSOCIATE and BIND: command not supported (0x07).
    for cmd in [2u8, 3] {
        let out = exchange(f.addr, &[5, 1, 0, 5, cmd, 0, 1, 127, 0, 0, 1, 0, 80]).await;
        assert_eq!(&out[..4], &[5, 0, 5, 7], "cmd {cmd}");
    }
    // A denied name: 0x02.
    let mut req = vec![5, 1, 0, 5, 1, 0, 3, 11];
    req.extend_from_slice(b"denied.test");
    req.extend_from_slice(&[0, 80]);
    let out = exchange(f.addr, &req).await;
    assert_eq!(&out[..4], &[5, 0, 5, 2]);
    // Unknown address type: 0x08. Truncated greeting: clean close.
    let out = exchange(f.addr, &[5, 1, 0, 5, 1, 0, 9]).await;
    assert_eq!(&out[..4], &[5, 0, 5, 8]);
    assert_eq!(exchange(f.addr, &[5, 3, 0]).await, Vec::<u8>::new());
    // Allowed: a working tunnel.
    let mut s = TcpStream::connect(f.addr).await.unwrap();
    let port = f.upstream.port().to_be_bytes();
    s.write_all(&[5, 1, 0, 5, 1, 0, 1, 127, 0, 0, 1, port[0], port[1]])
        .await
        .unwrap();
    let mut reply = [0u8; 12];
    s.read_exact(&mut reply).await.unwrap();
    assert_eq!(&reply[..4], &[5, 0, 5, 0]);
    s.write_all(b"GET / HTTP/1.1\r\n\r\n").await.unwrap();
    let mut out = Vec::new();
    let _ = tokio::time::timeout(Duration::from_secs(5), s.read_to_end(&mut out)).await;
    assert!(out.ends_with(b"ok"));
    still_serves(&f).await;
    let r = reasons(&f);
    assert!(
        r.iter().any(|x| x == "denied") && r.iter().any(|x| x == "method"),
        "{r:?}"
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn token_is_required_on_both_protocols() {
    let f = start(Some("sekrit")).await;
    let req = format!("GET http://{}/ HTTP/1.1\r\n\r\n", f.upstream);
    let out = String::from_utf8_lossy(&exchange(f.addr, req.as_bytes()).await).into_owned();
    assert!(out.starts_with("HTTP/1.1 407"), "{out}");
    // "cordon:sekrit" in base64.
    let req = format!(
        "GET http://{}/ HTTP/1.1\r\nProxy-Authorization: Basic Y29yZG9uOnNla3JpdA==\r\n\r\n",
        f.upstream
    );
    assert!(exchange(f.addr, req.as_bytes()).await.ends_with(b"ok"));
    // SOCKS offering only no-auth: refused with 0xFF.
    assert_eq!(exchange(f.addr, &[5, 1, 0]).await, vec![5, 0xff]);
    // Wrong password.
    let out = exchange(f.addr, &[5, 1, 2, 1, 1, b'u', 3, b'b', b'a', b'd']).await;
    assert_eq!(out, vec![5, 2, 1, 1]);
    let r = reasons(&f);
    assert!(r.iter().filter(|x| *x == "auth").count() >= 3, "{r:?}");
}

/// An upstream that records everything it receives and answers `ok`.
async fn recording_upstream() -> (SocketAddr, std::sync::Arc<std::sync::Mutex<Vec<u8>>>) {
    let seen = std::sync::Arc::new(std::sync::Mutex::new(Vec::new()));
    let l = TcpListener::bind("127.0.0.1:0").await.unwrap();
    let addr = l.local_addr().unwrap();
    let keep = seen.clone();
    tokio::spawn(async move {
        while let Ok((mut s, _)) = l.accept().await {
            let keep = keep.clone();
            tokio::spawn(async move {
                let mut buf = [0u8; 4096];
                // Read for a moment, then answer; keep reading what else comes.
                let deadline = tokio::time::Instant::now() + Duration::from_millis(300);
                loop {
                    match tokio::time::timeout_at(deadline, s.read(&mut buf)).await {
                        Ok(Ok(0)) | Ok(Err(_)) => break,
                        Ok(Ok(n)) => keep.lock().unwrap().extend_from_slice(&buf[..n]),
                        Err(_) => {
                            let _ = s
                                .write_all(b"HTTP/1.1 200 OK\r\ncontent-length: 2\r\n\r\nok")
                                .await;
                            break;
                        }
                    }
                }
            });
        }
    });
    (addr, seen)
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn plain_http_is_one_request_to_the_checked_host() {
    let f = start(None).await;
    let (up, seen) = recording_upstream().await;
    // A Host header naming another site, and a pipelined second request.
    let req = format!(
        "POST http://{up}/first HTTP/1.1\r\nHost: evil.example\r\ncontent-length: 5\r\n\r\nhelloGET /second HTTP/1.1\r\nHost: other.example\r\n\r\n"
    );
    let out = exchange(f.addr, req.as_bytes()).await;
    assert!(out.ends_with(b"ok"), "{}", String::from_utf8_lossy(&out));
    let got = String::from_utf8_lossy(&seen.lock().unwrap()).into_owned();
    assert!(
        got.starts_with("POST /first HTTP/1.1\r\nhost: 127.0.0.1:"),
        "{got}"
    );
    assert!(
        !got.contains("evil.example") && !got.contains("/second") && !got.contains("other.example"),
        "{got}"
    );
    assert!(got.ends_with("\r\n\r\nhello"), "exactly the body: {got}");

    // A chunked body is forwarded to its last chunk and no further.
    seen.lock().unwrap().clear();
    let req = format!(
        "POST http://{up}/c HTTP/1.1\r\ntransfer-encoding: chunked\r\n\r\n3\r\nabc\r\n0\r\n\r\nGET /smuggled HTTP/1.1\r\n\r\n"
    );
    let out = exchange(f.addr, req.as_bytes()).await;
    assert!(out.ends_with(b"ok"));
    let got = String::from_utf8_lossy(&seen.lock().unwrap()).into_owned();
    assert!(
        got.ends_with("3\r\nabc\r\n0\r\n\r\n") && !got.contains("smuggled"),
        "{got}"
    );

    // Conflicting framing is refused.
    let req = format!(
        "POST http://{up}/ HTTP/1.1\r\ncontent-length: 3\r\ntransfer-encoding: chunked\r\n\r\n"
    );
    let out = String::from_utf8_lossy(&exchange(f.addr, req.as_bytes()).await).into_owned();
    assert!(out.starts_with("HTTP/1.1 400"), "{out}");
}
