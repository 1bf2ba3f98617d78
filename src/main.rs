use bsn_credential_helper::cli::{Cli, Command};
use bsn_credential_helper::{commands, error::Error};
use clap::Parser;
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
    let cli = Cli::parse();
    if cli.verbose || std::env::var("BSN_LOG").is_ok_and(|v| v == "debug") {
        bsn_credential_helper::log::enable();
    }
    match &cli.command {
        Command::Get => Ok(commands::get(&cli)),
        Command::Token(args) => commands::token(&cli, args, false),
        Command::Header(args) => commands::token(&cli, args, true),
        Command::Erase => commands::erase(&cli),
        Command::Status { json } => commands::status(&cli, *json),
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
        Command::Emulator(args) => emulator(args),
        Command::Demo(args) => bsn_credential_helper::demo::run(args),
        _ => Err(Error::internal("this command is not built yet")),
    }
}

fn emulator(args: &bsn_credential_helper::cli::EmulatorArgs) -> Result<ExitCode, Error> {
    use bsn_credential_helper::emulator::{EmulatorConfig, serve_forever};
    let mut config = match &args.emulator_config {
        Some(path) => EmulatorConfig::load_toml(path).map_err(Error::config)?,
        None => EmulatorConfig::demo(),
    };
    config.port = args.port;
    config.access_ttl = args.access_ttl.unwrap_or(config.access_ttl);
    config.refresh_ttl = args.refresh_ttl.unwrap_or(config.refresh_ttl);
    config.session_ttl = args.session_ttl.unwrap_or(config.session_ttl);
    config.max_active = args.max_active.or(config.max_active);
    serve_forever(config).map_err(|e| {
        Error::internal(format!(
            "the emulator cannot serve on 127.0.0.1:{}: {e}; pick another --port",
            args.port
        ))
    })?;
    Ok(ExitCode::SUCCESS)
}
