//! The slice of the BSN.cloud REST API the helper touches: choosing the session's network
//! (`PUT …/Self/Session/Network`) and reading the session (`GET …/Self/Session`).
//!
//! 401 means "this token is no good" (missing, unknown, expired); 410 means "the token is
//! fine but its session was ended", as BSN.cloud documents.

use std::time::Instant;

use serde_json::{Value, json};

use super::http::{Request, Response};
use super::state::{State, Unusable};

/// Which REST resource a path names.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Resource {
    Session,
    SessionNetwork,
}

/// Matches `/2022/06/REST/Self/Session[/Network]` (or `/2020/10/…`) case-insensitively,
/// since real clients spell it both ways. A trailing slash is tolerated.
pub fn resource(path: &str) -> Option<Resource> {
    let path = path.to_ascii_lowercase();
    let path = path.strip_suffix('/').unwrap_or(&path);
    let rest = path
        .strip_prefix("/2022/06/rest/")
        .or_else(|| path.strip_prefix("/2020/10/rest/"))?;
    match rest {
        "self/session" => Some(Resource::Session),
        "self/session/network" => Some(Resource::SessionNetwork),
        _ => None,
    }
}

fn api_error(status: u16, code: &str, message: &str) -> Response {
    Response::json(
        status,
        &json!({"error": code, "error_description": message}),
    )
}

pub fn handle(state: &mut State, request: &Request, resource: Resource, now: Instant) -> Response {
    state.stats.api_calls += 1;
    let response = answer(state, request, resource, now);
    if response.status == 401 {
        state.stats.api_unauthorized += 1;
    }
    response
}

fn answer(state: &mut State, request: &Request, resource: Resource, now: Instant) -> Response {
    let allowed = match resource {
        Resource::Session => "GET",
        Resource::SessionNetwork => "PUT",
    };
    if request.method != allowed {
        return api_error(405, "method_not_allowed", "Method not allowed").header("Allow", allowed);
    }
    let Some(token) = bearer(request.header("authorization")) else {
        return api_error(401, "unauthorized", "Missing bearer token");
    };
    if let Err(e) = state.check_bearer(token, now) {
        return unusable(e);
    }
    match resource {
        Resource::Session => match state.session_view(token, now) {
            Ok(view) => Response::json(
                200,
                &json!({
                    "network": view.network.map(|n| json!({"id": n.id, "name": n.name})),
                    "authorizationScope": view.scope,
                    "user": view.username.map(|u| json!({"login": u})),
                }),
            ),
            Err(e) => unusable(e),
        },
        Resource::SessionNetwork => {
            let Ok(body) = serde_json::from_slice::<Value>(&request.body) else {
                return api_error(
                    400,
                    "bad_request",
                    "Body must be JSON: {\"name\": …} or {\"id\": …}",
                );
            };
            let network = match (body.get("id"), body.get("name")) {
                (Some(id), _) => id.as_u64().and_then(|id| state.network_by_id(id)),
                (None, Some(name)) => name.as_str().and_then(|n| state.network_by_name(n)),
                (None, None) => {
                    return api_error(
                        400,
                        "bad_request",
                        "Give the network as {\"name\": …} or {\"id\": …}",
                    );
                }
            };
            let Some(network) = network else {
                return api_error(400, "network_not_found", "Network not found");
            };
            match state.select_network(token, network, now) {
                Ok(()) => Response::empty(204),
                Err(e) => unusable(e),
            }
        }
    }
}

fn unusable(e: Unusable) -> Response {
    match e {
        Unusable::Invalid => api_error(401, "unauthorized", "Invalid or expired access token"),
        Unusable::SessionEnded => api_error(410, "session_ended", "The token's session has ended"),
    }
}

/// The token of `Authorization: Bearer <token>` (scheme case-insensitive).
fn bearer(header: Option<&str>) -> Option<&str> {
    let (scheme, token) = header?.trim().split_once(' ')?;
    let token = token.trim();
    (scheme.eq_ignore_ascii_case("bearer") && !token.is_empty()).then_some(token)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn paths_match_case_insensitively_on_both_versions() {
        use Resource::*;
        assert_eq!(
            resource("/2022/06/REST/Self/Session/Network"),
            Some(SessionNetwork)
        );
        assert_eq!(
            resource("/2022/06/rest/self/session/network"),
            Some(SessionNetwork)
        );
        assert_eq!(resource("/2020/10/REST/Self/Session/"), Some(Session));
        assert_eq!(resource("/2022/06/REST/Self/Session"), Some(Session));
        assert_eq!(resource("/2022/06/REST/Self/Sessions"), None);
        assert_eq!(resource("/2021/01/REST/Self/Session"), None);
        assert_eq!(resource("/2022/06/REST/Self/Session/Network/x"), None);
        assert_eq!(resource(""), None);
    }

    #[test]
    fn bearer_parsing() {
        assert_eq!(bearer(Some("Bearer abc")), Some("abc"));
        assert_eq!(bearer(Some("bearer  abc ")), Some("abc"));
        assert_eq!(bearer(Some("Basic abc")), None);
        assert_eq!(bearer(Some("Bearer ")), None);
        assert_eq!(bearer(None), None);
    }
}
