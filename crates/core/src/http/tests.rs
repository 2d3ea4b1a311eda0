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
