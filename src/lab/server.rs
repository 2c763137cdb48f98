//! The practice server: a small SMTP server on loopback with a chosen policy and, on request,
//! the misbehaviours a client must survive. Mail it accepts is stored, never sent on.

use std::net::SocketAddr;
use std::path::PathBuf;
use std::pin::Pin;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, Mutex};
use std::task::{Context, Poll};
use std::time::Duration;

use base64::Engine;
use base64::engine::general_purpose::STANDARD as B64;
use secrecy::SecretString;
use tokio::io::{AsyncRead, AsyncReadExt, AsyncWrite, AsyncWriteExt, ReadBuf};
use tokio::net::{TcpListener, TcpStream};
use tokio::sync::{mpsc, watch};
use tokio_rustls::TlsAcceptor;

use super::certs::{self, CertKind};
use super::policy::{self, HOSTNAME, Policy, User};
use crate::smtp::auth::{Credentials, Mechanism, SaslClient};
use crate::smtp::data::{DataTerminatorScanner, decode_data};

/// Faults a practice server can be told to commit.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum Misbehaviour {
    /// Postfix-like: after 10 errors every reply waits 1 s; after 20, 421 and close.
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

/// One accepted message, byte for byte as it arrived.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct StoredMessage {
    pub id: u64,
    pub from: String,
    pub to: Vec<String>,
    /// The DATA bytes as received, terminator included (still dot-stuffed).
    pub raw: Vec<u8>,
    pub tls: bool,
    pub auth_user: Option<String>,
    /// At least one recipient was outside the lab's domain: a real server would have relayed.
    pub relayed: bool,
}

impl StoredMessage {
    /// The message content as a receiving server sees it: unstuffed, without the terminator.
    pub fn content(&self) -> Vec<u8> {
        decode_data(&self.raw)
    }
}

/// Things worth telling the operator, as they happen.
#[derive(Debug, Clone)]
pub enum LabEvent {
    Connection { peer: SocketAddr },
    Message(StoredMessage),
}

#[derive(Debug, Clone)]
pub struct LabConfig {
    pub listen: SocketAddr,
    pub policy: Policy,
    pub misbehave: Vec<Misbehaviour>,
    /// Also write each message's raw bytes to this directory.
    pub store_dir: Option<PathBuf>,
}

struct Shared {
    policy: Policy,
    misbehave: Vec<Misbehaviour>,
    acceptor: TlsAcceptor,
    messages: Mutex<Vec<StoredMessage>>,
    next_id: AtomicU64,
    store_dir: Option<PathBuf>,
    events: Option<mpsc::UnboundedSender<LabEvent>>,
}

impl Shared {
    fn has(&self, m: Misbehaviour) -> bool {
        self.misbehave.contains(&m)
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
}

impl Drop for Lab {
    fn drop(&mut self) {
        let _ = self.stop.send(true);
        let _ = std::fs::remove_file(&self.ca_path);
        if let Some(dir) = self.ca_path.parent() {
            let _ = std::fs::remove_dir(dir);
        }
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
}

impl Lab {
    /// Starts listening; loopback addresses only, so a practice open relay is never reachable
    /// from the network.
    pub async fn start(
        config: LabConfig,
        events: Option<mpsc::UnboundedSender<LabEvent>>,
    ) -> Result<Lab, LabError> {
        if !config.listen.ip().is_loopback() {
            return Err(LabError::NotLoopback(config.listen.ip()));
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
        let listener = TcpListener::bind(config.listen)
            .await
            .map_err(listen_error)?;
        let addr = listener.local_addr().map_err(listen_error)?;
        let dir = std::env::temp_dir().join(format!(
            "smtpscope-lab-{}-{}",
            std::process::id(),
            addr.port()
        ));
        std::fs::create_dir_all(&dir).map_err(|source| LabError::CreateDir {
            path: dir.clone(),
            source,
        })?;
        let ca_path = dir.join("ca.pem");
        std::fs::write(&ca_path, &pki.ca_pem).map_err(|source| LabError::WriteFile {
            path: ca_path.clone(),
            source,
        })?;
        if let Some(store) = &config.store_dir {
            std::fs::create_dir_all(store).map_err(|source| LabError::CreateDir {
                path: store.clone(),
                source,
            })?;
        }
        let shared = Arc::new(Shared {
            policy: config.policy,
            misbehave: config.misbehave,
            acceptor: TlsAcceptor::from(pki.server_config),
            messages: Mutex::new(Vec::new()),
            next_id: AtomicU64::new(1),
            store_dir: config.store_dir,
            events,
        });
        let (stop, mut stopped) = watch::channel(false);
        let accept_shared = Arc::clone(&shared);
        tokio::spawn(async move {
            loop {
                tokio::select! {
                    _ = stopped.changed() => break,
                    accepted = listener.accept() => {
                        let Ok((tcp, peer)) = accepted else { continue };
                        if let Some(tx) = &accept_shared.events {
                            let _ = tx.send(LabEvent::Connection { peer });
                        }
                        let shared = Arc::clone(&accept_shared);
                        let mut conn_stop = stopped.clone();
                        tokio::spawn(async move {
                            tokio::select! {
                                _ = conn_stop.changed() => {}
                                _ = serve(tcp, shared) => {}
                            }
                        });
                    }
                }
            }
        });
        Ok(Lab {
            addr,
            policy: config.policy,
            ca_pem: pki.ca_pem,
            ca_path,
            shared,
            stop,
        })
    }

    /// Every message accepted so far.
    pub fn messages(&self) -> Vec<StoredMessage> {
        match self.shared.messages.lock() {
            Ok(m) => m.clone(),
            Err(p) => p.into_inner().clone(),
        }
    }
}

enum Stream {
    Plain(TcpStream),
    Tls(Box<tokio_rustls::server::TlsStream<TcpStream>>),
}

impl AsyncRead for Stream {
    fn poll_read(
        self: Pin<&mut Self>,
        cx: &mut Context<'_>,
        buf: &mut ReadBuf<'_>,
    ) -> Poll<std::io::Result<()>> {
        match self.get_mut() {
            Stream::Plain(s) => Pin::new(s).poll_read(cx, buf),
            Stream::Tls(s) => Pin::new(s.as_mut()).poll_read(cx, buf),
        }
    }
}

impl AsyncWrite for Stream {
    fn poll_write(
        self: Pin<&mut Self>,
        cx: &mut Context<'_>,
        buf: &[u8],
    ) -> Poll<std::io::Result<usize>> {
        match self.get_mut() {
            Stream::Plain(s) => Pin::new(s).poll_write(cx, buf),
            Stream::Tls(s) => Pin::new(s.as_mut()).poll_write(cx, buf),
        }
    }
    fn poll_flush(self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<std::io::Result<()>> {
        match self.get_mut() {
            Stream::Plain(s) => Pin::new(s).poll_flush(cx),
            Stream::Tls(s) => Pin::new(s.as_mut()).poll_flush(cx),
        }
    }
    fn poll_shutdown(self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<std::io::Result<()>> {
        match self.get_mut() {
            Stream::Plain(s) => Pin::new(s).poll_shutdown(cx),
            Stream::Tls(s) => Pin::new(s.as_mut()).poll_shutdown(cx),
        }
    }
}

/// Longest command line accepted; RFC 5321 §4.5.3.1.4 says 512, we allow more for extensions.
const MAX_LINE: usize = 4096;
/// Largest message accepted (also advertised as SIZE).
const MAX_MESSAGE: usize = 10 * 1024 * 1024;
/// An idle client is dropped after this long.
const IDLE: Duration = Duration::from_secs(300);

struct Conn {
    stream: Option<Stream>,
    input: Vec<u8>,
    shared: Arc<Shared>,
    tls: bool,
    greeted: bool,
    user: Option<&'static User>,
    mail_from: Option<String>,
    rcpts: Vec<String>,
    errors: u32,
}

enum Flow {
    Continue,
    Close,
}

async fn serve(tcp: TcpStream, shared: Arc<Shared>) {
    let _ = tcp.set_nodelay(true);
    let mut c = Conn {
        stream: Some(Stream::Plain(tcp)),
        input: Vec::new(),
        shared,
        tls: false,
        greeted: false,
        user: None,
        mail_from: None,
        rcpts: Vec::new(),
        errors: 0,
    };
    if c.shared.has(Misbehaviour::SlowBanner) {
        tokio::time::sleep(Duration::from_secs(5)).await;
    }
    if c.reply(
        220,
        &format!(
            "{HOSTNAME} ESMTP smtpscope practice lab ({})",
            c.shared.policy
        ),
    )
    .await
    .is_err()
    {
        return;
    }
    while let Some(line) = c.read_line().await {
        match c.command(&line).await {
            Ok(Flow::Continue) => {}
            Ok(Flow::Close) | Err(_) => break,
        }
    }
    if let Some(mut s) = c.stream.take() {
        let _ = s.shutdown().await;
    }
}

impl Conn {
    fn ending(&self) -> &'static str {
        if self.shared.has(Misbehaviour::BareLf) {
            "\n"
        } else {
            "\r\n"
        }
    }

    async fn write(&mut self, bytes: &[u8]) -> std::io::Result<()> {
        match self.stream.as_mut() {
            Some(s) => {
                s.write_all(bytes).await?;
                s.flush().await
            }
            None => Err(std::io::ErrorKind::NotConnected.into()),
        }
    }

    async fn reply(&mut self, code: u16, text: &str) -> std::io::Result<()> {
        self.lines(code, &[text]).await
    }

    async fn lines(&mut self, code: u16, texts: &[&str]) -> std::io::Result<()> {
        if code >= 500 {
            self.errors += 1;
        }
        if self.shared.has(Misbehaviour::Tarpit) && self.errors > 10 {
            tokio::time::sleep(Duration::from_secs(1)).await;
        }
        let end = self.ending();
        let mut out = String::new();
        for (i, t) in texts.iter().enumerate() {
            let sep = if i + 1 == texts.len() { ' ' } else { '-' };
            out.push_str(&format!("{code}{sep}{t}{end}"));
        }
        self.write(out.as_bytes()).await
    }

    /// One line (LF-terminated; a bare LF is accepted, as Postfix does), or `None` at close,
    /// on idle timeout, or for an over-long line (answered with 500 first).
    async fn read_line(&mut self) -> Option<Vec<u8>> {
        loop {
            if let Some(pos) = self.input.iter().position(|&b| b == b'\n') {
                let mut line: Vec<u8> = self.input.drain(..=pos).collect();
                line.pop();
                if line.last() == Some(&b'\r') {
                    line.pop();
                }
                return Some(line);
            }
            if self.input.len() > MAX_LINE {
                let _ = self.reply(500, "5.5.2 Error: line too long").await;
                return None;
            }
            let mut buf = [0u8; 4096];
            let stream = self.stream.as_mut()?;
            match tokio::time::timeout(IDLE, stream.read(&mut buf)).await {
                Ok(Ok(0)) | Ok(Err(_)) | Err(_) => return None,
                Ok(Ok(n)) => self.input.extend_from_slice(&buf[..n]),
            }
        }
    }

    fn reset(&mut self) {
        self.mail_from = None;
        self.rcpts.clear();
    }

    fn auth_offered(&self) -> bool {
        self.tls || self.shared.policy.auth_before_tls()
    }

    fn starttls_offered(&self) -> bool {
        !self.tls
            && self.shared.policy.offers_tls()
            && !self.shared.has(Misbehaviour::StripStarttls)
    }

    async fn command(&mut self, line: &[u8]) -> std::io::Result<Flow> {
        let text = String::from_utf8_lossy(line).into_owned();
        let (verb, arg) = match text.split_once(' ') {
            Some((v, a)) => (v.to_ascii_uppercase(), a.trim().to_string()),
            None => (text.trim().to_ascii_uppercase(), String::new()),
        };
        if self.shared.has(Misbehaviour::Tarpit) && self.errors >= 20 {
            self.reply(421, &format!("4.7.0 {HOSTNAME} Error: too many errors"))
                .await?;
            return Ok(Flow::Close);
        }
        match verb.as_str() {
            "EHLO" | "HELO" | "LHLO" if arg.is_empty() => {
                self.reply(501, "5.5.4 Syntax: EHLO hostname").await?
            }
            "EHLO" | "LHLO" => self.ehlo().await?,
            "HELO" => {
                self.greeted = true;
                self.reset();
                self.reply(250, HOSTNAME).await?;
            }
            "STARTTLS" => return self.starttls().await,
            "AUTH" => self.auth(&arg).await?,
            "MAIL" => self.mail(&arg).await?,
            "RCPT" => self.rcpt(&arg).await?,
            "DATA" => return self.data().await,
            "RSET" => {
                self.reset();
                self.reply(250, "2.0.0 Ok").await?;
            }
            "NOOP" => self.reply(250, "2.0.0 Ok").await?,
            // Answering VRFY without saying whether a user exists (RFC 5321 §3.5.3).
            "VRFY" => {
                self.reply(252, "2.0.0 Send some mail, I'll try my best")
                    .await?
            }
            "EXPN" => self.reply(502, "5.5.1 EXPN is disabled").await?,
            "HELP" => {
                self.reply(
                    214,
                    "2.0.0 See RFC 5321; this is the smtpscope practice lab",
                )
                .await?
            }
            "QUIT" => {
                self.reply(221, "2.0.0 Bye").await?;
                return Ok(Flow::Close);
            }
            "BDAT" => {
                self.reply(
                    502,
                    "5.5.1 Error: BDAT not implemented (CHUNKING is not offered)",
                )
                .await?
            }
            _ => {
                self.reply(500, "5.5.2 Error: command not recognized")
                    .await?
            }
        }
        Ok(Flow::Continue)
    }

    async fn ehlo(&mut self) -> std::io::Result<()> {
        self.greeted = true;
        self.reset();
        let mut caps: Vec<String> = vec![
            HOSTNAME.into(),
            "PIPELINING".into(),
            format!("SIZE {MAX_MESSAGE}"),
            "VRFY".into(),
        ];
        if self.starttls_offered() {
            caps.push("STARTTLS".into());
        }
        if self.auth_offered() {
            caps.push("AUTH PLAIN LOGIN CRAM-MD5 XOAUTH2".into());
        }
        caps.extend([
            "ENHANCEDSTATUSCODES".into(),
            "8BITMIME".into(),
            "SMTPUTF8".into(),
        ]);
        let refs: Vec<&str> = caps.iter().map(String::as_str).collect();
        if self.shared.has(Misbehaviour::DropMidReply) {
            let half: String = refs[..refs.len() / 2]
                .iter()
                .map(|c| format!("250-{c}\r\n"))
                .collect();
            self.write(half.as_bytes()).await?;
            self.stream = None;
            return Err(std::io::ErrorKind::ConnectionAborted.into());
        }
        if self.shared.has(Misbehaviour::BadMultiline) {
            let end = self.ending();
            let mut out = String::new();
            for (i, c) in refs.iter().enumerate() {
                let code = if i % 2 == 0 { 250 } else { 251 };
                let sep = if i + 1 == refs.len() { ' ' } else { '-' };
                out.push_str(&format!("{code}{sep}{c}{end}"));
            }
            return self.write(out.as_bytes()).await;
        }
        self.lines(250, &refs).await
    }

    async fn starttls(&mut self) -> std::io::Result<Flow> {
        if self.tls {
            self.reply(503, "5.5.1 Error: TLS already active").await?;
            return Ok(Flow::Continue);
        }
        if !self.shared.policy.offers_tls() || self.shared.has(Misbehaviour::StripStarttls) {
            self.reply(502, "5.5.1 Error: command not implemented")
                .await?;
            return Ok(Flow::Continue);
        }
        if self.shared.has(Misbehaviour::StarttlsInjection) {
            let forged = format!(
                "220 2.0.0 Ready to start TLS\r\n250-{HOSTNAME}\r\n250 AUTH PLAIN LOGIN\r\n"
            );
            self.write(forged.as_bytes()).await?;
        } else {
            self.reply(220, "2.0.0 Ready to start TLS").await?;
        }
        // Plaintext pipelined after STARTTLS must not be executed inside TLS (CVE-2011-0411).
        self.input.clear();
        let Some(Stream::Plain(tcp)) = self.stream.take() else {
            return Ok(Flow::Close);
        };
        match tokio::time::timeout(Duration::from_secs(30), self.shared.acceptor.accept(tcp)).await
        {
            Ok(Ok(tls)) => {
                self.stream = Some(Stream::Tls(Box::new(tls)));
                self.tls = true;
                self.greeted = false;
                self.user = None;
                self.reset();
                Ok(Flow::Continue)
            }
            _ => Ok(Flow::Close),
        }
    }

    async fn auth(&mut self, arg: &str) -> std::io::Result<()> {
        if !self.auth_offered() {
            return self
                .reply(503, "5.5.1 Error: authentication not enabled")
                .await;
        }
        if !self.greeted {
            return self.reply(503, "5.5.1 Error: send HELO/EHLO first").await;
        }
        if self.user.is_some() {
            return self.reply(503, "5.5.1 Error: already authenticated").await;
        }
        let mut parts = arg.split_whitespace();
        let mech = parts.next().unwrap_or("").to_ascii_uppercase();
        let initial = parts.next().map(str::to_string);
        let user = match mech.as_str() {
            "PLAIN" => {
                let response = match initial {
                    Some(r) if r != "=" => Some(r),
                    Some(_) => Some(String::new()),
                    None => self.challenge("").await?,
                };
                let Some(response) = response else {
                    return Ok(());
                };
                B64.decode(response.trim()).ok().and_then(|raw| {
                    let mut fields = raw.split(|&b| b == 0);
                    let _authzid = fields.next()?;
                    let login = String::from_utf8(fields.next()?.to_vec()).ok()?;
                    let password = String::from_utf8(fields.next()?.to_vec()).ok()?;
                    policy::find_user(&login).filter(|u| u.password == password)
                })
            }
            "LOGIN" => {
                let login = match initial {
                    Some(r) => Some(r),
                    None => self.challenge("VXNlcm5hbWU6").await?,
                };
                let Some(login) = login else { return Ok(()) };
                let Some(password) = self.challenge("UGFzc3dvcmQ6").await? else {
                    return Ok(());
                };
                let decode = |s: &str| {
                    B64.decode(s.trim())
                        .ok()
                        .and_then(|b| String::from_utf8(b).ok())
                };
                match (decode(&login), decode(&password)) {
                    (Some(l), Some(p)) => policy::find_user(&l).filter(|u| u.password == p),
                    _ => None,
                }
            }
            "CRAM-MD5" => {
                let nonce = format!(
                    "<{}.{}@{HOSTNAME}>",
                    std::process::id(),
                    self.shared.next_id.fetch_add(1, Ordering::Relaxed) + nanos()
                );
                let challenge = B64.encode(&nonce);
                let Some(response) = self.challenge(&challenge).await? else {
                    return Ok(());
                };
                // Compute what each user's correct answer would be, with the client code.
                policy::USERS.iter().find(|u| {
                    let mut sasl = SaslClient::new(
                        Mechanism::CramMd5,
                        Credentials {
                            username: u.name.into(),
                            secret: SecretString::from(u.password.to_string()),
                            authzid: None,
                        },
                    );
                    let _ = sasl.start(false);
                    sasl.step(&challenge)
                        .is_ok_and(|line| line.expose() == response.trim())
                })
            }
            "XOAUTH2" => {
                // Google's format; the lab takes a user's password as their bearer token.
                let response = match initial {
                    Some(r) => Some(r),
                    None => self.challenge("").await?,
                };
                let Some(response) = response else {
                    return Ok(());
                };
                let found = B64.decode(response.trim()).ok().and_then(|raw| {
                    let text = String::from_utf8(raw).ok()?;
                    let mut user = None;
                    let mut token = None;
                    for field in text.split('\x01') {
                        if let Some(u) = field.strip_prefix("user=") {
                            user = Some(u.to_string());
                        } else if let Some(t) = field.strip_prefix("auth=Bearer ") {
                            token = Some(t.to_string());
                        }
                    }
                    policy::find_user(&user?).filter(|u| Some(u.password) == token.as_deref())
                });
                if found.is_none() {
                    // RFC 7628 style: an error challenge, the client answers with an empty
                    // line, then the failure.
                    let err = B64.encode(r#"{"status":"401","schemes":"bearer","scope":"smtp"}"#);
                    if self.challenge(&err).await?.is_none() {
                        return Ok(());
                    }
                }
                found
            }
            "" => return self.reply(501, "5.5.4 Syntax: AUTH mechanism").await,
            _ => {
                return self
                    .reply(504, "5.5.4 Unsupported authentication mechanism")
                    .await;
            }
        };
        match user {
            Some(u) => {
                self.user = Some(u);
                self.reply(235, "2.7.0 Authentication successful").await
            }
            None => {
                self.reply(
                    535,
                    "5.7.8 Error: authentication failed: authentication failure",
                )
                .await
            }
        }
    }

    /// Sends a 334 challenge and reads the answer; `None` when the client cancelled with `*`.
    async fn challenge(&mut self, b64: &str) -> std::io::Result<Option<String>> {
        self.write(format!("334 {b64}{}", self.ending()).as_bytes())
            .await?;
        let Some(line) = self.read_line().await else {
            return Err(std::io::ErrorKind::ConnectionAborted.into());
        };
        let text = String::from_utf8_lossy(&line).into_owned();
        if text.trim() == "*" {
            self.reply(501, "5.7.0 Authentication aborted").await?;
            return Ok(None);
        }
        Ok(Some(text))
    }

    async fn mail(&mut self, arg: &str) -> std::io::Result<()> {
        if !self.greeted {
            return self.reply(503, "5.5.1 Error: send HELO/EHLO first").await;
        }
        if self.mail_from.is_some() {
            return self.reply(503, "5.5.1 Error: nested MAIL command").await;
        }
        let Some(addr) = path_arg(arg, "FROM:") else {
            return self.reply(501, "5.5.4 Syntax: MAIL FROM:<address>").await;
        };
        self.mail_from = Some(addr);
        self.reply(250, "2.1.0 Ok").await
    }

    async fn rcpt(&mut self, arg: &str) -> std::io::Result<()> {
        let Some(from) = self.mail_from.clone() else {
            return self.reply(503, "5.5.1 Error: need MAIL command").await;
        };
        let Some(addr) = path_arg(arg, "TO:") else {
            return self.reply(501, "5.5.4 Syntax: RCPT TO:<address>").await;
        };
        let (code, text) = policy::rcpt(self.shared.policy, &from, &addr, self.user);
        if code == 250 {
            self.rcpts.push(addr);
        }
        self.reply(code, &text).await
    }

    async fn data(&mut self) -> std::io::Result<Flow> {
        if self.rcpts.is_empty() {
            self.reply(554, "5.5.1 Error: no valid recipients").await?;
            return Ok(Flow::Continue);
        }
        self.reply(354, "End data with <CR><LF>.<CR><LF>").await?;
        let mut scanner = DataTerminatorScanner::new();
        let mut raw = std::mem::take(&mut self.input);
        let mut done = {
            let found = scanner.feed(&raw);
            found.map(|end| {
                let rest = raw.split_off(end);
                self.input = rest;
            })
        };
        while done.is_none() {
            if raw.len() > MAX_MESSAGE + 1024 {
                self.reply(552, "5.3.4 Error: message too big").await?;
                return Ok(Flow::Close);
            }
            let mut buf = [0u8; 8192];
            let Some(stream) = self.stream.as_mut() else {
                return Ok(Flow::Close);
            };
            let n = match tokio::time::timeout(IDLE, stream.read(&mut buf)).await {
                Ok(Ok(0)) | Ok(Err(_)) | Err(_) => return Ok(Flow::Close),
                Ok(Ok(n)) => n,
            };
            match scanner.feed(&buf[..n]) {
                Some(end) => {
                    raw.extend_from_slice(&buf[..end]);
                    self.input.extend_from_slice(&buf[end..n]);
                    done = Some(());
                }
                None => raw.extend_from_slice(&buf[..n]),
            }
        }
        let id = self.shared.next_id.fetch_add(1, Ordering::Relaxed);
        let relayed = self
            .rcpts
            .iter()
            .any(|r| !matches!(policy::route(r), policy::Route::Domain(d) if d == policy::DOMAIN));
        let msg = StoredMessage {
            id,
            from: self.mail_from.clone().unwrap_or_default(),
            to: self.rcpts.clone(),
            raw,
            tls: self.tls,
            auth_user: self.user.map(|u| u.name.to_string()),
            relayed,
        };
        if let Some(dir) = &self.shared.store_dir {
            let _ = std::fs::write(dir.join(format!("{id}.eml")), &msg.raw);
        }
        if let Some(tx) = &self.shared.events {
            let _ = tx.send(LabEvent::Message(msg.clone()));
        }
        match self.shared.messages.lock() {
            Ok(mut m) => m.push(msg),
            Err(p) => p.into_inner().push(msg),
        }
        self.reset();
        self.reply(250, &format!("2.0.0 Ok: queued as LAB{id:06}"))
            .await?;
        Ok(Flow::Continue)
    }
}

fn nanos() -> u64 {
    std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map_or(0, |d| u64::from(d.subsec_nanos()))
}

/// `FROM:<addr> PARAMS` → `addr` (angle brackets required, as RFC 5321 says; `<>` is the null
/// path).
fn path_arg(arg: &str, keyword: &str) -> Option<String> {
    let rest = arg
        .get(..keyword.len())?
        .eq_ignore_ascii_case(keyword)
        .then(|| &arg[keyword.len()..])?;
    let rest = rest.trim_start();
    let inner = rest.strip_prefix('<')?;
    let close = inner.rfind('>')?;
    Some(inner[..close].to_string())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn paths_need_angle_brackets() {
        assert_eq!(path_arg("FROM:<a@b>", "FROM:"), Some("a@b".into()));
        assert_eq!(path_arg("from: <a@b> SIZE=10", "FROM:"), Some("a@b".into()));
        assert_eq!(path_arg("FROM:<>", "FROM:"), Some(String::new()));
        assert_eq!(
            path_arg("TO:<\"x@y\"@[1.2.3.4]>", "TO:"),
            Some("\"x@y\"@[1.2.3.4]".into())
        );
        assert_eq!(path_arg("FROM:a@b", "FROM:"), None);
        assert_eq!(path_arg("TO:<a@b>", "FROM:"), None);
    }
}
