//! TLS client configuration: trust roots, a verifier that records what it decided and why, and
//! a summary of the negotiated session and certificate chain.

use std::collections::HashMap;
use std::path::{Path, PathBuf};
use std::sync::{Arc, Mutex};

use rustls::client::WebPkiServerVerifier;
use rustls::client::danger::{HandshakeSignatureValid, ServerCertVerified, ServerCertVerifier};
use rustls::crypto::CryptoProvider;
use rustls::pki_types::{CertificateDer, ServerName, UnixTime};
use rustls::{ClientConfig, DigitallySignedStruct, RootCertStore, SignatureScheme};
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
    /// Send no SNI (the name is still verified).
    pub no_sni: bool,
    /// Oldest and newest TLS version to offer; `None` is rustls's (1.2 and 1.3).
    pub min_version: Option<TlsVersion>,
    pub max_version: Option<TlsVersion>,
    /// A client certificate (PEM chain) and its key (PEM), for servers that ask for one.
    pub client_cert: Option<ClientCert>,
    /// DNSSEC-validated DANE-EE records for the host: a server certificate that matches one is
    /// accepted as a DANE sender accepts it (RFC 7672 §3.1.1), its PKIX defects recorded.
    pub dane_ee: Vec<super::tlsa::DaneEe>,
}

/// The TLS versions rustls speaks (1.0 and 1.1 are only probed, never negotiated).
#[derive(
    Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, serde::Serialize, serde::Deserialize,
)]
pub enum TlsVersion {
    #[serde(rename = "1.2")]
    Tls12,
    #[serde(rename = "1.3")]
    Tls13,
}

impl TlsVersion {
    pub fn parse(s: &str) -> Option<TlsVersion> {
        match s
            .trim()
            .trim_start_matches("TLSv")
            .trim_start_matches("tls")
        {
            "1.2" => Some(TlsVersion::Tls12),
            "1.3" => Some(TlsVersion::Tls13),
            _ => None,
        }
    }

    pub fn label(self) -> &'static str {
        match self {
            TlsVersion::Tls12 => "TLSv1.2",
            TlsVersion::Tls13 => "TLSv1.3",
        }
    }
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ClientCert {
    pub cert_file: PathBuf,
    pub key_file: PathBuf,
}

// What a handshake established is recorded in the transcript, which sits below this layer.
pub use crate::tls_info::{CertDefect, CertSummary, ChainCheck, OcspStaple, TlsInfo, Verification};

use super::cert_defects;

#[derive(Debug, thiserror::Error)]
pub enum TlsSetupError {
    #[error("CA file {}: {source}", source.path().display())]
    CaFileRead {
        #[source]
        source: crate::bounded_read::ReadError,
    },
    #[error("CA file {} holds no PEM certificate", path.display())]
    CaFileEmpty { path: PathBuf },
    #[error("CA file {}: {reason}", path.display())]
    CaFileBad { path: PathBuf, reason: String },
    #[error("cannot build the certificate verifier: {0}")]
    Verifier(String),
    #[error("{0:?} is not a valid TLS server name")]
    BadName(String),
    #[error("TLS versions: the minimum {min} is newer than the maximum {max}")]
    VersionRange {
        min: &'static str,
        max: &'static str,
    },
    #[error("client certificate {}: {source}", source.path().display())]
    ClientCertRead {
        #[source]
        source: crate::bounded_read::ReadError,
    },
    #[error("cannot read client certificate {}: {reason}", path.display())]
    ClientCert { path: PathBuf, reason: String },
    #[error("client key {}: {source}", source.path().display())]
    ClientKeyRead {
        #[source]
        source: crate::bounded_read::ReadError,
    },
    #[error("cannot read client key {}: {reason}", path.display())]
    ClientKey { path: PathBuf, reason: String },
    #[error("client certificate and key do not fit together: {0}")]
    ClientPair(String),
}

/// What the verifier saw, shared with the connection after the handshake.
#[derive(Debug, Default)]
pub struct VerifierRecord {
    pub chain: Vec<CertificateDer<'static>>,
    /// `problem`, and `also` after it, in words.
    pub failure: Option<String>,
    /// The defect that stopped verification or the handshake.
    pub problem: Option<CertDefect>,
    /// Other defects the chain shows.
    pub also: Vec<CertDefect>,
    pub accepted_insecurely: bool,
    /// The DANE-EE record ("3 1 1") that matched a certificate PKIX did not accept.
    pub dane_ee: Option<String>,
    /// The stapled OCSP response; empty when none was sent.
    pub ocsp: Vec<u8>,
}

impl VerifierRecord {
    /// Records `problem` as what stopped the connection, the rest of `found` beside it.
    fn set(&mut self, problem: CertDefect, found: Vec<CertDefect>) {
        let also: Vec<CertDefect> = found
            .into_iter()
            .filter(|d| !d.same_kind(&problem))
            .collect();
        let mut text = problem.to_string();
        for d in &also {
            text.push_str("; also: ");
            text.push_str(&d.to_string());
        }
        self.failure = Some(text);
        self.problem = Some(problem);
        self.also = also;
    }

    /// The handshake signature failed after the certificate was judged: that is what stopped
    /// the connection now, and whatever was found before stays beside it.
    fn handshake_failed(&mut self, defect: CertDefect) {
        let mut found: Vec<CertDefect> = self.problem.take().into_iter().collect();
        found.append(&mut self.also);
        self.set(defect, found);
    }
}

fn lock(record: &Mutex<VerifierRecord>) -> std::sync::MutexGuard<'_, VerifierRecord> {
    match record.lock() {
        Ok(r) => r,
        Err(poisoned) => poisoned.into_inner(),
    }
}

/// Wraps the real verifier: records the chain first, then the outcome, classified into the
/// defect an operator fixes; in insecure mode accepts a failed certificate but still records
/// why it failed. Handshake signatures are always checked by the real verifier, so even
/// insecure mode proves the server holds the certificate's key; when that check fails, the
/// record says why too (a key too weak for the handshake).
#[derive(Debug)]
struct RecordingVerifier {
    inner: Arc<dyn ServerCertVerifier>,
    /// The trust anchors when smtpscope holds them (CA file, Mozilla list), to tell a
    /// certificate that is itself trusted from one that is not.
    roots: Option<Arc<RootCertStore>>,
    insecure: bool,
    dane_ee: Vec<super::tlsa::DaneEe>,
    record: RecordSink,
}

tokio::task_local! {
    /// The record of the handshake being polled, for a verifier shared by a run's connections.
    static HANDSHAKE_RECORD: Arc<Mutex<VerifierRecord>>;
}

/// Where a verifier writes what it saw.
#[derive(Debug)]
enum RecordSink {
    /// Its own connection's record (a config made for one connection).
    Fixed(Arc<Mutex<VerifierRecord>>),
    /// The record of whichever handshake is being polled (see [`recording`]): a config shared
    /// by a run's connections for resumption, whose verifier must be one and the same.
    PerHandshake,
}

impl RecordSink {
    fn with(&self, f: impl FnOnce(&mut VerifierRecord)) {
        match self {
            RecordSink::Fixed(record) => f(&mut lock(record)),
            RecordSink::PerHandshake => {
                let _ = HANDSHAKE_RECORD.try_with(|record| f(&mut lock(record)));
            }
        }
    }
}

/// Runs a handshake with `record` as the record of a shared verifier (harmless otherwise).
pub async fn recording<F: std::future::Future>(
    record: Arc<Mutex<VerifierRecord>>,
    handshake: F,
) -> F::Output {
    HANDSHAKE_RECORD.scope(record, handshake).await
}

impl RecordingVerifier {
    fn signature_checked(
        &self,
        cert: &CertificateDer<'_>,
        result: Result<HandshakeSignatureValid, rustls::Error>,
    ) -> Result<HandshakeSignatureValid, rustls::Error> {
        if result.is_err() {
            self.record
                .with(|r| r.handshake_failed(cert_defects::handshake_defect(cert)));
        }
        result
    }
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
        // The chain is kept before anything judges it, so it is shown whatever fails next.
        let chain: Vec<CertificateDer<'static>> = std::iter::once(end_entity)
            .chain(intermediates)
            .map(|c| c.clone().into_owned())
            .collect();
        self.record.with(|record| {
            record.chain = chain.clone();
            record.ocsp = ocsp_response.to_vec();
        });
        let result = self.inner.verify_server_cert(
            end_entity,
            intermediates,
            server_name,
            ocsp_response,
            now,
        );
        let Err(e) = result else {
            return result;
        };
        let problem = cert_defects::classify(&e, server_name, &chain, self.roots.as_deref());
        let insecure = self.insecure;
        let dane_ee = self.dane_ee.iter().find(|ee| ee.matches(end_entity));
        self.record.with(|record| {
            record.set(problem, cert_defects::chain_defects(&chain));
            match dane_ee {
                // What a DANE sender does: the record vouches for this certificate, and
                // names, dates and issuer do not count (RFC 7672 §3.1.1). The handshake
                // signature is still checked.
                Some(ee) => record.dane_ee = Some(ee.label()),
                None => record.accepted_insecurely = insecure,
            }
        });
        if dane_ee.is_some() || insecure {
            Ok(ServerCertVerified::assertion())
        } else {
            Err(e)
        }
    }

    fn verify_tls12_signature(
        &self,
        message: &[u8],
        cert: &CertificateDer<'_>,
        dss: &DigitallySignedStruct,
    ) -> Result<HandshakeSignatureValid, rustls::Error> {
        self.signature_checked(cert, self.inner.verify_tls12_signature(message, cert, dss))
    }

    fn verify_tls13_signature(
        &self,
        message: &[u8],
        cert: &CertificateDer<'_>,
        dss: &DigitallySignedStruct,
    ) -> Result<HandshakeSignatureValid, rustls::Error> {
        self.signature_checked(cert, self.inner.verify_tls13_signature(message, cert, dss))
    }

    fn supported_verify_schemes(&self) -> Vec<SignatureScheme> {
        self.inner.supported_verify_schemes()
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

pub fn provider() -> Arc<CryptoProvider> {
    Arc::new(rustls::crypto::ring::default_provider())
}

/// A PEM file smtpscope reads: a CA bundle, a client certificate's chain, a private key. The
/// system's whole bundle is about 220 KB; anything near this is the wrong file.
const PEM_FILE_LIMIT: crate::bounded_read::Limit = crate::bounded_read::Limit {
    bytes: 4 * crate::bounded_read::MIB,
    what: "a PEM file",
};

impl TlsSetupError {
    /// The file this error is about, and what is wrong with it, without the words "CA file" or
    /// "client key": for a front end that names the flag or profile key instead.
    pub fn file_and_reason(&self) -> Option<(&Path, String)> {
        match self {
            TlsSetupError::CaFileRead { source }
            | TlsSetupError::ClientCertRead { source }
            | TlsSetupError::ClientKeyRead { source } => Some((source.path(), source.to_string())),
            TlsSetupError::CaFileEmpty { path } => Some((path, "holds no PEM certificate".into())),
            TlsSetupError::CaFileBad { path, reason }
            | TlsSetupError::ClientCert { path, reason }
            | TlsSetupError::ClientKey { path, reason } => Some((path, reason.clone())),
            _ => None,
        }
    }
}

pub fn load_ca_file(path: &Path) -> Result<RootCertStore, TlsSetupError> {
    let pem = crate::bounded_read::read_regular(path, PEM_FILE_LIMIT)
        .map_err(|source| TlsSetupError::CaFileRead { source })?;
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

/// TLS sessions shared by the connections of one run, so that after one full, verified
/// handshake the others resume (shorter, and the server sends no certificate again).
///
/// Only connections with the run's own TLS settings share it; the certificate checks and the
/// version probe make full handshakes of their own. A resumed handshake does not see the
/// certificate, so what the full handshake learned about it is kept here, by TLS name, and
/// reported with the resumed session.
pub struct Resumption {
    store: Arc<rustls::client::ClientSessionMemoryCache>,
    /// One config per TLS settings: rustls resumes a session only with the very verifier
    /// (and client certificate) that made it, so the run's connections share the config, and
    /// its verifier writes to each handshake's own record (see [`recording`]).
    configs: Mutex<Vec<(TlsOptions, Arc<ClientConfig>)>>,
    full: Mutex<HashMap<String, crate::tls_info::TlsInfo>>,
}

/// Sessions kept per run: one per server name is enough; a few MX hosts fit.
const RESUMPTION_SESSIONS: usize = 64;

impl Resumption {
    pub fn new() -> Arc<Resumption> {
        Arc::new(Resumption {
            store: Arc::new(rustls::client::ClientSessionMemoryCache::new(
                RESUMPTION_SESSIONS,
            )),
            configs: Mutex::new(Vec::new()),
            full: Mutex::new(HashMap::new()),
        })
    }

    /// The run's config for `opts`, with its session store; run the handshake in
    /// [`recording`] to learn what its verifier saw.
    pub fn config(&self, opts: &TlsOptions) -> Result<Arc<ClientConfig>, TlsSetupError> {
        let mut configs = match self.configs.lock() {
            Ok(c) => c,
            Err(poisoned) => poisoned.into_inner(),
        };
        if let Some((_, config)) = configs.iter().find(|(o, _)| o == opts) {
            return Ok(Arc::clone(config));
        }
        let mut config = build_config(opts, RecordSink::PerHandshake)?;
        config.resumption = rustls::client::Resumption::store(
            Arc::clone(&self.store) as Arc<dyn rustls::client::ClientSessionStore>
        );
        let config = Arc::new(config);
        configs.push((opts.clone(), Arc::clone(&config)));
        Ok(config)
    }

    /// Keeps what a full handshake with `name` under `opts` learned about its certificate.
    pub fn remember(&self, opts: &TlsOptions, name: &str, info: &crate::tls_info::TlsInfo) {
        if let Ok(mut full) = self.full.lock() {
            full.insert(Self::key(opts, name), info.clone());
        }
    }

    /// What the full handshake with `name` under `opts` learned, for a resumed session.
    pub fn full_handshake(
        &self,
        opts: &TlsOptions,
        name: &str,
    ) -> Option<crate::tls_info::TlsInfo> {
        self.full
            .lock()
            .ok()
            .and_then(|full| full.get(&Self::key(opts, name)).cloned())
    }

    /// The name, and which of the run's TLS settings: a session resumes only under the config
    /// that made it, so its certificate findings are those of a handshake under the same.
    fn key(opts: &TlsOptions, name: &str) -> String {
        format!("{opts:?}\n{name}")
    }
}

impl std::fmt::Debug for Resumption {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Resumption").finish_non_exhaustive()
    }
}

/// Whether the handshake on `conn` resumed an earlier session.
pub fn resumed(conn: &rustls::ClientConnection) -> bool {
    conn.handshake_kind() == Some(rustls::HandshakeKind::Resumed)
}

/// A client config for one connection, plus the record its verifier fills in.
pub fn client_config(
    opts: &TlsOptions,
) -> Result<(Arc<ClientConfig>, Arc<Mutex<VerifierRecord>>), TlsSetupError> {
    let record = Arc::new(Mutex::new(VerifierRecord::default()));
    let config = build_config(opts, RecordSink::Fixed(Arc::clone(&record)))?;
    Ok((Arc::new(config), record))
}

fn build_config(opts: &TlsOptions, record: RecordSink) -> Result<ClientConfig, TlsSetupError> {
    let provider = provider();
    let webpki = |roots: &Arc<RootCertStore>| {
        WebPkiServerVerifier::builder_with_provider(Arc::clone(roots), Arc::clone(&provider))
            .build()
            .map(|v| v as Arc<dyn ServerCertVerifier>)
            .map_err(|e| TlsSetupError::Verifier(e.to_string()))
    };
    let (inner, roots) = match (&opts.ca_file, opts.trust) {
        (Some(path), _) => {
            let roots = Arc::new(load_ca_file(path)?);
            (webpki(&roots)?, Some(roots))
        }
        (None, Trust::Mozilla) => {
            let roots = Arc::new(RootCertStore {
                roots: webpki_roots::TLS_SERVER_ROOTS.to_vec(),
            });
            (webpki(&roots)?, Some(roots))
        }
        // The platform's store is the platform's: its roots are not listed here.
        (None, Trust::Platform) => (
            Arc::new(
                rustls_platform_verifier::Verifier::new(Arc::clone(&provider))
                    .map_err(|e| TlsSetupError::Verifier(e.to_string()))?,
            ) as Arc<dyn ServerCertVerifier>,
            None,
        ),
    };
    let verifier = RecordingVerifier {
        inner,
        roots,
        insecure: opts.insecure,
        dane_ee: opts.dane_ee.clone(),
        record,
    };
    let versions = protocol_versions(opts)?;
    let builder = ClientConfig::builder_with_provider(provider)
        .with_protocol_versions(&versions)
        .map_err(|e| TlsSetupError::Verifier(e.to_string()))?
        .dangerous()
        .with_custom_certificate_verifier(Arc::new(verifier));
    let mut config = match &opts.client_cert {
        None => builder.with_no_client_auth(),
        Some(cc) => {
            let (chain, key) = load_client_cert(cc)?;
            builder
                .with_client_auth_cert(chain, key)
                .map_err(|e| TlsSetupError::ClientPair(e.to_string()))?
        }
    };
    config.enable_sni = !opts.no_sni;
    Ok(config)
}

/// The versions to offer, from `--tls-min`/`--tls-max`.
fn protocol_versions(
    opts: &TlsOptions,
) -> Result<Vec<&'static rustls::SupportedProtocolVersion>, TlsSetupError> {
    let min = opts.min_version.unwrap_or(TlsVersion::Tls12);
    let max = opts.max_version.unwrap_or(TlsVersion::Tls13);
    if min > max {
        return Err(TlsSetupError::VersionRange {
            min: min.label(),
            max: max.label(),
        });
    }
    Ok([
        (TlsVersion::Tls13, &rustls::version::TLS13),
        (TlsVersion::Tls12, &rustls::version::TLS12),
    ]
    .into_iter()
    .filter(|(v, _)| (min..=max).contains(v))
    .map(|(_, p)| p)
    .collect())
}

fn load_client_cert(
    cc: &ClientCert,
) -> Result<
    (
        Vec<CertificateDer<'static>>,
        rustls::pki_types::PrivateKeyDer<'static>,
    ),
    TlsSetupError,
> {
    let cert_err = |reason: String| TlsSetupError::ClientCert {
        path: cc.cert_file.clone(),
        reason,
    };
    let pem = crate::bounded_read::read_regular(&cc.cert_file, PEM_FILE_LIMIT)
        .map_err(|source| TlsSetupError::ClientCertRead { source })?;
    let chain = CertificateDer::pem_slice_iter(&pem)
        .collect::<Result<Vec<_>, _>>()
        .map_err(|e| cert_err(e.to_string()))?;
    if chain.is_empty() {
        return Err(cert_err("no PEM certificate in the file".into()));
    }
    // Wiped when dropped: it holds the private key.
    let key_pem = zeroize::Zeroizing::new(
        crate::bounded_read::read_regular(&cc.key_file, PEM_FILE_LIMIT)
            .map_err(|source| TlsSetupError::ClientKeyRead { source })?,
    );
    let key = rustls::pki_types::PrivateKeyDer::from_pem_slice(&key_pem).map_err(|e| {
        TlsSetupError::ClientKey {
            path: cc.key_file.clone(),
            reason: e.to_string(),
        }
    })?;
    Ok((chain, key))
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
    summarize_cert_at(der, jiff::Timestamp::now().as_second())
}

/// As [`summarize_cert`], counting the days left from `now` (unix seconds).
pub fn summarize_cert_at(der: &[u8], now: i64) -> CertSummary {
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
            let not_after = cert.validity().not_after.timestamp();
            CertSummary {
                subject: cert.subject().to_string(),
                issuer: cert.issuer().to_string(),
                sans,
                not_before: cert.validity().not_before.to_string(),
                not_after: cert.validity().not_after.to_string(),
                days_left: Some((not_after - now).div_euclid(86_400)),
                key: cert_defects::key_facts(cert.public_key()).label,
                signature_algorithm: cert_defects::oid_name(&cert.signature_algorithm.algorithm),
                sha256,
                is_ca: cert.is_ca(),
                self_signed: cert.subject().as_raw() == cert.issuer().as_raw(),
            }
        }
        Err(e) => CertSummary {
            subject: format!("(unparsable certificate: {e})"),
            issuer: String::new(),
            sans: Vec::new(),
            not_before: String::new(),
            not_after: String::new(),
            days_left: None,
            key: String::new(),
            signature_algorithm: String::new(),
            sha256,
            is_ca: false,
            self_signed: false,
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
    let mut info = tls_info_from_record(record, name, trust);
    info.version = conn
        .protocol_version()
        .map(|v| format!("{v:?}").replace('_', "."))
        .unwrap_or_else(|| "unknown".into());
    info.cipher_suite = conn
        .negotiated_cipher_suite()
        .map(|s| format!("{:?}", s.suite()))
        .unwrap_or_else(|| "unknown".into());
    info.key_exchange = conn
        .negotiated_key_exchange_group()
        .map(|g| format!("{:?}", g.name()));
    info
}

/// What the verifier learned, without a completed handshake (a rejected certificate).
pub fn tls_info_from_record(record: &Mutex<VerifierRecord>, name: &str, trust: String) -> TlsInfo {
    let record = lock(record);
    let chain: Vec<CertSummary> = record.chain.iter().map(|c| summarize_cert(c)).collect();
    let chain_check = ChainCheck::of(&chain, record.problem.iter().chain(&record.also));
    TlsInfo {
        version: "not completed".into(),
        cipher_suite: "none".into(),
        key_exchange: None,
        verification: Verification {
            verified: record.failure.is_none(),
            failure: record.failure.clone(),
            problem: record.problem.clone(),
            also: record.also.clone(),
            accepted_insecurely: record.accepted_insecurely,
            dane_ee: record.dane_ee.clone(),
            name: name.to_string(),
            trust,
        },
        chain,
        chain_check,
        chain_der: record.chain.iter().map(|c| c.to_vec()).collect(),
        resumed: false,
        ocsp: OcspStaple {
            present: !record.ocsp.is_empty(),
            bytes: record.ocsp.len(),
            status: (!record.ocsp.is_empty()).then(|| {
                super::ocsp::summarize(&record.ocsp)
                    .map_or_else(|| "(not an OCSP response)".to_string(), |s| s.to_string())
            }),
        },
    }
}

#[cfg(test)]
#[allow(clippy::unwrap_used, clippy::expect_used)] // test code
mod tests {
    use super::*;

    fn opts() -> TlsOptions {
        TlsOptions {
            trust: Trust::Mozilla,
            ..TlsOptions::default()
        }
    }

    #[test]
    fn sni_is_sent_unless_switched_off() {
        let (config, _) = client_config(&opts()).unwrap();
        assert!(config.enable_sni);
        let (config, _) = client_config(&TlsOptions {
            no_sni: true,
            ..opts()
        })
        .unwrap();
        assert!(!config.enable_sni);
    }

    #[test]
    fn versions_follow_min_and_max() {
        let only = |min, max| {
            protocol_versions(&TlsOptions {
                min_version: min,
                max_version: max,
                ..opts()
            })
            .map(|v| v.iter().map(|p| p.version).collect::<Vec<_>>())
        };
        use rustls::ProtocolVersion::{TLSv1_2, TLSv1_3};
        assert_eq!(only(None, None).unwrap(), [TLSv1_3, TLSv1_2]);
        assert_eq!(only(Some(TlsVersion::Tls13), None).unwrap(), [TLSv1_3]);
        assert_eq!(only(None, Some(TlsVersion::Tls12)).unwrap(), [TLSv1_2]);
        assert!(matches!(
            only(Some(TlsVersion::Tls13), Some(TlsVersion::Tls12)),
            Err(TlsSetupError::VersionRange { .. })
        ));
    }

    #[test]
    fn a_client_key_that_does_not_parse_names_the_file() {
        let dir = tempfile::tempdir().unwrap();
        let key = rcgen::KeyPair::generate().unwrap();
        let cert = rcgen::CertificateParams::new(vec!["c.test".to_string()])
            .unwrap()
            .self_signed(&key)
            .unwrap();
        let cert_file = dir.path().join("c.pem");
        let key_file = dir.path().join("c.key");
        std::fs::write(&cert_file, cert.pem()).unwrap();
        std::fs::write(&key_file, "not a key").unwrap();
        let with = |key_file: PathBuf| TlsOptions {
            client_cert: Some(ClientCert {
                cert_file: cert_file.clone(),
                key_file,
            }),
            ..opts()
        };
        let err = client_config(&with(key_file.clone())).unwrap_err();
        assert!(
            matches!(&err, TlsSetupError::ClientKey { path, .. } if *path == key_file),
            "{err}"
        );
        std::fs::write(&key_file, key.serialize_pem()).unwrap();
        assert!(client_config(&with(key_file)).is_ok());
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
