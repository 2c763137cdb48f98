//! The arguments of MAIL FROM and RCPT TO as the lab reads them: the path in angle brackets, then
//! ESMTP parameters, each checked against what the lab advertises: SIZE (RFC 1870), BODY
//! (RFC 6152), SMTPUTF8 (RFC 6531), DSN's RET, ENVID, NOTIFY and ORCPT (RFC 3461), AUTH
//! (RFC 4954). Anything else is refused, as a real server refuses what it did not offer.

/// `FROM:<addr> PARAMS` → (`addr`, `PARAMS`). Angle brackets are required, as RFC 5321 says;
/// `<>` is the null path. A `>` inside a quoted local part does not end the path.
pub(crate) fn path_arg<'a>(arg: &'a str, keyword: &str) -> Option<(String, &'a str)> {
    let rest = arg
        .get(..keyword.len())?
        .eq_ignore_ascii_case(keyword)
        .then(|| &arg[keyword.len()..])?;
    let inner = rest.trim_start().strip_prefix('<')?;
    let mut quoted = false;
    let mut escaped = false;
    for (i, c) in inner.char_indices() {
        match c {
            _ if escaped => escaped = false,
            '\\' if quoted => escaped = true,
            '"' => quoted = !quoted,
            '>' if !quoted => return Some((inner[..i].to_string(), inner[i + 1..].trim())),
            _ => {}
        }
    }
    None
}

/// The SIZE parameter of MAIL FROM.
#[derive(Debug, PartialEq, Eq)]
pub(crate) enum DeclaredSize {
    Absent,
    Bytes(u64),
    /// Not 1 to 20 digits (RFC 1870's `size-value`).
    Malformed,
}

pub(crate) fn declared_size(params: &str) -> DeclaredSize {
    let Some(value) = params.split_ascii_whitespace().find_map(|p| {
        let (key, value) = p.split_once('=').unwrap_or((p, ""));
        key.eq_ignore_ascii_case("SIZE").then_some(value)
    }) else {
        return DeclaredSize::Absent;
    };
    if value.is_empty() || value.len() > 20 || !value.bytes().all(|b| b.is_ascii_digit()) {
        return DeclaredSize::Malformed;
    }
    // Twenty digits can exceed u64; such a size is over any limit anyway.
    DeclaredSize::Bytes(value.parse().unwrap_or(u64::MAX))
}

/// What MAIL FROM's parameters declared, once they are known to be valid.
#[derive(Debug, Default, PartialEq, Eq)]
pub(crate) struct MailDeclared {
    pub smtputf8: bool,
    /// BODY=BINARYMIME: the message may only come by BDAT (RFC 3030 §3).
    pub binary: bool,
}

/// A refusal: the code and its text, in Postfix's words where Postfix has them.
pub(crate) type ParamRefusal = (u16, &'static str);

/// xtext (RFC 3461 §4): printable ASCII except '+' and '=', or "+XX" hex escapes.
fn is_xtext(value: &str) -> bool {
    let b = value.as_bytes();
    let mut i = 0;
    while i < b.len() {
        match b[i] {
            b'+' => {
                let hex = |c: u8| c.is_ascii_digit() || (b'A'..=b'F').contains(&c);
                match (b.get(i + 1), b.get(i + 2)) {
                    (Some(&h), Some(&l)) if hex(h) && hex(l) => i += 3,
                    _ => return false,
                }
            }
            b'!'..=b'~' if b[i] != b'=' => i += 1,
            _ => return false,
        }
    }
    !b.is_empty()
}

fn split_param(p: &str) -> (String, Option<&str>) {
    match p.split_once('=') {
        Some((k, v)) => (k.to_ascii_uppercase(), Some(v)),
        None => (p.to_ascii_uppercase(), None),
    }
}

/// Checks MAIL FROM's parameters against what the lab advertises (SIZE, BODY, SMTPUTF8, DSN's
/// RET and ENVID, AUTH), and that a non-ASCII address came with SMTPUTF8 (RFC 6531 §3.4).
pub(crate) fn mail_params(params: &str, addr: &str) -> Result<MailDeclared, ParamRefusal> {
    const SYNTAX: ParamRefusal = (501, "5.5.4 Syntax error in parameters");
    let mut declared = MailDeclared::default();
    for p in params.split_ascii_whitespace() {
        let (key, value) = split_param(p);
        match (key.as_str(), value) {
            // Checked, with its limits, by declared_size.
            ("SIZE", _) => {}
            ("BODY", Some(v))
                if v.eq_ignore_ascii_case("7BIT") || v.eq_ignore_ascii_case("8BITMIME") => {}
            ("BODY", Some(v)) if v.eq_ignore_ascii_case("BINARYMIME") => declared.binary = true,
            ("BODY", _) => return Err((501, "5.5.4 Bad BODY parameter")),
            ("SMTPUTF8", None) => declared.smtputf8 = true,
            ("RET", Some(v))
                if v.eq_ignore_ascii_case("FULL") || v.eq_ignore_ascii_case("HDRS") => {}
            ("RET", _) => return Err((501, "5.5.4 Bad RET parameter syntax")),
            ("ENVID", Some(v)) if is_xtext(v) && v.len() <= 100 => {}
            ("ENVID", _) => return Err((501, "5.5.4 Bad ENVID parameter syntax")),
            // RFC 4954 §5: the authenticated identity, or <> for none.
            ("AUTH", Some(v)) if v == "<>" || is_xtext(v) => {}
            ("AUTH", _) => return Err(SYNTAX),
            _ => return Err((555, "5.5.4 Unsupported option")),
        }
    }
    if !addr.is_ascii() && !declared.smtputf8 {
        return Err((553, "5.6.7 Must declare SMTPUTF8 to send unicode address"));
    }
    Ok(declared)
}

/// Checks RCPT TO's parameters: DSN's NOTIFY and ORCPT (RFC 3461 §4.1–4.2).
pub(crate) fn rcpt_params(params: &str, addr: &str, smtputf8: bool) -> Result<(), ParamRefusal> {
    for p in params.split_ascii_whitespace() {
        let (key, value) = split_param(p);
        match (key.as_str(), value) {
            ("NOTIFY", Some(v)) => {
                let words: Vec<String> = v.split(',').map(str::to_ascii_uppercase).collect();
                let known = words
                    .iter()
                    .all(|w| matches!(w.as_str(), "NEVER" | "SUCCESS" | "FAILURE" | "DELAY"));
                // NEVER stands alone.
                let never_alone = !words.iter().any(|w| w == "NEVER") || words.len() == 1;
                if !known || !never_alone {
                    return Err((501, "5.5.4 Error: Bad NOTIFY parameter syntax"));
                }
            }
            ("ORCPT", Some(v)) => {
                let ok = v
                    .split_once(';')
                    .is_some_and(|(kind, a)| !kind.is_empty() && is_xtext(a));
                if !ok {
                    return Err((501, "5.5.4 Error: Bad ORCPT parameter syntax"));
                }
            }
            _ => return Err((555, "5.5.4 Unsupported option")),
        }
    }
    if !addr.is_ascii() && !smtputf8 {
        return Err((553, "5.6.7 Must declare SMTPUTF8 to send unicode address"));
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    fn path(arg: &str, keyword: &str) -> Option<String> {
        path_arg(arg, keyword).map(|(p, _)| p)
    }

    #[test]
    fn paths_need_angle_brackets() {
        assert_eq!(path("FROM:<a@b>", "FROM:"), Some("a@b".into()));
        assert_eq!(path("from: <a@b> SIZE=10", "FROM:"), Some("a@b".into()));
        assert_eq!(path("FROM:<>", "FROM:"), Some(String::new()));
        assert_eq!(
            path("TO:<\"x@y\"@[1.2.3.4]>", "TO:"),
            Some("\"x@y\"@[1.2.3.4]".into())
        );
        assert_eq!(path("TO:<\"a>b\"@c>", "TO:"), Some("\"a>b\"@c".into()));
        assert_eq!(path("FROM:a@b", "FROM:"), None);
        assert_eq!(path("TO:<a@b>", "FROM:"), None);
        assert_eq!(path("FROM:<a@b", "FROM:"), None);
    }

    #[test]
    fn parameters_follow_the_path() {
        assert_eq!(
            path_arg("FROM:<a@b> SIZE=10 BODY=8BITMIME", "FROM:"),
            Some(("a@b".into(), "SIZE=10 BODY=8BITMIME"))
        );
        assert_eq!(declared_size("BODY=8BITMIME"), DeclaredSize::Absent);
        assert_eq!(
            declared_size("size=50000000"),
            DeclaredSize::Bytes(50_000_000)
        );
        assert_eq!(declared_size("SIZE=abc"), DeclaredSize::Malformed);
        assert_eq!(declared_size("SIZE="), DeclaredSize::Malformed);
        assert_eq!(declared_size("SIZE"), DeclaredSize::Malformed);
        assert_eq!(declared_size("SIZE=-1"), DeclaredSize::Malformed);
        assert_eq!(
            declared_size("SIZE=99999999999999999999"),
            DeclaredSize::Bytes(u64::MAX)
        );
        assert_eq!(
            declared_size("SIZE=999999999999999999999"),
            DeclaredSize::Malformed
        );
    }

    #[test]
    fn mail_parameters_are_checked_against_what_is_offered() {
        assert_eq!(mail_params("", "a@b"), Ok(MailDeclared::default()));
        assert_eq!(
            mail_params("SIZE=10 BODY=8BITMIME RET=HDRS ENVID=ab+2Bc AUTH=<>", "a@b"),
            Ok(MailDeclared::default())
        );
        assert_eq!(
            mail_params("SMTPUTF8", "jürgen@b"),
            Ok(MailDeclared {
                smtputf8: true,
                ..MailDeclared::default()
            })
        );
        assert_eq!(
            mail_params("BODY=BINARYMIME", "a@b"),
            Ok(MailDeclared {
                binary: true,
                ..MailDeclared::default()
            })
        );
        assert_eq!(
            mail_params("", "jürgen@b").map_err(|e| e.0),
            Err(553),
            "a unicode address needs SMTPUTF8"
        );
        for bad in ["RET=ALL", "ENVID=a=b", "ENVID=+4", "ENVID=", "BODY=9BIT"] {
            assert_eq!(mail_params(bad, "a@b").map_err(|e| e.0), Err(501), "{bad}");
        }
        // Not offered: REQUIRETLS, MT-PRIORITY, anything made up.
        for unknown in ["REQUIRETLS", "MT-PRIORITY=3", "X-FOO=1"] {
            assert_eq!(
                mail_params(unknown, "a@b").map_err(|e| e.0),
                Err(555),
                "{unknown}"
            );
        }
    }

    #[test]
    fn rcpt_parameters_are_dsn_only() {
        assert_eq!(
            rcpt_params("NOTIFY=SUCCESS,FAILURE ORCPT=rfc822;a+40b", "a@b", false),
            Ok(())
        );
        assert_eq!(rcpt_params("notify=never", "a@b", false), Ok(()));
        for bad in [
            "NOTIFY=NEVER,SUCCESS",
            "NOTIFY=SOMETIMES",
            "ORCPT=a@b",
            "ORCPT=;x",
        ] {
            assert_eq!(
                rcpt_params(bad, "a@b", false).map_err(|e| e.0),
                Err(501),
                "{bad}"
            );
        }
        assert_eq!(rcpt_params("X=1", "a@b", false).map_err(|e| e.0), Err(555));
        assert_eq!(rcpt_params("", "ü@b", false).map_err(|e| e.0), Err(553));
        assert_eq!(rcpt_params("", "ü@b", true), Ok(()));
    }
}
