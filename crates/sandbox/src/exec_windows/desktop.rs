//! The sandbox account's access to cordon's window station, which
//! `CreateProcessWithLogonW` leaves to the caller when it names a desktop
//! ("even for WinSta0\Default"): granted before a logon-user run and
//! removed when the last run holding it ends (the grant ledger).

use super::{acl, win_err};
use crate::SandboxError;
use windows::core::HSTRING;
use windows::Win32::Foundation::HANDLE;
use windows::Win32::Security::Authorization::SE_WINDOW_OBJECT;
use windows::Win32::Storage::FileSystem::{READ_CONTROL, WRITE_DAC};
use windows::Win32::System::StationsAndDesktops::{CloseWindowStation, OpenWindowStationW};

const LAYER: &str = "windows-desktop";
/// `WINSTA_READATTRIBUTES | WINSTA_ACCESSGLOBALATOMS`: what a process on
/// one of its desktops needs; not the clipboard, the screen or its
/// attributes, nor logging off.
const STATION_ACCESS: u32 = 0x0002 | 0x0020;

/// Runs `f` with the window station `name` open for its DACL.
fn with_station<T>(
    name: &str,
    f: impl FnOnce(HANDLE) -> Result<T, SandboxError>,
) -> Result<T, SandboxError> {
    // SAFETY: a named window station; the handle is closed below.
    let station =
        unsafe { OpenWindowStationW(&HSTRING::from(name), false, (READ_CONTROL | WRITE_DAC).0) }
            .map_err(|e| win_err(LAYER, &format!("opening the window station {name}"), &e))?;
    let result = f(HANDLE(station.0));
    // SAFETY: opened above, closed once.
    let _ = unsafe { CloseWindowStation(station) };
    result
}

/// Grants `sid` what it needs on the window station `name`.
pub(super) fn grant_station(name: &str, sid: &str) -> Result<(), SandboxError> {
    with_station(name, |h| {
        acl::grant_on_object(
            h,
            SE_WINDOW_OBJECT,
            sid,
            STATION_ACCESS,
            &format!("the window station {name}"),
        )
    })
}

/// Removes every entry naming `sid` from the window station `name`.
pub(super) fn revoke_station(name: &str, sid: &str) -> Result<(), SandboxError> {
    with_station(name, |h| {
        acl::revoke_on_object(
            h,
            SE_WINDOW_OBJECT,
            sid,
            &format!("the window station {name}"),
        )
    })
}
