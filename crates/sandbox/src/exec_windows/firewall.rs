//! The offline account's Windows Firewall rules, through `INetFwPolicy2`,
//! and the firewall's effective state (the local setting, group policy's
//! `EnableFirewall`, and `LocalPolicyModifyState`).

use super::win_err;
use crate::plan::windows::{
    firewall_problems, firewall_rules, rule_users_sddl, FirewallRule, ModifyState,
    ObservedFirewall, ObservedProfile, ObservedRule, Protocol, ALL_RULE_NAMES, LEGACY_RULE_NAMES,
};
use crate::SandboxError;
use windows::core::{Interface, BSTR, HRESULT, HSTRING};
use windows::Win32::Foundation::{ERROR_FILE_NOT_FOUND, S_OK, VARIANT_TRUE};
use windows::Win32::NetworkManagement::WindowsFirewall::{
    INetFwPolicy2, INetFwRule, INetFwRule3, INetFwRules, NetFwPolicy2, NetFwRule,
    NET_FW_ACTION_BLOCK, NET_FW_MODIFY_STATE, NET_FW_PROFILE2_ALL, NET_FW_PROFILE2_DOMAIN,
    NET_FW_PROFILE2_PRIVATE, NET_FW_PROFILE2_PUBLIC, NET_FW_RULE_DIR_OUT,
};
use windows::Win32::System::Com::{
    CoCreateInstance, CoInitializeEx, CLSCTX_INPROC_SERVER, COINIT_APARTMENTTHREADED,
};
use windows::Win32::System::Registry::{RegGetValueW, HKEY_LOCAL_MACHINE, RRF_RT_REG_DWORD};

const LAYER: &str = "windows-firewall";
/// The rule group shown in the Windows Firewall console.
const GROUPING: &str = "cordon sandbox";

fn policy() -> Result<INetFwPolicy2, SandboxError> {
    // SAFETY: initialising COM on this thread; an earlier initialisation
    // (any model) is fine, and a real failure surfaces in CoCreateInstance.
    let _ = unsafe { CoInitializeEx(None, COINIT_APARTMENTTHREADED) };
    // SAFETY: NetFwPolicy2 is the CLSID of the INetFwPolicy2 coclass.
    let policy: INetFwPolicy2 = unsafe {
        CoCreateInstance(
            &NetFwPolicy2,
            None::<&windows::core::IUnknown>,
            CLSCTX_INPROC_SERVER,
        )
    }
    .map_err(|e| win_err(LAYER, "opening the firewall policy (INetFwPolicy2)", &e))?;
    Ok(policy)
}

fn rules_of(policy: &INetFwPolicy2) -> Result<INetFwRules, SandboxError> {
    // SAFETY: a COM call on a live interface.
    unsafe { policy.Rules() }.map_err(|e| win_err(LAYER, "reading the firewall rules", &e))
}

fn rules() -> Result<INetFwRules, SandboxError> {
    rules_of(&policy()?)
}

/// Reads one rule's properties.
fn observe_rule(rule: &INetFwRule) -> windows::core::Result<ObservedRule> {
    let rule3: INetFwRule3 = rule.cast()?;
    // SAFETY: COM property getters on live interfaces.
    unsafe {
        let protocol = rule.Protocol()?;
        Ok(ObservedRule {
            enabled: rule.Enabled()?.as_bool(),
            block: rule.Action()? == NET_FW_ACTION_BLOCK,
            outbound: rule.Direction()? == NET_FW_RULE_DIR_OUT,
            protocol,
            remote_ports: if protocol == Protocol::Any.number() {
                String::new()
            } else {
                rule.RemotePorts()?.to_string()
            },
            profiles: rule.Profiles()?,
            local_users: rule3.LocalUserAuthorizedList()?.to_string(),
            local_addresses: rule.LocalAddresses()?.to_string(),
            local_ports: if protocol == Protocol::Any.number() {
                String::new()
            } else {
                rule.LocalPorts()?.to_string()
            },
            interface_types: rule.InterfaceTypes()?.to_string(),
            application_name: rule.ApplicationName()?.to_string(),
            service_name: rule.ServiceName()?.to_string(),
            app_package: rule3.LocalAppPackageId()?.to_string(),
        })
    }
}

/// Refuses the run unless Windows Firewall, as it is now, holds the
/// offline account (`offline_sid`) to `expected`: firewall on in every
/// profile, no group policy override, every rule present, enabled, and as
/// planned. The setup marker alone is not trusted.
pub(super) fn verify(offline_sid: &str, expected: &[FirewallRule]) -> Result<(), SandboxError> {
    let policy = policy()?;
    let step = "reading the firewall state";
    let mut observed = ObservedFirewall {
        modify_state: modify_state(&policy)?,
        profiles: Vec::new(),
        rules: Vec::new(),
    };
    for (profile, name, key) in [
        (NET_FW_PROFILE2_DOMAIN, "domain", "DomainProfile"),
        (NET_FW_PROFILE2_PRIVATE, "private", "PrivateProfile"),
        (NET_FW_PROFILE2_PUBLIC, "public", "PublicProfile"),
    ] {
        // SAFETY: a COM property getter on a live interface.
        let on =
            unsafe { policy.get_FirewallEnabled(profile) }.map_err(|e| win_err(LAYER, step, &e))?;
        observed.profiles.push(ObservedProfile {
            name: name.into(),
            local_enabled: on.as_bool(),
            policy_enabled: policy_enable_firewall(key)?,
        });
    }
    let rules = rules_of(&policy)?;
    for planned in expected {
        let found = match existing(&rules, &planned.name)? {
            Some(rule) => Some(observe_rule(&rule).map_err(|e| {
                win_err(
                    LAYER,
                    &format!("reading firewall rule {}", planned.name),
                    &e,
                )
            })?),
            None => None,
        };
        observed.rules.push((planned.name.clone(), found));
    }
    let problems = firewall_problems(expected, offline_sid, &observed);
    if problems.is_empty() {
        return Ok(());
    }
    Err(SandboxError::Layer {
        layer: LAYER.into(),
        why: format!(
            "the firewall does not hold the offline account as planned: {}",
            problems.join("; ")
        ),
        fix: "turn Windows Firewall on for every profile and run `cordon sandbox windows setup` from an elevated prompt (if group policy manages the firewall, ask its administrator to allow local rules)".into(),
    })
}

/// `get_LocalPolicyModifyState` with its HRESULT: the `windows` crate's
/// wrapper turns `S_FALSE` into `Ok`, which must not pass as `S_OK`.
fn modify_state(policy: &INetFwPolicy2) -> Result<ModifyState, SandboxError> {
    let mut state = NET_FW_MODIFY_STATE::default();
    // SAFETY: the interface's own vtable entry, called on a live
    // interface with a writable out-parameter.
    let hr = unsafe {
        (Interface::vtable(policy).LocalPolicyModifyState)(Interface::as_raw(policy), &mut state)
    };
    if hr.is_err() {
        return Err(win_err(
            LAYER,
            "reading LocalPolicyModifyState",
            &windows::core::Error::from_hresult(hr),
        ));
    }
    Ok(ModifyState {
        s_ok: hr == S_OK,
        state: state.0,
    })
}

/// Group policy's `EnableFirewall` for a profile (`DomainProfile`,
/// `PrivateProfile`, `PublicProfile`), which overrides the local setting;
/// `None` when group policy does not set it.
fn policy_enable_firewall(profile_key: &str) -> Result<Option<bool>, SandboxError> {
    let subkey = HSTRING::from(format!(
        "SOFTWARE\\Policies\\Microsoft\\WindowsFirewall\\{profile_key}"
    ));
    let mut value = 0u32;
    let mut size = u32::try_from(std::mem::size_of::<u32>()).unwrap_or(4);
    // SAFETY: a DWORD read into a local of the size given.
    let status = unsafe {
        RegGetValueW(
            HKEY_LOCAL_MACHINE,
            &subkey,
            &HSTRING::from("EnableFirewall"),
            RRF_RT_REG_DWORD,
            None,
            Some(std::ptr::from_mut(&mut value).cast()),
            Some(&mut size),
        )
    };
    if status == ERROR_FILE_NOT_FOUND {
        return Ok(None);
    }
    if status.is_err() {
        return Err(super::code_err(
            LAYER,
            &format!("reading group policy's EnableFirewall for {profile_key}"),
            status.0,
        ));
    }
    Ok(Some(value != 0))
}

/// The rule named `name`, or `None` when there is none. Any other failure
/// is an error: a rule that cannot be read is not taken for absent.
fn existing(rules: &INetFwRules, name: &str) -> Result<Option<INetFwRule>, SandboxError> {
    // SAFETY: a COM call on a live interface.
    match unsafe { rules.Item(&BSTR::from(name)) } {
        Ok(rule) => Ok(Some(rule)),
        Err(e) if e.code() == HRESULT::from_win32(ERROR_FILE_NOT_FOUND.0) => Ok(None),
        Err(e) => Err(win_err(LAYER, &format!("reading firewall rule {name}"), &e)),
    }
}

/// Sets every property of `rule` from the plan, scoped to `sid`.
fn configure(rule: &INetFwRule3, planned: &FirewallRule, sid: &str) -> windows::core::Result<()> {
    let sddl = rule_users_sddl(sid);
    // SAFETY: COM property setters on a live interface with owned BSTRs.
    unsafe {
        rule.SetName(&BSTR::from(planned.name.as_str()))?;
        rule.SetDescription(&BSTR::from(
            "cordon: keeps the offline sandbox account off the network",
        ))?;
        rule.SetGrouping(&BSTR::from(GROUPING))?;
        rule.SetDirection(NET_FW_RULE_DIR_OUT)?;
        rule.SetAction(NET_FW_ACTION_BLOCK)?;
        rule.SetProtocol(planned.protocol.number())?;
        rule.SetRemoteAddresses(&BSTR::from(planned.remote_addresses.as_str()))?;
        // Ports exist only for TCP and UDP; `*` is set too, so a rewritten
        // rule does not keep the ports of an earlier setup.
        if planned.protocol != Protocol::Any {
            rule.SetRemotePorts(&BSTR::from(planned.remote_ports.as_str()))?;
            rule.SetLocalPorts(&BSTR::from("*"))?;
        }
        rule.SetLocalAddresses(&BSTR::from("*"))?;
        rule.SetInterfaceTypes(&BSTR::from("All"))?;
        rule.SetProfiles(NET_FW_PROFILE2_ALL.0)?;
        rule.SetLocalUserAuthorizedList(&BSTR::from(sddl))?;
        rule.SetEnabled(VARIANT_TRUE)?;
    }
    Ok(())
}

/// Adds `planned`, or brings an existing rule of that name to it (a rule
/// left by an earlier setup stays in force until it is rewritten).
fn upsert(rules: &INetFwRules, planned: &FirewallRule, sid: &str) -> Result<(), SandboxError> {
    let step = format!("installing firewall rule {}", planned.name);
    if let Some(rule) = existing(rules, &planned.name)? {
        // SAFETY: a COM property getter on a live interface.
        let protocol = unsafe { rule.Protocol() }.map_err(|e| win_err(LAYER, &step, &e))?;
        // SAFETY: as above.
        let limited = unsafe {
            let rule3: INetFwRule3 = rule.cast().map_err(|e| win_err(LAYER, &step, &e))?;
            let read = |e: windows::core::Error| win_err(LAYER, &step, &e);
            !rule.ApplicationName().map_err(read)?.is_empty()
                || !rule.ServiceName().map_err(read)?.is_empty()
                || !rule3.LocalAppPackageId().map_err(read)?.is_empty()
        };
        if protocol == planned.protocol.number() && !limited {
            let rule: INetFwRule3 = rule.cast().map_err(|e| win_err(LAYER, &step, &e))?;
            return configure(&rule, planned, sid).map_err(|e| win_err(LAYER, &step, &e));
        }
        // Another protocol cannot be rewritten in place (ports would be
        // invalid), nor a rule limited to one program or service: the old
        // rule goes and the planned one is added below.
        remove(rules, &planned.name)?;
    }
    // SAFETY: NetFwRule is the CLSID of the firewall rule coclass.
    let rule: INetFwRule3 = unsafe {
        CoCreateInstance(
            &NetFwRule,
            None::<&windows::core::IUnknown>,
            CLSCTX_INPROC_SERVER,
        )
    }
    .map_err(|e| win_err(LAYER, &step, &e))?;
    configure(&rule, planned, sid).map_err(|e| win_err(LAYER, &step, &e))?;
    let base: INetFwRule = rule.cast().map_err(|e| win_err(LAYER, &step, &e))?;
    // SAFETY: a COM call on live interfaces.
    unsafe { rules.Add(&base) }.map_err(|e| win_err(LAYER, &step, &e))
}

/// Programs the offline account's rules, scoped to its SID, in the
/// planned order, and removes the loopback rules of earlier setups (which
/// had no effect on loopback; WFP holds it now).
pub(super) fn program(offline_sid: &str) -> Result<(), SandboxError> {
    let rules = rules()?;
    for rule in &firewall_rules() {
        upsert(&rules, rule, offline_sid)?;
    }
    for name in LEGACY_RULE_NAMES {
        remove(&rules, name)?;
    }
    Ok(())
}

fn remove(rules: &INetFwRules, name: &str) -> Result<(), SandboxError> {
    // Names are not unique in the firewall: remove every copy (bounded).
    for _ in 0..16 {
        if existing(rules, name)?.is_none() {
            return Ok(());
        }
        // SAFETY: a COM call on a live interface.
        unsafe { rules.Remove(&BSTR::from(name)) }
            .map_err(|e| win_err(LAYER, &format!("removing firewall rule {name}"), &e))?;
    }
    Err(SandboxError::Layer {
        layer: LAYER.into(),
        why: format!("firewall rule {name} is still present after 16 removals"),
        fix: format!("remove the rules named {name} in the Windows Defender Firewall console"),
    })
}

/// Removes every rule setup may have installed.
pub(super) fn remove_all() -> Result<(), SandboxError> {
    let rules = rules()?;
    for name in ALL_RULE_NAMES {
        remove(&rules, name)?;
    }
    Ok(())
}
