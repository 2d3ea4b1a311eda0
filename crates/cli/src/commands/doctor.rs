//! `cordon sandbox doctor`.

use anyhow::Result;

/// Prints the layer report; exits 0 when every layer is available, else 1.
pub fn run(json: bool) -> Result<i32> {
    let facts = cordon_sandbox::host_facts(true);
    let report = cordon_sandbox::doctor::report(&facts);
    if json {
        println!("{}", serde_json::to_string_pretty(&report)?);
    } else {
        print!("{}", cordon_sandbox::doctor::render(&report));
    }
    Ok(if report.ready { 0 } else { 1 })
}
