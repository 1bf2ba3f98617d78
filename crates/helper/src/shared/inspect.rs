//! What `doctor` asks of the shared store beyond a read: who holds the lock and for how
//! long, and whether the server can tell its lifetimes apart (run_id), persists, or has
//! replicas — the ways an older copy of the entry can come back.

use super::{Fleet, FleetResult, Snapshot};
use std::time::Duration;

/// One look at the store, for `doctor`.
#[derive(Debug)]
pub struct Inspection {
    pub snapshot: Snapshot,
    /// Redis server clock minus ours, in ms.
    pub skew_ms: i64,
    /// None: the lock is free; Some(None): held with no expiry.
    pub lock: Option<Option<Duration>>,
    pub run_id: Option<String>,
    /// "rdb", "aof", "rdb+aof" or "none"; None if the server would not say.
    pub persistence: Option<String>,
    pub replicas: Option<u64>,
}

impl Fleet {
    pub fn inspect(&self) -> FleetResult<Inspection> {
        let snapshot = self.read()?;
        let run_id = self.server_id()?.map(str::to_string);
        let pttl: i64 = redis::cmd("PTTL")
            .arg(&self.lock_key)
            .query(&mut *self.con.borrow_mut())
            .map_err(self.fail("reading the lock"))?;
        let lock = match pttl {
            -2 => None,
            -1 => Some(None),
            ms => Some(Some(Duration::from_millis(ms.max(0) as u64))),
        };
        // Managed services may refuse INFO sections: then we only say we do not know.
        let info = |section: &str| -> Option<String> {
            redis::cmd("INFO")
                .arg(section)
                .query::<String>(&mut *self.con.borrow_mut())
                .ok()
        };
        let field = |text: &str, name: &str| -> Option<String> {
            text.lines()
                .find_map(|l| l.strip_prefix(name)?.strip_prefix(':'))
                .map(|v| v.trim().chars().take(32).collect())
        };
        let aof = info("persistence").and_then(|p| field(&p, "aof_enabled"));
        // CONFIG is often disabled on managed services: then snapshots are unknown.
        let save: Option<Vec<String>> = redis::cmd("CONFIG")
            .arg("GET")
            .arg("save")
            .query(&mut *self.con.borrow_mut())
            .ok();
        let rdb = save.and_then(|kv| kv.get(1).map(|v| !v.trim().is_empty()));
        let persistence = match (rdb, aof.as_deref()) {
            (Some(true), Some("1")) => Some("rdb+aof"),
            (Some(true), _) => Some("rdb"),
            (_, Some("1")) => Some("aof"),
            (Some(false), Some(_)) => Some("none"),
            _ => None,
        }
        .map(str::to_string);
        let replicas = info("replication")
            .and_then(|r| field(&r, "connected_slaves"))
            .and_then(|v| v.parse().ok());
        Ok(Inspection {
            snapshot,
            skew_ms: self.skew_ms.get(),
            lock,
            run_id,
            persistence,
            replicas,
        })
    }
}
