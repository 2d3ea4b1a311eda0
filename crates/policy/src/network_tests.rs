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
