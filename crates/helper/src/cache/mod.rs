//! The on-disk token cache: one JSON entry per key, a separate lock file per entry, and
//! atomic replacement (temp file, fsync, rename) so a reader never sees a torn file.
//!
//! Readers never lock: rename is atomic, so they see the old entry or the new one.
//! Writers must hold `LockGuard`, which `store` and `remove` take as a parameter.
//! The lock is a kernel lock (flock / LockFileEx) on `<entry>.lock`, never on the data
//! file (Windows locks are mandatory), and the kernel drops it when a process dies.

mod files;
mod origin;

use crate::error::{Error, Result};
use crate::secret::Secret;
use files::{
    create_private_dir, dir_is_private, file_is_ours, open_nofollow, remove_stale_temps,
    secure_dir, write_atomically,
};
use origin::Origin;
use serde::{Deserialize, Serialize};
use std::fs::{File, OpenOptions};
use std::io::Read;
use std::path::{Path, PathBuf};
use std::time::{Duration, Instant};

pub const FORMAT: u32 = 1;
/// Larger files are not ours; treat as corrupt rather than read them into memory.
pub(crate) const MAX_ENTRY_BYTES: u64 = 64 * 1024;

/// What one entry is for. Secrets are not part of it: changing one keeps the entry.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct CacheKey {
    pub token_url: String,
    pub api_url: String,
    pub client_id: String,
    pub grant: String,
    pub username: Option<String>,
    pub network: Option<String>,
    pub scope: Option<String>,
}

impl CacheKey {
    /// File stem: FNV-1a over the fields. Stable across versions and platforms; the full
    /// key is stored in the entry and compared on read, so a collision is only a miss.
    pub fn stem(&self) -> String {
        let mut h: u64 = 0xcbf2_9ce4_8422_2325;
        let fields = [
            Some(self.token_url.as_str()),
            Some(self.api_url.as_str()),
            Some(self.client_id.as_str()),
            Some(self.grant.as_str()),
            self.username.as_deref(),
            self.network.as_deref(),
            self.scope.as_deref(),
        ];
        for field in fields {
            // A marker byte keeps None and Some("") apart.
            let bytes = field.map(str::as_bytes);
            for b in [field.is_some() as u8]
                .iter()
                .chain(bytes.unwrap_or_default())
                .chain(&[0xff])
            {
                h ^= u64::from(*b);
                h = h.wrapping_mul(0x0000_0100_0000_01b3);
            }
        }
        format!("token-{h:016x}")
    }
}

/// One cached session: the access token and, for user sessions, its refresh token.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Entry {
    pub format: u32,
    pub key: CacheKey,
    pub access_token: Secret<String>,
    pub token_type: String,
    pub obtained_at_ms: u64,
    pub expires_at_ms: u64,
    pub scope: Option<String>,
    pub refresh_token: Option<Secret<String>>,
    /// None: the server gave no expiry for the refresh token.
    pub refresh_expires_at_ms: Option<u64>,
    /// When the user session began (password login); None for client credentials.
    pub session_started_at_ms: Option<u64>,
    /// A token is handed out only once its network is selected.
    pub network_selected: bool,
}

impl Entry {
    pub fn lifetime_ms(&self) -> u64 {
        self.expires_at_ms.saturating_sub(self.obtained_at_ms)
    }

    pub fn is_expired(&self, now_ms: u64) -> bool {
        self.expires_at_ms <= now_ms
    }
}

/// An entry as it lies on disk: with the identity of the file it was written into. Only
/// written, and read back on the slow path: the cache hit parses `Entry` alone (unknown
/// fields are ignored), so it pays nothing for this.
#[derive(Serialize)]
struct OnDisk<'a> {
    #[serde(flatten)]
    entry: &'a Entry,
    #[serde(skip_serializing_if = "Option::is_none")]
    written_into: Option<Origin>,
}

#[derive(Deserialize)]
struct WrittenInto {
    written_into: Option<Origin>,
}

pub struct Cache {
    dir: PathBuf,
}

/// Proof that the caller holds an entry's lock. Dropping it closes the lock file, which
/// releases the lock.
pub struct LockGuard {
    _file: File,
    stem: String,
}

impl Cache {
    pub fn new(dir: &Path) -> Cache {
        Cache {
            dir: dir.to_path_buf(),
        }
    }

    pub fn dir(&self) -> &Path {
        &self.dir
    }

    pub fn entry_path(&self, key: &CacheKey) -> PathBuf {
        self.dir.join(format!("{}.json", key.stem()))
    }

    /// Fast-path read: no lock, no directory set-up. None for missing, foreign, corrupt
    /// or unsafe entries; the slow path then replaces them.
    pub fn read(&self, key: &CacheKey) -> Option<Entry> {
        self.read_file(key).map(|(entry, ..)| entry)
    }

    /// The read a renewal starts from, under the entry's lock: a refresh token is kept
    /// only if the entry lies in the very file this machine wrote it into (`origin`), so a
    /// restored or copied cache never presents a spent one.
    pub fn read_locked(&self, _guard: &LockGuard, key: &CacheKey) -> Option<Entry> {
        let (mut entry, file, text) = self.read_file(key)?;
        if entry.refresh_token.is_some() {
            let recorded = serde_json::from_str::<WrittenInto>(&text)
                .ok()
                .and_then(|w| w.written_into);
            if !origin::vouches_for(recorded.as_ref(), &file) {
                crate::debug!(
                    "{} was not written here (restored or copied); its refresh token is not presented",
                    self.entry_path(key).display()
                );
                entry.refresh_token = None;
                entry.refresh_expires_at_ms = None;
            }
        }
        Some(entry)
    }

    fn read_file(&self, key: &CacheKey) -> Option<(Entry, File, String)> {
        let path = self.entry_path(key);
        if !dir_is_private(&self.dir) {
            return None;
        }
        let mut file = open_nofollow(OpenOptions::new().read(true), &path).ok()?;
        if !file_is_ours(&file) {
            return None;
        }
        let mut text = String::new();
        Read::by_ref(&mut file)
            .take(MAX_ENTRY_BYTES + 1)
            .read_to_string(&mut text)
            .ok()?;
        let entry: Entry = serde_json::from_str(&text).ok()?;
        (entry.format == FORMAT && entry.key == *key).then_some((entry, file, text))
    }

    /// Creates the directory (0700) or repairs its permissions; refuses one that belongs
    /// to another user, as ssh does. Called on the slow path only.
    pub fn prepare(&self) -> Result<()> {
        let setting = "set BSN_CACHE_DIR to a private directory";
        create_private_dir(&self.dir).map_err(|e| {
            Error::cache(format!(
                "cannot create cache directory {}: {e}; {setting}",
                self.dir.display()
            ))
        })?;
        secure_dir(&self.dir).map_err(|why| {
            Error::cache(format!(
                "cache directory {} {why}; {setting}",
                self.dir.display()
            ))
        })
    }

    /// Waits up to `timeout` for the entry's lock. Polls with `try_lock` because a
    /// blocking lock cannot be given a deadline portably.
    pub fn lock(&self, key: &CacheKey, timeout: Duration) -> Result<LockGuard> {
        let stem = key.stem();
        let path = self.dir.join(format!("{stem}.lock"));
        let file = open_nofollow(
            OpenOptions::new().read(true).write(true).create(true),
            &path,
        )
        .map_err(|e| {
            Error::cache(format!(
                "cannot open lock file {}: {e}; set BSN_CACHE_DIR to a writable local directory",
                path.display()
            ))
        })?;
        if !file_is_ours(&file) {
            // Someone else's file (or a FIFO, a device) could be held forever by its owner.
            return Err(Error::cache(format!(
                "lock file {} is not a regular file of yours; remove it, or set BSN_CACHE_DIR to a private directory",
                path.display()
            )));
        }
        let deadline = Instant::now() + timeout;
        let mut pause = Duration::from_millis(1);
        loop {
            match file.try_lock() {
                Ok(()) => return Ok(LockGuard { _file: file, stem }),
                Err(std::fs::TryLockError::WouldBlock) => {}
                Err(std::fs::TryLockError::Error(e)) => {
                    return Err(Error::cache(format!(
                        "cannot lock {}: {e}; keep BSN_CACHE_DIR on a local file system (NFS locks may be unsupported)",
                        path.display()
                    )));
                }
            }
            let now = Instant::now();
            if now >= deadline {
                return Err(Error::lock_timeout(format!(
                    "another bsn-credential-helper process held the cache lock {} for more than {}s; raise BSN_LOCK_TIMEOUT (lock_timeout) if refreshes are slow here",
                    path.display(),
                    timeout.as_secs()
                )));
            }
            std::thread::sleep(pause.min(deadline - now));
            pause = (pause * 2).min(Duration::from_millis(20));
        }
    }

    /// Atomically replaces the entry the guard protects.
    pub fn store(&self, guard: &LockGuard, entry: &Entry) -> Result<()> {
        debug_assert_eq!(guard.stem, entry.key.stem());
        let path = self.dir.join(format!("{}.json", guard.stem));
        remove_stale_temps(&self.dir, &guard.stem);
        write_atomically(&path, |file| {
            let stored = OnDisk {
                entry,
                written_into: Origin::of(file),
            };
            serde_json::to_vec_pretty(&stored).map_err(std::io::Error::other)
        })
        .map_err(|e| {
            Error::cache(format!(
                "cannot write cache file {}: {e}; free space or fix permissions, or set BSN_CACHE_DIR",
                path.display()
            ))
        })
    }

    /// A small record kept beside the entry (`<stem>.<ext>`), under its lock: what fleet
    /// mode remembers of the shared entry. None for missing, unsafe or oversized files.
    pub fn read_beside(&self, guard: &LockGuard, ext: &str) -> Option<Vec<u8>> {
        let path = self.dir.join(format!("{}.{ext}", guard.stem));
        let mut file = open_nofollow(OpenOptions::new().read(true), &path).ok()?;
        if !file_is_ours(&file) {
            return None;
        }
        let mut bytes = Vec::new();
        Read::by_ref(&mut file)
            .take(MAX_ENTRY_BYTES)
            .read_to_end(&mut bytes)
            .ok()?;
        Some(bytes)
    }

    /// Atomically replaces the record beside the entry.
    pub fn store_beside(&self, guard: &LockGuard, ext: &str, bytes: &[u8]) -> Result<()> {
        let path = self.dir.join(format!("{}.{ext}", guard.stem));
        remove_stale_temps(&self.dir, &guard.stem);
        write_atomically(&path, |_| Ok(bytes.to_vec())).map_err(|e| {
            Error::cache(format!(
                "cannot write {}: {e}; set BSN_CACHE_DIR",
                path.display()
            ))
        })
    }

    /// Forgets the entry the guard protects. Missing is fine.
    pub fn remove(&self, guard: &LockGuard) -> Result<bool> {
        let path = self.dir.join(format!("{}.json", guard.stem));
        match std::fs::remove_file(&path) {
            Ok(()) => Ok(true),
            Err(e) if e.kind() == std::io::ErrorKind::NotFound => Ok(false),
            Err(e) => Err(Error::cache(format!(
                "cannot remove cache file {}: {e}",
                path.display()
            ))),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    pub fn key() -> CacheKey {
        CacheKey {
            token_url: "http://127.0.0.1:1/token".into(),
            api_url: "http://127.0.0.1:1".into(),
            client_id: "c".into(),
            grant: "password".into(),
            username: Some("u".into()),
            network: Some("Demo".into()),
            scope: None,
        }
    }

    fn entry(token: &str) -> Entry {
        Entry {
            format: FORMAT,
            key: key(),
            access_token: Secret::new(token.into()),
            token_type: "Bearer".into(),
            obtained_at_ms: 1000,
            expires_at_ms: 301_000,
            scope: None,
            refresh_token: Some(Secret::new("rt".into())),
            refresh_expires_at_ms: Some(1_801_000),
            session_started_at_ms: Some(1000),
            network_selected: true,
        }
    }

    #[test]
    fn stem_is_stable_and_distinguishes_none_from_empty() {
        let k = key();
        assert_eq!(k.stem(), key().stem());
        let mut other = key();
        other.scope = Some(String::new());
        assert_ne!(k.stem(), other.stem());
        let mut other = key();
        other.network = Some("Lobby".into());
        assert_ne!(k.stem(), other.stem());
    }

    #[test]
    fn store_then_read_round_trips_and_corrupt_is_a_miss() {
        let dir = tempfile::tempdir().unwrap();
        let cache = Cache::new(&dir.path().join("c"));
        assert!(cache.read(&key()).is_none());
        cache.prepare().unwrap();
        let guard = cache.lock(&key(), Duration::from_secs(1)).unwrap();
        cache.store(&guard, &entry("a")).unwrap();
        assert_eq!(cache.read(&key()).unwrap(), entry("a"));
        std::fs::write(cache.entry_path(&key()), b"{\"format\":1,").unwrap();
        assert!(cache.read(&key()).is_none());
        cache.store(&guard, &entry("b")).unwrap();
        assert_eq!(cache.read(&key()).unwrap().access_token.expose(), "b");
        // No temp files left behind.
        let names: Vec<_> = std::fs::read_dir(cache.dir())
            .unwrap()
            .map(|e| e.unwrap().file_name())
            .collect();
        assert_eq!(names.len(), 2, "{names:?}");
        assert!(cache.remove(&guard).unwrap());
        assert!(!cache.remove(&guard).unwrap());
    }

    #[test]
    fn second_lock_times_out_with_an_actionable_message() {
        let dir = tempfile::tempdir().unwrap();
        let cache = Cache::new(dir.path());
        cache.prepare().unwrap();
        let _held = cache.lock(&key(), Duration::from_secs(1)).unwrap();
        let err = match cache.lock(&key(), Duration::from_millis(50)) {
            Ok(_) => panic!("second lock in one process must conflict"),
            Err(e) => e,
        };
        assert_eq!(err.code, crate::error::ErrorCode::LockTimeout);
        assert!(err.message.contains("BSN_LOCK_TIMEOUT"), "{}", err.message);
    }

    #[cfg(unix)]
    #[test]
    fn loose_dir_is_repaired_and_symlinked_entry_is_not_followed() {
        use std::os::unix::fs::PermissionsExt;
        let dir = tempfile::tempdir().unwrap();
        let cache_dir = dir.path().join("c");
        std::fs::create_dir(&cache_dir).unwrap();
        std::fs::set_permissions(&cache_dir, std::fs::Permissions::from_mode(0o777)).unwrap();
        let cache = Cache::new(&cache_dir);
        cache.prepare().unwrap();
        let mode = std::fs::metadata(&cache_dir).unwrap().permissions().mode();
        assert_eq!(mode & 0o777, 0o700);

        let target = dir.path().join("planted.json");
        std::fs::write(&target, serde_json::to_vec(&entry("planted")).unwrap()).unwrap();
        std::os::unix::fs::symlink(&target, cache.entry_path(&key())).unwrap();
        assert!(cache.read(&key()).is_none());
    }
}
