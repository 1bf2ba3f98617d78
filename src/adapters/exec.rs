//! `bsn-credential-helper exec [--env NAME] -- CMD ARGS…`: runs CMD with a token valid for
//! at least min_ttl in `$BSN_ACCESS_TOKEN` (or NAME) — in the environment, never in argv.
//!
//! On Unix the helper replaces itself with CMD (`execvp`), so exit status and signals are
//! CMD's own. Elsewhere it spawns CMD, waits, and exits with CMD's code.
//! CMD not found: exit 127; found but not executable: 126 (the shell's conventions).

use crate::cli::{Cli, ExecArgs};
use crate::commands;
use crate::error::{Error, Result};
use std::ffi::OsString;
use std::process::{Command, ExitCode};

pub const NOT_FOUND_EXIT: u8 = 127;
pub const NOT_EXECUTABLE_EXIT: u8 = 126;

pub fn check_env_name(name: &str) -> Result<()> {
    if name.is_empty() || name.contains(['=', '\0']) {
        return Err(Error::invalid_request(format!(
            "--env \"{name}\" is not a usable environment variable name"
        )));
    }
    Ok(())
}

pub fn run(cli: &Cli, args: &ExecArgs) -> ExitCode {
    match prepare(cli, args) {
        Ok(command) => launch(command, &args.command[0]),
        Err(e) => {
            eprintln!("bsn-credential-helper: error: {e}");
            e.exit_code()
        }
    }
}

fn prepare(cli: &Cli, args: &ExecArgs) -> Result<Command> {
    check_env_name(&args.env)?;
    let (program, rest) = args
        .command
        .split_first()
        .ok_or_else(|| Error::invalid_request("exec needs a command to run after `--`"))?;
    let (_, outcome) = commands::obtain(&commands::overrides(cli), None, false)?;
    let mut command = Command::new(program);
    command
        .args(rest)
        .env(&args.env, outcome.entry.access_token.expose());
    Ok(command)
}

fn launch_error(e: &std::io::Error, program: &OsString) -> ExitCode {
    let name = program.to_string_lossy();
    match e.kind() {
        std::io::ErrorKind::NotFound => {
            eprintln!("bsn-credential-helper: error: command not found: {name}");
            ExitCode::from(NOT_FOUND_EXIT)
        }
        std::io::ErrorKind::PermissionDenied => {
            eprintln!("bsn-credential-helper: error: cannot execute {name}: {e}");
            ExitCode::from(NOT_EXECUTABLE_EXIT)
        }
        _ => {
            eprintln!("bsn-credential-helper: error: cannot run {name}: {e}");
            ExitCode::from(NOT_EXECUTABLE_EXIT)
        }
    }
}

#[cfg(unix)]
fn launch(mut command: Command, program: &OsString) -> ExitCode {
    use std::os::unix::process::CommandExt;
    // Returns only if the exec failed.
    let e = command.exec();
    launch_error(&e, program)
}

#[cfg(not(unix))]
fn launch(mut command: Command, program: &OsString) -> ExitCode {
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
