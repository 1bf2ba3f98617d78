//! bsn-credential-helper: hands out BSN.cloud access tokens from a file-locked cache.
//!
//! Data flows one way: `cli` → `config` (a resolved `Profile`) → `broker` (cache hit,
//! refresh or login) → `cache` / `oauth` → `protocol` (the JSON the caller sees).
//! This file only wires modules.

pub mod emulator;
