//! Bazel / EngFlow credential-helper spec: `bsn-credential-helper bazel get` (or the binary
//! named `bazel-credential-bsn`, since `--credential_helper` takes no arguments), stdin
//! `{"uri": "https://…"}` (other keys allowed), stdout
//! `{"headers":{"Authorization":["Bearer …"]},"expires":"2026-11-30T04:05:00Z"}`.
//!
//! `expires` is whole seconds with `Z` (Bazel rejects fractional seconds) and is the time
//! the helper itself would stop handing out this token, so Bazel's per-URI cache re-asks in
//! time. A URI whose host this helper does not serve is an error (non-zero exit, message on
//! stderr), not `{}`: scope the helper to BSN.cloud hosts in `--credential_helper`.

use super::{Protocol, Reply, host_expiry_ms, obtain, read_stdin};
use crate::broker::Request;
use crate::error::{Error, Result};
use crate::invocation::Invocation;
use crate::url::Target;
use serde::Deserialize;

#[derive(Debug, Deserialize)]
pub struct BazelRequest {
    pub uri: String,
}

impl BazelRequest {
    pub fn parse(input: &str) -> Result<BazelRequest> {
        serde_json::from_str(input).map_err(|e| {
            Error::invalid_request(format!(
                "stdin is not a credential-helper request like {{\"uri\": \"https://api.bsn.cloud/…\"}} (line {}, column {})",
                e.line(),
                e.column()
            ))
        })
    }

    pub fn target(&self) -> Result<Target> {
        Target::parse(&self.uri)
            .filter(|t| t.scheme.is_some())
            .ok_or_else(|| Error::invalid_request("\"uri\" is not an absolute URL"))
    }
}

pub fn response(token: &str, expires: &str) -> serde_json::Value {
    serde_json::json!({
        "headers": { "Authorization": [format!("Bearer {token}")] },
        "expires": expires,
    })
}

pub struct Bazel {
    pub verb: Option<String>,
}

impl Protocol for Bazel {
    fn serve(&self, inv: &Invocation) -> Result<Reply> {
        match self.verb.as_deref() {
            Some("get") => get(inv),
            Some(other) => Err(Error::invalid_request(format!(
                "unknown command {}; the credential-helper spec has only `get`",
                crate::text::quote(other)
            ))),
            None => Err(Error::invalid_request(
                "usage: bsn-credential-helper bazel get  (stdin: {\"uri\": \"https://…\"})",
            )),
        }
    }
}

fn get(inv: &Invocation) -> Result<Reply> {
    let request = BazelRequest::parse(&read_stdin()?)?;
    let target = request.target()?;
    if !inv.hosts.serves(&target) {
        return Err(Error::invalid_request(format!(
            "{} is not a host this helper serves ({}; https only, set BSN_HOSTS to change); \
             scope the helper with --credential_helper=api.bsn.cloud=<path>",
            target.authority(),
            inv.hosts.describe()
        )));
    }
    let profile = inv.profile()?;
    let outcome = obtain(profile, &Request::default())?;
    let expires = crate::time::rfc3339(host_expiry_ms(&outcome, profile));
    Ok(Reply::Print(
        response(outcome.entry.access_token.expose(), &expires).to_string(),
    ))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn uri_to_host() {
        let r = BazelRequest::parse(
            r#"{"uri":"https://API.bsn.cloud/2022/06/REST/Self?x=y","qualifier":{"a":1}}"#,
        )
        .unwrap();
        let t = r.target().unwrap();
        assert_eq!(t.authority(), "api.bsn.cloud");
        assert_eq!(t.scheme.as_deref(), Some("https"));
        let bare = BazelRequest::parse(r#"{"uri":"api.bsn.cloud"}"#).unwrap();
        assert!(bare.target().is_err());
    }

    #[test]
    fn bad_requests_do_not_echo_input() {
        for input in ["", "{}", r#"{"uri": 5}"#, r#"{"uri":["secret-ish"]}"#] {
            let e = BazelRequest::parse(input).unwrap_err();
            assert_eq!(e.code, crate::error::ErrorCode::InvalidRequest);
            assert!(!e.message.contains("secret-ish"), "{}", e.message);
        }
    }

    #[test]
    fn response_shape_is_exact() {
        assert_eq!(
            response("tok", "2026-11-30T04:05:00Z").to_string(),
            r#"{"expires":"2026-11-30T04:05:00Z","headers":{"Authorization":["Bearer tok"]}}"#
        );
    }
}
