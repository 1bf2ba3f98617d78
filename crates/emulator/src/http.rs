//! Just enough HTTP/1.1 for the emulator: one request per connection, `Content-Length`
//! bodies only, and every answer carries `Connection: close`.
//!
//! Parsing never panics: anything malformed becomes a `ReadError::Bad` carrying the 4xx/5xx
//! status to answer with. No HTTP server crate is used on purpose (see dependencies.md).

use std::io::{self, Read, Write};

/// Request line plus headers; bigger heads get 431.
pub const MAX_HEAD: usize = 16 * 1024;
/// Request bodies; bigger ones get 413 (token requests are a few hundred bytes).
pub const MAX_BODY: usize = 64 * 1024;

/// A parsed request. Header names are lowercased; the query string is split off the path.
#[derive(Debug)]
pub struct Request {
    pub method: String,
    pub path: String,
    pub headers: Vec<(String, String)>,
    pub body: Vec<u8>,
}

impl Request {
    /// First value of a header, by case-insensitive name.
    pub fn header(&self, name: &str) -> Option<&str> {
        self.headers
            .iter()
            .find(|(n, _)| n.eq_ignore_ascii_case(name))
            .map(|(_, v)| v.as_str())
    }
}

/// Why no request could be read.
#[derive(Debug)]
pub enum ReadError {
    /// The socket failed, timed out or closed before sending anything: nobody to answer.
    Gone,
    /// The client sent something we refuse; answer with this status and message.
    Bad { status: u16, message: &'static str },
}

fn bad(status: u16, message: &'static str) -> ReadError {
    ReadError::Bad { status, message }
}

/// Reads one request. Writes `100 Continue` if asked, which is why it needs `Write` too.
pub fn read_request<S: Read + Write>(stream: &mut S) -> Result<Request, ReadError> {
    let mut buf = Vec::with_capacity(1024);
    let mut chunk = [0u8; 4096];
    let head_end = loop {
        if let Some(end) = find_head_end(&buf) {
            break end;
        }
        if buf.len() > MAX_HEAD {
            return Err(bad(431, "request head too large"));
        }
        match stream.read(&mut chunk) {
            Ok(0) if buf.is_empty() => return Err(ReadError::Gone),
            Ok(0) => return Err(bad(400, "connection closed mid-request")),
            Ok(n) => buf.extend_from_slice(&chunk[..n]),
            Err(e) if e.kind() == io::ErrorKind::Interrupted => continue,
            Err(_) => return Err(ReadError::Gone),
        }
    };
    if head_end.head_len > MAX_HEAD {
        return Err(bad(431, "request head too large"));
    }
    let head = std::str::from_utf8(&buf[..head_end.head_len])
        .map_err(|_| bad(400, "request head is not UTF-8"))?;
    let mut request = parse_head(head)?;
    let length = content_length(&request)?;
    if length > MAX_BODY {
        return Err(bad(413, "request body too large (limit 64 KiB)"));
    }

    let mut body = buf.split_off(head_end.body_start);
    if body.len() < length
        && request
            .header("expect")
            .is_some_and(|v| v.eq_ignore_ascii_case("100-continue"))
    {
        // curl waits for this before sending larger bodies.
        let _ = stream.write_all(b"HTTP/1.1 100 Continue\r\n\r\n");
    }
    while body.len() < length {
        match stream.read(&mut chunk) {
            Ok(0) => return Err(bad(400, "request body shorter than Content-Length")),
            Ok(n) => body.extend_from_slice(&chunk[..n]),
            Err(e) if e.kind() == io::ErrorKind::Interrupted => continue,
            Err(_) => return Err(bad(408, "timed out reading request body")),
        }
    }
    // Anything past Content-Length would be a pipelined request; we close after one.
    body.truncate(length);
    request.body = body;
    Ok(request)
}

struct HeadEnd {
    head_len: usize,
    body_start: usize,
}

/// Finds the blank line ending the head. Bare `\n` line ends are tolerated for hand-typed
/// requests (netcat), as RFC 9112 §2.2 allows.
fn find_head_end(buf: &[u8]) -> Option<HeadEnd> {
    let newlines = buf.iter().enumerate().filter(|(_, b)| **b == b'\n');
    for (i, _) in newlines {
        match (buf.get(i + 1), buf.get(i + 2)) {
            (Some(b'\n'), _) => {
                return Some(HeadEnd {
                    head_len: i,
                    body_start: i + 2,
                });
            }
            (Some(b'\r'), Some(b'\n')) => {
                return Some(HeadEnd {
                    head_len: i,
                    body_start: i + 3,
                });
            }
            _ => {}
        }
    }
    None
}

/// Parses the request line and headers (without the terminating blank line).
pub fn parse_head(head: &str) -> Result<Request, ReadError> {
    let mut lines = head.split('\n').map(|l| l.strip_suffix('\r').unwrap_or(l));
    let request_line = lines.next().unwrap_or("");
    let mut parts = request_line.split(' ');
    let (Some(method), Some(target), Some(version), None) =
        (parts.next(), parts.next(), parts.next(), parts.next())
    else {
        return Err(bad(400, "malformed request line"));
    };
    if method.is_empty() || !method.bytes().all(|b| b.is_ascii_uppercase()) {
        return Err(bad(400, "malformed request method"));
    }
    if !version.starts_with("HTTP/") {
        return Err(bad(400, "malformed request line"));
    }
    if version != "HTTP/1.1" && version != "HTTP/1.0" {
        return Err(bad(505, "only HTTP/1.0 and HTTP/1.1 are supported"));
    }
    if !target.starts_with('/') {
        return Err(bad(400, "request target must be a path"));
    }
    let path = target
        .split(['?', '#'])
        .next()
        .unwrap_or(target)
        .to_string();

    let mut headers = Vec::new();
    for line in lines {
        let Some((name, value)) = line.split_once(':') else {
            return Err(bad(400, "malformed header line"));
        };
        if name.is_empty()
            || name
                .bytes()
                .any(|b| b.is_ascii_whitespace() || b.is_ascii_control())
        {
            return Err(bad(400, "malformed header name"));
        }
        headers.push((name.to_ascii_lowercase(), value.trim().to_string()));
    }
    Ok(Request {
        method: method.to_string(),
        path,
        headers,
        body: Vec::new(),
    })
}

/// The body length. Chunked uploads are not supported (no client here sends them), so a
/// `Transfer-Encoding` gets 411 "send Content-Length instead" rather than a misparse.
fn content_length(request: &Request) -> Result<usize, ReadError> {
    if request.header("transfer-encoding").is_some() {
        return Err(bad(
            411,
            "Transfer-Encoding is not supported; send Content-Length",
        ));
    }
    let mut length = None;
    for (name, value) in &request.headers {
        if name == "content-length" {
            let n: usize = value
                .parse()
                .map_err(|_| bad(400, "invalid Content-Length"))?;
            if length.is_some_and(|l| l != n) {
                return Err(bad(400, "conflicting Content-Length headers"));
            }
            length = Some(n);
        }
    }
    Ok(length.unwrap_or(0))
}

/// A complete response. `Content-Length` and `Connection: close` are added on write.
#[derive(Debug, Clone)]
pub struct Response {
    pub status: u16,
    pub headers: Vec<(&'static str, String)>,
    pub body: Vec<u8>,
}

impl Response {
    pub fn json(status: u16, value: &serde_json::Value) -> Self {
        Response {
            status,
            headers: vec![("Content-Type", "application/json".into())],
            body: value.to_string().into_bytes(),
        }
    }

    /// JSON of a serializable value, keeping its field order (a `Value` would sort keys).
    pub fn serialize<T: serde::Serialize>(status: u16, value: &T) -> Self {
        match serde_json::to_vec(value) {
            Ok(body) => Response::with_body(status, "application/json", body),
            Err(_) => Response::empty(500),
        }
    }

    pub fn empty(status: u16) -> Self {
        Response {
            status,
            headers: Vec::new(),
            body: Vec::new(),
        }
    }

    pub fn with_body(status: u16, content_type: &str, body: impl Into<Vec<u8>>) -> Self {
        Response {
            status,
            headers: vec![("Content-Type", content_type.into())],
            body: body.into(),
        }
    }

    pub fn header(mut self, name: &'static str, value: impl Into<String>) -> Self {
        self.headers.push((name, value.into()));
        self
    }

    /// Writes status line, headers and the first `send` bytes of the body. `Content-Length`
    /// always announces the whole body, so sending less is how truncation is faked.
    pub fn write_to(&self, w: &mut impl Write, send: usize) -> io::Result<()> {
        let mut head = format!("HTTP/1.1 {} {}\r\n", self.status, reason(self.status));
        for (name, value) in &self.headers {
            head.push_str(&format!("{name}: {value}\r\n"));
        }
        head.push_str(&format!(
            "Date: {}\r\nContent-Length: {}\r\nConnection: close\r\n\r\n",
            super::http_date::http_date(std::time::SystemTime::now()),
            self.body.len()
        ));
        w.write_all(head.as_bytes())?;
        w.write_all(&self.body[..send.min(self.body.len())])?;
        w.flush()
    }
}

/// What the connection handler should do with the socket.
#[derive(Debug)]
pub enum Reply {
    /// Send the whole response.
    Send(Response),
    /// Send the head and only the first `usize` body bytes, then close.
    Truncate(Response, usize),
    /// Close without a byte of response.
    Hangup,
}

fn reason(status: u16) -> &'static str {
    match status {
        100 => "Continue",
        200 => "OK",
        204 => "No Content",
        400 => "Bad Request",
        401 => "Unauthorized",
        404 => "Not Found",
        405 => "Method Not Allowed",
        408 => "Request Timeout",
        410 => "Gone",
        411 => "Length Required",
        413 => "Content Too Large",
        429 => "Too Many Requests",
        431 => "Request Header Fields Too Large",
        500 => "Internal Server Error",
        503 => "Service Unavailable",
        505 => "HTTP Version Not Supported",
        _ => "Unknown",
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// An in-memory socket: reads from `input`, collects writes in `output`.
    struct Fake {
        input: io::Cursor<Vec<u8>>,
        output: Vec<u8>,
    }
    impl Read for Fake {
        fn read(&mut self, buf: &mut [u8]) -> io::Result<usize> {
            self.input.read(buf)
        }
    }
    impl Write for Fake {
        fn write(&mut self, buf: &[u8]) -> io::Result<usize> {
            self.output.write(buf)
        }
        fn flush(&mut self) -> io::Result<()> {
            Ok(())
        }
    }
    fn read(raw: &[u8]) -> Result<Request, ReadError> {
        let mut fake = Fake {
            input: io::Cursor::new(raw.to_vec()),
            output: Vec::new(),
        };
        read_request(&mut fake)
    }
    fn status(result: Result<Request, ReadError>) -> u16 {
        match result {
            Ok(_) => 0,
            Err(ReadError::Bad { status, .. }) => status,
            Err(ReadError::Gone) => 1,
        }
    }

    #[test]
    fn reads_a_post_with_body_and_query() {
        let req = read(
            b"POST /a/b?x=1 HTTP/1.1\r\nHost: h\r\nContent-Length: 3\r\nX-Y:  z \r\n\r\nabcEXTRA",
        )
        .unwrap();
        assert_eq!(req.method, "POST");
        assert_eq!(req.path, "/a/b");
        assert_eq!(req.header("x-y"), Some("z"));
        assert_eq!(req.header("CONTENT-LENGTH"), Some("3"));
        assert_eq!(req.body, b"abc");
    }

    #[test]
    fn tolerates_bare_newlines() {
        let req = read(b"GET /stats HTTP/1.0\nHost: h\n\n").unwrap();
        assert_eq!(req.path, "/stats");
    }

    #[test]
    fn refuses_malformed_input_with_the_right_status() {
        assert_eq!(status(read(b"")), 1);
        assert_eq!(status(read(b"hello\r\n\r\n")), 400);
        assert_eq!(status(read(b"get / HTTP/1.1\r\n\r\n")), 400);
        assert_eq!(status(read(b"GET / HTTP/2.0\r\n\r\n")), 505);
        assert_eq!(status(read(b"GET http://x/ HTTP/1.1\r\n\r\n")), 400);
        assert_eq!(status(read(b"GET / HTTP/1.1\r\nno colon\r\n\r\n")), 400);
        assert_eq!(
            status(read(b"GET / HTTP/1.1\r\nContent-Length: x\r\n\r\n")),
            400
        );
        assert_eq!(
            status(read(
                b"GET / HTTP/1.1\r\nContent-Length: 1\r\nContent-Length: 2\r\n\r\n"
            )),
            400
        );
        assert_eq!(
            status(read(b"POST / HTTP/1.1\r\nContent-Length: 99999\r\n\r\n")),
            413
        );
        assert_eq!(
            status(read(
                b"POST / HTTP/1.1\r\nTransfer-Encoding: chunked\r\n\r\n"
            )),
            411
        );
        assert_eq!(
            status(read(b"POST / HTTP/1.1\r\nContent-Length: 9\r\n\r\nab")),
            400
        );
        assert_eq!(status(read(b"GET / HTTP/1.1\r\nHost: x")), 400);
        let mut huge = b"GET / HTTP/1.1\r\nX: ".to_vec();
        huge.extend(std::iter::repeat_n(b'a', MAX_HEAD + 10));
        assert_eq!(status(read(&huge)), 431);
        assert_eq!(status(read(b"GET / HTTP/1.1\r\nX: \xff\r\n\r\n")), 400);
    }

    #[test]
    fn answers_expect_continue() {
        let mut fake = Fake {
            input: io::Cursor::new(
                b"POST / HTTP/1.1\r\nExpect: 100-continue\r\nContent-Length: 2\r\n\r\nhi".to_vec(),
            ),
            output: Vec::new(),
        };
        // The body is already buffered with the head here, so no 100 is needed.
        assert_eq!(read_request(&mut fake).unwrap().body, b"hi");
        assert!(fake.output.is_empty());
    }

    #[test]
    fn writes_head_and_truncates_body() {
        let resp = Response::json(200, &serde_json::json!({"a": 1})).header("Retry-After", "1");
        let mut out = Vec::new();
        resp.write_to(&mut out, 3).unwrap();
        let text = String::from_utf8(out).unwrap();
        assert!(text.starts_with("HTTP/1.1 200 OK\r\n"), "{text}");
        assert!(text.contains("Retry-After: 1\r\n"));
        assert!(text.contains("Content-Length: 7\r\nConnection: close\r\n\r\n"));
        assert!(text.contains(" GMT\r\nContent-Length"), "{text}");
        assert!(text.ends_with("\r\n\r\n{\"a"), "{text}");
    }
}
