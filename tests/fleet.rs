//! Fleet mode: simulated hosts (one cache directory each) sharing a real redis-server on a
//! unix socket, persistence off (tests/redis_server.rs). Rollbacks of Redis are in
//! `fleet_rollback`, a fleet that heals and says what is wrong in `fleet_heal`.

use crate::redis_server::Redis;
use crate::util::*;
use bsn_emulator::{Fault, FaultKind, FaultTarget};
use serde_json::Value;
use std::collections::BTreeSet;
use std::process::{Command, Output, Stdio};
use std::time::{Duration, Instant};

/// A helper command on simulated host `host` (its own cache directory).
pub fn on_host(env: &TestEnv, redis: &Redis, host: usize, args: &[&str]) -> Command {
    let mut cmd = env.cmd(args);
    cmd.env("BSN_CACHE_DIR", env.path(&format!("host-{host}")))
        .env("BSN_SHARED_CACHE", redis.url());
    cmd
}

pub fn answer(out: &Output) -> Value {
    assert!(out.status.success(), "call failed: {}", stderr(out));
    serde_json::from_slice(&out.stdout).unwrap()
}

pub fn get(env: &TestEnv, redis: &Redis, host: usize) -> Value {
    answer(&run_with_stdin(on_host(env, redis, host, &["get"]), ""))
}

pub const FORCE: &str = r#"{"force_refresh":true}"#;

/// Renewal on `host`: it takes the current token first (from the fleet or its own file), so
/// its `force_refresh` renews that one instead of adopting it as new.
pub fn renew_on(env: &TestEnv, redis: &Redis, host: usize) -> Value {
    get(env, redis, host);
    answer(&run_with_stdin(on_host(env, redis, host, &["get"]), FORCE))
}

#[test]
fn hosts_times_processes_at_expiry_cause_one_token_request() {
    let Some(redis) = Redis::start() else { return };
    let mut env = TestEnv::with_ttls(1, 60, 600);
    env.set("BSN_MIN_TTL", "0");
    let first = get(&env, &redis, 0);
    assert_eq!(first["source"], "login");
    assert_eq!(get(&env, &redis, 1)["source"], "shared");
    sleep_ms(1050);
    let (hosts, per_host) = (4, 12);
    let outputs = storm(hosts * per_host, |i| {
        (on_host(&env, &redis, i % hosts, &["get"]), String::new())
    });
    let answers: Vec<Value> = outputs.iter().map(answer).collect();
    let tokens: BTreeSet<&str> = answers
        .iter()
        .map(|a| a["access_token"].as_str().unwrap())
        .collect();
    assert_eq!(tokens.len(), 1, "the fleet shares one token: {tokens:?}");
    let stats = env.stats();
    assert_eq!(stats.token_requests.client_credentials, 2, "{stats:?}");
    assert_eq!(stats.network_selections, 2, "{stats:?}");
    let sources: BTreeSet<&str> = answers
        .iter()
        .map(|a| a["source"].as_str().unwrap())
        .collect();
    assert!(sources.contains("shared"), "{sources:?}");
    // The next round is answered from each host's own file: Redis is not even asked.
    let out = run_with_stdin(on_host(&env, &redis, 3, &["-v", "get"]), "");
    assert_eq!(answer(&out)["source"], "cache");
    assert!(!stderr(&out).contains("shared cache"), "{}", stderr(&out));
}

/// Three hosts × two callers rotate one user session for 6.5 s (access 1 s, refresh 3 s,
/// session 4 s): refresh tokens are never presented twice and the application never holds
/// more than two unexpired tokens.
#[test]
fn user_sessions_rotating_across_hosts_never_reuse_a_refresh_token() {
    let Some(redis) = Redis::start() else { return };
    let mut env = TestEnv::with_ttls(1, 3, 4).password_grant();
    env.set("BSN_MIN_TTL", "1");
    let deadline = Instant::now() + Duration::from_millis(6500);
    std::thread::scope(|s| {
        for worker in 0..6 {
            let (env, redis) = (&env, &redis);
            s.spawn(move || {
                while Instant::now() < deadline {
                    get(env, redis, worker % 3);
                }
            });
        }
    });
    let stats = env.stats();
    eprintln!("{stats:?}");
    assert_eq!(stats.refresh_tokens_reused, 0, "{stats:?}");
    assert_eq!(stats.sessions_ended_by_reuse, 0, "{stats:?}");
    assert!(stats.max_active_tokens <= 2, "{stats:?}");
    assert!(stats.token_requests.refresh_token >= 3, "{stats:?}");
}

#[test]
fn redis_killed_mid_renewal_and_restarted_empty_reuses_nothing() {
    let Some(mut redis) = Redis::start() else {
        return;
    };
    let mut env = TestEnv::with_ttls(1, 30, 600).password_grant();
    env.set("BSN_MIN_TTL", "0");
    get(&env, &redis, 0);
    sleep_ms(1050);
    env.emu.inject(Fault::new(FaultKind::Slow).delay_ms(800));
    let slow = on_host(&env, &redis, 0, &["get"])
        .stdout(Stdio::piped())
        .spawn()
        .unwrap();
    sleep_ms(300);
    redis.restart_empty();
    let out = slow.wait_with_output().unwrap();
    assert!(out.status.success(), "{}", stderr(&out));
    for round in 0..3 {
        for host in 0..3 {
            get(&env, &redis, host);
        }
        if round < 2 {
            sleep_ms(1050);
        }
    }
    let stats = env.stats();
    assert_eq!(stats.refresh_tokens_reused, 0, "{stats:?}");
    assert_eq!(stats.sessions_ended_by_reuse, 0, "{stats:?}");
}

#[test]
fn a_stopped_redis_costs_a_warning_not_the_deadline() {
    let Some(redis) = Redis::start() else { return };
    let mut env = TestEnv::with_ttls(2, 30, 600).password_grant();
    env.set("BSN_MIN_TTL", "0");
    env.set("BSN_SHARED_CACHE_TIMEOUT_MS", "300");
    get(&env, &redis, 0);
    redis.signal("-STOP");
    let start = Instant::now();
    let hit = get(&env, &redis, 0);
    assert_eq!(hit["source"], "cache", "a local hit never asks Redis");
    let fresh = get(&env, &redis, 1);
    let took = start.elapsed();
    redis.signal("-CONT");
    assert_eq!(
        fresh["source"], "login",
        "a per-host login, never a local refresh"
    );
    let warning = fresh["warning"].as_str().unwrap_or_default();
    assert!(warning.contains("did not answer in time"), "{fresh}");
    assert!(warning.contains("redis.sock"), "{warning}");
    assert!(took < Duration::from_secs(3), "{took:?}");
    assert_eq!(env.stats().refresh_tokens_reused, 0);
}

#[test]
fn a_killed_lock_holder_is_replaced_after_the_lock_ttl() {
    let Some(redis) = Redis::start() else { return };
    let mut env = TestEnv::with_ttls(1, 60, 600);
    env.set("BSN_MIN_TTL", "0");
    env.set("BSN_TIMEOUT", "1");
    env.set("BSN_SHARED_CACHE_TIMEOUT_MS", "100");
    env.emu.inject(Fault::new(FaultKind::Slow).delay_ms(5000));
    let mut holder = on_host(&env, &redis, 0, &["get"])
        .stdout(Stdio::null())
        .spawn()
        .unwrap();
    wait_until(
        "the holder to take the lock",
        Duration::from_secs(3),
        || !redis.cli(&["KEYS", "*:lock"]).trim().is_empty(),
    );
    // Killed only once its request is held: killed earlier, the held answer would wait for
    // the next host's login instead (seen once under load), which BSN_TIMEOUT=1 fails.
    wait_until(
        "the holder's request to be held",
        Duration::from_secs(5),
        || env.stats().faults_served > 0,
    );
    holder.kill().unwrap();
    holder.wait().unwrap();
    let start = Instant::now();
    let took_over = get(&env, &redis, 1);
    assert_eq!(took_over["source"], "login");
    // Lock TTL = BSN_TIMEOUT 1 s + 4 × 100 ms + 2 s.
    assert!(
        start.elapsed() > Duration::from_millis(1500),
        "{:?}",
        start.elapsed()
    );
    assert!(
        start.elapsed() < Duration::from_secs(6),
        "{:?}",
        start.elapsed()
    );
}

#[test]
fn status_shows_the_fleet_entry_and_never_a_secret() {
    let Some(redis) = Redis::start() else { return };
    let env = TestEnv::new().password_grant();
    let token = get(&env, &redis, 0)["access_token"]
        .as_str()
        .unwrap()
        .to_string();
    let out = run_with_stdin(on_host(&env, &redis, 1, &["status", "--json"]), "");
    let v: Value = serde_json::from_slice(&out.stdout).unwrap();
    let shared = &v["profiles"][0]["shared"];
    assert_eq!(shared["answered"], true, "{v}");
    // Published once with the token, once more after its network selection.
    assert_eq!(shared["generation"], 2, "{v}");
    assert_eq!(shared["refresh_token"], true, "{v}");
    assert!(
        shared["renewed_by"].as_str().unwrap().contains("pid"),
        "{v}"
    );
    let text = run_with_stdin(on_host(&env, &redis, 1, &["status"]), "");
    let text = stdout(&text);
    assert!(text.contains("fleet entry    generation 2"), "{text}");
    // Nothing readable in Redis: not the token, the refresh token or the secret.
    let mut dump = String::new();
    for key in redis.cli(&["KEYS", "*"]).lines() {
        dump.push_str(key);
        dump.push_str(&redis.cli(&["GET", key]));
    }
    for needle in [token.as_str(), "demo-secret", "demo-password", "Demo"] {
        assert!(!dump.contains(needle), "{needle} readable in Redis");
        assert!(
            !text.contains(needle) || needle == "Demo",
            "{needle} in status"
        );
    }
}

/// git and Docker report a refused token with `erase`: the fleet entry stops handing it
/// out too, so the reporting host's next call renews instead of getting it back.
#[test]
fn a_token_rejected_through_erase_is_not_served_again_from_the_fleet() {
    let Some(redis) = Redis::start() else { return };
    let env = TestEnv::new();
    let first = get(&env, &redis, 0);
    assert_eq!(get(&env, &redis, 1)["access_token"], first["access_token"]);
    let out = run_with_stdin(
        on_host(&env, &redis, 1, &["docker", "erase"]),
        &env.emu.base_url(),
    );
    assert!(out.status.success(), "{}", stderr(&out));
    let renewed = get(&env, &redis, 1);
    assert_ne!(renewed["access_token"], first["access_token"], "{renewed}");
    assert_eq!(env.stats().token_requests.client_credentials, 2);
    // The other hosts now get the renewed token from the fleet once theirs is refused too.
    assert_eq!(
        get(&env, &redis, 2)["access_token"],
        renewed["access_token"]
    );
}

/// A new token refused during network selection (401: its session is gone) makes the fleet
/// path log in once more and select again, as the per-host path does.
#[test]
fn a_new_token_refused_by_network_selection_is_replaced_once_in_fleet_mode() {
    let Some(redis) = Redis::start() else { return };
    let env = TestEnv::new();
    env.emu
        .inject(Fault::new(FaultKind::Unauthorized).target(FaultTarget::Api));
    let first = get(&env, &redis, 0);
    assert_eq!(first["source"], "login");
    let stats = env.stats();
    assert_eq!(stats.token_requests.client_credentials, 2, "{stats:?}");
    assert_eq!(stats.network_selections, 1, "{stats:?}");
    assert_eq!(get(&env, &redis, 1)["access_token"], first["access_token"]);
}

/// Issue 21 item 6: a host keeps its copy of a fleet token without the refresh token. After
/// another host refreshed through the fleet, this host renewing on its own (Redis gone)
/// must log in, never present the refresh token the other host spent.
/// Break checked: `local_copy` (broker/fleet.rs) keeping `refresh_token` → reused 1.
#[test]
fn a_host_renewing_alone_never_presents_a_refresh_token_the_fleet_spent() {
    let Some(mut redis) = Redis::start() else {
        return;
    };
    let env = TestEnv::new().password_grant();
    assert_eq!(get(&env, &redis, 0)["source"], "login");
    assert_eq!(renew_on(&env, &redis, 1)["source"], "refresh");
    redis.kill();
    let alone = answer(&run_with_stdin(on_host(&env, &redis, 0, &["get"]), FORCE));
    assert_eq!(alone["source"], "login", "{alone}");
    let stats = env.stats();
    assert_eq!(stats.refresh_tokens_reused, 0, "{stats:?}");
    assert_eq!(stats.sessions_ended_by_reuse, 0, "{stats:?}");
}
