//! Every layer of the Linux sandbox proven alone. Defense in depth holds
//! only if each layer stops its attacks by itself, so each test takes the
//! plan a fully capable host gets for a workspace-write policy, applies ONE
//! of its layers (Landlock; seccomp; the user, mount, PID, IPC and UTS
//! namespaces with the mount steps; the network namespace) to a forked
//! process through the executor's own functions, runs the attacks that
//! layer answers for, and runs the same attacks in a process without it
//! (the positive control). The proxy's decision alone is proven in the
//! proxy crate (`crates/proxy/tests/alone.rs`).
//!
//! Forking from libtest's many threads is not safe, so each test
//! re-executes this test binary to run only itself with [`CHILD_VAR`] set.
//! That quiet copy forks one process with the layer and one without; each
//! runs every probe in a process of its own (so no probe changes the next)
//! and reports `name\toutcome` lines on a pipe. The copy prints them and
//! the test asserts on them.
//!
//! A layer the host cannot provide (no Landlock, no unprivileged user
//! namespaces) is recorded as a skip in `$CORDON_TEST_SKIPS`, which
//! `scripts/test` lists and counts; nothing else may end a test early.

mod landlock_alone;
mod mounts_alone;
mod netns_alone;
mod seccomp_alone;

use super::sys;
use crate::plan::{plan_linux, LinuxPlan, Namespace, PlanOptions};
use crate::support::HostSupport;
use cordon_policy::{resolve, PolicyInputs, SandboxMode};
use std::collections::BTreeMap;
use std::io::{self, Read, Seek, Write};
use std::os::fd::{AsRawFd, OwnedFd};
use std::path::{Path, PathBuf};
use std::time::{Duration, Instant};

/// Set (to the test's arguments, one per line) in a re-executed copy of
/// the test binary: the test then plays the child's part.
const CHILD_VAR: &str = "CORDON_LAYER_ALONE_CHILD";

/// What a probe's call did.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(super) enum Outcome {
    /// It succeeded.
    Done,
    /// It failed with this errno.
    Errno(i32),
    /// The probe's process was killed by this signal.
    Died(i32),
}

pub(super) use Outcome::{Died, Done, Errno};

impl Outcome {
    /// A raw syscall's return value: `-1` is the thread's errno.
    pub(super) fn of(ret: libc::c_long) -> Outcome {
        if ret < 0 {
            Errno(io::Error::last_os_error().raw_os_error().unwrap_or(0))
        } else {
            Done
        }
    }

    /// An `io::Result`'s outcome.
    pub(super) fn io<T>(r: io::Result<T>) -> Outcome {
        match r {
            Ok(_) => Done,
            Err(e) => Errno(e.raw_os_error().unwrap_or(0)),
        }
    }

    fn encode(self) -> String {
        match self {
            Done => "ok".into(),
            Errno(e) => format!("errno:{e}"),
            Died(s) => format!("died:{s}"),
        }
    }

    fn decode(text: &str) -> Option<Outcome> {
        if text == "ok" {
            return Some(Done);
        }
        if let Some(e) = text.strip_prefix("errno:") {
            return e.parse().ok().map(Errno);
        }
        text.strip_prefix("died:")?.parse().ok().map(Died)
    }
}

impl std::fmt::Display for Outcome {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            Done => write!(f, "ok"),
            Errno(e) => write!(f, "{} ({e})", errno_name(*e)),
            Died(s) => write!(f, "killed by signal {s}"),
        }
    }
}

fn errno_name(e: i32) -> &'static str {
    match e {
        libc::EPERM => "EPERM",
        libc::ENOENT => "ENOENT",
        libc::ESRCH => "ESRCH",
        libc::EBADF => "EBADF",
        libc::ENOMEM => "ENOMEM",
        libc::EACCES => "EACCES",
        libc::EFAULT => "EFAULT",
        libc::EBUSY => "EBUSY",
        libc::EEXIST => "EEXIST",
        libc::EINVAL => "EINVAL",
        libc::ENOTTY => "ENOTTY",
        libc::EROFS => "EROFS",
        libc::ENOSYS => "ENOSYS",
        libc::EOPNOTSUPP => "EOPNOTSUPP",
        libc::EAFNOSUPPORT => "EAFNOSUPPORT",
        libc::ENETUNREACH => "ENETUNREACH",
        libc::ECONNREFUSED => "ECONNREFUSED",
        libc::ENOKEY => "ENOKEY",
        libc::E2BIG => "E2BIG",
        _ => "errno",
    }
}

/// One attack (or harmless action), run in a process of its own. It gets
/// the run's name (`layer` or `control`) to name what it creates.
pub(super) struct Probe {
    name: String,
    run: Box<dyn Fn(&str) -> Outcome>,
}

/// A probe called `name`.
pub(super) fn probe(name: impl Into<String>, run: impl Fn(&str) -> Outcome + 'static) -> Probe {
    Probe {
        name: name.into(),
        run: Box::new(run),
    }
}

/// Why the layer could not be applied in the child.
pub(super) enum Refusal {
    /// The host lacks a feature the layer needs: (feature, reason).
    Unavailable(String, String),
    /// Applying it failed: a real failure of the test.
    Failed(String),
}

/// The arguments of a re-executed child, or `None` in the test harness.
pub(super) fn child_args() -> Option<Vec<String>> {
    let v = std::env::var(CHILD_VAR).ok()?;
    Some(v.split('\n').map(str::to_string).collect())
}

/// The child's part: forks a process that applies `layer` and one that
/// does not (the control), runs every probe in each, prints their
/// outcomes and exits. Called from a re-executed copy of the test binary,
/// where only this test's thread is busy.
pub(super) fn child_main(layer: &dyn Fn() -> Result<(), Refusal>, probes: &[Probe]) -> ! {
    child_main_on(&|| Ok(()), layer, probes)
}

/// [`child_main`] where both runs first apply `base` (a setting that is
/// no layer of the sandbox, such as the privileges the probes need).
pub(super) fn child_main_on(
    base: &dyn Fn() -> Result<(), Refusal>,
    layer: &dyn Fn() -> Result<(), Refusal>,
    probes: &[Probe],
) -> ! {
    // libtest has printed `test NAME ... ` without a newline.
    let mut out = String::from("\n");
    let both = || {
        base()?;
        layer()
    };
    for (run, setup) in [("layer", &both as &dyn Fn() -> _), ("control", base)] {
        for line in run_forked(run, setup, probes).lines() {
            out.push_str(&format!("ALONE\t{run}\t{line}\n"));
        }
    }
    let mut stdout = io::stdout().lock();
    let _ = stdout.write_all(out.as_bytes());
    let _ = stdout.flush();
    std::process::exit(0)
}

/// Writes all of `text` to `fd` with raw `write` calls.
fn write_fd(fd: &OwnedFd, text: &str) {
    let mut bytes = text.as_bytes();
    while !bytes.is_empty() {
        // SAFETY: writing from a live buffer to a descriptor we hold.
        let n = unsafe { libc::write(fd.as_raw_fd(), bytes.as_ptr().cast(), bytes.len()) };
        if n <= 0 {
            return;
        }
        bytes = &bytes[n as usize..];
    }
}

/// Waits for `pid`, retrying on EINTR; the raw wait status, or `None` when
/// waiting failed.
fn wait(pid: libc::pid_t) -> Option<libc::c_int> {
    let mut status = 0;
    loop {
        // SAFETY: waiting for our own child; status is a valid out-pointer.
        let r = unsafe { libc::waitpid(pid, &mut status, 0) };
        if r == pid {
            return Some(status);
        }
        if r < 0 && io::Error::last_os_error().raw_os_error() != Some(libc::EINTR) {
            return None;
        }
    }
}

/// Forks the process of one run: it applies `setup`, then runs each
/// probe; returns its report lines.
fn run_forked(run: &str, setup: &dyn Fn() -> Result<(), Refusal>, probes: &[Probe]) -> String {
    let (r, w) = match sys::pipe() {
        Ok(p) => p,
        Err(e) => return format!("!failed\tpipe: {e}\n"),
    };
    // SAFETY: only this test's thread runs in this copy of the binary; the
    // child ends in `_exit`.
    let pid = unsafe { libc::fork() };
    if pid == 0 {
        drop(r);
        match setup() {
            Ok(()) => {}
            Err(Refusal::Unavailable(feature, why)) => {
                write_fd(&w, &format!("!unavailable\t{feature}\t{why}\n"));
                sys::exit_now(0)
            }
            Err(Refusal::Failed(why)) => {
                write_fd(&w, &format!("!failed\t{why}\n"));
                sys::exit_now(0)
            }
        }
        for p in probes {
            let outcome = in_own_process(|| (p.run)(run));
            write_fd(&w, &format!("{}\t{}\n", p.name, outcome.encode()));
        }
        sys::exit_now(0)
    }
    drop(w);
    let mut text = String::new();
    let _ = std::fs::File::from(r).read_to_string(&mut text);
    if pid < 0 {
        return format!("!failed\tfork: {}\n", io::Error::last_os_error());
    }
    let status = wait(pid);
    if !status.is_some_and(|s| libc::WIFEXITED(s) && libc::WEXITSTATUS(s) == 0) {
        text.push_str(&format!(
            "!failed\tthe {run} process ended with status {status:?}\n"
        ));
    }
    text
}

/// Runs `f` in a forked process and returns what it reported through its
/// exit status (0 for success, else the errno).
fn in_own_process(f: impl FnOnce() -> Outcome) -> Outcome {
    // SAFETY: the caller is a single-threaded forked process; the child
    // ends in `_exit`.
    let pid = unsafe { libc::fork() };
    if pid == 0 {
        let code = match f() {
            Done => 0,
            Errno(e) => e.clamp(1, 255),
            Died(_) => 255,
        };
        sys::exit_now(code)
    }
    if pid < 0 {
        return Died(0);
    }
    let Some(status) = wait(pid) else {
        return Died(0);
    };
    if libc::WIFEXITED(status) {
        match libc::WEXITSTATUS(status) {
            0 => Done,
            e => Errno(e),
        }
    } else {
        Died(libc::WTERMSIG(status))
    }
}

/// Enters a new user namespace that maps our uid and gid to themselves (as
/// the sandbox's init does), then the other namespaces in `spaces`.
pub(super) fn enter_namespaces(spaces: &[Namespace]) -> Result<(), Refusal> {
    // SAFETY: these getters cannot fail.
    let (uid, gid) = unsafe { (libc::geteuid(), libc::getegid()) };
    // SAFETY: unshare with flags only.
    if unsafe { libc::unshare(libc::CLONE_NEWUSER) } != 0 {
        return Err(Refusal::Unavailable(
            "unprivileged user namespaces".into(),
            format!("unshare(CLONE_NEWUSER): {}", io::Error::last_os_error()),
        ));
    }
    let failed = |what: &str, e: io::Error| Refusal::Failed(format!("{what}: {e}"));
    match sys::write_file("/proc/self/setgroups", "deny") {
        Err(e) if e.kind() != io::ErrorKind::NotFound => {
            return Err(failed("write /proc/self/setgroups", e))
        }
        _ => {}
    }
    sys::write_file("/proc/self/uid_map", &format!("{uid} {uid} 1"))
        .map_err(|e| failed("write uid_map", e))?;
    sys::write_file("/proc/self/gid_map", &format!("{gid} {gid} 1"))
        .map_err(|e| failed("write gid_map", e))?;
    // The user namespace is entered above.
    let flags = super::spawn::namespace_flags(spaces) & !libc::CLONE_NEWUSER;
    // SAFETY: unshare with flags only.
    if unsafe { libc::unshare(flags) } != 0 {
        return Err(failed(
            &format!("unshare({flags:#x})"),
            io::Error::last_os_error(),
        ));
    }
    Ok(())
}

/// Forks the first process of the new PID namespace and continues in it;
/// the forking process waits for it and exits with its status.
pub(super) fn become_pid_1() -> Result<(), Refusal> {
    // SAFETY: single-threaded forked process; the parent ends in `_exit`.
    let pid = unsafe { libc::fork() };
    if pid < 0 {
        return Err(Refusal::Failed(format!(
            "fork into the PID namespace: {}",
            io::Error::last_os_error()
        )));
    }
    if pid > 0 {
        sys::exit_now(match wait(pid) {
            Some(status) if libc::WIFEXITED(status) => libc::WEXITSTATUS(status),
            _ => 1,
        })
    }
    Ok(())
}

/// The outcomes of one test's two runs.
pub(super) struct Report {
    layer: BTreeMap<String, Outcome>,
    control: BTreeMap<String, Outcome>,
    text: String,
    test: String,
}

impl Report {
    fn get(&self, run: &str, name: &str) -> Outcome {
        let map = if run == "layer" {
            &self.layer
        } else {
            &self.control
        };
        match map.get(name) {
            Some(o) => *o,
            None => panic!("no outcome for `{name}` in the {run} run:\n{}", self.text),
        }
    }

    /// With the layer, `name` fails with `errno`; without it, it succeeds.
    pub(super) fn assert_blocks(&self, name: &str, errno: i32) {
        let (layer, control) = (self.get("layer", name), self.get("control", name));
        assert_eq!(
            (layer, control),
            (Errno(errno), Done),
            "`{name}`: want {} with the layer alone and ok without it; got {layer} and {control}",
            Errno(errno)
        );
    }

    /// With the layer, `name` fails with `errno`; without it, it does
    /// something else (succeeds, or fails another way). When the host itself
    /// refuses it with the same errno the control proves nothing: that is
    /// recorded as a skip for want of `feature`, and the test goes on.
    pub(super) fn assert_refuses(&self, name: &str, errno: i32, feature: &str) {
        let (layer, control) = (self.get("layer", name), self.get("control", name));
        assert_eq!(
            layer,
            Errno(errno),
            "`{name}` with the layer alone: want {}, got {layer} (control: {control})",
            Errno(errno)
        );
        if control == Errno(errno) {
            record_skip(
                &format!("{} ({name})", self.test),
                feature,
                &format!(
                    "the host refuses `{name}` with {control} even without the layer, so the control cannot show the layer's effect"
                ),
            );
        }
    }

    /// `name` succeeds with the layer and without it (what the layer must
    /// leave working).
    pub(super) fn assert_allows(&self, name: &str) {
        let (layer, control) = (self.get("layer", name), self.get("control", name));
        assert_eq!(
            (layer, control),
            (Done, Done),
            "`{name}` must work with the layer alone and without it; got {layer} and {control}"
        );
    }

    /// Every outcome of the layer run, for checks over a family of probes.
    pub(super) fn layer_outcomes(&self) -> &BTreeMap<String, Outcome> {
        &self.layer
    }

    /// What the control run got for `name`.
    pub(super) fn control(&self, name: &str) -> Outcome {
        self.get("control", name)
    }
}

/// Appends a skip line (test, feature, reason) to `$CORDON_TEST_SKIPS`,
/// which `scripts/test` lists and counts, and says so on stderr.
pub(super) fn record_skip(test: &str, feature: &str, reason: &str) {
    let line = format!("{test}\t{feature}\t{reason}\n");
    eprint!("SKIPPED {line}");
    if let Some(path) = std::env::var_os("CORDON_TEST_SKIPS") {
        let written = std::fs::OpenOptions::new()
            .create(true)
            .append(true)
            .open(&path)
            .and_then(|mut f| f.write_all(line.as_bytes()));
        assert!(
            written.is_ok(),
            "cannot record the skip in {path:?}: {written:?}"
        );
    }
}

/// The name of the running test (libtest names each test's thread so).
fn test_name() -> String {
    std::thread::current()
        .name()
        .expect("libtest names the test thread")
        .to_string()
}

/// Whether the test must stop for want of `feature` (recorded as a skip).
pub(super) fn skip_without(feature: &str, available: bool, reason: &str) -> bool {
    if !available {
        record_skip(&test_name(), feature, reason);
    }
    !available
}

/// The harness's part: runs the current test again, alone, in a fresh copy
/// of this test binary with `args`, and collects both runs' outcomes.
/// `None` when the layer is unavailable on this host (recorded as a skip).
pub(super) fn run_in_child(args: &[String]) -> Option<Report> {
    let test = test_name();
    let exe = std::env::current_exe().expect("the test binary's path");
    let out = tempfile::tempfile().expect("a temporary file");
    let err = tempfile::tempfile().expect("a temporary file");
    let mut child = std::process::Command::new(exe)
        .args([test.as_str(), "--exact", "--nocapture", "--test-threads=1"])
        .env(CHILD_VAR, args.join("\n"))
        .stdin(std::process::Stdio::null())
        .stdout(out.try_clone().expect("dup"))
        .stderr(err.try_clone().expect("dup"))
        .spawn()
        .expect("re-execute the test binary");
    let deadline = Instant::now() + Duration::from_secs(120);
    let status = loop {
        if let Some(status) = child.try_wait().expect("wait for the child") {
            break status;
        }
        if Instant::now() > deadline {
            let _ = child.kill();
            let _ = child.wait();
            panic!("the child of {test} did not finish in 120 s");
        }
        std::thread::sleep(Duration::from_millis(10));
    };
    let read_all = |mut f: std::fs::File| {
        let mut s = String::new();
        f.rewind().expect("rewind");
        f.read_to_string(&mut s).expect("read the child's output");
        s
    };
    let (stdout, stderr) = (read_all(out), read_all(err));
    assert!(
        status.success(),
        "the child of {test} failed ({status}):\n{stdout}\n{stderr}"
    );
    let mut report = Report {
        layer: BTreeMap::new(),
        control: BTreeMap::new(),
        text: stdout.clone(),
        test: test.clone(),
    };
    for line in stdout.lines() {
        let Some(rest) = line.strip_prefix("ALONE\t") else {
            continue;
        };
        let fields: Vec<&str> = rest.splitn(3, '\t').collect();
        let [run, name, value] = fields[..] else {
            panic!("bad report line {line:?}");
        };
        match name {
            "!unavailable" => {
                let (feature, why) = value.split_once('\t').unwrap_or((value, ""));
                record_skip(&test, feature, why);
                return None;
            }
            "!failed" => panic!("the {run} run of {test} failed: {value}\n{stdout}\n{stderr}"),
            _ => {}
        }
        let outcome =
            Outcome::decode(value).unwrap_or_else(|| panic!("bad outcome in {line:?}\n{stdout}"));
        let map = if run == "layer" {
            &mut report.layer
        } else {
            &mut report.control
        };
        map.insert(name.to_string(), outcome);
    }
    assert!(
        !report.layer.is_empty() && report.layer.len() == report.control.len(),
        "the child of {test} reported no or unequal runs:\n{stdout}\n{stderr}"
    );
    Some(report)
}

/// A workspace under `/var/tmp` (not a writable root: `/tmp` and `$TMPDIR`
/// are excluded): `ws/` is the working directory and only writable root,
/// with an existing `ws/.git/config` and `ws/.cordon/config.toml`;
/// `outside/` sits beside it with a file to read.
pub(super) struct Fixture {
    /// The base directory.
    pub base: PathBuf,
}

impl Fixture {
    /// Creates the tree in a new directory; the guard removes it.
    pub(super) fn create() -> (Fixture, tempfile::TempDir) {
        let tmp = tempfile::tempdir_in("/var/tmp").expect("a directory in /var/tmp");
        let base = std::fs::canonicalize(tmp.path()).expect("canonical path");
        let f = Fixture { base };
        for dir in [f.ws().join(".git"), f.ws().join(".cordon"), f.outside()] {
            std::fs::create_dir_all(dir).expect("create the fixture");
        }
        std::fs::write(f.ws().join(".git/config"), "[core]\n").expect("write");
        std::fs::write(f.ws().join(".cordon/config.toml"), "").expect("write");
        std::fs::write(f.outside().join("readme"), "read me\n").expect("write");
        (f, tmp)
    }

    /// The fixture whose base is `base` (in the child).
    pub(super) fn at(base: &str) -> Fixture {
        Fixture {
            base: PathBuf::from(base),
        }
    }

    /// The working directory and writable root.
    pub(super) fn ws(&self) -> PathBuf {
        self.base.join("ws")
    }

    /// A directory outside every writable root.
    pub(super) fn outside(&self) -> PathBuf {
        self.base.join("outside")
    }

    /// The plan a host with every layer (and this kernel's Landlock ABI)
    /// gets for a workspace-write policy on `ws/` with network none.
    pub(super) fn plan(&self) -> LinuxPlan {
        let policy = resolve(&PolicyInputs {
            mode: SandboxMode::WorkspaceWrite,
            cwd: self.ws(),
            exclude_slash_tmp: true,
            exclude_tmpdir_env_var: true,
            ..Default::default()
        })
        .expect("resolve the policy");
        let abi = super::landlock::abi_version();
        plan_linux(&policy, &HostSupport::full(abi), PlanOptions::default())
            .expect("a plan with every layer")
    }
}

/// `open(path, O_WRONLY | O_CREAT | O_TRUNC)`.
pub(super) fn create(path: &Path) -> Outcome {
    Outcome::io(std::fs::File::create(path))
}

/// `open(path, O_WRONLY | O_APPEND)` on an existing file.
pub(super) fn open_for_writing(path: &Path) -> Outcome {
    Outcome::io(std::fs::OpenOptions::new().append(true).open(path))
}
