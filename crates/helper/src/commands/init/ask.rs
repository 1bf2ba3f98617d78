//! What `init` asks on a terminal. An empty or invalid answer is asked again (it never
//! ends the run); secrets are read without echo.

use super::{Login, Options, Place, SecretPlace};
use crate::config::{self, Overrides};
use crate::error::{Error, Result};
use std::io::BufRead;
use std::path::PathBuf;

/// Fills who the application is, if the flags did not say.
pub fn identity(opts: &mut Options) -> Result<()> {
    if opts.client_id.is_none() {
        opts.client_id = Some(until(
            "Client id (Admin Panel → Settings → Applications)",
            |a| (!a.is_empty()).then(|| a.to_string()),
        )?);
    }
    if opts.secret.is_none() {
        opts.secret = Some(secret_place()?);
    }
    Ok(())
}

/// Fills the rest the flags left open: a user login, the network.
pub fn rest(opts: &mut Options) -> Result<()> {
    if opts.login.is_none()
        && until(
            "Log in as a user (password grant) instead of as the application? [y/N]",
            yes_no,
        )?
    {
        let username = until("User name (e-mail)", |a| {
            (!a.is_empty()).then(|| a.to_string())
        })?;
        let password = place("password", "BSN_PASSWORD")?;
        opts.login = Some(Login { username, password });
    }
    if opts.network.is_none() {
        opts.network = Some(ask("Network (empty for none)")?).filter(|n| !n.is_empty());
    }
    Ok(())
}

/// Whether to make `name` the default profile.
pub fn make_default(name: &str) -> Result<bool> {
    until(
        &format!("Make \"{name}\" the default profile? [y/N]"),
        yes_no,
    )
}

fn yes_no(answer: &str) -> Option<bool> {
    match answer.to_ascii_lowercase().as_str() {
        "" | "n" | "no" => Some(false),
        "y" | "yes" => Some(true),
        _ => None,
    }
}

/// Asks until `parse` accepts the answer; end of input is an error naming the flags.
fn until<T>(question: &str, parse: impl Fn(&str) -> Option<T>) -> Result<T> {
    loop {
        let answer = ask(question)?;
        if let Some(v) = parse(&answer) {
            return Ok(v);
        }
        crate::log::line(format_args!("  not an answer to that; try again"));
    }
}

fn secret_place() -> Result<SecretPlace> {
    crate::log::line(format_args!("Where does the client secret live?"));
    crate::log::line(format_args!("  1) a file this command writes (mode 0600)"));
    crate::log::line(format_args!("  2) an environment variable"));
    crate::log::line(format_args!(
        "  3) a command that prints it (e.g. pass show bsn/secret)"
    ));
    let choice = until("Choose 1, 2 or 3", |a| {
        ["1", "2", "3"].contains(&a).then(|| a.to_string())
    })?;
    Ok(match choice.as_str() {
        "1" => {
            let default = config::config_path(&Overrides::default(), &config::process_env)
                .and_then(|(p, _)| p.parent().map(|d| d.join("client-secret")))
                .unwrap_or_else(|| PathBuf::from("client-secret"));
            let given = ask(&format!("File [{}]", default.display()))?;
            SecretPlace::File(if given.is_empty() {
                default
            } else {
                PathBuf::from(given)
            })
        }
        "2" => SecretPlace::Env(until("Variable name", env_name)?),
        _ => SecretPlace::Command(until("Command", |a| {
            (!a.is_empty()).then(|| a.to_string())
        })?),
    })
}

/// Where the password lives: an environment variable or a command (never the file).
fn place(what: &str, default_env: &str) -> Result<Place> {
    let choice = until(
        &format!("Where does the {what} live? 1) environment variable 2) command"),
        |a| ["1", "2"].contains(&a).then(|| a.to_string()),
    )?;
    Ok(match choice.as_str() {
        "1" => Place::Env(until(&format!("Variable name [{default_env}]"), |a| {
            if a.is_empty() {
                Some(default_env.to_string())
            } else {
                env_name(a)
            }
        })?),
        _ => Place::Command(until("Command", |a| {
            (!a.is_empty()).then(|| a.to_string())
        })?),
    })
}

/// A usable environment variable name.
pub fn env_name(a: &str) -> Option<String> {
    let ok = !a.is_empty()
        && !a.starts_with(|c: char| c.is_ascii_digit())
        && a.chars().all(|c| c.is_ascii_alphanumeric() || c == '_');
    ok.then(|| a.to_string())
}

/// One line of stdin without its line end; None at end of input.
pub fn read_line() -> Result<Option<String>> {
    let mut line = String::new();
    let n = std::io::stdin()
        .lock()
        .read_line(&mut line)
        .map_err(|e| Error::config(format!("cannot read stdin: {e}")))?;
    Ok((n > 0).then(|| line.trim_end_matches(['\r', '\n']).to_string()))
}

fn ask(question: &str) -> Result<String> {
    crate::log::prompt(&format!("{question}: "));
    match read_line()? {
        Some(answer) => Ok(answer.trim().to_string()),
        None => Err(Error::config(
            "stdin ended before every question was answered; pass the answers as flags (init --help)",
        )),
    }
}

/// Runs `f` with terminal echo off (Unix); elsewhere just runs it.
pub fn without_echo<T>(f: impl FnOnce() -> T) -> T {
    #[cfg(unix)]
    // SAFETY: tcgetattr/tcsetattr on stdin with a zeroed termios the call fills in.
    unsafe {
        let mut term: libc::termios = std::mem::zeroed();
        if libc::tcgetattr(0, &mut term) == 0 {
            let saved = term;
            term.c_lflag &= !libc::ECHO;
            libc::tcsetattr(0, libc::TCSANOW, &term);
            let out = f();
            libc::tcsetattr(0, libc::TCSANOW, &saved);
            return out;
        }
    }
    f()
}
