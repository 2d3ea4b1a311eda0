use super::*;
use url::Url;

fn url(s: &str) -> Url {
    Url::parse(s).unwrap()
}

#[test]
fn proxies_by_scheme_and_no_proxy_by_host_domain_and_port() {
    let env = ProxyEnv::from_vars(&|k| match k {
        "HTTPS_PROXY" => Some("proxy.invalid:3128".into()),
        "NO_PROXY" => Some("localhost, .internal.test,10.0.0.1:8443,[::1]:9".into()),
        _ => None,
    })
    .unwrap();
    let via = |s: &str| env.for_url(&url(s)).map(|p| p.to_string());
    assert_eq!(
        via("https://api.example.test/v1").as_deref(),
        Some("http://proxy.invalid:3128/")
    );
    assert_eq!(via("https://LOCALHOST/v1"), None);
    assert_eq!(via("https://a.internal.test/v1"), None);
    assert_eq!(via("https://internal.test/v1"), None);
    assert!(via("https://notinternal.test/v1").is_some());
    assert_eq!(via("https://10.0.0.1:8443/"), None);
    assert!(via("https://10.0.0.1/").is_some(), "another port");
    assert_eq!(via("https://[::1]:9/"), None);
    assert_eq!(
        via("http://api.example.test/v1"),
        None,
        "HTTPS_PROXY is for https only"
    );
}

#[test]
fn all_proxy_lower_case_and_wildcards() {
    let env = ProxyEnv::from_vars(&|k| match k {
        "all_proxy" => Some("http://u:p@all.invalid:1".into()),
        "http_proxy" => Some("http://plain.invalid:2".into()),
        _ => None,
    })
    .unwrap();
    let via = |s: &str| env.for_url(&url(s)).map(|p| p.to_string());
    assert_eq!(
        via("https://a.test/").as_deref(),
        Some("http://u:p@all.invalid:1/")
    );
    assert_eq!(
        via("http://a.test/").as_deref(),
        Some("http://plain.invalid:2/")
    );
    let none = ProxyEnv::from_vars(&|k| match k {
        "HTTP_PROXY" => Some("http://p.invalid:3".into()),
        "no_proxy" => Some("*".into()),
        _ => None,
    })
    .unwrap();
    assert_eq!(none.for_url(&url("http://a.test/")), None);
    assert!(ProxyEnv::from_vars(&|_| None).unwrap().is_empty());
}

#[test]
fn unusable_proxy_values_name_the_variable() {
    let e = ProxyEnv::from_vars(&|k| (k == "HTTPS_PROXY").then(|| "https://p.invalid".into()))
        .unwrap_err();
    assert!(
        e.to_string().starts_with("HTTPS_PROXY=`https://p.invalid`"),
        "{e}"
    );
    let e =
        ProxyEnv::from_vars(&|k| (k == "http_proxy").then(|| "http://h:99999".into())).unwrap_err();
    assert!(e.to_string().starts_with("http_proxy="), "{e}");
    // A SOCKS ALL_PROXY is left to the programs that understand it.
    let env =
        ProxyEnv::from_vars(&|k| (k == "ALL_PROXY").then(|| "socks5h://p.invalid:1080".into()))
            .unwrap();
    assert!(env.is_empty());
}

#[test]
fn error_chains_keep_each_cause_once() {
    let inner = std::io::Error::new(std::io::ErrorKind::ConnectionRefused, "refused");
    #[derive(Debug, thiserror::Error)]
    #[error("client error (Connect)")]
    struct Wrapper(#[source] std::io::Error);
    assert_eq!(error_chain(&Wrapper(inner)), "refused");
}

#[cfg(not(feature = "tls"))]
#[test]
fn https_is_refused_without_the_tls_feature() {
    let e = client(&ClientOptions {
        https: true,
        ..ClientOptions::default()
    })
    .unwrap_err();
    assert!(e.to_string().contains("built without TLS"), "{e}");
}

#[test]
fn an_unusable_proxy_value_is_reported_without_its_credentials() {
    for (value, shown) in [
        (
            "https://alice:s3cret@p.invalid:1",
            "https://***@p.invalid:1",
        ),
        (
            "http://alice:s3cret@p.invalid:99999",
            "http://***@p.invalid:99999",
        ),
        ("alice:s3cret@p.invalid:99999/x", "***@p.invalid:99999/x"),
    ] {
        let e = ProxyEnv::from_vars(&|k| (k == "HTTPS_PROXY").then(|| value.into())).unwrap_err();
        let text = e.to_string();
        assert!(!text.contains("s3cret"), "{text}");
        assert!(!text.contains("alice"), "{text}");
        assert!(
            text.starts_with(&format!("HTTPS_PROXY=`{shown}`")),
            "{text}"
        );
    }
}

/// A server on 127.0.0.1 answering every request with `reply` (one per
/// connection); returns its port and the request heads it received.
fn serve(
    reply: impl Fn() -> String + Send + 'static,
) -> (u16, std::sync::Arc<std::sync::Mutex<Vec<String>>>) {
    use std::io::{BufRead, Write};
    let listener = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
    let port = listener.local_addr().unwrap().port();
    let heads = std::sync::Arc::new(std::sync::Mutex::new(Vec::new()));
    let seen = heads.clone();
    std::thread::spawn(move || {
        for stream in listener.incoming() {
            let Ok(mut stream) = stream else { return };
            let mut reader = std::io::BufReader::new(stream.try_clone().unwrap());
            let mut head = String::new();
            loop {
                let mut line = String::new();
                if reader.read_line(&mut line).unwrap_or(0) == 0 || line == "\r\n" {
                    break;
                }
                head.push_str(&line.to_ascii_lowercase());
            }
            seen.lock().unwrap().push(head);
            let _ = stream.write_all(reply().as_bytes());
        }
    });
    (port, heads)
}

#[test]
fn a_redirect_to_another_origin_is_not_followed_with_the_requests_headers() {
    let ok = || "HTTP/1.1 200 OK\r\ncontent-length: 2\r\nconnection: close\r\n\r\nok".to_string();
    let (other, other_heads) = serve(ok);
    let (same, same_heads) = serve(move || {
        "HTTP/1.1 307 Temporary Redirect\r\nlocation: /moved\r\ncontent-length: 0\r\nconnection: close\r\n\r\n".to_string()
    });
    let runtime = tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
        .unwrap();
    let get = |url: String| {
        runtime.block_on(async {
            let c = client(&ClientOptions {
                follow_redirects: true,
                ..ClientOptions::default()
            })
            .unwrap();
            let r = c.get(url).header("x-api-key", "s3cret").send().await;
            r.map(|r| r.status().as_u16()).ok()
        })
    };
    // Control: a redirect within the origin is followed, headers and all
    // (the server keeps redirecting: reqwest stops after ten).
    let _ = get(format!("http://127.0.0.1:{same}/mcp"));
    let heads = same_heads.lock().unwrap().clone();
    assert!(heads.len() > 1, "{heads:?}");
    assert!(heads[1].starts_with("get /moved "), "{heads:?}");
    assert!(heads[1].contains("x-api-key: s3cret"), "{heads:?}");
    // Another port is another origin: not followed; the redirect is the answer.
    let (away, _) = serve(move || {
        format!("HTTP/1.1 307 Temporary Redirect\r\nlocation: http://127.0.0.1:{other}/steal\r\ncontent-length: 0\r\nconnection: close\r\n\r\n")
    });
    assert_eq!(get(format!("http://127.0.0.1:{away}/mcp")), Some(307));
    let stolen = other_heads.lock().unwrap().clone();
    assert!(stolen.is_empty(), "the other origin got {stolen:?}");
}

#[test]
fn no_proxy_ip_ranges_cover_the_addresses_in_them() {
    let env = ProxyEnv::from_vars(&|k| match k {
        "HTTP_PROXY" => Some("http://proxy.invalid:3128".into()),
        "NO_PROXY" => Some("127.0.0.0/8, 192.168.10.0/24,fd00::/8,10.0.0.0/33".into()),
        _ => None,
    })
    .unwrap();
    let via = |s: &str| env.for_url(&url(s)).is_some();
    assert!(!via("http://127.0.0.1:11434/v1"));
    assert!(!via("http://127.200.3.4/"));
    assert!(!via("http://192.168.10.77/"));
    assert!(!via("http://[fd12::1]:8080/"));
    // Controls: addresses outside the ranges, names, a range that is not one.
    assert!(via("http://192.168.11.1/"));
    assert!(via("http://128.0.0.1/"));
    assert!(via("http://[fe80::1]/"));
    assert!(via("http://localhost/"));
    assert!(via("http://10.0.0.1/"));
}
