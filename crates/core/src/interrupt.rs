//! Interrupting a turn (Ctrl-C): a flag the loop checks, plus the things
//! that block and must be woken: the model connection (shut down) and
//! running commands (killed, which ends their sandbox).

use std::net::TcpStream;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::Mutex;

/// Shared interrupt state for one session.
#[derive(Debug, Default)]
pub struct Interrupt {
    set: AtomicBool,
    sockets: Mutex<Vec<TcpStream>>,
    children: Mutex<Vec<u32>>,
}

impl Interrupt {
    /// Whether the turn was interrupted.
    pub fn is_set(&self) -> bool {
        self.set.load(Ordering::SeqCst)
    }

    /// Interrupts: sets the flag, shuts the registered connections and
    /// kills the registered processes.
    pub fn trigger(&self) {
        self.set.store(true, Ordering::SeqCst);
        if let Ok(sockets) = self.sockets.lock() {
            for s in sockets.iter() {
                let _ = s.shutdown(std::net::Shutdown::Both);
            }
        }
        if let Ok(children) = self.children.lock() {
            for &pid in children.iter() {
                kill(pid);
            }
        }
    }

    /// Registers a connection to shut down on interrupt (a clone of it).
    pub fn watch_socket(&self, socket: &TcpStream) {
        if let (Ok(clone), Ok(mut sockets)) = (socket.try_clone(), self.sockets.lock()) {
            sockets.retain(|s| s.peer_addr().is_ok());
            sockets.push(clone);
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

    /// Forgets a process that has been reaped (its pid may be reused).
    pub fn forget_child(&self, pid: u32) {
        if let Ok(mut c) = self.children.lock() {
            c.retain(|&p| p != pid);
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
