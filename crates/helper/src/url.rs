//! The one URL type: configured endpoints (`HttpUrl`) and the URLs host tools ask about
//! (`Target`), both parsed by the `url` crate — the parser the HTTP client uses — so what
//! we accept is exactly what it can send to, and a malformed URL is a config error, never
//! a panic in the HTTP client.

use crate::error::{Error, Result};
use crate::text::quote;

/// A validated endpoint: https, or plain http to a loopback address (the emulator).
/// `as_str` is the text as configured (minus a trailing `/`), which the cache key uses.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct HttpUrl {
    raw: String,
    parsed: url::Url,
}

impl HttpUrl {
    /// `setting` names the knob in the message, e.g. "BSN_TOKEN_URL / token_url".
    pub fn parse(text: &str, setting: &str) -> Result<HttpUrl> {
        let bad = |why: &str| Error::config(format!("{setting} {} {why}", quote(text)));
        // The url crate silently drops tabs and newlines; we refuse them instead.
        if text.chars().any(|c| c.is_control() || c.is_whitespace()) {
            return Err(bad("contains spaces or control characters"));
        }
        let parsed =
            url::Url::parse(text).map_err(|e| bad(&format!("is not a valid URL ({e})")))?;
        if !parsed.username().is_empty() || parsed.password().is_some() {
            return Err(bad("must not carry credentials"));
        }
        let Some(host) = parsed.host_str().filter(|h| !h.is_empty()) else {
            return Err(bad("has no host"));
        };
        match parsed.scheme() {
            "https" => {}
            "http" if is_loopback(host) => {}
            "http" => {
                return Err(bad(
                    "must use https (plain http is allowed only for 127.0.0.1, ::1 and localhost)",
                ));
            }
            _ => return Err(bad("must use https")),
        }
        Ok(HttpUrl {
            raw: text.trim_end_matches('/').to_string(),
            parsed,
        })
    }

    pub fn as_str(&self) -> &str {
        &self.raw
    }

    /// The host without brackets or port.
    pub fn host(&self) -> &str {
        self.parsed.host_str().unwrap_or_default()
    }

    pub fn is_loopback(&self) -> bool {
        is_loopback(self.host())
    }

    /// `self` with `path` appended (`path` starts with `/`).
    pub fn join(&self, path: &str) -> String {
        format!("{}{path}", self.raw)
    }

    /// Same scheme, host and port as `self`, with `path` instead of the last path segment:
    /// Keycloak's `…/openid-connect/token` → `…/openid-connect/revoke`.
    pub fn sibling(&self, segment: &str) -> String {
        match self.raw.rsplit_once('/') {
            Some((base, _)) if base.contains("://") && base.len() > "https://".len() => {
                format!("{base}/{segment}")
            }
            _ => self.join(&format!("/{segment}")),
        }
    }
}

impl std::fmt::Display for HttpUrl {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(&self.raw)
    }
}

/// `localhost` or a loopback IP (with or without IPv6 brackets).
pub fn is_loopback(host: &str) -> bool {
    let host = host.trim_start_matches('[').trim_end_matches(']');
    host.eq_ignore_ascii_case("localhost")
        || host
            .parse::<std::net::IpAddr>()
            .is_ok_and(|ip| ip.is_loopback())
}

/// Where a host tool wants to authenticate: scheme (None for a bare Docker `host[:port]`),
/// lowercased host and port. Parsed by the same parser; anything ambiguous — a backslash
/// or user info in the authority, which parsers disagree on — is refused.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Target {
    pub scheme: Option<String>,
    host: String,
    port: Option<u16>,
}

impl Target {
    pub fn parse(text: &str) -> Option<Target> {
        let text = text.trim();
        if text.is_empty() || text.chars().any(|c| c.is_control() || c.is_whitespace()) {
            return None;
        }
        let (scheme, rest) = match text.split_once("://") {
            Some((s, r)) => (Some(s.to_ascii_lowercase()), r),
            None => (None, text),
        };
        let authority = rest.split(['/', '?', '#']).next().unwrap_or("");
        if authority.is_empty() || authority.contains(['@', '\\']) || rest.starts_with('\\') {
            return None;
        }
        // Parse the authority alone under a scheme with default ports, so `host:port`
        // checks (range, IPv6 brackets) are the url crate's.
        let parsed = url::Url::parse(&format!("https://{authority}/")).ok()?;
        let host = parsed.host_str()?.to_ascii_lowercase();
        let explicit_port = authority
            .rsplit_once(':')
            .is_some_and(|(_, p)| !p.contains(']'));
        let port = match (parsed.port(), explicit_port) {
            (Some(p), _) => Some(p),
            // `:443` is dropped by the parser as https's default; keep it.
            (None, true) => Some(443),
            (None, false) => None,
        };
        Some(Target { scheme, host, port })
    }

    /// The host without port (IPv6 with brackets, as URLs write it).
    pub fn host(&self) -> &str {
        &self.host
    }

    pub fn port(&self) -> Option<u16> {
        self.port
    }

    /// `host[:port]`, as written in URLs.
    pub fn authority(&self) -> String {
        match self.port {
            Some(p) => format!("{}:{p}", self.host),
            None => self.host.clone(),
        }
    }

    /// The port this target reaches: its own, else its scheme's default.
    fn effective_port(&self) -> Option<u16> {
        self.port.or(match self.scheme.as_deref() {
            Some("http") => Some(80),
            Some("https") | None => Some(443),
            _ => None,
        })
    }

    /// Whether `self`, a configured host entry, covers `target`: same host, and the
    /// same port when the entry names one.
    pub fn covers(&self, target: &Target) -> bool {
        self.host == target.host && self.port.is_none_or(|p| Some(p) == target.effective_port())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn endpoints_must_be_https_except_loopback() {
        let ok = |u: &str| HttpUrl::parse(u, "s").is_ok();
        assert!(ok("https://auth.bsn.cloud/x"));
        assert!(ok("http://127.0.0.1:8080/x"));
        assert!(ok("http://[::1]:8080/x"));
        assert!(ok("http://localhost/x"));
        assert!(!ok("http://auth.bsn.cloud/x"));
        assert!(!ok("http://127.0.0.1.evil.com/x"));
        assert!(!ok("https://user:pw@auth.bsn.cloud/"));
        assert!(!ok("auth.bsn.cloud"));
        assert!(!ok("ftp://auth.bsn.cloud/"));
    }

    #[test]
    fn malformed_urls_are_config_errors_not_panics() {
        for bad in [
            "https://a:99999/t",
            "https://[::1/t",
            "https://host:1:2/t",
            "https://a b/t",
            "https://a\n.example/t",
            "https://a/\tt",
            "https://",
            "",
        ] {
            let e = HttpUrl::parse(bad, "BSN_TOKEN_URL").unwrap_err();
            assert_eq!(e.code, crate::error::ErrorCode::Config, "{bad}");
            assert!(e.message.contains("BSN_TOKEN_URL"), "{}", e.message);
            assert!(!e.message.contains('\n'), "{}", e.message);
        }
    }

    #[test]
    fn revoke_url_is_the_token_url_sibling() {
        let u = HttpUrl::parse(
            "https://auth.bsn.cloud/realms/bsncloud/protocol/openid-connect/token",
            "s",
        )
        .unwrap();
        assert_eq!(
            u.sibling("revoke"),
            "https://auth.bsn.cloud/realms/bsncloud/protocol/openid-connect/revoke"
        );
        assert_eq!(
            HttpUrl::parse("https://a.test", "s")
                .unwrap()
                .sibling("revoke"),
            "https://a.test/revoke"
        );
    }

    #[test]
    fn targets_refuse_authority_tricks() {
        assert!(Target::parse("https://evil.com\\@api.bsn.cloud/").is_none());
        assert!(Target::parse("https://api.bsn.cloud\\@evil.com/").is_none());
        assert!(Target::parse("https://api.bsn.cloud@evil.com/").is_none());
        assert!(Target::parse("https://user@api.bsn.cloud/").is_none());
        assert!(Target::parse("https://api.bsn.cloud:99999/").is_none());
        assert!(Target::parse("https://api.bsn.cloud\n.evil.com/").is_none());
        let t = Target::parse("https://API.bsn.cloud:8443/x").unwrap();
        assert_eq!((t.host(), t.port()), ("api.bsn.cloud", Some(8443)));
        assert_eq!(Target::parse("[::1]:9").unwrap().host(), "[::1]");
    }
}
