//! `apply_patch`: parse a patch in the `*** Begin Patch` format and apply
//! it to files under a working directory, all or nothing.
//!
//! ```text
//! *** Begin Patch
//! *** Add File: src/new.rs
//! +fn main() {}
//! *** Update File: src/lib.rs
//! *** Move to: src/core.rs
//! @@ fn old()
//!  context
//! -removed
//! +added
//! *** Delete File: README.old
//! *** End Patch
//! ```
//!
//! Matching is exact (no fuzz): a hunk's context and removed lines must
//! appear, in order, after the previous hunk (and after its `@@` anchor
//! line, when it names one). Every hunk of every file is checked before
//! anything is written, so a failing patch changes nothing. Paths are
//! relative to the working directory; every file touched must be writable
//! under the session's sandbox policy.

mod apply;
pub mod helper;
mod parse;

pub use apply::{apply, plan, preview, Applied, FileChange};
pub use parse::{parse, parse_heredoc_invocation, Hunk, Operation, Patch};

use std::path::PathBuf;

/// Why a patch was refused.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum PatchError {
    /// The patch text is malformed.
    #[error("invalid patch, line {line}: {message}")]
    Syntax {
        /// 1-based line of the patch text.
        line: usize,
        /// What is wrong.
        message: String,
    },
    /// A hunk does not match the file.
    #[error("{path}: hunk {hunk}{anchor} did not match the file; expected these lines in order:\n{expected}")]
    NoMatch {
        /// The file.
        path: String,
        /// 1-based hunk number within the file.
        hunk: usize,
        /// ` (@@ anchor)` when the hunk had one.
        anchor: String,
        /// The lines that were looked for.
        expected: String,
    },
    /// A path is absolute, escapes the working directory, or is empty.
    #[error("{path}: paths must be relative to the working directory and stay inside it")]
    BadPath {
        /// The path as written.
        path: String,
    },
    /// The sandbox policy does not allow writing there.
    #[error("{path}: the sandbox policy does not allow writing here")]
    Denied {
        /// The path.
        path: PathBuf,
    },
    /// Add over an existing file, update or delete of a missing one, and the like.
    #[error("{path}: {message}")]
    State {
        /// The path.
        path: String,
        /// What is wrong.
        message: String,
    },
    /// Reading or writing failed.
    #[error("{path}: {message}")]
    Io {
        /// The path.
        path: PathBuf,
        /// The OS error.
        message: String,
    },
}
