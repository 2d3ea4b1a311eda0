//! The MCP side: initialization, `tools/list`, `tools/call` for the three
//! tools, `logging/setLevel`; each call runs concurrently with the others.

use crate::args::{self, ArgError};
use crate::progress::{describe_approval, Describer, Notifier};
use crate::sessions::{self, Instructions, SessionHandle, Sessions, Update};
use crate::{elicit, sandbox_tool, schema, McpServerError, Setup};
use cordon_core::agent::{AgentEvent, ToolDetail};
use cordon_core::approval::ApprovalDecision;
use cordon_core::interrupt::Interrupt;
use cordon_core::session::SessionEvent;
use cordon_policy::ApprovalPolicy;
use rmcp::model::{
    CallToolRequestParams, CallToolResponse, CallToolResult, ContentBlock, Implementation,
    ListToolsResult, LoggingLevel, PaginatedRequestParams, ServerCapabilities, ServerConfig,
    SetLevelRequestParams,
};
use rmcp::service::{ElicitationMode, RequestContext};
use rmcp::{ErrorData, RoleServer, ServerHandler, ServiceExt};
use serde_json::json;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::Arc;

/// The server's state, shared by all calls.
#[derive(Clone)]
struct Server {
    setup: Arc<Setup>,
    sessions: Arc<Sessions>,
    /// Whether info-level log lines are wanted (`logging/setLevel`).
    log_info: Arc<AtomicBool>,
}

/// Serves until stdin closes.
pub async fn run(setup: Setup) -> Result<(), McpServerError> {
    let server = Server {
        setup: Arc::new(setup),
        sessions: Arc::new(Sessions::default()),
        log_info: Arc::new(AtomicBool::new(true)),
    };
    let running = server
        .serve(rmcp::transport::stdio())
        .await
        .map_err(|e| McpServerError::Initialize(e.to_string()))?;
    running
        .waiting()
        .await
        .map_err(|e| McpServerError::Connection(e.to_string()))?;
    Ok(())
}

/// A tool error for the client: text, `isError`.
fn tool_error(message: String) -> CallToolResponse {
    CallToolResult::error(vec![ContentBlock::text(message)]).into()
}

fn arg_error(e: ArgError) -> CallToolResponse {
    tool_error(e.to_string())
}

/// A result with `text` as content and `structured` as structured content.
fn with_text(structured: serde_json::Value, text: String, is_error: bool) -> CallToolResponse {
    let mut result = CallToolResult::structured(structured);
    result.content = vec![ContentBlock::text(text)];
    result.is_error = Some(is_error);
    result.into()
}

impl Server {
    fn can_elicit(context: &RequestContext<RoleServer>) -> bool {
        context
            .peer
            .supported_elicitation_modes()
            .contains(&ElicitationMode::Form)
    }

    async fn cordon(
        &self,
        params: &CallToolRequestParams,
        context: &RequestContext<RoleServer>,
    ) -> CallToolResponse {
        let a = match args::cordon(params.arguments.as_ref()) {
            Ok(a) => a,
            Err(e) => return arg_error(e),
        };
        let setup = self.setup.clone();
        let request = a.request.clone();
        let resolved = tokio::task::spawn_blocking(move || (setup.resolve)(&request)).await;
        let mut config = match resolved {
            Ok(Ok(c)) => c,
            Ok(Err(e)) => {
                return tool_error(format!(
                    "invalid session settings (model, profile, cwd, sandbox, network, config): {e}"
                ))
            }
            Err(e) => return tool_error(format!("resolving the session's settings failed: {e}")),
        };
        let can_elicit = Self::can_elicit(context);
        let requested = config.approval;
        if !can_elicit {
            // No one to ask: as `cordon exec`, nothing runs outside the sandbox.
            config.approval = ApprovalPolicy::Never;
        }
        config.interrupt = Arc::new(Interrupt::default());
        let instructions = (a.base_instructions.is_some() || a.developer_instructions.is_some())
            .then(|| Instructions {
                base: a.base_instructions.clone(),
                developer: a.developer_instructions.clone(),
            });
        let (id, handle) = match sessions::start(config, instructions).await {
            Ok(started) => started,
            Err(e) => return tool_error(format!("cannot start the session: {e}")),
        };
        self.sessions.insert(id.clone(), handle.clone());
        if !can_elicit && requested != ApprovalPolicy::Never {
            log::info!("session {id}: approval-policy `never` instead of `{requested}`: the client cannot answer elicitation requests");
        }
        self.turn(&id, &handle, a.prompt, can_elicit, None, context)
            .await
    }

    async fn reply(
        &self,
        params: &CallToolRequestParams,
        context: &RequestContext<RoleServer>,
    ) -> CallToolResponse {
        let a = match args::reply(params.arguments.as_ref()) {
            Ok(a) => a,
            Err(e) => return arg_error(e),
        };
        let Some(handle) = self.sessions.get(&a.thread_id) else {
            return arg_error(ArgError {
                arg: "threadId".into(),
                reason: format!(
                    "no session `{}` in this server (sessions live as long as the server; a recorded one continues with `cordon exec resume {}`)",
                    a.thread_id, a.thread_id
                ),
            });
        };
        let can_elicit = Self::can_elicit(context);
        self.turn(&a.thread_id, &handle, a.prompt, can_elicit, None, context)
            .await
    }

    /// Runs one turn of `handle`, relaying its events and approvals to the
    /// client, interrupting it when the call is cancelled.
    async fn turn(
        &self,
        id: &str,
        handle: &SessionHandle,
        prompt: String,
        can_elicit: bool,
        mut note: Option<String>,
        context: &RequestContext<RoleServer>,
    ) -> CallToolResponse {
        let mut running = match handle.turn(prompt) {
            Ok(r) => r,
            Err(e) => return tool_error(e),
        };
        let mut notifier = Notifier::new(
            context.peer.clone(),
            context.meta.get_progress_token(),
            self.log_info.load(Ordering::SeqCst),
        );
        let mut describer = Describer::default();
        let mut cancelled = false;
        let mut declined = 0usize;
        loop {
            tokio::select! {
                _ = context.ct.cancelled(), if !cancelled => {
                    cancelled = true;
                    handle.interrupt.trigger();
                }
                update = running.updates.recv() => match update {
                    None => break,
                    Some(Update::Event(event)) => {
                        if let SessionEvent::Agent(AgentEvent::ToolCompleted {
                            detail: ToolDetail::Command { declined: true, .. },
                            ..
                        }) = &event
                        {
                            declined += 1;
                        }
                        if let Some(line) = describer.describe(&event) {
                            notifier.say(line).await;
                        }
                    }
                    Some(Update::Approval(request, answer)) => {
                        notifier.say(describe_approval(&request)).await;
                        let decision = if !can_elicit || cancelled {
                            ApprovalDecision::Deny
                        } else {
                            tokio::select! {
                                d = elicit::ask(&context.peer, &request, &handle.cwd) => d,
                                _ = context.ct.cancelled() => {
                                    cancelled = true;
                                    handle.interrupt.trigger();
                                    ApprovalDecision::Deny
                                }
                            }
                        };
                        notifier
                            .say(format!("approval answered: {}", match decision {
                                ApprovalDecision::Approve => "approve",
                                ApprovalDecision::ApproveForSession
                                | ApprovalDecision::AllowDomainsForSession => "approve_for_session",
                                ApprovalDecision::Deny | ApprovalDecision::Abort => "deny",
                            }))
                            .await;
                        let _ = answer.send(decision);
                    }
                },
            }
        }
        let outcome = match running.done.await {
            Ok(o) => o,
            Err(_) => return tool_error("the session's thread ended during the turn".into()),
        };
        if let Some(e) = &outcome.rollout_error {
            let warning = format!("the session file stopped being written: {e}");
            note = Some(match note {
                Some(n) => format!("{n}; {warning}"),
                None => warning,
            });
        }
        if declined > 0 && !can_elicit {
            let more = format!("{declined} command(s) needing approval were declined: this client did not declare the elicitation capability, so approval-policy `never` applied (nothing is asked, nothing runs outside the sandbox)");
            note = Some(match note {
                Some(n) => format!("{n}; {more}"),
                None => more,
            });
        }
        match outcome.result {
            Ok(text) => {
                let mut structured = json!({"threadId": id, "content": text});
                let mut shown = text;
                if let Some(n) = &note {
                    structured["note"] = json!(n);
                    shown.push_str(&format!("\n\n[cordon: {n}]"));
                }
                with_text(structured, shown, false)
            }
            Err(why) => {
                let mut message = format!("the turn failed: {why} (threadId {id})");
                if let Some(n) = &note {
                    message.push_str(&format!("; {n}"));
                }
                tool_error(message)
            }
        }
    }

    async fn sandbox(
        &self,
        params: &CallToolRequestParams,
        context: &RequestContext<RoleServer>,
    ) -> CallToolResponse {
        let a = match args::sandbox(params.arguments.as_ref(), &self.setup.cwd) {
            Ok(a) => a,
            Err(e) => return arg_error(e),
        };
        let interrupt = Arc::new(Interrupt::default());
        let setup = self.setup.clone();
        let (i, run_args) = (interrupt.clone(), a.clone());
        let mut task = tokio::task::spawn_blocking(move || {
            sandbox_tool::run(&setup.cordon_exe, &run_args, &i)
        });
        let finished = tokio::select! {
            f = &mut task => f,
            _ = context.ct.cancelled() => {
                interrupt.trigger();
                task.await
            }
        };
        match finished {
            Ok(f) => with_text(
                sandbox_tool::structured(&f),
                sandbox_tool::summary(&a, &f),
                false,
            ),
            Err(e) => tool_error(format!("running the command failed: {e}")),
        }
    }
}

impl ServerHandler for Server {
    fn get_info(&self) -> ServerConfig {
        ServerConfig::new(
            ServerCapabilities::builder()
                .enable_tools()
                .enable_logging()
                .build(),
        )
        .with_server_info(Implementation::new("cordon", env!("CARGO_PKG_VERSION")))
        .with_instructions(
            "cordon: `cordon` runs a coding agent whose commands are confined by cordon's sandbox; `cordon-reply` continues its session; `cordon-sandbox` runs one command under the sandbox with no model.",
        )
    }

    async fn list_tools(
        &self,
        _request: Option<PaginatedRequestParams>,
        _context: RequestContext<RoleServer>,
    ) -> Result<ListToolsResult, ErrorData> {
        Ok(ListToolsResult::with_all_items(schema::tools()))
    }

    async fn call_tool(
        &self,
        request: CallToolRequestParams,
        context: RequestContext<RoleServer>,
    ) -> Result<CallToolResponse, ErrorData> {
        Ok(match request.name.as_ref() {
            schema::CORDON => self.cordon(&request, &context).await,
            schema::REPLY => self.reply(&request, &context).await,
            schema::SANDBOX => self.sandbox(&request, &context).await,
            other => {
                return Err(ErrorData::invalid_params(
                    format!(
                        "unknown tool `{other}`: cordon has {}, {} and {}",
                        schema::CORDON,
                        schema::REPLY,
                        schema::SANDBOX
                    ),
                    None,
                ))
            }
        })
    }

    async fn set_level(
        &self,
        request: SetLevelRequestParams,
        _context: RequestContext<RoleServer>,
    ) -> Result<(), ErrorData> {
        let info = matches!(request.level, LoggingLevel::Debug | LoggingLevel::Info);
        self.log_info.store(info, Ordering::SeqCst);
        Ok(())
    }
}
