//! Desktop notifications through the terminal: OSC 9 where the terminal
//! shows it, BEL elsewhere, wrapped for tmux's passthrough.

/// The bytes that notify with `message` for a terminal described by
/// `term_program` (`$TERM_PROGRAM`), `term` (`$TERM`) and whether it runs
/// under tmux.
pub fn sequence(message: &str, term_program: &str, term: &str, tmux: bool) -> String {
    let message: String = message
        .chars()
        .filter(|c| !c.is_control())
        .take(200)
        .collect();
    let osc9 = matches!(term_program, "iTerm.app" | "WezTerm" | "ghostty" | "vscode")
        || term.contains("kitty")
        || term.contains("ghostty")
        || term.contains("wezterm")
        || std::env::var_os("WT_SESSION").is_some();
    let seq = if osc9 || tmux {
        format!("\x1b]9;{message}\x07")
    } else {
        "\x07".to_string()
    };
    if tmux {
        // tmux passes a DCS-wrapped sequence through (with its escapes
        // doubled) when `allow-passthrough` is on.
        format!("\x1bPtmux;{}\x1b\\", seq.replace('\x1b', "\x1b\x1b"))
    } else {
        seq
    }
}

/// [`sequence`] for this process's terminal.
pub fn for_this_terminal(message: &str) -> String {
    let var = |k: &str| std::env::var(k).unwrap_or_default();
    sequence(
        message,
        &var("TERM_PROGRAM"),
        &var("TERM"),
        std::env::var_os("TMUX").is_some(),
    )
}

#[cfg(test)]
mod tests {
    use super::sequence;

    #[test]
    fn osc9_bel_and_tmux_passthrough() {
        assert_eq!(
            sequence("done", "WezTerm", "xterm", false),
            "\x1b]9;done\x07"
        );
        assert_eq!(sequence("done", "", "xterm-256color", false), "\x07");
        assert_eq!(
            sequence("a\x1bb", "tmux", "screen", true),
            "\x1bPtmux;\x1b\x1b]9;ab\x07\x1b\\"
        );
    }
}
