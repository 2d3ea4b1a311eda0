//! What the host kernel can enforce, and why not when it cannot.
//!
//! [`HostFacts`] are plain readings (sysctls, `/proc` fields, probe results);
//! [`HostSupport::from_facts`] turns them into per-layer availability with a
//! likely cause and a fix. Both are pure so the diagnosis is unit-tested.

use crate::plan::{Layer, MissingLayer};
use serde::Serialize;

/// Readings about the host, gathered by the OS-specific prober.
#[derive(Debug, Clone, Default, Serialize)]
pub struct HostFacts {
    /// `uname -r`.
    pub kernel_release: String,
    /// Result of actually creating a user namespace and mapping our uid
    /// (`None`: not probed, assumed to work).
    pub userns_probe: Option<Result<(), String>>,
    /// Result of creating mount, PID, IPC, UTS and network namespaces and
    /// mounting `/proc` inside them (`None`: not probed).
    pub other_ns_probe: Option<Result<(), String>>,
    /// `/proc/sys/user/max_user_namespaces`.
    pub max_user_namespaces: Option<u64>,
    /// `/proc/sys/kernel/unprivileged_userns_clone` (Debian/Ubuntu patch).
    pub unprivileged_userns_clone: Option<u64>,
    /// `/proc/sys/kernel/apparmor_restrict_unprivileged_userns` (Ubuntu 23.10+).
    pub apparmor_restrict_userns: Option<u64>,
    /// Effective uid.
    pub euid: u32,
    /// Landlock ABI version (0: unavailable).
    pub landlock_abi: u32,
    /// Whether `landlock` is in `/sys/kernel/security/lsm` (`None`: unreadable).
    pub landlock_in_lsm_list: Option<bool>,
    /// seccomp filter mode can be set (`PR_GET_SECCOMP` works).
    pub seccomp_available: bool,
    /// The `Seccomp:` field of `/proc/self/status` (2: already filtered, e.g. Docker).
    pub seccomp_mode_of_self: Option<u32>,
    /// Whether init can listen for the command's calls and act on them:
    /// seccomp user notification (Linux 5.0), `pidfd_getfd` (5.6), and no
    /// listener on a filter cordon already runs under (the kernel allows
    /// one per process). `None`: not checked, assumed to work.
    pub seccomp_listener: Option<Result<(), String>>,
    /// `/.dockerenv` or `/run/.containerenv` exists, or cgroup names a container runtime.
    pub in_container: bool,
    /// The kernel reports WSL1 ("Microsoft" in the release string).
    pub wsl1: bool,
}

/// Whether a layer is available.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
#[serde(tag = "status", rename_all = "kebab-case")]
pub enum Availability {
    /// It works here.
    Available,
    /// It does not; why and what to do.
    Missing {
        /// Likely cause.
        reason: String,
        /// How to fix it.
        fix: String,
    },
}

impl Availability {
    fn missing(reason: impl Into<String>, fix: impl Into<String>) -> Self {
        Availability::Missing {
            reason: reason.into(),
            fix: fix.into(),
        }
    }

    /// True when available.
    pub fn is_available(&self) -> bool {
        matches!(self, Availability::Available)
    }
}

/// Per-layer availability on this host.
#[derive(Debug, Clone, Serialize)]
pub struct HostSupport {
    /// User, mount, PID, IPC, UTS and network namespaces.
    pub namespaces: Availability,
    /// Landlock.
    pub landlock: Availability,
    /// Landlock ABI version (0 when unavailable).
    pub landlock_abi: u32,
    /// seccomp filters.
    pub seccomp: Availability,
    /// seccomp user notification, for the calls init performs.
    pub seccomp_listener: Availability,
}

impl HostSupport {
    /// Every layer available, with this Landlock ABI (for tests and planning).
    pub fn full(landlock_abi: u32) -> Self {
        HostSupport {
            namespaces: Availability::Available,
            landlock: Availability::Available,
            landlock_abi,
            seccomp: Availability::Available,
            seccomp_listener: Availability::Available,
        }
    }

    /// Derives availability and diagnosis from `facts`.
    pub fn from_facts(facts: &HostFacts) -> Self {
        HostSupport {
            namespaces: diagnose_namespaces(facts),
            landlock: diagnose_landlock(facts),
            landlock_abi: facts.landlock_abi,
            seccomp: diagnose_seccomp(facts),
            seccomp_listener: diagnose_listener(facts),
        }
    }

    /// The layers that are missing, with their reasons.
    pub fn missing_layers(&self) -> Vec<MissingLayer> {
        [
            (Layer::Namespaces, &self.namespaces),
            (Layer::Landlock, &self.landlock),
            (Layer::Seccomp, &self.seccomp),
            (Layer::SeccompListener, &self.seccomp_listener),
        ]
        .into_iter()
        // Without filters there is no listener either; one reason is enough.
        .filter(|(layer, _)| *layer != Layer::SeccompListener || self.seccomp.is_available())
        .filter_map(|(layer, a)| match a {
            Availability::Available => None,
            Availability::Missing { reason, fix } => Some(MissingLayer {
                layer,
                reason: format!("{reason}; fix: {fix}"),
            }),
        })
        .collect()
    }
}

fn diagnose_namespaces(f: &HostFacts) -> Availability {
    let err = match (&f.userns_probe, &f.other_ns_probe) {
        (Some(Err(e)), _) => format!("cannot create a user namespace ({e})"),
        (_, Some(Err(e))) => format!("cannot set up mount/pid/net namespaces ({e})"),
        _ => return Availability::Available,
    };
    if f.wsl1 {
        return Availability::missing(
            format!("{err}: WSL1 has no Linux namespaces"),
            "use WSL2 (wsl --set-version <distro> 2)",
        );
    }
    if f.apparmor_restrict_userns == Some(1) {
        return Availability::missing(
            format!("{err}: AppArmor restricts unprivileged user namespaces (Ubuntu 23.10+)"),
            "allow it for cordon with an AppArmor profile granting `userns,`, or sysctl kernel.apparmor_restrict_unprivileged_userns=0",
        );
    }
    if f.unprivileged_userns_clone == Some(0) && f.euid != 0 {
        return Availability::missing(
            format!("{err}: kernel.unprivileged_userns_clone is 0"),
            "sysctl -w kernel.unprivileged_userns_clone=1",
        );
    }
    if f.max_user_namespaces == Some(0) {
        return Availability::missing(
            format!("{err}: user.max_user_namespaces is 0"),
            "sysctl -w user.max_user_namespaces=15000",
        );
    }
    if !f.in_container && f.seccomp_mode_of_self == Some(2) {
        return Availability::missing(
            format!("{err}: cordon already runs under a seccomp filter that forbids namespaces (an outer sandbox, such as cordon itself, or a container runtime)"),
            "run cordon outside that sandbox, or pass --allow-degraded to rely on Landlock and seccomp alone",
        );
    }
    if f.in_container {
        return Availability::missing(
            format!("{err}: running inside a container whose seccomp profile or capabilities forbid namespaces (Docker's default profile blocks unshare and mount, and its masked /proc prevents mounting a new one)"),
            "run cordon on the host, or start the container with --security-opt seccomp=unconfined --security-opt apparmor=unconfined (or --privileged)",
        );
    }
    Availability::missing(
        err,
        "use a kernel built with CONFIG_USER_NS, CONFIG_PID_NS and CONFIG_NET_NS; run `cordon sandbox doctor` for details",
    )
}

fn diagnose_landlock(f: &HostFacts) -> Availability {
    if f.landlock_abi > 0 {
        return Availability::Available;
    }
    if f.wsl1 {
        return Availability::missing("WSL1 has no Landlock", "use WSL2 with a 5.13+ kernel");
    }
    match f.landlock_in_lsm_list {
        Some(false) => Availability::missing(
            "Landlock is built but not enabled at boot (not in /sys/kernel/security/lsm)",
            "add landlock to the lsm= kernel parameter (e.g. lsm=landlock,lockdown,yama,apparmor,bpf) and reboot",
        ),
        _ => Availability::missing(
            format!("kernel {} has no Landlock (needs 5.13+ with CONFIG_SECURITY_LANDLOCK)", f.kernel_release),
            "upgrade the kernel, or pass --allow-degraded to rely on the mount namespace alone",
        ),
    }
}

fn diagnose_seccomp(f: &HostFacts) -> Availability {
    if f.seccomp_available {
        Availability::Available
    } else {
        Availability::missing(
            "the kernel does not support seccomp filters (CONFIG_SECCOMP_FILTER)",
            "use a kernel built with CONFIG_SECCOMP_FILTER",
        )
    }
}

fn diagnose_listener(f: &HostFacts) -> Availability {
    if !f.seccomp_available {
        return Availability::missing(
            "needs seccomp filters, which are unavailable",
            "use a kernel built with CONFIG_SECCOMP_FILTER",
        );
    }
    match &f.seccomp_listener {
        None | Some(Ok(())) => Availability::Available,
        Some(Err(why)) => Availability::missing(
            format!("{why}; init performs chmod, chown, utime and xattr calls for the command so that it cannot change a writable root's own top directory (run as root: /tmp)"),
            if f.seccomp_mode_of_self == Some(2) {
                "run cordon outside that sandbox, or pass --allow-degraded to run without it"
            } else {
                "upgrade to Linux 5.6 or later, or pass --allow-degraded to run without it"
            },
        ),
    }
}

#[cfg(test)]
#[path = "support_tests.rs"]
mod tests;
