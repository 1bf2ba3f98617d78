//! The native commands: `get` (protocol v1), `token`, `header`, `erase`, `status`.
//! Each turns its input into a `broker::Request`, asks the broker, and prints.

use crate::broker::{self, Outcome, Request};
use crate::cli::{Cli, TokenArgs};
use crate::config::{self, Overrides, Profile};
use crate::error::{Error, Result};
use crate::protocol::{self, ErrorResponse, GetRequest, TokenResponse};
use crate::secret::Secret;
use crate::time::now_ms;
use std::io::{Read, Write};
use std::process::ExitCode;

/// Largest stdin request we read; a protocol request is a few hundred bytes.
const MAX_STDIN: u64 = 1024 * 1024;

pub fn overrides(cli: &Cli) -> Overrides {
    Overrides {
        config: cli.config.clone(),
        profile: cli.profile.clone(),
        min_ttl: cli.min_ttl,
    }
}

pub fn load_profile(overrides: &Overrides) -> Result<Profile> {
    config::load(overrides, &config::process_env)
}

/// Resolves the profile and asks the broker; the shared path of every adapter.
/// `min_ttl` is the profile's, which already holds any flag or request override.
pub fn obtain(
    overrides: &Overrides,
    rejected_token: Option<Secret<String>>,
    force_refresh: bool,
) -> Result<(Profile, Outcome)> {
    let profile = load_profile(overrides)?;
    let req = Request {
        min_ttl: profile.min_ttl,
        rejected_token,
        force_refresh,
    };
    let outcome = broker::get(&profile, &req)?;
    if let Some(w) = &outcome.warning {
        eprintln!("bsn-credential-helper: warning: {w}");
    }
    Ok((profile, outcome))
}

pub fn read_stdin() -> Result<String> {
    let mut text = String::new();
    std::io::stdin()
        .take(MAX_STDIN)
        .read_to_string(&mut text)
        .map_err(|e| Error::invalid_request(format!("cannot read stdin as UTF-8 text: {e}")))?;
    Ok(text)
}

/// `get`: one JSON request in, one JSON answer out — errors too, with their exit code.
pub fn get(cli: &Cli) -> ExitCode {
    match get_inner(cli) {
        Ok(response) => {
            print_line(&protocol::to_json_line(&response));
            ExitCode::SUCCESS
        }
        Err(e) => {
            print_line(&protocol::to_json_line(&ErrorResponse::from(&e)));
            eprintln!("bsn-credential-helper: error: {e}");
            e.exit_code()
        }
    }
}

fn get_inner(cli: &Cli) -> Result<TokenResponse> {
    let request = GetRequest::parse(&read_stdin()?)?;
    let mut overrides = overrides(cli);
    // A request's own fields are the caller's explicit ask for this call.
    if request.profile.is_some() {
        overrides.profile = request.profile.clone();
    }
    if request.min_ttl.is_some() {
        overrides.min_ttl = request.min_ttl;
    }
    let (profile, outcome) = obtain(&overrides, request.rejected_token, request.force_refresh)?;
    Ok(response(&profile, outcome))
}

pub fn response(profile: &Profile, outcome: Outcome) -> TokenResponse {
    let entry = outcome.entry;
    TokenResponse {
        version: protocol::VERSION,
        profile: profile.name.clone(),
        token_type: entry.token_type,
        expires_at: crate::time::rfc3339(entry.expires_at_ms),
        expires_in: entry.expires_at_ms.saturating_sub(now_ms()) / 1000,
        access_token: entry.access_token,
        network: profile.network.clone(),
        scope: entry.scope,
        source: outcome.source,
        warning: outcome.warning,
    }
}

/// `token` and `header`: plain text for shells.
pub fn token(cli: &Cli, args: &TokenArgs, as_header: bool) -> Result<ExitCode> {
    let (_, outcome) = obtain(&overrides(cli), None, args.force_refresh)?;
    let token = outcome.entry.access_token.expose();
    if as_header {
        print_line(&format!("Authorization: Bearer {token}"));
    } else {
        print_line(token);
    }
    Ok(ExitCode::SUCCESS)
}

pub fn erase(cli: &Cli) -> Result<ExitCode> {
    let profile = load_profile(&overrides(cli))?;
    let removed = broker::erase(&profile)?;
    eprintln!(
        "bsn-credential-helper: {} profile \"{}\"",
        if removed {
            "erased the cached tokens of"
        } else {
            "nothing cached for"
        },
        profile.name
    );
    Ok(ExitCode::SUCCESS)
}

pub fn status(cli: &Cli, json: bool) -> Result<ExitCode> {
    let profiles = config::load_all(&overrides(cli), &config::process_env)?;
    let rows: Vec<Result<broker::Status>> = profiles
        .into_iter()
        .map(|profile| profile.map(|p| broker::status(&p)))
        .collect();
    let failed = rows.iter().any(|r| r.is_err());
    if json {
        let values: Vec<serde_json::Value> = rows
            .iter()
            .map(|r| match r {
                Ok(s) => serde_json::to_value(s).unwrap_or_default(),
                Err(e) => serde_json::json!({ "error": { "code": e.code, "message": e.message } }),
            })
            .collect();
        print_line(
            &serde_json::json!({ "version": protocol::VERSION, "profiles": values }).to_string(),
        );
    } else {
        let now = now_ms();
        let mut out = String::new();
        for row in &rows {
            match row {
                Ok(s) => out.push_str(&render_status(s, now)),
                Err(e) => out.push_str(&format!("error: {e}\n\n")),
            }
        }
        print!("{out}");
    }
    Ok(if failed {
        ExitCode::from(crate::error::ErrorCode::Config.exit_code())
    } else {
        ExitCode::SUCCESS
    })
}

fn render_status(s: &broker::Status, now: u64) -> String {
    let describe = |t: &Option<broker::TokenStatus>| match t {
        None => "none cached".to_string(),
        Some(t) => match (&t.expires_at, t.expires_in) {
            (Some(at), Some(secs)) => format!(
                "expires {at} ({})",
                crate::time::describe_until((now as i64 + secs * 1000).max(0) as u64, now)
            ),
            _ => "cached, no expiry given".to_string(),
        },
    };
    let session = match (&s.session_started_at, s.session_age_seconds) {
        (Some(at), Some(age)) => format!("started {at} ({} ago)", crate::time::short(age)),
        _ => "none".to_string(),
    };
    format!(
        "profile {} ({}, network {})\n  access token   {}\n  refresh token  {}\n  session        {}\n  cache file     {}\n\n",
        s.profile,
        s.grant,
        s.network.as_deref().unwrap_or("not set"),
        describe(&s.access_token),
        describe(&s.refresh_token),
        session,
        s.cache_file
    )
}

/// Writes one line to stdout; a closed pipe is the reader's choice, not our error.
pub fn print_line(line: &str) {
    let mut out = std::io::stdout().lock();
    let _ = writeln!(out, "{line}");
    let _ = out.flush();
}
