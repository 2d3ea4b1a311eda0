use super::*;
use cordon_config::EnvPattern;

fn vars(pairs: &[(&str, &str)]) -> Vec<(OsString, OsString)> {
    pairs
        .iter()
        .map(|(k, v)| (OsString::from(k), OsString::from(v)))
        .collect()
}

fn apply(policy: &ShellEnvironmentPolicy, pairs: &[(&str, &str)]) -> Vec<(String, String)> {
    command_env(policy, vars(pairs))
        .into_iter()
        .map(|(k, v)| (k.into_string().unwrap(), v.into_string().unwrap()))
        .collect()
}

fn names(env: &[(String, String)]) -> Vec<&str> {
    env.iter().map(|(k, _)| k.as_str()).collect()
}

fn patterns(list: &[&str]) -> Vec<EnvPattern> {
    list.iter().map(|p| EnvPattern::parse(p).unwrap()).collect()
}

/// The environment the outside review used (issue 10 item 9), plus
/// ordinary variables that must survive.
const HOST: [(&str, &str); 20] = [
    ("PATH", "/usr/bin:/bin"),
    ("HOME", "/home/me"),
    ("LANG", "C.UTF-8"),
    ("LC_ALL", "C"),
    ("EDITOR", "vi"),
    ("CARGO_HOME", "/home/me/.cargo"),
    ("PATTERN", "x"),
    ("HOMEPAGE", "https://example.com/a@b"),
    ("EMAIL", "me@example.com"),
    ("HTTP_PROXY", "http://proxy:3128"),
    ("OPENAI_API_KEY", "sk-1"),
    ("GITHUB_TOKEN", "ghs-1"),
    ("AWS_SECRET_ACCESS_KEY", "s"),
    ("PGPASSWORD", "p"),
    ("MYSQL_PASSWD", "p"),
    ("GOOGLE_APPLICATION_CREDENTIALS", "/c.json"),
    ("NPM_CONFIG__AUTH", "dXNlcjpwYXNz"),
    ("gitlab_pat", "glpat-1"),
    ("DATABASE_URL", "postgres://app:hunter2@db:5432/app"),
    ("HTTPS_PROXY", "http://user:pass@proxy:3128"),
];

#[test]
fn default_policy_withholds_secret_names_and_credential_urls_only() {
    let env = apply(&ShellEnvironmentPolicy::default(), &HOST);
    assert_eq!(
        names(&env),
        [
            "PATH",
            "HOME",
            "LANG",
            "LC_ALL",
            "EDITOR",
            "CARGO_HOME",
            "PATTERN",
            "HOMEPAGE",
            "EMAIL",
            "HTTP_PROXY"
        ]
    );
    // Values pass through untouched.
    assert_eq!(env[0], ("PATH".into(), "/usr/bin:/bin".into()));
}

#[test]
fn secret_names_and_values_follow_the_default_excludes() {
    for name in [
        "OPENAI_API_KEY",
        "GITHUB_TOKEN",
        "AWS_SECRET_ACCESS_KEY",
        "PGPASSWORD",
        "MYSQL_PASSWD",
        "GOOGLE_APPLICATION_CREDENTIALS",
        "NPM_CONFIG__AUTH",
        "GITHUB_PAT",
        "gitlab_pat",
        "keychain",
    ] {
        assert!(is_secret_name(name), "{name}");
    }
    for name in ["PATH", "HOME", "LANG", "PATHEXT", "PATTERN", "CARGO_HOME"] {
        assert!(!is_secret_name(name), "{name}");
    }
    assert!(is_secret_value("postgres://app:hunter2@db:5432/app"));
    assert!(is_secret_value("https://tok@pkgs.example/simple"));
    assert!(is_secret_value("see git+ssh://git@host/repo.git"));
    assert!(is_secret_value("http://u:p@proxy:3128"));
    assert!(!is_secret_value("https://example.com/a@b"));
    assert!(!is_secret_value("me@example.com"));
    assert!(!is_secret_value("http://proxy:3128"));
    assert!(!is_secret_value("visible"));
}

#[test]
fn inherit_core_keeps_the_base_list_and_lc_names() {
    let policy = ShellEnvironmentPolicy {
        inherit: Inherit::Core,
        ..Default::default()
    };
    let mut host = HOST.to_vec();
    host.extend([
        ("SHELL", "/bin/sh"),
        ("USER", "me"),
        ("LOGNAME", "me"),
        ("USERNAME", "me"),
        ("TMPDIR", "/t"),
        ("TEMP", "/t"),
        ("TMP", "/t"),
        ("TERM", "xterm"),
        ("TZ", "UTC"),
        ("LC_CTYPE", "C"),
        ("LC", "no"),
        ("LCX", "no"),
        ("PATH2", "no"),
    ]);
    let env = apply(&policy, &host);
    let mut kept = names(&env);
    kept.sort_unstable();
    assert_eq!(
        kept,
        [
            "HOME", "LANG", "LC_ALL", "LC_CTYPE", "LOGNAME", "PATH", "SHELL", "TEMP", "TERM",
            "TMP", "TMPDIR", "TZ", "USER", "USERNAME"
        ]
    );
}

#[test]
fn inherit_none_starts_empty_and_set_adds() {
    let mut policy = ShellEnvironmentPolicy {
        inherit: Inherit::None,
        ..Default::default()
    };
    assert!(apply(&policy, &HOST).is_empty());
    policy.set.insert("ONLY".into(), "this".into());
    assert_eq!(apply(&policy, &HOST), [("ONLY".into(), "this".into())]);
}

#[test]
fn ignore_default_excludes_lets_secrets_through() {
    let policy = ShellEnvironmentPolicy {
        ignore_default_excludes: true,
        ..Default::default()
    };
    let env = apply(&policy, &HOST);
    assert_eq!(env.len(), HOST.len(), "{env:?}");
    assert!(env.contains(&("GITHUB_TOKEN".into(), "ghs-1".into())));
    assert!(env.contains(&(
        "DATABASE_URL".into(),
        "postgres://app:hunter2@db:5432/app".into()
    )));
}

#[test]
fn exclude_drops_case_insensitive_globs() {
    let policy = ShellEnvironmentPolicy {
        exclude: patterns(&["cargo_*", "?DITOR", "*_PROXY"]),
        ..Default::default()
    };
    let env = apply(&policy, &HOST);
    assert_eq!(
        names(&env),
        ["PATH", "HOME", "LANG", "LC_ALL", "PATTERN", "HOMEPAGE", "EMAIL"]
    );
}

#[test]
fn set_comes_after_the_excludes_and_replaces() {
    let policy = ShellEnvironmentPolicy {
        exclude: patterns(&["PATH", "EDITOR"]),
        set: [
            ("PATH", "/opt/bin"),
            ("MY_TOKEN", "given"),
            ("HOME", "/elsewhere"),
        ]
        .into_iter()
        .map(|(k, v)| (k.to_string(), v.to_string()))
        .collect(),
        ..Default::default()
    };
    let env = apply(&policy, &HOST);
    // An excluded name and a default-excluded one come back through `set`;
    // an inherited one is replaced in place.
    assert!(env.contains(&("PATH".into(), "/opt/bin".into())), "{env:?}");
    assert!(
        env.contains(&("MY_TOKEN".into(), "given".into())),
        "{env:?}"
    );
    assert_eq!(env[0], ("HOME".into(), "/elsewhere".into()));
    assert!(!names(&env).contains(&"EDITOR"));
    assert_eq!(env.iter().filter(|(k, _)| k == "HOME").count(), 1);
}

#[test]
fn include_only_comes_last_and_narrows_set_too() {
    let policy = ShellEnvironmentPolicy {
        include_only: patterns(&["path", "LC_*", "MY_*", "*TOKEN*"]),
        set: [("MY_VAR", "1"), ("OTHER", "2")]
            .into_iter()
            .map(|(k, v)| (k.to_string(), v.to_string()))
            .collect(),
        ..Default::default()
    };
    let env = apply(&policy, &HOST);
    // GITHUB_TOKEN matches include_only, but the default excludes ran
    // first; OTHER was set, but include_only runs after set.
    assert_eq!(names(&env), ["PATH", "LC_ALL", "MY_VAR"]);
}

#[cfg(unix)]
#[test]
fn non_utf8_names_and_values_pass_unchanged() {
    use std::os::unix::ffi::OsStringExt;
    let value = OsString::from_vec(vec![b'a', 0xff, b'b']);
    let env = command_env(
        &ShellEnvironmentPolicy::default(),
        vec![(OsString::from("RAW"), value.clone())],
    );
    assert_eq!(env, [(OsString::from("RAW"), value)]);
}
