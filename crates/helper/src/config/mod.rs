//! Resolves one `Profile` from flags, environment, the TOML file and defaults — in that
//! order of precedence. Reading order: sources (`file`, the environment) → merge
//! (`resolve` and its parts) → validate (URLs, numbers, paths). Secrets are not read here:
//! a `SecretSource` is resolved only when a login needs it (`secrets`).

mod file;
mod lookup;
mod secrets;
mod shared;
mod sources;
pub mod table;

pub use file::config_path;
pub use secrets::{DEFAULT_COMMAND_TIMEOUT, SecretSource};
pub use shared::{RedisUrl, SharedCache};
pub use sources::{Explanation, Setting, explain};

use crate::error::{Error, Result};
use crate::url::HttpUrl;
use file::{FileProfile, LoadedFile, load_file};
use lookup::Sources;
use secrets::{SecretContext, SecretKeys};
use serde::Deserialize;
use std::path::{Path, PathBuf};
use std::time::Duration;

pub const DEFAULT_TOKEN_URL: &str =
    "https://auth.bsn.cloud/realms/bsncloud/protocol/openid-connect/token";
pub const DEFAULT_API_URL: &str = "https://api.bsn.cloud";
pub const DEFAULT_PROFILE: &str = "default";
pub const DEFAULT_MIN_TTL: u64 = 60;
pub const DEFAULT_TIMEOUT: u64 = 30;
pub const DEFAULT_LOCK_TIMEOUT: u64 = 60;
/// Ceiling for `timeout` and `lock_timeout`: no refresh needs longer, and larger values
/// would overflow the deadlines computed from them.
pub const MAX_WAIT: u64 = 24 * 3600;

#[derive(Debug, Clone, Copy, PartialEq, Eq, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum Grant {
    ClientCredentials,
    Password,
}

impl Grant {
    pub fn as_str(self) -> &'static str {
        match self {
            Grant::ClientCredentials => "client_credentials",
            Grant::Password => "password",
        }
    }
}

/// How the client id and secret travel to the token endpoint.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum ClientAuth {
    /// `Authorization: Basic`, id and secret form-encoded first (RFC 6749 §2.3.1).
    Basic,
    /// `client_id` / `client_secret` form fields.
    Post,
}

impl ClientAuth {
    pub fn as_str(self) -> &'static str {
        match self {
            ClientAuth::Basic => "basic",
            ClientAuth::Post => "post",
        }
    }
}

/// Everything needed to get a token for one profile.
#[derive(Debug, Clone)]
pub struct Profile {
    pub name: String,
    pub token_url: HttpUrl,
    pub api_url: HttpUrl,
    /// RFC 7009 revocation endpoint (`erase`): `revoke_url`, else the token URL's sibling.
    pub revoke_url: HttpUrl,
    pub client_id: String,
    pub client_secret: Option<SecretSource>,
    pub grant: Grant,
    pub username: Option<String>,
    pub password: Option<SecretSource>,
    pub network: Option<String>,
    pub scope: Option<String>,
    pub client_auth: ClientAuth,
    /// Seconds a handed-out token must still be valid: the one place this lives, already
    /// holding any flag or protocol-request override.
    pub min_ttl: u64,
    pub timeout: Duration,
    pub lock_timeout: Duration,
    pub cache_dir: PathBuf,
    /// Fleet mode: the Redis/Valkey store hosts share (None = this host's cache only).
    pub shared_cache: Option<SharedCache>,
    /// The file this profile was read from, for messages.
    pub config_file: Option<PathBuf>,
}

/// Values given on the command line (or in a protocol request), which beat everything.
#[derive(Debug, Default, Clone)]
pub struct Overrides {
    pub config: Option<PathBuf>,
    pub profile: Option<String>,
    pub min_ttl: Option<u64>,
}

/// Reads the environment through a function so tests can pass a map.
pub type Env<'a> = &'a dyn Fn(&str) -> Option<String>;

pub fn process_env(name: &str) -> Option<String> {
    std::env::var(name).ok().filter(|v| !v.is_empty())
}

fn first(env: Env, names: &[&str]) -> Option<String> {
    names.iter().find_map(|n| env(n).filter(|v| !v.is_empty()))
}

/// Resolves the profile to use now.
pub fn load(overrides: &Overrides, env: Env) -> Result<Profile> {
    let file = load_file(overrides, env)?;
    let name = overrides
        .profile
        .clone()
        .or_else(|| env("BSN_PROFILE"))
        .or_else(|| file.as_ref().and_then(|f| f.config.default_profile.clone()))
        .unwrap_or_else(|| DEFAULT_PROFILE.to_string());
    resolve(&name, file.as_ref(), overrides, env)
}

/// The profile names the config file defines (none if it cannot be read), for shell
/// completion of `--profile`.
pub fn profile_names(overrides: &Overrides, env: Env) -> Vec<String> {
    load_file(overrides, env)
        .ok()
        .flatten()
        .map(|f| f.config.profiles.keys().cloned().collect())
        .unwrap_or_default()
}

/// Every profile the config file defines (or just the environment's one), for `status`.
pub fn load_all(overrides: &Overrides, env: Env) -> Result<Vec<Result<Profile>>> {
    let file = load_file(overrides, env)?;
    let mut names: Vec<String> = file
        .as_ref()
        .map(|f| f.config.profiles.keys().cloned().collect())
        .unwrap_or_default();
    if let Some(selected) = overrides.profile.clone().or_else(|| env("BSN_PROFILE")) {
        names = vec![selected];
    } else if names.is_empty() {
        names.push(DEFAULT_PROFILE.to_string());
    }
    Ok(names
        .iter()
        .map(|n| resolve(n, file.as_ref(), overrides, env))
        .collect())
}

fn resolve(
    name: &str,
    file: Option<&LoadedFile>,
    overrides: &Overrides,
    env: Env,
) -> Result<Profile> {
    let p = profile_table(name, file)?;
    let s = Sources { name, file, p, env };
    let client_id = s.text("client_id").ok_or_else(|| {
        // No profile at all is a new user: point at the commands that get one going.
        let start = match file {
            None => "; run `bsn-credential-helper init` to write a profile, or `bsn-credential-helper demo` to try it without an account",
            Some(_) => "",
        };
        Error::config(format!(
            "no client id for profile \"{name}\": set BSN_CLIENT_ID or {}{start}",
            s.where_("client_id")
        ))
    })?;
    let secrets = secret_context(&s)?;
    let (client_secret, password) = secret_sources(&s, &secrets)?;
    let grant = grant(&s)?;
    let username = s.text("username");
    if grant == Grant::Password && username.is_none() {
        return Err(Error::config(format!(
            "profile \"{name}\" uses the password grant but has no username: set BSN_USERNAME or {}",
            s.where_("username")
        )));
    }
    // token_url and api_url have defaults in the table: always Some.
    let token_url = s.text("token_url").unwrap_or_default();
    let api_url = s.text("api_url").unwrap_or_default();
    let token_url = HttpUrl::parse(&token_url, "BSN_TOKEN_URL / token_url")?;
    let revoke_url = s
        .text("revoke_url")
        .unwrap_or_else(|| token_url.sibling("revoke"));
    let min_ttl = match overrides.min_ttl {
        Some(v) => v,
        None => s.number("min_ttl")?.unwrap_or(DEFAULT_MIN_TTL),
    };
    let timeout = s.number("timeout")?.unwrap_or(DEFAULT_TIMEOUT);
    let lock_timeout = s.number("lock_timeout")?.unwrap_or(DEFAULT_LOCK_TIMEOUT);
    Ok(Profile {
        name: name.to_string(),
        revoke_url: HttpUrl::parse(&revoke_url, "BSN_REVOKE_URL / revoke_url")?,
        token_url,
        api_url: HttpUrl::parse(&api_url, "BSN_API_URL / api_url")?,
        client_id,
        client_secret,
        grant,
        username,
        password,
        network: s.text("network"),
        scope: s.text("scope"),
        client_auth: client_auth(&s)?,
        min_ttl,
        timeout: Duration::from_secs(timeout.clamp(1, MAX_WAIT)),
        lock_timeout: Duration::from_secs(lock_timeout.min(MAX_WAIT)),
        cache_dir: cache_dir(&s)?,
        shared_cache: shared::shared_cache(&s, &secrets)?,
        config_file: file.map(|f| f.path.clone()),
    })
}

/// The file's `[profiles.NAME]` table; only "default" may be absent.
fn profile_table(name: &str, file: Option<&LoadedFile>) -> Result<FileProfile> {
    if let Some(p) = file.and_then(|f| f.config.profiles.get(name)) {
        return Ok(p.clone());
    }
    if name == DEFAULT_PROFILE {
        return Ok(FileProfile::default());
    }
    Err(Error::config(match file {
        Some(f) => {
            let known: Vec<&str> = f.config.profiles.keys().map(String::as_str).collect();
            format!(
                "profile {} is not defined in {} (defined: {})",
                crate::text::quote(name),
                f.path.display(),
                if known.is_empty() {
                    "none".to_string()
                } else {
                    known.join(", ")
                }
            )
        }
        None => format!(
            "profile {} needs a config file, and none was found; create one or set BSN_CONFIG",
            crate::text::quote(name)
        ),
    }))
}

fn secret_context<'a>(s: &Sources<'a>) -> Result<SecretContext<'a>> {
    let command_timeout = s
        .number("secret_command_timeout")?
        .unwrap_or(DEFAULT_COMMAND_TIMEOUT);
    Ok(SecretContext {
        inline_ok: s.file.is_none_or(|f| !f.readable_by_others),
        file: s
            .file
            .map(|f| f.path.display().to_string())
            .unwrap_or_default(),
        env: s.env,
        command_timeout: Duration::from_secs(command_timeout.clamp(1, MAX_WAIT)),
    })
}

fn secret_sources(
    s: &Sources,
    secrets: &SecretContext,
) -> Result<(Option<SecretSource>, Option<SecretSource>)> {
    let p = &s.p;
    let client_secret = secrets.resolve(
        "client_secret",
        table::env_of("client_secret"),
        SecretKeys {
            inline: p.client_secret.clone(),
            env_name: p.client_secret_env.clone(),
            path: p.client_secret_file.as_deref().map(expand_home),
            command: p.client_secret_command.clone(),
            credential: p.client_secret_credential.clone(),
        },
    )?;
    let password = secrets.resolve(
        "password",
        table::env_of("password"),
        SecretKeys {
            inline: p.password.clone(),
            env_name: p.password_env.clone(),
            path: p.password_file.as_deref().map(expand_home),
            command: p.password_command.clone(),
            credential: p.password_credential.clone(),
        },
    )?;
    Ok((client_secret, password))
}

fn grant(s: &Sources) -> Result<Grant> {
    match s.text("grant").as_deref() {
        None | Some("client_credentials") => Ok(Grant::ClientCredentials),
        Some("password") => Ok(Grant::Password),
        Some(other) => Err(Error::config(format!(
            "BSN_GRANT={} is not a grant this helper knows; use client_credentials or password",
            crate::text::quote(other)
        ))),
    }
}

fn client_auth(s: &Sources) -> Result<ClientAuth> {
    match s.text("client_auth").as_deref() {
        None | Some("basic") => Ok(ClientAuth::Basic),
        Some("post") => Ok(ClientAuth::Post),
        Some(other) => Err(Error::config(format!(
            "BSN_CLIENT_AUTH={} is not known; use basic or post",
            crate::text::quote(other)
        ))),
    }
}

/// An absolute directory: a relative one would change with the caller's working
/// directory, splitting one cache into many. `~/` is expanded in the file's value.
fn cache_dir(s: &Sources) -> Result<PathBuf> {
    let dir = match s.picked("cache_dir") {
        Some((v, table::Origin::File)) => expand_home(Path::new(&v)),
        Some((v, _)) => PathBuf::from(v),
        None => dirs::cache_dir()
            .map(|d| d.join("bsn-credential-helper"))
            .ok_or_else(|| {
                Error::config(
                    "no per-user cache directory is known on this system; set BSN_CACHE_DIR",
                )
            })?,
    };
    if !dir.is_absolute() {
        return Err(Error::config(format!(
            "the cache directory {} is relative; set BSN_CACHE_DIR (cache_dir) to an absolute path",
            crate::text::quote(&dir.display().to_string())
        )));
    }
    Ok(dir)
}

/// `~/x` in a config-file path means the home directory, as in a shell.
pub fn expand_home(path: &std::path::Path) -> PathBuf {
    match (path.strip_prefix("~"), dirs::home_dir()) {
        (Ok(rest), Some(home)) => home.join(rest),
        _ => path.to_path_buf(),
    }
}

fn parse_secs(name: &str, value: &str) -> Result<u64> {
    value.trim().parse().map_err(|_| {
        Error::config(format!(
            "{name}={} is not a whole number of seconds",
            crate::text::quote(value)
        ))
    })
}

#[cfg(test)]
mod tests;
