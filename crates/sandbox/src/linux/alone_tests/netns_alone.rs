//! The network namespace alone: a user namespace (needed to own it) and
//! the plan's network namespace with its loopback brought up as init does,
//! with no mount namespace, no Landlock and no seccomp. Its traffic goes
//! only to listeners this test runs on the host's loopback and on the
//! host's own address.

use super::{
    child_args, child_main, enter_namespaces, probe, record_skip, run_in_child, Fixture, Outcome,
};
use crate::plan::Namespace;
use std::net::{IpAddr, Ipv4Addr, Ipv6Addr, SocketAddr, TcpListener, TcpStream, UdpSocket};
use std::time::Duration;

const TCP_LOOPBACK: &str = "connect to a listener on the host's 127.0.0.1";
const TCP_HOST_ADDRESS: &str = "connect to a listener on the host's own address";
const UDP_HOST_ADDRESS: &str = "send a datagram to the host's own address";
const OWN_LOOPBACK: &str = "connect over the namespace's own loopback";

/// This host's first address that is up, not loopback and not link-local
/// (IPv4 preferred), read with `getifaddrs`.
fn own_address() -> Option<IpAddr> {
    let mut list: *mut libc::ifaddrs = std::ptr::null_mut();
    // SAFETY: getifaddrs fills `list`, freed below.
    if unsafe { libc::getifaddrs(&mut list) } != 0 {
        return None;
    }
    let mut found: Vec<IpAddr> = Vec::new();
    let mut cur = list;
    while !cur.is_null() {
        // SAFETY: a node of the list getifaddrs returned.
        let ifa = unsafe { &*cur };
        cur = ifa.ifa_next;
        let up = ifa.ifa_flags & libc::IFF_UP as u32 != 0;
        if ifa.ifa_addr.is_null() || !up || ifa.ifa_flags & libc::IFF_LOOPBACK as u32 != 0 {
            continue;
        }
        // SAFETY: ifa_addr points at a sockaddr of the family it names.
        let ip = unsafe {
            match i32::from((*ifa.ifa_addr).sa_family) {
                libc::AF_INET => {
                    let sin = &*(ifa.ifa_addr as *const libc::sockaddr_in);
                    IpAddr::V4(Ipv4Addr::from(u32::from_be(sin.sin_addr.s_addr)))
                }
                libc::AF_INET6 => {
                    let sin6 = &*(ifa.ifa_addr as *const libc::sockaddr_in6);
                    IpAddr::V6(Ipv6Addr::from(sin6.sin6_addr.s6_addr))
                }
                _ => continue,
            }
        };
        let link_local = match ip {
            IpAddr::V4(v4) => v4.is_link_local(),
            IpAddr::V6(v6) => v6.segments()[0] & 0xffc0 == 0xfe80,
        };
        if !link_local && !ip.is_loopback() && !ip.is_unspecified() {
            found.push(ip);
        }
    }
    // SAFETY: freeing the list getifaddrs returned.
    unsafe { libc::freeifaddrs(list) };
    found.sort_by_key(|ip| ip.is_ipv6());
    found.into_iter().next()
}

fn connect(to: &str) -> Outcome {
    match to.parse::<SocketAddr>() {
        Ok(addr) => Outcome::io(TcpStream::connect_timeout(&addr, Duration::from_secs(5))),
        Err(_) => Outcome::Died(0),
    }
}

#[test]
fn netns_alone_cuts_the_host_network() {
    if let Some(args) = child_args() {
        child(&args)
    }
    let (f, _guard) = Fixture::create();
    assert!(f.plan().namespaces.contains(&Namespace::Net));
    let loopback = TcpListener::bind((Ipv4Addr::LOCALHOST, 0)).unwrap();
    let own = own_address();
    let tcp = own.map(|ip| TcpListener::bind((ip, 0)).unwrap());
    let udp = own.map(|ip| UdpSocket::bind((ip, 0)).unwrap());
    let addr_of = |a: Option<SocketAddr>| a.map(|a| a.to_string()).unwrap_or_default();
    let args = [
        f.base.display().to_string(),
        loopback.local_addr().unwrap().to_string(),
        addr_of(tcp.as_ref().map(|l| l.local_addr().unwrap())),
        addr_of(udp.as_ref().map(|s| s.local_addr().unwrap())),
    ];
    let Some(r) = run_in_child(&args) else {
        return;
    };
    r.assert_blocks(TCP_LOOPBACK, libc::ECONNREFUSED);
    r.assert_allows(OWN_LOOPBACK);
    if own.is_some() {
        r.assert_blocks(TCP_HOST_ADDRESS, libc::ENETUNREACH);
        r.assert_blocks(UDP_HOST_ADDRESS, libc::ENETUNREACH);
        // The control's datagram arrived; the layer's never left.
        let udp = udp.unwrap();
        udp.set_read_timeout(Some(Duration::from_secs(5))).unwrap();
        let mut buf = [0u8; 16];
        let (n, _) = udp.recv_from(&mut buf).unwrap();
        assert_eq!(&buf[..n], b"control");
        udp.set_nonblocking(true).unwrap();
        assert!(
            udp.recv_from(&mut buf).is_err(),
            "a second datagram arrived"
        );
    } else {
        record_skip(
            &format!(
                "{} (host address)",
                std::thread::current().name().unwrap_or("?")
            ),
            "a non-loopback address on this host",
            "no address that is up, not loopback and not link-local",
        );
    }
}

fn child(args: &[String]) -> ! {
    let [_, loopback, tcp, udp] = args else {
        panic!("want 4 arguments, got {args:?}")
    };
    let (loopback, tcp, udp) = (loopback.clone(), tcp.clone(), udp.clone());
    let mut probes =
        vec![
            probe(TCP_LOOPBACK, move |_| connect(&loopback)),
            probe(OWN_LOOPBACK, |_| {
                // The listener stays open until the connect is done.
                Outcome::io(TcpListener::bind((Ipv4Addr::LOCALHOST, 0)).and_then(|l| {
                    TcpStream::connect_timeout(&l.local_addr()?, Duration::from_secs(5))
                }))
            }),
        ];
    if !tcp.is_empty() {
        probes.push(probe(TCP_HOST_ADDRESS, move |_| connect(&tcp)));
        probes.push(probe(UDP_HOST_ADDRESS, move |run| {
            let Ok(to) = udp.parse::<SocketAddr>() else {
                return Outcome::Died(0);
            };
            let any: IpAddr = if to.is_ipv6() {
                Ipv6Addr::UNSPECIFIED.into()
            } else {
                Ipv4Addr::UNSPECIFIED.into()
            };
            Outcome::io(UdpSocket::bind((any, 0)).and_then(|s| s.send_to(run.as_bytes(), to)))
        }));
    }
    child_main(
        &|| {
            enter_namespaces(&[Namespace::User, Namespace::Net])?;
            crate::linux::spawn::loopback_up()
                .map_err(|e| super::Refusal::Failed(format!("bring up loopback: {e}")))
        },
        &probes,
    )
}
