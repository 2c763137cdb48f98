//! The lab's certificates: a fresh CA per run and a server certificate it signs. Private keys
//! stay in memory; only the CA certificate is written out, for `--ca-file`.

use std::sync::Arc;

use rcgen::{BasicConstraints, CertificateParams, DnType, IsCa, Issuer, KeyPair};
use rustls::pki_types::{CertificateDer, PrivateKeyDer, PrivatePkcs8KeyDer};

/// Which server certificate to present.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum CertKind {
    Good,
    /// Valid dates long past.
    Expired,
    /// Issued for a name the client will not be asking for.
    WrongName,
}

pub struct LabPki {
    pub ca_pem: String,
    pub server_config: Arc<rustls::ServerConfig>,
}

/// The lab's certificates could not be made (rcgen or rustls refused).
#[derive(Debug, thiserror::Error)]
#[error("cannot create the lab's certificates: {0}")]
pub struct CertError(String);

fn err(e: impl std::fmt::Display) -> CertError {
    CertError(e.to_string())
}

pub fn generate(hostname: &str, kind: CertKind) -> Result<LabPki, CertError> {
    let mut ca = CertificateParams::new(Vec::<String>::new()).map_err(err)?;
    ca.is_ca = IsCa::Ca(BasicConstraints::Unconstrained);
    ca.distinguished_name
        .push(DnType::CommonName, "smtpscope practice lab CA");
    let ca_key = KeyPair::generate().map_err(err)?;
    let ca_cert = ca.self_signed(&ca_key).map_err(err)?;
    let issuer = Issuer::new(ca, ca_key);

    let names: Vec<String> = match kind {
        CertKind::WrongName => vec!["wrong-name.invalid".into()],
        _ => vec![
            "localhost".into(),
            hostname.into(),
            "127.0.0.1".into(),
            "::1".into(),
        ],
    };
    let mut leaf = CertificateParams::new(names.clone()).map_err(err)?;
    leaf.distinguished_name
        .push(DnType::CommonName, names[0].clone());
    if kind == CertKind::Expired {
        leaf.not_before = rcgen::date_time_ymd(2020, 1, 1);
        leaf.not_after = rcgen::date_time_ymd(2021, 1, 1);
    }
    let leaf_key = KeyPair::generate().map_err(err)?;
    let leaf_cert = leaf.signed_by(&leaf_key, &issuer).map_err(err)?;

    let provider = Arc::new(rustls::crypto::ring::default_provider());
    let key = PrivateKeyDer::Pkcs8(PrivatePkcs8KeyDer::from(leaf_key.serialize_der()));
    let server_config = rustls::ServerConfig::builder_with_provider(provider)
        .with_safe_default_protocol_versions()
        .map_err(err)?
        .with_no_client_auth()
        .with_single_cert(vec![CertificateDer::from(leaf_cert.der().to_vec())], key)
        .map_err(err)?;
    Ok(LabPki {
        ca_pem: ca_cert.pem(),
        server_config: Arc::new(server_config),
    })
}
