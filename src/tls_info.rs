//! The facts of a TLS session as the transcript records them: version, cipher, key exchange,
//! what certificate verification concluded, and the chain as sent. Plain data, so the
//! transcript and everything that reads it need nothing from the network layer.

/// What verification concluded.
#[derive(Debug, Clone, PartialEq, Eq, serde::Serialize)]
pub struct Verification {
    pub verified: bool,
    /// Why verification failed (accepted anyway only in insecure mode).
    pub failure: Option<String>,
    pub accepted_insecurely: bool,
    /// The name the certificate was checked against.
    pub name: String,
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
    pub sha256: String,
}

/// The negotiated TLS session.
#[derive(Debug, Clone, PartialEq, Eq, serde::Serialize)]
pub struct TlsInfo {
    pub version: String,
    pub cipher_suite: String,
    pub key_exchange: Option<String>,
    pub verification: Verification,
    pub chain: Vec<CertSummary>,
}

impl TlsInfo {
    pub fn one_line(&self) -> String {
        let cert = if self.verification.verified {
            format!("certificate verified for {}", self.verification.name)
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
}
