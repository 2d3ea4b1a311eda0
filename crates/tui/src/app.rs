//! The UI thread: one channel brings keys, worker events and signals; the
//! app turns them into cells above the viewport and a fresh frame.

use crate::cells::{self, Cell, HeaderInfo};
use crate::composer::{Composer, Outcome};
use crate::elicit::{ElicitAnswer, ElicitRequest};
use crate::guard::KeyGuard;
use crate::popup::Popup;
use crate::screen::Screen;
use crate::slash::Slash;
use crate::widgets::{self, Status};
use crate::worker::{self, Op, SessionInfo, WorkerEvent};
use crate::{markdown, replay, term, StartWith, TuiConfig, TuiError};
use cordon_config::NotificationKind;
use cordon_core::agent::{AgentEvent, ToolDetail};
use cordon_core::approval::{ApprovalDecision, ApprovalRequest};
use cordon_core::interrupt::Interrupt;
use cordon_core::session::{Resume, SessionEvent, SessionSummary};
use crossterm::event::{Event, KeyCode, KeyEvent, KeyEventKind, KeyModifiers};
use ratatui::buffer::Buffer;
use ratatui::layout::Rect;
use ratatui::style::{Modifier, Style, Stylize};
use ratatui::text::{Line, Span};
use ratatui::widgets::{Paragraph, Widget, Wrap};
use std::collections::{HashMap, VecDeque};
use std::io::Write;
use std::sync::mpsc::{channel, Receiver, RecvTimeoutError, Sender};
use std::sync::Arc;
use std::time::{Duration, Instant};

/// How long a first Ctrl+C waits for the second.
const QUIT_WINDOW: Duration = Duration::from_secs(2);
/// Most rows of the streaming answer shown in the viewport.
const LIVE_ROWS: usize = 10;
/// Most bytes of one command's output kept for the transcript pager.
const TRANSCRIPT_OUTPUT: usize = 64 * 1024;

/// Everything that reaches the UI thread.
#[derive(Debug)]
pub enum AppEvent {
    /// A key, and when it was read from the terminal.
    Key(KeyEvent, Instant),
    /// Another terminal event.
    Term(Event),
    /// The terminal's input ended.
    InputClosed,
    /// The worker.
    Worker(WorkerEvent),
    /// SIGTERM, SIGHUP or SIGQUIT.
    Signal(i32),
    /// The workspace's files, listed for `@` search.
    Files(Vec<String>),
    /// `/diff`'s text, or why there is none.
    Diff(Result<String, String>),
    /// An MCP server's question, and where the answer goes.
    Elicit(ElicitRequest, Sender<ElicitAnswer>),
}

/// A pager on the alternate screen, drawn through its own terminal.
struct PagerView {
    pager: crate::pager::Pager,
    terminal: ratatui::Terminal<ratatui::backend::CrosstermBackend<std::io::Stdout>>,
}

/// A modal in place of the composer.
enum Modal {
    Approval {
        request: Box<ApprovalRequest>,
        reply: Sender<ApprovalDecision>,
        selected: usize,
        guard: KeyGuard,
    },
    Permissions {
        selected: usize,
    },
    Sessions {
        all: Vec<SessionSummary>,
        filter: String,
        selected: usize,
    },
    Elicit {
        form: Box<crate::elicit::Form>,
        reply: Sender<ElicitAnswer>,
        guard: KeyGuard,
    },
}

impl Modal {
    /// The guard of a modal that opens by itself (an approval, a form).
    fn guard(&self) -> Option<&KeyGuard> {
        match self {
            Modal::Approval { guard, .. } | Modal::Elicit { guard, .. } => Some(guard),
            Modal::Permissions { .. } | Modal::Sessions { .. } => None,
        }
    }
}

struct Running {
    call_id: String,
    command: String,
    started: Instant,
}

/// The app's state.
pub struct App {
    config: TuiConfig,
    info: Option<SessionInfo>,
    composer: Composer,
    pending: Vec<Line<'static>>,
    stream: String,
    reasoning: String,
    running: Vec<Running>,
    patches: HashMap<String, Vec<cells::PatchFile>>,
    turn_started: Option<Instant>,
    queued: VecDeque<String>,
    modal: Option<Modal>,
    quit_armed: Option<Instant>,
    focused: bool,
    ops: Sender<Op>,
    interrupt: Arc<Interrupt>,
    quit: Option<i32>,
    frame: usize,
    /// Tokens in the context after the last turn.
    context_used: Option<u64>,
    started_once: bool,
    reasoning_shown: bool,
    notifications: Vec<String>,
    /// Sends to the UI thread's own channel (background work reports here).
    events: Sender<AppEvent>,
    /// The popup under the composer, and its selected row.
    popup: Option<Popup>,
    popup_selected: usize,
    /// The composer text the popup was dismissed for (Esc).
    popup_dismissed: Option<String>,
    /// The workspace's files once listed (`None`: not asked yet).
    files: Option<Arc<Vec<String>>>,
    files_listing: bool,
    /// Every cell so far, for the transcript pager (Ctrl+T); a large
    /// command output is kept in `spill`, its cell's output left empty.
    transcript: Vec<(Cell, Option<crate::spill::Spilled>)>,
    /// Large command outputs of the transcript, on disk.
    spill: crate::spill::Spill,
    pager: Option<PagerView>,
    /// Terminal sequences, or a Windows toast under WSL.
    notifier: crate::notify::Notifier,
    /// Microseconds from events to their frame on screen, for frames
    /// drawn while a turn runs; kept only with `CORDON_TUI_FRAME_STATS`.
    frame_times: Option<Vec<u32>>,
    /// The MCP servers, and when they were last looked at.
    mcp: Option<(crate::mcp::McpWatch, Instant)>,
    /// MCP servers' questions waiting for the modal to be free.
    elicitations: VecDeque<(ElicitRequest, Sender<ElicitAnswer>)>,
}

/// Runs the TUI.
pub fn run(config: TuiConfig) -> Result<i32, TuiError> {
    large_allocations_return_to_the_system();
    #[cfg(unix)]
    let mut wait_signal = term::block_signals();
    let alt =
        !config.no_alt_screen && config.alternate_screen == cordon_config::AlternateScreen::Always;
    term::install_panic_hook();
    term::enter(alt)?;
    let (cols, rows) = crossterm::terminal::size()?;
    let row = crossterm::cursor::position()
        .map(|(_, r)| r)
        .unwrap_or(rows.saturating_sub(1));
    let color = std::env::var_os("NO_COLOR").is_none_or(|v| v.is_empty());
    let mut screen = Screen::new(std::io::stdout(), cols, rows, row, color);

    let (tx, rx) = channel::<AppEvent>();
    let input = tx.clone();
    std::thread::spawn(move || loop {
        match crossterm::event::read() {
            Ok(e) => {
                let e = match e {
                    Event::Key(key) => AppEvent::Key(key, Instant::now()),
                    e => AppEvent::Term(e),
                };
                if input.send(e).is_err() {
                    return;
                }
            }
            Err(_) => {
                let _ = input.send(AppEvent::InputClosed);
                return;
            }
        }
    });
    #[cfg(unix)]
    {
        let signals = tx.clone();
        std::thread::spawn(move || {
            while let Some(sig) = wait_signal() {
                if signals.send(AppEvent::Signal(sig)).is_err() {
                    return;
                }
            }
        });
    }
    let interrupt = Arc::new(Interrupt::default());
    let mut config = config;
    let asks = tx.clone();
    let mcp = crate::mcp::start(
        &mut config,
        move |request, reply| asks.send(AppEvent::Elicit(request, reply)).is_ok(),
        interrupt.clone(),
    );
    let worker_tx = tx.clone();
    let ops = worker::spawn(config.session.clone(), interrupt.clone(), move |e| {
        let _ = worker_tx.send(AppEvent::Worker(e));
    });
    let mut app = App::new(config, ops, interrupt, tx.clone());
    match mcp {
        Ok(watch) => app.mcp = watch.map(|w| (w, Instant::now())),
        Err(e) => app.push(Cell::Error(format!("mcp: {e}"))),
    }
    if app.config.notifications.is_some() {
        let roots: Vec<std::path::PathBuf> = app
            .config
            .session
            .policy
            .writable_roots
            .iter()
            .map(|r| r.root.clone())
            .collect();
        app.notifier = crate::notify::for_this_process(&app.config.session.cwd, &roots);
    }
    app.spill = spill_for(&app.config.session);
    let stats = std::env::var_os("CORDON_TUI_FRAME_STATS").filter(|p| !p.is_empty());
    if stats.is_some() {
        app.frame_times = Some(Vec::new());
    }
    let result = app.run_loop(&mut screen, &rx);
    if let (Some(path), Some(times)) = (stats, app.frame_times.take()) {
        // For benches/tui_bench.sh: one frame's microseconds per line.
        let text: String = times.iter().map(|t| format!("{t}\n")).collect();
        if let Err(e) = std::fs::write(&path, text) {
            log::warn!(
                "cannot write frame stats to {}: {e}",
                path.to_string_lossy()
            );
        }
    }
    if app.pager.is_some() {
        app.close_pager(&mut screen);
    }
    let _ = app.ops.send(Op::Shutdown);
    let _ = screen.finish();
    term::restore();
    if let Some(info) = &app.info {
        println!("To continue this session: cordon resume {}", info.id);
    }
    result
}

impl App {
    fn new(
        config: TuiConfig,
        ops: Sender<Op>,
        interrupt: Arc<Interrupt>,
        events: Sender<AppEvent>,
    ) -> App {
        let history = crate::history::load(&config.session.home);
        App {
            composer: Composer::new(history),
            info: None,
            pending: Vec::new(),
            stream: String::new(),
            reasoning: String::new(),
            running: Vec::new(),
            patches: HashMap::new(),
            turn_started: None,
            queued: VecDeque::new(),
            modal: None,
            quit_armed: None,
            focused: true,
            ops,
            interrupt,
            quit: None,
            frame: 0,
            context_used: None,
            started_once: false,
            reasoning_shown: false,
            notifications: Vec::new(),
            events,
            popup: None,
            popup_selected: 0,
            popup_dismissed: None,
            files: None,
            files_listing: false,
            transcript: Vec::new(),
            spill: crate::spill::Spill::none(),
            pager: None,
            notifier: crate::notify::Notifier::Terminal,
            frame_times: None,
            mcp: None,
            elicitations: VecDeque::new(),
            config,
        }
    }

    fn run_loop(
        &mut self,
        screen: &mut Screen<std::io::Stdout>,
        rx: &Receiver<AppEvent>,
    ) -> Result<i32, TuiError> {
        for w in std::mem::take(&mut self.config.warnings) {
            self.push(Cell::Error(format!("warning: {w}")));
        }
        match self.config.start.clone() {
            StartWith::New => self.start(None),
            StartWith::Resume(r) => self.start(Some(r)),
            StartWith::Picker => self.open_sessions(),
        }
        // When events arrived: a frame lasts from then until drawn.
        let mut since: Option<Instant> = None;
        loop {
            self.draw(screen)?;
            if let (Some(t), Some(times)) = (since.take(), self.frame_times.as_mut()) {
                if self.turn_started.is_some() {
                    times.push(u32::try_from(t.elapsed().as_micros()).unwrap_or(u32::MAX));
                }
            }
            if let Some(code) = self.quit {
                return Ok(code);
            }
            let mcp_starting = self.mcp.as_ref().is_some_and(|(w, _)| w.starting());
            let mut timeout =
                if self.turn_started.is_some() || self.quit_armed.is_some() || mcp_starting {
                    Duration::from_millis(100)
                } else {
                    Duration::from_secs(1)
                };
            // Undim a guarded modal as soon as it is ready.
            if let Some(left) = self
                .modal
                .as_ref()
                .and_then(Modal::guard)
                .and_then(|g| g.remaining(Instant::now()))
            {
                timeout = timeout.min(left);
            }
            match rx.recv_timeout(timeout) {
                Ok(e) => {
                    since = Some(Instant::now());
                    self.handle(e, screen)?
                }
                Err(RecvTimeoutError::Timeout) => {}
                Err(RecvTimeoutError::Disconnected) => return Ok(1),
            }
            // Take everything already waiting before drawing again.
            while let Ok(e) = rx.try_recv() {
                self.handle(e, screen)?;
                if self.quit.is_some() {
                    break;
                }
            }
            self.poll_mcp(false);
            if self.modal.is_none() {
                if self.interrupt.is_set() {
                    // The calls that asked were interrupted and their askers
                    // answered "cancel" already: no form for them.
                    self.elicitations.clear();
                } else if let Some((request, reply)) = self.elicitations.pop_front() {
                    self.open_elicitation(request, reply);
                }
            }
            self.frame = self.frame.wrapping_add(1);
            if self.quit_armed.is_some_and(|t| t.elapsed() > QUIT_WINDOW) {
                self.quit_armed = None;
            }
        }
    }

    /// Reports the MCP servers' progress (at most ten times a second
    /// unless `now`); the first report waits for the session's header (or
    /// two seconds, when no session starts).
    fn poll_mcp(&mut self, now: bool) {
        let Some((watch, polled)) = self.mcp.as_mut() else {
            return;
        };
        let before_header =
            !self.started_once && !watch.reported() && polled.elapsed() < Duration::from_secs(2);
        if before_header || (!now && polled.elapsed() < Duration::from_millis(100)) {
            return;
        }
        *polled = Instant::now();
        for (text, error) in watch.poll() {
            self.push(if error {
                Cell::Error(text)
            } else {
                Cell::Info(vec![text])
            });
        }
    }

    fn open_elicitation(&mut self, request: ElicitRequest, reply: Sender<ElicitAnswer>) {
        self.notify(
            NotificationKind::ApprovalRequested,
            &format!("cordon: {} asks for input", request.server),
        );
        self.modal = Some(Modal::Elicit {
            form: Box::new(crate::elicit::Form::new(&request)),
            reply,
            guard: KeyGuard::default(),
        });
    }

    fn start(&mut self, resume: Option<Resume>) {
        let _ = self.ops.send(Op::Start(resume));
    }

    fn push(&mut self, mut cell: Cell) {
        self.pending.extend(cell.lines());
        let mut spilled = None;
        if let Cell::Command { output, .. } = &mut cell {
            // A long session with large outputs must not grow without
            // bound: the transcript keeps each output's head and tail,
            // a large one on disk.
            let kept = cordon_core::tools::cap_output(output, TRANSCRIPT_OUTPUT);
            spilled = self.spill.put(&kept);
            *output = if spilled.is_some() {
                String::new()
            } else {
                kept
            };
        }
        self.transcript.push((cell, spilled));
    }

    /// Opens a pager on the alternate screen (the inline view stays on the
    /// main screen, untouched, until it closes).
    fn open_pager(&mut self, title: &str, lines: Vec<Line<'static>>, at_end: bool) {
        let mut out = std::io::stdout();
        if !term::on_alternate_screen() {
            term::set_pager(true);
            let _ = crossterm::execute!(out, crossterm::terminal::EnterAlternateScreen);
        }
        // Cleared here, not with `Terminal::clear`: that asks the terminal
        // where its cursor is, and the answer can be swallowed by the input
        // thread's blocking read (the pager then never draws). On a clear
        // screen a new terminal's first frame draws every cell it needs.
        let _ = crossterm::execute!(
            out,
            crossterm::terminal::Clear(crossterm::terminal::ClearType::All)
        );
        let backend = ratatui::backend::CrosstermBackend::new(std::io::stdout());
        match ratatui::Terminal::new(backend) {
            Ok(terminal) => {
                self.pager = Some(PagerView {
                    pager: crate::pager::Pager::new(title, lines, at_end),
                    terminal,
                });
            }
            Err(e) => {
                self.leave_pager_screen();
                self.push(Cell::Error(format!("cannot open the pager: {e}")));
            }
        }
    }

    fn leave_pager_screen(&mut self) {
        let mut out = std::io::stdout();
        if term::on_alternate_screen() {
            let _ = crossterm::execute!(
                out,
                crossterm::terminal::Clear(crossterm::terminal::ClearType::All)
            );
        } else {
            term::set_pager(false);
            let _ = crossterm::execute!(out, crossterm::terminal::LeaveAlternateScreen);
        }
    }

    fn close_pager(&mut self, screen: &mut Screen<std::io::Stdout>) {
        self.pager = None;
        self.leave_pager_screen();
        screen.invalidate();
    }

    fn open_transcript(&mut self) {
        let lines: Vec<Line<'static>> = self
            .transcript
            .iter()
            .flat_map(|(cell, spilled)| match (cell, spilled) {
                (Cell::Command { .. }, Some(at)) => {
                    let mut cell = cell.clone();
                    if let Cell::Command { output, .. } = &mut cell {
                        *output = self.spill.get(*at).unwrap_or_else(|e| {
                            format!("[cordon could not read this output back: {e}]")
                        });
                    }
                    cell.transcript_lines()
                }
                _ => cell.transcript_lines(),
            })
            .chain(
                (!self.stream.is_empty())
                    .then(|| markdown::render(&cells::clean(&self.stream)))
                    .into_iter()
                    .flatten(),
            )
            .collect();
        self.open_pager("Transcript", lines, true);
    }

    fn handle(
        &mut self,
        event: AppEvent,
        screen: &mut Screen<std::io::Stdout>,
    ) -> Result<(), TuiError> {
        match event {
            AppEvent::Key(key, _) if self.pager.is_some() => {
                let open = key.kind == KeyEventKind::Release
                    || self.pager.as_mut().is_some_and(|p| p.pager.key(&key));
                if !open {
                    self.close_pager(screen);
                }
            }
            AppEvent::Key(key, read_at) => {
                if key.kind != KeyEventKind::Release {
                    self.key(key, read_at, screen)?;
                }
            }
            AppEvent::Term(Event::Paste(text)) => match &mut self.modal {
                Some(Modal::Sessions {
                    filter, selected, ..
                }) => {
                    filter.push_str(text.trim());
                    *selected = 0;
                }
                Some(_) => {}
                None => {
                    self.composer.paste(&text);
                    self.refresh_popup();
                }
            },
            AppEvent::Term(Event::Resize(c, r)) => {
                screen.resize(c, r)?;
                if let Some(p) = self.pager.as_mut() {
                    // A new size clears and redraws the whole pager (no
                    // cursor query: see `open_pager`).
                    let _ = p.terminal.autoresize();
                }
            }
            AppEvent::Term(Event::FocusGained) => self.focused = true,
            AppEvent::Term(Event::FocusLost) => self.focused = false,
            AppEvent::Term(_) => {}
            AppEvent::InputClosed => self.quit = Some(1),
            AppEvent::Signal(sig) => {
                self.interrupt.trigger();
                self.quit = Some(128 + sig);
            }
            AppEvent::Worker(w) => self.worker(w),
            AppEvent::Diff(Ok(text)) if text.trim().is_empty() => self.push(Cell::Info(vec![
                "/diff: no changes (and no untracked files)".into(),
            ])),
            AppEvent::Diff(Ok(text)) => {
                let lines = crate::pager::diff_lines(&text);
                self.open_pager("git diff", lines, false);
            }
            AppEvent::Diff(Err(e)) => self.push(Cell::Error(format!("/diff: {e}"))),
            AppEvent::Elicit(request, reply) => self.elicitations.push_back((request, reply)),
            AppEvent::Files(files) => {
                self.files = Some(Arc::new(files));
                self.files_listing = false;
                self.refresh_popup();
            }
        }
        Ok(())
    }

    /// Recomputes the popup from the composer's text.
    fn refresh_popup(&mut self) {
        let text = self.composer.text();
        if self.popup_dismissed.as_deref() == Some(text) {
            self.popup = None;
            return;
        }
        self.popup_dismissed = None;
        let popup = if let Some(c) = crate::popup::commands(text) {
            Some(Popup::Commands(c))
        } else if let Some((at, query)) = self.composer.mention() {
            let matches = self.files.as_ref().map(|files| {
                crate::files::search(files, query, 50)
                    .into_iter()
                    .map(str::to_string)
                    .collect()
            });
            Some(Popup::Files { at, matches })
        } else {
            None
        };
        if matches!(popup, Some(Popup::Files { matches: None, .. })) && !self.files_listing {
            self.files_listing = true;
            let root = self.config.session.cwd.clone();
            let tx = self.events.clone();
            std::thread::spawn(move || {
                let files = crate::files::list(&root, crate::files::MAX_FILES);
                let _ = tx.send(AppEvent::Files(files));
            });
        }
        if popup.as_ref().map(Popup::len) != self.popup.as_ref().map(Popup::len) {
            self.popup_selected = 0;
        }
        self.popup = popup;
        self.popup_selected = self
            .popup_selected
            .min(self.popup.as_ref().map_or(0, |p| p.len().saturating_sub(1)));
    }

    /// A key for the popup; `true` when it took the key.
    fn popup_key(&mut self, key: &KeyEvent) -> bool {
        let Some(popup) = self.popup.clone() else {
            return false;
        };
        let n = popup.len();
        match key.code {
            KeyCode::Up => self.popup_selected = self.popup_selected.saturating_sub(1),
            KeyCode::Down => {
                self.popup_selected = (self.popup_selected + 1).min(n.saturating_sub(1))
            }
            KeyCode::Esc => {
                self.popup_dismissed = Some(self.composer.text().to_string());
                self.popup = None;
            }
            KeyCode::Tab | KeyCode::Enter if n > 0 => match popup {
                Popup::Commands(c) => {
                    let name = c[self.popup_selected.min(n - 1)].0;
                    if key.code == KeyCode::Enter {
                        self.composer.set_text("");
                        self.popup = None;
                        self.submit(name.to_string());
                    } else {
                        self.composer.set_text(&format!("{name} "));
                        self.refresh_popup();
                    }
                }
                Popup::Files { at, matches } => {
                    if let Some(path) = matches.and_then(|m| m.get(self.popup_selected).cloned()) {
                        self.composer
                            .replace_before_cursor(at, &crate::popup::file_insertion(&path));
                    }
                    self.refresh_popup();
                }
            },
            _ => return false,
        }
        true
    }

    fn notify(&mut self, kind: NotificationKind, message: &str) {
        let wanted = self
            .config
            .notifications
            .as_ref()
            .is_some_and(|n| n.wants(kind));
        if wanted && !self.focused {
            match &self.notifier {
                crate::notify::Notifier::Terminal => self
                    .notifications
                    .push(crate::notify::for_this_terminal(message)),
                crate::notify::Notifier::WslToast(powershell) => {
                    crate::notify::toast(powershell, message)
                }
            }
        }
    }

    fn worker(&mut self, event: WorkerEvent) {
        match event {
            WorkerEvent::Started(info, history) => {
                if self.started_once {
                    self.push(Cell::Info(vec![format!("session {}", info.id)]));
                }
                self.started_once = true;
                self.push(Cell::Header(self.header(&info)));
                self.poll_mcp(true);
                for cell in replay::cells(&history, self.config.hide_agent_reasoning) {
                    self.push(cell);
                }
                self.info = Some(*info);
                if let Some(prompt) = self.config.prompt.take() {
                    self.submit(prompt);
                }
            }
            WorkerEvent::Info(info) => self.info = Some(*info),
            WorkerEvent::Failed(message) => self.push(Cell::Error(message)),
            WorkerEvent::Approval(request, reply) => {
                self.notify(
                    NotificationKind::ApprovalRequested,
                    "cordon: approval requested",
                );
                self.modal = Some(Modal::Approval {
                    request,
                    reply,
                    selected: 0,
                    guard: KeyGuard::default(),
                });
            }
            WorkerEvent::Event(SessionEvent::Agent(e)) => self.agent(e),
            WorkerEvent::Event(SessionEvent::Json(_)) => {}
            WorkerEvent::TurnDone(result) => self.turn_done(result),
            WorkerEvent::CompactDone(result) => self.compact_done(result),
        }
    }

    fn header(&self, info: &SessionInfo) -> HeaderInfo {
        let cwd = &self.config.session.cwd;
        let directory = match std::env::var_os("HOME") {
            Some(home) if !home.is_empty() => match cwd.strip_prefix(&home) {
                Ok(rest) => format!("~/{}", rest.display()),
                Err(_) => cwd.display().to_string(),
            },
            _ => cwd.display().to_string(),
        };
        HeaderInfo {
            version: env!("CARGO_PKG_VERSION").to_string(),
            model: info.model.clone(),
            directory,
            sandbox: info.policy.mode.to_string(),
            network: info.policy.network.to_string(),
            approval: info.approval.to_string(),
        }
    }

    fn flush_stream(&mut self) {
        if !self.stream.trim().is_empty() {
            let text = std::mem::take(&mut self.stream);
            self.push(Cell::Assistant(text));
        }
        self.stream.clear();
    }

    fn agent(&mut self, event: AgentEvent) {
        match event {
            AgentEvent::TextDelta(t) => {
                // The summary comes complete only after the answer: show
                // what there is of it before the answer starts.
                if !self.reasoning.is_empty() {
                    let text = std::mem::take(&mut self.reasoning);
                    self.reasoning_shown = true;
                    if !self.config.hide_agent_reasoning {
                        self.push(Cell::Reasoning(text));
                    }
                }
                self.stream.push_str(&t);
                let at = markdown::commit_point(&self.stream);
                if at > 0 {
                    let rest = self.stream.split_off(at);
                    let done = std::mem::replace(&mut self.stream, rest);
                    if !done.trim().is_empty() {
                        self.push(Cell::Assistant(done));
                    }
                }
            }
            AgentEvent::Reasoning(t) => self.reasoning.push_str(&t),
            AgentEvent::ReasoningCompleted(t) => {
                self.reasoning.clear();
                if !std::mem::take(&mut self.reasoning_shown) && !self.config.hide_agent_reasoning {
                    self.push(Cell::Reasoning(t));
                }
            }
            AgentEvent::MessageCompleted(_) => self.flush_stream(),
            AgentEvent::ToolStarted {
                call_id,
                name,
                arguments,
            } => {
                self.flush_stream();
                if let Some(files) = replay::call_patch(&name, &arguments) {
                    self.patches.insert(call_id, files);
                } else if name == "shell" {
                    self.running.push(Running {
                        call_id,
                        command: cordon_core::runner::display_command(&replay::shell_argv(
                            &arguments,
                        )),
                        started: Instant::now(),
                    });
                }
            }
            AgentEvent::ToolCompleted {
                call_id,
                output,
                detail,
                ..
            } => match detail {
                ToolDetail::Command {
                    command,
                    exit_code,
                    declined,
                    denials: sandbox_denials,
                    ..
                } => {
                    let started = self
                        .running
                        .iter()
                        .position(|r| r.call_id == call_id)
                        .map(|i| self.running.remove(i).started);
                    let denials = cordon_core::runner::proxy_denials(&output);
                    self.push(Cell::Command {
                        command,
                        output: if declined {
                            output
                        } else {
                            cells::command_output(&output)
                        },
                        exit_code,
                        duration: started.map(|s| s.elapsed()),
                        declined,
                    });
                    if !denials.is_empty() {
                        self.push(Cell::ProxyDenied(denials));
                    }
                    if !sandbox_denials.is_empty() {
                        self.push(Cell::SandboxDenied(sandbox_denials));
                    }
                }
                ToolDetail::Patch { changes, applied } => {
                    let files = self
                        .patches
                        .remove(&call_id)
                        .unwrap_or_else(|| replay::changes_files(&changes));
                    self.push(Cell::Patch {
                        files,
                        applied,
                        error: (!applied).then_some(output),
                    });
                }
                ToolDetail::McpCall {
                    server,
                    tool,
                    arguments,
                    result,
                    error,
                } => {
                    let output = match (&error, &result) {
                        (Some(e), _) => e.clone(),
                        _ => output,
                    };
                    self.push(Cell::McpCall {
                        call: cells::mcp_call(&server, &tool, &arguments),
                        output,
                        failed: error.is_some(),
                    });
                }
                ToolDetail::Process {
                    session_id,
                    command,
                    output,
                    exit_code,
                    running,
                } => {
                    if running {
                        let mut lines = vec![format!("• Running {command} (session {session_id})")];
                        let text = cells::command_output(&output);
                        let tail: Vec<&str> = text.lines().collect();
                        lines.extend(
                            tail[tail.len().saturating_sub(5)..]
                                .iter()
                                .map(|l| format!("    {l}")),
                        );
                        self.push(Cell::Info(lines));
                    } else {
                        self.push(Cell::Command {
                            command,
                            output: cells::command_output(&output),
                            exit_code,
                            duration: None,
                            declined: false,
                        });
                    }
                }
                ToolDetail::None => {
                    self.patches.remove(&call_id);
                }
            },
            AgentEvent::McpCallStarted { .. } => self.flush_stream(),
            AgentEvent::Warning(text) => self.push(Cell::Error(text)),
            AgentEvent::Plan(plan) => self.push(Cell::Plan(cells::plan_steps(&plan))),
            AgentEvent::Retrying {
                attempt,
                delay,
                reason,
            } => {
                // What streamed before the failure comes again.
                self.stream.clear();
                self.push(Cell::Error(format!(
                    "{reason}; retry {attempt} in {:.1} s",
                    delay.as_secs_f64()
                )));
            }
            AgentEvent::Usage(u) => self.context_used = Some(u.input_tokens + u.output_tokens),
            AgentEvent::Compacted { summary, .. } => {
                self.flush_stream();
                self.push(Cell::Info(vec![
                    "context compacted: the conversation so far is replaced by this summary".into(),
                ]));
                self.push(Cell::Assistant(summary));
            }
            AgentEvent::Item(_) => {}
        }
    }

    fn compact_done(&mut self, result: Result<cordon_core::model::Usage, String>) {
        self.turn_started = None;
        if let Err(e) = result {
            self.push(Cell::Error(format!("/compact: {e}")));
        }
        self.context_used = self.info.as_ref().and_then(|i| i.context_tokens);
        if let Some(next) = self.queued.pop_front() {
            self.submit(next);
        }
    }

    fn turn_done(&mut self, result: Result<(String, cordon_core::model::Usage), String>) {
        if matches!(self.modal, Some(Modal::Elicit { .. })) {
            // The call that asked is over: its question goes unanswered.
            self.modal = None;
            self.push(Cell::Info(vec![
                "the server's question was withdrawn (the turn ended)".into(),
            ]));
        }
        // So are the calls behind the questions still waiting their turn.
        self.elicitations.clear();
        self.flush_stream();
        self.reasoning.clear();
        self.reasoning_shown = false;
        self.running.clear();
        self.patches.clear();
        self.turn_started = None;
        match result {
            Ok((_, usage)) => {
                // The last request's context, not the turn's sum (which
                // counts the history once per round trip).
                self.context_used = self
                    .info
                    .as_ref()
                    .and_then(|i| i.context_tokens)
                    .or(Some(usage.input_tokens + usage.output_tokens));
                self.notify(NotificationKind::AgentTurnComplete, "cordon: turn complete");
            }
            Err(e) if e.starts_with("interrupted") => {
                self.queued.clear();
                self.push(Cell::Error(
                    "Interrupted: the turn stopped and its commands were killed. Tell cordon what to do differently.".into(),
                ));
            }
            Err(e) => self.push(Cell::Error(e)),
        }
        if let Some(next) = self.queued.pop_front() {
            self.submit(next);
        }
    }

    fn submit(&mut self, text: String) {
        if let Some(slash) = crate::slash::parse(&text) {
            self.slash(slash);
            return;
        }
        if self.turn_started.is_some() {
            self.queued.push_back(text);
            return;
        }
        self.composer.remember(&text);
        self.push(Cell::User(text.clone()));
        self.turn_started = Some(Instant::now());
        let _ = self.ops.send(Op::Turn(text));
    }

    fn key(
        &mut self,
        key: KeyEvent,
        read_at: Instant,
        screen: &mut Screen<std::io::Stdout>,
    ) -> Result<(), TuiError> {
        let ctrl = key.modifiers.contains(KeyModifiers::CONTROL);
        if let Some(modal) = &self.modal {
            // Keys typed for the composer as the modal opened are dropped.
            if modal.guard().is_none_or(|g| g.admits(&key, read_at)) {
                self.modal_key(key);
            }
            return Ok(());
        }
        let running = self.turn_started.is_some();
        match key.code {
            KeyCode::Char('c') if ctrl => {
                if running {
                    self.interrupt.trigger();
                } else if !self.composer.is_empty() {
                    self.composer.set_text("");
                } else if self.quit_armed.is_some() {
                    self.quit = Some(0);
                } else {
                    self.quit_armed = Some(Instant::now());
                }
                return Ok(());
            }
            KeyCode::Char('d') if ctrl && self.composer.is_empty() => {
                self.quit = Some(0);
                return Ok(());
            }
            KeyCode::Char('t') if ctrl => {
                self.open_transcript();
                return Ok(());
            }
            KeyCode::Char('l') if ctrl => {
                screen.resize(screen.cols(), screen.rows())?;
                return Ok(());
            }
            KeyCode::Esc if running => {
                self.interrupt.trigger();
                return Ok(());
            }
            KeyCode::Tab if running && !self.composer.is_empty() => {
                let text = self.composer.take();
                self.queued.push_back(text);
                return Ok(());
            }
            _ => {}
        }
        self.quit_armed = None;
        if self.popup_key(&key) {
            return Ok(());
        }
        if let Outcome::Submit(text) = self.composer.key(key) {
            self.submit(text);
        }
        self.refresh_popup();
        Ok(())
    }

    fn modal_key(&mut self, key: KeyEvent) {
        let ctrl_c =
            key.code == KeyCode::Char('c') && key.modifiers.contains(KeyModifiers::CONTROL);
        let Some(modal) = self.modal.take() else {
            return;
        };
        match modal {
            Modal::Approval {
                request,
                reply,
                mut selected,
                guard,
            } => {
                let options: Vec<ApprovalDecision> = widgets::approval_options(&request)
                    .into_iter()
                    .map(|(_, d)| d)
                    .collect();
                let offered = |d: ApprovalDecision| options.contains(&d).then_some(d);
                let decision = match key.code {
                    _ if ctrl_c => Some(ApprovalDecision::Abort),
                    KeyCode::Char('y') => offered(ApprovalDecision::Approve),
                    KeyCode::Char('a') => offered(ApprovalDecision::ApproveForSession),
                    KeyCode::Char('h') => offered(ApprovalDecision::AllowDomainsForSession),
                    KeyCode::Char('n') | KeyCode::Esc => Some(ApprovalDecision::Abort),
                    KeyCode::Up => {
                        selected = selected.saturating_sub(1);
                        None
                    }
                    KeyCode::Down => {
                        selected = (selected + 1).min(options.len().saturating_sub(1));
                        None
                    }
                    KeyCode::Enter => options.get(selected).copied(),
                    _ => None,
                };
                match decision {
                    Some(d) => {
                        let what = match &request.action {
                            cordon_core::approval::ApprovalAction::Command { argv, .. } => {
                                cordon_core::runner::display_command(argv)
                            }
                            cordon_core::approval::ApprovalAction::Patch { files } => files
                                .iter()
                                .map(|f| f.path.display().to_string())
                                .collect::<Vec<_>>()
                                .join(", "),
                            cordon_core::approval::ApprovalAction::McpToolCall {
                                server,
                                tool,
                                arguments,
                            } => cells::mcp_call(server, tool, arguments),
                        };
                        let said = match d {
                            ApprovalDecision::Approve => format!("✔ approved: {what}"),
                            ApprovalDecision::ApproveForSession => {
                                format!("✔ approved for this session: {what}")
                            }
                            ApprovalDecision::AllowDomainsForSession => match &request.reason {
                                cordon_core::approval::ApprovalReason::ProxyDenied {
                                    hosts,
                                    ..
                                } => format!(
                                    "✔ allowed {} for this session; running it again: {what}",
                                    hosts.join(", ")
                                ),
                                _ => format!("✔ {what}"),
                            },
                            ApprovalDecision::Deny | ApprovalDecision::Abort => {
                                format!("✗ declined: {what}")
                            }
                        };
                        self.push(Cell::Info(vec![said]));
                        // The command's time starts now, not while it waited.
                        for r in self
                            .running
                            .iter_mut()
                            .filter(|r| r.call_id == request.call_id)
                        {
                            r.started = Instant::now();
                        }
                        let _ = reply.send(d);
                    }
                    None => {
                        self.modal = Some(Modal::Approval {
                            request,
                            reply,
                            selected,
                            guard,
                        })
                    }
                }
            }
            Modal::Elicit {
                mut form,
                reply,
                guard,
            } => match form.key(&key) {
                Some(answer) => {
                    let said = match &answer {
                        ElicitAnswer::Accept(_) => "✔ answered",
                        ElicitAnswer::Decline => "✗ declined",
                        ElicitAnswer::Cancel => "✗ cancelled",
                    };
                    self.push(Cell::Info(vec![format!(
                        "{said}: {}'s question",
                        form.server()
                    )]));
                    let _ = reply.send(answer);
                    if ctrl_c {
                        self.interrupt.trigger();
                    }
                }
                None => self.modal = Some(Modal::Elicit { form, reply, guard }),
            },
            Modal::Permissions { mut selected } => {
                let choice = match key.code {
                    _ if ctrl_c => return,
                    KeyCode::Esc => return,
                    KeyCode::Char(c @ '1'..='3') => Some(usize::from(c as u8 - b'1')),
                    KeyCode::Up => {
                        selected = selected.saturating_sub(1);
                        None
                    }
                    KeyCode::Down => {
                        selected = (selected + 1).min(widgets::PERMISSION_PRESETS.len() - 1);
                        None
                    }
                    KeyCode::Enter => Some(selected),
                    _ => None,
                };
                match choice {
                    Some(i) => self.set_permissions(i),
                    None => self.modal = Some(Modal::Permissions { selected }),
                }
            }
            Modal::Sessions {
                all,
                mut filter,
                mut selected,
            } => {
                let shown = filtered(&all, &filter);
                match key.code {
                    _ if ctrl_c => return self.picker_closed(),
                    KeyCode::Esc => return self.picker_closed(),
                    KeyCode::Enter => {
                        if let Some(s) = shown.get(selected) {
                            let id = s.id.clone();
                            self.start(Some(Resume::Id(id)));
                            return;
                        }
                    }
                    KeyCode::Up => selected = selected.saturating_sub(1),
                    KeyCode::Down => selected = (selected + 1).min(shown.len().saturating_sub(1)),
                    KeyCode::Backspace => {
                        filter.pop();
                        selected = 0;
                    }
                    KeyCode::Char(c) if !key.modifiers.contains(KeyModifiers::CONTROL) => {
                        filter.push(c);
                        selected = 0;
                    }
                    _ => {}
                }
                self.modal = Some(Modal::Sessions {
                    all,
                    filter,
                    selected,
                });
            }
        }
    }

    fn picker_closed(&mut self) {
        if self.info.is_none() {
            self.start(None);
        }
    }

    fn open_sessions(&mut self) {
        let all = cordon_core::session::list_sessions(&self.config.session.home);
        self.modal = Some(Modal::Sessions {
            all,
            filter: String::new(),
            selected: 0,
        });
    }

    fn set_permissions(&mut self, preset: usize) {
        let Some(&(label, _, mode, approval)) = widgets::PERMISSION_PRESETS.get(preset) else {
            return;
        };
        match (self.config.resolve_policy)(mode) {
            Ok(policy) => {
                self.push(Cell::Info(vec![format!(
                    "permissions: {label} (sandbox {}, network {}, approval {approval})",
                    policy.mode, policy.network
                )]));
                let _ = self
                    .ops
                    .send(Op::SetPermissions(Box::new(policy), approval));
            }
            Err(e) => self.push(Cell::Error(format!("cannot switch to {label}: {e}"))),
        }
    }

    fn slash(&mut self, slash: Slash) {
        let busy = self.turn_started.is_some();
        match slash {
            Slash::Quit => self.quit = Some(0),
            Slash::Status => {
                let lines = self.status_lines();
                self.push(Cell::Info(lines));
            }
            Slash::Ps => {
                let running = self
                    .info
                    .as_ref()
                    .map(|i| i.processes.clone())
                    .unwrap_or_default();
                let lines = if running.is_empty() {
                    vec!["no command is running".to_string()]
                } else {
                    running
                        .iter()
                        .map(|(id, command, secs)| format!("session {id}: {command} ({secs} s)"))
                        .collect()
                };
                self.push(Cell::Info(lines));
            }
            Slash::Mcp => {
                let servers = self
                    .mcp
                    .as_ref()
                    .map(|(w, _)| w.servers())
                    .unwrap_or_default();
                self.push(Cell::Info(crate::mcp::list_lines(&servers)));
            }
            Slash::Model(None) => {
                let model = self
                    .info
                    .as_ref()
                    .map(|i| i.model.clone())
                    .unwrap_or_default();
                self.push(Cell::Info(vec![format!(
                    "model: {model} (switch with /model NAME)"
                )]));
            }
            Slash::Model(Some(name)) => {
                self.push(Cell::Info(vec![format!(
                    "model: {name} from the next turn on"
                )]));
                let _ = self.ops.send(Op::SetModel(name));
            }
            _ if busy => self.push(Cell::Error(
                "wait for the turn to end (or press Esc)".into(),
            )),
            Slash::Approvals(Some(arg)) => match arg.as_str() {
                "read-only" => self.set_permissions(0),
                "auto" => self.set_permissions(1),
                "full-access" => self.set_permissions(2),
                other => self.push(Cell::Error(format!(
                    "/approvals {other}: choose read-only, auto or full-access"
                ))),
            },
            Slash::Approvals(None) => self.modal = Some(Modal::Permissions { selected: 1 }),
            Slash::New => {
                self.context_used = None;
                self.start(None);
            }
            Slash::Resume => self.open_sessions(),
            Slash::Diff => {
                let cwd = self.config.session.cwd.clone();
                let roots: Vec<std::path::PathBuf> = self
                    .info
                    .as_ref()
                    .map(|i| &i.policy)
                    .unwrap_or(&self.config.session.policy)
                    .writable_roots
                    .iter()
                    .map(|r| r.root.clone())
                    .collect();
                let tx = self.events.clone();
                std::thread::spawn(move || {
                    let _ = tx.send(AppEvent::Diff(crate::diff::workspace_diff(&cwd, &roots)));
                });
            }
            Slash::Compact => {
                self.turn_started = Some(Instant::now());
                self.push(Cell::Info(vec!["compacting the conversation…".into()]));
                let _ = self.ops.send(Op::Compact);
            }
            Slash::Mention => {
                self.composer.insert_text("@");
                self.refresh_popup();
            }
            Slash::Init => {
                let existing = self.config.session.cwd.join("AGENTS.md");
                if std::fs::symlink_metadata(&existing).is_ok() {
                    self.push(Cell::Info(vec![format!(
                        "/init: {} already exists; nothing asked (edit it, or remove it and run /init again)",
                        existing.display()
                    )]));
                } else {
                    self.submit(crate::slash::INIT_PROMPT.to_string());
                }
            }
            Slash::Unknown(name) => {
                let known: Vec<&str> = crate::slash::COMMANDS.iter().map(|(n, _)| *n).collect();
                self.push(Cell::Error(format!(
                    "unknown command {name}; commands: {}",
                    known.join(" ")
                )));
            }
        }
    }

    fn context_window(&self) -> Option<u64> {
        let model = self.info.as_ref().map(|i| i.model.as_str()).unwrap_or("");
        self.config
            .context_window
            .or_else(|| crate::context::default_window(model))
    }

    fn context_left(&self) -> Option<u8> {
        let window = self.context_window()?;
        let used = self.context_used?;
        crate::context::percent_left(used, window)
    }

    fn status_lines(&self) -> Vec<String> {
        let Some(i) = &self.info else {
            return vec!["no session is running".into()];
        };
        let roots: Vec<String> = i
            .policy
            .writable_roots
            .iter()
            .map(|r| r.root.display().to_string())
            .collect();
        let agents: Vec<String> = i
            .agents_files
            .iter()
            .map(|p| p.display().to_string())
            .collect();
        let mut out = vec![
            "/status".to_string(),
            format!("session:    {}", i.id),
            format!(
                "model:      {} (provider {}, {})",
                i.model, i.provider, i.endpoint
            ),
            format!("directory:  {}", self.config.session.cwd.display()),
            format!("sandbox:    {}", i.policy.mode),
            format!(
                "writable:   {}",
                if roots.is_empty() {
                    "nothing".into()
                } else {
                    roots.join(", ")
                }
            ),
            format!("network:    {}", i.policy.network),
        ];
        if !self.config.domain_rules.is_empty() {
            out.push(format!(
                "domains:    {}",
                self.config.domain_rules.join(", ")
            ));
        }
        if !i.session_domains.is_empty() {
            out.push(format!(
                "allowed for this session: {}",
                i.session_domains.join(", ")
            ));
        }
        out.push(format!("approval:   {}", i.approval));
        out.push(format!(
            "AGENTS.md:  {}",
            if agents.is_empty() {
                "none".into()
            } else {
                agents.join(", ")
            }
        ));
        out.push(format!(
            "tokens:     {} in, {} out",
            i.usage.input_tokens, i.usage.output_tokens
        ));
        if let (Some(w), Some(left)) = (self.context_window(), self.context_left()) {
            out.push(format!("context:    {left}% left of {w}"));
        }
        if let Some(e) = &i.rollout_error {
            out.push(format!("session file stopped: {e}"));
        }
        out
    }

    fn status(&self) -> Status {
        let (model, sandbox, network) = match &self.info {
            Some(i) => (
                i.model.clone(),
                i.policy.mode.to_string(),
                i.policy.network.to_string(),
            ),
            None => (self.config.session.model.clone(), "…".into(), "…".into()),
        };
        Status {
            working_secs: self.turn_started.map(|t| t.elapsed().as_secs()),
            frame: self.frame,
            hint: self
                .quit_armed
                .map(|_| "ctrl+c again to quit".to_string())
                .or_else(|| match &self.modal {
                    Some(Modal::Elicit { form, .. }) => Some(format!(
                        "waiting for your answer to {}'s question",
                        cells::clean(form.server())
                    )),
                    _ => None,
                }),
            context_left: self.context_left(),
            model,
            sandbox,
            network,
        }
    }

    fn live_lines(&self) -> Vec<Line<'static>> {
        let mut out: Vec<Line<'static>> = Vec::new();
        if !self.reasoning.is_empty() && self.stream.is_empty() && !self.config.hide_agent_reasoning
        {
            if let Some(last) = self.reasoning.lines().last() {
                out.push(Line::from(Span::styled(
                    cells::clean(last),
                    Style::new().add_modifier(Modifier::DIM | Modifier::ITALIC),
                )));
            }
        }
        if !self.stream.is_empty() {
            let lines = markdown::render(&cells::clean(&self.stream));
            let skip = lines.len().saturating_sub(LIVE_ROWS);
            out.extend(lines.into_iter().skip(skip));
        }
        for r in &self.running {
            out.push(Line::from(vec![
                "• ".cyan().bold(),
                "Running ".bold(),
                Span::raw(cells::clean(&r.command)),
                format!(" ({})", widgets::elapsed(r.started.elapsed().as_secs())).dim(),
            ]));
        }
        for q in &self.queued {
            let first = q.lines().next().unwrap_or("");
            out.push(Line::from(vec![
                "↳ queued: ".dim(),
                Span::styled(
                    cells::clean(first),
                    Style::new().add_modifier(Modifier::DIM),
                ),
            ]));
        }
        out
    }

    fn modal_lines(&self, max_rows: usize, width: u16) -> Option<Vec<Line<'static>>> {
        let now = Instant::now();
        Some(match self.modal.as_ref()? {
            Modal::Elicit { form, guard, .. } => {
                let mut lines = form.lines(max_rows, width);
                if !guard.ready(now) {
                    lines.iter_mut().for_each(crate::guard::dim);
                }
                lines
            }
            Modal::Approval {
                request,
                selected,
                guard,
                ..
            } => {
                if guard.ready(now) {
                    widgets::approval_lines(request, *selected, max_rows, width)
                } else {
                    // No option selected, the title and options dimmed.
                    let mut lines = widgets::approval_lines(request, usize::MAX, max_rows, width);
                    let options = widgets::approval_options(request).len();
                    let first_option = lines.len().saturating_sub(options);
                    lines.iter_mut().take(1).for_each(crate::guard::dim);
                    lines
                        .iter_mut()
                        .skip(first_option)
                        .for_each(crate::guard::dim);
                    lines
                }
            }
            Modal::Permissions { selected } => {
                let items: Vec<String> = widgets::PERMISSION_PRESETS
                    .iter()
                    .enumerate()
                    .map(|(i, (label, what, ..))| format!("{}. {label}: {what}", i + 1))
                    .collect();
                widgets::list_lines(
                    "Permissions",
                    &items,
                    *selected,
                    "1-3 or Enter to choose, Esc to cancel",
                )
            }
            Modal::Sessions {
                all,
                filter,
                selected,
            } => {
                let now = cordon_core::ids::now_secs();
                let shown = filtered(all, filter);
                let room = max_rows.saturating_sub(3).max(1);
                let first = (*selected + 1).saturating_sub(room);
                let items: Vec<String> = shown
                    .iter()
                    .skip(first)
                    .take(room)
                    .map(|s| widgets::session_row(s, now))
                    .collect();
                let title = if filter.is_empty() {
                    "Resume a session (type to filter)".to_string()
                } else {
                    format!("Resume a session: {filter}")
                };
                widgets::list_lines(
                    &title,
                    &items,
                    selected - first,
                    "Enter to resume, Esc to start a new session",
                )
            }
        })
    }

    fn draw(&mut self, screen: &mut Screen<std::io::Stdout>) -> Result<(), TuiError> {
        for n in std::mem::take(&mut self.notifications) {
            let mut out = std::io::stdout();
            out.write_all(n.as_bytes())?;
        }
        if let Some(view) = self.pager.as_mut() {
            // New cells wait for the main screen.
            let pager = &mut view.pager;
            view.terminal.draw(|f| {
                let area = f.area();
                pager.render(area, f.buffer_mut());
            })?;
            return Ok(());
        }
        let pending = std::mem::take(&mut self.pending);
        screen.insert_lines(&pending)?;
        let width = screen.cols();
        let max_rows = usize::from(screen.rows().saturating_sub(1)).max(3);
        let status = widgets::status_line(&self.status(), width);
        let modal = self.modal_lines(max_rows.saturating_sub(2), width);
        let popup = match (&modal, &self.popup) {
            (None, Some(p)) => crate::popup::lines(p, self.popup_selected),
            _ => Vec::new(),
        };
        let popup_rows = u16::try_from(popup.len()).unwrap_or(0);
        let bottom_rows = match &modal {
            Some(lines) => line_count(lines, width),
            None => self.composer.height(width) + popup_rows,
        };
        let live = self.live_lines();
        let mut live_rows = line_count(&live, width);
        let budget = u16::try_from(max_rows)
            .unwrap_or(u16::MAX)
            .saturating_sub(bottom_rows + 2);
        live_rows = live_rows.min(budget);
        let height = 1 + live_rows + 1 + bottom_rows;
        let composer = &self.composer;
        screen.draw(height, |area, buf| {
            let live_area = Rect::new(area.x, area.y + 1, area.width, live_rows);
            render_tail(&live, live_area, buf);
            let status_area = Rect::new(area.x, live_area.bottom(), area.width, 1);
            buf.set_line(status_area.x, status_area.y, &status, area.width);
            let bottom = Rect::new(
                area.x,
                status_area.bottom(),
                area.width,
                area.bottom().saturating_sub(status_area.bottom()),
            );
            match modal {
                Some(lines) => {
                    widgets::render_lines(lines, bottom, buf);
                    None
                }
                None => {
                    let composer_area = Rect {
                        height: bottom.height.saturating_sub(popup_rows),
                        ..bottom
                    };
                    let cursor = composer.render(composer_area, buf, "Ask cordon to do anything");
                    for (i, line) in popup.iter().enumerate() {
                        let y = composer_area.bottom() + u16::try_from(i).unwrap_or(0);
                        if y < bottom.bottom() {
                            buf.set_line(bottom.x, y, line, bottom.width);
                        }
                    }
                    Some(cursor)
                }
            }
        })?;
        if let Some(Modal::Approval { guard, .. } | Modal::Elicit { guard, .. }) = &mut self.modal {
            guard.drawn(Instant::now());
        }
        Ok(())
    }
}

fn filtered<'a>(all: &'a [SessionSummary], filter: &str) -> Vec<&'a SessionSummary> {
    let f = filter.to_lowercase();
    all.iter()
        .filter(|s| {
            f.is_empty()
                || s.first_prompt.to_lowercase().contains(&f)
                || s.cwd.to_lowercase().contains(&f)
                || s.id.contains(&f)
        })
        .collect()
}

/// Rows `lines` take wrapped at `width`.
pub fn line_count(lines: &[Line<'static>], width: u16) -> u16 {
    if lines.is_empty() {
        return 0;
    }
    let n = Paragraph::new(lines.to_vec())
        .wrap(Wrap { trim: false })
        .line_count(width);
    u16::try_from(n).unwrap_or(u16::MAX)
}

/// Renders the last rows of `lines` that fit `area`.
fn render_tail(lines: &[Line<'static>], area: Rect, buf: &mut Buffer) {
    if area.height == 0 {
        return;
    }
    let total = line_count(lines, area.width);
    let scroll = total.saturating_sub(area.height);
    Paragraph::new(lines.to_vec())
        .wrap(Wrap { trim: false })
        .scroll((scroll, 0))
        .render(area, buf);
}

/// The transcript's spill file: in `$CORDON_HOME`, unless that is inside
/// a writable root of the session's policy or the working directory
/// (every workspace-write policy's root, should `/approvals` switch to it).
fn spill_for(session: &crate::SessionTemplate) -> crate::spill::Spill {
    let roots: Vec<std::path::PathBuf> = session
        .policy
        .writable_roots
        .iter()
        .map(|r| r.root.clone())
        .chain(std::iter::once(session.cwd.clone()))
        .collect();
    crate::spill::Spill::open(&session.home, &roots)
}

/// glibc raises its mmap threshold each time a large block is freed, so
/// after the first big request body every later one (and each command's
/// output) comes from the heap, whose freed pages a long session keeps:
/// a fixed threshold hands blocks of 128 KiB and more back to the system
/// when freed (benches/tui_bench.sh: 45 MiB resident after 200 turns
/// with large outputs, 29 MiB with it).
fn large_allocations_return_to_the_system() {
    #[cfg(all(target_os = "linux", target_env = "gnu"))]
    // SAFETY: mallopt only sets an allocator parameter; called before the
    // UI starts its threads.
    unsafe {
        libc::mallopt(libc::M_MMAP_THRESHOLD, 128 * 1024);
    }
}
