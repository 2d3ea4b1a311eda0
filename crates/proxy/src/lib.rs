//! cordon's egress proxy.
//!
//! One listening socket speaks HTTP (absolute-form forwarding and
//! `CONNECT` tunnels) and SOCKS5 (`CONNECT`, names resolved here), told
//! apart by the first byte. Every request is decided by [`DomainRules`];
//! names are resolved by the proxy, non-public addresses are refused unless
//! explicitly allowed, and the proxy connects to exactly the address it
//! checked, so DNS rebinding cannot slip through. TLS ClientHellos inside
//! tunnels must name the host that was allowed (no SNI fronting).
//!
//! Denials carry a reason a user can act on: HTTP 403 with
//! `x-cordon-deny: <reason>` and a body naming the config line that would
//! allow it; SOCKS reply 0x02. Every decision is written to the audit log.
//!
//! # Limitations
//! Plain-HTTP requests are forwarded one per connection (`Connection:
//! close` upstream). Through an upstream proxy, every connection is a
//! CONNECT to the address cordon checked.
//!
//! Linux relays tunnel bytes with `splice(2)`; macOS and Windows copy them
//! through a buffer (same byte counts, idle and half-close behaviour). On
//! Windows the audit log's owner is not checked (see [`AuditLog::open`]) and
//! the listen backlog is not raised (see [`Proxy::serve`]).

mod addresses;
mod audit;
mod decide;
pub mod http;
mod relay;
pub mod sni;
pub mod socks;

pub use addresses::{own_addresses, OwnAddressesError};
pub use audit::{AuditLog, AuditRecord};
pub use decide::{Denial, Reason};

use cordon_policy::network::DomainRules;
use std::sync::{Arc, Mutex};
use std::time::Duration;
use tokio::io::AsyncReadExt;
use tokio::net::{TcpListener, TcpStream};

/// How the proxy decides and what it records.
#[derive(Debug, Clone)]
pub struct ProxyConfig {
    /// Domain rules.
    pub rules: DomainRules,
    /// Allow non-public destinations (local services) without naming each.
    pub allow_local_binding: bool,
    /// Require this token (`Proxy-Authorization` basic password, or SOCKS5
    /// username/password) from clients; set whenever the proxy listens on
    /// a host address.
    pub token: Option<String>,
    /// Time allowed for a client to send its request head.
    pub header_timeout: Duration,
    /// Send every outbound connection through this HTTP proxy (CONNECT to
    /// the checked address), for hosts that must use one.
    pub upstream: Option<Upstream>,
    /// This machine's own addresses: refused like non-public ones (they
    /// reach the host's own services) unless a rule names them.
    pub own_addresses: Vec<std::net::IpAddr>,
}

/// A fresh per-run token (128 random bits as hex) for a proxy that listens
/// on a host address.
pub fn new_token() -> std::io::Result<String> {
    let mut bytes = [0u8; 16];
    getrandom::fill(&mut bytes).map_err(|e| std::io::Error::other(e.to_string()))?;
    Ok(bytes.iter().map(|b| format!("{b:02x}")).collect())
}

/// An upstream HTTP proxy.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Upstream {
    /// `host:port` of the upstream proxy.
    pub addr: String,
    /// `user:password` for Basic proxy authentication.
    pub credentials: Option<String>,
}

impl Upstream {
    /// Parses `http://[user:pass@]host:port[/]`.
    pub fn parse(url: &str) -> Option<Self> {
        let rest = url.strip_prefix("http://")?.trim_end_matches('/');
        let (credentials, addr) = match rest.rsplit_once('@') {
            Some((c, a)) => (Some(c.to_string()), a.to_string()),
            None => (None, rest.to_string()),
        };
        (!addr.is_empty() && addr.contains(':')).then_some(Upstream { addr, credentials })
    }
}

impl Default for ProxyConfig {
    fn default() -> Self {
        ProxyConfig {
            rules: DomainRules::default(),
            allow_local_binding: false,
            token: None,
            header_timeout: Duration::from_secs(10),
            upstream: None,
            own_addresses: Vec::new(),
        }
    }
}

/// A running proxy's shared state.
#[derive(Clone)]
pub struct Proxy {
    inner: Arc<Inner>,
}

struct Inner {
    config: ProxyConfig,
    audit: Option<AuditLog>,
    denials: Mutex<Vec<Denial>>,
}

impl Proxy {
    /// A proxy with `config`, writing decisions to `audit` if given.
    pub fn new(config: ProxyConfig, audit: Option<AuditLog>) -> Self {
        Proxy {
            inner: Arc::new(Inner {
                config,
                audit,
                denials: Mutex::new(Vec::new()),
            }),
        }
    }

    /// Accepts connections forever. On Unix the listen backlog is raised to
    /// 4096 so that bursts of new connections are not dropped; Windows
    /// ignores a second `listen` and keeps the backlog the listener has.
    pub async fn serve(&self, listener: TcpListener) -> std::io::Result<()> {
        // Listening again on a listening socket only resizes its backlog.
        let _ = socket2::SockRef::from(&listener).listen(4096);
        loop {
            let (stream, _) = match listener.accept().await {
                Ok(conn) => conn,
                // Out of descriptors and the like: back off, keep serving.
                Err(_) => {
                    tokio::time::sleep(Duration::from_millis(10)).await;
                    continue;
                }
            };
            let _ = stream.set_nodelay(true);
            let me = self.clone();
            tokio::spawn(async move { me.handle(stream).await });
        }
    }

    async fn handle(&self, mut stream: TcpStream) {
        let mut first = [0u8; 1];
        let peeked =
            tokio::time::timeout(self.inner.config.header_timeout, stream.peek(&mut first)).await;
        match peeked {
            Ok(Ok(1)) if first[0] == 0x05 => socks::handle(self, stream).await,
            Ok(Ok(1)) => http::handle(self, stream).await,
            Ok(_) => {}
            Err(_) => {
                // Slow client: nothing arrived in time.
                let mut sink = [0u8; 1];
                let _ =
                    tokio::time::timeout(Duration::from_millis(1), stream.read(&mut sink)).await;
                self.record(AuditRecord::refused("unknown", "", 0, Reason::Timeout));
            }
        }
    }

    fn config(&self) -> &ProxyConfig {
        &self.inner.config
    }

    fn record(&self, record: AuditRecord) {
        if record.decision == "deny" {
            if let Ok(mut d) = self.inner.denials.lock() {
                if d.len() < 10_000 {
                    d.push(Denial {
                        host: audit::clean_host(&record.host),
                        port: record.port,
                        reason: record.reason.clone(),
                    });
                }
            }
        }
        if let Some(audit) = &self.inner.audit {
            audit.write(&record);
        }
    }

    /// Every denial so far (for `--log-denials`).
    pub fn denials(&self) -> Vec<Denial> {
        self.inner
            .denials
            .lock()
            .map(|d| d.clone())
            .unwrap_or_default()
    }
}

/// One line per denied host:port with the reasons and a count.
pub fn denial_summary(denials: &[Denial]) -> String {
    use std::collections::BTreeMap;
    let mut by_host: BTreeMap<(String, u16), (Vec<String>, usize)> = BTreeMap::new();
    for d in denials {
        let e = by_host.entry((d.host.clone(), d.port)).or_default();
        if !e.0.contains(&d.reason) {
            e.0.push(d.reason.clone());
        }
        e.1 += 1;
    }
    let mut out = String::new();
    for ((host, port), (reasons, count)) in by_host {
        out.push_str(&format!(
            "  proxy       {host}:{port} ({}) x{count}\n",
            reasons.join(",")
        ));
    }
    out
}
