//! TLS client configuration: trust roots, a verifier that records what it decided and why, and
//! a summary of the negotiated session and certificate chain.

use std::path::{Path, PathBuf};
use std::sync::{Arc, Mutex};

use rustls::client::WebPkiServerVerifier;
use rustls::client::danger::{HandshakeSignatureValid, ServerCertVerified, ServerCertVerifier};
use rustls::crypto::CryptoProvider;
use rustls::pki_types::{CertificateDer, ServerName, UnixTime};
use rustls::{
    CertificateError, ClientConfig, DigitallySignedStruct, RootCertStore, SignatureScheme,
};
use rustls_pki_types::pem::PemObject;

/// Where trust comes from.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, serde::Serialize, serde::Deserialize)]
#[serde(rename_all = "kebab-case")]
pub enum Trust {
    /// The operating system's store (rustls-platform-verifier).
    #[default]
    Platform,
    /// The Mozilla root list compiled in (webpki-roots): the same answer on every machine.
    Mozilla,
}

#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct TlsOptions {
    pub trust: Trust,
    /// Trust exactly the CAs in this PEM file instead.
    pub ca_file: Option<PathBuf>,
    /// Accept a certificate that fails verification, recording the exact failure.
    pub insecure: bool,
    /// Name to verify and send as SNI, when it differs from the connect address.
    pub tls_name: Option<String>,
}

// What a handshake established is recorded in the transcript, which sits below this layer.
pub use crate::tls_info::{CertSummary, TlsInfo, Verification};

#[derive(Debug, thiserror::Error)]
pub enum TlsSetupError {
    #[error("cannot read CA file {path}: {source}")]
    CaFileRead {
        path: PathBuf,
        source: std::io::Error,
    },
    #[error("CA file {path} holds no PEM certificate")]
    CaFileEmpty { path: PathBuf },
    #[error("CA file {path}: {reason}")]
    CaFileBad { path: PathBuf, reason: String },
    #[error("cannot build the certificate verifier: {0}")]
    Verifier(String),
    #[error("{0:?} is not a valid TLS server name")]
    BadName(String),
}

/// What the verifier saw, shared with the connection after the handshake.
#[derive(Debug, Default)]
pub struct VerifierRecord {
    pub chain: Vec<CertificateDer<'static>>,
    pub failure: Option<String>,
    pub accepted_insecurely: bool,
}

/// Wraps the real verifier: records the outcome and the chain; in insecure mode accepts a
/// failed certificate but still records why it failed. Handshake signatures are always checked
/// by the real verifier, so even insecure mode proves the server holds the certificate's key.
#[derive(Debug)]
struct RecordingVerifier {
    inner: Arc<dyn ServerCertVerifier>,
    insecure: bool,
    record: Arc<Mutex<VerifierRecord>>,
}

impl ServerCertVerifier for RecordingVerifier {
    fn verify_server_cert(
        &self,
        end_entity: &CertificateDer<'_>,
        intermediates: &[CertificateDer<'_>],
        server_name: &ServerName<'_>,
        ocsp_response: &[u8],
        now: UnixTime,
    ) -> Result<ServerCertVerified, rustls::Error> {
        let result = self.inner.verify_server_cert(
            end_entity,
            intermediates,
            server_name,
            ocsp_response,
            now,
        );
        let mut record = match self.record.lock() {
            Ok(r) => r,
            Err(poisoned) => poisoned.into_inner(),
        };
        record.chain = std::iter::once(end_entity)
            .chain(intermediates)
            .map(|c| c.clone().into_owned())
            .collect();
        match result {
            Ok(v) => Ok(v),
            Err(e) => {
                record.failure = Some(describe_tls_error(&e, server_name));
                if self.insecure {
                    record.accepted_insecurely = true;
                    Ok(ServerCertVerified::assertion())
                } else {
                    Err(e)
                }
            }
        }
    }

    fn verify_tls12_signature(
        &self,
        message: &[u8],
        cert: &CertificateDer<'_>,
        dss: &DigitallySignedStruct,
    ) -> Result<HandshakeSignatureValid, rustls::Error> {
        self.inner.verify_tls12_signature(message, cert, dss)
    }

    fn verify_tls13_signature(
        &self,
        message: &[u8],
        cert: &CertificateDer<'_>,
        dss: &DigitallySignedStruct,
    ) -> Result<HandshakeSignatureValid, rustls::Error> {
        self.inner.verify_tls13_signature(message, cert, dss)
    }

    fn supported_verify_schemes(&self) -> Vec<SignatureScheme> {
        self.inner.supported_verify_schemes()
    }
}

/// Explains a certificate failure in the words an operator needs, with both names on a
/// mismatch and the date on expiry.
pub fn describe_tls_error(e: &rustls::Error, name: &ServerName<'_>) -> String {
    let wanted = name.to_str();
    match e {
        rustls::Error::InvalidCertificate(cert) => match cert {
            CertificateError::UnknownIssuer => {
                "unknown issuer: the chain does not lead to a trusted CA".into()
            }
            CertificateError::NotValidForNameContext {
                expected,
                presented,
            } => format!(
                "name mismatch: wanted {}, the certificate is for {}",
                expected.to_str(),
                if presented.is_empty() {
                    "no names".to_string()
                } else {
                    presented
                        .iter()
                        .map(|p| plain_name(p))
                        .collect::<Vec<_>>()
                        .join(", ")
                }
            ),
            CertificateError::NotValidForName => {
                format!("name mismatch: the certificate is not valid for {wanted}")
            }
            CertificateError::ExpiredContext { time, not_after } => format!(
                "expired on {} (checked at {})",
                unix_to_string(not_after.as_secs()),
                unix_to_string(time.as_secs())
            ),
            CertificateError::Expired => "certificate expired".into(),
            CertificateError::NotValidYetContext { time, not_before } => format!(
                "not valid until {} (checked at {})",
                unix_to_string(not_before.as_secs()),
                unix_to_string(time.as_secs())
            ),
            CertificateError::NotValidYet => "certificate not valid yet".into(),
            CertificateError::Revoked => "certificate revoked".into(),
            CertificateError::BadSignature => "bad signature on the certificate".into(),
            CertificateError::InvalidPurpose | CertificateError::InvalidPurposeContext { .. } => {
                "the certificate is not meant for a TLS server (extended key usage)".into()
            }
            CertificateError::UnknownRevocationStatus => {
                "the certificate's revocation status is unknown".into()
            }
            other => {
                // The variant's name, in words, without its fields' Debug noise.
                let debug = format!("{other:?}");
                let variant = debug.split(['(', ' ', '{']).next().unwrap_or("");
                format!("invalid certificate: {}", words_of(variant))
            }
        },
        other => other.to_string(),
    }
}

/// True when the handshake failed because the bytes that came back were not TLS at all: a
/// server speaking plain SMTP (its "220 …" banner) where TLS was expected.
pub fn is_plaintext_answer(e: &std::io::Error) -> bool {
    e.get_ref()
        .and_then(|inner| inner.downcast_ref::<rustls::Error>())
        .is_some_and(|r| {
            matches!(
                r,
                rustls::Error::InvalidMessage(rustls::InvalidMessage::InvalidContentType)
            )
        })
}

/// A name from a certificate as people write it: rustls reports the names it saw in their
/// Debug form (`DnsName("mail.example")`, `IpAddress(192.0.2.1)`).
fn plain_name(presented: &str) -> String {
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

/// A rustls name for a certificate problem (`UnhandledCriticalExtension`) in words.
fn words_of(variant: &str) -> String {
    let mut out = String::new();
    for (i, c) in variant.chars().enumerate() {
        if c.is_ascii_uppercase() && i > 0 {
            out.push(' ');
        }
        out.push(c.to_ascii_lowercase());
    }
    out
}

fn unix_to_string(secs: u64) -> String {
    i64::try_from(secs)
        .ok()
        .and_then(|s| jiff::Timestamp::from_second(s).ok())
        .map(|t| t.to_string())
        .unwrap_or_else(|| format!("{secs} (unix time)"))
}

pub fn provider() -> Arc<CryptoProvider> {
    Arc::new(rustls::crypto::ring::default_provider())
}

pub fn load_ca_file(path: &Path) -> Result<RootCertStore, TlsSetupError> {
    let pem = std::fs::read(path).map_err(|source| TlsSetupError::CaFileRead {
        path: path.to_owned(),
        source,
    })?;
    let mut roots = RootCertStore::empty();
    for cert in CertificateDer::pem_slice_iter(&pem) {
        let cert = cert.map_err(|e| TlsSetupError::CaFileBad {
            path: path.to_owned(),
            reason: e.to_string(),
        })?;
        roots.add(cert).map_err(|e| TlsSetupError::CaFileBad {
            path: path.to_owned(),
            reason: e.to_string(),
        })?;
    }
    if roots.is_empty() {
        return Err(TlsSetupError::CaFileEmpty {
            path: path.to_owned(),
        });
    }
    Ok(roots)
}

/// A client config for one connection, plus the record its verifier fills in.
pub fn client_config(
    opts: &TlsOptions,
) -> Result<(Arc<ClientConfig>, Arc<Mutex<VerifierRecord>>), TlsSetupError> {
    let provider = provider();
    let inner: Arc<dyn ServerCertVerifier> = match (&opts.ca_file, opts.trust) {
        (Some(path), _) => {
            let roots = load_ca_file(path)?;
            WebPkiServerVerifier::builder_with_provider(Arc::new(roots), Arc::clone(&provider))
                .build()
                .map_err(|e| TlsSetupError::Verifier(e.to_string()))?
        }
        (None, Trust::Mozilla) => {
            let roots = RootCertStore {
                roots: webpki_roots::TLS_SERVER_ROOTS.to_vec(),
            };
            WebPkiServerVerifier::builder_with_provider(Arc::new(roots), Arc::clone(&provider))
                .build()
                .map_err(|e| TlsSetupError::Verifier(e.to_string()))?
        }
        (None, Trust::Platform) => Arc::new(
            rustls_platform_verifier::Verifier::new(Arc::clone(&provider))
                .map_err(|e| TlsSetupError::Verifier(e.to_string()))?,
        ),
    };
    let record = Arc::new(Mutex::new(VerifierRecord::default()));
    let verifier = RecordingVerifier {
        inner,
        insecure: opts.insecure,
        record: Arc::clone(&record),
    };
    let config = ClientConfig::builder_with_provider(provider)
        .with_safe_default_protocol_versions()
        .map_err(|e| TlsSetupError::Verifier(e.to_string()))?
        .dangerous()
        .with_custom_certificate_verifier(Arc::new(verifier))
        .with_no_client_auth();
    Ok((Arc::new(config), record))
}

pub fn trust_label(opts: &TlsOptions) -> String {
    match (&opts.ca_file, opts.trust) {
        (Some(p), _) => format!("CA file {}", p.display()),
        (None, Trust::Mozilla) => "Mozilla roots".into(),
        (None, Trust::Platform) => "platform trust store".into(),
    }
}

pub fn server_name(name: &str) -> Result<ServerName<'static>, TlsSetupError> {
    let trimmed = name.trim_start_matches('[').trim_end_matches(']');
    ServerName::try_from(trimmed.to_string()).map_err(|_| TlsSetupError::BadName(name.to_string()))
}

/// Decodes a certificate for display. A certificate that does not parse is still listed, with
/// its fingerprint, so nothing the server sent disappears.
pub fn summarize_cert(der: &[u8]) -> CertSummary {
    let digest = ring::digest::digest(&ring::digest::SHA256, der);
    let sha256 = digest
        .as_ref()
        .iter()
        .map(|b| format!("{b:02X}"))
        .collect::<Vec<_>>()
        .join(":");
    match x509_parser::parse_x509_certificate(der) {
        Ok((_, cert)) => {
            let sans = match cert.subject_alternative_name() {
                Ok(Some(ext)) => ext
                    .value
                    .general_names
                    .iter()
                    .map(|n| match n {
                        x509_parser::extensions::GeneralName::DNSName(d) => format!("DNS:{d}"),
                        x509_parser::extensions::GeneralName::IPAddress(ip) => format_ip(ip),
                        other => format!("{other}"),
                    })
                    .collect(),
                _ => Vec::new(),
            };
            CertSummary {
                subject: cert.subject().to_string(),
                issuer: cert.issuer().to_string(),
                sans,
                not_before: cert.validity().not_before.to_string(),
                not_after: cert.validity().not_after.to_string(),
                sha256,
            }
        }
        Err(e) => CertSummary {
            subject: format!("(unparsable certificate: {e})"),
            issuer: String::new(),
            sans: Vec::new(),
            not_before: String::new(),
            not_after: String::new(),
            sha256,
        },
    }
}

fn format_ip(bytes: &[u8]) -> String {
    match bytes.len() {
        4 => format!("IP:{}.{}.{}.{}", bytes[0], bytes[1], bytes[2], bytes[3]),
        16 => {
            let mut octets = [0u8; 16];
            octets.copy_from_slice(bytes);
            format!("IP:{}", std::net::Ipv6Addr::from(octets))
        }
        _ => format!("IP:{bytes:02x?}"),
    }
}

/// Builds the summary after a completed handshake.
pub fn tls_info(
    conn: &rustls::ClientConnection,
    record: &Mutex<VerifierRecord>,
    name: &str,
    trust: String,
) -> TlsInfo {
    let record = match record.lock() {
        Ok(r) => r,
        Err(poisoned) => poisoned.into_inner(),
    };
    TlsInfo {
        version: conn
            .protocol_version()
            .map(|v| format!("{v:?}").replace('_', "."))
            .unwrap_or_else(|| "unknown".into()),
        cipher_suite: conn
            .negotiated_cipher_suite()
            .map(|s| format!("{:?}", s.suite()))
            .unwrap_or_else(|| "unknown".into()),
        key_exchange: conn
            .negotiated_key_exchange_group()
            .map(|g| format!("{:?}", g.name())),
        verification: Verification {
            verified: record.failure.is_none(),
            failure: record.failure.clone(),
            accepted_insecurely: record.accepted_insecurely,
            name: name.to_string(),
            trust,
        },
        chain: record.chain.iter().map(|c| summarize_cert(c)).collect(),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_name_mismatch_names_both_sides_in_plain_words() {
        let wanted = ServerName::try_from("wrong.host.invalid").expect("name");
        let e = rustls::Error::InvalidCertificate(CertificateError::NotValidForNameContext {
            expected: wanted.clone(),
            presented: vec![
                r#"DnsName("localhost")"#.into(),
                "IpAddress(127.0.0.1)".into(),
            ],
        });
        let text = describe_tls_error(&e, &wanted);
        assert_eq!(
            text,
            "name mismatch: wanted wrong.host.invalid, the certificate is for localhost, 127.0.0.1"
        );
        let other = rustls::Error::InvalidCertificate(CertificateError::UnhandledCriticalExtension);
        assert_eq!(
            describe_tls_error(&other, &wanted),
            "invalid certificate: unhandled critical extension"
        );
        assert_eq!(plain_name("mail.example"), "mail.example");
    }

    #[test]
    fn only_a_non_tls_answer_counts_as_plaintext() {
        let plain = std::io::Error::new(
            std::io::ErrorKind::InvalidData,
            rustls::Error::InvalidMessage(rustls::InvalidMessage::InvalidContentType),
        );
        assert!(is_plaintext_answer(&plain));
        let other =
            std::io::Error::new(std::io::ErrorKind::InvalidData, rustls::Error::DecryptError);
        assert!(!is_plaintext_answer(&other));
        assert!(!is_plaintext_answer(&std::io::Error::other("x")));
    }
}
