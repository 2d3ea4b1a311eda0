//! The [`Transport`] that talks to a model provider over HTTP: the request
//! URL (`{base_url}/responses` or `{base_url}/chat/completions` plus
//! `query_params`), the Bearer key from `env_key`, `http_headers`, and the
//! response body streamed as chunks with the provider's idle timeout.

use super::http::{Client, HttpError, ProxyEnv, Response, Timeouts};
use super::retry::Failure;
use super::url::Url;
use crate::agent::{Chunks, Transport};
use crate::CoreError;
use cordon_config::{ModelProvider, WireApi};
use serde_json::Value;
use std::io::Read;
use std::sync::Arc;
use std::time::Duration;

/// Sends requests to one provider.
pub struct HttpTransport {
    client: Client,
    url: Url,
    headers: Vec<(String, String)>,
    timeouts: Timeouts,
    interrupt: Arc<crate::interrupt::Interrupt>,
}

impl HttpTransport {
    /// A transport for `provider`; the API key is read from its `env_key`
    /// through `env` (a missing key is an error naming the variable).
    pub fn new(
        provider: &ModelProvider,
        env: &dyn Fn(&str) -> Option<String>,
        interrupt: Arc<crate::interrupt::Interrupt>,
    ) -> Result<HttpTransport, CoreError> {
        let base = Url::parse(&provider.base_url).map_err(|e| CoreError::Provider {
            provider: provider.id.clone(),
            message: e.to_string(),
        })?;
        let path = match provider.wire_api {
            WireApi::Responses => "responses",
            WireApi::Chat => "chat/completions",
        };
        let params: Vec<(String, String)> = provider
            .query_params
            .iter()
            .map(|(k, v)| (k.clone(), v.clone()))
            .collect();
        let url = base.join(path).with_query(&params);
        let mut headers = vec![
            ("Content-Type".to_string(), "application/json".to_string()),
            ("Accept".to_string(), "text/event-stream".to_string()),
            (
                "User-Agent".to_string(),
                concat!("cordon/", env!("CARGO_PKG_VERSION")).to_string(),
            ),
        ];
        if let Some(var) = &provider.env_key {
            let key = env(var).ok_or_else(|| CoreError::Provider {
                provider: provider.id.clone(),
                message: format!(
                    "the API key variable {var} is not set (export {var}=..., or pick another provider with model_provider / --oss)"
                ),
            })?;
            headers.push((
                "Authorization".to_string(),
                format!("Bearer {}", key.trim()),
            ));
        }
        for (k, v) in &provider.http_headers {
            headers.push((k.clone(), v.clone()));
        }
        let proxies = ProxyEnv::from_vars(env).map_err(|e| CoreError::Provider {
            provider: provider.id.clone(),
            message: e.to_string(),
        })?;
        Ok(HttpTransport {
            client: Client::new(proxies),
            url,
            headers,
            timeouts: Timeouts {
                connect: Duration::from_secs(10),
                idle: Duration::from_millis(provider.stream_idle_timeout_ms),
            },
            interrupt,
        })
    }

    /// The request URL.
    pub fn url(&self) -> &Url {
        &self.url
    }
}

fn failure(e: HttpError) -> Failure {
    match e {
        HttpError::Idle(_) => Failure::Idle,
        other => Failure::Connect(other.to_string()),
    }
}

fn read_failure(e: std::io::Error) -> Failure {
    match e.kind() {
        std::io::ErrorKind::WouldBlock | std::io::ErrorKind::TimedOut => Failure::Idle,
        std::io::ErrorKind::UnexpectedEof => Failure::Truncated,
        _ => Failure::Connect(e.to_string()),
    }
}

impl Transport for HttpTransport {
    fn send(&mut self, body: &Value) -> Result<Chunks<'_>, Failure> {
        if self.interrupt.is_set() {
            return Err(Failure::Interrupted);
        }
        let bytes = serde_json::to_vec(body).map_err(|e| Failure::Connect(e.to_string()))?;
        log::debug!("POST {} ({} bytes)", self.url, bytes.len());
        let interrupt = self.interrupt.clone();
        let response = self
            .client
            .post(
                &self.url,
                &self.headers,
                &bytes,
                self.timeouts,
                Some(&interrupt),
            )
            .map_err(|e| {
                if interrupt.is_set() {
                    Failure::Interrupted
                } else {
                    failure(e)
                }
            })?;
        let Response {
            status,
            headers,
            mut body,
        } = response;
        if !(200..300).contains(&status) {
            let retry_after = headers
                .iter()
                .find(|(n, _)| n == "retry-after")
                .map(|(_, v)| v.clone());
            let text = body.read_capped(64 * 1024);
            log::debug!("HTTP {status}: {text}");
            return Err(Failure::Status {
                code: status,
                retry_after,
                body: text,
            });
        }
        let mut done = false;
        Ok(Box::new(std::iter::from_fn(move || {
            if done {
                return None;
            }
            let mut buf = vec![0u8; 16 * 1024];
            match body.read(&mut buf) {
                Ok(0) => {
                    done = true;
                    None
                }
                Ok(n) => {
                    buf.truncate(n);
                    Some(Ok(buf))
                }
                Err(e) => {
                    done = true;
                    Some(Err(if interrupt.is_set() {
                        Failure::Interrupted
                    } else {
                        read_failure(e)
                    }))
                }
            }
        })))
    }
}
