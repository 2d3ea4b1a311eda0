//! `cordon sandbox doctor`: each layer, whether this host has it, and if
//! not, the likely cause and the fix.

use crate::support::{Availability, HostFacts, HostSupport};
use serde::Serialize;

/// One row of the report.
#[derive(Debug, Clone, Serialize)]
pub struct LayerReport {
    /// Layer name.
    pub layer: &'static str,
    /// Whether it is available.
    pub available: bool,
    /// What was found (version, probe result).
    pub detail: String,
    /// Likely cause when unavailable.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub cause: Option<String>,
    /// Fix when unavailable.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub fix: Option<String>,
}

/// The whole report.
#[derive(Debug, Clone, Serialize)]
pub struct DoctorReport {
    /// Kernel release.
    pub kernel: String,
    /// Effective uid the probe ran as.
    pub euid: u32,
    /// One row per layer.
    pub layers: Vec<LayerReport>,
    /// Whether `cordon sandbox` can enforce read-only and workspace-write here.
    pub ready: bool,
    /// Placeholders a killed run left at the top of this directory's
    /// writable roots (the next run removes them); filled in by the caller.
    pub stale_placeholders: Vec<std::path::PathBuf>,
}

fn row(layer: &'static str, a: &Availability, detail: String) -> LayerReport {
    let (cause, fix) = match a {
        Availability::Available => (None, None),
        Availability::Missing { reason, fix } => (Some(reason.clone()), Some(fix.clone())),
    };
    LayerReport {
        layer,
        available: a.is_available(),
        detail,
        cause,
        fix,
    }
}

fn probe_text(p: &Option<Result<(), String>>) -> String {
    match p {
        None => "not probed".into(),
        Some(Ok(())) => "created".into(),
        Some(Err(e)) => format!("failed: {e}"),
    }
}

/// Builds the report from `facts`.
pub fn report(facts: &HostFacts) -> DoctorReport {
    let s = HostSupport::from_facts(facts);
    let user = facts
        .userns_probe
        .clone()
        .map(|r| r.map_err(|e| e.to_string()));
    let mut layers = vec![
        row("user namespace", &s.namespaces, probe_text(&user)),
        row(
            "mount, pid, ipc, uts, net namespaces (+ /proc)",
            &s.namespaces,
            probe_text(&facts.other_ns_probe),
        ),
        row(
            "landlock",
            &s.landlock,
            if facts.landlock_abi > 0 {
                format!("ABI {}", facts.landlock_abi)
            } else {
                "unavailable".into()
            },
        ),
        row(
            "seccomp",
            &s.seccomp,
            match facts.seccomp_mode_of_self {
                Some(2) => "filters available (cordon itself already runs under a filter)".into(),
                _ => {
                    if facts.seccomp_available {
                        "filters available".into()
                    } else {
                        "unavailable".into()
                    }
                }
            },
        ),
        row(
            "seccomp listener",
            &s.seccomp_listener,
            match &facts.seccomp_listener {
                None => "not probed".into(),
                Some(Ok(())) => {
                    "user notification and pidfd_getfd (init performs chmod, chown, utime, xattr)"
                        .into()
                }
                Some(Err(_)) => "unavailable".into(),
            },
        ),
    ];
    // Only the stage that failed carries the diagnosis.
    if matches!(facts.userns_probe, Some(Err(_))) {
        layers[1].cause = None;
        layers[1].fix = None;
    } else if matches!(facts.other_ns_probe, Some(Err(_))) {
        layers[0].available = true;
        layers[0].cause = None;
        layers[0].fix = None;
    }
    let ready = s.missing_layers().is_empty();
    DoctorReport {
        kernel: facts.kernel_release.clone(),
        euid: facts.euid,
        layers,
        ready,
        stale_placeholders: Vec::new(),
    }
}

/// Renders the report for a terminal.
pub fn render(r: &DoctorReport) -> String {
    let mut out = format!(
        "cordon sandbox doctor (kernel {}, euid {})\n",
        r.kernel, r.euid
    );
    for l in &r.layers {
        let mark = if l.available { "ok  " } else { "MISSING" };
        out.push_str(&format!("  [{mark}] {:<48} {}\n", l.layer, l.detail));
        if let Some(c) = &l.cause {
            out.push_str(&format!("          cause: {c}\n"));
        }
        if let Some(f) = &l.fix {
            out.push_str(&format!("          fix:   {f}\n"));
        }
    }
    out.push_str(if r.ready {
        "ready: read-only and workspace-write are fully enforced here\n"
    } else {
        "not ready: cordon sandbox will refuse to run (or, with --allow-degraded, say what is not enforced)\n"
    });
    for p in &r.stale_placeholders {
        out.push_str(&format!(
            "stale placeholder (a killed run left it; the next run removes it): {}\n",
            p.display()
        ));
    }
    out
}
