//! Loopback servers standing in for token endpoints that fail in particular ways: an
//! untrusted TLS certificate, plain HTTP where TLS was expected, canned answers, and a
//! forwarding proxy whose port can be closed and opened again.

use crate::util::*;
use std::io::{Read, Write};
use std::net::{TcpListener, TcpStream};
use std::process::{Child, Stdio};
use std::sync::atomic::{AtomicBool, AtomicU16, Ordering};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

pub fn wait_until(what: &str, timeout: Duration, mut cond: impl FnMut() -> bool) {
    let start = Instant::now();
    while !cond() {
        assert!(start.elapsed() < timeout, "timed out waiting for {what}");
        sleep_ms(10);
    }
}

/// A TLS server whose certificate nobody trusts (openssl, from the distribution).
pub struct UntrustedTls {
    child: Child,
    pub port: u16,
    _dir: tempfile::TempDir,
}

impl UntrustedTls {
    pub fn start() -> UntrustedTls {
        let dir = tempfile::tempdir().unwrap();
        let (key, cert) = (dir.path().join("k.pem"), dir.path().join("c.pem"));
        let made = std::process::Command::new("openssl")
            .args([
                "req", "-x509", "-newkey", "rsa:2048", "-nodes", "-days", "1",
            ])
            .args(["-subj", "/CN=localhost", "-keyout"])
            .arg(&key)
            .arg("-out")
            .arg(&cert)
            .stderr(Stdio::null())
            .status()
            .expect("openssl is installed (.ci/run installs it)");
        assert!(made.success());
        let port = free_port();
        let child = std::process::Command::new("openssl")
            .args(["s_server", "-quiet", "-www", "-accept"])
            .arg(port.to_string())
            .arg("-cert")
            .arg(&cert)
            .arg("-key")
            .arg(&key)
            .stdin(Stdio::null())
            .stdout(Stdio::null())
            .stderr(Stdio::null())
            .spawn()
            .unwrap();
        wait_until("openssl s_server", Duration::from_secs(10), || {
            TcpStream::connect(("127.0.0.1", port)).is_ok()
        });
        UntrustedTls {
            child,
            port,
            _dir: dir,
        }
    }
}

impl Drop for UntrustedTls {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

fn free_port() -> u16 {
    TcpListener::bind("127.0.0.1:0")
        .unwrap()
        .local_addr()
        .unwrap()
        .port()
}

/// Answers anything with `400 Bad Request` at once, as nginx does to a TLS ClientHello.
pub fn plain_http_server() -> u16 {
    let listener = TcpListener::bind("127.0.0.1:0").unwrap();
    let port = listener.local_addr().unwrap().port();
    std::thread::spawn(move || {
        for mut stream in listener.incoming().flatten() {
            let mut buf = [0u8; 1024];
            let _ = stream.read(&mut buf);
            let _ = stream.write_all(
                b"HTTP/1.1 400 Bad Request\r\nContent-Length: 0\r\nConnection: close\r\n\r\n",
            );
        }
    });
    port
}

/// A token endpoint that answers `body` to every request and records what it was sent.
pub fn recording_endpoint(body: String) -> (String, Arc<Mutex<Vec<String>>>) {
    let listener = TcpListener::bind("127.0.0.1:0").unwrap();
    let port = listener.local_addr().unwrap().port();
    let seen = Arc::new(Mutex::new(Vec::new()));
    let log = Arc::clone(&seen);
    std::thread::spawn(move || {
        for stream in listener.incoming() {
            let Ok(mut stream) = stream else { continue };
            let mut buf = Vec::new();
            let mut chunk = [0u8; 4096];
            while let Ok(n) = stream.read(&mut chunk) {
                if n == 0 {
                    break;
                }
                buf.extend_from_slice(&chunk[..n]);
                let text = String::from_utf8_lossy(&buf).to_string();
                if let Some((head, rest)) = text.split_once("\r\n\r\n") {
                    let len = head
                        .to_ascii_lowercase()
                        .lines()
                        .find_map(|l| l.strip_prefix("content-length:").map(str::to_string))
                        .and_then(|v| v.trim().parse::<usize>().ok())
                        .unwrap_or(0);
                    if rest.len() >= len {
                        log.lock().unwrap().push(rest.to_string());
                        break;
                    }
                }
            }
            let _ = write!(
                stream,
                "HTTP/1.1 200 OK\r\nContent-Type: application/json\r\nContent-Length: {}\r\nConnection: close\r\n\r\n{body}",
                body.len()
            );
        }
    });
    (format!("http://127.0.0.1:{port}/token"), seen)
}

/// Forwards 127.0.0.1:`port` to the emulator. `down()` closes the port (a connect is
/// refused: the request provably never left the machine), `up()` opens the same port
/// again, `route_to` sends later connections elsewhere; the token URL, and with it the
/// cache key, stays the same throughout.
pub struct TokenProxy {
    pub port: u16,
    up: Arc<AtomicBool>,
    stop: Arc<AtomicBool>,
    upstream: Arc<AtomicU16>,
}

impl TokenProxy {
    pub fn start(upstream_port: u16) -> TokenProxy {
        let port = free_port();
        let up = Arc::new(AtomicBool::new(true));
        let stop = Arc::new(AtomicBool::new(false));
        let upstream = Arc::new(AtomicU16::new(upstream_port));
        let (flag, done, to) = (Arc::clone(&up), Arc::clone(&stop), Arc::clone(&upstream));
        std::thread::spawn(move || serve(port, &to, &flag, &done));
        let proxy = TokenProxy {
            port,
            up,
            stop,
            upstream,
        };
        proxy.up();
        proxy
    }

    /// The emulator's token URL with the proxy's port.
    pub fn url(&self, token_url: &str, upstream_port: u16) -> String {
        token_url.replace(
            &format!("127.0.0.1:{upstream_port}"),
            &format!("127.0.0.1:{}", self.port),
        )
    }

    /// Later connections go to 127.0.0.1:`port`.
    pub fn route_to(&self, port: u16) {
        self.upstream.store(port, Ordering::SeqCst);
    }

    pub fn down(&self) {
        self.up.store(false, Ordering::SeqCst);
        wait_until("the proxy port to close", Duration::from_secs(5), || {
            TcpStream::connect(("127.0.0.1", self.port)).is_err()
        });
    }

    pub fn up(&self) {
        self.up.store(true, Ordering::SeqCst);
        wait_until("the proxy port to open", Duration::from_secs(5), || {
            TcpStream::connect(("127.0.0.1", self.port)).is_ok()
        });
    }
}

impl Drop for TokenProxy {
    fn drop(&mut self) {
        self.stop.store(true, Ordering::SeqCst);
    }
}

fn serve(port: u16, upstream: &AtomicU16, up: &AtomicBool, stop: &AtomicBool) {
    let mut listener: Option<TcpListener> = None;
    while !stop.load(Ordering::SeqCst) {
        match (up.load(Ordering::SeqCst), &listener) {
            (true, None) => {
                listener = TcpListener::bind(("127.0.0.1", port)).ok();
                if let Some(l) = &listener {
                    l.set_nonblocking(true).unwrap();
                }
            }
            (false, Some(_)) => listener = None,
            _ => {}
        }
        match listener.as_ref().map(TcpListener::accept) {
            Some(Ok((client, _))) => forward(client, upstream.load(Ordering::SeqCst)),
            _ => sleep_ms(5),
        }
    }
}

fn forward(client: TcpStream, upstream: u16) {
    let _ = client.set_nonblocking(false);
    let Ok(server) = TcpStream::connect(("127.0.0.1", upstream)) else {
        return;
    };
    let pipe = |mut from: TcpStream, mut to: TcpStream| {
        std::thread::spawn(move || {
            let _ = std::io::copy(&mut from, &mut to);
            let _ = to.shutdown(std::net::Shutdown::Write);
        });
    };
    pipe(client.try_clone().unwrap(), server.try_clone().unwrap());
    pipe(server, client);
}
