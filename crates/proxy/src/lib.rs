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
//! allow it; SOCKS reply 0x02. Every decision is written to the audit log,
//! repeated identical denials coalesced into a count.
//!
//! Connections that have not authenticated yet are bounded: a short
//! deadline to present the token, and caps per peer address and in total
//! that close the oldest pending connection to make room (see
//! [`ProxyConfig::auth_timeout`], [`ProxyConfig::max_pending_per_peer`]).
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
mod pending;
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
    /// Time allowed for a client to send its request head (HTTP) or
    /// complete its handshake (SOCKS5), from when it was accepted.
    pub header_timeout: Duration,
    /// With a token: time allowed, from when a connection was accepted, to
    /// present it (the HTTP request head, or SOCKS5 authentication); the
    /// shorter of this and `header_timeout` applies. Without a token,
    /// `header_timeout` alone.
    pub auth_timeout: Duration,
    /// Connections not yet authenticated (without a token: not yet past
    /// their request) from one peer address; at the cap, that peer's oldest
    /// is closed to make room once it has waited `pending_grace`. At least 1.
    pub max_pending_per_peer: usize,
    /// How long a peer's pending connection may wait before a newer one
    /// from the same peer over its cap closes it: a burst of parallel
    /// connections from one client (on loopback all local clients are one
    /// peer) is let through, up to `max_pending`.
    pub pending_grace: Duration,
    /// Connections not yet authenticated in total; at the cap, the oldest
    /// is closed to make room. At least 1, and on Unix at most a quarter of
    /// the process's descriptor limit (`RLIMIT_NOFILE`), so that the rest
    /// stay for authenticated tunnels (two descriptors each). When
    /// `accept` runs out of descriptors all the same, the oldest pending
    /// connection is closed to make room.
    pub max_pending: usize,
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
            auth_timeout: Duration::from_secs(3),
            max_pending_per_peer: 64,
            pending_grace: Duration::from_secs(1),
            max_pending: 256,
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
    pending: Arc<pending::Pending>,
}

/// When a connection must have authenticated, and when it must have sent
/// its whole request head or handshake.
#[derive(Debug, Clone, Copy)]
pub(crate) struct Deadlines {
    pub auth: tokio::time::Instant,
    pub head: tokio::time::Instant,
}

impl Proxy {
    /// A proxy with `config`, writing decisions to `audit` if given.
    pub fn new(config: ProxyConfig, audit: Option<AuditLog>) -> Self {
        Proxy {
            inner: Arc::new(Inner {
                pending: pending::Pending::new(
                    config.max_pending_per_peer,
                    config.max_pending.min(descriptor_limit() / 4),
                    config.pending_grace,
                ),
                config,
                audit,
                denials: Mutex::new(Vec::new()),
            }),
        }
    }

    /// Accepts connections forever. On Unix the listen backlog is raised to
    /// 4096 so that bursts of new connections are not dropped; Windows
    /// ignores a second `listen` and keeps the backlog the listener has.
    /// Also writes the audit log's coalesced counts as they come due.
    pub async fn serve(&self, listener: TcpListener) -> std::io::Result<()> {
        // Listening again on a listening socket only resizes its backlog.
        let _ = socket2::SockRef::from(&listener).listen(4096);
        if let Some(audit) = self.inner.audit.clone() {
            tokio::spawn(async move { audit.write_summaries().await });
        }
        loop {
            let (stream, peer) = match listener.accept().await {
                Ok(conn) => conn,
                // Out of descriptors (or memory): close the oldest
                // unauthenticated connection to make room, else back off.
                Err(e) => {
                    if out_of_resources(&e) && self.inner.pending.evict_oldest_now() {
                        // Lets the evicted connection's task close it.
                        tokio::task::yield_now().await;
                    } else {
                        tokio::time::sleep(Duration::from_millis(10)).await;
                    }
                    continue;
                }
            };
            let _ = stream.set_nodelay(true);
            // Counted before anything is read; may close the oldest pending one.
            let (slot, evicted) = self.inner.pending.admit(peer.ip());
            let me = self.clone();
            tokio::spawn(async move {
                tokio::select! {
                    // Closed to make room (dropping `handle` closes the stream).
                    Ok(()) = evicted => {
                        me.record(AuditRecord::refused("unknown", "", 0, Reason::PendingCap));
                    }
                    () = me.handle(stream, slot) => {}
                }
            });
            // Let the connections just accepted read what they already
            // have (and so authenticate) before the next accept may need
            // room.
            tokio::task::yield_now().await;
        }
    }

    /// The deadlines of a connection accepted now.
    fn deadlines(&self) -> Deadlines {
        let now = tokio::time::Instant::now();
        let head = now + self.inner.config.header_timeout;
        let auth = match self.inner.config.token {
            Some(_) => head.min(now + self.inner.config.auth_timeout),
            None => head,
        };
        Deadlines { auth, head }
    }

    async fn handle(&self, mut stream: TcpStream, slot: pending::Slot) {
        let deadlines = self.deadlines();
        let mut first = [0u8; 1];
        let peeked = tokio::time::timeout_at(deadlines.auth, stream.peek(&mut first)).await;
        match peeked {
            Ok(Ok(1)) if first[0] == 0x05 => socks::handle(self, stream, slot, deadlines).await,
            Ok(Ok(1)) => http::handle(self, stream, slot, deadlines).await,
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

    /// Writes the audit log's pending counts of coalesced denials now: call
    /// it when a run ends, since a process that exits drops nothing.
    pub fn flush_audit(&self) {
        if let Some(audit) = &self.inner.audit {
            audit.flush_repeats();
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

/// This process's descriptor limit (`usize::MAX` if none is known).
fn descriptor_limit() -> usize {
    #[cfg(unix)]
    {
        let mut limit = libc::rlimit {
            rlim_cur: 0,
            rlim_max: 0,
        };
        // SAFETY: getrlimit writes into the struct we pass.
        if unsafe { libc::getrlimit(libc::RLIMIT_NOFILE, &mut limit) } == 0
            && limit.rlim_cur != libc::RLIM_INFINITY
        {
            return usize::try_from(limit.rlim_cur).unwrap_or(usize::MAX);
        }
    }
    usize::MAX
}

/// Whether `accept` failed for want of descriptors or buffers.
fn out_of_resources(e: &std::io::Error) -> bool {
    #[cfg(unix)]
    const CODES: [i32; 4] = [libc::EMFILE, libc::ENFILE, libc::ENOBUFS, libc::ENOMEM];
    // WSAEMFILE, WSAENOBUFS.
    #[cfg(windows)]
    const CODES: [i32; 2] = [10024, 10055];
    e.raw_os_error().is_some_and(|code| CODES.contains(&code))
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
