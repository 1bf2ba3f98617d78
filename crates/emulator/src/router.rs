//! Maps a request to its handler, after giving queued faults the first say.

use std::sync::{Mutex, MutexGuard};
use std::time::Instant;

use serde_json::json;

use super::faults::{Fault, FaultQueue, Surface};
use super::http::{Reply, Request, Response};
use super::rest::{self, Resource};
use super::state::State;
use super::token::{self, REVOKE_PATH, TOKEN_PATH};

/// Everything the connection threads share. One mutex for the realm keeps each token
/// operation and its counters consistent; faults have their own so a sleeping `slow`
/// fault never blocks anyone.
pub struct Shared {
    pub state: Mutex<State>,
    pub faults: Mutex<FaultQueue>,
}

/// Locks, recovering from poisoning: a panicked handler must not take the emulator down.
pub fn lock<T>(mutex: &Mutex<T>) -> MutexGuard<'_, T> {
    mutex.lock().unwrap_or_else(|e| e.into_inner())
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Route {
    Token,
    Revoke,
    Rest(Resource),
    Stats,
    AdminFaults,
    AdminResetStats,
    AdminEndSessions,
    NotFound,
}

fn route(path: &str) -> Route {
    match path {
        // Keycloak paths are case-sensitive (realm names are), so no folding here.
        TOKEN_PATH => Route::Token,
        REVOKE_PATH => Route::Revoke,
        "/stats" => Route::Stats,
        "/admin/faults" => Route::AdminFaults,
        "/admin/reset-stats" => Route::AdminResetStats,
        "/admin/end-sessions" => Route::AdminEndSessions,
        _ => rest::resource(path).map_or(Route::NotFound, Route::Rest),
    }
}

/// Produces the reply for one parsed request.
pub fn respond(shared: &Shared, request: &Request) -> Reply {
    let route = route(&request.path);
    let surface = match route {
        Route::Token => Some(Surface::Token),
        Route::Rest(_) => Some(Surface::Api),
        _ => None,
    };
    if let Some(surface) = surface {
        let fault = lock(&shared.faults).take(surface);
        if let Some(fault) = fault {
            lock(&shared.state).stats.faults_served += 1;
            if let Some(reply) = fault.reply() {
                return reply;
            }
            if let Some(delay) = fault.delay() {
                std::thread::sleep(delay);
            }
        }
    }

    let now = Instant::now();
    Reply::Send(match route {
        Route::Token => token::handle(&mut lock(&shared.state), request, now),
        Route::Revoke => token::handle_revoke(&mut lock(&shared.state), request, now),
        Route::Rest(resource) => rest::handle(&mut lock(&shared.state), request, resource, now),
        Route::Stats => only(request, "GET", || {
            Response::serialize(200, &snapshot(shared, now))
        }),
        Route::AdminFaults => only(request, "POST", || queue_fault(shared, request)),
        Route::AdminResetStats => only(request, "POST", || {
            lock(&shared.state).stats = Default::default();
            Response::empty(204)
        }),
        Route::AdminEndSessions => only(request, "POST", || {
            lock(&shared.state).end_sessions();
            Response::empty(204)
        }),
        Route::NotFound => Response::json(
            404,
            &json!({"error": "not_found", "error_description": format!("No such path: {}", request.path)}),
        ),
    })
}

/// The counters with `active_tokens` computed for `now`.
pub fn snapshot(shared: &Shared, now: Instant) -> super::Stats {
    let state = lock(&shared.state);
    let mut stats = state.stats.clone();
    stats.active_tokens = state.active_now(now);
    stats
}

fn only(request: &Request, method: &'static str, answer: impl FnOnce() -> Response) -> Response {
    if request.method == method {
        answer()
    } else {
        Response::json(
            405,
            &json!({"error": "method_not_allowed", "error_description": format!("Use {method}")}),
        )
        .header("Allow", method)
    }
}

/// `POST /admin/faults` with a `Fault` as JSON → 200 `{"queued": <pending fault units>}`.
fn queue_fault(shared: &Shared, request: &Request) -> Response {
    let fault: Fault = match serde_json::from_slice(&request.body) {
        Ok(f) => f,
        Err(e) => {
            return Response::json(
                400,
                &json!({"error": "invalid_fault", "error_description": e.to_string()}),
            );
        }
    };
    if fault.count == 0 {
        return Response::json(
            400,
            &json!({"error": "invalid_fault", "error_description": "count must be at least 1"}),
        );
    }
    let mut faults = lock(&shared.faults);
    faults.push(fault);
    Response::json(200, &json!({"queued": faults.len()}))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn routes() {
        assert_eq!(route(TOKEN_PATH), Route::Token);
        assert_eq!(route(REVOKE_PATH), Route::Revoke);
        assert_eq!(
            route("/realms/BSNCLOUD/protocol/openid-connect/token"),
            Route::NotFound
        );
        assert_eq!(
            route("/2022/06/rest/self/session"),
            Route::Rest(Resource::Session)
        );
        assert_eq!(route("/stats"), Route::Stats);
        assert_eq!(route("/admin/faults"), Route::AdminFaults);
        assert_eq!(route("/admin/reset-stats"), Route::AdminResetStats);
        assert_eq!(route("/admin/end-sessions"), Route::AdminEndSessions);
        assert_eq!(route("/"), Route::NotFound);
    }
}
