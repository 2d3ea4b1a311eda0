//! The environment of the agent's commands: `[shell_environment_policy]`
//! applied to cordon's own environment, as one pure function
//! ([`command_env`]).
//!
//! The launcher (`cordon sandbox --shell-environment-policy`) calls it and
//! then adds the sandbox's own variables (`CORDON_SANDBOX`,
//! `CORDON_NETWORK` and, with `--network proxy`, the proxy variables), so
//! no key of the policy can change or remove those.

use cordon_config::{glob_matches, Inherit, ShellEnvironmentPolicy};
use std::ffi::{OsStr, OsString};

/// The default excludes on names (case-insensitive globs): API keys,
/// tokens, secrets, passwords and credentials, so a command cannot print
/// the model's key back. Skipped with `ignore_default_excludes = true`.
pub const DEFAULT_EXCLUDES: [&str; 8] = [
    "*KEY*",
    "*SECRET*",
    "*TOKEN*",
    "*PASSWORD*",
    "*PASSWD*",
    "*CREDENTIAL*",
    "*AUTH*",
    "*_PAT",
];

/// What `inherit = "core"` keeps: these names, and every name starting
/// with `LC_`.
pub const CORE_VARS: [&str; 12] = [
    "HOME", "LOGNAME", "PATH", "SHELL", "USER", "USERNAME", "TMPDIR", "TEMP", "TMP", "LANG",
    "TERM", "TZ",
];

/// What `inherit = "core"` also keeps on Windows, where programs need them
/// to start.
pub const CORE_VARS_WINDOWS: [&str; 8] = [
    "SYSTEMROOT",
    "WINDIR",
    "COMSPEC",
    "PATHEXT",
    "USERPROFILE",
    "APPDATA",
    "LOCALAPPDATA",
    "PROGRAMDATA",
];

/// Whether the default excludes drop the name: it matches one of
/// [`DEFAULT_EXCLUDES`].
pub fn is_secret_name(name: &str) -> bool {
    DEFAULT_EXCLUDES.iter().any(|p| glob_matches(p, name))
}

/// Whether the default excludes drop the value: it carries a URL with
/// credentials (userinfo, as in `postgres://user:pass@db/app` or a host
/// proxy's `http://user:pass@proxy:3128`). cordon's own proxy for the
/// command carries none, and cordon itself still reaches the host's proxy
/// (it reads its own environment, not the command's).
pub fn is_secret_value(value: &str) -> bool {
    value.split_whitespace().any(|word| {
        word.split_once("://").is_some_and(|(scheme, rest)| {
            let authority = rest.split(['/', '?', '#']).next().unwrap_or("");
            !scheme.is_empty()
                && scheme
                    .chars()
                    .all(|c| c.is_ascii_alphanumeric() || "+-.".contains(c))
                && authority.contains('@')
        })
    })
}

/// Whether `inherit = "core"` keeps `name`.
pub fn is_core_name(name: &str) -> bool {
    let windows = if cfg!(windows) {
        &CORE_VARS_WINDOWS[..]
    } else {
        &[]
    };
    CORE_VARS
        .iter()
        .chain(windows)
        .any(|core| same_name(name, core))
        || name.get(..3).is_some_and(|prefix| same_name(prefix, "LC_"))
}

/// Names compare exactly, except on Windows, where case does not count.
fn same_name(a: &str, b: &str) -> bool {
    if cfg!(windows) {
        a.eq_ignore_ascii_case(b)
    } else {
        a == b
    }
}

fn text(s: &OsStr) -> std::borrow::Cow<'_, str> {
    s.to_string_lossy()
}

/// The command's environment from `vars` (cordon's own) under `policy`,
/// in Codex's order: `inherit`; the default excludes (names matching
/// [`DEFAULT_EXCLUDES`], values per [`is_secret_value`]) unless
/// `ignore_default_excludes`; `exclude`; `set` (replacing a variable of the
/// same name); `include_only` when not empty (which can drop `set` ones
/// too). Order of `vars` is kept; new `set` names follow in name order.
pub fn command_env<I>(policy: &ShellEnvironmentPolicy, vars: I) -> Vec<(OsString, OsString)>
where
    I: IntoIterator<Item = (OsString, OsString)>,
{
    let mut env: Vec<(OsString, OsString)> = vars
        .into_iter()
        .filter(|(name, _)| match policy.inherit {
            Inherit::All => true,
            Inherit::Core => is_core_name(&text(name)),
            Inherit::None => false,
        })
        .collect();
    if !policy.ignore_default_excludes {
        env.retain(|(name, value)| !is_secret_name(&text(name)) && !is_secret_value(&text(value)));
    }
    env.retain(|(name, _)| !policy.exclude.iter().any(|p| p.matches(&text(name))));
    for (name, value) in &policy.set {
        match env.iter_mut().find(|(n, _)| same_name(&text(n), name)) {
            Some(slot) => *slot = (name.into(), value.into()),
            None => env.push((name.into(), value.into())),
        }
    }
    if !policy.include_only.is_empty() {
        env.retain(|(name, _)| policy.include_only.iter().any(|p| p.matches(&text(name))));
    }
    env
}

#[cfg(test)]
#[path = "shell_env_tests.rs"]
mod tests;
