//! The session on its own thread: the UI sends [`Op`]s, the worker sends
//! back [`WorkerEvent`]s, approval requests included, each with a channel
//! for the answer. The session blocks while a turn runs; the UI never does.

use crate::SessionTemplate;
use cordon_core::approval::{ApprovalDecision, ApprovalRequest, Approver};
use cordon_core::interrupt::Interrupt;
use cordon_core::model::request::Item;
use cordon_core::model::Usage;
use cordon_core::session::{turn_failure, Resume, Session, SessionConfig, SessionEvent};
use cordon_policy::{ApprovalPolicy, SandboxPolicy};
use std::path::PathBuf;
use std::sync::mpsc::{channel, Receiver, Sender};
use std::sync::Arc;

/// What the UI asks of the worker.
#[derive(Debug)]
pub enum Op {
    /// Start a session (a new one, or a saved one), ending the current.
    Start(Option<Resume>),
    /// Run a turn.
    Turn(String),
    /// Replace the history with the model's summary of it.
    Compact,
    /// Use another model from the next turn on.
    SetModel(String),
    /// Another sandbox policy and approval policy from the next command on.
    SetPermissions(Box<SandboxPolicy>, ApprovalPolicy),
    /// End.
    Shutdown,
}

/// What the session is, for the header and `/status`.
#[derive(Debug, Clone)]
pub struct SessionInfo {
    /// Session id.
    pub id: String,
    /// Model.
    pub model: String,
    /// Provider id.
    pub provider: String,
    /// Where model requests go.
    pub endpoint: String,
    /// Sandbox policy.
    pub policy: SandboxPolicy,
    /// Approval policy.
    pub approval: ApprovalPolicy,
    /// Tokens used in this process.
    pub usage: Usage,
    /// Tokens in the context after the last model request.
    pub context_tokens: Option<u64>,
    /// Hosts allowed for this session after the proxy refused them.
    pub session_domains: Vec<String>,
    /// AGENTS.md files read for the instructions.
    pub agents_files: Vec<PathBuf>,
    /// Why the session file stopped being written, if it did.
    pub rollout_error: Option<String>,
    /// The long-running commands (`exec_command`): session id, command,
    /// seconds running.
    pub processes: Vec<(u32, String, u64)>,
}

/// What the worker reports.
#[derive(Debug)]
pub enum WorkerEvent {
    /// A session started; its conversation so far (for a resumed one).
    Started(Box<SessionInfo>, Vec<Item>),
    /// The session's settings changed.
    Info(Box<SessionInfo>),
    /// An event of the running turn.
    Event(SessionEvent),
    /// The turn waits for the user's decision.
    Approval(Box<ApprovalRequest>, Sender<ApprovalDecision>),
    /// The turn ended: its final message and usage, or why it failed.
    TurnDone(Result<(String, Usage), String>),
    /// `/compact` ended: the summary request's usage, or why it failed.
    CompactDone(Result<Usage, String>),
    /// The session could not start.
    Failed(String),
}

/// Forwards approval requests to the UI and waits for the answer; with
/// the UI gone, the turn stops.
struct UiApprover<F: Fn(WorkerEvent) + Send> {
    send: F,
}

impl<F: Fn(WorkerEvent) + Send> Approver for UiApprover<F> {
    fn decide(&mut self, request: &ApprovalRequest) -> ApprovalDecision {
        let (tx, rx) = channel();
        (self.send)(WorkerEvent::Approval(Box::new(request.clone()), tx));
        rx.recv().unwrap_or(ApprovalDecision::Abort)
    }
}

fn info(session: &Session, home: &std::path::Path) -> SessionInfo {
    SessionInfo {
        id: session.id().to_string(),
        model: session.model().to_string(),
        provider: session.provider().id.clone(),
        endpoint: session.endpoint(),
        policy: session.policy().clone(),
        approval: session.approval(),
        usage: session.usage(),
        context_tokens: session.context_tokens(),
        session_domains: session.session_domains().to_vec(),
        agents_files: cordon_core::instructions::agents_files(Some(home), session.cwd()),
        rollout_error: session.rollout_error().map(str::to_string),
        processes: session
            .processes()
            .into_iter()
            .map(|p| (p.id, p.command, p.age.as_secs()))
            .collect(),
    }
}

/// The session's automatic compaction threshold for `model`.
fn auto_compact(template: &SessionTemplate, model: &str) -> Option<u64> {
    crate::context::auto_compact_limit(template.auto_compact_limit, template.context_window, model)
}

/// Starts the worker thread; `send` delivers its events to the UI.
pub fn spawn<F>(template: SessionTemplate, interrupt: Arc<Interrupt>, send: F) -> Sender<Op>
where
    F: Fn(WorkerEvent) + Send + Clone + 'static,
{
    let (tx, rx) = channel();
    std::thread::spawn(move || run(template, interrupt, rx, send));
    tx
}

fn run<F>(mut template: SessionTemplate, interrupt: Arc<Interrupt>, rx: Receiver<Op>, send: F)
where
    F: Fn(WorkerEvent) + Send + Clone + 'static,
{
    let env = |k: &str| std::env::var(k).ok();
    let mut session: Option<Session> = None;
    while let Ok(op) = rx.recv() {
        match op {
            Op::Start(resume) => {
                session = None;
                let config = SessionConfig {
                    home: template.home.clone(),
                    cwd: template.cwd.clone(),
                    model: template.model.clone(),
                    provider: template.provider.clone(),
                    policy: template.policy.clone(),
                    sandbox_args: template.sandbox_args.clone(),
                    cordon_exe: template.cordon_exe.clone(),
                    approval: template.approval,
                    output_schema: None,
                    ephemeral: false,
                    resume,
                    notify: template.notify.clone(),
                    instructions_max: template.instructions_max,
                    interrupt: interrupt.clone(),
                };
                let approver = UiApprover { send: send.clone() };
                match Session::start(config, &env, Box::new(approver)) {
                    Ok(mut s) => {
                        s.set_auto_compact(auto_compact(&template, s.model()));
                        if let Some(tools) = &template.tools {
                            s.set_tool_provider(Box::new(tools.clone()));
                        }
                        if template.unified_exec {
                            s.enable_unified_exec();
                        }
                        send(WorkerEvent::Started(
                            Box::new(info(&s, &template.home)),
                            s.history().to_vec(),
                        ));
                        session = Some(s);
                    }
                    Err(e) => send(WorkerEvent::Failed(e.to_string())),
                }
            }
            Op::Turn(prompt) => {
                let Some(s) = session.as_mut() else {
                    send(WorkerEvent::TurnDone(Err("no session is running".into())));
                    continue;
                };
                let result = s.run_turn(&prompt, &mut |e| send(WorkerEvent::Event(e)));
                let result = result.map_err(|e| turn_failure(&e));
                send(WorkerEvent::Info(Box::new(info(s, &template.home))));
                send(WorkerEvent::TurnDone(result));
            }
            Op::Compact => {
                let Some(s) = session.as_mut() else {
                    send(WorkerEvent::CompactDone(
                        Err("no session is running".into()),
                    ));
                    continue;
                };
                let result = s.compact(&mut |e| send(WorkerEvent::Event(e)));
                let result = result.map_err(|e| turn_failure(&e));
                send(WorkerEvent::Info(Box::new(info(s, &template.home))));
                send(WorkerEvent::CompactDone(result));
            }
            Op::SetModel(model) => {
                template.model = model.clone();
                if let Some(s) = session.as_mut() {
                    s.set_auto_compact(auto_compact(&template, &model));
                    s.set_model(model);
                    send(WorkerEvent::Info(Box::new(info(s, &template.home))));
                }
            }
            Op::SetPermissions(policy, approval) => {
                template.policy = (*policy).clone();
                template.approval = approval;
                if let Some(s) = session.as_mut() {
                    s.set_permissions(*policy, approval);
                    send(WorkerEvent::Info(Box::new(info(s, &template.home))));
                }
            }
            Op::Shutdown => return,
        }
    }
}
