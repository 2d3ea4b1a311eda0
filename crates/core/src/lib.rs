//! The agent core. So far: the `apply_patch` tool ([`patch`]) and the
//! decoding of model streams for both wire APIs ([`model`]). The HTTP
//! clients, the other tools and the turn loop arrive with `cordon exec`.

pub mod model;
pub mod patch;
