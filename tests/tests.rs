//! The one integration-test binary; a module per area.

mod util;

mod adapters;
mod bad_input;
mod completions;
mod core;
mod docs;
mod emulator;
mod faults;
mod first_hour;
mod load;
mod secrets;
mod setup;
mod snapshots;
