//! `erase [--no-revoke]`: forgets the profile's cached tokens and revokes them at the
//! server (RFC 7009), so they stop counting against the per-application token cap. A failed
//! revocation is a warning; the tokens are forgotten either way.

use crate::broker;
use crate::error::{self, Result};
use crate::invocation::Invocation;
use std::process::ExitCode;

pub fn erase(inv: &Invocation, revoke: bool) -> Result<ExitCode> {
    let profile = inv.profile()?;
    let (removed, revoked) = if revoke {
        let erased = broker::erase_and_revoke(profile)?;
        if let Some(w) = &erased.warning {
            error::warn(w);
        }
        (erased.removed, erased.revoked)
    } else {
        (broker::erase(profile)?, None)
    };
    let what = match (removed, revoked) {
        (false, _) => "nothing cached for",
        (true, Some("refresh_token")) => {
            "erased the cached tokens and ended the session at the server of"
        }
        (true, Some(_)) => "erased and revoked the cached token of",
        (true, None) => "erased the cached tokens of",
    };
    crate::log::line(format_args!(
        "bsn-credential-helper: {what} profile {}",
        crate::text::quote(&profile.name)
    ));
    Ok(ExitCode::SUCCESS)
}
