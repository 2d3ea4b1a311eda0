//! The proxies of the session's environment: `HTTPS_PROXY`, `HTTP_PROXY`,
//! `ALL_PROXY` and `NO_PROXY` (either case), read through the session's
//! env function, never the process's own.

use super::HttpError;
use url::Url;

/// Proxies from the environment, read once.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct ProxyEnv {
    https: Option<Url>,
    http: Option<Url>,
    no_proxy: Vec<String>,
}

impl ProxyEnv {
    /// Reads `HTTPS_PROXY`, `HTTP_PROXY`, `ALL_PROXY` (not `socks…`) and
    /// `NO_PROXY`, upper case first, through `get`; a proxy URL that cannot
    /// be used is an error naming the variable.
    pub fn from_vars(get: &dyn Fn(&str) -> Option<String>) -> Result<ProxyEnv, HttpError> {
        let var = |names: [&'static str; 2]| {
            names.into_iter().find_map(|n| {
                get(n)
                    .filter(|v| !v.trim().is_empty())
                    .map(|v| (n, v.trim().to_string()))
            })
        };
        let all = var(["ALL_PROXY", "all_proxy"]).filter(|(_, v)| !v.starts_with("socks"));
        let https = var(["HTTPS_PROXY", "https_proxy"]).or_else(|| all.clone());
        let http = var(["HTTP_PROXY", "http_proxy"]).or(all);
        Ok(ProxyEnv {
            https: https.map(parse).transpose()?,
            http: http.map(parse).transpose()?,
            no_proxy: var(["NO_PROXY", "no_proxy"])
                .map(|(_, v)| {
                    v.split(',')
                        .map(|s| s.trim().trim_start_matches('.').to_ascii_lowercase())
                        .filter(|s| !s.is_empty())
                        .collect()
                })
                .unwrap_or_default(),
        })
    }

    /// Whether no proxy is set at all.
    pub fn is_empty(&self) -> bool {
        self.https.is_none() && self.http.is_none()
    }

    /// The proxy to use for `url`, if any: `HTTPS_PROXY` for `https`,
    /// `HTTP_PROXY` for `http`, none for a host `NO_PROXY` names (`*`, the
    /// host, a parent domain, `host:port`, or an address range such as
    /// `127.0.0.0/8` holding its address, as curl and Go read it).
    pub fn for_url(&self, url: &Url) -> Option<&Url> {
        let host = url
            .host_str()?
            .trim_matches(['[', ']'])
            .to_ascii_lowercase();
        let port = url.port_or_known_default().unwrap_or(0);
        let ip: Option<std::net::IpAddr> = host.parse().ok();
        let bypass = self.no_proxy.iter().any(|p| {
            p == "*"
                || ip.is_some_and(|ip| in_range(ip, p))
                || host == *p
                || host.ends_with(&format!(".{p}"))
                || format!("{host}:{port}") == *p
                || format!("[{host}]:{port}") == *p
        });
        if bypass {
            return None;
        }
        match url.scheme() {
            "https" => self.https.as_ref(),
            "http" => self.http.as_ref(),
            _ => None,
        }
    }

    /// These proxies as one reqwest proxy (credentials in a proxy URL are
    /// sent as `Proxy-Authorization: Basic`, on `CONNECT` and on plain
    /// requests alike).
    pub(super) fn to_reqwest(&self) -> reqwest::Proxy {
        let proxies = self.clone();
        reqwest::Proxy::custom(move |url| proxies.for_url(url).cloned())
    }
}

/// A proxy URL (`http://` assumed when no scheme is written).
fn parse((var, value): (&'static str, String)) -> Result<Url, HttpError> {
    let bad = |reason: String| HttpError::Proxy {
        var,
        value: without_credentials(&value),
        reason,
    };
    let with_scheme = if value.contains("://") {
        value.clone()
    } else {
        format!("http://{value}")
    };
    let url = Url::parse(&with_scheme).map_err(|e| bad(e.to_string()))?;
    if url.scheme() != "http" {
        return Err(bad(format!(
            "`{}://` proxies are not supported; use an http:// proxy",
            url.scheme()
        )));
    }
    if url.host_str().is_none_or(str::is_empty) {
        return Err(bad("no host".into()));
    }
    Ok(url)
}

/// `value` with the credentials of its authority (`user:pass@`) shown as
/// `***`, for messages.
fn without_credentials(value: &str) -> String {
    let start = value.find("://").map_or(0, |i| i + 3);
    let end = value[start..]
        .find(['/', '?', '#'])
        .map_or(value.len(), |i| start + i);
    match value[start..end].rfind('@') {
        Some(at) => format!("{}***{}", &value[..start], &value[start + at..]),
        None => value.to_string(),
    }
}

/// Whether `ip` is in `range` (`ADDRESS/BITS`; anything else is no range).
fn in_range(ip: std::net::IpAddr, range: &str) -> bool {
    use std::net::IpAddr;
    let Some((net, bits)) = range.split_once('/') else {
        return false;
    };
    let (Ok(net), Ok(bits)) = (
        net.trim_matches(['[', ']']).parse::<IpAddr>(),
        bits.parse::<u32>(),
    ) else {
        return false;
    };
    let (a, b, width) = match (ip, net) {
        (IpAddr::V4(a), IpAddr::V4(b)) => (u128::from(a.to_bits()), u128::from(b.to_bits()), 32),
        (IpAddr::V6(a), IpAddr::V6(b)) => (a.to_bits(), b.to_bits(), 128),
        _ => return false,
    };
    if bits > width {
        return false;
    }
    let shift = width - bits;
    shift >= 128 || (a >> shift) == (b >> shift)
}
