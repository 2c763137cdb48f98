//! An ESMTP parameter of MAIL FROM or RCPT TO given by the operator (`--mail-param`), parsed to
//! RFC 5321 §4.1.2's grammar before it is sent, so one flag is one parameter:
//!
//! ```text
//! esmtp-param   = esmtp-keyword ["=" esmtp-value]
//! esmtp-keyword = (ALPHA / DIGIT) *(ALPHA / DIGIT / "-")
//! esmtp-value   = 1*(%d33-60 / %d62-126)   ; printable ASCII but "=" and SP
//! ```
//!
//! RFC 6531 §3.3 adds UTF-8 beyond ASCII to esmtp-value in an SMTPUTF8 transaction only.

use super::{FieldError, MAX_COMMAND_LINE, Problem, at_most, field, no_control};

/// `value` as one ESMTP parameter; `name` is the setting it came from, `utf8` whether the
/// transaction declares SMTPUTF8 (and so may carry UTF-8 in a value).
pub fn esmtp_param(name: &str, value: &str, utf8: bool) -> Result<(), FieldError> {
    field(name, check(name, value, utf8))
}

fn check(name: &str, value: &str, utf8: bool) -> Result<(), Problem> {
    no_control(value)?;
    at_most(value, MAX_COMMAND_LINE - 2, "a command line")?;
    let bad = |why: String| Problem::NotParameter {
        value: value.to_string(),
        why,
    };
    if value.is_empty() {
        return Err(bad("it is empty; give KEYWORD or KEYWORD=VALUE".into()));
    }
    // Said first and in these words: a space is how two parameters end up in one flag.
    if value.contains(' ') {
        return Err(bad(format!(
            "it holds a space; give one parameter per {name} (repeat it for another)"
        )));
    }
    let (keyword, given_value) = match value.split_once('=') {
        Some((k, v)) => (k, Some(v)),
        None => (value, None),
    };
    let mut chars = keyword.chars();
    match chars.next() {
        None => return Err(bad("there is no keyword before '='".into())),
        Some(c) if !c.is_ascii_alphanumeric() => {
            return Err(bad(format!(
                "the keyword must start with an ASCII letter or digit, not {c:?}"
            )));
        }
        Some(_) => {}
    }
    if let Some(c) = chars.find(|c| !(c.is_ascii_alphanumeric() || *c == '-')) {
        return Err(bad(format!(
            "{c:?} is not allowed in a keyword (ASCII letters, digits and '-')"
        )));
    }
    let Some(v) = given_value else {
        return Ok(());
    };
    if v.is_empty() {
        return Err(bad(
            "there is no value after '='; give KEYWORD alone or KEYWORD=VALUE".into(),
        ));
    }
    if v.contains('=') {
        return Err(bad(
            "'=' is not allowed in a value (RFC 5321 §4.1.2); xtext writes it +3D".into(),
        ));
    }
    if !utf8 && let Some(c) = v.chars().find(|c| !c.is_ascii()) {
        return Err(bad(format!(
            "{c:?} is not ASCII; only an SMTPUTF8 transaction may carry UTF-8 in a value (RFC 6531 §3.3)"
        )));
    }
    Ok(())
}

/// True for `BODY=BINARYMIME` (either case): a message declared so can only go by BDAT
/// (RFC 3030 §3), never DATA.
pub fn declares_binarymime(param: &str) -> bool {
    param.split_once('=').is_some_and(|(k, v)| {
        k.eq_ignore_ascii_case("BODY") && v.eq_ignore_ascii_case("BINARYMIME")
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    fn why(value: &str) -> String {
        esmtp_param("--mail-param", value, false)
            .expect_err(value)
            .to_string()
    }

    #[test]
    fn keywords_and_values_of_rfc_5321() {
        for ok in [
            "SMTPUTF8",
            "X-PRIORITY=3",
            "MT-PRIORITY=-3",
            "ENVID=QQ314159",
            "AUTH=<>",
            "ORCPT=rfc822;a+40b.example",
            "0X=~!",
        ] {
            assert_eq!(esmtp_param("--mail-param", ok, false), Ok(()), "{ok}");
        }
    }

    #[test]
    fn each_malformed_parameter_says_why_and_names_the_flag() {
        for (bad, says) in [
            ("", "it is empty"),
            ("X=1 AUTH=<>", "one parameter per --mail-param"),
            (" X=1", "one parameter per --mail-param"),
            ("=foo", "no keyword before '='"),
            ("X==1", "'=' is not allowed in a value"),
            ("X=1=2", "'=' is not allowed in a value"),
            ("X=", "no value after '='"),
            ("-X=1", "must start with an ASCII letter or digit"),
            ("X_Y=1", "'_' is not allowed in a keyword"),
            ("PRIORITÄT=1", "'Ä' is not allowed in a keyword"),
            ("X=grüße", "'ü' is not ASCII"),
        ] {
            let e = why(bad);
            assert!(e.starts_with("--mail-param "), "{bad:?}: {e}");
            assert!(e.contains(says), "{bad:?}: {e}");
        }
        let e = esmtp_param("--rcpt-param", "A=1 B=2", false).unwrap_err();
        assert!(
            e.to_string().contains("one parameter per --rcpt-param"),
            "{e}"
        );
    }

    #[test]
    fn control_bytes_and_length_are_refused_as_for_any_line() {
        let e = esmtp_param("--mail-param", "X=1\r\nRSET", false).unwrap_err();
        assert!(
            matches!(e.problem, Problem::Control { position: 4, .. }),
            "{e}"
        );
        let long = format!("X={}", "v".repeat(509));
        assert!(matches!(
            esmtp_param("--mail-param", &long, false)
                .unwrap_err()
                .problem,
            Problem::TooLong { max: 510, .. }
        ));
    }

    #[test]
    fn utf8_values_only_with_smtputf8() {
        assert!(esmtp_param("--mail-param", "X=grüße", true).is_ok());
        assert!(esmtp_param("--mail-param", "GRÜSSE=1", true).is_err());
    }

    #[test]
    fn binarymime_is_recognised_in_any_case() {
        assert!(declares_binarymime("BODY=BINARYMIME"));
        assert!(declares_binarymime("body=binarymime"));
        assert!(!declares_binarymime("BODY=8BITMIME"));
        assert!(!declares_binarymime("XBODY=BINARYMIME"));
        assert!(!declares_binarymime("BODY"));
    }
}
