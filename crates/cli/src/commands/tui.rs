//! `cordon [PROMPT]` and `cordon resume`: the interactive UI, only on a
//! terminal.

use crate::settings::UsageError;
use anyhow::Result;
use std::io::IsTerminal;

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
