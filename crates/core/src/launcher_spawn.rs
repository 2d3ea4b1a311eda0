//! Starting the sandbox launcher (`cordon sandbox ...`) for one command.
//!
//! On Linux this is a `posix_spawn` (a `CLONE_VM|CLONE_VFORK` clone: no
//! copy of the session's page tables, whose cost grows with the inotify
//! watch state of a large workspace). `std::process::Command` would fork
//! as soon as a `pre_exec` hook is set, so none is: the launcher sets its
//! own parent-death signal (`--parent-pid`), and the descriptors it is
//! handed are duplicated onto fresh numbers in the child only (a `dup2`
//! file action; the copy has no close-on-exec flag), so they are never
//! inheritable in this process, where other threads start other programs
//! at the same time. Elsewhere `Command` with the same hooks as before.

use std::ffi::OsString;
use std::fs::File;
use std::io::{Read, Write};
use std::path::Path;
use std::process::ExitStatus;

/// What to start: `exe` named `cordon`, with `args` (the subcommand
/// first); each `passed` file is given as `FLAG N` right after the
/// subcommand, N being the descriptor the launcher finds it at.
pub(crate) struct LauncherSpec<'a> {
    pub exe: &'a Path,
    pub args: Vec<OsString>,
    pub passed: Vec<(&'static str, &'a File)>,
    /// Whether the launcher's stdin is a pipe (else `/dev/null`).
    pub stdin_piped: bool,
}

/// A started launcher: its pid and the parent's ends of its pipes.
pub(crate) struct Started {
    pub pid: u32,
    pub stdin: Option<Box<dyn Write + Send>>,
    pub stdout: Box<dyn Read + Send>,
    pub stderr: Box<dyn Read + Send>,
    waiter: Waiter,
}

enum Waiter {
    #[cfg(target_os = "linux")]
    Pid(libc::pid_t),
    #[cfg(not(target_os = "linux"))]
    Child(std::process::Child),
}

impl Started {
    /// Reaps the launcher (after `runner::wait_unreaped`).
    pub(crate) fn wait(self) -> std::io::Result<ExitStatus> {
        match self.waiter {
            #[cfg(target_os = "linux")]
            Waiter::Pid(pid) => loop {
                let mut status = 0;
                // SAFETY: waitpid on our own child with a status to fill.
                if unsafe { libc::waitpid(pid, &mut status, 0) } == pid {
                    use std::os::unix::process::ExitStatusExt;
                    return Ok(ExitStatus::from_raw(status));
                }
                let e = std::io::Error::last_os_error();
                if e.raw_os_error() != Some(libc::EINTR) {
                    return Err(e);
                }
            },
            #[cfg(not(target_os = "linux"))]
            Waiter::Child(mut child) => child.wait(),
        }
    }
}

/// Starts the launcher (see the module's doc).
#[cfg(target_os = "linux")]
pub(crate) fn start(spec: LauncherSpec) -> std::io::Result<Started> {
    linux::start(spec)
}

/// Starts the launcher with `Command` (outside Linux: no `posix_spawn`
/// path here; the descriptors are passed by a `pre_exec` hook on Unix).
#[cfg(not(target_os = "linux"))]
pub(crate) fn start(spec: LauncherSpec) -> std::io::Result<Started> {
    use std::process::{Command, Stdio};
    let mut cmd = Command::new(spec.exe);
    let mut args = spec.args.into_iter();
    cmd.args(args.next());
    #[cfg(unix)]
    {
        use std::os::fd::AsRawFd;
        use std::os::unix::process::CommandExt;
        cmd.arg0("cordon");
        for (flag, file) in &spec.passed {
            let fd = file.as_raw_fd();
            cmd.arg(flag).arg(fd.to_string());
            // SAFETY: fcntl is async-signal-safe, as pre_exec needs; fd is
            // open until the spawn (the caller holds `file`).
            unsafe {
                cmd.pre_exec(move || {
                    if libc::fcntl(fd, libc::F_SETFD, 0) != 0 {
                        return Err(std::io::Error::last_os_error());
                    }
                    Ok(())
                });
            }
        }
    }
    // No descriptors to hand down on Windows (the launcher reports on stderr).
    #[cfg(not(unix))]
    let _ = &spec.passed;
    cmd.args(args)
        .stdin(if spec.stdin_piped {
            Stdio::piped()
        } else {
            Stdio::null()
        })
        .stdout(Stdio::piped())
        .stderr(Stdio::piped());
    let mut child = cmd.spawn()?;
    let missing = || std::io::Error::other("the launcher's output pipe is missing");
    Ok(Started {
        pid: child.id(),
        stdin: child
            .stdin
            .take()
            .map(|s| Box::new(s) as Box<dyn Write + Send>),
        stdout: Box::new(child.stdout.take().ok_or_else(missing)?),
        stderr: Box::new(child.stderr.take().ok_or_else(missing)?),
        waiter: Waiter::Child(child),
    })
}

#[cfg(target_os = "linux")]
mod linux {
    use super::{LauncherSpec, Started, Waiter};
    use std::ffi::{CString, OsString};
    use std::fs::File;
    use std::os::fd::{AsRawFd, FromRawFd, OwnedFd, RawFd};
    use std::os::unix::ffi::OsStringExt;

    fn check(rc: libc::c_int) -> std::io::Result<()> {
        // posix_spawn* return the error number instead of setting errno.
        if rc == 0 {
            Ok(())
        } else {
            Err(std::io::Error::from_raw_os_error(rc))
        }
    }

    fn c_string(s: OsString) -> std::io::Result<CString> {
        CString::new(s.into_vec()).map_err(|_| {
            std::io::Error::new(
                std::io::ErrorKind::InvalidInput,
                "an argument or variable holds a NUL byte",
            )
        })
    }

    /// Whether `fd` is open in this process.
    fn is_open(fd: RawFd) -> bool {
        // SAFETY: F_GETFD only asks about the descriptor.
        unsafe { libc::fcntl(fd, libc::F_GETFD) >= 0 }
    }

    /// A close-on-exec pipe: (read end, write end).
    fn pipe() -> std::io::Result<(OwnedFd, OwnedFd)> {
        let mut fds = [0; 2];
        // SAFETY: pipe2 fills two descriptors, which we then own.
        if unsafe { libc::pipe2(fds.as_mut_ptr(), libc::O_CLOEXEC) } != 0 {
            return Err(std::io::Error::last_os_error());
        }
        // SAFETY: both were just opened and are owned by nothing else.
        Ok(unsafe { (OwnedFd::from_raw_fd(fds[0]), OwnedFd::from_raw_fd(fds[1])) })
    }

    /// The spawn's file actions and attributes, destroyed on drop.
    struct Actions(libc::posix_spawn_file_actions_t);
    impl Drop for Actions {
        fn drop(&mut self) {
            // SAFETY: initialised in `start` before this guard exists.
            unsafe { libc::posix_spawn_file_actions_destroy(&mut self.0) };
        }
    }
    struct Attrs(libc::posix_spawnattr_t);
    impl Drop for Attrs {
        fn drop(&mut self) {
            // SAFETY: initialised in `start` before this guard exists.
            unsafe { libc::posix_spawnattr_destroy(&mut self.0) };
        }
    }

    pub(super) fn start(spec: LauncherSpec) -> std::io::Result<Started> {
        let stdin = if spec.stdin_piped {
            let (r, w) = pipe()?;
            (r, Some(w))
        } else {
            (
                OwnedFd::from(
                    std::fs::OpenOptions::new()
                        .read(true)
                        .write(true)
                        .open("/dev/null")?,
                ),
                None,
            )
        };
        let (out_r, out_w) = pipe()?;
        let (err_r, err_w) = pipe()?;
        let sources: Vec<RawFd> = spec
            .passed
            .iter()
            .map(|(_, f)| f.as_raw_fd())
            .chain([stdin.0.as_raw_fd(), out_w.as_raw_fd(), err_w.as_raw_fd()])
            .collect();
        // Each passed descriptor lands on a number of its own, above the
        // standard three, clear of every descriptor the actions read (no
        // action overwrites another's source) and of every descriptor open
        // now: the executable may be one (`/proc/self/fd/N`). One another
        // thread opens meanwhile is replaced in the child only.
        let mut targets = Vec::new();
        let mut next: RawFd = 3;
        for _ in &spec.passed {
            while sources.contains(&next) || is_open(next) {
                next += 1;
            }
            targets.push(next);
            next += 1;
        }

        let mut args = spec.args.into_iter();
        let mut argv = vec![CString::new("cordon").map_err(std::io::Error::other)?];
        if let Some(sub) = args.next() {
            argv.push(c_string(sub)?);
        }
        for ((flag, _), target) in spec.passed.iter().zip(&targets) {
            argv.push(c_string((*flag).into())?);
            argv.push(c_string(target.to_string().into())?);
        }
        for a in args {
            argv.push(c_string(a)?);
        }
        // The launcher keeps cordon's whole environment (read under std's
        // lock, as `Command` would).
        let env = std::env::vars_os()
            .map(|(k, v)| {
                let mut kv = k;
                kv.push("=");
                kv.push(v);
                c_string(kv)
            })
            .collect::<std::io::Result<Vec<_>>>()?;
        let exe = c_string(spec.exe.as_os_str().to_os_string())?;
        let mut argv_p: Vec<*mut libc::c_char> =
            argv.iter().map(|a| a.as_ptr() as *mut _).collect();
        argv_p.push(std::ptr::null_mut());
        let mut env_p: Vec<*mut libc::c_char> = env.iter().map(|e| e.as_ptr() as *mut _).collect();
        env_p.push(std::ptr::null_mut());

        // SAFETY: zeroed storage initialised by the init calls, destroyed
        // by the guards; every pointer passed lives until posix_spawn
        // returns (glibc and musl wait for the child's exec or failure).
        unsafe {
            let mut actions = Actions(std::mem::zeroed());
            check(libc::posix_spawn_file_actions_init(&mut actions.0))?;
            let mut attrs = Attrs(std::mem::zeroed());
            check(libc::posix_spawnattr_init(&mut attrs.0))?;
            for ((_, file), target) in spec.passed.iter().zip(&targets) {
                check(libc::posix_spawn_file_actions_adddup2(
                    &mut actions.0,
                    file.as_raw_fd(),
                    *target,
                ))?;
            }
            for (src, dst) in [
                (stdin.0.as_raw_fd(), 0),
                (out_w.as_raw_fd(), 1),
                (err_w.as_raw_fd(), 2),
            ] {
                check(libc::posix_spawn_file_actions_adddup2(
                    &mut actions.0,
                    src,
                    dst,
                ))?;
            }
            // As `Command` does: no blocked signals, and SIGPIPE (which
            // Rust ignores) back to its default in the child.
            let mut none: libc::sigset_t = std::mem::zeroed();
            libc::sigemptyset(&mut none);
            check(libc::posix_spawnattr_setsigmask(&mut attrs.0, &none))?;
            let mut pipe_sig: libc::sigset_t = std::mem::zeroed();
            libc::sigemptyset(&mut pipe_sig);
            libc::sigaddset(&mut pipe_sig, libc::SIGPIPE);
            check(libc::posix_spawnattr_setsigdefault(&mut attrs.0, &pipe_sig))?;
            check(libc::posix_spawnattr_setflags(
                &mut attrs.0,
                (libc::POSIX_SPAWN_SETSIGMASK | libc::POSIX_SPAWN_SETSIGDEF) as libc::c_short,
            ))?;
            let mut pid: libc::pid_t = 0;
            check(libc::posix_spawn(
                &mut pid,
                exe.as_ptr(),
                &actions.0,
                &attrs.0,
                argv_p.as_ptr(),
                env_p.as_ptr(),
            ))?;
            // The child's ends close here; the parent keeps its own.
            drop((stdin.0, out_w, err_w));
            Ok(Started {
                pid: pid as u32,
                stdin: stdin
                    .1
                    .map(|w| Box::new(File::from(w)) as Box<dyn std::io::Write + Send>),
                stdout: Box::new(File::from(out_r)),
                stderr: Box::new(File::from(err_r)),
                waiter: Waiter::Pid(pid),
            })
        }
    }
}

#[cfg(all(test, target_os = "linux"))]
mod tests {
    use super::*;
    use std::os::fd::AsRawFd;

    /// What every descriptor of the shell running it is.
    const LIST_FDS: &str = "for f in /proc/self/fd/*; do readlink \"$f\"; done";

    #[test]
    fn passed_descriptors_reach_the_launcher_and_no_other_program() {
        let dir = tempfile::tempdir().unwrap();
        let marker = dir.path().join("leak-probe-descriptor");
        let file = File::create(&marker).unwrap();
        let script = dir.path().join("launcher.sh");
        // The "launcher": its arguments are `--passed N`; it prints what
        // descriptor N is.
        std::fs::write(&script, "readlink /proc/self/fd/$2\n").unwrap();
        let stop = std::sync::atomic::AtomicBool::new(false);
        std::thread::scope(|s| {
            // Another thread starts programs the whole time, as the session
            // does (MCP servers, other commands): none may get the file.
            let other = s.spawn(|| {
                let mut runs = 0;
                while !stop.load(std::sync::atomic::Ordering::Relaxed) || runs < 20 {
                    let out = std::process::Command::new("/bin/sh")
                        .args(["-c", LIST_FDS])
                        .output()
                        .unwrap();
                    let seen = String::from_utf8_lossy(&out.stdout).into_owned();
                    assert!(
                        !seen.contains("leak-probe-descriptor"),
                        "a concurrent program inherited the passed descriptor: {seen}"
                    );
                    runs += 1;
                }
            });
            for _ in 0..100 {
                let mut started = start(LauncherSpec {
                    exe: Path::new("/bin/sh"),
                    args: vec![script.clone().into()],
                    passed: vec![("--passed", &file)],
                    stdin_piped: false,
                })
                .unwrap();
                let mut seen = String::new();
                started.stdout.read_to_string(&mut seen).unwrap();
                assert!(started.wait().unwrap().success());
                assert_eq!(seen.trim(), marker.to_str().unwrap());
            }
            stop.store(true, std::sync::atomic::Ordering::Relaxed);
            other.join().unwrap();
        });
        // And in this process it stays close-on-exec.
        // SAFETY: F_GETFD only reads the flags of an open descriptor.
        let flags = unsafe { libc::fcntl(file.as_raw_fd(), libc::F_GETFD) };
        assert_eq!(flags & libc::FD_CLOEXEC, libc::FD_CLOEXEC);
    }
}
