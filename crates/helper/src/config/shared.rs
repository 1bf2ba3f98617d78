//! Fleet-mode settings (`shared_cache`, `BSN_SHARED_CACHE`): where the Redis or Valkey
//! store is, how to authenticate to it, which key seals the entries, and how long to wait.
//! Nothing here connects; the URL is checked for shape only.

use super::SecretSource;
use super::lookup::Sources;
use super::secrets::{SecretContext, SecretKeys};
use crate::error::{Error, Result};
use crate::secret::Secret;
use std::time::Duration;

pub const DEFAULT_SHARED_PREFIX: &str = "bsn:";
pub const DEFAULT_SHARED_TIMEOUT_MS: u64 = 1000;
/// Longer waits on a shared store defeat its purpose: the per-host path is the fallback.
const MAX_SHARED_TIMEOUT_MS: u64 = 60_000;

/// A Redis URL as given (it may hold a password) and a form safe to print.
#[derive(Debug, Clone, PartialEq)]
pub struct RedisUrl {
    /// The whole URL, user and password included: only `shared::conn` opens it.
    pub full: Secret<String>,
    /// Scheme, host and port, or the socket path: never a user name or password.
    pub display: String,
}

impl RedisUrl {
    pub fn parse(text: &str, setting: &str) -> Result<RedisUrl> {
        let bad = |why: &str| {
            Error::config(format!(
                "{setting} is not a usable Redis URL ({why}); use redis://host:port, rediss://host:port, redis+unix:///path/to/socket or unix:///path/to/socket"
            ))
        };
        let url = url::Url::parse(text).map_err(|_| bad("it does not parse"))?;
        let display = match url.scheme() {
            "redis" | "rediss" => {
                let host = url.host_str().ok_or_else(|| bad("it names no host"))?;
                let port = url.port().unwrap_or(6379);
                format!("{}://{host}:{port}", url.scheme())
            }
            "redis+unix" | "unix" => {
                if url.path().is_empty() || url.path() == "/" {
                    return Err(bad("it names no socket path"));
                }
                format!("unix://{}", url.path())
            }
            _ => return Err(bad("unknown scheme")),
        };
        Ok(RedisUrl {
            full: Secret::new(text.to_string()),
            display,
        })
    }

    /// Whether the URL itself carries a password (then it is a secret of the file).
    pub fn has_password(&self) -> bool {
        url::Url::parse(self.full.expose())
            .is_ok_and(|u| u.password().is_some() || u.query_pairs().any(|(k, _)| k == "pass"))
    }
}

/// Everything fleet mode needs for one profile.
#[derive(Debug, Clone, PartialEq)]
pub struct SharedCache {
    pub url: RedisUrl,
    /// A password kept out of the URL: environment, 0600 file or command.
    pub password: Option<SecretSource>,
    /// Seals the entries; None = the profile's client secret.
    pub seal_key: Option<SecretSource>,
    /// Put before every key, e.g. "team-a:" (default "bsn:").
    pub prefix: String,
    /// Connect, read and write timeout for each Redis call.
    pub timeout: Duration,
}

/// Resolves the fleet settings; None when no `shared_cache` is set (today's behaviour).
pub(super) fn shared_cache(s: &Sources, secrets: &SecretContext) -> Result<Option<SharedCache>> {
    let Some((text, origin)) = s.picked("shared_cache") else {
        return Ok(None);
    };
    let url = RedisUrl::parse(&text, "BSN_SHARED_CACHE / shared_cache")?;
    let from_file = origin == super::table::Origin::File;
    if from_file && url.has_password() && !secrets.inline_ok {
        return Err(Error::config(format!(
            "{} holds a shared_cache URL with a password but other users can read it; run `{}` or use shared_cache_password_command",
            secrets.file,
            super::file::make_private_hint(&secrets.file)
        )));
    }
    let p = &s.p;
    let password = secrets.resolve(
        "shared_cache_password",
        super::table::env_of("shared_cache_password"),
        SecretKeys {
            inline: p.shared_cache_password.clone(),
            env_name: p.shared_cache_password_env.clone(),
            path: p
                .shared_cache_password_file
                .as_deref()
                .map(super::expand_home),
            command: p.shared_cache_password_command.clone(),
            credential: p.shared_cache_password_credential.clone(),
        },
    )?;
    let seal_key = secrets.resolve(
        "shared_cache_key",
        super::table::env_of("shared_cache_key"),
        SecretKeys {
            inline: p.shared_cache_key.clone(),
            env_name: p.shared_cache_key_env.clone(),
            path: p.shared_cache_key_file.as_deref().map(super::expand_home),
            command: p.shared_cache_key_command.clone(),
            credential: p.shared_cache_key_credential.clone(),
        },
    )?;
    let prefix = s
        .text("shared_cache_prefix")
        .unwrap_or_else(|| DEFAULT_SHARED_PREFIX.to_string());
    if prefix.contains(['{', '}']) || prefix.len() > 64 {
        return Err(Error::config(
            "BSN_SHARED_CACHE_PREFIX (shared_cache_prefix) must be at most 64 characters without braces",
        ));
    }
    let timeout_ms = match s.picked("shared_cache_timeout_ms") {
        Some((v, super::table::Origin::Env(var))) => v.trim().parse().map_err(|_| {
            Error::config(format!(
                "{var}={} is not a whole number of milliseconds",
                crate::text::quote(&v)
            ))
        })?,
        Some((v, _)) => v.parse().unwrap_or(DEFAULT_SHARED_TIMEOUT_MS),
        None => DEFAULT_SHARED_TIMEOUT_MS,
    };
    Ok(Some(SharedCache {
        url,
        password,
        seal_key,
        prefix,
        timeout: Duration::from_millis(timeout_ms.clamp(10, MAX_SHARED_TIMEOUT_MS)),
    }))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn urls_of_every_scheme_parse_and_display_without_credentials() {
        let u = RedisUrl::parse("redis://user:hunter2@cache.example:6380/0", "x").unwrap();
        assert_eq!(u.display, "redis://cache.example:6380");
        assert!(u.has_password());
        let u = RedisUrl::parse("rediss://cache.example", "x").unwrap();
        assert_eq!(u.display, "rediss://cache.example:6379");
        assert!(!u.has_password());
        let u = RedisUrl::parse("unix:///run/redis.sock", "x").unwrap();
        assert_eq!(u.display, "unix:///run/redis.sock");
        let u = RedisUrl::parse("redis+unix:///run/redis.sock?pass=x", "x").unwrap();
        assert_eq!(u.display, "unix:///run/redis.sock");
        for bad in ["http://h", "redis://", "unix://", "not a url"] {
            let e = RedisUrl::parse(bad, "BSN_SHARED_CACHE").unwrap_err();
            assert!(e.message.contains("BSN_SHARED_CACHE"), "{}", e.message);
        }
        let e = RedisUrl::parse("redis://u:hunter2@", "s").unwrap_err();
        assert!(!e.message.contains("hunter2"), "{}", e.message);
    }
}
