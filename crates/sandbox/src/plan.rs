//! The Linux planner: a pure function from policy and host support to the
//! exact list of layers, mounts, Landlock rules and seccomp rules to apply.
//!
//! Nothing here makes a syscall, so every decision is unit-tested on any OS
//! and printed for users to audit. The Windows and macOS planners live in
//! [`windows`] and [`macos`]; [`OsPlan`] is any of the three, as printed by
//! `cordon sandbox linux|macos|windows --plan`.

pub mod macos;
mod shared;
pub mod windows;

use crate::support::HostSupport;
use cordon_policy::{NetworkMode, ProtectedKind, SandboxMode, SandboxPolicy};
use serde::Serialize;
use std::path::{Path, PathBuf};

/// One enforcement layer of the Linux sandbox.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
#[serde(rename_all = "kebab-case")]
pub enum Layer {
    /// User, mount, PID, IPC, UTS (and network) namespaces.
    Namespaces,
    /// Landlock file-system rules.
    Landlock,
    /// The seccomp system-call filter.
    Seccomp,
    /// seccomp user notification: init performs mode, owner, time and
    /// extended-attribute changes for the command.
    SeccompListener,
}

impl Layer {
    /// Human name used in messages.
    pub fn name(self) -> &'static str {
        match self {
            Layer::Namespaces => "namespaces (user, mount, pid, ipc, net)",
            Layer::Landlock => "Landlock",
            Layer::Seccomp => "seccomp",
            Layer::SeccompListener => "seccomp listener (chmod, chown, utime, xattr)",
        }
    }
}

/// A namespace the sandbox unshares.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
#[serde(rename_all = "kebab-case")]
pub enum Namespace {
    /// User namespace (unprivileged root for the mount set-up).
    User,
    /// Mount namespace.
    Mount,
    /// PID namespace.
    Pid,
    /// System V IPC namespace.
    Ipc,
    /// Host name namespace.
    Uts,
    /// Network namespace with only loopback.
    Net,
}

/// One step of the mount set-up, applied in order inside the mount namespace.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
#[serde(tag = "op", rename_all = "kebab-case")]
pub enum MountStep {
    /// Stop mount events propagating to or from the host.
    MakePrivate,
    /// Take a detached read-write copy of a writable root before the rest turns read-only.
    CaptureWritable {
        /// The root.
        path: PathBuf,
    },
    /// Make every mount read-only and nosuid, recursively.
    ReadOnlyRoot,
    /// Attach a captured read-write copy back at its path.
    AttachWritable {
        /// The root.
        path: PathBuf,
    },
    /// Bind a protected path read-only over itself.
    ProtectReadOnly {
        /// The path.
        path: PathBuf,
    },
    /// A fresh `/proc` for the new PID namespace.
    Proc,
    /// A minimal `/dev`: null, zero, full, random, urandom, tty, a private devpts and shm.
    Dev,
}

/// Landlock rules for the command.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct LandlockPlan {
    /// The kernel's Landlock ABI version the rules are written for.
    pub abi: u32,
    /// Read and execute beneath these.
    pub read_only: Vec<PathBuf>,
    /// Full access beneath these.
    pub read_write: Vec<PathBuf>,
    /// Terminal devices on the command's standard streams get read, write and ioctl.
    pub stdio_ttys: bool,
    /// IPC scopes (`abstract-unix-socket`, `signal`) when the ABI has them.
    pub scopes: Vec<&'static str>,
    /// Pathname unix-socket connects are limited to writable roots (ABI 9+).
    pub resolve_unix: bool,
}

/// How host unix sockets are kept out of reach.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
#[serde(rename_all = "kebab-case")]
pub enum UnixSockets {
    /// `socket(AF_UNIX, ...)` is refused; `socketpair` works for stream
    /// pairs only (a datagram pair could `sendto` a host socket).
    DenyCreate,
    /// No restriction (danger-full-access).
    Unrestricted,
}

/// The seccomp filter for the command.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct SeccompPlan {
    /// System calls that fail with EPERM.
    pub denied_syscalls: Vec<&'static str>,
    /// `clone` with any namespace flag fails; `clone3` fails with ENOSYS.
    pub clone_namespace_flags_denied: bool,
    /// `ioctl` requests refused (compared on the low 32 bits).
    pub denied_ioctls: Vec<&'static str>,
    /// Socket families `socket()` accepts; the rest fail with EAFNOSUPPORT.
    pub socket_families: Vec<&'static str>,
    /// Unix-socket policy.
    pub unix_sockets: UnixSockets,
    /// Calls init performs for the command (changes of mode, owner, times
    /// and extended attributes): refused on a writable root's own top
    /// directory and on objects outside the sandbox's mounts.
    pub mediated_syscalls: Vec<&'static str>,
    /// Calls that fail with ENOSYS as on a kernel without them: newer
    /// forms of the mediated calls (programs fall back to the older ones).
    pub absent_syscalls: Vec<&'static str>,
    /// Observe file writes and connects for `--log-denials`.
    pub notify_for_denials: bool,
}

/// The complete plan for one Linux sandbox run.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct LinuxPlan {
    /// The sandbox mode.
    pub mode: SandboxMode,
    /// The network mode.
    pub network: NetworkMode,
    /// Working directory of the command.
    pub cwd: PathBuf,
    /// Namespaces to unshare (empty: none).
    pub namespaces: Vec<Namespace>,
    /// Mount steps, in order.
    pub mounts: Vec<MountStep>,
    /// Empty directories to create before the run so that a missing `.git`
    /// or `.cordon` at a root's top can be bound read-only (they are left in place).
    pub placeholders: Vec<PathBuf>,
    /// Landlock, if applied.
    pub landlock: Option<LandlockPlan>,
    /// seccomp, if applied.
    pub seccomp: Option<SeccompPlan>,
    /// Record denials and print a summary.
    pub log_denials: bool,
    /// With `--network proxy`: where cordon's proxy listens inside the
    /// sandbox's network namespace (its only way out).
    pub proxy: Option<ProxyPlan>,
    /// Variables added to the command's environment.
    pub env: Vec<(String, String)>,
    /// Identity of each path the mount steps touch, as discovered; a
    /// mismatch at mount time refuses the run.
    #[serde(skip)]
    pub pins: std::collections::BTreeMap<PathBuf, cordon_policy::FileId>,
    /// Guarantees not enforced in this run (only with `allow_degraded`).
    pub unenforced: Vec<String>,
    /// The command runs on a pseudo-terminal of the sandbox's own devpts
    /// (its controlling terminal), which init relays to cordon's stdin and
    /// stdout; only with the sandbox's own `/dev`.
    pub tty: bool,
}

/// The proxy listener of a `--network proxy` run.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct ProxyPlan {
    /// Loopback port inside the sandbox's network namespace.
    pub port: u16,
}

/// The environment that points programs at the proxy on `port`: HTTP(S)
/// and ALL_PROXY in both cases, npm/yarn/pip/cargo/docker settings, JVM
/// properties, Node's built-in proxy support, and ssh through
/// `cordon proxy-connect`. With a `token` (a proxy on a host address,
/// macOS and Windows), the URLs carry it as `cordon:TOKEN@`; the JVM
/// properties cannot, so Java programs need their own authenticator there.
pub fn proxy_env(port: u16, cordon_exe: &str, token: Option<&str>) -> Vec<(String, String)> {
    let userinfo = token.map(|t| format!("cordon:{t}@")).unwrap_or_default();
    let http = format!("http://{userinfo}127.0.0.1:{port}");
    let socks = format!("socks5h://{userinfo}127.0.0.1:{port}");
    let mut env = Vec::new();
    for key in ["HTTP_PROXY", "HTTPS_PROXY", "http_proxy", "https_proxy"] {
        env.push((key.to_string(), http.clone()));
    }
    for key in ["ALL_PROXY", "all_proxy"] {
        env.push((key.to_string(), socks.clone()));
    }
    for key in ["NO_PROXY", "no_proxy"] {
        env.push((key.to_string(), String::new()));
    }
    for key in [
        "npm_config_proxy",
        "npm_config_https_proxy",
        "YARN_HTTP_PROXY",
        "YARN_HTTPS_PROXY",
        "PIP_PROXY",
        "CARGO_HTTP_PROXY",
        "DOCKER_HTTP_PROXY",
        "DOCKER_HTTPS_PROXY",
        "GLOBAL_AGENT_HTTP_PROXY",
    ] {
        env.push((key.to_string(), http.clone()));
    }
    env.push(("NODE_USE_ENV_PROXY".into(), "1".into()));
    env.push((
        "JAVA_TOOL_OPTIONS".into(),
        format!(
            "-Dhttp.proxyHost=127.0.0.1 -Dhttp.proxyPort={port} -Dhttps.proxyHost=127.0.0.1 -Dhttps.proxyPort={port} -Dhttp.nonProxyHosts="
        ),
    ));
    env.push((
        "GIT_SSH_COMMAND".into(),
        format!("ssh -o ProxyCommand='{cordon_exe} proxy-connect %h %p'"),
    ));
    env
}

/// Options that are not part of the policy.
#[derive(Debug, Clone, Default)]
pub struct PlanOptions {
    /// Run with the layers available when some are missing.
    pub allow_degraded: bool,
    /// Record denials.
    pub log_denials: bool,
    /// Port for the proxy listener with `--network proxy`.
    pub proxy_port: u16,
    /// Path of the cordon executable (for `proxy-connect` in `GIT_SSH_COMMAND`).
    pub cordon_exe: String,
    /// Give the command a pseudo-terminal of its own (`--tty`; by default
    /// when cordon's stdin is a terminal).
    pub tty: bool,
}

/// A required layer that the host cannot provide.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct MissingLayer {
    /// Which layer.
    pub layer: Layer,
    /// Why it is missing (from [`HostSupport`]).
    pub reason: String,
}

const DENIED_SYSCALLS: &[&str] = &[
    "ptrace",
    "process_vm_readv",
    "process_vm_writev",
    "io_uring_setup",
    "io_uring_enter",
    "io_uring_register",
    "bpf",
    "perf_event_open",
    "keyctl",
    "add_key",
    "request_key",
    "mount",
    "umount2",
    "pivot_root",
    "move_mount",
    "open_tree",
    "fsopen",
    "fsconfig",
    "fsmount",
    "fspick",
    "mount_setattr",
    "unshare",
    "setns",
    "userfaultfd",
    "kexec_load",
    "kexec_file_load",
    "init_module",
    "finit_module",
    "delete_module",
    "chroot",
    // Unprivileged since 5.13, and it watches whole host mounts.
    "fanotify_init",
];

/// Calls that change an inode's mode, owner, times or extended
/// attributes. The owner of a file may make them without any capability
/// (run as root, the command owns `/tmp`), so init makes them for the
/// command, refusing a writable root's own top.
pub const MEDIATED_SYSCALLS: &[&str] = &[
    "chmod",
    "fchmod",
    "fchmodat",
    "fchmodat2",
    "chown",
    "fchown",
    "lchown",
    "fchownat",
    "utime",
    "utimes",
    "futimesat",
    "utimensat",
    "setxattr",
    "lsetxattr",
    "fsetxattr",
    "removexattr",
    "lremovexattr",
    "fremovexattr",
];

/// Newer forms of [`MEDIATED_SYSCALLS`] (Linux 6.13), refused with ENOSYS.
const ABSENT_SYSCALLS: &[&str] = &["setxattrat", "removexattrat"];

/// Plans a Linux sandbox for `policy` on a host with `support`.
///
/// Returns the missing layers when the policy needs one the host lacks and
/// degraded runs were not allowed.
pub fn plan_linux(
    policy: &SandboxPolicy,
    support: &HostSupport,
    options: PlanOptions,
) -> Result<LinuxPlan, Vec<MissingLayer>> {
    let mut plan = LinuxPlan {
        mode: policy.mode,
        network: policy.network,
        cwd: policy.cwd.clone(),
        namespaces: Vec::new(),
        mounts: Vec::new(),
        placeholders: Vec::new(),
        landlock: None,
        seccomp: None,
        log_denials: options.log_denials,
        proxy: None,
        env: Vec::new(),
        pins: policy.pins.clone(),
        unenforced: Vec::new(),
        tty: false,
    };
    if policy.mode == SandboxMode::DangerFullAccess {
        return Ok(plan);
    }
    plan.env = vec![
        ("CORDON_SANDBOX".into(), "1".into()),
        ("CORDON_NETWORK".into(), policy.network.as_str().into()),
    ];
    let missing = support.missing_layers();
    let proxy_without_netns = policy.network == NetworkMode::Proxy
        && missing.iter().any(|m| m.layer == Layer::Namespaces);
    if !missing.is_empty() && (!options.allow_degraded || proxy_without_netns) {
        // The proxy is the only way out only inside a network namespace;
        // without one, --network proxy cannot be honoured even degraded.
        return Err(missing);
    }
    if policy.network == NetworkMode::Proxy {
        plan.proxy = Some(ProxyPlan {
            port: options.proxy_port,
        });
        plan.env
            .extend(proxy_env(options.proxy_port, &options.cordon_exe, None));
    }
    let has = |layer| !missing.iter().any(|m: &MissingLayer| m.layer == layer);

    if has(Layer::Namespaces) {
        plan.namespaces = vec![
            Namespace::User,
            Namespace::Mount,
            Namespace::Pid,
            Namespace::Ipc,
            Namespace::Uts,
        ];
        if policy.network != NetworkMode::Full {
            plan.namespaces.push(Namespace::Net);
        }
        plan.mounts = mount_steps(policy);
        plan.placeholders = policy
            .writable_roots
            .iter()
            .flat_map(|r| &r.protected)
            .filter(|p| p.kind == ProtectedKind::Missing)
            .map(|p| p.path.clone())
            .collect();
    } else {
        plan.unenforced.push(
            "mount namespace: the read-only view of the file system and read-only .git/.cordon inside writable roots".into(),
        );
        plan.unenforced
            .push("pid namespace: processes outside the sandbox are visible".into());
        if policy.network == NetworkMode::None {
            plan.unenforced.push(
                "network namespace: network none is enforced by refusing IP sockets instead (loopback included)".into(),
            );
        }
    }

    let landlock_abi = support.landlock_abi;
    if has(Layer::Landlock) {
        let mut read_write: Vec<PathBuf> = policy
            .writable_roots
            .iter()
            .map(|r| r.root.clone())
            .collect();
        if has(Layer::Namespaces) {
            read_write.push(PathBuf::from("/dev"));
        } else {
            read_write.extend(
                ["/dev/null", "/dev/zero", "/dev/full", "/dev/tty"]
                    .iter()
                    .map(PathBuf::from),
            );
        }
        plan.landlock = Some(LandlockPlan {
            abi: landlock_abi,
            read_only: vec![PathBuf::from("/")],
            read_write,
            stdio_ttys: true,
            scopes: if landlock_abi >= 6 {
                vec!["abstract-unix-socket", "signal"]
            } else {
                Vec::new()
            },
            resolve_unix: landlock_abi >= 9,
        });
    } else {
        plan.unenforced
            .push("Landlock: the second file-system layer".into());
        if !has(Layer::Namespaces) {
            plan.unenforced
                .push("file system: writes outside the writable roots are NOT blocked".into());
        }
    }

    if has(Layer::Seccomp) {
        // Even where Landlock can limit unix-socket connects (ABI 9), /tmp is
        // a writable root full of host sockets (tmux, X11, ssh-agent), so
        // socket creation stays refused; RESOLVE_UNIX is an extra layer.
        let unix_sockets = UnixSockets::DenyCreate;
        let mut socket_families = Vec::new();
        let ip_allowed = has(Layer::Namespaces) || policy.network != NetworkMode::None;
        if ip_allowed {
            socket_families.extend(["AF_INET", "AF_INET6"]);
        }
        plan.seccomp = Some(SeccompPlan {
            denied_syscalls: DENIED_SYSCALLS.to_vec(),
            clone_namespace_flags_denied: true,
            denied_ioctls: vec!["TIOCSTI", "TIOCLINUX"],
            socket_families,
            unix_sockets,
            mediated_syscalls: Vec::new(),
            absent_syscalls: Vec::new(),
            notify_for_denials: options.log_denials,
        });
        if has(Layer::SeccompListener) {
            if let Some(s) = plan.seccomp.as_mut() {
                s.mediated_syscalls = MEDIATED_SYSCALLS.to_vec();
                s.absent_syscalls = ABSENT_SYSCALLS.to_vec();
            }
        } else {
            plan.unenforced.push(
                "seccomp listener: the command can change the mode, owner, times and extended attributes of a writable root's own top directory it owns (run as root: /tmp), and of files it reaches through descriptors inherited from outside".into(),
            );
        }
    } else {
        plan.unenforced.push(
            "seccomp: ptrace, io_uring, namespace, mount and TIOCSTI calls are allowed, and host unix sockets are reachable".into(),
        );
        if !has(Layer::Namespaces) && policy.network == NetworkMode::None {
            plan.unenforced
                .push("network: NOT blocked (needs namespaces or seccomp)".into());
        }
    }
    // A terminal of its own needs the sandbox's own devpts.
    plan.tty = options.tty && plan.mounts.contains(&MountStep::Dev);
    Ok(plan)
}

/// The mount steps for `policy`: capture writable roots, turn everything
/// read-only, then re-attach roots and bind protected paths in order of
/// depth (a root before a protected path at the same depth), so that a
/// deeper root never covers a shallower root's protected path below it and
/// a root nested in a protected path (`$CORDON_HOME/memories`) stays
/// writable. Then fresh `/proc` and `/dev`.
fn mount_steps(policy: &SandboxPolicy) -> Vec<MountStep> {
    let mut steps = vec![MountStep::MakePrivate];
    for root in &policy.writable_roots {
        steps.push(MountStep::CaptureWritable {
            path: root.root.clone(),
        });
    }
    steps.push(MountStep::ReadOnlyRoot);
    // (depth, 0 = root / 1 = protected, path)
    let mut layered: Vec<(usize, u8, &Path)> = Vec::new();
    for root in &policy.writable_roots {
        layered.push((root.root.components().count(), 0, &root.root));
        for protected in &root.protected {
            // A gitdir planted to point at a root must not turn that root
            // read-only (ancestors of roots are outside every root and
            // already skipped; `$CORDON_HOME` above its `memories` root is
            // meant to be read-only).
            let is_a_root = policy
                .writable_roots
                .iter()
                .any(|r| r.root == protected.path);
            if inside_any_root(policy, &protected.path) && !is_a_root {
                layered.push((protected.path.components().count(), 1, &protected.path));
            }
        }
    }
    layered.sort();
    layered.dedup();
    let mut bound: Vec<&Path> = Vec::new();
    for (_, kind, path) in layered {
        if kind == 0 {
            steps.push(MountStep::AttachWritable {
                path: path.to_path_buf(),
            });
        } else if !covered(policy, &bound, path) {
            bound.push(path);
            steps.push(MountStep::ProtectReadOnly {
                path: path.to_path_buf(),
            });
        }
    }
    steps.push(MountStep::Proc);
    steps.push(MountStep::Dev);
    steps
}

/// Whether `path` already lies inside a read-only bind in `bound` with no
/// writable root re-attached between the two (a submodule's gitdir inside
/// `.git`, say): binding it again would change nothing.
fn covered(policy: &SandboxPolicy, bound: &[&Path], path: &Path) -> bool {
    bound.iter().any(|b| {
        path.starts_with(b)
            && !policy
                .writable_roots
                .iter()
                .any(|r| r.root.starts_with(b) && r.root != *b && path.starts_with(&r.root))
    })
}

fn inside_any_root(policy: &SandboxPolicy, path: &Path) -> bool {
    policy
        .writable_roots
        .iter()
        .any(|r| path.starts_with(&r.root))
}

/// A plan for any backend, tagged with its `os` in JSON.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
#[serde(tag = "os", rename_all = "lowercase")]
pub enum OsPlan {
    /// The Linux plan.
    Linux(Box<LinuxPlan>),
    /// The macOS (Seatbelt) plan.
    Macos(macos::MacosPlan),
    /// The Windows plan.
    Windows(Box<windows::WindowsPlan>),
}

#[cfg(test)]
#[path = "plan_tests.rs"]
mod tests;
