//! The Lua that runs inside Redis, and the fencing generation it guards.
//!
//! Every script reads keys through `cur`, which never fails: a key of the wrong type (left
//! by another program, or a vandal) reads as the marker `!wrongtype`, one over 64 KiB as
//! `!toolarge` (it is never sent to us), a missing one as "".
//! The compare-and-set compares the generation *as read*, raw, so a value that is not ours
//! is fenced like any other and overwritten by the next lock holder: the fleet heals
//! itself instead of failing until someone repairs Redis by hand.

/// The one way every script reads a key (a macro, so `concat!` can prepend it).
macro_rules! with_cur {
    ($body:literal) => {
        concat!(
            r"
local function cur(k)
  local n = redis.pcall('STRLEN', k)
  if type(n) == 'table' then return '!wrongtype' end
  if n > 65536 then return '!toolarge' end
  return redis.call('GET', k) or ''
end",
            $body
        )
    };
}

/// Reads the sealed value and the generation in one round trip.
pub const READ: &str = with_cur!(
    r"
return {cur(KEYS[1]), cur(KEYS[2])}"
);

/// Replaces value and generation only if the generation still reads as the writer read
/// it (ARGV[1]); the new generation is one more than the old one when that was a number
/// of ours, else 1. ARGV[3] = 0 forgets the value.
pub const CAS: &str = with_cur!(
    r"
if cur(KEYS[2]) ~= ARGV[1] then return -1 end
local n = 0
if #ARGV[1] <= 15 and string.match(ARGV[1], '^%d+$') then n = tonumber(ARGV[1]) end
redis.call('DEL', KEYS[1], KEYS[2])
redis.call('SET', KEYS[2], string.format('%d', n + 1))
if ARGV[3] ~= '0' then redis.call('SET', KEYS[1], ARGV[2], 'PX', ARGV[3]) end
return n + 1"
);

/// What a waiting host polls: the generation, and how long the lock has left (-2: free,
/// -1: held with no expiry — no honest holder does that).
pub const POLL: &str = with_cur!(
    r"
return {cur(KEYS[1]), redis.call('PTTL', KEYS[2])}"
);

/// Deletes the lock only if we still own it.
pub const RELEASE: &str = r"
if redis.call('GET', KEYS[1]) == ARGV[1] then return redis.call('DEL', KEYS[1]) end
return 0";

/// The fencing generation exactly as Redis holds it (empty when absent): bytes, since a
/// foreign value need not be text.
#[derive(Debug, Clone, PartialEq, Eq, Default)]
pub struct Generation(pub(super) Vec<u8>);

impl Generation {
    /// The number, when the value is one of ours; what a foreign value counts as (0)
    /// otherwise. Must agree with `CAS`.
    pub fn number(&self) -> u64 {
        self.parse().unwrap_or(0)
    }

    fn parse(&self) -> Option<u64> {
        let s = &self.0;
        let digits = !s.is_empty() && s.len() <= 15 && s.iter().all(u8::is_ascii_digit);
        digits
            .then(|| std::str::from_utf8(s).ok()?.parse().ok())
            .flatten()
    }

    /// Absent, or a number of ours; anything else was written by someone else.
    pub fn is_ours(&self) -> bool {
        self.0.is_empty() || self.parse().is_some()
    }

    /// The generation `CAS` will write over this one.
    pub(super) fn next(&self) -> Generation {
        Generation((self.number() + 1).to_string().into_bytes())
    }
}

impl std::fmt::Display for Generation {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        if self.is_ours() {
            write!(f, "{}", self.number())
        } else {
            f.write_str("(not a generation)")
        }
    }
}

#[cfg(test)]
mod tests {
    use super::Generation;

    #[test]
    fn only_short_digit_strings_are_generations() {
        let g = |s: &str| Generation(s.as_bytes().to_vec());
        assert_eq!(g("").number(), 0);
        assert_eq!(g("41").next(), g("42"));
        for foreign in [
            "abc",
            "-1",
            "1e3",
            " 1",
            "0x10",
            "1234567890123456",
            "!wrongtype",
        ] {
            assert!(!g(foreign).is_ours(), "{foreign}");
            assert_eq!(g(foreign).next(), g("1"), "{foreign}");
        }
    }
}
