//! Sockets: the accept loop, one short-lived thread per connection, and a clean stop.

use std::io::Read;
use std::net::{Shutdown, TcpListener, TcpStream};
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, AtomicUsize, Ordering};
use std::thread::{self, JoinHandle};
use std::time::Duration;

use serde_json::json;

use super::http::{self, ReadError, Reply, Response};
use super::router::{self, Shared};

/// A silent client loses its thread after this long without sending.
const READ_TIMEOUT: Duration = Duration::from_secs(5);
/// A client that stops reading (e.g. mid-way through an oversized body) likewise.
const WRITE_TIMEOUT: Duration = Duration::from_secs(10);
/// More simultaneous connections than this are closed at once instead of served, so a
/// runaway client can't exhaust threads.
const MAX_CONNECTIONS: usize = 256;

/// Starts the accept loop. It ends after `stopping` is set and one more connection (the
/// wake-up from `Emulator::stop`) arrives.
pub fn spawn(
    listener: TcpListener,
    shared: Arc<Shared>,
    stopping: Arc<AtomicBool>,
) -> std::io::Result<JoinHandle<()>> {
    thread::Builder::new()
        .name("bsn-emulator-accept".into())
        .spawn(move || accept_loop(listener, shared, stopping))
}

fn accept_loop(listener: TcpListener, shared: Arc<Shared>, stopping: Arc<AtomicBool>) {
    let live = Arc::new(AtomicUsize::new(0));
    for stream in listener.incoming() {
        if stopping.load(Ordering::SeqCst) {
            break;
        }
        let Ok(stream) = stream else {
            // Usually out of file descriptors: back off instead of spinning.
            thread::sleep(Duration::from_millis(10));
            continue;
        };
        if live.fetch_add(1, Ordering::SeqCst) >= MAX_CONNECTIONS {
            live.fetch_sub(1, Ordering::SeqCst);
            continue;
        }
        let (shared, done) = (Arc::clone(&shared), Arc::clone(&live));
        let spawned = thread::Builder::new()
            .name("bsn-emulator-conn".into())
            .spawn(move || {
                serve_connection(stream, &shared);
                done.fetch_sub(1, Ordering::SeqCst);
            });
        if spawned.is_err() {
            live.fetch_sub(1, Ordering::SeqCst);
        }
    }
}

/// Reads one request, writes one reply, closes.
fn serve_connection(mut stream: TcpStream, shared: &Shared) {
    let _ = stream.set_read_timeout(Some(READ_TIMEOUT));
    let _ = stream.set_write_timeout(Some(WRITE_TIMEOUT));
    let _ = stream.set_nodelay(true);
    let reply = match http::read_request(&mut stream) {
        Ok(request) => router::respond(shared, &request),
        Err(ReadError::Gone) => return,
        Err(ReadError::Bad { status, message }) => Reply::Send(Response::json(
            status,
            &json!({"error": "invalid_request", "error_description": message}),
        )),
    };
    let written = match &reply {
        Reply::Send(r) => r.write_to(&mut stream, r.body.len()),
        Reply::Truncate(r, cut) => r.write_to(&mut stream, *cut),
        Reply::Hangup => {
            let _ = stream.shutdown(Shutdown::Both);
            return;
        }
    };
    if written.is_ok() {
        close_gracefully(stream);
    }
}

/// Half-closes, then reads and discards what the client still sends. Closing a socket with
/// unread input makes the kernel send RST, which can destroy our response in flight (e.g.
/// a 413 answered before the oversized body was read).
fn close_gracefully(mut stream: TcpStream) {
    let _ = stream.shutdown(Shutdown::Write);
    let _ = stream.set_read_timeout(Some(Duration::from_secs(1)));
    let mut sink = [0u8; 8192];
    let mut budget: usize = 1024 * 1024;
    while budget > 0 {
        match stream.read(&mut sink) {
            Ok(0) | Err(_) => break,
            Ok(n) => budget = budget.saturating_sub(n),
        }
    }
}
