//! `cordon mcp-server`: serves until the client closes stdin.

use anyhow::Result;

/// Runs the MCP server; returns the exit status.
pub fn run(setup: cordon_mcp_server::Setup) -> Result<i32> {
    cordon_mcp_server::serve(setup)?;
    Ok(0)
}
