//! Landlock's strict compatibility: rules written for an ABI the kernel
//! lacks refuse the run instead of being silently weakened.
#![allow(clippy::unwrap_used, clippy::expect_used)]

use super::*;

/// Records a skip the way the end-to-end suite's `skip_without` does, so
/// `scripts/test` lists and counts it; returns whether to skip.
fn skip_without(feature: &str, available: bool, reason: &str) -> bool {
    if available {
        return false;
    }
    let test = std::thread::current()
        .name()
        .unwrap_or("unnamed")
        .to_string();
    // SAFETY: geteuid cannot fail.
    let uid = unsafe { libc::geteuid() };
    let line = format!("{test}\t{feature}\t{reason}\t{uid}\n");
    eprint!("SKIPPED {line}");
    if let Some(path) = std::env::var_os("CORDON_TEST_SKIPS") {
        use std::io::Write;
        let written = std::fs::OpenOptions::new()
            .create(true)
            .append(true)
            .open(&path)
            .and_then(|mut f| f.write_all(line.as_bytes()));
        assert!(written.is_ok(), "cannot record the skip: {written:?}");
    }
    true
}

fn plan(abi: u32) -> LandlockPlan {
    LandlockPlan {
        abi,
        read_only: vec!["/".into()],
        read_write: Vec::new(),
        stdio_ttys: false,
        scopes: Vec::new(),
        resolve_unix: false,
    }
}

/// `apply` on a thread of its own (Landlock and `no_new_privs` bind only
/// the calling thread, which then ends).
fn apply_on_a_thread(p: LandlockPlan) -> io::Result<()> {
    std::thread::spawn(move || apply(&p)).join().unwrap()
}

/// The first ABI above the kernel's that handles more file-system rights
/// than the kernel's does, if the landlock crate knows one.
fn abi_beyond_kernel(kernel: u32) -> Option<u32> {
    let known = AccessFs::from_all(ABI::from(i32::try_from(kernel).unwrap()));
    (kernel + 1..=64).find(|n| AccessFs::from_all(ABI::from(i32::try_from(*n).unwrap())) != known)
}

#[test]
fn rules_for_an_abi_the_kernel_lacks_are_refused_not_weakened() {
    let kernel = abi_version();
    if skip_without("landlock", kernel > 0, "the kernel has no Landlock") {
        return;
    }
    // Control: rules for the kernel's own ABI are applied.
    apply_on_a_thread(plan(kernel)).unwrap();
    let Some(beyond) = abi_beyond_kernel(kernel) else {
        skip_without(
            "landlock-abi-below-the-crate",
            false,
            "the kernel handles every file-system right the landlock crate knows",
        );
        return;
    };
    let err = apply_on_a_thread(plan(beyond)).unwrap_err().to_string();
    // Refused when the rules are made (HardRequirement), not only by the
    // after-the-fact check that the result was fully enforced.
    assert!(
        err.contains("incompatible access-rights") && !err.contains("only partly enforced"),
        "ABI {beyond} on a kernel with ABI {kernel}: {err}"
    );
}
