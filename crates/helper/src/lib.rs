//! bsn-credential-helper: hands out BSN.cloud access tokens from a file-locked cache.
//!
//! Data flows one way, down these floors (docs/architecture.md):
//! `invocation` (resolved once by the binary) → `adapters` (one per protocol) and
//! `commands` → `broker` (cache hit, refresh or login) → `cache`, `oauth`, `bsn` → `http`;
//! `config`, `url`, `hosts`, `protocol`, `error`, `secret`, `text`, `time` below all.
//! The emulator is another crate, which this one never depends on. This file only wires.

pub mod adapters;
pub mod broker;
pub mod bsn;
pub mod cache;
pub mod commands;
pub mod config;
pub mod error;
pub mod hosts;
pub mod http;
pub mod invocation;
pub mod log;
pub mod oauth;
pub mod process;
pub mod protocol;
pub mod secret;
pub mod shared;
pub mod signals;
pub mod text;
pub mod time;
pub mod url;
/// Windows-only system calls (access rules, Credential Manager) behind safe functions.
#[cfg(windows)]
pub mod win;
