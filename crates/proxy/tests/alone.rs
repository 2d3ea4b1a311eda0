//! The proxy alone: its decision refuses a denied host, with its reason,
//! even where the network lets the traffic through. No sandbox and no
//! network namespace here: the test's server on 127.0.0.1 is reachable
//! directly (the control) and through the proxy by the names its rules
//! allow, never by the names they deny, and a refused request never
//! reaches the server. Everything runs on 127.0.0.1.
#![allow(clippy::unwrap_used, clippy::expect_used, missing_docs)]

use cordon_policy::network::{DomainRule, DomainRules, RuleAction};
use cordon_proxy::{AuditLog, Proxy, ProxyConfig};
use std::net::SocketAddr;
use std::path::Path;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::Arc;
use std::time::Duration;
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::{TcpListener, TcpStream};

/// A server on 127.0.0.1 that greets every connection and counts them.
async fn server() -> (SocketAddr, Arc<AtomicUsize>) {
    let listener = TcpListener::bind("127.0.0.1:0").await.unwrap();
    let addr = listener.local_addr().unwrap();
    let count = Arc::new(AtomicUsize::new(0));
    let c = count.clone();
    tokio::spawn(async move {
        while let Ok((mut s, _)) = listener.accept().await {
            c.fetch_add(1, Ordering::SeqCst);
            tokio::spawn(async move {
                let _ = s.write_all(b"hello from the server\n").await;
            });
        }
    });
    (addr, count)
}

/// A proxy on 127.0.0.1 with `rules` (pattern, allow?), auditing to `audit`.
async fn proxy(rules: &[(&str, bool)], audit: &Path) -> SocketAddr {
    let rules = rules
        .iter()
        .map(|(p, allow)| {
            let action = if *allow {
                RuleAction::Allow
            } else {
                RuleAction::Deny
            };
            DomainRule::parse(p, action).unwrap()
        })
        .collect();
    let config = ProxyConfig {
        rules: DomainRules::new(rules),
        ..Default::default()
    };
    let proxy = Proxy::new(config, Some(AuditLog::open(audit).unwrap()));
    let listener = TcpListener::bind("127.0.0.1:0").await.unwrap();
    let addr = listener.local_addr().unwrap();
    tokio::spawn(async move { proxy.serve(listener).await });
    addr
}

/// Sends `request` and reads until the peer closes (at most 5 s).
async fn exchange(addr: SocketAddr, request: &[u8]) -> String {
    let mut s = TcpStream::connect(addr).await.unwrap();
    s.write_all(request).await.unwrap();
    let mut out = Vec::new();
    let _ = tokio::time::timeout(Duration::from_secs(5), s.read_to_end(&mut out)).await;
    String::from_utf8_lossy(&out).into_owned()
}

/// A CONNECT through `proxy` to `host:port`; the whole answer, tunnel
/// bytes included.
async fn connect_via(proxy: SocketAddr, host: &str, port: u16) -> String {
    let req = format!("CONNECT {host}:{port} HTTP/1.1\r\nHost: {host}:{port}\r\n\r\n");
    exchange(proxy, req.as_bytes()).await
}

/// A SOCKS5 CONNECT to the domain name `host`; the reply code and what
/// followed it.
async fn socks_via(proxy: SocketAddr, host: &str, port: u16) -> (u8, String) {
    let mut s = TcpStream::connect(proxy).await.unwrap();
    s.write_all(&[5, 1, 0]).await.unwrap();
    let mut hello = [0u8; 2];
    s.read_exact(&mut hello).await.unwrap();
    assert_eq!(hello, [5, 0]);
    let mut req = vec![5, 1, 0, 3, host.len() as u8];
    req.extend_from_slice(host.as_bytes());
    req.extend_from_slice(&port.to_be_bytes());
    s.write_all(&req).await.unwrap();
    let mut head = [0u8; 4];
    s.read_exact(&mut head).await.unwrap();
    let mut rest = Vec::new();
    let _ = tokio::time::timeout(Duration::from_secs(5), s.read_to_end(&mut rest)).await;
    (head[1], String::from_utf8_lossy(&rest).into_owned())
}

/// The audit log's (host, decision, reason) triples.
/// The audit log's decisions, one per request: a coalesced summary line
/// (`"repeated": N`, the denials after the first in its window) counts N.
fn audit(path: &Path) -> Vec<(String, String, String)> {
    std::fs::read_to_string(path)
        .unwrap_or_default()
        .lines()
        .flat_map(|l| {
            let v: serde_json::Value = serde_json::from_str(l).unwrap();
            let s = |k: &str| v[k].as_str().unwrap_or_default().to_string();
            let times = v["repeated"].as_u64().unwrap_or(1) as usize;
            std::iter::repeat_n((s("host"), s("decision"), s("reason")), times)
        })
        .collect()
}

fn assert_refused(answer: &str, reason: &str) {
    assert!(
        answer.starts_with("HTTP/1.1 403")
            && answer.contains(&format!("x-cordon-deny: {reason}\r\n"))
            && !answer.contains("hello from the server"),
        "want a 403 with reason {reason}, got:\n{answer}"
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn proxy_alone_refuses_denied_hosts_the_network_would_reach() {
    let dir = tempfile::tempdir().unwrap();
    let (server, accepted) = server().await;
    let port = server.port();

    // Control: nothing but the proxy stands in the way.
    let direct = exchange(server, b"").await;
    assert_eq!(direct, "hello from the server\n");
    assert_eq!(accepted.load(Ordering::SeqCst), 1);

    // The name is denied; the address it resolves to is allowed.
    let log_a = dir.path().join("a.jsonl");
    let a = proxy(&[("127.0.0.1", true), ("localhost", false)], &log_a).await;
    let allowed = connect_via(a, "127.0.0.1", port).await;
    assert!(
        allowed.starts_with("HTTP/1.1 200") && allowed.ends_with("hello from the server\n"),
        "{allowed}"
    );
    let denied = connect_via(a, "localhost", port).await;
    assert_refused(&denied, "denied");
    assert!(
        denied.contains("\"localhost\" = \"deny\""),
        "the body names the rule: {denied}"
    );
    let plain = exchange(
        a,
        format!("GET http://localhost:{port}/ HTTP/1.1\r\nHost: localhost\r\n\r\n").as_bytes(),
    )
    .await;
    assert_refused(&plain, "denied");
    assert_eq!(socks_via(a, "localhost", port).await.0, 0x02);
    let (code, rest) = socks_via(a, "127.0.0.1", port).await;
    assert_eq!((code, rest.ends_with("hello from the server\n")), (0, true));

    // No rule names it: not allowed.
    let log_b = dir.path().join("b.jsonl");
    let b = proxy(&[("127.0.0.1", true)], &log_b).await;
    assert_refused(&connect_via(b, "localhost", port).await, "not-allowed");

    // The name is allowed, the address it resolves to denied.
    let log_c = dir.path().join("c.jsonl");
    let c = proxy(&[("localhost", true), ("127.0.0.1", false)], &log_c).await;
    assert_refused(&connect_via(c, "localhost", port).await, "denied");

    // Only the control and the two allowed requests reached the server.
    // (And the audit's one-second windows of repeated denials close.)
    tokio::time::sleep(Duration::from_millis(1500)).await;
    assert_eq!(accepted.load(Ordering::SeqCst), 3);

    // Every refusal is in the audit log with its reason.
    let denials = |path: &Path| -> Vec<(String, String)> {
        audit(path)
            .into_iter()
            .filter(|(_, decision, _)| decision == "deny")
            .map(|(host, _, reason)| (host, reason))
            .collect()
    };
    let denied = ("localhost".to_string(), "denied".to_string());
    assert_eq!(denials(&log_a), vec![denied.clone(); 3]);
    assert_eq!(
        denials(&log_b),
        vec![("localhost".to_string(), "not-allowed".to_string())]
    );
    assert_eq!(denials(&log_c), vec![denied]);
}
