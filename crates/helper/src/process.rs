//! Process-wide protection set once at start: no core dump (it would hold the client
//! secret and tokens), no memory reads by other processes of the same user (Linux), and a
//! panic — which the release build turns into an abort — reported as an `internal` error
//! with its documented exit code instead.

use crate::error::ErrorCode;
use std::sync::atomic::{AtomicBool, Ordering};

/// Set by the native `get`, whose callers read errors as JSON on stdout.
static JSON_ERRORS: AtomicBool = AtomicBool::new(false);

#[cfg(unix)]
static CORE_LIMIT: std::sync::OnceLock<libc::rlimit> = std::sync::OnceLock::new();

pub fn harden() {
    #[cfg(unix)]
    // SAFETY: getrlimit/setrlimit on a stack value; failures only leave the limit as is.
    unsafe {
        let mut previous: libc::rlimit = std::mem::zeroed();
        if libc::getrlimit(libc::RLIMIT_CORE, &mut previous) == 0 {
            let _ = CORE_LIMIT.set(previous);
        }
        let none = libc::rlimit {
            rlim_cur: 0,
            rlim_max: previous.rlim_max,
        };
        libc::setrlimit(libc::RLIMIT_CORE, &none);
    }
    #[cfg(target_os = "linux")]
    // SAFETY: PR_SET_DUMPABLE takes plain integers.
    unsafe {
        libc::prctl(libc::PR_SET_DUMPABLE, 0, 0, 0, 0);
    }
    std::panic::set_hook(Box::new(|info| {
        // The payload may quote data; the location is enough for a bug report.
        let place = info
            .location()
            .map(|l| format!(" at {}:{}", l.file(), l.line()))
            .unwrap_or_default();
        let message = format!(
            "internal error{place}; this is a bug, please report it with `--verbose` output"
        );
        if JSON_ERRORS.load(Ordering::Relaxed) {
            let body = serde_json::json!({
                "version": crate::protocol::VERSION,
                "error": { "code": ErrorCode::Internal, "message": message },
            });
            // Never println!: a panic inside the hook would abort after all.
            crate::adapters::print_line(&body.to_string());
        }
        crate::error::print_error(&message);
        std::process::exit(i32::from(ErrorCode::Internal.exit_code()));
    }));
}

/// Callers of this invocation read errors as JSON on stdout.
pub fn json_errors() {
    JSON_ERRORS.store(true, Ordering::Relaxed);
}

/// Gives a command we run the core-dump limit the user had.
#[cfg(unix)]
pub fn restore_for_child(command: &mut std::process::Command) {
    use std::os::unix::process::CommandExt;
    if let Some(limit) = CORE_LIMIT.get().copied() {
        // SAFETY: setrlimit is async-signal-safe, as pre_exec requires.
        unsafe {
            command.pre_exec(move || {
                libc::setrlimit(libc::RLIMIT_CORE, &limit);
                Ok(())
            });
        }
    }
}

#[cfg(not(unix))]
pub fn restore_for_child(_command: &mut std::process::Command) {}
