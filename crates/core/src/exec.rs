//! `cordon exec`: one headless turn (new or resumed session), with the
//! event stream on stdout (`--json`) or the final message on stdout and a
//! readable account on stderr.

use crate::agent::{run_turn, AgentEvent, ToolDetail, TurnConfig, TurnError, WireApi};
use crate::events::EventMapper;
use crate::interrupt::Interrupt;
use crate::model::client::HttpTransport;
use crate::model::request::Item;
use crate::model::Usage;
use crate::pinned_dir::PinnedDir;
use crate::rollout::{self, Rollout};
use crate::runner::SandboxRunner;
use crate::{instructions, notify, CoreError};
use cordon_config::ModelProvider;
use cordon_policy::{ApprovalPolicy, SandboxPolicy};
use serde_json::{json, Value};
use std::ffi::OsString;
use std::io::Write;
use std::path::{Path, PathBuf};
use std::sync::Arc;

/// Which session to continue.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Resume {
    /// The most recent one.
    Last,
    /// The one with this id.
    Id(String),
}

/// Everything one `cordon exec` needs, resolved by the CLI.
pub struct ExecRequest {
    /// `$CORDON_HOME`.
    pub home: PathBuf,
    /// Working directory.
    pub cwd: PathBuf,
    /// The prompt (with stdin appended when both were given).
    pub prompt: String,
    /// Model name.
    pub model: String,
    /// Provider.
    pub provider: ModelProvider,
    /// The session's sandbox policy.
    pub policy: SandboxPolicy,
    /// Arguments for `cordon sandbox` that reproduce the policy.
    pub sandbox_args: Vec<OsString>,
    /// The `cordon` executable.
    pub cordon_exe: PathBuf,
    /// `--json`.
    pub json: bool,
    /// Colour on stderr.
    pub color: bool,
    /// `-o FILE`.
    pub output_last_message: Option<PathBuf>,
    /// `--output-schema` contents.
    pub output_schema: Option<Value>,
    /// `--ephemeral`.
    pub ephemeral: bool,
    /// `exec resume`.
    pub resume: Option<Resume>,
    /// `notify` argv.
    pub notify: Vec<String>,
    /// `project_doc_max_bytes`.
    pub instructions_max: usize,
    /// Ctrl-C.
    pub interrupt: Arc<Interrupt>,
}

/// Most model round trips in one turn.
const MAX_STEPS: usize = 200;
/// Most bytes of one tool's output sent back to the model.
const MAX_TOOL_OUTPUT: usize = 16 * 1024;

fn now_secs() -> u64 {
    std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map(|d| d.as_secs())
        .unwrap_or(0)
}

/// `bytes` random bytes as lowercase hex (for names nobody can predict).
pub(crate) fn random_hex(bytes: usize) -> std::io::Result<String> {
    let mut b = vec![0u8; bytes];
    getrandom::fill(&mut b).map_err(|e| std::io::Error::other(e.to_string()))?;
    Ok(b.iter().map(|x| format!("{x:02x}")).collect())
}

/// A random (version 4) UUID.
pub fn new_id() -> String {
    let mut b = [0u8; 16];
    let _ = getrandom::fill(&mut b);
    b[6] = (b[6] & 0x0f) | 0x40;
    b[8] = (b[8] & 0x3f) | 0x80;
    let h: String = b.iter().map(|x| format!("{x:02x}")).collect();
    format!(
        "{}-{}-{}-{}-{}",
        &h[0..8],
        &h[8..12],
        &h[12..16],
        &h[16..20],
        &h[20..32]
    )
}

/// Finds the rollout of session `id`, or the newest with [`Resume::Last`].
pub fn find_session(home: &Path, which: &Resume) -> Result<PathBuf, CoreError> {
    let mut files = Vec::new();
    collect_rollouts(&home.join("sessions"), 0, &mut files);
    files.sort();
    let found = match which {
        Resume::Last => files.pop(),
        Resume::Id(id) => {
            let suffix = format!("-{id}.jsonl");
            files.into_iter().rev().find(|f| {
                f.file_name()
                    .and_then(|n| n.to_str())
                    .is_some_and(|n| n.ends_with(&suffix))
            })
        }
    };
    found.ok_or_else(|| {
        CoreError::Session(match which {
            Resume::Last => format!(
                "no session to resume under {}",
                home.join("sessions").display()
            ),
            Resume::Id(id) => format!(
                "no session with id {id} under {}",
                home.join("sessions").display()
            ),
        })
    })
}

fn collect_rollouts(dir: &Path, depth: usize, out: &mut Vec<PathBuf>) {
    let Ok(entries) = std::fs::read_dir(dir) else {
        return;
    };
    for e in entries.flatten() {
        let path = e.path();
        let is_dir = e.file_type().map(|t| t.is_dir()).unwrap_or(false);
        if is_dir && depth < 3 {
            collect_rollouts(&path, depth + 1, out);
        } else if !is_dir
            && path
                .file_name()
                .and_then(|n| n.to_str())
                .is_some_and(|n| n.starts_with("rollout-") && n.ends_with(".jsonl"))
        {
            out.push(path);
        }
    }
}

/// A conversation item as a rollout record.
pub fn item_record(item: &Item) -> Value {
    let payload = match item {
        Item::User(t) => json!({"type": "user", "text": t}),
        Item::Assistant(t) => json!({"type": "assistant", "text": t}),
        Item::Call {
            call_id,
            name,
            arguments,
        } => json!({"type": "call", "call_id": call_id, "name": name, "arguments": arguments}),
        Item::Output { call_id, output } => {
            json!({"type": "output", "call_id": call_id, "output": output})
        }
    };
    json!({"type": "response_item", "payload": payload})
}

/// The conversation and session id stored in a rollout.
pub fn history_from_records(records: &[Value]) -> Result<(String, Vec<Item>), CoreError> {
    let id = records
        .first()
        .filter(|r| r["type"] == "session_meta")
        .and_then(|r| r["payload"]["id"].as_str())
        .ok_or_else(|| {
            CoreError::Session("the session file does not start with its metadata".into())
        })?
        .to_string();
    let s = |v: &Value, k: &str| v[k].as_str().unwrap_or_default().to_string();
    let items = records
        .iter()
        .filter(|r| r["type"] == "response_item")
        .filter_map(|r| {
            let p = &r["payload"];
            Some(match p["type"].as_str()? {
                "user" => Item::User(s(p, "text")),
                "assistant" => Item::Assistant(s(p, "text")),
                "call" => Item::Call {
                    call_id: s(p, "call_id"),
                    name: s(p, "name"),
                    arguments: s(p, "arguments"),
                },
                "output" => Item::Output {
                    call_id: s(p, "call_id"),
                    output: s(p, "output"),
                },
                _ => return None,
            })
        })
        .collect();
    Ok((id, items))
}

/// Where events go: stdout as JSON lines, or stderr for people.
struct Output {
    json: bool,
    color: bool,
    rollout: Option<Rollout>,
    rollout_error: Option<String>,
}

impl Output {
    fn emit(&mut self, event: &Value) {
        if self.json {
            let mut out = std::io::stdout().lock();
            let _ = writeln!(out, "{event}");
            let _ = out.flush();
        }
        self.record(&json!({"type": "event", "payload": event}));
    }

    fn record(&mut self, record: &Value) {
        if let Some(r) = &mut self.rollout {
            if let Err(e) = r.append(record) {
                // Keep going: losing the session file must not lose the turn.
                self.rollout_error = Some(format!("{}: {e}", r.path().display()));
                self.rollout = None;
            }
        }
    }

    fn human(&self, label: &str, text: &str) {
        if self.json {
            return;
        }
        let mut err = std::io::stderr().lock();
        if self.color {
            let _ = writeln!(err, "\x1b[1m{label}\x1b[0m {text}");
        } else {
            let _ = writeln!(err, "{label} {text}");
        }
    }
}

/// Runs one turn; returns whether it completed.
pub fn run(req: ExecRequest, env: &dyn Fn(&str) -> Option<String>) -> Result<bool, CoreError> {
    let mut transport = HttpTransport::new(&req.provider, env, req.interrupt.clone())?;
    // notify runs outside the sandbox: pin its program now, outside every
    // writable root, and give it a PATH without them.
    let untrusted: Vec<PathBuf> = req
        .policy
        .writable_roots
        .iter()
        .map(|r| r.root.clone())
        .collect();
    let notify_argv =
        notify::resolve(&req.notify, &req.cwd, &untrusted).map_err(CoreError::Notify)?;
    let notify_path = notify::trusted_path(&untrusted);
    // `-o`: its directory is pinned now, before any command runs, so no
    // symlink a command plants on the way can move the answer.
    let output_file = match &req.output_last_message {
        Some(path) => Some(pin_output(path)?),
        None => None,
    };
    let (id, mut history, rollout) = open_session(&req)?;
    let mut out = Output {
        json: req.json,
        color: req.color,
        rollout,
        rollout_error: None,
    };
    if !req.ephemeral {
        if let Err(e) = rollout::record_history(&req.home, &id, now_secs(), &req.prompt) {
            log::warn!("cannot record the prompt in history.jsonl: {e}");
        }
    }
    out.human(
        "cordon exec",
        &format!(
            "· model {} · provider {} ({}) · sandbox {} · network {} · session {}",
            req.model,
            req.provider.id,
            transport.url(),
            req.policy.mode,
            req.policy.network,
            id
        ),
    );
    out.emit(&json!({"type": "thread.started", "thread_id": id}));
    let turn_id = new_id();
    out.emit(&json!({"type": "turn.started"}));
    out.human("user", &req.prompt);
    let prompt_item = Item::User(req.prompt.clone());
    out.record(&item_record(&prompt_item));
    history.push(prompt_item);

    let instructions = instructions::load(Some(&req.home), &req.cwd, req.instructions_max);
    let wire = match req.provider.wire_api {
        cordon_config::WireApi::Responses => WireApi::Responses,
        cordon_config::WireApi::Chat => WireApi::Chat,
    };
    let interrupt = req.interrupt.clone();
    let sleeper = req.interrupt.clone();
    let cfg = TurnConfig {
        wire,
        model: &req.model,
        instructions: instructions.as_deref(),
        output_schema: req.output_schema.as_ref(),
        request_retries: req.provider.request_max_retries,
        stream_retries: req.provider.stream_max_retries,
        max_tool_output: MAX_TOOL_OUTPUT,
        max_steps: MAX_STEPS,
        sleep: &|d| sleeper.sleep(d),
        interrupted: &|| interrupt.is_set(),
    };
    let approval_notify = (notify_argv.clone(), notify_path.clone());
    let (thread_for_notify, turn_for_notify, cwd_text) =
        (id.clone(), turn_id.clone(), req.cwd.display().to_string());
    let mut tools = SandboxRunner {
        cordon_exe: req.cordon_exe.clone(),
        sandbox_args: req.sandbox_args.clone(),
        cwd: req.cwd.clone(),
        policy: req.policy.clone(),
        approval: ApprovalPolicy::Never,
        interrupt: req.interrupt.clone(),
        on_approval: Box::new(move |command, reason| {
            let (notify_argv, notify_path) = &approval_notify;
            if notify_argv.is_empty() {
                return;
            }
            let payload = notify::approval_requested(
                &thread_for_notify,
                &turn_for_notify,
                &cwd_text,
                command,
                reason,
            );
            if let Err(e) = notify::fire(notify_argv, &payload, notify_path) {
                log::warn!("notify failed: {e}");
            }
        }),
    };
    let mut mapper = EventMapper::default();
    // Each item and event is appended (and flushed) as it happens, so a
    // crash loses at most the line being written.
    let result = run_turn(
        &mut transport,
        &mut tools,
        &cfg,
        &mut history,
        &mut |event| {
            if let AgentEvent::Item(item) = &event {
                out.record(&item_record(item));
                return;
            }
            show(&out, &event);
            for e in mapper.map(&event) {
                out.emit(&e);
            }
        },
    );
    let (ok, last) = match &result {
        Ok((text, usage)) => {
            for e in mapper.finish(Ok(usage)) {
                out.emit(&e);
            }
            show_usage(&out, usage);
            (true, Some(text.clone()))
        }
        Err(e) => {
            let message = match e {
                TurnError::Interrupted => {
                    "interrupted: the turn was stopped and its commands killed".to_string()
                }
                other => other.to_string(),
            };
            for ev in mapper.finish(Err(&message)) {
                out.emit(&ev);
            }
            out.human("error", &message);
            (false, None)
        }
    };
    if let Some(e) = &out.rollout_error {
        eprintln!("cordon: warning: the session file stopped being written: {e}");
    }
    if let Some(text) = &last {
        if !req.json {
            let mut stdout = std::io::stdout().lock();
            let _ = writeln!(stdout, "{text}");
            let _ = stdout.flush();
        }
        if let (Some((dir, name)), Some(path)) = (&output_file, &req.output_last_message) {
            dir.replace(name, text.as_bytes())
                .map_err(|e| CoreError::Io {
                    path: path.clone(),
                    message: e.to_string(),
                })?;
        }
    }
    if ok && !notify_argv.is_empty() {
        let payload = notify::turn_complete(
            &id,
            &turn_id,
            &req.cwd.display().to_string(),
            std::slice::from_ref(&req.prompt),
            last.as_deref(),
        );
        if let Err(e) = notify::fire(&notify_argv, &payload, &notify_path) {
            log::warn!("notify failed: {e}");
        }
    }
    Ok(ok)
}

/// The directory of `-o FILE`, held open, and the file's name.
fn pin_output(path: &Path) -> Result<(PinnedDir, String), CoreError> {
    let io = |message: String| CoreError::Io {
        path: path.to_path_buf(),
        message,
    };
    let name = path
        .file_name()
        .and_then(|n| n.to_str())
        .ok_or_else(|| io("does not name a file".into()))?;
    let parent = match path.parent() {
        Some(p) if !p.as_os_str().is_empty() => p,
        _ => Path::new("."),
    };
    let dir = PinnedDir::open(parent).map_err(|e| io(format!("its directory: {e}")))?;
    Ok((dir, name.to_string()))
}

fn open_session(req: &ExecRequest) -> Result<(String, Vec<Item>, Option<Rollout>), CoreError> {
    let session_err = |path: &Path, e: std::io::Error| CoreError::Io {
        path: path.to_path_buf(),
        message: e.to_string(),
    };
    match &req.resume {
        Some(which) => {
            let path = find_session(&req.home, which)?;
            let records = rollout::read(&path).map_err(CoreError::Session)?;
            let (id, history) = history_from_records(&records)?;
            let rollout = if req.ephemeral {
                None
            } else {
                Some(Rollout::resume(path.clone()).map_err(|e| session_err(&path, e))?)
            };
            Ok((id, history, rollout))
        }
        None => {
            let id = new_id();
            let rollout = if req.ephemeral {
                None
            } else {
                let path = rollout::rollout_path(&req.home, now_secs(), &id);
                let meta = json!({
                    "id": id,
                    "timestamp": now_secs(),
                    "cwd": req.cwd.display().to_string(),
                    "model": req.model,
                    "model_provider": req.provider.id,
                    "sandbox_mode": req.policy.mode.as_str(),
                    "network": req.policy.network.as_str(),
                    "cli_version": env!("CARGO_PKG_VERSION"),
                });
                Some(Rollout::create(path.clone(), meta).map_err(|e| session_err(&path, e))?)
            };
            Ok((id, Vec::new(), rollout))
        }
    }
}

/// The readable account of one event on stderr.
fn show(out: &Output, event: &AgentEvent) {
    match event {
        AgentEvent::ReasoningCompleted(t) => out.human("thinking", t.trim()),
        AgentEvent::MessageCompleted(t) => out.human("assistant", t.trim()),
        AgentEvent::ToolStarted {
            name, arguments, ..
        } if name == "shell" => {
            let argv: Vec<String> = serde_json::from_str::<Value>(arguments)
                .ok()
                .and_then(|v| serde_json::from_value(v["command"].clone()).ok())
                .unwrap_or_default();
            out.human("exec", &crate::runner::display_command(&argv));
        }
        AgentEvent::ToolCompleted { detail, output, .. } => match detail {
            ToolDetail::Command {
                exit_code,
                declined,
                ..
            } => {
                let status = match (declined, exit_code) {
                    (true, _) => "declined".to_string(),
                    (false, Some(c)) => format!("exited {c}"),
                    (false, None) => "did not run".to_string(),
                };
                let lines: Vec<&str> = output.lines().collect();
                let tail = lines[lines.len().saturating_sub(5)..].join("\n  ");
                out.human(&format!("  {status}:"), &tail);
            }
            ToolDetail::Patch { .. } => out.human("apply_patch", output.trim()),
            ToolDetail::None => {}
        },
        AgentEvent::Plan(plan) => out.human("plan", &plan.to_string()),
        AgentEvent::Retrying {
            attempt,
            delay,
            reason,
        } => out.human(
            "retry",
            &format!(
                "{reason}; attempt {} in {:.1} s",
                attempt + 1,
                delay.as_secs_f64()
            ),
        ),
        _ => {}
    }
}

fn show_usage(out: &Output, usage: &Usage) {
    out.human(
        "tokens used",
        &format!("{} in, {} out", usage.input_tokens, usage.output_tokens),
    );
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn ids_and_history_round_trip() {
        let id = new_id();
        assert_eq!(id.len(), 36);
        assert_eq!(&id[14..15], "4");
        assert_ne!(id, new_id());
        let items = vec![
            Item::User("u".into()),
            Item::Call {
                call_id: "c".into(),
                name: "shell".into(),
                arguments: "{}".into(),
            },
            Item::Output {
                call_id: "c".into(),
                output: "o".into(),
            },
            Item::Assistant("a".into()),
        ];
        let mut records = vec![json!({"type": "session_meta", "payload": {"id": "S"}})];
        records.extend(items.iter().map(item_record));
        records.push(json!({"type": "event", "payload": {"type": "turn.started"}}));
        let (sid, back) = history_from_records(&records).unwrap();
        assert_eq!(sid, "S");
        assert_eq!(back, items);
        assert!(history_from_records(&records[1..]).is_err());
    }

    #[test]
    fn finds_sessions_by_id_and_the_last() {
        let tmp = tempfile::tempdir().unwrap();
        let a = rollout::rollout_path(tmp.path(), 1_000_000, "aaa");
        let b = rollout::rollout_path(tmp.path(), 2_000_000_000, "bbb");
        for p in [&a, &b] {
            Rollout::create(p.clone(), json!({"id": "x"})).unwrap();
        }
        assert_eq!(find_session(tmp.path(), &Resume::Last).unwrap(), b);
        assert_eq!(
            find_session(tmp.path(), &Resume::Id("aaa".into())).unwrap(),
            a
        );
        assert!(find_session(tmp.path(), &Resume::Id("zzz".into())).is_err());
    }
}
