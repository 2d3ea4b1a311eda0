//! Builds the seccomp filter from the planner's [`SeccompPlan`] with
//! cordon's own BPF builder ([`super::bpf`], which also rejects
//! foreign-architecture and x32 calls).

use super::bpf::{Action, Compare, Cond, Filter, FilterBuilder};
use super::syscalls;
use crate::plan::{SeccompPlan, UnixSockets};
use std::io;

/// Namespace flags refused in `clone(2)`'s flags argument.
const CLONE_NS_FLAGS: [u64; 7] = [
    libc::CLONE_NEWNS as u64,
    libc::CLONE_NEWCGROUP as u64,
    libc::CLONE_NEWUTS as u64,
    libc::CLONE_NEWIPC as u64,
    libc::CLONE_NEWUSER as u64,
    libc::CLONE_NEWPID as u64,
    libc::CLONE_NEWNET as u64,
];

fn ioctl_number(name: &str) -> Option<u64> {
    match name {
        "TIOCSTI" => Some(0x5412),
        "TIOCLINUX" => Some(0x541C),
        _ => None,
    }
}

fn family_number(name: &str) -> io::Result<u64> {
    match name {
        "AF_UNIX" => Ok(libc::AF_UNIX as u64),
        "AF_INET" => Ok(libc::AF_INET as u64),
        "AF_INET6" => Ok(libc::AF_INET6 as u64),
        other => Err(err(format!("unknown socket family `{other}` in the plan"))),
    }
}

/// Syscalls observed (not blocked) for `--log-denials`, with the argument
/// holding open flags when only writes should be observed.
pub const OBSERVED_WRITES: &[(&str, Option<u32>)] = &[
    ("open", Some(1)),
    ("openat", Some(2)),
    ("creat", None),
    ("openat2", None),
    ("mkdir", None),
    ("mkdirat", None),
    ("rmdir", None),
    ("unlink", None),
    ("unlinkat", None),
    ("rename", None),
    ("renameat", None),
    ("renameat2", None),
    ("link", None),
    ("linkat", None),
    ("symlink", None),
    ("symlinkat", None),
    ("mknod", None),
    ("mknodat", None),
    ("truncate", None),
];

fn err(e: impl std::fmt::Display) -> io::Error {
    io::Error::other(e.to_string())
}

/// The number of syscall `name` on this architecture; `None` when the
/// call does not exist here (`chmod` on aarch64) or the table lacks it.
pub fn resolve(name: &str) -> Option<u32> {
    syscalls::number(name).ok().flatten()
}

/// The number of `name`, `None` when it does not exist here; an error
/// when the table does not know it (a rule left out would leave the call
/// open).
fn resolve_or_refuse(name: &str) -> io::Result<Option<u32>> {
    syscalls::number(name).map_err(err)
}

/// The number of a call every architecture cordon builds for has.
fn required(name: &str) -> io::Result<u32> {
    resolve_or_refuse(name)?.ok_or_else(|| err(format!("no {name} syscall")))
}

fn arg(arg: u8, cmp: Compare) -> Cond {
    Cond { arg, cmp }
}

/// `arg a & mask == value`.
fn masked(a: u8, mask: u64, value: u64) -> Cond {
    arg(a, Compare::MaskedEqual { mask, value })
}

/// `arg a & mask != value`.
fn differs(a: u8, mask: u64, value: u64) -> Cond {
    arg(a, Compare::MaskedNotEqual { mask, value })
}

/// Adds `action` for every call in `names` that exists here.
fn add_all(f: &mut FilterBuilder, names: &[&str], action: Action, what: &str) -> io::Result<()> {
    for name in names {
        if let Some(nr) = resolve_or_refuse(name)? {
            f.add(nr, action, &[])
                .map_err(|e| err(format!("{what} {name}: {e}")))?;
        }
    }
    Ok(())
}

/// Builds (but does not load) the filter.
pub fn build(plan: &SeccompPlan) -> io::Result<Filter> {
    let eperm = Action::Errno(libc::EPERM);
    let mut f = FilterBuilder::new();
    add_all(&mut f, &plan.denied_syscalls, eperm, "deny")?;
    // Init performs these for the command (see `metadata`).
    add_all(
        &mut f,
        &plan.mediated_syscalls,
        Action::Notify,
        "route to init",
    )?;
    // Newer forms of the mediated calls fail as on a kernel without them;
    // programs fall back to the forms above.
    add_all(
        &mut f,
        &plan.absent_syscalls,
        Action::Errno(libc::ENOSYS),
        "refuse",
    )?;
    if plan.clone_namespace_flags_denied {
        let clone = required("clone")?;
        let any_ns = CLONE_NS_FLAGS.iter().fold(0, |all, flag| all | flag);
        f.add(clone, eperm, &[differs(0, any_ns, 0)])
            .map_err(|e| err(format!("clone flags: {e}")))?;
        f.add(required("clone3")?, Action::Errno(libc::ENOSYS), &[])?;
    }
    let ioctl = required("ioctl")?;
    for name in &plan.denied_ioctls {
        let n =
            ioctl_number(name).ok_or_else(|| err(format!("unknown ioctl `{name}` in the plan")))?;
        // The kernel reads the request as 32 bits: compare only those,
        // so setting high bits cannot slip past the rule.
        f.add(ioctl, eperm, &[masked(1, 0xffff_ffff, n)])
            .map_err(|e| err(format!("ioctl {name}: {e}")))?;
    }
    // socket(): refuse every family not listed, as a whole 64-bit value
    // (one with high bits set, which the kernel would truncate, included).
    let socket = required("socket")?;
    let allowed = plan
        .socket_families
        .iter()
        .map(|f| family_number(f))
        .collect::<io::Result<Vec<u64>>>()?;
    let refuse = Action::Errno(libc::EAFNOSUPPORT);
    let unix = libc::AF_UNIX as u64;
    let mut others = allowed.clone();
    if !allowed.contains(&unix) {
        let action = if plan.notify_for_denials && plan.unix_sockets == UnixSockets::DenyCreate {
            Action::Notify
        } else {
            eperm
        };
        f.add(socket, action, &[arg(0, Compare::Equal(unix))])
            .map_err(|e| err(format!("socket family {unix}: {e}")))?;
        others.push(unix);
    }
    let conds: Vec<Cond> = others
        .iter()
        .map(|family| arg(0, Compare::NotEqual(*family)))
        .collect();
    f.add(socket, refuse, &conds)
        .map_err(|e| err(format!("socket families: {e}")))?;
    // socketpair(): a datagram or seqpacket pair can `sendto`/`connect` any
    // host pathname socket (`/dev/log`), so only stream pairs (pipes
    // between processes) are allowed. The type's low 4 bits are the type;
    // SOCK_NONBLOCK/SOCK_CLOEXEC live above them.
    if plan.unix_sockets == UnixSockets::DenyCreate {
        let socketpair = required("socketpair")?;
        f.add(
            socketpair,
            eperm,
            &[differs(1, 0xf, libc::SOCK_STREAM as u64)],
        )
        .map_err(|e| err(format!("socketpair type: {e}")))?;
    }
    // personality(): only the query (0xffffffff) and PER_LINUX (0), as
    // whole 64-bit values (the kernel reads 32 bits: any higher bit is
    // refused too). One rule of two compares: every instruction here is
    // compiled by the kernel on each run and run on each call.
    let personality = required("personality")?;
    f.add(
        personality,
        eperm,
        &[
            arg(0, Compare::NotEqual(0)),
            arg(0, Compare::NotEqual(0xffff_ffff)),
        ],
    )
    .map_err(|e| err(format!("personality: {e}")))?;
    if plan.notify_for_denials {
        add_observers(&mut f)?;
    }
    f.compile()
}

fn add_observers(f: &mut FilterBuilder) -> io::Result<()> {
    let write_bits = [
        libc::O_WRONLY as u64,
        libc::O_RDWR as u64,
        libc::O_CREAT as u64,
        libc::O_TRUNC as u64,
    ];
    for (name, flags_arg) in OBSERVED_WRITES {
        let Some(nr) = resolve_or_refuse(name)? else {
            continue;
        };
        match flags_arg {
            Some(a) => {
                let any_write = write_bits.iter().fold(0, |all, bit| all | bit);
                f.add(nr, Action::Notify, &[differs(*a as u8, any_write, 0)])?;
            }
            None => f.add(nr, Action::Notify, &[])?,
        }
    }
    f.add(required("connect")?, Action::Notify, &[])?;
    let sendto = required("sendto")?;
    f.add(sendto, Action::Notify, &[arg(4, Compare::NotEqual(0))])?;
    Ok(())
}

#[cfg(test)]
#[path = "seccomp_tests.rs"]
mod tests;
