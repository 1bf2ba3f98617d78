//! The fleet entry outside a renewal: what `status` shows of it, and expiring a token that
//! was refused or erased so no host hands it out again.

use super::{lock_ttl, open};
use crate::broker::renew::client_secret;
use crate::cache::CacheKey;
use crate::config::{Profile, SharedCache};
use crate::error::{Error, Result};
use crate::secret::Secret;
use crate::shared::{FleetError, Inspection, Snapshot};
use crate::time::now_ms;
use std::time::Duration;

/// Expires the fleet entry's access token if it is `rejected` (keeping its refresh token),
/// so no host hands it out again after git or Docker reported it refused, or `erase`
/// revoked it. Best effort: a host renewing right now (lock taken) replaces it anyway;
/// Redis unreachable is a debug line.
pub(in crate::broker) fn expire_in_fleet(
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
        let (snap, _) = fleet.read_for_renewal(None)?;
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

pub(in crate::broker) fn status(
    profile: &crate::config::Profile,
    cfg: &SharedCache,
) -> SharedStatus {
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
        let key = crate::broker::cache_key(profile);
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

/// One line of `doctor` about the shared cache.
#[derive(Debug, Clone)]
pub struct SharedCheck {
    pub name: &'static str,
    pub ok: bool,
    pub detail: String,
}

/// `doctor`'s look at the shared cache: connect and authenticate, the clocks, the entry,
/// the lock, and whether a restarted or failed-over server could hand back a spent
/// refresh token.
pub fn check_shared(profile: &Profile, cfg: &SharedCache) -> Vec<SharedCheck> {
    let check = |name, ok, detail: String| SharedCheck { name, ok, detail };
    let key = crate::broker::cache_key(profile);
    let inspected = client_secret(profile)
        .and_then(|secret| Ok(open(cfg, &key, &secret)?.and_then(|f| f.inspect())));
    let i = match inspected {
        Ok(Ok(i)) => i,
        Ok(Err(e)) => {
            return vec![check(
                "shared cache",
                false,
                format!("{e}; until this is fixed every host renews alone"),
            )];
        }
        Err(e) => return vec![check("shared cache", false, e.message)],
    };
    let mut out = vec![check(
        "shared cache",
        true,
        format!(
            "{} answered; its clock is {:+} ms from ours",
            cfg.url.display, i.skew_ms
        ),
    )];
    out.push(entry_check(&i));
    let honest = lock_ttl(profile, cfg);
    out.push(match i.lock {
        None => check("shared lock", true, "free".into()),
        Some(Some(left)) if left <= honest + Duration::from_secs(2) => check(
            "shared lock",
            true,
            format!("held by a renewing host for another {}s", left.as_secs()),
        ),
        Some(left) => check(
            "shared lock",
            false,
            format!(
                "held for {}, longer than any renewal takes ({}s): hosts renew alone until it expires; delete it with DEL on the key ending in :lock under prefix {}",
                left.map_or("ever".into(), |d| format!("another {}s", d.as_secs())),
                honest.as_secs(),
                crate::text::quote(&cfg.prefix)
            ),
        ),
    });
    let exposure = format!(
        "persistence {}, {} replica(s)",
        i.persistence.as_deref().unwrap_or("unknown"),
        i.replicas.map_or("unknown".into(), |n| n.to_string())
    );
    out.push(match &i.run_id {
        Some(_) => check(
            "rollback guard",
            true,
            format!("refresh tokens are tied to this server's run_id ({exposure}): a restart or failover costs one login, never a reused refresh token"),
        ),
        None => check(
            "rollback guard",
            false,
            format!("the server does not give its run_id (INFO server refused; {exposure}): refresh tokens in the shared entry are never presented, so every renewal logs in; allow INFO for this Redis user"),
        ),
    });
    out
}

fn entry_check(i: &Inspection) -> SharedCheck {
    let now = now_ms();
    let (ok, detail) = match (&i.snapshot.current, i.snapshot.foreign) {
        (_, true) => (
            false,
            "the stored entry cannot be opened with this host's key (damaged, or written by another program); the next renewal replaces it — if this repeats, give this fleet its own BSN_SHARED_CACHE_PREFIX".to_string(),
        ),
        (None, false) => (true, "no entry yet; the first renewal writes one".to_string()),
        (Some(c), false) => (
            true,
            match &c.entry {
                Some(e) => format!(
                    "generation {}, renewed by {} at {}, token expires in {}s{}",
                    i.snapshot.generation,
                    crate::text::quote(&c.host),
                    crate::time::rfc3339(c.written_at_ms),
                    (e.expires_at_ms as i64 - now as i64) / 1000,
                    if e.refresh_token.is_some() { ", with a refresh token" } else { "" }
                ),
                None => format!("generation {}, forgotten", i.snapshot.generation),
            },
        ),
    };
    SharedCheck {
        name: "shared entry",
        ok,
        detail,
    }
}
