//! The arguments of MAIL FROM and RCPT TO as the lab reads them: the path in angle brackets, then
//! ESMTP parameters, of which SIZE (RFC 1870) is checked.

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
}
