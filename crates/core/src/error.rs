//! The core crate's error type for session-level failures; the turn loop,
//! streams and patches keep their own precise errors, wrapped here.

use std::path::PathBuf;

/// Why `cordon exec` could not run its turn.
#[derive(Debug, thiserror::Error)]
pub enum CoreError {
    /// The provider cannot be used as configured (bad URL, missing key).
    #[error("model provider `{provider}`: {message}")]
    Provider {
        /// Provider id.
        provider: String,
        /// What is wrong and how to fix it.
        message: String,
    },
    /// A session to resume was not found or is unreadable.
    #[error("session: {0}")]
    Session(String),
    /// The `notify` program cannot be run safely.
    #[error("notify: {0}")]
    Notify(String),
    /// A required MCP server did not start.
    #[error("{0}")]
    Mcp(String),
    /// A file could not be read or written.
    #[error("{path}: {message}")]
    Io {
        /// The file.
        path: PathBuf,
        /// The OS error.
        message: String,
    },
    /// The turn failed.
    #[error(transparent)]
    Turn(#[from] crate::agent::TurnError),
}
