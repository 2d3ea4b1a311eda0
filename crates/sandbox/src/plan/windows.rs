//! The Windows planner: a pure function from policy and options to the
//! identity a command runs as, how it is launched, the firewall rules that
//! identity is under, the ACL grants and denies on the file system, and the
//! environment.
//!
//! The model: two local accounts created once by an elevated
//! `cordon sandbox windows setup`:
//! * `offline` ([`Identity::Offline`]): outbound traffic to non-loopback
//!   addresses is blocked by Windows Firewall rules scoped to its SID;
//!   loopback UDP, and loopback TCP except to cordon's proxy ports, by WFP
//!   filters ([`wfp`]; firewall rules have no effect on loopback, KB
//!   2771908);
//! * `online` ([`Identity::Online`]): no firewall restriction.
//!
//! A proxy-enforced run and a run without network use `offline`; a run with
//! the full network uses `online`. The unelevated mode (`[windows] sandbox =
//! "unelevated"`) runs the command under a restricted copy of the caller's
//! token with a per-run restricting SID (`S-1-5-21-…` form) instead of an
//! account; such a token
//! cannot be singled out by firewall rules, so every run that needs network
//! enforcement is moved to the `offline` account transparently; and once
//! the accounts are set up, full-network runs use `online`, since a
//! restricted copy of the caller's token could read the accounts' stored
//! passwords (sealed for the caller) and log on as either.
//!
//! # Limitations
//! * Firewall rules and WFP filters are programmed at setup, not per run: a setup marker
//!   records the proxy ports and `allow_local_binding` it programmed, and a
//!   run whose values differ re-runs setup ([`setup_decision`]).
//! * A `--network none` run as `offline` can reach a loopback listener on
//!   the proxy ports that setup programmed (normally cordon's own proxy,
//!   which is not running then).
//! * The sandbox account's own ACL entries (the half of each grant that
//!   its normal access check needs) stay after a logon-user run, so that
//!   concurrent runs keep working; alone they let nothing be written, since
//!   every write also needs the run's SID, which is revoked.

pub mod host;
pub mod setup;
pub mod wfp;

pub use host::{
    account_action, console_flags, firewall_state_problems, profile_overrides, restricting_sids,
    run_sid, sandboxed_stdin, strip_profile_variables, AccountAction, ConsoleStart, GrantHold,
    GrantLedger, ModifyState, ObservedProfile, SandboxStdin, SandboxedStart, PROFILE_VARIABLES,
};
pub use setup::{
    admin_refusal, marker_user_refusal, password_file_sddl, setup_target, PasswordScope,
    SetupCaller, SetupTarget,
};
pub use wfp::{
    wfp_filters, wfp_problems, wfp_verdict, ObservedWfp, ObservedWfpFilter, WfpAction,
    WfpConditions, WfpFilter, WfpLayer,
};

use super::shared::{
    all_carve_outs, base_env, carve_outs, fixed_directories, serialize_os_strings,
};
use crate::SandboxError;
pub use cordon_policy::WindowsSandbox;
use cordon_policy::{NetworkMode, ProtectedKind, SandboxMode, SandboxPolicy};
use serde::{Deserialize, Serialize};
use std::ffi::OsString;
use std::net::{IpAddr, Ipv4Addr};
use std::path::PathBuf;

/// The two sandbox accounts. No other identity is ever introduced.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "kebab-case")]
pub enum Identity {
    /// No direct network egress (firewall rules scoped to its SID).
    Offline,
    /// Full network.
    Online,
}

impl Identity {
    /// The local account's user name.
    pub fn account(self) -> &'static str {
        match self {
            Identity::Offline => "cordon-offline",
            Identity::Online => "cordon-online",
        }
    }
}

/// How the command is started.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
#[serde(rename_all = "kebab-case")]
pub enum Launch {
    /// cordon's runner (`cordon sandbox windows-runner`) is started as the
    /// sandbox account with its stored password (`CreateProcessWithLogonW`);
    /// it restricts its own token to writes the run's SID is
    /// granted (`WRITE_RESTRICTED`) and starts the command with it
    /// (`CreateProcessAsUserW`, allowed for a restricted copy of the
    /// caller's own token).
    LogonUser,
    /// The caller's token, restricted, with a per-run restricting SID
    /// (`CreateRestrictedToken`, `CreateProcessAsUserW`).
    RestrictedToken,
    /// No sandbox (danger-full-access): the caller's own token.
    Unsandboxed,
}

/// Traffic direction of a firewall rule.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
#[serde(rename_all = "kebab-case")]
pub enum Direction {
    /// Outbound.
    Out,
}

/// What a firewall rule does.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
#[serde(rename_all = "kebab-case")]
pub enum FirewallAction {
    /// Drop matching traffic.
    Block,
}

/// The protocol a firewall rule matches.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
#[serde(rename_all = "kebab-case")]
pub enum Protocol {
    /// Every IP protocol (`NET_FW_IP_PROTOCOL_ANY`, 256).
    Any,
    /// TCP (6).
    Tcp,
    /// UDP (17).
    Udp,
}

impl Protocol {
    /// The IANA number the Firewall API takes (256 for any).
    pub fn number(self) -> i32 {
        match self {
            Protocol::Any => 256,
            Protocol::Tcp => 6,
            Protocol::Udp => 17,
        }
    }
}

/// One Windows Firewall rule for the `offline` account (all profiles).
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct FirewallRule {
    /// Unique rule name (`cordon-offline-...`).
    pub name: String,
    /// Direction.
    pub direction: Direction,
    /// Action.
    pub action: FirewallAction,
    /// Protocol.
    pub protocol: Protocol,
    /// Remote addresses in Firewall API syntax (ranges, CIDR, lists).
    pub remote_addresses: String,
    /// Remote ports (`*` or ranges such as `1-3127,3129-65535`).
    pub remote_ports: String,
}

/// Rule name: every outbound packet to non-loopback IPv4 addresses.
pub const RULE_NON_LOOPBACK_V4: &str = "cordon-offline-block-non-loopback-ipv4";
/// Rule name: every outbound packet to non-loopback IPv6 addresses.
pub const RULE_NON_LOOPBACK_V6: &str = "cordon-offline-block-non-loopback-ipv6";
/// Rules an earlier cordon installed for loopback traffic, which KB
/// 2771908 says have no effect on it (loopback is held by WFP filters
/// now); setup and uninstall remove them.
pub const LEGACY_RULE_NAMES: [&str; 2] = [
    "cordon-offline-block-loopback-udp",
    "cordon-offline-block-loopback-tcp",
];
/// Every rule name setup installs or removes (uninstall removes all).
pub const ALL_RULE_NAMES: [&str; 4] = [
    RULE_NON_LOOPBACK_V4,
    RULE_NON_LOOPBACK_V6,
    LEGACY_RULE_NAMES[0],
    LEGACY_RULE_NAMES[1],
];

/// IPv4 addresses outside 127.0.0.0/8.
pub const NON_LOOPBACK_V4: &str = "0.0.0.0-126.255.255.255,128.0.0.0-255.255.255.255";
/// IPv6 addresses other than ::1.
pub const NON_LOOPBACK_V6: &str = "::,::2-ffff:ffff:ffff:ffff:ffff:ffff:ffff:ffff";

/// What setup programmed, stored as JSON under `$CORDON_HOME`.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct SetupMarker {
    /// Marker format version.
    pub version: u32,
    /// Loopback TCP ports the `offline` account may reach.
    pub proxy_ports: Vec<u16>,
    /// Whether the loopback WFP filters were left out.
    pub allow_local_binding: bool,
    /// The SID of the user whose runs use the accounts (set by setup; a
    /// run by anyone else is refused, [`marker_user_refusal`]). Not part
    /// of what a run compares in [`setup_decision`].
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub for_user: Option<String>,
    /// The DPAPI scope of the stored passwords (set by setup).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub password_scope: Option<PasswordScope>,
}

/// The current marker format (3: records `for_user` and `password_scope`).
pub const MARKER_VERSION: u32 = 3;

/// Whether setup must run (again) before a run.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
#[serde(tag = "status", rename_all = "kebab-case")]
pub enum SetupDecision {
    /// Setup is not needed for this run's launch.
    NotNeeded,
    /// The accounts and rules match what this run needs.
    UpToDate,
    /// Setup must run; why.
    Run {
        /// The reason, for the user.
        reason: String,
    },
}

/// Decides whether setup must (re-)run: no marker, another marker version,
/// other proxy ports, or another `allow_local_binding`.
pub fn setup_decision(existing: Option<&SetupMarker>, wanted: &SetupMarker) -> SetupDecision {
    let Some(old) = existing else {
        return SetupDecision::Run {
            reason: "the Windows sandbox accounts have not been set up (no setup marker)".into(),
        };
    };
    let mut reasons = Vec::new();
    if old.version != wanted.version {
        reasons.push(format!(
            "setup marker version {} differs from {}",
            old.version, wanted.version
        ));
    }
    if old.proxy_ports != wanted.proxy_ports {
        reasons.push(format!(
            "proxy ports changed from {} to {}",
            port_list(&old.proxy_ports),
            port_list(&wanted.proxy_ports)
        ));
    }
    if old.allow_local_binding != wanted.allow_local_binding {
        reasons.push(format!(
            "allow_local_binding changed from {} to {}",
            old.allow_local_binding, wanted.allow_local_binding
        ));
    }
    if reasons.is_empty() {
        SetupDecision::UpToDate
    } else {
        SetupDecision::Run {
            reason: reasons.join("; "),
        }
    }
}

fn port_list(ports: &[u16]) -> String {
    if ports.is_empty() {
        return "none".into();
    }
    ports
        .iter()
        .map(u16::to_string)
        .collect::<Vec<_>>()
        .join(",")
}

/// The proxy port a Windows plan uses when no setup marker names one; a
/// fixed port, because the firewall rules are programmed once at setup.
pub const DEFAULT_PROXY_PORT: u16 = 47_128;

/// The port cordon's proxy listens on for a Windows run: the first port the
/// existing setup programmed, else [`DEFAULT_PROXY_PORT`].
pub fn preferred_proxy_port(marker: Option<&SetupMarker>) -> u16 {
    marker
        .and_then(|m| m.proxy_ports.first().copied())
        .unwrap_or(DEFAULT_PROXY_PORT)
}

/// The variables whose values name proxies.
pub const PROXY_VARIABLES: [&str; 5] = [
    "HTTP_PROXY",
    "HTTPS_PROXY",
    "ALL_PROXY",
    "WS_PROXY",
    "WSS_PROXY",
];

/// The loopback proxy ports named in `env`: `HTTP_PROXY`, `HTTPS_PROXY`,
/// `ALL_PROXY`, `WS_PROXY` and `WSS_PROXY` in either case. Only loopback
/// hosts count (`localhost`, `127.0.0.0/8`, `[::1]`); credentials are
/// ignored; a missing port takes the scheme's default; port 0 and
/// unparsable values are skipped. Sorted, without duplicates.
pub fn proxy_ports_from_env(env: &[(String, String)]) -> Vec<u16> {
    let mut ports: Vec<u16> = env
        .iter()
        .filter(|(k, _)| PROXY_VARIABLES.iter().any(|v| k.eq_ignore_ascii_case(v)))
        .filter_map(|(_, v)| loopback_proxy_port(v))
        .collect();
    ports.sort_unstable();
    ports.dedup();
    ports
}

/// The port of a proxy URL (`[scheme://][user[:pass]@]host[:port][/...]`)
/// whose host is loopback.
pub fn loopback_proxy_port(value: &str) -> Option<u16> {
    let value = value.trim();
    let (scheme, rest) = match value.split_once("://") {
        Some((s, r)) => (Some(s.to_ascii_lowercase()), r),
        None => (None, value),
    };
    let authority = rest.split(['/', '?', '#']).next().unwrap_or("");
    // Credentials end at the last '@' (a password may contain '@').
    let hostport = authority.rsplit_once('@').map_or(authority, |(_, h)| h);
    let (host, port) = if let Some(inside) = hostport.strip_prefix('[') {
        let (host, after) = inside.split_once(']')?;
        match after {
            "" => (host, None),
            _ => (host, Some(after.strip_prefix(':')?)),
        }
    } else {
        match hostport.split_once(':') {
            Some((h, p)) => (h, Some(p)),
            None => (hostport, None),
        }
    };
    if !is_loopback_host(host) {
        return None;
    }
    let port = match port {
        Some(p) => p.parse::<u16>().ok()?,
        None => match scheme.as_deref() {
            Some("http") | Some("ws") => 80,
            Some("https") | Some("wss") => 443,
            Some("socks") | Some("socks4") | Some("socks4a") | Some("socks5") | Some("socks5h") => {
                1080
            }
            _ => return None,
        },
    };
    (port != 0).then_some(port)
}

fn is_loopback_host(host: &str) -> bool {
    let host = host.strip_suffix('.').unwrap_or(host);
    if host.eq_ignore_ascii_case("localhost") {
        return true;
    }
    match host.parse::<IpAddr>() {
        Ok(IpAddr::V4(v4)) => v4.is_loopback(),
        Ok(IpAddr::V6(v6)) => v6.is_loopback(),
        Err(_) => host.parse::<Ipv4Addr>().is_ok_and(|v4| v4.is_loopback()),
    }
}

fn rule(name: &str, protocol: Protocol, addresses: &str, ports: &str) -> FirewallRule {
    FirewallRule {
        name: name.into(),
        direction: Direction::Out,
        action: FirewallAction::Block,
        protocol,
        remote_addresses: addresses.into(),
        remote_ports: ports.into(),
    }
}

/// The `offline` account's firewall rules, in install order: every
/// protocol to non-loopback IPv4 and IPv6 addresses, blocked. They stay
/// with `allow_local_binding`. There are no loopback rules: Microsoft KB
/// 2771908 says loopback addresses in a rule "have no effect on loopback
/// communication", so keeping them would only suggest a protection that
/// is not there; loopback is held by [`wfp_filters`].
pub fn firewall_rules() -> Vec<FirewallRule> {
    vec![
        rule(RULE_NON_LOOPBACK_V4, Protocol::Any, NON_LOOPBACK_V4, "*"),
        rule(RULE_NON_LOOPBACK_V6, Protocol::Any, NON_LOOPBACK_V6, "*"),
    ]
}

/// One rule as read back from Windows Firewall before a run.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ObservedRule {
    /// The rule is enabled.
    pub enabled: bool,
    /// Its action is block.
    pub block: bool,
    /// Its direction is outbound.
    pub outbound: bool,
    /// Its protocol number (256: any).
    pub protocol: i32,
    /// Its remote ports (`*` or ranges; empty for protocol any).
    pub remote_ports: String,
    /// Its profile bit mask (`NET_FW_PROFILE2_*`).
    pub profiles: i32,
    /// Its `LocalUserAuthorizedList` (an SDDL string naming the account).
    pub local_users: String,
    /// Its local addresses (`*`: any).
    pub local_addresses: String,
    /// Its local ports (`*`: any; empty for protocol any).
    pub local_ports: String,
    /// Its interface types (`All`).
    pub interface_types: String,
    /// The program it is limited to (empty: any).
    pub application_name: String,
    /// The service it is limited to (empty: any).
    pub service_name: String,
    /// The app package it is limited to (empty: any).
    pub app_package: String,
}

/// The `LocalUserAuthorizedList` of every rule: exactly the `offline`
/// account (`sid`).
pub fn rule_users_sddl(sid: &str) -> String {
    format!("O:LSD:(A;;CC;;;{sid})")
}

/// The firewall state that matters to the `offline` account, read by the
/// executor before every run that relies on it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ObservedFirewall {
    /// What `get_LocalPolicyModifyState` answered.
    pub modify_state: ModifyState,
    /// The domain, private and public profiles.
    pub profiles: Vec<ObservedProfile>,
    /// Each planned rule's name and what was found under it.
    pub rules: Vec<(String, Option<ObservedRule>)>,
}

/// The domain, private and public profile bits, all of which a rule must
/// cover (`NET_FW_PROFILE2_ALL` reads back as a superset).
pub const ALL_PROFILES: i32 = 0x7;

/// Why the firewall as observed does not hold the `offline` account
/// (`sid`) to `expected`; empty when it does. Remote addresses are not
/// compared (the API may render them in its own notation), nor the
/// per-rule interface list; every other property that narrows what the
/// rule blocks is.
pub fn firewall_problems(
    expected: &[FirewallRule],
    sid: &str,
    observed: &ObservedFirewall,
) -> Vec<String> {
    let mut problems = firewall_state_problems(observed.modify_state, &observed.profiles);
    for rule in expected {
        let found = observed
            .rules
            .iter()
            .find(|(name, _)| name == &rule.name)
            .and_then(|(_, r)| r.as_ref());
        let Some(found) = found else {
            problems.push(format!("firewall rule {} is missing", rule.name));
            continue;
        };
        let mut wrong = Vec::new();
        if !found.enabled {
            wrong.push("disabled".to_string());
        }
        if !found.block {
            wrong.push("its action is not block".to_string());
        }
        if !found.outbound {
            wrong.push("it is not outbound".to_string());
        }
        if found.protocol != rule.protocol.number() {
            wrong.push(format!(
                "protocol {} instead of {}",
                found.protocol,
                rule.protocol.number()
            ));
        }
        if rule.protocol != Protocol::Any
            && port_set(&found.remote_ports) != port_set(&rule.remote_ports)
        {
            wrong.push(format!(
                "remote ports {:?} instead of {:?}",
                found.remote_ports, rule.remote_ports
            ));
        }
        if found.profiles & ALL_PROFILES != ALL_PROFILES {
            wrong.push(format!("profiles {:#x} instead of all", found.profiles));
        }
        if !found
            .local_users
            .trim()
            .eq_ignore_ascii_case(&rule_users_sddl(sid))
        {
            wrong.push(format!(
                "it does not name exactly the offline account ({sid}) but {:?}",
                found.local_users
            ));
        }
        let any = |v: &str| v.trim().is_empty() || v.trim() == "*";
        if !any(&found.local_addresses) {
            wrong.push(format!("local addresses {:?}", found.local_addresses));
        }
        if rule.protocol != Protocol::Any && !any(&found.local_ports) {
            wrong.push(format!("local ports {:?}", found.local_ports));
        }
        if !found.interface_types.trim().eq_ignore_ascii_case("all") {
            wrong.push(format!("interface types {:?}", found.interface_types));
        }
        if !found.application_name.trim().is_empty() {
            wrong.push(format!(
                "limited to the program {:?}",
                found.application_name
            ));
        }
        if !found.service_name.trim().is_empty() {
            wrong.push(format!("limited to the service {:?}", found.service_name));
        }
        if !found.app_package.trim().is_empty() {
            wrong.push(format!(
                "limited to the app package {:?}",
                found.app_package
            ));
        }
        if !wrong.is_empty() {
            problems.push(format!("firewall rule {}: {}", rule.name, wrong.join(", ")));
        }
    }
    problems
}

/// A Firewall API port list as merged inclusive ranges (`*` is every
/// port); `None` when it does not parse.
pub fn port_set(list: &str) -> Option<Vec<(u16, u16)>> {
    let list = list.trim();
    if list == "*" || list.eq_ignore_ascii_case("any") {
        return Some(vec![(0, 65_535)]);
    }
    let mut ranges = Vec::new();
    for part in list.split(',') {
        let part = part.trim();
        let (a, b) = part.split_once('-').unwrap_or((part, part));
        let (a, b) = (a.trim().parse::<u16>().ok()?, b.trim().parse::<u16>().ok()?);
        if a > b {
            return None;
        }
        ranges.push((a, b));
    }
    ranges.sort_unstable();
    let mut merged: Vec<(u16, u16)> = Vec::new();
    for (a, b) in ranges {
        match merged.last_mut() {
            Some(last) if u32::from(a) <= u32::from(last.1) + 1 => last.1 = last.1.max(b),
            _ => merged.push((a, b)),
        }
    }
    // Port 0 is never a destination: `1-65535` and `*` block the same.
    if merged.first() == Some(&(0, 65_535)) || merged.first() == Some(&(1, 65_535)) {
        return Some(vec![(0, 65_535)]);
    }
    Some(merged)
}

/// Which account a policy runs as: `None` for danger-full-access (no
/// sandbox, as on Linux); `offline` when the network is none or
/// proxy-enforced; `online` for the full network.
pub fn select_identity(mode: SandboxMode, network: NetworkMode) -> Option<Identity> {
    if mode == SandboxMode::DangerFullAccess {
        return None;
    }
    Some(match network {
        NetworkMode::None | NetworkMode::Proxy => Identity::Offline,
        NetworkMode::Full => Identity::Online,
    })
}

/// How a run is launched, and why when it differs from what was asked.
/// `accounts_set_up`: setup has run (a marker exists), so the accounts'
/// passwords are stored, sealed for the caller.
pub fn select_launch(
    identity: Option<Identity>,
    network: NetworkMode,
    requested: WindowsSandbox,
    accounts_set_up: bool,
) -> (Launch, String) {
    match (identity, requested) {
        (None, _) => (
            Launch::Unsandboxed,
            "danger-full-access: no sandbox".into(),
        ),
        (Some(_), WindowsSandbox::Elevated) => (
            Launch::LogonUser,
            "[windows] sandbox = \"elevated\": run as the sandbox account".into(),
        ),
        (Some(Identity::Online), WindowsSandbox::Unelevated) if accounts_set_up => (
            Launch::LogonUser,
            "the sandbox accounts are set up and their passwords are sealed for you, so a restricted copy of your token could read them and log on as either: running as the online account although [windows] sandbox = \"unelevated\"".into(),
        ),
        (Some(Identity::Online), WindowsSandbox::Unelevated) => (
            Launch::RestrictedToken,
            "[windows] sandbox = \"unelevated\" and the full network: a restricted token with a per-run restricting SID".into(),
        ),
        (Some(Identity::Offline), WindowsSandbox::Unelevated) => (
            Launch::LogonUser,
            format!(
                "network {network} needs the offline account's firewall rules, which a restricted token cannot be held to; running as the offline account although [windows] sandbox = \"unelevated\""
            ),
        ),
    }
}

/// An ACL entry the executor adds before the run.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct AclEntry {
    /// The file or directory (inherited by everything below).
    pub path: PathBuf,
    /// `read-execute`, `modify` or `deny-write`.
    pub access: AclAccess,
}

/// The access an [`AclEntry`] grants or denies.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
#[serde(rename_all = "kebab-case")]
pub enum AclAccess {
    /// Allow read and execute.
    ReadExecute,
    /// Allow read, write, execute and delete.
    Modify,
    /// Deny writing, appending, deleting and changing attributes or the ACL.
    DenyWrite,
    /// Deny deleting (so renaming) this directory itself; not inherited,
    /// its contents stay writable.
    DenyDelete,
}

/// Who the ACL entries name.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
#[serde(tag = "kind", rename_all = "kebab-case")]
pub enum Trustee {
    /// A sandbox account (for its normal access check; kept between runs)
    /// and a restricting SID generated for this run (`S-1-5-21-…` form; for the write-restricted
    /// check; revoked after the run). A write needs both.
    AccountAndRunSid {
        /// The account's user name.
        name: String,
    },
    /// A restricting SID generated for this run (`S-1-5-21-…` form).
    RunSid,
    /// Nobody (unsandboxed).
    None,
}

/// Options that are not part of the policy.
#[derive(Debug, Clone, Default)]
pub struct WindowsOptions {
    /// `[windows] sandbox`.
    pub sandbox: WindowsSandbox,
    /// `[network] allow_local_binding`.
    pub allow_local_binding: bool,
    /// Port cordon's proxy listens on with `--network proxy`.
    pub proxy_port: u16,
    /// The per-run token the proxy requires (it listens on the host's
    /// loopback, where any local process could reach it); carried in the
    /// proxy URLs as `cordon:TOKEN@`.
    pub proxy_token: String,
    /// Path of the cordon executable (for `GIT_SSH_COMMAND`).
    pub cordon_exe: String,
    /// The environment the command inherits, before the plan's additions.
    pub inherited_env: Vec<(String, String)>,
    /// The marker of the last setup, if any.
    pub marker: Option<SetupMarker>,
    /// Where per-account `TEMP` directories go
    /// (`$CORDON_HOME/windows-sandbox/tmp`); `None`: `TEMP` is left alone.
    pub temp_root: Option<PathBuf>,
    /// Record denials (not available on Windows; refused by the planner).
    pub log_denials: bool,
}

/// The complete plan for one Windows run.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct WindowsPlan {
    /// The sandbox mode.
    pub mode: SandboxMode,
    /// The network mode.
    pub network: NetworkMode,
    /// Working directory of the command.
    pub cwd: PathBuf,
    /// The account the command runs as (`None`: unsandboxed).
    pub identity: Option<Identity>,
    /// How it is started.
    pub launch: Launch,
    /// Why that launch.
    pub launch_reason: String,
    /// Loopback TCP ports the command may reach (cordon's proxy).
    pub proxy_ports: Vec<u16>,
    /// `[network] allow_local_binding`.
    pub allow_local_binding: bool,
    /// The firewall rules the command's identity is under, in install
    /// order (non-loopback traffic only; see [`firewall_rules`]).
    pub firewall_rules: Vec<FirewallRule>,
    /// The WFP filters that hold loopback traffic, in install order
    /// (blocks before the permit); empty with `allow_local_binding`.
    pub wfp_filters: Vec<WfpFilter>,
    /// The restricting SIDs of the command's write-restricted token:
    /// `RUN-SID` stands for the per-run `S-1-5-21-...` SID and `LOGON-SID`
    /// for the token's logon SID (never Everyone).
    pub restricting_sids: Vec<String>,
    /// The job's UI restrictions (`JOB_OBJECT_UILIMIT_*`); the command
    /// also runs on a private desktop.
    pub job_ui_limits: Vec<String>,
    /// The console flags of each sandboxed start ([`console_flags`]:
    /// `runner`, `runner-command`, `restricted-token-command`); a console
    /// as cordon's standard input reaches none of them (the `NUL` device
    /// instead, [`sandboxed_stdin`]).
    pub console_starts: Vec<ConsoleStart>,
    /// The command's writable `TEMP` and `TMP` (a per-account directory,
    /// granted like a writable root).
    pub temp_dir: Option<PathBuf>,
    /// Who the ACL entries name.
    pub trustee: Trustee,
    /// With [`Launch::LogonUser`]: the command line started as the sandbox
    /// account (cordon's runner), with `RUN-SID` standing for the
    /// SID the executor generates per run. The command's own line reaches
    /// the runner in [`RUNNER_COMMAND_LINE_VAR`], not on this line (which
    /// `CreateProcessWithLogonW` limits to 1024 characters).
    pub runner_command_line: Option<String>,
    /// Directories the command may write (ACL grants).
    pub writable_roots: Vec<AclEntry>,
    /// Directories the command may read in addition to what the account
    /// can read anyway (the working directory).
    pub readable_roots: Vec<AclEntry>,
    /// Paths inside writable roots that stay read-only (ACL denies).
    pub protected_paths: Vec<AclEntry>,
    /// Each root holding a protected path, and every directory between it
    /// and that path: they cannot be renamed or removed (which would carry
    /// the protected path off), though their contents stay writable.
    pub fixed_directories: Vec<AclEntry>,
    /// With [`Launch::LogonUser`]: cordon's executable, which the account
    /// must read to start the runner; granted when cordon may change its
    /// ACL, and otherwise left as it is (readable to Users when installed
    /// for all users).
    pub runner_exe: Option<PathBuf>,
    /// Empty directories created before the run so a missing `.git` or
    /// `.cordon` at a root's top can carry a deny entry.
    pub placeholders: Vec<PathBuf>,
    /// What setup must have programmed for this run.
    pub setup_marker: SetupMarker,
    /// Whether setup must run first.
    pub setup: SetupDecision,
    /// The command line passed to `CreateProcess*` (quoted per the
    /// Microsoft C runtime rules).
    pub command_line: String,
    /// The command's arguments.
    #[serde(serialize_with = "serialize_os_strings")]
    pub argv: Vec<OsString>,
    /// Variables added to the command's environment.
    pub env: Vec<(String, String)>,
}

/// Plans a Windows run of `argv` under `policy`.
///
/// Fails when proxy enforcement finds no usable loopback proxy port in the
/// command's environment, when the command line cannot be represented, or
/// when `--log-denials` is asked for (Windows has no denial log yet).
pub fn plan_windows(
    policy: &SandboxPolicy,
    argv: &[OsString],
    options: &WindowsOptions,
) -> Result<WindowsPlan, SandboxError> {
    if argv.is_empty() {
        return Err(SandboxError::NoCommand);
    }
    if options.log_denials && policy.mode != SandboxMode::DangerFullAccess {
        return Err(SandboxError::Unsupported(
            "--log-denials is not available on Windows: Windows Firewall and ACL denials are not collected; run without it".into(),
        ));
    }
    let identity = select_identity(policy.mode, policy.network);
    let (launch, launch_reason) = select_launch(
        identity,
        policy.network,
        options.sandbox,
        options.marker.is_some(),
    );
    let mut env = base_env(
        policy,
        options.proxy_port,
        &options.proxy_token,
        &options.cordon_exe,
    );
    let enforced = policy.network == NetworkMode::Proxy && identity.is_some();
    let proxy_ports = if enforced {
        let mut full: Vec<(String, String)> = options
            .inherited_env
            .iter()
            .filter(|(k, _)| !env.iter().any(|(n, _)| n.eq_ignore_ascii_case(k)))
            .cloned()
            .collect();
        full.extend(env.iter().cloned());
        let ports = proxy_ports_from_env(&full);
        if ports.is_empty() {
            return Err(SandboxError::Layer {
                layer: "windows-firewall".into(),
                why: format!(
                    "--network proxy needs a loopback proxy port in {} and none is usable (loopback host, port 1-65535)",
                    PROXY_VARIABLES.join(", ")
                ),
                fix: "set HTTP_PROXY to cordon's proxy on 127.0.0.1:PORT, or run with --network none".into(),
            });
        }
        ports
    } else {
        Vec::new()
    };
    // Network none keeps whatever ports setup programmed (see Limitations).
    let marker_ports = if enforced {
        proxy_ports.clone()
    } else {
        options
            .marker
            .as_ref()
            .map(|m| m.proxy_ports.clone())
            .unwrap_or_default()
    };
    let setup_marker = SetupMarker {
        version: MARKER_VERSION,
        proxy_ports: marker_ports,
        allow_local_binding: options.allow_local_binding,
        for_user: None,
        password_scope: None,
    };
    let setup = if launch == Launch::LogonUser {
        setup_decision(options.marker.as_ref(), &setup_marker)
    } else {
        SetupDecision::NotNeeded
    };
    let (firewall_rules, wfp_filters) = if identity == Some(Identity::Offline) {
        (
            firewall_rules(),
            wfp_filters(
                Identity::Offline.account(),
                &setup_marker.proxy_ports,
                options.allow_local_binding,
            ),
        )
    } else {
        (Vec::new(), Vec::new())
    };
    let trustee = match (launch, identity) {
        (Launch::LogonUser, Some(id)) => Trustee::AccountAndRunSid {
            name: id.account().into(),
        },
        (Launch::RestrictedToken, _) => Trustee::RunSid,
        _ => Trustee::None,
    };
    let sandboxed = identity.is_some();
    let entries = |paths: Vec<PathBuf>, access| -> Vec<AclEntry> {
        paths
            .into_iter()
            .map(|path| AclEntry { path, access })
            .collect()
    };
    let temp_dir = match (&options.temp_root, identity) {
        (Some(root), Some(id)) => Some(root.join(match launch {
            Launch::LogonUser => id.account(),
            _ => "restricted-token",
        })),
        _ => None,
    };
    if let Some(dir) = &temp_dir {
        let dir = dir.to_string_lossy().into_owned();
        env.push(("TEMP".into(), dir.clone()));
        env.push(("TMP".into(), dir));
    }
    let writable_roots = if sandboxed {
        entries(
            policy
                .writable_roots
                .iter()
                .map(|r| r.root.clone())
                .chain(temp_dir.clone())
                .collect(),
            AclAccess::Modify,
        )
    } else {
        Vec::new()
    };
    // The account needs to read the working directory, usually in the
    // caller's profile.
    let readable_roots = if launch == Launch::LogonUser {
        entries(vec![policy.cwd.clone()], AclAccess::ReadExecute)
    } else {
        Vec::new()
    };
    let runner_exe = (launch == Launch::LogonUser).then(|| PathBuf::from(&options.cordon_exe));
    let protected_paths = if sandboxed {
        entries(all_carve_outs(policy), AclAccess::DenyWrite)
    } else {
        Vec::new()
    };
    let fixed_directories = if sandboxed {
        let mut dirs: Vec<PathBuf> = policy
            .writable_roots
            .iter()
            .flat_map(|r| fixed_directories(&r.root, &carve_outs(policy, &r.root)))
            .collect();
        dirs.sort();
        dirs.dedup();
        entries(dirs, AclAccess::DenyDelete)
    } else {
        Vec::new()
    };
    let placeholders = if sandboxed {
        policy
            .writable_roots
            .iter()
            .flat_map(|r| &r.protected)
            .filter(|p| p.kind == ProtectedKind::Missing)
            .map(|p| p.path.clone())
            .collect()
    } else {
        Vec::new()
    };
    let command_line = command_line(argv)?;
    let runner_command_line = if launch == Launch::LogonUser {
        Some(runner_command_line(
            &options.cordon_exe,
            RUN_SID_PLACEHOLDER,
        )?)
    } else {
        None
    };
    Ok(WindowsPlan {
        mode: policy.mode,
        network: policy.network,
        cwd: policy.cwd.clone(),
        identity,
        launch,
        launch_reason,
        proxy_ports,
        allow_local_binding: options.allow_local_binding,
        firewall_rules,
        wfp_filters,
        restricting_sids: if sandboxed {
            vec![RUN_SID_PLACEHOLDER.into(), LOGON_SID_PLACEHOLDER.into()]
        } else {
            Vec::new()
        },
        console_starts: match launch {
            Launch::LogonUser => vec![SandboxedStart::Runner, SandboxedStart::RunnerCommand],
            Launch::RestrictedToken => vec![SandboxedStart::RestrictedTokenCommand],
            Launch::Unsandboxed => Vec::new(),
        }
        .into_iter()
        .map(|start| ConsoleStart {
            start,
            flags: console_flags(start)
                .iter()
                .map(|f| (*f).to_string())
                .collect(),
        })
        .collect(),
        job_ui_limits: if sandboxed {
            JOB_UI_LIMITS.iter().map(|s| (*s).to_string()).collect()
        } else {
            Vec::new()
        },
        temp_dir,
        trustee,
        runner_command_line,
        writable_roots,
        readable_roots,
        protected_paths,
        fixed_directories,
        runner_exe,
        placeholders,
        setup_marker,
        setup,
        command_line,
        argv: argv.to_vec(),
        env,
    })
}

/// Stands for the per-run restricting SID (`S-1-5-21-…` form) in a printed
/// plan: on the runner's command line and among the restricting SIDs.
pub const RUN_SID_PLACEHOLDER: &str = "RUN-SID";
/// Stands for the token's logon SID in a printed plan.
pub const LOGON_SID_PLACEHOLDER: &str = "LOGON-SID";

/// The job object's UI restrictions for every sandboxed run: no handles
/// to windows of processes outside the job, no clipboard, no system
/// parameters or display settings, its own atom table, no desktop
/// creation or switching, no logoff or shutdown.
pub const JOB_UI_LIMITS: [&str; 8] = [
    "JOB_OBJECT_UILIMIT_HANDLES",
    "JOB_OBJECT_UILIMIT_READCLIPBOARD",
    "JOB_OBJECT_UILIMIT_WRITECLIPBOARD",
    "JOB_OBJECT_UILIMIT_SYSTEMPARAMETERS",
    "JOB_OBJECT_UILIMIT_DISPLAYSETTINGS",
    "JOB_OBJECT_UILIMIT_GLOBALATOMS",
    "JOB_OBJECT_UILIMIT_DESKTOP",
    "JOB_OBJECT_UILIMIT_EXITWINDOWS",
];

/// The hidden `cordon sandbox` subcommand that is the runner.
pub const RUNNER_SUBCOMMAND: &str = "windows-runner";

/// The variable that carries the command's own command line to the
/// runner, which removes it before starting the command.
pub const RUNNER_COMMAND_LINE_VAR: &str = "CORDON_RUNNER_COMMAND_LINE";

/// `CreateProcessWithLogonW` takes at most this many characters of
/// command line.
pub const LOGON_COMMAND_LINE_MAX: usize = 1024;

/// The command line that starts cordon's runner as the sandbox account:
/// `cordon.exe sandbox windows-runner --run-sid SID`. Refused when
/// it exceeds what `CreateProcessWithLogonW` accepts.
pub fn runner_command_line(cordon_exe: &str, run_sid: &str) -> Result<String, SandboxError> {
    let line = self::command_line(&[
        OsString::from(cordon_exe),
        "sandbox".into(),
        RUNNER_SUBCOMMAND.into(),
        "--run-sid".into(),
        run_sid.into(),
    ])?;
    // Measured with the longest SID a run can get, so a plan that passes
    // here never fails at run time; the limit counts the final NUL.
    let longest = line.replace(run_sid, host::LONGEST_RUN_SID);
    if longest.encode_utf16().count() >= LOGON_COMMAND_LINE_MAX {
        return Err(SandboxError::Unsupported(format!(
            "cordon's path makes the runner's command line longer than the {LOGON_COMMAND_LINE_MAX} characters Windows accepts for a command started as another user; install cordon under a shorter path"
        )));
    }
    Ok(line)
}

/// Joins `argv` into one command line that `CommandLineToArgvW` and the
/// Microsoft C runtime split back into the same arguments: an argument
/// with a space, tab or quote (or an empty one) is quoted; backslashes
/// before a quote are doubled.
pub fn command_line(argv: &[OsString]) -> Result<String, SandboxError> {
    let mut out = String::new();
    for (i, arg) in argv.iter().enumerate() {
        let arg = arg.to_str().ok_or_else(|| {
            SandboxError::Unsupported(format!(
                "argument {i} is not valid Unicode and cannot be passed to a Windows command line"
            ))
        })?;
        if arg.contains('\0') {
            return Err(SandboxError::Nul);
        }
        if i > 0 {
            out.push(' ');
        }
        let needs_quotes = arg.is_empty() || arg.contains([' ', '\t', '\n', '\x0b', '"']);
        if !needs_quotes {
            out.push_str(arg);
            continue;
        }
        out.push('"');
        let mut backslashes = 0usize;
        for c in arg.chars() {
            match c {
                '\\' => backslashes += 1,
                '"' => {
                    out.extend(std::iter::repeat_n('\\', backslashes * 2 + 1));
                    out.push('"');
                    backslashes = 0;
                }
                _ => {
                    out.extend(std::iter::repeat_n('\\', backslashes));
                    out.push(c);
                    backslashes = 0;
                }
            }
        }
        out.extend(std::iter::repeat_n('\\', backslashes * 2));
        out.push('"');
    }
    Ok(out)
}

/// The environment block for `CreateProcess*`: `inherited` with `added`
/// replacing variables of the same name (compared without case, as
/// Windows does), sorted without case, as UTF-16 `NAME=VALUE\0...\0\0`.
/// Names whose only `=` is the leading one (`=C:`, which `cmd.exe` sets
/// for each drive's directory) pass through; any other `=` or a NUL is
/// refused.
pub fn environment_block(
    inherited: &[(OsString, OsString)],
    added: &[(String, String)],
) -> Result<Vec<u16>, SandboxError> {
    let mut vars: Vec<(String, String)> = Vec::new();
    for (k, v) in inherited {
        let (Some(k), Some(v)) = (k.to_str(), v.to_str()) else {
            continue;
        };
        if !added.iter().any(|(a, _)| a.eq_ignore_ascii_case(k)) {
            vars.push((k.to_string(), v.to_string()));
        }
    }
    vars.extend(added.iter().cloned());
    vars.sort_by_key(|(k, _)| k.to_ascii_uppercase());
    let mut block = Vec::new();
    for (k, v) in vars {
        // `cmd.exe` keeps each drive's directory in a hidden `=C:`
        // variable: a name may start with `=`, and holds no other.
        let body = k.strip_prefix('=').unwrap_or(&k);
        if body.is_empty() || body.contains(['=', '\0']) || v.contains('\0') {
            return Err(SandboxError::Nul);
        }
        block.extend(format!("{k}={v}").encode_utf16());
        block.push(0);
    }
    if block.is_empty() {
        block.push(0);
    }
    block.push(0);
    Ok(block)
}

#[cfg(test)]
#[path = "windows_tests.rs"]
mod tests;
