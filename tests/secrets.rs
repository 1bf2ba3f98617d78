//! Secrets: the client secret, the password and refresh tokens never reach any output;
//! access tokens only reach stdout of a successful token-printing command.

use crate::util::*;
use base64::Engine;
use bsn_credential_helper::broker::Request;
use bsn_credential_helper::cache::{CacheKey, Entry, FORMAT};
use bsn_credential_helper::config::{self, Overrides};
use bsn_credential_helper::oauth::TokenSet;
use bsn_credential_helper::protocol::GetRequest;
use bsn_credential_helper::secret::Secret;
use bsn_emulator::{EmulatorConfig, Fault, FaultKind};
use serde_json::Value;
use std::collections::BTreeSet;
use std::process::Output;

const CLIENT_SECRET: &str = "cs-Zq9-unmistakable";
const PASSWORD: &str = "pw-Xy7-unmistakable";
const WRONG_SECRET: &str = "cs-wrong-unmistakable";
const WRONG_PASSWORD: &str = "pw-wrong-unmistakable";

fn env_with_distinct_secrets() -> TestEnv {
    let mut config = EmulatorConfig::demo();
    config.access_ttl = 300;
    config.clients[0].secret = CLIENT_SECRET.into();
    config.users[0].password = PASSWORD.into();
    let mut env = TestEnv::with_config(config).password_grant();
    env.set("BSN_CLIENT_SECRET", CLIENT_SECRET);
    env.set("BSN_PASSWORD", PASSWORD);
    env
}

/// Every run's output, plus the tokens the cache held after it.
#[derive(Default)]
struct Transcript {
    /// (description, prints a token on success, output)
    runs: Vec<(String, bool, Output)>,
    refresh_tokens: BTreeSet<String>,
    access_tokens: BTreeSet<String>,
}

impl Transcript {
    fn run(&mut self, env: &TestEnv, args: &[&str], stdin: &str, what: &str) -> Output {
        let out = env.run(args, stdin);
        assert!(
            !stderr(&out).contains("panicked"),
            "{what}: {}",
            stderr(&out)
        );
        self.note_cache(env);
        let printing = args
            .iter()
            .any(|a| matches!(*a, "get" | "token" | "header"));
        self.runs.push((what.to_string(), printing, out.clone()));
        out
    }

    fn note_cache(&mut self, env: &TestEnv) {
        let Ok(dir) = std::fs::read_dir(env.cache_dir()) else {
            return;
        };
        for path in dir.map(|e| e.unwrap().path()) {
            if path.extension().is_some_and(|x| x == "json")
                && let Ok(bytes) = std::fs::read(&path)
                && let Ok(v) = serde_json::from_slice::<Value>(&bytes)
            {
                if let Some(rt) = v["refresh_token"].as_str() {
                    self.refresh_tokens.insert(rt.to_string());
                }
                if let Some(at) = v["access_token"].as_str() {
                    self.access_tokens.insert(at.to_string());
                }
            }
        }
    }
}

#[test]
fn secrets_never_appear_in_any_output_of_many_runs() {
    let mut t = Transcript::default();
    let mut env = env_with_distinct_secrets();
    let modes: [(&str, &str, Option<&str>); 3] = [
        ("plain", "", None),
        ("BSN_LOG=debug", "", Some("debug")),
        ("--verbose", "--verbose", None),
    ];
    for (mode, flag, log) in modes {
        match log {
            Some(level) => env.set("BSN_LOG", level),
            None => env.set("BSN_LOG", ""),
        }
        let a = |args: &[&'static str]| -> Vec<&'static str> {
            let mut v: Vec<&str> = Vec::new();
            if !flag.is_empty() {
                v.push("--verbose");
            }
            v.extend_from_slice(args);
            v
        };
        // Succeeding runs: login, cache hit, refresh, every printing command, status.
        t.run(&env, &a(&["get"]), "", &format!("{mode} get"));
        t.run(&env, &a(&["get"]), "", &format!("{mode} get cached"));
        t.run(
            &env,
            &a(&["get"]),
            r#"{"force_refresh":true}"#,
            &format!("{mode} refresh"),
        );
        t.run(&env, &a(&["token"]), "", &format!("{mode} token"));
        t.run(
            &env,
            &a(&["header", "--force-refresh"]),
            "",
            &format!("{mode} header"),
        );
        t.run(&env, &a(&["status"]), "", &format!("{mode} status"));
        t.run(
            &env,
            &a(&["status", "--json"]),
            "",
            &format!("{mode} status --json"),
        );
        // Failing runs.
        let rt = t.refresh_tokens.iter().next().unwrap().clone();
        t.run(
            &env,
            &a(&["get"]),
            &format!(r#"{{"min_ttl":"{rt}","profile":"{CLIENT_SECRET}"}}"#),
            &format!("{mode} secrets in a bad request"),
        );
        t.run(
            &env,
            &a(&["get"]),
            &format!(r#"{{"version":1,"rejected_token":{rt:?},"force_refresh":"{PASSWORD}"}}"#),
            &format!("{mode} secret in a wrong-typed field"),
        );
        for kind in [
            FaultKind::TruncatedJson,
            FaultKind::Garbage,
            FaultKind::Drop,
        ] {
            env.emu.inject(Fault::new(kind));
            t.run(
                &env,
                &a(&["get"]),
                r#"{"force_refresh":true}"#,
                &format!("{mode} {kind:?}"),
            );
        }
        env.emu.inject(Fault::new(FaultKind::ServerError).count(3));
        t.run(
            &env,
            &a(&["token", "--force-refresh"]),
            "",
            &format!("{mode} 5xx"),
        );

        let mut bad = env_with_distinct_secrets();
        bad.set("BSN_LOG", log.unwrap_or(""));
        bad.set("BSN_CLIENT_SECRET", WRONG_SECRET);
        t.run(
            &bad,
            &a(&["get"]),
            "",
            &format!("{mode} wrong client secret"),
        );
        bad.set("BSN_CLIENT_SECRET", CLIENT_SECRET);
        bad.set("BSN_PASSWORD", WRONG_PASSWORD);
        t.run(&bad, &a(&["get"]), "", &format!("{mode} wrong password"));
        bad.set("BSN_PASSWORD", PASSWORD);
        bad.set("BSN_NETWORK", "Nowhere");
        t.run(&bad, &a(&["get"]), "", &format!("{mode} network refused"));
        t.run(
            &bad,
            &a(&["token"]),
            "",
            &format!("{mode} network refused (token)"),
        );
        bad.set("BSN_NETWORK", "Demo");
        bad.set("BSN_CLIENT_AUTH", "post");
        bad.set("BSN_TOKEN_URL", "http://127.0.0.1:1/token");
        t.run(&bad, &a(&["get"]), "", &format!("{mode} endpoint down"));
        let config = bad.path("config.toml");
        write_file(
            &config,
            &format!(
                "[profiles.cmd]\nclient_id = \"demo-client\"\nclient_secret_command = \"echo {CLIENT_SECRET}; echo {PASSWORD} >&2; exit 3\"\n"
            ),
        );
        bad.set("BSN_CONFIG", config.to_str().unwrap());
        bad.set("BSN_CLIENT_SECRET", "");
        bad.set("BSN_PROFILE", "cmd");
        bad.set("BSN_TOKEN_URL", &bad.emu.token_url());
        let out = t.run(
            &bad,
            &a(&["get"]),
            "",
            &format!("{mode} failing secret command"),
        );
        assert_eq!(out.status.code(), Some(3), "{}", stderr(&out));
        if log.is_some() || !flag.is_empty() {
            let err = stderr(&t.runs.last().unwrap().2);
            assert!(err.contains("keep this output private"), "{err}");
        }
        t.run(&env, &a(&["erase"]), "", &format!("{mode} erase"));
    }

    // What must never appear anywhere. The failing secret command's stderr is the
    // command's own (inherited, like git does), so PASSWORD is checked on stdout there.
    let basic =
        base64::engine::general_purpose::STANDARD.encode(format!("demo-client:{CLIENT_SECRET}"));
    let mut forbidden: Vec<String> = vec![
        CLIENT_SECRET.into(),
        WRONG_SECRET.into(),
        WRONG_PASSWORD.into(),
        basic,
    ];
    assert!(t.refresh_tokens.len() >= 6, "{:?}", t.refresh_tokens);
    forbidden.extend(t.refresh_tokens.iter().cloned());
    for (what, printing, out) in &t.runs {
        let (so, se) = (stdout(out), stderr(out));
        for secret in &forbidden {
            assert!(
                !so.contains(secret.as_str()),
                "{what}: stdout has a secret: {so}"
            );
            assert!(
                !se.contains(secret.as_str()),
                "{what}: stderr has a secret: {se}"
            );
        }
        assert!(!so.contains(PASSWORD), "{what}: {so}");
        if !what.ends_with("failing secret command") {
            assert!(!se.contains(PASSWORD), "{what}: {se}");
        }
        for at in &t.access_tokens {
            assert!(
                !se.contains(at.as_str()),
                "{what}: access token on stderr: {se}"
            );
            if !(out.status.success() && *printing) {
                assert!(
                    !so.contains(at.as_str()),
                    "{what}: access token on stdout: {so}"
                );
            }
        }
        if !out.status.success() && !so.is_empty() {
            let v: Value = serde_json::from_str(so.trim()).unwrap();
            assert!(v.get("access_token").is_none(), "{what}: {v}");
        }
    }
    eprintln!(
        "checked {} runs against {} refresh tokens and {} access tokens",
        t.runs.len(),
        t.refresh_tokens.len(),
        t.access_tokens.len()
    );
}

#[test]
fn debug_impls_redact_secrets() {
    let env = |name: &str| match name {
        "BSN_CLIENT_ID" => Some("id".to_string()),
        "BSN_CLIENT_SECRET" => Some(CLIENT_SECRET.to_string()),
        "BSN_PASSWORD" => Some(PASSWORD.to_string()),
        "BSN_GRANT" => Some("password".to_string()),
        "BSN_USERNAME" => Some("user".to_string()),
        "BSN_CACHE_DIR" => Some("/tmp/unused".to_string()),
        "BSN_CONFIG" => Some("/nonexistent/bsn-test-config.toml".to_string()),
        _ => None,
    };
    let overrides = Overrides::default();
    // BSN_CONFIG set to a missing file is an error; without it no file is read.
    let profile = config::load(&overrides, &|n| env(n).filter(|_| n != "BSN_CONFIG")).unwrap();
    let text = format!("{profile:?}");
    assert!(
        !text.contains(CLIENT_SECRET) && !text.contains(PASSWORD),
        "{text}"
    );
    assert!(text.contains("REDACTED"), "{text}");

    let entry = Entry {
        format: FORMAT,
        key: CacheKey {
            token_url: "https://t".into(),
            api_url: "https://a".into(),
            client_id: "id".into(),
            grant: "password".into(),
            username: Some("user".into()),
            network: None,
            scope: None,
        },
        access_token: Secret::new("at-unmistakable".into()),
        token_type: "Bearer".into(),
        obtained_at_ms: 0,
        expires_at_ms: 1,
        scope: None,
        refresh_token: Some(Secret::new("rt-unmistakable".into())),
        refresh_expires_at_ms: None,
        session_started_at_ms: None,
        network_selected: true,
    };
    let set: TokenSet = serde_json::from_str(
        r#"{"access_token":"at-unmistakable","refresh_token":"rt-unmistakable","expires_in":1}"#,
    )
    .unwrap();
    let request = Request {
        rejected_token: Some(Secret::new("at-unmistakable".into())),
        force_refresh: false,
    };
    let get = GetRequest::parse(r#"{"rejected_token":"at-unmistakable"}"#).unwrap();
    for text in [
        format!("{entry:?}"),
        format!("{entry:#?}"),
        format!("{set:?}"),
        format!("{request:?}"),
        format!("{get:?}"),
    ] {
        assert!(!text.contains("unmistakable"), "{text}");
        assert!(text.contains("REDACTED"), "{text}");
    }
}
