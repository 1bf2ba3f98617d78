//! The one integration-test binary; a module per area.

mod util;

mod adapters;
mod at_most_once;
mod bad_input;
mod core;
mod emulator;
mod faults;
mod fleet;
mod load;
mod permissions;
mod secrets;
mod snapshots;
