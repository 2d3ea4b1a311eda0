//! The set-up error channel: a close-on-exec pipe from the sandbox's
//! processes to cordon. Silence until EOF means the command was executed;
//! a record means a layer failed and the run is refused.

use super::sys;
use std::io::{self, Read};
use std::os::fd::{AsRawFd, OwnedFd};

/// Exit code of a sandbox process that reported a set-up failure.
pub const SETUP_FAILED: i32 = 125;

/// A failure reported by a sandbox process.
#[derive(Debug)]
pub struct Failure {
    /// Layer name.
    pub layer: String,
    /// What was being done.
    pub step: String,
    /// The error, with errno when there is one.
    pub error: io::Error,
}

/// Writes a failure record to `fd` and exits the (forked) process.
pub fn fail(fd: &OwnedFd, layer: &str, step: &str, err: &io::Error) -> ! {
    // errno when the error carries one (0 otherwise), then the text.
    let errno = err.raw_os_error().unwrap_or(0);
    let record = format!("{layer}\x1f{step}\x1f{errno}\x1f{err}");
    // SAFETY: the buffer is valid for its length; a short write only
    // truncates the message, and the exit code still says it failed.
    unsafe {
        libc::write(fd.as_raw_fd(), record.as_ptr().cast(), record.len());
    }
    sys::exit_now(SETUP_FAILED)
}

/// Reads the channel to EOF. `None` means the command was executed.
pub fn read(fd: OwnedFd) -> Option<Failure> {
    let mut buf = Vec::new();
    let _ = std::fs::File::from(fd).read_to_end(&mut buf);
    if buf.is_empty() {
        return None;
    }
    let text = String::from_utf8_lossy(&buf);
    let mut parts = text.splitn(4, '\x1f');
    let layer = parts.next().unwrap_or("unknown").to_string();
    let step = parts.next().unwrap_or("").to_string();
    let errno: i32 = parts.next().and_then(|e| e.parse().ok()).unwrap_or(0);
    let message = parts.next().unwrap_or("unknown error");
    let error = if errno > 0 {
        io::Error::from_raw_os_error(errno)
    } else {
        io::Error::other(message.to_string())
    };
    Some(Failure { layer, step, error })
}
