//! Snapshot tests of the MCP parts of the TUI at 80 and 40 columns: the
//! elicitation form (fields, focus, the inline error, the window of fields
//! on a short viewport) and the `/mcp` list. Each snapshot is an inline
//! `insta` snapshot of the rows as text, each row behind a `│` (see
//! `support::picture`).

mod support;

use cordon_core::tool_provider::{ServerState, ServerStatus};
use cordon_tui::cells::Cell;
use cordon_tui::elicit::{ElicitRequest, Form};
use crossterm::event::{KeyCode, KeyEvent, KeyModifiers};
use serde_json::json;
use support::{draw, picture, shot};

fn form() -> Form {
    Form::new(&ElicitRequest {
        server: "docs".into(),
        message: "Which account should I use?".into(),
        schema: json!({
            "type": "object",
            "properties": {
                "user": {"type": "string", "title": "User name", "description": "as in your profile"},
                "port": {"type": "integer", "minimum": 1, "maximum": 65535},
                "verbose": {"type": "boolean", "default": true},
                "region": {"type": "string", "oneOf": [{"const": "eu", "title": "Europe"}, {"const": "us", "title": "America"}]},
            },
            "required": ["user", "port"],
        }),
    })
}

fn press(form: &mut Form, code: KeyCode, modifiers: KeyModifiers) {
    let _ = form.key(&KeyEvent::new(code, modifiers));
}

#[test]
fn elicitation_form_at_80_and_40_columns() {
    let mut f = form();
    insta::assert_snapshot!(shot(f.lines(30, 80), 80), @r"
    │MCP server docs asks:
    │Which account should I use?
    │
    │› port *: ▏
    │  User name *:
    │  region: ‹ (none) › (2 choices)
    │  verbose: [x] yes
    │
    │Tab/↑↓ move · Space/←→ change · Enter next, on the last accept · Ctrl+S accept ·
    │Ctrl+D decline · Esc cancel
    ");
    insta::assert_snapshot!(shot(f.lines(30, 40), 40), @r"
    │MCP server docs asks:
    │Which account should I use?
    │
    │› port *: ▏
    │  User name *:
    │  region: ‹ (none) › (2 choices)
    │  verbose: [x] yes
    │
    │Tab/↑↓ move · Space/←→ change · Enter
    │next, on the last accept · Ctrl+S accept
    │· Ctrl+D decline · Esc cancel
    ");
    for c in "ada".chars() {
        press(&mut f, KeyCode::Char(c), KeyModifiers::NONE);
    }
    press(&mut f, KeyCode::Tab, KeyModifiers::NONE);
    for c in "http".chars() {
        press(&mut f, KeyCode::Char(c), KeyModifiers::NONE);
    }
    press(&mut f, KeyCode::Char('s'), KeyModifiers::CONTROL);
    // A wrong value: the error under the form, the focus on its field.
    insta::assert_snapshot!(shot(f.lines(30, 40), 40), @r"
    │MCP server docs asks:
    │Which account should I use?
    │
    │› port *: ada▏
    │  User name *: http
    │  region: ‹ (none) › (2 choices)
    │  verbose: [x] yes
    │
    │✗ port: not an integer: ada
    │Tab/↑↓ move · Space/←→ change · Enter
    │next, on the last accept · Ctrl+S accept
    │· Ctrl+D decline · Esc cancel
    ");
    // The focused field shows its description.
    press(&mut f, KeyCode::Down, KeyModifiers::NONE);
    let rows = draw(f.lines(30, 40), 40);
    insta::assert_snapshot!(picture(&rows[3..6]), @r"
    │  port *: ada
    │› User name *: http▏
    │    as in your profile
    ");
}

#[test]
fn a_long_form_shows_the_fields_around_the_focused_one() {
    let props: serde_json::Map<String, serde_json::Value> = (1..=9)
        .map(|i| (format!("f{i}"), json!({"type": "string"})))
        .collect();
    let mut f = Form::new(&ElicitRequest {
        server: "s".into(),
        message: "Many fields".into(),
        schema: json!({"type": "object", "properties": props}),
    });
    for _ in 0..5 {
        press(&mut f, KeyCode::Down, KeyModifiers::NONE);
    }
    insta::assert_snapshot!(shot(f.lines(12, 80), 80), @r"
    │MCP server s asks:
    │Many fields
    │
    │  … 2 more above
    │  f3:
    │  f4:
    │  f5:
    │› f6: ▏
    │  … 3 more below
    │
    │Tab/↑↓ move · Space/←→ change · Enter next, on the last accept · Ctrl+S accept ·
    │Ctrl+D decline · Esc cancel
    ");
    // At 40 columns the help wraps to three rows: the window shows a
    // field fewer, and the form still takes 12 rows.
    let rows = draw(f.lines(12, 40), 40);
    assert_eq!(rows.len(), 12);
    insta::assert_snapshot!(picture(&rows), @r"
    │MCP server s asks:
    │Many fields
    │
    │  … 3 more above
    │  f4:
    │  f5:
    │› f6: ▏
    │  … 3 more below
    │
    │Tab/↑↓ move · Space/←→ change · Enter
    │next, on the last accept · Ctrl+S accept
    │· Ctrl+D decline · Esc cancel
    ");
}

#[test]
fn mcp_list_at_80_and_40_columns() {
    let servers = vec![
        ServerState {
            name: "docs".into(),
            status: ServerStatus::Ready,
            transport: "stdio: npx -y docs-server".into(),
            sandbox: Some("workspace-write, network proxy (allow docs.rs)".into()),
            tools: vec!["mcp__docs__search".into(), "mcp__docs__fetch".into()],
            required: false,
        },
        ServerState {
            name: "slow".into(),
            status: ServerStatus::Starting,
            transport: "http: https://mcp.example.com/mcp".into(),
            sandbox: None,
            tools: vec![],
            required: false,
        },
        ServerState {
            name: "broken".into(),
            status: ServerStatus::Failed(
                "connection closed: initialize response; it exited (exit status: 7)".into(),
            ),
            transport: "stdio: broken-server".into(),
            sandbox: None,
            tools: vec![],
            required: false,
        },
    ];
    let cell = Cell::Info(cordon_tui::mcp::list_lines(&servers));
    insta::assert_snapshot!(shot(cell.lines(), 80), @r"
    │
    │/mcp
    │• docs: ready
    │    stdio: npx -y docs-server
    │    sandbox: workspace-write, network proxy (allow docs.rs)
    │    tools: mcp__docs__search, mcp__docs__fetch
    │• slow: starting…
    │    http: https://mcp.example.com/mcp
    │    sandbox: none (runs with your rights)
    │• broken: failed: connection closed: initialize response; it exited (exit
    │status: 7)
    │    stdio: broken-server
    │    sandbox: none (runs with your rights)
    ");
    insta::assert_snapshot!(shot(cell.lines(), 40), @r"
    │
    │/mcp
    │• docs: ready
    │    stdio: npx -y docs-server
    │    sandbox: workspace-write, network
    │proxy (allow docs.rs)
    │    tools: mcp__docs__search,
    │mcp__docs__fetch
    │• slow: starting…
    │    http: https://mcp.example.com/mcp
    │    sandbox: none (runs with your
    │rights)
    │• broken: failed: connection closed:
    │initialize response; it exited (exit
    │status: 7)
    │    stdio: broken-server
    │    sandbox: none (runs with your
    │rights)
    ");
    let none = Cell::Info(cordon_tui::mcp::list_lines(&[]));
    insta::assert_snapshot!(shot(none.lines(), 40), @r"
    │
    │/mcp
    │no MCP servers are configured (add one
    │with `cordon mcp add`, see [mcp_servers]
    │in the README)
    ");
    insta::assert_snapshot!(shot(none.lines(), 80), @r"
    │
    │/mcp
    │no MCP servers are configured (add one with `cordon mcp add`, see [mcp_servers]
    │in the README)
    ");
}
