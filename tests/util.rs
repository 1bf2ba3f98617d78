//! Shared test harness: an emulator on loopback, a private temp home, and the real binary
//! run as separate processes with a clean environment.

#![allow(dead_code)]

use bsn_emulator::{Emulator, EmulatorConfig, Stats};
use std::io::Write;
use std::path::{Path, PathBuf};
use std::process::{Command, Output, Stdio};

pub fn bin() -> &'static str {
    env!("CARGO_BIN_EXE_bsn-credential-helper")
}

pub struct TestEnv {
    pub emu: Emulator,
    pub home: tempfile::TempDir,
    /// Extra variables for every command, e.g. BSN_GRANT=password.
    pub vars: Vec<(String, String)>,
}

impl TestEnv {
    /// Emulator with demo clients and the given lifetimes (seconds).
    pub fn with_ttls(access: u64, refresh: u64, session: u64) -> TestEnv {
        let mut config = EmulatorConfig::demo();
        config.port = 0;
        config.access_ttl = access;
        config.refresh_ttl = refresh;
        config.session_ttl = session;
        TestEnv::with_config(config)
    }

    pub fn new() -> TestEnv {
        TestEnv::with_ttls(300, 1800, 43200)
    }

    pub fn with_config(config: EmulatorConfig) -> TestEnv {
        let emu = Emulator::start(config).expect("emulator starts");
        let home = tempfile::tempdir().expect("temp dir");
        TestEnv {
            emu,
            home,
            vars: Vec::new(),
        }
    }

    /// Switches every later command to the password grant (user session + refresh tokens).
    pub fn password_grant(mut self) -> TestEnv {
        self.set("BSN_GRANT", "password");
        self.set("BSN_USERNAME", "demo@example.com");
        self.set("BSN_PASSWORD", "demo-password");
        self
    }

    pub fn set(&mut self, key: &str, value: &str) {
        self.vars.retain(|(k, _)| k != key);
        self.vars.push((key.to_string(), value.to_string()));
    }

    pub fn cache_dir(&self) -> PathBuf {
        self.home.path().join("cache")
    }

    /// Files in the cache dir with this extension (`json` entries, `lock` files), sorted.
    pub fn cache_files(&self, ext: &str) -> Vec<PathBuf> {
        let mut files: Vec<PathBuf> = std::fs::read_dir(self.cache_dir())
            .map(|dir| dir.map(|e| e.unwrap().path()).collect())
            .unwrap_or_default();
        files.retain(|p| p.extension().is_some_and(|x| x == ext));
        files.sort();
        files
    }

    /// The one cache file with this extension, if any.
    pub fn cache_file(&self, ext: &str) -> Option<PathBuf> {
        self.cache_files(ext).into_iter().next()
    }

    pub fn path(&self, name: &str) -> PathBuf {
        self.home.path().join(name)
    }

    /// The real binary with only what a user would set: no proxies, no inherited BSN_*.
    pub fn cmd(&self, args: &[&str]) -> Command {
        let mut cmd = Command::new(bin());
        cmd.args(args);
        apply_env(&mut cmd, self);
        cmd
    }

    pub fn run(&self, args: &[&str], stdin: &str) -> Output {
        run_with_stdin(self.cmd(args), stdin)
    }

    /// `get` with a JSON request; returns (exit code, parsed stdout, stderr).
    pub fn get(&self, request: &str) -> (i32, serde_json::Value, String) {
        let out = self.run(&["get"], request);
        let json = serde_json::from_slice(&out.stdout).unwrap_or_else(|e| {
            panic!(
                "stdout is not JSON ({e}): {:?} / stderr {:?}",
                String::from_utf8_lossy(&out.stdout),
                String::from_utf8_lossy(&out.stderr)
            )
        });
        (
            out.status.code().unwrap_or(-1),
            json,
            String::from_utf8_lossy(&out.stderr).into_owned(),
        )
    }

    /// `token`, asserting success.
    pub fn token(&self) -> String {
        let out = self.run(&["token"], "");
        assert!(
            out.status.success(),
            "token failed: {}",
            String::from_utf8_lossy(&out.stderr)
        );
        String::from_utf8(out.stdout)
            .unwrap()
            .trim_end()
            .to_string()
    }

    pub fn stats(&self) -> Stats {
        self.emu.stats()
    }

    pub fn stats_json(&self) -> serde_json::Value {
        serde_json::to_value(self.emu.stats()).unwrap()
    }
}

pub fn apply_env(cmd: &mut Command, env: &TestEnv) {
    cmd.env_clear()
        .env("PATH", std::env::var_os("PATH").unwrap_or_default())
        .env("HOME", env.home.path())
        .env("XDG_CONFIG_HOME", env.home.path().join("config"))
        .env("XDG_CACHE_HOME", env.home.path().join("xdg-cache"))
        .env("BSN_CACHE_DIR", env.cache_dir())
        .env("BSN_TOKEN_URL", env.emu.token_url())
        .env("BSN_API_URL", env.emu.base_url())
        .env("BSN_CLIENT_ID", "demo-client")
        .env("BSN_CLIENT_SECRET", "demo-secret")
        .env("BSN_NETWORK", "Demo");
    for (k, v) in &env.vars {
        cmd.env(k, v);
    }
}

pub fn run_with_stdin(mut cmd: Command, stdin: &str) -> Output {
    cmd.stdin(Stdio::piped())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped());
    let mut child = cmd.spawn().expect("spawn helper");
    if let Some(mut pipe) = child.stdin.take() {
        let _ = pipe.write_all(stdin.as_bytes());
    }
    child.wait_with_output().expect("wait for helper")
}

/// Starts `n` copies of `make()` at once and waits for all of them.
pub fn storm(n: usize, make: impl Fn(usize) -> (Command, String)) -> Vec<Output> {
    let children: Vec<_> = (0..n)
        .map(|i| {
            let (mut cmd, stdin) = make(i);
            cmd.stdin(Stdio::piped())
                .stdout(Stdio::piped())
                .stderr(Stdio::piped());
            let mut child = cmd.spawn().expect("spawn");
            (child.stdin.take(), child, stdin)
        })
        .collect();
    children
        .into_iter()
        .map(|(pipe, child, stdin)| {
            if let Some(mut pipe) = pipe {
                let _ = pipe.write_all(stdin.as_bytes());
            }
            child.wait_with_output().expect("wait")
        })
        .collect()
}

pub fn stdout(out: &Output) -> String {
    String::from_utf8_lossy(&out.stdout).into_owned()
}

pub fn stderr(out: &Output) -> String {
    String::from_utf8_lossy(&out.stderr).into_owned()
}

pub fn sleep_ms(ms: u64) {
    std::thread::sleep(std::time::Duration::from_millis(ms));
}

pub fn write_file(path: &Path, text: &str) {
    std::fs::create_dir_all(path.parent().unwrap()).unwrap();
    std::fs::write(path, text).unwrap();
}
