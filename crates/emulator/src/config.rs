//! What the emulator serves: clients, users, networks and token lifetimes.
//!
//! `EmulatorConfig::demo()` is the one-command demo; `load_toml` lets a user describe
//! their own realm in a file where every key is optional and falls back to the demo.

use std::path::Path;

use serde::{Deserialize, Serialize};

/// An OAuth2 client (a BSN.cloud "application"), authenticated by id and secret.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct ClientSpec {
    pub id: String,
    pub secret: String,
    /// Space-separated scopes, returned as-is in `scope` and `authorizationScope`.
    pub scope: String,
}

/// A user account for the password grant (the session flow).
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct UserSpec {
    pub username: String,
    pub password: String,
}

/// A BSN.cloud network that `PUT …/Self/Session/Network` can select.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct NetworkSpec {
    pub id: u64,
    pub name: String,
}

/// Everything the emulator needs to start. Build it with `demo()` and struct-update syntax:
/// `EmulatorConfig { port: 0, access_ttl: 1, ..EmulatorConfig::demo() }`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct EmulatorConfig {
    /// 0 = let the OS pick a free port. The emulator always binds 127.0.0.1 only.
    pub port: u16,
    /// Access token lifetime in seconds (BSN.cloud announces 5 min).
    pub access_ttl: u64,
    /// Refresh token lifetime in seconds (30 min), never beyond the session's end.
    pub refresh_ttl: u64,
    /// User session lifetime in seconds (Keycloak's "SSO Session Max", 12 h).
    pub session_ttl: u64,
    /// Cap on unexpired access tokens per client; BSN.cloud announces one without a number.
    pub max_active: Option<usize>,
    pub clients: Vec<ClientSpec>,
    pub users: Vec<UserSpec>,
    pub networks: Vec<NetworkSpec>,
}

impl EmulatorConfig {
    /// The demo realm: one client, one user, two networks, production-like lifetimes.
    pub fn demo() -> Self {
        EmulatorConfig {
            port: 0,
            access_ttl: 300,
            refresh_ttl: 1800,
            session_ttl: 43200,
            max_active: None,
            clients: vec![ClientSpec {
                id: "demo-client".into(),
                secret: "demo-secret".into(),
                scope: "bsn.api.main.operations bsn.api.main.devices".into(),
            }],
            users: vec![UserSpec {
                username: "demo@example.com".into(),
                password: "demo-password".into(),
            }],
            networks: vec![
                NetworkSpec {
                    id: 1,
                    name: "Demo".into(),
                },
                NetworkSpec {
                    id: 2,
                    name: "Lobby".into(),
                },
            ],
        }
    }

    /// Reads a TOML file with the same keys as this struct. Missing keys (including whole
    /// lists) fall back to `demo()`. Unknown keys are an error so typos don't pass silently.
    /// The error names the file; toml's message adds line, column and a caret.
    pub fn load_toml(path: &Path) -> Result<Self, String> {
        let text = std::fs::read_to_string(path)
            .map_err(|e| format!("{}: cannot read emulator config: {e}", path.display()))?;
        Self::from_toml_str(&text).map_err(|e| format!("{}: {e}", path.display()))
    }

    /// `load_toml` without the file, for callers that already hold the text.
    pub fn from_toml_str(text: &str) -> Result<Self, String> {
        let file: ConfigFile = toml::from_str(text).map_err(|e| e.to_string())?;
        let demo = Self::demo();
        Ok(EmulatorConfig {
            port: file.port.unwrap_or(demo.port),
            access_ttl: file.access_ttl.unwrap_or(demo.access_ttl),
            refresh_ttl: file.refresh_ttl.unwrap_or(demo.refresh_ttl),
            session_ttl: file.session_ttl.unwrap_or(demo.session_ttl),
            max_active: file.max_active.or(demo.max_active),
            clients: file.clients.unwrap_or(demo.clients),
            users: file.users.unwrap_or(demo.users),
            networks: file.networks.unwrap_or(demo.networks),
        })
    }
}

impl Default for EmulatorConfig {
    fn default() -> Self {
        Self::demo()
    }
}

/// The file's shape: every key optional so a file can override just one thing.
#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct ConfigFile {
    port: Option<u16>,
    access_ttl: Option<u64>,
    refresh_ttl: Option<u64>,
    session_ttl: Option<u64>,
    max_active: Option<usize>,
    clients: Option<Vec<ClientSpec>>,
    users: Option<Vec<UserSpec>>,
    networks: Option<Vec<NetworkSpec>>,
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn empty_file_is_the_demo() {
        assert_eq!(
            EmulatorConfig::from_toml_str("").unwrap(),
            EmulatorConfig::demo()
        );
    }

    #[test]
    fn partial_file_overrides_only_its_keys() {
        let cfg = EmulatorConfig::from_toml_str(
            "access_ttl = 5\nmax_active = 3\n[[networks]]\nid = 9\nname = \"Shop\"\n",
        )
        .unwrap();
        assert_eq!(cfg.access_ttl, 5);
        assert_eq!(cfg.max_active, Some(3));
        assert_eq!(
            cfg.networks,
            vec![NetworkSpec {
                id: 9,
                name: "Shop".into()
            }]
        );
        assert_eq!(cfg.clients, EmulatorConfig::demo().clients);
    }

    #[test]
    fn unknown_key_is_rejected_with_line() {
        let err = EmulatorConfig::from_toml_str("port = 1\nacess_ttl = 5\n").unwrap_err();
        assert!(err.contains("line 2"), "{err}");
        assert!(err.contains("acess_ttl"), "{err}");
    }
}
