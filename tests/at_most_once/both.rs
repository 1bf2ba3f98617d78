//! Write-ahead scenarios, each a function of the store (see `over_both_stores!`). With the
//! password grant, so there is a refresh token to lose or to present twice. "Host" n is
//! a separate cache dir in fleet mode and the same one in file mode.

use super::endpoints::{TokenProxy, recording_endpoint, wait_until};
use super::stores::{FORCE, Store, StoreKind};
use crate::util::*;
use bsn_emulator::{Fault, FaultKind, FaultTarget};
use std::process::Stdio;
use std::time::Duration;

fn no_reuse(env: &TestEnv, what: &str) {
    let stats = env.stats();
    assert_eq!(stats.refresh_tokens_reused, 0, "{what}: {stats:?}");
    assert_eq!(stats.sessions_ended_by_reuse, 0, "{what}: {stats:?}");
}

/// SIGKILL while the token endpoint holds the refresh request (it answers after 2 s, so
/// the server has the token and will rotate it); then another caller renews. Without the
/// write-ahead the second caller presents the same refresh token again.
/// Fleet (issue 21 item 5): the killed host held the fleet lock; the second host waits for
/// its TTL. Break checked: the write-ahead `fleet.write` in `renew_locked`
/// (broker/fleet.rs) removed → the fleet variant fails (reused 1).
pub fn sigkill_mid_refresh_never_presents_a_refresh_token_twice(kind: StoreKind) {
    let Some(s) = Store::new(kind) else { return };
    let mut env = TestEnv::new().password_grant();
    // Fleet lock TTL = BSN_TIMEOUT + 4 × shared timeout + 2 s: about 5.8 s.
    env.set("BSN_TIMEOUT", "3");
    env.set("BSN_SHARED_CACHE_TIMEOUT_MS", "200");
    assert_eq!(s.get(&env, 0, "").0, 0);
    let rounds = if kind == StoreKind::File { 4 } else { 2 };
    for round in 1..=rounds {
        let (killed, renewer) = (2 * round - 1, 2 * round);
        s.get(&env, killed, "");
        env.emu.inject(Fault::new(FaultKind::Slow).delay_ms(2_000));
        let served_before = env.stats().faults_served;
        let mut cmd = s.cmd(&env, killed, &["get"]);
        cmd.stdin(Stdio::piped()).stdout(Stdio::null());
        let mut child = cmd.spawn().unwrap();
        std::io::Write::write_all(&mut child.stdin.take().unwrap(), FORCE.as_bytes()).unwrap();
        wait_until(
            "the refresh to reach the endpoint",
            Duration::from_secs(10),
            || env.stats().faults_served > served_before,
        );
        child.kill().unwrap();
        let _ = child.wait();
        // The emulator finishes the request it holds, rotating the token.
        sleep_ms(2_300);
        let (code, v, err) = s.renew_on(&env, renewer);
        assert_eq!(code, 0, "round {round}: {err}");
        assert_eq!(
            v["source"], "login",
            "round {round}: the spent token is not used: {v}"
        );
        no_reuse(&env, &format!("round {round}"));
    }
}

/// Issue 21 item 10: the token URL's port is closed (connect refused: the refresh never
/// left the machine), so the refresh token is restored, in the fleet entry too; a later
/// refresh on another host uses it, with no extra login. The token URL goes through a
/// proxy so it (and the cache key) stays the same when the port opens again.
/// Break checked: the restoring `fleet.write` in `refresh_for_fleet` (broker/fleet.rs)
/// removed → the fleet variant logs in instead of refreshing.
pub fn a_refresh_that_never_left_the_machine_keeps_its_refresh_token(kind: StoreKind) {
    let Some(s) = Store::new(kind) else { return };
    let mut env = TestEnv::new().password_grant();
    let proxy = TokenProxy::start(env.emu.port());
    env.set(
        "BSN_TOKEN_URL",
        &proxy.url(&env.emu.token_url(), env.emu.port()),
    );
    env.set("BSN_TIMEOUT", "3");
    assert_eq!(s.get(&env, 0, "").1["source"], "login");
    proxy.down();
    let before = env.stats().token_requests;
    let (_, v, err) = s.renew_on(&env, 1);
    assert!(
        err.contains("token endpoint"),
        "the cause is named: {v} {err}"
    );
    assert_eq!(
        env.stats().token_requests,
        before,
        "nothing reached the server"
    );
    proxy.up();
    let (code, v, err) = s.renew_on(&env, 2);
    assert_eq!(
        (code, v["source"].as_str()),
        (0, Some("refresh")),
        "{v} {err}"
    );
    assert_eq!(env.stats().token_requests.password, before.password);
    no_reuse(&env, "after the restore");
}

/// Issue 21 item 7: git reports a token refused after another host already renewed it. The
/// rejection must expire that old token only, never the current one.
/// Break checked: `reject_in_fleet` (broker/fleet.rs) without its
/// `entry.access_token != *rejected` check → the fleet variant renews again.
pub fn a_late_rejection_of_an_old_token_leaves_the_current_one_alone(kind: StoreKind) {
    let Some(s) = Store::new(kind) else { return };
    let env = TestEnv::new().password_grant();
    let (_, old, _) = s.get(&env, 0, "");
    let old = old["access_token"].as_str().unwrap().to_string();
    let (_, current, err) = s.renew_on(&env, 1);
    assert_eq!(current["source"], "refresh", "{current} {err}");
    let input = format!(
        "protocol=http\nhost=127.0.0.1:{}\nusername=x\npassword={old}\n\n",
        env.emu.port()
    );
    let out = run_with_stdin(s.cmd(&env, 0, &["git", "erase"]), &input);
    assert!(out.status.success(), "{}", stderr(&out));
    let before = env.stats().token_requests;
    for host in [2, 0] {
        let (code, v, err) = s.get(&env, host, "");
        assert_eq!(code, 0, "{err}");
        assert_eq!(
            v["access_token"], current["access_token"],
            "host {host}: {v}"
        );
    }
    assert_eq!(
        env.stats().token_requests,
        before,
        "no renewal after a late rejection"
    );
}

/// A new token refused during network selection (401: its session is gone) means one
/// more login and selection, never a loop.
pub fn token_refused_during_network_selection_renews_once_and_selects_again(kind: StoreKind) {
    let Some(s) = Store::new(kind) else { return };
    let env = TestEnv::new();
    env.emu
        .inject(Fault::new(FaultKind::Unauthorized).target(FaultTarget::Api));
    let (code, v, err) = s.get(&env, 0, "");
    assert_eq!(code, 0, "{err}");
    assert_eq!(v["source"], "login");
    let stats = env.stats();
    assert_eq!(stats.token_requests.client_credentials, 2, "one renewal");
    assert_eq!(stats.network_selections, 1);
    // Refused every time: an error after one renewal, never a loop.
    env.emu.inject(
        Fault::new(FaultKind::Unauthorized)
            .target(FaultTarget::Api)
            .count(5),
    );
    let (code, v, _) = s.get(&env, 0, FORCE);
    assert_eq!(
        (code, v["error"]["code"].as_str()),
        (11, Some("network_selection")),
        "{v}"
    );
    assert_eq!(env.stats().token_requests.client_credentials, 4);
}

/// Issue 18: the client secret command fails once, on its n-th run (n = 2…5, so the failure
/// lands on every call a renewal makes, before or after the write-ahead). A refresh token
/// that was never sent is never lost: a later renewal with a working secret refreshes,
/// with no extra login and nothing presented twice.
/// Fleet today: fails for n = 4 — `refresh_for_fleet` resolves the secret again after the
/// write-ahead, and its failure drops the refresh token (a login follows).
pub fn a_failing_secret_command_never_loses_a_refresh_token(kind: StoreKind) {
    for fail_at in 2..=5 {
        let Some(s) = Store::new(kind) else { return };
        let mut env = TestEnv::new().password_grant();
        let calls = counting_secret_command(&mut env, Some(fail_at));
        let get = |host: usize, request: &str| {
            let mut cmd = s.cmd(&env, host, &["get"]);
            cmd.env_remove("BSN_CLIENT_SECRET");
            let out = run_with_stdin(cmd, request);
            let v: serde_json::Value = serde_json::from_slice(&out.stdout).unwrap_or_default();
            (out.status.code(), v, stderr(&out))
        };
        assert_eq!(get(0, "").1["source"], "login", "fail_at {fail_at}");
        for host in 1..=6 {
            if calls() >= fail_at {
                break;
            }
            get(host, "");
            get(host, FORCE);
        }
        assert!(calls() >= fail_at, "the secret command failed once");
        get(7, "");
        let (code, v, err) = get(7, FORCE);
        assert_eq!(code, Some(0), "fail_at {fail_at}: {err}");
        assert_eq!(
            v["source"], "refresh",
            "fail_at {fail_at}: the refresh token survived: {v}"
        );
        assert_eq!(env.stats().token_requests.password, 1, "fail_at {fail_at}");
        no_reuse(&env, &format!("fail_at {fail_at}"));
    }
}

/// Any answer to a refresh that is not a usable Bearer token spends the refresh token: it
/// is presented once, never again. The proxy sends the refresh to an endpoint answering
/// `body` and recording what it was sent. Break checked: fleet write-ahead removed → the
/// fleet variant presents it twice. (The file variant survives the file write-ahead's
/// removal: the login that follows writes the entry without the token first; the SIGKILL
/// scenario catches that break.)
pub fn unusable_answers_to_a_refresh_spend_its_token(kind: StoreKind) {
    let answers = [
        r#"{"access_token":"x","token_type":"mac","expires_in":300,"refresh_token":"r2"}"#,
        r#"{"access_token":"a\r\nhost=evil","expires_in":300,"refresh_token":"r2"}"#,
        r#"{"access_token":"x","expires_in":0,"refresh_token":"r2"}"#,
    ];
    for body in answers {
        let Some(s) = Store::new(kind) else { return };
        let mut env = TestEnv::new().password_grant();
        let proxy = TokenProxy::start(env.emu.port());
        env.set(
            "BSN_TOKEN_URL",
            &proxy.url(&env.emu.token_url(), env.emu.port()),
        );
        assert_eq!(s.get(&env, 0, "").1["source"], "login");
        let (url, seen) = recording_endpoint(body.to_string());
        let port = url.rsplit(':').next().unwrap().trim_end_matches("/token");
        proxy.route_to(port.parse().unwrap());
        for host in 1..=2 {
            let (code, v, err) = s.renew_on(&env, host);
            assert!(code != 0 || v["warning"].is_string(), "{body}: {v}");
            assert!(!err.contains('\r') && !err.contains("host=evil\n"), "{err}");
            assert!(!v.to_string().contains("host=evil"), "{v}");
        }
        let presented: Vec<String> = seen
            .lock()
            .unwrap()
            .iter()
            .filter(|b| b.contains("grant_type=refresh_token"))
            .filter_map(|b| b.split('&').find(|f| f.starts_with("refresh_token=")))
            .map(str::to_string)
            .collect();
        assert!(!presented.is_empty(), "{body}: the refresh was tried");
        let mut distinct = presented.clone();
        distinct.sort();
        distinct.dedup();
        assert_eq!(
            distinct.len(),
            presented.len(),
            "{body}: presented twice: {presented:?}"
        );
    }
}
