//! The core helper end to end: the real binary as separate processes against the emulator.

use crate::util::*;
use bsn_emulator::{Fault, FaultKind, FaultTarget};
use serde_json::Value;

fn fault(kind: FaultKind, count: u32) -> Fault {
    Fault {
        kind,
        count,
        target: FaultTarget::Token,
        retry_after: 1,
        delay_ms: 0,
    }
}

#[test]
fn first_call_logs_in_and_selects_network_then_cache_answers() {
    let env = TestEnv::new();
    let (code, first, stderr) = env.get("");
    assert_eq!(code, 0, "{stderr}");
    assert_eq!(first["source"], "login");
    assert_eq!(first["network"], "Demo");
    assert_eq!(first["token_type"], "Bearer");
    let expires_in = first["expires_in"].as_u64().unwrap();
    assert!((295..=300).contains(&expires_in), "{expires_in}");
    assert!(first["expires_at"].as_str().unwrap().ends_with('Z'));

    let (code, second, _) = env.get(r#"{"version":1}"#);
    assert_eq!(code, 0);
    assert_eq!(second["source"], "cache");
    assert_eq!(second["access_token"], first["access_token"]);

    let stats = env.stats();
    assert_eq!(stats.token_requests.client_credentials, 1);
    assert_eq!(stats.network_selections, 1);
    // The token works against the API, bound to the network.
    let body = attohttpc::get(format!("{}/2022/06/REST/Self/Session", env.emu.base_url()))
        .bearer_auth(first["access_token"].as_str().unwrap())
        .send()
        .unwrap()
        .text()
        .unwrap();
    let session: Value = serde_json::from_str(&body).unwrap();
    assert_eq!(session["network"]["name"], "Demo");
}

#[test]
fn token_and_header_print_plain_text() {
    let env = TestEnv::new();
    let token = env.token();
    assert!(token.starts_with("emu-at-"), "{token}");
    let out = env.run(&["header"], "");
    assert_eq!(stdout(&out), format!("Authorization: Bearer {token}\n"));
    assert_eq!(env.stats().token_requests.client_credentials, 1);
}

#[test]
fn storm_of_32_after_expiry_makes_exactly_one_token_request() {
    let mut env = TestEnv::with_ttls(2, 60, 600);
    env.set("BSN_MIN_TTL", "1");
    let before = env.token();
    sleep_ms(2100); // the cached token has now expired
    env.slow_next_renewal();
    let outputs = storm(32, |_| (env.cmd(&["get"]), String::new()));
    let tokens = distinct_tokens(&outputs);
    assert_eq!(tokens.len(), 1, "all 32 callers share one token");
    assert!(!tokens.contains(&before));
    let stats = env.stats();
    assert_eq!(stats.token_requests.client_credentials, 2, "{stats:?}");
    assert_eq!(stats.network_selections, 2);
}

#[test]
fn callers_reporting_the_same_rejected_token_cause_one_renewal() {
    let env = TestEnv::new();
    let rejected = env.token();
    let request = format!(r#"{{"rejected_token":"{rejected}"}}"#);
    env.slow_next_renewal();
    let outputs = storm(8, |_| (env.cmd(&["get"]), request.clone()));
    let tokens = distinct_tokens(&outputs);
    assert_eq!(tokens.len(), 1);
    assert!(
        !tokens.contains(&rejected),
        "a rejected token is never returned"
    );
    assert_eq!(env.stats().token_requests.client_credentials, 2);
    // A late caller with the same old rejection gets the new token without a renewal.
    let (code, v, _) = env.get(&request);
    assert_eq!(code, 0);
    assert_eq!(v["source"], "cache");
    assert_eq!(env.stats().token_requests.client_credentials, 2);
}

#[test]
fn force_refresh_returns_a_newer_token() {
    let env = TestEnv::new();
    let first = env.token();
    let (code, v, _) = env.get(r#"{"force_refresh":true}"#);
    assert_eq!(code, 0);
    assert_ne!(v["access_token"], first.as_str());
    assert_eq!(v["source"], "login");
    let out = env.run(&["token", "--force-refresh"], "");
    assert!(out.status.success());
    assert_ne!(stdout(&out).trim(), v["access_token"].as_str().unwrap());
    assert_eq!(env.stats().token_requests.client_credentials, 3);
}

#[test]
fn refresh_tokens_rotate_across_lifetimes_and_a_session_end_without_reuse_or_failure() {
    // access 2 s, refresh 4 s, session 7 s; ~10 s of parallel callers.
    let mut env = TestEnv::with_ttls(2, 4, 7).password_grant();
    env.set("BSN_MIN_TTL", "1");
    let started = std::time::Instant::now();
    let mut calls = 0;
    let mut sources = std::collections::BTreeMap::<String, usize>::new();
    while started.elapsed() < std::time::Duration::from_secs(10) {
        for out in storm(4, |_| (env.cmd(&["get"]), String::new())) {
            calls += 1;
            assert!(
                out.status.success(),
                "call {calls} failed: {}",
                stderr(&out)
            );
            let v: Value = serde_json::from_slice(&out.stdout).unwrap();
            *sources
                .entry(v["source"].as_str().unwrap().to_string())
                .or_default() += 1;
        }
        sleep_ms(250);
    }
    let stats = env.stats();
    assert_eq!(stats.refresh_tokens_reused, 0, "{stats:?}");
    assert!(stats.token_requests.refresh_token >= 3, "{stats:?}");
    assert!(
        stats.token_requests.password >= 2,
        "the session end forces a new login: {stats:?}"
    );
    assert!(stats.max_active_tokens <= 2, "{stats:?}");
    assert_eq!(sources.values().sum::<usize>(), calls);
    assert!(sources["cache"] > sources.get("refresh").copied().unwrap_or(0));
}

#[test]
fn reused_refresh_token_is_never_retried_and_login_recovers() {
    let mut env = TestEnv::with_ttls(1, 60, 600).password_grant();
    env.set("BSN_MIN_TTL", "0");
    env.token();
    // The session dies behind our back (like an admin logout); the cached refresh token
    // is refused once, then dropped, and the helper logs in again.
    env.emu.end_sessions();
    sleep_ms(1100);
    let (code, v, stderr) = env.get("");
    assert_eq!(code, 0, "{stderr}");
    assert_eq!(v["source"], "login");
    let stats = env.stats();
    assert_eq!(stats.token_requests.refresh_token, 1);
    assert_eq!(stats.token_requests.password, 2);
    assert_eq!(stats.refresh_tokens_reused, 0);
}

#[test]
fn password_grant_without_password_after_session_end_is_login_required() {
    let mut env = TestEnv::with_ttls(300, 600, 600).password_grant();
    env.set("BSN_PASSWORD", "");
    let (code, v, _) = env.get("");
    assert_eq!(code, 5);
    assert_eq!(v["error"]["code"], "login_required");
    assert!(
        v["error"]["message"]
            .as_str()
            .unwrap()
            .contains("BSN_PASSWORD")
    );
}

#[test]
fn unreachable_endpoint_falls_back_to_a_still_valid_cached_token() {
    let mut env = TestEnv::with_ttls(2, 60, 600);
    env.set("BSN_MIN_TTL", "1");
    let cached = env.token();
    sleep_ms(1100); // under min_ttl, not yet expired
    let mut f = fault(FaultKind::RateLimited, 5);
    f.retry_after = 100; // longer than the deadline: give up at once
    env.emu.inject(f);
    let (code, v, stderr) = env.get("");
    assert_eq!(code, 0, "{stderr}");
    assert_eq!(v["access_token"], cached.as_str());
    assert_eq!(v["source"], "cache");
    assert!(
        v["warning"].as_str().unwrap().contains("rate limiting"),
        "{v}"
    );
    assert!(stderr.contains("warning:"), "{stderr}");
}

#[test]
fn transient_server_errors_are_retried() {
    let env = TestEnv::new();
    env.emu.inject(fault(FaultKind::ServerError, 2));
    let (code, v, stderr) = env.get("");
    assert_eq!(code, 0, "{stderr}");
    assert_eq!(v["source"], "login");
    assert_eq!(env.stats().faults_served, 2);
}

#[test]
fn erase_forgets_and_status_never_shows_a_token() {
    let env = TestEnv::with_ttls(300, 1800, 43200).password_grant();
    let token = env.token();
    let out = env.run(&["status", "--json"], "");
    assert!(out.status.success(), "{}", stderr(&out));
    let text = stdout(&out);
    assert!(!text.contains(&token), "status must not print the token");
    let v: Value = serde_json::from_str(&text).unwrap();
    let p = &v["profiles"][0];
    assert_eq!(p["profile"], "default");
    assert_eq!(p["access_token"]["valid"], true);
    assert_eq!(p["refresh_token"]["valid"], true);
    assert!(p["session_age_seconds"].as_u64().unwrap() < 60);
    let human = stdout(&env.run(&["status"], ""));
    assert!(
        human.contains("access token") && human.contains("cache file"),
        "{human}"
    );
    assert!(!human.contains(&token));

    let out = env.run(&["erase"], "");
    assert!(out.status.success());
    let (_, v, _) = env.get("");
    assert_eq!(v["source"], "login");
    assert_eq!(env.stats().token_requests.password, 2);
}

#[test]
fn corrupt_cache_entry_is_replaced_not_fatal() {
    let env = TestEnv::new();
    env.token();
    let entry = env.cache_file("json").unwrap();
    std::fs::write(&entry, "{\"format\":1, \"key\": tru").unwrap();
    let (code, v, stderr) = env.get("");
    assert_eq!(code, 0, "{stderr}");
    assert_eq!(v["source"], "login");
    let (_, v, _) = env.get("");
    assert_eq!(v["source"], "cache");
}

#[test]
fn config_file_profiles_and_secret_command() {
    let env = TestEnv::new();
    let config = env.path("config.toml");
    write_file(
        &config,
        &format!(
            "default_profile = \"lobby\"\n\n[profiles.lobby]\ntoken_url = \"{}\"\napi_url = \"{}\"\nclient_id = \"demo-client\"\nclient_secret_command = \"printf demo-secret\"\nnetwork = \"Lobby\"\n",
            env.emu.token_url(),
            env.emu.base_url()
        ),
    );
    let mut cmd = env.cmd(&["get"]);
    for var in [
        "BSN_TOKEN_URL",
        "BSN_API_URL",
        "BSN_CLIENT_ID",
        "BSN_CLIENT_SECRET",
        "BSN_NETWORK",
    ] {
        cmd.env_remove(var);
    }
    cmd.env("BSN_CONFIG", &config);
    let out = run_with_stdin(cmd, "");
    assert!(out.status.success(), "{}", stderr(&out));
    let v: Value = serde_json::from_slice(&out.stdout).unwrap();
    assert_eq!(v["profile"], "lobby");
    assert_eq!(v["network"], "Lobby");
}

#[test]
fn emulator_command_serves_the_networks_of_its_config_file() {
    use std::io::{BufRead, BufReader};
    let home = tempfile::tempdir().unwrap();
    let file = home.path().join("emulator.toml");
    write_file(
        &file,
        "port = 0\n\n[[networks]]\nid = 7\nname = \"Seven\"\n",
    );
    let mut child = std::process::Command::new(bin())
        .args(["emulator", "--access-ttl", "42", "--config"])
        .arg(&file)
        .stdout(std::process::Stdio::piped())
        .spawn()
        .unwrap();
    let mut first = String::new();
    BufReader::new(child.stdout.take().unwrap())
        .read_line(&mut first)
        .unwrap();
    let base = first
        .split_whitespace()
        .find(|w| w.starts_with("http://127.0.0.1:"))
        .unwrap_or_else(|| panic!("no URL in banner: {first}"))
        .to_string();

    let mut cmd = std::process::Command::new(bin());
    cmd.arg("get")
        .env_clear()
        .env("BSN_CONFIG", home.path().join("none.toml"))
        .env("BSN_CACHE_DIR", home.path().join("cache"))
        .env(
            "BSN_TOKEN_URL",
            format!("{base}/realms/bsncloud/protocol/openid-connect/token"),
        )
        .env("BSN_API_URL", &base)
        .env("BSN_CLIENT_ID", "demo-client")
        .env("BSN_CLIENT_SECRET", "demo-secret")
        .env("BSN_NETWORK", "Seven");
    write_file(&home.path().join("none.toml"), "");
    let out = run_with_stdin(cmd, "");
    let _ = child.kill();
    let _ = child.wait();
    assert!(out.status.success(), "{}", stderr(&out));
    let v: Value = serde_json::from_slice(&out.stdout).unwrap();
    assert_eq!(v["network"], "Seven");
    assert!(v["expires_in"].as_u64().unwrap() <= 42);
}

#[test]
fn demo_runs_on_a_clean_machine_and_reports_no_reuse_and_no_failure() {
    let home = tempfile::tempdir().unwrap();
    // Only PATH and a temp dir: no BSN_* settings, no config file, no proxies.
    let out = std::process::Command::new(bin())
        .args(["demo", "--processes", "4"])
        .env_clear()
        .env("PATH", std::env::var_os("PATH").unwrap_or_default())
        .env("HOME", home.path())
        .env("TMPDIR", home.path())
        .output()
        .unwrap();
    let report = stdout(&out);
    assert!(out.status.success(), "{report}\n{}", stderr(&out));
    assert!(report.contains(", 0 failed"), "{report}");
    assert!(report.contains("refresh tokens reused   0"), "{report}");
    let number_after = |label: &str, end: char| -> u32 {
        report
            .split(label)
            .nth(1)
            .and_then(|r| r.split(end).next())
            .and_then(|n| n.trim().parse().ok())
            .unwrap_or_else(|| panic!("no {label:?} in {report}"))
    };
    assert!(number_after("most unexpired tokens", 'a') <= 2, "{report}");
    // The demo spans a session end: at least two password logins.
    assert!(number_after("password logins", ',') >= 2, "{report}");
    // The demo's temp directory is cleaned up.
    assert_eq!(std::fs::read_dir(home.path()).unwrap().count(), 0);
}

#[test]
fn racing_force_refresh_callers_share_one_renewal() {
    let env = TestEnv::new();
    let first = env.token();
    // Hold the entry's lock so every caller reads the same cached token before renewing.
    let lock = std::fs::File::options()
        .read(true)
        .write(true)
        .open(
            env.cache_file("lock")
                .expect("lock file after the first call"),
        )
        .unwrap();
    lock.lock().unwrap();
    let children: Vec<_> = (0..8)
        .map(|_| {
            let mut cmd = env.cmd(&["token", "--force-refresh"]);
            cmd.stdout(std::process::Stdio::piped())
                .stderr(std::process::Stdio::piped())
                .spawn()
                .unwrap()
        })
        .collect();
    sleep_ms(500);
    lock.unlock().unwrap();
    let mut tokens = std::collections::BTreeSet::new();
    for child in children {
        let out = child.wait_with_output().unwrap();
        assert!(out.status.success(), "{}", stderr(&out));
        tokens.insert(stdout(&out).trim().to_string());
    }
    assert_eq!(tokens.len(), 1, "{tokens:?}");
    assert!(!tokens.contains(&first));
    assert_eq!(env.stats().token_requests.client_credentials, 2);
}

/// protocol.md: request fields beat command-line flags, which beat environment variables.
#[test]
fn request_min_ttl_beats_the_flag_and_bsn_min_ttl() {
    // 4 s tokens: min_ttl is capped at 45 % of that (1.8 s), so after 2.3 s the cached token
    // is due for renewal under any min_ttl above 1.7 s, and still valid for a while.
    let mut env = TestEnv::with_ttls(4, 60, 600);
    let first = env.token();
    sleep_ms(2300);
    let get = |env: &TestEnv, flag: &str, request: &str| {
        let out = run_with_stdin(env.cmd(&["--min-ttl", flag, "get"]), request);
        assert!(out.status.success(), "{}", stderr(&out));
        serde_json::from_slice::<Value>(&out.stdout).unwrap()
    };
    // The request's 0 beats flag and environment (100): the cached token will do.
    env.set("BSN_MIN_TTL", "100");
    let v = get(&env, "100", r#"{"min_ttl":0}"#);
    assert_eq!(v["source"], "cache", "{v}");
    assert_eq!(v["access_token"], first.as_str());
    // The request's 100 beats flag and environment (0): renewed.
    env.set("BSN_MIN_TTL", "0");
    let v = get(&env, "0", r#"{"min_ttl":100}"#);
    assert_eq!(v["source"], "login", "{v}");
    assert_ne!(v["access_token"], first.as_str());
    assert_eq!(env.stats().token_requests.client_credentials, 2);
}

/// A refresh token refused with invalid_grant is forgotten before anything else happens:
/// even when the login that follows fails too, the next call never presents it again.
#[test]
fn refresh_token_is_dropped_after_invalid_grant_even_when_the_next_login_fails() {
    let mut env = TestEnv::new().password_grant();
    env.token();
    env.emu.end_sessions(); // the cached refresh token is now refused
    env.set("BSN_PASSWORD", "wrong-password");
    let (code, v, err) = env.get(r#"{"force_refresh":true}"#);
    assert_eq!(code, 4, "{v} {err}");
    assert_eq!(v["error"]["code"], "invalid_credentials");
    assert_eq!(env.stats().token_requests.refresh_token, 1);

    env.set("BSN_PASSWORD", "demo-password");
    let (code, v, err) = env.get(r#"{"force_refresh":true}"#);
    assert_eq!(code, 0, "{err}");
    assert_eq!(v["source"], "login");
    let stats = env.stats();
    assert_eq!(
        stats.token_requests.refresh_token, 1,
        "the refused refresh token was presented again: {stats:?}"
    );
    assert_eq!(stats.token_requests.password, 3, "{stats:?}");
}

/// (exit code, error code) rows of protocol.md's failure table.
fn documented_exit_codes() -> Vec<(i32, String)> {
    let text = std::fs::read_to_string(concat!(env!("CARGO_MANIFEST_DIR"), "/protocol.md"))
        .expect("protocol.md");
    let rows: Vec<(i32, String)> = text
        .lines()
        .filter_map(|line| {
            let cells: Vec<&str> = line.split('|').map(str::trim).collect();
            let exit = cells.get(1)?.parse().ok()?;
            let code = cells.get(2)?.strip_prefix('`')?.strip_suffix('`')?;
            Some((exit, code.to_string()))
        })
        .collect();
    assert!(rows.len() >= 11, "protocol.md's failure table: {rows:?}");
    rows
}

/// Makes the helper fail with `code`, for real; returns its output. A code without a
/// scenario here fails the test, so a new row in protocol.md needs one.
fn fail_with(code: &str) -> std::process::Output {
    let mut env = TestEnv::new();
    let mut request = "";
    let rejecting: String;
    let mut _lock = None;
    match code {
        "invalid_request" => request = "{",
        "config" => request = r#"{"profile":"no-such-profile"}"#,
        "invalid_credentials" => env.set("BSN_CLIENT_SECRET", "wrong-secret"),
        "login_required" => {
            env = env.password_grant();
            env.set("BSN_PASSWORD", "");
        }
        "network" => {
            let closed = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
            let port = closed.local_addr().unwrap().port();
            drop(closed);
            env.set("BSN_TOKEN_URL", &format!("http://127.0.0.1:{port}/token"));
            env.set("BSN_TIMEOUT", "5");
        }
        "server" => env.emu.inject(fault(FaultKind::ServerError, 3)),
        "rate_limited" => env
            .emu
            .inject(fault(FaultKind::RateLimited, 3).retry_after(100)),
        "lock_timeout" => {
            // The cached token is the rejected one, so no valid token can stand in.
            let token = env.token();
            let lock = std::fs::File::open(env.cache_file("lock").unwrap()).unwrap();
            lock.lock().unwrap();
            _lock = Some(lock);
            env.set("BSN_LOCK_TIMEOUT", "1");
            rejecting = serde_json::json!({ "rejected_token": token }).to_string();
            request = &rejecting;
        }
        "cache" => {
            let file = env.path("a-file");
            write_file(&file, "not a directory");
            env.set("BSN_CACHE_DIR", file.to_str().unwrap());
        }
        "network_selection" => env.set("BSN_NETWORK", "Nowhere"),
        // A bug in the helper is not to be had on demand; an I/O failure it cannot
        // classify is reported the same way: the man page written to a full device.
        "internal" => {
            let mut cmd = env.cmd(&["manpage"]);
            cmd.stdout(std::fs::File::create("/dev/full").unwrap())
                .stderr(std::process::Stdio::piped());
            return cmd.output().unwrap();
        }
        other => panic!("no scenario for error code {other:?}: add one to fail_with"),
    }
    env.run(&["get"], request)
}

#[test]
fn every_error_code_exits_with_its_documented_status() {
    for (exit, code) in documented_exit_codes() {
        let out = fail_with(&code);
        let err = stderr(&out);
        assert_eq!(
            out.status.code(),
            Some(exit),
            "{code}: protocol.md documents exit {exit}: {err}"
        );
        assert!(err.contains("error:"), "{code}: {err}");
        assert!(!err.contains("panicked"), "{code}: {err}");
        if code != "internal" {
            let v: Value = serde_json::from_slice(&out.stdout).unwrap();
            assert_eq!(v["error"]["code"], code.as_str(), "{v}");
            assert_eq!(v["version"], 1);
            assert!(v.get("access_token").is_none(), "{v}");
        }
    }
}
