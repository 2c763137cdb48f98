//! The facts of a TLS session as the transcript records them: version, cipher, key exchange,
//! what certificate verification concluded and why, and the chain as sent, certificate by
//! certificate. Plain data, so the transcript and everything that reads it need nothing from
//! the network layer.

/// Fewer days left than this on any certificate of the chain is a warning: renewal is due.
pub const EXPIRY_WARN_DAYS: i64 = 14;

mod defect;

pub use defect::{CertDefect, RSA_MIN_BITS};

/// What verification concluded.
#[derive(Debug, Clone, PartialEq, Eq, serde::Serialize)]
pub struct Verification {
    pub verified: bool,
    /// Why verification failed (accepted anyway only in insecure mode).
    pub failure: Option<String>,
    /// The same, classified: the defect that stopped verification (or the handshake).
    pub problem: Option<CertDefect>,
    /// Other defects the chain as sent shows, beside the one that stopped it (a weak key in
    /// a chain that is also untrusted); the failure text names them too.
    #[serde(skip_serializing_if = "Vec::is_empty")]
    pub also: Vec<CertDefect>,
    pub accepted_insecurely: bool,
    /// The validated DANE-EE record ("3 1 1") the connection went on by, when PKIX failed:
    /// a DANE sender accepts that certificate whatever its names, dates and issuer.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub dane_ee: Option<String>,
    /// The name the certificate was checked against.
    pub name: String,
    /// The trust store or CA file the chain was checked against.
    pub trust: String,
}

/// One certificate of the chain the server presented.
#[derive(Debug, Clone, PartialEq, Eq, serde::Serialize)]
pub struct CertSummary {
    pub subject: String,
    pub issuer: String,
    pub sans: Vec<String>,
    pub not_before: String,
    pub not_after: String,
    /// Whole days from the handshake to `not_after`; negative once expired.
    pub days_left: Option<i64>,
    /// "RSA 2048", "EC P-256", "Ed25519".
    pub key: String,
    pub signature_algorithm: String,
    pub sha256: String,
    /// basicConstraints CA:TRUE.
    pub is_ca: bool,
    pub self_signed: bool,
}

impl CertSummary {
    pub fn expires_soon(&self) -> bool {
        self.days_left.is_some_and(|d| d < EXPIRY_WARN_DAYS)
    }
}

/// The chain as a whole, as sent: the leaf first, each next certificate the issuer of the one
/// before (RFC 8446 §4.4.2; TLS 1.2 demands it, RFC 5246 §7.4.2).
#[derive(Debug, Clone, Default, PartialEq, Eq, serde::Serialize)]
pub struct ChainCheck {
    pub in_order: bool,
    /// The sent certificates lead to a trusted CA without anything missing.
    pub complete: bool,
    /// What is wrong, one sentence each; empty when nothing is.
    pub problems: Vec<String>,
}

impl ChainCheck {
    /// Judges `chain` (leaf first) given what verification concluded: every defect found,
    /// since the one that stopped the handshake (a weak key) may hide a trust one.
    pub fn of<'a>(
        chain: &[CertSummary],
        defects: impl IntoIterator<Item = &'a CertDefect>,
    ) -> ChainCheck {
        let mut problems = Vec::new();
        let mut in_order = true;
        for (i, pair) in chain.windows(2).enumerate() {
            if pair[0].issuer != pair[1].subject {
                in_order = false;
                problems.push(format!(
                    "certificate {} ({}) is not the issuer of certificate {} (issued by {})",
                    i + 2,
                    pair[1].subject,
                    i + 1,
                    pair[0].issuer
                ));
            }
        }
        let trust = defects.into_iter().find(|d| {
            matches!(
                d,
                CertDefect::MissingIntermediate { .. }
                    | CertDefect::UnknownIssuer { .. }
                    | CertDefect::UntrustedRoot { .. }
                    | CertDefect::SelfSigned { .. }
            )
        });
        let complete = match trust {
            Some(CertDefect::MissingIntermediate { issuer }) => {
                problems.push(format!(
                    "incomplete: the issuer {issuer} was not sent (serve the intermediate certificates)"
                ));
                false
            }
            Some(CertDefect::UnknownIssuer { issuer }) => {
                problems.push(format!("ends at {issuer}, which is not a trusted CA"));
                false
            }
            // Nothing is missing from what was sent, but it leads to no trusted CA, so the
            // chain does not do its job: never a PASS.
            Some(CertDefect::UntrustedRoot { root }) => {
                problems.push(format!(
                    "ends at the root {root}, which the trust store does not hold (a private CA?)"
                ));
                false
            }
            Some(CertDefect::SelfSigned { subject, .. }) => {
                problems.push(format!(
                    "the server certificate ({subject}) is self-signed: no CA issued it, and it is not trusted itself"
                ));
                false
            }
            _ => !chain.is_empty(),
        };
        ChainCheck {
            in_order,
            complete,
            problems,
        }
    }
}

/// An OCSP response stapled to the handshake (RFC 6066 §8), if the server sent one.
#[derive(Debug, Clone, Default, PartialEq, Eq, serde::Serialize)]
pub struct OcspStaple {
    pub present: bool,
    pub bytes: usize,
    /// What the response says (its signature is not checked), e.g. "successful, certificate
    /// good, this update ..."; `None` when absent, or "(not an OCSP response)".
    pub status: Option<String>,
}

/// The negotiated TLS session (or, for a rejected certificate, what was learned before the
/// handshake stopped: then `version` is "not completed").
#[derive(Debug, Clone, PartialEq, Eq, serde::Serialize)]
pub struct TlsInfo {
    pub version: String,
    pub cipher_suite: String,
    pub key_exchange: Option<String>,
    pub verification: Verification,
    pub chain: Vec<CertSummary>,
    pub chain_check: ChainCheck,
    pub ocsp: OcspStaple,
    /// The chain as sent, DER, for matching against DANE records.
    #[serde(skip)]
    pub chain_der: Vec<Vec<u8>>,
    /// The handshake resumed a session from an earlier full handshake in the same run (no
    /// certificate was sent): `verification` and `chain` are that full handshake's.
    #[serde(skip_serializing_if = "std::ops::Not::not")]
    pub resumed: bool,
}

impl TlsInfo {
    pub fn one_line(&self) -> String {
        let line = self.negotiated_line();
        if self.resumed {
            format!("TLS resumed, {line} (in this run's full handshake)")
        } else {
            line
        }
    }

    fn negotiated_line(&self) -> String {
        let cert = if self.verification.verified {
            format!("certificate verified for {}", self.verification.name)
        } else if let Some(record) = &self.verification.dane_ee {
            format!(
                "certificate matches the DNSSEC-validated DANE-EE record {record}, which ignores names, dates and issuer (RFC 7672); not valid by PKIX: {}",
                self.verification
                    .failure
                    .as_deref()
                    .unwrap_or("unknown reason")
            )
        } else {
            format!(
                "certificate NOT verified ({}), accepted because verification is off (insecure)",
                self.verification
                    .failure
                    .as_deref()
                    .unwrap_or("unknown reason")
            )
        };
        format!(
            "{}, {}{}; {cert}",
            self.version,
            self.cipher_suite,
            self.key_exchange
                .as_deref()
                .map(|k| format!(", {k}"))
                .unwrap_or_default()
        )
    }

    /// The chain as `openssl s_client -showcerts` would list it, said plainly: one block per
    /// certificate, then the verdict on the chain and the OCSP staple.
    pub fn detail_lines(&self) -> Vec<String> {
        let mut out = Vec::new();
        let v = &self.verification;
        out.push(if v.verified {
            format!("verified for {} against the {}", v.name, v.trust)
        } else if let Some(record) = &v.dane_ee {
            format!(
                "verified by the DNSSEC-validated DANE-EE record {record}; NOT verified for {} against the {}: {}",
                v.name,
                v.trust,
                v.failure.as_deref().unwrap_or("unknown reason")
            )
        } else {
            format!(
                "NOT verified for {} against the {}: {}",
                v.name,
                v.trust,
                v.failure.as_deref().unwrap_or("unknown reason")
            )
        });
        for (i, c) in self.chain.iter().enumerate() {
            let role = match (i, c.is_ca) {
                (0, _) => "server certificate",
                (_, true) => "CA certificate",
                (_, false) => "certificate (not a CA)",
            };
            out.push(format!("#{} {role}", i + 1));
            out.push(format!("   subject   {}", c.subject));
            out.push(format!("   issuer    {}", c.issuer));
            if !c.sans.is_empty() {
                out.push(format!("   names     {}", c.sans.join(", ")));
            }
            let days = match c.days_left {
                Some(d) if d < 0 => format!("EXPIRED {} days ago", -d),
                Some(d) if d < EXPIRY_WARN_DAYS => format!("WARN only {d} days left"),
                Some(d) => format!("{d} days left"),
                None => "days left unknown".into(),
            };
            out.push(format!(
                "   valid     {} to {} ({days})",
                c.not_before, c.not_after
            ));
            out.push(format!(
                "   key       {}, signed with {}{}",
                c.key,
                c.signature_algorithm,
                if c.self_signed { ", self-signed" } else { "" }
            ));
            out.push(format!("   sha256    {}", c.sha256));
        }
        let cc = &self.chain_check;
        out.push(format!(
            "chain: {} certificate(s), {}, {}",
            self.chain.len(),
            if cc.in_order {
                "in order"
            } else {
                "NOT in order"
            },
            if cc.complete {
                "complete"
            } else {
                "NOT complete"
            }
        ));
        out.extend(cc.problems.iter().map(|p| format!("   {p}")));
        out.push(if self.ocsp.present {
            format!(
                "OCSP response stapled ({} bytes): {}",
                self.ocsp.bytes,
                self.ocsp.status.as_deref().unwrap_or("status not read")
            )
        } else {
            "no OCSP response stapled".into()
        });
        out
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn cert(subject: &str, issuer: &str, days: i64) -> CertSummary {
        CertSummary {
            subject: subject.into(),
            issuer: issuer.into(),
            sans: Vec::new(),
            not_before: String::new(),
            not_after: String::new(),
            days_left: Some(days),
            key: "EC P-256".into(),
            signature_algorithm: "ecdsa-with-SHA256".into(),
            sha256: String::new(),
            is_ca: subject != "CN=leaf",
            self_signed: subject == issuer,
        }
    }

    #[test]
    fn a_chain_in_order_is_complete() {
        let chain = [
            cert("CN=leaf", "CN=inter", 90),
            cert("CN=inter", "CN=root", 900),
        ];
        let cc = ChainCheck::of(&chain, None);
        assert!(cc.in_order && cc.complete, "{cc:?}");
        assert!(cc.problems.is_empty());
    }

    #[test]
    fn an_out_of_order_chain_says_which_certificate() {
        let chain = [
            cert("CN=leaf", "CN=inter", 90),
            cert("CN=other", "CN=root", 900),
            cert("CN=inter", "CN=root", 900),
        ];
        let cc = ChainCheck::of(&chain, None);
        assert!(!cc.in_order);
        assert!(
            cc.problems[0]
                .starts_with("certificate 2 (CN=other) is not the issuer of certificate 1"),
            "{cc:?}"
        );
    }

    #[test]
    fn a_missing_intermediate_is_incomplete() {
        let chain = [cert("CN=leaf", "CN=inter", 90)];
        let problem = CertDefect::MissingIntermediate {
            issuer: "CN=inter".into(),
        };
        let cc = ChainCheck::of(&chain, Some(&problem));
        assert!(cc.in_order && !cc.complete);
        assert!(cc.problems[0].contains("CN=inter was not sent"));
        assert!(problem.to_string().contains("missing intermediate"));
    }

    /// A self-signed server certificate sent alone is "in order" and nothing is missing from
    /// it, yet no CA vouches for it: the chain must not pass (issue 24).
    #[test]
    fn a_self_signed_leaf_or_a_private_root_is_never_complete() {
        let alone = [cert("CN=leaf", "CN=leaf", 90)];
        let self_signed = CertDefect::SelfSigned {
            subject: "CN=leaf".into(),
            is_ca: true,
        };
        let cc = ChainCheck::of(&alone, Some(&self_signed));
        assert!(!cc.complete, "{cc:?}");
        assert!(cc.problems[0].contains("is self-signed"), "{cc:?}");

        let private = [
            cert("CN=leaf", "CN=root", 90),
            cert("CN=root", "CN=root", 900),
        ];
        let root = CertDefect::UntrustedRoot {
            root: "CN=root".into(),
        };
        let weak = CertDefect::WeakKey {
            position: 1,
            subject: "CN=leaf".into(),
            algorithm: "RSA".into(),
            bits: 1024,
            minimum: RSA_MIN_BITS,
            handshake: true,
        };
        // The weak key stopped the handshake; the untrusted root still counts.
        let cc = ChainCheck::of(&private, [&weak, &root]);
        assert!(cc.in_order && !cc.complete, "{cc:?}");
        assert!(
            cc.problems[0].contains("trust store does not hold"),
            "{cc:?}"
        );
    }

    #[test]
    fn expiry_warning_starts_under_14_days() {
        assert!(cert("CN=leaf", "CN=i", 13).expires_soon());
        assert!(!cert("CN=leaf", "CN=i", 14).expires_soon());
        assert!(cert("CN=leaf", "CN=i", -1).expires_soon());
    }
}
