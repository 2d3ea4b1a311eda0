//! The transport against HTTP servers and proxies on 127.0.0.1.

use super::*;
use std::io::{BufRead, BufReader, Read, Write};
use std::net::{TcpListener, TcpStream};
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::Mutex;
use std::thread;
use std::time::Instant;

/// A server answering each request of each connection with `reply` (given
/// the request head); returns its port, the connections accepted and the
/// heads received.
fn serve(
    reply: impl Fn(&str, &mut TcpStream) + Send + Sync + 'static,
) -> (u16, Arc<AtomicUsize>, Arc<Mutex<Vec<String>>>) {
    let listener = TcpListener::bind("127.0.0.1:0").unwrap();
    let port = listener.local_addr().unwrap().port();
    let count = Arc::new(AtomicUsize::new(0));
    let heads = Arc::new(Mutex::new(Vec::new()));
    let (c, h, reply) = (count.clone(), heads.clone(), Arc::new(reply));
    thread::spawn(move || {
        for stream in listener.incoming() {
            let Ok(mut stream) = stream else { return };
            c.fetch_add(1, Ordering::SeqCst);
            let (h, reply) = (h.clone(), reply.clone());
            thread::spawn(move || {
                let mut reader = BufReader::new(stream.try_clone().unwrap());
                loop {
                    let mut head = String::new();
                    loop {
                        let mut line = String::new();
                        if reader.read_line(&mut line).unwrap_or(0) == 0 {
                            return;
                        }
                        head.push_str(&line);
                        if line == "\r\n" {
                            break;
                        }
                    }
                    let len: usize = head
                        .lines()
                        .find_map(|l| {
                            l.to_ascii_lowercase()
                                .strip_prefix("content-length: ")
                                .map(|v| v.trim().parse().unwrap())
                        })
                        .unwrap_or(0);
                    let mut body = vec![0; len];
                    reader.read_exact(&mut body).unwrap();
                    h.lock().unwrap().push(head.clone());
                    reply(&head, &mut stream);
                }
            });
        }
    });
    (port, count, heads)
}

fn provider(base_url: String) -> ModelProvider {
    ModelProvider {
        id: "test".into(),
        name: "Test".into(),
        base_url,
        env_key: Some("TEST_KEY".into()),
        wire_api: WireApi::Responses,
        query_params: [("api-version".to_string(), "7 &x".to_string())].into(),
        http_headers: [("X-Test".to_string(), "yes".to_string())].into(),
        request_max_retries: 0,
        stream_max_retries: 0,
        stream_idle_timeout_ms: 5000,
        default_model: "m",
    }
}

fn transport(p: &ModelProvider, vars: &[(&str, String)]) -> HttpTransport {
    let vars: Vec<(String, String)> = vars
        .iter()
        .map(|(k, v)| (k.to_string(), v.clone()))
        .collect();
    let env = move |k: &str| {
        if k == "TEST_KEY" {
            return Some("sk-1 ".to_string());
        }
        vars.iter().find(|(n, _)| n == k).map(|(_, v)| v.clone())
    };
    HttpTransport::new(p, &env, Arc::new(Interrupt::default())).unwrap()
}

/// The whole body, or the first failure.
fn read_all(t: &mut HttpTransport) -> Result<String, Failure> {
    let mut out = Vec::new();
    for chunk in t.send(&serde_json::json!({"x": 1}))? {
        out.extend(chunk?);
    }
    Ok(String::from_utf8(out).unwrap())
}

const SSE: &[u8] = b"HTTP/1.1 200 OK\r\nContent-Type: text/event-stream\r\nTransfer-Encoding: chunked\r\n\r\n5\r\nhello\r\n6\r\n world\r\n0\r\n\r\n";

#[test]
fn requests_carry_the_key_headers_and_query_and_reuse_one_connection() {
    let (port, count, heads) = serve(|_, s| s.write_all(SSE).unwrap());
    let mut t = transport(&provider(format!("http://127.0.0.1:{port}/v1/")), &[]);
    assert_eq!(
        t.url().as_str(),
        format!("http://127.0.0.1:{port}/v1/responses?api-version=7+%26x")
    );
    for _ in 0..3 {
        assert_eq!(read_all(&mut t).unwrap(), "hello world");
    }
    assert_eq!(count.load(Ordering::SeqCst), 1, "one connection reused");
    let heads = heads.lock().unwrap();
    assert_eq!(heads.len(), 3);
    let head = heads[0].to_ascii_lowercase();
    assert!(
        head.starts_with("post /v1/responses?api-version=7+%26x http/1.1\r\n"),
        "{head}"
    );
    for line in [
        "authorization: bearer sk-1\r\n",
        "x-test: yes\r\n",
        "accept: text/event-stream\r\n",
        "content-type: application/json\r\n",
        "content-length: 7\r\n",
    ] {
        assert!(head.contains(line), "{line} missing: {head}");
    }
}

#[test]
fn a_body_left_at_its_last_event_still_ends_and_its_connection_is_reused() {
    // The turn stops reading at the stream's last event; the chunked
    // body's last, empty chunk is written after it.
    let (port, count, _) = serve(|_, s| {
        s.write_all(b"HTTP/1.1 200 OK\r\nContent-Type: text/event-stream\r\nTransfer-Encoding: chunked\r\n\r\n5\r\nhello\r\n")
            .unwrap();
        s.flush().unwrap();
        let _ = s.write_all(b"0\r\n\r\n");
    });
    let mut t = transport(&provider(format!("http://127.0.0.1:{port}/")), &[]);
    for _ in 0..3 {
        let mut body = t.send(&serde_json::json!({"x": 1})).unwrap();
        assert_eq!(body.next().unwrap().unwrap(), b"hello");
        drop(body);
    }
    assert_eq!(count.load(Ordering::SeqCst), 1, "one connection reused");
}

#[test]
fn an_error_status_gives_its_retry_after_and_body() {
    let (port, count, _) = serve(|_, s| {
        s.write_all(
            b"HTTP/1.1 429 Too Many Requests\r\nRetry-After: 2\r\nContent-Length: 4\r\n\r\nslow",
        )
        .unwrap()
    });
    let mut t = transport(&provider(format!("http://127.0.0.1:{port}/v1")), &[]);
    for _ in 0..2 {
        assert_eq!(
            t.send(&Value::Null).err(),
            Some(Failure::Status {
                code: 429,
                retry_after: Some("2".into()),
                body: "slow".into()
            })
        );
    }
    assert_eq!(
        count.load(Ordering::SeqCst),
        1,
        "a read error body keeps the connection"
    );
}

#[test]
fn a_web_page_or_json_document_answered_with_200_is_no_stream() {
    for (content_type, body) in [
        ("text/html; charset=utf-8", "<html>sign in</html>"),
        ("application/json", "{\"id\":\"x\"}"),
    ] {
        let (port, _, _) = serve(move |_, s| {
            let head = format!(
                "HTTP/1.1 200 OK\r\nContent-Type: {content_type}\r\nContent-Length: {}\r\n\r\n{body}",
                body.len()
            );
            s.write_all(head.as_bytes()).unwrap()
        });
        let mut t = transport(&provider(format!("http://127.0.0.1:{port}/v1")), &[]);
        let failure = t.send(&Value::Null).err();
        assert_eq!(
            failure,
            Some(Failure::NotAStream {
                content_type: content_type.into(),
                body: body.into()
            })
        );
        assert_eq!(
            super::super::retry::retry_delay(&failure.unwrap(), 0, 4),
            None
        );
    }
    // Control: an event stream, with parameters, is read.
    let (port, _, _) = serve(|_, s| {
        s.write_all(b"HTTP/1.1 200 OK\r\nContent-Type: Text/Event-Stream; charset=utf-8\r\nContent-Length: 5\r\n\r\nhello")
            .unwrap()
    });
    let mut t = transport(&provider(format!("http://127.0.0.1:{port}/v1")), &[]);
    assert_eq!(read_all(&mut t), Ok("hello".to_string()));
}

#[test]
fn a_cut_body_is_truncated_and_a_stalled_one_idle() {
    let (port, _, _) = serve(|_, s| {
        s.write_all(b"HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked\r\n\r\nA\r\nabc")
            .unwrap();
        s.shutdown(std::net::Shutdown::Both).unwrap();
    });
    let mut t = transport(&provider(format!("http://127.0.0.1:{port}/v1")), &[]);
    assert_eq!(read_all(&mut t), Err(Failure::Truncated));

    let (port, _, _) = serve(|_, s| {
        s.write_all(b"HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked\r\n\r\n3\r\nabc\r\n")
            .unwrap();
        thread::sleep(Duration::from_secs(3));
    });
    let mut p = provider(format!("http://127.0.0.1:{port}/v1"));
    p.stream_idle_timeout_ms = 200;
    let mut t = transport(&p, &[]);
    let start = Instant::now();
    assert_eq!(read_all(&mut t), Err(Failure::Idle));
    assert!(
        start.elapsed() < Duration::from_secs(2),
        "{:?}",
        start.elapsed()
    );
}

#[test]
fn an_interrupt_cuts_a_stalled_stream_and_closes_its_connection() {
    let closed = Arc::new(Mutex::new(None));
    let seen = closed.clone();
    let (port, _, _) = serve(move |_, s| {
        s.write_all(b"HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked\r\n\r\n3\r\nabc\r\n")
            .unwrap();
        // Waits for cordon to close the connection (a read of 0 bytes).
        s.set_read_timeout(Some(Duration::from_secs(10))).unwrap();
        let n = s.read(&mut [0u8; 16]).unwrap_or(usize::MAX);
        *seen.lock().unwrap() = Some((n, Instant::now()));
    });
    let p = provider(format!("http://127.0.0.1:{port}/v1"));
    let interrupt = Arc::new(Interrupt::default());
    let env = |k: &str| (k == "TEST_KEY").then(|| "k".to_string());
    let mut t = HttpTransport::new(&p, &env, interrupt.clone()).unwrap();
    let mut chunks = t.send(&Value::Null).unwrap();
    assert_eq!(chunks.next(), Some(Ok(b"abc".to_vec())));
    let trigger = thread::spawn(move || {
        thread::sleep(Duration::from_millis(200));
        interrupt.trigger();
        Instant::now()
    });
    assert_eq!(chunks.next(), Some(Err(Failure::Interrupted)));
    let triggered = trigger.join().unwrap();
    assert!(triggered.elapsed() < Duration::from_secs(1), "not prompt");
    drop(chunks);
    // The transport lives on (a TUI session does); its connection is gone.
    for _ in 0..100 {
        if closed.lock().unwrap().is_some() {
            break;
        }
        thread::sleep(Duration::from_millis(10));
    }
    let (n, at) = closed.lock().unwrap().expect("the connection stayed open");
    assert_eq!(n, 0, "the server saw the connection close");
    assert!(at.duration_since(triggered) < Duration::from_secs(1));
    assert_eq!(t.send(&Value::Null).err(), Some(Failure::Interrupted));
}

#[test]
fn connect_errors_name_the_target_and_the_proxy() {
    let listener = TcpListener::bind("127.0.0.1:0").unwrap();
    let port = listener.local_addr().unwrap().port();
    drop(listener);
    let mut t = transport(&provider(format!("http://127.0.0.1:{port}/v1")), &[]);
    let Some(Failure::Connect(why)) = t.send(&Value::Null).err() else {
        panic!("not a connect failure")
    };
    assert!(
        why.contains(&format!("cannot connect to 127.0.0.1:{port}: ")),
        "{why}"
    );
    assert!(why.contains("refused"), "{why}");

    let mut t = transport(
        &provider("http://model.invalid:8080/v1".into()),
        &[("HTTP_PROXY", format!("127.0.0.1:{port}"))],
    );
    let Some(Failure::Connect(why)) = t.send(&Value::Null).err() else {
        panic!("not a connect failure")
    };
    assert!(
        why.contains(&format!(
            "model.invalid:8080 (through the proxy 127.0.0.1:{port})"
        )),
        "{why}"
    );
}

#[test]
fn plain_http_through_a_proxy_uses_the_absolute_form_and_its_credentials() {
    let (proxy, _, heads) = serve(|_, s| s.write_all(SSE).unwrap());
    let mut t = transport(
        &provider("http://model.invalid:8080/v1".into()),
        &[("http_proxy", format!("http://u:p%40ss@127.0.0.1:{proxy}"))],
    );
    assert_eq!(read_all(&mut t).unwrap(), "hello world");
    let head = heads.lock().unwrap()[0].to_ascii_lowercase();
    assert!(
        head.starts_with(
            "post http://model.invalid:8080/v1/responses?api-version=7+%26x http/1.1\r\n"
        ),
        "{head}"
    );
    // base64("u:p@ss")
    assert!(
        head.contains("proxy-authorization: basic dtpwqhnz\r\n"),
        "{head}"
    );
}

#[cfg(feature = "tls")]
#[test]
fn https_through_a_proxy_asks_for_a_tunnel_with_its_credentials() {
    let (proxy, _, heads) = serve(|_, s| {
        s.write_all(b"HTTP/1.1 407 Proxy Authentication Required\r\nContent-Length: 0\r\n\r\n")
            .unwrap()
    });
    let mut t = transport(
        &provider("https://model.invalid/v1".into()),
        &[("HTTPS_PROXY", format!("http://tok@127.0.0.1:{proxy}"))],
    );
    let Some(Failure::Connect(why)) = t.send(&Value::Null).err() else {
        panic!("not a connect failure")
    };
    assert!(
        why.contains(&format!(
            "model.invalid:443 (through the proxy 127.0.0.1:{proxy})"
        )),
        "{why}"
    );
    let head = heads.lock().unwrap()[0].clone();
    assert!(
        head.starts_with("CONNECT model.invalid:443 HTTP/1.1\r\n"),
        "{head}"
    );
    // base64("tok:")
    assert!(
        head.to_ascii_lowercase()
            .contains("proxy-authorization: basic dg9rog==\r\n"),
        "{head}"
    );
}

#[test]
fn no_proxy_sends_a_host_around_the_proxy() {
    let (port, _, _) = serve(|_, s| s.write_all(SSE).unwrap());
    let dead = TcpListener::bind("127.0.0.1:0").unwrap();
    let dead_port = dead.local_addr().unwrap().port();
    drop(dead);
    let url = format!("http://127.0.0.1:{port}/v1");
    let proxy = ("HTTP_PROXY", format!("http://127.0.0.1:{dead_port}"));
    // Control: through the (dead) proxy the request fails, naming it.
    let mut t = transport(&provider(url.clone()), std::slice::from_ref(&proxy));
    let Some(Failure::Connect(why)) = t.send(&Value::Null).err() else {
        panic!("not a connect failure")
    };
    assert!(
        why.contains(&format!("through the proxy 127.0.0.1:{dead_port}")),
        "{why}"
    );
    for no_proxy in ["127.0.0.1", &format!("localhost,127.0.0.1:{port}"), "*"] {
        let mut t = transport(
            &provider(url.clone()),
            &[proxy.clone(), ("no_proxy", no_proxy.to_string())],
        );
        assert_eq!(read_all(&mut t).unwrap(), "hello world", "{no_proxy}");
    }
}

#[test]
fn bad_provider_settings_are_refused_naming_them() {
    let env = |_: &str| None;
    let err = |p: &ModelProvider, env: &dyn Fn(&str) -> Option<String>| {
        HttpTransport::new(p, env, Arc::new(Interrupt::default()))
            .err()
            .unwrap()
            .to_string()
    };
    let p = provider("http://127.0.0.1:1/v1".into());
    assert!(err(&p, &env).contains("TEST_KEY is not set"));
    let key = |k: &str| (k == "TEST_KEY").then(|| "k".to_string());
    for (url, says) in [
        ("localhost:11434", "only http:// and https://"),
        ("ftp://h/", "only http:// and https://"),
        ("http://", "invalid base_url"),
        ("http://h:99999/", "invalid base_url"),
    ] {
        let e = err(&provider(url.into()), &key);
        assert!(e.contains(says), "{url}: {e}");
    }
    let mut p = provider("http://h/v1".into());
    p.http_headers
        .insert("X-Bad".into(), "a\r\nInjected: 1".into());
    assert!(err(&p, &key).contains("http_headers: the value of `X-Bad`"));
    let proxy = |k: &str| match k {
        "TEST_KEY" => Some("k".to_string()),
        "HTTPS_PROXY" => Some("socks5://p.invalid:1080".to_string()),
        _ => None,
    };
    let e = err(&provider("http://h/v1".into()), &proxy);
    assert!(e.contains("HTTPS_PROXY=`socks5://p.invalid:1080`"), "{e}");
}

/// A build without the `tls` feature (the cross-target checks) refuses an
/// https URL with that reason, before connecting anywhere.
#[cfg(not(feature = "tls"))]
#[test]
fn https_without_the_tls_feature_says_so() {
    let mut t = transport(&provider("https://127.0.0.1:9/v1".into()), &[]);
    let Some(Failure::Connect(why)) = t.send(&Value::Null).err() else {
        panic!("not a connect failure")
    };
    assert!(why.contains("built without TLS"), "{why}");
}

/// A server that answers the TLS handshake with garbage: the failure says
/// TLS and names the host.
#[cfg(feature = "tls")]
#[test]
fn tls_failures_say_tls_and_name_the_host() {
    let listener = TcpListener::bind("127.0.0.1:0").unwrap();
    let tls_port = listener.local_addr().unwrap().port();
    thread::spawn(move || {
        for mut s in listener.incoming().flatten() {
            let _ = s.read(&mut [0u8; 512]);
            let _ = s.write_all(b"HTTP/1.1 400 Not TLS\r\n\r\n");
        }
    });
    let mut t = transport(&provider(format!("https://127.0.0.1:{tls_port}/v1")), &[]);
    let Some(Failure::Connect(why)) = t.send(&Value::Null).err() else {
        panic!("not a connect failure")
    };
    assert!(why.starts_with("TLS with 127.0.0.1 failed: "), "{why}");
}

#[test]
fn a_kept_alive_connection_the_server_closed_meanwhile_is_replaced() {
    // The server ends each connection a moment after its answer (its
    // keep-alive timeout), while the client is not reading.
    let (port, count, _) = serve(|_, s| {
        s.write_all(SSE).unwrap();
        let s = s.try_clone().unwrap();
        thread::spawn(move || {
            thread::sleep(Duration::from_millis(100));
            let _ = s.shutdown(std::net::Shutdown::Both);
        });
    });
    let mut t = transport(&provider(format!("http://127.0.0.1:{port}/v1")), &[]);
    for i in 0..3 {
        assert_eq!(
            read_all(&mut t),
            Ok("hello world".to_string()),
            "request {i}"
        );
        thread::sleep(Duration::from_millis(400));
    }
    assert_eq!(count.load(Ordering::SeqCst), 3);
}
