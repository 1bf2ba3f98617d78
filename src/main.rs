//! The face: parses argv once (with the argv[0] personality of git, Docker and Bazel),
//! resolves one `Invocation`, hands it to one adapter or command, and prints an error
//! once, through the library's one sink.

mod cli;
mod man;

use bsn_credential_helper::adapters::{self, Protocol, bazel, docker, exec, git, native};
use bsn_credential_helper::config::{self, Overrides};
use bsn_credential_helper::error::{self, Error};
use bsn_credential_helper::invocation::Invocation;
use bsn_credential_helper::{commands, process};
use clap::Parser;
use cli::{Cli, Command};
use std::ffi::OsString;
use std::process::ExitCode;

fn main() -> ExitCode {
    process::harden();
    match run() {
        Ok(code) => code,
        Err(e) => {
            error::report(&e);
            e.exit_code()
        }
    }
}

fn run() -> Result<ExitCode, Error> {
    let cli = Cli::parse_from(args());
    let overrides = Overrides {
        config: cli.config.clone(),
        profile: cli.profile.clone(),
        min_ttl: cli.min_ttl,
    };
    if cli.verbose || std::env::var("BSN_LOG").is_ok_and(|v| v == "debug") {
        bsn_credential_helper::log::enable();
        // Which file was read and where each setting came from (secrets: only "set").
        for line in config::explain(&overrides, &config::process_env).lines() {
            bsn_credential_helper::debug!("{line}");
        }
    }
    let invocation = || Invocation::resolve(overrides.clone(), cli::VERSION);
    let protocol: Box<dyn Protocol> = match cli.command {
        Command::Get => Box::new(native::Get),
        Command::Token(args) => Box::new(native::Token {
            as_header: false,
            force_refresh: args.force_refresh,
        }),
        Command::Header(args) => Box::new(native::Token {
            as_header: true,
            force_refresh: args.force_refresh,
        }),
        Command::Git { verb } => Box::new(git::Git { verb }),
        Command::Docker { verb } => Box::new(docker::Docker { verb }),
        Command::Bazel { verb } => Box::new(bazel::Bazel { verb }),
        Command::Exec(args) => Box::new(exec::Exec {
            env: args.env,
            command: args.command,
            keep_secrets: args.keep_secrets,
        }),
        Command::Erase(args) => return commands::erase(&invocation(), !args.no_revoke),
        Command::Doctor { json } => return Ok(commands::doctor::doctor(&overrides, json)),
        Command::Setup(args) => {
            return commands::setup::setup(&invocation(), args.tool.into(), args.dry_run);
        }
        Command::InstallLinks { dir } => return commands::install_links::install(dir.as_deref()),
        Command::Init(args) => return commands::init::init(&overrides, init_options(args)),
        Command::Status { json } => return commands::status(&invocation(), json),
        Command::Completions { shell } => {
            man::completions(shell, &mut std::io::stdout())
                .map_err(|e| Error::internal(format!("cannot write completions: {e}")))?;
            return Ok(ExitCode::SUCCESS);
        }
        Command::Profiles => {
            let names = config::profile_names(&overrides, &config::process_env);
            bsn_credential_helper::adapters::print_text(
                &names.iter().map(|n| format!("{n}\n")).collect::<String>(),
            );
            return Ok(ExitCode::SUCCESS);
        }
        Command::Manpage => {
            man::manpage(&mut std::io::stdout())
                .map_err(|e| Error::internal(format!("cannot write the man page: {e}")))?;
            return Ok(ExitCode::SUCCESS);
        }
        Command::Emulator(args) => return emulator(&args, cli.config.as_deref()),
        Command::Demo(args) => {
            let exe = std::env::current_exe()
                .map_err(|e| Error::internal(format!("cannot find this program's path: {e}")))?;
            return bsn_emulator::demo::run(args.processes, &exe).map_err(Error::internal);
        }
    };
    Ok(adapters::drive(protocol.as_ref(), &invocation()))
}

/// `emulator --config FILE` reads the emulator's clients, users and networks: the global
/// `--config` names whichever file the command at hand reads.
fn emulator(
    args: &cli::EmulatorArgs,
    config_flag: Option<&std::path::Path>,
) -> Result<ExitCode, Error> {
    use bsn_emulator::{EmulatorConfig, serve_forever};
    let mut config = match args.emulator_config.as_deref().or(config_flag) {
        Some(path) => EmulatorConfig::load_toml(path).map_err(Error::config)?,
        None => EmulatorConfig {
            port: 8765,
            ..EmulatorConfig::demo()
        },
    };
    config.port = args.port.unwrap_or(config.port);
    config.access_ttl = args.access_ttl.unwrap_or(config.access_ttl);
    config.refresh_ttl = args.refresh_ttl.unwrap_or(config.refresh_ttl);
    config.session_ttl = args.session_ttl.unwrap_or(config.session_ttl);
    config.max_active = args.max_active.or(config.max_active);
    let port = config.port;
    serve_forever(config).map_err(|e| {
        Error::internal(format!(
            "the emulator cannot serve on 127.0.0.1:{port}: {e}; pick another --port"
        ))
    })?;
    Ok(ExitCode::SUCCESS)
}

fn init_options(args: cli::InitArgs) -> commands::init::Options {
    commands::init::Options {
        client_id: args.client_id,
        secret: match (args.secret_file, args.secret_env, args.secret_command) {
            (Some(p), _, _) => Some(commands::init::SecretPlace::File(p)),
            (_, Some(n), _) => Some(commands::init::SecretPlace::Env(n)),
            (_, _, Some(c)) => Some(commands::init::SecretPlace::Command(c)),
            _ => None,
        },
        login: args.username.map(|username| commands::init::Login {
            username,
            password: match (args.password_env, args.password_command) {
                (Some(n), _) => commands::init::Place::Env(n),
                (_, c) => commands::init::Place::Command(c.unwrap_or_default()),
            },
        }),
        network: args.network,
        token_url: args.token_url,
        api_url: args.api_url,
        make_default: args.default,
        force: args.force,
    }
}

/// Invoked as `git-credential-bsn VERB`, `docker-credential-bsn VERB` (how git and Docker
/// find helpers on PATH) or `bazel-credential-bsn get` (Bazel passes no arguments of ours),
/// the arguments mean `bsn-credential-helper git|docker|bazel VERB`.
fn args() -> Vec<OsString> {
    let mut args: Vec<OsString> = std::env::args_os().collect();
    // `docker-credential-bsn --version` (or `-V`, `--help`) is about the program itself.
    let about_us = args
        .get(1)
        .is_some_and(|a| ["--version", "-V", "--help", "-h"].iter().any(|f| a == f));
    if let Some(adapter) = args.first().and_then(|a| adapters::adapter_for_argv0(a))
        && !about_us
    {
        args[0] = OsString::from("bsn-credential-helper");
        args.insert(1, OsString::from(adapter));
    }
    args
}
