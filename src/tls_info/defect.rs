//! What is wrong with a certificate, one variant per defect an operator fixes differently,
//! each with one wording. Derived from the chain as sent and the verifier's error (in
//! `net::cert_defects`); no variant carries a TLS library's own name for the failure, so
//! nothing here ever shows one.

/// The smallest RSA key the verifier accepts, in the chain and in the handshake alike: ring
/// (rustls's provider here) verifies RSA signatures only with keys of 2048 to 8192 bits.
pub const RSA_MIN_BITS: u32 = 2048;

/// Why a certificate did not verify, in the terms an operator fixes it by. Serialized with
/// its `kind` (kebab-case) for the JSON report.
#[derive(Debug, Clone, PartialEq, Eq, serde::Serialize)]
#[serde(tag = "kind", rename_all = "kebab-case")]
pub enum CertDefect {
    /// The certificate does not name the host: the names wanted and those present.
    NameMismatch {
        wanted: String,
        present: Vec<String>,
    },
    /// No subjectAltName at all: a name only in the subject CN, which clients no longer read
    /// (RFC 6125 §6.4.4; the CA/Browser Forum requires subjectAltName).
    NameOnlyInCn {
        wanted: String,
        common_name: String,
    },
    Expired {
        not_after: String,
        checked_at: String,
    },
    NotYetValid {
        not_before: String,
        checked_at: String,
    },
    /// The server certificate is its own issuer and is not trusted. `is_ca` (basicConstraints
    /// CA:TRUE, what `openssl req -x509` makes by default) decides whether a CA file can help:
    /// a CA certificate is never accepted as a server's, trusted or not.
    SelfSigned {
        subject: String,
        is_ca: bool,
    },
    /// The chain as sent is complete up to a self-signed root, and the trust store does not
    /// hold that root: a private CA, most likely.
    UntrustedRoot {
        root: String,
    },
    /// The chain as sent stops at a certificate whose issuer was neither sent nor trusted:
    /// the server does not send its intermediate certificate(s).
    MissingIntermediate {
        issuer: String,
    },
    /// The chain does not lead to a trusted CA, and the chain as sent does not say more.
    UnknownIssuer {
        issuer: String,
    },
    /// A key smaller than verifiers accept. `position` is 1 for the server certificate.
    /// `handshake`: the server signed the handshake with it, and that signature was refused
    /// too, so no setting gets a connection.
    WeakKey {
        position: usize,
        subject: String,
        algorithm: String,
        bits: u32,
        minimum: u32,
        handshake: bool,
    },
    /// Signed with a broken hash (SHA-1, MD5, MD2): `algorithm` as the certificate names it.
    WeakSignature {
        position: usize,
        subject: String,
        algorithm: String,
        hash: String,
    },
    /// Signed with an algorithm the verifier does not know (not a known-broken one).
    UnsupportedSignature {
        algorithm: String,
    },
    /// The server certificate is a CA certificate (basicConstraints CA:TRUE): refused as a
    /// server's, even when it is itself in the CA file.
    CaAsServer {
        subject: String,
    },
    /// The extended key usage does not allow a TLS server.
    NotForServers,
    /// The handshake signature does not verify with the certificate's key, for another reason
    /// than the key's size.
    BadHandshakeSignature {
        key: String,
    },
    Revoked,
    BadSignature,
    Other {
        detail: String,
    },
}

impl CertDefect {
    /// The same defect, whatever the details: two findings of one kind are one finding.
    pub fn same_kind(&self, other: &CertDefect) -> bool {
        std::mem::discriminant(self) == std::mem::discriminant(other)
    }
}

/// "certificate 2 (CN=…) " for a certificate other than the server's; nothing for the server's.
fn which(position: usize, subject: &str) -> String {
    if position <= 1 {
        String::new()
    } else {
        format!(" in certificate {position} ({subject})")
    }
}

impl std::fmt::Display for CertDefect {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            CertDefect::NameMismatch { wanted, present } => write!(
                f,
                "name mismatch: wanted {wanted}, the certificate is for {}",
                if present.is_empty() {
                    "no names".to_string()
                } else {
                    present.join(", ")
                }
            ),
            CertDefect::NameOnlyInCn {
                wanted,
                common_name,
            } if common_name.eq_ignore_ascii_case(wanted) => write!(
                f,
                "the name {wanted} is only in the subject CN; modern clients require it in subjectAltName (RFC 6125, CA/Browser Forum)"
            ),
            CertDefect::NameOnlyInCn {
                wanted,
                common_name,
            } => write!(
                f,
                "name mismatch: wanted {wanted}; the certificate has no subjectAltName, only the subject CN {common_name}, which modern clients do not read (RFC 6125, CA/Browser Forum)"
            ),
            CertDefect::Expired {
                not_after,
                checked_at,
            } => write!(f, "expired on {not_after} (checked at {checked_at})"),
            CertDefect::NotYetValid {
                not_before,
                checked_at,
            } => write!(f, "not valid until {not_before} (checked at {checked_at})"),
            CertDefect::SelfSigned { .. } => f.write_str(
                "self-signed certificate (not issued by any CA; it is not in the trust store or CA file)",
            ),
            CertDefect::UntrustedRoot { root } => write!(
                f,
                "the chain ends at a root the trust store does not hold (a private CA?): {root}"
            ),
            CertDefect::MissingIntermediate { issuer } => write!(
                f,
                "unknown issuer: missing intermediate: the chain ends at a certificate issued by {issuer}, which the server did not send and is not a trusted CA"
            ),
            CertDefect::UnknownIssuer { issuer } => write!(
                f,
                "unknown issuer: the chain does not lead to a trusted CA (it ends at {issuer})"
            ),
            CertDefect::WeakKey {
                position,
                subject,
                algorithm,
                bits,
                minimum,
                handshake,
            } => {
                write!(
                    f,
                    "key too weak: {algorithm} {bits} bits{} (at least {minimum} needed)",
                    which(*position, subject)
                )?;
                if *handshake {
                    write!(
                        f,
                        "; the server's {algorithm} {bits}-bit key is too weak for the TLS handshake itself: no client built on rustls/ring can connect, whatever it trusts"
                    )?;
                }
                Ok(())
            }
            CertDefect::WeakSignature {
                position,
                subject,
                algorithm,
                hash,
            } => write!(
                f,
                "signed with {hash} ({algorithm}){}, which verifiers reject",
                which(*position, subject)
            ),
            CertDefect::UnsupportedSignature { algorithm } => write!(
                f,
                "signed with {algorithm}, an algorithm this verifier does not support"
            ),
            CertDefect::CaAsServer { subject } => write!(
                f,
                "the server certificate ({subject}) is a CA certificate (basicConstraints CA:TRUE), which clients refuse as a server's certificate even when they trust it"
            ),
            CertDefect::NotForServers => f.write_str(
                "the certificate is not meant for a TLS server (extended key usage)",
            ),
            CertDefect::BadHandshakeSignature { key } => write!(
                f,
                "the server's handshake signature does not verify with its certificate's key ({key})"
            ),
            CertDefect::Revoked => f.write_str("certificate revoked"),
            CertDefect::BadSignature => f.write_str("bad signature on the certificate"),
            CertDefect::Other { detail } => f.write_str(detail),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn weak_key(handshake: bool) -> CertDefect {
        CertDefect::WeakKey {
            position: 1,
            subject: "CN=localhost".into(),
            algorithm: "RSA".into(),
            bits: 1024,
            minimum: RSA_MIN_BITS,
            handshake,
        }
    }

    fn sha1(position: usize, subject: &str) -> CertDefect {
        CertDefect::WeakSignature {
            position,
            subject: subject.into(),
            algorithm: "sha1WithRSAEncryption".into(),
            hash: "SHA-1".into(),
        }
    }

    #[test]
    fn each_defect_is_named_in_plain_words() {
        let weak = weak_key(false);
        assert_eq!(
            weak.to_string(),
            "key too weak: RSA 1024 bits (at least 2048 needed)"
        );
        let in_handshake = weak_key(true);
        assert!(
            in_handshake
                .to_string()
                .contains("too weak for the TLS handshake itself"),
            "{in_handshake}"
        );
        assert_eq!(
            sha1(1, "CN=localhost").to_string(),
            "signed with SHA-1 (sha1WithRSAEncryption), which verifiers reject"
        );
        let inter = sha1(2, "CN=inter");
        assert!(inter.to_string().contains("in certificate 2 (CN=inter)"));
        let cn = CertDefect::NameOnlyInCn {
            wanted: "localhost".into(),
            common_name: "LOCALHOST".into(),
        };
        assert!(
            cn.to_string()
                .starts_with("the name localhost is only in the subject CN")
        );
        let other_cn = CertDefect::NameOnlyInCn {
            wanted: "mx.example".into(),
            common_name: "localhost".into(),
        };
        assert!(
            other_cn
                .to_string()
                .starts_with("name mismatch: wanted mx.example")
        );
        let ss = CertDefect::SelfSigned {
            subject: "CN=x".into(),
            is_ca: true,
        };
        assert!(ss.to_string().starts_with("self-signed certificate"));
        assert!(ss.same_kind(&CertDefect::SelfSigned {
            subject: String::new(),
            is_ca: false
        }));
        assert!(!ss.same_kind(&CertDefect::Revoked));
    }
}
