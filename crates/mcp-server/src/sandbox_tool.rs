//! `cordon-sandbox`: one command through `cordon sandbox`, launched by
//! cordon's own pinned executable exactly as the agent's shell tool does
//! ([`cordon_core::runner::launch`]), its result as data.

use crate::args::SandboxArgs;
use cordon_core::interrupt::Interrupt;
use cordon_core::runner::{launch, Finished, Launch};
use serde_json::{json, Value};
use std::ffi::OsString;
use std::path::Path;

/// Most bytes of each output kept from its start, and from its end.
pub const KEEP: usize = 32 * 1024;

/// Exit status `cordon sandbox` uses when it refused to start the command.
const EXIT_REFUSED: i32 = 125;

/// Runs the command; blocks until it ends, times out or is interrupted.
pub fn run(cordon_exe: &Path, args: &SandboxArgs, interrupt: &Interrupt) -> Finished {
    let mut extra: Vec<OsString> = Vec::new();
    for root in &args.writable_roots {
        extra.push("--writable-root".into());
        extra.push(root.into());
    }
    for d in &args.allow_domains {
        extra.push(format!("--allow-domain={d}").into());
    }
    for d in &args.deny_domains {
        extra.push(format!("--deny-domain={d}").into());
    }
    launch(Launch {
        cordon_exe,
        mode: args.mode.as_str(),
        network: args.network.as_str(),
        extra_args: &extra,
        policy_cwd: &args.cwd,
        command_cwd: &args.cwd,
        argv: &args.command,
        timeout: args.timeout,
        stdin: args.stdin.as_ref().map(|s| s.as_bytes().to_vec()),
        interrupt,
        keep: KEEP,
        protected_set: None,
        index_read_only: false,
    })
}

/// The structured result.
pub fn structured(f: &Finished) -> Value {
    let denials: Vec<Value> = f
        .denied
        .as_deref()
        .map(cordon_sandbox::denials::parse_summary)
        .unwrap_or_default()
        .into_iter()
        .map(|d| json!({"kind": d.kind, "target": d.target, "ops": d.ops, "count": d.count}))
        .collect();
    json!({
        "exit_code": f.code,
        "stdout": f.stdout.text(),
        "stderr": f.stderr.text(),
        "timed_out": f.timed_out,
        "denials": denials,
        "stdout_bytes_dropped": f.stdout.dropped(),
        "stderr_bytes_dropped": f.stderr.dropped(),
        "wall_ms": u64::try_from(f.wall.as_millis()).unwrap_or(u64::MAX),
    })
}

/// A short text summary for people and for clients that ignore
/// structured content.
pub fn summary(args: &SandboxArgs, f: &Finished) -> String {
    let status = match (f.timed_out, f.code) {
        (true, _) => format!("killed after the {} ms timeout", args.timeout.as_millis()),
        (false, Some(EXIT_REFUSED)) => {
            "cordon refused to start it (exit 125; see stderr for the layer and the fix)".into()
        }
        (false, Some(c)) => format!("exit code {c}"),
        (false, None) => "did not start".into(),
    };
    let mut text = format!(
        "{status}; sandbox {} with network {}; {:.0} ms",
        args.mode,
        args.network,
        f.wall.as_secs_f64() * 1000.0
    );
    if let Some(denied) = &f.denied {
        text.push_str(&format!("\n{}", denied.trim_end()));
    }
    for (name, stream) in [("stdout", &f.stdout), ("stderr", &f.stderr)] {
        let out = stream.text();
        if out.is_empty() {
            continue;
        }
        let tail: Vec<&str> = out.lines().rev().take(5).collect();
        let tail: Vec<&str> = tail.into_iter().rev().collect();
        text.push_str(&format!("\n{name} (last lines):\n{}", tail.join("\n")));
    }
    text
}
