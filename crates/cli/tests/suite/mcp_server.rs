//! `cordon mcp-server` end to end, driven by a client written with the
//! official Python MCP SDK (`mcp_client.py`, run as a subprocess): the tool
//! list, sessions against the fake model, approvals by elicitation,
//! progress, cancellation, and `cordon-sandbox` with its controls.

use super::common::{own_addresses, World, CORDON, PROBE};
use super::exec::{configure, tool_output};
use super::fake_model::{responses_call, responses_text, FakeModel, Reply};
use super::proxy::{http_hello, own_v4};
use serde_json::{json, Value};
use std::io::Write;
use std::process::{Command, Stdio};

/// The client script, given to Python with `-c` (the source tree may be
/// unreadable to the unprivileged user the suite also runs as).
const CLIENT: &str = include_str!("mcp_client.py");

/// The Python with the `mcp` SDK: `$CORDON_TEST_PYTHON`, else the venv
/// `.ci/run` makes, else `python3`.
fn python() -> String {
    if let Ok(p) = std::env::var("CORDON_TEST_PYTHON") {
        return p;
    }
    let venv = "/opt/cordon-test-venv/bin/python3";
    if std::path::Path::new(venv).exists() {
        return venv.into();
    }
    "python3".into()
}

/// Runs the Python client with `elicit` answers (`None`: no elicitation
/// capability) and `steps`; returns what it printed.
fn client(w: &World, elicit: Option<Value>, steps: Value) -> Value {
    let spec = json!({
        "server": {
            "command": CORDON.path(),
            "args": ["mcp-server"],
            "env": {
                "CORDON_HOME": w.home.path(),
                "FAKE_MODEL_KEY": "sk-test",
            },
            "cwd": w.work(),
        },
        "elicit": elicit,
        "steps": steps,
    });
    let mut child = Command::new(python())
        .args(["-c", CLIENT])
        .stdin(Stdio::piped())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .expect("python3 for the MCP client");
    child
        .stdin
        .take()
        .unwrap()
        .write_all(spec.to_string().as_bytes())
        .unwrap();
    let out = child.wait_with_output().unwrap();
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert!(
        out.status.success(),
        "the MCP client failed ({:?}); is the Python `mcp` SDK 2.x installed (.ci/run installs it in /opt/cordon-test-venv)?\n{stderr}",
        out.status
    );
    serde_json::from_slice(&out.stdout)
        .unwrap_or_else(|e| panic!("client output is not JSON: {e}\n{stderr}"))
}

fn call(tool: &str, arguments: Value) -> Value {
    json!({"op": "call", "tool": tool, "arguments": arguments})
}

fn sandbox(arguments: Value) -> Value {
    call("cordon-sandbox", arguments)
}

fn progress_lines(result: &Value) -> Vec<String> {
    result["progress"]
        .as_array()
        .unwrap()
        .iter()
        .map(|p| p["message"].as_str().unwrap_or("").to_string())
        .collect()
}

#[test]
fn mcp_tools_list_shows_the_three_tools_with_complete_schemas() {
    let w = World::new();
    let out = client(&w, None, json!([{"op": "list"}]));
    assert!(out["capabilities"]["tools"].is_object(), "{out}");
    let tools = out["tools"].as_array().unwrap();
    let names: Vec<&str> = tools.iter().map(|t| t["name"].as_str().unwrap()).collect();
    assert_eq!(names, ["cordon", "cordon-reply", "cordon-sandbox"]);
    for t in tools {
        assert!(t["description"].as_str().unwrap().len() > 40, "{t}");
        let input = &t["inputSchema"];
        assert_eq!(input["type"], "object", "{t}");
        assert_eq!(input["additionalProperties"], false, "{t}");
        for (name, prop) in input["properties"].as_object().unwrap() {
            assert!(
                prop["description"].as_str().is_some_and(|d| !d.is_empty()),
                "{}: argument {name} has no description",
                t["name"]
            );
        }
        let output = &t["outputSchema"];
        assert_eq!(output["type"], "object", "{t}");
        assert_eq!(t["annotations"]["readOnlyHint"], false, "{t}");
    }
    let cordon = &tools[0]["inputSchema"];
    assert_eq!(cordon["required"], json!(["prompt"]));
    for arg in [
        "prompt",
        "model",
        "profile",
        "cwd",
        "approval-policy",
        "sandbox",
        "network",
        "allow-domains",
        "config",
        "base-instructions",
        "developer-instructions",
    ] {
        assert!(cordon["properties"][arg].is_object(), "cordon lacks {arg}");
    }
    assert_eq!(
        cordon["properties"]["approval-policy"]["enum"],
        json!(["untrusted", "on-failure", "on-request", "never"])
    );
    assert_eq!(
        tools[0]["outputSchema"]["required"],
        json!(["threadId", "content"])
    );
    assert_eq!(
        tools[1]["inputSchema"]["required"],
        json!(["threadId", "prompt"])
    );
    let sb = &tools[2];
    assert_eq!(sb["inputSchema"]["required"], json!(["command"]));
    for arg in [
        "command",
        "cwd",
        "sandbox",
        "writable_roots",
        "network",
        "allow_domains",
        "deny_domains",
        "timeout_ms",
        "stdin",
    ] {
        assert!(
            sb["inputSchema"]["properties"][arg].is_object(),
            "cordon-sandbox lacks {arg}"
        );
    }
    assert_eq!(
        sb["outputSchema"]["required"],
        json!(["exit_code", "stdout", "stderr", "timed_out", "denials"])
    );
}

/// A session runs a shell call and a patch, answers; `cordon-reply`
/// continues it with the earlier turns; the rollout lets `cordon exec
/// resume` continue it too. The first call reports by log lines (no
/// progress token), the reply by progress notifications.
#[test]
fn mcp_cordon_session_runs_a_command_and_a_patch_and_reply_continues_it() {
    let w = World::new();
    let patch = "*** Begin Patch\n*** Add File: made-by-mcp.txt\n+from the patch\n*** End Patch\n";
    let model = FakeModel::start(vec![
        Reply::Sse(responses_call(
            "c1",
            "shell",
            &json!({"command": ["sh", "-c", "echo shell-ran-$((6*7))"]}),
        )),
        Reply::Sse(responses_call(
            "p1",
            "apply_patch",
            &json!({"input": patch}),
        )),
        Reply::Sse(responses_text("First turn done.")),
        Reply::Sse(responses_text("Second turn done.")),
        Reply::Sse(responses_text("Third turn, from exec resume.")),
    ]);
    configure(&w, &model, "responses", "");
    let out = client(
        &w,
        None,
        json!([
            call("cordon", json!({
                "prompt": "make the file",
                "sandbox": "workspace-write",
                "cwd": w.work(),
                "developer-instructions": "Say little."
            })),
            {"op": "call_reply", "from": 0, "prompt": "and now?", "progress": true},
        ]),
    );
    let first = &out["results"][0];
    assert_eq!(first["isError"], false, "{first}");
    let thread = first["structured"]["threadId"]
        .as_str()
        .unwrap()
        .to_string();
    assert_eq!(thread.len(), 36, "{first}");
    assert_eq!(first["structured"]["content"], "First turn done.");
    assert_eq!(first["text"], "First turn done.");
    assert_eq!(
        std::fs::read_to_string(w.work().join("made-by-mcp.txt")).unwrap(),
        "from the patch\n"
    );
    let requests = model.requests();
    assert!(tool_output(&requests[1].body, "c1").contains("shell-ran-42"));
    assert!(tool_output(&requests[2].body, "p1").contains("patch applied"));
    assert!(
        requests[0].body["instructions"]
            .as_str()
            .unwrap()
            .contains("Say little."),
        "developer-instructions are sent: {}",
        requests[0].body
    );
    let logs: Vec<String> = out["logs"]
        .as_array()
        .unwrap()
        .iter()
        .map(|l| l["data"].as_str().unwrap().to_string())
        .collect();
    for want in [
        "command started: sh -c",
        "command completed (exit code 0)",
        "patch applied: add",
        "turn completed",
    ] {
        assert!(
            logs.iter().any(|l| l.contains(want)),
            "no log line {want:?}: {logs:?}"
        );
    }

    let second = &out["results"][1];
    assert_eq!(second["isError"], false, "{second}");
    assert_eq!(second["structured"]["threadId"], thread.as_str());
    assert_eq!(second["structured"]["content"], "Second turn done.");
    let body = requests_body(&model, 3);
    for earlier in [
        "make the file",
        "shell-ran-42",
        "First turn done.",
        "and now?",
    ] {
        assert!(
            body.contains(earlier),
            "the reply carries {earlier:?}: {body}"
        );
    }
    let lines = progress_lines(second);
    assert!(
        lines.iter().any(|l| l.starts_with("turn completed")),
        "progress notifications for the reply: {lines:?}"
    );

    let resumed = Command::new(CORDON)
        .args(["exec", "resume", "--skip-git-repo-check", &thread, "third"])
        .current_dir(w.work())
        .env("CORDON_HOME", w.home.path())
        .env("FAKE_MODEL_KEY", "sk-test")
        .stdin(Stdio::null())
        .output()
        .unwrap();
    assert!(
        resumed.status.success(),
        "{}",
        super::common::text(&resumed)
    );
    let body = requests_body(&model, 4);
    assert!(
        body.contains("Second turn done.") && body.contains("third"),
        "exec resume continues the MCP session: {body}"
    );
}

fn requests_body(model: &FakeModel, i: usize) -> String {
    model.requests()[i].body.to_string()
}

/// An escalation under on-request is put to the client as a form
/// elicitation: accept+approve runs it outside the sandbox, accept+deny
/// and decline do not; a client without elicitation gets `never`.
#[test]
fn mcp_escalations_are_approved_or_denied_by_elicitation_and_declined_without_it() {
    let w = World::new();
    let outside = w.outside();
    let write = |name: &str| {
        json!({
            "command": ["sh", "-c", format!("echo x > {}/{name}", outside.display())],
            "sandbox_permissions": "require_escalated",
            "justification": format!("must write {name} outside the workspace"),
        })
    };
    let model = FakeModel::start(vec![
        Reply::Sse(responses_call("e1", "shell", &write("approved.txt"))),
        Reply::Sse(responses_call("e2", "shell", &write("denied.txt"))),
        Reply::Sse(responses_call("e3", "shell", &write("declined.txt"))),
        Reply::Sse(responses_text("escalations done")),
    ]);
    configure(&w, &model, "responses", "");
    let out = client(
        &w,
        Some(json!([
            {"action": "accept", "decision": "approve"},
            {"action": "accept", "decision": "deny"},
            {"action": "decline"},
        ])),
        json!([call(
            "cordon",
            json!({
                "prompt": "write outside",
                "approval-policy": "on-request",
                "sandbox": "read-only",
            })
        )]),
    );
    let result = &out["results"][0];
    assert_eq!(result["isError"], false, "{result}");
    assert_eq!(result["structured"]["content"], "escalations done");
    assert!(
        outside.join("approved.txt").exists(),
        "approved: ran outside the sandbox"
    );
    assert!(!outside.join("denied.txt").exists());
    assert!(!outside.join("declined.txt").exists());
    let elicitations = out["elicitations"].as_array().unwrap();
    assert_eq!(elicitations.len(), 3, "{out}");
    let first = &elicitations[0];
    let message = first["message"].as_str().unwrap();
    assert!(
        message.contains("approved.txt"),
        "names the command: {message}"
    );
    assert!(
        message.contains(w.work().to_str().unwrap()),
        "names the cwd: {message}"
    );
    assert!(
        message.contains("must write approved.txt outside the workspace"),
        "gives the justification: {message}"
    );
    let schema = &first["requestedSchema"];
    assert_eq!(schema["required"], json!(["decision"]));
    assert_eq!(
        schema["properties"]["decision"]["enum"],
        json!(["approve", "approve_for_session", "deny"])
    );
    let requests = model.requests();
    assert!(tool_output(&requests[1].body, "e1").contains("ran outside the sandbox"));
    for id in ["e2", "e3"] {
        let i = if id == "e2" { 2 } else { 3 };
        let told = tool_output(&requests[i].body, id);
        assert!(told.contains("declined"), "{id}: {told}");
    }

    // The same escalation from a client that cannot answer.
    let w = World::new();
    let outside = w.outside();
    let model = FakeModel::start(vec![
        Reply::Sse(responses_call(
            "e1",
            "shell",
            &json!({
                "command": ["sh", "-c", format!("echo x > {}/no-elicitation.txt", outside.display())],
                "sandbox_permissions": "require_escalated",
                "justification": "needs it",
            }),
        )),
        Reply::Sse(responses_text("could not")),
    ]);
    configure(&w, &model, "responses", "");
    let out = client(
        &w,
        None,
        json!([call(
            "cordon",
            json!({"prompt": "write outside", "approval-policy": "on-request"})
        )]),
    );
    let result = &out["results"][0];
    assert_eq!(result["isError"], false, "{result}");
    assert!(!outside.join("no-elicitation.txt").exists());
    let note = result["structured"]["note"].as_str().unwrap_or_default();
    assert!(
        note.contains("elicitation") && note.contains("never") && note.contains("1 command"),
        "the result says so: {result}"
    );
    assert!(result["text"].as_str().unwrap().contains("elicitation"));
    let told = tool_output(&model.requests()[1].body, "e1");
    assert!(told.contains("approval_policy is `never`"), "{told}");
}

/// Cancelling the call interrupts the turn and kills its running command.
#[test]
fn mcp_cancellation_kills_the_running_command() {
    let w = World::new();
    let model = FakeModel::start(vec![
        Reply::Sse(responses_call(
            "s1",
            "shell",
            &json!({"command": ["sleep", "987"]}),
        )),
        Reply::Sse(responses_text("never reached")),
    ]);
    configure(&w, &model, "responses", "");
    let out = client(
        &w,
        None,
        json!([
            {
                "op": "call", "tool": "cordon", "progress": true,
                "arguments": {"prompt": "sleep"},
                "cancel_on": "command started: sleep 987",
                "cancel_when_running": ["sleep", "987"]
            },
            {"op": "wait_gone", "marker": ["sleep", "987"]},
            sandbox(json!({"command": ["true"]})),
        ]),
    );
    let cancelled = &out["results"][0];
    assert_eq!(cancelled["cancelled"], true, "{out}");
    assert_eq!(
        cancelled["seen_running"], true,
        "the command ran before the cancel: {out}"
    );
    assert_eq!(
        out["gone"], true,
        "the cancel killed it while the server runs: {out}"
    );
    assert_eq!(out["results"][1]["structured"]["exit_code"], 0, "{out}");
}

/// Two sessions run at once, each on its own thread: each one's command
/// waits for the other's.
#[test]
fn mcp_two_sessions_run_concurrently() {
    let w = World::new();
    let meet = "mkdir -p meet; mktemp meet/XXXXXX >/dev/null; i=0; while [ $(ls meet | wc -l) -lt 2 ]; do sleep 0.05; i=$((i+1)); [ $i -gt 300 ] && exit 9; done; echo met";
    let model = FakeModel::start(vec![
        Reply::Sse(responses_call(
            "m1",
            "shell",
            &json!({"command": ["sh", "-c", meet]}),
        )),
        Reply::Sse(responses_call(
            "m1",
            "shell",
            &json!({"command": ["sh", "-c", meet]}),
        )),
        Reply::Sse(responses_text("one")),
        Reply::Sse(responses_text("two")),
    ]);
    configure(&w, &model, "responses", "");
    let session = || {
        call(
            "cordon",
            json!({"prompt": "meet", "sandbox": "workspace-write"}),
        )
    };
    let out = client(
        &w,
        None,
        json!([{"op": "parallel", "calls": [session(), session()]}]),
    );
    let results = out["results"].as_array().unwrap();
    assert_ne!(
        results[0]["structured"]["threadId"], results[1]["structured"]["threadId"],
        "{out}"
    );
    for (i, r) in model.requests().iter().enumerate().skip(2) {
        let told = tool_output(&r.body, "m1");
        assert!(
            told.contains("exit code: 0") && told.contains("met"),
            "request {i}: {told}"
        );
    }
}

/// `cordon-sandbox`: the kernel refuses writes outside the roots (with
/// the errno and a denial), allows them inside; writable_roots widens it.
#[test]
fn mcp_sandbox_writes_outside_the_roots_fail_and_inside_succeed() {
    let w = World::new();
    let outside = w.outside().join("escape");
    let inside = w.work().join("inside");
    let probe = |path: &std::path::Path| {
        vec![
            PROBE.to_string(),
            "write".into(),
            path.display().to_string(),
        ]
    };
    let out = client(
        &w,
        None,
        json!([
            sandbox(
                json!({"command": probe(&outside), "sandbox": "workspace-write", "cwd": w.work()})
            ),
            sandbox(
                json!({"command": probe(&inside), "sandbox": "workspace-write", "cwd": w.work()})
            ),
            sandbox(json!({"command": probe(&inside), "cwd": w.work()})),
            sandbox(json!({
                "command": probe(&outside), "sandbox": "workspace-write", "cwd": w.work(),
                "writable_roots": [w.outside()]
            })),
        ]),
    );
    let r = &out["results"];
    let denied = &r[0]["structured"];
    assert_eq!(denied["exit_code"], 1, "{denied}");
    assert!(
        denied["stderr"].as_str().unwrap().contains("(os error 30)"),
        "EROFS from the read-only mount: {denied}"
    );
    let denials = denied["denials"].as_array().unwrap();
    assert!(
        denials
            .iter()
            .any(|d| d["kind"] == "write" && d["target"] == outside.to_str().unwrap()),
        "the denial is reported: {denied}"
    );
    assert!(
        r[0]["text"].as_str().unwrap().contains("exit code 1"),
        "{}",
        r[0]
    );
    assert_eq!(
        r[1]["structured"]["exit_code"], 0,
        "inside the cwd: {}",
        r[1]
    );
    assert_eq!(std::fs::read_to_string(&inside).unwrap(), "x");
    assert_eq!(
        r[2]["structured"]["exit_code"], 1,
        "read-only is the default: {}",
        r[2]
    );
    assert_eq!(
        r[3]["structured"]["exit_code"], 0,
        "a writable root: {}",
        r[3]
    );
    assert_eq!(std::fs::read_to_string(&outside).unwrap(), "x");
}

/// `network: none` cannot reach a server on this machine's own address;
/// `network: proxy` with that address allowed can (and without it, the
/// proxy refuses).
#[test]
fn mcp_sandbox_network_none_is_cut_off_and_proxy_allows_the_allowed_host() {
    let w = World::new();
    assert!(
        !own_addresses().is_empty(),
        "no non-loopback address to test with"
    );
    let ip = own_v4();
    let server = http_hello(ip, 10);
    let curl = json!([
        "curl",
        "-sS",
        "--max-time",
        "10",
        format!("http://{server}/")
    ]);
    // Control: the server answers from outside the sandbox.
    let direct = Command::new("curl")
        .args(["-sS", "--max-time", "10", &format!("http://{server}/")])
        .output()
        .unwrap();
    assert_eq!(String::from_utf8_lossy(&direct.stdout), "hello");
    let out = client(
        &w,
        None,
        json!([
            sandbox(json!({"command": curl})),
            sandbox(
                json!({"command": curl, "network": "proxy", "allow_domains": [ip.to_string()]})
            ),
            sandbox(json!({"command": curl, "network": "proxy"})),
        ]),
    );
    let r = &out["results"];
    let none = &r[0]["structured"];
    assert_eq!(none["exit_code"], 7, "curl could not connect: {none}");
    assert!(
        none["denials"]
            .as_array()
            .unwrap()
            .iter()
            .any(|d| d["kind"] == "network" && d["target"] == server.to_string()),
        "{none}"
    );
    assert_eq!(r[1]["structured"]["stdout"], "hello", "{}", r[1]);
    assert_eq!(r[1]["structured"]["exit_code"], 0);
    let refused = &r[2]["structured"];
    assert_ne!(refused["stdout"], "hello", "{refused}");
}

/// Exit codes, stdin, timeouts, capped output, and bad arguments as tool
/// errors naming the argument (the server goes on serving).
#[test]
fn mcp_sandbox_exit_codes_timeouts_capped_output_and_bad_arguments() {
    let w = World::new();
    let big = "echo START; head -c 300000 /dev/zero | tr '\\0' a; echo; echo END";
    let out = client(
        &w,
        None,
        json!([
            sandbox(json!({"command": ["sh", "-c", "echo out; echo err >&2; exit 3"]})),
            sandbox(json!({"command": ["cat"], "stdin": "piped in"})),
            sandbox(json!({"command": ["sleep", "30"], "timeout_ms": 300})),
            sandbox(json!({"command": ["sh", "-c", big]})),
            sandbox(json!({"command": "ls"})),
            sandbox(json!({"command": ["ls"], "timeout_ms": -1})),
            sandbox(json!({"command": ["ls"], "cwd": "relative/dir"})),
            sandbox(json!({"command": ["ls"], "sandbox": "bogus"})),
            sandbox(json!({"command": ["ls"], "allow_domains": ["example.com"]})),
            call(
                "cordon",
                json!({"prompt": "x", "approval-policy": "sometimes"})
            ),
            call("cordon", json!({"prompt": "x", "config": {"model": null}})),
            call(
                "cordon-reply",
                json!({"threadId": "no-such-thread", "prompt": "x"})
            ),
            call(
                "cordon",
                json!({"prompt": "x", "config": {"sandbox_mode": "nonsense"}})
            ),
            sandbox(json!({"command": ["true"]})),
        ]),
    );
    let r = out["results"].as_array().unwrap();
    let s = |i: usize| &r[i]["structured"];
    assert_eq!(s(0)["exit_code"], 3);
    assert_eq!(s(0)["stdout"], "out\n");
    assert_eq!(s(0)["stderr"], "err\n");
    assert_eq!(s(0)["timed_out"], false);
    assert_eq!(s(1)["stdout"], "piped in");
    assert_eq!(s(2)["timed_out"], true, "{}", r[2]);
    assert_eq!(s(2)["exit_code"], 128 + 9);
    assert!(s(2)["wall_ms"].as_u64().unwrap() < 10_000);
    assert!(r[2]["text"].as_str().unwrap().contains("timeout"));
    let stdout = s(3)["stdout"].as_str().unwrap();
    assert!(
        stdout.starts_with("START\n") && stdout.ends_with("END\n"),
        "head and tail kept"
    );
    assert!(stdout.len() < 2 * 32 * 1024 + 200, "{}", stdout.len());
    assert!(stdout.contains("bytes of output not kept"));
    assert!(s(3)["stdout_bytes_dropped"].as_u64().unwrap() > 200_000);
    for (i, arg) in [
        (4, "command"),
        (5, "timeout_ms"),
        (6, "cwd"),
        (7, "sandbox"),
        (8, "allow_domains"),
        (9, "approval-policy"),
        (10, "config.model"),
        (11, "threadId"),
    ] {
        assert_eq!(r[i]["isError"], true, "{}", r[i]);
        assert!(
            r[i]["text"].as_str().unwrap().contains(&format!("`{arg}`")),
            "result {i} names {arg}: {}",
            r[i]
        );
    }
    assert_eq!(r[12]["isError"], true, "{}", r[12]);
    assert!(
        r[12]["text"].as_str().unwrap().contains("sandbox_mode"),
        "{}",
        r[12]
    );
    assert_eq!(s(13)["exit_code"], 0, "the server still serves: {}", r[13]);
}

/// Two `cordon-sandbox` calls at once: each waits for the other.
#[test]
fn mcp_sandbox_calls_run_concurrently() {
    let w = World::new();
    let a = "touch a-started; i=0; while [ ! -f b-started ]; do sleep 0.05; i=$((i+1)); [ $i -gt 300 ] && exit 9; done; echo a-met";
    let b = "touch b-started; i=0; while [ ! -f a-started ]; do sleep 0.05; i=$((i+1)); [ $i -gt 300 ] && exit 9; done; echo b-met";
    let one = |script: &str| {
        sandbox(
            json!({"command": ["sh", "-c", script], "sandbox": "workspace-write", "cwd": w.work()}),
        )
    };
    let out = client(
        &w,
        None,
        json!([{"op": "parallel", "calls": [one(a), one(b)]}]),
    );
    assert_eq!(
        out["results"][0]["structured"]["stdout"], "a-met\n",
        "{out}"
    );
    assert_eq!(
        out["results"][1]["structured"]["stdout"], "b-met\n",
        "{out}"
    );
}
