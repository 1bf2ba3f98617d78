//! The fleet entry store (Redis or Valkey), in the shape of `cache`: read an entry, take
//! the entry's lock, write under it, and wait for another host's renewal.
//!
//! Keys of one entry share a hash tag so they land in one Cluster slot:
//! `<prefix>{<stem>}:tok` (the sealed entry, expiring with its last live token),
//! `<prefix>{<stem>}:gen` (the fencing generation, a counter that only Lua changes) and
//! `<prefix>{<stem>}:lock` (`SET NX PX` with a 128-bit random owner).
//! Writes are a Lua compare-and-set on the generation, so a host whose lock expired while
//! it was renewing cannot overwrite what the next holder wrote. Times inside the sealed
//! value are on the Redis server's clock (`TIME`), converted to and from the local clock,
//! so hosts with skewed clocks agree on when a token expires.

mod conn;
mod seal;
#[cfg(test)]
mod tests;

pub use conn::{FleetError, FleetResult};

use crate::cache::{CacheKey, Entry};
use crate::config::SharedCache;
use crate::secret::Secret;
use crate::time::now_ms;
use seal::Sealer;
use serde::{Deserialize, Serialize};
use std::cell::RefCell;
use std::time::{Duration, Instant};

/// A value larger than this is not ours.
const MAX_VALUE_BYTES: usize = 64 * 1024;
/// A refresh token with no expiry of its own is kept this long (a BSN.cloud session ends
/// after 12 hours).
const NO_EXPIRY_KEEP_MS: u64 = 24 * 3600 * 1000;

/// Replaces value and generation only if the generation is still the one the writer read.
const CAS: &str = r"
local g = tonumber(redis.call('GET', KEYS[2]) or '0')
if g ~= tonumber(ARGV[1]) then return -1 end
redis.call('SET', KEYS[2], g + 1)
if ARGV[3] == '0' then redis.call('DEL', KEYS[1])
else redis.call('SET', KEYS[1], ARGV[2], 'PX', ARGV[3]) end
return g + 1";

/// Deletes the lock only if we still own it.
const RELEASE: &str = r"
if redis.call('GET', KEYS[1]) == ARGV[1] then return redis.call('DEL', KEYS[1]) end
return 0";

/// What is inside a sealed value.
#[derive(Serialize, Deserialize)]
struct Payload {
    generation: u64,
    host: String,
    written_at_ms: u64,
    entry: Option<Entry>,
}

/// The fleet entry as one host sees it, times on the local clock.
#[derive(Debug, Clone)]
pub struct FleetEntry {
    pub entry: Option<Entry>,
    /// Which host wrote it ("name (pid N)") and when.
    pub host: String,
    pub written_at_ms: u64,
}

/// One read: the generation (0 = never written) and the entry, if one of ours is there.
#[derive(Debug, Clone)]
pub struct Snapshot {
    pub generation: u64,
    pub current: Option<FleetEntry>,
}

/// How a wait for another host's renewal ended.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Wait {
    Changed,
    LockFree,
    TimedOut,
}

pub struct Fleet {
    con: RefCell<redis::Connection>,
    sealer: Sealer,
    store: String,
    key: CacheKey,
    tok: String,
    gen_key: String,
    lock_key: String,
    /// Redis server clock minus local clock, in ms.
    skew_ms: i64,
    host: String,
}

/// Proof that this process holds the entry's Redis lock; dropping it releases the lock
/// if we still own it (compare-and-delete).
pub struct FleetLock<'a> {
    fleet: &'a Fleet,
    owner: String,
    pub ttl: Duration,
    pub acquired: Instant,
}

impl Drop for FleetLock<'_> {
    fn drop(&mut self) {
        let released = redis::Script::new(RELEASE)
            .key(&self.fleet.lock_key)
            .arg(&self.owner)
            .invoke::<i64>(&mut *self.fleet.con.borrow_mut());
        if let Err(e) = released {
            crate::debug!("{}", conn::describe(&self.fleet.store, "unlocking", &e));
        }
    }
}

impl Fleet {
    /// Connects and measures the clock offset. `seal_secret` is the client secret or the
    /// configured `shared_cache_key`; `password` the resolved Redis password, if any.
    pub fn open(
        cfg: &SharedCache,
        key: &CacheKey,
        seal_secret: &Secret<String>,
        password: Option<&Secret<String>>,
    ) -> FleetResult<Fleet> {
        let store = cfg.url.display.clone();
        let sealer = Sealer::new(seal_secret.expose().as_bytes()).ok_or_else(|| FleetError {
            message: "cannot derive the shared cache key".into(),
        })?;
        let mut con = conn::connect(cfg, password.map(|p| p.expose().as_str()))?;
        let before = now_ms();
        let time: Vec<u64> = redis::cmd("TIME")
            .query(&mut con)
            .map_err(|e| conn::describe(&store, "reading its clock", &e))?;
        let server_ms = match time.as_slice() {
            [secs, micros] => secs.saturating_mul(1000) + micros / 1000,
            _ => before,
        };
        let local_mid = (before + now_ms()) / 2;
        let stem = key.stem();
        let base = format!("{}{{{stem}}}", cfg.prefix);
        Ok(Fleet {
            con: RefCell::new(con),
            sealer,
            store,
            key: key.clone(),
            tok: format!("{base}:tok"),
            gen_key: format!("{base}:gen"),
            lock_key: format!("{base}:lock"),
            skew_ms: server_ms as i64 - local_mid as i64,
            host: host_name(),
        })
    }

    /// The store as it may be printed: scheme, host and port, or the socket path.
    pub fn store(&self) -> &str {
        &self.store
    }

    fn fail(&self, doing: &str) -> impl Fn(redis::RedisError) -> FleetError + '_ {
        let doing = doing.to_string();
        move |e| conn::describe(&self.store, &doing, &e)
    }

    /// The generation and the entry. A value sealed under another key, copied from
    /// another key, for another cache key, or out of step with the generation is absent.
    pub fn read(&self) -> FleetResult<Snapshot> {
        let (value, generation): (Option<Vec<u8>>, Option<u64>) = redis::pipe()
            .get(&self.tok)
            .get(&self.gen_key)
            .query(&mut *self.con.borrow_mut())
            .map_err(self.fail("reading the entry"))?;
        let generation = generation.unwrap_or(0);
        let current = value
            .filter(|v| v.len() <= MAX_VALUE_BYTES)
            .and_then(|v| self.sealer.open(self.tok.as_bytes(), &v))
            .and_then(|plain| serde_json::from_slice::<Payload>(&plain).ok())
            .filter(|p| p.generation == generation)
            .filter(|p| p.entry.as_ref().is_none_or(|e| e.key == self.key))
            .map(|p| FleetEntry {
                entry: p.entry.map(|e| shift(&e, -self.skew_ms)),
                host: p.host,
                written_at_ms: add(p.written_at_ms, -self.skew_ms),
            });
        Ok(Snapshot {
            generation,
            current,
        })
    }

    /// Takes the entry's lock if it is free, for `ttl` (which must exceed the renewal's
    /// deadline: an expired lock lets a second host in).
    pub fn try_lock(&self, ttl: Duration) -> FleetResult<Option<FleetLock<'_>>> {
        let owner = seal::random_hex().ok_or_else(|| FleetError {
            message: "no random numbers for a lock owner".into(),
        })?;
        let acquired = Instant::now();
        let ok: Option<String> = redis::cmd("SET")
            .arg(&self.lock_key)
            .arg(&owner)
            .arg("NX")
            .arg("PX")
            .arg(ttl.as_millis().max(1) as u64)
            .query(&mut *self.con.borrow_mut())
            .map_err(self.fail("taking the lock"))?;
        Ok(ok.map(|_| FleetLock {
            fleet: self,
            owner,
            ttl,
            acquired,
        }))
    }

    /// Writes `entry` (None forgets it) if the generation is still `expected`; returns the
    /// new generation, or None if another host wrote first (then nothing was written).
    pub fn write(
        &self,
        _lock: &FleetLock,
        expected: u64,
        entry: Option<&Entry>,
    ) -> FleetResult<Option<u64>> {
        let now = now_ms();
        let keep_ms = entry.map_or(0, |e| keep_until(e).saturating_sub(now));
        let payload = Payload {
            generation: expected + 1,
            host: self.host.clone(),
            written_at_ms: add(now, self.skew_ms),
            entry: entry.map(|e| shift(e, self.skew_ms)),
        };
        let sealed = serde_json::to_vec(&payload)
            .ok()
            .and_then(|plain| self.sealer.seal(self.tok.as_bytes(), &plain))
            .ok_or_else(|| FleetError {
                message: "cannot seal the shared entry".into(),
            })?;
        let written: i64 = redis::Script::new(CAS)
            .key(&self.tok)
            .key(&self.gen_key)
            .arg(expected)
            .arg(sealed)
            .arg(keep_ms)
            .invoke(&mut *self.con.borrow_mut())
            .map_err(self.fail("writing the entry"))?;
        Ok(u64::try_from(written).ok())
    }

    /// Polls (every 50–100 ms) until the generation moves past `seen`, the lock is free,
    /// or `deadline` passes. Waiters poll the generation, not the lock: they are not
    /// served one by one.
    pub fn wait(&self, seen: u64, deadline: Instant) -> FleetResult<Wait> {
        loop {
            let (generation, locked): (Option<u64>, bool) = redis::pipe()
                .get(&self.gen_key)
                .exists(&self.lock_key)
                .query(&mut *self.con.borrow_mut())
                .map_err(self.fail("waiting for another host"))?;
            if generation.unwrap_or(0) != seen {
                return Ok(Wait::Changed);
            }
            if !locked {
                return Ok(Wait::LockFree);
            }
            let now = Instant::now();
            if now >= deadline {
                return Ok(Wait::TimedOut);
            }
            let jitter = u64::from(std::process::id() ^ now_ms() as u32) % 50;
            std::thread::sleep(Duration::from_millis(50 + jitter).min(deadline - now));
        }
    }
}

/// When the last token of `entry` expires: the key lives that long and no longer.
fn keep_until(e: &Entry) -> u64 {
    let refresh_until = match (&e.refresh_token, e.refresh_expires_at_ms) {
        (Some(_), Some(t)) => t,
        (Some(_), None) => e.obtained_at_ms.saturating_add(NO_EXPIRY_KEEP_MS),
        (None, _) => 0,
    };
    e.expires_at_ms.max(refresh_until)
}

fn add(t: u64, delta: i64) -> u64 {
    t.saturating_add_signed(delta)
}

/// The same entry with every time moved by `delta` ms (between local and server clocks).
fn shift(e: &Entry, delta: i64) -> Entry {
    let mut e = e.clone();
    e.obtained_at_ms = add(e.obtained_at_ms, delta);
    e.expires_at_ms = add(e.expires_at_ms, delta);
    e.refresh_expires_at_ms = e.refresh_expires_at_ms.map(|t| add(t, delta));
    e.session_started_at_ms = e.session_started_at_ms.map(|t| add(t, delta));
    e
}

/// "name (pid N)", for `status`.
fn host_name() -> String {
    #[cfg(unix)]
    let name = {
        let mut buf = [0u8; 256];
        // SAFETY: the buffer is valid for its length; gethostname writes at most that.
        let rc = unsafe { libc::gethostname(buf.as_mut_ptr().cast(), buf.len()) };
        let end = buf.iter().position(|&b| b == 0).unwrap_or(buf.len());
        if rc == 0 {
            String::from_utf8_lossy(&buf[..end]).into_owned()
        } else {
            String::new()
        }
    };
    #[cfg(not(unix))]
    let name = std::env::var("COMPUTERNAME").unwrap_or_default();
    let name: String = name.chars().take(64).collect();
    format!("{name} (pid {})", std::process::id())
}
