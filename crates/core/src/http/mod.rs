//! cordon's one HTTP stack, for the model clients and the MCP client
//! alike: reqwest on tokio; TLS by rustls with ring (the `tls` feature)
//! trusting the system's roots (rustls-native-certs, which reads
//! `SSL_CERT_FILE`/`SSL_CERT_DIR` first); the proxies of the session's
//! environment ([`ProxyEnv`]), never the process's own.

mod proxy;

pub use proxy::ProxyEnv;
use std::time::Duration;

/// Longest wait for a TCP connection (to the server or the proxy).
pub const CONNECT_TIMEOUT: Duration = Duration::from_secs(10);

/// Why a client could not be set up.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum HttpError {
    /// A proxy variable holds a URL that cannot be used.
    #[error("{var}=`{value}` cannot be used: {reason}")]
    Proxy {
        /// The variable.
        var: &'static str,
        /// Its value.
        value: String,
        /// Why.
        reason: String,
    },
    /// TLS cannot be set up (no roots, or a build without TLS).
    #[error("TLS cannot be set up: {0}")]
    Tls(String),
    /// reqwest refused the configuration.
    #[error("cannot build the HTTP client: {0}")]
    Build(String),
}

/// How to build a [`client`].
#[derive(Debug, Clone, Default)]
pub struct ClientOptions {
    /// The proxies to use.
    pub proxies: ProxyEnv,
    /// Whether `https` will be used: loads the trusted roots (an error when
    /// there are none, or in a build without TLS). Without it no root is
    /// trusted and an `https` URL fails its handshake.
    pub https: bool,
    /// Whether redirects within the URL's origin (scheme, host and port)
    /// are followed (the model clients follow none). A redirect to another
    /// origin is never followed: the request's own headers (API keys in
    /// `http_headers`, not just `Authorization`) would go with it.
    pub follow_redirects: bool,
}

/// Why a build without the `tls` feature cannot use `https`.
pub const NO_TLS: &str = "this cordon was built without TLS (cordon-core's `tls` feature); build it with the default features";

/// A client as `options` say. Build it inside the tokio runtime that will
/// drive it.
pub fn client(options: &ClientOptions) -> Result<reqwest::Client, HttpError> {
    let mut builder = reqwest::Client::builder()
        .no_proxy()
        .connect_timeout(CONNECT_TIMEOUT)
        .redirect(if options.follow_redirects {
            same_origin_redirects()
        } else {
            reqwest::redirect::Policy::none()
        });
    if !options.proxies.is_empty() {
        builder = builder.proxy(options.proxies.to_reqwest());
    }
    builder = with_tls(builder, options.https)?;
    builder
        .build()
        .map_err(|e| HttpError::Build(error_chain(&e)))
}

/// Most redirects followed for one request.
const MAX_REDIRECTS: usize = 10;

/// Follows redirects that stay within the first URL's origin; any other
/// redirect is handed back as the response.
fn same_origin_redirects() -> reqwest::redirect::Policy {
    reqwest::redirect::Policy::custom(|attempt| {
        let origin = |u: &url::Url| {
            (
                u.scheme().to_string(),
                u.host_str().map(str::to_ascii_lowercase),
                u.port_or_known_default(),
            )
        };
        let same = attempt
            .previous()
            .first()
            .is_some_and(|first| origin(first) == origin(attempt.url()));
        if !same {
            attempt.stop()
        } else if attempt.previous().len() > MAX_REDIRECTS {
            attempt.error("too many redirects")
        } else {
            attempt.follow()
        }
    })
}

/// rustls with ring; the system's roots when `https` is to be used.
#[cfg(feature = "tls")]
fn with_tls(
    builder: reqwest::ClientBuilder,
    https: bool,
) -> Result<reqwest::ClientBuilder, HttpError> {
    let mut roots = rustls::RootCertStore::empty();
    if https {
        let found = rustls_native_certs::load_native_certs();
        for cert in found.certs {
            let _ = roots.add(cert);
        }
        if roots.is_empty() {
            return Err(HttpError::Tls(format!(
                "no trusted root certificates found ({}); install ca-certificates or set SSL_CERT_FILE",
                found
                    .errors
                    .first()
                    .map(|e| e.to_string())
                    .unwrap_or_else(|| "the system store is empty".into())
            )));
        }
    }
    let provider = std::sync::Arc::new(rustls::crypto::ring::default_provider());
    let config = rustls::ClientConfig::builder_with_provider(provider)
        .with_safe_default_protocol_versions()
        .map_err(|e| HttpError::Tls(e.to_string()))?
        .with_root_certificates(roots)
        .with_no_client_auth();
    Ok(builder.tls_backend_preconfigured(config))
}

/// Without the `tls` feature reqwest has no TLS: `https` is refused here.
#[cfg(not(feature = "tls"))]
fn with_tls(
    builder: reqwest::ClientBuilder,
    https: bool,
) -> Result<reqwest::ClientBuilder, HttpError> {
    if https {
        return Err(HttpError::Tls(NO_TLS.into()));
    }
    Ok(builder)
}

/// What went wrong, from an error's chain: each cause once, without
/// reqwest's generic wrappers (the caller names the URL).
pub fn error_chain(e: &(dyn std::error::Error + 'static)) -> String {
    let mut parts: Vec<String> = Vec::new();
    let mut next = Some(e);
    while let Some(err) = next {
        let text = err.to_string();
        let generic = text.starts_with("error sending request")
            || text.starts_with("client error (")
            || text.starts_with("builder error")
            || text.is_empty();
        if !generic && !parts.iter().any(|p| p.contains(&text)) {
            parts.push(text);
        }
        next = err.source();
    }
    if parts.is_empty() {
        return e.to_string();
    }
    parts.join(": ")
}

/// Whether the chain holds a TLS failure (a certificate refused, a
/// handshake that failed).
pub fn is_tls_error(e: &(dyn std::error::Error + 'static)) -> bool {
    #[cfg(feature = "tls")]
    {
        let mut next = Some(e);
        while let Some(err) = next {
            if err.is::<rustls::Error>() {
                return true;
            }
            // An io::Error's source skips the error it wraps: look inside.
            next = match err.downcast_ref::<std::io::Error>() {
                Some(io) => io.get_ref().map(|inner| inner as _).or(err.source()),
                None => err.source(),
            };
        }
    }
    #[cfg(not(feature = "tls"))]
    let _ = e;
    false
}

#[cfg(test)]
#[path = "tests.rs"]
mod tests;
