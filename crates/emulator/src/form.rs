//! `application/x-www-form-urlencoded`: token request bodies and the halves of a Basic
//! credential (RFC 6749 §2.3.1 form-encodes the client id and secret before base64).

use std::collections::HashMap;

/// Decodes one form-encoded value: `+` is a space, `%XX` a byte. A `%` not followed by two
/// hex digits stays literal (as browsers and Keycloak do) rather than failing.
pub fn form_decode(input: &[u8]) -> String {
    let mut out = Vec::with_capacity(input.len());
    let mut i = 0;
    while i < input.len() {
        match input[i] {
            b'+' => out.push(b' '),
            b'%' => {
                let hex = input
                    .get(i + 1..i + 3)
                    .and_then(|h| std::str::from_utf8(h).ok());
                match hex.and_then(|h| u8::from_str_radix(h, 16).ok()) {
                    Some(byte) => {
                        out.push(byte);
                        i += 2;
                    }
                    None => out.push(b'%'),
                }
            }
            b => out.push(b),
        }
        i += 1;
    }
    String::from_utf8_lossy(&out).into_owned()
}

/// Parses a form body into name → value. A repeated name is an error (RFC 6749 §3.1:
/// "parameters MUST NOT be included more than once"); the error is that name.
pub fn parse_form(body: &[u8]) -> Result<HashMap<String, String>, String> {
    let mut fields = HashMap::new();
    for (name, value) in form_urlencoded::parse(body) {
        if fields
            .insert(name.to_string(), value.into_owned())
            .is_some()
        {
            return Err(name.into_owned());
        }
    }
    Ok(fields)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn decodes_plus_percent_and_leaves_stray_percent() {
        assert_eq!(form_decode(b"a+b%3Ac%25d%2B"), "a b:c%d+");
        assert_eq!(form_decode(b"100%"), "100%");
        assert_eq!(form_decode(b"%zz%4"), "%zz%4");
        assert_eq!(form_decode(b"%C3%A9"), "é");
        assert_eq!(form_decode(b""), "");
    }

    #[test]
    fn parses_fields_and_rejects_duplicates() {
        let form = parse_form(b"grant_type=password&username=a%40b.c&password=p+w%26").unwrap();
        assert_eq!(form["grant_type"], "password");
        assert_eq!(form["username"], "a@b.c");
        assert_eq!(form["password"], "p w&");
        assert_eq!(parse_form(b"a=1&a=2").unwrap_err(), "a");
        assert!(parse_form(b"").unwrap().is_empty());
        // Not a form at all (a JSON body) still parses, just without useful fields.
        assert!(
            !parse_form(br#"{"grant_type":"x"}"#)
                .unwrap()
                .contains_key("grant_type")
        );
    }
}
