//! The fleet entry outside a renewal: what `status` shows of it, and expiring a token that
//! was refused or erased so no host hands it out again.

use super::fleet::open;
use super::renew::client_secret;
use crate::cache::CacheKey;
use crate::config::{Profile, SharedCache};
use crate::error::{Error, Result};
use crate::secret::Secret;
use crate::shared::{FleetError, Snapshot};
use crate::time::now_ms;
use std::time::Duration;

/// Expires the fleet entry's access token if it is `rejected` (keeping its refresh token),
/// so no host hands it out again after git or Docker reported it refused, or `erase`
/// revoked it. Best effort: a host renewing right now (lock taken) replaces it anyway;
/// Redis unreachable is a debug line.
pub(super) fn expire_in_fleet(
    profile: &Profile,
    cfg: &SharedCache,
    key: &CacheKey,
    rejected: &Secret<String>,
) -> Result<bool> {
    let secret = client_secret(profile)?;
    let fleet = match open(cfg, key, &secret)? {
        Ok(f) => f,
        Err(e) => {
            crate::debug!("{e}; the rejection is recorded on this host only");
            return Ok(false);
        }
    };
    let outcome = (|| -> std::result::Result<bool, FleetError> {
        let Some(lock) = fleet.try_lock(cfg.timeout * 4 + Duration::from_secs(2))? else {
            return Ok(false);
        };
        // As a renewal reads it: a refresh token from another server lifetime is not
        // written back as if it were this one's.
        let (snap, _) = fleet.read_for_renewal()?;
        let Some(mut entry) = snap.current.and_then(|c| c.entry) else {
            return Ok(false);
        };
        if entry.access_token != *rejected {
            return Ok(false);
        }
        entry.expires_at_ms = entry.obtained_at_ms;
        Ok(fleet
            .write(&lock, &snap.generation, Some(&entry))?
            .is_some())
    })();
    Ok(outcome.unwrap_or_else(|e| {
        crate::debug!("{e}; the rejection is recorded on this host only");
        false
    }))
}

/// What `status` shows of the fleet entry: never a token, never the store's credentials.
#[derive(Debug, serde::Serialize)]
pub struct SharedStatus {
    /// Scheme, host and port, or the socket path.
    pub store: String,
    pub answered: bool,
    pub error: Option<String>,
    pub generation: Option<u64>,
    pub expires_at: Option<String>,
    pub expires_in: Option<i64>,
    pub refresh_token: bool,
    pub renewed_by: Option<String>,
    pub renewed_at: Option<String>,
}

pub(super) fn status(profile: &crate::config::Profile, cfg: &SharedCache) -> SharedStatus {
    let mut out = SharedStatus {
        store: cfg.url.display.clone(),
        answered: false,
        error: None,
        generation: None,
        expires_at: None,
        expires_in: None,
        refresh_token: false,
        renewed_by: None,
        renewed_at: None,
    };
    let read = || -> Result<Snapshot> {
        let secret = client_secret(profile)?;
        let key = super::cache_key(profile);
        open(cfg, &key, &secret)?
            .and_then(|f| f.read())
            .map_err(|e| Error::network(e.message))
    };
    match read() {
        Err(e) => out.error = Some(e.message),
        Ok(snap) => {
            out.answered = true;
            out.generation = Some(snap.generation.number());
            if let Some(c) = snap.current {
                let now = now_ms();
                out.renewed_by = Some(c.host);
                out.renewed_at = Some(crate::time::rfc3339(c.written_at_ms));
                if let Some(e) = c.entry {
                    out.expires_at = Some(crate::time::rfc3339(e.expires_at_ms));
                    out.expires_in = Some((e.expires_at_ms as i64 - now as i64) / 1000);
                    out.refresh_token = e.refresh_token.is_some();
                }
            }
        }
    }
    out
}
