//! Built-in BSN.cloud emulator: a Keycloak-shaped token endpoint, the two BSN REST calls the
//! helper makes, counters at `/stats` and faults on demand at `/admin/faults`.
//!
//! It is the one-command demo backend (`bsn-credential-helper emulator`) and the test bed
//! of the integration tests. It listens on 127.0.0.1 only and speaks plain HTTP.
//!
//! Files, in reading order: `config` (what it serves), `state` (the token/session rules),
//! `token` and `rest` (the endpoints), `faults`, `stats`, `router`, `server` and `http`
//! (the plumbing), plus `form`, `client_auth` and `ids` (small pure helpers).

mod client_auth;
mod config;
pub mod demo;
mod faults;
mod form;
mod http;
mod http_date;
mod ids;
mod rest;
mod router;
mod server;
mod state;
mod stats;
mod token;

use std::net::{Ipv4Addr, TcpListener, TcpStream};
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, Mutex};
use std::thread::JoinHandle;
use std::time::Instant;

pub use config::{ClientSpec, EmulatorConfig, NetworkSpec, UserSpec};
pub use faults::{Fault, FaultKind, FaultTarget};
pub use stats::{Refused, Stats, TokenRequests};

use faults::FaultQueue;
use router::{Shared, lock};
use state::State;

/// A running emulator. Dropping it (or calling `stop`) stops accepting connections.
pub struct Emulator {
    port: u16,
    config: EmulatorConfig,
    shared: Arc<Shared>,
    stopping: Arc<AtomicBool>,
    accept: Option<JoinHandle<()>>,
}

impl Emulator {
    /// Binds 127.0.0.1:`config.port` (0 = any free port), starts serving in the background
    /// and returns at once.
    pub fn start(config: EmulatorConfig) -> std::io::Result<Emulator> {
        let listener = TcpListener::bind((Ipv4Addr::LOCALHOST, config.port))?;
        let port = listener.local_addr()?.port();
        let shared = Arc::new(Shared {
            state: Mutex::new(State::new(config.clone())),
            faults: Mutex::new(FaultQueue::default()),
        });
        let stopping = Arc::new(AtomicBool::new(false));
        let accept = server::spawn(listener, Arc::clone(&shared), Arc::clone(&stopping))?;
        Ok(Emulator {
            port,
            config,
            shared,
            stopping,
            accept: Some(accept),
        })
    }

    pub fn port(&self) -> u16 {
        self.port
    }

    /// `http://127.0.0.1:PORT`, standing in for both `https://auth.bsn.cloud` and
    /// `https://api.bsn.cloud`.
    pub fn base_url(&self) -> String {
        format!("http://127.0.0.1:{}", self.port)
    }

    pub fn token_url(&self) -> String {
        format!("{}{}", self.base_url(), token::TOKEN_PATH)
    }

    /// The counters, same as `GET /stats`.
    pub fn stats(&self) -> Stats {
        router::snapshot(&self.shared, Instant::now())
    }

    /// Queues a fault, same as `POST /admin/faults`. A `count` of 0 queues nothing.
    pub fn inject(&self, fault: Fault) {
        lock(&self.shared.faults).push(fault);
    }

    /// Ends every user session now, like reaching Keycloak's SSO Session Max.
    pub fn end_sessions(&self) {
        lock(&self.shared.state).end_sessions();
    }

    /// Stops accepting and joins the accept thread. Connections already being served
    /// finish on their own threads.
    pub fn stop(self) {
        // Drop does the work.
    }

    /// The startup text of `serve_forever`: URLs and copy-pasteable demo credentials.
    pub fn banner(&self) -> String {
        let base = self.base_url();
        let mut out = format!(
            "BSN.cloud emulator listening on {base} (loopback only; plain HTTP)\n\
             \n  token endpoint  {token}\n  REST API        {base}/2022/06/REST/Self/Session\n  \
             stats           {base}/stats\n  faults          POST {base}/admin/faults\n\n",
            token = self.token_url()
        );
        if let Some(client) = self.config.clients.first() {
            out.push_str("Client-credentials demo (paste into your shell):\n\n");
            out.push_str(&format!(
                "export BSN_TOKEN_URL={}\n",
                shell_quote(&self.token_url())
            ));
            out.push_str(&format!("export BSN_API_URL={}\n", shell_quote(&base)));
            out.push_str(&format!(
                "export BSN_CLIENT_ID={}\n",
                shell_quote(&client.id)
            ));
            out.push_str(&format!(
                "export BSN_CLIENT_SECRET={}\n",
                shell_quote(&client.secret)
            ));
            if let Some(network) = self.config.networks.first() {
                out.push_str(&format!(
                    "export BSN_NETWORK={}\n",
                    shell_quote(&network.name)
                ));
            }
            out.push('\n');
        }
        if let Some(user) = self.config.users.first() {
            out.push_str(&format!(
                "Password-grant user: {} / {}\n",
                user.username, user.password
            ));
        }
        out.push_str(&format!(
            "Lifetimes: access {} s, refresh {} s, session {} s.\n",
            self.config.access_ttl, self.config.refresh_ttl, self.config.session_ttl
        ));
        out.push_str("Press Ctrl-C to stop.\n");
        out
    }
}

impl Drop for Emulator {
    fn drop(&mut self) {
        self.stopping.store(true, Ordering::SeqCst);
        // The accept loop blocks in accept(); one connection wakes it to see the flag.
        let _ = TcpStream::connect((Ipv4Addr::LOCALHOST, self.port));
        if let Some(handle) = self.accept.take() {
            let _ = handle.join();
        }
    }
}

/// `bsn-credential-helper emulator`: start, print the banner, serve until killed.
pub fn serve_forever(config: EmulatorConfig) -> std::io::Result<()> {
    let emulator = Emulator::start(config)?;
    print!("{}", emulator.banner());
    use std::io::Write;
    let _ = std::io::stdout().flush();
    loop {
        // Serving happens on other threads; Ctrl-C ends the process.
        std::thread::park();
    }
}

/// Quotes a value for POSIX shells only when needed, so the common case stays readable.
fn shell_quote(value: &str) -> String {
    let safe = |c: char| c.is_ascii_alphanumeric() || "-_.:/@%+=,".contains(c);
    if !value.is_empty() && value.chars().all(safe) {
        value.to_string()
    } else {
        format!("'{}'", value.replace('\'', r"'\''"))
    }
}

#[cfg(test)]
mod tests {
    use super::shell_quote;

    #[test]
    fn shell_quoting() {
        assert_eq!(
            shell_quote("http://127.0.0.1:8080/x"),
            "http://127.0.0.1:8080/x"
        );
        assert_eq!(shell_quote("a b"), "'a b'");
        assert_eq!(shell_quote("it's"), r"'it'\''s'");
        assert_eq!(shell_quote(""), "''");
    }
}
