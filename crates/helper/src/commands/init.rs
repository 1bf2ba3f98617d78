//! `init`: writes a client-credentials profile to the config file — asking on a terminal,
//! from flags in scripts — after running the doctor checks on it. The secret itself never
//! goes into config.toml: it stays in a 0600 file we write, an environment variable, or
//! a command's output. The previous config file is kept as `config.toml.bak`.

use super::doctor;
use super::setup::write_private;
use crate::config::{self, DEFAULT_PROFILE, Overrides};
use crate::error::{Error, Result};
use std::io::{BufRead, IsTerminal, Write};
use std::path::{Path, PathBuf};
use std::process::ExitCode;

/// Where the client secret lives.
#[derive(Debug, Clone)]
pub enum SecretPlace {
    /// A file we write with mode 0600 (the secret comes from stdin or a hidden prompt).
    File(PathBuf),
    Env(String),
    Command(String),
}

#[derive(Debug, Default)]
pub struct Options {
    pub client_id: Option<String>,
    pub secret: Option<SecretPlace>,
    pub network: Option<String>,
    pub token_url: Option<String>,
    pub api_url: Option<String>,
    pub force: bool,
}

pub fn init(overrides: &Overrides, mut opts: Options) -> Result<ExitCode> {
    let interactive = std::io::stdin().is_terminal();
    let client_id = match opts.client_id.take() {
        Some(id) => id,
        None if interactive => ask("Client id (Admin Panel → Settings → Applications)")?,
        None => {
            return Err(Error::config(
                "init needs --client-id when stdin is not a terminal",
            ));
        }
    };
    let secret = match opts.secret.take() {
        Some(place) => place,
        None if interactive => ask_secret_place()?,
        None => {
            return Err(Error::config(
                "init needs one of --secret-file, --secret-env, --secret-command when stdin is not a terminal",
            ));
        }
    };
    if let SecretPlace::File(path) = &secret {
        // Written where the config's `~/…` will be read from.
        store_secret(&config::expand_home(path), interactive)?;
    }
    if opts.network.is_none() && interactive {
        opts.network = Some(ask("Network (empty for none)")?).filter(|n| !n.is_empty());
    }
    let (path, _) = config::config_path(overrides, &config::process_env)
        .ok_or_else(|| Error::config("no config directory is known; pass --config FILE"))?;
    let name = overrides
        .profile
        .clone()
        .unwrap_or_else(|| DEFAULT_PROFILE.to_string());
    let text = render(&path, &name, &client_id, &secret, &opts)?;
    check_and_write(overrides, &path, &name, &text, opts.force)
}

/// The file with `[profiles.NAME]` replaced; other profiles and keys kept.
fn render(
    path: &Path,
    name: &str,
    client_id: &str,
    secret: &SecretPlace,
    opts: &Options,
) -> Result<String> {
    let mut doc: toml::Table = match std::fs::read_to_string(path) {
        Ok(text) => toml::from_str(&text).map_err(|e| {
            Error::config(format!(
                "{} is invalid ({}); fix it before init",
                path.display(),
                e.message()
            ))
        })?,
        Err(_) => toml::Table::new(),
    };
    let mut profile = toml::Table::new();
    profile.insert("client_id".into(), client_id.into());
    let (key, value) = match secret {
        SecretPlace::File(p) => ("client_secret_file", p.display().to_string()),
        SecretPlace::Env(n) => ("client_secret_env", n.clone()),
        SecretPlace::Command(c) => ("client_secret_command", c.clone()),
    };
    profile.insert(key.into(), value.into());
    for (key, value) in [
        ("network", &opts.network),
        ("token_url", &opts.token_url),
        ("api_url", &opts.api_url),
    ] {
        if let Some(v) = value {
            profile.insert(key.into(), v.clone().into());
        }
    }
    let profiles = doc
        .entry("profiles")
        .or_insert_with(|| toml::Table::new().into());
    let Some(profiles) = profiles.as_table_mut() else {
        return Err(Error::config(format!(
            "profiles in {} is not a table",
            path.display()
        )));
    };
    profiles.insert(name.into(), profile.into());
    if name != DEFAULT_PROFILE && !doc.contains_key("default_profile") {
        doc.insert("default_profile".into(), name.into());
    }
    toml::to_string(&doc).map_err(|e| Error::internal(format!("cannot write TOML: {e}")))
}

/// Runs the doctor checks against the new file (written beside the real one), then
/// moves it into place if they pass or `--force` says so.
fn check_and_write(
    overrides: &Overrides,
    path: &Path,
    name: &str,
    text: &str,
    force: bool,
) -> Result<ExitCode> {
    let dir = path.parent().unwrap_or(Path::new("."));
    std::fs::create_dir_all(dir)
        .map_err(|e| Error::config(format!("cannot create {}: {e}", dir.display())))?;
    let candidate = path.with_extension("toml.new");
    write_private(&candidate, text)?;
    let trial = Overrides {
        config: Some(candidate.clone()),
        profile: Some(name.to_string()),
        ..overrides.clone()
    };
    let report = doctor::run(&trial);
    crate::adapters::print_text(&doctor::render(&report));
    if !report.ok && !force {
        let _ = std::fs::remove_file(&candidate);
        crate::adapters::print_line(&format!(
            "\nnot written: fix the failed checks and run init again (or pass --force)"
        ));
        return Ok(ExitCode::from(1));
    }
    if let Ok(old) = std::fs::read_to_string(path) {
        write_private(&path.with_extension("toml.bak"), &old)?;
    }
    std::fs::rename(&candidate, path)
        .map_err(|e| Error::config(format!("cannot write {}: {e}", path.display())))?;
    crate::adapters::print_line(&format!("\nwrote profile \"{name}\" to {}", path.display()));
    Ok(if report.ok {
        ExitCode::SUCCESS
    } else {
        ExitCode::from(1)
    })
}

/// Reads the secret (stdin, or a prompt without echo) into a 0600 file. Empty input
/// keeps an existing file.
fn store_secret(path: &Path, interactive: bool) -> Result<()> {
    let secret = if interactive {
        crate::log::prompt(&format!("Client secret (not shown): "));
        let _ = std::io::stderr().flush();
        let s = without_echo(read_line);
        crate::log::line(format_args!(""));
        s?
    } else {
        read_line()?
    };
    if secret.is_empty() {
        return match path.exists() {
            true => Ok(()),
            false => Err(Error::config(format!(
                "no secret on stdin to write to {}; pipe it in (`printf %s \"$SECRET\" | … init …`)",
                path.display()
            ))),
        };
    }
    if let Some(dir) = path.parent() {
        let _ = std::fs::create_dir_all(dir);
    }
    write_private(path, &format!("{secret}\n"))
}

fn read_line() -> Result<String> {
    let mut line = String::new();
    std::io::stdin()
        .lock()
        .read_line(&mut line)
        .map_err(|e| Error::config(format!("cannot read stdin: {e}")))?;
    Ok(line.trim_end_matches(['\r', '\n']).to_string())
}

fn ask(question: &str) -> Result<String> {
    crate::log::prompt(&format!("{question}: "));
    let _ = std::io::stderr().flush();
    read_line().map(|s| s.trim().to_string())
}

fn ask_secret_place() -> Result<SecretPlace> {
    crate::log::line(format_args!("Where does the client secret live?"));
    crate::log::line(format_args!("  1) a file this command writes (mode 0600)"));
    crate::log::line(format_args!("  2) an environment variable"));
    crate::log::line(format_args!(
        "  3) a command that prints it (e.g. pass show bsn/secret)"
    ));
    match ask("Choose 1, 2 or 3")?.as_str() {
        "1" => {
            let default = config::config_path(&Overrides::default(), &config::process_env)
                .and_then(|(p, _)| p.parent().map(|d| d.join("client-secret")))
                .unwrap_or_else(|| PathBuf::from("client-secret"));
            let given = ask(&format!("File [{}]", default.display()))?;
            Ok(SecretPlace::File(if given.is_empty() {
                default
            } else {
                PathBuf::from(given)
            }))
        }
        "2" => Ok(SecretPlace::Env(ask("Variable name")?)),
        "3" => Ok(SecretPlace::Command(ask("Command")?)),
        _ => Err(Error::config("choose 1, 2 or 3")),
    }
}

/// Runs `f` with terminal echo off (Unix); elsewhere just runs it.
fn without_echo<T>(f: impl FnOnce() -> T) -> T {
    #[cfg(unix)]
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
