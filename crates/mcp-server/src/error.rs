//! The server's one error type.

/// Why `cordon mcp-server` stopped.
#[derive(Debug, thiserror::Error)]
pub enum McpServerError {
    /// The async runtime could not be built.
    #[error("cannot start the MCP server's runtime: {0}")]
    Runtime(std::io::Error),
    /// The MCP handshake on stdio failed.
    #[error("MCP initialization on stdio failed: {0}")]
    Initialize(String),
    /// The connection ended with an error.
    #[error("the MCP connection failed: {0}")]
    Connection(String),
}
