//! How a stdio server is started: its environment (cleared to a short base
//! list, plus `env_vars`, plus `env`), its program (resolved at session
//! start when it runs unsandboxed, and refused inside a writable root),
//! and, with `sandbox_mode`, the `cordon sandbox` command line around it.

use cordon_config::{McpSandbox, McpServerConfig, McpTransport};
use cordon_policy::NetworkMode;
use std::collections::BTreeMap;
use std::ffi::OsString;
use std::path::{Path, PathBuf};

/// The variables every stdio server gets from cordon's environment.
pub const BASE_ENV: [&str; 10] = [
    "HOME", "LOGNAME", "PATH", "SHELL", "USER", "LANG", "LC_ALL", "TERM", "TMPDIR", "TZ",
];

/// What the session tells the client about where servers run.
#[derive(Debug, Clone)]
pub struct LaunchContext {
    /// The session's working directory (a server's default `cwd`).
    pub cwd: PathBuf,
    /// cordon's own executable, pinned, for `cordon sandbox`.
    pub cordon_exe: PathBuf,
    /// Arguments for `cordon sandbox` that reproduce the session's config
    /// (profile, `-c`).
    pub sandbox_args: Vec<OsString>,
    /// The session's writable roots: an unsandboxed server's program may
    /// not lie in one (a sandboxed command could have replaced it).
    pub untrusted_roots: Vec<PathBuf>,
    /// `$CORDON_HOME`, for the sandbox launcher.
    pub cordon_home: PathBuf,
    /// cordon's environment.
    pub env: BTreeMap<String, String>,
}

/// A process to start.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Launch {
    /// The program (a real path, or cordon's own executable).
    pub program: PathBuf,
    /// Its arguments.
    pub args: Vec<OsString>,
    /// Its whole environment.
    pub env: BTreeMap<String, String>,
    /// Where it starts.
    pub cwd: PathBuf,
}

/// The server's environment: the base list and `env_vars` from cordon's
/// environment (when set there), then `env`.
pub fn server_env(
    env_vars: &[String],
    env: &BTreeMap<String, String>,
    from: &BTreeMap<String, String>,
) -> BTreeMap<String, String> {
    let mut out = BTreeMap::new();
    for name in BASE_ENV
        .iter()
        .copied()
        .chain(env_vars.iter().map(String::as_str))
    {
        if let Some(v) = from.get(name) {
            out.insert(name.to_string(), v.clone());
        }
    }
    out.extend(env.clone());
    out
}

/// The command line that starts `server` (a stdio server).
pub fn plan(server: &McpServerConfig, ctx: &LaunchContext) -> Result<Launch, String> {
    let McpTransport::Stdio {
        command,
        args,
        env,
        env_vars,
        cwd,
    } = &server.transport
    else {
        return Err("not a stdio server".into());
    };
    let cwd = match cwd {
        Some(dir) => ctx.cwd.join(dir),
        None => ctx.cwd.clone(),
    };
    let mut env = server_env(env_vars, env, &ctx.env);
    match &server.sandbox {
        None => {
            // It runs with the user's rights: its program is pinned now,
            // outside every writable root, and its PATH has none of them.
            let argv = cordon_core::notify::resolve(
                std::slice::from_ref(command),
                &cwd,
                &ctx.untrusted_roots,
            )?;
            let program = argv.into_iter().next().unwrap_or_default();
            let path = cordon_core::notify::trusted_path(&ctx.untrusted_roots);
            if env.contains_key("PATH") || !path.is_empty() {
                env.insert("PATH".into(), path.to_string_lossy().into_owned());
            }
            Ok(Launch {
                program: PathBuf::from(program),
                args: args.iter().map(OsString::from).collect(),
                env,
                cwd,
            })
        }
        Some(sandbox) => {
            // The launcher finds its config by CORDON_HOME; the server gets
            // that too (cordon's own variable), and the proxy's variables
            // when its network is the proxy.
            env.insert(
                "CORDON_HOME".into(),
                ctx.cordon_home.to_string_lossy().into_owned(),
            );
            let mut argv = sandbox_argv(sandbox, &ctx.sandbox_args, &cwd);
            argv.push("--".into());
            argv.push(command.into());
            argv.extend(args.iter().map(OsString::from));
            Ok(Launch {
                program: ctx.cordon_exe.clone(),
                args: argv,
                env,
                cwd,
            })
        }
    }
}

/// `sandbox --sandbox MODE --network NET ... -C DIR`: exactly the server's
/// policy. The session's own writable roots and domain rules are cleared
/// (`-c`), so only the server's keys add to the mode's defaults.
fn sandbox_argv(sandbox: &McpSandbox, session_args: &[OsString], cwd: &Path) -> Vec<OsString> {
    let mut argv: Vec<OsString> = vec![
        "sandbox".into(),
        "--sandbox".into(),
        sandbox.mode.as_str().into(),
        "--network".into(),
        sandbox.network.as_str().into(),
    ];
    argv.extend(session_args.iter().cloned());
    for reset in [
        "sandbox_workspace_write.writable_roots=[]",
        "sandbox_workspace_write.network_access=false",
        "network.domains={}",
    ] {
        argv.push("-c".into());
        argv.push(reset.into());
    }
    for root in &sandbox.writable_roots {
        argv.push("--writable-root".into());
        argv.push(root.into());
    }
    if sandbox.network == NetworkMode::Proxy {
        for p in &sandbox.allow_domains {
            argv.push("--allow-domain".into());
            argv.push(p.into());
        }
        for p in &sandbox.deny_domains {
            argv.push("--deny-domain".into());
            argv.push(p.into());
        }
    }
    argv.push("-C".into());
    argv.push(cwd.into());
    argv
}

#[cfg(test)]
mod tests {
    use super::*;
    use cordon_policy::SandboxMode;

    fn ctx(roots: Vec<PathBuf>) -> LaunchContext {
        LaunchContext {
            cwd: PathBuf::from("/work"),
            cordon_exe: PathBuf::from("/proc/self/fd/9"),
            sandbox_args: vec!["-p".into(), "dev".into()],
            untrusted_roots: roots,
            cordon_home: PathBuf::from("/h/.cordon"),
            env: [
                ("HOME", "/h"),
                ("PATH", "/usr/bin:/bin"),
                ("OPENAI_API_KEY", "sk-secret"),
                ("GITHUB_TOKEN", "gh"),
                ("LANG", "C.UTF-8"),
            ]
            .into_iter()
            .map(|(k, v)| (k.to_string(), v.to_string()))
            .collect(),
        }
    }

    fn stdio(command: &str, sandbox: Option<McpSandbox>) -> McpServerConfig {
        McpServerConfig {
            name: "s".into(),
            transport: McpTransport::Stdio {
                command: command.into(),
                args: vec!["--flag".into()],
                env: [("LANG".to_string(), "fr_FR".to_string())].into(),
                env_vars: vec!["GITHUB_TOKEN".into(), "MISSING".into()],
                cwd: None,
            },
            enabled: true,
            required: false,
            startup_timeout: cordon_config::DEFAULT_STARTUP_TIMEOUT,
            tool_timeout: cordon_config::DEFAULT_TOOL_TIMEOUT,
            enabled_tools: None,
            disabled_tools: vec![],
            default_tools_approval_mode: Default::default(),
            tool_approval_modes: Default::default(),
            sandbox,
        }
    }

    #[test]
    fn environment_is_the_base_list_plus_env_vars_plus_env() {
        let l = plan(&stdio("sh", None), &ctx(vec![])).unwrap();
        let names: Vec<&str> = l.env.keys().map(String::as_str).collect();
        assert_eq!(names, ["GITHUB_TOKEN", "HOME", "LANG", "PATH"]);
        assert_eq!(l.env["LANG"], "fr_FR", "env wins over the base list");
        assert!(!l.env.contains_key("OPENAI_API_KEY"));
        assert!(l.program.is_absolute(), "resolved: {:?}", l.program);
        assert_eq!(l.args, ["--flag"]);
    }

    #[test]
    fn an_unsandboxed_program_inside_a_writable_root_is_refused() {
        let dir = tempfile::tempdir().unwrap();
        let prog = dir.path().join("server");
        std::fs::write(&prog, "#!/bin/sh\n").unwrap();
        let root = std::fs::canonicalize(dir.path()).unwrap();
        let e = plan(
            &stdio(prog.to_str().unwrap(), None),
            &ctx(vec![root.clone()]),
        )
        .unwrap_err();
        assert!(e.contains("inside the writable root"), "{e}");
        // Sandboxed, it is the sandbox that runs it: no refusal.
        let sandbox = McpSandbox {
            mode: SandboxMode::WorkspaceWrite,
            writable_roots: vec![PathBuf::from("/data")],
            network: NetworkMode::Proxy,
            allow_domains: vec!["example.com".into()],
            deny_domains: vec![],
        };
        let l = plan(
            &stdio(prog.to_str().unwrap(), Some(sandbox)),
            &ctx(vec![root]),
        )
        .unwrap();
        assert_eq!(l.program, PathBuf::from("/proc/self/fd/9"));
        let args: Vec<String> = l
            .args
            .iter()
            .map(|a| a.to_string_lossy().into_owned())
            .collect();
        let dashdash = args.iter().position(|a| a == "--").unwrap();
        assert_eq!(
            &args[..5],
            [
                "sandbox",
                "--sandbox",
                "workspace-write",
                "--network",
                "proxy"
            ]
        );
        let before = args[..dashdash].join(" ");
        assert!(
            before.contains("-p dev -c sandbox_workspace_write.writable_roots=[]"),
            "{before}"
        );
        assert!(
            before.contains("--writable-root /data --allow-domain example.com -C /work"),
            "{before}"
        );
        assert_eq!(args[dashdash + 1], prog.to_str().unwrap());
        assert_eq!(l.env["CORDON_HOME"], "/h/.cordon");
    }
}
