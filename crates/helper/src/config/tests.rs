//! Precedence, validation and messages of profile resolution.

use super::*;
use std::collections::HashMap;

/// An absolute directory on this platform (`/tmp/x` is relative on Windows: no drive).
const ABS_DIR: &str = if cfg!(windows) { "C:\\x" } else { "/tmp/x" };

fn env_of(pairs: &[(&str, &str)]) -> impl Fn(&str) -> Option<String> {
    let map: HashMap<String, String> = pairs
        .iter()
        .map(|(k, v)| (k.to_string(), v.to_string()))
        .collect();
    move |k| map.get(k).cloned().filter(|v| !v.is_empty())
}

fn no_file() -> Overrides {
    Overrides {
        config: None,
        ..Default::default()
    }
}

#[test]
fn environment_alone_is_enough() {
    let env = env_of(&[
        ("BSN_CONFIG", "/nonexistent-but-unused"),
        ("BS_CLIENT_ID", "id"),
        ("BS_SECRET", "s"),
        ("BS_NETWORK", "Demo"),
        ("BSN_CACHE_DIR", ABS_DIR),
    ]);
    // BSN_CONFIG explicitly set to a missing file is an error…
    assert!(load(&no_file(), &env).is_err());
    let env = env_of(&[
        ("BS_CLIENT_ID", "id"),
        ("BS_SECRET", "s"),
        ("BS_NETWORK", "Demo"),
        ("BSN_CACHE_DIR", ABS_DIR),
    ]);
    let p = resolve("default", None, &no_file(), &env).unwrap();
    assert_eq!(p.client_id, "id");
    assert_eq!(p.network.as_deref(), Some("Demo"));
    assert_eq!(p.token_url.as_str(), DEFAULT_TOKEN_URL);
    assert_eq!(p.grant, Grant::ClientCredentials);
    assert_eq!(p.min_ttl, DEFAULT_MIN_TTL);
    assert_eq!(
        p.client_secret
            .unwrap()
            .resolve("client_secret")
            .unwrap()
            .expose(),
        "s"
    );
}

#[test]
fn missing_client_id_names_the_setting() {
    let env = env_of(&[("BSN_CACHE_DIR", ABS_DIR)]);
    let e = resolve("default", None, &no_file(), &env).unwrap_err();
    assert!(e.message.contains("BSN_CLIENT_ID"), "{}", e.message);
}

#[test]
fn relative_cache_dir_is_a_config_error() {
    let env = env_of(&[("BSN_CLIENT_ID", "id"), ("BSN_CACHE_DIR", "rel/dir")]);
    let e = resolve("default", None, &no_file(), &env).unwrap_err();
    assert!(e.message.contains("BSN_CACHE_DIR"), "{}", e.message);
}

#[test]
fn flags_beat_env_beat_file() {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("c.toml");
    std::fs::write(
        &path,
        "default_profile = \"p\"\n[profiles.p]\nclient_id = \"file-id\"\nmin_ttl = 10\nnetwork = \"FileNet\"\n",
    )
    .unwrap();
    let ov = Overrides {
        config: Some(path.clone()),
        profile: None,
        min_ttl: Some(99),
    };
    let env = env_of(&[
        ("BSN_MIN_TTL", "50"),
        ("BSN_NETWORK", "EnvNet"),
        ("BSN_CACHE_DIR", ABS_DIR),
    ]);
    let p = load(&ov, &env).unwrap();
    assert_eq!(p.name, "p");
    assert_eq!(p.client_id, "file-id");
    assert_eq!(p.network.as_deref(), Some("EnvNet"));
    assert_eq!(p.min_ttl, 99);
    let p = load(
        &Overrides {
            min_ttl: None,
            ..ov.clone()
        },
        &env,
    )
    .unwrap();
    assert_eq!(p.min_ttl, 50);
}

#[test]
fn bad_file_names_file_line_and_key() {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("c.toml");
    std::fs::write(
        &path,
        "[profiles.p]\nclient_id = \"x\"\nnetwrok = \"Demo\"\n",
    )
    .unwrap();
    let ov = Overrides {
        config: Some(path.clone()),
        ..Default::default()
    };
    let e = load(&ov, &env_of(&[])).unwrap_err();
    assert!(
        e.message.contains(&path.display().to_string()),
        "{}",
        e.message
    );
    assert!(e.message.contains("line 3"), "{}", e.message);
    assert!(e.message.contains("netwrok"), "{}", e.message);
}

#[cfg(unix)]
#[test]
fn inline_secret_in_a_readable_file_is_refused() {
    use std::os::unix::fs::PermissionsExt;
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("c.toml");
    std::fs::write(
        &path,
        "[profiles.default]\nclient_id = \"x\"\nclient_secret = \"topsecret\"\n",
    )
    .unwrap();
    std::fs::set_permissions(&path, std::fs::Permissions::from_mode(0o644)).unwrap();
    let ov = Overrides {
        config: Some(path.clone()),
        ..Default::default()
    };
    let env = env_of(&[("BSN_CACHE_DIR", ABS_DIR)]);
    let e = load(&ov, &env).unwrap_err();
    assert!(e.message.contains("chmod 600"), "{}", e.message);
    assert!(!e.message.contains("topsecret"));
    std::fs::set_permissions(&path, std::fs::Permissions::from_mode(0o600)).unwrap();
    assert!(load(&ov, &env).is_ok());
}

#[test]
fn unknown_profile_lists_known_ones() {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("c.toml");
    std::fs::write(&path, "[profiles.prod]\nclient_id = \"x\"\n").unwrap();
    let ov = Overrides {
        config: Some(path),
        profile: Some("staging".into()),
        min_ttl: None,
    };
    let e = load(&ov, &env_of(&[])).unwrap_err();
    assert!(
        e.message.contains("\"staging\"") && e.message.contains("prod"),
        "{}",
        e.message
    );
}
