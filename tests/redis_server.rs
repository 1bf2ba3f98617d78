//! Real `redis-server` processes for the fleet tests, each in its own temp dir with a unix
//! socket for clients: in memory (the default), with an RDB dump written on demand (SAVE)
//! and restarted from an older one, on TCP for a replica (`--replicaof`) that can be
//! paused (SIGSTOP) and promoted (`REPLICAOF NO ONE`), with `requirepass`, or with TLS
//! under a certificate nobody trusts. A missing redis-server skips on a workstation and
//! fails under CI=true (.ci/run installs it).

use crate::util::*;
use std::path::PathBuf;
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

/// How to run one server; every server also listens on `<dir>/redis.sock`.
#[derive(Default, Clone)]
pub struct Opts {
    /// Also listen on 127.0.0.1 (replication needs TCP).
    pub tcp: bool,
    pub requirepass: Option<String>,
    /// `--replicaof 127.0.0.1 <port>`.
    pub replica_of: Option<u16>,
    /// A TLS port with a certificate for `localhost` from a CA nobody trusts.
    pub tls: bool,
    /// INFO renamed away (`rename-command`), as some managed services and ACLs deny it.
    pub no_info: bool,
}

pub struct Redis {
    child: Option<Child>,
    dir: tempfile::TempDir,
    opts: Opts,
    port: u16,
    tls_port: u16,
}

impl Drop for Redis {
    fn drop(&mut self) {
        self.kill();
    }
}

fn free_port() -> u16 {
    std::net::TcpListener::bind("127.0.0.1:0")
        .unwrap()
        .local_addr()
        .unwrap()
        .port()
}

impl Redis {
    /// In memory, unix socket only.
    pub fn start() -> Option<Redis> {
        Redis::with(Opts::default())
    }

    /// None only outside CI when redis-server is missing.
    pub fn with(opts: Opts) -> Option<Redis> {
        let mut r = Redis {
            child: None,
            dir: tempfile::tempdir().unwrap(),
            port: if opts.tcp { free_port() } else { 0 },
            tls_port: if opts.tls { free_port() } else { 0 },
            opts,
        };
        if r.opts.tls {
            r.make_certificate();
        }
        match r.spawn() {
            Ok(()) => Some(r),
            Err(e) => {
                require(
                    &format!("redis-server (apt-get install redis-server): {e}"),
                    false,
                );
                None
            }
        }
    }

    /// A replica of `primary` (which must listen on TCP), in sync once this returns.
    pub fn replica_of(primary: &Redis) -> Redis {
        assert!(primary.port != 0, "the primary needs Opts::tcp");
        let replica = Redis::with(Opts {
            tcp: true,
            replica_of: Some(primary.port),
            ..Opts::default()
        })
        .expect("redis-server ran for the primary");
        let deadline = Instant::now() + Duration::from_secs(10);
        while !replica
            .cli(&["INFO", "replication"])
            .contains("master_link_status:up")
        {
            assert!(Instant::now() < deadline, "the replica never synced");
            sleep_ms(20);
        }
        replica
    }

    /// A CA (ca.pem) and a server certificate for localhost it signed (cert.pem, key.pem):
    /// webpki refuses a self-signed CA certificate used as the server's own.
    fn make_certificate(&self) {
        let openssl = |args: &[&str]| {
            let made = Command::new("openssl")
                .args(args)
                .current_dir(self.dir.path())
                .stdout(Stdio::null())
                .stderr(Stdio::null())
                .status()
                .expect("openssl is installed (.ci/run installs it)");
            assert!(made.success(), "openssl {args:?} failed");
        };
        let ext = self.dir.path().join("leaf.ext");
        std::fs::write(
            &ext,
            "subjectAltName=DNS:localhost\nbasicConstraints=CA:FALSE\nextendedKeyUsage=serverAuth\n",
        )
        .unwrap();
        let ca = [
            "-subj",
            "/CN=bsn test CA",
            "-keyout",
            "ca-key.pem",
            "-out",
            "ca.pem",
        ];
        openssl(
            &[
                &[
                    "req", "-x509", "-newkey", "rsa:2048", "-nodes", "-days", "1",
                ][..],
                &ca,
            ]
            .concat(),
        );
        openssl(&[
            "req",
            "-newkey",
            "rsa:2048",
            "-nodes",
            "-subj",
            "/CN=localhost",
            "-keyout",
            "key.pem",
            "-out",
            "leaf.csr",
        ]);
        openssl(&[
            "x509",
            "-req",
            "-in",
            "leaf.csr",
            "-CA",
            "ca.pem",
            "-CAkey",
            "ca-key.pem",
            "-CAcreateserial",
            "-days",
            "1",
            "-extfile",
            "leaf.ext",
            "-out",
            "cert.pem",
        ]);
    }

    fn spawn(&mut self) -> std::io::Result<()> {
        let _ = std::fs::remove_file(self.socket());
        let mut cmd = Command::new("redis-server");
        cmd.args(["--port", &self.port.to_string()]);
        if self.port != 0 || self.tls_port != 0 {
            cmd.args(["--bind", "127.0.0.1", "-::1"]);
        }
        cmd.arg("--unixsocket").arg(self.socket());
        cmd.args([
            "--unixsocketperm",
            "700",
            "--save",
            "",
            "--appendonly",
            "no",
        ]);
        cmd.args(["--dbfilename", "dump.rdb", "--dir"])
            .arg(self.dir.path());
        if let Some(pass) = &self.opts.requirepass {
            cmd.args(["--requirepass", pass]);
        }
        if self.opts.no_info {
            cmd.args(["--rename-command", "INFO", ""]);
        }
        if let Some(port) = self.opts.replica_of {
            cmd.args(["--replicaof", "127.0.0.1", &port.to_string()]);
        }
        if self.opts.tls {
            cmd.args(["--tls-port", &self.tls_port.to_string()])
                .args(["--tls-cert-file", "cert.pem", "--tls-key-file", "key.pem"])
                .args(["--tls-ca-cert-file", "ca.pem", "--tls-auth-clients", "no"])
                .current_dir(self.dir.path());
        }
        let child = cmd.stdout(Stdio::null()).stderr(Stdio::null()).spawn()?;
        self.child = Some(child);
        let deadline = Instant::now() + Duration::from_secs(5);
        while self.cli(&["PING"]).trim() != "PONG" {
            assert!(Instant::now() < deadline, "redis-server did not start");
            sleep_ms(10);
        }
        Ok(())
    }

    pub fn socket(&self) -> PathBuf {
        self.dir.path().join("redis.sock")
    }

    /// The unix-socket URL hosts use.
    pub fn url(&self) -> String {
        format!("unix://{}", self.socket().display())
    }

    /// Plain TCP on loopback (needs Opts::tcp): what a Windows host would use.
    pub fn tcp_url(&self) -> String {
        assert!(self.port != 0, "Opts::tcp");
        format!("redis://127.0.0.1:{}", self.port)
    }

    pub fn tls_url(&self) -> String {
        format!("rediss://localhost:{}", self.tls_port)
    }

    /// The CA that signed a TLS server's certificate (a file for SSL_CERT_FILE).
    pub fn certificate(&self) -> PathBuf {
        self.dir.path().join("ca.pem")
    }

    /// PING over TLS by a client that trusts the server's certificate (redis-cli
    /// --cacert): proves a failure elsewhere is about trust, not the server.
    pub fn tls_ping_trusting_its_certificate(&self) -> String {
        let out = Command::new("redis-cli")
            .args(["--tls", "--cacert"])
            .arg(self.certificate())
            .args(["-h", "localhost", "-p", &self.tls_port.to_string(), "PING"])
            .output()
            .unwrap();
        String::from_utf8_lossy(&out.stdout).trim().to_string()
    }

    /// SIGKILL: everything since the last SAVE is lost.
    pub fn kill(&mut self) {
        if let Some(mut c) = self.child.take() {
            let _ = c.kill();
            let _ = c.wait();
        }
    }

    /// A new server on the same socket and ports; it loads `dump.rdb` if there is one.
    pub fn restart(&mut self) {
        self.kill();
        self.spawn().unwrap();
    }

    /// A new, empty server on the same socket (no dump is ever written in memory mode).
    pub fn restart_empty(&mut self) {
        let _ = std::fs::remove_file(self.dir.path().join("dump.rdb"));
        self.restart();
    }

    /// SAVE, then keeps a copy of the dump aside: what a crash later rolls back to.
    pub fn snapshot(&self) -> PathBuf {
        assert_eq!(self.cli(&["SAVE"]).trim(), "OK");
        let older = self.dir.path().join("older.rdb");
        std::fs::copy(self.dir.path().join("dump.rdb"), &older).unwrap();
        older
    }

    /// `kill -9`, put the older dump back, start again: every write since it is gone.
    pub fn crash_and_restart_from(&mut self, older: &PathBuf) {
        self.kill();
        std::fs::copy(older, self.dir.path().join("dump.rdb")).unwrap();
        self.spawn().unwrap();
    }

    /// `REPLICAOF NO ONE`: this replica becomes a primary with what it has.
    pub fn promote(&self) {
        assert_eq!(self.cli(&["REPLICAOF", "NO", "ONE"]).trim(), "OK");
    }

    /// Pauses `replica` (SIGSTOP) and drops this primary's link to it, so it misses every
    /// write from now on. (SIGSTOP alone is not enough: the kernel still buffers what the
    /// primary sends, and the replica reads it on SIGCONT.)
    pub fn cut_off(&self, replica: &Redis) {
        replica.signal("-STOP");
        let killed = self.cli(&["CLIENT", "KILL", "TYPE", "replica"]);
        assert_eq!(killed.trim(), "1", "one replica link dropped");
    }

    /// Blocks until `n` replicas acknowledged every write so far.
    pub fn wait_for_replicas(&self, n: usize) {
        let acked = self.cli(&["WAIT", &n.to_string(), "5000"]);
        assert_eq!(acked.trim(), n.to_string(), "replicas acknowledged");
    }

    pub fn signal(&self, sig: &str) {
        let pid = self.child.as_ref().unwrap().id().to_string();
        assert!(
            Command::new("kill")
                .args([sig, &pid])
                .status()
                .unwrap()
                .success()
        );
    }

    /// redis-cli over the unix socket (authenticated when `requirepass` is set).
    pub fn cli(&self, args: &[&str]) -> String {
        let mut cmd = Command::new("redis-cli");
        cmd.arg("-s").arg(self.socket());
        if let Some(pass) = &self.opts.requirepass {
            cmd.args(["--no-auth-warning", "-a", pass]);
        }
        let out = cmd.args(args).stderr(Stdio::null()).output();
        out.map(|o| String::from_utf8_lossy(&o.stdout).into_owned())
            .unwrap_or_default()
    }

    /// Every key matching `pattern`, sorted (SCAN, as an operator would look).
    pub fn keys(&self, pattern: &str) -> Vec<String> {
        let mut keys: Vec<String> = self
            .cli(&["--scan", "--pattern", pattern])
            .lines()
            .map(str::to_string)
            .collect();
        keys.sort();
        keys
    }

    /// The one fleet entry's base name: `<base>:tok` exists. Found, never computed (the
    /// naming scheme is the implementation's).
    pub fn entry_base(&self) -> String {
        let bases: Vec<String> = self
            .keys("bsn:*")
            .iter()
            .filter_map(|k| k.strip_suffix(":tok").map(str::to_string))
            .collect();
        assert_eq!(bases.len(), 1, "one fleet entry: {:?}", self.keys("*"));
        bases[0].clone()
    }
}
