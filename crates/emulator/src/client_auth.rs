//! Who is calling the token endpoint: client id and secret from `Authorization: Basic` or,
//! as Keycloak also allows, from the `client_id` / `client_secret` form fields.

use std::collections::HashMap;

use base64::Engine;
use base64::engine::general_purpose::{STANDARD, STANDARD_NO_PAD};

use super::form::form_decode;

/// Client id and secret as presented (not yet checked against the config).
#[derive(Debug, PartialEq, Eq)]
pub struct Presented {
    pub id: String,
    pub secret: String,
}

/// Picks the credentials of a token request. Basic wins when present, like Keycloak; a
/// malformed Basic header is not silently replaced by form fields.
pub fn presented(authorization: Option<&str>, form: &HashMap<String, String>) -> Option<Presented> {
    if let Some(header) = authorization {
        return decode_basic(header);
    }
    Some(Presented {
        id: form.get("client_id")?.clone(),
        secret: form.get("client_secret")?.clone(),
    })
}

/// `Basic base64(urlenc(id) ":" urlenc(secret))` → id and secret (RFC 6749 §2.3.1): split at
/// the first ':' of the decoded bytes, then form-decode each half, so secrets containing
/// ':' '%' '+' or ' ' survive.
pub fn decode_basic(header: &str) -> Option<Presented> {
    let (scheme, encoded) = header.trim().split_once(' ')?;
    if !scheme.eq_ignore_ascii_case("basic") {
        return None;
    }
    let encoded = encoded.trim();
    let raw = STANDARD
        .decode(encoded)
        .or_else(|_| STANDARD_NO_PAD.decode(encoded))
        .ok()?;
    let colon = raw.iter().position(|&b| b == b':')?;
    Some(Presented {
        id: form_decode(&raw[..colon]),
        secret: form_decode(&raw[colon + 1..]),
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    fn basic(raw: &str) -> String {
        format!("Basic {}", STANDARD.encode(raw))
    }

    #[test]
    fn decodes_form_encoded_halves() {
        let p = decode_basic(&basic("my%3Aclient:s%3Ac%25r+t%2B")).unwrap();
        assert_eq!(p.id, "my:client");
        assert_eq!(p.secret, "s:c%r t+");
    }

    #[test]
    fn splits_at_first_colon_only() {
        // A client that forgot to encode still works when only the secret has colons.
        let p = decode_basic(&basic("id:a:b")).unwrap();
        assert_eq!((p.id.as_str(), p.secret.as_str()), ("id", "a:b"));
    }

    #[test]
    fn scheme_is_case_insensitive_and_padding_optional() {
        assert!(decode_basic(&format!("bAsIc {}", STANDARD.encode("a:b"))).is_some());
        assert!(decode_basic(&format!("Basic {}", STANDARD_NO_PAD.encode("ab:c"))).is_some());
    }

    #[test]
    fn rejects_malformed_headers() {
        assert_eq!(decode_basic("Bearer abc"), None);
        assert_eq!(decode_basic("Basic"), None);
        assert_eq!(decode_basic("Basic !!!not-base64"), None);
        assert_eq!(decode_basic(&basic("no-colon")), None);
    }

    #[test]
    fn falls_back_to_form_fields_only_without_header() {
        let mut form = HashMap::new();
        form.insert("client_id".to_string(), "f".to_string());
        form.insert("client_secret".to_string(), "s".to_string());
        assert_eq!(presented(None, &form).unwrap().id, "f");
        assert_eq!(presented(Some("Basic ???"), &form), None);
        form.remove("client_secret");
        assert_eq!(presented(None, &form), None);
    }
}
