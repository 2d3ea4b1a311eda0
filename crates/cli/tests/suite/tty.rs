//! `cordon sandbox` on a terminal: the command gets a pseudo-terminal of
//! its own, on the sandbox's devpts, as its controlling terminal (issue 17
//! item 1), driven here from a pseudo-terminal the test opens.

use super::common::{World, PROBE};
use super::tui::{Tui, COLS, ROWS};

/// An interactive shell in the sandbox: `tty` names the sandbox's own pty,
/// only that pty is visible, job control works, and `stty size` follows
/// the outer terminal, also after a resize. Control: with `--no-tty` the
/// same shell has no terminal of its own and says so.
#[test]
fn a_shell_gets_a_terminal_of_its_own_with_job_control_and_sizes() {
    let w = World::new();
    let mut t = Tui::spawn(
        &w,
        &["sandbox", "--", "bash", "--norc", "--noprofile", "-i"],
        &[("PS1", "$ ")],
    );
    t.send("tty; ls /dev/pts; readlink /proc/self/fd/0\r");
    // `tty` and the link both name the sandbox's own pty; its devpts holds
    // nothing else.
    let screen = t.wait_until("two /dev/pts/0 lines and only 0 and ptmx", |s| {
        s.lines().filter(|l| l.trim() == "/dev/pts/0").count() == 2
            && s.lines()
                .any(|l| l.split_whitespace().collect::<Vec<_>>() == ["0", "ptmx"])
    });
    assert!(!screen.contains("no job control"), "{screen}");
    assert!(
        !screen.contains("cannot set terminal process group"),
        "{screen}"
    );
    t.send("stty size; sleep 30 & jobs\r");
    t.wait_for(&format!("{ROWS} {COLS}"));
    t.wait_for("Running");
    t.resize(40, 70);
    t.send("stty size\r");
    t.wait_for("40 70");
    t.send("kill %1; exit\r");
    let status = t.wait_exit();
    assert!(status.success(), "{status:?}");
    let modes = t.stty();
    assert!(
        modes.contains(" icanon") && modes.contains(" echo"),
        "restored: {modes}"
    );

    let w = World::new();
    let mut t = Tui::spawn(
        &w,
        &["sandbox", "--no-tty", "--", "sh", "-c", "tty; echo END"],
        &[],
    );
    let screen = t.wait_for("END");
    assert!(screen.contains("not a tty"), "control: {screen}");
    assert!(t.wait_exit().code() == Some(1) || screen.contains("END"));
}

/// `TIOCSTI` from inside reaches nothing outside: the command's streams are
/// the sandbox's own pty and the filter refuses the call (EPERM). Control:
/// under danger-full-access (no sandbox, no pty of its own) the same call
/// on the same stdin pushes input into the test's terminal.
#[test]
fn tiocsti_inside_cannot_reach_the_outer_terminal() {
    let legacy = std::fs::read_to_string("/proc/sys/dev/tty/legacy_tiocsti")
        .map(|v| v.trim() == "1")
        .unwrap_or(true);
    assert!(
        legacy || super::common::is_root(),
        "the control needs dev.tty.legacy_tiocsti=1 or root"
    );
    let w = World::new();
    let mut t = Tui::spawn(
        &w,
        &[
            "sandbox",
            "-s",
            "danger-full-access",
            "--",
            PROBE,
            "tiocsti-stdin",
        ],
        &[],
    );
    assert!(t.wait_exit().success(), "control: {}", t.screen());
    let w = World::new();
    let mut t = Tui::spawn(&w, &["sandbox", "--", PROBE, "tiocsti-stdin"], &[]);
    let screen = t.wait_for("denied");
    assert!(screen.contains("(os error 1)"), "EPERM: {screen}");
    assert_eq!(t.wait_exit().code(), Some(1));
}

/// The terminal comes back cooked when the command is killed from outside.
#[test]
fn the_terminal_is_restored_after_the_command_is_killed() {
    let w = World::new();
    let mut t = Tui::spawn(&w, &["sandbox", "--", "sleep", "37.5"], &[]);
    let start = std::time::Instant::now();
    let pid = loop {
        let found = std::process::Command::new("pgrep")
            .args(["-f", "^sleep 37.5$"])
            .output()
            .unwrap();
        let text = String::from_utf8_lossy(&found.stdout).into_owned();
        if let Some(pid) = text.split_whitespace().next() {
            break pid.parse::<i32>().unwrap();
        }
        assert!(start.elapsed().as_secs() < 20, "sleep never started");
        std::thread::sleep(std::time::Duration::from_millis(50));
    };
    assert!(!t.stty().contains(" icanon"), "raw while it runs");
    // SAFETY: signalling the sandboxed sleep this test started.
    unsafe { libc::kill(pid, libc::SIGKILL) };
    let status = t.wait_exit();
    assert_eq!(status.code(), Some(128 + 9));
    let modes = t.stty();
    assert!(
        modes.contains(" icanon") && modes.contains(" echo"),
        "{modes}"
    );
}
