//! `cargo bench --bench helper`: latency, storm and memory figures of the release binary
//! against the in-process emulator, printed as markdown (benches/RESULTS.md holds a run).
//!
//! It builds `target/release/bsn-credential-helper` first (`cargo build --release`, a no-op
//! when fresh) and runs it as a separate process with a clean environment, as users do.
//! Env: BENCH_RUNS (cache-hit runs, default 500).

use bsn_credential_helper::cache::Cache;
use bsn_credential_helper::{broker, config};
use bsn_emulator::{Emulator, EmulatorConfig};
use std::collections::BTreeSet;
use std::io::Write;
use std::path::{Path, PathBuf};
use std::process::{Command, Stdio};
use std::time::{Duration, Instant};

#[path = "helper/fleet.rs"]
mod fleet;

struct Env {
    emu: Emulator,
    home: PathBuf,
    vars: Vec<(&'static str, String)>,
    bin: PathBuf,
}

impl Env {
    fn new(access_ttl: u64, bin: &Path, tag: &str) -> Env {
        let config = EmulatorConfig {
            port: 0,
            access_ttl,
            ..EmulatorConfig::demo()
        };
        let emu = Emulator::start(config).expect("emulator");
        let home = std::env::temp_dir().join(format!("bsn-bench-{}-{tag}", std::process::id()));
        let _ = std::fs::remove_dir_all(&home);
        std::fs::create_dir_all(&home).unwrap();
        Env {
            emu,
            home,
            vars: Vec::new(),
            bin: bin.to_path_buf(),
        }
    }

    fn cmd(&self, args: &[&str]) -> Command {
        self.cmd_of(&self.bin, args)
    }

    /// `program` with the helper's clean environment and piped output, so the spawn floor
    /// is measured exactly like the helper runs.
    fn cmd_of(&self, program: &Path, args: &[&str]) -> Command {
        let mut cmd = Command::new(program);
        cmd.args(args)
            .env_clear()
            .env("PATH", std::env::var_os("PATH").unwrap_or_default())
            .env("HOME", &self.home)
            .env("XDG_CONFIG_HOME", self.home.join("config"))
            .env("XDG_CACHE_HOME", self.home.join("xdg-cache"))
            .env("BSN_CACHE_DIR", self.home.join("cache"))
            .env("BSN_TOKEN_URL", self.emu.token_url())
            .env("BSN_API_URL", self.emu.base_url())
            .env("BSN_CLIENT_ID", "demo-client")
            .env("BSN_CLIENT_SECRET", "demo-secret")
            .env("BSN_NETWORK", "Demo")
            .stdin(Stdio::null())
            .stdout(Stdio::piped())
            .stderr(Stdio::piped());
        for (k, v) in &self.vars {
            cmd.env(k, v);
        }
        cmd
    }

    /// Runs to completion; returns (wall time, stdout).
    fn run(&self, args: &[&str]) -> (Duration, String) {
        self.run_cmd(self.cmd(args), args)
    }

    fn run_cmd(&self, mut cmd: Command, args: &[&str]) -> (Duration, String) {
        let started = Instant::now();
        let out = cmd.output().expect("run helper");
        let took = started.elapsed();
        assert!(
            out.status.success(),
            "{args:?}: {}",
            String::from_utf8_lossy(&out.stderr)
        );
        (took, String::from_utf8(out.stdout).unwrap())
    }

    /// Peak RSS in KiB of one invocation, from wait4's rusage of exactly that child.
    #[allow(clippy::zombie_processes)] // reaped by wait4, which std cannot do
    fn peak_rss_kib(&self, args: &[&str]) -> i64 {
        let child = self
            .cmd(args)
            .stdout(Stdio::null())
            .stderr(Stdio::null())
            .spawn()
            .unwrap();
        let mut status = 0;
        // SAFETY: waits for our own child; rusage is a plain C struct.
        let rusage = unsafe {
            let mut rusage: libc::rusage = std::mem::zeroed();
            let pid = libc::wait4(child.id() as libc::pid_t, &mut status, 0, &mut rusage);
            assert_eq!(pid, child.id() as libc::pid_t);
            rusage
        };
        assert!(libc::WIFEXITED(status) && libc::WEXITSTATUS(status) == 0);
        rusage.ru_maxrss
    }
}

impl Drop for Env {
    fn drop(&mut self) {
        let _ = std::fs::remove_dir_all(&self.home);
    }
}

struct Summary {
    median: Duration,
    p99: Duration,
}

fn summarize(mut v: Vec<Duration>) -> Summary {
    v.sort();
    Summary {
        median: v[v.len() / 2],
        p99: v[(v.len() * 99 / 100).min(v.len() - 1)],
    }
}

fn ms(d: Duration) -> String {
    format!("{:.2} ms", d.as_secs_f64() * 1000.0)
}

fn us(d: Duration) -> String {
    format!("{:.1} µs", d.as_secs_f64() * 1e6)
}

fn shell(cmd: &str) -> String {
    Command::new("sh")
        .args(["-c", cmd])
        .output()
        .map(|o| String::from_utf8_lossy(&o.stdout).trim().to_string())
        .unwrap_or_default()
}

fn release_binary() -> PathBuf {
    let root = Path::new(env!("CARGO_MANIFEST_DIR"));
    let cargo = std::env::var("CARGO").unwrap_or_else(|_| "cargo".into());
    let status = Command::new(cargo)
        .args([
            "build",
            "--release",
            "--quiet",
            "--bin",
            "bsn-credential-helper",
        ])
        .current_dir(root)
        .status()
        .expect("run cargo build --release");
    assert!(status.success(), "cargo build --release failed");
    let target = std::env::var_os("CARGO_TARGET_DIR")
        .map(PathBuf::from)
        .unwrap_or_else(|| root.join("target"));
    target.join("release").join("bsn-credential-helper")
}

/// N processes at once right after expiry: token requests the emulator saw, distinct
/// tokens handed out, and the latency of each process from spawn to exit.
fn storm(bin: &Path, n: usize) -> (u64, usize, Summary) {
    let mut env = Env::new(1, bin, &format!("storm{n}"));
    env.vars.push(("BSN_MIN_TTL", "0".into()));
    env.run(&["token"]);
    std::thread::sleep(Duration::from_millis(1050));
    let before = env.emu.stats().token_requests.client_credentials;
    let children: Vec<_> = (0..n)
        .map(|_| (Instant::now(), env.cmd(&["token"]).spawn().unwrap()))
        .collect();
    let results: Vec<(Duration, String)> = std::thread::scope(|s| {
        let handles: Vec<_> = children
            .into_iter()
            .map(|(started, child)| {
                s.spawn(move || {
                    let out = child.wait_with_output().unwrap();
                    let took = started.elapsed();
                    assert!(out.status.success());
                    (took, String::from_utf8(out.stdout).unwrap())
                })
            })
            .collect();
        handles.into_iter().map(|h| h.join().unwrap()).collect()
    });
    let requests = env.emu.stats().token_requests.client_credentials - before;
    let tokens: BTreeSet<_> = results.iter().map(|(_, t)| t.clone()).collect();
    (
        requests,
        tokens.len(),
        summarize(results.into_iter().map(|(d, _)| d).collect()),
    )
}

fn main() {
    let runs: usize = std::env::var("BENCH_RUNS")
        .ok()
        .and_then(|v| v.parse().ok())
        .unwrap_or(500);
    let bin = release_binary();
    let mut out = String::new();
    let mut line = |s: String| {
        out.push_str(&s);
        out.push('\n');
    };

    let mut env = Env::new(300, &bin, "hit");
    env.run(&["token"]);
    // Floors: spawning a trivial process (same environment, pipes and wait as the helper
    // runs get), and the in-process cache read.
    let truth = Path::new("/bin/true");
    let spawn_floor = summarize(
        (0..runs)
            .map(|_| env.run_cmd(env.cmd_of(truth, &[]), &["/bin/true"]).0)
            .collect(),
    );
    let env_of = |name: &str| -> Option<String> {
        match name {
            "BSN_CACHE_DIR" => Some(env.home.join("cache").display().to_string()),
            "BSN_TOKEN_URL" => Some(env.emu.token_url()),
            "BSN_API_URL" => Some(env.emu.base_url()),
            "BSN_CLIENT_ID" => Some("demo-client".into()),
            "BSN_NETWORK" => Some("Demo".into()),
            "BSN_CONFIG" => None,
            _ => None,
        }
    };
    let profile = config::load(&config::Overrides::default(), &env_of).expect("profile");
    let key = broker::cache_key(&profile);
    let cache = Cache::new(&profile.cache_dir);
    assert!(
        cache.read(&key).is_some(),
        "the bench reads the entry the binary wrote"
    );
    let read_floor = summarize(
        (0..runs)
            .map(|_| {
                let t = Instant::now();
                std::hint::black_box(cache.read(&key));
                t.elapsed()
            })
            .collect(),
    );
    let hit_get = summarize((0..runs).map(|_| env.run(&["get"]).0).collect());
    let hit_token = summarize((0..runs).map(|_| env.run(&["token"]).0).collect());
    let hit_fleet = fleet::hit_with_fleet_on(&mut env, runs);

    // Slow path: a new login + network selection, and a refresh (password grant).
    let renewals = 50;
    let login = summarize(
        (0..renewals)
            .map(|_| env.run(&["token", "--force-refresh"]).0)
            .collect(),
    );
    let mut session = Env::new(300, &bin, "refresh");
    session.vars.push(("BSN_GRANT", "password".into()));
    session
        .vars
        .push(("BSN_USERNAME", "demo@example.com".into()));
    session.vars.push(("BSN_PASSWORD", "demo-password".into()));
    session.run(&["token"]);
    let refresh = summarize(
        (0..renewals)
            .map(|_| session.run(&["token", "--force-refresh"]).0)
            .collect(),
    );
    assert_eq!(session.emu.stats().token_requests.password, 1);

    let rss_hit = env.peak_rss_kib(&["token"]);
    let rss_login = env.peak_rss_kib(&["token", "--force-refresh"]);
    let rss_refresh = session.peak_rss_kib(&["token", "--force-refresh"]);
    let size = std::fs::metadata(&bin).unwrap().len();

    let storms: Vec<_> = [1, 8, 32, 128]
        .iter()
        .map(|&n| (n, storm(&bin, n)))
        .collect();
    let fleet_storm = fleet::fleet_storm(&bin, 4, 32);

    line("# bsn-credential-helper benchmark".into());
    line(String::new());
    line(format!(
        "Command: `cargo bench --bench helper` (release binary `{}`, in-process emulator on loopback, {runs} runs per cache-hit row, {renewals} per renewal row).",
        bin.strip_prefix(env!("CARGO_MANIFEST_DIR"))
            .unwrap_or(&bin)
            .display()
    ));
    line(String::new());
    line("Machine:".into());
    line(String::new());
    line(format!("- nproc: {}", shell("nproc")));
    line(format!(
        "- CPU: {}",
        shell("lscpu | grep 'Model name' | sed 's/Model name: *//'")
    ));
    line(format!("- kernel: {}", shell("uname -sr")));
    line(format!("- rustc: {}", shell("rustc -V")));
    line(format!("- date: {}", shell("date -u +%Y-%m-%dT%H:%M:%SZ")));
    line(String::new());
    line("| measurement | median | p99 | notes |".into());
    line("|---|---|---|---|".into());
    line(format!(
        "| floor: spawn `/bin/true` | {} | {} | process creation + exec + wait, same env and pipes |",
        ms(spawn_floor.median),
        ms(spawn_floor.p99)
    ));
    line(format!(
        "| floor: in-process `Cache::read` | {} | {} | stat + open + read + parse of the entry |",
        us(read_floor.median),
        us(read_floor.p99)
    ));
    line(format!(
        "| cache hit: `get` | {} | {} | {:.2}× the spawn floor |",
        ms(hit_get.median),
        ms(hit_get.p99),
        hit_get.median.as_secs_f64() / spawn_floor.median.as_secs_f64()
    ));
    line(format!(
        "| cache hit: `token` | {} | {} | {:.2}× the spawn floor |",
        ms(hit_token.median),
        ms(hit_token.p99),
        hit_token.median.as_secs_f64() / spawn_floor.median.as_secs_f64()
    ));
    line(format!(
        "| renewal: login + network selection (`token --force-refresh`, client credentials) | {} | {} | 2 HTTP round trips, fsync'd write ×2 |",
        ms(login.median),
        ms(login.p99)
    ));
    line(format!(
        "| renewal: refresh (`token --force-refresh`, password grant) | {} | {} | 1 HTTP round trip, fsync'd write |",
        ms(refresh.median),
        ms(refresh.p99)
    ));
    for row in fleet::rows(&hit_fleet, &fleet_storm) {
        line(row);
    }
    for (n, (requests, tokens, s)) in &storms {
        line(format!(
            "| storm of {n} right after expiry | {} | {} | {requests} token request(s), {tokens} distinct token(s) |",
            ms(s.median),
            ms(s.p99)
        ));
    }
    line(String::new());
    line("| resource | value |".into());
    line("|---|---|".into());
    line(format!(
        "| peak RSS, cache hit (`token`) | {:.1} MiB |",
        rss_hit as f64 / 1024.0
    ));
    line(format!(
        "| peak RSS, renewal: login + network selection | {:.1} MiB |",
        rss_login as f64 / 1024.0
    ));
    line(format!(
        "| peak RSS, renewal: refresh | {:.1} MiB |",
        rss_refresh as f64 / 1024.0
    ));
    line(format!(
        "| binary size (release, stripped, LTO) | {:.2} MiB |",
        size as f64 / 1024.0 / 1024.0
    ));
    line(String::new());

    let storm128 = &storms[3].1;
    let rss_max = rss_hit.max(rss_login).max(rss_refresh);
    let verdict = |ok: bool| if ok { "met" } else { "MISSED" };
    line("Targets (issue 4):".into());
    line(String::new());
    line(format!(
        "- cache hit ≤ 2 ms median: {} (`get` {}, `token` {})",
        verdict(
            hit_get.median <= Duration::from_millis(2)
                && hit_token.median <= Duration::from_millis(2)
        ),
        ms(hit_get.median),
        ms(hit_token.median)
    ));
    line(format!(
        "- cache hit within 2× the spawn floor: {} ({:.2}×)",
        verdict(hit_get.median.max(hit_token.median) <= spawn_floor.median * 2),
        hit_get.median.max(hit_token.median).as_secs_f64() / spawn_floor.median.as_secs_f64()
    ));
    line(format!(
        "- storm of 128 → one token request, p99 < 500 ms: {} ({} request(s), p99 {})",
        verdict(storm128.0 == 1 && storm128.2.p99 < Duration::from_millis(500)),
        storm128.0,
        ms(storm128.2.p99)
    ));
    line(format!(
        "- peak RSS ≤ 10 MiB: {} ({:.1} MiB max)",
        verdict(rss_max <= 10 * 1024),
        rss_max as f64 / 1024.0
    ));
    print!("{out}");
    let _ = std::io::stdout().flush();
}
