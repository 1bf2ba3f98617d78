//! The one integration-test binary; a module per area.

mod util;

mod bad_input;
mod core;
mod emulator;
mod faults;
mod load;
mod secrets;
mod snapshots;
