//! Permissions: file and directory modes, trust in the cache directory and in secret files.
//!
//! The helper runs as an unprivileged user (`TestEnv::unprivileged`) even when the suite
//! runs as root, as CI does, so root's privileges hide nothing; the test process itself
//! stays root where it is, to plant files owned by "another user".

use crate::util::*;
use serde_json::{Value, json};
use std::os::unix::fs::{MetadataExt, PermissionsExt};
use std::os::unix::process::CommandExt;
use std::path::Path;
use std::process::Command;

fn mode(path: &Path) -> u32 {
    std::fs::symlink_metadata(path).unwrap().mode() & 0o7777
}

fn set_mode(path: &Path, mode: u32) {
    std::fs::set_permissions(path, std::fs::Permissions::from_mode(mode)).unwrap();
}

/// The command with umask 022, under which a file created without an explicit mode is
/// 0644 and a directory 0755.
fn umask_022(mut cmd: Command) -> Command {
    // SAFETY: umask is async-signal-safe and cannot fail.
    unsafe {
        cmd.pre_exec(|| {
            libc::umask(0o022);
            Ok(())
        });
    }
    cmd
}

/// Holds the cache entry's lock from the test process until dropped.
fn hold_lock(env: &TestEnv) -> std::fs::File {
    let lock = std::fs::File::options()
        .read(true)
        .write(true)
        .open(env.cache_file("lock").expect("a lock file"))
        .unwrap();
    lock.lock().unwrap();
    lock
}

#[test]
fn entry_and_lock_files_are_0600_and_a_new_cache_dir_0700() {
    let Some(env) = TestEnv::new().password_grant().unprivileged() else {
        return;
    };
    for (round, request) in ["", r#"{"force_refresh":true}"#].into_iter().enumerate() {
        let out = run_with_stdin(umask_022(env.cmd(&["get"])), request);
        assert!(out.status.success(), "round {round}: {}", stderr(&out));
        assert_eq!(mode(&env.cache_dir()), 0o700, "round {round}: cache dir");
        let entry = env.cache_file("json").expect("entry");
        let lock = env.cache_file("lock").expect("lock file");
        assert_eq!(
            mode(&entry),
            0o600,
            "round {round}: entry {}",
            entry.display()
        );
        assert_eq!(mode(&lock), 0o600, "round {round}: lock {}", lock.display());
        if let Some((uid, _)) = env.run_as {
            assert_eq!(std::fs::metadata(&entry).unwrap().uid(), uid);
        }
    }
}

#[test]
fn cache_dir_open_to_group_or_others_is_repaired_to_0700() {
    for open in [0o755, 0o750, 0o711, 0o777] {
        let Some(env) = TestEnv::new().unprivileged() else {
            return;
        };
        env.mkdir_owned(&env.cache_dir(), open);
        let (code, v, err) = env.get("");
        assert_eq!(code, 0, "{open:o}: {err}");
        assert_eq!(v["source"], "login", "{open:o}");
        assert_eq!(mode(&env.cache_dir()), 0o700, "{open:o} was not repaired");
    }
}

/// The lock-free read must not answer from a directory others can write to: the call takes
/// the slow path (which waits for the lock, repairs the directory and re-reads).
#[test]
fn writable_by_others_cache_dir_is_not_trusted_by_the_lock_free_read() {
    for open in [0o777, 0o770, 0o702] {
        let Some(mut env) = TestEnv::new().unprivileged() else {
            return;
        };
        let token = env.token();
        set_mode(&env.cache_dir(), open);
        let lock = hold_lock(&env);
        env.set("BSN_LOCK_TIMEOUT", "1");
        let (code, v, err) = env.get("");
        assert_eq!(
            code, 9,
            "{open:o}: answered without the lock from an open directory: {v} {err}"
        );
        assert_eq!(v["error"]["code"], "lock_timeout", "{open:o}");
        drop(lock);
        let (code, v, err) = env.get("");
        assert_eq!(code, 0, "{open:o}: {err}");
        assert_eq!(v["access_token"], token.as_str(), "{open:o}: our own entry");
        assert_eq!(v["source"], "cache", "{open:o}");
        assert_eq!(mode(&env.cache_dir()), 0o700, "{open:o}: repaired");
    }
}

#[test]
fn world_writable_cache_dir_is_repaired_and_foreign_entries_ignored() {
    let Some(env) = TestEnv::new().unprivileged() else {
        return;
    };
    if !require(
        "to run as root, to plant a file owned by another user",
        is_root(),
    ) {
        return;
    }
    env.token();
    let entry = env.cache_file("json").unwrap();
    set_mode(&env.cache_dir(), 0o777);
    // Another user (root, here) plants a valid-looking entry for our key.
    let mut planted: Value = serde_json::from_slice(&std::fs::read(&entry).unwrap()).unwrap();
    planted["access_token"] = json!("planted-token");
    std::fs::remove_file(&entry).unwrap();
    std::fs::write(&entry, serde_json::to_vec(&planted).unwrap()).unwrap();
    assert_ne!(
        Some(std::fs::metadata(&entry).unwrap().uid()),
        env.run_as.map(|(u, _)| u)
    );
    let (code, v, err) = env.get("");
    assert_eq!(code, 0, "{err}");
    assert_eq!(mode(&env.cache_dir()), 0o700, "repaired");
    assert_ne!(
        v["access_token"], "planted-token",
        "a foreign file is never trusted"
    );
    assert_eq!(v["source"], "login");
}

#[test]
fn cache_dir_owned_by_another_user_is_refused() {
    let Some(mut env) = TestEnv::new().unprivileged() else {
        return;
    };
    let dir = env.path("foreign-cache");
    if is_root() {
        // Created by the test process: owned by root, another user to the helper.
        std::fs::create_dir(&dir).unwrap();
        set_mode(&dir, 0o755);
        env.set("BSN_CACHE_DIR", dir.to_str().unwrap());
    } else {
        // "/" belongs to root, which is another user here.
        env.set("BSN_CACHE_DIR", "/");
    }
    let (code, v, err) = env.get("");
    assert_eq!(code, 10, "{err}");
    assert_eq!(v["error"]["code"], "cache");
    assert!(
        err.contains("another user") && err.contains("BSN_CACHE_DIR"),
        "{err}"
    );
    assert_eq!(env.stats().tokens_issued, 0, "refused before any login");
}

#[test]
fn read_only_cache_dir_is_a_clear_cache_error() {
    let Some(env) = TestEnv::new().unprivileged() else {
        return;
    };
    env.mkdir_owned(&env.cache_dir(), 0o500);
    let (code, v, err) = env.get("");
    assert_eq!(code, 10, "{v} {err}");
    assert_eq!(v["error"]["code"], "cache");
    assert!(err.contains("BSN_CACHE_DIR"), "{err}");
}

/// README: `client_secret_file (mode 0600)`; a file others can read is refused, before
/// any request is sent, and its content never printed.
#[test]
fn client_secret_file_readable_by_others_is_refused() {
    let Some(env) = TestEnv::new().unprivileged() else {
        return;
    };
    let secret = env.path("secret");
    let config = env.path("config.toml");
    env.write_owned(
        &config,
        &format!(
            "[profiles.default]\nclient_secret_file = \"{}\"\n",
            secret.display()
        ),
        0o600,
    );
    let get = |file_mode: u32| {
        env.write_owned(&secret, "demo-secret\n", file_mode);
        let mut cmd = env.cmd(&["get"]);
        cmd.env_remove("BSN_CLIENT_SECRET")
            .env("BSN_CONFIG", &config);
        run_with_stdin(cmd, "")
    };
    for open in [0o644, 0o640, 0o604, 0o660] {
        let out = get(open);
        assert_eq!(out.status.code(), Some(3), "{open:o}: {}", stdout(&out));
        let v: Value = serde_json::from_slice(&out.stdout).unwrap();
        assert_eq!(v["error"]["code"], "config", "{open:o}");
        let err = stderr(&out);
        assert!(
            err.contains("readable by other users") && err.contains("chmod 600"),
            "{open:o}: {err}"
        );
        assert!(!err.contains("demo-secret") && !stdout(&out).contains("demo-secret"));
    }
    assert_eq!(env.stats().token_requests.client_credentials, 0);
    for private in [0o600, 0o400] {
        let out = get(private);
        assert!(out.status.success(), "{private:o}: {}", stderr(&out));
    }
    assert_eq!(env.stats().token_requests.client_credentials, 1);
}
