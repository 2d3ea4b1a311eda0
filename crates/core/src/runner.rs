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
    /// The `cordon` executable.
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
        cmd.arg("sandbox")
            .args(&self.sandbox_args)
            .arg("-C")
            .arg(workdir)
            .arg("--denial-report")
            .arg(&report)
            .arg("--")
            .args(argv)
            .stdin(Stdio::null())
            .stdout(Stdio::piped())
            .stderr(Stdio::piped());
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
        let err_reader = std::thread::spawn(move || {
            let mut buf = Vec::new();
            if let Some(mut e) = stderr {
                let _ = e.read_to_end(&mut buf);
            }
            buf
        });
        let mut out = Vec::new();
        if let Some(mut o) = child.stdout.take() {
            let _ = o.read_to_end(&mut out);
        }
        let status = child.wait();
        self.interrupt.forget_child(pid);
        let _ = done_tx.send(());
        let timed_out = timer.join().unwrap_or(false);
        let err = err_reader.join().unwrap_or_default();
        let mut output = String::from_utf8_lossy(&out).into_owned();
        if !err.is_empty() {
            if !output.is_empty() && !output.ends_with('\n') {
                output.push('\n');
            }
            output.push_str(&String::from_utf8_lossy(&err));
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

    fn workdir(&self, requested: Option<&str>) -> Result<PathBuf, String> {
        let dir = match requested {
            Some(w) if !w.is_empty() => self.cwd.join(w),
            _ => self.cwd.clone(),
        };
        if dir.is_dir() {
            Ok(dir)
        } else {
            Err(format!("workdir {} is not a directory", dir.display()))
        }
    }
}

/// A fresh path in the temp directory for the denial report.
fn tempfile_path() -> PathBuf {
    let mut bytes = [0u8; 8];
    let _ = getrandom::fill(&mut bytes);
    let tag: String = bytes.iter().map(|b| format!("{b:02x}")).collect();
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
            let cwd = match dir {
                Some(d) => workdir.join(d),
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
