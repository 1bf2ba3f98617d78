//! The token endpoint (OAuth2, Keycloak): grants, client authentication, retries, and
//! validation of every answer. What to ask for is the broker's decision.

use crate::config::{ClientAuth, Profile};
use crate::error::Error;
use crate::http::{self, ATTEMPTS, Attempt, FIRST_BACKOFF};
use crate::secret::Secret;
use crate::text::quote;
use base64::Engine;
use serde::Deserialize;
use std::time::{Duration, Instant};

// RFC 7009 revocation (`erase`) lives in oauth/revoke.rs.
mod revoke;
pub use revoke::revoke;

/// Longest lifetime we believe: a server that claims more is capped, so a bogus
/// `expires_in` cannot cache a token for years.
pub const MAX_EXPIRES_IN: u64 = 24 * 3600;
/// Used only when a server omits `expires_in`: BrightSign's announced lifetime.
const FALLBACK_EXPIRES_IN: u64 = 300;

/// What the token endpoint is asked for.
pub enum GrantRequest<'a> {
    ClientCredentials,
    Password {
        username: &'a str,
        password: &'a Secret<String>,
    },
    Refresh {
        refresh_token: &'a Secret<String>,
    },
}

impl GrantRequest<'_> {
    fn name(&self) -> &'static str {
        match self {
            GrantRequest::ClientCredentials => "client_credentials",
            GrantRequest::Password { .. } => "password",
            GrantRequest::Refresh { .. } => "refresh_token",
        }
    }

    /// A refresh token is single-use: if a request may have reached the server, sending it
    /// again could be taken as theft and end the session. Logins may be repeated.
    fn repeatable(&self) -> bool {
        !matches!(self, GrantRequest::Refresh { .. })
    }
}

/// A token response as the server sent it, parsed leniently (unknown fields ignored).
#[derive(Debug, Deserialize)]
pub struct TokenSet {
    pub access_token: Secret<String>,
    pub expires_in: Option<u64>,
    pub token_type: Option<String>,
    pub refresh_token: Option<Secret<String>>,
    pub refresh_expires_in: Option<u64>,
    pub scope: Option<String>,
    /// The server's clock when it answered (its `Date` header, ms since the epoch).
    #[serde(skip)]
    pub server_time_ms: Option<u64>,
}

impl TokenSet {
    /// The lifetime to believe: the server's, capped; a missing one is assumed.
    pub fn lifetime_secs(&self) -> u64 {
        self.expires_in
            .unwrap_or(FALLBACK_EXPIRES_IN)
            .min(MAX_EXPIRES_IN)
    }

    /// Checks what we will store and print: RFC 6750 b64token values (visible ASCII, no
    /// spaces or controls, so no header or line can be injected), a Bearer type, a
    /// positive lifetime.
    pub fn validate(&self) -> Result<(), String> {
        if !is_b64token(self.access_token.expose()) {
            return Err("an access token that is not a valid bearer token (RFC 6750: letters, digits and -._~+/ only)".into());
        }
        if let Some(r) = &self.refresh_token
            && !is_b64token(r.expose())
        {
            return Err("a refresh token that is not a valid token string".into());
        }
        if let Some(t) = &self.token_type
            && !t.eq_ignore_ascii_case("bearer")
        {
            return Err(format!("a {} token; only Bearer is supported", quote(t)));
        }
        if self.expires_in == Some(0) {
            return Err("a token that expires at once (expires_in 0)".into());
        }
        if self
            .scope
            .as_deref()
            .is_some_and(|s| s.chars().any(char::is_control))
        {
            return Err("a scope with control characters".into());
        }
        Ok(())
    }
}

/// RFC 6750 §2.1: `1*( ALPHA / DIGIT / "-" / "." / "_" / "~" / "+" / "/" ) *"="`.
pub fn is_b64token(s: &str) -> bool {
    let body = s.trim_end_matches('=');
    !body.is_empty()
        && body
            .bytes()
            .all(|b| b.is_ascii_alphanumeric() || b"-._~+/".contains(&b))
}

/// Why a token request failed, in the terms the broker decides on.
#[derive(Debug)]
pub struct Failure {
    pub error: Error,
    /// Whether the server may have acted on the request. A refresh token sent in a request
    /// that may have arrived is spent, whatever the answer.
    pub reached_server: bool,
}

impl Failure {
    fn not_sent(error: Error) -> Failure {
        Failure {
            error,
            reached_server: false,
        }
    }

    fn reached(error: Error) -> Failure {
        Failure {
            error,
            reached_server: true,
        }
    }
}

#[derive(Deserialize)]
struct OAuthError {
    error: Option<String>,
    error_description: Option<String>,
}

/// The server's `error_description`, quoted for a message, or nothing.
pub fn server_explanation(body: &[u8]) -> String {
    serde_json::from_slice::<OAuthError>(body)
        .ok()
        .and_then(|e| e.error_description.or(e.error))
        .map(|d| format!(": {}", quote(&d)))
        .unwrap_or_default()
}

/// `deadline` bounds every attempt and pause; the broker gives one deadline to the whole
/// renewal (token request and network selection), so a call never exceeds BSN_TIMEOUT.
pub fn request_token(
    deadline: Instant,
    profile: &Profile,
    client_secret: &Secret<String>,
    grant: &GrantRequest,
) -> Result<TokenSet, Failure> {
    let mut form = form_urlencoded::Serializer::new(String::new());
    form.append_pair("grant_type", grant.name());
    match grant {
        GrantRequest::ClientCredentials => {}
        GrantRequest::Password { username, password } => {
            form.append_pair("username", username);
            form.append_pair("password", password.expose());
        }
        GrantRequest::Refresh { refresh_token } => {
            form.append_pair("refresh_token", refresh_token.expose());
        }
    }
    if let Some(scope) = &profile.scope {
        form.append_pair("scope", scope);
    }
    let auth = client_auth(profile, client_secret, &mut form);
    let body = Secret::new(form.finish());
    let url = profile.token_url.as_str();
    let mut req = http::Request::new(attohttpc::Method::POST, url, &profile.token_url);
    req.authorization = auth.as_ref();
    req.body = Some(("application/x-www-form-urlencoded", body.expose()));

    let mut backoff = FIRST_BACKOFF;
    let mut attempt = 1;
    // The first cause is the one to report: later attempts may only say time ran out.
    let mut first_cause: Option<String> = None;
    loop {
        let retry = |backoff: &mut Duration, after| {
            attempt < ATTEMPTS && http::wait(backoff, after, deadline)
        };
        let (outcome, date) = http::send_dated(&req, deadline, "BSN_TIMEOUT (timeout)");
        let outcome = match outcome {
            Attempt::NotSent(why) => Attempt::NotSent(first_cause.get_or_insert(why).clone()),
            other => other,
        };
        match outcome {
            Attempt::Done(status, bytes) => {
                let mut set = token_answer(profile, grant, status, &bytes)?;
                set.server_time_ms = date
                    .as_deref()
                    .and_then(crate::time::parse_http_date)
                    .map(|secs| secs.saturating_mul(1000));
                return Ok(set);
            }
            Attempt::NotSent(why) if retry(&mut backoff, None) => {
                crate::debug!("token request attempt {attempt} not sent ({why}); retrying");
            }
            Attempt::Lost(why) if grant.repeatable() && retry(&mut backoff, None) => {
                crate::debug!("token request attempt {attempt} failed ({why}); retrying");
            }
            Attempt::NotSent(why) => {
                return Err(Failure::not_sent(Error::network(format!(
                    "cannot reach the token endpoint {url}: {why}; check BSN_TOKEN_URL (token_url)"
                ))));
            }
            Attempt::Lost(why) => {
                return Err(Failure::reached(Error::network(format!(
                    "the token endpoint {url} did not answer completely: {why}"
                ))));
            }
            Attempt::Retry(status, after, bytes) => {
                // 429 and 503 say the request was not processed; after other 5xx (a 502 or
                // 504 from a gateway, a 500 from Keycloak) a refresh token may be spent.
                let unprocessed = matches!(status, 429 | 503);
                if (grant.repeatable() || unprocessed) && retry(&mut backoff, after) {
                    crate::debug!("token endpoint answered {status}; retrying");
                } else {
                    let error = retry_exhausted("token endpoint", status, after, &bytes);
                    return Err(Failure {
                        error,
                        reached_server: !unprocessed,
                    });
                }
            }
        }
        attempt += 1;
    }
}

/// Basic (the default) or form fields; returns the Authorization value for Basic.
fn client_auth(
    profile: &Profile,
    client_secret: &Secret<String>,
    form: &mut form_urlencoded::Serializer<String>,
) -> Option<Secret<String>> {
    match profile.client_auth {
        ClientAuth::Basic => {
            // RFC 6749 §2.3.1: form-encode id and secret before base64, as Keycloak decodes.
            let pair = format!(
                "{}:{}",
                form_encode(&profile.client_id),
                form_encode(client_secret.expose())
            );
            Some(Secret::new(format!(
                "Basic {}",
                base64::engine::general_purpose::STANDARD.encode(pair)
            )))
        }
        ClientAuth::Post => {
            form.append_pair("client_id", &profile.client_id);
            form.append_pair("client_secret", client_secret.expose());
            None
        }
    }
}

fn token_answer(
    profile: &Profile,
    grant: &GrantRequest,
    status: u16,
    bytes: &[u8],
) -> Result<TokenSet, Failure> {
    let url = &profile.token_url;
    match status {
        200 => {
            // A 200 that is not a usable token may still have issued one: for a refresh
            // the old token is spent either way.
            let set: TokenSet = serde_json::from_slice(bytes).map_err(|_| {
                Failure::reached(Error::server(format!(
                    "the token endpoint {url} answered 200 without a valid token response; is BSN_TOKEN_URL right?"
                )))
            })?;
            set.validate().map_err(|why| {
                Failure::reached(Error::server(format!(
                    "the token endpoint {url} issued {why}"
                )))
            })?;
            Ok(set)
        }
        300..=399 => Err(Failure::reached(Error::config(format!(
            "the token endpoint {url} answered a redirect ({status}); it is not followed because that would resend the client secret; set BSN_TOKEN_URL (token_url) to the final address"
        )))),
        400 | 401 | 403 => Err(Failure::reached(refusal(profile, grant, status, bytes))),
        _ => Err(Failure::reached(Error::server(format!(
            "the token endpoint answered HTTP {status}{}",
            server_explanation(bytes)
        )))),
    }
}

fn refusal(profile: &Profile, grant: &GrantRequest, status: u16, bytes: &[u8]) -> Error {
    let parsed: Option<OAuthError> = serde_json::from_slice(bytes).ok();
    let code = parsed
        .as_ref()
        .and_then(|p| p.error.as_deref())
        .unwrap_or("");
    let description = parsed
        .as_ref()
        .and_then(|p| p.error_description.as_deref())
        .map(|d| format!(" ({})", quote(d)))
        .unwrap_or_default();
    match code {
        "invalid_grant" => match grant {
            GrantRequest::Refresh { .. } => Error::login_required(format!(
                "the refresh token was refused{description}; the session has ended"
            )),
            _ => Error::invalid_credentials(format!(
                "the token endpoint refused the username or password{description}; check BSN_USERNAME and BSN_PASSWORD (password source)"
            )),
        },
        "unauthorized_client" | "invalid_client" => Error::invalid_credentials(format!(
            "the token endpoint refused client id {} or its secret{description}; check BSN_CLIENT_ID and BSN_CLIENT_SECRET (client_secret_*). BSN.cloud client secrets expire every 180 days: create a new one in the Admin Panel (Settings → Applications)",
            quote(&profile.client_id)
        )),
        "" => Error::server(format!(
            "the token endpoint answered {status} without an OAuth error; is BSN_TOKEN_URL ({}) right?",
            profile.token_url
        )),
        other => Error::invalid_credentials(format!(
            "the token endpoint refused the request: {}{description}",
            quote(other)
        )),
    }
}

pub fn retry_exhausted(
    what: &str,
    status: u16,
    retry_after: Option<Duration>,
    body: &[u8],
) -> Error {
    let explanation = server_explanation(body);
    if status == 429 {
        Error::rate_limited(format!(
            "the {what} is rate limiting this client (HTTP 429{}){explanation}; try again later",
            retry_after
                .map(|d| format!(", retry after {}s", d.as_secs()))
                .unwrap_or_default()
        ))
    } else {
        Error::server(format!(
            "the {what} kept failing (HTTP {status}){explanation}; BSN.cloud may be down, try again later"
        ))
    }
}

fn form_encode(s: &str) -> String {
    form_urlencoded::byte_serialize(s.as_bytes()).collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn basic_credentials_are_form_encoded_first() {
        assert_eq!(form_encode("a b:c%d+é"), "a+b%3Ac%25d%2B%C3%A9");
    }

    fn set(token: &str, kind: Option<&str>, expires_in: Option<u64>) -> TokenSet {
        TokenSet {
            access_token: Secret::new(token.into()),
            expires_in,
            token_type: kind.map(str::to_string),
            refresh_token: None,
            refresh_expires_in: None,
            scope: None,
            server_time_ms: None,
        }
    }

    #[test]
    fn answers_are_validated_before_use() {
        assert!(
            set("eyJ.a-b_c~d+e/f==", Some("Bearer"), Some(300))
                .validate()
                .is_ok()
        );
        assert!(set("abc", None, None).validate().is_ok());
        for bad in ["", "a b", "a\r\nhost=evil", "tök", "=", "a\"b"] {
            assert!(
                set(bad, Some("bearer"), Some(300)).validate().is_err(),
                "{bad:?}"
            );
        }
        assert!(set("abc", Some("mac"), Some(300)).validate().is_err());
        assert!(set("abc", Some("bearer"), Some(0)).validate().is_err());
        assert_eq!(
            set("abc", None, Some(u64::MAX)).lifetime_secs(),
            MAX_EXPIRES_IN
        );
        assert_eq!(set("abc", None, None).lifetime_secs(), FALLBACK_EXPIRES_IN);
    }

    #[test]
    fn server_explanations_are_quoted_and_escaped() {
        let body = br#"{"error":"too_many","error_description":"too many active tokens\nX"}"#;
        assert_eq!(server_explanation(body), ": \"too many active tokens\\nX\"");
        assert_eq!(server_explanation(b"<html>"), "");
    }
}
