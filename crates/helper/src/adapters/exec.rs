//! `bsn-credential-helper exec [--env NAME] -- CMD ARGS…`: runs CMD with a token valid for
//! at least min_ttl in `$BSN_ACCESS_TOKEN` (or NAME) — in the environment, never in argv.
//!
//! On Unix the helper replaces itself with CMD (`execvp`), so exit status and signals are
//! CMD's own. Elsewhere it spawns CMD, waits, and exits with CMD's code.
//! CMD not found: exit 127; found but not executable: 126 (the shell's conventions).

use super::{Protocol, Reply, obtain};
use crate::broker::Request;
use crate::error::{self, Error, Result};
use crate::invocation::Invocation;
use std::ffi::OsString;
use std::process::Command;

pub const NOT_FOUND_EXIT: u8 = 127;
pub const NOT_EXECUTABLE_EXIT: u8 = 126;

/// The helper's own secrets: the child needs the token, not what mints tokens.
pub const SECRET_VARIABLES: [&str; 4] = [
    "BSN_CLIENT_SECRET",
    "BSN_SECRET",
    "BS_SECRET",
    "BSN_PASSWORD",
];

pub fn check_env_name(name: &str) -> Result<()> {
    if name.is_empty() || name.contains(['=', '\0']) {
        return Err(Error::invalid_request(format!(
            "--env {} is not a usable environment variable name",
            crate::text::quote(name)
        )));
    }
    Ok(())
}

pub struct Exec {
    /// Variable that receives the token.
    pub env: String,
    pub command: Vec<OsString>,
    /// Pass SECRET_VARIABLES on to the child (`--keep-secrets`).
    pub keep_secrets: bool,
}

impl Protocol for Exec {
    fn serve(&self, inv: &Invocation) -> Result<Reply> {
        let command = self.prepare(inv)?;
        Ok(Reply::Exit(launch(command, &self.command[0])))
    }
}

impl Exec {
    fn prepare(&self, inv: &Invocation) -> Result<Command> {
        check_env_name(&self.env)?;
        let (program, rest) = self
            .command
            .split_first()
            .ok_or_else(|| Error::invalid_request("exec needs a command to run after `--`"))?;
        let profile = inv.profile()?;
        // `obtain` warns when the token has less than min_ttl left.
        let outcome = obtain(profile, &Request::default())?;
        let mut command = Command::new(program);
        command.args(rest);
        if !self.keep_secrets {
            for name in SECRET_VARIABLES {
                command.env_remove(name);
            }
        }
        command.env(&self.env, outcome.entry.access_token.expose());
        crate::process::restore_for_child(&mut command);
        Ok(command)
    }
}

fn launch_error(e: &std::io::Error, program: &OsString) -> u8 {
    let name = crate::text::escape(&program.to_string_lossy());
    match e.kind() {
        std::io::ErrorKind::NotFound => {
            error::print_error(&format!("command not found: {name}"));
            NOT_FOUND_EXIT
        }
        std::io::ErrorKind::PermissionDenied => {
            error::print_error(&format!("cannot execute {name}: {e}"));
            NOT_EXECUTABLE_EXIT
        }
        _ => {
            error::print_error(&format!("cannot run {name}: {e}"));
            NOT_EXECUTABLE_EXIT
        }
    }
}

#[cfg(unix)]
fn launch(mut command: Command, program: &OsString) -> u8 {
    use std::os::unix::process::CommandExt;
    // Returns only if the exec failed.
    let e = command.exec();
    launch_error(&e, program)
}

#[cfg(not(unix))]
fn launch(mut command: Command, program: &OsString) -> u8 {
    match command.status() {
        // Windows exit codes are 32-bit: pass them through whole.
        Ok(status) => std::process::exit(status.code().unwrap_or(1)),
        Err(e) => launch_error(&e, program),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn env_names() {
        assert!(check_env_name("BSN_ACCESS_TOKEN").is_ok());
        assert!(check_env_name("").is_err());
        assert!(check_env_name("A=B").is_err());
    }
}
