//! Fleet storm: H simulated hosts (one cache directory each) × P processes at once right
//! after expiry, sharing a redis-server on a unix socket; the fleet at scale (Redis
//! commands per host per access lifetime, from `INFO commandstats`, and the slowest
//! caller, at 4, 16 and 64 hosts); and a cache hit with fleet mode on (the local file
//! answers; Redis is never connected).

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
    start_redis_at("redis")
}

fn start_redis_at(tag: &str) -> Option<(Redis, String)> {
    let dir = std::env::temp_dir().join(format!("bsn-bench-{tag}-{}", std::process::id()));
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
    // Until PING answers: the socket file appears at bind(), before listen().
    while !answers(&socket) && Instant::now() < deadline {
        std::thread::sleep(Duration::from_millis(5));
    }
    Some((redis, format!("unix://{}", socket.display())))
}

fn answers(socket: &Path) -> bool {
    use std::io::{Read, Write};
    let Ok(mut s) = std::os::unix::net::UnixStream::connect(socket) else {
        return false;
    };
    let mut reply = [0u8; 7];
    s.write_all(b"PING\r\n").is_ok() && s.read_exact(&mut reply).is_ok() && &reply == b"+PONG\r\n"
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

/// What one renewal of the whole fleet costs at one scale.
pub struct Scale {
    pub hosts: usize,
    pub per_host: usize,
    pub token_requests: u64,
    /// Commands the hosts sent (MONITOR, without those run inside Lua scripts).
    pub sent: u64,
    /// Everything Redis executed, Lua's inner calls included (`INFO commandstats`).
    pub commands: u64,
    /// Commands sent by one more host that finds the entry already renewed.
    pub late_reader: u64,
    pub latency: Summary,
    pub slowest: Duration,
}

/// `hosts` × `per_host` processes of a user session (password grant) right after its
/// access token expired: one refresh for the fleet; Redis commands counted from
/// `CONFIG RESETSTAT` to `INFO commandstats`. One such storm happens per access lifetime
/// (the local file answers everything else), so commands ÷ hosts is the cost per host per
/// lifetime.
pub fn scale(bin: &Path, hosts: usize, per_host: usize) -> Option<Scale> {
    let (redis, url) = start_redis_at(&format!("scale{hosts}"))?;
    let socket = url.trim_start_matches("unix://").to_string();
    let cli = |args: &[&str]| -> String {
        let out = Command::new("redis-cli")
            .arg("-s")
            .arg(&socket)
            .args(args)
            .output();
        out.map(|o| String::from_utf8_lossy(&o.stdout).into_owned())
            .unwrap_or_default()
    };
    let mut env = Env::new(2, bin, &format!("scale{hosts}"));
    for (k, v) in [
        ("BSN_MIN_TTL", "0"),
        ("BSN_GRANT", "password"),
        ("BSN_USERNAME", "demo@example.com"),
        ("BSN_PASSWORD", "demo-password"),
    ] {
        env.vars.push((k, v.into()));
    }
    env.vars.push(("BSN_SHARED_CACHE", url));
    let on_host = |h: usize| {
        let mut cmd = env.cmd(&["token"]);
        cmd.env("BSN_CACHE_DIR", env.home.join(format!("host-{h}")));
        cmd
    };
    // Every host holds the first token, so the storm is one lifetime's renewal.
    for h in 0..hosts {
        on_host(h).output().ok()?;
    }
    std::thread::sleep(Duration::from_millis(2050));
    let before = env.emu.stats().token_requests;
    cli(&["CONFIG", "RESETSTAT"]);
    let monitor = Monitor::start(&socket)?;
    let children: Vec<_> = (0..hosts * per_host)
        .map(|i| (Instant::now(), on_host(i % hosts).spawn().unwrap()))
        .collect();
    let latencies: Vec<Duration> = children
        .into_iter()
        .map(|(started, child)| {
            let out = child.wait_with_output().unwrap();
            assert!(
                out.status.success(),
                "{}",
                String::from_utf8_lossy(&out.stderr)
            );
            started.elapsed()
        })
        .collect();
    let commands: u64 = cli(&["INFO", "commandstats"])
        .lines()
        .filter(|l| l.starts_with("cmdstat_") && !l.starts_with("cmdstat_info"))
        .filter_map(|l| {
            l.split("calls=")
                .nth(1)?
                .split(',')
                .next()?
                .parse::<u64>()
                .ok()
        })
        .sum();
    let after = env.emu.stats().token_requests;
    let sent = monitor.stop(&cli);
    let monitor = Monitor::start(&socket)?;
    on_host(hosts).output().ok()?;
    let late_reader = monitor.stop(&cli);
    drop(redis);
    let slowest = latencies.iter().copied().max().unwrap_or_default();
    Some(Scale {
        hosts,
        per_host,
        token_requests: (after.password + after.refresh_token)
            - (before.password + before.refresh_token),
        sent,
        commands,
        late_reader,
        latency: summarize(latencies),
        slowest,
    })
}

/// The benchmark table's fleet-at-scale rows.
pub fn scale_rows(scales: &[Scale]) -> Vec<String> {
    let mut rows = vec![
        "| hosts × processes (user session, right after expiry) | token requests | commands sent per host per lifetime | executed, Lua's inner calls included | a host that finds it renewed | median | slowest caller |".to_string(),
        "|---|---|---|---|---|---|---|".to_string(),
    ];
    for s in scales {
        rows.push(format!(
            "| {} × {} | {} | {:.1} | {:.1} | {} | {} | {} |",
            s.hosts,
            s.per_host,
            s.token_requests,
            s.sent as f64 / s.hosts as f64,
            s.commands as f64 / s.hosts as f64,
            s.late_reader,
            ms(s.latency.median),
            ms(s.slowest)
        ));
    }
    rows
}

/// A MONITOR connection read as it goes, so nothing is lost in a pipe's buffer: counts
/// the commands clients sent, leaving out those run inside scripts ("[0 lua]").
struct Monitor(std::thread::JoinHandle<u64>);

impl Monitor {
    fn start(socket: &str) -> Option<Monitor> {
        use std::io::{BufRead, Write};
        let mut stream = std::os::unix::net::UnixStream::connect(socket).ok()?;
        stream.write_all(b"MONITOR\r\n").ok()?;
        let mut lines = std::io::BufReader::new(stream).lines();
        lines.next()?.ok()?; // +OK
        Some(Monitor(std::thread::spawn(move || {
            let mut sent = 0;
            for line in lines.map_while(Result::ok) {
                if line.contains("\"bench-monitor-end\"") {
                    break;
                }
                if line.contains(" [") && !line.contains(" lua]") {
                    sent += 1;
                }
            }
            sent
        })))
    }

    /// Ends with a marker command, so every command before it has been counted.
    fn stop(self, cli: &dyn Fn(&[&str]) -> String) -> u64 {
        cli(&["ECHO", "bench-monitor-end"]);
        self.0.join().unwrap_or(0)
    }
}
