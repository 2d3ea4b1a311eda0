//! `cordon doctor`: is this installation usable? The binary, the config
//! file and its warnings, `$CORDON_HOME`'s ownership and modes, the sandbox
//! layers (as `cordon sandbox doctor`) and the model provider (configured,
//! key set, endpoint reachable within 2 s). Each check that fails says how
//! to fix it; the exit status is 1 when one does.

use anyhow::Result;
use serde::Serialize;
use std::net::ToSocketAddrs;
use std::path::Path;
use std::time::Duration;

/// How long the provider's endpoint gets to accept a connection.
const CONNECT_TIMEOUT: Duration = Duration::from_secs(2);

/// One check's outcome.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
#[serde(rename_all = "lowercase")]
enum Status {
    Ok,
    Warn,
    Fail,
}

#[derive(Debug, Serialize)]
struct Check {
    name: &'static str,
    status: Status,
    detail: String,
    #[serde(skip_serializing_if = "Option::is_none")]
    fix: Option<String>,
}

impl Check {
    fn new(name: &'static str, status: Status, detail: impl Into<String>) -> Check {
        Check {
            name,
            status,
            detail: detail.into(),
            fix: None,
        }
    }

    fn fix(mut self, fix: impl Into<String>) -> Check {
        self.fix = Some(fix.into());
        self
    }
}

#[derive(Debug, Serialize)]
struct Report {
    version: &'static str,
    ok: bool,
    checks: Vec<Check>,
}

/// Runs every check; prints text or JSON; 0 when nothing failed, else 1.
pub fn run(json: bool) -> Result<i32> {
    let mut checks = vec![binary()];
    let home = cordon_config::cordon_home();
    match &home {
        Ok(home) => checks.push(home_dir(home)),
        Err(e) => checks.push(
            Check::new("cordon home", Status::Fail, e.to_string())
                .fix("set HOME, or CORDON_HOME to a directory of yours"),
        ),
    }
    let config = home.as_ref().ok().map(|h| {
        (
            h.join("config.toml"),
            cordon_config::load(h, &cordon_config::Overrides::default()),
        )
    });
    match &config {
        Some((path, Ok(c))) => {
            let found = if path.exists() {
                format!("{} read", path.display())
            } else {
                format!("{} absent: defaults", path.display())
            };
            if c.warnings.is_empty() {
                checks.push(Check::new("config", Status::Ok, found));
            } else {
                checks.push(
                    Check::new(
                        "config",
                        Status::Warn,
                        format!("{found}; {}", c.warnings.join("; ")),
                    )
                    .fix("remove or correct the keys named"),
                );
            }
        }
        Some((path, Err(e))) => checks.push(
            Check::new("config", Status::Fail, e.to_string())
                .fix(format!("correct {}", path.display())),
        ),
        None => {}
    }
    checks.push(sandbox());
    if let (Ok(home), Some((_, Ok(c)))) = (&home, &config) {
        checks.push(discovery_agent(home, c.discovery_agent));
    }
    if let Some((_, Ok(c))) = &config {
        checks.extend(provider(c));
    }
    let report = Report {
        version: env!("CARGO_PKG_VERSION"),
        ok: checks.iter().all(|c| c.status != Status::Fail),
        checks,
    };
    if json {
        println!("{}", serde_json::to_string_pretty(&report)?);
    } else {
        println!("cordon {}", report.version);
        for c in &report.checks {
            let mark = match c.status {
                Status::Ok => "ok  ",
                Status::Warn => "warn",
                Status::Fail => "FAIL",
            };
            println!("{mark} {:<12} {}", c.name, c.detail);
            if let Some(fix) = &c.fix {
                println!("     {:<12} fix: {fix}", "");
            }
        }
    }
    Ok(if report.ok { 0 } else { 1 })
}

/// The per-user discovery agent: running and answering, not running
/// (the next sandboxed run starts it), off, or a socket no run will use.
fn discovery_agent(home: &Path, enabled: bool) -> Check {
    use cordon_discovery::agent::{AgentClient, AgentUnavailable};
    const NAME: &str = "discovery";
    if !enabled {
        return Check::new(
            NAME,
            Status::Ok,
            "agent off (discovery_agent = false): runs use the index",
        );
    }
    match AgentClient::connect(home, Duration::from_millis(500)) {
        Ok(agent) => Check::new(
            NAME,
            Status::Ok,
            format!("agent running (pid {})", agent.pid()),
        ),
        Err(AgentUnavailable::NotRunning(_)) => Check::new(
            NAME,
            Status::Ok,
            "agent not running: the next workspace-write run starts it",
        ),
        Err(AgentUnavailable::Refused(why)) => Check::new(
            NAME,
            Status::Warn,
            format!("agent socket not used ({why}): runs use the index"),
        )
        .fix(format!(
            "remove {}",
            home.join("discovery/agent.sock").display()
        )),
    }
}

fn binary() -> Check {
    match std::env::current_exe() {
        Ok(path) => Check::new("binary", Status::Ok, path.display().to_string()),
        Err(e) => Check::new("binary", Status::Warn, format!("cannot tell: {e}")),
    }
}

/// `$CORDON_HOME` must be yours and writable by nobody else: it holds the
/// config that decides the sandbox, and session files.
fn home_dir(home: &Path) -> Check {
    let meta = match std::fs::symlink_metadata(home) {
        Ok(m) => m,
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => {
            return Check::new(
                "cordon home",
                Status::Ok,
                format!("{} (not created yet)", home.display()),
            )
        }
        Err(e) => {
            return Check::new(
                "cordon home",
                Status::Fail,
                format!("{}: {e}", home.display()),
            )
            .fix("make it a directory you can read")
        }
    };
    #[cfg(unix)]
    {
        use std::os::unix::fs::MetadataExt;
        // SAFETY: geteuid has no preconditions.
        let me = unsafe { libc::geteuid() };
        if meta.file_type().is_symlink() || !meta.is_dir() {
            return Check::new(
                "cordon home",
                Status::Fail,
                format!("{} is not a directory", home.display()),
            )
            .fix("point CORDON_HOME at a directory of yours");
        }
        if meta.uid() != me {
            return Check::new(
                "cordon home",
                Status::Fail,
                format!(
                    "{} belongs to uid {}, not to you (uid {me})",
                    home.display(),
                    meta.uid()
                ),
            )
            .fix(format!("chown {me} {}", home.display()));
        }
        if meta.mode() & 0o022 != 0 {
            return Check::new(
                "cordon home",
                Status::Fail,
                format!(
                    "{} is writable by others (mode {:o})",
                    home.display(),
                    meta.mode() & 0o7777
                ),
            )
            .fix(format!("chmod go-w {}", home.display()));
        }
    }
    #[cfg(not(unix))]
    if meta.file_type().is_symlink() || !meta.is_dir() {
        return Check::new(
            "cordon home",
            Status::Fail,
            format!("{} is not a directory", home.display()),
        )
        .fix("point CORDON_HOME at a directory of yours");
    }
    home_passed(home)
}

/// `$CORDON_HOME` passed every check this OS allows.
#[cfg(unix)]
fn home_passed(home: &Path) -> Check {
    Check::new("cordon home", Status::Ok, home.display().to_string())
}

/// `$CORDON_HOME` passed every check this OS allows.
#[cfg(not(unix))]
fn home_passed(home: &Path) -> Check {
    Check::new(
        "cordon home",
        Status::Warn,
        format!(
            "{} (its owner and access rights are not checked on this OS)",
            home.display()
        ),
    )
}

fn sandbox() -> Check {
    let facts = cordon_sandbox::host_facts(true);
    let report = cordon_sandbox::doctor::report(&facts);
    if report.ready {
        Check::new(
            "sandbox",
            Status::Ok,
            format!("every layer available (kernel {})", report.kernel),
        )
    } else {
        Check::new(
            "sandbox",
            Status::Fail,
            "some layers are missing: read-only and workspace-write runs refuse",
        )
        .fix("run `cordon sandbox doctor` for each layer and its fix")
    }
}

/// The provider: resolved, its key set, its endpoint accepting TCP.
fn provider(config: &cordon_config::Config) -> Vec<Check> {
    let (model, provider) = match config.model() {
        Ok(m) => m,
        Err(e) => {
            return vec![Check::new("provider", Status::Fail, e.to_string())
                .fix("set `model` and `model_provider` in config.toml")]
        }
    };
    let mut checks = vec![Check::new(
        "provider",
        Status::Ok,
        format!("{} ({}), model {model}", provider.id, provider.base_url),
    )];
    if let Some(var) = &provider.env_key {
        if std::env::var_os(var).is_some_and(|v| !v.is_empty()) {
            checks.push(Check::new("api key", Status::Ok, format!("{var} is set")));
        } else {
            checks.push(
                Check::new("api key", Status::Fail, format!("{var} is not set"))
                    .fix(format!("export {var}=...")),
            );
        }
    }
    checks.push(match reach(&provider.base_url) {
        Ok(addr) => Check::new(
            "endpoint",
            Status::Ok,
            format!("{addr} accepts connections"),
        ),
        Err(why) => Check::new("endpoint", Status::Fail, why)
            .fix("check base_url, the network, or start the local server"),
    });
    checks
}

/// Connects to the URL's host and port (each resolved address in turn).
fn reach(base_url: &str) -> Result<std::net::SocketAddr, String> {
    let url = url::Url::parse(base_url).map_err(|e| format!("{base_url}: {e}"))?;
    let host = url
        .host_str()
        .ok_or_else(|| format!("{base_url}: no host"))?;
    let port = url
        .port_or_known_default()
        .ok_or_else(|| format!("{base_url}: no port"))?;
    let host = host.trim_start_matches('[').trim_end_matches(']');
    let addrs: Vec<_> = (host, port)
        .to_socket_addrs()
        .map_err(|e| format!("{host}: cannot resolve: {e}"))?
        .collect();
    let mut last = format!("{host}: no address");
    for addr in addrs {
        match std::net::TcpStream::connect_timeout(&addr, CONNECT_TIMEOUT) {
            Ok(_) => return Ok(addr),
            Err(e) => last = format!("{addr}: {e}"),
        }
    }
    Err(last)
}
