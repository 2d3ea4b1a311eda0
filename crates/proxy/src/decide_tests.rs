//! The decision alone: nothing here connects anywhere, so public literals
//! are only decided, never reached.
use super::*;
use cordon_policy::network::{DomainRule, DomainRules, RuleAction};

fn config(rules: &[(&str, RuleAction)]) -> ProxyConfig {
    ProxyConfig {
        rules: DomainRules::new(
            rules
                .iter()
                .map(|(p, a)| DomainRule::parse(p, *a).unwrap())
                .collect(),
        ),
        ..Default::default()
    }
}

fn run<T>(f: impl std::future::Future<Output = T>) -> T {
    tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
        .unwrap()
        .block_on(f)
}

fn refused(config: &ProxyConfig, host: &str, port: u16) -> Refusal {
    match run(decide(config, host, port)) {
        Ok(d) => panic!("{host}:{port} allowed to {}", d.addr),
        Err(r) => r,
    }
}

fn allowed(config: &ProxyConfig, host: &str, port: u16) -> SocketAddr {
    match run(decide(config, host, port)) {
        Ok(d) => d.addr,
        Err(r) => panic!("{host}:{port} refused: {}", r.reason.as_str()),
    }
}

#[test]
fn names_and_ports_are_checked_before_anything_resolves() {
    let c = config(&[("*", RuleAction::Allow), ("**.bad.test", RuleAction::Deny)]);
    assert_eq!(refused(&c, "", 443).reason, Reason::BadRequest);
    assert_eq!(refused(&c, ".", 443).reason, Reason::BadRequest);
    assert_eq!(refused(&c, "1.2.3.4", 0).reason, Reason::BadRequest);
    let r = refused(&c, "x.bad.test", 443);
    assert_eq!(r.reason, Reason::Denied);
    assert_eq!(r.rule.as_deref(), Some("**.bad.test"));
    let none = config(&[("only.test", RuleAction::Allow)]);
    assert_eq!(refused(&none, "other.test", 443).reason, Reason::NotAllowed);
}

#[test]
fn an_allowed_public_address_is_the_one_connected_to() {
    let c = config(&[("*", RuleAction::Allow)]);
    assert_eq!(allowed(&c, "1.2.3.4", 443), "1.2.3.4:443".parse().unwrap());
    // The mapped form is decided, and connected to, as IPv4.
    assert_eq!(
        allowed(&c, "[::ffff:1.2.3.4]", 80),
        "1.2.3.4:80".parse().unwrap()
    );
}

#[test]
fn non_public_and_own_addresses_need_an_explicit_rule() {
    let c = config(&[("*", RuleAction::Allow)]);
    let r = refused(&c, "127.0.0.1", 8080);
    assert_eq!(r.reason, Reason::NonPublicAddress);
    assert_eq!(r.refused, ["127.0.0.1".parse::<IpAddr>().unwrap()]);
    let r = refused(&c, "[::ffff:10.0.0.1]", 80);
    assert_eq!(r.refused, ["10.0.0.1".parse::<IpAddr>().unwrap()]);

    // This host's own public address is refused like a private one.
    let mut own = config(&[("*", RuleAction::Allow)]);
    own.own_addresses = vec!["::ffff:1.2.3.4".parse().unwrap()];
    assert_eq!(
        refused(&own, "1.2.3.4", 443).reason,
        Reason::NonPublicAddress
    );
    assert_eq!(
        allowed(&own, "1.2.3.5", 443),
        "1.2.3.5:443".parse().unwrap()
    );

    // Named exactly, or with allow_local_binding, they are allowed.
    let named = config(&[("127.0.0.1:8080", RuleAction::Allow)]);
    assert_eq!(
        allowed(&named, "127.0.0.1", 8080),
        "127.0.0.1:8080".parse().unwrap()
    );
    let mut local = config(&[("*", RuleAction::Allow)]);
    local.allow_local_binding = true;
    assert_eq!(
        allowed(&local, "10.0.0.1", 22),
        "10.0.0.1:22".parse().unwrap()
    );
    own.own_addresses.push("10.0.0.1".parse().unwrap());
    own.allow_local_binding = true;
    assert_eq!(allowed(&own, "1.2.3.4", 1), "1.2.3.4:1".parse().unwrap());
}

/// `localhost` resolves from /etc/hosts, never through DNS; without that
/// entry the test fails rather than send a query off the host.
fn require_localhost_in_etc_hosts() {
    let hosts = std::fs::read_to_string("/etc/hosts").unwrap_or_default();
    assert!(
        hosts.lines().any(|l| {
            let l = l.split('#').next().unwrap_or("");
            l.split_whitespace().skip(1).any(|name| name == "localhost")
        }),
        "these tests need `localhost` in /etc/hosts"
    );
}

#[test]
fn a_name_is_judged_by_every_address_it_resolves_to() {
    require_localhost_in_etc_hosts();
    // Resolved only to loopback: refused, each address named.
    let c = config(&[("localhost", RuleAction::Allow)]);
    let r = refused(&c, "localhost", 80);
    assert_eq!(r.reason, Reason::NonPublicAddress);
    assert!(!r.refused.is_empty());
    assert!(r.refused.iter().all(IpAddr::is_loopback), "{:?}", r.refused);
    // Allowing the address by a rule lets the name through to exactly it.
    let c = config(&[
        ("localhost", RuleAction::Allow),
        ("127.0.0.1", RuleAction::Allow),
    ]);
    assert_eq!(
        allowed(&c, "localhost", 8080),
        "127.0.0.1:8080".parse().unwrap()
    );
}

#[test]
fn a_deny_range_wins_over_allow_local_binding_after_resolution() {
    require_localhost_in_etc_hosts();
    let mut c = config(&[
        ("localhost", RuleAction::Allow),
        ("127.0.0.0/8", RuleAction::Deny),
        ("::1", RuleAction::Deny),
    ]);
    c.allow_local_binding = true;
    let r = refused(&c, "localhost", 443);
    assert_eq!(r.reason, Reason::Denied);
    let rule = r.rule.as_deref().unwrap();
    assert!(rule == "127.0.0.0/8" || rule == "::1", "{rule}");
    assert_eq!(r.refused.len(), 1);
    assert!(r.refused[0].is_loopback());
    // A literal is denied by the same rule before anything resolves.
    let r = refused(&c, "127.1.2.3", 443);
    assert_eq!(r.reason, Reason::Denied);
    assert_eq!(r.rule.as_deref(), Some("127.0.0.0/8"));
}

#[test]
fn each_refusal_explains_what_would_allow_it() {
    let explain = |reason, rule: Option<&str>, refused: &[&str]| {
        Refusal {
            reason,
            rule: rule.map(str::to_string),
            refused: refused.iter().map(|ip| ip.parse().unwrap()).collect(),
        }
        .explain("api.example.test", 8443)
    };
    let first = "cordon proxy refused api.example.test:8443: ";
    let text = explain(Reason::NotAllowed, None, &[]);
    assert_eq!(
        text,
        format!(
            "{first}not-allowed\nno rule allows it. To allow it, add to $CORDON_HOME/config.toml:\n  [network.domains]\n  \"api.example.test\" = \"allow\"\nor pass --allow-domain api.example.test\n"
        )
    );
    let text = explain(Reason::Denied, Some("**.example.test"), &[]);
    assert_eq!(
        text,
        format!(
            "{first}denied\nthe rule \"**.example.test\" = \"deny\" in [network.domains] matched; deny wins over allow.\n"
        )
    );
    let text = explain(Reason::NonPublicAddress, None, &["10.0.0.7", "fd00::7"]);
    assert_eq!(
        text,
        format!(
            "{first}non-public-address\napi.example.test resolved only to non-public address(es) 10.0.0.7, fd00::7. To allow exactly these, add to [network.domains]:\n  \"10.0.0.7\" = \"allow\"\n  \"fd00::7\" = \"allow\"\n"
        )
    );
    assert_eq!(
        explain(Reason::SniMismatch, None, &[]),
        format!(
            "{first}sni-mismatch\nthe TLS ClientHello named a different host than the tunnel\n"
        )
    );
    assert_eq!(
        explain(Reason::ResolveFailed, None, &[]),
        format!("{first}resolve-failed\n")
    );
}

#[test]
fn reasons_have_their_wire_spelling() {
    let all = [
        (Reason::NotAllowed, "not-allowed"),
        (Reason::Denied, "denied"),
        (Reason::NonPublicAddress, "non-public-address"),
        (Reason::ResolveFailed, "resolve-failed"),
        (Reason::SniMismatch, "sni-mismatch"),
        (Reason::BadRequest, "bad-request"),
        (Reason::TooLarge, "too-large"),
        (Reason::Method, "method"),
        (Reason::Timeout, "timeout"),
        (Reason::Auth, "auth"),
        (Reason::ConnectFailed, "connect-failed"),
    ];
    for (reason, text) in all {
        assert_eq!(reason.as_str(), text);
    }
}
