//! Interface addresses through `GetAdaptersAddresses` (IP Helper).

use super::OwnAddressesError;
use std::net::IpAddr;
use windows_sys::Win32::Foundation::{ERROR_BUFFER_OVERFLOW, ERROR_NO_DATA, NO_ERROR};
use windows_sys::Win32::NetworkManagement::IpHelper::{
    GetAdaptersAddresses, GAA_FLAG_SKIP_ANYCAST, GAA_FLAG_SKIP_DNS_SERVER,
    GAA_FLAG_SKIP_FRIENDLY_NAME, GAA_FLAG_SKIP_MULTICAST, IP_ADAPTER_ADDRESSES_LH,
};
use windows_sys::Win32::Networking::WinSock::{
    AF_INET, AF_INET6, AF_UNSPEC, SOCKADDR, SOCKADDR_IN, SOCKADDR_IN6,
};

/// Every unicast IPv4 and IPv6 address of every adapter (up or down).
pub(super) fn list() -> Result<Vec<IpAddr>, OwnAddressesError> {
    let flags = GAA_FLAG_SKIP_ANYCAST
        | GAA_FLAG_SKIP_MULTICAST
        | GAA_FLAG_SKIP_DNS_SERVER
        | GAA_FLAG_SKIP_FRIENDLY_NAME;
    // Microsoft suggests starting at 15 KB; the call says how much it needs
    // when that is too little. Adapters can appear in between: retry a few
    // times. u64 elements keep the buffer aligned for the structures.
    let mut len: u32 = 16 * 1024;
    for _ in 0..4 {
        let mut buf = vec![0u64; (len as usize).div_ceil(8)];
        let first = buf.as_mut_ptr().cast::<IP_ADAPTER_ADDRESSES_LH>();
        // SAFETY: `first` points at `len` writable, suitably aligned bytes,
        // which the call fills with a linked list inside that buffer.
        let rc = unsafe {
            GetAdaptersAddresses(
                u32::from(AF_UNSPEC),
                flags,
                std::ptr::null(),
                first,
                &mut len,
            )
        };
        match rc {
            NO_ERROR => {
                // SAFETY: on success the buffer holds a well-formed list,
                // alive as long as `buf`.
                return Ok(unsafe { collect(first) });
            }
            ERROR_NO_DATA => return Ok(Vec::new()),
            ERROR_BUFFER_OVERFLOW => continue,
            other => {
                return Err(OwnAddressesError {
                    call: "GetAdaptersAddresses",
                    source: std::io::Error::from_raw_os_error(other as i32),
                })
            }
        }
    }
    Err(OwnAddressesError {
        call: "GetAdaptersAddresses",
        source: std::io::Error::from_raw_os_error(ERROR_BUFFER_OVERFLOW as i32),
    })
}

/// The unicast addresses in the adapter list starting at `adapter`.
///
/// # Safety
/// `adapter` must be null or the head of a list filled by
/// `GetAdaptersAddresses`, still alive.
unsafe fn collect(mut adapter: *const IP_ADAPTER_ADDRESSES_LH) -> Vec<IpAddr> {
    let mut out = Vec::new();
    while !adapter.is_null() {
        // SAFETY: a non-null node of the list the caller vouches for.
        let a = unsafe { &*adapter };
        let mut unicast = a.FirstUnicastAddress;
        while !unicast.is_null() {
            // SAFETY: a non-null node of the same list.
            let u = unsafe { &*unicast };
            // SAFETY: the address points at a sockaddr of the stated length.
            if let Some(ip) = unsafe { ip_of(u.Address.lpSockaddr, u.Address.iSockaddrLength) } {
                out.push(ip);
            }
            unicast = u.Next;
        }
        adapter = a.Next;
    }
    out
}

/// The IP address in a socket address, if it is IPv4 or IPv6.
///
/// # Safety
/// `sa` must be null or point at `len` readable bytes of a socket address.
unsafe fn ip_of(sa: *const SOCKADDR, len: i32) -> Option<IpAddr> {
    if sa.is_null() {
        return None;
    }
    let len = usize::try_from(len).ok()?;
    // SAFETY: non-null, and every socket address starts with its family.
    let family = unsafe { (*sa).sa_family };
    if family == AF_INET && len >= size_of::<SOCKADDR_IN>() {
        // SAFETY: an AF_INET address of full length; read unaligned to be safe.
        let sin = unsafe { sa.cast::<SOCKADDR_IN>().read_unaligned() };
        // SAFETY: every variant of the union is the same four bytes.
        let raw = unsafe { sin.sin_addr.S_un.S_addr };
        // S_addr is in network order: its bytes in memory are the octets.
        Some(IpAddr::from(raw.to_ne_bytes()))
    } else if family == AF_INET6 && len >= size_of::<SOCKADDR_IN6>() {
        // SAFETY: an AF_INET6 address of full length.
        let sin6 = unsafe { sa.cast::<SOCKADDR_IN6>().read_unaligned() };
        // SAFETY: every variant of the union is the same sixteen bytes.
        let bytes = unsafe { sin6.sin6_addr.u.Byte };
        Some(IpAddr::from(bytes))
    } else {
        None
    }
}
