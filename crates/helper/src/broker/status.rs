//! What `status` shows for one profile: expiry, session age, cache path - never a token.

use super::cache_key;
use crate::cache::Cache;
use crate::config::Profile;
use crate::time::now_ms;

/// What `status` shows for one profile: never a token value.
#[derive(Debug, serde::Serialize)]
pub struct Status {
    pub profile: String,
    pub grant: &'static str,
    pub network: Option<String>,
    pub cache_file: String,
    pub access_token: Option<TokenStatus>,
    pub refresh_token: Option<TokenStatus>,
    pub session_started_at: Option<String>,
    pub session_age_seconds: Option<u64>,
    /// The fleet entry, when a shared cache is configured.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub shared: Option<super::SharedStatus>,
}

#[derive(Debug, serde::Serialize)]
pub struct TokenStatus {
    pub expires_at: Option<String>,
    pub expires_in: Option<i64>,
    pub valid: bool,
}

pub fn status(profile: &Profile) -> Status {
    let cache = Cache::new(&profile.cache_dir);
    let key = cache_key(profile);
    let entry = cache.read(&key);
    let now = now_ms();
    let token_status = |at: Option<u64>| TokenStatus {
        expires_at: at.map(crate::time::rfc3339),
        expires_in: at.map(|t| (t.min(i64::MAX as u64) as i64 - now as i64) / 1000),
        valid: at.is_none_or(|t| t > now),
    };
    Status {
        profile: profile.name.clone(),
        grant: profile.grant.as_str(),
        network: profile.network.clone(),
        cache_file: cache.entry_path(&key).display().to_string(),
        access_token: entry.as_ref().map(|e| token_status(Some(e.expires_at_ms))),
        refresh_token: entry
            .as_ref()
            .filter(|e| e.refresh_token.is_some())
            .map(|e| token_status(e.refresh_expires_at_ms)),
        session_started_at: entry
            .as_ref()
            .and_then(|e| e.session_started_at_ms)
            .map(crate::time::rfc3339),
        session_age_seconds: entry
            .as_ref()
            .and_then(|e| e.session_started_at_ms)
            .map(|s| now.saturating_sub(s) / 1000),
        shared: profile
            .shared_cache
            .as_ref()
            .map(|cfg| super::fleet::status(profile, cfg)),
    }
}
