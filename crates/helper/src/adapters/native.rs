//! The native protocol: `get` (one JSON request on stdin, one JSON answer on stdout —
//! errors too, see protocol.md), and `token` / `header` (plain text for shells).

use super::{Failed, Protocol, Reply, obtain, read_stdin};
use crate::broker::{Outcome, Request};
use crate::config::Profile;
use crate::error::{Error, Result};
use crate::invocation::Invocation;
use crate::protocol::{self, ErrorResponse, GetRequest, TokenResponse};
use crate::time::now_ms;

/// `get`: protocol v1.
pub struct Get;

impl Protocol for Get {
    fn serve(&self, inv: &Invocation) -> Result<Reply> {
        crate::process::json_errors();
        let request = GetRequest::parse(&read_stdin()?)?;
        // A request's own fields are the caller's explicit ask for this call.
        let profile = inv.profile_for(request.profile.as_deref(), request.min_ttl)?;
        let req = Request {
            rejected_token: request.rejected_token,
            force_refresh: request.force_refresh,
        };
        let outcome = obtain(&profile, &req)?;
        Ok(Reply::Print(protocol::to_json_line(&response(
            &profile, outcome,
        ))))
    }

    /// The JSON error on stdout as well as the line on stderr.
    fn failed(&self, e: &Error) -> Failed {
        Failed {
            stdout: Some(protocol::to_json_line(&ErrorResponse::from(e))),
            ..Failed::on_stderr(e)
        }
    }
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

/// `token` (the bare token) and `header` (`Authorization: Bearer …`).
pub struct Token {
    pub as_header: bool,
    pub force_refresh: bool,
}

impl Protocol for Token {
    fn serve(&self, inv: &Invocation) -> Result<Reply> {
        let req = Request {
            rejected_token: None,
            force_refresh: self.force_refresh,
        };
        let outcome = obtain(inv.profile()?, &req)?;
        // Asked for a newer token, given the old one: a script rotating tokens must know.
        if self.force_refresh
            && let Some(e) = outcome.renewal_failed
        {
            return Err(Error::new(
                e.code,
                format!(
                    "{}; --force-refresh asks for a newer token, so the cached one is not printed",
                    e.message
                ),
            ));
        }
        let token = outcome.entry.access_token.expose();
        Ok(Reply::Print(if self.as_header {
            format!("Authorization: Bearer {token}")
        } else {
            token.clone()
        }))
    }
}
