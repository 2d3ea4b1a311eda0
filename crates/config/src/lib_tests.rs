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
