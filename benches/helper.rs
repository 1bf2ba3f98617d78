//! `cargo bench --bench helper`: start-up, latency, storm and memory figures of the packaged
//! binary against the in-process emulator, printed as markdown (benches/RESULTS.md holds a
//! run).
//!
//! It builds two helpers and runs each as a separate process with a clean environment, as
//! users do: the packaged one (`packaging/build-release.sh`, glibc static-pie on
//! x86_64-unknown-linux-gnu, unpacked from the tarball in target/bench/dist) and the dynamic
//! `cargo build --release` one (what `cargo install` and the RPM give). It also builds a
//! minimal Rust program (read a file, print it) both ways with rustc into target/bench/, and
//! times the cache hit of both helpers against it and `/bin/true`, interleaved in one run.
//! Env: BENCH_RUNS (rounds of the start-up table and in-process reads, default 500).

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
#[path = "helper/readme.rs"]
mod readme;

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
    fn peak_rss_kib(&self, args: &[&str]) -> i64 {
        self.rusage(args).ru_maxrss
    }

    /// wait4's rusage of exactly one invocation.
    #[allow(clippy::zombie_processes)] // reaped by wait4, which std cannot do
    fn rusage(&self, args: &[&str]) -> libc::rusage {
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
        rusage
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

fn target_dir() -> PathBuf {
    let root = Path::new(env!("CARGO_MANIFEST_DIR"));
    std::env::var_os("CARGO_TARGET_DIR")
        .map(PathBuf::from)
        .unwrap_or_else(|| root.join("target"))
}

/// The dynamically linked release build: what `cargo install` and the RPM spec give.
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
    target_dir().join("release").join("bsn-credential-helper")
}

/// The binary of the release tarball, built by `packaging/build-release.sh` (glibc static-pie
/// on x86_64-unknown-linux-gnu; the .deb carries the same bytes) and unpacked from it.
fn packaged_binary() -> PathBuf {
    let root = Path::new(env!("CARGO_MANIFEST_DIR"));
    let target = target_dir();
    let bench = target.join("bench");
    let dist = bench.join("dist");
    let status = Command::new("bash")
        .arg(root.join("packaging/build-release.sh"))
        .arg(&target)
        .env("DIST_DIR", &dist)
        .env_remove("CARGO_TARGET_DIR")
        .current_dir(root)
        .stdout(Stdio::null())
        .status()
        .expect("run packaging/build-release.sh");
    assert!(status.success(), "packaging/build-release.sh failed");
    let name = format!("bsn-credential-helper-{}-", env!("CARGO_PKG_VERSION"));
    let tarball = std::fs::read_dir(&dist)
        .unwrap()
        .map(|e| e.unwrap().path())
        .find(|p| {
            let f = p.file_name().unwrap().to_string_lossy();
            f.starts_with(&name) && f.ends_with(".tar.gz")
        })
        .expect("a release tarball in target/bench/dist");
    let unpacked = bench.join("packaged");
    let _ = std::fs::remove_dir_all(&unpacked);
    std::fs::create_dir_all(&unpacked).unwrap();
    let status = Command::new("tar")
        .arg("-xzf")
        .arg(&tarball)
        .arg("-C")
        .arg(&unpacked)
        .status()
        .expect("run tar");
    assert!(status.success(), "tar -xzf {}", tarball.display());
    let base = tarball
        .file_name()
        .unwrap()
        .to_string_lossy()
        .replace(".tar.gz", "");
    unpacked.join(base).join("bin/bsn-credential-helper")
}

/// The smallest Rust program that does what a cache hit does at its core: read a small file
/// and print it. Built here with rustc (the helper's opt-level, panic and strip settings),
/// once dynamically linked and once as glibc static-pie.
fn minimal_rust() -> (PathBuf, PathBuf) {
    let dir = target_dir().join("bench");
    std::fs::create_dir_all(&dir).unwrap();
    let src = dir.join("cat_file.rs");
    std::fs::write(
        &src,
        "use std::io::Write;\n\
         fn main() {\n\
         \x20   let path = std::env::args_os().nth(1).expect(\"usage: cat_file FILE\");\n\
         \x20   let data = std::fs::read(path).expect(\"read\");\n\
         \x20   std::io::stdout().write_all(&data).expect(\"write\");\n\
         }\n",
    )
    .unwrap();
    let rustc = std::env::var("RUSTC").unwrap_or_else(|_| "rustc".into());
    let build = |out: &str, extra: &[&str]| -> PathBuf {
        let path = dir.join(out);
        let status = Command::new(&rustc)
            .args([
                "--edition",
                "2024",
                "-C",
                "opt-level=3",
                "-C",
                "panic=abort",
            ])
            .args(["-C", "strip=symbols"])
            .args(extra)
            .arg("-o")
            .arg(&path)
            .arg(&src)
            .status()
            .expect("run rustc");
        assert!(status.success(), "rustc {out} failed");
        path
    };
    (
        build("cat_file-dynamic", &[]),
        build("cat_file-static", &["-C", "target-feature=+crt-static"]),
    )
}

/// How an ELF executable is linked, from its header and program headers: "static-pie"
/// (ET_DYN, no PT_INTERP), "static" (ET_EXEC, no PT_INTERP) or "dynamic" (has PT_INTERP).
fn linkage(path: &Path) -> &'static str {
    let elf = std::fs::read(path).unwrap();
    assert_eq!(&elf[..4], b"\x7fELF", "{} is not ELF", path.display());
    assert_eq!(elf[4], 2, "64-bit ELF only");
    let u16_at = |o: usize| u16::from_le_bytes([elf[o], elf[o + 1]]) as usize;
    let u64_at = |o: usize| u64::from_le_bytes(elf[o..o + 8].try_into().unwrap()) as usize;
    let (kind, phoff, phentsize, phnum) = (u16_at(16), u64_at(32), u16_at(54), u16_at(56));
    let interp = (0..phnum).any(|i| {
        let o = phoff + i * phentsize;
        u32::from_le_bytes(elf[o..o + 4].try_into().unwrap()) == 3 // PT_INTERP
    });
    match (interp, kind) {
        (true, _) => "dynamic",
        (false, 3) => "static-pie",
        (false, _) => "static",
    }
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

/// One program of the side-by-side start-up comparison.
struct Contender {
    label: String,
    program: PathBuf,
    args: Vec<String>,
}

fn main() {
    // `cargo bench --bench helper -- fleet`: only the fleet at scale, on the release build.
    if std::env::args().any(|a| a == "fleet") {
        let bin = release_binary();
        let scales: Vec<_> = [4, 16, 64]
            .iter()
            .filter_map(|&hosts| fleet::scale(&bin, hosts, 2))
            .collect();
        assert_eq!(scales.len(), 3, "redis-server and redis-cli are needed");
        println!(
            "Fleet at scale (`cargo bench --bench helper -- fleet`), nproc {}:\n",
            shell("nproc")
        );
        let block = readme::fleet_block(&fleet::scale_rows(&scales));
        println!("{block}");
        if std::env::var("BENCH_UPDATE_README").is_ok_and(|v| v == "1") {
            let readme = Path::new(env!("CARGO_MANIFEST_DIR")).join("README.md");
            readme::update(&readme, (readme::FLEET_START, readme::FLEET_END), &block);
        }
        return;
    }
    let runs: usize = std::env::var("BENCH_RUNS")
        .ok()
        .and_then(|v| v.parse().ok())
        .unwrap_or(500);
    let load_at_start = shell("cut -d' ' -f1 /proc/loadavg");
    let dynamic_bin = release_binary();
    let bin = packaged_binary();
    let (cat_dynamic, cat_static) = minimal_rust();
    let mut out = String::new();
    let mut line = |s: String| {
        out.push_str(&s);
        out.push('\n');
    };

    let mut env = Env::new(300, &bin, "hit");
    env.run(&["token"]);
    let entry = std::fs::read_dir(env.home.join("cache"))
        .unwrap()
        .map(|e| e.unwrap().path())
        .find(|p| p.extension().is_some_and(|x| x == "json"))
        .expect("the cache entry the binary wrote");
    let entry_arg = entry.display().to_string();
    let (_, printed) = env.run_cmd(env.cmd_of(&cat_static, &[&entry_arg]), &["cat_file"]);
    assert_eq!(
        printed.as_bytes(),
        std::fs::read(&entry).unwrap(),
        "cat_file prints the file"
    );

    // Start-up, side by side: one run of each program per round, round after round, so load
    // from elsewhere on the machine falls on all of them alike. Same environment, pipes and
    // wait for every program (Env::cmd_of).
    let helper = |label: &str, program: &Path, verb: &str| Contender {
        label: label.into(),
        program: program.to_path_buf(),
        args: vec![verb.into()],
    };
    let cat = |label: &str, program: &Path| Contender {
        label: label.into(),
        program: program.to_path_buf(),
        args: vec![entry_arg.clone()],
    };
    let contenders = [
        Contender {
            label: "`/bin/true`".into(),
            program: "/bin/true".into(),
            args: vec![],
        },
        cat("minimal Rust: read the cache file, print it", &cat_dynamic),
        cat("minimal Rust: read the cache file, print it", &cat_static),
        helper(
            "cache hit `get`, `cargo build --release`",
            &dynamic_bin,
            "get",
        ),
        helper("cache hit `get`, packaged (tarball/.deb)", &bin, "get"),
        helper("cache hit `token`, packaged (tarball/.deb)", &bin, "token"),
    ];
    let mut samples: Vec<Vec<Duration>> = vec![Vec::with_capacity(runs); contenders.len()];
    for _ in 0..runs {
        for (c, s) in contenders.iter().zip(samples.iter_mut()) {
            let args: Vec<&str> = c.args.iter().map(String::as_str).collect();
            s.push(env.run_cmd(env.cmd_of(&c.program, &args), &args).0);
        }
    }
    let startup: Vec<Summary> = samples.into_iter().map(summarize).collect();
    let [truth, cat_dyn, cat_sta, hit_dyn, hit_get, hit_token] =
        [0, 1, 2, 3, 4, 5].map(|i| &startup[i]);

    // In-process floor: the cache read alone.
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
    let hit_fleet = fleet::hit_with_fleet_on(&mut env, runs);

    // Slow path, packaged binary: a new login + network selection, and a refresh.
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
    let dynamic_env = Env::new(300, &dynamic_bin, "hit-dynamic");
    dynamic_env.run(&["token"]);
    let rss_hit_dynamic = dynamic_env.peak_rss_kib(&["token"]);
    // Minor page faults of one cache hit: the median of 21 runs of each build.
    let faults = |e: &Env| {
        let mut v: Vec<i64> = (0..21).map(|_| e.rusage(&["token"]).ru_minflt).collect();
        v.sort();
        v[v.len() / 2]
    };
    let (faults_hit, faults_hit_dynamic) = (faults(&env), faults(&dynamic_env));
    let size = std::fs::metadata(&bin).unwrap().len();
    let size_dynamic = std::fs::metadata(&dynamic_bin).unwrap().len();

    let storms: Vec<_> = [1, 8, 32, 128]
        .iter()
        .map(|&n| (n, storm(&bin, n)))
        .collect();
    let fleet_storm = fleet::fleet_storm(&bin, 4, 32);

    let rel = |p: &Path| {
        p.strip_prefix(env!("CARGO_MANIFEST_DIR"))
            .unwrap_or(p)
            .display()
            .to_string()
    };
    let ratio = |a: &Summary, b: &Summary| a.median.as_secs_f64() / b.median.as_secs_f64();
    line("# bsn-credential-helper benchmark".into());
    line(String::new());
    line(format!(
        "Command: `cargo bench --bench helper`. Packaged binary: `{}` ({}, built by `packaging/build-release.sh` and unpacked from its tarball); dynamic build: `{}` ({}). In-process emulator on loopback; {runs} rounds for the start-up table, {renewals} runs per renewal row.",
        rel(&bin),
        linkage(&bin),
        rel(&dynamic_bin),
        linkage(&dynamic_bin),
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
    line(format!("- glibc: {}", shell("ldd --version | head -n 1")));
    line(format!("- rustc: {}", shell("rustc -V")));
    line(format!(
        "- date: {} (load average {load_at_start} when started)",
        shell("date -u +%Y-%m-%dT%H:%M:%SZ")
    ));
    line(String::new());
    line(format!(
        "Start-up, side by side ({runs} rounds; each round runs every row once, in this order):"
    ));
    line(String::new());
    line(
        "| program | linkage | median | p99 | × `/bin/true` | × minimal Rust, same linkage |"
            .into(),
    );
    line("|---|---|---|---|---|---|".into());
    let minimal_for = |p: &Path| {
        if linkage(p) == "dynamic" {
            cat_dyn
        } else {
            cat_sta
        }
    };
    for (c, s) in contenders.iter().zip(&startup) {
        let vs_minimal = if c.program == Path::new("/bin/true")
            || c.program == cat_dynamic
            || c.program == cat_static
        {
            "—".to_string()
        } else {
            format!("{:.2}×", ratio(s, minimal_for(&c.program)))
        };
        line(format!(
            "| {} | {} | {} | {} | {:.2}× | {vs_minimal} |",
            c.label,
            linkage(&c.program),
            ms(s.median),
            ms(s.p99),
            ratio(s, truth),
        ));
    }
    line(String::new());
    line(format!(
        "Packaged cache hit (`get`) = {:.2}× the dynamic build's; minimal Rust {} = {:.2}× its dynamic build.",
        ratio(hit_get, hit_dyn),
        linkage(&cat_static),
        ratio(cat_sta, cat_dyn),
    ));
    line(String::new());
    line("Packaged binary:".into());
    line(String::new());
    line("| measurement | median | p99 | notes |".into());
    line("|---|---|---|---|".into());
    line(format!(
        "| floor: in-process `Cache::read` | {} | {} | stat + open + read + parse of the entry |",
        us(read_floor.median),
        us(read_floor.p99)
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
    let mib = |kib: i64| format!("{:.1} MiB", kib as f64 / 1024.0);
    line("| resource | packaged | dynamic build |".into());
    line("|---|---|---|".into());
    line(format!(
        "| peak RSS, cache hit (`token`) | {} | {} |",
        mib(rss_hit),
        mib(rss_hit_dynamic)
    ));
    line(format!(
        "| minor page faults, cache hit (`token`, median of 21) | {faults_hit} | {faults_hit_dynamic} |"
    ));
    line(format!(
        "| peak RSS, renewal: login + network selection | {} | |",
        mib(rss_login)
    ));
    line(format!(
        "| peak RSS, renewal: refresh | {} | |",
        mib(rss_refresh)
    ));
    line(format!(
        "| binary size (release, stripped, LTO) | {:.2} MiB | {:.2} MiB |",
        size as f64 / 1024.0 / 1024.0,
        size_dynamic as f64 / 1024.0 / 1024.0
    ));
    line(String::new());

    let storm128 = &storms[3].1;
    let rss_max = rss_hit.max(rss_login).max(rss_refresh);
    let verdict = |ok: bool| if ok { "met" } else { "MISSED" };
    let slowest_hit = if hit_get.median > hit_token.median {
        hit_get
    } else {
        hit_token
    };
    line("Targets (issue 4), packaged binary:".into());
    line(String::new());
    line(format!(
        "- cache hit ≤ 2 ms median: {} (`get` {}, `token` {})",
        verdict(slowest_hit.median <= Duration::from_millis(2)),
        ms(hit_get.median),
        ms(hit_token.median)
    ));
    line(format!(
        "- cache hit within 2× the spawn floor: {} ({:.2}×)",
        verdict(slowest_hit.median <= truth.median * 2),
        ratio(slowest_hit, truth)
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
    let figures = readme::block(&readme::Figures {
        truth,
        cat: (cat_dyn, cat_sta),
        hit_dynamic: hit_dyn,
        hit: (hit_get, hit_token),
        renewal: (&login, &refresh),
        storm128: &storm128.2,
        fleet_storm: fleet_storm.as_ref().map(|(r, _, s)| (*r, s)),
        rss_hit: (rss_hit, rss_hit_dynamic),
        size: (size, size_dynamic),
    });
    line(String::new());
    line("README figures (`BENCH_UPDATE_README=1` writes them into README.md):".into());
    line(String::new());
    line(figures.clone());
    if std::env::var("BENCH_UPDATE_README").is_ok_and(|v| v == "1") {
        let readme = Path::new(env!("CARGO_MANIFEST_DIR")).join("README.md");
        readme::update(&readme, (readme::START, readme::END), &figures);
    }
    print!("{out}");
    let _ = std::io::stdout().flush();
}
