//! `cordon sandbox doctor`.

use anyhow::Result;

/// Prints the layer report; exits 0 when every layer is available, else 1.
pub fn run(json: bool) -> Result<i32> {
    let facts = cordon_sandbox::host_facts(true);
    let mut report = cordon_sandbox::doctor::report(&facts);
    report.stale_placeholders = stale_here();
    if json {
        println!("{}", serde_json::to_string_pretty(&report)?);
    } else {
        print!("{}", cordon_sandbox::doctor::render(&report));
    }
    Ok(if report.ready { 0 } else { 1 })
}

/// Stale placeholders at the top of the roots a workspace-write run here
/// would have (this directory, `/tmp`, `$TMPDIR`).
fn stale_here() -> Vec<std::path::PathBuf> {
    let Ok(cwd) = std::env::current_dir() else {
        return Vec::new();
    };
    let inputs = cordon_policy::PolicyInputs {
        mode: cordon_policy::SandboxMode::WorkspaceWrite,
        cwd,
        tmpdir: std::env::var_os("TMPDIR").map(Into::into),
        cordon_home: None,
        ..Default::default()
    };
    match cordon_policy::resolve(&inputs) {
        Ok(policy) => cordon_sandbox::stale_placeholders(&policy),
        Err(_) => Vec::new(),
    }
}
