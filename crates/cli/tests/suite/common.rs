//! Helpers: run cordon and the probe, find this machine's addresses.

use std::net::IpAddr;
use std::path::{Path, PathBuf};
use std::process::{Command, Output};

/// The `cordon` under test: the one cargo built, or the one
/// `$CORDON_TEST_BIN` names (CI runs the sandbox and proxy suites again
/// against the static release binary).
pub const CORDON: Cordon = Cordon;

/// See [`CORDON`].
#[derive(Clone, Copy)]
pub struct Cordon;

impl Cordon {
    /// The binary's path, read once.
    pub fn path(self) -> &'static str {
        static PATH: std::sync::OnceLock<String> = std::sync::OnceLock::new();
        PATH.get_or_init(|| match std::env::var("CORDON_TEST_BIN") {
            Ok(p) if !p.is_empty() => {
                assert!(
                    Path::new(&p).is_absolute() && Path::new(&p).is_file(),
                    "CORDON_TEST_BIN must name an existing binary by an absolute path: {p}"
                );
                p
            }
            _ => env!("CARGO_BIN_EXE_cordon").to_string(),
        })
    }
}

impl AsRef<std::ffi::OsStr> for Cordon {
    fn as_ref(&self) -> &std::ffi::OsStr {
        self.path().as_ref()
    }
}

impl AsRef<Path> for Cordon {
    fn as_ref(&self) -> &Path {
        self.path().as_ref()
    }
}

impl std::fmt::Display for Cordon {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(self.path())
    }
}

pub const PROBE: &str = env!("CARGO_BIN_EXE_cordon-test-probe");

/// A scratch world for one test: a cordon home, a workspace and a
/// directory outside every writable root.
pub struct World {
    pub home: tempfile::TempDir,
    pub work: tempfile::TempDir,
    pub outside: tempfile::TempDir,
}

impl World {
    pub fn new() -> Self {
        // Not under /tmp: runs of other tests have /tmp as a writable root
        // and would see (and lock) this workspace's placeholders.
        World {
            home: tempfile::tempdir_in("/var/tmp").unwrap(),
            work: tempfile::tempdir_in("/var/tmp").unwrap(),
            // /var/tmp is not a writable root in any mode.
            outside: tempfile::tempdir_in("/var/tmp").unwrap(),
        }
    }

    pub fn work(&self) -> PathBuf {
        std::fs::canonicalize(self.work.path()).unwrap()
    }

    pub fn outside(&self) -> PathBuf {
        std::fs::canonicalize(self.outside.path()).unwrap()
    }

    /// `cordon sandbox <flags> -- <cmd>` in the workspace.
    pub fn cordon(&self, flags: &[&str], cmd: &[&str]) -> Output {
        self.cordon_cmd(flags, cmd).output().unwrap()
    }

    pub fn cordon_cmd(&self, flags: &[&str], cmd: &[&str]) -> Command {
        let mut c = Command::new(CORDON);
        c.arg("sandbox").args(flags).arg("--").args(cmd);
        c.current_dir(self.work.path())
            .env("CORDON_HOME", self.home.path());
        c
    }

    /// The probe under the sandbox.
    pub fn probe_in(&self, flags: &[&str], action: &[&str]) -> Output {
        let mut cmd = vec![PROBE];
        cmd.extend_from_slice(action);
        self.cordon(flags, &cmd)
    }
}

/// The probe outside any sandbox (the positive control).
pub fn probe_outside(cwd: &Path, action: &[&str]) -> Output {
    Command::new(PROBE)
        .args(action)
        .current_dir(cwd)
        .output()
        .unwrap()
}

pub fn text(o: &Output) -> String {
    format!(
        "status {:?}\nstdout: {}\nstderr: {}",
        o.status.code(),
        String::from_utf8_lossy(&o.stdout),
        String::from_utf8_lossy(&o.stderr)
    )
}

#[track_caller]
pub fn assert_ok(o: &Output) {
    assert!(
        o.status.success() && o.stdout.starts_with(b"ok"),
        "expected success:\n{}",
        text(o)
    );
}

/// The probe ran and was denied (exit 1 with its own message), as opposed
/// to cordon failing to start it.
#[track_caller]
pub fn assert_denied(o: &Output) {
    assert_eq!(
        o.status.code(),
        Some(1),
        "expected the probe to be denied:\n{}",
        text(o)
    );
    assert!(
        String::from_utf8_lossy(&o.stderr).contains("denied:"),
        "{}",
        text(o)
    );
}

/// The probe was denied with exactly `errno` (the probe's message ends in
/// Rust's `(os error N)`), so the layer meant refused it, not another.
#[track_caller]
pub fn assert_denied_errno(o: &Output, errno: i32) {
    assert_denied(o);
    let stderr = String::from_utf8_lossy(&o.stderr);
    assert!(
        stderr.contains(&format!("(os error {errno})")),
        "expected errno {errno} ({}):\n{}",
        std::io::Error::from_raw_os_error(errno),
        text(o)
    );
}

/// The escape test: the control succeeds outside, the attempt fails inside.
#[track_caller]
pub fn assert_escape_blocked(w: &World, flags: &[&str], action: &[&str]) {
    assert_ok(&probe_outside(&w.work(), action));
    assert_denied(&w.probe_in(flags, action));
}

/// [`assert_escape_blocked`], refused with exactly `errno` inside.
#[track_caller]
pub fn assert_escape_blocked_errno(w: &World, flags: &[&str], action: &[&str], errno: i32) {
    assert_ok(&probe_outside(&w.work(), action));
    assert_denied_errno(&w.probe_in(flags, action), errno);
}

/// Whether a test that needs host `feature` must skip: when `available`
/// is false it records itself as skipped (`scripts/test` prints every skip
/// with its reason and counts them) and the caller returns. This is the
/// only way a test may end without making its check; a test whose check
/// cannot be made for any other reason fails.
#[must_use]
pub fn skip_without(feature: &str, available: bool, reason: &str) -> bool {
    if available {
        return false;
    }
    let test = std::thread::current()
        .name()
        .unwrap_or("unnamed test")
        .to_string();
    // SAFETY: geteuid cannot fail.
    let uid = unsafe { libc::geteuid() };
    let line = format!("{test}\t{feature}\t{reason}\t{uid}\n");
    eprint!("SKIPPED {line}");
    if let Some(path) = std::env::var_os("CORDON_TEST_SKIPS") {
        use std::io::Write;
        let file = std::fs::OpenOptions::new()
            .create(true)
            .append(true)
            .open(&path);
        let written = file.and_then(|mut f| f.write_all(line.as_bytes()));
        assert!(
            written.is_ok(),
            "cannot record the skip in {path:?}: {written:?}"
        );
    }
    true
}

pub fn is_root() -> bool {
    // SAFETY: geteuid cannot fail.
    unsafe { libc::geteuid() == 0 }
}

/// This machine's own non-loopback, non-link-local addresses.
pub fn own_addresses() -> Vec<IpAddr> {
    let mut out = cordon_proxy::own_addresses().expect("listing own addresses");
    out.retain(|ip| {
        !ip.is_loopback()
            && match ip {
                IpAddr::V6(v6) => (v6.segments()[0] & 0xffc0) != 0xfe80,
                IpAddr::V4(v4) => !v4.is_link_local(),
            }
    });
    out
}
