//! The small part of URL syntax a model endpoint needs:
//! `http[s]://[user:pass@]host[:port][/path][?query]`.

use std::fmt;

/// A parsed `http` or `https` URL.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Url {
    /// `true` for `https`.
    pub tls: bool,
    /// Host name or IP literal (IPv6 without brackets).
    pub host: String,
    /// Port (the scheme's default when not written).
    pub port: u16,
    /// Path and query, starting with `/`.
    pub path: String,
    /// `user:pass` credentials, if written (used for proxies).
    pub userinfo: Option<String>,
}

/// Why a URL was refused.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("invalid URL `{url}`: {reason}")]
pub struct UrlError {
    /// The text given.
    pub url: String,
    /// What is wrong.
    pub reason: &'static str,
}

impl Url {
    /// Parses `text`.
    pub fn parse(text: &str) -> Result<Url, UrlError> {
        let bad = |reason| UrlError {
            url: text.to_string(),
            reason,
        };
        let (scheme, rest) = text
            .split_once("://")
            .ok_or(bad("no scheme (expected http:// or https://)"))?;
        let tls = match scheme.to_ascii_lowercase().as_str() {
            "http" => false,
            "https" => true,
            _ => return Err(bad("only http and https are supported")),
        };
        let (authority, path) = match rest.find(['/', '?']) {
            Some(i) if rest.as_bytes()[i] == b'?' => (&rest[..i], format!("/{}", &rest[i..])),
            Some(i) => (&rest[..i], rest[i..].to_string()),
            None => (rest, "/".to_string()),
        };
        let (userinfo, hostport) = match authority.rsplit_once('@') {
            Some((u, h)) => (Some(u.to_string()), h),
            None => (None, authority),
        };
        let (host, port) = if let Some(v6) = hostport.strip_prefix('[') {
            let (host, after) = v6.split_once(']').ok_or(bad("unclosed `[`"))?;
            (host, after.strip_prefix(':'))
        } else {
            match hostport.rsplit_once(':') {
                Some((h, p)) => (h, Some(p)),
                None => (hostport, None),
            }
        };
        if host.is_empty() {
            return Err(bad("no host"));
        }
        if host
            .chars()
            .any(|c| c.is_whitespace() || c.is_control() || "/\\#".contains(c))
        {
            return Err(bad("the host holds characters a host cannot have"));
        }
        let port = match port {
            None | Some("") => {
                if tls {
                    443
                } else {
                    80
                }
            }
            Some(p) => p
                .parse::<u16>()
                .ok()
                .filter(|p| *p != 0)
                .ok_or(bad("the port is not a number from 1 to 65535"))?,
        };
        if path.chars().any(|c| c.is_whitespace() || c.is_control()) {
            return Err(bad("the path holds spaces or control characters"));
        }
        Ok(Url {
            tls,
            host: host.to_string(),
            port,
            path,
            userinfo,
        })
    }

    /// `host:port` as written in `Host` and `CONNECT` (IPv6 in brackets).
    pub fn authority(&self) -> String {
        let default = if self.tls { 443 } else { 80 };
        let host = if self.host.contains(':') {
            format!("[{}]", self.host)
        } else {
            self.host.clone()
        };
        if self.port == default {
            host
        } else {
            format!("{host}:{}", self.port)
        }
    }

    /// `host:port` always with the port.
    pub fn host_port(&self) -> String {
        if self.host.contains(':') {
            format!("[{}]:{}", self.host, self.port)
        } else {
            format!("{}:{}", self.host, self.port)
        }
    }

    /// Appends `segment` (such as `responses`) to the path, before any query.
    pub fn join(&self, segment: &str) -> Url {
        let (path, query) = match self.path.split_once('?') {
            Some((p, q)) => (p, Some(q)),
            None => (self.path.as_str(), None),
        };
        let mut joined = format!("{}/{}", path.trim_end_matches('/'), segment);
        if let Some(q) = query {
            joined.push('?');
            joined.push_str(q);
        }
        Url {
            path: joined,
            ..self.clone()
        }
    }

    /// Appends `key=value` query parameters (percent-encoded).
    pub fn with_query(&self, params: &[(String, String)]) -> Url {
        if params.is_empty() {
            return self.clone();
        }
        let mut path = self.path.clone();
        for (k, v) in params {
            path.push(if path.contains('?') { '&' } else { '?' });
            path.push_str(&percent_encode(k));
            path.push('=');
            path.push_str(&percent_encode(v));
        }
        Url {
            path,
            ..self.clone()
        }
    }
}

impl fmt::Display for Url {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let scheme = if self.tls { "https" } else { "http" };
        write!(f, "{scheme}://{}{}", self.authority(), self.path)
    }
}

/// Percent-encodes everything but unreserved characters.
pub fn percent_encode(s: &str) -> String {
    let mut out = String::with_capacity(s.len());
    for b in s.bytes() {
        if b.is_ascii_alphanumeric() || b"-._~".contains(&b) {
            out.push(b as char);
        } else {
            out.push_str(&format!("%{b:02X}"));
        }
    }
    out
}

/// Decodes `%XX` escapes (for credentials in proxy URLs).
pub fn percent_decode(s: &str) -> String {
    let bytes = s.as_bytes();
    let mut out = Vec::with_capacity(bytes.len());
    let mut i = 0;
    while i < bytes.len() {
        if bytes[i] == b'%' && i + 2 < bytes.len() && s.is_char_boundary(i + 3) {
            if let Ok(v) = u8::from_str_radix(&s[i + 1..i + 3], 16) {
                out.push(v);
                i += 3;
                continue;
            }
        }
        out.push(bytes[i]);
        i += 1;
    }
    String::from_utf8_lossy(&out).into_owned()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn parses_what_providers_use() {
        let u = Url::parse("https://api.example.test/v1").unwrap();
        assert!(u.tls);
        assert_eq!(
            (u.host.as_str(), u.port, u.path.as_str()),
            ("api.example.test", 443, "/v1")
        );
        let u = Url::parse("http://localhost:11434/v1/").unwrap();
        assert_eq!(u.join("chat/completions").path, "/v1/chat/completions");
        let u = Url::parse("http://[::1]:8080?api-version=1").unwrap();
        assert_eq!(u.host, "::1");
        assert_eq!(u.path, "/?api-version=1");
        assert_eq!(u.join("responses").path, "/responses?api-version=1");
        assert_eq!(u.authority(), "[::1]:8080");
        let u = Url::parse("http://user:p%40ss@proxy:3128").unwrap();
        assert_eq!(u.userinfo.as_deref(), Some("user:p%40ss"));
        assert_eq!(percent_decode("p%40ss"), "p@ss");
        let q = Url::parse("http://h/x")
            .unwrap()
            .with_query(&[("a b".into(), "1&2".into()), ("c".into(), "d".into())]);
        assert_eq!(q.path, "/x?a%20b=1%262&c=d");
        assert_eq!(q.to_string(), "http://h/x?a%20b=1%262&c=d");
    }

    #[test]
    fn refuses_what_it_cannot_use() {
        for bad in [
            "localhost:11434",
            "ftp://h/",
            "http://",
            "http://h:0/",
            "http://h:99999/",
            "http://h:x/",
            "http://[::1/",
            "http://h/a b",
            "http://h\u{7f}/",
        ] {
            assert!(Url::parse(bad).is_err(), "{bad}");
        }
    }
}
