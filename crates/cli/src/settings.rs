//! Raw arguments + config → the settings a command works with.

use crate::args::{ModeArg, NetworkArg, RunArgs};
use anyhow::Result;
use cordon_config::{Config, Overrides};
use cordon_policy::network::{DomainRule, DomainRules, RuleAction};
use cordon_policy::{NetworkMode, PolicyInputs, SandboxMode};

/// A usage or configuration error: exit status 2.
#[derive(Debug)]
pub struct UsageError(pub String);

impl std::fmt::Display for UsageError {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(&self.0)
    }
}

impl std::error::Error for UsageError {}

/// What the egress proxy needs.
pub struct ProxySettings {
    /// Config rules, then `--allow-domain`/`--deny-domain`.
    pub rules: DomainRules,
    /// `[network] allow_local_binding`.
    pub allow_local_binding: bool,
    /// `--audit-log`.
    pub audit_log: Option<std::path::PathBuf>,
    /// The host's own proxy, with `allow_upstream_proxy`.
    pub upstream: Option<cordon_proxy::Upstream>,
}

/// The upstream proxy from cordon's own environment, when allowed.
fn upstream(config: &Config) -> Result<Option<cordon_proxy::Upstream>> {
    if !config.allow_upstream_proxy {
        return Ok(None);
    }
    let Some(url) = ["HTTPS_PROXY", "https_proxy", "HTTP_PROXY", "http_proxy"]
        .iter()
        .find_map(|k| std::env::var(k).ok().filter(|v| !v.is_empty()))
    else {
        return Ok(None);
    };
    cordon_proxy::Upstream::parse(&url).map(Some).ok_or_else(|| {
        UsageError(format!(
            "network.allow_upstream_proxy: cannot use the upstream proxy `{url}` (only http://[user:pass@]host:port is supported)"
        ))
        .into()
    })
}

/// Config rules plus flag rules, with bad flag patterns as usage errors.
fn domain_rules(config: &Config, allow: &[String], deny: &[String]) -> Result<DomainRules> {
    let mut rules = config.domain_rules.clone();
    for (patterns, action) in [(allow, RuleAction::Allow), (deny, RuleAction::Deny)] {
        for p in patterns {
            let rule = DomainRule::parse(p, action).map_err(|e| {
                let flag = if action == RuleAction::Allow {
                    "--allow-domain"
                } else {
                    "--deny-domain"
                };
                UsageError(format!("{flag} {p}: {}", e.reason))
            })?;
            rules.push(rule);
        }
    }
    Ok(rules)
}

/// With `*` allowed, a deny rule on a name cannot stop the same host by its
/// address (or another name): say so, once per run.
fn name_denials_under_star(rules: &DomainRules) -> Option<String> {
    let star = rules
        .rules()
        .iter()
        .any(|r| r.action == RuleAction::Allow && r.to_string() == "*");
    let names: Vec<String> = rules
        .rules()
        .iter()
        .filter(|r| r.action == RuleAction::Deny && !r.is_address_rule())
        .map(|r| r.to_string())
        .collect();
    (star && !names.is_empty()).then(|| {
        format!(
            "deny rule(s) {} match names only: with `*` allowed, those hosts stay reachable by IP address or another name; allow names instead of `*`, or deny their addresses too",
            names.join(", ")
        )
    })
}

/// The policy resolver's inputs from config, the working directory and
/// the writable roots.
fn policy_inputs(
    config: &Config,
    cwd: std::path::PathBuf,
    writable_roots: Vec<std::path::PathBuf>,
) -> PolicyInputs {
    PolicyInputs {
        mode: config.sandbox_mode,
        network: config.network,
        cwd,
        writable_roots,
        exclude_tmpdir_env_var: config.workspace_write.exclude_tmpdir_env_var,
        exclude_slash_tmp: config.workspace_write.exclude_slash_tmp,
        tmpdir: std::env::var_os("TMPDIR")
            .filter(|v| !v.is_empty())
            .map(Into::into),
        cordon_home: Some(config.cordon_home.clone()),
    }
}

/// Loads config with only `-p` and `-c` (for commands without sandbox
/// flags), printing its warnings.
fn load_plain(profile: Option<&String>, raw: &[String]) -> Result<Config> {
    let usage = |e: cordon_config::ConfigError| UsageError(e.to_string());
    let home = cordon_config::cordon_home().map_err(usage)?;
    let overrides = Overrides {
        profile: profile.cloned(),
        raw: raw.to_vec(),
        ..Default::default()
    };
    let config = cordon_config::load(&home, &overrides).map_err(usage)?;
    for w in &config.warnings {
        eprintln!("cordon: warning: {w}");
    }
    Ok(config)
}

/// Settings for `cordon proxy`.
pub fn proxy_settings(args: &crate::args::ProxyArgs) -> Result<ProxySettings> {
    let config = load_plain(args.profile.as_ref(), &args.config)?;
    Ok(ProxySettings {
        rules: domain_rules(&config, &args.proxy.allow_domains, &args.proxy.deny_domains)?,
        allow_local_binding: config.allow_local_binding,
        audit_log: args.proxy.audit_log.clone(),
        upstream: upstream(&config)?,
    })
}

/// Settings for one sandboxed run.
pub struct RunSettings {
    /// Inputs for the policy resolver.
    pub policy: PolicyInputs,
    /// Degraded runs allowed.
    pub allow_degraded: bool,
    /// Print denials.
    pub log_denials: bool,
    /// Write the denial summary here instead of stderr.
    pub denial_report_fd: Option<i32>,
    /// Give the command a terminal of its own.
    pub tty: bool,
    /// Read the session's protected set from here.
    pub protected_set_fd: Option<i32>,
    /// Use the discovery index but write none (`exec --ephemeral`).
    pub index_read_only: bool,
    /// Ask the per-user discovery agent (`discovery_agent`); it is
    /// started when none runs, except under `--discovery-index-read-only`
    /// (which writes nothing).
    pub discovery_agent: bool,
    /// Where the command starts, when not the policy's working directory.
    pub command_cwd: Option<std::path::PathBuf>,
    /// Warnings to show before running.
    pub warnings: Vec<String>,
    /// The egress proxy (used with `--network proxy`).
    pub proxy: ProxySettings,
    /// `$CORDON_HOME`.
    pub cordon_home: std::path::PathBuf,
    /// `[windows] sandbox`.
    pub windows_sandbox: cordon_policy::WindowsSandbox,
    /// `[shell_environment_policy]`, when the command is the agent's
    /// (`--shell-environment-policy`); else the command inherits
    /// cordon's environment as it is.
    pub shell_environment_policy: Option<cordon_config::ShellEnvironmentPolicy>,
}

impl RunSettings {
    /// The environment the command inherits, before the plan's additions.
    pub fn inherited_env(&self) -> Vec<(std::ffi::OsString, std::ffi::OsString)> {
        match &self.shell_environment_policy {
            Some(policy) => cordon_core::shell_env::command_env(policy, std::env::vars_os()),
            None => std::env::vars_os().collect(),
        }
    }
}

fn overrides(args: &RunArgs) -> Overrides {
    let sandbox_mode = if args.full_auto {
        Some(SandboxMode::WorkspaceWrite)
    } else {
        args.sandbox.map(|m| match m {
            ModeArg::ReadOnly => SandboxMode::ReadOnly,
            ModeArg::WorkspaceWrite => SandboxMode::WorkspaceWrite,
            ModeArg::DangerFullAccess => SandboxMode::DangerFullAccess,
        })
    };
    Overrides {
        sandbox_mode,
        network: args.network.map(|n| match n {
            NetworkArg::None => NetworkMode::None,
            NetworkArg::Proxy => NetworkMode::Proxy,
            NetworkArg::Full => NetworkMode::Full,
        }),
        allow_degraded: args.allow_degraded.then_some(true),
        profile: args.profile.clone(),
        raw: args.config.clone(),
        ..Default::default()
    }
}

/// Loads config and merges it with `args`.
pub fn run_settings(args: &RunArgs) -> Result<RunSettings> {
    let usage = |e: cordon_config::ConfigError| UsageError(e.to_string());
    let home = cordon_config::cordon_home().map_err(usage)?;
    let config: Config = cordon_config::load(&home, &overrides(args)).map_err(usage)?;
    let cwd = match &args.cd {
        Some(dir) => dir.clone(),
        None => std::env::current_dir()?,
    };
    let mut writable_roots = config.workspace_write.writable_roots.clone();
    writable_roots.extend(args.writable_roots.iter().cloned());
    let mut warnings = config.warnings.clone();
    let proxy_flags = !args.proxy.allow_domains.is_empty()
        || !args.proxy.deny_domains.is_empty()
        || args.proxy.audit_log.is_some();
    if proxy_flags && config.network != NetworkMode::Proxy {
        warnings.push(
            "--allow-domain, --deny-domain and --audit-log apply only with --network proxy".into(),
        );
    }
    if config.sandbox_mode != SandboxMode::WorkspaceWrite && !writable_roots.is_empty() {
        warnings.push(format!(
            "writable roots are ignored in {} mode (use --full-auto or -s workspace-write)",
            config.sandbox_mode
        ));
    }
    let rules = domain_rules(&config, &args.proxy.allow_domains, &args.proxy.deny_domains)?;
    if config.network == NetworkMode::Proxy {
        warnings.extend(name_denials_under_star(&rules));
    }
    Ok(RunSettings {
        policy: policy_inputs(&config, cwd, writable_roots),
        allow_degraded: config.allow_degraded,
        log_denials: args.log_denials || args.denial_report_fd.is_some(),
        denial_report_fd: args.denial_report_fd,
        tty: args.tty || (!args.no_tty && std::io::IsTerminal::is_terminal(&std::io::stdin())),
        protected_set_fd: args.protected_set_fd,
        index_read_only: args.discovery_index_read_only,
        discovery_agent: config.discovery_agent,
        command_cwd: args.command_cwd.clone(),
        proxy: ProxySettings {
            rules,
            allow_local_binding: config.allow_local_binding,
            audit_log: args.proxy.audit_log.clone(),
            upstream: upstream(&config)?,
        },
        // The agent's shell tool has shown the config's warnings once already.
        warnings: if args.denial_report_fd.is_some() {
            Vec::new()
        } else {
            warnings
        },
        cordon_home: config.cordon_home.clone(),
        windows_sandbox: config.windows_sandbox,
        shell_environment_policy: args
            .shell_environment_policy
            .then(|| config.shell_environment_policy.clone()),
    })
}

/// Settings for `cordon exec`, before the prompt is read.
pub struct ExecSettings {
    /// The request for the core, with an empty prompt.
    pub request: cordon_core::exec::ExecRequest,
    /// Refuse outside a git repository.
    pub require_git: bool,
    /// The prompt argument (`-` or absent: stdin).
    pub prompt_arg: Option<String>,
    /// The enabled MCP servers and where they run (started by the command
    /// once the run is sure to go ahead).
    pub mcp: Option<(
        Vec<cordon_config::McpServerConfig>,
        cordon_mcp::LaunchContext,
    )>,
}

/// Splits `cordon exec [resume ...]` into options, the session to resume
/// and the prompt argument, then resolves the settings.
pub fn exec_command_settings(cmd: &crate::args::ExecCommand) -> Result<ExecSettings> {
    use cordon_core::session::Resume;
    let (options, resume, prompt) = match &cmd.action {
        Some(crate::args::ExecAction::Resume(r)) => {
            let mut rest = r.rest.iter().cloned();
            let (which, prompt) = if r.last {
                let prompt = rest.next();
                if rest.next().is_some() {
                    return Err(UsageError(
                        "resume --last takes at most a PROMPT, not an ID".into(),
                    )
                    .into());
                }
                (Resume::Last, prompt)
            } else {
                let id = rest
                    .next()
                    .ok_or_else(|| UsageError("resume needs a session ID or --last".into()))?;
                (Resume::Id(id), rest.next())
            };
            (&r.options, Some(which), prompt)
        }
        None => (&cmd.options, None, cmd.prompt.clone()),
    };
    let interrupt = std::sync::Arc::new(cordon_core::interrupt::Interrupt::default());
    let mut settings = exec_settings(options, resume, interrupt)?;
    settings.prompt_arg = prompt;
    Ok(settings)
}

fn mode_arg(m: ModeArg) -> SandboxMode {
    match m {
        ModeArg::ReadOnly => SandboxMode::ReadOnly,
        ModeArg::WorkspaceWrite => SandboxMode::WorkspaceWrite,
        ModeArg::DangerFullAccess => SandboxMode::DangerFullAccess,
    }
}

fn network_arg(n: NetworkArg) -> NetworkMode {
    match n {
        NetworkArg::None => NetworkMode::None,
        NetworkArg::Proxy => NetworkMode::Proxy,
        NetworkArg::Full => NetworkMode::Full,
    }
}

/// What every agent front end (`cordon exec`, the TUI) resolves from the
/// shared flags: config, model, provider, working directory and policy.
pub struct AgentSettings {
    /// The loaded configuration.
    pub config: Config,
    /// The overrides it was loaded with (to load it again).
    pub overrides: Overrides,
    /// `$CORDON_HOME` as found.
    pub home: std::path::PathBuf,
    /// Model name.
    pub model: String,
    /// Provider.
    pub provider: cordon_config::ModelProvider,
    /// Working directory (canonical with `-C`).
    pub cwd: std::path::PathBuf,
    /// The sandbox policy.
    pub policy: cordon_policy::SandboxPolicy,
    /// Arguments for the child `cordon sandbox` (profile, `-c`).
    pub sandbox_args: Vec<std::ffi::OsString>,
}

/// Loads config with the agent flags, prints its warnings and resolves
/// the session's policy.
fn agent_settings(opts: &crate::args::AgentArgs, index_read_only: bool) -> Result<AgentSettings> {
    session_settings(
        &SessionOptions {
            sandbox: if opts.full_auto {
                Some(SandboxMode::WorkspaceWrite)
            } else {
                opts.sandbox.map(mode_arg)
            },
            network: opts.network.map(network_arg),
            profile: opts.profile.clone(),
            model: opts.model.clone(),
            oss: opts.oss,
            config: opts.config.clone(),
            cd: opts.cd.clone(),
            extra_sandbox_args: Vec::new(),
            index_read_only,
        },
        &|w| eprintln!("cordon: warning: {w}"),
    )
}

/// What a session's settings are resolved from (the agent flags, or an
/// MCP `cordon` call's arguments).
#[derive(Default)]
pub struct SessionOptions {
    /// `-s` / `--full-auto`.
    pub sandbox: Option<SandboxMode>,
    /// `--network`.
    pub network: Option<NetworkMode>,
    /// `-p`.
    pub profile: Option<String>,
    /// `-m`.
    pub model: Option<String>,
    /// `--oss`.
    pub oss: bool,
    /// `-c`, in order.
    pub config: Vec<String>,
    /// `-C` (made absolute and real here).
    pub cd: Option<std::path::PathBuf>,
    /// More arguments for every `cordon sandbox` the session runs (proxy
    /// rules), after the profile and `-c`.
    pub extra_sandbox_args: Vec<std::ffi::OsString>,
    /// Use the discovery index but write none (`exec --ephemeral`).
    pub index_read_only: bool,
}

/// Loads config with `opts` and resolves the session's policy; config
/// warnings go to `warn`.
pub fn session_settings(opts: &SessionOptions, warn: &dyn Fn(&str)) -> Result<AgentSettings> {
    let usage = |e: cordon_config::ConfigError| UsageError(e.to_string());
    let home = cordon_config::cordon_home().map_err(usage)?;
    let overrides = Overrides {
        sandbox_mode: opts.sandbox,
        network: opts.network,
        allow_degraded: None,
        profile: opts.profile.clone(),
        model: opts.model.clone(),
        model_provider: opts.oss.then(|| "ollama".to_string()),
        raw: opts.config.clone(),
    };
    let config = cordon_config::load(&home, &overrides).map_err(usage)?;
    for w in &config.warnings {
        warn(w);
    }
    let (model, provider) = config.model().map_err(usage)?;
    let cwd = match &opts.cd {
        Some(dir) => std::fs::canonicalize(dir)
            .map_err(|e| UsageError(format!("-C {}: {e}", dir.display())))?,
        None => std::env::current_dir()?,
    };
    let policy = resolve_policy(&config, &cwd, opts.index_read_only)?;
    // The child `cordon sandbox` reads the same config; the resolved mode
    // and network are passed explicitly (by the runner, from the policy) so
    // flags given here apply there.
    let mut sandbox_args: Vec<std::ffi::OsString> = Vec::new();
    if let Some(p) = &config.profile {
        sandbox_args.push("-p".into());
        sandbox_args.push(p.into());
    }
    for raw in &opts.config {
        sandbox_args.push("-c".into());
        sandbox_args.push(raw.into());
    }
    sandbox_args.extend(opts.extra_sandbox_args.iter().cloned());
    Ok(AgentSettings {
        config,
        overrides,
        home,
        model,
        provider,
        cwd,
        policy,
        sandbox_args,
    })
}

/// The session's sandbox policy from `config` in `cwd`.
/// With `index_read_only`, the discovery index is used but none is
/// written.
fn resolve_policy(
    config: &Config,
    cwd: &std::path::Path,
    index_read_only: bool,
) -> Result<cordon_policy::SandboxPolicy> {
    let inputs = policy_inputs(
        config,
        cwd.to_path_buf(),
        config.workspace_write.writable_roots.clone(),
    );
    let agent = config.discovery_agent && !index_read_only;
    Ok(
        crate::discovery::resolve(&inputs, None, index_read_only, agent)
            .map_err(|e| UsageError(e.to_string()))?,
    )
}

/// The enabled MCP servers and where they run (`None`: there are none).
fn mcp_servers(
    agent: &AgentSettings,
    cordon_exe: &std::path::Path,
) -> Option<(
    Vec<cordon_config::McpServerConfig>,
    cordon_mcp::LaunchContext,
)> {
    let servers: Vec<cordon_config::McpServerConfig> = agent
        .config
        .mcp_servers
        .iter()
        .filter(|s| s.enabled)
        .cloned()
        .collect();
    (!servers.is_empty()).then(|| {
        let ctx = cordon_mcp::LaunchContext {
            cwd: agent.cwd.clone(),
            cordon_exe: cordon_exe.to_path_buf(),
            sandbox_args: agent.sandbox_args.clone(),
            untrusted_roots: agent
                .policy
                .writable_roots
                .iter()
                .map(|r| r.root.clone())
                .collect(),
            cordon_home: agent.config.cordon_home.clone(),
            env: std::env::vars().collect(),
        };
        (servers, ctx)
    })
}

/// Loads config for `cordon exec` and resolves the session's policy.
fn exec_settings(
    opts: &crate::args::ExecOptions,
    resume: Option<cordon_core::session::Resume>,
    interrupt: std::sync::Arc<cordon_core::interrupt::Interrupt>,
) -> Result<ExecSettings> {
    let agent = agent_settings(&opts.agent, opts.ephemeral)?;
    let output_schema = match &opts.output_schema {
        Some(path) => {
            let text = std::fs::read_to_string(path)
                .map_err(|e| UsageError(format!("--output-schema {}: {e}", path.display())))?;
            let value: serde_json::Value = serde_json::from_str(&text).map_err(|e| {
                UsageError(format!(
                    "--output-schema {}:{}:{}: not JSON: {e}",
                    path.display(),
                    e.line(),
                    e.column()
                ))
            })?;
            if !value.is_object() {
                return Err(UsageError(format!(
                    "--output-schema {}: a JSON schema must be an object",
                    path.display()
                ))
                .into());
            }
            Some(value)
        }
        None => None,
    };
    let cordon_exe = pinned_self_exe()?;
    let mcp = mcp_servers(&agent, &cordon_exe);
    let color = match opts.color {
        crate::args::ColorArg::Always => true,
        crate::args::ColorArg::Never => false,
        crate::args::ColorArg::Auto => {
            std::io::IsTerminal::is_terminal(&std::io::stderr())
                && std::env::var_os("NO_COLOR").is_none()
        }
    };
    let unified_exec = agent.config.unified_exec_for(&agent.provider);
    Ok(ExecSettings {
        mcp,
        prompt_arg: None,
        require_git: !opts.skip_git_repo_check,
        request: cordon_core::exec::ExecRequest {
            home: agent.config.cordon_home.clone(),
            cwd: agent.cwd,
            prompt: String::new(),
            model: agent.model,
            provider: agent.provider,
            policy: agent.policy,
            sandbox_args: agent.sandbox_args,
            cordon_exe,
            json: opts.json,
            color,
            output_last_message: opts.output_last_message.clone(),
            output_schema,
            ephemeral: opts.ephemeral,
            resume,
            notify: agent.config.notify.clone(),
            instructions_max: agent.config.project_doc_max_bytes,
            interrupt,
            unified_exec,
            tool_provider: None,
        },
    })
}

/// Settings for the interactive UI: the exec settings' resolution plus
/// `-a`, the domain flags (passed on to each command's sandbox) and the
/// `[tui]` keys.
pub fn tui_settings(
    opts: &crate::args::TuiOptions,
    start: cordon_tui::StartWith,
    prompt: Option<String>,
) -> Result<cordon_tui::TuiConfig> {
    let agent = agent_settings(&opts.agent, false)?;
    let config = &agent.config;
    let rules = domain_rules(config, &opts.allow_domains, &opts.deny_domains)?;
    let mut sandbox_args = agent.sandbox_args.clone();
    for (flag, patterns) in [
        ("--allow-domain", &opts.allow_domains),
        ("--deny-domain", &opts.deny_domains),
    ] {
        for p in patterns {
            sandbox_args.push(flag.into());
            sandbox_args.push(p.into());
        }
    }
    let approval = match opts.ask_for_approval {
        Some(crate::args::ApprovalArg::Untrusted) => cordon_policy::ApprovalPolicy::Untrusted,
        Some(crate::args::ApprovalArg::OnFailure) => cordon_policy::ApprovalPolicy::OnFailure,
        Some(crate::args::ApprovalArg::OnRequest) => cordon_policy::ApprovalPolicy::OnRequest,
        Some(crate::args::ApprovalArg::Never) => cordon_policy::ApprovalPolicy::Never,
        None => config.approval_policy,
    };
    let mut warnings = Vec::new();
    if (!opts.allow_domains.is_empty() || !opts.deny_domains.is_empty())
        && config.network != NetworkMode::Proxy
    {
        warnings.push("--allow-domain and --deny-domain apply only with --network proxy".into());
    }
    let (home, overrides, cwd) = (
        agent.home.clone(),
        agent.overrides.clone(),
        agent.cwd.clone(),
    );
    let cordon_exe = pinned_self_exe()?;
    let mcp = mcp_servers(&agent, &cordon_exe).map(crate::commands::tui::mcp_start);
    let resolve_policy: cordon_tui::PolicyResolver = Box::new(move |mode| {
        let mut o = overrides.clone();
        o.sandbox_mode = Some(mode);
        let config = cordon_config::load(&home, &o).map_err(|e| e.to_string())?;
        resolve_policy(&config, &cwd, false).map_err(|e| e.to_string())
    });
    Ok(cordon_tui::TuiConfig {
        session: cordon_tui::SessionTemplate {
            home: config.cordon_home.clone(),
            cwd: agent.cwd.clone(),
            model: agent.model.clone(),
            provider: agent.provider.clone(),
            policy: agent.policy.clone(),
            sandbox_args,
            cordon_exe,
            approval,
            notify: config.notify.clone(),
            instructions_max: config.project_doc_max_bytes,
            context_window: config.model_context_window,
            auto_compact_limit: config.model_auto_compact_token_limit,
            unified_exec: config.unified_exec_for(&agent.provider),
            tools: None,
        },
        start,
        prompt,
        hide_agent_reasoning: config.hide_agent_reasoning,
        context_window: config.model_context_window,
        notifications: config.tui.notifications.clone(),
        alternate_screen: config.tui.alternate_screen.unwrap_or_default(),
        no_alt_screen: opts.no_alt_screen,
        domain_rules: rules
            .rules()
            .iter()
            .map(|r| {
                format!(
                    "{} {r}",
                    if r.action == RuleAction::Allow {
                        "allow"
                    } else {
                        "deny"
                    }
                )
            })
            .collect(),
        resolve_policy,
        warnings,
        mcp,
    })
}

/// `cordon mcp-server`: how each `cordon` call's session is resolved
/// (config with the server's `-p`/`-c` first, then the call's), and
/// cordon's pinned executable.
pub fn mcp_server_setup(args: &crate::args::McpServerArgs) -> Result<cordon_mcp_server::Setup> {
    // Fail now, with the fix, when the config itself is broken.
    load_plain(args.profile.as_ref(), &args.config)?;
    let cordon_exe = pinned_self_exe()?;
    let exe = cordon_exe.clone();
    let server_profile = args.profile.clone();
    let server_config = args.config.clone();
    let resolve = move |r: &cordon_mcp_server::SessionRequest| -> std::result::Result<
        cordon_core::session::SessionConfig,
        String,
    > {
        let mut config = server_config.clone();
        config.extend(r.config.iter().cloned());
        let extra_sandbox_args = r
            .allow_domains
            .iter()
            .map(|d| std::ffi::OsString::from(format!("--allow-domain={d}")))
            .collect();
        let s = session_settings(
            &SessionOptions {
                sandbox: r.sandbox,
                network: r.network,
                profile: r.profile.clone().or_else(|| server_profile.clone()),
                model: r.model.clone(),
                oss: false,
                config,
                cd: r.cwd.clone(),
                extra_sandbox_args,
                index_read_only: false,
            },
            &|w| log::warn!("{w}"),
        )
        .map_err(|e| format!("{e:#}"))?;
        Ok(cordon_core::session::SessionConfig {
            home: s.config.cordon_home.clone(),
            cwd: s.cwd,
            model: s.model,
            provider: s.provider,
            policy: s.policy,
            sandbox_args: s.sandbox_args,
            cordon_exe: exe.clone(),
            approval: r.approval.unwrap_or(s.config.approval_policy),
            output_schema: None,
            ephemeral: false,
            resume: None,
            notify: s.config.notify.clone(),
            instructions_max: s.config.project_doc_max_bytes,
            interrupt: Default::default(),
        })
    };
    Ok(cordon_mcp_server::Setup {
        resolve: Box::new(resolve),
        cordon_exe,
        cwd: std::env::current_dir()?,
    })
}

/// What `cordon sandbox windows setup` needs.
pub struct WindowsSetupSettings {
    /// `$CORDON_HOME`.
    pub cordon_home: std::path::PathBuf,
    /// `--proxy-port`, in order given.
    pub proxy_ports: Vec<u16>,
    /// `[network] allow_local_binding`.
    pub allow_local_binding: bool,
    /// `--for-user`.
    pub for_user: Option<String>,
}

/// Settings for `cordon sandbox windows setup|uninstall`.
pub fn windows_setup_settings(
    args: &crate::args::WindowsSetupArgs,
) -> Result<WindowsSetupSettings> {
    let config = load_plain(args.profile.as_ref(), &args.config)?;
    if args.proxy_ports.contains(&0) {
        return Err(UsageError("--proxy-port must be 1-65535".into()).into());
    }
    if args
        .for_user
        .as_deref()
        .is_some_and(|u| u.trim().is_empty())
    {
        return Err(
            UsageError("--for-user needs a user name (user or DOMAIN\\user)".into()).into(),
        );
    }
    Ok(WindowsSetupSettings {
        cordon_home: config.cordon_home.clone(),
        proxy_ports: args.proxy_ports.clone(),
        allow_local_binding: config.allow_local_binding,
        for_user: args.for_user.clone(),
    })
}

/// `$CORDON_HOME` for commands that need nothing else.
pub fn cordon_home() -> Result<std::path::PathBuf> {
    cordon_config::cordon_home().map_err(|e| UsageError(e.to_string()).into())
}

/// The running cordon executable, pinned: on Linux a descriptor opened on
/// `/proc/self/exe` (the very file this process runs, which nobody can
/// write while it runs) named as `/proc/self/fd/N`, so a command that
/// replaces cordon's file on disk (cordon installed inside a writable root)
/// cannot make the next command start its replacement unsandboxed.
fn pinned_self_exe() -> Result<std::path::PathBuf> {
    #[cfg(target_os = "linux")]
    {
        use std::os::fd::IntoRawFd;
        let file = std::fs::File::open("/proc/self/exe").map_err(|e| {
            anyhow::anyhow!(
                "cannot pin cordon's own executable (/proc/self/exe): {e}; is /proc mounted?"
            )
        })?;
        // Kept open for the life of the process (close-on-exec: the
        // launcher execs it by name before its descriptors close).
        let fd = file.into_raw_fd();
        Ok(std::path::PathBuf::from(format!("/proc/self/fd/{fd}")))
    }
    #[cfg(not(target_os = "linux"))]
    {
        Ok(std::env::current_exe()?)
    }
}

/// `$CORDON_HOME` and the operation for `cordon mcp`; a bad name, URL or
/// variable is a usage error (exit 2).
pub fn mcp_settings(
    action: crate::args::McpAction,
) -> Result<(std::path::PathBuf, crate::commands::mcp::McpOp)> {
    use crate::args::{McpAction, McpSandboxArg};
    use crate::commands::mcp::McpOp;
    let home = cordon_home()?;
    let check_name = |name: &str| -> Result<()> {
        if cordon_config::valid_server_name(name) {
            Ok(())
        } else {
            Err(UsageError(format!(
                "`{name}` is not a server name: use 1-64 ASCII letters, digits, `-` or `_`"
            ))
            .into())
        }
    };
    let op = match action {
        McpAction::List { json } => McpOp::List { json },
        McpAction::Get { name, json } => McpOp::Get { name, json },
        McpAction::Remove { name } => McpOp::Remove { name },
        McpAction::Add(a) => {
            check_name(&a.name)?;
            if a.url.is_none() && a.command.is_empty() {
                return Err(UsageError(
                    "give the server's command after `--`, or --url URL".into(),
                )
                .into());
            }
            if let Some(url) = &a.url {
                cordon_config::check_url(url).map_err(|m| UsageError(format!("--url: {m}")))?;
            }
            let mut env = Vec::new();
            for kv in &a.env {
                let (k, v) = kv
                    .split_once('=')
                    .filter(|(k, _)| !k.is_empty() && !k.contains('\0'))
                    .ok_or_else(|| UsageError(format!("--env {kv}: expected KEY=VALUE")))?;
                env.push((k.to_string(), v.to_string()));
            }
            McpOp::Add(cordon_config::NewServer {
                name: a.name,
                command: a.command,
                env,
                url: a.url,
                bearer_token_env_var: a.bearer_token_env_var,
                sandbox_mode: a.sandbox.map(|m| {
                    match m {
                        McpSandboxArg::ReadOnly => "read-only",
                        McpSandboxArg::WorkspaceWrite => "workspace-write",
                    }
                    .to_string()
                }),
                network: a.network.map(|n| network_arg(n).as_str().to_string()),
                allow_domains: a.allow_domains,
            })
        }
    };
    Ok((home, op))
}
