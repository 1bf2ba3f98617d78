//! Faults on demand: queue a misbehaviour, and the next matching request gets it instead of
//! a normal answer. This is how the helper's handling of outages, rate limits and broken
//! responses is tested without a flaky network.

use std::collections::VecDeque;
use std::time::Duration;

use serde::{Deserialize, Serialize};

use super::http::{Reply, Response};

#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum FaultKind {
    /// 503 with an HTML body, like a load balancer in front of a dead backend.
    ServerError,
    /// 500 with an HTML body: the server failed while processing the request, so whatever
    /// it consumed (a refresh token) may be spent.
    InternalError,
    /// 429 with `Retry-After: retry_after` and a JSON error.
    RateLimited,
    /// 200 whose `Content-Length` promises more than is sent: the JSON stops mid-way.
    TruncatedJson,
    /// Sleep `delay_ms`, then answer normally (the only fault that lets the request through).
    Slow,
    /// Close the connection without any response.
    Drop,
    /// 200 with a valid JSON body of about 8 MiB, to test response-size caps.
    Oversized,
    /// 200 claiming JSON, with a body that isn't.
    Garbage,
    /// 401 with a JSON error: the token or its session is gone (Keycloak after a logout).
    Unauthorized,
}

/// Which requests a fault may hit. Admin endpoints and `/stats` are never faulted, so a
/// test can always read back what happened.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum FaultTarget {
    /// The token endpoint.
    #[default]
    Token,
    /// The BSN REST surface (`…/REST/Self/Session…`).
    Api,
    /// Either.
    Any,
}

/// One queued fault; the JSON body of `POST /admin/faults`, e.g.
/// `{"kind":"rate_limited","count":2,"target":"any","retry_after":3}`.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Fault {
    pub kind: FaultKind,
    /// How many matching requests this fault consumes.
    #[serde(default = "one")]
    pub count: u32,
    #[serde(default)]
    pub target: FaultTarget,
    /// Seconds in `Retry-After` for `rate_limited`.
    #[serde(default = "one_u64")]
    pub retry_after: u64,
    /// Delay for `slow`, in milliseconds.
    #[serde(default = "five_seconds")]
    pub delay_ms: u64,
}

fn one() -> u32 {
    1
}
fn one_u64() -> u64 {
    1
}
fn five_seconds() -> u64 {
    5000
}

impl Fault {
    /// A fault with the documented defaults: once, on the token endpoint.
    pub fn new(kind: FaultKind) -> Self {
        Fault {
            kind,
            count: 1,
            target: FaultTarget::default(),
            retry_after: 1,
            delay_ms: 5000,
        }
    }

    pub fn count(self, count: u32) -> Self {
        Fault { count, ..self }
    }

    pub fn target(self, target: FaultTarget) -> Self {
        Fault { target, ..self }
    }

    pub fn retry_after(self, retry_after: u64) -> Self {
        Fault {
            retry_after,
            ..self
        }
    }

    pub fn delay_ms(self, delay_ms: u64) -> Self {
        Fault { delay_ms, ..self }
    }

    /// How long to stall first (only `slow` does).
    pub fn delay(&self) -> Option<Duration> {
        (self.kind == FaultKind::Slow).then(|| Duration::from_millis(self.delay_ms))
    }

    /// The canned answer that replaces normal processing; `None` for `slow`, which lets the
    /// request through after its delay.
    pub fn reply(&self) -> Option<Reply> {
        let token_json = r#"{"access_token":"emu-at-fault","expires_in":300,"refresh_expires_in":0,"token_type":"Bearer","not-before-policy":0,"scope":"bsn.api.main.operations"}"#;
        Some(match self.kind {
            FaultKind::Slow => return None,
            FaultKind::Drop => Reply::Hangup,
            FaultKind::ServerError => Reply::Send(Response::with_body(
                503,
                "text/html",
                "<html><head><title>503 Service Temporarily Unavailable</title></head>\
                 <body><h1>503 Service Temporarily Unavailable</h1>\
                 <p>emulated fault</p></body></html>\n",
            )),
            FaultKind::InternalError => Reply::Send(Response::with_body(
                500,
                "text/html",
                "<html><head><title>500 Internal Server Error</title></head>\
                 <body><h1>Internal Server Error</h1>\
                 <p>emulated fault</p></body></html>\n",
            )),
            FaultKind::RateLimited => Reply::Send(
                Response::json(
                    429,
                    &serde_json::json!({
                        "error": "rate_limited",
                        "error_description": "Too many requests (emulated fault)"
                    }),
                )
                .header("Retry-After", self.retry_after.to_string()),
            ),
            FaultKind::TruncatedJson => {
                let response = Response::with_body(200, "application/json", token_json);
                let half = token_json.len() / 2;
                Reply::Truncate(response, half)
            }
            FaultKind::Oversized => {
                let padding = "x".repeat(8 * 1024 * 1024);
                // The token JSON with a huge extra field: valid, so only a size cap saves
                // the client.
                let open = token_json.strip_suffix('}').unwrap_or(token_json);
                let body = format!("{open},\"padding\":\"{padding}\"}}");
                Reply::Send(Response::with_body(200, "application/json", body))
            }
            FaultKind::Garbage => Reply::Send(Response::with_body(
                200,
                "application/json",
                "Gateway says hello: this is not JSON at all\n",
            )),
            FaultKind::Unauthorized => Reply::Send(Response::json(
                401,
                &serde_json::json!({
                    "error": "invalid_token",
                    "error_description": "Session not active (emulated fault)"
                }),
            )),
        })
    }
}

/// The kind of endpoint a request hit, for matching `FaultTarget`.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Surface {
    Token,
    Api,
}

/// FIFO of pending faults; each matching request consumes one unit of the first match.
#[derive(Debug, Default)]
pub struct FaultQueue {
    pending: VecDeque<Fault>,
}

impl FaultQueue {
    pub fn push(&mut self, fault: Fault) {
        if fault.count > 0 {
            self.pending.push_back(fault);
        }
    }

    pub fn len(&self) -> usize {
        self.pending.iter().map(|f| f.count as usize).sum()
    }

    /// Takes one unit of the first fault aimed at `surface`, if any.
    pub fn take(&mut self, surface: Surface) -> Option<Fault> {
        let index = self.pending.iter().position(|f| match f.target {
            FaultTarget::Any => true,
            FaultTarget::Token => surface == Surface::Token,
            FaultTarget::Api => surface == Surface::Api,
        })?;
        let fault = &mut self.pending[index];
        fault.count -= 1;
        let taken = fault.clone();
        if fault.count == 0 {
            self.pending.remove(index);
        }
        Some(taken)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn json_defaults_and_strictness() {
        let f: Fault = serde_json::from_str(r#"{"kind":"slow"}"#).unwrap();
        assert_eq!(f, Fault::new(FaultKind::Slow));
        let f: Fault = serde_json::from_str(
            r#"{"kind":"rate_limited","count":2,"target":"any","retry_after":7}"#,
        )
        .unwrap();
        assert_eq!(
            f,
            Fault::new(FaultKind::RateLimited)
                .count(2)
                .target(FaultTarget::Any)
                .retry_after(7)
        );
        assert!(serde_json::from_str::<Fault>(r#"{"kind":"nope"}"#).is_err());
        assert!(serde_json::from_str::<Fault>(r#"{"kind":"slow","delay":1}"#).is_err());
    }

    #[test]
    fn queue_is_fifo_per_surface() {
        let mut q = FaultQueue::default();
        q.push(Fault::new(FaultKind::Drop).target(FaultTarget::Api));
        q.push(Fault::new(FaultKind::Garbage).count(2));
        q.push(Fault::new(FaultKind::Slow).count(0));
        assert_eq!(q.len(), 3);
        assert_eq!(q.take(Surface::Token).unwrap().kind, FaultKind::Garbage);
        assert_eq!(q.take(Surface::Api).unwrap().kind, FaultKind::Drop);
        assert_eq!(q.take(Surface::Api), None);
        assert_eq!(q.take(Surface::Token).unwrap().kind, FaultKind::Garbage);
        assert_eq!(q.take(Surface::Token), None);
    }

    #[test]
    fn oversized_is_valid_json_over_8_mib() {
        let Some(Reply::Send(r)) = Fault::new(FaultKind::Oversized).reply() else {
            panic!("expected a full reply");
        };
        assert!(r.body.len() >= 8 * 1024 * 1024);
        let v: serde_json::Value = serde_json::from_slice(&r.body).unwrap();
        assert_eq!(v["access_token"], "emu-at-fault");
    }

    #[test]
    fn internal_error_is_500_and_server_error_503() {
        for (kind, status) in [
            (FaultKind::InternalError, 500),
            (FaultKind::ServerError, 503),
        ] {
            let Some(Reply::Send(r)) = Fault::new(kind).reply() else {
                panic!("expected a full reply");
            };
            assert_eq!(r.status, status);
        }
        let f: Fault = serde_json::from_str(r#"{"kind":"internal_error"}"#).unwrap();
        assert_eq!(f.kind, FaultKind::InternalError);
    }

    #[test]
    fn truncated_is_cut_json() {
        let Some(Reply::Truncate(r, cut)) = Fault::new(FaultKind::TruncatedJson).reply() else {
            panic!("expected a truncated reply");
        };
        assert!(cut < r.body.len());
        assert!(serde_json::from_slice::<serde_json::Value>(&r.body[..cut]).is_err());
    }
}
