//! Opt-in debug trace on stderr (`BSN_LOG=debug` or `--verbose`).
//!
//! Only our own words and `Secret`'s redacted Debug ever reach it, so it is safe to paste
//! into a bug report; turning it on still prints a warning because hosts may keep stderr.

use std::sync::atomic::{AtomicBool, Ordering};

static ENABLED: AtomicBool = AtomicBool::new(false);

pub fn enable() {
    if !ENABLED.swap(true, Ordering::Relaxed) {
        line(format_args!(
            "bsn-credential-helper: debug log on; tokens and secrets are redacted, but keep this output private"
        ));
    }
}

/// One line on stderr. A stderr the caller closed is the caller's choice, not a panic
/// (`eprintln!` would panic, and the release build aborts).
pub fn line(text: std::fmt::Arguments) {
    use std::io::Write;
    let _ = writeln!(std::io::stderr(), "{text}");
}

/// A question on stderr, the answer typed after it on the same line.
pub fn prompt(text: &str) {
    use std::io::Write;
    let mut err = std::io::stderr();
    let _ = write!(err, "{text}");
    let _ = err.flush();
}

pub fn enabled() -> bool {
    ENABLED.load(Ordering::Relaxed)
}

#[macro_export]
macro_rules! debug {
    ($($arg:tt)*) => {
        if $crate::log::enabled() {
            $crate::log::line(format_args!(
                "bsn-credential-helper: debug: {}",
                format_args!($($arg)*)
            ));
        }
    };
}
