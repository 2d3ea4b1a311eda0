//! The macOS executor's seam on other systems: every call is refused.

use crate::plan::macos::MacosPlan;
use crate::{RunOutcome, SandboxError};
use std::ffi::OsString;

pub(crate) fn run(
    _plan: &MacosPlan,
    _env: &[(OsString, OsString)],
) -> Result<RunOutcome, SandboxError> {
    Err(SandboxError::Unsupported(
        "the macOS sandbox runs only on macOS; use `cordon sandbox macos --plan -- CMD` to see what it would do".into(),
    ))
}
