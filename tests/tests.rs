//! The one integration-test binary; a module per area.

mod redis_server;
mod util;

mod adapters;
mod at_most_once;
mod bad_input;
mod cited;
mod clock;
mod completions;
mod core;
mod docs;
mod durability;
mod emulator;
mod faults;
mod first_hour;
mod fleet;
mod fleet_heal;
mod fleet_rollback;
mod foreign;
mod load;
mod permissions;
mod secrets;
mod setup;
mod snapshots;
