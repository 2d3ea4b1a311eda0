use super::*;

const OFFLINE: &str = "cordon-offline";
const SID: &str = "S-1-5-21-1-2-3-1001";
const LAYERS: [WfpLayer; 2] = [WfpLayer::AleAuthConnectV4, WfpLayer::AleAuthConnectV6];

fn connection(layer: WfpLayer, protocol: Protocol, port: u16) -> Connection<'static> {
    Connection {
        layer,
        account: OFFLINE,
        loopback: true,
        protocol,
        remote_port: port,
    }
}

/// Every loopback TCP port is permitted exactly when it is a proxy port,
/// and every loopback UDP port is blocked, on both layers.
fn assert_only_proxy_ports_pass(filters: &[WfpFilter], proxy_ports: &[u16]) {
    for layer in LAYERS {
        for port in 1..=65_535u16 {
            let tcp = wfp_verdict(filters, &connection(layer, Protocol::Tcp, port));
            let want = if proxy_ports.contains(&port) {
                WfpAction::Permit
            } else {
                WfpAction::Block
            };
            assert_eq!(tcp, Some(want), "tcp port {port} {layer:?}");
            let udp = wfp_verdict(filters, &connection(layer, Protocol::Udp, port));
            assert_eq!(udp, Some(WfpAction::Block), "udp port {port} {layer:?}");
        }
    }
}

#[test]
fn one_proxy_port_is_the_only_loopback_hole() {
    let filters = wfp_filters(OFFLINE, &[3128], false);
    assert_eq!(filters.len(), 6);
    assert_only_proxy_ports_pass(&filters, &[3128]);
}

#[test]
fn port_edges_and_several_ports() {
    for ports in [
        vec![1u16],
        vec![65_535],
        vec![1, 65_535],
        vec![2, 65_534],
        vec![3128, 3129, 8080],
    ] {
        let filters = wfp_filters(OFFLINE, &ports, false);
        assert_only_proxy_ports_pass(&filters, &ports);
    }
}

#[test]
fn ports_are_sorted_deduplicated_and_zero_is_dropped() {
    let filters = wfp_filters(OFFLINE, &[8080, 0, 3128, 8080], false);
    let permit = filters
        .iter()
        .find(|f| f.action == WfpAction::Permit)
        .unwrap();
    assert_eq!(permit.conditions.remote_ports, vec![3128, 8080]);
}

#[test]
fn no_proxy_ports_block_all_loopback() {
    // --network none before any proxy port was set up.
    let filters = wfp_filters(OFFLINE, &[], false);
    assert_eq!(filters.len(), 4);
    assert!(filters.iter().all(|f| f.action == WfpAction::Block));
    assert_only_proxy_ports_pass(&filters, &[]);
}

#[test]
fn allow_local_binding_installs_no_loopback_filters() {
    for ports in [&[][..], &[3128][..], &[1, 65_535][..]] {
        assert!(wfp_filters(OFFLINE, ports, true).is_empty());
    }
}

#[test]
fn filters_touch_only_the_offline_accounts_loopback_traffic() {
    let filters = wfp_filters(OFFLINE, &[3128], false);
    for layer in LAYERS {
        let mut other = connection(layer, Protocol::Tcp, 80);
        other.account = "someone-else";
        assert_eq!(wfp_verdict(&filters, &other), None);
        let mut remote = connection(layer, Protocol::Udp, 53);
        remote.loopback = false;
        assert_eq!(wfp_verdict(&filters, &remote), None, "the firewall's job");
    }
}

#[test]
fn blocks_are_installed_before_the_permit_and_weigh_less() {
    let filters = wfp_filters(OFFLINE, &[3128, 8080], false);
    let last_block = filters
        .iter()
        .rposition(|f| f.action == WfpAction::Block)
        .unwrap();
    let first_permit = filters
        .iter()
        .position(|f| f.action == WfpAction::Permit)
        .unwrap();
    assert!(last_block < first_permit, "{filters:?}");
    for f in &filters {
        let want = match f.action {
            WfpAction::Block => BLOCK_WEIGHT,
            WfpAction::Permit => PERMIT_WEIGHT,
        };
        assert_eq!(f.weight, want, "{}", f.name);
        assert!(f.conditions.loopback);
        assert_eq!(f.conditions.account, OFFLINE);
        assert_ne!(f.conditions.protocol, Protocol::Any);
    }
    // Both layers get each kind of filter.
    for layer in LAYERS {
        assert_eq!(filters.iter().filter(|f| f.layer == layer).count(), 3);
    }
    // Keys are fixed and distinct, so a run can look each one up.
    let mut keys: Vec<&str> = filters.iter().map(|f| f.key.as_str()).collect();
    assert_eq!(keys, ALL_FILTER_KEYS.to_vec());
    keys.dedup();
    assert_eq!(keys.len(), 6);
}

#[test]
fn a_broken_weight_order_would_open_every_port() {
    // The model is sensitive to the weights: swapped, the block wins.
    let mut filters = wfp_filters(OFFLINE, &[3128], false);
    for f in &mut filters {
        f.weight = match f.action {
            WfpAction::Block => PERMIT_WEIGHT,
            WfpAction::Permit => BLOCK_WEIGHT,
        };
    }
    let verdict = wfp_verdict(
        &filters,
        &connection(WfpLayer::AleAuthConnectV4, Protocol::Tcp, 3128),
    );
    assert_eq!(verdict, Some(WfpAction::Block));
}

fn f(o: &mut ObservedWfp, i: usize) -> &mut ObservedWfpFilter {
    o.filters[i].1.as_mut().unwrap()
}

fn observed_as_installed(filters: &[WfpFilter]) -> ObservedWfp {
    ObservedWfp {
        provider: true,
        sublayer_weight: Some(SUBLAYER_WEIGHT),
        filters: filters
            .iter()
            .map(|f| {
                let found = ObservedWfpFilter {
                    layer: Some(f.layer),
                    in_sublayer: true,
                    from_provider: true,
                    action: Some(f.action),
                    hard: f.action == WfpAction::Block,
                    disabled: false,
                    persistent: true,
                    weight: Some(f.weight),
                    user_sddls: vec![user_condition_sddl(SID)],
                    loopback: true,
                    protocols: vec![u8::try_from(f.conditions.protocol.number()).unwrap()],
                    remote_ports: f.conditions.remote_ports.iter().rev().copied().collect(),
                    other_conditions: vec![],
                };
                (f.key.to_uppercase(), Some(found))
            })
            .collect(),
    }
}

#[test]
fn installed_filters_verify_and_every_drift_is_named() {
    let filters = wfp_filters(OFFLINE, &[3128, 8080], false);
    let good = observed_as_installed(&filters);
    assert_eq!(wfp_problems(&filters, SID, &good), Vec::<String>::new());
    assert!(require_wfp(&filters, SID, &good).is_ok());
    type Drift = Box<dyn Fn(&mut ObservedWfp)>;
    let drifted: Vec<(&str, Drift)> = vec![
        ("provider", Box::new(|o| o.provider = false)),
        ("sublayer", Box::new(|o| o.sublayer_weight = None)),
        ("sublayer weight", Box::new(|o| o.sublayer_weight = Some(1))),
        ("is missing", Box::new(|o| o.filters[0].1 = None)),
        (
            "another layer",
            Box::new(|o| f(o, 0).layer = Some(WfpLayer::AleAuthConnectV6)),
        ),
        ("sublayer", Box::new(|o| f(o, 1).in_sublayer = false)),
        ("provider", Box::new(|o| f(o, 1).from_provider = false)),
        (
            "action",
            Box::new(|o| f(o, 2).action = Some(WfpAction::Permit)),
        ),
        ("action right", Box::new(|o| f(o, 2).hard = false)),
        ("action right", Box::new(|o| f(o, 4).hard = true)),
        ("disabled", Box::new(|o| f(o, 3).disabled = true)),
        ("persistent", Box::new(|o| f(o, 3).persistent = false)),
        ("weight", Box::new(|o| f(o, 0).weight = Some(15))),
        ("weight", Box::new(|o| f(o, 0).weight = None)),
        (
            "offline account",
            Box::new(|o| f(o, 1).user_sddls = vec![user_condition_sddl("S-1-1-0")]),
        ),
        (
            "offline account",
            Box::new(|o| f(o, 1).user_sddls.push(user_condition_sddl(SID))),
        ),
        ("offline account", Box::new(|o| f(o, 1).user_sddls.clear())),
        ("loopback", Box::new(|o| f(o, 2).loopback = false)),
        ("protocols", Box::new(|o| f(o, 2).protocols = vec![17])),
        ("protocols", Box::new(|o| f(o, 2).protocols.clear())),
        (
            "remote ports",
            Box::new(|o| f(o, 4).remote_ports = vec![3128]),
        ),
        (
            "remote ports",
            Box::new(|o| f(o, 0).remote_ports = vec![53]),
        ),
        (
            "other conditions",
            Box::new(|o| f(o, 5).other_conditions = vec!["app id".into()]),
        ),
    ];
    for (want, change) in drifted {
        let mut o = good.clone();
        change(&mut o);
        let problems = wfp_problems(&filters, SID, &o);
        assert!(!problems.is_empty(), "{want}: no problem found");
        assert!(
            problems.iter().any(|p| p.contains(want)),
            "{want}: {problems:?}"
        );
        assert!(require_wfp(&filters, SID, &o).is_err());
    }
}

#[test]
fn nothing_to_verify_with_allow_local_binding() {
    let o = ObservedWfp::default();
    assert!(wfp_problems(&[], SID, &o).is_empty());
}
