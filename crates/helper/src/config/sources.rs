//! Where each setting of a profile comes from — a flag, an environment variable, a line
//! of the config file, or the default — for `-v` and `doctor`. Secrets appear only as
//! "set" and their source, never as values. Read through the same table and the same
//! precedence (`table::pick`) as `resolve`, without failing: a broken setting still shows.

use super::file::config_path;
use super::table::{Kind, Origin, SETTINGS, Spec, pick};
use super::{DEFAULT_PROFILE, Env, Overrides};
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
    for spec in &SETTINGS {
        let setting = match spec.kind {
            Kind::Secret => ctx.secret(spec.key, spec.env),
            Kind::Plain => {
                let flag = spec.flag.and(overrides.min_ttl).map(|v| v.to_string());
                ctx.plain(spec, flag)
            }
        };
        settings.push(setting);
    }
    fill_defaults(&mut settings);
    Explanation {
        config_file_found: file.is_some() || path.as_deref().is_some_and(Path::exists),
        config_file: path,
        profile,
        settings,
    }
}

/// Defaults that depend on other settings or the system (the table's are applied by
/// `pick`).
fn fill_defaults(settings: &mut [Setting]) {
    let token_url = settings
        .iter()
        .find(|s| s.key == "token_url")
        .and_then(|s| s.value.clone());
    for s in settings.iter_mut().filter(|s| s.value.is_none()) {
        let (derived, source) = match s.key {
            "revoke_url" => (
                token_url.as_deref().and_then(|t| {
                    super::HttpUrl::parse(t, "token_url")
                        .ok()
                        .map(|u| u.sibling("revoke"))
                }),
                "default (token_url's sibling)",
            ),
            "cache_dir" => (
                dirs::cache_dir().map(|d| d.join("bsn-credential-helper").display().to_string()),
                "default",
            ),
            _ => (None, ""),
        };
        if derived.is_some() {
            s.value = derived;
            s.source = source.into();
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

    fn plain(&self, spec: &'static Spec, flag: Option<String>) -> Setting {
        let file = self.in_file(spec.key);
        let (value, source) =
            match pick(spec, flag, self.env, file.as_ref().map(|(v, _)| v.clone())) {
                Some((v, Origin::Flag(name))) => (Some(v), format!("flag {name}")),
                Some((v, Origin::Env(var))) => (Some(v), format!("environment {var}")),
                Some((v, Origin::File)) => (Some(v), file.map(|(_, at)| at).unwrap_or_default()),
                Some((v, Origin::Default)) => (Some(v), "default".to_string()),
                None => (None, "not set".to_string()),
            };
        // The URL may carry a password: only its scheme, host and port are shown.
        let value = match spec.key {
            "shared_cache" => value.map(|v| {
                super::RedisUrl::parse(&v, "shared_cache")
                    .map_or_else(|_| "(not a usable Redis URL)".into(), |u| u.display)
            }),
            _ => value,
        };
        Setting {
            key: spec.key,
            value,
            source,
        }
    }

    /// "set" and where from; never the value.
    fn secret(&self, key: &'static str, vars: &[&str]) -> Setting {
        let source = if let Some(var) = vars.iter().find(|v| (self.env)(v).is_some()) {
            Some(format!("environment {var}"))
        } else {
            ["", "_env", "_file", "_command", "_credential"]
                .iter()
                .find_map(|suffix| {
                    let name = format!("{key}{suffix}");
                    let (value, at) = self.in_file(&name)?;
                    // A command line may hold a secret itself; a variable name or path may not.
                    Some(match *suffix {
                        "_env" | "_file" | "_credential" => format!("{name} = {value:?} in {at}"),
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
