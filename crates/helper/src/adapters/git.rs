//! git credential helper (gitcredentials(7)): `bsn-credential-helper git <verb>`, or the
//! binary invoked as `git-credential-bsn <verb>` so `credential.helper = bsn` finds it.
//!
//! - `get`: for a served host, `username`/`password` (or, when git announced
//!   `capability[]=authtype`, `authtype=Bearer` + `credential`) and `password_expiry_utc`.
//!   Other hosts: no output, exit 0. A failure is one line on stderr and a non-zero exit.
//! - `erase`: git's only "this token was rejected" signal. If the password/credential is
//!   the cached access token, drop it (`broker::reject`) so the next `get` renews. Quiet
//!   and exit 0 always: a helper that errors on erase spams users (gitlab-org/cli#7662).
//! - `store`: nothing to keep; the cache is ours. `capability`: `version 0`, `authtype`.
//! - Unknown verbs and keys are ignored, as the protocol asks.

use super::{Protocol, Reply, host_expiry_ms, obtain, read_stdin};
use crate::broker::{self, Request};
use crate::error::{Error, Result};
use crate::invocation::Invocation;
use crate::secret::Secret;
use crate::url::Target;

/// The username git sees when the caller did not name one.
pub const USERNAME: &str = "bsn-token";

/// One request from git: `key=value` lines up to a blank line or EOF.
#[derive(Debug, Default, PartialEq, Eq)]
pub struct GitRequest {
    pairs: Vec<(String, String)>,
}

impl GitRequest {
    pub fn parse(input: &str) -> GitRequest {
        let mut pairs = Vec::new();
        for line in input.split('\n') {
            let line = line.strip_suffix('\r').unwrap_or(line);
            if line.is_empty() {
                break;
            }
            // Lines without `=` are not part of the protocol: ignore them.
            if let Some((k, v)) = line.split_once('=') {
                pairs.push((k.to_string(), v.to_string()));
            }
        }
        GitRequest { pairs }
    }

    /// A single-valued key: the last value given wins, as in git.
    pub fn get(&self, key: &str) -> Option<&str> {
        self.pairs
            .iter()
            .rev()
            .find(|(k, _)| k == key)
            .map(|(_, v)| v.as_str())
    }

    /// A multi-valued key (`name[]`): its values, where an empty value clears the list.
    pub fn all(&self, key: &str) -> Vec<&str> {
        let mut values = Vec::new();
        for (k, v) in &self.pairs {
            if k == key {
                if v.is_empty() {
                    values.clear();
                } else {
                    values.push(v.as_str());
                }
            }
        }
        values
    }

    pub fn has_capability(&self, name: &str) -> bool {
        self.all("capability[]").contains(&name)
    }

    /// Where git wants to authenticate: `protocol` + `host`, or a `url` if that is all.
    /// Without a protocol there is no telling whether the token would travel in clear
    /// text, so such a request is not served.
    pub fn target(&self) -> Option<Target> {
        match (self.get("host"), self.get("url")) {
            (Some(host), _) if !host.is_empty() => {
                let protocol = self.get("protocol").filter(|p| !p.is_empty())?;
                let mut t = Target::parse(host)?;
                t.scheme = Some(protocol.to_ascii_lowercase());
                Some(t)
            }
            (_, Some(url)) => Target::parse(url).filter(|t| t.scheme.is_some()),
            _ => None,
        }
    }
}

/// The `get` answer lines for `token` expiring (for git) at `expiry_secs`.
pub fn answer(request: &GitRequest, token: &str, expiry_secs: u64) -> Vec<String> {
    if request.has_capability("authtype") {
        vec![
            "capability[]=authtype".to_string(),
            "authtype=Bearer".to_string(),
            format!("credential={token}"),
            "ephemeral=1".to_string(),
            format!("password_expiry_utc={expiry_secs}"),
        ]
    } else {
        let username = request
            .get("username")
            .filter(|u| !u.is_empty())
            .unwrap_or(USERNAME);
        vec![
            format!("username={username}"),
            format!("password={token}"),
            format!("password_expiry_utc={expiry_secs}"),
        ]
    }
}

/// Exit status when git runs the helper without a verb (a configuration mistake).
pub const USAGE_EXIT: u8 = 2;

pub struct Git {
    pub verb: Option<String>,
}

impl Protocol for Git {
    fn serve(&self, inv: &Invocation) -> Result<Reply> {
        match self.verb.as_deref() {
            Some("get") => get(inv),
            Some("erase") => {
                erase(inv);
                Ok(Reply::Quiet)
            }
            Some("capability") => Ok(Reply::Print("version 0\ncapability authtype".into())),
            Some(_) => {
                // `store` and verbs from newer gits: read what git sends, keep nothing.
                let _ = read_stdin();
                Ok(Reply::Quiet)
            }
            None => Err(Error::invalid_request(
                "git needs a verb (get, store, erase or capability); configure it with `git config --global credential.https://api.bsn.cloud.helper bsn`",
            )),
        }
    }

    fn failed(&self, e: &Error) -> super::Failed {
        super::Failed {
            exit: if self.verb.is_none() {
                USAGE_EXIT
            } else {
                e.code.exit_code()
            },
            ..super::Failed::on_stderr(e)
        }
    }
}

fn get(inv: &Invocation) -> Result<Reply> {
    let request = GitRequest::parse(&read_stdin()?);
    let Some(target) = request.target().filter(|t| inv.hosts.serves(t)) else {
        crate::debug!("git asked about a host this helper does not serve; no answer");
        return Ok(Reply::NotServed);
    };
    crate::debug!("git asked for {}", target.authority());
    let profile = inv.profile()?;
    let outcome = obtain(profile, &Request::default())?;
    let expiry = host_expiry_ms(&outcome, profile) / 1000;
    let lines = answer(&request, outcome.entry.access_token.expose(), expiry);
    Ok(Reply::Print(lines.join("\n")))
}

/// Never fails loudly: every problem is a debug line at most.
fn erase(inv: &Invocation) {
    let Ok(input) = read_stdin() else {
        return;
    };
    let request = GitRequest::parse(&input);
    let (Ok(profile), Some(_)) = (
        inv.profile(),
        request.target().filter(|t| inv.hosts.serves(t)),
    ) else {
        return;
    };
    for token in [request.get("credential"), request.get("password")]
        .into_iter()
        .flatten()
        .filter(|t| !t.is_empty())
    {
        match broker::reject(profile, Some(&Secret::new(token.to_string()))) {
            Ok(true) => crate::debug!("git rejected the cached token; the next get renews it"),
            Ok(false) => crate::debug!("git rejected a token that is no longer cached"),
            Err(e) => crate::debug!("could not drop the rejected token: {e}"),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn parses_until_blank_line_and_ignores_junk() {
        let r = GitRequest::parse(
            "protocol=https\nhost=api.bsn.cloud\nnonsense\npath=a=b\n\nhost=evil.com\n",
        );
        assert_eq!(r.get("protocol"), Some("https"));
        assert_eq!(r.get("host"), Some("api.bsn.cloud"));
        assert_eq!(r.get("path"), Some("a=b"));
        assert_eq!(r.get("username"), None);
        let t = r.target().unwrap();
        assert_eq!(
            (t.scheme.as_deref(), t.authority()),
            (Some("https"), "api.bsn.cloud".into())
        );
        let crlf = GitRequest::parse("protocol=https\r\nhost=x\r\n\r\n");
        assert_eq!(crlf.get("host"), Some("x"));
    }

    #[test]
    fn multi_valued_keys_and_reset() {
        let r = GitRequest::parse(
            "capability[]=state\ncapability[]=\ncapability[]=authtype\nwwwauth[]=Bearer realm=x\n",
        );
        assert_eq!(r.all("capability[]"), ["authtype"]);
        assert!(r.has_capability("authtype"));
        assert!(!r.has_capability("state"));
        assert_eq!(r.all("wwwauth[]"), ["Bearer realm=x"]);
        assert!(!GitRequest::parse("capability=authtype").has_capability("authtype"));
    }

    #[test]
    fn target_from_url_or_missing() {
        let r = GitRequest::parse("url=https://api.bsn.cloud:8443/x\n");
        assert_eq!(r.target().unwrap().authority(), "api.bsn.cloud:8443");
        assert_eq!(GitRequest::parse("protocol=https\n").target(), None);
        // No protocol: clear text or not cannot be told, so not served.
        assert_eq!(GitRequest::parse("host=api.bsn.cloud\n").target(), None);
        let http = GitRequest::parse("protocol=HTTP\nhost=127.0.0.1:9\n");
        assert_eq!(http.target().unwrap().scheme.as_deref(), Some("http"));
    }

    #[test]
    fn answers_password_or_bearer() {
        let plain = GitRequest::parse("protocol=https\nhost=api.bsn.cloud\n");
        assert_eq!(
            answer(&plain, "tok", 42),
            [
                "username=bsn-token",
                "password=tok",
                "password_expiry_utc=42"
            ]
        );
        let named = GitRequest::parse("host=api.bsn.cloud\nusername=ci\n");
        assert_eq!(answer(&named, "tok", 1)[0], "username=ci");
        let bearer = GitRequest::parse("capability[]=authtype\nhost=api.bsn.cloud\n");
        assert_eq!(
            answer(&bearer, "tok", 7),
            [
                "capability[]=authtype",
                "authtype=Bearer",
                "credential=tok",
                "ephemeral=1",
                "password_expiry_utc=7"
            ]
        );
    }
}
