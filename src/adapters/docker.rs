//! Docker credential helper: the binary invoked as `docker-credential-bsn <verb>` (what
//! `credHelpers` / `credsStore` run) or `bsn-credential-helper docker <verb>`.
//!
//! Verbs: `get` (server URL on stdin → `{"ServerURL","Username","Secret"}`), `store`
//! (accepted and ignored for served hosts: the cache is ours), `erase` (drops the cached
//! access token), `list`, `version`. Errors are a message on **stdout** and exit 1, as
//! Docker reads them; a host this helper does not serve gets exactly
//! `credentials not found in native keychain`, which tells Docker to go on.

use super::{Hosts, Target, profile_and_hosts};
use crate::broker;
use crate::cache::Cache;
use crate::cli::{Cli, VERSION};
use crate::commands::{self, print_line};
use crate::config::Profile;
use crate::error::{Error, Result};
use serde::Deserialize;
use std::process::ExitCode;

/// Docker's "nothing stored for this server" message, matched verbatim by Docker.
pub const NOT_FOUND: &str = "credentials not found in native keychain";
/// The username Docker sees; `<token>` would mark the secret as a registry identity token.
pub const USERNAME: &str = "bsn-token";

enum Failure {
    NotFound,
    Other(String),
}

impl From<Error> for Failure {
    fn from(e: Error) -> Self {
        Failure::Other(e.message)
    }
}

pub fn run(cli: &Cli, verb: Option<&str>) -> ExitCode {
    let result = match verb {
        Some("get") => get(cli),
        Some("store") => store(cli),
        Some("erase") => erase(cli),
        Some("list") => {
            let (_, hosts) = profile_and_hosts(cli);
            Ok(list(&hosts).to_string())
        }
        Some("version") => Ok(format!("bsn-credential-helper {VERSION}")),
        Some(other) => Err(Failure::Other(format!(
            "unknown credential action `{other}`; use get, store, erase, list or version"
        ))),
        None => Err(Failure::Other(
            "usage: docker-credential-bsn <get|store|erase|list|version>".to_string(),
        )),
    };
    match result {
        Ok(out) if out.is_empty() => ExitCode::SUCCESS,
        Ok(out) => {
            print_line(&out);
            ExitCode::SUCCESS
        }
        Err(Failure::NotFound) => {
            print_line(NOT_FOUND);
            ExitCode::from(1)
        }
        Err(Failure::Other(message)) => {
            print_line(&format!("bsn-credential-helper: {message}"));
            ExitCode::from(1)
        }
    }
}

/// The served host a server URL names, or `NotFound`.
fn served(hosts: &Hosts, server_url: &str) -> std::result::Result<Target, Failure> {
    Target::parse(server_url)
        .filter(|t| hosts.serves(t))
        .ok_or(Failure::NotFound)
}

fn read_url() -> Result<String> {
    Ok(commands::read_stdin()?.trim().to_string())
}

fn get(cli: &Cli) -> std::result::Result<String, Failure> {
    let server_url = read_url()?;
    let (_, hosts) = profile_and_hosts(cli);
    served(&hosts, &server_url)?;
    let (_, outcome) = commands::obtain(&commands::overrides(cli), None, false)?;
    Ok(serde_json::json!({
        "ServerURL": server_url,
        "Username": USERNAME,
        "Secret": outcome.entry.access_token.expose(),
    })
    .to_string())
}

#[derive(Deserialize)]
struct StoreRequest {
    #[serde(rename = "ServerURL")]
    server_url: String,
}

/// `docker login` to a served host succeeds and keeps nothing. For any other host it fails:
/// with `credsStore: bsn` a silent success would lose the user's registry password.
fn store(cli: &Cli) -> std::result::Result<String, Failure> {
    let request: StoreRequest = serde_json::from_str(&commands::read_stdin()?).map_err(|_| {
        Failure::Other("store expects {\"ServerURL\",\"Username\",\"Secret\"} JSON".into())
    })?;
    let (_, hosts) = profile_and_hosts(cli);
    served(&hosts, &request.server_url).map_err(|_| {
        Failure::Other(format!(
            "this helper keeps no credentials for {}; use it in credHelpers for BSN.cloud hosts only ({})",
            request.server_url,
            hosts.describe()
        ))
    })?;
    Ok(String::new())
}

/// Drops the cached access token (a refresh token, if any, stays) so the next get renews.
fn erase(cli: &Cli) -> std::result::Result<String, Failure> {
    let server_url = read_url()?;
    let (profile, hosts) = profile_and_hosts(cli);
    served(&hosts, &server_url)?;
    let profile: Profile = match profile {
        Some(p) => p,
        None => commands::load_profile(&commands::overrides(cli))?,
    };
    let cached = Cache::new(&profile.cache_dir).read(&broker::cache_key(&profile));
    if let Some(entry) = cached {
        broker::reject(&profile, &entry.access_token)?;
    }
    Ok(String::new())
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
            assert!(served(&hosts, ok).is_ok(), "{ok}");
        }
        for no in [
            "",
            "https://index.docker.io/v1/",
            "ghcr.io",
            "http://api.bsn.cloud",
        ] {
            assert!(matches!(served(&hosts, no), Err(Failure::NotFound)), "{no}");
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
