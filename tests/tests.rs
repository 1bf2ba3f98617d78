//! The one integration-test binary; a module per area.

mod util;

mod adapters;
mod core;
mod emulator;
mod snapshots;
