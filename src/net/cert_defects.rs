//! From what the verifier said and the chain as sent to the defect an operator fixes: a
//! self-signed certificate, a private root, a missing intermediate, a weak key or hash, a name
//! only in the CN. The verifier's error says where verification stopped; the certificates
//! say why, so both are read (the library's error alone calls a 1024-bit key a "bad
//! signature" and a self-signed certificate "other").

use rustls::pki_types::{CertificateDer, ServerName};
use rustls::{CertificateError, RootCertStore};
use x509_parser::prelude::X509Certificate;

use super::tls::summarize_cert;
use crate::advice::{Control, FrontEnd};
use crate::tls_info::{CertDefect, CertSummary, RSA_MIN_BITS};

/// A public key as an operator compares it against policy.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct KeyFacts {
    /// "RSA", "EC", "Ed25519", or the algorithm's name.
    pub algorithm: String,
    /// The RSA modulus size; `None` for other keys, whose size follows from the curve.
    pub bits: Option<u32>,
    /// "RSA 2048", "EC P-256", "Ed25519".
    pub label: String,
}

/// Reads the key of a certificate's SubjectPublicKeyInfo.
pub fn key_facts(spki: &x509_parser::x509::SubjectPublicKeyInfo<'_>) -> KeyFacts {
    use x509_parser::public_key::PublicKey;
    let curve = || {
        spki.algorithm
            .parameters
            .as_ref()
            .and_then(|p| p.as_oid().ok())
            .map(|oid| match oid.to_id_string().as_str() {
                "1.2.840.10045.3.1.7" => "P-256".to_string(),
                "1.3.132.0.34" => "P-384".to_string(),
                "1.3.132.0.35" => "P-521".to_string(),
                _ => oid_name(&oid),
            })
            .unwrap_or_else(|| "unknown curve".into())
    };
    let other = |algorithm: String| KeyFacts {
        label: algorithm.clone(),
        algorithm,
        bits: None,
    };
    match spki.parsed() {
        Ok(PublicKey::RSA(rsa)) => {
            let modulus = rsa.modulus;
            let first = modulus
                .iter()
                .position(|b| *b != 0)
                .unwrap_or(modulus.len());
            let bits = modulus[first..].first().map_or(0, |b| {
                (modulus.len() - first) * 8 - b.leading_zeros() as usize
            });
            let bits = u32::try_from(bits).unwrap_or(u32::MAX);
            KeyFacts {
                algorithm: "RSA".into(),
                bits: Some(bits),
                label: format!("RSA {bits}"),
            }
        }
        Ok(PublicKey::EC(_)) => KeyFacts {
            algorithm: "EC".into(),
            bits: None,
            label: format!("EC {}", curve()),
        },
        _ => match spki.algorithm.algorithm.to_id_string().as_str() {
            "1.3.101.112" => other("Ed25519".into()),
            "1.3.101.113" => other("Ed448".into()),
            _ => other(oid_name(&spki.algorithm.algorithm)),
        },
    }
}

pub fn oid_name(oid: &x509_parser::oid_registry::Oid<'_>) -> String {
    x509_parser::objects::oid2sn(oid, x509_parser::objects::oid_registry())
        .map(str::to_string)
        .unwrap_or_else(|_| oid.to_id_string())
}

/// The broken hash a signature algorithm uses, if it uses one: verifiers refuse SHA-1 and
/// MD5 in certificates (collisions are practical), and rustls knows neither.
fn weak_hash(oid: &str) -> Option<&'static str> {
    match oid {
        // sha1WithRSAEncryption, the old OIW sha1WithRSASignature, ecdsa-with-SHA1,
        // dsa-with-sha1.
        "1.2.840.113549.1.1.5" | "1.3.14.3.2.29" | "1.2.840.10045.4.1" | "1.2.840.10040.4.3" => {
            Some("SHA-1")
        }
        "1.2.840.113549.1.1.4" => Some("MD5"),
        "1.2.840.113549.1.1.2" => Some("MD2"),
        _ => None,
    }
}

/// What one certificate of the chain tells, beyond its display summary.
struct Facts {
    summary: CertSummary,
    key: Option<KeyFacts>,
    /// The signature algorithm's name and its broken hash, if it has one.
    weak_signature: Option<(String, &'static str)>,
    /// subjectAltName DNS names and addresses; empty when there is none.
    has_san_names: bool,
    common_name: Option<String>,
}

fn facts(der: &CertificateDer<'_>) -> Facts {
    let summary = summarize_cert(der);
    let parsed = x509_parser::parse_x509_certificate(der).ok();
    let Some((_, cert)) = parsed else {
        return Facts {
            summary,
            key: None,
            weak_signature: None,
            has_san_names: false,
            common_name: None,
        };
    };
    let sig_oid = &cert.signature_algorithm.algorithm;
    Facts {
        key: Some(key_facts(cert.public_key())),
        weak_signature: weak_hash(&sig_oid.to_id_string()).map(|h| (oid_name(sig_oid), h)),
        has_san_names: san_names(&cert),
        common_name: cert
            .subject()
            .iter_common_name()
            .next()
            .and_then(|cn| cn.as_str().ok())
            .map(str::to_string),
        summary,
    }
}

fn san_names(cert: &X509Certificate<'_>) -> bool {
    use x509_parser::extensions::GeneralName;
    match cert.subject_alternative_name() {
        Ok(Some(ext)) => ext
            .value
            .general_names
            .iter()
            .any(|n| matches!(n, GeneralName::DNSName(_) | GeneralName::IPAddress(_))),
        _ => false,
    }
}

/// A weak key in certificate `position` (1-based), or none.
fn weak_key(position: usize, f: &Facts, handshake: bool) -> Option<CertDefect> {
    let key = f.key.as_ref()?;
    match (key.algorithm.as_str(), key.bits) {
        ("RSA", Some(bits)) if bits < RSA_MIN_BITS => Some(CertDefect::WeakKey {
            position,
            subject: f.summary.subject.clone(),
            algorithm: key.algorithm.clone(),
            bits,
            minimum: RSA_MIN_BITS,
            handshake,
        }),
        _ => None,
    }
}

/// A broken-hash signature on certificate `position`. A self-signed certificate's own
/// signature is never checked (a root is trusted for its key, not its signature), so it
/// does not count.
fn weak_signature(position: usize, f: &Facts) -> Option<CertDefect> {
    if f.summary.self_signed {
        return None;
    }
    let (algorithm, hash) = f.weak_signature.as_ref()?;
    Some(CertDefect::WeakSignature {
        position,
        subject: f.summary.subject.clone(),
        algorithm: algorithm.clone(),
        hash: (*hash).to_string(),
    })
}

/// The defects the chain shows by itself, whatever the verifier concluded: weak keys and
/// broken-hash signatures, certificate by certificate.
pub fn chain_defects(chain: &[CertificateDer<'_>]) -> Vec<CertDefect> {
    let mut out = Vec::new();
    for (i, f) in chain.iter().map(facts).enumerate() {
        out.extend(weak_key(i + 1, &f, false));
        out.extend(weak_signature(i + 1, &f));
    }
    out
}

/// Why the server's handshake signature failed: its key, read from the certificate that
/// signed it. ring verifies RSA only from 2048 bits, so a smaller key fails here even when
/// verification of the certificate itself was switched off.
pub fn handshake_defect(leaf: &CertificateDer<'_>) -> CertDefect {
    let f = facts(leaf);
    weak_key(1, &f, true).unwrap_or_else(|| CertDefect::BadHandshakeSignature {
        key: f
            .key
            .map_or_else(|| "unreadable key".to_string(), |k| k.label),
    })
}

/// Whether `der` is itself one of `roots` (same subject and key), so trusted as it is.
fn is_anchor(der: &CertificateDer<'_>, roots: Option<&RootCertStore>) -> bool {
    let (Some(roots), Ok(anchor)) = (roots, webpki::anchor_from_trusted_cert(der)) else {
        return false;
    };
    roots.roots.iter().any(|r| {
        r.subject.as_ref() == anchor.subject.as_ref()
            && r.subject_public_key_info.as_ref() == anchor.subject_public_key_info.as_ref()
    })
}

/// For an unknown issuer: follow the chain as sent from the server certificate, issuer by
/// issuer. It ends at a self-signed root (complete, but not trusted: a private CA), or at a
/// certificate whose issuer was not sent (a missing intermediate).
fn trust_defect(chain: &[Facts]) -> CertDefect {
    let Some(leaf) = chain.first() else {
        return CertDefect::UnknownIssuer {
            issuer: "(no certificate)".into(),
        };
    };
    if leaf.summary.self_signed {
        return CertDefect::SelfSigned {
            subject: leaf.summary.subject.clone(),
            is_ca: leaf.summary.is_ca,
        };
    }
    let mut at = 0;
    // Each step moves to another certificate; more steps than certificates is a loop.
    for _ in 0..chain.len() {
        let wanted = &chain[at].summary.issuer;
        let next = chain
            .iter()
            .enumerate()
            .position(|(j, c)| j != at && &c.summary.subject == wanted);
        match next {
            None => {
                return CertDefect::MissingIntermediate {
                    issuer: wanted.clone(),
                };
            }
            Some(j) if chain[j].summary.self_signed => {
                return CertDefect::UntrustedRoot {
                    root: chain[j].summary.subject.clone(),
                };
            }
            Some(j) => at = j,
        }
    }
    CertDefect::UnknownIssuer {
        issuer: chain[at].summary.issuer.clone(),
    }
}

/// Classifies a verification failure. `chain` is leaf first, as sent; `roots` the trust
/// anchors when known (a CA file, the Mozilla list; `None` for the platform's store).
pub fn classify(
    e: &rustls::Error,
    name: &ServerName<'_>,
    chain: &[CertificateDer<'_>],
    roots: Option<&RootCertStore>,
) -> CertDefect {
    let facts: Vec<Facts> = chain.iter().map(facts).collect();
    let leaf = facts.first();
    let wanted = name.to_str().to_string();
    let first_weak_signature = || {
        facts
            .iter()
            .enumerate()
            .find_map(|(i, f)| weak_signature(i + 1, f))
    };
    // A signature that does not verify with an issuer's key: a key ring refuses, if any.
    let weak_issuer_key = || {
        facts
            .iter()
            .enumerate()
            .skip(1)
            .find_map(|(i, f)| weak_key(i + 1, f, false))
    };
    let cert = match e {
        rustls::Error::InvalidCertificate(cert) => cert,
        other => {
            return CertDefect::Other {
                detail: other.to_string(),
            };
        }
    };
    match cert {
        CertificateError::UnknownIssuer => trust_defect(&facts),
        CertificateError::NotValidForNameContext { presented, .. } if !presented.is_empty() => {
            CertDefect::NameMismatch {
                wanted,
                present: presented.iter().map(|p| plain_name(p)).collect(),
            }
        }
        CertificateError::NotValidForNameContext { .. } | CertificateError::NotValidForName => {
            match leaf {
                Some(f) if !f.has_san_names && f.common_name.is_some() => {
                    CertDefect::NameOnlyInCn {
                        wanted,
                        common_name: f.common_name.clone().unwrap_or_default(),
                    }
                }
                _ => CertDefect::NameMismatch {
                    wanted,
                    present: leaf.map(|f| f.summary.sans.clone()).unwrap_or_default(),
                },
            }
        }
        CertificateError::ExpiredContext { time, not_after } => CertDefect::Expired {
            not_after: unix_to_string(not_after.as_secs()),
            checked_at: unix_to_string(time.as_secs()),
        },
        CertificateError::Expired => CertDefect::Expired {
            not_after: leaf
                .map(|f| f.summary.not_after.clone())
                .unwrap_or_default(),
            checked_at: "now".into(),
        },
        CertificateError::NotValidYetContext { time, not_before } => CertDefect::NotYetValid {
            not_before: unix_to_string(not_before.as_secs()),
            checked_at: unix_to_string(time.as_secs()),
        },
        CertificateError::NotValidYet => CertDefect::NotYetValid {
            not_before: leaf
                .map(|f| f.summary.not_before.clone())
                .unwrap_or_default(),
            checked_at: "now".into(),
        },
        CertificateError::Revoked => CertDefect::Revoked,
        CertificateError::BadSignature => weak_issuer_key().unwrap_or(CertDefect::BadSignature),
        CertificateError::UnsupportedSignatureAlgorithmContext {
            signature_algorithm_id,
            ..
        }
        | CertificateError::UnsupportedSignatureAlgorithmForPublicKeyContext {
            signature_algorithm_id,
            ..
        } => first_weak_signature()
            .or_else(weak_issuer_key)
            .unwrap_or_else(|| CertDefect::UnsupportedSignature {
                algorithm: algorithm_name(signature_algorithm_id.as_ref()),
            }),
        #[allow(deprecated)] // still produced by some verifiers
        CertificateError::UnsupportedSignatureAlgorithm => first_weak_signature()
            .or_else(weak_issuer_key)
            .unwrap_or_else(|| CertDefect::UnsupportedSignature {
                algorithm: "an unknown algorithm".into(),
            }),
        CertificateError::InvalidPurpose | CertificateError::InvalidPurposeContext { .. } => {
            CertDefect::NotForServers
        }
        CertificateError::UnknownRevocationStatus => CertDefect::Other {
            detail: "the certificate's revocation status is unknown".into(),
        },
        CertificateError::Other(other) => match other.0.downcast_ref::<webpki::Error>() {
            Some(webpki::Error::CaUsedAsEndEntity) => match (leaf, chain.first()) {
                // A self-signed CA certificate (what `openssl req -x509` makes) that is not
                // in the trust store: what the operator knows it as is "self-signed".
                (Some(f), Some(der)) if f.summary.self_signed && !is_anchor(der, roots) => {
                    CertDefect::SelfSigned {
                        subject: f.summary.subject.clone(),
                        is_ca: true,
                    }
                }
                _ => CertDefect::CaAsServer {
                    subject: leaf.map(|f| f.summary.subject.clone()).unwrap_or_default(),
                },
            },
            Some(w) => CertDefect::Other {
                detail: webpki_words(w),
            },
            // rustls-platform-verifier reports a wrong extended key usage this way.
            None if other.to_string().to_ascii_lowercase().contains("usage") => {
                CertDefect::NotForServers
            }
            None => CertDefect::Other {
                detail: format!("invalid certificate: {other}"),
            },
        },
        other => CertDefect::Other {
            detail: format!("invalid certificate: {}", variant_words(other)),
        },
    }
}

/// The webpki failures without a variant of their own, in words.
fn webpki_words(e: &webpki::Error) -> String {
    match e {
        webpki::Error::EndEntityUsedAsCa => {
            "a certificate that is not a CA (basicConstraints CA:FALSE) issued another one in the chain".into()
        }
        webpki::Error::UnsupportedCertVersion => {
            "an X.509 version 1 certificate: verifiers need version 3 (with extensions)".into()
        }
        webpki::Error::PathLenConstraintViolated => {
            "the chain is longer than a CA's path length constraint allows".into()
        }
        webpki::Error::NameConstraintViolation => {
            "the certificate names a host outside its CA's name constraints".into()
        }
        webpki::Error::CertDistrusted => "the certificate's key is explicitly distrusted".into(),
        other => format!("invalid certificate: {}", variant_words(other)),
    }
}

/// A library's variant name in words ("UnhandledCriticalExtension" → "unhandled critical
/// extension"), without its fields' Debug noise: never the name itself.
fn variant_words(e: &dyn std::fmt::Debug) -> String {
    let debug = format!("{e:?}");
    let variant = debug.split(['(', ' ', '{']).next().unwrap_or("");
    let mut out = String::new();
    for (i, c) in variant.chars().enumerate() {
        if c.is_ascii_uppercase() && i > 0 {
            out.push(' ');
        }
        out.push(c.to_ascii_lowercase());
    }
    out
}

/// The name of a signature algorithm from its AlgorithmIdentifier contents (the OID first).
fn algorithm_name(id: &[u8]) -> String {
    match id {
        [0x06, len, rest @ ..] if usize::from(*len) <= rest.len() => {
            let oid = x509_parser::oid_registry::Oid::new(std::borrow::Cow::Borrowed(
                &rest[..usize::from(*len)],
            ));
            oid_name(&oid)
        }
        _ => "an unknown algorithm".into(),
    }
}

/// A name from a certificate as people write it: rustls reports the names it saw in their
/// Debug form (`DnsName("mail.example")`, `IpAddress(192.0.2.1)`).
pub fn plain_name(presented: &str) -> String {
    let inner = presented
        .split_once('(')
        .filter(|(kind, rest)| {
            !kind.is_empty()
                && kind.chars().all(|c| c.is_ascii_alphanumeric())
                && rest.ends_with(')')
        })
        .map_or(presented, |(_, rest)| &rest[..rest.len() - 1]);
    inner.trim_matches('"').to_string()
}

fn unix_to_string(secs: u64) -> String {
    i64::try_from(secs)
        .ok()
        .and_then(|s| jiff::Timestamp::from_second(s).ok())
        .map(|t| t.to_string())
        .unwrap_or_else(|| format!("{secs} (unix time)"))
}

/// What the operator can do about `defect`, in the words of the front end in use: the
/// settings that get past it, and only those (a CA file cannot make a CA certificate a
/// server's, and nothing gets past a key too weak for the handshake).
pub fn advice(defect: &CertDefect, fe: FrontEnd) -> String {
    let insecure = fe.name(Control::Insecure);
    let ca_file = fe.name(Control::CaFile);
    match defect {
        CertDefect::WeakKey {
            handshake: true,
            minimum,
            ..
        } => format!(
            "no setting gets past this: the server needs a new key of at least {minimum} bits"
        ),
        CertDefect::BadHandshakeSignature { .. } => {
            "no setting gets past this: the server did not sign the handshake with the key of the certificate it sent".into()
        }
        CertDefect::UntrustedRoot { .. } => {
            format!(
                "pass the root with {ca_file} if you trust it, or use {insecure} to continue anyway"
            )
        }
        CertDefect::SelfSigned { is_ca: false, .. } => format!(
            "pass the certificate with {ca_file} if you trust it, or use {insecure} to continue anyway"
        ),
        CertDefect::SelfSigned { is_ca: true, .. } | CertDefect::CaAsServer { .. } => format!(
            "it is a CA certificate (CA:TRUE), which no CA file makes acceptable as a server's; use {insecure} to continue anyway"
        ),
        CertDefect::MissingIntermediate { .. } | CertDefect::UnknownIssuer { .. } => format!(
            "the server should send its intermediate certificates; if the issuer is a private CA, pass it with {ca_file}; or use {insecure} to continue anyway"
        ),
        CertDefect::NameMismatch { .. } | CertDefect::NameOnlyInCn { .. } => format!(
            "use {} to check another name, or {insecure} to continue anyway",
            fe.name(Control::TlsName)
        ),
        _ => format!("use {insecure} to continue anyway"),
    }
}

#[cfg(test)]
#[allow(clippy::unwrap_used, clippy::expect_used)] // test code
mod tests {
    use super::*;
    use std::sync::Arc;

    fn name(n: &str) -> ServerName<'static> {
        ServerName::try_from(n.to_string()).unwrap()
    }

    #[test]
    fn a_name_mismatch_names_both_sides_in_plain_words() {
        let wanted = name("wrong.host.invalid");
        let e = rustls::Error::InvalidCertificate(CertificateError::NotValidForNameContext {
            expected: wanted.clone(),
            presented: vec![
                r#"DnsName("localhost")"#.into(),
                "IpAddress(127.0.0.1)".into(),
            ],
        });
        assert_eq!(
            classify(&e, &wanted, &[], None).to_string(),
            "name mismatch: wanted wrong.host.invalid, the certificate is for localhost, 127.0.0.1"
        );
        let other = rustls::Error::InvalidCertificate(CertificateError::UnhandledCriticalExtension);
        assert_eq!(
            classify(&other, &wanted, &[], None).to_string(),
            "invalid certificate: unhandled critical extension"
        );
        assert_eq!(plain_name("mail.example"), "mail.example");
    }

    #[test]
    fn a_self_signed_ca_certificate_is_called_self_signed_unless_trusted() {
        let key = rcgen::KeyPair::generate().unwrap();
        let mut params = rcgen::CertificateParams::new(vec!["localhost".to_string()]).unwrap();
        params.is_ca = rcgen::IsCa::Ca(rcgen::BasicConstraints::Unconstrained);
        let cert = params.self_signed(&key).unwrap();
        let chain = [cert.der().clone()];
        let e = rustls::Error::InvalidCertificate(CertificateError::Other(rustls::OtherError(
            Arc::new(webpki::Error::CaUsedAsEndEntity),
        )));
        let host = name("localhost");
        let d = classify(&e, &host, &chain, None);
        assert_eq!(
            d,
            CertDefect::SelfSigned {
                subject: "CN=rcgen self signed cert".into(),
                is_ca: true
            }
        );
        let mut roots = RootCertStore::empty();
        roots.add(cert.der().clone()).unwrap();
        let d = classify(&e, &host, &chain, Some(&roots));
        assert!(matches!(d, CertDefect::CaAsServer { .. }), "{d:?}");
        assert!(advice(&d, FrontEnd::Cli).contains("--insecure"));
        assert!(!advice(&d, FrontEnd::Cli).contains("--ca-file"));
    }

    #[test]
    fn the_advice_names_only_what_helps_in_the_front_ends_words() {
        let root = CertDefect::UntrustedRoot {
            root: "CN=private".into(),
        };
        assert!(advice(&root, FrontEnd::Cli).starts_with("pass the root with --ca-file"));
        let tui = advice(&root, FrontEnd::Tui);
        assert!(tui.contains("ca_file in the profile"), "{tui}");
        assert!(!tui.contains("--"), "{tui}");
        let weak = CertDefect::WeakKey {
            position: 1,
            subject: String::new(),
            algorithm: "RSA".into(),
            bits: 1024,
            minimum: RSA_MIN_BITS,
            handshake: true,
        };
        assert!(!advice(&weak, FrontEnd::Cli).contains("--insecure"));
        let forged = CertDefect::BadHandshakeSignature {
            key: "EC P-256".into(),
        };
        assert!(advice(&forged, FrontEnd::Cli).starts_with("no setting gets past this"));
    }

    #[test]
    fn algorithm_names_come_from_the_oid() {
        // 1.2.840.113549.1.1.5, then NULL parameters.
        let sha1 = [
            0x06, 0x09, 0x2a, 0x86, 0x48, 0x86, 0xf7, 0x0d, 0x01, 0x01, 0x05, 0x05, 0x00,
        ];
        assert_eq!(algorithm_name(&sha1), "sha1WithRSAEncryption");
        assert_eq!(algorithm_name(&[0x05, 0x00]), "an unknown algorithm");
        assert_eq!(weak_hash("1.2.840.113549.1.1.5"), Some("SHA-1"));
        assert_eq!(weak_hash("1.2.840.113549.1.1.11"), None);
    }
}
