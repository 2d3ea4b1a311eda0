//! `cordon proxy`: the egress proxy on a host address, for other tools and
//! for backends that cannot hand it a private listener. Because any local
//! process can reach a host address, a per-run token is required; it is
//! carried in the proxy URLs printed here. On SIGINT, SIGTERM, SIGHUP or
//! SIGQUIT it writes the audit log's pending counts, then exits.

use crate::settings::ProxySettings;
use anyhow::{Context, Result};
use cordon_proxy::{AuditLog, Proxy, ProxyConfig};

/// Serves until killed.
pub fn run(settings: ProxySettings, listen: std::net::SocketAddr, print_env: bool) -> Result<i32> {
    let token = cordon_proxy::new_token().context("generating the proxy token")?;
    let audit = match &settings.audit_log {
        Some(p) => Some(
            AuditLog::open(p).with_context(|| format!("cannot open audit log {}", p.display()))?,
        ),
        None => None,
    };
    let config = ProxyConfig {
        rules: settings.rules,
        allow_local_binding: settings.allow_local_binding,
        upstream: settings.upstream.clone(),
        token: Some(token.clone()),
        own_addresses: cordon_proxy::own_addresses()?,
        ..Default::default()
    };
    let listener = std::net::TcpListener::bind(listen)
        .with_context(|| format!("cannot listen on {listen}"))?;
    let addr = listener.local_addr()?;
    let http = format!("http://cordon:{token}@{addr}");
    let socks = format!("socks5h://cordon:{token}@{addr}");
    // Whoever reads these may stop reading; the proxy must keep serving.
    use std::io::Write;
    if print_env {
        let mut out = std::io::stdout().lock();
        for key in ["HTTP_PROXY", "HTTPS_PROXY", "http_proxy", "https_proxy"] {
            let _ = writeln!(out, "export {key}={http}");
        }
        let _ = writeln!(out, "export ALL_PROXY={socks}");
        let _ = writeln!(out, "export all_proxy={socks}");
        let _ = out.flush();
    } else {
        let _ = writeln!(
            std::io::stderr(),
            "cordon proxy listening on {addr}\n  HTTP(S): {http}\n  SOCKS5:  {socks}"
        );
    }
    listener.set_nonblocking(true)?;
    let proxy = Proxy::new(config, audit);
    flush_audit_on_signals(proxy.clone());
    let runtime = tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()?;
    runtime.block_on(async move {
        let listener = tokio::net::TcpListener::from_std(listener)?;
        proxy.serve(listener).await
    })?;
    Ok(0)
}

/// On SIGINT, SIGTERM, SIGHUP or SIGQUIT: write the audit log's pending
/// counts of coalesced denials, then exit with 128 + the signal.
fn flush_audit_on_signals(proxy: Proxy) {
    #[cfg(unix)]
    {
        // SAFETY: building a signal set on the stack and blocking it in this
        // (still the only) thread; threads started later inherit the mask.
        let set = unsafe {
            let mut set: libc::sigset_t = std::mem::zeroed();
            libc::sigemptyset(&mut set);
            for sig in [libc::SIGINT, libc::SIGTERM, libc::SIGHUP, libc::SIGQUIT] {
                libc::sigaddset(&mut set, sig);
            }
            libc::pthread_sigmask(libc::SIG_BLOCK, &set, std::ptr::null_mut());
            set
        };
        std::thread::spawn(move || {
            let mut sig: libc::c_int = 0;
            // SAFETY: waits for one of the blocked signals in `set`.
            if unsafe { libc::sigwait(&set, &mut sig) } == 0 {
                proxy.flush_audit();
                std::process::exit(128 + sig);
            }
        });
    }
    #[cfg(not(unix))]
    let _ = proxy;
}
