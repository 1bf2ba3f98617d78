//! `demo`: the one-command first run. Starts the emulator in-process with lifetimes
//! compressed to seconds, then fires bursts of real helper processes at it across several
//! access-token lifetimes and a session end, and reports what BSN.cloud saw.

use crate::{Emulator, EmulatorConfig};
use std::path::{Path, PathBuf};
use std::process::{Command, ExitCode, Stdio};
use std::time::{Duration, Instant};

const ACCESS_TTL: u64 = 3;
const REFRESH_TTL: u64 = 8;
const SESSION_TTL: u64 = 14;
const RUN_FOR: Duration = Duration::from_secs(20);
const BURST_EVERY: Duration = Duration::from_millis(400);

/// The one field of the helper's protocol answer the demo reads (protocol.md `source`).
#[derive(serde::Deserialize)]
struct Answer {
    source: String,
}

struct Call {
    elapsed: Duration,
    result: Result<Answer, String>,
}

/// Runs the demo with `processes` helper processes per burst; `helper` is the binary to
/// invoke (the caller's own executable). An error is a sentence for the user.
pub fn run(processes: usize, helper: &Path) -> Result<ExitCode, String> {
    let processes = processes.clamp(1, 256);
    let mut config = EmulatorConfig::demo();
    config.port = 0;
    config.access_ttl = ACCESS_TTL;
    config.refresh_ttl = REFRESH_TTL;
    config.session_ttl = SESSION_TTL;
    let emulator = Emulator::start(config)
        .map_err(|e| format!("cannot start the emulator on 127.0.0.1: {e}"))?;
    let exe = helper.to_path_buf();
    let cache_dir = TempDir::new()?;
    // An empty config file keeps the user's own profiles out of the demo.
    let no_config = cache_dir.0.join("empty-config.toml");
    std::fs::write(&no_config, "")
        .map_err(|e| format!("cannot write {}: {e}", no_config.display()))?;

    println!(
        "Emulated BSN.cloud on {} with access tokens of {ACCESS_TTL}s, refresh tokens of {REFRESH_TTL}s\n\
         and sessions of {SESSION_TTL}s. Every {}ms, {processes} helper processes ask for a token at once,\n\
         for {}s: {} access-token lifetimes and at least one session end.\n",
        emulator.base_url(),
        BURST_EVERY.as_millis(),
        RUN_FOR.as_secs(),
        RUN_FOR.as_secs() / ACCESS_TTL,
    );

    let started = Instant::now();
    let mut calls: Vec<Call> = Vec::new();
    while started.elapsed() < RUN_FOR {
        let burst_start = Instant::now();
        let handles: Vec<_> = (0..processes)
            .map(|_| {
                let mut cmd = helper_command(&exe, &emulator, &cache_dir.0);
                std::thread::spawn(move || invoke(&mut cmd))
            })
            .collect();
        calls.extend(handles.into_iter().map(|h| {
            h.join().unwrap_or_else(|_| Call {
                elapsed: Duration::ZERO,
                result: Err("demo thread failed".into()),
            })
        }));
        std::thread::sleep(BURST_EVERY.saturating_sub(burst_start.elapsed()));
    }
    let wall = started.elapsed();
    let stats = emulator.stats();
    emulator.stop();

    let failed: Vec<&String> = calls
        .iter()
        .filter_map(|c| c.result.as_ref().err())
        .collect();
    let by_source = |s: &str| {
        calls
            .iter()
            .filter(|c| matches!(&c.result, Ok(r) if r.source == s))
            .count()
    };
    let latencies = |cache: bool| {
        let mut v: Vec<Duration> = calls
            .iter()
            .filter(|c| matches!(&c.result, Ok(r) if (r.source == "cache") == cache))
            .map(|c| c.elapsed)
            .collect();
        v.sort();
        v
    };
    let (hits, renewals) = (latencies(true), latencies(false));
    let sessions = stats.token_requests.password;

    println!(
        "  helper invocations      {} in {:.1}s, {} failed",
        calls.len(),
        wall.as_secs_f64(),
        failed.len()
    );
    println!(
        "  answered from           cache {}, refresh {}, login {}",
        by_source("cache"),
        by_source("refresh"),
        by_source("login")
    );
    println!(
        "  token requests seen     {} (password logins {}, refreshes {}, client credentials {})",
        stats.token_requests.password
            + stats.token_requests.refresh_token
            + stats.token_requests.client_credentials,
        sessions,
        stats.token_requests.refresh_token,
        stats.token_requests.client_credentials
    );
    println!("  refresh tokens reused   {}", stats.refresh_tokens_reused);
    println!(
        "  most unexpired tokens   {} at once (per client)",
        stats.max_active_tokens
    );
    println!("  network selections      {}", stats.network_selections);
    println!(
        "  latency, cache hit      median {}, p99 {}  (whole process: spawn to exit)",
        ms(percentile(&hits, 50)),
        ms(percentile(&hits, 99))
    );
    println!(
        "  latency, renewal        median {}, p99 {}",
        ms(percentile(&renewals, 50)),
        ms(percentile(&renewals, 99))
    );
    for f in failed.iter().take(3) {
        println!("  failure: {f}");
    }
    let ok = failed.is_empty() && stats.refresh_tokens_reused == 0;
    println!(
        "\n{}",
        if ok {
            "Every caller got a token; each renewal happened once, and no refresh token was used twice."
        } else {
            "Something went wrong: see the failures above."
        }
    );
    Ok(if ok {
        ExitCode::SUCCESS
    } else {
        ExitCode::FAILURE
    })
}

fn helper_command(exe: &Path, emulator: &Emulator, cache_dir: &Path) -> Command {
    let mut cmd = Command::new(exe);
    cmd.arg("get");
    // Only the demo's own settings: nothing from the user's environment or config file.
    for (key, _) in std::env::vars_os() {
        let k = key.to_string_lossy().to_ascii_uppercase();
        if k.starts_with("BSN_") || k.starts_with("BS_") || k.ends_with("_PROXY") {
            cmd.env_remove(&key);
        }
    }
    cmd.env("BSN_CONFIG", cache_dir.join("empty-config.toml"))
        .env("BSN_CACHE_DIR", cache_dir.join("cache"))
        .env("BSN_TOKEN_URL", emulator.token_url())
        .env("BSN_API_URL", emulator.base_url())
        .env("BSN_CLIENT_ID", "demo-client")
        .env("BSN_CLIENT_SECRET", "demo-secret")
        .env("BSN_GRANT", "password")
        .env("BSN_USERNAME", "demo@example.com")
        .env("BSN_PASSWORD", "demo-password")
        .env("BSN_NETWORK", "Demo")
        .env("BSN_MIN_TTL", "1")
        .stdin(Stdio::null())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped());
    cmd
}

fn invoke(cmd: &mut Command) -> Call {
    let start = Instant::now();
    let output = cmd.output();
    let elapsed = start.elapsed();
    let result = match output {
        Ok(out) if out.status.success() => serde_json::from_slice::<Answer>(&out.stdout)
            .map_err(|e| format!("unreadable answer: {e}")),
        Ok(out) => Err(String::from_utf8_lossy(&out.stderr).trim().to_string()),
        Err(e) => Err(format!("cannot start the helper: {e}")),
    };
    Call { elapsed, result }
}

fn percentile(sorted: &[Duration], p: usize) -> Option<Duration> {
    if sorted.is_empty() {
        return None;
    }
    let rank = (p * sorted.len()).div_ceil(100).clamp(1, sorted.len());
    Some(sorted[rank - 1])
}

fn ms(d: Option<Duration>) -> String {
    d.map(|d| format!("{:.1} ms", d.as_secs_f64() * 1000.0))
        .unwrap_or_else(|| "-".into())
}

/// A private scratch directory removed on drop (tempfile is a dev-dependency only).
struct TempDir(PathBuf);

impl TempDir {
    fn new() -> Result<TempDir, String> {
        let path = std::env::temp_dir().join(format!(
            "bsn-credential-helper-demo-{}-{}",
            std::process::id(),
            std::time::SystemTime::now()
                .duration_since(std::time::UNIX_EPOCH)
                .map_or(0, |d| d.as_millis())
        ));
        std::fs::create_dir_all(&path)
            .map_err(|e| format!("cannot create {}: {e}", path.display()))?;
        Ok(TempDir(path))
    }
}

impl Drop for TempDir {
    fn drop(&mut self) {
        let _ = std::fs::remove_dir_all(&self.0);
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn percentiles_use_nearest_rank() {
        let v: Vec<Duration> = (1..=100).map(Duration::from_millis).collect();
        assert_eq!(percentile(&v, 50), Some(Duration::from_millis(50)));
        assert_eq!(percentile(&v, 99), Some(Duration::from_millis(99)));
        assert_eq!(percentile(&v[..1], 99), Some(Duration::from_millis(1)));
        assert_eq!(percentile(&[], 50), None);
    }
}
