//! Docker credential helper: the binary invoked as `docker-credential-bsn <verb>` (what
//! `credHelpers` / `credsStore` run) or `bsn-credential-helper docker <verb>`.
//!
//! Verbs: `get` (server URL on stdin → `{"ServerURL","Username","Secret"}`), `store`
//! (accepted and ignored for served hosts: the cache is ours), `erase` (drops the cached
//! access token), `list`, `version`. Errors are a message on **stdout** and exit 1, as
//! Docker reads them; a host this helper does not serve gets exactly
//! `credentials not found in native keychain`, which tells Docker to go on.

use super::{Failed, Protocol, Reply, obtain, read_stdin};
use crate::broker::{self, Request};
use crate::error::{Error, Result};
use crate::hosts::Hosts;
use crate::invocation::Invocation;
use crate::url::Target;
use serde::Deserialize;

/// Docker's "nothing stored for this server" message, matched verbatim by Docker.
pub const NOT_FOUND: &str = "credentials not found in native keychain";
/// The username Docker sees; `<token>` would mark the secret as a registry identity token.
pub const USERNAME: &str = "bsn-token";
/// Docker reads any failure as exit 1 with the message on stdout.
pub const FAILURE_EXIT: u8 = 1;

pub struct Docker {
    pub verb: Option<String>,
}

impl Protocol for Docker {
    fn serve(&self, inv: &Invocation) -> Result<Reply> {
        match self.verb.as_deref() {
            Some("get") => get(inv),
            Some("store") => store(inv),
            Some("erase") => erase(inv),
            Some("list") => Ok(Reply::Print(list(&inv.hosts).to_string())),
            Some("version") => Ok(Reply::Print(format!(
                "bsn-credential-helper {}",
                inv.version
            ))),
            Some(other) => Err(Error::invalid_request(format!(
                "unknown credential action {}; use get, store, erase, list or version",
                crate::text::quote(other)
            ))),
            None => Err(Error::invalid_request(
                "usage: docker-credential-bsn <get|store|erase|list|version>",
            )),
        }
    }

    fn failed(&self, e: &Error) -> Failed {
        Failed {
            stdout: Some(format!("bsn-credential-helper: {}", e.message)),
            stderr: false,
            exit: FAILURE_EXIT,
        }
    }

    /// Exactly Docker's words, which tell it to go on without credentials.
    fn not_served(&self) -> Failed {
        Failed {
            stdout: Some(NOT_FOUND.to_string()),
            stderr: false,
            exit: FAILURE_EXIT,
        }
    }
}

/// The served host a server URL names.
fn served(hosts: &Hosts, server_url: &str) -> Option<Target> {
    Target::parse(server_url).filter(|t| hosts.serves(t))
}

fn read_url() -> Result<String> {
    Ok(read_stdin()?.trim().to_string())
}

fn get(inv: &Invocation) -> Result<Reply> {
    let server_url = read_url()?;
    if served(&inv.hosts, &server_url).is_none() {
        return Ok(Reply::NotServed);
    }
    let outcome = obtain(inv.profile()?, &Request::default())?;
    Ok(Reply::Print(
        serde_json::json!({
            "ServerURL": server_url,
            "Username": USERNAME,
            "Secret": outcome.entry.access_token.expose(),
        })
        .to_string(),
    ))
}

#[derive(Deserialize)]
struct StoreRequest {
    #[serde(rename = "ServerURL")]
    server_url: String,
}

/// `docker login` to a served host succeeds and keeps nothing. For any other host it fails:
/// with `credsStore: bsn` a silent success would lose the user's registry password.
fn store(inv: &Invocation) -> Result<Reply> {
    let request: StoreRequest = serde_json::from_str(&read_stdin()?).map_err(|_| {
        Error::invalid_request("store expects {\"ServerURL\",\"Username\",\"Secret\"} JSON")
    })?;
    if served(&inv.hosts, &request.server_url).is_none() {
        return Err(Error::invalid_request(format!(
            "this helper keeps no credentials for {}; use it in credHelpers for BSN.cloud hosts only ({})",
            crate::text::quote(&request.server_url),
            inv.hosts.describe()
        )));
    }
    Ok(Reply::Quiet)
}

/// Drops the cached access token (a refresh token, if any, stays) so the next get renews.
fn erase(inv: &Invocation) -> Result<Reply> {
    let server_url = read_url()?;
    if served(&inv.hosts, &server_url).is_none() {
        return Ok(Reply::NotServed);
    }
    broker::reject(inv.profile()?, None)?;
    Ok(Reply::Quiet)
}

/// `{"https://api.bsn.cloud":"bsn-token", …}` for every served host.
pub fn list(hosts: &Hosts) -> serde_json::Value {
    let map: serde_json::Map<String, serde_json::Value> = hosts
        .urls()
        .into_iter()
        .map(|u| (u, serde_json::Value::String(USERNAME.into())))
        .collect();
    serde_json::Value::Object(map)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn server_urls_to_hosts() {
        let hosts = Hosts::new(None, Some("https://api.bsn.cloud"));
        for ok in [
            "api.bsn.cloud",
            "https://api.bsn.cloud",
            "https://api.bsn.cloud/v2/",
            "ws.bsn.cloud:443",
            " https://provision.bsn.cloud\n",
        ] {
            assert!(served(&hosts, ok).is_some(), "{ok}");
        }
        for no in [
            "",
            "https://index.docker.io/v1/",
            "ghcr.io",
            "http://api.bsn.cloud",
        ] {
            assert!(served(&hosts, no).is_none(), "{no}");
        }
    }

    #[test]
    fn list_names_every_served_host() {
        let hosts = Hosts::new(Some("api.bsn.cloud"), Some("http://127.0.0.1:5000/"));
        assert_eq!(
            list(&hosts).to_string(),
            r#"{"http://127.0.0.1:5000":"bsn-token","https://api.bsn.cloud":"bsn-token"}"#
        );
    }
}
