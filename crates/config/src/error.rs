//! The config crate's error type.

use std::path::PathBuf;

/// A configuration problem; the CLI exits with status 2 for all of these.
#[derive(Debug, thiserror::Error)]
pub enum ConfigError {
    /// Neither `$CORDON_HOME` nor `$HOME` is set.
    #[error("cannot find cordon's home: set CORDON_HOME or HOME")]
    NoHome,
    /// The file exists but could not be read.
    #[error("cannot read {path}: {source}")]
    Read {
        /// The file.
        path: PathBuf,
        /// Why.
        source: std::io::Error,
    },
    /// A bad value or malformed TOML in the file.
    #[error("{path}:{line}:{column}: {key}: {message}")]
    Invalid {
        /// The file.
        path: PathBuf,
        /// 1-based line.
        line: usize,
        /// 1-based column.
        column: usize,
        /// Dotted key path (or `(document)` for a syntax error).
        key: String,
        /// What is wrong.
        message: String,
    },
    /// A bad domain rule in `[network.domains]`.
    #[error("{path}: {key}: {message}")]
    Rule {
        /// The file.
        path: PathBuf,
        /// The key.
        key: String,
        /// What is wrong.
        message: String,
    },
    /// A bad `-c key=value` override.
    #[error("-c {raw}: {message}")]
    Override {
        /// The override as given.
        raw: String,
        /// What is wrong.
        message: String,
    },
    /// `-p NAME` or `profile = NAME` names no `[profiles.NAME]` table.
    #[error("profile `{0}` is not defined (add a [profiles.{0}] table to config.toml)")]
    UnknownProfile(String),
}
