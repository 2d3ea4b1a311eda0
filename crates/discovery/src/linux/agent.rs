//! The per-user discovery agent: a long-lived process that keeps the roots
//! one-shot runs asked about watched (the session watch of `watch.rs`, one
//! per root) and answers each run with the root's current protected set,
//! so a run in a large tree walks nothing.
//!
//! It listens on `$CORDON_HOME/discovery/agent.sock` (the directory is the
//! user's, mode 0700, read-only inside every sandbox; no sandboxed command
//! can create a unix socket at all). One instance per directory: it holds
//! an exclusive lock on `agent.lock` for its lifetime. Before answering it
//! takes in every event queued so far ([`crate::Watcher::current`] drains
//! the inotify queue to `EAGAIN`), so a change made before the request is
//! seen; after an event queue overflow it walks again before answering,
//! and a root it cannot watch (the watch limit, an error) is answered
//! "unsure", as is a root it does not watch yet (it starts watching after
//! the answer). "Unsure", a slow answer, or any doubt about the socket or
//! its peer, and the run discovers for itself (the index, or a walk).
//!
//! It exits after [`IDLE`] without a request, or when its socket is no
//! longer the one it bound (the directory removed, another agent).

use super::index_file;
use super::sys;
use crate::{HandedRoot, Watcher};
use serde::{Deserialize, Serialize};
use std::collections::HashMap;
use std::ffi::CString;
use std::io::{BufRead, BufReader, Read, Write};
use std::os::fd::{AsFd, AsRawFd, FromRawFd, OwnedFd};
use std::os::unix::ffi::OsStrExt;
use std::os::unix::net::{UnixListener, UnixStream};
use std::path::{Path, PathBuf};
use std::time::{Duration, Instant};

/// The socket's name in `$CORDON_HOME/discovery`.
const SOCKET: &std::ffi::CStr = c"agent.sock";
/// The lock one agent holds while it runs.
const LOCK: &std::ffi::CStr = c"agent.lock";
/// An agent with no request for this long exits.
pub const IDLE: Duration = Duration::from_secs(600);
/// How often an idle agent checks its socket is still there.
const CHECK_EVERY: Duration = Duration::from_secs(5);
/// At most this many roots are watched; the least recently asked goes.
const MAX_ROOTS: usize = 32;
/// A root the agent could not watch is tried again after this long.
const RETRY_AFTER: Duration = Duration::from_secs(60);
/// A root with more directories than this is not kept watched (its
/// watches would crowd out the sessions' under the per-user limit); it is
/// tried again only after [`IDLE`].
const MAX_DIRS: usize = 500_000;
/// The longest request line read (a root and its nested roots).
const MAX_REQUEST: u64 = 1 << 20;
/// The longest answer read.
const MAX_ANSWER: u64 = 64 << 20;

/// One request: the protected set of `root`, whose nested roots `skip`
/// are not descended.
#[derive(Debug, Serialize, Deserialize)]
struct Request {
    root: PathBuf,
    skip: Vec<PathBuf>,
}

/// The agent's answer.
#[derive(Debug, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
enum Answer {
    /// The root's set, current as of the request.
    Set(HandedRoot),
    /// No set: the run discovers for itself.
    Unsure(String),
}

pub use crate::agent_unavailable::AgentUnavailable;

/// A connection to the discovery agent, used for one run's roots within
/// a deadline.
pub struct AgentClient {
    reader: BufReader<UnixStream>,
    deadline: Instant,
    pid: i32,
}

impl AgentClient {
    /// Connects to the agent of `home` and checks it: the socket is a
    /// socket (not a link) owned by the user, in the user's private
    /// `discovery` directory; the peer runs as the user, in this mount
    /// namespace. Everything (this and every answer) must happen within
    /// `budget`.
    pub fn connect(home: &Path, budget: Duration) -> Result<AgentClient, AgentUnavailable> {
        let deadline = Instant::now() + budget;
        let dir = index_file::open_dir(home, false).map_err(AgentUnavailable::NotRunning)?;
        let st = match sys::lstatat(Some(dir.as_fd()), SOCKET) {
            Ok(st) => st,
            Err(e) if e.raw_os_error() == Some(libc::ENOENT) => {
                return Err(AgentUnavailable::NotRunning("no socket".into()))
            }
            Err(e) => return Err(AgentUnavailable::Refused(format!("socket: {e}"))),
        };
        if st.mode & libc::S_IFMT != libc::S_IFSOCK {
            return Err(AgentUnavailable::Refused(
                "agent.sock is not a socket".into(),
            ));
        }
        if st.uid != sys::euid() {
            return Err(AgentUnavailable::Refused(format!(
                "agent.sock is owned by uid {}, not {}",
                st.uid,
                sys::euid()
            )));
        }
        // Through the directory already checked, whatever its path.
        let path = format!("/proc/self/fd/{}/agent.sock", dir.as_raw_fd());
        let stream = UnixStream::connect(&path).map_err(|e| match e.raw_os_error() {
            Some(libc::ECONNREFUSED | libc::ENOENT) => {
                AgentUnavailable::NotRunning(format!("connect: {e}"))
            }
            _ => AgentUnavailable::Refused(format!("connect: {e}")),
        })?;
        let (pid, uid) = peer(&stream).map_err(AgentUnavailable::Refused)?;
        if uid != sys::euid() {
            return Err(AgentUnavailable::Refused(format!(
                "the agent runs as uid {uid}, not {}",
                sys::euid()
            )));
        }
        if pid <= 0 || !same_mount_ns(pid) {
            return Err(AgentUnavailable::Refused(
                "the agent is in another mount or PID namespace".into(),
            ));
        }
        Ok(AgentClient {
            reader: BufReader::new(stream),
            deadline,
            pid,
        })
    }

    /// The agent's process id.
    pub fn pid(&self) -> i32 {
        self.pid
    }

    /// The agent's current set for `root` (with nested roots `skip`);
    /// `Err` says why there is none ("unsure", too slow, a broken
    /// connection): the run discovers `root` for itself.
    pub fn ask(&mut self, root: &Path, skip: &[PathBuf]) -> Result<HandedRoot, String> {
        let left = self
            .deadline
            .checked_duration_since(Instant::now())
            .filter(|d| !d.is_zero())
            .ok_or("out of time")?;
        let stream = self.reader.get_ref();
        stream
            .set_read_timeout(Some(left))
            .and_then(|_| stream.set_write_timeout(Some(left)))
            .map_err(|e| e.to_string())?;
        let request = Request {
            root: root.to_path_buf(),
            skip: skip.to_vec(),
        };
        let mut line = serde_json::to_vec(&request).map_err(|e| e.to_string())?;
        line.push(b'\n');
        (&mut self.reader.get_ref())
            .write_all(&line)
            .map_err(|e| format!("send: {e}"))?;
        let mut answer = Vec::new();
        (&mut self.reader)
            .take(MAX_ANSWER)
            .read_until(b'\n', &mut answer)
            .map_err(|e| format!("answer: {e}"))?;
        match serde_json::from_slice(&answer).map_err(|e| format!("answer: {e}"))? {
            Answer::Set(set) if set.root == root && set.skip == skip => Ok(set),
            Answer::Set(_) => Err("the answer is for another root".into()),
            Answer::Unsure(why) => Err(why),
        }
    }
}

/// The peer's pid and uid (`SO_PEERCRED`).
fn peer(stream: &UnixStream) -> Result<(i32, u32), String> {
    // SAFETY: a zeroed ucred is a valid out-parameter.
    let mut cred: libc::ucred = unsafe { std::mem::zeroed() };
    let mut len = std::mem::size_of::<libc::ucred>() as libc::socklen_t;
    // SAFETY: valid socket, out-pointer and length.
    let r = unsafe {
        libc::getsockopt(
            stream.as_raw_fd(),
            libc::SOL_SOCKET,
            libc::SO_PEERCRED,
            (&mut cred as *mut libc::ucred).cast(),
            &mut len,
        )
    };
    if r < 0 {
        return Err(format!("SO_PEERCRED: {}", std::io::Error::last_os_error()));
    }
    Ok((cred.pid, cred.uid))
}

/// Whether process `pid` is in this process's mount namespace (the agent
/// must see the same tree as the run).
fn same_mount_ns(pid: i32) -> bool {
    let id = |p: &str| {
        let c = CString::new(p).ok()?;
        let st = sys::statat_follow(&c).ok()?;
        Some((st.dev, st.ino))
    };
    match (id("/proc/self/ns/mnt"), id(&format!("/proc/{pid}/ns/mnt"))) {
        (Some(a), Some(b)) => a == b,
        _ => false,
    }
}

/// Starts an agent for `home`, detached (its own session, no terminal,
/// no inherited streams), running this very executable (`/proc/self/exe`,
/// not a path a command could have replaced) as `cordon discovery-agent
/// --home HOME`, watching `roots` (each with its nested roots) from the
/// start.
pub fn spawn(home: &Path, roots: &[(PathBuf, Vec<PathBuf>)]) -> std::io::Result<()> {
    use std::os::unix::process::CommandExt;
    let mut cmd = std::process::Command::new("/proc/self/exe");
    cmd.arg0("cordon")
        .arg("discovery-agent")
        .arg("--home")
        .arg(home);
    if let Ok(json) = serde_json::to_string(roots) {
        cmd.arg("--watch").arg(json);
    }
    cmd.current_dir("/")
        .stdin(std::process::Stdio::null())
        .stdout(std::process::Stdio::null())
        .stderr(std::process::Stdio::null());
    // SAFETY: setsid and close_range are async-signal-safe system calls.
    unsafe {
        cmd.pre_exec(|| {
            if libc::setsid() < 0 {
                return Err(std::io::Error::last_os_error());
            }
            // Nothing of this run's (a session's report file, say) stays
            // open in the agent; where close_range is missing, the
            // descriptors cordon hands down are close-on-exec anyway.
            libc::syscall(libc::SYS_close_range, 3u32, u32::MAX, 0u32);
            Ok(())
        });
    }
    // Reaped by nobody: the agent outlives this run (init adopts it).
    cmd.spawn().map(|_| ())
}

struct Root {
    watcher: Option<Watcher>,
    failed: Option<(Instant, String)>,
    asked: Instant,
}

/// Parses `--watch`: a JSON list of roots, each with its nested roots.
pub fn parse_roots(json: &str) -> Result<Vec<(PathBuf, Vec<PathBuf>)>, String> {
    serde_json::from_str(json).map_err(|e| format!("--watch: {e}"))
}

/// Runs the agent for `home` until it has been idle for `idle`, watching
/// `roots` from the start (once it listens: a run asking meanwhile waits
/// for it no longer than its budget). Returns at once when another agent
/// holds the lock.
pub fn serve(
    home: &Path,
    idle: Duration,
    roots_at_start: &[(PathBuf, Vec<PathBuf>)],
) -> Result<(), String> {
    let dir = index_file::open_dir(home, true)?;
    // SAFETY: valid descriptor and C string; the result is checked.
    let lock = unsafe {
        libc::openat(
            dir.as_raw_fd(),
            LOCK.as_ptr(),
            libc::O_RDWR | libc::O_CREAT | libc::O_NOFOLLOW | libc::O_CLOEXEC,
            0o600 as libc::c_uint,
        )
    };
    if lock < 0 {
        return Err(format!("agent.lock: {}", std::io::Error::last_os_error()));
    }
    // SAFETY: just opened, owned by nobody else.
    let lock = unsafe { OwnedFd::from_raw_fd(lock) };
    // SAFETY: valid descriptor.
    if unsafe { libc::flock(lock.as_raw_fd(), libc::LOCK_EX | libc::LOCK_NB) } < 0 {
        return Ok(());
    }
    // Whatever is at the socket's name (a dead agent's socket, anything
    // else) goes: this agent holds the lock. unlinkat follows no link.
    let _ = sys::unlinkat(dir.as_fd(), SOCKET);
    let path = format!("/proc/self/fd/{}/agent.sock", dir.as_raw_fd());
    let listener = UnixListener::bind(&path).map_err(|e| format!("bind agent.sock: {e}"))?;
    // 0600 (the directory, 0700, already keeps others out).
    // SAFETY: valid descriptor and C string.
    if unsafe { libc::fchmodat(dir.as_raw_fd(), SOCKET.as_ptr(), 0o600, 0) } < 0 {
        return Err(format!(
            "chmod agent.sock: {}",
            std::io::Error::last_os_error()
        ));
    }
    let mine = sys::lstatat(Some(dir.as_fd()), SOCKET)
        .map(|st| (st.dev, st.ino))
        .map_err(|e| format!("agent.sock: {e}"))?;
    let mut roots: HashMap<(PathBuf, Vec<PathBuf>), Root> = HashMap::new();
    for key in roots_at_start.iter().take(MAX_ROOTS) {
        if key.0.is_absolute() {
            start_watching(&mut roots, key.clone());
        }
    }
    let mut last_request = Instant::now();
    loop {
        let left = idle.saturating_sub(last_request.elapsed());
        if left.is_zero() {
            break;
        }
        let wait = left.min(CHECK_EVERY);
        let mut pfd = libc::pollfd {
            fd: listener.as_raw_fd(),
            events: libc::POLLIN,
            revents: 0,
        };
        // SAFETY: one valid pollfd.
        let n = unsafe { libc::poll(&mut pfd, 1, wait.as_millis() as libc::c_int) };
        if n == 0 {
            // Still ours? (the directory removed, the name replaced)
            match sys::lstatat(Some(dir.as_fd()), SOCKET) {
                Ok(st) if (st.dev, st.ino) == mine => continue,
                _ => return Ok(()),
            }
        }
        if n < 0 {
            let e = std::io::Error::last_os_error();
            if e.kind() == std::io::ErrorKind::Interrupted {
                continue;
            }
            return Err(format!("poll: {e}"));
        }
        let Ok((stream, _)) = listener.accept() else {
            continue;
        };
        last_request = Instant::now();
        let new = serve_one(stream, &mut roots);
        for key in new {
            start_watching(&mut roots, key);
        }
    }
    // Only this agent (holding the lock) binds the name: it is ours.
    if matches!(sys::lstatat(Some(dir.as_fd()), SOCKET), Ok(st) if (st.dev, st.ino) == mine) {
        let _ = sys::unlinkat(dir.as_fd(), SOCKET);
    }
    drop(lock);
    Ok(())
}

/// Answers one connection's requests; returns the roots to start
/// watching (after the answers: a first walk can take long).
fn serve_one(
    stream: UnixStream,
    roots: &mut HashMap<(PathBuf, Vec<PathBuf>), Root>,
) -> Vec<(PathBuf, Vec<PathBuf>)> {
    let mut new = Vec::new();
    // Only the user's own processes are answered.
    if !matches!(peer(&stream), Ok((_, uid)) if uid == sys::euid()) {
        return new;
    }
    // A client that stops talking must not hold the agent up.
    let limit = Some(Duration::from_millis(500));
    if stream.set_read_timeout(limit).is_err() || stream.set_write_timeout(limit).is_err() {
        return new;
    }
    let Ok(writer) = stream.try_clone() else {
        return new;
    };
    let mut writer = writer;
    let mut reader = BufReader::new(stream);
    loop {
        let mut line = Vec::new();
        match (&mut reader).take(MAX_REQUEST).read_until(b'\n', &mut line) {
            Ok(0) | Err(_) => return new,
            Ok(_) => {}
        }
        let answer = match serde_json::from_slice::<Request>(&line) {
            Ok(req) => answer(roots, req, &mut new),
            Err(e) => Answer::Unsure(format!("bad request: {e}")),
        };
        let Ok(mut bytes) = serde_json::to_vec(&answer) else {
            return new;
        };
        bytes.push(b'\n');
        if writer.write_all(&bytes).is_err() {
            return new;
        }
    }
}

fn answer(
    roots: &mut HashMap<(PathBuf, Vec<PathBuf>), Root>,
    req: Request,
    new: &mut Vec<(PathBuf, Vec<PathBuf>)>,
) -> Answer {
    if !req.root.is_absolute() || req.root.as_os_str().as_bytes().contains(&0) {
        return Answer::Unsure("the root is not an absolute path".into());
    }
    if req.root == Path::new("/") {
        // The whole file system (a run started at /): not worth its watches.
        return Answer::Unsure("the agent does not watch /".into());
    }
    let key = (req.root, req.skip);
    let Some(root) = roots.get_mut(&key) else {
        if !new.contains(&key) {
            new.push(key);
        }
        return Answer::Unsure("the agent is not watching this root yet".into());
    };
    root.asked = Instant::now();
    if let Some((when, why)) = &root.failed {
        let retry = if why.contains("directories") {
            IDLE
        } else {
            RETRY_AFTER
        };
        if when.elapsed() >= retry && !new.contains(&key) {
            new.push(key.clone());
        }
        return Answer::Unsure(why.clone());
    }
    let Some(watcher) = &root.watcher else {
        return Answer::Unsure("no watch".into());
    };
    match watcher.current() {
        Ok(set) => match set.roots.into_iter().next() {
            Some(found) => Answer::Set(found),
            None => Answer::Unsure("the watch has no root".into()),
        },
        Err(why) => {
            // Read everything again before answering for it again: now,
            // or after a while when the watch limit was reached.
            root.watcher = None;
            root.failed = Some((Instant::now(), why.clone()));
            if !why.contains("watch limit") && !new.contains(&key) {
                new.push(key);
            }
            Answer::Unsure(why)
        }
    }
}

fn start_watching(
    roots: &mut HashMap<(PathBuf, Vec<PathBuf>), Root>,
    key: (PathBuf, Vec<PathBuf>),
) {
    if !roots.contains_key(&key) && roots.len() >= MAX_ROOTS {
        if let Some(oldest) = roots
            .iter()
            .min_by_key(|(_, r)| r.asked)
            .map(|(k, _)| k.clone())
        {
            roots.remove(&oldest);
        }
    }
    if key.0 == Path::new("/") {
        return;
    }
    let watcher = Watcher::start_now(vec![key.clone()]);
    let too_big = watcher.last_read().is_some_and(|n| n > MAX_DIRS);
    let current = if too_big {
        Err(format!("more than {MAX_DIRS} directories under the root"))
    } else {
        watcher.current().map(|_| ())
    };
    let root = match current {
        Ok(()) => Root {
            watcher: Some(watcher),
            failed: None,
            asked: Instant::now(),
        },
        Err(why) => Root {
            watcher: None,
            failed: Some((Instant::now(), why)),
            asked: Instant::now(),
        },
    };
    roots.insert(key, root);
}
