//! Editing `config.toml`'s `[mcp_servers]` for `cordon mcp add|remove`,
//! keeping the user's comments and formatting (`toml_edit`). Each edit is
//! checked by loading the result before it is written.

use crate::{ConfigError, Overrides};
use std::path::Path;

/// A server to add, as `cordon mcp add` was given it.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct NewServer {
    /// The name.
    pub name: String,
    /// stdio: program and arguments.
    pub command: Vec<String>,
    /// stdio: literal variables.
    pub env: Vec<(String, String)>,
    /// Streamable HTTP: the URL.
    pub url: Option<String>,
    /// Streamable HTTP: variable with a bearer token.
    pub bearer_token_env_var: Option<String>,
    /// `sandbox_mode`.
    pub sandbox_mode: Option<String>,
    /// `network`.
    pub network: Option<String>,
    /// `allow_domains`.
    pub allow_domains: Vec<String>,
}

fn syntax(path: &Path, text: &str, e: toml_edit::TomlError) -> ConfigError {
    let offset = e.span().map(|s| s.start).unwrap_or(0).min(text.len());
    let before = text.get(..offset).unwrap_or("");
    ConfigError::Invalid {
        path: path.to_path_buf(),
        line: before.matches('\n').count() + 1,
        column: before.rsplit('\n').next().map_or(0, |l| l.chars().count()) + 1,
        key: "(document)".into(),
        message: e.message().trim().to_string(),
    }
}

/// The `[mcp_servers]` table, created (as a header-less parent) if missing.
fn servers_table<'a>(
    doc: &'a mut toml_edit::DocumentMut,
    path: &Path,
) -> Result<&'a mut toml_edit::Table, ConfigError> {
    let item = doc.entry("mcp_servers").or_insert_with(|| {
        let mut t = toml_edit::Table::new();
        t.set_implicit(true);
        toml_edit::Item::Table(t)
    });
    item.as_table_mut().ok_or_else(|| ConfigError::Rule {
        path: path.to_path_buf(),
        key: "mcp_servers".into(),
        message: "is not a table".into(),
    })
}

/// `text` with `server` added (replacing one of the same name); the
/// result is loaded to check it before it is returned.
pub fn add_server(path: &Path, text: &str, server: &NewServer) -> Result<String, ConfigError> {
    let mut doc: toml_edit::DocumentMut = text.parse().map_err(|e| syntax(path, text, e))?;
    let mut t = toml_edit::Table::new();
    let strings = |v: &[String]| {
        let mut a = toml_edit::Array::new();
        for s in v {
            a.push(s.as_str());
        }
        toml_edit::value(a)
    };
    if let Some((program, args)) = server.command.split_first() {
        t["command"] = toml_edit::value(program.as_str());
        if !args.is_empty() {
            t["args"] = strings(args);
        }
    }
    if !server.env.is_empty() {
        let mut env = toml_edit::InlineTable::new();
        for (k, v) in &server.env {
            env.insert(k, v.as_str().into());
        }
        t["env"] = toml_edit::value(env);
    }
    if let Some(url) = &server.url {
        t["url"] = toml_edit::value(url.as_str());
    }
    if let Some(var) = &server.bearer_token_env_var {
        t["bearer_token_env_var"] = toml_edit::value(var.as_str());
    }
    if let Some(mode) = &server.sandbox_mode {
        t["sandbox_mode"] = toml_edit::value(mode.as_str());
    }
    if let Some(network) = &server.network {
        t["network"] = toml_edit::value(network.as_str());
    }
    if !server.allow_domains.is_empty() {
        t["allow_domains"] = strings(&server.allow_domains);
    }
    servers_table(&mut doc, path)?.insert(&server.name, toml_edit::Item::Table(t));
    let out = doc.to_string();
    crate::load_from_str(
        path.parent().unwrap_or(Path::new(".")),
        path,
        &out,
        &Overrides::default(),
    )?;
    Ok(out)
}

/// `text` without `[mcp_servers.NAME]`; `None` when there is none.
pub fn remove_server(path: &Path, text: &str, name: &str) -> Result<Option<String>, ConfigError> {
    let mut doc: toml_edit::DocumentMut = text.parse().map_err(|e| syntax(path, text, e))?;
    let Some(servers) = doc
        .get_mut("mcp_servers")
        .and_then(|i| i.as_table_like_mut())
    else {
        return Ok(None);
    };
    if servers.remove(name).is_none() {
        return Ok(None);
    }
    let empty = servers.is_empty();
    if empty {
        if let Some(t) = doc.get("mcp_servers").and_then(|i| i.as_table()) {
            if t.is_implicit() {
                doc.remove("mcp_servers");
            }
        }
    }
    Ok(Some(doc.to_string()))
}

#[cfg(test)]
mod tests {
    use super::*;

    const FILE: &str = "# my settings\nmodel = \"m\" # the model\n\n[mcp_servers.old]\n# keep me\ncommand = \"old-server\"\n";

    #[test]
    fn add_and_remove_keep_comments_and_formatting() {
        let p = Path::new("/h/config.toml");
        let added = add_server(
            p,
            FILE,
            &NewServer {
                name: "docs".into(),
                command: vec!["npx".into(), "-y".into(), "docs".into()],
                env: vec![("K".into(), "v".into())],
                sandbox_mode: Some("workspace-write".into()),
                network: Some("proxy".into()),
                allow_domains: vec!["example.com".into()],
                ..Default::default()
            },
        )
        .unwrap();
        assert!(added.starts_with(FILE), "{added}");
        assert!(added.contains("[mcp_servers.docs]\ncommand = \"npx\"\nargs = [\"-y\", \"docs\"]\nenv = { K = \"v\" }\nsandbox_mode = \"workspace-write\""), "{added}");
        let removed = remove_server(p, &added, "docs").unwrap().unwrap();
        assert_eq!(removed, FILE);
        let none = remove_server(p, &removed, "old").unwrap().unwrap();
        assert_eq!(none, "# my settings\nmodel = \"m\" # the model\n");
        assert_eq!(remove_server(p, FILE, "nope").unwrap(), None);
    }

    #[test]
    fn an_add_that_makes_a_bad_config_is_refused() {
        let p = Path::new("/h/config.toml");
        let bad = NewServer {
            name: "x".into(),
            command: vec!["s".into()],
            network: Some("proxy".into()),
            ..Default::default()
        };
        let e = add_server(p, "", &bad).unwrap_err();
        assert!(e.to_string().contains("only with `sandbox_mode`"), "{e}");
    }
}
