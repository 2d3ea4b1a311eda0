//! The Windows executor's seam on other systems: every call is refused.

use crate::plan::windows::{SetupMarker, WindowsPlan};
use crate::{RunOutcome, SandboxError};
use std::ffi::OsString;
use std::path::Path;

fn unsupported() -> SandboxError {
    SandboxError::Unsupported(
        "the Windows sandbox runs only on Windows; use `cordon sandbox windows --plan -- CMD` to see what it would do".into(),
    )
}

pub(crate) fn setup(
    _state: &Path,
    _marker: &SetupMarker,
    _for_user: Option<&str>,
) -> Result<(), SandboxError> {
    Err(unsupported())
}

pub(crate) fn uninstall(_state: &Path) -> Result<(), SandboxError> {
    Err(unsupported())
}

pub(crate) fn run(
    _state: &Path,
    _plan: &WindowsPlan,
    _env: &[(OsString, OsString)],
) -> Result<RunOutcome, SandboxError> {
    Err(unsupported())
}

pub(crate) fn runner(_run_sid: &str) -> Result<RunOutcome, SandboxError> {
    Err(unsupported())
}
