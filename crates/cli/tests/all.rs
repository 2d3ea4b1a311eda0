//! End-to-end tests of the `cordon` binary. Every escape test pairs the
//! sandboxed attempt with a positive control showing the same action
//! succeeding outside the sandbox (or under danger-full-access).
//! Network tests talk only to servers they start on this machine's own
//! addresses. The suite drives the Linux sandbox: Linux only.
#![cfg(target_os = "linux")]
#![allow(clippy::unwrap_used, clippy::expect_used, missing_docs)]

mod suite;
