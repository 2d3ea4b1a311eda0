//! `exec_command` and `write_stdin` (`[features] unified_exec`) end to end
//! through `cordon exec` against the scripted model (issue 17 items 2-3).

use super::common::{text, World};
use super::exec::{configure, tool_output};
use super::fake_model::{responses_call, responses_text, FakeModel, Reply};
use serde_json::{json, Value};
use std::process::{Command, Stdio};

fn exec_json(w: &World, args: &[&str]) -> std::process::Output {
    Command::new(super::common::CORDON)
        .arg("exec")
        .args(["--json", "--skip-git-repo-check"])
        .args(args)
        .arg("go")
        .current_dir(w.work())
        .env("CORDON_HOME", w.home.path())
        .env("FAKE_MODEL_KEY", "sk-test")
        .env_remove("HTTP_PROXY")
        .env_remove("http_proxy")
        .stdin(Stdio::null())
        .output()
        .unwrap()
}

fn running(pattern: &str) -> Vec<String> {
    let o = Command::new("pgrep")
        .args(["-f", pattern])
        .output()
        .unwrap();
    String::from_utf8_lossy(&o.stdout)
        .split_whitespace()
        .map(str::to_string)
        .collect()
}

/// A Python REPL started with `exec_command` (session 1), two
/// `write_stdin` round trips computing values, then `exit()`: the model
/// sees each answer and the exit code; the events show the command as
/// started, updated and completed. The tools are offered only with the
/// feature on (the control: off, neither is in the request).
#[test]
fn a_repl_is_started_talked_to_and_ended() {
    let w = World::new();
    let call = |id: &str, name: &str, args: Value| Reply::Sse(responses_call(id, name, &args));
    let model = FakeModel::start(vec![
        call(
            "c1",
            "exec_command",
            json!({"argv": ["python3", "-q", "-i"], "yield_time_ms": 1500}),
        ),
        call(
            "c2",
            "write_stdin",
            json!({"session_id": 1, "chars": "6*7\n", "yield_time_ms": 1500}),
        ),
        call(
            "c3",
            "write_stdin",
            json!({"session_id": 1, "chars": "sum(range(101))\n", "yield_time_ms": 1500}),
        ),
        call(
            "c4",
            "write_stdin",
            json!({"session_id": 1, "chars": "exit()\n", "yield_time_ms": 5000}),
        ),
        Reply::Sse(responses_text("done")),
    ]);
    configure(&w, &model, "responses", "[features]\nunified_exec = true\n");
    let o = exec_json(&w, &[]);
    assert_eq!(o.status.code(), Some(0), "{}", text(&o));
    let reqs = model.requests();
    let names: Vec<String> = reqs[0].body["tools"]
        .as_array()
        .unwrap()
        .iter()
        .filter_map(|t| t["name"].as_str().map(str::to_string))
        .collect();
    assert!(names.contains(&"exec_command".into()) && names.contains(&"write_stdin".into()));
    let first = tool_output(&reqs[1].body, "c1");
    assert!(
        first.contains("Process running with session ID 1"),
        "{first}"
    );
    let second = tool_output(&reqs[2].body, "c2");
    assert!(second.contains("42"), "{second}");
    let third = tool_output(&reqs[3].body, "c3");
    assert!(third.contains("5050"), "{third}");
    let last = tool_output(&reqs[4].body, "c4");
    assert!(last.contains("Process exited with code 0"), "{last}");
    let events: Vec<Value> = String::from_utf8_lossy(&o.stdout)
        .lines()
        .map(|l| serde_json::from_str(l).unwrap())
        .filter(|e: &Value| e["item"]["type"] == "command_execution")
        .collect();
    let kinds: Vec<&str> = events.iter().map(|e| e["type"].as_str().unwrap()).collect();
    assert_eq!(kinds.first(), Some(&"item.started"), "{kinds:?}");
    assert!(kinds.contains(&"item.updated"), "{kinds:?}");
    assert_eq!(kinds.last(), Some(&"item.completed"), "{kinds:?}");
    let done = events.last().unwrap();
    assert_eq!(done["item"]["exit_code"], 0);
    assert!(done["item"]["aggregated_output"]
        .as_str()
        .unwrap()
        .contains("5050"));

    // Control: off by default for a provider other than openai.
    let w = World::new();
    let model = FakeModel::start(vec![Reply::Sse(responses_text("hi"))]);
    configure(&w, &model, "responses", "");
    assert_eq!(exec_json(&w, &[]).status.code(), Some(0));
    let body = model.requests()[0].body.to_string();
    assert!(!body.contains("exec_command") && !body.contains("write_stdin"));
}

/// A server started in one call keeps running and is reached from the
/// next sandboxed call on the same network (full: the host's loopback);
/// when exec ends, the server is gone.
#[test]
fn a_server_started_in_one_call_is_reached_from_the_next_and_dies_with_the_session() {
    let w = World::new();
    let port = {
        let l = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
        l.local_addr().unwrap().port()
    };
    std::fs::write(w.work().join("index.html"), "served by the sandbox\n").unwrap();
    let serve = format!("python3 -m http.server {port} --bind 127.0.0.1");
    let fetch = format!(
        "python3 -c \"import urllib.request,time\nfor i in range(50):\n  try:\n    print(urllib.request.urlopen('http://127.0.0.1:{port}/index.html').read().decode()); break\n  except Exception: time.sleep(0.1)\""
    );
    let model = FakeModel::start(vec![
        Reply::Sse(responses_call(
            "s",
            "exec_command",
            &json!({"cmd": serve, "yield_time_ms": 300}),
        )),
        Reply::Sse(responses_call(
            "f",
            "exec_command",
            &json!({"cmd": fetch, "yield_time_ms": 10000}),
        )),
        Reply::Sse(responses_text("done")),
    ]);
    configure(&w, &model, "responses", "[features]\nunified_exec = true\n");
    let o = exec_json(&w, &["--full-auto", "--network", "full"]);
    assert_eq!(o.status.code(), Some(0), "{}", text(&o));
    let reqs = model.requests();
    assert!(tool_output(&reqs[1].body, "s").contains("session ID 1"));
    let fetched = tool_output(&reqs[2].body, "f");
    assert!(fetched.contains("served by the sandbox"), "{fetched}");
    std::thread::sleep(std::time::Duration::from_millis(500));
    assert!(
        running(&format!("http.server {port}")).is_empty(),
        "the server outlived exec"
    );
}

/// At most 16 run at once: the seventeenth kills the one idle longest and
/// the model is told; SIGKILL of exec takes every one of them down.
#[test]
fn the_limit_evicts_the_idlest_and_killing_exec_kills_them_all() {
    let w = World::new();
    let mut script: Vec<Reply> = (0..17)
        .map(|i| {
            Reply::Sse(responses_call(
                &format!("p{i}"),
                "exec_command",
                &json!({"argv": ["sleep", "41.75"], "yield_time_ms": 50}),
            ))
        })
        .collect();
    script.push(Reply::Sse(responses_call(
        "hold",
        "exec_command",
        &json!({"argv": ["sleep", "41.75"], "yield_time_ms": 60000}),
    )));
    script.push(Reply::Sse(responses_text("never")));
    let model = FakeModel::start(script);
    configure(&w, &model, "responses", "[features]\nunified_exec = true\n");
    let mut child = Command::new(super::common::CORDON)
        .args(["exec", "--json", "--skip-git-repo-check", "go"])
        .current_dir(w.work())
        .env("CORDON_HOME", w.home.path())
        .env("FAKE_MODEL_KEY", "sk-test")
        .stdin(Stdio::null())
        .stdout(Stdio::null())
        .stderr(Stdio::null())
        .spawn()
        .unwrap();
    let start = std::time::Instant::now();
    while model.requests().len() < 18 {
        assert!(
            start.elapsed().as_secs() < 60,
            "only {} requests",
            model.requests().len()
        );
        std::thread::sleep(std::time::Duration::from_millis(50));
    }
    let evicted = tool_output(&model.requests()[17].body, "p16");
    assert!(
        evicted.contains("session 1 (`sleep 41.75`) was killed"),
        "{evicted}"
    );
    std::thread::sleep(std::time::Duration::from_millis(300));
    assert_eq!(
        running("^sleep 41.75$").len(),
        16,
        "16 run, one per session"
    );
    // SAFETY: signalling our own child.
    unsafe { libc::kill(child.id() as i32, libc::SIGKILL) };
    child.wait().unwrap();
    let start = std::time::Instant::now();
    while !running("^sleep 41.75$").is_empty() {
        assert!(start.elapsed().as_secs() < 10, "sleeps outlived exec");
        std::thread::sleep(std::time::Duration::from_millis(50));
    }
}

/// `--ephemeral` writes no session, history or discovery index under
/// `$CORDON_HOME`, long-running commands included (their launchers use the
/// index read-only). Control: without it, all three are written.
#[test]
fn an_ephemeral_session_writes_nothing_for_exec_command() {
    for ephemeral in [true, false] {
        let w = World::new();
        let model = FakeModel::start(vec![
            Reply::Sse(responses_call(
                "c1",
                "exec_command",
                &json!({"argv": ["true"], "yield_time_ms": 5000}),
            )),
            Reply::Sse(responses_text("done")),
        ]);
        configure(&w, &model, "responses", "[features]\nunified_exec = true\n");
        let mut args = vec!["--full-auto"];
        if ephemeral {
            args.push("--ephemeral");
        }
        let o = exec_json(&w, &args);
        assert_eq!(o.status.code(), Some(0), "{}", text(&o));
        assert!(tool_output(&model.requests()[1].body, "c1").contains("exited with code 0"));
        let mut written: Vec<_> = std::fs::read_dir(w.home.path())
            .unwrap()
            .flatten()
            .map(|e| e.file_name().to_string_lossy().into_owned())
            .filter(|n| ["sessions", "history.jsonl", "discovery"].contains(&n.as_str()))
            .collect();
        written.sort();
        let expected: &[&str] = if ephemeral {
            &[]
        } else {
            &["discovery", "history.jsonl", "sessions"]
        };
        assert_eq!(written, expected, "ephemeral {ephemeral}");
    }
}
