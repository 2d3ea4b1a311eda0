//! Raw command-line arguments, mirrored with clap and nothing more.
//! [`crate::settings`] turns them into working values.

use clap::{Args, Parser, Subcommand, ValueEnum};
use std::ffi::OsString;
use std::path::PathBuf;

/// cordon: a coding-agent CLI whose sandbox really enforces what it promises.
#[derive(Debug, Parser)]
#[command(
    name = "cordon",
    version,
    about = "A coding-agent CLI whose sandbox really enforces what it promises.",
    propagate_version = true,
    args_conflicts_with_subcommands = true,
    subcommand_negates_reqs = true
)]
pub struct Cli {
    /// What to do; without a command, the interactive UI opens.
    #[command(subcommand)]
    pub command: Option<Command>,
    /// The interactive UI's prompt and options.
    #[command(flatten)]
    pub tui: TuiArgs,
}

/// `cordon [OPTIONS] [PROMPT]`: the interactive UI.
#[derive(Debug, Args)]
pub struct TuiArgs {
    /// A first prompt to send at once.
    #[arg(value_name = "PROMPT")]
    pub prompt: Option<String>,
    /// Options.
    #[command(flatten)]
    pub options: TuiOptions,
}

/// `cordon resume [--last | ID]`.
#[derive(Debug, Args)]
pub struct TuiResumeArgs {
    /// Continue the most recent session.
    #[arg(long, conflicts_with = "id")]
    pub last: bool,
    /// The session to continue (without it and --last: pick from a list).
    #[arg(value_name = "ID")]
    pub id: Option<String>,
    /// Options.
    #[command(flatten)]
    pub options: TuiOptions,
}

/// Approval policies as flags.
#[derive(Debug, Clone, Copy, ValueEnum)]
pub enum ApprovalArg {
    /// Ask before any command not known to be read-only.
    Untrusted,
    /// Ask to run a command again outside the sandbox when it fails in it.
    OnFailure,
    /// Ask when the model asks to leave the sandbox.
    OnRequest,
    /// Never ask (escalations are declined).
    Never,
}

/// Options of the interactive UI.
#[derive(Debug, Args)]
pub struct TuiOptions {
    /// Model, sandbox and config options shared with `cordon exec`.
    #[command(flatten)]
    pub agent: AgentArgs,
    /// When to ask before running commands (default: `approval_policy`
    /// from config, else on-request).
    #[arg(short = 'a', long = "ask-for-approval", value_enum)]
    pub ask_for_approval: Option<ApprovalArg>,
    /// Allow a host pattern for the agent's commands (repeatable; with
    /// `--network proxy`).
    #[arg(long = "allow-domain", value_name = "PATTERN")]
    pub allow_domains: Vec<String>,
    /// Deny a host pattern (repeatable; deny wins).
    #[arg(long = "deny-domain", value_name = "PATTERN")]
    pub deny_domains: Vec<String>,
    /// Stay inline in the terminal's scrollback even when config asks for
    /// the alternate screen.
    #[arg(long)]
    pub no_alt_screen: bool,
}

/// Options every agent front end takes (`cordon`, `cordon exec`).
#[derive(Debug, Args)]
pub struct AgentArgs {
    /// Working directory.
    #[arg(short = 'C', long = "cd", value_name = "DIR")]
    pub cd: Option<PathBuf>,
    /// Model name.
    #[arg(short = 'm', long)]
    pub model: Option<String>,
    /// Use the local `ollama` provider.
    #[arg(long)]
    pub oss: bool,
    /// Sandbox mode for the agent's commands.
    #[arg(short = 's', long = "sandbox", value_enum)]
    pub sandbox: Option<ModeArg>,
    /// Shorthand for `--sandbox workspace-write`.
    #[arg(long, conflicts_with = "sandbox")]
    pub full_auto: bool,
    /// Network mode for the agent's commands.
    #[arg(long, value_enum)]
    pub network: Option<NetworkArg>,
    /// Override a config value: `-c key.path=value`.
    #[arg(short = 'c', long = "config", value_name = "KEY=VALUE")]
    pub config: Vec<String>,
    /// Config profile to apply.
    #[arg(short = 'p', long = "profile", value_name = "NAME")]
    pub profile: Option<String>,
}

/// Top-level commands.
#[derive(Debug, Subcommand)]
pub enum Command {
    /// Run one command under the sandbox policy.
    Sandbox(Box<SandboxCommand>),
    /// Run cordon's egress proxy on a host address for other tools.
    Proxy(ProxyArgs),
    /// Tunnel stdin/stdout to HOST:PORT through the proxy in the
    /// environment (for ssh's ProxyCommand).
    ProxyConnect {
        /// Destination host.
        host: String,
        /// Destination port.
        port: u16,
    },
    /// Run the agent headless on one prompt (non-interactive; for scripts and CI).
    Exec(Box<ExecCommand>),
    /// Continue a saved session in the interactive UI: `--last`, an ID, or
    /// pick one from a list.
    Resume(Box<TuiResumeArgs>),
    /// Serve cordon as MCP tools on stdin/stdout (`cordon`, `cordon-reply`,
    /// `cordon-sandbox`) for other agents and editors.
    #[command(name = "mcp-server")]
    McpServer(McpServerArgs),
    /// Manage the MCP servers in `$CORDON_HOME/config.toml`.
    Mcp(McpCommand),
    /// Internal: apply a patch read from stdin in the current directory
    /// (the agent runs this inside the sandbox, under the session's policy).
    #[command(name = "apply-patch", hide = true)]
    ApplyPatch,
    /// Internal: the per-user discovery agent one-shot runs start (Linux):
    /// keeps the roots they ask about watched and answers with each
    /// root's protected set.
    #[command(name = "discovery-agent", hide = true)]
    DiscoveryAgent {
        /// The `$CORDON_HOME` whose `discovery` directory it serves.
        #[arg(long, value_name = "DIR")]
        home: std::path::PathBuf,
        /// Exit after this many seconds without a request.
        #[arg(long, value_name = "SECS", default_value_t = 600)]
        idle_secs: u64,
        /// Roots to watch from the start (JSON: `[[root, [nested...]], ...]`).
        #[arg(long, value_name = "JSON")]
        watch: Option<String>,
    },
    /// Check the installation: binary, config, `$CORDON_HOME`, sandbox
    /// layers, model provider.
    Doctor(DoctorArgs),
    /// Print a shell completion script (`cordon completion bash > ...`).
    Completion {
        /// The shell.
        shell: clap_complete::Shell,
    },
    /// Debugging aliases.
    Debug {
        /// Which tool.
        #[command(subcommand)]
        tool: DebugTool,
    },
}

/// `cordon debug ...`.
#[derive(Debug, Subcommand)]
pub enum DebugTool {
    /// Alias of `cordon sandbox linux`.
    Landlock(RunArgs),
    /// Alias of `cordon sandbox macos`.
    Seatbelt(RunArgs),
}

/// `cordon sandbox [linux|macos|windows|doctor] ...`.
#[derive(Debug, Args)]
#[command(args_conflicts_with_subcommands = true, subcommand_negates_reqs = true)]
pub struct SandboxCommand {
    /// Backend (default: this OS) or `doctor`.
    #[command(subcommand)]
    pub target: Option<SandboxTarget>,
    /// Run options for this OS's backend.
    #[command(flatten)]
    pub run: RunArgs,
}

/// Sandbox backends and the doctor.
#[derive(Debug, Subcommand)]
pub enum SandboxTarget {
    /// The Linux backend (namespaces, mounts, Landlock, seccomp).
    Linux(RunArgs),
    /// The macOS backend (Seatbelt via sandbox-exec). `--plan` works on any OS.
    Macos(RunArgs),
    /// The Windows backend (sandbox accounts, firewall rules, ACLs).
    /// `--plan` works on any OS.
    Windows(Box<WindowsCommand>),
    /// Report which sandbox layers this host supports, and how to fix the rest.
    Doctor(DoctorArgs),
    /// Internal: the half of a Windows run that starts as the sandbox
    /// account and restricts itself before running the command.
    #[command(name = "windows-runner", hide = true)]
    WindowsRunner(WindowsRunnerArgs),
}

/// `cordon sandbox windows-runner` (started by cordon itself).
#[derive(Debug, Args)]
pub struct WindowsRunnerArgs {
    /// The run's restricting SID (`S-1-5-21-…` form, fresh per run).
    #[arg(long, value_name = "SID")]
    pub run_sid: String,
}

/// `cordon sandbox windows [setup|uninstall] ...`.
#[derive(Debug, Args)]
#[command(args_conflicts_with_subcommands = true, subcommand_negates_reqs = true)]
pub struct WindowsCommand {
    /// `setup` or `uninstall`; without one, run a command.
    #[command(subcommand)]
    pub action: Option<WindowsAction>,
    /// Run options.
    #[command(flatten)]
    pub run: RunArgs,
}

/// One-time administration of the Windows sandbox (elevated).
#[derive(Debug, Subcommand)]
pub enum WindowsAction {
    /// Create the offline and online sandbox accounts and the offline
    /// account's firewall rules (run from an elevated prompt).
    Setup(WindowsSetupArgs),
    /// Remove the sandbox accounts, their firewall rules and stored passwords.
    Uninstall,
}

/// `cordon sandbox windows setup` options.
#[derive(Debug, Args)]
pub struct WindowsSetupArgs {
    /// Loopback port(s) cordon's proxy listens on (default: the ones
    /// programmed before, else 47128).
    #[arg(long = "proxy-port", value_name = "PORT")]
    pub proxy_ports: Vec<u16>,
    /// The user who runs cordon, when not the one running setup (a
    /// standard user who elevates with an administrator's credentials is
    /// found from the session without it): `user` or `DOMAIN\user`.
    /// CORDON_HOME must be that user's.
    #[arg(long = "for-user", value_name = "USER")]
    pub for_user: Option<String>,
    /// Override a config value (`network.allow_local_binding`).
    #[arg(short = 'c', long = "config", value_name = "KEY=VALUE")]
    pub config: Vec<String>,
    /// Config profile to apply.
    #[arg(short = 'p', long = "profile", value_name = "NAME")]
    pub profile: Option<String>,
}

/// `cordon mcp-server` options.
#[derive(Debug, Args)]
pub struct McpServerArgs {
    /// Override a config value for every session (a call's `config` comes after).
    #[arg(short = 'c', long = "config", value_name = "KEY=VALUE")]
    pub config: Vec<String>,
    /// Config profile for every session (unless a call names its own).
    #[arg(short = 'p', long = "profile", value_name = "NAME")]
    pub profile: Option<String>,
}

/// `cordon sandbox doctor` options.
#[derive(Debug, Args)]
pub struct DoctorArgs {
    /// Print JSON instead of text.
    #[arg(long)]
    pub json: bool,
}

/// Sandbox modes as flags.
#[derive(Debug, Clone, Copy, ValueEnum)]
pub enum ModeArg {
    /// Read everything, write nothing.
    ReadOnly,
    /// Write the working directory, writable roots and temp directories.
    WorkspaceWrite,
    /// No sandbox.
    DangerFullAccess,
}

/// Network modes as flags.
#[derive(Debug, Clone, Copy, ValueEnum)]
pub enum NetworkArg {
    /// Only a private loopback interface.
    None,
    /// Only cordon's egress proxy, deciding per domain.
    Proxy,
    /// The host network.
    Full,
}

/// Options shared by every way of running a sandboxed command.
#[derive(Debug, Args)]
pub struct RunArgs {
    /// Sandbox mode (default: `sandbox_mode` from config, else read-only).
    #[arg(short = 's', long = "sandbox", value_enum)]
    pub sandbox: Option<ModeArg>,
    /// Shorthand for `--sandbox workspace-write`.
    #[arg(long, conflicts_with = "sandbox")]
    pub full_auto: bool,
    /// Working directory of the command.
    #[arg(short = 'C', long = "cd", value_name = "DIR")]
    pub cd: Option<PathBuf>,
    /// Extra writable root (repeatable; workspace-write only).
    #[arg(long = "writable-root", value_name = "PATH")]
    pub writable_roots: Vec<PathBuf>,
    /// Network mode.
    #[arg(long, value_enum)]
    pub network: Option<NetworkArg>,
    /// Proxy rules and audit log (with `--network proxy`).
    #[command(flatten)]
    pub proxy: ProxyRuleArgs,
    /// After the command ends, print what the sandbox denied.
    #[arg(long)]
    pub log_denials: bool,
    /// Run with the layers available when some are missing, printing what is lost.
    #[arg(long)]
    pub allow_degraded: bool,
    /// Print the plan as JSON and run nothing.
    #[arg(long)]
    pub plan: bool,
    /// Give the command a terminal of its own (the default when stdin is a terminal).
    #[arg(long, conflicts_with = "no_tty")]
    pub tty: bool,
    /// Never give the command a terminal of its own (stdin, stdout and
    /// stderr are passed through as they are).
    #[arg(long)]
    pub no_tty: bool,
    /// Write the `--log-denials` summary to the open descriptor FD instead
    /// of stderr (used by the agent's tools; a file with no name, so nothing
    /// is left behind however the agent ends).
    #[arg(long, hide = true, value_name = "FD", value_parser = clap::value_parser!(i32).range(3..))]
    pub denial_report_fd: Option<i32>,
    /// Read the protected set from the open descriptor FD instead of
    /// discovering it (used by the agent's shell tool: the session's watch
    /// keeps it current). Paths are still pinned; a swap refuses the run.
    #[arg(long, hide = true, value_name = "FD", value_parser = clap::value_parser!(i32).range(3..))]
    pub protected_set_fd: Option<i32>,
    /// Die with process PID: the launcher sets a parent-death signal
    /// (SIGKILL) first thing and refuses to run when PID is no longer its
    /// parent (used by the agent's tools, which start it without a hook).
    #[arg(long, hide = true, value_name = "PID", value_parser = clap::value_parser!(i32).range(1..))]
    pub parent_pid: Option<i32>,
    /// Use the discovery index under `$CORDON_HOME` but write none (used
    /// by `exec --ephemeral`'s shell tool).
    #[arg(long, hide = true)]
    pub discovery_index_read_only: bool,
    /// Start the command in DIR; the policy (writable roots) still comes
    /// from `-C` (used by the agent's shell tool for the model's `workdir`).
    #[arg(long, hide = true, value_name = "DIR")]
    pub command_cwd: Option<PathBuf>,
    /// Give the command the environment `[shell_environment_policy]` makes
    /// of cordon's own (used by the agent's shell tool).
    #[arg(long, hide = true)]
    pub shell_environment_policy: bool,
    /// Override a config value: `-c key.path=value` (value parsed as TOML, else a string).
    #[arg(short = 'c', long = "config", value_name = "KEY=VALUE")]
    pub config: Vec<String>,
    /// Config profile to apply.
    #[arg(short = 'p', long = "profile", value_name = "NAME")]
    pub profile: Option<String>,
    /// The command and its arguments (after `--`).
    #[arg(
        required = true,
        trailing_var_arg = true,
        allow_hyphen_values = true,
        value_name = "CMD"
    )]
    pub command: Vec<OsString>,
}

/// `cordon proxy` options.
#[derive(Debug, Args)]
pub struct ProxyArgs {
    /// Address to listen on.
    #[arg(long, default_value = "127.0.0.1:0")]
    pub listen: std::net::SocketAddr,
    /// Print shell `export` lines for the proxy variables, then serve.
    #[arg(long)]
    pub print_env: bool,
    /// Proxy rules and audit log.
    #[command(flatten)]
    pub proxy: ProxyRuleArgs,
    /// Override a config value.
    #[arg(short = 'c', long = "config", value_name = "KEY=VALUE")]
    pub config: Vec<String>,
    /// Config profile to apply.
    #[arg(short = 'p', long = "profile", value_name = "NAME")]
    pub profile: Option<String>,
}

/// Domain rules and the audit log, shared by `cordon sandbox` and `cordon proxy`.
#[derive(Debug, Args)]
pub struct ProxyRuleArgs {
    /// Allow a host pattern (repeatable).
    #[arg(long = "allow-domain", value_name = "PATTERN")]
    pub allow_domains: Vec<String>,
    /// Deny a host pattern (repeatable; deny wins).
    #[arg(long = "deny-domain", value_name = "PATTERN")]
    pub deny_domains: Vec<String>,
    /// Append every proxy decision to FILE as JSON lines.
    #[arg(long = "audit-log", value_name = "FILE")]
    pub audit_log: Option<PathBuf>,
}

/// `cordon exec [OPTIONS] [PROMPT]` and `cordon exec resume ...`.
#[derive(Debug, Args)]
#[command(args_conflicts_with_subcommands = true, subcommand_negates_reqs = true)]
pub struct ExecCommand {
    /// `resume`.
    #[command(subcommand)]
    pub action: Option<ExecAction>,
    /// The prompt; `-` or absent reads it from stdin (when both are given,
    /// stdin is appended as context).
    #[arg(value_name = "PROMPT")]
    pub prompt: Option<String>,
    /// Options.
    #[command(flatten)]
    pub options: ExecOptions,
}

/// `cordon exec` subcommands.
#[derive(Debug, Subcommand)]
pub enum ExecAction {
    /// Continue a recorded session: `resume --last [PROMPT]` or `resume ID [PROMPT]`.
    Resume(ResumeArgs),
}

/// `cordon exec resume` arguments.
#[derive(Debug, Args)]
pub struct ResumeArgs {
    /// Continue the most recent session.
    #[arg(long)]
    pub last: bool,
    /// `ID [PROMPT]`, or `[PROMPT]` with `--last`.
    #[arg(value_name = "ID_OR_PROMPT", num_args = 0..=2)]
    pub rest: Vec<String>,
    /// Options.
    #[command(flatten)]
    pub options: ExecOptions,
}

/// Colour on stderr.
#[derive(Debug, Clone, Copy, ValueEnum, Default)]
pub enum ColorArg {
    /// When stderr is a terminal.
    #[default]
    Auto,
    /// Always.
    Always,
    /// Never.
    Never,
}

/// Options of `cordon exec` and `cordon exec resume`.
#[derive(Debug, Args)]
pub struct ExecOptions {
    /// Print events as JSON lines on stdout.
    #[arg(long)]
    pub json: bool,
    /// Write the final message to FILE.
    #[arg(short = 'o', long = "output-last-message", value_name = "FILE")]
    pub output_last_message: Option<PathBuf>,
    /// JSON schema the final message must follow (sent as a strict response format).
    #[arg(long, value_name = "FILE")]
    pub output_schema: Option<PathBuf>,
    /// Write nothing to disk (no session file, no history).
    #[arg(long)]
    pub ephemeral: bool,
    /// Run outside a git repository too.
    #[arg(long)]
    pub skip_git_repo_check: bool,
    /// Model, sandbox and config options.
    #[command(flatten)]
    pub agent: AgentArgs,
    /// Colour on stderr.
    #[arg(long, value_enum, default_value_t)]
    pub color: ColorArg,
}

/// `cordon mcp ...`.
#[derive(Debug, Args)]
pub struct McpCommand {
    /// What to do.
    #[command(subcommand)]
    pub action: McpAction,
}

/// `cordon mcp` subcommands.
#[derive(Debug, Subcommand)]
pub enum McpAction {
    /// Add (or replace) a server: `add NAME [OPTIONS] -- COMMAND [ARGS...]`
    /// or `add NAME --url URL`.
    Add(Box<McpAddArgs>),
    /// List the configured servers.
    List {
        /// Print JSON.
        #[arg(long)]
        json: bool,
    },
    /// Show one server.
    Get {
        /// The server's name.
        name: String,
        /// Print JSON.
        #[arg(long)]
        json: bool,
    },
    /// Remove a server.
    Remove {
        /// The server's name.
        name: String,
    },
}

/// Sandbox modes for an MCP server.
#[derive(Debug, Clone, Copy, ValueEnum)]
pub enum McpSandboxArg {
    /// Read everything, write nothing.
    ReadOnly,
    /// Write its working directory, its writable roots and temp directories.
    WorkspaceWrite,
}

/// `cordon mcp add` arguments.
#[derive(Debug, Args)]
pub struct McpAddArgs {
    /// The server's name (letters, digits, `-`, `_`).
    pub name: String,
    /// A variable for a stdio server (repeatable).
    #[arg(long = "env", value_name = "KEY=VALUE")]
    pub env: Vec<String>,
    /// Run the stdio server under cordon's sandbox in this mode.
    #[arg(long, value_enum)]
    pub sandbox: Option<McpSandboxArg>,
    /// The sandboxed server's network.
    #[arg(long, value_enum, requires = "sandbox")]
    pub network: Option<NetworkArg>,
    /// A domain the sandboxed server may reach through the proxy (repeatable).
    #[arg(long = "allow-domain", value_name = "PATTERN", requires = "network")]
    pub allow_domains: Vec<String>,
    /// A streamable HTTP server's URL.
    #[arg(long, conflicts_with_all = ["command", "env", "sandbox"])]
    pub url: Option<String>,
    /// Variable holding the HTTP server's bearer token.
    #[arg(long, value_name = "VAR", requires = "url")]
    pub bearer_token_env_var: Option<String>,
    /// The stdio server's command and arguments (after `--`).
    #[arg(last = true, value_name = "COMMAND")]
    pub command: Vec<String>,
}
