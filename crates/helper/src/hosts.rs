//! Which hosts get a token: `BSN_HOSTS` (comma list) or the BSN.cloud defaults, plus
//! always the `host[:port]` of the profile's api_url. Host tools ask through `serves`.

use crate::url::{Target, is_loopback};

/// BSN.cloud hosts the bearer token works on (bsn-cloud-auth.md §4).
pub const DEFAULT_HOSTS: [&str; 3] = ["api.bsn.cloud", "ws.bsn.cloud", "provision.bsn.cloud"];

#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Hosts {
    entries: Vec<Target>,
}

impl Hosts {
    /// Entries that do not parse as `host[:port]` are dropped.
    pub fn new(bsn_hosts: Option<&str>, api_url: Option<&str>) -> Hosts {
        let mut entries: Vec<Target> = match bsn_hosts {
            Some(list) => list.split(',').filter_map(Target::parse).collect(),
            None => DEFAULT_HOSTS
                .iter()
                .filter_map(|h| Target::parse(h))
                .collect(),
        };
        for entry in &mut entries {
            entry.scheme = None;
        }
        if let Some(mut t) = api_url.and_then(Target::parse) {
            t.scheme = None;
            if !entries.contains(&t) {
                entries.push(t);
            }
        }
        Hosts { entries }
    }

    /// `host[:port]` per entry.
    pub fn entries(&self) -> Vec<String> {
        self.entries.iter().map(Target::authority).collect()
    }

    /// Whether a token may go to `target`: a listed host (an entry without a port matches
    /// any port of that host; one with a port only that port), over https — or plain http
    /// to a loopback address, as endpoint URLs allow for the emulator.
    pub fn serves(&self, target: &Target) -> bool {
        let transport_ok = match target.scheme.as_deref() {
            None | Some("https") => true,
            Some("http") => is_loopback(target.host()),
            Some(_) => false,
        };
        transport_ok && self.entries.iter().any(|e| e.covers(target))
    }

    /// `https://host` (or `http://` for loopback) per entry, for Docker's `list`.
    pub fn urls(&self) -> Vec<String> {
        self.entries
            .iter()
            .map(|t| {
                let scheme = if is_loopback(t.host()) {
                    "http"
                } else {
                    "https"
                };
                format!("{scheme}://{}", t.authority())
            })
            .collect()
    }

    pub fn describe(&self) -> String {
        self.entries().join(", ")
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn t(url: &str) -> Target {
        Target::parse(url).unwrap()
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
