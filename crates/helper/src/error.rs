//! The one error type that reaches the caller: a stable code (protocol.md) and a message.
//!
//! Messages are sentence-case, say what to change, and never contain a secret: they are
//! built from our own words, names of settings and sanitized server error codes only.

use serde::Serialize;
use std::fmt;
use std::process::ExitCode;

/// Stable error codes of protocol v1. Each has its own exit code; see protocol.md.
/// Callers must accept codes a newer helper adds (protocol.md, versioning).
#[non_exhaustive]
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
#[serde(rename_all = "snake_case")]
pub enum ErrorCode {
    InvalidRequest,
    Config,
    InvalidCredentials,
    LoginRequired,
    Network,
    Server,
    RateLimited,
    LockTimeout,
    Cache,
    NetworkSelection,
    Internal,
}

impl ErrorCode {
    pub fn as_str(self) -> &'static str {
        match self {
            ErrorCode::InvalidRequest => "invalid_request",
            ErrorCode::Config => "config",
            ErrorCode::InvalidCredentials => "invalid_credentials",
            ErrorCode::LoginRequired => "login_required",
            ErrorCode::Network => "network",
            ErrorCode::Server => "server",
            ErrorCode::RateLimited => "rate_limited",
            ErrorCode::LockTimeout => "lock_timeout",
            ErrorCode::Cache => "cache",
            ErrorCode::NetworkSelection => "network_selection",
            ErrorCode::Internal => "internal",
        }
    }

    /// Exit status for this class. 1 is left for "failed before we could classify".
    pub fn exit_code(self) -> u8 {
        match self {
            ErrorCode::InvalidRequest => 2,
            ErrorCode::Config => 3,
            ErrorCode::InvalidCredentials => 4,
            ErrorCode::LoginRequired => 5,
            ErrorCode::Network => 6,
            ErrorCode::Server => 7,
            ErrorCode::RateLimited => 8,
            ErrorCode::LockTimeout => 9,
            ErrorCode::Cache => 10,
            ErrorCode::NetworkSelection => 11,
            ErrorCode::Internal => 12,
        }
    }

    pub const ALL: [ErrorCode; 11] = [
        ErrorCode::InvalidRequest,
        ErrorCode::Config,
        ErrorCode::InvalidCredentials,
        ErrorCode::LoginRequired,
        ErrorCode::Network,
        ErrorCode::Server,
        ErrorCode::RateLimited,
        ErrorCode::LockTimeout,
        ErrorCode::Cache,
        ErrorCode::NetworkSelection,
        ErrorCode::Internal,
    ];
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Error {
    pub code: ErrorCode,
    pub message: String,
}

pub type Result<T, E = Error> = std::result::Result<T, E>;

impl Error {
    pub fn new(code: ErrorCode, message: impl Into<String>) -> Self {
        Error {
            code,
            message: message.into(),
        }
    }

    pub fn exit_code(&self) -> ExitCode {
        ExitCode::from(self.code.exit_code())
    }
}

macro_rules! constructors {
    ($($name:ident => $code:ident),* $(,)?) => {
        impl Error {
            $(pub fn $name(message: impl Into<String>) -> Self {
                Error::new(ErrorCode::$code, message)
            })*
        }
    };
}

constructors! {
    invalid_request => InvalidRequest,
    config => Config,
    invalid_credentials => InvalidCredentials,
    login_required => LoginRequired,
    network => Network,
    server => Server,
    rate_limited => RateLimited,
    lock_timeout => LockTimeout,
    cache => Cache,
    network_selection => NetworkSelection,
    internal => Internal,
}

impl fmt::Display for Error {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.message)
    }
}

impl std::error::Error for Error {}

/// The one error sink: every error line the helper prints goes through here.
pub fn report(e: &Error) {
    print_error(&e.message);
}

/// An error line that is not an `Error` (exec's launch failures keep the shell's codes).
pub fn print_error(message: &str) {
    crate::log::line(format_args!("bsn-credential-helper: error: {message}"));
}

/// A token is handed out despite a problem.
pub fn warn(message: &str) {
    crate::log::line(format_args!("bsn-credential-helper: warning: {message}"));
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn codes_and_exit_codes_are_distinct() {
        let mut exits: Vec<u8> = ErrorCode::ALL.iter().map(|c| c.exit_code()).collect();
        exits.sort();
        exits.dedup();
        assert_eq!(exits.len(), ErrorCode::ALL.len());
        assert!(!exits.contains(&0) && !exits.contains(&1));
        for c in ErrorCode::ALL {
            assert_eq!(
                serde_json::to_value(c).unwrap(),
                serde_json::Value::String(c.as_str().into())
            );
        }
    }
}
