//! Faults: processes killed or signalled mid-refresh, a broken or slow token endpoint, a
//! refused network selection, a stuck lock holder and a cache that cannot be written.

use crate::util::*;
use bsn_emulator::{Fault, FaultKind, FaultTarget};
use serde_json::Value;
use std::os::unix::process::ExitStatusExt;
use std::path::{Path, PathBuf};
use std::process::{Child, Stdio};
use std::time::{Duration, Instant};

fn fault(kind: FaultKind, count: u32) -> Fault {
    Fault::new(kind).count(count)
}

fn slow(delay_ms: u64) -> Fault {
    Fault::new(FaultKind::Slow).delay_ms(delay_ms)
}

fn cached_entry(env: &TestEnv) -> Value {
    let path = env.cache_file("json").expect("a cache entry");
    serde_json::from_slice(&std::fs::read(path).unwrap()).unwrap()
}

/// Whether some process holds the file's lock (probing takes and drops it otherwise).
fn lock_is_held(path: &Path) -> bool {
    let file = std::fs::File::open(path).unwrap();
    match file.try_lock() {
        Ok(()) => false,
        Err(std::fs::TryLockError::WouldBlock) => true,
        Err(std::fs::TryLockError::Error(e)) => panic!("cannot probe the lock: {e}"),
    }
}

fn spawn(env: &TestEnv, args: &[&str], stdin: &str) -> Child {
    use std::os::unix::process::CommandExt;
    let mut cmd = env.cmd(args);
    // Default dispositions whatever launched the suite: a shell's background job (`cmd &`)
    // inherits SIGINT ignored, and the helper would then rightly survive SIGINT.
    // SAFETY: signal(2) is async-signal-safe.
    unsafe {
        cmd.pre_exec(|| {
            for sig in [libc::SIGINT, libc::SIGTERM, libc::SIGHUP] {
                libc::signal(sig, libc::SIG_DFL);
            }
            Ok(())
        });
    }
    cmd.stdin(Stdio::piped())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped());
    let mut child = cmd.spawn().expect("spawn helper");
    use std::io::Write;
    let mut pipe = child.stdin.take().unwrap();
    let _ = pipe.write_all(stdin.as_bytes());
    child
}

fn signal(child: &Child, sig: i32) {
    // SAFETY: kill(2) on our own child's pid.
    let rc = unsafe { libc::kill(child.id() as libc::pid_t, sig) };
    assert_eq!(rc, 0, "kill({sig})");
}

/// xorshift64*, seeded from the clock (or BSN_SEED to replay a failure).
struct Rng(u64);

impl Rng {
    fn from_env_or_time(name: &str) -> Rng {
        let seed = std::env::var("BSN_SEED")
            .ok()
            .and_then(|s| s.parse().ok())
            .unwrap_or_else(|| {
                std::time::SystemTime::now()
                    .duration_since(std::time::UNIX_EPOCH)
                    .unwrap()
                    .as_nanos() as u64
                    | 1
            });
        eprintln!("{name}: seed {seed} (replay with BSN_SEED={seed})");
        Rng(seed)
    }

    fn next(&mut self) -> u64 {
        self.0 ^= self.0 >> 12;
        self.0 ^= self.0 << 25;
        self.0 ^= self.0 >> 27;
        self.0.wrapping_mul(0x2545_f491_4f6c_dd1d)
    }

    fn below(&mut self, n: u64) -> u64 {
        self.next() % n
    }
}

// ---------------------------------------------------------------------------------------
// SIGKILL at random points of the slow path

/// Kills `token --force-refresh` (refresh, or login + network selection) after a random
/// delay, `rounds` times. After every kill: the entry is absent or complete JSON, nobody
/// holds the lock, and the next call succeeds promptly.
fn kill_rounds(rounds: usize) {
    let mut rng = Rng::from_env_or_time("sigkill");
    let mut env = TestEnv::new().password_grant();
    // A wedged lock would show up as lock_timeout within 2 s instead of a pass.
    env.set("BSN_LOCK_TIMEOUT", "2");
    let (mut killed, mut finished) = (0, 0);
    for round in 0..rounds {
        // Widen the window: most rounds stall the token endpoint or the API a little.
        let stall = 5 + rng.below(30);
        match rng.below(4) {
            0 => {}
            1 => env.emu.inject(slow(stall)),
            2 => env.emu.inject(slow(stall).target(FaultTarget::Api)),
            _ => env.emu.inject(slow(stall).target(FaultTarget::Any)),
        }
        let args: &[&str] = if rng.below(5) == 0 {
            &["erase"]
        } else {
            &["token", "--force-refresh"]
        };
        let mut child = spawn(&env, args, "");
        sleep_ms(rng.below(30));
        let _ = child.kill(); // SIGKILL
        let status = child.wait().unwrap();
        if status.signal() == Some(libc::SIGKILL) {
            killed += 1;
        } else {
            finished += 1;
        }

        if let Some(path) = env.cache_file("json") {
            let bytes = std::fs::read(&path).unwrap();
            let v: Value = serde_json::from_slice(&bytes).unwrap_or_else(|e| {
                panic!(
                    "round {round}: torn cache entry ({e}): {:?}",
                    String::from_utf8_lossy(&bytes)
                )
            });
            assert!(v["access_token"].is_string(), "round {round}: {v}");
        }
        if let Some(lock) = env.cache_file("lock") {
            assert!(!lock_is_held(&lock), "round {round}: lock still held");
        }
        let started = Instant::now();
        let (code, v, err) = env.get("");
        assert_eq!(code, 0, "round {round}: next call failed: {v} {err}");
        assert!(
            started.elapsed() < Duration::from_secs(2),
            "round {round}: next call took {:?}",
            started.elapsed()
        );
    }
    let temps = || env.cache_files("tmp").len();
    let stats = env.stats();
    eprintln!(
        "{rounds} rounds: {killed} killed mid-way, {finished} finished first; {} temp files now; {stats:?}",
        temps()
    );
    // A killed writer's temp file (it holds tokens) is removed by the next writer.
    assert!(temps() <= 1, "stale temp files pile up");
    let out = env.run(&["token", "--force-refresh"], "");
    assert!(out.status.success(), "{}", stderr(&out));
    assert_eq!(temps(), 0, "the next store removes stale temp files");
    assert!(
        killed >= rounds / 4,
        "too few kills landed ({killed}/{rounds}): the test would prove nothing"
    );
}

#[test]
fn sigkill_at_random_points_never_tears_the_cache_or_wedges_the_lock() {
    kill_rounds(40);
}

/// `BSN_SOAK=1 cargo test --test integration -- --ignored soak`
#[test]
#[ignore = "soak: BSN_SOAK=1 cargo test --test integration -- --ignored soak"]
fn soak_sigkill_250_rounds() {
    if std::env::var("BSN_SOAK").is_err() {
        eprintln!("skipped: set BSN_SOAK=1");
        return;
    }
    kill_rounds(250);
}

// ---------------------------------------------------------------------------------------
// SIGTERM / SIGINT during a refresh

#[test]
fn sigterm_or_sigint_during_a_refresh_keeps_the_rotated_refresh_token() {
    for sig in [libc::SIGTERM, libc::SIGINT] {
        let env = TestEnv::new().password_grant();
        env.token();
        let old_refresh = cached_entry(&env)["refresh_token"].clone();
        env.emu.inject(slow(700));
        let child = spawn(&env, &["token", "--force-refresh"], "");
        // The refresh request has reached the emulator and is being held there.
        wait_until(
            "the refresh to be in flight",
            Duration::from_secs(5),
            || env.stats().faults_served == 1,
        );
        signal(&child, sig);
        let out = child.wait_with_output().unwrap();
        assert_eq!(
            out.status.signal(),
            Some(sig),
            "the helper dies by the deferred signal once the cache is written: {:?} {}",
            out.status,
            stderr(&out)
        );
        let entry = cached_entry(&env);
        assert_ne!(entry["refresh_token"], old_refresh, "signal {sig}");
        assert_eq!(env.stats().token_requests.refresh_token, 1);

        // The session survives: the next calls use the rotated token, never the old one.
        let (code, v, err) = env.get("");
        assert_eq!(code, 0, "{err}");
        assert_eq!(v["source"], "cache");
        let (code, v, err) = env.get(r#"{"force_refresh":true}"#);
        assert_eq!(code, 0, "{err}");
        assert_eq!(v["source"], "refresh", "signal {sig}: {v}");
        let stats = env.stats();
        assert_eq!(stats.refresh_tokens_reused, 0, "signal {sig}: {stats:?}");
        assert_eq!(stats.token_requests.password, 1, "signal {sig}: {stats:?}");
        assert_eq!(
            stats.token_requests.refresh_token, 2,
            "signal {sig}: {stats:?}"
        );
    }
}

// ---------------------------------------------------------------------------------------
// A broken token endpoint

/// `get` against the environment; returns (exit code, stdout JSON, stderr, elapsed).
fn timed_get(env: &TestEnv, request: &str) -> (i32, Value, String, Duration) {
    let started = Instant::now();
    let (code, v, err) = env.get(request);
    (code, v, err, started.elapsed())
}

fn assert_error(code: i32, v: &Value, expected: &str, exit: i32) {
    assert_eq!(code, exit, "{v}");
    assert_eq!(v["error"]["code"], expected, "{v}");
    assert!(v.get("access_token").is_none());
}

#[test]
fn token_endpoint_down_is_a_network_error_quickly() {
    let mut env = TestEnv::new();
    let closed = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
    let port = closed.local_addr().unwrap().port();
    drop(closed);
    env.set(
        "BSN_TOKEN_URL",
        &format!("http://127.0.0.1:{port}/realms/bsncloud/protocol/openid-connect/token"),
    );
    env.set("BSN_TIMEOUT", "5");
    let (code, v, err, took) = timed_get(&env, "");
    assert_error(code, &v, "network", 6);
    assert!(err.contains("BSN_TOKEN_URL"), "{err}");
    assert!(
        took < Duration::from_secs(5),
        "retries stay in budget: {took:?}"
    );
}

#[test]
fn hung_token_endpoint_respects_bsn_timeout() {
    let mut env = TestEnv::new();
    env.set("BSN_TIMEOUT", "1");
    env.emu.inject(slow(10_000));
    let (code, v, _, took) = timed_get(&env, "");
    assert_error(code, &v, "network", 6);
    assert!(
        took < Duration::from_millis(2500),
        "BSN_TIMEOUT=1 must bound the call: {took:?}"
    );
    // The endpoint is fine again: the next call logs in.
    let (code, v, err) = env.get("");
    assert_eq!(code, 0, "{err}");
    assert_eq!(v["source"], "login");
}

#[test]
fn persistent_5xx_html_is_a_server_error_without_the_html() {
    let env = TestEnv::new();
    env.emu.inject(fault(FaultKind::ServerError, 3));
    let (code, v, err, took) = timed_get(&env, "");
    assert_error(code, &v, "server", 7);
    assert!(!err.contains("<html") && !err.contains("emulated"), "{err}");
    assert!(took < Duration::from_secs(3), "{took:?}");
    assert_eq!(env.stats().faults_served, 3, "three attempts");
    let (code, _, err) = env.get("");
    assert_eq!(code, 0, "{err}");
}

#[test]
fn rate_limit_honours_retry_after_then_gives_up_within_the_deadline() {
    let env = TestEnv::new();
    env.emu
        .inject(fault(FaultKind::RateLimited, 1).retry_after(1));
    let (code, v, err, took) = timed_get(&env, "");
    assert_eq!(code, 0, "{err}");
    assert_eq!(v["source"], "login");
    assert!(
        took >= Duration::from_millis(1000),
        "waited Retry-After, not the 250 ms backoff: {took:?}"
    );

    let mut env = TestEnv::new();
    env.set("BSN_TIMEOUT", "5");
    env.emu
        .inject(fault(FaultKind::RateLimited, 3).retry_after(30));
    let (code, v, err, took) = timed_get(&env, "");
    assert_error(code, &v, "rate_limited", 8);
    assert!(err.contains("retry after 30s"), "{err}");
    assert!(
        took < Duration::from_secs(2),
        "a Retry-After past the deadline is not slept: {took:?}"
    );
}

#[test]
fn truncated_oversized_and_garbage_answers_to_client_credentials() {
    // One bad answer: the login is retried (truncated, oversized) or reported (garbage).
    for (kind, recovers) in [
        (FaultKind::TruncatedJson, true),
        (FaultKind::Oversized, true),
        (FaultKind::Drop, true),
        (FaultKind::Garbage, false),
    ] {
        let env = TestEnv::new();
        env.emu.inject(fault(kind, 1));
        let (code, v, err, took) = timed_get(&env, "");
        assert!(took < Duration::from_secs(5), "{kind:?}: {took:?}");
        if recovers {
            assert_eq!(code, 0, "{kind:?}: {err}");
            assert_eq!(v["source"], "login");
        } else {
            assert_error(code, &v, "server", 7);
            let (code, _, err) = env.get("");
            assert_eq!(code, 0, "{kind:?}: {err}");
        }
        assert_eq!(env.stats().tokens_issued, 1, "{kind:?}");
    }
    // Every attempt bad: the documented code, never a panic or a hang.
    for (kind, expected, exit) in [
        (FaultKind::TruncatedJson, "network", 6),
        (FaultKind::Oversized, "network", 6),
        (FaultKind::Drop, "network", 6),
    ] {
        let env = TestEnv::new();
        env.emu.inject(fault(kind, 3));
        let (code, v, err, took) = timed_get(&env, "");
        assert_error(code, &v, expected, exit);
        assert!(!err.contains("panicked"), "{err}");
        assert!(took < Duration::from_secs(5), "{kind:?}: {took:?}");
        if kind == FaultKind::Oversized {
            assert!(err.contains("larger than"), "{err}");
        }
    }
}

/// An answer lost during a refresh may have consumed the refresh token: it is never sent
/// again (a retry would show up as a processed refresh_token request), and the helper
/// logs in again instead.
#[test]
fn ambiguous_refresh_failures_never_resend_the_refresh_token() {
    for kind in [
        FaultKind::TruncatedJson,
        FaultKind::Drop,
        FaultKind::Garbage,
        FaultKind::Oversized,
    ] {
        let env = TestEnv::new().password_grant();
        env.token();
        env.emu.inject(fault(kind, 1));
        let (code, v, err) = env.get(r#"{"force_refresh":true}"#);
        assert_eq!(code, 0, "{kind:?}: {err}");
        assert_eq!(v["source"], "login", "{kind:?}");
        let stats = env.stats();
        assert_eq!(stats.faults_served, 1, "{kind:?}: {stats:?}");
        assert_eq!(
            stats.token_requests.refresh_token, 0,
            "{kind:?}: the refresh token was sent again: {stats:?}"
        );
        assert_eq!(stats.token_requests.password, 2, "{kind:?}: {stats:?}");
        assert_eq!(stats.refresh_tokens_reused, 0, "{kind:?}: {stats:?}");
        // The new session works normally afterwards.
        let (code, v, _) = env.get(r#"{"force_refresh":true}"#);
        assert_eq!(code, 0);
        assert_eq!(v["source"], "refresh", "{kind:?}");
    }
}

// ---------------------------------------------------------------------------------------
// Network selection refused

#[test]
fn refused_network_selection_hands_out_no_token() {
    let mut env = TestEnv::new();
    env.set("BSN_NETWORK", "Nowhere");
    let (code, v, err) = env.get("");
    assert_error(code, &v, "network_selection", 11);
    assert!(err.contains("BSN_NETWORK"), "{err}");
    // The token was issued (and cached, unselected), but never printed.
    let issued = cached_entry(&env)["access_token"]
        .as_str()
        .unwrap()
        .to_string();
    assert!(!v.to_string().contains(&issued) && !err.contains(&issued));
    let out = env.run(&["token"], "");
    assert_eq!(out.status.code(), Some(11));
    assert!(out.stdout.is_empty(), "{}", stdout(&out));
    assert!(!stderr(&out).contains(&issued));
    // Retries re-attempt only the selection with the live token: no token per attempt.
    let stats = env.stats();
    assert_eq!(stats.tokens_issued, 1, "{stats:?}");
    assert_eq!(stats.network_selections, 0, "{stats:?}");
}

// ---------------------------------------------------------------------------------------
// A stuck lock holder

#[test]
fn lock_held_by_a_stopped_helper_gives_lock_timeout_naming_the_setting() {
    let mut env = TestEnv::new();
    env.emu.inject(slow(20_000));
    let mut holder = spawn(&env, &["token"], "");
    wait_until(
        "the holder to take the lock",
        Duration::from_secs(5),
        || env.cache_file("lock").is_some_and(|p| lock_is_held(&p)),
    );
    signal(&holder, libc::SIGSTOP);
    env.set("BSN_LOCK_TIMEOUT", "1");
    let (code, v, err, took) = timed_get(&env, "");
    signal(&holder, libc::SIGCONT);
    let _ = holder.kill();
    let _ = holder.wait();
    assert_error(code, &v, "lock_timeout", 9);
    assert!(err.contains("BSN_LOCK_TIMEOUT"), "{err}");
    assert!(
        took >= Duration::from_millis(900) && took < Duration::from_secs(3),
        "{took:?}"
    );
    // The killed holder's lock is gone with it.
    let (code, _, err) = env.get("");
    assert_eq!(code, 0, "{err}");
}

#[test]
fn lock_held_elsewhere_blocks_renewal_but_not_a_cache_hit() {
    let mut env = TestEnv::new();
    env.token();
    let lock = std::fs::File::open(env.cache_file("lock").unwrap()).unwrap();
    lock.lock().unwrap();
    env.set("BSN_LOCK_TIMEOUT", "1");
    // A cache hit never touches the lock.
    let (code, v, _, took) = timed_get(&env, "");
    assert_eq!(code, 0);
    assert_eq!(v["source"], "cache");
    assert!(took < Duration::from_millis(900), "{took:?}");
    // A renewal waits for it, then returns the still-valid token saying which setting to
    // raise.
    let (code, v, err, _) = timed_get(&env, r#"{"force_refresh":true}"#);
    assert_eq!((code, v["source"].as_str()), (0, Some("cache")), "{err}");
    assert!(
        v["warning"].as_str().unwrap().contains("BSN_LOCK_TIMEOUT"),
        "{v}"
    );
    drop(lock);
    let (code, v, _) = env.get(r#"{"force_refresh":true}"#);
    assert_eq!(code, 0);
    assert_eq!(v["source"], "login");
}

// ---------------------------------------------------------------------------------------
// A cache that cannot be written

fn assert_cache_error(out: &std::process::Output, what: &str) {
    assert_eq!(out.status.code(), Some(10), "{what}: {}", stderr(out));
    let v: Value = serde_json::from_slice(&out.stdout).unwrap();
    assert_eq!(v["error"]["code"], "cache", "{what}: {v}");
    assert!(
        stderr(out).contains("BSN_CACHE_DIR"),
        "{what}: {}",
        stderr(out)
    );
}

/// A cache that cannot keep a token must not make every call mint one (BrightSign caps
/// unexpired tokens per application): nothing is requested until the cache works.
#[test]
fn entry_path_taken_by_a_directory_is_a_cache_error_and_mints_nothing() {
    let env = TestEnv::new();
    env.token();
    let entry = env.cache_file("json").unwrap();
    std::fs::remove_file(&entry).unwrap();
    std::fs::create_dir(&entry).unwrap();
    std::fs::write(entry.join("keep"), "x").unwrap();
    let minted = env.stats().token_requests.client_credentials;
    for _ in 0..2 {
        assert_cache_error(&env.run(&["get"], ""), "rename onto a directory");
    }
    assert_eq!(env.stats().token_requests.client_credentials, minted);
    assert!(entry.join("keep").exists(), "the directory is left alone");
    let leftovers = env.cache_files("tmp");
    assert!(leftovers.is_empty(), "temp files left: {leftovers:?}");
}

#[test]
fn full_disk_is_a_cache_error_then_caches_normally_with_space_again() {
    let env = TestEnv::new();
    let mut cmd = env.cmd(&["get"]);
    disk_full(&mut cmd);
    assert_cache_error(&run_with_stdin(cmd, ""), "EFBIG");
    assert_eq!(env.stats().token_requests.client_credentials, 0);
    assert_eq!(env.cache_files("tmp"), Vec::<PathBuf>::new());
    // With space again, the next call caches normally.
    let (code, v, _) = env.get("");
    assert_eq!(code, 0);
    assert!(v.get("warning").is_none(), "{v}");
}

/// A refresh whose new tokens cannot be written spent the cached refresh token: it must
/// not stay in the cache (the write-failure tests above use client credentials and an
/// empty cache). The next renewal logs in or refreshes without reuse.
#[test]
fn failed_cache_write_after_a_refresh_never_keeps_the_spent_refresh_token() {
    let env = TestEnv::new().password_grant();
    env.token();
    let mut cmd = env.cmd(&["get"]);
    disk_full(&mut cmd);
    let out = run_with_stdin(cmd, r#"{"force_refresh":true}"#);
    if out.status.success() {
        let v: Value = serde_json::from_slice(&out.stdout).unwrap();
        assert!(v["warning"].is_string(), "refresh with a full disk: {v}");
    } else {
        // Also acceptable: refusing to refresh because the cache cannot be written.
        assert_eq!(out.status.code(), Some(10), "{}", stderr(&out));
    }
    for round in 0..2 {
        let (code, v, err) = env.get(r#"{"force_refresh":true}"#);
        assert_eq!(code, 0, "round {round}: {v} {err}");
    }
    let stats = env.stats();
    assert_eq!(
        stats.refresh_tokens_reused, 0,
        "a spent refresh token was presented again: {stats:?}"
    );
    assert_eq!(stats.sessions_ended_by_reuse, 0, "{stats:?}");
}

/// After a 500 the server may have processed the refresh (and spent the token): no retry
/// with the same refresh token; the helper logs in again. (429 and 502–504 mean it never
/// got that far and may be retried.)
#[test]
fn refresh_answered_500_is_not_retried_and_logs_in_again() {
    let env = TestEnv::new().password_grant();
    env.token();
    env.emu.inject(fault(FaultKind::InternalError, 1));
    let (code, v, err) = env.get(r#"{"force_refresh":true}"#);
    assert_eq!(code, 0, "{err}");
    assert_eq!(v["source"], "login", "{v}");
    let stats = env.stats();
    assert_eq!(stats.faults_served, 1, "{stats:?}");
    assert_eq!(
        stats.token_requests.refresh_token, 0,
        "the refresh token was sent again after a 500: {stats:?}"
    );
    assert_eq!(stats.token_requests.password, 2, "{stats:?}");
    assert_eq!(stats.refresh_tokens_reused, 0, "{stats:?}");
}

/// A redirect is never followed (it would resend the client secret to wherever it points)
/// and is a `config` error naming BSN_TOKEN_URL.
#[test]
fn redirects_are_not_followed_and_are_a_config_error() {
    let elsewhere = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
    elsewhere.set_nonblocking(true).unwrap();
    let location = format!(
        "http://127.0.0.1:{}/realms/bsncloud/protocol/openid-connect/token",
        elsewhere.local_addr().unwrap().port()
    );
    for status in [
        "301 Moved Permanently",
        "302 Found",
        "303 See Other",
        "307 Temporary Redirect",
        "308 Permanent Redirect",
    ] {
        let mut env = TestEnv::new();
        let base = canned_endpoint(status, &[("Location", &location)], "");
        env.set("BSN_TOKEN_URL", &format!("{base}/token"));
        env.set("BSN_TIMEOUT", "3");
        let (code, v, err) = env.get("");
        match elsewhere.accept() {
            Err(e) if e.kind() == std::io::ErrorKind::WouldBlock => {}
            other => panic!("{status}: the redirect was followed: {other:?}"),
        }
        assert_error(code, &v, "config", 3);
        assert!(
            err.contains("redirect") && err.contains("BSN_TOKEN_URL"),
            "{status}: {err}"
        );
    }
}

/// The offline fallback (a still-valid cached token when BSN.cloud answers 429 or 5xx)
/// never hands back the token the caller reported as rejected.
#[test]
fn offline_fallback_never_returns_the_rejected_token() {
    for (kind, code_name, exit) in [
        (FaultKind::RateLimited, "rate_limited", 8),
        (FaultKind::ServerError, "server", 7),
    ] {
        let env = TestEnv::new();
        let rejected = env.token();
        env.emu.inject(fault(kind, 3).retry_after(100));
        let (code, v, err) = env.get(&format!(r#"{{"rejected_token":"{rejected}"}}"#));
        assert_error(code, &v, code_name, exit);
        assert!(
            !v.to_string().contains(&rejected) && !err.contains(&rejected),
            "{kind:?}: {v} {err}"
        );
    }
}

/// The fallback covers outages only: a refused secret with a still-valid cached token is
/// `invalid_credentials` (exit 4), not that token with a warning.
#[test]
fn offline_fallback_is_only_for_transient_errors() {
    // 4 s tokens, min_ttl capped at 45 % (1.8 s): after 2.3 s the cached token is due for
    // renewal but still valid for a while.
    let mut env = TestEnv::with_ttls(4, 60, 600);
    env.set("BSN_MIN_TTL", "100");
    let cached = env.token();
    sleep_ms(2300);
    assert_eq!(env.emu.stats().faults_served, 0);
    // An outage: the cached token, with a warning. (A Retry-After past the deadline is not
    // waited for: one attempt, one fault.)
    env.emu
        .inject(fault(FaultKind::RateLimited, 1).retry_after(100));
    let (code, v, err) = env.get("");
    assert_eq!(code, 0, "{err}");
    assert_eq!(v["access_token"], cached.as_str());
    assert!(v["warning"].is_string(), "{v}");
    assert_eq!(env.emu.stats().faults_served, 1);
    // Not an outage: the error, and no token.
    env.set("BSN_CLIENT_SECRET", "wrong-secret");
    let (code, v, err) = env.get("");
    assert_error(code, &v, "invalid_credentials", 4);
    assert!(!v.to_string().contains(&cached) && !err.contains(&cached));
}

/// Entries are replaced by rename, never rewritten in place: a reader that opened the old
/// entry keeps reading the whole old JSON across renewals, and readers opening the path
/// meanwhile always get a complete entry.
#[test]
fn entry_is_replaced_by_rename_never_rewritten_in_place() {
    use std::io::Read;
    use std::os::unix::fs::MetadataExt;
    use std::sync::atomic::{AtomicBool, AtomicUsize, Ordering};
    let env = TestEnv::new().password_grant();
    env.token();
    let path = env.cache_file("json").unwrap();
    let before = std::fs::read(&path).unwrap();
    let mut old = std::fs::File::open(&path).unwrap();
    let old_inode = old.metadata().unwrap().ino();
    let (stop, reads, torn) = (
        AtomicBool::new(false),
        AtomicUsize::new(0),
        AtomicUsize::new(0),
    );
    std::thread::scope(|s| {
        s.spawn(|| {
            while !stop.load(Ordering::SeqCst) {
                let bytes = std::fs::read(&path).unwrap_or_default();
                if serde_json::from_slice::<Value>(&bytes).is_err() {
                    torn.fetch_add(1, Ordering::SeqCst);
                }
                reads.fetch_add(1, Ordering::SeqCst);
            }
        });
        for round in 0..10 {
            let (code, v, err) = env.get(r#"{"force_refresh":true}"#);
            assert_eq!(code, 0, "round {round}: {v} {err}");
        }
        stop.store(true, Ordering::SeqCst);
    });
    assert_eq!(
        torn.load(Ordering::SeqCst),
        0,
        "torn reads out of {reads:?}"
    );
    let mut kept = Vec::new();
    old.read_to_end(&mut kept).unwrap();
    assert_eq!(
        String::from_utf8_lossy(&kept),
        String::from_utf8_lossy(&before),
        "the open descriptor's file was rewritten in place"
    );
    let now = std::fs::read(&path).unwrap();
    assert_ne!(now, before, "renewed");
    assert_ne!(
        std::fs::metadata(&path).unwrap().ino(),
        old_inode,
        "same inode"
    );
    assert_eq!(env.cache_files("tmp"), Vec::<PathBuf>::new());
}
