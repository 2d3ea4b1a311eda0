//! ACL grants and denies for the sandbox identity and the run's
//! capability SID, and their removal after the run.

use super::{accounts, code_err, win_err};
use crate::plan::windows::{AclAccess, AclEntry};
use crate::SandboxError;
use windows::core::{HSTRING, PWSTR};
use windows::Win32::Foundation::{CloseHandle, LocalFree, HLOCAL, WAIT_ABANDONED, WAIT_OBJECT_0};
use windows::Win32::Security::Authorization::{
    ConvertSidToStringSidW, ConvertStringSidToSidW, GetNamedSecurityInfoW, SetEntriesInAclW,
    SetNamedSecurityInfoW, ACCESS_MODE, DENY_ACCESS, EXPLICIT_ACCESS_W, GRANT_ACCESS,
    NO_MULTIPLE_TRUSTEE, SE_FILE_OBJECT, TRUSTEE_IS_SID, TRUSTEE_IS_UNKNOWN, TRUSTEE_W,
};
use windows::Win32::Security::{
    DeleteAce, EqualSid, GetAce, ACE_FLAGS, ACE_HEADER, ACL, DACL_SECURITY_INFORMATION,
    INHERITED_ACE, NO_INHERITANCE, PSECURITY_DESCRIPTOR, PSID, SUB_CONTAINERS_AND_OBJECTS_INHERIT,
};
use windows::Win32::Storage::FileSystem::{
    DELETE, FILE_APPEND_DATA, FILE_DELETE_CHILD, FILE_GENERIC_EXECUTE, FILE_GENERIC_READ,
    FILE_GENERIC_WRITE, FILE_WRITE_ATTRIBUTES, FILE_WRITE_DATA, FILE_WRITE_EA, WRITE_DAC,
    WRITE_OWNER,
};
use windows::Win32::System::Threading::{
    CreateMutexW, ReleaseMutex, WaitForSingleObject, INFINITE,
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

impl OwnedSid {
    /// The string form (`S-1-...`) of a SID owned elsewhere.
    pub(super) fn string_of(sid: PSID) -> Result<String, SandboxError> {
        let mut text = PWSTR::null();
        // SAFETY: `sid` is a valid SID; the call allocates `text` with
        // LocalAlloc, freed below.
        unsafe { ConvertSidToStringSidW(sid, &mut text) }
            .map_err(|e| win_err(LAYER, "printing a SID", &e))?;
        // SAFETY: a NUL-terminated string from the call above.
        let out = unsafe { text.to_string() };
        // SAFETY: allocated by ConvertSidToStringSidW, freed once.
        unsafe { LocalFree(Some(HLOCAL(text.0.cast()))) };
        out.map_err(|e| SandboxError::Io {
            context: "printing a SID".into(),
            source: std::io::Error::other(e),
        })
    }
}

impl Drop for OwnedSid {
    fn drop(&mut self) {
        // SAFETY: allocated by ConvertStringSidToSidW and freed once.
        unsafe { LocalFree(Some(HLOCAL(self.0 .0))) };
    }
}

/// Runs `f` holding a session-wide mutex, so that concurrent runs' ACL
/// changes (each a read, an edit and a write of a whole DACL) do not undo
/// one another.
pub(super) fn locked<T>(f: impl FnOnce() -> Result<T, SandboxError>) -> Result<T, SandboxError> {
    // SAFETY: a named mutex with default security; the handle is closed
    // below.
    let mutex = unsafe { CreateMutexW(None, false, &HSTRING::from(ACL_MUTEX)) }
        .map_err(|e| win_err(LAYER, "opening cordon's ACL lock", &e))?;
    // SAFETY: a live mutex handle.
    let waited = unsafe { WaitForSingleObject(mutex, INFINITE) };
    // WAIT_ABANDONED: a run died holding it; the DACLs it touched are
    // whole (each write is one call), so carry on.
    let result = if waited == WAIT_OBJECT_0 || waited == WAIT_ABANDONED {
        let result = f();
        // SAFETY: owned by this thread after the wait.
        let _ = unsafe { ReleaseMutex(mutex) };
        result
    } else {
        Err(SandboxError::Layer {
            layer: LAYER.into(),
            why: "waiting for cordon's ACL lock failed".into(),
            fix: "try again; if it persists, report it".into(),
        })
    };
    // SAFETY: the handle from CreateMutexW, closed once.
    let _ = unsafe { CloseHandle(mutex) };
    result
}

/// The name of that mutex (per logon session).
const ACL_MUTEX: &str = "Local\\cordon-sandbox-acl";

/// An ACL built by `SetEntriesInAclW`, freed on drop.
pub(super) struct OwnedAcl(pub(super) *mut ACL);

impl OwnedAcl {
    /// An ACL granting `mask` (not inherited) to each of `sids`.
    pub(super) fn granting(sids: &[&str], mask: u32) -> Result<Self, SandboxError> {
        let parsed: Vec<OwnedSid> = sids
            .iter()
            .map(|s| OwnedSid::parse(s))
            .collect::<Result<_, _>>()?;
        let entries: Vec<EXPLICIT_ACCESS_W> = parsed
            .iter()
            .map(|sid| explicit(sid, mask, GRANT_ACCESS, NO_INHERITANCE))
            .collect();
        let mut acl: *mut ACL = std::ptr::null_mut();
        // SAFETY: the entries point at SIDs alive across the call, which
        // allocates `acl` with LocalAlloc (freed on drop).
        let status = unsafe { SetEntriesInAclW(Some(&entries), None, &mut acl) };
        if status.is_err() {
            return Err(code_err(LAYER, "building a DACL", status.0));
        }
        Ok(OwnedAcl(acl))
    }
}

impl Drop for OwnedAcl {
    fn drop(&mut self) {
        // SAFETY: allocated by SetEntriesInAclW and freed once.
        unsafe { LocalFree(Some(HLOCAL(self.0.cast()))) };
    }
}

fn explicit(sid: &OwnedSid, mask: u32, mode: ACCESS_MODE, inherit: ACE_FLAGS) -> EXPLICIT_ACCESS_W {
    EXPLICIT_ACCESS_W {
        grfAccessPermissions: mask,
        grfAccessMode: mode,
        grfInheritance: inherit,
        Trustee: TRUSTEE_W {
            pMultipleTrustee: std::ptr::null_mut(),
            MultipleTrusteeOperation: NO_MULTIPLE_TRUSTEE,
            TrusteeForm: TRUSTEE_IS_SID,
            TrusteeType: TRUSTEE_IS_UNKNOWN,
            ptstrName: PWSTR(sid.0 .0.cast()),
        },
    }
}

/// A fresh capability SID for one run.
pub(super) fn new_capability_sid() -> Result<String, SandboxError> {
    let bytes = accounts::random_bytes::<16>()?;
    let parts: Vec<String> = bytes
        .chunks_exact(4)
        .map(|c| u32::from_le_bytes([c[0], c[1], c[2], c[3]]).to_string())
        .collect();
    Ok(format!("S-1-15-3-1024-{}", parts.join("-")))
}

/// The access mask, mode and whether it is inherited, for an entry.
/// Modify leaves out `FILE_DELETE_CHILD`, so a denied `.git` cannot be
/// renamed away through its parent.
fn mask(access: AclAccess) -> (u32, ACCESS_MODE, bool) {
    match access {
        AclAccess::ReadExecute => (
            (FILE_GENERIC_READ | FILE_GENERIC_EXECUTE).0,
            GRANT_ACCESS,
            true,
        ),
        AclAccess::Modify => (
            (FILE_GENERIC_READ | FILE_GENERIC_WRITE | FILE_GENERIC_EXECUTE | DELETE).0,
            GRANT_ACCESS,
            true,
        ),
        // This directory only: it cannot be renamed or removed, while what
        // is inside stays as the other entries say.
        AclAccess::DenyDelete => (DELETE.0, DENY_ACCESS, false),
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
            true,
        ),
    }
}

/// A file's security descriptor as read, holding its DACL; freed on drop.
struct FileDacl {
    name: HSTRING,
    descriptor: PSECURITY_DESCRIPTOR,
    /// Points into `descriptor` (null: no DACL).
    dacl: *mut ACL,
}

impl FileDacl {
    fn read(path: &std::path::Path, step: &str) -> Result<Self, SandboxError> {
        let mut out = FileDacl {
            name: HSTRING::from(path.as_os_str()),
            descriptor: PSECURITY_DESCRIPTOR::default(),
            dacl: std::ptr::null_mut(),
        };
        // SAFETY: out-pointers into `out`; the descriptor (which owns the
        // DACL) is freed on drop.
        let status = unsafe {
            GetNamedSecurityInfoW(
                &out.name,
                SE_FILE_OBJECT,
                DACL_SECURITY_INFORMATION,
                None,
                None,
                Some(&mut out.dacl),
                None,
                &mut out.descriptor,
            )
        };
        if status.is_err() {
            return Err(code_err(LAYER, step, status.0));
        }
        Ok(out)
    }

    /// Writes `dacl` as the file's DACL (inherited entries below follow).
    fn write(&self, dacl: *const ACL, step: &str) -> Result<(), SandboxError> {
        // SAFETY: `dacl` is a valid ACL for the duration of the call.
        let status = unsafe {
            SetNamedSecurityInfoW(
                &self.name,
                SE_FILE_OBJECT,
                DACL_SECURITY_INFORMATION,
                None,
                None,
                Some(dacl),
                None,
            )
        };
        if status.is_err() {
            return Err(code_err(LAYER, step, status.0));
        }
        Ok(())
    }
}

impl Drop for FileDacl {
    fn drop(&mut self) {
        // SAFETY: allocated by GetNamedSecurityInfoW (or null), freed once.
        unsafe { LocalFree(Some(HLOCAL(self.descriptor.0))) };
    }
}

/// Merges one entry for `sid` into the DACL of `path`.
fn set_entry(
    path: &std::path::Path,
    sid: &OwnedSid,
    access: AclAccess,
) -> Result<(), SandboxError> {
    let (permissions, mode, inherit) = mask(access);
    let step = format!("changing the ACL of {}", path.display());
    let inheritance = if inherit && path.is_dir() {
        SUB_CONTAINERS_AND_OBJECTS_INHERIT
    } else {
        ACE_FLAGS(0)
    };
    let file = FileDacl::read(path, &step)?;
    let entry = explicit(sid, permissions, mode, inheritance);
    let mut new: *mut ACL = std::ptr::null_mut();
    // SAFETY: `file.dacl` points into its descriptor, still alive; the
    // call allocates `new` with LocalAlloc, freed below.
    let status = unsafe { SetEntriesInAclW(Some(&[entry]), Some(file.dacl), &mut new) };
    if status.is_err() {
        return Err(code_err(LAYER, &step, status.0));
    }
    let result = file.write(new, &step);
    // SAFETY: allocated by SetEntriesInAclW, freed once.
    unsafe { LocalFree(Some(HLOCAL(new.cast()))) };
    result
}

/// Applies the entries for `sid`, in order (grants, then denies).
pub(super) fn apply(sid: &str, entries: &[&AclEntry]) -> Result<(), SandboxError> {
    let sid = OwnedSid::parse(sid)?;
    for entry in entries {
        set_entry(&entry.path, &sid, entry.access)?;
    }
    Ok(())
}

/// Like [`apply`] for one read grant that may fail: when cordon may not
/// change the file's ACL, the file is left as it is.
pub(super) fn try_grant_read(sid: &str, path: &std::path::Path) -> Result<(), SandboxError> {
    let sid = OwnedSid::parse(sid)?;
    // A failure shows later, and is explained, if the account cannot
    // start the runner.
    let _ = set_entry(path, &sid, AclAccess::ReadExecute);
    Ok(())
}

/// Access-allowed and access-denied ACE types (the only kinds set here).
const ACCESS_ALLOWED_ACE_TYPE: u8 = 0;
const ACCESS_DENIED_ACE_TYPE: u8 = 1;
/// Where the SID starts in those ACEs: after the header and the mask.
const ACE_SID_OFFSET: usize = 8;

/// Removes every explicit allow and deny entry naming `sid` from the DACL
/// of `path` (revoking would leave the denies; inherited copies below go
/// with their source).
fn remove_sid(path: &std::path::Path, sid: &OwnedSid) -> Result<(), SandboxError> {
    let step = format!(
        "removing the run's entries from the ACL of {}",
        path.display()
    );
    let file = FileDacl::read(path, &step)?;
    let dacl = file.dacl;
    if dacl.is_null() {
        return Ok(());
    }
    let mut removed = false;
    // SAFETY: `dacl` is a valid ACL inside the descriptor `file` owns; ACEs
    // are read through GetAce and deleted from the end, so indices stay
    // valid.
    unsafe {
        for index in (0..u32::from((*dacl).AceCount)).rev() {
            let mut ace: *mut core::ffi::c_void = std::ptr::null_mut();
            if GetAce(dacl, index, &mut ace).is_err() {
                continue;
            }
            let header = &*ace.cast::<ACE_HEADER>();
            let kind_matches = header.AceType == ACCESS_ALLOWED_ACE_TYPE
                || header.AceType == ACCESS_DENIED_ACE_TYPE;
            let inherited = u32::from(header.AceFlags) & INHERITED_ACE.0 != 0;
            if !kind_matches || inherited {
                continue;
            }
            let ace_sid = PSID(ace.cast::<u8>().add(ACE_SID_OFFSET).cast());
            if EqualSid(ace_sid, sid.0).is_ok() {
                DeleteAce(dacl, index).map_err(|e| win_err(LAYER, &step, &e))?;
                removed = true;
            }
        }
    }
    if removed {
        // Entries were only removed: still a valid ACL.
        file.write(dacl, &step)?;
    }
    Ok(())
}

/// Removes every entry naming `sid` from the paths (after a run); tries
/// every path and reports the first failure.
pub(super) fn revoke(sid: &str, entries: &[&AclEntry]) -> Result<(), SandboxError> {
    let sid = OwnedSid::parse(sid)?;
    let mut paths: Vec<&std::path::Path> = entries.iter().map(|e| e.path.as_path()).collect();
    paths.sort();
    paths.dedup();
    let mut first = None;
    for path in paths {
        if let Err(e) = remove_sid(path, &sid) {
            first.get_or_insert(e);
        }
    }
    first.map_or(Ok(()), Err)
}
