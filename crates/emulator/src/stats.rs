//! Counters served at `GET /stats`, so tests (and curious users) can check what a client
//! really did: how many tokens it minted, whether it reused a refresh token, and so on.

use serde::{Deserialize, Serialize};

/// The `/stats` JSON. Unknown fields are ignored and missing ones default to 0 when
/// deserializing, so older and newer emulators stay readable by each other.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(default)]
pub struct Stats {
    /// Well-formed token requests (a known `grant_type`), whatever their outcome.
    pub token_requests: TokenRequests,
    /// Access tokens issued (refresh tokens come with them and are not counted twice).
    pub tokens_issued: u64,
    /// Token endpoint error responses by OAuth `error` code.
    pub refused: Refused,
    /// Already-used refresh tokens presented again.
    pub refresh_tokens_reused: u64,
    /// Sessions ended because of such reuse (Keycloak's theft detection).
    pub sessions_ended_by_reuse: u64,
    /// Successful `PUT …/Self/Session/Network`.
    pub network_selections: u64,
    /// Requests to the BSN REST surface, including refused ones.
    pub api_calls: u64,
    /// REST requests answered 401.
    pub api_unauthorized: u64,
    /// Peak number of unexpired access tokens held by any single client at once.
    pub max_active_tokens: u64,
    /// Unexpired access tokens of the busiest client right now (computed on read).
    pub active_tokens: u64,
    /// Requests answered by an injected fault.
    pub faults_served: u64,
    /// Well-authenticated requests to the revocation endpoint (RFC 7009).
    pub revocations: u64,
}

#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(default)]
pub struct TokenRequests {
    pub client_credentials: u64,
    pub password: u64,
    pub refresh_token: u64,
}

#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(default)]
pub struct Refused {
    pub invalid_request: u64,
    pub unauthorized_client: u64,
    pub invalid_grant: u64,
    pub unsupported_grant_type: u64,
    pub too_many_active_tokens: u64,
}

impl Refused {
    /// Counts one error response by its OAuth `error` code.
    pub fn count(&mut self, code: &str) {
        let counter = match code {
            "invalid_request" => &mut self.invalid_request,
            "unauthorized_client" => &mut self.unauthorized_client,
            "invalid_grant" => &mut self.invalid_grant,
            "unsupported_grant_type" => &mut self.unsupported_grant_type,
            "too_many_active_tokens" => &mut self.too_many_active_tokens,
            _ => return,
        };
        *counter += 1;
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn json_shape_is_stable() {
        let json = serde_json::to_value(Stats::default()).unwrap();
        assert_eq!(
            json,
            serde_json::json!({
                "token_requests": {"client_credentials": 0, "password": 0, "refresh_token": 0},
                "tokens_issued": 0,
                "refused": {"invalid_request": 0, "unauthorized_client": 0, "invalid_grant": 0,
                            "unsupported_grant_type": 0, "too_many_active_tokens": 0},
                "refresh_tokens_reused": 0, "sessions_ended_by_reuse": 0,
                "network_selections": 0, "api_calls": 0, "api_unauthorized": 0,
                "max_active_tokens": 0, "active_tokens": 0, "faults_served": 0,
                "revocations": 0
            })
        );
        let back: Stats = serde_json::from_str(r#"{"tokens_issued": 3, "new_field": 1}"#).unwrap();
        assert_eq!(back.tokens_issued, 3);
    }
}
