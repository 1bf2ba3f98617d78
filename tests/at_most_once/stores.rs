//! The two stores a scenario of `both` runs against, and "hosts" on them.

use crate::redis_server::Redis;
use crate::util::*;
use serde_json::Value;
use std::process::{Command, Output};

#[derive(Clone, Copy, PartialEq, Eq, Debug)]
pub enum StoreKind {
    File,
    Fleet,
}

/// Where a scenario's tokens live. None from `new` only when redis-server is missing
/// outside CI.
pub struct Store {
    redis: Option<Redis>,
}

impl Store {
    pub fn new(kind: StoreKind) -> Option<Store> {
        let redis = match kind {
            StoreKind::File => None,
            StoreKind::Fleet => Some(Redis::start()?),
        };
        Some(Store { redis })
    }

    /// The helper on simulated host `host`: its own cache dir in fleet mode; in file mode
    /// every host is the same machine.
    pub fn cmd(&self, env: &TestEnv, host: usize, args: &[&str]) -> Command {
        let mut cmd = env.cmd(args);
        if let Some(redis) = &self.redis {
            cmd.env("BSN_CACHE_DIR", env.path(&format!("host-{host}")))
                .env("BSN_SHARED_CACHE", redis.url());
        }
        cmd
    }

    pub fn run(&self, env: &TestEnv, host: usize, request: &str) -> Output {
        run_with_stdin(self.cmd(env, host, &["get"]), request)
    }

    /// `get` on `host`: (exit code, JSON answer, stderr).
    pub fn get(&self, env: &TestEnv, host: usize, request: &str) -> (i32, Value, String) {
        let out = self.run(env, host, request);
        let v = serde_json::from_slice(&out.stdout).unwrap_or(Value::Null);
        (out.status.code().unwrap_or(-1), v, stderr(&out))
    }

    /// A forced renewal on `host` after it took the current token (so in fleet mode it
    /// renews that token instead of adopting the fleet's as new).
    pub fn renew_on(&self, env: &TestEnv, host: usize) -> (i32, Value, String) {
        self.get(env, host, "");
        self.get(env, host, FORCE)
    }
}

pub const FORCE: &str = r#"{"force_refresh":true}"#;
