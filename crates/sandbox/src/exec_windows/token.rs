//! Tokens and object DACLs: the write-restricted token the command runs
//! with, the default DACL its objects get, and the runner's own DACL.

use super::acl::{OwnedAcl, OwnedSid};
use super::win_err;
use crate::SandboxError;
use windows::Win32::Foundation::{GENERIC_ALL, HANDLE};
use windows::Win32::Security::Authorization::{SetSecurityInfo, SE_KERNEL_OBJECT};
use windows::Win32::Security::{
    CreateRestrictedToken, GetTokenInformation, SetTokenInformation, TokenDefaultDacl, TokenGroups,
    TokenUser, DACL_SECURITY_INFORMATION, DISABLE_MAX_PRIVILEGE, SID_AND_ATTRIBUTES,
    TOKEN_ADJUST_DEFAULT, TOKEN_ASSIGN_PRIMARY, TOKEN_DEFAULT_DACL, TOKEN_DUPLICATE, TOKEN_GROUPS,
    TOKEN_QUERY, TOKEN_USER, WRITE_RESTRICTED,
};
use windows::Win32::System::Threading::{GetCurrentProcess, OpenProcessToken};

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

/// The SID standing for this run in new objects' DACLs: the token's logon
/// SID, else its user; as its string form. (Whether each
/// `CreateProcessWithLogonW` call gets a fresh logon SID, which would keep
/// concurrent runs of one account apart, is unverified.)
fn session_sid(token: HANDLE) -> Result<String, SandboxError> {
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
    if let Some(sid) = logon {
        return Ok(sid);
    }
    let user = information(token, TokenUser)?;
    // SAFETY: the buffer holds a TOKEN_USER whose SID points into it; it is
    // printed while `user` is alive.
    let sid = unsafe { (*user.as_ptr().cast::<TOKEN_USER>()).User.Sid };
    OwnedSid::string_of(sid)
}

/// A DACL granting full access to each of `sids` (string forms).
fn full_access_dacl(sids: &[&str]) -> Result<OwnedAcl, SandboxError> {
    OwnedAcl::granting(sids, GENERIC_ALL.0)
}

/// A write-restricted copy of this process's token whose only restricting
/// SID is `capability_sid`, and whose new objects (pipes, events, child
/// processes) are open to this run's session SID and the capability SID,
/// so the command can reopen what it creates, and other runs cannot.
pub(super) fn restricted(capability_sid: &str) -> Result<Owned, SandboxError> {
    let token = own_token()?;
    let sid = OwnedSid::parse(capability_sid)?;
    let restrict = [SID_AND_ATTRIBUTES {
        Sid: sid.0,
        Attributes: 0,
    }];
    let mut restricted = HANDLE::default();
    // SAFETY: `token` is live; `restrict` and `restricted` outlive the call.
    unsafe {
        CreateRestrictedToken(
            token.0,
            DISABLE_MAX_PRIVILEGE | WRITE_RESTRICTED,
            None,
            None,
            Some(&restrict),
            &mut restricted,
        )
    }
    .map_err(|e| win_err(LAYER, "creating the restricted token", &e))?;
    let restricted = Owned(restricted);
    let session = session_sid(token.0)?;
    let dacl = full_access_dacl(&[&session, capability_sid, SYSTEM_SID])?;
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

/// Gives `process` (cordon's suspended runner) a DACL that admits only
/// SYSTEM and cordon's own user, before it runs: another run of the
/// sandbox account cannot open it to read its memory or environment (which
/// holds the proxy token). The runner itself still uses its pseudo-handle,
/// which the DACL does not limit.
pub(super) fn protect_process(process: HANDLE) -> Result<(), SandboxError> {
    let token = own_token()?;
    let user = information(token.0, TokenUser)?;
    // SAFETY: the buffer holds a TOKEN_USER whose SID points into it; it is
    // printed while `user` is alive.
    let me = OwnedSid::string_of(unsafe { (*user.as_ptr().cast::<TOKEN_USER>()).User.Sid })?;
    let dacl = full_access_dacl(&[&me, SYSTEM_SID])?;
    // SAFETY: `process` is a live handle with WRITE_DAC (from process
    // creation); the DACL is alive for the call.
    let status = unsafe {
        SetSecurityInfo(
            process,
            SE_KERNEL_OBJECT,
            DACL_SECURITY_INFORMATION,
            None,
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
