//! The two HTTP conversations with BSN.cloud: the token endpoint (OAuth2, Keycloak) and
//! network selection on the REST API. Retries live here; what to ask for is the broker's
//! decision.

use crate::config::{self, ClientAuth, Profile};
use crate::error::{Error, Result};
use crate::secret::Secret;
use base64::Engine;
use serde::Deserialize;
use std::io::Read;
use std::time::{Duration, Instant};

/// Token responses are a few hundred bytes; anything past this is not a token endpoint.
const MAX_BODY: u64 = 256 * 1024;
const ATTEMPTS: u32 = 3;
const FIRST_BACKOFF: Duration = Duration::from_millis(250);

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

/// A successful token response, parsed leniently (unknown fields ignored).
#[derive(Debug, Deserialize)]
pub struct TokenSet {
    pub access_token: Secret<String>,
    pub expires_in: Option<u64>,
    pub token_type: Option<String>,
    pub refresh_token: Option<Secret<String>>,
    pub refresh_expires_in: Option<u64>,
    pub scope: Option<String>,
}

/// Why a token request failed, in the terms the broker decides on.
#[derive(Debug)]
pub enum Failure {
    /// The server refused the grant (`invalid_grant`): the refresh token or password is
    /// dead. Never retried.
    InvalidGrant(Error),
    /// The request may have been processed but the answer was lost (timeout, reset,
    /// truncated body). For a refresh, the token must be treated as spent.
    Ambiguous(Error),
    /// Anything else; nothing was consumed.
    Other(Error),
}

impl Failure {
    pub fn into_error(self) -> Error {
        match self {
            Failure::InvalidGrant(e) | Failure::Ambiguous(e) | Failure::Other(e) => e,
        }
    }
}

#[derive(Deserialize)]
struct OAuthError {
    error: Option<String>,
    error_description: Option<String>,
}

/// Outcome of one HTTP exchange, before deciding whether to retry.
enum Attempt {
    Done(u16, Vec<u8>),
    /// Could not connect: nothing reached the server.
    NotSent(String),
    /// Connected, then failed: the server may have acted.
    Lost(String),
    Retry(u16, Option<Duration>),
}

/// `deadline` bounds every attempt and pause; the broker gives one deadline to the whole
/// renewal (token request and network selection), so a call never exceeds BSN_TIMEOUT.
pub fn request_token(
    deadline: Instant,
    profile: &Profile,
    client_secret: &Secret<String>,
    grant: &GrantRequest,
) -> std::result::Result<TokenSet, Failure> {
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
    let mut auth_header = None;
    match profile.client_auth {
        ClientAuth::Basic => {
            // RFC 6749 §2.3.1: form-encode id and secret before base64, as Keycloak decodes.
            let pair = format!(
                "{}:{}",
                form_encode(&profile.client_id),
                form_encode(client_secret.expose())
            );
            auth_header = Some(Secret::new(format!(
                "Basic {}",
                base64::engine::general_purpose::STANDARD.encode(pair)
            )));
        }
        ClientAuth::Post => {
            form.append_pair("client_id", &profile.client_id);
            form.append_pair("client_secret", client_secret.expose());
        }
    }
    let body = Secret::new(form.finish());

    let mut backoff = FIRST_BACKOFF;
    let mut attempt = 1;
    loop {
        let outcome = send(
            profile,
            "POST",
            &profile.token_url,
            auth_header.as_ref(),
            Some(("application/x-www-form-urlencoded", body.expose())),
            deadline,
        );
        let (status, bytes) = match outcome {
            Attempt::Done(status, bytes) => (status, bytes),
            Attempt::NotSent(why) | Attempt::Lost(why)
                if attempt < ATTEMPTS
                    && grant.repeatable()
                    && wait(&mut backoff, None, deadline) =>
            {
                crate::debug!("token request attempt {attempt} failed ({why}); retrying");
                attempt += 1;
                continue;
            }
            Attempt::NotSent(why) => {
                return Err(Failure::Other(Error::network(format!(
                    "cannot reach the token endpoint {}: {why}; check BSN_TOKEN_URL and your connection or proxy (HTTPS_PROXY)",
                    profile.token_url
                ))));
            }
            Attempt::Lost(why) => {
                return Err(Failure::Ambiguous(Error::network(format!(
                    "the token endpoint {} did not answer completely: {why}",
                    profile.token_url
                ))));
            }
            Attempt::Retry(status, retry_after) => {
                // 429 and gateway errors mean the request never reached Keycloak's logic;
                // after other 5xx a refresh token may already be spent.
                let unprocessed = matches!(status, 429 | 502..=504);
                if attempt < ATTEMPTS
                    && (grant.repeatable() || unprocessed)
                    && wait(&mut backoff, retry_after, deadline)
                {
                    crate::debug!("token endpoint answered {status}; retrying");
                    attempt += 1;
                    continue;
                }
                let error = retry_exhausted("token endpoint", status, retry_after);
                return Err(if unprocessed || grant.repeatable() {
                    Failure::Other(error)
                } else {
                    Failure::Ambiguous(error)
                });
            }
        };
        return token_answer(profile, grant, status, &bytes);
    }
}

fn token_answer(
    profile: &Profile,
    grant: &GrantRequest,
    status: u16,
    bytes: &[u8],
) -> std::result::Result<TokenSet, Failure> {
    match status {
        200 => {
            let set: TokenSet = serde_json::from_slice(bytes).map_err(|_| {
                // A 200 that is not a token may still have issued one; for a refresh the
                // old token is spent.
                Failure::Ambiguous(Error::server(format!(
                    "the token endpoint {} answered 200 without a valid token response; is BSN_TOKEN_URL right?",
                    profile.token_url
                )))
            })?;
            if set.access_token.expose().is_empty() {
                return Err(Failure::Ambiguous(Error::server(
                    "the token endpoint returned an empty access token",
                )));
            }
            if let Some(t) = &set.token_type
                && !t.eq_ignore_ascii_case("bearer")
            {
                return Err(Failure::Other(Error::server(format!(
                    "the token endpoint issued a \"{}\" token; only Bearer is supported",
                    sanitize(t)
                ))));
            }
            Ok(set)
        }
        300..=399 => Err(Failure::Other(Error::config(format!(
            "the token endpoint {} answered a redirect ({status}); it is not followed because that would resend the client secret; set BSN_TOKEN_URL (token_url) to the final address",
            profile.token_url
        )))),
        400 | 401 | 403 => {
            let parsed: Option<OAuthError> = serde_json::from_slice(bytes).ok();
            let code = parsed
                .as_ref()
                .and_then(|p| p.error.as_deref())
                .unwrap_or("");
            let description = parsed
                .as_ref()
                .and_then(|p| p.error_description.as_deref())
                .map(|d| format!(" ({})", sanitize(d)))
                .unwrap_or_default();
            match code {
                "invalid_grant" => Err(Failure::InvalidGrant(match grant {
                    GrantRequest::Refresh { .. } => Error::login_required(format!(
                        "the refresh token was refused{description}; the session has ended"
                    )),
                    _ => Error::invalid_credentials(format!(
                        "the token endpoint refused the username or password{description}; check BSN_USERNAME and BSN_PASSWORD (password source)"
                    )),
                })),
                "unauthorized_client" | "invalid_client" => {
                    Err(Failure::Other(Error::invalid_credentials(format!(
                        "the token endpoint refused client id \"{}\"{description}; BSN.cloud client secrets expire every 180 days: create a new one in the Admin Panel (Settings → Applications) and update BSN_CLIENT_SECRET (client_secret_*)",
                        profile.client_id
                    ))))
                }
                "" => Err(Failure::Other(Error::server(format!(
                    "the token endpoint answered {status} without an OAuth error; is BSN_TOKEN_URL ({}) right?",
                    profile.token_url
                )))),
                other => Err(Failure::Other(Error::invalid_credentials(format!(
                    "the token endpoint refused the request: {}{description}",
                    sanitize(other)
                )))),
            }
        }
        _ => Err(Failure::Other(Error::server(format!(
            "the token endpoint answered HTTP {status}"
        )))),
    }
}

/// Binds the session of a newly issued token to the profile's network.
pub fn select_network(
    deadline: Instant,
    profile: &Profile,
    access_token: &Secret<String>,
    network: &str,
) -> Result<()> {
    let url = format!("{}/2022/06/REST/Self/Session/Network", profile.api_url);
    let body = serde_json::json!({ "name": network }).to_string();
    let auth = Secret::new(format!("Bearer {}", access_token.expose()));
    let mut backoff = FIRST_BACKOFF;
    let mut attempt = 1;
    loop {
        // PUT is idempotent, so every transient failure may be retried.
        match send(
            profile,
            "PUT",
            &url,
            Some(&auth),
            Some(("application/json", &body)),
            deadline,
        ) {
            Attempt::Done(200 | 204, _) => return Ok(()),
            Attempt::Done(400 | 404, _) => {
                return Err(Error::network_selection(format!(
                    "BSN.cloud refused network \"{network}\": it does not exist or this application's user cannot reach it; check BSN_NETWORK (network)"
                )));
            }
            Attempt::Done(status @ (401 | 403 | 410), _) => {
                return Err(Error::network_selection(format!(
                    "the BSN.cloud API refused the new token while selecting network \"{network}\" (HTTP {status}); check that BSN_API_URL ({}) belongs to BSN_TOKEN_URL's realm and that the application has API access",
                    profile.api_url
                )));
            }
            Attempt::Done(status, _) => {
                return Err(Error::server(format!(
                    "network selection answered HTTP {status}"
                )));
            }
            Attempt::NotSent(why) | Attempt::Lost(why) => {
                if attempt < ATTEMPTS && wait(&mut backoff, None, deadline) {
                    attempt += 1;
                    continue;
                }
                return Err(Error::network(format!(
                    "cannot reach the BSN.cloud API {}: {why}; check BSN_API_URL and your connection",
                    profile.api_url
                )));
            }
            Attempt::Retry(status, retry_after) => {
                if attempt < ATTEMPTS && wait(&mut backoff, retry_after, deadline) {
                    attempt += 1;
                    continue;
                }
                return Err(retry_exhausted("BSN.cloud API", status, retry_after));
            }
        }
    }
}

fn retry_exhausted(what: &str, status: u16, retry_after: Option<Duration>) -> Error {
    if status == 429 {
        Error::rate_limited(format!(
            "the {what} is rate limiting this client (HTTP 429{}); try again later",
            retry_after
                .map(|d| format!(", retry after {}s", d.as_secs()))
                .unwrap_or_default()
        ))
    } else {
        Error::server(format!(
            "the {what} kept failing (HTTP {status}); BSN.cloud may be down, try again later"
        ))
    }
}

/// Sleeps before the next attempt if the deadline allows; false when it does not.
fn wait(backoff: &mut Duration, retry_after: Option<Duration>, deadline: Instant) -> bool {
    let pause = retry_after.unwrap_or(*backoff);
    *backoff *= 2;
    let now = Instant::now();
    // Leave room for the request itself after the pause.
    if now + pause + Duration::from_millis(100) >= deadline {
        return false;
    }
    std::thread::sleep(pause);
    true
}

fn send(
    profile: &Profile,
    method: &str,
    url: &str,
    authorization: Option<&Secret<String>>,
    body: Option<(&str, &str)>,
    deadline: Instant,
) -> Attempt {
    let remaining = deadline.saturating_duration_since(Instant::now());
    if remaining.is_zero() {
        return Attempt::NotSent(format!(
            "no time left within {}s (BSN_TIMEOUT)",
            profile.timeout.as_secs()
        ));
    }
    let mut req = match method {
        "PUT" => attohttpc::put(url),
        _ => attohttpc::post(url),
    }
    // Redirects would resend the secret or token to another host.
    .follow_redirects(false)
    .connect_timeout(remaining.min(Duration::from_secs(10)))
    .read_timeout(remaining)
    .timeout(remaining)
    .header("Accept", "application/json, application/vnd.bsn.error+json")
    .header(
        "User-Agent",
        concat!("bsn-credential-helper/", env!("CARGO_PKG_VERSION")),
    );
    if is_loopback_url(url) {
        // A proxy must never see loopback traffic (the emulator, tests).
        req = req.proxy_settings(attohttpc::ProxySettings::builder().build());
    }
    if let Some(auth) = authorization {
        req = req.header("Authorization", auth.expose().as_str());
    }
    if let Some((content_type, text)) = body {
        req = req.header("Content-Type", content_type);
        let prepared = req.text(text);
        return exchange(prepared.send());
    }
    exchange(req.send())
}

fn exchange(result: attohttpc::Result<attohttpc::Response>) -> Attempt {
    let response = match result {
        Ok(r) => r,
        Err(e) => return classify(&e),
    };
    let status = response.status().as_u16();
    if status == 429 || status >= 500 {
        let retry_after = response
            .headers()
            .get("retry-after")
            .and_then(|v| v.to_str().ok())
            .and_then(|v| v.trim().parse::<u64>().ok())
            .map(Duration::from_secs);
        return Attempt::Retry(status, retry_after);
    }
    // attohttpc ends a Content-Length body silently when the connection closes early.
    let promised = response
        .headers()
        .get("content-length")
        .and_then(|v| v.to_str().ok())
        .and_then(|v| v.trim().parse::<u64>().ok());
    let (_, _, reader) = response.split();
    let mut bytes = Vec::new();
    match reader.take(MAX_BODY + 1).read_to_end(&mut bytes) {
        Ok(_) if bytes.len() as u64 > MAX_BODY => {
            Attempt::Lost(format!("the answer is larger than {} KiB", MAX_BODY / 1024))
        }
        Ok(_) if promised.is_some_and(|n| (bytes.len() as u64) < n) => Attempt::Lost(format!(
            "the answer was cut off after {} of {} bytes",
            bytes.len(),
            promised.unwrap_or_default()
        )),
        Ok(_) => Attempt::Done(status, bytes),
        Err(e) => Attempt::Lost(format!("reading the answer failed: {}", e.kind())),
    }
}

fn classify(e: &attohttpc::Error) -> Attempt {
    use std::io::ErrorKind::*;
    match e.kind() {
        attohttpc::ErrorKind::Io(io) => match io.kind() {
            ConnectionRefused | AddrNotAvailable | HostUnreachable | NetworkUnreachable
            | NotFound => Attempt::NotSent(io.kind().to_string()),
            kind => Attempt::Lost(kind.to_string()),
        },
        attohttpc::ErrorKind::ConnectError { .. } | attohttpc::ErrorKind::ConnectNotSupported => {
            Attempt::NotSent("cannot connect through the proxy".into())
        }
        attohttpc::ErrorKind::InvalidBaseUrl
        | attohttpc::ErrorKind::InvalidUrlHost
        | attohttpc::ErrorKind::InvalidUrlPort
        | attohttpc::ErrorKind::InvalidDNSName(_) => Attempt::NotSent("invalid URL".into()),
        attohttpc::ErrorKind::Tls(_) => {
            Attempt::NotSent("TLS handshake failed (for a corporate CA set SSL_CERT_FILE)".into())
        }
        _ => Attempt::Lost("malformed HTTP answer".into()),
    }
}

fn is_loopback_url(url: &str) -> bool {
    url.split_once("://")
        .map(|(_, rest)| rest.split(['/', '?', '#']).next().unwrap_or(""))
        .is_some_and(|authority| config::is_loopback(config::host_of(authority)))
}

fn form_encode(s: &str) -> String {
    form_urlencoded::byte_serialize(s.as_bytes()).collect()
}

/// Server-provided text is shown to users: keep it short and printable.
fn sanitize(s: &str) -> String {
    s.chars().filter(|c| !c.is_control()).take(200).collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn basic_credentials_are_form_encoded_first() {
        assert_eq!(form_encode("a b:c%d+é"), "a+b%3Ac%25d%2B%C3%A9");
    }

    #[test]
    fn loopback_detection() {
        assert!(is_loopback_url("http://127.0.0.1:9/x"));
        assert!(is_loopback_url("http://[::1]:9/x"));
        assert!(!is_loopback_url("https://auth.bsn.cloud/x"));
    }

    #[test]
    fn sanitize_strips_control_and_caps() {
        assert_eq!(sanitize("a\nb\x1b[31m"), "ab[31m");
        assert_eq!(sanitize(&"x".repeat(500)).len(), 200);
    }
}
