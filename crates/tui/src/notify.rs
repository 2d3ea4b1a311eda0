//! Desktop notifications through the terminal: OSC 9 where the terminal
//! shows it, BEL elsewhere, wrapped for tmux's passthrough. Under WSL 2
//! inside Windows Terminal, a Windows toast through `powershell.exe`
//! instead (found like `notify`'s program: never inside a writable root).

use std::path::{Path, PathBuf};

/// How notifications are shown.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Notifier {
    /// OSC 9 or BEL written to the terminal ([`sequence`]).
    Terminal,
    /// A Windows toast through this `powershell.exe`.
    WslToast(PathBuf),
}

/// Whether this is WSL inside Windows Terminal: `WT_SESSION` set and a
/// kernel release naming Microsoft or WSL (`…-microsoft-standard-WSL2`).
pub fn in_wsl_windows_terminal(wt_session: Option<&str>, kernel_release: &str) -> bool {
    let release = kernel_release.to_ascii_lowercase();
    wt_session.is_some_and(|s| !s.is_empty())
        && (release.contains("microsoft") || release.contains("wsl"))
}

/// The notifier for `wt_session` (`$WT_SESSION`) and `kernel_release`
/// (`/proc/sys/kernel/osrelease`), given where `powershell.exe` resolved
/// (an absolute path outside the writable roots, else why not): the toast
/// under WSL in Windows Terminal when powershell.exe was found safely,
/// the terminal otherwise.
pub fn choose(
    wt_session: Option<&str>,
    kernel_release: &str,
    powershell: Result<PathBuf, String>,
) -> Notifier {
    if !in_wsl_windows_terminal(wt_session, kernel_release) {
        return Notifier::Terminal;
    }
    match powershell {
        Ok(path) if path.is_absolute() => Notifier::WslToast(path),
        Ok(_) => Notifier::Terminal,
        Err(e) => {
            log::warn!("no Windows toast: {e}");
            Notifier::Terminal
        }
    }
}

/// [`choose`] for this process: `powershell.exe` searched on `PATH` like
/// `notify`'s program, refused inside `untrusted` (the writable roots).
pub fn for_this_process(cwd: &Path, untrusted: &[PathBuf]) -> Notifier {
    let release = std::fs::read_to_string("/proc/sys/kernel/osrelease").unwrap_or_default();
    let wt = std::env::var("WT_SESSION").ok();
    if !in_wsl_windows_terminal(wt.as_deref(), &release) {
        return Notifier::Terminal;
    }
    let found = cordon_core::notify::resolve(&["powershell.exe".to_string()], cwd, untrusted)
        .map(|argv| PathBuf::from(&argv[0]));
    choose(wt.as_deref(), &release, found)
}

/// The PowerShell script that shows `message` as a toast.
pub fn toast_script(message: &str) -> String {
    let message: String = message
        .chars()
        .filter(|c| !c.is_control())
        .take(200)
        .collect::<String>()
        .replace('\'', "''");
    format!(
        "$ErrorActionPreference='Stop'; \
[Windows.UI.Notifications.ToastNotificationManager, Windows.UI.Notifications, ContentType = WindowsRuntime] > $null; \
$x = [Windows.UI.Notifications.ToastNotificationManager]::GetTemplateContent([Windows.UI.Notifications.ToastTemplateType]::ToastText01); \
$x.GetElementsByTagName('text').Item(0).AppendChild($x.CreateTextNode('{message}')) > $null; \
[Windows.UI.Notifications.ToastNotificationManager]::CreateToastNotifier('{{1AC14E77-02E7-4E5D-B744-2EB1AE5198B7}}\\WindowsPowerShell\\v1.0\\powershell.exe').Show([Windows.UI.Notifications.ToastNotification]::new($x))"
    )
}

/// `script` for `-EncodedCommand`: UTF-16LE, base64 (no quoting survives
/// the trip through WSL's interop otherwise).
pub fn encode_command(script: &str) -> String {
    const ALPHABET: &[u8; 64] = b"ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789+/";
    let bytes: Vec<u8> = script.encode_utf16().flat_map(u16::to_le_bytes).collect();
    let mut out = String::with_capacity(bytes.len().div_ceil(3) * 4);
    for chunk in bytes.chunks(3) {
        let n = chunk
            .iter()
            .enumerate()
            .fold(0u32, |n, (i, b)| n | (u32::from(*b) << (16 - 8 * i)));
        for i in 0..4 {
            if i <= chunk.len() {
                out.push(char::from(ALPHABET[((n >> (18 - 6 * i)) & 63) as usize]));
            } else {
                out.push('=');
            }
        }
    }
    out
}

/// Shows `message` as a Windows toast through `powershell` (not waited
/// for; a failure is logged).
pub fn toast(powershell: &Path, message: &str) {
    let child = std::process::Command::new(powershell)
        .args(["-NoProfile", "-NonInteractive", "-EncodedCommand"])
        .arg(encode_command(&toast_script(message)))
        .stdin(std::process::Stdio::null())
        .stdout(std::process::Stdio::null())
        .stderr(std::process::Stdio::null())
        .spawn();
    match child {
        Ok(mut c) => {
            std::thread::spawn(move || {
                let _ = c.wait();
            });
        }
        Err(e) => log::warn!("cannot run {}: {e}", powershell.display()),
    }
}

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
    use super::*;

    #[test]
    fn wsl_in_windows_terminal_gets_a_toast_and_nothing_else_does() {
        let ps = || {
            Ok(PathBuf::from(
                "/mnt/c/Windows/System32/WindowsPowerShell/v1.0/powershell.exe",
            ))
        };
        let wsl2 = "5.15.167.4-microsoft-standard-WSL2";
        assert_eq!(
            choose(Some("0d3c-guid"), wsl2, ps()),
            Notifier::WslToast(ps().unwrap())
        );
        // Not inside Windows Terminal, or not WSL.
        assert_eq!(choose(None, wsl2, ps()), Notifier::Terminal);
        assert_eq!(choose(Some(""), wsl2, ps()), Notifier::Terminal);
        assert_eq!(
            choose(Some("g"), "6.8.0-45-generic", ps()),
            Notifier::Terminal
        );
        // powershell.exe not found, or only inside a writable root.
        assert_eq!(
            choose(Some("g"), wsl2, Ok(PathBuf::from("powershell.exe"))),
            Notifier::Terminal
        );
        assert_eq!(
            choose(Some("g"), wsl2, Err("inside the writable root".into())),
            Notifier::Terminal
        );
        // A powershell.exe planted in a writable root is refused by the resolver.
        let root = tempfile::tempdir().unwrap();
        let planted = root.path().join("powershell.exe");
        std::fs::write(&planted, "#!/bin/sh\n").unwrap();
        let found = cordon_core::notify::resolve(
            &[planted.display().to_string()],
            root.path(),
            &[root.path().to_path_buf()],
        );
        assert!(found.is_err(), "{found:?}");
        let chosen = choose(Some("g"), wsl2, found.map(|a| PathBuf::from(&a[0])));
        assert_eq!(chosen, Notifier::Terminal);
    }

    #[test]
    fn the_toast_script_is_quoted_and_encoded_as_utf16le_base64() {
        let script = toast_script("it's \x1bdone");
        assert!(script.contains("CreateTextNode('it''s done')"), "{script}");
        assert_eq!(encode_command("a"), "YQA=");
        assert_eq!(encode_command("ab"), "YQBiAA==");
        assert_eq!(encode_command("abc"), "YQBiAGMA");
    }

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
