//! What the built filter decides, call by call, run through a BPF
//! interpreter (no kernel needed). The same program, loaded, is proven
//! against the kernel by `alone_tests::seccomp_alone` and the cli suites.

use super::*;
use crate::linux::bpf::interpret::{run, Data};
use crate::linux::bpf::{NATIVE_ARCH, RET_ALLOW, RET_ERRNO, RET_KILL_THREAD, RET_USER_NOTIF};
use crate::plan::{SeccompPlan, UnixSockets, MEDIATED_SYSCALLS};

/// The plan a full host gets for workspace-write with a network.
fn plan(log_denials: bool) -> SeccompPlan {
    let policy = cordon_policy::resolve(&cordon_policy::PolicyInputs {
        mode: cordon_policy::SandboxMode::WorkspaceWrite,
        cwd: std::env::temp_dir(),
        network: cordon_policy::NetworkMode::Full,
        ..Default::default()
    })
    .expect("a policy");
    let options = crate::plan::PlanOptions {
        log_denials,
        ..Default::default()
    };
    crate::plan::plan_linux(&policy, &crate::support::HostSupport::full(7), options)
        .expect("a plan")
        .seccomp
        .expect("seccomp planned")
}

struct Decide(Filter);

impl Decide {
    fn new(plan: &SeccompPlan) -> Self {
        Decide(build(plan).expect("the filter builds"))
    }

    fn call_on(&self, arch: u32, nr: u32, args: [u64; 6]) -> u32 {
        run(self.0.instructions(), &Data { nr, arch, args })
    }

    fn call(&self, name: &str, args: [u64; 6]) -> u32 {
        let nr = resolve(name).unwrap_or_else(|| panic!("{name} exists here"));
        self.call_on(NATIVE_ARCH, nr, args)
    }

    fn arg(&self, name: &str, i: usize, v: u64) -> u32 {
        let mut args = [0; 6];
        args[i] = v;
        self.call(name, args)
    }
}

fn errno(e: i32) -> u32 {
    RET_ERRNO | e as u32
}

const EPERM: u32 = RET_ERRNO | libc::EPERM as u32;

#[test]
fn other_architectures_and_x32_numbers_kill_the_thread() {
    let f = Decide::new(&plan(false));
    let getpid = libc::SYS_getpid as u32;
    // i386 (int 0x80), arm, and nonsense all die before any rule.
    for arch in [0x4000_0003, 0x4000_0028, 0, 0xc000_003f] {
        if arch != NATIVE_ARCH {
            assert_eq!(
                f.call_on(arch, getpid, [0; 6]),
                RET_KILL_THREAD,
                "{arch:#x}"
            );
        }
    }
    assert_eq!(f.call_on(NATIVE_ARCH, getpid, [0; 6]), RET_ALLOW);
    if NATIVE_ARCH == crate::linux::bpf::AUDIT_ARCH_X86_64 {
        for nr in [0x4000_0000 | getpid, 0x4000_0000, 0x7fff_ffff, 0x8000_0000] {
            assert_eq!(
                f.call_on(NATIVE_ARCH, nr, [0; 6]),
                RET_KILL_THREAD,
                "{nr:#x}"
            );
        }
        // -1 is no call (ptrace may set it): the kernel answers ENOSYS.
        assert_eq!(f.call_on(NATIVE_ARCH, u32::MAX, [0; 6]), RET_ALLOW);
    }
}

#[test]
fn denied_mediated_and_absent_calls_get_their_answer_whatever_the_arguments() {
    let p = plan(false);
    let f = Decide::new(&p);
    for args in [[0; 6], [u64::MAX; 6], [1, 2, 3, 4, 5, 6]] {
        for name in p.denied_syscalls.iter().filter(|n| resolve(n).is_some()) {
            assert_eq!(f.call(name, args), EPERM, "{name}");
        }
        for name in MEDIATED_SYSCALLS.iter().filter(|n| resolve(n).is_some()) {
            assert_eq!(f.call(name, args), RET_USER_NOTIF, "{name}");
        }
        for name in ["setxattrat", "removexattrat", "clone3"] {
            assert_eq!(f.call(name, args), errno(libc::ENOSYS), "{name}");
        }
        for name in ["read", "write", "getpid", "execve", "openat", "connect"] {
            if let Some(nr) = libc_number(name) {
                assert_eq!(f.call_on(NATIVE_ARCH, nr, args), RET_ALLOW, "{name}");
            }
        }
    }
}

fn libc_number(name: &str) -> Option<u32> {
    let nr = match name {
        "read" => libc::SYS_read,
        "write" => libc::SYS_write,
        "getpid" => libc::SYS_getpid,
        "execve" => libc::SYS_execve,
        "openat" => libc::SYS_openat,
        "connect" => libc::SYS_connect,
        _ => return None,
    };
    u32::try_from(nr).ok()
}

#[test]
fn clone_with_any_namespace_flag_is_refused() {
    let f = Decide::new(&plan(false));
    let plain = (libc::CLONE_VM | libc::CLONE_THREAD | libc::SIGCHLD) as u64;
    assert_eq!(f.arg("clone", 0, plain), RET_ALLOW);
    for flag in CLONE_NS_FLAGS {
        assert_eq!(f.arg("clone", 0, flag | plain), EPERM, "{flag:#x}");
        assert_eq!(f.arg("clone", 0, flag | 0xffff_0000_0000_0000), EPERM);
    }
}

#[test]
fn terminal_injection_ioctls_are_refused_on_their_low_32_bits() {
    let f = Decide::new(&plan(false));
    for req in [0x5412u64, 0x541c, 0x1_0000_5412, 0xffff_ffff_0000_541c] {
        assert_eq!(f.arg("ioctl", 1, req), EPERM, "{req:#x}");
    }
    for req in [0x5413u64, 0x5401, 0x5412_0000, 0] {
        assert_eq!(f.arg("ioctl", 1, req), RET_ALLOW, "{req:#x}");
    }
}

#[test]
fn socket_families_outside_the_plan_are_refused() {
    let f = Decide::new(&plan(false));
    let noaf = errno(libc::EAFNOSUPPORT);
    assert_eq!(f.arg("socket", 0, libc::AF_INET as u64), RET_ALLOW);
    assert_eq!(f.arg("socket", 0, libc::AF_INET6 as u64), RET_ALLOW);
    assert_eq!(f.arg("socket", 0, libc::AF_UNIX as u64), EPERM);
    for family in [
        0u64,
        2 | 1 << 32,
        1 | 1 << 32,
        11,
        16,
        17,
        0xffff_ffff,
        u64::MAX,
    ] {
        let want = if family == 2 { RET_ALLOW } else { noaf };
        assert_eq!(f.arg("socket", 0, family), want, "{family:#x}");
    }
    // No IP at all when the plan lists no family.
    let mut none = plan(false);
    none.socket_families.clear();
    let f = Decide::new(&none);
    assert_eq!(f.arg("socket", 0, libc::AF_INET as u64), noaf);
}

#[test]
fn only_stream_socketpairs_are_allowed() {
    let f = Decide::new(&plan(false));
    let flags = (libc::SOCK_NONBLOCK | libc::SOCK_CLOEXEC) as u64;
    assert_eq!(f.arg("socketpair", 1, libc::SOCK_STREAM as u64), RET_ALLOW);
    assert_eq!(
        f.arg("socketpair", 1, libc::SOCK_STREAM as u64 | flags),
        RET_ALLOW
    );
    for kind in [libc::SOCK_DGRAM, libc::SOCK_SEQPACKET, libc::SOCK_RAW] {
        assert_eq!(f.arg("socketpair", 1, kind as u64 | flags), EPERM);
    }
    let mut open = plan(false);
    open.unix_sockets = UnixSockets::Unrestricted;
    let f = Decide::new(&open);
    assert_eq!(f.arg("socketpair", 1, libc::SOCK_DGRAM as u64), RET_ALLOW);
}

#[test]
fn personality_allows_only_the_query_and_per_linux() {
    let f = Decide::new(&plan(false));
    assert_eq!(f.arg("personality", 0, 0), RET_ALLOW);
    assert_eq!(f.arg("personality", 0, 0xffff_ffff), RET_ALLOW);
    let mut refused = vec![
        1u64,
        0x40000,
        0x0040_0000,
        0xffff_fffe,
        0x1_0000_0000,
        0x1_ffff_ffff,
        0xffff_ffff_0000_0000,
        u64::MAX,
    ];
    refused.extend((0..64).map(|b| 1u64 << b));
    for v in refused {
        assert_eq!(f.arg("personality", 0, v), EPERM, "{v:#x}");
    }
}

/// The kernel checks and compiles the program on every run and walks it
/// on every call the command makes: it stays small (526 instructions once,
/// 450 of them the personality rule's; 168 now, 226 with `--log-denials`).
#[test]
fn the_filter_stays_small() {
    for log_denials in [false, true] {
        let len = Decide::new(&plan(log_denials)).0.instructions().len();
        eprintln!("log_denials={log_denials}: {len} instructions");
        assert!(len < 250, "{len} instructions (log_denials={log_denials})");
    }
}

#[test]
fn log_denials_observes_writes_connects_and_unix_sockets() {
    let quiet = Decide::new(&plan(false));
    let f = Decide::new(&plan(true));
    let open_arg = if resolve("open").is_some() {
        Some(("open", 1))
    } else {
        None
    };
    for (name, arg) in [("openat", 2)].into_iter().chain(open_arg) {
        assert_eq!(f.arg(name, arg, libc::O_RDONLY as u64), RET_ALLOW, "{name}");
        for bits in [libc::O_WRONLY, libc::O_RDWR, libc::O_CREAT, libc::O_TRUNC] {
            assert_eq!(f.arg(name, arg, bits as u64), RET_USER_NOTIF, "{name}");
            assert_eq!(quiet.arg(name, arg, bits as u64), RET_ALLOW, "{name}");
        }
    }
    for name in ["mkdirat", "unlinkat", "renameat2", "openat2", "connect"] {
        assert_eq!(f.call(name, [0; 6]), RET_USER_NOTIF, "{name}");
        assert_eq!(quiet.call(name, [0; 6]), RET_ALLOW, "{name}");
    }
    assert_eq!(f.arg("sendto", 4, 0x1000), RET_USER_NOTIF);
    assert_eq!(f.arg("sendto", 4, 0), RET_ALLOW);
    assert_eq!(f.arg("socket", 0, libc::AF_UNIX as u64), RET_USER_NOTIF);
}

#[test]
fn a_name_the_table_lacks_refuses_the_build() {
    let mut p = plan(false);
    p.denied_syscalls.push("no_such_call");
    let e = build(&p).expect_err("refused");
    assert!(e.to_string().contains("no_such_call"), "{e}");
}

#[test]
fn the_listener_is_requested_exactly_when_a_rule_notifies() {
    let mut p = plan(false);
    assert!(build(&p).expect("builds").notifies());
    p.mediated_syscalls.clear();
    assert!(!build(&p).expect("builds").notifies());
    p.notify_for_denials = true;
    assert!(build(&p).expect("builds").notifies());
}
