//! The realm's memory: access tokens, refresh tokens, user sessions and the counters.
//!
//! This file knows the rules (expiry, one-time refresh tokens, reuse detection, the
//! per-client cap) but nothing about HTTP; `token.rs` and `rest.rs` turn its answers into
//! responses. Every method takes `now` so the rules read like the spec and stay testable.

use std::collections::HashMap;
use std::time::{Duration, Instant};

use super::config::{ClientSpec, EmulatorConfig, NetworkSpec};
use super::ids::random_id;
use super::stats::Stats;

struct AccessToken {
    client_id: String,
    /// Password-grant tokens belong to a session; client-credentials tokens don't.
    session: Option<String>,
    expires: Instant,
    /// Network chosen for a sessionless token (session tokens keep it on the session).
    network: Option<NetworkSpec>,
}

struct RefreshToken {
    client_id: String,
    session: String,
    expires: Instant,
    /// Refresh tokens are one-time use; a used one is kept until expiry to detect reuse.
    used: bool,
}

struct Session {
    username: String,
    ends: Instant,
    /// Ended early: by refresh-token reuse or `end_sessions`.
    ended: bool,
    network: Option<NetworkSpec>,
}

impl Session {
    fn active(&self, now: Instant) -> bool {
        !self.ended && now < self.ends
    }
}

/// A successful token grant, ready to be rendered as JSON.
#[derive(Debug)]
pub struct Issued {
    pub access_token: String,
    pub expires_in: u64,
    pub scope: String,
    /// Only for session (password / refresh) grants.
    pub refresh: Option<IssuedRefresh>,
}

#[derive(Debug)]
pub struct IssuedRefresh {
    pub refresh_token: String,
    pub expires_in: u64,
    pub session_state: String,
}

/// Why a refresh-token grant or the cap refused to issue.
#[derive(Debug, PartialEq, Eq)]
pub enum Refusal {
    UnknownRefreshToken,
    WrongClient,
    RefreshTokenExpired,
    SessionNotActive,
    RefreshTokenReused,
    TooManyActiveTokens,
}

/// Why a bearer token was refused on the REST surface.
#[derive(Debug, PartialEq, Eq)]
pub enum Unusable {
    /// Missing, unknown or expired: 401.
    Invalid,
    /// Valid token whose session has ended: 410.
    SessionEnded,
}

/// What `GET …/Self/Session` reports.
pub struct SessionView {
    pub network: Option<NetworkSpec>,
    pub scope: String,
    pub username: Option<String>,
}

pub struct State {
    config: EmulatorConfig,
    access: HashMap<String, AccessToken>,
    refresh: HashMap<String, RefreshToken>,
    sessions: HashMap<String, Session>,
    pub stats: Stats,
}

/// `now + secs`, saturating instead of panicking on absurd configured lifetimes.
fn after(now: Instant, secs: u64) -> Instant {
    let far = Duration::from_secs(100 * 365 * 24 * 3600);
    now.checked_add(Duration::from_secs(secs))
        .or_else(|| now.checked_add(far))
        .unwrap_or(now)
}

fn secs_until(now: Instant, then: Instant) -> u64 {
    then.saturating_duration_since(now).as_secs()
}

impl State {
    pub fn new(config: EmulatorConfig) -> Self {
        State {
            config,
            access: HashMap::new(),
            refresh: HashMap::new(),
            sessions: HashMap::new(),
            stats: Stats::default(),
        }
    }

    /// The client with this id, if the secret matches.
    pub fn client(&self, id: &str, secret: &str) -> Option<&ClientSpec> {
        self.config
            .clients
            .iter()
            .find(|c| c.id == id && c.secret == secret)
    }

    pub fn user_ok(&self, username: &str, password: &str) -> bool {
        self.config
            .users
            .iter()
            .any(|u| u.username == username && u.password == password)
    }

    /// `grant_type=client_credentials`: an access token and nothing else.
    pub fn grant_client(&mut self, client: &ClientSpec, now: Instant) -> Result<Issued, Refusal> {
        self.check_cap(&client.id, now)?;
        Ok(self.issue(client, None, now))
    }

    /// `grant_type=password` (credentials already checked): a new session and its tokens.
    pub fn grant_password(
        &mut self,
        client: &ClientSpec,
        username: &str,
        now: Instant,
    ) -> Result<Issued, Refusal> {
        self.check_cap(&client.id, now)?;
        let session = unique(&self.sessions, "emu-ss-");
        self.sessions.insert(
            session.clone(),
            Session {
                username: username.to_string(),
                ends: after(now, self.config.session_ttl),
                ended: false,
                network: None,
            },
        );
        Ok(self.issue(client, Some(session), now))
    }

    /// `grant_type=refresh_token`: trade a refresh token, once, for a new pair.
    pub fn grant_refresh(
        &mut self,
        client: &ClientSpec,
        token: &str,
        now: Instant,
    ) -> Result<Issued, Refusal> {
        let rt = self
            .refresh
            .get(token)
            .ok_or(Refusal::UnknownRefreshToken)?;
        if rt.client_id != client.id {
            return Err(Refusal::WrongClient);
        }
        let (session_id, used, expires) = (rt.session.clone(), rt.used, rt.expires);
        if !self
            .sessions
            .get(&session_id)
            .is_some_and(|s| s.active(now))
        {
            return Err(Refusal::SessionNotActive);
        }
        if now >= expires {
            return Err(Refusal::RefreshTokenExpired);
        }
        if used {
            // Two holders of one refresh token: Keycloak assumes theft and ends the
            // session for everyone.
            if let Some(s) = self.sessions.get_mut(&session_id) {
                s.ended = true;
            }
            self.stats.refresh_tokens_reused += 1;
            self.stats.sessions_ended_by_reuse += 1;
            return Err(Refusal::RefreshTokenReused);
        }
        // Check the cap before consuming the token so a 429 leaves the caller able to retry.
        self.check_cap(&client.id, now)?;
        if let Some(rt) = self.refresh.get_mut(token) {
            rt.used = true;
        }
        Ok(self.issue(client, Some(session_id), now))
    }

    /// Refuses if one more token would put the client over `max_active`.
    fn check_cap(&mut self, client_id: &str, now: Instant) -> Result<(), Refusal> {
        self.prune(now);
        match self.config.max_active {
            Some(cap) if self.active_for(client_id, now) >= cap => {
                Err(Refusal::TooManyActiveTokens)
            }
            _ => Ok(()),
        }
    }

    /// Mints an access token (and, for a session, a refresh token) and updates the counters.
    fn issue(&mut self, client: &ClientSpec, session: Option<String>, now: Instant) -> Issued {
        let access_token = unique(&self.access, "emu-at-");
        self.access.insert(
            access_token.clone(),
            AccessToken {
                client_id: client.id.clone(),
                session: session.clone(),
                expires: after(now, self.config.access_ttl),
                network: None,
            },
        );
        self.stats.tokens_issued += 1;
        let active = self.active_for(&client.id, now) as u64;
        self.stats.max_active_tokens = self.stats.max_active_tokens.max(active);

        let refresh = session.map(|session_state| {
            let session_ends = self.sessions.get(&session_state).map_or(now, |s| s.ends);
            // A refresh token never outlives its session.
            let expires = after(now, self.config.refresh_ttl).min(session_ends);
            let refresh_token = unique(&self.refresh, "emu-rt-");
            self.refresh.insert(
                refresh_token.clone(),
                RefreshToken {
                    client_id: client.id.clone(),
                    session: session_state.clone(),
                    expires,
                    used: false,
                },
            );
            IssuedRefresh {
                refresh_token,
                expires_in: secs_until(now, expires),
                session_state,
            }
        });
        Issued {
            access_token,
            expires_in: self.config.access_ttl,
            scope: client.scope.clone(),
            refresh,
        }
    }

    fn active_for(&self, client_id: &str, now: Instant) -> usize {
        self.access
            .values()
            .filter(|t| t.client_id == client_id && t.expires > now)
            .count()
    }

    /// Unexpired access tokens of the busiest client.
    pub fn active_now(&self, now: Instant) -> u64 {
        let mut per_client: HashMap<&str, u64> = HashMap::new();
        for t in self.access.values().filter(|t| t.expires > now) {
            *per_client.entry(&t.client_id).or_default() += 1;
        }
        per_client.into_values().max().unwrap_or(0)
    }

    /// Forgets what can no longer matter, so a long-running emulator doesn't grow forever.
    /// Sessions stay a little past their end so tokens issued near it still get 410.
    fn prune(&mut self, now: Instant) {
        let grace = self.config.access_ttl;
        self.access.retain(|_, t| t.expires > now);
        self.refresh.retain(|_, t| t.expires > now);
        self.sessions.retain(|_, s| after(s.ends, grace) > now);
    }

    /// Ends every session now, like reaching Keycloak's SSO Session Max.
    pub fn end_sessions(&mut self) {
        for s in self.sessions.values_mut() {
            s.ended = true;
        }
    }

    /// RFC 7009: forgets `token` if it is this client's. An access token stops counting
    /// against the cap at once; a refresh token ends its session with all its tokens.
    pub fn revoke(&mut self, client: &ClientSpec, token: &str, now: Instant) {
        self.stats.revocations += 1;
        if self
            .access
            .get(token)
            .is_some_and(|t| t.client_id == client.id)
        {
            self.access.remove(token);
        } else if let Some(rt) = self.refresh.get(token).filter(|t| t.client_id == client.id) {
            let session = rt.session.clone();
            if let Some(s) = self.sessions.get_mut(&session) {
                s.ended = true;
            }
            self.access
                .retain(|_, t| t.session.as_deref() != Some(session.as_str()));
            self.refresh.retain(|_, t| t.session != session);
        }
        self.prune(now);
    }

    /// Checks a bearer token for the REST surface.
    fn usable(&self, token: &str, now: Instant) -> Result<&AccessToken, Unusable> {
        let t = self
            .access
            .get(token)
            .filter(|t| t.expires > now)
            .ok_or(Unusable::Invalid)?;
        if let Some(id) = &t.session
            && !self.sessions.get(id).is_some_and(|s| s.active(now))
        {
            return Err(Unusable::SessionEnded);
        }
        Ok(t)
    }

    pub fn network_by_name(&self, name: &str) -> Option<NetworkSpec> {
        self.config
            .networks
            .iter()
            .find(|n| n.name == name)
            .cloned()
    }

    pub fn network_by_id(&self, id: u64) -> Option<NetworkSpec> {
        self.config.networks.iter().find(|n| n.id == id).cloned()
    }

    /// Only checks the token, so the REST layer can answer 401/410 before parsing the body.
    pub fn check_bearer(&self, token: &str, now: Instant) -> Result<(), Unusable> {
        self.usable(token, now).map(|_| ())
    }

    /// Binds a network to the token, or to its session so refreshed tokens keep it.
    pub fn select_network(
        &mut self,
        token: &str,
        network: NetworkSpec,
        now: Instant,
    ) -> Result<(), Unusable> {
        let session = self.usable(token, now)?.session.clone();
        match session.and_then(|id| self.sessions.get_mut(&id)) {
            Some(s) => s.network = Some(network),
            None => {
                if let Some(t) = self.access.get_mut(token) {
                    t.network = Some(network);
                }
            }
        }
        self.stats.network_selections += 1;
        Ok(())
    }

    pub fn session_view(&self, token: &str, now: Instant) -> Result<SessionView, Unusable> {
        let t = self.usable(token, now)?;
        let session = t.session.as_ref().and_then(|id| self.sessions.get(id));
        let scope = self
            .config
            .clients
            .iter()
            .find(|c| c.id == t.client_id)
            .map(|c| c.scope.clone())
            .unwrap_or_default();
        Ok(SessionView {
            network: session.map_or(t.network.clone(), |s| s.network.clone()),
            scope,
            username: session.map(|s| s.username.clone()),
        })
    }
}

/// A fresh id not already a key of `map` (collisions are practically impossible; this
/// makes them actually impossible).
fn unique<V>(map: &HashMap<String, V>, prefix: &str) -> String {
    loop {
        let id = random_id(prefix);
        if !map.contains_key(&id) {
            return id;
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn state(f: impl FnOnce(&mut EmulatorConfig)) -> (State, ClientSpec) {
        let mut config = EmulatorConfig::demo();
        f(&mut config);
        let client = config.clients[0].clone();
        (State::new(config), client)
    }

    #[test]
    fn refresh_rotation_and_reuse_detection() {
        let (mut st, client) = state(|_| {});
        let now = Instant::now();
        let first = st.grant_password(&client, "demo@example.com", now).unwrap();
        let rt1 = first.refresh.unwrap().refresh_token;
        let second = st.grant_refresh(&client, &rt1, now).unwrap();
        let rt2 = second.refresh.unwrap().refresh_token;
        assert_eq!(
            st.grant_refresh(&client, &rt1, now).unwrap_err(),
            Refusal::RefreshTokenReused
        );
        assert_eq!(
            st.grant_refresh(&client, &rt2, now).unwrap_err(),
            Refusal::SessionNotActive
        );
        assert_eq!(
            st.check_bearer(&second.access_token, now),
            Err(Unusable::SessionEnded)
        );
        assert_eq!(st.stats.refresh_tokens_reused, 1);
        assert_eq!(st.stats.sessions_ended_by_reuse, 1);
    }

    #[test]
    fn refresh_token_is_clamped_to_session() {
        let (mut st, client) = state(|c| c.session_ttl = 10);
        let now = Instant::now();
        let issued = st.grant_password(&client, "u", now).unwrap();
        let refresh = issued.refresh.unwrap();
        assert_eq!(refresh.expires_in, 10);
        let later = now + Duration::from_secs(11);
        assert_eq!(
            st.grant_refresh(&client, &refresh.refresh_token, later)
                .unwrap_err(),
            Refusal::SessionNotActive
        );
    }

    #[test]
    fn cap_counts_only_unexpired_tokens() {
        let (mut st, client) = state(|c| {
            c.max_active = Some(2);
            c.access_ttl = 5;
        });
        let now = Instant::now();
        st.grant_client(&client, now).unwrap();
        st.grant_client(&client, now).unwrap();
        assert_eq!(
            st.grant_client(&client, now).unwrap_err(),
            Refusal::TooManyActiveTokens
        );
        assert_eq!(st.active_now(now), 2);
        let later = now + Duration::from_secs(6);
        assert!(st.grant_client(&client, later).is_ok());
        assert_eq!(st.active_now(later), 1);
        assert_eq!(st.stats.max_active_tokens, 2);
    }

    #[test]
    fn revoked_tokens_leave_the_cap() {
        let (mut st, client) = state(|c| c.max_active = Some(1));
        let now = Instant::now();
        let first = st.grant_client(&client, now).unwrap();
        assert!(st.grant_client(&client, now).is_err());
        st.revoke(&client, &first.access_token, now);
        assert_eq!(
            st.check_bearer(&first.access_token, now),
            Err(Unusable::Invalid)
        );
        let session = st.grant_password(&client, "u", now).unwrap();
        let rt = session.refresh.unwrap().refresh_token;
        st.revoke(&client, &rt, now);
        assert_eq!(st.active_now(now), 0);
        assert_eq!(
            st.grant_refresh(&client, &rt, now).unwrap_err(),
            Refusal::UnknownRefreshToken
        );
        assert_eq!(st.stats.revocations, 2);
    }

    #[test]
    fn absurd_ttl_does_not_panic() {
        let (mut st, client) = state(|c| c.access_ttl = u64::MAX);
        assert!(st.grant_client(&client, Instant::now()).is_ok());
    }
}
