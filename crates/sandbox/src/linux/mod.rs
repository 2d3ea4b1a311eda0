//! The Linux executor: applies a [`crate::plan::LinuxPlan`] with namespaces,
//! mounts, Landlock and seccomp, all from Rust (no bubblewrap, no setuid helper).

#[cfg(test)]
mod alone_tests;
mod bpf;
mod caps;
mod landlock;
mod metadata;
mod mounts;
mod notify;
pub(crate) mod placeholders;
pub(crate) mod probe;
mod pty;
mod report;
mod seccomp;
pub(crate) mod spawn;
mod supervisor;
mod sys;
mod syscalls;
