//! Where each setting of a profile comes from — a flag, an environment variable, a line
//! of the config file, or the default — for `-v` and `doctor`. Secrets appear only as
//! "set" and their source, never as values. Computed from the same sources as `resolve`,
//! in the same order of precedence, without failing: a broken setting still shows.

use super::file::config_path;
use super::{DEFAULT_API_URL, DEFAULT_LOCK_TIMEOUT, DEFAULT_MIN_TTL, DEFAULT_PROFILE};
use super::{DEFAULT_TIMEOUT, DEFAULT_TOKEN_URL, Env, Overrides};
use std::path::{Path, PathBuf};

/// One setting: its effective value (or "set" for a secret) and where it came from.
#[derive(Debug, Clone, serde::Serialize)]
pub struct Setting {
    pub key: &'static str,
    pub value: Option<String>,
    pub source: String,
}

#[derive(Debug, Clone, serde::Serialize)]
pub struct Explanation {
    /// The config file looked for, and whether it was there.
    pub config_file: Option<PathBuf>,
    pub config_file_found: bool,
    pub profile: String,
    pub settings: Vec<Setting>,
}

impl Explanation {
    /// One line per setting, for people.
    pub fn lines(&self) -> Vec<String> {
        let mut lines = vec![match (&self.config_file, self.config_file_found) {
            (Some(p), true) => format!("config file {} (read)", p.display()),
            (Some(p), false) => format!("config file {} (not found; none used)", p.display()),
            (None, _) => "config file: none (no config directory on this system)".into(),
        }];
        lines.push(format!("profile {}", self.profile));
        for s in &self.settings {
            let value = s.value.as_deref().unwrap_or("(not set)");
            lines.push(format!("  {:<22} {value}   ← {}", s.key, s.source));
        }
        lines
    }
}

/// The file's text and its `[profiles.NAME]` table, if readable.
struct FileView {
    path: PathBuf,
    text: String,
    table: toml::Table,
}

impl FileView {
    fn profile_value(&self, profile: &str, key: &str) -> Option<String> {
        let v = self.table.get("profiles")?.get(profile)?.get(key)?;
        Some(match v {
            toml::Value::String(s) => s.clone(),
            other => other.to_string(),
        })
    }

    /// `file:line` of `key = …` inside `[profiles.NAME]` (or at the top for top-level keys).
    fn locate(&self, profile: Option<&str>, key: &str) -> String {
        let header = profile.map(|p| format!("[profiles.{p}]"));
        let mut inside = header.is_none();
        for (n, line) in self.text.lines().enumerate() {
            let line = line.trim();
            if line.starts_with('[') {
                inside = header
                    .as_deref()
                    .is_some_and(|h| line.replace(' ', "") == h);
                continue;
            }
            let is_key = line
                .strip_prefix(key)
                .is_some_and(|rest| rest.trim_start().starts_with('='));
            if inside && is_key {
                return format!("{}:{}", self.path.display(), n + 1);
            }
        }
        self.path.display().to_string()
    }
}

fn read_file(path: &Path) -> Option<FileView> {
    let text = std::fs::read_to_string(path).ok()?;
    let table = toml::from_str(&text).ok()?;
    Some(FileView {
        path: path.to_path_buf(),
        text,
        table,
    })
}

/// (key, environment variables, flag, default) of every plain setting, in display order.
/// (key, environment variables, flag, default).
type Spec = (
    &'static str,
    &'static [&'static str],
    Option<&'static str>,
    Option<&'static str>,
);

const PLAIN: [Spec; 17] = [
    ("client_id", &["BSN_CLIENT_ID", "BS_CLIENT_ID"], None, None),
    ("network", &["BSN_NETWORK", "BS_NETWORK"], None, None),
    ("grant", &["BSN_GRANT"], None, Some("client_credentials")),
    ("username", &["BSN_USERNAME"], None, None),
    (
        "token_url",
        &["BSN_TOKEN_URL"],
        None,
        Some(DEFAULT_TOKEN_URL),
    ),
    ("api_url", &["BSN_API_URL"], None, Some(DEFAULT_API_URL)),
    ("revoke_url", &["BSN_REVOKE_URL"], None, None),
    ("scope", &["BSN_SCOPE"], None, None),
    ("client_auth", &["BSN_CLIENT_AUTH"], None, Some("basic")),
    ("min_ttl", &["BSN_MIN_TTL"], Some("--min-ttl"), None),
    ("timeout", &["BSN_TIMEOUT"], None, None),
    ("lock_timeout", &["BSN_LOCK_TIMEOUT"], None, None),
    ("cache_dir", &["BSN_CACHE_DIR"], None, None),
    (
        "secret_command_timeout",
        &["BSN_SECRET_COMMAND_TIMEOUT"],
        None,
        None,
    ),
    ("shared_cache", &["BSN_SHARED_CACHE"], None, None),
    (
        "shared_cache_prefix",
        &["BSN_SHARED_CACHE_PREFIX"],
        None,
        None,
    ),
    (
        "shared_cache_timeout_ms",
        &["BSN_SHARED_CACHE_TIMEOUT_MS"],
        None,
        None,
    ),
];

/// Explains the profile `overrides` and `env` select.
pub fn explain(overrides: &Overrides, env: Env) -> Explanation {
    let path = config_path(overrides, env).map(|(p, _)| p);
    let file = path.as_deref().and_then(read_file);
    let top = |key: &str| {
        file.as_ref()
            .and_then(|f| f.table.get(key)?.as_str().map(str::to_string))
    };
    let (profile, profile_source) = if let Some(p) = &overrides.profile {
        (p.clone(), "flag --profile".to_string())
    } else if let Some(p) = env("BSN_PROFILE") {
        (p, "environment BSN_PROFILE".to_string())
    } else if let (Some(p), Some(f)) = (top("default_profile"), &file) {
        (p, f.locate(None, "default_profile"))
    } else {
        (DEFAULT_PROFILE.to_string(), "default".to_string())
    };
    let mut settings = vec![Setting {
        key: "profile",
        value: Some(profile.clone()),
        source: profile_source,
    }];
    let ctx = Ctx {
        env,
        file: file.as_ref(),
        profile: &profile,
    };
    for (key, vars, flag, default) in PLAIN {
        let flag_value = flag.and(overrides.min_ttl).map(|v| v.to_string());
        settings.push(ctx.plain(key, vars, flag.zip(flag_value), default));
        if key == "username" {
            settings.push(ctx.secret(
                "client_secret",
                &["BSN_CLIENT_SECRET", "BSN_SECRET", "BS_SECRET"],
            ));
            settings.push(ctx.secret("password", &["BSN_PASSWORD"]));
        }
        if key == "shared_cache" {
            let url = settings.last_mut().expect("just pushed");
            // The URL may carry a password: only its scheme, host and port are shown.
            url.value = url.value.as_deref().map(|v| {
                super::RedisUrl::parse(v, "shared_cache")
                    .map_or_else(|_| "(not a usable Redis URL)".into(), |u| u.display)
            });
            settings.push(ctx.secret("shared_cache_password", &["BSN_SHARED_CACHE_PASSWORD"]));
            settings.push(ctx.secret("shared_cache_key", &["BSN_SHARED_CACHE_KEY"]));
        }
    }
    fill_defaults(&mut settings);
    Explanation {
        config_file_found: file.is_some() || path.as_deref().is_some_and(Path::exists),
        config_file: path,
        profile,
        settings,
    }
}

/// Defaults that depend on other settings or the system.
fn fill_defaults(settings: &mut [Setting]) {
    let token_url = settings
        .iter()
        .find(|s| s.key == "token_url")
        .and_then(|s| s.value.clone());
    for s in settings.iter_mut().filter(|s| s.value.is_none()) {
        let derived = match s.key {
            "revoke_url" => token_url.as_deref().and_then(|t| {
                super::HttpUrl::parse(t, "token_url")
                    .ok()
                    .map(|u| u.sibling("revoke"))
            }),
            "min_ttl" => Some(DEFAULT_MIN_TTL.to_string()),
            "timeout" => Some(DEFAULT_TIMEOUT.to_string()),
            "lock_timeout" => Some(DEFAULT_LOCK_TIMEOUT.to_string()),
            "secret_command_timeout" => Some(super::DEFAULT_COMMAND_TIMEOUT.to_string()),
            "shared_cache_prefix" => Some(super::shared::DEFAULT_SHARED_PREFIX.to_string()),
            "shared_cache_timeout_ms" => Some(super::shared::DEFAULT_SHARED_TIMEOUT_MS.to_string()),
            "cache_dir" => {
                dirs::cache_dir().map(|d| d.join("bsn-credential-helper").display().to_string())
            }
            _ => None,
        };
        if derived.is_some() {
            s.value = derived;
            s.source = match s.key {
                "revoke_url" => "default (token_url's sibling)".into(),
                _ => "default".into(),
            };
        }
    }
}

struct Ctx<'a> {
    env: Env<'a>,
    file: Option<&'a FileView>,
    profile: &'a str,
}

impl Ctx<'_> {
    fn in_file(&self, key: &str) -> Option<(String, String)> {
        let f = self.file?;
        let value = f.profile_value(self.profile, key)?;
        Some((value, f.locate(Some(self.profile), key)))
    }

    fn plain(
        &self,
        key: &'static str,
        vars: &[&str],
        flag: Option<(&str, String)>,
        default: Option<&str>,
    ) -> Setting {
        let env_var = vars.iter().find(|v| (self.env)(v).is_some());
        let (value, source) = if let Some((name, v)) = flag {
            (Some(v), format!("flag {name}"))
        } else if let Some(var) = env_var {
            ((self.env)(var), format!("environment {var}"))
        } else if let Some((v, at)) = self.in_file(key) {
            (Some(v), at)
        } else {
            let source = if default.is_some() {
                "default"
            } else {
                "not set"
            };
            (default.map(str::to_string), source.to_string())
        };
        Setting { key, value, source }
    }

    /// "set" and where from; never the value.
    fn secret(&self, key: &'static str, vars: &[&str]) -> Setting {
        let source = if let Some(var) = vars.iter().find(|v| (self.env)(v).is_some()) {
            Some(format!("environment {var}"))
        } else {
            ["", "_env", "_file", "_command"].iter().find_map(|suffix| {
                let name = format!("{key}{suffix}");
                let (value, at) = self.in_file(&name)?;
                // A command line may hold a secret itself; a variable name or path may not.
                Some(match *suffix {
                    "_env" | "_file" => format!("{name} = {value:?} in {at}"),
                    _ => format!("{name} in {at}"),
                })
            })
        };
        Setting {
            key,
            value: source.as_ref().map(|_| "set".to_string()),
            source: source.unwrap_or_else(|| "not set".into()),
        }
    }
}
