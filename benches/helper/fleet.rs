//! Fleet storm: H simulated hosts (one cache directory each) × P processes at once right
//! after expiry, sharing a redis-server on a unix socket; and a cache hit with fleet mode
//! on (the local file answers; Redis is never connected).

use super::{Env, Summary, ms, summarize};
use std::collections::BTreeSet;
use std::path::Path;
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

struct Redis(Child, std::path::PathBuf);

impl Drop for Redis {
    fn drop(&mut self) {
        let _ = self.0.kill();
        let _ = self.0.wait();
        let _ = std::fs::remove_dir_all(&self.1);
    }
}

fn start_redis() -> Option<(Redis, String)> {
    let dir = std::env::temp_dir().join(format!("bsn-bench-redis-{}", std::process::id()));
    std::fs::create_dir_all(&dir).ok()?;
    let socket = dir.join("redis.sock");
    let child = Command::new("redis-server")
        .args(["--port", "0", "--unixsocket"])
        .arg(&socket)
        .args([
            "--unixsocketperm",
            "700",
            "--save",
            "",
            "--appendonly",
            "no",
        ])
        .arg("--dir")
        .arg(&dir)
        .stdout(Stdio::null())
        .stderr(Stdio::null())
        .spawn()
        .ok()?;
    let redis = Redis(child, dir);
    let deadline = Instant::now() + Duration::from_secs(5);
    while !socket.exists() && Instant::now() < deadline {
        std::thread::sleep(Duration::from_millis(5));
    }
    Some((redis, format!("unix://{}", socket.display())))
}

/// (token requests, distinct tokens, latency) of `hosts` × `per_host` processes.
pub fn fleet_storm(bin: &Path, hosts: usize, per_host: usize) -> Option<(u64, usize, Summary)> {
    let (_redis, url) = start_redis()?;
    let mut env = Env::new(1, bin, &format!("fleet{hosts}x{per_host}"));
    env.vars.push(("BSN_MIN_TTL", "0".into()));
    env.vars.push(("BSN_SHARED_CACHE", url));
    let on_host = |h: usize| {
        let mut cmd = env.cmd(&["token"]);
        cmd.env("BSN_CACHE_DIR", env.home.join(format!("host-{h}")));
        cmd
    };
    on_host(0).output().ok()?;
    std::thread::sleep(Duration::from_millis(1050));
    let before = env.emu.stats().token_requests.client_credentials;
    let children: Vec<_> = (0..hosts * per_host)
        .map(|i| (Instant::now(), on_host(i % hosts).spawn().unwrap()))
        .collect();
    let results: Vec<(Duration, String)> = children
        .into_iter()
        .map(|(started, child)| {
            let out = child.wait_with_output().unwrap();
            let took = started.elapsed();
            assert!(out.status.success());
            (took, String::from_utf8(out.stdout).unwrap())
        })
        .collect();
    let requests = env.emu.stats().token_requests.client_credentials - before;
    let tokens: BTreeSet<_> = results.iter().map(|(_, t)| t.clone()).collect();
    let latencies = results.into_iter().map(|(d, _)| d).collect();
    Some((requests, tokens.len(), summarize(latencies)))
}

/// Cache hits with BSN_SHARED_CACHE pointing at a socket that does not exist: any
/// connection attempt would fail the call or slow it down.
pub fn hit_with_fleet_on(env: &mut Env, runs: usize) -> Summary {
    env.vars
        .push(("BSN_SHARED_CACHE", "unix:///nonexistent/redis.sock".into()));
    let hits = summarize((0..runs).map(|_| env.run(&["token"]).0).collect());
    env.vars.pop();
    hits
}

/// The benchmark table's fleet rows.
pub fn rows(hit: &Summary, storm: &Option<(u64, usize, Summary)>) -> Vec<String> {
    let storm = match storm {
        Some((requests, tokens, s)) => format!(
            "| fleet storm: 4 hosts × 32 processes right after expiry | {} | {} | {requests} token request(s), {tokens} distinct token(s), redis-server on a unix socket |",
            ms(s.median),
            ms(s.p99)
        ),
        None => "| fleet storm | — | — | skipped: redis-server not installed |".to_string(),
    };
    vec![
        format!(
            "| cache hit: `token`, fleet mode on | {} | {} | Redis never connected (the URL names no socket) |",
            ms(hit.median),
            ms(hit.p99)
        ),
        storm,
    ]
}
