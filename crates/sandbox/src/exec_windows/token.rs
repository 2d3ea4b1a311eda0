//! Tokens and object DACLs: the write-restricted token the command runs
//! with, the default DACL its objects get, and the runner's own DACL.

use super::acl::{OwnedAcl, OwnedSid};
use super::win_err;
use crate::plan::windows::host::OWNER_RIGHTS_SID;
use crate::plan::windows::{restricting_sids, SetupCaller};
use crate::SandboxError;
use windows::core::PWSTR;
use windows::Win32::Foundation::{GENERIC_ALL, HANDLE};
use windows::Win32::Security::Authorization::{SetSecurityInfo, SE_KERNEL_OBJECT};
use windows::Win32::Security::{
    CreateRestrictedToken, GetTokenInformation, SetTokenInformation, TokenDefaultDacl,
    TokenElevation, TokenGroups, TokenUser, DACL_SECURITY_INFORMATION, DISABLE_MAX_PRIVILEGE,
    LUA_TOKEN, OWNER_SECURITY_INFORMATION, SID_AND_ATTRIBUTES, TOKEN_ADJUST_DEFAULT,
    TOKEN_ASSIGN_PRIMARY, TOKEN_DEFAULT_DACL, TOKEN_DUPLICATE, TOKEN_ELEVATION, TOKEN_GROUPS,
    TOKEN_QUERY, TOKEN_USER, WRITE_RESTRICTED,
};
use windows::Win32::Storage::FileSystem::READ_CONTROL;
use windows::Win32::System::RemoteDesktop::{
    ProcessIdToSessionId, WTSDomainName, WTSFreeMemory, WTSQuerySessionInformationW, WTSUserName,
    WTS_INFO_CLASS,
};
use windows::Win32::System::Threading::{GetCurrentProcess, GetCurrentProcessId, OpenProcessToken};

const LAYER: &str = "windows-token";
/// `SE_GROUP_LOGON_ID`: the group that is this logon session's SID.
const SE_GROUP_LOGON_ID: u32 = 0xC000_0000;
/// LocalSystem.
const SYSTEM_SID: &str = "S-1-5-18";

/// A handle closed on drop.
pub(super) struct Owned(pub(super) HANDLE);

impl Drop for Owned {
    fn drop(&mut self) {
        if !self.0.is_invalid() {
            // SAFETY: the handle is owned here and closed once.
            let _ = unsafe { windows::Win32::Foundation::CloseHandle(self.0) };
        }
    }
}

/// This process's token, with the rights needed to restrict it.
fn own_token() -> Result<Owned, SandboxError> {
    let mut token = HANDLE::default();
    // SAFETY: the pseudo-handle of this process; `token` is a writable local.
    unsafe {
        OpenProcessToken(
            GetCurrentProcess(),
            TOKEN_DUPLICATE | TOKEN_QUERY | TOKEN_ASSIGN_PRIMARY | TOKEN_ADJUST_DEFAULT,
            &mut token,
        )
    }
    .map_err(|e| win_err(LAYER, "opening cordon's own token", &e))?;
    Ok(Owned(token))
}

/// A token information block, kept as raw bytes (u64-aligned).
fn information(
    token: HANDLE,
    class: windows::Win32::Security::TOKEN_INFORMATION_CLASS,
) -> Result<Vec<u64>, SandboxError> {
    let mut needed = 0u32;
    // SAFETY: a size query: no buffer, `needed` is a writable local.
    let _ = unsafe { GetTokenInformation(token, class, None, 0, &mut needed) };
    let mut buffer = vec![0u64; (needed as usize).div_ceil(8).max(1)];
    let size = u32::try_from(buffer.len() * 8).unwrap_or(u32::MAX);
    // SAFETY: `buffer` holds at least `size` bytes.
    unsafe {
        GetTokenInformation(
            token,
            class,
            Some(buffer.as_mut_ptr().cast()),
            size,
            &mut needed,
        )
    }
    .map_err(|e| win_err(LAYER, "reading the token's information", &e))?;
    Ok(buffer)
}

/// The token's logon SID (`S-1-5-5-X-Y`), as a string. (Whether each
/// `CreateProcessWithLogonW` call gets a fresh logon SID, which would keep
/// concurrent runs of one account apart, is unverified.)
fn logon_sid(token: HANDLE) -> Result<String, SandboxError> {
    let groups = information(token, TokenGroups)?;
    // SAFETY: the buffer holds a TOKEN_GROUPS followed by its entries; the
    // entries are addressed from the raw buffer pointer, not through the
    // one-element array, and read while `groups` is alive.
    let logon = unsafe {
        let header = groups.as_ptr().cast::<TOKEN_GROUPS>();
        let first = std::ptr::addr_of!((*header).Groups).cast::<SID_AND_ATTRIBUTES>();
        let entries = std::slice::from_raw_parts(first, (*header).GroupCount as usize);
        match entries
            .iter()
            .find(|g| g.Attributes & SE_GROUP_LOGON_ID == SE_GROUP_LOGON_ID)
        {
            Some(g) => Some(OwnedSid::string_of(g.Sid)?),
            None => None,
        }
    };
    logon.ok_or_else(|| SandboxError::Layer {
        layer: LAYER.into(),
        why: "the token has no logon SID, which the command's restricted token needs".into(),
        fix: "run cordon from an interactive logon session".into(),
    })
}

/// The token's user SID, as a string.
fn user_sid(token: HANDLE) -> Result<String, SandboxError> {
    let user = information(token, TokenUser)?;
    // SAFETY: the buffer holds a TOKEN_USER whose SID points into it; it is
    // printed while `user` is alive.
    OwnedSid::string_of(unsafe { (*user.as_ptr().cast::<TOKEN_USER>()).User.Sid })
}

/// Whether the token is elevated (`TokenElevation`).
fn elevated(token: HANDLE) -> Result<bool, SandboxError> {
    let info = information(token, TokenElevation)?;
    // SAFETY: the buffer holds a TOKEN_ELEVATION.
    Ok(unsafe { (*info.as_ptr().cast::<TOKEN_ELEVATION>()).TokenIsElevated } != 0)
}

/// This process's user SID.
pub(super) fn own_user_sid() -> Result<String, SandboxError> {
    user_sid(own_token()?.0)
}

/// Who runs setup (elevation, user) and for whom: the user of this
/// process's session, `for_user` resolved to a SID, the owner of
/// `cordon_home`, whether `state` or a directory above it is a reparse
/// point, and the sandbox accounts that exist. Only the token is needed
/// for uninstall (`for_setup` false).
pub(super) fn setup_caller(
    cordon_home: &std::path::Path,
    state: &std::path::Path,
    for_user: Option<&str>,
    for_setup: bool,
) -> Result<SetupCaller, SandboxError> {
    let token = own_token()?;
    let mut caller = SetupCaller {
        elevated: elevated(token.0)?,
        user_sid: user_sid(token.0)?,
        ..SetupCaller::default()
    };
    if !for_setup {
        return Ok(caller);
    }
    caller.session_user_sid = session_user_sid()?;
    caller.for_user_sid = for_user
        .map(|name| {
            super::accounts::sid_string(name).map_err(|_| SandboxError::Layer {
                layer: LAYER.into(),
                why: format!("--for-user {name}: no such account"),
                fix: "name a local or domain user (DOMAIN\\user or user)".into(),
            })
        })
        .transpose()?;
    caller.home_owner_sid = super::acl::owner_of(cordon_home)?;
    caller.home_reparse_point = state
        .ancestors()
        .find(|dir| is_reparse_point(dir))
        .map(|dir| dir.display().to_string());
    caller.sandbox_account_sids = super::account_sids();
    Ok(caller)
}

/// `FILE_ATTRIBUTE_REPARSE_POINT`: a junction, symbolic link or other
/// reparse point.
const FILE_ATTRIBUTE_REPARSE_POINT: u32 = 0x400;

fn is_reparse_point(path: &std::path::Path) -> bool {
    use std::os::windows::fs::MetadataExt;
    std::fs::symlink_metadata(path)
        .is_ok_and(|m| m.file_attributes() & FILE_ATTRIBUTE_REPARSE_POINT != 0)
}

/// One string of this session's information (`WTSQuerySessionInformationW`).
fn session_string(session: u32, class: WTS_INFO_CLASS) -> Option<String> {
    let mut buffer = PWSTR::null();
    let mut bytes = 0u32;
    // SAFETY: the local server (None) and a session id; the call allocates
    // `buffer`, freed below.
    unsafe { WTSQuerySessionInformationW(None, session, class, &mut buffer, &mut bytes) }.ok()?;
    if buffer.is_null() {
        return None;
    }
    // SAFETY: a NUL-terminated wide string from the call, read before it is freed.
    let text = unsafe { buffer.to_string() }.ok();
    // SAFETY: allocated by WTSQuerySessionInformationW, freed once.
    unsafe { WTSFreeMemory(buffer.0.cast()) };
    text
}

/// The SID of the user logged on to this process's session (after an
/// over-the-shoulder elevation: the standard user, not the administrator
/// whose token this is); `None` when the session has no user (services,
/// session 0). A user whose name does not resolve is an error: setup
/// must not fall back to the administrator for them.
fn session_user_sid() -> Result<Option<String>, SandboxError> {
    let mut session = 0u32;
    // SAFETY: this process's id; `session` is a writable local.
    if unsafe { ProcessIdToSessionId(GetCurrentProcessId(), &mut session) }.is_err() {
        return Ok(None);
    }
    let Some(user) = session_string(session, WTSUserName).filter(|u| !u.is_empty()) else {
        return Ok(None);
    };
    let name = match session_string(session, WTSDomainName).filter(|d| !d.is_empty()) {
        Some(domain) => format!("{domain}\\{user}"),
        None => user,
    };
    super::accounts::sid_string(&name)
        .map(Some)
        .map_err(|_| SandboxError::Layer {
            layer: LAYER.into(),
            why: format!("the user of this session, {name}, has no SID that setup could look up"),
            fix: "pass --for-user naming the user who runs cordon".into(),
        })
}

/// A DACL granting full access to each of `sids` (string forms), and
/// OWNER RIGHTS only `READ_CONTROL`: the owner's implicit `WRITE_DAC` is
/// gone, so another process of the same account cannot rewrite it.
fn full_access_dacl(sids: &[&str]) -> Result<OwnedAcl, SandboxError> {
    let mut grants: Vec<(&str, u32)> = sids.iter().map(|s| (*s, GENERIC_ALL.0)).collect();
    grants.push((OWNER_RIGHTS_SID, READ_CONTROL.0));
    OwnedAcl::granting_each(&grants)
}

/// A write-restricted copy of this process's token whose restricting SIDs
/// are `run_sid` and the token's logon SID ([`restricting_sids`]; never
/// Everyone), with administrator rights dropped when the token is
/// elevated (`LUA_TOKEN`), and whose new objects (pipes, events, child
/// processes) are open to the logon SID and the run SID, so the command
/// can reopen what it creates, and other runs cannot.
pub(super) fn restricted(run_sid: &str) -> Result<Owned, SandboxError> {
    let token = own_token()?;
    let logon = logon_sid(token.0)?;
    let sids = restricting_sids(run_sid, &logon)?;
    let parsed: Vec<OwnedSid> = sids
        .iter()
        .map(|s| OwnedSid::parse(s))
        .collect::<Result<_, _>>()?;
    let restrict: Vec<SID_AND_ATTRIBUTES> = parsed
        .iter()
        .map(|sid| SID_AND_ATTRIBUTES {
            Sid: sid.0,
            Attributes: 0,
        })
        .collect();
    let mut flags = DISABLE_MAX_PRIVILEGE | WRITE_RESTRICTED;
    if elevated(token.0)? {
        flags |= LUA_TOKEN;
    }
    let mut restricted = HANDLE::default();
    // SAFETY: `token` is live; `restrict` and `restricted` outlive the call.
    unsafe { CreateRestrictedToken(token.0, flags, None, None, Some(&restrict), &mut restricted) }
        .map_err(|e| win_err(LAYER, "creating the restricted token", &e))?;
    let restricted = Owned(restricted);
    let dacl = full_access_dacl(&[&logon, run_sid, SYSTEM_SID])?;
    let default = TOKEN_DEFAULT_DACL {
        DefaultDacl: dacl.0,
    };
    // SAFETY: `restricted` is live; `default` points at `dacl`, alive here.
    unsafe {
        SetTokenInformation(
            restricted.0,
            TokenDefaultDacl,
            std::ptr::from_ref(&default).cast(),
            u32::try_from(std::mem::size_of::<TOKEN_DEFAULT_DACL>()).unwrap_or(0),
        )
    }
    .map_err(|e| win_err(LAYER, "setting the restricted token's default DACL", &e))?;
    Ok(restricted)
}

/// Gives `process` (cordon's suspended runner) cordon's user as its owner
/// and a DACL that admits only SYSTEM and that user (OWNER RIGHTS limited
/// to `READ_CONTROL`), before it runs: another run of the sandbox account
/// cannot open it to read its memory or environment (which holds the proxy
/// token), nor, as it is no longer the owner, rewrite the DACL. The runner
/// itself still uses its pseudo-handle, which the DACL does not limit.
pub(super) fn protect_process(process: HANDLE) -> Result<(), SandboxError> {
    let me = own_user_sid()?;
    let owner = OwnedSid::parse(&me)?;
    let dacl = full_access_dacl(&[&me, SYSTEM_SID])?;
    // SAFETY: `process` is a live handle with WRITE_DAC and WRITE_OWNER
    // (from process creation); the owner SID (cordon's own user, which its
    // token may assign) and the DACL are alive for the call.
    let status = unsafe {
        SetSecurityInfo(
            process,
            SE_KERNEL_OBJECT,
            DACL_SECURITY_INFORMATION | OWNER_SECURITY_INFORMATION,
            Some(owner.0),
            None,
            Some(dacl.0),
            None,
        )
    };
    if status.is_err() {
        return Err(super::code_err(
            LAYER,
            "closing the runner's process to other runs",
            status.0,
        ));
    }
    Ok(())
}
