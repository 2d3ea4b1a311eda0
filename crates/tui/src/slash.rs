//! Slash commands typed in the composer.

/// A parsed slash command.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Slash {
    /// `/status`.
    Status,
    /// `/model [NAME]`.
    Model(Option<String>),
    /// `/approvals [read-only|auto|full-access]`.
    Approvals(Option<String>),
    /// `/new`.
    New,
    /// `/resume`.
    Resume,
    /// `/diff`.
    Diff,
    /// `/compact`.
    Compact,
    /// `/init`.
    Init,
    /// `/mention`.
    Mention,
    /// `/ps`.
    Ps,
    /// `/mcp`.
    Mcp,
    /// `/quit` or `/exit`.
    Quit,
    /// Anything else starting with `/`.
    Unknown(String),
}

/// What `/init` submits as a turn.
pub const INIT_PROMPT: &str = "Write an AGENTS.md file at the root of this repository for coding agents who will work on it after you. Look around first (the layout, build files, README, CI configuration, a few source files). Then write, concisely and only what is true of this project: what it is; the layout (which directory holds what); how to build, run the tests (a single test too), lint and format; the code style and naming the code follows; how commits and pull requests are written here (from the history); anything surprising an agent must know (generated files, slow tests, required services). Use short sections with bullet points and exact commands. Create the file with apply_patch; do not change anything else.";

/// Every command, with a line of help.
pub const COMMANDS: &[(&str, &str)] = &[
    (
        "/status",
        "session, model, sandbox, network, approvals, tokens",
    ),
    ("/model", "switch the model for the next turn: /model NAME"),
    (
        "/approvals",
        "read-only, auto (workspace-write + on-request) or full access",
    ),
    ("/new", "start a new session"),
    ("/resume", "continue a saved session"),
    (
        "/diff",
        "git diff of the workspace, untracked files included",
    ),
    ("/compact", "replace the conversation with its summary"),
    (
        "/init",
        "have the model write an AGENTS.md for this project",
    ),
    ("/mention", "pick a file to mention (like typing @)"),
    ("/ps", "the commands still running (exec_command)"),
    ("/mcp", "the MCP servers: state, command, sandbox, tools"),
    ("/quit", "leave"),
    ("/exit", "leave"),
];

/// Parses `text` when it is a slash command (one line starting with `/`).
pub fn parse(text: &str) -> Option<Slash> {
    let text = text.trim();
    if !text.starts_with('/') || text.contains('\n') {
        return None;
    }
    let mut parts = text.splitn(2, char::is_whitespace);
    let name = parts.next().unwrap_or("");
    let arg = parts
        .next()
        .map(str::trim)
        .filter(|a| !a.is_empty())
        .map(str::to_string);
    Some(match name {
        "/status" => Slash::Status,
        "/model" => Slash::Model(arg),
        "/approvals" => Slash::Approvals(arg),
        "/new" => Slash::New,
        "/resume" => Slash::Resume,
        "/diff" => Slash::Diff,
        "/quit" | "/exit" => Slash::Quit,
        "/init" => Slash::Init,
        "/compact" => Slash::Compact,
        "/mention" => Slash::Mention,
        "/ps" => Slash::Ps,
        "/mcp" => Slash::Mcp,
        other => Slash::Unknown(other.to_string()),
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn parses_commands_and_arguments() {
        assert_eq!(parse(" /status "), Some(Slash::Status));
        assert_eq!(
            parse("/model  gpt-x"),
            Some(Slash::Model(Some("gpt-x".into())))
        );
        assert_eq!(parse("/model"), Some(Slash::Model(None)));
        assert_eq!(parse("/exit"), Some(Slash::Quit));
        assert_eq!(parse("/frob"), Some(Slash::Unknown("/frob".into())));
        assert_eq!(parse("/status\nmore"), None);
        assert_eq!(parse("hello /status"), None);
    }
}
