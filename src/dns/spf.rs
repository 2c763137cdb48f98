//! SPF records (RFC 7208): selection among a domain's TXT strings (§4.5) and parsing of the
//! record's terms (§4.6, grammar in §12), with macros (§7) validated but kept as text.
//!
//! Pure parsers: the caller fetches the TXT strings (joining each record's character-strings
//! without spaces, RFC 7208 §3.3) and follows `include`/`redirect` itself (`spf_eval`).
//!
//! Why hand-written, and not `mail-auth` or `viaspf` (decided for issue #31, 2026-12): both
//! implement `check_host()` for one sender address, which stops at the first matching term and
//! returns a result, not the record and term where an error happened; a posture check needs the
//! path of an address that matches nothing, and the place of the error, to say what to fix.
//! `mail-auth` 0.15 also does not enforce the 2-void-lookup limit, ends an evaluation on a
//! 20-second wall clock, and by default brings aws-lc-rs (we build TLS on ring) and its own
//! resolver set-up beside ours; `viaspf` 0.7 is GPL-3.0-or-later (this crate is MIT OR
//! Apache-2.0), an alpha, and on hickory-resolver 0.24. The parser and the evaluator are checked
//! against pyspf's `check_host` in tests/dns_posture.rs instead.

use std::net::{Ipv4Addr, Ipv6Addr};

/// Why an SPF record is not usable: several at one name, no `v=spf1`, or a bad term.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum SpfError {
    #[error(
        "{count} SPF records (v=spf1) found; more than one is a permerror (RFC 7208 §4.5), so SPF fails for every message"
    )]
    SeveralRecords { count: usize },
    #[error("the record does not start with 'v=spf1' (RFC 7208 §4.5)")]
    NotSpf,
    /// `position` counts terms from 1 after `v=spf1`; `term` is the term as written.
    #[error("term {position} '{term}' {problem}")]
    Term {
        position: usize,
        term: String,
        problem: TermError,
    },
}

/// What is wrong with one SPF term. The messages read on from the term they follow, as in
/// `term 3 'ip4:' has no address`. `domain` and `macro_text` fields hold the offending part of
/// the term, as written.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum TermError {
    #[error("is a modifier, and modifiers take no qualifier")]
    QualifiedModifier,
    #[error("takes no argument: 'all' matches every sender")]
    AllTakesNoArgument,
    #[error(
        "is not a known mechanism (all, include, a, mx, ptr, ip4, ip6, exists) or a name=value modifier"
    )]
    UnknownMechanism,
    #[error("is not a known mechanism, and not a modifier: the name before '=' is not valid")]
    BadModifierName,
    /// `redirect=` or `exp=` with nothing after the `=`.
    #[error("has no domain after '='")]
    NoModifierTarget,
    /// RFC 7208 §6 allows `redirect` and `exp` once each.
    #[error("repeats the {modifier} modifier (RFC 7208 §6 allows one)")]
    RepeatedModifier { modifier: &'static str },
    /// A `v=` modifier: most likely two records joined into one.
    #[error("repeats the version: two SPF records run together?")]
    RepeatedVersion,
    #[error("has no domain")]
    NoDomain,
    #[error("has no domain, and takes no prefix length")]
    NoDomainAndPrefix,
    #[error("has no domain after ':'")]
    NoDomainAfterColon,
    #[error("takes no prefix length")]
    PrefixNotAllowed,
    /// An `a` or `mx` dual CIDR suffix (`/24`, `//64`, `/24//64`), as written.
    #[error("has an invalid prefix length '{cidr}' (/0-32 for IPv4, //0-128 for IPv6)")]
    BadDualCidr { cidr: String },
    #[error("has no address")]
    NoAddress,
    /// `family` is 4 or 6.
    #[error("has an invalid IPv{family} address '{address}'")]
    BadAddress { family: u8, address: String },
    /// An `ip4`/`ip6` prefix length after the `/`, and the most the family allows.
    #[error("has an invalid prefix length '/{prefix}' (0-{max})")]
    BadPrefix { prefix: String, max: u8 },
    #[error(
        "has domain '{domain}', which is not a fully qualified name (RFC 7208 §7.1 needs a dot and a top label)"
    )]
    NotFullyQualified { domain: String },
    #[error(
        "has domain '{domain}', whose last label '{label}' is not a valid top label (RFC 7208 §7.1)"
    )]
    BadTopLabel { domain: String, label: String },
    /// `character` is the first one outside visible ASCII.
    #[error("has a space, control or non-ASCII character")]
    BadCharacter { character: char },
    /// A `%` that starts no macro; `rest` is the text from that `%` on.
    #[error("has a bad macro at '{rest}': a literal '%' is written '%%'")]
    LonePercent { rest: String },
    #[error("has an unclosed macro '{rest}'")]
    UnclosedMacro { rest: String },
    #[error("has an empty macro '{macro_text}'")]
    EmptyMacro { macro_text: String },
    /// `%{c}`, `%{r}` and `%{t}` are for `exp=` text, not for the record.
    #[error("uses macro '{macro_text}', which is allowed only in explanation text (RFC 7208 §7.1)")]
    ExplanationOnlyMacro { macro_text: String },
    #[error("has an unknown macro letter in '{macro_text}' (RFC 7208 §7.1)")]
    UnknownMacroLetter { macro_text: String },
    #[error("has macro '{macro_text}' keeping zero labels (RFC 7208 §7.3)")]
    ZeroLabelMacro { macro_text: String },
    #[error("has a malformed macro '{macro_text}' (RFC 7208 §7.1)")]
    MalformedMacro { macro_text: String },
}

/// The result a directive gives when its mechanism matches (RFC 7208 §4.6.2).
#[derive(Debug, Clone, PartialEq, Eq, serde::Serialize)]
pub enum Qualifier {
    /// `+`, the default when no qualifier is written.
    Pass,
    /// `-`
    Fail,
    /// `~`
    SoftFail,
    /// `?`
    Neutral,
}

/// A mechanism (RFC 7208 §5). Arguments are kept as written, after the `:`, including macros and
/// any CIDR suffix: `a:mail.example.com/24` is `A(Some("mail.example.com/24"))` and `mx/24` is
/// `Mx(Some("/24"))`.
#[derive(Debug, Clone, PartialEq, Eq, serde::Serialize)]
pub enum Mechanism {
    All,
    Include(String),
    A(Option<String>),
    Mx(Option<String>),
    Ptr(Option<String>),
    Ip4(String),
    Ip6(String),
    Exists(String),
}

/// A directive: qualifier plus mechanism.
#[derive(Debug, Clone, PartialEq, Eq, serde::Serialize)]
pub struct Term {
    pub qualifier: Qualifier,
    pub mechanism: Mechanism,
}

/// A parsed SPF record.
#[derive(Debug, Clone, PartialEq, Eq, serde::Serialize)]
pub struct SpfRecord {
    /// The directives, in record order.
    pub terms: Vec<Term>,
    /// `redirect=` target as written.
    pub redirect: Option<String>,
    /// `exp=` target as written.
    pub exp: Option<String>,
    /// Unrecognised `name=value` modifiers, whole and as written; RFC 7208 §6 has evaluators
    /// ignore them, but they must still be well-formed.
    pub unknown_modifiers: Vec<String>,
}

impl SpfRecord {
    /// The directives an evaluator can reach: RFC 7208 §5.1 says those after the first `all`
    /// are never tested, because `all` always matches.
    fn reachable_terms(&self) -> &[Term] {
        match self
            .terms
            .iter()
            .position(|t| t.mechanism == Mechanism::All)
        {
            Some(i) => self.terms.get(..=i).unwrap_or(&self.terms),
            None => &self.terms,
        }
    }

    /// The redirect that evaluation would follow: RFC 7208 §6.1 ignores `redirect=` when the
    /// record has an `all` mechanism.
    fn effective_redirect(&self) -> Option<&String> {
        self.redirect
            .as_ref()
            .filter(|_| self.all_qualifier().is_none())
    }

    /// The final disposition for unmatched senders: the `all` term's qualifier, or None if no
    /// `all` (then a redirect may decide). With several `all` terms only the first counts.
    pub fn all_qualifier(&self) -> Option<Qualifier> {
        self.terms
            .iter()
            .find(|t| t.mechanism == Mechanism::All)
            .map(|t| t.qualifier.clone())
    }

    /// Terms that cost a DNS lookup (include, a, mx, ptr, exists, and the redirect modifier):
    /// RFC 7208 §4.6.4 limit of 10, counted recursively by the caller.
    ///
    /// Counts only what evaluation can reach: not directives after the first `all` (§5.1) nor a
    /// redirect that an `all` makes ignored (§6.1). `ip4`, `ip6`, `all` and `exp=` cost nothing.
    pub fn lookup_terms(&self) -> usize {
        let mechanisms = self
            .reachable_terms()
            .iter()
            .filter(|t| {
                matches!(
                    t.mechanism,
                    Mechanism::Include(_)
                        | Mechanism::A(_)
                        | Mechanism::Mx(_)
                        | Mechanism::Ptr(_)
                        | Mechanism::Exists(_)
                )
            })
            .count();
        mechanisms + usize::from(self.effective_redirect().is_some())
    }

    /// Include targets, then the redirect target, in record order: the other records whose
    /// lookups count towards this one's limit. Like `lookup_terms`, leaves out includes after
    /// the first `all` and a redirect that an `all` overrides. Targets may contain macros.
    pub fn includes(&self) -> Vec<String> {
        let mut out: Vec<String> = self
            .reachable_terms()
            .iter()
            .filter_map(|t| match &t.mechanism {
                Mechanism::Include(target) => Some(target.clone()),
                _ => None,
            })
            .collect();
        out.extend(self.effective_redirect().cloned());
        out
    }
}

/// True when `txt` is an SPF record: RFC 7208 §4.5 keeps records that begin with exactly
/// `v=spf1` (case-insensitive, as ABNF quoted strings are), ended by a space or the record's end.
/// No leading whitespace is allowed, and `v=spf10` is not SPF.
pub fn is_spf(txt: &str) -> bool {
    let bytes = txt.as_bytes();
    bytes
        .get(..6)
        .is_some_and(|v| v.eq_ignore_ascii_case(b"v=spf1"))
        && matches!(bytes.get(6), None | Some(b' '))
}

/// Picks SPF records among a domain's TXT strings: RFC 7208 §4.5 — more than one is a permerror.
pub fn select(txts: &[String]) -> Result<Option<String>, SpfError> {
    let found: Vec<&String> = txts.iter().filter(|t| is_spf(t)).collect();
    match found.as_slice() {
        [] => Ok(None),
        [one] => Ok(Some((*one).clone())),
        many => Err(SpfError::SeveralRecords { count: many.len() }),
    }
}

/// Parses an SPF record. Terms are numbered from 1 after `v=spf1`, and an error names the bad
/// term and its position: `term 3 'ip4:' has no address`.
///
/// RFC 7208 §12 separates terms with single spaces (`1*SP`); we accept any run of spaces and
/// tabs, since real records carry doubled spaces and evaluators tolerate them.
pub fn parse(txt: &str) -> Result<SpfRecord, SpfError> {
    if !is_spf(txt) {
        return Err(SpfError::NotSpf);
    }
    let mut record = SpfRecord {
        terms: Vec::new(),
        redirect: None,
        exp: None,
        unknown_modifiers: Vec::new(),
    };
    let body = txt.get(6..).unwrap_or_default();
    for (i, token) in body
        .split([' ', '\t'])
        .filter(|t| !t.is_empty())
        .enumerate()
    {
        let bad_term = |problem| SpfError::Term {
            position: i + 1,
            term: token.to_string(),
            problem,
        };
        match parse_term(token).map_err(bad_term)? {
            Parsed::Directive(term) => record.terms.push(term),
            Parsed::Redirect(target) => {
                // RFC 7208 §6: redirect and exp each appear at most once, else permerror.
                if record.redirect.replace(target).is_some() {
                    return Err(bad_term(TermError::RepeatedModifier {
                        modifier: "redirect",
                    }));
                }
            }
            Parsed::Exp(target) => {
                if record.exp.replace(target).is_some() {
                    return Err(bad_term(TermError::RepeatedModifier { modifier: "exp" }));
                }
            }
            Parsed::Unknown => record.unknown_modifiers.push(token.to_string()),
        }
    }
    Ok(record)
}

enum Parsed {
    Directive(Term),
    Redirect(String),
    Exp(String),
    Unknown,
}

/// One term; the error is the reason only, `parse` adds the position and text.
fn parse_term(token: &str) -> Result<Parsed, TermError> {
    let (qualifier, explicit, body) = match token.chars().next() {
        Some('+') => (Qualifier::Pass, true, &token[1..]),
        Some('-') => (Qualifier::Fail, true, &token[1..]),
        Some('~') => (Qualifier::SoftFail, true, &token[1..]),
        Some('?') => (Qualifier::Neutral, true, &token[1..]),
        _ => (Qualifier::Pass, false, token),
    };
    // A mechanism name ends at ':' or '/'; a modifier's at '='. Whichever comes first decides
    // (RFC 7208 §12: `directive / modifier`), so `include:x=y` is a mechanism with a '=' in its
    // domain-spec and `foo=bar:baz` is a modifier.
    let split = body.find([':', '/', '=']);
    if let Some(eq) = split.filter(|&i| body[i..].starts_with('=')) {
        let (name, value) = (&body[..eq], &body[eq + 1..]);
        if explicit {
            return Err(TermError::QualifiedModifier);
        }
        return parse_modifier(name, value);
    }
    let (name, arg) = body.split_at(split.unwrap_or(body.len()));
    let mechanism = match name.to_ascii_lowercase().as_str() {
        "all" if arg.is_empty() => Mechanism::All,
        "all" => return Err(TermError::AllTakesNoArgument),
        "include" => Mechanism::Include(required_domain(arg)?),
        "exists" => Mechanism::Exists(required_domain(arg)?),
        "a" => Mechanism::A(optional_domain_with_cidr(arg)?),
        "mx" => Mechanism::Mx(optional_domain_with_cidr(arg)?),
        "ptr" => Mechanism::Ptr(match arg.strip_prefix(':') {
            None if arg.is_empty() => None,
            None => return Err(TermError::PrefixNotAllowed),
            Some(domain) => Some(check_plain_domain(domain)?),
        }),
        "ip4" => Mechanism::Ip4(ip_network(arg, 4)?),
        "ip6" => Mechanism::Ip6(ip_network(arg, 6)?),
        _ => return Err(TermError::UnknownMechanism),
    };
    Ok(Parsed::Directive(Term {
        qualifier,
        mechanism,
    }))
}

/// `redirect=`, `exp=` or an unknown modifier (RFC 7208 §6; names are case-insensitive, §4.6.1).
fn parse_modifier(name: &str, value: &str) -> Result<Parsed, TermError> {
    // RFC 7208 §12: name = ALPHA *( ALPHA / DIGIT / "-" / "_" / "." )
    let valid_name = name.chars().next().is_some_and(|c| c.is_ascii_alphabetic())
        && name
            .chars()
            .all(|c| c.is_ascii_alphanumeric() || matches!(c, '-' | '_' | '.'));
    if !valid_name {
        return Err(TermError::BadModifierName);
    }
    match name.to_ascii_lowercase().as_str() {
        "redirect" | "exp" if value.is_empty() => Err(TermError::NoModifierTarget),
        "redirect" => check_domain_spec(value).map(|()| Parsed::Redirect(value.to_string())),
        "exp" => check_domain_spec(value).map(|()| Parsed::Exp(value.to_string())),
        // Grammatically an unknown modifier, but in practice a second record run into the first
        // (two TXT records joined, or a copy-paste); evaluators would silently use only the
        // first part, so it is worth failing loudly.
        "v" => Err(TermError::RepeatedVersion),
        _ => check_macro_string(value).map(|_| Parsed::Unknown),
    }
}

/// `include:` and `exists:` need a domain-spec and take no CIDR suffix.
fn required_domain(arg: &str) -> Result<String, TermError> {
    match arg.strip_prefix(':') {
        Some("") | None if !arg.starts_with('/') => Err(TermError::NoDomain),
        None => Err(TermError::NoDomainAndPrefix),
        Some(domain) => check_plain_domain(domain),
    }
}

/// A domain-spec where no CIDR suffix is allowed; a '/' gets a clearer message than the
/// domain-end check would give.
fn check_plain_domain(domain: &str) -> Result<String, TermError> {
    if domain.is_empty() {
        return Err(TermError::NoDomainAfterColon);
    }
    if domain.contains('/') {
        return Err(TermError::PrefixNotAllowed);
    }
    check_domain_spec(domain)?;
    Ok(domain.to_string())
}

/// `a` and `mx`: `[ ":" domain-spec ] [ dual-cidr-length ]` (RFC 7208 §5.3, §5.4). Returns the
/// argument as written, without the ':'.
fn optional_domain_with_cidr(arg: &str) -> Result<Option<String>, TermError> {
    if arg.is_empty() {
        return Ok(None);
    }
    let written = arg.strip_prefix(':').unwrap_or(arg);
    // Domain names hold no '/', so the first one starts the CIDR suffix.
    let (domain, cidr) = written.split_at(written.find('/').unwrap_or(written.len()));
    if arg.starts_with(':') {
        if domain.is_empty() {
            return Err(TermError::NoDomainAfterColon);
        }
        check_domain_spec(domain)?;
    }
    if !cidr.is_empty() {
        check_dual_cidr(cidr)?;
    }
    Ok(Some(written.to_string()))
}

/// `dual-cidr-length = [ ip4-cidr-length ] [ "/" ip6-cidr-length ]`, i.e. `/24`, `//64` or
/// `/24//64` (RFC 7208 §5.6).
fn check_dual_cidr(cidr: &str) -> Result<(), TermError> {
    let bad = || {
        Err(TermError::BadDualCidr {
            cidr: cidr.to_string(),
        })
    };
    let (v4, v6) = match cidr.strip_prefix("//") {
        Some(v6) => (None, Some(v6)),
        None => match cidr.strip_prefix('/').map(|rest| rest.split_once("//")) {
            Some(Some((v4, v6))) => (Some(v4), Some(v6)),
            Some(None) => (cidr.strip_prefix('/'), None),
            None => return bad(),
        },
    };
    if v4.is_some_and(|n| prefix_len(n, 32).is_none())
        || v6.is_some_and(|n| prefix_len(n, 128).is_none())
    {
        return bad();
    }
    Ok(())
}

/// A prefix length: `"0" / %x31-39 *DIGIT` up to `max` (RFC 7208 §12 forbids leading zeros).
fn prefix_len(text: &str, max: u8) -> Option<u8> {
    if text.is_empty()
        || !text.bytes().all(|b| b.is_ascii_digit())
        || (text.len() > 1 && text.starts_with('0'))
    {
        return None;
    }
    text.parse::<u8>().ok().filter(|&n| n <= max)
}

/// `ip4:` / `ip6:` with an address and an optional single CIDR suffix (RFC 7208 §5.6). The
/// address must be literal: macros are not allowed here.
fn ip_network(arg: &str, family: u8) -> Result<String, TermError> {
    let written = match arg.strip_prefix(':') {
        Some(w) if !w.is_empty() => w,
        _ => return Err(TermError::NoAddress),
    };
    let (addr, cidr) = match written.split_once('/') {
        Some((addr, cidr)) => (addr, Some(cidr)),
        None => (written, None),
    };
    let (addr_ok, max) = if family == 4 {
        (addr.parse::<Ipv4Addr>().is_ok(), 32)
    } else {
        (addr.parse::<Ipv6Addr>().is_ok(), 128)
    };
    if !addr_ok {
        return Err(TermError::BadAddress {
            family,
            address: addr.to_string(),
        });
    }
    if let Some(cidr) = cidr.filter(|c| prefix_len(c, max).is_none()) {
        return Err(TermError::BadPrefix {
            prefix: cidr.to_string(),
            max,
        });
    }
    Ok(written.to_string())
}

/// `domain-spec = macro-string domain-end` with
/// `domain-end = ( "." toplabel [ "." ] ) / macro-expand` (RFC 7208 §7.1): valid macros, and
/// either a macro at the end or at least two labels with a real top label — so `a:localhost`
/// and `include:1.2.3.4` are errors, as RFC 7208 makes them.
fn check_domain_spec(spec: &str) -> Result<(), TermError> {
    if check_macro_string(spec)? {
        return Ok(());
    }
    let trimmed = spec.strip_suffix('.').unwrap_or(spec);
    let top = match trimmed.rsplit_once('.') {
        Some((_, top)) => top,
        None => {
            return Err(TermError::NotFullyQualified {
                domain: spec.to_string(),
            });
        }
    };
    // toplabel = ( *alphanum ALPHA *alphanum ) / ( 1*alphanum "-" *( alphanum / "-" ) alphanum )
    let toplabel_ok = !top.is_empty()
        && top.chars().all(|c| c.is_ascii_alphanumeric() || c == '-')
        && !top.starts_with('-')
        && !top.ends_with('-')
        && top.chars().any(|c| c.is_ascii_alphabetic() || c == '-');
    if !toplabel_ok {
        return Err(TermError::BadTopLabel {
            domain: spec.to_string(),
            label: top.to_string(),
        });
    }
    Ok(())
}

/// Validates a macro-string (RFC 7208 §7.1): visible ASCII, with `%` only in `%%`, `%_`, `%-`
/// or `%{` letter [digits] [r] *delimiter `}`. Letters c, r and t are for explanation text only,
/// not for the record. Returns whether the string ends with a macro (a valid domain-end).
fn check_macro_string(s: &str) -> Result<bool, TermError> {
    let bytes = s.as_bytes();
    let mut i = 0;
    let mut ends_with_macro = false;
    while let Some(&c) = bytes.get(i) {
        if !(0x21..=0x7e).contains(&c) {
            // Every byte before `i` was visible ASCII, so `i` is on a character boundary.
            let character = s.get(i..).and_then(|rest| rest.chars().next());
            return Err(TermError::BadCharacter {
                character: character.unwrap_or(char::REPLACEMENT_CHARACTER),
            });
        }
        if c != b'%' {
            ends_with_macro = false;
            i += 1;
            continue;
        }
        match bytes.get(i + 1) {
            Some(b'%' | b'_' | b'-') => i += 2,
            Some(b'{') => i = macro_end(s, i)?,
            _ => {
                return Err(TermError::LonePercent {
                    rest: s[i..].to_string(),
                });
            }
        }
        ends_with_macro = true;
    }
    Ok(ends_with_macro)
}

/// Checks the `%{...}` starting at `start` and returns the index just past its `}`.
fn macro_end(s: &str, start: usize) -> Result<usize, TermError> {
    let bytes = s.as_bytes();
    let close = s[start..].find('}').map(|off| start + off);
    let Some(close) = close else {
        return Err(TermError::UnclosedMacro {
            rest: s[start..].to_string(),
        });
    };
    let macro_text = s[start..=close].to_string();
    let inner = &bytes[start + 2..close];
    let Some((&letter, rest)) = inner.split_first() else {
        return Err(TermError::EmptyMacro { macro_text });
    };
    match letter.to_ascii_lowercase() {
        b's' | b'l' | b'o' | b'd' | b'i' | b'p' | b'h' | b'v' => {}
        b'c' | b'r' | b't' => return Err(TermError::ExplanationOnlyMacro { macro_text }),
        _ => return Err(TermError::UnknownMacroLetter { macro_text }),
    }
    // transformers = *DIGIT [ "r" ], then *delimiter.
    let digits = rest.iter().take_while(|b| b.is_ascii_digit()).count();
    let (number, rest) = rest.split_at(digits);
    if !number.is_empty() && number.iter().all(|&b| b == b'0') {
        // RFC 7208 §7.3: the number of labels to keep must be nonzero.
        return Err(TermError::ZeroLabelMacro { macro_text });
    }
    let rest = match rest.split_first() {
        Some((b'r' | b'R', tail)) => tail,
        _ => rest,
    };
    if !rest.iter().all(|b| b".-+,/_=".contains(b)) {
        return Err(TermError::MalformedMacro { macro_text });
    }
    Ok(close + 1)
}

#[cfg(test)]
mod tests {
    use super::*;
    use proptest::prelude::*;

    fn strings(v: &[&str]) -> Vec<String> {
        v.iter().map(|s| s.to_string()).collect()
    }

    fn term(qualifier: Qualifier, mechanism: Mechanism) -> Term {
        Term {
            qualifier,
            mechanism,
        }
    }

    fn some(s: &str) -> Option<String> {
        Some(s.to_string())
    }

    // ---- is_spf / select ----

    #[test]
    fn is_spf_cases() {
        assert!(is_spf("v=spf1"));
        assert!(is_spf("v=spf1 -all"));
        assert!(is_spf("V=SPF1 -all"));
        assert!(!is_spf("v=spf10 -all"));
        assert!(!is_spf("v=spf1-all"));
        assert!(!is_spf(" v=spf1 -all"));
        assert!(!is_spf("v=spf1\t-all"));
        assert!(!is_spf("spf1 -all"));
        assert!(!is_spf("v=spf"));
        assert!(!is_spf(""));
        assert!(!is_spf("v=DMARC1; p=none"));
        assert!(!is_spf("v=spé1"));
    }

    #[test]
    fn select_cases() {
        assert_eq!(select(&[]).unwrap(), None);
        assert_eq!(
            select(&strings(&["google-site-verification=abc", "v=spf10 a"])).unwrap(),
            None
        );
        assert_eq!(
            select(&strings(&[
                "google-site-verification=abc",
                "v=spf1 mx -all"
            ]))
            .unwrap(),
            Some("v=spf1 mx -all".to_string())
        );
        let e = select(&strings(&["v=spf1 mx -all", "x", "v=spf1 a ~all"]))
            .unwrap_err()
            .to_string();
        assert!(e.starts_with("2 SPF records (v=spf1) found"), "{e}");
        assert!(e.contains("RFC 7208 §4.5"), "{e}");
    }

    // ---- parse: good records ----

    #[test]
    fn empty_record() {
        let r = parse("v=spf1").unwrap();
        assert_eq!(
            r,
            SpfRecord {
                terms: vec![],
                redirect: None,
                exp: None,
                unknown_modifiers: vec![]
            }
        );
        assert_eq!(r.all_qualifier(), None);
        assert_eq!(r.lookup_terms(), 0);
        assert_eq!(parse("v=spf1   ").unwrap().terms, vec![]);
    }

    #[test]
    fn typical_record() {
        let r = parse("v=spf1 ip4:192.0.2.0/24 ip6:2001:db8::/32 mx include:_spf.example.net -all")
            .unwrap();
        assert_eq!(
            r.terms,
            vec![
                term(Qualifier::Pass, Mechanism::Ip4("192.0.2.0/24".into())),
                term(Qualifier::Pass, Mechanism::Ip6("2001:db8::/32".into())),
                term(Qualifier::Pass, Mechanism::Mx(None)),
                term(
                    Qualifier::Pass,
                    Mechanism::Include("_spf.example.net".into())
                ),
                term(Qualifier::Fail, Mechanism::All),
            ]
        );
        assert_eq!(r.all_qualifier(), Some(Qualifier::Fail));
        assert_eq!(r.lookup_terms(), 2);
        assert_eq!(r.includes(), vec!["_spf.example.net".to_string()]);
    }

    #[test]
    fn every_qualifier() {
        let r = parse("v=spf1 +a -a ~a ?a a").unwrap();
        let qs: Vec<Qualifier> = r.terms.into_iter().map(|t| t.qualifier).collect();
        assert_eq!(
            qs,
            [
                Qualifier::Pass,
                Qualifier::Fail,
                Qualifier::SoftFail,
                Qualifier::Neutral,
                Qualifier::Pass
            ]
        );
        for (q, want) in [
            ("+", Qualifier::Pass),
            ("-", Qualifier::Fail),
            ("~", Qualifier::SoftFail),
            ("?", Qualifier::Neutral),
            ("", Qualifier::Pass),
        ] {
            assert_eq!(
                parse(&format!("v=spf1 {q}all")).unwrap().all_qualifier(),
                Some(want)
            );
        }
    }

    #[test]
    fn every_mechanism_form() {
        let r = parse(
            "v=spf1 a a:mail.example.com a/24 a:example.com/24//64 a//64 mx mx:mx.example.com mx/30 \
             ptr ptr:example.com ip4:192.0.2.1 ip6:::1 ip6:::ffff:192.0.2.1/128 exists:%{i}.bl.example.org \
             include:example.com. all",
        )
        .unwrap();
        assert_eq!(
            r.terms.into_iter().map(|t| t.mechanism).collect::<Vec<_>>(),
            vec![
                Mechanism::A(None),
                Mechanism::A(some("mail.example.com")),
                Mechanism::A(some("/24")),
                Mechanism::A(some("example.com/24//64")),
                Mechanism::A(some("//64")),
                Mechanism::Mx(None),
                Mechanism::Mx(some("mx.example.com")),
                Mechanism::Mx(some("/30")),
                Mechanism::Ptr(None),
                Mechanism::Ptr(some("example.com")),
                Mechanism::Ip4("192.0.2.1".into()),
                Mechanism::Ip6("::1".into()),
                Mechanism::Ip6("::ffff:192.0.2.1/128".into()),
                Mechanism::Exists("%{i}.bl.example.org".into()),
                Mechanism::Include("example.com.".into()),
                Mechanism::All,
            ]
        );
    }

    #[test]
    fn mechanism_names_are_case_insensitive_and_arguments_kept_as_written() {
        let r =
            parse("v=spf1 INCLUDE:Example.COM Mx:MX.Example.com IP4:192.0.2.0/24 ~ALL").unwrap();
        assert_eq!(
            r.terms,
            vec![
                term(Qualifier::Pass, Mechanism::Include("Example.COM".into())),
                term(Qualifier::Pass, Mechanism::Mx(some("MX.Example.com"))),
                term(Qualifier::Pass, Mechanism::Ip4("192.0.2.0/24".into())),
                term(Qualifier::SoftFail, Mechanism::All),
            ]
        );
    }

    #[test]
    fn multiple_spaces_and_tabs() {
        let r = parse("v=spf1   a  \t mx    -all   ").unwrap();
        assert_eq!(r.terms.len(), 3);
        assert_eq!(r.all_qualifier(), Some(Qualifier::Fail));
    }

    #[test]
    fn modifiers() {
        let r = parse("v=spf1 mx redirect=_spf.example.com exp=explain._spf.%{d} foo=bar:baz moo.cow-x_y=%{l}").unwrap();
        assert_eq!(r.redirect, some("_spf.example.com"));
        assert_eq!(r.exp, some("explain._spf.%{d}"));
        assert_eq!(
            r.unknown_modifiers,
            vec!["foo=bar:baz".to_string(), "moo.cow-x_y=%{l}".to_string()]
        );
        assert_eq!(r.all_qualifier(), None);
        // mx + redirect
        assert_eq!(r.lookup_terms(), 2);
        assert_eq!(r.includes(), vec!["_spf.example.com".to_string()]);
        // Modifier names are case-insensitive; an unknown modifier may be empty.
        let r = parse("v=spf1 REDIRECT=example.com Exp=x.example.com empty=").unwrap();
        assert_eq!(r.redirect, some("example.com"));
        assert_eq!(r.exp, some("x.example.com"));
        assert_eq!(r.unknown_modifiers, vec!["empty=".to_string()]);
    }

    #[test]
    fn macros_are_validated_and_kept() {
        let r = parse(
            "v=spf1 exists:%{ir}.%{l1r+-}._spf.%{d} include:%{d2}.example.com a:%{D}/24 \
             exists:%{ir.}.%{v}._spf.%{d2r} include:x%%y%_z%-.example.com redirect=%{o}",
        )
        .unwrap();
        assert_eq!(
            r.terms[0].mechanism,
            Mechanism::Exists("%{ir}.%{l1r+-}._spf.%{d}".into())
        );
        assert_eq!(r.terms[2].mechanism, Mechanism::A(some("%{D}/24")));
        assert_eq!(r.redirect, some("%{o}"));
    }

    #[test]
    fn bad_macros_rejected() {
        for (record, why) in [
            ("v=spf1 include:%{x}.example.com", "unknown macro letter"),
            ("v=spf1 include:%{d.example.com", "unclosed macro"),
            ("v=spf1 include:%{}.example.com", "empty macro"),
            ("v=spf1 exists:%{c}.example.com", "explanation text"),
            ("v=spf1 exists:%{t}.example.com", "explanation text"),
            ("v=spf1 exists:%{r}.example.com", "explanation text"),
            ("v=spf1 exists:%{d0}.example.com", "zero labels"),
            ("v=spf1 exists:%{d2x}.example.com", "malformed macro"),
            ("v=spf1 exists:%{dr2}.example.com", "malformed macro"),
            ("v=spf1 include:50%.example.com", "bad macro"),
            ("v=spf1 include:a%b.example.com", "bad macro"),
            ("v=spf1 foo=%x", "bad macro"),
        ] {
            let e = parse(record).unwrap_err().to_string();
            assert!(e.starts_with("term 1 '"), "{record}: {e}");
            assert!(e.contains(why), "{record}: {e}");
        }
    }

    // ---- parse: errors ----

    #[test]
    fn error_names_term_and_position() {
        assert_eq!(
            parse("v=spf1 a mx ip4:").unwrap_err().to_string(),
            "term 3 'ip4:' has no address"
        );
        assert_eq!(
            parse("v=spf1 ip4").unwrap_err().to_string(),
            "term 1 'ip4' has no address"
        );
        assert_eq!(
            parse("v=spf1 ip6:").unwrap_err().to_string(),
            "term 1 'ip6:' has no address"
        );
        assert_eq!(
            parse("v=spf1  a   include:").unwrap_err().to_string(),
            "term 2 'include:' has no domain"
        );
        assert_eq!(
            parse("v=spf1 include").unwrap_err().to_string(),
            "term 1 'include' has no domain"
        );
        assert_eq!(
            parse("v=spf1 exists").unwrap_err().to_string(),
            "term 1 'exists' has no domain"
        );
        assert_eq!(
            parse("v=spf1 mx foo -all").unwrap_err().to_string(),
            "term 2 'foo' is not a known mechanism (all, include, a, mx, ptr, ip4, ip6, exists) or a name=value modifier"
        );
    }

    #[test]
    fn errors_carry_the_term_and_its_problem() {
        assert_eq!(
            parse("v=spf1 mx ip4:192.0.2.0/33 -all"),
            Err(SpfError::Term {
                position: 2,
                term: "ip4:192.0.2.0/33".into(),
                problem: TermError::BadPrefix {
                    prefix: "33".into(),
                    max: 32,
                },
            })
        );
        assert_eq!(
            parse("v=spf1 exists:%{c}.example.com"),
            Err(SpfError::Term {
                position: 1,
                term: "exists:%{c}.example.com".into(),
                problem: TermError::ExplanationOnlyMacro {
                    macro_text: "%{c}".into(),
                },
            })
        );
        assert!(matches!(
            parse("v=spf1 include:example.é"),
            Err(SpfError::Term {
                problem: TermError::BadCharacter { character: 'é' },
                ..
            })
        ));
        assert_eq!(
            select(&strings(&["v=spf1 -all", "v=spf1 mx -all"])),
            Err(SpfError::SeveralRecords { count: 2 })
        );
    }

    #[test]
    fn not_spf_is_an_error() {
        assert!(
            parse("v=spf2 -all")
                .unwrap_err()
                .to_string()
                .contains("does not start with 'v=spf1'")
        );
        assert!(parse("").is_err());
        assert!(parse("v=spf1-all").is_err());
    }

    #[test]
    fn bad_addresses_and_prefixes() {
        assert_eq!(
            parse("v=spf1 ip4:192.0.2.999").unwrap_err().to_string(),
            "term 1 'ip4:192.0.2.999' has an invalid IPv4 address '192.0.2.999'"
        );
        assert!(
            parse("v=spf1 ip4:192.0.2")
                .unwrap_err()
                .to_string()
                .contains("invalid IPv4 address")
        );
        assert!(
            parse("v=spf1 ip4:2001:db8::1")
                .unwrap_err()
                .to_string()
                .contains("invalid IPv4 address")
        );
        assert!(
            parse("v=spf1 ip6:192.0.2.1")
                .unwrap_err()
                .to_string()
                .contains("invalid IPv6 address")
        );
        assert!(
            parse("v=spf1 ip6:2001:db8::g")
                .unwrap_err()
                .to_string()
                .contains("invalid IPv6 address")
        );
        assert!(
            parse("v=spf1 ip4:%{i}")
                .unwrap_err()
                .to_string()
                .contains("invalid IPv4 address")
        );
        assert_eq!(
            parse("v=spf1 ip4:192.0.2.0/33").unwrap_err().to_string(),
            "term 1 'ip4:192.0.2.0/33' has an invalid prefix length '/33' (0-32)"
        );
        assert!(
            parse("v=spf1 ip4:192.0.2.0/")
                .unwrap_err()
                .to_string()
                .contains("invalid prefix length")
        );
        assert!(
            parse("v=spf1 ip4:192.0.2.0/024")
                .unwrap_err()
                .to_string()
                .contains("invalid prefix length")
        );
        assert!(
            parse("v=spf1 ip4:192.0.2.0/24/8")
                .unwrap_err()
                .to_string()
                .contains("invalid prefix length")
        );
        assert!(
            parse("v=spf1 ip4:192.0.2.0//64")
                .unwrap_err()
                .to_string()
                .contains("invalid prefix length")
        );
        assert!(
            parse("v=spf1 ip6:2001:db8::/129")
                .unwrap_err()
                .to_string()
                .contains("(0-128)")
        );
        assert!(parse("v=spf1 ip4:192.0.2.0/0 ip4:192.0.2.0/32 ip6:::/0 ip6:::/128").is_ok());
    }

    #[test]
    fn bad_dual_cidr() {
        for bad in [
            "a/33",
            "mx//129",
            "a/24/",
            "a/24//",
            "a///64",
            "a/x",
            "a/",
            "mx:example.com/",
            "a/24/64",
            "a/-1",
        ] {
            let e = parse(&format!("v=spf1 {bad}")).unwrap_err().to_string();
            assert!(e.contains("invalid prefix length"), "{bad}: {e}");
        }
    }

    #[test]
    fn bad_domains() {
        assert!(
            parse("v=spf1 a:")
                .unwrap_err()
                .to_string()
                .contains("has no domain after ':'")
        );
        assert!(
            parse("v=spf1 a:/24")
                .unwrap_err()
                .to_string()
                .contains("has no domain after ':'")
        );
        assert!(
            parse("v=spf1 ptr:")
                .unwrap_err()
                .to_string()
                .contains("has no domain after ':'")
        );
        let e = parse("v=spf1 a:localhost").unwrap_err().to_string();
        assert!(e.contains("not a fully qualified name"), "{e}");
        let e = parse("v=spf1 include:192.0.2.1").unwrap_err().to_string();
        assert!(e.contains("last label '1' is not a valid top label"), "{e}");
        assert!(
            parse("v=spf1 include:example.com:80")
                .unwrap_err()
                .to_string()
                .contains("top label")
        );
        assert!(
            parse("v=spf1 include:example.-com")
                .unwrap_err()
                .to_string()
                .contains("top label")
        );
        assert!(
            parse("v=spf1 include:example.com-")
                .unwrap_err()
                .to_string()
                .contains("top label")
        );
        assert!(
            parse("v=spf1 include:example.")
                .unwrap_err()
                .to_string()
                .contains("fully qualified")
        );
        assert!(
            parse("v=spf1 include:example.é")
                .unwrap_err()
                .to_string()
                .contains("non-ASCII")
        );
        assert!(
            parse("v=spf1 redirect=localhost")
                .unwrap_err()
                .to_string()
                .contains("fully qualified")
        );
        // A hyphenated all-digit top label is allowed by the grammar, and so is `.%{d}` and `%{d}`.
        assert!(parse("v=spf1 include:example.123-45 include:x.%{d} a:%{d}").is_ok());
        assert!(parse("v=spf1 include:1.2.3.x").is_ok());
    }

    #[test]
    fn arguments_where_none_allowed() {
        assert_eq!(
            parse("v=spf1 -all:example.com").unwrap_err().to_string(),
            "term 1 '-all:example.com' takes no argument: 'all' matches every sender"
        );
        assert!(
            parse("v=spf1 all/24")
                .unwrap_err()
                .to_string()
                .contains("takes no argument")
        );
        assert!(
            parse("v=spf1 include:example.com/24")
                .unwrap_err()
                .to_string()
                .contains("takes no prefix length")
        );
        assert!(
            parse("v=spf1 include/24")
                .unwrap_err()
                .to_string()
                .contains("takes no prefix length")
        );
        assert!(
            parse("v=spf1 exists:%{i}.example.com/24")
                .unwrap_err()
                .to_string()
                .contains("takes no prefix length")
        );
        assert!(
            parse("v=spf1 ptr/24")
                .unwrap_err()
                .to_string()
                .contains("takes no prefix length")
        );
        assert!(
            parse("v=spf1 ptr:example.com/24")
                .unwrap_err()
                .to_string()
                .contains("takes no prefix length")
        );
    }

    #[test]
    fn modifier_errors() {
        assert_eq!(
            parse("v=spf1 redirect=a.example redirect=b.example")
                .unwrap_err()
                .to_string(),
            "term 2 'redirect=b.example' repeats the redirect modifier (RFC 7208 §6 allows one)"
        );
        assert_eq!(
            parse("v=spf1 exp=a.example -all Exp=b.example")
                .unwrap_err()
                .to_string(),
            "term 3 'Exp=b.example' repeats the exp modifier (RFC 7208 §6 allows one)"
        );
        assert_eq!(
            parse("v=spf1 redirect=").unwrap_err().to_string(),
            "term 1 'redirect=' has no domain after '='"
        );
        assert_eq!(
            parse("v=spf1 exp=").unwrap_err().to_string(),
            "term 1 'exp=' has no domain after '='"
        );
        assert!(
            parse("v=spf1 -redirect=example.com")
                .unwrap_err()
                .to_string()
                .contains("modifiers take no qualifier")
        );
        assert!(
            parse("v=spf1 ?foo=bar")
                .unwrap_err()
                .to_string()
                .contains("modifiers take no qualifier")
        );
        assert!(
            parse("v=spf1 1foo=bar")
                .unwrap_err()
                .to_string()
                .contains("the name before '=' is not valid")
        );
        assert!(
            parse("v=spf1 =bar")
                .unwrap_err()
                .to_string()
                .contains("the name before '=' is not valid")
        );
        assert!(
            parse("v=spf1 fo!o=bar")
                .unwrap_err()
                .to_string()
                .contains("the name before '=' is not valid")
        );
        assert!(
            parse("v=spf1 mx -all v=spf1 a -all")
                .unwrap_err()
                .to_string()
                .contains("term 3 'v=spf1' repeats the version")
        );
    }

    #[test]
    fn garbage_terms() {
        for bad in [
            "+",
            "-",
            "~",
            "?",
            "+-all",
            "allx",
            "a-",
            "mx.example.com",
            "ip5:1.2.3.4",
            ":example.com",
            "/24",
            "include;example.com",
            "all,",
        ] {
            let e = parse(&format!("v=spf1 {bad}")).unwrap_err().to_string();
            assert!(e.starts_with(&format!("term 1 '{bad}' ")), "{bad}: {e}");
        }
    }

    // ---- evaluation helpers ----

    #[test]
    fn lookup_terms_counts_each_dns_term() {
        let r = parse("v=spf1 a mx ptr exists:%{i}.x.example include:a.example ip4:192.0.2.1 ip6:::1 exp=e.example ~all").unwrap();
        assert_eq!(r.lookup_terms(), 5);
        let r = parse("v=spf1 include:a.example include:b.example redirect=c.example").unwrap();
        assert_eq!(r.lookup_terms(), 3);
        assert_eq!(
            r.includes(),
            strings(&["a.example", "b.example", "c.example"])
        );
    }

    #[test]
    fn terms_after_all_are_never_evaluated() {
        // RFC 7208 §5.1: nothing after `all` is tested, so it costs no lookups.
        let r = parse("v=spf1 include:a.example -all include:b.example mx").unwrap();
        assert_eq!(r.lookup_terms(), 1);
        assert_eq!(r.includes(), strings(&["a.example"]));
        assert_eq!(r.terms.len(), 4, "the terms themselves are all kept");
    }

    #[test]
    fn redirect_is_ignored_when_all_is_present() {
        // RFC 7208 §6.1
        let r = parse("v=spf1 include:a.example ~all redirect=b.example").unwrap();
        assert_eq!(r.redirect, some("b.example"));
        assert_eq!(r.all_qualifier(), Some(Qualifier::SoftFail));
        assert_eq!(r.lookup_terms(), 1);
        assert_eq!(r.includes(), strings(&["a.example"]));
    }

    #[test]
    fn first_all_decides() {
        let r = parse("v=spf1 ?all -all").unwrap();
        assert_eq!(r.all_qualifier(), Some(Qualifier::Neutral));
        assert_eq!(parse("v=spf1 mx").unwrap().all_qualifier(), None);
    }

    #[test]
    fn eleven_lookups_counted() {
        let record = format!(
            "v=spf1 {} -all",
            (0..11)
                .map(|i| format!("include:s{i}.example.com"))
                .collect::<Vec<_>>()
                .join(" ")
        );
        let r = parse(&record).unwrap();
        assert_eq!(r.lookup_terms(), 11);
        assert_eq!(r.includes().len(), 11);
        assert_eq!(r.includes()[10], "s10.example.com");
    }

    // ---- properties ----

    fn qualifier_strategy() -> impl Strategy<Value = (&'static str, Qualifier)> {
        prop_oneof![
            Just(("", Qualifier::Pass)),
            Just(("+", Qualifier::Pass)),
            Just(("-", Qualifier::Fail)),
            Just(("~", Qualifier::SoftFail)),
            Just(("?", Qualifier::Neutral)),
        ]
    }

    fn domain_strategy() -> impl Strategy<Value = String> {
        "([a-z0-9_][a-z0-9-]{0,8}\\.){1,3}[a-z]{2,6}"
    }

    /// A mechanism's text (name in random case) and the value `parse` should give.
    fn mechanism_strategy() -> impl Strategy<Value = (String, Mechanism)> {
        let name = |n: &'static str| {
            proptest::collection::vec(any::<bool>(), n.len()).prop_map(move |upper| {
                n.chars()
                    .zip(upper)
                    .map(|(c, u)| if u { c.to_ascii_uppercase() } else { c })
                    .collect::<String>()
            })
        };
        prop_oneof![
            name("all").prop_map(|n| (n, Mechanism::All)),
            (name("include"), domain_strategy())
                .prop_map(|(n, d)| (format!("{n}:{d}"), Mechanism::Include(d))),
            (name("exists"), domain_strategy())
                .prop_map(|(n, d)| (format!("{n}:{d}"), Mechanism::Exists(d))),
            (
                name("a"),
                proptest::option::of(domain_strategy()),
                proptest::option::of(0u8..=32)
            )
                .prop_map(|(n, d, c)| {
                    let arg = format!(
                        "{}{}",
                        d.unwrap_or_default(),
                        c.map(|c| format!("/{c}")).unwrap_or_default()
                    );
                    let text = if arg.is_empty() {
                        n.clone()
                    } else if arg.starts_with('/') {
                        format!("{n}{arg}")
                    } else {
                        format!("{n}:{arg}")
                    };
                    (
                        text,
                        Mechanism::A(if arg.is_empty() { None } else { Some(arg) }),
                    )
                }),
            (name("mx"), proptest::option::of(domain_strategy())).prop_map(|(n, d)| match d {
                Some(d) => (format!("{n}:{d}"), Mechanism::Mx(Some(d))),
                None => (n, Mechanism::Mx(None)),
            }),
            (name("ptr"), proptest::option::of(domain_strategy())).prop_map(|(n, d)| match d {
                Some(d) => (format!("{n}:{d}"), Mechanism::Ptr(Some(d))),
                None => (n, Mechanism::Ptr(None)),
            }),
            (name("ip4"), any::<[u8; 4]>(), 0u8..=32).prop_map(|(n, a, c)| {
                let net = format!("{}/{c}", Ipv4Addr::from(a));
                (format!("{n}:{net}"), Mechanism::Ip4(net))
            }),
            (name("ip6"), any::<u128>(), proptest::option::of(0u8..=128)).prop_map(|(n, a, c)| {
                let net = format!(
                    "{}{}",
                    Ipv6Addr::from(a),
                    c.map(|c| format!("/{c}")).unwrap_or_default()
                );
                (format!("{n}:{net}"), Mechanism::Ip6(net))
            }),
        ]
    }

    proptest! {
        #[test]
        fn parse_never_panics(s in "\\PC*") {
            let _ = parse(&s);
            let _ = parse(&format!("v=spf1 {s}"));
        }

        #[test]
        fn generated_records_parse_to_their_terms(
            terms in proptest::collection::vec((qualifier_strategy(), mechanism_strategy()), 0..12),
            gaps in proptest::collection::vec(" {1,3}", 13),
            redirect in proptest::option::of(domain_strategy()),
        ) {
            let mut txt = "v=spf1".to_string();
            let mut expected = Vec::new();
            for (i, ((q, qualifier), (text, mechanism))) in terms.into_iter().enumerate() {
                txt.push_str(&gaps[i]);
                txt.push_str(q);
                txt.push_str(&text);
                expected.push(Term { qualifier, mechanism });
            }
            if let Some(r) = &redirect {
                txt.push_str(&format!(" redirect={r}"));
            }
            let record = parse(&txt).map_err(|e| TestCaseError::fail(format!("{txt}: {e}")))?;
            prop_assert_eq!(&record.terms, &expected);
            prop_assert_eq!(&record.redirect, &redirect);

            // The helpers agree with a direct count over the reachable terms.
            let all_at = expected.iter().position(|t| t.mechanism == Mechanism::All);
            let reachable = &expected[..all_at.map_or(expected.len(), |i| i + 1)];
            let dns = reachable.iter().filter(|t| !matches!(t.mechanism, Mechanism::All | Mechanism::Ip4(_) | Mechanism::Ip6(_))).count();
            let redirect_counts = all_at.is_none() && redirect.is_some();
            prop_assert_eq!(record.lookup_terms(), dns + usize::from(redirect_counts));
            prop_assert_eq!(record.all_qualifier(), all_at.map(|i| expected[i].qualifier.clone()));
            let includes = record.includes();
            prop_assert_eq!(includes.len(), reachable.iter().filter(|t| matches!(t.mechanism, Mechanism::Include(_))).count() + usize::from(redirect_counts));
        }

        #[test]
        fn select_errors_exactly_when_several(n in 0usize..4, others in proptest::collection::vec("[a-z=; ]{0,12}", 0..4)) {
            let mut txts: Vec<String> = others.into_iter().filter(|o| !is_spf(o)).collect();
            txts.extend((0..n).map(|i| format!("v=spf1 ip4:192.0.2.{i} -all")));
            match select(&txts) {
                Ok(None) => prop_assert_eq!(n, 0),
                Ok(Some(r)) => { prop_assert_eq!(n, 1); prop_assert!(is_spf(&r)); }
                Err(_) => prop_assert!(n > 1),
            }
        }
    }
}
