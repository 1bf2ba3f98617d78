//! `init`: writes a profile to the config file — asking on a terminal, from flags in
//! scripts — after running the doctor checks on exactly what it writes: environment
//! variables that would override the profile are hidden from the checks, and named in the
//! report. Secrets never go into config.toml: the client secret stays in a 0600 file we
//! write, an environment variable, or a command's output; a user's password in a variable
//! or a command. The previous config file is kept as `config.toml.bak`.

mod ask;

use super::doctor;
use super::setup::write_private;
use crate::config::{self, DEFAULT_PROFILE, Overrides};
use crate::error::{Error, Result};
use std::io::IsTerminal;
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

/// Where a user's password lives.
#[derive(Debug, Clone)]
pub enum Place {
    Env(String),
    Command(String),
}

/// A user-session (password grant) profile.
#[derive(Debug, Clone)]
pub struct Login {
    pub username: String,
    pub password: Place,
}

#[derive(Debug, Default)]
pub struct Options {
    pub client_id: Option<String>,
    pub secret: Option<SecretPlace>,
    /// Some: the password grant, as this user.
    pub login: Option<Login>,
    pub network: Option<String>,
    pub token_url: Option<String>,
    pub api_url: Option<String>,
    /// Make this profile the file's `default_profile`.
    pub make_default: bool,
    pub force: bool,
}

/// The settings `init` writes; their environment variables (from the settings table)
/// would override the profile, so they are hidden from its checks.
const WRITTEN: [&str; 8] = [
    "client_id",
    "client_secret",
    "network",
    "token_url",
    "api_url",
    "grant",
    "username",
    "password",
];

fn overriding() -> impl Iterator<Item = &'static str> {
    WRITTEN
        .iter()
        .flat_map(|k| config::table::env_of(k).iter().copied())
}

pub fn init(overrides: &Overrides, mut opts: Options) -> Result<ExitCode> {
    let interactive = std::io::stdin().is_terminal();
    if interactive {
        ask::identity(&mut opts)?;
    }
    let client_id = match opts.client_id.take().filter(|id| !id.trim().is_empty()) {
        Some(id) => id,
        None => {
            return Err(Error::config(
                "init needs a client id: pass --client-id (it cannot be empty)",
            ));
        }
    };
    let Some(secret) = opts.secret.take() else {
        return Err(Error::config(
            "init needs one of --secret-file, --secret-env, --secret-command when stdin is not a terminal",
        ));
    };
    let names = [
        match &secret {
            SecretPlace::Env(n) => Some(n),
            _ => None,
        },
        match &opts.login {
            Some(Login {
                password: Place::Env(n),
                ..
            }) => Some(n),
            _ => None,
        },
    ];
    if let Some(bad) = names
        .into_iter()
        .flatten()
        .find(|n| ask::env_name(n).is_none())
    {
        return Err(Error::config(format!(
            "{} is not an environment variable name; use letters, digits and _",
            crate::text::quote(bad)
        )));
    }
    if let SecretPlace::File(path) = &secret {
        // Written where the config's `~/…` will be read from.
        store_secret(&config::expand_home(path), interactive)?;
    }
    if interactive {
        ask::rest(&mut opts)?;
    }
    // Endpoints set in the environment (a staging deployment, the emulator) are written
    // into the profile, so what is checked is what is written.
    opts.token_url = opts
        .token_url
        .or_else(|| config::process_env("BSN_TOKEN_URL"));
    opts.api_url = opts.api_url.or_else(|| config::process_env("BSN_API_URL"));
    let (path, _) = config::config_path(overrides, &config::process_env)
        .ok_or_else(|| Error::config("no config directory is known; pass --config FILE"))?;
    let name = overrides
        .profile
        .clone()
        .unwrap_or_else(|| DEFAULT_PROFILE.to_string());
    if name != DEFAULT_PROFILE && !opts.make_default && interactive {
        opts.make_default = ask::make_default(&name)?;
    }
    let text = render(&path, &name, &client_id, &secret, &opts)?;
    check_and_write(overrides, &path, &name, &text, &secret, opts.force)
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
    if let Some(login) = &opts.login {
        profile.insert("grant".into(), "password".into());
        profile.insert("username".into(), login.username.clone().into());
        let (key, value) = match &login.password {
            Place::Env(n) => ("password_env", n),
            Place::Command(c) => ("password_command", c),
        };
        profile.insert(key.into(), value.clone().into());
    }
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
    if opts.make_default {
        doc.insert("default_profile".into(), name.into());
    }
    toml::to_string(&doc).map_err(|e| Error::internal(format!("cannot write TOML: {e}")))
}

/// Runs the doctor checks against the new file (written beside the real one), with no
/// environment variable overriding it, then moves it into place if they pass or `--force`
/// says so.
fn check_and_write(
    overrides: &Overrides,
    path: &Path,
    name: &str,
    text: &str,
    secret: &SecretPlace,
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
    // The secret's own variable (--secret-env BSN_CLIENT_SECRET) is part of the profile.
    let own = match secret {
        SecretPlace::Env(n) => n.as_str(),
        _ => "",
    };
    let hidden = |var: &str| overriding().any(|v| v == var) && var != own;
    let env = |var: &str| {
        if hidden(var) {
            None
        } else {
            config::process_env(var)
        }
    };
    let mut report = doctor::run_in(&trial, &env);
    // Say what the report is about: the real file, and a profile nobody passed by flag.
    report.explanation.config_file = Some(path.to_path_buf());
    let (trial_name, real_name) = (candidate.display().to_string(), path.display().to_string());
    for s in &mut report.explanation.settings {
        s.source = s.source.replace(&trial_name, &real_name);
    }
    if overrides.profile.is_none()
        && let Some(s) = report.explanation.settings.first_mut()
    {
        s.source = "init (the default profile)".into();
    }
    crate::adapters::print_text(&doctor::render(&report));
    if !report.ok && !force {
        let _ = std::fs::remove_file(&candidate);
        crate::adapters::print_line(
            "\nnot written: fix the failed checks and run init again (or pass --force)",
        );
        return Ok(ExitCode::from(1));
    }
    if let Ok(old) = std::fs::read_to_string(path) {
        write_private(&path.with_extension("toml.bak"), &old)?;
    }
    std::fs::rename(&candidate, path)
        .map_err(|e| Error::config(format!("cannot write {}: {e}", path.display())))?;
    crate::adapters::print_line(&format!("\nwrote profile \"{name}\" to {}", path.display()));
    let set: Vec<&str> = overriding()
        .filter(|v| hidden(v) && config::process_env(v).is_some())
        .collect();
    if !set.is_empty() {
        crate::adapters::print_line(&format!(
            "note: {} set in this environment would override the profile; the checks ran without them",
            set.join(", ")
        ));
    }
    if name != DEFAULT_PROFILE && !text.contains("default_profile") {
        crate::adapters::print_line(&format!(
            "note: use it with --profile {name} or BSN_PROFILE={name} (or run init again with --default)"
        ));
    }
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
        crate::log::prompt("Client secret (not shown): ");
        let s = ask::without_echo(ask::read_line);
        crate::log::line(format_args!(""));
        s?
    } else {
        ask::read_line()?
    }
    .unwrap_or_default();
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
