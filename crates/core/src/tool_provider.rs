//! Tools from outside the core (MCP servers): the [`ToolProvider`] trait a
//! client implements (`cordon-mcp`), and how the session offers its tools
//! to the model, asks before calling them and turns their results into
//! text for the model.
//!
//! A provider's tools may appear at any time (a server still starting adds
//! its tools once ready; `tools/list_changed` replaces them): the session
//! asks for the list before every model request.

use crate::agent::{AgentEvent, ToolDetail, ToolResult};
use crate::approval::{ApprovalAction, ApprovalReason, ApprovalRequest, Decision};
use crate::runner::SandboxRunner;
use crate::tools::ToolSpec;
use cordon_policy::ApprovalPolicy;
use serde_json::{json, Value};
use std::sync::Arc;

/// How calls of one tool are approved (`approval_mode`).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub enum ToolApproval {
    /// Run read-only tools (`readOnlyHint: true`) without asking; ask
    /// for the others where the approval policy lets cordon ask.
    #[default]
    Auto,
    /// Always ask.
    Prompt,
    /// Never ask.
    Approve,
}

/// A tool a provider offers.
#[derive(Debug, Clone, PartialEq)]
pub struct ProvidedTool {
    /// The name the model sees (`mcp__SERVER__TOOL`, made safe).
    pub model_name: String,
    /// The server's name.
    pub server: String,
    /// The tool's own name on that server.
    pub tool: String,
    /// What it does.
    pub description: String,
    /// JSON schema of its arguments (an object at the top).
    pub input_schema: Value,
    /// The server says it only reads (`readOnlyHint: true`).
    pub read_only: bool,
    /// Its approval mode.
    pub approval: ToolApproval,
}

/// What a call returned.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ProvidedResult {
    /// The result's content blocks, as the server sent them.
    pub content: Vec<Value>,
    /// `structuredContent`, if any.
    pub structured_content: Option<Value>,
    /// `isError`: the tool itself failed.
    pub is_error: bool,
}

/// Where a server is in its life.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum ServerStatus {
    /// Still starting.
    Starting,
    /// Ready; its tools are offered.
    Ready,
    /// Failed to start, or stopped: why.
    Failed(String),
}

/// One server as a front end lists it (`/mcp`).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ServerState {
    /// The server's name.
    pub name: String,
    /// Its state.
    pub status: ServerStatus,
    /// How it is reached: `stdio: COMMAND ARGS...` or `http: URL`.
    pub transport: String,
    /// Its sandbox (`workspace-write, network proxy`), or `None` when it
    /// runs unsandboxed.
    pub sandbox: Option<String>,
    /// The names the model sees for its enabled tools (when ready).
    pub tools: Vec<String>,
    /// `required = true`: a session waits for it before its first turn.
    pub required: bool,
}

/// A source of tools beyond the built-in ones: the MCP client.
pub trait ToolProvider: Send {
    /// The tools ready now (servers still starting add theirs later).
    fn tools(&self) -> Vec<ProvidedTool>;
    /// Calls `tool` on `server` and blocks until it answers, fails, times
    /// out (the provider's per-server timeout, restarted by progress) or
    /// `interrupted` turns true. `on_progress` gets the server's progress
    /// messages.
    fn call(
        &self,
        server: &str,
        tool: &str,
        arguments: Value,
        interrupted: &dyn Fn() -> bool,
        on_progress: &mut dyn FnMut(String),
    ) -> Result<ProvidedResult, String>;
    /// What the user should hear about since the last call (a server that
    /// failed to start or stopped), each once.
    fn notices(&self) -> Vec<String>;
    /// Blocks until every required server is ready; the error names the
    /// first that is not.
    fn wait_required(&self) -> Result<(), String>;
    /// Each server's state, by name, for a front end's list.
    fn servers(&self) -> Vec<ServerState> {
        Vec::new()
    }
}

/// One running provider shared by every session of a front end (the TUI
/// starts its MCP servers once; `/new` and `/resume` keep them). The
/// front end reports the notices itself, so a session's handle
/// ([`SharedProvider::for_session`]) hands out none.
#[derive(Clone)]
pub struct SharedProvider {
    inner: Arc<dyn ToolProvider + Sync>,
    notices: bool,
}

impl SharedProvider {
    /// Shares `provider`; this handle hands out its notices.
    pub fn new(provider: Arc<dyn ToolProvider + Sync>) -> SharedProvider {
        SharedProvider {
            inner: provider,
            notices: true,
        }
    }

    /// A handle for a session: the same tools and calls, no notices.
    pub fn for_session(&self) -> SharedProvider {
        SharedProvider {
            inner: self.inner.clone(),
            notices: false,
        }
    }
}

impl ToolProvider for SharedProvider {
    fn tools(&self) -> Vec<ProvidedTool> {
        self.inner.tools()
    }

    fn call(
        &self,
        server: &str,
        tool: &str,
        arguments: Value,
        interrupted: &dyn Fn() -> bool,
        on_progress: &mut dyn FnMut(String),
    ) -> Result<ProvidedResult, String> {
        self.inner
            .call(server, tool, arguments, interrupted, on_progress)
    }

    fn notices(&self) -> Vec<String> {
        if self.notices {
            self.inner.notices()
        } else {
            Vec::new()
        }
    }

    fn wait_required(&self) -> Result<(), String> {
        self.inner.wait_required()
    }

    fn servers(&self) -> Vec<ServerState> {
        self.inner.servers()
    }
}

/// The decision before calling a tool: `approval_mode = "approve"` runs;
/// `auto` runs a read-only tool; otherwise cordon asks where the policy
/// lets it, and declines under `never`.
pub fn before_call(policy: ApprovalPolicy, tool: &ProvidedTool) -> Decision {
    let ask = match tool.approval {
        ToolApproval::Approve => false,
        ToolApproval::Auto => !tool.read_only,
        ToolApproval::Prompt => true,
    };
    if !ask {
        return Decision::Run;
    }
    let why = if tool.approval == ToolApproval::Prompt {
        "its approval_mode is `prompt`"
    } else {
        "it does not say it only reads (no readOnlyHint)"
    };
    match policy {
        ApprovalPolicy::Never => Decision::Decline(format!(
            "declined: calling {}.{} needs the user's approval ({why}), and approval_policy is `never`, so nobody can approve it. It did not run; do without it, or tell the user to set approval_mode = \"approve\" for this tool in [mcp_servers.{}].",
            tool.server, tool.tool, tool.server
        )),
        _ => Decision::Ask(format!("calling {}.{}: {why}", tool.server, tool.tool)),
    }
}

/// The text the model gets: text blocks as they are, other blocks as a
/// short placeholder, and the structured content when the text does not
/// already carry it.
pub fn result_text(result: &ProvidedResult) -> String {
    let mut parts: Vec<String> = result.content.iter().map(block_text).collect();
    if let Some(structured) = &result.structured_content {
        // Servers often send the same result both ways: as JSON text, or
        // as `{"result": text}` around a text block.
        let wrapped = structured
            .as_object()
            .filter(|o| o.len() == 1)
            .and_then(|o| o.values().next())
            .and_then(Value::as_str);
        let carried = result.content.iter().any(|b| {
            let text = b.get("text").and_then(Value::as_str);
            text.is_some() && text == wrapped
                || text
                    .and_then(|t| serde_json::from_str::<Value>(t).ok())
                    .is_some_and(|v| &v == structured)
        });
        if !carried {
            parts.push(structured.to_string());
        }
    }
    let text = parts.join("\n");
    if result.is_error {
        format!("tool error: {text}")
    } else {
        text
    }
}

fn block_text(block: &Value) -> String {
    let field = |k: &str| block.get(k).and_then(Value::as_str).unwrap_or("");
    let size = |k: &str| block.get(k).and_then(Value::as_str).map_or(0, str::len) * 3 / 4;
    match field("type") {
        "text" => field("text").to_string(),
        "image" | "audio" => format!(
            "[{} omitted: {}, about {} bytes]",
            field("type"),
            field("mimeType"),
            size("data")
        ),
        "resource" => {
            let r = block.get("resource").cloned().unwrap_or(Value::Null);
            match r.get("text").and_then(Value::as_str) {
                Some(t) => t.to_string(),
                None => format!(
                    "[binary resource omitted: {}]",
                    r.get("uri").and_then(Value::as_str).unwrap_or("")
                ),
            }
        }
        "resource_link" => format!("[resource link: {}]", field("uri")),
        other => format!("[{other} content omitted]"),
    }
}

/// The model's tool list: the built-in tools' specs plus the provider's.
pub fn specs(tools: &[ProvidedTool]) -> Vec<ToolSpec> {
    tools
        .iter()
        .map(|t| ToolSpec {
            name: t.model_name.clone(),
            description: t.description.clone(),
            parameters: t.input_schema.clone(),
        })
        .collect()
}

/// Calls the provider's tool `tool` for call `call_id` under the session's
/// approval policy (asking through the runner's approver), reporting the
/// start with `on_event`.
pub fn call(
    provider: &dyn ToolProvider,
    runner: &mut SandboxRunner,
    tool: &ProvidedTool,
    call_id: &str,
    arguments: Value,
    on_event: &mut dyn FnMut(AgentEvent),
) -> ToolResult {
    on_event(AgentEvent::McpCallStarted {
        call_id: call_id.to_string(),
        server: tool.server.clone(),
        tool: tool.tool.clone(),
        arguments: arguments.clone(),
    });
    let failed = |message: String, arguments: Value| ToolResult {
        output: message.clone(),
        detail: ToolDetail::McpCall {
            server: tool.server.clone(),
            tool: tool.tool.clone(),
            arguments,
            result: None,
            error: Some(message),
        },
    };
    match before_call(runner.approval, tool) {
        Decision::Run => {}
        Decision::Decline(why) => return failed(why, arguments),
        Decision::Ask(_) => {
            let request = ApprovalRequest {
                call_id: call_id.to_string(),
                action: ApprovalAction::McpToolCall {
                    server: tool.server.clone(),
                    tool: tool.tool.clone(),
                    arguments: arguments.clone(),
                },
                justification: None,
                reason: ApprovalReason::McpTool {
                    read_only: tool.read_only,
                },
            };
            if let Err(why) = runner.ask(request) {
                return failed(why, arguments);
            }
        }
    }
    let interrupt = runner.interrupt.clone();
    let outcome = provider.call(
        &tool.server,
        &tool.tool,
        arguments.clone(),
        &|| interrupt.is_set(),
        &mut |p| log::info!("mcp: {}.{}: {p}", tool.server, tool.tool),
    );
    match outcome {
        Err(e) => failed(
            format!("{}.{} failed: {e}", tool.server, tool.tool),
            arguments,
        ),
        Ok(result) => {
            let output = result_text(&result);
            ToolResult {
                detail: ToolDetail::McpCall {
                    server: tool.server.clone(),
                    tool: tool.tool.clone(),
                    arguments,
                    error: result.is_error.then(|| output.clone()),
                    result: Some(json!({
                        "content": result.content,
                        "structured_content": result.structured_content,
                    })),
                },
                output,
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn tool(read_only: bool, approval: ToolApproval) -> ProvidedTool {
        ProvidedTool {
            model_name: "mcp__s__t".into(),
            server: "s".into(),
            tool: "t".into(),
            description: String::new(),
            input_schema: json!({"type": "object"}),
            read_only,
            approval,
        }
    }

    #[test]
    fn read_only_runs_others_ask_or_are_declined_under_never() {
        use ApprovalPolicy::*;
        for p in [Untrusted, OnFailure, OnRequest, Never] {
            assert_eq!(
                before_call(p, &tool(true, ToolApproval::Auto)),
                Decision::Run
            );
            assert_eq!(
                before_call(p, &tool(false, ToolApproval::Approve)),
                Decision::Run
            );
            for t in [
                tool(false, ToolApproval::Auto),
                tool(true, ToolApproval::Prompt),
            ] {
                match (p, before_call(p, &t)) {
                    (Never, Decision::Decline(why)) => {
                        assert!(why.contains("approval_policy is `never`"), "{why}")
                    }
                    (Never, other) => panic!("{other:?}"),
                    (_, Decision::Ask(_)) => {}
                    (_, other) => panic!("{p}: {other:?}"),
                }
            }
        }
    }

    #[test]
    fn results_become_text_with_placeholders_and_structured_content() {
        let r = ProvidedResult {
            content: vec![
                json!({"type": "text", "text": "hello"}),
                json!({"type": "image", "mimeType": "image/png", "data": "AAAA"}),
                json!({"type": "resource_link", "uri": "file:///x"}),
            ],
            structured_content: Some(json!({"n": 1})),
            is_error: false,
        };
        assert_eq!(
            result_text(&r),
            "hello\n[image omitted: image/png, about 3 bytes]\n[resource link: file:///x]\n{\"n\":1}"
        );
        let mirrored = ProvidedResult {
            content: vec![json!({"type": "text", "text": "{\"n\": 1}"})],
            structured_content: Some(json!({"n": 1})),
            is_error: true,
        };
        assert_eq!(result_text(&mirrored), "tool error: {\"n\": 1}");
        let wrapped = ProvidedResult {
            content: vec![json!({"type": "text", "text": "hi"})],
            structured_content: Some(json!({"result": "hi"})),
            is_error: false,
        };
        assert_eq!(result_text(&wrapped), "hi");
    }
}
