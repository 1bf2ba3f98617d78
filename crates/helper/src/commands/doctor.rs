//! `doctor [--json]`: runs the real path for one profile and reports each step with ✓/✗
//! and what to change — configuration and where every setting comes from, the secret
//! source, the cache directory, proxy and CA settings, a token through the normal broker
//! (so it is cached, not wasted), network selection, `GET …/Self/Session`, and the
//! server's clock against ours. Exit 0 only when every check passed, else 1.

use super::mark;
use crate::adapters::{min_ttl_shortfall, print_line};
use crate::broker::{self, Request};
use crate::bsn;
use crate::cache::Cache;
use crate::config::{self, Explanation, Overrides, Profile};
use crate::error::ErrorCode;
use crate::protocol::{self, Source};
use crate::time::{now_ms, parse_http_date};
use std::process::ExitCode;
use std::time::Instant;

pub use crate::time::MAX_CLOCK_SKEW_SECS;

#[derive(Debug, Clone, serde::Serialize)]
pub struct Check {
    pub name: &'static str,
    pub ok: bool,
    pub detail: String,
}

#[derive(Debug, serde::Serialize)]
pub struct Report {
    pub profile: String,
    pub ok: bool,
    #[serde(flatten)]
    pub explanation: Explanation,
    pub checks: Vec<Check>,
}

pub fn doctor(overrides: &Overrides, json: bool) -> ExitCode {
    let report = run(overrides);
    if json {
        let mut value = serde_json::to_value(&report).unwrap_or_default();
        value["version"] = protocol::VERSION.into();
        print_line(&value.to_string());
    } else {
        crate::adapters::print_text(&render(&report));
    }
    if report.ok {
        ExitCode::SUCCESS
    } else {
        ExitCode::from(1)
    }
}

pub fn render(report: &Report) -> String {
    let mut out = report.explanation.lines().join("\n") + "\n\n";
    for c in &report.checks {
        out.push_str(&format!("{} {:<14} {}\n", mark(c.ok), c.name, c.detail));
    }
    let failed = report.checks.iter().filter(|c| !c.ok).count();
    out.push_str(&match failed {
        0 => format!("\nall {} checks passed\n", report.checks.len()),
        n => format!("\n{n} of {} checks failed\n", report.checks.len()),
    });
    out
}

/// Every check, in order; later ones are skipped once one they depend on failed.
pub fn run(overrides: &Overrides) -> Report {
    run_in(overrides, &config::process_env)
}

/// `run` with the settings' environment given (`init` checks a profile as written, with
/// no environment variable overriding it).
pub fn run_in(overrides: &Overrides, env: config::Env) -> Report {
    let explanation = config::explain(overrides, env);
    let mut checks = Vec::new();
    let profile = match config::load(overrides, env) {
        Ok(p) => {
            checks.push(pass(
                "configuration",
                format!("profile \"{}\" resolves", p.name),
            ));
            Some(p)
        }
        Err(e) => {
            checks.push(fail("configuration", e.message));
            None
        }
    };
    if let Some(profile) = &profile {
        let secrets_ok = check_secrets(profile, &mut checks);
        checks.push(check_cache(profile));
        checks.push(check_proxy(profile));
        if secrets_ok && let Some(cfg) = &profile.shared_cache {
            checks.extend(
                broker::check_shared(profile, cfg)
                    .into_iter()
                    .map(|c| Check {
                        name: c.name,
                        ok: c.ok,
                        detail: c.detail,
                    }),
            );
        }
        if secrets_ok {
            check_server(profile, &mut checks);
        }
    }
    Report {
        profile: explanation.profile.clone(),
        ok: checks.iter().all(|c| c.ok),
        explanation,
        checks,
    }
}

fn pass(name: &'static str, detail: impl Into<String>) -> Check {
    Check {
        name,
        ok: true,
        detail: detail.into(),
    }
}

fn fail(name: &'static str, detail: impl Into<String>) -> Check {
    Check {
        name,
        ok: false,
        detail: detail.into(),
    }
}

fn check_secrets(profile: &Profile, checks: &mut Vec<Check>) -> bool {
    let mut ok = true;
    let mut one = |name: &'static str, what: &str, source: Option<&config::SecretSource>, fix| {
        let check = match source.map(|s| s.resolve(what)) {
            None => fail(name, format!("not set: {fix}")),
            Some(Ok(_)) => pass(name, format!("{what} resolves ({})", describe(source))),
            Some(Err(e)) => fail(name, e.message),
        };
        ok &= check.ok;
        checks.push(check);
    };
    one(
        "client secret",
        "client_secret",
        profile.client_secret.as_ref(),
        "set BSN_CLIENT_SECRET, or client_secret_command / client_secret_file / client_secret_env in the config file",
    );
    if profile.grant == config::Grant::Password {
        one(
            "password",
            "password",
            profile.password.as_ref(),
            "set BSN_PASSWORD, or password_command / password_file in the config file",
        );
    }
    ok
}

fn describe(source: Option<&config::SecretSource>) -> String {
    match source {
        Some(config::SecretSource::Value(_)) => "a value from the environment or file".into(),
        Some(config::SecretSource::Env(name)) => format!("${name}"),
        Some(config::SecretSource::File(p)) => format!("file {}", p.display()),
        Some(config::SecretSource::Command { .. }) => "a command".into(),
        Some(config::SecretSource::Credential(target)) => {
            format!("Credential Manager {}", crate::text::quote(target))
        }
        None => "not set".into(),
    }
}

fn check_cache(profile: &Profile) -> Check {
    let dir = &profile.cache_dir;
    if let Err(e) = Cache::new(dir).prepare() {
        return fail("cache", e.message);
    }
    let probe = dir.join(format!(".doctor-{}", std::process::id()));
    match std::fs::write(&probe, b"") {
        Ok(()) => {
            let _ = std::fs::remove_file(&probe);
            pass(
                "cache",
                format!("{} is private and writable", dir.display()),
            )
        }
        Err(e) => fail(
            "cache",
            format!(
                "cannot write in {}: {e}; set BSN_CACHE_DIR (cache_dir) to a private local directory",
                dir.display()
            ),
        ),
    }
}

/// Proxy and CA variables in effect; a CA file or directory that is not there fails.
fn check_proxy(profile: &Profile) -> Check {
    const VARS: [&str; 9] = [
        "HTTPS_PROXY",
        "https_proxy",
        "HTTP_PROXY",
        "http_proxy",
        "ALL_PROXY",
        "NO_PROXY",
        "no_proxy",
        "SSL_CERT_FILE",
        "SSL_CERT_DIR",
    ];
    let set: Vec<String> = VARS
        .iter()
        .filter_map(|v| config::process_env(v).map(|val| format!("{v}={}", redact_userinfo(&val))))
        .collect();
    for (var, want_dir) in [("SSL_CERT_FILE", false), ("SSL_CERT_DIR", true)] {
        if let Some(path) = config::process_env(var) {
            let meta = std::fs::metadata(&path);
            if !meta.is_ok_and(|m| m.is_dir() == want_dir) {
                return fail(
                    "proxy and CA",
                    format!(
                        "{var}={path} is not a readable {}; fix or unset it",
                        if want_dir { "directory" } else { "file" }
                    ),
                );
            }
        }
    }
    let loopback = if profile.token_url.is_loopback() {
        "; loopback endpoints bypass any proxy"
    } else {
        ""
    };
    pass(
        "proxy and CA",
        match set.is_empty() {
            true => format!(
                "no proxy or CA variables set: direct connections, the OS trust store{loopback}"
            ),
            false => format!("{}{loopback}", set.join(" ")),
        },
    )
}

/// `http://user:pw@proxy:3128` → `http://…@proxy:3128`.
fn redact_userinfo(value: &str) -> String {
    match (value.find("://"), value.rfind('@')) {
        (Some(s), Some(at)) if at > s => format!("{}…{}", &value[..s + 3], &value[at..]),
        _ => value.to_string(),
    }
}

/// Token, network, session and clock: the conversation with BSN.cloud.
fn check_server(profile: &Profile, checks: &mut Vec<Check>) {
    let outcome = match broker::get(profile, &Request::default()) {
        Ok(o) => o,
        Err(e) if e.code == ErrorCode::NetworkSelection => {
            checks.push(pass("token", "issued by the token endpoint"));
            checks.push(fail("network", e.message));
            return;
        }
        Err(e) => {
            checks.push(fail(
                "token",
                format!("{} ({})", e.message, e.code.as_str()),
            ));
            return;
        }
    };
    let entry = &outcome.entry;
    let source = match outcome.source {
        Source::Cache => "from the cache",
        Source::Refresh => "refreshed",
        _ => "new login, now cached",
    };
    let left = entry.expires_at_ms.saturating_sub(now_ms()) / 1000;
    let mut detail = format!(
        "{source}; expires in {left}s (lifetime {}s)",
        entry.lifetime_ms() / 1000
    );
    if left > entry.lifetime_ms() / 1000 + 2 {
        checks.push(fail(
            "token",
            format!("{detail}: more life left than it was given, so this clock went back since; synchronise it (NTP) and run again"),
        ));
        return;
    }
    if let Some(w) = outcome
        .warning
        .clone()
        .or_else(|| min_ttl_shortfall(&outcome, profile.min_ttl))
    {
        detail.push_str(&format!("; warning: {w}"));
    }
    checks.push(pass("token", detail));
    checks.push(match &profile.network {
        Some(n) => pass(
            "network",
            format!("\"{n}\" selected for this token's session"),
        ),
        None => pass(
            "network",
            "none configured (set BSN_NETWORK to bind tokens to a network)",
        ),
    });
    let deadline = Instant::now() + profile.timeout;
    match bsn::session(deadline, profile, &entry.access_token) {
        Ok(info) => {
            checks.push(session_check(profile, &info));
            checks.push(clock_check(info.server_date.as_deref()));
        }
        Err(e) => checks.push(fail("session", e.message)),
    }
}

fn session_check(profile: &Profile, info: &bsn::SessionInfo) -> Check {
    let network = info.network.as_deref().unwrap_or("none");
    let detail = format!(
        "GET /2022/06/REST/Self/Session: network \"{network}\", scopes {}{}",
        info.scope.as_deref().unwrap_or("(none)"),
        info.user
            .as_deref()
            .map(|u| format!(", user {u}"))
            .unwrap_or_default()
    );
    match &profile.network {
        Some(want) if info.network.as_deref() != Some(want.as_str()) => fail(
            "session",
            format!("{detail}; expected network \"{want}\": check BSN_NETWORK (network)"),
        ),
        _ => pass("session", detail),
    }
}

fn clock_check(server_date: Option<&str>) -> Check {
    let Some(server) = server_date.and_then(parse_http_date) else {
        return pass(
            "clock",
            "the server sent no usable Date header; not compared",
        );
    };
    let skew = server as i64 - (now_ms() / 1000) as i64;
    let detail = format!(
        "server {}, ours differs by {}s",
        server_date.unwrap_or_default(),
        -skew
    );
    if skew.abs() > MAX_CLOCK_SKEW_SECS {
        fail(
            "clock",
            format!("{detail}; synchronise this machine's clock (NTP)"),
        )
    } else {
        pass("clock", detail)
    }
}
