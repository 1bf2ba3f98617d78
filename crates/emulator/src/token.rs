//! The Keycloak token endpoint: `POST /realms/bsncloud/protocol/openid-connect/token`.
//!
//! Order of checks follows Keycloak: a usable `grant_type` first, then client
//! authentication, then the grant itself. Status codes and `error` strings match what
//! Keycloak sends, so the helper's error handling is exercised against the real shapes.

use std::collections::HashMap;
use std::time::Instant;

use serde_json::{Value, json};

use super::client_auth;
use super::form::parse_form;
use super::http::{Request, Response};
use super::state::{Issued, Refusal, State};

pub const TOKEN_PATH: &str = "/realms/bsncloud/protocol/openid-connect/token";
/// RFC 7009 token revocation, where Keycloak serves it.
pub const REVOKE_PATH: &str = "/realms/bsncloud/protocol/openid-connect/revoke";

const GRANTS: [&str; 3] = ["client_credentials", "password", "refresh_token"];

/// Answers one request to the token endpoint.
pub fn handle(state: &mut State, request: &Request, now: Instant) -> Response {
    if request.method != "POST" {
        return Response::json(
            405,
            &json!({"error": "method_not_allowed", "error_description": "Use POST"}),
        )
        .header("Allow", "POST");
    }
    match grant(state, request, now) {
        Ok(issued) => Response::json(200, &render(&issued))
            // RFC 6749 §5.1: token responses must not be cached.
            .header("Cache-Control", "no-store")
            .header("Pragma", "no-cache"),
        Err(e) => {
            state.stats.refused.count(e.code);
            let mut response = Response::json(
                e.status,
                &json!({"error": e.code, "error_description": e.description}),
            );
            if e.status == 429 {
                response = response.header("Retry-After", "1");
            }
            response
        }
    }
}

/// An OAuth error response: status, `error`, `error_description`.
#[derive(Debug)]
struct OAuthError {
    status: u16,
    code: &'static str,
    description: String,
}

fn error(status: u16, code: &'static str, description: impl Into<String>) -> OAuthError {
    OAuthError {
        status,
        code,
        description: description.into(),
    }
}

fn grant(state: &mut State, request: &Request, now: Instant) -> Result<Issued, OAuthError> {
    let form = parse_form(&request.body).map_err(|name| {
        error(
            400,
            "invalid_request",
            format!("duplicated parameter: {name}"),
        )
    })?;
    let grant_type = form
        .get("grant_type")
        .ok_or_else(|| error(400, "invalid_request", "Missing form parameter: grant_type"))?;
    let counter = match grant_type.as_str() {
        "client_credentials" => &mut state.stats.token_requests.client_credentials,
        "password" => &mut state.stats.token_requests.password,
        "refresh_token" => &mut state.stats.token_requests.refresh_token,
        _ => {
            return Err(error(
                400,
                "unsupported_grant_type",
                format!("Unsupported grant_type (supported: {})", GRANTS.join(", ")),
            ));
        }
    };
    *counter += 1;

    let client = client_auth::presented(request.header("authorization"), &form)
        .and_then(|p| state.client(&p.id, &p.secret).cloned())
        .ok_or_else(|| {
            error(
                401,
                "unauthorized_client",
                "Invalid client or Invalid client credentials",
            )
        })?;

    let result = match grant_type.as_str() {
        "client_credentials" => state.grant_client(&client, now),
        "password" => {
            let username = required(&form, "username")?;
            let password = required(&form, "password")?;
            if !state.user_ok(username, password) {
                // Keycloak answers a bad password with 401, not the RFC's 400.
                return Err(error(401, "invalid_grant", "Invalid user credentials"));
            }
            state.grant_password(&client, username, now)
        }
        _ => {
            let token = required(&form, "refresh_token")?;
            state.grant_refresh(&client, token, now)
        }
    };
    result.map_err(refusal)
}

fn required<'a>(form: &'a HashMap<String, String>, name: &str) -> Result<&'a str, OAuthError> {
    form.get(name)
        .map(String::as_str)
        .ok_or_else(|| error(400, "invalid_request", format!("Missing parameter: {name}")))
}

fn refusal(r: Refusal) -> OAuthError {
    let grant = |d: &str| error(400, "invalid_grant", d);
    match r {
        Refusal::UnknownRefreshToken => grant("Invalid refresh token"),
        Refusal::WrongClient => {
            grant("Invalid refresh token. Token client and authorized client don't match")
        }
        Refusal::RefreshTokenExpired => grant("Token is not active"),
        Refusal::SessionNotActive => grant("Session not active"),
        Refusal::RefreshTokenReused => grant("Maximum allowed refresh token reuse exceeded"),
        Refusal::TooManyActiveTokens => error(
            429,
            "too_many_active_tokens",
            "Too many unexpired access tokens for this client; reuse the one you have",
        ),
    }
}

/// Keycloak's token response. Client-credentials tokens carry no refresh token and
/// `refresh_expires_in: 0`.
fn render(issued: &Issued) -> Value {
    let mut body = json!({
        "access_token": issued.access_token,
        "expires_in": issued.expires_in,
        "refresh_expires_in": 0,
        "token_type": "Bearer",
        "not-before-policy": 0,
        "scope": issued.scope,
    });
    if let Some(r) = &issued.refresh {
        body["refresh_token"] = json!(r.refresh_token);
        body["refresh_expires_in"] = json!(r.expires_in);
        body["session_state"] = json!(r.session_state);
    }
    body
}

/// `POST …/revoke` (RFC 7009): client authentication, then `token` (an access or refresh
/// token of that client). Unknown tokens are a success, as the RFC says; revoking a refresh
/// token ends its session and every access token of it.
pub fn handle_revoke(state: &mut State, request: &Request, now: Instant) -> Response {
    if request.method != "POST" {
        return Response::json(
            405,
            &json!({"error": "method_not_allowed", "error_description": "Use POST"}),
        )
        .header("Allow", "POST");
    }
    let Ok(form) = parse_form(&request.body) else {
        return Response::json(
            400,
            &json!({"error": "invalid_request", "error_description": "duplicated parameter"}),
        );
    };
    let Some(client) = client_auth::presented(request.header("authorization"), &form)
        .and_then(|p| state.client(&p.id, &p.secret).cloned())
    else {
        return Response::json(
            401,
            &json!({"error": "unauthorized_client", "error_description": "Invalid client or Invalid client credentials"}),
        );
    };
    let Some(token) = form.get("token") else {
        return Response::json(
            400,
            &json!({"error": "invalid_request", "error_description": "Missing parameter: token"}),
        );
    };
    state.revoke(&client, token, now);
    Response::empty(200)
}
