//! The agent's keys: `model`, `model_provider`, `[model_providers.ID]`,
//! and the built-in providers (`openai`, `ollama`, `lmstudio`).

use crate::ConfigError;
use serde::Deserialize;
use std::collections::BTreeMap;
use std::path::Path;

/// Which wire API a provider speaks.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Deserialize, Default)]
#[serde(rename_all = "kebab-case")]
pub enum WireApi {
    /// OpenAI's Responses API (`POST {base_url}/responses`).
    #[default]
    Responses,
    /// Chat Completions (`POST {base_url}/chat/completions`).
    Chat,
}

/// `[model_providers.ID]` as written.
#[derive(Debug, Clone, Default, Deserialize, PartialEq, Eq)]
pub struct ModelProviderToml {
    /// Display name.
    pub name: Option<String>,
    /// Base URL, such as `http://localhost:11434/v1`.
    pub base_url: Option<String>,
    /// Environment variable holding the API key (sent as a Bearer token).
    pub env_key: Option<String>,
    /// `responses` or `chat`.
    pub wire_api: Option<WireApi>,
    /// Extra query parameters on every request (e.g. `api-version`).
    #[serde(default)]
    pub query_params: BTreeMap<String, String>,
    /// Extra HTTP headers on every request.
    #[serde(default)]
    pub http_headers: BTreeMap<String, String>,
    /// Retries of a request that failed to connect, or got 429 or 5xx.
    pub request_max_retries: Option<u32>,
    /// Retries of a stream that broke off or went idle.
    pub stream_max_retries: Option<u32>,
    /// Longest silence in a response stream, in milliseconds.
    pub stream_idle_timeout_ms: Option<u64>,
}

/// A provider with every setting resolved.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ModelProvider {
    /// The key under `[model_providers]` (or the built-in's id).
    pub id: String,
    /// Display name.
    pub name: String,
    /// Base URL.
    pub base_url: String,
    /// Environment variable with the API key, if any.
    pub env_key: Option<String>,
    /// Wire API.
    pub wire_api: WireApi,
    /// Query parameters.
    pub query_params: BTreeMap<String, String>,
    /// Headers.
    pub http_headers: BTreeMap<String, String>,
    /// Request retries.
    pub request_max_retries: u32,
    /// Stream retries.
    pub stream_max_retries: u32,
    /// Idle timeout in milliseconds.
    pub stream_idle_timeout_ms: u64,
    /// The model used when `model` is not set.
    pub default_model: &'static str,
}

/// Ids of the built-in providers.
pub const BUILT_IN_PROVIDERS: [&str; 3] = ["openai", "ollama", "lmstudio"];

/// Most retries accepted, so a typo cannot make a run hang for hours.
const MAX_RETRIES: u32 = 100;

fn built_in(id: &str, env: &dyn Fn(&str) -> Option<String>) -> Option<ModelProvider> {
    let (name, base_url, env_key, wire_api, default_model) = match id {
        "openai" => (
            "OpenAI",
            env("OPENAI_BASE_URL").unwrap_or_else(|| "https://api.openai.com/v1".into()),
            Some("OPENAI_API_KEY".to_string()),
            WireApi::Responses,
            "gpt-5-codex",
        ),
        "ollama" => (
            "Ollama",
            env("CORDON_OSS_BASE_URL").unwrap_or_else(|| "http://localhost:11434/v1".into()),
            None,
            WireApi::Chat,
            "gpt-oss:20b",
        ),
        "lmstudio" => (
            "LM Studio",
            "http://localhost:1234/v1".to_string(),
            None,
            WireApi::Chat,
            "openai/gpt-oss-20b",
        ),
        _ => return None,
    };
    Some(ModelProvider {
        id: id.to_string(),
        name: name.to_string(),
        base_url,
        env_key,
        wire_api,
        query_params: BTreeMap::new(),
        http_headers: BTreeMap::new(),
        request_max_retries: 4,
        stream_max_retries: 5,
        stream_idle_timeout_ms: 300_000,
        default_model,
    })
}

/// Resolves provider `id` from the user's tables and the built-ins: a
/// user table with a built-in's id changes only the keys it sets.
pub fn resolve_provider(
    path: &Path,
    id: &str,
    tables: &BTreeMap<String, ModelProviderToml>,
    env: &dyn Fn(&str) -> Option<String>,
) -> Result<ModelProvider, ConfigError> {
    let err = |key: String, message: String| ConfigError::Rule {
        path: path.to_path_buf(),
        key,
        message,
    };
    let user = tables.get(id);
    let mut provider = match (built_in(id, env), user) {
        (Some(p), _) => p,
        (None, Some(_)) => ModelProvider {
            id: id.to_string(),
            name: id.to_string(),
            base_url: String::new(),
            env_key: None,
            wire_api: WireApi::Responses,
            query_params: BTreeMap::new(),
            http_headers: BTreeMap::new(),
            request_max_retries: 4,
            stream_max_retries: 5,
            stream_idle_timeout_ms: 300_000,
            default_model: "",
        },
        (None, None) => {
            let mut known: Vec<String> = BUILT_IN_PROVIDERS.iter().map(|s| s.to_string()).collect();
            known.extend(tables.keys().cloned());
            return Err(err(
                "model_provider".into(),
                format!(
                    "unknown provider `{id}` (known: {}; define it in a [model_providers.{id}] table)",
                    known.join(", ")
                ),
            ));
        }
    };
    if let Some(t) = user {
        let key = |k: &str| format!("model_providers.{id}.{k}");
        if let Some(v) = &t.name {
            provider.name = v.clone();
        }
        if let Some(v) = &t.base_url {
            provider.base_url = v.clone();
        }
        if let Some(v) = &t.env_key {
            provider.env_key = Some(v.clone());
        }
        if let Some(v) = t.wire_api {
            provider.wire_api = v;
        }
        provider.query_params.extend(t.query_params.clone());
        provider.http_headers.extend(t.http_headers.clone());
        for (name, value, slot) in [
            (
                "request_max_retries",
                t.request_max_retries,
                &mut provider.request_max_retries,
            ),
            (
                "stream_max_retries",
                t.stream_max_retries,
                &mut provider.stream_max_retries,
            ),
        ] {
            if let Some(v) = value {
                if v > MAX_RETRIES {
                    return Err(err(
                        key(name),
                        format!("{v} is more than the {MAX_RETRIES} retries allowed"),
                    ));
                }
                *slot = v;
            }
        }
        if let Some(v) = t.stream_idle_timeout_ms {
            if v == 0 {
                return Err(err(
                    key("stream_idle_timeout_ms"),
                    "must be at least 1".into(),
                ));
            }
            provider.stream_idle_timeout_ms = v;
        }
        for (name, value) in &provider.http_headers {
            let bad_name = name.is_empty()
                || !name
                    .bytes()
                    .all(|b| b.is_ascii_alphanumeric() || b"-_!#$%&'*+.^`|~".contains(&b));
            if bad_name || value.contains(['\r', '\n']) {
                return Err(err(
                    key(&format!("http_headers.{name}")),
                    "not a valid HTTP header name and value".into(),
                ));
            }
        }
        if provider.base_url.is_empty() {
            return Err(err(
                key("base_url"),
                "required for a provider that is not built in".into(),
            ));
        }
    }
    let lower = provider.base_url.to_ascii_lowercase();
    if !(lower.starts_with("http://") || lower.starts_with("https://")) {
        let k = if user.and_then(|t| t.base_url.as_ref()).is_some() {
            format!("model_providers.{id}.base_url")
        } else {
            "OPENAI_BASE_URL / CORDON_OSS_BASE_URL".into()
        };
        return Err(err(
            k,
            format!("`{}` is not an http:// or https:// URL", provider.base_url),
        ));
    }
    Ok(provider)
}
