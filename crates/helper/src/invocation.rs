//! One invocation, resolved once: the overrides typed on the command line, the profile
//! they select (or why it does not resolve) and the hosts it serves. Built by the face
//! (`main`), handed to every adapter and command; nothing below reads argv.

use crate::config::{self, Overrides, Profile};
use crate::error::Result;
use crate::hosts::Hosts;

pub struct Invocation {
    pub overrides: Overrides,
    /// An adapter asked about a host it does not serve stays quiet even when the
    /// configuration is broken, so the error is kept, not raised.
    profile: Result<Profile>,
    pub hosts: Hosts,
    /// `--version` text, for protocols that report it (Docker's `version`).
    pub version: &'static str,
}

impl Invocation {
    pub fn resolve(overrides: Overrides, version: &'static str) -> Invocation {
        let profile = config::load(&overrides, &config::process_env);
        let hosts = Hosts::new(
            config::process_env("BSN_HOSTS").as_deref(),
            profile.as_ref().ok().map(|p| p.api_url.as_str()),
        );
        Invocation {
            overrides,
            profile,
            hosts,
            version,
        }
    }

    pub fn profile(&self) -> Result<&Profile> {
        self.profile.as_ref().map_err(Clone::clone)
    }

    /// The profile a protocol request asks for: another profile is resolved anew; a
    /// request's `min_ttl` replaces the resolved one.
    pub fn profile_for(&self, name: Option<&str>, min_ttl: Option<u64>) -> Result<Profile> {
        let mut profile = match name {
            Some(n) if self.profile.as_ref().map_or(true, |p| p.name != n) => {
                let overrides = Overrides {
                    profile: Some(n.to_string()),
                    min_ttl: self.overrides.min_ttl,
                    ..self.overrides.clone()
                };
                config::load(&overrides, &config::process_env)?
            }
            _ => self.profile()?.clone(),
        };
        if let Some(ttl) = min_ttl {
            profile.min_ttl = ttl;
        }
        Ok(profile)
    }
}
