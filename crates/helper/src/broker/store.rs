//! The seam between the one renewal (renew.rs) and where its entry lives: this host's file
//! (`FileStore`, below) or the fleet entry in Redis (`fleet::FleetStore`). Reading, locking
//! and waiting happen before a renewal starts and differ too much to share an interface;
//! what the renewal itself needs is only these four steps.

use super::renew::placeholder;
use crate::cache::{Cache, CacheKey, Entry, LockGuard};
use crate::error::Result;

pub(super) trait Store {
    /// Durably replaces the entry, or fails; nothing that depends on it may be sent
    /// then. The write-ahead of a refresh token (the entry without it) and its restoration
    /// when the request provably never left the machine both go through here.
    fn put(&mut self, entry: &Entry) -> Result<()>;
    /// Before a login: proves the store can keep what the login brings, so a store that
    /// cannot be written never makes every call mint a token.
    fn before_login(&mut self, current: Option<&Entry>) -> Result<()>;
    /// A login that obtained nothing leaves no trace of `before_login`.
    fn login_failed(&mut self, current: Option<&Entry>);
    /// Keeps a token just obtained. A failure is a warning, not an error: the token is
    /// good, and any refresh token it replaced was recorded as spent before it was sent.
    fn publish(&mut self, entry: &Entry) -> Option<String>;
}

/// This host's cache file, written under its lock.
pub(super) struct FileStore<'a> {
    pub cache: &'a Cache,
    pub guard: &'a LockGuard,
    pub key: CacheKey,
}

impl Store for FileStore<'_> {
    fn put(&mut self, entry: &Entry) -> Result<()> {
        self.cache.store(self.guard, entry)
    }

    fn before_login(&mut self, current: Option<&Entry>) -> Result<()> {
        match current {
            Some(entry) => self.put(entry),
            None => self.put(&placeholder(self.key.clone())),
        }
    }

    fn login_failed(&mut self, current: Option<&Entry>) {
        if current.is_none() {
            // Only the placeholder is there.
            let _ = self.cache.remove(self.guard);
        }
    }

    fn publish(&mut self, entry: &Entry) -> Option<String> {
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
