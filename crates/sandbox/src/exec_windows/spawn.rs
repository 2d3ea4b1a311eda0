//! Starting the command: through cordon's runner as a sandbox account,
//! under a restricted token, or (danger-full-access) as the caller.

use super::acl::OwnedSid;
use super::win_err;
use crate::plan::windows::{environment_block, runner_command_line, Identity, WindowsPlan};
use crate::{RunOutcome, SandboxError};
use std::ffi::OsString;
use std::os::windows::io::AsRawHandle;
use windows::core::{HSTRING, PCWSTR, PWSTR};
use windows::Win32::Foundation::{CloseHandle, SetHandleInformation, HANDLE, HANDLE_FLAG_INHERIT};
use windows::Win32::Security::{
    CreateRestrictedToken, DISABLE_MAX_PRIVILEGE, SID_AND_ATTRIBUTES, TOKEN_ADJUST_DEFAULT,
    TOKEN_ASSIGN_PRIMARY, TOKEN_DUPLICATE, TOKEN_QUERY, WRITE_RESTRICTED,
};
use windows::Win32::System::Threading::{
    CreateProcessAsUserW, CreateProcessWithLogonW, GetCurrentProcess, GetExitCodeProcess,
    OpenProcessToken, WaitForSingleObject, CREATE_UNICODE_ENVIRONMENT, INFINITE,
    LOGON_WITH_PROFILE, PROCESS_INFORMATION, STARTF_USESTDHANDLES, STARTUPINFOW,
};

const LAYER: &str = "windows-launch";

/// A handle closed on drop.
struct Owned(HANDLE);

impl Drop for Owned {
    fn drop(&mut self) {
        if !self.0.is_invalid() {
            // SAFETY: the handle is owned here and closed once.
            let _ = unsafe { CloseHandle(self.0) };
        }
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

/// Waits for the process and returns its exit code.
fn wait(info: PROCESS_INFORMATION) -> Result<RunOutcome, SandboxError> {
    let process = Owned(info.hProcess);
    let _thread = Owned(info.hThread);
    // SAFETY: `process` is a live process handle owned here.
    unsafe { WaitForSingleObject(process.0, INFINITE) };
    let mut code = 1u32;
    // SAFETY: as above; `code` is a writable local.
    unsafe { GetExitCodeProcess(process.0, &mut code) }
        .map_err(|e| win_err(LAYER, "reading the command's exit code", &e))?;
    Ok(RunOutcome {
        // NTSTATUS-style codes (0xC0000005) become negative, as in cmd's %ERRORLEVEL%.
        exit_code: i32::from_ne_bytes(code.to_ne_bytes()),
        denial_summary: None,
    })
}

/// Starts cordon's runner as the sandbox account with its stored password;
/// the runner restricts itself to `capability_sid` and runs the command.
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
    let line = runner_command_line(&exe.to_string_lossy(), capability_sid, &plan.command_line)?;
    let mut command_line = wide(&line);
    let block = environment_block(env, &plan.env)?;
    let cwd = HSTRING::from(plan.cwd.as_os_str());
    let user = HSTRING::from(identity.account());
    let password = HSTRING::from(password);
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
            CREATE_UNICODE_ENVIRONMENT,
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
                "starting the command as {} (CreateProcessWithLogonW)",
                identity.account()
            ),
            &e,
        )
    })?;
    wait(info)
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
    spawn_restricted(&plan.command_line, capability_sid, Some(&block), Some(&cwd))
}

/// The runner's side of [`Launch::LogonUser`](crate::plan::windows::Launch):
/// already the sandbox account, it starts `command_line` under a
/// write-restricted copy of its own token (the only kind of token
/// `CreateProcessAsUserW` takes without privileges), with its own
/// environment, working directory and standard handles.
pub(crate) fn runner(capability_sid: &str, command_line: &str) -> Result<RunOutcome, SandboxError> {
    // The standard handles come from CreateProcessWithLogonW and need not
    // be inheritable; the command must get them.
    for handle in [
        std::io::stdin().as_raw_handle(),
        std::io::stdout().as_raw_handle(),
        std::io::stderr().as_raw_handle(),
    ] {
        // SAFETY: this process's own standard handles; a missing one
        // (null) just fails, which is harmless.
        let _ = unsafe {
            SetHandleInformation(HANDLE(handle), HANDLE_FLAG_INHERIT.0, HANDLE_FLAG_INHERIT)
        };
    }
    spawn_restricted(command_line, capability_sid, None, None)
}

/// Starts `command_line` under a write-restricted copy of this process's
/// token restricted to `capability_sid`, and waits for it. `None` for the
/// environment or directory inherits this process's.
fn spawn_restricted(
    command_line: &str,
    capability_sid: &str,
    env_block: Option<&[u16]>,
    cwd: Option<&HSTRING>,
) -> Result<RunOutcome, SandboxError> {
    let sid = OwnedSid::parse(capability_sid)?;
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
    let token = Owned(token);
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
    let mut command_line = wide(command_line);
    let startup = startup_info();
    let mut info = PROCESS_INFORMATION::default();
    // SAFETY: as in `logon_user`; the standard handles are inherited.
    unsafe {
        CreateProcessAsUserW(
            Some(restricted.0),
            PCWSTR::null(),
            Some(PWSTR(command_line.as_mut_ptr())),
            None,
            None,
            true,
            CREATE_UNICODE_ENVIRONMENT,
            env_block.map(|b| b.as_ptr().cast()),
            cwd.map_or(PCWSTR::null(), |c| PCWSTR(c.as_ptr())),
            &startup,
            &mut info,
        )
    }
    .map_err(|e| win_err(LAYER, "starting the command (CreateProcessAsUserW)", &e))?;
    wait(info)
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
