//! What the viewport shows: the status line, the approval modal and the
//! list pickers (`/approvals`, `/resume`).

use crate::cells::{self, PatchFile};
use cordon_core::approval::{ApprovalAction, ApprovalDecision, ApprovalReason, ApprovalRequest};
use cordon_core::session::SessionSummary;
use ratatui::buffer::Buffer;
use ratatui::layout::Rect;
use ratatui::style::{Color, Modifier, Style, Stylize};
use ratatui::text::{Line, Span};
use ratatui::widgets::{Paragraph, Widget, Wrap};
use unicode_width::UnicodeWidthStr;

const SPINNER: &[&str] = &["⠋", "⠙", "⠹", "⠸", "⠼", "⠴", "⠦", "⠧", "⠇", "⠏"];

/// What the status line shows.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Status {
    /// Seconds the running turn has run (none: idle).
    pub working_secs: Option<u64>,
    /// Spinner frame.
    pub frame: usize,
    /// A hint in place of the working indicator (e.g. `ctrl+c again to quit`).
    pub hint: Option<String>,
    /// Percent of the context window left, when known.
    pub context_left: Option<u8>,
    /// Model.
    pub model: String,
    /// Sandbox mode.
    pub sandbox: String,
    /// Network mode.
    pub network: String,
}

/// The status line as one line fitted to `width`: the working indicator
/// (or hint) on the left, context, model and sandbox on the right, the
/// right side shortened first.
pub fn status_line(s: &Status, width: u16) -> Line<'static> {
    let mut left: Vec<Span<'static>> = Vec::new();
    if let Some(hint) = &s.hint {
        left.push(Span::styled(
            hint.clone(),
            Style::new().add_modifier(Modifier::BOLD),
        ));
    } else if let Some(secs) = s.working_secs {
        left.push(Span::styled(
            SPINNER[s.frame % SPINNER.len()].to_string(),
            Style::new().fg(Color::Cyan),
        ));
        left.push(" Working".bold());
        left.push(Span::styled(
            format!(" ({} · esc to interrupt)", elapsed(secs)),
            Style::new().add_modifier(Modifier::DIM),
        ));
    }
    let left_width: usize = left.iter().map(|s| s.content.width()).sum();
    let mut parts: Vec<String> = Vec::new();
    if let Some(p) = s.context_left {
        parts.push(format!("{p}% context left"));
    }
    parts.push(s.model.clone());
    parts.push(format!("{}/{}", s.sandbox, s.network));
    let avail = usize::from(width).saturating_sub(left_width + 2);
    // Drop parts from the front until the rest fits.
    let mut right = parts.join(" · ");
    while right.width() > avail && !parts.is_empty() {
        parts.remove(0);
        right = parts.join(" · ");
    }
    let mut spans = left;
    if !right.is_empty() {
        let pad = usize::from(width).saturating_sub(left_width + right.width());
        spans.push(Span::raw(" ".repeat(pad)));
        spans.push(Span::styled(
            right,
            Style::new().add_modifier(Modifier::DIM),
        ));
    }
    Line::from(spans)
}

/// `12s`, `3m 04s`.
pub fn elapsed(secs: u64) -> String {
    if secs < 60 {
        format!("{secs}s")
    } else {
        format!("{}m {:02}s", secs / 60, secs % 60)
    }
}

/// The approval options, in order: what they say (with their key) and
/// the decision each makes.
pub fn approval_options(request: &ApprovalRequest) -> Vec<(String, ApprovalDecision)> {
    let no = (
        "No, and tell cordon what to do differently (n or Esc)".to_string(),
        ApprovalDecision::Abort,
    );
    if let ApprovalReason::ProxyDenied { hosts, .. } = &request.reason {
        let hosts: Vec<String> = hosts.iter().map(|h| cells::clean(h)).collect();
        return vec![
            (
                format!("allow {} for this session and rerun (h)", hosts.join(", ")),
                ApprovalDecision::AllowDomainsForSession,
            ),
            (
                "Yes, run it again without the sandbox (y)".to_string(),
                ApprovalDecision::Approve,
            ),
            no,
        ];
    }
    let (yes, session) = match request.action {
        ApprovalAction::Command { .. } => (
            "Yes, run it (y)",
            "Yes, and don't ask again for this command this session (a)",
        ),
        ApprovalAction::Patch { .. } => (
            "Yes, apply the changes (y)",
            "Yes, and don't ask again for these files this session (a)",
        ),
        ApprovalAction::McpToolCall { .. } => (
            "Yes, call it (y)",
            "Yes, and don't ask again for this tool this session (a)",
        ),
    };
    vec![
        (yes.to_string(), ApprovalDecision::Approve),
        (session.to_string(), ApprovalDecision::ApproveForSession),
        no,
    ]
}

/// The approval modal's lines for a viewport at most `max_rows` tall and
/// `width` columns wide: the question, what is asked (argv and cwd, or the
/// diff, shortened to fit), the justification and reason, then the options.
/// Rows are counted as drawn (wrapped at `width`), so on a narrow terminal
/// the diff gives way and the options stay in view.
pub fn approval_lines(
    request: &ApprovalRequest,
    selected: usize,
    max_rows: usize,
    width: u16,
) -> Vec<Line<'static>> {
    let mut head: Vec<Line<'static>> = Vec::new();
    let mut body: Vec<Line<'static>> = Vec::new();
    match &request.action {
        ApprovalAction::Command { argv, cwd } => {
            head.push(Line::from("Allow this command?".bold().yellow()));
            body.push(Line::from(vec![
                "$ ".dim(),
                cells::clean(&cordon_core::runner::display_command(argv)).bold(),
            ]));
            body.push(Line::from(format!("in {}", cwd.display()).dim()));
        }
        ApprovalAction::Patch { files } => {
            head.push(Line::from("Apply these changes?".bold().yellow()));
            let files: Vec<PatchFile> = cells::request_files(files);
            cells::patch_lines(&mut body, &files, false, None, usize::MAX);
        }
        ApprovalAction::McpToolCall {
            server,
            tool,
            arguments,
        } => {
            head.push(Line::from("Call this MCP tool?".bold().yellow()));
            body.push(Line::from(
                cells::clean(&cells::mcp_call(server, tool, arguments)).bold(),
            ));
        }
    }
    let mut tail: Vec<Line<'static>> = Vec::new();
    if let Some(j) = &request.justification {
        tail.push(Line::from(vec!["why: ".dim(), Span::raw(cells::clean(j))]));
    }
    tail.push(Line::from(vec![
        "reason: ".dim(),
        Span::styled(
            request.reason.describe(),
            Style::new().add_modifier(Modifier::DIM),
        ),
    ]));
    if let ApprovalReason::ProxyDenied { denied, .. } = &request.reason {
        for d in cordon_core::runner::proxy_denials(denied) {
            tail.push(Line::from(
                format!(
                    "refused: {}:{} ({})",
                    cells::clean(&d.host),
                    d.port,
                    d.reasons.join(", ")
                )
                .red(),
            ));
        }
    }
    tail.push(Line::default());
    for (i, (option, _)) in approval_options(request).into_iter().enumerate() {
        let line = if i == selected {
            Line::from(vec!["› ".cyan().bold(), option.cyan().bold()])
        } else {
            Line::from(vec!["  ".into(), option.into()])
        };
        tail.push(line);
    }
    let rows = |lines: &[Line<'static>]| usize::from(crate::app::line_count(lines, width));
    let room = max_rows.saturating_sub(rows(&head) + rows(&tail)).max(1);
    if rows(&body) > room {
        // The lines that fit with one row left for the marker.
        let mut used = 0;
        let keep = body
            .iter()
            .take_while(|line| {
                used += rows(std::slice::from_ref(*line));
                used < room
            })
            .count();
        let cut = body.len() - keep;
        body.truncate(keep);
        body.push(Line::from(format!("… +{cut} lines").dim()));
    }
    head.extend(body);
    head.extend(tail);
    head
}

/// The `/approvals` choices: label, sandbox mode, approval policy.
pub const PERMISSION_PRESETS: &[(
    &str,
    &str,
    cordon_policy::SandboxMode,
    cordon_policy::ApprovalPolicy,
)] = &[
    (
        "Read only",
        "read files; ask before anything else leaves the sandbox",
        cordon_policy::SandboxMode::ReadOnly,
        cordon_policy::ApprovalPolicy::OnRequest,
    ),
    (
        "Auto",
        "workspace-write sandbox; ask when the model wants out (on-request)",
        cordon_policy::SandboxMode::WorkspaceWrite,
        cordon_policy::ApprovalPolicy::OnRequest,
    ),
    (
        "Full access",
        "no sandbox, never ask (danger-full-access)",
        cordon_policy::SandboxMode::DangerFullAccess,
        cordon_policy::ApprovalPolicy::Never,
    ),
];

/// A list with a title, the selected entry marked.
pub fn list_lines(
    title: &str,
    items: &[String],
    selected: usize,
    footer: &str,
) -> Vec<Line<'static>> {
    let mut out = vec![Line::from(title.to_string().bold())];
    for (i, item) in items.iter().enumerate() {
        out.push(if i == selected {
            Line::from(vec!["› ".cyan().bold(), item.clone().cyan()])
        } else {
            Line::from(vec!["  ".into(), item.clone().into()])
        });
    }
    if items.is_empty() {
        out.push(Line::from("  (nothing)".dim()));
    }
    out.push(Line::from(footer.to_string().dim()));
    out
}

/// One saved session as a picker row: age, directory, first prompt.
pub fn session_row(s: &SessionSummary, now: u64) -> String {
    let age = now.saturating_sub(s.updated);
    let age = if age < 60 {
        format!("{age}s ago")
    } else if age < 3600 {
        format!("{}m ago", age / 60)
    } else if age < 86_400 {
        format!("{}h ago", age / 3600)
    } else {
        format!("{}d ago", age / 86_400)
    };
    let prompt: String = cells::clean(&s.first_prompt).chars().take(80).collect();
    format!("{age:>8}  {}  {prompt}", cells::clean(&s.cwd))
}

/// Renders `lines` wrapped into `area`.
pub fn render_lines(lines: Vec<Line<'static>>, area: Rect, buf: &mut Buffer) {
    Paragraph::new(lines)
        .wrap(Wrap { trim: false })
        .render(area, buf);
}

/// Rows `lines` take wrapped at `width`.
pub fn wrapped_height(lines: &[Line<'_>], width: u16) -> u16 {
    lines
        .iter()
        .map(|l| crate::screen::rows_for(l, width))
        .fold(0u16, u16::saturating_add)
}
