//! One SMTP session with a practice server: the commands, the policy's answers, and the limits
//! that keep one client from holding the server (deadlines, errors, recipients, sizes).

use std::net::SocketAddr;
use std::sync::Arc;
use std::sync::atomic::Ordering;
use std::time::Duration;

use base64::Engine;
use base64::engine::general_purpose::STANDARD as B64;
use secrecy::SecretString;
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::TcpStream;
use tokio::time::{Instant, timeout_at};

use super::params::{DeclaredSize, declared_size, mail_params, path_arg, rcpt_params};
use super::policy::{self, HOSTNAME, User};
use super::server::{Cut, LabEvent, Misbehaviour, Shared};
use super::store::StoredMessage;
use super::stream::Stream;
use crate::smtp::auth::{Credentials, Mechanism, SaslClient};
use crate::smtp::data::DataTerminatorScanner;
use crate::smtp::proxy::Received;

/// Longest command line accepted; RFC 5321 §4.5.3.1.4 says 512, we allow more for extensions.
const MAX_LINE: usize = 4096;
/// The ".\r\n" that ends DATA; the CRLF before it belongs to the message's last line.
const TERMINATOR_TAIL: usize = 3;
/// A STARTTLS handshake gets this long, or what is left of the session if less.
const HANDSHAKE_TIMEOUT: Duration = Duration::from_secs(30);
/// Postfix `smtpd_upstream_proxy_timeout`: the PROXY header must come this soon.
const PROXY_TIMEOUT: Duration = Duration::from_secs(5);
/// How long a last reply may take to go out once the session's time is up.
const SEND_GRACE: Duration = Duration::from_secs(1);
/// Past this many errors a tarpitting lab slows every reply down.
const TARPIT_AFTER: u32 = 10;
/// After the 421 for too many errors, what the client already sent is read and dropped for
/// this long at most, and this much: closing with it unread would make the close a reset,
/// which can destroy the 421 before a pipelining client reads it.
const DRAIN_AFTER_CUT: Duration = Duration::from_secs(1);
const DRAIN_MAX_BYTES: usize = 1024 * 1024;

const TOO_BIG: &str = "5.3.4 Message size exceeds fixed limit";
const NO_STORAGE: &str = "4.3.1 Insufficient system storage";

struct Conn {
    stream: Option<Stream>,
    input: Vec<u8>,
    shared: Arc<Shared>,
    peer: SocketAddr,
    session_deadline: Instant,
    tls: bool,
    greeted: bool,
    user: Option<&'static User>,
    mail_from: Option<String>,
    /// MAIL FROM's ESMTP parameters, as given (DSN's RET and ENVID among them).
    mail_params: String,
    rcpts: Vec<String>,
    /// Each accepted RCPT's parameters (DSN's NOTIFY, ORCPT), in recipient order.
    rcpt_params: Vec<String>,
    /// The transaction declared SMTPUTF8 on MAIL FROM.
    smtputf8: bool,
    /// The transaction declared BODY=BINARYMIME: only BDAT may carry it.
    binary: bool,
    /// A BDAT transfer in progress: the chunks so far, or why they are being thrown away.
    bdat: Option<Result<Vec<u8>, Refusal>>,
    errors: u32,
}

enum Flow {
    Continue,
    Close,
}

/// Why no more input will be read.
#[derive(Debug)]
enum End {
    /// The client closed, the connection broke, or a line was too long (answered already).
    Closed,
    /// A deadline passed; 421 has been sent.
    TimedOut,
}

/// Why a DATA transfer was read to its end but not kept.
#[derive(Debug, Clone, Copy)]
enum Refusal {
    TooBig,
    NoStorage,
}

pub(crate) async fn serve(tcp: TcpStream, peer: SocketAddr, shared: Arc<Shared>) {
    let _ = tcp.set_nodelay(true);
    let session_deadline = Instant::now() + shared.limits.session_timeout;
    let mut c = Conn {
        stream: Some(Stream::Plain(tcp)),
        input: Vec::new(),
        shared,
        peer,
        session_deadline,
        tls: false,
        greeted: false,
        user: None,
        mail_from: None,
        mail_params: String::new(),
        rcpts: Vec::new(),
        rcpt_params: Vec::new(),
        smtputf8: false,
        binary: false,
        bdat: None,
        errors: 0,
    };
    if c.shared.dialect.proxy_protocol && !c.proxy_header().await {
        return;
    }
    if c.shared.has(Misbehaviour::SlowBanner) {
        tokio::time::sleep(Duration::from_secs(5)).await;
    }
    let protocol = if c.shared.dialect.lmtp {
        "LMTP"
    } else {
        "ESMTP"
    };
    if c.reply(
        220,
        &format!(
            "{HOSTNAME} {protocol} smtpscope practice lab ({})",
            c.shared.policy
        ),
    )
    .await
    .is_err()
    {
        return;
    }
    let mut cut_off = false;
    loop {
        // Checked before reading, as Postfix does: the 421 follows the last error at once.
        if c.errors >= c.shared.limits.error_limit {
            cut_off = true;
            let _ = c
                .reply(421, &format!("4.7.0 {HOSTNAME} Error: too many errors"))
                .await;
            c.shared.emit(LabEvent::SessionCut {
                peer: c.peer,
                cut: Cut::TooManyErrors,
            });
            break;
        }
        let Ok(line) = c.read_line().await else {
            break;
        };
        match c.command(&line).await {
            Ok(Flow::Continue) => {}
            Ok(Flow::Close) | Err(_) => break,
        }
    }
    if let Some(mut s) = c.stream.take() {
        // A client that stopped reading must not hold the task here either.
        let _ = timeout_at(c.send_deadline(), s.shutdown()).await;
        if cut_off {
            drain(&mut s).await;
        }
    }
}

/// Reads and drops what a client cut off had pipelined, within [`DRAIN_AFTER_CUT`] and
/// [`DRAIN_MAX_BYTES`], until it closes too.
async fn drain(s: &mut Stream) {
    let deadline = Instant::now() + DRAIN_AFTER_CUT;
    let mut buf = [0u8; 8192];
    let mut dropped = 0usize;
    while dropped < DRAIN_MAX_BYTES {
        match timeout_at(deadline, s.read(&mut buf)).await {
            Ok(Ok(n)) if n > 0 => dropped += n,
            _ => break,
        }
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

    /// The next wait ends after the per-command limit, or with the session, whichever is first.
    fn deadline(&self) -> Instant {
        (Instant::now() + self.shared.limits.command_timeout).min(self.session_deadline)
    }

    /// The deadline for sending: the usual one, but never less than a short grace, so that the
    /// 421 announcing the end of the session's time can still go out.
    fn send_deadline(&self) -> Instant {
        self.deadline().max(Instant::now() + SEND_GRACE)
    }

    async fn write(&mut self, bytes: &[u8]) -> std::io::Result<()> {
        let deadline = self.send_deadline();
        let Some(s) = self.stream.as_mut() else {
            return Err(std::io::ErrorKind::NotConnected.into());
        };
        // A client that never reads would otherwise park this write, and its slot, for good.
        let written = timeout_at(deadline, async {
            s.write_all(bytes).await?;
            s.flush().await
        })
        .await;
        written.unwrap_or_else(|_| Err(std::io::ErrorKind::TimedOut.into()))
    }

    async fn reply(&mut self, code: u16, text: &str) -> std::io::Result<()> {
        self.lines(code, &[text]).await
    }

    async fn lines(&mut self, code: u16, texts: &[&str]) -> std::io::Result<()> {
        if code >= 500 {
            self.errors += 1;
        }
        if self.shared.has(Misbehaviour::Tarpit) && self.errors > TARPIT_AFTER {
            self.shared
                .tarpit_delays
                .fetch_add(1, std::sync::atomic::Ordering::Relaxed);
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

    /// Reads what the client sends next, until `deadline`; at the deadline, says 421 and ends.
    async fn read_some(&mut self, buf: &mut [u8], deadline: Instant) -> Result<usize, End> {
        let Some(stream) = self.stream.as_mut() else {
            return Err(End::Closed);
        };
        match timeout_at(deadline, stream.read(buf)).await {
            Ok(Ok(0)) | Ok(Err(_)) => Err(End::Closed),
            Ok(Ok(n)) => Ok(n),
            Err(_) => {
                let cut = if deadline >= self.session_deadline {
                    Cut::SessionTimeout
                } else {
                    Cut::CommandTimeout
                };
                let _ = self
                    .reply(421, &format!("4.4.2 {HOSTNAME} Error: timeout exceeded"))
                    .await;
                self.shared.emit(LabEvent::SessionCut {
                    peer: self.peer,
                    cut,
                });
                Err(End::TimedOut)
            }
        }
    }

    /// One line (LF-terminated; a bare LF is accepted, as Postfix does). The whole line must
    /// arrive within one deadline, so a client dripping a byte at a time gains nothing. An
    /// over-long line is answered with 500 and ends the session.
    async fn read_line(&mut self) -> Result<Vec<u8>, End> {
        let deadline = self.deadline();
        loop {
            if let Some(pos) = self.input.iter().position(|&b| b == b'\n') {
                let mut line: Vec<u8> = self.input.drain(..=pos).collect();
                line.pop();
                if line.last() == Some(&b'\r') {
                    line.pop();
                }
                return Ok(line);
            }
            if self.input.len() > MAX_LINE {
                let _ = self.reply(500, "5.5.2 Error: line too long").await;
                return Err(End::Closed);
            }
            let mut buf = [0u8; 4096];
            let n = self.read_some(&mut buf, deadline).await?;
            self.input.extend_from_slice(&buf[..n]);
        }
    }

    fn reset(&mut self) {
        self.mail_from = None;
        self.mail_params.clear();
        self.rcpts.clear();
        self.rcpt_params.clear();
        self.smtputf8 = false;
        self.binary = false;
        self.bdat = None;
    }

    /// Reads the PROXY header every connection must start with; false when there was none (the
    /// connection is then closed without a banner, as Postfix does).
    async fn proxy_header(&mut self) -> bool {
        let deadline = (Instant::now() + PROXY_TIMEOUT).min(self.deadline());
        loop {
            match crate::smtp::proxy::parse_header(&self.input) {
                Ok(Received::Header { client, used, .. }) => {
                    self.input.drain(..used);
                    self.shared.emit(LabEvent::Proxied {
                        peer: self.peer,
                        client,
                    });
                    if let Some(client) = client {
                        self.peer = client;
                    }
                    return true;
                }
                Ok(Received::NeedBytes(_)) => {}
                Err(e) => {
                    self.shared.emit(LabEvent::ProxyRefused {
                        peer: self.peer,
                        reason: e.to_string(),
                    });
                    return false;
                }
            }
            let mut buf = [0u8; 256];
            let Some(stream) = self.stream.as_mut() else {
                return false;
            };
            let reason = match timeout_at(deadline, stream.read(&mut buf)).await {
                Ok(Ok(n)) if n > 0 => {
                    self.input.extend_from_slice(&buf[..n]);
                    continue;
                }
                Ok(_) => "the client closed before sending a PROXY header".to_string(),
                Err(_) => format!("no PROXY header within {} s", PROXY_TIMEOUT.as_secs()),
            };
            self.shared.emit(LabEvent::ProxyRefused {
                peer: self.peer,
                reason,
            });
            return false;
        }
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
        // RFC 2920 §3.1: these end a pipelined group; a client that sends more before their
        // reply is misusing PIPELINING. Postfix (reject_unauth_pipelining) answers so and
        // drops what came early, which the lab does too, so the mistake can be seen.
        // STARTTLS discards early bytes silently on its own (CVE-2011-0411).
        const LAST_IN_GROUP: [&str; 8] = [
            "EHLO", "HELO", "LHLO", "DATA", "VRFY", "EXPN", "NOOP", "AUTH",
        ];
        if !self.input.is_empty() && LAST_IN_GROUP.contains(&verb.as_str()) {
            self.input.clear();
            self.reply(554, "5.5.0 Error: improper use of SMTP command pipelining")
                .await?;
            return Ok(Flow::Continue);
        }
        let lmtp = self.shared.dialect.lmtp;
        match verb.as_str() {
            "EHLO" | "HELO" | "LHLO" if arg.is_empty() => {
                self.reply(501, &format!("5.5.4 Syntax: {verb} hostname"))
                    .await?
            }
            "LHLO" if !lmtp => {
                self.reply(502, "5.5.2 Error: command not recognized")
                    .await?
            }
            "EHLO" | "HELO" if lmtp => {
                self.reply(500, "5.5.1 Error: this is LMTP: say LHLO")
                    .await?
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
            "DATA" if self.bdat.is_some() => {
                self.reply(503, "5.5.1 Error: DATA after BDAT").await?
            }
            // RFC 3030 §3: DATA cannot carry a binary body.
            "DATA" if self.binary => {
                self.reply(503, "5.5.1 Error: BODY=BINARYMIME needs BDAT, not DATA")
                    .await?
            }
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
            "BDAT" => return self.bdat(&arg).await,
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
            format!("SIZE {}", self.shared.limits.max_message_size),
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
            "DSN".into(),
            "SMTPUTF8".into(),
            "CHUNKING".into(),
            "BINARYMIME".into(),
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
        let deadline = (Instant::now() + HANDSHAKE_TIMEOUT).min(self.session_deadline);
        match timeout_at(deadline, self.shared.acceptor.accept(tcp)).await {
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
                // Held back so that guessing passwords costs the guesser time, not the lab CPU.
                tokio::time::sleep(self.shared.limits.auth_failure_delay).await;
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
        let Ok(line) = self.read_line().await else {
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
        let Some((addr, params)) = path_arg(arg, "FROM:") else {
            return self.reply(501, "5.5.4 Syntax: MAIL FROM:<address>").await;
        };
        let declared = match mail_params(params, &addr) {
            Ok(d) => d,
            Err((code, text)) => return self.reply(code, text).await,
        };
        // RFC 1870: refuse a message declared too big before its bytes are sent.
        match declared_size(params) {
            DeclaredSize::Malformed => {
                return self.reply(501, "5.5.4 Syntax error in parameters").await;
            }
            DeclaredSize::Bytes(n) if n > self.shared.limits.max_message_size as u64 => {
                return self.reply(552, TOO_BIG).await;
            }
            DeclaredSize::Bytes(n) if n > self.shared.budget.available() as u64 => {
                return self.reply(452, NO_STORAGE).await;
            }
            DeclaredSize::Bytes(_) | DeclaredSize::Absent => {}
        }
        self.mail_from = Some(addr);
        self.mail_params = params.to_string();
        self.smtputf8 = declared.smtputf8;
        self.binary = declared.binary;
        self.reply(250, "2.1.0 Ok").await
    }

    async fn rcpt(&mut self, arg: &str) -> std::io::Result<()> {
        let Some(from) = self.mail_from.clone() else {
            return self.reply(503, "5.5.1 Error: need MAIL command").await;
        };
        // Before the syntax and the policy, as Postfix checks smtpd_recipient_limit. Each one
        // over counts as an error (a 4xx the error count would not see by itself), so a
        // client that keeps sending ends at the error limit with 421, as in Postfix, instead
        // of being answered 452 for ever.
        if self.rcpts.len() >= self.shared.limits.max_recipients {
            self.errors += 1;
            return self.reply(452, "4.5.3 Error: too many recipients").await;
        }
        let Some((addr, params)) = path_arg(arg, "TO:") else {
            return self.reply(501, "5.5.4 Syntax: RCPT TO:<address>").await;
        };
        if let Err((code, text)) = rcpt_params(params, &addr, self.smtputf8) {
            return self.reply(code, text).await;
        }
        let (code, text) = policy::rcpt(self.shared.policy, &from, &addr, self.user);
        if code == 250 {
            self.rcpts.push(addr);
            self.rcpt_params.push(params.to_string());
        }
        self.reply(code, &text).await
    }

    async fn data(&mut self) -> std::io::Result<Flow> {
        if self.rcpts.is_empty() {
            self.reply(554, "5.5.1 Error: no valid recipients").await?;
            return Ok(Flow::Continue);
        }
        if self.shared.budget.available() == 0 {
            self.reply(452, NO_STORAGE).await?;
            return Ok(Flow::Continue);
        }
        self.reply(354, "End data with <CR><LF>.<CR><LF>").await?;
        let shared = Arc::clone(&self.shared);
        let limit = shared
            .limits
            .max_message_size
            .saturating_add(TERMINATOR_TAIL);
        let mut reservation = shared.budget.reservation();
        let mut scanner = DataTerminatorScanner::new();
        let mut raw = Vec::new();
        let mut received = 0usize;
        let mut refusal = None;
        let mut chunk = std::mem::take(&mut self.input);
        let mut buf = vec![0u8; 8192];
        loop {
            let end = scanner.feed(&chunk);
            let part = &chunk[..end.unwrap_or(chunk.len())];
            received = received.saturating_add(part.len());
            // Over a limit, the rest is still read to the final dot, so the client gets its
            // answer in step and the session can go on; only the bytes are thrown away.
            if refusal.is_none() {
                if received > limit {
                    refusal = Some(Refusal::TooBig);
                } else if !reservation.grow(part.len()) {
                    refusal = Some(Refusal::NoStorage);
                } else {
                    raw.extend_from_slice(part);
                }
                if refusal.is_some() {
                    raw = Vec::new();
                    reservation.release();
                }
            }
            if let Some(end) = end {
                self.input = chunk.split_off(end);
                break;
            }
            // Progress resets the per-command deadline; the session deadline still bounds a
            // transfer that drips forever.
            let deadline = self.deadline();
            let n = match self.read_some(&mut buf, deadline).await {
                Ok(n) => n,
                Err(End::Closed | End::TimedOut) => return Ok(Flow::Close),
            };
            chunk.clear();
            chunk.extend_from_slice(&buf[..n]);
        }
        match refusal {
            Some(Refusal::TooBig) => {
                self.reset();
                self.reply(552, TOO_BIG).await?;
            }
            Some(Refusal::NoStorage) => {
                self.reset();
                self.reply(452, NO_STORAGE).await?;
            }
            None => {
                let id = self.store(raw, false);
                drop(reservation);
                self.delivered(id).await?;
            }
        }
        Ok(Flow::Continue)
    }

    /// The answer to a message taken in: one reply, or in LMTP one per recipient (RFC 2033
    /// §4.2), each naming its recipient.
    async fn delivered(&mut self, id: u64) -> std::io::Result<()> {
        let rcpts = std::mem::take(&mut self.rcpts);
        self.reset();
        if !self.shared.dialect.lmtp {
            return self
                .reply(250, &format!("2.0.0 Ok: queued as LAB{id:06}"))
                .await;
        }
        for r in rcpts {
            self.reply(250, &format!("2.1.5 <{r}> delivered as LAB{id:06}"))
                .await?;
        }
        Ok(())
    }

    /// `BDAT <size> [LAST]` (RFC 3030): exactly `size` octets follow, never dot-stuffed. They
    /// are read whatever the answer, so the client and the lab stay in step.
    async fn bdat(&mut self, arg: &str) -> std::io::Result<Flow> {
        let size = |w: &str| {
            (w.len() <= 20 && w.bytes().all(|b| b.is_ascii_digit()))
                .then(|| w.parse::<u64>().ok())
                .flatten()
        };
        let words: Vec<&str> = arg.split_ascii_whitespace().collect();
        let parsed = match words.as_slice() {
            [n] => size(n).map(|s| (s, false)),
            [n, last] if last.eq_ignore_ascii_case("LAST") => size(n).map(|s| (s, true)),
            _ => None,
        };
        let Some((size, last)) = parsed else {
            // Without a size the chunk cannot be skipped, so nothing after it can be read as
            // commands: the session ends.
            self.reply(501, "5.5.4 Syntax: BDAT size [LAST]").await?;
            return Ok(Flow::Close);
        };
        let refusal = if self.mail_from.is_none() {
            Some("5.5.1 Error: need MAIL command")
        } else if self.rcpts.is_empty() {
            Some("5.5.1 Error: need RCPT command")
        } else {
            None
        };
        let limit = self.shared.limits.max_message_size as u64;
        let mut chunk = Vec::new();
        let mut remaining = size;
        let mut buf = vec![0u8; 8192];
        let mut taken = self.bdat.take().unwrap_or(Ok(Vec::new()));
        loop {
            let from_input = usize::try_from(remaining)
                .unwrap_or(usize::MAX)
                .min(self.input.len());
            let part: Vec<u8> = self.input.drain(..from_input).collect();
            remaining -= from_input as u64;
            if refusal.is_none()
                && let Ok(so_far) = &taken
            {
                if (so_far.len() + chunk.len() + part.len()) as u64 > limit {
                    taken = Err(Refusal::TooBig);
                } else {
                    chunk.extend_from_slice(&part);
                }
            }
            if remaining == 0 {
                break;
            }
            let deadline = self.deadline();
            let n = match self.read_some(&mut buf, deadline).await {
                Ok(n) => n,
                Err(End::Closed | End::TimedOut) => return Ok(Flow::Close),
            };
            self.input.extend_from_slice(&buf[..n]);
        }
        if let Some(text) = refusal {
            self.reply(503, text).await?;
            return Ok(Flow::Continue);
        }
        match (taken, last) {
            (Err(Refusal::TooBig), true) | (Err(Refusal::NoStorage), true) => {
                self.reset();
                self.reply(552, TOO_BIG).await?;
            }
            (Err(r), false) => {
                self.bdat = Some(Err(r));
                let text = format!("2.0.0 Ok: {size} octets received, dropped (over the limit)");
                self.reply(250, &text).await?;
            }
            (Ok(mut so_far), false) => {
                so_far.extend_from_slice(&chunk);
                self.bdat = Some(Ok(so_far));
                self.reply(250, &format!("2.0.0 Ok: {size} octets received"))
                    .await?;
            }
            (Ok(mut so_far), true) => {
                so_far.extend_from_slice(&chunk);
                let id = self.store(so_far, true);
                self.delivered(id).await?;
            }
        }
        Ok(Flow::Continue)
    }

    fn store(&self, raw: Vec<u8>, chunked: bool) -> u64 {
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
            chunked,
            mail_params: self.mail_params.clone(),
            rcpt_params: self.rcpt_params.clone(),
            tls: self.tls,
            auth_user: self.user.map(|u| u.name.to_string()),
            relayed,
        };
        if let Some(dir) = &self.shared.store_dir {
            // 0600 and never through a symlink: a message may hold what a client should not
            // show the machine's other users.
            let _ = crate::private_write::replace(&dir.join(format!("{id}.eml")), &msg.raw);
        }
        self.shared.emit(LabEvent::Message(msg.clone()));
        self.shared.keep(msg);
        id
    }
}

fn nanos() -> u64 {
    std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map_or(0, |d| u64::from(d.subsec_nanos()))
}
