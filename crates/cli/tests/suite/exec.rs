//! `cordon exec` end to end against a scripted model server on loopback:
//! both wire APIs, tools through the real sandbox, retries, the JSON event
//! stream, session files, resume and notify.

use super::common::{text, World, CORDON, PROBE};
use super::fake_model::{chat_call, chat_text, responses_call, responses_text, FakeModel, Reply};
use serde_json::{json, Value};
use std::path::Path;
use std::process::{Command, Output, Stdio};

pub(super) fn configure(w: &World, model: &FakeModel, wire: &str, extra: &str) {
    std::fs::write(
        w.home.path().join("config.toml"),
        format!(
            "model = \"fake-model\"\nmodel_provider = \"fake\"\n{extra}\n[model_providers.fake]\nname = \"Fake\"\nbase_url = \"{}\"\nwire_api = \"{wire}\"\nenv_key = \"FAKE_MODEL_KEY\"\nrequest_max_retries = 2\nstream_max_retries = 2\nstream_idle_timeout_ms = 5000\nhttp_headers = {{ \"X-Test\" = \"yes\" }}\nquery_params = {{ \"api-version\" = \"7\" }}\n",
            model.base_url()
        ),
    )
    .unwrap();
}

fn exec_cmd(w: &World, args: &[&str]) -> Command {
    let mut c = Command::new(CORDON);
    c.arg("exec")
        .args(args)
        .current_dir(w.work())
        .env("CORDON_HOME", w.home.path())
        .env("FAKE_MODEL_KEY", "sk-test")
        .env_remove("HTTP_PROXY")
        .env_remove("http_proxy")
        .env_remove("RUST_LOG")
        .stdin(Stdio::null());
    c
}

fn exec(w: &World, args: &[&str]) -> Output {
    exec_cmd(w, args).output().unwrap()
}

fn stdout(o: &Output) -> String {
    String::from_utf8_lossy(&o.stdout).into_owned()
}

fn events(o: &Output) -> Vec<Value> {
    stdout(o)
        .lines()
        .map(|l| serde_json::from_str(l).unwrap_or_else(|e| panic!("not JSON: {l}: {e}")))
        .collect()
}

/// Every file under `dir`, recursively.
fn files_under(dir: &Path) -> Vec<std::path::PathBuf> {
    let mut out = Vec::new();
    for e in std::fs::read_dir(dir).unwrap().flatten() {
        if e.file_type().unwrap().is_dir() {
            out.extend(files_under(&e.path()));
        } else {
            out.push(e.path());
        }
    }
    out
}

/// The function-call output the request carries for `call_id`.
pub(super) fn tool_output(body: &Value, call_id: &str) -> String {
    if let Some(input) = body["input"].as_array() {
        for i in input {
            if i["type"] == "function_call_output" && i["call_id"] == call_id {
                return i["output"].as_str().unwrap().to_string();
            }
        }
    }
    if let Some(msgs) = body["messages"].as_array() {
        for m in msgs {
            if m["role"] == "tool" && m["tool_call_id"] == call_id {
                return m["content"].as_str().unwrap().to_string();
            }
        }
    }
    panic!("no output for {call_id} in {body}");
}

#[test]
fn exec_text_answer_on_both_wire_apis_with_provider_settings() {
    for (wire, reply) in [
        ("responses", responses_text("The answer is 42.")),
        ("chat", chat_text("The answer is 42.")),
    ] {
        let w = World::new();
        std::fs::write(w.work().join("AGENTS.md"), "Always be brief.").unwrap();
        let model = FakeModel::start(vec![Reply::Sse(reply)]);
        configure(&w, &model, wire, "");
        let o = exec(&w, &["--skip-git-repo-check", "what is the answer?"]);
        assert_eq!(o.status.code(), Some(0), "{wire}: {}", text(&o));
        assert_eq!(
            stdout(&o),
            "The answer is 42.\n",
            "only the final message on stdout"
        );
        let stderr = String::from_utf8_lossy(&o.stderr);
        assert!(stderr.contains("what is the answer?"), "{stderr}");
        let r = &model.requests()[0];
        let path = if wire == "chat" {
            "/v1/chat/completions?api-version=7"
        } else {
            "/v1/responses?api-version=7"
        };
        assert_eq!(r.path, path);
        assert_eq!(r.header("authorization"), Some("Bearer sk-test"));
        assert_eq!(r.header("x-test"), Some("yes"));
        assert_eq!(r.body["model"], "fake-model");
        assert_eq!(r.body["stream"], true);
        let body = r.body.to_string();
        assert!(
            body.contains("Always be brief."),
            "AGENTS.md is sent: {body}"
        );
        assert!(body.contains("what is the answer?"));
        assert!(body.contains("apply_patch") && body.contains("update_plan"));
    }
}

/// Lines the EventSource spec ignores or accepts, which a stricter decoder
/// would fail the stream on: a proxy's trace field, a line without a colon,
/// a non-numeric `retry:`, repeated `event:`/`id:` lines (the last wins),
/// a bare `data` line.
fn with_odd_lines(stream: &str, end: &str) -> String {
    let mut out = format!(": proxied{end}x-proxy-trace: abc{end}retry: soon{end}garbage{end}{end}");
    for event in stream.split("\n\n").filter(|e| !e.is_empty()) {
        out.push_str(&format!("event: ignored.first{end}id: 1{end}id: 2{end}"));
        if !event.starts_with("event:") {
            // A Chat event has no type: an empty one means `message`.
            out.push_str(&format!("event{end}"));
        }
        out.push_str(&event.replace('\n', end));
        out.push_str(&format!("{end}retry: 10{end}{end}"));
    }
    out
}

#[test]
fn exec_decodes_a_stream_with_lines_the_sse_spec_ignores() {
    for (wire, reply, end) in [
        ("responses", responses_text("The answer is 42."), "\r\n"),
        ("chat", chat_text("The answer is 42."), "\n"),
    ] {
        let w = World::new();
        let odd = with_odd_lines(&reply, end);
        assert!(odd.contains("event: ignored.first") && odd.contains("garbage"));
        let model = FakeModel::start(vec![Reply::Sse(odd)]);
        configure(&w, &model, wire, "");
        let o = exec(&w, &["--skip-git-repo-check", "what is the answer?"]);
        assert_eq!(o.status.code(), Some(0), "{wire}: {}", text(&o));
        assert_eq!(stdout(&o), "The answer is 42.\n", "{wire}");
        assert_eq!(model.requests().len(), 1, "{wire}: not retried");
    }
}

#[test]
fn exec_shell_output_goes_back_to_the_model_and_json_events_have_their_shapes() {
    let w = World::new();
    let model = FakeModel::start(vec![
        Reply::Sse(responses_call(
            "call_1",
            "update_plan",
            &json!({"plan": [{"step": "look", "status": "in_progress"}]}),
        )),
        Reply::Sse(responses_call(
            "call_2",
            "shell",
            &json!({"command": ["sh", "-c", "echo sandboxed-$((6*7)); echo to-stderr >&2"]}),
        )),
        Reply::Sse(responses_text("It printed sandboxed-42.")),
    ]);
    configure(&w, &model, "responses", "");
    let o = exec(&w, &["--json", "--skip-git-repo-check", "run it"]);
    assert_eq!(o.status.code(), Some(0), "{}", text(&o));
    let out = tool_output(&model.requests()[2].body, "call_2");
    assert!(
        out.contains("exit code: 0") && out.contains("sandboxed-42") && out.contains("to-stderr"),
        "{out}"
    );

    let ev = events(&o);
    let types: Vec<&str> = ev.iter().map(|e| e["type"].as_str().unwrap()).collect();
    assert_eq!(types.first(), Some(&"thread.started"));
    assert_eq!(types[1], "turn.started");
    assert_eq!(types.last(), Some(&"turn.completed"));
    assert!(ev[0]["thread_id"].as_str().unwrap().len() == 36);
    for e in &ev {
        let t = e["type"].as_str().unwrap();
        assert!(
            [
                "thread.started",
                "turn.started",
                "item.started",
                "item.updated",
                "item.completed",
                "turn.completed"
            ]
            .contains(&t),
            "{e}"
        );
        if t.starts_with("item.") {
            let item = &e["item"];
            assert!(item["id"].as_str().unwrap().starts_with("item_"), "{e}");
            match item["type"].as_str().unwrap() {
                "agent_message" | "reasoning" => assert!(item["text"].is_string(), "{e}"),
                "command_execution" => {
                    assert!(
                        item["command"].is_string() && item["aggregated_output"].is_string(),
                        "{e}"
                    );
                    let status = item["status"].as_str().unwrap();
                    if t == "item.started" {
                        assert_eq!(status, "in_progress");
                        assert!(item["exit_code"].is_null());
                    } else {
                        assert_eq!(status, "completed");
                        assert_eq!(item["exit_code"], 0);
                        assert!(item["aggregated_output"]
                            .as_str()
                            .unwrap()
                            .contains("sandboxed-42"));
                    }
                }
                "todo_list" => {
                    assert_eq!(item["items"][0]["text"], "look");
                    assert_eq!(item["items"][0]["completed"], false);
                }
                other => panic!("unexpected item type {other}: {e}"),
            }
        }
    }
    let completed = ev.last().unwrap();
    assert_eq!(completed["usage"]["input_tokens"], 5 + 5 + 11);
    assert_eq!(completed["usage"]["output_tokens"], 3 + 3 + 7);
    assert!(ev
        .iter()
        .any(|e| e["item"]["type"] == "agent_message"
            && e["item"]["text"] == "It printed sandboxed-42."));
    assert!(ev
        .iter()
        .any(|e| e["type"] == "item.completed" && e["item"]["type"] == "todo_list"));
    assert!(ev.iter().any(|e| e["item"]["type"] == "reasoning"));
}

#[test]
fn exec_apply_patch_adds_updates_moves_and_deletes_then_fails_cleanly_on_chat() {
    let w = World::new();
    let work = w.work();
    std::fs::write(work.join("keep.txt"), "one\ntwo\nthree\n").unwrap();
    std::fs::write(work.join("old.txt"), "alpha\nbeta\n").unwrap();
    std::fs::write(work.join("gone.txt"), "bye\n").unwrap();
    let good = "*** Begin Patch\n*** Add File: src/new.txt\n+fresh\n*** Update File: keep.txt\n@@\n one\n-two\n+TWO\n three\n*** Update File: old.txt\n*** Move to: moved/renamed.txt\n@@\n alpha\n-beta\n+gamma\n*** Delete File: gone.txt\n*** End Patch\n";
    let bad = "*** Begin Patch\n*** Update File: keep.txt\n@@\n-no such line\n+x\n*** Add File: another.txt\n+y\n*** End Patch\n";
    let heredoc = "apply_patch <<'EOF'\n*** Begin Patch\n*** Add File: via-shell.txt\n+heredoc\n*** End Patch\nEOF\n";
    let model = FakeModel::start(vec![
        Reply::Sse(chat_call("p1", "apply_patch", &json!({"input": good}))),
        Reply::Sse(chat_call("p2", "apply_patch", &json!({"input": bad}))),
        Reply::Sse(chat_call(
            "p3",
            "shell",
            &json!({"command": ["bash", "-lc", heredoc]}),
        )),
        Reply::Sse(chat_text("patched")),
    ]);
    configure(&w, &model, "chat", "");
    let o = exec(
        &w,
        &["--json", "--full-auto", "--skip-git-repo-check", "patch it"],
    );
    assert_eq!(o.status.code(), Some(0), "{}", text(&o));
    assert_eq!(
        std::fs::read_to_string(work.join("src/new.txt")).unwrap(),
        "fresh\n"
    );
    assert_eq!(
        std::fs::read_to_string(work.join("keep.txt")).unwrap(),
        "one\nTWO\nthree\n"
    );
    assert_eq!(
        std::fs::read_to_string(work.join("moved/renamed.txt")).unwrap(),
        "alpha\ngamma\n"
    );
    assert!(!work.join("old.txt").exists() && !work.join("gone.txt").exists());
    // The failing patch changed nothing, not even its valid second file.
    assert!(!work.join("another.txt").exists());
    let second = tool_output(&model.requests()[2].body, "p2");
    assert!(
        second.contains("keep.txt")
            && second.contains("hunk 1")
            && second.contains("no file was changed"),
        "{second}"
    );
    let ev = events(&o);
    let changes: Vec<&Value> = ev
        .iter()
        .filter(|e| e["item"]["type"] == "file_change")
        .collect();
    assert_eq!(
        std::fs::read_to_string(work.join("via-shell.txt")).unwrap(),
        "heredoc\n"
    );
    assert_eq!(changes.len(), 3, "the heredoc form is a file change too");
    assert!(!ev.iter().any(|e| e["item"]["type"] == "command_execution"));
    assert_eq!(changes[0]["item"]["status"], "completed");
    let kinds: Vec<&str> = changes[0]["item"]["changes"]
        .as_array()
        .unwrap()
        .iter()
        .map(|c| c["kind"].as_str().unwrap())
        .collect();
    assert_eq!(kinds, ["add", "update", "update", "delete"]);
    assert_eq!(changes[1]["item"]["status"], "failed");
}

#[test]
fn exec_a_command_the_sandbox_denies_is_reported_to_the_model_with_control() {
    let w = World::new();
    let target = w.outside().join("escaped.txt");
    let script = format!("echo leak > {}", target.display());
    let call = json!({"command": ["sh", "-c", script]});
    // Control: the same call under danger-full-access writes the file.
    let model = FakeModel::start(vec![
        Reply::Sse(responses_call("c1", "shell", &call)),
        Reply::Sse(responses_text("done")),
    ]);
    configure(&w, &model, "responses", "");
    let o = exec(
        &w,
        &[
            "-s",
            "danger-full-access",
            "--skip-git-repo-check",
            "write it",
        ],
    );
    assert_eq!(o.status.code(), Some(0), "{}", text(&o));
    assert!(
        target.exists(),
        "control: the write works without the sandbox"
    );
    std::fs::remove_file(&target).unwrap();

    let model = FakeModel::start(vec![
        Reply::Sse(responses_call("c1", "shell", &call)),
        Reply::Sse(responses_call(
            "c2",
            "shell",
            &json!({"command": ["sh", "-c", script], "sandbox_permissions": "require_escalated", "justification": "need to write outside"}),
        )),
        Reply::Sse(responses_text("could not")),
    ]);
    configure(&w, &model, "responses", "");
    let o = exec(
        &w,
        &["--json", "--full-auto", "--skip-git-repo-check", "write it"],
    );
    assert_eq!(o.status.code(), Some(0), "{}", text(&o));
    assert!(!target.exists(), "the sandbox stopped the write");
    let reqs = model.requests();
    let denied = tool_output(&reqs[1].body, "c1");
    assert!(!denied.contains("exit code: 0"), "{denied}");
    assert!(
        denied.contains("the sandbox denied")
            && denied.contains(&w.outside().display().to_string()),
        "{denied}"
    );
    let declined = tool_output(&reqs[2].body, "c2");
    assert!(
        declined.contains("escalation declined") && declined.contains("need to write outside"),
        "{declined}"
    );
    let ev = events(&o);
    assert!(
        ev.iter().any(|e| e["item"]["status"] == "declined"),
        "{}",
        stdout(&o)
    );
    assert!(
        ev.iter().any(|e| e["item"]["status"] == "failed"),
        "{}",
        stdout(&o)
    );
}

#[test]
fn exec_retries_429_and_cut_streams_then_gives_up_on_500s_and_bad_streams() {
    let w = World::new();
    let model = FakeModel::start(vec![
        Reply::Status(429, vec![("Retry-After", "0".into())], "slow down".into()),
        Reply::Cut("event: response.output_text.delta\ndata: {\"delta\":\"par".into()),
        Reply::Sse(responses_text("finally")),
    ]);
    configure(&w, &model, "responses", "");
    let o = exec(&w, &["--json", "--skip-git-repo-check", "go"]);
    assert_eq!(o.status.code(), Some(0), "{}", text(&o));
    assert_eq!(model.requests().len(), 3);
    let errors = events(&o)
        .into_iter()
        .filter(|e| e["item"]["type"] == "error")
        .count();
    assert_eq!(errors, 2, "each retry is reported");

    let model = FakeModel::start(vec![
        Reply::Status(500, vec![], "boom".into()),
        Reply::Status(502, vec![], "boom".into()),
        Reply::Status(503, vec![], "still down".into()),
        Reply::Sse(responses_text("never reached")),
    ]);
    configure(&w, &model, "responses", "");
    let o = exec(&w, &["--json", "--skip-git-repo-check", "go"]);
    assert_eq!(o.status.code(), Some(1), "{}", text(&o));
    assert_eq!(
        model.requests().len(),
        3,
        "one try and request_max_retries = 2"
    );
    let last = events(&o).pop().unwrap();
    assert_eq!(last["type"], "turn.failed");
    assert!(
        last["error"]["message"].as_str().unwrap().contains("503"),
        "{last}"
    );

    for (bad, why) in [
        (
            Reply::Status(401, vec![], "{\"error\":\"invalid api key\"}".into()),
            "invalid api key",
        ),
        (
            Reply::Sse("event: response.output_text.delta\ndata: {not json\n\n".into()),
            "malformed",
        ),
    ] {
        let model = FakeModel::start(vec![bad, Reply::Sse(responses_text("never"))]);
        configure(&w, &model, "responses", "");
        let o = exec(&w, &["--skip-git-repo-check", "go"]);
        assert_eq!(o.status.code(), Some(1), "{}", text(&o));
        assert_eq!(model.requests().len(), 1, "not retried");
        assert!(
            String::from_utf8_lossy(&o.stderr).contains(why),
            "{}",
            text(&o)
        );
        assert!(o.stdout.is_empty());
    }
}

#[test]
fn exec_output_files_schema_ephemeral_sessions_resume_and_notify() {
    let w = World::new();
    let schema = w.outside().join("schema.json");
    std::fs::write(&schema, r#"{"type":"object","properties":{"n":{"type":"integer"}},"required":["n"],"additionalProperties":false}"#).unwrap();
    let last = w.outside().join("last.txt");
    let model = FakeModel::start(vec![
        Reply::Sse(responses_call(
            "c1",
            "shell",
            &json!({"command": ["sh", "-c", "echo x > made-here.txt"]}),
        )),
        Reply::Sse(responses_text("{\"n\":7}")),
    ]);
    configure(&w, &model, "responses", "");
    let o = exec(
        &w,
        &[
            "--ephemeral",
            "--skip-git-repo-check",
            "--full-auto",
            "--output-schema",
            schema.to_str().unwrap(),
            "-o",
            last.to_str().unwrap(),
            "count",
        ],
    );
    assert_eq!(o.status.code(), Some(0), "{}", text(&o));
    assert_eq!(std::fs::read_to_string(&last).unwrap(), "{\"n\":7}");
    assert!(w.work().join("made-here.txt").exists(), "the command ran");
    let format = &model.requests()[1].body["text"]["format"];
    assert_eq!(format["type"], "json_schema");
    assert_eq!(format["strict"], true);
    assert_eq!(format["schema"]["required"][0], "n");
    let written: Vec<_> = files_under(w.home.path())
        .into_iter()
        .filter(|f| !f.ends_with("config.toml"))
        .collect();
    assert!(written.is_empty(), "--ephemeral wrote {written:?}");

    // A recorded session, then resumed by --last and by id.
    let notified = w.outside().join("notify.json");
    let notify = format!(
        "notify = [\"sh\", \"-c\", \"printf '%s' \\\"$1\\\" > {}\", \"notify\"]",
        notified.display()
    );
    let model = FakeModel::start(vec![
        Reply::Sse(responses_text("first answer")),
        Reply::Sse(responses_text("second answer")),
        Reply::Sse(responses_text("third answer")),
    ]);
    configure(&w, &model, "responses", &notify);
    let o = exec(&w, &["--json", "--skip-git-repo-check", "first question"]);
    assert_eq!(o.status.code(), Some(0), "{}", text(&o));
    let thread = events(&o)[0]["thread_id"].as_str().unwrap().to_string();
    let sessions: Vec<_> = files_under(&w.home.path().join("sessions"));
    assert_eq!(sessions.len(), 1);
    assert!(sessions[0]
        .to_string_lossy()
        .ends_with(&format!("-{thread}.jsonl")));
    let history = w.home.path().join("history.jsonl");
    assert!(std::fs::read_to_string(&history)
        .unwrap()
        .contains("first question"));
    use std::os::unix::fs::PermissionsExt;
    for private in [&history, &sessions[0]] {
        assert_eq!(
            std::fs::metadata(private).unwrap().permissions().mode() & 0o777,
            0o600,
            "{}",
            private.display()
        );
    }
    let payload = wait_for_json(&notified);
    assert_eq!(payload["type"], "agent-turn-complete");
    assert_eq!(payload["thread-id"], thread.as_str());
    assert_eq!(payload["last-assistant-message"], "first answer");
    assert_eq!(payload["input-messages"][0], "first question");
    assert_eq!(payload["cwd"], w.work().display().to_string());

    let o = exec(
        &w,
        &[
            "resume",
            "--last",
            "--skip-git-repo-check",
            "second question",
        ],
    );
    assert_eq!(o.status.code(), Some(0), "{}", text(&o));
    assert_eq!(stdout(&o), "second answer\n");
    let o = exec(
        &w,
        &["resume", &thread, "--skip-git-repo-check", "third question"],
    );
    assert_eq!(o.status.code(), Some(0), "{}", text(&o));
    let third = model.requests()[2].body["input"].to_string();
    for earlier in [
        "first question",
        "first answer",
        "second question",
        "second answer",
        "third question",
    ] {
        assert!(
            third.contains(earlier),
            "resumed request lacks {earlier}: {third}"
        );
    }
    assert_eq!(
        files_under(&w.home.path().join("sessions")).len(),
        1,
        "resume appends to the same file"
    );
    for line in std::fs::read_to_string(&sessions[0]).unwrap().lines() {
        serde_json::from_str::<Value>(line).unwrap();
    }
    let o = exec(&w, &["resume", "no-such-id", "--skip-git-repo-check", "x"]);
    assert_eq!(o.status.code(), Some(2), "{}", text(&o));
}

fn wait_for_json(path: &Path) -> Value {
    for _ in 0..100 {
        if let Ok(text) = std::fs::read_to_string(path) {
            if let Ok(v) = serde_json::from_str(&text) {
                return v;
            }
        }
        std::thread::sleep(std::time::Duration::from_millis(50));
    }
    panic!("{} never appeared", path.display());
}

#[test]
fn exec_usage_errors_exit_2_and_stdin_prompts() {
    let w = World::new();
    let model = FakeModel::start(vec![Reply::Sse(responses_text("from stdin"))]);
    configure(&w, &model, "responses", "");
    // Outside a git repository without --skip-git-repo-check.
    let o = exec(&w, &["hello"]);
    assert_eq!(o.status.code(), Some(2), "{}", text(&o));
    assert!(String::from_utf8_lossy(&o.stderr).contains("--skip-git-repo-check"));
    // Inside one it runs; the prompt comes from stdin with `-`.
    std::fs::create_dir_all(w.work().join(".git")).unwrap();
    std::fs::write(w.work().join(".git/HEAD"), "ref: refs/heads/main\n").unwrap();
    let mut child = exec_cmd(&w, &["-"])
        .stdin(Stdio::piped())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .unwrap();
    use std::io::Write;
    child
        .stdin
        .take()
        .unwrap()
        .write_all(b"prompt from a pipe")
        .unwrap();
    let o = child.wait_with_output().unwrap();
    assert_eq!(o.status.code(), Some(0), "{}", text(&o));
    assert!(model.requests()[0]
        .body
        .to_string()
        .contains("prompt from a pipe"));
    // An empty prompt, a missing key, a bad schema, a bad flag.
    let o = exec(&w, &["-"]);
    assert_eq!(o.status.code(), Some(2), "{}", text(&o));
    let o = exec_cmd(&w, &["hi"])
        .env_remove("FAKE_MODEL_KEY")
        .output()
        .unwrap();
    assert_eq!(o.status.code(), Some(2), "{}", text(&o));
    assert!(
        String::from_utf8_lossy(&o.stderr).contains("FAKE_MODEL_KEY"),
        "{}",
        text(&o)
    );
    let bad_schema = w.outside().join("bad.json");
    std::fs::write(&bad_schema, "{ nope").unwrap();
    let o = exec(&w, &["--output-schema", bad_schema.to_str().unwrap(), "hi"]);
    assert_eq!(o.status.code(), Some(2), "{}", text(&o));
    assert!(
        String::from_utf8_lossy(&o.stderr).contains("bad.json:1:"),
        "{}",
        text(&o)
    );
    let o = exec(&w, &["--sandbox", "sideways", "hi"]);
    assert_eq!(o.status.code(), Some(2), "{}", text(&o));
    std::fs::write(
        w.home.path().join("config.toml"),
        "model_provider = \"nowhere\"\n",
    )
    .unwrap();
    let o = exec(&w, &["hi"]);
    assert_eq!(o.status.code(), Some(2), "{}", text(&o));
    assert!(
        String::from_utf8_lossy(&o.stderr).contains("unknown provider `nowhere`"),
        "{}",
        text(&o)
    );
}

#[test]
fn exec_ctrl_c_kills_the_running_command_and_leaves_a_valid_session() {
    let w = World::new();
    let marker = w.work().join("finished");
    // The command writes the marker after 2 s unless it is killed first.
    let call = json!({"command": ["sh", "-c", format!("sleep 2; touch {}", marker.display())]});
    // Control: left alone, the same command writes it.
    turn_with_calls(&w, &["--full-auto"], &[("c0", "shell", call.clone())]);
    assert!(marker.exists(), "control: the command writes its marker");
    std::fs::remove_file(&marker).unwrap();
    std::fs::remove_dir_all(w.home.path().join("sessions")).unwrap();

    let model = FakeModel::start(vec![
        Reply::Sse(responses_call("c1", "shell", &call)),
        Reply::Sse(responses_text("never")),
    ]);
    configure(&w, &model, "responses", "");
    let mut child = exec_cmd(
        &w,
        &["--json", "--full-auto", "--skip-git-repo-check", "wait"],
    )
    .stdout(Stdio::piped())
    .stderr(Stdio::piped())
    .spawn()
    .unwrap();
    // Wait until the command has started (its item.started event).
    let mut stdout = std::io::BufReader::new(child.stdout.take().unwrap());
    let mut seen = String::new();
    use std::io::BufRead;
    while !seen.contains("item.started") {
        let mut line = String::new();
        assert!(
            stdout.read_line(&mut line).unwrap() > 0,
            "exec ended early: {seen}"
        );
        seen.push_str(&line);
    }
    let started = std::time::Instant::now();
    std::thread::sleep(std::time::Duration::from_millis(300));
    let start = std::time::Instant::now();
    // SAFETY: signalling our own child.
    unsafe { libc::kill(child.id() as i32, libc::SIGINT) };
    let mut rest = String::new();
    std::io::Read::read_to_string(&mut stdout, &mut rest).unwrap();
    let status = child.wait().unwrap();
    assert_eq!(status.code(), Some(1));
    assert!(
        start.elapsed().as_secs() < 10,
        "interrupt took {:?}",
        start.elapsed()
    );
    assert!(
        rest.contains("turn.failed") && rest.contains("interrupted"),
        "{rest}"
    );
    // Well past the 2 s at which a command left running writes the marker.
    std::thread::sleep(std::time::Duration::from_secs(4).saturating_sub(started.elapsed()));
    assert!(!marker.exists(), "the command was killed, not left running");
    assert_eq!(model.requests().len(), 1, "no request after the interrupt");
    let sessions = files_under(&w.home.path().join("sessions"));
    let text = std::fs::read_to_string(&sessions[0]).unwrap();
    assert!(text.ends_with('\n'));
    let records: Vec<Value> = text
        .lines()
        .map(|l| serde_json::from_str(l).unwrap())
        .collect();
    assert!(records
        .iter()
        .any(|r| r["payload"]["type"] == "turn.failed"));
    assert!(records
        .iter()
        .any(|r| r["type"] == "response_item" && r["payload"]["type"] == "call"));
}

#[test]
fn exec_over_tls_with_a_custom_root_and_through_cordons_own_proxy() {
    let w = World::new();
    let ip = super::common::own_addresses()
        .into_iter()
        .find(std::net::IpAddr::is_ipv4)
        .expect("no non-loopback IPv4 address on this machine");
    let tls = super::fake_model::Tls::for_ip(&w.outside(), ip);
    let model = FakeModel::start_tls(
        vec![
            Reply::Sse(responses_text("over tls")),
            Reply::Sse(responses_text("through the proxy")),
        ],
        ip,
        &tls,
    );
    let config = |w: &World| {
        std::fs::write(
            w.home.path().join("config.toml"),
            format!(
                "model = \"m\"\nmodel_provider = \"tls\"\n[model_providers.tls]\nbase_url = \"https://{ip}:{}/v1\"\nrequest_max_retries = 0\n",
                model.port
            ),
        )
        .unwrap();
    };
    config(&w);
    // Without the root the certificate is refused (and the model never asked).
    let o = exec_cmd(&w, &["--skip-git-repo-check", "hi"])
        .env("SSL_CERT_FILE", w.outside().join("missing.pem"))
        .env_remove("HTTPS_PROXY")
        .env_remove("https_proxy")
        .output()
        .unwrap();
    assert_eq!(o.status.code(), Some(1), "{}", text(&o));
    assert!(
        String::from_utf8_lossy(&o.stderr).contains("TLS"),
        "{}",
        text(&o)
    );
    assert!(model.requests().is_empty());
    // With it, the answer arrives.
    let o = exec_cmd(&w, &["--skip-git-repo-check", "hi"])
        .env("SSL_CERT_FILE", &tls.ca)
        .env_remove("HTTPS_PROXY")
        .env_remove("https_proxy")
        .output()
        .unwrap();
    assert_eq!(o.status.code(), Some(0), "{}", text(&o));
    assert_eq!(stdout(&o), "over tls\n");

    // Through `cordon proxy` (token in the URL, CONNECT, audit log).
    let proxy_home = tempfile::tempdir().unwrap();
    let audit = proxy_home.path().join("audit.jsonl");
    let mut proxy = Command::new(CORDON)
        .args([
            "proxy",
            "--print-env",
            &format!("--allow-domain={ip}"),
            "--audit-log",
        ])
        .arg(&audit)
        .env("CORDON_HOME", proxy_home.path())
        .stdout(Stdio::piped())
        .stderr(Stdio::null())
        .spawn()
        .unwrap();
    let mut line = String::new();
    use std::io::BufRead;
    std::io::BufReader::new(proxy.stdout.take().unwrap())
        .read_line(&mut line)
        .unwrap();
    let url = line.trim().split_once('=').unwrap().1.to_string();
    let o = exec_cmd(&w, &["--skip-git-repo-check", "hi"])
        .env("SSL_CERT_FILE", &tls.ca)
        .env("HTTPS_PROXY", &url)
        .output()
        .unwrap();
    assert_eq!(o.status.code(), Some(0), "{}", text(&o));
    assert_eq!(stdout(&o), "through the proxy\n");
    // The tunnel's record is written when it closes.
    let mut log = String::new();
    for _ in 0..100 {
        log = std::fs::read_to_string(&audit).unwrap_or_default();
        if !log.is_empty() {
            break;
        }
        std::thread::sleep(std::time::Duration::from_millis(20));
    }
    let _ = proxy.kill();
    let _ = proxy.wait();
    assert!(
        log.contains("\"allow\"") && log.contains(&ip.to_string()),
        "{log}"
    );
}

#[test]
fn exec_ctrl_c_while_the_model_streams_stops_at_once() {
    let w = World::new();
    let model = FakeModel::start(vec![Reply::Stall(
        "event: response.output_text.delta\ndata: {\"delta\":\"slow\"}\n\n".into(),
        std::time::Duration::from_secs(30),
    )]);
    configure(&w, &model, "responses", "");
    let child = exec_cmd(&w, &["--json", "--skip-git-repo-check", "wait"])
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .unwrap();
    // Wait until the request is in flight.
    for _ in 0..200 {
        if !model.requests().is_empty() {
            break;
        }
        std::thread::sleep(std::time::Duration::from_millis(10));
    }
    assert_eq!(model.requests().len(), 1);
    std::thread::sleep(std::time::Duration::from_millis(200));
    let start = std::time::Instant::now();
    // SAFETY: signalling our own child.
    unsafe { libc::kill(child.id() as i32, libc::SIGINT) };
    let o = child.wait_with_output().unwrap();
    assert_eq!(o.status.code(), Some(1), "{}", text(&o));
    assert!(
        start.elapsed() < std::time::Duration::from_secs(5),
        "the stalled stream was not cut: {:?}",
        start.elapsed()
    );
    let last = events(&o).pop().unwrap();
    assert_eq!(last["type"], "turn.failed", "{last}");
    assert!(last["error"]["message"]
        .as_str()
        .unwrap()
        .contains("interrupted"));
    assert_eq!(model.requests().len(), 1, "an interrupt is not retried");
}

/// Runs one exec turn in which the model makes `calls` (shell or
/// apply_patch), then answers; returns the tool outputs by call id.
fn turn_with_calls(w: &World, flags: &[&str], calls: &[(&str, &str, Value)]) -> Vec<String> {
    let mut script: Vec<Reply> = calls
        .iter()
        .map(|(id, name, args)| Reply::Sse(responses_call(id, name, args)))
        .collect();
    script.push(Reply::Sse(responses_text("done")));
    let model = FakeModel::start(script);
    configure(w, &model, "responses", "");
    let mut args = vec!["--skip-git-repo-check"];
    args.extend_from_slice(flags);
    args.push("go");
    let o = exec(w, &args);
    assert_eq!(o.status.code(), Some(0), "{}", text(&o));
    let last = model.requests().pop().unwrap();
    calls
        .iter()
        .map(|(id, ..)| tool_output(&last.body, id))
        .collect()
}

/// A TCP echo listener on the host's 127.0.0.1 that counts the
/// connections it accepts.
fn counting_listener() -> (
    std::net::SocketAddr,
    std::sync::Arc<std::sync::atomic::AtomicUsize>,
) {
    use std::io::{Read, Write};
    let l = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
    let addr = l.local_addr().unwrap();
    let seen = std::sync::Arc::new(std::sync::atomic::AtomicUsize::new(0));
    let count = seen.clone();
    std::thread::spawn(move || {
        for mut s in l.incoming().flatten() {
            count.fetch_add(1, std::sync::atomic::Ordering::SeqCst);
            let mut buf = [0u8; 4];
            if s.read_exact(&mut buf).is_ok() {
                let _ = s.write_all(&buf);
            }
        }
    });
    (addr, seen)
}

/// The model's commands run with the session's network and mode: by
/// default no network (the host's 127.0.0.1 is not the sandbox's: refused,
/// and the listener sees nothing) and read-only (EROFS in the workspace);
/// `--network full` reaches the listener and `--full-auto` writes.
#[test]
fn exec_commands_get_the_sessions_network_and_a_read_only_default() {
    let w = World::new();
    let (addr, seen) = counting_listener();
    let file = w.work().join("written.txt");
    let calls = [
        (
            "n1",
            "shell",
            json!({"command": [PROBE, "tcp", addr.to_string()]}),
        ),
        (
            "r1",
            "shell",
            json!({"command": [PROBE, "write", file.display().to_string()]}),
        ),
    ];
    let count = || seen.load(std::sync::atomic::Ordering::SeqCst);

    let out = turn_with_calls(&w, &[], &calls);
    assert!(
        out[0].contains("Connection refused (os error 111)"),
        "{}",
        out[0]
    );
    assert_eq!(count(), 0, "the host's listener was reached: {}", out[0]);
    assert!(
        out[1].contains("Read-only file system (os error 30)"),
        "{}",
        out[1]
    );
    assert!(!file.exists());

    let out = turn_with_calls(&w, &["--network", "full"], &calls);
    assert!(out[0].contains("ok"), "{}", out[0]);
    assert_eq!(count(), 1, "--network full reaches the host's listener");
    assert!(
        out[1].contains("(os error 30)"),
        "still read-only: {}",
        out[1]
    );

    let out = turn_with_calls(&w, &["--full-auto"], &calls);
    assert!(!out[1].contains("denied:"), "{}", out[1]);
    assert_eq!(std::fs::read_to_string(&file).unwrap(), "x");
    assert!(out[0].contains("(os error 111)"), "{}", out[0]);
    assert_eq!(count(), 1, "--full-auto alone adds no network");
}

#[test]
fn exec_workdir_heredoc_cd_and_symlinks_cannot_widen_the_policy() {
    let w = World::new();
    let work = w.work();
    let outside = w.outside();
    std::fs::create_dir_all(work.join(".git/hooks")).unwrap();
    std::fs::write(work.join(".git/HEAD"), "ref: refs/heads/main\n").unwrap();
    let rel_outside = format!("../{}", outside.file_name().unwrap().to_string_lossy());
    let calls = |tag: &str| {
        vec![
            // The model's workdir is where the command starts, not a new writable root.
            (
                "w1",
                "shell",
                json!({"command": ["sh", "-c", format!("echo x > {tag}-workdir.txt")], "workdir": rel_outside}),
            ),
            (
                "w2",
                "shell",
                json!({"command": ["sh", "-c", format!("echo x > hooks/{tag}-hook")], "workdir": ".git"}),
            ),
            // `cd DIR && apply_patch` is checked where the cd points.
            (
                "p1",
                "shell",
                json!({"command": ["bash", "-lc", format!("cd {rel_outside} && apply_patch <<'EOF'\n*** Begin Patch\n*** Add File: {tag}-heredoc.txt\n+x\n*** End Patch\nEOF\n")]}),
            ),
            // A symlink a command planted does not redirect a patch.
            (
                "s1",
                "shell",
                json!({"command": ["ln", "-sfn", outside.display().to_string(), format!("{tag}-link")]}),
            ),
            (
                "p2",
                "apply_patch",
                json!({"input": format!("*** Begin Patch\n*** Add File: {tag}-link/{tag}-symlinked.txt\n+x\n*** End Patch\n")}),
            ),
        ]
    };
    let escaped = |tag: &str| {
        [
            outside.join(format!("{tag}-workdir.txt")),
            work.join(format!(".git/hooks/{tag}-hook")),
            outside.join(format!("{tag}-heredoc.txt")),
            outside.join(format!("{tag}-symlinked.txt")),
        ]
    };
    // Control: without the sandbox every one of these lands.
    turn_with_calls(&w, &["-s", "danger-full-access"], &calls("control"));
    for f in escaped("control") {
        assert!(f.exists(), "control: {} should exist", f.display());
    }
    let out = turn_with_calls(&w, &["--full-auto"], &calls("sandboxed"));
    for f in escaped("sandboxed") {
        assert!(
            !f.exists(),
            "{} escaped the policy; outputs: {out:#?}",
            f.display()
        );
    }
    assert!(out[0].contains("the sandbox denied"), "{}", out[0]);
    assert!(
        out[2].contains("not allow") && out[4].contains("not allow"),
        "{out:#?}"
    );
}

#[test]
fn exec_commands_see_no_secrets_and_huge_output_is_capped() {
    let w = World::new();
    let calls = [
        (
            "e1",
            "shell",
            json!({"command": ["sh", "-c", "echo key=${FAKE_MODEL_KEY:-unset} token=${MY_TOKEN:-unset} secret=${APP_SECRET:-unset} password=${DB_PASSWORD:-unset} passwd=${LDAP_PASSWD:-unset} credential=${GOOGLE_APPLICATION_CREDENTIALS:-unset} lower=${my_api_key:-unset} db=${DATABASE_URL:-unset} pat=${GITHUB_PAT:-unset} auth=${NPM_CONFIG__AUTH:-unset} plain=${CORDON_TEST_PLAIN:-unset} url=${CORDON_TEST_URL:-unset}"]}),
        ),
        (
            "b1",
            "shell",
            json!({"command": ["sh", "-c", "head -c 3000000 /dev/zero | tr '\\0' a; echo END; head -c 2000000 /dev/zero | tr '\\0' e >&2; echo ERR >&2"]}),
        ),
    ];
    let mut script: Vec<Reply> = calls
        .iter()
        .map(|(id, name, args)| Reply::Sse(responses_call(id, name, args)))
        .collect();
    script.push(Reply::Sse(responses_text("done")));
    let model = FakeModel::start(script);
    configure(&w, &model, "responses", "");
    let o = exec_cmd(&w, &["--json", "--skip-git-repo-check", "go"])
        .env("MY_TOKEN", "tok-123")
        .env("APP_SECRET", "s3cret")
        .env("DB_PASSWORD", "pw-1")
        .env("LDAP_PASSWD", "pw-2")
        .env("GOOGLE_APPLICATION_CREDENTIALS", "/creds.json")
        .env("my_api_key", "k-lower")
        .env("CORDON_TEST_URL", "https://example.org/no-credentials")
        .env("DATABASE_URL", "postgres://app:hunter2@db/app")
        .env("GITHUB_PAT", "ghp-1")
        .env("NPM_CONFIG__AUTH", "dXNlcjpwYXNz")
        .env("CORDON_TEST_PLAIN", "visible")
        .output()
        .unwrap();
    assert_eq!(o.status.code(), Some(0), "{}", text(&o));
    let last = model.requests().pop().unwrap();
    let env_out = tool_output(&last.body, "e1");
    assert!(
        env_out.contains("key=unset token=unset secret=unset password=unset passwd=unset credential=unset lower=unset db=unset pat=unset auth=unset plain=visible url=https://example.org/no-credentials"),
        "{env_out}"
    );
    assert!(!stdout(&o).contains("sk-test") && !stdout(&o).contains("tok-123"));
    let big = events(&o)
        .into_iter()
        .find(|e| {
            e["type"] == "item.completed"
                && e["item"]["aggregated_output"]
                    .as_str()
                    .is_some_and(|t| t.contains("END"))
        })
        .unwrap();
    // As the README says: the first and the last 512 KiB of each of stdout
    // and stderr, and the count of what was dropped in between.
    let item = big["item"]["aggregated_output"].as_str().unwrap();
    // After the header (exit code, wall time), the output itself.
    let (header, kept) = item.split_once("output:\n").unwrap();
    assert!(header.starts_with("exit code: 0\n"), "{header}");
    let keep = 512 * 1024;
    let stream = |fill: &str, total: usize, end: &str| {
        format!(
            "{}\n[... {} bytes of output not kept ...]\n{}{end}",
            fill.repeat(keep),
            total - 2 * keep,
            fill.repeat(keep - end.len())
        )
    };
    let expected = stream("a", 3_000_004, "END\n") + &stream("e", 2_000_004, "ERR\n");
    assert!(
        kept == expected,
        "{} bytes kept, {} expected; the markers: {:?}; {:?}..{:?}",
        kept.len(),
        expected.len(),
        kept.match_indices("[...")
            .map(|(i, _)| &kept[i..i + 50])
            .collect::<Vec<_>>(),
        &kept[..60],
        &kept[kept.len() - 60..]
    );
    // The model gets a copy capped at 16 KiB, head and tail.
    let to_model = tool_output(&last.body, "b1");
    assert!(
        to_model.len() < 16 * 1024 + 200
            && to_model.contains("bytes cut: output exceeded 16384 bytes")
            && to_model.trim_end().ends_with("ERR"),
        "{} bytes: {}..{}",
        to_model.len(),
        &to_model[..200.min(to_model.len())],
        &to_model[to_model.len().saturating_sub(200)..]
    );
}

/// What the model's `env` call printed in one `cordon exec` run with
/// `args` (read from the event stream, which keeps far more than the
/// model's copy), as name → value, and the model's copy.
fn env_seen_by_command(
    w: &World,
    args: &[&str],
    vars: &[(&str, &str)],
) -> (std::collections::BTreeMap<String, String>, String) {
    let model = FakeModel::start(vec![
        Reply::Sse(responses_call(
            "env1",
            "shell",
            &json!({"command": ["env"]}),
        )),
        Reply::Sse(responses_text("done")),
    ]);
    configure(
        w,
        &model,
        "responses",
        "[shell_environment_policy]\nexclude = [\"cordon_test_excluded*\"]\nset = { CORDON_TEST_SET = \"from-config\", CORDON_TEST_REPLACED = \"replaced\" }\n",
    );
    let mut cmd = exec_cmd(
        w,
        &[&["--json", "--skip-git-repo-check"], args, &["go"]].concat(),
    );
    // The test runner's own skip file would match `cordon_test_*`.
    cmd.env_remove("CORDON_TEST_SKIPS");
    for (k, v) in vars {
        cmd.env(k, v);
    }
    let o = cmd.output().unwrap();
    assert_eq!(o.status.code(), Some(0), "{}", text(&o));
    let out = events(&o)
        .into_iter()
        .find(|e| e["type"] == "item.completed" && e["item"]["type"] == "command_execution")
        .unwrap_or_else(|| panic!("no command ran: {}", text(&o)));
    let env = out["item"]["aggregated_output"]
        .as_str()
        .unwrap()
        .to_string();
    assert_eq!(out["item"]["exit_code"], 0, "{env}");
    let seen_by_model = tool_output(&model.requests().pop().unwrap().body, "env1");
    let env = env
        .lines()
        .filter_map(|l| l.split_once('='))
        .map(|(k, v)| (k.to_string(), v.to_string()))
        .collect();
    (env, seen_by_model)
}

/// Issue 10 item 9: `[shell_environment_policy]` decides the agent's
/// commands' environment: `set` values appear (replacing inherited ones),
/// `exclude`d and default-excluded names (and URLs with credentials,
/// a host proxy's included) do not, `include_only` narrows to its
/// patterns, and cordon's own variables survive every key. Positive
/// control: `ignore_default_excludes = true` lets the `*_TOKEN` and the
/// credential URL through, with `exclude` still applied.
#[test]
fn shell_environment_policy_shapes_the_commands_environment() {
    let w = World::new();
    let vars = [
        ("CORDON_TEST_PLAIN", "visible"),
        ("CORDON_TEST_EXCLUDED_A", "hidden"),
        ("CORDON_TEST_REPLACED", "original"),
        ("MY_TOKEN", "tok-123"),
        ("GITHUB_PAT", "ghp-1"),
        ("DATABASE_URL", "postgres://app:hunter2@db/app"),
        ("HTTPS_PROXY", "http://proxyuser:proxypass@127.0.0.1:9"),
    ];
    let absent = |env: &std::collections::BTreeMap<String, String>, names: &[&str]| {
        for n in names {
            assert!(!env.contains_key(*n), "{n} reached the command: {env:?}");
        }
    };

    let (env, model_copy) = env_seen_by_command(&w, &[], &vars);
    assert_eq!(env["CORDON_TEST_PLAIN"], "visible");
    assert_eq!(env["CORDON_TEST_SET"], "from-config");
    assert_eq!(env["CORDON_TEST_REPLACED"], "replaced");
    assert_eq!(env["CORDON_SANDBOX"], "1");
    absent(
        &env,
        &[
            "CORDON_TEST_EXCLUDED_A",
            "MY_TOKEN",
            "GITHUB_PAT",
            "DATABASE_URL",
            "HTTPS_PROXY",
            "FAKE_MODEL_KEY",
        ],
    );
    assert!(env.contains_key("PATH"), "{env:?}");
    assert!(model_copy.contains("CORDON_TEST_SET=from-config"));
    for secret in ["tok-123", "ghp-1", "hunter2", "proxypass", "sk-test"] {
        assert!(!model_copy.contains(secret), "{secret}: {model_copy}");
    }

    // include_only comes last: it narrows what `set` added as well, and
    // cannot bring back what `exclude` dropped; cordon's own stay.
    let (env, _) = env_seen_by_command(
        &w,
        &[
            "-c",
            "shell_environment_policy.include_only=[\"PATH\", \"cordon_test_*\"]",
        ],
        &vars,
    );
    let names: Vec<&str> = env.keys().map(String::as_str).collect();
    assert_eq!(
        names,
        [
            "CORDON_NETWORK",
            "CORDON_SANDBOX",
            "CORDON_TEST_PLAIN",
            "CORDON_TEST_REPLACED",
            "CORDON_TEST_SET",
            "PATH"
        ]
    );

    // The positive control: the same secrets pass once the defaults are off.
    let (env, _) = env_seen_by_command(
        &w,
        &[
            "-c",
            "shell_environment_policy.ignore_default_excludes=true",
        ],
        &vars,
    );
    assert_eq!(env["MY_TOKEN"], "tok-123");
    assert_eq!(env["GITHUB_PAT"], "ghp-1");
    assert_eq!(env["DATABASE_URL"], "postgres://app:hunter2@db/app");
    assert_eq!(env["HTTPS_PROXY"], "http://proxyuser:proxypass@127.0.0.1:9");
    assert_eq!(env["CORDON_TEST_SET"], "from-config");
    absent(&env, &["CORDON_TEST_EXCLUDED_A"]);
}

/// Issue 10 item 9: under `--network proxy` cordon's own proxy variables
/// win over `set` and survive `exclude`/`include_only`, so no policy can
/// point the command elsewhere (the network namespace enforces it anyway).
#[test]
fn shell_environment_policy_cannot_override_cordons_proxy_variables() {
    let w = World::new();
    let (env, _) = env_seen_by_command(
        &w,
        &[
            "--network",
            "proxy",
            "-c",
            "shell_environment_policy.set.HTTPS_PROXY=http://elsewhere.invalid:1",
            "-c",
            "shell_environment_policy.include_only=[\"PATH\", \"HTTPS_PROXY\"]",
        ],
        &[],
    );
    let https = &env["HTTPS_PROXY"];
    assert!(https.starts_with("http://127.0.0.1:"), "{env:?}");
    assert_eq!(env["http_proxy"], *https);
    assert!(
        env["ALL_PROXY"].starts_with("socks5h://127.0.0.1:"),
        "{env:?}"
    );
    assert_eq!(env["CORDON_NETWORK"], "proxy");
    // include_only still removed everything else but cordon's own.
    assert!(!env.contains_key("HOME"), "{env:?}");
}

/// Issue 10 item 4: when `cordon exec` dies, by SIGKILL or SIGHUP, the
/// sandboxed command dies with it, and no report file is left behind. The command touches a heartbeat file
/// every 50 ms; the positive control shows the heartbeat coming back while
/// exec lives, so its absence afterwards means the tree is gone.
#[test]
fn killing_exec_by_sigkill_or_sighup_kills_the_running_command() {
    for signal in [libc::SIGKILL, libc::SIGHUP] {
        let w = World::new();
        let beat = w.work().join("beat");
        let tmp = tempfile::tempdir_in("/var/tmp").unwrap();
        let model = FakeModel::start(vec![
            Reply::Sse(responses_call(
                "c1",
                "shell",
                &json!({"command": ["sh", "-c", format!("while :; do touch {}; sleep 0.05; done", beat.display())]}),
            )),
            Reply::Sse(responses_text("never")),
        ]);
        configure(&w, &model, "responses", "");
        // TMPDIR is not made a writable root, so what a killed run leaves
        // there by design (its placeholders, swept by the next run) does
        // not hide a report file left behind.
        let mut child = exec_cmd(
            &w,
            &[
                "--json",
                "--full-auto",
                "-c",
                "sandbox_workspace_write.exclude_tmpdir_env_var=true",
                "--skip-git-repo-check",
                "go",
            ],
        )
        .env("TMPDIR", tmp.path())
        .stdout(Stdio::piped())
        .stderr(Stdio::null())
        .spawn()
        .unwrap();
        let wait_for_beat = |ms: u64| {
            let end = std::time::Instant::now() + std::time::Duration::from_millis(ms);
            while std::time::Instant::now() < end {
                if beat.exists() {
                    return true;
                }
                std::thread::sleep(std::time::Duration::from_millis(20));
            }
            false
        };
        assert!(wait_for_beat(20_000), "the command never started");
        // Positive control: removed, the heartbeat comes back.
        std::fs::remove_file(&beat).unwrap();
        assert!(wait_for_beat(5_000), "the heartbeat did not come back");
        // SAFETY: signalling our own child.
        unsafe { libc::kill(child.id() as i32, signal) };
        let _ = std::io::Read::read_to_end(child.stdout.as_mut().unwrap(), &mut Vec::new());
        child.wait().unwrap();
        std::thread::sleep(std::time::Duration::from_millis(500));
        let _ = std::fs::remove_file(&beat);
        assert!(
            !wait_for_beat(1_000),
            "signal {signal}: the command kept running after exec died"
        );
        // The denial report is a file with no name: nothing is left in the
        // temp directory, even after SIGKILL (but the placeholders of the
        // killed run, a writable root here, which the next run sweeps).
        let left: Vec<_> = std::fs::read_dir(tmp.path())
            .unwrap()
            .flatten()
            .map(|e| e.file_name().to_string_lossy().into_owned())
            .filter(|n| n != ".git" && n != ".cordon")
            .collect();
        assert!(
            left.is_empty(),
            "signal {signal}: files left behind: {left:?}"
        );
    }
}

/// Issue 10 item 1: `-o FILE` inside the workspace, where the model's own
/// command planted a symlink under that name to a file outside every
/// writable root: cordon replaces the link with the answer and the file
/// outside keeps its content. The control shows the planted link did reach
/// the victim.
#[test]
fn exec_output_file_never_follows_a_link_the_command_planted() {
    let w = World::new();
    let victim = w.outside().join("victim");
    std::fs::write(&victim, "precious\n").unwrap();
    let out = w.work().join("answer.txt");
    let model = FakeModel::start(vec![
        Reply::Sse(responses_call(
            "c1",
            "shell",
            &json!({"command": ["ln", "-s", victim.to_str().unwrap(), out.to_str().unwrap()]}),
        )),
        Reply::Sse(responses_text("the answer")),
    ]);
    configure(&w, &model, "responses", "");
    let o = exec(
        &w,
        &[
            "--skip-git-repo-check",
            "--full-auto",
            "-o",
            out.to_str().unwrap(),
            "go",
        ],
    );
    assert_eq!(o.status.code(), Some(0), "{}", text(&o));
    assert_eq!(std::fs::read_to_string(&victim).unwrap(), "precious\n");
    assert!(!std::fs::symlink_metadata(&out).unwrap().is_symlink());
    assert_eq!(std::fs::read_to_string(&out).unwrap(), "the answer");
    // Control: the command did plant a link to the victim (a plain write
    // through its name lands there).
    std::os::unix::fs::symlink(&victim, w.work().join("again")).unwrap();
    std::fs::write(w.work().join("again"), "reached\n").unwrap();
    assert_eq!(std::fs::read_to_string(&victim).unwrap(), "reached\n");
}

/// Issue 10 item 2: cordon installed inside a writable root. The model's
/// first command swaps cordon's file for a script that would touch a file
/// outside every root; the second command still runs under the real,
/// pinned cordon sandbox (it works, the script never runs). The control
/// runs the swapped file by its path and the script does run.
#[test]
fn exec_never_runs_a_cordon_binary_a_command_replaced() {
    let w = World::new();
    let bin = w.work().join("bin");
    std::fs::create_dir_all(&bin).unwrap();
    let installed = bin.join("cordon");
    std::fs::copy(CORDON, &installed).unwrap();
    let marker = w.outside().join("ran-unsandboxed");
    let swap = format!(
        "printf '#!/bin/sh\\ntouch {}\\n' > bin/new && chmod 755 bin/new && mv bin/new bin/cordon",
        marker.display()
    );
    let model = FakeModel::start(vec![
        Reply::Sse(responses_call(
            "c1",
            "shell",
            &json!({"command": ["sh", "-c", swap]}),
        )),
        Reply::Sse(responses_call(
            "c2",
            "shell",
            &json!({"command": ["touch", "second-ran"]}),
        )),
        Reply::Sse(responses_text("done")),
    ]);
    configure(&w, &model, "responses", "");
    // Like exec_cmd, but the installed copy.
    let o = Command::new(&installed)
        .args(["exec", "--skip-git-repo-check", "--full-auto", "go"])
        .current_dir(w.work())
        .env("CORDON_HOME", w.home.path())
        .env("FAKE_MODEL_KEY", "sk-test")
        .env_remove("HTTP_PROXY")
        .env_remove("http_proxy")
        .stdin(Stdio::null())
        .output()
        .unwrap();
    assert_eq!(o.status.code(), Some(0), "{}", text(&o));
    let swapped = std::fs::read_to_string(&installed).unwrap_or_default();
    assert!(
        swapped.starts_with("#!/bin/sh"),
        "the first command swapped cordon"
    );
    assert!(
        w.work().join("second-ran").exists(),
        "the second command ran"
    );
    assert!(!marker.exists(), "the swapped-in script ran");
    // Control: the swapped file, run by its path, is the script.
    assert!(Command::new(&installed).status().unwrap().success());
    assert!(marker.exists(), "control: the script touches the marker");
}

/// Issue 10 item 2: a `notify` program on a writable `PATH` entry (inside
/// the workspace) could be replaced by a command and would then run
/// unsandboxed: exec refuses before the turn and says why. The control puts
/// the same program on a `PATH` entry outside every root, and it runs.
#[test]
fn exec_refuses_a_notify_program_inside_a_writable_root() {
    use std::os::unix::fs::PermissionsExt;
    let w = World::new();
    let marker = w.outside().join("notified");
    let script = format!("#!/bin/sh\ntouch {}\n", marker.display());
    let install = |dir: &Path| {
        std::fs::create_dir_all(dir).unwrap();
        let p = dir.join("cordon-test-notifier");
        std::fs::write(&p, &script).unwrap();
        std::fs::set_permissions(&p, std::fs::Permissions::from_mode(0o755)).unwrap();
    };
    let inside = w.work().join("bin");
    let outside = w.outside().join("bin");
    install(&inside);
    let path = |first: &Path| format!("{}:{}", first.display(), std::env::var("PATH").unwrap());
    let model = FakeModel::start(vec![Reply::Sse(responses_text("hi"))]);
    configure(
        &w,
        &model,
        "responses",
        "notify = [\"cordon-test-notifier\"]",
    );
    let o = exec_cmd(&w, &["--skip-git-repo-check", "--full-auto", "go"])
        .env("PATH", path(&inside))
        .output()
        .unwrap();
    assert_ne!(o.status.code(), Some(0), "{}", text(&o));
    let err = String::from_utf8_lossy(&o.stderr);
    assert!(err.contains("lies inside the writable root"), "{err}");
    assert!(model.requests().is_empty(), "refused before the turn");
    // Control: the same program outside every root runs after the turn.
    install(&outside);
    let o = exec_cmd(&w, &["--skip-git-repo-check", "--full-auto", "go"])
        .env("PATH", path(&outside))
        .output()
        .unwrap();
    assert_eq!(o.status.code(), Some(0), "{}", text(&o));
    let start = std::time::Instant::now();
    while !marker.exists() && start.elapsed().as_secs() < 5 {
        std::thread::sleep(std::time::Duration::from_millis(20));
    }
    assert!(marker.exists(), "control: the notifier ran");
}

/// Issue 10 item 1: patches are written inside the sandbox, so the kernel
/// enforces the policy on every write. The session's first command makes a
/// nested repository (`vendor/.git`, which the policy resolved at start
/// does not know); a patch that adds a hook there passes the host's check
/// but is refused by the sandbox (read-only `.git`), and nothing is written.
/// Controls: a patch beside it in the same session applies, and under
/// danger-full-access the same two steps do write the hook.
#[test]
fn patches_are_applied_inside_the_sandbox_where_the_kernel_decides() {
    let hook = "*** Begin Patch\n*** Add File: vendor/.git/hooks/post-checkout\n+#!/bin/sh\n+touch /tmp/pwned\n*** End Patch\n";
    let beside = "*** Begin Patch\n*** Add File: vendor/ok.txt\n+fine\n*** End Patch\n";
    for (mode, hook_written) in [("workspace-write", false), ("danger-full-access", true)] {
        let w = World::new();
        let model = FakeModel::start(vec![
            Reply::Sse(responses_call(
                "c1",
                "shell",
                &json!({"command": ["mkdir", "-p", "vendor/.git/hooks"]}),
            )),
            Reply::Sse(responses_call("p1", "apply_patch", &json!({"input": hook}))),
            Reply::Sse(responses_call(
                "p2",
                "apply_patch",
                &json!({"input": beside}),
            )),
            Reply::Sse(responses_text("done")),
        ]);
        configure(&w, &model, "responses", "");
        let o = exec(&w, &["--skip-git-repo-check", "-s", mode, "go"]);
        assert_eq!(o.status.code(), Some(0), "{}", text(&o));
        let requests = model.requests();
        let hook_out = tool_output(&requests[2].body, "p1");
        let hook_file = w.work().join("vendor/.git/hooks/post-checkout");
        assert_eq!(hook_file.exists(), hook_written, "{mode}: {hook_out}");
        if !hook_written {
            assert!(
                hook_out.contains("patch not applied")
                    && hook_out.contains("Read-only file system"),
                "the kernel's own refusal (EROFS) reaches the model: {hook_out}"
            );
        }
        assert_eq!(
            std::fs::read_to_string(w.work().join("vendor/ok.txt")).unwrap(),
            "fine\n",
            "{mode}: the control patch applies"
        );
    }
}

/// Issue 10 item 1, a directory on the way: `-o out/answer.txt`, and the
/// model's command swaps `out` for a symlink to a directory outside every
/// root. cordon pinned `out` before the turn, so the answer lands in the
/// directory the user named (now `out.old`), never outside. Control: a
/// write by path through the swapped name does land outside.
#[test]
fn exec_output_directory_swapped_for_a_link_redirects_nothing() {
    let w = World::new();
    let outside = w.outside();
    std::fs::create_dir(w.work().join("out")).unwrap();
    let swap = format!("mv out out.old && ln -s {} out", outside.display());
    let model = FakeModel::start(vec![
        Reply::Sse(responses_call(
            "c1",
            "shell",
            &json!({"command": ["sh", "-c", swap]}),
        )),
        Reply::Sse(responses_text("the answer")),
    ]);
    configure(&w, &model, "responses", "");
    let o = exec(
        &w,
        &[
            "--skip-git-repo-check",
            "--full-auto",
            "-o",
            "out/answer.txt",
            "go",
        ],
    );
    assert_eq!(o.status.code(), Some(0), "{}", text(&o));
    assert!(std::fs::symlink_metadata(w.work().join("out"))
        .unwrap()
        .is_symlink());
    assert!(!outside.join("answer.txt").exists(), "written outside");
    assert_eq!(
        std::fs::read_to_string(w.work().join("out.old/answer.txt")).unwrap(),
        "the answer"
    );
    // Control: by path, the swapped name leads outside.
    std::fs::write(w.work().join("out/by-path.txt"), "x").unwrap();
    assert!(outside.join("by-path.txt").exists());
}

/// In a session, a repository that appears between two commands (made by
/// an earlier command, or by the user while one runs) is protected in the
/// next: the session's watch hands the launcher the current set, without
/// a walk. Controls: ordinary directories made beside them stay writable.
#[test]
fn a_repository_made_between_two_commands_is_protected_in_the_next() {
    let w = World::new();
    let work = w.work();
    std::fs::create_dir_all(work.join("node_modules/a/lib")).unwrap();
    let by_command = work.join("node_modules/a/lib/cmdrepo");
    let by_user = work.join("node_modules/userrepo");
    let sh = |script: String| json!({"command": ["sh", "-c", script]});
    let script = vec![
        // An earlier command makes a repository (nothing protects it yet).
        Reply::Sse(responses_call(
            "c1",
            "shell",
            &sh(format!(
                "mkdir -p {0}/.git {0}/notgit && echo orig > {0}/.git/config",
                by_command.display()
            )),
        )),
        // While this one runs, the user makes one outside the sandbox.
        Reply::Sse(responses_call(
            "c2",
            "shell",
            &sh(format!(
                "touch {0}/ready; while [ ! -e {0}/user-done ]; do sleep 0.05; done",
                work.display()
            )),
        )),
        Reply::Sse(responses_call(
            "c3",
            "shell",
            &sh(format!(
                "echo evil >> {0}/.git/config; echo ok >> {0}/notgit/config",
                by_command.display()
            )),
        )),
        Reply::Sse(responses_call(
            "c4",
            "shell",
            &sh(format!(
                "echo evil >> {0}/.git/config; echo ok >> {0}/notgit/config",
                by_user.display()
            )),
        )),
        Reply::Sse(responses_text("done")),
    ];
    let model = FakeModel::start(script);
    configure(&w, &model, "responses", "");
    let child = exec_cmd(&w, &["--skip-git-repo-check", "--full-auto", "go"])
        .env("RUST_LOG", "debug")
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .unwrap();
    let start = std::time::Instant::now();
    while !work.join("ready").exists() {
        assert!(
            start.elapsed().as_secs() < 30,
            "the second command never ran"
        );
        std::thread::sleep(std::time::Duration::from_millis(20));
    }
    std::fs::create_dir_all(by_user.join(".git")).unwrap();
    std::fs::create_dir_all(by_user.join("notgit")).unwrap();
    std::fs::write(by_user.join(".git/config"), "orig\n").unwrap();
    std::fs::write(work.join("user-done"), "").unwrap();
    let o = child.wait_with_output().unwrap();
    assert_eq!(o.status.code(), Some(0), "{}", text(&o));
    let last = model.requests().pop().unwrap();
    for (id, repo) in [("c3", &by_command), ("c4", &by_user)] {
        let out = tool_output(&last.body, id);
        assert!(out.contains("Read-only file system"), "{id}: {out}");
        assert!(
            out.contains("the session's set"),
            "{id} did not get the session's set: {out}"
        );
        assert_eq!(
            std::fs::read_to_string(repo.join(".git/config")).unwrap(),
            "orig\n",
            "{id}"
        );
        assert_eq!(
            std::fs::read_to_string(repo.join("notgit/config")).unwrap(),
            "ok\n",
            "{id}: the control"
        );
    }
}

#[test]
fn exec_prints_no_escape_sequence_a_command_or_the_model_wrote() {
    let w = World::new();
    // OSC 52 (set the clipboard) and a title change, from a sandboxed
    // command and from the model.
    let script = r"printf 'before\033]52;c;cm0gLXJmIH4=\007after\033]0;owned\007\n'";
    let model = FakeModel::start(vec![
        Reply::Sse(responses_call(
            "c1",
            "shell",
            &json!({"command": ["sh", "-c", script]}),
        )),
        Reply::Sse(responses_text("all \u{1b}[2Jclear")),
    ]);
    configure(&w, &model, "responses", "");
    let o = exec(&w, &["--full-auto", "--skip-git-repo-check", "print it"]);
    assert_eq!(o.status.code(), Some(0), "{}", text(&o));
    // Control: the command did write the sequences (the model sees them).
    let reqs = model.requests();
    assert!(
        tool_output(&reqs[1].body, "c1").contains("\u{1b}]52;c;"),
        "{}",
        tool_output(&reqs[1].body, "c1")
    );
    let stderr = String::from_utf8_lossy(&o.stderr);
    assert!(
        stderr.contains("before") && stderr.contains("after"),
        "{stderr}"
    );
    assert!(stderr.contains("clear"), "{stderr}");
    assert!(
        !stderr.contains(['\u{1b}', '\u{7}']),
        "a control character reached the terminal: {stderr:?}"
    );
}
