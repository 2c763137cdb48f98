//! A live connection: feeds bytes between the socket and the protocol core, performs the
//! STARTTLS upgrade, enforces timeouts, and records everything in the transcript.

use std::time::Duration;

use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::time::Instant;
use tokio_rustls::TlsConnector;
use tokio_rustls::client::TlsStream;

use crate::advice::Control;
use crate::smtp::auth::{Credentials, Mechanism, SecretLine, secret_needles};
use crate::smtp::command::{Command, Verb, raw_commands, raw_unterminated};
use crate::smtp::flow::{self, AUTH_CANCEL, AuthExchange, AuthStep, StartTlsStep};
use crate::smtp::proxy::{self, ProxyVersion};
use crate::smtp::reply::{Reply, ReplyLimits, ReplyParser};
use crate::smtp::session::{SecurityPolicy, Session};
use crate::transcript::{Event, Transcript};

use super::connect::Target;
use super::error::NetError;
use super::pipe::PipeChild;
use super::tls::{self, TlsInfo, TlsOptions};
use super::transport::{self, Route, Wire};

/// How TLS is used on the connection.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, serde::Serialize, serde::Deserialize)]
#[serde(rename_all = "kebab-case")]
pub enum TlsMode {
    /// Plain SMTP; STARTTLS is never sent.
    None,
    /// STARTTLS when the server advertises it (required with `require_tls`).
    #[default]
    Starttls,
    /// TLS from the first byte (port 465, RFC 8314).
    Implicit,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Timeouts {
    pub connect: Duration,
    /// The longest wait for one complete reply.
    pub reply: Duration,
    /// The longest the whole session may take.
    pub session: Duration,
}

impl Default for Timeouts {
    fn default() -> Self {
        Timeouts {
            connect: Duration::from_secs(30),
            reply: Duration::from_secs(30),
            session: Duration::from_secs(600),
        }
    }
}

#[derive(Debug, Clone)]
pub struct ConnectOptions {
    pub target: Target,
    /// A PROXY protocol header to send first, naming this client address as the origin.
    pub proxy: Option<(ProxyVersion, std::net::SocketAddr)>,
    /// Address family and local address to connect from.
    pub origin: super::connect::Origin,
    /// Straight, through SOCKS5, or over a UNIX socket.
    pub route: Route,
    /// Postfix XCLIENT attributes, sent once TLS is settled (see `Connection::xclient`).
    pub xclient: Vec<(String, String)>,
    /// LMTP (RFC 2033) instead of SMTP: LHLO, and one reply per recipient after the message.
    pub lmtp: bool,
    pub tls_mode: TlsMode,
    pub tls: TlsOptions,
    /// The run's shared TLS sessions, when this connection may resume one (see
    /// [`tls::Resumption`]); `None` for a full handshake of its own.
    pub resumption: Option<std::sync::Arc<tls::Resumption>>,
    pub policy: SecurityPolicy,
    pub timeouts: Timeouts,
    pub limits: ReplyLimits,
    /// Who reads the advice in error messages (flags or keys).
    pub front_end: crate::advice::FrontEnd,
}

impl ConnectOptions {
    pub fn new(target: Target) -> Self {
        ConnectOptions {
            target,
            proxy: None,
            origin: super::connect::Origin::default(),
            route: Route::Direct,
            xclient: Vec::new(),
            lmtp: false,
            tls_mode: TlsMode::default(),
            tls: TlsOptions::default(),
            resumption: None,
            policy: SecurityPolicy::default(),
            timeouts: Timeouts::default(),
            limits: ReplyLimits::default(),
            front_end: crate::advice::FrontEnd::default(),
        }
    }

    /// Implicit TLS always requires TLS: there is no plaintext to fall back to.
    pub fn effective_policy(&self) -> SecurityPolicy {
        let mut p = self.policy;
        if self.tls_mode == TlsMode::Implicit {
            p.require_tls = true;
        }
        p
    }
}

enum Io {
    Closed,
    Plain(Wire),
    Tls(Box<TlsStream<Wire>>),
}

const READ_CHUNK: usize = 16 * 1024;
/// Surplus replies read while waiting for one answer before the server is given up on: a
/// server that floods replies costs one bounded wait, not a hang.
const MAX_SURPLUS: usize = 100;
/// Upper bound on plaintext collected after STARTTLS's 220, to show it without unbounded memory.
const INJECTION_SAMPLE: usize = 64 * 1024;
/// How long a program on a pipe may take to exit once its standard input is closed (after
/// QUIT, or after it closed its output) before it is killed.
const PIPE_GRACE: Duration = Duration::from_secs(2);
/// The most lines of a failed program's standard error shown in the transcript.
const PIPE_STDERR_LINES: usize = 20;
/// The most characters of a failed program's last stderr line quoted in an error message.
const PIPE_STDERR_SUMMARY: usize = 300;

pub struct Connection {
    opts: ConnectOptions,
    io: Io,
    parser: ReplyParser,
    /// Bytes read from the socket but not yet parsed (they followed a complete reply).
    pending: Vec<u8>,
    dropped: u64,
    session: Session,
    transcript: Transcript,
    tls_info: Option<TlsInfo>,
    /// What was learned from a handshake stopped by a certificate that failed verification.
    tls_rejected: Option<TlsInfo>,
    session_deadline: Option<Instant>,
    peer: Option<std::net::SocketAddr>,
    /// A reply timed out: the server is not answering, so QUIT would only wait again.
    stalled: bool,
    /// The TLS handshake ran past its deadline: a probe of the same server would wait again.
    handshake_timed_out: bool,
    /// When a byte last went either way: how long the connection had been idle when the
    /// server spoke (or hung up) on its own.
    last_activity: Instant,
    /// The last reply heard while idle, and after how long: a server's last words before it
    /// closes (Postfix's `421 4.4.2 … Error: timeout exceeded`).
    idle_heard: Option<(Reply, Duration)>,
    /// The program at the other end of a `--pipe`, reaped when the session ends.
    pipe: Option<PipeChild>,
    /// On a pipe, until the first line that starts with a digit: what a program prints before
    /// its banner (`exim -bh` announces its test session) is shown, not parsed as replies.
    before_banner: bool,
    /// Commands written ahead of their turn ([`Self::send_ahead`]) whose replies are not read
    /// yet, in order, as they went on the wire.
    ahead: std::collections::VecDeque<Vec<u8>>,
}

/// What arrived on a connection while no command waited for a reply.
#[derive(Debug)]
pub enum Idle {
    /// Bytes came; the complete replies among them are in the transcript, marked as
    /// unsolicited, and here.
    Arrived { replies: Vec<Reply>, idle: Duration },
    /// The server closed the connection; `last` is what it said before, while idle, and
    /// `idle` how long nothing had gone either way before it spoke or closed.
    Closed { last: Option<Reply>, idle: Duration },
    /// Reading failed; the connection is closed.
    Failed(NetError),
}

impl Connection {
    pub fn new(opts: ConnectOptions, transcript: Transcript) -> Self {
        let session = Session::new(opts.effective_policy(), false);
        let parser = ReplyParser::new(opts.limits);
        Connection {
            opts,
            io: Io::Closed,
            parser,
            pending: Vec::new(),
            dropped: 0,
            session,
            transcript,
            tls_info: None,
            tls_rejected: None,
            session_deadline: None,
            peer: None,
            stalled: false,
            handshake_timed_out: false,
            last_activity: Instant::now(),
            idle_heard: None,
            pipe: None,
            before_banner: false,
            ahead: std::collections::VecDeque::new(),
        }
    }

    /// Whether a reply is due: a command waits for its answer.
    pub fn awaiting_reply(&self) -> bool {
        self.session.awaiting().is_some()
    }

    /// Waits, with no deadline, for what the server sends while no command waits for a reply
    /// (a 421 at its idle timeout, a shutdown notice, a close), and records it at once with its
    /// own time: complete replies as unsolicited, a close as the server's. Never resolves on a
    /// closed connection.
    ///
    /// Cancel safe, so the explorer can wait on it beside the keyboard: a read that has not
    /// completed has taken nothing (tokio's `read`, and rustls keeps what it decrypted), and
    /// what a completed read brought is recorded before this returns. The connection stays
    /// the one owner of its read half: the command path and this never read at once.
    pub async fn idle_read(&mut self) -> Idle {
        let mut buf = vec![0u8; READ_CHUNK];
        let read = match &mut self.io {
            Io::Closed => return std::future::pending().await,
            Io::Plain(s) => s.read(&mut buf).await,
            Io::Tls(s) => s.read(&mut buf).await,
        };
        let idle = self.last_activity.elapsed();
        let closed = |this: &mut Connection| {
            this.keep_partial();
            // A server that said something first (a 421) was idle from before it spoke.
            let (last, idle) = match this.idle_heard.take() {
                Some((reply, after)) => (Some(reply), after),
                None => (None, idle),
            };
            this.transcript
                .event(Event::ClosedWhileIdle { after: idle }, this.tls());
            this.io = Io::Closed;
            this.session.closed();
            Idle::Closed { last, idle }
        };
        match read {
            Ok(0) => closed(self),
            Err(e) if e.kind() == std::io::ErrorKind::UnexpectedEof => closed(self),
            Err(e) => {
                self.keep_partial();
                self.io = Io::Closed;
                self.session.closed();
                Idle::Failed(self.fail(NetError::Io {
                    doing: "reading while idle".into(),
                    reason: super::error::plain_io(&e),
                }))
            }
            Ok(n) => {
                self.pending.extend_from_slice(&buf[..n]);
                let mut replies = Vec::new();
                while !self.pending.is_empty() {
                    let fed = self.parser.feed(&self.pending);
                    self.pending.drain(..fed.consumed);
                    self.dropped += fed.discarded;
                    match fed.reply {
                        Some(reply) => {
                            // Recorded as the idle server's own words, not as a reply out of
                            // turn: nothing was sent that it could answer.
                            self.flush_dropped();
                            self.session.received(&reply);
                            let tls = self.tls();
                            self.transcript.received(reply.clone(), tls);
                            self.transcript
                                .event(Event::SpokeWhileIdle { after: idle }, tls);
                            self.last_activity = Instant::now();
                            replies.push(reply);
                        }
                        None => break,
                    }
                }
                if !self.parser.discarding() {
                    self.flush_dropped();
                }
                if let Some(last) = replies.last() {
                    self.idle_heard = Some((last.clone(), idle));
                }
                Idle::Arrived { replies, idle }
            }
        }
    }

    pub fn session(&self) -> &Session {
        &self.session
    }

    pub fn transcript(&self) -> &Transcript {
        &self.transcript
    }

    pub fn into_transcript(self) -> Transcript {
        self.transcript
    }

    pub fn options(&self) -> &ConnectOptions {
        &self.opts
    }

    pub fn tls_info(&self) -> Option<&TlsInfo> {
        self.tls_info.as_ref()
    }

    /// The chain and the reason when the handshake stopped at certificate verification.
    pub fn tls_rejected(&self) -> Option<&TlsInfo> {
        self.tls_rejected.as_ref()
    }

    /// The established session, else what a rejected handshake showed of the certificate.
    pub fn tls_seen(&self) -> Option<&TlsInfo> {
        self.tls_info.as_ref().or(self.tls_rejected.as_ref())
    }

    /// The address connected to.
    pub fn peer(&self) -> Option<std::net::SocketAddr> {
        self.peer
    }

    /// True once the server stopped answering on this connection (a reply ran past its
    /// deadline): another connection to it would most likely wait as long again.
    pub fn is_stalled(&self) -> bool {
        self.stalled || self.handshake_timed_out
    }

    /// True once a TLS handshake on this connection ran past its deadline.
    pub fn handshake_timed_out(&self) -> bool {
        self.handshake_timed_out
    }

    /// Changes how the next connection uses TLS: opportunistic TLS goes on in cleartext on a
    /// new connection after a failed STARTTLS handshake.
    pub fn set_tls_mode(&mut self, mode: TlsMode) {
        self.opts.tls_mode = mode;
    }

    pub fn is_open(&self) -> bool {
        !matches!(self.io, Io::Closed)
    }

    fn tls(&self) -> bool {
        matches!(self.io, Io::Tls(_))
    }

    fn fail(&mut self, e: NetError) -> NetError {
        self.transcript
            .event(Event::Error(e.to_string()), self.tls());
        e
    }

    /// Records an event of the caller's (a note, a warning) in the transcript.
    pub fn note(&mut self, event: Event) {
        let tls = self.tls();
        self.transcript.event(event, tls);
    }

    /// Connects (and for implicit TLS, completes the handshake) and reads the banner.
    pub async fn open(&mut self) -> Result<Reply, NetError> {
        self.open_without_banner().await?;
        self.read_reply().await
    }

    /// Connects (and for implicit TLS, completes the handshake) without reading anything.
    pub async fn open_without_banner(&mut self) -> Result<(), NetError> {
        self.session_deadline = Some(Instant::now() + self.opts.timeouts.session);
        let target = self.opts.target.clone();
        // What is really connected to: a UNIX socket's path, or the server through the proxy.
        let shown = match &self.opts.route {
            Route::Direct => target.to_string(),
            Route::Unix(path) => path.display().to_string(),
            Route::Socks5(socks) => format!("{target} via SOCKS5 {}", socks.proxy),
            Route::Pipe(command) => format!("pipe: {command}"),
        };
        // A program left from an earlier connection on this one is reaped first.
        self.end_pipe(Duration::ZERO).await;
        self.transcript
            .event(Event::Connecting { target: shown }, false);
        let opened = match transport::open(
            &self.opts.route,
            &target,
            self.opts.timeouts.connect,
            self.opts.origin,
        )
        .await
        {
            Ok(ok) => ok,
            Err(e) => return Err(self.fail(e)),
        };
        self.transcript.event(
            Event::Connected {
                peer: opened.described,
            },
            false,
        );
        self.peer = opened.peer;
        self.pipe = opened.child;
        self.before_banner = self.pipe.is_some() && self.opts.tls_mode != TlsMode::Implicit;
        self.io = Io::Plain(opened.wire);
        self.session = Session::new(self.opts.effective_policy(), false);
        // The load balancer's header comes before anything else, TLS included.
        if let Some((version, source)) = self.opts.proxy {
            let Some(peer) = self.peer else {
                self.close().await;
                let via = match self.opts.route {
                    Route::Unix(_) => "over a UNIX socket",
                    Route::Pipe(_) => "over a pipe",
                    _ => "through SOCKS5",
                };
                return Err(self.fail(NetError::ProxyWithoutPeer { via }));
            };
            let header = match proxy::header(version, source, peer) {
                Ok(h) => h,
                Err(mismatch) => {
                    // Nothing was sent: close quietly rather than greet with a wrong header.
                    self.close().await;
                    let setting = self.opts.front_end.name(crate::advice::Control::Setting(
                        "proxy_source",
                        "--proxy-source",
                    ));
                    return Err(self.fail(NetError::Proxy { setting, mismatch }));
                }
            };
            self.write(&header, None).await?;
        }
        if self.opts.tls_mode == TlsMode::Implicit {
            self.handshake().await?;
            self.session = Session::new(self.opts.effective_policy(), true);
        }
        Ok(())
    }

    fn deadline(&self) -> (Instant, bool) {
        let reply = Instant::now() + self.opts.timeouts.reply;
        match self.session_deadline {
            Some(s) if s < reply => (s, true),
            _ => (reply, false),
        }
    }

    /// Reads one complete reply, however it is split on the wire, within the reply timeout.
    pub async fn read_reply(&mut self) -> Result<Reply, NetError> {
        let waiting_for = self
            .session
            .awaiting()
            .map_or_else(|| "an unsolicited reply".to_string(), |a| a.to_string());
        let (deadline, session_limit) = self.deadline();
        let mut buf = vec![0u8; READ_CHUNK];
        let mut surplus = 0;
        loop {
            if self.before_banner {
                self.take_preamble(false);
            }
            if !self.pending.is_empty() && !self.before_banner {
                let fed = self.parser.feed(&self.pending);
                self.pending.drain(..fed.consumed);
                self.dropped += fed.discarded;
                if let Some(reply) = fed.reply {
                    if self.record_reply(reply.clone()).is_none()
                        && self.session.awaiting().is_some()
                    {
                        // A surplus reply: recorded as such; the awaited one is still due.
                        surplus += 1;
                        if surplus > MAX_SURPLUS {
                            return Err(self.fail(NetError::Surplus {
                                count: surplus,
                                waiting_for,
                            }));
                        }
                        continue;
                    }
                    return Ok(reply);
                }
                continue;
            }
            // One "dropped" line per flood, not one per read: report once the discarding ends.
            if !self.parser.discarding() {
                self.flush_dropped();
            }
            // A server that never stops sending (an endless line, discarded as it comes) keeps
            // every read ready at once, and tokio's timeout only fires on a read that waits:
            // the deadline is checked here too, so a flood ends at it as a silence does.
            let read = if tokio::time::Instant::now() >= deadline {
                None
            } else {
                Some(match &mut self.io {
                    Io::Closed => return Err(self.fail(NetError::NotConnected)),
                    Io::Plain(s) => tokio::time::timeout_at(deadline, s.read(&mut buf)).await,
                    Io::Tls(s) => tokio::time::timeout_at(deadline, s.read(&mut buf)).await,
                })
            };
            match read.and_then(Result::ok) {
                None => {
                    let bare_cr = self.keep_partial();
                    self.stalled = true;
                    let after = self.opts.timeouts.reply;
                    self.transcript.event(
                        Event::Timeout {
                            waiting_for: waiting_for.clone(),
                            after,
                        },
                        self.tls(),
                    );
                    let e = if session_limit {
                        NetError::SessionTimeout {
                            waiting_for,
                            secs: self.opts.timeouts.session.as_secs_f64(),
                        }
                    } else {
                        NetError::Timeout {
                            waiting_for,
                            secs: after.as_secs_f64(),
                            hint: if bare_cr {
                                "; the last line ended in a bare CR, so the server may be ending lines with CR alone (RFC 5321 requires CRLF)".into()
                            } else {
                                String::new()
                            },
                        }
                    };
                    return Err(e);
                }
                Some(Ok(0)) => {
                    self.keep_partial();
                    self.transcript.event(
                        Event::ClosedByPeer {
                            waiting_for: waiting_for.clone(),
                        },
                        self.tls(),
                    );
                    self.io = Io::Closed;
                    self.session.closed();
                    let waiting_for = match self.end_pipe(PIPE_GRACE).await {
                        Some(how) => format!("{waiting_for}; {how}"),
                        None => waiting_for,
                    };
                    return Err(NetError::Closed { waiting_for });
                }
                Some(Ok(n)) => self.pending.extend_from_slice(&buf[..n]),
                // Inside TLS, a server that closes without close_notify (most MTAs after a
                // 421 or 501) is a close, as it is in plaintext: said as such, not in the TLS
                // library's words.
                Some(Err(e)) if e.kind() == std::io::ErrorKind::UnexpectedEof => {
                    self.keep_partial();
                    self.transcript.event(
                        Event::ClosedByPeer {
                            waiting_for: waiting_for.clone(),
                        },
                        self.tls(),
                    );
                    self.io = Io::Closed;
                    self.session.closed();
                    let waiting_for = match self.end_pipe(PIPE_GRACE).await {
                        Some(how) => format!("{waiting_for}; {how}"),
                        None => waiting_for,
                    };
                    return Err(NetError::Closed { waiting_for });
                }
                Some(Err(e)) => {
                    self.keep_partial();
                    self.io = Io::Closed;
                    self.session.closed();
                    self.end_pipe(PIPE_GRACE).await;
                    return Err(self.fail(NetError::Io {
                        doing: format!("waiting for {waiting_for}"),
                        reason: super::error::plain_io(&e),
                    }));
                }
            }
        }
    }

    fn flush_dropped(&mut self) {
        if self.dropped > 0 {
            let count = std::mem::take(&mut self.dropped);
            self.transcript.event(
                Event::Dropped {
                    count,
                    reason: "over the reply size limits".into(),
                },
                self.tls(),
            );
        }
    }

    /// Records whatever part of a reply had arrived, so a timeout or close loses nothing.
    /// Returns true when it ended in a bare CR.
    fn keep_partial(&mut self) -> bool {
        if self.before_banner {
            self.take_preamble(true);
        }
        self.flush_dropped();
        match self.parser.finish() {
            Some(partial) => {
                let bare_cr = partial.has_bare_cr();
                self.session.received(&partial);
                self.transcript.received(partial, self.tls());
                bare_cr
            }
            None => false,
        }
    }

    /// Moves the lines a program on a pipe printed before its banner (those not starting with
    /// a digit) from the unparsed bytes into the transcript, shown as they are and never read
    /// as replies. `finished`: nothing more will come, so a partial line goes too. At most
    /// [`INJECTION_SAMPLE`] bytes are taken this way; past that, the parser sees the rest.
    fn take_preamble(&mut self, finished: bool) {
        let mut taken = Vec::new();
        while self.before_banner {
            match self.pending.first() {
                None => break,
                Some(b) if b.is_ascii_digit() => self.before_banner = false,
                Some(_) => match memchr::memchr(b'\n', &self.pending) {
                    Some(end) => taken.extend(self.pending.drain(..=end)),
                    None if finished || self.pending.len() >= INJECTION_SAMPLE => {
                        taken.append(&mut self.pending);
                    }
                    None => break,
                },
            }
            if taken.len() >= INJECTION_SAMPLE {
                self.before_banner = false;
            }
        }
        if !taken.is_empty() {
            self.transcript.event(
                Event::Discarded {
                    bytes: taken,
                    reason: "printed by the program before its banner; not a reply".into(),
                },
                false,
            );
        }
    }

    /// Reaps the program at the other end of a pipe, if there is one, and records how it
    /// ended; its standard error is shown when it did not exit with status 0. Returns how it
    /// ended in a few words (with the last line of its stderr on failure), for an error
    /// message that would otherwise only say "closed".
    async fn end_pipe(&mut self, grace: Duration) -> Option<String> {
        let child = self.pipe.take()?;
        self.before_banner = false;
        let ended = child.finish(grace).await;
        let command = match &self.opts.route {
            Route::Pipe(c) => c.to_string(),
            _ => "the program".into(),
        };
        let who = match ended.pid {
            Some(pid) => format!("pipe: {command} (pid {pid})"),
            None => format!("pipe: {command}"),
        };
        let tls = self.tls();
        self.transcript
            .event(Event::Info(format!("{who} {}", ended.status_text())), tls);
        let mut summary = format!("the program {}", ended.status_text());
        if ended.success() || ended.stderr_total == 0 {
            return Some(summary);
        }
        let text = String::from_utf8_lossy(&ended.stderr);
        let lines: Vec<&str> = text.lines().filter(|l| !l.trim().is_empty()).collect();
        let shown = &lines[lines.len().saturating_sub(PIPE_STDERR_LINES)..];
        let whole = ended.stderr_total == ended.stderr.len() as u64 && shown.len() == lines.len();
        self.transcript.event(
            Event::Info(format!(
                "its standard error ({} bytes{}):",
                ended.stderr_total,
                if whole { "" } else { ", the last lines" }
            )),
            tls,
        );
        for line in shown {
            self.transcript
                .event(Event::Info(format!("stderr: {line}")), tls);
        }
        if let Some(last) = shown.last() {
            let last: String = last.trim().chars().take(PIPE_STDERR_SUMMARY).collect();
            summary.push_str(&format!(", its stderr ending: {last}"));
        }
        Some(summary)
    }

    /// Records a reply; what it answered, if anything.
    fn record_reply(&mut self, reply: Reply) -> Option<crate::smtp::session::Awaiting> {
        self.last_activity = Instant::now();
        self.flush_dropped();
        let waiting = self.session.awaiting();
        let answered = self.session.received(&reply);
        let tls = self.tls();
        self.transcript.received(reply, tls);
        match (answered, waiting) {
            (Some(_), _) => {}
            (None, Some(w)) => self.transcript.event(
                Event::Surplus {
                    waiting_for: w.to_string(),
                },
                tls,
            ),
            (None, None) => self.transcript.event(Event::Unsolicited, tls),
        }
        answered
    }

    /// Records every complete reply already received that no command is waiting for: a server
    /// that answers twice, or early, is shown doing so instead of having its extra reply taken
    /// as the answer to the next command.
    fn collect_unsolicited(&mut self) {
        if let Io::Plain(s) = &mut self.io {
            let mut buf = vec![0u8; READ_CHUNK];
            while self.pending.len() < INJECTION_SAMPLE {
                match s.try_read(&mut buf) {
                    Ok(0) | Err(_) => break,
                    Ok(n) => self.pending.extend_from_slice(&buf[..n]),
                }
            }
        }
        while !self.pending.is_empty() && self.session.awaiting().is_none() {
            let fed = self.parser.feed(&self.pending);
            self.pending.drain(..fed.consumed);
            self.dropped += fed.discarded;
            match fed.reply {
                Some(reply) => {
                    self.record_reply(reply);
                }
                None => break,
            }
        }
    }

    async fn write(&mut self, bytes: &[u8], shown_if_secret: Option<&str>) -> Result<(), NetError> {
        self.last_activity = Instant::now();
        self.idle_heard = None;
        let tls = self.tls();
        self.transcript.sent(bytes, tls, shown_if_secret);
        let result = self.write_unrecorded(bytes).await;
        if let Err(NetError::Io { .. }) = &result {
            self.io = Io::Closed;
            self.session.closed();
            self.end_pipe(PIPE_GRACE).await;
        }
        result
    }

    /// Writes without recording (the caller records what it sent) and, on an I/O error,
    /// leaves the connection open: a server that refused a message mid-DATA may have said why
    /// before closing, and that reply is still to be read.
    pub(super) async fn write_unrecorded(&mut self, bytes: &[u8]) -> Result<(), NetError> {
        self.last_activity = Instant::now();
        let (deadline, _) = self.deadline();
        let result = match &mut self.io {
            Io::Closed => return Err(self.fail(NetError::NotConnected)),
            Io::Plain(s) => {
                tokio::time::timeout_at(deadline, async {
                    s.write_all(bytes).await?;
                    s.flush().await
                })
                .await
            }
            Io::Tls(s) => {
                let written = tokio::time::timeout_at(deadline, async {
                    s.write_all(bytes).await?;
                    s.flush().await
                })
                .await;
                // The session tickets may still be on their way: see `Wire::ack_promptly`.
                s.get_ref().0.ack_promptly();
                written
            }
        };
        match result {
            Ok(Ok(())) => Ok(()),
            Ok(Err(e)) => Err(self.fail(NetError::Io {
                doing: "sending".into(),
                reason: super::error::plain_io(&e),
            })),
            Err(_) => {
                self.stalled = true;
                Err(self.fail(NetError::Timeout {
                    waiting_for: "the server to accept our bytes".into(),
                    secs: self.opts.timeouts.reply.as_secs_f64(),
                    hint: String::new(),
                }))
            }
        }
    }

    /// Records bytes sent by [`Self::write_unrecorded`], or a summary standing for them.
    pub(super) fn record_sent(&mut self, bytes: &[u8]) {
        let tls = self.tls();
        self.transcript.sent(bytes, tls, None);
    }

    /// Marks the message as sent: its reply is due next.
    pub(super) fn message_sent(&mut self) {
        self.session.message_sent();
    }

    fn gate(&mut self, verb: Verb) -> Result<(), NetError> {
        if let Err(refusal) = self.session.check(verb) {
            self.transcript
                .event(Event::Refused(refusal.to_string()), self.tls());
            return Err(NetError::Refusal(refusal));
        }
        Ok(())
    }

    /// Writes `cmds` in one go, before their turn (RFC 2920 command pipelining), when the
    /// server offers PIPELINING; otherwise writes nothing. Each is gated first, and nothing
    /// goes out if any is refused. [`Self::command`] then reads the reply of the first one
    /// written ahead instead of writing it again; a command sent ahead that the caller never
    /// asks for has its reply read, recorded and set aside before anything else is sent.
    /// Returns whether the commands went out.
    pub async fn send_ahead(&mut self, cmds: &[Command]) -> Result<bool, NetError> {
        let offered = self.session.capabilities().is_some_and(|c| c.pipelining());
        if !offered || cmds.is_empty() {
            return Ok(false);
        }
        self.settle_ahead(None).await?;
        let verbs: Vec<Verb> = cmds.iter().map(Command::gate_verb).collect();
        for verb in &verbs {
            self.gate(*verb)?;
        }
        let wires: Vec<Vec<u8>> = cmds.iter().map(Command::to_wire).collect();
        self.write(&wires.concat(), None).await?;
        for verb in verbs {
            self.session.sent(verb);
        }
        self.ahead.extend(wires);
        Ok(true)
    }

    /// Reads the replies of commands written ahead, in order, up to the one whose bytes are
    /// `wanted` (its reply returned) or all of them (`None` returned): the replies of those
    /// passed over are in the transcript, marked as set aside.
    async fn settle_ahead(&mut self, wanted: Option<&[u8]>) -> Result<Option<Reply>, NetError> {
        while let Some(front) = self.ahead.pop_front() {
            let reply = self.read_reply().await?;
            if wanted == Some(front.as_slice()) {
                self.collect_unsolicited();
                return Ok(Some(reply));
            }
            let line = String::from_utf8_lossy(&front).trim_end().to_string();
            self.note(Event::Info(format!(
                "reply set aside: `{line}` went out pipelined ahead of its step, which was not run"
            )));
        }
        Ok(None)
    }

    /// Sends a command without waiting for its reply (after the security gate). A raw line
    /// may hold several commands: each is gated, and nothing goes out if any is refused.
    /// Replies still owed to commands written ahead are read first.
    pub async fn send(&mut self, cmd: &Command) -> Result<(), NetError> {
        if !self.ahead.is_empty() {
            self.settle_ahead(None).await?;
        }
        let (answered, unterminated) = match cmd {
            Command::Raw(bytes) => (raw_commands(bytes), raw_unterminated(bytes)),
            other => (vec![other.verb()], None),
        };
        for verb in answered.iter().chain(unterminated.iter()) {
            self.gate(*verb)?;
        }
        self.write(&cmd.to_wire(), None).await?;
        for verb in &answered {
            self.session.sent(*verb);
        }
        Ok(())
    }

    /// Sends a command (after the gate) whose reply the caller accounts for itself.
    pub(super) async fn send_unanswered(&mut self, cmd: &Command) -> Result<(), NetError> {
        self.gate(cmd.verb())?;
        self.write(&cmd.to_wire(), None).await
    }

    /// Sends a command and reads its reply; for a raw line of several commands, one reply per
    /// command, in order (the last is returned; all are in the transcript).
    pub async fn command(&mut self, cmd: &Command) -> Result<Reply, NetError> {
        if *cmd == Command::StartTls {
            return self.starttls().await;
        }
        if !self.ahead.is_empty()
            && let Some(reply) = self.settle_ahead(Some(&cmd.to_wire())).await?
        {
            return Ok(reply);
        }
        let expected = match cmd {
            Command::Raw(bytes) => raw_commands(bytes).len().max(1),
            _ => 1,
        };
        self.send(cmd).await?;
        let mut last = self.read_reply().await?;
        for _ in 1..expected {
            last = self.read_reply().await?;
        }
        self.collect_unsolicited();
        Ok(last)
    }

    /// STARTTLS and the handshake. A reply other than 220 is returned as
    /// [`NetError::StartTlsRefused`] with the session still usable in plaintext.
    pub async fn starttls(&mut self) -> Result<Reply, NetError> {
        self.send(&Command::StartTls).await?;
        let reply = self.read_reply().await?;
        if let StartTlsStep::Refused(summary) = flow::after_starttls(&reply, 0) {
            return Err(self.fail(NetError::StartTlsRefused { reply: summary }));
        }
        // Anything already received after the 220 came in plaintext, yet a client that kept
        // it would read it as the server's answer inside TLS (Poddebniak et al. 2021, B_1).
        // It is shown, never parsed, and the session stops.
        let mut leftover = std::mem::take(&mut self.pending);
        if let Io::Plain(s) = &mut self.io {
            let mut buf = vec![0u8; READ_CHUNK];
            while leftover.len() < INJECTION_SAMPLE {
                match s.try_read(&mut buf) {
                    Ok(0) | Err(_) => break,
                    Ok(n) => leftover.extend_from_slice(&buf[..n]),
                }
            }
        }
        let after = if leftover.is_empty() && self.parser.in_progress() {
            // Part of a line was parsed and nothing is left raw: still bytes after the 220.
            1
        } else {
            leftover.len()
        };
        if let StartTlsStep::Injection { count } = flow::after_starttls(&reply, after) {
            self.transcript.event(
                Event::Discarded {
                    bytes: leftover,
                    reason: "plaintext after the 220 to STARTTLS, before the TLS handshake".into(),
                },
                false,
            );
            self.io = Io::Closed;
            self.session.closed();
            return Err(self.fail(NetError::Injection { count }));
        }
        self.handshake().await?;
        self.session.tls_established();
        Ok(reply)
    }

    /// STARTTLS without the handshake: for probing versions this client does not speak. A
    /// reply other than 220 is [`NetError::StartTlsRefused`].
    pub async fn starttls_without_handshake(&mut self) -> Result<Reply, NetError> {
        self.send(&Command::StartTls).await?;
        let reply = self.read_reply().await?;
        if let StartTlsStep::Refused(summary) = flow::after_starttls(&reply, 0) {
            return Err(self.fail(NetError::StartTlsRefused { reply: summary }));
        }
        Ok(reply)
    }

    /// Sends `bytes` on the plaintext socket and collects what comes back until `enough` says
    /// so, the server closes, or the reply timeout passes. For TLS probes that read a
    /// ServerHello but never finish the handshake; the bytes are recorded as sent.
    pub async fn raw_exchange(
        &mut self,
        bytes: &[u8],
        enough: impl Fn(&[u8]) -> bool,
    ) -> Result<Vec<u8>, NetError> {
        self.write(bytes, None).await?;
        let (deadline, _) = self.deadline();
        let mut got = std::mem::take(&mut self.pending);
        let mut buf = vec![0u8; READ_CHUNK];
        let Io::Plain(s) = &mut self.io else {
            return Err(self.fail(NetError::NotConnected));
        };
        while !enough(&got) && got.len() < INJECTION_SAMPLE {
            match tokio::time::timeout_at(deadline, s.read(&mut buf)).await {
                Ok(Ok(0)) | Ok(Err(_)) => break,
                Ok(Ok(n)) => got.extend_from_slice(&buf[..n]),
                Err(_) => break,
            }
        }
        Ok(got)
    }

    async fn handshake(&mut self) -> Result<(), NetError> {
        let tcp = match std::mem::replace(&mut self.io, Io::Closed) {
            Io::Plain(tcp) => tcp,
            other => {
                self.io = other;
                return Err(self.fail(NetError::Handshake {
                    reason: "TLS is already active".into(),
                }));
            }
        };
        let built = match &self.opts.resumption {
            Some(shared) => shared.config(&self.opts.tls).map(|c| {
                (
                    c,
                    std::sync::Arc::new(std::sync::Mutex::new(Default::default())),
                )
            }),
            None => tls::client_config(&self.opts.tls),
        };
        let (config, record) = match built {
            Ok(ok) => ok,
            Err(e) => return Err(self.fail(e.into())),
        };
        let name_str = self
            .opts
            .tls
            .tls_name
            .clone()
            .unwrap_or_else(|| self.opts.target.host.clone());
        let name = match tls::server_name(&name_str) {
            Ok(n) => n,
            Err(e) => return Err(self.fail(e.into())),
        };
        let (deadline, _) = self.deadline();
        let connector = TlsConnector::from(config);
        let handshake =
            tls::recording(std::sync::Arc::clone(&record), connector.connect(name, tcp));
        match tokio::time::timeout_at(deadline, handshake).await {
            Err(_) => {
                self.handshake_timed_out = true;
                self.session.closed();
                let hint = if self.opts.route.is_pipe() {
                    format!(
                        "; over a pipe, the program may not do TLS at all (exim -bh answers 220 to STARTTLS but never completes a handshake): use {}",
                        self.opts
                            .front_end
                            .name(Control::Setting("tls = \"none\"", "--tls none"))
                    )
                } else {
                    String::new()
                };
                Err(self.fail(NetError::Timeout {
                    waiting_for: "the TLS handshake".into(),
                    secs: self.opts.timeouts.reply.as_secs_f64(),
                    hint,
                }))
            }
            Ok(Err(e)) => {
                self.session.closed();
                let (failure, problem) = match record.lock() {
                    Ok(r) => (r.failure.clone(), r.problem.clone()),
                    Err(p) => {
                        let r = p.into_inner();
                        (r.failure.clone(), r.problem.clone())
                    }
                };
                if failure.is_some() {
                    self.tls_rejected = Some(tls::tls_info_from_record(
                        &record,
                        &name_str,
                        tls::trust_label(&self.opts.tls),
                    ));
                }
                let eof = e.kind() == std::io::ErrorKind::UnexpectedEof;
                let fe = self.opts.front_end;
                let reason = match failure {
                    Some(f) => format!(
                        "certificate rejected for {name_str}: {f} ({})",
                        problem.as_ref().map_or_else(
                            || format!(
                                "use {} to continue anyway",
                                fe.any_of(&[Control::CaFile, Control::TlsName, Control::Insecure])
                            ),
                            |p| super::cert_defects::advice(p, fe)
                        )
                    ),
                    None if eof => {
                        "the server closed the connection during the TLS handshake".into()
                    }
                    None if tls::is_plaintext_answer(&e) => {
                        if self.opts.tls_mode == TlsMode::Implicit {
                            format!(
                                "the server answered in plaintext, not TLS: this port speaks plain SMTP; try STARTTLS ({})",
                                fe.name(Control::Starttls)
                            )
                        } else {
                            "the server went on in plaintext after agreeing to STARTTLS (its answer was not TLS)".into()
                        }
                    }
                    // Said in words, not as rustls's alert name: this is the TLS 1.0-only server.
                    // One version offered is a probe for that version (or the operator's
                    // pin): the answer is the finding, and pointing at the check that probes
                    // versions would send the reader to where they already are.
                    None if e.to_string().contains("ProtocolVersion") && self.one_version() => {
                        format!(
                            "the server does not accept {}: alert protocol_version",
                            self.offered_versions()
                        )
                    }
                    None if e.to_string().contains("ProtocolVersion") => format!(
                        "the server accepts none of the TLS versions offered ({}): alert protocol_version (`check --scenario starttls` probes which it takes)",
                        self.offered_versions()
                    ),
                    None => e.to_string(),
                };
                Err(self.fail(NetError::Handshake { reason }))
            }
            Ok(Ok(stream)) => {
                let conn = stream.get_ref().1;
                let mut info =
                    tls::tls_info(conn, &record, &name_str, tls::trust_label(&self.opts.tls));
                if let Some(shared) = &self.opts.resumption {
                    if !tls::resumed(conn) {
                        shared.remember(&self.opts.tls, &name_str, &info);
                    } else if let Some(full) = shared.full_handshake(&self.opts.tls, &name_str) {
                        // No certificate in a resumed handshake: the full one's findings.
                        info.verification = full.verification;
                        info.chain = full.chain;
                        info.chain_check = full.chain_check;
                        info.chain_der = full.chain_der;
                        info.ocsp = full.ocsp;
                        info.resumed = true;
                    } else {
                        // A session resumed before its full handshake was recorded (a moment
                        // between two tasks): the certificate was not seen here, so say so.
                        info.resumed = true;
                        info.verification.verified = false;
                        info.verification.failure = Some(
                            "not seen: the session was resumed and its full handshake's findings were not recorded yet".into(),
                        );
                    }
                }
                self.io = Io::Tls(Box::new(stream));
                self.transcript
                    .event(Event::TlsEstablished(Box::new(info.clone())), true);
                self.tls_info = Some(info);
                Ok(())
            }
        }
    }

    fn one_version(&self) -> bool {
        use super::tls::TlsVersion;
        let min = self.opts.tls.min_version.unwrap_or(TlsVersion::Tls12);
        let max = self.opts.tls.max_version.unwrap_or(TlsVersion::Tls13);
        min == max
    }

    fn offered_versions(&self) -> String {
        use super::tls::TlsVersion;
        let min = self.opts.tls.min_version.unwrap_or(TlsVersion::Tls12);
        let max = self.opts.tls.max_version.unwrap_or(TlsVersion::Tls13);
        [TlsVersion::Tls12, TlsVersion::Tls13]
            .into_iter()
            .filter(|v| (min..=max).contains(v))
            .map(TlsVersion::label)
            .collect::<Vec<_>>()
            .join(" and ")
    }

    async fn write_secret(&mut self, line: &SecretLine) -> Result<(), NetError> {
        let mut wire = zeroize::Zeroizing::new(line.expose().as_bytes().to_vec());
        wire.extend_from_slice(b"\r\n");
        let shown = line.redacted();
        let shown = line.carries_secret().then_some(shown.as_str());
        self.write(&wire, shown).await
    }

    /// Runs a SASL exchange. Returns the final reply (235 on success); a challenge the
    /// mechanism cannot answer cancels the exchange with `*` (RFC 4954 §4).
    pub async fn authenticate(
        &mut self,
        mechanism: Mechanism,
        credentials: Credentials,
        initial_response: bool,
    ) -> Result<Reply, NetError> {
        self.gate(Verb::Auth)?;
        self.transcript
            .add_secrets(secret_needles(mechanism, &credentials));
        let identity = credentials.username.clone();
        let mut exchange = AuthExchange::new(mechanism, credentials);
        let first = exchange.start(initial_response);
        self.write_secret(&first).await?;
        self.session.auth_sent(&identity);
        loop {
            let reply = self.read_reply().await?;
            let failure = match exchange.on_reply(&reply) {
                AuthStep::Done => return Ok(reply),
                AuthStep::Respond(line) => {
                    self.write_secret(&line).await?;
                    self.session.auth_step_sent();
                    continue;
                }
                AuthStep::Cancel(e) => NetError::Sasl(e),
                AuthStep::TooManyChallenges => NetError::Io {
                    doing: "authenticating".into(),
                    reason: "the server kept sending challenges; exchange cancelled".into(),
                },
            };
            self.write(AUTH_CANCEL, None).await?;
            self.session.auth_step_sent();
            let _ = self.read_reply().await;
            return Err(self.fail(failure));
        }
    }

    /// Reads a reply, but treats silence for `wait` as an answer in itself (`None`) rather
    /// than a failure: a smuggling probe hopes the server keeps reading.
    pub async fn read_reply_for(&mut self, wait: Duration) -> Result<Option<Reply>, NetError> {
        let normal = self.opts.timeouts.reply;
        let stalled = self.stalled;
        self.opts.timeouts.reply = wait;
        let result = self.read_reply().await;
        self.opts.timeouts.reply = normal;
        match result {
            Ok(r) => Ok(Some(r)),
            // Silence was the answer asked about, not a server that stopped answering.
            Err(NetError::Timeout { .. }) => {
                self.stalled = stalled;
                Ok(None)
            }
            Err(e) => Err(e),
        }
    }

    /// Sends part of a message body after DATA's 354, exactly as given. `ends_message` says
    /// the bytes are meant to complete it, so a reply is now due.
    pub async fn send_message_part(
        &mut self,
        bytes: &[u8],
        ends_message: bool,
    ) -> Result<(), NetError> {
        self.write(bytes, None).await?;
        if ends_message {
            self.session.message_sent();
        }
        Ok(())
    }

    /// Sends `AUTH PLAIN` with a made-up credential, past the cleartext-AUTH gate. This is the
    /// one exception to that rule, and safe because the credential is worthless: it answers
    /// whether the server would accept AUTH before TLS. A 334 is answered with `*` to cancel.
    pub async fn probe_cleartext_auth(&mut self) -> Result<Reply, NetError> {
        use base64::Engine;
        let dummy = base64::engine::general_purpose::STANDARD
            .encode(b"\0smtpscope-probe\0not-a-real-password");
        let line = format!("AUTH PLAIN {dummy}\r\n");
        self.write(line.as_bytes(), None).await?;
        self.session.sent(Verb::Auth);
        let reply = self.read_reply().await?;
        if reply.code() == Some(334) {
            self.write(b"*\r\n", None).await?;
            self.session.auth_step_sent();
            let _ = self.read_reply().await;
        }
        Ok(reply)
    }

    /// QUIT, then close. A server that closes without answering is not an error here.
    pub async fn quit(&mut self) -> Result<Option<Reply>, NetError> {
        if !self.is_open() {
            return Ok(None);
        }
        if self.stalled {
            // The server stopped answering: QUIT would only wait out another timeout.
            self.note(Event::Info(
                "not sending QUIT: the server stopped answering".into(),
            ));
            self.close().await;
            return Ok(None);
        }
        // QUIT already written ahead, after the replies owed before it: its reply is read.
        let quit = Command::Quit.to_wire();
        if self.ahead.contains(&quit) {
            let reply = match self.settle_ahead(Some(&quit)).await {
                Ok(r) => r,
                Err(NetError::Closed { .. }) => None,
                Err(e) => {
                    self.close().await;
                    return Err(e);
                }
            };
            self.close().await;
            return Ok(reply);
        }
        // Replies still owed (a pipelined batch cut short) come first, so QUIT's is its own.
        if self.settle_ahead(None).await.is_err() {
            self.close().await;
            return Ok(None);
        }
        while self.session.awaiting().is_some() {
            if self.read_reply().await.is_err() {
                self.close().await;
                return Ok(None);
            }
        }
        self.send(&Command::Quit).await?;
        let reply = match self.read_reply().await {
            Ok(r) => Some(r),
            Err(NetError::Closed { .. }) => None,
            Err(e) => return Err(e),
        };
        self.close().await;
        Ok(reply)
    }

    /// Closes the connection (TLS close_notify first, when TLS is up).
    pub async fn close(&mut self) {
        self.ahead.clear();
        match std::mem::replace(&mut self.io, Io::Closed) {
            Io::Tls(mut s) => {
                let _ = tokio::time::timeout(Duration::from_secs(1), s.shutdown()).await;
            }
            Io::Plain(mut s) => {
                let _ = tokio::time::timeout(Duration::from_secs(1), s.shutdown()).await;
            }
            Io::Closed => {}
        }
        self.session.closed();
        // A program that stopped answering is not waited for again.
        let grace = if self.stalled {
            Duration::ZERO
        } else {
            PIPE_GRACE
        };
        self.end_pipe(grace).await;
    }
}

#[cfg(test)]
#[allow(clippy::unwrap_used, clippy::expect_used)] // test code
mod tests {
    use super::*;
    use crate::net::tls::TlsVersion;

    fn options(mode: TlsMode) -> ConnectOptions {
        let mut o = ConnectOptions::new(Target {
            host: "127.0.0.1".into(),
            port: 25,
        });
        o.tls_mode = mode;
        o
    }

    /// SECURITY.md §2: implicit TLS has no plaintext to fall back to, so it requires TLS
    /// whatever the policy says; the other modes keep the policy as given.
    #[test]
    fn implicit_tls_always_requires_tls() {
        assert!(options(TlsMode::Implicit).effective_policy().require_tls);
        for mode in [TlsMode::Starttls, TlsMode::None] {
            assert!(!options(mode).effective_policy().require_tls, "{mode:?}");
            let mut o = options(mode);
            o.policy.require_tls = true;
            o.policy.allow_cleartext_auth = true;
            let p = o.effective_policy();
            assert!(p.require_tls && p.allow_cleartext_auth, "{mode:?}");
        }
        let mut o = options(TlsMode::Implicit);
        o.policy.allow_cleartext_auth = true;
        assert!(
            o.effective_policy().allow_cleartext_auth,
            "only require_tls is forced"
        );
    }

    /// What a failed handshake says was offered: both versions by default, one when
    /// `--tls-min` and `--tls-max` pin it.
    #[test]
    fn the_versions_offered_follow_tls_min_and_max() {
        let conn = |min: Option<TlsVersion>, max: Option<TlsVersion>| {
            let mut o = options(TlsMode::Starttls);
            o.tls.min_version = min;
            o.tls.max_version = max;
            Connection::new(o, Transcript::new())
        };
        let c = conn(None, None);
        assert_eq!(c.offered_versions(), "TLSv1.2 and TLSv1.3");
        assert!(!c.one_version());
        let c = conn(Some(TlsVersion::Tls13), None);
        assert_eq!(c.offered_versions(), "TLSv1.3");
        assert!(c.one_version());
        let c = conn(None, Some(TlsVersion::Tls12));
        assert_eq!(c.offered_versions(), "TLSv1.2");
        assert!(c.one_version());
    }
}
