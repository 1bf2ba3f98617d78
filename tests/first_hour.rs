//! Issue 12, the first hour: revocation on `erase`, `doctor`, honest `min_ttl`, `status`
//! without a secret, `-v` sources, `--version` under every name. Real processes against
//! the emulator.

use crate::util::{TestEnv, bin, stderr, stdout};
use bsn_emulator::EmulatorConfig;
use std::process::Command;

fn capped(max_active: usize) -> TestEnv {
    let mut config = EmulatorConfig::demo();
    config.max_active = Some(max_active);
    TestEnv::with_config(config)
}

#[test]
fn erase_revokes_so_a_new_token_fits_under_max_active_1() {
    let env = capped(1);
    let first = env.token();
    let out = env.run(&["erase"], "");
    assert!(out.status.success(), "{}", stderr(&out));
    assert!(stderr(&out).contains("revoked"), "{}", stderr(&out));
    assert_eq!(env.stats().revocations, 1);
    assert!(env.cache_file("json").is_none());
    let second = env.token();
    assert_ne!(first, second);
    // Without revocation the old token still counts against the cap: 429, exit 8.
    let out = env.run(&["erase", "--no-revoke"], "");
    assert!(out.status.success());
    let out = env.run(&["token"], "");
    assert_eq!(out.status.code(), Some(8), "{}", stderr(&out));
    assert!(stderr(&out).contains("Too many unexpired access tokens"));
    assert_eq!(env.stats().revocations, 1);
}

#[test]
fn erase_of_a_user_session_revokes_the_refresh_token_and_ends_the_session() {
    let env = capped(1).password_grant();
    env.token();
    let out = env.run(&["erase"], "");
    assert!(
        stderr(&out).contains("ended the session"),
        "{}",
        stderr(&out)
    );
    assert_eq!(env.stats().active_tokens, 0);
    env.token();
    assert_eq!(env.stats().token_requests.password, 2);
}

#[test]
fn failed_revocation_is_a_warning_and_the_erase_stands() {
    let mut env = TestEnv::new();
    env.token();
    let wrong = format!("{}/no/such/revoke", env.emu.base_url());
    env.set("BSN_REVOKE_URL", &wrong);
    let out = env.run(&["erase"], "");
    assert_eq!(out.status.code(), Some(0));
    assert!(
        stderr(&out).contains("warning: the access_token was not revoked"),
        "{}",
        stderr(&out)
    );
    assert!(stderr(&out).contains("HTTP 404"), "{}", stderr(&out));
    assert!(env.cache_file("json").is_none());
}

#[test]
fn doctor_passes_and_its_token_is_cached_not_wasted() {
    let env = TestEnv::new();
    let out = env.run(&["doctor"], "");
    let text = stdout(&out);
    assert_eq!(out.status.code(), Some(0), "{text}{}", stderr(&out));
    for line in [
        "client_id              demo-client   ← environment BSN_CLIENT_ID",
        "client_secret          set   ← environment BSN_CLIENT_SECRET",
        "✓ session        GET /2022/06/REST/Self/Session: network \"Demo\", scopes bsn.api.main.operations",
        "✓ clock",
        "all 8 checks passed",
    ] {
        assert!(text.contains(line), "{line:?} missing from\n{text}");
    }
    assert!(!text.contains("demo-secret"));
    let (code, answer, _) = env.get("");
    assert_eq!((code, answer["source"].as_str()), (0, Some("cache")));
    assert_eq!(env.stats().tokens_issued, 1);
}

#[test]
fn doctor_names_what_failed_and_exits_1() {
    let mut env = TestEnv::new();
    env.set("BSN_NETWORK", "Nowhere");
    let out = env.run(&["doctor", "--json"], "");
    assert_eq!(out.status.code(), Some(1));
    let report: serde_json::Value = serde_json::from_slice(&out.stdout).unwrap();
    let failed: Vec<&str> = report["checks"]
        .as_array()
        .unwrap()
        .iter()
        .filter(|c| c["ok"] == false)
        .map(|c| c["name"].as_str().unwrap())
        .collect();
    assert_eq!(failed, ["network"], "{report}");
    env.set("BSN_NETWORK", "Demo");
    env.set("BSN_CLIENT_SECRET", "wrong");
    let out = env.run(&["doctor"], "");
    assert_eq!(out.status.code(), Some(1));
    assert!(stdout(&out).contains("✗ token"), "{}", stdout(&out));
    assert!(stdout(&out).contains("client id \"demo-client\" or its secret"));
}

#[test]
fn doctor_reports_file_lines_and_a_secret_only_as_set() {
    let env = TestEnv::new();
    let config = env.path("c.toml");
    crate::util::write_file(
        &config,
        "[profiles.default]\nclient_id = \"demo-client\"\n\nclient_secret_env = \"MY_SECRET\"\nmin_ttl = 30\n",
    );
    let mut cmd = env.cmd(&["--config", config.to_str().unwrap(), "-v", "doctor"]);
    cmd.env_remove("BSN_CLIENT_ID")
        .env_remove("BSN_CLIENT_SECRET")
        .env("MY_SECRET", "demo-secret");
    let out = cmd.output().unwrap();
    let text = stdout(&out);
    let at = |line: u32| format!("{}:{line}", config.display());
    assert!(
        text.contains(&format!("client_id              demo-client   ← {}", at(2))),
        "{text}"
    );
    assert!(
        text.contains(&format!("client_secret_env = \"MY_SECRET\" in {}", at(4))),
        "{text}"
    );
    assert!(
        text.contains(&format!("min_ttl                30   ← {}", at(5))),
        "{text}"
    );
    assert!(!text.contains("demo-secret") && !stderr(&out).contains("demo-secret"));
    assert!(out.status.success(), "{text}");
    // -v prints the same explanation on stderr before any command.
    assert!(stderr(&out).contains(&format!("debug: config file {} (read)", config.display())));
}

#[test]
fn unmet_min_ttl_is_said_with_both_numbers() {
    let env = TestEnv::new(); // 300-second tokens
    let (code, answer, err) = env.get(r#"{"min_ttl": 900}"#);
    assert_eq!(code, 0);
    let warning = answer["warning"].as_str().expect("a warning in the answer");
    for part in ["min_ttl 900s cannot be met", "tokens that live 300s"] {
        assert!(warning.contains(part), "{warning}");
    }
    assert!(err.contains(warning), "{err}");
    let (_, answer, err) = env.get(r#"{"min_ttl": 120}"#);
    assert!(
        answer.get("warning").is_none() && err.is_empty(),
        "{answer} {err}"
    );
}

#[test]
fn status_needs_no_secret_and_reports_errors_on_stderr() {
    let env = TestEnv::new();
    let config = env.path("c.toml");
    crate::util::write_file(
        &config,
        "[profiles.staging]\nclient_id = \"x\"\nclient_secret_env = \"STAGING_BSN_SECRET\"\n\
         [profiles.broken]\nclient_id = \"y\"\ntoken_url = \"http://example.com/t\"\n",
    );
    let mut cmd = env.cmd(&["--config", config.to_str().unwrap(), "status"]);
    cmd.env_remove("BSN_CLIENT_SECRET")
        .env_remove("BSN_TOKEN_URL");
    let out = cmd.output().unwrap();
    assert!(stdout(&out).contains("profile staging"), "{}", stdout(&out));
    assert!(!stdout(&out).contains("error"), "{}", stdout(&out));
    assert!(
        stderr(&out).contains("error: BSN_TOKEN_URL / token_url"),
        "{}",
        stderr(&out)
    );
    assert_eq!(out.status.code(), Some(3));
}

#[cfg(unix)]
#[test]
fn every_invocation_name_answers_version() {
    let dir = tempfile::tempdir().unwrap();
    for name in [
        "bsn-credential-helper",
        "git-credential-bsn",
        "docker-credential-bsn",
        "bazel-credential-bsn",
    ] {
        let link = dir.path().join(name);
        std::os::unix::fs::symlink(bin(), &link).unwrap();
        let out = Command::new(&link).arg("--version").output().unwrap();
        assert_eq!(out.status.code(), Some(0), "{name}: {}", stderr(&out));
        assert!(
            stdout(&out).starts_with("bsn-credential-helper 0."),
            "{name}: {}",
            stdout(&out)
        );
    }
}

/// A human command whose reader went away (`… | head -1` after one line) ends quietly
/// with its usual exit code, never the `internal` error (12) a panicking `println!` gave.
#[test]
fn human_commands_with_a_closed_stdout_exit_as_usual() {
    let env = TestEnv::new();
    env.token();
    let setup_home = env.path("setup-home");
    std::fs::create_dir_all(&setup_home).unwrap();
    for (args, want) in [
        (&["status"][..], 0),
        (&["doctor"], 0),
        (&["setup", "docker", "--dry-run"], 0),
        (&["install-links", "--dir", "links"], 0),
    ] {
        let mut cmd = env.cmd(args);
        cmd.env("HOME", &setup_home)
            .current_dir(env.path(""))
            .stdin(std::process::Stdio::null())
            .stdout(std::process::Stdio::piped())
            .stderr(std::process::Stdio::piped());
        let mut child = cmd.spawn().unwrap();
        drop(child.stdout.take());
        let out = child.wait_with_output().unwrap();
        assert_eq!(out.status.code(), Some(want), "{args:?}: {}", stderr(&out));
        assert!(
            !stderr(&out).contains("internal"),
            "{args:?}: {}",
            stderr(&out)
        );
    }
}

/// Under a cap that refuses a new token, a forced refresh cannot be met: `get` says so in
/// its answer (`source` "cache" and a `warning`: the cached token, not a newer one), and
/// `token`/`header --force-refresh` fail with the refusal's exit code instead of printing
/// the old token as if it were new.
#[test]
fn a_forced_refresh_that_cannot_be_met_is_said_not_hidden() {
    let env = capped(1);
    let first = env.token();
    let (code, v, err) = env.get(r#"{"force_refresh":true}"#);
    assert_eq!(code, 0, "{err}");
    assert_eq!(v["source"], "cache", "{v}");
    assert_eq!(v["access_token"], first.as_str());
    assert!(v["warning"].is_string(), "{v}");
    for cmd in ["token", "header"] {
        let out = env.run(&[cmd, "--force-refresh"], "");
        assert_eq!(out.status.code(), Some(8), "{cmd}: {}", stderr(&out));
        assert!(stdout(&out).is_empty(), "{cmd} printed {}", stdout(&out));
        assert!(stderr(&out).contains("--force-refresh"), "{}", stderr(&out));
    }
    // Without --force-refresh the cached token is still what `token` prints.
    assert_eq!(env.token(), first);
}
