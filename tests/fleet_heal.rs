//! Issue 18: no one who can write Redis stops the fleet, the fleet heals what is not
//! its own, keys that disagree do not fight, and `doctor`, `erase` and TLS failures say
//! what is wrong. Key names are found with SCAN after a first `get`, never computed.
//!
//! On the code before issue 18 every test here fails (see each test's comment).

use crate::fleet::{FORCE, answer, get, on_host};
use crate::redis_server::{Opts, Redis};
use crate::util::*;
use serde_json::Value;
use std::time::{Duration, Instant};

/// `SET <lock> x PX 600000` by a squatter: 3 processes on each of 3 hosts, every token
/// expired, all answer (exit 0) within lock_timeout + a few seconds; on each host a
/// warning on stderr names the lock (a process served by its sibling's renewal need not).
/// Today: each waits lock_timeout, then exits 9 (lock_timeout): no per-host fallback.
#[test]
fn a_squatted_fleet_lock_stops_no_host() {
    let Some(redis) = Redis::start() else { return };
    let mut env = TestEnv::with_ttls(2, 60, 600).password_grant();
    env.set("BSN_MIN_TTL", "0");
    env.set("BSN_LOCK_TIMEOUT", "4");
    assert_eq!(get(&env, &redis, 0)["source"], "login");
    get(&env, &redis, 1);
    let lock = format!("{}:lock", redis.entry_base());
    assert_eq!(redis.cli(&["SET", &lock, "x", "PX", "600000"]).trim(), "OK");
    sleep_ms(2100);
    let start = Instant::now();
    let outputs = storm(9, |i| {
        (on_host(&env, &redis, i % 3, &["get"]), String::new())
    });
    let took = start.elapsed();
    let mut warned = [false; 3];
    for (i, out) in outputs.iter().enumerate() {
        answer(out);
        warned[i % 3] |= stderr(out).to_lowercase().contains("lock");
    }
    assert_eq!(warned, [true; 3], "each host warns about the lock");
    assert!(took < Duration::from_secs(4 + 6), "{took:?}");
    let stats = env.stats();
    assert_eq!(stats.refresh_tokens_reused, 0, "{stats:?}");
    assert_eq!(stats.sessions_ended_by_reuse, 0, "{stats:?}");
}

/// Hosts 0 and 1 seal with one BSN_SHARED_CACHE_KEY, hosts 2 and 3 with another, on one
/// Redis, over three access lifetimes: each group logs in once and refreshes thereafter,
/// in an entry of its own (key names are a keyed hash under the sealing key).
/// Today: the groups overwrite one entry they cannot open: 6 logins.
#[test]
fn two_sealing_keys_on_one_redis_each_share_their_own_session() {
    let Some(redis) = Redis::start() else { return };
    let mut env = TestEnv::with_ttls(2, 60, 600).password_grant();
    env.set("BSN_MIN_TTL", "0");
    let get_as = |host: usize| {
        let key = if host < 2 { "a" } else { "b" }.repeat(32);
        let mut cmd = on_host(&env, &redis, host, &["get"]);
        cmd.env("BSN_SHARED_CACHE_KEY", key);
        answer(&run_with_stdin(cmd, ""))
    };
    for round in 0..3 {
        for host in 0..4 {
            get_as(host);
        }
        if round < 2 {
            sleep_ms(2100);
        }
    }
    let stats = env.stats();
    assert_eq!(
        stats.token_requests.password, 2,
        "one login per group: {stats:?}"
    );
    assert!(stats.token_requests.refresh_token >= 4, "{stats:?}");
    let entries = redis.keys("bsn:*:tok");
    assert_eq!(entries.len(), 2, "an entry per sealing key: {entries:?}");
    assert_eq!(stats.refresh_tokens_reused, 0, "{stats:?}");
    assert_eq!(stats.sessions_ended_by_reuse, 0, "{stats:?}");
}

/// A non-numeric `:gen`, or a `:tok` that is a list: the next renewal answers (a warning
/// is fine) and overwrites it, so a fresh host is then answered from the fleet.
/// Today: every read fails (not a number / WRONGTYPE) until someone repairs Redis.
#[test]
fn a_garbage_generation_or_a_token_of_the_wrong_type_is_healed_by_the_next_renewal() {
    for damage in ["gen", "tok"] {
        let Some(redis) = Redis::start() else { return };
        let env = TestEnv::new().password_grant();
        assert_eq!(get(&env, &redis, 0)["source"], "login");
        let base = redis.entry_base();
        if damage == "gen" {
            redis.cli(&["SET", &format!("{base}:gen"), "abc"]);
        } else {
            redis.cli(&["DEL", &format!("{base}:tok")]);
            redis.cli(&["LPUSH", &format!("{base}:tok"), "x"]);
        }
        answer(&run_with_stdin(on_host(&env, &redis, 0, &["get"]), FORCE));
        let healed = get(&env, &redis, 1);
        assert_eq!(healed["source"], "shared", "{damage}: {healed}");
        assert_eq!(env.stats().refresh_tokens_reused, 0);
    }
}

/// `erase` on one host in fleet mode revokes the token and expires the fleet entry: a
/// fresh host then gets a different token. Today: it gets the erased (revoked) one.
#[test]
fn erase_in_fleet_mode_stops_the_fleet_serving_the_erased_token() {
    let Some(redis) = Redis::start() else { return };
    let env = TestEnv::new();
    let erased = get(&env, &redis, 0)["access_token"].clone();
    let out = run_with_stdin(on_host(&env, &redis, 0, &["erase"]), "");
    assert!(out.status.success(), "{}", stderr(&out));
    let fresh = get(&env, &redis, 5);
    assert_ne!(fresh["access_token"], erased, "{fresh}");
}

fn doctor(env: &TestEnv, redis: &Redis, password: Option<&str>) -> (bool, String) {
    let mut cmd = on_host(env, redis, 0, &["doctor"]);
    if let Some(p) = password {
        cmd.env("BSN_SHARED_CACHE_PASSWORD", p);
    }
    let out = run_with_stdin(cmd, "");
    (
        out.status.success(),
        format!("{}{}", stdout(&out), stderr(&out)),
    )
}

fn names_the_shared_cache(text: &str) -> bool {
    let t = text.to_lowercase();
    t.contains("shared cache") || t.contains("shared_cache")
}

/// Today: "all checks passed" with Redis down or a wrong Redis password.
#[test]
fn doctor_fails_naming_the_shared_cache_when_redis_is_down_or_refuses_the_password() {
    let Some(mut down) = Redis::start() else {
        return;
    };
    let env = TestEnv::new();
    down.kill();
    let (ok, text) = doctor(&env, &down, None);
    assert!(!ok && names_the_shared_cache(&text), "Redis down: {text}");
    let Some(locked) = Redis::with(Opts {
        requirepass: Some("right-password".into()),
        ..Opts::default()
    }) else {
        return;
    };
    let (ok, text) = doctor(&env, &locked, Some("right-password"));
    assert!(ok, "the right password passes: {text}");
    let (ok, text) = doctor(&env, &locked, Some("wrong-password"));
    assert!(
        !ok && names_the_shared_cache(&text),
        "wrong password: {text}"
    );
    assert!(!text.contains("wrong-password"), "{text}");
}

/// `doctor` lists every `shared_cache*` setting with its source, never the password.
/// Today: no shared_cache line at all.
#[test]
fn doctor_lists_the_shared_cache_settings_with_their_sources() {
    let Some(redis) = Redis::with(Opts {
        requirepass: Some("right-password".into()),
        ..Opts::default()
    }) else {
        return;
    };
    let env = TestEnv::new();
    let (ok, text) = doctor(&env, &redis, Some("right-password"));
    assert!(ok, "{text}");
    let line = |name: &str| text.lines().find(|l| l.trim_start().starts_with(name));
    let url = line("shared_cache ").unwrap_or_else(|| panic!("no shared_cache line: {text}"));
    assert!(url.contains("BSN_SHARED_CACHE"), "its source: {url}");
    let password = line("shared_cache_password").unwrap_or_else(|| panic!("{text}"));
    assert!(password.contains("BSN_SHARED_CACHE_PASSWORD"), "{password}");
    assert!(!text.contains("right-password"), "{text}");
}

/// `rediss://` to a server whose certificate nobody trusts: the message names the
/// certificate and SSL_CERT_FILE. Today: "closed the connection".
#[test]
fn an_untrusted_rediss_certificate_is_named_with_ssl_cert_file() {
    let Some(redis) = Redis::with(Opts {
        tls: true,
        ..Opts::default()
    }) else {
        return;
    };
    assert_eq!(
        redis.tls_ping_trusting_its_certificate(),
        "PONG",
        "TLS is up"
    );
    let env = TestEnv::new();
    let mut cmd = on_host(&env, &redis, 0, &["get"]);
    cmd.env("BSN_SHARED_CACHE", redis.tls_url());
    let out = run_with_stdin(cmd, "");
    let v: Value = answer(&out);
    let text = format!("{v} {}", stderr(&out));
    assert!(text.contains("certificate"), "{text}");
    assert!(text.contains("SSL_CERT_FILE"), "{text}");
}

/// The control for the test above: the same server trusted through SSL_CERT_FILE is used
/// (no warning, and a second host is answered from the fleet). Passes today.
#[test]
fn a_rediss_server_trusted_through_ssl_cert_file_is_shared() {
    let Some(redis) = Redis::with(Opts {
        tls: true,
        ..Opts::default()
    }) else {
        return;
    };
    let env = TestEnv::new();
    let get_tls = |host: usize| {
        let mut cmd = on_host(&env, &redis, host, &["get"]);
        cmd.env("BSN_SHARED_CACHE", redis.tls_url())
            .env("SSL_CERT_FILE", redis.certificate());
        answer(&run_with_stdin(cmd, ""))
    };
    let first = get_tls(0);
    assert!(first.get("warning").is_none(), "{first}");
    assert_eq!(get_tls(1)["source"], "shared");
}

/// The client secret command runs once per renewal, also when the fleet cannot be used
/// and the host renews alone (it used to run again for that second attempt).
#[test]
fn the_secret_command_runs_once_when_a_host_renews_alone() {
    let Some(mut redis) = Redis::start() else {
        return;
    };
    let mut env = TestEnv::new();
    let calls = counting_secret_command(&mut env, None);
    redis.kill();
    let mut cmd = on_host(&env, &redis, 0, &["get"]);
    cmd.env_remove("BSN_CLIENT_SECRET");
    let v = answer(&run_with_stdin(cmd, ""));
    assert_eq!(v["source"], "login", "{v}");
    assert!(
        v["warning"].as_str().unwrap_or_default().contains("alone"),
        "{v}"
    );
    assert_eq!(calls(), 1, "the secret command ran {} times", calls());
}
