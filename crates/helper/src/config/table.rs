//! Every setting of a profile, defined once: its config-file key, the environment
//! variables that override it, the flag that overrides those, its default and one line of
//! help. Resolution (`resolve`), the `-v`/`doctor` listing (`explain`), `init`, the man page
//! and the README table all read this table, and `pick` is the one order of precedence:
//! flag, then environment (first variable set, in the table's order), then the config
//! file, then the default. Adding a setting is one row here (and its field in
//! `file::FileProfile`, which a test checks).

use super::Env;

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Kind {
    Plain,
    /// Never shown; also read from `<key>_env`, `<key>_file` and `<key>_command`.
    Secret,
}

#[derive(Debug)]
pub struct Spec {
    pub key: &'static str,
    pub env: &'static [&'static str],
    pub flag: Option<&'static str>,
    /// What applies when nothing is set, as shown to people.
    pub default: Option<&'static str>,
    pub kind: Kind,
    pub help: &'static str,
}

const fn plain(
    key: &'static str,
    env: &'static [&'static str],
    default: Option<&'static str>,
    help: &'static str,
) -> Spec {
    Spec {
        key,
        env,
        flag: None,
        default,
        kind: Kind::Plain,
        help,
    }
}

const fn secret(key: &'static str, env: &'static [&'static str], help: &'static str) -> Spec {
    Spec {
        key,
        env,
        flag: None,
        default: None,
        kind: Kind::Secret,
        help,
    }
}

/// In the order `-v` and `doctor` list them.
pub const SETTINGS: [Spec; 21] = [
    plain(
        "client_id",
        &["BSN_CLIENT_ID", "BS_CLIENT_ID"],
        None,
        "Application client id (Admin Panel → Settings → Applications).",
    ),
    plain(
        "network",
        &["BSN_NETWORK", "BS_NETWORK"],
        None,
        "Network each new session is bound to.",
    ),
    plain(
        "grant",
        &["BSN_GRANT"],
        Some("client_credentials"),
        "client_credentials, or password for a user session with refresh tokens.",
    ),
    plain(
        "username",
        &["BSN_USERNAME"],
        None,
        "User name for the password grant.",
    ),
    secret(
        "client_secret",
        &["BSN_CLIENT_SECRET", "BSN_SECRET", "BS_SECRET"],
        "Client secret (BSN.cloud secrets expire every 180 days).",
    ),
    secret(
        "password",
        &["BSN_PASSWORD"],
        "Password for the password grant.",
    ),
    plain(
        "token_url",
        &["BSN_TOKEN_URL"],
        Some(super::DEFAULT_TOKEN_URL),
        "Token endpoint; https only, plain http only for loopback.",
    ),
    plain(
        "api_url",
        &["BSN_API_URL"],
        Some(super::DEFAULT_API_URL),
        "BSN.cloud API base URL, where network selection happens.",
    ),
    plain(
        "revoke_url",
        &["BSN_REVOKE_URL"],
        None,
        "Revocation endpoint used by erase (default: the token URL with revoke as its last segment).",
    ),
    plain("scope", &["BSN_SCOPE"], None, "Scope to request."),
    plain(
        "client_auth",
        &["BSN_CLIENT_AUTH"],
        Some("basic"),
        "basic, or post (client id and secret as form fields).",
    ),
    Spec {
        flag: Some("--min-ttl"),
        ..plain(
            "min_ttl",
            &["BSN_MIN_TTL"],
            Some("60"),
            "Seconds a returned token must still be valid (capped at 45% of its lifetime, with a warning).",
        )
    },
    plain(
        "timeout",
        &["BSN_TIMEOUT"],
        Some("30"),
        "Deadline in seconds of one renewal, retries included.",
    ),
    plain(
        "lock_timeout",
        &["BSN_LOCK_TIMEOUT"],
        Some("60"),
        "Seconds to wait for another process's renewal.",
    ),
    plain(
        "cache_dir",
        &["BSN_CACHE_DIR"],
        None,
        "Private, local, absolute cache directory (default: the per-user cache directory).",
    ),
    plain(
        "secret_command_timeout",
        &["BSN_SECRET_COMMAND_TIMEOUT"],
        Some("30"),
        "Seconds any *_command (secrets, passwords, Redis password, sealing key) may take.",
    ),
    plain(
        "shared_cache",
        &["BSN_SHARED_CACHE"],
        None,
        "Fleet mode: the Redis or Valkey URL hosts share one token through.",
    ),
    secret(
        "shared_cache_password",
        &["BSN_SHARED_CACHE_PASSWORD"],
        "Fleet mode: the Redis password, kept out of the URL.",
    ),
    secret(
        "shared_cache_key",
        &["BSN_SHARED_CACHE_KEY"],
        "Fleet mode: the secret shared entries are sealed with (default: the client secret).",
    ),
    plain(
        "shared_cache_prefix",
        &["BSN_SHARED_CACHE_PREFIX"],
        Some(super::shared::DEFAULT_SHARED_PREFIX),
        "Fleet mode: put before every Redis key.",
    ),
    plain(
        "shared_cache_timeout_ms",
        &["BSN_SHARED_CACHE_TIMEOUT_MS"],
        Some("1000"),
        "Fleet mode: connect, read and write timeout of each Redis call, in ms.",
    ),
];

/// The row of `key`; every key the code asks for is in the table (a unit test checks).
pub fn spec(key: &str) -> Option<&'static Spec> {
    SETTINGS.iter().find(|s| s.key == key)
}

/// The environment variables of `key`, first one wins.
pub fn env_of(key: &str) -> &'static [&'static str] {
    spec(key).map_or(&[], |s| s.env)
}

/// Where a value came from.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Origin {
    Flag(&'static str),
    Env(&'static str),
    File,
    Default,
}

/// The one order of precedence: `flag`, then the first of the row's environment
/// variables that is set, then the file's value, then the default.
pub fn pick(
    spec: &Spec,
    flag: Option<String>,
    env: Env,
    file: Option<String>,
) -> Option<(String, Origin)> {
    if let (Some(v), Some(name)) = (flag, spec.flag) {
        return Some((v, Origin::Flag(name)));
    }
    for var in spec.env {
        if let Some(v) = env(var).filter(|v| !v.is_empty()) {
            return Some((v, Origin::Env(var)));
        }
    }
    if let Some(v) = file {
        return Some((v, Origin::File));
    }
    spec.default.map(|d| (d.to_string(), Origin::Default))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn numeric_defaults_are_the_constants_the_code_uses() {
        let default = |k: &str| spec(k).and_then(|s| s.default).unwrap();
        assert_eq!(
            default("min_ttl"),
            super::super::DEFAULT_MIN_TTL.to_string()
        );
        assert_eq!(
            default("timeout"),
            super::super::DEFAULT_TIMEOUT.to_string()
        );
        assert_eq!(
            default("lock_timeout"),
            super::super::DEFAULT_LOCK_TIMEOUT.to_string()
        );
        assert_eq!(
            default("secret_command_timeout"),
            super::super::DEFAULT_COMMAND_TIMEOUT.to_string()
        );
        assert_eq!(
            default("shared_cache_timeout_ms"),
            super::super::shared::DEFAULT_SHARED_TIMEOUT_MS.to_string()
        );
    }

    #[test]
    fn precedence_is_flag_environment_file_default() {
        let s = spec("min_ttl").unwrap();
        let env = |v: &str| (v == "BSN_MIN_TTL").then(|| "2".to_string());
        let none = |_: &str| None;
        let file = || Some("3".to_string());
        assert_eq!(
            pick(s, Some("1".into()), &env, file()).unwrap().1,
            Origin::Flag("--min-ttl")
        );
        assert_eq!(
            pick(s, None, &env, file()).unwrap(),
            ("2".into(), Origin::Env("BSN_MIN_TTL"))
        );
        assert_eq!(
            pick(s, None, &none, file()).unwrap(),
            ("3".into(), Origin::File)
        );
        assert_eq!(
            pick(s, None, &none, None).unwrap(),
            ("60".into(), Origin::Default)
        );
        // The first variable of a row wins; an empty one counts as unset.
        let c = spec("client_id").unwrap();
        let both = |v: &str| match v {
            "BSN_CLIENT_ID" => Some(String::new()),
            "BS_CLIENT_ID" => Some("old".into()),
            _ => None,
        };
        assert_eq!(
            pick(c, None, &both, None).unwrap().1,
            Origin::Env("BS_CLIENT_ID")
        );
    }

    /// Every key the config file accepts is a setting of the table (or a secret's form),
    /// and every plain setting of the table is read from the file.
    #[test]
    fn the_file_and_the_table_name_the_same_settings() {
        use super::super::file::FileProfile;
        let err = toml::from_str::<FileProfile>("not_a_key = 1")
            .unwrap_err()
            .to_string();
        let keys: Vec<&str> = err.split('`').skip(3).step_by(2).collect();
        assert!(keys.len() > 25, "{err}");
        for k in &keys {
            let base = ["_env", "_file", "_command", "_credential"]
                .iter()
                .find_map(|suffix| k.strip_suffix(suffix))
                .unwrap_or(k);
            let known = spec(k).is_some() || spec(base).is_some_and(|s| s.kind == Kind::Secret);
            assert!(known, "config key {k} has no row in the settings table");
        }
        for s in SETTINGS.iter().filter(|s| s.kind == Kind::Plain) {
            assert!(keys.contains(&s.key), "{} is not a config file key", s.key);
            let p = ["\"x\"", "5", "\"password\"", "\"basic\""]
                .iter()
                .find_map(|v| toml::from_str::<FileProfile>(&format!("{} = {v}", s.key)).ok())
                .unwrap();
            let sources = super::super::lookup::tests_file_text(&p, s.key);
            assert!(sources.is_some(), "{} is not read from the file", s.key);
        }
    }

    #[test]
    fn keys_are_unique() {
        let mut keys: Vec<_> = SETTINGS.iter().map(|s| s.key).collect();
        keys.sort();
        keys.dedup();
        assert_eq!(keys.len(), SETTINGS.len());
    }
}
