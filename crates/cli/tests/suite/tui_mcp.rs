//! MCP servers in the interactive UI, end to end (the real `cordon` in a
//! pseudo-terminal, the Python test server, the scripted model): start-up
//! progress never blocks the composer, `/mcp` lists the servers, and a
//! server's question is answered in the form.

use super::common::World;
use super::fake_model::{responses_call, responses_text, FakeModel, Reply};
use super::mcp::{python, server_script, tool_names, tool_output};
use super::tui::Tui;
use serde_json::json;
use std::time::Duration;

fn configure(w: &World, model: &FakeModel, servers: &str) {
    std::fs::write(
        w.home.path().join("config.toml"),
        format!(
            "model = \"fake-model\"\nmodel_provider = \"fake\"\n\n[model_providers.fake]\nname = \"Fake\"\nbase_url = \"{}\"\nwire_api = \"responses\"\nenv_key = \"FAKE_MODEL_KEY\"\nrequest_max_retries = 0\nstream_max_retries = 0\n\n{servers}",
            model.base_url()
        ),
    )
    .unwrap();
}

fn server(name: &str, extra: &str) -> String {
    format!(
        "[mcp_servers.{name}]\ncommand = \"{}\"\nargs = [\"{}\"]\n{extra}\n",
        python(),
        server_script()
    )
}

/// Types `text` a key at a time (no Enter).
fn keys(t: &mut Tui, text: &str) {
    for c in text.chars() {
        t.send(&c.to_string());
        std::thread::sleep(Duration::from_millis(10));
    }
}

fn line(t: &mut Tui, text: &str) {
    keys(t, text);
    std::thread::sleep(Duration::from_millis(50));
    t.send("\r");
}

#[test]
fn tui_mcp_elicitation_form_is_filled_by_keys_checked_accepted_declined_cancelled_and_interrupted()
{
    let w = World::new();
    let model = FakeModel::start(vec![
        Reply::Sse(responses_call("c1", "mcp__t__ask", &json!({}))),
        Reply::Sse(responses_text("thanks for the answers")),
        Reply::Sse(responses_call("c2", "mcp__t__ask", &json!({}))),
        Reply::Sse(responses_text("fine, no answers")),
        Reply::Sse(responses_call("c3", "mcp__t__ask", &json!({}))),
        Reply::Sse(responses_text("dismissed then")),
        Reply::Sse(responses_call("c4", "mcp__t__ask", &json!({}))),
        Reply::Sse(responses_text("never asked: the turn was interrupted")),
    ]);
    configure(&w, &model, &server("t", ""));
    let mut t = Tui::spawn(&w, &[], &[]);
    t.wait_for("mcp: t ready");
    line(&mut t, "ask me");
    let form = t.wait_for("MCP server t asks:");
    for shown in [
        "Who is asking?",
        "› age *: ",
        "  Name *:",
        "color: ‹ (none) › (3 choices)",
        "subscribe: [ ] no",
        "Ctrl+S accept · Ctrl+D decline",
        "Esc cancel",
        "waiting for your answer to t's question",
    ] {
        assert!(form.contains(shown), "{shown:?} in:\n{form}");
    }
    t.wait_ready("MCP server t asks:");
    keys(&mut t, "4x");
    t.send("\r");
    t.wait_for("your name"); // the focused field's description
    keys(&mut t, "Ada");
    t.send("\x13"); // Ctrl+S: accept, refused
    t.wait_for("✗ age: not an integer: 4x");
    t.send("\x7f");
    keys(&mut t, "2");
    t.send("\t");
    t.send("\t");
    t.send("\x1b[C"); // color: red
    t.send("\x1b[C"); // color: green
    t.wait_for("color: ‹ green ›");
    t.send("\t");
    t.send(" "); // subscribe: yes
    t.wait_for("subscribe: [x] yes");
    t.send("\r"); // Enter on the last field accepts
    t.wait_for("thanks for the answers");
    let screen = t.wait_for("✔ answered: t's question");
    assert!(!screen.contains("MCP server t asks:"), "{screen}");
    let reqs = model.requests();
    assert_eq!(
        tool_output(&reqs[1], "c1"),
        r#"accepted: {"age": 42, "color": "green", "name": "Ada", "subscribe": true}"#,
        "the values reached the server, and its result the model"
    );

    line(&mut t, "ask again");
    t.wait_ready("MCP server t asks:");
    keys(&mut t, "d"); // text, not a decline
    t.send("\x04"); // Ctrl+D: decline
    t.wait_for("fine, no answers");
    t.wait_for("✗ declined: t's question");
    let reqs = model.requests();
    assert_eq!(tool_output(&reqs[3], "c2"), "the user chose decline");

    line(&mut t, "and dismiss it");
    t.wait_for("MCP server t asks:");
    t.send("\x1b"); // Esc: cancel
    t.wait_for("dismissed then");
    t.wait_for("✗ cancelled: t's question");
    assert_eq!(
        tool_output(&model.requests()[5], "c3"),
        "the user chose cancel"
    );

    line(&mut t, "and interrupt it");
    t.wait_for("MCP server t asks:");
    t.send("\x03"); // Ctrl+C: cancel, and interrupt the turn
    let screen = t.wait_for("Interrupted: the turn stopped");
    assert!(!screen.contains("MCP server t asks:"), "{screen}");
    std::thread::sleep(Duration::from_millis(500));
    assert_eq!(model.requests().len(), 7, "no request after the interrupt");
    // The server and the session are still there.
    line(&mut t, "/mcp");
    t.wait_for("• t: ready");
}

#[test]
fn tui_mcp_lists_ready_sandboxed_and_failed_servers_with_their_tools() {
    let w = World::new();
    let model = FakeModel::start(vec![]);
    let servers = server("t", "")
        + &server("boxed", "sandbox_mode = \"read-only\"")
        + &server("broken", "env = { MCP_TEST_FAIL = \"1\" }");
    configure(&w, &model, &servers);
    let mut t = Tui::spawn(&w, &[], &[]);
    t.wait_for("mcp: starting 3 servers…");
    t.wait_for("mcp: t ready (");
    t.wait_for("mcp: boxed ready (");
    t.wait_for("mcp: broken failed to start");
    line(&mut t, "/mcp");
    let screen = t.wait_for("• t: ready");
    let script = server_script();
    for shown in [
        format!("stdio: {} {script}", python()),
        "sandbox: none (runs with your rights)".to_string(),
        "tools: mcp__t__echo, mcp__t__add".to_string(),
        "• boxed: ready".to_string(),
        "sandbox: read-only, network none".to_string(),
        "• broken: failed: ".to_string(),
        "refusing to start (MCP_TEST_FAIL)".to_string(),
    ] {
        assert!(screen.contains(&shown), "{shown:?} in:\n{screen}");
    }
    let failures = screen.matches("mcp: broken failed to start").count();
    assert_eq!(failures, 1, "reported once:\n{screen}");
}

#[test]
fn tui_a_slow_mcp_server_never_delays_the_composer_and_new_sessions_get_its_tools() {
    let w = World::new();
    let model = FakeModel::start(vec![
        Reply::Sse(responses_text("answered before the server")),
        Reply::Sse(responses_text("now with its tools")),
    ]);
    configure(
        &w,
        &model,
        &server("slow", "env = { MCP_TEST_START_DELAY = \"6\" }"),
    );
    let mut t = Tui::spawn(&w, &[], &[]);
    t.wait_for("Ask cordon to do anything");
    line(&mut t, "hello");
    let screen = t.wait_for("answered before the server");
    assert!(!screen.contains("mcp: slow ready"), "{screen}");
    assert!(screen.contains("mcp: starting 1 server…"), "{screen}");
    let first = tool_names(&model.requests()[0]);
    assert!(!first.iter().any(|n| n.starts_with("mcp__")), "{first:?}");
    t.wait_for("mcp: slow ready (");
    line(&mut t, "/new");
    t.wait_for("session ");
    line(&mut t, "and now?");
    t.wait_for("now with its tools");
    let second = tool_names(&model.requests()[1]);
    assert!(
        second.contains(&"mcp__slow__echo".to_string()),
        "the new session has the server's tools: {second:?}"
    );
}

#[test]
fn tui_the_reference_servers_elicitation_takes_a_typed_name_and_its_defaults() {
    let w = World::new();
    let model = FakeModel::start(vec![
        Reply::Sse(responses_call(
            "c1",
            "mcp__ev__trigger_elicitation_request",
            &json!({}),
        )),
        Reply::Sse(responses_text("the reference server has its answers")),
    ]);
    configure(
        &w,
        &model,
        "[mcp_servers.ev]\ncommand = \"mcp-server-everything\"\nstartup_timeout_sec = 60\n[mcp_servers.ev.tools.trigger-elicitation-request]\napproval_mode = \"approve\"\n",
    );
    let mut t = Tui::spawn(&w, &[], &[]);
    t.wait_for("mcp: ev ready");
    line(&mut t, "ask me everything");
    let form = t.wait_for("MCP server ev asks:");
    for shown in [
        "Please provide inputs for the following fields:",
        "› String *: ",
        "Your full, legal name",
        "Untitled Multiple Select Enum: [x] Guitar [ ] Piano",
        "Titled Single Select Enum: ‹ Superman › (3 choices)",
    ] {
        assert!(form.contains(shown), "{shown:?} in:\n{form}");
    }
    t.wait_ready("MCP server ev asks:");
    keys(&mut t, "Ada Lovelace");
    t.send("\x13"); // Ctrl+S
    t.wait_for("the reference server has its answers");
    let out = tool_output(&model.requests()[1], "c1");
    for said in [
        "User provided the requested information",
        "- Name: Ada Lovelace",
        "- Favorite Integer: 42",
        "- Favorite Number: 3.14",
    ] {
        assert!(out.contains(said), "{said:?} in:\n{out}");
    }
}

#[test]
fn tui_an_interrupt_drops_every_question_a_server_has_in_flight() {
    let w = World::new();
    let model = FakeModel::start(vec![
        Reply::Sse(responses_call(
            "c1",
            "mcp__t__ask_many",
            &json!({"count": 4}),
        )),
        Reply::Sse(responses_text("never asked: the turn was interrupted")),
    ]);
    configure(&w, &model, &server("t", ""));
    let mut t = Tui::spawn(&w, &[], &[]);
    t.wait_for("mcp: t ready");
    line(&mut t, "ask me four things");
    t.wait_for("MCP server t asks:");
    // All four questions are in before the interrupt.
    std::thread::sleep(Duration::from_millis(1500));
    t.send("\x03"); // Ctrl+C: cancel, and interrupt the turn
    t.wait_for("Interrupted: the turn stopped");
    // No other question of the interrupted call is left to answer.
    std::thread::sleep(Duration::from_millis(1500));
    let screen = t.screen();
    assert!(!screen.contains("MCP server t asks:"), "{screen}");
    assert!(!screen.contains("waiting for your answer"), "{screen}");
    // Control: the composer takes text again.
    keys(&mut t, "still here");
    t.wait_for("still here");
    assert_eq!(model.requests().len(), 1, "no request after the interrupt");
}
