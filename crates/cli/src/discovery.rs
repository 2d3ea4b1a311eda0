//! Resolving a policy with discovery from the index under `$CORDON_HOME`,
//! or from the set a session hands the launcher.

use cordon_discovery::{HandedSet, IndexStore};
use cordon_policy::{PolicyError, PolicyInputs, SandboxPolicy};
use std::cell::OnceCell;

/// Resolves `inputs`, taking each root's protected paths from `handed`
/// when it has that root (with the same nested roots), else from the
/// discovery index. A handed set whose identities disagree with the pins
/// taken now (a path swapped since the session looked) is dropped and the
/// policy resolved again from the index.
/// With `read_only`, an index is used but none is written.
pub(crate) fn resolve(
    inputs: &PolicyInputs,
    handed: Option<&HandedSet>,
    read_only: bool,
) -> Result<SandboxPolicy, PolicyError> {
    let store = OnceCell::new();
    let store = || {
        store.get_or_init(|| {
            let (home, roots) = (inputs.cordon_home.as_deref(), inputs.canonical_roots());
            if read_only {
                IndexStore::open_read_only(home, &roots)
            } else {
                IndexStore::open(home, &roots)
            }
        })
    };
    let mut discover = |root: &std::path::Path, skip: &[std::path::PathBuf]| {
        if let Some(found) = handed.and_then(|h| h.find(root, skip)) {
            log::debug!("discovery {}: the session's set", root.display());
            return found.discovery.clone();
        }
        discover_indexed(store(), root, skip)
    };
    let policy = cordon_policy::resolve_with(inputs, &mut discover)?;
    match handed {
        Some(set) if !set.agrees_with(&policy.pins) => {
            log::debug!("discovery: the session's set is stale; discovering again");
            cordon_policy::resolve_with(inputs, &mut |root, skip| {
                discover_indexed(store(), root, skip)
            })
        }
        _ => Ok(policy),
    }
}

#[cfg(target_os = "linux")]
fn discover_indexed(
    store: &IndexStore,
    root: &std::path::Path,
    skip: &[std::path::PathBuf],
) -> cordon_policy::Discovery {
    let (found, report) = store.discover_report(root, skip);
    log::debug!(
        "discovery {}: {} directories, {} read; index {}{}{}",
        root.display(),
        report.stats.dirs,
        report.stats.read,
        match &report.ignored {
            None => "used".to_string(),
            Some(why) => format!("not used ({why})"),
        },
        if report.written { ", rewritten" } else { "" },
        match &report.fallback {
            Some(why) => format!("; walked plainly: {why}"),
            None => String::new(),
        },
    );
    found
}

#[cfg(not(target_os = "linux"))]
fn discover_indexed(
    store: &IndexStore,
    root: &std::path::Path,
    skip: &[std::path::PathBuf],
) -> cordon_policy::Discovery {
    store.discover(root, skip)
}

/// Reads the session's protected set from descriptor `fd` (closing it);
/// `None`, with a warning, when it cannot be read: the run discovers.
pub(crate) fn read_handed_set(fd: i32) -> Option<HandedSet> {
    #[cfg(unix)]
    {
        use std::io::{Read, Seek};
        use std::os::fd::FromRawFd;
        // SAFETY: F_GETFD only asks whether `fd` is open.
        if unsafe { libc::fcntl(fd, libc::F_GETFD) } < 0 {
            crate::commands::sandbox::warn(&format!(
                "--protected-set-fd {fd} is not an open descriptor; discovering instead"
            ));
            return None;
        }
        // SAFETY: the descriptor was handed to us for this set alone
        // (`--protected-set-fd`, 3 or above) and is open; it is ours to close.
        let mut file = unsafe { std::fs::File::from_raw_fd(fd) };
        let mut bytes = Vec::new();
        let read = file
            .seek(std::io::SeekFrom::Start(0))
            .and_then(|_| file.take(64 << 20).read_to_end(&mut bytes));
        match read
            .map_err(|e| e.to_string())
            .and_then(|_| HandedSet::from_json(&bytes))
        {
            Ok(set) => Some(set),
            Err(e) => {
                crate::commands::sandbox::warn(&format!(
                    "cannot read the protected set from fd {fd} ({e}); discovering instead"
                ));
                None
            }
        }
    }
    #[cfg(not(unix))]
    {
        let _ = fd;
        None
    }
}
