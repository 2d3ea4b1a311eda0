//! The interactive UI end to end: the real `cordon` in a pseudo-terminal
//! (a `vt100` parser reads the screen) against the scripted model server.
//! Every wait is bounded; a test's `cordon` is killed when it ends.

use super::common::{World, CORDON};
use super::fake_model::{responses_call, responses_text, FakeModel, Reply};
use serde_json::json;
use std::io::{Read, Write};
use std::os::fd::{FromRawFd, OwnedFd};
use std::process::{Child, Command, Stdio};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

pub(super) const ROWS: u16 = 60;
pub(super) const COLS: u16 = 100;
const WAIT: Duration = Duration::from_secs(20);

fn configure(w: &World, model: &FakeModel, extra: &str) {
    std::fs::write(
        w.home.path().join("config.toml"),
        format!(
            "model = \"fake-model\"\nmodel_provider = \"fake\"\n{extra}\n[model_providers.fake]\nname = \"Fake\"\nbase_url = \"{}\"\nwire_api = \"responses\"\nenv_key = \"FAKE_MODEL_KEY\"\nrequest_max_retries = 0\nstream_max_retries = 0\n",
            model.base_url()
        ),
    )
    .unwrap();
}

/// `cordon` running in a pseudo-terminal.
pub(super) struct Tui {
    master: std::fs::File,
    /// The terminal side, kept open to read its modes after cordon exits.
    slave: OwnedFd,
    child: Child,
    parser: Arc<Mutex<vt100::Parser>>,
    raw: Arc<Mutex<Vec<u8>>>,
}

impl Tui {
    pub(super) fn spawn(w: &World, args: &[&str], env: &[(&str, &str)]) -> Tui {
        let (mut m, mut s) = (0, 0);
        let size = libc::winsize {
            ws_row: ROWS,
            ws_col: COLS,
            ws_xpixel: 0,
            ws_ypixel: 0,
        };
        // SAFETY: openpty writes two descriptors; the size is read only.
        let rc = unsafe {
            libc::openpty(
                &mut m,
                &mut s,
                std::ptr::null_mut(),
                std::ptr::null(),
                &size,
            )
        };
        assert_eq!(rc, 0, "openpty: {}", std::io::Error::last_os_error());
        // SAFETY: both descriptors were just opened and are owned here.
        let (master, slave) = unsafe { (std::fs::File::from_raw_fd(m), OwnedFd::from_raw_fd(s)) };
        let mut cmd = Command::new(CORDON);
        cmd.args(args)
            .current_dir(w.work())
            .env("CORDON_HOME", w.home.path())
            .env("FAKE_MODEL_KEY", "sk-test")
            .env("TERM", "xterm-256color")
            .env_remove("HTTP_PROXY")
            .env_remove("http_proxy")
            .env_remove("TMUX")
            .env_remove("TERM_PROGRAM")
            .env_remove("NO_COLOR")
            .stdin(Stdio::from(slave.try_clone().unwrap()))
            .stdout(Stdio::from(slave.try_clone().unwrap()))
            .stderr(Stdio::from(slave.try_clone().unwrap()));
        for (k, v) in env {
            cmd.env(k, v);
        }
        // SAFETY: only async-signal-safe calls between fork and exec.
        unsafe {
            std::os::unix::process::CommandExt::pre_exec(&mut cmd, || {
                if libc::setsid() < 0 || libc::ioctl(0, libc::TIOCSCTTY, 0) < 0 {
                    return Err(std::io::Error::last_os_error());
                }
                Ok(())
            });
        }
        let child = cmd.spawn().unwrap();
        let parser = Arc::new(Mutex::new(vt100::Parser::new(
            ROWS.try_into().unwrap(),
            COLS.try_into().unwrap(),
            1000,
        )));
        let raw = Arc::new(Mutex::new(Vec::new()));
        let (p, r) = (parser.clone(), raw.clone());
        let mut reader = master.try_clone().unwrap();
        let mut answer = master.try_clone().unwrap();
        std::thread::spawn(move || {
            let mut buf = [0u8; 8192];
            loop {
                let n = match reader.read(&mut buf) {
                    Ok(0) | Err(_) => return,
                    Ok(n) => n,
                };
                let mut chunk = &buf[..n];
                r.lock().unwrap().extend_from_slice(chunk);
                // Answer cursor position queries as a terminal would.
                while let Some(at) = find(chunk, b"\x1b[6n") {
                    let mut parser = p.lock().unwrap();
                    parser.process(&chunk[..at]);
                    let (row, col) = parser.screen().cursor_position();
                    let _ = answer.write_all(format!("\x1b[{};{}R", row + 1, col + 1).as_bytes());
                    chunk = &chunk[at + 4..];
                }
                p.lock().unwrap().process(chunk);
            }
        });
        Tui {
            master,
            slave,
            child,
            parser,
            raw,
        }
    }

    pub(super) fn send(&mut self, bytes: &str) {
        self.master.write_all(bytes.as_bytes()).unwrap();
        self.master.flush().unwrap();
    }

    /// Types `text` a key at a time, then Enter.
    fn type_line(&mut self, text: &str) {
        for c in text.chars() {
            self.send(&c.to_string());
        }
        std::thread::sleep(Duration::from_millis(50));
        self.send("\r");
    }

    pub(super) fn screen(&self) -> String {
        self.parser.lock().unwrap().screen().contents()
    }

    fn raw(&self) -> Vec<u8> {
        self.raw.lock().unwrap().clone()
    }

    /// The last `n` bytes cordon wrote to the terminal, escaped: what a
    /// timed-out wait saw drawn (or not).
    fn raw_tail(&self, n: usize) -> String {
        let raw = self.raw.lock().unwrap();
        let tail = &raw[raw.len().saturating_sub(n)..];
        tail.escape_ascii().to_string()
    }

    #[track_caller]
    pub(super) fn wait_for(&self, what: &str) -> String {
        self.wait_until(what, |s| s.contains(what))
    }

    #[track_caller]
    pub(super) fn wait_until(&self, what: &str, ok: impl Fn(&str) -> bool) -> String {
        let start = Instant::now();
        loop {
            let screen = self.screen();
            if ok(&screen) {
                return screen;
            }
            if start.elapsed() > WAIT {
                panic!(
                    "timed out waiting for {what:?}; the screen:\n{screen}\nthe last bytes written:\n{}",
                    self.raw_tail(2000)
                );
            }
            std::thread::sleep(Duration::from_millis(30));
        }
    }

    /// Waits until `what` is on screen drawn undimmed: a modal that opened
    /// by itself (an approval, an MCP form) dims its title and options
    /// while it still ignores keys (cordon_tui::guard).
    #[track_caller]
    pub(super) fn wait_ready(&self, what: &str) -> String {
        let start = Instant::now();
        loop {
            if let Some(dim) = self.dim_at(what) {
                if !dim {
                    return self.screen();
                }
            }
            if start.elapsed() > WAIT {
                panic!(
                    "timed out waiting for {what:?} undimmed; the screen:\n{}",
                    self.screen()
                );
            }
            std::thread::sleep(Duration::from_millis(10));
        }
    }

    /// Whether the first character of `what` on screen is dim (`None`: not
    /// on screen).
    pub(super) fn dim_at(&self, what: &str) -> Option<bool> {
        let parser = self.parser.lock().unwrap();
        let screen = parser.screen();
        for (row, text) in screen.rows(0, COLS).enumerate() {
            if let Some(at) = text.find(what) {
                let col = text[..at].chars().count();
                let cell = screen.cell(row.try_into().unwrap(), col.try_into().unwrap())?;
                return Some(cell.dim());
            }
        }
        None
    }

    pub(super) fn wait_exit(&mut self) -> std::process::ExitStatus {
        let start = Instant::now();
        loop {
            if let Some(status) = self.child.try_wait().unwrap() {
                return status;
            }
            assert!(
                start.elapsed() < WAIT,
                "cordon did not exit:\n{}",
                self.screen()
            );
            std::thread::sleep(Duration::from_millis(30));
        }
    }

    /// Resizes the terminal (the kernel signals its foreground group).
    pub(super) fn resize(&self, rows: u16, cols: u16) {
        self.parser
            .lock()
            .unwrap()
            .screen_mut()
            .set_size(rows.try_into().unwrap(), cols.try_into().unwrap());
        let size = libc::winsize {
            ws_row: rows,
            ws_col: cols,
            ws_xpixel: 0,
            ws_ypixel: 0,
        };
        // SAFETY: sets the window size of the terminal this test opened.
        let rc = unsafe {
            libc::ioctl(
                std::os::fd::AsRawFd::as_raw_fd(&self.master),
                libc::TIOCSWINSZ,
                &size,
            )
        };
        assert_eq!(rc, 0, "{}", std::io::Error::last_os_error());
    }

    /// `stty -a` on the terminal.
    pub(super) fn stty(&self) -> String {
        let out = Command::new("stty")
            .arg("-a")
            .stdin(Stdio::from(self.slave.try_clone().unwrap()))
            .output()
            .unwrap();
        String::from_utf8_lossy(&out.stdout).into_owned()
    }
}

impl Drop for Tui {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

fn find(hay: &[u8], needle: &[u8]) -> Option<usize> {
    hay.windows(needle.len()).position(|w| w == needle)
}

fn ready(t: &Tui) {
    t.wait_for("Ask cordon to do anything");
}

#[test]
fn tui_refuses_without_a_terminal_and_points_to_exec() {
    let w = World::new();
    let out = Command::new(CORDON)
        .current_dir(w.work())
        .env("CORDON_HOME", w.home.path())
        .stdin(Stdio::null())
        .output()
        .unwrap();
    assert_eq!(out.status.code(), Some(2));
    let err = String::from_utf8_lossy(&out.stderr);
    assert!(
        err.contains("needs a terminal") && err.contains("cordon exec"),
        "{err}"
    );
}

#[test]
fn tui_prompt_streams_the_answer_and_quit_restores_the_terminal() {
    let w = World::new();
    let model = FakeModel::start(vec![Reply::Sse(responses_text(
        "The answer is **42**.\n\n- first point\n- second point",
    ))]);
    configure(&w, &model, "");
    let mut t = Tui::spawn(&w, &[], &[]);
    ready(&t);
    let header = t.screen();
    assert!(header.contains("model:     fake-model"), "{header}");
    assert!(
        header.contains("sandbox:   read-only · network none"),
        "{header}"
    );
    assert!(header.contains("approval:  on-request"), "{header}");
    // In raw mode while it runs.
    assert!(t.stty().contains("-icanon"), "{}", t.stty());
    t.type_line("what is the answer?");
    let screen = t.wait_for("The answer is 42.");
    assert!(screen.contains("› what is the answer?"), "{screen}");
    assert!(screen.contains("- first point"), "{screen}");
    assert!(
        screen.contains("thinking it over"),
        "reasoning shown: {screen}"
    );
    let body = model.requests()[0].body.to_string();
    assert!(body.contains("what is the answer?"), "{body}");
    t.type_line("/quit");
    assert_eq!(t.wait_exit().code(), Some(0));
    let modes = t.stty();
    for mode in [" icanon", " echo ", " icrnl"] {
        assert!(modes.contains(mode), "{mode} restored: {modes}");
    }
    let raw = String::from_utf8_lossy(&t.raw()).into_owned();
    assert!(raw.contains("\x1b[?2004l"), "bracketed paste turned off");
}

#[test]
fn tui_ctrl_c_twice_quits_an_idle_session() {
    let w = World::new();
    let model = FakeModel::start(vec![]);
    configure(&w, &model, "");
    let mut t = Tui::spawn(&w, &[], &[]);
    ready(&t);
    t.send("\x03");
    t.wait_for("ctrl+c again to quit");
    t.send("\x03");
    assert_eq!(t.wait_exit().code(), Some(0));
    assert!(t.stty().contains(" icanon"));
}

fn escalated(call: &str, script: &str) -> String {
    responses_call(
        call,
        "shell",
        &json!({"command": ["sh", "-c", script], "sandbox_permissions": "require_escalated", "justification": "needs to write outside"}),
    )
}

#[test]
fn tui_approval_yes_runs_the_command_and_no_stops_the_turn_and_tells_the_model() {
    let w = World::new();
    let model = FakeModel::start(vec![
        Reply::Sse(escalated("c1", "echo approved > ran.txt")),
        Reply::Sse(responses_text("first done")),
        Reply::Sse(escalated("c2", "echo no > denied.txt")),
        Reply::Sse(responses_text("understood")),
    ]);
    configure(&w, &model, "approval_policy = \"on-request\"");
    let mut t = Tui::spawn(&w, &[], &[]);
    ready(&t);
    t.type_line("write the file");
    let modal = t.wait_for("Yes, run it (y)");
    for shown in [
        "$ sh -c 'echo approved > ran.txt'",
        &format!("in {}", w.work().display()),
        "why: needs to write outside",
        "Yes, and don't ask again for this command this session (a)",
        "No, and tell cordon what to do differently (n or Esc)",
    ] {
        assert!(modal.contains(shown), "{shown}: {modal}");
    }
    t.wait_ready("Yes, run it (y)");
    t.send("y");
    t.wait_for("first done");
    assert_eq!(
        std::fs::read_to_string(w.work().join("ran.txt")).unwrap(),
        "approved\n"
    );
    t.type_line("now the other");
    t.wait_for("echo no > denied.txt'");
    t.wait_ready("Yes, run it (y)");
    t.send("n");
    t.wait_for("Interrupted");
    assert!(!w.work().join("denied.txt").exists());
    // The composer is ready for feedback, and the model hears of the refusal.
    t.type_line("do it another way");
    t.wait_for("understood");
    let requests = model.requests();
    assert_eq!(requests.len(), 4);
    let body = requests[3].body.to_string();
    assert!(
        body.contains("the user declined and stopped the turn"),
        "{body}"
    );
    assert!(body.contains("do it another way"), "{body}");
}

#[test]
fn tui_keys_typed_for_the_composer_as_an_approval_opens_do_not_answer_it() {
    let w = World::new();
    let model = FakeModel::start(vec![
        // A sandboxed command first: the user types while it runs.
        Reply::Sse(responses_call(
            "c0",
            "shell",
            &json!({"command": ["sh", "-c", "sleep 1"]}),
        )),
        Reply::Sse(escalated("c1", "echo typed > typed.txt")),
        Reply::Sse(responses_text("first turn over")),
    ]);
    configure(&w, &model, "approval_policy = \"on-request\"");
    let mut t = Tui::spawn(&w, &[], &[]);
    ready(&t);
    t.type_line("write the file");
    t.wait_for("Working");
    // `y` typed steadily into the composer until the approval shows...
    let start = Instant::now();
    while !t.screen().contains("Allow this command?") {
        assert!(start.elapsed() < WAIT, "no approval:\n{}", t.screen());
        t.send("y");
        std::thread::sleep(Duration::from_millis(15));
    }
    // ... and, the moment it shows, every key that answers it.
    for key in ["y", "a", "\r", "y", "\r"] {
        t.send(key);
    }
    let unanswered = |t: &Tui| {
        let screen = t.screen();
        assert!(
            !screen.contains("✔ approved"),
            "answered by typed keys:\n{screen}"
        );
        assert!(screen.contains("Allow this command?"), "{screen}");
        assert!(!w.work().join("typed.txt").exists(), "ran from typed keys");
    };
    std::thread::sleep(Duration::from_millis(100));
    unanswered(&t);
    t.wait_ready("Yes, run it (y)");
    std::thread::sleep(Duration::from_millis(300));
    unanswered(&t);
    assert_eq!(model.requests().len(), 2, "the model heard no answer");
    // Control: a `y` pressed once the options are ready runs it.
    t.send("y");
    t.wait_for("✔ approved: sh -c 'echo typed > typed.txt'");
    t.wait_for("first turn over");
    assert_eq!(
        std::fs::read_to_string(w.work().join("typed.txt")).unwrap(),
        "typed\n"
    );
    // The keys typed before the approval opened went to the composer.
    t.wait_for("yyyy");
}

#[test]
fn tui_patch_approval_shows_the_diff() {
    let w = World::new();
    let patch = "*** Begin Patch\n*** Add File: notes.txt\n+hello from the patch\n+second line\n*** End Patch\n";
    let model = FakeModel::start(vec![
        Reply::Sse(responses_call(
            "p1",
            "apply_patch",
            &json!({"input": patch}),
        )),
        Reply::Sse(responses_text("patched")),
    ]);
    configure(&w, &model, "");
    // Read-only: the patch writes outside the writable roots, so it is asked.
    let mut t = Tui::spawn(&w, &["-s", "read-only"], &[]);
    ready(&t);
    t.type_line("add notes");
    let modal = t.wait_for("Apply these changes?");
    assert!(modal.contains("+hello from the patch"), "{modal}");
    assert!(modal.contains("(+2 -0)"), "{modal}");
    assert!(modal.contains("don't ask again for these files"), "{modal}");
    assert!(!w.work().join("notes.txt").exists());
    t.wait_ready("Yes, apply the changes (y)");
    t.send("y");
    t.wait_for("patched");
    assert_eq!(
        std::fs::read_to_string(w.work().join("notes.txt")).unwrap(),
        "hello from the patch\nsecond line\n"
    );
}

/// Processes whose command line is exactly `argv`.
fn processes(argv: &[&str]) -> Vec<u32> {
    let want: Vec<u8> = argv
        .iter()
        .flat_map(|a| [a.as_bytes(), b"\0"].concat())
        .collect();
    std::fs::read_dir("/proc")
        .unwrap()
        .flatten()
        .filter_map(|e| {
            let pid: u32 = e.file_name().to_str()?.parse().ok()?;
            let cmdline = std::fs::read(e.path().join("cmdline")).ok()?;
            (cmdline == want).then_some(pid)
        })
        .collect()
}

#[test]
fn tui_esc_interrupts_a_running_command_and_kills_it() {
    let w = World::new();
    // A duration no other test uses, to find this very process.
    let argv = ["sleep", "37.25"];
    let model = FakeModel::start(vec![Reply::Sse(responses_call(
        "s1",
        "shell",
        &json!({"command": argv}),
    ))]);
    configure(&w, &model, "");
    let mut t = Tui::spawn(&w, &[], &[]);
    ready(&t);
    t.type_line("wait a while");
    t.wait_for("Running sleep 37.25");
    t.wait_for("esc to interrupt");
    let start = Instant::now();
    while processes(&argv).is_empty() {
        assert!(start.elapsed() < WAIT, "the command never started");
        std::thread::sleep(Duration::from_millis(50));
    }
    t.send("\x1b");
    t.wait_for("Interrupted");
    let start = Instant::now();
    while !processes(&argv).is_empty() {
        assert!(
            start.elapsed() < Duration::from_secs(5),
            "the command outlived the interrupt"
        );
        std::thread::sleep(Duration::from_millis(50));
    }
    assert!(start.elapsed() < Duration::from_secs(5));
}

#[test]
fn tui_status_shows_the_sandbox_mode_and_approvals_switches_it() {
    let w = World::new();
    let model = FakeModel::start(vec![]);
    configure(&w, &model, "");
    let mut t = Tui::spawn(&w, &["-s", "workspace-write", "-a", "untrusted"], &[]);
    ready(&t);
    t.type_line("/status");
    let screen = t.wait_for("sandbox:    workspace-write");
    assert!(screen.contains("approval:   untrusted"), "{screen}");
    let writable = screen.lines().find(|l| l.starts_with("writable:")).unwrap();
    assert!(
        writable.contains(&w.work().display().to_string()),
        "{screen}"
    );
    t.type_line("/approvals");
    t.wait_for("Permissions");
    t.send("1");
    t.wait_for("permissions: Read only (sandbox read-only");
    t.type_line("/status");
    t.wait_for("sandbox:    read-only");
}

#[test]
fn tui_a_200_line_paste_is_one_message() {
    let w = World::new();
    let model = FakeModel::start(vec![Reply::Sse(responses_text("got it"))]);
    configure(&w, &model, "");
    let mut t = Tui::spawn(&w, &[], &[]);
    ready(&t);
    let lines: Vec<String> = (1..=200).map(|i| format!("pasted line {i}")).collect();
    // Terminals send a pasted newline as CR.
    t.send(&format!("\x1b[200~{}\x1b[201~", lines.join("\r")));
    t.wait_for("[Pasted 200 lines");
    assert!(model.requests().is_empty(), "nothing sent before Enter");
    t.send("\r");
    t.wait_for("got it");
    let requests = model.requests();
    assert_eq!(requests.len(), 1, "one request");
    let body = requests[0].body.to_string();
    assert!(
        body.contains(&lines.join("\\n")),
        "all 200 lines in one message"
    );
}

#[test]
fn tui_resume_last_replays_the_earlier_conversation() {
    let w = World::new();
    let model = FakeModel::start(vec![
        Reply::Sse(responses_text("noted: avocado")),
        Reply::Sse(responses_text("it was avocado")),
    ]);
    configure(&w, &model, "");
    let mut t = Tui::spawn(&w, &[], &[]);
    ready(&t);
    t.type_line("remember the word avocado");
    t.wait_for("noted: avocado");
    t.type_line("/quit");
    t.wait_exit();
    drop(t);
    let mut t = Tui::spawn(&w, &["resume", "--last"], &[]);
    let screen = t.wait_for("noted: avocado");
    assert!(screen.contains("› remember the word avocado"), "{screen}");
    t.type_line("which word?");
    t.wait_for("it was avocado");
    let body = model.requests()[1].body.to_string();
    assert!(
        body.contains("remember the word avocado"),
        "history sent: {body}"
    );
}

#[test]
fn tui_notifies_with_osc9_only_while_unfocused() {
    let w = World::new();
    let model = FakeModel::start(vec![
        Reply::Sse(responses_text("one")),
        Reply::Sse(responses_text("two")),
    ]);
    configure(&w, &model, "[tui]\nnotifications = true");
    let mut t = Tui::spawn(&w, &[], &[("TERM_PROGRAM", "WezTerm")]);
    ready(&t);
    t.type_line("first");
    t.wait_for("one");
    let osc = b"\x1b]9;cordon: turn complete\x07";
    assert!(find(&t.raw(), osc).is_none(), "focused: no notification");
    t.send("\x1b[O");
    t.type_line("second");
    t.wait_for("two");
    let start = Instant::now();
    while find(&t.raw(), osc).is_none() {
        assert!(start.elapsed() < WAIT, "no OSC 9 while unfocused");
        std::thread::sleep(Duration::from_millis(30));
    }
}

#[test]
fn tui_history_is_written_as_soft_wrapped_lines() {
    let w = World::new();
    let long = "word ".repeat(60);
    let model = FakeModel::start(vec![Reply::Sse(responses_text(long.trim()))]);
    configure(&w, &model, "");
    let mut t = Tui::spawn(&w, &[], &[]);
    ready(&t);
    t.type_line("say a lot");
    t.wait_for("word word");
    // The paragraph is 299 columns: the terminal wrapped it (rows marked
    // as wrapped), cordon wrote no line break inside it.
    let parser = t.parser.lock().unwrap();
    let screen = parser.screen();
    let row = (0..ROWS)
        .find(|&r| {
            screen
                .contents_between(r, 0, r, COLS)
                .starts_with("word word")
        })
        .unwrap();
    assert!(
        screen.row_wrapped(row) && screen.row_wrapped(row + 1),
        "soft wraps"
    );
    let raw = String::from_utf8_lossy(&t.raw()).into_owned();
    assert!(raw.contains(long.trim()), "written as one line");
}

#[test]
fn tui_sigterm_and_sighup_restore_the_terminal() {
    for sig in [libc::SIGTERM, libc::SIGHUP] {
        let w = World::new();
        let model = FakeModel::start(vec![]);
        configure(&w, &model, "");
        let mut t = Tui::spawn(&w, &[], &[]);
        ready(&t);
        assert!(t.stty().contains("-icanon"));
        // SAFETY: signals the child this test started.
        assert_eq!(unsafe { libc::kill(t.child.id() as i32, sig) }, 0);
        assert_eq!(t.wait_exit().code(), Some(128 + sig), "signal {sig}");
        let modes = t.stty();
        assert!(
            modes.contains(" icanon") && modes.contains(" echo "),
            "{modes}"
        );
    }
}

#[test]
fn tui_works_at_40_columns() {
    let w = World::new();
    let model = FakeModel::start(vec![Reply::Sse(responses_text("narrow but fine"))]);
    configure(&w, &model, "");
    let mut t = Tui::spawn(&w, &[], &[]);
    t.parser
        .lock()
        .unwrap()
        .screen_mut()
        .set_size(ROWS.try_into().unwrap(), 40.try_into().unwrap());
    let size = libc::winsize {
        ws_row: ROWS,
        ws_col: 40,
        ws_xpixel: 0,
        ws_ypixel: 0,
    };
    // SAFETY: sets the window size of the terminal this test opened.
    assert_eq!(
        unsafe {
            libc::ioctl(
                std::os::fd::AsRawFd::as_raw_fd(&t.master),
                libc::TIOCSWINSZ,
                &size,
            )
        },
        0
    );
    ready(&t);
    t.type_line("go");
    let screen = t.wait_for("narrow but fine");
    for line in screen.lines() {
        assert!(line.chars().count() <= 40, "{line:?}");
    }
    assert!(screen.contains("fake-model · read-only/none"), "{screen}");
}

#[test]
fn tui_compact_replaces_the_history_with_the_summary_also_on_resume_and_automatically() {
    let w = World::new();
    let model = FakeModel::start(vec![
        Reply::Sse(responses_text("noted: avocado")),
        Reply::Sse(responses_text("SUMMARY-ONE: the word is avocado")),
        Reply::Sse(responses_text("it was avocado")),
        // The context (11 + 7 tokens) is past the limit: compacted first.
        Reply::Sse(responses_text("SUMMARY-TWO: asked twice")),
        Reply::Sse(responses_text("fourth answer")),
        Reply::Sse(responses_text("after resume")),
    ]);
    configure(&w, &model, "model_auto_compact_token_limit = 15");
    let mut t = Tui::spawn(&w, &[], &[]);
    ready(&t);
    t.type_line("remember the word avocado");
    t.wait_for("noted: avocado");
    t.type_line("/compact");
    t.wait_for("context compacted");
    t.wait_for("SUMMARY-ONE");
    let asked = model.requests()[1].body.to_string();
    assert!(
        asked.contains("will be replaced by your summary"),
        "{asked}"
    );
    assert!(asked.contains("remember the word avocado"), "{asked}");
    t.type_line("which word?");
    t.wait_for("it was avocado");
    let body = model.requests()[2].body.to_string();
    assert!(body.contains("SUMMARY-ONE"), "{body}");
    assert!(!body.contains("remember the word avocado"), "{body}");
    t.type_line("and now?");
    t.wait_for("fourth answer");
    let requests = model.requests();
    assert_eq!(requests.len(), 5);
    assert!(requests[3]
        .body
        .to_string()
        .contains("will be replaced by your summary"));
    let body = requests[4].body.to_string();
    assert!(
        body.contains("SUMMARY-TWO") && body.contains("and now?"),
        "{body}"
    );
    assert!(!body.contains("which word?"), "{body}");
    t.type_line("/quit");
    t.wait_exit();
    drop(t);
    let mut t = Tui::spawn(&w, &["resume", "--last"], &[]);
    t.wait_for("SUMMARY-TWO");
    t.type_line("still there?");
    t.wait_for("after resume");
    let body = model.requests()[5].body.to_string();
    assert!(
        body.contains("SUMMARY-TWO") && body.contains("and now?"),
        "{body}"
    );
    assert!(
        !body.contains("which word?") && !body.contains("SUMMARY-ONE"),
        "{body}"
    );
}

/// A response past `model_auto_compact_token_limit` whose call keeps the
/// turn going: the call runs, the summarisation request reaches the model
/// in the middle of the turn, and the next request carries the summary and
/// the pending call's output (not the earlier prompt); a resumed session
/// starts from the same.
#[test]
fn tui_compacts_in_the_middle_of_a_turn_and_goes_on_with_the_summary_and_the_output() {
    let w = World::new();
    let model = FakeModel::start(vec![
        // Usage 5 + 3: past the limit of 5, and a call pending.
        Reply::Sse(responses_call(
            "c1",
            "shell",
            &json!({"command": ["echo", "MIDTURN-OUTPUT"]}),
        )),
        Reply::Sse(responses_text("SUMMARY-MID: asked for an echo")),
        Reply::Sse(responses_text("finished after compaction")),
        Reply::Sse(responses_text("after resume")),
    ]);
    configure(&w, &model, "model_auto_compact_token_limit = 5");
    let mut t = Tui::spawn(&w, &[], &[]);
    ready(&t);
    t.type_line("PROMPT-BEFORE please echo");
    t.wait_for("finished after compaction");
    let screen = t.screen();
    assert!(screen.contains("context compacted"), "{screen}");
    let requests = model.requests();
    assert_eq!(requests.len(), 3, "one turn, three requests");
    let asked = requests[1].body.to_string();
    assert!(
        asked.contains("will be replaced by your summary") && asked.contains("PROMPT-BEFORE"),
        "the summarisation request, mid-turn: {asked}"
    );
    let next = requests[2].body.to_string();
    assert!(
        next.contains("SUMMARY-MID") && next.contains("function_call_output"),
        "{next}"
    );
    assert!(
        next.contains("MIDTURN-OUTPUT"),
        "the pending output: {next}"
    );
    assert!(!next.contains("PROMPT-BEFORE"), "{next}");
    t.type_line("/quit");
    t.wait_exit();
    drop(t);
    // The compaction is in the rollout: a resumed session starts from the
    // summary and the output the turn went on from.
    let mut t = Tui::spawn(&w, &["resume", "--last"], &[]);
    t.wait_for("SUMMARY-MID");
    t.type_line("still there?");
    t.wait_for("after resume");
    let body = model.requests()[3].body.to_string();
    assert!(
        body.contains("SUMMARY-MID") && body.contains("MIDTURN-OUTPUT"),
        "{body}"
    );
    assert!(!body.contains("PROMPT-BEFORE"), "{body}");
}

/// A command writing outside the writable roots under workspace-write:
/// the kernel refuses it (the file is not there), and a cell names the
/// path and the config line and flag that would allow it. Control: the
/// same command under danger-full-access writes the file and no denial
/// cell appears.
#[test]
fn tui_a_sandbox_denial_shows_the_path_and_the_line_that_would_allow_it() {
    for (mode, denied) in [("workspace-write", true), ("danger-full-access", false)] {
        let w = World::new();
        let target = w.outside().join("denied.txt");
        let model = FakeModel::start(vec![
            Reply::Sse(responses_call(
                "c1",
                "shell",
                &json!({"command": ["sh", "-c", format!("echo hi > {}", target.display())]}),
            )),
            Reply::Sse(responses_text("DONE-WRITING")),
        ]);
        configure(&w, &model, "");
        let mut t = Tui::spawn(&w, &["-s", mode], &[]);
        ready(&t);
        t.type_line("write the file");
        let screen = t.wait_for("DONE-WRITING");
        let output = model.requests()[1].body.to_string();
        if denied {
            let screen = t.wait_for("writable_roots = [");
            let line = format!("the sandbox denied writing {} (", target.display());
            assert!(screen.contains(&line), "{screen}");
            assert!(
                screen.contains("[sandbox_workspace_write]")
                    && screen
                        .contains(&format!("writable_roots = [\"{}\"]", w.outside().display()))
                    && screen.contains("or for one run: -c"),
                "{screen}"
            );
            assert!(!target.exists(), "the write was refused");
            assert!(
                output.contains("Read-only file system") || output.contains("Permission denied"),
                "the kernel's refusal reaches the model: {output}"
            );
        } else {
            assert_eq!(std::fs::read_to_string(&target).unwrap(), "hi\n");
            assert!(!screen.contains("the sandbox denied"), "{screen}");
            assert!(!screen.contains("writable_roots"), "{screen}");
        }
        t.type_line("/quit");
        t.wait_exit();
    }
}

#[test]
fn tui_slash_popup_filters_as_typed_and_enter_runs_the_choice() {
    let w = World::new();
    let model = FakeModel::start(vec![]);
    configure(&w, &model, "");
    let mut t = Tui::spawn(&w, &[], &[]);
    ready(&t);
    t.send("/");
    let all = t.wait_for("/compact");
    assert!(all.contains("/status") && all.contains("/diff"), "{all}");
    t.send("st");
    let screen = t.wait_until("only /status left", |s| !s.contains("/compact"));
    assert!(
        screen.contains("session, model, sandbox, network, approvals, tokens"),
        "{screen}"
    );
    assert!(!screen.contains("/diff"), "{screen}");
    t.send("\r");
    t.wait_for("sandbox:    read-only");
}

#[test]
fn tui_at_searches_files_respecting_gitignore_and_inserts_the_path() {
    let w = World::new();
    for f in ["src/main.rs", "src/lib.rs", "target/debug/main_build.rs"] {
        let p = w.work().join(f);
        std::fs::create_dir_all(p.parent().unwrap()).unwrap();
        std::fs::write(p, "x").unwrap();
    }
    std::fs::write(w.work().join(".gitignore"), "target/\n").unwrap();
    let model = FakeModel::start(vec![Reply::Sse(responses_text("looked"))]);
    configure(&w, &model, "");
    let mut t = Tui::spawn(&w, &[], &[]);
    ready(&t);
    for c in "see @mainrs".chars() {
        t.send(&c.to_string());
    }
    let screen = t.wait_for("▸ src/main.rs");
    assert!(!screen.contains("main_build"), "gitignored: {screen}");
    t.send("\t");
    t.wait_for("› see src/main.rs");
    t.send("\r");
    t.wait_for("looked");
    let body = model.requests()[0].body.to_string();
    assert!(body.contains("see src/main.rs"), "{body}");
    // /mention opens the same picker.
    t.type_line("/mention");
    t.wait_for("› @");
    for c in "lib".chars() {
        t.send(&c.to_string());
    }
    t.wait_for("▸ src/lib.rs");
    t.send("\r");
    t.wait_until("the path inserted, the popup closed", |s| {
        s.contains("› src/lib.rs") && !s.contains("▸")
    });
    assert_eq!(
        model.requests().len(),
        1,
        "Enter chose the file, sent nothing"
    );
}

#[test]
fn tui_ctrl_t_shows_the_whole_transcript_on_the_alternate_screen_and_q_returns() {
    let w = World::new();
    let model = FakeModel::start(vec![
        Reply::Sse(responses_call(
            "c1",
            "shell",
            &json!({"command": ["sh", "-c", "for i in $(seq 1 40); do echo out-$i; done"]}),
        )),
        Reply::Sse(responses_text("counted")),
    ]);
    configure(&w, &model, "");
    let mut t = Tui::spawn(&w, &[], &[]);
    ready(&t);
    t.type_line("count");
    let inline = t.wait_for("counted");
    assert!(inline.contains("… +30 lines"), "{inline}");
    assert!(!inline.contains("out-20\n"), "{inline}");
    t.send("\x14");
    // (The frame may arrive in pieces: wait for its last row too.)
    let pager = t.wait_until("the pager", |s| {
        s.contains("q or Esc to return") && s.contains("g/G top/end")
    });
    assert!(t.parser.lock().unwrap().screen().alternate_screen());
    // The pager asked nothing of the terminal: a cursor position query
    // after start-up can be answered into the input thread's blocking read
    // and never reach the asker (the pager then hung undrawn).
    let queries = t.raw().windows(4).filter(|w| w == b"\x1b[6n").count();
    assert_eq!(queries, 1, "cursor position queries after start-up");
    assert!(
        pager.contains("out-20\n") && pager.contains("out-40"),
        "{pager}"
    );
    assert!(!pager.contains("… +30 lines"), "{pager}");
    t.send("q");
    let back = t.wait_until("the inline view", |s| !s.contains("q or Esc to return"));
    assert!(!t.parser.lock().unwrap().screen().alternate_screen());
    assert!(
        back.contains("… +30 lines") && back.contains("counted"),
        "{back}"
    );
    // Still usable.
    t.type_line("/status");
    t.wait_for("sandbox:    read-only");
}

/// An output over 4 KiB waits for the pager on disk (an unnamed file in
/// `$CORDON_HOME`) and comes back whole: its first and last lines.
#[test]
fn tui_ctrl_t_reads_a_large_output_back_whole() {
    let w = World::new();
    let model = FakeModel::start(vec![
        Reply::Sse(responses_call(
            "c1",
            "shell",
            &json!({"command": ["sh", "-c", "for i in $(seq 1 1500); do echo spill-$i; done"]}),
        )),
        Reply::Sse(responses_text("listed")),
    ]);
    configure(&w, &model, "");
    let before: Vec<_> = std::fs::read_dir(w.home.path())
        .unwrap()
        .flatten()
        .map(|e| e.file_name())
        .collect();
    let mut t = Tui::spawn(&w, &[], &[]);
    ready(&t);
    t.type_line("list");
    t.wait_for("listed");
    t.send("\x14");
    let end = t.wait_until("the pager", |s| {
        s.contains("q or Esc to return") && s.contains("g/G top/end")
    });
    let row = |s: &str, want: &str| s.lines().any(|l| l.trim() == want);
    assert!(row(&end, "spill-1499") && row(&end, "spill-1500"), "{end}");
    t.send("g");
    let top = t.wait_until("the top", |s| row(s, "spill-1"));
    assert!(
        row(&top, "spill-2") && !top.contains("[cordon could not read"),
        "{top}"
    );
    t.send("q");
    t.wait_until("the inline view", |s| !s.contains("q or Esc to return"));
    // Nothing named was left in $CORDON_HOME for it.
    let after: Vec<_> = std::fs::read_dir(w.home.path())
        .unwrap()
        .flatten()
        .map(|e| e.file_name())
        .collect();
    let new: Vec<_> = after.iter().filter(|n| !before.contains(n)).collect();
    assert!(
        new.iter().all(|n| ["sessions", "history.jsonl", "discovery"].contains(&n.to_str().unwrap_or(""))),
        "{new:?}"
    );
}

#[test]
fn tui_diff_shows_changes_and_untracked_files_in_the_pager() {
    let w = World::new();
    let git = |args: &[&str]| {
        let out = Command::new("git")
            .args([
                "-c",
                "user.name=t",
                "-c",
                "user.email=t@t",
                "-c",
                "commit.gpgsign=false",
            ])
            .args(args)
            .current_dir(w.work())
            .output()
            .unwrap();
        assert!(
            out.status.success(),
            "git {args:?}: {}",
            String::from_utf8_lossy(&out.stderr)
        );
    };
    git(&["init", "-q"]);
    std::fs::write(w.work().join("tracked.txt"), "old line\n").unwrap();
    git(&["add", "tracked.txt"]);
    git(&["commit", "-qm", "one"]);
    std::fs::write(w.work().join("tracked.txt"), "new line\n").unwrap();
    std::fs::write(w.work().join("fresh.txt"), "brand new\n").unwrap();
    let model = FakeModel::start(vec![]);
    configure(&w, &model, "");
    let mut t = Tui::spawn(&w, &[], &[]);
    ready(&t);
    t.type_line("/diff");
    let pager = t.wait_until("the pager", |s| {
        s.contains("q or Esc to return") && s.contains("g/G top/end")
    });
    for shown in ["-old line", "+new line", "+++ b/fresh.txt", "+brand new"] {
        assert!(pager.contains(shown), "{shown}: {pager}");
    }
    t.send("\x1b");
    t.wait_until("back", |s| !s.contains("q or Esc to return"));
    t.wait_for("Ask cordon to do anything");
}

#[test]
fn tui_init_asks_the_model_to_write_agents_md_unless_there_is_one() {
    let w = World::new();
    let patch =
        "*** Begin Patch\n*** Add File: AGENTS.md\n+# Agents\n+Run `make test`.\n*** End Patch\n";
    let model = FakeModel::start(vec![
        Reply::Sse(responses_call(
            "p1",
            "apply_patch",
            &json!({"input": patch}),
        )),
        Reply::Sse(responses_text("wrote AGENTS.md")),
    ]);
    configure(&w, &model, "");
    let mut t = Tui::spawn(&w, &["-s", "workspace-write"], &[]);
    ready(&t);
    t.type_line("/init");
    t.wait_for("wrote AGENTS.md");
    let body = model.requests()[0].body.to_string();
    assert!(
        body.contains("Write an AGENTS.md file at the root of this repository"),
        "{body}"
    );
    assert_eq!(
        std::fs::read_to_string(w.work().join("AGENTS.md")).unwrap(),
        "# Agents\nRun `make test`.\n"
    );
    t.type_line("/init");
    t.wait_for("already exists; nothing asked");
    assert_eq!(model.requests().len(), 2, "no new request");
}

/// An HTTP server on `ip` answering `hello`; counts the requests.
fn http_hello(ip: std::net::IpAddr) -> (std::net::SocketAddr, Arc<Mutex<usize>>) {
    let l = std::net::TcpListener::bind((ip, 0)).unwrap();
    let addr = l.local_addr().unwrap();
    let hits = Arc::new(Mutex::new(0));
    let counted = hits.clone();
    std::thread::spawn(move || {
        for mut s in l.incoming().flatten() {
            let mut head = Vec::new();
            let mut byte = [0u8; 1];
            while !head.ends_with(b"\r\n\r\n") && s.read(&mut byte).map(|n| n == 1).unwrap_or(false)
            {
                head.push(byte[0]);
            }
            *counted.lock().unwrap() += 1;
            let _ = s.write_all(
                b"HTTP/1.1 200 OK\r\ncontent-length: 5\r\nconnection: close\r\n\r\nhello",
            );
        }
    });
    (addr, hits)
}

#[test]
fn tui_a_host_the_proxy_refused_is_allowed_for_the_session_with_h_and_the_rerun_succeeds() {
    let w = World::new();
    // This machine's own address (the proxy refuses loopback targets),
    // allowed by nothing until the user presses h.
    let ip = super::common::own_addresses()
        .into_iter()
        .find(std::net::IpAddr::is_ipv4)
        .expect("no non-loopback IPv4 address on this machine");
    let (server, hits) = http_hello(ip);
    let fetch = |call: &str, url: &str| {
        Reply::Sse(responses_call(
            call,
            "shell",
            &json!({"command": ["curl", "-sS", "--fail", "--max-time", "10", url]}),
        ))
    };
    let url = format!("http://{server}/");
    let model = FakeModel::start(vec![
        fetch("c1", &url),
        Reply::Sse(responses_text("fetched")),
        fetch("c2", &url),
        Reply::Sse(responses_text("fetched again")),
        fetch("c3", "http://127.0.0.1:9/"),
    ]);
    configure(&w, &model, "");
    let mut t = Tui::spawn(&w, &["--network", "proxy"], &[]);
    ready(&t);
    t.type_line("fetch it");
    let modal = t.wait_for(&format!("allow {ip} for this session and rerun (h)"));
    assert!(modal.contains(&format!("refused: {server}")), "{modal}");
    assert!(
        modal.contains("Yes, run it again without the sandbox (y)"),
        "{modal}"
    );
    assert_eq!(
        *hits.lock().unwrap(),
        0,
        "the proxy refused it: never reached"
    );
    t.wait_ready("Yes, run it again without the sandbox (y)");
    t.send("h");
    t.wait_for("fetched");
    assert_eq!(*hits.lock().unwrap(), 1, "the rerun reached the server");
    let body = model.requests()[1].body.to_string();
    assert!(body.contains("hello"), "{body}");
    assert!(
        body.contains("the user allowed it for this session"),
        "{body}"
    );
    // Later commands get the host without asking.
    t.type_line("again");
    t.wait_for("fetched again");
    assert_eq!(*hits.lock().unwrap(), 2);
    let body = &model.requests()[3].body;
    let second = body["input"]
        .as_array()
        .unwrap()
        .iter()
        .find(|i| i["type"] == "function_call_output" && i["call_id"] == "c2")
        .unwrap()["output"]
        .as_str()
        .unwrap()
        .to_string();
    assert!(
        second.contains("hello") && !second.contains("proxy refused"),
        "{second}"
    );
    t.type_line("/status");
    t.wait_for(&format!("allowed for this session: {ip}"));
    // Another refused host, declined: the denial cell names the config line.
    t.type_line("loopback");
    t.wait_for("allow 127.0.0.1 for this session and rerun (h)");
    t.wait_ready("Yes, run it again without the sandbox (y)");
    t.send("n");
    let screen = t.wait_for("the proxy refused 127.0.0.1:9");
    for shown in [
        "[network.domains]",
        "\"127.0.0.1\" = \"allow\"",
        "--allow-domain 127.0.0.1",
    ] {
        assert!(screen.contains(shown), "{shown}: {screen}");
    }
}

/// With `[features] unified_exec`, a command the model starts with
/// `exec_command` keeps running after the turn, shows as a live cell, is
/// listed by `/ps`, and dies with the session (`/quit`).
#[test]
fn tui_ps_lists_a_running_exec_command_and_it_dies_with_the_session() {
    let w = World::new();
    let model = FakeModel::start(vec![
        Reply::Sse(responses_call(
            "c1",
            "exec_command",
            &json!({"argv": ["sleep", "43.25"], "yield_time_ms": 200}),
        )),
        Reply::Sse(responses_text("started it")),
    ]);
    configure(&w, &model, "[features]\nunified_exec = true\n");
    let mut t = Tui::spawn(&w, &[], &[]);
    ready(&t);
    t.type_line("start a sleeper");
    t.wait_for("started it");
    t.wait_for("Running sleep 43.25 (session 1)");
    assert_eq!(processes(&["sleep", "43.25"]).len(), 1, "it keeps running");
    t.type_line("/ps");
    t.wait_for("session 1: sleep 43.25");
    t.type_line("/quit");
    t.wait_exit();
    let start = Instant::now();
    while !processes(&["sleep", "43.25"]).is_empty() {
        assert!(start.elapsed() < WAIT, "it outlived the session");
        std::thread::sleep(Duration::from_millis(50));
    }
}
