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

/// A `cordon` that a failed assertion must not leave running.
struct KillOnDrop(std::process::Child);

impl Drop for KillOnDrop {
    fn drop(&mut self) {
        let _ = self.0.kill();
        let _ = self.0.wait();
    }
}

/// Every signal `cordon sandbox` relays reaches the command: one command
/// traps them all and records each (SIGWINCH is not fatal by default, so
/// only the record shows it arrived). Each is sent only after the previous
/// one was recorded; a signal cordon did not relay would kill cordon (and
/// with it the command) or never be recorded.
#[test]
fn every_relayed_signal_reaches_the_command() {
    let w = World::new();
    let log = w.work().join("signals");
    let signals = [
        (libc::SIGINT, "INT"),
        (libc::SIGTERM, "TERM"),
        (libc::SIGHUP, "HUP"),
        (libc::SIGQUIT, "QUIT"),
        (libc::SIGUSR1, "USR1"),
        (libc::SIGUSR2, "USR2"),
        (libc::SIGWINCH, "WINCH"),
    ];
    let mut script = String::new();
    for (_, name) in signals {
        script.push_str(&format!("trap 'echo {name} >> {}' {name}; ", log.display()));
    }
    script.push_str(&format!(
        "echo ready >> {}; while [ ! -e {}/stop ]; do sleep 0.05; done; exit 42",
        log.display(),
        w.work().display()
    ));
    let mut child = KillOnDrop(
        w.cordon_cmd(&["--full-auto"], &["bash", "-c", &script])
            .spawn()
            .unwrap(),
    );
    let recorded = || std::fs::read_to_string(&log).unwrap_or_default();
    let wait_for = |line: &str| {
        let start = Instant::now();
        while !recorded().lines().any(|l| l == line) {
            assert!(
                start.elapsed() < Duration::from_secs(10),
                "{line} never recorded; the log: {:?}",
                recorded()
            );
            std::thread::sleep(Duration::from_millis(20));
        }
    };
    wait_for("ready");
    for (sig, name) in signals {
        // SAFETY: signalling our own child.
        unsafe { libc::kill(child.0.id() as i32, sig) };
        wait_for(name);
    }
    std::fs::write(w.work().join("stop"), "").unwrap();
    assert_eq!(
        child.0.wait().unwrap().code(),
        Some(42),
        "the command lived through every signal: {:?}",
        recorded()
    );
    let expected: Vec<&str> = std::iter::once("ready")
        .chain(signals.iter().map(|(_, n)| *n))
        .collect();
    assert_eq!(recorded().lines().collect::<Vec<_>>(), expected);
}

/// The command runs in its own user, mount, PID, IPC, UTS and network
/// namespaces: each link in /proc/self/ns differs from the host's. The
/// controls: with `--network full` the network namespace is the host's,
/// and under danger-full-access every one is.
#[test]
fn the_command_has_its_own_namespaces_of_every_kind() {
    let w = World::new();
    let kinds = ["user", "mnt", "pid", "ipc", "uts", "net"];
    let script = kinds
        .iter()
        .map(|k| format!("readlink /proc/self/ns/{k}"))
        .collect::<Vec<_>>()
        .join("; ");
    let host: Vec<String> = kinds
        .iter()
        .map(|k| {
            std::fs::read_link(format!("/proc/self/ns/{k}"))
                .unwrap()
                .to_string_lossy()
                .into_owned()
        })
        .collect();
    let inside = |flags: &[&str]| {
        let out = w.cordon(flags, &["sh", "-c", &script]);
        assert!(out.status.success(), "{}", text(&out));
        String::from_utf8_lossy(&out.stdout)
            .lines()
            .map(str::to_string)
            .collect::<Vec<_>>()
    };
    for (flags, shared) in [
        (&[][..], &[][..]),
        (&["--full-auto"][..], &[][..]),
        (&["--network", "full"][..], &["net"][..]),
        (&["-s", "danger-full-access"][..], &kinds[..]),
    ] {
        let seen = inside(flags);
        assert_eq!(seen.len(), kinds.len(), "{flags:?}: {seen:?}");
        for ((kind, host), seen) in kinds.iter().zip(&host).zip(&seen) {
            assert_eq!(
                host == seen,
                shared.contains(kind),
                "{flags:?}: {kind} namespace inside {seen}, host {host}"
            );
        }
    }
}

/// A System V shared memory segment the host has is invisible inside (the
/// sandbox's own IPC namespace): ENOENT for its key inside, found outside
/// and under danger-full-access.
#[test]
fn host_sysv_ipc_is_invisible_inside() {
    let w = World::new();
    let key = 0x636f_0000 | (std::process::id() as libc::key_t & 0xffff);
    // SAFETY: creating a segment; removed below.
    let id = unsafe { libc::shmget(key, 4096, libc::IPC_CREAT | libc::IPC_EXCL | 0o666) };
    assert!(id >= 0, "shmget: {}", std::io::Error::last_os_error());
    let k = key.to_string();
    assert_ok(&w.probe_in(&["-s", "danger-full-access"], &["shm-get", &k]));
    for flags in [&[][..], &["--full-auto"][..], &["--network", "full"][..]] {
        assert_escape_blocked_errno(&w, flags, &["shm-get", &k], libc::ENOENT);
    }
    // SAFETY: removing the segment made above.
    unsafe { libc::shmctl(id, libc::IPC_RMID, std::ptr::null_mut()) };
}

/// The names in /dev a sandboxed command sees: the standard devices, a
/// private devpts and shm, and the usual links.
const MINIMAL_DEV: [&str; 13] = [
    "fd", "full", "null", "ptmx", "pts", "random", "shm", "stderr", "stdin", "stdout", "tty",
    "urandom", "zero",
];

/// The command's /dev holds only the standard devices: every other device
/// the host has (`/dev/kmsg`, disks, `/dev/mem`...) is absent inside
/// (ENOENT) and present outside and under danger-full-access.
#[test]
fn dev_holds_only_the_standard_devices() {
    let w = World::new();
    let mut host_only: Vec<String> = std::fs::read_dir("/dev")
        .unwrap()
        .flatten()
        .map(|e| e.file_name().to_string_lossy().into_owned())
        .filter(|n| !MINIMAL_DEV.contains(&n.as_str()))
        .collect();
    host_only.sort();
    assert!(
        host_only.iter().any(|n| n == "kmsg"),
        "control: the host has /dev/kmsg: {host_only:?}"
    );
    for flags in [&[][..], &["--full-auto"][..], &["--network", "full"][..]] {
        let out = w.cordon(flags, &["ls", "-A", "/dev"]);
        assert!(out.status.success(), "{}", text(&out));
        let seen: Vec<String> = String::from_utf8_lossy(&out.stdout)
            .lines()
            .map(str::to_string)
            .collect();
        assert_eq!(seen, MINIMAL_DEV, "{flags:?}");
        for name in ["kmsg", "mem", "kvm", "sda", "vda", "loop0", "console"] {
            if host_only.iter().any(|n| n == name) {
                let path = format!("/dev/{name}");
                assert_escape_blocked_errno(&w, flags, &["exists", &path], libc::ENOENT);
            }
        }
    }
    let full = w.cordon(&["-s", "danger-full-access"], &["ls", "-A", "/dev"]);
    assert!(
        String::from_utf8_lossy(&full.stdout)
            .lines()
            .any(|l| l == "kmsg"),
        "control: danger-full-access sees the host's /dev: {}",
        text(&full)
    );
}

/// A pseudo-terminal the test owns: `cordon` runs with its slave as the
/// controlling terminal and standard input.
struct Pty {
    master: i32,
    slave: std::path::PathBuf,
}

impl Pty {
    fn open() -> Pty {
        // SAFETY: the standard posix_openpt sequence on a fresh master.
        unsafe {
            let master = libc::posix_openpt(libc::O_RDWR | libc::O_NOCTTY | libc::O_CLOEXEC);
            assert!(master >= 0);
            assert_eq!(libc::grantpt(master), 0);
            assert_eq!(libc::unlockpt(master), 0);
            let name = std::ffi::CStr::from_ptr(libc::ptsname(master));
            Pty {
                master,
                slave: name.to_str().unwrap().into(),
            }
        }
    }

    /// `cmd` in a new session whose controlling terminal is the slave, on
    /// its standard input.
    fn run(&self, mut cmd: std::process::Command) -> std::process::Output {
        use std::os::unix::process::CommandExt;
        let slave = std::fs::OpenOptions::new()
            .read(true)
            .write(true)
            .open(&self.slave)
            .unwrap();
        cmd.stdin(slave);
        // SAFETY: setsid and ioctl are async-signal-safe.
        unsafe {
            cmd.pre_exec(|| {
                if libc::setsid() < 0 || libc::ioctl(0, libc::TIOCSCTTY, 0) < 0 {
                    return Err(std::io::Error::last_os_error());
                }
                Ok(())
            });
        }
        cmd.output().unwrap()
    }
}

impl Drop for Pty {
    fn drop(&mut self) {
        // SAFETY: closing our own descriptor.
        unsafe { libc::close(self.master) };
    }
}

/// With `--no-tty` the command starts its own session (setsid): it leads
/// it and has no controlling terminal, so the terminal `cordon` runs on cannot be
/// reached through /dev/tty (ENXIO). The control: the same probe run
/// straight on that terminal opens it. And TIOCSTI into the terminal on
/// its standard input is refused (EPERM) where, outside, it works.
#[test]
fn the_command_leads_its_own_session_without_the_outer_terminal() {
    let w = World::new();
    let pty = Pty::open();
    let probe = |action: &[&str]| {
        let mut cmd = std::process::Command::new(PROBE);
        cmd.args(action).current_dir(w.work());
        pty.run(cmd)
    };
    // Without a terminal of its own (with one, /dev/tty is the sandbox's
    // own pty: `tty::a_shell_gets_a_terminal_of_its_own_with_job_control_and_sizes`).
    let inside = |action: &[&str]| {
        let mut cmd = w.cordon_cmd(&["--full-auto", "--no-tty"], &[PROBE]);
        cmd.args(action);
        pty.run(cmd)
    };
    // Controls: on the terminal itself, outside.
    assert_ok(&probe(&["open-tty"]));
    assert_denied(&probe_outside(&w.work(), &["session-leader"]));
    // Inside.
    assert_ok(&inside(&["session-leader"]));
    assert_denied_errno(&inside(&["open-tty"]), libc::ENXIO);
    let legacy = std::fs::read_to_string("/proc/sys/dev/tty/legacy_tiocsti")
        .map(|v| v.trim() == "1")
        .unwrap_or(true);
    if !skip_without(
        "legacy-tiocsti",
        legacy || is_root(),
        "dev.tty.legacy_tiocsti=0 refuses the TIOCSTI control to this user",
    ) {
        assert_ok(&probe(&["tiocsti-fd", "0"]));
        assert_denied_errno(&inside(&["tiocsti-fd", "0"]), libc::EPERM);
    }
}

/// Processes whose argv[0] is `marker` (set by `exec -a`), so cordon's own
/// processes, whose arguments merely mention it, are not counted.
fn processes_with(marker: &str) -> usize {
    std::fs::read_dir("/proc")
        .unwrap()
        .flatten()
        .filter(|e| {
            std::fs::read(e.path().join("cmdline"))
                .map(|c| c.split(|b| *b == 0).next() == Some(marker.as_bytes()))
                .unwrap_or(false)
        })
        .count()
}

#[test]
fn killing_cordon_kills_the_whole_tree() {
    let w = World::new();
    let marker = format!("cordon-tree-{}", std::process::id());
    // A grandchild in the background and a child in the foreground.
    let script = format!("bash -c 'exec -a {marker} sleep 300' & exec -a {marker} sleep 300");
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

#[test]
fn the_launcher_refuses_when_its_parent_pid_is_not_its_parent() {
    // The agent's tools start the launcher with no pre-exec hook and name
    // themselves instead (`--parent-pid`): a launcher whose named parent
    // already died must run nothing.
    let w = World::new();
    let ran = w.work().join("ran");
    let touch = format!("touch {}", ran.display());
    // Positive control: named as its parent, this process runs it.
    let own = std::process::id().to_string();
    let ok = w.cordon(
        &["--sandbox", "workspace-write", "--parent-pid", &own],
        &["sh", "-c", &touch],
    );
    assert!(ok.status.success() && ran.exists(), "{}", text(&ok));
    std::fs::remove_file(&ran).unwrap();
    // A pid that is not the launcher's parent (init, never this test).
    let refused = w.cordon(
        &["--sandbox", "workspace-write", "--parent-pid", "1"],
        &["sh", "-c", &touch],
    );
    // Refused to run, as every refusal: 125.
    assert_eq!(refused.status.code(), Some(125), "{}", text(&refused));
    assert!(
        text(&refused).contains("--parent-pid 1: process 1 is not this launcher's parent"),
        "{}",
        text(&refused)
    );
    assert!(!ran.exists(), "the command ran: {}", text(&refused));
}

/// Out of processes, the clone into the namespaces fails with EAGAIN: that
/// is refused as a fork failure, not taken for missing namespaces (which
/// would probe and, with `--allow-degraded`, try to run unconfined).
#[test]
fn out_of_processes_is_refused_as_a_fork_failure_not_a_namespace_failure() {
    if skip_without(
        "an unprivileged user",
        !is_root(),
        "RLIMIT_NPROC does not bind root",
    ) {
        return;
    }
    let w = World::new();
    let run = |limit: bool| {
        let mut c = w.cordon_cmd(&["--allow-degraded"], &["sh", "-c", "echo ran"]);
        if limit {
            // SAFETY: setrlimit with a valid struct, between fork and exec.
            unsafe {
                std::os::unix::process::CommandExt::pre_exec(&mut c, || {
                    let one = libc::rlimit {
                        rlim_cur: 1,
                        rlim_max: 1,
                    };
                    if libc::setrlimit(libc::RLIMIT_NPROC, &one) != 0 {
                        return Err(std::io::Error::last_os_error());
                    }
                    Ok(())
                });
            }
        }
        c.output().unwrap()
    };
    // Control: the same run without the limit runs the command.
    let free = run(false);
    assert_eq!(free.status.code(), Some(0), "{}", text(&free));
    assert_eq!(String::from_utf8_lossy(&free.stdout), "ran\n");
    let limited = run(true);
    let out = text(&limited);
    assert_eq!(limited.status.code(), Some(125), "{out}");
    assert!(!out.contains("ran\n"), "{out}");
    assert!(
        out.contains("fork") && out.contains("Resource temporarily unavailable"),
        "{out}"
    );
    // Not sent to probe and degrade (which printed "running DEGRADED" and
    // the namespaces not enforced before failing the same way).
    assert!(
        !out.contains("DEGRADED") && !out.contains("namespace"),
        "{out}"
    );
}

/// A working directory init cannot enter is refused as such: not a pin
/// that went stale (discovered again) nor a namespace failure (probed,
/// degraded with `--allow-degraded`). Root makes one: a directory of mode
/// 000 owned by a uid the sandbox's user namespace does not map, so its
/// init has no capability over it.
#[test]
fn a_working_directory_init_cannot_enter_is_refused_as_itself() {
    if skip_without(
        "root",
        is_root(),
        "chown of the working directory to another user",
    ) {
        return;
    }
    let w = World::new();
    let dir = w.work().join("locked");
    std::fs::create_dir(&dir).unwrap();
    let path = std::ffi::CString::new(dir.to_str().unwrap()).unwrap();
    // SAFETY: chown and chmod of a path we made, by a valid C string.
    unsafe {
        assert_eq!(libc::chown(path.as_ptr(), 65534, 65534), 0);
        assert_eq!(libc::chmod(path.as_ptr(), 0), 0);
    }
    let run = |mode: &str| {
        let mut c = w.cordon_cmd(&["--allow-degraded", "-s", mode], &["/bin/pwd"]);
        c.current_dir(&dir);
        c.output().unwrap()
    };
    // Control: with no namespaces, root enters it.
    let open = run("danger-full-access");
    assert_eq!(open.status.code(), Some(0), "{}", text(&open));
    assert_eq!(
        String::from_utf8_lossy(&open.stdout).trim(),
        dir.to_str().unwrap()
    );
    let locked = run("read-only");
    let out = text(&locked);
    assert_eq!(locked.status.code(), Some(125), "{out}");
    assert!(
        out.contains("sandbox layer `working directory` could not be applied")
            && out.contains("Permission denied")
            && out.contains("start cordon in a directory you can enter, or name one with -C DIR"),
        "{out}"
    );
    assert!(
        !out.contains("DEGRADED") && !out.contains("mounts"),
        "{out}"
    );
    // SAFETY: as above; the temporary directory is removed by its owner.
    unsafe { libc::chmod(path.as_ptr(), 0o755) };
}
