//! Merging the file, the profile and `-c` overrides, with located errors.

use crate::{ConfigError, ConfigToml, Overrides};
use std::path::Path;
use toml::{Table, Value};

/// The merged result of all layers.
pub(crate) struct Merged {
    pub config: ConfigToml,
    pub profile: Option<String>,
}

/// Parses one `-c key.path=value` into its key path and value. The value is
/// read as TOML when it parses as TOML, else taken as a string.
pub fn parse_override(raw: &str) -> Result<(Vec<String>, Value), ConfigError> {
    let err = |message: &str| ConfigError::Override {
        raw: raw.to_string(),
        message: message.to_string(),
    };
    let (key, value) = raw
        .split_once('=')
        .ok_or_else(|| err("expected key=value"))?;
    let key = key.trim();
    let path: Vec<String> = key.split('.').map(|s| s.trim().to_string()).collect();
    if path.iter().any(String::is_empty) {
        return Err(err("empty key"));
    }
    let value = value.trim();
    let parsed = format!("v = {value}")
        .parse::<Table>()
        .ok()
        .and_then(|mut t| t.remove("v"))
        .unwrap_or_else(|| Value::String(value.to_string()));
    Ok((path, parsed))
}

/// Deserializes `text` (the file) with warnings for unknown keys and an
/// error that names line, column and key for bad values.
fn typed(path: &Path, text: &str, warnings: &mut Vec<String>) -> Result<ConfigToml, ConfigError> {
    let located = |span: Option<std::ops::Range<usize>>, key: String, message: String| {
        let offset = span.map(|s| s.start).unwrap_or(0).min(text.len());
        let before = &text[..offset];
        let line = before.matches('\n').count() + 1;
        let column = before
            .rsplit('\n')
            .next()
            .map(|l| l.chars().count())
            .unwrap_or(0)
            + 1;
        ConfigError::Invalid {
            path: path.to_path_buf(),
            line,
            column,
            key,
            message,
        }
    };
    let de = toml::Deserializer::parse(text).map_err(|e| {
        located(
            e.span(),
            "(document)".into(),
            e.message().trim().to_string(),
        )
    })?;
    let mut unknown = Vec::new();
    let mut record = |p: serde_ignored::Path<'_>| {
        unknown.push(p.to_string().replace("?", "").replace("..", "."))
    };
    let ignored = serde_ignored::Deserializer::new(de, &mut record);
    let config: ConfigToml = serde_path_to_error::deserialize(ignored).map_err(|e| {
        let key = e.path().to_string();
        let inner = e.into_inner();
        located(inner.span(), key, inner.message().trim().to_string())
    })?;
    for key in unknown {
        warnings.push(format!("{}: unknown key `{key}` ignored", path.display()));
    }
    Ok(config)
}

/// Sets `value` at `path` in `table`, creating tables on the way.
fn set_path(table: &mut Table, path: &[String], value: Value) -> Result<(), String> {
    let Some((last, parents)) = path.split_last() else {
        return Err("empty key".into());
    };
    let mut cur = table;
    for key in parents {
        let entry = cur
            .entry(key.clone())
            .or_insert_with(|| Value::Table(Table::new()));
        cur = entry
            .as_table_mut()
            .ok_or_else(|| format!("`{key}` is not a table"))?;
    }
    cur.insert(last.clone(), value);
    Ok(())
}

/// Merges `over` into `base`, table by table.
fn deep_merge(base: &mut Table, over: Table) {
    for (key, value) in over {
        match (base.get_mut(&key), value) {
            (Some(Value::Table(b)), Value::Table(o)) => deep_merge(b, o),
            (_, value) => {
                base.insert(key, value);
            }
        }
    }
}

pub(crate) fn merge(
    path: &Path,
    text: &str,
    overrides: &Overrides,
    warnings: &mut Vec<String>,
) -> Result<Merged, ConfigError> {
    // Validate the file with spans first so that errors point into it.
    let file = typed(path, text, warnings)?;
    let mut table: Table = text.parse().unwrap_or_default();
    let profiles = table.remove("profiles");
    table.remove("profile");

    let mut parsed_overrides = Vec::new();
    let mut override_profile = None;
    for raw in &overrides.raw {
        let (key, value) = parse_override(raw)?;
        if key == ["profile"] {
            override_profile = value.as_str().map(str::to_string);
            continue;
        }
        // Validate the override alone so the error names it.
        let mut alone = Table::new();
        set_path(&mut alone, &key, value.clone()).map_err(|message| ConfigError::Override {
            raw: raw.clone(),
            message,
        })?;
        let mut ignore = Vec::new();
        typed(Path::new("-c"), &alone.to_string(), &mut ignore).map_err(|e| {
            ConfigError::Override {
                raw: raw.clone(),
                message: match e {
                    ConfigError::Invalid { message, .. } => message,
                    other => other.to_string(),
                },
            }
        })?;
        if !ignore.is_empty() {
            warnings.push(format!("-c {raw}: unknown key `{}` ignored", key.join(".")));
        }
        parsed_overrides.push((raw, key, value));
    }

    let profile = overrides
        .profile
        .clone()
        .or(override_profile)
        .or(file.profile.clone());
    if let Some(name) = &profile {
        let layer = profiles
            .as_ref()
            .and_then(|p| p.get(name))
            .and_then(Value::as_table)
            .ok_or_else(|| ConfigError::UnknownProfile(name.clone()))?;
        deep_merge(&mut table, layer.clone());
    }
    for (raw, key, value) in parsed_overrides {
        set_path(&mut table, &key, value).map_err(|message| ConfigError::Override {
            raw: raw.clone(),
            message,
        })?;
    }
    let mut ignore = Vec::new();
    let config = typed(path, &table.to_string(), &mut ignore)?;
    Ok(Merged { config, profile })
}
