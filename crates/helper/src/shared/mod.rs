//! The fleet entry store (Redis or Valkey), in the shape of `cache`: read an entry, take
//! the entry's lock, write under it, and wait for another host's renewal.
//!
//! Keys of one entry share a hash tag so they land in one Cluster slot:
//! `<prefix>{<name>}:tok` (the sealed entry, expiring with its last live token),
//! `<prefix>{<name>}:gen` (the fencing generation, which only Lua changes) and
//! `<prefix>{<name>}:lock` (`SET NX PX` with a 128-bit random owner). `<name>` is a keyed
//! hash under the sealing key: a Redis reader cannot confirm a guessed client id or user
//! name, and hosts sealing with different keys (mid client-secret rotation) keep separate
//! entries instead of overwriting each other's.
//! Writes are a Lua compare-and-set on the generation (scripts.rs), so a host whose lock
//! expired while it was renewing cannot overwrite what the next holder wrote. Times inside
//! the sealed value are on the Redis server's clock (`TIME`), converted to and from the
//! local clock, so hosts with skewed clocks agree on when a token expires.
//!
//! Rollbacks (docs/fleet-threat-model.md): every value records the `run_id` of the Redis
//! server process that stored it. A restart (from an older snapshot or not) or a failover
//! to a replica brings another run_id, and a refresh token written under another one is
//! not presented: the write that recorded it as spent may be what was lost.

mod conn;
mod inspect;
mod scripts;
mod seal;
#[cfg(test)]
mod tests;

pub use conn::{FleetError, FleetResult};
pub use inspect::Inspection;
pub use scripts::Generation;

use crate::cache::{CacheKey, Entry};
use crate::config::SharedCache;
use crate::secret::Secret;
use crate::time::now_ms;
use seal::Sealer;
use serde::{Deserialize, Serialize};
use std::cell::{Cell, OnceCell, RefCell};
use std::time::{Duration, Instant};

/// A value larger than this is not ours.
const MAX_VALUE_BYTES: usize = 64 * 1024;
/// A refresh token with no expiry of its own is kept this long (a BSN.cloud session ends
/// after 12 hours).
const NO_EXPIRY_KEEP_MS: u64 = 24 * 3600 * 1000;
/// Waiting hosts poll from this often, backing off to `MAX_POLL`.
const FIRST_POLL: Duration = Duration::from_millis(20);
const MAX_POLL: Duration = Duration::from_millis(500);

/// What is inside a sealed value.
#[derive(Serialize, Deserialize)]
struct Payload {
    generation: u64,
    host: String,
    written_at_ms: u64,
    /// The run_id of the Redis server that stored it ("" if it would not say).
    #[serde(default)]
    server: String,
    entry: Option<Entry>,
}

/// The fleet entry as one host sees it, times on the local clock.
#[derive(Debug, Clone)]
pub struct FleetEntry {
    pub entry: Option<Entry>,
    /// Which host wrote it ("name (pid N)") and when.
    pub host: String,
    pub written_at_ms: u64,
    server: String,
}

/// One read: the generation and the entry, if one of ours is there.
#[derive(Debug, Clone)]
pub struct Snapshot {
    pub generation: Generation,
    pub current: Option<FleetEntry>,
    /// Something is stored that this host cannot use: sealed under another key, damaged,
    /// of the wrong type, or out of step with the generation. The next writer replaces it.
    pub foreign: bool,
}

/// The last generation this host wrote, and on which server lifetime: kept in the host's
/// cache directory, so a value written back from before it is not trusted here.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Written {
    pub server: String,
    pub generation: u64,
}

impl Snapshot {
    /// Whether this is older than what this host itself wrote on the same server
    /// lifetime (`last`): a captured value written back. Not served, and not renewed from.
    pub fn rolled_back(&self, last: Option<&Written>) -> bool {
        self.current
            .as_ref()
            .is_some_and(|c| snap_rolled_back(&c.server, self.generation.number(), last))
    }
}

fn snap_rolled_back(server: &str, generation: u64, last: Option<&Written>) -> bool {
    last.is_some_and(|l| l.server == server && generation < l.generation)
}

/// How a wait for another host's renewal ended.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Wait {
    Changed,
    LockFree,
    TimedOut,
    /// The lock is held longer than any honest holder would take it for (its remaining
    /// time, None: forever).
    Squatted(Option<Duration>),
}

pub struct Fleet {
    con: RefCell<redis::Connection>,
    sealer: Sealer,
    store: String,
    key: CacheKey,
    tok: String,
    gen_key: String,
    lock_key: String,
    /// Redis server clock minus local clock, in ms (measured by each read).
    skew_ms: Cell<i64>,
    /// The server's run_id, asked once (None: it would not say).
    server: OnceCell<Option<String>>,
    host: String,
}

/// Proof that this process holds the entry's Redis lock; dropping it releases the lock
/// if we still own it (compare-and-delete).
pub struct FleetLock<'a> {
    fleet: &'a Fleet,
    owner: String,
}

impl Drop for FleetLock<'_> {
    fn drop(&mut self) {
        let released = redis::Script::new(scripts::RELEASE)
            .key(&self.fleet.lock_key)
            .arg(&self.owner)
            .invoke::<i64>(&mut *self.fleet.con.borrow_mut());
        if let Err(e) = released {
            crate::debug!("{}", conn::describe(&self.fleet.store, "unlocking", &e));
        }
    }
}

impl Fleet {
    /// Connects. `seal_secret` is the client secret or the configured `shared_cache_key`;
    /// `password` the resolved Redis password, if any.
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
        let con = conn::connect(cfg, password.map(|p| p.expose().as_str()))?;
        let identity = serde_json::to_vec(key).unwrap_or_default();
        let base = format!("{}{{{}}}", cfg.prefix, sealer.name(&identity));
        Ok(Fleet {
            con: RefCell::new(con),
            sealer,
            store,
            key: key.clone(),
            tok: format!("{base}:tok"),
            gen_key: format!("{base}:gen"),
            lock_key: format!("{base}:lock"),
            skew_ms: Cell::new(0),
            server: OnceCell::new(),
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

    /// The generation and the entry, in one round trip with the server's clock. A value
    /// sealed under another key, copied from another key, for another cache key, or out
    /// of step with the generation is absent (and `foreign`).
    pub fn read(&self) -> FleetResult<Snapshot> {
        let before = now_ms();
        let (time, (value, generation)): (Vec<u64>, (Vec<u8>, Vec<u8>)) = redis::pipe()
            .cmd("TIME")
            .cmd("EVAL")
            .arg(scripts::READ)
            .arg(2)
            .arg(&self.tok)
            .arg(&self.gen_key)
            .query(&mut *self.con.borrow_mut())
            .map_err(self.fail("reading the entry"))?;
        if let [secs, micros] = time.as_slice() {
            let server_ms = secs.saturating_mul(1000).saturating_add(micros / 1000);
            let local_mid = (before + now_ms()) / 2;
            self.skew_ms.set(server_ms as i64 - local_mid as i64);
        }
        let generation = Generation(generation);
        let skew = self.skew_ms.get();
        let stored = !value.is_empty();
        let current = Some(value)
            .filter(|v| stored && v.len() <= MAX_VALUE_BYTES)
            .and_then(|v| self.sealer.open(self.tok.as_bytes(), &v))
            .and_then(|plain| serde_json::from_slice::<Payload>(&plain).ok())
            .filter(|p| generation.is_ours() && p.generation == generation.number())
            .filter(|p| p.entry.as_ref().is_none_or(|e| e.key == self.key))
            .map(|p| FleetEntry {
                entry: p.entry.map(|e| shift(&e, -skew)),
                host: p.host,
                written_at_ms: add(p.written_at_ms, -skew),
                server: p.server,
            });
        let foreign = (stored && current.is_none()) || !generation.is_ours();
        Ok(Snapshot {
            generation,
            current,
            foreign,
        })
    }

    /// `read`, for a renewal about to present the entry's refresh token: one written under
    /// another Redis server lifetime (a restart, a failover) is dropped, since the record
    /// that it was spent may be exactly the write that was lost; so is one older than what
    /// this host itself last wrote (`last`: a captured value written back). Returns why.
    pub fn read_for_renewal(
        &self,
        last: Option<&Written>,
    ) -> FleetResult<(Snapshot, Option<String>)> {
        let mut snap = self.read()?;
        let generation = snap.generation.number();
        let Some(fe) = snap.current.as_mut() else {
            return Ok((snap, None));
        };
        let Some(entry) = fe.entry.as_mut().filter(|e| e.refresh_token.is_some()) else {
            return Ok((snap, None));
        };
        let server = self.server_id()?;
        let why = match (server, last) {
            (None, _) => {
                "cannot be tied to one Redis server lifetime (INFO server gives no run_id)"
                    .to_string()
            }
            (Some(s), _) if s != fe.server => {
                "was written before the Redis server restarted or failed over".to_string()
            }
            (Some(_), last) if snap_rolled_back(&fe.server, generation, last) => {
                format!(
                    "went back from generation {} (written by this host) to {generation}: an older value was written back",
                    last.map_or(0, |l| l.generation)
                )
            }
            _ => return Ok((snap, None)),
        };
        entry.refresh_token = None;
        entry.refresh_expires_at_ms = None;
        Ok((
            snap,
            Some(format!(
                "the shared entry {why}; logging in instead of presenting its refresh token"
            )),
        ))
    }

    /// What this host records after writing `generation`, to recognise a rollback later.
    pub fn written(&self, generation: &Generation) -> Option<Written> {
        let server = self.server.get()?.as_ref()?.clone();
        Some(Written {
            server,
            generation: generation.number(),
        })
    }

    /// The server's run_id: another one means another lifetime of the data.
    fn server_id(&self) -> FleetResult<Option<&str>> {
        if self.server.get().is_none() {
            let info = match redis::cmd("INFO")
                .arg("server")
                .query::<String>(&mut *self.con.borrow_mut())
            {
                Ok(info) => info,
                // INFO renamed away or denied by an ACL: the server works, it just cannot
                // vouch for its lifetime (then no refresh token of the fleet is trusted).
                Err(e) if e.code().is_some() => String::new(),
                Err(e) => return Err(conn::describe(&self.store, "asking for its run_id", &e)),
            };
            let id = info
                .lines()
                .find_map(|l| l.strip_prefix("run_id:"))
                .map(|id| id.trim().chars().take(64).collect::<String>())
                .filter(|id| !id.is_empty());
            let _ = self.server.set(id);
        }
        Ok(self.server.get().and_then(|s| s.as_deref()))
    }

    /// Takes the entry's lock if it is free, for `ttl` (which must exceed the renewal's
    /// deadline: an expired lock lets a second host in).
    pub fn try_lock(&self, ttl: Duration) -> FleetResult<Option<FleetLock<'_>>> {
        let owner = seal::random_hex().ok_or_else(|| FleetError {
            message: "no random numbers for a lock owner".into(),
        })?;
        let ok: Option<String> = redis::cmd("SET")
            .arg(&self.lock_key)
            .arg(&owner)
            .arg("NX")
            .arg("PX")
            .arg(ttl.as_millis().max(1) as u64)
            .query(&mut *self.con.borrow_mut())
            .map_err(self.fail("taking the lock"))?;
        Ok(ok.map(|_| FleetLock { fleet: self, owner }))
    }

    /// Writes `entry` (None forgets it) if the generation still reads as `expected`;
    /// returns the new generation, or None if another host wrote first (then nothing was
    /// written).
    pub fn write(
        &self,
        _lock: &FleetLock,
        expected: &Generation,
        entry: Option<&Entry>,
    ) -> FleetResult<Option<Generation>> {
        let now = now_ms();
        let skew = self.skew_ms.get();
        let keep_ms = entry.map_or(0, |e| keep_until(e).saturating_sub(now));
        let next = expected.next();
        let payload = Payload {
            generation: next.number(),
            host: self.host.clone(),
            written_at_ms: add(now, skew),
            server: self.server_id()?.unwrap_or_default().to_string(),
            entry: entry.map(|e| shift(e, skew)),
        };
        let sealed = serde_json::to_vec(&payload)
            .ok()
            .and_then(|plain| self.sealer.seal(self.tok.as_bytes(), &plain))
            .ok_or_else(|| FleetError {
                message: "cannot seal the shared entry".into(),
            })?;
        let written: i64 = redis::Script::new(scripts::CAS)
            .key(&self.tok)
            .key(&self.gen_key)
            .arg(&expected.0)
            .arg(sealed)
            .arg(keep_ms)
            .invoke(&mut *self.con.borrow_mut())
            .map_err(self.fail("writing the entry"))?;
        Ok((written > 0).then_some(next))
    }

    /// Waits, backing off from 20 ms to 500 ms with jitter, until the generation moves
    /// past `seen`, the lock is free, or `deadline` passes. A lock with more time left than
    /// `honest` (what this host would take it for), or none, is squatted: no honest holder
    /// takes it for that long, so waiting is pointless.
    pub fn wait(
        &self,
        seen: &Generation,
        deadline: Instant,
        honest: Duration,
    ) -> FleetResult<Wait> {
        let mut pause = FIRST_POLL;
        loop {
            let (generation, pttl): (Vec<u8>, i64) = redis::cmd("EVAL")
                .arg(scripts::POLL)
                .arg(2)
                .arg(&self.gen_key)
                .arg(&self.lock_key)
                .query(&mut *self.con.borrow_mut())
                .map_err(self.fail("waiting for another host"))?;
            if generation != seen.0 {
                return Ok(Wait::Changed);
            }
            match pttl {
                -2 => return Ok(Wait::LockFree),
                -1 => return Ok(Wait::Squatted(None)),
                ms if ms as u128 > honest.as_millis() + 2000 => {
                    return Ok(Wait::Squatted(Some(Duration::from_millis(ms as u64))));
                }
                _ => {}
            }
            let now = Instant::now();
            if now >= deadline {
                return Ok(Wait::TimedOut);
            }
            let jitter = u64::from(std::process::id() ^ now_ms() as u32) % 100;
            let nap = pause.mul_f64(0.5 + jitter as f64 / 200.0);
            std::thread::sleep(nap.min(deadline - now));
            pause = (pause * 2).min(MAX_POLL);
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
