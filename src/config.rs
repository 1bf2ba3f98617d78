//! Resolves one `Profile` from flags, environment, the TOML file and defaults — in that
//! order of precedence. Secrets are not read here: a `SecretSource` is resolved only when a
//! login needs it, so the cache-hit path never runs `client_secret_command`.

use crate::error::{Error, Result};
use crate::secret::Secret;
use serde::Deserialize;
use std::collections::BTreeMap;
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

/// Where a secret comes from; read only when needed.
#[derive(Debug, Clone, PartialEq)]
pub enum SecretSource {
    Value(Secret<String>),
    File(PathBuf),
    Command(String),
}

impl SecretSource {
    /// `setting` names the knob in messages, e.g. "client_secret_command".
    pub fn resolve(&self, what: &str) -> Result<Secret<String>> {
        let value = match self {
            SecretSource::Value(s) => return Ok(s.clone()),
            SecretSource::File(path) => read_secret_file(path, what)?,
            SecretSource::Command(cmd) => run_secret_command(cmd, what)?,
        };
        let value = value.trim_end_matches(['\r', '\n']).to_string();
        if value.is_empty() {
            return Err(Error::config(format!(
                "the {what} source gave an empty value"
            )));
        }
        Ok(Secret::new(value))
    }
}

fn read_secret_file(path: &Path, what: &str) -> Result<String> {
    #[cfg(unix)]
    {
        use std::os::unix::fs::MetadataExt;
        let meta = std::fs::metadata(path).map_err(|e| {
            Error::config(format!("cannot read {what} file {}: {e}", path.display()))
        })?;
        if meta.mode() & 0o077 != 0 {
            return Err(Error::config(format!(
                "{what} file {} is readable by other users; run `chmod 600 {}`",
                path.display(),
                path.display()
            )));
        }
    }
    std::fs::read_to_string(path)
        .map_err(|e| Error::config(format!("cannot read {what} file {}: {e}", path.display())))
}

fn run_secret_command(cmd: &str, what: &str) -> Result<String> {
    #[cfg(unix)]
    let mut command = {
        let mut c = std::process::Command::new("sh");
        c.arg("-c").arg(cmd);
        c
    };
    #[cfg(not(unix))]
    let mut command = {
        let mut c = std::process::Command::new("cmd");
        c.arg("/C").arg(cmd);
        c
    };
    // The command's own stderr reaches the user; its stdout is the secret.
    let out = command
        .stdin(std::process::Stdio::null())
        .stderr(std::process::Stdio::inherit())
        .output()
        .map_err(|e| Error::config(format!("cannot run {what}_command: {e}")))?;
    if !out.status.success() {
        return Err(Error::config(format!(
            "{what}_command failed ({}); check the command in the config file",
            out.status
        )));
    }
    String::from_utf8(out.stdout).map_err(|_| {
        Error::config(format!(
            "{what}_command printed something that is not UTF-8"
        ))
    })
}

/// Everything needed to get a token for one profile.
#[derive(Debug, Clone)]
pub struct Profile {
    pub name: String,
    pub token_url: String,
    pub api_url: String,
    pub client_id: String,
    pub client_secret: Option<SecretSource>,
    pub grant: Grant,
    pub username: Option<String>,
    pub password: Option<SecretSource>,
    pub network: Option<String>,
    pub scope: Option<String>,
    pub client_auth: ClientAuth,
    pub min_ttl: u64,
    pub timeout: Duration,
    pub lock_timeout: Duration,
    pub cache_dir: PathBuf,
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

#[derive(Debug, Default, Deserialize)]
#[serde(deny_unknown_fields)]
struct FileConfig {
    default_profile: Option<String>,
    #[serde(default)]
    profiles: BTreeMap<String, FileProfile>,
}

/// One `[profiles.NAME]` table. Typos are errors that list the valid keys.
#[derive(Debug, Default, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
struct FileProfile {
    token_url: Option<String>,
    api_url: Option<String>,
    client_id: Option<String>,
    client_secret: Option<String>,
    client_secret_env: Option<String>,
    client_secret_file: Option<PathBuf>,
    client_secret_command: Option<String>,
    grant: Option<Grant>,
    username: Option<String>,
    password: Option<String>,
    password_env: Option<String>,
    password_file: Option<PathBuf>,
    password_command: Option<String>,
    network: Option<String>,
    scope: Option<String>,
    client_auth: Option<ClientAuth>,
    min_ttl: Option<u64>,
    timeout: Option<u64>,
    lock_timeout: Option<u64>,
    cache_dir: Option<PathBuf>,
}

/// Reads the environment through a function so tests can pass a map.
pub type Env<'a> = &'a dyn Fn(&str) -> Option<String>;

pub fn process_env(name: &str) -> Option<String> {
    std::env::var(name).ok().filter(|v| !v.is_empty())
}

fn first(env: Env, names: &[&str]) -> Option<String> {
    names.iter().find_map(|n| env(n).filter(|v| !v.is_empty()))
}

struct LoadedFile {
    path: PathBuf,
    config: FileConfig,
    /// Whether other users may read the file (then inline secrets are refused).
    readable_by_others: bool,
}

fn config_path(overrides: &Overrides, env: Env) -> Option<(PathBuf, bool)> {
    if let Some(p) = &overrides.config {
        return Some((p.clone(), true));
    }
    if let Some(p) = env("BSN_CONFIG") {
        return Some((PathBuf::from(p), true));
    }
    dirs::config_dir().map(|d| (d.join("bsn-credential-helper").join("config.toml"), false))
}

fn load_file(overrides: &Overrides, env: Env) -> Result<Option<LoadedFile>> {
    let Some((path, explicit)) = config_path(overrides, env) else {
        return Ok(None);
    };
    let text = match std::fs::read_to_string(&path) {
        Ok(t) => t,
        Err(e) if e.kind() == std::io::ErrorKind::NotFound && !explicit => return Ok(None),
        Err(e) => {
            return Err(Error::config(format!(
                "cannot read config file {}: {e} (set by --config or BSN_CONFIG)",
                path.display()
            )));
        }
    };
    let config: FileConfig = toml::from_str(&text).map_err(|e| {
        Error::config(format!(
            "config file {} is invalid: {}",
            path.display(),
            e.to_string().trim_end()
        ))
    })?;
    Ok(Some(LoadedFile {
        readable_by_others: readable_by_others(&path),
        path,
        config,
    }))
}

#[cfg(unix)]
fn readable_by_others(path: &Path) -> bool {
    use std::os::unix::fs::MetadataExt;
    std::fs::metadata(path).is_ok_and(|m| m.mode() & 0o077 != 0)
}

#[cfg(not(unix))]
fn readable_by_others(_path: &Path) -> bool {
    false
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
    let from_file = file.and_then(|f| f.config.profiles.get(name));
    if from_file.is_none() && name != DEFAULT_PROFILE {
        let known: Vec<&str> = file
            .map(|f| f.config.profiles.keys().map(String::as_str).collect())
            .unwrap_or_default();
        return Err(Error::config(match file {
            Some(f) => format!(
                "profile \"{name}\" is not defined in {} (defined: {})",
                f.path.display(),
                if known.is_empty() {
                    "none".to_string()
                } else {
                    known.join(", ")
                }
            ),
            None => format!(
                "profile \"{name}\" needs a config file, and none was found; create one or set BSN_CONFIG"
            ),
        }));
    }
    let p = from_file.cloned().unwrap_or_default();
    let where_ = |key: &str| match file {
        Some(f) => format!("{key} in [profiles.{name}] of {}", f.path.display()),
        None => format!("{key} in a config file"),
    };

    let client_id = first(env, &["BSN_CLIENT_ID", "BS_CLIENT_ID"])
        .or(p.client_id.clone())
        .ok_or_else(|| {
            Error::config(format!(
                "no client id for profile \"{name}\": set BSN_CLIENT_ID or {}",
                where_("client_id")
            ))
        })?;

    let secrets = SecretContext {
        inline_ok: file.is_none_or(|f| !f.readable_by_others),
        file: file
            .map(|f| f.path.display().to_string())
            .unwrap_or_default(),
        env,
    };
    let client_secret = secrets.resolve(
        "client_secret",
        &["BSN_CLIENT_SECRET", "BSN_SECRET", "BS_SECRET"],
        SecretKeys {
            inline: p.client_secret.clone(),
            env_name: p.client_secret_env.clone(),
            path: p.client_secret_file.clone(),
            command: p.client_secret_command.clone(),
        },
    )?;
    let password = secrets.resolve(
        "password",
        &["BSN_PASSWORD"],
        SecretKeys {
            inline: p.password.clone(),
            env_name: p.password_env.clone(),
            path: p.password_file.clone(),
            command: p.password_command.clone(),
        },
    )?;

    let grant = match env("BSN_GRANT") {
        Some(g) => match g.as_str() {
            "client_credentials" => Grant::ClientCredentials,
            "password" => Grant::Password,
            other => {
                return Err(Error::config(format!(
                    "BSN_GRANT=\"{other}\" is not a grant this helper knows; use client_credentials or password"
                )));
            }
        },
        None => p.grant.unwrap_or(Grant::ClientCredentials),
    };
    let username = env("BSN_USERNAME").or(p.username.clone());
    if grant == Grant::Password && username.is_none() {
        return Err(Error::config(format!(
            "profile \"{name}\" uses the password grant but has no username: set BSN_USERNAME or {}",
            where_("username")
        )));
    }
    let client_auth = match env("BSN_CLIENT_AUTH") {
        Some(a) => match a.as_str() {
            "basic" => ClientAuth::Basic,
            "post" => ClientAuth::Post,
            other => {
                return Err(Error::config(format!(
                    "BSN_CLIENT_AUTH=\"{other}\" is not known; use basic or post"
                )));
            }
        },
        None => p.client_auth.unwrap_or(ClientAuth::Basic),
    };

    let token_url = env("BSN_TOKEN_URL")
        .or(p.token_url.clone())
        .unwrap_or_else(|| DEFAULT_TOKEN_URL.to_string());
    check_url(&token_url, "BSN_TOKEN_URL / token_url")?;
    let api_url = env("BSN_API_URL")
        .or(p.api_url.clone())
        .unwrap_or_else(|| DEFAULT_API_URL.to_string());
    check_url(&api_url, "BSN_API_URL / api_url")?;
    let api_url = api_url.trim_end_matches('/').to_string();

    let min_ttl = match overrides.min_ttl {
        Some(v) => v,
        None => match env("BSN_MIN_TTL") {
            Some(v) => parse_secs("BSN_MIN_TTL", &v)?,
            None => p.min_ttl.unwrap_or(DEFAULT_MIN_TTL),
        },
    };
    let timeout = match env("BSN_TIMEOUT") {
        Some(v) => parse_secs("BSN_TIMEOUT", &v)?,
        None => p.timeout.unwrap_or(DEFAULT_TIMEOUT),
    };
    let lock_timeout = match env("BSN_LOCK_TIMEOUT") {
        Some(v) => parse_secs("BSN_LOCK_TIMEOUT", &v)?,
        None => p.lock_timeout.unwrap_or(DEFAULT_LOCK_TIMEOUT),
    };
    let cache_dir = env("BSN_CACHE_DIR")
        .map(PathBuf::from)
        .or(p.cache_dir.clone())
        .or_else(|| dirs::cache_dir().map(|d| d.join("bsn-credential-helper")))
        .ok_or_else(|| {
            Error::config("no per-user cache directory is known on this system; set BSN_CACHE_DIR")
        })?;

    Ok(Profile {
        name: name.to_string(),
        token_url,
        api_url,
        client_id,
        client_secret,
        grant,
        username,
        password,
        network: first(env, &["BSN_NETWORK", "BS_NETWORK"]).or(p.network.clone()),
        scope: env("BSN_SCOPE").or(p.scope.clone()),
        client_auth,
        min_ttl,
        timeout: Duration::from_secs(timeout.clamp(1, MAX_WAIT)),
        lock_timeout: Duration::from_secs(lock_timeout.min(MAX_WAIT)),
        cache_dir,
        config_file: file.map(|f| f.path.clone()),
    })
}

/// The four file keys that can name one secret (`X`, `X_env`, `X_file`, `X_command`).
struct SecretKeys {
    inline: Option<String>,
    env_name: Option<String>,
    path: Option<PathBuf>,
    command: Option<String>,
}

/// What deciding between a secret's sources needs to know about the file and environment.
struct SecretContext<'a> {
    inline_ok: bool,
    file: String,
    env: Env<'a>,
}

impl SecretContext<'_> {
    /// The environment variables (first set wins) beat the file's keys, of which at most
    /// one may be set.
    fn resolve(
        &self,
        what: &str,
        env_vars: &[&str],
        keys: SecretKeys,
    ) -> Result<Option<SecretSource>> {
        if let Some(v) = first(self.env, env_vars) {
            return Ok(Some(SecretSource::Value(Secret::new(v))));
        }
        let file = &self.file;
        let set = [
            keys.inline.is_some(),
            keys.env_name.is_some(),
            keys.path.is_some(),
            keys.command.is_some(),
        ];
        if set.iter().filter(|s| **s).count() > 1 {
            return Err(Error::config(format!(
                "{file} sets more than one of {what}, {what}_env, {what}_file, {what}_command; keep one"
            )));
        }
        if let Some(v) = keys.inline {
            if !self.inline_ok {
                return Err(Error::config(format!(
                    "{file} holds a {what} but other users can read it; run `chmod 600 {file}` or use {what}_command"
                )));
            }
            return Ok(Some(SecretSource::Value(Secret::new(v))));
        }
        if let Some(name) = keys.env_name {
            return match (self.env)(&name) {
                Some(v) => Ok(Some(SecretSource::Value(Secret::new(v)))),
                None => Err(Error::config(format!(
                    "{what}_env names ${name}, which is not set"
                ))),
            };
        }
        Ok(keys
            .path
            .map(SecretSource::File)
            .or(keys.command.map(SecretSource::Command)))
    }
}

fn parse_secs(name: &str, value: &str) -> Result<u64> {
    value.trim().parse().map_err(|_| {
        Error::config(format!(
            "{name}=\"{value}\" is not a whole number of seconds"
        ))
    })
}

/// Tokens and secrets must only travel over TLS; plain http is for loopback (the emulator).
pub fn check_url(url: &str, setting: &str) -> Result<()> {
    let bad = |why: &str| Error::config(format!("{setting} \"{url}\" {why}"));
    let (scheme, rest) = url
        .split_once("://")
        .ok_or_else(|| bad("is not an absolute URL"))?;
    let authority = rest.split(['/', '?', '#']).next().unwrap_or("");
    if authority.contains('@') {
        return Err(bad("must not carry credentials"));
    }
    let host = host_of(authority);
    if host.is_empty() {
        return Err(bad("has no host"));
    }
    match scheme.to_ascii_lowercase().as_str() {
        "https" => Ok(()),
        "http" if is_loopback(host) => Ok(()),
        "http" => Err(bad(
            "must use https (plain http is allowed only for 127.0.0.1, ::1 and localhost)",
        )),
        _ => Err(bad("must use https")),
    }
}

/// The host part of `host[:port]` or `[v6]:port`.
pub fn host_of(authority: &str) -> &str {
    if let Some(rest) = authority.strip_prefix('[') {
        return rest.split(']').next().unwrap_or("");
    }
    authority.split(':').next().unwrap_or("")
}

pub fn is_loopback(host: &str) -> bool {
    host.eq_ignore_ascii_case("localhost")
        || host
            .parse::<std::net::IpAddr>()
            .is_ok_and(|ip| ip.is_loopback())
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::collections::HashMap;

    fn env_of(pairs: &[(&str, &str)]) -> impl Fn(&str) -> Option<String> {
        let map: HashMap<String, String> = pairs
            .iter()
            .map(|(k, v)| (k.to_string(), v.to_string()))
            .collect();
        move |k| map.get(k).cloned().filter(|v| !v.is_empty())
    }

    fn no_file() -> Overrides {
        Overrides {
            config: None,
            ..Default::default()
        }
    }

    #[test]
    fn environment_alone_is_enough() {
        let env = env_of(&[
            ("BSN_CONFIG", "/nonexistent-but-unused"),
            ("BS_CLIENT_ID", "id"),
            ("BS_SECRET", "s"),
            ("BS_NETWORK", "Demo"),
            ("BSN_CACHE_DIR", "/tmp/x"),
        ]);
        // BSN_CONFIG explicitly set to a missing file is an error…
        assert!(load(&no_file(), &env).is_err());
        let env = env_of(&[
            ("BS_CLIENT_ID", "id"),
            ("BS_SECRET", "s"),
            ("BS_NETWORK", "Demo"),
            ("BSN_CACHE_DIR", "/tmp/x"),
        ]);
        let p = resolve("default", None, &no_file(), &env).unwrap();
        assert_eq!(p.client_id, "id");
        assert_eq!(p.network.as_deref(), Some("Demo"));
        assert_eq!(p.token_url, DEFAULT_TOKEN_URL);
        assert_eq!(p.grant, Grant::ClientCredentials);
        assert_eq!(p.min_ttl, DEFAULT_MIN_TTL);
        assert_eq!(
            p.client_secret
                .unwrap()
                .resolve("client_secret")
                .unwrap()
                .expose(),
            "s"
        );
    }

    #[test]
    fn missing_client_id_names_the_setting() {
        let env = env_of(&[("BSN_CACHE_DIR", "/tmp/x")]);
        let e = resolve("default", None, &no_file(), &env).unwrap_err();
        assert!(e.message.contains("BSN_CLIENT_ID"), "{}", e.message);
    }

    #[test]
    fn urls_must_be_https_except_loopback() {
        assert!(check_url("https://auth.bsn.cloud/x", "s").is_ok());
        assert!(check_url("http://127.0.0.1:8080/x", "s").is_ok());
        assert!(check_url("http://[::1]:8080/x", "s").is_ok());
        assert!(check_url("http://localhost/x", "s").is_ok());
        assert!(check_url("http://auth.bsn.cloud/x", "s").is_err());
        assert!(check_url("http://127.0.0.1.evil.com/x", "s").is_err());
        assert!(check_url("https://user:pw@auth.bsn.cloud/", "s").is_err());
        assert!(check_url("auth.bsn.cloud", "s").is_err());
    }

    #[test]
    fn flags_beat_env_beat_file() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("c.toml");
        std::fs::write(
            &path,
            "default_profile = \"p\"\n[profiles.p]\nclient_id = \"file-id\"\nmin_ttl = 10\nnetwork = \"FileNet\"\n",
        )
        .unwrap();
        let ov = Overrides {
            config: Some(path.clone()),
            profile: None,
            min_ttl: Some(99),
        };
        let env = env_of(&[
            ("BSN_MIN_TTL", "50"),
            ("BSN_NETWORK", "EnvNet"),
            ("BSN_CACHE_DIR", "/tmp/x"),
        ]);
        let p = load(&ov, &env).unwrap();
        assert_eq!(p.name, "p");
        assert_eq!(p.client_id, "file-id");
        assert_eq!(p.network.as_deref(), Some("EnvNet"));
        assert_eq!(p.min_ttl, 99);
        let p = load(
            &Overrides {
                min_ttl: None,
                ..ov.clone()
            },
            &env,
        )
        .unwrap();
        assert_eq!(p.min_ttl, 50);
    }

    #[test]
    fn bad_file_names_file_line_and_key() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("c.toml");
        std::fs::write(
            &path,
            "[profiles.p]\nclient_id = \"x\"\nnetwrok = \"Demo\"\n",
        )
        .unwrap();
        let ov = Overrides {
            config: Some(path.clone()),
            ..Default::default()
        };
        let e = load(&ov, &env_of(&[])).unwrap_err();
        assert!(
            e.message.contains(&path.display().to_string()),
            "{}",
            e.message
        );
        assert!(e.message.contains("line 3"), "{}", e.message);
        assert!(e.message.contains("netwrok"), "{}", e.message);
    }

    #[cfg(unix)]
    #[test]
    fn inline_secret_in_a_readable_file_is_refused() {
        use std::os::unix::fs::PermissionsExt;
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("c.toml");
        std::fs::write(
            &path,
            "[profiles.default]\nclient_id = \"x\"\nclient_secret = \"topsecret\"\n",
        )
        .unwrap();
        std::fs::set_permissions(&path, std::fs::Permissions::from_mode(0o644)).unwrap();
        let ov = Overrides {
            config: Some(path.clone()),
            ..Default::default()
        };
        let env = env_of(&[("BSN_CACHE_DIR", "/tmp/x")]);
        let e = load(&ov, &env).unwrap_err();
        assert!(e.message.contains("chmod 600"), "{}", e.message);
        assert!(!e.message.contains("topsecret"));
        std::fs::set_permissions(&path, std::fs::Permissions::from_mode(0o600)).unwrap();
        assert!(load(&ov, &env).is_ok());
    }

    #[test]
    fn secret_command_runs_only_on_resolve() {
        let src = SecretSource::Command("printf 's3cret\\n'".into());
        assert_eq!(src.resolve("client_secret").unwrap().expose(), "s3cret");
        let e = SecretSource::Command("exit 3".into())
            .resolve("client_secret")
            .unwrap_err();
        assert!(e.message.contains("client_secret_command"), "{}", e.message);
    }

    #[test]
    fn unknown_profile_lists_known_ones() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("c.toml");
        std::fs::write(&path, "[profiles.prod]\nclient_id = \"x\"\n").unwrap();
        let ov = Overrides {
            config: Some(path),
            profile: Some("staging".into()),
            min_ttl: None,
        };
        let e = load(&ov, &env_of(&[])).unwrap_err();
        assert!(
            e.message.contains("\"staging\"") && e.message.contains("prod"),
            "{}",
            e.message
        );
    }
}
