//! A path swapped between discovery and mounting refuses the run: the
//! sandbox binds exactly the objects it discovered, or nothing.
//! (harness = false: `execute` forks and must run single-threaded.)
//! Linux only: the pinning is the Linux executor's.
#![allow(clippy::unwrap_used, clippy::expect_used, missing_docs)]

#[cfg(target_os = "linux")]
#[path = "pinning/linux.rs"]
mod linux;

fn main() {
    #[cfg(target_os = "linux")]
    linux::main();
}
