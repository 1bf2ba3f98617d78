//! The cross-built release binaries, run under an emulator on this Linux machine: the
//! Windows `.exe`s under Wine and the Linux arm64 static-pie under `qemu-aarch64`. The same
//! guarantees as the native suite, against the same in-process emulator over loopback:
//! protocol answers, cache hit, one token request for a storm of processes, rotation with no
//! refresh token presented twice, a process killed mid-refresh, git and Docker protocols;
//! on Windows also the default config (%APPDATA%) and cache (%LOCALAPPDATA%) locations and a
//! secret from a `cmd` command.
//!
//! Ignored by a plain `cargo test`: `.ci/cross` builds the binaries, the Wine prefix (with
//! the ProcessPrng shim) and runs
//!   BSN_FOREIGN_RUNNER=wine BSN_FOREIGN_BIN_DIR=<zip's bin> cargo test --test integration foreign:: -- --ignored
//! (and the same with `qemu-aarch64` and the tarball's bin). Without those variables the
//! tests fail, never pass vacuously.

use crate::util::*;
use bsn_emulator::{Fault, FaultKind};
use serde_json::Value;
use std::path::{Path, PathBuf};
use std::process::{Command, Stdio};
use std::time::{Duration, Instant};

#[path = "foreign_fleet.rs"]
mod fleet;

struct Foreign {
    runner: String,
    dir: PathBuf,
    windows: bool,
}

fn foreign() -> Foreign {
    let var = |name: &str| {
        std::env::var(name).unwrap_or_else(|_| {
            panic!("{name} is not set: these tests run under .ci/cross (wine or qemu-aarch64)")
        })
    };
    let runner = var("BSN_FOREIGN_RUNNER");
    let dir = PathBuf::from(var("BSN_FOREIGN_BIN_DIR"));
    let windows = dir.join("bsn-credential-helper.exe").is_file();
    assert!(
        windows || dir.join("bsn-credential-helper").is_file(),
        "no bsn-credential-helper[.exe] in {}",
        dir.display()
    );
    Foreign {
        runner,
        dir,
        windows,
    }
}

impl Foreign {
    /// A path as the foreign program must be given it: Wine maps `/` to drive Z:, and
    /// a Windows path without a drive is not absolute (BSN_CACHE_DIR must be).
    fn path(&self, p: &Path) -> String {
        if self.windows {
            format!("Z:{}", p.display()).replace('/', "\\")
        } else {
            p.display().to_string()
        }
    }

    fn program(&self, name: &str) -> PathBuf {
        let exe = if self.windows { ".exe" } else { "" };
        self.dir.join(format!("{name}{exe}"))
    }

    /// A helper program (an empty program, credwrite.exe) under the runner, in this
    /// process's environment, which holds the runner's variables.
    fn runner(&self, program: &Path) -> Command {
        let mut cmd = Command::new(&self.runner);
        cmd.arg(program);
        cmd
    }

    /// `name` (one of the four installed names) under the runner, with the suite's clean
    /// environment plus the runner's own variables (WINEPREFIX, WINEDEBUG, QEMU_*).
    fn cmd(&self, env: &TestEnv, name: &str, args: &[&str]) -> Command {
        let mut cmd = self.runner(&self.program(name));
        cmd.args(args);
        apply_env(&mut cmd, env);
        cmd.env("BSN_CACHE_DIR", self.path(&env.cache_dir()));
        cmd.envs(std::env::vars().filter(|(k, _)| k.starts_with("WINE") || k.starts_with("QEMU_")));
        cmd
    }

    /// Fails unless the binaries are Windows ones (the `foreign_windows_*` tests).
    fn windows(&self) -> &Self {
        assert!(
            self.windows,
            "Windows only (BSN_FOREIGN_BIN_DIR holds no .exe)"
        );
        self
    }

    /// A `get` with `force_refresh` whose refresh request the token endpoint holds for 2 s,
    /// returned once that request has reached the endpoint. SIGINT is at its default
    /// whatever launched the suite (a background job inherits it ignored).
    fn spawn_held_refresh(&self, env: &TestEnv) -> std::process::Child {
        env.emu.inject(Fault::new(FaultKind::Slow).delay_ms(2_000));
        let served = env.stats().faults_served;
        let mut cmd = self.cmd(env, "bsn-credential-helper", &["get"]);
        cmd.stdin(Stdio::piped())
            .stdout(Stdio::piped())
            .stderr(Stdio::piped());
        // SAFETY: signal(2) is async-signal-safe.
        unsafe {
            use std::os::unix::process::CommandExt;
            cmd.pre_exec(|| {
                libc::signal(libc::SIGINT, libc::SIG_DFL);
                Ok(())
            });
        }
        let mut child = cmd.spawn().unwrap();
        {
            use std::io::Write;
            let mut stdin = child.stdin.take().unwrap();
            stdin.write_all(br#"{"force_refresh":true}"#).unwrap();
        }
        wait_until(
            "the refresh to reach the endpoint",
            Duration::from_secs(30),
            || env.stats().faults_served > served,
        );
        child
    }

    fn get(&self, env: &TestEnv, request: &str) -> (i32, Value, String) {
        let out = run_with_stdin(self.cmd(env, "bsn-credential-helper", &["get"]), request);
        let v = serde_json::from_slice(&out.stdout).unwrap_or_else(|e| {
            panic!(
                "stdout is not JSON ({e}): {:?} / stderr {:?} / {:?}",
                stdout(&out),
                stderr(&out),
                out.status
            )
        });
        (out.status.code().unwrap_or(-1), v, stderr(&out))
    }
}

fn median_ms(mut samples: Vec<Duration>) -> f64 {
    samples.sort();
    samples[samples.len() / 2].as_secs_f64() * 1000.0
}

#[test]
#[ignore = "run by .ci/cross under wine / qemu-aarch64"]
fn foreign_version_and_names() {
    let f = foreign();
    let env = TestEnv::new();
    let out = run_with_stdin(f.cmd(&env, "bsn-credential-helper", &["--version"]), "");
    let version = format!("bsn-credential-helper {} (", env!("CARGO_PKG_VERSION"));
    assert!(stdout(&out).starts_with(&version), "{}", stdout(&out));
    // Each host-tool name dispatches on argv[0] (`.exe` ignored on Windows).
    let out = run_with_stdin(f.cmd(&env, "git-credential-bsn", &["capability"]), "");
    assert_eq!(
        stdout(&out),
        "version 0\ncapability authtype\n",
        "{}",
        stderr(&out)
    );
    let out = run_with_stdin(f.cmd(&env, "docker-credential-bsn", &["version"]), "");
    assert!(out.status.success() && stdout(&out).contains(env!("CARGO_PKG_VERSION")));
    let out = run_with_stdin(
        f.cmd(&env, "bazel-credential-bsn", &["get"]),
        r#"{"uri":"https://example.com/x"}"#,
    );
    assert!(!out.status.success() && stdout(&out).is_empty());
    assert!(stderr(&out).contains("example.com"), "{}", stderr(&out));
}

/// Login, then a cache hit with the same token and no second token request. Prints the
/// median wall time of a cache hit under the runner (for information: Wine and qemu are
/// not the real platforms), next to an empty program's when BSN_FOREIGN_BASELINE names one.
#[test]
#[ignore = "run by .ci/cross under wine / qemu-aarch64"]
fn foreign_protocol_answers_and_cache_hit() {
    let f = foreign();
    let env = TestEnv::new();
    let (code, first, err) = f.get(&env, r#"{"version":1}"#);
    assert_eq!(code, 0, "{err}");
    assert_eq!(first["source"], "login", "{first}");
    assert_eq!(first["network"], "Demo", "{first}");
    assert_eq!(first["token_type"], "Bearer", "{first}");
    let (code, hit, err) = f.get(&env, r#"{"version":1}"#);
    assert_eq!(code, 0, "{err}");
    assert_eq!(hit["source"], "cache", "{hit}");
    assert_eq!(hit["access_token"], first["access_token"]);
    assert_eq!(env.stats().token_requests.client_credentials, 1);
    // A bad request is a JSON error with its documented exit code, not a crash.
    let (code, bad, _) = f.get(&env, "{not json");
    assert_eq!(bad["error"]["code"], "invalid_request", "{bad}");
    assert_eq!(code, 2, "{bad}");

    let mut hits = Vec::new();
    for _ in 0..15 {
        let start = Instant::now();
        let out = run_with_stdin(f.cmd(&env, "bsn-credential-helper", &["get"]), "");
        hits.push(start.elapsed());
        assert!(out.status.success(), "{}", stderr(&out));
    }
    let mut line = format!(
        "foreign cache hit under {}: median {:.1} ms of 15",
        f.runner,
        median_ms(hits)
    );
    if let Ok(baseline) = std::env::var("BSN_FOREIGN_BASELINE") {
        let mut empty = Vec::new();
        for _ in 0..15 {
            let start = Instant::now();
            let status = f
                .runner(Path::new(&baseline))
                .stdout(Stdio::null())
                .status()
                .unwrap();
            empty.push(start.elapsed());
            assert!(status.success());
        }
        line.push_str(&format!(
            "; an empty program ({baseline}): median {:.1} ms",
            median_ms(empty)
        ));
    }
    eprintln!("{line}");
    assert_eq!(env.stats().token_requests.client_credentials, 1);
}

/// 12 processes ask at once while the cache is empty and the one token request is held
/// for 3 s (longer than the runner's start-up, so they all wait on the lock): one token.
#[test]
#[ignore = "run by .ci/cross under wine / qemu-aarch64"]
fn foreign_storm_one_token_request() {
    let f = foreign();
    let env = TestEnv::new();
    env.emu.inject(Fault::new(FaultKind::Slow).delay_ms(3_000));
    let outputs = storm(12, |_| {
        (
            f.cmd(&env, "bsn-credential-helper", &["get"]),
            String::new(),
        )
    });
    let tokens = distinct_tokens(&outputs);
    assert_eq!(tokens.len(), 1, "12 callers share one token: {tokens:?}");
    let stats = env.stats();
    assert_eq!(stats.token_requests.client_credentials, 1, "{stats:?}");
    assert_eq!(stats.faults_served, 1, "the held request: {stats:?}");
}

/// Password grant with 2 s access tokens: three renewals by refresh token, each refresh
/// token presented once.
#[test]
#[ignore = "run by .ci/cross under wine / qemu-aarch64"]
fn foreign_rotation_never_reuses_a_refresh_token() {
    let f = foreign();
    let mut env = TestEnv::with_ttls(2, 60, 600).password_grant();
    env.set("BSN_MIN_TTL", "0");
    let (code, v, err) = f.get(&env, "");
    assert_eq!((code, v["source"].as_str()), (0, Some("login")), "{err}");
    let mut seen = std::collections::BTreeSet::new();
    seen.insert(v["access_token"].to_string());
    for round in 1..=3 {
        sleep_ms(2_100);
        let (code, v, err) = f.get(&env, "");
        assert_eq!(code, 0, "round {round}: {err}");
        assert_eq!(v["source"], "refresh", "round {round}: {v}");
        assert!(seen.insert(v["access_token"].to_string()), "a new token");
    }
    let stats = env.stats();
    assert_eq!(stats.token_requests.password, 1, "{stats:?}");
    assert_eq!(stats.token_requests.refresh_token, 3, "{stats:?}");
    assert_eq!(stats.refresh_tokens_reused, 0, "{stats:?}");
}

/// The process is killed (SIGKILL to the runner's process: for Wine, the process the
/// Windows program runs in, i.e. TerminateProcess) while the token endpoint holds its
/// refresh request: the next call must not present that refresh token again.
#[test]
#[ignore = "run by .ci/cross under wine / qemu-aarch64"]
fn foreign_killed_mid_refresh_never_reuses() {
    let f = foreign();
    let env = TestEnv::new().password_grant();
    let (code, _, err) = f.get(&env, "");
    assert_eq!(code, 0, "{err}");
    for round in 1..=2 {
        let mut child = f.spawn_held_refresh(&env);
        child.kill().unwrap();
        let _ = child.wait();
        sleep_ms(2_300); // the emulator answers the held request, rotating the token
        let (code, v, err) = f.get(&env, r#"{"force_refresh":true}"#);
        assert_eq!(code, 0, "round {round}: {err}");
        assert_eq!(
            v["source"], "login",
            "round {round}: the spent token is not used: {v}"
        );
        let stats = env.stats();
        assert_eq!(stats.refresh_tokens_reused, 0, "round {round}: {stats:?}");
        assert_eq!(stats.sessions_ended_by_reuse, 0, "round {round}: {stats:?}");
    }
}

#[test]
#[ignore = "run by .ci/cross under wine / qemu-aarch64"]
fn foreign_git_and_docker_protocols() {
    let f = foreign();
    let env = TestEnv::new();
    let host = env.emu.base_url().trim_start_matches("http://").to_string();
    let out = run_with_stdin(
        f.cmd(&env, "git-credential-bsn", &["get"]),
        &format!("protocol=http\nhost={host}\n\n"),
    );
    assert!(out.status.success(), "{}", stderr(&out));
    let text = stdout(&out);
    let token = text
        .lines()
        .find_map(|l| l.strip_prefix("password="))
        .unwrap_or_else(|| panic!("no password= line: {text:?}"));
    assert!(text.contains("username="), "{text}");
    let out = run_with_stdin(
        f.cmd(&env, "docker-credential-bsn", &["get"]),
        &format!("http://{host}\n"),
    );
    assert!(out.status.success(), "{}", stderr(&out));
    let v: Value = serde_json::from_slice(&out.stdout).unwrap();
    assert_eq!(v["Secret"], token, "docker gets git's cached token: {v}");
    assert_eq!(v["ServerURL"], format!("http://{host}"), "{v}");
    // A host it does not serve: git gets nothing and goes on to its next helper.
    let out = run_with_stdin(
        f.cmd(&env, "git-credential-bsn", &["get"]),
        "protocol=https\nhost=github.com\n\n",
    );
    assert!(
        out.status.success() && out.stdout.is_empty(),
        "{}",
        stdout(&out)
    );
    assert_eq!(env.stats().token_requests.client_credentials, 1);
}

/// Windows: with no BSN_CACHE_DIR the cache goes to %LOCALAPPDATA%\bsn-credential-helper,
/// the config is read from %APPDATA%\bsn-credential-helper\config.toml, and a secret comes
/// from a `cmd /C` command. Under Wine those are the prefix's drive_c/users/<user>/AppData.
#[test]
#[ignore = "run by .ci/cross under wine"]
fn foreign_windows_default_locations_and_secret_command() {
    let f = foreign();
    f.windows();
    let prefix = PathBuf::from(std::env::var("WINEPREFIX").expect("WINEPREFIX"));
    let users = prefix.join("drive_c/users");
    let user = std::fs::read_dir(&users)
        .unwrap()
        .map(|e| e.unwrap().path())
        .find(|p| p.join("AppData/Roaming").is_dir())
        .expect("a Wine user profile with AppData");
    let config_dir = user.join("AppData/Roaming/bsn-credential-helper");
    let cache_dir = user.join("AppData/Local/bsn-credential-helper");
    let _ = std::fs::remove_dir_all(&cache_dir);
    let env = TestEnv::new();
    write_file(
        &config_dir.join("config.toml"),
        &format!(
            "default_profile = \"lobby\"\n\n[profiles.lobby]\ntoken_url = \"{}\"\napi_url = \"{}\"\nclient_id = \"demo-client\"\nclient_secret_command = \"echo demo-secret\"\nnetwork = \"Lobby\"\n",
            env.emu.token_url(),
            env.emu.base_url()
        ),
    );
    let mut cmd = f.cmd(&env, "bsn-credential-helper", &["get"]);
    for var in [
        "BSN_CACHE_DIR",
        "BSN_TOKEN_URL",
        "BSN_API_URL",
        "BSN_CLIENT_ID",
        "BSN_CLIENT_SECRET",
        "BSN_NETWORK",
    ] {
        cmd.env_remove(var);
    }
    let out = run_with_stdin(cmd, "");
    let _ = std::fs::remove_dir_all(&config_dir);
    assert!(out.status.success(), "{}", stderr(&out));
    let v: Value = serde_json::from_slice(&out.stdout).unwrap();
    assert_eq!(v["network"], "Lobby", "the %APPDATA% config was used: {v}");
    let entries: Vec<_> = std::fs::read_dir(&cache_dir)
        .unwrap_or_else(|e| panic!("no cache in {}: {e}", cache_dir.display()))
        .map(|e| e.unwrap().file_name().to_string_lossy().into_owned())
        .collect();
    assert!(
        entries.iter().any(|n| n.ends_with(".json")),
        "an entry in %LOCALAPPDATA%: {entries:?}"
    );
    let _ = std::fs::remove_dir_all(&cache_dir);
}

/// Ctrl-C during a refresh: SIGINT to the runner's process while the token endpoint holds
/// the refresh. Under qemu the Unix signal shield defers it; under Wine, Wine turns SIGINT
/// into a console CTRL_C_EVENT, which the Windows console handler (signals.rs) takes until
/// the rotated token is written, then ends the process. Either way the session survives:
/// the next call is a cache hit, not a login. Without the shield the process dies
/// mid-exchange and the next call must log in (qemu); without the console handler Wine
/// ignores the Ctrl-C and the call answers (checked once by breaking the handler).
#[test]
#[ignore = "run by .ci/cross under wine / qemu-aarch64"]
fn foreign_ctrl_c_during_a_refresh_keeps_the_session() {
    let f = foreign();
    let env = TestEnv::new().password_grant();
    let (code, _, err) = f.get(&env, "");
    assert_eq!(code, 0, "{err}");
    let child = f.spawn_held_refresh(&env);
    // SAFETY: kill(2) on our own child's pid.
    assert_eq!(unsafe { libc::kill(child.id() as i32, libc::SIGINT) }, 0);
    let out = child.wait_with_output().unwrap();
    assert!(
        !out.status.success(),
        "Ctrl-C still ends the call: {:?}",
        out.status
    );
    assert!(
        out.stdout.is_empty(),
        "no answer after Ctrl-C: {}",
        stdout(&out)
    );
    let (code, v, err) = f.get(&env, "");
    assert_eq!(code, 0, "{err}");
    assert_eq!(v["source"], "cache", "the rotated token was kept: {v}");
    let stats = env.stats();
    assert_eq!(stats.token_requests.password, 1, "no new login: {stats:?}");
    assert_eq!(stats.token_requests.refresh_token, 1, "{stats:?}");
    assert_eq!(stats.refresh_tokens_reused, 0, "{stats:?}");
}

/// Windows has no mode bits; the helper reads the access rules instead (win/acl.rs). Wine
/// derives a file's rules from its mode: 0644 grants Everyone (S-1-1-0) read, 0600 only the
/// owner. A secret file, or a config file holding a secret, that others can read is refused
/// with the icacls command that fixes it; the same files made private are accepted.
#[test]
#[ignore = "run by .ci/cross under wine"]
fn foreign_windows_secret_files_others_can_read_are_refused() {
    use std::os::unix::fs::PermissionsExt;
    let f = foreign();
    f.windows();
    let env = TestEnv::new();
    let dir = env.cache_dir().parent().unwrap().join("secrets");
    std::fs::create_dir_all(&dir).unwrap();
    let secret = dir.join("client-secret");
    let config = dir.join("config.toml");
    let chmod = |p: &Path, mode| std::fs::set_permissions(p, std::fs::Permissions::from_mode(mode));
    let secret_value = "demo-secret".to_string();
    write_file(&secret, &secret_value);
    let run = |config_text: &str| {
        write_file(&config, config_text);
        let mut cmd = f.cmd(&env, "bsn-credential-helper", &["get"]);
        cmd.env_remove("BSN_CLIENT_SECRET")
            .env("BSN_CONFIG", f.path(&config));
        run_with_stdin(cmd, "")
    };
    let by_file = format!(
        "[profiles.default]\nclient_secret_file = '{}'\n",
        f.path(&secret)
    );
    chmod(&secret, 0o644).unwrap();
    chmod(&config, 0o600).ok();
    let out = run(&by_file);
    assert_eq!(out.status.code(), Some(3), "{}", stderr(&out));
    let err = stderr(&out);
    assert!(err.contains("can be read by S-1-1-0 (Everyone)"), "{err}");
    assert!(
        err.contains("icacls") && err.contains("/inheritance:r"),
        "{err}"
    );
    assert!(
        !err.contains(&secret_value),
        "the secret is not shown: {err}"
    );
    assert_eq!(env.stats().token_requests.client_credentials, 0);
    chmod(&secret, 0o600).unwrap();
    let out = run(&by_file);
    assert!(
        out.status.success(),
        "a private secret file is used: {}",
        stderr(&out)
    );

    let inline = format!("[profiles.default]\nclient_secret = '{secret_value}'\n");
    write_file(&config, &inline);
    chmod(&config, 0o644).unwrap();
    let out = run(&inline);
    let err = stderr(&out);
    assert_eq!(out.status.code(), Some(3), "{err}");
    assert!(
        err.contains("other users can read it") && err.contains("icacls"),
        "{err}"
    );
    assert!(!err.contains(&secret_value), "{err}");
}

/// Windows Credential Manager: `client_secret_credential` names a generic credential (what
/// `cmdkey /generic:T /user:bsn /pass` stores; Wine has no cmdkey, so .ci/cross builds
/// .ci/windows/credwrite.c, which writes one the same way). A missing target is a config
/// error naming it and the cmdkey command; a stored one logs in.
#[test]
#[ignore = "run by .ci/cross under wine"]
fn foreign_windows_secret_from_credential_manager() {
    let f = foreign();
    f.windows();
    let credwrite = std::env::var("BSN_FOREIGN_CREDWRITE")
        .expect("BSN_FOREIGN_CREDWRITE names credwrite.exe (.ci/cross builds it)");
    let env = TestEnv::new();
    let target = format!("bsn-credential-helper/test-{}", std::process::id());
    let config = env.path("config.toml");
    write_file(
        &config,
        &format!("[profiles.default]\nclient_secret_credential = '{target}'\n"),
    );
    let get = || {
        let mut cmd = f.cmd(&env, "bsn-credential-helper", &["get"]);
        cmd.env_remove("BSN_CLIENT_SECRET")
            .env("BSN_CONFIG", f.path(&config));
        run_with_stdin(cmd, "")
    };
    let out = get();
    let err = stderr(&out);
    assert_eq!(out.status.code(), Some(3), "{err}");
    assert!(
        err.contains("client_secret_credential") && err.contains(&target),
        "{err}"
    );
    assert!(err.contains("cmdkey /generic:"), "{err}");
    assert_eq!(env.stats().token_requests.client_credentials, 0);

    let mut store = f.runner(Path::new(&credwrite));
    store.arg(&target);
    let stored = run_with_stdin(store, "demo-secret\n");
    assert!(stored.status.success(), "credwrite: {:?}", stored.status);
    let out = get();
    assert!(out.status.success(), "{}", stderr(&out));
    let v: Value = serde_json::from_slice(&out.stdout).unwrap();
    assert_eq!(v["source"], "login", "{v}");
    assert_eq!(env.stats().token_requests.client_credentials, 1);
}

/// `install-links` on Windows: the three host-tool names as hard links to the `.exe` (no
/// symlink privilege needed; under Wine a hard link is a Unix hard link: the same inode),
/// each answering its protocol; a second run changes nothing.
#[test]
#[ignore = "run by .ci/cross under wine"]
fn foreign_windows_install_links_makes_hard_links() {
    use std::os::unix::fs::MetadataExt;
    let f = foreign();
    f.windows();
    let env = TestEnv::new();
    let dir = env.path("links");
    std::fs::create_dir_all(&dir).unwrap();
    let exe = dir.join("bsn-credential-helper.exe");
    std::fs::copy(f.program("bsn-credential-helper"), &exe).unwrap();
    let here = Foreign {
        runner: f.runner.clone(),
        dir: dir.clone(),
        windows: true,
    };
    for round in 1..=2 {
        let out = run_with_stdin(
            here.cmd(&env, "bsn-credential-helper", &["install-links"]),
            "",
        );
        assert!(out.status.success(), "round {round}: {}", stderr(&out));
    }
    let inode = std::fs::metadata(&exe).unwrap().ino();
    for name in [
        "git-credential-bsn",
        "docker-credential-bsn",
        "bazel-credential-bsn",
    ] {
        let link = dir.join(format!("{name}.exe"));
        let meta = std::fs::metadata(&link).unwrap_or_else(|e| panic!("{name}.exe: {e}"));
        assert_eq!(meta.ino(), inode, "{name}.exe is a hard link to the .exe");
    }
    let out = run_with_stdin(here.cmd(&env, "git-credential-bsn", &["capability"]), "");
    assert_eq!(
        stdout(&out),
        "version 0\ncapability authtype\n",
        "{}",
        stderr(&out)
    );
}

/// Entries are replaced by rename while other processes read them (on Windows, std's
/// rename replaces a file others hold open: POSIX semantics, and std opens with
/// FILE_SHARE_DELETE): readers looping over cache hits never fail, never see a torn entry,
/// while another process renews four times.
#[test]
#[ignore = "run by .ci/cross under wine / qemu-aarch64"]
fn foreign_readers_never_fail_while_the_entry_is_replaced() {
    let f = foreign();
    let env = TestEnv::new();
    let (code, _, err) = f.get(&env, "");
    assert_eq!(code, 0, "{err}");
    let done = std::sync::atomic::AtomicBool::new(false);
    let reads = std::thread::scope(|s| {
        let readers: Vec<_> = (0..3)
            .map(|_| {
                s.spawn(|| {
                    let mut n = 0;
                    while !done.load(std::sync::atomic::Ordering::SeqCst) {
                        let (code, v, err) = f.get(&env, "");
                        assert_eq!(code, 0, "a reader failed during renewals: {err}");
                        assert!(
                            v["access_token"].as_str().is_some_and(|t| t.len() > 10),
                            "{v}"
                        );
                        n += 1;
                    }
                    n
                })
            })
            .collect();
        for round in 1..=4 {
            let (code, v, err) = f.get(&env, r#"{"force_refresh":true}"#);
            assert_eq!(code, 0, "renewal {round}: {err}");
            assert_eq!(v["source"], "login", "renewal {round}: {v}");
        }
        done.store(true, std::sync::atomic::Ordering::SeqCst);
        readers
            .into_iter()
            .map(|r| r.join().unwrap())
            .sum::<usize>()
    });
    assert!(reads >= 3, "the readers ran: {reads}");
    assert_eq!(env.stats().token_requests.client_credentials, 5);
}
