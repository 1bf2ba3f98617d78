//! Fleet mode as Windows and arm64 code (`foreign::fleet`, run by .ci/cross with the rest
//! of `foreign`): the cross-built helper on three simulated hosts (one cache directory
//! each) shares a real redis-server started here, the way those platforms reach one: TCP
//! with a password, and TLS trusted through SSL_CERT_FILE (rustls-native-certs reads it
//! before the Windows certificate store). What this adds to the native fleet tests is the
//! platform's sockets, name lookup, certificate loading and file locks under the fleet.

use super::foreign;
use crate::redis_server::{Opts, Redis};
use crate::util::*;
use bsn_emulator::{Fault, FaultKind};
use serde_json::Value;
use std::process::Command;

const PASSWORD: &str = "fleet-password";

fn fleet_redis() -> Redis {
    Redis::with(Opts {
        tcp: true,
        tls: true,
        requirepass: Some(PASSWORD.into()),
        ..Opts::default()
    })
    .expect("redis-server (.ci/run installs it)")
}

/// `get` on `host` under the runner. Hosts 0 and 1 use TCP, host 2 TLS; `trust` says
/// whether SSL_CERT_FILE names the test CA.
fn on_host(env: &TestEnv, redis: &Redis, host: usize, trust: bool) -> Command {
    let f = foreign();
    let mut cmd = f.cmd(env, "bsn-credential-helper", &["get"]);
    // A TLS handshake under qemu on a loaded machine can take longer than the default 1 s
    // (seen: the host then renewed alone, with a warning); these tests are not about that.
    cmd.env("BSN_CACHE_DIR", f.path(&env.path(&format!("host-{host}"))))
        .env("BSN_SHARED_CACHE_PASSWORD", PASSWORD)
        .env("BSN_SHARED_CACHE_TIMEOUT_MS", "10000");
    if host == 2 {
        cmd.env("BSN_SHARED_CACHE", redis.tls_url());
        if trust {
            cmd.env("SSL_CERT_FILE", f.path(&redis.certificate()));
        }
    } else {
        cmd.env("BSN_SHARED_CACHE", redis.tcp_url());
    }
    cmd
}

fn answer(env: &TestEnv, redis: &Redis, host: usize, request: &str) -> Value {
    let out = run_with_stdin(on_host(env, redis, host, true), request);
    assert!(out.status.success(), "host {host}: {}", stderr(&out));
    let v: Value = serde_json::from_slice(&out.stdout).unwrap();
    assert!(v.get("warning").is_none(), "host {host}: {v}");
    v
}

/// One login serves every host (over TCP and TLS); at expiry 12 processes on three hosts
/// make one more token request.
#[test]
#[ignore = "run by .ci/cross under wine / qemu-aarch64"]
fn foreign_fleet_over_tcp_and_tls_shares_one_token() {
    let redis = fleet_redis();
    let mut env = TestEnv::with_ttls(3, 60, 600);
    env.set("BSN_MIN_TTL", "0");
    let first = answer(&env, &redis, 0, "");
    assert_eq!(first["source"], "login", "{first}");
    for host in [1, 2] {
        let v = answer(&env, &redis, host, "");
        assert_eq!(v["source"], "shared", "host {host}: {v}");
        assert_eq!(v["access_token"], first["access_token"], "host {host}");
    }
    assert_eq!(env.stats().token_requests.client_credentials, 1);

    sleep_ms(3_100);
    // Held for 2 s so every caller, whatever the runner's start-up, meets the renewal.
    env.emu.inject(Fault::new(FaultKind::Slow).delay_ms(2_000));
    let outputs = storm(12, |i| (on_host(&env, &redis, i % 3, true), String::new()));
    let tokens = distinct_tokens(&outputs);
    let answers: Vec<String> = outputs
        .iter()
        .map(|o| format!("{} {}", stdout(o), stderr(o)))
        .collect();
    assert_eq!(tokens.len(), 1, "the fleet shares one token: {answers:#?}");
    assert!(!tokens.contains(first["access_token"].as_str().unwrap()));
    let stats = env.stats();
    assert_eq!(stats.token_requests.client_credentials, 2, "{stats:?}");
}

/// A TLS host that does not trust the server is told to set SSL_CERT_FILE and still gets a
/// token; with Redis stopped (the platform's socket timeouts) or gone a host renews alone,
/// with a warning that never holds the password.
#[test]
#[ignore = "run by .ci/cross under wine / qemu-aarch64"]
fn foreign_fleet_that_cannot_be_used_costs_a_warning_not_the_call() {
    let mut redis = fleet_redis();
    let env = TestEnv::new();
    assert_eq!(answer(&env, &redis, 0, "")["source"], "login");
    assert_eq!(answer(&env, &redis, 2, "")["source"], "shared");

    // Host 2's own file holds the token: a cache hit never asks the fleet, so trust does
    // not matter. A fresh host must ask it and is told what to set.
    let v: Value =
        serde_json::from_slice(&run_with_stdin(on_host(&env, &redis, 2, false), "").stdout)
            .unwrap();
    assert_eq!(v["source"], "cache", "{v}");
    let mut cmd = on_host(&env, &redis, 2, false);
    cmd.env("BSN_CACHE_DIR", foreign().path(&env.path("host-3")));
    let out = run_with_stdin(cmd, "");
    assert!(out.status.success(), "{}", stderr(&out));
    let text = format!("{} {}", stdout(&out), stderr(&out));
    assert!(text.contains("SSL_CERT_FILE"), "{text}");
    assert!(!text.contains(PASSWORD), "{text}");

    // A Redis that accepts connections but never answers (stopped): the platform's socket
    // timeouts give up after BSN_SHARED_CACHE_TIMEOUT_MS and the host renews alone.
    redis.signal("-STOP");
    let mut cmd = on_host(&env, &redis, 0, true);
    cmd.env("BSN_SHARED_CACHE_TIMEOUT_MS", "300");
    let start = std::time::Instant::now();
    let out = run_with_stdin(cmd, r#"{"force_refresh":true}"#);
    let took = start.elapsed();
    redis.signal("-CONT");
    let v: Value = serde_json::from_slice(&out.stdout).unwrap();
    assert!(out.status.success(), "{v} {}", stderr(&out));
    assert_eq!(v["source"], "login", "{v}");
    assert!(
        v["warning"]
            .as_str()
            .unwrap_or_default()
            .contains("in time"),
        "{v}"
    );
    assert!(took < std::time::Duration::from_secs(5), "{took:?}");

    redis.kill();
    let out = run_with_stdin(on_host(&env, &redis, 1, true), r#"{"force_refresh":true}"#);
    assert!(out.status.success(), "{}", stderr(&out));
    let v: Value = serde_json::from_slice(&out.stdout).unwrap();
    assert_eq!(v["source"], "login", "{v}");
    let warning = v["warning"].as_str().unwrap_or_default();
    assert!(warning.contains("127.0.0.1"), "names the store: {v}");
    assert!(!warning.contains(PASSWORD), "{v}");
}

/// Password grant, 3 s access tokens (a next host's start under the runner must fit in
/// them): the hosts take turns renewing one user session for six rounds; every refresh
/// token is presented once and one login serves them all.
#[test]
#[ignore = "run by .ci/cross under wine / qemu-aarch64"]
fn foreign_fleet_rotation_across_hosts_never_reuses_a_refresh_token() {
    let redis = fleet_redis();
    let mut env = TestEnv::with_ttls(3, 60, 600).password_grant();
    env.set("BSN_MIN_TTL", "0");
    assert_eq!(answer(&env, &redis, 0, "")["source"], "login");
    let mut seen = std::collections::BTreeSet::new();
    for round in 1..=6 {
        sleep_ms(3_100);
        let host = round % 3;
        let v = answer(&env, &redis, host, "");
        assert_eq!(v["source"], "refresh", "round {round} on host {host}: {v}");
        assert!(seen.insert(v["access_token"].to_string()), "a new token");
        // The next host in line finds it in the fleet, not by renewing again.
        let next = answer(&env, &redis, (host + 1) % 3, "");
        assert_eq!(next["access_token"], v["access_token"], "round {round}");
    }
    let stats = env.stats();
    assert_eq!(stats.token_requests.password, 1, "{stats:?}");
    assert_eq!(stats.token_requests.refresh_token, 6, "{stats:?}");
    assert_eq!(stats.refresh_tokens_reused, 0, "{stats:?}");
    assert_eq!(stats.sessions_ended_by_reuse, 0, "{stats:?}");
}
