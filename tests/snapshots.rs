//! Exact JSON of every protocol answer the real binary can give, and `--help`.
//! Ports, temp paths, tokens and times are filtered; everything else is pinned.

use crate::util::*;
use bsn_emulator::{Fault, FaultKind};
use std::fs::File;

fn settings(env: &TestEnv) -> insta::Settings {
    let mut s = insta::Settings::clone_current();
    s.add_filter(
        &regex_escape(&env.home.path().display().to_string()),
        "[HOME]",
    );
    s.add_filter(r"127\.0\.0\.1:\d+", "127.0.0.1:[PORT]");
    s.add_filter(r"emu-at-[0-9a-f]+", "[ACCESS_TOKEN]");
    s.add_filter(r"\d{4}-\d\d-\d\dT\d\d:\d\d:\d\dZ", "[TIME]");
    s.add_filter(r#""expires_in":\d+"#, r#""expires_in":[SECS]"#);
    s.add_filter(r"token-[0-9a-f]{16}", "token-[HASH]");
    s.add_filter(r"\(\d+ \(0x[0-9a-f]+\)\)|\(os error \d+\)", "([OS ERROR])");
    s
}

fn regex_escape(s: &str) -> String {
    s.chars()
        .flat_map(|c| {
            if "\\.+*?()|[]{}^$".contains(c) {
                vec!['\\', c]
            } else {
                vec![c]
            }
        })
        .collect()
}

/// `get` with extra environment; returns "exit N\n<stdout>".
fn answer(env: &TestEnv, vars: &[(&str, &str)], request: &str) -> String {
    let mut cmd = env.cmd(&["get"]);
    for (k, v) in vars {
        if v.is_empty() {
            cmd.env_remove(k);
        } else {
            cmd.env(k, v);
        }
    }
    let out = run_with_stdin(cmd, request);
    let stdout = stdout(&out);
    // Secrets never appear in either stream, whatever the outcome.
    for secret in ["demo-secret", "demo-password", "wrong-secret"] {
        assert!(!stdout.contains(secret) && !stderr(&out).contains(secret));
    }
    format!("exit {}\n{}", out.status.code().unwrap_or(-1), stdout)
}

#[test]
fn protocol_answers() {
    let env = TestEnv::new();
    let mut all = String::new();
    let mut case = |name: &str, text: String| all.push_str(&format!("== {name}\n{text}\n"));

    case("success (login)", answer(&env, &[], ""));
    case(
        "success (cache)",
        answer(&env, &[], r#"{"version":1,"unknown":true}"#),
    );
    case("invalid_request: not JSON", answer(&env, &[], "min_ttl=5"));
    case(
        "invalid_request: wrong type",
        answer(&env, &[], r#"{"min_ttl":"soon"}"#),
    );
    case(
        "invalid_request: version",
        answer(&env, &[], r#"{"version":7}"#),
    );
    case(
        "config: no client id",
        answer(&env, &[("BSN_CLIENT_ID", "")], ""),
    );
    case(
        "config: plain http",
        answer(
            &env,
            &[("BSN_TOKEN_URL", "http://auth.example.com/token")],
            "",
        ),
    );
    case(
        "invalid_credentials",
        answer(
            &env,
            &[
                ("BSN_CLIENT_SECRET", "wrong-secret"),
                ("BSN_NETWORK", "Other"),
            ],
            "",
        ),
    );
    case(
        "login_required",
        answer(
            &env,
            &[
                ("BSN_GRANT", "password"),
                ("BSN_USERNAME", "demo@example.com"),
            ],
            "",
        ),
    );
    case(
        "network",
        answer(
            &env,
            &[
                ("BSN_TOKEN_URL", "http://127.0.0.1:1/token"),
                ("BSN_TIMEOUT", "2"),
            ],
            "",
        ),
    );
    env.emu.inject(Fault {
        count: 3,
        ..Fault::new(FaultKind::ServerError)
    });
    case("server", answer(&env, &[("BSN_NETWORK", "Lobby")], ""));
    env.emu.inject(Fault {
        retry_after: 100,
        ..Fault::new(FaultKind::RateLimited)
    });
    case(
        "rate_limited",
        answer(&env, &[("BSN_NETWORK", "Lobby")], ""),
    );
    case(
        "network_selection",
        answer(&env, &[("BSN_NETWORK", "Atlantis")], ""),
    );
    let blocker = env.path("not-a-dir");
    write_file(&blocker, "");
    case(
        "cache",
        answer(
            &env,
            &[(
                "BSN_CACHE_DIR",
                &blocker.join("cache").display().to_string(),
            )],
            "",
        ),
    );

    // Hold every entry's lock from this process, as a stuck helper would.
    let locks: Vec<File> = env
        .cache_files("lock")
        .iter()
        .map(|p| {
            let f = File::options().read(true).write(true).open(p).unwrap();
            f.lock().unwrap();
            f
        })
        .collect();
    assert!(!locks.is_empty(), "lock files exist after the first get");
    // The cached token is the rejected one, so nothing valid can be returned instead.
    let (_, cached, _) = env.get("");
    let rejected = serde_json::json!({ "rejected_token": cached["access_token"] }).to_string();
    case(
        "lock_timeout",
        answer(&env, &[("BSN_LOCK_TIMEOUT", "1")], &rejected),
    );
    drop(locks);

    settings(&env).bind(|| insta::assert_snapshot!("protocol_answers", all));
}

#[test]
fn help_text() {
    let out = std::process::Command::new(bin())
        .env_clear()
        .arg("--help")
        .output()
        .unwrap();
    assert!(out.status.success());
    insta::assert_snapshot!("help", stdout(&out));
}
