//! `cordon exec`: reads the prompt, checks the repository, installs the
//! Ctrl-C handling and runs one turn through the core.

use crate::settings::{ExecSettings, UsageError};
use anyhow::Result;
use cordon_core::interrupt::Interrupt;
use cordon_core::CoreError;
use std::io::{IsTerminal, Read};
use std::sync::Arc;

/// Runs `cordon exec`; returns the exit status (0 done, 1 failed or interrupted).
pub fn run(settings: ExecSettings) -> Result<i32> {
    let mut request = settings.request;
    request.prompt = read_prompt(settings.prompt_arg)?;
    if settings.require_git && cordon_core::instructions::git_root(&request.cwd).is_none() {
        return Err(UsageError(format!(
            "{} is not inside a git repository; cordon exec refuses to let an agent change files that version control cannot restore (pass --skip-git-repo-check to run anyway)",
            request.cwd.display()
        ))
        .into());
    }
    watch_signals(request.interrupt.clone());
    // MCP servers start now, in the background; only required ones are
    // waited for, by the session, before the turn.
    if let Some((servers, ctx)) = settings.mcp {
        let manager =
            cordon_mcp::McpManager::start(servers, ctx, Arc::new(cordon_mcp::DeclineElicitations))?;
        request.tool_provider = Some(Box::new(manager));
    }
    let env = |k: &str| std::env::var(k).ok();
    match cordon_core::exec::run(request, &env) {
        Ok(true) => Ok(0),
        Ok(false) => Ok(1),
        Err(e @ (CoreError::Provider { .. } | CoreError::Session(_))) => {
            Err(UsageError(e.to_string()).into())
        }
        Err(e) => Err(e.into()),
    }
}

/// The prompt from the argument and/or stdin; never waits on a terminal.
fn read_prompt(arg: Option<String>) -> Result<String> {
    let stdin = std::io::stdin();
    let piped = !stdin.is_terminal();
    let read_stdin = || -> Result<String> {
        let mut text = String::new();
        std::io::stdin()
            .lock()
            .read_to_string(&mut text)
            .map_err(|e| UsageError(format!("cannot read the prompt from stdin: {e}")))?;
        Ok(text)
    };
    let prompt = match arg.as_deref() {
        None | Some("-") => {
            if !piped {
                return Err(UsageError(
                    "no prompt: give it as an argument, or pipe it on stdin (`-`)".into(),
                )
                .into());
            }
            read_stdin()?
        }
        Some(p) if piped => {
            let extra = read_stdin()?;
            if extra.trim().is_empty() {
                p.to_string()
            } else {
                format!("{p}\n\n<stdin>\n{}\n</stdin>", extra.trim_end())
            }
        }
        Some(p) => p.to_string(),
    };
    if prompt.trim().is_empty() {
        return Err(UsageError("the prompt is empty".into()).into());
    }
    Ok(prompt)
}

/// Ctrl-C (SIGINT), SIGTERM, SIGHUP (the terminal went away) or SIGQUIT
/// interrupts the turn, which kills the running command and removes its
/// report file; a second one exits at once (the command dies with cordon).
fn watch_signals(interrupt: Arc<Interrupt>) {
    #[cfg(unix)]
    {
        // SAFETY: building a signal set on the stack and blocking it in this
        // (still the only) thread; threads spawned later inherit the mask,
        // and std resets it for child processes.
        let set = unsafe {
            let mut set: libc::sigset_t = std::mem::zeroed();
            libc::sigemptyset(&mut set);
            libc::sigaddset(&mut set, libc::SIGINT);
            libc::sigaddset(&mut set, libc::SIGTERM);
            libc::sigaddset(&mut set, libc::SIGHUP);
            libc::sigaddset(&mut set, libc::SIGQUIT);
            libc::pthread_sigmask(libc::SIG_BLOCK, &set, std::ptr::null_mut());
            set
        };
        std::thread::spawn(move || {
            let mut count = 0;
            loop {
                let mut sig: libc::c_int = 0;
                // SAFETY: waits for one of the blocked signals in `set`.
                if unsafe { libc::sigwait(&set, &mut sig) } != 0 {
                    return;
                }
                count += 1;
                if count > 1 {
                    std::process::exit(130);
                }
                eprintln!("cordon: interrupted; stopping the turn (again to quit at once)");
                interrupt.trigger();
            }
        });
    }
    #[cfg(not(unix))]
    let _ = interrupt;
}
