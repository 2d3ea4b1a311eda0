//! The macOS planner: a pure function from policy and options to a Seatbelt
//! profile (SBPL text), the `sandbox-exec` argument vector that applies it,
//! and the command's environment.
//!
//! Paths never appear in the profile text: each is passed as a `-D`
//! parameter (`-DWRITABLE_ROOT_0=/path`) and referenced as
//! `(param "WRITABLE_ROOT_0")`, so no path needs SBPL quoting and the
//! profile for a policy shape is the same on every machine (the golden
//! files under `src/plan/golden/` are these profiles).
//!
//! # Limitations
//! * `sandbox-exec` and SBPL are deprecated by Apple, though still shipped
//!   and used by the system; a future macOS may change what they enforce.
//! * In `--network proxy` the command may connect to every listener on the
//!   proxy's loopback port(s) and to nothing else; Seatbelt matches
//!   `localhost` only, not a specific loopback address.

use super::shared::{base_env, carve_outs, fixed_directories, serialize_os_strings};
use crate::SandboxError;
use cordon_policy::{NetworkMode, SandboxMode, SandboxPolicy};
use serde::Serialize;
use std::ffi::OsString;
use std::fmt::Write as _;
use std::path::PathBuf;

/// The `sandbox-exec` binary.
pub const SANDBOX_EXEC: &str = "/usr/bin/sandbox-exec";

/// Options that are not part of the policy.
#[derive(Debug, Clone, Default)]
pub struct MacosOptions {
    /// Port cordon's proxy listens on (host loopback) with `--network proxy`.
    pub proxy_port: u16,
    /// The per-run token the proxy requires (it listens on the host's
    /// loopback, where any local process could reach it); carried in the
    /// proxy URLs as `cordon:TOKEN@`.
    pub proxy_token: String,
    /// `[network] allow_local_binding`: let the command listen on loopback.
    pub allow_local_binding: bool,
    /// Follow the unified log for sandbox violations.
    pub log_denials: bool,
    /// Path of the cordon executable (for `GIT_SSH_COMMAND`).
    pub cordon_exe: String,
}

/// One `-D` parameter: a name used in the profile and the path it stands for.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct ProfileParam {
    /// Parameter name (`[A-Z0-9_]+`).
    pub name: String,
    /// The path.
    pub path: PathBuf,
}

/// The complete plan for one macOS run.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct MacosPlan {
    /// The sandbox mode.
    pub mode: SandboxMode,
    /// The network mode.
    pub network: NetworkMode,
    /// Working directory of the command.
    pub cwd: PathBuf,
    /// The Seatbelt profile (empty for danger-full-access: no sandbox).
    pub profile: String,
    /// The `-D` parameters the profile refers to.
    pub params: Vec<ProfileParam>,
    /// Loopback ports the command may connect to (cordon's proxy).
    pub proxy_ports: Vec<u16>,
    /// Whether the command may bind and accept on loopback.
    pub allow_local_binding: bool,
    /// Follow `log stream` for violations and print a summary.
    pub log_denials: bool,
    /// The full argument vector: `sandbox-exec -p PROFILE -D... -- CMD...`.
    #[serde(serialize_with = "serialize_os_strings")]
    pub argv: Vec<OsString>,
    /// Variables added to the command's environment.
    pub env: Vec<(String, String)>,
}

/// Plans a macOS run of `command` under `policy`.
pub fn plan_macos(
    policy: &SandboxPolicy,
    command: &[OsString],
    options: &MacosOptions,
) -> Result<MacosPlan, SandboxError> {
    if command.is_empty() {
        return Err(SandboxError::NoCommand);
    }
    let env = base_env(
        policy,
        options.proxy_port,
        &options.proxy_token,
        &options.cordon_exe,
    );
    let mut plan = MacosPlan {
        mode: policy.mode,
        network: policy.network,
        cwd: policy.cwd.clone(),
        profile: String::new(),
        params: Vec::new(),
        proxy_ports: Vec::new(),
        allow_local_binding: options.allow_local_binding,
        log_denials: options.log_denials,
        argv: command.to_vec(),
        env,
    };
    if policy.mode == SandboxMode::DangerFullAccess {
        return Ok(plan);
    }
    if policy.network == NetworkMode::Proxy {
        if options.proxy_port == 0 {
            return Err(SandboxError::Layer {
                layer: "seatbelt".into(),
                why: "--network proxy needs the proxy's loopback port and none was chosen".into(),
                fix: "choose a port for cordon's proxy (1-65535)".into(),
            });
        }
        plan.proxy_ports = vec![options.proxy_port];
    }
    let (profile, params) = profile(policy, &plan.proxy_ports, options.allow_local_binding);
    let mut argv: Vec<OsString> = vec![SANDBOX_EXEC.into(), "-p".into(), profile.clone().into()];
    for p in &params {
        let mut arg = OsString::from(format!("-D{}=", p.name));
        arg.push(p.path.as_os_str());
        argv.push(arg);
    }
    argv.push("--".into());
    argv.extend(command.iter().cloned());
    plan.profile = profile;
    plan.params = params;
    plan.argv = argv;
    Ok(plan)
}

/// The fixed part of every profile: deny by default; processes may fork,
/// exec, signal and inspect only their own sandbox; the system facts and
/// services ordinary programs need; the standard devices and terminals.
const BASE: &str = r#"(version 1)
(deny default)

; processes: fork and exec; signals and process info within this sandbox only
(allow process-exec)
(allow process-fork)
(allow signal (target same-sandbox))
(allow process-info* (target same-sandbox))

; system facts and services ordinary programs need
(allow sysctl-read)
(allow user-preference-read)
(allow ipc-posix-sem)
(allow mach-lookup
  (global-name "com.apple.system.opendirectoryd.libinfo")
  (global-name "com.apple.system.notification_center")
  (global-name "com.apple.system.logger")
  (global-name "com.apple.logd"))

; devices and terminals
(allow file-write-data file-ioctl
  (literal "/dev/null")
  (literal "/dev/zero")
  (literal "/dev/tty")
  (literal "/dev/dtracehelper"))
(allow pseudo-tty)
(allow file-read* file-write* file-ioctl
  (literal "/dev/ptmx")
  (regex #"^/dev/ttys[0-9]+$"))
"#;

/// Builds the profile text and its parameters.
fn profile(
    policy: &SandboxPolicy,
    proxy_ports: &[u16],
    allow_local_binding: bool,
) -> (String, Vec<ProfileParam>) {
    let mut text = String::from(BASE);
    let mut params = Vec::new();

    text.push_str("\n; file system: read\n");
    params.push(ProfileParam {
        name: "READABLE_ROOT_0".into(),
        path: PathBuf::from("/"),
    });
    text.push_str("(allow file-read* (subpath (param \"READABLE_ROOT_0\")))\n");

    text.push_str("\n; file system: write (protected paths carved out)\n");
    if policy.writable_roots.is_empty() {
        text.push_str("; none\n");
    }
    let mut fixed: Vec<String> = Vec::new();
    for (i, root) in policy.writable_roots.iter().enumerate() {
        let name = format!("WRITABLE_ROOT_{i}");
        params.push(ProfileParam {
            name: name.clone(),
            path: root.root.clone(),
        });
        let carved = carve_outs(policy, &root.root);
        if carved.is_empty() {
            let _ = writeln!(text, "(allow file-write* (subpath (param \"{name}\")))");
            continue;
        }
        let _ = writeln!(
            text,
            "(allow file-write*\n  (require-all\n    (subpath (param \"{name}\"))"
        );
        for (j, path) in carved.iter().enumerate() {
            let ro = format!("{name}_RO_{j}");
            let _ = writeln!(text, "    (require-not (subpath (param \"{ro}\")))");
            params.push(ProfileParam {
                name: ro,
                path: path.clone(),
            });
        }
        // A protected path must not be carried off by renaming (or
        // removing) the root or a directory between it and the root: those
        // directories themselves are fixed (their contents stay writable).
        // They are left out of the allow itself, so the grant never covers
        // them whatever the order of rules, and denied again after every
        // allow below.
        for (k, path) in fixed_directories(&root.root, &carved)
            .into_iter()
            .enumerate()
        {
            let anc = format!("{name}_FIXED_{k}");
            let _ = writeln!(text, "    (require-not (literal (param \"{anc}\")))");
            fixed.push(format!("  (literal (param \"{anc}\"))\n"));
            params.push(ProfileParam { name: anc, path });
        }
        text.push_str("  ))\n");
    }
    // After every allow, so no root's grant can win over it.
    if !fixed.is_empty() {
        text.push_str(
            "; roots holding protected paths, and directories between: not renamed or removed\n(deny file-write*\n",
        );
        text.push_str(&fixed.concat());
        text.push_str(")\n");
    }

    text.push_str("\n; network\n");
    match policy.network {
        NetworkMode::None => text.push_str("; none\n"),
        NetworkMode::Proxy => {
            text.push_str("; only cordon's proxy on loopback\n");
            for port in proxy_ports {
                let _ = writeln!(
                    text,
                    "(allow network-outbound (remote ip \"localhost:{port}\"))"
                );
            }
        }
        NetworkMode::Full => text.push_str(
            r#"(allow network-outbound)
(allow network-inbound)
(allow system-socket)
(allow mach-lookup
  (global-name "com.apple.dnssd.service")
  (global-name "com.apple.SystemConfiguration.DNSConfiguration")
  (global-name "com.apple.SystemConfiguration.configd")
  (global-name "com.apple.trustd.agent"))
"#,
        ),
    }
    if allow_local_binding && policy.network != NetworkMode::Full {
        text.push_str(
            "; allow_local_binding: listen and accept on loopback only\n(allow network-bind (local ip \"localhost:*\"))\n(allow network-inbound (local ip \"localhost:*\"))\n",
        );
    }
    (text, params)
}

/// The `log stream` command that follows sandbox violations as NDJSON.
pub fn log_stream_argv() -> Vec<OsString> {
    [
        "/usr/bin/log",
        "stream",
        "--style",
        "ndjson",
        "--predicate",
        r#"(processID == 0 AND senderImagePath CONTAINS "/Sandbox") OR subsystem == "com.apple.sandbox.reporting""#,
    ]
    .iter()
    .map(OsString::from)
    .collect()
}

#[cfg(test)]
#[path = "macos_tests.rs"]
mod tests;
