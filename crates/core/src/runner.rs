//! The session's [`Tools`]: `shell` runs every command through
//! `cordon sandbox` (a child process, so the sandbox is set up by a process
//! with one thread, and a crash of the command cannot take the session with
//! it); `apply_patch` checks every path against the session's policy on the
//! host, then applies the patch inside the sandbox.
//!
//! A command the sandbox refused or hindered is reported to the model with
//! what was denied (from the sandbox's `--log-denials` report) and the
//! policy it ran under. Where `approval_policy` says to ask, the session's
//! [`Approver`] (the front end) decides; what it approves for the session
//! is remembered here.

use crate::agent::{ChangeKind, ShellCall, ToolDetail, ToolResult, Tools};
use crate::approval::{
    ApprovalAction, ApprovalDecision, ApprovalReason, ApprovalRequest, Approver, Decision,
};
use crate::interrupt::Interrupt;
use crate::patch::{self, FileChange, PatchError};
use cordon_policy::{ApprovalPolicy, SandboxMode, SandboxPolicy};
use std::collections::HashSet;
use std::ffi::OsString;
use std::io::Read;
use std::path::{Path, PathBuf};
use std::process::Command;
use std::sync::mpsc;
use std::sync::Arc;
use std::time::{Duration, Instant};

/// Default limit on one command's run time.
pub const DEFAULT_TIMEOUT: Duration = Duration::from_secs(600);

/// Exit status `cordon sandbox` uses when it refused to start the command.
const EXIT_REFUSED: i32 = 125;

/// Limit on applying one patch inside the sandbox.
const PATCH_TIMEOUT: Duration = Duration::from_secs(60);

/// Called with each approval request before it is asked (for `notify`).
pub type ApprovalHook = Box<dyn FnMut(&ApprovalRequest) + Send>;

/// Where a run happens.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Confinement {
    /// Under the session's policy.
    Sandboxed,
    /// Without the sandbox (the user approved it).
    Unsandboxed,
}

/// What the user approved for the rest of the session.
#[derive(Debug, Default)]
pub struct Remembered {
    commands: HashSet<Vec<String>>,
    files: HashSet<PathBuf>,
    /// MCP tools as (server, tool).
    mcp_tools: HashSet<(String, String)>,
}

/// How commands are run.
pub struct SandboxRunner {
    /// The `cordon` executable, pinned (`/proc/self/fd/N` on Linux) so a
    /// command that replaces the file on disk changes nothing.
    pub cordon_exe: PathBuf,
    /// Arguments after `cordon sandbox`, before `-C`: profile and `-c`
    /// overrides, so the child resolves the same policy (mode and network
    /// are added from `policy`).
    pub sandbox_args: Vec<OsString>,
    /// The session's working directory.
    pub cwd: PathBuf,
    /// The session's policy (for patches and for messages).
    pub policy: SandboxPolicy,
    /// When to ask (`exec` uses [`ApprovalPolicy::Never`]).
    pub approval: ApprovalPolicy,
    /// Esc / Ctrl-C.
    pub interrupt: Arc<Interrupt>,
    /// Who answers approval requests.
    pub approver: Box<dyn Approver>,
    /// Called with each request before it is asked (for `notify`).
    pub on_approval: ApprovalHook,
    /// What was approved for the session.
    pub remembered: Remembered,
    /// The session's watch on its writable roots: when it has the current
    /// protected set, each command's launcher gets it instead of
    /// discovering again (`--protected-set-fd`).
    pub watcher: Option<Arc<cordon_discovery::Watcher>>,
    /// The session writes nothing under `$CORDON_HOME` (`--ephemeral`):
    /// launchers use the discovery index but do not write it.
    pub index_read_only: bool,
    /// Hosts the user allowed for this session after the proxy refused
    /// them: each sandboxed run under `--network proxy` gets
    /// `--allow-domain=HOST`.
    pub session_domains: Vec<String>,
}

/// One line of the proxy's part of a denial report.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ProxyDenial {
    /// The host as the command asked for it.
    pub host: String,
    /// The port.
    pub port: u16,
    /// Why (`not-allowed`, `non-public-address`, `denied`, ...).
    pub reasons: Vec<String>,
}

impl ProxyDenial {
    /// Whether an allow rule for the host would let it through (not for a
    /// deny rule, which wins, nor for a malformed request).
    pub fn allowable(&self) -> bool {
        self.reasons
            .iter()
            .any(|r| r == "not-allowed" || r == "non-public-address")
            && !self.reasons.iter().any(|r| r == "denied")
            && is_plain_host(&self.host)
    }
}

/// A host name or address literal and nothing else: no pattern
/// characters (a command must not get `*` allowed by asking for it), no
/// leading `-` or `.`, and a valid rule.
pub fn is_plain_host(host: &str) -> bool {
    !host.is_empty()
        && host.len() <= 253
        && !host.starts_with(['-', '.'])
        && host
            .chars()
            .all(|c| c.is_ascii_alphanumeric() || "-.:".contains(c))
        && cordon_policy::network::DomainRule::parse(
            host,
            cordon_policy::network::RuleAction::Allow,
        )
        .is_ok()
}

/// The proxy's denials in a `--log-denials` report (or in a command's
/// output that carries one): the lines after `the proxy refused:`, each
/// `proxy HOST:PORT (REASONS) xN`.
pub fn proxy_denials(report: &str) -> Vec<ProxyDenial> {
    let Some((_, rest)) = report.split_once("the proxy refused:\n") else {
        return Vec::new();
    };
    rest.lines()
        .map_while(|l| l.trim_start().strip_prefix("proxy "))
        .filter_map(|l| {
            let (target, rest) = l.trim().split_once(" (")?;
            let (reasons, _) = rest.split_once(')')?;
            let (host, port) = target.rsplit_once(':')?;
            Some(ProxyDenial {
                host: host
                    .trim_start_matches('[')
                    .trim_end_matches(']')
                    .to_string(),
                port: port.parse().ok()?,
                reasons: reasons.split(',').map(str::to_string).collect(),
            })
        })
        .collect()
}

/// One thing the sandbox denied a command, from its denial report, with
/// what would allow it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct SandboxDenial {
    /// `write`, `metadata`, `network` or `unix-socket`.
    pub kind: String,
    /// The path or address.
    pub target: String,
    /// The calls refused (`openat`, `connect`, ...).
    pub ops: String,
    /// What would allow it.
    pub remedy: Remedy,
}

/// What would let a sandboxed command do what was denied.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Remedy {
    /// Workspace-write (from read-only), for a path in the working
    /// directory.
    WorkspaceWrite,
    /// `dir` as a writable root (`[sandbox_workspace_write]
    /// writable_roots`), under workspace-write.
    WritableRoot {
        /// The directory to add.
        dir: PathBuf,
        /// The session is read-only: workspace-write is needed too.
        from_read_only: bool,
    },
    /// Network access (`[network] mode = "full"`, `--network full`).
    Network,
    /// A protected path (`.git`, `.cordon`): no setting lets a sandboxed
    /// command write it.
    Protected,
    /// Nothing in the sandbox allows it (Unix sockets, metadata changes):
    /// only running without the sandbox.
    OutsideOnly,
}

/// The sandbox's denials in a denial report (the launcher's
/// `--denial-report-fd` file: `  KIND TARGET (OPS) xN` lines), each with
/// what would allow it under `policy` (whose working directory is
/// `cwd`).
pub fn sandbox_denials(report: &str, policy: &SandboxPolicy, cwd: &Path) -> Vec<SandboxDenial> {
    report
        .lines()
        .take_while(|l| !l.contains("the proxy refused:"))
        .filter_map(|line| {
            let line = line.strip_prefix("  ")?;
            let (kind, rest) = line.split_once(' ')?;
            if !["write", "metadata", "network", "unix-socket"].contains(&kind) {
                return None;
            }
            let rest = rest.trim_start();
            // `TARGET (OPS)` or `TARGET (OPS) xN`; a target may hold
            // spaces and parentheses, the ops never do.
            let body = match rest.rsplit_once(") x") {
                Some((b, n)) if n.parse::<usize>().is_ok() => b,
                _ => rest.strip_suffix(')')?,
            };
            let (target, ops) = body.rsplit_once(" (")?;
            Some(SandboxDenial {
                kind: kind.to_string(),
                target: target.to_string(),
                ops: ops.to_string(),
                remedy: remedy(kind, target, policy, cwd),
            })
        })
        .collect()
}

/// What would allow a denial of `kind` on `target` under `policy`.
fn remedy(kind: &str, target: &str, policy: &SandboxPolicy, cwd: &Path) -> Remedy {
    match kind {
        "network" => Remedy::Network,
        "write" => {
            let path = Path::new(target);
            let protected = policy.writable_roots.iter().any(|r| {
                r.protected.iter().any(|p| path.starts_with(&p.path))
                    || (path.starts_with(&r.root)
                        && path
                            .strip_prefix(&r.root)
                            .into_iter()
                            .flat_map(Path::components)
                            .any(|c| {
                                let c = c.as_os_str();
                                c == ".git" || c == ".cordon"
                            }))
            });
            if protected {
                return Remedy::Protected;
            }
            let from_read_only = policy.mode == SandboxMode::ReadOnly;
            if from_read_only && path.starts_with(cwd) {
                return Remedy::WorkspaceWrite;
            }
            // The directory itself, or the one the file is (to be) in.
            let dir = if path.is_dir() {
                path.to_path_buf()
            } else {
                path.parent().unwrap_or(path).to_path_buf()
            };
            Remedy::WritableRoot {
                dir,
                from_read_only,
            }
        }
        _ => Remedy::OutsideOnly,
    }
}

/// How a command run through [`launch`] ended.
pub struct Finished {
    /// Exit status (128 + signal when killed by one); `None` when the
    /// launcher could not be started.
    pub code: Option<i32>,
    /// Its standard output, head and tail.
    pub stdout: HeadTail,
    /// Its standard error, head and tail.
    pub stderr: HeadTail,
    /// What the sandbox denied (its `--log-denials` report), if anything.
    pub denied: Option<String>,
    /// Killed at the timeout.
    pub timed_out: bool,
    /// Wall time from spawning the launcher to reaping it.
    pub wall: Duration,
}

impl Finished {
    /// The launcher could not be started at all.
    fn not_started(message: String, start: Instant) -> Finished {
        Finished {
            code: None,
            stdout: HeadTail::default(),
            stderr: HeadTail {
                head: message.into_bytes(),
                ..HeadTail::default()
            },
            denied: None,
            timed_out: false,
            wall: start.elapsed(),
        }
    }

    /// stdout, then stderr.
    fn output(&self) -> String {
        let mut output = self.stdout.text();
        if !self.stderr.is_empty() {
            if !output.is_empty() && !output.ends_with('\n') {
                output.push('\n');
            }
            output.push_str(&self.stderr.text());
        }
        output
    }
}

/// One command run through `cordon sandbox`, exactly as the agent's shell
/// tool runs it (the MCP server's sandbox tool uses this too).
pub struct Launch<'a> {
    /// The `cordon` executable, pinned.
    pub cordon_exe: &'a Path,
    /// `--sandbox` value.
    pub mode: &'a str,
    /// `--network` value.
    pub network: &'a str,
    /// More arguments for `cordon sandbox` before `-C` (profile, `-c`,
    /// writable roots, domain rules).
    pub extra_args: &'a [OsString],
    /// The policy's working directory (`-C`).
    pub policy_cwd: &'a Path,
    /// Where the command starts.
    pub command_cwd: &'a Path,
    /// The command.
    pub argv: &'a [String],
    /// Killed after this long.
    pub timeout: Duration,
    /// Its input (none: `/dev/null`).
    pub stdin: Option<Vec<u8>>,
    /// Kills it when triggered.
    pub interrupt: &'a Interrupt,
    /// Most bytes kept from the start and from the end of each output.
    pub keep: usize,
    /// The session's current protected set (`--protected-set-fd`).
    pub protected_set: Option<&'a std::fs::File>,
    /// Use the discovery index but write none (`exec --ephemeral`).
    pub index_read_only: bool,
}

/// Runs one command under the sandbox through the pinned launcher, with
/// the denial report on an unnamed file and the launcher dying with us.
pub fn launch(l: Launch) -> Finished {
    let start = Instant::now();
    // The denial report goes to a file with no name, handed down as a
    // descriptor: nothing is left on disk however cordon ends.
    let report = match tempfile::tempfile() {
        Ok(f) => f,
        Err(e) => {
            return Finished::not_started(
                format!("cordon could not create the denial report file: {e}"),
                start,
            )
        }
    };
    let mut args: Vec<OsString> = vec!["sandbox".into()];
    args.extend(["--sandbox", l.mode, "--network", l.network].map(OsString::from));
    args.extend(l.extra_args.iter().cloned());
    args.extend([
        "-C".into(),
        l.policy_cwd.as_os_str().to_os_string(),
        "--command-cwd".into(),
        l.command_cwd.as_os_str().to_os_string(),
        // The launcher keeps cordon's whole environment for itself (it
        // finds the config by `HOME`/`CORDON_HOME`, `TMPDIR` is a
        // writable root, the host's proxy is chained) and gives the
        // command what `[shell_environment_policy]` makes of it
        // (`crate::shell_env::command_env`).
        "--shell-environment-policy".into(),
    ]);
    // The launcher dies with us: it sets its own parent-death signal (a
    // hook here would make the spawn copy our address space).
    args.extend(parent_pid_args());
    if l.index_read_only {
        args.push("--discovery-index-read-only".into());
    }
    args.push("--".into());
    args.extend(l.argv.iter().map(OsString::from));
    let mut passed = vec![("--denial-report-fd", &report)];
    if let Some(set) = l.protected_set {
        passed.push(("--protected-set-fd", set));
    }
    let stdin = l.stdin;
    let spec = crate::launcher_spawn::LauncherSpec {
        exe: l.cordon_exe,
        args,
        passed,
        stdin_piped: stdin.is_some(),
    };
    let mut child = match crate::launcher_spawn::start(spec) {
        Ok(c) => c,
        Err(e) => {
            return Finished::not_started(
                format!(
                    "cordon could not start its sandbox launcher {}: {e}",
                    l.cordon_exe.display()
                ),
                start,
            )
        }
    };
    let pid = child.pid;
    l.interrupt.watch_child(pid);
    if let (Some(mut pipe), Some(input)) = (child.stdin.take(), stdin) {
        // A command that does not read its input must not block us.
        std::thread::spawn(move || {
            let _ = std::io::Write::write_all(&mut pipe, &input);
        });
    }
    // The timeout kills the launcher, whose death takes the sandbox down.
    let (done_tx, done_rx) = mpsc::channel::<()>();
    let timeout = l.timeout;
    let timer = std::thread::spawn(move || {
        matches!(
            done_rx.recv_timeout(timeout),
            Err(mpsc::RecvTimeoutError::Timeout)
        ) && {
            crate::interrupt::kill(pid);
            true
        }
    });
    let stderr = std::mem::replace(&mut child.stderr, Box::new(std::io::empty()));
    let keep = l.keep;
    let err_reader = std::thread::spawn(move || HeadTail::read(stderr, keep));
    let out = HeadTail::read(&mut child.stdout, keep);
    // Wait without reaping, so the pid cannot be reused while the timer
    // or an interrupt might still signal it; then stop both and reap.
    wait_unreaped(pid);
    l.interrupt.forget_child(pid);
    let _ = done_tx.send(());
    let timed_out = timer.join().unwrap_or(false);
    let status = child.wait();
    let err = err_reader.join().unwrap_or_default();
    let code = status.ok().and_then(exit_code);
    // The report says so when nothing was denied.
    let denied =
        read_report(report).filter(|d| !d.trim().is_empty() && !d.contains("no denials recorded"));
    Finished {
        code,
        stdout: out,
        stderr: err,
        denied,
        timed_out,
        wall: start.elapsed(),
    }
}

impl SandboxRunner {
    /// Whether `call` runs, and where, by `approval_policy` (asking the
    /// user where it says to); `Err` carries the text for the model and
    /// whether the command was declined.
    pub(crate) fn confinement(
        &mut self,
        call: &ShellCall,
        workdir: &Path,
    ) -> Result<Confinement, (String, bool)> {
        match crate::approval::before_run(
            self.approval,
            &call.command,
            call.escalate,
            call.justification.as_deref(),
        ) {
            Decision::Run => Ok(Confinement::Sandboxed),
            Decision::Decline(why) => Err((
                format!(
                    "{why}\nThe command did not run ({}). Try a way that works inside the sandbox, or tell the user what they must do.",
                    self.describe_policy()
                ),
                true,
            )),
            Decision::Ask(_) => {
                let reason = if call.escalate {
                    ApprovalReason::Escalation
                } else {
                    ApprovalReason::Untrusted
                };
                let request = ApprovalRequest {
                    call_id: call.call_id.clone(),
                    action: ApprovalAction::Command {
                        argv: call.command.clone(),
                        cwd: workdir.to_path_buf(),
                    },
                    justification: call.justification.clone(),
                    reason,
                };
                if let Err(why) = self.ask(request) {
                    return Err((format!("{why} ({})", self.describe_policy()), true));
                }
                Ok(if call.escalate {
                    Confinement::Unsandboxed
                } else {
                    Confinement::Sandboxed
                })
            }
        }
    }

    /// The launcher for a long-running command (`exec_command`): `cordon
    /// sandbox --tty` under the session's policy (or none, as approved),
    /// dying with cordon; its streams are set by the caller.
    pub(crate) fn long_running(
        &self,
        argv: &[String],
        workdir: &Path,
        confinement: Confinement,
    ) -> (Command, Option<std::fs::File>) {
        let (mode, network) = self.mode_and_network(confinement);
        let mut cmd = Command::new(&self.cordon_exe);
        #[cfg(unix)]
        std::os::unix::process::CommandExt::arg0(&mut cmd, "cordon");
        cmd.arg("sandbox")
            .args(["--sandbox", mode, "--network", network])
            .args(self.launcher_args(confinement))
            .arg("-C")
            .arg(&self.cwd)
            .arg("--command-cwd")
            .arg(workdir)
            .args(["--shell-environment-policy", "--tty"]);
        // As for every command: the session's protected set, and no index
        // written by an ephemeral session.
        let set = self.protected_set_for(confinement);
        if let Some(file) = &set {
            pass_fd(&mut cmd, "--protected-set-fd", file);
        }
        if self.index_read_only {
            cmd.arg("--discovery-index-read-only");
        }
        cmd.arg("--").args(argv);
        die_with_parent(&mut cmd);
        (cmd, set)
    }

    /// `--sandbox` and `--network` for a run.
    fn mode_and_network(&self, confinement: Confinement) -> (&'static str, &'static str) {
        match confinement {
            Confinement::Sandboxed => (self.policy.mode.as_str(), self.policy.network.as_str()),
            Confinement::Unsandboxed => ("danger-full-access", "full"),
        }
    }

    /// The session's current protected set for a workspace-write run in
    /// the sandbox (none otherwise, or while the watch has none).
    fn protected_set_for(&self, confinement: Confinement) -> Option<std::fs::File> {
        match confinement {
            Confinement::Sandboxed if self.policy.mode == SandboxMode::WorkspaceWrite => {
                self.protected_set()
            }
            _ => None,
        }
    }

    /// The launcher's arguments before `-C`: the session's profile and
    /// `-c`, and under `--network proxy` the hosts the user allowed for
    /// the session.
    fn launcher_args(&self, confinement: Confinement) -> Vec<OsString> {
        let mut args = self.sandbox_args.clone();
        if confinement == Confinement::Sandboxed
            && self.policy.network == cordon_policy::NetworkMode::Proxy
        {
            args.extend(
                self.session_domains
                    .iter()
                    .map(|h| OsString::from(format!("--allow-domain={h}"))),
            );
        }
        args
    }

    /// The model's `workdir` (relative to the session's), as a real path.
    pub(crate) fn workdir_of(&self, requested: Option<&str>) -> Result<PathBuf, String> {
        self.workdir(requested)
    }

    fn describe_policy(&self) -> String {
        format!(
            "sandbox: {} with network {}",
            self.policy.mode, self.policy.network
        )
    }

    /// Runs `argv` in `workdir` under the sandbox, with `stdin` as its
    /// input (none: `/dev/null`).
    fn run(
        &self,
        argv: &[String],
        workdir: &Path,
        timeout: Duration,
        stdin: Option<Vec<u8>>,
        confinement: Confinement,
    ) -> Finished {
        // The policy's working directory (the writable root) is always the
        // session's; the model's `workdir` only says where the command starts.
        let (mode, network) = self.mode_and_network(confinement);
        // The current protected set, in a file with no name: the launcher
        // still pins each path and refuses on a swap; without it (the
        // watch is starting or gave up) the launcher discovers itself.
        let protected_set = self.protected_set_for(confinement);
        let extra_args = self.launcher_args(confinement);
        launch(Launch {
            cordon_exe: &self.cordon_exe,
            mode,
            network,
            extra_args: &extra_args,
            policy_cwd: &self.cwd,
            command_cwd: workdir,
            argv,
            timeout,
            stdin,
            interrupt: &self.interrupt,
            keep: KEEP,
            protected_set: protected_set.as_ref(),
            index_read_only: self.index_read_only,
        })
    }

    /// The watch's current protected set in an unnamed file, if it has one.
    fn protected_set(&self) -> Option<std::fs::File> {
        use std::io::Write;
        let set = self.watcher.as_ref()?.current().ok()?;
        let json = set.to_json()?;
        let mut file = tempfile::tempfile().ok()?;
        file.write_all(&json).ok()?;
        Some(file)
    }

    /// Asks the approver, unless the same thing was approved for the
    /// session; `Err` is the text for the model when the answer is no.
    pub(crate) fn ask(&mut self, request: ApprovalRequest) -> Result<ApprovalDecision, String> {
        let proxy_question = matches!(request.reason, ApprovalReason::ProxyDenied { .. });
        let remembered = !proxy_question
            && match &request.action {
                ApprovalAction::Command { argv, .. } => self.remembered.commands.contains(argv),
                ApprovalAction::Patch { files } => {
                    !files.is_empty()
                        && files
                            .iter()
                            .all(|f| self.remembered.files.contains(&f.path))
                }
                ApprovalAction::McpToolCall { server, tool, .. } => self
                    .remembered
                    .mcp_tools
                    .contains(&(server.clone(), tool.clone())),
            };
        if remembered {
            return Ok(ApprovalDecision::Approve);
        }
        (self.on_approval)(&request);
        match self.approver.decide(&request) {
            ApprovalDecision::Approve => Ok(ApprovalDecision::Approve),
            ApprovalDecision::AllowDomainsForSession => match request.reason {
                ApprovalReason::ProxyDenied { hosts, .. } => {
                    for h in hosts {
                        if is_plain_host(&h) && !self.session_domains.contains(&h) {
                            self.session_domains.push(h);
                        }
                    }
                    Ok(ApprovalDecision::AllowDomainsForSession)
                }
                // Only offered for a proxy denial: anything else is a no.
                _ => Err("the user declined; it did not run".into()),
            },
            ApprovalDecision::ApproveForSession if proxy_question => {
                // "The same command" says nothing about hosts: once.
                Ok(ApprovalDecision::Approve)
            }
            ApprovalDecision::ApproveForSession => {
                match request.action {
                    ApprovalAction::Command { argv, .. } => {
                        self.remembered.commands.insert(argv);
                    }
                    ApprovalAction::Patch { files } => {
                        self.remembered
                            .files
                            .extend(files.into_iter().map(|f| f.path));
                    }
                    ApprovalAction::McpToolCall { server, tool, .. } => {
                        self.remembered.mcp_tools.insert((server, tool));
                    }
                }
                Ok(ApprovalDecision::ApproveForSession)
            }
            ApprovalDecision::Deny => Err(format!(
                "the user declined ({}); it did not run. Try another way, or ask the user.",
                request.reason.describe()
            )),
            ApprovalDecision::Abort => {
                self.interrupt.trigger();
                Err("the user declined and stopped the turn; wait for their instructions".into())
            }
        }
    }

    /// Checks `input` against the policy here (a refusal changes nothing;
    /// where the approval policy allows, a patch outside the writable roots
    /// is put to the user), then applies it inside the sandbox
    /// ([`patch::helper`]), or outside it when the user approved that.
    fn patch(&mut self, call_id: &str, input: &str, cwd: &Path) -> ToolResult {
        let not_applied = |why: String| ToolResult {
            output: format!("patch not applied (no file was changed): {why}"),
            detail: ToolDetail::Patch {
                changes: Vec::new(),
                applied: false,
            },
        };
        let parsed = match patch::parse(input) {
            Ok(p) => p,
            Err(e) => return not_applied(e.to_string()),
        };
        let (reason, confinement) = match patch::plan(&parsed, cwd, Some(&self.policy)) {
            Ok(_) if self.approval == ApprovalPolicy::Untrusted => {
                (Some(ApprovalReason::Untrusted), Confinement::Sandboxed)
            }
            Ok(_) => (None, Confinement::Sandboxed),
            Err(PatchError::Denied { path }) if self.approval != ApprovalPolicy::Never => (
                Some(ApprovalReason::OutsideWritableRoots { path }),
                Confinement::Unsandboxed,
            ),
            Err(e) => return not_applied(e.to_string()),
        };
        if let Some(reason) = reason {
            let files = match patch::preview(&parsed, cwd) {
                Ok(files) => files,
                Err(e) => return not_applied(e.to_string()),
            };
            let request = ApprovalRequest {
                call_id: call_id.to_string(),
                action: ApprovalAction::Patch { files },
                justification: None,
                reason,
            };
            if let Err(why) = self.ask(request) {
                return not_applied(why);
            }
        }
        let helper = vec![
            self_inside_sandbox(&self.cordon_exe),
            patch::helper::SUBCOMMAND.to_string(),
        ];
        let f = self.run(
            &helper,
            cwd,
            PATCH_TIMEOUT,
            Some(input.as_bytes().to_vec()),
            confinement,
        );
        let applied = match patch::helper::parse_report(&f.stdout.text()) {
            Ok(applied) if f.code == Some(0) => applied,
            result => {
                // What the kernel refused, or why the helper did not run.
                let mut why = match result {
                    Err(e) if f.code != Some(1) => format!("{e} (exit {:?})", f.code),
                    Err(e) => e,
                    Ok(_) => format!("the patch helper exited with {:?}", f.code),
                };
                let stderr = f.stderr.text();
                if !stderr.trim().is_empty() {
                    why.push_str(&format!("\n{}", stderr.trim_end()));
                }
                if let Some(denied) = &f.denied {
                    why.push_str(&format!(
                        "\n[{}] the sandbox denied:\n{}",
                        self.describe_policy(),
                        denied.trim_end()
                    ));
                }
                return ToolResult {
                    output: format!("patch not applied: {why}"),
                    detail: ToolDetail::Patch {
                        changes: Vec::new(),
                        applied: false,
                    },
                };
            }
        };
        let changes: Vec<(String, ChangeKind)> = applied
            .changes
            .iter()
            .map(|c| match c {
                FileChange::Added(p) => (p.display().to_string(), ChangeKind::Add),
                FileChange::Updated { to, .. } => (to.display().to_string(), ChangeKind::Update),
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
        if confinement == Confinement::Unsandboxed {
            text.push_str("(applied outside the sandbox, as the user approved)\n");
        }
        ToolResult {
            output: text,
            detail: ToolDetail::Patch {
                changes,
                applied: true,
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

/// Most bytes of each stream kept from the start and from the end for
/// the agent; the middle of a longer output is counted, not kept.
const KEEP: usize = 512 * 1024;

/// The head and tail of a stream.
#[derive(Default)]
pub struct HeadTail {
    head: Vec<u8>,
    tail: std::collections::VecDeque<u8>,
    dropped: u64,
}

impl HeadTail {
    /// Reads `from` to its end, keeping `keep` bytes from the start and
    /// `keep` from the end.
    pub fn read(mut from: impl Read, keep: usize) -> HeadTail {
        let mut ht = HeadTail::default();
        let mut buf = [0u8; 16 * 1024];
        loop {
            let n = match from.read(&mut buf) {
                Ok(0) | Err(_) => break,
                Ok(n) => n,
            };
            let mut data = &buf[..n];
            if ht.head.len() < keep {
                let take = data.len().min(keep - ht.head.len());
                ht.head.extend_from_slice(&data[..take]);
                data = &data[take..];
            }
            ht.tail.extend(data);
            while ht.tail.len() > keep {
                let excess = ht.tail.len() - keep;
                ht.tail.drain(..excess);
                ht.dropped += excess as u64;
            }
        }
        ht
    }

    /// Whether nothing was read.
    pub fn is_empty(&self) -> bool {
        self.head.is_empty()
    }

    /// Bytes read but not kept (the middle).
    pub fn dropped(&self) -> u64 {
        self.dropped
    }

    /// Head and tail as text, with a line counting what was left out.
    pub fn text(&self) -> String {
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

/// `--parent-pid OUR_PID` for the launcher, which then dies with us (on
/// Linux, where it can: a parent-death signal).
fn parent_pid_args() -> Vec<OsString> {
    if cfg!(target_os = "linux") {
        vec!["--parent-pid".into(), std::process::id().to_string().into()]
    } else {
        Vec::new()
    }
}

/// Makes the launcher die with cordon (even by SIGKILL): a parent-death
/// signal, and a check that the parent did not die before it was set.
/// The launcher's own death takes its sandboxed tree down.
fn die_with_parent(cmd: &mut Command) {
    #[cfg(target_os = "linux")]
    {
        use std::os::unix::process::CommandExt;
        // SAFETY: the hook makes only async-signal-safe calls.
        unsafe { cmd.pre_exec(parent_death_hook()) };
    }
    #[cfg(not(target_os = "linux"))]
    let _ = cmd;
}

/// A `pre_exec` hook that makes the child die with this process, even by
/// SIGKILL (a parent-death signal), and fails the spawn when this process
/// died before the signal was set. Only async-signal-safe calls.
#[cfg(target_os = "linux")]
pub fn parent_death_hook() -> impl FnMut() -> std::io::Result<()> + Send + Sync + 'static {
    // SAFETY: getpid has no preconditions.
    let parent = unsafe { libc::getpid() };
    move || {
        // SAFETY: prctl and getppid are async-signal-safe.
        unsafe {
            if libc::prctl(libc::PR_SET_PDEATHSIG, libc::SIGKILL as libc::c_ulong) != 0 {
                return Err(std::io::Error::last_os_error());
            }
            if libc::getppid() != parent {
                return Err(std::io::Error::other("cordon exited while starting it"));
            }
        }
        Ok(())
    }
}

/// Hands `file` to the launcher as `FLAG N` (`--denial-report-fd`,
/// `--protected-set-fd`): the descriptor (close-on-exec everywhere else)
/// stays open across this one exec.
fn pass_fd(cmd: &mut Command, flag: &str, file: &std::fs::File) {
    #[cfg(unix)]
    {
        use std::os::fd::AsRawFd;
        use std::os::unix::process::CommandExt;
        let fd = file.as_raw_fd();
        cmd.arg(flag).arg(fd.to_string());
        // SAFETY: fcntl is async-signal-safe, as pre_exec needs; fd is open
        // for as long as `cmd` is spawned (the caller holds `file`).
        unsafe {
            cmd.pre_exec(move || {
                if libc::fcntl(fd, libc::F_SETFD, 0) != 0 {
                    return Err(std::io::Error::last_os_error());
                }
                Ok(())
            });
        }
    }
    #[cfg(not(unix))]
    let _ = (cmd, flag, file);
}

/// The launcher's denial report, from the start of the file.
fn read_report(mut report: std::fs::File) -> Option<String> {
    use std::io::Seek;
    report.seek(std::io::SeekFrom::Start(0)).ok()?;
    let mut text = String::new();
    report.read_to_string(&mut text).ok()?;
    Some(text)
}

/// How the sandboxed helper names cordon's executable: on Linux the
/// launcher's own running file (`/proc/self/exe` in the launcher's child,
/// never a path a command could have replaced), elsewhere the pinned path.
fn self_inside_sandbox(cordon_exe: &Path) -> String {
    if cfg!(target_os = "linux") {
        "/proc/self/exe".to_string()
    } else {
        cordon_exe.display().to_string()
    }
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
                denials: Vec::new(),
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
            return self.patch(&call.call_id, &patch_text, &cwd);
        }
        let ask_for = |reason: ApprovalReason| ApprovalRequest {
            call_id: call.call_id.clone(),
            action: ApprovalAction::Command {
                argv: call.command.clone(),
                cwd: workdir.clone(),
            },
            justification: call.justification.clone(),
            reason,
        };
        let confinement = match self.confinement(call, &workdir) {
            Ok(c) => c,
            Err((why, declined)) => return refused(why, declined),
        };
        let timeout = call
            .timeout_ms
            .map(Duration::from_millis)
            .unwrap_or(DEFAULT_TIMEOUT);
        let mut f = self.run(&call.command, &workdir, timeout, None, confinement);
        let mut rerun_note = "";
        let mut proxy_note = String::new();
        let mut confinement = confinement;
        // The proxy refused hosts an allow rule would let through: the user
        // may allow them for the session (and the command runs again in
        // the sandbox) or run it again without the sandbox.
        let refused: Vec<String> = match (&f.denied, confinement, self.approval) {
            (Some(report), Confinement::Sandboxed, a) if a != ApprovalPolicy::Never => {
                let mut hosts: Vec<String> = proxy_denials(report)
                    .into_iter()
                    .filter(ProxyDenial::allowable)
                    .map(|d| d.host)
                    .filter(|h| !self.session_domains.contains(h))
                    .collect();
                hosts.dedup();
                hosts
            }
            _ => Vec::new(),
        };
        if !refused.is_empty() && !f.timed_out && !self.interrupt.is_set() {
            let denied = f.denied.clone().unwrap_or_default();
            match self.ask(ask_for(ApprovalReason::ProxyDenied {
                hosts: refused.clone(),
                denied,
            })) {
                Ok(ApprovalDecision::AllowDomainsForSession) => {
                    f = self.run(
                        &call.command,
                        &workdir,
                        timeout,
                        None,
                        Confinement::Sandboxed,
                    );
                    proxy_note = format!(
                        "\n[the proxy refused {}; the user allowed it for this session, and this is the run after that]",
                        refused.join(", ")
                    );
                }
                Ok(_) => {
                    f = self.run(
                        &call.command,
                        &workdir,
                        timeout,
                        None,
                        Confinement::Unsandboxed,
                    );
                    confinement = Confinement::Unsandboxed;
                    proxy_note = format!(
                        "\n[the proxy refused {}; the user approved running it again without the sandbox, and this is that run]",
                        refused.join(", ")
                    );
                }
                Err(why) => {
                    proxy_note = if why.contains("stopped the turn") {
                        "\n[the user did not allow the refused hosts and stopped the turn]".into()
                    } else {
                        "\n[the user did not allow the refused hosts]".into()
                    };
                }
            }
        }
        // `on-failure`: the sandbox denied something and the command failed:
        // the user may let it run again without the sandbox.
        if let (Confinement::Sandboxed, Some(denied), Some(_), true) = (
            confinement,
            f.denied.clone(),
            crate::approval::after_failure(self.approval),
            refused.is_empty(),
        ) {
            if f.code != Some(0) && !f.timed_out && !self.interrupt.is_set() {
                match self.ask(ask_for(ApprovalReason::SandboxDenied { denied })) {
                    Ok(_) => {
                        f = self.run(
                            &call.command,
                            &workdir,
                            timeout,
                            None,
                            Confinement::Unsandboxed,
                        );
                        rerun_note = "\n[it failed in the sandbox; the user approved running it again without the sandbox, and this is that run]";
                    }
                    Err(why) => {
                        rerun_note = if why.contains("stopped the turn") {
                            "\n[the user declined running it without the sandbox and stopped the turn]"
                        } else {
                            "\n[the user declined running it again without the sandbox]"
                        }
                    }
                }
            }
        }
        // What the sandbox denied the run the model sees, for the user.
        let denials = match (&f.denied, confinement) {
            (Some(report), Confinement::Sandboxed) => {
                sandbox_denials(report, &self.policy, &self.cwd)
            }
            _ => Vec::new(),
        };
        let mut output = f.output();
        if let Some(denied) = &f.denied {
            output.push_str(&format!(
                "\n[{}] the sandbox denied:\n{}",
                self.describe_policy(),
                denied.trim_end()
            ));
        }
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
        output.push_str(rerun_note);
        output.push_str(&proxy_note);
        if confinement == Confinement::Unsandboxed {
            output.push_str("\n[ran outside the sandbox, as the user approved]");
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
                denials,
            },
        }
    }

    fn apply_patch(&mut self, call_id: &str, input: &str) -> ToolResult {
        let cwd = self.cwd.clone();
        self.patch(call_id, input, &cwd)
    }
}

/// A finished process's exit code; a signal death counts as 128 + the
/// signal's number, as shells report it.
#[cfg(unix)]
fn exit_code(s: std::process::ExitStatus) -> Option<i32> {
    use std::os::unix::process::ExitStatusExt;
    s.code().or_else(|| s.signal().map(|n| 128 + n))
}

/// A finished process's exit code.
#[cfg(not(unix))]
fn exit_code(s: std::process::ExitStatus) -> Option<i32> {
    s.code()
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::sync::Mutex;

    /// Answers from a script and counts the questions.
    struct Scripted(Arc<Mutex<Vec<ApprovalDecision>>>, Arc<Mutex<usize>>);

    impl Approver for Scripted {
        fn decide(&mut self, _request: &ApprovalRequest) -> ApprovalDecision {
            *self.1.lock().unwrap() += 1;
            self.0.lock().unwrap().remove(0)
        }
    }

    /// Each line of the launcher's report becomes a denial with what
    /// would allow it: a root for a path outside the workspace, the mode
    /// for one inside it (from read-only), nothing for a protected `.git`
    /// or a Unix socket, the network mode for a connect; the proxy's part
    /// is not the sandbox's.
    #[test]
    fn sandbox_denials_say_what_would_allow_each() {
        let w = tempfile::tempdir().unwrap();
        let w = std::fs::canonicalize(w.path()).unwrap();
        std::fs::create_dir(w.join(".git")).unwrap();
        let outside = tempfile::tempdir().unwrap();
        let outside = std::fs::canonicalize(outside.path()).unwrap();
        let policy = |mode| {
            cordon_policy::resolve(&cordon_policy::PolicyInputs {
                mode,
                network: cordon_policy::NetworkMode::None,
                cwd: w.clone(),
                writable_roots: Vec::new(),
                exclude_tmpdir_env_var: true,
                exclude_slash_tmp: true,
                ..Default::default()
            })
            .unwrap()
        };
        let report = format!(
            "cordon: 5 denied target(s):\n  write       {o}/new file.txt (openat) x2\n  write       {w}/.git/config (openat,rename)\n  network     192.0.2.7:443 (connect)\n  unix-socket socket(AF_UNIX) (socket)\n  write       {o} (mkdir)\ncordon: the proxy refused:\n  proxy       example.com:443 (not-allowed) x1\n",
            o = outside.display(),
            w = w.display()
        );
        let ww = sandbox_denials(&report, &policy(SandboxMode::WorkspaceWrite), &w);
        let remedies: Vec<(&str, &str, &Remedy)> = ww
            .iter()
            .map(|d| (d.kind.as_str(), d.ops.as_str(), &d.remedy))
            .collect();
        let root = |dir: &Path, from_read_only| Remedy::WritableRoot {
            dir: dir.to_path_buf(),
            from_read_only,
        };
        assert_eq!(
            remedies,
            vec![
                ("write", "openat", &root(&outside, false)),
                ("write", "openat,rename", &Remedy::Protected),
                ("network", "connect", &Remedy::Network),
                ("unix-socket", "socket", &Remedy::OutsideOnly),
                // An existing directory is the root itself.
                ("write", "mkdir", &root(&outside, false)),
            ]
        );
        assert_eq!(ww[0].target, format!("{}/new file.txt", outside.display()));
        let ro = sandbox_denials(
            &format!(
                "  write       {}/src/a.rs (openat)\n  write       {}/x (openat)\n",
                w.display(),
                outside.display()
            ),
            &policy(SandboxMode::ReadOnly),
            &w,
        );
        assert_eq!(ro[0].remedy, Remedy::WorkspaceWrite);
        assert_eq!(ro[1].remedy, root(&outside, true));
        assert!(sandbox_denials(
            "cordon: no denials recorded\n",
            &policy(SandboxMode::ReadOnly),
            &w
        )
        .is_empty());
    }

    fn runner(answers: Vec<ApprovalDecision>) -> (SandboxRunner, Arc<Mutex<usize>>) {
        let asked = Arc::new(Mutex::new(0));
        let dir = std::env::temp_dir();
        let policy = cordon_policy::resolve(&cordon_policy::PolicyInputs {
            mode: cordon_policy::SandboxMode::ReadOnly,
            network: cordon_policy::NetworkMode::None,
            cwd: dir.clone(),
            writable_roots: Vec::new(),
            exclude_tmpdir_env_var: true,
            exclude_slash_tmp: true,
            ..Default::default()
        })
        .unwrap();
        let r = SandboxRunner {
            cordon_exe: PathBuf::from("/nonexistent"),
            sandbox_args: Vec::new(),
            cwd: dir,
            policy,
            approval: ApprovalPolicy::OnRequest,
            interrupt: Arc::new(Interrupt::default()),
            approver: Box::new(Scripted(Arc::new(Mutex::new(answers)), asked.clone())),
            watcher: None,
            index_read_only: false,
            on_approval: Box::new(|_| {}),
            remembered: Remembered::default(),
            session_domains: Vec::new(),
        };
        (r, asked)
    }

    fn command(argv: &[&str]) -> ApprovalRequest {
        ApprovalRequest {
            call_id: "c".into(),
            action: ApprovalAction::Command {
                argv: argv.iter().map(|a| a.to_string()).collect(),
                cwd: PathBuf::from("/"),
            },
            justification: None,
            reason: ApprovalReason::Escalation,
        }
    }

    /// "Yes for the session" is remembered for the same command only;
    /// "no" is told to the model; "stop" also interrupts the turn.
    #[test]
    fn session_approvals_are_remembered_and_abort_interrupts() {
        use ApprovalDecision::*;
        let (mut r, asked) = runner(vec![ApproveForSession, Approve, Deny, Abort]);
        assert!(r.ask(command(&["make"])).is_ok());
        assert!(r.ask(command(&["make"])).is_ok(), "remembered");
        assert_eq!(*asked.lock().unwrap(), 1);
        assert!(
            r.ask(command(&["make", "install"])).is_ok(),
            "approved once"
        );
        let no = r.ask(command(&["rm", "-rf", "x"])).unwrap_err();
        assert!(no.contains("declined"), "{no}");
        assert!(!r.interrupt.is_set());
        let stop = r.ask(command(&["rm", "-rf", "x"])).unwrap_err();
        assert!(stop.contains("stopped the turn"), "{stop}");
        assert!(r.interrupt.is_set());
        assert_eq!(*asked.lock().unwrap(), 4);
    }

    /// A patch outside the writable roots is put to the user (and refused
    /// without running anything when they say no); under `never` it is not
    /// even asked.
    #[test]
    fn a_patch_outside_the_roots_is_asked_and_a_no_writes_nothing() {
        let outside = tempfile::tempdir().unwrap();
        let target = outside.path().join("new.txt");
        let patch = format!(
            "*** Begin Patch\n*** Add File: {}\n+x\n*** End Patch\n",
            "new.txt"
        );
        let (mut r, asked) = runner(vec![ApprovalDecision::Deny]);
        let cwd = std::fs::canonicalize(outside.path()).unwrap();
        let result = r.patch("p", &patch, &cwd);
        assert!(result.output.contains("declined"), "{}", result.output);
        assert_eq!(*asked.lock().unwrap(), 1);
        assert!(!target.exists());
        r.approval = ApprovalPolicy::Never;
        let result = r.patch("p", &patch, &cwd);
        assert!(
            result.output.contains("does not allow writing"),
            "{}",
            result.output
        );
        assert_eq!(*asked.lock().unwrap(), 1, "never asks");
    }
}

#[cfg(test)]
mod proxy_tests {
    use super::*;

    #[test]
    fn proxy_denials_are_read_from_the_report_and_only_plain_hosts_are_allowable() {
        let report = "cordon: the proxy refused:\n  proxy       example.com:443 (not-allowed) x2\n  proxy       10.0.0.5:8080 (non-public-address) x1\n  proxy       bad.example:80 (denied) x1\n  proxy       *.evil:443 (not-allowed) x1\n  proxy       -x:443 (not-allowed) x1\n";
        let d = proxy_denials(&format!("exit code: 56\noutput:\ncurl: (56)\n[sandbox: read-only with network proxy] the sandbox denied:\n{report}"));
        assert_eq!(d.len(), 5);
        assert_eq!(d[0].host, "example.com");
        assert_eq!(d[0].port, 443);
        assert_eq!(d[1].reasons, ["non-public-address"]);
        let allowable: Vec<&str> = d
            .iter()
            .filter(|d| d.allowable())
            .map(|d| d.host.as_str())
            .collect();
        assert_eq!(
            allowable,
            ["example.com", "10.0.0.5"],
            "no deny-rule hit, no pattern, no flag"
        );
        assert!(proxy_denials("no denials recorded").is_empty());
    }
}
