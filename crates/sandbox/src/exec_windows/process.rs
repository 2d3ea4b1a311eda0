//! Process identity for the grant ledger: a pid and its start time, so a
//! reused pid is not taken for a run that is still alive.

use super::token::Owned;
use windows::Win32::Foundation::FILETIME;
use windows::Win32::System::Threading::{
    GetCurrentProcess, GetProcessTimes, OpenProcess, PROCESS_QUERY_LIMITED_INFORMATION,
};

fn start_time(process: windows::Win32::Foundation::HANDLE) -> Option<u64> {
    let (mut created, mut exited, mut kernel, mut user) = (
        FILETIME::default(),
        FILETIME::default(),
        FILETIME::default(),
        FILETIME::default(),
    );
    // SAFETY: a live process handle and writable locals.
    unsafe { GetProcessTimes(process, &mut created, &mut exited, &mut kernel, &mut user) }.ok()?;
    Some((u64::from(created.dwHighDateTime) << 32) | u64::from(created.dwLowDateTime))
}

/// This process's start time (0 when it cannot be read).
pub(super) fn own_start_time() -> u64 {
    // SAFETY: the pseudo-handle of this process.
    start_time(unsafe { GetCurrentProcess() }).unwrap_or(0)
}

/// Whether process `pid`, started at `started`, still runs. A process
/// that cannot be opened counts as gone only when it does not exist:
/// access denied keeps its hold (it may be another user's cordon).
pub(super) fn alive(pid: u32, started: u64) -> bool {
    // SAFETY: a query-only handle, closed on drop.
    match unsafe { OpenProcess(PROCESS_QUERY_LIMITED_INFORMATION, false, pid) } {
        Ok(handle) => {
            let handle = Owned(handle);
            start_time(handle.0).is_none_or(|t| t == started)
        }
        Err(e) => e.code() == windows::core::HRESULT::from_win32(5),
    }
}
