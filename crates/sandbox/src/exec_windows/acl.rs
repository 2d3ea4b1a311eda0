//! ACL grants and denies for the sandbox identity.

use super::{accounts, code_err, win_err};
use crate::plan::windows::{AclAccess, AclEntry};
use crate::SandboxError;
use windows::core::{HSTRING, PWSTR};
use windows::Win32::Foundation::{LocalFree, HLOCAL};
use windows::Win32::Security::Authorization::{
    ConvertStringSidToSidW, GetNamedSecurityInfoW, SetEntriesInAclW, SetNamedSecurityInfoW,
    ACCESS_MODE, DENY_ACCESS, EXPLICIT_ACCESS_W, GRANT_ACCESS, NO_MULTIPLE_TRUSTEE, REVOKE_ACCESS,
    SE_FILE_OBJECT, TRUSTEE_IS_SID, TRUSTEE_IS_UNKNOWN, TRUSTEE_W,
};
use windows::Win32::Security::{
    ACE_FLAGS, ACL, DACL_SECURITY_INFORMATION, PSECURITY_DESCRIPTOR, PSID,
    SUB_CONTAINERS_AND_OBJECTS_INHERIT,
};
use windows::Win32::Storage::FileSystem::{
    DELETE, FILE_APPEND_DATA, FILE_DELETE_CHILD, FILE_GENERIC_EXECUTE, FILE_GENERIC_READ,
    FILE_GENERIC_WRITE, FILE_WRITE_ATTRIBUTES, FILE_WRITE_DATA, FILE_WRITE_EA, WRITE_DAC,
    WRITE_OWNER,
};

const LAYER: &str = "acl";

/// A SID parsed from its string form, freed on drop.
pub(super) struct OwnedSid(pub(super) PSID);

impl OwnedSid {
    pub(super) fn parse(sid: &str) -> Result<Self, SandboxError> {
        let mut psid = PSID::default();
        // SAFETY: the call allocates `psid` with LocalAlloc; freed on drop.
        unsafe { ConvertStringSidToSidW(&HSTRING::from(sid), &mut psid) }
            .map_err(|e| win_err(LAYER, &format!("parsing SID {sid}"), &e))?;
        Ok(OwnedSid(psid))
    }
}

impl Drop for OwnedSid {
    fn drop(&mut self) {
        // SAFETY: allocated by ConvertStringSidToSidW and freed once.
        unsafe { LocalFree(Some(HLOCAL(self.0 .0))) };
    }
}

/// A fresh capability SID for one restricted-token run.
pub(super) fn new_capability_sid() -> Result<String, SandboxError> {
    let bytes = accounts::random_bytes::<16>()?;
    let parts: Vec<String> = bytes
        .chunks_exact(4)
        .map(|c| u32::from_le_bytes([c[0], c[1], c[2], c[3]]).to_string())
        .collect();
    Ok(format!("S-1-15-3-1024-{}", parts.join("-")))
}

/// The access mask and mode for an entry. Modify leaves out
/// `FILE_DELETE_CHILD`, so a denied `.git` cannot be renamed away through
/// its parent.
fn mask(access: AclAccess) -> (u32, ACCESS_MODE) {
    match access {
        AclAccess::ReadExecute => ((FILE_GENERIC_READ | FILE_GENERIC_EXECUTE).0, GRANT_ACCESS),
        AclAccess::Modify => (
            (FILE_GENERIC_READ | FILE_GENERIC_WRITE | FILE_GENERIC_EXECUTE | DELETE).0,
            GRANT_ACCESS,
        ),
        AclAccess::DenyWrite => (
            (FILE_WRITE_DATA
                | FILE_APPEND_DATA
                | FILE_WRITE_EA
                | FILE_WRITE_ATTRIBUTES
                | DELETE
                | FILE_DELETE_CHILD
                | WRITE_DAC
                | WRITE_OWNER)
                .0,
            DENY_ACCESS,
        ),
    }
}

/// Merges one entry for `sid` into the DACL of `path`.
fn set_entry(
    path: &std::path::Path,
    sid: &OwnedSid,
    permissions: u32,
    mode: ACCESS_MODE,
) -> Result<(), SandboxError> {
    let name = HSTRING::from(path.as_os_str());
    let step = format!("changing the ACL of {}", path.display());
    let inheritance = if path.is_dir() {
        SUB_CONTAINERS_AND_OBJECTS_INHERIT
    } else {
        ACE_FLAGS(0)
    };
    let mut old: *mut ACL = std::ptr::null_mut();
    let mut descriptor = PSECURITY_DESCRIPTOR::default();
    // SAFETY: out-pointers to locals; the descriptor (which owns `old`) is
    // freed below.
    let status = unsafe {
        GetNamedSecurityInfoW(
            &name,
            SE_FILE_OBJECT,
            DACL_SECURITY_INFORMATION,
            None,
            None,
            Some(&mut old),
            None,
            &mut descriptor,
        )
    };
    if status.is_err() {
        return Err(code_err(LAYER, &step, status.0));
    }
    let entry = EXPLICIT_ACCESS_W {
        grfAccessPermissions: permissions,
        grfAccessMode: mode,
        grfInheritance: inheritance,
        Trustee: TRUSTEE_W {
            pMultipleTrustee: std::ptr::null_mut(),
            MultipleTrusteeOperation: NO_MULTIPLE_TRUSTEE,
            TrusteeForm: TRUSTEE_IS_SID,
            TrusteeType: TRUSTEE_IS_UNKNOWN,
            ptstrName: PWSTR(sid.0 .0.cast()),
        },
    };
    let mut new: *mut ACL = std::ptr::null_mut();
    // SAFETY: `old` points into `descriptor`, still alive; the call
    // allocates `new` with LocalAlloc.
    let status = unsafe { SetEntriesInAclW(Some(&[entry]), Some(old), &mut new) };
    let result = if status.is_err() {
        Err(code_err(LAYER, &step, status.0))
    } else {
        // SAFETY: `new` is a valid ACL from SetEntriesInAclW.
        let status = unsafe {
            SetNamedSecurityInfoW(
                &name,
                SE_FILE_OBJECT,
                DACL_SECURITY_INFORMATION,
                None,
                None,
                Some(new),
                None,
            )
        };
        if status.is_err() {
            Err(code_err(LAYER, &step, status.0))
        } else {
            Ok(())
        }
    };
    // SAFETY: both were allocated with LocalAlloc by the calls above
    // (null when a call failed, which LocalFree accepts); each is freed once.
    unsafe {
        LocalFree(Some(HLOCAL(new.cast())));
        LocalFree(Some(HLOCAL(descriptor.0)));
    }
    result
}

/// Applies the entries for `sid`, in order (grants, then denies).
pub(super) fn apply(sid: &str, entries: &[&AclEntry]) -> Result<(), SandboxError> {
    let sid = OwnedSid::parse(sid)?;
    for entry in entries {
        let (permissions, mode) = mask(entry.access);
        set_entry(&entry.path, &sid, permissions, mode)?;
    }
    Ok(())
}

/// Removes every entry naming `sid` from the paths (after a
/// restricted-token run); tries every path and reports the first failure.
pub(super) fn revoke(sid: &str, entries: &[&AclEntry]) -> Result<(), SandboxError> {
    let sid = OwnedSid::parse(sid)?;
    let mut first = None;
    for entry in entries {
        if let Err(e) = set_entry(&entry.path, &sid, 0, REVOKE_ACCESS) {
            first.get_or_insert(e);
        }
    }
    first.map_or(Ok(()), Err)
}
