//! Commands that are not protocols: they take the resolved invocation and print for
//! people. `erase` and `status` read and clear the cache; `doctor` checks a setup end to
//! end; `setup`, `install_links` and `init` write other tools' configuration and ours.

pub mod doctor;
pub mod erase;
pub mod init;
pub mod install_links;
pub mod setup;
pub mod status;

pub use erase::erase;
pub use status::status;

/// The mark `doctor` and `setup` put before a line.
pub fn mark(ok: bool) -> &'static str {
    if ok { "✓" } else { "✗" }
}
