//! Native protocol v1: the JSON a caller writes on stdin and reads on stdout (protocol.md).
//!
//! Requests ignore unknown fields (peers may be newer than us); wrong types are errors.
//! Responses are built only from these types, so protocol.md and the snapshots in
//! tests cover everything a caller can see.

use crate::error::{Error, ErrorCode, Result};
use crate::secret::Secret;
use serde::{Deserialize, Serialize};

pub const VERSION: u32 = 1;

/// `get` request. Every field is optional; empty stdin means all defaults.
#[derive(Debug, Default, Deserialize, PartialEq)]
pub struct GetRequest {
    pub version: Option<u32>,
    pub profile: Option<String>,
    /// Seconds the returned token must still be valid.
    pub min_ttl: Option<u64>,
    /// A token an API just refused (401/403): never returned again, and it causes a
    /// refresh only if the cache still holds exactly this token.
    pub rejected_token: Option<Secret<String>>,
    #[serde(default)]
    pub force_refresh: bool,
}

impl GetRequest {
    pub fn parse(input: &str) -> Result<GetRequest> {
        if input.trim().is_empty() {
            return Ok(GetRequest::default());
        }
        let req: GetRequest = serde_json::from_str(input).map_err(|e| {
            Error::invalid_request(format!(
                "stdin is not a valid protocol v1 request: {}",
                scrub_quoted(&e.to_string())
            ))
        })?;
        match req.version {
            None | Some(VERSION) => Ok(req),
            Some(v) => Err(Error::invalid_request(format!(
                "request version {v} is not supported; this helper speaks protocol version {VERSION}"
            ))),
        }
    }
}

/// serde_json quotes offending string values in its messages; a caller may have put a
/// token in the wrong field, so drop whatever stood between quotes.
fn scrub_quoted(message: &str) -> String {
    let mut out = String::with_capacity(message.len());
    let mut inside = false;
    for c in message.chars() {
        if c == '"' {
            if !inside {
                out.push_str("\"…");
            } else {
                out.push('"');
            }
            inside = !inside;
        } else if !inside {
            out.push(c);
        }
    }
    out
}

/// Where the returned token came from.
#[non_exhaustive]
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum Source {
    Cache,
    Refresh,
    Login,
    /// The fleet entry in the shared cache (another host renewed it).
    Shared,
    /// Any value a newer helper may add.
    #[serde(other)]
    Unknown,
}

/// Success answer of `get`.
#[derive(Debug, Serialize, Deserialize, PartialEq)]
pub struct TokenResponse {
    pub version: u32,
    pub profile: String,
    pub token_type: String,
    pub access_token: Secret<String>,
    /// RFC 3339, UTC, whole seconds, `Z`.
    pub expires_at: String,
    pub expires_in: u64,
    pub network: Option<String>,
    pub scope: Option<String>,
    pub source: Source,
    /// Present when the token is returned despite a problem (e.g. endpoint unreachable).
    #[serde(skip_serializing_if = "Option::is_none", default)]
    pub warning: Option<String>,
}

#[derive(Debug, Serialize, PartialEq)]
pub struct ErrorBody {
    pub code: ErrorCode,
    pub message: String,
}

/// Failure answer of `get`: `{"version":1,"error":{"code":…,"message":…}}`.
#[derive(Debug, Serialize, PartialEq)]
pub struct ErrorResponse {
    pub version: u32,
    pub error: ErrorBody,
}

impl From<&Error> for ErrorResponse {
    fn from(e: &Error) -> Self {
        ErrorResponse {
            version: VERSION,
            error: ErrorBody {
                code: e.code,
                message: e.message.clone(),
            },
        }
    }
}

pub fn to_json_line<T: Serialize>(value: &T) -> String {
    // Our response types hold only strings and integers: serialization cannot fail.
    serde_json::to_string(value).unwrap_or_else(|_| String::from("{}"))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn empty_stdin_is_all_defaults() {
        assert_eq!(GetRequest::parse("").unwrap(), GetRequest::default());
        assert_eq!(GetRequest::parse(" \n").unwrap(), GetRequest::default());
    }

    #[test]
    fn full_request_parses_exactly() {
        let req = GetRequest::parse(
            r#"{"version":1,"profile":"prod","min_ttl":120,"rejected_token":"abc","force_refresh":true,"future_field":[1]}"#,
        )
        .unwrap();
        assert_eq!(
            req,
            GetRequest {
                version: Some(1),
                profile: Some("prod".into()),
                min_ttl: Some(120),
                rejected_token: Some(Secret::new("abc".into())),
                force_refresh: true,
            }
        );
    }

    #[test]
    fn wrong_types_are_invalid_request_without_echoing_values() {
        let err = GetRequest::parse(r#"{"min_ttl":"eyJsecret-token"}"#).unwrap_err();
        assert_eq!(err.code, ErrorCode::InvalidRequest);
        assert!(!err.message.contains("eyJsecret"), "{}", err.message);
        assert!(err.message.contains("expected u64"), "{}", err.message);
        let err = GetRequest::parse("[1,2]").unwrap_err();
        assert_eq!(err.code, ErrorCode::InvalidRequest);
        let err = GetRequest::parse(r#"{"version":2}"#).unwrap_err();
        assert!(err.message.contains("version 2"), "{}", err.message);
    }

    #[test]
    fn response_json_is_exact_both_ways() {
        let resp = TokenResponse {
            version: 1,
            profile: "default".into(),
            token_type: "Bearer".into(),
            access_token: Secret::new("at-1".into()),
            expires_at: "2026-11-30T04:05:00Z".into(),
            expires_in: 240,
            network: Some("Demo".into()),
            scope: None,
            source: Source::Refresh,
            warning: None,
        };
        let json = r#"{"version":1,"profile":"default","token_type":"Bearer","access_token":"at-1","expires_at":"2026-11-30T04:05:00Z","expires_in":240,"network":"Demo","scope":null,"source":"refresh"}"#;
        assert_eq!(to_json_line(&resp), json);
        assert_eq!(serde_json::from_str::<TokenResponse>(json).unwrap(), resp);
        let newer = json.replace("\"refresh\"", "\"device_code\"");
        assert_eq!(
            serde_json::from_str::<TokenResponse>(&newer)
                .unwrap()
                .source,
            Source::Unknown
        );
    }

    #[test]
    fn error_json_is_exact() {
        let e = Error::lock_timeout("waited 30s");
        assert_eq!(
            to_json_line(&ErrorResponse::from(&e)),
            r#"{"version":1,"error":{"code":"lock_timeout","message":"waited 30s"}}"#
        );
    }
}
