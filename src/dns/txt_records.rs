//! Tag-list TXT records: MTA-STS (RFC 8461 §3.1), TLS-RPT (RFC 8460 §3) and DKIM keys
//! (RFC 6376 §3.6.1), plus the `k=v; k2=v2` tag-list syntax they share with DMARC.
//!
//! Pure parsers: the caller fetches the TXT strings (joining a record's character-strings, as
//! RFC 7208 §3.3 and RFC 6376 §3.6.2.2 require) and passes them in.

/// Why a tag-list record (MTA-STS, TLS-RPT, DKIM, or the tag-list layer under DMARC) is
/// rejected. `rfc` fields name the section whose rule was broken, as the message cites it.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum RecordError {
    /// `position` counts non-empty `;`-separated segments from 1.
    #[error("tag {position} '{segment}' has no '='")]
    NoEquals { position: usize, segment: String },
    #[error("tag {position} '{segment}' has no name before '='")]
    NoName { position: usize, segment: String },
    #[error(
        "tag {position} '{segment}': '{name}' is not a tag name (letters, digits, '_', '-', '.')"
    )]
    BadTagName {
        position: usize,
        segment: String,
        name: String,
    },
    #[error("tag '{name}' appears more than once, which makes the record invalid (RFC 6376 §3.2)")]
    DuplicateTag { name: String },
    /// Several records of one kind at a name; `kind` is e.g. `MTA-STS (v=STSv1)`.
    #[error("{count} {kind} records found; {rfc} makes more than one the same as none")]
    SeveralRecords {
        count: usize,
        kind: &'static str,
        rfc: &'static str,
    },
    /// The version ran into the next tag, a missing `;` (`v=STSv1 id=1`).
    #[error("v={value} is not {version}: tags must be separated by ';' ({rfc})")]
    VersionRunOn {
        value: String,
        version: &'static str,
        rfc: &'static str,
    },
    #[error("v={value} is not {version} ({rfc}; the version is case-sensitive)")]
    WrongVersion {
        value: String,
        version: &'static str,
        rfc: &'static str,
    },
    /// The first tag is `name=value` rather than the version.
    #[error("the record must start with v={version} ({rfc}), not '{name}={value}'")]
    VersionNotFirst {
        name: String,
        value: String,
        version: &'static str,
        rfc: &'static str,
    },
    #[error("empty record: expected v={version} first ({rfc})")]
    Empty {
        version: &'static str,
        rfc: &'static str,
    },
    #[error("extension name '{name}' is longer than 32 characters ({rfc})")]
    ExtensionNameTooLong { name: String, rfc: &'static str },
    #[error("extension '{name}=' has an empty value ({rfc})")]
    ExtensionEmpty { name: String, rfc: &'static str },
    #[error(
        "extension '{name}={value}' has a character {character:?} not allowed in a value ({rfc})"
    )]
    ExtensionBadCharacter {
        name: String,
        value: String,
        character: char,
        rfc: &'static str,
    },
    #[error("id={value} must be 1 to 32 letters and digits (RFC 8461 §3.1)")]
    BadStsId { value: String },
    #[error("no id= tag: the policy id is required (RFC 8461 §3.1)")]
    NoStsId,
    #[error("no rua= tag: where to send reports is required (RFC 8460 §3)")]
    NoRua,
    #[error("rua= has an empty URI (RFC 8460 §3)")]
    EmptyRuaUri,
    #[error("rua '{uri}' is not a mailto: address (user@domain)")]
    BadMailto { uri: String },
    #[error("rua '{uri}' is not an https:// URL with a host")]
    BadHttps { uri: String },
    #[error("rua '{uri}' is not a mailto: or https: URI (RFC 8460 §3)")]
    BadRuaScheme { uri: String },
    #[error("v= must be the first tag when present (RFC 6376 §3.6.1)")]
    DkimVersionNotFirst,
    #[error("v={value} is not DKIM1; verifiers discard such records (RFC 6376 §3.6.1)")]
    DkimWrongVersion { value: String },
    /// `value` as written; the check itself ignores case.
    #[error(
        "k={value} is not rsa or ed25519; verifiers cannot use this key (RFC 6376 §3.6.1, RFC 8463)"
    )]
    DkimKeyType { value: String },
    #[error(
        "s={services} does not include email or *, so mail verifiers ignore this key (RFC 6376 §3.6.1)"
    )]
    DkimNotForMail { services: String },
    #[error("no p= tag: the public key is required (RFC 6376 §3.6.1)")]
    DkimNoKey,
    #[error("p= is not valid base64: {0}")]
    DkimBase64(Base64Error),
    #[error(
        "an ed25519 p= must decode to the bare 32-byte key, this one is {bytes} bytes (RFC 8463 §4.2)"
    )]
    Ed25519Length { bytes: usize },
    /// `p=` is base64 but its bytes are neither an RSA SubjectPublicKeyInfo nor a PKCS#1
    /// RSAPublicKey (DER).
    #[error(
        "p= decodes to {bytes} bytes that are not an RSA public key (neither a DER SubjectPublicKeyInfo nor a PKCS#1 RSAPublicKey), so verifiers cannot use it (RFC 6376 §3.6.1)"
    )]
    DkimNotAKey { bytes: usize },
    /// A SubjectPublicKeyInfo for another algorithm (EC, DSA...), given by its OID.
    #[error(
        "p= holds a public key of algorithm {oid}, not RSA: k=rsa verifiers cannot use it (RFC 6376 §3.6.1)"
    )]
    DkimNotRsa { oid: String },
    /// The DER parsed as an RSA key but something follows it.
    #[error("p= has {extra} bytes after the RSA public key")]
    DkimTrailingBytes { extra: usize },
}

/// Why a `p=` value is not strict base64. Positions count characters from 1.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum Base64Error {
    #[error("{count} '=' padding characters, at most 2 are allowed")]
    TooMuchPadding { count: usize },
    #[error("length {length} is not a multiple of 4 (missing '=' padding?)")]
    BadLength { length: usize },
    #[error("'=' at position {position} is padding but is not at the end")]
    PaddingInside { position: usize },
    #[error("character {character:?} at position {position} is not in the base64 alphabet")]
    NotInAlphabet { character: char, position: usize },
}

/// An MTA-STS TXT record: the policy's `id`, which senders compare with the one they cached.
#[derive(Debug, Clone, PartialEq, Eq, serde::Serialize)]
pub struct MtaSts {
    pub id: String,
}

/// A TLS-RPT TXT record: where TLS failure reports go, as written.
#[derive(Debug, Clone, PartialEq, Eq, serde::Serialize)]
pub struct TlsRpt {
    pub rua: Vec<String>,
}

/// A DKIM public key record, summarised for a posture check.
#[derive(Debug, Clone, PartialEq, Eq, serde::Serialize)]
pub struct DkimKey {
    /// `rsa` or `ed25519`, lower-cased.
    pub key_type: String,
    /// Length of the decoded `p=` value: the DER SubjectPublicKeyInfo for RSA, the bare 32-byte
    /// key for Ed25519; 0 when revoked.
    pub public_key_bytes: usize,
    /// The key's size in bits: the RSA modulus's, 256 for Ed25519; 0 when revoked.
    pub bits: usize,
    /// `p=` is empty: RFC 6376 §3.6.1 says the key has been revoked.
    pub revoked: bool,
    /// `t=y`: the domain is testing DKIM; verifiers must treat its mail like unsigned mail even
    /// when the signature fails (RFC 6376 §3.6.1).
    pub testing: bool,
}

/// The FWS characters RFC 6376 §2.8 allows around tags and values (WSP plus a folded CRLF).
fn is_fws(c: char) -> bool {
    matches!(c, ' ' | '\t' | '\r' | '\n')
}

/// Tag-list parsing shared by DMARC, MTA-STS, TLS-RPT and DKIM (`k=v; k2=v2`).
///
/// Follows RFC 6376 §3.2: tags are separated by `;`, whitespace around names, `=` and values is
/// ignored, a value runs to the next `;` (so it may hold `=`, as base64 padding does), and a tag
/// name appearing twice makes the whole list invalid. Names are kept as written and compared
/// case-sensitively here, as RFC 6376 §3.2 says; DMARC, whose names are case-insensitive, checks
/// again after lower-casing. Empty segments (`;;`, a trailing `;`) are skipped rather than
/// rejected: RFC 6376 allows one trailing `;` and real records often carry a stray extra one.
/// Names may hold letters, digits, `_`, `-` and `.` and start with a letter or digit — the union
/// of RFC 6376's tag-name and the extension names of RFC 8461 §3.1 and RFC 8460 §3.
pub fn tag_list(txt: &str) -> Result<Vec<(String, String)>, RecordError> {
    let mut tags: Vec<(String, String)> = Vec::new();
    let segments = txt
        .split(';')
        .map(|s| s.trim_matches(is_fws))
        .filter(|s| !s.is_empty());
    for (i, segment) in segments.enumerate() {
        let position = i + 1;
        let Some((name, value)) = segment.split_once('=') else {
            return Err(RecordError::NoEquals {
                position,
                segment: segment.to_string(),
            });
        };
        let name = name.trim_matches(is_fws);
        let value = value.trim_matches(is_fws);
        if name.is_empty() {
            return Err(RecordError::NoName {
                position,
                segment: segment.to_string(),
            });
        }
        if !is_tag_name(name) {
            return Err(RecordError::BadTagName {
                position,
                segment: segment.to_string(),
                name: name.to_string(),
            });
        }
        if tags.iter().any(|(seen, _)| seen == name) {
            return Err(RecordError::DuplicateTag {
                name: name.to_string(),
            });
        }
        tags.push((name.to_string(), value.to_string()));
    }
    Ok(tags)
}

fn is_tag_name(name: &str) -> bool {
    let mut chars = name.chars();
    chars.next().is_some_and(|c| c.is_ascii_alphanumeric())
        && chars.all(|c| c.is_ascii_alphanumeric() || matches!(c, '_' | '-' | '.'))
}

/// True when `txt` begins with `prefix` followed by the end, WSP or `;` — so `v=STSv1` matches
/// but `v=STSv10` does not. Case-sensitive: RFC 8461 and RFC 8460 write the versions as `%s"..."`.
fn starts_with_version(txt: &str, prefix: &str) -> bool {
    txt.strip_prefix(prefix)
        .is_some_and(|rest| rest.is_empty() || rest.starts_with([';', ' ', '\t']))
}

/// One record among `txts` whose start satisfies `is_kind`; more than one is an error.
fn select_one(
    txts: &[String],
    is_kind: impl Fn(&str) -> bool,
    kind: &'static str,
    rfc: &'static str,
) -> Result<Option<String>, RecordError> {
    let found: Vec<&String> = txts.iter().filter(|t| is_kind(t)).collect();
    match found.as_slice() {
        [] => Ok(None),
        [one] => Ok(Some((*one).clone())),
        many => Err(RecordError::SeveralRecords {
            count: many.len(),
            kind,
            rfc,
        }),
    }
}

/// Checks that the first tag is exactly `v=<version>`: RFC 8461 §3.1 and RFC 8460 §3 put the
/// version first, with case-sensitive text.
fn check_version(
    tags: &[(String, String)],
    version: &'static str,
    rfc: &'static str,
) -> Result<(), RecordError> {
    match tags.first() {
        Some((name, value)) if name == "v" && value == version => Ok(()),
        Some((name, value)) if name == "v" && value.starts_with(version) => {
            Err(RecordError::VersionRunOn {
                value: value.clone(),
                version,
                rfc,
            })
        }
        Some((name, value)) if name == "v" => Err(RecordError::WrongVersion {
            value: value.clone(),
            version,
            rfc,
        }),
        Some((name, value)) => Err(RecordError::VersionNotFirst {
            name: name.clone(),
            value: value.clone(),
            version,
            rfc,
        }),
        None => Err(RecordError::Empty { version, rfc }),
    }
}

/// Extension fields of MTA-STS (RFC 8461 §3.1) and TLS-RPT (RFC 8460 §3) share one grammar:
/// a name of at most 32 characters and a non-empty value without `=`, `;`, space or controls.
/// Unknown extensions are otherwise ignored, but a malformed one makes the record invalid.
fn check_extension(name: &str, value: &str, rfc: &'static str) -> Result<(), RecordError> {
    if name.len() > 32 {
        return Err(RecordError::ExtensionNameTooLong {
            name: name.to_string(),
            rfc,
        });
    }
    if value.is_empty() {
        return Err(RecordError::ExtensionEmpty {
            name: name.to_string(),
            rfc,
        });
    }
    if let Some(character) = value.chars().find(|c| !c.is_ascii_graphic() || *c == '=') {
        return Err(RecordError::ExtensionBadCharacter {
            name: name.to_string(),
            value: value.to_string(),
            character,
            rfc,
        });
    }
    Ok(())
}

/// Picks the MTA-STS record among the TXT strings at `_mta-sts.<domain>`: RFC 8461 §3.1 discards
/// records that do not begin with `v=STSv1`, and more than one remaining means no MTA-STS.
pub fn select_mta_sts(txts: &[String]) -> Result<Option<String>, RecordError> {
    select_one(
        txts,
        |t| starts_with_version(t, "v=STSv1"),
        "MTA-STS (v=STSv1)",
        "RFC 8461 §3.1",
    )
}

/// Parses an MTA-STS TXT record (RFC 8461 §3.1): `v=STSv1; id=<1-32 letters and digits>;`.
pub fn parse_mta_sts(txt: &str) -> Result<MtaSts, RecordError> {
    const RFC: &str = "RFC 8461 §3.1";
    let tags = tag_list(txt)?;
    check_version(&tags, "STSv1", RFC)?;
    let mut id = None;
    for (name, value) in tags.iter().skip(1) {
        // Field names are case-sensitive (`%s"id="`), so `ID=` is an extension, not the id.
        if name == "id" {
            if value.is_empty()
                || value.len() > 32
                || !value.chars().all(|c| c.is_ascii_alphanumeric())
            {
                return Err(RecordError::BadStsId {
                    value: value.clone(),
                });
            }
            id = Some(value.clone());
        } else {
            check_extension(name, value, RFC)?;
        }
    }
    let id = id.ok_or(RecordError::NoStsId)?;
    Ok(MtaSts { id })
}

/// Picks the TLS-RPT record among the TXT strings at `_smtp._tls.<domain>`: RFC 8460 §3 discards
/// records that do not begin with `v=TLSRPTv1`, and more than one remaining means no TLS-RPT.
pub fn select_tls_rpt(txts: &[String]) -> Result<Option<String>, RecordError> {
    select_one(
        txts,
        |t| starts_with_version(t, "v=TLSRPTv1"),
        "TLS-RPT (v=TLSRPTv1)",
        "RFC 8460 §3",
    )
}

/// Parses a TLS-RPT TXT record (RFC 8460 §3): `v=TLSRPTv1; rua=<uri>[,<uri>...]`, where each
/// URI is `mailto:` (an address to send reports to) or `https:` (an endpoint to POST them to).
pub fn parse_tls_rpt(txt: &str) -> Result<TlsRpt, RecordError> {
    const RFC: &str = "RFC 8460 §3";
    let tags = tag_list(txt)?;
    check_version(&tags, "TLSRPTv1", RFC)?;
    let mut rua = None;
    for (name, value) in tags.iter().skip(1) {
        if name == "rua" {
            let uris = value
                .split(',')
                .map(|u| u.trim_matches(is_fws))
                .map(|u| check_report_uri(u).map(|()| u.to_string()))
                .collect::<Result<Vec<String>, RecordError>>()?;
            rua = Some(uris);
        } else {
            check_extension(name, value, RFC)?;
        }
    }
    let rua = rua.ok_or(RecordError::NoRua)?;
    Ok(TlsRpt { rua })
}

/// RFC 8460 §3 allows only `mailto:` and `https:` report URIs. URI schemes are case-insensitive
/// (RFC 3986 §3.1); beyond the scheme we check just enough to catch an empty destination.
fn check_report_uri(uri: &str) -> Result<(), RecordError> {
    if uri.is_empty() {
        return Err(RecordError::EmptyRuaUri);
    }
    let (scheme, rest) = uri.split_once(':').unwrap_or((uri, ""));
    if scheme.eq_ignore_ascii_case("mailto") {
        match rest.split_once('@') {
            Some((local, domain)) if !local.is_empty() && !domain.is_empty() => Ok(()),
            _ => Err(RecordError::BadMailto {
                uri: uri.to_string(),
            }),
        }
    } else if scheme.eq_ignore_ascii_case("https") {
        match rest.strip_prefix("//") {
            Some(host) if !host.is_empty() && !host.starts_with('/') => Ok(()),
            _ => Err(RecordError::BadHttps {
                uri: uri.to_string(),
            }),
        }
    } else {
        Err(RecordError::BadRuaScheme {
            uri: uri.to_string(),
        })
    }
}

/// Parses a DKIM public key record (RFC 6376 §3.6.1; Ed25519 keys per RFC 8463).
///
/// `v=DKIM1` is optional but must be first if present; `k=` is `rsa` (the default) or
/// `ed25519`; `p=` is required and base64, empty meaning revoked; `s=` must include `*` or
/// `email` for the key to apply to mail; `t=y` marks testing. Other tags are ignored, as
/// RFC 6376 §3.6.1 requires of unrecognised tags.
pub fn parse_dkim(txt: &str) -> Result<DkimKey, RecordError> {
    let tags = tag_list(txt)?;
    let get = |name: &str| {
        tags.iter()
            .find(|(n, _)| n == name)
            .map(|(_, v)| v.as_str())
    };

    // Tag names are case-sensitive in DKIM (RFC 6376 §3.2), so only `v` is the version tag.
    if let Some(pos) = tags.iter().position(|(n, _)| n == "v") {
        if pos != 0 {
            return Err(RecordError::DkimVersionNotFirst);
        }
        if let Some(v) = get("v").filter(|v| *v != "DKIM1") {
            return Err(RecordError::DkimWrongVersion {
                value: v.to_string(),
            });
        }
    }

    // ABNF quoted strings are case-insensitive (RFC 5234 §2.3), so `k=RSA` is rsa.
    let key_type = get("k").map_or_else(|| "rsa".to_string(), str::to_ascii_lowercase);
    if key_type != "rsa" && key_type != "ed25519" {
        return Err(RecordError::DkimKeyType {
            value: get("k").unwrap_or_default().to_string(),
        });
    }

    if let Some(services) = get("s") {
        // Verifiers ignore a record whose service list names neither `*` nor `email`.
        if !services
            .split(':')
            .map(|s| s.trim_matches(is_fws))
            .any(|s| s == "*" || s == "email")
        {
            return Err(RecordError::DkimNotForMail {
                services: services.to_string(),
            });
        }
    }

    let testing =
        get("t").is_some_and(|flags| flags.split(':').any(|f| f.trim_matches(is_fws) == "y"));

    let p = get("p").ok_or(RecordError::DkimNoKey)?;
    // base64string allows FWS between characters (RFC 6376 §2.10), e.g. from a folded zone file.
    let p: String = p.chars().filter(|c| !is_fws(*c)).collect();
    if p.is_empty() {
        return Ok(DkimKey {
            key_type,
            public_key_bytes: 0,
            bits: 0,
            revoked: true,
            testing,
        });
    }
    let key = decode_base64(&p).map_err(RecordError::DkimBase64)?;
    // RFC 8463 §4.2: the ed25519 p= is the bare 32-byte key, not a SubjectPublicKeyInfo; a
    // 44-byte value is the common mistake of publishing the DER wrapping.
    let bits = if key_type == "ed25519" {
        if key.len() != 32 {
            return Err(RecordError::Ed25519Length { bytes: key.len() });
        }
        256
    } else {
        rsa_bits(&key)?
    };
    Ok(DkimKey {
        key_type,
        public_key_bytes: key.len(),
        bits,
        revoked: false,
        testing,
    })
}

/// The modulus size of an RSA public key in DER: a SubjectPublicKeyInfo (what RFC 6376 §3.6.1
/// publishes) or a bare PKCS#1 RSAPublicKey (which verifiers such as dkimpy also accept).
fn rsa_bits(der: &[u8]) -> Result<usize, RecordError> {
    use x509_parser::prelude::FromDer;
    use x509_parser::public_key::{PublicKey, RSAPublicKey};
    use x509_parser::x509::SubjectPublicKeyInfo;
    let not_a_key = || RecordError::DkimNotAKey { bytes: der.len() };
    // The DER integer may carry a leading zero byte (a positive number with its top bit set).
    let bits = |rest: &[u8], modulus: &[u8]| {
        if !rest.is_empty() {
            return Err(RecordError::DkimTrailingBytes { extra: rest.len() });
        }
        let significant = match modulus.iter().position(|&b| b != 0) {
            Some(i) => modulus.get(i..).unwrap_or_default(),
            None => return Err(not_a_key()),
        };
        let top = significant.first().copied().unwrap_or_default();
        Ok(significant.len() * 8 - top.leading_zeros() as usize)
    };
    if let Ok((rest, spki)) = SubjectPublicKeyInfo::from_der(der) {
        match spki.parsed() {
            Ok(PublicKey::RSA(rsa)) => bits(rest, rsa.modulus),
            Ok(_) => Err(RecordError::DkimNotRsa {
                oid: spki.algorithm.algorithm.to_id_string(),
            }),
            Err(_) => Err(not_a_key()),
        }
    } else if let Ok((rest, rsa)) = RSAPublicKey::from_der(der) {
        bits(rest, rsa.modulus)
    } else {
        Err(not_a_key())
    }
}

/// Standard-alphabet base64 (RFC 4648 §4) with required `=` padding, whitespace already removed.
/// Hand-written because only this one strict decode is needed; bits past the last full byte
/// are ignored rather than rejected, since they do not change the key length we report.
fn decode_base64(s: &str) -> Result<Vec<u8>, Base64Error> {
    fn value(c: u8) -> Option<u32> {
        match c {
            b'A'..=b'Z' => Some(u32::from(c - b'A')),
            b'a'..=b'z' => Some(u32::from(c - b'a') + 26),
            b'0'..=b'9' => Some(u32::from(c - b'0') + 52),
            b'+' => Some(62),
            b'/' => Some(63),
            _ => None,
        }
    }
    let bytes = s.as_bytes();
    let data = s.trim_end_matches('=').as_bytes();
    let padding = bytes.len() - data.len();
    if padding > 2 {
        return Err(Base64Error::TooMuchPadding { count: padding });
    }
    if !bytes.len().is_multiple_of(4) {
        return Err(Base64Error::BadLength {
            length: bytes.len(),
        });
    }
    let mut out = Vec::with_capacity(bytes.len() / 4 * 3);
    let mut acc: u32 = 0;
    let mut bits = 0u32;
    for (i, &c) in data.iter().enumerate() {
        let Some(v) = value(c) else {
            let character = s
                .get(i..)
                .and_then(|rest| rest.chars().next())
                .unwrap_or('?');
            let position = i + 1;
            return Err(if c == b'=' {
                Base64Error::PaddingInside { position }
            } else {
                Base64Error::NotInAlphabet {
                    character,
                    position,
                }
            });
        };
        acc = (acc << 6) | v;
        bits += 6;
        if bits >= 8 {
            bits -= 8;
            // Truncation to the low byte is the point: `acc` keeps at most 14 bits here.
            out.push(((acc >> bits) & 0xFF) as u8);
        }
        acc &= (1 << bits) - 1;
    }
    Ok(out)
}

#[cfg(test)]
mod tests {
    use super::*;
    use proptest::prelude::*;

    fn strings(v: &[&str]) -> Vec<String> {
        v.iter().map(|s| s.to_string()).collect()
    }

    fn pairs(v: &[(&str, &str)]) -> Vec<(String, String)> {
        v.iter()
            .map(|(a, b)| (a.to_string(), b.to_string()))
            .collect()
    }

    /// Test-only encoder, to check the decoder against independent output.
    fn encode_base64(data: &[u8]) -> String {
        const ALPHABET: &[u8; 64] =
            b"ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789+/";
        let mut out = String::new();
        for chunk in data.chunks(3) {
            let b = [
                chunk[0],
                *chunk.get(1).unwrap_or(&0),
                *chunk.get(2).unwrap_or(&0),
            ];
            let n = (u32::from(b[0]) << 16) | (u32::from(b[1]) << 8) | u32::from(b[2]);
            for i in 0..4 {
                if i <= chunk.len() {
                    out.push(ALPHABET[((n >> (18 - 6 * i)) & 63) as usize] as char);
                } else {
                    out.push('=');
                }
            }
        }
        out
    }

    // A 1024-bit RSA SubjectPublicKeyInfo (162 bytes) made with openssl, as DKIM publishes it.
    const RSA_1024: &str = "MIGfMA0GCSqGSIb3DQEBAQUAA4GNADCBiQKBgQDXJl8Ahdcpgt9MSGTlQexZ1j8LkbN4lnaKx106bWA7U2V1iA1H71JSZkNjaOQ/oH8bJ/UWMXVzRXoLfRgUaGvbRCmqCRHENRrZaVD1hgK9L4PUgWtAc+1SL9z6YND7/EqelPwk2xFpb+mNqiRyiOGBMhXHNlA4N+DXKRHlKgxShQIDAQAB";
    // RFC 8463 Appendix A.2's example Ed25519 key.
    const ED25519: &str = "11qYAYKxCrfVS/7TyWQHOg7hcvPapiMlrwIaaPcHURo=";

    // ---- tag_list ----

    #[test]
    fn tag_list_splits_and_trims() {
        assert_eq!(
            tag_list("v=DMARC1;p=none").unwrap(),
            pairs(&[("v", "DMARC1"), ("p", "none")])
        );
        assert_eq!(
            tag_list("  v = DMARC1 ;\tp=\r\n reject ;  ").unwrap(),
            pairs(&[("v", "DMARC1"), ("p", "reject")])
        );
    }

    #[test]
    fn tag_list_value_runs_to_semicolon_and_keeps_equals_and_inner_space() {
        assert_eq!(
            tag_list("p=QUJD==; n=a b  c").unwrap(),
            pairs(&[("p", "QUJD=="), ("n", "a b  c")])
        );
        assert_eq!(
            tag_list("rua=mailto:a@b.example?subject=x").unwrap(),
            pairs(&[("rua", "mailto:a@b.example?subject=x")])
        );
    }

    #[test]
    fn tag_list_allows_empty_values_and_stray_semicolons() {
        assert_eq!(
            tag_list("p=;;k=rsa;").unwrap(),
            pairs(&[("p", ""), ("k", "rsa")])
        );
        assert_eq!(tag_list("").unwrap(), Vec::<(String, String)>::new());
        assert_eq!(tag_list(" ; ;").unwrap(), Vec::<(String, String)>::new());
    }

    #[test]
    fn tag_list_rejects_duplicates() {
        let e = tag_list("v=DKIM1; p=abc; p=def").unwrap_err().to_string();
        assert!(e.contains("'p' appears more than once"), "{e}");
        assert!(e.contains("RFC 6376 §3.2"), "{e}");
    }

    #[test]
    fn tag_list_names_are_case_sensitive() {
        // RFC 6376 §3.2: `p` and `P` are different tags, so this is not a duplicate.
        assert_eq!(
            tag_list("p=a; P=b").unwrap(),
            pairs(&[("p", "a"), ("P", "b")])
        );
    }

    #[test]
    fn tag_list_rejects_missing_equals_and_bad_names() {
        assert_eq!(
            tag_list("v=DMARC1; reject").unwrap_err().to_string(),
            "tag 2 'reject' has no '='"
        );
        assert_eq!(
            tag_list("=x").unwrap_err().to_string(),
            "tag 1 '=x' has no name before '='"
        );
        let e = tag_list("v=1; a b=c").unwrap_err().to_string();
        assert!(
            e.starts_with("tag 2 'a b=c': 'a b' is not a tag name"),
            "{e}"
        );
        assert!(tag_list("-x=1").is_err());
        assert!(tag_list("x!=1").is_err());
        assert_eq!(
            tag_list("ext_1.a-b=1").unwrap(),
            pairs(&[("ext_1.a-b", "1")])
        );
    }

    proptest! {
        #[test]
        fn tag_list_never_panics(s in "\\PC*") {
            let _ = tag_list(&s);
        }

        #[test]
        fn tag_list_round_trips_with_any_spacing(
            tags in proptest::collection::btree_map("[a-z][a-z0-9_]{0,6}", "[!-:<-~]([ !-:<-~]{0,8}[!-:<-~])?", 0..6),
            ws in proptest::collection::vec("[ \t]{0,3}", 4),
            trailing in any::<bool>(),
        ) {
            let expected: Vec<(String, String)> = tags.into_iter().collect();
            let mut txt = expected
                .iter()
                .map(|(k, v)| format!("{}{k}{}={}{v}{}", ws[0], ws[1], ws[2], ws[3]))
                .collect::<Vec<_>>()
                .join(";");
            if trailing {
                txt.push(';');
            }
            prop_assert_eq!(tag_list(&txt).unwrap(), expected);
        }
    }

    // ---- MTA-STS ----

    #[test]
    fn mta_sts_parses_id() {
        assert_eq!(
            parse_mta_sts("v=STSv1; id=20160831085700Z;").unwrap(),
            MtaSts {
                id: "20160831085700Z".into()
            }
        );
        assert_eq!(parse_mta_sts("v=STSv1;id=a").unwrap().id, "a");
        let id32 = "a".repeat(32);
        assert_eq!(
            parse_mta_sts(&format!("v=STSv1; id={id32}")).unwrap().id,
            id32
        );
    }

    #[test]
    fn mta_sts_rejects_bad_ids() {
        let too_long = format!("v=STSv1; id={}", "a".repeat(33));
        assert!(
            parse_mta_sts(&too_long)
                .unwrap_err()
                .to_string()
                .contains("1 to 32 letters and digits")
        );
        assert!(
            parse_mta_sts("v=STSv1; id=2016-08-31")
                .unwrap_err()
                .to_string()
                .contains("id=2016-08-31")
        );
        assert!(parse_mta_sts("v=STSv1; id=").is_err());
        assert!(
            parse_mta_sts("v=STSv1; id=a; id=b")
                .unwrap_err()
                .to_string()
                .contains("more than once")
        );
    }

    #[test]
    fn mta_sts_requires_id_and_version_first() {
        assert!(
            parse_mta_sts("v=STSv1;")
                .unwrap_err()
                .to_string()
                .contains("no id= tag")
        );
        // `ID` is not `id`: field names are case-sensitive.
        assert!(
            parse_mta_sts("v=STSv1; ID=abc")
                .unwrap_err()
                .to_string()
                .contains("no id= tag")
        );
        assert!(
            parse_mta_sts("id=abc; v=STSv1")
                .unwrap_err()
                .to_string()
                .contains("must start with v=STSv1")
        );
        assert!(
            parse_mta_sts("v=stsv1; id=abc")
                .unwrap_err()
                .to_string()
                .contains("case-sensitive")
        );
        assert!(
            parse_mta_sts("")
                .unwrap_err()
                .to_string()
                .contains("empty record")
        );
        assert_eq!(
            parse_mta_sts("v=STSv1 id=abc").unwrap_err().to_string(),
            "v=STSv1 id=abc is not STSv1: tags must be separated by ';' (RFC 8461 §3.1)"
        );
    }

    #[test]
    fn mta_sts_extensions_are_checked_then_ignored() {
        assert_eq!(
            parse_mta_sts("v=STSv1; id=x1; ext-a.b=val!").unwrap().id,
            "x1"
        );
        assert!(
            parse_mta_sts("v=STSv1; id=x1; ext=")
                .unwrap_err()
                .to_string()
                .contains("empty value")
        );
        assert!(
            parse_mta_sts("v=STSv1; id=x1; ext=a=b")
                .unwrap_err()
                .to_string()
                .contains("not allowed")
        );
        assert!(
            parse_mta_sts("v=STSv1; id=x1; ext=a b")
                .unwrap_err()
                .to_string()
                .contains("not allowed")
        );
        let long = format!("v=STSv1; id=x1; {}=1", "e".repeat(33));
        assert!(
            parse_mta_sts(&long)
                .unwrap_err()
                .to_string()
                .contains("longer than 32")
        );
    }

    #[test]
    fn mta_sts_select() {
        assert_eq!(
            select_mta_sts(&strings(&["v=spf1 -all", "other"])).unwrap(),
            None
        );
        assert_eq!(
            select_mta_sts(&strings(&["v=spf1 -all", "v=STSv1; id=1"])).unwrap(),
            Some("v=STSv1; id=1".into())
        );
        assert_eq!(
            select_mta_sts(&strings(&["v=STSv1"])).unwrap(),
            Some("v=STSv1".into())
        );
        // Version text must match exactly and be the whole first token.
        assert_eq!(
            select_mta_sts(&strings(&[
                "v=STSv10; id=1",
                "v=stsv1; id=1",
                " v=STSv1; id=1"
            ]))
            .unwrap(),
            None
        );
        let e = select_mta_sts(&strings(&["v=STSv1; id=1", "v=STSv1; id=2"]))
            .unwrap_err()
            .to_string();
        assert!(e.starts_with("2 MTA-STS (v=STSv1) records found"), "{e}");
        assert!(e.contains("RFC 8461 §3.1"), "{e}");
    }

    // ---- TLS-RPT ----

    #[test]
    fn tls_rpt_parses_rua_list() {
        assert_eq!(
            parse_tls_rpt("v=TLSRPTv1; rua=mailto:tlsrpt@example.com").unwrap(),
            TlsRpt {
                rua: vec!["mailto:tlsrpt@example.com".into()]
            }
        );
        assert_eq!(
            parse_tls_rpt("v=TLSRPTv1;rua=mailto:a@example.com , HTTPS://reports.example.com/tls;")
                .unwrap()
                .rua,
            vec![
                "mailto:a@example.com".to_string(),
                "HTTPS://reports.example.com/tls".to_string()
            ]
        );
    }

    #[test]
    fn tls_rpt_rejects_bad_uris() {
        assert!(
            parse_tls_rpt("v=TLSRPTv1; rua=ftp://example.com")
                .unwrap_err()
                .to_string()
                .contains("not a mailto: or https: URI")
        );
        assert!(
            parse_tls_rpt("v=TLSRPTv1; rua=http://example.com")
                .unwrap_err()
                .to_string()
                .contains("not a mailto: or https: URI")
        );
        assert!(parse_tls_rpt("v=TLSRPTv1; rua=tlsrpt@example.com").is_err());
        assert!(
            parse_tls_rpt("v=TLSRPTv1; rua=mailto:")
                .unwrap_err()
                .to_string()
                .contains("not a mailto: address")
        );
        assert!(
            parse_tls_rpt("v=TLSRPTv1; rua=mailto:nobody")
                .unwrap_err()
                .to_string()
                .contains("not a mailto: address")
        );
        assert!(
            parse_tls_rpt("v=TLSRPTv1; rua=https://")
                .unwrap_err()
                .to_string()
                .contains("with a host")
        );
        assert!(
            parse_tls_rpt("v=TLSRPTv1; rua=https:/x")
                .unwrap_err()
                .to_string()
                .contains("with a host")
        );
        assert!(
            parse_tls_rpt("v=TLSRPTv1; rua=mailto:a@b.example,")
                .unwrap_err()
                .to_string()
                .contains("empty URI")
        );
        assert!(
            parse_tls_rpt("v=TLSRPTv1; rua=")
                .unwrap_err()
                .to_string()
                .contains("empty URI")
        );
    }

    #[test]
    fn tls_rpt_requires_rua_and_version_first() {
        assert!(
            parse_tls_rpt("v=TLSRPTv1;")
                .unwrap_err()
                .to_string()
                .contains("no rua= tag")
        );
        assert!(
            parse_tls_rpt("rua=mailto:a@b.example; v=TLSRPTv1")
                .unwrap_err()
                .to_string()
                .contains("must start with v=TLSRPTv1")
        );
        assert!(
            parse_tls_rpt("v=TLSRPTv2; rua=mailto:a@b.example")
                .unwrap_err()
                .to_string()
                .contains("v=TLSRPTv2 is not TLSRPTv1")
        );
        assert!(
            parse_tls_rpt("v=TLSRPTv1; rua=mailto:a@b.example; x=")
                .unwrap_err()
                .to_string()
                .contains("empty value")
        );
    }

    #[test]
    fn tls_rpt_select() {
        assert_eq!(select_tls_rpt(&[]).unwrap(), None);
        assert_eq!(
            select_tls_rpt(&strings(&[
                "google-site-verification=x",
                "v=TLSRPTv1;rua=mailto:a@b.example"
            ]))
            .unwrap(),
            Some("v=TLSRPTv1;rua=mailto:a@b.example".into())
        );
        assert_eq!(
            select_tls_rpt(&strings(&["v=TLSRPTv11; rua=mailto:a@b.example"])).unwrap(),
            None
        );
        let e = select_tls_rpt(&strings(&[
            "v=TLSRPTv1; rua=mailto:a@b.example",
            "v=TLSRPTv1 ;rua=mailto:c@d.example",
        ]))
        .unwrap_err()
        .to_string();
        assert!(e.contains("2 TLS-RPT"), "{e}");
    }

    // ---- DKIM ----

    #[test]
    fn dkim_rsa_key() {
        let k = parse_dkim(&format!("v=DKIM1; k=rsa; p={RSA_1024}")).unwrap();
        assert_eq!(
            k,
            DkimKey {
                key_type: "rsa".into(),
                public_key_bytes: 162,
                bits: 1024,
                revoked: false,
                testing: false
            }
        );
    }

    #[test]
    fn dkim_defaults_to_rsa_without_v_or_k() {
        let k = parse_dkim(&format!("p={RSA_1024}")).unwrap();
        assert_eq!(k.key_type, "rsa");
        assert_eq!(k.public_key_bytes, 162);
    }

    #[test]
    fn dkim_ed25519_key() {
        let k = parse_dkim(&format!("v=DKIM1; k=ed25519; p={ED25519}")).unwrap();
        assert_eq!(
            k,
            DkimKey {
                key_type: "ed25519".into(),
                public_key_bytes: 32,
                bits: 256,
                revoked: false,
                testing: false
            }
        );
        assert_eq!(
            parse_dkim(&format!("k=ED25519; p={ED25519}"))
                .unwrap()
                .key_type,
            "ed25519"
        );
    }

    #[test]
    fn dkim_ed25519_must_be_bare_key() {
        let e = parse_dkim(&format!("v=DKIM1; k=ed25519; p={RSA_1024}"))
            .unwrap_err()
            .to_string();
        assert!(e.contains("32-byte") && e.contains("162 bytes"), "{e}");
    }

    #[test]
    fn dkim_empty_p_is_revoked() {
        let k = parse_dkim("v=DKIM1; k=rsa; p=").unwrap();
        assert_eq!(
            k,
            DkimKey {
                key_type: "rsa".into(),
                public_key_bytes: 0,
                bits: 0,
                revoked: true,
                testing: false
            }
        );
        assert!(parse_dkim("v=DKIM1; k=ed25519; p= ;").unwrap().revoked);
    }

    #[test]
    fn dkim_testing_flag() {
        assert!(
            parse_dkim(&format!("t=y; p={ED25519}; k=ed25519"))
                .unwrap()
                .testing
        );
        assert!(parse_dkim(&format!("t=s:y; p={RSA_1024}")).unwrap().testing);
        assert!(
            parse_dkim(&format!("t=s : y ; p={RSA_1024}"))
                .unwrap()
                .testing
        );
        assert!(!parse_dkim(&format!("t=s; p={RSA_1024}")).unwrap().testing);
        assert!(!parse_dkim(&format!("t=yes; p={RSA_1024}")).unwrap().testing);
    }

    #[test]
    fn dkim_p_may_contain_whitespace() {
        // Folded or joined base64 keeps FWS between characters (RFC 6376 §2.10).
        let (a, b) = RSA_1024.split_at(60);
        let k = parse_dkim(&format!("v=DKIM1; p={a} \t {b}")).unwrap();
        assert_eq!(k.public_key_bytes, 162);
    }

    #[test]
    fn dkim_version_rules() {
        let e = parse_dkim(&format!("k=rsa; v=DKIM1; p={RSA_1024}"))
            .unwrap_err()
            .to_string();
        assert!(e.contains("v= must be the first tag"), "{e}");
        let e = parse_dkim(&format!("v=DKIM2; p={RSA_1024}"))
            .unwrap_err()
            .to_string();
        assert!(e.contains("v=DKIM2 is not DKIM1"), "{e}");
        assert!(parse_dkim(&format!("v=dkim1; p={RSA_1024}")).is_err());
    }

    #[test]
    fn dkim_key_type_and_service_rules() {
        let e = parse_dkim(&format!("k=dsa; p={RSA_1024}"))
            .unwrap_err()
            .to_string();
        assert!(e.starts_with("k=dsa is not rsa or ed25519"), "{e}");
        assert!(parse_dkim(&format!("s=email; p={RSA_1024}")).is_ok());
        assert!(parse_dkim(&format!("s=*; p={RSA_1024}")).is_ok());
        assert!(parse_dkim(&format!("s=tlsrpt:email; p={RSA_1024}")).is_ok());
        assert!(
            parse_dkim(&format!("s=tlsrpt; p={RSA_1024}"))
                .unwrap_err()
                .to_string()
                .contains("s=tlsrpt does not include email")
        );
    }

    #[test]
    fn dkim_requires_p() {
        assert!(
            parse_dkim("v=DKIM1; k=rsa")
                .unwrap_err()
                .to_string()
                .contains("no p= tag")
        );
        // `P` is a different (unknown) tag: names are case-sensitive.
        assert!(
            parse_dkim(&format!("v=DKIM1; P={RSA_1024}"))
                .unwrap_err()
                .to_string()
                .contains("no p= tag")
        );
    }

    #[test]
    fn dkim_rejects_invalid_base64() {
        let e = parse_dkim("p=abc$").unwrap_err().to_string();
        assert_eq!(
            e,
            "p= is not valid base64: character '$' at position 4 is not in the base64 alphabet"
        );
        assert!(
            parse_dkim("p=abcde")
                .unwrap_err()
                .to_string()
                .contains("not a multiple of 4")
        );
        assert!(
            parse_dkim("p=ab=c")
                .unwrap_err()
                .to_string()
                .contains("'=' at position 3 is padding")
        );
        assert!(
            parse_dkim("p=ab=cdefg")
                .unwrap_err()
                .to_string()
                .contains("'=' at position 3 is padding")
        );
        assert!(
            parse_dkim("p=a===")
                .unwrap_err()
                .to_string()
                .contains("3 '=' padding")
        );
        assert!(
            parse_dkim("p=ab-_")
                .unwrap_err()
                .to_string()
                .contains("'-'")
        );
        assert!(parse_dkim("p=abcé").is_err());
    }

    #[test]
    fn errors_carry_their_data() {
        assert_eq!(
            parse_dkim("p=abc$"),
            Err(RecordError::DkimBase64(Base64Error::NotInAlphabet {
                character: '$',
                position: 4,
            }))
        );
        assert_eq!(
            parse_tls_rpt("v=TLSRPTv1; rua=mailto:a@b.example; x=a b"),
            Err(RecordError::ExtensionBadCharacter {
                name: "x".into(),
                value: "a b".into(),
                character: ' ',
                rfc: "RFC 8460 §3",
            })
        );
        assert_eq!(
            select_mta_sts(&strings(&[
                "v=STSv1; id=1",
                "v=STSv1; id=2",
                "v=STSv1; id=3"
            ])),
            Err(RecordError::SeveralRecords {
                count: 3,
                kind: "MTA-STS (v=STSv1)",
                rfc: "RFC 8461 §3.1",
            })
        );
    }

    #[test]
    fn base64_known_vectors() {
        // RFC 4648 §10 test vectors.
        for (plain, enc) in [
            ("", ""),
            ("f", "Zg=="),
            ("fo", "Zm8="),
            ("foo", "Zm9v"),
            ("foob", "Zm9vYg=="),
            ("fooba", "Zm9vYmE="),
            ("foobar", "Zm9vYmFy"),
        ] {
            assert_eq!(decode_base64(enc).unwrap(), plain.as_bytes(), "{enc}");
            assert_eq!(encode_base64(plain.as_bytes()), enc);
        }
    }

    proptest! {
        #[test]
        fn base64_round_trips(data in proptest::collection::vec(any::<u8>(), 0..300)) {
            prop_assert_eq!(decode_base64(&encode_base64(&data)).unwrap(), data);
        }

        #[test]
        fn dkim_random_bytes_are_no_key(data in proptest::collection::vec(any::<u8>(), 1..600)) {
            // Bytes that happen to be DER of an RSA key are vanishingly rare; anything else
            // must be refused, never reported as a key.
            match parse_dkim(&format!("v=DKIM1; k=rsa; p={}", encode_base64(&data))) {
                Ok(k) => prop_assert!(k.bits > 0 && k.public_key_bytes == data.len()),
                Err(e) => prop_assert!(matches!(
                    e,
                    RecordError::DkimNotAKey { .. }
                        | RecordError::DkimNotRsa { .. }
                        | RecordError::DkimTrailingBytes { .. }
                ), "{e}"),
            }
        }

        #[test]
        fn parsers_never_panic(s in "\\PC*") {
            let _ = parse_dkim(&s);
            let _ = parse_mta_sts(&s);
            let _ = parse_tls_rpt(&s);
            let _ = decode_base64(&s);
        }
    }
}
