//! Protocols: the native one (`get`, `token`, `header`) and the host tools' (git, Docker,
//! Bazel, `exec`). Each adapter only translates its wire format into a broker call and the
//! answer back; `drive` owns stdout, the exit code and the error sink for all of them, as
//! cargo's credential `main` does. Adapters never touch the cache or HTTP.

pub mod bazel;
pub mod docker;
pub mod exec;
pub mod git;
pub mod native;

use crate::broker::{self, Outcome, Request};
use crate::config::Profile;
use crate::error::{self, Error, Result};
use crate::invocation::Invocation;
use crate::time::now_ms;
use std::io::{Read, Write};
use std::process::ExitCode;

/// Invocation names that select an adapter, as git and Docker find helpers on PATH.
pub const GIT_NAME: &str = "git-credential-bsn";
pub const DOCKER_NAME: &str = "docker-credential-bsn";
/// Bazel's `--credential_helper` takes a path without arguments, hence a name of its own.
pub const BAZEL_NAME: &str = "bazel-credential-bsn";

/// Largest stdin request we read; every protocol's request is a few hundred bytes.
const MAX_STDIN: u64 = 1024 * 1024;

/// Which adapter an argv[0] names, if any: "git", "docker" or "bazel". `.exe` is ignored.
pub fn adapter_for_argv0(argv0: &std::ffi::OsStr) -> Option<&'static str> {
    let path = std::path::Path::new(argv0);
    let name = path.file_name()?.to_str()?;
    let stem = name
        .strip_suffix(".exe")
        .or_else(|| name.strip_suffix(".EXE"))
        .unwrap_or(name);
    match stem {
        GIT_NAME => Some("git"),
        DOCKER_NAME => Some("docker"),
        BAZEL_NAME => Some("bazel"),
        _ => None,
    }
}

/// What an adapter answers, before its host's rendering.
#[derive(Debug)]
pub enum Reply {
    /// Print this line on stdout, exit 0.
    Print(String),
    /// Nothing to say, exit 0.
    Quiet,
    /// The host asked about something this helper does not serve ("not mine").
    NotServed,
    /// Already handled; exit with this status (exec's 126/127).
    Exit(u8),
}

/// How a host wants to hear about a failure.
pub struct Failed {
    /// Text for stdout (Docker and the native `get` read errors there).
    pub stdout: Option<String>,
    /// Whether the error line also goes to stderr through the one sink.
    pub stderr: bool,
    pub exit: u8,
}

impl Failed {
    /// The usual rendering: the sink's stderr line and the error's own exit code.
    pub fn on_stderr(e: &Error) -> Failed {
        Failed {
            stdout: None,
            stderr: true,
            exit: e.code.exit_code(),
        }
    }
}

pub trait Protocol {
    fn serve(&self, inv: &Invocation) -> Result<Reply>;

    fn failed(&self, e: &Error) -> Failed {
        Failed::on_stderr(e)
    }

    /// "Not mine", in this host's terms; by default a quiet success.
    fn not_served(&self) -> Failed {
        Failed {
            stdout: None,
            stderr: false,
            exit: 0,
        }
    }
}

/// The one driver: runs an adapter and renders its outcome.
pub fn drive(protocol: &dyn Protocol, inv: &Invocation) -> ExitCode {
    let (failed, error) = match protocol.serve(inv) {
        Ok(Reply::Print(line)) => {
            print_line(&line);
            return ExitCode::SUCCESS;
        }
        Ok(Reply::Quiet) => return ExitCode::SUCCESS,
        Ok(Reply::Exit(code)) => return ExitCode::from(code),
        Ok(Reply::NotServed) => (protocol.not_served(), None),
        Err(e) => (protocol.failed(&e), Some(e)),
    };
    if let Some(text) = &failed.stdout {
        print_line(text);
    }
    if let Some(e) = error.filter(|_| failed.stderr) {
        error::report(&e);
    }
    ExitCode::from(failed.exit)
}

/// Asks the broker for a token for the invocation's profile; a warning (also one that
/// `min_ttl` cannot be met) joins the outcome and goes to stderr.
pub fn obtain(profile: &Profile, req: &Request) -> Result<Outcome> {
    let mut outcome = broker::get(profile, req)?;
    if let Some(short) = min_ttl_shortfall(&outcome, profile.min_ttl) {
        outcome.warning = Some(match outcome.warning.take() {
            Some(w) => format!("{w}; {short}"),
            None => short,
        });
    }
    if let Some(w) = &outcome.warning {
        error::warn(w);
    }
    Ok(outcome)
}

/// Says so when the token handed out has less than `min_ttl` left because the server
/// issues shorter tokens (`broker::needed_ms` caps min_ttl at 45 % of a lifetime).
pub fn min_ttl_shortfall(outcome: &Outcome, min_ttl: u64) -> Option<String> {
    let entry = &outcome.entry;
    let left = entry.expires_at_ms.saturating_sub(now_ms()) / 1000;
    let capped = broker::needed_ms(entry, min_ttl) < min_ttl.saturating_mul(1000);
    (capped && left < min_ttl && !entry.is_expired(now_ms())).then(|| {
        format!(
            "min_ttl {min_ttl}s cannot be met: the server issues tokens that live {}s and this one has {left}s left; ask the helper for a token per request instead of holding one for a long job",
            entry.lifetime_ms() / 1000
        )
    })
}

pub fn read_stdin() -> Result<String> {
    let mut text = String::new();
    std::io::stdin()
        .take(MAX_STDIN)
        .read_to_string(&mut text)
        .map_err(|e| Error::invalid_request(format!("cannot read stdin as UTF-8 text: {e}")))?;
    Ok(text)
}

/// Writes one line to stdout; a closed pipe is the reader's choice, not our error.
/// Human-facing text on stdout, as is. A closed stdout (piped to `head`, say) is silence
/// with the command's usual exit code, never a panic (`print!` would, and the release
/// build aborts). Every byte the helper prints goes through here or `print_line`.
pub fn print_text(text: &str) {
    let mut out = std::io::stdout().lock();
    let _ = out.write_all(text.as_bytes());
    let _ = out.flush();
}

pub fn print_line(line: &str) {
    let mut out = std::io::stdout().lock();
    let _ = writeln!(out, "{line}");
    let _ = out.flush();
}

/// The expiry to tell a host that caches tokens (unix ms): when the helper itself would stop
/// handing this token out (`broker::needed_ms` before expiry). Hosts compare with no
/// margin, so they re-ask in time for a renewal.
pub fn host_expiry_ms(outcome: &Outcome, profile: &Profile) -> u64 {
    let entry = &outcome.entry;
    let margin = broker::needed_ms(entry, profile.min_ttl);
    entry
        .expires_at_ms
        .saturating_sub(margin)
        .max(now_ms().min(entry.expires_at_ms))
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::ffi::OsStr;

    #[test]
    fn argv0_selects_adapters() {
        assert_eq!(
            adapter_for_argv0(OsStr::new("/usr/bin/git-credential-bsn")),
            Some("git")
        );
        assert_eq!(
            adapter_for_argv0(OsStr::new("docker-credential-bsn.exe")),
            Some("docker")
        );
        assert_eq!(
            adapter_for_argv0(OsStr::new("./bazel-credential-bsn")),
            Some("bazel")
        );
        assert_eq!(adapter_for_argv0(OsStr::new("bsn-credential-helper")), None);
        assert_eq!(adapter_for_argv0(OsStr::new("git-credential-bsnx")), None);
    }
}
