//! Checks for values that go into a command line: an address, a HELO name. Only the operator's
//! hand-typed raw line may carry CR, LF or other control bytes; a structured value that did
//! would split into commands of its own (`<a@b>\r\nRSET\r\n…`). Lengths are RFC 5321
//! §4.5.3.1's.
//!
//! Values that never reach a command line but travel in a field of their own (a SOCKS5 login,
//! a SASL identity or secret) are checked in [`login`]; ESMTP parameters in [`esmtp`].

mod esmtp;
mod login;

pub use esmtp::{declares_binarymime, esmtp_param};
pub use login::{sasl_identity, sasl_secret, socks5_password, socks5_user};

/// RFC 5321 §4.5.3.1.1: a local part of at most 64 octets.
pub const MAX_LOCAL_PART: usize = 64;
/// RFC 5321 §4.5.3.1.2: a domain of at most 255 octets.
pub const MAX_DOMAIN: usize = 255;
/// RFC 5321 §4.5.3.1.3: a path of at most 256 octets, angle brackets included.
pub const MAX_MAILBOX: usize = 254;
/// RFC 5321 §4.5.3.1.4: a command line of at most 512 octets, CRLF included.
pub const MAX_COMMAND_LINE: usize = 512;

/// What is wrong with a value.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum Problem {
    #[error(
        "holds {name} at position {position}; a control character cannot go into this value (it would break the command line apart)"
    )]
    Control { name: String, position: usize },
    #[error("is {len} octets long; RFC 5321 allows at most {max} for {what}")]
    TooLong {
        len: usize,
        max: usize,
        what: &'static str,
    },
    #[error("is empty")]
    Empty,
    #[error("{value:?} is not a domain name: {why}")]
    NotDomain { value: String, why: String },
    /// A control byte in a value that is not a command line. `position` is left out for a
    /// secret: where its NUL sits is already more than an error needs to say about it.
    #[error("holds {name}{}; {rule}", at_position(*position))]
    ControlByte {
        name: String,
        position: Option<usize>,
        rule: &'static str,
    },
    /// Outside the lengths a protocol field can carry (a SOCKS5 login's one-octet length).
    #[error("{}; {rule}", length_text(*len))]
    Length { len: usize, rule: &'static str },
    #[error("{value:?} is not one ESMTP parameter: {why}")]
    NotParameter { value: String, why: String },
}

fn at_position(position: Option<usize>) -> String {
    position.map_or_else(String::new, |p| format!(" at position {p}"))
}

fn length_text(len: usize) -> String {
    if len == 0 {
        "is empty".into()
    } else {
        format!("is {len} octets long")
    }
}

/// A value refused, naming the setting it came from.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("{field} {problem}")]
pub struct FieldError {
    pub field: String,
    pub problem: Problem,
}

fn control_name(b: u8) -> String {
    match b {
        b'\r' => "a CR (\\r)".into(),
        b'\n' => "an LF (\\n)".into(),
        0 => "a NUL (\\0)".into(),
        0x1b => "an ESC (\\x1b)".into(),
        b'\t' => "a TAB (\\t)".into(),
        other => format!("the control byte \\x{other:02x}"),
    }
}

fn no_control(value: &str) -> Result<(), Problem> {
    match value.bytes().position(|b| b < 0x20 || b == 0x7f) {
        Some(i) => Err(Problem::Control {
            name: control_name(value.as_bytes()[i]),
            position: i + 1,
        }),
        None => Ok(()),
    }
}

fn at_most(value: &str, max: usize, what: &'static str) -> Result<(), Problem> {
    if value.len() > max {
        return Err(Problem::TooLong {
            len: value.len(),
            max,
            what,
        });
    }
    Ok(())
}

fn field(field: &str, r: Result<(), Problem>) -> Result<(), FieldError> {
    r.map_err(|problem| FieldError {
        field: field.to_string(),
        problem,
    })
}

/// An address for MAIL FROM or RCPT TO (without the angle brackets). Empty is the null
/// sender, allowed only where `allow_empty` says so.
pub fn mailbox(name: &str, value: &str, allow_empty: bool) -> Result<(), FieldError> {
    field(name, check_mailbox(value, allow_empty))
}

fn check_mailbox(value: &str, allow_empty: bool) -> Result<(), Problem> {
    if value.is_empty() {
        return if allow_empty {
            Ok(())
        } else {
            Err(Problem::Empty)
        };
    }
    no_control(value)?;
    at_most(value, MAX_MAILBOX, "an address")?;
    if let Some((local, domain)) = value.rsplit_once('@') {
        at_most(local, MAX_LOCAL_PART, "a local part")?;
        at_most(domain, MAX_DOMAIN, "a domain")?;
    }
    Ok(())
}

/// A name for EHLO, HELO or LHLO.
pub fn helo(name: &str, value: &str) -> Result<(), FieldError> {
    field(name, {
        if value.is_empty() {
            Err(Problem::Empty)
        } else {
            no_control(value).and_then(|()| at_most(value, MAX_DOMAIN, "a domain"))
        }
    })
}

/// RFC 1035 §2.3.4: a DNS name of at most 253 octets written out, labels of 1 to 63.
pub const MAX_DNS_NAME: usize = 253;

/// A DNS name given by the operator (a mail domain, a name to verify a certificate against):
/// ASCII letters, digits, hyphens and underscores in labels of 1–63 octets, no label starting
/// or ending in a hyphen, at most 253 octets, one trailing dot allowed. An internationalised
/// name is refused with its A-label form to write instead left to the operator (smtpscope
/// does not guess a conversion a certificate would have to match).
pub fn dns_name(name: &str, value: &str) -> Result<(), FieldError> {
    field(name, check_dns_name(value))
}

fn check_dns_name(value: &str) -> Result<(), Problem> {
    let bad = |why: &str| Problem::NotDomain {
        value: value.to_string(),
        why: why.to_string(),
    };
    if value.is_empty() {
        return Err(Problem::Empty);
    }
    no_control(value)?;
    if !value.is_ascii() {
        return Err(bad(
            "it is not ASCII; write an internationalised name in its A-label form (xn--…)",
        ));
    }
    let body = value.strip_suffix('.').unwrap_or(value);
    if body.is_empty() {
        return Err(bad("it is only the root"));
    }
    at_most(body, MAX_DNS_NAME, "a DNS name")?;
    for label in body.split('.') {
        if label.is_empty() {
            return Err(bad("it has an empty label (two dots in a row)"));
        }
        if label.len() > 63 {
            return Err(bad("a label is longer than 63 octets"));
        }
        if label.starts_with('-') || label.ends_with('-') {
            return Err(bad("a label starts or ends with a hyphen"));
        }
        if let Some(c) = label
            .chars()
            .find(|c| !(c.is_ascii_alphanumeric() || *c == '-' || *c == '_'))
        {
            return Err(bad(&format!("{c:?} is not allowed in a name")));
        }
    }
    Ok(())
}

/// A name to verify a server's certificate against: a DNS name, or an IP address.
pub fn tls_name(name: &str, value: &str) -> Result<(), FieldError> {
    let bare = value
        .strip_prefix('[')
        .and_then(|v| v.strip_suffix(']'))
        .unwrap_or(value);
    if bare.parse::<core::net::IpAddr>().is_ok() {
        return Ok(());
    }
    dns_name(name, value)
}

/// Free text that ends up inside a command line, such as a filled-in scenario step.
pub fn line(name: &str, value: &str) -> Result<(), FieldError> {
    field(
        name,
        no_control(value).and_then(|()| at_most(value, MAX_COMMAND_LINE - 2, "a command line")),
    )
}

/// Why a `NAME=VALUE` cannot be an XCLIENT attribute.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum XclientError {
    #[error("{given:?}: give NAME=VALUE")]
    NoValue { given: String },
    #[error("{given:?}: {name} is not an XCLIENT attribute; known: {known}")]
    Unknown {
        given: String,
        name: String,
        known: String,
    },
    #[error("{given:?}: the value {problem}")]
    Value { given: String, problem: Problem },
    /// Too long even for an XCLIENT command of its own; the value is not repeated.
    #[error(
        "{name}: with its value xtext-encoded, an XCLIENT line for it alone would be {len} octets; a command line holds at most {MAX_COMMAND_LINE} (RFC 5321 §4.5.3.1.4)"
    )]
    TooLong { name: String, len: usize },
}

/// `NAME=VALUE` with a name Postfix's XCLIENT knows and a value that cannot break the command
/// line nor, once xtext-encoded, outgrow one (several attributes are split over several
/// XCLIENT commands, see [`super::command::xclient_commands`]); the name comes back
/// upper-cased.
pub fn xclient_attribute(given: &str) -> Result<(String, String), XclientError> {
    let (name, value) = given.split_once('=').ok_or_else(|| XclientError::NoValue {
        given: given.to_string(),
    })?;
    let name = name.trim().to_ascii_uppercase();
    if !super::command::XCLIENT_ATTRIBUTES.contains(&name.as_str()) {
        return Err(XclientError::Unknown {
            given: given.to_string(),
            name,
            known: super::command::XCLIENT_ATTRIBUTES.join(" "),
        });
    }
    no_control(value)
        .and_then(|()| at_most(value, 255, "an XCLIENT value"))
        .map_err(|problem| XclientError::Value {
            given: given.to_string(),
            problem,
        })?;
    let len = super::command::xclient_line_len(&name, value);
    if len > MAX_COMMAND_LINE {
        return Err(XclientError::TooLong { name, len });
    }
    Ok((name, value.to_string()))
}

#[cfg(test)]
mod tests {
    use super::*;

    /// The limits at their edges: a 63-octet label and a 510-octet line (512 with CRLF, RFC
    /// 5321 §4.5.3.1) pass, one more octet does not.
    #[test]
    fn limits_hold_at_their_edges() {
        let label = |n: usize| format!("{}.example", "a".repeat(n));
        assert!(dns_name("--domain", &label(63)).is_ok());
        assert!(dns_name("--domain", &label(64)).is_err());
        assert!(line("step", &"x".repeat(MAX_COMMAND_LINE - 2)).is_ok());
        assert!(line("step", &"x".repeat(MAX_COMMAND_LINE - 1)).is_err());
        // An XCLIENT attribute whose line alone is exactly 512 octets passes; 513 does not.
        let sized = |len: usize| {
            (0..=255usize)
                .flat_map(|plus| (0..=255 - plus).map(move |a| (plus, a)))
                .map(|(plus, a)| format!("{}{}", "+".repeat(plus), "a".repeat(a)))
                .find(|v| super::super::command::xclient_line_len("HELO", v) == len)
                .expect("a value of that encoded length")
        };
        let at = sized(MAX_COMMAND_LINE);
        assert!(xclient_attribute(&format!("HELO={at}")).is_ok());
        let over = sized(MAX_COMMAND_LINE + 1);
        assert!(matches!(
            xclient_attribute(&format!("HELO={over}")),
            Err(XclientError::TooLong { len: 513, .. })
        ));
    }

    #[test]
    fn dns_names_and_tls_names() {
        for ok in [
            "example.com",
            "mx-1.lab.example.",
            "_mta-sts.example.org",
            "localhost",
        ] {
            assert!(dns_name("--domain", ok).is_ok(), "{ok}");
        }
        for (bad, says) in [
            ("", "is empty"),
            (".", "only the root"),
            ("a..b", "empty label"),
            ("-a.b", "hyphen"),
            ("a b.example", "' ' is not allowed"),
            ("bücher.example", "A-label"),
            ("x\x1b]0;t\x07.example", "ESC"),
        ] {
            let e = dns_name("--domain", bad).expect_err(bad).to_string();
            assert!(e.starts_with("--domain "), "{e}");
            assert!(e.contains(says), "{bad:?}: {e}");
        }
        assert!(dns_name("d", &"a".repeat(64)).is_err());
        assert!(dns_name("d", &vec!["a".repeat(60); 5].join(".")).is_err());
        for ok in ["127.0.0.1", "::1", "[::1]", "mail.example"] {
            assert!(tls_name("--tls-name", ok).is_ok(), "{ok}");
        }
        assert!(tls_name("--tls-name", "a b").is_err());
    }

    #[test]
    fn xclient_attributes_are_named_and_clean() {
        assert_eq!(
            xclient_attribute("addr=192.0.2.8"),
            Ok(("ADDR".into(), "192.0.2.8".into()))
        );
        assert!(matches!(
            xclient_attribute("ADDR"),
            Err(XclientError::NoValue { .. })
        ));
        let e = xclient_attribute("COLOUR=red").unwrap_err();
        assert!(
            e.to_string().contains("COLOUR is not an XCLIENT attribute"),
            "{e}"
        );
        assert!(matches!(
            xclient_attribute("NAME=a\r\nRSET"),
            Err(XclientError::Value { .. })
        ));
    }

    /// 255 octets fit a line of their own as they are; 255 that xtext triples do not, and
    /// the refusal names the attribute without repeating the value.
    #[test]
    fn an_xclient_attribute_must_fit_a_line_alone() {
        let plain = format!("NAME={}", "h".repeat(255));
        assert!(xclient_attribute(&plain).is_ok());
        let encoded = format!("HELO={}", "+".repeat(200));
        let e = xclient_attribute(&encoded).unwrap_err();
        assert_eq!(
            e,
            XclientError::TooLong {
                name: "HELO".into(),
                len: 8 + 5 + 600 + 2
            }
        );
        let text = e.to_string();
        assert!(
            text.starts_with("HELO: ") && text.contains("at most 512"),
            "{text}"
        );
        assert!(!text.contains("+++"), "{text}");
        // The largest that fits: 8 + 5 + 3 * 165 + 2 = 510; one more '+' is 513.
        assert!(xclient_attribute(&format!("HELO={}", "+".repeat(165))).is_ok());
        assert!(xclient_attribute(&format!("HELO={}h", "+".repeat(166))).is_err());
    }

    #[test]
    fn control_bytes_are_named_with_their_position() {
        let e = mailbox("--to", "postmaster@lab.test>\r\nRSET", false).unwrap_err();
        assert_eq!(e.field, "--to");
        assert_eq!(
            e.problem,
            Problem::Control {
                name: "a CR (\\r)".into(),
                position: 21
            }
        );
        assert!(
            e.to_string()
                .starts_with("--to holds a CR (\\r) at position 21"),
            "{e}"
        );
        for bad in ["a\nb@c", "a\0b@c", "a\x1bb@c", "a\x7f@c"] {
            assert!(mailbox("f", bad, false).is_err(), "{bad:?}");
            assert!(helo("h", bad).is_err(), "{bad:?}");
            assert!(line("l", bad).is_err(), "{bad:?}");
        }
    }

    #[test]
    fn rfc_5321_lengths() {
        let local = "a".repeat(MAX_LOCAL_PART);
        assert!(mailbox("f", &format!("{local}@x.example"), false).is_ok());
        let e = mailbox("f", &format!("{local}a@x.example"), false).unwrap_err();
        assert!(matches!(e.problem, Problem::TooLong { max: 64, .. }), "{e}");
        let long = format!("a@{}", "b".repeat(MAX_MAILBOX));
        assert!(matches!(
            mailbox("f", &long, false).unwrap_err().problem,
            Problem::TooLong { max: 254, .. }
        ));
        assert!(helo("h", &"h".repeat(255)).is_ok());
        assert!(helo("h", &"h".repeat(256)).is_err());
        assert!(line("l", &"x".repeat(511)).is_err());
    }

    #[test]
    fn the_null_sender_only_where_allowed() {
        assert!(mailbox("--from", "", true).is_ok());
        assert_eq!(
            mailbox("--to", "", false).unwrap_err().problem,
            Problem::Empty
        );
        assert!(helo("--helo", "").is_err());
    }
}
