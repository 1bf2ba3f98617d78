//! Time you can trust (issue 20): a token obtained while the clock was an hour fast is
//! renewed, not served, once the clock is corrected — per host and in fleet mode — and the
//! renewal that saw the bad clock says so, with the offset and the fix. The helper runs
//! under libfaketime (Debian `faketime`, installed by .ci/run); the emulator keeps the
//! real time and sends it in its `Date` header.

use crate::fleet::on_host;
use crate::redis_server::Redis;
use crate::util::*;
use serde_json::Value;
use std::process::Command;

fn have_faketime() -> bool {
    Command::new("faketime").arg("--version").output().is_ok()
}

/// `args` run with the helper's clock `offset` ahead (e.g. "+1h").
fn shifted(mut cmd: Command, offset: &str, stdin: &str) -> (Value, String) {
    let mut wrapped = Command::new("faketime");
    wrapped.arg("-f").arg(offset).arg(cmd.get_program());
    wrapped.args(cmd.get_args());
    wrapped.env_clear();
    for (k, v) in cmd.get_envs() {
        if let Some(v) = v {
            wrapped.env(k, v);
        }
    }
    if let Some(dir) = cmd.get_current_dir() {
        wrapped.current_dir(dir);
    }
    cmd = wrapped;
    let out = run_with_stdin(cmd, stdin);
    assert!(out.status.success(), "{}", stderr(&out));
    (serde_json::from_slice(&out.stdout).unwrap(), stderr(&out))
}

#[test]
fn a_token_obtained_with_the_clock_an_hour_fast_is_renewed_once_it_is_corrected() {
    if !require("faketime", have_faketime()) {
        return;
    }
    let env = TestEnv::with_ttls(5, 60, 600);
    let (first, err) = shifted(env.cmd(&["get"]), "+1h", "");
    assert_eq!(first["source"], "login");
    let warning = first["warning"].as_str().unwrap_or_default();
    assert!(
        warning.contains("clock is 3600s ahead") || warning.contains("clock is 3599s ahead"),
        "the renewal names the offset: {first} {err}"
    );
    assert!(warning.contains("NTP"), "and the fix: {warning}");
    // The clock is right again: the entry claims an hour of life for a 5 s token.
    let (code, second, err) = env.get("");
    assert_eq!(code, 0, "{err}");
    assert_eq!(second["source"], "login", "renewed, not served: {second}");
    assert_ne!(second["access_token"], first["access_token"]);
    assert!(second["expires_in"].as_u64().unwrap() <= 5, "{second}");
    // And doctor agrees with the corrected clock.
    let out = env.run(&["doctor"], "");
    assert!(out.status.success(), "{}", stdout(&out));
}

#[test]
fn doctor_fails_the_clock_when_it_is_ten_minutes_slow() {
    if !require("faketime", have_faketime()) {
        return;
    }
    let env = TestEnv::new();
    env.token();
    let mut cmd = env.cmd(&["doctor"]);
    cmd.stdin(std::process::Stdio::null());
    let mut wrapped = Command::new("faketime");
    wrapped.arg("-f").arg("-10m").arg(bin()).arg("doctor");
    apply_env(&mut wrapped, &env);
    let out = wrapped.output().unwrap();
    let text = stdout(&out);
    assert!(!out.status.success(), "{text}");
    assert!(
        text.contains("✗ clock") || text.contains("✗ token"),
        "{text}"
    );
    assert!(text.contains("NTP"), "{text}");
    drop(cmd);
}

#[test]
fn in_fleet_mode_a_host_whose_clock_was_fast_renews_from_the_fleet_once_corrected() {
    if !require("faketime", have_faketime()) {
        return;
    }
    let Some(redis) = Redis::start() else { return };
    let env = TestEnv::with_ttls(5, 60, 600);
    // Host 0 logs in with its clock an hour fast; the fleet entry is timed by Redis's clock.
    let (first, _) = shifted(on_host(&env, &redis, 0, &["get"]), "+1h", "");
    assert_eq!(first["source"], "login");
    // Host 1, clock right, shares it.
    let out = run_with_stdin(on_host(&env, &redis, 1, &["get"]), "");
    let v: Value = serde_json::from_slice(&out.stdout).unwrap();
    assert_eq!(v["source"], "shared", "{v}");
    assert!(v["expires_in"].as_u64().unwrap() <= 5, "{v}");
    // Host 0's clock is corrected: its own file claims an hour of life; it must not serve it.
    let out = run_with_stdin(on_host(&env, &redis, 0, &["get"]), "");
    let v: Value = serde_json::from_slice(&out.stdout).unwrap();
    assert_ne!(v["source"], "cache", "{v}");
    assert!(v["expires_in"].as_u64().unwrap() <= 5, "{v}");
}
