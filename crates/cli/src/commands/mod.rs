//! One module per command; each takes settings, never clap structs.

pub mod doctor;
pub mod sandbox;
