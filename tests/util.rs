//! Shared test harness: an emulator on loopback, a private temp home, and the real binary
//! run as separate processes with a clean environment.

#![allow(dead_code)]

use bsn_emulator::{Emulator, EmulatorConfig, Stats};
use std::io::Write;
use std::os::unix::process::CommandExt;
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Output, Stdio};

pub fn bin() -> &'static str {
    env!("CARGO_BIN_EXE_bsn-credential-helper")
}

pub struct TestEnv {
    pub emu: Emulator,
    pub home: tempfile::TempDir,
    /// Extra variables for every command, e.g. BSN_GRANT=password.
    pub vars: Vec<(String, String)>,
    /// (uid, gid) the helper runs as, when the suite runs as root (`unprivileged`).
    pub run_as: Option<(u32, u32)>,
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
            run_as: None,
        }
    }

    /// Runs every later command as an unprivileged user, so permission checks are not
    /// hidden by root's privileges. As root this is the account named by `BSN_TEST_USER`
    /// (default `bsntest`, which `.ci/run` creates) and the temp home is handed to it;
    /// otherwise the suite already runs unprivileged. `None` (test skipped) only outside
    /// CI: under `CI=true` a missing account fails the test.
    pub fn unprivileged(mut self) -> Option<TestEnv> {
        if !is_root() {
            return Some(self);
        }
        let name = std::env::var("BSN_TEST_USER").unwrap_or_else(|_| "bsntest".into());
        let Some(ids) = account(&name) else {
            require(
                &format!(
                    "an unprivileged account {name:?} to run permission tests as (`useradd --system --user-group {name}`; .ci/run creates it)"
                ),
                false,
            );
            return None;
        };
        // The temp home must be reachable by that account (TMPDIR under /root is not).
        let reachable = self
            .home
            .path()
            .ancestors()
            .skip(1)
            .all(searchable_by_others);
        if !require(
            &format!(
                "a temp dir other users can reach ({} is not; set TMPDIR)",
                self.home.path().display()
            ),
            reachable,
        ) {
            return None;
        }
        self.run_as = Some(ids);
        self.give(self.home.path());
        Some(self)
    }

    /// Hands a path the test created (as root) to the user the helper runs as.
    pub fn give(&self, path: &Path) {
        if let Some((uid, gid)) = self.run_as {
            std::os::unix::fs::lchown(path, Some(uid), Some(gid)).unwrap();
        }
    }

    /// Creates `path` (parents too) with `mode`, owned by the user the helper runs as.
    pub fn write_owned(&self, path: &Path, text: &str, mode: u32) {
        use std::os::unix::fs::PermissionsExt;
        write_file(path, text);
        std::fs::set_permissions(path, std::fs::Permissions::from_mode(mode)).unwrap();
        self.give(path);
    }

    /// Creates the directory `path` with `mode`, owned by the user the helper runs as.
    pub fn mkdir_owned(&self, path: &Path, mode: u32) {
        use std::os::unix::fs::PermissionsExt;
        std::fs::create_dir_all(path).unwrap();
        std::fs::set_permissions(path, std::fs::Permissions::from_mode(mode)).unwrap();
        self.give(path);
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
        let program = match self.run_as {
            Some(_) => reachable_bin(),
            None => Path::new(bin()),
        };
        let mut cmd = Command::new(program);
        cmd.args(args);
        apply_env(&mut cmd, self);
        if let Some((uid, gid)) = self.run_as {
            // SAFETY: only async-signal-safe calls between fork and exec.
            unsafe {
                cmd.pre_exec(move || {
                    if libc::setgroups(0, std::ptr::null()) != 0
                        || libc::setgid(gid) != 0
                        || libc::setuid(uid) != 0
                    {
                        return Err(std::io::Error::last_os_error());
                    }
                    Ok(())
                });
            }
        }
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

    /// Holds the next token request for 300 ms, as a loaded real endpoint might. Before a
    /// storm this makes the race deterministic: every caller reads the stale entry while
    /// the first renewal is in flight, so a caller that renews without re-reading the
    /// cache under the lock shows up as an extra token request, every time.
    pub fn slow_next_renewal(&self) {
        use bsn_emulator::{Fault, FaultKind};
        self.emu.inject(Fault::new(FaultKind::Slow).delay_ms(300));
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
///
/// A real barrier, so the callers race: every child is forked and held just before
/// `exec` (it reports in on one pipe, then blocks reading one byte from another); only
/// when all `n` have reported in are they let go together. Then, with every process
/// loaded, all stdins are written and closed (the helper reads stdin to EOF before doing
/// anything, so stdin readers start within microseconds of each other), and only after
/// that is any child awaited.
pub fn storm(n: usize, make: impl Fn(usize) -> (Command, String)) -> Vec<Output> {
    let gate = Gate::new();
    let prepared: Vec<(Command, String)> = (0..n)
        .map(|i| {
            let (mut cmd, stdin) = make(i);
            cmd.stdin(Stdio::piped())
                .stdout(Stdio::piped())
                .stderr(Stdio::piped());
            gate.hold(&mut cmd);
            (cmd, stdin)
        })
        .collect();
    let children: Vec<(Child, String)> = std::thread::scope(|s| {
        // `spawn` returns only once the child has exec'd, i.e. after the gate opens.
        let spawning: Vec<_> = prepared
            .into_iter()
            .map(|(mut cmd, stdin)| s.spawn(move || (cmd.spawn().expect("spawn"), stdin)))
            .collect();
        let held = gate.open(n);
        assert_eq!(held, n, "storm processes held at the start gate");
        spawning
            .into_iter()
            .map(|h| h.join().expect("spawning thread"))
            .collect()
    });
    let children: Vec<Child> = children
        .into_iter()
        .map(|(mut child, stdin)| {
            if let Some(mut pipe) = child.stdin.take() {
                let _ = pipe.write_all(stdin.as_bytes());
            }
            child
        })
        .collect();
    children
        .into_iter()
        .map(|child| child.wait_with_output().expect("wait"))
        .collect()
}

/// Start gate for `storm`: two pipes. A held child writes one byte to `ready`, then reads
/// one byte from `go`. Counted bytes rather than EOF, so a copy of a write end inherited
/// by any other process forked meanwhile cannot keep the gate shut.
struct Gate {
    ready: [libc::c_int; 2],
    go: [libc::c_int; 2],
}

impl Gate {
    fn new() -> Gate {
        let mut ready = [0; 2];
        let mut go = [0; 2];
        // SAFETY: pipe2 writes two fds into the arrays; O_CLOEXEC keeps them out of
        // every exec'd program.
        unsafe {
            assert_eq!(libc::pipe2(ready.as_mut_ptr(), libc::O_CLOEXEC), 0);
            assert_eq!(libc::pipe2(go.as_mut_ptr(), libc::O_CLOEXEC), 0);
        }
        Gate { ready, go }
    }

    fn hold(&self, cmd: &mut Command) {
        let (ready, go) = (self.ready[1], self.go[0]);
        // SAFETY: only async-signal-safe calls (write, read) between fork and exec.
        unsafe {
            cmd.pre_exec(move || {
                if libc::write(ready, b"r".as_ptr().cast(), 1) != 1 {
                    return Err(std::io::Error::last_os_error());
                }
                let mut byte = 0u8;
                loop {
                    match libc::read(go, (&raw mut byte).cast(), 1) {
                        1 => return Ok(()),
                        -1 => {
                            let e = std::io::Error::last_os_error();
                            if e.kind() != std::io::ErrorKind::Interrupted {
                                return Err(e);
                            }
                        }
                        _ => return Err(std::io::ErrorKind::UnexpectedEof.into()),
                    }
                }
            });
        }
    }

    /// Waits until `n` children are held (at most a minute), then lets them all go.
    /// Returns how many were held; fewer than `n` only after the minute ran out.
    fn open(&self, n: usize) -> usize {
        let deadline = std::time::Instant::now() + std::time::Duration::from_secs(60);
        let mut seen = 0;
        let mut buf = [0u8; 256];
        while seen < n {
            let left = deadline.saturating_duration_since(std::time::Instant::now());
            if left.is_zero() {
                break; // still open the gate, or the spawning threads never return
            }
            let mut poll = libc::pollfd {
                fd: self.ready[0],
                events: libc::POLLIN,
                revents: 0,
            };
            // SAFETY: one valid pollfd; reads into a buffer of the given length.
            unsafe {
                if libc::poll(&mut poll, 1, left.as_millis().min(1000) as libc::c_int) > 0 {
                    let want = (n - seen).min(buf.len());
                    let got = libc::read(self.ready[0], buf.as_mut_ptr().cast(), want);
                    if got > 0 {
                        seen += got as usize;
                    }
                }
            }
        }
        let go = vec![b'g'; n];
        let mut sent = 0;
        while sent < n {
            // SAFETY: writes from a buffer of the given length to the gate's own pipe.
            let wrote = unsafe { libc::write(self.go[1], go[sent..].as_ptr().cast(), n - sent) };
            assert!(wrote > 0, "gate: {}", std::io::Error::last_os_error());
            sent += wrote as usize;
        }
        seen
    }
}

impl Drop for Gate {
    fn drop(&mut self) {
        for fd in self.ready.iter().chain(&self.go) {
            // SAFETY: fds this gate created and still owns.
            unsafe { libc::close(*fd) };
        }
    }
}

/// An HTTP server on loopback that answers every request with `status` (e.g. "302
/// Found"), `headers` and `body`, then closes. Returns its base URL.
pub fn canned_endpoint(status: &str, headers: &[(&str, &str)], body: &str) -> String {
    use std::io::Read;
    let listener = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
    let port = listener.local_addr().unwrap().port();
    let mut head = format!("HTTP/1.1 {status}\r\n");
    for (name, value) in headers {
        head.push_str(&format!("{name}: {value}\r\n"));
    }
    let answer = format!(
        "{head}Content-Length: {}\r\nConnection: close\r\n\r\n{body}",
        body.len()
    );
    std::thread::spawn(move || {
        for stream in listener.incoming() {
            let Ok(mut stream) = stream else { continue };
            let mut buf = [0u8; 8192];
            let mut seen = Vec::new();
            // Read the head and a small form body; good enough for one request.
            while let Ok(n) = stream.read(&mut buf) {
                if n == 0 {
                    break;
                }
                seen.extend_from_slice(&buf[..n]);
                if let Some(at) = seen.windows(4).position(|w| w == b"\r\n\r\n") {
                    let head = String::from_utf8_lossy(&seen[..at]).to_ascii_lowercase();
                    let len = head
                        .lines()
                        .find_map(|l| l.strip_prefix("content-length:"))
                        .and_then(|v| v.trim().parse::<usize>().ok())
                        .unwrap_or(0);
                    if seen.len() >= at + 4 + len {
                        break;
                    }
                }
            }
            let _ = stream.write_all(answer.as_bytes());
        }
    });
    format!("http://127.0.0.1:{port}")
}

fn searchable_by_others(path: &Path) -> bool {
    use std::os::unix::fs::MetadataExt;
    std::fs::metadata(path).is_ok_and(|m| m.mode() & 0o001 != 0)
}

/// The binary at a path the unprivileged account can execute: `bin()` itself when every
/// directory above it is searchable by others, else a hard link (or copy) in a 0755
/// temp dir, made once per test run (CI's clone may live under a private directory).
fn reachable_bin() -> &'static Path {
    use std::os::unix::fs::PermissionsExt;
    static BIN: std::sync::OnceLock<PathBuf> = std::sync::OnceLock::new();
    BIN.get_or_init(|| {
        let bin = Path::new(bin());
        if bin.ancestors().all(searchable_by_others) {
            return bin.to_path_buf();
        }
        let dir = std::env::temp_dir().join(format!("bsn-test-bin-{}", std::process::id()));
        std::fs::create_dir_all(&dir).unwrap();
        std::fs::set_permissions(&dir, std::fs::Permissions::from_mode(0o755)).unwrap();
        let linked = dir.join("bsn-credential-helper");
        if std::fs::hard_link(bin, &linked).is_err() {
            std::fs::copy(bin, &linked).unwrap();
        }
        std::fs::set_permissions(&linked, std::fs::Permissions::from_mode(0o755)).unwrap();
        linked
    })
}

pub fn is_root() -> bool {
    // SAFETY: geteuid has no preconditions and cannot fail.
    unsafe { libc::geteuid() == 0 }
}

/// Whether the suite runs in CI (`.ci/run` sets CI=true), where nothing may skip.
pub fn in_ci() -> bool {
    std::env::var("CI").is_ok_and(|v| v == "true")
}

/// `available`, or else: under CI=true the test fails naming `what`; elsewhere it says it
/// skipped and returns false.
pub fn require(what: &str, available: bool) -> bool {
    if !available {
        assert!(!in_ci(), "CI=true and this test needs {what}");
        eprintln!("skipped: this test needs {what}");
    }
    available
}

/// (uid, gid) of a local account.
fn account(name: &str) -> Option<(u32, u32)> {
    let out = Command::new("id").args(["-u", name]).output().ok()?;
    let gid = Command::new("id").args(["-g", name]).output().ok()?;
    let parse = |o: &Output| String::from_utf8_lossy(&o.stdout).trim().parse().ok();
    if !out.status.success() || !gid.status.success() {
        return None;
    }
    Some((parse(&out)?, parse(&gid)?))
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

/// Polls `cond` every 2 ms; fails naming `what` after `timeout`.
pub fn wait_until(what: &str, timeout: std::time::Duration, mut cond: impl FnMut() -> bool) {
    let start = std::time::Instant::now();
    while !cond() {
        assert!(start.elapsed() < timeout, "timed out waiting for {what}");
        sleep_ms(2);
    }
}

/// The access tokens a storm of `get`s handed out; every call must have succeeded.
pub fn distinct_tokens(outputs: &[Output]) -> std::collections::BTreeSet<String> {
    outputs
        .iter()
        .map(|out| {
            assert!(out.status.success(), "a storm call failed: {}", stderr(out));
            let v: serde_json::Value = serde_json::from_slice(&out.stdout).unwrap();
            v["access_token"].as_str().unwrap().to_string()
        })
        .collect()
}

pub fn write_file(path: &Path, text: &str) {
    std::fs::create_dir_all(path.parent().unwrap()).unwrap();
    std::fs::write(path, text).unwrap();
}

/// "Disk full" for this command: RLIMIT_FSIZE makes every write past 64 bytes fail with
/// EFBIG (SIGXFSZ is ignored so it is an error, not a kill). Works as root, unlike a
/// read-only directory.
pub fn disk_full(cmd: &mut std::process::Command) {
    use std::os::unix::process::CommandExt;
    // SAFETY: only async-signal-safe calls between fork and exec.
    unsafe {
        cmd.pre_exec(|| {
            libc::signal(libc::SIGXFSZ, libc::SIG_IGN);
            let limit = libc::rlimit {
                rlim_cur: 64,
                rlim_max: 64,
            };
            if libc::setrlimit(libc::RLIMIT_FSIZE, &limit) != 0 {
                return Err(std::io::Error::last_os_error());
            }
            Ok(())
        });
    }
}

/// Writes `entry` at `path` as the helper itself would have: recording the identity of the
/// file it lies in (device, inode, birth time, boot), so its refresh token is trusted. A plain copy is
/// not (cache/origin.rs): that is what restored or copied caches look like.
pub fn plant_entry(path: &Path, entry: &serde_json::Value) {
    use std::os::unix::fs::MetadataExt;
    let _ = std::fs::remove_file(path);
    std::fs::write(path, b"{}").unwrap();
    let meta = std::fs::metadata(path).unwrap();
    let boot = std::fs::read_to_string("/proc/sys/kernel/random/boot_id").unwrap_or_default();
    let mut e = entry.clone();
    e["written_into"] = serde_json::json!({
        "boot": boot.trim(), "dev": meta.dev(), "ino": meta.ino()
    });
    if let Ok(born) = meta.created() {
        let d = born.duration_since(std::time::UNIX_EPOCH).unwrap();
        let born = format!("{}.{:09}", d.as_secs(), d.subsec_nanos());
        e["written_into"]["born"] = serde_json::Value::String(born);
    }
    // Rewritten in place: the same inode.
    std::fs::write(path, serde_json::to_vec(&e).unwrap()).unwrap();
}

/// Points `env` at a config file whose client secret comes from a command that counts its
/// runs (failing on run `fail_at`, if given); returns how to read the count. Callers remove
/// `BSN_CLIENT_SECRET` from their commands so the command is what runs.
pub fn counting_secret_command(
    env: &mut TestEnv,
    fail_at: Option<u32>,
) -> impl Fn() -> u32 + use<> {
    let count = env.path("secret-calls");
    let fail = fail_at.map_or(String::new(), |n| format!("[ $n -ne {n} ] && "));
    let script = format!(
        "n=$(( $(cat '{c}' 2>/dev/null || echo 0) + 1 )); echo $n > '{c}'; {fail}echo demo-secret",
        c = count.display()
    );
    let config = env.path("config.toml");
    write_file(
        &config,
        &format!("[profiles.default]\nclient_secret_command = {script:?}\n"),
    );
    env.set("BSN_CONFIG", config.to_str().unwrap());
    move || {
        std::fs::read_to_string(&count)
            .map(|t| t.trim().parse::<u32>().unwrap_or(0))
            .unwrap_or(0)
    }
}
