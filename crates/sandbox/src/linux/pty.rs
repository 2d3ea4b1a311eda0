//! The command's own pseudo-terminal (`--tty`). Init opens a pty pair on
//! the sandbox's private devpts (no host pty is visible there), the command
//! makes the slave its controlling terminal and standard streams, and init
//! relays bytes between cordon's stdin/stdout and the master. cordon puts
//! the user's terminal in raw mode for the run ([`RawMode`]) so keys reach
//! the command's terminal as typed (Ctrl-C, Ctrl-Z and job control happen
//! there), and window-size changes (SIGWINCH) are copied to the master.
//!
//! The user's own terminal is never a stream of the command: `TIOCSTI` and
//! the like can only reach the sandbox's pty.

use super::sys;
use std::ffi::{CStr, CString};
use std::io;
use std::os::fd::{AsRawFd, FromRawFd, OwnedFd, RawFd};

/// The master of a fresh pty and the path of its slave.
pub struct Pty {
    /// Init's side.
    pub master: OwnedFd,
    /// `/dev/pts/N` in the sandbox's devpts.
    pub slave: CString,
}

/// Opens a pty pair on `/dev/ptmx` (the sandbox's devpts), unlocked, with
/// the window size of `size_from` when that is a terminal.
pub fn open(size_from: RawFd) -> io::Result<Pty> {
    // SAFETY: a valid C string and flags.
    let fd = unsafe {
        libc::open(
            c"/dev/ptmx".as_ptr(),
            libc::O_RDWR | libc::O_NOCTTY | libc::O_CLOEXEC,
        )
    };
    sys::cvt(fd as libc::c_long)?;
    // SAFETY: fd was just opened and is ours.
    let master = unsafe { OwnedFd::from_raw_fd(fd) };
    let unlock: libc::c_int = 0;
    // SAFETY: TIOCSPTLCK takes a pointer to an int.
    sys::cvt(unsafe { libc::ioctl(fd, libc::TIOCSPTLCK, &unlock) } as libc::c_long)?;
    let mut n: libc::c_uint = 0;
    // SAFETY: TIOCGPTN writes the pty number to an unsigned int.
    sys::cvt(unsafe { libc::ioctl(fd, libc::TIOCGPTN, &mut n) } as libc::c_long)?;
    copy_window_size(size_from, fd);
    let slave = CString::new(format!("/dev/pts/{n}")).map_err(io::Error::other)?;
    Ok(Pty { master, slave })
}

/// In the command, after `setsid`: the slave becomes the controlling
/// terminal and stdin, stdout and stderr. Async-signal-safe.
pub fn attach(slave: &CStr) -> io::Result<()> {
    // SAFETY: a valid C string; no O_NOCTTY, so a session leader without a
    // terminal acquires this one.
    let fd = unsafe { libc::open(slave.as_ptr(), libc::O_RDWR) };
    sys::cvt(fd as libc::c_long)?;
    // SAFETY: ioctl and dup2 on descriptors we own.
    unsafe {
        // Already ours after the open above; asking again is harmless and
        // covers kernels that do not assign on open.
        libc::ioctl(fd, libc::TIOCSCTTY, 0);
        for target in 0..3 {
            if libc::dup2(fd, target) < 0 {
                return Err(io::Error::last_os_error());
            }
        }
        if fd > 2 {
            libc::close(fd);
        }
    }
    Ok(())
}

/// Copies the window size of terminal `from` to `to` (nothing when `from`
/// is not a terminal).
pub fn copy_window_size(from: RawFd, to: RawFd) {
    // SAFETY: winsize is plain data filled by TIOCGWINSZ.
    unsafe {
        let mut ws: libc::winsize = std::mem::zeroed();
        if libc::ioctl(from, libc::TIOCGWINSZ, &mut ws) == 0 {
            libc::ioctl(to, libc::TIOCSWINSZ, &ws);
        }
    }
}

/// The terminal's foreground process group (the job that gets signals).
pub fn foreground_group(master: RawFd) -> Option<libc::pid_t> {
    let mut pgrp: libc::pid_t = 0;
    // SAFETY: TIOCGPGRP writes a pid_t.
    let r = unsafe { libc::ioctl(master, libc::TIOCGPGRP, &mut pgrp) };
    (r == 0 && pgrp > 0).then_some(pgrp)
}

/// Init's relay between its stdin/stdout and the master. Input waits in a
/// buffer until the master takes it, so init never blocks on a command
/// that does not read (it must stay free to answer the filter).
pub struct Relay {
    master: OwnedFd,
    pending: Vec<u8>,
    input_open: bool,
    /// Cleared once every slave is closed (the master reads EIO).
    output_open: bool,
}

/// Most input bytes held for a command that is not reading.
const MAX_PENDING: usize = 64 * 1024;

impl Relay {
    /// Relays for `master`, which is made non-blocking.
    pub fn new(master: OwnedFd) -> Relay {
        // SAFETY: fcntl on a descriptor we own.
        unsafe {
            let flags = libc::fcntl(master.as_raw_fd(), libc::F_GETFL);
            libc::fcntl(master.as_raw_fd(), libc::F_SETFL, flags | libc::O_NONBLOCK);
        }
        Relay {
            master,
            pending: Vec::new(),
            input_open: true,
            output_open: true,
        }
    }

    /// The master's descriptor.
    pub fn master(&self) -> RawFd {
        self.master.as_raw_fd()
    }

    /// The poll entries: stdin (while open and not backed up), the master.
    pub fn poll_fds(&self) -> [libc::pollfd; 2] {
        let stdin = if self.input_open && self.pending.len() < MAX_PENDING {
            0
        } else {
            -1
        };
        let mut master_events = if self.output_open { libc::POLLIN } else { 0 };
        if !self.pending.is_empty() {
            master_events |= libc::POLLOUT;
        }
        let master = if master_events == 0 {
            -1
        } else {
            self.master.as_raw_fd()
        };
        [
            libc::pollfd {
                fd: stdin,
                events: libc::POLLIN,
                revents: 0,
            },
            libc::pollfd {
                fd: master,
                events: master_events,
                revents: 0,
            },
        ]
    }

    /// Moves what the poll found ready.
    pub fn on_ready(&mut self, fds: &[libc::pollfd; 2]) {
        let mut buf = [0u8; 16 * 1024];
        if fds[0].fd >= 0 && fds[0].revents != 0 {
            // SAFETY: reading into our buffer.
            let n = unsafe { libc::read(0, buf.as_mut_ptr().cast(), buf.len()) };
            if n > 0 {
                self.pending.extend_from_slice(&buf[..n as usize]);
            } else if n == 0 || !interrupted() {
                // End of input: the terminal's end-of-file character tells
                // a reading program (once, at the start of a line).
                self.input_open = false;
                self.pending.push(0x04);
            }
        }
        if fds[1].revents & libc::POLLOUT != 0 && !self.pending.is_empty() {
            // SAFETY: writing from our buffer.
            let n = unsafe {
                libc::write(
                    self.master.as_raw_fd(),
                    self.pending.as_ptr().cast(),
                    self.pending.len(),
                )
            };
            if n > 0 {
                self.pending.drain(..n as usize);
            }
        }
        if fds[1].fd >= 0 && fds[1].revents & (libc::POLLIN | libc::POLLHUP) != 0 {
            // No slave open any more (EIO): stop polling, or poll spins.
            if !self.pump_output(&mut buf) && !retry_later() {
                self.output_open = false;
            }
        }
    }

    /// Copies what the master has to stdout.
    fn pump_output(&self, buf: &mut [u8]) -> bool {
        // SAFETY: reading into our buffer from our descriptor.
        let n = unsafe { libc::read(self.master.as_raw_fd(), buf.as_mut_ptr().cast(), buf.len()) };
        if n <= 0 {
            return false;
        }
        write_all(1, &buf[..n as usize]);
        true
    }

    /// After the command ended: what is still in the master, then done.
    pub fn drain(&self) {
        let mut buf = [0u8; 16 * 1024];
        for _ in 0..64 {
            let mut p = libc::pollfd {
                fd: self.master.as_raw_fd(),
                events: libc::POLLIN,
                revents: 0,
            };
            // SAFETY: one pollfd.
            if unsafe { libc::poll(&mut p, 1, 20) } != 1 || !self.pump_output(&mut buf) {
                return;
            }
        }
    }
}

/// The last call failed with EAGAIN or EINTR.
fn retry_later() -> bool {
    matches!(
        io::Error::last_os_error().raw_os_error(),
        Some(libc::EAGAIN) | Some(libc::EINTR)
    )
}

fn interrupted() -> bool {
    io::Error::last_os_error().raw_os_error() == Some(libc::EINTR)
}

fn write_all(fd: RawFd, mut data: &[u8]) {
    while !data.is_empty() {
        // SAFETY: writing from a valid slice.
        let n = unsafe { libc::write(fd, data.as_ptr().cast(), data.len()) };
        if n > 0 {
            data = &data[n as usize..];
        } else if n < 0 && interrupted() {
            continue;
        } else {
            return;
        }
    }
}

/// The user's terminal in raw mode for the run; restored when dropped.
pub struct RawMode {
    saved: libc::termios,
}

impl RawMode {
    /// Raw mode on stdin when it is a terminal (else nothing to restore).
    pub fn enable() -> Option<RawMode> {
        // SAFETY: termios is plain data filled by tcgetattr.
        unsafe {
            if libc::isatty(0) != 1 {
                return None;
            }
            let mut saved: libc::termios = std::mem::zeroed();
            if libc::tcgetattr(0, &mut saved) != 0 {
                return None;
            }
            let mut raw = saved;
            libc::cfmakeraw(&mut raw);
            libc::tcsetattr(0, libc::TCSANOW, &raw);
            Some(RawMode { saved })
        }
    }
}

impl Drop for RawMode {
    fn drop(&mut self) {
        // SAFETY: restoring the settings read at enable.
        unsafe { libc::tcsetattr(0, libc::TCSANOW, &self.saved) };
    }
}
