//! Opaque random identifiers for tokens and sessions, without a `rand` dependency.
//!
//! std's `RandomState` is seeded from the OS once per process and then varied per instance;
//! hashing a global counter and the clock with it gives values that are unpredictable enough
//! for a local emulator. The counter makes equal inputs impossible; callers that need hard
//! uniqueness still check for a clash (see `state::unique`).

use std::collections::hash_map::RandomState;
use std::hash::{BuildHasher, Hasher};
use std::sync::atomic::{AtomicU64, Ordering};
use std::time::{SystemTime, UNIX_EPOCH};

static COUNTER: AtomicU64 = AtomicU64::new(0);

/// `prefix` followed by 32 lowercase hex characters, e.g. `emu-at-3f…`.
pub fn random_id(prefix: &str) -> String {
    let n = COUNTER.fetch_add(1, Ordering::Relaxed);
    let nanos = SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .map(|d| d.as_nanos())
        .unwrap_or(0);
    let half = |salt: u64| {
        let mut h = RandomState::new().build_hasher();
        h.write_u64(n);
        h.write_u128(nanos);
        h.write_u64(salt);
        h.finish()
    };
    format!("{prefix}{:016x}{:016x}", half(1), half(2))
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::collections::HashSet;

    #[test]
    fn ids_have_the_shape_and_do_not_repeat() {
        let ids: HashSet<String> = (0..10_000).map(|_| random_id("emu-at-")).collect();
        assert_eq!(ids.len(), 10_000);
        for id in ids.iter().take(5) {
            let hex = id.strip_prefix("emu-at-").unwrap();
            assert_eq!(hex.len(), 32);
            assert!(
                hex.chars()
                    .all(|c| c.is_ascii_hexdigit() && !c.is_ascii_uppercase())
            );
        }
    }
}
