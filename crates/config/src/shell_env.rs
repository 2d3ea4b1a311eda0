//! `[shell_environment_policy]`: which environment variables the agent's
//! commands get, with Codex's keys. This is the data; the function that
//! applies it to an environment is `cordon_core::shell_env::command_env`.

use serde::Deserialize;
use std::collections::BTreeMap;

/// `inherit`: the starting point.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum Inherit {
    /// cordon's whole environment (the default).
    #[default]
    All,
    /// Only the core variables (see `cordon_core::shell_env::CORE_VARS`).
    Core,
    /// Nothing: only what `set` adds.
    None,
}

/// A case-insensitive glob on variable names: `*` matches any run of
/// characters, `?` exactly one; everything else matches itself.
#[derive(Debug, Clone, PartialEq, Eq, Deserialize)]
#[serde(try_from = "String")]
pub struct EnvPattern(String);

impl EnvPattern {
    /// Checks `pattern`: not empty, and none of `=`, whitespace, `,`, `[`,
    /// `]`, `{`, `}`, `\` (glob syntax cordon does not support, or a list
    /// written as one string).
    pub fn parse(pattern: &str) -> Result<EnvPattern, String> {
        if pattern.is_empty() {
            return Err("an empty pattern matches no variable".into());
        }
        if let Some(bad) = pattern
            .chars()
            .find(|c| c.is_whitespace() || c.is_control() || "=,[]{}\\".contains(*c))
        {
            return Err(format!(
                "`{pattern}` is not a name pattern: `{}` is not allowed (only `*` and `?` are wildcards; give one name or pattern per string)",
                bad.escape_default()
            ));
        }
        Ok(EnvPattern(pattern.to_string()))
    }

    /// Whether `name` matches, ignoring ASCII case.
    pub fn matches(&self, name: &str) -> bool {
        glob_matches(&self.0, name)
    }

    /// The pattern as written.
    pub fn as_str(&self) -> &str {
        &self.0
    }
}

impl TryFrom<String> for EnvPattern {
    type Error = String;
    fn try_from(s: String) -> Result<Self, String> {
        EnvPattern::parse(&s)
    }
}

impl std::fmt::Display for EnvPattern {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(&self.0)
    }
}

/// Whether `name` matches the glob `pattern` (`*` any run, `?` one
/// character), ignoring ASCII case.
pub fn glob_matches(pattern: &str, name: &str) -> bool {
    let p: Vec<char> = pattern.chars().map(|c| c.to_ascii_uppercase()).collect();
    let n: Vec<char> = name.chars().map(|c| c.to_ascii_uppercase()).collect();
    let (mut pi, mut ni) = (0, 0);
    // Where the last `*` was, and how much of the name it has taken.
    let mut star: Option<(usize, usize)> = None;
    while ni < n.len() {
        match p.get(pi) {
            Some('*') => {
                star = Some((pi, ni));
                pi += 1;
            }
            Some(&c) if c == '?' || c == n[ni] => {
                pi += 1;
                ni += 1;
            }
            _ => match star {
                Some((sp, sn)) => {
                    // Let the last `*` take one more character.
                    pi = sp + 1;
                    ni = sn + 1;
                    star = Some((sp, sn + 1));
                }
                None => return false,
            },
        }
    }
    p[pi..].iter().all(|&c| c == '*')
}

/// A variable name for `set`: not empty, no `=` or NUL.
#[derive(Debug, Clone, PartialEq, Eq, PartialOrd, Ord, Deserialize)]
#[serde(try_from = "String")]
pub struct EnvName(String);

impl EnvName {
    /// The name.
    pub fn as_str(&self) -> &str {
        &self.0
    }
}

impl TryFrom<String> for EnvName {
    type Error = String;
    fn try_from(s: String) -> Result<Self, String> {
        if s.is_empty() || s.contains(['=', '\0']) {
            return Err(format!(
                "`{}` is not a variable name (it must be non-empty, without `=` or NUL)",
                s.escape_default()
            ));
        }
        Ok(EnvName(s))
    }
}

/// A value for `set`: any string without NUL.
#[derive(Debug, Clone, PartialEq, Eq, Deserialize)]
#[serde(try_from = "String")]
pub struct EnvValue(String);

impl EnvValue {
    /// The value.
    pub fn as_str(&self) -> &str {
        &self.0
    }
}

impl TryFrom<String> for EnvValue {
    type Error = String;
    fn try_from(s: String) -> Result<Self, String> {
        if s.contains('\0') {
            return Err("a variable's value cannot contain NUL".into());
        }
        Ok(EnvValue(s))
    }
}

/// `[shell_environment_policy]` as written.
#[derive(Debug, Clone, Default, Deserialize, PartialEq, Eq)]
pub struct ShellEnvironmentPolicyToml {
    /// `all`, `core` or `none`.
    pub inherit: Option<Inherit>,
    /// Keep the names and values the default excludes would drop.
    pub ignore_default_excludes: Option<bool>,
    /// Names to drop.
    pub exclude: Option<Vec<EnvPattern>>,
    /// Variables to set.
    pub set: Option<BTreeMap<EnvName, EnvValue>>,
    /// When not empty, only matching names are kept.
    pub include_only: Option<Vec<EnvPattern>>,
}

/// `[shell_environment_policy]`, resolved. Applied in Codex's order:
/// `inherit`, then the default excludes (unless
/// `ignore_default_excludes`), then `exclude`, then `set`, then
/// `include_only`.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct ShellEnvironmentPolicy {
    /// The starting point.
    pub inherit: Inherit,
    /// Skip the default excludes (secret-looking names, URLs with
    /// credentials).
    pub ignore_default_excludes: bool,
    /// Names dropped after the default excludes.
    pub exclude: Vec<EnvPattern>,
    /// Variables set (or replaced) after the excludes.
    pub set: BTreeMap<String, String>,
    /// When not empty, only matching names survive (`set` ones included).
    pub include_only: Vec<EnvPattern>,
}

impl From<ShellEnvironmentPolicyToml> for ShellEnvironmentPolicy {
    fn from(t: ShellEnvironmentPolicyToml) -> Self {
        ShellEnvironmentPolicy {
            inherit: t.inherit.unwrap_or_default(),
            ignore_default_excludes: t.ignore_default_excludes.unwrap_or(false),
            exclude: t.exclude.unwrap_or_default(),
            set: t
                .set
                .unwrap_or_default()
                .into_iter()
                .map(|(k, v)| (k.0, v.0))
                .collect(),
            include_only: t.include_only.unwrap_or_default(),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn globs_match_case_insensitively_with_star_and_question_mark() {
        for (p, n) in [
            ("*KEY*", "openai_api_key"),
            ("*KEY*", "KEY"),
            ("*_PAT", "GITHUB_PAT"),
            ("AWS_*", "aws_region"),
            ("LC_?", "LC_X"),
            ("*", ""),
            ("a*b*c", "aXXbYYc"),
            ("a*b", "abab"),
        ] {
            assert!(glob_matches(p, n), "{p} {n}");
        }
        for (p, n) in [
            ("*_PAT", "PATH"),
            ("*_PAT", "GITHUB_PATH"),
            ("AWS_*", "XAWS_REGION"),
            ("LC_?", "LC_ALL"),
            ("a*b", "abac"),
            ("HOME", "HOMER"),
        ] {
            assert!(!glob_matches(p, n), "{p} {n}");
        }
    }

    #[test]
    fn bad_patterns_and_names_are_refused_with_the_reason() {
        for bad in ["", "A B", "A,B", "[AB]", "{A,B}", "A=B", "A\\B"] {
            assert!(EnvPattern::parse(bad).is_err(), "{bad:?}");
        }
        assert!(EnvPattern::parse("MY_*_VAR?").is_ok());
        let e = EnvPattern::parse("[AB]").unwrap_err();
        assert!(e.contains("`[`") && e.contains("wildcards"), "{e}");
        assert!(EnvName::try_from(String::new()).is_err());
        assert!(EnvName::try_from("A=B".to_string()).is_err());
        assert!(EnvValue::try_from("a\0b".to_string()).is_err());
    }
}
