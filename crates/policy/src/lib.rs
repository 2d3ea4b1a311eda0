//! Policy data for cordon.
//!
//! A [`SandboxPolicy`] says what a sandboxed command may do: which file-system
//! roots it may write ([`WritableRoot`]), which paths inside those roots stay
//! read-only ([`ProtectedPath`]), and how it may reach the network
//! ([`NetworkMode`]). Nothing here makes a syscall that changes state; the
//! only file-system access is reading directories to discover protected paths
//! and canonicalising roots (see [`resolve`]).
//!
//! # Limitations
//! Protected paths are discovered when the policy is resolved. A `.git`
//! directory created later by a process *outside* the sandbox is not
//! protected for a sandbox that is already running.

mod mode;
pub mod network;
#[cfg(unix)]
#[path = "os/unix.rs"]
mod os;
#[cfg(windows)]
#[path = "os/windows.rs"]
mod os;
mod protected;
mod resolve;

pub use mode::{ApprovalPolicy, NetworkMode, SandboxMode, WindowsSandbox};
pub use protected::{
    discover_protected, is_protected_name, Discovery, DiscoveryBuilder, EntryKind, ProtectedKind,
    ProtectedPath, PROTECTED_NAMES,
};
pub use resolve::{
    resolve, resolve_with, Discover, FileId, PolicyInputs, SandboxPolicy, WritableRoot,
};

/// Errors from resolving a policy.
#[derive(Debug, thiserror::Error)]
pub enum PolicyError {
    /// The working directory could not be resolved.
    #[error("working directory {path}: {source}")]
    Cwd {
        /// The directory given.
        path: std::path::PathBuf,
        /// Why it failed.
        source: std::io::Error,
    },
    /// A writable root was given as a relative path with no base to resolve it against.
    #[error("writable root {0} must be an absolute path")]
    RelativeRoot(std::path::PathBuf),
}
