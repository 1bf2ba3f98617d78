//! One profile's sources — the environment and its `[profiles.NAME]` table — read through
//! the settings table (table.rs), so resolution names each setting once and follows the
//! one order of precedence.

use super::file::{FileProfile, LoadedFile};
use super::table::{self, Origin};
use super::{Env, parse_secs};
use crate::error::Result;

pub(super) struct Sources<'a> {
    pub name: &'a str,
    pub file: Option<&'a LoadedFile>,
    pub p: FileProfile,
    pub env: Env<'a>,
}

impl Sources<'_> {
    /// How to name a file key in messages.
    pub fn where_(&self, key: &str) -> String {
        match self.file {
            Some(f) => format!("{key} in [profiles.{}] of {}", self.name, f.path.display()),
            None => format!("{key} in a config file"),
        }
    }

    /// The setting's value and where it came from (no flag: the callers apply theirs).
    pub fn picked(&self, key: &str) -> Option<(String, Origin)> {
        let spec = table::spec(key)?;
        table::pick(spec, None, self.env, file_text(&self.p, key))
    }

    pub fn text(&self, key: &str) -> Option<String> {
        self.picked(key).map(|(v, _)| v)
    }

    /// Whole seconds (or ms), naming the variable when one was set to something else.
    pub fn number(&self, key: &str) -> Result<Option<u64>> {
        match self.picked(key) {
            Some((v, Origin::Env(var))) => parse_secs(var, &v).map(Some),
            // The file's values are typed (checked when it was read); defaults are ours.
            Some((v, _)) => Ok(v.trim().parse().ok()),
            None => Ok(None),
        }
    }
}

#[cfg(test)]
pub(super) fn tests_file_text(p: &FileProfile, key: &str) -> Option<String> {
    file_text(p, key)
}

/// The file's value of a plain setting, as text.
fn file_text(p: &FileProfile, key: &str) -> Option<String> {
    let num = |v: Option<u64>| v.map(|n| n.to_string());
    let path = |v: &Option<std::path::PathBuf>| v.as_ref().map(|p| p.display().to_string());
    match key {
        "client_id" => p.client_id.clone(),
        "network" => p.network.clone(),
        "grant" => p.grant.map(|g| g.as_str().to_string()),
        "username" => p.username.clone(),
        "token_url" => p.token_url.clone(),
        "api_url" => p.api_url.clone(),
        "revoke_url" => p.revoke_url.clone(),
        "scope" => p.scope.clone(),
        "client_auth" => p.client_auth.map(|a| a.as_str().to_string()),
        "min_ttl" => num(p.min_ttl),
        "timeout" => num(p.timeout),
        "lock_timeout" => num(p.lock_timeout),
        "cache_dir" => path(&p.cache_dir),
        "secret_command_timeout" => num(p.secret_command_timeout),
        "shared_cache" => p.shared_cache.clone(),
        "shared_cache_prefix" => p.shared_cache_prefix.clone(),
        "shared_cache_timeout_ms" => num(p.shared_cache_timeout_ms),
        // Secrets have their own forms (secrets.rs).
        _ => None,
    }
}
