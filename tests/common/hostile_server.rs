//! A hostile SMTP server for fault injection: a plain, well-behaved SMTP responder on loopback
//! with a hook that may take over at any stage of the dialogue to misbehave (flood, stall,
//! drip, lie, close, inject). Unlike `fake_server`, it accepts any number of connections (one
//! thread each), because `check` and the TUI open several sessions per scenario.
//!
//! Everything is bounded: the accept loop stops when the server is dropped (or after 60 s),
//! every read gives up after 10 s, and the flooding helpers stop after a time and byte budget
//! or as soon as the client goes away.

use std::io::{ErrorKind, Read, Write};
use std::net::{TcpListener, TcpStream};
use std::sync::atomic::{AtomicBool, AtomicUsize, Ordering};
use std::sync::{Arc, Mutex};
use std::thread::JoinHandle;
use std::time::{Duration, Instant};

use crate::common::fake_server::Handshake;
use rcgen::{CertificateParams, DnType, KeyPair};
use rustls::pki_types::{CertificateDer, PrivateKeyDer, PrivatePkcs8KeyDer};

/// How long any single read on the server side may block.
const READ_TIMEOUT: Duration = Duration::from_secs(10);
/// The longest the accept loop runs, whatever the test does.
const SERVER_LIFETIME: Duration = Duration::from_secs(60);

/// Where in the dialogue the client is when the hook is asked.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Stage {
    /// Right after accept (before implicit TLS, if any).
    Accept,
    /// Implicit TLS is up (or the connection is plain): the banner is due.
    Banner,
    Ehlo,
    Starttls,
    Mail,
    Rcpt,
    Data,
    Other,
}

/// What the hook decided.
pub enum Flow {
    /// Answer as a well-behaved server would.
    Normal,
    /// The hook answered; read the next command.
    Handled,
    /// End the connection now.
    Close,
}

pub type Hook = Arc<dyn Fn(&mut Peer, Stage, &[u8]) -> Flow + Send + Sync>;

/// What the server received: (connection, inside TLS, bytes), in order of arrival.
type Log = Arc<Mutex<Vec<(usize, bool, Vec<u8>)>>>;

/// Per connection: the event number of its accept and of its end (`None` while it lasts),
/// from one counter shared by all of a server's connections.
type Spans = Arc<Mutex<(usize, Vec<(usize, Option<usize>)>)>>;

fn next_event(spans: &Spans) -> usize {
    let mut s = spans.lock().expect("spans");
    s.0 += 1;
    s.0
}

/// How the server does TLS.
#[derive(Clone)]
pub enum Tls {
    None,
    /// Offers STARTTLS with this configuration.
    Starttls(Arc<rustls::ServerConfig>),
    /// TLS from the first byte.
    Implicit(Arc<rustls::ServerConfig>),
}

enum Stream {
    Plain(TcpStream),
    Tls(Box<rustls::StreamOwned<rustls::ServerConnection, TcpStream>>),
    Gone,
}

/// The server's side of one connection.
pub struct Peer {
    stream: Stream,
    buf: Vec<u8>,
    tls_config: Option<Arc<rustls::ServerConfig>>,
    /// The line ending of normal replies (`\r\n`, or `\n` / `\r` to misbehave).
    pub eol: &'static [u8],
    log: Log,
    /// This connection's number (0 for the first accepted).
    pub id: usize,
    /// Bytes written so far on this connection.
    pub written: u64,
}

impl Peer {
    pub fn tls_active(&self) -> bool {
        matches!(self.stream, Stream::Tls(_))
    }

    pub fn gone(&self) -> bool {
        matches!(self.stream, Stream::Gone)
    }

    fn tcp(&self) -> Option<&TcpStream> {
        match &self.stream {
            Stream::Plain(s) => Some(s),
            Stream::Tls(s) => Some(&s.sock),
            Stream::Gone => None,
        }
    }

    /// Writes bytes; a write error means the client is gone, which ends the connection.
    pub fn send(&mut self, bytes: &[u8]) -> bool {
        let r = match &mut self.stream {
            Stream::Plain(s) => s.write_all(bytes).and_then(|_| s.flush()),
            Stream::Tls(s) => s.write_all(bytes).and_then(|_| s.flush()),
            Stream::Gone => return false,
        };
        match r {
            Ok(()) => {
                self.written += bytes.len() as u64;
                true
            }
            Err(_) => {
                self.stream = Stream::Gone;
                false
            }
        }
    }

    /// A normal reply line `code text` ending in `self.eol`; `more` makes it a `code-` line.
    pub fn reply_line(&mut self, code: u16, more: bool, text: &str) -> bool {
        let mut out = format!("{code}{}{text}", if more { '-' } else { ' ' }).into_bytes();
        out.extend_from_slice(self.eol);
        self.send(&out)
    }

    fn fill(&mut self) -> bool {
        let mut chunk = [0u8; 4096];
        let r = match &mut self.stream {
            Stream::Plain(s) => s.read(&mut chunk),
            Stream::Tls(s) => s.read(&mut chunk),
            Stream::Gone => return false,
        };
        match r {
            Ok(0) | Err(_) => false,
            Ok(n) => {
                self.buf.extend_from_slice(&chunk[..n]);
                true
            }
        }
    }

    /// Reads one line (through LF). `None` when the client closed, or after 10 s of silence.
    pub fn line(&mut self) -> Option<Vec<u8>> {
        loop {
            if let Some(i) = self.buf.iter().position(|&b| b == b'\n') {
                let line: Vec<u8> = self.buf.drain(..=i).collect();
                let tls = self.tls_active();
                self.log
                    .lock()
                    .expect("log")
                    .push((self.id, tls, line.clone()));
                return Some(line);
            }
            if self.buf.len() > 64 * 1024 || !self.fill() {
                return None;
            }
        }
    }

    /// Waits, up to `limit`, for the client to close; whatever it sends meanwhile is logged.
    /// True when the client closed (end of stream or a reset), false when `limit` passed.
    pub fn wait_for_close(&mut self, limit: Duration) -> bool {
        if let Some(t) = self.tcp() {
            let _ = t.set_read_timeout(Some(Duration::from_millis(100)));
        }
        let until = Instant::now() + limit;
        let mut closed = false;
        while Instant::now() < until {
            let mut chunk = [0u8; 4096];
            let r = match &mut self.stream {
                Stream::Plain(s) => s.read(&mut chunk),
                Stream::Tls(s) => s.read(&mut chunk),
                Stream::Gone => return true,
            };
            match r {
                Ok(0) => {
                    closed = true;
                    break;
                }
                Ok(n) => {
                    let tls = self.tls_active();
                    self.log
                        .lock()
                        .expect("log")
                        .push((self.id, tls, chunk[..n].to_vec()));
                }
                Err(e) if matches!(e.kind(), ErrorKind::WouldBlock | ErrorKind::TimedOut) => {}
                Err(_) => {
                    closed = true;
                    break;
                }
            }
        }
        self.stream = Stream::Gone;
        closed
    }

    /// Sends `bytes` one byte every `gap`, stopping early when the client goes away.
    pub fn drip(&mut self, bytes: &[u8], gap: Duration) {
        for b in bytes {
            if !self.send(std::slice::from_ref(b)) {
                return;
            }
            std::thread::sleep(gap);
        }
    }

    /// Sends `unit` over and over for at most `limit` or `max_bytes`, or until the client
    /// goes away.
    pub fn flood(&mut self, unit: &[u8], limit: Duration, max_bytes: u64) {
        let mut block = Vec::with_capacity(64 * 1024);
        while block.len() + unit.len() <= 64 * 1024 {
            block.extend_from_slice(unit);
        }
        if let Some(t) = self.tcp() {
            let _ = t.set_write_timeout(Some(Duration::from_millis(500)));
        }
        let until = Instant::now() + limit;
        let start = self.written;
        while Instant::now() < until && self.written - start < max_bytes {
            if !self.send(&block) {
                return;
            }
        }
    }

    /// The server side of the TLS handshake. False on failure, with the connection left open
    /// in plaintext (the handshake's bytes consumed), so that whatever the client sends next
    /// can still be seen: after a failed handshake it must send nothing.
    pub fn start_tls(&mut self) -> bool {
        let Some(config) = self.tls_config.clone() else {
            return false;
        };
        let Stream::Plain(tcp) = std::mem::replace(&mut self.stream, Stream::Gone) else {
            return false;
        };
        if !self.buf.is_empty() {
            // The client sent bytes before the handshake: keep them in the log, do not parse.
            let early = std::mem::take(&mut self.buf);
            self.log.lock().expect("log").push((self.id, false, early));
        }
        let mut tcp = tcp;
        match crate::common::fake_server::server_handshake(config, &mut tcp) {
            Handshake::Done(conn) => {
                self.stream = Stream::Tls(Box::new(rustls::StreamOwned::new(*conn, tcp)));
                true
            }
            Handshake::Failed { after } => {
                let mut log = self.log.lock().expect("log");
                for line in after.split_inclusive(|&b| b == b'\n') {
                    log.push((self.id, false, line.to_vec()));
                }
                drop(log);
                self.stream = Stream::Plain(tcp);
                false
            }
        }
    }

    /// Reads one TLS record (the ClientHello) in plaintext and returns it, or `None` if the
    /// client sent none within the read timeout.
    pub fn read_client_hello(&mut self) -> Option<Vec<u8>> {
        while self.buf.len() < 5 {
            if !self.fill() {
                return None;
            }
        }
        let len = usize::from(u16::from_be_bytes([self.buf[3], self.buf[4]]));
        while self.buf.len() < 5 + len {
            if !self.fill() {
                return None;
            }
        }
        Some(self.buf.drain(..5 + len).collect())
    }

    /// Closes the connection at once (no TLS close_notify: a rude close).
    pub fn close(&mut self) {
        if let Some(t) = self.tcp() {
            let _ = t.shutdown(std::net::Shutdown::Both);
        }
        self.stream = Stream::Gone;
    }

    /// The well-behaved answer at `stage` to `line`.
    pub fn normal(&mut self, stage: Stage, line: &[u8]) -> Flow {
        let upper = String::from_utf8_lossy(line).to_ascii_uppercase();
        let ok = match stage {
            Stage::Accept => true,
            Stage::Banner => self.reply_line(220, false, "hostile.example ESMTP"),
            Stage::Ehlo => {
                if upper.starts_with("HELO") {
                    self.reply_line(250, false, "hostile.example")
                } else {
                    let mut caps = vec!["hostile.example", "PIPELINING", "SIZE 10240000"];
                    if self.tls_config.is_some() && !self.tls_active() {
                        caps.push("STARTTLS");
                    }
                    caps.push("8BITMIME");
                    let n = caps.len();
                    caps.iter()
                        .enumerate()
                        .all(|(i, c)| self.reply_line(250, i + 1 < n, c))
                }
            }
            Stage::Starttls => {
                if self.tls_config.is_some() && !self.tls_active() {
                    if !self.reply_line(220, false, "2.0.0 Ready to start TLS") {
                        return Flow::Close;
                    }
                    if self.start_tls() {
                        return Flow::Handled;
                    }
                    self.wait_for_close(READ_TIMEOUT);
                    return Flow::Close;
                }
                self.reply_line(502, false, "5.5.1 Error: command not implemented")
            }
            Stage::Mail => self.reply_line(250, false, "2.1.0 Ok"),
            Stage::Rcpt => {
                if upper.contains("@X.TEST>") {
                    self.reply_line(250, false, "2.1.5 Ok")
                } else {
                    let rcpt = String::from_utf8_lossy(line);
                    let addr = rcpt
                        .split_once(':')
                        .map_or("", |(_, a)| a.trim())
                        .to_string();
                    self.reply_line(554, false, &format!("5.7.1 {addr}: Relay access denied"))
                }
            }
            Stage::Data => {
                if !self.reply_line(354, false, "End data with <CR><LF>.<CR><LF>") {
                    return Flow::Close;
                }
                loop {
                    match self.line() {
                        Some(l) if l == b".\r\n" => break,
                        Some(_) => {}
                        None => return Flow::Close,
                    }
                }
                self.reply_line(250, false, "2.0.0 Ok: queued")
            }
            Stage::Other => {
                if upper.starts_with("QUIT") {
                    self.reply_line(221, false, "2.0.0 Bye");
                    return Flow::Close;
                }
                if upper.starts_with("RSET") || upper.starts_with("NOOP") {
                    self.reply_line(250, false, "2.0.0 Ok")
                } else {
                    self.reply_line(502, false, "5.5.2 Error: command not recognized")
                }
            }
        };
        if ok { Flow::Normal } else { Flow::Close }
    }
}

fn stage_of(line: &[u8]) -> Stage {
    let upper = String::from_utf8_lossy(line).to_ascii_uppercase();
    let verb = upper.split_whitespace().next().unwrap_or("");
    match verb {
        "EHLO" | "HELO" => Stage::Ehlo,
        "STARTTLS" => Stage::Starttls,
        "MAIL" => Stage::Mail,
        "RCPT" => Stage::Rcpt,
        "DATA" => Stage::Data,
        _ => Stage::Other,
    }
}

/// Runs one connection: the hook first, the normal answer unless the hook took over.
fn serve(peer: &mut Peer, hook: &Hook, implicit: bool) {
    let step = |peer: &mut Peer, stage: Stage, line: &[u8]| -> bool {
        match hook(peer, stage, line) {
            Flow::Normal => !matches!(peer.normal(stage, line), Flow::Close),
            Flow::Handled => !peer.gone(),
            Flow::Close => false,
        }
    };
    if !step(peer, Stage::Accept, b"") {
        peer.close();
        return;
    }
    if implicit && !peer.start_tls() {
        peer.wait_for_close(READ_TIMEOUT);
        return;
    }
    if !step(peer, Stage::Banner, b"") {
        peer.close();
        return;
    }
    // A bounded dialogue: a client that talks forever is cut off.
    for _ in 0..200 {
        let Some(line) = peer.line() else {
            break;
        };
        if !step(peer, stage_of(&line), &line) {
            break;
        }
    }
    peer.close();
}

/// A hostile server on 127.0.0.1 with a free port; stops accepting when dropped.
pub struct HostileServer {
    pub port: u16,
    stop: Arc<AtomicBool>,
    connections: Arc<AtomicUsize>,
    /// Connections whose thread is still running.
    active: Arc<AtomicUsize>,
    /// Each connection's opening and end as places in one sequence of events (an order, not a
    /// time): which connections were open at once.
    spans: Spans,
    log: Log,
    handle: Option<JoinHandle<()>>,
}

impl HostileServer {
    pub fn start(tls: Tls, hook: Hook) -> HostileServer {
        let listener = TcpListener::bind("127.0.0.1:0").expect("bind loopback");
        listener.set_nonblocking(true).expect("nonblocking");
        let port = listener.local_addr().expect("addr").port();
        let stop = Arc::new(AtomicBool::new(false));
        let connections = Arc::new(AtomicUsize::new(0));
        let active = Arc::new(AtomicUsize::new(0));
        let log = Arc::new(Mutex::new(Vec::new()));
        let spans: Spans = Arc::new(Mutex::new((0, Vec::new())));
        let spans2 = Arc::clone(&spans);
        let (config, implicit) = match tls {
            Tls::None => (None, false),
            Tls::Starttls(c) => (Some(c), false),
            Tls::Implicit(c) => (Some(c), true),
        };
        let (stop2, conns2, active2, log2) = (
            Arc::clone(&stop),
            Arc::clone(&connections),
            Arc::clone(&active),
            Arc::clone(&log),
        );
        let handle = std::thread::spawn(move || {
            let started = Instant::now();
            let mut workers = Vec::new();
            while !stop2.load(Ordering::SeqCst) && started.elapsed() < SERVER_LIFETIME {
                match listener.accept() {
                    Ok((tcp, _)) => {
                        let id = conns2.fetch_add(1, Ordering::SeqCst);
                        active2.fetch_add(1, Ordering::SeqCst);
                        let opened = next_event(&spans2);
                        spans2.lock().expect("spans").1.push((opened, None));
                        let _ = tcp.set_nonblocking(false);
                        let _ = tcp.set_read_timeout(Some(READ_TIMEOUT));
                        let _ = tcp.set_write_timeout(Some(READ_TIMEOUT));
                        let _ = tcp.set_nodelay(true);
                        let mut peer = Peer {
                            stream: Stream::Plain(tcp),
                            buf: Vec::new(),
                            tls_config: config.clone(),
                            eol: b"\r\n",
                            log: Arc::clone(&log2),
                            id,
                            written: 0,
                        };
                        let hook = Arc::clone(&hook);
                        let active = Arc::clone(&active2);
                        let spans = Arc::clone(&spans2);
                        workers.push(std::thread::spawn(move || {
                            serve(&mut peer, &hook, implicit);
                            let ended = next_event(&spans);
                            if let Some(span) = spans.lock().expect("spans").1.get_mut(id) {
                                span.1 = Some(ended);
                            }
                            active.fetch_sub(1, Ordering::SeqCst);
                        }));
                    }
                    Err(e) if e.kind() == ErrorKind::WouldBlock => {
                        std::thread::sleep(Duration::from_millis(10));
                    }
                    Err(_) => break,
                }
            }
            // Connection threads end on their own (every read and flood is bounded); they
            // are not joined here so that dropping the server never waits on a slow one.
            drop(workers);
        });
        HostileServer {
            port,
            stop,
            connections,
            active,
            spans,
            log,
            handle: Some(handle),
        }
    }

    pub fn addr(&self) -> String {
        format!("127.0.0.1:{}", self.port)
    }

    pub fn connections(&self) -> usize {
        self.connections.load(Ordering::SeqCst)
    }

    /// Whether every connection so far was open at one moment: each was accepted before any
    /// ended. Waits for the connections' threads as `received` does.
    pub fn all_open_at_once(&self) -> bool {
        let _ = self.received();
        let s = self.spans.lock().expect("spans");
        let last_open = s.1.iter().map(|(o, _)| *o).max();
        let first_end = s.1.iter().map(|(_, e)| e.unwrap_or(usize::MAX)).min();
        matches!((last_open, first_end), (Some(o), Some(e)) if o < e)
    }

    /// How many connections have ended (the client closed, or the hook ended them), now.
    pub fn ended(&self) -> usize {
        let s = self.spans.lock().expect("spans");
        s.1.iter().filter(|(_, e)| e.is_some()).count()
    }

    /// What has been received so far, without waiting for the connections to end.
    pub fn received_now(&self) -> Vec<Vec<(bool, String)>> {
        let log = self.log.lock().expect("log");
        let mut out = vec![Vec::new(); self.connections()];
        for (id, tls, l) in log.iter() {
            if let Some(conn) = out.get_mut(*id) {
                conn.push((*tls, String::from_utf8_lossy(l).into_owned()));
            }
        }
        out
    }

    /// Every line (or chunk) each connection received, with whether it came inside TLS.
    ///
    /// Called once the client is done, it first waits (up to 5 s) for every connection's
    /// thread to finish, so that bytes the client sent just before it closed are logged.
    pub fn received(&self) -> Vec<Vec<(bool, String)>> {
        let until = Instant::now() + Duration::from_secs(5);
        while self.active.load(Ordering::SeqCst) > 0 && Instant::now() < until {
            std::thread::sleep(Duration::from_millis(10));
        }
        let log = self.log.lock().expect("log");
        let mut out = vec![Vec::new(); self.connections()];
        for (id, tls, l) in log.iter() {
            if let Some(conn) = out.get_mut(*id) {
                conn.push((*tls, String::from_utf8_lossy(l).into_owned()));
            }
        }
        out
    }
}

impl Drop for HostileServer {
    fn drop(&mut self) {
        self.stop.store(true, Ordering::SeqCst);
        if let Some(h) = self.handle.take() {
            let _ = h.join();
        }
    }
}

/// A self-signed certificate for `localhost` (no CA behind it), as a server config.
pub fn self_signed_config() -> Arc<rustls::ServerConfig> {
    let mut params = CertificateParams::new(vec!["localhost".to_string()]).expect("params");
    params
        .distinguished_name
        .push(DnType::CommonName, "self-signed localhost");
    let key = KeyPair::generate().expect("key");
    let cert = params.self_signed(&key).expect("self-signed cert");
    let der: CertificateDer<'static> = cert.der().clone();
    let key = PrivateKeyDer::Pkcs8(PrivatePkcs8KeyDer::from(key.serialize_der()));
    Arc::new(
        rustls::ServerConfig::builder_with_provider(Arc::new(
            rustls::crypto::ring::default_provider(),
        ))
        .with_safe_default_protocol_versions()
        .expect("versions")
        .with_no_client_auth()
        .with_single_cert(vec![der], key)
        .expect("server cert"),
    )
}
