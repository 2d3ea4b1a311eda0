//! `cordon [PROMPT]` and `cordon resume`: the interactive UI, only on a
//! terminal.

use crate::settings::UsageError;
use anyhow::Result;
use cordon_tui::elicit::{ElicitAnswer, ElicitRequest};
use std::io::IsTerminal;
use std::sync::Arc;

/// Refuses unless stdin and stdout are terminals.
pub fn require_terminal() -> Result<()> {
    if !std::io::stdin().is_terminal() || !std::io::stdout().is_terminal() {
        return Err(UsageError(
            "the interactive UI needs a terminal on stdin and stdout; for scripts and pipes use `cordon exec PROMPT` (see `cordon exec --help`)".into(),
        )
        .into());
    }
    Ok(())
}

/// Runs the UI.
pub fn run(config: cordon_tui::TuiConfig) -> Result<i32> {
    Ok(cordon_tui::run(config)?)
}

/// Servers' questions go to the UI's form.
struct FormElicitor(cordon_tui::Elicit);

impl cordon_mcp::Elicitor for FormElicitor {
    fn elicit(
        &self,
        server: &str,
        message: &str,
        schema: &serde_json::Value,
    ) -> cordon_mcp::Elicitation {
        let answer = (self.0)(ElicitRequest {
            server: server.to_string(),
            message: message.to_string(),
            schema: schema.clone(),
        });
        match answer {
            ElicitAnswer::Accept(content) => cordon_mcp::Elicitation::Accept(content),
            ElicitAnswer::Decline => cordon_mcp::Elicitation::Decline,
            ElicitAnswer::Cancel => cordon_mcp::Elicitation::Cancel,
        }
    }
}

/// How the UI starts `servers`: in the background, on the MCP client's
/// own runtime, their questions answered by the UI's form.
pub fn mcp_start(
    (servers, ctx): (
        Vec<cordon_config::McpServerConfig>,
        cordon_mcp::LaunchContext,
    ),
) -> cordon_tui::McpStart {
    Box::new(move |elicit| {
        let manager = cordon_mcp::McpManager::start(servers, ctx, Arc::new(FormElicitor(elicit)))
            .map_err(|e| e.to_string())?;
        Ok(cordon_core::tool_provider::SharedProvider::new(Arc::new(
            manager,
        )))
    })
}
