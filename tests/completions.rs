//! Shell completions driven in the real shells (bash, zsh, fish) after a subcommand, with
//! no hidden subcommands offered; and the man page's sections. A shell that is missing
//! skips its test, except under CI=true, where .ci/run installs all three.

use crate::util::{bin, stdout};
use std::path::Path;
use std::process::Command;

fn shell_available(shell: &str) -> bool {
    let found = Command::new(shell)
        .args(["-c", "exit 0"])
        .output()
        .is_ok_and(|o| o.status.success());
    if !found {
        assert!(
            std::env::var("CI").is_err(),
            "{shell} is missing under CI; .ci/run installs it"
        );
        eprintln!("skipped: {shell} is not installed");
    }
    found
}

fn script(shell: &str, dir: &Path, file: &str) -> std::path::PathBuf {
    let out = Command::new(bin())
        .args(["completions", shell])
        .output()
        .unwrap();
    assert!(out.status.success());
    let path = dir.join(file);
    std::fs::write(&path, &out.stdout).unwrap();
    path
}

/// The profiles of the config file the completion tests point at.
const PROFILES: [&str; 2] = ["lobby", "prod"];

/// `shell` with the helper on PATH and a config file defining `PROFILES`.
fn with_profiles(mut shell: Command, dir: &Path) -> Command {
    let config = dir.join("config.toml");
    std::fs::write(
        &config,
        "[profiles.prod]\nclient_id = \"a\"\n[profiles.lobby]\nclient_id = \"b\"\n",
    )
    .unwrap();
    let bin_dir = Path::new(bin()).parent().unwrap();
    let path = format!(
        "{}:{}",
        bin_dir.display(),
        std::env::var("PATH").unwrap_or_default()
    );
    shell.env("PATH", path).env("BSN_CONFIG", &config);
    shell
}

fn words(text: &str) -> Vec<String> {
    let mut w: Vec<String> = text.split_whitespace().map(str::to_string).collect();
    w.sort();
    w
}

fn check(shell: &str, after_subcommand: &[String], subcommands: &[String]) {
    for flag in ["--json", "--profile"] {
        assert!(
            after_subcommand.iter().any(|w| w == flag),
            "{shell}: `status --` gave {after_subcommand:?}"
        );
    }
    for visible in ["doctor", "setup", "install-links", "token"] {
        assert!(
            subcommands.iter().any(|w| w == visible),
            "{shell}: {subcommands:?}"
        );
    }
    for hidden in ["completions", "manpage"] {
        assert!(
            !subcommands.iter().any(|w| w == hidden),
            "{shell} offers hidden {hidden}"
        );
    }
}

const BASH: &str = r#"source "$1"
complete_line() { COMP_WORDS=("$@"); COMP_CWORD=$(( ${#COMP_WORDS[@]} - 1 ));
  COMP_LINE="$*"; COMP_POINT=${#COMP_LINE}
  _bsn__credential__helper bsn-credential-helper "${COMP_WORDS[COMP_CWORD]}" "${COMP_WORDS[COMP_CWORD-1]}"
  echo "${COMPREPLY[@]}"; }
complete_line bsn-credential-helper status --
echo ---
complete_line bsn-credential-helper ''
echo ---
complete_line bsn-credential-helper setup ''
echo ---
complete_line bsn-credential-helper status --profile ''
"#;

#[test]
fn bash_completes_after_a_subcommand() {
    if !shell_available("bash") {
        return;
    }
    let dir = tempfile::tempdir().unwrap();
    let file = script("bash", dir.path(), "bsn.bash");
    let out = with_profiles(Command::new("bash"), dir.path())
        .args(["--norc", "-c", BASH, "bash"])
        .arg(&file)
        .output()
        .unwrap();
    let text = stdout(&out);
    let parts: Vec<&str> = text.split("---").collect();
    assert_eq!(parts.len(), 4, "{text}");
    assert_eq!(
        words(parts[3]),
        PROFILES,
        "bash: --profile offers the profiles"
    );
    check("bash", &words(parts[0]), &words(parts[1]));
    assert_eq!(
        words(parts[2])
            .iter()
            .filter(|w| !w.starts_with('-'))
            .collect::<Vec<_>>(),
        ["bazel", "docker", "git"]
    );
}

#[test]
fn zsh_completes_after_a_subcommand() {
    if !shell_available("zsh") {
        return;
    }
    let dir = tempfile::tempdir().unwrap();
    script("zsh", dir.path(), "_bsn-credential-helper");
    let driver = Path::new(env!("CARGO_MANIFEST_DIR")).join("tests/support/zsh-complete.zsh");
    let complete = |line: &str, name: &str| {
        let out = dir.path().join(name);
        let status = with_profiles(Command::new("zsh"), dir.path())
            .arg("-f")
            .arg(&driver)
            .arg(dir.path())
            .arg(&out)
            .arg(line)
            .env("HOME", dir.path())
            .status()
            .unwrap();
        assert!(status.success());
        words(&std::fs::read_to_string(&out).unwrap_or_default())
    };
    check(
        "zsh",
        &complete("bsn-credential-helper status --", "a"),
        &complete("bsn-credential-helper ", "b"),
    );
    assert_eq!(
        complete("bsn-credential-helper status --profile ", "c"),
        PROFILES,
        "zsh: --profile offers the profiles"
    );
}

#[test]
fn fish_completes_after_a_subcommand() {
    if !shell_available("fish") {
        return;
    }
    let dir = tempfile::tempdir().unwrap();
    let file = script("fish", dir.path(), "bsn.fish");
    let complete = |line: &str| {
        let cmd = format!("source {}; complete -C '{line}'", file.display());
        let out = with_profiles(Command::new("fish"), dir.path())
            .args(["--no-config", "-c", &cmd])
            .env("HOME", dir.path())
            .output()
            .unwrap();
        words(
            &stdout(&out)
                .lines()
                .map(|l| l.split('\t').next().unwrap_or(""))
                .collect::<Vec<_>>()
                .join(" "),
        )
    };
    check(
        "fish",
        &complete("bsn-credential-helper status --"),
        &complete("bsn-credential-helper "),
    );
    assert_eq!(
        complete("bsn-credential-helper status --profile "),
        PROFILES,
        "fish: --profile offers the profiles"
    );
}

#[test]
fn man_page_has_the_sections_and_refers_to_no_page_we_do_not_ship() {
    let out = Command::new(bin()).arg("manpage").output().unwrap();
    let page = stdout(&out);
    let sections: Vec<&str> = page
        .lines()
        .filter_map(|l| l.strip_prefix(".SH "))
        .map(|s| s.trim_matches('"'))
        .collect();
    let wanted = [
        "NAME",
        "SYNOPSIS",
        "DESCRIPTION",
        "COMMANDS",
        "ENVIRONMENT",
        "FILES",
        "EXIT STATUS",
        "EXAMPLES",
    ];
    let positions: Vec<usize> = wanted
        .iter()
        .map(|w| {
            sections
                .iter()
                .position(|s| s == w)
                .unwrap_or_else(|| panic!("no {w} in {sections:?}"))
        })
        .collect();
    assert!(positions.windows(2).all(|p| p[0] < p[1]), "{sections:?}");
    // Page references look like name(1); the only page we ship is our own.
    let refs: Vec<&str> = page
        .split(|c: char| c.is_whitespace() || c == ',')
        .filter(|w| {
            w.ends_with(')')
                && w.contains('(')
                // `(71b5d42c87f0)`, the commit in the version, is not a page reference.
                && !w.starts_with('(')
                && w.chars().rev().nth(1).is_some_and(|c| c.is_ascii_digit())
        })
        .filter(|w| {
            !w.starts_with("bsn\\-credential\\-helper(1")
                && !w.starts_with("\"bsn-credential-helper\"")
        })
        .collect();
    assert!(refs.is_empty(), "refers to {refs:?}");
    for hidden in ["\\fBcompletions\\fR", "\\fBmanpage\\fR"] {
        assert!(!page.contains(hidden), "lists hidden {hidden}");
    }
    for var in ["BSN_CLIENT_ID", "BSN_REVOKE_URL", "BSN_CACHE_DIR"] {
        assert!(page.contains(var), "{var}");
    }
}
