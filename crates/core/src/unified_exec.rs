//! The model's `exec_command` and `write_stdin` tools (`[features]
//! unified_exec`): a command runs under the session's sandbox on a
//! terminal of its own (`cordon sandbox --tty`) and may keep running; a
//! call returns when it exits or when `yield_time_ms` passes, with the
//! output so far and, while it runs, a session id to write to it with
//! `write_stdin` (empty `chars` polls). The processes are kept in
//! [`Processes`]: at most 16, killed on interrupt, with the session, and
//! when cordon dies.

use crate::agent::{ShellCall, ToolDetail, ToolResult};
use crate::interrupt::Interrupt;
use crate::processes::{Listed, Processes};
use crate::runner::{display_command, SandboxRunner};
use crate::tools::{cap_output, ToolSpec};
use serde_json::{json, Value};
use std::collections::HashMap;
use std::sync::Arc;
use std::time::{Duration, Instant};

/// How long `exec_command` waits by default before returning.
const EXEC_YIELD: Duration = Duration::from_secs(10);
/// How long `write_stdin` waits by default.
const WRITE_YIELD: Duration = Duration::from_millis(250);
/// Longest wait a call may ask for.
const MAX_YIELD: Duration = Duration::from_secs(300);
/// Default output budget, in tokens (about four bytes each).
const DEFAULT_TOKENS: u64 = 10_000;

/// The two tools as offered to the model.
pub fn specs() -> Vec<ToolSpec> {
    vec![
        ToolSpec {
            name: "exec_command".into(),
            description: "Run a command in the sandbox on a terminal of its own. Returns when it exits or after yield_time_ms, with its output so far; if it is still running, the result names a session_id to use with write_stdin.".into(),
            parameters: json!({
                "type": "object",
                "properties": {
                    "cmd": {"type": "string", "description": "the command line, run by the user's shell"},
                    "argv": {"type": "array", "items": {"type": "string"}, "description": "or the program and its arguments, run directly"},
                    "workdir": {"type": "string", "description": "working directory (default: the session's)"},
                    "yield_time_ms": {"type": "integer", "description": "return after this long if it is still running (default 10000)"},
                    "max_output_tokens": {"type": "integer", "description": "most output returned (default 10000 tokens; head and tail kept)"},
                    "sandbox_permissions": {"type": "string", "enum": ["use_default", "require_escalated"]},
                    "justification": {"type": "string", "description": "why escalation is needed"},
                    "login": {"type": "boolean", "description": "run cmd in a login shell (default true)"}
                },
                "additionalProperties": false
            }),
        },
        ToolSpec {
            name: "write_stdin".into(),
            description: "Write characters to a running exec_command session (empty chars: just read what it printed since). Returns after yield_time_ms or when it exits.".into(),
            parameters: json!({
                "type": "object",
                "properties": {
                    "session_id": {"type": "integer"},
                    "chars": {"type": "string", "description": "bytes to write (\\n for Enter, \\u0003 for Ctrl-C)"},
                    "yield_time_ms": {"type": "integer", "description": "default 250"},
                    "max_output_tokens": {"type": "integer"}
                },
                "required": ["session_id"],
                "additionalProperties": false
            }),
        },
    ]
}

/// The session's long-running commands.
pub struct UnifiedExec {
    processes: Processes,
    commands: HashMap<u32, String>,
}

impl UnifiedExec {
    /// None running yet.
    pub fn new(interrupt: Arc<Interrupt>) -> UnifiedExec {
        UnifiedExec {
            processes: Processes::new(interrupt),
            commands: HashMap::new(),
        }
    }

    /// The running commands (`/ps`).
    pub fn list(&self) -> Vec<Listed> {
        self.processes.list()
    }

    /// Kills them all.
    pub fn kill_all(&mut self) {
        self.processes.kill_all();
        self.commands.clear();
    }

    /// `exec_command`.
    pub fn exec_command(
        &mut self,
        runner: &mut SandboxRunner,
        call_id: &str,
        args: &Value,
    ) -> ToolResult {
        let text = |k: &str| args.get(k).and_then(Value::as_str).map(str::to_string);
        let argv: Vec<String> = match (text("cmd"), args.get("argv").and_then(Value::as_array)) {
            (Some(cmd), None) if !cmd.trim().is_empty() => {
                let shell = std::env::var("SHELL")
                    .ok()
                    .filter(|s| s.starts_with('/'))
                    .unwrap_or_else(|| "/bin/sh".into());
                let login = args.get("login").and_then(Value::as_bool).unwrap_or(true);
                vec![shell, if login { "-lc" } else { "-c" }.into(), cmd]
            }
            (None, Some(a)) if !a.is_empty() => {
                match a.iter().map(|v| v.as_str().map(str::to_string)).collect() {
                    Some(argv) => argv,
                    None => return ToolResult::text("invalid arguments for exec_command: `argv` must be strings"),
                }
            }
            _ => {
                return ToolResult::text(
                    "invalid arguments for exec_command: give `cmd` (a command line) or `argv` (a non-empty array), not both",
                )
            }
        };
        let command = display_command(&argv);
        let call = ShellCall {
            call_id: call_id.to_string(),
            command: argv.clone(),
            workdir: text("workdir"),
            timeout_ms: None,
            escalate: text("sandbox_permissions").as_deref() == Some("require_escalated"),
            justification: text("justification"),
        };
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
        let workdir = match runner.workdir_of(call.workdir.as_deref()) {
            Ok(w) => w,
            Err(e) => return refused(e, false),
        };
        let confinement = match runner.confinement(&call, &workdir) {
            Ok(c) => c,
            Err((why, declined)) => return refused(why, declined),
        };
        let start = Instant::now();
        // The protected set's file stays open until the launcher has it.
        let (launcher, _set) = runner.long_running(&argv, &workdir, confinement);
        let (id, notes) = match self.processes.start(launcher, command.clone()) {
            Ok(started) => started,
            Err(e) => return refused(format!("cordon could not start the command: {e}"), false),
        };
        self.commands.insert(id, command);
        let mut result = self.poll(id, yield_of(args, EXEC_YIELD), budget(args), start);
        for note in notes {
            result.output.push_str(&format!("\n[{note}]"));
        }
        result
    }

    /// `write_stdin`.
    pub fn write_stdin(&mut self, args: &Value) -> ToolResult {
        let Some(id) = args
            .get("session_id")
            .and_then(Value::as_u64)
            .and_then(|n| u32::try_from(n).ok())
        else {
            return ToolResult::text("invalid arguments for write_stdin: `session_id` must be a number from exec_command");
        };
        let start = Instant::now();
        let chars = args.get("chars").and_then(Value::as_str).unwrap_or("");
        if !chars.is_empty() {
            if let Err(e) = self.processes.write(id, chars.as_bytes()) {
                return ToolResult::text(format!("write_stdin: {e}"));
            }
        }
        self.poll(id, yield_of(args, WRITE_YIELD), budget(args), start)
    }

    fn poll(&mut self, id: u32, wait: Duration, max_bytes: usize, start: Instant) -> ToolResult {
        let command = self.commands.get(&id).cloned().unwrap_or_default();
        let p = match self.processes.poll(id, wait) {
            Ok(p) => p,
            Err(e) => return ToolResult::text(format!("write_stdin: {e}")),
        };
        let mut output = String::from_utf8_lossy(&p.output).into_owned();
        if p.dropped > 0 {
            output.push_str(&format!(
                "\n[... {} bytes of output not kept ...]",
                p.dropped
            ));
        }
        let status = match (p.exit_code, p.session_id) {
            (Some(code), _) => {
                self.commands.remove(&id);
                format!("Process exited with code {code}")
            }
            (None, Some(session)) => format!("Process running with session ID {session}"),
            (None, None) => "Process ended".to_string(),
        };
        ToolResult {
            output: format!(
                "Wall time: {:.3} seconds\n{status}\nOutput:\n{}",
                start.elapsed().as_secs_f64(),
                cap_output(&output, max_bytes)
            ),
            detail: ToolDetail::Process {
                session_id: id,
                command,
                output,
                exit_code: p.exit_code,
                running: p.session_id.is_some(),
            },
        }
    }
}

fn yield_of(args: &Value, default: Duration) -> Duration {
    args.get("yield_time_ms")
        .and_then(Value::as_u64)
        .map(Duration::from_millis)
        .unwrap_or(default)
        .min(MAX_YIELD)
}

fn budget(args: &Value) -> usize {
    let tokens = args
        .get("max_output_tokens")
        .and_then(Value::as_u64)
        .unwrap_or(DEFAULT_TOKENS)
        .clamp(64, 1_000_000);
    (tokens * 4) as usize
}
