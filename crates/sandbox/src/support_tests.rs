use super::*;

fn healthy() -> HostFacts {
    HostFacts {
        kernel_release: "6.18.0".into(),
        userns_probe: Some(Ok(())),
        other_ns_probe: Some(Ok(())),
        landlock_abi: 7,
        seccomp_available: true,
        ..Default::default()
    }
}

fn reason(a: &Availability) -> String {
    match a {
        Availability::Available => "available".into(),
        Availability::Missing { reason, fix } => format!("{reason} | {fix}"),
    }
}

#[test]
fn healthy_host_has_every_layer() {
    let s = HostSupport::from_facts(&healthy());
    assert!(s.missing_layers().is_empty());
}

#[test]
fn ubuntu_apparmor_restriction_is_named() {
    let mut f = healthy();
    f.userns_probe = Some(Err("EACCES".into()));
    f.apparmor_restrict_userns = Some(1);
    let s = HostSupport::from_facts(&f);
    assert!(
        reason(&s.namespaces).contains("AppArmor"),
        "{}",
        reason(&s.namespaces)
    );
}

#[test]
fn docker_default_profile_is_named() {
    let mut f = healthy();
    f.userns_probe = Some(Err("EPERM".into()));
    f.in_container = true;
    f.seccomp_mode_of_self = Some(2);
    let r = reason(&HostSupport::from_facts(&f).namespaces);
    assert!(
        r.contains("container") && r.contains("seccomp=unconfined"),
        "{r}"
    );
}

#[test]
fn wsl1_and_sysctls_are_named() {
    let mut f = healthy();
    f.userns_probe = Some(Err("EINVAL".into()));
    f.wsl1 = true;
    assert!(reason(&HostSupport::from_facts(&f).namespaces).contains("WSL1"));
    f.wsl1 = false;
    f.max_user_namespaces = Some(0);
    assert!(reason(&HostSupport::from_facts(&f).namespaces).contains("max_user_namespaces"));
    f.unprivileged_userns_clone = Some(0);
    f.euid = 1000;
    assert!(reason(&HostSupport::from_facts(&f).namespaces).contains("unprivileged_userns_clone"));
}

#[test]
fn landlock_missing_from_lsm_list_is_named() {
    let mut f = healthy();
    f.landlock_abi = 0;
    f.landlock_in_lsm_list = Some(false);
    let s = HostSupport::from_facts(&f);
    assert!(reason(&s.landlock).contains("lsm="));
    assert_eq!(s.missing_layers().len(), 1);
    assert_eq!(s.missing_layers()[0].layer, Layer::Landlock);
}

#[test]
fn a_missing_listener_is_named_with_its_fix() {
    let mut f = healthy();
    f.seccomp_listener = Some(Err("the kernel has no pidfd_getfd (Linux 5.6)".into()));
    let s = HostSupport::from_facts(&f);
    let r = reason(&s.seccomp_listener);
    assert!(
        r.contains("pidfd_getfd") && r.contains("Linux 5.6 or later"),
        "{r}"
    );
    assert_eq!(s.missing_layers().len(), 1);
    assert_eq!(s.missing_layers()[0].layer, Layer::SeccompListener);
    // Inside another sandbox (a second listener is refused).
    f.seccomp_mode_of_self = Some(2);
    f.seccomp_listener = Some(Err("already under a listener".into()));
    assert!(reason(&HostSupport::from_facts(&f).seccomp_listener).contains("outside that sandbox"));
    // Without filters at all, seccomp alone is reported.
    f.seccomp_available = false;
    let missing = HostSupport::from_facts(&f).missing_layers();
    assert_eq!(missing.len(), 1);
    assert_eq!(missing[0].layer, Layer::Seccomp);
}
