//! The agent core: the turn loop ([`agent`]) over a model transport and a
//! tool runner; the model clients for both wire APIs ([`model`]); the tools
//! (`shell` through the sandbox in [`runner`], [`patch`], plans); session
//! files ([`rollout`]), project instructions, notifications; and the
//! headless `cordon exec` ([`exec`]) with its JSON event stream ([`events`]).

pub mod agent;
pub mod approval;
mod error;
pub mod events;
pub mod exec;
pub mod http;
pub mod ids;
pub mod instructions;
pub mod interrupt;
mod launcher_spawn;
pub mod model;
pub mod notify;
pub mod patch;
pub mod pinned_dir;
pub mod processes;
pub mod rollout;
pub mod runner;
pub mod session;
pub mod shell_env;
pub mod tool_provider;
pub mod tools;
pub mod unified_exec;

pub use error::CoreError;
