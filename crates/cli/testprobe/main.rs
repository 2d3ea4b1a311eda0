//! `cordon-test-probe ACTION [ARGS]`: tries one action and reports.
//!
//! Exit 0 and `ok` on stdout when the action succeeded; exit 1 and
//! `denied: <step>: <error>` on stderr when it failed; exit 2 on bad usage.
//! Actions that need privilege first try directly, then inside a fresh user
//! namespace, as an attacker in the sandbox would.
#![allow(clippy::unwrap_used, clippy::expect_used, missing_docs)]

#[cfg(target_os = "linux")]
mod probe;

#[cfg(target_os = "linux")]
fn main() {
    probe::main()
}

#[cfg(not(target_os = "linux"))]
fn main() {
    eprintln!("cordon-test-probe: the probes attack the Linux sandbox; not supported on this OS");
    std::process::exit(2);
}
