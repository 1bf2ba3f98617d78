//! `erase` with revocation: forget the cache entry under its lock, then revoke at the server
//! (RFC 7009) what is still alive. A failed revocation is a warning; the erase stands. In
//! fleet mode the fleet entry's access token is expired too, so no host hands it out again.

use super::cache_key;
use super::renew::client_secret;
use crate::cache::Cache;
use crate::config::Profile;
use crate::error::Result;
use crate::oauth;
use crate::time::now_ms;
use std::time::Instant;

/// What `erase` did: whether an entry was forgotten, which token was revoked at the
/// server, and why revocation failed (a warning: the erase itself stands).
#[derive(Debug, Default)]
pub struct Erased {
    pub removed: bool,
    pub revoked: Option<&'static str>,
    pub warning: Option<String>,
}

/// Forgets the profile's cached tokens, then revokes what is still alive (RFC 7009): the
/// refresh token of a user session (which ends the session), else the access token, so it
/// stops counting against BrightSign's per-application token cap.
pub fn erase_and_revoke(profile: &Profile) -> Result<Erased> {
    let cache = Cache::new(&profile.cache_dir);
    let key = cache_key(profile);
    if !cache.entry_path(&key).exists() {
        return Ok(Erased::default());
    }
    cache.prepare()?;
    let guard = cache.lock(&key, profile.lock_timeout)?;
    // A restored copy's refresh token may be spent: not even revoked with (cache/origin.rs).
    let entry = cache.read_locked(&guard, &key);
    let removed = cache.remove(&guard)?;
    drop(guard);
    // In fleet mode the other hosts would otherwise go on handing out the revoked token.
    if let (Some(cfg), Some(e)) = (&profile.shared_cache, &entry)
        && let Err(e) = super::fleet::expire_in_fleet(profile, cfg, &key, &e.access_token)
    {
        crate::debug!("{e}; the erase is recorded on this host only");
    }
    let now = now_ms();
    let alive = entry.as_ref().and_then(|e| match &e.refresh_token {
        Some(r) if e.refresh_expires_at_ms.is_none_or(|t| t > now) => {
            Some((r.clone(), "refresh_token"))
        }
        _ => (!e.is_expired(now)).then(|| (e.access_token.clone(), "access_token")),
    });
    let Some((token, hint)) = alive else {
        return Ok(Erased {
            removed,
            ..Erased::default()
        });
    };
    let deadline = Instant::now() + profile.timeout;
    match client_secret(profile)
        .and_then(|secret| oauth::revoke(deadline, profile, &secret, &token, hint))
    {
        Ok(()) => Ok(Erased {
            removed,
            revoked: Some(hint),
            warning: None,
        }),
        Err(e) => Ok(Erased {
            removed,
            revoked: None,
            warning: Some(format!("the {hint} was not revoked at the server: {e}")),
        }),
    }
}
