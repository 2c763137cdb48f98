//! Which TLS versions a server accepts, each probed on a fresh connection: 1.2 and 1.3 with a
//! real handshake pinned to that version (learning the suite and key exchange group), 1.0
//! and 1.1 with a hand-built ClientHello whose answer is read but never completed
//! ([`crate::smtp::tls_hello`]), since rustls does not speak them.
//!
//! The two old versions share one hello offering up to 1.1: before TLS 1.3 a server answers
//! with the highest version it has at or below the one offered (RFC 5246 §E.1), so an alert
//! refuses both, a 1.0 ServerHello accepts 1.0 and refuses 1.1, and only a 1.1 ServerHello
//! leaves 1.0 to a hello of its own. Most servers today refuse both: one connection, not two,
//! each a TCP connection, a greeting and an smtpd process on the server.
//!
//! And 1.3 needs no connection of its own when the session the probe belongs to negotiated it:
//! that session offered 1.3, the server took it. Otherwise (the session has no TLS, failed its
//! handshake, was pinned below 1.3, or got 1.2) a handshake pinned to 1.3 asks.

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
        /// Learnt from the probe's own session's handshake, not a connection of the probe's.
        #[serde(skip_serializing_if = "std::ops::Not::not")]
        in_session: bool,
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
                    in_session,
                } => format!(
                    "{} accepted: {cipher_suite}{}{}",
                    p.version,
                    key_exchange
                        .as_deref()
                        .map(|k| format!(", {k}"))
                        .unwrap_or_default(),
                    if *in_session {
                        " (the session's own handshake)"
                    } else {
                        ""
                    }
                ),
                ProbeOutcome::Refused { why } => format!("{} refused ({why})", p.version),
                ProbeOutcome::Unknown { why } => format!("{} not determined: {why}", p.version),
            })
            .collect()
    }
}

/// What the session a probe belongs to negotiated in its own handshake, offering the versions
/// its profile allows.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct SessionHandshake {
    pub version: String,
    pub cipher_suite: String,
    pub key_exchange: Option<String>,
}

impl SessionHandshake {
    pub fn of(info: &crate::tls_info::TlsInfo) -> SessionHandshake {
        SessionHandshake {
            version: info.version.clone(),
            cipher_suite: info.cipher_suite.clone(),
            key_exchange: info.key_exchange.clone(),
        }
    }
}

/// Probes the four versions at once (1.0 and 1.1 together, 1.3 from `session` when it
/// negotiated 1.3: see above). `session` resolves once the probe's session has made its
/// handshake or will not (`None`).
pub async fn versions(
    opts: &ConnectOptions,
    helo: &str,
    crowd: &Crowd,
    session: impl std::future::Future<Output = Option<SessionHandshake>>,
) -> VersionReport {
    let started = Instant::now();
    let mut opts = opts.clone();
    opts.timeouts.reply = opts.timeouts.reply.min(PROBE_REPLY_LIMIT);
    opts.timeouts.connect = opts.timeouts.connect.min(PROBE_REPLY_LIMIT);
    let wait = opts.timeouts.reply;
    let ((v10, v11), v12, v13) = tokio::join!(
        in_turn(crowd, wait, || old_versions(&opts, helo)),
        in_turn(crowd, wait, || modern_version(
            &opts,
            helo,
            TlsVersion::Tls12
        )),
        async {
            match session.await {
                Some(h) if h.version == "TLSv1.3" => ProbeOutcome::Accepted {
                    cipher_suite: h.cipher_suite,
                    key_exchange: h.key_exchange,
                    in_session: true,
                },
                _ => {
                    in_turn(crowd, wait, || {
                        modern_version(&opts, helo, TlsVersion::Tls13)
                    })
                    .await
                }
            }
        },
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
/// counts) or after a growing pause (50 ms, doubling, at most 500 ms and at most `wait`),
/// whichever comes first: a server counts a closed connection a moment after the client has
/// closed it, so an end seen here may not be room there yet. At most [`BUSY_RETRIES`] times
/// more, within the run's budget ([`super::crowd::RUN_RETRIES`]).
async fn in_turn<T, F, Fut>(crowd: &Crowd, wait: Duration, mut probe: F) -> T
where
    F: FnMut() -> Fut,
    Fut: std::future::Future<Output = (T, bool)>,
{
    let mut tries: u32 = 0;
    loop {
        let ended = crowd.next_end();
        let (outcome, busy) = probe().await;
        if !busy {
            // Its connection (which the server counted) is closed: a slot for another.
            crowd.connection_ended();
            return outcome;
        }
        tries += 1;
        if tries as usize > BUSY_RETRIES || !crowd.may_try_again() {
            return outcome;
        }
        let pause = Duration::from_millis((25u64 << tries.min(5)).min(500)).min(wait);
        let _ = tokio::time::timeout(pause, ended).await;
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

/// TLS 1.0's and 1.1's outcomes, from one hello offering up to 1.1 and, when the server
/// chose 1.1, one offering 1.0 alone; and whether the server turned a connection away with 421.
async fn old_versions(opts: &ConnectOptions, helo: &str) -> ((ProbeOutcome, ProbeOutcome), bool) {
    let mut busy = false;
    let up_to_11 = old_version_outcome(opts, helo, tls_hello::TLS11, &mut busy).await;
    match up_to_11.chosen {
        Some((tls_hello::TLS10, suite)) => {
            // It would have taken 1.1 had it any: its 1.1 outcome already says "answered with
            // TLSv1.0 instead".
            let v10 = ProbeOutcome::Accepted {
                cipher_suite: tls_hello::suite_name(suite),
                key_exchange: None,
                in_session: false,
            };
            ((v10, up_to_11.outcome), busy)
        }
        Some((tls_hello::TLS11, _)) => {
            let v10 = old_version_outcome(opts, helo, tls_hello::TLS10, &mut busy).await;
            ((v10.outcome, up_to_11.outcome), busy)
        }
        // Refused, unknown, or a server that answered 1.2 to a 1.1 hello: the same for both.
        _ => ((up_to_11.outcome.clone(), up_to_11.outcome), busy),
    }
}

/// What one hand-built hello learned: the outcome for the version it offered, and the
/// version and suite of the ServerHello the server answered with, if it sent one.
struct OldAnswer {
    outcome: ProbeOutcome,
    chosen: Option<(u16, u16)>,
}

impl From<ProbeOutcome> for OldAnswer {
    fn from(outcome: ProbeOutcome) -> OldAnswer {
        OldAnswer {
            outcome,
            chosen: None,
        }
    }
}

async fn old_version_outcome(
    opts: &ConnectOptions,
    helo: &str,
    version: u16,
    busy: &mut bool,
) -> OldAnswer {
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
        return ProbeOutcome::Unknown { why: e.to_string() }.into();
    }
    let mut random = [0u8; 32];
    if ring::rand::SecureRandom::fill(&ring::rand::SystemRandom::new(), &mut random).is_err() {
        conn.close().await;
        return ProbeOutcome::Unknown {
            why: "no random bytes for the ClientHello".into(),
        }
        .into();
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
        Err(e) => return ProbeOutcome::Unknown { why: e.to_string() }.into(),
    };
    let answer = tls_hello::parse_answer(&bytes);
    let chosen = match answer {
        HelloAnswer::ServerHello {
            version,
            cipher_suite,
        } => Some((version, cipher_suite)),
        _ => None,
    };
    let outcome = match answer {
        HelloAnswer::ServerHello {
            version: chosen,
            cipher_suite,
        } if chosen == version => ProbeOutcome::Accepted {
            cipher_suite: tls_hello::suite_name(cipher_suite),
            key_exchange: None,
            in_session: false,
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
    };
    OldAnswer { outcome, chosen }
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
                in_session: false,
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
