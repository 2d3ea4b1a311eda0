//! Interrupting a turn (Ctrl-C): a flag the loop checks, plus the things
//! that block and must be woken: the model request (its wait is woken and
//! the request dropped, which closes its connection), a retry's wait
//! (woken) and running commands (killed, which ends their sandbox).

use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Condvar, Mutex};
use std::time::{Duration, Instant};

/// Shared interrupt state for one session.
#[derive(Debug, Default)]
pub struct Interrupt {
    set: AtomicBool,
    /// Wakes a model request waiting for its response or its next chunk.
    request: tokio::sync::Notify,
    children: Mutex<Vec<u32>>,
    wake: Condvar,
}

impl Interrupt {
    /// Whether the turn was interrupted.
    pub fn is_set(&self) -> bool {
        self.set.load(Ordering::SeqCst)
    }

    /// Interrupts: sets the flag, wakes a waiting model request and a
    /// waiting retry, and kills the registered processes.
    pub fn trigger(&self) {
        self.set.store(true, Ordering::SeqCst);
        self.request.notify_waiters();
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
    }

    /// Resolves once the turn is interrupted (at once if it already is).
    pub async fn triggered(&self) {
        let notified = self.request.notified();
        let mut notified = std::pin::pin!(notified);
        // Registered before the flag is read: a trigger in between still
        // wakes this waiter.
        notified.as_mut().enable();
        if self.is_set() {
            return;
        }
        notified.await;
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
