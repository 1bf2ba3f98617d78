use bsn_credential_helper::cli::{Cli, Command};
use bsn_credential_helper::{adapters, commands, error::Error};
use clap::Parser;
use std::ffi::OsString;
use std::process::ExitCode;

fn main() -> ExitCode {
    match run() {
        Ok(code) => code,
        Err(e) => {
            eprintln!("bsn-credential-helper: error: {e}");
            e.exit_code()
        }
    }
}

fn run() -> Result<ExitCode, Error> {
    let cli = Cli::parse_from(args());
    if cli.verbose || std::env::var("BSN_LOG").is_ok_and(|v| v == "debug") {
        bsn_credential_helper::log::enable();
    }
    match &cli.command {
        Command::Get => Ok(commands::get(&cli)),
        Command::Token(args) => commands::token(&cli, args, false),
        Command::Header(args) => commands::token(&cli, args, true),
        Command::Erase => commands::erase(&cli),
        Command::Status { json } => commands::status(&cli, *json),
        Command::Git { verb } => Ok(adapters::git::run(&cli, verb.as_deref())),
        Command::Docker { verb } => Ok(adapters::docker::run(&cli, verb.as_deref())),
        Command::Bazel { verb } => Ok(adapters::bazel::run(&cli, verb.as_deref())),
        Command::Exec(args) => Ok(adapters::exec::run(&cli, args)),
        Command::Completions { shell } => {
            clap_complete::generate(
                *shell,
                &mut bsn_credential_helper::cli::command(),
                "bsn-credential-helper",
                &mut std::io::stdout(),
            );
            Ok(ExitCode::SUCCESS)
        }
        Command::Manpage => {
            clap_mangen::Man::new(bsn_credential_helper::cli::command())
                .render(&mut std::io::stdout())
                .map_err(|e| Error::internal(format!("cannot write the man page: {e}")))?;
            Ok(ExitCode::SUCCESS)
        }
        Command::Emulator(args) => emulator(args, cli.config.as_deref()),
        Command::Demo(args) => bsn_credential_helper::demo::run(args),
    }
}

/// `emulator --config FILE` reads the emulator's clients, users and networks: the global
/// `--config` names whichever file the command at hand reads.
fn emulator(
    args: &bsn_credential_helper::cli::EmulatorArgs,
    config_flag: Option<&std::path::Path>,
) -> Result<ExitCode, Error> {
    use bsn_credential_helper::emulator::{EmulatorConfig, serve_forever};
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

/// Invoked as `git-credential-bsn VERB`, `docker-credential-bsn VERB` (how git and Docker
/// find helpers on PATH) or `bazel-credential-bsn get` (Bazel passes no arguments of ours),
/// the arguments mean `bsn-credential-helper git|docker|bazel VERB`.
fn args() -> Vec<OsString> {
    let mut args: Vec<OsString> = std::env::args_os().collect();
    if let Some(adapter) = args.first().and_then(|a| adapters::adapter_for_argv0(a)) {
        args[0] = OsString::from("bsn-credential-helper");
        args.insert(1, OsString::from(adapter));
    }
    args
}
