//! Decides where a token comes from: the cache, a refresh, or a new login.
//!
//! Fast path: read the entry without a lock and answer if it is good enough.
//! Slow path (`renew`): take the entry's lock, read again (another process may have done
//! the work while we waited), then refresh or log in exactly once and write the result
//! before unlocking. A refresh token is presented at most once, even when the helper is
//! killed at any point: it is recorded as spent before it is sent.

mod fleet;
mod renew;
mod revoke;
mod status;
mod store;

pub use fleet::{SharedCheck, SharedStatus, check_shared};
pub use renew::Outcome;
pub use revoke::{Erased, erase_and_revoke};
pub use status::{Status, TokenStatus, status};

use crate::cache::{Cache, CacheKey, Entry, FORMAT};
use crate::config::Profile;
use crate::error::{ErrorCode, Result};
use crate::oauth::TokenSet;
use crate::protocol::Source;
use crate::secret::Secret;
use crate::time::now_ms;
use renew::{Renewal, fallback};
use store::FileStore;

/// What the caller asks for beyond the profile (whose `min_ttl` already holds any
/// override).
#[derive(Debug, Default, Clone)]
pub struct Request {
    pub rejected_token: Option<Secret<String>>,
    pub force_refresh: bool,
}

pub fn cache_key(profile: &Profile) -> CacheKey {
    CacheKey {
        token_url: profile.token_url.as_str().to_string(),
        api_url: profile.api_url.as_str().to_string(),
        client_id: profile.client_id.clone(),
        grant: profile.grant.as_str().to_string(),
        username: profile.username.clone(),
        network: profile.network.clone(),
        scope: profile.scope.clone(),
    }
}

/// Whether `entry` may be handed out for `req` at `now`.
fn usable(entry: &Entry, req: &Request, min_ttl: u64, now: u64) -> bool {
    entry.network_selected && fresh_enough(entry, req, min_ttl, now)
}

/// Not rejected, timed by a clock we can trust, and valid for `needed_ms` more.
fn fresh_enough(entry: &Entry, req: &Request, min_ttl: u64, now: u64) -> bool {
    !is_rejected(entry, req)
        && !timed_by_another_clock(entry, now)
        && entry.expires_at_ms > now.saturating_add(needed_ms(entry, min_ttl))
}

/// Obtained "after" now: the clock was ahead when the entry was written, or has gone back
/// since, so its remaining life would exceed the lifetime the server gave it. Such an
/// entry is stale whatever its expiry says (a clock corrected by an hour would otherwise
/// serve a dead token for that hour). A little slack covers clock granularity and the
/// fleet's server-clock conversion.
pub fn timed_by_another_clock(entry: &Entry, now: u64) -> bool {
    entry.obtained_at_ms > now.saturating_add(CLOCK_SLACK_MS)
}

const CLOCK_SLACK_MS: u64 = 2000;

/// The remaining lifetime `entry` must have to be handed out for `req`.
///
/// `min_ttl` is capped just under half the token's lifetime (45 %): a server that issues
/// tokens shorter than `min_ttl` would otherwise make every call mint a new one — the exact
/// pattern BrightSign's per-application token cap punishes. With the cap, renewals are at
/// least 55 % of a lifetime apart, so a client holds at most two unexpired tokens at any
/// time. (Exactly half made token n+2 arrive the instant token n expires, and request
/// latency, which the server's clock sees and ours does not, tipped it to three.)
pub fn needed_ms(entry: &Entry, min_ttl: u64) -> u64 {
    min_ttl
        .saturating_mul(1000)
        .min(entry.lifetime_ms() / 20 * 9)
}

fn is_rejected(entry: &Entry, req: &Request) -> bool {
    req.rejected_token
        .as_ref()
        .is_some_and(|r| r.expose() == entry.access_token.expose())
}

/// Two warnings as one line.
fn join_warnings(a: Option<String>, b: Option<String>) -> Option<String> {
    match (a, b) {
        (Some(a), Some(b)) => Some(format!("{a}; {b}")),
        (a, b) => a.or(b),
    }
}

fn from_cache(entry: Entry) -> Outcome {
    Outcome {
        entry,
        source: Source::Cache,
        warning: None,
        renewal_failed: None,
    }
}

pub fn get(profile: &Profile, req: &Request) -> Result<Outcome> {
    let cache = Cache::new(&profile.cache_dir);
    let key = cache_key(profile);
    let seen = cache.read(&key);
    if !req.force_refresh
        && let Some(entry) = &seen
        && usable(entry, req, profile.min_ttl, now_ms())
    {
        crate::debug!("cache hit: {}", cache.entry_path(&key).display());
        return Ok(from_cache(entry.clone()));
    }

    crate::debug!(
        "renewal needed; taking the lock for {}",
        cache.entry_path(&key).display()
    );
    cache.prepare()?;
    // A lock held too long still leaves a valid cached token usable.
    let guard = match cache.lock(&key, profile.lock_timeout) {
        Ok(guard) => guard,
        Err(e) if e.code == ErrorCode::LockTimeout => return fallback(seen, e, req),
        Err(e) => return Err(e),
    };
    let current = cache.read_locked(&guard, &key);
    if let Some(entry) = &current {
        // With force_refresh, a token renewed by someone else since we looked counts as
        // the fresh one: N forced callers still cause one renewal.
        let renewed_meanwhile = seen
            .as_ref()
            .is_none_or(|s| s.access_token != entry.access_token);
        if usable(entry, req, profile.min_ttl, now_ms())
            && (!req.force_refresh || renewed_meanwhile)
        {
            crate::debug!("another process renewed the token while we waited for the lock");
            return Ok(from_cache(entry.clone()));
        }
    }
    match &profile.shared_cache {
        Some(shared) => fleet::Host {
            profile,
            req,
            cache: &cache,
            guard: &guard,
            key,
        }
        .renew(shared, current, seen.as_ref()),
        None => {
            let file = FileStore {
                cache: &cache,
                guard: &guard,
                key: key.clone(),
            };
            Renewal::new(profile, req, key, file).run(current)
        }
    }
}

fn new_entry(key: CacheKey, set: TokenSet, obtained: u64, refreshed: Option<&Entry>) -> Entry {
    let expires_in = set.lifetime_secs();
    let user_session = set.refresh_token.is_some();
    let refresh_expires_at_ms = match (&set.refresh_token, set.refresh_expires_in) {
        // Keycloak sends 0 when the refresh token has no expiry of its own.
        (Some(_), Some(secs)) if secs > 0 => {
            Some(obtained.saturating_add(secs.saturating_mul(1000)))
        }
        _ => None,
    };
    Entry {
        format: FORMAT,
        key,
        access_token: set.access_token,
        token_type: "Bearer".to_string(),
        obtained_at_ms: obtained,
        expires_at_ms: obtained.saturating_add(expires_in.saturating_mul(1000)),
        scope: set.scope,
        refresh_token: set.refresh_token,
        refresh_expires_at_ms,
        // A refresh continues the session (and keeps its network); a login that brings a
        // refresh token starts one; client credentials have none.
        session_started_at_ms: match refreshed {
            Some(previous) => previous.session_started_at_ms,
            None => user_session.then_some(obtained),
        },
        network_selected: refreshed.is_some_and(|p| p.network_selected),
    }
}

/// Forgets the profile's cached tokens.
pub fn erase(profile: &Profile) -> Result<bool> {
    let cache = Cache::new(&profile.cache_dir);
    let key = cache_key(profile);
    if !cache.entry_path(&key).exists() {
        return Ok(false);
    }
    cache.prepare()?;
    let guard = cache.lock(&key, profile.lock_timeout)?;
    cache.remove(&guard)
}

/// Drops the cached access token if it is exactly `rejected` (any cached one for None),
/// keeping any refresh token, so the next call renews. For hosts (git and Docker `erase`)
/// that report rejections after the fact.
pub fn reject(profile: &Profile, rejected: Option<&Secret<String>>) -> Result<bool> {
    let cache = Cache::new(&profile.cache_dir);
    let key = cache_key(profile);
    let matches = |entry: &Entry| rejected.is_none_or(|r| entry.access_token == *r);
    let token = match cache.read(&key) {
        Some(entry) if matches(&entry) => entry.access_token,
        _ => return Ok(false),
    };
    cache.prepare()?;
    let guard = cache.lock(&key, profile.lock_timeout)?;
    let dropped = match cache.read(&key) {
        Some(mut entry) if matches(&entry) => {
            entry.expires_at_ms = entry.obtained_at_ms;
            cache.store(&guard, &entry)?;
            true
        }
        _ => false,
    };
    // In fleet mode every host would otherwise keep handing out the refused token.
    if let Some(cfg) = &profile.shared_cache
        && let Err(e) = fleet::expire_in_fleet(profile, cfg, &key, &token)
    {
        crate::debug!("{e}; the rejection is recorded on this host only");
    }
    Ok(dropped)
}

#[cfg(test)]
mod tests;
