//! The TUI's error type.

/// Why the TUI could not run.
#[derive(Debug, thiserror::Error)]
pub enum TuiError {
    /// The terminal could not be set up or written.
    #[error("terminal: {0}")]
    Terminal(#[from] std::io::Error),
    /// The session could not start.
    #[error(transparent)]
    Session(#[from] cordon_core::CoreError),
}
