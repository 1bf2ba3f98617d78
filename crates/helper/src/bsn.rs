//! The BSN.cloud REST API: network selection binds a new token's session to a network;
//! reading the session (`doctor`) shows what the server thinks a token may do.

use crate::config::Profile;
use crate::error::Error;
use crate::http::{self, ATTEMPTS, Attempt, FIRST_BACKOFF};
use crate::oauth::retry_exhausted;
use crate::secret::Secret;
use crate::text::quote;
use std::time::Instant;

/// Why a selection failed.
#[derive(Debug)]
pub enum SelectError {
    /// 401/410: the token or its session is gone — renew and select again.
    TokenGone(Error),
    /// Anything else, already worded for the user.
    Other(Error),
}

/// Binds the session of a newly issued token to the profile's network.
pub fn select_network(
    deadline: Instant,
    profile: &Profile,
    access_token: &Secret<String>,
    network: &str,
) -> Result<(), SelectError> {
    let url = profile.api_url.join("/2022/06/REST/Self/Session/Network");
    let body = serde_json::json!({ "name": network }).to_string();
    let auth = Secret::new(format!("Bearer {}", access_token.expose()));
    let mut req = http::Request::new(attohttpc::Method::PUT, &url, &profile.api_url);
    req.authorization = Some(&auth);
    req.body = Some(("application/json", &body));
    let network = quote(network);
    let mut backoff = FIRST_BACKOFF;
    let mut attempt = 1;
    loop {
        // PUT is idempotent, so every transient failure may be retried.
        let outcome = http::send(&req, deadline, "BSN_TIMEOUT (timeout)");
        let retry_after = match &outcome {
            Attempt::NotSent(_) | Attempt::Lost(_) => Some(None),
            Attempt::Retry(_, after, _) => Some(*after),
            Attempt::Done(..) => None,
        };
        if let Some(after) = retry_after
            && attempt < ATTEMPTS
            && http::wait(&mut backoff, after, deadline)
        {
            attempt += 1;
            continue;
        }
        return match outcome {
            Attempt::Done(200 | 204, _) => Ok(()),
            Attempt::Done(400 | 404, _) => {
                Err(SelectError::Other(Error::network_selection(format!(
                    "BSN.cloud refused network {network}: it does not exist or this application's user cannot reach it; check BSN_NETWORK (network)"
                ))))
            }
            Attempt::Done(403, _) => Err(SelectError::Other(Error::network_selection(format!(
                "the BSN.cloud API refused to select network {network} (HTTP 403); check that BSN_API_URL ({}) belongs to BSN_TOKEN_URL's realm and that the application has API access",
                profile.api_url
            )))),
            Attempt::Done(status @ (401 | 410), _) => {
                Err(SelectError::TokenGone(Error::network_selection(format!(
                    "the BSN.cloud API refused the new token while selecting network {network} (HTTP {status}); check that BSN_API_URL ({}) belongs to BSN_TOKEN_URL's realm",
                    profile.api_url
                ))))
            }
            Attempt::Done(status, _) => Err(SelectError::Other(Error::server(format!(
                "network selection answered HTTP {status}"
            )))),
            Attempt::NotSent(why) | Attempt::Lost(why) => {
                Err(SelectError::Other(Error::network(format!(
                    "cannot reach the BSN.cloud API {}: {why}; check BSN_API_URL (api_url)",
                    profile.api_url
                ))))
            }
            Attempt::Retry(status, after, bytes) => Err(SelectError::Other(retry_exhausted(
                "BSN.cloud API",
                status,
                after,
                &bytes,
            ))),
        };
    }
}

/// What `GET /2022/06/REST/Self/Session` says about a token's session.
#[derive(Debug, Default)]
pub struct SessionInfo {
    pub network: Option<String>,
    pub scope: Option<String>,
    pub user: Option<String>,
    /// The server's `Date` header, as sent.
    pub server_date: Option<String>,
}

/// Reads the token's session once (no retries: `doctor` reports what happens).
pub fn session(
    deadline: Instant,
    profile: &Profile,
    access_token: &Secret<String>,
) -> Result<SessionInfo, Error> {
    let url = profile.api_url.join("/2022/06/REST/Self/Session");
    let auth = Secret::new(format!("Bearer {}", access_token.expose()));
    let mut req = http::Request::new(attohttpc::Method::GET, &url, &profile.api_url);
    req.authorization = Some(&auth);
    let (outcome, server_date) = http::send_dated(&req, deadline, "BSN_TIMEOUT (timeout)");
    let body = match outcome {
        Attempt::Done(200, body) => body,
        Attempt::Done(status, body) | Attempt::Retry(status, _, body) => {
            return Err(Error::server(format!(
                "GET {url} answered HTTP {status}{}; check BSN_API_URL (api_url)",
                crate::oauth::server_explanation(&body)
            )));
        }
        Attempt::NotSent(why) | Attempt::Lost(why) => {
            return Err(Error::network(format!(
                "cannot reach the BSN.cloud API {}: {why}; check BSN_API_URL (api_url)",
                profile.api_url
            )));
        }
    };
    let json: serde_json::Value = serde_json::from_slice(&body).map_err(|_| {
        Error::server(format!(
            "GET {url} answered 200 with something that is not JSON"
        ))
    })?;
    let text = |v: &serde_json::Value| v.as_str().map(str::to_string);
    Ok(SessionInfo {
        network: text(&json["network"]["name"]),
        scope: text(&json["authorizationScope"]).or_else(|| text(&json["scope"])),
        user: text(&json["user"]["login"]),
        server_date,
    })
}
