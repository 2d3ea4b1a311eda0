//! Terminal modes: raw mode, bracketed paste, focus events, the keyboard
//! protocol that tells Shift+Enter from Enter, the alternate screen; and
//! putting all of it back on exit, on panic and on SIGTERM/SIGHUP.

use crossterm::event::{
    DisableBracketedPaste, DisableFocusChange, EnableBracketedPaste, EnableFocusChange,
    KeyboardEnhancementFlags, PopKeyboardEnhancementFlags, PushKeyboardEnhancementFlags,
};
use crossterm::terminal::{EnterAlternateScreen, LeaveAlternateScreen};
use crossterm::{cursor, execute};
use std::io::Write;
use std::sync::atomic::{AtomicBool, Ordering};

/// Whether the terminal is in the TUI's modes (so a restore is due).
static ACTIVE: AtomicBool = AtomicBool::new(false);
/// Whether the alternate screen was entered.
static ALT: AtomicBool = AtomicBool::new(false);
/// Whether a pager holds the alternate screen.
static PAGER: AtomicBool = AtomicBool::new(false);

/// Records that a pager entered (or left) the alternate screen, so a
/// restore leaves it.
pub fn set_pager(open: bool) {
    PAGER.store(open, Ordering::SeqCst);
}

/// Puts the terminal in the TUI's modes.
pub fn enter(alternate_screen: bool) -> std::io::Result<()> {
    crossterm::terminal::enable_raw_mode()?;
    ACTIVE.store(true, Ordering::SeqCst);
    let mut out = std::io::stdout();
    execute!(
        out,
        EnableBracketedPaste,
        EnableFocusChange,
        // Terminals without the protocol ignore it.
        PushKeyboardEnhancementFlags(KeyboardEnhancementFlags::DISAMBIGUATE_ESCAPE_CODES)
    )?;
    if alternate_screen {
        execute!(
            out,
            EnterAlternateScreen,
            crossterm::terminal::Clear(crossterm::terminal::ClearType::All),
            cursor::MoveTo(0, 0)
        )?;
        ALT.store(true, Ordering::SeqCst);
    }
    Ok(())
}

/// Whether the whole UI runs on the alternate screen
/// (`[tui] alternate_screen = "always"`).
pub fn on_alternate_screen() -> bool {
    ALT.load(Ordering::SeqCst)
}

/// Restores the terminal (idempotent; safe from a panic hook).
pub fn restore() {
    if !ACTIVE.swap(false, Ordering::SeqCst) {
        return;
    }
    let mut out = std::io::stdout();
    let _ = execute!(
        out,
        PopKeyboardEnhancementFlags,
        DisableBracketedPaste,
        DisableFocusChange,
        cursor::Show,
        crossterm::style::ResetColor
    );
    if ALT.swap(false, Ordering::SeqCst) | PAGER.swap(false, Ordering::SeqCst) {
        let _ = execute!(out, LeaveAlternateScreen);
    }
    let _ = crossterm::terminal::disable_raw_mode();
    let _ = out.flush();
}

/// Restores the terminal before the default panic report.
pub fn install_panic_hook() {
    let previous = std::panic::take_hook();
    std::panic::set_hook(Box::new(move |info| {
        restore();
        previous(info);
    }));
}

/// Blocks SIGTERM, SIGHUP and SIGQUIT in this thread (and the threads it
/// starts later) and returns a function that waits for one of them.
/// Call before any other thread starts.
#[cfg(unix)]
pub fn block_signals() -> impl FnMut() -> Option<i32> + Send {
    // SAFETY: builds a signal set on the stack and blocks it in this
    // thread; threads started later inherit the mask, and std resets it
    // for child processes.
    let set = unsafe {
        let mut set: libc::sigset_t = std::mem::zeroed();
        libc::sigemptyset(&mut set);
        libc::sigaddset(&mut set, libc::SIGTERM);
        libc::sigaddset(&mut set, libc::SIGHUP);
        libc::sigaddset(&mut set, libc::SIGQUIT);
        libc::pthread_sigmask(libc::SIG_BLOCK, &set, std::ptr::null_mut());
        set
    };
    move || {
        let mut sig: libc::c_int = 0;
        // SAFETY: waits for one of the blocked signals in `set`.
        (unsafe { libc::sigwait(&set, &mut sig) } == 0).then_some(sig)
    }
}
