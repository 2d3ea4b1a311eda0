//! `cordon apply-patch` (hidden): the agent's patch helper. It runs inside
//! the sandbox under the session's policy, reads a patch on stdin, applies
//! it in the current directory and answers with JSON on stdout, so every
//! write the patch makes is one the kernel allowed.

use anyhow::{Context, Result};
use std::io::Read;

/// Applies the patch on stdin; exit 0 when applied, 1 when not.
pub fn run() -> Result<i32> {
    let mut input = String::new();
    std::io::stdin()
        .read_to_string(&mut input)
        .context("reading the patch from stdin")?;
    let cwd = std::env::current_dir().context("the current directory")?;
    let (applied, answer) = cordon_core::patch::helper::run_helper(&input, &cwd);
    println!("{answer}");
    Ok(if applied { 0 } else { 1 })
}
