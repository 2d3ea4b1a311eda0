//! The seccomp listener's side of user notification: receive a call a
//! filter routed here, check it is still live, answer it. The kernel's
//! structures and ioctls (`linux/seccomp.h`), through libc alone.

use std::io;
use std::os::fd::RawFd;

/// `struct seccomp_data`: the call as the filter saw it.
#[repr(C)]
#[derive(Debug, Clone, Copy, Default)]
pub struct Data {
    /// The syscall number.
    pub nr: i32,
    /// `AUDIT_ARCH_*` of the call.
    pub arch: u32,
    /// Where the call was made.
    pub instruction_pointer: u64,
    /// The six arguments.
    pub args: [u64; 6],
}

/// `struct seccomp_notif`: one call waiting for an answer.
#[repr(C)]
#[derive(Debug, Clone, Copy, Default)]
pub struct Request {
    /// The notification's cookie (answers and validity checks name it).
    pub id: u64,
    /// The calling thread, in the listener's pid namespace.
    pub pid: u32,
    /// Unused by the kernel so far.
    pub flags: u32,
    /// The call.
    pub data: Data,
}

/// `struct seccomp_notif_resp`.
#[repr(C)]
#[derive(Debug, Clone, Copy, Default)]
struct Response {
    id: u64,
    val: i64,
    error: i32,
    flags: u32,
}

const _: () = assert!(std::mem::size_of::<Request>() == 80);
const _: () = assert!(std::mem::size_of::<Response>() == 24);

/// `_IOC(dir, '!', nr, size)`.
const fn ioc(dir: u32, nr: u32, size: usize) -> u32 {
    (dir << 30) | ((size as u32) << 16) | ((b'!' as u32) << 8) | nr
}
const IOC_WRITE: u32 = 1;
const IOC_READ: u32 = 2;
/// `SECCOMP_IOCTL_NOTIF_RECV`.
const NOTIF_RECV: u32 = ioc(IOC_READ | IOC_WRITE, 0, 80);
/// `SECCOMP_IOCTL_NOTIF_SEND`.
const NOTIF_SEND: u32 = ioc(IOC_READ | IOC_WRITE, 1, 24);
/// `SECCOMP_IOCTL_NOTIF_ID_VALID` as Linux 5.0 to 5.16 define it (`_IOR`);
/// later kernels accept this form too.
const NOTIF_ID_VALID: u32 = ioc(IOC_READ, 2, 8);
/// `SECCOMP_USER_NOTIF_FLAG_CONTINUE`.
const FLAG_CONTINUE: u32 = 1;

fn ioctl(fd: RawFd, request: u32, arg: *mut libc::c_void) -> io::Result<()> {
    // SAFETY: each caller passes a pointer to a structure of the size the
    // request encodes, valid for the call.
    let r = unsafe { libc::ioctl(fd, request as libc::Ioctl, arg) };
    if r < 0 {
        Err(io::Error::last_os_error())
    } else {
        Ok(())
    }
}

impl Request {
    /// Waits for the next call on listener `fd`.
    pub fn receive(fd: RawFd) -> io::Result<Request> {
        // The kernel refuses a buffer that is not zeroed.
        let mut req = Request::default();
        ioctl(fd, NOTIF_RECV, (&mut req as *mut Request).cast())?;
        Ok(req)
    }
}

/// Whether notification `id` is still live (its caller still waits in
/// the call, so its pid was not reused).
pub fn id_valid(fd: RawFd, id: u64) -> io::Result<()> {
    let mut id = id;
    ioctl(fd, NOTIF_ID_VALID, (&mut id as *mut u64).cast())
}

fn send(fd: RawFd, mut resp: Response) -> io::Result<()> {
    ioctl(fd, NOTIF_SEND, (&mut resp as *mut Response).cast())
}

/// Answers `id`: the call returns `val`.
pub fn respond_value(fd: RawFd, id: u64, val: i64) -> io::Result<()> {
    send(
        fd,
        Response {
            id,
            val,
            ..Response::default()
        },
    )
}

/// Answers `id`: the call fails with `errno` (positive).
pub fn respond_error(fd: RawFd, id: u64, errno: i32) -> io::Result<()> {
    send(
        fd,
        Response {
            id,
            error: -errno,
            ..Response::default()
        },
    )
}

/// Answers `id`: the kernel performs the call as if no filter had
/// stopped it.
pub fn respond_continue(fd: RawFd, id: u64) -> io::Result<()> {
    send(
        fd,
        Response {
            id,
            flags: FLAG_CONTINUE,
            ..Response::default()
        },
    )
}

#[cfg(test)]
mod tests {
    use super::*;

    /// The request numbers `linux/seccomp.h` defines.
    #[test]
    fn ioctl_numbers_are_the_kernels() {
        assert_eq!(NOTIF_RECV, 0xc050_2100);
        assert_eq!(NOTIF_SEND, 0xc018_2101);
        assert_eq!(NOTIF_ID_VALID, 0x8008_2102);
    }
}
