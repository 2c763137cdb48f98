//! DMARC policy records (RFC 7489 §6.3 tags, §6.4 syntax, §6.6.3 record selection).
//!
//! Pure parsers: the caller fetches the TXT strings at `_dmarc.<domain>` (joining each record's
//! character-strings) and passes them in.

use super::txt_records::{RecordError, tag_list};

/// Why a DMARC record is not usable. `tag` fields are the lower-cased tag name (`p`, `sp`,
/// `rua`...) and values are as written.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum DmarcError {
    /// The record is not even a well-formed tag list.
    #[error(transparent)]
    TagList(#[from] RecordError),
    #[error(
        "{count} DMARC records found; with more than one, receivers apply no DMARC policy at all (RFC 7489 §6.6.3)"
    )]
    SeveralRecords { count: usize },
    /// Names differing only in case count as the same tag here.
    #[error("tag '{name}' appears more than once")]
    DuplicateTag { name: String },
    /// The version ran into the next tag, a missing `;` (`v=DMARC1 p=none`).
    #[error("v={value} is not DMARC1: tags must be separated by ';'")]
    VersionRunOn { value: String },
    #[error("v={value} is not DMARC1 (RFC 7489 §6.4; the version is case-sensitive)")]
    WrongVersion { value: String },
    /// The first tag is `name=value` rather than the version.
    #[error("the record must start with v=DMARC1 (RFC 7489 §6.4), not '{name}={value}'")]
    VersionNotFirst { name: String, value: String },
    #[error("empty record: expected v=DMARC1 first (RFC 7489 §6.4)")]
    Empty,
    #[error("no p= tag: the policy is required (RFC 7489 §6.3)")]
    NoPolicy,
    #[error("{tag}={value} is not none, quarantine or reject")]
    BadPolicy { tag: &'static str, value: String },
    #[error("pct={value} is not a whole number from 0 to 100")]
    BadPct { value: String },
    #[error("{tag}={value} is not r (relaxed) or s (strict)")]
    BadAlignment { tag: &'static str, value: String },
    #[error("{tag}= has an empty URI")]
    EmptyUri { tag: &'static str },
    /// `size` is what follows the `!`.
    #[error("{tag} '{uri}' has a bad size limit '!{size}' (a number, then k, m, g or t)")]
    BadSizeLimit {
        tag: &'static str,
        uri: String,
        size: String,
    },
    #[error("{tag} '{uri}' has no address (mailto:user@domain)")]
    NoMailtoAddress { tag: &'static str, uri: String },
    #[error("{tag} '{uri}' is not a URI such as mailto:reports@example.com")]
    NotAUri { tag: &'static str, uri: String },
}

/// The handling a domain asks receivers to apply to mail that fails DMARC (RFC 7489 §6.3 `p=`).
#[derive(Debug, Clone, Copy, PartialEq, Eq, serde::Serialize)]
pub enum Policy {
    None,
    Quarantine,
    Reject,
}

/// A parsed DMARC record.
#[derive(Debug, Clone, PartialEq, Eq, serde::Serialize)]
pub struct DmarcRecord {
    /// `p=`: required.
    pub policy: Policy,
    /// `sp=`: for subdomains; absent means subdomains inherit `p=` (RFC 7489 §6.3).
    pub subdomain_policy: Option<Policy>,
    /// `pct=`: share of failing mail the policy applies to; 100 when absent (RFC 7489 §6.3).
    pub pct: u8,
    /// `rua=`: aggregate report URIs, as written (including any `!size` suffix).
    pub rua: Vec<String>,
    /// `ruf=`: failure report URIs, as written.
    pub ruf: Vec<String>,
    /// `adkim=s`: DKIM alignment must be exact, not relaxed (the default).
    pub adkim_strict: bool,
    /// `aspf=s`: SPF alignment must be exact, not relaxed (the default).
    pub aspf_strict: bool,
    /// Every tag in record order with lower-cased names and values as written, known or not:
    /// RFC 7489 §6.3 has receivers ignore unknown tags, but a report should still show them.
    pub tags: Vec<(String, String)>,
}

impl DmarcRecord {
    /// True when the record asks for aggregate (`rua=`) or failure (`ruf=`) reports.
    pub fn reports_requested(&self) -> bool {
        !self.rua.is_empty() || !self.ruf.is_empty()
    }
}

/// True when the record begins with the tag `v=DMARC1` (RFC 7489 §6.6.3 discards records that do
/// not). Per the §6.4 ABNF the tag name `v` is case-insensitive (a quoted string) but `DMARC1` is
/// case-sensitive (spelled as %x values), and only WSP may surround the `=`. The version must be
/// followed by the end, WSP or `;`, so `v=DMARC10` is not DMARC but `v=DMARC1 p=none` (a missing
/// `;`) is — `parse` then explains what is wrong with it.
pub fn is_dmarc(txt: &str) -> bool {
    let Some(rest) = txt.strip_prefix(['v', 'V']) else {
        return false;
    };
    let Some(rest) = rest.trim_start_matches([' ', '\t']).strip_prefix('=') else {
        return false;
    };
    rest.trim_start_matches([' ', '\t'])
        .strip_prefix("DMARC1")
        .is_some_and(|after| after.is_empty() || after.starts_with([';', ' ', '\t']))
}

/// The version of the `psl` crate compiled in, which is the only version the Public Suffix
/// List it carries has (the crate exposes no list date). A unit test keeps it equal to Cargo.lock.
pub const PSL_CRATE_VERSION: &str = psl_version!();

/// [`PSL_CRATE_VERSION`] as a literal, for `concat!` (the `--version` long text).
macro_rules! psl_version {
    () => {
        "2.1.247"
    };
}
pub(crate) use psl_version;

/// The organisational domain of `domain` (RFC 7489 §3.2): its registrable domain by the Public
/// Suffix List, lower-cased, without a final dot. A name that is itself a public suffix, or
/// that the list cannot split, is its own organisational domain.
pub fn organizational_domain(domain: &str) -> String {
    let name = domain.trim_end_matches('.').to_ascii_lowercase();
    match psl::domain_str(&name) {
        Some(org) => org.to_string(),
        None => name,
    }
}

/// The domain of a `mailto:` report URI (`mailto:d@reports.example!10m` gives
/// `reports.example`), lower-cased; `None` for other schemes or no `@`.
pub fn mailto_domain(uri: &str) -> Option<String> {
    let body = uri.split('!').next().unwrap_or_default();
    let (scheme, rest) = body.split_once(':')?;
    if !scheme.eq_ignore_ascii_case("mailto") {
        return None;
    }
    let address = rest.split('?').next().unwrap_or_default();
    let (_, host) = address.rsplit_once('@')?;
    let host = host.trim_end_matches('.').to_ascii_lowercase();
    (!host.is_empty()).then_some(host)
}

/// Picks the DMARC record among the TXT strings at `_dmarc.<domain>`. RFC 7489 §6.6.3: records
/// that are not DMARC are discarded, and if more than one remains, DMARC does not apply at all.
pub fn select(txts: &[String]) -> Result<Option<String>, DmarcError> {
    let found: Vec<&String> = txts.iter().filter(|t| is_dmarc(t)).collect();
    match found.as_slice() {
        [] => Ok(None),
        [one] => Ok(Some((*one).clone())),
        many => Err(DmarcError::SeveralRecords { count: many.len() }),
    }
}

/// Parses a DMARC record: `v=DMARC1` first, a valid `p=`, and well-formed `sp`, `pct`, `rua`,
/// `ruf`, `adkim` and `aspf`. Other tags (`fo`, `rf`, `ri`, unknown ones) are kept in `tags`.
pub fn parse(txt: &str) -> Result<DmarcRecord, DmarcError> {
    let tags: Vec<(String, String)> = tag_list(txt)?
        .into_iter()
        .map(|(name, value)| (name.to_ascii_lowercase(), value))
        .collect();
    // tag_list compared names case-sensitively; DMARC's are case-insensitive (§6.4 ABNF quoted
    // strings), so `p=none; P=reject` is a duplicate too.
    for (i, (name, _)) in tags.iter().enumerate() {
        if tags.iter().take(i).any(|(seen, _)| seen == name) {
            return Err(DmarcError::DuplicateTag { name: name.clone() });
        }
    }

    match tags.first() {
        Some((name, value)) if name == "v" && value == "DMARC1" => {}
        Some((name, value)) if name == "v" && value.starts_with("DMARC1") => {
            return Err(DmarcError::VersionRunOn {
                value: value.clone(),
            });
        }
        Some((name, value)) if name == "v" => {
            return Err(DmarcError::WrongVersion {
                value: value.clone(),
            });
        }
        Some((name, value)) => {
            return Err(DmarcError::VersionNotFirst {
                name: name.clone(),
                value: value.clone(),
            });
        }
        None => return Err(DmarcError::Empty),
    }

    let get = |name: &str| {
        tags.iter()
            .find(|(n, _)| n == name)
            .map(|(_, v)| v.as_str())
    };

    let policy = match get("p") {
        Some(p) => parse_policy("p", p)?,
        None => return Err(DmarcError::NoPolicy),
    };
    let subdomain_policy = get("sp").map(|sp| parse_policy("sp", sp)).transpose()?;
    let pct = get("pct").map(parse_pct).transpose()?.unwrap_or(100);
    let rua = get("rua")
        .map(|v| parse_uris("rua", v))
        .transpose()?
        .unwrap_or_default();
    let ruf = get("ruf")
        .map(|v| parse_uris("ruf", v))
        .transpose()?
        .unwrap_or_default();
    let adkim_strict = get("adkim")
        .map(|v| parse_alignment("adkim", v))
        .transpose()?
        .unwrap_or(false);
    let aspf_strict = get("aspf")
        .map(|v| parse_alignment("aspf", v))
        .transpose()?
        .unwrap_or(false);

    Ok(DmarcRecord {
        policy,
        subdomain_policy,
        pct,
        rua,
        ruf,
        adkim_strict,
        aspf_strict,
        tags,
    })
}

/// `none`, `quarantine` or `reject`, case-insensitive as §6.4's quoted strings are.
fn parse_policy(tag: &'static str, value: &str) -> Result<Policy, DmarcError> {
    match value.to_ascii_lowercase().as_str() {
        "none" => Ok(Policy::None),
        "quarantine" => Ok(Policy::Quarantine),
        "reject" => Ok(Policy::Reject),
        _ => Err(DmarcError::BadPolicy {
            tag,
            value: value.to_string(),
        }),
    }
}

/// §6.3: an integer from 0 to 100; the §6.4 ABNF allows one to three digits and nothing else.
fn parse_pct(value: &str) -> Result<u8, DmarcError> {
    let digits_ok = (1..=3).contains(&value.len()) && value.bytes().all(|b| b.is_ascii_digit());
    match value.parse::<u8>() {
        Ok(n) if digits_ok && n <= 100 => Ok(n),
        _ => Err(DmarcError::BadPct {
            value: value.to_string(),
        }),
    }
}

/// `r` (relaxed) or `s` (strict); returns whether strict.
fn parse_alignment(tag: &'static str, value: &str) -> Result<bool, DmarcError> {
    match value {
        "s" | "S" => Ok(true),
        "r" | "R" => Ok(false),
        _ => Err(DmarcError::BadAlignment {
            tag,
            value: value.to_string(),
        }),
    }
}

/// A comma-separated list of DMARC URIs (§6.4 `dmarc-uri = URI [ "!" 1*DIGIT [ "k" / "m" / "g" /
/// "t" ] ]`, with `*WSP "," *WSP` between them). Kept as written; each is checked for a scheme,
/// a non-empty body, an address in `mailto:` URIs, and a well-formed size limit.
fn parse_uris(tag: &'static str, value: &str) -> Result<Vec<String>, DmarcError> {
    value
        .split(',')
        .map(|u| u.trim_matches([' ', '\t']))
        .map(|u| check_uri(tag, u).map(|()| u.to_string()))
        .collect()
}

fn check_uri(tag: &'static str, uri: &str) -> Result<(), DmarcError> {
    if uri.is_empty() {
        return Err(DmarcError::EmptyUri { tag });
    }
    // §6.4 requires literal '!' inside a URI to be %-encoded, so a '!' starts the size limit.
    let (body, size) = match uri.split_once('!') {
        Some((body, size)) => (body, Some(size)),
        None => (uri, None),
    };
    if let Some(size) = size {
        let digits = size
            .strip_suffix(['k', 'm', 'g', 't', 'K', 'M', 'G', 'T'])
            .unwrap_or(size);
        // The numeric part must fit an unsigned 64-bit integer (§6.4).
        if digits.is_empty()
            || !digits.bytes().all(|b| b.is_ascii_digit())
            || digits.parse::<u64>().is_err()
        {
            return Err(DmarcError::BadSizeLimit {
                tag,
                uri: uri.to_string(),
                size: size.to_string(),
            });
        }
    }
    // RFC 3986 §3.1: scheme = ALPHA *( ALPHA / DIGIT / "+" / "-" / "." ), then ':'.
    let scheme_ok = |s: &str| {
        s.chars().next().is_some_and(|c| c.is_ascii_alphabetic())
            && s.chars()
                .all(|c| c.is_ascii_alphanumeric() || matches!(c, '+' | '-' | '.'))
    };
    match body.split_once(':') {
        Some((scheme, rest)) if scheme_ok(scheme) && !rest.is_empty() => {
            // §6.2: mailto: is the scheme receivers must support; it needs an address.
            if scheme.eq_ignore_ascii_case("mailto") && !rest.contains('@') {
                return Err(DmarcError::NoMailtoAddress {
                    tag,
                    uri: uri.to_string(),
                });
            }
            Ok(())
        }
        _ => Err(DmarcError::NotAUri {
            tag,
            uri: uri.to_string(),
        }),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn organizational_domains_by_the_public_suffix_list() {
        assert_eq!(organizational_domain("mail.sub.example.com"), "example.com");
        assert_eq!(organizational_domain("a.b.example.co.uk."), "example.co.uk");
        assert_eq!(organizational_domain("Example.COM"), "example.com");
        // Not in the list: the last label is the suffix (the list's default rule "*").
        assert_eq!(
            organizational_domain("sub.orgpolicy.example"),
            "orgpolicy.example"
        );
        assert_eq!(organizational_domain("com"), "com");
    }

    #[test]
    fn report_uri_domains() {
        assert_eq!(
            mailto_domain("mailto:d@Reports.Other!10m").as_deref(),
            Some("reports.other")
        );
        assert_eq!(
            mailto_domain("MAILTO:a@b.example").as_deref(),
            Some("b.example")
        );
        assert_eq!(mailto_domain("https://x.example/r"), None);
        assert_eq!(mailto_domain("mailto:nobody"), None);
    }

    #[test]
    fn psl_version_is_the_one_in_cargo_lock() {
        let lock = include_str!("../../Cargo.lock");
        let at = lock
            .find("name = \"psl\"\nversion = \"")
            .expect("psl in Cargo.lock");
        let version = lock[at..].lines().nth(1).unwrap_or_default();
        assert_eq!(version, format!("version = \"{PSL_CRATE_VERSION}\""));
    }
    use proptest::prelude::*;

    fn strings(v: &[&str]) -> Vec<String> {
        v.iter().map(|s| s.to_string()).collect()
    }

    #[test]
    fn minimal_record_gets_defaults() {
        let r = parse("v=DMARC1; p=none").unwrap();
        assert_eq!(
            r,
            DmarcRecord {
                policy: Policy::None,
                subdomain_policy: None,
                pct: 100,
                rua: vec![],
                ruf: vec![],
                adkim_strict: false,
                aspf_strict: false,
                tags: vec![("v".into(), "DMARC1".into()), ("p".into(), "none".into())],
            }
        );
        assert!(!r.reports_requested());
    }

    #[test]
    fn full_record() {
        let r = parse(
            "v=DMARC1; p=reject; sp=quarantine; pct=25; rua=mailto:agg@example.com, mailto:x@thirdparty.example!10m; \
             ruf=mailto:forensic@example.com; adkim=s; aspf=r; fo=1; ri=3600; future=yes;",
        )
        .unwrap();
        assert_eq!(r.policy, Policy::Reject);
        assert_eq!(r.subdomain_policy, Some(Policy::Quarantine));
        assert_eq!(r.pct, 25);
        assert_eq!(
            r.rua,
            vec![
                "mailto:agg@example.com".to_string(),
                "mailto:x@thirdparty.example!10m".to_string()
            ]
        );
        assert_eq!(r.ruf, vec!["mailto:forensic@example.com".to_string()]);
        assert!(r.adkim_strict);
        assert!(!r.aspf_strict);
        assert!(r.reports_requested());
        let names: Vec<&str> = r.tags.iter().map(|(n, _)| n.as_str()).collect();
        assert_eq!(
            names,
            [
                "v", "p", "sp", "pct", "rua", "ruf", "adkim", "aspf", "fo", "ri", "future"
            ]
        );
        assert!(r.tags.contains(&("future".to_string(), "yes".to_string())));
    }

    #[test]
    fn reports_requested_by_ruf_alone() {
        assert!(
            parse("v=DMARC1; p=none; ruf=mailto:f@example.com")
                .unwrap()
                .reports_requested()
        );
        assert!(
            parse("v=DMARC1; p=none; rua=mailto:a@example.com")
                .unwrap()
                .reports_requested()
        );
    }

    #[test]
    fn names_and_policy_words_are_case_insensitive() {
        let r = parse("V=DMARC1; P=Reject; SP=NONE; ADKIM=S; Aspf=S").unwrap();
        assert_eq!(r.policy, Policy::Reject);
        assert_eq!(r.subdomain_policy, Some(Policy::None));
        assert!(r.adkim_strict && r.aspf_strict);
        assert_eq!(r.tags[1], ("p".to_string(), "Reject".to_string()));
    }

    #[test]
    fn whitespace_tolerant() {
        let r = parse("v = DMARC1 ;p= quarantine ;  pct = 0 ").unwrap();
        assert_eq!(r.policy, Policy::Quarantine);
        assert_eq!(r.pct, 0);
    }

    #[test]
    fn version_must_come_first_and_be_exact() {
        assert_eq!(
            parse("p=reject; v=DMARC1").unwrap_err().to_string(),
            "the record must start with v=DMARC1 (RFC 7489 §6.4), not 'p=reject'"
        );
        assert!(
            parse("v=DMARC2; p=reject")
                .unwrap_err()
                .to_string()
                .starts_with("v=DMARC2 is not DMARC1")
        );
        assert!(
            parse("v=dmarc1; p=reject")
                .unwrap_err()
                .to_string()
                .contains("case-sensitive")
        );
        assert_eq!(
            parse("v=DMARC1 p=reject").unwrap_err().to_string(),
            "v=DMARC1 p=reject is not DMARC1: tags must be separated by ';'"
        );
        assert!(
            parse("")
                .unwrap_err()
                .to_string()
                .starts_with("empty record")
        );
    }

    #[test]
    fn policy_required_and_valid() {
        assert_eq!(
            parse("v=DMARC1").unwrap_err().to_string(),
            "no p= tag: the policy is required (RFC 7489 §6.3)"
        );
        assert_eq!(
            parse("v=DMARC1; rua=mailto:a@example.com")
                .unwrap_err()
                .to_string(),
            "no p= tag: the policy is required (RFC 7489 §6.3)"
        );
        assert_eq!(
            parse("v=DMARC1; p=maybe").unwrap_err().to_string(),
            "p=maybe is not none, quarantine or reject"
        );
        assert_eq!(
            parse("v=DMARC1; p=").unwrap_err().to_string(),
            "p= is not none, quarantine or reject"
        );
        assert_eq!(
            parse("v=DMARC1; p=none; sp=deny").unwrap_err().to_string(),
            "sp=deny is not none, quarantine or reject"
        );
    }

    #[test]
    fn pct_bounds() {
        assert_eq!(parse("v=DMARC1; p=none; pct=100").unwrap().pct, 100);
        assert_eq!(parse("v=DMARC1; p=none; pct=007").unwrap().pct, 7);
        for bad in [
            "101",
            "-1",
            "+5",
            "",
            "1000",
            "0100",
            "50%",
            "5 0",
            "256",
            "99999999999",
        ] {
            let e = parse(&format!("v=DMARC1; p=none; pct={bad}"))
                .unwrap_err()
                .to_string();
            assert_eq!(e, format!("pct={bad} is not a whole number from 0 to 100"));
        }
    }

    #[test]
    fn alignment_values() {
        assert!(!parse("v=DMARC1; p=none; adkim=r").unwrap().adkim_strict);
        assert_eq!(
            parse("v=DMARC1; p=none; adkim=strict")
                .unwrap_err()
                .to_string(),
            "adkim=strict is not r (relaxed) or s (strict)"
        );
        assert_eq!(
            parse("v=DMARC1; p=none; aspf=").unwrap_err().to_string(),
            "aspf= is not r (relaxed) or s (strict)"
        );
    }

    #[test]
    fn report_uris_checked() {
        assert_eq!(
            parse("v=DMARC1; p=none; rua=").unwrap_err().to_string(),
            "rua= has an empty URI"
        );
        assert_eq!(
            parse("v=DMARC1; p=none; rua=mailto:a@example.com,")
                .unwrap_err()
                .to_string(),
            "rua= has an empty URI"
        );
        assert!(
            parse("v=DMARC1; p=none; rua=a@example.com")
                .unwrap_err()
                .to_string()
                .contains("is not a URI")
        );
        assert!(
            parse("v=DMARC1; p=none; ruf=mailto:")
                .unwrap_err()
                .to_string()
                .contains("is not a URI")
        );
        assert!(
            parse("v=DMARC1; p=none; rua=mailto:nobody")
                .unwrap_err()
                .to_string()
                .contains("has no address")
        );
        assert!(
            parse("v=DMARC1; p=none; rua=mailto:a@example.com!")
                .unwrap_err()
                .to_string()
                .contains("bad size limit")
        );
        assert!(
            parse("v=DMARC1; p=none; rua=mailto:a@example.com!10x")
                .unwrap_err()
                .to_string()
                .contains("bad size limit")
        );
        assert!(
            parse("v=DMARC1; p=none; rua=mailto:a@example.com!99999999999999999999")
                .unwrap_err()
                .to_string()
                .contains("bad size limit")
        );
        assert_eq!(
            parse("v=DMARC1; p=none; rua=https://r.example/dmarc!5")
                .unwrap()
                .rua,
            vec!["https://r.example/dmarc!5".to_string()]
        );
        assert_eq!(
            parse("v=DMARC1; p=none; rua = mailto:a@example.com ,\tmailto:b@example.com")
                .unwrap()
                .rua
                .len(),
            2
        );
    }

    #[test]
    fn duplicate_tags_rejected_case_insensitively() {
        assert_eq!(
            parse("v=DMARC1; p=none; P=reject").unwrap_err().to_string(),
            "tag 'p' appears more than once"
        );
        assert!(
            parse("v=DMARC1; p=none; p=none")
                .unwrap_err()
                .to_string()
                .contains("more than once")
        );
    }

    #[test]
    fn errors_carry_the_tag_and_value() {
        assert_eq!(
            parse("v=DMARC1; p=none; aspf=x"),
            Err(DmarcError::BadAlignment {
                tag: "aspf",
                value: "x".into(),
            })
        );
        assert_eq!(
            parse("v=DMARC1; p=none; ruf=mailto:f@example.com!5q"),
            Err(DmarcError::BadSizeLimit {
                tag: "ruf",
                uri: "mailto:f@example.com!5q".into(),
                size: "5q".into(),
            })
        );
        // A tag-list error stays what it was, and reads the same.
        let e = parse("v=DMARC1; reject").unwrap_err();
        assert_eq!(
            e,
            DmarcError::TagList(RecordError::NoEquals {
                position: 2,
                segment: "reject".into(),
            })
        );
        assert_eq!(e.to_string(), "tag 2 'reject' has no '='");
    }

    #[test]
    fn is_dmarc_cases() {
        assert!(is_dmarc("v=DMARC1; p=none"));
        assert!(is_dmarc("v=DMARC1"));
        assert!(is_dmarc("v = DMARC1;p=none"));
        assert!(is_dmarc("V=DMARC1; p=none"));
        assert!(is_dmarc("v=DMARC1 p=none"));
        assert!(!is_dmarc("v=DMARC10; p=none"));
        assert!(!is_dmarc("v=dmarc1; p=none"));
        assert!(!is_dmarc("p=none; v=DMARC1"));
        assert!(!is_dmarc("v=spf1 -all"));
        assert!(!is_dmarc(" v=DMARC1; p=none"));
        assert!(!is_dmarc(""));
    }

    #[test]
    fn select_cases() {
        assert_eq!(select(&[]).unwrap(), None);
        assert_eq!(select(&strings(&["v=spf1 -all", "hello"])).unwrap(), None);
        assert_eq!(
            select(&strings(&["hello", "v=DMARC1; p=reject"])).unwrap(),
            Some("v=DMARC1; p=reject".to_string())
        );
        let e = select(&strings(&["v=DMARC1; p=reject", "v=DMARC1; p=none", "x"]))
            .unwrap_err()
            .to_string();
        assert!(e.starts_with("2 DMARC records found"), "{e}");
        assert!(e.contains("RFC 7489 §6.6.3"), "{e}");
    }

    /// A DMARC record as a generator thinks of it, before it is written out.
    #[derive(Debug, Clone)]
    struct Written {
        policy: Policy,
        sp: Option<Policy>,
        pct: Option<u8>,
        rua: Vec<String>,
        ruf: Vec<String>,
        adkim: Option<bool>,
        aspf: Option<bool>,
        /// Tags DMARC does not know (fo, ri, future ones): kept, not judged.
        others: Vec<(String, String)>,
    }

    fn policy() -> impl Strategy<Value = Policy> {
        prop_oneof![
            Just(Policy::None),
            Just(Policy::Quarantine),
            Just(Policy::Reject)
        ]
    }

    fn policy_word(p: Policy) -> &'static str {
        match p {
            Policy::None => "none",
            Policy::Quarantine => "quarantine",
            Policy::Reject => "reject",
        }
    }

    /// Each letter upper- or lower-case at random: names and policy words are
    /// case-insensitive (RFC 7489 §6.4), so the parser must not care.
    fn any_case(word: String) -> impl Strategy<Value = String> {
        let n = word.len();
        prop::collection::vec(any::<bool>(), n).prop_map(move |up| {
            word.chars()
                .zip(up)
                .map(|(c, u)| if u { c.to_ascii_uppercase() } else { c })
                .collect()
        })
    }

    fn uri() -> impl Strategy<Value = String> {
        prop_oneof![
            "[a-z]{1,8}@[a-z]{1,8}\\.example".prop_map(|a| format!("mailto:{a}")),
            "[a-z]{1,8}@[a-z]{1,8}\\.example![0-9]{1,4}[kmgt]?".prop_map(|a| format!("mailto:{a}")),
            "[a-z]{1,8}".prop_map(|h| format!("https://{h}.example/dmarc")),
        ]
    }

    fn written() -> impl Strategy<Value = Written> {
        (
            policy(),
            prop::option::of(policy()),
            prop::option::of(0u8..=100),
            prop::collection::vec(uri(), 0..3),
            prop::collection::vec(uri(), 0..3),
            prop::option::of(any::<bool>()),
            prop::option::of(any::<bool>()),
            prop::collection::vec(
                (
                    prop_oneof![
                        Just("fo"),
                        Just("ri"),
                        Just("rf"),
                        Just("np"),
                        Just("x-new")
                    ],
                    "[a-z0-9:]{1,6}",
                ),
                0..3,
            ),
        )
            .prop_map(|(policy, sp, pct, rua, ruf, adkim, aspf, others)| {
                let mut seen = std::collections::BTreeSet::new();
                let others = others
                    .into_iter()
                    .filter(|(n, _)| seen.insert(*n))
                    .map(|(n, v)| (n.to_string(), v))
                    .collect();
                Written {
                    policy,
                    sp,
                    pct,
                    rua,
                    ruf,
                    adkim,
                    aspf,
                    others,
                }
            })
    }

    impl Written {
        /// The tags after the version, lower-case names, values as written.
        fn tags(&self) -> Vec<(String, String)> {
            let mut tags = vec![("p".to_string(), policy_word(self.policy).to_string())];
            if let Some(sp) = self.sp {
                tags.push(("sp".into(), policy_word(sp).into()));
            }
            if let Some(pct) = self.pct {
                tags.push(("pct".into(), pct.to_string()));
            }
            if !self.rua.is_empty() {
                tags.push(("rua".into(), self.rua.join(",")));
            }
            if !self.ruf.is_empty() {
                tags.push(("ruf".into(), self.ruf.join(",")));
            }
            for (name, strict) in [("adkim", self.adkim), ("aspf", self.aspf)] {
                if let Some(strict) = strict {
                    tags.push((name.into(), if strict { "s" } else { "r" }.into()));
                }
            }
            tags.extend(self.others.iter().cloned());
            tags
        }
    }

    /// Writes the version (`v` or `V`, spaces around `=` or not) then `tags` (in the order
    /// given) with the spacing, name case and trailing `;` the strategy picks.
    fn write_out() -> impl Strategy<Value = (Written, Vec<(String, String)>, String)> {
        written()
            .prop_flat_map(|w| {
                let tags = w.tags();
                let n = tags.len();
                (
                    Just(w),
                    Just(tags).prop_shuffle(),
                    prop::collection::vec((any::<bool>(), "[ \t]{0,2}", "[ \t]{0,2}"), n),
                    any::<bool>(),
                )
            })
            .prop_flat_map(|(w, tags, spacing, trailing)| {
                let cased: Vec<_> = tags.iter().map(|(n, _)| any_case(n.clone())).collect();
                (Just(w), Just(tags), Just(spacing), Just(trailing), cased)
            })
            .prop_flat_map(|(w, tags, spacing, trailing, names)| {
                let version = (
                    prop_oneof![Just("v"), Just("V")],
                    "[ \t]{0,2}",
                    "[ \t]{0,2}",
                )
                    .prop_map(|(v, a, b)| format!("{v}{a}={b}DMARC1"));
                (
                    Just(w),
                    Just(tags),
                    Just(spacing),
                    Just(trailing),
                    Just(names),
                    version,
                )
            })
            .prop_map(|(w, tags, spacing, trailing, names, version)| {
                let mut txt = version;
                for (((_, value), (tight, a, b)), name) in tags.iter().zip(&spacing).zip(&names) {
                    txt.push(';');
                    if !tight {
                        txt.push(' ');
                    }
                    txt.push_str(&format!("{name}{a}={b}{value}"));
                }
                if trailing {
                    txt.push(';');
                }
                (w, tags, txt)
            })
    }

    fn tag_name() -> impl Strategy<Value = &'static str> {
        prop_oneof![
            Just("v"),
            Just("p"),
            Just("P"),
            Just("sp"),
            Just("pct"),
            Just("rua"),
            Just("ruf"),
            Just("adkim"),
            Just("aspf"),
            Just("fo"),
            Just("x-y"),
        ]
    }

    fn tag_value() -> impl Strategy<Value = &'static str> {
        prop_oneof![
            Just("DMARC1"),
            Just("dmarc1"),
            Just("DMARC10"),
            Just("none"),
            Just("Reject"),
            Just("quarantine"),
            Just("maybe"),
            Just("100"),
            Just("101"),
            Just("0"),
            Just("mailto:a@b.example"),
            Just("mailto:a@b.example!10m"),
            Just("mailto:nobody"),
            Just("https://r.example/x, mailto:c@d.example"),
            Just("s"),
            Just("r"),
            Just(""),
        ]
    }

    proptest! {
        #[test]
        fn never_panics(s in "\\PC*") {
            let _ = parse(&s);
            let _ = is_dmarc(&s);
        }

        /// Tag lists built from DMARC's own names and values, with odd spacing and
        /// separators, usually starting with a version tag: they get past the version check
        /// often, so the tag parser is exercised. Whatever parses must also be selected as
        /// DMARC, and must start with the version tag.
        #[test]
        fn whatever_parses_is_selected(first in prop_oneof![
            4 => (prop_oneof![Just("v"), Just("V")], Just("DMARC1")),
            1 => (tag_name(), tag_value()),
        ], rest in prop::collection::vec((tag_name(), tag_value()), 0..6),
           eqs in prop::collection::vec(prop_oneof![Just("="), Just(" = "), Just("\t="), Just("= ")], 7),
           seps in prop::collection::vec(prop_oneof![Just(";"), Just("; "), Just(" ;"), Just(" "), Just(";;")], 7),
           end in prop_oneof![Just(""), Just(";"), Just(" "), Just("; ")]) {
            let mut txt = String::new();
            for (i, (name, value)) in std::iter::once(first).chain(rest).enumerate() {
                if i > 0 {
                    txt.push_str(seps[i % seps.len()]);
                }
                txt.push_str(&format!("{name}{}{value}", eqs[i % eqs.len()]));
            }
            txt.push_str(end);
            if let Ok(r) = parse(&txt) {
                prop_assert!(is_dmarc(&txt), "{txt:?} parses but is not selected");
                prop_assert_eq!(select(std::slice::from_ref(&txt)), Ok(Some(txt.clone())));
                prop_assert_eq!(r.tags.first(), Some(&("v".to_string(), "DMARC1".to_string())));
            }
        }

        /// A valid record in any tag order, spacing and name case parses to what was written.
        #[test]
        fn a_valid_record_parses_to_what_was_written((w, tags, txt) in write_out()) {
            let r = parse(&txt).map_err(|e| TestCaseError::fail(format!("{txt:?}: {e}")))?;
            prop_assert!(is_dmarc(&txt));
            prop_assert_eq!(r.policy, w.policy, "{}", txt);
            prop_assert_eq!(r.subdomain_policy, w.sp, "{}", txt);
            prop_assert_eq!(r.pct, w.pct.unwrap_or(100), "{}", txt);
            prop_assert_eq!(&r.rua, &w.rua, "{}", txt);
            prop_assert_eq!(&r.ruf, &w.ruf, "{}", txt);
            prop_assert_eq!(r.adkim_strict, w.adkim == Some(true), "{}", txt);
            prop_assert_eq!(r.aspf_strict, w.aspf == Some(true), "{}", txt);
            prop_assert_eq!(r.reports_requested(), !w.rua.is_empty() || !w.ruf.is_empty());
            let mut expected = vec![("v".to_string(), "DMARC1".to_string())];
            expected.extend(tags);
            prop_assert_eq!(r.tags, expected, "{}", txt);
        }

        /// One bad value among valid tags: the record is refused, and the error names that
        /// tag and that value.
        #[test]
        fn one_bad_value_is_named(w in written(), which in 0usize..7, bad in prop_oneof![
            Just("maybe"), Just("strict"), Just("101"), Just("-1"), Just("x"), Just("5 0"),
        ], bad_uri in prop_oneof![
            Just("a@b.example"), Just("mailto:nobody"), Just("mailto:a@b.example!x"),
            Just("mailto:a@b.example!"), Just("1http://x"),
        ]) {
            let name = ["p", "sp", "pct", "adkim", "aspf", "rua", "ruf"][which];
            let value = if matches!(name, "rua" | "ruf") { bad_uri } else { bad };
            let mut tags: Vec<(String, String)> =
                w.tags().into_iter().filter(|(n, _)| n != name).collect();
            tags.push((name.to_string(), value.to_string()));
            let txt = std::iter::once("v=DMARC1".to_string())
                .chain(tags.iter().map(|(n, v)| format!("{n}={v}")))
                .collect::<Vec<_>>()
                .join("; ");
            let e = match parse(&txt) {
                Ok(r) => return Err(TestCaseError::fail(format!("{txt:?} parsed: {r:?}"))),
                Err(e) => e,
            };
            let named = match &e {
                DmarcError::BadPolicy { tag, value: v } => *tag == name && v == value,
                DmarcError::BadPct { value: v } => name == "pct" && v == value,
                DmarcError::BadAlignment { tag, value: v } => *tag == name && v == value,
                DmarcError::NoMailtoAddress { tag, uri }
                | DmarcError::NotAUri { tag, uri }
                | DmarcError::BadSizeLimit { tag, uri, .. } => *tag == name && uri == value,
                _ => false,
            };
            prop_assert!(named, "{txt:?}: {e:?} does not name {name}={value}");
            prop_assert!(e.to_string().contains(value), "{e}");
        }

        /// The same tag twice, in whatever case, is refused and named in lower case.
        #[test]
        fn a_repeated_tag_is_refused((w, _, txt) in write_out(), pick in any::<prop::sample::Index>(), upper in any::<bool>()) {
            let tags = w.tags();
            let (name, value) = &tags[pick.index(tags.len())];
            let again = if upper { name.to_ascii_uppercase() } else { name.clone() };
            let txt = format!("{}; {again}={value}", txt.trim_end_matches(';'));
            let e = parse(&txt).err();
            let refused = match &e {
                Some(DmarcError::DuplicateTag { name: n }) => n == name,
                // Spelt the same both times, the tag-list parser sees it first and names it as
                // written.
                Some(DmarcError::TagList(RecordError::DuplicateTag { name: n })) => {
                    n.eq_ignore_ascii_case(name)
                }
                _ => false,
            };
            prop_assert!(refused, "{txt:?}: {e:?}");
        }

        /// The version must come first and be exactly DMARC1: moved or misspelt, the record is
        /// refused, and `is_dmarc` (which selects records) agrees with `parse`.
        #[test]
        fn the_version_comes_first_and_exact((w, _, _) in write_out(), at in 1usize..4, version in prop_oneof![
            Just("DMARC1"), Just("dmarc1"), Just("DMARC2"), Just("DMARC10"), Just("DMARC"),
        ]) {
            let mut tags: Vec<String> = w.tags().iter().map(|(n, v)| format!("{n}={v}")).collect();
            let at = at.min(tags.len());
            tags.insert(at, format!("v={version}"));
            let moved = tags.join("; ");
            prop_assert!(!is_dmarc(&moved), "{moved:?}");
            prop_assert!(
                matches!(parse(&moved), Err(DmarcError::VersionNotFirst { .. })),
                "{moved:?}: {:?}", parse(&moved)
            );
            let first = format!("v={version}; {}", w.tags().iter().map(|(n, v)| format!("{n}={v}")).collect::<Vec<_>>().join("; "));
            prop_assert_eq!(parse(&first).is_ok(), version == "DMARC1", "{}", first);
            prop_assert_eq!(is_dmarc(&first), version == "DMARC1", "{}", first);
        }

        #[test]
        fn pct_round_trips(n in 0u8..=100) {
            prop_assert_eq!(parse(&format!("v=DMARC1; p=none; pct={n}")).unwrap().pct, n);
        }

        #[test]
        fn pct_over_100_rejected(n in 101u32..1000) {
            let txt = format!("v=DMARC1; p=none; pct={n}");
            prop_assert!(parse(&txt).is_err());
        }
    }
}
