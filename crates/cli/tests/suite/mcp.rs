//! MCP servers end to end: `cordon exec` driven by the fake model calls the
//! tools of a test server written with the Python `mcp` SDK (stdio and
//! streamable HTTP) and of the npm reference server; start-up never delays
//! the first request; required, failing and crashing servers; approvals;
//! sandboxed servers with unsandboxed controls.

use super::common::{text, World, CORDON};
use super::fake_model::{
    chat_call, chat_text, responses_call, responses_text, FakeModel, Reply, Request,
};
use serde_json::{json, Value};
use std::process::{Command, Output, Stdio};
use std::time::{Duration, Instant};

/// The Python with the `mcp` SDK (`.ci/run` installs it for /usr/bin/python3,
/// readable by every user).
pub(super) fn python() -> String {
    std::env::var("CORDON_TEST_PYTHON").unwrap_or_else(|_| "/usr/bin/python3".into())
}

pub(super) fn server_script() -> String {
    concat!(
        env!("CARGO_MANIFEST_DIR"),
        "/tests/fixtures/mcp_test_server.py"
    )
    .to_string()
}

/// A `[mcp_servers.NAME]` table for the test server over stdio.
fn stdio_server(name: &str, extra: &str) -> String {
    format!(
        "[mcp_servers.{name}]\ncommand = \"{}\"\nargs = [\"{}\"]\n{extra}\n",
        python(),
        server_script()
    )
}

fn configure(w: &World, model: &FakeModel, servers: &str) {
    configure_wire(w, model, "responses", servers);
}

fn configure_wire(w: &World, model: &FakeModel, wire: &str, servers: &str) {
    std::fs::write(
        w.home.path().join("config.toml"),
        format!(
            "model = \"fake-model\"\nmodel_provider = \"fake\"\n\n[model_providers.fake]\nname = \"Fake\"\nbase_url = \"{}\"\nwire_api = \"{wire}\"\nenv_key = \"FAKE_MODEL_KEY\"\nrequest_max_retries = 0\nstream_idle_timeout_ms = 60000\n\n{servers}",
            model.base_url()
        ),
    )
    .unwrap();
}

fn exec_cmd(w: &World, args: &[&str]) -> Command {
    let mut c = Command::new(CORDON);
    c.arg("exec")
        .arg("--skip-git-repo-check")
        .args(args)
        .current_dir(w.work())
        .env("CORDON_HOME", w.home.path())
        .env("FAKE_MODEL_KEY", "sk-test")
        .env("OPENAI_API_KEY", "sk-must-not-leak")
        .env_remove("HTTP_PROXY")
        .env_remove("http_proxy")
        .env_remove("RUST_LOG")
        .stdin(Stdio::null());
    c
}

fn events(o: &Output) -> Vec<Value> {
    String::from_utf8_lossy(&o.stdout)
        .lines()
        .map(|l| serde_json::from_str(l).unwrap_or_else(|e| panic!("not JSON: {l}: {e}")))
        .collect()
}

/// The names of the tools a request offers.
pub(super) fn tool_names(r: &Request) -> Vec<String> {
    r.body["tools"]
        .as_array()
        .unwrap()
        .iter()
        .map(|t| t["name"].as_str().unwrap().to_string())
        .collect()
}

/// The function-call output the request carries for `call_id`.
pub(super) fn tool_output(r: &Request, call_id: &str) -> String {
    for i in r.body["input"].as_array().unwrap() {
        if i["type"] == "function_call_output" && i["call_id"] == call_id {
            return i["output"].as_str().unwrap().to_string();
        }
    }
    panic!("no output for {call_id} in {}", r.body);
}

fn call(id: &str, name: &str, args: Value) -> Reply {
    Reply::Sse(responses_call(id, name, &args))
}

/// The completed `mcp_tool_call` items, in order.
fn mcp_items(evs: &[Value]) -> Vec<Value> {
    evs.iter()
        .filter(|e| e["type"] == "item.completed" && e["item"]["type"] == "mcp_tool_call")
        .map(|e| e["item"].clone())
        .collect()
}

#[test]
fn stdio_tools_results_errors_approvals_and_list_changes_reach_the_model() {
    let w = World::new();
    let model = FakeModel::start(vec![
        call("c1", "mcp__t__echo", json!({"text": "hi"})),
        call("c2", "mcp__t__add", json!({"a": 2, "b": 3})),
        call("c3", "mcp__auto__add", json!({"a": 2, "b": 3})),
        call("c4", "mcp__t__fail", json!({"why": "testing"})),
        call("c5", "mcp__t__env", json!({"name": "OPENAI_API_KEY"})),
        call("c6", "mcp__t__env", json!({"name": "KEEP_ME"})),
        call("c7", "mcp__t__env", json!({"name": "LITERAL"})),
        call("c8", "mcp__t__grow", json!({})),
        call("c9", "mcp__t__added_later", json!({})),
        Reply::Sse(responses_text("done")),
    ]);
    let servers = stdio_server(
        "t",
        "required = true\nenv_vars = [\"KEEP_ME\"]\nenv = { LITERAL = \"lit\" }",
    ) + &stdio_server(
        "auto",
        "required = true\ndefault_tools_approval_mode = \"approve\"",
    );
    configure(&w, &model, &servers);
    let o = exec_cmd(&w, &["--json", "go"])
        .env("KEEP_ME", "kept")
        .output()
        .unwrap();
    assert_eq!(o.status.code(), Some(0), "{}", text(&o));
    let reqs = model.requests();
    assert_eq!(reqs.len(), 10, "{}", text(&o));
    // Both required servers were ready before the first request.
    let first = tool_names(&reqs[0]);
    for name in ["shell", "mcp__t__echo", "mcp__t__add", "mcp__auto__add"] {
        assert!(first.contains(&name.to_string()), "{first:?}");
    }
    assert!(!first.contains(&"mcp__t__added_later".to_string()));
    let add = reqs[0].body["tools"]
        .as_array()
        .unwrap()
        .iter()
        .find(|t| t["name"] == "mcp__t__add")
        .unwrap()
        .clone();
    assert_eq!(add["parameters"]["type"], "object");
    assert_eq!(add["parameters"]["required"], json!(["a", "b"]));
    assert_eq!(tool_output(&reqs[1], "c1"), "echo: hi");
    let declined = tool_output(&reqs[2], "c2");
    assert!(
        declined.contains("approval_policy is `never`") && declined.contains("did not run"),
        "{declined}"
    );
    assert_eq!(
        serde_json::from_str::<Value>(&tool_output(&reqs[3], "c3")).unwrap(),
        json!({"sum": 5}),
        "approve runs it"
    );
    let failed = tool_output(&reqs[4], "c4");
    assert!(
        failed.starts_with("tool error:") && failed.contains("failing on purpose: testing"),
        "{failed}"
    );
    assert_eq!(tool_output(&reqs[5], "c5"), "OPENAI_API_KEY=<unset>");
    assert_eq!(tool_output(&reqs[6], "c6"), "KEEP_ME=kept");
    assert_eq!(tool_output(&reqs[7], "c7"), "LITERAL=lit");
    assert_eq!(tool_output(&reqs[8], "c8"), "grew");
    assert!(
        tool_names(&reqs[8]).contains(&"mcp__t__added_later".to_string()),
        "tools/list_changed refreshed the list: {:?}",
        tool_names(&reqs[8])
    );
    assert_eq!(tool_output(&reqs[9], "c9"), "I was added later");

    let evs = events(&o);
    let started: Vec<&Value> = evs
        .iter()
        .filter(|e| e["type"] == "item.started" && e["item"]["type"] == "mcp_tool_call")
        .collect();
    assert_eq!(started.len(), 9);
    assert_eq!(started[0]["item"]["status"], "in_progress");
    let items = mcp_items(&evs);
    assert_eq!(items.len(), 9);
    assert_eq!(items[0]["id"], started[0]["item"]["id"]);
    assert_eq!(items[0]["server"], "t");
    assert_eq!(items[0]["tool"], "echo");
    assert_eq!(items[0]["arguments"], json!({"text": "hi"}));
    assert_eq!(items[0]["status"], "completed");
    assert_eq!(items[0]["result"]["content"][0]["text"], "echo: hi");
    assert_eq!(items[0]["error"], Value::Null);
    assert_eq!(items[1]["status"], "failed");
    assert!(items[1]["error"]["message"]
        .as_str()
        .unwrap()
        .contains("approval_policy"));
    assert_eq!(items[2]["result"]["structured_content"], json!({"sum": 5}));
    assert_eq!(items[3]["status"], "failed");
}

#[test]
fn a_slow_server_never_delays_the_first_request_and_a_late_one_joins_the_next() {
    let w = World::new();
    let model = FakeModel::start(vec![
        call("s1", "shell", json!({"command": ["sleep", "8"]})),
        Reply::Sse(responses_text("done")),
    ]);
    let servers =
        stdio_server("slow", "env = { MCP_TEST_START_DELAY = \"10\" }") + &stdio_server("late", "");
    configure(&w, &model, &servers);
    let start = Instant::now();
    let child = exec_cmd(&w, &["--json", "go"])
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .unwrap();
    while model.requests().is_empty() && start.elapsed() < Duration::from_secs(20) {
        std::thread::sleep(Duration::from_millis(5));
    }
    let first_at = start.elapsed();
    let o = child.wait_with_output().unwrap();
    let total = start.elapsed();
    assert_eq!(o.status.code(), Some(0), "{}", text(&o));
    assert!(
        first_at < Duration::from_millis(1500),
        "first request after {first_at:?}"
    );
    let reqs = model.requests();
    let first = tool_names(&reqs[0]);
    assert!(
        !first.iter().any(|n| n.starts_with("mcp__")),
        "nothing ready yet: {first:?}"
    );
    let second = tool_names(&reqs[1]);
    assert!(
        second.contains(&"mcp__late__echo".to_string()),
        "{second:?}"
    );
    assert!(
        !second.iter().any(|n| n.starts_with("mcp__slow__")),
        "{second:?}"
    );
    // exec does not wait for the slow server to finish starting.
    assert!(total < Duration::from_secs(14), "exec took {total:?}");
}

#[test]
fn exec_says_which_required_server_it_waits_for() {
    let w = World::new();
    let model = FakeModel::start(vec![Reply::Sse(responses_text("done"))]);
    configure(
        &w,
        &model,
        &(stdio_server(
            "slowreq",
            "required = true\nenv = { MCP_TEST_START_DELAY = \"1\" }",
        ) + &stdio_server("other", "env = { MCP_TEST_START_DELAY = \"30\" }")),
    );
    let o = exec_cmd(&w, &["go"]).output().unwrap();
    assert_eq!(o.status.code(), Some(0), "{}", text(&o));
    let stderr = String::from_utf8_lossy(&o.stderr);
    // The wait is said, naming only the required server.
    assert!(
        stderr.contains("waiting for the required server(s) slowreq to start"),
        "{stderr}"
    );
    assert!(!stderr.contains("other to start"), "{stderr}");
    // And it was waited for: its tools are in the first request.
    let first = &model.requests()[0];
    assert!(
        tool_names(first)
            .iter()
            .any(|n| n.starts_with("mcp__slowreq__")),
        "{:?}",
        tool_names(first)
    );
}

#[test]
fn a_required_server_that_fails_stops_exec_naming_it() {
    let w = World::new();
    let model = FakeModel::start(vec![Reply::Sse(responses_text("never asked"))]);
    configure(
        &w,
        &model,
        &stdio_server("broken", "required = true\nenv = { MCP_TEST_FAIL = \"1\" }"),
    );
    let o = exec_cmd(&w, &["go"]).output().unwrap();
    assert_eq!(o.status.code(), Some(1), "{}", text(&o));
    let stderr = String::from_utf8_lossy(&o.stderr);
    assert!(
        stderr.contains("mcp: required server broken failed to start")
            && stderr.contains("refusing to start"),
        "{stderr}"
    );
    assert!(model.requests().is_empty(), "no model request was made");
}

#[test]
fn failing_and_crashing_servers_are_reported_once_and_the_session_goes_on() {
    let w = World::new();
    let model = FakeModel::start(vec![
        // The call sees the connection close: the very next request no
        // longer offers the server's tools.
        call("c1", "mcp__t__crash", json!({})),
        call("c2", "mcp__t__echo", json!({"text": "still there?"})),
        Reply::Sse(responses_text("went on")),
    ]);
    let servers = stdio_server("t", "required = true")
        + &stdio_server("broken", "env = { MCP_TEST_FAIL = \"1\" }");
    configure(&w, &model, &servers);
    let o = exec_cmd(&w, &["--json", "go"]).output().unwrap();
    assert_eq!(o.status.code(), Some(0), "{}", text(&o));
    let reqs = model.requests();
    assert_eq!(reqs.len(), 3);
    let crashed = tool_output(&reqs[1], "c1");
    assert!(crashed.contains("t.crash failed"), "{crashed}");
    assert!(
        !tool_names(&reqs[1])
            .iter()
            .any(|n| n.starts_with("mcp__t__")),
        "a stopped server's tools are gone from the next request: {:?}",
        tool_names(&reqs[1])
    );
    // A model that calls it anyway is told it is not there.
    let gone = tool_output(&reqs[2], "c2");
    assert!(gone.contains("mcp__t__echo"), "{gone}");
    let errors: Vec<String> = events(&o)
        .iter()
        .filter(|e| e["item"]["type"] == "error")
        .map(|e| e["item"]["message"].as_str().unwrap().to_string())
        .collect();
    let broken: Vec<&String> = errors
        .iter()
        .filter(|m| m.starts_with("mcp: broken failed to start"))
        .collect();
    assert_eq!(broken.len(), 1, "reported once: {errors:?}");
    assert!(broken[0].contains("refusing to start"), "{errors:?}");
    let stopped: Vec<&String> = errors
        .iter()
        .filter(|m| m.starts_with("mcp: t stopped"))
        .collect();
    assert_eq!(stopped.len(), 1, "{errors:?}");
    assert!(
        stopped[0].contains("exited (exit status: 3)"),
        "the watcher's exit status: {errors:?}"
    );
}

#[test]
fn progress_restarts_the_tool_timeout_and_silence_ends_the_call() {
    let w = World::new();
    let model = FakeModel::start(vec![
        call("c1", "mcp__t__sleep", json!({"seconds": 4})),
        call("c2", "mcp__t__quiet_sleep", json!({"seconds": 4})),
        Reply::Sse(responses_text("done")),
    ]);
    configure(
        &w,
        &model,
        &stdio_server("t", "required = true\ntool_timeout_sec = 2"),
    );
    let o = exec_cmd(&w, &["--json", "go"]).output().unwrap();
    assert_eq!(o.status.code(), Some(0), "{}", text(&o));
    let reqs = model.requests();
    assert_eq!(tool_output(&reqs[1], "c1"), "slept 4.0 s");
    let silent = tool_output(&reqs[2], "c2");
    assert!(silent.contains("tool_timeout_sec (2 s)"), "{silent}");
}

/// A free port on 127.0.0.1 for a server to bind.
fn free_port() -> u16 {
    std::net::TcpListener::bind("127.0.0.1:0")
        .unwrap()
        .local_addr()
        .unwrap()
        .port()
}

struct Killed(std::process::Child);
impl Drop for Killed {
    fn drop(&mut self) {
        let _ = self.0.kill();
        let _ = self.0.wait();
    }
}

#[test]
fn an_mcp_tool_over_the_chat_completions_api_and_its_result_reaches_the_next_request() {
    let w = World::new();
    let model = FakeModel::start(vec![
        Reply::Sse(chat_call("c1", "mcp__t__add", &json!({"a": 20, "b": 22}))),
        Reply::Sse(chat_text("done")),
    ]);
    configure_wire(
        &w,
        &model,
        "chat",
        &stdio_server(
            "t",
            "required = true\ndefault_tools_approval_mode = \"approve\"",
        ),
    );
    let o = exec_cmd(&w, &["--json", "go"]).output().unwrap();
    assert_eq!(o.status.code(), Some(0), "{}", text(&o));
    let reqs = model.requests();
    assert_eq!(reqs.len(), 2, "{}", text(&o));
    assert!(
        reqs[0].path.ends_with("/chat/completions"),
        "{}",
        reqs[0].path
    );
    let add = reqs[0].body["tools"]
        .as_array()
        .unwrap()
        .iter()
        .find(|t| t["function"]["name"] == "mcp__t__add")
        .unwrap_or_else(|| panic!("no mcp__t__add in {}", reqs[0].body["tools"]))
        .clone();
    assert_eq!(add["type"], "function");
    assert_eq!(add["function"]["parameters"]["type"], "object");
    let messages = reqs[1].body["messages"].as_array().unwrap();
    let called = messages
        .iter()
        .find(|m| m["role"] == "assistant" && m["tool_calls"].is_array())
        .unwrap_or_else(|| panic!("no tool call in {messages:?}"));
    assert_eq!(called["tool_calls"][0]["function"]["name"], "mcp__t__add");
    let result = messages
        .iter()
        .find(|m| m["role"] == "tool" && m["tool_call_id"] == "c1")
        .unwrap_or_else(|| panic!("no tool result in {messages:?}"));
    assert_eq!(
        serde_json::from_str::<Value>(result["content"].as_str().unwrap()).unwrap(),
        json!({"sum": 42})
    );
    let items = mcp_items(&events(&o));
    assert_eq!(items.len(), 1);
    assert_eq!(items[0]["status"], "completed");
}

#[test]
fn streamable_http_server_on_loopback() {
    let port = free_port();
    let _server = Killed(
        Command::new(python())
            .args([&server_script(), "--http", &port.to_string()])
            .stdout(Stdio::null())
            .stderr(Stdio::null())
            .spawn()
            .unwrap(),
    );
    let deadline = Instant::now() + Duration::from_secs(30);
    while std::net::TcpStream::connect(("127.0.0.1", port)).is_err() {
        assert!(Instant::now() < deadline, "the HTTP server did not start");
        std::thread::sleep(Duration::from_millis(100));
    }
    let w = World::new();
    let header = |id: &str, name: &str| call(id, "mcp__web__header", json!({"name": name}));
    let model = FakeModel::start(vec![
        call("c1", "mcp__web__echo", json!({"text": "over http"})),
        header("c2", "Authorization"),
        header("c3", "X-Team"),
        header("c4", "X-Team-Secret"),
        Reply::Sse(responses_text("done")),
    ]);
    configure(
        &w,
        &model,
        &format!(
            "[mcp_servers.web]\nurl = \"http://127.0.0.1:{port}/mcp\"\nrequired = true\nbearer_token_env_var = \"WEB_TOKEN\"\nhttp_headers = {{ \"X-Team\" = \"cordon\" }}\nenv_http_headers = {{ \"X-Team-Secret\" = \"TEAM_SECRET\" }}\n\n[mcp_servers.unset]\nurl = \"http://127.0.0.1:{port}/mcp\"\nenv_http_headers = {{ \"X-Other\" = \"NOT_SET_ANYWHERE\" }}\n"
        ),
    );
    let o = exec_cmd(&w, &["--json", "go"])
        .env("WEB_TOKEN", "tok-123")
        .env("TEAM_SECRET", "s3cret-value")
        .env_remove("NOT_SET_ANYWHERE")
        .output()
        .unwrap();
    assert_eq!(o.status.code(), Some(0), "{}", text(&o));
    let reqs = model.requests();
    assert_eq!(reqs.len(), 5, "{}", text(&o));
    assert_eq!(tool_output(&reqs[1], "c1"), "echo: over http");
    // What the server received with the call, as it recorded it.
    assert_eq!(
        tool_output(&reqs[2], "c2"),
        "Authorization: Bearer tok-123",
        "bearer_token_env_var"
    );
    assert_eq!(
        tool_output(&reqs[3], "c3"),
        "X-Team: cordon",
        "http_headers"
    );
    assert_eq!(
        tool_output(&reqs[4], "c4"),
        "X-Team-Secret: s3cret-value",
        "env_http_headers"
    );
    // A header whose variable is not set: that server does not start, and
    // says why.
    let errors: Vec<String> = events(&o)
        .iter()
        .filter(|e| e["item"]["type"] == "error")
        .map(|e| e["item"]["message"].as_str().unwrap().to_string())
        .collect();
    assert!(
        errors.iter().any(|m| m
            == "mcp: unset failed to start: env_http_headers: `NOT_SET_ANYWHERE` (for header X-Other) is not set"),
        "{errors:?}"
    );
}

/// An HTTP server on `ip` answering `hello` to every request.
fn http_hello(ip: std::net::IpAddr) -> std::net::SocketAddr {
    use std::io::{Read, Write};
    let l = std::net::TcpListener::bind((ip, 0)).unwrap();
    let addr = l.local_addr().unwrap();
    std::thread::spawn(move || {
        for mut s in l.incoming().flatten() {
            let mut head = Vec::new();
            let mut byte = [0u8; 1];
            while !head.ends_with(b"\r\n\r\n") && s.read(&mut byte).map(|n| n == 1).unwrap_or(false)
            {
                head.push(byte[0]);
            }
            let _ = s.write_all(
                b"HTTP/1.1 200 OK\r\ncontent-length: 5\r\nconnection: close\r\n\r\nhello",
            );
        }
    });
    addr
}

#[test]
fn a_sandboxed_server_cannot_write_outside_its_roots_and_an_unsandboxed_one_can() {
    let w = World::new();
    let inside = w.work().join("inside.txt");
    let outside = w.outside().join("outside.txt");
    let free_outside = w.outside().join("free.txt");
    let write = |id: &str, server: &str, path: &std::path::Path| {
        call(
            id,
            &format!("mcp__{server}__write_file"),
            json!({"path": path, "text": "x"}),
        )
    };
    let model = FakeModel::start(vec![
        write("c1", "boxed", &inside),
        write("c2", "boxed", &outside),
        write("c3", "free", &free_outside),
        Reply::Sse(responses_text("done")),
    ]);
    let servers = stdio_server(
        "boxed",
        "required = true\nsandbox_mode = \"workspace-write\"\ndefault_tools_approval_mode = \"approve\"",
    ) + &stdio_server(
        "free",
        "required = true\ndefault_tools_approval_mode = \"approve\"",
    );
    configure(&w, &model, &servers);
    let o = exec_cmd(&w, &["go"]).output().unwrap();
    assert_eq!(o.status.code(), Some(0), "{}", text(&o));
    let reqs = model.requests();
    assert_eq!(
        tool_output(&reqs[1], "c1"),
        format!("wrote {}", inside.display())
    );
    assert!(inside.exists());
    let refused = tool_output(&reqs[2], "c2");
    assert_eq!(
        refused,
        format!(
            "cannot write {}: errno 30 (Read-only file system)",
            outside.display()
        ),
        "EROFS from the sandbox's read-only mount"
    );
    assert!(!outside.exists());
    // The control: the same write from an unsandboxed server.
    assert_eq!(
        tool_output(&reqs[3], "c3"),
        format!("wrote {}", free_outside.display())
    );
    assert!(free_outside.exists());
}

#[test]
fn a_proxied_server_reaches_its_allowed_host_only_and_an_unsandboxed_one_both() {
    let Some(ip) = super::common::own_addresses()
        .into_iter()
        .find(std::net::IpAddr::is_ipv4)
    else {
        panic!("no non-loopback IPv4 address on this machine");
    };
    let allowed = format!("http://{}/", http_hello(ip));
    let other = format!("http://{}/", http_hello("127.0.0.1".parse().unwrap()));
    let w = World::new();
    let fetch = |id: &str, server: &str, url: &str| {
        call(id, &format!("mcp__{server}__fetch"), json!({"url": url}))
    };
    let model = FakeModel::start(vec![
        fetch("c1", "boxed", &allowed),
        fetch("c2", "boxed", &other),
        fetch("c3", "free", &allowed),
        fetch("c4", "free", &other),
        Reply::Sse(responses_text("done")),
    ]);
    let servers = stdio_server(
        "boxed",
        &format!("required = true\nsandbox_mode = \"read-only\"\nnetwork = \"proxy\"\nallow_domains = [\"{ip}\"]\ndefault_tools_approval_mode = \"approve\""),
    ) + &stdio_server(
        "free",
        "required = true\ndefault_tools_approval_mode = \"approve\"",
    );
    configure(&w, &model, &servers);
    let o = exec_cmd(&w, &["go"]).output().unwrap();
    assert_eq!(o.status.code(), Some(0), "{}", text(&o));
    let reqs = model.requests();
    assert_eq!(tool_output(&reqs[1], "c1"), "status 200: hello");
    let refused = tool_output(&reqs[2], "c2");
    assert_eq!(refused, "status 403: not-allowed", "the proxy's refusal");
    assert_eq!(tool_output(&reqs[3], "c3"), "status 200: hello");
    assert_eq!(tool_output(&reqs[4], "c4"), "status 200: hello");
}

fn mcp(w: &World, args: &[&str]) -> Output {
    Command::new(CORDON)
        .arg("mcp")
        .args(args)
        .env("CORDON_HOME", w.home.path())
        .output()
        .unwrap()
}

#[test]
fn mcp_add_list_get_remove_round_trip_a_commented_config() {
    let w = World::new();
    let path = w.home.path().join("config.toml");
    let original =
        "# my config\nmodel = \"m\"   # aligned comment\n\n[network]\nmode = \"none\" # keep\n";
    std::fs::write(&path, original).unwrap();
    let o = mcp(
        &w,
        &[
            "add",
            "docs",
            "--env",
            "API_KEY=s3cret",
            "--sandbox",
            "workspace-write",
            "--network",
            "proxy",
            "--allow-domain",
            "example.com",
            "--",
            "npx",
            "-y",
            "docs-server",
        ],
    );
    assert_eq!(o.status.code(), Some(0), "{}", text(&o));
    let o = mcp(
        &w,
        &[
            "add",
            "remote",
            "--url",
            "https://mcp.example.com/mcp",
            "--bearer-token-env-var",
            "TOKEN",
        ],
    );
    assert_eq!(o.status.code(), Some(0), "{}", text(&o));
    let written = std::fs::read_to_string(&path).unwrap();
    assert!(
        written.starts_with(original),
        "comments and layout kept:\n{written}"
    );

    let o = mcp(&w, &["list", "--json"]);
    assert_eq!(o.status.code(), Some(0), "{}", text(&o));
    let list: Value = serde_json::from_slice(&o.stdout).unwrap();
    assert_eq!(
        list,
        json!([
            {"name": "docs", "enabled": true,
             "transport": {"type": "stdio", "command": "npx", "args": ["-y", "docs-server"],
                           "env": {"API_KEY": "s3cret"}, "env_vars": [], "cwd": null},
             "startup_timeout_sec": 30.0, "tool_timeout_sec": 300.0,
             "sandbox": {"sandbox_mode": "workspace-write", "network": "proxy", "writable_roots": [],
                         "allow_domains": ["example.com"], "deny_domains": []}},
            {"name": "remote", "enabled": true,
             "transport": {"type": "streamable_http", "url": "https://mcp.example.com/mcp",
                           "bearer_token_env_var": "TOKEN", "http_headers": {}},
             "startup_timeout_sec": 30.0, "tool_timeout_sec": 300.0, "sandbox": null}
        ])
    );
    let o = mcp(&w, &["get", "docs"]);
    let shown = String::from_utf8_lossy(&o.stdout);
    assert!(
        shown.contains("API_KEY=*****") && !shown.contains("s3cret"),
        "{shown}"
    );
    assert!(
        shown.contains("sandbox: workspace-write (network proxy"),
        "{shown}"
    );
    let o = mcp(&w, &["list"]);
    assert!(!String::from_utf8_lossy(&o.stdout).contains("s3cret"));
    let o = mcp(&w, &["get", "remote", "--json"]);
    let one: Value = serde_json::from_slice(&o.stdout).unwrap();
    assert_eq!(one["transport"]["url"], "https://mcp.example.com/mcp");

    for name in ["remote", "docs"] {
        let o = mcp(&w, &["remove", name]);
        assert_eq!(o.status.code(), Some(0), "{}", text(&o));
    }
    assert_eq!(std::fs::read_to_string(&path).unwrap(), original);
}

#[test]
fn mcp_add_rejects_bad_names_urls_and_mixed_transports_with_exit_2() {
    let w = World::new();
    for args in [
        &["add", "bad name", "--", "x"][..],
        &["add", "a.b", "--", "x"],
        &["add", "web", "--url", "ftp://example.com/"],
        &["add", "web", "--url", "not a url"],
        &["add", "web", "--url", "http://"],
        &["add", "both", "--url", "http://127.0.0.1/", "--", "x"],
        &["add", "none"],
        &["add", "net", "--network", "proxy", "--", "x"],
        &["add", "e", "--env", "NOEQUALS", "--", "x"],
        &["remove", "missing"],
    ] {
        let o = mcp(&w, args);
        assert_eq!(o.status.code(), Some(2), "{args:?}: {}", text(&o));
    }
    assert!(
        !w.home.path().join("config.toml").exists(),
        "nothing written"
    );
}

#[test]
fn the_reference_server_everything_echo_sum_progress_image_and_declined_elicitation() {
    let w = World::new();
    let model = FakeModel::start(vec![
        call("c1", "mcp__ev__echo", json!({"message": "hello"})),
        call("c2", "mcp__ev__get_sum", json!({"a": 2, "b": 40})),
        call(
            "c3",
            "mcp__ev__trigger_long_running_operation",
            json!({"duration": 4, "steps": 4}),
        ),
        call("c4", "mcp__ev__get_tiny_image", json!({})),
        call("c5", "mcp__ev__trigger_elicitation_request", json!({})),
        Reply::Sse(responses_text("done")),
    ]);
    configure(
        &w,
        &model,
        "[mcp_servers.ev]\ncommand = \"mcp-server-everything\"\nrequired = true\ntool_timeout_sec = 2\nstartup_timeout_sec = 60\n[mcp_servers.ev.tools.trigger-elicitation-request]\napproval_mode = \"approve\"\n",
    );
    let o = exec_cmd(&w, &["--json", "go"]).output().unwrap();
    assert_eq!(o.status.code(), Some(0), "{}", text(&o));
    let reqs = model.requests();
    assert_eq!(reqs.len(), 6, "{}", text(&o));
    assert_eq!(tool_output(&reqs[1], "c1"), "Echo: hello");
    assert!(
        tool_output(&reqs[2], "c2").contains("42"),
        "{}",
        tool_output(&reqs[2], "c2")
    );
    let long = tool_output(&reqs[3], "c3");
    assert!(
        long.contains("completed") && !long.contains("tool_timeout_sec"),
        "4 s with progress each second outlives a 2 s timeout: {long}"
    );
    let image = tool_output(&reqs[4], "c4");
    assert!(image.contains("[image omitted: image/png"), "{image}");
    let elicited = tool_output(&reqs[5], "c5");
    assert!(elicited.to_lowercase().contains("decline"), "{elicited}");
}
