use super::*;
use std::collections::VecDeque;

/// Replies from a script: each entry answers one request.
enum Reply {
    Sse(String),
    Fail(Failure),
    /// SSE bytes, then a failure mid-stream.
    Broken(String, Failure),
}

struct Scripted {
    replies: VecDeque<Reply>,
    bodies: Vec<Value>,
}

impl Transport for Scripted {
    fn send(&mut self, body: &Value) -> Result<Chunks<'_>, Failure> {
        self.bodies.push(body.clone());
        match self
            .replies
            .pop_front()
            .expect("more requests than scripted replies")
        {
            Reply::Fail(f) => Err(f),
            // Split into small chunks to exercise reassembly.
            Reply::Sse(text) => Ok(Box::new(
                text.into_bytes()
                    .chunks(7)
                    .map(|c| Ok(c.to_vec()))
                    .collect::<Vec<_>>()
                    .into_iter(),
            )),
            Reply::Broken(text, f) => Ok(Box::new(vec![Ok(text.into_bytes()), Err(f)].into_iter())),
        }
    }
}

#[derive(Default)]
struct FakeTools {
    ran: Vec<Vec<String>>,
    patches: Vec<String>,
}

impl Tools for FakeTools {
    fn shell(&mut self, call: &ShellCall) -> ToolResult {
        self.ran.push(call.command.clone());
        ToolResult::text(format!("exit code: 0\n{}", "x".repeat(5000)))
    }
    fn apply_patch(&mut self, _call_id: &str, input: &str) -> ToolResult {
        self.patches.push(input.into());
        ToolResult::text("patch applied")
    }
}

fn responses_text(t: &str) -> String {
    format!(
        "event: response.output_text.delta\ndata: {}\n\nevent: response.completed\ndata: {{\"response\":{{\"usage\":{{\"input_tokens\":10,\"output_tokens\":2}}}}}}\n\n",
        serde_json::json!({"delta": t})
    )
}

fn responses_call(id: &str, name: &str, args: &str) -> String {
    format!(
        "event: response.output_item.done\ndata: {}\n\nevent: response.completed\ndata: {{\"response\":{{}}}}\n\n",
        serde_json::json!({"item": {"type": "function_call", "call_id": id, "name": name, "arguments": args}})
    )
}

fn cfg(wire: WireApi) -> TurnConfig<'static> {
    TurnConfig {
        wire,
        model: "m",
        instructions: Some("be brief"),
        output_schema: None,
        request_retries: 3,
        stream_retries: 3,
        max_tool_output: 1000,
        max_steps: 8,
        auto_compact: None,
        sleep: &|_| {},
        interrupted: &|| false,
    }
}

type Outcome = (
    Result<(String, Usage), TurnError>,
    Scripted,
    FakeTools,
    Vec<AgentEvent>,
    Vec<Item>,
);

fn turn(wire: WireApi, replies: Vec<Reply>) -> Outcome {
    let mut t = Scripted {
        replies: replies.into(),
        bodies: vec![],
    };
    let mut tools = FakeTools::default();
    let mut events = Vec::new();
    let mut history = vec![Item::User("go".into())];
    let r = run_turn(&mut t, &mut tools, &cfg(wire), &mut history, &mut |e| {
        events.push(e)
    });
    (r, t, tools, events, history)
}

#[test]
fn a_text_only_answer() {
    let (r, t, _, events, _) = turn(
        WireApi::Responses,
        vec![Reply::Sse(responses_text("hello"))],
    );
    let (text, usage) = r.unwrap();
    assert_eq!(text, "hello");
    assert_eq!(
        usage,
        Usage {
            input_tokens: 10,
            output_tokens: 2
        }
    );
    assert_eq!(t.bodies.len(), 1);
    assert!(events.contains(&AgentEvent::TextDelta("hello".into())));
}

#[test]
fn a_shell_call_whose_output_the_next_request_carries_back_capped() {
    let (r, t, tools, events, history) = turn(
        WireApi::Responses,
        vec![
            Reply::Sse(responses_call(
                "c1",
                "shell",
                "{\"command\":[\"ls\",\"-l\"]}",
            )),
            Reply::Sse(responses_text("done")),
        ],
    );
    assert_eq!(r.unwrap().0, "done");
    assert_eq!(tools.ran, vec![vec!["ls".to_string(), "-l".to_string()]]);
    let second = &t.bodies[1]["input"];
    let out = second
        .as_array()
        .unwrap()
        .iter()
        .find(|i| i["type"] == "function_call_output")
        .unwrap();
    assert_eq!(out["call_id"], "c1");
    assert!(
        out["output"].as_str().unwrap().contains("bytes cut"),
        "capped for the model"
    );
    let full = events.iter().find_map(|e| match e {
        AgentEvent::ToolCompleted { output, .. } => Some(output.len()),
        _ => None,
    });
    assert!(
        full.unwrap() > 5000,
        "the event stream keeps the full output"
    );
    assert!(matches!(history.last(), Some(Item::Assistant(t)) if t == "done"));
}

#[test]
fn chat_wire_with_pieces_apply_patch_and_plan() {
    let call = |i: u32, id: &str, name: &str, args: &str| {
        format!(
            "data: {}\n\n",
            serde_json::json!({"choices": [{"delta": {"tool_calls": [{"index": i, "id": id, "function": {"name": name, "arguments": args}}]}}]})
        )
    };
    let first = format!(
        "{}{}{}data: {{\"choices\":[{{\"delta\":{{}},\"finish_reason\":\"tool_calls\"}}]}}\n\ndata: [DONE]\n\n",
        call(0, "p1", "apply_patch", "{\"input\":\"*** Begin"),
        call(0, "", "", " Patch\"}"),
        call(1, "u1", "update_plan", "{\"plan\":[{\"step\":\"a\",\"status\":\"completed\"}]}"),
    );
    let second = "data: {\"choices\":[{\"delta\":{\"content\":\"ok\"},\"finish_reason\":\"stop\"}]}\n\ndata: [DONE]\n\n".to_string();
    let (r, t, tools, events, _) = turn(WireApi::Chat, vec![Reply::Sse(first), Reply::Sse(second)]);
    assert_eq!(r.unwrap().0, "ok");
    assert_eq!(tools.patches, vec!["*** Begin Patch".to_string()]);
    assert!(events.iter().any(|e| matches!(e, AgentEvent::Plan(_))));
    let msgs = t.bodies[1]["messages"].as_array().unwrap();
    assert_eq!(msgs.iter().filter(|m| m["role"] == "tool").count(), 2);
}

#[test]
fn retries_429_then_success_and_truncated_streams() {
    let (r, t, _, events, _) = turn(
        WireApi::Responses,
        vec![
            Reply::Fail(Failure::Status {
                code: 429,
                retry_after: Some("0".into()),
                body: String::new(),
            }),
            Reply::Broken(
                "event: response.output_text.delta\ndata: {\"delta\":\"par\"}\n\n".into(),
                Failure::Truncated,
            ),
            Reply::Sse("event: response.output_text.delta\ndata: {\"delta\":\"tial\"}\n\n".into()),
            Reply::Sse(responses_text("whole")),
        ],
    );
    assert_eq!(r.unwrap().0, "whole");
    assert_eq!(t.bodies.len(), 4);
    assert_eq!(
        events
            .iter()
            .filter(|e| matches!(e, AgentEvent::Retrying { .. }))
            .count(),
        3
    );
}

#[test]
fn failures_that_end_the_turn() {
    let five_hundred = || {
        Reply::Fail(Failure::Status {
            code: 500,
            retry_after: None,
            body: "oops".into(),
        })
    };
    let (r, t, ..) = turn(WireApi::Responses, (0..4).map(|_| five_hundred()).collect());
    assert_eq!(t.bodies.len(), 4, "first try plus 3 retries");
    assert!(matches!(r, Err(TurnError::Request(m)) if m.contains("HTTP 500")));
    let (r, t, ..) = turn(
        WireApi::Responses,
        vec![Reply::Fail(Failure::Status {
            code: 401,
            retry_after: None,
            body: "bad key".into(),
        })],
    );
    assert_eq!(t.bodies.len(), 1, "4xx is not retried");
    assert!(matches!(r, Err(TurnError::Request(m)) if m.contains("bad key")));
    let (r, ..) = turn(
        WireApi::Responses,
        vec![Reply::Sse(
            "event: response.output_text.delta\ndata: {oops\n\n".into(),
        )],
    );
    assert!(matches!(
        r,
        Err(TurnError::Stream(StreamError::Malformed { .. }))
    ));
    let looping = (0..8)
        .map(|i| {
            Reply::Sse(responses_call(
                &format!("c{i}"),
                "shell",
                "{\"command\":[\"true\"]}",
            ))
        })
        .collect();
    let (r, ..) = turn(WireApi::Responses, looping);
    assert_eq!(r, Err(TurnError::TooManySteps(8)));
}

#[test]
fn bad_tool_arguments_go_back_to_the_model() {
    let (r, t, tools, ..) = turn(
        WireApi::Responses,
        vec![
            Reply::Sse(responses_call("c1", "shell", "{\"command\":\"ls\"}")),
            Reply::Sse(responses_call("c2", "frobnicate", "{}")),
            Reply::Sse(responses_text("gave up")),
        ],
    );
    assert_eq!(r.unwrap().0, "gave up");
    assert!(tools.ran.is_empty());
    let last = t.bodies[2]["input"].to_string();
    assert!(
        last.contains("must be a non-empty array") && last.contains("unknown tool `frobnicate`"),
        "{last}"
    );
}

/// A transport whose chunks note in `log` when each is handed over.
struct Logged {
    chunks: Vec<String>,
    log: std::rc::Rc<std::cell::RefCell<Vec<String>>>,
}

impl Transport for Logged {
    fn send(&mut self, _body: &Value) -> Result<Chunks<'_>, Failure> {
        let log = self.log.clone();
        let chunks = std::mem::take(&mut self.chunks);
        Ok(Box::new(chunks.into_iter().enumerate().map(
            move |(i, c)| {
                log.borrow_mut().push(format!("chunk {i}"));
                Ok(c.into_bytes())
            },
        )))
    }
}

#[test]
fn deltas_are_reported_as_they_stream() {
    let delta = |t: &str| {
        format!(
            "event: response.output_text.delta\ndata: {}\n\n",
            serde_json::json!({"delta": t})
        )
    };
    let log = std::rc::Rc::new(std::cell::RefCell::new(Vec::new()));
    let mut transport = Logged {
        chunks: vec![
            delta("one "),
            delta("two"),
            "event: response.completed\ndata: {\"response\":{}}\n\n".into(),
        ],
        log: log.clone(),
    };
    let mut tools = FakeTools::default();
    let mut history = vec![Item::User("hi".into())];
    let (text, _) = run_turn(
        &mut transport,
        &mut tools,
        &cfg(WireApi::Responses),
        &mut history,
        &mut |e| {
            if let AgentEvent::TextDelta(t) = e {
                log.borrow_mut().push(format!("delta {t}"));
            }
        },
    )
    .unwrap();
    assert_eq!(text, "one two");
    assert_eq!(
        *log.borrow(),
        ["chunk 0", "delta one ", "chunk 1", "delta two", "chunk 2"]
    );
}

/// Each request's usage is reported on its own (the context the next
/// request starts from), beside the turn's sum.
#[test]
fn each_requests_usage_is_reported_and_the_turn_sums_them() {
    let with_usage = |id: &str, input: u64| {
        format!(
            "event: response.output_item.done\ndata: {}\n\nevent: response.completed\ndata: {{\"response\":{{\"usage\":{{\"input_tokens\":{input},\"output_tokens\":1}}}}}}\n\n",
            serde_json::json!({"item": {"type": "function_call", "call_id": id, "name": "shell", "arguments": "{\"command\":[\"ls\"]}"}})
        )
    };
    let (r, _, _, events, _) = turn(
        WireApi::Responses,
        vec![
            Reply::Sse(with_usage("c1", 100)),
            Reply::Sse(with_usage("c2", 200)),
            Reply::Sse(responses_text("done")),
        ],
    );
    let per_request: Vec<u64> = events
        .iter()
        .filter_map(|e| match e {
            AgentEvent::Usage(u) => Some(u.input_tokens),
            _ => None,
        })
        .collect();
    assert_eq!(per_request, vec![100, 200, 10]);
    assert_eq!(r.unwrap().1.input_tokens, 310);
}

/// A summary request carries the history and the prompt, runs no tool and
/// returns the text; an empty answer is an error (the history is kept).
#[test]
fn summarize_asks_once_and_returns_the_text() {
    let mut t = Scripted {
        replies: vec![
            Reply::Sse(responses_text("we did X")),
            Reply::Sse(responses_call("c", "shell", "{\"command\":[\"ls\"]}")),
        ]
        .into(),
        bodies: vec![],
    };
    let history = vec![Item::User("do X".into()), Item::Assistant("done X".into())];
    let (text, usage) = summarize(
        &mut t,
        &cfg(WireApi::Responses),
        &history,
        "SUMMARIZE",
        &mut |_| {},
    )
    .unwrap();
    assert_eq!(text, "we did X");
    assert_eq!(usage.output_tokens, 2);
    let body = t.bodies[0].to_string();
    assert!(
        body.contains("do X") && body.contains("SUMMARIZE"),
        "{body}"
    );
    let empty = summarize(&mut t, &cfg(WireApi::Responses), &history, "S", &mut |_| {});
    assert!(matches!(empty, Err(TurnError::Request(_))), "{empty:?}");
}

/// A response past `auto_compact` whose calls keep the turn going: after
/// the calls ran, one summarisation request (the history before that
/// response), then the turn goes on from the summary, the calls and
/// their outputs; a response under the limit compacts nothing.
#[test]
fn a_full_context_in_the_middle_of_a_turn_is_compacted_and_the_turn_goes_on() {
    let call = |id: &str, input: u64| {
        format!(
            "event: response.output_item.done\ndata: {}\n\nevent: response.completed\ndata: {{\"response\":{{\"usage\":{{\"input_tokens\":{input},\"output_tokens\":1}}}}}}\n\n",
            serde_json::json!({"item": {"type": "function_call", "call_id": id, "name": "shell", "arguments": "{\"command\":[\"ls\"]}"}})
        )
    };
    let mut t = Scripted {
        replies: vec![
            // Under the limit: no compaction.
            Reply::Sse(call("c1", 50)),
            // Past it, and a call pending: compacted after it ran.
            Reply::Sse(call("c2", 150)),
            Reply::Sse(responses_text("SUMMARY: listed twice")),
            Reply::Sse(responses_text("done")),
        ]
        .into(),
        bodies: vec![],
    };
    let mut tools = FakeTools::default();
    let mut events = Vec::new();
    let mut history = vec![Item::User("the original prompt".into())];
    let mut cfg = cfg(WireApi::Responses);
    cfg.auto_compact = Some(100);
    let (text, usage) = run_turn(&mut t, &mut tools, &cfg, &mut history, &mut |e| {
        events.push(e)
    })
    .unwrap();
    assert_eq!(text, "done");
    assert_eq!(tools.ran.len(), 2, "both calls ran, once each");
    assert_eq!(t.bodies.len(), 4);
    let asked = t.bodies[2].to_string();
    assert!(
        asked.contains("will be replaced by your summary")
            && asked.contains("the original prompt")
            && asked.contains("\"c1\""),
        "the summary request carries what came before: {asked}"
    );
    assert!(!asked.contains("\"c2\""), "not the step going on: {asked}");
    let next = &t.bodies[3]["input"];
    assert_eq!(next.as_array().unwrap().len(), 3, "{next}");
    assert!(next[0]["content"][0]["text"]
        .as_str()
        .unwrap()
        .ends_with("SUMMARY: listed twice"));
    assert_eq!(next[1]["type"], "function_call");
    assert_eq!(next[1]["call_id"], "c2");
    assert_eq!(next[2]["type"], "function_call_output");
    assert_eq!(next[2]["call_id"], "c2");
    assert!(next[2]["output"].as_str().unwrap().contains("xxxx"));
    assert!(!next.to_string().contains("the original prompt"));
    let compacted: Vec<&AgentEvent> = events
        .iter()
        .filter(|e| matches!(e, AgentEvent::Compacted { .. }))
        .collect();
    assert_eq!(compacted.len(), 1);
    if let AgentEvent::Compacted { summary, kept } = compacted[0] {
        assert_eq!(summary, "SUMMARY: listed twice");
        assert_eq!(kept.len(), 2, "{kept:?}");
    }
    assert_eq!(
        history.len(),
        4,
        "summary, call, output, answer: {history:?}"
    );
    // The summarisation's tokens count in the turn's usage.
    assert_eq!(usage.input_tokens, 50 + 150 + 10 + 10);
}

/// Without a limit, the same script never compacts.
#[test]
fn no_limit_no_compaction_in_the_middle_of_a_turn() {
    let call = format!(
        "event: response.output_item.done\ndata: {}\n\nevent: response.completed\ndata: {{\"response\":{{\"usage\":{{\"input_tokens\":1000000,\"output_tokens\":1}}}}}}\n\n",
        serde_json::json!({"item": {"type": "function_call", "call_id": "c", "name": "shell", "arguments": "{\"command\":[\"ls\"]}"}})
    );
    let (r, t, _, events, _) = turn(
        WireApi::Responses,
        vec![Reply::Sse(call), Reply::Sse(responses_text("done"))],
    );
    assert_eq!(r.unwrap().0, "done");
    assert_eq!(t.bodies.len(), 2);
    assert!(!events
        .iter()
        .any(|e| matches!(e, AgentEvent::Compacted { .. })));
}
