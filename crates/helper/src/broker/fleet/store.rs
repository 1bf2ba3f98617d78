//! The fleet entry as the renewal's store (broker/store.rs): fenced writes under the fleet
//! lock, this host's file kept as a copy without the refresh token, and the last
//! generation this host wrote remembered beside it.

use crate::broker::join_warnings as join;
use crate::broker::store::{FileStore, Store};
use crate::cache::Entry;
use crate::error::{Error, Result};
use crate::shared::{Fleet, FleetError, FleetLock, Generation};

/// Beside the host's entry: the last generation it wrote (`shared::Written`).
pub(super) const WRITTEN: &str = "fleet";

/// The fleet entry as the renewal's store: fenced writes under the fleet lock, and this
/// host's file kept as a copy without the refresh token.
pub(super) struct FleetStore<'a, 'f> {
    pub fleet: &'f Fleet,
    pub lock: &'a FleetLock<'f>,
    /// None once a write was fenced or failed: nothing more is written to the fleet.
    pub generation: Option<Generation>,
    pub local: FileStore<'a>,
    /// Set when Redis failed before anything was sent: the caller renews alone.
    pub unavailable: Option<FleetError>,
}

impl Store for FleetStore<'_, '_> {
    fn put(&mut self, entry: &Entry) -> Result<()> {
        let Some(generation) = &self.generation else {
            return Err(Error::lock_timeout(
                "the shared entry can no longer be written by this host; try again",
            ));
        };
        match self.fleet.write(self.lock, generation, Some(entry)) {
            Ok(Some(next)) => {
                self.remember(&next);
                self.generation = Some(next);
                Ok(())
            }
            Ok(None) => Err(Error::lock_timeout(format!(
                "another host renewed through {} while this one held an expired lock; try again",
                self.fleet.store()
            ))),
            Err(e) => {
                let error = Error::network(e.message.clone());
                self.unavailable = Some(e);
                Err(error)
            }
        }
    }

    fn before_login(&mut self, _current: Option<&Entry>) -> Result<()> {
        // Other hosts get the token from the fleet entry even if this host's file cannot
        // keep it, so an unwritable file here never makes every call mint a token.
        Ok(())
    }

    fn login_failed(&mut self, _current: Option<&Entry>) {}

    fn publish(&mut self, entry: &Entry) -> Option<String> {
        let mut lost = None;
        if let Some(generation) = self.generation.take() {
            match self.fleet.write(self.lock, &generation, Some(entry)) {
                Ok(next) => {
                    if let Some(next) = &next {
                        self.remember(next);
                    }
                    self.generation = next;
                }
                // A write that timed out may still land: then the fleet holds the refresh
                // token, so this host keeps none (below) and never presents it.
                Err(e) => lost = Some(format!("{e}; the new token stays on this host")),
            }
        }
        if self.generation.is_none() && lost.is_none() {
            crate::debug!("the new token was not published; keeping it on this host");
        }
        join(lost, self.local.publish(&local_copy(entry)))
    }
}

impl FleetStore<'_, '_> {
    /// Records the generation this host just wrote; best effort (it only guards against a
    /// captured value written back, docs/fleet-threat-model.md).
    fn remember(&self, generation: &Generation) {
        let Some(bytes) = self
            .fleet
            .written(generation)
            .and_then(|w| serde_json::to_vec(&w).ok())
        else {
            return;
        };
        if let Err(e) = self
            .local
            .cache
            .store_beside(self.local.guard, WRITTEN, &bytes)
        {
            crate::debug!("{}", e.message);
        }
    }
}

/// What this host keeps of a fleet token: everything but the refresh token.
pub(super) fn local_copy(entry: &Entry) -> Entry {
    let mut e = entry.clone();
    e.refresh_token = None;
    e.refresh_expires_at_ms = None;
    e
}
