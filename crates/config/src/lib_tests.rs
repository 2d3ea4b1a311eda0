use super::*;

fn load_text(text: &str, o: &Overrides) -> Result<Config, ConfigError> {
    load_from_str(Path::new("/h"), Path::new("/h/config.toml"), text, o)
}

#[test]
fn defaults_without_a_file() {
    let c = load_text("", &Overrides::default()).unwrap();
    assert_eq!(c.sandbox_mode, SandboxMode::ReadOnly);
    assert_eq!(c.network, NetworkMode::None);
    assert!(!c.allow_degraded);
}

#[test]
fn precedence_flag_over_c_over_profile_over_file() {
    let text = r#"
sandbox_mode = "read-only"
profile = "work"
[profiles.work]
sandbox_mode = "workspace-write"
[profiles.work.sandbox_workspace_write]
exclude_slash_tmp = true
"#;
    let mut o = Overrides::default();
    let c = load_text(text, &o).unwrap();
    assert_eq!(
        c.sandbox_mode,
        SandboxMode::WorkspaceWrite,
        "profile over file"
    );
    assert!(c.workspace_write.exclude_slash_tmp);
    assert_eq!(c.profile.as_deref(), Some("work"));

    o.raw = vec!["sandbox_mode=danger-full-access".into()];
    let c = load_text(text, &o).unwrap();
    assert_eq!(
        c.sandbox_mode,
        SandboxMode::DangerFullAccess,
        "-c over profile"
    );

    o.sandbox_mode = Some(SandboxMode::ReadOnly);
    let c = load_text(text, &o).unwrap();
    assert_eq!(c.sandbox_mode, SandboxMode::ReadOnly, "flag over -c");
}

#[test]
fn c_values_parse_as_toml_else_string() {
    let o = Overrides {
        raw: vec![
            "sandbox_workspace_write.writable_roots=[\"/a\", \"/b\"]".into(),
            "sandbox_workspace_write.network_access=true".into(),
            "sandbox_mode=workspace-write".into(),
        ],
        ..Default::default()
    };
    let c = load_text("", &o).unwrap();
    assert_eq!(c.workspace_write.writable_roots.len(), 2);
    assert_eq!(
        c.network,
        NetworkMode::Full,
        "network_access in workspace-write"
    );
}

#[test]
fn bad_value_names_file_line_column_and_key() {
    let text = "\n[sandbox_workspace_write]\nexclude_slash_tmp = \"yes\"\n";
    let err = load_text(text, &Overrides::default()).unwrap_err();
    match &err {
        ConfigError::Invalid {
            line, column, key, ..
        } => {
            assert_eq!((*line, *column), (3, 21));
            assert_eq!(key, "sandbox_workspace_write.exclude_slash_tmp");
        }
        other => panic!("unexpected {other:?}"),
    }
    assert!(
        err.to_string().starts_with("/h/config.toml:3:21: "),
        "{err}"
    );
}

#[test]
fn bad_mode_and_syntax_errors_are_located() {
    let err = load_text("sandbox_mode = \"yolo\"\n", &Overrides::default()).unwrap_err();
    assert!(err.to_string().contains(":1:16: sandbox_mode:"), "{err}");
    let err = load_text("a = [\n", &Overrides::default()).unwrap_err();
    assert!(matches!(err, ConfigError::Invalid { .. }), "{err}");
}

#[test]
fn unknown_keys_warn() {
    let c = load_text(
        "colour = 1\n[sandbox_workspace_write]\nfoo = 2\n",
        &Overrides::default(),
    )
    .unwrap();
    assert_eq!(c.warnings.len(), 2, "{:?}", c.warnings);
    assert!(
        c.warnings
            .iter()
            .any(|w| w.contains("sandbox_workspace_write.foo")),
        "{:?}",
        c.warnings
    );
}

#[test]
fn bad_override_and_unknown_profile_are_errors() {
    let o = Overrides {
        raw: vec!["sandbox_mode=42".into()],
        ..Default::default()
    };
    let err = load_text("", &o).unwrap_err();
    assert!(err.to_string().starts_with("-c sandbox_mode=42: "), "{err}");
    let o = Overrides {
        raw: vec!["novalue".into()],
        ..Default::default()
    };
    assert!(matches!(
        load_text("", &o),
        Err(ConfigError::Override { .. })
    ));
    let o = Overrides {
        profile: Some("nope".into()),
        ..Default::default()
    };
    assert!(matches!(
        load_text("", &o),
        Err(ConfigError::UnknownProfile(_))
    ));
}

#[test]
fn network_section_mode_rules_and_bad_patterns() {
    let text = "[network]\nmode = \"proxy\"\nallow_local_binding = true\n[network.domains]\n\"*.example.com\" = \"allow\"\n\"bad.example.com\" = \"deny\"\n";
    let c = load_text(text, &Overrides::default()).unwrap();
    assert_eq!(c.network, NetworkMode::Proxy);
    assert!(c.allow_local_binding);
    assert_eq!(c.domain_rules.rules().len(), 2);
    let err = load_text(
        "[network.domains]\n\"a..b\" = \"allow\"\n",
        &Overrides::default(),
    )
    .unwrap_err();
    assert!(
        err.to_string().contains("network.domains.\"a..b\""),
        "{err}"
    );
    let err = load_text(
        "[network.domains]\n\"a.com\" = \"maybe\"\n",
        &Overrides::default(),
    )
    .unwrap_err();
    assert!(
        err.to_string().contains(":2:11: network.domains.a.com"),
        "{err}"
    );
}

#[test]
fn providers_built_in_user_defined_and_overridden() {
    let text = r#"
model = "qwen3"
model_provider = "local"
approval_policy = "on-failure"
notify = ["notify-send", "cordon"]
[model_providers.local]
name = "vLLM"
base_url = "http://127.0.0.1:8000/v1"
env_key = "LOCAL_KEY"
wire_api = "chat"
query_params = { "api-version" = "2025-01-01" }
http_headers = { "X-Team" = "infra" }
request_max_retries = 1
stream_max_retries = 0
stream_idle_timeout_ms = 1500
[model_providers.openai]
request_max_retries = 9
"#;
    let c = load_text(text, &Overrides::default()).unwrap();
    assert_eq!(c.approval_policy, ApprovalPolicy::OnFailure);
    assert_eq!(c.notify, ["notify-send", "cordon"]);
    let (model, p) = c.model().unwrap();
    assert_eq!(model, "qwen3");
    assert_eq!(p.name, "vLLM");
    assert_eq!(p.wire_api, WireApi::Chat);
    assert_eq!(p.env_key.as_deref(), Some("LOCAL_KEY"));
    assert_eq!(p.query_params["api-version"], "2025-01-01");
    assert_eq!(p.http_headers["X-Team"], "infra");
    assert_eq!(
        (
            p.request_max_retries,
            p.stream_max_retries,
            p.stream_idle_timeout_ms
        ),
        (1, 0, 1500)
    );

    // A built-in keeps what the user does not set.
    let o = Overrides {
        model_provider: Some("openai".into()),
        model: Some("gpt-x".into()),
        ..Default::default()
    };
    let (model, p) = load_text(text, &o).unwrap().model().unwrap();
    assert_eq!(model, "gpt-x");
    assert_eq!(p.wire_api, WireApi::Responses);
    assert_eq!(p.env_key.as_deref(), Some("OPENAI_API_KEY"));
    assert_eq!(p.request_max_retries, 9);

    // --oss: ollama with its default model and Chat Completions.
    let o = Overrides {
        model_provider: Some("ollama".into()),
        ..Default::default()
    };
    let (model, p) = load_text("", &o).unwrap().model().unwrap();
    assert_eq!(p.wire_api, WireApi::Chat);
    assert!(p.base_url.contains(":11434"), "{}", p.base_url);
    assert_eq!(model, "gpt-oss:20b");
}

#[test]
fn bad_provider_settings_name_the_key() {
    for (text, key) in [
        ("model_provider = \"nope\"", "model_provider"),
        (
            "model_provider = \"x\"\n[model_providers.x]\nname = \"X\"",
            "model_providers.x.base_url",
        ),
        (
            "model_provider = \"x\"\n[model_providers.x]\nbase_url = \"localhost:1\"",
            "model_providers.x.base_url",
        ),
        (
            "[model_providers.openai]\nrequest_max_retries = 1000",
            "model_providers.openai.request_max_retries",
        ),
        (
            "[model_providers.openai]\nstream_idle_timeout_ms = 0",
            "model_providers.openai.stream_idle_timeout_ms",
        ),
        (
            "[model_providers.openai]\nhttp_headers = { \"Bad Name\" = \"v\" }",
            "model_providers.openai.http_headers.Bad Name",
        ),
    ] {
        let c = load_text(text, &Overrides::default());
        let e = c.and_then(|c| c.model()).unwrap_err().to_string();
        assert!(e.contains(key), "{text}: {e}");
    }
    // A type error is located in the file like any other.
    let e = load_text(
        "[model_providers.x]\nwire_api = \"soap\"",
        &Overrides::default(),
    )
    .unwrap_err()
    .to_string();
    assert!(
        e.contains("config.toml:2:") && e.contains("model_providers.x.wire_api"),
        "{e}"
    );
    let e = load_text("notify = []", &Overrides::default())
        .unwrap_err()
        .to_string();
    assert!(e.contains("notify"), "{e}");
}

#[test]
fn windows_sandbox_key() {
    let c = load_text("", &Overrides::default()).unwrap();
    assert_eq!(c.windows_sandbox, cordon_policy::WindowsSandbox::Elevated);
    let c = load_text(
        "[windows]\nsandbox = \"unelevated\"\n",
        &Overrides::default(),
    )
    .unwrap();
    assert_eq!(c.windows_sandbox, cordon_policy::WindowsSandbox::Unelevated);
    let o = Overrides {
        raw: vec!["windows.sandbox=elevated".into()],
        ..Default::default()
    };
    let c = load_text("[windows]\nsandbox = \"unelevated\"\n", &o).unwrap();
    assert_eq!(c.windows_sandbox, cordon_policy::WindowsSandbox::Elevated);
    let err = load_text("[windows]\nsandbox = \"admin\"\n", &Overrides::default()).unwrap_err();
    assert!(err.to_string().contains("windows.sandbox"), "{err}");
}

#[test]
fn shell_environment_policy_defaults_file_profile_and_c() {
    let c = load_text("", &Overrides::default()).unwrap();
    assert_eq!(
        c.shell_environment_policy,
        ShellEnvironmentPolicy::default()
    );
    assert_eq!(c.shell_environment_policy.inherit, Inherit::All);
    assert!(!c.shell_environment_policy.ignore_default_excludes);

    let text = r#"
profile = "tight"
[shell_environment_policy]
inherit = "core"
ignore_default_excludes = true
exclude = ["AWS_*", "*_URL"]
include_only = ["PATH", "HOME", "MY_?"]
set = { MY_A = "1", CI = "true" }
[profiles.tight.shell_environment_policy]
inherit = "none"
set = { MY_B = "2" }
"#;
    let mut o = Overrides {
        profile: Some("tight".into()),
        ..Default::default()
    };
    let p = load_text(text, &o).unwrap().shell_environment_policy;
    assert_eq!(p.inherit, Inherit::None, "profile over file");
    assert!(p.ignore_default_excludes);
    let patterns = |v: &[EnvPattern]| v.iter().map(|p| p.to_string()).collect::<Vec<_>>();
    assert_eq!(patterns(&p.exclude), ["AWS_*", "*_URL"]);
    assert_eq!(patterns(&p.include_only), ["PATH", "HOME", "MY_?"]);
    // A profile's `set` table merges with the file's, key by key.
    let set: Vec<(&str, &str)> = p
        .set
        .iter()
        .map(|(k, v)| (k.as_str(), v.as_str()))
        .collect();
    assert_eq!(set, [("CI", "true"), ("MY_A", "1"), ("MY_B", "2")]);

    o.raw = vec![
        "shell_environment_policy.inherit=all".into(),
        "shell_environment_policy.set.MY_A=changed".into(),
    ];
    let p = load_text(text, &o).unwrap().shell_environment_policy;
    assert_eq!(p.inherit, Inherit::All, "-c over profile");
    assert_eq!(p.set["MY_A"], "changed");
}

#[test]
fn bad_shell_environment_policy_values_are_located() {
    for (text, at, key, why) in [
        (
            "[shell_environment_policy]\ninherit = \"some\"\n",
            ":2:11: ",
            "shell_environment_policy.inherit",
            "unknown variant `some`",
        ),
        (
            "[shell_environment_policy]\nignore_default_excludes = \"yes\"\n",
            ":2:27: ",
            "shell_environment_policy.ignore_default_excludes",
            "expected a boolean",
        ),
        (
            "[shell_environment_policy]\nexclude = \"AWS_*\"\n",
            ":2:11: ",
            "shell_environment_policy.exclude",
            "expected a sequence",
        ),
        (
            "[shell_environment_policy]\nexclude = [\"OK\", \"[AB]*\"]\n",
            ":2:11: ",
            "shell_environment_policy.exclude[1]",
            "`[AB]*` is not a name pattern",
        ),
        (
            "[shell_environment_policy]\ninclude_only = [\"\"]\n",
            ":2:16: ",
            "shell_environment_policy.include_only[0]",
            "empty pattern",
        ),
        (
            "[shell_environment_policy]\nset = { A = 1 }\n",
            ":2:13: ",
            "shell_environment_policy.set.A",
            "expected a string",
        ),
        (
            "[shell_environment_policy]\nset = { \"A=B\" = \"x\" }\n",
            ":2:9: ",
            "shell_environment_policy.set.A=B",
            "not a variable name",
        ),
    ] {
        let err = load_text(text, &Overrides::default()).unwrap_err();
        let msg = err.to_string();
        assert!(
            msg.starts_with("/h/config.toml") && msg.contains(&format!("{at}{key}")),
            "{text}: {msg}"
        );
        assert!(msg.contains(why), "{text}: {msg}");
    }
    let o = Overrides {
        raw: vec!["shell_environment_policy.inherit=most".into()],
        ..Default::default()
    };
    let err = load_text("", &o).unwrap_err();
    assert!(
        err.to_string()
            .starts_with("-c shell_environment_policy.inherit=most: "),
        "{err}"
    );
    // A key cordon does not know (Codex's `experimental_use_profile`) warns.
    let c = load_text(
        "[shell_environment_policy]\nexperimental_use_profile = true\n",
        &Overrides::default(),
    )
    .unwrap();
    assert!(
        c.warnings
            .iter()
            .any(|w| w.contains("shell_environment_policy.experimental_use_profile")),
        "{:?}",
        c.warnings
    );
}

#[test]
fn tui_keys_defaults_values_and_errors() {
    let c = load_text("", &Overrides::default()).unwrap();
    assert!(!c.hide_agent_reasoning);
    assert_eq!(c.model_context_window, None);
    assert_eq!(c.tui, crate::TuiToml::default());
    let c = load_text(
        "hide_agent_reasoning = true\nmodel_context_window = 1000\nmodel_auto_compact_token_limit = 900\n[tui]\nnotifications = [\"approval-requested\"]\nalternate_screen = \"never\"\n",
        &Overrides::default(),
    )
    .unwrap();
    assert!(c.hide_agent_reasoning);
    assert_eq!(c.model_context_window, Some(1000));
    assert_eq!(c.model_auto_compact_token_limit, Some(900));
    let n = c.tui.notifications.unwrap();
    assert!(n.wants(crate::NotificationKind::ApprovalRequested));
    assert!(!n.wants(crate::NotificationKind::AgentTurnComplete));
    assert_eq!(c.tui.alternate_screen, Some(crate::AlternateScreen::Never));
    let o = Overrides {
        raw: vec!["tui.notifications=true".into()],
        ..Default::default()
    };
    let c = load_text("", &o).unwrap();
    assert!(c
        .tui
        .notifications
        .unwrap()
        .wants(crate::NotificationKind::AgentTurnComplete));
    let err = load_text(
        "[tui]\nalternate_screen = \"sometimes\"\n",
        &Overrides::default(),
    )
    .unwrap_err();
    assert!(err.to_string().contains("alternate_screen"), "{err}");
}

#[test]
fn mcp_servers_stdio_and_http_with_defaults() {
    let text = r#"
[mcp_servers.docs]
command = "npx"
args = ["-y", "docs-server"]
env = { "A" = "1" }
env_vars = ["GITHUB_TOKEN"]
required = true
tool_timeout_sec = 2.5
enabled_tools = ["search", "fetch"]
disabled_tools = ["fetch"]
default_tools_approval_mode = "prompt"
sandbox_mode = "workspace-write"
writable_roots = ["/data"]
network = "proxy"
allow_domains = ["example.com"]
[mcp_servers.docs.tools.search]
approval_mode = "approve"

[mcp_servers.remote]
url = "https://mcp.example.com/mcp"
bearer_token_env_var = "TOKEN"
http_headers = { "X-Team" = "a" }
enabled = false
"#;
    let c = load_text(text, &Overrides::default()).unwrap();
    assert!(c.warnings.is_empty(), "{:?}", c.warnings);
    let [docs, remote] = &c.mcp_servers[..] else {
        panic!("{:?}", c.mcp_servers)
    };
    assert_eq!(docs.name, "docs");
    match &docs.transport {
        McpTransport::Stdio {
            command,
            args,
            env,
            env_vars,
            ..
        } => {
            assert_eq!(command, "npx");
            assert_eq!(args, &["-y", "docs-server"]);
            assert_eq!(env.get("A").map(String::as_str), Some("1"));
            assert_eq!(env_vars, &["GITHUB_TOKEN"]);
        }
        other => panic!("{other:?}"),
    }
    assert!(docs.required && docs.enabled);
    assert_eq!(docs.startup_timeout, DEFAULT_STARTUP_TIMEOUT);
    assert_eq!(docs.tool_timeout, std::time::Duration::from_millis(2500));
    assert!(docs.tool_enabled("search"));
    assert!(!docs.tool_enabled("fetch"), "disabled wins");
    assert!(!docs.tool_enabled("other"), "not in enabled_tools");
    assert_eq!(docs.approval_mode("search"), ToolApprovalMode::Approve);
    assert_eq!(docs.approval_mode("other"), ToolApprovalMode::Prompt);
    let sandbox = docs.sandbox.as_ref().unwrap();
    assert_eq!(sandbox.mode, SandboxMode::WorkspaceWrite);
    assert_eq!(sandbox.network, NetworkMode::Proxy);
    assert_eq!(sandbox.allow_domains, ["example.com"]);
    assert!(!remote.enabled && !remote.required);
    assert_eq!(remote.tool_timeout, DEFAULT_TOOL_TIMEOUT);
    assert!(
        matches!(&remote.transport, McpTransport::StreamableHttp { url, .. } if url == "https://mcp.example.com/mcp")
    );
}

#[test]
fn mcp_key_of_the_other_transport_is_located() {
    let cases = [
        (
            "[mcp_servers.a]\ncommand = \"x\"\n\nbearer_token_env_var = \"T\"\n",
            (4, 1),
            "mcp_servers.a.bearer_token_env_var",
            "streamable HTTP key",
        ),
        (
            "[mcp_servers.b]\nurl = \"http://127.0.0.1:1/mcp\"\n  env_vars = [\"A\"]\n",
            (3, 3),
            "mcp_servers.b.env_vars",
            "stdio key",
        ),
        (
            "[mcp_servers.c]\nurl = \"http://127.0.0.1:1/mcp\"\nsandbox_mode = \"read-only\"\n",
            (3, 1),
            "mcp_servers.c.sandbox_mode",
            "sandbox key",
        ),
        (
            "[mcp_servers.d]\ncommand = \"x\"\nurl = \"http://h/\"\n",
            (3, 1),
            "mcp_servers.d.url",
            "not both",
        ),
        (
            "[mcp_servers.e]\nurl = \"ftp://h/\"\n",
            (2, 1),
            "mcp_servers.e.url",
            "not an http",
        ),
        (
            "[mcp_servers.f]\ncommand = \"x\"\nnetwork = \"proxy\"\n",
            (3, 1),
            "mcp_servers.f.network",
            "only with `sandbox_mode`",
        ),
        (
            "[mcp_servers.g]\ncommand = \"x\"\nsandbox_mode = \"danger-full-access\"\n",
            (3, 1),
            "mcp_servers.g.sandbox_mode",
            "read-only",
        ),
    ];
    for (text, place, key, why) in cases {
        match load_text(text, &Overrides::default()).unwrap_err() {
            ConfigError::Invalid {
                path,
                line,
                column,
                key: k,
                message,
            } => {
                assert_eq!(path, Path::new("/h/config.toml"));
                assert_eq!((line, column), place, "{text}");
                assert_eq!(k, key);
                assert!(message.contains(why), "{message}");
            }
            other => panic!("{text}: {other:?}"),
        }
    }
    let e = load_text("[mcp_servers.h]\nargs = []\n", &Overrides::default()).unwrap_err();
    assert!(e.to_string().contains("needs `command`"), "{e}");
    let e = load_text(
        "[mcp_servers.\"bad name\"]\ncommand = \"x\"\n",
        &Overrides::default(),
    )
    .unwrap_err();
    assert!(e.to_string().contains("not a server name"), "{e}");
    let e = load_text(
        "[mcp_servers.i]\ncommand = \"x\"\nstartup_timeout_sec = \"soon\"\n",
        &Overrides::default(),
    )
    .unwrap_err();
    assert!(
        matches!(&e, ConfigError::Invalid { line: 3, key, .. } if key == "mcp_servers.i.startup_timeout_sec"),
        "{e:?}"
    );
    // From -c: named by key, no line.
    let o = Overrides {
        raw: vec![
            "mcp_servers.j.command=x".into(),
            "mcp_servers.j.url=\"http://h/\"".into(),
        ],
        ..Default::default()
    };
    let e = load_text("", &o).unwrap_err();
    assert!(
        matches!(&e, ConfigError::Rule { key, .. } if key == "mcp_servers.j.url"),
        "{e:?}"
    );
}
