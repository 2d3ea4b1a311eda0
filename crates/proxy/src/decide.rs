//! The decision for one destination: rules on the name, then resolution,
//! then the address checks, returning the one address to connect to.

use crate::ProxyConfig;
use cordon_policy::network::{canonical_ip, is_non_public, normalize_host, RuleVerdict};
use serde::Serialize;
use std::net::{IpAddr, SocketAddr};

/// Why a request was refused (the `x-cordon-deny` header and audit reason).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Reason {
    /// No allow rule matched.
    NotAllowed,
    /// A deny rule matched.
    Denied,
    /// Every resolved address is non-public and not explicitly allowed.
    NonPublicAddress,
    /// The name did not resolve.
    ResolveFailed,
    /// The TLS ClientHello named another host.
    SniMismatch,
    /// The request could not be parsed.
    BadRequest,
    /// The request head exceeded the size cap.
    TooLarge,
    /// The method is not allowed.
    Method,
    /// The client was too slow.
    Timeout,
    /// Missing or wrong proxy credentials.
    Auth,
    /// The upstream connection failed.
    ConnectFailed,
    /// Closed before authenticating, to make room: too many connections
    /// were waiting to authenticate (from its peer address, or in total).
    PendingCap,
}

impl Reason {
    /// The wire spelling.
    pub fn as_str(self) -> &'static str {
        match self {
            Reason::NotAllowed => "not-allowed",
            Reason::Denied => "denied",
            Reason::NonPublicAddress => "non-public-address",
            Reason::ResolveFailed => "resolve-failed",
            Reason::SniMismatch => "sni-mismatch",
            Reason::BadRequest => "bad-request",
            Reason::TooLarge => "too-large",
            Reason::Method => "method",
            Reason::Timeout => "timeout",
            Reason::Auth => "auth",
            Reason::ConnectFailed => "connect-failed",
            Reason::PendingCap => "pending-cap",
        }
    }
}

/// A denial kept for the end-of-run summary.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct Denial {
    /// Host as requested.
    pub host: String,
    /// Port.
    pub port: u16,
    /// Reason spelling.
    pub reason: String,
}

/// An allowed destination.
pub(crate) struct Decided {
    pub addr: SocketAddr,
}

/// A refused destination, with what a user needs to allow it.
pub(crate) struct Refusal {
    pub reason: Reason,
    pub rule: Option<String>,
    pub refused: Vec<IpAddr>,
}

impl Refusal {
    fn new(reason: Reason) -> Self {
        Refusal {
            reason,
            rule: None,
            refused: Vec::new(),
        }
    }

    /// The body of a 403: what was refused, why, and the config that would allow it.
    pub fn explain(&self, host: &str, port: u16) -> String {
        let mut out = format!(
            "cordon proxy refused {host}:{port}: {}\n",
            self.reason.as_str()
        );
        match self.reason {
            Reason::NotAllowed => out.push_str(&format!(
                "no rule allows it. To allow it, add to $CORDON_HOME/config.toml:\n  [network.domains]\n  \"{host}\" = \"allow\"\nor pass --allow-domain {host}\n"
            )),
            Reason::Denied => out.push_str(&format!(
                "the rule \"{}\" = \"deny\" in [network.domains] matched; deny wins over allow.\n",
                self.rule.as_deref().unwrap_or("?")
            )),
            Reason::NonPublicAddress => {
                let list: Vec<String> = self.refused.iter().map(IpAddr::to_string).collect();
                out.push_str(&format!(
                    "{host} resolved only to non-public address(es) {}. To allow exactly these, add to [network.domains]:\n",
                    list.join(", ")
                ));
                for ip in &list {
                    out.push_str(&format!("  \"{ip}\" = \"allow\"\n"));
                }
            }
            Reason::SniMismatch => out.push_str("the TLS ClientHello named a different host than the tunnel\n"),
            _ => {}
        }
        out
    }
}

/// Decides `host:port`. Resolution happens here and only here.
pub(crate) async fn decide(
    config: &ProxyConfig,
    host: &str,
    port: u16,
) -> Result<Decided, Refusal> {
    let name = normalize_host(host);
    if name.is_empty() || port == 0 {
        return Err(Refusal::new(Reason::BadRequest));
    }
    match config.rules.decide_host(&name, port) {
        RuleVerdict::Allowed => {}
        RuleVerdict::NotAllowed => return Err(Refusal::new(Reason::NotAllowed)),
        RuleVerdict::Denied(rule) => {
            return Err(Refusal {
                reason: Reason::Denied,
                rule: Some(rule),
                refused: Vec::new(),
            })
        }
    }
    let candidates: Vec<IpAddr> = match name.parse::<IpAddr>() {
        Ok(ip) => vec![ip],
        Err(_) => {
            let lookup = tokio::net::lookup_host((name.as_str(), port));
            match tokio::time::timeout(std::time::Duration::from_secs(10), lookup).await {
                Ok(Ok(addrs)) => addrs.map(|a| a.ip()).collect(),
                _ => return Err(Refusal::new(Reason::ResolveFailed)),
            }
        }
    };
    if candidates.is_empty() {
        return Err(Refusal::new(Reason::ResolveFailed));
    }
    let mut refused = Vec::new();
    for ip in candidates {
        let ip = canonical_ip(ip);
        if let Some(rule) = config.rules.denied_address(ip, port) {
            return Err(Refusal {
                reason: Reason::Denied,
                rule: Some(rule.to_string()),
                refused: vec![ip],
            });
        }
        let local_ok =
            config.allow_local_binding || config.rules.explicitly_allows_address(ip, port);
        let own = config.own_addresses.iter().any(|o| canonical_ip(*o) == ip);
        if (is_non_public(ip) || own) && !local_ok {
            refused.push(ip);
            continue;
        }
        return Ok(Decided {
            addr: SocketAddr::new(ip, port),
        });
    }
    Err(Refusal {
        reason: Reason::NonPublicAddress,
        rule: None,
        refused,
    })
}

#[cfg(test)]
#[path = "decide_tests.rs"]
mod tests;
