//! The README's "Figures" table, written by the benchmark itself: with
//! `BENCH_UPDATE_README=1` the run replaces what stands between the README's
//! `<!-- bench:figures -->` markers, and it prints the same block into its output (what
//! benches/RESULTS.md records), so no figure in the README is typed by hand; a test checks
//! that README and RESULTS.md carry the same block.

use super::{Summary, ms};
use std::path::Path;

pub const START: &str = "<!-- bench:figures -->";
pub const END: &str = "<!-- /bench:figures -->";
pub const FLEET_START: &str = "<!-- bench:fleet -->";
pub const FLEET_END: &str = "<!-- /bench:fleet -->";

/// The fleet-at-scale table as a README block, markers included.
pub fn fleet_block(rows: &[String]) -> String {
    format!("{FLEET_START}\n{}\n{FLEET_END}", rows.join("\n"))
}

/// The measurements the README quotes.
pub struct Figures<'a> {
    pub truth: &'a Summary,
    pub cat: (&'a Summary, &'a Summary),
    pub hit_dynamic: &'a Summary,
    pub hit: (&'a Summary, &'a Summary),
    pub renewal: (&'a Summary, &'a Summary),
    pub storm128: &'a Summary,
    /// (token requests, latency) of 4 hosts × 32 processes, when redis-server was there.
    pub fleet_storm: Option<(u64, &'a Summary)>,
    pub rss_hit: (i64, i64),
    pub size: (u64, u64),
}

fn pair(a: &Summary, b: &Summary, f: fn(&Summary) -> std::time::Duration) -> String {
    format!("{} / {}", ms(f(a)).trim_end_matches(" ms"), ms(f(b)))
}

/// The block, markers included.
pub fn block(f: &Figures) -> String {
    let median = |s: &Summary| s.median;
    let p99 = |s: &Summary| s.p99;
    let mib = |bytes: u64| format!("{:.1}", bytes as f64 / 1024.0 / 1024.0);
    let kib = |k: i64| format!("{:.1}", k as f64 / 1024.0);
    let rows = [
        format!(
            "| spawn `/bin/true` (floor) | {} | {} |",
            ms(f.truth.median),
            ms(f.truth.p99)
        ),
        format!(
            "| minimal Rust program: read a file, print it (dynamic / static-pie) | {} | {} |",
            pair(f.cat.0, f.cat.1, median),
            pair(f.cat.0, f.cat.1, p99)
        ),
        format!(
            "| cache hit `get`, dynamic build | {} | {} |",
            ms(f.hit_dynamic.median),
            ms(f.hit_dynamic.p99)
        ),
        format!(
            "| cache hit `get` / `token`, packaged | {} | {} |",
            pair(f.hit.0, f.hit.1, median),
            pair(f.hit.0, f.hit.1, p99)
        ),
        format!(
            "| renewal, packaged: login + network selection / refresh | {} | {} |",
            pair(f.renewal.0, f.renewal.1, median),
            pair(f.renewal.0, f.renewal.1, p99)
        ),
        format!(
            "| storm of 128 processes right after expiry (1 token request) | {} | {} |",
            ms(f.storm128.median),
            ms(f.storm128.p99)
        ),
        match f.fleet_storm {
            Some((requests, s)) => format!(
                "| fleet storm: 4 hosts × 32 processes after expiry, Redis on a unix socket ({requests} token request(s)) | {} | {} |",
                ms(s.median),
                ms(s.p99)
            ),
            None => "| fleet storm | — | — |".to_string(),
        },
        format!(
            "| peak RSS, cache hit (packaged / dynamic) | {} / {} MiB | |",
            kib(f.rss_hit.0),
            kib(f.rss_hit.1)
        ),
        format!(
            "| binary size, stripped, LTO (packaged / dynamic) | {} / {} MiB | |",
            mib(f.size.0),
            mib(f.size.1)
        ),
    ];
    let ratio = |a: &Summary, b: &Summary| a.median.as_secs_f64() / b.median.as_secs_f64();
    let sentence = format!(
        "The packaged cache hit (`get`) takes {:.2}× the dynamic build's time, {:.2}× spawning `/bin/true` and {:.2}× the static minimal Rust program.",
        ratio(f.hit.0, f.hit_dynamic),
        ratio(f.hit.0, f.truth),
        ratio(f.hit.0, f.cat.1)
    );
    format!(
        "{START}\n| measurement | median | p99 |\n|---|---|---|\n{}\n\n{sentence}\n{END}",
        rows.join("\n")
    )
}

/// Replaces the README's block between `start` and `end` with `block`.
pub fn update(readme: &Path, (start, end): (&str, &str), block: &str) {
    let text = std::fs::read_to_string(readme).expect("README.md");
    let (Some(a), Some(b)) = (text.find(start), text.find(end)) else {
        panic!("README.md has no {start} … {end} block");
    };
    let updated = format!("{}{block}{}", &text[..a], &text[b + end.len()..]);
    std::fs::write(readme, updated).expect("write README.md");
}
