//! `[mcp_servers.NAME]`: the MCP servers cordon starts, with Codex's keys
//! and cordon's own sandbox keys. This is the data; the client lives in
//! `cordon-mcp`.

use crate::ConfigError;
use cordon_policy::{NetworkMode, SandboxMode};
use serde::Deserialize;
use std::collections::BTreeMap;
use std::path::{Path, PathBuf};
use std::time::Duration;

/// Default `startup_timeout_sec`.
pub const DEFAULT_STARTUP_TIMEOUT: Duration = Duration::from_secs(30);
/// Default `tool_timeout_sec`.
pub const DEFAULT_TOOL_TIMEOUT: Duration = Duration::from_secs(300);

/// Keys only a stdio server may have.
const STDIO_KEYS: [&str; 5] = ["command", "args", "env", "env_vars", "cwd"];
/// Keys only a streamable HTTP server may have.
const HTTP_KEYS: [&str; 4] = [
    "url",
    "bearer_token_env_var",
    "http_headers",
    "env_http_headers",
];
/// The sandbox keys (stdio servers only).
const SANDBOX_KEYS: [&str; 5] = [
    "sandbox_mode",
    "writable_roots",
    "network",
    "allow_domains",
    "deny_domains",
];

/// `"auto"`, `"prompt"` or `"approve"`.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum ToolApprovalMode {
    /// Ask unless the tool says it only reads (`readOnlyHint`), as the
    /// approval policy allows.
    #[default]
    Auto,
    /// Always ask (declined where nobody can be asked).
    Prompt,
    /// Never ask.
    Approve,
}

impl ToolApprovalMode {
    /// The value as written in config.
    pub fn as_str(self) -> &'static str {
        match self {
            ToolApprovalMode::Auto => "auto",
            ToolApprovalMode::Prompt => "prompt",
            ToolApprovalMode::Approve => "approve",
        }
    }
}

/// `[mcp_servers.NAME.tools.TOOL]`.
#[derive(Debug, Clone, Default, PartialEq, Eq, Deserialize)]
pub struct McpToolToml {
    /// How calls of this tool are approved.
    pub approval_mode: Option<ToolApprovalMode>,
}

/// `[mcp_servers.NAME]` as written: every key of both transports, so a key
/// of the wrong one can be reported with its place.
#[derive(Debug, Clone, Default, PartialEq, Deserialize)]
pub struct McpServerToml {
    /// stdio: the program.
    pub command: Option<String>,
    /// stdio: its arguments.
    pub args: Option<Vec<String>>,
    /// stdio: variables set to these literal values.
    pub env: Option<BTreeMap<crate::EnvName, crate::EnvValue>>,
    /// stdio: variables copied from cordon's environment.
    pub env_vars: Option<Vec<crate::EnvName>>,
    /// stdio: working directory.
    pub cwd: Option<PathBuf>,
    /// Streamable HTTP: the endpoint.
    pub url: Option<String>,
    /// Streamable HTTP: variable holding a bearer token.
    pub bearer_token_env_var: Option<String>,
    /// Streamable HTTP: headers with literal values.
    pub http_headers: Option<BTreeMap<String, String>>,
    /// Streamable HTTP: header → variable holding its value.
    pub env_http_headers: Option<BTreeMap<String, String>>,
    /// Start it (default true).
    pub enabled: Option<bool>,
    /// `exec` fails when it cannot start.
    pub required: Option<bool>,
    /// Seconds to wait for it to start (default 30).
    pub startup_timeout_sec: Option<f64>,
    /// Seconds a tool call may be silent (default 300).
    pub tool_timeout_sec: Option<f64>,
    /// Only these tools are offered.
    pub enabled_tools: Option<Vec<String>>,
    /// These tools are not offered.
    pub disabled_tools: Option<Vec<String>>,
    /// Approval of the tools without their own `approval_mode`.
    pub default_tools_approval_mode: Option<ToolApprovalMode>,
    /// Per-tool settings.
    pub tools: Option<BTreeMap<String, McpToolToml>>,
    /// cordon: run the server under `cordon sandbox` in this mode.
    pub sandbox_mode: Option<SandboxMode>,
    /// cordon: extra writable roots (workspace-write).
    pub writable_roots: Option<Vec<PathBuf>>,
    /// cordon: the server's network.
    pub network: Option<NetworkMode>,
    /// cordon: domains the proxy lets it reach.
    pub allow_domains: Option<Vec<String>>,
    /// cordon: domains the proxy refuses it.
    pub deny_domains: Option<Vec<String>>,
}

/// How cordon talks to a server.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum McpTransport {
    /// A child process speaking JSON-RPC on stdin/stdout.
    Stdio {
        /// The program.
        command: String,
        /// Its arguments.
        args: Vec<String>,
        /// Literal variables.
        env: BTreeMap<String, String>,
        /// Variables copied from cordon's environment.
        env_vars: Vec<String>,
        /// Working directory (default: the session's).
        cwd: Option<PathBuf>,
    },
    /// Streamable HTTP.
    StreamableHttp {
        /// The endpoint.
        url: String,
        /// Variable holding a bearer token.
        bearer_token_env_var: Option<String>,
        /// Literal headers.
        http_headers: BTreeMap<String, String>,
        /// Header → variable.
        env_http_headers: BTreeMap<String, String>,
    },
}

/// The sandbox a stdio server runs in.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct McpSandbox {
    /// `read-only` or `workspace-write`.
    pub mode: SandboxMode,
    /// Extra writable roots.
    pub writable_roots: Vec<PathBuf>,
    /// Network mode (default none).
    pub network: NetworkMode,
    /// Allowed domain patterns (network proxy).
    pub allow_domains: Vec<String>,
    /// Denied domain patterns (network proxy).
    pub deny_domains: Vec<String>,
}

/// One server, resolved.
#[derive(Debug, Clone, PartialEq)]
pub struct McpServerConfig {
    /// The table's name.
    pub name: String,
    /// How to reach it.
    pub transport: McpTransport,
    /// Start it.
    pub enabled: bool,
    /// `exec` fails when it cannot start.
    pub required: bool,
    /// How long start-up may take.
    pub startup_timeout: Duration,
    /// How long a call may go without a result or progress.
    pub tool_timeout: Duration,
    /// Only these tools (when set).
    pub enabled_tools: Option<Vec<String>>,
    /// Not these tools.
    pub disabled_tools: Vec<String>,
    /// Approval of tools without their own mode.
    pub default_tools_approval_mode: ToolApprovalMode,
    /// Per-tool approval modes.
    pub tool_approval_modes: BTreeMap<String, ToolApprovalMode>,
    /// Run under `cordon sandbox` (stdio only).
    pub sandbox: Option<McpSandbox>,
}

impl McpServerConfig {
    /// Whether `tool` is offered to the model.
    pub fn tool_enabled(&self, tool: &str) -> bool {
        self.enabled_tools
            .as_ref()
            .is_none_or(|only| only.iter().any(|t| t == tool))
            && !self.disabled_tools.iter().any(|t| t == tool)
    }

    /// The approval mode of `tool`.
    pub fn approval_mode(&self, tool: &str) -> ToolApprovalMode {
        self.tool_approval_modes
            .get(tool)
            .copied()
            .unwrap_or(self.default_tools_approval_mode)
    }
}

/// Whether `name` may name a server: ASCII letters, digits, `-` and `_`.
pub fn valid_server_name(name: &str) -> bool {
    !name.is_empty()
        && name.len() <= 64
        && name
            .bytes()
            .all(|b| b.is_ascii_alphanumeric() || b == b'-' || b == b'_')
}

/// Checks that `url` is an absolute `http://` or `https://` URL with a host.
pub fn check_url(url: &str) -> Result<(), String> {
    let lower = url.to_ascii_lowercase();
    let rest = lower
        .strip_prefix("http://")
        .or_else(|| lower.strip_prefix("https://"))
        .ok_or_else(|| format!("`{url}` is not an http:// or https:// URL"))?;
    let authority = rest.split(['/', '?', '#']).next().unwrap_or("");
    let host = authority.rsplit('@').next().unwrap_or("");
    let host = match host.strip_prefix('[') {
        Some(v6) => v6.split(']').next().unwrap_or(""),
        None => host.split(':').next().unwrap_or(""),
    };
    if host.is_empty() || url.chars().any(|c| c.is_whitespace() || c.is_control()) {
        return Err(format!("`{url}` has no host or contains spaces"));
    }
    Ok(())
}

/// Where a key of `[mcp_servers.NAME]` is written in the file: 1-based
/// line and column, when it is there (it may come from `-c` or a profile).
fn locate(text: &str, name: &str, key: &str) -> Option<(usize, usize)> {
    let doc = toml_edit::Document::parse(text).ok()?;
    let server = doc
        .get("mcp_servers")?
        .as_table_like()?
        .get(name)?
        .as_table_like()?;
    let (k, _) = server.get_key_value(key)?;
    let offset = k.span()?.start.min(text.len());
    let before = &text[..offset];
    let line = before.matches('\n').count() + 1;
    let column = before.rsplit('\n').next().map(|l| l.chars().count())? + 1;
    Some((line, column))
}

/// Resolves every `[mcp_servers.NAME]`; `text` is the file's, for locating
/// a key that does not belong.
pub(crate) fn resolve(
    path: &Path,
    text: &str,
    tables: &BTreeMap<String, McpServerToml>,
) -> Result<Vec<McpServerConfig>, ConfigError> {
    let mut out = Vec::new();
    for (name, t) in tables {
        out.push(resolve_one(path, text, name, t)?);
    }
    Ok(out)
}

fn resolve_one(
    path: &Path,
    text: &str,
    name: &str,
    t: &McpServerToml,
) -> Result<McpServerConfig, ConfigError> {
    let err = |key: &str, message: String| {
        let full = if key.is_empty() {
            format!("mcp_servers.{name}")
        } else {
            format!("mcp_servers.{name}.{key}")
        };
        match locate(text, name, key) {
            Some((line, column)) => ConfigError::Invalid {
                path: path.to_path_buf(),
                line,
                column,
                key: full,
                message,
            },
            None => ConfigError::Rule {
                path: path.to_path_buf(),
                key: full,
                message,
            },
        }
    };
    if !valid_server_name(name) {
        return Err(err(
            "",
            format!("`{name}` is not a server name: use 1-64 ASCII letters, digits, `-` or `_`"),
        ));
    }
    let present = |key: &str| -> bool {
        match key {
            "command" => t.command.is_some(),
            "args" => t.args.is_some(),
            "env" => t.env.is_some(),
            "env_vars" => t.env_vars.is_some(),
            "cwd" => t.cwd.is_some(),
            "url" => t.url.is_some(),
            "bearer_token_env_var" => t.bearer_token_env_var.is_some(),
            "http_headers" => t.http_headers.is_some(),
            "env_http_headers" => t.env_http_headers.is_some(),
            "sandbox_mode" => t.sandbox_mode.is_some(),
            "writable_roots" => t.writable_roots.is_some(),
            "network" => t.network.is_some(),
            "allow_domains" => t.allow_domains.is_some(),
            "deny_domains" => t.deny_domains.is_some(),
            _ => false,
        }
    };
    let transport = match (&t.command, &t.url) {
        (Some(_), Some(_)) => {
            return Err(err(
                "url",
                "a server has either `command` (stdio) or `url` (streamable HTTP), not both".into(),
            ))
        }
        (None, None) => {
            return Err(err(
                "",
                "needs `command` (a stdio server) or `url` (a streamable HTTP server)".into(),
            ))
        }
        (Some(command), None) => {
            if let Some(key) = HTTP_KEYS.iter().find(|k| present(k)) {
                return Err(err(
                    key,
                    format!("`{key}` is a streamable HTTP key, but this is a stdio server (it has `command`)"),
                ));
            }
            if command.trim().is_empty() {
                return Err(err("command", "must name a program".into()));
            }
            McpTransport::Stdio {
                command: command.clone(),
                args: t.args.clone().unwrap_or_default(),
                env: t
                    .env
                    .clone()
                    .unwrap_or_default()
                    .into_iter()
                    .map(|(k, v)| (k.as_str().to_string(), v.as_str().to_string()))
                    .collect(),
                env_vars: t
                    .env_vars
                    .clone()
                    .unwrap_or_default()
                    .into_iter()
                    .map(|k| k.as_str().to_string())
                    .collect(),
                cwd: t.cwd.clone(),
            }
        }
        (None, Some(url)) => {
            if let Some(key) = STDIO_KEYS
                .iter()
                .chain(SANDBOX_KEYS.iter())
                .find(|k| present(k))
            {
                let what = if SANDBOX_KEYS.contains(key) {
                    "a sandbox key (only stdio servers run in cordon's sandbox)"
                } else {
                    "a stdio key"
                };
                return Err(err(
                    key,
                    format!(
                        "`{key}` is {what}, but this is a streamable HTTP server (it has `url`)"
                    ),
                ));
            }
            check_url(url).map_err(|m| err("url", m))?;
            let headers = t.http_headers.clone().unwrap_or_default();
            let env_headers = t.env_http_headers.clone().unwrap_or_default();
            for (key, map) in [
                ("http_headers", &headers),
                ("env_http_headers", &env_headers),
            ] {
                for (h, v) in map {
                    let bad = h.is_empty()
                        || !h
                            .bytes()
                            .all(|b| b.is_ascii_alphanumeric() || b"-_!#$%&'*+.^`|~".contains(&b));
                    if bad || v.contains(['\r', '\n', '\0']) {
                        return Err(err(
                            key,
                            format!("`{h}` is not a valid HTTP header name and value"),
                        ));
                    }
                }
            }
            McpTransport::StreamableHttp {
                url: url.clone(),
                bearer_token_env_var: t.bearer_token_env_var.clone(),
                http_headers: headers,
                env_http_headers: env_headers,
            }
        }
    };
    let seconds = |key: &str, v: Option<f64>, default: Duration| match v {
        None => Ok(default),
        Some(s) if s.is_finite() && s > 0.0 && s <= 86_400.0 => Ok(Duration::from_secs_f64(s)),
        Some(s) => Err(err(
            key,
            format!("{s} is not a number of seconds between 0 and 86400"),
        )),
    };
    let sandbox = match t.sandbox_mode {
        None => {
            if let Some(key) = SANDBOX_KEYS[1..].iter().find(|k| present(k)) {
                return Err(err(
                    key,
                    format!("`{key}` applies only with `sandbox_mode` (the server runs unsandboxed without it)"),
                ));
            }
            None
        }
        Some(SandboxMode::DangerFullAccess) => return Err(err(
            "sandbox_mode",
            "must be `read-only` or `workspace-write` (leave it out to run the server unsandboxed)"
                .into(),
        )),
        Some(mode) => {
            let network = t.network.unwrap_or(NetworkMode::None);
            let domains = t.allow_domains.is_some() || t.deny_domains.is_some();
            if domains && network != NetworkMode::Proxy {
                let key = if t.allow_domains.is_some() {
                    "allow_domains"
                } else {
                    "deny_domains"
                };
                return Err(err(key, "applies only with network = \"proxy\"".into()));
            }
            for (key, list) in [
                ("allow_domains", &t.allow_domains),
                ("deny_domains", &t.deny_domains),
            ] {
                for p in list.iter().flatten() {
                    cordon_policy::network::DomainRule::parse(
                        p,
                        cordon_policy::network::RuleAction::Allow,
                    )
                    .map_err(|e| err(key, format!("`{p}`: {}", e.reason)))?;
                }
            }
            let roots = t.writable_roots.clone().unwrap_or_default();
            if mode == SandboxMode::ReadOnly && !roots.is_empty() {
                return Err(err(
                    "writable_roots",
                    "applies only with sandbox_mode = \"workspace-write\"".into(),
                ));
            }
            if let Some(r) = roots.iter().find(|r| !r.is_absolute()) {
                return Err(err(
                    "writable_roots",
                    format!("`{}` is not an absolute path", r.display()),
                ));
            }
            Some(McpSandbox {
                mode,
                writable_roots: roots,
                network,
                allow_domains: t.allow_domains.clone().unwrap_or_default(),
                deny_domains: t.deny_domains.clone().unwrap_or_default(),
            })
        }
    };
    Ok(McpServerConfig {
        name: name.to_string(),
        transport,
        enabled: t.enabled.unwrap_or(true),
        required: t.required.unwrap_or(false),
        startup_timeout: seconds(
            "startup_timeout_sec",
            t.startup_timeout_sec,
            DEFAULT_STARTUP_TIMEOUT,
        )?,
        tool_timeout: seconds("tool_timeout_sec", t.tool_timeout_sec, DEFAULT_TOOL_TIMEOUT)?,
        enabled_tools: t.enabled_tools.clone(),
        disabled_tools: t.disabled_tools.clone().unwrap_or_default(),
        default_tools_approval_mode: t.default_tools_approval_mode.unwrap_or_default(),
        tool_approval_modes: t
            .tools
            .iter()
            .flatten()
            .filter_map(|(k, v)| v.approval_mode.map(|m| (k.clone(), m)))
            .collect(),
        sandbox,
    })
}
