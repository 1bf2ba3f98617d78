//! "A refresh token is presented at most once, even when the helper is killed at any
//! point", and "no URL, token, file or signal can crash, hang or inject" (protocol.md,
//! Guarantees). Each test here fails without the mechanism it names.
//!
//! The write-ahead scenarios (`both`) run against both stores: the per-host file cache
//! (`at_most_once::file::…`, every "host" is a process on one machine) and fleet mode
//! over a real redis-server (`at_most_once::fleet::…`, each host its own cache dir). The
//! tests below them concern the file cache or no store at all.

mod both;
mod endpoints;
mod stores;

use crate::util::*;
use bsn_credential_helper::cache::CacheKey;
use endpoints::{UntrustedTls, plain_http_server, recording_endpoint};
use serde_json::Value;
use std::io::{Read, Write};
use std::path::PathBuf;
use std::process::{Child, Stdio};
use std::time::{Duration, Instant};
use stores::StoreKind;

/// One `#[test]` per store for each scenario function `fn(StoreKind)` in `both`.
macro_rules! over_both_stores {
    ($($name:ident),* $(,)?) => {
        mod file {
            $(#[test]
            fn $name() {
                super::both::$name(super::StoreKind::File)
            })*
        }
        mod fleet {
            $(#[test]
            fn $name() {
                super::both::$name(super::StoreKind::Fleet)
            })*
        }
    };
}

over_both_stores!(
    sigkill_mid_refresh_never_presents_a_refresh_token_twice,
    a_refresh_that_never_left_the_machine_keeps_its_refresh_token,
    a_late_rejection_of_an_old_token_leaves_the_current_one_alone,
    token_refused_during_network_selection_renews_once_and_selects_again,
    a_failing_secret_command_never_loses_a_refresh_token,
    unusable_answers_to_a_refresh_spend_its_token,
);

fn spawn_get(env: &TestEnv, request: &str) -> Child {
    let mut cmd = env.cmd(&["get"]);
    cmd.stdin(Stdio::piped())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped());
    let mut child = cmd.spawn().expect("spawn");
    let mut stdin = child.stdin.take().unwrap();
    stdin.write_all(request.as_bytes()).unwrap();
    drop(stdin);
    child
}

fn entry(env: &TestEnv) -> Value {
    let path = env.cache_file("json").expect("an entry");
    serde_json::from_slice(&std::fs::read(path).unwrap()).unwrap()
}

// ---------------------------------------------------------------------------------------
// A refresh that never left the machine keeps its token

/// Copies the env's entry to the cache key of `token_url`, so one session can be tried
/// against an endpoint that fails before anything is sent.
fn seed_entry_for(env: &TestEnv, token_url: &str) -> PathBuf {
    let mut e = entry(env);
    e["key"]["token_url"] = Value::String(token_url.to_string());
    let key: CacheKey = serde_json::from_value(e["key"].clone()).unwrap();
    let path = env.cache_dir().join(format!("{}.json", key.stem()));
    plant_entry(&path, &e);
    path
}

fn refresh_token_in(path: &PathBuf) -> Value {
    let e: Value = serde_json::from_slice(&std::fs::read(path).unwrap()).unwrap();
    e["refresh_token"].clone()
}

#[test]
fn refresh_failing_before_it_is_sent_keeps_the_refresh_token_and_names_the_cause() {
    let env = TestEnv::new().password_grant();
    env.token();
    let tls = UntrustedTls::start();
    let plain_port = plain_http_server();
    let cases = [
        (
            "https://host-that-does-not-exist.invalid/token".to_string(),
            "could not be resolved",
        ),
        (
            format!("https://localhost:{}/token", tls.port),
            "SSL_CERT_FILE",
        ),
        (
            format!("https://127.0.0.1:{plain_port}/token"),
            "does not speak TLS",
        ),
    ];
    for (url, cause) in cases {
        let path = seed_entry_for(&env, &url);
        let before = refresh_token_in(&path);
        let mut cmd = env.cmd(&["get"]);
        cmd.env("BSN_TOKEN_URL", &url).env("BSN_TIMEOUT", "5");
        let out = run_with_stdin(cmd, r#"{"force_refresh":true}"#);
        let err = stderr(&out);
        assert!(err.contains(cause), "{url}: {err}");
        assert_eq!(refresh_token_in(&path), before, "{url}: token kept");
        assert!(before.is_string());
    }
    // The kept token is good: the real endpoint accepts it (no reuse, no new login).
    let logins = env.stats().token_requests.password;
    let (code, v, err) = env.get(r#"{"force_refresh":true}"#);
    assert_eq!((code, v["source"].as_str()), (0, Some("refresh")), "{err}");
    assert_eq!(env.stats().token_requests.password, logins);
    assert_eq!(env.stats().refresh_tokens_reused, 0);
}

// ---------------------------------------------------------------------------------------
// A cache that cannot be written never sends a refresh token nor mints a token per call

fn full_disk(env: &TestEnv, request: &str) -> std::process::Output {
    let mut cmd = env.cmd(&["get"]);
    disk_full(&mut cmd);
    run_with_stdin(cmd, request)
}

#[test]
fn full_disk_with_a_user_session_sends_nothing_and_keeps_the_refresh_token() {
    let env = TestEnv::new().password_grant();
    env.token();
    let before = entry(&env);
    let requests = env.stats().token_requests;
    for _ in 0..3 {
        let out = full_disk(&env, r#"{"force_refresh":true}"#);
        assert!(out.status.success(), "{}", stderr(&out));
        let v: Value = serde_json::from_slice(&out.stdout).unwrap();
        assert_eq!(v["source"], "cache", "{v}");
        assert!(
            v["warning"].as_str().unwrap().contains("BSN_CACHE_DIR"),
            "{v}"
        );
    }
    let after = env.stats().token_requests;
    assert_eq!(
        (after.password, after.refresh_token),
        (requests.password, requests.refresh_token),
        "nothing was sent"
    );
    assert_eq!(entry(&env)["refresh_token"], before["refresh_token"]);
}

#[test]
fn unwritable_cache_without_a_valid_token_is_a_cache_error_and_mints_nothing() {
    let env = TestEnv::new();
    for _ in 0..3 {
        let out = full_disk(&env, "");
        assert_eq!(out.status.code(), Some(10), "{}", stderr(&out));
        let v: Value = serde_json::from_slice(&out.stdout).unwrap();
        assert_eq!(v["error"]["code"], "cache");
        assert!(stderr(&out).contains("BSN_CACHE_DIR"), "{}", stderr(&out));
    }
    assert_eq!(env.stats().token_requests.client_credentials, 0);
}

// ---------------------------------------------------------------------------------------
// Token answers are validated before they are stored or printed

#[test]
fn huge_lifetimes_are_capped_and_header_output_cannot_be_injected() {
    let (url, _) = recording_endpoint(
        r#"{"access_token":"ok-token","expires_in":18446744073709551615,"token_type":"Bearer"}"#
            .to_string(),
    );
    let mut env = TestEnv::new();
    env.set("BSN_TOKEN_URL", &url);
    env.set("BSN_NETWORK", "");
    let (code, v, err) = env.get("");
    assert_eq!(code, 0, "{err}");
    assert!(v["expires_in"].as_u64().unwrap() <= 24 * 3600, "{v}");
    let (url, _) =
        recording_endpoint(r#"{"access_token":"a\r\nX-Evil: 1","expires_in":300}"#.to_string());
    env.set("BSN_TOKEN_URL", &url);
    let out = env.run(&["header"], "");
    assert_eq!(out.status.code(), Some(7), "{}", stderr(&out));
    assert!(!stdout(&out).contains("X-Evil"), "{}", stdout(&out));
}

// ---------------------------------------------------------------------------------------
// No panic, no abort: malformed URLs

#[test]
fn malformed_urls_are_config_errors_with_json_never_an_abort() {
    for url in [
        "https://a:99999/t",
        "https://[::1/t",
        "https://host:1:2/t",
        "https://a b/t",
        "https://a\u{7}b/t",
    ] {
        for var in ["BSN_TOKEN_URL", "BSN_API_URL"] {
            let mut env = TestEnv::new();
            env.set(var, url);
            let (code, v, err) = env.get("");
            assert_eq!(code, 3, "{var}={url:?}: {err}");
            assert_eq!(v["error"]["code"], "config", "{v}");
            assert!(err.contains(var), "{err}");
            assert!(!err.contains('\u{7}'), "{err}");
        }
    }
}

// ---------------------------------------------------------------------------------------
// Local files: a FIFO never hangs a call

#[test]
fn fifo_in_place_of_the_entry_or_lock_never_hangs() {
    let env = TestEnv::new();
    env.token();
    let entry = env.cache_file("json").unwrap();
    let lock = env.cache_file("lock").unwrap();
    for path in [&entry, &lock] {
        std::fs::remove_file(path).unwrap();
        let made = std::process::Command::new("mkfifo")
            .arg(path)
            .status()
            .unwrap();
        assert!(made.success());
        let mut child = spawn_get(&env, r#"{"force_refresh":true}"#);
        let start = Instant::now();
        let status = loop {
            if let Some(s) = child.try_wait().unwrap() {
                break s;
            }
            if start.elapsed() > Duration::from_secs(15) {
                let _ = child.kill();
                panic!("{}: the call hung", path.display());
            }
            sleep_ms(20);
        };
        if path == &entry {
            assert_eq!(status.code(), Some(0), "{}", path.display());
        } else {
            // Not a regular file of ours: refused, naming the file.
            assert_eq!(status.code(), Some(10));
            let mut err = String::new();
            child
                .stderr
                .take()
                .unwrap()
                .read_to_string(&mut err)
                .unwrap();
            assert!(err.contains("lock file"), "{err}");
        }
    }
}

// ---------------------------------------------------------------------------------------
// A slow secret command has its own limit and does not eat the network's time

#[test]
fn slow_secret_command_is_not_charged_to_bsn_timeout_and_has_its_own_limit() {
    let mut env = TestEnv::new();
    let config = env.path("config.toml");
    write_file(
        &config,
        "[profiles.default]\nclient_secret_command = \"sleep 2; echo demo-secret\"\n",
    );
    env.set("BSN_CONFIG", config.to_str().unwrap());
    env.set("BSN_TIMEOUT", "1");
    let mut cmd = env.cmd(&["get"]);
    cmd.env_remove("BSN_CLIENT_SECRET");
    let out = run_with_stdin(cmd, "");
    assert!(out.status.success(), "{}", stderr(&out));
    env.set("BSN_SECRET_COMMAND_TIMEOUT", "1");
    let mut cmd = env.cmd(&["get"]);
    cmd.env_remove("BSN_CLIENT_SECRET");
    let out = run_with_stdin(cmd, r#"{"force_refresh":true}"#);
    assert_eq!(out.status.code(), Some(3), "{}", stderr(&out));
    assert!(
        stderr(&out).contains("secret_command_timeout"),
        "{}",
        stderr(&out)
    );
}

// ---------------------------------------------------------------------------------------
// Nothing raw echoed; exec keeps our secrets to itself

#[test]
fn control_characters_in_a_requested_profile_are_escaped() {
    let env = TestEnv::new();
    let out = env.run(&["get"], r#"{"profile":"a\u001b[31mb\nusername=x"}"#);
    assert_eq!(out.status.code(), Some(3));
    let err = stderr(&out);
    assert!(!err.contains('\u{1b}'), "{err:?}");
    assert_eq!(err.lines().count(), 1, "{err:?}");
}

#[test]
fn exec_removes_the_helpers_secrets_unless_asked_to_keep_them() {
    let mut env = TestEnv::new();
    env.set("BSN_PASSWORD", "pw-for-exec-test");
    let script = r#"printf '%s|%s|%s' "${BSN_CLIENT_SECRET-unset}" "${BSN_PASSWORD-unset}" "${#BSN_ACCESS_TOKEN}""#;
    let out = env.run(&["exec", "--", "sh", "-c", script], "");
    assert!(out.status.success(), "{}", stderr(&out));
    let text = stdout(&out);
    assert!(text.starts_with("unset|unset|"), "{text}");
    assert_ne!(text, "unset|unset|0");
    let out = env.run(&["exec", "--keep-secrets", "--", "sh", "-c", script], "");
    assert!(
        stdout(&out).starts_with("demo-secret|pw-for-exec-test|"),
        "{}",
        stdout(&out)
    );
}
