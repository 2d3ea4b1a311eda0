//! The agent core: the turn loop ([`agent`]) over a transport and tool
//! runner, the `apply_patch` tool ([`patch`]), tool schemas and output cap
//! ([`tools`]), model stream decoding, request bodies and retry policy for
//! both wire APIs ([`model`]), project instructions, session files and
//! notifications. The HTTP
//! clients, the other tools and the turn loop arrive with `cordon exec`.

pub mod agent;
pub mod instructions;
pub mod model;
pub mod notify;
pub mod patch;
pub mod rollout;
pub mod tools;
