//! Protected-path discovery that does not walk an unchanged tree.
//!
//! Every sandboxed run must know each `.git` and `.cordon` under its
//! writable roots ([`cordon_policy::discover_protected`] walks them all).
//! Two ways avoid reading every directory every time, both giving exactly
//! the plain walk's answer:
//!
//! - [`IndexStore`]: an index per root under `$CORDON_HOME/discovery`
//!   (read-only inside every sandbox) records each directory's identity,
//!   `ctime` and protected entries; a run reads again only the directories
//!   whose `ctime` changed and checks the rest with one `fstatat`.
//! - [`Watcher`]: a session watches its roots with inotify and hands each
//!   command the current set ([`HandedSet`]); a command costs the same in a
//!   large tree as in an empty one.
//!
//! - [`agent`]: a per-user agent keeps the roots one-shot runs asked
//!   about watched and answers each run with the current set.
//!
//! What a protected entry leads to (a `.git` file's pointer, `commondir`,
//! a link's target) is evaluated again on every run. Any doubt (a file
//! system whose `ctime` is not trusted, an unreadable or corrupt index, a
//! directory gone from an unchanged parent) means reading everything.
//! Off Linux both fall back to the plain walk.

mod agent_unavailable;
mod handed;
pub use handed::{HandedRoot, HandedSet};

#[cfg(target_os = "linux")]
mod linux;
#[cfg(target_os = "linux")]
pub use linux::{agent, Ignored, IndexStore, Report, WalkStats, Watcher};

#[cfg(not(target_os = "linux"))]
mod portable;
#[cfg(not(target_os = "linux"))]
pub use portable::{agent, IndexStore, Watcher};
