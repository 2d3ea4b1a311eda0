//! `cordon mcp add|list|get|remove`: the `[mcp_servers]` of
//! `$CORDON_HOME/config.toml`, edited with the user's comments and
//! formatting kept. The text forms mask secrets (env values, headers).

use crate::settings::UsageError;
use anyhow::Result;
use cordon_config::{McpServerConfig, McpTransport, NewServer};
use serde_json::{json, Value};
use std::path::{Path, PathBuf};

/// What to do, resolved from the arguments.
pub enum McpOp {
    /// Add or replace a server.
    Add(NewServer),
    /// List servers.
    List {
        /// As JSON.
        json: bool,
    },
    /// Show one.
    Get {
        /// Its name.
        name: String,
        /// As JSON.
        json: bool,
    },
    /// Remove one.
    Remove {
        /// Its name.
        name: String,
    },
}

/// Runs `op` on `$CORDON_HOME/config.toml`.
pub fn run(home: PathBuf, op: McpOp) -> Result<i32> {
    let path = home.join("config.toml");
    let text = match std::fs::read_to_string(&path) {
        Ok(t) => t,
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => String::new(),
        Err(e) => return Err(anyhow::anyhow!("cannot read {}: {e}", path.display())),
    };
    let usage = |e: cordon_config::ConfigError| UsageError(e.to_string());
    match op {
        McpOp::Add(server) => {
            let out = cordon_config::add_server(&path, &text, &server).map_err(usage)?;
            write(&home, &path, &out)?;
            println!("added MCP server `{}` to {}", server.name, path.display());
            if server.sandbox_mode.is_none() && server.url.is_none() {
                println!(
                    "note: it runs unsandboxed, with your rights; pass --sandbox to confine it"
                );
            }
            Ok(0)
        }
        McpOp::Remove { name } => {
            match cordon_config::remove_server(&path, &text, &name).map_err(usage)? {
                Some(out) => {
                    write(&home, &path, &out)?;
                    println!("removed MCP server `{name}`");
                    Ok(0)
                }
                None => {
                    Err(UsageError(format!("no MCP server `{name}` in {}", path.display())).into())
                }
            }
        }
        McpOp::List { json } => {
            let servers = load(&home, &path, &text)?;
            if json {
                let all: Vec<Value> = servers.iter().map(to_json).collect();
                println!("{}", serde_json::to_string_pretty(&all)?);
            } else if servers.is_empty() {
                println!("no MCP servers configured (add one with `cordon mcp add`)");
            } else {
                for s in &servers {
                    println!(
                        "{:<20} {:<8} {:<10} {}",
                        s.name,
                        if s.enabled { "enabled" } else { "disabled" },
                        sandbox_text(s),
                        target(s)
                    );
                }
            }
            Ok(0)
        }
        McpOp::Get { name, json } => {
            let servers = load(&home, &path, &text)?;
            let s = servers.iter().find(|s| s.name == name).ok_or_else(|| {
                UsageError(format!("no MCP server `{name}` in {}", path.display()))
            })?;
            if json {
                println!("{}", serde_json::to_string_pretty(&to_json(s))?);
            } else {
                print!("{}", details(s));
            }
            Ok(0)
        }
    }
}

fn load(home: &Path, path: &Path, text: &str) -> Result<Vec<McpServerConfig>> {
    let config = cordon_config::load_from_str(home, path, text, &Default::default())
        .map_err(|e| UsageError(e.to_string()))?;
    Ok(config.mcp_servers)
}

/// Replaces the file at once (a sibling then a rename), creating the home.
fn write(home: &Path, path: &Path, text: &str) -> Result<()> {
    std::fs::create_dir_all(home)?;
    let mut tmp = tempfile::NamedTempFile::new_in(home)?;
    std::io::Write::write_all(&mut tmp, text.as_bytes())?;
    if let Ok(meta) = std::fs::metadata(path) {
        std::fs::set_permissions(tmp.path(), meta.permissions())?;
    }
    tmp.persist(path)
        .map_err(|e| anyhow::anyhow!("cannot write {}: {}", path.display(), e.error))?;
    Ok(())
}

fn target(s: &McpServerConfig) -> String {
    match &s.transport {
        McpTransport::Stdio { command, args, .. } => std::iter::once(command.as_str())
            .chain(args.iter().map(String::as_str))
            .collect::<Vec<_>>()
            .join(" "),
        McpTransport::StreamableHttp { url, .. } => url.clone(),
    }
}

fn sandbox_text(s: &McpServerConfig) -> String {
    match &s.sandbox {
        Some(b) => format!("{}/{}", b.mode, b.network),
        None if matches!(s.transport, McpTransport::Stdio { .. }) => "unsandboxed".into(),
        None => "remote".into(),
    }
}

/// `cordon mcp get NAME`, secrets masked.
fn details(s: &McpServerConfig) -> String {
    let mut out = format!(
        "{}\n  enabled: {}\n  required: {}\n",
        s.name, s.enabled, s.required
    );
    match &s.transport {
        McpTransport::Stdio {
            command,
            args,
            env,
            env_vars,
            cwd,
        } => {
            out.push_str(&format!(
                "  transport: stdio\n  command: {command}\n  args: {}\n",
                args.join(" ")
            ));
            let masked: Vec<String> = env.keys().map(|k| format!("{k}=*****")).collect();
            out.push_str(&format!(
                "  env: {}\n  env_vars: {}\n",
                masked.join(", "),
                env_vars.join(", ")
            ));
            if let Some(cwd) = cwd {
                out.push_str(&format!("  cwd: {}\n", cwd.display()));
            }
        }
        McpTransport::StreamableHttp {
            url,
            bearer_token_env_var,
            http_headers,
            env_http_headers,
        } => {
            out.push_str(&format!("  transport: streamable_http\n  url: {url}\n"));
            if let Some(v) = bearer_token_env_var {
                out.push_str(&format!("  bearer_token_env_var: {v}\n"));
            }
            let masked: Vec<String> = http_headers.keys().map(|k| format!("{k}: *****")).collect();
            out.push_str(&format!("  http_headers: {}\n", masked.join(", ")));
            let from: Vec<String> = env_http_headers
                .iter()
                .map(|(k, v)| format!("{k}: ${v}"))
                .collect();
            out.push_str(&format!("  env_http_headers: {}\n", from.join(", ")));
        }
    }
    out.push_str(&format!(
        "  startup_timeout_sec: {}\n  tool_timeout_sec: {}\n",
        s.startup_timeout.as_secs_f64(),
        s.tool_timeout.as_secs_f64()
    ));
    match &s.sandbox {
        Some(b) => out.push_str(&format!(
            "  sandbox: {} (network {}; writable roots: {}; allow: {}; deny: {})\n",
            b.mode,
            b.network,
            b.writable_roots
                .iter()
                .map(|r| r.display().to_string())
                .collect::<Vec<_>>()
                .join(", "),
            b.allow_domains.join(", "),
            b.deny_domains.join(", ")
        )),
        None if matches!(s.transport, McpTransport::Stdio { .. }) => {
            out.push_str("  sandbox: none (runs unsandboxed, with your rights)\n")
        }
        None => {}
    }
    out
}

/// The `list --json` / `get --json` shape.
fn to_json(s: &McpServerConfig) -> Value {
    let transport = match &s.transport {
        McpTransport::Stdio {
            command,
            args,
            env,
            env_vars,
            cwd,
        } => json!({
            "type": "stdio", "command": command, "args": args, "env": env,
            "env_vars": env_vars, "cwd": cwd,
        }),
        McpTransport::StreamableHttp {
            url,
            bearer_token_env_var,
            http_headers,
            ..
        } => json!({
            "type": "streamable_http", "url": url,
            "bearer_token_env_var": bearer_token_env_var, "http_headers": http_headers,
        }),
    };
    json!({
        "name": s.name,
        "enabled": s.enabled,
        "transport": transport,
        "startup_timeout_sec": s.startup_timeout.as_secs_f64(),
        "tool_timeout_sec": s.tool_timeout.as_secs_f64(),
        "sandbox": s.sandbox.as_ref().map(|b| json!({
            "sandbox_mode": b.mode.as_str(),
            "network": b.network.as_str(),
            "writable_roots": b.writable_roots,
            "allow_domains": b.allow_domains,
            "deny_domains": b.deny_domains,
        })),
    })
}
