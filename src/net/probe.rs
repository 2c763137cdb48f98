//! Which TLS versions a server accepts, each probed on a fresh connection: 1.2 and 1.3 with a
//! real handshake pinned to that version (learning the suite and key exchange group), 1.0
//! and 1.1 with a hand-built ClientHello whose answer is read but never completed
//! ([`crate::smtp::tls_hello`]), since rustls does not speak them.

use std::time::{Duration, Instant};

use crate::smtp::tls_hello::{self, HelloAnswer};
use crate::transcript::Transcript;

use super::crowd::Crowd;
use super::driver::{ConnectOptions, Connection, TlsMode};
use super::error::NetError;
use super::tls::TlsVersion;

/// The longest one probe waits for an answer, whatever the profile's reply timeout.
const PROBE_REPLY_LIMIT: Duration = Duration::from_secs(10);

#[derive(Debug, Clone, PartialEq, Eq, serde::Serialize)]
#[serde(tag = "result", rename_all = "kebab-case")]
pub enum ProbeOutcome {
    Accepted {
        cipher_suite: String,
        key_exchange: Option<String>,
    },
    Refused {
        why: String,
    },
    /// The probe could not tell (no connection, STARTTLS refused, a timeout).
    Unknown {
        why: String,
    },
}

#[derive(Debug, Clone, PartialEq, Eq, serde::Serialize)]
pub struct VersionProbe {
    /// "TLSv1.0" … "TLSv1.3".
    pub version: String,
    #[serde(flatten)]
    pub outcome: ProbeOutcome,
}

#[derive(Debug, Clone, PartialEq, Eq, serde::Serialize)]
pub struct VersionReport {
    /// Oldest first.
    pub probes: Vec<VersionProbe>,
    pub elapsed_ms: u64,
}

impl VersionReport {
    pub fn accepted(&self) -> Vec<&str> {
        self.probes
            .iter()
            .filter(|p| matches!(p.outcome, ProbeOutcome::Accepted { .. }))
            .map(|p| p.version.as_str())
            .collect()
    }

    /// One line per version.
    pub fn lines(&self) -> Vec<String> {
        self.probes
            .iter()
            .map(|p| match &p.outcome {
                ProbeOutcome::Accepted {
                    cipher_suite,
                    key_exchange,
                } => format!(
                    "{} accepted: {cipher_suite}{}",
                    p.version,
                    key_exchange
                        .as_deref()
                        .map(|k| format!(", {k}"))
                        .unwrap_or_default()
                ),
                ProbeOutcome::Refused { why } => format!("{} refused ({why})", p.version),
                ProbeOutcome::Unknown { why } => format!("{} not determined: {why}", p.version),
            })
            .collect()
    }
}

/// Probes all four versions at once (each on its own connection).
pub async fn versions(opts: &ConnectOptions, helo: &str, crowd: &Crowd) -> VersionReport {
    let started = Instant::now();
    let mut opts = opts.clone();
    opts.timeouts.reply = opts.timeouts.reply.min(PROBE_REPLY_LIMIT);
    opts.timeouts.connect = opts.timeouts.connect.min(PROBE_REPLY_LIMIT);
    let wait = opts.timeouts.reply;
    let (v10, v11, v12, v13) = tokio::join!(
        in_turn(crowd, wait, || old_version(&opts, helo, tls_hello::TLS10)),
        in_turn(crowd, wait, || old_version(&opts, helo, tls_hello::TLS11)),
        in_turn(crowd, wait, || modern_version(
            &opts,
            helo,
            TlsVersion::Tls12
        )),
        in_turn(crowd, wait, || modern_version(
            &opts,
            helo,
            TlsVersion::Tls13
        )),
    );
    VersionReport {
        probes: vec![
            VersionProbe {
                version: "TLSv1.0".into(),
                outcome: v10,
            },
            VersionProbe {
                version: "TLSv1.1".into(),
                outcome: v11,
            },
            VersionProbe {
                version: "TLSv1.2".into(),
                outcome: v12,
            },
            VersionProbe {
                version: "TLSv1.3".into(),
                outcome: v13,
            },
        ],
        elapsed_ms: started.elapsed().as_millis() as u64,
    }
}

/// The most times one version probe connects again after a 421 in the banner.
const BUSY_RETRIES: usize = 8;

/// Runs a probe; when the server turned its connection away with 421 in the banner (a
/// per-client connection limit, met beside the run's sessions and the other probes), tries
/// again once another of the run's connections has ended (one that ended during the attempt
/// counts), waiting at most `wait` each time (the session that would end may be the one
/// waiting for this probe) and trying at most [`BUSY_RETRIES`] times more.
async fn in_turn<F, Fut>(crowd: &Crowd, wait: Duration, mut probe: F) -> ProbeOutcome
where
    F: FnMut() -> Fut,
    Fut: std::future::Future<Output = (ProbeOutcome, bool)>,
{
    let mut tries = 0;
    loop {
        let ended = crowd.next_end();
        let (outcome, busy) = probe().await;
        if !busy {
            // Its connection (which the server counted) is closed: a slot for another.
            crowd.connection_ended();
            return outcome;
        }
        tries += 1;
        if tries > BUSY_RETRIES || tokio::time::timeout(wait, ended).await.is_err() {
            return outcome;
        }
    }
}

/// Connects and gets to the point where a TLS ClientHello is due: after STARTTLS's 220, or
/// straight away for implicit TLS.
async fn to_hello(conn: &mut Connection, helo: &str, implicit: bool) -> Result<(), NetError> {
    if implicit {
        return conn.open_without_banner().await;
    }
    conn.open_checked().await?;
    conn.greet(helo).await?;
    conn.starttls_without_handshake().await?;
    Ok(())
}

/// The probe's outcome, and whether the server turned the connection away with 421.
async fn old_version(opts: &ConnectOptions, helo: &str, version: u16) -> (ProbeOutcome, bool) {
    let mut busy = false;
    let outcome = old_version_outcome(opts, helo, version, &mut busy).await;
    (outcome, busy)
}

async fn old_version_outcome(
    opts: &ConnectOptions,
    helo: &str,
    version: u16,
    busy: &mut bool,
) -> ProbeOutcome {
    let implicit = opts.tls_mode == TlsMode::Implicit;
    let mut plain = opts.clone();
    // Implicit TLS: open the TCP connection only; the hello below is the first byte sent.
    if implicit {
        plain.tls_mode = TlsMode::None;
    }
    let mut conn = Connection::new(plain, Transcript::new());
    if let Err(e) = to_hello(&mut conn, helo, implicit).await {
        conn.close().await;
        *busy = e.is_busy();
        return ProbeOutcome::Unknown { why: e.to_string() };
    }
    let mut random = [0u8; 32];
    if ring::rand::SecureRandom::fill(&ring::rand::SystemRandom::new(), &mut random).is_err() {
        conn.close().await;
        return ProbeOutcome::Unknown {
            why: "no random bytes for the ClientHello".into(),
        };
    }
    let name = opts
        .tls
        .tls_name
        .clone()
        .unwrap_or_else(|| opts.target.host.clone());
    let sni = (!opts.tls.no_sni).then_some(name.as_str());
    let hello = tls_hello::client_hello(version, random, sni);
    let answer = conn
        .raw_exchange(&hello, |b| {
            !matches!(tls_hello::parse_answer(b), HelloAnswer::Incomplete { .. })
        })
        .await;
    conn.close().await;
    let bytes = match answer {
        Ok(b) => b,
        Err(e) => return ProbeOutcome::Unknown { why: e.to_string() },
    };
    match tls_hello::parse_answer(&bytes) {
        HelloAnswer::ServerHello {
            version: chosen,
            cipher_suite,
        } if chosen == version => ProbeOutcome::Accepted {
            cipher_suite: tls_hello::suite_name(cipher_suite),
            key_exchange: None,
        },
        HelloAnswer::ServerHello {
            version: chosen, ..
        } => ProbeOutcome::Refused {
            why: format!(
                "the server answered with {} instead",
                tls_hello::version_name(chosen)
            ),
        },
        HelloAnswer::Alert { description, .. } => ProbeOutcome::Refused {
            why: format!("alert {}", tls_hello::alert_name(description)),
        },
        HelloAnswer::HelloThenAlert {
            version: chosen,
            description,
            ..
        } => ProbeOutcome::Refused {
            why: format!(
                "a {} ServerHello, then alert {}: the server cannot complete it",
                tls_hello::version_name(chosen),
                tls_hello::alert_name(description)
            ),
        },
        HelloAnswer::Incomplete { hello: None } if bytes.is_empty() => ProbeOutcome::Refused {
            why: "the server closed the connection".into(),
        },
        HelloAnswer::Incomplete {
            hello: Some((chosen, _)),
        } => ProbeOutcome::Refused {
            why: format!(
                "a {} ServerHello, then the connection ended before ServerHelloDone",
                tls_hello::version_name(chosen)
            ),
        },
        HelloAnswer::Incomplete { hello: None } => ProbeOutcome::Unknown {
            why: format!("only {} bytes of an answer arrived", bytes.len()),
        },
        HelloAnswer::NotTls { first } => ProbeOutcome::Unknown {
            why: format!(
                "the answer is not TLS: {}",
                String::from_utf8_lossy(&first).trim_end()
            ),
        },
    }
}

/// The probe's outcome, and whether the server turned the connection away with 421.
async fn modern_version(
    opts: &ConnectOptions,
    helo: &str,
    version: TlsVersion,
) -> (ProbeOutcome, bool) {
    let mut pinned = opts.clone();
    // A full handshake of its own: a resumed one would not show what this version negotiates.
    pinned.resumption = None;
    pinned.tls.min_version = Some(version);
    pinned.tls.max_version = Some(version);
    // The probe learns versions, not trust: a bad certificate is the chain check's finding,
    // and nothing but EHLO is sent inside this TLS.
    pinned.tls.insecure = true;
    if pinned.tls_mode == TlsMode::None {
        pinned.tls_mode = TlsMode::Starttls;
    }
    let implicit = pinned.tls_mode == TlsMode::Implicit;
    let mut conn = Connection::new(pinned, Transcript::new());
    let result = async {
        if implicit {
            conn.open_checked().await?;
        } else {
            conn.open_checked().await?;
            conn.greet(helo).await?;
            conn.starttls().await?;
        }
        Ok::<(), NetError>(())
    }
    .await;
    let busy = result.as_ref().is_err_and(NetError::is_busy);
    let outcome = match result {
        Ok(()) => match conn.tls_info() {
            Some(info) => ProbeOutcome::Accepted {
                cipher_suite: info.cipher_suite.clone(),
                key_exchange: info.key_exchange.clone(),
            },
            None => ProbeOutcome::Unknown {
                why: "no TLS session after the handshake".into(),
            },
        },
        Err(NetError::Handshake { reason }) => ProbeOutcome::Refused { why: reason },
        Err(NetError::Closed { .. }) => ProbeOutcome::Refused {
            why: "the server closed the connection".into(),
        },
        Err(e) => ProbeOutcome::Unknown { why: e.to_string() },
    };
    if conn.tls_info().is_some() {
        let _ = conn.quit().await;
    } else {
        conn.close().await;
    }
    (outcome, busy)
}
