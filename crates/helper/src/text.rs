//! Text from outside — a request, a config file, a server — quoted in our messages.
//! Escaped so no caller, file or server can put a newline, an ANSI sequence or a fake
//! `key=value` line into what we print.

/// Longest piece of outside text a message quotes.
const MAX_QUOTED: usize = 200;

/// `s` in double quotes, control characters and quotes escaped, capped in length.
pub fn quote(s: &str) -> String {
    format!("\"{}\"", escape(s))
}

/// `s` with control characters (and `"` and `\`) escaped, capped in length.
pub fn escape(s: &str) -> String {
    let mut out = String::new();
    for (i, c) in s.chars().enumerate() {
        if i == MAX_QUOTED {
            out.push('…');
            break;
        }
        if c.is_control() || c == '"' || c == '\\' {
            out.extend(c.escape_default());
        } else {
            out.push(c);
        }
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn controls_are_escaped_and_length_capped() {
        assert_eq!(quote("a\nb\x1b[31m\"c"), "\"a\\nb\\u{1b}[31m\\\"c\"");
        let long = escape(&"x".repeat(500));
        assert_eq!(long.chars().count(), MAX_QUOTED + 1);
        assert!(!quote("host=evil\r\nusername=x").contains(['\r', '\n']));
    }
}
