//! Login values that travel in fields of their own rather than on a command line: the SOCKS5
//! user name and password (RFC 1929), and the SASL identity and secret. A control byte in one
//! shifts or ends a field (a NUL in a PLAIN identity moves every field after it), so none is
//! sent. A secret's error never carries the secret, nor where in it the bad byte sits.

use super::{FieldError, Problem, control_name, field};

/// RFC 1929 §2: ULEN and PLEN are one octet, and a length of 0 is no name at all.
const SOCKS5_FIELD: &str = "RFC 1929 allows 1 to 255 octets";

/// A SOCKS5 user name: 1–255 octets, no control bytes.
pub fn socks5_user(name: &str, value: &str) -> Result<(), FieldError> {
    field(name, socks5_field(value, true))
}

/// A SOCKS5 password: 1–255 octets, no control bytes; the error does not show it.
pub fn socks5_password(name: &str, value: &str) -> Result<(), FieldError> {
    field(name, socks5_field(value, false))
}

fn socks5_field(value: &str, show_position: bool) -> Result<(), Problem> {
    if value.is_empty() || value.len() > 255 {
        return Err(Problem::Length {
            len: value.len(),
            rule: SOCKS5_FIELD,
        });
    }
    control(
        value,
        |b| b < 0x20 || b == 0x7f,
        show_position,
        "a SOCKS5 login may not carry control bytes",
    )
}

/// A SASL user name or authorisation identity: not empty, no control bytes. RFC 4616 forbids
/// NUL in PLAIN's fields, and a `\x01` would end XOAUTH2's `user=` early.
pub fn sasl_identity(name: &str, value: &str) -> Result<(), FieldError> {
    field(name, {
        if value.is_empty() {
            Err(Problem::Empty)
        } else {
            control(
                value,
                |b| b < 0x20 || b == 0x7f,
                true,
                "a SASL identity may not carry control bytes (a NUL would shift PLAIN's fields)",
            )
        }
    })
}

/// A SASL password or XOAUTH2 token: no NUL or `\x01` (they separate PLAIN's and XOAUTH2's
/// fields), no CR or LF (a line end in a password is a copying mistake, and a token is one
/// line). Other bytes are the secret's own business. The error does not show the secret.
pub fn sasl_secret(name: &str, value: &str) -> Result<(), FieldError> {
    field(
        name,
        control(
            value,
            |b| matches!(b, 0 | 0x01 | b'\r' | b'\n'),
            false,
            "a password or token may not hold NUL, \\x01, CR or LF, which separate SASL fields and lines; it is not shown",
        ),
    )
}

fn control(
    value: &str,
    forbidden: impl Fn(u8) -> bool,
    show_position: bool,
    rule: &'static str,
) -> Result<(), Problem> {
    match value.bytes().position(forbidden) {
        Some(i) => Err(Problem::ControlByte {
            name: control_name(value.as_bytes()[i]),
            position: show_position.then_some(i + 1),
            rule,
        }),
        None => Ok(()),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn socks5_fields_are_1_to_255_octets_without_control_bytes() {
        assert!(socks5_user("--socks5-user", "alice").is_ok());
        assert!(socks5_user("--socks5-user", &"u".repeat(255)).is_ok());
        let e = socks5_user("--socks5-user", "").unwrap_err().to_string();
        assert_eq!(e, "--socks5-user is empty; RFC 1929 allows 1 to 255 octets");
        let e = socks5_user("--socks5-user", &"u".repeat(256))
            .unwrap_err()
            .to_string();
        assert_eq!(
            e,
            "--socks5-user is 256 octets long; RFC 1929 allows 1 to 255 octets"
        );
        for (bad, says) in [
            ("a\r\nb", "a CR (\\r) at position 2"),
            ("a\nb", "an LF (\\n) at position 2"),
            ("a\0b", "a NUL (\\0) at position 2"),
        ] {
            let e = socks5_user("--socks5-user", bad).unwrap_err().to_string();
            assert!(e.contains(says), "{bad:?}: {e}");
        }
    }

    #[test]
    fn a_socks5_password_error_shows_neither_it_nor_the_position() {
        let e = socks5_password("--socks5-password-env PW", "se\u{1b}cret")
            .unwrap_err()
            .to_string();
        assert_eq!(
            e,
            "--socks5-password-env PW holds an ESC (\\x1b); a SOCKS5 login may not carry control bytes"
        );
        assert!(socks5_password("p", "").is_err());
        assert!(socks5_password("p", &"p".repeat(256)).is_err());
        assert!(socks5_password("p", "pässwörd").is_ok());
    }

    #[test]
    fn sasl_identities_have_no_control_bytes() {
        assert!(sasl_identity("--user", "alice@lab.example").is_ok());
        assert_eq!(
            sasl_identity("--user", "").unwrap_err().problem,
            Problem::Empty
        );
        let e = sasl_identity("profile p: [auth] username", "u\0x")
            .unwrap_err()
            .to_string();
        assert!(
            e.starts_with("profile p: [auth] username holds a NUL (\\0) at position 2;"),
            "{e}"
        );
        assert!(e.contains("shift PLAIN's fields"), "{e}");
        assert!(sasl_identity("--user", "a\x01b").is_err());
    }

    #[test]
    fn sasl_secrets_refuse_field_separators_and_line_ends_without_showing_them() {
        assert!(sasl_secret("s", "tab\there is fine").is_ok());
        assert!(
            sasl_secret("s", "").is_ok(),
            "emptiness is the source's to judge"
        );
        for bad in ["pw\0x", "pw\x01x", "pw\r", "pw\nx"] {
            let e = sasl_secret("--password-env PW: the password", bad).unwrap_err();
            let text = e.to_string();
            assert!(
                text.starts_with("--password-env PW: the password holds "),
                "{text}"
            );
            assert!(!text.contains("pw") && !text.contains("position"), "{text}");
        }
    }
}
