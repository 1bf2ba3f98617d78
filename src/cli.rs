//! The command line, declared once: parsing, `--help`, shell completions and the man page
//! are all generated from these types.

use clap::{Args, Parser, Subcommand};
use std::ffi::OsString;
use std::path::PathBuf;

pub const VERSION: &str = concat!(env!("CARGO_PKG_VERSION"), " (", env!("BSN_GIT_COMMIT"), ")");

#[derive(Debug, Parser)]
#[command(
    name = "bsn-credential-helper",
    version = VERSION,
    about = "Hands out BSN.cloud API access tokens from a shared, file-locked cache",
    long_about = "Hands out BSN.cloud API access tokens from a shared, file-locked cache.\n\n\
        Any number of concurrent invocations share one token and refresh it exactly once. \
        Configure with environment variables (BSN_CLIENT_ID, BSN_CLIENT_SECRET, BSN_NETWORK, …) \
        or profiles in a TOML file; see README.md and protocol.md.",
    after_help = "Try it with no account: `bsn-credential-helper demo`."
)]
pub struct Cli {
    /// Profile to use (default: $BSN_PROFILE, the file's default_profile, or "default")
    #[arg(long, global = true, value_name = "NAME")]
    pub profile: Option<String>,
    /// Config file (default: $BSN_CONFIG or <config dir>/bsn-credential-helper/config.toml)
    #[arg(long, global = true, value_name = "FILE")]
    pub config: Option<PathBuf>,
    /// Seconds the returned token must still be valid (default: $BSN_MIN_TTL or 60)
    #[arg(long, global = true, value_name = "SECONDS")]
    pub min_ttl: Option<u64>,
    /// Debug log on stderr, with tokens and secrets redacted (also BSN_LOG=debug)
    #[arg(short, long, global = true)]
    pub verbose: bool,
    #[command(subcommand)]
    pub command: Command,
}

#[derive(Debug, Subcommand)]
pub enum Command {
    /// Answer one protocol v1 JSON request read from stdin (see protocol.md)
    Get,
    /// Print the bare access token and a newline, for `$(bsn-credential-helper token)`
    Token(TokenArgs),
    /// Print `Authorization: Bearer <token>`, for `curl -H @-` and friends
    Header(TokenArgs),
    /// Forget the profile's cached tokens and revoke them at the server
    Erase(EraseArgs),
    /// Show cached token expiry, session age and cache path per profile (never a token)
    Status {
        /// Print JSON instead of a table
        #[arg(long)]
        json: bool,
    },
    /// Check a profile end to end: settings and their sources, secret, cache, proxy, a
    /// token, network, session and clock
    Doctor {
        /// Print JSON instead of a report
        #[arg(long)]
        json: bool,
    },
    /// Configure git, Docker or Bazel to ask this helper for BSN.cloud hosts
    Setup(SetupArgs),
    /// Create git-credential-bsn, docker-credential-bsn and bazel-credential-bsn links
    InstallLinks {
        /// Directory for the links (created if missing; default: next to this binary)
        #[arg(long, value_name = "DIR")]
        dir: Option<PathBuf>,
    },
    /// Write a profile to the config file (asks on a terminal), then check it like doctor
    Init(InitArgs),
    /// Run the built-in BSN.cloud emulator on 127.0.0.1
    Emulator(EmulatorArgs),
    /// Run a self-contained demonstration against the built-in emulator
    Demo(DemoArgs),
    /// git credential helper protocol (also when invoked as git-credential-bsn)
    Git {
        /// get, store, erase or capability; others are ignored
        verb: Option<String>,
    },
    /// Docker credential helper protocol (also when invoked as docker-credential-bsn)
    Docker {
        /// get, store, erase, list or version
        verb: Option<String>,
    },
    /// Bazel / EngFlow credential-helper protocol
    Bazel {
        /// get
        verb: Option<String>,
    },
    /// Run a command with a fresh token in its environment
    Exec(ExecArgs),
    /// Print a shell completion script
    #[command(hide = true)]
    Completions {
        #[arg(value_enum)]
        shell: clap_complete::Shell,
    },
    /// Print the man page (roff)
    #[command(hide = true)]
    Manpage,
    /// Print the config file's profile names, one a line (for shell completion)
    #[command(hide = true)]
    Profiles,
}

#[derive(Debug, Args)]
pub struct EraseArgs {
    /// Only forget the tokens locally; do not revoke them at the server
    #[arg(long)]
    pub no_revoke: bool,
}

#[derive(Debug, Args)]
pub struct SetupArgs {
    /// The tool to configure
    #[arg(value_enum)]
    pub tool: SetupTool,
    /// Print the change instead of making it
    #[arg(long)]
    pub dry_run: bool,
}

#[derive(Debug, Clone, Copy, clap::ValueEnum)]
pub enum SetupTool {
    /// git's credential.<url>.helper (git config --global)
    Git,
    /// credHelpers in ~/.docker/config.json
    Docker,
    /// --credential_helper lines in ~/.bazelrc
    Bazel,
}

impl From<SetupTool> for bsn_credential_helper::commands::setup::Tool {
    fn from(t: SetupTool) -> Self {
        use bsn_credential_helper::commands::setup::Tool;
        match t {
            SetupTool::Git => Tool::Git,
            SetupTool::Docker => Tool::Docker,
            SetupTool::Bazel => Tool::Bazel,
        }
    }
}

#[derive(Debug, Args)]
pub struct InitArgs {
    /// Application client id (Admin Panel → Settings → Applications)
    #[arg(long, value_name = "ID")]
    pub client_id: Option<String>,
    /// Keep the secret in this file (written 0600; the secret is read from stdin)
    #[arg(long, value_name = "PATH", group = "secret")]
    pub secret_file: Option<PathBuf>,
    /// Read the secret from this environment variable at run time
    #[arg(long, value_name = "NAME", group = "secret")]
    pub secret_env: Option<String>,
    /// Run this command to get the secret (e.g. `pass show bsn/secret`)
    #[arg(long, value_name = "COMMAND", group = "secret")]
    pub secret_command: Option<String>,
    /// Network to bind each new session to
    #[arg(long, value_name = "NAME")]
    pub network: Option<String>,
    /// Token endpoint (default: BSN.cloud's)
    #[arg(long, value_name = "URL")]
    pub token_url: Option<String>,
    /// BSN.cloud API base URL (default: https://api.bsn.cloud)
    #[arg(long, value_name = "URL")]
    pub api_url: Option<String>,
    /// Log in as a user (password grant) with this user name, instead of as the application
    #[arg(long, value_name = "EMAIL", requires = "password")]
    pub username: Option<String>,
    /// Read the user's password from this environment variable at run time
    #[arg(long, value_name = "NAME", group = "password", requires = "username")]
    pub password_env: Option<String>,
    /// Run this command to get the user's password
    #[arg(
        long,
        value_name = "COMMAND",
        group = "password",
        requires = "username"
    )]
    pub password_command: Option<String>,
    /// Make this profile the config file's default_profile
    #[arg(long)]
    pub default: bool,
    /// Write the profile even if the checks fail
    #[arg(long)]
    pub force: bool,
}

#[derive(Debug, Args)]
pub struct TokenArgs {
    /// Get a newer token than the one cached now
    #[arg(long)]
    pub force_refresh: bool,
}

#[derive(Debug, Args)]
pub struct EmulatorArgs {
    /// Port on 127.0.0.1 (default: the config file's port, else 8765; 0 picks a free one)
    #[arg(long)]
    pub port: Option<u16>,
    /// Access token lifetime in seconds
    #[arg(long, value_name = "SECONDS")]
    pub access_ttl: Option<u64>,
    /// Refresh token lifetime in seconds
    #[arg(long, value_name = "SECONDS")]
    pub refresh_ttl: Option<u64>,
    /// Session lifetime in seconds
    #[arg(long, value_name = "SECONDS")]
    pub session_ttl: Option<u64>,
    /// Most unexpired access tokens one client may hold (default: no cap)
    #[arg(long, value_name = "N")]
    pub max_active: Option<usize>,
    /// TOML file with clients, users and networks (`--config FILE` works too)
    #[arg(long = "emulator-config", value_name = "FILE")]
    pub emulator_config: Option<PathBuf>,
}

#[derive(Debug, Args)]
pub struct DemoArgs {
    /// Concurrent helper processes per burst
    #[arg(long, default_value_t = 16)]
    pub processes: usize,
}

#[derive(Debug, Args)]
pub struct ExecArgs {
    /// Environment variable that receives the token
    #[arg(long, value_name = "NAME", default_value = "BSN_ACCESS_TOKEN")]
    pub env: String,
    /// Pass BSN_CLIENT_SECRET, BSN_SECRET, BS_SECRET and BSN_PASSWORD on to the command
    /// (removed by default: the command needs the token, not what mints tokens)
    #[arg(long)]
    pub keep_secrets: bool,
    /// The command and its arguments
    #[arg(trailing_var_arg = true, required = true, value_name = "COMMAND")]
    pub command: Vec<OsString>,
}

pub fn command() -> clap::Command {
    <Cli as clap::CommandFactory>::command()
}

#[cfg(test)]
mod tests {
    #[test]
    fn cli_definition_is_consistent() {
        super::command().debug_assert();
    }
}
