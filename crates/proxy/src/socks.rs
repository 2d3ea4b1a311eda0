//! SOCKS5 (RFC 1928): CONNECT only, names resolved by the proxy (`socks5h`);
//! BIND and UDP ASSOCIATE are refused with "command not supported".
//! With a token, username/password authentication (RFC 1929) is required.

use crate::decide::decide;
use crate::pending::Slot;
use crate::relay::{connect, relay};
use crate::{AuditRecord, Deadlines, Proxy, Reason};
use std::net::{Ipv4Addr, Ipv6Addr};
use std::time::Instant;
use tokio::io::{AsyncRead, AsyncReadExt, AsyncWrite, AsyncWriteExt};
use tokio::net::TcpStream;

const REP_OK: u8 = 0x00;
const REP_FAILURE: u8 = 0x01;
const REP_NOT_ALLOWED: u8 = 0x02;
const REP_HOST_UNREACHABLE: u8 = 0x04;
const REP_COMMAND_NOT_SUPPORTED: u8 = 0x07;
const REP_ADDRESS_NOT_SUPPORTED: u8 = 0x08;

async fn reply<S: AsyncWrite + Unpin>(stream: &mut S, code: u8) {
    let _ = stream
        .write_all(&[0x05, code, 0x00, 0x01, 0, 0, 0, 0, 0, 0])
        .await;
}

async fn read_exact<const N: usize, S: AsyncRead + Unpin>(stream: &mut S) -> Option<[u8; N]> {
    let mut buf = [0u8; N];
    stream.read_exact(&mut buf).await.ok()?;
    Some(buf)
}

async fn read_vec<S: AsyncRead + Unpin>(stream: &mut S, len: usize) -> Option<Vec<u8>> {
    let mut buf = vec![0u8; len];
    stream.read_exact(&mut buf).await.ok()?;
    Some(buf)
}

/// The greeting and, with a token, the authentication, by `deadlines.auth`
/// (the connection leaves the pending set once the token passes); then the
/// request, by `deadlines.head` (without a token, leaving the pending set
/// only then).
async fn handshake(
    stream: &mut TcpStream,
    token: Option<&str>,
    slot: Slot,
    deadlines: Deadlines,
) -> Result<(String, u16), Reason> {
    tokio::time::timeout_at(deadlines.auth, Box::pin(authenticate(stream, token)))
        .await
        .map_err(|_| Reason::Timeout)??;
    let slot = match token {
        Some(_) => {
            slot.authenticated();
            None
        }
        None => Some(slot),
    };
    let target = tokio::time::timeout_at(deadlines.head, Box::pin(read_target(stream)))
        .await
        .map_err(|_| Reason::Timeout)??;
    drop(slot);
    Ok(target)
}

/// Handles one SOCKS5 client; protocol errors close the connection after
/// the proper reply, and are audited.
pub(crate) async fn handle(proxy: &Proxy, mut stream: TcpStream, slot: Slot, deadlines: Deadlines) {
    let token = proxy.config().token.clone();
    let (host, port) = match handshake(&mut stream, token.as_deref(), slot, deadlines).await {
        Ok(target) => target,
        Err(reason) => {
            proxy.record(AuditRecord::refused("socks5", "", 0, reason));
            return;
        }
    };
    let started = Instant::now();
    let decided = match Box::pin(decide(proxy.config(), &host, port)).await {
        Ok(d) => d,
        Err(refusal) => {
            let mut record = AuditRecord::refused("socks5", &host, port, refusal.reason);
            record.refused_addresses = refusal.refused.iter().map(|ip| ip.to_string()).collect();
            proxy.record(record);
            let code = if refusal.reason == Reason::ResolveFailed {
                REP_HOST_UNREACHABLE
            } else {
                REP_NOT_ALLOWED
            };
            return reply(&mut stream, code).await;
        }
    };
    let upstream = match Box::pin(connect(decided.addr, proxy.config().upstream.as_ref())).await {
        Ok(s) => s,
        Err(reason) => {
            proxy.record(AuditRecord::refused("socks5", &host, port, reason));
            return reply(&mut stream, REP_HOST_UNREACHABLE).await;
        }
    };
    reply(&mut stream, REP_OK).await;
    let sni_host = cordon_policy::network::normalize_host(&host);
    match relay(stream, upstream, Vec::new(), Some(&sni_host)).await {
        Ok((up, down)) => proxy.record(AuditRecord::allowed(
            "socks5",
            &host,
            port,
            decided.addr.to_string(),
            up,
            down,
            started.elapsed().as_millis() as u64,
        )),
        Err(reason) => proxy.record(AuditRecord::refused("socks5", &host, port, reason)),
    }
}

/// Greeting, optional authentication and the request; returns the target.
pub async fn negotiate<S: AsyncRead + AsyncWrite + Unpin>(
    stream: &mut S,
    token: Option<&str>,
) -> Result<(String, u16), Reason> {
    authenticate(stream, token).await?;
    read_target(stream).await
}

/// The greeting and, with a token, username/password authentication.
async fn authenticate<S: AsyncRead + AsyncWrite + Unpin>(
    stream: &mut S,
    token: Option<&str>,
) -> Result<(), Reason> {
    let [ver, nmethods] = read_exact::<2, S>(stream).await.ok_or(Reason::BadRequest)?;
    if ver != 0x05 || nmethods == 0 {
        return Err(Reason::BadRequest);
    }
    let methods = read_vec(stream, usize::from(nmethods))
        .await
        .ok_or(Reason::BadRequest)?;
    let wanted = if token.is_some() { 0x02 } else { 0x00 };
    if !methods.contains(&wanted) {
        let _ = stream.write_all(&[0x05, 0xff]).await;
        return Err(Reason::Auth);
    }
    stream
        .write_all(&[0x05, wanted])
        .await
        .map_err(|_| Reason::BadRequest)?;
    if let Some(token) = token {
        let [_ver, ulen] = read_exact::<2, S>(stream).await.ok_or(Reason::BadRequest)?;
        let _user = read_vec(stream, usize::from(ulen))
            .await
            .ok_or(Reason::BadRequest)?;
        let [plen] = read_exact::<1, S>(stream).await.ok_or(Reason::BadRequest)?;
        let pass = read_vec(stream, usize::from(plen))
            .await
            .ok_or(Reason::BadRequest)?;
        if pass != token.as_bytes() {
            let _ = stream.write_all(&[0x01, 0x01]).await;
            return Err(Reason::Auth);
        }
        stream
            .write_all(&[0x01, 0x00])
            .await
            .map_err(|_| Reason::BadRequest)?;
    }
    Ok(())
}

/// The request: `CONNECT` and its target.
async fn read_target<S: AsyncRead + AsyncWrite + Unpin>(
    stream: &mut S,
) -> Result<(String, u16), Reason> {
    let [ver, cmd, _rsv, atyp] = read_exact::<4, S>(stream).await.ok_or(Reason::BadRequest)?;
    if ver != 0x05 {
        reply(stream, REP_FAILURE).await;
        return Err(Reason::BadRequest);
    }
    let host = match atyp {
        0x01 => {
            Ipv4Addr::from(read_exact::<4, S>(stream).await.ok_or(Reason::BadRequest)?).to_string()
        }
        0x04 => Ipv6Addr::from(
            read_exact::<16, S>(stream)
                .await
                .ok_or(Reason::BadRequest)?,
        )
        .to_string(),
        0x03 => {
            let [len] = read_exact::<1, S>(stream).await.ok_or(Reason::BadRequest)?;
            let name = read_vec(stream, usize::from(len))
                .await
                .ok_or(Reason::BadRequest)?;
            String::from_utf8(name).map_err(|_| Reason::BadRequest)?
        }
        _ => {
            reply(stream, REP_ADDRESS_NOT_SUPPORTED).await;
            return Err(Reason::BadRequest);
        }
    };
    let port = u16::from_be_bytes(read_exact::<2, S>(stream).await.ok_or(Reason::BadRequest)?);
    if cmd != 0x01 {
        // BIND (2) and UDP ASSOCIATE (3): not offered.
        reply(stream, REP_COMMAND_NOT_SUPPORTED).await;
        return Err(Reason::Method);
    }
    Ok((host, port))
}

#[cfg(test)]
#[path = "socks_tests.rs"]
mod tests;
