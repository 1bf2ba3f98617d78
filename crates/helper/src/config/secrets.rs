//! Where a secret comes from (a value, a 0600 file, a command), chosen when the profile is
//! resolved and read only when a login needs it — so the cache-hit path never runs `pass`.

use super::{Env, first};
use crate::error::{Error, Result};
use crate::secret::Secret;
use std::path::{Path, PathBuf};
use std::time::{Duration, Instant};

/// How long a `*_command` may take unless `secret_command_timeout` says otherwise.
pub const DEFAULT_COMMAND_TIMEOUT: u64 = 30;

/// Where a secret comes from; read only when needed.
#[derive(Debug, Clone, PartialEq)]
pub enum SecretSource {
    Value(Secret<String>),
    /// `X_env`: the variable is read when the secret is needed, so commands that never
    /// need it (`status`, a cache hit) work while it is unset.
    Env(String),
    File(PathBuf),
    Command {
        command: String,
        timeout: Duration,
    },
    /// `X_credential`: a generic credential in Windows Credential Manager, by target name.
    Credential(String),
}

impl SecretSource {
    /// `what` names the knob in messages, e.g. "client_secret".
    pub fn resolve(&self, what: &str) -> Result<Secret<String>> {
        let value = match self {
            SecretSource::Value(s) => return Ok(s.clone()),
            SecretSource::Env(name) => {
                return match std::env::var(name).ok().filter(|v| !v.is_empty()) {
                    Some(v) => Ok(Secret::new(v)),
                    None => Err(Error::config(format!(
                        "{what}_env names ${name}, which is not set"
                    ))),
                };
            }
            SecretSource::File(path) => read_secret_file(path, what)?,
            SecretSource::Command { command, timeout } => run_command(command, *timeout, what)?,
            SecretSource::Credential(target) => read_credential(target, what)?,
        };
        let value = value.trim_end_matches(['\r', '\n']).to_string();
        if value.is_empty() {
            return Err(Error::config(format!(
                "the {what} source gave an empty value"
            )));
        }
        Ok(Secret::new(value))
    }
}

fn read_secret_file(path: &Path, what: &str) -> Result<String> {
    let cannot = |e: std::io::Error| {
        Error::config(format!("cannot read {what}_file {}: {e}", path.display()))
    };
    #[cfg(unix)]
    {
        use std::os::unix::fs::MetadataExt;
        let meta = std::fs::metadata(path).map_err(cannot)?;
        if meta.mode() & 0o077 != 0 {
            return Err(Error::config(format!(
                "{what}_file {} is readable by other users; run `chmod 600 {}`",
                path.display(),
                path.display()
            )));
        }
    }
    #[cfg(windows)]
    if let Some(who) = crate::win::acl::open_to(path)
        .map_err(|e| Error::config(format!("cannot check {what}_file {}: {e}", path.display())))?
    {
        return Err(Error::config(format!(
            "{what}_file {} can be read by {who}; run `{}`",
            path.display(),
            super::file::make_private_hint(&path.display().to_string())
        )));
    }
    std::fs::read_to_string(path).map_err(cannot)
}

#[cfg(windows)]
fn read_credential(target: &str, what: &str) -> Result<String> {
    crate::win::credential::read(target).map_err(|e| {
        Error::config(format!(
            "{what}_credential {}: {e}; store it with `cmdkey /generic:{} /user:bsn /pass`",
            crate::text::quote(target),
            crate::text::quote(target)
        ))
    })
}

#[cfg(not(windows))]
fn read_credential(_target: &str, what: &str) -> Result<String> {
    Err(Error::config(format!(
        "{what}_credential reads Windows Credential Manager, which this system does not have; use {what}_command with your keyring (e.g. `secret-tool lookup service bsn`)"
    )))
}

/// Runs the command with its own time limit (not charged to BSN_TIMEOUT): a `pass` or
/// `op` prompt that nobody answers fails with a config error instead of hanging.
fn run_command(cmd: &str, timeout: Duration, what: &str) -> Result<String> {
    #[cfg(unix)]
    let mut command = {
        let mut c = std::process::Command::new("sh");
        c.arg("-c").arg(cmd);
        c
    };
    #[cfg(not(unix))]
    let mut command = {
        let mut c = std::process::Command::new("cmd");
        c.arg("/C").arg(cmd);
        c
    };
    // The command's own stderr reaches the user; its stdout is the secret.
    let mut child = command
        .stdin(std::process::Stdio::null())
        .stdout(std::process::Stdio::piped())
        .stderr(std::process::Stdio::inherit())
        .spawn()
        .map_err(|e| Error::config(format!("cannot run {what}_command: {e}")))?;
    let mut stdout = child.stdout.take();
    let reader = std::thread::spawn(move || {
        let mut out = Vec::new();
        if let Some(s) = stdout.as_mut() {
            let _ = std::io::Read::read_to_end(s, &mut out);
        }
        out
    });
    let deadline = Instant::now() + timeout;
    let status = loop {
        match child.try_wait() {
            Ok(Some(status)) => break status,
            Ok(None) if Instant::now() < deadline => {
                std::thread::sleep(Duration::from_millis(10));
            }
            Ok(None) | Err(_) => {
                let _ = child.kill();
                let _ = child.wait();
                return Err(Error::config(format!(
                    "{what}_command did not finish within {}s; fix the command or raise secret_command_timeout (BSN_SECRET_COMMAND_TIMEOUT)",
                    timeout.as_secs()
                )));
            }
        }
    };
    let out = reader.join().unwrap_or_default();
    if !status.success() {
        return Err(Error::config(format!(
            "{what}_command failed ({status}); check the command in the config file"
        )));
    }
    String::from_utf8(out).map_err(|_| {
        Error::config(format!(
            "{what}_command printed something that is not UTF-8"
        ))
    })
}

/// The file keys that can name one secret (`X`, `X_env`, `X_file`, `X_command`,
/// `X_credential`).
pub struct SecretKeys {
    pub inline: Option<String>,
    pub env_name: Option<String>,
    pub path: Option<PathBuf>,
    pub command: Option<String>,
    pub credential: Option<String>,
}

/// What deciding between a secret's sources needs to know about the file and environment.
pub struct SecretContext<'a> {
    pub inline_ok: bool,
    pub file: String,
    pub env: Env<'a>,
    pub command_timeout: Duration,
}

impl SecretContext<'_> {
    /// The environment variables (first set wins) beat the file's keys, of which at most
    /// one may be set.
    pub fn resolve(
        &self,
        what: &str,
        env_vars: &[&str],
        keys: SecretKeys,
    ) -> Result<Option<SecretSource>> {
        if let Some(v) = first(self.env, env_vars) {
            return Ok(Some(SecretSource::Value(Secret::new(v))));
        }
        let file = &self.file;
        let set = [
            keys.inline.is_some(),
            keys.env_name.is_some(),
            keys.path.is_some(),
            keys.command.is_some(),
            keys.credential.is_some(),
        ];
        if set.iter().filter(|s| **s).count() > 1 {
            return Err(Error::config(format!(
                "{file} sets more than one of {what}, {what}_env, {what}_file, {what}_command, {what}_credential; keep one"
            )));
        }
        if let Some(v) = keys.inline {
            if !self.inline_ok {
                return Err(Error::config(format!(
                    "{file} holds a {what} but other users can read it; run `{}` or use {what}_command",
                    super::file::make_private_hint(file)
                )));
            }
            return Ok(Some(SecretSource::Value(Secret::new(v))));
        }
        if let Some(name) = keys.env_name {
            return Ok(Some(SecretSource::Env(name)));
        }
        if let Some(target) = keys.credential {
            return Ok(Some(SecretSource::Credential(target)));
        }
        Ok(keys
            .path
            .map(SecretSource::File)
            .or(keys.command.map(|command| SecretSource::Command {
                command,
                timeout: self.command_timeout,
            })))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn command(cmd: &str, secs: u64) -> SecretSource {
        SecretSource::Command {
            command: cmd.into(),
            timeout: Duration::from_secs(secs),
        }
    }

    #[test]
    fn secret_command_runs_only_on_resolve() {
        // `echo` means the same to sh and to cmd (whose \r\n is trimmed too).
        let src = command("echo s3cret", 5);
        assert_eq!(src.resolve("client_secret").unwrap().expose(), "s3cret");
        let e = command("exit 3", 5).resolve("client_secret").unwrap_err();
        assert!(e.message.contains("client_secret_command"), "{}", e.message);
    }

    #[cfg(unix)]
    #[test]
    fn slow_secret_command_is_a_config_error_naming_the_knob() {
        let start = Instant::now();
        let e = command("sleep 5", 1).resolve("client_secret").unwrap_err();
        assert!(start.elapsed() < Duration::from_secs(4));
        assert_eq!(e.code, crate::error::ErrorCode::Config);
        assert!(
            e.message.contains("secret_command_timeout"),
            "{}",
            e.message
        );
    }
}
