//! ACL grants and denies for the sandbox identity and the run's
//! per-run restricting SID, and their removal after the run.

use super::{accounts, code_err, win_err};
use crate::plan::windows::{run_sid, AclAccess, AclEntry};
use crate::SandboxError;
use windows::core::{HSTRING, PWSTR};
use windows::Win32::Foundation::{
    CloseHandle, GetLastError, LocalFree, ERROR_ALREADY_EXISTS, HANDLE, HLOCAL, WAIT_ABANDONED,
    WAIT_OBJECT_0,
};
use windows::Win32::Security::Authorization::{
    ConvertSidToStringSidW, ConvertStringSecurityDescriptorToSecurityDescriptorW,
    ConvertStringSidToSidW, GetNamedSecurityInfoW, GetSecurityInfo, SetEntriesInAclW,
    SetNamedSecurityInfoW, SetSecurityInfo, ACCESS_MODE, DENY_ACCESS, EXPLICIT_ACCESS_W,
    GRANT_ACCESS, NO_MULTIPLE_TRUSTEE, SDDL_REVISION_1, SE_FILE_OBJECT, SE_KERNEL_OBJECT,
    SE_OBJECT_TYPE, TRUSTEE_IS_SID, TRUSTEE_IS_UNKNOWN, TRUSTEE_W,
};
use windows::Win32::Security::{
    DeleteAce, EqualSid, GetAce, ACE_FLAGS, ACE_HEADER, ACL, DACL_SECURITY_INFORMATION,
    INHERITED_ACE, NO_INHERITANCE, OWNER_SECURITY_INFORMATION, PSECURITY_DESCRIPTOR, PSID,
    SECURITY_ATTRIBUTES, SUB_CONTAINERS_AND_OBJECTS_INHERIT,
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

/// Runs `f` holding a machine-wide mutex (`Global\\`), so that
/// concurrent runs' ACL changes (each a read, an edit and a write of a
/// whole DACL), from any logon session, do not undo one another.
/// `deny_sids` (the sandbox accounts) are denied every access to the
/// mutex, so a command running as one of them cannot open it, not even
/// for `SYNCHRONIZE`, to hold it. A mutex that already exists must not be
/// owned by one of them (a squatter).
pub(super) fn locked<T>(
    deny_sids: &[String],
    f: impl FnOnce() -> Result<T, SandboxError>,
) -> Result<T, SandboxError> {
    let mut sddl = String::from("D:P");
    for sid in deny_sids {
        sddl.push_str(&format!("(D;;GA;;;{sid})"));
    }
    // SYSTEM and Administrators fully; other signed-in users (each
    // running cordon) may wait on it and release it.
    sddl.push_str("(A;;GA;;;SY)(A;;GA;;;BA)(A;;0x1F0001;;;AU)");
    let descriptor = OwnedDescriptor::from_sddl(&sddl)?;
    let attributes = SECURITY_ATTRIBUTES {
        nLength: u32::try_from(std::mem::size_of::<SECURITY_ATTRIBUTES>()).unwrap_or(0),
        lpSecurityDescriptor: descriptor.0 .0,
        bInheritHandle: false.into(),
    };
    // SAFETY: a named mutex with the descriptor above (alive across the
    // call); the handle is closed below.
    let mutex = unsafe { CreateMutexW(Some(&attributes), false, &HSTRING::from(ACL_MUTEX)) }
        .map_err(|e| win_err(LAYER, "opening cordon's ACL lock", &e))?;
    // SAFETY: read right after the call, on this thread.
    let existed = unsafe { GetLastError() } == ERROR_ALREADY_EXISTS;
    let owner_check = if existed {
        check_mutex_owner(mutex, deny_sids)
    } else {
        Ok(())
    };
    let result = owner_check.and_then(|()| {
        // SAFETY: a live mutex handle.
        let waited = unsafe { WaitForSingleObject(mutex, INFINITE) };
        // WAIT_ABANDONED: a run died holding it; the DACLs it touched are
        // whole (each write is one call), so carry on.
        if waited == WAIT_OBJECT_0 || waited == WAIT_ABANDONED {
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
        }
    });
    // SAFETY: the handle from CreateMutexW, closed once.
    let _ = unsafe { CloseHandle(mutex) };
    result
}

/// Refuses a lock whose owner is one of `deny_sids`.
fn check_mutex_owner(mutex: HANDLE, deny_sids: &[String]) -> Result<(), SandboxError> {
    let mut owner = PSID::default();
    let mut descriptor = PSECURITY_DESCRIPTOR::default();
    // SAFETY: out-pointers to locals; the descriptor is freed below.
    let status = unsafe {
        GetSecurityInfo(
            mutex,
            SE_KERNEL_OBJECT,
            OWNER_SECURITY_INFORMATION,
            Some(&mut owner),
            None,
            None,
            None,
            Some(&mut descriptor),
        )
    };
    if status.is_err() {
        return Err(code_err(
            LAYER,
            "reading the owner of cordon's ACL lock",
            status.0,
        ));
    }
    let text = OwnedSid::string_of(owner);
    // SAFETY: allocated by GetSecurityInfo, freed once (`owner` points into it).
    unsafe { LocalFree(Some(HLOCAL(descriptor.0))) };
    let text = text?;
    if deny_sids.iter().any(|s| s.eq_ignore_ascii_case(&text)) {
        return Err(SandboxError::Layer {
            layer: LAYER.into(),
            why: format!("cordon's ACL lock {ACL_MUTEX} was created by the sandbox account {text}"),
            fix: "end the processes of the cordon sandbox accounts (or restart Windows) and run again".into(),
        });
    }
    Ok(())
}

/// The name of that mutex (one for the machine).
const ACL_MUTEX: &str = "Global\\cordon-sandbox-acl";

/// A security descriptor from SDDL, freed on drop.
pub(super) struct OwnedDescriptor(pub(super) PSECURITY_DESCRIPTOR);

impl OwnedDescriptor {
    /// Parses `sddl`.
    pub(super) fn from_sddl(sddl: &str) -> Result<Self, SandboxError> {
        let mut sd = PSECURITY_DESCRIPTOR::default();
        // SAFETY: the call allocates `sd` with LocalAlloc (freed on drop).
        unsafe {
            ConvertStringSecurityDescriptorToSecurityDescriptorW(
                &HSTRING::from(sddl),
                SDDL_REVISION_1,
                &mut sd,
                None,
            )
        }
        .map_err(|e| win_err(LAYER, &format!("building the descriptor {sddl}"), &e))?;
        Ok(OwnedDescriptor(sd))
    }
}

impl Drop for OwnedDescriptor {
    fn drop(&mut self) {
        // SAFETY: allocated by ConvertStringSecurityDescriptorToSecurityDescriptorW.
        unsafe { LocalFree(Some(HLOCAL(self.0 .0))) };
    }
}

/// An ACL built by `SetEntriesInAclW`, freed on drop.
pub(super) struct OwnedAcl(pub(super) *mut ACL);

impl OwnedAcl {
    /// An ACL granting each SID its own mask (not inherited).
    pub(super) fn granting_each(grants: &[(&str, u32)]) -> Result<Self, SandboxError> {
        let parsed: Vec<(OwnedSid, u32)> = grants
            .iter()
            .map(|(s, m)| OwnedSid::parse(s).map(|sid| (sid, *m)))
            .collect::<Result<_, _>>()?;
        let entries: Vec<EXPLICIT_ACCESS_W> = parsed
            .iter()
            .map(|(sid, mask)| explicit(sid, *mask, GRANT_ACCESS, NO_INHERITANCE))
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

/// A fresh per-run SID (`S-1-5-21-...`, see [`run_sid`]).
pub(super) fn new_run_sid() -> Result<String, SandboxError> {
    Ok(run_sid(accounts::random_bytes::<16>()?))
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

/// Removes every explicit entry naming `sid` from one path.
pub(super) fn revoke_path(sid: &str, path: &std::path::Path) -> Result<(), SandboxError> {
    remove_sid(path, &OwnedSid::parse(sid)?)
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

/// Adds an entry granting `mask` to `sid` on a kernel or window object
/// (`kind`), merged into its DACL.
pub(super) fn grant_on_object(
    handle: HANDLE,
    kind: SE_OBJECT_TYPE,
    sid: &str,
    mask: u32,
    what: &str,
) -> Result<(), SandboxError> {
    let step = format!("granting {sid} access to {what}");
    let sid = OwnedSid::parse(sid)?;
    let mut dacl: *mut ACL = std::ptr::null_mut();
    let mut descriptor = PSECURITY_DESCRIPTOR::default();
    // SAFETY: out-pointers to locals; the descriptor (owning `dacl`) is freed below.
    let status = unsafe {
        GetSecurityInfo(
            handle,
            kind,
            DACL_SECURITY_INFORMATION,
            None,
            None,
            Some(&mut dacl),
            None,
            Some(&mut descriptor),
        )
    };
    if status.is_err() {
        return Err(code_err(LAYER, &step, status.0));
    }
    let entry = explicit(&sid, mask, GRANT_ACCESS, NO_INHERITANCE);
    let mut new: *mut ACL = std::ptr::null_mut();
    // SAFETY: `dacl` points into the live descriptor; `new` is allocated.
    let status = unsafe { SetEntriesInAclW(Some(&[entry]), Some(dacl), &mut new) };
    // SAFETY: allocated by GetSecurityInfo, freed once; `dacl` is not used after.
    unsafe { LocalFree(Some(HLOCAL(descriptor.0))) };
    if status.is_err() {
        return Err(code_err(LAYER, &step, status.0));
    }
    // SAFETY: a valid ACL, alive across the call.
    let status = unsafe {
        SetSecurityInfo(
            handle,
            kind,
            DACL_SECURITY_INFORMATION,
            None,
            None,
            Some(new),
            None,
        )
    };
    // SAFETY: allocated by SetEntriesInAclW, freed once.
    unsafe { LocalFree(Some(HLOCAL(new.cast()))) };
    if status.is_err() {
        return Err(code_err(LAYER, &step, status.0));
    }
    Ok(())
}

/// Removes every explicit allow and deny entry naming `sid` from a kernel
/// or window object's DACL.
pub(super) fn revoke_on_object(
    handle: HANDLE,
    kind: SE_OBJECT_TYPE,
    sid: &str,
    what: &str,
) -> Result<(), SandboxError> {
    let step = format!("removing {sid}'s entries from {what}");
    let sid = OwnedSid::parse(sid)?;
    let mut dacl: *mut ACL = std::ptr::null_mut();
    let mut descriptor = PSECURITY_DESCRIPTOR::default();
    // SAFETY: as in `grant_on_object`.
    let status = unsafe {
        GetSecurityInfo(
            handle,
            kind,
            DACL_SECURITY_INFORMATION,
            None,
            None,
            Some(&mut dacl),
            None,
            Some(&mut descriptor),
        )
    };
    if status.is_err() {
        return Err(code_err(LAYER, &step, status.0));
    }
    let mut result = Ok(());
    // SAFETY: `dacl` is a valid ACL inside `descriptor`; ACEs are deleted
    // from the end so indices stay valid; the edited ACL is written back
    // before the descriptor is freed.
    unsafe {
        if !dacl.is_null() {
            let mut removed = false;
            for index in (0..u32::from((*dacl).AceCount)).rev() {
                let mut ace: *mut core::ffi::c_void = std::ptr::null_mut();
                if GetAce(dacl, index, &mut ace).is_err() {
                    continue;
                }
                let header = &*ace.cast::<ACE_HEADER>();
                if header.AceType != ACCESS_ALLOWED_ACE_TYPE
                    && header.AceType != ACCESS_DENIED_ACE_TYPE
                {
                    continue;
                }
                let ace_sid = PSID(ace.cast::<u8>().add(ACE_SID_OFFSET).cast());
                if EqualSid(ace_sid, sid.0).is_ok() {
                    if let Err(e) = DeleteAce(dacl, index) {
                        result = Err(win_err(LAYER, &step, &e));
                        break;
                    }
                    removed = true;
                }
            }
            if removed && result.is_ok() {
                let status = SetSecurityInfo(
                    handle,
                    kind,
                    DACL_SECURITY_INFORMATION,
                    None,
                    None,
                    Some(dacl),
                    None,
                );
                if status.is_err() {
                    result = Err(code_err(LAYER, &step, status.0));
                }
            }
        }
        LocalFree(Some(HLOCAL(descriptor.0)));
    }
    result
}

/// The owner of `path` as a SID string; `None` when it does not exist.
pub(super) fn owner_of(path: &std::path::Path) -> Result<Option<String>, SandboxError> {
    if !path.exists() {
        return Ok(None);
    }
    let step = format!("reading the owner of {}", path.display());
    let name = HSTRING::from(path.as_os_str());
    let mut owner = PSID::default();
    let mut descriptor = PSECURITY_DESCRIPTOR::default();
    // SAFETY: out-pointers to locals; the descriptor is freed below.
    let status = unsafe {
        GetNamedSecurityInfoW(
            &name,
            SE_FILE_OBJECT,
            OWNER_SECURITY_INFORMATION,
            Some(&mut owner),
            None,
            None,
            None,
            &mut descriptor,
        )
    };
    if status.is_err() {
        return Err(code_err(LAYER, &step, status.0));
    }
    let text = OwnedSid::string_of(owner);
    // SAFETY: allocated by GetNamedSecurityInfoW, freed once.
    unsafe { LocalFree(Some(HLOCAL(descriptor.0))) };
    text.map(Some)
}
