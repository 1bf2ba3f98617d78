//! The man page and shell completions, both generated from the clap definitions (cli.rs)
//! plus the sections clap cannot know: COMMANDS (one page for all: we ship no per-command
//! pages), ENVIRONMENT, FILES, EXIT STATUS and EXAMPLES.

use bsn_credential_helper::config::table::{Kind, SETTINGS};
use std::io::Write;

/// The command without hidden subcommands (`completions`, `manpage`): what users see.
pub fn visible_command() -> clap::Command {
    let full = crate::cli::command();
    let visible: Vec<clap::Command> = full
        .get_subcommands()
        .filter(|s| !s.is_hide_set())
        .cloned()
        .collect();
    let mut cmd = clap::Command::new("bsn-credential-helper")
        .version(crate::cli::VERSION)
        .args(full.get_arguments().filter(|a| !a.is_hide_set()).cloned())
        .subcommands(visible);
    if let Some(about) = full.get_about() {
        cmd = cmd.about(about.clone());
    }
    if let Some(long) = full.get_long_about() {
        cmd = cmd.long_about(long.clone());
    }
    cmd
}

/// clap_complete names bash functions after the binary; with hyphens in the name the
/// per-subcommand arms come out as `bsn__subcmd__credential__subcmd__helper__…` while the
/// dispatcher sets `bsn__credential__helper__…`, so nothing completes after a subcommand.
pub fn completions(shell: clap_complete::Shell, out: &mut dyn Write) -> std::io::Result<()> {
    let mut buf = Vec::new();
    clap_complete::generate(
        shell,
        &mut visible_command(),
        "bsn-credential-helper",
        &mut buf,
    );
    let text = String::from_utf8_lossy(&buf).replace(
        "bsn__subcmd__credential__subcmd__helper",
        "bsn__credential__helper",
    );
    out.write_all(complete_profiles(shell, &text).as_bytes())
}

/// `--profile <TAB>` offers the config file's profiles (the hidden `profiles` command)
/// instead of file names: clap's static scripts cannot list them themselves.
fn complete_profiles(shell: clap_complete::Shell, text: &str) -> String {
    use clap_complete::Shell;
    const LIST: &str = "bsn-credential-helper profiles 2>/dev/null";
    match shell {
        Shell::Bash => text.replace(
            "                --profile)\n                    COMPREPLY=($(compgen -f \"${cur}\"))",
            &format!(
                "                --profile)\n                    COMPREPLY=($(compgen -W \"$({LIST})\" -- \"${{cur}}\"))"
            ),
        ),
        Shell::Zsh => text
            .lines()
            .map(|l| {
                if l.starts_with("'--profile=[") {
                    l.replace(
                        ":NAME:_default'",
                        &format!(":NAME:{{compadd -- ${{(f)\"$({LIST})\"}}}}'"),
                    )
                } else {
                    l.to_string()
                }
            })
            .collect::<Vec<_>>()
            .join("\n")
            + "\n",
        Shell::Fish => text
            .lines()
            .map(|l| {
                if l.contains(" -l profile ") && l.ends_with(" -r") {
                    format!("{l} -f -a \"({LIST})\"")
                } else {
                    l.to_string()
                }
            })
            .collect::<Vec<_>>()
            .join("\n")
            + "\n",
        _ => text.to_string(),
    }
}

pub fn manpage(out: &mut dyn Write) -> std::io::Result<()> {
    let cmd = visible_command();
    let man = clap_mangen::Man::new(cmd.clone());
    man.render_title(out)?;
    man.render_name_section(out)?;
    man.render_synopsis_section(out)?;
    man.render_description_section(out)?;
    man.render_options_section(out)?;
    writeln!(out, ".SH COMMANDS")?;
    for sub in cmd.get_subcommands() {
        let about = sub.get_about().map(|a| a.to_string()).unwrap_or_default();
        writeln!(out, ".TP\n\\fB{}\\fR\n{}", sub.get_name(), roff(&about))?;
    }
    writeln!(out, ".SH ENVIRONMENT")?;
    // Every setting from the one table: its variables, config-file key and default.
    for spec in &SETTINGS {
        let meaning = format!(
            "{} Config file: {}{}.{}",
            spec.help,
            spec.key,
            if spec.kind == Kind::Secret {
                " (or _env, _file, _command)"
            } else {
                ""
            },
            spec.default
                .map(|d| format!(" Default: {d}."))
                .unwrap_or_default()
        );
        writeln!(
            out,
            ".TP\n\\fB{}\\fR\n{}",
            spec.env.join(", "),
            roff(&meaning)
        )?;
    }
    for (name, meaning) in OTHER_ENVIRONMENT {
        writeln!(out, ".TP\n\\fB{name}\\fR\n{}", roff(meaning))?;
    }
    out.write_all(SECTIONS.as_bytes())?;
    man.render_version_section(out)
}

fn roff(text: &str) -> String {
    text.replace('\\', "\\\\")
        .replace('-', "\\-")
        .replace("\n.", "\n\\&.")
}

/// Variables that are not settings of a profile (those come from the settings table).
const OTHER_ENVIRONMENT: [(&str, &str); 4] = [
    (
        "BSN_PROFILE, BSN_CONFIG",
        "Profile to use and config file to read.",
    ),
    (
        "BSN_HOSTS",
        "Comma-separated host[:port] list that git, Docker and Bazel get tokens for.",
    ),
    (
        "BSN_LOG",
        "debug: a debug log on stderr with tokens and secrets redacted.",
    ),
    (
        "HTTPS_PROXY, NO_PROXY, SSL_CERT_FILE, SSL_CERT_DIR",
        "Proxy and extra CA certificates.",
    ),
];

const SECTIONS: &str = r#".SH FILES
.TP
\fI~/.config/bsn\-credential\-helper/config.toml\fR
Profiles (TOML). Written by \fBinit\fR; the previous file is kept as config.toml.bak.
.TP
\fI~/.cache/bsn\-credential\-helper/\fR
The token cache: 0600 entries and their lock files in a 0700 directory.
.TP
\fI~/.gitconfig\fR, \fI~/.docker/config.json\fR, \fI~/.bazelrc\fR
Written by \fBsetup git\fR, \fBsetup docker\fR and \fBsetup bazel\fR.
.SH "EXIT STATUS"
.TP
0
Success.
.TP
1
doctor, init or install\-links: a check or step failed.
.TP
2
invalid_request, or a usage error.
.TP
3
config: missing or invalid configuration.
.TP
4
invalid_credentials: the client id, secret, username or password was refused.
.TP
5
login_required: the session ended and no password is configured.
.TP
6
network: BSN.cloud could not be reached.
.TP
7
server: BSN.cloud answered with an error.
.TP
8
rate_limited.
.TP
9
lock_timeout: another process held the cache lock too long.
.TP
10
cache: the cache directory cannot be used.
.TP
11
network_selection: the network could not be selected.
.TP
12
internal: a bug.
.SH EXAMPLES
.nf
bsn\-credential\-helper init
bsn\-credential\-helper doctor
bsn\-credential\-helper install\-links \-\-dir ~/.local/bin
bsn\-credential\-helper setup git
bsn\-credential\-helper header | curl \-H @\- https://api.bsn.cloud/2022/06/REST/Self/Session
echo '{"min_ttl": 120}' | bsn\-credential\-helper get
bsn\-credential\-helper exec \-\- ./deploy.sh
.fi
"#;
