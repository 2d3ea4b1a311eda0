//! This machine's own addresses, which the proxy refuses like non-public
//! ones: a connection to one of them reaches the host's own services.

use std::net::IpAddr;

// Listing interface addresses is OS-specific: getifaddrs(3) on Unix,
// GetAdaptersAddresses on Windows.
#[cfg(unix)]
mod unix;
#[cfg(unix)]
use unix::list;
#[cfg(windows)]
mod windows;
#[cfg(windows)]
use windows::list;

/// The machine's addresses could not be listed. Callers should not run the
/// proxy without them: it would let a sandboxed command reach this host's
/// services through one of its public addresses.
#[derive(Debug, thiserror::Error)]
#[error("cannot list this machine's addresses: {call} failed")]
pub struct OwnAddressesError {
    /// The OS call that failed.
    pub call: &'static str,
    /// What it reported.
    #[source]
    pub source: std::io::Error,
}

/// This machine's addresses (every interface, up or down, IPv4 and IPv6),
/// so the proxy treats them as local.
pub fn own_addresses() -> Result<Vec<IpAddr>, OwnAddressesError> {
    list()
}

#[cfg(test)]
#[path = "addresses_tests.rs"]
mod tests;
