//! Starting the command: through cordon's runner as a sandbox account,
//! under a restricted token, or (danger-full-access) as the caller. Every
//! sandboxed process starts suspended, is put in a kill-on-close job object
//! and only then resumed; Ctrl-C, Ctrl-Break and closing the console end
//! the job, and cordon goes on to remove the run's ACL entries.
//!
//! Handles: the command starts with `bInheritHandles` set and a
//! `PROC_THREAD_ATTRIBUTE_HANDLE_LIST` naming only the standard handles,
//! so nothing else is passed on, even a handle another thread made
//! inheritable. (`CreateProcessWithLogonW` takes no attribute list; it
//! passes the standard handles of `STARTUPINFO` only.) A console as
//! cordon's standard input is never passed: the `NUL` device is (a
//! process holding the console's input buffer could queue keystrokes for
//! your shell). A restricted-token command is started with
//! `CREATE_NO_WINDOW`, so it does not attach to your console.
//!
//! UI: every sandboxed process runs on a private desktop cordon creates
//! for the run (so it cannot send input to, or read, the user's windows),
//! in a job with every `JOB_OBJECT_UILIMIT_*` restriction.

use super::acl::OwnedDescriptor;
use super::token::{self, Owned};
use super::win_err;
use crate::plan::windows::{
    console_flags, environment_block, profile_overrides, runner_command_line, sandboxed_stdin,
    strip_profile_variables, Identity, SandboxStdin, SandboxedStart, WindowsPlan,
    RUNNER_COMMAND_LINE_VAR,
};
use crate::{RunOutcome, SandboxError};
use std::ffi::OsString;
use std::os::windows::io::AsRawHandle;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Mutex, Once};
use windows::core::{BOOL, HSTRING, PCWSTR, PWSTR};
use windows::Win32::Foundation::{SetHandleInformation, HANDLE, HANDLE_FLAG_INHERIT};
use windows::Win32::Security::SECURITY_ATTRIBUTES;
use windows::Win32::Security::TOKEN_QUERY;
use windows::Win32::System::Console::{GetConsoleMode, SetConsoleCtrlHandler, CONSOLE_MODE};
use windows::Win32::System::Environment::{CreateEnvironmentBlock, DestroyEnvironmentBlock};
use windows::Win32::System::JobObjects::{
    AssignProcessToJobObject, CreateJobObjectW, JobObjectBasicUIRestrictions,
    JobObjectExtendedLimitInformation, SetInformationJobObject, TerminateJobObject,
    JOBOBJECT_BASIC_UI_RESTRICTIONS, JOBOBJECT_EXTENDED_LIMIT_INFORMATION,
    JOB_OBJECT_LIMIT_KILL_ON_JOB_CLOSE, JOB_OBJECT_UILIMIT_DESKTOP,
    JOB_OBJECT_UILIMIT_DISPLAYSETTINGS, JOB_OBJECT_UILIMIT_EXITWINDOWS,
    JOB_OBJECT_UILIMIT_GLOBALATOMS, JOB_OBJECT_UILIMIT_HANDLES, JOB_OBJECT_UILIMIT_READCLIPBOARD,
    JOB_OBJECT_UILIMIT_SYSTEMPARAMETERS, JOB_OBJECT_UILIMIT_WRITECLIPBOARD,
};
use windows::Win32::System::StationsAndDesktops::{
    CloseDesktop, CreateDesktopW, GetProcessWindowStation, GetUserObjectInformationW, HDESK,
    UOI_NAME,
};
use windows::Win32::System::Threading::{
    CreateProcessAsUserW, CreateProcessWithLogonW, DeleteProcThreadAttributeList,
    GetCurrentProcess, GetExitCodeProcess, InitializeProcThreadAttributeList, OpenProcessToken,
    ResumeThread, TerminateProcess, UpdateProcThreadAttribute, WaitForSingleObject,
    CREATE_NO_WINDOW, CREATE_SUSPENDED, CREATE_UNICODE_ENVIRONMENT, EXTENDED_STARTUPINFO_PRESENT,
    INFINITE, LOGON_WITH_PROFILE, LPPROC_THREAD_ATTRIBUTE_LIST, PROCESS_CREATION_FLAGS,
    PROCESS_INFORMATION, PROC_THREAD_ATTRIBUTE_HANDLE_LIST, STARTF_USESTDHANDLES, STARTUPINFOEXW,
    STARTUPINFOW,
};

const LAYER: &str = "windows-launch";

/// The job of the run in progress (as an integer), for the console
/// control handler; the lock is held while the handle is closed.
static JOB: Mutex<isize> = Mutex::new(0);
/// Set once the run's clean-up (ACL entries removed) is done.
static CLEANED_UP: AtomicBool = AtomicBool::new(false);
/// `CTRL_CLOSE_EVENT`: the console is closing; the process ends when the
/// handler returns.
const CTRL_CLOSE_EVENT: u32 = 2;

/// Ctrl-C, Ctrl-Break, closing the console, during a run: end the job's
/// processes and let cordon carry on to its clean-up (for a closing
/// console, wait for it, within the few seconds Windows allows). With no
/// run in progress, the default handling applies.
unsafe extern "system" fn on_console_event(kind: u32) -> BOOL {
    let job = JOB.lock().map(|j| *j).unwrap_or(0);
    if job == 0 {
        return BOOL::from(false);
    }
    if let Ok(guard) = JOB.lock() {
        if *guard != 0 {
            // SAFETY: the handle is open while published under the lock.
            let _ = unsafe { TerminateJobObject(HANDLE(*guard as *mut _), 1) };
        }
    }
    if kind == CTRL_CLOSE_EVENT {
        for _ in 0..45 {
            if CLEANED_UP.load(Ordering::SeqCst) {
                break;
            }
            std::thread::sleep(std::time::Duration::from_millis(100));
        }
    }
    BOOL::from(true)
}

/// Installs the console handler, once per process, before any run.
fn install_console_handler() {
    static ONCE: Once = Once::new();
    ONCE.call_once(|| {
        // SAFETY: a handler with the system's signature, for this process.
        let _ = unsafe { SetConsoleCtrlHandler(Some(on_console_event), true) };
    });
}

/// Tells a waiting console handler that the run's clean-up is done.
pub(super) fn cleaned_up() {
    CLEANED_UP.store(true, Ordering::SeqCst);
}

/// Makes this process's standard handles inheritable, so a child started
/// with them (and `STARTF_USESTDHANDLES`) gets working ones.
fn inheritable_std_handles() {
    for handle in [
        std::io::stdin().as_raw_handle(),
        std::io::stdout().as_raw_handle(),
        std::io::stderr().as_raw_handle(),
    ] {
        // SAFETY: this process's own standard handles; a missing one (null)
        // just fails, which is harmless.
        let _ = unsafe {
            SetHandleInformation(HANDLE(handle), HANDLE_FLAG_INHERIT.0, HANDLE_FLAG_INHERIT)
        };
    }
}

/// The standard handles a sandboxed process gets: cordon's, except that a
/// console as standard input is replaced by the `NUL` device
/// ([`sandboxed_stdin`]): its input buffer would let the process queue
/// keystrokes for your shell.
struct StdHandles {
    input: HANDLE,
    /// Keeps the `NUL` handle open while it is in use.
    _null: Option<std::fs::File>,
}

impl StdHandles {
    fn new() -> Result<Self, SandboxError> {
        let stdin = HANDLE(std::io::stdin().as_raw_handle());
        let mut mode = CONSOLE_MODE::default();
        // SAFETY: a query on this process's own standard input handle
        // (it fails for anything that is not a console).
        let console = !stdin.is_invalid()
            && !stdin.0.is_null()
            && unsafe { GetConsoleMode(stdin, &mut mode) }.is_ok();
        match sandboxed_stdin(console) {
            SandboxStdin::Inherit => Ok(StdHandles {
                input: stdin,
                _null: None,
            }),
            SandboxStdin::NullDevice => {
                let null = std::fs::File::open("NUL").map_err(|source| SandboxError::Io {
                    context: "opening NUL as the sandboxed command's standard input".into(),
                    source,
                })?;
                let input = HANDLE(null.as_raw_handle());
                // SAFETY: the handle just opened, owned by `null`.
                unsafe { SetHandleInformation(input, HANDLE_FLAG_INHERIT.0, HANDLE_FLAG_INHERIT) }
                    .map_err(|e| win_err(LAYER, "making NUL inheritable", &e))?;
                Ok(StdHandles {
                    input,
                    _null: Some(null),
                })
            }
        }
    }

    fn all(&self) -> [HANDLE; 3] {
        [
            self.input,
            HANDLE(std::io::stdout().as_raw_handle()),
            HANDLE(std::io::stderr().as_raw_handle()),
        ]
    }
}

fn startup_info(desktop: Option<&mut Vec<u16>>, handles: &StdHandles) -> STARTUPINFOW {
    let [input, output, error] = handles.all();
    STARTUPINFOW {
        cb: u32::try_from(std::mem::size_of::<STARTUPINFOW>()).unwrap_or(0),
        lpDesktop: desktop.map_or(PWSTR::null(), |d| PWSTR(d.as_mut_ptr())),
        dwFlags: STARTF_USESTDHANDLES,
        hStdInput: input,
        hStdOutput: output,
        hStdError: error,
        ..Default::default()
    }
}

fn wide(text: &str) -> Vec<u16> {
    text.encode_utf16().chain([0]).collect()
}

/// A job whose processes all die when its last handle closes.
fn kill_on_close_job() -> Result<Owned, SandboxError> {
    // SAFETY: an unnamed job with default security.
    let job = unsafe { CreateJobObjectW(None, PCWSTR::null()) }
        .map_err(|e| win_err(LAYER, "creating the run's job object", &e))?;
    let job = Owned(job);
    let mut limits = JOBOBJECT_EXTENDED_LIMIT_INFORMATION::default();
    limits.BasicLimitInformation.LimitFlags = JOB_OBJECT_LIMIT_KILL_ON_JOB_CLOSE;
    // SAFETY: `limits` is a valid structure of the size given.
    unsafe {
        SetInformationJobObject(
            job.0,
            JobObjectExtendedLimitInformation,
            std::ptr::from_ref(&limits).cast(),
            u32::try_from(std::mem::size_of::<JOBOBJECT_EXTENDED_LIMIT_INFORMATION>()).unwrap_or(0),
        )
    }
    .map_err(|e| win_err(LAYER, "making the job kill its processes on close", &e))?;
    let ui = JOBOBJECT_BASIC_UI_RESTRICTIONS {
        UIRestrictionsClass: JOB_OBJECT_UILIMIT_HANDLES
            | JOB_OBJECT_UILIMIT_READCLIPBOARD
            | JOB_OBJECT_UILIMIT_WRITECLIPBOARD
            | JOB_OBJECT_UILIMIT_SYSTEMPARAMETERS
            | JOB_OBJECT_UILIMIT_DISPLAYSETTINGS
            | JOB_OBJECT_UILIMIT_GLOBALATOMS
            | JOB_OBJECT_UILIMIT_DESKTOP
            | JOB_OBJECT_UILIMIT_EXITWINDOWS,
    };
    // SAFETY: `ui` is a valid structure of the size given.
    unsafe {
        SetInformationJobObject(
            job.0,
            JobObjectBasicUIRestrictions,
            std::ptr::from_ref(&ui).cast(),
            u32::try_from(std::mem::size_of::<JOBOBJECT_BASIC_UI_RESTRICTIONS>()).unwrap_or(0),
        )
    }
    .map_err(|e| win_err(LAYER, "restricting the job's UI access", &e))?;
    Ok(job)
}

/// The name of this process's window station (`WinSta0` when cordon runs
/// in the interactive session).
pub(super) fn window_station_name() -> Result<String, SandboxError> {
    // SAFETY: a handle this process does not own and must not close.
    let station = unsafe { GetProcessWindowStation() }
        .map_err(|e| win_err(LAYER, "finding cordon's window station", &e))?;
    let mut name = [0u16; 256];
    let mut needed = 0u32;
    // SAFETY: `name` is a writable buffer of the byte size given.
    unsafe {
        GetUserObjectInformationW(
            HANDLE(station.0),
            UOI_NAME,
            Some(name.as_mut_ptr().cast()),
            u32::try_from(std::mem::size_of_val(&name)).unwrap_or(0),
            Some(&mut needed),
        )
    }
    .map_err(|e| win_err(LAYER, "reading cordon's window station name", &e))?;
    let len = name.iter().position(|c| *c == 0).unwrap_or(name.len());
    Ok(String::from_utf16_lossy(&name[..len]))
}

/// A desktop of the run's own on cordon's window station, closed on drop.
pub(super) struct PrivateDesktop {
    handle: HDESK,
    /// `STATION\\NAME`, for `STARTUPINFO.lpDesktop`.
    pub(super) path: String,
}

impl PrivateDesktop {
    /// Creates `cordon-RANDOM` open to cordon's user and SYSTEM fully, and
    /// to each of `sids` (the sandbox account, the run SID) for windows
    /// and hooks on it, but never `DESKTOP_SWITCHDESKTOP` (it cannot make
    /// itself the input desktop) nor its DACL.
    pub(super) fn create(sids: &[&str]) -> Result<Self, SandboxError> {
        let me = token::own_user_sid()?;
        let random = super::accounts::random_bytes::<8>()?;
        let name = format!(
            "cordon-{}",
            random
                .iter()
                .map(|b| format!("{b:02x}"))
                .collect::<String>()
        );
        // DESKTOP_READOBJECTS..DESKTOP_WRITEOBJECTS (0xFF) and READ_CONTROL.
        let mut sddl = format!("D:P(A;;GA;;;SY)(A;;GA;;;{me})");
        for sid in sids {
            sddl.push_str(&format!("(A;;0x200FF;;;{sid})"));
        }
        let descriptor = OwnedDescriptor::from_sddl(&sddl)?;
        let attributes = SECURITY_ATTRIBUTES {
            nLength: u32::try_from(std::mem::size_of::<SECURITY_ATTRIBUTES>()).unwrap_or(0),
            lpSecurityDescriptor: descriptor.0 .0,
            bInheritHandle: false.into(),
        };
        // SAFETY: the name and descriptor live across the call; the
        // handle is closed on drop. GENERIC_ALL (0x10000000) for cordon.
        let handle = unsafe {
            CreateDesktopW(
                &HSTRING::from(name.as_str()),
                PCWSTR::null(),
                None,
                Default::default(),
                0x1000_0000,
                Some(&attributes),
            )
        }
        .map_err(|e| win_err(LAYER, "creating the run's private desktop", &e))?;
        Ok(PrivateDesktop {
            handle,
            path: format!("{}\\{name}", window_station_name()?),
        })
    }
}

impl Drop for PrivateDesktop {
    fn drop(&mut self) {
        // SAFETY: the desktop created above, closed once (it goes away
        // when no process uses it any more).
        let _ = unsafe { CloseDesktop(self.handle) };
    }
}

/// The standard handles a child is given: present, valid, once each.
fn std_handles(handles: &StdHandles) -> Vec<HANDLE> {
    let mut out: Vec<HANDLE> = Vec::new();
    for h in handles.all() {
        if !h.is_invalid() && !h.0.is_null() && !out.contains(&h) {
            out.push(h);
        }
    }
    out
}

/// A `PROC_THREAD_ATTRIBUTE_HANDLE_LIST` of `handles`, deleted on drop.
struct HandleList {
    buffer: Vec<u64>,
    handles: Vec<HANDLE>,
}

impl HandleList {
    fn new(handles: Vec<HANDLE>) -> Result<Self, SandboxError> {
        let mut size = 0usize;
        // SAFETY: a size query (it fails with ERROR_INSUFFICIENT_BUFFER).
        let _ = unsafe { InitializeProcThreadAttributeList(None, 1, None, &mut size) };
        let mut list = HandleList {
            buffer: vec![0u64; size.div_ceil(8).max(1)],
            handles,
        };
        let attributes = list.attributes();
        // SAFETY: the buffer holds `size` bytes, 8-aligned.
        unsafe { InitializeProcThreadAttributeList(Some(attributes), 1, None, &mut size) }
            .map_err(|e| win_err(LAYER, "preparing the command's handle list", &e))?;
        // SAFETY: the list was initialised above; `handles` lives as long
        // as the list (it is a field of the same value, never changed).
        unsafe {
            UpdateProcThreadAttribute(
                attributes,
                0,
                PROC_THREAD_ATTRIBUTE_HANDLE_LIST as usize,
                Some(list.handles.as_ptr().cast()),
                std::mem::size_of_val(list.handles.as_slice()),
                None,
                None,
            )
        }
        .map_err(|e| win_err(LAYER, "limiting the command's inherited handles", &e))?;
        Ok(list)
    }

    fn attributes(&mut self) -> LPPROC_THREAD_ATTRIBUTE_LIST {
        LPPROC_THREAD_ATTRIBUTE_LIST(self.buffer.as_mut_ptr().cast())
    }
}

impl Drop for HandleList {
    fn drop(&mut self) {
        let attributes = self.attributes();
        // SAFETY: initialised in `new`, deleted once.
        unsafe { DeleteProcThreadAttributeList(attributes) };
    }
}

/// Puts the suspended process in a kill-on-close job, resumes it, waits,
/// and returns its exit code. A process that cannot be put in the job is
/// killed before it ran a single instruction.
fn run_in_job(info: PROCESS_INFORMATION, runner: bool) -> Result<RunOutcome, SandboxError> {
    let process = Owned(info.hProcess);
    let thread = Owned(info.hThread);
    if runner {
        // Before it runs a single instruction, as for the job below.
        if let Err(e) = token::protect_process(process.0) {
            // SAFETY: the suspended process is ours to end.
            let _ = unsafe { TerminateProcess(process.0, 1) };
            return Err(e);
        }
    }
    let job = match kill_on_close_job().and_then(|job| {
        // SAFETY: both handles are live and owned here.
        unsafe { AssignProcessToJobObject(job.0, process.0) }
            .map(|()| job)
            .map_err(|e| win_err(LAYER, "putting the command in its job object", &e))
    }) {
        Ok(job) => job,
        Err(e) => {
            // SAFETY: the suspended process is ours to end.
            let _ = unsafe { TerminateProcess(process.0, 1) };
            return Err(e);
        }
    };
    if let Ok(mut guard) = JOB.lock() {
        *guard = job.0 .0 as isize;
    }
    // SAFETY: the primary thread of the suspended process.
    if unsafe { ResumeThread(thread.0) } == u32::MAX {
        let e = windows::core::Error::from_thread();
        // Closing the job below ends the suspended process.
        if let Ok(mut guard) = JOB.lock() {
            *guard = 0;
        }
        return Err(win_err(LAYER, "resuming the command", &e));
    }
    // SAFETY: `process` is a live process handle owned here.
    unsafe { WaitForSingleObject(process.0, INFINITE) };
    let mut code = 1u32;
    // SAFETY: as above; `code` is a writable local.
    unsafe { GetExitCodeProcess(process.0, &mut code) }
        .map_err(|e| win_err(LAYER, "reading the command's exit code", &e))?;
    // Closing the job ends whatever the command left behind; the handler
    // must not use the handle from here on.
    let mut guard = JOB.lock().ok();
    if let Some(g) = guard.as_deref_mut() {
        *g = 0;
    }
    drop(job);
    drop(guard);
    Ok(RunOutcome {
        // NTSTATUS-style codes (0xC0000005) become negative, as in cmd's %ERRORLEVEL%.
        exit_code: i32::from_ne_bytes(code.to_ne_bytes()),
        denial_summary: None,
    })
}

/// The console flags [`console_flags`] plans for `start`.
fn flags_for(start: SandboxedStart) -> PROCESS_CREATION_FLAGS {
    console_flags(start)
        .iter()
        .fold(PROCESS_CREATION_FLAGS(0), |flags, name| match *name {
            "CREATE_NO_WINDOW" => flags | CREATE_NO_WINDOW,
            _ => flags,
        })
}

/// Starts cordon's runner as the sandbox account with its stored password;
/// the runner restricts itself to `run_sid` and runs the command,
/// whose command line it finds in [`RUNNER_COMMAND_LINE_VAR`].
pub(super) fn logon_user(
    plan: &WindowsPlan,
    identity: Identity,
    password: &str,
    run_sid: &str,
    env: &[(OsString, OsString)],
    desktop: &PrivateDesktop,
) -> Result<RunOutcome, SandboxError> {
    let exe = std::env::current_exe().map_err(|source| SandboxError::Io {
        context: "finding cordon's own executable for the runner".into(),
        source,
    })?;
    let line = runner_command_line(&exe.to_string_lossy(), run_sid)?;
    let mut command_line = wide(&line);
    let mut added = plan.env.clone();
    added.push((RUNNER_COMMAND_LINE_VAR.into(), plan.command_line.clone()));
    let block = environment_block(env, &added)?;
    let cwd = HSTRING::from(plan.cwd.as_os_str());
    let user = HSTRING::from(identity.account());
    let password = HSTRING::from(password);
    install_console_handler();
    inheritable_std_handles();
    // The account was granted this desktop, and its window station, by
    // the caller (CreateProcessWithLogonW leaves that to the application
    // when lpDesktop names one).
    let mut desktop_name = wide(&desktop.path);
    let handles = StdHandles::new()?;
    let startup = startup_info(Some(&mut desktop_name), &handles);
    // No console flags (console_flags(Runner)): CreateProcessWithLogonW
    // always adds CREATE_NEW_CONSOLE, which makes CREATE_NO_WINDOW void.
    let flags = CREATE_UNICODE_ENVIRONMENT | CREATE_SUSPENDED | flags_for(SandboxedStart::Runner);
    let mut info = PROCESS_INFORMATION::default();
    // SAFETY: every buffer lives across the call; the command line is a
    // writable NUL-terminated buffer, the environment a double-NUL block.
    unsafe {
        CreateProcessWithLogonW(
            &user,
            &HSTRING::from("."),
            &password,
            LOGON_WITH_PROFILE,
            PCWSTR::null(),
            Some(PWSTR(command_line.as_mut_ptr())),
            flags,
            Some(block.as_ptr().cast()),
            &cwd,
            &startup,
            &mut info,
        )
    }
    .map_err(|e| {
        win_err(
            LAYER,
            &format!(
                "starting cordon's runner as {} (CreateProcessWithLogonW; the account must be able to read {})",
                identity.account(),
                exe.display()
            ),
            &e,
        )
    })?;
    run_in_job(info, true)
}

/// Runs the command under a write-restricted copy of the caller's token
/// restricted to the run SID and its logon SID, on the run's desktop.
pub(super) fn restricted_token(
    plan: &WindowsPlan,
    run_sid: &str,
    env: &[(OsString, OsString)],
    desktop: &PrivateDesktop,
) -> Result<RunOutcome, SandboxError> {
    let block = environment_block(env, &plan.env)?;
    let cwd = HSTRING::from(plan.cwd.as_os_str());
    install_console_handler();
    inheritable_std_handles();
    spawn_restricted(
        &plan.command_line,
        run_sid,
        Some(&block),
        Some(&cwd),
        Some(&desktop.path),
        SandboxedStart::RestrictedTokenCommand,
    )
}

/// The sandbox account's own profile variables (`USERPROFILE`, `APPDATA`,
/// ...), from its token's environment block.
fn own_profile_env() -> Result<Vec<(String, String)>, SandboxError> {
    let mut token = HANDLE::default();
    // SAFETY: this process's pseudo-handle; `token` is written and owned.
    unsafe { OpenProcessToken(GetCurrentProcess(), TOKEN_QUERY, &mut token) }
        .map_err(|e| win_err(LAYER, "opening the runner's token", &e))?;
    let token = Owned(token);
    let mut block: *mut core::ffi::c_void = std::ptr::null_mut();
    // SAFETY: the call allocates `block`, destroyed below.
    unsafe { CreateEnvironmentBlock(&mut block, Some(token.0), false) }.map_err(|e| {
        win_err(
            LAYER,
            "reading the sandbox account's profile environment",
            &e,
        )
    })?;
    let mut out = Vec::new();
    // SAFETY: a block of NUL-terminated UTF-16 strings ending with an
    // empty one, read before it is destroyed.
    unsafe {
        let mut p = block.cast::<u16>();
        loop {
            let mut len = 0usize;
            while *p.add(len) != 0 {
                len += 1;
            }
            if len == 0 {
                break;
            }
            let entry = String::from_utf16_lossy(std::slice::from_raw_parts(p, len));
            // A leading `=` belongs to the name (`=C:`).
            if let Some(eq) = entry.get(1..).and_then(|rest| rest.find('=')) {
                out.push((entry[..=eq].to_string(), entry[eq + 2..].to_string()));
            }
            p = p.add(len + 1);
        }
        let _ = DestroyEnvironmentBlock(block);
    }
    Ok(out)
}

/// The runner's side of [`Launch::LogonUser`](crate::plan::windows::Launch):
/// already the sandbox account (its process closed to other runs by
/// cordon), it takes the command's line out of its environment and starts
/// it under a
/// write-restricted copy of its own token (the only kind of token
/// `CreateProcessAsUserW` takes without privileges), with its environment,
/// working directory and standard handles.
pub(crate) fn runner(run_sid: &str) -> Result<RunOutcome, SandboxError> {
    let command_line = std::env::var(RUNNER_COMMAND_LINE_VAR).map_err(|_| SandboxError::Layer {
        layer: LAYER.into(),
        why: format!("the runner found no command line in {RUNNER_COMMAND_LINE_VAR}"),
        fix: "the runner is started by `cordon sandbox windows`, not directly".into(),
    })?;
    // SAFETY: the runner is single-threaded; nothing reads the environment
    // concurrently.
    unsafe { std::env::remove_var(RUNNER_COMMAND_LINE_VAR) };
    install_console_handler();
    inheritable_std_handles();
    // The caller's profile directories are not the account's: take its own.
    let inherited: Vec<(String, String)> = std::env::vars().collect();
    let overrides = profile_overrides(&own_profile_env()?);
    let inherited: Vec<(OsString, OsString)> = strip_profile_variables(&inherited)
        .into_iter()
        .map(|(k, v)| (OsString::from(k), OsString::from(v)))
        .collect();
    let block = environment_block(&inherited, &overrides)?;
    spawn_restricted(
        &command_line,
        run_sid,
        Some(&block),
        None,
        None,
        SandboxedStart::RunnerCommand,
    )
}

/// Starts `command_line` under a write-restricted copy of this process's
/// token restricted to `run_sid`, in a job, and waits for it.
/// `None` for the environment or directory inherits this process's.
fn spawn_restricted(
    command_line: &str,
    run_sid: &str,
    env_block: Option<&[u16]>,
    cwd: Option<&HSTRING>,
    desktop: Option<&str>,
    start: SandboxedStart,
) -> Result<RunOutcome, SandboxError> {
    let restricted = token::restricted(run_sid)?;
    let mut command_line = wide(command_line);
    let mut desktop_name = desktop.map(wide);
    let std = StdHandles::new()?;
    let handles = std_handles(&std);
    let inherit = !handles.is_empty();
    let mut list = if inherit {
        Some(HandleList::new(handles)?)
    } else {
        None
    };
    let startup = STARTUPINFOEXW {
        StartupInfo: STARTUPINFOW {
            cb: u32::try_from(std::mem::size_of::<STARTUPINFOEXW>()).unwrap_or(0),
            ..startup_info(desktop_name.as_mut(), &std)
        },
        lpAttributeList: list.as_mut().map_or(
            LPPROC_THREAD_ATTRIBUTE_LIST::default(),
            HandleList::attributes,
        ),
    };
    let mut flags = CREATE_UNICODE_ENVIRONMENT | CREATE_SUSPENDED | flags_for(start);
    if list.is_some() {
        flags |= EXTENDED_STARTUPINFO_PRESENT;
    }
    let mut info = PROCESS_INFORMATION::default();
    // SAFETY: every buffer lives across the call (the handle list, the
    // desktop name); only the listed standard handles are inherited.
    unsafe {
        CreateProcessAsUserW(
            Some(restricted.0),
            PCWSTR::null(),
            Some(PWSTR(command_line.as_mut_ptr())),
            None,
            None,
            inherit,
            flags,
            env_block.map(|b| b.as_ptr().cast()),
            cwd.map_or(PCWSTR::null(), |c| PCWSTR(c.as_ptr())),
            std::ptr::from_ref(&startup).cast(),
            &mut info,
        )
    }
    .map_err(|e| win_err(LAYER, "starting the command (CreateProcessAsUserW)", &e))?;
    run_in_job(info, false)
}

/// danger-full-access: the command as the caller, no sandbox.
pub(super) fn unsandboxed(
    plan: &WindowsPlan,
    env: &[(OsString, OsString)],
) -> Result<RunOutcome, SandboxError> {
    let (program, args) = plan.argv.split_first().ok_or(SandboxError::NoCommand)?;
    let status = std::process::Command::new(program)
        .args(args)
        .current_dir(&plan.cwd)
        .envs(env.iter().cloned())
        .envs(
            plan.env
                .iter()
                .map(|(k, v)| (OsString::from(k), OsString::from(v))),
        )
        .status()
        .map_err(|source| SandboxError::Exec {
            program: program.clone(),
            source,
        })?;
    Ok(RunOutcome {
        exit_code: status.code().unwrap_or(1),
        denial_summary: None,
    })
}
