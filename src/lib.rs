//! bsn-credential-helper: hands out BSN.cloud access tokens from a file-locked cache.
//!
//! Data flows one way: `cli` → `config` (a resolved `Profile`) → `broker` (cache hit,
//! refresh or login) → `cache` / `oauth` → `protocol` (the JSON the caller sees).
//! `commands` and `adapters` are the front doors; `emulator` and `demo` stand in for
//! BSN.cloud. This file only wires modules.

pub mod adapters;
pub mod broker;
pub mod cache;
pub mod cli;
pub mod commands;
pub mod config;
pub mod demo;
pub mod emulator;
pub mod error;
pub mod log;
pub mod oauth;
pub mod protocol;
pub mod secret;
pub mod signals;
pub mod time;
