//! Session state: where the dialogue is, what is known about the server, and which commands
//! are allowed and make sense next. The security rules live here, so every front end (the
//! one-shot `session` command, `check`, the TUI) enforces the same ones.

use std::collections::VecDeque;
use std::fmt;

use super::capabilities::Capabilities;
use super::command::Verb;
use super::reply::Reply;

/// Where the dialogue stands.
#[derive(Debug, Clone, Copy, PartialEq, Eq, serde::Serialize)]
#[serde(rename_all = "kebab-case")]
pub enum Phase {
    /// Connected; the banner has not arrived yet.
    AwaitingBanner,
    /// Banner received (or TLS just came up): EHLO/HELO next.
    Greeted,
    /// EHLO/HELO answered: ready for a transaction.
    Ready,
    /// STARTTLS accepted: the TLS handshake comes next.
    TlsHandshake,
    /// MAIL FROM accepted.
    Mail,
    /// At least one RCPT TO accepted.
    Rcpt,
    /// DATA got 354: the message goes out next.
    Data,
    /// QUIT sent or the server said it is closing.
    Closing,
}

impl fmt::Display for Phase {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let s = match self {
            Phase::AwaitingBanner => "awaiting banner",
            Phase::Greeted => "greeted",
            Phase::Ready => "ready",
            Phase::TlsHandshake => "TLS handshake",
            Phase::Mail => "sender accepted",
            Phase::Rcpt => "recipients accepted",
            Phase::Data => "sending message",
            Phase::Closing => "closing",
        };
        f.write_str(s)
    }
}

/// What a reply answers.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Awaiting {
    Banner,
    Command(Verb),
    /// A SASL continuation line.
    AuthStep,
    /// The message body after DATA's 354, or a BDAT chunk.
    MessageEnd,
}

impl fmt::Display for Awaiting {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Awaiting::Banner => f.write_str("the banner"),
            Awaiting::Command(v) => write!(f, "the reply to {v}"),
            Awaiting::AuthStep => f.write_str("the reply to an AUTH response"),
            Awaiting::MessageEnd => f.write_str("the reply to the end of the message"),
        }
    }
}

/// Security settings the session enforces.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct SecurityPolicy {
    /// Nothing beyond EHLO/HELO/STARTTLS/QUIT/RSET/NOOP goes out without TLS.
    pub require_tls: bool,
    /// Permit AUTH on a connection without TLS. Off by default: credentials would travel in
    /// the clear.
    pub allow_cleartext_auth: bool,
}

/// Why the session will not send a command.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum Refusal {
    #[error(
        "refusing to send AUTH without TLS: credentials would travel in cleartext (use STARTTLS or implicit TLS, or allow cleartext AUTH explicitly)"
    )]
    CleartextAuth,
    #[error("refusing to send {0} without TLS: TLS is required for this session")]
    TlsRequired(Verb),
    #[error("STARTTLS is pointless: TLS is already active")]
    TlsAlreadyActive,
    #[error("the session is closing; nothing more can be sent")]
    Closing,
}

#[derive(Debug, Clone)]
pub struct Session {
    /// Replies that answered nothing (see [`Session::surplus`]).
    surplus: usize,
    policy: SecurityPolicy,
    phase: Phase,
    tls: bool,
    banner: Option<Reply>,
    caps_before_tls: Option<Capabilities>,
    caps_after_tls: Option<Capabilities>,
    auth_pending: Option<String>,
    authenticated: Option<String>,
    awaiting: VecDeque<Awaiting>,
    accepted_recipients: usize,
    violations: usize,
}

/// True for a success or an intermediate reply that RFC 5321 §4.3.2 does not allow as the
/// answer to `awaiting`. Errors (4xx, 5xx) can answer anything.
fn cannot_answer(awaiting: Awaiting, reply: &Reply) -> bool {
    let Some(code) = reply.code() else {
        return false;
    };
    if code >= 400 {
        return false;
    }
    // Only where a surplus is unmistakable: a success where DATA waits for its 354, a
    // success other than 221 to QUIT, an intermediate 3xx to a command that never gets one.
    // STARTTLS and AUTH keep whatever they get as their answer: an odd reply there is a
    // refusal to report, never a reason to wait on.
    match awaiting {
        Awaiting::Command(Verb::Data) => code != 354,
        Awaiting::Command(Verb::Quit) => code != 221,
        Awaiting::Command(
            Verb::Ehlo
            | Verb::Helo
            | Verb::Lhlo
            | Verb::Mail
            | Verb::Rcpt
            | Verb::Rset
            | Verb::Noop,
        )
        | Awaiting::MessageEnd => code / 100 == 3,
        _ => false,
    }
}

impl Session {
    /// A session on a new connection. `tls` is true for implicit TLS (the handshake came
    /// before any SMTP).
    pub fn new(policy: SecurityPolicy, tls: bool) -> Self {
        Session {
            policy,
            phase: Phase::AwaitingBanner,
            tls,
            banner: None,
            caps_before_tls: None,
            caps_after_tls: None,
            auth_pending: None,
            authenticated: None,
            awaiting: VecDeque::from([Awaiting::Banner]),
            accepted_recipients: 0,
            violations: 0,
            surplus: 0,
        }
    }

    pub fn policy(&self) -> SecurityPolicy {
        self.policy
    }

    pub fn phase(&self) -> Phase {
        self.phase
    }

    pub fn tls_active(&self) -> bool {
        self.tls
    }

    pub fn banner(&self) -> Option<&Reply> {
        self.banner.as_ref()
    }

    /// The identity AUTH succeeded for, if any.
    pub fn authenticated(&self) -> Option<&str> {
        self.authenticated.as_deref()
    }

    pub fn accepted_recipients(&self) -> usize {
        self.accepted_recipients
    }

    /// How many replies so far broke the protocol.
    pub fn malformed_replies(&self) -> usize {
        self.violations
    }

    /// Capabilities from EHLO on the plaintext connection.
    pub fn capabilities_before_tls(&self) -> Option<&Capabilities> {
        self.caps_before_tls.as_ref()
    }

    /// Capabilities from EHLO inside TLS.
    pub fn capabilities_after_tls(&self) -> Option<&Capabilities> {
        self.caps_after_tls.as_ref()
    }

    /// The capabilities to act on. Inside TLS only the post-TLS EHLO counts: RFC 3207 §4.2
    /// says knowledge from before the handshake must be discarded, since an attacker could
    /// have forged it.
    pub fn capabilities(&self) -> Option<&Capabilities> {
        if self.tls {
            self.caps_after_tls.as_ref()
        } else {
            self.caps_before_tls.as_ref()
        }
    }

    /// What the next reply will answer.
    pub fn awaiting(&self) -> Option<Awaiting> {
        self.awaiting.front().copied()
    }

    /// The security gate: may this command go out now?
    pub fn check(&self, verb: Verb) -> Result<(), Refusal> {
        if self.phase == Phase::Closing && verb != Verb::Quit {
            return Err(Refusal::Closing);
        }
        match verb {
            Verb::StartTls if self.tls => Err(Refusal::TlsAlreadyActive),
            Verb::Auth if !self.tls && !self.policy.allow_cleartext_auth => {
                Err(Refusal::CleartextAuth)
            }
            Verb::Ehlo
            | Verb::Helo
            | Verb::Lhlo
            | Verb::StartTls
            | Verb::Quit
            | Verb::Rset
            | Verb::Noop => Ok(()),
            other if self.policy.require_tls && !self.tls => Err(Refusal::TlsRequired(other)),
            _ => Ok(()),
        }
    }

    /// Records that a command went out.
    pub fn sent(&mut self, verb: Verb) {
        self.awaiting.push_back(Awaiting::Command(verb));
    }

    /// Records that AUTH went out for `identity`.
    pub fn auth_sent(&mut self, identity: &str) {
        self.auth_pending = Some(identity.to_string());
        self.awaiting.push_back(Awaiting::Command(Verb::Auth));
    }

    /// Records that a SASL continuation line went out.
    pub fn auth_step_sent(&mut self) {
        self.awaiting.push_back(Awaiting::AuthStep);
    }

    /// Records that the message (after 354) or a BDAT chunk went out.
    pub fn message_sent(&mut self) {
        self.awaiting.push_back(Awaiting::MessageEnd);
    }

    /// Records a reply and returns what it answered (`None` for an unsolicited reply).
    pub fn received(&mut self, reply: &Reply) -> Option<Awaiting> {
        if reply.is_malformed() {
            self.violations += 1;
        }
        // A success that cannot answer what is awaited (a 250 where DATA waits for 354, or
        // QUIT for 221) is a surplus reply to something earlier: it answers nothing, and what
        // is awaited still waits for its own.
        if let Some(front) = self.awaiting.front()
            && cannot_answer(*front, reply)
        {
            self.surplus += 1;
            return None;
        }
        let answered = self.awaiting.pop_front();
        // RFC 5321 §3.8: 421 means the server is closing the channel, whatever was asked.
        if reply.code() == Some(421) {
            self.phase = Phase::Closing;
            return answered;
        }
        let ok = reply.is_positive();
        match answered {
            Some(Awaiting::Banner) => {
                self.banner = Some(reply.clone());
                if ok {
                    self.phase = Phase::Greeted;
                }
            }
            Some(Awaiting::Command(verb)) => self.after_command(verb, reply),
            Some(Awaiting::AuthStep) => self.after_auth(reply),
            Some(Awaiting::MessageEnd) => {
                // Success or not, the transaction is over (RFC 5321 §4.1.1.4).
                self.phase = Phase::Ready;
                self.accepted_recipients = 0;
            }
            None => {}
        }
        answered
    }

    /// Replies that answered nothing: more replies than commands (an LMTP server answering
    /// twice for one recipient, a server repeating itself).
    pub fn surplus(&self) -> usize {
        self.surplus
    }

    fn after_command(&mut self, verb: Verb, reply: &Reply) {
        let ok = reply.is_positive();
        match verb {
            Verb::Ehlo | Verb::Lhlo if ok => {
                let caps =
                    Capabilities::from_ehlo_lines(reply.lines.iter().map(|l| l.text_bytes()));
                if self.tls {
                    self.caps_after_tls = Some(caps);
                } else {
                    self.caps_before_tls = Some(caps);
                }
                self.reset_transaction();
            }
            Verb::Helo if ok => {
                let empty = Capabilities::default();
                if self.tls {
                    self.caps_after_tls = Some(empty);
                } else {
                    self.caps_before_tls = Some(empty);
                }
                self.reset_transaction();
            }
            Verb::StartTls if reply.code() == Some(220) => self.phase = Phase::TlsHandshake,
            Verb::Auth => self.after_auth(reply),
            Verb::Mail if ok => self.phase = Phase::Mail,
            Verb::Rcpt if ok => {
                self.accepted_recipients += 1;
                self.phase = Phase::Rcpt;
            }
            Verb::Data if reply.code() == Some(354) => self.phase = Phase::Data,
            Verb::Bdat if ok => {}
            Verb::Rset if ok => self.reset_transaction(),
            // XCLIENT accepted: the server greets again as if a new client connected, so EHLO
            // is due and nothing learnt or authenticated before it still holds.
            Verb::Xclient if reply.code() == Some(220) => {
                self.authenticated = None;
                self.auth_pending = None;
                if self.tls {
                    self.caps_after_tls = None;
                } else {
                    self.caps_before_tls = None;
                }
                self.phase = Phase::Greeted;
            }
            Verb::Quit => self.phase = Phase::Closing,
            _ => {}
        }
    }

    fn after_auth(&mut self, reply: &Reply) {
        match reply.code() {
            Some(235) => self.authenticated = self.auth_pending.take(),
            Some(334) => {}
            _ => self.auth_pending = None,
        }
    }

    fn reset_transaction(&mut self) {
        self.phase = Phase::Ready;
        self.accepted_recipients = 0;
    }

    /// TLS is up (after STARTTLS). Everything learnt before is forgotten (RFC 3207 §4.2),
    /// and EHLO must be sent again.
    pub fn tls_established(&mut self) {
        self.tls = true;
        self.caps_after_tls = None;
        self.authenticated = None;
        self.auth_pending = None;
        self.phase = Phase::Greeted;
    }

    /// The server closed the connection, or we did.
    pub fn closed(&mut self) {
        self.phase = Phase::Closing;
        self.awaiting.clear();
    }

    /// Commands that make sense now, already filtered through the security gate: a UI can
    /// offer exactly these.
    pub fn next_commands(&self) -> Vec<Verb> {
        let caps = self.capabilities();
        let has = |kw: &str| caps.is_some_and(|c| c.has(kw));
        let mut verbs = Vec::new();
        match self.phase {
            Phase::AwaitingBanner | Phase::TlsHandshake | Phase::Data => {}
            Phase::Closing => return vec![],
            Phase::Greeted => verbs.extend([Verb::Ehlo, Verb::Helo]),
            Phase::Ready => {
                if !self.tls && has("STARTTLS") {
                    verbs.push(Verb::StartTls);
                }
                if self.authenticated.is_none()
                    && caps.is_some_and(|c| !c.auth_mechanisms().is_empty())
                {
                    verbs.push(Verb::Auth);
                }
                verbs.extend([Verb::Mail, Verb::Vrfy, Verb::Expn, Verb::Help, Verb::Ehlo]);
            }
            Phase::Mail => verbs.push(Verb::Rcpt),
            Phase::Rcpt => {
                verbs.extend([Verb::Rcpt, Verb::Data]);
                if has("CHUNKING") {
                    verbs.push(Verb::Bdat);
                }
            }
        }
        if !matches!(
            self.phase,
            Phase::AwaitingBanner | Phase::TlsHandshake | Phase::Data
        ) {
            verbs.extend([Verb::Rset, Verb::Noop, Verb::Quit]);
        }
        verbs.retain(|v| self.check(*v).is_ok());
        verbs
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::reply::ReplyParser;

    fn reply(wire: &[u8]) -> Reply {
        let mut p = ReplyParser::default();
        let fed = p.feed(wire);
        assert_eq!(fed.consumed, wire.len(), "one whole reply expected");
        fed.reply.unwrap_or_else(|| panic!("no reply in {wire:?}"))
    }

    #[test]
    fn a_reply_that_cannot_answer_the_command_answers_nothing() {
        let mut s = greeted(SecurityPolicy::default());
        s.sent(Verb::Mail);
        s.sent(Verb::Rcpt);
        s.sent(Verb::Data);
        assert_eq!(
            s.received(&reply(b"250 2.1.0 Ok\r\n")),
            Some(Awaiting::Command(Verb::Mail))
        );
        assert_eq!(
            s.received(&reply(b"250 2.1.5 Ok\r\n")),
            Some(Awaiting::Command(Verb::Rcpt))
        );
        // The RCPT answered twice: a 250 cannot be DATA's answer.
        assert_eq!(s.received(&reply(b"250 2.1.5 Ok\r\n")), None);
        assert_eq!(s.surplus(), 1);
        assert_eq!(s.awaiting(), Some(Awaiting::Command(Verb::Data)));
        assert_eq!(
            s.received(&reply(b"354 go\r\n")),
            Some(Awaiting::Command(Verb::Data))
        );
        // An error can answer anything.
        s.sent(Verb::Quit);
        assert_eq!(s.received(&reply(b"250 ok\r\n")), None, "QUIT wants 221");
        assert_eq!(
            s.received(&reply(b"554 no\r\n")),
            Some(Awaiting::Command(Verb::Quit))
        );
        for (awaiting, code, cannot) in [
            (Awaiting::Command(Verb::StartTls), &b"250 x\r\n"[..], false),
            (Awaiting::Command(Verb::StartTls), b"220 go\r\n", false),
            (
                Awaiting::Command(Verb::Auth),
                b"334 VXNlcm5hbWU6\r\n",
                false,
            ),
            (Awaiting::Command(Verb::Auth), b"250 x\r\n", false),
            (Awaiting::Command(Verb::Ehlo), b"354 x\r\n", true),
            (Awaiting::Command(Verb::Raw), b"354 x\r\n", false),
            (Awaiting::MessageEnd, b"250 queued\r\n", false),
            (Awaiting::MessageEnd, b"354 x\r\n", true),
            (Awaiting::Banner, b"250 x\r\n", false),
        ] {
            assert_eq!(
                cannot_answer(awaiting, &reply(code)),
                cannot,
                "{awaiting} {code:?}"
            );
        }
    }

    fn greeted(policy: SecurityPolicy) -> Session {
        let mut s = Session::new(policy, false);
        s.received(&reply(b"220 mail.lab.example ESMTP\r\n"));
        s.sent(Verb::Ehlo);
        s.received(&reply(
            b"250-mail.lab.example\r\n250-STARTTLS\r\n250-AUTH PLAIN LOGIN\r\n250 CHUNKING\r\n",
        ));
        s
    }

    #[test]
    fn banner_then_ehlo_records_capabilities() {
        let s = greeted(SecurityPolicy::default());
        assert_eq!(s.phase(), Phase::Ready);
        assert!(s.capabilities().is_some_and(|c| c.starttls()));
        assert!(s.capabilities_after_tls().is_none());
    }

    #[test]
    fn auth_in_cleartext_is_refused_unless_allowed() {
        let s = greeted(SecurityPolicy::default());
        assert_eq!(s.check(Verb::Auth), Err(Refusal::CleartextAuth));
        assert!(!s.next_commands().contains(&Verb::Auth));
        let allowed = greeted(SecurityPolicy {
            allow_cleartext_auth: true,
            ..Default::default()
        });
        assert_eq!(allowed.check(Verb::Auth), Ok(()));
        assert!(allowed.next_commands().contains(&Verb::Auth));
    }

    #[test]
    fn required_tls_blocks_the_transaction_until_tls() {
        let mut s = greeted(SecurityPolicy {
            require_tls: true,
            allow_cleartext_auth: false,
        });
        assert_eq!(s.check(Verb::Mail), Err(Refusal::TlsRequired(Verb::Mail)));
        assert_eq!(s.check(Verb::Rcpt), Err(Refusal::TlsRequired(Verb::Rcpt)));
        assert_eq!(s.check(Verb::Raw), Err(Refusal::TlsRequired(Verb::Raw)));
        assert_eq!(s.check(Verb::StartTls), Ok(()));
        s.sent(Verb::StartTls);
        s.received(&reply(b"220 2.0.0 Ready to start TLS\r\n"));
        assert_eq!(s.phase(), Phase::TlsHandshake);
        s.tls_established();
        assert_eq!(s.check(Verb::Mail), Ok(()));
        assert_eq!(s.check(Verb::Auth), Ok(()));
        assert_eq!(s.check(Verb::StartTls), Err(Refusal::TlsAlreadyActive));
    }

    #[test]
    fn pre_tls_capabilities_are_not_trusted_after_tls() {
        let mut s = greeted(SecurityPolicy::default());
        s.sent(Verb::StartTls);
        s.received(&reply(b"220 go ahead\r\n"));
        s.tls_established();
        assert!(
            s.capabilities().is_none(),
            "nothing is known until EHLO inside TLS"
        );
        assert!(s.capabilities_before_tls().is_some_and(|c| c.has("AUTH")));
        assert_eq!(
            s.next_commands(),
            vec![Verb::Ehlo, Verb::Helo, Verb::Rset, Verb::Noop, Verb::Quit]
        );
        s.sent(Verb::Ehlo);
        s.received(&reply(b"250-mail\r\n250 AUTH CRAM-MD5\r\n"));
        let caps = s.capabilities().map(|c| c.auth_mechanisms());
        assert_eq!(caps, Some(vec!["CRAM-MD5".to_string()]));
    }

    #[test]
    fn transaction_phases_and_next_commands() {
        let mut s = greeted(SecurityPolicy::default());
        s.sent(Verb::Mail);
        s.received(&reply(b"250 2.1.0 Ok\r\n"));
        assert_eq!(s.phase(), Phase::Mail);
        assert!(s.next_commands().contains(&Verb::Rcpt));
        assert!(!s.next_commands().contains(&Verb::Data));
        s.sent(Verb::Rcpt);
        s.received(&reply(b"554 5.7.1 <x@y>: Relay access denied\r\n"));
        assert_eq!(s.accepted_recipients(), 0);
        s.sent(Verb::Rcpt);
        s.received(&reply(b"250 2.1.5 Ok\r\n"));
        assert_eq!(s.phase(), Phase::Rcpt);
        assert!(s.next_commands().contains(&Verb::Data));
        assert!(s.next_commands().contains(&Verb::Bdat));
        s.sent(Verb::Data);
        s.received(&reply(b"354 End data with <CR><LF>.<CR><LF>\r\n"));
        assert_eq!(s.phase(), Phase::Data);
        assert!(s.next_commands().is_empty());
        s.message_sent();
        s.received(&reply(b"250 2.0.0 Ok: queued\r\n"));
        assert_eq!(s.phase(), Phase::Ready);
    }

    #[test]
    fn auth_identity_is_set_only_on_235() {
        let mut s = greeted(SecurityPolicy::default());
        s.tls_established();
        s.sent(Verb::Ehlo);
        s.received(&reply(b"250 AUTH PLAIN\r\n"));
        s.auth_sent("alice");
        s.received(&reply(b"535 5.7.8 Error: authentication failed\r\n"));
        assert_eq!(s.authenticated(), None);
        s.auth_sent("alice");
        s.received(&reply(b"334 \r\n"));
        s.auth_step_sent();
        s.received(&reply(b"235 2.7.0 Authentication successful\r\n"));
        assert_eq!(s.authenticated(), Some("alice"));
        assert!(!s.next_commands().contains(&Verb::Auth));
    }

    #[test]
    fn a_421_closes_the_session() {
        let mut s = greeted(SecurityPolicy::default());
        s.sent(Verb::Mail);
        s.received(&reply(b"421 4.7.0 Error: too many errors\r\n"));
        assert_eq!(s.phase(), Phase::Closing);
        assert_eq!(s.check(Verb::Rcpt), Err(Refusal::Closing));
        assert_eq!(s.check(Verb::Quit), Ok(()));
    }

    #[test]
    fn malformed_replies_are_counted() {
        let mut s = Session::new(SecurityPolicy::default(), false);
        s.received(&reply(b"220 bare lf\n"));
        assert_eq!(s.malformed_replies(), 1);
        assert_eq!(s.phase(), Phase::Greeted);
    }
}
