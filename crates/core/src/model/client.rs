//! The [`Transport`] that talks to a model provider over HTTP: the request
//! URL (`{base_url}/responses` or `{base_url}/chat/completions` plus
//! `query_params`), the Bearer key from `env_key`, `http_headers`, and the
//! response body streamed as chunks with the provider's idle timeout.
//!
//! The client is [`crate::http`]'s, driven by a current-thread tokio
//! runtime the transport owns (no thread of its own): each wait (for the
//! response, for the next chunk) runs on it until the data arrives, the
//! idle timeout passes or the turn is interrupted. A failed or interrupted
//! request drops the runtime with its connections (closed at once); a
//! request read to its end leaves its connection for the next one.

use super::retry::Failure;
use crate::agent::{Chunks, Transport};
use crate::http::{self, ClientOptions, ProxyEnv};
use crate::interrupt::Interrupt;
use crate::model::request::RequestBody;
use crate::CoreError;
use bytes::Bytes;
use cordon_config::{ModelProvider, WireApi};
use reqwest::header::{HeaderMap, HeaderName, HeaderValue};
use serde_json::Value;
use std::future::Future;
use std::sync::Arc;
use std::time::Duration;
use url::Url;

/// Most of an error response's body kept (for the message and hints).
const ERROR_BODY: usize = 64 * 1024;

/// A client and the runtime driving it and its connections.
struct Live {
    // Dropped before the runtime: the connections go with the runtime.
    client: reqwest::Client,
    runtime: tokio::runtime::Runtime,
}

/// Sends requests to one provider.
pub struct HttpTransport {
    url: Url,
    headers: HeaderMap,
    options: ClientOptions,
    idle: Duration,
    interrupt: Arc<Interrupt>,
    /// Made at the first request, dropped after a failed one.
    live: Option<Live>,
}

impl HttpTransport {
    /// A transport for `provider`; the API key is read from its `env_key`
    /// and the proxies from `HTTPS_PROXY`/`HTTP_PROXY`/`NO_PROXY` through
    /// `env` (a missing key or a bad proxy is an error naming the variable).
    pub fn new(
        provider: &ModelProvider,
        env: &dyn Fn(&str) -> Option<String>,
        interrupt: Arc<Interrupt>,
    ) -> Result<HttpTransport, CoreError> {
        let err = |message: String| CoreError::Provider {
            provider: provider.id.clone(),
            message,
        };
        let url = request_url(provider).map_err(err)?;
        let mut headers = HeaderMap::new();
        let fixed = [
            ("content-type", "application/json"),
            ("accept", "text/event-stream"),
            ("user-agent", concat!("cordon/", env!("CARGO_PKG_VERSION"))),
        ];
        for (name, value) in fixed {
            headers.insert(name, HeaderValue::from_static(value));
        }
        if let Some(var) = &provider.env_key {
            let key = env(var).ok_or_else(|| {
                err(format!(
                    "the API key variable {var} is not set (export {var}=..., or pick another provider with model_provider / --oss)"
                ))
            })?;
            let mut value =
                HeaderValue::from_str(&format!("Bearer {}", key.trim())).map_err(|_| {
                    err(format!(
                        "the API key in {var} holds characters a header cannot carry"
                    ))
                })?;
            value.set_sensitive(true);
            headers.insert(reqwest::header::AUTHORIZATION, value);
        }
        for (k, v) in &provider.http_headers {
            let name = HeaderName::from_bytes(k.as_bytes())
                .map_err(|e| err(format!("http_headers: `{k}` is not a header name: {e}")))?;
            let value = HeaderValue::from_str(v)
                .map_err(|e| err(format!("http_headers: the value of `{k}`: {e}")))?;
            headers.insert(name, value);
        }
        let proxies = ProxyEnv::from_vars(env).map_err(|e| err(e.to_string()))?;
        Ok(HttpTransport {
            options: ClientOptions {
                proxies,
                https: url.scheme() == "https",
                follow_redirects: false,
            },
            url,
            headers,
            idle: Duration::from_millis(provider.stream_idle_timeout_ms),
            interrupt,
            live: None,
        })
    }

    /// The request URL.
    pub fn url(&self) -> &Url {
        &self.url
    }

    /// The host and port asked, and the proxy on the way (for messages).
    fn target(&self) -> String {
        let host = self.url.host_str().unwrap_or("");
        let port = self.url.port_or_known_default().unwrap_or(0);
        match self.options.proxies.for_url(&self.url) {
            Some(p) => format!(
                "{host}:{port} (through the proxy {}:{})",
                p.host_str().unwrap_or(""),
                p.port_or_known_default().unwrap_or(0)
            ),
            None => format!("{host}:{port}"),
        }
    }

    /// Sends the request and waits for the response head. A request that
    /// fails on the way after an earlier one (its kept-alive connection
    /// was closed by the server while the client was idle, which it
    /// notices only now) is sent once more on a fresh connection.
    fn respond(&mut self, bytes: &Bytes) -> Result<reqwest::Response, Failure> {
        let reused = self.live.is_some();
        match self.attempt(bytes) {
            Err((_, true)) if reused => self.attempt(bytes).map_err(|(f, _)| f),
            other => other.map_err(|(f, _)| f),
        }
    }

    /// One try of [`Self::respond`]; a failure says whether the request
    /// itself failed (rather than the wait for it: interrupt, idle).
    fn attempt(&mut self, bytes: &Bytes) -> Result<reqwest::Response, (Failure, bool)> {
        if self.live.is_none() {
            let runtime = tokio::runtime::Builder::new_current_thread()
                .enable_all()
                .build()
                .map_err(|e| {
                    (
                        Failure::Connect(format!("cannot start the HTTP runtime: {e}")),
                        false,
                    )
                })?;
            let client = {
                let _in = runtime.enter();
                http::client(&self.options).map_err(|e| {
                    let failure = match e {
                        http::HttpError::Tls(why) => Failure::Connect(format!(
                            "TLS with {} failed: {why}",
                            self.url.host_str().unwrap_or("")
                        )),
                        other => Failure::Connect(other.to_string()),
                    };
                    (failure, false)
                })?
            };
            self.live = Some(Live { client, runtime });
        }
        let Some(live) = self.live.as_ref() else {
            return Err((Failure::Connect("no HTTP client".into()), false));
        };
        let request = live
            .client
            .post(self.url.clone())
            .headers(self.headers.clone())
            .body(bytes.clone())
            .send();
        match wait(&live.runtime, &self.interrupt, self.idle, request) {
            Ok(Ok(r)) => Ok(r),
            Ok(Err(e)) => {
                let failure = self.send_failure(&e);
                self.live = None;
                Err((failure, true))
            }
            Err(failure) => {
                self.live = None;
                Err((failure, false))
            }
        }
    }

    /// The failure for an error sending the request or reading its head.
    fn send_failure(&self, e: &reqwest::Error) -> Failure {
        let why = http::error_chain(e);
        if http::is_tls_error(e) {
            let host = self.url.host_str().unwrap_or("");
            Failure::Connect(format!("TLS with {host} failed: {why}"))
        } else {
            Failure::Connect(format!("cannot connect to {}: {why}", self.target()))
        }
    }
}

/// `{base_url}/responses` (or `/chat/completions`) with `query_params`.
fn request_url(provider: &ModelProvider) -> Result<Url, String> {
    let base = &provider.base_url;
    let bad = |reason: &str| format!("invalid base_url `{base}`: {reason}");
    let mut url = Url::parse(base).map_err(|e| bad(&e.to_string()))?;
    if !matches!(url.scheme(), "http" | "https") {
        return Err(bad("only http:// and https:// are supported"));
    }
    let path: &[&str] = match provider.wire_api {
        WireApi::Responses => &["responses"],
        WireApi::Chat => &["chat", "completions"],
    };
    url.path_segments_mut()
        .map_err(|()| bad("it cannot have a path"))?
        .pop_if_empty()
        .extend(path);
    if !provider.query_params.is_empty() {
        let mut query = url.query_pairs_mut();
        for (k, v) in &provider.query_params {
            query.append_pair(k, v);
        }
    }
    Ok(url)
}

/// Runs `fut` on `runtime` until it is done, `idle` passes (`Idle`) or the
/// turn is interrupted (`Interrupted`).
fn wait<F: Future>(
    runtime: &tokio::runtime::Runtime,
    interrupt: &Interrupt,
    idle: Duration,
    fut: F,
) -> Result<F::Output, Failure> {
    runtime.block_on(async {
        tokio::select! {
            biased;
            () = interrupt.triggered() => Err(Failure::Interrupted),
            done = tokio::time::timeout(idle, fut) => done.map_err(|_| Failure::Idle),
        }
    })
}

impl Transport for HttpTransport {
    fn send(&mut self, body: &Value) -> Result<Chunks<'_>, Failure> {
        let bytes = serde_json::to_vec(body).map_err(|e| Failure::Connect(e.to_string()))?;
        self.send_bytes(Bytes::from(bytes))
    }

    fn send_body(&mut self, body: &RequestBody<'_>) -> Result<Chunks<'_>, Failure> {
        let bytes = body.to_vec().map_err(|e| Failure::Connect(e.to_string()))?;
        self.send_bytes(Bytes::from(bytes))
    }
}

impl HttpTransport {
    /// Posts `bytes` (shared, not copied, when the request is sent again)
    /// and streams the response body.
    fn send_bytes(&mut self, bytes: Bytes) -> Result<Chunks<'_>, Failure> {
        if self.interrupt.is_set() {
            return Err(Failure::Interrupted);
        }
        log::debug!("POST {} ({} bytes)", self.url, bytes.len());
        let mut response = self.respond(&bytes)?;
        drop(bytes);
        let Some(live) = self.live.as_ref() else {
            return Err(Failure::Connect("no HTTP client".into()));
        };
        let status = response.status().as_u16();
        let success = response.status().is_success();
        let not_a_stream = not_an_event_stream(response.headers()).filter(|_| success);
        if !success || not_a_stream.is_some() {
            let retry_after = response
                .headers()
                .get(reqwest::header::RETRY_AFTER)
                .and_then(|v| v.to_str().ok())
                .map(str::to_string);
            let mut text = Vec::new();
            let mut ended = false;
            while text.len() < ERROR_BODY {
                match wait(&live.runtime, &self.interrupt, self.idle, response.chunk()) {
                    Ok(Ok(Some(piece))) => text.extend_from_slice(&piece),
                    Ok(Ok(None)) => {
                        ended = true;
                        break;
                    }
                    _ => break,
                }
            }
            if !ended {
                // A body left unread holds its connection: close it.
                drop(response);
                self.live = None;
            }
            text.truncate(ERROR_BODY);
            let text = String::from_utf8_lossy(&text).into_owned();
            log::debug!("HTTP {status}: {text}");
            if let Some(content_type) = not_a_stream {
                return Err(Failure::NotAStream {
                    content_type,
                    body: text,
                });
            }
            return Err(Failure::Status {
                code: status,
                retry_after,
                body: text,
            });
        }
        Ok(Box::new(Body {
            response: Some(response),
            live: &mut self.live,
            interrupt: &self.interrupt,
            idle: self.idle,
        }))
    }
}

/// The `Content-Type` of a response that is plainly no event stream: a web
/// page or a JSON document. Any other type (or none) goes to the decoder,
/// which tells a stream that does not parse.
fn not_an_event_stream(headers: &HeaderMap) -> Option<String> {
    let value = headers.get(reqwest::header::CONTENT_TYPE)?.to_str().ok()?;
    let media = value.split(';').next()?.trim().to_ascii_lowercase();
    matches!(media.as_str(), "text/html" | "application/json").then(|| value.to_string())
}

/// A response body read chunk by chunk.
struct Body<'a> {
    /// `None` once read to its end or failed.
    response: Option<reqwest::Response>,
    live: &'a mut Option<Live>,
    interrupt: &'a Interrupt,
    idle: Duration,
}

impl Body<'_> {
    /// Ends a body not read to its end: its connection cannot serve another
    /// request, and dropping the runtime closes it now.
    fn abandon(&mut self) {
        if self.response.take().is_some() {
            *self.live = None;
        }
    }
}

impl Iterator for Body<'_> {
    type Item = Result<Vec<u8>, Failure>;

    fn next(&mut self) -> Option<Self::Item> {
        let response = self.response.as_mut()?;
        let live = self.live.as_ref()?;
        match wait(&live.runtime, self.interrupt, self.idle, response.chunk()) {
            Ok(Ok(Some(bytes))) => Some(Ok(bytes.to_vec())),
            Ok(Ok(None)) => {
                self.response = None;
                None
            }
            Ok(Err(e)) => {
                log::debug!("the response body failed: {}", http::error_chain(&e));
                self.abandon();
                Some(Err(Failure::Truncated))
            }
            Err(failure) => {
                self.abandon();
                Some(Err(failure))
            }
        }
    }
}

/// How long a body left before its end (the turn stopped reading at the
/// stream's last event) may take to end, so that its connection serves
/// the next request: a chunked body's last, empty chunk usually follows
/// the last event at once.
const DRAIN_WAIT: Duration = Duration::from_millis(50);

/// At most this much of a body left before its end is read and dropped.
const DRAIN_BYTES: usize = 64 * 1024;

impl Body<'_> {
    /// Reads what is left of the body, briefly and not much, unless the
    /// user interrupted: true when it ended (the connection is reusable).
    fn drain(&mut self) -> bool {
        let (Some(response), Some(live)) = (self.response.as_mut(), self.live.as_ref()) else {
            return self.response.is_none();
        };
        if self.interrupt.is_set() {
            return false;
        }
        let deadline = std::time::Instant::now() + DRAIN_WAIT;
        let mut left = DRAIN_BYTES;
        loop {
            let wait_for = deadline.saturating_duration_since(std::time::Instant::now());
            if wait_for.is_zero() {
                return false;
            }
            match wait(&live.runtime, self.interrupt, wait_for, response.chunk()) {
                Ok(Ok(None)) => {
                    self.response = None;
                    return true;
                }
                Ok(Ok(Some(piece))) if piece.len() <= left => left -= piece.len(),
                _ => return false,
            }
        }
    }
}

impl Drop for Body<'_> {
    fn drop(&mut self) {
        if !self.drain() {
            self.abandon();
        }
    }
}

#[cfg(test)]
#[path = "client_tests.rs"]
mod tests;
