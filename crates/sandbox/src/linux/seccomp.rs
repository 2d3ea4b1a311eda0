//! Builds the seccomp filter from the planner's [`SeccompPlan`] with
//! libseccomp (which also rejects foreign-architecture and x32 calls).

use crate::plan::{SeccompPlan, UnixSockets};
use libseccomp::{ScmpAction, ScmpArgCompare, ScmpCompareOp, ScmpFilterContext, ScmpSyscall};
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

fn sys(name: &str) -> Option<ScmpSyscall> {
    ScmpSyscall::from_name(name).ok()
}

/// Calls newer than some libseccomp 2.5 releases know, by number. From
/// Linux 5.1 on, new calls have one number on every architecture cordon
/// builds for (x86_64, aarch64).
const NEWER_CALLS: &[(&str, i32)] = &[
    ("fchmodat2", 452),
    ("setxattrat", 463),
    ("removexattrat", 466),
];

/// The number of syscall `name` on this architecture: libseccomp's, or
/// from [`NEWER_CALLS`]. A negative (pseudo) number: the call does not
/// exist here (`chmod` on aarch64).
pub fn resolve(name: &str) -> Option<ScmpSyscall> {
    sys(name).or_else(|| {
        NEWER_CALLS
            .iter()
            .find(|(n, _)| *n == name)
            .map(|(_, nr)| ScmpSyscall::from(*nr))
    })
}

fn resolve_or_refuse(name: &str) -> io::Result<ScmpSyscall> {
    // A name neither knows would leave the call open.
    resolve(name).ok_or_else(|| {
        err(format!(
            "libseccomp does not know `{name}`; upgrade libseccomp (2.5 or later)"
        ))
    })
}

/// Builds (but does not load) the filter.
pub fn build(plan: &SeccompPlan) -> io::Result<ScmpFilterContext> {
    let eperm = ScmpAction::Errno(libc::EPERM);
    let mut ctx = ScmpFilterContext::new(ScmpAction::Allow).map_err(err)?;
    ctx.set_ctl_nnp(true).map_err(err)?;
    for name in &plan.denied_syscalls {
        ctx.add_rule(eperm, resolve_or_refuse(name)?)
            .map_err(|e| err(format!("deny {name}: {e}")))?;
    }
    // Init performs these for the command (see `metadata`).
    for name in &plan.mediated_syscalls {
        ctx.add_rule(ScmpAction::Notify, resolve_or_refuse(name)?)
            .map_err(|e| err(format!("route {name} to init: {e}")))?;
    }
    // Newer forms of the mediated calls fail as on a kernel without them;
    // programs fall back to the forms above.
    for name in &plan.absent_syscalls {
        ctx.add_rule(ScmpAction::Errno(libc::ENOSYS), resolve_or_refuse(name)?)
            .map_err(|e| err(format!("refuse {name}: {e}")))?;
    }
    if plan.clone_namespace_flags_denied {
        let clone = sys("clone").ok_or_else(|| err("no clone syscall"))?;
        for flag in CLONE_NS_FLAGS {
            let cmp = ScmpArgCompare::new(0, ScmpCompareOp::MaskedEqual(flag), flag);
            ctx.add_rule_conditional(eperm, clone, &[cmp])
                .map_err(|e| err(format!("clone flags: {e}")))?;
        }
        if let Some(clone3) = sys("clone3") {
            ctx.add_rule(ScmpAction::Errno(libc::ENOSYS), clone3)
                .map_err(err)?;
        }
    }
    let ioctl = sys("ioctl").ok_or_else(|| err("no ioctl syscall"))?;
    for name in &plan.denied_ioctls {
        let n =
            ioctl_number(name).ok_or_else(|| err(format!("unknown ioctl `{name}` in the plan")))?;
        // The kernel reads the request as 32 bits: compare only those,
        // so setting high bits cannot slip past the rule.
        let cmp = ScmpArgCompare::new(1, ScmpCompareOp::MaskedEqual(0xffff_ffff), n);
        ctx.add_rule_conditional(eperm, ioctl, &[cmp])
            .map_err(|e| err(format!("ioctl {name}: {e}")))?;
    }
    // socket(): refuse every family not listed. Families are small numbers;
    // anything above AF_INET6's 10 (including values with high bits set,
    // which the kernel would truncate) is refused outright.
    let socket = sys("socket").ok_or_else(|| err("no socket syscall"))?;
    let allowed = plan
        .socket_families
        .iter()
        .map(|f| family_number(f))
        .collect::<io::Result<Vec<u64>>>()?;
    let refuse = ScmpAction::Errno(libc::EAFNOSUPPORT);
    for family in 0..=10u64 {
        if allowed.contains(&family) {
            continue;
        }
        let action = if family == libc::AF_UNIX as u64 {
            if plan.notify_for_denials && plan.unix_sockets == UnixSockets::DenyCreate {
                ScmpAction::Notify
            } else {
                eperm
            }
        } else {
            refuse
        };
        let cmp = ScmpArgCompare::new(0, ScmpCompareOp::Equal, family);
        ctx.add_rule_conditional(action, socket, &[cmp])
            .map_err(|e| err(format!("socket family {family}: {e}")))?;
    }
    let cmp = ScmpArgCompare::new(0, ScmpCompareOp::Greater, 10);
    ctx.add_rule_conditional(refuse, socket, &[cmp])
        .map_err(|e| err(format!("socket families > 10: {e}")))?;
    // socketpair(): a datagram or seqpacket pair can `sendto`/`connect` any
    // host pathname socket (`/dev/log`), so only stream pairs (pipes
    // between processes) are allowed. The type's low 4 bits are the type;
    // SOCK_NONBLOCK/SOCK_CLOEXEC live above them.
    if plan.unix_sockets == UnixSockets::DenyCreate {
        let socketpair = sys("socketpair").ok_or_else(|| err("no socketpair syscall"))?;
        for kind in (0..16u64).filter(|k| *k != libc::SOCK_STREAM as u64) {
            let cmp = ScmpArgCompare::new(1, ScmpCompareOp::MaskedEqual(0xf), kind);
            ctx.add_rule_conditional(eperm, socketpair, &[cmp])
                .map_err(|e| err(format!("socketpair type {kind}: {e}")))?;
        }
    }
    // personality(): only the query (0xffffffff) and PER_LINUX (0). The
    // kernel reads 32 bits, so any higher bit is refused; below that a value
    // is neither 0 nor all ones exactly when bit 0 differs from some bit i.
    if let Some(personality) = sys("personality") {
        let mut rules = vec![ScmpArgCompare::new(0, ScmpCompareOp::Greater, 0xffff_ffff)];
        for i in 1..32 {
            let mask = 1 | (1u64 << i);
            rules.push(ScmpArgCompare::new(
                0,
                ScmpCompareOp::MaskedEqual(mask),
                1u64 << i,
            ));
            rules.push(ScmpArgCompare::new(0, ScmpCompareOp::MaskedEqual(mask), 1));
        }
        for cmp in rules {
            ctx.add_rule_conditional(eperm, personality, &[cmp])
                .map_err(|e| err(format!("personality: {e}")))?;
        }
    }
    if plan.notify_for_denials {
        add_observers(&mut ctx)?;
    }
    Ok(ctx)
}

fn add_observers(ctx: &mut ScmpFilterContext) -> io::Result<()> {
    let write_bits = [
        libc::O_WRONLY as u64,
        libc::O_RDWR as u64,
        libc::O_CREAT as u64,
        libc::O_TRUNC as u64,
    ];
    for (name, flags_arg) in OBSERVED_WRITES {
        let Some(s) = sys(name) else { continue };
        match flags_arg {
            Some(arg) => {
                for bit in write_bits {
                    let cmp = ScmpArgCompare::new(*arg, ScmpCompareOp::MaskedEqual(bit), bit);
                    ctx.add_rule_conditional(ScmpAction::Notify, s, &[cmp])
                        .map_err(err)?;
                }
            }
            None => {
                ctx.add_rule(ScmpAction::Notify, s).map_err(err)?;
            }
        }
    }
    if let Some(connect) = sys("connect") {
        ctx.add_rule(ScmpAction::Notify, connect).map_err(err)?;
    }
    if let Some(sendto) = sys("sendto") {
        let cmp = ScmpArgCompare::new(4, ScmpCompareOp::NotEqual, 0);
        ctx.add_rule_conditional(ScmpAction::Notify, sendto, &[cmp])
            .map_err(err)?;
    }
    Ok(())
}
