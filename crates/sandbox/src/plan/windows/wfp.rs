//! Loopback enforcement for the `offline` account through the Windows
//! Filtering Platform (WFP).
//!
//! Microsoft KB 2771908 says loopback addresses in a Windows Firewall
//! rule's remote addresses are "not recommended or supported" and that such
//! rules "have no effect on loopback communication". The firewall rules
//! therefore only block non-loopback traffic, and loopback is held here:
//! persistent filters in cordon's own provider and sublayer at
//! `FWPM_LAYER_ALE_AUTH_CONNECT_V4`/`_V6`, matched on the account
//! (`FWPM_CONDITION_ALE_USER_ID`, a security descriptor naming its SID) and
//! the loopback flag (`FWPM_CONDITION_FLAGS` with
//! `FWP_CONDITION_FLAG_IS_LOOPBACK`). That layer authorises TCP `connect`
//! and the first datagram to each remote address and port of any other
//! protocol, connected or not (Microsoft's "ALE Layers" and "UDP Packet
//! Flows"), so it covers unconnected UDP sends as well.
//!
//! Within the sublayer the filter of the highest weight that matches
//! decides: a permit for TCP to the proxy ports (weight
//! [`PERMIT_WEIGHT`]) above blocks for loopback UDP and TCP (weight
//! [`BLOCK_WEIGHT`]). Blocks clear the action right (a "hard" block no
//! lower sublayer can turn into a permit); the permit does not, so another
//! product's block still applies. Blocks are installed before the permit,
//! all in one transaction.

use super::Protocol;
use crate::SandboxError;
use serde::Serialize;

/// cordon's WFP provider (persistent; `setup` adds it, `uninstall` removes it).
pub const PROVIDER_KEY: &str = "7b1c2d3e-4f50-4a61-8b72-c0d0f0e10001";
/// cordon's WFP sublayer, owned by [`PROVIDER_KEY`].
pub const SUBLAYER_KEY: &str = "7b1c2d3e-4f50-4a61-8b72-c0d0f0e10002";
/// The sublayer's weight: the highest, so that no other sublayer is
/// evaluated before it (a hard permit can only override a block from a
/// higher-priority sublayer).
pub const SUBLAYER_WEIGHT: u16 = u16::MAX;
/// Weight (`FWP_UINT8`, 0-15) of the loopback blocks.
pub const BLOCK_WEIGHT: u8 = 4;
/// Weight of the permit for the proxy ports: above [`BLOCK_WEIGHT`].
pub const PERMIT_WEIGHT: u8 = 12;
// The permit must outweigh the blocks, within FWP_UINT8 weights (0-15).
const _: () = assert!(PERMIT_WEIGHT > BLOCK_WEIGHT && PERMIT_WEIGHT <= 15);

/// A WFP filtering layer cordon installs filters at.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
pub enum WfpLayer {
    /// `FWPM_LAYER_ALE_AUTH_CONNECT_V4`.
    #[serde(rename = "FWPM_LAYER_ALE_AUTH_CONNECT_V4")]
    AleAuthConnectV4,
    /// `FWPM_LAYER_ALE_AUTH_CONNECT_V6`.
    #[serde(rename = "FWPM_LAYER_ALE_AUTH_CONNECT_V6")]
    AleAuthConnectV6,
}

/// What a WFP filter does with matching traffic.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
#[serde(rename_all = "kebab-case")]
pub enum WfpAction {
    /// `FWP_ACTION_BLOCK`, with `FWPM_FILTER_FLAG_CLEAR_ACTION_RIGHT`.
    Block,
    /// `FWP_ACTION_PERMIT` (soft: other sublayers may still block).
    Permit,
}

/// The conditions of a filter, all of which must hold.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct WfpConditions {
    /// The local account the connecting process runs as
    /// (`FWPM_CONDITION_ALE_USER_ID`).
    pub account: String,
    /// Only loopback traffic (`FWP_CONDITION_FLAG_IS_LOOPBACK`).
    pub loopback: bool,
    /// The IP protocol (`FWPM_CONDITION_IP_PROTOCOL`).
    pub protocol: Protocol,
    /// Remote ports (`FWPM_CONDITION_IP_REMOTE_PORT`, any of them); empty:
    /// every port.
    pub remote_ports: Vec<u16>,
}

/// One persistent WFP filter in cordon's sublayer.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct WfpFilter {
    /// Display name.
    pub name: String,
    /// Its fixed filter key (GUID), by which it is verified and removed.
    pub key: String,
    /// The layer.
    pub layer: WfpLayer,
    /// Block or permit.
    pub action: WfpAction,
    /// Weight within the sublayer (`FWP_UINT8`, higher first).
    pub weight: u8,
    /// What it matches.
    pub conditions: WfpConditions,
}

/// Every filter key cordon may install, in the order of [`wfp_filters`]
/// for a run with proxy ports (uninstall removes all of them).
pub const ALL_FILTER_KEYS: [&str; 6] = [
    "7b1c2d3e-4f50-4a61-8b72-c0d0f0e10011",
    "7b1c2d3e-4f50-4a61-8b72-c0d0f0e10012",
    "7b1c2d3e-4f50-4a61-8b72-c0d0f0e10013",
    "7b1c2d3e-4f50-4a61-8b72-c0d0f0e10014",
    "7b1c2d3e-4f50-4a61-8b72-c0d0f0e10015",
    "7b1c2d3e-4f50-4a61-8b72-c0d0f0e10016",
];

/// The filters that hold `account` on loopback, in install order: blocks
/// for loopback UDP and TCP (IPv4, IPv6), then the permit for TCP to
/// `proxy_ports` (none when there are no ports). With
/// `allow_local_binding`, none at all.
pub fn wfp_filters(
    account: &str,
    proxy_ports: &[u16],
    allow_local_binding: bool,
) -> Vec<WfpFilter> {
    if allow_local_binding {
        return Vec::new();
    }
    let mut ports: Vec<u16> = proxy_ports.iter().copied().filter(|p| *p != 0).collect();
    ports.sort_unstable();
    ports.dedup();
    let layers = [
        (WfpLayer::AleAuthConnectV4, "ipv4"),
        (WfpLayer::AleAuthConnectV6, "ipv6"),
    ];
    let mut out = Vec::new();
    let mut keys = ALL_FILTER_KEYS.iter();
    let mut next_key = || keys.next().map_or_else(String::new, |k| (*k).to_string());
    for protocol in [Protocol::Udp, Protocol::Tcp] {
        for (layer, family) in layers {
            out.push(WfpFilter {
                name: format!(
                    "cordon-offline-block-loopback-{}-{family}",
                    protocol_name(protocol)
                ),
                key: next_key(),
                layer,
                action: WfpAction::Block,
                weight: BLOCK_WEIGHT,
                conditions: WfpConditions {
                    account: account.into(),
                    loopback: true,
                    protocol,
                    remote_ports: Vec::new(),
                },
            });
        }
    }
    if !ports.is_empty() {
        for (layer, family) in layers {
            out.push(WfpFilter {
                name: format!("cordon-offline-permit-loopback-tcp-proxy-{family}"),
                key: next_key(),
                layer,
                action: WfpAction::Permit,
                weight: PERMIT_WEIGHT,
                conditions: WfpConditions {
                    account: account.into(),
                    loopback: true,
                    protocol: Protocol::Tcp,
                    remote_ports: ports.clone(),
                },
            });
        }
    }
    out
}

fn protocol_name(protocol: Protocol) -> &'static str {
    match protocol {
        Protocol::Any => "any",
        Protocol::Tcp => "tcp",
        Protocol::Udp => "udp",
    }
}

/// The `FWPM_CONDITION_ALE_USER_ID` security descriptor: the account
/// `sid` is granted `FWP_ACTRL_MATCH_FILTER` (`CC`), nobody else.
pub fn user_condition_sddl(sid: &str) -> String {
    format!("D:(A;;CC;;;{sid})")
}

/// One connection attempt, as the filters see it (for [`wfp_verdict`]).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Connection<'a> {
    /// The layer it is authorised at.
    pub layer: WfpLayer,
    /// The account of the connecting process.
    pub account: &'a str,
    /// Whether it is loopback traffic.
    pub loopback: bool,
    /// TCP or UDP.
    pub protocol: Protocol,
    /// The remote port.
    pub remote_port: u16,
}

/// What cordon's sublayer decides for `connection`: the action of the
/// matching filter of the highest weight, `None` when none matches (the
/// sublayer does not decide). The model of WFP's in-sublayer arbitration
/// the plan is tested against.
pub fn wfp_verdict(filters: &[WfpFilter], connection: &Connection<'_>) -> Option<WfpAction> {
    let mut matching: Vec<&WfpFilter> = filters
        .iter()
        .filter(|f| {
            let c = &f.conditions;
            f.layer == connection.layer
                && c.account == connection.account
                && (!c.loopback || connection.loopback)
                && (c.protocol == Protocol::Any || c.protocol == connection.protocol)
                && (c.remote_ports.is_empty() || c.remote_ports.contains(&connection.remote_port))
        })
        .collect();
    matching.sort_by_key(|f| std::cmp::Reverse(f.weight));
    matching.first().map(|f| f.action)
}

/// One filter as read back from the filter engine before a run.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct ObservedWfpFilter {
    /// Its layer (`None`: another layer).
    pub layer: Option<WfpLayer>,
    /// It is in cordon's sublayer.
    pub in_sublayer: bool,
    /// It belongs to cordon's provider.
    pub from_provider: bool,
    /// Its action (`None`: neither block nor permit, e.g. a callout).
    pub action: Option<WfpAction>,
    /// It clears the action right (`FWPM_FILTER_FLAG_CLEAR_ACTION_RIGHT`).
    pub hard: bool,
    /// It is disabled (`FWPM_FILTER_FLAG_DISABLED`).
    pub disabled: bool,
    /// It is persistent.
    pub persistent: bool,
    /// Its weight, when it is an `FWP_UINT8`.
    pub weight: Option<u8>,
    /// The SDDL (DACL only) of each `FWPM_CONDITION_ALE_USER_ID`.
    pub user_sddls: Vec<String>,
    /// It has the loopback flag condition.
    pub loopback: bool,
    /// Each `FWPM_CONDITION_IP_PROTOCOL` value.
    pub protocols: Vec<u8>,
    /// Each `FWPM_CONDITION_IP_REMOTE_PORT` value (equality).
    pub remote_ports: Vec<u16>,
    /// Any other condition, described.
    pub other_conditions: Vec<String>,
}

/// cordon's WFP objects as read back before a run.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct ObservedWfp {
    /// The provider is present.
    pub provider: bool,
    /// The sublayer's weight, when it is present.
    pub sublayer_weight: Option<u16>,
    /// Each planned filter's key and what was found under it.
    pub filters: Vec<(String, Option<ObservedWfpFilter>)>,
}

/// Why the filter engine as observed does not hold the account (`sid`)
/// as `expected` says; empty when it does.
pub fn wfp_problems(expected: &[WfpFilter], sid: &str, observed: &ObservedWfp) -> Vec<String> {
    let mut problems = Vec::new();
    if expected.is_empty() {
        return problems;
    }
    if !observed.provider {
        problems.push(format!("WFP provider {PROVIDER_KEY} is missing"));
    }
    match observed.sublayer_weight {
        None => problems.push(format!("WFP sublayer {SUBLAYER_KEY} is missing")),
        Some(w) if w != SUBLAYER_WEIGHT => problems.push(format!(
            "WFP sublayer weight {w:#x} instead of {SUBLAYER_WEIGHT:#x}"
        )),
        Some(_) => {}
    }
    let sddl = user_condition_sddl(sid);
    for filter in expected {
        let found = observed
            .filters
            .iter()
            .find(|(key, _)| key.eq_ignore_ascii_case(&filter.key))
            .and_then(|(_, f)| f.as_ref());
        let Some(found) = found else {
            problems.push(format!("WFP filter {} is missing", filter.name));
            continue;
        };
        let mut wrong = Vec::new();
        if found.layer != Some(filter.layer) {
            wrong.push("another layer".to_string());
        }
        if !found.in_sublayer {
            wrong.push("not in cordon's sublayer".to_string());
        }
        if !found.from_provider {
            wrong.push("not cordon's provider".to_string());
        }
        if found.action != Some(filter.action) {
            wrong.push(format!(
                "action {:?} instead of {:?}",
                found.action, filter.action
            ));
        }
        if found.hard != (filter.action == WfpAction::Block) {
            wrong.push(format!("action right cleared: {}", found.hard));
        }
        if found.disabled {
            wrong.push("disabled".to_string());
        }
        if !found.persistent {
            wrong.push("not persistent".to_string());
        }
        if found.weight != Some(filter.weight) {
            wrong.push(format!(
                "weight {:?} instead of {}",
                found.weight, filter.weight
            ));
        }
        if found.user_sddls.len() != 1 || !found.user_sddls[0].trim().eq_ignore_ascii_case(&sddl) {
            wrong.push(format!(
                "it does not name exactly the offline account ({sid}) but {:?}",
                found.user_sddls
            ));
        }
        if found.loopback != filter.conditions.loopback {
            wrong.push(format!("loopback condition {}", found.loopback));
        }
        let protocol = u8::try_from(filter.conditions.protocol.number()).ok();
        let protocols_ok = match protocol {
            Some(p) => found.protocols == [p],
            None => found.protocols.is_empty(),
        };
        if !protocols_ok {
            wrong.push(format!("protocols {:?}", found.protocols));
        }
        let mut ports = found.remote_ports.clone();
        ports.sort_unstable();
        ports.dedup();
        if ports != filter.conditions.remote_ports {
            wrong.push(format!(
                "remote ports {:?} instead of {:?}",
                found.remote_ports, filter.conditions.remote_ports
            ));
        }
        if !found.other_conditions.is_empty() {
            wrong.push(format!("other conditions {:?}", found.other_conditions));
        }
        if !wrong.is_empty() {
            problems.push(format!("WFP filter {}: {}", filter.name, wrong.join(", ")));
        }
    }
    problems
}

/// Refuses a run whose WFP filters are not in force as planned.
pub fn require_wfp(
    expected: &[WfpFilter],
    sid: &str,
    observed: &ObservedWfp,
) -> Result<(), SandboxError> {
    let problems = wfp_problems(expected, sid, observed);
    if problems.is_empty() {
        return Ok(());
    }
    Err(SandboxError::Layer {
        layer: "windows-wfp".into(),
        why: format!(
            "the filter engine does not hold the offline account on loopback as planned: {}",
            problems.join("; ")
        ),
        fix: "run `cordon sandbox windows setup` from an elevated prompt".into(),
    })
}

#[cfg(test)]
#[path = "wfp_tests.rs"]
mod tests;
