//! The transport under both conversations (token endpoint, BSN API): one overall deadline,
//! no redirects, a capped body, no proxy for loopback, and every failure classified by
//! whether the request can have reached the server — the fact the broker's refresh-token
//! rule turns on.

use crate::secret::Secret;
use crate::url::HttpUrl;
use std::io::Read;
use std::time::{Duration, Instant};

/// Answers we read are a few hundred bytes; anything past this is not our server.
const MAX_BODY: u64 = 256 * 1024;
pub const ATTEMPTS: u32 = 3;
pub const FIRST_BACKOFF: Duration = Duration::from_millis(250);

/// Outcome of one HTTP exchange, before deciding whether to retry.
#[derive(Debug)]
pub enum Attempt {
    /// The server answered (any status but 429 and 5xx).
    Done(u16, Vec<u8>),
    /// The request provably never left this machine: nothing can have been consumed.
    NotSent(String),
    /// Sent (or maybe sent), then failed: the server may have acted on it.
    Lost(String),
    /// 429 or 5xx: status, Retry-After, and the body (for the server's explanation).
    Retry(u16, Option<Duration>, Vec<u8>),
}

pub struct Request<'a> {
    pub method: attohttpc::Method,
    pub url: &'a str,
    /// Whether `url` is loopback (then no proxy may see the traffic).
    pub loopback: bool,
    pub authorization: Option<&'a Secret<String>>,
    /// Content type and body.
    pub body: Option<(&'a str, &'a str)>,
}

impl<'a> Request<'a> {
    pub fn new(method: attohttpc::Method, url: &'a str, base: &HttpUrl) -> Request<'a> {
        Request {
            method,
            url,
            loopback: base.is_loopback(),
            authorization: None,
            body: None,
        }
    }
}

/// Sends `req` once, within what is left of `deadline`; `budget` names the setting that
/// sets the deadline, for the message when none is left.
pub fn send(req: &Request, deadline: Instant, budget: &str) -> Attempt {
    send_dated(req, deadline, budget).0
}

/// `send`, also returning the server's `Date` header: the renewal and `doctor` compare
/// clocks with it.
pub fn send_dated(req: &Request, deadline: Instant, budget: &str) -> (Attempt, Option<String>) {
    let remaining = deadline.saturating_duration_since(Instant::now());
    if remaining.is_zero() {
        return (
            Attempt::NotSent(format!("no time left within {budget}")),
            None,
        );
    }
    if let Some(unresolved) = resolve_first(req) {
        return (unresolved, None);
    }
    match build(req, remaining).map(|mut prepared| prepared.send()) {
        Ok(Ok(response)) => {
            let date = (response.headers().get("date"))
                .and_then(|v| v.to_str().ok())
                .map(|d| d.chars().take(64).collect());
            (exchange(Ok(response)), date)
        }
        Ok(Err(e)) => (exchange(Err(e)), None),
        Err(why) => (Attempt::NotSent(why), None),
    }
}

fn build(
    req: &Request,
    remaining: Duration,
) -> Result<attohttpc::PreparedRequest<impl attohttpc::body::Body>, String> {
    let invalid = |what: &str| format!("the request could not be built ({what})");
    let mut builder = attohttpc::RequestBuilder::try_new(req.method.clone(), req.url)
        .map_err(|_| invalid("URL"))?
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
    if req.loopback {
        // A proxy must never see loopback traffic (the emulator, tests).
        builder = builder.proxy_settings(attohttpc::ProxySettings::builder().build());
    }
    if let Some(auth) = req.authorization {
        // try_header: a value with CR/LF is refused here instead of panicking.
        builder = builder
            .try_header("Authorization", auth.expose().as_str())
            .map_err(|_| invalid("the Authorization header is not a valid header value"))?;
    }
    let (content_type, text) = req.body.unwrap_or(("text/plain", ""));
    if req.body.is_some() {
        builder = builder.header("Content-Type", content_type);
    }
    builder
        .text(text)
        .try_prepare()
        .map_err(|_| invalid("headers"))
}

fn exchange(result: attohttpc::Result<attohttpc::Response>) -> Attempt {
    let response = match result {
        Ok(r) => r,
        Err(e) => return classify(&e),
    };
    let status = response.status().as_u16();
    let header = |name: &str| {
        response
            .headers()
            .get(name)
            .and_then(|v| v.to_str().ok())
            .and_then(|v| v.trim().parse::<u64>().ok())
    };
    let retry_after = header("retry-after").map(Duration::from_secs);
    // attohttpc ends a Content-Length body silently when the connection closes early.
    let promised = header("content-length");
    let (_, _, reader) = response.split();
    let mut bytes = Vec::new();
    let read = reader.take(MAX_BODY + 1).read_to_end(&mut bytes);
    if status == 429 || status >= 500 {
        return Attempt::Retry(status, retry_after, bytes);
    }
    match read {
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

/// Sorts a failure by whether the request can have reached the server, with words that
/// say what to check.
fn classify(e: &attohttpc::Error) -> Attempt {
    match e.kind() {
        attohttpc::ErrorKind::Io(io) => classify_io(io),
        attohttpc::ErrorKind::ConnectError { status_code, .. } => Attempt::NotSent(format!(
            "the proxy refused the connection (HTTP {status_code}); check HTTPS_PROXY / NO_PROXY"
        )),
        attohttpc::ErrorKind::ConnectNotSupported => {
            Attempt::NotSent("the proxy does not support CONNECT; check HTTPS_PROXY".into())
        }
        attohttpc::ErrorKind::InvalidBaseUrl
        | attohttpc::ErrorKind::InvalidUrlHost
        | attohttpc::ErrorKind::InvalidUrlPort
        | attohttpc::ErrorKind::InvalidDNSName(_) => {
            Attempt::NotSent("the URL is not usable".into())
        }
        attohttpc::ErrorKind::Tls(t) => classify_tls(t)
            .unwrap_or_else(|| Attempt::NotSent("the TLS connection could not be set up".into())),
        _ => Attempt::Lost("the server's answer is not valid HTTP".into()),
    }
}

fn classify_io(io: &std::io::Error) -> Attempt {
    use std::io::ErrorKind::*;
    if let Some(tls) = io
        .get_ref()
        .and_then(|inner| inner.downcast_ref::<rustls::Error>())
        && let Some(attempt) = classify_tls(tls)
    {
        return attempt;
    }
    let text = io.to_string();
    if is_name_resolution(io, &text) {
        return Attempt::NotSent(format!(
            "the host name could not be resolved ({text}); check the host name in the URL, DNS and any proxy (HTTPS_PROXY){}",
            STATIC_NSS_NOTE
        ));
    }
    match io.kind() {
        ConnectionRefused => Attempt::NotSent(
            "the connection was refused: nothing listens at that address and port".into(),
        ),
        AddrNotAvailable | HostUnreachable | NetworkUnreachable | NetworkDown => {
            Attempt::NotSent(format!("the network cannot reach the host ({text})"))
        }
        // std's connect_timeout says exactly this; a read that timed out does not.
        TimedOut if text == "connection timed out" => {
            Attempt::NotSent("connecting timed out; check the address, firewall and proxy".into())
        }
        TimedOut | WouldBlock => Attempt::Lost("no answer within the time limit".into()),
        ConnectionReset | ConnectionAborted | BrokenPipe | UnexpectedEof => {
            Attempt::Lost("the connection was cut before the answer was complete".into())
        }
        kind => Attempt::Lost(format!("the exchange failed ({kind})")),
    }
}

/// Resolves the host before anything is sent, so a name that does not resolve is known
/// for certain to have sent nothing: inside the HTTP client, a lookup failure can surface
/// as an error (EAI_SYSTEM with a stray errno) that looks like any other. Skipped for IP
/// addresses and when a proxy is configured (the proxy resolves then).
fn resolve_first(req: &Request) -> Option<Attempt> {
    use std::net::ToSocketAddrs;
    let proxied = [
        "https_proxy",
        "HTTPS_PROXY",
        "http_proxy",
        "HTTP_PROXY",
        "all_proxy",
        "ALL_PROXY",
    ]
    .iter()
    .any(|v| std::env::var_os(v).is_some_and(|x| !x.is_empty()));
    // A proxy is never used for loopback (see `build`), so then we resolve ourselves.
    if proxied && !req.loopback {
        return None;
    }
    let url = url::Url::parse(req.url).ok()?;
    let Some(url::Host::Domain(host)) = url.host() else {
        return None;
    };
    let port = url.port_or_known_default()?;
    match (host, port).to_socket_addrs().map(|mut a| a.next()) {
        Ok(Some(_)) => None,
        Ok(None) => Some(unresolved(host, "no address")),
        Err(e) => Some(unresolved(host, &e.to_string())),
    }
}

fn unresolved(host: &str, why: &str) -> Attempt {
    Attempt::NotSent(format!(
        "the host name {} could not be resolved ({why}); check the host name in the URL, DNS and any proxy (HTTPS_PROXY){STATIC_NSS_NOTE}",
        crate::text::quote(host)
    ))
}

/// getaddrinfo failures: std reports them as uncategorized errors with this text (Unix) or
/// as WSA host errors (Windows).
fn is_name_resolution(io: &std::io::Error, text: &str) -> bool {
    let wsa_host_error = cfg!(windows) && matches!(io.raw_os_error(), Some(11001..=11004));
    text.starts_with("failed to lookup address information") || wsa_host_error
}

/// A static glibc build resolves names only from /etc/hosts and DNS.
#[cfg(all(target_os = "linux", target_env = "gnu", target_feature = "crt-static"))]
const STATIC_NSS_NOTE: &str = "; this static build resolves names only through /etc/hosts and DNS (no mdns, sss, ldap or systemd-resolved NSS modules): to use those, build from source with `cargo install`";
#[cfg(not(all(target_os = "linux", target_env = "gnu", target_feature = "crt-static")))]
const STATIC_NSS_NOTE: &str = "";

/// TLS failures during the handshake happen before the request is written.
fn classify_tls(e: &rustls::Error) -> Option<Attempt> {
    use rustls::Error::*;
    match e {
        InvalidCertificate(why) => Some(Attempt::NotSent(format!(
            "the server's TLS certificate is not trusted ({why:?}); for a corporate CA set SSL_CERT_FILE or SSL_CERT_DIR"
        ))),
        NoCertificatesPresented | UnsupportedNameType => Some(Attempt::NotSent(
            "the server presented no usable TLS certificate".into(),
        )),
        InvalidMessage(_) | InappropriateHandshakeMessage { .. } | InappropriateMessage { .. } => {
            Some(Attempt::NotSent(
                "this endpoint does not speak TLS (is it plain http, or the wrong port?)".into(),
            ))
        }
        PeerIncompatible(_) | AlertReceived(_) | HandshakeNotComplete => {
            Some(Attempt::NotSent(format!("the TLS handshake failed ({e})")))
        }
        _ => None,
    }
}

/// Sleeps before the next attempt if the deadline allows; false when it does not.
pub fn wait(backoff: &mut Duration, retry_after: Option<Duration>, deadline: Instant) -> bool {
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

#[cfg(test)]
mod tests {
    use super::*;

    fn not_sent(a: &Attempt) -> bool {
        matches!(a, Attempt::NotSent(_))
    }

    #[test]
    fn causes_that_never_reach_the_server_are_not_sent() {
        use std::io::{Error, ErrorKind};
        let dns = Error::other("failed to lookup address information: Name or service not known");
        assert!(not_sent(&classify_io(&dns)));
        assert!(not_sent(&classify_io(&Error::from(
            ErrorKind::ConnectionRefused
        ))));
        assert!(not_sent(&classify_io(&Error::new(
            ErrorKind::TimedOut,
            "connection timed out"
        ))));
        // A read that timed out or a reset may come after the server acted.
        assert!(!not_sent(&classify_io(&Error::from(ErrorKind::TimedOut))));
        assert!(!not_sent(&classify_io(&Error::from(ErrorKind::WouldBlock))));
        assert!(!not_sent(&classify_io(&Error::from(
            ErrorKind::ConnectionReset
        ))));
        let cert = Error::new(
            ErrorKind::InvalidData,
            rustls::Error::InvalidCertificate(rustls::CertificateError::UnknownIssuer),
        );
        match classify_io(&cert) {
            Attempt::NotSent(why) => assert!(why.contains("SSL_CERT_FILE"), "{why}"),
            other => panic!("{other:?}"),
        }
    }
}
