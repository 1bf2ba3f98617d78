//! The broker's decisions with the clock passed in: which entry may be handed out,
//! what a new entry inherits, and when a cached token stands in for a failed renewal.
use super::*;
use crate::error::{Error, ErrorCode};

fn key() -> CacheKey {
    CacheKey {
        token_url: "https://auth.test/token".into(),
        api_url: "https://api.test".into(),
        client_id: "c".into(),
        grant: "password".into(),
        username: Some("u".into()),
        network: Some("N".into()),
        scope: None,
    }
}

/// A 300 s token obtained at t = 1000 s.
fn entry() -> Entry {
    Entry {
        format: FORMAT,
        key: key(),
        access_token: Secret::new("at".into()),
        token_type: "Bearer".into(),
        obtained_at_ms: 1_000_000,
        expires_at_ms: 1_300_000,
        scope: None,
        refresh_token: Some(Secret::new("rt".into())),
        refresh_expires_at_ms: Some(2_800_000),
        session_started_at_ms: Some(1_000_000),
        network_selected: true,
    }
}

fn rejecting(token: &str) -> Request {
    Request {
        rejected_token: Some(Secret::new(token.into())),
        force_refresh: false,
    }
}

#[test]
fn usable_until_min_ttl_before_expiry() {
    let (e, req) = (entry(), Request::default());
    assert!(usable(&e, &req, 60, 1_239_000));
    assert!(!usable(&e, &req, 60, 1_240_000));
    // Network not selected yet: never handed out, however fresh.
    let unselected = Entry {
        network_selected: false,
        ..entry()
    };
    assert!(!usable(&unselected, &req, 60, 1_000_000));
    // The rejected token is never handed out again; another one is.
    assert!(!usable(&e, &rejecting("at"), 60, 1_000_000));
    assert!(usable(&e, &rejecting("other"), 60, 1_000_000));
}

#[test]
fn an_entry_obtained_in_the_future_is_stale() {
    let (e, req) = (entry(), Request::default());
    // Obtained at 1000 s; the clock now reads 2 s, then 3 s earlier.
    assert!(usable(&e, &req, 0, 998_000));
    assert!(!usable(&e, &req, 0, 997_999));
    // A clock 900 s behind: the entry would look valid for 20 more minutes.
    assert!(!usable(&e, &req, 0, 100_000));
    // Nor is it the offline fallback's stand-in.
    let err = crate::error::Error::new(ErrorCode::Network, "x");
    let ahead = Entry {
        obtained_at_ms: now_ms() + 3_600_000,
        expires_at_ms: now_ms() + 3_900_000,
        ..entry()
    };
    assert!(renew::fallback(Some(ahead), err, &req).is_err());
}

#[test]
fn min_ttl_is_capped_at_45_percent_of_the_lifetime() {
    let e = entry();
    assert_eq!(needed_ms(&e, 60), 60_000);
    assert_eq!(needed_ms(&e, 900), 135_000);
    assert_eq!(needed_ms(&e, u64::MAX), 135_000);
    assert!(usable(&e, &Request::default(), 900, 1_164_000));
    assert!(!usable(&e, &Request::default(), 900, 1_166_000));
}

#[test]
fn a_refresh_token_within_a_second_of_expiry_is_not_presented() {
    assert!(renew::worth_refreshing(None, 5_000));
    assert!(renew::worth_refreshing(Some(6_001), 5_000));
    assert!(!renew::worth_refreshing(Some(6_000), 5_000));
    assert!(!renew::worth_refreshing(Some(4_000), 5_000));
    assert!(!renew::worth_refreshing(Some(5_000), u64::MAX));
}

#[test]
fn refresh_continues_the_session_and_login_starts_one() {
    let set = |refresh: bool| TokenSet {
        access_token: Secret::new("new".into()),
        expires_in: Some(300),
        token_type: Some("Bearer".into()),
        refresh_token: refresh.then(|| Secret::new("rt2".into())),
        refresh_expires_in: Some(0),
        scope: None,
        server_time_ms: None,
    };
    let refreshed = new_entry(key(), set(true), 2_000_000, Some(&entry()));
    assert_eq!(refreshed.session_started_at_ms, Some(1_000_000));
    assert!(refreshed.network_selected);
    assert_eq!(
        refreshed.refresh_expires_at_ms, None,
        "0 means no own expiry"
    );
    assert_eq!(refreshed.expires_at_ms, 2_300_000);
    let login = new_entry(key(), set(true), 2_000_000, None);
    assert_eq!(login.session_started_at_ms, Some(2_000_000));
    assert!(!login.network_selected);
    let client = new_entry(key(), set(false), 2_000_000, None);
    assert_eq!(client.session_started_at_ms, None);
}

#[test]
fn fallback_only_for_transient_failures_with_a_valid_unrejected_token() {
    let try_with = |code: ErrorCode, current: Option<Entry>, req: &Request| {
        renew::fallback(current, Error::new(code, "x"), req)
    };
    let ok = Request::default();
    for code in [
        ErrorCode::Network,
        ErrorCode::Server,
        ErrorCode::RateLimited,
        ErrorCode::Cache,
        ErrorCode::LockTimeout,
    ] {
        let valid = Entry {
            expires_at_ms: u64::MAX,
            ..entry()
        };
        let out = try_with(code, Some(valid), &ok).unwrap();
        assert_eq!(out.source, Source::Cache);
        assert!(
            out.warning
                .unwrap()
                .starts_with("x; returning the cached token")
        );
    }
    let valid = || Entry {
        expires_at_ms: u64::MAX,
        ..entry()
    };
    // A wrong secret is not transient: no cached token hides it.
    let e = try_with(ErrorCode::InvalidCredentials, Some(valid()), &ok).unwrap_err();
    assert_eq!(e.code, ErrorCode::InvalidCredentials);
    // Never the rejected token, never an expired one, never one without its network.
    assert!(try_with(ErrorCode::Network, Some(valid()), &rejecting("at")).is_err());
    assert!(try_with(ErrorCode::Network, Some(entry()), &ok).is_err());
    let unselected = Entry {
        network_selected: false,
        ..valid()
    };
    assert!(try_with(ErrorCode::Network, Some(unselected), &ok).is_err());
    assert!(try_with(ErrorCode::Network, None, &ok).is_err());
}
