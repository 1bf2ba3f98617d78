//! Host-tool protocols: git, Docker, Bazel credential helpers and `exec`.
//!
//! Every adapter turns its host's request into a `broker::Request` and asks
//! `commands::obtain`, so all of them share one cache and one refresh. What is common lives
//! here: which hosts get a token, how a URL names a host, and the expiry hosts are told.

pub mod bazel;
pub mod docker;
pub mod exec;
pub mod git;

use crate::broker::Outcome;
use crate::cli::Cli;
use crate::commands;
use crate::config::{self, Profile};
use crate::time::now_ms;

/// BSN.cloud hosts the bearer token works on (bsn-cloud-auth.md §4).
pub const DEFAULT_HOSTS: [&str; 3] = ["api.bsn.cloud", "ws.bsn.cloud", "provision.bsn.cloud"];

/// Invocation names that select an adapter, as git and Docker find helpers on PATH.
pub const GIT_NAME: &str = "git-credential-bsn";
pub const DOCKER_NAME: &str = "docker-credential-bsn";
/// Bazel's `--credential_helper` takes a path without arguments, hence a name of its own.
pub const BAZEL_NAME: &str = "bazel-credential-bsn";

/// Which adapter an argv[0] names, if any: "git", "docker" or "bazel". `.exe` is ignored.
pub fn adapter_for_argv0(argv0: &std::ffi::OsStr) -> Option<&'static str> {
    let path = std::path::Path::new(argv0);
    let name = path.file_name()?.to_str()?;
    let stem = name
        .strip_suffix(".exe")
        .or_else(|| name.strip_suffix(".EXE"))
        .unwrap_or(name);
    match stem {
        GIT_NAME => Some("git"),
        DOCKER_NAME => Some("docker"),
        BAZEL_NAME => Some("bazel"),
        _ => None,
    }
}

/// The scheme and `host[:port]` of a URL a host tool asks about, lowercased, without
/// user info. A bare `host[:port]` (Docker server addresses) has no scheme.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Target {
    pub scheme: Option<String>,
    pub authority: String,
}

impl Target {
    pub fn parse(url: &str) -> Option<Target> {
        let url = url.trim();
        let (scheme, rest) = match url.split_once("://") {
            Some((s, r)) => (Some(s.to_ascii_lowercase()), r),
            None => (None, url),
        };
        let authority = rest.split(['/', '?', '#']).next().unwrap_or("");
        let authority = authority.rsplit('@').next().unwrap_or("");
        if authority.is_empty() || authority.chars().any(|c| c.is_whitespace()) {
            return None;
        }
        Some(Target {
            scheme,
            authority: authority.to_ascii_lowercase(),
        })
    }

    /// The host without the port (IPv6 without brackets).
    pub fn host(&self) -> &str {
        config::host_of(&self.authority)
    }

    /// The port, if the authority names one.
    pub fn port(&self) -> Option<&str> {
        match self.authority.strip_prefix('[') {
            Some(rest) => rest.split_once("]:").map(|(_, p)| p),
            None => self.authority.split_once(':').map(|(_, p)| p),
        }
    }
}

/// The hosts this helper hands tokens to: `BSN_HOSTS` (comma list) or the BSN.cloud
/// defaults, plus always the `host[:port]` of the profile's api_url.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Hosts {
    entries: Vec<String>,
}

impl Hosts {
    pub fn new(bsn_hosts: Option<&str>, api_url: Option<&str>) -> Hosts {
        let mut entries: Vec<String> = match bsn_hosts {
            Some(list) => list
                .split(',')
                .map(|h| h.trim().to_ascii_lowercase())
                .filter(|h| !h.is_empty())
                .collect(),
            None => DEFAULT_HOSTS.iter().map(|h| h.to_string()).collect(),
        };
        if let Some(t) = api_url.and_then(Target::parse)
            && !entries.contains(&t.authority)
        {
            entries.push(t.authority);
        }
        Hosts { entries }
    }

    /// From the environment and, when it loads, the profile.
    pub fn current(profile: Option<&Profile>) -> Hosts {
        Hosts::new(
            config::process_env("BSN_HOSTS").as_deref(),
            profile.map(|p| p.api_url.as_str()),
        )
    }

    pub fn entries(&self) -> &[String] {
        &self.entries
    }

    /// Whether a token may go to `target`: a listed host (an entry without a port matches
    /// any port of that host; one with a port only that port), over https — or plain http
    /// to a loopback address, as `check_url` allows for the emulator.
    pub fn serves(&self, target: &Target) -> bool {
        let transport_ok = match target.scheme.as_deref() {
            None | Some("https") => true,
            Some("http") => config::is_loopback(target.host()),
            Some(_) => false,
        };
        transport_ok
            && self.entries.iter().any(|entry| {
                let Some(e) = Target::parse(entry) else {
                    return false;
                };
                e.host() == target.host() && e.port().is_none_or(|p| Some(p) == target.port())
            })
    }

    /// `https://host` (or `http://` for loopback) per entry, for Docker's `list`.
    pub fn urls(&self) -> Vec<String> {
        self.entries
            .iter()
            .filter_map(|e| Target::parse(e))
            .map(|t| {
                let scheme = if config::is_loopback(t.host()) {
                    "http"
                } else {
                    "https"
                };
                format!("{scheme}://{}", t.authority)
            })
            .collect()
    }

    pub fn describe(&self) -> String {
        self.entries.join(", ")
    }
}

/// The profile (if it loads) and the hosts it serves. A broken config still lets adapters
/// stay quiet about hosts that are not BSN.cloud's.
pub fn profile_and_hosts(cli: &Cli) -> (Option<Profile>, Hosts) {
    let profile = commands::load_profile(&commands::overrides(cli)).ok();
    let hosts = Hosts::current(profile.as_ref());
    (profile, hosts)
}

/// The expiry to tell a host that caches tokens (unix ms): when the helper itself would stop
/// handing this token out (`broker::needed_ms` before expiry). Hosts compare with no
/// margin, so they re-ask in time for a renewal.
pub fn host_expiry_ms(outcome: &Outcome, profile: &Profile) -> u64 {
    let entry = &outcome.entry;
    let margin = crate::broker::needed_ms(entry, profile.min_ttl);
    entry
        .expires_at_ms
        .saturating_sub(margin)
        .max(now_ms().min(entry.expires_at_ms))
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::ffi::OsStr;

    fn t(url: &str) -> Target {
        Target::parse(url).unwrap()
    }

    #[test]
    fn argv0_selects_adapters() {
        assert_eq!(
            adapter_for_argv0(OsStr::new("/usr/bin/git-credential-bsn")),
            Some("git")
        );
        assert_eq!(
            adapter_for_argv0(OsStr::new("docker-credential-bsn.exe")),
            Some("docker")
        );
        assert_eq!(
            adapter_for_argv0(OsStr::new("./bazel-credential-bsn")),
            Some("bazel")
        );
        assert_eq!(adapter_for_argv0(OsStr::new("bsn-credential-helper")), None);
        assert_eq!(adapter_for_argv0(OsStr::new("git-credential-bsnx")), None);
    }

    #[test]
    fn targets_from_urls_and_addresses() {
        assert_eq!(
            t("https://user@API.bsn.cloud:443/2022/06/REST/Self?x=1"),
            Target {
                scheme: Some("https".into()),
                authority: "api.bsn.cloud:443".into()
            }
        );
        assert_eq!(t("api.bsn.cloud").scheme, None);
        assert_eq!(t("api.bsn.cloud/v2/").authority, "api.bsn.cloud");
        assert_eq!(t("http://[::1]:8080/x").host(), "::1");
        assert_eq!(t("http://[::1]:8080/x").port(), Some("8080"));
        assert_eq!(t("127.0.0.1:9").port(), Some("9"));
        assert!(Target::parse("").is_none());
        assert!(Target::parse("https:///path").is_none());
        assert!(Target::parse("a b").is_none());
    }

    #[test]
    fn default_hosts_plus_api_url() {
        let h = Hosts::new(None, Some("http://127.0.0.1:4321"));
        assert!(h.serves(&t("https://api.bsn.cloud/2022/06/REST/Self")));
        assert!(h.serves(&t("https://ws.bsn.cloud:443/rest/v1/")));
        assert!(h.serves(&t("provision.bsn.cloud")));
        assert!(h.serves(&t("http://127.0.0.1:4321/")));
        assert!(!h.serves(&t("http://127.0.0.1:4322/")));
        assert!(!h.serves(&t("http://127.0.0.1/")));
        assert!(!h.serves(&t("https://github.com")));
        assert!(!h.serves(&t("https://api.bsn.cloud.evil.com")));
        assert!(!h.serves(&t("https://evil.com/api.bsn.cloud")));
        // Never a token in clear text to a remote host.
        assert!(!h.serves(&t("http://api.bsn.cloud")));
        assert!(!h.serves(&t("ftp://api.bsn.cloud")));
        assert_eq!(
            h.urls(),
            [
                "https://api.bsn.cloud",
                "https://ws.bsn.cloud",
                "https://provision.bsn.cloud",
                "http://127.0.0.1:4321"
            ]
        );
    }

    #[test]
    fn bsn_hosts_replaces_the_defaults() {
        let h = Hosts::new(Some(" Staging.example.com , ,x.test:8443"), None);
        assert_eq!(h.entries(), ["staging.example.com", "x.test:8443"]);
        assert!(h.serves(&t("https://staging.example.com/a")));
        assert!(h.serves(&t("https://x.test:8443")));
        assert!(!h.serves(&t("https://x.test")));
        assert!(!h.serves(&t("https://api.bsn.cloud")));
        let with_api = Hosts::new(Some("a.test"), Some("https://api.bsn.cloud/"));
        assert_eq!(with_api.entries(), ["a.test", "api.bsn.cloud"]);
    }
}
