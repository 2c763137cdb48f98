//! The client's side of each SMTP exchange, decided once: what a banner must look like, when
//! EHLO falls back to HELO, and the test message. Pure functions and a small state machine:
//! the caller sends what [`Greeting`] asks for and feeds back each reply; `net` drives it over
//! a socket, tests drive it with bytes.

use super::auth::{Credentials, Mechanism, SaslClient, SaslError, SecretLine};
use super::command::Command;
use super::reply::Reply;

/// Why a session cannot go on after the banner.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum BannerProblem {
    #[error("the banner is not an SMTP reply: {0}")]
    NotSmtp(String),
    #[error("the server refused the session in its banner: {0}")]
    Refused(String),
}

/// A banner worth greeting: a well-formed 2xx (RFC 5321 §3.1: 220, or 554 to refuse).
pub fn check_banner(banner: &Reply) -> Result<(), BannerProblem> {
    if !banner.has_valid_code() {
        return Err(BannerProblem::NotSmtp(banner.summary()));
    }
    if !banner.is_positive() {
        return Err(BannerProblem::Refused(banner.summary()));
    }
    Ok(())
}

/// The server's name from its banner (`220 mail.example.com ESMTP ...`). It fills in scenario
/// commands as the domain of an address (`T%D@S`, `@S:T@D`), so only what can stand there is
/// used: a DNS name, or an address as a domain literal (`[192.0.2.1]`, `[IPv6:2001:db8::1]`; a
/// bare address, as some servers greet with, is written as one). Anything else (`<`, `>`,
/// `@`, `:`, quotes, a control byte: a server choosing what goes inside our probes) gives
/// `localhost`.
pub fn server_name(banner: &Reply) -> String {
    banner
        .lines
        .first()
        .map(|l| l.text())
        .and_then(|t| t.split_whitespace().next().map(str::to_string))
        .and_then(|name| usable_domain(&name))
        .unwrap_or_else(|| "localhost".into())
}

/// `name` as the domain of an address, if it can be one.
fn usable_domain(name: &str) -> Option<String> {
    use core::net::IpAddr;
    // RFC 5321 §4.1.3: an address is a domain only as a literal, `[IPv4]` or `[IPv6:addr]`.
    let ip = match name.strip_prefix('[').and_then(|n| n.strip_suffix(']')) {
        Some(inner) => match inner.strip_prefix("IPv6:") {
            Some(v6) => IpAddr::V6(v6.parse().ok()?),
            None => IpAddr::V4(inner.parse().ok()?),
        },
        None => match name.parse::<IpAddr>() {
            Ok(ip) => ip,
            Err(_) => {
                return super::validate::dns_name("server name", name)
                    .is_ok()
                    .then(|| name.to_string());
            }
        },
    };
    Some(match ip {
        IpAddr::V4(a) => format!("[{a}]"),
        IpAddr::V6(a) => format!("[IPv6:{a}]"),
    })
}

/// Why the greeting failed.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum GreetProblem {
    #[error("{verb} was answered with something that is not an SMTP reply: {summary}")]
    NotSmtp { verb: &'static str, summary: String },
    #[error("{verb} rejected: {summary}")]
    Rejected { verb: &'static str, summary: String },
}

/// What to do after a greeting reply.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum GreetStep {
    /// Send this command and feed its reply back.
    Send(Command),
    /// The server accepted the greeting.
    Done,
    Failed(GreetProblem),
}

/// EHLO, and HELO for a server that does not speak ESMTP.
///
/// RFC 5321 §4.1.4 has a server that does not accept EHLO answer 500, 501, 502 or 550 and stay
/// in the same state, so HELO may follow. Any other refusal (421, 554, a 4xx) is about the
/// session rather than the command: HELO would only be refused again, or the server is gone.
#[derive(Debug, Clone)]
pub struct Greeting {
    name: String,
    sent_helo: bool,
    /// LMTP (RFC 2033): LHLO, and no HELO to fall back on.
    lmtp: bool,
}

const HELO_FALLBACK: [u16; 4] = [500, 501, 502, 550];

impl Greeting {
    pub fn new(name: &str) -> Self {
        Greeting {
            name: name.to_string(),
            sent_helo: false,
            lmtp: false,
        }
    }

    /// The LMTP greeting: LHLO, which has no fallback.
    pub fn lmtp(name: &str) -> Self {
        Greeting {
            lmtp: true,
            ..Greeting::new(name)
        }
    }

    /// The first command: EHLO, or LHLO for LMTP.
    pub fn start(&self) -> Command {
        if self.lmtp {
            Command::Lhlo(self.name.clone())
        } else {
            Command::Ehlo(self.name.clone())
        }
    }

    pub fn on_reply(&mut self, reply: &Reply) -> GreetStep {
        let verb = match (self.lmtp, self.sent_helo) {
            (true, _) => "LHLO",
            (false, true) => "HELO",
            (false, false) => "EHLO",
        };
        if !reply.has_valid_code() {
            return GreetStep::Failed(GreetProblem::NotSmtp {
                verb,
                summary: reply.summary(),
            });
        }
        if reply.is_positive() {
            return GreetStep::Done;
        }
        let falls_back = reply.code().is_some_and(|c| HELO_FALLBACK.contains(&c));
        if !self.sent_helo && !self.lmtp && falls_back {
            self.sent_helo = true;
            return GreetStep::Send(Command::Helo(self.name.clone()));
        }
        GreetStep::Failed(GreetProblem::Rejected {
            verb,
            summary: reply.summary(),
        })
    }
}

/// What to do after the reply to STARTTLS.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum StartTlsStep {
    /// A 220 and nothing after it: start the handshake.
    Handshake,
    /// Any other reply: the session goes on in plaintext (or stops, if TLS is required).
    Refused(String),
    /// Bytes arrived after the 220, before the handshake. They came in plaintext, yet a
    /// client that kept them would read them as the server's answer inside TLS (Poddebniak et
    /// al. 2021, case B_1; CVE-2011-0411 class): never parse them, stop.
    Injection { count: usize },
}

/// Decides after STARTTLS's reply. `after` counts the bytes already received past that reply,
/// whole or partial; the reply parser stops right after a reply, so none is ever hidden.
pub fn after_starttls(reply: &Reply, after: usize) -> StartTlsStep {
    if reply.code() != Some(220) {
        return StartTlsStep::Refused(reply.summary());
    }
    if after > 0 {
        return StartTlsStep::Injection { count: after };
    }
    StartTlsStep::Handshake
}

/// What to do after a reply during AUTH.
#[derive(Debug)]
pub enum AuthStep {
    /// Send this line (a response to a 334 challenge).
    Respond(SecretLine),
    /// The exchange is over; the reply says how (235 or a refusal).
    Done,
    /// The challenge cannot be answered: send `*` (RFC 4954 §4), read the reply, and report.
    Cancel(SaslError),
    /// The server keeps challenging past any mechanism's length: cancel the same way.
    TooManyChallenges,
}

/// One AUTH exchange: [`start`](Self::start) gives the AUTH command, each reply goes to
/// [`on_reply`](Self::on_reply) until it says the exchange is over.
#[derive(Debug)]
pub struct AuthExchange {
    sasl: SaslClient,
    challenges: usize,
}

/// Every mechanism here finishes in at most three round trips; a server that keeps
/// challenging is cut off rather than answered forever.
const MAX_CHALLENGES: usize = 8;

impl AuthExchange {
    pub fn new(mechanism: Mechanism, credentials: Credentials) -> Self {
        AuthExchange {
            sasl: SaslClient::new(mechanism, credentials),
            challenges: 0,
        }
    }

    pub fn start(&mut self, initial_response: bool) -> SecretLine {
        self.challenges = 0;
        self.sasl.start(initial_response)
    }

    pub fn on_reply(&mut self, reply: &Reply) -> AuthStep {
        if reply.code() != Some(334) {
            return AuthStep::Done;
        }
        self.challenges += 1;
        if self.challenges > MAX_CHALLENGES {
            return AuthStep::TooManyChallenges;
        }
        let challenge = reply.lines.last().map(|l| l.text()).unwrap_or_default();
        match self.sasl.step(challenge.trim()) {
            Ok(line) => AuthStep::Respond(line),
            Err(e) => AuthStep::Cancel(e),
        }
    }
}

/// The line that cancels an exchange (RFC 4954 §4).
pub const AUTH_CANCEL: &[u8] = b"*\r\n";

/// A test message's headers and text. The caller supplies the clock's answers, so this stays
/// pure and tests are deterministic.
#[derive(Debug, Clone)]
pub struct TestMessage<'a> {
    pub from: Option<&'a str>,
    pub to: &'a [String],
    /// The Cc header's addresses (none: no Cc header).
    pub cc: &'a [String],
    /// RFC 5322 date, e.g. `Mon, 30 Nov 2026 22:42:50 +0000`.
    pub date: &'a str,
    /// Unique per message: Message-ID's left part and the X-Smtpscope-Test value.
    pub unique: &'a str,
    /// Message-ID's right part.
    pub id_domain: &'a str,
    /// What the message is for, shown in its subject.
    pub purpose: &'a str,
    /// More header lines, "Name: value": one named like a standard header (Subject, From…)
    /// replaces it, the others are added after the standard ones.
    pub headers: &'a [String],
    /// The body text instead of the standard line.
    pub body: Option<&'a [u8]>,
}

/// The name of a "Name: value" header line, without surrounding blanks ("" without a colon).
fn header_name(line: &str) -> &str {
    line.split_once(':').map_or("", |(name, _)| name.trim())
}

/// The message as text (CRLF line ends, not yet dot-stuffed: see [`super::data::encode_data`]).
/// It names itself as a smtpscope test so whoever finds it knows it can be deleted.
pub fn test_message(m: &TestMessage<'_>) -> Vec<u8> {
    let mut lines = vec![format!("Date: {}", m.date)];
    if let Some(from) = m.from {
        lines.push(format!("From: <{from}>"));
    }
    if !m.to.is_empty() {
        let to: Vec<String> = m.to.iter().map(|t| format!("<{t}>")).collect();
        lines.push(format!("To: {}", to.join(", ")));
    }
    if !m.cc.is_empty() {
        let cc: Vec<String> = m.cc.iter().map(|t| format!("<{t}>")).collect();
        lines.push(format!("Cc: {}", cc.join(", ")));
    }
    lines.extend([
        format!("Subject: smtpscope {} {}", m.purpose, m.unique),
        format!("Message-ID: <{}@{}>", m.unique, m.id_domain),
        format!("X-Smtpscope-Test: {}", m.unique),
        format!("X-Mailer: smtpscope {}", env!("CARGO_PKG_VERSION")),
    ]);
    // As swaks does, a header given by the operator replaces the standard one of that name
    // (a message with two Subject lines is not what anyone asked for); others are added.
    let standard = lines.len();
    let mut replaced = vec![false; standard];
    for h in m.headers {
        let name = header_name(h);
        let slot = (0..standard).find(|&i| {
            !replaced[i] && header_name(&lines[i]).eq_ignore_ascii_case(name) && !name.is_empty()
        });
        match slot {
            Some(i) => {
                lines[i] = h.clone();
                replaced[i] = true;
            }
            None => lines.push(h.clone()),
        }
    }
    let mut out = String::new();
    for line in &lines {
        out.push_str(line);
        out.push_str("\r\n");
    }
    out.push_str("\r\n");
    let mut bytes = out.into_bytes();
    match m.body {
        Some(body) => bytes.extend_from_slice(body),
        None => bytes.extend_from_slice(
            format!(
                "This message was sent by smtpscope ({}). It can be deleted.\r\n",
                m.purpose
            )
            .as_bytes(),
        ),
    }
    bytes
}

#[cfg(test)]
mod tests;
