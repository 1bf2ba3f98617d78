//! Load: many helper processes at once, and parallel callers over many token lifetimes.

use crate::util::*;
use serde_json::Value;
use std::collections::BTreeSet;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::time::{Duration, Instant};

fn tokens_of(outputs: &[std::process::Output]) -> BTreeSet<String> {
    outputs
        .iter()
        .map(|out| {
            assert!(out.status.success(), "a storm call failed: {}", stderr(out));
            let v: Value = serde_json::from_slice(&out.stdout).unwrap();
            v["access_token"].as_str().unwrap().to_string()
        })
        .collect()
}

#[test]
fn storm_of_64_after_expiry_client_credentials_one_token_request() {
    let mut env = TestEnv::with_ttls(1, 60, 600);
    env.set("BSN_MIN_TTL", "0");
    let before = env.token();
    sleep_ms(1050); // expired now
    env.slow_next_renewal();
    let outputs = storm(64, |_| (env.cmd(&["get"]), String::new()));
    let tokens = tokens_of(&outputs);
    assert_eq!(tokens.len(), 1, "64 callers share one token: {tokens:?}");
    assert!(!tokens.contains(&before));
    let stats = env.stats();
    assert_eq!(stats.token_requests.client_credentials, 2, "{stats:?}");
    assert_eq!(stats.tokens_issued, 2, "{stats:?}");
    assert_eq!(stats.network_selections, 2, "{stats:?}");
}

#[test]
fn storm_of_64_after_expiry_password_grant_one_refresh() {
    let mut env = TestEnv::with_ttls(1, 60, 600).password_grant();
    env.set("BSN_MIN_TTL", "0");
    let before = env.token();
    sleep_ms(1050);
    env.slow_next_renewal();
    let outputs = storm(64, |_| (env.cmd(&["get"]), String::new()));
    let tokens = tokens_of(&outputs);
    assert_eq!(tokens.len(), 1, "64 callers share one token: {tokens:?}");
    assert!(!tokens.contains(&before));
    let stats = env.stats();
    assert_eq!(stats.token_requests.password, 1, "no new login: {stats:?}");
    assert_eq!(
        stats.token_requests.refresh_token, 1,
        "one refresh: {stats:?}"
    );
    assert_eq!(stats.refresh_tokens_reused, 0, "{stats:?}");
    // A refreshed token keeps its session's network: no second selection.
    assert_eq!(stats.network_selections, 1, "{stats:?}");
}

/// Six threads call the helper back to back (no lockstep) for 6.5 s with access tokens of
/// 1 s, refresh tokens of 3 s and a session of 4 s: 6+ access lifetimes and a session end.
/// Every answer must be a token the API accepts, bound to the network.
#[test]
fn parallel_loops_over_many_lifetimes_and_a_session_end() {
    let mut env = TestEnv::with_ttls(1, 3, 4).password_grant();
    env.set("BSN_MIN_TTL", "1");
    let deadline = Instant::now() + Duration::from_millis(6500);
    let calls = AtomicUsize::new(0);
    let sources = std::sync::Mutex::new(std::collections::BTreeMap::<String, usize>::new());
    let session_url = format!("{}/2022/06/REST/Self/Session", env.emu.base_url());
    std::thread::scope(|s| {
        for worker in 0..6 {
            let (env, calls, sources, session_url) = (&env, &calls, &sources, &session_url);
            s.spawn(move || {
                while Instant::now() < deadline {
                    let request = if worker % 2 == 0 {
                        ""
                    } else {
                        r#"{"version":1}"#
                    };
                    let (code, v, err) = env.get(request);
                    let n = calls.fetch_add(1, Ordering::SeqCst) + 1;
                    assert_eq!(code, 0, "call {n} (worker {worker}) failed: {v} {err}");
                    *sources
                        .lock()
                        .unwrap()
                        .entry(v["source"].as_str().unwrap().to_string())
                        .or_default() += 1;
                    let token = v["access_token"].as_str().unwrap();
                    let resp = attohttpc::get(session_url)
                        .bearer_auth(token)
                        .send()
                        .unwrap();
                    assert_eq!(
                        resp.status().as_u16(),
                        200,
                        "call {n}: token refused by API"
                    );
                    let session: Value = serde_json::from_str(&resp.text().unwrap()).unwrap();
                    assert_eq!(session["network"]["name"], "Demo", "call {n}");
                }
            });
        }
    });
    let stats = env.stats();
    let sources = sources.into_inner().unwrap();
    eprintln!(
        "{} calls, sources {sources:?}, {stats:?}",
        calls.load(Ordering::SeqCst)
    );
    assert_eq!(stats.refresh_tokens_reused, 0, "{stats:?}");
    assert_eq!(stats.sessions_ended_by_reuse, 0, "{stats:?}");
    // Fails with the min_ttl cap at exactly half a lifetime (latency makes it 3).
    assert!(stats.max_active_tokens <= 2, "{stats:?}");
    assert!(
        stats.token_requests.refresh_token >= 3,
        "tokens were renewed by refresh: {stats:?}"
    );
    assert!(
        stats.token_requests.password >= 2,
        "the session end forced exactly the needed new login: {stats:?}"
    );
    assert!(sources["cache"] > 0);
}
