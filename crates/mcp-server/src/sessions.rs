//! Sessions kept by the server: each on its own thread (the session core
//! blocks), fed turns by tool calls, handing events and approval requests
//! back to the call that runs the turn. The approver blocks the session's
//! thread until the client answers.

use cordon_core::approval::{ApprovalDecision, ApprovalRequest, Approver};
use cordon_core::interrupt::Interrupt;
use cordon_core::session::{turn_failure, Session, SessionConfig, SessionEvent};
use std::collections::HashMap;
use std::path::PathBuf;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{mpsc, Arc, Mutex};
use tokio::sync::{mpsc as amsc, oneshot};

/// What a session's thread hands to the call running its turn.
pub enum Update {
    /// An event of the turn.
    Event(SessionEvent),
    /// A question; the answer goes back on the sender.
    Approval(ApprovalRequest, mpsc::Sender<ApprovalDecision>),
}

/// How a turn ended.
pub struct TurnOutcome {
    /// The final message, or why the turn failed.
    pub result: Result<String, String>,
    /// Why the rollout stopped being written, if it did.
    pub rollout_error: Option<String>,
}

/// One turn to run.
struct Job {
    prompt: String,
    updates: amsc::UnboundedSender<Update>,
    done: oneshot::Sender<TurnOutcome>,
}

/// The call currently running a session's turn.
type Link = Arc<Mutex<Option<amsc::UnboundedSender<Update>>>>;

/// Asks through the running call; with no call (or a call gone), denies.
struct LinkApprover {
    link: Link,
}

impl Approver for LinkApprover {
    fn decide(&mut self, request: &ApprovalRequest) -> ApprovalDecision {
        let Some(updates) = self.link.lock().ok().and_then(|l| l.clone()) else {
            return ApprovalDecision::Deny;
        };
        let (answer, decided) = mpsc::channel();
        if updates
            .send(Update::Approval(request.clone(), answer))
            .is_err()
        {
            return ApprovalDecision::Deny;
        }
        decided.recv().unwrap_or(ApprovalDecision::Deny)
    }
}

/// A session living in the server.
pub struct SessionHandle {
    jobs: Mutex<mpsc::Sender<Job>>,
    /// Interrupts its running turn and kills its commands.
    pub interrupt: Arc<Interrupt>,
    busy: AtomicBool,
    /// Its working directory.
    pub cwd: PathBuf,
}

/// Clears the busy flag when the turn's call ends, however it ends.
pub struct Busy<'a>(&'a AtomicBool);

impl Drop for Busy<'_> {
    fn drop(&mut self) {
        self.0.store(false, Ordering::SeqCst);
    }
}

/// A turn started: its updates, then its outcome.
pub struct RunningTurn<'a> {
    /// Events and approval requests, until the turn ends.
    pub updates: amsc::UnboundedReceiver<Update>,
    /// The outcome.
    pub done: oneshot::Receiver<TurnOutcome>,
    _busy: Busy<'a>,
}

impl SessionHandle {
    /// Starts a turn on `prompt`, unless one is running.
    pub fn turn(&self, prompt: String) -> Result<RunningTurn<'_>, String> {
        if self.busy.swap(true, Ordering::SeqCst) {
            return Err(
                "a turn of this session is still running; wait for its result (or cancel that call) first"
                    .into(),
            );
        }
        let busy = Busy(&self.busy);
        let (updates, updates_rx) = amsc::unbounded_channel();
        let (done, done_rx) = oneshot::channel();
        let sent = self
            .jobs
            .lock()
            .map_err(|_| "the session is gone".to_string())?
            .send(Job {
                prompt,
                updates,
                done,
            });
        sent.map_err(|_| "the session's thread has ended".to_string())?;
        Ok(RunningTurn {
            updates: updates_rx,
            done: done_rx,
            _busy: busy,
        })
    }
}

/// Starts a session on its own thread with `instructions` in place of the
/// ones it would load (when given); returns its id.
pub async fn start(
    config: SessionConfig,
    instructions: Option<Instructions>,
) -> Result<(String, Arc<SessionHandle>), String> {
    let interrupt = config.interrupt.clone();
    let cwd = config.cwd.clone();
    let (jobs, jobs_rx) = mpsc::channel::<Job>();
    let (ready, ready_rx) = oneshot::channel::<Result<String, String>>();
    let link: Link = Arc::new(Mutex::new(None));
    std::thread::Builder::new()
        .name("cordon-session".into())
        .spawn(move || session_thread(config, instructions, link, jobs_rx, ready))
        .map_err(|e| format!("cannot start the session's thread: {e}"))?;
    let id = ready_rx
        .await
        .map_err(|_| "the session's thread ended while starting".to_string())??;
    Ok((
        id,
        Arc::new(SessionHandle {
            jobs: Mutex::new(jobs),
            interrupt,
            busy: AtomicBool::new(false),
            cwd,
        }),
    ))
}

/// `base-instructions` and `developer-instructions`.
#[derive(Debug, Clone, Default)]
pub struct Instructions {
    /// Replace what the session would send.
    pub base: Option<String>,
    /// Added after.
    pub developer: Option<String>,
}

fn session_thread(
    config: SessionConfig,
    instructions: Option<Instructions>,
    link: Link,
    jobs: mpsc::Receiver<Job>,
    ready: oneshot::Sender<Result<String, String>>,
) {
    let env = |k: &str| std::env::var(k).ok();
    let approver = LinkApprover { link: link.clone() };
    let mut session = match Session::start(config, &env, Box::new(approver)) {
        Ok(s) => s,
        Err(e) => {
            let _ = ready.send(Err(e.to_string()));
            return;
        }
    };
    if let Some(i) = instructions {
        let base = i
            .base
            .or_else(|| session.instructions().map(str::to_string));
        let combined = match (base, i.developer) {
            (Some(b), Some(d)) => Some(format!("{b}\n\n# Developer instructions\n\n{d}")),
            (b, d) => b.or(d),
        };
        session.set_instructions(combined);
    }
    if ready.send(Ok(session.id().to_string())).is_err() {
        return;
    }
    while let Ok(job) = jobs.recv() {
        if let Ok(mut l) = link.lock() {
            *l = Some(job.updates.clone());
        }
        let updates = job.updates.clone();
        let result = session.run_turn(&job.prompt, &mut |event| {
            let _ = updates.send(Update::Event(event));
        });
        if let Ok(mut l) = link.lock() {
            *l = None;
        }
        let _ = job.done.send(TurnOutcome {
            result: result.map(|(text, _)| text).map_err(|e| turn_failure(&e)),
            rollout_error: session.rollout_error().map(str::to_string),
        });
    }
}

/// Every session of this server, by id.
#[derive(Default)]
pub struct Sessions {
    map: Mutex<HashMap<String, Arc<SessionHandle>>>,
}

impl Sessions {
    /// Keeps `handle` under `id`.
    pub fn insert(&self, id: String, handle: Arc<SessionHandle>) {
        if let Ok(mut m) = self.map.lock() {
            m.insert(id, handle);
        }
    }

    /// The session `id`.
    pub fn get(&self, id: &str) -> Option<Arc<SessionHandle>> {
        self.map.lock().ok().and_then(|m| m.get(id).cloned())
    }
}
