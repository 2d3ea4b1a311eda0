//! The `cordon` binary: parses arguments and dispatches; the work lives in
//! the library crates.

mod args;
mod commands;
mod discovery;
mod settings;

use args::{Cli, Command, DebugTool, SandboxTarget, WindowsAction};
use clap::Parser;
use cordon_tui::StartWith;
use std::process::ExitCode;

fn main() -> ExitCode {
    let cli = Cli::parse();
    let result = match cli.command {
        None => commands::tui::require_terminal()
            .and_then(|()| settings::tui_settings(&cli.tui.options, StartWith::New, cli.tui.prompt))
            .and_then(commands::tui::run),
        Some(command) => dispatch(command),
    };
    match result {
        Ok(code) => ExitCode::from(u8::try_from(code).unwrap_or(1)),
        Err(e) => {
            let usage = e.downcast_ref::<settings::UsageError>().is_some();
            eprintln!("cordon: error: {e:#}");
            ExitCode::from(if usage { 2 } else { 1 })
        }
    }
}

/// `cordon resume [--last | ID]`.
fn resume(r: &args::TuiResumeArgs) -> anyhow::Result<i32> {
    let start = match (r.last, &r.id) {
        (true, _) => StartWith::Resume(cordon_core::session::Resume::Last),
        (false, Some(id)) => StartWith::Resume(cordon_core::session::Resume::Id(id.clone())),
        (false, None) => StartWith::Picker,
    };
    commands::tui::require_terminal()
        .and_then(|()| settings::tui_settings(&r.options, start, None))
        .and_then(commands::tui::run)
}

/// Every command but the UI's.
fn dispatch(command: Command) -> anyhow::Result<i32> {
    match command {
        Command::Resume(r) => resume(&r),
        Command::Sandbox(cmd) => match cmd.target {
            Some(SandboxTarget::Doctor(d)) => commands::doctor::run(d.json),
            Some(SandboxTarget::WindowsRunner(r)) => {
                // The command's exit status as it is (Windows codes exceed 255).
                match commands::windows::runner(&r.run_sid) {
                    Ok(code) => std::process::exit(code),
                    Err(e) => Err(e),
                }
            }
            Some(SandboxTarget::Linux(run)) => sandbox_linux(run),
            Some(SandboxTarget::Macos(run)) => sandbox_macos(run),
            Some(SandboxTarget::Windows(cmd)) => match cmd.action {
                Some(WindowsAction::Setup(a)) => {
                    settings::windows_setup_settings(&a).and_then(commands::windows::setup)
                }
                Some(WindowsAction::Uninstall) => {
                    settings::cordon_home().and_then(commands::windows::uninstall)
                }
                None => sandbox_windows(cmd.run),
            },
            None => native(cmd.run),
        },
        Command::Exec(cmd) => {
            init_logging();
            settings::exec_command_settings(&cmd).and_then(commands::exec::run)
        }
        Command::McpServer(args) => {
            init_logging();
            settings::mcp_server_setup(&args).and_then(commands::mcp_server::run)
        }
        Command::Mcp(cmd) => {
            settings::mcp_settings(cmd.action).and_then(|(home, op)| commands::mcp::run(home, op))
        }
        Command::ApplyPatch => commands::apply_patch::run(),
        Command::DiscoveryAgent {
            home,
            idle_secs,
            watch,
        } => {
            use cordon_discovery::agent;
            let roots = match watch.as_deref().map(agent::parse_roots).transpose() {
                Ok(roots) => roots.unwrap_or_default(),
                Err(e) => return Err(settings::UsageError(e).into()),
            };
            agent::serve(&home, std::time::Duration::from_secs(idle_secs), &roots)
                .map(|()| 0)
                .map_err(|e| anyhow::anyhow!("discovery agent: {e}"))
        }
        Command::Debug {
            tool: DebugTool::Landlock(run),
        } => sandbox_linux(run),
        Command::Debug {
            tool: DebugTool::Seatbelt(run),
        } => sandbox_macos(run),
        Command::Doctor(d) => commands::install_doctor::run(d.json),
        Command::Completion { shell } => {
            let mut cmd = <Cli as clap::CommandFactory>::command();
            let mut script = Vec::new();
            clap_complete::generate(shell, &mut cmd, "cordon", &mut script);
            // A closed pipe (`| head`) is not an error worth a message.
            let _ = std::io::Write::write_all(&mut std::io::stdout(), &script);
            Ok(0)
        }
        Command::Proxy(args) => settings::proxy_settings(&args)
            .and_then(|s| commands::proxy::run(s, args.listen, args.print_env)),
        Command::ProxyConnect { host, port } => commands::proxy_connect::run(&host, port),
    }
}

/// `--parent-pid`: the exit status of a launcher that must not run (its
/// named parent is gone, or cannot take it down), as any refusal to run.
fn refuse_without_parent(parent: Option<i32>) -> Option<i32> {
    let e = commands::sandbox::die_with_parent(parent?).err()?;
    eprintln!("cordon: {e:#}");
    Some(commands::sandbox::EXIT_REFUSED)
}

fn sandbox_linux(run: args::RunArgs) -> anyhow::Result<i32> {
    // Before anything else: the launcher must not outlive the agent.
    if let Some(code) = refuse_without_parent(run.parent_pid) {
        return Ok(code);
    }
    init_logging();
    let settings = settings::run_settings(&run)?;
    commands::sandbox::run(settings, &run.command, run.plan)
}

fn sandbox_macos(run: args::RunArgs) -> anyhow::Result<i32> {
    if let Some(code) = refuse_without_parent(run.parent_pid) {
        return Ok(code);
    }
    let settings = settings::run_settings(&run)?;
    commands::macos::run(settings, &run.command, run.plan)
}

fn sandbox_windows(run: args::RunArgs) -> anyhow::Result<i32> {
    if let Some(code) = refuse_without_parent(run.parent_pid) {
        return Ok(code);
    }
    let settings = settings::run_settings(&run)?;
    commands::windows::run(settings, &run.command, run.plan)
}

fn native(run: args::RunArgs) -> anyhow::Result<i32> {
    if cfg!(target_os = "macos") {
        sandbox_macos(run)
    } else if cfg!(target_os = "windows") {
        sandbox_windows(run)
    } else {
        sandbox_linux(run)
    }
}

/// `RUST_LOG` (`error`, `warn`, `info`, `debug`, `trace`, optionally as
/// `cordon=debug`) sends log lines to stderr; unset, only warnings.
fn init_logging() {
    struct Stderr;
    impl log::Log for Stderr {
        fn enabled(&self, m: &log::Metadata) -> bool {
            m.level() <= log::max_level()
        }
        fn log(&self, r: &log::Record) {
            if self.enabled(r.metadata()) {
                eprintln!("cordon: {} {}: {}", r.level(), r.target(), r.args());
            }
        }
        fn flush(&self) {}
    }
    let spec = std::env::var("RUST_LOG").unwrap_or_default();
    // The most verbose level named anywhere in the spec wins.
    let level = spec
        .split(',')
        .filter_map(|d| d.rsplit('=').next())
        .filter_map(|l| l.trim().parse::<log::LevelFilter>().ok())
        .max()
        .unwrap_or(log::LevelFilter::Warn);
    if log::set_boxed_logger(Box::new(Stderr)).is_ok() {
        log::set_max_level(level);
    }
}
