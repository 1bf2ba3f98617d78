//! RFC 7009 token revocation, at Keycloak's `…/openid-connect/revoke` (or `revoke_url`),
//! with the same client authentication as the token endpoint.

use super::{client_auth, retry_exhausted, server_explanation};
use crate::config::Profile;
use crate::error::Error;
use crate::http::{self, ATTEMPTS, Attempt, FIRST_BACKOFF};
use crate::secret::Secret;
use std::time::Instant;

/// RFC 7009: asks the server to forget `token` (`hint` is `refresh_token` or
/// `access_token`). Revocation is idempotent, so transient failures are retried.
pub fn revoke(
    deadline: Instant,
    profile: &Profile,
    client_secret: &Secret<String>,
    token: &Secret<String>,
    hint: &str,
) -> Result<(), Error> {
    let mut form = form_urlencoded::Serializer::new(String::new());
    form.append_pair("token", token.expose());
    form.append_pair("token_type_hint", hint);
    let auth = client_auth(profile, client_secret, &mut form);
    let body = Secret::new(form.finish());
    let url = profile.revoke_url.as_str();
    let mut req = http::Request::new(attohttpc::Method::POST, url, &profile.revoke_url);
    req.authorization = auth.as_ref();
    req.body = Some(("application/x-www-form-urlencoded", body.expose()));
    let mut backoff = FIRST_BACKOFF;
    for attempt in 1..=ATTEMPTS {
        let outcome = http::send(&req, deadline, "BSN_TIMEOUT (timeout)");
        let after = match &outcome {
            Attempt::NotSent(_) | Attempt::Lost(_) => None,
            Attempt::Retry(_, after, _) => *after,
            Attempt::Done(200, _) => return Ok(()),
            Attempt::Done(status, bytes) => {
                return Err(Error::server(format!(
                    "the revocation endpoint {url} answered HTTP {status}{}; set BSN_REVOKE_URL (revoke_url) if your server revokes elsewhere",
                    server_explanation(bytes)
                )));
            }
        };
        if attempt == ATTEMPTS || !http::wait(&mut backoff, after, deadline) {
            return Err(match outcome {
                Attempt::Retry(status, after, bytes) => {
                    retry_exhausted("revocation endpoint", status, after, &bytes)
                }
                Attempt::NotSent(why) | Attempt::Lost(why) => {
                    Error::network(format!("cannot reach the revocation endpoint {url}: {why}"))
                }
                Attempt::Done(..) => unreachable!("handled above"),
            });
        }
    }
    unreachable!("the last attempt returns")
}
