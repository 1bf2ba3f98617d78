//! The slow path in fleet mode, entered with this host's cache lock held (so one process
//! per host talks to Redis): use the fleet entry if it is good enough; else take the
//! fleet lock, read again, renew once and publish with a compare-and-set; hosts that did
//! not get the lock poll for the new generation.
//!
//! Refresh tokens: entries taken from or given to the fleet are cached on this host
//! without their refresh token, so a refresh token that lives in the fleet entry is only
//! ever presented under the fleet lock, after the fleet entry recorded it as spent
//! (write-ahead). A local refresh token exists only for a session this host started on
//! its own while Redis was unreachable; nobody else ever saw it.

use super::renew::{Locked, client_secret, fallback, worth_refreshing};
use super::{Outcome, new_entry, usable};
use crate::bsn::{self, SelectError};
use crate::cache::{CacheKey, Entry};
use crate::config::{Grant, Profile, SharedCache};
use crate::error::{Error, Result};
use crate::oauth::{self, Failure, GrantRequest};
use crate::protocol::Source;
use crate::secret::Secret;
use crate::shared::{Fleet, FleetError, FleetLock, Snapshot, Wait};
use crate::signals::Shield;
use crate::time::now_ms;
use std::time::{Duration, Instant};

/// What a fleet renewal ended with: an answer, or why to renew on this host alone.
type Fleetwide = std::result::Result<Outcome, FleetError>;

/// Connects with the seal key and Redis password resolved. The outer error is ours (a
/// secret source failed), the inner one Redis's.
fn open(
    cfg: &SharedCache,
    key: &CacheKey,
    secret: &Secret<String>,
) -> Result<std::result::Result<Fleet, FleetError>> {
    let seal = match &cfg.seal_key {
        Some(source) => source.resolve("shared_cache_key")?,
        None => secret.clone(),
    };
    let password = cfg
        .password
        .as_ref()
        .map(|p| p.resolve("shared_cache_password"))
        .transpose()?;
    Ok(Fleet::open(cfg, key, &seal, password.as_ref()))
}

/// Expires the fleet entry's access token if it is `rejected` (keeping its refresh token),
/// so no host hands it out again after git or Docker reported it refused. Best effort: a
/// host renewing right now (lock taken) replaces it anyway; Redis unreachable is a debug line.
pub(super) fn reject_in_fleet(
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
        let snap = fleet.read()?;
        let Some(mut entry) = snap.current.and_then(|c| c.entry) else {
            return Ok(false);
        };
        if entry.access_token != *rejected {
            return Ok(false);
        }
        entry.expires_at_ms = entry.obtained_at_ms;
        Ok(fleet.write(&lock, snap.generation, Some(&entry))?.is_some())
    })();
    Ok(outcome.unwrap_or_else(|e| {
        crate::debug!("{e}; the rejection is recorded on this host only");
        false
    }))
}

impl Locked<'_> {
    /// `local` is this host's entry (read under its lock), `seen` the one the caller saw
    /// before waiting (for force_refresh).
    pub(super) fn renew_in_fleet(
        &self,
        cfg: &SharedCache,
        local: Option<Entry>,
        seen: Option<&Entry>,
    ) -> Result<Outcome> {
        let secret = client_secret(self.profile)?;
        let error = match self.fleet_outcome(cfg, &secret, seen) {
            Ok(Ok(outcome)) => return Ok(outcome),
            Ok(Err(e)) => e,
            Err(e) => return Err(e),
        };
        crate::debug!("{error}; renewing on this host alone");
        let mut outcome = self.renew(local)?;
        let note = format!("{error}; the token was renewed by this host alone");
        outcome.warning = Some(match outcome.warning.take() {
            Some(w) => format!("{note}; {w}"),
            None => note,
        });
        Ok(outcome)
    }

    fn fleet_outcome(
        &self,
        cfg: &SharedCache,
        secret: &Secret<String>,
        seen: Option<&Entry>,
    ) -> Result<Fleetwide> {
        let fleet = match open(cfg, &self.key, secret)? {
            Ok(f) => f,
            Err(e) => return Ok(Err(e)),
        };
        // Above the renewal's whole deadline (token request with retries, network
        // selection) plus the Redis calls around it: a live holder never loses the lock.
        let ttl = self.profile.timeout + cfg.timeout * 4 + Duration::from_secs(2);
        match self.through_fleet(&fleet, ttl, secret, seen) {
            Ok(result) => result.map(Ok),
            Err(e) => Ok(Err(e)),
        }
    }

    /// The outer result is Redis's (unreachable → per-host), the inner one the answer.
    fn through_fleet(
        &self,
        fleet: &Fleet,
        ttl: Duration,
        secret: &Secret<String>,
        seen: Option<&Entry>,
    ) -> Result<Result<Outcome>, FleetError> {
        let mut snap = fleet.read()?;
        crate::debug!(
            "shared cache {} answered: generation {}",
            fleet.store(),
            snap.generation
        );
        let deadline = Instant::now() + self.profile.lock_timeout;
        loop {
            if let Some(outcome) = self.take_shared(&snap, seen) {
                return Ok(Ok(outcome));
            }
            if let Some(lock) = fleet.try_lock(ttl)? {
                crate::debug!("took the shared lock; reading the fleet entry again");
                snap = fleet.read()?;
                if let Some(outcome) = self.take_shared(&snap, seen) {
                    return Ok(Ok(outcome));
                }
                // The renewal's deadline starts now, not when we began to wait.
                self.restart_deadline();
                return self.renew_locked(fleet, &lock, snap, secret);
            }
            crate::debug!("another host is renewing; waiting for its new generation");
            if fleet.wait(snap.generation, deadline)? == Wait::TimedOut {
                return Ok(Err(Error::lock_timeout(format!(
                    "another host held the shared lock on {} for more than {}s; raise BSN_LOCK_TIMEOUT (lock_timeout) if refreshes are slow",
                    fleet.store(),
                    self.profile.lock_timeout.as_secs()
                ))));
            }
            snap = fleet.read()?;
        }
    }

    /// The fleet's token, if it may be handed out; cached here without its refresh token.
    fn take_shared(&self, snap: &Snapshot, seen: Option<&Entry>) -> Option<Outcome> {
        let entry = snap.current.as_ref()?.entry.as_ref()?;
        let renewed_since = seen.is_none_or(|s| s.access_token != entry.access_token);
        if !usable(entry, self.req, self.profile.min_ttl, now_ms())
            || (self.req.force_refresh && !renewed_since)
        {
            return None;
        }
        crate::debug!(
            "answering from the fleet entry (generation {})",
            snap.generation
        );
        let warning = self.store_or_warn(&local_copy(entry));
        Some(Outcome {
            entry: entry.clone(),
            source: Source::Shared,
            warning,
        })
    }

    /// Holding the fleet lock: refresh with the fleet's refresh token (recorded as spent
    /// first), else log in; publish, then hand out.
    fn renew_locked(
        &self,
        fleet: &Fleet,
        lock: &FleetLock,
        snap: Snapshot,
        secret: &Secret<String>,
    ) -> Result<Result<Outcome>, FleetError> {
        let mut generation = snap.generation;
        let mut current = snap.current.and_then(|c| c.entry);
        let now = now_ms();
        if let Some(entry) = current.as_mut()
            && let Some(refresh_token) = entry.refresh_token.take()
            && worth_refreshing(entry.refresh_expires_at_ms, now)
        {
            // Write-ahead: the fleet forgets the refresh token before it is sent.
            entry.refresh_expires_at_ms = None;
            let Some(g) = fleet.write(lock, generation, Some(entry))? else {
                return Ok(Err(fenced(fleet)));
            };
            generation = g;
            if let Some(result) =
                self.refresh_for_fleet(fleet, lock, generation, entry, &refresh_token)?
            {
                return Ok(result);
            }
        }
        self.login_and_publish(fleet, lock, generation, current, secret)
    }

    fn refresh_for_fleet(
        &self,
        fleet: &Fleet,
        lock: &FleetLock,
        generation: u64,
        spent: &Entry,
        refresh_token: &Secret<String>,
    ) -> Result<Refreshed, FleetError> {
        // None: the refresh token reached the server and was refused or lost: log in.
        crate::debug!("refreshing with the fleet's refresh token");
        let secret = match client_secret(self.profile) {
            Ok(s) => s,
            Err(e) => return Ok(Some(Err(e))),
        };
        let obtained = now_ms();
        let shield = Shield::hold();
        let grant = GrantRequest::Refresh { refresh_token };
        match oauth::request_token(self.deadline.get(), self.profile, &secret, &grant) {
            Ok(set) => {
                let fresh = new_entry(self.key.clone(), set, obtained, Some(spent));
                let result = self.publish(fleet, lock, generation, fresh, Source::Refresh);
                drop(shield);
                result.map(Some)
            }
            Err(Failure {
                error,
                reached_server: false,
            }) => {
                // The request never left this machine: the token is not spent; restore it.
                let mut restored = spent.clone();
                restored.refresh_token = Some(refresh_token.clone());
                fleet.write(lock, generation, Some(&restored))?;
                drop(shield);
                Ok(Some(fallback(Some(spent.clone()), error, self.req)))
            }
            Err(Failure { error, .. }) => {
                crate::debug!("refresh failed ({}); logging in", error.code.as_str());
                drop(shield);
                Ok(None)
            }
        }
    }

    fn login_and_publish(
        &self,
        fleet: &Fleet,
        lock: &FleetLock,
        generation: u64,
        current: Option<Entry>,
        secret: &Secret<String>,
    ) -> Result<Result<Outcome>, FleetError> {
        let password;
        let grant = match self.profile.grant {
            Grant::ClientCredentials => GrantRequest::ClientCredentials,
            Grant::Password => match self.profile.password.as_ref() {
                None => return Ok(Err(no_password(self.profile))),
                Some(source) => match source.resolve("password") {
                    Ok(p) => {
                        password = p;
                        GrantRequest::Password {
                            username: self.profile.username.as_deref().unwrap_or_default(),
                            password: &password,
                        }
                    }
                    Err(e) => return Ok(Err(e)),
                },
            },
        };
        // The password command's time is not the network's (as in renew.rs).
        self.restart_deadline();
        crate::debug!("requesting a new token for the fleet");
        let obtained = now_ms();
        let shield = Shield::hold();
        let set = match oauth::request_token(self.deadline.get(), self.profile, secret, &grant) {
            Ok(set) => set,
            Err(failure) => return Ok(fallback(current, failure.error, self.req)),
        };
        let mut fresh = new_entry(self.key.clone(), set, obtained, None);
        fresh.network_selected = self.profile.network.is_none();
        let result = self.publish(fleet, lock, generation, fresh, Source::Login);
        drop(shield);
        result
    }

    /// Publishes a new token (its refresh token first of all), selects the network if
    /// needed, publishes again, and caches it here without the refresh token.
    fn publish(
        &self,
        fleet: &Fleet,
        lock: &FleetLock,
        generation: u64,
        mut fresh: Entry,
        source: Source,
    ) -> Result<Result<Outcome>, FleetError> {
        // Once a token is obtained, Redis failing is only worth a warning: the token is
        // handed out, kept here without its refresh token (a write that timed out may
        // still land, and then the fleet holds that refresh token).
        let mut lost = None;
        let mut publish = |generation: Option<u64>, entry: &Entry| {
            let g = generation?;
            fleet
                .write(lock, g, Some(entry))
                .map_err(|e| lost = Some(format!("{e}; the new token stays on this host")))
                .ok()
                .flatten()
        };
        let mut generation = publish(Some(generation), &fresh);
        let mut warning = self.store_or_warn(&local_copy(&fresh));
        if !fresh.network_selected
            && let Some(network) = &self.profile.network
        {
            crate::debug!("selecting network \"{network}\"");
            match bsn::select_network(
                self.deadline.get(),
                self.profile,
                &fresh.access_token,
                network,
            ) {
                Ok(()) => {}
                // 401/410: the new token or its session is gone; log in once more.
                Err(SelectError::TokenGone(e)) if !self.fleet_relogin.replace(true) => {
                    crate::debug!(
                        "the new token was refused ({}); logging in again",
                        e.message
                    );
                    let (Some(g), Ok(secret)) = (generation, client_secret(self.profile)) else {
                        return Ok(Err(e));
                    };
                    return self.login_and_publish(fleet, lock, g, None, &secret);
                }
                Err(SelectError::TokenGone(e) | SelectError::Other(e)) => return Ok(Err(e)),
            }
            fresh.network_selected = true;
            generation = publish(generation, &fresh);
            warning = warning.or(self.store_or_warn(&local_copy(&fresh)));
        }
        if generation.is_none() {
            // Our lock expired and another host wrote first, or Redis failed: our token
            // is still good.
            crate::debug!("the new token was not published; keeping it on this host");
        }
        warning = lost.or(warning);
        Ok(Ok(Outcome {
            entry: fresh,
            source,
            warning,
        }))
    }
}

/// The answer of a refresh, or None when it is spent and a login must follow.
type Refreshed = Option<Result<Outcome>>;

fn fenced(fleet: &Fleet) -> Error {
    Error::lock_timeout(format!(
        "another host renewed through {} while this one held an expired lock; try again",
        fleet.store()
    ))
}

fn no_password(profile: &crate::config::Profile) -> Error {
    Error::login_required(format!(
        "profile \"{}\" has no live session and no password to log in with; set BSN_PASSWORD or password_command",
        profile.name
    ))
}

/// What this host keeps of a fleet token: everything but the refresh token.
fn local_copy(entry: &Entry) -> Entry {
    let mut e = entry.clone();
    e.refresh_token = None;
    e.refresh_expires_at_ms = None;
    e
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
        let seal = match &cfg.seal_key {
            Some(source) => source.resolve("shared_cache_key")?,
            None => secret,
        };
        let password = cfg
            .password
            .as_ref()
            .map(|p| p.resolve("shared_cache_password"))
            .transpose()?;
        let key = super::cache_key(profile);
        Fleet::open(cfg, &key, &seal, password.as_ref())
            .and_then(|f| f.read())
            .map_err(|e| Error::network(e.message))
    };
    match read() {
        Err(e) => out.error = Some(e.message),
        Ok(snap) => {
            out.answered = true;
            out.generation = Some(snap.generation);
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
