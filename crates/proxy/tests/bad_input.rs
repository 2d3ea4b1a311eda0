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
    start_with(token, |_| {}).await
}

/// A fixture whose config `tweak` adjusts.
async fn start_with(token: Option<&str>, tweak: impl FnOnce(&mut ProxyConfig)) -> Fixture {
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
    let mut config = ProxyConfig {
        rules,
        token: token.map(str::to_string),
        header_timeout: Duration::from_millis(300),
        ..Default::default()
    };
    tweak(&mut config);
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
    records(f)
        .iter()
        .map(|r| r["reason"].as_str().unwrap().to_string())
        .collect()
}

fn records(f: &Fixture) -> Vec<serde_json::Value> {
    std::fs::read_to_string(&f.audit)
        .unwrap_or_default()
        .lines()
        .map(|l| serde_json::from_str::<serde_json::Value>(l).unwrap())
        .collect()
}

/// How many denials for `reason` the audit log accounts for: a line each,
/// except a summary line, which stands for its `repeated` count.
fn denial_count(f: &Fixture, reason: &str) -> u64 {
    records(f)
        .iter()
        .filter(|r| r["reason"] == reason)
        .map(|r| r["repeated"].as_u64().unwrap_or(1))
        .sum()
}

/// Waits (a few seconds at most) until the audit log accounts for `want`
/// denials for `reason`, since a window's count is written when it closes.
async fn denial_count_reaches(f: &Fixture, reason: &str, want: u64) -> u64 {
    for _ in 0..200 {
        if denial_count(f, reason) >= want {
            break;
        }
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
    denial_count(f, reason)
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
    // Coalesced into one line and a count, which accounts for all three.
    assert_eq!(
        denial_count_reaches(&f, "auth", 3).await,
        3,
        "{:?}",
        records(&f)
    );
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

/// Basic credentials for the token `sekrit`.
const AUTH: &str = "Proxy-Authorization: Basic Y29yZG9uOnNla3JpdA==\r\n";

/// A connection from `source` (any loopback address) that sends nothing.
async fn idle_from(source: &str, to: SocketAddr) -> TcpStream {
    let socket = tokio::net::TcpSocket::new_v4().unwrap();
    socket.bind(format!("{source}:0").parse().unwrap()).unwrap();
    socket.connect(to).await.unwrap()
}

/// Whether the proxy has closed `s` (EOF or reset) within `wait`.
async fn closed_within(s: &mut TcpStream, wait: Duration) -> bool {
    let mut byte = [0u8; 1];
    matches!(
        tokio::time::timeout(wait, s.read(&mut byte)).await,
        Ok(Ok(0)) | Ok(Err(_))
    )
}

/// Idle unauthenticated connections are capped per peer and in total, the
/// oldest closed to make room, so a process holding the caps full (from
/// the token holder's own address) cannot lock it out; the rest are closed
/// at the auth deadline, well before the (long) header timeout.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn idle_unauthenticated_connections_cannot_lock_out_the_token_holder() {
    let auth_timeout = Duration::from_millis(1500);
    let f = start_with(Some("sekrit"), |c| {
        c.header_timeout = Duration::from_secs(30);
        c.auth_timeout = auth_timeout;
        c.max_pending_per_peer = 4;
        c.max_pending = 6;
        // Opened within milliseconds here; an idle holder's would be older
        // than the grace (see the burst test below).
        c.pending_grace = Duration::ZERO;
    })
    .await;
    let settle = Duration::from_millis(300);
    // One idle connection from another peer, then ten from the token
    // holder's address: only that address's oldest make room.
    let mut other = idle_from("127.0.0.2", f.addr).await;
    let mut mine = Vec::new();
    for _ in 0..10 {
        mine.push(idle_from("127.0.0.1", f.addr).await);
    }
    let opened = std::time::Instant::now();
    tokio::time::sleep(settle).await;
    for (i, s) in mine.iter_mut().enumerate() {
        let closed = closed_within(s, Duration::from_millis(50)).await;
        assert_eq!(closed, i < 6, "connection {i} of 127.0.0.1");
    }
    assert!(
        !closed_within(&mut other, Duration::from_millis(50)).await,
        "another peer's connection was closed for 127.0.0.1's excess"
    );
    // The total cap: two more from a third address close the oldest overall.
    let mut third = [
        idle_from("127.0.0.3", f.addr).await,
        idle_from("127.0.0.3", f.addr).await,
    ];
    assert!(closed_within(&mut other, Duration::from_secs(1)).await);
    // With the caps full: no credentials, no entry (the control) ...
    let req = format!("GET http://{}/ HTTP/1.1\r\n\r\n", f.upstream);
    let out = String::from_utf8_lossy(&exchange(f.addr, req.as_bytes()).await).into_owned();
    assert!(out.starts_with("HTTP/1.1 407"), "{out}");
    // ... and the token holder gets through.
    let req = format!("GET http://{}/ HTTP/1.1\r\n{AUTH}\r\n", f.upstream);
    let out = exchange(f.addr, req.as_bytes()).await;
    assert!(out.ends_with(b"ok"), "{}", String::from_utf8_lossy(&out));
    // The rest are closed at the auth deadline, not the header timeout.
    let mut survivors: Vec<&mut TcpStream> = mine[7..].iter_mut().collect();
    survivors.extend(third.iter_mut());
    for s in survivors {
        assert!(closed_within(s, Duration::from_secs(5)).await);
    }
    let took = opened.elapsed();
    assert!(
        took >= auth_timeout - settle && took < auth_timeout + Duration::from_secs(2),
        "idle connections closed after {took:?}"
    );
    // Made room for: 6 + 1 (other peer) + 1 (the first of 127.0.0.1's last
    // four, by the token holder); timed out: 3 + 2; failed auth: 1.
    assert_eq!(denial_count_reaches(&f, "pending-cap", 8).await, 8);
    assert_eq!(denial_count_reaches(&f, "timeout", 5).await, 5);
    assert_eq!(denial_count(&f, "auth"), 1, "{:?}", records(&f));
}

/// A client opening many connections at once, from one address, and only
/// then sending its requests is served in full: over the per-peer cap
/// within the grace period nothing is closed. Control: with no grace, the
/// same burst loses all but the cap.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_burst_of_parallel_connections_from_one_client_is_served() {
    for (grace, served) in [(Duration::from_secs(1), 20), (Duration::ZERO, 4)] {
        let f = start_with(Some("sekrit"), |c| {
            c.max_pending_per_peer = 4;
            c.max_pending = 64;
            c.pending_grace = grace;
        })
        .await;
        let mut burst = Vec::new();
        for _ in 0..20 {
            burst.push(idle_from("127.0.0.1", f.addr).await);
        }
        tokio::time::sleep(Duration::from_millis(100)).await;
        let req = format!("GET http://{}/ HTTP/1.1\r\n{AUTH}\r\n", f.upstream);
        let mut ok = 0;
        for s in &mut burst {
            let _ = s.write_all(req.as_bytes()).await;
            let mut out = Vec::new();
            let _ = tokio::time::timeout(Duration::from_secs(5), s.read_to_end(&mut out)).await;
            ok += usize::from(out.ends_with(b"ok"));
        }
        assert_eq!(ok, served, "grace {grace:?}");
    }
}

/// Without a token (the proxy in the sandbox's own namespace) the caps
/// bound connections that have not sent a complete request; complete ones
/// are served as before.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn without_a_token_the_caps_bound_incomplete_requests() {
    let f = start_with(None, |c| {
        c.max_pending_per_peer = 2;
        c.max_pending = 2;
        c.pending_grace = Duration::ZERO;
    })
    .await;
    let mut idle = Vec::new();
    for _ in 0..3 {
        idle.push(idle_from("127.0.0.1", f.addr).await);
    }
    assert!(closed_within(&mut idle[0], Duration::from_secs(1)).await);
    assert!(!closed_within(&mut idle[2], Duration::from_millis(50)).await);
    still_serves(&f).await;
    assert_eq!(denial_count_reaches(&f, "pending-cap", 2).await, 2);
}

/// A flood of identical denials is one line written at once plus counts
/// that account for every one; another host's denial in the middle of it
/// is written at once.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_flood_of_identical_denials_is_one_line_and_a_count() {
    let f = start(None).await;
    let denied = b"GET http://denied.test/ HTTP/1.1\r\n\r\n";
    let lines_for = |host: &str| {
        records(&f)
            .into_iter()
            .filter(|r| r["host"] == host)
            .collect::<Vec<_>>()
    };
    const N: u64 = 300;
    let started = std::time::Instant::now();
    for i in 0..N {
        let out = exchange(f.addr, denied).await;
        assert!(out.starts_with(b"HTTP/1.1 403"));
        if i == 0 {
            let first = lines_for("denied.test");
            assert_eq!(first.len(), 1, "the first is written at once");
            assert!(first[0].get("repeated").is_none(), "{}", first[0]);
        }
        if i == N / 2 {
            let other = exchange(f.addr, b"GET http://other.test/ HTTP/1.1\r\n\r\n").await;
            assert!(other.starts_with(b"HTTP/1.1 403"));
            let lines = lines_for("other.test");
            assert_eq!(lines.len(), 1, "another host is written at once");
            assert_eq!(lines[0]["reason"], "not-allowed");
        }
    }
    let flood = started.elapsed();
    assert_eq!(denial_count_reaches(&f, "denied", N).await, N);
    // At most a first line and a summary per second the flood lasted.
    let lines = lines_for("denied.test");
    let windows = flood.as_secs() + 1;
    assert!(
        lines.len() as u64 <= 2 * windows,
        "{} lines for {N} denials in {flood:?}",
        lines.len()
    );
    let summary = lines.iter().find(|r| r.get("repeated").is_some()).unwrap();
    assert_eq!(
        (&summary["host"], &summary["decision"], &summary["port"]),
        (
            &serde_json::json!("denied.test"),
            &serde_json::json!("deny"),
            &serde_json::json!(80)
        )
    );
    assert_eq!(denial_count(&f, "not-allowed"), 1);
}
