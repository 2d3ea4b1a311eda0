// getifaddrs(3) on Unix; the Windows listing is not checked here.
#![cfg(unix)]

use super::*;

/// IPv6 addresses as the kernel lists them in /proc/net/if_inet6 (Linux;
/// none where the file does not exist).
fn kernel_ipv6_addresses() -> Vec<IpAddr> {
    std::fs::read_to_string("/proc/net/if_inet6")
        .unwrap_or_default()
        .lines()
        .filter_map(|l| l.split_whitespace().next())
        .map(|hex| {
            let bits = u128::from_str_radix(hex, 16).unwrap();
            IpAddr::from(std::net::Ipv6Addr::from(bits))
        })
        .collect()
}

#[test]
fn own_addresses_include_loopback_and_every_kernel_ipv6_address() {
    let own = own_addresses().unwrap();
    assert!(
        own.contains(&"127.0.0.1".parse().unwrap()),
        "127.0.0.1 in network byte order: {own:?}"
    );
    for ip in kernel_ipv6_addresses() {
        assert!(own.contains(&ip), "{ip} missing from {own:?}");
    }
}
