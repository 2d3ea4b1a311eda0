//! `cordon proxy-connect HOST PORT`: a CONNECT tunnel on stdin/stdout, so
//! that ssh (`ProxyCommand`) reaches hosts through the proxy without nc or
//! socat. The proxy comes from `HTTPS_PROXY`/`HTTP_PROXY` (either case).

use anyhow::{bail, Context, Result};
use std::io::{Read, Write};
use std::net::TcpStream;

/// Tunnels until either side closes.
pub fn run(host: &str, port: u16) -> Result<i32> {
    let url = ["HTTPS_PROXY", "https_proxy", "HTTP_PROXY", "http_proxy"]
        .iter()
        .find_map(|k| std::env::var(k).ok().filter(|v| !v.is_empty()))
        .context("no HTTPS_PROXY or HTTP_PROXY in the environment")?;
    let cordon_proxy::Upstream {
        addr,
        credentials: creds,
    } = cordon_proxy::Upstream::parse(&url)
        .context("the proxy URL must be http://[user:pass@]host:port")?;
    let mut stream =
        TcpStream::connect(&addr).with_context(|| format!("cannot reach the proxy at {addr}"))?;
    let target = if host.contains(':') {
        format!("[{host}]:{port}")
    } else {
        format!("{host}:{port}")
    };
    let mut req = format!("CONNECT {target} HTTP/1.1\r\nHost: {target}\r\n");
    if let Some(c) = creds {
        req.push_str(&format!(
            "Proxy-Authorization: Basic {}\r\n",
            cordon_proxy::http::base64(c.as_bytes())
        ));
    }
    req.push_str("\r\n");
    stream.write_all(req.as_bytes())?;
    // Read the response head byte by byte so no tunnel data is consumed.
    let mut head = Vec::new();
    let mut byte = [0u8; 1];
    while !head.ends_with(b"\r\n\r\n") {
        if stream.read(&mut byte)? == 0 || head.len() > 64 * 1024 {
            bail!("the proxy closed the connection");
        }
        head.push(byte[0]);
    }
    let text = String::from_utf8_lossy(&head);
    let status = text.split_whitespace().nth(1).unwrap_or("");
    if status != "200" {
        let reason = text
            .lines()
            .find_map(|l| l.strip_prefix("x-cordon-deny: "))
            .unwrap_or("unknown");
        eprintln!("cordon proxy-connect: {target} refused ({status}, {reason})");
        return Ok(1);
    }
    let mut up = stream.try_clone()?;
    let writer = std::thread::spawn(move || {
        let _ = std::io::copy(&mut std::io::stdin().lock(), &mut up);
        let _ = up.shutdown(std::net::Shutdown::Write);
    });
    let _ = std::io::copy(&mut stream, &mut std::io::stdout().lock());
    drop(writer);
    Ok(0)
}
