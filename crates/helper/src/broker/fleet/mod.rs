//! Fleet mode, entered with this host's cache lock held (so one process per host talks to
//! Redis): use the fleet entry if it is good enough; else take the fleet lock, read again
//! and run the one renewal (renew.rs) over `FleetStore`. Hosts that did not get the lock
//! wait for the new generation. Whenever the fleet cannot be used — Redis unreachable, the
//! lock held longer than any honest holder would, a write refused mid-renewal — this host
//! renews alone over its own file, with a warning.
//!
//! Refresh tokens: entries taken from or given to the fleet are cached on this host
//! without their refresh token, so a refresh token that lives in the fleet entry is only
//! ever presented under the fleet lock, after the fleet entry recorded it as spent.

mod ops;
mod store;

pub use ops::{SharedCheck, SharedStatus, check_shared};
pub(super) use ops::{expire_in_fleet, status};

use super::renew::{Renewal, client_secret};
use super::store::{FileStore, Store};
use super::{Outcome, Request, join_warnings as join, usable};
use crate::cache::{Cache, CacheKey, Entry, LockGuard};
use crate::config::{Profile, SharedCache};
use crate::error::Result;
use crate::protocol::Source;
use crate::secret::Secret;
use crate::shared::{Fleet, FleetError, FleetLock, Snapshot, Wait, Written};
use crate::time::now_ms;
use std::time::{Duration, Instant};
use store::{FleetStore, WRITTEN, local_copy};

/// This host's side of a renewal: the profile, the request, and its locked cache file.
pub(super) struct Host<'a> {
    pub profile: &'a Profile,
    pub req: &'a Request,
    pub cache: &'a Cache,
    pub guard: &'a LockGuard,
    pub key: CacheKey,
}

impl Host<'_> {
    fn file(&self) -> FileStore<'_> {
        FileStore {
            cache: self.cache,
            guard: self.guard,
            key: self.key.clone(),
        }
    }

    /// The last generation this host wrote to the fleet entry (a rollback guard).
    fn last_written(&self) -> Option<Written> {
        let bytes = self.cache.read_beside(self.guard, WRITTEN)?;
        serde_json::from_slice(&bytes).ok()
    }

    /// Renews over this host's file alone, saying why the fleet was not used.
    /// `secret` was resolved already: its command runs once per renewal, whatever path.
    pub fn alone(
        &self,
        local: Option<Entry>,
        why: &str,
        secret: &Secret<String>,
    ) -> Result<Outcome> {
        crate::debug!("{why}; renewing on this host alone");
        let mut outcome = Renewal::new(self.profile, self.req, self.key.clone(), self.file())
            .with_secret(secret.clone())
            .run(local)?;
        let note = format!("{why}; the token was renewed by this host alone");
        outcome.warning = Some(join(Some(note), outcome.warning.take()).unwrap_or_default());
        Ok(outcome)
    }

    /// `local` is this host's entry (read under its lock), `seen` the one the caller saw
    /// before waiting (for force_refresh).
    pub fn renew(
        &self,
        cfg: &SharedCache,
        local: Option<Entry>,
        seen: Option<&Entry>,
    ) -> Result<Outcome> {
        let secret = client_secret(self.profile)?;
        let fleet = match open(cfg, &self.key, &secret)? {
            Ok(f) => f,
            Err(e) => return self.alone(local, &e.message, &secret),
        };
        let ttl = lock_ttl(self.profile, cfg);
        let (lock, snap, note) = match self.join(&fleet, ttl, seen) {
            Ok(Joined::Served(outcome)) => return Ok(outcome),
            Ok(Joined::Locked(lock, snap, note)) => (lock, snap, note),
            Ok(Joined::Alone(why)) => return self.alone(local, &why, &secret),
            Err(e) => return self.alone(local, &e.message, &secret),
        };
        let mut healed = None;
        if snap.foreign {
            healed = Some(format!(
                "the shared entry in {} could not be opened by this host (sealed under another key, damaged, or not this helper's); it is replaced",
                fleet.store()
            ));
        }
        let store = FleetStore {
            fleet: &fleet,
            lock: &lock,
            generation: Some(snap.generation),
            local: self.file(),
            unavailable: None,
        };
        let current = snap.current.and_then(|c| c.entry);
        let mut renewal = Renewal::new(self.profile, self.req, self.key.clone(), store)
            .with_secret(secret.clone());
        let result = renewal.run(current);
        match (result, renewal.store.unavailable.take()) {
            (Err(_), Some(e)) => self.alone(local, &e.message, &secret),
            (Ok(mut outcome), _) => {
                let extra = join(note, healed);
                outcome.warning = join(extra, outcome.warning.take());
                Ok(outcome)
            }
            (Err(e), None) => Err(e),
        }
    }

    /// Reads the fleet entry, waits for a renewing host or takes the lock.
    fn join<'f>(
        &self,
        fleet: &'f Fleet,
        ttl: Duration,
        seen: Option<&Entry>,
    ) -> Result<Joined<'f>, FleetError> {
        let last = self.last_written();
        let mut snap = fleet.read()?;
        crate::debug!(
            "shared cache {} answered: generation {}",
            fleet.store(),
            snap.generation
        );
        let deadline = Instant::now() + self.profile.lock_timeout.min(ttl);
        loop {
            if !snap.rolled_back(last.as_ref())
                && let Some(outcome) = self.take_shared(&snap, seen)
            {
                return Ok(Joined::Served(outcome));
            }
            if let Some(lock) = fleet.try_lock(ttl)? {
                crate::debug!("took the shared lock; reading the fleet entry again");
                let (snap, note) = fleet.read_for_renewal(last.as_ref())?;
                if !snap.rolled_back(last.as_ref())
                    && let Some(outcome) = self.take_shared(&snap, seen)
                {
                    return Ok(Joined::Served(outcome));
                }
                return Ok(Joined::Locked(lock, snap, note));
            }
            crate::debug!("another host is renewing; waiting for its new generation");
            // Others may keep renewing, yet never a token we may take: the deadline holds.
            let waited = if Instant::now() < deadline {
                fleet.wait(&snap.generation, deadline, ttl)?
            } else {
                Wait::TimedOut
            };
            let why = match waited {
                Wait::Changed | Wait::LockFree => {
                    snap = fleet.read()?;
                    continue;
                }
                Wait::TimedOut => format!(
                    "another host held the shared lock on {} for more than {}s",
                    fleet.store(),
                    self.profile.lock_timeout.min(ttl).as_secs()
                ),
                Wait::Squatted(left) => format!(
                    "the shared lock on {} is held for {}, longer than any renewal takes (a stuck or foreign holder)",
                    fleet.store(),
                    left.map_or("ever".to_string(), |d| format!("another {}s", d.as_secs()))
                ),
            };
            return Ok(Joined::Alone(why));
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
        let warning = self.file().publish(&local_copy(entry));
        Some(Outcome {
            entry: entry.clone(),
            source: Source::Shared,
            warning,
            renewal_failed: None,
        })
    }
}

enum Joined<'f> {
    Served(Outcome),
    Locked(FleetLock<'f>, Snapshot, Option<String>),
    Alone(String),
}

/// How long a renewing host takes the fleet lock for: above the renewal's whole deadline
/// (token request with retries, network selection) plus the Redis calls around it, so a
/// live holder never loses it. A lock with more time left than this is not an honest one.
pub(in crate::broker) fn lock_ttl(profile: &Profile, cfg: &SharedCache) -> Duration {
    profile.timeout + cfg.timeout * 4 + Duration::from_secs(2)
}

/// Connects with the seal key and Redis password resolved. The outer error is ours (a
/// secret source failed), the inner one Redis's.
pub(in crate::broker) fn open(
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
