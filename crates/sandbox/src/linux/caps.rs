//! Capability sets of the sandbox's processes: the command drops them all;
//! init, once the command runs, keeps only `CAP_SYS_PTRACE` in its
//! permitted set and raises it only to reach into the command.

use super::sys;
use std::io;

/// `CAP_SYS_PTRACE` (linux/capability.h).
const CAP_SYS_PTRACE: u32 = 19;

#[repr(C)]
struct Header {
    version: u32,
    pid: i32,
}

#[repr(C)]
#[derive(Default, Clone, Copy)]
struct Data {
    effective: u32,
    permitted: u32,
    inheritable: u32,
}

const HEADER: Header = Header {
    version: 0x2008_0522, // _LINUX_CAPABILITY_VERSION_3
    pid: 0,
};

fn get() -> io::Result<[Data; 2]> {
    let mut data = [Data::default(); 2];
    // SAFETY: a header and a two-element data array as capget(2) expects.
    let r = unsafe {
        libc::syscall(
            libc::SYS_capget,
            &HEADER as *const Header,
            data.as_mut_ptr(),
        )
    };
    sys::cvt(r)?;
    Ok(data)
}

fn set(data: &[Data; 2]) -> io::Result<()> {
    // SAFETY: a header and a two-element data array as capset(2) expects.
    let r = unsafe { libc::syscall(libc::SYS_capset, &HEADER as *const Header, data.as_ptr()) };
    sys::cvt(r).map(drop)
}

/// Empties the bounding, ambient, inheritable, permitted and effective
/// sets and sets `no_new_privs` (the command, before it executes).
pub fn drop_all() -> io::Result<()> {
    for cap in 0..64 {
        // SAFETY: prctl with integer arguments; EINVAL past the last cap.
        if unsafe { libc::prctl(libc::PR_CAPBSET_DROP, cap, 0, 0, 0) } != 0 {
            let e = io::Error::last_os_error();
            if e.raw_os_error() == Some(libc::EINVAL) {
                break;
            }
            // Without CAP_SETPCAP the bounding set cannot be changed; the
            // sets below still empty, and exec gains nothing (no_new_privs).
            if e.raw_os_error() != Some(libc::EPERM) {
                return Err(e);
            }
        }
    }
    // SAFETY: prctl with integer arguments.
    unsafe {
        libc::prctl(
            libc::PR_CAP_AMBIENT,
            libc::PR_CAP_AMBIENT_CLEAR_ALL,
            0,
            0,
            0,
        )
    };
    set(&[Data::default(); 2])?;
    // SAFETY: prctl with integer arguments.
    sys::cvt(unsafe { libc::prctl(libc::PR_SET_NO_NEW_PRIVS, 1, 0, 0, 0) } as libc::c_long)?;
    Ok(())
}

/// Init, once the command runs: empties the effective and inheritable
/// sets and keeps only `CAP_SYS_PTRACE` (if it had it) in the permitted
/// set. What init then does for the command it does with the command's
/// own rights: no `CAP_FOWNER`, `CAP_CHOWN`, `CAP_FSETID` or
/// `CAP_DAC_OVERRIDE` is left to raise.
pub fn keep_only_ptrace() -> io::Result<()> {
    let mut data = get()?;
    data[0].permitted &= 1 << CAP_SYS_PTRACE;
    data[1].permitted = 0;
    for d in &mut data {
        d.effective = 0;
        d.inheritable = 0;
    }
    set(&data)?;
    // Check: nothing but CAP_SYS_PTRACE may be left, and nothing effective.
    let now = get()?;
    let clean = now[0].permitted & !(1 << CAP_SYS_PTRACE) == 0
        && now[1].permitted == 0
        && now.iter().all(|d| d.effective == 0);
    if clean {
        Ok(())
    } else {
        Err(io::Error::other("capabilities remain after capset"))
    }
}

/// Runs `f` with `CAP_SYS_PTRACE` effective (when permitted), so init can
/// read the memory or take the descriptors of a command that made itself
/// non-dumpable, or under Yama's ptrace scope 2. The effective set is
/// emptied again afterwards; if that fails the result is an error and the
/// caller must not act on the command's behalf.
pub fn with_ptrace<T>(f: impl FnOnce() -> T) -> io::Result<T> {
    if let Ok(mut data) = get() {
        data[0].effective = data[0].permitted & (1 << CAP_SYS_PTRACE);
        data[1].effective = 0;
        // Best effort: without it, only a dumpable command can be read,
        // which is every ordinary one.
        let _ = set(&data);
    }
    let out = f();
    let mut data = get()?;
    for d in &mut data {
        d.effective = 0;
    }
    set(&data)?;
    Ok(out)
}
