//! The slow path, run with the entry's lock held: refresh or log in exactly once, select
//! the network, write the result.
//!
//! Write-ahead: before a refresh token is sent, the entry without it is written durably
//! (temp file, fsync, rename). Whatever kills us afterwards — SIGKILL, the OOM killer, a
//! power cut — the token is already recorded as spent, so it is never presented twice.
//! It is written back only when the request provably never left this machine. Before a
//! login the entry is written the same way, which proves the cache can keep what the
//! login brings: a cache that cannot be written never makes every call mint a token.

use super::{Request, fresh_enough, is_rejected, new_entry};
use crate::bsn::{self, SelectError};
use crate::cache::{Cache, CacheKey, Entry, FORMAT, LockGuard};
use crate::config::{Grant, Profile};
use crate::error::{Error, ErrorCode, Result};
use crate::oauth::{self, Failure, GrantRequest};
use crate::protocol::Source;
use crate::secret::Secret;
use crate::signals::Shield;
use crate::text::quote;
use crate::time::now_ms;
use std::cell::Cell;
use std::time::Instant;

/// A refresh token this close to expiry is not worth a round trip.
const REFRESH_MARGIN_MS: u64 = 1000;

/// Whether a refresh token expiring at `expires` (None: no expiry of its own) is still
/// worth presenting at `now`.
pub(super) fn worth_refreshing(expires: Option<u64>, now: u64) -> bool {
    expires.is_none_or(|t| t > now.saturating_add(REFRESH_MARGIN_MS))
}

#[derive(Debug)]
pub struct Outcome {
    pub entry: Entry,
    pub source: Source,
    /// Set when the token is returned despite a problem; printed on stderr by the caller.
    pub warning: Option<String>,
}

pub(super) struct Locked<'a> {
    /// One overall deadline (BSN_TIMEOUT) for everything the renewal sends. It starts
    /// after the secrets are read: a slow `*_command` has its own limit and does not eat
    /// the network's time.
    pub deadline: Cell<Instant>,
    pub profile: &'a Profile,
    pub cache: &'a Cache,
    pub guard: &'a LockGuard,
    pub key: CacheKey,
    pub req: &'a Request,
    /// Set once the fleet path logged in again after a refused new token (at most once).
    pub fleet_relogin: Cell<bool>,
}

impl Locked<'_> {
    /// Refresh if a refresh token is alive, else log in.
    pub fn renew(&self, mut current: Option<Entry>) -> Result<Outcome> {
        let now = now_ms();
        // A live token whose network selection failed last time needs only that selection.
        if let Some(entry) = &current
            && !entry.network_selected
            && !self.req.force_refresh
            && fresh_enough(entry, self.req, self.profile.min_ttl, now)
        {
            return self.finish(entry.clone(), Source::Login, None, true);
        }
        let secret = client_secret(self.profile)?;
        self.restart_deadline();
        if let Some(entry) = current.as_mut()
            && let Some(refresh_token) = entry.refresh_token.take()
        {
            let expires = entry.refresh_expires_at_ms.take();
            if worth_refreshing(expires, now)
                && let Some(outcome) = self.refresh(entry, refresh_token, expires, &secret)?
            {
                return Ok(outcome);
            }
        }
        self.login(current, &secret, true)
    }

    /// Presents `refresh_token` once. `entry` is the cached entry without it. None: the
    /// token may have reached the server, so it is spent; log in instead.
    fn refresh(
        &self,
        entry: &mut Entry,
        refresh_token: Secret<String>,
        expires: Option<u64>,
        secret: &Secret<String>,
    ) -> Result<Option<Outcome>> {
        if let Err(e) = self.cache.store(self.guard, entry) {
            // Without the write-ahead the token is not sent at all.
            return fallback(Some(entry.clone()), e, self.req).map(Some);
        }
        crate::debug!("refresh token recorded as spent; refreshing");
        let obtained = now_ms();
        let shield = Shield::hold();
        let grant = GrantRequest::Refresh {
            refresh_token: &refresh_token,
        };
        match oauth::request_token(self.deadline.get(), self.profile, secret, &grant) {
            Ok(set) => {
                let fresh = new_entry(self.key.clone(), set, obtained, Some(entry));
                let warning = self.store_or_warn(&fresh);
                drop(shield);
                self.finish(fresh, Source::Refresh, warning, true).map(Some)
            }
            Err(Failure {
                error,
                reached_server: false,
            }) => {
                // Never left this machine: the token is as good as before.
                entry.refresh_token = Some(refresh_token);
                entry.refresh_expires_at_ms = expires;
                let restored = self.cache.store(self.guard, entry);
                drop(shield);
                crate::debug!("refresh not sent ({}); token kept", error.code.as_str());
                let error = match restored {
                    Ok(()) => error,
                    Err(e) => Error::new(error.code, format!("{}; {}", error.message, e.message)),
                };
                fallback(Some(entry.clone()), error, self.req).map(Some)
            }
            Err(Failure { error, .. }) => {
                drop(shield);
                crate::debug!(
                    "refresh failed ({}); its token stays spent",
                    error.code.as_str()
                );
                Ok(None)
            }
        }
    }

    fn login(
        &self,
        current: Option<Entry>,
        secret: &Secret<String>,
        may_reselect: bool,
    ) -> Result<Outcome> {
        let profile = self.profile;
        let password;
        let grant = match profile.grant {
            Grant::ClientCredentials => GrantRequest::ClientCredentials,
            Grant::Password => {
                let source = profile.password.as_ref().ok_or_else(|| {
                    Error::login_required(format!(
                        "profile {} has no live session and no password to log in with; set BSN_PASSWORD or password_command",
                        quote(&profile.name)
                    ))
                })?;
                password = source.resolve("password")?;
                self.restart_deadline();
                GrantRequest::Password {
                    username: profile.username.as_deref().unwrap_or_default(),
                    password: &password,
                }
            }
        };
        // Proves the cache can keep what the login brings (see the module comment).
        let placeholder = current
            .clone()
            .unwrap_or_else(|| placeholder(self.key.clone()));
        if let Err(e) = self.cache.store(self.guard, &placeholder) {
            return fallback(current, e, self.req);
        }
        crate::debug!("requesting a new token ({} grant)", profile.grant.as_str());
        let obtained = now_ms();
        let shield = Shield::hold();
        let set = match oauth::request_token(self.deadline.get(), profile, secret, &grant) {
            Ok(set) => set,
            Err(failure) => {
                if current.is_none() {
                    // Only the write-ahead's placeholder is there: leave no trace.
                    let _ = self.cache.remove(self.guard);
                }
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
        self.finish(fresh, Source::Login, warning, may_reselect)
    }

    pub(super) fn restart_deadline(&self) {
        self.deadline.set(Instant::now() + self.profile.timeout);
    }

    /// Selects the network if the entry still needs it; a token is handed out only after.
    /// A 401/410 means the token or its session is gone: log in once and select again.
    fn finish(
        &self,
        mut entry: Entry,
        source: Source,
        mut warning: Option<String>,
        may_reselect: bool,
    ) -> Result<Outcome> {
        if !entry.network_selected
            && let Some(network) = &self.profile.network
        {
            crate::debug!("selecting network {}", quote(network));
            match bsn::select_network(
                self.deadline.get(),
                self.profile,
                &entry.access_token,
                network,
            ) {
                Ok(()) => {}
                Err(SelectError::TokenGone(e)) if may_reselect => {
                    crate::debug!(
                        "the new token was refused ({}); logging in again",
                        e.message
                    );
                    let secret = client_secret(self.profile)?;
                    return self.login(None, &secret, false);
                }
                Err(SelectError::TokenGone(e) | SelectError::Other(e)) => return Err(e),
            }
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
    /// of failing. The write-ahead already recorded any refresh token as spent.
    pub(super) fn store_or_warn(&self, entry: &Entry) -> Option<String> {
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

/// What the cache holds while a first login is under way: expired, so never handed out,
/// and removed again if the login fails.
fn placeholder(key: CacheKey) -> Entry {
    Entry {
        format: FORMAT,
        key,
        access_token: Secret::new(String::new()),
        token_type: "Bearer".to_string(),
        obtained_at_ms: 0,
        expires_at_ms: 0,
        scope: None,
        refresh_token: None,
        refresh_expires_at_ms: None,
        session_started_at_ms: None,
        network_selected: false,
    }
}

/// When BSN.cloud cannot be reached (or the cache cannot be written), a cached token that
/// has not expired yet — it is only short of `min_ttl` — is better than nothing.
pub(super) fn fallback(current: Option<Entry>, error: Error, req: &Request) -> Result<Outcome> {
    let transient = matches!(
        error.code,
        ErrorCode::Network
            | ErrorCode::Server
            | ErrorCode::RateLimited
            | ErrorCode::Cache
            | ErrorCode::LockTimeout
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

pub(super) fn client_secret(profile: &Profile) -> Result<Secret<String>> {
    profile
        .client_secret
        .as_ref()
        .ok_or_else(|| {
            Error::config(format!(
                "profile {} has no client secret: set BSN_CLIENT_SECRET, or client_secret_command / client_secret_file in the config file",
                quote(&profile.name)
            ))
        })?
        .resolve("client_secret")
}
