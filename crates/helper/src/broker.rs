//! Decides where a token comes from: the cache, a refresh, or a new login.
//!
//! Fast path: read the entry without a lock and answer if it is good enough.
//! Slow path: take the entry's lock, read again (another process may have done the work
//! while we waited), then refresh or log in exactly once and write the result before
//! unlocking. A refresh token is presented at most once, ever.

use crate::bsn::{self, SelectError};
use crate::cache::{Cache, CacheKey, Entry, FORMAT, LockGuard};
use crate::config::{Grant, Profile};
use crate::error::{Error, ErrorCode, Result};
use crate::oauth::{self, Failure, GrantRequest, TokenSet};
use crate::protocol::Source;
use crate::secret::Secret;
use crate::signals::Shield;
use crate::time::now_ms;
use std::time::Instant;

// `erase` with RFC 7009 revocation (issue 12) lives in broker/revoke.rs.
mod revoke;
pub use revoke::{Erased, erase_and_revoke};

/// A refresh token this close to expiry is not worth a round trip.
const REFRESH_MARGIN_MS: u64 = 1000;

/// What the caller asks for beyond the profile (whose `min_ttl` already holds any
/// override).
#[derive(Debug, Default, Clone)]
pub struct Request {
    pub rejected_token: Option<Secret<String>>,
    pub force_refresh: bool,
}

#[derive(Debug)]
pub struct Outcome {
    pub entry: Entry,
    pub source: Source,
    /// Set when the token is returned despite a problem; printed on stderr by the caller.
    pub warning: Option<String>,
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

/// Not rejected, and valid for `needed_ms` more.
fn fresh_enough(entry: &Entry, req: &Request, min_ttl: u64, now: u64) -> bool {
    !is_rejected(entry, req) && entry.expires_at_ms > now.saturating_add(needed_ms(entry, min_ttl))
}

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

fn from_cache(entry: Entry) -> Outcome {
    Outcome {
        entry,
        source: Source::Cache,
        warning: None,
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
    let guard = cache.lock(&key, profile.lock_timeout)?;
    let current = cache.read(&key);
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
    let locked = Locked {
        deadline: Instant::now() + profile.timeout,
        profile,
        cache: &cache,
        guard: &guard,
        key,
        req,
    };
    locked.renew(current)
}

/// The slow path, with the entry's lock held for as long as this lives.
struct Locked<'a> {
    /// One overall deadline (BSN_TIMEOUT) for everything the renewal sends.
    deadline: Instant,
    profile: &'a Profile,
    cache: &'a Cache,
    guard: &'a LockGuard,
    key: CacheKey,
    req: &'a Request,
}

impl Locked<'_> {
    /// Refresh if a refresh token is alive, else log in.
    fn renew(&self, mut current: Option<Entry>) -> Result<Outcome> {
        let now = now_ms();
        // A live token whose network selection failed last time needs only that selection.
        if let Some(entry) = &current
            && !entry.network_selected
            && !self.req.force_refresh
            && fresh_enough(entry, self.req, self.profile.min_ttl, now)
        {
            return self.finish(entry.clone(), Source::Login, None);
        }

        let secret = client_secret(self.profile)?;
        if let Some(entry) = current.as_mut()
            && let Some(refresh_token) = entry.refresh_token.clone()
            && entry
                .refresh_expires_at_ms
                .is_none_or(|t| t > now + REFRESH_MARGIN_MS)
        {
            crate::debug!("refreshing with the cached refresh token");
            let obtained = now_ms();
            let shield = Shield::hold();
            let grant = GrantRequest::Refresh {
                refresh_token: &refresh_token,
            };
            match oauth::request_token(self.deadline, self.profile, &secret, &grant) {
                Ok(set) => {
                    // The old refresh token is spent: its successor is written before
                    // anything else happens, and before a deferred signal may end us.
                    let fresh = new_entry(self.key.clone(), set, obtained, Some(entry));
                    let warning = self.store_or_warn(&fresh);
                    drop(shield);
                    return self.finish(fresh, Source::Refresh, warning);
                }
                Err(Failure {
                    error,
                    reached_server: true,
                }) => {
                    // Dead or maybe spent: forget it so it is never presented again.
                    crate::debug!(
                        "refresh failed ({}); dropping the refresh token",
                        error.code.as_str()
                    );
                    entry.refresh_token = None;
                    entry.refresh_expires_at_ms = None;
                    let _ = self.cache.store(self.guard, entry);
                    drop(shield);
                }
                Err(Failure {
                    error,
                    reached_server: false,
                }) => {
                    drop(shield);
                    return fallback(current, error, self.req);
                }
            }
        }
        self.login(current, &secret)
    }

    fn login(&self, current: Option<Entry>, secret: &Secret<String>) -> Result<Outcome> {
        let profile = self.profile;
        let password;
        let grant = match profile.grant {
            Grant::ClientCredentials => GrantRequest::ClientCredentials,
            Grant::Password => {
                let source = profile.password.as_ref().ok_or_else(|| {
                    Error::login_required(format!(
                        "profile \"{}\" has no live session and no password to log in with; set BSN_PASSWORD or password_command",
                        profile.name
                    ))
                })?;
                password = source.resolve("password")?;
                GrantRequest::Password {
                    username: profile.username.as_deref().unwrap_or_default(),
                    password: &password,
                }
            }
        };
        crate::debug!("requesting a new token ({} grant)", profile.grant.as_str());
        let obtained = now_ms();
        let shield = Shield::hold();
        let set = match oauth::request_token(self.deadline, profile, secret, &grant) {
            Ok(set) => set,
            Err(failure) => {
                drop(shield);
                return fallback(current, failure.error, self.req);
            }
        };
        let mut fresh = new_entry(self.key.clone(), set, obtained, None);
        fresh.network_selected = profile.network.is_none();
        // Stored before network selection so a user session's refresh token survives a
        // failing selection.
        let warning = self.store_or_warn(&fresh);
        drop(shield);
        self.finish(fresh, Source::Login, warning)
    }

    /// Selects the network if the entry still needs it; a token is handed out only after.
    fn finish(&self, mut entry: Entry, source: Source, warning: Option<String>) -> Result<Outcome> {
        let mut warning = warning;
        if !entry.network_selected
            && let Some(network) = &self.profile.network
        {
            crate::debug!("selecting network \"{network}\"");
            bsn::select_network(self.deadline, self.profile, &entry.access_token, network)
                .map_err(|(SelectError::TokenGone(e) | SelectError::Other(e))| e)?;
            entry.network_selected = true;
            warning = warning.or(self.store_or_warn(&entry));
        }
        Ok(Outcome {
            entry,
            source,
            warning,
        })
    }

    /// A token we just obtained is good even if the cache cannot keep it; say so instead
    /// of failing. The stale entry is removed so its spent refresh token is never presented.
    fn store_or_warn(&self, entry: &Entry) -> Option<String> {
        let error = self.cache.store(self.guard, entry).err()?;
        let removed = self.cache.remove(self.guard).is_ok();
        Some(format!(
            "{}; the token was not cached{}",
            error.message,
            if removed {
                ", so the next call will log in again"
            } else {
                ""
            }
        ))
    }
}

/// When BSN.cloud cannot be reached, a cached token that has not expired yet (it is only
/// short of `min_ttl`) is better than nothing.
fn fallback(current: Option<Entry>, error: Error, req: &Request) -> Result<Outcome> {
    let transient = matches!(
        error.code,
        ErrorCode::Network | ErrorCode::Server | ErrorCode::RateLimited
    );
    let now = now_ms();
    match current {
        Some(entry)
            if transient
                && entry.network_selected
                && !entry.is_expired(now)
                && !is_rejected(&entry, req) =>
        {
            let warning = format!(
                "{}; returning the cached token, which expires in {}s",
                error.message,
                (entry.expires_at_ms - now) / 1000
            );
            Ok(Outcome {
                entry,
                source: Source::Cache,
                warning: Some(warning),
            })
        }
        _ => Err(error),
    }
}

fn client_secret(profile: &Profile) -> Result<Secret<String>> {
    profile
        .client_secret
        .as_ref()
        .ok_or_else(|| {
            Error::config(format!(
                "profile \"{}\" has no client secret: set BSN_CLIENT_SECRET, or client_secret_command / client_secret_file in the config file",
                profile.name
            ))
        })?
        .resolve("client_secret")
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
    match cache.read(&key) {
        Some(entry) if matches(&entry) => {}
        _ => return Ok(false),
    }
    cache.prepare()?;
    let guard = cache.lock(&key, profile.lock_timeout)?;
    match cache.read(&key) {
        Some(mut entry) if matches(&entry) => {
            entry.expires_at_ms = entry.obtained_at_ms;
            cache.store(&guard, &entry)?;
            Ok(true)
        }
        _ => Ok(false),
    }
}

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
    }
}
