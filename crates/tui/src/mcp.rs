//! The MCP servers as the UI sees them: start-up progress reported in the
//! transcript (each change once), and the `/mcp` list.

use crate::elicit::{ElicitAnswer, ElicitRequest};
use cordon_core::interrupt::Interrupt;
use cordon_core::tool_provider::{ServerState, ServerStatus, SharedProvider, ToolProvider};
use std::collections::BTreeMap;
use std::sync::mpsc::{channel, RecvTimeoutError, Sender};
use std::sync::Arc;
use std::time::Duration;

/// Follows the servers' states and reports what changed.
pub struct McpWatch {
    provider: SharedProvider,
    /// The last status seen per server (`None`: nothing reported yet).
    seen: Option<BTreeMap<String, ServerStatus>>,
}

impl McpWatch {
    /// Watches `provider` (the handle that hands out its notices).
    pub fn new(provider: SharedProvider) -> McpWatch {
        McpWatch {
            provider,
            seen: None,
        }
    }

    /// The servers' states now.
    pub fn servers(&self) -> Vec<ServerState> {
        self.provider.servers()
    }

    /// Whether anything was reported yet.
    pub fn reported(&self) -> bool {
        self.seen.is_some()
    }

    /// Whether a server is still starting.
    pub fn starting(&self) -> bool {
        self.seen
            .as_ref()
            .is_none_or(|s| s.values().any(|st| *st == ServerStatus::Starting))
    }

    /// What to tell the user since the last call: `mcp: starting N
    /// servers…` the first time, `mcp: NAME ready (K tools)` as each
    /// becomes ready, and the client's notices (a failed start, a stop)
    /// as they come. The second of each pair says whether it is an error.
    pub fn poll(&mut self) -> Vec<(String, bool)> {
        let mut out = Vec::new();
        let now = self.provider.servers();
        let seen = match &mut self.seen {
            Some(seen) => seen,
            None => {
                let starting = now
                    .iter()
                    .filter(|s| s.status == ServerStatus::Starting)
                    .count();
                if starting > 0 {
                    out.push((
                        format!(
                            "mcp: starting {starting} server{}…",
                            if starting == 1 { "" } else { "s" }
                        ),
                        false,
                    ));
                }
                self.seen.insert(BTreeMap::new())
            }
        };
        for s in &now {
            let before = seen.insert(s.name.clone(), s.status.clone());
            if s.status == ServerStatus::Ready && before.as_ref() != Some(&ServerStatus::Ready) {
                let n = s.tools.len();
                out.push((
                    format!(
                        "mcp: {} ready ({n} tool{})",
                        s.name,
                        if n == 1 { "" } else { "s" }
                    ),
                    false,
                ));
            }
        }
        out.extend(self.provider.notices().into_iter().map(|n| (n, true)));
        out
    }
}

/// `/mcp`: each server with its state, how it runs, its sandbox and its
/// tools (the names the model sees).
pub fn list_lines(servers: &[ServerState]) -> Vec<String> {
    if servers.is_empty() {
        return vec![
            "/mcp".into(),
            "no MCP servers are configured (add one with `cordon mcp add`, see [mcp_servers] in the README)".into(),
        ];
    }
    let mut out = vec!["/mcp".to_string()];
    for s in servers {
        let state = match &s.status {
            ServerStatus::Starting => "starting…".to_string(),
            ServerStatus::Ready => "ready".to_string(),
            ServerStatus::Failed(why) => format!("failed: {why}"),
        };
        out.push(format!("• {}: {state}", s.name));
        out.push(format!("    {}", s.transport));
        out.push(match &s.sandbox {
            Some(sb) => format!("    sandbox: {sb}"),
            None => "    sandbox: none (runs with your rights)".to_string(),
        });
        if s.status == ServerStatus::Ready {
            if s.tools.is_empty() {
                out.push("    tools: none".into());
            } else {
                out.push(format!("    tools: {}", s.tools.join(", ")));
            }
        }
    }
    out
}

/// Starts the configured servers (if any) with questions going to the UI
/// through `ask` (which hands the form and its reply channel to the UI
/// thread; `false` when the UI is gone), gives every session their tools,
/// and returns the watch for the UI; the error says why the client could
/// not start.
pub fn start(
    config: &mut crate::TuiConfig,
    ask: impl Fn(ElicitRequest, Sender<ElicitAnswer>) -> bool + Send + Sync + 'static,
    interrupt: Arc<Interrupt>,
) -> Result<Option<McpWatch>, String> {
    let Some(start) = config.mcp.take() else {
        return Ok(None);
    };
    let elicit: crate::Elicit = Arc::new(move |request| {
        let (tx, rx) = channel();
        if !ask(request, tx) {
            return ElicitAnswer::Cancel;
        }
        // The UI answers, or the turn is interrupted (the call is then
        // broken off, and nobody needs the answer).
        loop {
            match rx.recv_timeout(Duration::from_millis(100)) {
                Ok(answer) => return answer,
                Err(RecvTimeoutError::Timeout) if interrupt.is_set() => {
                    return ElicitAnswer::Cancel
                }
                Err(RecvTimeoutError::Timeout) => {}
                Err(RecvTimeoutError::Disconnected) => return ElicitAnswer::Cancel,
            }
        }
    });
    let provider = start(elicit)?;
    config.session.tools = Some(provider.for_session());
    Ok(Some(McpWatch::new(provider)))
}

#[cfg(test)]
mod tests {
    use super::*;
    use cordon_core::tool_provider::{ProvidedResult, ProvidedTool};
    use std::sync::Mutex;

    #[derive(Default)]
    struct Fake {
        servers: Mutex<Vec<ServerState>>,
        notices: Mutex<Vec<String>>,
    }

    impl ToolProvider for Fake {
        fn tools(&self) -> Vec<ProvidedTool> {
            Vec::new()
        }
        fn call(
            &self,
            _: &str,
            _: &str,
            _: serde_json::Value,
            _: &dyn Fn() -> bool,
            _: &mut dyn FnMut(String),
        ) -> Result<ProvidedResult, String> {
            Err("no".into())
        }
        fn notices(&self) -> Vec<String> {
            std::mem::take(&mut *self.notices.lock().unwrap())
        }
        fn wait_required(&self) -> Result<(), String> {
            Ok(())
        }
        fn servers(&self) -> Vec<ServerState> {
            self.servers.lock().unwrap().clone()
        }
    }

    fn state(name: &str, status: ServerStatus, tools: usize) -> ServerState {
        ServerState {
            name: name.into(),
            status,
            transport: "stdio: x".into(),
            sandbox: None,
            tools: (0..tools).map(|i| format!("mcp__{name}__t{i}")).collect(),
            required: false,
        }
    }

    #[test]
    fn progress_is_reported_once_per_change_and_sessions_get_no_notices() {
        let fake = Arc::new(Fake::default());
        *fake.servers.lock().unwrap() = vec![
            state("a", ServerStatus::Starting, 0),
            state("b", ServerStatus::Starting, 0),
        ];
        let shared = SharedProvider::new(fake.clone());
        let session = shared.for_session();
        let mut watch = McpWatch::new(shared);
        assert!(watch.starting());
        assert_eq!(
            watch.poll(),
            [("mcp: starting 2 servers…".to_string(), false)]
        );
        assert_eq!(watch.poll(), []);
        *fake.servers.lock().unwrap() = vec![
            state("a", ServerStatus::Ready, 1),
            state("b", ServerStatus::Failed("boom".into()), 0),
        ];
        fake.notices
            .lock()
            .unwrap()
            .push("mcp: b failed to start: boom".into());
        assert!(session.notices().is_empty(), "a session's handle: none");
        assert_eq!(
            watch.poll(),
            [
                ("mcp: a ready (1 tool)".to_string(), false),
                ("mcp: b failed to start: boom".to_string(), true),
            ]
        );
        assert!(!watch.starting());
        assert_eq!(watch.poll(), [], "each once");
        assert_eq!(session.servers().len(), 2, "the same client");
    }
}
