//! Linux's zero-copy [`pump`](super::pump): socket → pipe → socket with
//! `splice(2)`, the pipe held only while data flows.

use super::copy_pump;
use std::os::fd::AsRawFd;
use tokio::net::TcpStream;

/// Moves `from` to `to` until EOF with `splice(2)`; copies instead where
/// splice is refused. Returns the bytes moved.
pub(super) async fn splice_pump(from: &TcpStream, to: &TcpStream) -> u64 {
    use tokio::io::Interest;
    let mut total = 0u64;
    let mut pipe: Option<Pipe> = None;
    let mut eof = false;
    loop {
        let p = match pipe.as_mut() {
            Some(p) => p,
            None => {
                // No pipe until data is there: idle tunnels hold none.
                if from.readable().await.is_err() {
                    break;
                }
                match Pipe::new() {
                    Ok(p) => pipe.insert(p),
                    Err(_) => return total + copy_pump(from, to).await,
                }
            }
        };
        if !eof {
            // With the pipe empty, EAGAIN can only mean the socket is dry, so
            // its readiness may be cleared; with data in the pipe, EAGAIN may
            // come from a full pipe, and clearing the socket's readiness would
            // lose its wake-up.
            let filled = if p.held == 0 {
                from.try_io(Interest::READABLE, || p.fill_from(from.as_raw_fd()))
            } else {
                p.fill_from(from.as_raw_fd())
            };
            match filled {
                Ok(0) => eof = true,
                Ok(_) => {}
                Err(e) if e.kind() == std::io::ErrorKind::WouldBlock => {
                    if p.held == 0 {
                        // Dry: give the pipe back until data returns, so
                        // idle tunnels hold no pipe (pipes count against the
                        // user's pipe-buffer limit).
                        pipe = None;
                        continue;
                    }
                }
                Err(e) if e.raw_os_error() == Some(libc::EINVAL) && p.held == 0 => {
                    return total + copy_pump(from, to).await;
                }
                Err(_) => break,
            }
        }
        if p.held == 0 {
            if eof {
                break;
            }
            continue;
        }
        let (read, held) = (p.read.as_raw_fd(), p.held);
        match to.try_io(Interest::WRITABLE, || {
            splice_fds(read, to.as_raw_fd(), held)
        }) {
            Ok(0) => break,
            Ok(n) => {
                p.held -= n;
                total += n as u64;
            }
            Err(e) if e.kind() == std::io::ErrorKind::WouldBlock => {
                if to.writable().await.is_err() {
                    break;
                }
            }
            Err(_) => break,
        }
    }
    total
}

/// The pipe size asked for (the kernel may grant less).
const PIPE_SIZE: usize = 256 * 1024;

/// `splice` between two descriptors, non-blocking.
fn splice_fds(
    from: std::os::fd::RawFd,
    to: std::os::fd::RawFd,
    len: usize,
) -> std::io::Result<usize> {
    // SAFETY: splice between two descriptors we hold; no user memory.
    let n = unsafe {
        libc::splice(
            from,
            std::ptr::null_mut(),
            to,
            std::ptr::null_mut(),
            len,
            libc::SPLICE_F_MOVE | libc::SPLICE_F_NONBLOCK,
        )
    };
    if n < 0 {
        Err(std::io::Error::last_os_error())
    } else {
        Ok(n as usize)
    }
}

/// A non-blocking pipe used as the splice buffer, with what it holds.
struct Pipe {
    read: std::os::fd::OwnedFd,
    write: std::os::fd::OwnedFd,
    held: usize,
}

impl Pipe {
    fn new() -> std::io::Result<Self> {
        use std::os::fd::FromRawFd;
        let mut fds = [0; 2];
        // SAFETY: fds is a two-element array for pipe2 to fill.
        if unsafe { libc::pipe2(fds.as_mut_ptr(), libc::O_NONBLOCK | libc::O_CLOEXEC) } != 0 {
            return Err(std::io::Error::last_os_error());
        }
        // A larger pipe moves more per call; a refusal just keeps 64 KiB.
        // SAFETY: fcntl on a pipe we own.
        unsafe { libc::fcntl(fds[1], libc::F_SETPIPE_SZ, PIPE_SIZE as libc::c_int) };
        // SAFETY: both descriptors were just created and are owned here.
        Ok(unsafe {
            Pipe {
                read: std::os::fd::OwnedFd::from_raw_fd(fds[0]),
                write: std::os::fd::OwnedFd::from_raw_fd(fds[1]),
                held: 0,
            }
        })
    }

    /// Moves what the socket has into the pipe (0 at EOF).
    fn fill_from(&mut self, socket: std::os::fd::RawFd) -> std::io::Result<usize> {
        let n = splice_fds(socket, self.write.as_raw_fd(), PIPE_SIZE)?;
        self.held += n;
        Ok(n)
    }
}
