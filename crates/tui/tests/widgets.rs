//! Snapshot tests of what the TUI draws, at 80 and 40 columns, through
//! ratatui's `TestBackend`: the header, each cell kind, the status line
//! and the approval modal (command, patch, MCP tool, proxy-denied host).
//! Each snapshot is an inline `insta` snapshot of the rows as text, each
//! row behind a `│` (see `support::picture`).

mod support;

use cordon_core::agent::ChangeKind;
use cordon_core::approval::{ApprovalAction, ApprovalReason, ApprovalRequest, FileDiff};
use cordon_tui::cells::{Cell, HeaderInfo, PatchFile, StepStatus};
use cordon_tui::widgets::{self, Status};
use std::time::Duration;
use support::{draw, picture, shot};

/// `cell` drawn at `width`, as a picture.
fn cell_shot(cell: &Cell, width: u16) -> String {
    shot(cell.lines(), width)
}

#[test]
fn header() {
    let cell = Cell::Header(HeaderInfo {
        version: "0.1.0".into(),
        model: "gpt-5".into(),
        directory: "~/src/app".into(),
        sandbox: "workspace-write".into(),
        network: "proxy".into(),
        approval: "on-request".into(),
    });
    insta::assert_snapshot!(cell_shot(&cell, 80), @r"
    │
    │>_ cordon (v0.1.0)
    │   model:     gpt-5
    │   directory: ~/src/app
    │   sandbox:   workspace-write · network proxy
    │   approval:  on-request
    ");
    insta::assert_snapshot!(cell_shot(&cell, 40), @r"
    │
    │>_ cordon (v0.1.0)
    │   model:     gpt-5
    │   directory: ~/src/app
    │   sandbox:   workspace-write · network
    │proxy
    │   approval:  on-request
    ");
}

#[test]
fn user_and_reasoning_and_error_cells() {
    let cell = Cell::User("fix the build\nplease".into());
    insta::assert_snapshot!(cell_shot(&cell, 80), @r"
    │
    │› fix the build
    │  please
    ");
    insta::assert_snapshot!(cell_shot(&cell, 40), @r"
    │
    │› fix the build
    │  please
    ");
    let cell = Cell::Reasoning("**Looking** at the tests".into());
    insta::assert_snapshot!(cell_shot(&cell, 80), @r"
    │
    │**Looking** at the tests
    ");
    insta::assert_snapshot!(cell_shot(&cell, 40), @r"
    │
    │**Looking** at the tests
    ");
    let cell = Cell::Error("model request failed: HTTP 500".into());
    insta::assert_snapshot!(cell_shot(&cell, 80), @r"
    │
    │■ model request failed: HTTP 500
    ");
    insta::assert_snapshot!(cell_shot(&cell, 40), @r"
    │
    │■ model request failed: HTTP 500
    ");
}

#[test]
fn assistant_markdown() {
    let md = "# Plan\n\nSome *emphasis* and `code`.\n\n1. first\n2. second\n   - nested\n\n```rust\nfn main() {} // done\n```\n\n> quoted";
    let cell = Cell::Assistant(md.into());
    insta::assert_snapshot!(cell_shot(&cell, 80), @r"
    │
    │# Plan
    │
    │Some emphasis and code.
    │
    │1. first
    │2. second
    │  - nested
    │
    │fn main() {} // done
    │
    │> quoted
    ");
    insta::assert_snapshot!(cell_shot(&cell, 40), @r"
    │
    │# Plan
    │
    │Some emphasis and code.
    │
    │1. first
    │2. second
    │  - nested
    │
    │fn main() {} // done
    │
    │> quoted
    ");
}

#[test]
fn control_characters_from_the_model_are_neutralised() {
    let lines = Cell::Assistant("evil \x1b]0;title\x07 text".into()).lines();
    let text: String = lines
        .iter()
        .flat_map(|l| l.spans.iter().map(|s| s.content.to_string()))
        .collect();
    assert!(!text.contains('\x1b') && !text.contains('\x07'), "{text:?}");
}

#[test]
fn command_cell_shows_head_and_tail() {
    let output: String = (1..=30).map(|i| format!("line {i}\n")).collect();
    let cell = Cell::Command {
        command: "cargo test".into(),
        output,
        exit_code: Some(101),
        duration: Some(Duration::from_millis(2_345)),
        declined: false,
    };
    insta::assert_snapshot!(cell_shot(&cell, 80), @r"
    │
    │• Ran cargo test
    │    line 1
    │    line 2
    │    line 3
    │    line 4
    │    line 5
    │    … +20 lines
    │    line 26
    │    line 27
    │    line 28
    │    line 29
    │    line 30
    │    ✗ exit 101 · 2.3 s
    ");
    insta::assert_snapshot!(cell_shot(&cell, 40), @r"
    │
    │• Ran cargo test
    │    line 1
    │    line 2
    │    line 3
    │    line 4
    │    line 5
    │    … +20 lines
    │    line 26
    │    line 27
    │    line 28
    │    line 29
    │    line 30
    │    ✗ exit 101 · 2.3 s
    ");
    let cell = Cell::Command {
        command: "curl example.com".into(),
        output: "escalation declined".into(),
        exit_code: None,
        duration: None,
        declined: true,
    };
    insta::assert_snapshot!(cell_shot(&cell, 80), @r"
    │
    │• Declined curl example.com
    │    escalation declined
    │    ✗ not run
    ");
    insta::assert_snapshot!(cell_shot(&cell, 40), @r"
    │
    │• Declined curl example.com
    │    escalation declined
    │    ✗ not run
    ");
}

#[test]
fn patch_cell_counts_and_diff() {
    let patch = cordon_core::patch::parse(
        "*** Begin Patch\n*** Update File: src/lib.rs\n@@ fn main\n-    old();\n+    new();\n+    more();\n*** Add File: NOTES\n+hi\n*** End Patch",
    )
    .unwrap();
    let files = cordon_tui::cells::patch_files(&patch);
    let cell = Cell::Patch {
        files,
        applied: true,
        error: None,
    };
    insta::assert_snapshot!(cell_shot(&cell, 80), @r"
    │
    │• Edited src/lib.rs (+2 -1)
    │@@ fn main
    │-    old();
    │+    new();
    │+    more();
    │• Added NOTES (+1 -0)
    │+hi
    ");
    insta::assert_snapshot!(cell_shot(&cell, 40), @r"
    │
    │• Edited src/lib.rs (+2 -1)
    │@@ fn main
    │-    old();
    │+    new();
    │+    more();
    │• Added NOTES (+1 -0)
    │+hi
    ");
    let cell = Cell::Patch {
        files: vec![PatchFile {
            path: "/etc/x".into(),
            kind: ChangeKind::Delete,
            lines: vec![],
            added: 0,
            removed: 0,
        }],
        applied: false,
        error: Some("denied".into()),
    };
    insta::assert_snapshot!(cell_shot(&cell, 80), @r"
    │
    │• Deleted /etc/x (+0 -0)
    │✗ not applied: denied
    ");
    insta::assert_snapshot!(cell_shot(&cell, 40), @r"
    │
    │• Deleted /etc/x (+0 -0)
    │✗ not applied: denied
    ");
}

#[test]
fn plan_cell() {
    let cell = Cell::Plan(vec![
        ("read the code".into(), StepStatus::Completed),
        ("fix it".into(), StepStatus::InProgress),
        ("test".into(), StepStatus::Pending),
    ]);
    insta::assert_snapshot!(cell_shot(&cell, 80), @r"
    │
    │• Updated plan
    │  ✔ read the code
    │  □ fix it
    │  □ test
    ");
    insta::assert_snapshot!(cell_shot(&cell, 40), @r"
    │
    │• Updated plan
    │  ✔ read the code
    │  □ fix it
    │  □ test
    ");
}

fn status(working: Option<u64>) -> Status {
    Status {
        working_secs: working,
        frame: 0,
        hint: None,
        context_left: Some(87),
        model: "gpt-5".into(),
        sandbox: "workspace-write".into(),
        network: "none".into(),
    }
}

#[test]
fn status_line_at_80_and_40_columns() {
    insta::assert_snapshot!(shot(vec![widgets::status_line(&status(Some(75)), 100)], 100), @"│⠋ Working (1m 15s · esc to interrupt)                87% context left · gpt-5 · workspace-write/none");
    insta::assert_snapshot!(shot(vec![widgets::status_line(&status(Some(75)), 80)], 80), @"│⠋ Working (1m 15s · esc to interrupt)               gpt-5 · workspace-write/none");
    // At 40 columns the right side gives way first.
    insta::assert_snapshot!(shot(vec![widgets::status_line(&status(Some(3)), 40)], 40), @"│⠋ Working (3s · esc to interrupt)");
    insta::assert_snapshot!(shot(vec![widgets::status_line(&status(None), 40)], 40), @"│            gpt-5 · workspace-write/none");
    let mut hint = status(None);
    hint.hint = Some("ctrl+c again to quit".into());
    insta::assert_snapshot!(shot(vec![widgets::status_line(&hint, 40)], 40), @"│ctrl+c again to quit");
}

fn command_request() -> ApprovalRequest {
    ApprovalRequest {
        call_id: "c1".into(),
        action: ApprovalAction::Command {
            argv: vec!["curl".into(), "-fsS".into(), "https://example.com".into()],
            cwd: "/work/app".into(),
        },
        justification: Some("fetch the schema".into()),
        reason: ApprovalReason::Escalation,
    }
}

#[test]
fn approval_modal_for_a_command_at_80_and_40_columns() {
    let lines = |width| widgets::approval_lines(&command_request(), 0, 20, width);
    insta::assert_snapshot!(shot(lines(80), 80), @r"
    │Allow this command?
    │$ curl -fsS https://example.com
    │in /work/app
    │why: fetch the schema
    │reason: the model asks to run it outside the sandbox
    │
    │› Yes, run it (y)
    │  Yes, and don't ask again for this command this session (a)
    │  No, and tell cordon what to do differently (n or Esc)
    ");
    insta::assert_snapshot!(shot(lines(40), 40), @r"
    │Allow this command?
    │$ curl -fsS https://example.com
    │in /work/app
    │why: fetch the schema
    │reason: the model asks to run it outside
    │the sandbox
    │
    │› Yes, run it (y)
    │  Yes, and don't ask again for this
    │command this session (a)
    │  No, and tell cordon what to do
    │differently (n or Esc)
    ");
}

#[test]
fn approval_modal_for_a_patch_fits_its_rows() {
    let diff: String = (0..50).map(|i| format!("+line {i}\n")).collect();
    let request = ApprovalRequest {
        call_id: "p".into(),
        action: ApprovalAction::Patch {
            files: vec![FileDiff {
                path: "/work/app/big.txt".into(),
                kind: ChangeKind::Add,
                diff: format!("--- /dev/null\n+++ b/big.txt\n@@ -0,0 +1,50 @@\n{diff}"),
                added: 50,
                removed: 0,
            }],
        },
        justification: None,
        reason: ApprovalReason::OutsideWritableRoots {
            path: "/work/app/big.txt".into(),
        },
    };
    let rows = draw(widgets::approval_lines(&request, 2, 12, 80), 80);
    insta::assert_snapshot!(picture(&rows), @r"
    │Apply these changes?
    │• Added /work/app/big.txt (+50 -0)
    │@@ -0,0 +1,50 @@
    │+line 0
    │+line 1
    │+line 2
    │… +47 lines
    │reason: /work/app/big.txt is outside the sandbox's writable roots
    │
    │  Yes, apply the changes (y)
    │  Yes, and don't ask again for these files this session (a)
    │› No, and tell cordon what to do differently (n or Esc)
    ");
    // At 40 columns the reason and options wrap: the diff gives way to
    // them, and the modal still takes 12 rows.
    let rows = draw(widgets::approval_lines(&request, 2, 12, 40), 40);
    assert_eq!(rows.len(), 12);
    insta::assert_snapshot!(picture(&rows), @r"
    │Apply these changes?
    │• Added /work/app/big.txt (+50 -0)
    │@@ -0,0 +1,50 @@
    │… +50 lines
    │reason: /work/app/big.txt is outside the
    │sandbox's writable roots
    │
    │  Yes, apply the changes (y)
    │  Yes, and don't ask again for these
    │files this session (a)
    │› No, and tell cordon what to do
    │differently (n or Esc)
    ");
}

#[test]
fn highlighting_is_capped_on_a_huge_line() {
    let huge = "x".repeat(5_000_000);
    let start = std::time::Instant::now();
    let lines = cordon_tui::markdown::highlight("rust", &huge);
    assert_eq!(lines.len(), 1);
    assert_eq!(lines[0].spans.len(), 1, "left plain");
    assert!(start.elapsed() < Duration::from_secs(1));
    // Under the cap a line is highlighted.
    let small = cordon_tui::markdown::highlight("rust", "let x = \"s\"; // c");
    assert!(small[0].spans.len() > 3);
}

#[test]
fn no_cell_line_holds_a_raw_line_break_or_escape() {
    // A server's error text (a failed server in `/mcp`) or a model's plan
    // step with line breaks: each part is a line of its own, never a raw
    // LF inside one (the terminal would move down without a carriage
    // return, and the viewport's row count would be off).
    let cells = [
        // A directory a cloned repository named, escapes and all.
        Cell::Header(HeaderInfo {
            version: "0.1.0".into(),
            model: "m".into(),
            directory: "~/src/evil\x1b]52;c;cm0gLXJmIH4=\x07\ndir".into(),
            sandbox: "workspace-write".into(),
            network: "proxy".into(),
            approval: "on-request".into(),
        }),
        Cell::Info(vec!["• s: failed: first\nsecond\r\nthird".into()]),
        Cell::Plan(vec![("step\none".into(), StepStatus::Pending)]),
        Cell::Command {
            command: "printf 'a\nb'".into(),
            output: "a\nb".into(),
            exit_code: Some(0),
            duration: None,
            declined: false,
        },
        Cell::Patch {
            files: vec![PatchFile {
                path: "a\nb.txt".into(),
                kind: ChangeKind::Add,
                lines: vec!["+x".into()],
                added: 1,
                removed: 0,
            }],
            applied: true,
            error: None,
        },
    ];
    for cell in &cells {
        let lines = cell.lines();
        for line in &lines {
            for span in &line.spans {
                assert!(
                    !span.content.contains(['\n', '\r', '\x1b', '\x07']),
                    "{cell:?}: {line:?}"
                );
            }
        }
    }
    let info: Vec<String> = cells[1].lines().iter().map(|l| l.to_string()).collect();
    assert_eq!(info, ["", "• s: failed: first", "second", "third"]);
}

#[test]
fn sandbox_denial_cell_names_what_and_the_config_line_that_allows_it() {
    use cordon_core::runner::{Remedy, SandboxDenial};
    let denial = |kind: &str, target: &str, ops: &str, remedy| SandboxDenial {
        kind: kind.into(),
        target: target.into(),
        ops: ops.into(),
        remedy,
    };
    let cell = Cell::SandboxDenied(vec![
        denial(
            "write",
            "/srv/out/report.txt",
            "openat",
            Remedy::WritableRoot {
                dir: "/srv/out".into(),
                from_read_only: false,
            },
        ),
        denial("write", "/w/.git/config", "openat", Remedy::Protected),
        denial("network", "192.0.2.7:443", "connect", Remedy::Network),
        denial("write", "/w/src/a.rs", "openat", Remedy::WorkspaceWrite),
        denial(
            "unix-socket",
            "socket(AF_UNIX)",
            "socket",
            Remedy::OutsideOnly,
        ),
    ]);
    insta::assert_snapshot!(cell_shot(&cell, 80), @r#"
    │
    │■ the sandbox denied writing /srv/out/report.txt (openat)
    │  to allow it, in config.toml (or a profile):
    │    [sandbox_workspace_write]
    │    writable_roots = ["/srv/out"]
    │  or for one run: -c 'sandbox_workspace_write.writable_roots=["/srv/out"]'
    │■ the sandbox denied writing /w/.git/config (openat)
    │  a protected path (.git, .cordon): no setting lets a sandboxed command write it
    │■ the sandbox denied network access to 192.0.2.7:443 (connect)
    │  to allow it, in config.toml (or a profile):
    │    [network]
    │    mode = "full"
    │  or for one run: --network full
    │■ the sandbox denied writing /w/src/a.rs (openat)
    │  to allow it, in config.toml (or a profile):
    │    sandbox_mode = "workspace-write"
    │  or for one run: -s workspace-write (or /approvals)
    │■ the sandbox denied a Unix socket (socket)
    │  nothing in the sandbox allows it; only running without it (-s
    │danger-full-access)
    "#);
    insta::assert_snapshot!(cell_shot(&cell, 40), @r#"
    │
    │■ the sandbox denied writing
    │/srv/out/report.txt (openat)
    │  to allow it, in config.toml (or a
    │profile):
    │    [sandbox_workspace_write]
    │    writable_roots = ["/srv/out"]
    │  or for one run: -c
    │'sandbox_workspace_write.writable_roots=
    │["/srv/out"]'
    │■ the sandbox denied writing
    │/w/.git/config (openat)
    │  a protected path (.git, .cordon): no
    │setting lets a sandboxed command write
    │it
    │■ the sandbox denied network access to
    │192.0.2.7:443 (connect)
    │  to allow it, in config.toml (or a
    │profile):
    │    [network]
    │    mode = "full"
    │  or for one run: --network full
    │■ the sandbox denied writing /w/src/a.rs
    │(openat)
    │  to allow it, in config.toml (or a
    │profile):
    │    sandbox_mode = "workspace-write"
    │  or for one run: -s workspace-write (or
    │/approvals)
    │■ the sandbox denied a Unix socket
    │(socket)
    │  nothing in the sandbox allows it; only
    │running without it (-s
    │danger-full-access)
    "#);
    // From read-only, a root outside the workspace needs workspace-write too.
    let cell = Cell::SandboxDenied(vec![denial(
        "write",
        "/srv/o\"ut/x",
        "openat",
        Remedy::WritableRoot {
            dir: "/srv/o\"ut".into(),
            from_read_only: true,
        },
    )]);
    insta::assert_snapshot!(cell_shot(&cell, 40), @r#"
    │
    │■ the sandbox denied writing /srv/o"ut/x
    │(openat)
    │  to allow it, in config.toml (or a
    │profile):
    │    sandbox_mode = "workspace-write"
    │    [sandbox_workspace_write]
    │    writable_roots = ["/srv/o\"ut"]
    │  or for one run: -s workspace-write -c
    │'sandbox_workspace_write.writable_roots=
    │["/srv/o\"ut"]'
    "#);
}

#[test]
fn mcp_call_cell() {
    let arguments = serde_json::json!({"query": "sandbox", "limit": 3});
    let cell = Cell::McpCall {
        call: cordon_tui::cells::mcp_call("docs", "search", &arguments),
        output: "3 results:\nsandbox(7)\nlandlock(7)\nseccomp(2)".into(),
        failed: false,
    };
    insta::assert_snapshot!(cell_shot(&cell, 80), @r#"
    │
    │• Called docs.search({"limit":3,"query":"sandbox"})
    │    3 results:
    │    sandbox(7)
    │    landlock(7)
    │    seccomp(2)
    "#);
    insta::assert_snapshot!(cell_shot(&cell, 40), @r#"
    │
    │• Called
    │docs.search({"limit":3,"query":"sandbox"
    │})
    │    3 results:
    │    sandbox(7)
    │    landlock(7)
    │    seccomp(2)
    "#);
    // A failed call: the error in place of the result.
    let cell = Cell::McpCall {
        call: cordon_tui::cells::mcp_call("docs", "fetch", &serde_json::json!({})),
        output: "declined by the user".into(),
        failed: true,
    };
    insta::assert_snapshot!(cell_shot(&cell, 80), @r"
    │
    │• Called docs.fetch({})
    │    declined by the user
    ");
    insta::assert_snapshot!(cell_shot(&cell, 40), @r"
    │
    │• Called docs.fetch({})
    │    declined by the user
    ");
}

#[test]
fn proxy_denial_cell_names_the_host_and_the_config_line_that_allows_it() {
    use cordon_core::runner::ProxyDenial;
    let denial = |host: &str, port, reasons: &[&str]| ProxyDenial {
        host: host.into(),
        port,
        reasons: reasons.iter().map(|r| r.to_string()).collect(),
    };
    let cell = Cell::ProxyDenied(vec![
        denial("registry.npmjs.org", 443, &["not-allowed"]),
        denial("tracker.example", 443, &["denied"]),
        denial("10.0.0.5", 80, &["non-public-address"]),
    ]);
    insta::assert_snapshot!(cell_shot(&cell, 80), @r#"
    │
    │■ the proxy refused registry.npmjs.org:443 (not-allowed)
    │  to allow it, in config.toml (or a profile):
    │    [network.domains]
    │    "registry.npmjs.org" = "allow"
    │  or for one run: --allow-domain registry.npmjs.org
    │■ the proxy refused tracker.example:443 (denied)
    │  a deny rule in [network.domains] or --deny-domain matched (deny wins)
    │■ the proxy refused 10.0.0.5:80 (non-public-address)
    │  to allow it, in config.toml (or a profile):
    │    [network.domains]
    │    "10.0.0.5" = "allow"
    │  or for one run: --allow-domain 10.0.0.5
    "#);
    insta::assert_snapshot!(cell_shot(&cell, 40), @r#"
    │
    │■ the proxy refused
    │registry.npmjs.org:443 (not-allowed)
    │  to allow it, in config.toml (or a
    │profile):
    │    [network.domains]
    │    "registry.npmjs.org" = "allow"
    │  or for one run: --allow-domain
    │registry.npmjs.org
    │■ the proxy refused tracker.example:443
    │(denied)
    │  a deny rule in [network.domains] or
    │--deny-domain matched (deny wins)
    │■ the proxy refused 10.0.0.5:80
    │(non-public-address)
    │  to allow it, in config.toml (or a
    │profile):
    │    [network.domains]
    │    "10.0.0.5" = "allow"
    │  or for one run: --allow-domain
    │10.0.0.5
    "#);
}

#[test]
fn approval_modal_for_an_mcp_tool_at_80_and_40_columns() {
    let request = ApprovalRequest {
        call_id: "m".into(),
        action: ApprovalAction::McpToolCall {
            server: "docs".into(),
            tool: "write_page".into(),
            arguments: serde_json::json!({"path": "notes.md", "text": "hello"}),
        },
        justification: None,
        reason: ApprovalReason::McpTool { read_only: false },
    };
    let lines = |width| widgets::approval_lines(&request, 0, 20, width);
    insta::assert_snapshot!(shot(lines(80), 80), @r#"
    │Call this MCP tool?
    │docs.write_page({"path":"notes.md","text":"hello"})
    │reason: an MCP server's tool that may change things (it does not say it only
    │reads)
    │
    │› Yes, call it (y)
    │  Yes, and don't ask again for this tool this session (a)
    │  No, and tell cordon what to do differently (n or Esc)
    "#);
    insta::assert_snapshot!(shot(lines(40), 40), @r#"
    │Call this MCP tool?
    │docs.write_page({"path":"notes.md","text
    │":"hello"})
    │reason: an MCP server's tool that may
    │change things (it does not say it only
    │reads)
    │
    │› Yes, call it (y)
    │  Yes, and don't ask again for this tool
    │this session (a)
    │  No, and tell cordon what to do
    │differently (n or Esc)
    "#);
}

#[test]
fn approval_modal_for_a_proxy_denied_host_at_80_and_40_columns() {
    let mut request = command_request();
    request.justification = None;
    request.reason = ApprovalReason::ProxyDenied {
        hosts: vec!["example.com".into()],
        denied: "the proxy refused:\n  proxy example.com:443 (not-allowed) x1\n".into(),
    };
    let lines = |width| widgets::approval_lines(&request, 0, 20, width);
    insta::assert_snapshot!(shot(lines(80), 80), @r"
    │Allow this command?
    │$ curl -fsS https://example.com
    │in /work/app
    │reason: the proxy refused example.com (no rule allows it); allow it for this
    │session and run the command again?
    │refused: example.com:443 (not-allowed)
    │
    │› allow example.com for this session and rerun (h)
    │  Yes, run it again without the sandbox (y)
    │  No, and tell cordon what to do differently (n or Esc)
    ");
    insta::assert_snapshot!(shot(lines(40), 40), @r"
    │Allow this command?
    │$ curl -fsS https://example.com
    │in /work/app
    │reason: the proxy refused example.com
    │(no rule allows it); allow it for this
    │session and run the command again?
    │refused: example.com:443 (not-allowed)
    │
    │› allow example.com for this session and
    │rerun (h)
    │  Yes, run it again without the sandbox
    │(y)
    │  No, and tell cordon what to do
    │differently (n or Esc)
    ");
}
