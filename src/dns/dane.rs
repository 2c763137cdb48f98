//! DANE for SMTP (RFC 7672, RFC 6698): the TLSA records at `_25._tcp.<mx>`, matched against
//! the chain the MX serves, with the resolver's DNSSEC verdict (the AD bit) reported. Only
//! usages 2 (DANE-TA) and 3 (DANE-EE) count for SMTP (RFC 7672 §3.1.3).

use std::sync::Arc;
use std::time::Instant;

use rustls::client::WebPkiServerVerifier;
use rustls::client::danger::ServerCertVerifier;
use rustls::pki_types::{CertificateDer, UnixTime};

use super::posture::{result_with, step};
use super::resolve::{Dns, TlsaRecord};
use crate::net::exchange::reach_tls;
use crate::net::tlsa::{AssociationError, DaneEe};
use crate::net::{ConnectOptions, NetError};
use crate::scenario::Verdict;
use crate::scenario::runner::ScenarioResult;

/// Why a TLSA record cannot be used, or why the chain from its trust anchor does not verify.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum DaneError {
    #[error("certificate does not parse: {0}")]
    Unparsable(String),
    #[error("selector {0} is not defined (0 or 1)")]
    Selector(u8),
    #[error("matching type {0} is not defined (0, 1 or 2)")]
    Matching(u8),
    #[error(
        "usage {usage} (PKIX-{kind}) is not used for SMTP (RFC 7672 §3.1.3): publish usage 3 or 2"
    )]
    PkixUsage { usage: u8, kind: &'static str },
    #[error("usage {0} is not defined")]
    Usage(u8),
    #[error("the trust anchor is not a usable CA certificate: {0}")]
    Anchor(String),
    #[error("{0}")]
    Name(String),
    #[error("{0}")]
    Unverified(crate::tls_info::CertDefect),
}

/// How one TLSA record relates to the served chain.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum RecordMatch {
    /// Usage 3: the server certificate matches (names and dates are not checked, RFC 7672
    /// §3.1.1).
    EndEntity,
    /// Usage 2: certificate `index` of the chain (1-based as shown) matches; `chain` is whether
    /// the chain from it to the server certificate verifies for the MX host name.
    TrustAnchor {
        index: usize,
        chain: Result<(), DaneError>,
    },
    NoMatch,
    /// A usage, selector or matching type that SMTP cannot use.
    Unusable(DaneError),
}

impl RecordMatch {
    pub fn usable_match(&self) -> bool {
        matches!(
            self,
            RecordMatch::EndEntity | RecordMatch::TrustAnchor { chain: Ok(()), .. }
        )
    }
}

/// The certificate association data of `cert` under `selector` and `matching`, or why not.
fn association(cert: &[u8], selector: u8, matching: u8) -> Result<Vec<u8>, DaneError> {
    crate::net::tlsa::association(cert, selector, matching).map_err(|e| match e {
        AssociationError::Unparsable(why) => DaneError::Unparsable(why),
        AssociationError::Selector(s) => DaneError::Selector(s),
        AssociationError::Matching(m) => DaneError::Matching(m),
    })
}

/// Matches one record against `chain` (leaf first, DER) for the MX `host`.
pub fn match_record(rec: &TlsaRecord, chain: &[Vec<u8>], host: &str) -> RecordMatch {
    let matches = |cert: &[u8]| -> Result<bool, DaneError> {
        Ok(association(cert, rec.selector, rec.matching)? == rec.data)
    };
    match rec.usage {
        3 => match chain.first().map(|leaf| matches(leaf)) {
            Some(Ok(true)) => RecordMatch::EndEntity,
            Some(Ok(false)) | None => RecordMatch::NoMatch,
            Some(Err(e)) => RecordMatch::Unusable(e),
        },
        2 => {
            // The trust anchor must be among the certificates the server sends (RFC 7672
            // §3.1.2); the server certificate itself is usage 3's business.
            for (i, cert) in chain.iter().enumerate().skip(1) {
                match matches(cert) {
                    Ok(true) => {
                        return RecordMatch::TrustAnchor {
                            index: i + 1,
                            chain: verify_to_anchor(chain, i, host),
                        };
                    }
                    Ok(false) => {}
                    Err(e) => return RecordMatch::Unusable(e),
                }
            }
            RecordMatch::NoMatch
        }
        0 | 1 => RecordMatch::Unusable(DaneError::PkixUsage {
            usage: rec.usage,
            kind: if rec.usage == 0 { "TA" } else { "EE" },
        }),
        other => RecordMatch::Unusable(DaneError::Usage(other)),
    }
}

/// Verifies the server certificate up to `chain[anchor]` taken as the only trust anchor, for
/// `host`, now.
fn verify_to_anchor(chain: &[Vec<u8>], anchor: usize, host: &str) -> Result<(), DaneError> {
    let provider = crate::net::tls::provider();
    let mut roots = rustls::RootCertStore::empty();
    roots
        .add(CertificateDer::from(chain[anchor].clone()))
        .map_err(|e| DaneError::Anchor(e.to_string()))?;
    let verifier = WebPkiServerVerifier::builder_with_provider(Arc::new(roots), provider)
        .build()
        .map_err(|e| DaneError::Anchor(e.to_string()))?;
    let name = crate::net::tls::server_name(host).map_err(|e| DaneError::Name(e.to_string()))?;
    let leaf = CertificateDer::from(chain[0].clone());
    let intermediates: Vec<CertificateDer<'_>> = chain[1..anchor]
        .iter()
        .map(|c| CertificateDer::from(c.clone()))
        .collect();
    verifier
        .verify_server_cert(&leaf, &intermediates, &name, &[], UnixTime::now())
        .map(|_| ())
        .map_err(|e| {
            // The chain up to the anchor, as verified, names the defect better than the error.
            let sent: Vec<CertificateDer<'_>> = chain[..=anchor]
                .iter()
                .map(|c| CertificateDer::from(c.as_slice()))
                .collect();
            DaneError::Unverified(crate::net::cert_defects::classify(&e, &name, &sent, None))
        })
}

/// The chain `host` serves on `opts`, read with verification off: DANE, not the WebPKI,
/// decides here. Only EHLO goes out inside that TLS.
async fn served_chain(opts: &ConnectOptions, helo: &str) -> Result<Vec<Vec<u8>>, NetError> {
    let reached = reach_tls(opts, helo, true).await;
    reached.result?;
    reached
        .info
        .map(|t| t.chain_der)
        .ok_or(NetError::Handshake {
            reason: "no TLS session".into(),
        })
}

const ROLLOVER_HINT: &str = "if the certificate or key was just renewed, publish the new record next to the old one, wait two TTLs, then switch (RFC 7671 §8.1); otherwise remove the stale record";

/// Why a record matches nothing the server sent, and what to do. DANE-TA needs its trust
/// anchor in the chain as sent (RFC 7672 §3.1.2): a CA the server leaves out is the likelier
/// fault than a stale record.
fn no_match_reason(usage: u8, sent: usize) -> String {
    if usage == 2 {
        format!(
            "matches no certificate of the {sent} the server sent: with DANE-TA (usage 2) the server must send the trust-anchor certificate in its chain (RFC 7672 §3.1.2), so send it; if it is sent already, the record is stale: {ROLLOVER_HINT}"
        )
    } else {
        format!(
            "matches no certificate of the {sent} the server sent; rollover hint: {ROLLOVER_HINT}"
        )
    }
}

/// DANE for one MX `host` (TLSA at `_25._tcp.<host>`), connecting with `opts`.
pub async fn check(dns: &Dns, host: &str, opts: &ConnectOptions, helo: &str) -> ScenarioResult {
    check_and_keep(dns, host, opts, helo).await.0
}

/// [`check`], and the host's DNSSEC-validated DANE-EE records: the run's other connections
/// to `host` verify as a DANE sender does with them.
pub async fn check_and_keep(
    dns: &Dns,
    host: &str,
    opts: &ConnectOptions,
    helo: &str,
) -> (ScenarioResult, Vec<DaneEe>) {
    let (result, records, validated) = judge(dns, host, opts, helo).await;
    let ee = if validated {
        records
            .iter()
            .filter(|r| r.usage == 3)
            .map(|r| DaneEe {
                selector: r.selector,
                matching: r.matching,
                data: r.data.clone(),
            })
            .collect()
    } else {
        Vec::new()
    };
    (result, ee)
}

/// The DANE result for `host`, with the records found and whether they were validated.
async fn judge(
    dns: &Dns,
    host: &str,
    opts: &ConnectOptions,
    helo: &str,
) -> (ScenarioResult, Vec<TlsaRecord>, bool) {
    let started = Instant::now();
    let name = format!("_25._tcp.{host}");
    let label = format!("DANE [{host}]");
    let (records, validated) = match dns.tlsa(&name).await {
        Ok(r) => r,
        Err(e) => {
            let st = step(
                format!("TLSA {name}"),
                None,
                Verdict::Inconclusive,
                e.to_string(),
                started,
            );
            return (
                result_with("posture-dane", &label, vec![st], None),
                Vec::new(),
                false,
            );
        }
    };
    if records.is_empty() {
        let st = step(
            format!("TLSA {name}"),
            None,
            Verdict::Warn,
            format!("no TLSA records at {name}: DANE is not used for {host}"),
            started,
        );
        return (
            result_with("posture-dane", &label, vec![st], None),
            records,
            validated,
        );
    }
    let found = records
        .iter()
        .map(ToString::to_string)
        .collect::<Vec<_>>()
        .join("; ");
    let mut steps = vec![step(
        format!("TLSA {name}"),
        Some(found),
        if validated {
            Verdict::Pass
        } else {
            Verdict::Warn
        },
        if validated {
            format!(
                "{} record(s), DNSSEC-validated (AD bit set by {})",
                records.len(),
                dns.server
            )
        } else {
            format!(
                "{} record(s), not validated: {} did not set the AD bit, so DANE senders ignore them",
                records.len(),
                dns.server
            )
        },
        started,
    )];
    let chain = match served_chain(opts, helo).await {
        Ok(c) => c,
        Err(e) => {
            steps.push(step(
                format!("chain served by {host}"),
                None,
                Verdict::Inconclusive,
                format!("could not read the certificate chain: {e}"),
                started,
            ));
            return (
                result_with("posture-dane", &label, steps, None),
                records,
                validated,
            );
        }
    };
    let matched: Vec<RecordMatch> = records
        .iter()
        .map(|r| match_record(r, &chain, host))
        .collect();
    let any = matched.iter().any(RecordMatch::usable_match);
    for (rec, m) in records.iter().zip(&matched) {
        let (verdict, reason) = match m {
            RecordMatch::EndEntity => (
                Verdict::Pass,
                "matches the server certificate (DANE-EE: names and dates are not checked)"
                    .to_string(),
            ),
            RecordMatch::TrustAnchor {
                index,
                chain: Ok(()),
            } => (
                Verdict::Pass,
                format!(
                    "matches certificate {index} of the chain, and the chain from it verifies for {host} (DANE-TA)"
                ),
            ),
            RecordMatch::TrustAnchor {
                index,
                chain: Err(e),
            } => (
                Verdict::Fail,
                format!(
                    "matches certificate {index} of the chain, but the chain from it does not verify: {e}"
                ),
            ),
            RecordMatch::NoMatch => (
                if any { Verdict::Warn } else { Verdict::Fail },
                no_match_reason(rec.usage, chain.len()),
            ),
            RecordMatch::Unusable(why) => (Verdict::Warn, why.to_string()),
        };
        steps.push(step(format!("TLSA {rec}"), None, verdict, reason, started));
    }
    let overall = overall(host, &matched, validated);
    (
        result_with("posture-dane", &label, steps, Some(overall)),
        records,
        validated,
    )
}

/// The verdict over all of a host's records. Records that match nothing but could have (usages
/// 2 and 3) are a DANE sender's reason to defer mail; records none of which is usable (usages
/// 0 and 1, which RFC 7672 §3.1.3 excludes for SMTP, or unknown fields) make DANE not apply, and
/// the sender falls back to TLS without authentication (RFC 7672 §2.2; Postfix's effective
/// security level `encrypt`): a WARN, not a FAIL.
fn overall(host: &str, matched: &[RecordMatch], validated: bool) -> (Verdict, String) {
    let any = matched.iter().any(RecordMatch::usable_match);
    let none_usable = matched
        .iter()
        .all(|m| matches!(m, RecordMatch::Unusable(_)));
    match (any, validated) {
        (true, true) => (
            Verdict::Pass,
            format!("{host} is DANE-protected: a validated TLSA record matches its chain"),
        ),
        (true, false) => (
            Verdict::Warn,
            format!(
                "a TLSA record matches {host}'s chain, but the answer was not DNSSEC-validated (no AD bit): senders will not use DANE"
            ),
        ),
        (false, true) if none_usable => (
            Verdict::Warn,
            format!(
                "none of {host}'s validated TLSA records is usable for SMTP (RFC 7672 §3.1.3: SMTP clients do not use usages 0 and 1): DANE senders deliver over TLS without checking the certificate (Postfix: security level encrypt); publish a DANE-EE record (3 1 1) to be protected"
            ),
        ),
        (false, true) => (
            Verdict::Fail,
            format!(
                "no usable TLSA record matches {host}'s chain: DANE senders will not deliver to it; {ROLLOVER_HINT}"
            ),
        ),
        (false, false) => (
            Verdict::Warn,
            format!(
                "no usable TLSA record matches {host}'s chain (not validated, so senders ignore them today; once signed, DANE senders would not deliver); {ROLLOVER_HINT}"
            ),
        ),
    }
}

#[cfg(test)]
#[allow(clippy::unwrap_used, clippy::expect_used)] // test code
mod tests {
    use super::*;
    use rcgen::{BasicConstraints, CertificateParams, DnType, IsCa, Issuer, KeyPair};

    /// A leaf for `mx.test` issued by an intermediate issued by a root: DER, leaf first.
    fn chain() -> Vec<Vec<u8>> {
        let ca = |cn: &str| {
            let mut p = CertificateParams::new(Vec::<String>::new()).unwrap();
            p.distinguished_name.push(DnType::CommonName, cn);
            p.is_ca = IsCa::Ca(BasicConstraints::Unconstrained);
            p
        };
        let root_key = KeyPair::generate().unwrap();
        let root_params = ca("root");
        let root_cert = root_params.self_signed(&root_key).unwrap();
        let root = Issuer::new(root_params, root_key);
        let inter_key = KeyPair::generate().unwrap();
        let inter_params = ca("inter");
        let inter_cert = inter_params.signed_by(&inter_key, &root).unwrap();
        let inter = Issuer::new(inter_params, inter_key);
        let leaf_key = KeyPair::generate().unwrap();
        let leaf = CertificateParams::new(vec!["mx.test".to_string()])
            .unwrap()
            .signed_by(&leaf_key, &inter)
            .unwrap();
        vec![
            leaf.der().to_vec(),
            inter_cert.der().to_vec(),
            root_cert.der().to_vec(),
        ]
    }

    fn rec(usage: u8, selector: u8, matching: u8, cert: &[u8]) -> TlsaRecord {
        TlsaRecord {
            usage,
            selector,
            matching,
            data: association(cert, selector, matching).unwrap(),
        }
    }

    #[test]
    fn dane_ee_matches_the_leaf_with_every_selector_and_matching_type() {
        let c = chain();
        for selector in [0, 1] {
            for matching in [0, 1, 2] {
                let r = rec(3, selector, matching, &c[0]);
                assert_eq!(
                    match_record(&r, &c, "anything.test"),
                    RecordMatch::EndEntity,
                    "3 {selector} {matching}"
                );
            }
        }
        // The intermediate's key is not the server's.
        assert_eq!(
            match_record(&rec(3, 1, 1, &c[1]), &c, "mx.test"),
            RecordMatch::NoMatch
        );
        let mut wrong = rec(3, 1, 1, &c[0]);
        wrong.data[0] ^= 1;
        assert_eq!(match_record(&wrong, &c, "mx.test"), RecordMatch::NoMatch);
    }

    #[test]
    fn a_dane_ta_record_that_matches_nothing_asks_for_the_anchor_in_the_chain() {
        let ta = no_match_reason(2, 1);
        assert!(
            ta.contains("must send the trust-anchor certificate in its chain"),
            "{ta}"
        );
        let ee = no_match_reason(3, 2);
        assert!(
            ee.starts_with("matches no certificate of the 2 the server sent; rollover hint"),
            "{ee}"
        );
        assert!(!ee.contains("trust-anchor"), "{ee}");
    }

    #[test]
    fn dane_ta_matches_a_sent_ca_and_checks_the_name() {
        let c = chain();
        let r = rec(2, 1, 1, &c[1]);
        assert_eq!(
            match_record(&r, &c, "mx.test"),
            RecordMatch::TrustAnchor {
                index: 2,
                chain: Ok(())
            }
        );
        match match_record(&r, &c, "other.test") {
            RecordMatch::TrustAnchor {
                index: 2,
                chain: Err(e),
            } => assert!(e.to_string().contains("name mismatch"), "{e}"),
            other => panic!("{other:?}"),
        }
        // The root, two levels up, anchors too.
        assert!(match_record(&rec(2, 0, 2, &c[2]), &c, "mx.test").usable_match());
        // A TA the server does not send matches nothing.
        assert_eq!(
            match_record(&rec(2, 1, 1, &c[2]), &c[..2], "mx.test"),
            RecordMatch::NoMatch
        );
    }

    #[test]
    fn records_none_of_which_is_usable_warn_and_usable_ones_that_miss_fail() {
        let c = chain();
        let pkix = [rec(0, 0, 0, &c[1]), rec(1, 1, 1, &c[0])];
        let matched: Vec<RecordMatch> = pkix
            .iter()
            .map(|r| match_record(r, &c, "mx.example"))
            .collect();
        let (v, why) = overall("mx.example", &matched, true);
        assert_eq!(v, Verdict::Warn, "{why}");
        assert!(
            why.contains("none of mx.example's validated TLSA records is usable"),
            "{why}"
        );
        // A usable record that matches nothing is a DANE sender's reason to defer: FAIL.
        let stale_record = TlsaRecord {
            usage: 3,
            selector: 1,
            matching: 1,
            data: vec![0u8; 32],
        };
        let stale = [stale_record.clone()];
        let matched: Vec<RecordMatch> = stale
            .iter()
            .map(|r| match_record(r, &c, "mx.example"))
            .collect();
        assert_eq!(overall("mx.example", &matched, true).0, Verdict::Fail);
        // Beside it, unusable records change nothing.
        let both = [stale_record, rec(1, 1, 1, &c[0])];
        let matched: Vec<RecordMatch> = both
            .iter()
            .map(|r| match_record(r, &c, "mx.example"))
            .collect();
        assert_eq!(overall("mx.example", &matched, true).0, Verdict::Fail);
    }

    #[test]
    fn pkix_usages_and_unknown_fields_are_unusable() {
        let c = chain();
        assert!(matches!(
            match_record(&rec(1, 1, 1, &c[0]), &c, "mx.test"),
            RecordMatch::Unusable(why) if why.to_string().contains("RFC 7672")
        ));
        let bad = TlsaRecord {
            usage: 3,
            selector: 1,
            matching: 9,
            data: vec![1],
        };
        assert!(matches!(
            match_record(&bad, &c, "mx.test"),
            RecordMatch::Unusable(why) if why.to_string().contains("matching type 9")
        ));
    }
}
