//! One module per command; each takes settings, never clap structs.

pub mod apply_patch;
pub mod doctor;
pub mod exec;
pub mod install_doctor;
pub mod macos;
pub mod mcp;
pub mod mcp_server;
pub mod proxy;
pub mod proxy_connect;
pub mod sandbox;
pub mod tui;
pub mod windows;
