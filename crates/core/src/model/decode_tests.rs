use super::*;
use crate::model::SseParser;

fn events(text: &str) -> Vec<SseEvent> {
    SseParser::new().feed(text.as_bytes()).unwrap()
}

#[test]
fn responses_stream_text_reasoning_call_and_usage() {
    let s = events(concat!(
        "event: response.created\ndata: {\"response\":{}}\n\n",
        "event: response.reasoning_summary_text.delta\ndata: {\"delta\":\"think\"}\n\n",
        "event: response.output_text.delta\ndata: {\"delta\":\"Hel\"}\n\n",
        "event: response.output_text.delta\ndata: {\"delta\":\"lo\"}\n\n",
        "event: response.output_item.done\ndata: {\"item\":{\"type\":\"function_call\",\"call_id\":\"c1\",\"name\":\"shell\",\"arguments\":\"{\\\"command\\\":[\\\"ls\\\"]}\"}}\n\n",
        "event: response.completed\ndata: {\"response\":{\"usage\":{\"input_tokens\":7,\"output_tokens\":3}}}\n\n",
    ));
    let mut d = ResponsesDecoder::default();
    let out: Vec<ModelEvent> = s.iter().flat_map(|e| d.event(e).unwrap()).collect();
    assert_eq!(
        out,
        vec![
            ModelEvent::ReasoningDelta("think".into()),
            ModelEvent::TextDelta("Hel".into()),
            ModelEvent::TextDelta("lo".into()),
            ModelEvent::FunctionCall {
                call_id: "c1".into(),
                name: "shell".into(),
                arguments: "{\"command\":[\"ls\"]}".into()
            },
            ModelEvent::Completed {
                usage: Some(Usage {
                    input_tokens: 7,
                    output_tokens: 3
                })
            },
        ]
    );
    assert!(d.finish().is_ok());
}

#[test]
fn responses_errors_truncation_and_malformed_events() {
    let mut d = ResponsesDecoder::default();
    let e = events("event: response.output_text.delta\ndata: {not json\n\n");
    assert!(matches!(d.event(&e[0]), Err(StreamError::Malformed { .. })));
    let e = events("event: response.output_text.delta\ndata: {\"other\":1}\n\n");
    let err = d.event(&e[0]).unwrap_err();
    assert!(err.to_string().contains("`delta`"), "{err}");
    let e = events("event: response.failed\ndata: {\"response\":{\"error\":{\"message\":\"context too long\"}}}\n\n");
    assert_eq!(
        d.event(&e[0]),
        Err(StreamError::Remote("context too long".into()))
    );
    assert_eq!(
        ResponsesDecoder::default().finish(),
        Err(StreamError::Truncated)
    );
}

#[test]
fn chat_stream_assembles_tool_call_pieces() {
    let s = events(concat!(
        "data: {\"choices\":[{\"delta\":{\"content\":\"ok \"}}]}\n\n",
        "data: {\"choices\":[{\"delta\":{\"tool_calls\":[{\"index\":0,\"id\":\"call_1\",\"function\":{\"name\":\"shell\",\"arguments\":\"{\\\"comm\"}}]}}]}\n\n",
        "data: {\"choices\":[{\"delta\":{\"tool_calls\":[{\"index\":0,\"function\":{\"arguments\":\"and\\\":[\\\"ls\\\"]}\"}}]}}]}\n\n",
        "data: {\"choices\":[{\"delta\":{\"tool_calls\":[{\"index\":1,\"id\":\"call_2\",\"function\":{\"name\":\"update_plan\",\"arguments\":\"\"}}]}}]}\n\n",
        "data: {\"choices\":[{\"delta\":{},\"finish_reason\":\"tool_calls\"}]}\n\n",
        "data: {\"choices\":[],\"usage\":{\"prompt_tokens\":5,\"completion_tokens\":9}}\n\n",
        "data: [DONE]\n\n",
    ));
    let mut d = ChatDecoder::default();
    let out: Vec<ModelEvent> = s.iter().flat_map(|e| d.event(e).unwrap()).collect();
    assert_eq!(
        out,
        vec![
            ModelEvent::TextDelta("ok ".into()),
            ModelEvent::FunctionCall {
                call_id: "call_1".into(),
                name: "shell".into(),
                arguments: "{\"command\":[\"ls\"]}".into()
            },
            ModelEvent::FunctionCall {
                call_id: "call_2".into(),
                name: "update_plan".into(),
                arguments: "{}".into()
            },
            ModelEvent::Completed {
                usage: Some(Usage {
                    input_tokens: 5,
                    output_tokens: 9
                })
            },
        ]
    );
    assert_eq!(d.finish(), Ok(vec![]));
}

#[test]
fn chat_truncation_finish_without_done_and_errors() {
    let mut d = ChatDecoder::default();
    d.event(&events("data: {\"choices\":[{\"delta\":{\"content\":\"hi\"}}]}\n\n")[0])
        .unwrap();
    assert_eq!(d.finish(), Err(StreamError::Truncated));
    let mut d = ChatDecoder::default();
    d.event(
        &events(
            "data: {\"choices\":[{\"delta\":{\"content\":\"hi\"},\"finish_reason\":\"stop\"}]}\n\n",
        )[0],
    )
    .unwrap();
    assert_eq!(d.finish(), Ok(vec![ModelEvent::Completed { usage: None }]));
    let mut d = ChatDecoder::default();
    let e = events("data: {\"error\":{\"message\":\"rate limited\"}}\n\n");
    assert_eq!(
        d.event(&e[0]),
        Err(StreamError::Remote("rate limited".into()))
    );
    assert!(matches!(
        d.event(&events("data: [1,\n\n")[0]),
        Err(StreamError::Malformed { .. })
    ));
}
