//! The on-disk token cache: one JSON entry per key, a separate lock file per entry, and
//! atomic replacement (temp file, fsync, rename) so a reader never sees a torn file.
//!
//! Readers never lock: rename is atomic, so they see the old entry or the new one.
//! Writers must hold `LockGuard`, which `store` and `remove` take as a parameter.
//! The lock is a kernel lock (flock / LockFileEx) on `<entry>.lock`, never on the data
//! file (Windows locks are mandatory), and the kernel drops it when a process dies.

use crate::error::{Error, Result};
use crate::secret::Secret;
use serde::{Deserialize, Serialize};
use std::fs::{File, OpenOptions};
use std::io::{Read, Write};
use std::path::{Path, PathBuf};
use std::time::{Duration, Instant};

pub const FORMAT: u32 = 1;
/// Larger files are not ours; treat as corrupt rather than read them into memory.
const MAX_ENTRY_BYTES: u64 = 64 * 1024;

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
        (entry.format == FORMAT && entry.key == *key).then_some(entry)
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
        let json = serde_json::to_vec_pretty(entry)
            .map_err(|e| Error::internal(format!("cannot encode cache entry: {e}")))?;
        write_atomically(&path, &json).map_err(|e| {
            Error::cache(format!(
                "cannot write cache file {}: {e}; free space or fix permissions, or set BSN_CACHE_DIR",
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

fn write_atomically(path: &Path, bytes: &[u8]) -> std::io::Result<()> {
    let dir = path.parent().unwrap_or(Path::new("."));
    let name = path.file_name().and_then(|n| n.to_str()).unwrap_or("entry");
    let tmp = dir.join(format!(
        ".{name}.{}.{}.tmp",
        std::process::id(),
        crate::time::now_ms()
    ));
    let result = (|| {
        let mut f = open_nofollow(OpenOptions::new().write(true).create_new(true), &tmp)?;
        f.write_all(bytes)?;
        f.sync_all()?;
        drop(f);
        std::fs::rename(&tmp, path)?;
        sync_dir(dir);
        Ok(())
    })();
    if result.is_err() {
        let _ = std::fs::remove_file(&tmp);
    }
    result
}

/// Temp files of this entry left by a writer that was killed (SIGKILL, power loss) before
/// its rename. Only the lock holder writes them, so under the lock any that exist are
/// stale; they hold tokens, so they are not left to pile up.
fn remove_stale_temps(dir: &Path, stem: &str) {
    let prefix = format!(".{stem}.json.");
    let Ok(names) = std::fs::read_dir(dir) else {
        return;
    };
    for name in names.flatten().map(|e| e.file_name()) {
        if let Some(name) = name.to_str()
            && name.starts_with(&prefix)
            && name.ends_with(".tmp")
        {
            let _ = std::fs::remove_file(dir.join(name));
        }
    }
}

/// Opens without following a symlink at the last component, without blocking (a FIFO
/// planted in place of a file would otherwise hang the open) and, when creating, with
/// mode 0600. Callers check what they opened with `file_is_ours`.
fn open_nofollow(opts: &mut OpenOptions, path: &Path) -> std::io::Result<File> {
    #[cfg(unix)]
    {
        use std::os::unix::fs::OpenOptionsExt;
        opts.custom_flags(libc::O_NOFOLLOW | libc::O_NONBLOCK)
            .mode(0o600);
    }
    #[cfg(windows)]
    {
        use std::os::windows::fs::OpenOptionsExt;
        // FILE_FLAG_OPEN_REPARSE_POINT: open a symlink itself rather than its target.
        opts.custom_flags(0x0020_0000);
    }
    opts.open(path)
}

#[cfg(unix)]
fn sync_dir(dir: &Path) {
    // Makes the rename durable; best effort, some file systems refuse fsync on a dir.
    if let Ok(d) = File::open(dir) {
        let _ = d.sync_all();
    }
}

#[cfg(not(unix))]
fn sync_dir(_dir: &Path) {}

fn create_private_dir(dir: &Path) -> std::io::Result<()> {
    let mut builder = std::fs::DirBuilder::new();
    builder.recursive(true);
    #[cfg(unix)]
    {
        use std::os::unix::fs::DirBuilderExt;
        builder.mode(0o700);
    }
    builder.create(dir)
}

#[cfg(unix)]
fn secure_dir(dir: &Path) -> std::result::Result<(), String> {
    use std::os::unix::fs::{MetadataExt, PermissionsExt};
    let meta = std::fs::symlink_metadata(dir).map_err(|e| format!("cannot be inspected: {e}"))?;
    if meta.file_type().is_symlink() {
        return Err("is a symbolic link".into());
    }
    if !meta.is_dir() {
        return Err("is not a directory".into());
    }
    // SAFETY: geteuid has no preconditions and cannot fail.
    let uid = unsafe { libc::geteuid() };
    if meta.uid() != uid {
        return Err(format!("belongs to another user (uid {})", meta.uid()));
    }
    if meta.mode() & 0o077 != 0 {
        std::fs::set_permissions(dir, std::fs::Permissions::from_mode(0o700))
            .map_err(|e| format!("is open to other users and cannot be made private: {e}"))?;
    }
    Ok(())
}

#[cfg(not(unix))]
fn secure_dir(dir: &Path) -> std::result::Result<(), String> {
    let meta = std::fs::symlink_metadata(dir).map_err(|e| format!("cannot be inspected: {e}"))?;
    if meta.file_type().is_symlink() || !meta.is_dir() {
        return Err("is not a plain directory".into());
    }
    Ok(())
}

/// Cheap check for the fast path: a directory others can write to may hold planted
/// entries, so it is not trusted until `prepare` repairs it.
#[cfg(unix)]
fn dir_is_private(dir: &Path) -> bool {
    use std::os::unix::fs::MetadataExt;
    // SAFETY: geteuid has no preconditions and cannot fail.
    let uid = unsafe { libc::geteuid() };
    std::fs::symlink_metadata(dir)
        .is_ok_and(|m| m.is_dir() && m.uid() == uid && m.mode() & 0o022 == 0)
}

#[cfg(not(unix))]
fn dir_is_private(_dir: &Path) -> bool {
    true
}

#[cfg(unix)]
fn file_is_ours(file: &File) -> bool {
    use std::os::unix::fs::MetadataExt;
    // SAFETY: geteuid has no preconditions and cannot fail.
    let uid = unsafe { libc::geteuid() };
    file.metadata()
        .is_ok_and(|m| m.is_file() && m.uid() == uid && m.len() <= MAX_ENTRY_BYTES)
}

#[cfg(not(unix))]
fn file_is_ours(file: &File) -> bool {
    file.metadata()
        .is_ok_and(|m| m.is_file() && m.len() <= MAX_ENTRY_BYTES)
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
