//! The HTTP client for streamable HTTP servers: reqwest on rustls (ring),
//! trusting the system's roots and `SSL_CERT_FILE`, with the host's
//! `HTTPS_PROXY`/`NO_PROXY`.

use std::sync::Arc;

/// The crypto provider: ring, when built with TLS.
#[cfg(feature = "tls")]
fn provider() -> Result<Arc<rustls::crypto::CryptoProvider>, String> {
    Ok(Arc::new(rustls::crypto::ring::default_provider()))
}

/// Without the `tls` feature there is no crypto provider.
#[cfg(not(feature = "tls"))]
fn provider() -> Result<Arc<rustls::crypto::CryptoProvider>, String> {
    Err("this cordon was built without TLS (the `tls` feature)".into())
}

/// A client for MCP servers.
pub(crate) fn client() -> Result<reqwest::Client, String> {
    let mut roots = rustls::RootCertStore::empty();
    // rustls-native-certs reads SSL_CERT_FILE / SSL_CERT_DIR first.
    let found = rustls_native_certs::load_native_certs();
    for cert in found.certs {
        let _ = roots.add(cert);
    }
    let tls = rustls::ClientConfig::builder_with_provider(provider()?)
        .with_safe_default_protocol_versions()
        .map_err(|e| format!("TLS: {e}"))?
        .with_root_certificates(roots)
        .with_no_client_auth();
    reqwest::Client::builder()
        .tls_backend_preconfigured(tls)
        .build()
        .map_err(|e| format!("cannot build the HTTP client: {e}"))
}
