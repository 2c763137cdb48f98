//! What a mail server's log line says happened, for the four things `watch` counts: a relay
//! denied, an AUTH failure, a client that pipelined where it may not, and a client that hung up
//! right after AUTH (password guessers do). Postfix, Exim and OpenSMTPD each say these in
//! their own words; the client address, sender and recipient are taken from them.
//!
//! The text is the peer's (the client chose the HELO name, the addresses, even parts of the
//! line), so nothing here is trusted: fields are borrowed slices printed only through the
//! terminal-safe functions, and an address that does not parse as one is kept as text.

use super::syslog::LogLine;

/// The kinds counted.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub enum Kind {
    RelayDenied,
    AuthFailed,
    Pipelining,
    LostAfterAuth,
}

impl Kind {
    pub const ALL: [Kind; 4] = [
        Kind::RelayDenied,
        Kind::AuthFailed,
        Kind::Pipelining,
        Kind::LostAfterAuth,
    ];

    /// The name used in thresholds, JSON and alerts.
    pub fn key(self) -> &'static str {
        match self {
            Kind::RelayDenied => "relay_denied",
            Kind::AuthFailed => "auth_failed",
            Kind::Pipelining => "pipelining",
            Kind::LostAfterAuth => "lost_after_auth",
        }
    }

    /// Said to a person.
    pub fn words(self) -> &'static str {
        match self {
            Kind::RelayDenied => "relay denied",
            Kind::AuthFailed => "AUTH failed",
            Kind::Pipelining => "improper pipelining",
            Kind::LostAfterAuth => "lost connection after AUTH",
        }
    }

    pub fn index(self) -> usize {
        self as usize
    }

    pub fn from_key(text: &str) -> Option<Kind> {
        match text {
            "relay" | "relay_denied" | "relay-denied" => Some(Kind::RelayDenied),
            "auth" | "auth_failed" | "auth-failed" => Some(Kind::AuthFailed),
            "pipelining" => Some(Kind::Pipelining),
            "lost" | "lost_after_auth" | "lost-after-auth" => Some(Kind::LostAfterAuth),
            _ => None,
        }
    }
}

/// One counted event.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Event<'a> {
    pub kind: Kind,
    pub time: i64,
    /// The client's IP address as logged ("unknown" when the line names none).
    pub client: &'a str,
    pub sender: Option<&'a str>,
    pub recipient: Option<&'a str>,
}

impl Event<'_> {
    /// The recipient's domain, lower-cased by the caller if wanted.
    pub fn recipient_domain(&self) -> Option<&str> {
        self.recipient
            .and_then(|r| r.rsplit_once('@'))
            .map(|(_, d)| d)
    }
}

/// OpenSMTPD names the client on a session's "connected" line only; later lines carry the
/// session id. This remembers the last sessions' clients, within a bound.
#[derive(Debug, Default)]
pub struct Sessions {
    clients: std::collections::HashMap<String, String>,
}

/// Sessions remembered at most; past it the oldest half is forgotten (their later lines then
/// count with an unknown client).
const SESSIONS_KEPT: usize = 65_536;

impl Sessions {
    fn remember(&mut self, id: &str, client: &str) {
        if self.clients.len() >= SESSIONS_KEPT {
            // No order is kept, so "half" is any half: bounded memory matters more here.
            let drop: Vec<String> = self
                .clients
                .keys()
                .take(SESSIONS_KEPT / 2)
                .cloned()
                .collect();
            for k in drop {
                self.clients.remove(&k);
            }
        }
        self.clients.insert(id.to_string(), client.to_string());
    }

    fn forget(&mut self, id: &str) {
        self.clients.remove(id);
    }

    fn client(&self, id: &str) -> Option<&str> {
        self.clients.get(id).map(String::as_str)
    }
}

/// The event a line records, if it is one of the four.
pub fn classify<'a>(line: &LogLine<'a>, sessions: &'a mut Sessions) -> Option<Event<'a>> {
    let program = line.program;
    let msg = line.message;
    if program.starts_with("postfix") {
        return postfix(line.time, msg);
    }
    if program.starts_with("exim") || program.is_empty() {
        return exim(line.time, msg);
    }
    if program == "smtpd" {
        return opensmtpd(line.time, msg, sessions);
    }
    None
}

/// "HOST[IP]" → IP.
fn bracketed_ip(text: &str) -> Option<&str> {
    let open = text.find('[')?;
    let close = text[open..].find(']')? + open;
    Some(&text[open + 1..close])
}

/// The text between `key` and the next `end` (e.g. `from=<` … `>`).
fn between<'a>(text: &'a str, key: &str, end: char) -> Option<&'a str> {
    let start = text.find(key)? + key.len();
    let len = text[start..].find(end)?;
    Some(&text[start..start + len])
}

fn postfix(time: i64, msg: &str) -> Option<Event<'_>> {
    // "NOQUEUE: reject: RCPT from HOST[IP]: 554 5.7.1 <rcpt>: Relay access denied; from=<s>
    // to=<r> proto=ESMTP helo=<h>"; a queue id may stand for NOQUEUE.
    if let Some(at) = msg.find("reject: RCPT from ") {
        let rest = &msg[at + "reject: RCPT from ".len()..];
        if !rest.contains("Relay access denied") {
            return None;
        }
        let client_end = rest.find("]: ").map_or(rest.len(), |i| i + 1);
        return Some(Event {
            kind: Kind::RelayDenied,
            time,
            client: bracketed_ip(&rest[..client_end]).unwrap_or("unknown"),
            sender: between(rest, "; from=<", '>'),
            recipient: between(rest, " to=<", '>'),
        });
    }
    // "warning: HOST[IP]: SASL PLAIN authentication failed: …"
    if let Some(at) = msg.find(": SASL ")
        && msg[at..].contains(" authentication failed")
    {
        return Some(Event {
            kind: Kind::AuthFailed,
            time,
            client: bracketed_ip(&msg[..at]).unwrap_or("unknown"),
            sender: None,
            recipient: None,
        });
    }
    // "improper command pipelining after EHLO from HOST[IP]: …"
    if let Some(rest) = msg.strip_prefix("improper command pipelining after ") {
        let from = rest.find(" from ").map_or(rest, |i| &rest[i..]);
        return Some(Event {
            kind: Kind::Pipelining,
            time,
            client: bracketed_ip(from).unwrap_or("unknown"),
            sender: None,
            recipient: None,
        });
    }
    // "lost connection after AUTH from HOST[IP]"
    if let Some(rest) = msg.strip_prefix("lost connection after AUTH from ") {
        return Some(Event {
            kind: Kind::LostAfterAuth,
            time,
            client: bracketed_ip(rest).unwrap_or("unknown"),
            sender: None,
            recipient: None,
        });
    }
    None
}

/// Exim's client part: "H=name (helo) [IP]:port" or "H=(helo) [IP]"; the address is the
/// first bracketed part after "H=" (a HELO name cannot hold '[' unchecked, but the last
/// "[...]" before the colon would be the client's even then: Exim writes it after the HELO).
fn exim_client(msg: &str) -> &str {
    let Some(h) = msg.find("H=") else {
        return "unknown";
    };
    let part = &msg[h..];
    let end = part
        .find(" F=")
        .or_else(|| part.find(": "))
        .unwrap_or(part.len());
    let part = &part[..end];
    match (part.rfind('['), part.rfind(']')) {
        (Some(o), Some(c)) if o < c => &part[o + 1..c],
        _ => "unknown",
    }
}

fn exim(time: i64, msg: &str) -> Option<Event<'_>> {
    // Through syslog the mainlog's own date may follow the tag: skip it.
    let msg = match msg.as_bytes().get(..20) {
        Some(b) if b[4] == b'-' && b[10] == b' ' && b[19] == b' ' => &msg[20..],
        _ => msg,
    };
    // "H=(helo) [IP] F=<s> rejected RCPT <r>: relay not permitted"
    if let Some(at) = msg.find(" rejected RCPT <") {
        if !msg[at..].contains("relay not permitted") {
            return None;
        }
        return Some(Event {
            kind: Kind::RelayDenied,
            time,
            client: exim_client(msg),
            sender: between(msg, " F=<", '>'),
            recipient: between(&msg[at..], " rejected RCPT <", '>'),
        });
    }
    // "plain authenticator failed for (helo) [IP]:port I=[..]:587: 535 Incorrect
    // authentication data (set_id=bob)"
    if let Some(at) = msg.find("authenticator failed for ") {
        let rest = &msg[at..];
        let upto = rest
            .find(" I=")
            .or_else(|| rest.find(": "))
            .unwrap_or(rest.len());
        let part = &rest[..upto];
        let client = match (part.rfind('['), part.rfind(']')) {
            (Some(o), Some(c)) if o < c => &part[o + 1..c],
            _ => "unknown",
        };
        return Some(Event {
            kind: Kind::AuthFailed,
            time,
            client,
            sender: None,
            recipient: None,
        });
    }
    // "SMTP protocol synchronization error (input sent without waiting for greeting):
    // rejected connection from H=[IP]"
    if msg.starts_with("SMTP protocol synchronization error") {
        return Some(Event {
            kind: Kind::Pipelining,
            time,
            client: exim_client(msg),
            sender: None,
            recipient: None,
        });
    }
    None
}

fn opensmtpd<'a>(time: i64, msg: &'a str, sessions: &'a mut Sessions) -> Option<Event<'a>> {
    // "1a2b3c4d5e6f7a8b smtp connected address=IP host=name"
    let (id, rest) = msg.split_once(' ')?;
    if let Some(what) = rest.strip_prefix("smtp connected ") {
        if let Some(start) = what.find("address=") {
            let addr = &what[start + "address=".len()..];
            let addr = addr.split(' ').next().unwrap_or(addr);
            sessions.remember(id, addr);
        }
        return None;
    }
    if rest.starts_with("smtp disconnected") {
        sessions.forget(id);
        return None;
    }
    let client = sessions.client(id).unwrap_or("unknown");
    // "smtp failed-command command=\"RCPT TO:<r>\" result=\"550 Invalid recipient: <r>\""
    if let Some(what) = rest.strip_prefix("smtp failed-command ") {
        if !what.contains("result=\"550 Invalid recipient") {
            return None;
        }
        return Some(Event {
            kind: Kind::RelayDenied,
            time,
            client,
            sender: None,
            recipient: between(what, "command=\"RCPT TO:<", '>'),
        });
    }
    // "smtp authentication user=bob result=permfail"
    if let Some(what) = rest.strip_prefix("smtp authentication ")
        && (what.contains("result=permfail") || what.contains("result=tempfail"))
    {
        return Some(Event {
            kind: Kind::AuthFailed,
            time,
            client,
            sender: None,
            recipient: None,
        });
    }
    None
}

#[cfg(test)]
#[allow(clippy::unwrap_used)] // test code
mod tests {
    use super::*;

    fn event(
        program: &str,
        message: &str,
    ) -> Option<(Kind, String, Option<String>, Option<String>)> {
        let mut sessions = Sessions::default();
        let line = LogLine {
            time: 0,
            program,
            message,
        };
        classify(&line, &mut sessions).map(|e| {
            (
                e.kind,
                e.client.to_string(),
                e.sender.map(str::to_string),
                e.recipient.map(str::to_string),
            )
        })
    }

    #[test]
    fn postfix_relay_denied_with_queue_id_or_noqueue() {
        let m = "NOQUEUE: reject: RCPT from unknown[203.0.113.9]: 554 5.7.1 <x@evil.example>: Relay access denied; from=<a@b.example> to=<x@evil.example> proto=ESMTP helo=<probe.test>";
        assert_eq!(
            event("postfix/smtpd", m),
            Some((
                Kind::RelayDenied,
                "203.0.113.9".into(),
                Some("a@b.example".into()),
                Some("x@evil.example".into())
            ))
        );
        let m = "4XyZ12abc: reject: RCPT from mx.example[2001:db8::1]: 554 5.7.1 <x@e>: Relay access denied; from=<> to=<x@e> proto=ESMTP helo=<h>";
        let e = event("postfix/submission/smtpd", m).unwrap();
        assert_eq!(e.1, "2001:db8::1");
        assert_eq!(e.2.as_deref(), Some(""));
        // Other rejections are not relay denials.
        let m = "NOQUEUE: reject: RCPT from unknown[203.0.113.9]: 550 5.1.1 <x@lab.example>: Recipient address rejected: User unknown";
        assert_eq!(event("postfix/smtpd", m), None);
    }

    #[test]
    fn postfix_sasl_pipelining_and_lost_after_auth() {
        let e = event(
            "postfix/smtpd",
            "warning: unknown[203.0.113.9]: SASL LOGIN authentication failed: UGFzc3dvcmQ6",
        )
        .unwrap();
        assert_eq!((e.0, e.1.as_str()), (Kind::AuthFailed, "203.0.113.9"));
        let e = event(
            "postfix/smtpd",
            "improper command pipelining after EHLO from unknown[198.51.100.7]: MAIL FROM:<a@b>\\r\\n",
        )
        .unwrap();
        assert_eq!((e.0, e.1.as_str()), (Kind::Pipelining, "198.51.100.7"));
        let e = event(
            "postfix/smtpd",
            "lost connection after AUTH from unknown[198.51.100.7]",
        )
        .unwrap();
        assert_eq!((e.0, e.1.as_str()), (Kind::LostAfterAuth, "198.51.100.7"));
        assert_eq!(
            event("postfix/smtpd", "connect from unknown[198.51.100.7]"),
            None
        );
    }

    #[test]
    fn exim_relay_and_authenticator_failures() {
        let e = event(
            "",
            "H=(probe.test) [203.0.113.9] F=<a@b.example> rejected RCPT <x@evil.example>: relay not permitted",
        )
        .unwrap();
        assert_eq!(
            e,
            (
                Kind::RelayDenied,
                "203.0.113.9".into(),
                Some("a@b.example".into()),
                Some("x@evil.example".into())
            )
        );
        let e = event(
            "exim",
            "2026-12-07 05:06:50 plain authenticator failed for (probe.test) [203.0.113.9]:40000 I=[127.0.0.1]:587: 535 Incorrect authentication data (set_id=bob)",
        )
        .unwrap();
        assert_eq!((e.0, e.1.as_str()), (Kind::AuthFailed, "203.0.113.9"));
    }

    #[test]
    fn opensmtpd_ties_lines_to_the_session_client() {
        let mut sessions = Sessions::default();
        let mut kinds = Vec::new();
        for message in [
            "1a2b3c4d5e6f7a8b smtp connected address=203.0.113.9 host=probe.test",
            "1a2b3c4d5e6f7a8b smtp failed-command command=\"RCPT TO:<x@evil.example>\" result=\"550 Invalid recipient: <x@evil.example>\"",
            "1a2b3c4d5e6f7a8b smtp authentication user=bob result=permfail",
            "1a2b3c4d5e6f7a8b smtp disconnected reason=quit",
            "1a2b3c4d5e6f7a8b smtp authentication user=bob result=permfail",
        ] {
            let line = LogLine {
                time: 0,
                program: "smtpd",
                message,
            };
            if let Some(e) = classify(&line, &mut sessions) {
                kinds.push((
                    e.kind,
                    e.client.to_string(),
                    e.recipient.map(str::to_string),
                ));
            }
        }
        assert_eq!(
            kinds,
            [
                (
                    Kind::RelayDenied,
                    "203.0.113.9".to_string(),
                    Some("x@evil.example".to_string())
                ),
                (Kind::AuthFailed, "203.0.113.9".to_string(), None),
                (Kind::AuthFailed, "unknown".to_string(), None),
            ]
        );
    }

    #[test]
    fn hostile_text_never_panics() {
        for m in [
            "reject: RCPT from [",
            "reject: RCPT from ]: Relay access denied; from=<",
            ": SASL  authentication failed",
            "improper command pipelining after ",
            "H=[ rejected RCPT <: relay not permitted",
            "authenticator failed for [:]",
            "\u{1b}[2J reject: RCPT from x[\u{1b}]52;c;AAAA\u{7}]: Relay access denied",
        ] {
            for program in ["postfix/smtpd", "exim", "smtpd", ""] {
                let _ = event(program, m);
            }
        }
    }
}
