//! Why no discovery agent answered a run: the same on every OS (off Linux
//! there is never an agent).

/// Why no agent answered.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum AgentUnavailable {
    /// None is running (no socket, or nobody listening): start one.
    NotRunning(String),
    /// The socket or its peer is not what it must be (a link, another
    /// owner, another user or mount namespace), or it did not answer in
    /// time: do not use it.
    Refused(String),
}

impl std::fmt::Display for AgentUnavailable {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            AgentUnavailable::NotRunning(why) => write!(f, "not running ({why})"),
            AgentUnavailable::Refused(why) => write!(f, "refused: {why}"),
        }
    }
}
