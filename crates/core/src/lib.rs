//! The agent core. So far: the `apply_patch` tool ([`patch`]), the tool
//! schemas and output cap ([`tools`]), and the decoding and retry policy of
//! model streams for both wire APIs ([`model`]). The HTTP
//! clients, the other tools and the turn loop arrive with `cordon exec`.

pub mod instructions;
pub mod model;
pub mod notify;
pub mod patch;
pub mod rollout;
pub mod tools;
