//! Pieces the Windows and macOS planners share.

use cordon_policy::{NetworkMode, SandboxMode, SandboxPolicy};
use std::path::{Path, PathBuf};

/// The protected paths that must stay read-only inside `root`: every
/// protected path of any root that lies inside `root` and is not itself a
/// writable root (a gitdir planted to point at a root must not turn that
/// root read-only; a root nested in a protected path, like
/// `$CORDON_HOME/memories`, keeps its own grant).
pub(crate) fn carve_outs(policy: &SandboxPolicy, root: &Path) -> Vec<PathBuf> {
    let mut out: Vec<PathBuf> = policy
        .writable_roots
        .iter()
        .flat_map(|r| &r.protected)
        .map(|p| &p.path)
        .filter(|p| p.starts_with(root))
        .filter(|p| !policy.writable_roots.iter().any(|r| &r.root == *p))
        .cloned()
        .collect();
    out.sort();
    out.dedup();
    out
}

/// Every protected path inside some writable root, each once, sorted.
pub(crate) fn all_carve_outs(policy: &SandboxPolicy) -> Vec<PathBuf> {
    let mut out: Vec<PathBuf> = policy
        .writable_roots
        .iter()
        .flat_map(|r| carve_outs(policy, &r.root))
        .collect();
    out.sort();
    out.dedup();
    out
}

/// The directories whose renaming or removal would carry a protected path
/// off: `root` itself and every directory between it and each of
/// `protected`; each once, sorted, none when nothing is protected.
pub(crate) fn fixed_directories(root: &Path, protected: &[PathBuf]) -> Vec<PathBuf> {
    let mut out: Vec<PathBuf> = protected
        .iter()
        .flat_map(|p| p.ancestors().skip(1))
        .filter(|a| a.starts_with(root))
        .map(Path::to_path_buf)
        .collect();
    out.sort();
    out.dedup();
    out
}

/// The variables every sandboxed run gets, plus the proxy's with
/// `--network proxy` (carrying `proxy_token`, since on macOS and Windows
/// the proxy listens on the host's loopback). Empty for
/// danger-full-access, as on Linux.
pub(crate) fn base_env(
    policy: &SandboxPolicy,
    proxy_port: u16,
    proxy_token: &str,
    cordon_exe: &str,
) -> Vec<(String, String)> {
    if policy.mode == SandboxMode::DangerFullAccess {
        return Vec::new();
    }
    let mut env = vec![
        ("CORDON_SANDBOX".to_string(), "1".to_string()),
        (
            "CORDON_NETWORK".to_string(),
            policy.network.as_str().to_string(),
        ),
    ];
    if policy.network == NetworkMode::Proxy {
        env.extend(super::proxy_env(proxy_port, cordon_exe, Some(proxy_token)));
        // Leave no inherited WebSocket proxy pointing elsewhere.
        let http = format!("http://cordon:{proxy_token}@127.0.0.1:{proxy_port}");
        for key in ["WS_PROXY", "WSS_PROXY", "ws_proxy", "wss_proxy"] {
            env.push((key.to_string(), http.clone()));
        }
    }
    env
}

/// Serialises a list of OS strings as UTF-8 text for the JSON plan (lossy
/// only in what is printed; executors use the OS strings themselves).
pub(crate) fn serialize_os_strings<S: serde::Serializer>(
    list: &[std::ffi::OsString],
    s: S,
) -> Result<S::Ok, S::Error> {
    use serde::ser::SerializeSeq;
    let mut seq = s.serialize_seq(Some(list.len()))?;
    for item in list {
        seq.serialize_element(&item.to_string_lossy())?;
    }
    seq.end()
}
