//! Egress rules for the proxy: which hosts a sandboxed command may reach.
//!
//! Patterns: `example.com` (exact), `*.example.com` (subdomains only),
//! `**.example.com` (apex and subdomains), `*` (any host), IPv4/IPv6
//! literals and CIDR ranges, each with an optional `:PORT`
//! (`[v6]:PORT` for IPv6). Matching is case-insensitive and ignores a
//! trailing dot. Deny wins over allow; no matching allow rule means deny.
//!
//! Separately, [`is_non_public`] names the addresses the proxy refuses
//! after resolution unless a rule allows that address explicitly.

use serde::Serialize;
use std::fmt;
use std::net::{IpAddr, Ipv4Addr, Ipv6Addr};

/// What a rule does.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
#[serde(rename_all = "kebab-case")]
pub enum RuleAction {
    /// Let it through.
    Allow,
    /// Refuse it.
    Deny,
}

/// The host part of a pattern.
#[derive(Debug, Clone, PartialEq, Eq)]
enum Host {
    Any,
    Exact(String),
    Subdomains(String),
    ApexAndSubdomains(String),
    Net(IpAddr, u8),
}

/// One `[network.domains]` entry.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct DomainRule {
    text: String,
    host: Host,
    port: Option<u16>,
    /// Allow or deny.
    pub action: RuleAction,
}

impl fmt::Display for DomainRule {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.text)
    }
}

/// A bad pattern.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("bad host pattern `{pattern}`: {reason}")]
pub struct PatternError {
    /// The pattern as given.
    pub pattern: String,
    /// What is wrong.
    pub reason: String,
}

/// Lower-cases a host name and drops one trailing dot.
pub fn normalize_host(host: &str) -> String {
    let h = host.strip_suffix('.').unwrap_or(host);
    let h = h
        .strip_prefix('[')
        .and_then(|x| x.strip_suffix(']'))
        .unwrap_or(h);
    h.to_ascii_lowercase()
}

fn parse_net(text: &str) -> Option<(IpAddr, u8)> {
    let (addr, len) = match text.split_once('/') {
        Some((a, l)) => (a, Some(l)),
        None => (text, None),
    };
    let ip: IpAddr = addr.parse().ok()?;
    let max = if ip.is_ipv4() { 32 } else { 128 };
    let len = match len {
        Some(l) => l.parse::<u8>().ok().filter(|l| *l <= max)?,
        None => max,
    };
    // An IPv4-mapped range is an IPv4 range (addresses are compared in
    // their IPv4 form); a shorter prefix stays IPv6.
    if let IpAddr::V6(v6) = ip {
        if let (Some(v4), true) = (v6.to_ipv4_mapped(), len >= 96) {
            return Some((IpAddr::V4(v4), len - 96));
        }
    }
    Some((ip, len))
}

impl DomainRule {
    /// Parses a pattern with its action.
    pub fn parse(pattern: &str, action: RuleAction) -> Result<Self, PatternError> {
        let err = |reason: &str| PatternError {
            pattern: pattern.to_string(),
            reason: reason.to_string(),
        };
        let text = pattern.trim();
        if text.is_empty() {
            return Err(err("empty"));
        }
        // Split an optional :PORT. IPv6 needs brackets to carry a port.
        let (host_text, port) = if let Some(rest) = text.strip_prefix('[') {
            let (inside, after) = rest.split_once(']').ok_or_else(|| err("unclosed ["))?;
            match after.strip_prefix(':') {
                Some(p) => (inside.to_string(), Some(p)),
                None if after.is_empty() => (inside.to_string(), None),
                None => return Err(err("unexpected text after ]")),
            }
        } else if text.matches(':').count() == 1 {
            let (h, p) = text.split_once(':').ok_or_else(|| err("bad port"))?;
            (h.to_string(), Some(p))
        } else {
            (text.to_string(), None)
        };
        let port = match port {
            Some(p) => Some(
                p.parse::<u16>()
                    .ok()
                    .filter(|p| *p != 0)
                    .ok_or_else(|| err("port must be 1-65535"))?,
            ),
            None => None,
        };
        let h = normalize_host(&host_text);
        let host = if h == "*" {
            Host::Any
        } else if let Some((ip, len)) = parse_net(&h) {
            Host::Net(ip, len)
        } else if h.contains('/') {
            return Err(err("bad CIDR range"));
        } else if let Some(rest) = h.strip_prefix("**.") {
            Host::ApexAndSubdomains(valid_name(rest).ok_or_else(|| err("bad domain"))?)
        } else if let Some(rest) = h.strip_prefix("*.") {
            Host::Subdomains(valid_name(rest).ok_or_else(|| err("bad domain"))?)
        } else {
            Host::Exact(valid_name(&h).ok_or_else(|| err("bad domain"))?)
        };
        Ok(DomainRule {
            text: text.to_string(),
            host,
            port,
            action,
        })
    }

    fn port_matches(&self, port: u16) -> bool {
        self.port.is_none_or(|p| p == port)
    }

    /// Whether the rule matches a host name (or IP literal) and port.
    pub fn matches_host(&self, host: &str, port: u16) -> bool {
        if !self.port_matches(port) {
            return false;
        }
        let host = normalize_host(host);
        if let Ok(ip) = host.parse::<IpAddr>() {
            return self.matches_ip(ip, port);
        }
        match &self.host {
            Host::Any => true,
            Host::Exact(d) => host == *d,
            Host::Subdomains(d) => host.len() > d.len() + 1 && host.ends_with(&format!(".{d}")),
            Host::ApexAndSubdomains(d) => host == *d || host.ends_with(&format!(".{d}")),
            Host::Net(..) => false,
        }
    }

    /// Whether the rule matches an address (IP, CIDR and `*` rules).
    pub fn matches_ip(&self, ip: IpAddr, port: u16) -> bool {
        if !self.port_matches(port) {
            return false;
        }
        match &self.host {
            Host::Any => true,
            // `net` is already canonical: parse_net turned mapped ranges of
            // /96 or longer into IPv4 ones, and a shorter one stays IPv6.
            Host::Net(net, len) => in_net(canonical_ip(ip), *net, *len),
            _ => false,
        }
    }

    /// Whether the rule names addresses (an IP literal or CIDR range).
    pub fn is_address_rule(&self) -> bool {
        matches!(self.host, Host::Net(..))
    }
}

fn valid_name(name: &str) -> Option<String> {
    let ok = !name.is_empty()
        && name.len() <= 253
        && name.split('.').all(|l| {
            !l.is_empty()
                && l.len() <= 63
                && l.bytes()
                    .all(|b| b.is_ascii_alphanumeric() || b == b'-' || b == b'_')
        });
    ok.then(|| name.to_string())
}

/// An IPv4-mapped IPv6 address as IPv4; others unchanged.
pub fn canonical_ip(ip: IpAddr) -> IpAddr {
    match ip {
        IpAddr::V6(v6) => match v6.to_ipv4_mapped() {
            Some(v4) => IpAddr::V4(v4),
            None => ip,
        },
        v4 => v4,
    }
}

fn in_net(ip: IpAddr, net: IpAddr, len: u8) -> bool {
    match (ip, net) {
        (IpAddr::V4(a), IpAddr::V4(b)) => {
            let mask = if len == 0 {
                0
            } else {
                u32::MAX << (32 - u32::from(len))
            };
            u32::from(a) & mask == u32::from(b) & mask
        }
        (IpAddr::V6(a), IpAddr::V6(b)) => {
            let mask = if len == 0 {
                0
            } else {
                u128::MAX << (128 - u32::from(len))
            };
            u128::from(a) & mask == u128::from(b) & mask
        }
        _ => false,
    }
}

/// Why a host was refused by the rules.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum RuleVerdict {
    /// An allow rule matched and no deny rule did.
    Allowed,
    /// A deny rule matched (its text).
    Denied(String),
    /// No allow rule matched.
    NotAllowed,
}

/// The ordered set of domain rules.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct DomainRules {
    rules: Vec<DomainRule>,
}

impl DomainRules {
    /// Rules from `(pattern, action)` pairs.
    pub fn new(rules: Vec<DomainRule>) -> Self {
        DomainRules { rules }
    }

    /// Adds a rule.
    pub fn push(&mut self, rule: DomainRule) {
        self.rules.push(rule);
    }

    /// The rules, in order.
    pub fn rules(&self) -> &[DomainRule] {
        &self.rules
    }

    /// Decides for a host name or IP literal: deny wins; else any allow; else not allowed.
    pub fn decide_host(&self, host: &str, port: u16) -> RuleVerdict {
        let mut allowed = false;
        for rule in &self.rules {
            if rule.matches_host(host, port) {
                match rule.action {
                    RuleAction::Deny => return RuleVerdict::Denied(rule.text.clone()),
                    RuleAction::Allow => allowed = true,
                }
            }
        }
        if allowed {
            RuleVerdict::Allowed
        } else {
            RuleVerdict::NotAllowed
        }
    }

    /// A deny rule matching a resolved address, if any.
    pub fn denied_address(&self, ip: IpAddr, port: u16) -> Option<&DomainRule> {
        self.rules
            .iter()
            .find(|r| r.action == RuleAction::Deny && r.is_address_rule() && r.matches_ip(ip, port))
    }

    /// Whether an address or range rule (not `*`) explicitly allows `ip`,
    /// which lifts the non-public refusal for it.
    pub fn explicitly_allows_address(&self, ip: IpAddr, port: u16) -> bool {
        self.rules
            .iter()
            .any(|r| r.action == RuleAction::Allow && r.is_address_rule() && r.matches_ip(ip, port))
    }
}

/// Addresses that are not on the public internet: loopback, private
/// (RFC 1918), link-local (incl. 169.254.169.254), CGNAT 100.64/10, ULA
/// fc00::/7, multicast, unspecified, 0.0.0.0/8, broadcast, benchmarking
/// and documentation ranges, reserved 240/4, and the IPv4-mapped,
/// IPv4-compatible, NAT64 and 6to4 forms of these.
pub fn is_non_public(ip: IpAddr) -> bool {
    match ip {
        IpAddr::V4(v4) => v4_non_public(v4),
        IpAddr::V6(v6) => v6_non_public(v6),
    }
}

fn v4_non_public(ip: Ipv4Addr) -> bool {
    let o = ip.octets();
    ip.is_loopback()
        || ip.is_private()
        || ip.is_link_local()
        || ip.is_multicast()
        || ip.is_broadcast()
        || ip.is_documentation()
        || ip.is_unspecified()
        || o[0] == 0
        || (o[0] == 100 && (o[1] & 0xc0) == 64)
        || (o[0] == 198 && (o[1] & 0xfe) == 18)
        || (o[0] == 192 && o[1] == 0 && o[2] == 0)
        || (o[0] == 192 && o[1] == 88 && o[2] == 99) // 6to4 relay anycast
        || o[0] >= 240
}

fn v6_non_public(ip: Ipv6Addr) -> bool {
    let s = ip.segments();
    if let Some(v4) = ip.to_ipv4_mapped() {
        return v4_non_public(v4);
    }
    // IPv4-compatible ::a.b.c.d (deprecated) and NAT64 64:ff9b::/96, 64:ff9b:1::/48.
    if s[..6] == [0, 0, 0, 0, 0, 0] && !ip.is_unspecified() && !ip.is_loopback() {
        return v4_non_public(Ipv4Addr::new(
            (s[6] >> 8) as u8,
            s[6] as u8,
            (s[7] >> 8) as u8,
            s[7] as u8,
        ));
    }
    if s[0] == 0x64 && s[1] == 0xff9b && (s[2..6] == [0, 0, 0, 0] || s[2] == 1) {
        let v4 = Ipv4Addr::new((s[6] >> 8) as u8, s[6] as u8, (s[7] >> 8) as u8, s[7] as u8);
        return s[2] == 1 || v4_non_public(v4);
    }
    // 6to4 2002:a.b.c.d::/48 embeds an IPv4 address.
    if s[0] == 0x2002 {
        return v4_non_public(Ipv4Addr::new(
            (s[1] >> 8) as u8,
            s[1] as u8,
            (s[2] >> 8) as u8,
            s[2] as u8,
        ));
    }
    ip.is_loopback()
        || ip.is_unspecified()
        || ip.is_multicast()
        || (s[0] & 0xfe00) == 0xfc00 // ULA
        || (s[0] & 0xffc0) == 0xfe80 // link-local
        || (s[0] & 0xffc0) == 0xfec0 // site-local (deprecated)
        || (s[0] == 0x2001 && s[1] == 0x0db8) // documentation
        || (s[0] == 0x2001 && s[1] == 0x0000) // Teredo 2001::/32
        || (s[0] == 0x3fff && s[1] < 0x1000) // documentation 3fff::/20
        || (s[0] == 0x2001 && s[1] == 0x0002 && s[2] == 0) // benchmarking 2001:2::/48
        || (s[0] == 0x0100 && s[1..4] == [0, 0, 0]) // discard 100::/64
}

#[cfg(test)]
#[path = "network_tests.rs"]
mod tests;
