//! The three tools as clients see them: names, descriptions, complete
//! input and output JSON Schemas, annotations.

use rmcp::model::{JsonObject, Tool, ToolAnnotations};
use serde_json::{json, Value};
use std::sync::Arc;

/// The session tool.
pub const CORDON: &str = "cordon";
/// Continues a session.
pub const REPLY: &str = "cordon-reply";
/// One command under the sandbox.
pub const SANDBOX: &str = "cordon-sandbox";

fn object(value: Value) -> Arc<JsonObject> {
    Arc::new(match value {
        Value::Object(map) => map,
        _ => JsonObject::new(),
    })
}

fn string_enum(values: &[&str], description: &str) -> Value {
    json!({"type": "string", "enum": values, "description": description})
}

fn strings(description: &str) -> Value {
    json!({"type": "array", "items": {"type": "string"}, "description": description})
}

/// What `cordon` and `cordon-reply` return as structured content.
fn session_output() -> Value {
    json!({
        "type": "object",
        "properties": {
            "threadId": {"type": "string", "description": "The session's id: pass it to `cordon-reply` to continue, or to `cordon exec resume` / `cordon resume`."},
            "content": {"type": "string", "description": "The model's final message of the turn."},
            "note": {"type": "string", "description": "What the client should know about the turn, such as approvals declined because the client cannot answer elicitation requests."}
        },
        "required": ["threadId", "content"],
        "additionalProperties": false
    })
}

/// The `cordon` tool.
fn cordon() -> Tool {
    let input = json!({
        "type": "object",
        "properties": {
            "prompt": {"type": "string", "description": "What to ask the agent (the first user message of a new session)."},
            "model": {"type": "string", "description": "Model name (default: `model` from cordon's config)."},
            "profile": {"type": "string", "description": "Config profile to apply (`[profiles.NAME]` in config.toml)."},
            "cwd": {"type": "string", "description": "Absolute path of the session's working directory (default: the server's)."},
            "approval-policy": string_enum(
                &["untrusted", "on-failure", "on-request", "never"],
                "When the agent asks before acting (default: `approval_policy` from config). Approvals are asked through elicitation; a client without it gets `never`."
            ),
            "sandbox": string_enum(
                &["read-only", "workspace-write", "danger-full-access"],
                "Sandbox mode for the agent's commands (default: `sandbox_mode` from config, else read-only)."
            ),
            "network": string_enum(
                &["none", "proxy", "full"],
                "Network for the agent's commands: none (a private loopback only), proxy (cordon's egress proxy deciding per domain), full."
            ),
            "allow-domains": strings("Host patterns the proxy allows (with `network`: `proxy`), e.g. `example.com`, `*.pypi.org`."),
            "config": {
                "type": "object",
                "description": "Config overrides: dotted keys to values, as `cordon -c key=value` (e.g. {\"model_providers.local.base_url\": \"http://127.0.0.1:8080/v1\"}).",
                "additionalProperties": {"type": ["string", "number", "boolean", "array", "object"]}
            },
            "base-instructions": {"type": "string", "description": "Instructions sent instead of the ones cordon would send (the AGENTS.md files)."},
            "developer-instructions": {"type": "string", "description": "Instructions added after the base ones."}
        },
        "required": ["prompt"],
        "additionalProperties": false
    });
    Tool::new(
        CORDON,
        "Start a cordon session and run one turn: the agent works on the prompt in `cwd`, its commands confined by cordon's sandbox (Landlock, seccomp, namespaces, the egress proxy), and answers. Returns the final message and the session's threadId for `cordon-reply`.",
        object(input),
    )
    .with_title("cordon: run a sandboxed coding agent")
    .with_raw_output_schema(object(session_output()))
    .with_annotations(
        ToolAnnotations::with_title("cordon: run a sandboxed coding agent")
            .read_only(false)
            .destructive(true)
            .open_world(true),
    )
}

/// The `cordon-reply` tool.
fn reply() -> Tool {
    let input = json!({
        "type": "object",
        "properties": {
            "threadId": {"type": "string", "description": "The session's id, from a `cordon` result."},
            "prompt": {"type": "string", "description": "The next user message."}
        },
        "required": ["threadId", "prompt"],
        "additionalProperties": false
    });
    Tool::new(
        REPLY,
        "Continue a cordon session started by `cordon` in this server: one more turn, with the earlier turns as context and the session's settings.",
        object(input),
    )
    .with_title("cordon: continue a session")
    .with_raw_output_schema(object(session_output()))
    .with_annotations(
        ToolAnnotations::with_title("cordon: continue a session")
            .read_only(false)
            .destructive(true)
            .open_world(true),
    )
}

/// What `cordon-sandbox` returns as structured content.
fn sandbox_output() -> Value {
    json!({
        "type": "object",
        "properties": {
            "exit_code": {"type": ["integer", "null"], "description": "The command's exit status (128+N when killed by signal N; 125 when cordon refused to start it; null when the launcher did not start)."},
            "stdout": {"type": "string", "description": "Standard output: the first and last 32 KiB when longer, with a line saying how much was left out."},
            "stderr": {"type": "string", "description": "Standard error, capped the same way."},
            "timed_out": {"type": "boolean", "description": "Killed at `timeout_ms`."},
            "denials": {
                "type": "array",
                "description": "What the sandbox denied the command.",
                "items": {
                    "type": "object",
                    "properties": {
                        "kind": {"type": "string", "enum": ["write", "network", "unix-socket"], "description": "What was denied."},
                        "target": {"type": "string", "description": "The path or address."},
                        "ops": {"type": "string", "description": "The system calls seen, comma-separated."},
                        "count": {"type": "integer", "description": "How many times."}
                    },
                    "required": ["kind", "target", "ops", "count"],
                    "additionalProperties": false
                }
            },
            "stdout_bytes_dropped": {"type": "integer", "description": "Bytes of stdout left out of the middle."},
            "stderr_bytes_dropped": {"type": "integer", "description": "Bytes of stderr left out of the middle."},
            "wall_ms": {"type": "integer", "description": "Wall time in milliseconds."}
        },
        "required": ["exit_code", "stdout", "stderr", "timed_out", "denials"],
        "additionalProperties": false
    })
}

/// The `cordon-sandbox` tool.
fn sandbox() -> Tool {
    let input = json!({
        "type": "object",
        "properties": {
            "command": {"type": "array", "items": {"type": "string"}, "minItems": 1, "description": "The command as argv, e.g. [\"make\", \"test\"]; no shell unless you run one ([\"sh\", \"-c\", \"...\"])."},
            "cwd": {"type": "string", "description": "Absolute path where the command runs; in workspace-write it is writable (default: the server's working directory)."},
            "sandbox": string_enum(
                &["read-only", "workspace-write", "danger-full-access"],
                "read-only: write nothing (default); workspace-write: write `cwd`, `writable_roots` and temp directories; danger-full-access: no sandbox."
            ),
            "writable_roots": strings("More absolute directories the command may write (workspace-write only)."),
            "network": string_enum(
                &["none", "proxy", "full"],
                "none: a private loopback only (default); proxy: only through cordon's egress proxy, which allows `allow_domains`; full: the host network."
            ),
            "allow_domains": strings("Host patterns the proxy allows (network proxy only), e.g. `example.com`, `*.github.com`, an IP address."),
            "deny_domains": strings("Host patterns the proxy denies, winning over allows (network proxy only)."),
            "timeout_ms": {"type": "integer", "minimum": 1, "maximum": crate::args::MAX_TIMEOUT_MS, "default": crate::args::DEFAULT_TIMEOUT_MS, "description": "Kill the command after this many milliseconds."},
            "stdin": {"type": "string", "description": "Text given to the command on standard input (default: none, /dev/null)."}
        },
        "required": ["command"],
        "additionalProperties": false
    });
    Tool::new(
        SANDBOX,
        "Run one command under cordon's sandbox, no model involved: the kernel enforces the filesystem policy (Landlock, mount namespaces), seccomp filters syscalls, and the network is none, cordon's per-domain egress proxy, or full. Returns exit code, capped stdout and stderr, whether it timed out, and what the sandbox denied.",
        object(input),
    )
    .with_title("cordon: run a command in the sandbox")
    .with_raw_output_schema(object(sandbox_output()))
    .with_annotations(
        ToolAnnotations::with_title("cordon: run a command in the sandbox")
            .read_only(false)
            .destructive(true)
            .idempotent(false)
            .open_world(true),
    )
}

/// Every tool, in the order listed.
pub fn tools() -> Vec<Tool> {
    vec![cordon(), reply(), sandbox()]
}
