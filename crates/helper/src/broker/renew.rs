//! The slow path, run with the entry's lock held (this host's, or the fleet's): refresh or
//! log in exactly once, select the network, keep the result. The one copy of this logic,
//! over either store (store.rs).
//!
//! Write-ahead: before a refresh token is sent, the entry without it is recorded durably
//! in the store (file: temp file, fsync, rename; fleet: a fenced write to Redis). Whatever
//! kills us afterwards — SIGKILL, the OOM killer, a power cut — the token is already
//! recorded as spent, so it is never presented twice. It is put back only when the request
//! provably never left this machine.

use super::store::Store;
use super::{Request, fresh_enough, is_rejected, join_warnings, new_entry};
use crate::bsn::{self, SelectError};
use crate::cache::{CacheKey, Entry, FORMAT};
use crate::config::{Grant, Profile};
use crate::error::{Error, ErrorCode, Result};
use crate::oauth::{self, Failure, GrantRequest, TokenSet};
use crate::protocol::Source;
use crate::secret::Secret;
use crate::signals::Shield;
use crate::text::quote;
use crate::time::now_ms;
use std::cell::OnceCell;
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
    /// Set when a renewal was due and failed, and a still-valid cached token stands in:
    /// the failure. A caller that forced a refresh did not get a newer token.
    pub renewal_failed: Option<Error>,
}

/// One renewal of one entry, over either store: refresh if a refresh token is alive, else
/// log in; select the network; keep the result.
pub(super) struct Renewal<'a, S: Store> {
    profile: &'a Profile,
    req: &'a Request,
    key: CacheKey,
    pub store: S,
    /// Resolved once, before any write-ahead: a failing or slow secret command can never
    /// cost a refresh token that was recorded as spent but not sent.
    secret: OnceCell<Secret<String>>,
    /// One overall deadline (BSN_TIMEOUT) for everything the renewal sends. It starts
    /// after the secrets are read: a slow `*_command` has its own limit.
    deadline: Instant,
}

impl<'a, S: Store> Renewal<'a, S> {
    pub fn new(profile: &'a Profile, req: &'a Request, key: CacheKey, store: S) -> Self {
        Renewal {
            profile,
            req,
            key,
            store,
            secret: OnceCell::new(),
            deadline: Instant::now() + profile.timeout,
        }
    }

    /// For a caller that already resolved the client secret (fleet mode seals with it).
    pub fn with_secret(self, secret: Secret<String>) -> Self {
        let _ = self.secret.set(secret);
        self
    }

    fn secret(&self) -> Result<Secret<String>> {
        if let Some(s) = self.secret.get() {
            return Ok(s.clone());
        }
        let s = client_secret(self.profile)?;
        Ok(self.secret.get_or_init(|| s).clone())
    }

    fn restart_deadline(&mut self) {
        self.deadline = Instant::now() + self.profile.timeout;
    }

    /// Refresh if a refresh token is alive, else log in. `current` is the store's entry,
    /// read under its lock.
    pub fn run(&mut self, mut current: Option<Entry>) -> Result<Outcome> {
        let now = now_ms();
        // A live token whose network selection failed last time needs only that selection.
        if let Some(entry) = &current
            && !entry.network_selected
            && !self.req.force_refresh
            && fresh_enough(entry, self.req, self.profile.min_ttl, now)
        {
            return self.finish(entry.clone(), Source::Login, None, true);
        }
        let secret = self.secret()?;
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

    /// Presents `refresh_token` once. `entry` is the store's entry without it. None: the
    /// token may have reached the server, so it is spent; log in instead.
    fn refresh(
        &mut self,
        entry: &mut Entry,
        refresh_token: Secret<String>,
        expires: Option<u64>,
        secret: &Secret<String>,
    ) -> Result<Option<Outcome>> {
        // The write-ahead: without it the token is not sent at all.
        if let Err(e) = self.store.put(entry) {
            return fallback(Some(entry.clone()), e, self.req).map(Some);
        }
        crate::debug!("refresh token recorded as spent; refreshing");
        let obtained = now_ms();
        let shield = Shield::hold();
        let grant = GrantRequest::Refresh {
            refresh_token: &refresh_token,
        };
        match oauth::request_token(self.deadline, self.profile, secret, &grant) {
            Ok(set) => {
                let clock = clock_warning(&set);
                let fresh = new_entry(self.key.clone(), set, obtained, Some(entry));
                let warning = join_warnings(clock, self.store.publish(&fresh));
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
                let restored = self.store.put(entry);
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
        &mut self,
        current: Option<Entry>,
        secret: &Secret<String>,
        may_reselect: bool,
    ) -> Result<Outcome> {
        let profile = self.profile;
        // The password is read only when a login is due: never on a refresh (a prompting
        // password command would ask every few minutes), and any refresh token is spent
        // or absent by now, so its failure costs none.
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
        if let Err(e) = self.store.before_login(current.as_ref()) {
            return fallback(current, e, self.req);
        }
        crate::debug!("requesting a new token ({} grant)", profile.grant.as_str());
        let obtained = now_ms();
        let shield = Shield::hold();
        let set = match oauth::request_token(self.deadline, profile, secret, &grant) {
            Ok(set) => set,
            Err(failure) => {
                self.store.login_failed(current.as_ref());
                drop(shield);
                return fallback(current, failure.error, self.req);
            }
        };
        let clock = clock_warning(&set);
        let mut fresh = new_entry(self.key.clone(), set, obtained, None);
        fresh.network_selected = profile.network.is_none();
        // Kept before network selection so a user session's refresh token survives a
        // failing selection.
        let warning = join_warnings(clock, self.store.publish(&fresh));
        drop(shield);
        self.finish(fresh, Source::Login, warning, may_reselect)
    }

    /// Selects the network if the entry still needs it; a token is handed out only after.
    /// A 401/410 means the token or its session is gone: log in once and select again.
    fn finish(
        &mut self,
        mut entry: Entry,
        source: Source,
        mut warning: Option<String>,
        may_reselect: bool,
    ) -> Result<Outcome> {
        if !entry.network_selected
            && let Some(network) = &self.profile.network
        {
            crate::debug!("selecting network {}", quote(network));
            match bsn::select_network(self.deadline, self.profile, &entry.access_token, network) {
                Ok(()) => {}
                Err(SelectError::TokenGone(e)) if may_reselect => {
                    crate::debug!(
                        "the new token was refused ({}); logging in again",
                        e.message
                    );
                    let secret = self.secret()?;
                    return self.login(None, &secret, false);
                }
                Err(SelectError::TokenGone(e) | SelectError::Other(e)) => return Err(e),
            }
            entry.network_selected = true;
            warning = warning.or(self.store.publish(&entry));
        }
        Ok(Outcome {
            entry,
            source,
            warning,
            renewal_failed: None,
        })
    }
}

/// Whether the token endpoint's clock says ours is off by more than other tools tolerate.
fn clock_warning(set: &TokenSet) -> Option<String> {
    crate::time::skew_warning(set.server_time_ms?, now_ms())
}

/// What the cache holds while a first login is under way: expired, so never handed out,
/// and removed again if the login fails.
pub(super) fn placeholder(key: CacheKey) -> Entry {
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
                && !super::timed_by_another_clock(&entry, now)
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
                renewal_failed: Some(error),
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
