//! Wall-clock helpers. Expiry is kept in unix milliseconds so second-long test lifetimes
//! still work; callers only ever see whole seconds in UTC with a `Z`.

use std::time::{Duration, SystemTime, UNIX_EPOCH};

/// Clocks further apart than this break other tools' token checks (JWT `iat`/`exp`), and
/// a correction of that size moves every cached expiry by as much.
pub const MAX_CLOCK_SKEW_SECS: i64 = 60;

/// How far `server_ms` (a server's `Date`, whole seconds) says our clock is off, when
/// that is more than `MAX_CLOCK_SKEW_SECS`: a warning naming the offset and the fix.
pub fn skew_warning(server_ms: u64, local_ms: u64) -> Option<String> {
    let offset = (local_ms as i64 - server_ms as i64) / 1000;
    if offset.abs() <= MAX_CLOCK_SKEW_SECS {
        return None;
    }
    Some(format!(
        "this machine's clock is {}s {} BSN.cloud's (its Date header): cached tokens are timed by it, so synchronise it (NTP, e.g. `timedatectl set-ntp true`)",
        offset.abs(),
        if offset > 0 { "ahead of" } else { "behind" }
    ))
}

pub fn now_ms() -> u64 {
    SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .unwrap_or(Duration::ZERO)
        .as_millis() as u64
}

/// RFC 3339, UTC, whole seconds, `Z` (Bazel rejects fractional seconds). Times past
/// 9999-12-31T23:59:59Z (a corrupt entry, an absurd `expires_in`) print as that.
pub fn rfc3339(unix_ms: u64) -> String {
    const LAST_SECOND_OF_9999: u64 = 253_402_300_799;
    let t = UNIX_EPOCH + Duration::from_secs((unix_ms / 1000).min(LAST_SECOND_OF_9999));
    humantime::format_rfc3339_seconds(t).to_string()
}

/// An HTTP `Date` (IMF-fixdate, `Tue, 01 Dec 2026 00:00:00 GMT`) as unix seconds.
pub fn parse_http_date(text: &str) -> Option<u64> {
    const MONTHS: [&str; 12] = [
        "Jan", "Feb", "Mar", "Apr", "May", "Jun", "Jul", "Aug", "Sep", "Oct", "Nov", "Dec",
    ];
    let parts: Vec<&str> = text.split_whitespace().collect();
    let [_, day, month, year, clock, "GMT"] = parts.as_slice() else {
        return None;
    };
    let month = MONTHS.iter().position(|m| m == month)? + 1;
    let stamp = format!("{year}-{month:02}-{:0>2}T{clock}Z", day);
    let t = humantime::parse_rfc3339(&stamp).ok()?;
    Some(t.duration_since(UNIX_EPOCH).ok()?.as_secs())
}

/// A short human description of a span, for `status`: "4m 12s", "expired 3s ago".
pub fn describe_until(target_ms: u64, now_ms: u64) -> String {
    if target_ms >= now_ms {
        format!("in {}", short((target_ms - now_ms) / 1000))
    } else {
        format!("expired {} ago", short((now_ms - target_ms) / 1000))
    }
}

pub fn short(secs: u64) -> String {
    let (h, m, s) = (secs / 3600, secs / 60 % 60, secs % 60);
    match (h, m) {
        (0, 0) => format!("{s}s"),
        (0, _) => format!("{m}m {s:02}s"),
        _ => format!("{h}h {m:02}m"),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn http_dates_parse() {
        assert_eq!(
            parse_http_date("Tue, 01 Dec 2026 00:00:00 GMT"),
            Some(1_796_083_200)
        );
        assert_eq!(parse_http_date("yesterday"), None);
    }

    #[test]
    fn rfc3339_is_whole_seconds_utc() {
        assert_eq!(rfc3339(0), "1970-01-01T00:00:00Z");
        assert_eq!(rfc3339(1_796_000_399_999), "2026-11-30T00:59:59Z");
    }

    #[test]
    fn short_spans() {
        assert_eq!(short(5), "5s");
        assert_eq!(short(65), "1m 05s");
        assert_eq!(short(3 * 3600 + 120), "3h 02m");
        assert_eq!(describe_until(10_000, 4_000), "in 6s");
        assert_eq!(describe_until(4_000, 10_000), "expired 6s ago");
    }
}
