//! The agent core. Today: the `apply_patch` tool ([`patch`]), which the
//! model uses to add, update, move and delete files. The model clients, the
//! other tools and the turn loop arrive with `cordon exec`.

pub mod patch;
