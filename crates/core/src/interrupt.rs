//! Interrupting a turn (Ctrl-C): a flag the loop checks, plus the things
//! that block and must be woken: the model connection (shut down), a
//! retry's wait (woken) and running commands (killed, which ends their
//! sandbox).

use std::net::TcpStream;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Condvar, Mutex};
use std::time::{Duration, Instant};

/// Shared interrupt state for one session.
#[derive(Debug, Default)]
pub struct Interrupt {
    set: AtomicBool,
    /// The connection in use (a turn makes one request at a time); holding
    /// only the latest keeps abandoned connections from staying open.
    socket: Mutex<Option<TcpStream>>,
    children: Mutex<Vec<u32>>,
    wake: Condvar,
}

impl Interrupt {
    /// Whether the turn was interrupted.
    pub fn is_set(&self) -> bool {
        self.set.load(Ordering::SeqCst)
    }

    /// Interrupts: sets the flag, shuts the watched connection, wakes a
    /// waiting retry and kills the registered processes.
    pub fn trigger(&self) {
        self.set.store(true, Ordering::SeqCst);
        if let Ok(socket) = self.socket.lock() {
            if let Some(s) = socket.as_ref() {
                let _ = s.shutdown(std::net::Shutdown::Both);
            }
        }
        if let Ok(children) = self.children.lock() {
            for &pid in children.iter() {
                kill(pid);
            }
            self.wake.notify_all();
        }
    }

    /// Clears the flag for the next turn of a session (the processes of
    /// the interrupted turn are gone by then).
    pub fn reset(&self) {
        self.set.store(false, Ordering::SeqCst);
        if let Ok(mut slot) = self.socket.lock() {
            *slot = None;
        }
    }

    /// Watches `socket` (a duplicate of it) in place of the previous one.
    pub fn watch_socket(&self, socket: &TcpStream) {
        if let Ok(mut slot) = self.socket.lock() {
            *slot = socket.try_clone().ok();
        }
        if self.is_set() {
            let _ = socket.shutdown(std::net::Shutdown::Both);
        }
    }

    /// Registers a running process to kill on interrupt.
    pub fn watch_child(&self, pid: u32) {
        if let Ok(mut c) = self.children.lock() {
            c.push(pid);
        }
        if self.is_set() {
            kill(pid);
        }
    }

    /// Forgets a process before it is reaped (its pid may then be reused).
    pub fn forget_child(&self, pid: u32) {
        if let Ok(mut c) = self.children.lock() {
            c.retain(|&p| p != pid);
        }
    }

    /// Sleeps for `d` unless interrupted first.
    pub fn sleep(&self, d: Duration) {
        let deadline = Instant::now() + d;
        let Ok(mut guard) = self.children.lock() else {
            return;
        };
        while !self.is_set() {
            let now = Instant::now();
            if now >= deadline {
                return;
            }
            match self.wake.wait_timeout(guard, deadline - now) {
                Ok((g, _)) => guard = g,
                Err(_) => return,
            }
        }
    }
}

/// SIGKILL to `pid` (cordon's sandbox launcher takes the sandbox with it).
pub fn kill(pid: u32) {
    #[cfg(unix)]
    {
        if let Ok(pid) = libc::pid_t::try_from(pid) {
            // SAFETY: kill(2) with a pid we spawned and have not reaped.
            unsafe { libc::kill(pid, libc::SIGKILL) };
        }
    }
    #[cfg(not(unix))]
    let _ = pid;
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn an_interrupt_wakes_a_sleeping_retry() {
        let i = std::sync::Arc::new(Interrupt::default());
        let j = i.clone();
        let t = std::thread::spawn(move || {
            std::thread::sleep(Duration::from_millis(50));
            j.trigger();
        });
        let start = Instant::now();
        i.sleep(Duration::from_secs(30));
        assert!(start.elapsed() < Duration::from_secs(5));
        t.join().unwrap();
        assert!(i.is_set());
    }
}
