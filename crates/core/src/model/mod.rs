//! Model streams: requests over [`crate::http`]'s client ([`client`]),
//! Server-Sent Events ([`sse`]) decoded into [`ModelEvent`]s for both wire
//! APIs ([`decode`]): OpenAI's Responses API and Chat Completions (whose
//! function-call arguments arrive in pieces).

pub mod client;
pub mod decode;
pub mod request;
pub mod retry;
pub mod sse;

pub use decode::{ChatDecoder, ResponsesDecoder};
pub use sse::{SseEvent, SseParser};

/// What a model stream says, in the order it says it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum ModelEvent {
    /// A piece of the answer text.
    TextDelta(String),
    /// A piece of a reasoning summary.
    ReasoningDelta(String),
    /// A complete function call.
    FunctionCall {
        /// The call's id (to answer with its output).
        call_id: String,
        /// The tool name.
        name: String,
        /// The arguments, as JSON text.
        arguments: String,
    },
    /// The turn finished.
    Completed {
        /// Token usage, when reported.
        usage: Option<Usage>,
    },
}

/// Token counts.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub struct Usage {
    /// Prompt tokens.
    pub input_tokens: u64,
    /// Completion tokens.
    pub output_tokens: u64,
}

/// A stream that cannot be decoded.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum StreamError {
    /// An event's data is not the JSON expected; names the event and why.
    #[error("malformed stream event `{event}`: {reason}")]
    Malformed {
        /// Event name (or `message`).
        event: String,
        /// What is wrong.
        reason: String,
    },
    /// The server reported an error inside the stream.
    #[error("the model service reported an error: {0}")]
    Remote(String),
    /// The stream ended before the turn completed (retryable).
    #[error("the stream ended before the response completed")]
    Truncated,
    /// An event or line exceeded the size cap.
    #[error("stream event larger than {0} bytes")]
    TooLarge(usize),
}
