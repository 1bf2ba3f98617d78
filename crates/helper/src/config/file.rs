//! The TOML file: where it is, what it may hold (typos are errors that list valid keys),
//! and whether other users can read it.

use super::{ClientAuth, Env, Grant, Overrides};
use crate::error::{Error, Result};
use serde::Deserialize;
use std::collections::BTreeMap;
use std::path::{Path, PathBuf};

#[derive(Debug, Default, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct FileConfig {
    pub default_profile: Option<String>,
    #[serde(default)]
    pub profiles: BTreeMap<String, FileProfile>,
}

/// One `[profiles.NAME]` table. Typos are errors that list the valid keys.
#[derive(Debug, Default, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct FileProfile {
    pub token_url: Option<String>,
    pub api_url: Option<String>,
    pub revoke_url: Option<String>,
    pub client_id: Option<String>,
    pub client_secret: Option<String>,
    pub client_secret_env: Option<String>,
    pub client_secret_file: Option<PathBuf>,
    pub client_secret_command: Option<String>,
    pub client_secret_credential: Option<String>,
    pub grant: Option<Grant>,
    pub username: Option<String>,
    pub password: Option<String>,
    pub password_env: Option<String>,
    pub password_file: Option<PathBuf>,
    pub password_command: Option<String>,
    pub password_credential: Option<String>,
    pub network: Option<String>,
    pub scope: Option<String>,
    pub client_auth: Option<ClientAuth>,
    pub min_ttl: Option<u64>,
    pub timeout: Option<u64>,
    pub lock_timeout: Option<u64>,
    pub cache_dir: Option<PathBuf>,
    pub secret_command_timeout: Option<u64>,
    pub shared_cache: Option<String>,
    pub shared_cache_password: Option<String>,
    pub shared_cache_password_env: Option<String>,
    pub shared_cache_password_file: Option<PathBuf>,
    pub shared_cache_password_command: Option<String>,
    pub shared_cache_password_credential: Option<String>,
    pub shared_cache_key: Option<String>,
    pub shared_cache_key_env: Option<String>,
    pub shared_cache_key_file: Option<PathBuf>,
    pub shared_cache_key_command: Option<String>,
    pub shared_cache_key_credential: Option<String>,
    pub shared_cache_prefix: Option<String>,
    pub shared_cache_timeout_ms: Option<u64>,
}

pub struct LoadedFile {
    pub path: PathBuf,
    pub config: FileConfig,
    /// Whether other users may read the file (then inline secrets are refused).
    pub readable_by_others: bool,
}

pub fn config_path(overrides: &Overrides, env: Env) -> Option<(PathBuf, bool)> {
    if let Some(p) = &overrides.config {
        return Some((p.clone(), true));
    }
    if let Some(p) = env("BSN_CONFIG") {
        return Some((PathBuf::from(p), true));
    }
    dirs::config_dir().map(|d| (d.join("bsn-credential-helper").join("config.toml"), false))
}

pub fn load_file(overrides: &Overrides, env: Env) -> Result<Option<LoadedFile>> {
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

/// The command that makes `path` readable by its owner only, for messages.
pub fn make_private_hint(path: &str) -> String {
    if cfg!(windows) {
        format!("icacls \"{path}\" /inheritance:r /grant:r \"%USERNAME%:F\"")
    } else {
        format!("chmod 600 {path}")
    }
}

/// Windows: any access rule for another account (or one that cannot be read) counts.
#[cfg(windows)]
fn readable_by_others(path: &Path) -> bool {
    !matches!(crate::win::acl::open_to(path), Ok(None))
}

#[cfg(not(any(unix, windows)))]
fn readable_by_others(_path: &Path) -> bool {
    false
}
