//! Tool arguments: JSON objects checked into typed values, every error
//! naming the argument it is about (a tool error for the client, never a
//! crash).

use crate::SessionRequest;
use cordon_policy::network::{DomainRule, RuleAction};
use cordon_policy::{ApprovalPolicy, NetworkMode, SandboxMode};
use serde_json::{Map, Value};
use std::path::{Path, PathBuf};
use std::time::Duration;

/// A bad argument: which one and why.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ArgError {
    /// The argument's name as the client spelled it (`config.KEY` for one
    /// entry of `config`).
    pub arg: String,
    /// What is wrong with it.
    pub reason: String,
}

impl std::fmt::Display for ArgError {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "invalid argument `{}`: {}", self.arg, self.reason)
    }
}

fn bad(arg: &str, reason: impl Into<String>) -> ArgError {
    ArgError {
        arg: arg.to_string(),
        reason: reason.into(),
    }
}

/// The `cordon` tool's arguments.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct CordonArgs {
    /// `prompt`.
    pub prompt: String,
    /// Settings for the session.
    pub request: SessionRequest,
    /// `base-instructions`.
    pub base_instructions: Option<String>,
    /// `developer-instructions`.
    pub developer_instructions: Option<String>,
}

/// The `cordon-reply` tool's arguments.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ReplyArgs {
    /// `threadId`.
    pub thread_id: String,
    /// `prompt`.
    pub prompt: String,
}

/// The `cordon-sandbox` tool's arguments.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct SandboxArgs {
    /// `command` (argv).
    pub command: Vec<String>,
    /// `cwd`, real path (default: the server's).
    pub cwd: PathBuf,
    /// `sandbox` (default read-only).
    pub mode: SandboxMode,
    /// `writable_roots` (absolute).
    pub writable_roots: Vec<PathBuf>,
    /// `network` (default none).
    pub network: NetworkMode,
    /// `allow_domains`.
    pub allow_domains: Vec<String>,
    /// `deny_domains`.
    pub deny_domains: Vec<String>,
    /// `timeout_ms`.
    pub timeout: Duration,
    /// `stdin`.
    pub stdin: Option<String>,
}

/// Default limit on one `cordon-sandbox` command.
pub const DEFAULT_TIMEOUT_MS: u64 = 60_000;
/// Longest `timeout_ms` accepted.
pub const MAX_TIMEOUT_MS: u64 = 3_600_000;

/// The arguments object, with unknown names refused.
struct Object<'a> {
    map: &'a Map<String, Value>,
}

impl<'a> Object<'a> {
    fn new(arguments: Option<&'a Map<String, Value>>, known: &[&str]) -> Result<Self, ArgError> {
        static EMPTY: std::sync::OnceLock<Map<String, Value>> = std::sync::OnceLock::new();
        let map = arguments.unwrap_or_else(|| EMPTY.get_or_init(Map::new));
        if let Some(unknown) = map.keys().find(|k| !known.contains(&k.as_str())) {
            return Err(bad(
                unknown,
                format!("unknown argument; this tool takes {}", known.join(", ")),
            ));
        }
        Ok(Object { map })
    }

    fn get(&self, name: &str) -> Option<&'a Value> {
        self.map.get(name).filter(|v| !v.is_null())
    }

    fn string(&self, name: &str) -> Result<Option<String>, ArgError> {
        match self.get(name) {
            None => Ok(None),
            Some(Value::String(s)) => Ok(Some(s.clone())),
            Some(other) => Err(bad(name, format!("must be a string, not {other}"))),
        }
    }

    fn required_string(&self, name: &str) -> Result<String, ArgError> {
        match self.string(name)? {
            Some(s) if !s.trim().is_empty() => Ok(s),
            Some(_) => Err(bad(name, "must not be empty")),
            None => Err(bad(name, "is required")),
        }
    }

    fn strings(&self, name: &str) -> Result<Vec<String>, ArgError> {
        match self.get(name) {
            None => Ok(Vec::new()),
            Some(Value::Array(items)) => items
                .iter()
                .enumerate()
                .map(|(i, v)| match v {
                    Value::String(s) => Ok(s.clone()),
                    other => Err(bad(name, format!("item {i} must be a string, not {other}"))),
                })
                .collect(),
            Some(other) => Err(bad(
                name,
                format!("must be an array of strings, not {other}"),
            )),
        }
    }

    fn choice<T: std::str::FromStr>(
        &self,
        name: &str,
        allowed: &[&str],
    ) -> Result<Option<T>, ArgError> {
        let Some(text) = self.string(name)? else {
            return Ok(None);
        };
        if !allowed.contains(&text.as_str()) {
            return Err(bad(
                name,
                format!("`{text}` is not one of {}", allowed.join(", ")),
            ));
        }
        text.parse().map(Some).map_err(|_| {
            bad(
                name,
                format!("`{text}` is not one of {}", allowed.join(", ")),
            )
        })
    }
}

const MODES: &[&str] = &["read-only", "workspace-write", "danger-full-access"];
const NETWORKS: &[&str] = &["none", "proxy", "full"];
const APPROVALS: &[&str] = &["untrusted", "on-failure", "on-request", "never"];

fn approval(name: &str, text: Option<String>) -> Result<Option<ApprovalPolicy>, ArgError> {
    Ok(match text.as_deref() {
        None => None,
        Some("untrusted") => Some(ApprovalPolicy::Untrusted),
        Some("on-failure") => Some(ApprovalPolicy::OnFailure),
        Some("on-request") => Some(ApprovalPolicy::OnRequest),
        Some("never") => Some(ApprovalPolicy::Never),
        Some(other) => {
            return Err(bad(
                name,
                format!("`{other}` is not one of {}", APPROVALS.join(", ")),
            ))
        }
    })
}

/// An absolute path to an existing directory, as its real path.
fn directory(name: &str, text: &str) -> Result<PathBuf, ArgError> {
    let path = Path::new(text);
    if !path.is_absolute() {
        return Err(bad(name, format!("`{text}` must be an absolute path")));
    }
    match std::fs::canonicalize(path) {
        Ok(real) if real.is_dir() => Ok(real),
        Ok(_) => Err(bad(name, format!("`{text}` is not a directory"))),
        Err(e) => Err(bad(name, format!("`{text}`: {e}"))),
    }
}

/// Domain patterns, each checked as the proxy will read it.
fn domains(name: &str, patterns: &[String], action: RuleAction) -> Result<(), ArgError> {
    for p in patterns {
        DomainRule::parse(p, action).map_err(|e| bad(name, format!("`{p}`: {}", e.reason)))?;
    }
    Ok(())
}

/// `config`: an object of dotted keys to values, as `-c key=value` lines
/// with each value written as TOML.
fn config_lines(value: Option<&Value>) -> Result<Vec<String>, ArgError> {
    let map = match value {
        None => return Ok(Vec::new()),
        Some(Value::Object(map)) => map,
        Some(other) => {
            return Err(bad(
                "config",
                format!("must be an object of dotted keys to values, not {other}"),
            ))
        }
    };
    map.iter()
        .map(|(key, value)| {
            let arg = format!("config.{key}");
            let valid_key = !key.is_empty()
                && key.split('.').all(|part| {
                    !part.is_empty()
                        && part
                            .chars()
                            .all(|c| c.is_ascii_alphanumeric() || c == '_' || c == '-')
                });
            if !valid_key {
                return Err(bad(
                    &arg,
                    "keys are dotted names of letters, digits, `_` and `-` (like `model_providers.x.base_url`)",
                ));
            }
            Ok(format!("{key}={}", toml_value(&arg, value)?))
        })
        .collect()
}

/// A JSON value as a TOML value (JSON strings are valid TOML basic strings).
fn toml_value(arg: &str, value: &Value) -> Result<String, ArgError> {
    Ok(match value {
        Value::Null => return Err(bad(arg, "null has no TOML equivalent; leave the key out")),
        Value::Bool(_) | Value::Number(_) | Value::String(_) => value.to_string(),
        Value::Array(items) => format!(
            "[{}]",
            items
                .iter()
                .map(|v| toml_value(arg, v))
                .collect::<Result<Vec<_>, _>>()?
                .join(", ")
        ),
        Value::Object(map) => format!(
            "{{ {} }}",
            map.iter()
                .map(|(k, v)| Ok(format!(
                    "{} = {}",
                    Value::from(k.as_str()),
                    toml_value(arg, v)?
                )))
                .collect::<Result<Vec<_>, ArgError>>()?
                .join(", ")
        ),
    })
}

/// Parses the `cordon` tool's arguments.
pub fn cordon(arguments: Option<&Map<String, Value>>) -> Result<CordonArgs, ArgError> {
    let o = Object::new(
        arguments,
        &[
            "prompt",
            "model",
            "profile",
            "cwd",
            "approval-policy",
            "sandbox",
            "network",
            "allow-domains",
            "config",
            "base-instructions",
            "developer-instructions",
        ],
    )?;
    let prompt = o.required_string("prompt")?;
    let cwd = match o.string("cwd")? {
        Some(text) => Some(directory("cwd", &text)?),
        None => None,
    };
    let network: Option<NetworkMode> = o.choice("network", NETWORKS)?;
    let allow_domains = o.strings("allow-domains")?;
    domains("allow-domains", &allow_domains, RuleAction::Allow)?;
    if !allow_domains.is_empty() && network != Some(NetworkMode::Proxy) {
        return Err(bad(
            "allow-domains",
            "applies only with `network`: `proxy`; set it too",
        ));
    }
    let non_empty = |name: &str| -> Result<Option<String>, ArgError> {
        match o.string(name)? {
            Some(s) if s.trim().is_empty() => Err(bad(name, "must not be empty when given")),
            other => Ok(other),
        }
    };
    Ok(CordonArgs {
        prompt,
        request: SessionRequest {
            model: non_empty("model")?,
            profile: non_empty("profile")?,
            cwd,
            approval: approval("approval-policy", o.string("approval-policy")?)?,
            sandbox: o.choice("sandbox", MODES)?,
            network,
            allow_domains,
            config: config_lines(o.get("config"))?,
        },
        base_instructions: o.string("base-instructions")?,
        developer_instructions: o.string("developer-instructions")?,
    })
}

/// Parses the `cordon-reply` tool's arguments.
pub fn reply(arguments: Option<&Map<String, Value>>) -> Result<ReplyArgs, ArgError> {
    let o = Object::new(arguments, &["threadId", "prompt"])?;
    Ok(ReplyArgs {
        thread_id: o.required_string("threadId")?,
        prompt: o.required_string("prompt")?,
    })
}

/// Parses the `cordon-sandbox` tool's arguments; `default_cwd` when none.
pub fn sandbox(
    arguments: Option<&Map<String, Value>>,
    default_cwd: &Path,
) -> Result<SandboxArgs, ArgError> {
    let o = Object::new(
        arguments,
        &[
            "command",
            "cwd",
            "sandbox",
            "writable_roots",
            "network",
            "allow_domains",
            "deny_domains",
            "timeout_ms",
            "stdin",
        ],
    )?;
    let command = match o.get("command") {
        None => return Err(bad("command", "is required (an argv array)")),
        Some(_) => o.strings("command")?,
    };
    if command.is_empty() || command[0].is_empty() {
        return Err(bad("command", "must name a program as its first item"));
    }
    if command.iter().any(|a| a.contains('\0')) {
        return Err(bad("command", "items must not contain NUL"));
    }
    let cwd = match o.string("cwd")? {
        Some(text) => directory("cwd", &text)?,
        None => default_cwd.to_path_buf(),
    };
    let mode = o.choice("sandbox", MODES)?.unwrap_or(SandboxMode::ReadOnly);
    let writable_roots = o
        .strings("writable_roots")?
        .iter()
        .map(|r| directory("writable_roots", r))
        .collect::<Result<Vec<_>, _>>()?;
    if !writable_roots.is_empty() && mode != SandboxMode::WorkspaceWrite {
        return Err(bad(
            "writable_roots",
            format!("applies only with `sandbox`: `workspace-write` (it is `{mode}`)"),
        ));
    }
    let network = o.choice("network", NETWORKS)?.unwrap_or(NetworkMode::None);
    let allow_domains = o.strings("allow_domains")?;
    let deny_domains = o.strings("deny_domains")?;
    domains("allow_domains", &allow_domains, RuleAction::Allow)?;
    domains("deny_domains", &deny_domains, RuleAction::Deny)?;
    for (name, list) in [
        ("allow_domains", &allow_domains),
        ("deny_domains", &deny_domains),
    ] {
        if !list.is_empty() && network != NetworkMode::Proxy {
            return Err(bad(
                name,
                format!("applies only with `network`: `proxy` (it is `{network}`)"),
            ));
        }
    }
    let timeout_ms = match o.get("timeout_ms") {
        None => DEFAULT_TIMEOUT_MS,
        Some(v) => match v.as_u64() {
            Some(ms) if (1..=MAX_TIMEOUT_MS).contains(&ms) => ms,
            _ => {
                return Err(bad(
                    "timeout_ms",
                    format!("must be an integer from 1 to {MAX_TIMEOUT_MS}, not {v}"),
                ))
            }
        },
    };
    Ok(SandboxArgs {
        command,
        cwd,
        mode,
        writable_roots,
        network,
        allow_domains,
        deny_domains,
        timeout: Duration::from_millis(timeout_ms),
        stdin: o.string("stdin")?,
    })
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    fn obj(v: Value) -> Map<String, Value> {
        v.as_object().unwrap().clone()
    }

    #[test]
    fn each_bad_argument_is_named() {
        let dir = std::env::temp_dir();
        let cases = [
            (json!({}), "command"),
            (json!({"command": "ls"}), "command"),
            (json!({"command": []}), "command"),
            (json!({"command": ["ls", 3]}), "command"),
            (json!({"command": ["ls"], "cwd": "relative"}), "cwd"),
            (json!({"command": ["ls"], "cwd": "/nonexistent-dir"}), "cwd"),
            (json!({"command": ["ls"], "sandbox": "yolo"}), "sandbox"),
            (json!({"command": ["ls"], "network": "wifi"}), "network"),
            (json!({"command": ["ls"], "timeout_ms": 0}), "timeout_ms"),
            (json!({"command": ["ls"], "timeout_ms": -5}), "timeout_ms"),
            (json!({"command": ["ls"], "timeout_ms": "10"}), "timeout_ms"),
            (
                json!({"command": ["ls"], "writable_roots": ["/tmp"]}),
                "writable_roots",
            ),
            (
                json!({"command": ["ls"], "sandbox": "workspace-write", "writable_roots": ["tmp"]}),
                "writable_roots",
            ),
            (
                json!({"command": ["ls"], "allow_domains": ["x.com"]}),
                "allow_domains",
            ),
            (
                json!({"command": ["ls"], "network": "proxy", "deny_domains": ["*.*.bad pattern"]}),
                "deny_domains",
            ),
            (json!({"command": ["ls"], "stdin": 5}), "stdin"),
            (json!({"command": ["ls"], "comand": 5}), "comand"),
        ];
        for (args, name) in cases {
            let e = sandbox(Some(&obj(args.clone())), &dir).unwrap_err();
            assert_eq!(e.arg, name, "{args}: {e}");
            assert!(e.to_string().contains(&format!("`{name}`")), "{e}");
        }
        let cases = [
            (json!({}), "prompt"),
            (json!({"prompt": " "}), "prompt"),
            (
                json!({"prompt": "p", "approval-policy": "sometimes"}),
                "approval-policy",
            ),
            (json!({"prompt": "p", "config": []}), "config"),
            (json!({"prompt": "p", "config": {"a..b": 1}}), "config.a..b"),
            (
                json!({"prompt": "p", "config": {"model": null}}),
                "config.model",
            ),
            (
                json!({"prompt": "p", "allow-domains": ["x.com"]}),
                "allow-domains",
            ),
            (json!({"prompt": "p", "model": ""}), "model"),
        ];
        for (args, name) in cases {
            let e = cordon(Some(&obj(args.clone()))).unwrap_err();
            assert_eq!(e.arg, name, "{args}: {e}");
        }
        assert_eq!(
            reply(Some(&obj(json!({"prompt": "p"})))).unwrap_err().arg,
            "threadId"
        );
    }

    #[test]
    fn good_arguments_and_config_as_toml() {
        let a = cordon(Some(&obj(json!({
            "prompt": "fix it",
            "sandbox": "workspace-write",
            "network": "proxy",
            "allow-domains": ["example.com"],
            "approval-policy": "on-failure",
            "config": {
                "model_reasoning_effort": "high",
                "sandbox_workspace_write.writable_roots": ["/a", "/b \"q\""],
                "model_providers.x": {"name": "X", "request_max_retries": 3, "flag": true}
            }
        }))))
        .unwrap();
        assert_eq!(a.request.sandbox, Some(SandboxMode::WorkspaceWrite));
        assert_eq!(a.request.network, Some(NetworkMode::Proxy));
        assert_eq!(a.request.approval, Some(ApprovalPolicy::OnFailure));
        assert_eq!(
            a.request.config,
            vec![
                r#"model_providers.x={ "flag" = true, "name" = "X", "request_max_retries" = 3 }"#,
                r#"model_reasoning_effort="high""#,
                r#"sandbox_workspace_write.writable_roots=["/a", "/b \"q\""]"#,
            ]
        );
        let s = sandbox(
            Some(&obj(json!({"command": ["true"], "timeout_ms": 5}))),
            Path::new("/"),
        )
        .unwrap();
        assert_eq!(s.mode, SandboxMode::ReadOnly);
        assert_eq!(s.network, NetworkMode::None);
        assert_eq!(s.timeout, Duration::from_millis(5));
        assert_eq!(s.cwd, PathBuf::from("/"));
    }
}
