//! Exit codes, signals, and the life of the sandboxed tree.

use super::common::*;
use std::time::{Duration, Instant};

#[test]
fn exit_codes_and_signal_deaths_propagate() {
    let w = World::new();
    assert_eq!(
        w.cordon(&[], &["sh", "-c", "exit 7"]).status.code(),
        Some(7)
    );
    assert_eq!(w.cordon(&[], &["true"]).status.code(), Some(0));
    assert_eq!(
        w.cordon(&[], &["sh", "-c", "kill -TERM $$"]).status.code(),
        Some(143)
    );
    assert_eq!(
        w.cordon(&[], &["sh", "-c", "kill -KILL $$"]).status.code(),
        Some(137)
    );
    let missing = w.cordon(&[], &["/nonexistent/cordon-binary"]);
    assert_eq!(missing.status.code(), Some(127), "{}", text(&missing));
}

#[test]
fn stdio_passes_through() {
    let w = World::new();
    let mut c = w.cordon_cmd(&[], &["sh", "-c", "read x; echo \"got $x\"; echo err >&2"]);
    c.stdin(std::process::Stdio::piped())
        .stdout(std::process::Stdio::piped())
        .stderr(std::process::Stdio::piped());
    let mut child = c.spawn().unwrap();
    use std::io::Write;
    child.stdin.take().unwrap().write_all(b"hello\n").unwrap();
    let out = child.wait_with_output().unwrap();
    assert_eq!(String::from_utf8_lossy(&out.stdout), "got hello\n");
    assert_eq!(String::from_utf8_lossy(&out.stderr), "err\n");
}

#[test]
fn sigterm_and_sigint_reach_the_command() {
    let w = World::new();
    for (sig, name) in [(libc::SIGTERM, "TERM"), (libc::SIGINT, "INT")] {
        let ready = w.work().join(format!("ready-{name}"));
        let script = format!(
            "trap 'exit 42' {name}; touch {}; while :; do sleep 0.05; done",
            ready.display()
        );
        let mut child = w
            .cordon_cmd(&["--full-auto"], &["sh", "-c", &script])
            .spawn()
            .unwrap();
        let start = Instant::now();
        while !ready.exists() {
            assert!(
                start.elapsed() < Duration::from_secs(10),
                "command never started"
            );
            std::thread::sleep(Duration::from_millis(20));
        }
        // SAFETY: signalling our own child.
        unsafe { libc::kill(child.id() as i32, sig) };
        assert_eq!(
            child.wait().unwrap().code(),
            Some(42),
            "SIG{name} was not relayed"
        );
    }
}

fn processes_with(marker: &str) -> usize {
    std::fs::read_dir("/proc")
        .unwrap()
        .flatten()
        .filter(|e| {
            std::fs::read(e.path().join("cmdline"))
                .map(|c| String::from_utf8_lossy(&c).contains(marker))
                .unwrap_or(false)
        })
        .count()
}

#[test]
fn killing_cordon_kills_the_whole_tree() {
    let w = World::new();
    let marker = format!("cordon-tree-{}", std::process::id());
    // A grandchild in the background and a child in the foreground.
    let script = format!("sh -c 'exec -a {marker} sleep 300' & exec -a {marker} sleep 300");
    let mut child = w.cordon_cmd(&[], &["bash", "-c", &script]).spawn().unwrap();
    let start = Instant::now();
    // Positive control: the scan sees both processes while cordon lives.
    while processes_with(&marker) < 2 {
        assert!(
            start.elapsed() < Duration::from_secs(10),
            "tree never started"
        );
        std::thread::sleep(Duration::from_millis(20));
    }
    child.kill().unwrap();
    child.wait().unwrap();
    let start = Instant::now();
    while processes_with(&marker) > 0 {
        assert!(
            start.elapsed() < Duration::from_secs(5),
            "sandboxed processes outlived cordon"
        );
        std::thread::sleep(Duration::from_millis(20));
    }
}

#[test]
fn the_command_sees_its_own_pid_namespace_and_no_capabilities() {
    let w = World::new();
    let out = w.cordon(&[], &["sh", "-c", "echo $$; grep -E '^(CapEff|CapBnd|NoNewPrivs|Seccomp):' /proc/self/status; echo $CORDON_SANDBOX"]);
    let s = String::from_utf8_lossy(&out.stdout);
    assert!(out.status.success(), "{}", text(&out));
    let pid: u32 = s.lines().next().unwrap().parse().unwrap();
    assert!(
        pid < 10,
        "expected a small pid in a new namespace, got {pid}"
    );
    assert!(
        s.contains("CapEff:\t0000000000000000") && s.contains("CapBnd:\t0000000000000000"),
        "{s}"
    );
    assert!(
        s.contains("NoNewPrivs:\t1") && s.contains("Seccomp:\t2"),
        "{s}"
    );
    assert!(s.trim_end().ends_with('1'), "CORDON_SANDBOX not set: {s}");
}
