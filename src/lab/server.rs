//! The practice server: a small SMTP server on loopback with a chosen policy and, on request,
//! the misbehaviours a client must survive. Mail it accepts is stored, never sent on.

use std::net::SocketAddr;
use std::path::PathBuf;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, Mutex, MutexGuard};

use tokio::net::TcpListener;
use tokio::sync::{mpsc, watch};
use tokio_rustls::TlsAcceptor;

use super::accept::{self, Backoff, CapKind, Slots};
use super::budget::DataBudget;
use super::ca_file::CaFile;
use super::certs::{self, CertKind};
use super::dialect::Dialect;
use super::limits::Limits;
use super::policy::{HOSTNAME, Policy};
use super::session::serve;
use super::store::{MessageRing, StoredMessage};

/// Faults a practice server can be told to commit.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum Misbehaviour {
    /// Postfix-like: after 10 errors every reply waits 1 s (the error limit, 20 by default,
    /// then ends the session, as it does without a tarpit).
    Tarpit,
    /// The banner comes after 5 s.
    SlowBanner,
    /// The connection drops halfway through the EHLO reply.
    DropMidReply,
    /// The EHLO reply changes its code between lines.
    BadMultiline,
    /// Every reply line ends in a bare LF.
    BareLf,
    /// Plaintext replies ride along with STARTTLS's 220 (CVE-2011-0411 class).
    StarttlsInjection,
    /// STARTTLS is neither advertised nor accepted, as by a downgrading middlebox.
    StripStarttls,
    /// An expired certificate.
    ExpiredCert,
    /// A certificate for another name.
    WrongNameCert,
}

/// Things worth telling the operator, as they happen. Those about overload come once per
/// burst, not once per client, so a flood cannot flood the log too.
#[derive(Debug, Clone)]
pub enum LabEvent {
    Connection {
        peer: SocketAddr,
    },
    /// The PROXY header of a connection from `peer` named `client` (`None`: a health check
    /// or an address family with no client address).
    Proxied {
        peer: SocketAddr,
        client: Option<SocketAddr>,
    },
    /// A connection from `peer` did not start with a PROXY header; closed without a banner.
    ProxyRefused {
        peer: SocketAddr,
        reason: String,
    },
    Message(StoredMessage),
    /// The first client turned away with 421 since the server was last under its cap.
    Overloaded {
        server: SocketAddr,
        cap: usize,
        kind: CapKind,
    },
    /// A client was let in again, after `refused` were turned away.
    OverloadEnded {
        server: SocketAddr,
        refused: u64,
    },
    /// accept(2) failed for want of resources (EMFILE...); the server pauses and retries.
    AcceptFailing {
        server: SocketAddr,
        error: String,
    },
    AcceptRecovered {
        server: SocketAddr,
        failures: u64,
    },
    /// A limit ended a session; the client was told with a 421.
    SessionCut {
        peer: SocketAddr,
        cut: Cut,
    },
    /// The message ring let its first message go; [`Lab::dropped_messages`] has the count.
    MessagesDropping {
        server: SocketAddr,
        kept: usize,
    },
}

/// The limit that ended a session.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Cut {
    CommandTimeout,
    SessionTimeout,
    TooManyErrors,
}

impl std::fmt::Display for Cut {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(match self {
            Cut::CommandTimeout => "command timeout",
            Cut::SessionTimeout => "session timeout",
            Cut::TooManyErrors => "too many errors",
        })
    }
}

#[derive(Debug, Clone)]
pub struct LabConfig {
    pub listen: SocketAddr,
    pub policy: Policy,
    pub misbehave: Vec<Misbehaviour>,
    /// Also write each message's raw bytes to this directory.
    pub store_dir: Option<PathBuf>,
}

/// What a server's sessions share.
pub(crate) struct Shared {
    pub(crate) addr: SocketAddr,
    pub(crate) policy: Policy,
    misbehave: Vec<Misbehaviour>,
    pub(crate) acceptor: TlsAcceptor,
    pub(crate) limits: Limits,
    messages: Mutex<MessageRing>,
    pub(crate) next_id: AtomicU64,
    /// Failed accepts in the burst going on now (0: accepting), for the report at stop.
    accept_failures: AtomicU64,
    /// Replies the tarpit held back, over all sessions.
    pub(crate) tarpit_delays: AtomicU64,
    pub(crate) store_dir: Option<PathBuf>,
    events: Option<mpsc::UnboundedSender<LabEvent>>,
    slots: Arc<Slots>,
    pub(crate) budget: DataBudget,
    pub(crate) dialect: Dialect,
}

impl Shared {
    pub(crate) fn has(&self, m: Misbehaviour) -> bool {
        self.misbehave.contains(&m)
    }

    pub(crate) fn emit(&self, event: LabEvent) {
        if let Some(tx) = &self.events {
            let _ = tx.send(event);
        }
    }

    fn ring(&self) -> MutexGuard<'_, MessageRing> {
        // A session that panicked mid-push leaves a ring still worth reading.
        self.messages
            .lock()
            .unwrap_or_else(std::sync::PoisonError::into_inner)
    }

    pub(crate) fn keep(&self, m: StoredMessage) {
        let mut ring = self.ring();
        let before = ring.dropped();
        ring.push(m);
        if before == 0 && ring.dropped() > 0 {
            self.emit(LabEvent::MessagesDropping {
                server: self.addr,
                kept: self.limits.keep_messages,
            });
        }
    }
}

/// A running practice server. Dropping it stops the server.
pub struct Lab {
    pub addr: SocketAddr,
    pub policy: Policy,
    pub ca_pem: String,
    pub ca_path: PathBuf,
    shared: Arc<Shared>,
    stop: watch::Sender<bool>,
    /// Removes the CA file and its directory when the lab goes.
    _ca_file: CaFile,
}

impl Drop for Lab {
    fn drop(&mut self) {
        let _ = self.stop.send(true);
    }
}

/// Why a practice server did not start.
#[derive(Debug, thiserror::Error)]
pub enum LabError {
    #[error("the lab listens on loopback only (127.0.0.0/8 or ::1), not {0}")]
    NotLoopback(std::net::IpAddr),
    #[error(transparent)]
    Certs(#[from] certs::CertError),
    #[error("cannot listen on {addr}: {source}")]
    Listen {
        addr: SocketAddr,
        source: std::io::Error,
    },
    #[error("cannot create {}: {source}", path.display())]
    CreateDir {
        path: PathBuf,
        source: std::io::Error,
    },
    #[error("cannot write {}: {source}", path.display())]
    WriteFile {
        path: PathBuf,
        source: std::io::Error,
    },
    #[error("cannot store messages in {}: {source}", path.display())]
    Store {
        path: PathBuf,
        source: std::io::Error,
    },
}

impl Lab {
    /// Starts listening with the default [`Limits`]; loopback addresses only, so a practice open
    /// relay is never reachable from the network.
    pub async fn start(
        config: LabConfig,
        events: Option<mpsc::UnboundedSender<LabEvent>>,
    ) -> Result<Lab, LabError> {
        Lab::start_with_limits(config, Limits::default(), events).await
    }

    /// Starts listening with these limits, speaking plain ESMTP.
    pub async fn start_with_limits(
        config: LabConfig,
        limits: Limits,
        events: Option<mpsc::UnboundedSender<LabEvent>>,
    ) -> Result<Lab, LabError> {
        Lab::start_speaking(config, limits, Dialect::default(), events).await
    }

    /// Starts listening; on any error nothing is left behind, neither a socket nor a file.
    pub async fn start_speaking(
        config: LabConfig,
        limits: Limits,
        dialect: Dialect,
        events: Option<mpsc::UnboundedSender<LabEvent>>,
    ) -> Result<Lab, LabError> {
        if !config.listen.ip().is_loopback() {
            return Err(LabError::NotLoopback(config.listen.ip()));
        }
        // Checked first: a store that cannot be written is the commonest mistake, and finding
        // it before the CA is written means there is nothing to clean up.
        if let Some(store) = &config.store_dir {
            check_store(store)?;
        }
        let kind = if config.misbehave.contains(&Misbehaviour::ExpiredCert) {
            CertKind::Expired
        } else if config.misbehave.contains(&Misbehaviour::WrongNameCert) {
            CertKind::WrongName
        } else {
            CertKind::Good
        };
        let pki = certs::generate(HOSTNAME, kind)?;
        let listen_error = |source| LabError::Listen {
            addr: config.listen,
            source,
        };
        let listener = accept::bind(config.listen, limits.listen_backlog).map_err(listen_error)?;
        let addr = listener.local_addr().map_err(listen_error)?;
        let ca_file = CaFile::write(
            &std::env::temp_dir().join(format!(
                "smtpscope-lab-{}-{}",
                std::process::id(),
                addr.port()
            )),
            &pki.ca_pem,
        )?;
        let shared = Arc::new(Shared {
            addr,
            policy: config.policy,
            misbehave: config.misbehave,
            acceptor: TlsAcceptor::from(pki.server_config),
            messages: Mutex::new(MessageRing::new(limits.keep_messages, limits.keep_bytes)),
            next_id: AtomicU64::new(1),
            accept_failures: AtomicU64::new(0),
            tarpit_delays: AtomicU64::new(0),
            store_dir: config.store_dir,
            events,
            slots: Slots::new(limits.max_connections, accept::fd_ceiling()),
            budget: DataBudget::new(limits.data_budget),
            limits,
            dialect,
        });
        let (stop, stopped) = watch::channel(false);
        tokio::spawn(accept_loop(listener, Arc::clone(&shared), stopped));
        Ok(Lab {
            addr,
            policy: config.policy,
            ca_pem: pki.ca_pem,
            ca_path: ca_file.path().to_path_buf(),
            shared,
            stop,
            _ca_file: ca_file,
        })
    }

    /// Every message still kept (the newest, up to the ring's bounds), oldest first.
    pub fn messages(&self) -> Vec<StoredMessage> {
        self.shared.ring().to_vec()
    }

    /// How many accepted messages the ring has let go to stay within its bounds.
    pub fn dropped_messages(&self) -> u64 {
        self.shared.ring().dropped()
    }

    /// Failed accepts in a burst still going on (0 when the server is accepting): a lab
    /// stopped mid-burst says so, since no "accepting again" line will follow.
    pub fn accept_failures_now(&self) -> u64 {
        self.shared.accept_failures.load(Ordering::Relaxed)
    }

    /// Replies the tarpit (`--misbehave tarpit`) held back a second, over all sessions so far:
    /// how a client learns it drew enough errors to be slowed, without timing anything.
    pub fn tarpit_delays(&self) -> u64 {
        self.shared.tarpit_delays.load(Ordering::Relaxed)
    }

    /// Bytes of DATA being received right now, over all sessions.
    pub fn data_in_flight(&self) -> usize {
        self.shared.budget.in_flight()
    }

    /// Sessions open right now.
    pub fn open_sessions(&self) -> usize {
        self.shared.slots.open()
    }

    /// The connection cap in force: `--max-connections`, or less under a low open-file limit.
    pub fn connection_cap(&self) -> usize {
        self.shared.slots.effective_cap()
    }

    pub fn limits(&self) -> &Limits {
        &self.shared.limits
    }

    pub fn dialect(&self) -> Dialect {
        self.shared.dialect
    }
}

/// Creates the store directory and proves it writable with a probe file, since creating a
/// directory that already exists succeeds whatever its permissions.
fn check_store(store: &std::path::Path) -> Result<(), LabError> {
    let store_error = |source| LabError::Store {
        path: store.to_path_buf(),
        source,
    };
    crate::private_write::create_private_dir_all(store).map_err(store_error)?;
    let probe = store.join(format!(".smtpscope-probe-{}", std::process::id()));
    crate::private_write::create_new(&probe, b"").map_err(store_error)?;
    std::fs::remove_file(&probe).map_err(store_error)
}

/// The refusal for a client over the cap, in Postfix's words for the same case.
const TOO_MANY_CONNECTIONS: &[u8] = b"421 4.7.0 too many connections, try again later\r\n";

async fn accept_loop(
    listener: TcpListener,
    shared: Arc<Shared>,
    mut stopped: watch::Receiver<bool>,
) {
    let server = shared.addr;
    let mut backoff = Backoff::default();
    let mut refused: u64 = 0;
    loop {
        let accepted = tokio::select! {
            _ = stopped.changed() => break,
            accepted = listener.accept() => accepted,
        };
        let (tcp, peer) = match accepted {
            Ok(conn) => conn,
            Err(e) => {
                let verdict = backoff.failed(&e);
                shared
                    .accept_failures
                    .store(backoff.failures(), Ordering::Relaxed);
                if verdict.report {
                    shared.emit(LabEvent::AcceptFailing {
                        server,
                        error: e.to_string(),
                    });
                }
                // The listening socket stays readable while accept fails with EMFILE, so
                // without a pause this loop would retry at full speed until a descriptor frees.
                if !verdict.pause.is_zero() {
                    tokio::select! {
                        _ = stopped.changed() => break,
                        _ = tokio::time::sleep(verdict.pause) => {}
                    }
                }
                continue;
            }
        };
        if let Some(failures) = backoff.accepted() {
            shared.accept_failures.store(0, Ordering::Relaxed);
            shared.emit(LabEvent::AcceptRecovered { server, failures });
        }
        let slot = match shared.slots.try_take() {
            Ok(slot) => slot,
            Err(kind) => {
                refused += 1;
                if refused == 1 {
                    shared.emit(LabEvent::Overloaded {
                        server,
                        cap: shared.slots.effective_cap(),
                        kind,
                    });
                }
                // Not awaited: a fresh socket's send buffer is empty, and a client that cannot
                // take one line is not worth a task. Dropping `tcp` then closes it.
                let _ = tcp.try_write(TOO_MANY_CONNECTIONS);
                continue;
            }
        };
        if refused > 0 {
            shared.emit(LabEvent::OverloadEnded {
                server,
                refused: std::mem::take(&mut refused),
            });
        }
        shared.emit(LabEvent::Connection { peer });
        let shared = Arc::clone(&shared);
        let mut conn_stop = stopped.clone();
        tokio::spawn(async move {
            let _slot = slot;
            tokio::select! {
                _ = conn_stop.changed() => {}
                _ = serve(tcp, peer, shared) => {}
            }
        });
    }
}
