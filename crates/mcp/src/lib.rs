//! cordon's MCP client: starts the servers of `[mcp_servers]` in parallel
//! on its own runtime thread and offers their tools to the session through
//! [`cordon_core::tool_provider::ToolProvider`].
//!
//! Start-up never blocks the session: a server still starting adds its
//! tools to the next model request once it is ready; only `required`
//! servers are waited for ([`McpManager::wait_required`]). A server that
//! fails to start or stops is reported once (`mcp: NAME failed to start:
//! ...`) and the session goes on without it. stdio servers run with a
//! short base environment, unsandboxed as in Codex, or under
//! `cordon sandbox` with their own policy when `sandbox_mode` is set.

mod client;
pub mod launch;
pub mod names;

pub use launch::LaunchContext;

use cordon_config::{McpServerConfig, McpTransport, ToolApprovalMode};
use cordon_core::tool_provider::{
    ProvidedResult, ProvidedTool, ServerState, ServerStatus, ToolApproval, ToolProvider,
};
use rmcp::model::{CallToolRequestParams, Tool};
use rmcp::service::{RoleClient, RunningService};
use serde_json::{json, Value};
use std::collections::{BTreeMap, HashSet};
use std::sync::{Arc, Condvar, Mutex};
use std::time::Duration;

/// Why the client could not start at all.
#[derive(Debug, thiserror::Error)]
pub enum McpError {
    /// The runtime thread could not be created.
    #[error("mcp: cannot start the client's runtime: {0}")]
    Runtime(String),
}

/// How long a call that saw its server's connection close waits for the
/// process watcher's report (with the exit status) before reporting it.
const STOP_WAIT: Duration = Duration::from_secs(2);

/// An answer to a server's `elicitation/create`.
#[derive(Debug, Clone, PartialEq)]
pub enum Elicitation {
    /// The user filled in the form.
    Accept(Value),
    /// The user said no.
    Decline,
    /// The user dismissed it.
    Cancel,
}

/// Answers servers' elicitation requests: the front end's side. The TUI
/// shows a form; `exec` declines ([`DeclineElicitations`]).
pub trait Elicitor: Send + Sync {
    /// Blocks until the user answers `message` (a form following `schema`,
    /// or `{"url": ...}`) from `server`.
    fn elicit(&self, server: &str, message: &str, schema: &Value) -> Elicitation;
}

/// Nobody to ask: every elicitation is declined.
#[derive(Debug, Default, Clone, Copy)]
pub struct DeclineElicitations;

impl Elicitor for DeclineElicitations {
    fn elicit(&self, server: &str, message: &str, _schema: &Value) -> Elicitation {
        log::info!("mcp: {server} asked for input ({message}); declined: nobody can answer here");
        Elicitation::Decline
    }
}

/// A server's state.
enum State {
    Starting,
    Ready {
        service: Arc<RunningService<RoleClient, client::Handler>>,
        tools: Vec<Tool>,
        progress: Arc<Mutex<Option<tokio::sync::mpsc::UnboundedSender<String>>>>,
    },
    Failed(String),
}

struct Slot {
    config: McpServerConfig,
    state: State,
}

/// What the runtime's tasks and the session share.
pub(crate) struct Shared {
    servers: Mutex<BTreeMap<String, Slot>>,
    changed: Condvar,
    notices: Mutex<Vec<String>>,
    /// Servers whose tool list is being fetched again.
    refreshing: Mutex<HashSet<String>>,
    refreshed: Condvar,
}

impl Shared {
    fn notice(&self, message: String) {
        log::debug!("{message}");
        if let Ok(mut n) = self.notices.lock() {
            n.push(message);
        }
    }

    fn set_state(&self, name: &str, state: State) {
        if let Ok(mut servers) = self.servers.lock() {
            if let Some(slot) = servers.get_mut(name) {
                slot.state = state;
            }
        }
        self.changed.notify_all();
    }

    /// Marks ready server `name` failed because `service`, its connection,
    /// ended, and reports it, once: the watcher of its process and a call
    /// that saw the connection close may both get here.
    fn stop(
        &self,
        name: &str,
        service: &Arc<RunningService<RoleClient, client::Handler>>,
        why: String,
    ) {
        if let Ok(mut servers) = self.servers.lock() {
            if let Some(slot) = servers.get_mut(name) {
                if matches!(&slot.state, State::Ready { service: s, .. } if Arc::ptr_eq(s, service))
                {
                    // The notice is in before anyone waiting for the state
                    // wakes up and reads the notices.
                    self.notice(format!("mcp: {name} stopped: {why}; its tools are gone"));
                    slot.state = State::Failed(why);
                }
            }
        }
        self.changed.notify_all();
    }

    /// Waits at most `limit` for server `name` to leave the ready state
    /// (its watcher saw the process exit); whether it did.
    fn await_stopped(&self, name: &str, limit: Duration) -> bool {
        let Ok(mut servers) = self.servers.lock() else {
            return false;
        };
        let deadline = std::time::Instant::now() + limit;
        loop {
            let ready = matches!(
                servers.get(name).map(|s| &s.state),
                Some(State::Ready { .. })
            );
            if !ready {
                return true;
            }
            let left = deadline.saturating_duration_since(std::time::Instant::now());
            if left.is_zero() {
                return false;
            }
            servers = match self.changed.wait_timeout(servers, left) {
                Ok((s, _)) => s,
                Err(_) => return false,
            };
        }
    }

    /// Marks `name`'s tool list as being fetched again, or done.
    pub(crate) fn refreshing(&self, name: &str, on: bool) {
        if let Ok(mut r) = self.refreshing.lock() {
            if on {
                r.insert(name.to_string());
            } else {
                r.remove(name);
            }
        }
        self.refreshed.notify_all();
    }

    /// Waits (a little) for `name`'s tool list being fetched again, so the
    /// next model request sees the change its last call made.
    fn await_refresh(&self, name: &str, limit: Duration) {
        let Ok(mut r) = self.refreshing.lock() else {
            return;
        };
        let deadline = std::time::Instant::now() + limit;
        while r.contains(name) {
            let left = deadline.saturating_duration_since(std::time::Instant::now());
            if left.is_zero() {
                return;
            }
            r = match self.refreshed.wait_timeout(r, left) {
                Ok((r, _)) => r,
                Err(_) => return,
            };
        }
    }

    /// Replaces a ready server's tools (`tools/list_changed`).
    pub(crate) fn set_tools(&self, name: &str, new: Vec<Tool>) {
        if let Ok(mut servers) = self.servers.lock() {
            if let Some(Slot {
                state: State::Ready { tools, .. },
                ..
            }) = servers.get_mut(name)
            {
                *tools = new;
            }
        }
    }
}

/// The running MCP client.
pub struct McpManager {
    shared: Arc<Shared>,
    runtime: Option<tokio::runtime::Runtime>,
}

impl McpManager {
    /// Starts every enabled server in parallel and returns at once.
    pub fn start(
        servers: Vec<McpServerConfig>,
        ctx: LaunchContext,
        elicitor: Arc<dyn Elicitor>,
    ) -> Result<McpManager, McpError> {
        let runtime = tokio::runtime::Builder::new_multi_thread()
            .worker_threads(2)
            .thread_name("cordon-mcp")
            .enable_all()
            .build()
            .map_err(|e| McpError::Runtime(e.to_string()))?;
        let enabled: Vec<McpServerConfig> = servers.into_iter().filter(|s| s.enabled).collect();
        let shared = Arc::new(Shared {
            servers: Mutex::new(
                enabled
                    .iter()
                    .map(|c| {
                        (
                            c.name.clone(),
                            Slot {
                                config: c.clone(),
                                state: State::Starting,
                            },
                        )
                    })
                    .collect(),
            ),
            changed: Condvar::new(),
            notices: Mutex::new(Vec::new()),
            refreshing: Mutex::new(HashSet::new()),
            refreshed: Condvar::new(),
        });
        let ctx = Arc::new(ctx);
        for config in enabled {
            runtime.spawn(run_server(
                config,
                ctx.clone(),
                shared.clone(),
                elicitor.clone(),
            ));
        }
        Ok(McpManager {
            shared,
            runtime: Some(runtime),
        })
    }

    /// Each server's name and state (`starting`, `ready`, `failed: why`),
    /// for a front end's list.
    pub fn states(&self) -> Vec<(String, String)> {
        let Ok(servers) = self.shared.servers.lock() else {
            return Vec::new();
        };
        servers
            .iter()
            .map(|(name, slot)| {
                let state = match &slot.state {
                    State::Starting => "starting".to_string(),
                    State::Ready { tools, .. } => format!("ready ({} tools)", tools.len()),
                    State::Failed(why) => format!("failed: {why}"),
                };
                (name.clone(), state)
            })
            .collect()
    }

    fn runtime(&self) -> Result<&tokio::runtime::Runtime, String> {
        self.runtime
            .as_ref()
            .ok_or_else(|| "the MCP client has stopped".to_string())
    }
}

impl Drop for McpManager {
    fn drop(&mut self) {
        // Children are killed as their tasks drop (kill_on_drop), and by
        // their parent-death signal when the runtime's threads end.
        if let Some(rt) = self.runtime.take() {
            rt.shutdown_timeout(Duration::from_millis(200));
        }
    }
}

/// Starts one server, then watches its process: an exit is reported once.
async fn run_server(
    config: McpServerConfig,
    ctx: Arc<LaunchContext>,
    shared: Arc<Shared>,
    elicitor: Arc<dyn Elicitor>,
) {
    let name = config.name.clone();
    let progress = Arc::new(Mutex::new(None));
    let handler = client::Handler {
        server: name.clone(),
        shared: shared.clone(),
        elicitor,
        progress: progress.clone(),
    };
    let started = tokio::time::timeout(
        config.startup_timeout,
        client::connect(&config, &ctx, handler),
    )
    .await;
    let connected = match started {
        Ok(Ok(c)) => c,
        Ok(Err(why)) => {
            shared.notice(format!("mcp: {name} failed to start: {why}"));
            shared.set_state(&name, State::Failed(why));
            return;
        }
        Err(_) => {
            let why = format!(
                "no answer within startup_timeout_sec ({} s)",
                config.startup_timeout.as_secs_f64()
            );
            shared.notice(format!("mcp: {name} failed to start: {why}"));
            shared.set_state(&name, State::Failed(why));
            return;
        }
    };
    log::debug!("mcp: {name} ready with {} tools", connected.tools.len());
    let service = Arc::new(connected.service);
    shared.set_state(
        &name,
        State::Ready {
            service: service.clone(),
            tools: connected.tools,
            progress,
        },
    );
    if let Some(mut child) = connected.child {
        let status = child.wait().await;
        // Let its last stderr lines arrive.
        tokio::time::sleep(Duration::from_millis(50)).await;
        let why = match status {
            Ok(s) => format!("exited ({s}){}", client::tail(&connected.stderr)),
            Err(e) => format!("cannot be watched: {e}"),
        };
        shared.stop(&name, &service, why);
    }
}

fn approval(mode: ToolApprovalMode) -> ToolApproval {
    match mode {
        ToolApprovalMode::Auto => ToolApproval::Auto,
        ToolApprovalMode::Prompt => ToolApproval::Prompt,
        ToolApprovalMode::Approve => ToolApproval::Approve,
    }
}

/// A tool's input schema as the model APIs take it: an object at the top.
fn object_schema(schema: &serde_json::Map<String, Value>) -> Value {
    let mut schema = schema.clone();
    if schema.get("type").and_then(Value::as_str) != Some("object") {
        schema.insert("type".into(), json!("object"));
    }
    if !schema.get("properties").is_some_and(Value::is_object) {
        schema.insert("properties".into(), json!({}));
    }
    Value::Object(schema)
}

/// `stdio: COMMAND ARGS...` or `http: URL`, for a front end's list.
fn describe_transport(transport: &McpTransport) -> String {
    match transport {
        McpTransport::Stdio { command, args, .. } => {
            let mut out = format!("stdio: {command}");
            for a in args {
                out.push(' ');
                out.push_str(a);
            }
            out
        }
        McpTransport::StreamableHttp { url, .. } => format!("http: {url}"),
    }
}

/// `workspace-write, network proxy (allow a, b)`.
fn describe_sandbox(sandbox: &cordon_config::McpSandbox) -> String {
    let mut out = format!("{}, network {}", sandbox.mode, sandbox.network);
    if sandbox.network == cordon_policy::NetworkMode::Proxy && !sandbox.allow_domains.is_empty() {
        out.push_str(&format!(" (allow {})", sandbox.allow_domains.join(", ")));
    }
    out
}

/// Messages of a failed call.
fn describe(e: &rmcp::ServiceError, timeout: Duration) -> String {
    match e {
        rmcp::ServiceError::Timeout { .. } => format!(
            "no result or progress within tool_timeout_sec ({} s); the call was cancelled",
            timeout.as_secs_f64()
        ),
        other => other.to_string(),
    }
}

impl ToolProvider for McpManager {
    fn tools(&self) -> Vec<ProvidedTool> {
        let Ok(servers) = self.shared.servers.lock() else {
            return Vec::new();
        };
        let mut taken: HashSet<String> = cordon_core::tools::definitions()
            .iter()
            .map(|(n, ..)| n.to_string())
            .collect();
        let mut out = Vec::new();
        for (name, slot) in servers.iter() {
            let State::Ready { tools, .. } = &slot.state else {
                continue;
            };
            for tool in tools {
                if !slot.config.tool_enabled(&tool.name) {
                    continue;
                }
                let read_only = tool
                    .annotations
                    .as_ref()
                    .and_then(|a| a.read_only_hint)
                    .unwrap_or(false);
                out.push(ProvidedTool {
                    model_name: names::model_name(name, &tool.name, &mut taken),
                    server: name.clone(),
                    tool: tool.name.to_string(),
                    description: tool
                        .description
                        .as_deref()
                        .or(tool.title.as_deref())
                        .unwrap_or("")
                        .to_string(),
                    input_schema: object_schema(&tool.input_schema),
                    read_only,
                    approval: approval(slot.config.approval_mode(&tool.name)),
                });
            }
        }
        out
    }

    fn call(
        &self,
        server: &str,
        tool: &str,
        arguments: Value,
        interrupted: &dyn Fn() -> bool,
        on_progress: &mut dyn FnMut(String),
    ) -> Result<ProvidedResult, String> {
        let (service, progress, timeout, watched) = {
            let servers = self.shared.servers.lock().map_err(|e| e.to_string())?;
            let slot = servers
                .get(server)
                .ok_or_else(|| format!("no MCP server `{server}`"))?;
            let watched = matches!(slot.config.transport, McpTransport::Stdio { .. });
            match &slot.state {
                State::Ready {
                    service, progress, ..
                } => (
                    service.clone(),
                    progress.clone(),
                    slot.config.tool_timeout,
                    watched,
                ),
                State::Starting => return Err(format!("{server} is still starting")),
                State::Failed(why) => return Err(format!("{server} is not running: {why}")),
            }
        };
        let args = match arguments {
            Value::Object(map) => map,
            Value::Null => serde_json::Map::new(),
            other => return Err(format!("arguments must be a JSON object, not {other}")),
        };
        let params = CallToolRequestParams::new(tool.to_string()).with_arguments(args);
        let (tx, rx) = std::sync::mpsc::channel::<Result<Value, String>>();
        let (progress_tx, mut progress_rx) = tokio::sync::mpsc::unbounded_channel();
        if let Ok(mut slot) = progress.lock() {
            *slot = Some(progress_tx);
        }
        let (prog_out, prog_in) = std::sync::mpsc::channel::<String>();
        let closed = Arc::new(std::sync::atomic::AtomicBool::new(false));
        let saw_close = closed.clone();
        let conn = service.clone();
        let task = self.runtime()?.spawn(async move {
            // The call, with a timeout that each progress message restarts.
            let mut call = Box::pin(conn.call_tool(params));
            let outcome = loop {
                tokio::select! {
                    r = &mut call => break r.map_err(|e| {
                        if matches!(e, rmcp::ServiceError::TransportClosed) || conn.peer().is_transport_closed() {
                            saw_close.store(true, std::sync::atomic::Ordering::SeqCst);
                        }
                        describe(&e, timeout)
                    }),
                    Some(p) = progress_rx.recv() => { let _ = prog_out.send(p); }
                    _ = tokio::time::sleep(timeout) => break Err(describe(&rmcp::ServiceError::Timeout { timeout }, timeout)),
                }
            };
            let value = outcome
                .and_then(|r| serde_json::to_value(r).map_err(|e| e.to_string()));
            let _ = tx.send(value);
        });
        let result = loop {
            match rx.recv_timeout(Duration::from_millis(50)) {
                Ok(r) => break r,
                Err(std::sync::mpsc::RecvTimeoutError::Timeout) => {
                    while let Ok(p) = prog_in.try_recv() {
                        on_progress(p);
                    }
                    if interrupted() {
                        task.abort();
                        break Err("interrupted by the user".into());
                    }
                }
                Err(std::sync::mpsc::RecvTimeoutError::Disconnected) => {
                    break Err("the MCP client stopped during the call".into())
                }
            }
        };
        while let Ok(p) = prog_in.try_recv() {
            on_progress(p);
        }
        if let Ok(mut slot) = progress.lock() {
            *slot = None;
        }
        if closed.load(std::sync::atomic::Ordering::SeqCst) {
            // The server is gone (it crashed): the next model request must
            // not offer its tools. Its watcher says how it exited, soon;
            // without one (HTTP), or if it is late, say it here.
            let noticed = watched && self.shared.await_stopped(server, STOP_WAIT);
            if !noticed {
                self.shared
                    .stop(server, &service, "its connection closed".to_string());
            }
        }
        self.shared.await_refresh(server, Duration::from_secs(2));
        let value = result?;
        Ok(ProvidedResult {
            content: value
                .get("content")
                .and_then(Value::as_array)
                .cloned()
                .unwrap_or_default(),
            structured_content: value.get("structuredContent").cloned(),
            is_error: value.get("isError").and_then(Value::as_bool) == Some(true),
        })
    }

    fn notices(&self) -> Vec<String> {
        self.shared
            .notices
            .lock()
            .map(|mut n| std::mem::take(&mut *n))
            .unwrap_or_default()
    }

    fn servers(&self) -> Vec<ServerState> {
        let tools = self.tools();
        let Ok(servers) = self.shared.servers.lock() else {
            return Vec::new();
        };
        servers
            .iter()
            .map(|(name, slot)| ServerState {
                name: name.clone(),
                status: match &slot.state {
                    State::Starting => ServerStatus::Starting,
                    State::Ready { .. } => ServerStatus::Ready,
                    State::Failed(why) => ServerStatus::Failed(why.clone()),
                },
                transport: describe_transport(&slot.config.transport),
                sandbox: slot.config.sandbox.as_ref().map(describe_sandbox),
                required: slot.config.required,
                tools: tools
                    .iter()
                    .filter(|t| &t.server == name)
                    .map(|t| t.model_name.clone())
                    .collect(),
            })
            .collect()
    }

    fn wait_required(&self) -> Result<(), String> {
        let Ok(mut servers) = self.shared.servers.lock() else {
            return Ok(());
        };
        loop {
            let mut starting = false;
            for (name, slot) in servers.iter() {
                if !slot.config.required {
                    continue;
                }
                match &slot.state {
                    State::Failed(why) => {
                        return Err(format!(
                            "mcp: required server {name} failed to start: {why}"
                        ))
                    }
                    State::Starting => starting = true,
                    State::Ready { .. } => {}
                }
            }
            if !starting {
                return Ok(());
            }
            servers = match self.shared.changed.wait(servers) {
                Ok(s) => s,
                Err(_) => return Ok(()),
            };
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn schemas_get_an_object_at_the_top() {
        let s = |v: Value| object_schema(v.as_object().unwrap());
        assert_eq!(s(json!({})), json!({"type": "object", "properties": {}}));
        let kept =
            json!({"type": "object", "properties": {"a": {"type": "string"}}, "required": ["a"]});
        assert_eq!(s(kept.clone()), kept);
    }
}
