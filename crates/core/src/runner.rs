//! The session's [`Tools`]: `shell` runs every command through
//! `cordon sandbox` (a child process, so the sandbox is set up by a process
//! with one thread, and a crash of the command cannot take the session with
//! it); `apply_patch` checks every path against the session's policy.
//!
//! A command the sandbox refused or hindered is reported to the model with
//! what was denied (from the sandbox's `--log-denials` report) and the
//! policy it ran under.

use crate::agent::{ChangeKind, ShellCall, ToolDetail, ToolResult, Tools};
use crate::approval::Decision;
use crate::interrupt::Interrupt;
use crate::patch::{self, FileChange};
use cordon_policy::{ApprovalPolicy, SandboxPolicy};
use std::ffi::OsString;
use std::io::Read;
use std::path::{Path, PathBuf};
use std::process::{Command, Stdio};
use std::sync::mpsc;
use std::sync::Arc;
use std::time::{Duration, Instant};

/// Default limit on one command's run time.
pub const DEFAULT_TIMEOUT: Duration = Duration::from_secs(600);

/// Exit status `cordon sandbox` uses when it refused to start the command.
const EXIT_REFUSED: i32 = 125;

/// Called with the command and the model's reason when an approval would be asked.
pub type ApprovalHook = Box<dyn FnMut(&[String], Option<&str>)>;

/// How commands are run.
pub struct SandboxRunner {
    /// The `cordon` executable, pinned (`/proc/self/fd/N` on Linux) so a
    /// command that replaces the file on disk changes nothing.
    pub cordon_exe: PathBuf,
    /// Arguments after `cordon sandbox`, before `-C`: mode, network,
    /// profile and `-c` overrides, so the child resolves the same policy.
    pub sandbox_args: Vec<OsString>,
    /// The session's working directory.
    pub cwd: PathBuf,
    /// The session's policy (for patches and for messages).
    pub policy: SandboxPolicy,
    /// When to ask; `exec` uses [`ApprovalPolicy::Never`]. Every "ask"
    /// is declined here (this runner has no one to ask) and reported
    /// through `on_approval`.
    pub approval: ApprovalPolicy,
    /// Ctrl-C.
    pub interrupt: Arc<Interrupt>,
    /// Called when an approval would be asked (for `notify`); the argument
    /// is the command and the model's reason.
    pub on_approval: ApprovalHook,
}

/// How a command ended.
struct Finished {
    code: Option<i32>,
    output: String,
    timed_out: bool,
    wall: Duration,
}

impl SandboxRunner {
    fn describe_policy(&self) -> String {
        format!(
            "sandbox: {} with network {}",
            self.policy.mode, self.policy.network
        )
    }

    /// Runs `argv` in `workdir` under the sandbox.
    fn run(&self, argv: &[String], workdir: &Path, timeout: Duration) -> Finished {
        let start = Instant::now();
        let report = tempfile_path();
        let mut cmd = Command::new(&self.cordon_exe);
        #[cfg(unix)]
        std::os::unix::process::CommandExt::arg0(&mut cmd, "cordon");
        // The policy's working directory (the writable root) is always the
        // session's; the model's `workdir` only says where the command starts.
        cmd.arg("sandbox")
            .args(&self.sandbox_args)
            .arg("-C")
            .arg(&self.cwd)
            .arg("--command-cwd")
            .arg(workdir)
            .arg("--denial-report")
            .arg(&report)
            // The launcher keeps cordon's whole environment for itself (it
            // finds the config by `HOME`/`CORDON_HOME`, `TMPDIR` is a
            // writable root, the host's proxy is chained) and gives the
            // command what `[shell_environment_policy]` makes of it
            // (`crate::shell_env::command_env`).
            .arg("--shell-environment-policy")
            .arg("--")
            .args(argv)
            .stdin(Stdio::null())
            .stdout(Stdio::piped())
            .stderr(Stdio::piped());
        die_with_parent(&mut cmd);
        let mut child = match cmd.spawn() {
            Ok(c) => c,
            Err(e) => {
                return Finished {
                    code: None,
                    output: format!(
                        "cordon could not start its sandbox launcher {}: {e}",
                        self.cordon_exe.display()
                    ),
                    timed_out: false,
                    wall: start.elapsed(),
                }
            }
        };
        let pid = child.id();
        self.interrupt.watch_child(pid);
        // The timeout kills the launcher, whose death takes the sandbox down.
        let (done_tx, done_rx) = mpsc::channel::<()>();
        let timer = std::thread::spawn(move || {
            matches!(
                done_rx.recv_timeout(timeout),
                Err(mpsc::RecvTimeoutError::Timeout)
            ) && {
                crate::interrupt::kill(pid);
                true
            }
        });
        let stderr = child.stderr.take();
        let err_reader = std::thread::spawn(move || match stderr {
            Some(e) => HeadTail::read(e),
            None => HeadTail::default(),
        });
        let out = match child.stdout.take() {
            Some(o) => HeadTail::read(o),
            None => HeadTail::default(),
        };
        // Wait without reaping, so the pid cannot be reused while the timer
        // or an interrupt might still signal it; then stop both and reap.
        wait_unreaped(pid);
        self.interrupt.forget_child(pid);
        let _ = done_tx.send(());
        let timed_out = timer.join().unwrap_or(false);
        let status = child.wait();
        let err = err_reader.join().unwrap_or_default();
        let mut output = out.text();
        if !err.is_empty() {
            if !output.is_empty() && !output.ends_with('\n') {
                output.push('\n');
            }
            output.push_str(&err.text());
        }
        let code = status.ok().and_then(|s| {
            s.code().or_else(|| {
                #[cfg(unix)]
                {
                    use std::os::unix::process::ExitStatusExt;
                    s.signal().map(|n| 128 + n)
                }
                #[cfg(not(unix))]
                None
            })
        });
        if let Ok(denied) = std::fs::read_to_string(&report) {
            // The report says so when nothing was denied.
            if !denied.trim().is_empty() && !denied.contains("no denials recorded") {
                output.push_str(&format!(
                    "\n[{}] the sandbox denied:\n{}",
                    self.describe_policy(),
                    denied.trim_end()
                ));
            }
        }
        let _ = std::fs::remove_file(&report);
        Finished {
            code,
            output,
            timed_out,
            wall: start.elapsed(),
        }
    }

    fn patch(&self, input: &str, cwd: &Path) -> ToolResult {
        let result = patch::parse(input).and_then(|p| patch::apply(&p, cwd, Some(&self.policy)));
        match result {
            Ok(applied) => {
                let changes: Vec<(String, ChangeKind)> = applied
                    .changes
                    .iter()
                    .map(|c| match c {
                        FileChange::Added(p) => (p.display().to_string(), ChangeKind::Add),
                        FileChange::Updated { to, .. } => {
                            (to.display().to_string(), ChangeKind::Update)
                        }
                        FileChange::Deleted(p) => (p.display().to_string(), ChangeKind::Delete),
                    })
                    .collect();
                let mut text = String::from("patch applied:\n");
                for c in &applied.changes {
                    text.push_str(&match c {
                        FileChange::Added(p) => format!("A {}\n", p.display()),
                        FileChange::Updated { from, to } if from != to => {
                            format!("M {} -> {}\n", from.display(), to.display())
                        }
                        FileChange::Updated { to, .. } => format!("M {}\n", to.display()),
                        FileChange::Deleted(p) => format!("D {}\n", p.display()),
                    });
                }
                ToolResult {
                    output: text,
                    detail: ToolDetail::Patch {
                        changes,
                        applied: true,
                    },
                }
            }
            Err(e) => ToolResult {
                output: format!("patch not applied (no file was changed): {e}"),
                detail: ToolDetail::Patch {
                    changes: Vec::new(),
                    applied: false,
                },
            },
        }
    }

    /// The model's `workdir` (relative to the session's), as a real path.
    fn workdir(&self, requested: Option<&str>) -> Result<PathBuf, String> {
        let dir = match requested {
            Some(w) if !w.is_empty() => self.cwd.join(w),
            _ => self.cwd.clone(),
        };
        match std::fs::canonicalize(&dir) {
            Ok(real) if real.is_dir() => Ok(real),
            _ => Err(format!("workdir {} is not a directory", dir.display())),
        }
    }
}

/// Most bytes of each stream kept from the start and from the end; the
/// middle of a longer output is counted, not kept.
const KEEP: usize = 512 * 1024;

/// The head and tail of a stream.
#[derive(Default)]
struct HeadTail {
    head: Vec<u8>,
    tail: std::collections::VecDeque<u8>,
    dropped: u64,
}

impl HeadTail {
    fn read(mut from: impl Read) -> HeadTail {
        let mut ht = HeadTail::default();
        let mut buf = [0u8; 16 * 1024];
        loop {
            let n = match from.read(&mut buf) {
                Ok(0) | Err(_) => break,
                Ok(n) => n,
            };
            let mut data = &buf[..n];
            if ht.head.len() < KEEP {
                let take = data.len().min(KEEP - ht.head.len());
                ht.head.extend_from_slice(&data[..take]);
                data = &data[take..];
            }
            ht.tail.extend(data);
            while ht.tail.len() > KEEP {
                let excess = ht.tail.len() - KEEP;
                ht.tail.drain(..excess);
                ht.dropped += excess as u64;
            }
        }
        ht
    }

    fn is_empty(&self) -> bool {
        self.head.is_empty()
    }

    fn text(&self) -> String {
        let mut s = String::from_utf8_lossy(&self.head).into_owned();
        if self.dropped > 0 {
            s.push_str(&format!(
                "\n[... {} bytes of output not kept ...]\n",
                self.dropped
            ));
        }
        let (a, b) = self.tail.as_slices();
        let mut tail = a.to_vec();
        tail.extend_from_slice(b);
        s.push_str(&String::from_utf8_lossy(&tail));
        s
    }
}

/// Blocks until child `pid` has exited, leaving it unreaped (a zombie
/// keeps its pid, so nothing else can get it meanwhile).
fn wait_unreaped(pid: u32) {
    #[cfg(unix)]
    {
        let id: libc::id_t = pid;
        loop {
            // SAFETY: waitid on our own child with a zeroed siginfo to fill.
            let rc = unsafe {
                let mut info: libc::siginfo_t = std::mem::zeroed();
                libc::waitid(libc::P_PID, id, &mut info, libc::WEXITED | libc::WNOWAIT)
            };
            if rc == 0 || std::io::Error::last_os_error().raw_os_error() != Some(libc::EINTR) {
                return;
            }
        }
    }
    #[cfg(not(unix))]
    let _ = pid;
}

/// Makes the launcher die with cordon (even by SIGKILL): a parent-death
/// signal, and a check that the parent did not die before it was set.
/// The launcher's own death takes its sandboxed tree down.
fn die_with_parent(cmd: &mut Command) {
    #[cfg(target_os = "linux")]
    {
        use std::os::unix::process::CommandExt;
        // SAFETY: getpid has no preconditions.
        let parent = unsafe { libc::getpid() };
        // SAFETY: prctl and getppid are async-signal-safe, as pre_exec needs.
        unsafe {
            cmd.pre_exec(move || {
                if libc::prctl(libc::PR_SET_PDEATHSIG, libc::SIGKILL as libc::c_ulong) != 0 {
                    return Err(std::io::Error::last_os_error());
                }
                if libc::getppid() != parent {
                    return Err(std::io::Error::other(
                        "cordon exited while starting the command",
                    ));
                }
                Ok(())
            });
        }
    }
    #[cfg(not(target_os = "linux"))]
    let _ = cmd;
}

/// A fresh path in the temp directory for the denial report.
fn tempfile_path() -> PathBuf {
    let tag = crate::exec::random_hex(8).unwrap_or_default();
    std::env::temp_dir().join(format!("cordon-denials-{}-{tag}", std::process::id()))
}

/// The command as one line for people.
pub fn display_command(argv: &[String]) -> String {
    argv.iter()
        .map(|a| {
            if !a.is_empty()
                && a.chars()
                    .all(|c| c.is_ascii_alphanumeric() || "-_./=:,@%+".contains(c))
            {
                a.clone()
            } else {
                format!("'{}'", a.replace('\'', "'\\''"))
            }
        })
        .collect::<Vec<_>>()
        .join(" ")
}

impl Tools for SandboxRunner {
    fn shell(&mut self, call: &ShellCall) -> ToolResult {
        let command = display_command(&call.command);
        let refused = |output: String, declined: bool| ToolResult {
            output,
            detail: ToolDetail::Command {
                command: command.clone(),
                exit_code: None,
                failed: true,
                declined,
            },
        };
        let workdir = match self.workdir(call.workdir.as_deref()) {
            Ok(w) => w,
            Err(e) => return refused(e, false),
        };
        if let Some((dir, patch_text)) = patch::parse_heredoc_invocation(&call.command) {
            // Paths are checked as real paths (symlinks and `..` resolved)
            // against the policy, wherever the `cd` pointed.
            let cwd = match dir {
                Some(d) => match std::fs::canonicalize(workdir.join(&d)) {
                    Ok(real) => real,
                    Err(e) => {
                        return refused(format!("cd {d}: {e}; the patch was not applied"), false)
                    }
                },
                None => workdir,
            };
            return self.patch(&patch_text, &cwd);
        }
        match crate::approval::before_run(
            self.approval,
            &call.command,
            call.escalate,
            call.justification.as_deref(),
        ) {
            Decision::Run => {}
            Decision::Decline(why) => {
                return refused(
                    format!(
                        "{why}\nThe command did not run ({}). Try a way that works inside the sandbox, or tell the user what they must do.",
                        self.describe_policy()
                    ),
                    true,
                )
            }
            Decision::Ask(why) => {
                (self.on_approval)(&call.command, Some(&why));
                return refused(
                    format!(
                        "approval needed ({why}), but this front end cannot ask the user, so it is declined; the command did not run ({})",
                        self.describe_policy()
                    ),
                    true,
                );
            }
        }
        let timeout = call
            .timeout_ms
            .map(Duration::from_millis)
            .unwrap_or(DEFAULT_TIMEOUT);
        let f = self.run(&call.command, &workdir, timeout);
        let mut output = f.output;
        if f.timed_out {
            output.push_str(&format!(
                "\n[command killed after the {} ms timeout]",
                timeout.as_millis()
            ));
        } else if f.code == Some(EXIT_REFUSED) {
            output.push_str(&format!(
                "\n[cordon refused to start the command; {}]",
                self.describe_policy()
            ));
        } else if f.code != Some(0) && !output.contains("the sandbox denied") {
            output.push_str(&format!("\n[{}]", self.describe_policy()));
        }
        let code_text = f
            .code
            .map(|c| c.to_string())
            .unwrap_or_else(|| "none".into());
        ToolResult {
            output: format!(
                "exit code: {code_text}\nwall time: {:.1} s\noutput:\n{output}",
                f.wall.as_secs_f64()
            ),
            detail: ToolDetail::Command {
                command,
                exit_code: f.code,
                failed: f.code != Some(0) || f.timed_out,
                declined: false,
            },
        }
    }

    fn apply_patch(&mut self, input: &str) -> ToolResult {
        let cwd = self.cwd.clone();
        self.patch(input, &cwd)
    }
}
