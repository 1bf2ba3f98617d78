//! The one integration-test binary; a module per area.

mod util;

mod adapters;
mod at_most_once;
mod bad_input;
mod completions;
mod core;
mod docs;
mod emulator;
mod faults;
mod first_hour;
mod fleet;
mod foreign;
mod load;
mod permissions;
mod secrets;
mod setup;
mod snapshots;
