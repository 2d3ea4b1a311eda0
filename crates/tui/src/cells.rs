//! History cells: what a turn leaves in the transcript, as styled lines.
//!
//! Lines are logical lines (the terminal wraps them), so a cell looks the
//! same at any width and copies as its text. Nothing here prefixes a
//! paragraph's continuation with a gutter.

use crate::markdown;
use cordon_core::agent::ChangeKind;
use ratatui::style::{Color, Modifier, Style, Stylize};
use ratatui::text::{Line, Span};
use std::time::Duration;

/// Lines of command output shown from its start and from its end.
const OUTPUT_HEAD: usize = 5;
/// See [`OUTPUT_HEAD`].
const OUTPUT_TAIL: usize = 5;
/// Most diff lines shown per file in a history cell.
const DIFF_LINES: usize = 200;

/// What the header shows.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct HeaderInfo {
    /// cordon's version.
    pub version: String,
    /// The model.
    pub model: String,
    /// The working directory, as shown.
    pub directory: String,
    /// Sandbox mode.
    pub sandbox: String,
    /// Network mode.
    pub network: String,
    /// Approval policy.
    pub approval: String,
}

/// One file of a patch.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct PatchFile {
    /// Path as given.
    pub path: String,
    /// What happens to it.
    pub kind: ChangeKind,
    /// Diff lines (`+`, `-`, ` ` or `@@` first).
    pub lines: Vec<String>,
    /// Lines added.
    pub added: usize,
    /// Lines removed.
    pub removed: usize,
}

/// A plan step's state.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum StepStatus {
    /// Not started.
    Pending,
    /// Being worked on.
    InProgress,
    /// Done.
    Completed,
}

/// One cell of the transcript.
#[derive(Debug, Clone, PartialEq)]
pub enum Cell {
    /// The session header.
    Header(HeaderInfo),
    /// What the user sent.
    User(String),
    /// The model's answer (markdown).
    Assistant(String),
    /// A reasoning summary.
    Reasoning(String),
    /// A command that ran (or was refused).
    Command {
        /// The command line.
        command: String,
        /// Its output (stdout and stderr).
        output: String,
        /// Exit code, when it ended normally.
        exit_code: Option<i32>,
        /// How long it ran.
        duration: Option<Duration>,
        /// It asked to leave the sandbox and was declined.
        declined: bool,
    },
    /// A patch.
    Patch {
        /// Its files.
        files: Vec<PatchFile>,
        /// Whether it applied.
        applied: bool,
        /// Why not.
        error: Option<String>,
    },
    /// A tool of an MCP server was called.
    McpCall {
        /// `server.tool(arguments)`.
        call: String,
        /// The result's text, or why it failed.
        output: String,
        /// It failed (declined, timed out, or the tool said so).
        failed: bool,
    },
    /// `update_plan`.
    Plan(Vec<(String, StepStatus)>),
    /// cordon's proxy refused hosts to a command: each with the config
    /// line and flag that would allow it.
    ProxyDenied(Vec<cordon_core::runner::ProxyDenial>),
    /// The sandbox denied a command writes, network or other calls: each
    /// with the config line and flag that would allow it, or why nothing
    /// does.
    SandboxDenied(Vec<cordon_core::runner::SandboxDenial>),
    /// Something went wrong.
    Error(String),
    /// A notice (dimmed lines).
    Info(Vec<String>),
}

/// `server.tool(arguments)` for an MCP call cell or an approval.
pub fn mcp_call(server: &str, tool: &str, arguments: &serde_json::Value) -> String {
    let args = arguments.to_string();
    let args = if args.chars().count() > 120 {
        format!("{}…", args.chars().take(120).collect::<String>())
    } else {
        args
    };
    format!("{server}.{tool}({args})")
}

/// Makes model or command text safe to print: control characters (escape
/// sequences included) become `�`, tabs four spaces.
pub fn clean(text: &str) -> String {
    let mut out = String::with_capacity(text.len());
    for c in text.chars() {
        match c {
            '\t' => out.push_str("    "),
            '\n' => out.push('\n'),
            '\r' => {}
            c if c.is_control() => out.push('\u{fffd}'),
            c => out.push(c),
        }
    }
    out
}

fn dim(text: impl Into<String>) -> Span<'static> {
    Span::styled(text.into(), Style::new().add_modifier(Modifier::DIM))
}

impl Cell {
    /// The cell's lines, a blank line first to set it off.
    pub fn lines(&self) -> Vec<Line<'static>> {
        self.render(false)
    }

    /// The cell's lines for the transcript pager: a command's whole
    /// output and a patch's whole diff.
    pub fn transcript_lines(&self) -> Vec<Line<'static>> {
        self.render(true)
    }

    fn render(&self, full: bool) -> Vec<Line<'static>> {
        let mut out = vec![Line::default()];
        match self {
            Cell::Header(h) => {
                out.push(Line::from(vec![
                    ">_ ".dim(),
                    "cordon".bold(),
                    format!(" (v{})", h.version).dim(),
                ]));
                for (label, value) in [
                    ("model:     ", h.model.clone()),
                    ("directory: ", h.directory.clone()),
                    (
                        "sandbox:   ",
                        format!("{} · network {}", h.sandbox, h.network),
                    ),
                    ("approval:  ", h.approval.clone()),
                ] {
                    // The directory's name is anyone's (a cloned repository's).
                    out.push(Line::from(vec![
                        dim(format!("   {label}")),
                        Span::raw(clean(&value).replace('\n', "\u{fffd}")),
                    ]));
                }
            }
            Cell::User(text) => {
                for (i, l) in clean(text).lines().enumerate() {
                    let prefix = if i == 0 { "› " } else { "  " };
                    out.push(Line::from(vec![
                        Span::styled(prefix, Style::new().fg(Color::Cyan).bold()),
                        Span::raw(l.to_string()),
                    ]));
                }
            }
            Cell::Assistant(text) => out.extend(markdown::render(&clean(text))),
            Cell::Reasoning(text) => {
                for l in clean(text).lines() {
                    out.push(Line::from(Span::styled(
                        l.to_string(),
                        Style::new().add_modifier(Modifier::DIM | Modifier::ITALIC),
                    )));
                }
            }
            Cell::Command {
                command,
                output,
                exit_code,
                duration,
                declined,
            } => command_lines(
                &mut out,
                command,
                output,
                (*exit_code, *duration, *declined),
                full,
            ),
            Cell::Patch {
                files,
                applied,
                error,
            } => patch_lines(
                &mut out,
                files,
                *applied,
                error.as_deref(),
                if full { usize::MAX } else { DIFF_LINES },
            ),
            Cell::McpCall {
                call,
                output,
                failed,
            } => {
                let bullet = if *failed {
                    "• ".red().bold()
                } else {
                    "• ".green().bold()
                };
                out.push(Line::from(vec![
                    bullet,
                    "Called ".bold(),
                    Span::raw(clean(call)),
                ]));
                let body = clean(output);
                let lines: Vec<&str> = body.lines().collect();
                let shown = |l: &str| Line::from(dim(format!("    {l}")));
                if lines.len() <= OUTPUT_HEAD + OUTPUT_TAIL + 1 {
                    out.extend(lines.iter().map(|l| shown(l)));
                } else {
                    out.extend(lines[..OUTPUT_HEAD].iter().map(|l| shown(l)));
                    out.push(Line::from(dim(format!(
                        "    … +{} lines",
                        lines.len() - OUTPUT_HEAD - OUTPUT_TAIL
                    ))));
                    out.extend(lines[lines.len() - OUTPUT_TAIL..].iter().map(|l| shown(l)));
                }
            }
            Cell::Plan(steps) => {
                out.push(Line::from(vec!["• ".bold(), "Updated plan".bold()]));
                for (step, status) in steps {
                    let step = &clean(step).replace('\n', " ");
                    let line = match status {
                        StepStatus::Completed => Line::from(vec![
                            "  ✔ ".green(),
                            Span::styled(
                                clean(step),
                                Style::new().add_modifier(Modifier::DIM | Modifier::CROSSED_OUT),
                            ),
                        ]),
                        StepStatus::InProgress => {
                            Line::from(vec!["  □ ".cyan(), clean(step).cyan().bold()])
                        }
                        StepStatus::Pending => {
                            Line::from(vec!["  □ ".dim(), Span::raw(clean(step))])
                        }
                    };
                    out.push(line);
                }
            }
            Cell::ProxyDenied(denials) => proxy_denial_lines(&mut out, denials),
            Cell::SandboxDenied(denials) => sandbox_denial_lines(&mut out, denials),
            Cell::Error(text) => {
                for (i, l) in clean(text).lines().enumerate() {
                    let prefix = if i == 0 { "■ " } else { "  " };
                    out.push(Line::from(vec![prefix.red(), l.to_string().red()]));
                }
            }
            Cell::Info(lines) => {
                for l in lines {
                    // A line break in the text (a server's error) starts a
                    // line of its own: no raw LF inside a line.
                    for part in clean(l).split('\n') {
                        out.push(Line::from(dim(part.to_string())));
                    }
                }
            }
        }
        out
    }
}

fn proxy_denial_lines(out: &mut Vec<Line<'static>>, denials: &[cordon_core::runner::ProxyDenial]) {
    for d in denials {
        let host = clean(&d.host);
        out.push(Line::from(vec![
            "■ ".red(),
            format!(
                "the proxy refused {host}:{} ({})",
                d.port,
                clean(&d.reasons.join(", "))
            )
            .red(),
        ]));
        if d.allowable() {
            out.push(Line::from(dim(
                "  to allow it, in config.toml (or a profile):".to_string(),
            )));
            out.push(Line::from(Span::raw("    [network.domains]")));
            out.push(Line::from(Span::raw(format!("    \"{host}\" = \"allow\""))));
            out.push(Line::from(vec![
                dim("  or for one run: "),
                Span::raw(format!("--allow-domain {host}")),
            ]));
        } else if d.reasons.iter().any(|r| r == "denied") {
            out.push(Line::from(dim(
                "  a deny rule in [network.domains] or --deny-domain matched (deny wins)"
                    .to_string(),
            )));
        }
    }
}

/// A TOML basic string holding `s`.
fn toml_string(s: &str) -> String {
    let mut out = String::from("\"");
    for c in s.chars() {
        match c {
            '"' => out.push_str("\\\""),
            '\\' => out.push_str("\\\\"),
            c if c.is_control() => out.push_str(&format!("\\u{:04X}", u32::from(c))),
            c => out.push(c),
        }
    }
    out.push('"');
    out
}

fn sandbox_denial_lines(
    out: &mut Vec<Line<'static>>,
    denials: &[cordon_core::runner::SandboxDenial],
) {
    use cordon_core::runner::Remedy;
    let config = |out: &mut Vec<Line<'static>>, lines: &[String], flag: String| {
        out.push(Line::from(dim(
            "  to allow it, in config.toml (or a profile):".to_string(),
        )));
        out.extend(
            lines
                .iter()
                .map(|l| Line::from(Span::raw(format!("    {l}")))),
        );
        out.push(Line::from(vec![dim("  or for one run: "), Span::raw(flag)]));
    };
    for d in denials {
        let what = match d.kind.as_str() {
            "write" => format!("writing {}", clean(&d.target)),
            "metadata" => format!("changing the metadata of {}", clean(&d.target)),
            "network" => format!("network access to {}", clean(&d.target)),
            _ => "a Unix socket".to_string(),
        };
        out.push(Line::from(vec![
            "■ ".red(),
            format!("the sandbox denied {what} ({})", clean(&d.ops)).red(),
        ]));
        match &d.remedy {
            Remedy::WorkspaceWrite => config(
                out,
                &["sandbox_mode = \"workspace-write\"".to_string()],
                "-s workspace-write (or /approvals)".to_string(),
            ),
            Remedy::WritableRoot {
                dir,
                from_read_only,
            } => {
                let dir = toml_string(&clean(&dir.display().to_string()));
                let mut lines = Vec::new();
                let mut flag = String::new();
                if *from_read_only {
                    lines.push("sandbox_mode = \"workspace-write\"".to_string());
                    flag.push_str("-s workspace-write ");
                }
                lines.push("[sandbox_workspace_write]".to_string());
                lines.push(format!("writable_roots = [{dir}]"));
                let arg = format!("sandbox_workspace_write.writable_roots=[{dir}]");
                flag.push_str(&format!("-c '{}'", arg.replace('\'', "'\\''")));
                config(out, &lines, flag);
            }
            Remedy::Network => config(
                out,
                &["[network]".to_string(), "mode = \"full\"".to_string()],
                "--network full".to_string(),
            ),
            Remedy::Protected => out.push(Line::from(dim(
                "  a protected path (.git, .cordon): no setting lets a sandboxed command write it"
                    .to_string(),
            ))),
            Remedy::OutsideOnly => out.push(Line::from(dim(
                "  nothing in the sandbox allows it; only running without it (-s danger-full-access)"
                    .to_string(),
            ))),
        }
    }
}

fn command_lines(
    out: &mut Vec<Line<'static>>,
    command: &str,
    output: &str,
    (exit_code, duration, declined): (Option<i32>, Option<Duration>, bool),
    full: bool,
) {
    let ok = exit_code == Some(0) && !declined;
    let bullet = if ok {
        "• ".green().bold()
    } else {
        "• ".red().bold()
    };
    let verb = if declined { "Declined " } else { "Ran " };
    // A script of several lines (a heredoc): its first line here, the
    // others below it (a raw LF inside one line would garble the history).
    let command = clean(command);
    let mut parts = command.split('\n');
    out.push(Line::from(vec![
        bullet,
        verb.bold(),
        Span::raw(parts.next().unwrap_or_default().to_string()),
    ]));
    let rest: Vec<&str> = parts.collect();
    let keep = if full { rest.len() } else { OUTPUT_HEAD };
    for part in rest.iter().take(keep) {
        out.push(Line::from(format!("  {part}")));
    }
    if rest.len() > keep {
        out.push(Line::from(dim(format!(
            "  … +{} lines of the command",
            rest.len() - keep
        ))));
    }
    let body = clean(output);
    let lines: Vec<&str> = body.lines().collect();
    let shown = |l: &str| Line::from(dim(format!("    {l}")));
    if full || lines.len() <= OUTPUT_HEAD + OUTPUT_TAIL + 1 {
        out.extend(lines.iter().map(|l| shown(l)));
    } else {
        out.extend(lines[..OUTPUT_HEAD].iter().map(|l| shown(l)));
        out.push(Line::from(dim(format!(
            "    … +{} lines",
            lines.len() - OUTPUT_HEAD - OUTPUT_TAIL
        ))));
        out.extend(lines[lines.len() - OUTPUT_TAIL..].iter().map(|l| shown(l)));
    }
    let mut status = match (declined, exit_code) {
        (true, _) => "    ✗ not run".to_string(),
        (false, Some(0)) => "    ✓ exit 0".to_string(),
        (false, Some(c)) => format!("    ✗ exit {c}"),
        (false, None) => "    ✗ did not finish".to_string(),
    };
    if let Some(d) = duration {
        status.push_str(&format!(" · {}", format_duration(d)));
    }
    out.push(Line::from(if ok { status.green() } else { status.red() }));
}

/// `0.4 s`, `12 s`, `2 m 05 s`.
pub fn format_duration(d: Duration) -> String {
    let secs = d.as_secs_f64();
    if secs < 10.0 {
        format!("{secs:.1} s")
    } else if secs < 60.0 {
        format!("{} s", d.as_secs())
    } else {
        format!("{} m {:02} s", d.as_secs() / 60, d.as_secs() % 60)
    }
}

/// Lines for a patch: per file a summary with `+N -M`, then its diff
/// (at most `max_lines` per file).
pub fn patch_lines(
    out: &mut Vec<Line<'static>>,
    files: &[PatchFile],
    applied: bool,
    error: Option<&str>,
    max_lines: usize,
) {
    for f in files {
        let verb = match f.kind {
            ChangeKind::Add => "Added ",
            ChangeKind::Update => "Edited ",
            ChangeKind::Delete => "Deleted ",
        };
        let bullet = if applied {
            "• ".green().bold()
        } else {
            "• ".bold()
        };
        out.push(Line::from(vec![
            bullet,
            verb.bold(),
            Span::raw(clean(&f.path).replace('\n', "\u{fffd}")),
            " (".dim(),
            format!("+{}", f.added).green(),
            " ".into(),
            format!("-{}", f.removed).red(),
            ")".dim(),
        ]));
        for l in f.lines.iter().take(max_lines) {
            let l = clean(l);
            out.push(match l.chars().next() {
                Some('+') => Line::from(l.green()),
                Some('-') => Line::from(l.red()),
                Some('@') => Line::from(l.cyan()),
                _ => Line::from(dim(l)),
            });
        }
        if f.lines.len() > max_lines {
            out.push(Line::from(dim(format!(
                "… +{} lines",
                f.lines.len() - max_lines
            ))));
        }
    }
    if let Some(e) = error {
        out.push(Line::from(vec![
            "✗ ".red(),
            format!("not applied: {}", clean(e.trim())).red(),
        ]));
    }
}

/// A patch's files, with diffs made from its hunks (nothing is read from
/// disk).
pub fn patch_files(patch: &cordon_core::patch::Patch) -> Vec<PatchFile> {
    use cordon_core::patch::Operation;
    patch
        .ops
        .iter()
        .map(|op| match op {
            Operation::Add { path, lines } => PatchFile {
                path: path.clone(),
                kind: ChangeKind::Add,
                added: lines.len(),
                removed: 0,
                lines: lines.iter().map(|l| format!("+{l}")).collect(),
            },
            Operation::Delete { path } => PatchFile {
                path: path.clone(),
                kind: ChangeKind::Delete,
                lines: Vec::new(),
                added: 0,
                removed: 0,
            },
            Operation::Update {
                path,
                move_to,
                hunks,
            } => {
                let mut lines = Vec::new();
                let (mut added, mut removed) = (0, 0);
                for h in hunks {
                    lines.push(match &h.anchor {
                        Some(a) => format!("@@ {a}"),
                        None => "@@".to_string(),
                    });
                    let old: Vec<&str> = h.old.iter().map(String::as_str).collect();
                    let new: Vec<&str> = h.new.iter().map(String::as_str).collect();
                    let diff = similar::TextDiff::from_slices(&old, &new);
                    for change in diff.iter_all_changes() {
                        let (sign, count) = match change.tag() {
                            similar::ChangeTag::Insert => ('+', &mut added),
                            similar::ChangeTag::Delete => ('-', &mut removed),
                            similar::ChangeTag::Equal => {
                                lines.push(format!(" {}", change.value()));
                                continue;
                            }
                        };
                        *count += 1;
                        lines.push(format!("{sign}{}", change.value()));
                    }
                }
                let path = match move_to {
                    Some(to) => format!("{path} → {to}"),
                    None => path.clone(),
                };
                PatchFile {
                    path,
                    kind: ChangeKind::Update,
                    lines,
                    added,
                    removed,
                }
            }
        })
        .collect()
}

/// A patch's files from the unified diffs of an approval request.
pub fn request_files(files: &[cordon_core::approval::FileDiff]) -> Vec<PatchFile> {
    files
        .iter()
        .map(|f| PatchFile {
            path: f.path.display().to_string(),
            kind: f.kind,
            lines: f
                .diff
                .lines()
                .filter(|l| !l.starts_with("---") && !l.starts_with("+++"))
                .map(str::to_string)
                .collect(),
            added: f.added,
            removed: f.removed,
        })
        .collect()
}

/// The text of a command's output in the tool result (after `output:`).
pub fn command_output(tool_output: &str) -> String {
    match tool_output.split_once("\noutput:\n") {
        Some((_, rest)) => rest.to_string(),
        None => tool_output.to_string(),
    }
}

/// Plan steps from `update_plan`'s `plan` argument.
pub fn plan_steps(plan: &serde_json::Value) -> Vec<(String, StepStatus)> {
    plan.as_array()
        .map(|steps| {
            steps
                .iter()
                .map(|s| {
                    let status = match s.get("status").and_then(|v| v.as_str()) {
                        Some("completed") => StepStatus::Completed,
                        Some("in_progress") => StepStatus::InProgress,
                        _ => StepStatus::Pending,
                    };
                    let text = s.get("step").and_then(|v| v.as_str()).unwrap_or("");
                    (text.to_string(), status)
                })
                .collect()
        })
        .unwrap_or_default()
}
