//! Long-running commands the model can talk to (`exec_command` and
//! `write_stdin`): each runs in its own sandbox launcher, its output is
//! collected as it comes, and a call returns when the command exits or its
//! `yield_time_ms` runs out, with the output since the last call and, while
//! it runs, a session id (1, 2, 3... in each session) to write to it later.
//!
//! At most [`MAX_PROCESSES`] run at once: starting one more kills the one
//! idle the longest, and the model is told. Every process dies with the
//! session (drop), on interrupt (the launchers are watched by the session's
//! [`Interrupt`]) and when cordon dies (the launcher's parent-death signal).

use crate::interrupt::Interrupt;
use std::collections::BTreeMap;
use std::io::{Read, Write};
use std::process::{Child, ChildStdin, Command, Stdio};
use std::sync::{Arc, Condvar, Mutex};
use std::time::{Duration, Instant};

/// Most processes running at once in one session.
pub const MAX_PROCESSES: usize = 16;

/// Most bytes kept of what a process printed between two calls; the middle
/// of more is dropped and counted.
const KEEP: usize = 1024 * 1024;

/// Output collected from a process, shared with its reader thread.
#[derive(Default)]
struct Collected {
    state: Mutex<Pending>,
    more: Condvar,
}

#[derive(Default)]
struct Pending {
    bytes: Vec<u8>,
    dropped: usize,
    /// The reader reached the end of the output.
    closed: bool,
}

struct Process {
    child: Child,
    stdin: Option<ChildStdin>,
    collected: Arc<Collected>,
    command: String,
    last_used: Instant,
    started: Instant,
}

/// What a call sees of a process.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Poll {
    /// Output since the previous call (head and tail when it was long).
    pub output: Vec<u8>,
    /// Bytes dropped from the middle of `output`.
    pub dropped: usize,
    /// The exit code (128 + N for signal N) once it ended.
    pub exit_code: Option<i32>,
    /// The session id while it still runs.
    pub session_id: Option<u32>,
}

/// A process listed for people (`/ps`).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Listed {
    /// Session id.
    pub id: u32,
    /// The command line.
    pub command: String,
    /// Running for.
    pub age: Duration,
}

/// The session's running processes.
pub struct Processes {
    next: u32,
    running: BTreeMap<u32, Process>,
    interrupt: Arc<Interrupt>,
}

impl Processes {
    /// No processes yet; `interrupt` kills them all when triggered.
    pub fn new(interrupt: Arc<Interrupt>) -> Processes {
        Processes {
            next: 1,
            running: BTreeMap::new(),
            interrupt,
        }
    }

    /// Starts `cmd` (stdin, stdout and stderr are set here) under the id
    /// it returns; when [`MAX_PROCESSES`] already run, the one idle longest
    /// is killed first and a note says so.
    pub fn start(
        &mut self,
        mut cmd: Command,
        label: String,
    ) -> std::io::Result<(u32, Vec<String>)> {
        let mut notes = Vec::new();
        if self.running.len() >= MAX_PROCESSES {
            if let Some((&oldest, _)) = self.running.iter().min_by_key(|(_, p)| p.last_used) {
                if let Some(p) = self.running.remove(&oldest) {
                    notes.push(format!(
                        "session {oldest} (`{}`) was killed: at most {MAX_PROCESSES} commands run at once, and it was idle the longest",
                        p.command
                    ));
                    end(p, &self.interrupt);
                }
            }
        }
        cmd.stdin(Stdio::piped())
            .stdout(Stdio::piped())
            .stderr(Stdio::piped());
        let mut child = cmd.spawn()?;
        self.interrupt.watch_child(child.id());
        let collected = Arc::new(Collected::default());
        let readers = [
            child
                .stdout
                .take()
                .map(|o| Box::new(o) as Box<dyn Read + Send>),
            child
                .stderr
                .take()
                .map(|e| Box::new(e) as Box<dyn Read + Send>),
        ];
        let open = Arc::new(Mutex::new(readers.iter().filter(|r| r.is_some()).count()));
        for reader in readers.into_iter().flatten() {
            let collected = collected.clone();
            let open = open.clone();
            std::thread::spawn(move || collect(reader, &collected, &open));
        }
        let id = self.next;
        self.next += 1;
        let now = Instant::now();
        self.running.insert(
            id,
            Process {
                stdin: child.stdin.take(),
                child,
                collected,
                command: label,
                last_used: now,
                started: now,
            },
        );
        Ok((id, notes))
    }

    /// Writes `bytes` to process `id`'s input.
    pub fn write(&mut self, id: u32, bytes: &[u8]) -> Result<(), String> {
        let p = self
            .running
            .get_mut(&id)
            .ok_or_else(|| format!("no running session {id}"))?;
        p.last_used = Instant::now();
        let stdin = p
            .stdin
            .as_mut()
            .ok_or_else(|| format!("session {id}'s input is closed"))?;
        stdin
            .write_all(bytes)
            .and_then(|()| stdin.flush())
            .map_err(|e| format!("session {id}: cannot write its input: {e}"))
    }

    /// Waits until process `id` ends or `yield_for` passes (or the turn is
    /// interrupted), then returns what it printed since the last call.
    pub fn poll(&mut self, id: u32, yield_for: Duration) -> Result<Poll, String> {
        let mut deadline = Instant::now() + yield_for;
        let mut interrupted = false;
        let p = self
            .running
            .get_mut(&id)
            .ok_or_else(|| format!("no running session {id}"))?;
        p.last_used = Instant::now();
        let mut exit_code = None;
        loop {
            if let Ok(Some(status)) = p.child.try_wait() {
                exit_code = Some(code_of(status));
                // The rest of its output (its tree is gone with it).
                wait_closed(&p.collected, Duration::from_millis(500));
                break;
            }
            let now = Instant::now();
            if !interrupted && self.interrupt.is_set() {
                // Its launcher was just killed: a moment to see it end.
                interrupted = true;
                deadline = deadline.min(now + Duration::from_millis(500));
            }
            if now >= deadline {
                break;
            }
            let state = p
                .collected
                .state
                .lock()
                .map_err(|_| "output lock poisoned".to_string())?;
            let step = (deadline - now).min(Duration::from_millis(20));
            let _ = p.collected.more.wait_timeout(state, step);
        }
        let (output, dropped) = take(&p.collected);
        let session_id = if exit_code.is_some() {
            if let Some(p) = self.running.remove(&id) {
                self.interrupt.forget_child(p.child.id());
            }
            None
        } else {
            Some(id)
        };
        Ok(Poll {
            output,
            dropped,
            exit_code,
            session_id,
        })
    }

    /// The running processes, oldest first.
    pub fn list(&self) -> Vec<Listed> {
        self.running
            .iter()
            .map(|(&id, p)| Listed {
                id,
                command: p.command.clone(),
                age: p.started.elapsed(),
            })
            .collect()
    }

    /// Kills every process.
    pub fn kill_all(&mut self) {
        for (_, p) in std::mem::take(&mut self.running) {
            end(p, &self.interrupt);
        }
    }
}

impl Drop for Processes {
    fn drop(&mut self) {
        self.kill_all();
    }
}

/// Kills and reaps one process (its launcher takes the sandbox down).
fn end(mut p: Process, interrupt: &Interrupt) {
    let _ = p.child.kill();
    let _ = p.child.wait();
    interrupt.forget_child(p.child.id());
}

fn code_of(status: std::process::ExitStatus) -> i32 {
    #[cfg(unix)]
    {
        use std::os::unix::process::ExitStatusExt;
        if let Some(sig) = status.signal() {
            return 128 + sig;
        }
    }
    status.code().unwrap_or(-1)
}

/// Appends what `reader` yields to `collected`, keeping the first and the
/// last [`KEEP`] / 2 bytes of a long stretch between two calls.
fn collect(mut reader: Box<dyn Read + Send>, collected: &Collected, open: &Mutex<usize>) {
    let mut buf = [0u8; 16 * 1024];
    loop {
        let n = match reader.read(&mut buf) {
            Ok(0) | Err(_) => break,
            Ok(n) => n,
        };
        if let Ok(mut s) = collected.state.lock() {
            s.bytes.extend_from_slice(&buf[..n]);
            if s.bytes.len() > KEEP {
                let cut = s.bytes.len() - KEEP;
                let start = KEEP / 2;
                s.bytes.drain(start..start + cut);
                s.dropped += cut;
            }
        }
        collected.more.notify_all();
    }
    if let Ok(mut left) = open.lock() {
        *left -= 1;
        if *left == 0 {
            if let Ok(mut s) = collected.state.lock() {
                s.closed = true;
            }
        }
    }
    collected.more.notify_all();
}

/// Waits (at most `limit`) until the readers reach the end of the output.
fn wait_closed(collected: &Collected, limit: Duration) {
    let deadline = Instant::now() + limit;
    let Ok(mut s) = collected.state.lock() else {
        return;
    };
    while !s.closed {
        let now = Instant::now();
        if now >= deadline {
            return;
        }
        match collected.more.wait_timeout(s, deadline - now) {
            Ok((g, _)) => s = g,
            Err(_) => return,
        }
    }
}

fn take(collected: &Collected) -> (Vec<u8>, usize) {
    match collected.state.lock() {
        Ok(mut s) => {
            let dropped = std::mem::take(&mut s.dropped);
            (std::mem::take(&mut s.bytes), dropped)
        }
        Err(_) => (Vec::new(), 0),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn sh(script: &str) -> Command {
        let mut c = Command::new("sh");
        c.arg("-c").arg(script);
        c
    }

    /// A REPL-like process: started, talked to twice, then it exits; ids
    /// count from 1; the output of each call is what came since the last.
    #[test]
    fn a_process_is_started_written_to_and_ends() {
        let mut ps = Processes::new(Arc::new(Interrupt::default()));
        let (id, notes) = ps
            .start(
                sh("while read l; do echo \"got $l\"; done; echo bye"),
                "loop".into(),
            )
            .unwrap();
        assert_eq!((id, notes.len()), (1, 0));
        let first = ps.poll(id, Duration::from_millis(50)).unwrap();
        assert_eq!(first.session_id, Some(1));
        assert!(first.output.is_empty());
        ps.write(id, b"one\n").unwrap();
        let second = ps.poll(id, Duration::from_millis(300)).unwrap();
        assert_eq!(String::from_utf8_lossy(&second.output), "got one\n");
        ps.write(id, b"two\n").unwrap();
        assert_eq!(
            String::from_utf8_lossy(&ps.poll(id, Duration::from_millis(300)).unwrap().output),
            "got two\n"
        );
        ps.running.get_mut(&id).unwrap().stdin = None;
        let last = ps.poll(id, Duration::from_secs(5)).unwrap();
        assert_eq!(last.exit_code, Some(0));
        assert_eq!(last.session_id, None);
        assert_eq!(String::from_utf8_lossy(&last.output), "bye\n");
        assert!(ps.poll(id, Duration::ZERO).is_err(), "gone once it ended");
        let (next, _) = ps.start(sh("true"), "t".into()).unwrap();
        assert_eq!(next, 2);
    }

    /// A call returns as soon as the process ends, not after its yield.
    #[test]
    fn a_quick_command_returns_before_its_yield() {
        let mut ps = Processes::new(Arc::new(Interrupt::default()));
        let (id, _) = ps.start(sh("echo hi; exit 3"), "hi".into()).unwrap();
        let start = Instant::now();
        let p = ps.poll(id, Duration::from_secs(30)).unwrap();
        assert!(start.elapsed() < Duration::from_secs(10));
        assert_eq!((p.exit_code, p.output), (Some(3), b"hi\n".to_vec()));
    }

    /// The seventeenth process kills the one idle longest, with a note;
    /// an interrupt and the end of the session kill the rest.
    #[test]
    fn the_limit_evicts_the_idlest_and_everything_dies_with_the_session() {
        let interrupt = Arc::new(Interrupt::default());
        let mut ps = Processes::new(interrupt.clone());
        let mut pids = Vec::new();
        for i in 0..MAX_PROCESSES {
            let (id, notes) = ps.start(sh("sleep 30"), format!("sleep {i}")).unwrap();
            assert!(notes.is_empty());
            pids.push(ps.running[&id].child.id());
            // Touch all but the first, so the first is the idlest.
            if i > 0 {
                ps.poll(id, Duration::ZERO).unwrap();
            }
        }
        let (_, notes) = ps.start(sh("sleep 30"), "one more".into()).unwrap();
        assert_eq!(notes.len(), 1, "{notes:?}");
        assert!(notes[0].contains("session 1"), "{notes:?}");
        assert!(!ps.running.contains_key(&1));
        assert_eq!(ps.list().len(), MAX_PROCESSES);
        let alive = |pid: u32| {
            std::path::Path::new(&format!("/proc/{pid}")).exists()
                && !std::fs::read_to_string(format!("/proc/{pid}/stat"))
                    .unwrap_or_default()
                    .contains(") Z ")
        };
        assert!(!alive(pids[0]));
        interrupt.trigger();
        let p = ps.poll(2, Duration::from_secs(5)).unwrap();
        assert_eq!(p.exit_code, Some(128 + 9), "killed by the interrupt");
        drop(ps);
        for pid in &pids[2..] {
            assert!(!alive(*pid), "{pid} outlived the session");
        }
    }
}
