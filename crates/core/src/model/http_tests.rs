use super::*;
use std::net::TcpListener;
use std::sync::Arc;
use std::thread;

const T: Timeouts = Timeouts {
    connect: Duration::from_secs(5),
    idle: Duration::from_secs(5),
};

/// Serves each accepted connection with `reply`, which gets the request
/// head (lines) and writes whatever it likes; returns the base URL and the
/// number of connections accepted so far.
fn serve(
    reply: impl Fn(&str, &mut TcpStream) + Send + 'static,
) -> (Url, Arc<std::sync::atomic::AtomicUsize>) {
    let listener = TcpListener::bind("127.0.0.1:0").unwrap();
    let port = listener.local_addr().unwrap().port();
    let count = Arc::new(std::sync::atomic::AtomicUsize::new(0));
    let c = count.clone();
    thread::spawn(move || {
        for stream in listener.incoming() {
            let Ok(mut stream) = stream else { return };
            c.fetch_add(1, std::sync::atomic::Ordering::SeqCst);
            // Keep answering requests on this connection until it closes.
            let mut reader = BufReader::new(stream.try_clone().unwrap());
            loop {
                let mut head = String::new();
                loop {
                    let mut line = String::new();
                    if reader.read_line(&mut line).unwrap_or(0) == 0 {
                        break;
                    }
                    head.push_str(&line);
                    if line == "\r\n" {
                        break;
                    }
                }
                if head.is_empty() {
                    break;
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
                reply(&head, &mut stream);
            }
        }
    });
    (
        Url::parse(&format!("http://127.0.0.1:{port}/v1")).unwrap(),
        count,
    )
}

fn body_text(r: &mut Response) -> String {
    let mut s = String::new();
    r.body.read_to_string(&mut s).unwrap();
    s
}

#[test]
fn chunked_body_and_kept_alive_connection() {
    let (url, count) = serve(|head, s| {
        assert!(
            head.starts_with("POST /v1/responses?x=1 HTTP/1.1\r\n"),
            "{head}"
        );
        assert!(head.contains("Authorization: Bearer k\r\n"), "{head}");
        s.write_all(b"HTTP/1.1 100 Continue\r\n\r\nHTTP/1.1 200 OK\r\nTransfer-Encoding: chunked\r\n\r\n5;ext=1\r\nhello\r\n6\r\n world\r\n0\r\nTrailer: x\r\n\r\n")
            .unwrap();
    });
    let mut client = Client::new(ProxyEnv::default());
    let target = url
        .join("responses")
        .with_query(&[("x".into(), "1".into())]);
    let headers = [("Authorization".to_string(), "Bearer k".to_string())];
    for _ in 0..3 {
        let mut r = client.post(&target, &headers, b"{}", T, None).unwrap();
        assert_eq!(r.status, 200);
        assert_eq!(body_text(&mut r), "hello world");
    }
    assert_eq!(
        count.load(std::sync::atomic::Ordering::SeqCst),
        1,
        "one connection reused"
    );
}

#[test]
fn content_length_error_status_and_a_server_that_closes() {
    let (url, count) = serve(|_, s| {
        s.write_all(b"HTTP/1.1 429 Too Many Requests\r\nRetry-After: 2\r\nContent-Length: 4\r\nConnection: close\r\n\r\nslow")
            .unwrap();
        s.shutdown(std::net::Shutdown::Both).unwrap();
    });
    let mut client = Client::new(ProxyEnv::default());
    for _ in 0..2 {
        let mut r = client.post(&url, &[], b"", T, None).unwrap();
        assert_eq!(r.status, 429);
        assert_eq!(r.header("retry-after"), Some("2"));
        assert_eq!(r.body.read_capped(100), "slow");
    }
    assert_eq!(
        count.load(std::sync::atomic::Ordering::SeqCst),
        2,
        "closed connections are not reused"
    );
}

#[test]
fn truncated_bodies_are_errors_not_short_answers() {
    let (url, _) = serve(|_, s| {
        s.write_all(b"HTTP/1.1 200 OK\r\nContent-Length: 10\r\n\r\nabc")
            .unwrap();
        s.shutdown(std::net::Shutdown::Both).unwrap();
    });
    let mut client = Client::new(ProxyEnv::default());
    let mut r = client.post(&url, &[], b"", T, None).unwrap();
    let mut s = String::new();
    assert!(r.body.read_to_string(&mut s).is_err());

    let (url, _) = serve(|_, s| {
        s.write_all(b"HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked\r\n\r\nA\r\nabc")
            .unwrap();
        s.shutdown(std::net::Shutdown::Both).unwrap();
    });
    let mut r = client.post(&url, &[], b"", T, None).unwrap();
    let mut s = String::new();
    assert!(r.body.read_to_string(&mut s).is_err());

    let (url, _) = serve(|_, s| {
        s.write_all(b"NOT HTTP\r\n\r\n").unwrap();
    });
    assert!(matches!(
        client.post(&url, &[], b"", T, None),
        Err(HttpError::Protocol(_))
    ));
}

#[test]
fn idle_timeout_ends_a_stalled_response() {
    let (url, _) = serve(|_, s| {
        s.write_all(b"HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked\r\n\r\n3\r\nabc\r\n")
            .unwrap();
        thread::sleep(Duration::from_secs(3));
    });
    let mut client = Client::new(ProxyEnv::default());
    let t = Timeouts {
        connect: Duration::from_secs(5),
        idle: Duration::from_millis(200),
    };
    let mut r = client.post(&url, &[], b"", t, None).unwrap();
    let mut buf = [0u8; 16];
    assert_eq!(r.body.read(&mut buf).unwrap(), 3);
    let e = r.body.read(&mut buf).unwrap_err();
    assert!(
        matches!(
            e.kind(),
            io::ErrorKind::WouldBlock | io::ErrorKind::TimedOut
        ),
        "{e}"
    );
}

#[test]
fn plain_http_through_a_proxy_uses_the_absolute_form_and_credentials() {
    let (proxy, _) = serve(|head, s| {
        assert!(
            head.starts_with("POST http://model.invalid:8080/v1/chat HTTP/1.1\r\n"),
            "{head}"
        );
        assert!(
            head.contains("Proxy-Authorization: Basic dTpwQHNz\r\n"),
            "{head}"
        );
        s.write_all(b"HTTP/1.1 200 OK\r\nContent-Length: 2\r\n\r\nok")
            .unwrap();
    });
    let proxy_url = format!("http://u:p%40ss@127.0.0.1:{}", proxy.port);
    let env = ProxyEnv::from_vars(|k| (k == "http_proxy").then(|| proxy_url.clone())).unwrap();
    let mut client = Client::new(env);
    let url = Url::parse("http://model.invalid:8080/v1/chat").unwrap();
    let mut r = client.post(&url, &[], b"", T, None).unwrap();
    assert_eq!(body_text(&mut r), "ok");
}

#[test]
fn no_proxy_and_bad_proxy_values() {
    let env = ProxyEnv::from_vars(|k| match k {
        "HTTPS_PROXY" => Some("proxy.invalid:3128".into()),
        "NO_PROXY" => Some("localhost, .internal.test,10.0.0.1:8443".into()),
        _ => None,
    })
    .unwrap();
    let url = |s: &str| Url::parse(s).unwrap();
    assert!(env.for_url(&url("https://api.example.test/v1")).is_some());
    assert!(env.for_url(&url("https://localhost/v1")).is_none());
    assert!(env.for_url(&url("https://a.internal.test/v1")).is_none());
    assert!(env.for_url(&url("https://10.0.0.1:8443/")).is_none());
    assert!(
        env.for_url(&url("http://api.example.test/v1")).is_none(),
        "HTTPS_PROXY is for https only"
    );
    assert!(
        ProxyEnv::from_vars(|k| (k == "HTTPS_PROXY").then(|| "https://p.invalid".into())).is_err()
    );
    assert!(
        ProxyEnv::from_vars(|k| (k == "ALL_PROXY").then(|| "socks5h://p.invalid:1080".into()))
            .unwrap()
            .for_url(&url("https://a.test/"))
            .is_none()
    );
}

#[test]
fn connect_errors_name_the_target() {
    let listener = TcpListener::bind("127.0.0.1:0").unwrap();
    let port = listener.local_addr().unwrap().port();
    drop(listener);
    let mut client = Client::new(ProxyEnv::default());
    let url = Url::parse(&format!("http://127.0.0.1:{port}/")).unwrap();
    let e = client.post(&url, &[], b"", T, None).err().unwrap();
    assert!(e.to_string().contains(&format!("127.0.0.1:{port}")), "{e}");
}

#[test]
fn base64_matches_rfc4648_vectors() {
    for (plain, encoded) in [
        ("", ""),
        ("f", "Zg=="),
        ("fo", "Zm8="),
        ("foo", "Zm9v"),
        ("foob", "Zm9vYg=="),
        ("fooba", "Zm9vYmE="),
        ("foobar", "Zm9vYmFy"),
    ] {
        assert_eq!(base64(plain.as_bytes()), encoded);
    }
}

/// A build without the `tls` feature (the cross-target checks) refuses an
/// https URL with that reason, before connecting anywhere.
#[cfg(not(feature = "tls"))]
#[test]
fn https_without_the_tls_feature_says_so() {
    let mut client = Client::new(ProxyEnv::default());
    let url = Url::parse("https://127.0.0.1:9/v1").unwrap();
    let e = client.post(&url, &[], b"{}", T, None).err().unwrap();
    assert!(e.to_string().contains("built without TLS"), "{e}");
}
