//! The sandbox accounts and their DPAPI-protected passwords, sealed in the
//! scope [`setup_target`](crate::plan::windows::setup_target) decided: the
//! user scope when the caller runs cordon itself (only they can unseal
//! them); the machine scope (`CRYPTPROTECT_LOCAL_MACHINE`) when setup is
//! for another user, whom the administrator's token cannot seal for. Each
//! file is created new (never written through an existing name) with a
//! protected DACL for SYSTEM, Administrators and the target user only.

use super::acl::OwnedDescriptor;
use super::{code_err, win_err};
use crate::plan::windows::{
    account_action, password_file_sddl, AccountAction, Identity, PasswordScope, SetupTarget,
};
use crate::SandboxError;
use std::io::Write;
use std::os::windows::io::FromRawHandle;
use std::path::{Path, PathBuf};
use windows::core::{HSTRING, PCWSTR, PWSTR};
use windows::Win32::Foundation::{CloseHandle, LocalFree, HANDLE, HLOCAL};
use windows::Win32::NetworkManagement::NetManagement::{
    NERR_Success, NERR_UserExists, NERR_UserNotFound, NetUserAdd, NetUserDel, NetUserSetInfo,
    UF_DONT_EXPIRE_PASSWD, UF_PASSWD_CANT_CHANGE, UF_SCRIPT, USER_INFO_1, USER_INFO_1003,
    USER_PRIV_USER,
};
use windows::Win32::Security::Authorization::ConvertSidToStringSidW;
use windows::Win32::Security::Cryptography::{
    BCryptGenRandom, CryptProtectData, CryptUnprotectData, BCRYPT_USE_SYSTEM_PREFERRED_RNG,
    CRYPTPROTECT_LOCAL_MACHINE, CRYPTPROTECT_UI_FORBIDDEN, CRYPT_INTEGER_BLOB,
};
use windows::Win32::Security::SECURITY_ATTRIBUTES;
use windows::Win32::Security::{
    LogonUserW, LookupAccountNameW, LOGON32_LOGON_INTERACTIVE, LOGON32_PROVIDER_DEFAULT, PSID,
    SID_NAME_USE,
};
use windows::Win32::Storage::FileSystem::{
    CreateFileW, CREATE_NEW, FILE_ATTRIBUTE_NORMAL, FILE_GENERIC_WRITE, FILE_SHARE_NONE,
};

const LAYER: &str = "windows-accounts";
const ACCESS_DENIED: u32 = 5;

fn password_file(state: &Path, identity: Identity) -> PathBuf {
    state.join(format!("{}.password.dpapi", identity.account()))
}

/// `N` bytes from the system's random source.
pub(super) fn random_bytes<const N: usize>() -> Result<[u8; N], SandboxError> {
    let mut bytes = [0u8; N];
    // SAFETY: `bytes` is a valid, writable buffer for the call's duration.
    let status = unsafe { BCryptGenRandom(None, &mut bytes, BCRYPT_USE_SYSTEM_PREFERRED_RNG) };
    if status.is_err() {
        return Err(SandboxError::Layer {
            layer: LAYER.into(),
            why: format!("BCryptGenRandom failed with NTSTATUS {:#x}", status.0),
            fix: "retry; if it persists, the system's random source is broken".into(),
        });
    }
    Ok(bytes)
}

/// A random password that meets the default complexity rules.
fn random_password() -> Result<String, SandboxError> {
    let bytes = random_bytes::<24>()?;
    let hex: String = bytes.iter().map(|b| format!("{b:02x}")).collect();
    Ok(format!("Cq9!{hex}"))
}

/// Whether setup stored any account password under `state` (a restricted
/// copy of the caller's token could read and unseal it).
pub(super) fn passwords_stored(state: &Path) -> bool {
    [Identity::Offline, Identity::Online]
        .iter()
        .any(|id| password_file(state, *id).exists())
}

/// Whether `password` logs `identity` on (an interactive logon, as
/// `CreateProcessWithLogonW` makes).
fn logs_on(identity: Identity, password: &str) -> bool {
    let mut token = HANDLE::default();
    // SAFETY: NUL-terminated strings living across the call; `token` is
    // written and closed below.
    let ok = unsafe {
        LogonUserW(
            &HSTRING::from(identity.account()),
            &HSTRING::from("."),
            &HSTRING::from(password),
            LOGON32_LOGON_INTERACTIVE,
            LOGON32_PROVIDER_DEFAULT,
            &mut token,
        )
    }
    .is_ok();
    if ok {
        // SAFETY: the token from the call above, closed once.
        let _ = unsafe { CloseHandle(token) };
    }
    ok
}

/// Brings the account to a working state (see [`account_action`]): an
/// account whose stored password logs it on is left alone; a missing one
/// is created, and an existing one without a working stored password gets
/// a new one; the password is stored sealed for `target`. A password that
/// works but was sealed in another scope than `target`'s is sealed again.
pub(super) fn ensure(
    state: &Path,
    identity: Identity,
    target: &SetupTarget,
) -> Result<(), SandboxError> {
    let exists = sid_string(identity.account()).is_ok();
    let works = exists
        && password(state, identity)
            .map(|p| logs_on(identity, &p))
            .unwrap_or(false);
    let action = account_action(exists, works);
    if action == AccountAction::Keep {
        // Sealed again for the target, in its scope and with its DACL
        // (a previous setup may have been for someone else).
        let password = password(state, identity)?;
        return store(state, identity, &password, target);
    }
    let password = random_password()?;
    let mut name: Vec<u16> = identity.account().encode_utf16().chain([0]).collect();
    let mut pw: Vec<u16> = password.encode_utf16().chain([0]).collect();
    let mut comment: Vec<u16> = "cordon sandbox account".encode_utf16().chain([0]).collect();
    let info = USER_INFO_1 {
        usri1_name: PWSTR(name.as_mut_ptr()),
        usri1_password: PWSTR(pw.as_mut_ptr()),
        usri1_password_age: 0,
        usri1_priv: USER_PRIV_USER,
        usri1_home_dir: PWSTR::null(),
        usri1_comment: PWSTR(comment.as_mut_ptr()),
        usri1_flags: UF_SCRIPT | UF_DONT_EXPIRE_PASSWD | UF_PASSWD_CANT_CHANGE,
        usri1_script_path: PWSTR::null(),
    };
    let status = if action == AccountAction::Create {
        // SAFETY: `info` and the buffers it points to live across the
        // call; level 1 matches USER_INFO_1.
        unsafe { NetUserAdd(PCWSTR::null(), 1, std::ptr::addr_of!(info).cast(), None) }
    } else {
        NERR_UserExists
    };
    if status == NERR_UserExists {
        {
            let reset = USER_INFO_1003 {
                usri1003_password: PWSTR(pw.as_mut_ptr()),
            };
            // SAFETY: as above; level 1003 matches USER_INFO_1003.
            let status = unsafe {
                NetUserSetInfo(
                    PCWSTR::null(),
                    PCWSTR(name.as_ptr()),
                    1003,
                    std::ptr::addr_of!(reset).cast(),
                    None,
                )
            };
            if status != NERR_Success {
                return Err(denied_or(
                    status,
                    "resetting the password of an existing sandbox account",
                ));
            }
        }
    } else if status != NERR_Success {
        return Err(denied_or(status, "creating a sandbox account (NetUserAdd)"));
    }
    store(state, identity, &password, target)
}

/// Seals `password` for `target` and stores it.
fn store(
    state: &Path,
    identity: Identity,
    password: &str,
    target: &SetupTarget,
) -> Result<(), SandboxError> {
    let sealed = protect(password.as_bytes(), target.scope)?;
    write_new_file(
        &password_file(state, identity),
        &sealed,
        &password_file_sddl(target),
    )
}

/// Writes `bytes` to a file created new at `path` (after removing what is
/// there: a link or another file is removed, never written through) with
/// the DACL `sddl` from its creation on.
pub(super) fn write_new_file(path: &Path, bytes: &[u8], sddl: &str) -> Result<(), SandboxError> {
    let io = |source| SandboxError::Io {
        context: format!("writing {}", path.display()),
        source,
    };
    match std::fs::remove_file(path) {
        Ok(()) => {}
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => {}
        Err(source) => return Err(io(source)),
    }
    let descriptor = OwnedDescriptor::from_sddl(sddl)?;
    let attributes = SECURITY_ATTRIBUTES {
        nLength: u32::try_from(std::mem::size_of::<SECURITY_ATTRIBUTES>()).unwrap_or(0),
        lpSecurityDescriptor: descriptor.0 .0,
        bInheritHandle: false.into(),
    };
    // SAFETY: the name and the descriptor live across the call; CREATE_NEW
    // fails on any existing name (a link planted since the removal
    // included) instead of opening it.
    let handle = unsafe {
        CreateFileW(
            &HSTRING::from(path.as_os_str()),
            FILE_GENERIC_WRITE.0,
            FILE_SHARE_NONE,
            Some(&attributes),
            CREATE_NEW,
            FILE_ATTRIBUTE_NORMAL,
            None,
        )
    }
    .map_err(|e| win_err(LAYER, &format!("creating {}", path.display()), &e))?;
    // SAFETY: a file handle just opened and owned by nothing else; the
    // File closes it.
    let mut file = unsafe { std::fs::File::from_raw_handle(handle.0) };
    file.write_all(bytes).map_err(io)?;
    file.sync_all().map_err(io)
}

fn denied_or(status: u32, step: &str) -> SandboxError {
    if status == ACCESS_DENIED {
        SandboxError::Layer {
            layer: LAYER.into(),
            why: format!("{step} needs administrator rights"),
            fix: "run `cordon sandbox windows setup` from an elevated prompt".into(),
        }
    } else {
        code_err(LAYER, step, status)
    }
}

/// Deletes the account; a missing account is fine.
pub(super) fn remove(identity: Identity) -> Result<(), SandboxError> {
    let name = HSTRING::from(identity.account());
    // SAFETY: `name` is a NUL-terminated wide string living across the call.
    let status = unsafe { NetUserDel(PCWSTR::null(), &name) };
    if status == NERR_Success || status == NERR_UserNotFound {
        Ok(())
    } else {
        Err(denied_or(status, "deleting a sandbox account (NetUserDel)"))
    }
}

/// The stored password of `identity`.
pub(super) fn password(state: &Path, identity: Identity) -> Result<String, SandboxError> {
    let path = password_file(state, identity);
    let sealed = std::fs::read(&path).map_err(|_| SandboxError::Layer {
        layer: LAYER.into(),
        why: format!(
            "the password of {} is not stored at {}",
            identity.account(),
            path.display()
        ),
        fix: "run `cordon sandbox windows setup` from an elevated prompt".into(),
    })?;
    let plain = unprotect(&sealed)?;
    String::from_utf8(plain).map_err(|_| SandboxError::Layer {
        layer: LAYER.into(),
        why: format!("{} does not hold a valid password", path.display()),
        fix: "run `cordon sandbox windows setup` again".into(),
    })
}

fn blob(data: &[u8]) -> Result<CRYPT_INTEGER_BLOB, SandboxError> {
    Ok(CRYPT_INTEGER_BLOB {
        cbData: u32::try_from(data.len()).map_err(|_| SandboxError::Layer {
            layer: LAYER.into(),
            why: "data too large for DPAPI".into(),
            fix: "this is a bug in cordon; report it".into(),
        })?,
        pbData: data.as_ptr().cast_mut(),
    })
}

/// Copies a DPAPI output blob and frees it.
fn take(out: CRYPT_INTEGER_BLOB) -> Vec<u8> {
    if out.pbData.is_null() {
        return Vec::new();
    }
    // SAFETY: DPAPI returned `cbData` valid bytes at `pbData`.
    let bytes = unsafe { std::slice::from_raw_parts(out.pbData, out.cbData as usize) }.to_vec();
    // SAFETY: the buffer was allocated by DPAPI with LocalAlloc and is freed once.
    unsafe { LocalFree(Some(HLOCAL(out.pbData.cast()))) };
    bytes
}

fn protect(data: &[u8], scope: PasswordScope) -> Result<Vec<u8>, SandboxError> {
    let input = blob(data)?;
    let mut out = CRYPT_INTEGER_BLOB::default();
    let description = HSTRING::from("cordon sandbox account password");
    // SAFETY: `input` points at `data`, which outlives the call; DPAPI
    // only reads it and allocates `out`.
    unsafe {
        CryptProtectData(
            &input,
            &description,
            None,
            None,
            None,
            match scope {
                PasswordScope::User => CRYPTPROTECT_UI_FORBIDDEN,
                PasswordScope::Machine => CRYPTPROTECT_UI_FORBIDDEN | CRYPTPROTECT_LOCAL_MACHINE,
            },
            &mut out,
        )
    }
    .map_err(|e| win_err(LAYER, "encrypting a password with DPAPI", &e))?;
    Ok(take(out))
}

fn unprotect(data: &[u8]) -> Result<Vec<u8>, SandboxError> {
    let input = blob(data)?;
    let mut out = CRYPT_INTEGER_BLOB::default();
    // SAFETY: as in `protect`.
    unsafe {
        CryptUnprotectData(
            &input,
            None,
            None,
            None,
            None,
            CRYPTPROTECT_UI_FORBIDDEN,
            &mut out,
        )
    }
    .map_err(|e| win_err(LAYER, "decrypting a stored password with DPAPI", &e))?;
    Ok(take(out))
}

/// The SID of a local account, as a string (`S-1-5-21-...`).
pub(super) fn sid_string(account: &str) -> Result<String, SandboxError> {
    let name = HSTRING::from(account);
    let mut sid_len = 0u32;
    let mut domain_len = 0u32;
    let mut kind = SID_NAME_USE::default();
    // SAFETY: a size query: null buffers with zero lengths; the call fills the lengths.
    let _ = unsafe {
        LookupAccountNameW(
            PCWSTR::null(),
            &name,
            None,
            &mut sid_len,
            None,
            &mut domain_len,
            &mut kind,
        )
    };
    if sid_len == 0 {
        return Err(SandboxError::Layer {
            layer: LAYER.into(),
            why: format!("the account {account} does not exist"),
            fix: "run `cordon sandbox windows setup` from an elevated prompt".into(),
        });
    }
    let mut sid = vec![0u8; sid_len as usize];
    let mut domain = vec![0u16; domain_len.max(1) as usize];
    // SAFETY: the buffers have the sizes the first call asked for.
    unsafe {
        LookupAccountNameW(
            PCWSTR::null(),
            &name,
            Some(PSID(sid.as_mut_ptr().cast())),
            &mut sid_len,
            Some(PWSTR(domain.as_mut_ptr())),
            &mut domain_len,
            &mut kind,
        )
    }
    .map_err(|e| win_err(LAYER, "looking up a sandbox account's SID", &e))?;
    let mut text = PWSTR::null();
    // SAFETY: `sid` holds a valid SID; the call allocates `text` with LocalAlloc.
    unsafe { ConvertSidToStringSidW(PSID(sid.as_mut_ptr().cast()), &mut text) }
        .map_err(|e| win_err(LAYER, "formatting a SID", &e))?;
    // SAFETY: `text` is a NUL-terminated wide string from the call above.
    let result = unsafe { text.to_string() };
    // SAFETY: allocated by ConvertSidToStringSidW; freed once.
    unsafe { LocalFree(Some(HLOCAL(text.0.cast()))) };
    result.map_err(|_| SandboxError::Layer {
        layer: LAYER.into(),
        why: "a SID string is not valid UTF-16".into(),
        fix: "this is a bug in cordon; report it".into(),
    })
}
