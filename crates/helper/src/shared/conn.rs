//! Opening the Redis connection with explicit timeouts, and describing failures without the
//! URL's user name or password (only `RedisUrl::display` ever reaches a message).

use crate::config::SharedCache;
use redis::IntoConnectionInfo;
use std::fmt;

/// Why the shared store did not answer. The message names the store by its display form
/// and never includes credentials or values.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct FleetError {
    pub message: String,
}

impl fmt::Display for FleetError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.message)
    }
}

pub type FleetResult<T> = Result<T, FleetError>;

/// Describes `e` in our own words: the crate's text could quote a server reply.
pub fn describe(store: &str, doing: &str, e: &redis::RedisError) -> FleetError {
    // The TLS error itself is not reachable through the error chain (the crate and io::Error
    // both skip it), so it is recognised by rustls's wording and described in ours: the
    // certificate's own text is chosen by the server.
    let text = e.to_string();
    let mut fix = "";
    let why = if text.contains("invalid peer certificate") {
        fix = "; for a private CA set SSL_CERT_FILE or SSL_CERT_DIR to its certificate";
        "presented a TLS certificate that is not trusted".to_string()
    } else if text.contains("received corrupt message") || text.contains("InvalidContentType") {
        "does not speak TLS (use redis:// for a plain server, or the TLS port)".to_string()
    } else if e.is_timeout() {
        "did not answer in time".to_string()
    } else if e.is_connection_refusal() {
        "refused the connection".to_string()
    } else if e.kind() == redis::ErrorKind::AuthenticationFailed
        || e.code().is_some_and(|c| c == "WRONGPASS" || c == "NOAUTH")
    {
        "refused the credentials (check the URL's user and BSN_SHARED_CACHE_PASSWORD)".to_string()
    } else if e.is_io_error() || e.is_connection_dropped() {
        "closed the connection".to_string()
    } else if let Some(code) = e.code() {
        format!(
            "answered with a {} error",
            code.chars()
                .filter(|c| c.is_ascii_alphanumeric())
                .take(24)
                .collect::<String>()
        )
    } else {
        "could not be used".to_string()
    };
    FleetError {
        message: format!("shared cache {store} {why} while {doing}{fix}"),
    }
}

/// Connects with the configured timeout for connect, handshake, reads and writes. The
/// password comes from the URL, or from `password` (which wins) once resolved.
pub fn connect(cfg: &SharedCache, password: Option<&str>) -> FleetResult<redis::Connection> {
    let store = &cfg.url.display;
    let invalid = || FleetError {
        message: format!(
            "shared cache {store}: the URL is not usable; check BSN_SHARED_CACHE (shared_cache)"
        ),
    };
    let mut info = cfg
        .url
        .full
        .expose()
        .as_str()
        .into_connection_info()
        .map_err(|_| invalid())?;
    // No CLIENT SETINFO: a host that finds the entry renewed then sends one pipelined read.
    let mut settings = info.redis_settings().clone().set_skip_set_lib_name();
    if let Some(pw) = password {
        settings = settings.set_password(pw);
    }
    info = info.set_redis_settings(settings);
    let client = redis::Client::open(info).map_err(|_| invalid())?;
    let con = client
        .get_connection_with_timeout(cfg.timeout)
        .map_err(|e| describe(store, "connecting", &e))?;
    // The crate bounds connect and handshake only, then resets both to "wait forever".
    con.set_read_timeout(Some(cfg.timeout))
        .and_then(|()| con.set_write_timeout(Some(cfg.timeout)))
        .map_err(|e| describe(store, "connecting", &e))?;
    Ok(con)
}
