//! Interface addresses through getifaddrs(3) (Linux, macOS).

use super::OwnAddressesError;
use std::net::IpAddr;

/// Every IPv4 and IPv6 address on any interface.
pub(super) fn list() -> Result<Vec<IpAddr>, OwnAddressesError> {
    let mut out = Vec::new();
    let mut ifap: *mut libc::ifaddrs = std::ptr::null_mut();
    // SAFETY: getifaddrs fills a list that is only read here and freed below.
    unsafe {
        if libc::getifaddrs(&mut ifap) != 0 {
            return Err(OwnAddressesError {
                call: "getifaddrs",
                source: std::io::Error::last_os_error(),
            });
        }
        let mut cur = ifap;
        while !cur.is_null() {
            let addr = (*cur).ifa_addr;
            if !addr.is_null() {
                match i32::from((*addr).sa_family) {
                    libc::AF_INET => {
                        let sin = &*(addr as *const libc::sockaddr_in);
                        out.push(IpAddr::from(
                            u32::from_be(sin.sin_addr.s_addr).to_be_bytes(),
                        ));
                    }
                    libc::AF_INET6 => {
                        let sin6 = &*(addr as *const libc::sockaddr_in6);
                        out.push(IpAddr::from(sin6.sin6_addr.s6_addr));
                    }
                    _ => {}
                }
            }
            cur = (*cur).ifa_next;
        }
        libc::freeifaddrs(ifap);
    }
    Ok(out)
}
