//! The one integration-test binary; a module per area.

mod util;

mod core;
mod emulator;
mod faults;
mod load;
mod snapshots;
