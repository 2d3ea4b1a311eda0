//! Network none: only a private loopback. Servers are started by the tests
//! on this machine's own addresses; nothing else is ever contacted.

use super::common::*;
use std::io::{Read, Write};
use std::net::{IpAddr, Ipv4Addr, Ipv6Addr, SocketAddr, TcpListener, UdpSocket};

/// A TCP echo server answering at most `n` connections.
fn tcp_echo(ip: IpAddr, n: usize) -> SocketAddr {
    let l = TcpListener::bind((ip, 0)).unwrap();
    let addr = l.local_addr().unwrap();
    std::thread::spawn(move || {
        for mut s in l.incoming().take(n).flatten() {
            let mut buf = [0u8; 4];
            if s.read_exact(&mut buf).is_ok() {
                let _ = s.write_all(&buf);
            }
        }
    });
    addr
}

/// A UDP echo server answering at most `n` datagrams.
fn udp_echo(ip: IpAddr, n: usize) -> SocketAddr {
    let s = UdpSocket::bind((ip, 0)).unwrap();
    let addr = s.local_addr().unwrap();
    std::thread::spawn(move || {
        let mut buf = [0u8; 16];
        for _ in 0..n {
            if let Ok((len, from)) = s.recv_from(&mut buf) {
                let _ = s.send_to(&buf[..len], from);
            }
        }
    });
    addr
}

fn own_v4() -> IpAddr {
    own_addresses()
        .into_iter()
        .find(IpAddr::is_ipv4)
        .expect("this machine has no non-loopback IPv4 address to test against")
}

#[test]
fn tcp_and_udp_to_own_address_fail_with_network_none() {
    let w = World::new();
    let ip = own_v4();
    let tcp = tcp_echo(ip, 3).to_string();
    let udp = udp_echo(ip, 3).to_string();
    // The sandbox's network namespace has no route off loopback.
    assert_escape_blocked_errno(&w, &[], &["tcp", &tcp], libc::ENETUNREACH);
    assert_escape_blocked_errno(&w, &[], &["udp", &udp], libc::ENETUNREACH);
    // Network full reaches the same servers from inside the sandbox.
    assert_ok(&w.probe_in(&["--network", "full"], &["tcp", &tcp]));
}

#[test]
fn ipv6_and_host_loopback_are_out_of_reach() {
    let w = World::new();
    // The host's loopback services are not the sandbox's loopback.
    // Inside, the same address is the sandbox's own, empty loopback.
    let lo4 = tcp_echo(IpAddr::V4(Ipv4Addr::LOCALHOST), 3).to_string();
    assert_escape_blocked_errno(&w, &[], &["tcp", &lo4], libc::ECONNREFUSED);
    let lo6 = tcp_echo(IpAddr::V6(Ipv6Addr::LOCALHOST), 3).to_string();
    assert_escape_blocked_errno(&w, &[], &["tcp", &lo6], libc::ECONNREFUSED);
    // Control: with --network full it is the host's loopback.
    assert_ok(&w.probe_in(&["--network", "full"], &["tcp", &lo4]));
}

#[test]
fn own_global_ipv6_address_is_out_of_reach() {
    let v6 = own_addresses().into_iter().find(IpAddr::is_ipv6);
    if skip_without(
        "global-ipv6",
        v6.is_some(),
        "this machine has no non-loopback, non-link-local IPv6 address to aim at",
    ) {
        return;
    }
    let w = World::new();
    let addr = tcp_echo(v6.unwrap(), 3).to_string();
    assert_escape_blocked_errno(&w, &[], &["tcp", &addr], libc::ENETUNREACH);
    assert_ok(&w.probe_in(&["--network", "full"], &["tcp", &addr]));
}

#[test]
fn raw_and_packet_sockets_fail() {
    let w = World::new();
    assert_escape_blocked(&w, &[], &["raw-socket"]);
    assert_escape_blocked(&w, &[], &["packet-socket"]);
    assert_denied(&w.probe_in(&["--network", "full"], &["raw-socket"]));
}

#[test]
fn host_unix_socket_outside_roots_cannot_be_connected() {
    let w = World::new();
    let path = w.outside().join("agent.sock");
    let listener = std::os::unix::net::UnixListener::bind(&path).unwrap();
    std::thread::spawn(move || {
        for mut s in listener.incoming().take(4).flatten() {
            let mut buf = [0u8; 4];
            if s.read_exact(&mut buf).is_ok() {
                let _ = s.write_all(&buf);
            }
        }
    });
    let p = path.to_str().unwrap();
    for flags in [&[][..], &["--full-auto"][..], &["--network", "full"][..]] {
        assert_escape_blocked(&w, flags, &["unix", p]);
    }
    assert_ok(&w.probe_in(&["-s", "danger-full-access"], &["unix", p]));
    // socketpair stays available for pipes between processes.
    assert_ok(&w.probe_in(&[], &["socketpair"]));
    assert_ok(&w.probe_in(&["--full-auto"], &["socketpair", "stream"]));
}

/// Issue 10 item 3: a datagram or seqpacket socketpair could `sendto` any
/// host pathname socket (`/dev/log`, a service's control socket), also with
/// `--network none`. Only stream pairs can be made; the control sends a
/// datagram to a host socket the test creates, from outside the sandbox and
/// under danger-full-access, and the socket receives it.
#[test]
fn datagram_and_seqpacket_socketpairs_cannot_reach_host_sockets() {
    let w = World::new();
    let path = w.outside().join("host.sock");
    let host = std::os::unix::net::UnixDatagram::bind(&path).unwrap();
    host.set_read_timeout(Some(std::time::Duration::from_secs(5)))
        .unwrap();
    let p = path.to_str().unwrap();
    let received = || {
        let mut buf = [0u8; 8];
        host.recv(&mut buf).is_ok_and(|n| &buf[..n] == b"x")
    };
    assert_ok(&probe_outside(&w.work(), &["socketpair", "dgram", p]));
    assert!(received(), "control: the host socket receives from outside");
    assert_ok(&w.probe_in(&["-s", "danger-full-access"], &["socketpair", "dgram", p]));
    assert!(received(), "control: and under danger-full-access");
    for flags in [
        &[][..],
        &["--full-auto"][..],
        &["--network", "full"][..],
        &["--network", "proxy"][..],
    ] {
        for kind in ["dgram", "seqpacket"] {
            assert_escape_blocked_errno(&w, flags, &["socketpair", kind], libc::EPERM);
            assert_denied_errno(&w.probe_in(flags, &["socketpair", kind, p]), libc::EPERM);
        }
    }
    host.set_nonblocking(true).unwrap();
    assert!(!received(), "nothing reached the host socket from inside");
    // High bits on the family do not sneak AF_UNIX past the filter.
    assert_escape_blocked(&w, &[], &["socket-high-bits"]);
}

/// A host pathname socket of one type that the test binds outside every
/// root, and checks for the byte `x` arriving.
struct HostSocket {
    fd: i32,
    listening: bool,
}

impl HostSocket {
    fn bind(path: &std::path::Path, kind: &str) -> HostSocket {
        let ty = match kind {
            "stream" => libc::SOCK_STREAM,
            "dgram" => libc::SOCK_DGRAM,
            _ => libc::SOCK_SEQPACKET,
        };
        // SAFETY: plain socket calls on a zeroed address we fill.
        unsafe {
            let fd = libc::socket(
                libc::AF_UNIX,
                ty | libc::SOCK_CLOEXEC | libc::SOCK_NONBLOCK,
                0,
            );
            assert!(fd >= 0);
            let mut addr: libc::sockaddr_un = std::mem::zeroed();
            addr.sun_family = libc::AF_UNIX as libc::sa_family_t;
            for (d, b) in addr
                .sun_path
                .iter_mut()
                .zip(path.to_str().unwrap().as_bytes())
            {
                *d = *b as libc::c_char;
            }
            let len = std::mem::size_of::<libc::sockaddr_un>() as libc::socklen_t;
            assert_eq!(
                libc::bind(fd, (&addr as *const libc::sockaddr_un).cast(), len),
                0
            );
            // Anyone may send to it (the unprivileged run too).
            let c = std::ffi::CString::new(path.to_str().unwrap()).unwrap();
            libc::chmod(c.as_ptr(), 0o777);
            let listening = ty != libc::SOCK_DGRAM;
            if listening {
                assert_eq!(libc::listen(fd, 16), 0);
            }
            HostSocket { fd, listening }
        }
    }

    /// Whether `x` arrives within `ms` milliseconds.
    fn received(&self, ms: i32) -> bool {
        let wait = |fd: i32| {
            let mut p = libc::pollfd {
                fd,
                events: libc::POLLIN,
                revents: 0,
            };
            // SAFETY: one pollfd.
            unsafe { libc::poll(&mut p, 1, ms) == 1 }
        };
        if !wait(self.fd) {
            return false;
        }
        let from = if self.listening {
            // SAFETY: accepting on our listening socket.
            let c = unsafe { libc::accept(self.fd, std::ptr::null_mut(), std::ptr::null_mut()) };
            if c < 0 || !wait(c) {
                return false;
            }
            c
        } else {
            self.fd
        };
        let mut buf = [0u8; 4];
        // SAFETY: reading into our buffer.
        let n = unsafe { libc::recv(from, buf.as_mut_ptr().cast(), buf.len(), libc::MSG_DONTWAIT) };
        if from != self.fd {
            // SAFETY: closing the accepted connection.
            unsafe { libc::close(from) };
        }
        n == 1 && buf[0] == b'x'
    }
}

/// Issue 10 item 3, the whole matrix: every unix socket type (stream,
/// datagram, seqpacket), made by `socket` or `socketpair`, with every way
/// to address a host pathname socket (`connect`, `sendto`, `sendmsg`), in
/// every sandboxed mode. Control: each way that reaches a host socket of
/// that type from outside (and under danger-full-access) delivers the byte;
/// inside, `socket(AF_UNIX)` and non-stream pairs fail with EPERM, and a
/// stream pair, already connected, cannot be pointed anywhere (EISCONN).
/// Nothing arrives.
#[test]
fn no_unix_socket_type_or_verb_reaches_a_host_socket() {
    let w = World::new();
    for kind in ["stream", "dgram", "seqpacket"] {
        let path = w.outside().join(format!("{kind}.sock"));
        let host = HostSocket::bind(&path, kind);
        let p = path.to_str().unwrap();
        for verb in ["connect", "sendto", "sendmsg"] {
            let action = ["unix-reach", "socket", kind, verb, p];
            // Stream and seqpacket sockets address a peer only by connect.
            let reaches = kind == "dgram" || verb == "connect";
            let outside = probe_outside(&w.work(), &action);
            assert_eq!(
                outside.status.success() && host.received(2000),
                reaches,
                "control {kind} {verb} outside: {}",
                text(&outside)
            );
            if reaches {
                assert_ok(&w.probe_in(&["-s", "danger-full-access"], &action));
                assert!(
                    host.received(2000),
                    "control: {kind} {verb} under danger-full-access"
                );
            }
            for flags in [
                &[][..],
                &["--full-auto"][..],
                &["--network", "full"][..],
                &["--network", "proxy"][..],
            ] {
                assert_denied_errno(&w.probe_in(flags, &action), libc::EPERM);
                let pair = w.probe_in(flags, &["unix-reach", "pair", kind, verb, p]);
                let errno = if kind == "stream" {
                    libc::EISCONN
                } else {
                    libc::EPERM
                };
                assert_denied_errno(&pair, errno);
            }
            assert!(!host.received(100), "{kind} {verb}: a byte got out");
        }
    }
}
