//! `status [--json]`: per profile, what the cache holds. Reads no secret and sends
//! nothing; a profile that fails to load is reported on stderr (or in the JSON).

use crate::adapters::print_line;
use crate::broker;
use crate::config;
use crate::error::Result;
use crate::invocation::Invocation;
use crate::protocol;
use crate::time::now_ms;
use std::process::ExitCode;

pub fn status(inv: &Invocation, json: bool) -> Result<ExitCode> {
    let profiles = config::load_all(&inv.overrides, &config::process_env)?;
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
                Err(e) => crate::error::report(e),
            }
        }
        crate::adapters::print_text(&out);
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
    let shared = s.shared.as_ref().map(render_shared).unwrap_or_default();
    format!(
        "profile {} ({}, network {})\n  access token   {}\n  refresh token  {}\n  session        {}\n  cache file     {}\n{shared}\n",
        s.profile,
        s.grant,
        s.network.as_deref().unwrap_or("not set"),
        describe(&s.access_token),
        describe(&s.refresh_token),
        session,
        s.cache_file
    )
}

fn render_shared(s: &broker::SharedStatus) -> String {
    let entry = match (&s.error, s.generation, &s.expires_at, s.expires_in) {
        (Some(e), _, _, _) => format!("unreachable: {e}"),
        (None, Some(g), Some(at), Some(secs)) => format!(
            "generation {g}, access token expires {at} ({}){}",
            crate::time::describe_until((now_ms() as i64 + secs * 1000).max(0) as u64, now_ms()),
            if s.refresh_token {
                ", refresh token held"
            } else {
                ""
            }
        ),
        (None, Some(g), _, _) => format!("generation {g}, no entry"),
        _ => "no entry".to_string(),
    };
    let renewed = match (&s.renewed_by, &s.renewed_at) {
        (Some(by), Some(at)) => format!("\n  renewed by     {by} at {at}"),
        _ => String::new(),
    };
    format!(
        "  shared cache   {}\n  fleet entry    {entry}{renewed}\n",
        s.store
    )
}
