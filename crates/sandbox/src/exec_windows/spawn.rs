//! Starting the command: through cordon's runner as a sandbox account,
//! under a restricted token, or (danger-full-access) as the caller. Every
//! sandboxed process starts suspended, is put in a kill-on-close job object
//! and only then resumed; Ctrl-C, Ctrl-Break and closing the console end
//! the job, and cordon goes on to remove the run's ACL entries.
//!
//! Handles: processes start with `bInheritHandles` set, so that the
//! standard handles reach them; Rust creates every other handle
//! non-inheritable, so nothing else of cordon's is passed on.

use super::token::{self, Owned};
use super::win_err;
use crate::plan::windows::{
    environment_block, runner_command_line, Identity, WindowsPlan, RUNNER_COMMAND_LINE_VAR,
};
use crate::{RunOutcome, SandboxError};
use std::ffi::OsString;
use std::os::windows::io::AsRawHandle;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Mutex, Once};
use windows::core::{BOOL, HSTRING, PCWSTR, PWSTR};
use windows::Win32::Foundation::{SetHandleInformation, HANDLE, HANDLE_FLAG_INHERIT};
use windows::Win32::System::Console::SetConsoleCtrlHandler;
use windows::Win32::System::JobObjects::{
    AssignProcessToJobObject, CreateJobObjectW, JobObjectExtendedLimitInformation,
    SetInformationJobObject, TerminateJobObject, JOBOBJECT_EXTENDED_LIMIT_INFORMATION,
    JOB_OBJECT_LIMIT_KILL_ON_JOB_CLOSE,
};
use windows::Win32::System::Threading::{
    CreateProcessAsUserW, CreateProcessWithLogonW, GetExitCodeProcess, ResumeThread,
    TerminateProcess, WaitForSingleObject, CREATE_SUSPENDED, CREATE_UNICODE_ENVIRONMENT, INFINITE,
    LOGON_WITH_PROFILE, PROCESS_INFORMATION, STARTF_USESTDHANDLES, STARTUPINFOW,
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

fn startup_info() -> STARTUPINFOW {
    STARTUPINFOW {
        cb: u32::try_from(std::mem::size_of::<STARTUPINFOW>()).unwrap_or(0),
        dwFlags: STARTF_USESTDHANDLES,
        hStdInput: HANDLE(std::io::stdin().as_raw_handle()),
        hStdOutput: HANDLE(std::io::stdout().as_raw_handle()),
        hStdError: HANDLE(std::io::stderr().as_raw_handle()),
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
    Ok(job)
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

/// Starts cordon's runner as the sandbox account with its stored password;
/// the runner restricts itself to `capability_sid` and runs the command,
/// whose command line it finds in [`RUNNER_COMMAND_LINE_VAR`].
pub(super) fn logon_user(
    plan: &WindowsPlan,
    identity: Identity,
    password: &str,
    capability_sid: &str,
    env: &[(OsString, OsString)],
) -> Result<RunOutcome, SandboxError> {
    let exe = std::env::current_exe().map_err(|source| SandboxError::Io {
        context: "finding cordon's own executable for the runner".into(),
        source,
    })?;
    let line = runner_command_line(&exe.to_string_lossy(), capability_sid)?;
    let mut command_line = wide(&line);
    let mut added = plan.env.clone();
    added.push((RUNNER_COMMAND_LINE_VAR.into(), plan.command_line.clone()));
    let block = environment_block(env, &added)?;
    let cwd = HSTRING::from(plan.cwd.as_os_str());
    let user = HSTRING::from(identity.account());
    let password = HSTRING::from(password);
    install_console_handler();
    inheritable_std_handles();
    let startup = startup_info();
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
            CREATE_UNICODE_ENVIRONMENT | CREATE_SUSPENDED,
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
/// whose only restricting SID is the run's capability SID.
pub(super) fn restricted_token(
    plan: &WindowsPlan,
    capability_sid: &str,
    env: &[(OsString, OsString)],
) -> Result<RunOutcome, SandboxError> {
    let block = environment_block(env, &plan.env)?;
    let cwd = HSTRING::from(plan.cwd.as_os_str());
    install_console_handler();
    inheritable_std_handles();
    spawn_restricted(&plan.command_line, capability_sid, Some(&block), Some(&cwd))
}

/// The runner's side of [`Launch::LogonUser`](crate::plan::windows::Launch):
/// already the sandbox account (its process closed to other runs by
/// cordon), it takes the command's line out of its environment and starts
/// it under a
/// write-restricted copy of its own token (the only kind of token
/// `CreateProcessAsUserW` takes without privileges), with its environment,
/// working directory and standard handles.
pub(crate) fn runner(capability_sid: &str) -> Result<RunOutcome, SandboxError> {
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
    spawn_restricted(&command_line, capability_sid, None, None)
}

/// Starts `command_line` under a write-restricted copy of this process's
/// token restricted to `capability_sid`, in a job, and waits for it.
/// `None` for the environment or directory inherits this process's.
fn spawn_restricted(
    command_line: &str,
    capability_sid: &str,
    env_block: Option<&[u16]>,
    cwd: Option<&HSTRING>,
) -> Result<RunOutcome, SandboxError> {
    let restricted = token::restricted(capability_sid)?;
    let mut command_line = wide(command_line);
    let startup = startup_info();
    let mut info = PROCESS_INFORMATION::default();
    // SAFETY: every buffer lives across the call; the standard handles are
    // inherited.
    unsafe {
        CreateProcessAsUserW(
            Some(restricted.0),
            PCWSTR::null(),
            Some(PWSTR(command_line.as_mut_ptr())),
            None,
            None,
            true,
            CREATE_UNICODE_ENVIRONMENT | CREATE_SUSPENDED,
            env_block.map(|b| b.as_ptr().cast()),
            cwd.map_or(PCWSTR::null(), |c| PCWSTR(c.as_ptr())),
            &startup,
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
