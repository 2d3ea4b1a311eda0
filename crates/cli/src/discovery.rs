//! Resolving a policy with discovery from the index under `$CORDON_HOME`,
//! or from the set a session hands the launcher.

use cordon_discovery::{agent, HandedSet, IndexStore};
use cordon_policy::{PolicyError, PolicyInputs, SandboxPolicy};
use std::cell::OnceCell;

/// How long a run waits for the discovery agent in all (connecting and
/// every root's answer); slower, and it discovers for itself.
const AGENT_BUDGET: std::time::Duration = std::time::Duration::from_millis(20);

/// Resolves `inputs`, taking each root's protected paths from `handed`
/// when it has that root (with the same nested roots), else (with
/// `agent`) from the per-user discovery agent, else from the discovery
/// index. A set whose identities disagree with the pins taken now (a path
/// swapped since the session or the agent looked) is dropped and the
/// policy resolved again from the index.
/// With `read_only`, an index is used but none is written, and a running
/// agent is asked but none is started.
pub(crate) fn resolve(
    inputs: &PolicyInputs,
    handed: Option<&HandedSet>,
    read_only: bool,
    agent: bool,
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
    // The agent serves `$CORDON_HOME/discovery`, like the index: not when a
    // writable root could write there (the index store says so).
    let home = inputs.cordon_home.as_deref();
    let mut client: Option<Result<agent::AgentClient, agent::AgentUnavailable>> = None;
    let mut answered = HandedSet::default();
    let mut unwatched = Vec::new();
    let mut discover = |root: &std::path::Path, skip: &[std::path::PathBuf]| {
        if let Some(found) = handed.and_then(|h| h.find(root, skip)) {
            log::debug!("discovery {}: the session's set", root.display());
            return found.discovery.clone();
        }
        if let Some(home) = home.filter(|_| agent && store().disabled().is_none()) {
            let client =
                client.get_or_insert_with(|| agent::AgentClient::connect(home, AGENT_BUDGET));
            match client {
                Ok(c) => match c.ask(root, skip) {
                    Ok(found) => {
                        log::debug!("discovery {}: the discovery agent's set", root.display());
                        let discovery = found.discovery.clone();
                        answered.roots.push(found);
                        return discovery;
                    }
                    Err(why) => log::debug!("discovery {}: agent: {why}", root.display()),
                },
                Err(agent::AgentUnavailable::NotRunning(_)) => {
                    unwatched.push((root.to_path_buf(), skip.to_vec()));
                }
                Err(_) => {}
            }
        }
        discover_indexed(store(), root, skip)
    };
    let policy = cordon_policy::resolve_with(inputs, &mut discover)?;
    match (&client, home) {
        (Some(Err(why @ agent::AgentUnavailable::NotRunning(_))), Some(home)) if !read_only => {
            // Started now, watching this run's roots: it answers from the
            // next run on.
            log::debug!("discovery agent {why}; starting one");
            if let Err(e) = agent::spawn(home, &unwatched) {
                log::debug!("cannot start the discovery agent: {e}");
            }
        }
        (Some(Err(why)), _) => log::debug!("discovery agent {why}"),
        _ => {}
    }
    let stale = |set: &HandedSet| !set.agrees_with(&policy.pins);
    if handed.is_some_and(stale) || stale(&answered) {
        log::debug!("discovery: a handed set is stale; discovering again");
        return cordon_policy::resolve_with(inputs, &mut |root, skip| {
            discover_indexed(store(), root, skip)
        });
    }
    Ok(policy)
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
