use super::*;

fn rules(list: &[(&str, RuleAction)]) -> DomainRules {
    DomainRules::new(
        list.iter()
            .map(|(p, a)| DomainRule::parse(p, *a).unwrap())
            .collect(),
    )
}
use RuleAction::{Allow, Deny};

#[test]
fn exact_subdomain_and_apex_patterns() {
    let r = rules(&[
        ("example.com", Allow),
        ("*.sub.org", Allow),
        ("**.both.net", Allow),
    ]);
    assert_eq!(r.decide_host("example.com", 443), RuleVerdict::Allowed);
    assert_eq!(
        r.decide_host("EXAMPLE.COM.", 443),
        RuleVerdict::Allowed,
        "case and trailing dot"
    );
    assert_eq!(
        r.decide_host("www.example.com", 443),
        RuleVerdict::NotAllowed
    );
    assert_eq!(r.decide_host("a.sub.org", 80), RuleVerdict::Allowed);
    assert_eq!(r.decide_host("a.b.sub.org", 80), RuleVerdict::Allowed);
    assert_eq!(
        r.decide_host("sub.org", 80),
        RuleVerdict::NotAllowed,
        "*. is subdomains only"
    );
    assert_eq!(r.decide_host("evilsub.org", 80), RuleVerdict::NotAllowed);
    assert_eq!(r.decide_host("both.net", 80), RuleVerdict::Allowed);
    assert_eq!(r.decide_host("x.both.net", 80), RuleVerdict::Allowed);
    assert_eq!(r.decide_host("notboth.net", 80), RuleVerdict::NotAllowed);
}

#[test]
fn deny_wins_and_no_rule_denies() {
    let r = rules(&[("*", Allow), ("**.bad.com", Deny)]);
    assert_eq!(r.decide_host("good.com", 443), RuleVerdict::Allowed);
    assert_eq!(
        r.decide_host("x.bad.com", 443),
        RuleVerdict::Denied("**.bad.com".into())
    );
    let r = rules(&[("**.bad.com", Deny), ("x.bad.com", Allow)]);
    assert!(
        matches!(r.decide_host("x.bad.com", 443), RuleVerdict::Denied(_)),
        "order does not matter"
    );
    assert_eq!(
        DomainRules::default().decide_host("a.com", 80),
        RuleVerdict::NotAllowed
    );
}

#[test]
fn ports() {
    let r = rules(&[
        ("example.com:443", Allow),
        ("[2001:db8::1]:8443", Allow),
        ("10.0.0.1:22", Allow),
    ]);
    assert_eq!(r.decide_host("example.com", 443), RuleVerdict::Allowed);
    assert_eq!(r.decide_host("example.com", 80), RuleVerdict::NotAllowed);
    assert_eq!(r.decide_host("[2001:db8::1]", 8443), RuleVerdict::Allowed);
    assert_eq!(r.decide_host("2001:db8::1", 443), RuleVerdict::NotAllowed);
    assert_eq!(r.decide_host("10.0.0.1", 22), RuleVerdict::Allowed);
    for bad in [
        "example.com:0",
        "example.com:70000",
        "example.com:x",
        "[::1",
        "",
        "a..b",
        "10.0.0.0/33",
        "bad/8",
    ] {
        assert!(DomainRule::parse(bad, Allow).is_err(), "{bad}");
    }
}

#[test]
fn cidr_and_literals_including_mapped_v6() {
    let r = rules(&[("192.0.2.0/24", Allow), ("fd00::/8", Allow)]);
    assert!(r.explicitly_allows_address("192.0.2.7".parse().unwrap(), 80));
    assert!(
        r.explicitly_allows_address("::ffff:192.0.2.7".parse().unwrap(), 80),
        "mapped form"
    );
    assert!(!r.explicitly_allows_address("192.0.3.7".parse().unwrap(), 80));
    assert!(r.explicitly_allows_address("fd00::2".parse().unwrap(), 80));
    assert_eq!(r.decide_host("192.0.2.9", 1), RuleVerdict::Allowed);
    assert_eq!(r.decide_host("[::ffff:192.0.2.9]", 1), RuleVerdict::Allowed);
    let star = rules(&[("*", Allow)]);
    assert!(
        !star.explicitly_allows_address("10.0.0.1".parse().unwrap(), 80),
        "* is not explicit"
    );
    let deny = rules(&[("*", Allow), ("203.0.113.0/24", Deny)]);
    assert!(deny
        .denied_address("203.0.113.5".parse().unwrap(), 80)
        .is_some());
}

#[test]
fn non_public_ranges() {
    for ip in [
        "127.0.0.1",
        "10.1.2.3",
        "172.16.0.1",
        "192.168.1.1",
        "169.254.169.254",
        "100.64.0.1",
        "0.1.2.3",
        "224.0.0.1",
        "255.255.255.255",
        "192.0.2.1",
        "198.51.100.1",
        "203.0.113.1",
        "198.18.0.1",
        "240.0.0.1",
        "192.0.0.8",
        "::1",
        "::",
        "fc00::1",
        "fd12::1",
        "fe80::1",
        "ff02::1",
        "2001:db8::1",
        "::ffff:127.0.0.1",
        "::ffff:10.0.0.1",
        "::127.0.0.1",
        "64:ff9b::a00:1",
        "64:ff9b:1::1",
        "2002:a00:1::1",
        "2001:2::1",
        "3fff::1",
    ] {
        assert!(
            is_non_public(ip.parse().unwrap()),
            "{ip} should be non-public"
        );
    }
    for ip in [
        "1.1.1.1",
        "8.8.8.8",
        "2606:4700::1111",
        "::ffff:1.1.1.1",
        "64:ff9b::101:101",
        "2002:101:101::1",
    ] {
        assert!(!is_non_public(ip.parse().unwrap()), "{ip} should be public");
    }
}

#[test]
fn mapped_ranges_are_ipv4_ranges() {
    let r = rules(&[("*", Allow), ("::ffff:0.0.0.0/96", Deny)]);
    assert!(r.denied_address("10.1.2.3".parse().unwrap(), 80).is_some());
    assert!(r
        .denied_address("::ffff:10.1.2.3".parse().unwrap(), 80)
        .is_some());
    let r = rules(&[("::ffff:10.0.0.0/104", Allow)]);
    assert!(r.explicitly_allows_address("10.9.9.9".parse().unwrap(), 1));
    assert!(!r.explicitly_allows_address("11.0.0.1".parse().unwrap(), 1));
}

/// Each non-public range by its edges: its first and last address are
/// refused, and the addresses just outside it on each side are public
/// (or belong to a neighbouring non-public range, as noted).
#[test]
fn non_public_ranges_at_their_edges() {
    let inside = [
        // 0.0.0.0/8, loopback, RFC 1918
        "0.0.0.0",
        "0.255.255.255",
        "127.0.0.0",
        "127.255.255.255",
        "10.0.0.0",
        "10.255.255.255",
        "172.16.0.0",
        "172.31.255.255",
        "192.168.0.0",
        "192.168.255.255",
        // link-local, CGNAT 100.64/10
        "169.254.0.0",
        "169.254.255.255",
        "100.64.0.0",
        "100.127.255.255",
        // IETF 192.0.0/24, 6to4 relay 192.88.99/24, benchmarking 198.18/15
        "192.0.0.0",
        "192.0.0.255",
        "192.88.99.0",
        "192.88.99.255",
        "198.18.0.0",
        "198.19.255.255",
        // documentation
        "192.0.2.0",
        "192.0.2.255",
        "198.51.100.0",
        "198.51.100.255",
        "203.0.113.0",
        "203.0.113.255",
        // multicast 224/4, reserved 240/4 up to broadcast
        "224.0.0.0",
        "239.255.255.255",
        "240.0.0.0",
        "255.255.255.254",
        "255.255.255.255",
    ];
    let outside = [
        "1.0.0.0",
        "126.255.255.255",
        "128.0.0.0",
        "9.255.255.255",
        "11.0.0.0",
        "172.15.255.255",
        "172.32.0.0",
        "192.167.255.255",
        "192.169.0.0",
        "169.253.255.255",
        "169.255.0.0",
        "100.63.255.255",
        "100.128.0.0",
        // Same third octet as 192.0.0/24 under another first or second.
        "191.0.0.1",
        "193.0.0.1",
        "192.1.0.1",
        "192.0.1.255",
        "192.0.3.0",
        "192.88.98.255",
        "192.88.100.0",
        "192.87.99.1",
        "192.89.99.1",
        "193.88.99.1",
        "198.17.255.255",
        "198.20.0.0",
        "199.18.0.1",
        "197.18.0.1",
        "198.51.99.255",
        "198.51.101.0",
        "203.0.112.255",
        "203.0.114.0",
        "223.255.255.255",
        // 100.x outside 100.64/10 under another first octet, and so on.
        "101.64.0.1",
        "99.64.0.1",
    ];
    for ip in inside {
        assert!(is_non_public(ip.parse().unwrap()), "{ip} is non-public");
        let mapped = format!("::ffff:{ip}");
        assert!(
            is_non_public(mapped.parse().unwrap()),
            "{mapped} is non-public"
        );
    }
    for ip in outside {
        assert!(!is_non_public(ip.parse().unwrap()), "{ip} is public");
        let mapped = format!("::ffff:{ip}");
        assert!(
            !is_non_public(mapped.parse().unwrap()),
            "{mapped} is public"
        );
    }
}

#[test]
fn non_public_ipv6_ranges_at_their_edges() {
    let inside = [
        "::",
        "::1",
        // ULA fc00::/7
        "fc00::",
        "fdff:ffff:ffff:ffff:ffff:ffff:ffff:ffff",
        // link-local fe80::/10, then site-local fec0::/10, then multicast ff00::/8
        "fe80::",
        "febf:ffff:ffff:ffff:ffff:ffff:ffff:ffff",
        "fec0::",
        "feff:ffff:ffff:ffff:ffff:ffff:ffff:ffff",
        "ff00::",
        "ffff:ffff:ffff:ffff:ffff:ffff:ffff:ffff",
        // documentation 2001:db8::/32 and 3fff::/20
        "2001:db8::",
        "2001:db8:ffff:ffff:ffff:ffff:ffff:ffff",
        "3fff::",
        "3fff:fff:ffff:ffff:ffff:ffff:ffff:ffff",
        // Teredo 2001::/32, benchmarking 2001:2::/48, discard 100::/64
        "2001::",
        "2001:0:ffff:ffff:ffff:ffff:ffff:ffff",
        "2001:2::",
        "2001:2:0:ffff:ffff:ffff:ffff:ffff",
        "100::",
        "100::ffff:ffff:ffff:ffff",
        // NAT64 64:ff9b:1::/48 whatever it embeds
        "64:ff9b:1::",
        "64:ff9b:1:ffff:ffff:ffff:101:101",
    ];
    let outside = [
        "fbff:ffff:ffff:ffff:ffff:ffff:ffff:ffff",
        "fe00::",
        "fe7f:ffff:ffff:ffff:ffff:ffff:ffff:ffff",
        "2001:db7:ffff:ffff:ffff:ffff:ffff:ffff",
        "2001:db9::",
        "2000:db8::1",
        "2002:db8::1",
        "3ffe:ffff:ffff:ffff:ffff:ffff:ffff:ffff",
        "3fff:1000::",
        "2001:1:ffff:ffff:ffff:ffff:ffff:ffff",
        "2001:2:1::",
        "2001:3::",
        "2000:2::1",
        "2003::1",
        "ff:ffff:ffff:ffff:ffff:ffff:ffff:ffff",
        "100:0:0:1::",
        "100:1::",
        "100:0:1::",
        "101::1",
        "64:ff9b:2::1",
        "64:ff9b:0:1::101:101",
        "64:ff9b::1:0:101:101",
    ];
    for ip in inside {
        assert!(is_non_public(ip.parse().unwrap()), "{ip} is non-public");
    }
    for ip in outside {
        assert!(!is_non_public(ip.parse().unwrap()), "{ip} is public");
    }
}

/// IPv4-compatible, NAT64 and 6to4 addresses are judged by the IPv4
/// address they embed, read byte by byte in network order: a public
/// address next to a non-public one in any byte tells them apart.
#[test]
fn embedded_ipv4_is_read_in_network_order() {
    // 10.1.1.1 (private) and 192.0.2.1 (documentation) against 1.1.1.1
    // and 192.0.1.1 / 192.0.2.0's neighbours (public).
    for (prefix, v4_at_end) in [("::", true), ("64:ff9b::", true), ("2002:", false)] {
        let form = |a: u8, b: u8, c: u8, d: u8| -> Ipv6Addr {
            let hi = u16::from_be_bytes([a, b]);
            let lo = u16::from_be_bytes([c, d]);
            let text = if v4_at_end {
                format!("{prefix}{hi:x}:{lo:x}")
            } else {
                format!("{prefix}{hi:x}:{lo:x}::1")
            };
            text.parse().unwrap()
        };
        for (v4, non_public) in [
            ([10, 1, 1, 1], true),
            ([1, 1, 1, 1], false),
            ([192, 0, 2, 1], true),
            ([192, 0, 1, 2], false),
            ([1, 10, 1, 1], false),
            ([1, 1, 10, 1], false),
        ] {
            let ip = form(v4[0], v4[1], v4[2], v4[3]);
            assert_eq!(
                is_non_public(IpAddr::V6(ip)),
                non_public,
                "{ip} embeds {v4:?}"
            );
        }
    }
    // Only 64:ff9b:: (and :1::) is NAT64: the same tail under a near
    // prefix is an ordinary public address.
    for ip in ["64:1::a00:1", "65:ff9b::a00:1", "64:ff9c::a00:1"] {
        assert!(!is_non_public(ip.parse().unwrap()), "{ip} is public");
    }
}

#[test]
fn cidr_prefixes_match_exactly_their_range() {
    let r = rules(&[
        ("10.0.0.0/8", Allow),
        ("192.0.2.128/25", Allow),
        ("198.51.100.7/32", Allow),
        ("fd00::/8", Allow),
        ("2001:db8:1::/48", Allow),
        ("2001:db8::7/128", Allow),
    ]);
    let allowed = |ip: &str| r.explicitly_allows_address(ip.parse().unwrap(), 443);
    for ip in [
        "10.0.0.0",
        "10.255.255.255",
        "192.0.2.128",
        "192.0.2.255",
        "198.51.100.7",
        "fd00::",
        "fd12:3456:789a::1",
        "fdff:ffff:ffff:ffff:ffff:ffff:ffff:ffff",
        "2001:db8:1::",
        "2001:db8:1:ffff:ffff:ffff:ffff:ffff",
        "2001:db8::7",
    ] {
        assert!(allowed(ip), "{ip} is in a range");
    }
    for ip in [
        "9.255.255.255",
        "11.0.0.0",
        "192.0.2.127",
        "192.0.3.0",
        "198.51.100.6",
        "198.51.100.8",
        "fc00::1",
        "fe00::",
        "2001:db8::ffff",
        "2001:db8:2::",
        "2001:db8::6",
        "2001:db8::8",
    ] {
        assert!(!allowed(ip), "{ip} is outside every range");
    }
    // A zero-length prefix is every address of its family, and only those.
    let all_v4 = rules(&[("0.0.0.0/0", Allow)]);
    assert!(all_v4.explicitly_allows_address("203.0.113.9".parse().unwrap(), 1));
    assert!(all_v4.explicitly_allows_address("255.255.255.255".parse().unwrap(), 1));
    assert!(!all_v4.explicitly_allows_address("2001:db8::1".parse().unwrap(), 1));
    let all_v6 = rules(&[("::/0", Allow)]);
    assert!(all_v6.explicitly_allows_address("2001:db8::1".parse().unwrap(), 1));
    assert!(all_v6.explicitly_allows_address("ff02::1".parse().unwrap(), 1));
    assert!(!all_v6.explicitly_allows_address("203.0.113.9".parse().unwrap(), 1));
    // The longest prefixes parse; one bit more does not.
    assert!(DomainRule::parse("10.0.0.1/32", Allow).is_ok());
    assert!(DomainRule::parse("2001:db8::1/128", Allow).is_ok());
    assert!(DomainRule::parse("2001:db8::1/129", Allow).is_err());
    // A mapped range shorter than /96 stays IPv6: it does not cover IPv4.
    let short = rules(&[("::ffff:0.0.0.0/95", Allow)]);
    assert!(!short.explicitly_allows_address("10.0.0.1".parse().unwrap(), 1));
    let exact = rules(&[("::ffff:10.0.0.1/128", Allow)]);
    assert!(exact.explicitly_allows_address("10.0.0.1".parse().unwrap(), 1));
    assert!(!exact.explicitly_allows_address("10.0.0.2".parse().unwrap(), 1));
}

#[test]
fn a_rule_shows_the_pattern_as_written_and_the_rules_keep_their_order() {
    let mut r = DomainRules::default();
    r.push(DomainRule::parse("  Example.COM:443 ", Allow).unwrap());
    r.push(DomainRule::parse("**.bad.test", Deny).unwrap());
    let shown: Vec<String> = r.rules().iter().map(ToString::to_string).collect();
    assert_eq!(shown, ["Example.COM:443", "**.bad.test"]);
    assert_eq!(r.rules()[1].action, Deny);
    assert_eq!(r.decide_host("example.com", 443), RuleVerdict::Allowed);
}

#[test]
fn bracketed_hosts_take_a_port_or_nothing_after_the_bracket() {
    let bare = DomainRule::parse("[2001:db8::1]", Allow).unwrap();
    assert!(bare.matches_ip("2001:db8::1".parse().unwrap(), 80));
    assert!(bare.matches_ip("2001:db8::1".parse().unwrap(), 8443));
    for bad in ["[2001:db8::1]x", "[2001:db8::1]443", "[2001:db8::1]:"] {
        assert!(DomainRule::parse(bad, Allow).is_err(), "{bad}");
    }
}

#[test]
fn subdomain_patterns_need_a_label_before_the_dot() {
    let r = rules(&[("*.example.com", Allow)]);
    assert_eq!(r.decide_host("a.example.com", 443), RuleVerdict::Allowed);
    for host in [".example.com", "example.com", "xexample.com", "com"] {
        assert_eq!(r.decide_host(host, 443), RuleVerdict::NotAllowed, "{host}");
    }
}

#[test]
fn star_matches_addresses_too_but_names_never_match_addresses() {
    let star = rules(&[("*", Allow)]);
    assert_eq!(star.decide_host("203.0.113.9", 80), RuleVerdict::Allowed);
    assert_eq!(star.decide_host("[2001:db8::9]", 80), RuleVerdict::Allowed);
    let name = DomainRule::parse("**.example.com", Allow).unwrap();
    assert!(!name.matches_ip("203.0.113.9".parse().unwrap(), 80));
    let net = DomainRule::parse("203.0.113.0/24", Allow).unwrap();
    assert!(
        !net.matches_host("example.com", 80),
        "an address rule names no host"
    );
}

#[test]
fn domain_names_are_labels_of_letters_digits_hyphens_and_underscores() {
    for good in ["my-host_1.example", "a.b-c.d_e"] {
        assert!(DomainRule::parse(good, Allow).is_ok(), "{good}");
    }
    for bad in [
        "bad!name.example",
        "sp ace.example",
        "a$.example",
        "*.x!y.z",
        "**.a+b",
    ] {
        assert!(DomainRule::parse(bad, Allow).is_err(), "{bad}");
    }
    // A label holds up to 63 characters and a name up to 253.
    let label63 = "a".repeat(63);
    assert!(DomainRule::parse(&format!("{label63}.example"), Allow).is_ok());
    assert!(DomainRule::parse(&format!("{label63}a.example"), Allow).is_err());
    let name253 = format!(
        "{}.{}.{}.{}",
        "a".repeat(63),
        "b".repeat(63),
        "c".repeat(63),
        "d".repeat(61)
    );
    assert_eq!(name253.len(), 253);
    assert!(DomainRule::parse(&name253, Allow).is_ok());
    assert!(DomainRule::parse(&format!("{name253}e"), Allow).is_err());
}

#[test]
fn only_deny_rules_naming_addresses_deny_an_address() {
    let ip: IpAddr = "203.0.113.5".parse().unwrap();
    // A matching allow range, a deny name rule and a deny range that does
    // not contain it: none of them is a denial of this address.
    let r = rules(&[
        ("203.0.113.0/24", Allow),
        ("**.example.com", Deny),
        ("*", Deny),
        ("198.51.100.0/24", Deny),
    ]);
    assert!(r.denied_address(ip, 443).is_none());
    let r = rules(&[("203.0.113.0/24:22", Deny)]);
    assert!(r.denied_address(ip, 443).is_none(), "another port");
    let hit = r.denied_address(ip, 22).map(ToString::to_string);
    assert_eq!(hit.as_deref(), Some("203.0.113.0/24:22"));
}
