//! The macOS executor: runs the planned `sandbox-exec` argument vector and,
//! with `--log-denials`, follows `log stream` for the command's sandbox
//! violations.
//!
//! # Limitations
//! Compiled and linted for `aarch64-apple-darwin` only; it has not been
//! run on a real macOS machine. Signals typed at the terminal reach the
//! command through the terminal's process group; others sent to cordon are
//! not relayed.

use crate::denials::seatbelt::Collector;
use crate::denials::summary;
use crate::plan::macos::{log_stream_argv, MacosPlan, SANDBOX_EXEC};
use crate::{RunOutcome, SandboxError};
use cordon_policy::SandboxMode;
use std::ffi::OsString;
use std::io::{BufRead, BufReader};
use std::os::unix::process::ExitStatusExt;
use std::path::Path;
use std::process::{Child, Command, Stdio};
use std::time::Duration;

/// How long violations reported after the command ends are still read.
const LOG_GRACE: Duration = Duration::from_millis(500);

pub(crate) fn run(
    plan: &MacosPlan,
    env: &[(OsString, OsString)],
) -> Result<RunOutcome, SandboxError> {
    let (program, args) = plan.argv.split_first().ok_or(SandboxError::NoCommand)?;
    let sandboxed = plan.mode != SandboxMode::DangerFullAccess;
    if sandboxed && !Path::new(SANDBOX_EXEC).exists() {
        return Err(SandboxError::Layer {
            layer: "seatbelt".into(),
            why: format!("{SANDBOX_EXEC} does not exist on this system"),
            fix: "cordon needs macOS's sandbox-exec; run on a macOS that ships it, or use -s danger-full-access knowingly".into(),
        });
    }
    // Follow the log before the command starts so no early violation is missed.
    let mut log = if plan.log_denials && sandboxed {
        Some(spawn_log_stream()?)
    } else {
        None
    };
    let mut cmd = Command::new(program);
    cmd.args(args)
        .current_dir(&plan.cwd)
        .env_clear()
        .envs(merged_env(env, &plan.env));
    let mut child = match cmd.spawn() {
        Ok(child) => child,
        Err(source) => {
            stop(log.as_mut());
            return Err(SandboxError::Exec {
                program: program.clone(),
                source,
            });
        }
    };
    let reader = log.as_mut().and_then(|l| l.stdout.take()).map(|stdout| {
        let mut collector = Collector::new(child.id());
        std::thread::spawn(move || {
            for line in BufReader::new(stdout).lines() {
                let Ok(line) = line else { break };
                collector.observe(&line, parent_of);
            }
            collector
        })
    });
    let status = child.wait().map_err(|source| SandboxError::Io {
        context: "waiting for the sandboxed command".into(),
        source,
    })?;
    let denial_summary = match reader {
        Some(reader) => {
            std::thread::sleep(LOG_GRACE);
            stop(log.as_mut());
            match reader.join() {
                Ok(collector) => Some(summary(&collector.denials())),
                Err(_) => {
                    Some("cordon: the sandbox log reader failed; no denials collected\n".into())
                }
            }
        }
        None => None,
    };
    let exit_code = match (status.code(), status.signal()) {
        (Some(code), _) => code,
        (None, Some(signal)) => 128 + signal,
        (None, None) => 1,
    };
    Ok(RunOutcome {
        exit_code,
        denial_summary,
    })
}

fn spawn_log_stream() -> Result<Child, SandboxError> {
    let argv = log_stream_argv();
    let (program, args) = argv.split_first().ok_or(SandboxError::NoCommand)?;
    Command::new(program)
        .args(args)
        .stdin(Stdio::null())
        .stdout(Stdio::piped())
        .stderr(Stdio::null())
        .spawn()
        .map_err(|source| SandboxError::Setup {
            layer: "log-denials".into(),
            step: "starting `log stream` (--log-denials)".into(),
            source,
        })
}

fn stop(log: Option<&mut Child>) {
    if let Some(child) = log {
        let _ = child.kill();
        let _ = child.wait();
    }
}

/// The inherited environment with the plan's variables replacing any of
/// the same name.
fn merged_env(
    inherited: &[(OsString, OsString)],
    added: &[(String, String)],
) -> Vec<(OsString, OsString)> {
    let mut env: Vec<(OsString, OsString)> = inherited
        .iter()
        .filter(|(k, _)| !added.iter().any(|(name, _)| k == name.as_str()))
        .cloned()
        .collect();
    env.extend(added.iter().map(|(k, v)| (k.into(), v.into())));
    env
}

/// The parent of a live process, from the kernel's process table.
fn parent_of(pid: u32) -> Option<u32> {
    let pid = libc::c_int::try_from(pid).ok()?;
    // SAFETY: proc_bsdinfo is plain old data; all-zero is a valid value.
    let mut info: libc::proc_bsdinfo = unsafe { std::mem::zeroed() };
    let size = libc::c_int::try_from(std::mem::size_of::<libc::proc_bsdinfo>()).ok()?;
    // SAFETY: `info` is a live, writable buffer of exactly `size` bytes,
    // which is what PROC_PIDTBSDINFO writes.
    let written = unsafe {
        libc::proc_pidinfo(
            pid,
            libc::PROC_PIDTBSDINFO,
            0,
            std::ptr::addr_of_mut!(info).cast(),
            size,
        )
    };
    (written == size).then_some(info.pbi_ppid)
}
