//! One server's connection, on the client's runtime: start it (a child
//! process, or streamable HTTP), initialize, list its tools, and answer
//! what the server asks of the client (elicitation, progress, list
//! changes).

use crate::launch::{self, LaunchContext};
use crate::{Elicitation, Elicitor, Shared};
use cordon_config::{McpServerConfig, McpTransport};
use rmcp::model::{
    ClientCapabilities, ClientConfig, ElicitRequestParams, ElicitResult, ElicitationAction,
    ElicitationCapability, FormElicitationCapability, Implementation, ProgressNotificationParam,
    Tool,
};
use rmcp::service::{NotificationContext, RequestContext, RoleClient, RunningService};
use rmcp::{ClientHandler, ErrorData, ServiceExt};
use std::collections::VecDeque;
use std::sync::{Arc, Mutex};
use tokio::io::AsyncBufReadExt;

/// Lines of a server's stderr kept to explain a failure.
const STDERR_TAIL: usize = 8;

/// The client's side of one connection.
pub(crate) struct Handler {
    pub server: String,
    pub shared: Arc<Shared>,
    pub elicitor: Arc<dyn Elicitor>,
    /// Where the running call's progress messages go.
    pub progress: Arc<Mutex<Option<tokio::sync::mpsc::UnboundedSender<String>>>>,
}

impl ClientHandler for Handler {
    async fn create_elicitation(
        &self,
        request: ElicitRequestParams,
        _context: RequestContext<RoleClient>,
    ) -> Result<ElicitResult, ErrorData> {
        let (message, schema) = match &request {
            ElicitRequestParams::FormElicitationParams {
                message,
                requested_schema,
                ..
            } => (
                message.clone(),
                serde_json::to_value(requested_schema).unwrap_or_default(),
            ),
            ElicitRequestParams::UrlElicitationParams { message, url, .. } => {
                (message.clone(), serde_json::json!({"url": url}))
            }
            #[allow(unreachable_patterns)]
            _ => (String::new(), serde_json::Value::Null),
        };
        let elicitor = self.elicitor.clone();
        let server = self.server.clone();
        let answer =
            tokio::task::spawn_blocking(move || elicitor.elicit(&server, &message, &schema))
                .await
                .unwrap_or(Elicitation::Cancel);
        Ok(match answer {
            // A URL elicitation's acceptance carries no content.
            Elicitation::Accept(serde_json::Value::Null) => {
                ElicitResult::new(ElicitationAction::Accept)
            }
            Elicitation::Accept(content) => {
                ElicitResult::new(ElicitationAction::Accept).with_content(content)
            }
            Elicitation::Decline => ElicitResult::new(ElicitationAction::Decline),
            Elicitation::Cancel => ElicitResult::new(ElicitationAction::Cancel),
        })
    }

    async fn on_progress(
        &self,
        params: ProgressNotificationParam,
        _context: NotificationContext<RoleClient>,
    ) {
        let text = match (&params.message, params.total) {
            (Some(m), _) => m.clone(),
            (None, Some(total)) => format!("{}/{total}", params.progress),
            (None, None) => format!("{}", params.progress),
        };
        if let Ok(slot) = self.progress.lock() {
            if let Some(tx) = slot.as_ref() {
                let _ = tx.send(text);
            }
        }
    }

    async fn on_tool_list_changed(&self, context: NotificationContext<RoleClient>) {
        log::debug!("mcp: {}: tools/list_changed", self.server);
        self.shared.refreshing(&self.server, true);
        match context.peer.list_all_tools().await {
            Ok(tools) => self.shared.set_tools(&self.server, tools),
            Err(e) => log::warn!("mcp: {}: cannot refresh its tools: {e}", self.server),
        }
        self.shared.refreshing(&self.server, false);
    }

    fn get_info(&self) -> ClientConfig {
        let mut capabilities = ClientCapabilities::default();
        capabilities.elicitation =
            Some(ElicitationCapability::new().with_form(FormElicitationCapability::default()));
        ClientConfig::new(
            capabilities,
            Implementation::new("cordon", env!("CARGO_PKG_VERSION")),
        )
    }
}

/// A connected server.
pub(crate) struct Connected {
    pub service: RunningService<RoleClient, Handler>,
    pub tools: Vec<Tool>,
    /// The child process (stdio), to watch for its exit.
    pub child: Option<tokio::process::Child>,
    /// Its stderr's last lines.
    pub stderr: Arc<Mutex<VecDeque<String>>>,
}

/// The last lines of a server's stderr, for a message.
pub(crate) fn tail(stderr: &Mutex<VecDeque<String>>) -> String {
    let lines = stderr.lock().map(|l| l.clone()).unwrap_or_default();
    match lines.back() {
        Some(last) => format!(" (stderr: {last})"),
        None => String::new(),
    }
}

/// Most bytes of a stderr line kept (the rest of the line is dropped).
const STDERR_LINE: usize = 1024;

/// Reads a server's stderr to its end, keeping its last
/// [`STDERR_TAIL`] lines in `keep`, each cut at [`STDERR_LINE`] bytes
/// (an endless line takes no more memory than that).
async fn keep_stderr(
    err: impl tokio::io::AsyncRead + Unpin,
    name: String,
    keep: Arc<Mutex<VecDeque<String>>>,
) {
    let mut reader = tokio::io::BufReader::new(err);
    let mut line: Vec<u8> = Vec::new();
    let mut cut = false;
    loop {
        let (used, ended) = match reader.fill_buf().await {
            Ok([]) | Err(_) => (0, true),
            Ok(buf) => match buf.iter().position(|&b| b == b'\n') {
                Some(i) => {
                    let room = STDERR_LINE.saturating_sub(line.len());
                    cut |= i > room;
                    line.extend_from_slice(&buf[..i.min(room)]);
                    (i + 1, true)
                }
                None => {
                    let room = STDERR_LINE.saturating_sub(line.len());
                    cut |= buf.len() > room;
                    line.extend_from_slice(&buf[..buf.len().min(room)]);
                    (buf.len(), false)
                }
            },
        };
        let at_end = used == 0;
        reader.consume(used);
        if ended && !(at_end && line.is_empty()) {
            let mut text = String::from_utf8_lossy(&line)
                .trim_end_matches('\r')
                .to_string();
            if cut {
                text.push('…');
            }
            log::debug!("mcp: {name}: stderr: {text}");
            if let Ok(mut l) = keep.lock() {
                if l.len() == STDERR_TAIL {
                    l.pop_front();
                }
                l.push_back(text);
            }
            line.clear();
            cut = false;
        }
        if at_end {
            return;
        }
    }
}

/// Starts and initializes `server`, listing its tools.
pub(crate) async fn connect(
    server: &McpServerConfig,
    ctx: &LaunchContext,
    handler: Handler,
) -> Result<Connected, String> {
    let stderr = Arc::new(Mutex::new(VecDeque::new()));
    match &server.transport {
        McpTransport::Stdio { .. } => {
            let plan = launch::plan(server, ctx)?;
            let mut cmd = tokio::process::Command::new(&plan.program);
            cmd.args(&plan.args)
                .env_clear()
                .envs(&plan.env)
                .current_dir(&plan.cwd)
                .stdin(std::process::Stdio::piped())
                .stdout(std::process::Stdio::piped())
                .stderr(std::process::Stdio::piped())
                .kill_on_drop(true);
            #[cfg(unix)]
            if server.sandbox.is_some() {
                cmd.arg0("cordon");
            }
            die_with_parent(&mut cmd);
            let mut child = cmd
                .spawn()
                .map_err(|e| format!("cannot run {}: {e}", plan.program.display()))?;
            let (Some(stdout), Some(stdin), Some(err)) =
                (child.stdout.take(), child.stdin.take(), child.stderr.take())
            else {
                return Err("its pipes could not be opened".into());
            };
            let keep = stderr.clone();
            let name = server.name.clone();
            let reader = tokio::spawn(keep_stderr(err, name, keep));
            let service = match handler.serve((stdout, stdin)).await {
                Ok(s) => s,
                Err(e) => {
                    // Its exit status and last words say more than "closed".
                    let status =
                        tokio::time::timeout(std::time::Duration::from_millis(500), child.wait())
                            .await;
                    let exited = match status {
                        Ok(Ok(s)) => format!("; it exited ({s})"),
                        _ => String::new(),
                    };
                    // Its last words: the reader ends at the pipe's end.
                    let _ = tokio::time::timeout(std::time::Duration::from_secs(1), reader).await;
                    return Err(format!("{e}{exited}{}", tail(&stderr)));
                }
            };
            let tools = service
                .peer()
                .list_all_tools()
                .await
                .map_err(|e| format!("tools/list failed: {e}{}", tail(&stderr)))?;
            Ok(Connected {
                service,
                tools,
                child: Some(child),
                stderr,
            })
        }
        McpTransport::StreamableHttp {
            url,
            bearer_token_env_var,
            http_headers,
            env_http_headers,
        } => {
            use rmcp::transport::streamable_http_client::StreamableHttpClientTransportConfig;
            let mut headers = std::collections::HashMap::new();
            let env_value = |var: &str| ctx.env.get(var).filter(|v| !v.is_empty()).cloned();
            let mut all: Vec<(String, String)> = http_headers
                .iter()
                .map(|(k, v)| (k.clone(), v.clone()))
                .collect();
            for (header, var) in env_http_headers {
                let value = env_value(var).ok_or_else(|| {
                    format!("env_http_headers: `{var}` (for header {header}) is not set")
                })?;
                all.push((header.clone(), value));
            }
            for (k, v) in all {
                let name = http::HeaderName::from_bytes(k.as_bytes())
                    .map_err(|e| format!("header {k}: {e}"))?;
                let value =
                    http::HeaderValue::from_str(&v).map_err(|e| format!("header {k}: {e}"))?;
                headers.insert(name, value);
            }
            let mut config =
                StreamableHttpClientTransportConfig::with_uri(url.as_str()).custom_headers(headers);
            if let Some(var) = bearer_token_env_var {
                let token = env_value(var)
                    .ok_or_else(|| format!("bearer_token_env_var: `{var}` is not set"))?;
                config = config.auth_header(token);
            }
            let env = |var: &str| ctx.env.get(var).cloned();
            let proxies =
                cordon_core::http::ProxyEnv::from_vars(&env).map_err(|e| e.to_string())?;
            let client = cordon_core::http::client(&cordon_core::http::ClientOptions {
                proxies,
                https: url
                    .get(..6)
                    .is_some_and(|s| s.eq_ignore_ascii_case("https:")),
                follow_redirects: true,
            })
            .map_err(|e| e.to_string())?;
            let transport =
                rmcp::transport::StreamableHttpClientTransport::with_client(client, config);
            let service = handler.serve(transport).await.map_err(|e| e.to_string())?;
            let tools = service
                .peer()
                .list_all_tools()
                .await
                .map_err(|e| format!("tools/list failed: {e}"))?;
            Ok(Connected {
                service,
                tools,
                child: None,
                stderr,
            })
        }
    }
}

/// The server dies with cordon, even when cordon is killed: a parent-death
/// signal (sent when the runtime thread that started it exits, which is at
/// cordon's exit), and a check that cordon did not die first. A sandboxed
/// server's launcher takes its sandboxed tree down with it.
fn die_with_parent(cmd: &mut tokio::process::Command) {
    #[cfg(target_os = "linux")]
    // SAFETY: the hook makes only async-signal-safe calls.
    unsafe {
        cmd.pre_exec(cordon_core::runner::parent_death_hook());
    }
    #[cfg(not(target_os = "linux"))]
    let _ = cmd;
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn stderr_keeps_the_last_lines_each_cut_to_its_limit() {
        let mut text = b"first\n".to_vec();
        text.extend(vec![b'x'; 20 * 1024 * 1024]);
        text.extend_from_slice(b"\nmiddle\r\nlast words");
        let keep = Arc::new(Mutex::new(VecDeque::new()));
        tokio::runtime::Builder::new_current_thread()
            .build()
            .unwrap()
            .block_on(keep_stderr(&text[..], "t".into(), keep.clone()));
        let lines: Vec<String> = keep.lock().unwrap().iter().cloned().collect();
        assert_eq!(
            lines.len(),
            4,
            "{:?}",
            lines.iter().map(String::len).collect::<Vec<_>>()
        );
        assert_eq!(lines[0], "first");
        assert_eq!(lines[1], format!("{}…", "x".repeat(STDERR_LINE)));
        assert_eq!(lines[2], "middle");
        assert_eq!(lines[3], "last words");
        assert_eq!(tail(&keep), " (stderr: last words)");
    }
}
