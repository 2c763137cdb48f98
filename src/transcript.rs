//! The recorded session: every byte sent and received, in order, with a monotonic timestamp,
//! its direction and whether it travelled inside TLS, plus the events in between. Views,
//! verdicts and exports are all derived from it.
//!
//! Secrets are redacted when an entry is recorded, so no later output can leak them.

use std::time::{Duration, Instant};

use serde_json::{Value, json};
use zeroize::Zeroizing;

use crate::smtp::command::escape_bytes;
use crate::smtp::reply::Reply;
use crate::smtp::status;
use crate::tls_info::TlsInfo;

pub const REDACTED: &str = "<redacted>";

/// Something that happened between the bytes.
#[derive(Debug, Clone, PartialEq)]
pub enum Event {
    Connecting {
        target: String,
    },
    Connected {
        peer: String,
    },
    TlsEstablished(Box<TlsInfo>),
    /// Bytes received but deliberately not parsed (e.g. plaintext after STARTTLS's 220).
    Discarded {
        bytes: Vec<u8>,
        reason: String,
    },
    /// Bytes dropped because a parser limit was hit; counted, not kept.
    Dropped {
        count: u64,
        reason: String,
    },
    Timeout {
        waiting_for: String,
        after: Duration,
    },
    ClosedByPeer {
        waiting_for: String,
    },
    /// A command the session refused to send, and why.
    Refused(String),
    Error(String),
    Info(String),
    /// The reply just recorded answered no command: the server spoke out of turn.
    Unsolicited,
    /// The reply just recorded came on its own while the connection was idle (nothing sent,
    /// nothing awaited) for `after`: an idle timeout's 421, a shutdown notice.
    SpokeWhileIdle {
        after: Duration,
    },
    /// The server closed the connection after it had been idle for `after`.
    ClosedWhileIdle {
        after: Duration,
    },
    /// The reply just recorded cannot answer what is awaited (a 250 where DATA waits for 354):
    /// a surplus reply, more replies than commands. What is awaited still waits.
    Surplus {
        waiting_for: String,
    },
}

#[derive(Debug, Clone, PartialEq)]
pub enum EntryKind {
    /// Bytes sent; `redacted` when credentials were replaced before recording.
    Sent {
        bytes: Vec<u8>,
        redacted: bool,
    },
    /// A reply, with the time since the last bytes sent.
    Received {
        reply: Reply,
        latency: Option<Duration>,
    },
    Event(Event),
}

#[derive(Debug, Clone, PartialEq)]
pub struct Entry {
    /// Time since the transcript started (monotonic clock).
    pub at: Duration,
    /// Whether the bytes travelled inside TLS.
    pub tls: bool,
    pub kind: EntryKind,
}

type Observer = Box<dyn FnMut(&Entry) + Send>;

pub struct Transcript {
    started_at: jiff::Timestamp,
    start: Instant,
    entries: Vec<Entry>,
    secrets: Vec<Zeroizing<String>>,
    observer: Option<Observer>,
    last_sent: Option<Duration>,
    /// A SASL exchange is under way on lines the caller did not mark as secret (a raw line
    /// typed by hand): until a reply other than 334 ends it, every line sent is a credential.
    in_sasl: bool,
    /// Replies still due to the lines sent before that AUTH line (`NOOP\r\nAUTH …`): they
    /// neither continue nor end the exchange.
    sasl_skip: usize,
}

impl std::fmt::Debug for Transcript {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Transcript")
            .field("started_at", &self.started_at)
            .field("entries", &self.entries.len())
            .finish_non_exhaustive()
    }
}

impl Default for Transcript {
    fn default() -> Self {
        Self::new()
    }
}

impl Transcript {
    pub fn new() -> Self {
        Transcript {
            started_at: jiff::Timestamp::now(),
            start: Instant::now(),
            entries: Vec::new(),
            secrets: Vec::new(),
            observer: None,
            last_sent: None,
            in_sasl: false,
            sasl_skip: 0,
        }
    }

    /// Calls `observer` with every entry as it is recorded (live printing, the TUI).
    pub fn observe(&mut self, observer: impl FnMut(&Entry) + Send + 'static) {
        self.observer = Some(Box::new(observer));
    }

    /// Strings that must never appear in the record: a password and its encodings. Any entry
    /// containing one has it replaced before it is stored.
    pub fn add_secrets(&mut self, secrets: impl IntoIterator<Item = String>) {
        for s in secrets {
            if !s.is_empty() {
                self.secrets.push(Zeroizing::new(s));
            }
        }
        // Longest first, so an encoding that contains a shorter secret is replaced whole.
        self.secrets.sort_by_key(|s| std::cmp::Reverse(s.len()));
    }

    pub fn started_at(&self) -> jiff::Timestamp {
        self.started_at
    }

    pub fn entries(&self) -> &[Entry] {
        &self.entries
    }

    pub fn elapsed(&self) -> Duration {
        self.start.elapsed()
    }

    /// Records bytes sent. `display_if_secret` is given when the bytes carry credentials: it
    /// is stored instead of them.
    pub fn sent(&mut self, bytes: &[u8], tls: bool, display_if_secret: Option<&str>) {
        let at = self.elapsed();
        self.last_sent = Some(at);
        let (bytes, redacted) = match display_if_secret {
            Some(shown) => (format!("{shown}\r\n").into_bytes(), true),
            None => {
                let (by_exchange, sasl) = self.redact_sasl(bytes);
                let (scrubbed, by_secret) = self.scrub(&by_exchange);
                (scrubbed, sasl || by_secret)
            }
        };
        self.push(Entry {
            at,
            tls,
            kind: EntryKind::Sent { bytes, redacted },
        });
    }

    pub fn received(&mut self, mut reply: Reply, tls: bool) {
        // A 334 asks for the next credential line; anything else ends the exchange.
        if self.in_sasl {
            if self.sasl_skip > 0 {
                self.sasl_skip -= 1;
            } else {
                self.in_sasl = reply.code() == Some(334);
            }
        }
        let at = self.elapsed();
        let latency = self.last_sent.map(|s| at.saturating_sub(s));
        for line in &mut reply.lines {
            let (scrubbed, changed) = self.scrub(&line.raw);
            if changed {
                line.raw = scrubbed;
            }
        }
        self.push(Entry {
            at,
            tls,
            kind: EntryKind::Received { reply, latency },
        });
    }

    pub fn event(&mut self, event: Event, tls: bool) {
        let at = self.elapsed();
        let event = match event {
            Event::Discarded { bytes, reason } => Event::Discarded {
                bytes: self.scrub(&bytes).0,
                reason,
            },
            Event::Error(text) => Event::Error(self.scrub_text(&text)),
            Event::Info(text) => Event::Info(self.scrub_text(&text)),
            Event::Refused(text) => Event::Refused(self.scrub_text(&text)),
            other => other,
        };
        self.push(Entry {
            at,
            tls,
            kind: EntryKind::Event(event),
        });
    }

    fn push(&mut self, entry: Entry) {
        if let Some(observer) = self.observer.as_mut() {
            observer(&entry);
        }
        self.entries.push(entry);
    }

    /// Redacts by what is sent, not by who sent it: in bytes that may hold several command
    /// lines (a raw line typed by hand, `NOOP\r\nAUTH PLAIN …`), an AUTH line keeps its
    /// verb and mechanism and loses its initial response, and every line of a SASL exchange
    /// after it (in these bytes, or later while the server answers 334) is a credential.
    fn redact_sasl(&mut self, bytes: &[u8]) -> (Vec<u8>, bool) {
        let mut out = Vec::with_capacity(bytes.len());
        let mut changed = false;
        let mut before = 0;
        for line in bytes.split_inclusive(|&b| b == b'\n') {
            let end = line
                .iter()
                .rposition(|&b| b != b'\r' && b != b'\n')
                .map_or(0, |i| i + 1);
            let (body, ending) = line.split_at(end);
            if self.in_sasl && !body.is_empty() {
                out.extend_from_slice(REDACTED.as_bytes());
                out.extend_from_slice(ending);
                changed = true;
                continue;
            }
            let text = String::from_utf8_lossy(body);
            let mut words = text.split_ascii_whitespace();
            if words.next().is_some_and(|v| v.eq_ignore_ascii_case("AUTH")) {
                self.in_sasl = true;
                self.sasl_skip = before;
                let mechanism = words.next().unwrap_or("");
                if words.next().is_some() {
                    out.extend_from_slice(format!("AUTH {mechanism} {REDACTED}").as_bytes());
                    out.extend_from_slice(ending);
                    changed = true;
                    continue;
                }
            }
            if !body.is_empty() {
                before += 1;
            }
            out.extend_from_slice(line);
        }
        (out, changed)
    }

    fn scrub(&self, bytes: &[u8]) -> (Vec<u8>, bool) {
        let mut out = bytes.to_vec();
        let mut changed = false;
        for secret in &self.secrets {
            let needle = secret.as_bytes();
            let mut i = 0;
            while i + needle.len() <= out.len() {
                if &out[i..i + needle.len()] == needle {
                    out.splice(i..i + needle.len(), REDACTED.bytes());
                    i += REDACTED.len();
                    changed = true;
                } else {
                    i += 1;
                }
            }
        }
        (out, changed)
    }

    fn scrub_text(&self, text: &str) -> String {
        let mut out = text.to_string();
        for secret in &self.secrets {
            out = out.replace(secret.as_str(), REDACTED);
        }
        out
    }

    /// The whole transcript as text, one line per wire line.
    pub fn to_text(&self) -> String {
        let mut out = String::new();
        for e in &self.entries {
            for line in render_entry(e) {
                out.push_str(&line);
                out.push('\n');
            }
        }
        out
    }

    /// The transcript as JSON values, one per entry.
    pub fn to_json(&self) -> Value {
        json!({
            "started_at": self.started_at.to_string(),
            "entries": self.entries.iter().map(entry_json).collect::<Vec<_>>(),
        })
    }
}

fn prefix(e: &Entry) -> String {
    format!(
        "{:>7} ms {}",
        e.at.as_millis(),
        if e.tls { "tls" } else { "   " }
    )
}

/// Renders one entry as display lines: `  12 ms tls C: EHLO x`. Reply lines show their
/// text escaped where it is not printable, so what arrived is what is shown.
pub fn render_entry(e: &Entry) -> Vec<String> {
    let p = prefix(e);
    match &e.kind {
        // A binary PROXY v2 header would split into lines of garbage (one reads `QUIT`):
        // described on one line instead. The bytes themselves stay in the transcript.
        EntryKind::Sent { bytes, .. } if crate::smtp::proxy::describe_v2(bytes).is_some() => {
            crate::smtp::proxy::describe_v2(bytes)
                .map(|text| format!("{p} C: {text}"))
                .into_iter()
                .collect()
        }
        EntryKind::Sent { bytes, .. } => split_wire_lines(bytes)
            .into_iter()
            .map(|l| format!("{p} C: {}", escape_line(l)))
            .collect(),
        EntryKind::Received { reply, latency } => {
            let mut out: Vec<String> = reply
                .lines
                .iter()
                .map(|l| format!("{p} S: {}", escape_line(&l.raw)))
                .collect();
            if let (Some(last), Some(lat)) = (out.last_mut(), latency) {
                last.push_str(&format!("   [{} ms]", lat.as_millis()));
            }
            for v in &reply.violations {
                out.push(format!("{p} !! protocol violation: {v}"));
            }
            out
        }
        EntryKind::Event(
            ev @ (Event::Unsolicited | Event::Surplus { .. } | Event::SpokeWhileIdle { .. }),
        ) => {
            vec![format!("{p} !! {}", describe_event(ev))]
        }
        EntryKind::Event(ev) => vec![format!("{p} -- {}", describe_event(ev))],
    }
}

/// Splits bytes into lines after each LF, keeping the endings, for one display line each.
fn split_wire_lines(bytes: &[u8]) -> Vec<&[u8]> {
    let mut out: Vec<&[u8]> = bytes.split_inclusive(|&b| b == b'\n').collect();
    if out.is_empty() {
        out.push(bytes);
    }
    out
}

/// Escapes a line for display; a normal CRLF ending is dropped since every display line has
/// one, anything else (bare CR, bare LF, NUL, invalid UTF-8) stays visible.
fn escape_line(raw: &[u8]) -> String {
    let body = raw.strip_suffix(b"\r\n").unwrap_or(raw);
    match std::str::from_utf8(body) {
        // Bidi overrides and zero-width characters are not controls, but would make the line
        // read other than it is: escaped like them.
        Ok(s) if !s.chars().any(crate::terminal_text::needs_escape) => s.to_string(),
        _ => escape_bytes(body),
    }
}

pub fn describe_event(ev: &Event) -> String {
    match ev {
        Event::Connecting { target } => format!("connecting to {target}"),
        Event::Connected { peer } => format!("connected to {peer}"),
        Event::TlsEstablished(info) => format!("TLS established: {}", info.one_line()),
        Event::Discarded { bytes, reason } => format!(
            "{} bytes discarded ({reason}): {}",
            bytes.len(),
            escape_bytes(bytes)
        ),
        Event::Dropped { count, reason } => format!("{count} bytes dropped ({reason})"),
        Event::Timeout { waiting_for, after } => format!(
            "timeout: no complete reply within {:.1} s while waiting for {waiting_for}",
            after.as_secs_f64()
        ),
        Event::ClosedByPeer { waiting_for } => {
            format!("connection closed by the server while waiting for {waiting_for}")
        }
        Event::Refused(why) => format!("not sent: {why}"),
        Event::Error(e) => format!("error: {e}"),
        Event::Info(i) => i.clone(),
        Event::Unsolicited => {
            "unsolicited reply: no command was waiting for it (the server answered twice, early, or out of turn)"
                .into()
        }
        Event::SpokeWhileIdle { after } => format!(
            "the server spoke on its own after {} s idle: no command was waiting for this reply",
            after.as_secs_f64().round()
        ),
        Event::ClosedWhileIdle { after } => format!(
            "connection closed by the server after {} s idle",
            after.as_secs_f64().round()
        ),
        Event::Surplus { waiting_for } => format!(
            "surplus reply: it cannot be {waiting_for}, so it answers nothing (the server sent more replies than commands); still waiting"
        ),
    }
}

fn entry_json(e: &Entry) -> Value {
    let base = json!({ "ms": e.at.as_millis() as u64, "tls": e.tls });
    let mut obj = match base {
        Value::Object(m) => m,
        _ => serde_json::Map::new(),
    };
    match &e.kind {
        EntryKind::Sent { bytes, redacted } => {
            obj.insert("direction".into(), json!("sent"));
            obj.insert(
                "text".into(),
                json!(String::from_utf8_lossy(bytes).trim_end_matches("\r\n")),
            );
            obj.insert("raw".into(), json!(escape_bytes(bytes)));
            obj.insert("redacted".into(), json!(redacted));
        }
        EntryKind::Received { reply, latency } => {
            obj.insert("direction".into(), json!("received"));
            obj.insert("code".into(), json!(reply.code()));
            obj.insert(
                "enhanced".into(),
                json!(reply.enhanced().map(|c| c.to_string())),
            );
            obj.insert(
                "lines".into(),
                json!(
                    reply
                        .lines
                        .iter()
                        .map(|l| json!({ "text": l.text(), "raw": escape_bytes(&l.raw) }))
                        .collect::<Vec<_>>()
                ),
            );
            obj.insert(
                "latency_ms".into(),
                json!(latency.map(|l| l.as_millis() as u64)),
            );
            obj.insert(
                "violations".into(),
                json!(
                    reply
                        .violations
                        .iter()
                        .map(|v| v.to_string())
                        .collect::<Vec<_>>()
                ),
            );
            if let Some(code) = reply.code() {
                obj.insert(
                    "meaning".into(),
                    json!(status::explain(code, reply.enhanced()).one_line()),
                );
            }
        }
        EntryKind::Event(ev) => {
            obj.insert("direction".into(), json!("event"));
            obj.insert("text".into(), json!(describe_event(ev)));
            if let Event::Discarded { bytes, .. } = ev {
                obj.insert("raw".into(), json!(escape_bytes(bytes)));
            }
        }
    }
    Value::Object(obj)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn auth_inside_a_raw_line_is_redacted_by_what_is_sent() {
        let mut t = Transcript::new();
        // PLAIN after NOOP, in one raw line.
        t.sent(b"NOOP\r\nAUTH PLAIN AGJvYgBodW50ZXIy\r\n", true, None);
        t.received(reply(b"250 ok\r\n"), true);
        t.received(reply(b"235 2.7.0 ok\r\n"), true);
        // LOGIN with the user as initial response, then the password at the 334 prompt.
        t.sent(b"NOOP\nAUTH LOGIN Ym9i\n", true, None);
        t.received(reply(b"250 ok\r\n"), true);
        t.received(reply(b"334 UGFzc3dvcmQ6\r\n"), true);
        t.sent(b"aHVudGVyMg==\r\n", true, None);
        t.received(reply(b"235 ok\r\n"), true);
        // CRAM-MD5: the answer to the challenge.
        t.sent(b"AUTH CRAM-MD5\r\n", true, None);
        t.received(reply(b"334 PDQ0NTQ+\r\n"), true);
        t.sent(
            b"Ym9iIGQ0MWQ4Y2Q5OGYwMGIyMDRlOTgwMDk5OGVjZjg0Mjdl\r\n",
            true,
            None,
        );
        t.received(reply(b"535 no\r\n"), true);
        // After the exchange, lines are lines again.
        t.sent(b"NOOP hello\r\n", true, None);
        let text = t.to_text();
        for secret in ["AGJvYgBodW50ZXIy", "Ym9i", "aHVudGVyMg==", "Ym9iIGQ0MWQ4"] {
            assert!(!text.contains(secret), "{secret} recorded:\n{text}");
        }
        assert!(text.contains("C: AUTH PLAIN <redacted>"), "{text}");
        assert!(text.contains("C: AUTH LOGIN <redacted>"), "{text}");
        assert!(text.contains("C: AUTH CRAM-MD5\n"), "{text}");
        assert!(text.contains("C: NOOP hello"), "{text}");
        assert!(!t.to_json().to_string().contains("aHVudGVyMg"));
    }
    use crate::smtp::reply::ReplyParser;

    fn reply(wire: &[u8]) -> Reply {
        ReplyParser::default().feed(wire).reply.expect("a reply")
    }

    #[test]
    fn secrets_are_replaced_in_every_direction() {
        let mut t = Transcript::new();
        t.add_secrets(["hunter2".to_string(), "aHVudGVyMg==".to_string()]);
        t.sent(
            b"AUTH PLAIN AGFsaWNlAGh1bnRlcjI=\r\n",
            false,
            Some("AUTH PLAIN <redacted>"),
        );
        t.sent(b"NOOP hunter2\r\n", false, None);
        t.received(reply(b"535 bad password aHVudGVyMg==\r\n"), false);
        t.event(Event::Error("login hunter2 failed".into()), false);
        let text = t.to_text();
        let json = t.to_json().to_string();
        for out in [&text, &json] {
            assert!(!out.contains("hunter2"), "{out}");
            assert!(!out.contains("aHVudGVyMg=="), "{out}");
            assert!(!out.contains("AGFsaWNlAGh1bnRlcjI="), "{out}");
        }
        assert!(text.contains("C: AUTH PLAIN <redacted>"));
        assert!(text.contains("C: NOOP <redacted>"));
    }

    #[test]
    fn text_shows_direction_tls_latency_and_violations() {
        let mut t = Transcript::new();
        t.sent(b"EHLO x\r\n", true, None);
        t.received(reply(b"250-a\r\n250 b\n"), true);
        let text = t.to_text();
        let lines: Vec<&str> = text.lines().collect();
        assert!(lines[0].ends_with("tls C: EHLO x"), "{text}");
        assert!(lines[1].ends_with("tls S: 250-a"), "{text}");
        assert!(lines[2].contains("tls S: 250 b\\n   ["), "{text}");
        assert!(
            lines[3].contains("!! protocol violation: line 2: ends with a bare LF"),
            "{text}"
        );
    }

    #[test]
    fn observer_sees_entries_live() {
        use std::sync::{Arc, Mutex};
        let seen = Arc::new(Mutex::new(Vec::new()));
        let sink = Arc::clone(&seen);
        let mut t = Transcript::new();
        t.observe(move |e| sink.lock().expect("lock").extend(render_entry(e)));
        t.sent(b"QUIT\r\n", false, None);
        assert_eq!(seen.lock().expect("lock").len(), 1);
    }
}
