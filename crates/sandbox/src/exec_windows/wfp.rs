//! The offline account's loopback filters in the Windows Filtering
//! Platform: cordon's persistent provider, sublayer and filters, installed
//! in one transaction (blocks before the permit), read back before every
//! run, and removed by `uninstall`.

use super::code_err;
use crate::plan::windows::wfp::{
    require_wfp, user_condition_sddl, ALL_FILTER_KEYS, PROVIDER_KEY, SUBLAYER_KEY, SUBLAYER_WEIGHT,
};
use crate::plan::windows::{ObservedWfp, ObservedWfpFilter, WfpAction, WfpFilter, WfpLayer};
use crate::SandboxError;
use windows::core::{GUID, HSTRING, PCWSTR, PWSTR};
use windows::Win32::Foundation::{
    LocalFree, FWP_E_FILTER_NOT_FOUND, FWP_E_PROVIDER_NOT_FOUND, FWP_E_SUBLAYER_NOT_FOUND, HANDLE,
    HLOCAL,
};
use windows::Win32::NetworkManagement::WindowsFilteringPlatform::{
    FwpmEngineClose0, FwpmEngineOpen0, FwpmFilterAdd0, FwpmFilterDeleteByKey0, FwpmFilterGetByKey0,
    FwpmFreeMemory0, FwpmProviderAdd0, FwpmProviderDeleteByKey0, FwpmProviderGetByKey0,
    FwpmSubLayerAdd0, FwpmSubLayerDeleteByKey0, FwpmSubLayerGetByKey0, FwpmTransactionAbort0,
    FwpmTransactionBegin0, FwpmTransactionCommit0, FWPM_ACTION0, FWPM_CONDITION_ALE_USER_ID,
    FWPM_CONDITION_FLAGS, FWPM_CONDITION_IP_PROTOCOL, FWPM_CONDITION_IP_REMOTE_PORT,
    FWPM_DISPLAY_DATA0, FWPM_FILTER0, FWPM_FILTER_CONDITION0, FWPM_FILTER_FLAGS,
    FWPM_FILTER_FLAG_CLEAR_ACTION_RIGHT, FWPM_FILTER_FLAG_DISABLED, FWPM_FILTER_FLAG_PERSISTENT,
    FWPM_LAYER_ALE_AUTH_CONNECT_V4, FWPM_LAYER_ALE_AUTH_CONNECT_V6, FWPM_PROVIDER0,
    FWPM_PROVIDER_FLAG_PERSISTENT, FWPM_SUBLAYER0, FWPM_SUBLAYER_FLAG_PERSISTENT, FWP_ACTION_BLOCK,
    FWP_ACTION_PERMIT, FWP_BYTE_BLOB, FWP_CONDITION_FLAG_IS_LOOPBACK, FWP_CONDITION_VALUE0,
    FWP_CONDITION_VALUE0_0, FWP_MATCH_EQUAL, FWP_MATCH_FLAGS_ALL_SET, FWP_SECURITY_DESCRIPTOR_TYPE,
    FWP_UINT16, FWP_UINT32, FWP_UINT8, FWP_VALUE0, FWP_VALUE0_0,
};
use windows::Win32::Security::Authorization::{
    ConvertSecurityDescriptorToStringSecurityDescriptorW,
    ConvertStringSecurityDescriptorToSecurityDescriptorW, SDDL_REVISION_1,
};
use windows::Win32::Security::{DACL_SECURITY_INFORMATION, PSECURITY_DESCRIPTOR};
use windows::Win32::System::Rpc::RPC_C_AUTHN_WINNT;

const LAYER: &str = "windows-wfp";
/// `ERROR_SUCCESS`.
const OK: u32 = 0;
/// Who may read cordon's filters (every run reads them back, unelevated):
/// SYSTEM and Administrators fully, authenticated users read-only.
const OBJECT_SDDL: &str = "O:BAG:BAD:(A;;GA;;;SY)(A;;GA;;;BA)(A;;GR;;;AU)";

fn guid(text: &str) -> Result<GUID, SandboxError> {
    GUID::try_from(text).map_err(|_| SandboxError::Layer {
        layer: LAYER.into(),
        why: format!("{text} is not a GUID"),
        fix: "this is a bug in cordon; report it".into(),
    })
}

fn layer_key(layer: WfpLayer) -> GUID {
    match layer {
        WfpLayer::AleAuthConnectV4 => FWPM_LAYER_ALE_AUTH_CONNECT_V4,
        WfpLayer::AleAuthConnectV6 => FWPM_LAYER_ALE_AUTH_CONNECT_V6,
    }
}

/// A session with the filter engine, closed on drop.
struct Engine(HANDLE);

impl Engine {
    fn open() -> Result<Self, SandboxError> {
        let mut handle = HANDLE::default();
        // SAFETY: the local engine, default session; `handle` is written.
        let status =
            unsafe { FwpmEngineOpen0(PCWSTR::null(), RPC_C_AUTHN_WINNT, None, None, &mut handle) };
        if status != OK {
            return Err(code_err(
                LAYER,
                "opening the filter engine (FwpmEngineOpen0)",
                status,
            ));
        }
        Ok(Engine(handle))
    }
}

impl Drop for Engine {
    fn drop(&mut self) {
        // SAFETY: the session opened above, closed once.
        unsafe { FwpmEngineClose0(self.0) };
    }
}

/// A self-relative security descriptor from SDDL, freed on drop.
struct Descriptor {
    sd: PSECURITY_DESCRIPTOR,
    size: u32,
}

impl Descriptor {
    fn from_sddl(sddl: &str) -> Result<Self, SandboxError> {
        let mut sd = PSECURITY_DESCRIPTOR::default();
        let mut size = 0u32;
        // SAFETY: the call allocates `sd` with LocalAlloc (freed on drop).
        unsafe {
            ConvertStringSecurityDescriptorToSecurityDescriptorW(
                &HSTRING::from(sddl),
                SDDL_REVISION_1,
                &mut sd,
                Some(&mut size),
            )
        }
        .map_err(|e| super::win_err(LAYER, &format!("building the descriptor {sddl}"), &e))?;
        Ok(Descriptor { sd, size })
    }
}

impl Drop for Descriptor {
    fn drop(&mut self) {
        // SAFETY: allocated by ConvertStringSecurityDescriptorToSecurityDescriptorW.
        unsafe { LocalFree(Some(HLOCAL(self.sd.0))) };
    }
}

fn wide(text: &str) -> Vec<u16> {
    text.encode_utf16().chain([0]).collect()
}

/// Installs cordon's provider, sublayer and `filters` for the offline
/// account (`offline_sid`) in one transaction, after removing every filter
/// an earlier setup left: all of it or, on failure, nothing changes.
pub(super) fn install(offline_sid: &str, filters: &[WfpFilter]) -> Result<(), SandboxError> {
    let engine = Engine::open()?;
    // SAFETY: a live session; 0: a read-write transaction.
    let status = unsafe { FwpmTransactionBegin0(engine.0, 0) };
    if status != OK {
        return Err(code_err(
            LAYER,
            "starting a filter engine transaction",
            status,
        ));
    }
    let result = install_in_transaction(&engine, offline_sid, filters);
    if result.is_err() {
        // SAFETY: the transaction begun above.
        unsafe { FwpmTransactionAbort0(engine.0) };
        return result;
    }
    // SAFETY: as above.
    let status = unsafe { FwpmTransactionCommit0(engine.0) };
    if status != OK {
        return Err(code_err(LAYER, "committing the WFP filters", status));
    }
    Ok(())
}

fn install_in_transaction(
    engine: &Engine,
    offline_sid: &str,
    filters: &[WfpFilter],
) -> Result<(), SandboxError> {
    for key in ALL_FILTER_KEYS {
        delete_filter(engine, &guid(key)?)?;
    }
    let object_sd = Descriptor::from_sddl(OBJECT_SDDL)?;
    let mut provider_key = guid(PROVIDER_KEY)?;
    let mut name = wide("cordon sandbox");
    let mut description = wide("cordon: holds the offline sandbox account on loopback");
    let display = FWPM_DISPLAY_DATA0 {
        name: PWSTR(name.as_mut_ptr()),
        description: PWSTR(description.as_mut_ptr()),
    };
    if !provider_present(engine)? {
        let provider = FWPM_PROVIDER0 {
            providerKey: provider_key,
            displayData: display,
            flags: FWPM_PROVIDER_FLAG_PERSISTENT,
            ..Default::default()
        };
        // SAFETY: `provider` and the buffers it points to live across the call.
        let status = unsafe { FwpmProviderAdd0(engine.0, &provider, Some(object_sd.sd)) };
        if status != OK {
            return Err(code_err(LAYER, "adding cordon's WFP provider", status));
        }
    }
    let sublayer_key = guid(SUBLAYER_KEY)?;
    match sublayer_weight(engine)? {
        Some(w) if w == SUBLAYER_WEIGHT => {}
        found => {
            if found.is_some() {
                delete_sublayer(engine)?;
            }
            let sublayer = FWPM_SUBLAYER0 {
                subLayerKey: sublayer_key,
                displayData: display,
                flags: FWPM_SUBLAYER_FLAG_PERSISTENT,
                providerKey: &mut provider_key,
                weight: SUBLAYER_WEIGHT,
                ..Default::default()
            };
            // SAFETY: as above.
            let status = unsafe { FwpmSubLayerAdd0(engine.0, &sublayer, Some(object_sd.sd)) };
            if status != OK {
                return Err(code_err(LAYER, "adding cordon's WFP sublayer", status));
            }
        }
    }
    let user_sd = Descriptor::from_sddl(&user_condition_sddl(offline_sid))?;
    // The plan lists blocks before the permit; added in that order.
    for filter in filters {
        add_filter(
            engine,
            filter,
            &user_sd,
            &object_sd,
            provider_key,
            sublayer_key,
        )?;
    }
    Ok(())
}

fn add_filter(
    engine: &Engine,
    filter: &WfpFilter,
    user_sd: &Descriptor,
    object_sd: &Descriptor,
    mut provider_key: GUID,
    sublayer_key: GUID,
) -> Result<(), SandboxError> {
    let step = format!("adding WFP filter {}", filter.name);
    let mut name = wide(&filter.name);
    let mut user_blob = FWP_BYTE_BLOB {
        size: user_sd.size,
        data: user_sd.sd.0.cast(),
    };
    let mut conditions = vec![
        FWPM_FILTER_CONDITION0 {
            fieldKey: FWPM_CONDITION_ALE_USER_ID,
            matchType: FWP_MATCH_EQUAL,
            conditionValue: FWP_CONDITION_VALUE0 {
                r#type: FWP_SECURITY_DESCRIPTOR_TYPE,
                Anonymous: FWP_CONDITION_VALUE0_0 { sd: &mut user_blob },
            },
        },
        FWPM_FILTER_CONDITION0 {
            fieldKey: FWPM_CONDITION_IP_PROTOCOL,
            matchType: FWP_MATCH_EQUAL,
            conditionValue: FWP_CONDITION_VALUE0 {
                r#type: FWP_UINT8,
                Anonymous: FWP_CONDITION_VALUE0_0 {
                    uint8: u8::try_from(filter.conditions.protocol.number()).map_err(|_| {
                        SandboxError::Layer {
                            layer: LAYER.into(),
                            why: format!("{} has no single IP protocol", filter.name),
                            fix: "this is a bug in cordon's planner; report it".into(),
                        }
                    })?,
                },
            },
        },
    ];
    if filter.conditions.loopback {
        conditions.push(FWPM_FILTER_CONDITION0 {
            fieldKey: FWPM_CONDITION_FLAGS,
            matchType: FWP_MATCH_FLAGS_ALL_SET,
            conditionValue: FWP_CONDITION_VALUE0 {
                r#type: FWP_UINT32,
                Anonymous: FWP_CONDITION_VALUE0_0 {
                    uint32: FWP_CONDITION_FLAG_IS_LOOPBACK,
                },
            },
        });
    }
    // Conditions on the same field are OR'ed: any of the ports.
    for port in &filter.conditions.remote_ports {
        conditions.push(FWPM_FILTER_CONDITION0 {
            fieldKey: FWPM_CONDITION_IP_REMOTE_PORT,
            matchType: FWP_MATCH_EQUAL,
            conditionValue: FWP_CONDITION_VALUE0 {
                r#type: FWP_UINT16,
                Anonymous: FWP_CONDITION_VALUE0_0 { uint16: *port },
            },
        });
    }
    let (action, flags) = match filter.action {
        WfpAction::Block => (
            FWP_ACTION_BLOCK,
            FWPM_FILTER_FLAG_PERSISTENT.0 | FWPM_FILTER_FLAG_CLEAR_ACTION_RIGHT.0,
        ),
        WfpAction::Permit => (FWP_ACTION_PERMIT, FWPM_FILTER_FLAG_PERSISTENT.0),
    };
    let record = FWPM_FILTER0 {
        filterKey: guid(&filter.key)?,
        displayData: FWPM_DISPLAY_DATA0 {
            name: PWSTR(name.as_mut_ptr()),
            description: PWSTR::null(),
        },
        flags: FWPM_FILTER_FLAGS(flags),
        providerKey: &mut provider_key,
        layerKey: layer_key(filter.layer),
        subLayerKey: sublayer_key,
        weight: FWP_VALUE0 {
            r#type: FWP_UINT8,
            Anonymous: FWP_VALUE0_0 {
                uint8: filter.weight,
            },
        },
        numFilterConditions: u32::try_from(conditions.len()).unwrap_or(u32::MAX),
        filterCondition: conditions.as_mut_ptr(),
        action: FWPM_ACTION0 {
            r#type: action,
            ..Default::default()
        },
        ..Default::default()
    };
    // SAFETY: `record` and everything it points to (name, conditions, the
    // descriptor blob, the keys) live across the call.
    let status = unsafe { FwpmFilterAdd0(engine.0, &record, Some(object_sd.sd), None) };
    if status != OK {
        return Err(code_err(LAYER, &step, status));
    }
    Ok(())
}

fn is_not_found(status: u32, not_found: windows::core::HRESULT) -> bool {
    // FWP_E_* codes are returned as the DWORD form of the HRESULT.
    status == u32::from_ne_bytes(not_found.0.to_ne_bytes())
}

fn delete_filter(engine: &Engine, key: &GUID) -> Result<(), SandboxError> {
    // SAFETY: a live session and a key on the stack.
    let status = unsafe { FwpmFilterDeleteByKey0(engine.0, key) };
    if status == OK || is_not_found(status, FWP_E_FILTER_NOT_FOUND) {
        Ok(())
    } else {
        Err(code_err(LAYER, "removing an earlier WFP filter", status))
    }
}

fn delete_sublayer(engine: &Engine) -> Result<(), SandboxError> {
    let key = guid(SUBLAYER_KEY)?;
    // SAFETY: as above.
    let status = unsafe { FwpmSubLayerDeleteByKey0(engine.0, &key) };
    if status == OK || is_not_found(status, FWP_E_SUBLAYER_NOT_FOUND) {
        Ok(())
    } else {
        Err(code_err(LAYER, "removing cordon's WFP sublayer", status))
    }
}

fn provider_present(engine: &Engine) -> Result<bool, SandboxError> {
    let key = guid(PROVIDER_KEY)?;
    let mut provider: *mut FWPM_PROVIDER0 = std::ptr::null_mut();
    // SAFETY: the engine allocates `provider`, freed with FwpmFreeMemory0.
    let status = unsafe { FwpmProviderGetByKey0(engine.0, &key, &mut provider) };
    if status == OK {
        let mut p = provider.cast::<core::ffi::c_void>();
        // SAFETY: allocated by the engine; freed once.
        unsafe { FwpmFreeMemory0(&mut p) };
        return Ok(true);
    }
    if is_not_found(status, FWP_E_PROVIDER_NOT_FOUND) {
        return Ok(false);
    }
    Err(code_err(LAYER, "reading cordon's WFP provider", status))
}

fn sublayer_weight(engine: &Engine) -> Result<Option<u16>, SandboxError> {
    let key = guid(SUBLAYER_KEY)?;
    let mut sublayer: *mut FWPM_SUBLAYER0 = std::ptr::null_mut();
    // SAFETY: as for the provider.
    let status = unsafe { FwpmSubLayerGetByKey0(engine.0, &key, &mut sublayer) };
    if status == OK {
        // SAFETY: a valid record from the engine, read before it is freed.
        let weight = unsafe { (*sublayer).weight };
        let mut p = sublayer.cast::<core::ffi::c_void>();
        // SAFETY: allocated by the engine; freed once.
        unsafe { FwpmFreeMemory0(&mut p) };
        return Ok(Some(weight));
    }
    if is_not_found(status, FWP_E_SUBLAYER_NOT_FOUND) {
        return Ok(None);
    }
    Err(code_err(LAYER, "reading cordon's WFP sublayer", status))
}

/// The DACL of a security descriptor blob, as SDDL.
///
/// # Safety
/// `blob` must point at a valid `FWP_BYTE_BLOB` holding a security
/// descriptor.
unsafe fn blob_sddl(blob: *const FWP_BYTE_BLOB) -> String {
    if blob.is_null() {
        return String::new();
    }
    let mut text = PWSTR::null();
    // SAFETY: the caller's guarantee; the call allocates `text`.
    let ok = unsafe {
        ConvertSecurityDescriptorToStringSecurityDescriptorW(
            PSECURITY_DESCRIPTOR((*blob).data.cast()),
            SDDL_REVISION_1,
            DACL_SECURITY_INFORMATION,
            &mut text,
            None,
        )
    };
    if ok.is_err() {
        return String::new();
    }
    // SAFETY: a NUL-terminated string from the call above.
    let out = unsafe { text.to_string() }.unwrap_or_default();
    // SAFETY: allocated by the call above, freed once.
    unsafe { LocalFree(Some(HLOCAL(text.0.cast()))) };
    out
}

/// Reads one filter back into what the planner checks.
///
/// # Safety
/// `f` must be a valid filter record from the engine.
unsafe fn observe(f: &FWPM_FILTER0, provider: &GUID, sublayer: &GUID) -> ObservedWfpFilter {
    let mut out = ObservedWfpFilter {
        layer: if f.layerKey == FWPM_LAYER_ALE_AUTH_CONNECT_V4 {
            Some(WfpLayer::AleAuthConnectV4)
        } else if f.layerKey == FWPM_LAYER_ALE_AUTH_CONNECT_V6 {
            Some(WfpLayer::AleAuthConnectV6)
        } else {
            None
        },
        in_sublayer: f.subLayerKey == *sublayer,
        // SAFETY: a null or valid pointer into the record.
        from_provider: !f.providerKey.is_null() && unsafe { *f.providerKey } == *provider,
        action: if f.action.r#type == FWP_ACTION_BLOCK {
            Some(WfpAction::Block)
        } else if f.action.r#type == FWP_ACTION_PERMIT {
            Some(WfpAction::Permit)
        } else {
            None
        },
        hard: f.flags.0 & FWPM_FILTER_FLAG_CLEAR_ACTION_RIGHT.0 != 0,
        disabled: f.flags.0 & FWPM_FILTER_FLAG_DISABLED.0 != 0,
        persistent: f.flags.0 & FWPM_FILTER_FLAG_PERSISTENT.0 != 0,
        // SAFETY: the union member the type names.
        weight: (f.weight.r#type == FWP_UINT8).then_some(unsafe { f.weight.Anonymous.uint8 }),
        ..Default::default()
    };
    let conditions: &[FWPM_FILTER_CONDITION0] = if f.filterCondition.is_null() {
        &[]
    } else {
        // SAFETY: the engine's array of `numFilterConditions` entries.
        unsafe { std::slice::from_raw_parts(f.filterCondition, f.numFilterConditions as usize) }
    };
    for c in conditions {
        let v = &c.conditionValue;
        // SAFETY: each union member is read only when the type names it.
        unsafe {
            if c.fieldKey == FWPM_CONDITION_ALE_USER_ID
                && c.matchType == FWP_MATCH_EQUAL
                && v.r#type == FWP_SECURITY_DESCRIPTOR_TYPE
            {
                out.user_sddls.push(blob_sddl(v.Anonymous.sd));
            } else if c.fieldKey == FWPM_CONDITION_FLAGS
                && c.matchType == FWP_MATCH_FLAGS_ALL_SET
                && v.r#type == FWP_UINT32
                && v.Anonymous.uint32 == FWP_CONDITION_FLAG_IS_LOOPBACK
            {
                out.loopback = true;
            } else if c.fieldKey == FWPM_CONDITION_IP_PROTOCOL
                && c.matchType == FWP_MATCH_EQUAL
                && v.r#type == FWP_UINT8
            {
                out.protocols.push(v.Anonymous.uint8);
            } else if c.fieldKey == FWPM_CONDITION_IP_REMOTE_PORT
                && c.matchType == FWP_MATCH_EQUAL
                && v.r#type == FWP_UINT16
            {
                out.remote_ports.push(v.Anonymous.uint16);
            } else {
                out.other_conditions.push(format!(
                    "field {:?} match {} type {}",
                    c.fieldKey, c.matchType.0, v.r#type.0
                ));
            }
        }
    }
    out
}

/// Refuses the run unless the filter engine holds the offline account
/// (`offline_sid`) on loopback as `expected` says: provider, sublayer and
/// every filter present and as planned.
pub(super) fn verify(offline_sid: &str, expected: &[WfpFilter]) -> Result<(), SandboxError> {
    if expected.is_empty() {
        return Ok(());
    }
    let engine = Engine::open()?;
    let provider = guid(PROVIDER_KEY)?;
    let sublayer = guid(SUBLAYER_KEY)?;
    let mut observed = ObservedWfp {
        provider: provider_present(&engine)?,
        sublayer_weight: sublayer_weight(&engine)?,
        filters: Vec::new(),
    };
    for filter in expected {
        let key = guid(&filter.key)?;
        let mut record: *mut FWPM_FILTER0 = std::ptr::null_mut();
        // SAFETY: the engine allocates `record`, freed below.
        let status = unsafe { FwpmFilterGetByKey0(engine.0, &key, &mut record) };
        let found = if status == OK {
            // SAFETY: a valid record, read before it is freed.
            let found = unsafe { observe(&*record, &provider, &sublayer) };
            let mut p = record.cast::<core::ffi::c_void>();
            // SAFETY: allocated by the engine; freed once.
            unsafe { FwpmFreeMemory0(&mut p) };
            Some(found)
        } else if is_not_found(status, FWP_E_FILTER_NOT_FOUND) {
            None
        } else {
            return Err(code_err(
                LAYER,
                &format!("reading WFP filter {}", filter.name),
                status,
            ));
        };
        observed.filters.push((filter.key.clone(), found));
    }
    require_wfp(expected, offline_sid, &observed)
}

/// Removes every filter, the sublayer and the provider, in one
/// transaction; absent objects are fine.
pub(super) fn remove_all() -> Result<(), SandboxError> {
    let engine = Engine::open()?;
    // SAFETY: a live session.
    let status = unsafe { FwpmTransactionBegin0(engine.0, 0) };
    if status != OK {
        return Err(code_err(
            LAYER,
            "starting a filter engine transaction",
            status,
        ));
    }
    let result = (|| {
        for key in ALL_FILTER_KEYS {
            delete_filter(&engine, &guid(key)?)?;
        }
        delete_sublayer(&engine)?;
        let key = guid(PROVIDER_KEY)?;
        // SAFETY: a live session and a key on the stack.
        let status = unsafe { FwpmProviderDeleteByKey0(engine.0, &key) };
        if status == OK || is_not_found(status, FWP_E_PROVIDER_NOT_FOUND) {
            Ok(())
        } else {
            Err(code_err(LAYER, "removing cordon's WFP provider", status))
        }
    })();
    if result.is_err() {
        // SAFETY: the transaction begun above.
        unsafe { FwpmTransactionAbort0(engine.0) };
        return result;
    }
    // SAFETY: as above.
    let status = unsafe { FwpmTransactionCommit0(engine.0) };
    if status != OK {
        return Err(code_err(
            LAYER,
            "committing the removal of the WFP filters",
            status,
        ));
    }
    Ok(())
}
