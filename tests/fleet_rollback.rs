//! Issue 18, rollbacks: a store that comes back with older state than the renewals already
//! made — Redis restarted from an older RDB dump, a replica that missed the write-ahead
//! promoted, captured values written back by anyone who can write Redis, a cache directory
//! copied back — must never make a spent refresh token presentable again. Allowed cost: at
//! most one extra login per rollback.
//!
//! All four fail on the code before issue 18 (refresh_tokens_reused 1): the fleet entry and
//! the file entry carry no proof that no later write was lost.

use crate::fleet::{FORCE, answer, get, on_host, renew_on};
use crate::redis_server::{Opts, Redis};
use crate::util::*;
use std::process::Command;

fn assert_no_reuse_and_at_most_one_login(env: &TestEnv, logins_before: u64) {
    let stats = env.stats();
    assert_eq!(stats.refresh_tokens_reused, 0, "{stats:?}");
    assert_eq!(stats.sessions_ended_by_reuse, 0, "{stats:?}");
    assert!(
        stats.token_requests.password <= logins_before + 1,
        "at most one extra login: {stats:?}"
    );
}

/// Every host renews twice more after the rollback: the fleet keeps working.
fn renew_everywhere(env: &TestEnv, redis: &Redis, hosts: &[usize]) {
    for _ in 0..2 {
        for &host in hosts {
            renew_on(env, redis, host);
        }
    }
}

/// SAVE → a refresh on another host → kill -9 → restart from that dump → renew.
#[test]
fn redis_restarted_from_an_older_dump_never_presents_a_spent_refresh_token() {
    let Some(mut redis) = Redis::start() else {
        return;
    };
    let env = TestEnv::new().password_grant();
    assert_eq!(get(&env, &redis, 0)["source"], "login");
    let older = redis.snapshot();
    assert_eq!(renew_on(&env, &redis, 1)["source"], "refresh");
    redis.crash_and_restart_from(&older);
    assert!(!redis.keys("bsn:*").is_empty(), "the dump was loaded");
    let logins = env.stats().token_requests.password;
    renew_on(&env, &redis, 2);
    renew_everywhere(&env, &redis, &[0, 1, 2]);
    assert_no_reuse_and_at_most_one_login(&env, logins);
}

/// A replica cut off (SIGSTOP, link dropped) while a host refreshes through the primary; the primary dies
/// and the replica is promoted (`REPLICAOF NO ONE`) with the entry from before the refresh.
#[test]
fn a_promoted_replica_that_missed_the_write_ahead_never_presents_a_spent_refresh_token() {
    let Some(mut primary) = Redis::with(Opts {
        tcp: true,
        ..Opts::default()
    }) else {
        return;
    };
    let replica = Redis::replica_of(&primary);
    let env = TestEnv::new().password_grant();
    assert_eq!(get(&env, &primary, 0)["source"], "login");
    primary.wait_for_replicas(1);
    let generation = format!("{}:gen", primary.entry_base());
    let replicated = primary.cli(&["GET", &generation]);
    primary.cut_off(&replica);
    assert_eq!(renew_on(&env, &primary, 1)["source"], "refresh");
    assert_ne!(primary.cli(&["GET", &generation]), replicated);
    primary.kill();
    replica.signal("-CONT");
    replica.promote();
    assert_eq!(
        replica.cli(&["GET", &generation]),
        replicated,
        "missed the refresh"
    );
    let logins = env.stats().token_requests.password;
    renew_on(&env, &replica, 2);
    renew_everywhere(&env, &replica, &[0, 1, 2]);
    assert_no_reuse_and_at_most_one_login(&env, logins);
}

/// Someone who can write Redis (but has no client secret) copies the entry's `:tok` and
/// `:gen` aside, and writes them back after another host refreshed. Sealing gives
/// integrity, not freshness: only state outside Redis can tell. The host that spent the
/// refresh token renews first, then the others.
#[test]
fn captured_fleet_values_written_back_never_make_a_spent_refresh_token_presentable() {
    let Some(redis) = Redis::start() else { return };
    let env = TestEnv::new().password_grant();
    assert_eq!(get(&env, &redis, 0)["source"], "login");
    let base = redis.entry_base();
    let copy = |from: &str, to: &str| {
        assert_eq!(redis.cli(&["COPY", from, to, "REPLACE"]).trim(), "1");
    };
    for part in ["tok", "gen"] {
        copy(&format!("{base}:{part}"), &format!("captured:{part}"));
    }
    assert_eq!(renew_on(&env, &redis, 1)["source"], "refresh");
    for part in ["tok", "gen"] {
        copy(&format!("captured:{part}"), &format!("{base}:{part}"));
    }
    let logins = env.stats().token_requests.password;
    for host in [1, 0, 2] {
        renew_on(&env, &redis, host);
    }
    assert_no_reuse_and_at_most_one_login(&env, logins);
}

/// What such a writer can still do, for the README's threat model: a host that never saw
/// the later generation cannot tell a replayed entry from the current one, so it may
/// present the spent refresh token once (the emulator, like Keycloak, then ends that
/// session). The bound: one reuse, every call still answered, and no reuse afterwards.
/// Passes today.
#[test]
fn a_replayed_entry_met_first_by_a_host_that_never_saw_the_refresh_costs_at_most_one_session() {
    let Some(redis) = Redis::start() else { return };
    let env = TestEnv::new().password_grant();
    assert_eq!(get(&env, &redis, 0)["source"], "login");
    let base = redis.entry_base();
    for part in ["tok", "gen"] {
        let (key, aside) = (format!("{base}:{part}"), format!("captured:{part}"));
        assert_eq!(redis.cli(&["COPY", &key, &aside]).trim(), "1");
    }
    assert_eq!(renew_on(&env, &redis, 1)["source"], "refresh");
    for part in ["tok", "gen"] {
        let (key, aside) = (format!("{base}:{part}"), format!("captured:{part}"));
        assert_eq!(redis.cli(&["COPY", &aside, &key, "REPLACE"]).trim(), "1");
    }
    renew_on(&env, &redis, 2);
    let after_replay = env.stats();
    assert!(after_replay.refresh_tokens_reused <= 1, "{after_replay:?}");
    assert!(
        after_replay.sessions_ended_by_reuse <= 1,
        "{after_replay:?}"
    );
    renew_everywhere(&env, &redis, &[0, 1, 2, 3]);
    let stats = env.stats();
    assert_eq!(
        stats.refresh_tokens_reused, after_replay.refresh_tokens_reused,
        "{stats:?}"
    );
}

/// Per-host mode (no Redis): the cache directory copied back (`cp -a`, as a CI cache step
/// or a backup restore would) from before a refresh.
#[test]
fn a_cache_directory_copied_back_from_before_a_refresh_never_presents_its_refresh_token() {
    let env = TestEnv::new().password_grant();
    env.token();
    let (cache, saved) = (env.cache_dir(), env.path("saved-cache"));
    let cp = |from: &std::path::Path, to: &std::path::Path| {
        let ok = Command::new("cp").arg("-a").arg(from).arg(to).status();
        assert!(ok.unwrap().success());
    };
    cp(&cache, &saved);
    let (code, v, err) = env.get(FORCE);
    assert_eq!((code, v["source"].as_str()), (0, Some("refresh")), "{err}");
    std::fs::remove_dir_all(&cache).unwrap();
    cp(&saved, &cache);
    let logins = env.stats().token_requests.password;
    for _ in 0..3 {
        let (code, v, err) = env.get(FORCE);
        assert_eq!(code, 0, "{v} {err}");
    }
    assert_no_reuse_and_at_most_one_login(&env, logins);
}

/// The same rollback through the fleet's own hosts, with no Redis restart: a host's cache
/// directory copied back must not matter in fleet mode either (hosts keep no refresh
/// token of the fleet's).
#[test]
fn a_host_cache_directory_copied_back_in_fleet_mode_presents_nothing_twice() {
    let Some(redis) = Redis::start() else { return };
    let env = TestEnv::new().password_grant();
    assert_eq!(get(&env, &redis, 0)["source"], "login");
    let (host0, saved) = (env.path("host-0"), env.path("saved-host-0"));
    let ok = Command::new("cp")
        .arg("-a")
        .arg(&host0)
        .arg(&saved)
        .status();
    assert!(ok.unwrap().success());
    assert_eq!(renew_on(&env, &redis, 1)["source"], "refresh");
    std::fs::remove_dir_all(&host0).unwrap();
    std::fs::rename(&saved, &host0).unwrap();
    let logins = env.stats().token_requests.password;
    answer(&run_with_stdin(on_host(&env, &redis, 0, &["get"]), FORCE));
    renew_everywhere(&env, &redis, &[0, 1]);
    assert_no_reuse_and_at_most_one_login(&env, logins);
}

/// A Redis that will not say its run_id (INFO renamed away, or denied by an ACL) cannot
/// vouch that no write was lost: the fleet still shares its tokens, but a refresh token
/// in the fleet entry is never presented — renewals log in — and doctor says why.
#[test]
fn a_redis_that_hides_its_run_id_shares_tokens_but_never_its_refresh_tokens() {
    let Some(redis) = Redis::with(Opts {
        no_info: true,
        ..Opts::default()
    }) else {
        return;
    };
    let mut env = TestEnv::with_ttls(2, 60, 600).password_grant();
    env.set("BSN_MIN_TTL", "0");
    assert_eq!(get(&env, &redis, 0)["source"], "login");
    assert_eq!(get(&env, &redis, 1)["source"], "shared");
    let renewed = renew_on(&env, &redis, 1);
    assert_eq!(renewed["source"], "login", "{renewed}");
    let warning = renewed["warning"].as_str().unwrap_or_default();
    assert!(warning.contains("run_id"), "{renewed}");
    let stats = env.stats();
    assert_eq!(stats.token_requests.refresh_token, 0, "{stats:?}");
    assert_eq!(stats.refresh_tokens_reused, 0, "{stats:?}");
    // Host 0 shares the new token, Redis still working for the fleet.
    let mut cmd = on_host(&env, &redis, 0, &["get"]);
    cmd.env("BSN_MIN_TTL", "1");
    let v = answer(&run_with_stdin(cmd, FORCE));
    assert_eq!(v["access_token"], renewed["access_token"], "{v}");
    // doctor fails the rollback guard, naming what to allow.
    let out = run_with_stdin(on_host(&env, &redis, 0, &["doctor"]), "");
    let text = stdout(&out);
    assert!(!out.status.success(), "{text}");
    let line = text
        .lines()
        .find(|l| l.contains("rollback guard"))
        .unwrap_or_default();
    assert!(line.contains('✗') && line.contains("INFO"), "{text}");
}
