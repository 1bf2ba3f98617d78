//! Bad input: property tests over the stdin protocol, the config file and the cache entry
//! format; extreme numbers through the real binary; hostile cache directories.

use crate::util::*;
use bsn_credential_helper::cache::{Cache, CacheKey, FORMAT};
use bsn_credential_helper::config::{self, Overrides};
use bsn_credential_helper::error::ErrorCode;
use bsn_credential_helper::protocol::GetRequest;
use proptest::prelude::*;
use serde_json::{Value, json};

// ---------------------------------------------------------------------------------------
// Strategies

/// Any JSON value; leaf strings carry a marker so a test can check none is echoed.
fn json_value() -> impl Strategy<Value = Value> {
    let leaf = prop_oneof![
        Just(Value::Null),
        any::<bool>().prop_map(Value::Bool),
        any::<i64>().prop_map(|n| json!(n)),
        any::<u64>().prop_map(|n| json!(n)),
        any::<f64>()
            .prop_filter("finite", |f| f.is_finite())
            .prop_map(|f| json!(f)),
        "[a-zA-Z0-9 _.-]{0,12}".prop_map(|s| Value::String(format!("MARK{s}"))),
    ];
    leaf.prop_recursive(3, 24, 6, |inner| {
        let key = prop_oneof![
            Just("version".to_string()),
            Just("profile".to_string()),
            Just("min_ttl".to_string()),
            Just("rejected_token".to_string()),
            Just("force_refresh".to_string()),
            "[a-z_]{1,10}",
        ];
        prop_oneof![
            prop::collection::vec(inner.clone(), 0..4).prop_map(Value::Array),
            prop::collection::btree_map(key, inner, 0..6)
                .prop_map(|m| Value::Object(m.into_iter().collect())),
        ]
    })
}

/// TOML-ish text: real keys and tables with values of every type, plus noise lines.
fn toml_ish() -> impl Strategy<Value = String> {
    let key = prop_oneof![
        prop::sample::select(vec![
            "token_url",
            "api_url",
            "client_id",
            "client_secret",
            "client_secret_env",
            "client_secret_file",
            "client_secret_command",
            "grant",
            "username",
            "password",
            "password_env",
            "password_file",
            "password_command",
            "network",
            "scope",
            "client_auth",
            "min_ttl",
            "timeout",
            "lock_timeout",
            "cache_dir",
            "default_profile",
        ])
        .prop_map(str::to_string),
        "[a-z_]{1,8}",
    ];
    let value = prop_oneof![
        "[ -~]{0,20}".prop_map(|s| format!("{s:?}")),
        any::<i64>().prop_map(|n| n.to_string()),
        Just("18446744073709551615".to_string()),
        Just("99999999999999999999999".to_string()),
        any::<bool>().prop_map(|b| b.to_string()),
        Just("\"password\"".to_string()),
        Just("\"client_credentials\"".to_string()),
        Just("\"post\"".to_string()),
        Just("\"https://auth.example.com/token\"".to_string()),
        Just("\"http://example.com/token\"".to_string()),
        Just("\"http://[::1]:1/x\"".to_string()),
        Just("[1, \"a\"]".to_string()),
        Just("{ a = 1 }".to_string()),
        Just("1979-05-27T07:32:00Z".to_string()),
        Just("nan".to_string()),
        Just("\"\"".to_string()),
    ];
    let line = prop_oneof![
        4 => (key, value).prop_map(|(k, v)| format!("{k} = {v}")),
        1 => "[a-z]{1,6}".prop_map(|p| format!("[profiles.{p}]")),
        1 => Just("[profiles.default]".to_string()),
        1 => Just("[[profiles]]".to_string()),
        1 => "[ -~]{0,30}",
        1 => Just("\u{feff}\u{0}\u{7f}\"\"\"".to_string()),
    ];
    prop::collection::vec(line, 0..12).prop_map(|lines| lines.join("\n"))
}

fn test_key() -> CacheKey {
    CacheKey {
        token_url: "http://127.0.0.1:1/realms/bsncloud/protocol/openid-connect/token".into(),
        api_url: "http://127.0.0.1:1".into(),
        client_id: "demo-client".into(),
        grant: "password".into(),
        username: Some("demo@example.com".into()),
        network: Some("Demo".into()),
        scope: None,
    }
}

fn valid_entry_json(key: &CacheKey) -> Value {
    json!({
        "format": FORMAT,
        "key": key,
        "access_token": "at",
        "token_type": "Bearer",
        "obtained_at_ms": 1000,
        "expires_at_ms": 301000,
        "scope": null,
        "refresh_token": "rt",
        "refresh_expires_at_ms": 1801000,
        "session_started_at_ms": 1000,
        "network_selected": true
    })
}

/// A valid entry with one field replaced by an arbitrary value, or cut/garbled bytes.
fn entry_bytes() -> impl Strategy<Value = Vec<u8>> {
    let base = serde_json::to_vec_pretty(&valid_entry_json(&test_key())).unwrap();
    let fields = vec![
        "format",
        "key",
        "access_token",
        "token_type",
        "obtained_at_ms",
        "expires_at_ms",
        "scope",
        "refresh_token",
        "refresh_expires_at_ms",
        "session_started_at_ms",
        "network_selected",
    ];
    let base2 = base.clone();
    let base3 = base.clone();
    prop_oneof![
        prop::collection::vec(any::<u8>(), 0..600),
        (prop::sample::select(fields), json_value()).prop_map(move |(f, v)| {
            let mut e = valid_entry_json(&test_key());
            e[f] = v;
            serde_json::to_vec(&e).unwrap()
        }),
        any::<prop::sample::Index>().prop_map(move |i| base2[..i.index(base2.len())].to_vec()),
        (any::<prop::sample::Index>(), any::<u8>()).prop_map(move |(i, b)| {
            let mut bytes = base3.clone();
            let at = i.index(bytes.len());
            bytes[at] = b;
            bytes
        }),
        Just(base),
    ]
}

// ---------------------------------------------------------------------------------------
// Properties

proptest! {
    #![proptest_config(ProptestConfig { cases: 256, ..ProptestConfig::default() })]

    #[test]
    fn protocol_parse_of_any_text_is_ok_or_invalid_request(text in any::<String>()) {
        if let Err(e) = GetRequest::parse(&text) {
            prop_assert_eq!(e.code, ErrorCode::InvalidRequest);
        }
    }

    #[test]
    fn protocol_parse_of_any_json_never_echoes_string_values(value in json_value()) {
        let text = value.to_string();
        match GetRequest::parse(&text) {
            Ok(_) => prop_assert!(
                value.is_object() || value.is_null(),
                "only an object (or null) is a request: {text}"
            ),
            Err(e) => {
                prop_assert_eq!(e.code, ErrorCode::InvalidRequest);
                prop_assert!(!e.message.contains("MARK"), "echoed a value: {}", e.message);
            }
        }
    }

    #[test]
    fn config_file_of_any_toml_ish_text_is_ok_or_a_config_error(text in toml_ish()) {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("config.toml");
        std::fs::write(&path, &text).unwrap();
        let cache = dir.path().join("cache").display().to_string();
        let env = move |name: &str| match name {
            "BSN_CACHE_DIR" => Some(cache.clone()),
            "BSN_CLIENT_ID" => Some("id".to_string()),
            _ => None,
        };
        let overrides = Overrides { config: Some(path), ..Default::default() };
        match config::load(&overrides, &env) {
            Ok(profile) => {
                // Whatever was accepted is usable: https or loopback URLs only.
                prop_assert!(bsn_credential_helper::url::HttpUrl::parse(profile.token_url.as_str(), "t").is_ok());
            }
            Err(e) => prop_assert_eq!(e.code, ErrorCode::Config, "{}", e.message),
        }
        if let Ok(all) = config::load_all(&overrides, &env) {
            for p in all {
                if let Err(e) = p {
                    prop_assert_eq!(e.code, ErrorCode::Config);
                }
            }
        }
    }

    #[test]
    fn cache_read_of_any_entry_bytes_is_none_or_a_valid_entry(bytes in entry_bytes()) {
        let dir = tempfile::tempdir().unwrap();
        let cache = Cache::new(&dir.path().join("c"));
        cache.prepare().unwrap();
        let key = test_key();
        std::fs::write(cache.entry_path(&key), &bytes).unwrap();
        if let Some(entry) = cache.read(&key) {
            prop_assert_eq!(entry.format, FORMAT);
            prop_assert_eq!(&entry.key, &key);
            // Arithmetic on whatever was read must not panic either.
            let _ = (entry.lifetime_ms(), entry.is_expired(u64::MAX));
        }
    }
}

// ---------------------------------------------------------------------------------------
// The real binary with bad cache entries and extreme numbers

fn exit_is_documented(code: i32, err: &str, what: &str) {
    assert!(
        code == 0 || (2..=11).contains(&code),
        "{what}: exit {code} (a panic is reported as internal, 12; an abort is 134): {err}"
    );
    assert!(
        !err.contains("panicked") && !err.contains("internal error"),
        "{what}: {err}"
    );
}

#[test]
fn garbage_cache_entries_are_replaced_and_the_binary_succeeds() {
    let env = TestEnv::new().password_grant();
    env.token();
    let path = env.cache_file("json").unwrap();
    let good: Value = serde_json::from_slice(&std::fs::read(&path).unwrap()).unwrap();
    let with = |field: &str, v: Value| {
        let mut e = good.clone();
        e[field] = v;
        serde_json::to_vec(&e).unwrap()
    };
    let samples: Vec<(&str, Vec<u8>)> = vec![
        ("empty", vec![]),
        ("nul bytes", vec![0; 300]),
        ("not utf-8", vec![0xff, 0xfe, b'{', 0xc3]),
        ("array", b"[1,2,3]".to_vec()),
        ("cut", serde_json::to_vec(&good).unwrap()[..40].to_vec()),
        ("huge", vec![b' '; 200_000]),
        ("format 99", with("format", json!(99))),
        ("foreign key", with("key", json!({"token_url": "x"}))),
        ("token as number", with("access_token", json!(5))),
        ("negative expiry", with("expires_at_ms", json!(-1))),
        ("refresh as object", with("refresh_token", json!({"a": 1}))),
    ];
    for (what, bytes) in samples {
        std::fs::write(&path, &bytes).unwrap();
        let (code, v, err) = env.get("");
        assert_eq!(code, 0, "{what}: {err}");
        assert!(v["access_token"].is_string(), "{what}");
        // A garbled refresh token is never sent; a readable one may be used.
        assert_eq!(env.stats().refresh_tokens_reused, 0, "{what}");
    }
    // Extreme but well-formed values: handed out or renewed, never a panic — also in status.
    let now = bsn_credential_helper::time::now_ms();
    for (what, obtained, expires) in [
        ("expires at u64::MAX", now, u64::MAX),
        ("expires in year 9999+", now, 300_000_000_000_000),
        ("obtained after expiry", u64::MAX, now + 60_000),
        ("epoch", 0, 0),
    ] {
        let mut e = good.clone();
        e["obtained_at_ms"] = json!(obtained);
        e["expires_at_ms"] = json!(expires);
        e["refresh_expires_at_ms"] = json!(expires);
        e["session_started_at_ms"] = json!(obtained);
        std::fs::write(&path, serde_json::to_vec(&e).unwrap()).unwrap();
        for args in [&["get"][..], &["status"], &["status", "--json"], &["token"]] {
            let out = env.run(args, "");
            exit_is_documented(
                out.status.code().unwrap_or(-1),
                &stderr(&out),
                &format!("{what} / {args:?}"),
            );
            assert!(out.status.success(), "{what} / {args:?}: {}", stderr(&out));
        }
    }
}

#[test]
fn extreme_numbers_in_requests_flags_and_environment_never_panic() {
    let big = u64::MAX.to_string();
    let mut env = TestEnv::new().password_grant();
    env.token();
    let request = format!(r#"{{"min_ttl":{big}}}"#);
    let (code, v, err) = env.get(&request);
    exit_is_documented(code, &err, "request min_ttl");
    assert_eq!(code, 0, "{err}");
    assert_eq!(v["source"], "cache", "min_ttl is capped by the lifetime");
    let out = env.run(&["--min-ttl", &big, "token"], "");
    exit_is_documented(out.status.code().unwrap_or(-1), &stderr(&out), "--min-ttl");
    for var in ["BSN_MIN_TTL", "BSN_TIMEOUT", "BSN_LOCK_TIMEOUT"] {
        env.set(var, &big);
        for request in ["", r#"{"force_refresh":true}"#] {
            let (code, _, err) = env.get(request);
            exit_is_documented(code, &err, var);
            assert_eq!(code, 0, "{var}: {err}");
        }
    }
    for (var, value) in [
        ("BSN_TIMEOUT", "99999999999999999999"),
        ("BSN_MIN_TTL", "-1"),
        ("BSN_LOCK_TIMEOUT", "1e3"),
        ("BSN_GRANT", "\u{7f}"),
    ] {
        let mut env = TestEnv::new();
        env.set(var, value);
        let (code, v, err) = env.get("");
        assert_eq!(code, 3, "{var}={value}: {err}");
        assert_eq!(v["error"]["code"], "config");
    }
}

/// A token endpoint that answers every request with `body` (status 200).
fn canned_token_endpoint(body: &'static str) -> String {
    format!(
        "{}/token",
        canned_endpoint("200 OK", &[("Content-Type", "application/json")], body)
    )
}

#[test]
fn odd_token_responses_give_a_token_or_a_documented_error() {
    let cases: [(&str, &'static str); 9] = [
        (
            "huge lifetimes",
            r#"{"access_token":"mock-at","expires_in":18446744073709551615,"refresh_token":"mock-rt","refresh_expires_in":18446744073709551615,"token_type":"Bearer"}"#,
        ),
        ("no expires_in", r#"{"access_token":"mock-at"}"#),
        (
            "zero lifetime",
            r#"{"access_token":"mock-at","expires_in":0}"#,
        ),
        (
            "negative lifetime",
            r#"{"access_token":"mock-at","expires_in":-5}"#,
        ),
        (
            "float lifetime",
            r#"{"access_token":"mock-at","expires_in":300.5}"#,
        ),
        ("empty token", r#"{"access_token":"","expires_in":300}"#),
        (
            "mac token",
            r#"{"access_token":"mock-at","token_type":"mac\u001b[31m"}"#,
        ),
        ("null token", r#"{"access_token":null}"#),
        ("not an object", r#"["mock-at"]"#),
    ];
    for (what, body) in cases {
        let mut env = TestEnv::new().password_grant();
        env.set("BSN_TOKEN_URL", &canned_token_endpoint(body));
        env.set("BSN_NETWORK", "");
        for _ in 0..2 {
            let (code, v, err) = env.get("");
            exit_is_documented(code, &err, what);
            if code == 0 {
                assert_eq!(v["access_token"], "mock-at", "{what}");
                assert!(v["expires_at"].as_str().unwrap().ends_with('Z'), "{what}");
            } else {
                assert_eq!(v["error"]["code"], "server", "{what}: {v}");
                assert!(
                    !err.contains('\u{1b}'),
                    "{what}: control characters in {err:?}"
                );
            }
            let out = env.run(&["status", "--json"], "");
            exit_is_documented(out.status.code().unwrap_or(-1), &stderr(&out), what);
        }
    }
}

/// Only Bearer tokens are handed out (protocol.md: `token_type` is always "Bearer"); the
/// odd-answers test above accepts success or failure, this one pins the refusal.
#[test]
fn non_bearer_token_type_is_refused() {
    for (token_type, accepted) in [
        ("Bearer", true),
        ("bearer", true),
        ("mac", false),
        ("DPoP", false),
        ("N_A", false),
    ] {
        let body: &'static str = Box::leak(
            format!(r#"{{"access_token":"mock-at","expires_in":300,"token_type":"{token_type}"}}"#)
                .into_boxed_str(),
        );
        let mut env = TestEnv::new();
        env.set("BSN_TOKEN_URL", &canned_token_endpoint(body));
        env.set("BSN_NETWORK", "");
        let (code, v, err) = env.get("");
        if accepted {
            assert_eq!(code, 0, "{token_type}: {err}");
            assert_eq!(v["token_type"], "Bearer", "{token_type}");
        } else {
            assert_eq!(
                code, 7,
                "{token_type}: a non-Bearer token was handed out: {v}"
            );
            assert_eq!(v["error"]["code"], "server", "{token_type}");
            assert!(err.contains("only Bearer"), "{token_type}: {err}");
            assert!(!v.to_string().contains("mock-at"), "{token_type}: {v}");
        }
    }
}

// ---------------------------------------------------------------------------------------
// Hostile cache directories

#[test]
fn symlinked_entry_and_lock_files_are_not_followed() {
    let env = TestEnv::new().password_grant();
    env.token();
    let find = |ext: &str| env.cache_file(ext).unwrap();
    let (entry, lock) = (find("json"), find("lock"));

    // Entry: a symlink to a valid-looking entry elsewhere is neither read nor written.
    let mut planted: Value = serde_json::from_slice(&std::fs::read(&entry).unwrap()).unwrap();
    planted["access_token"] = json!("planted-token");
    let target = env.path("elsewhere.json");
    let target_bytes = serde_json::to_vec(&planted).unwrap();
    std::fs::write(&target, &target_bytes).unwrap();
    std::fs::remove_file(&entry).unwrap();
    std::os::unix::fs::symlink(&target, &entry).unwrap();
    let (code, v, err) = env.get("");
    assert_eq!(code, 0, "{err}");
    assert_ne!(v["access_token"], "planted-token");
    assert_eq!(
        std::fs::read(&target).unwrap(),
        target_bytes,
        "target untouched"
    );
    assert!(
        !std::fs::symlink_metadata(&entry)
            .unwrap()
            .file_type()
            .is_symlink(),
        "the symlink was replaced by a real entry, not written through"
    );

    // Lock: a symlink is refused rather than followed (which could create/lock any file).
    let lock_target = env.path("elsewhere.lock");
    std::fs::remove_file(&lock).unwrap();
    std::os::unix::fs::symlink(&lock_target, &lock).unwrap();
    let (code, v, err) = env.get(r#"{"force_refresh":true}"#);
    assert_eq!(code, 10, "{v} {err}");
    assert_eq!(v["error"]["code"], "cache");
    assert!(!lock_target.exists(), "the lock symlink was followed");
}
