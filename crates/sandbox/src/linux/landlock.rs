//! Applies the planner's Landlock rules to the calling (command) process.
//!
//! Rights are taken for exactly the ABI the planner saw, with
//! `HardRequirement` compatibility: if the kernel cannot enforce all of them
//! the run is refused instead of silently weakened.

use crate::plan::LandlockPlan;
use landlock::{
    Access, AccessFs, CompatLevel, Compatible, PathBeneath, PathFd, RulesetAttr,
    RulesetCreatedAttr, RulesetStatus, Scope, ABI,
};
use std::io;
use std::path::Path;

/// Reads the kernel's Landlock ABI version (0 when unavailable).
pub fn abi_version() -> u32 {
    // SAFETY: a null attr with size 0 and the VERSION flag only queries.
    let v = unsafe {
        libc::syscall(
            libc::SYS_landlock_create_ruleset,
            std::ptr::null::<u8>(),
            0usize,
            1u32, // LANDLOCK_CREATE_RULESET_VERSION
        )
    };
    u32::try_from(v).unwrap_or(0)
}

fn err(e: impl std::fmt::Display) -> io::Error {
    io::Error::other(e.to_string())
}

fn add(
    ruleset: landlock::RulesetCreated,
    path: &Path,
    access: landlock::BitFlags<AccessFs>,
    abi: ABI,
) -> io::Result<landlock::RulesetCreated> {
    // Directory-only rights (make, remove, read-dir) do not apply to files.
    let access = if path.is_dir() {
        access
    } else {
        access & AccessFs::from_file(abi)
    };
    match PathFd::new(path) {
        Ok(fd) => ruleset.add_rule(PathBeneath::new(fd, access)).map_err(err),
        // A path that does not exist needs no rule.
        Err(_) if !path.exists() => Ok(ruleset),
        Err(e) => Err(err(e)),
    }
}

/// Restricts the calling process. Also sets `no_new_privs`.
pub fn apply(plan: &LandlockPlan) -> io::Result<()> {
    let abi = ABI::from(i32::try_from(plan.abi).unwrap_or(0));
    let mut ruleset = landlock::Ruleset::default()
        .set_compatibility(CompatLevel::HardRequirement)
        .handle_access(AccessFs::from_all(abi))
        .map_err(err)?;
    if !plan.scopes.is_empty() {
        ruleset = ruleset.scope(Scope::from_all(abi)).map_err(err)?;
    }
    let mut created = ruleset.create().map_err(err)?;
    for path in &plan.read_only {
        created = add(created, path, AccessFs::from_read(abi), abi)?;
    }
    for path in &plan.read_write {
        created = add(created, path, AccessFs::from_all(abi), abi)?;
    }
    if plan.stdio_ttys {
        for fd in 0..3 {
            // SAFETY: isatty only inspects the descriptor.
            if unsafe { libc::isatty(fd) } == 1 {
                created = add(
                    created,
                    Path::new(&format!("/proc/self/fd/{fd}")),
                    AccessFs::from_file(abi),
                    abi,
                )?;
            }
        }
    }
    let status = created.restrict_self().map_err(err)?;
    if status.ruleset != RulesetStatus::FullyEnforced {
        return Err(err(format!(
            "Landlock ABI {} rules were only partly enforced ({:?})",
            plan.abi, status.ruleset
        )));
    }
    Ok(())
}

#[cfg(test)]
#[path = "landlock_tests.rs"]
mod tests;
