//! `setup git|docker|bazel [--dry-run]`: points a host tool at this helper for the BSN
//! hosts (the defaults or `BSN_HOSTS`, plus the profile's api_url), the way
//! `gh auth setup-git` and `gcloud auth configure-docker` do. Idempotent: a second run
//! changes nothing. `--dry-run` prints the change instead of making it.

use super::mark;
use crate::adapters::{BAZEL_NAME, DOCKER_NAME};
use crate::error::{Error, Result};
use crate::invocation::Invocation;
use std::path::{Path, PathBuf};
use std::process::{Command, ExitCode};

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Tool {
    Git,
    Docker,
    Bazel,
}

pub fn setup(inv: &Invocation, tool: Tool, dry_run: bool) -> Result<ExitCode> {
    let exe = this_program()?;
    match tool {
        Tool::Git => git(inv, &exe, dry_run),
        Tool::Docker => docker(inv, dry_run),
        Tool::Bazel => bazel(inv, &exe, dry_run),
    }?;
    Ok(ExitCode::SUCCESS)
}

pub fn this_program() -> Result<PathBuf> {
    std::env::current_exe()
        .map_err(|e| Error::internal(format!("cannot find this program's path: {e}")))
}

fn home() -> Result<PathBuf> {
    dirs::home_dir().ok_or_else(|| Error::config("no home directory is known; set HOME"))
}

/// `'…'` for POSIX shells (git runs `!` helpers through sh).
fn sh_quote(s: &str) -> String {
    format!("'{}'", s.replace('\'', r"'\''"))
}

fn report(changed: bool, dry_run: bool, what: &str) {
    let state = match (changed, dry_run) {
        (false, _) => "already set:",
        (true, true) => "would set:",
        (true, false) => "set:",
    };
    crate::adapters::print_line(&format!("{} {state} {what}", mark(true)));
}

/// `credential.<url>.helper` = "" then our helper, so no other helper answers first.
fn git(inv: &Invocation, exe: &Path, dry_run: bool) -> Result<()> {
    let mut value = format!("!{}", sh_quote(&exe.display().to_string()));
    if let Some(p) = &inv.overrides.profile {
        value.push_str(&format!(" --profile {}", sh_quote(p)));
    }
    value.push_str(" git");
    for url in inv.hosts.urls() {
        let key = format!("credential.{url}.helper");
        let current = git_config(&["--get-all", &key], true)?;
        let wanted = format!("\n{value}\n");
        let changed = current != wanted;
        if changed && !dry_run {
            git_config(&["--unset-all", &key], true)?;
            git_config(&["--add", &key, ""], false)?;
            git_config(&["--add", &key, &value], false)?;
        }
        report(
            changed,
            dry_run,
            &format!("git config --global {key} {}", sh_quote(&value)),
        );
    }
    Ok(())
}

/// Runs `git config --global ARGS`; `lenient` accepts git's "not set" exit codes.
fn git_config(args: &[&str], lenient: bool) -> Result<String> {
    let out = Command::new("git")
        .args(["config", "--global"])
        .args(args)
        .output()
        .map_err(|e| Error::config(format!("cannot run git: {e}; is git installed?")))?;
    let not_set = lenient && matches!(out.status.code(), Some(1 | 5));
    if !(out.status.success() || not_set) {
        return Err(Error::config(format!(
            "git config --global {} failed: {}",
            args.join(" "),
            String::from_utf8_lossy(&out.stderr).trim()
        )));
    }
    Ok(String::from_utf8_lossy(&out.stdout).into_owned())
}

/// `credHelpers` in Docker's config.json: merged, other keys kept, a backup written.
fn docker(inv: &Invocation, dry_run: bool) -> Result<()> {
    let dir = match std::env::var_os("DOCKER_CONFIG") {
        Some(d) => PathBuf::from(d),
        None => home()?.join(".docker"),
    };
    let path = dir.join("config.json");
    let original = std::fs::read_to_string(&path).ok();
    let mut config: serde_json::Value = match &original {
        Some(text) => serde_json::from_str(text).map_err(|e| {
            Error::config(format!(
                "{} is not valid JSON ({e}); fix it first",
                path.display()
            ))
        })?,
        None => serde_json::json!({}),
    };
    let helpers = config
        .as_object_mut()
        .ok_or_else(|| Error::config(format!("{} is not a JSON object", path.display())))?
        .entry("credHelpers")
        .or_insert_with(|| serde_json::json!({}));
    let Some(helpers) = helpers.as_object_mut() else {
        return Err(Error::config(format!(
            "credHelpers in {} is not an object",
            path.display()
        )));
    };
    let mut changed = false;
    let backup = dir.join("config.json.bak");
    for host in inv.hosts.entries() {
        let previous = helpers.insert(host.clone(), "bsn".into());
        let here = previous.as_ref() != Some(&serde_json::json!("bsn"));
        changed |= here;
        let what = format!("credHelpers[\"{host}\"] = \"bsn\" in {}", path.display());
        match previous.filter(|_| here) {
            // Another helper served this host: say which, and where its entry is kept.
            Some(other) => report(
                true,
                dry_run,
                &format!(
                    "{what}, replacing {} (kept in {})",
                    crate::text::quote(other.as_str().unwrap_or_default()),
                    backup.display()
                ),
            ),
            None => report(here, dry_run, &what),
        }
    }
    if changed && !dry_run {
        std::fs::create_dir_all(&dir).map_err(|e| cannot_write(&dir, &e))?;
        if let Some(text) = &original {
            write_private(&backup, text)?;
            crate::adapters::print_line(&format!(
                "  backup of the previous file: {}",
                backup.display()
            ));
        }
        let text = serde_json::to_string_pretty(&config).unwrap_or_default() + "\n";
        write_private(&path, &text)?;
    }
    note_missing_link(DOCKER_NAME);
    Ok(())
}

/// `common --credential_helper=HOST=…/bazel-credential-bsn` lines in ~/.bazelrc.
fn bazel(inv: &Invocation, exe: &Path, dry_run: bool) -> Result<()> {
    let path = home()?.join(".bazelrc");
    let helper = find_helper(BAZEL_NAME, exe);
    let text = std::fs::read_to_string(&path).unwrap_or_default();
    let mut add = String::new();
    for entry in inv.hosts.entries() {
        // Bazel scopes helpers by host name; ports are not part of a scope.
        let host = entry
            .rsplit_once(':')
            .filter(|(h, _)| !h.ends_with(']'))
            .map_or(entry.as_str(), |(h, _)| h);
        let line = format!("common --credential_helper={host}={}", helper.display());
        let present = text.lines().any(|l| l.trim() == line) || add.contains(&line);
        if !present {
            add.push_str(&line);
            add.push('\n');
        }
        report(!present, dry_run, &format!("{line} in {}", path.display()));
    }
    if !add.is_empty() && !dry_run {
        let sep = if text.is_empty() || text.ends_with('\n') {
            ""
        } else {
            "\n"
        };
        let new =
            format!("{text}{sep}# BSN.cloud tokens (bsn-credential-helper setup bazel)\n{add}");
        write_private(&path, &new)?;
    }
    if !helper.exists() {
        crate::adapters::print_line(&format!(
            "  note: {} does not exist yet; run `bsn-credential-helper install-links`",
            helper.display()
        ));
    }
    Ok(())
}

/// Where `name` runs from: the first match on PATH (where `install-links --dir` put it),
/// else beside this program (where `install-links` puts it by default).
fn find_helper(name: &str, exe: &Path) -> PathBuf {
    let file = format!("{name}{}", std::env::consts::EXE_SUFFIX);
    std::env::var_os("PATH")
        .and_then(|p| {
            std::env::split_paths(&p)
                .filter(|d| d.is_absolute())
                .map(|d| d.join(&file))
                .find(|c| c.is_file())
        })
        .unwrap_or_else(|| exe.with_file_name(file))
}

fn note_missing_link(name: &str) {
    let on_path = std::env::var_os("PATH")
        .is_some_and(|p| std::env::split_paths(&p).any(|d| d.join(name).exists()));
    if !on_path {
        crate::adapters::print_line(&format!(
            "  note: {name} is not on PATH; run `bsn-credential-helper install-links`"
        ));
    }
}

fn cannot_write(path: &Path, e: &std::io::Error) -> Error {
    Error::config(format!("cannot write {}: {e}", path.display()))
}

/// Writes through a temp file and a rename, readable by the owner only.
pub fn write_private(path: &Path, text: &str) -> Result<()> {
    let tmp = path.with_extension(format!("tmp{}", std::process::id()));
    let mut options = std::fs::OpenOptions::new();
    options.write(true).create(true).truncate(true);
    #[cfg(unix)]
    std::os::unix::fs::OpenOptionsExt::mode(&mut options, 0o600);
    let written = options
        .open(&tmp)
        .and_then(|mut f| std::io::Write::write_all(&mut f, text.as_bytes()))
        .and_then(|()| std::fs::rename(&tmp, path));
    written.map_err(|e| {
        let _ = std::fs::remove_file(&tmp);
        cannot_write(path, &e)
    })
}
