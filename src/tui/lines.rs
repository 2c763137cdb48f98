//! The transcript as the TUI holds it: every display line's text in one contiguous buffer,
//! plus a small fixed-size record per line. Drawing touches only the visible lines, a search
//! scans one buffer, and memory stays close to the transcript's own size.

use crate::smtp::command::escape_bytes;
use crate::smtp::reply::EnhancedCode;
use crate::transcript::{Entry, EntryKind, Event, describe_event};

/// What kind of line a transcript line is, for colour.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum LineKind {
    Sent,
    Received,
    Event,
    Violation,
    Error,
}

/// One display line: where its text is, and what it is.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct LineMeta {
    start: usize,
    len: u32,
    pub ms: u64,
    pub tls: bool,
    pub kind: LineKind,
    /// The text is the wire line itself (printable UTF-8), so the raw view can re-escape it.
    clean: bool,
    /// The wire line ended with CRLF (shown only in the raw view).
    crlf: bool,
    /// For a reply line: its code and enhanced code, for "what does this mean".
    pub code: Option<(u16, Option<EnhancedCode>)>,
    /// Time from the last command to this reply, on a reply's last line.
    pub latency_ms: Option<u32>,
}

#[derive(Debug, Default)]
pub struct Lines {
    text: String,
    meta: Vec<LineMeta>,
    /// The lines matching the search, kept up to date as lines arrive.
    matches: Option<Matches>,
}

/// Every line that contains the query (ASCII case ignored), in order: made by one scan when
/// the query is set, extended line by line as lines arrive, so "next match" and "3 of 41" are
/// a binary search, not a scan of the transcript.
#[derive(Debug)]
struct Matches {
    query: String,
    lines: Vec<usize>,
}

impl Lines {
    pub fn len(&self) -> usize {
        self.meta.len()
    }

    pub fn is_empty(&self) -> bool {
        self.meta.is_empty()
    }

    pub fn meta(&self, i: usize) -> Option<&LineMeta> {
        self.meta.get(i)
    }

    /// The line as shown normally: CRLF dropped, anything unprintable escaped.
    pub fn text(&self, i: usize) -> &str {
        self.meta
            .get(i)
            .and_then(|m| self.text.get(m.start..m.start + m.len as usize))
            .unwrap_or("")
    }

    /// The line with every byte escaped, CR and LF included.
    pub fn raw(&self, i: usize) -> String {
        let Some(m) = self.meta.get(i) else {
            return String::new();
        };
        let text = self.text(i);
        if !m.clean {
            return text.to_string();
        }
        let mut out = escape_bytes(text.as_bytes());
        if m.crlf {
            out.push_str("\\r\\n");
        }
        out
    }

    /// Bytes held, for memory accounting.
    pub fn heap_bytes(&self) -> usize {
        self.text.capacity() + self.meta.capacity() * std::mem::size_of::<LineMeta>()
    }

    fn push(&mut self, wire: &[u8], base: LineMeta) {
        let body = wire.strip_suffix(b"\r\n");
        let crlf = body.is_some();
        let body = body.unwrap_or(wire);
        let (shown, clean) = match std::str::from_utf8(body) {
            Ok(s) if !s.chars().any(crate::terminal_text::needs_escape) => {
                (std::borrow::Cow::Borrowed(s), true)
            }
            _ => (std::borrow::Cow::Owned(escape_bytes(body)), false),
        };
        self.push_text(
            &shown,
            LineMeta {
                clean,
                crlf,
                ..base
            },
        );
    }

    fn push_text(&mut self, text: &str, base: LineMeta) {
        // One line per record: a newline inside would break the offsets' meaning.
        let text = text.replace('\n', " ");
        let start = self.text.len();
        self.text.push_str(&text);
        self.text.push('\n');
        self.meta.push(LineMeta {
            start,
            len: u32::try_from(text.len()).unwrap_or(u32::MAX),
            ..base
        });
        if let Some(m) = &mut self.matches
            && !m.query.is_empty()
            && find_ci(text.as_bytes(), m.query.as_bytes()).is_some()
        {
            m.lines.push(self.meta.len() - 1);
        }
    }

    /// Adds a transcript entry as display lines.
    pub fn push_entry(&mut self, e: &Entry) {
        let base = LineMeta {
            start: 0,
            len: 0,
            ms: u64::try_from(e.at.as_millis()).unwrap_or(u64::MAX),
            tls: e.tls,
            kind: LineKind::Event,
            clean: false,
            crlf: false,
            code: None,
            latency_ms: None,
        };
        match &e.kind {
            // A binary PROXY v2 header: one line describing it, as in the text transcript.
            EntryKind::Sent { bytes, .. } if crate::smtp::proxy::describe_v2(bytes).is_some() => {
                let text = crate::smtp::proxy::describe_v2(bytes).unwrap_or_default();
                self.push(
                    text.as_bytes(),
                    LineMeta {
                        kind: LineKind::Sent,
                        ..base
                    },
                );
            }
            EntryKind::Sent { bytes, .. } => {
                for l in bytes.split_inclusive(|&b| b == b'\n') {
                    self.push(
                        l,
                        LineMeta {
                            kind: LineKind::Sent,
                            ..base
                        },
                    );
                }
            }
            EntryKind::Received { reply, latency } => {
                let n = reply.lines.len();
                for (i, l) in reply.lines.iter().enumerate() {
                    let latency_ms = if i + 1 == n {
                        latency.map(|d| u32::try_from(d.as_millis()).unwrap_or(u32::MAX))
                    } else {
                        None
                    };
                    self.push(
                        &l.raw,
                        LineMeta {
                            kind: LineKind::Received,
                            code: l.code.map(|c| (c, l.enhanced)),
                            latency_ms,
                            ..base
                        },
                    );
                }
                for v in &reply.violations {
                    self.push_text(
                        &format!("protocol violation: {v}"),
                        LineMeta {
                            kind: LineKind::Violation,
                            ..base
                        },
                    );
                }
            }
            EntryKind::Event(ev) => {
                let kind = match ev {
                    Event::Error(_)
                    | Event::Refused(_)
                    | Event::Timeout { .. }
                    | Event::ClosedByPeer { .. }
                    | Event::ClosedWhileIdle { .. } => LineKind::Error,
                    Event::Discarded { .. }
                    | Event::Dropped { .. }
                    | Event::Unsolicited
                    | Event::SpokeWhileIdle { .. }
                    | Event::Surplus { .. } => LineKind::Violation,
                    _ => LineKind::Event,
                };
                self.push_text(&describe_event(ev), LineMeta { kind, ..base });
            }
        }
    }

    /// The first line at or after `from` (wrapping around) whose text contains `query`,
    /// ignoring ASCII case. One pass over one buffer: fast even at a million lines.
    pub fn find(&self, query: &str, from: usize) -> Option<usize> {
        let q = query.as_bytes();
        if q.is_empty() || self.meta.is_empty() {
            return None;
        }
        let from = from.min(self.meta.len() - 1);
        let start_byte = self.meta[from].start;
        let hay = self.text.as_bytes();
        find_ci(&hay[start_byte..], q)
            .map(|p| p + start_byte)
            .or_else(|| find_ci(&hay[..start_byte], q))
            .map(|pos| self.line_at(pos))
    }

    /// Makes `query` the search: every matching line is found once, here (one pass over one
    /// buffer), and lines added later are checked as they arrive. Nothing is done when it
    /// already is the search.
    pub fn set_search(&mut self, query: &str) {
        if self.matches.as_ref().is_some_and(|m| m.query == query) {
            return;
        }
        let q = query.as_bytes();
        let mut lines = Vec::new();
        if !q.is_empty() {
            let hay = self.text.as_bytes();
            let mut at = 0;
            while let Some(p) = find_ci(&hay[at..], q) {
                let line = self.line_at(at + p);
                lines.push(line);
                // On to the next line: one entry per line, however many hits it holds.
                match self.meta.get(line + 1) {
                    Some(next) => at = next.start,
                    None => break,
                }
            }
        }
        self.matches = Some(Matches {
            query: query.to_string(),
            lines,
        });
    }

    /// The lines matching `query`, if it is the search set by [`Self::set_search`].
    pub fn matches(&self, query: &str) -> Option<&[usize]> {
        self.matches
            .as_ref()
            .filter(|m| m.query == query)
            .map(|m| m.lines.as_slice())
    }

    /// The first line at or after `from` (wrapping around) that matches `query`; a binary
    /// search once the query is the search (see [`Self::set_search`]), a scan otherwise.
    pub fn next_match(&self, query: &str, from: usize) -> Option<usize> {
        let Some(lines) = self.matches(query) else {
            return self.find(query, from);
        };
        let i = lines.partition_point(|&l| l < from);
        lines.get(i).or_else(|| lines.first()).copied()
    }

    /// Where `line` is among the matches of `query` (1-based) and how many there are, as in
    /// "3 of 41"; `None` for a line that does not match, or a query that is not the search.
    pub fn match_position(&self, query: &str, line: usize) -> Option<(usize, usize)> {
        let lines = self.matches(query)?;
        let i = lines.binary_search(&line).ok()?;
        Some((i + 1, lines.len()))
    }

    fn line_at(&self, byte: usize) -> usize {
        match self.meta.binary_search_by(|m| m.start.cmp(&byte)) {
            Ok(i) => i,
            Err(i) => i.saturating_sub(1),
        }
    }

    /// Every line as plain text with its time, direction and TLS marker (text export).
    pub fn export_text(&self) -> String {
        let mut out = String::with_capacity(self.text.len() + self.meta.len() * 16);
        for (i, m) in self.meta.iter().enumerate() {
            out.push_str(&format!(
                "{:>7} ms {} {} {}\n",
                m.ms,
                if m.tls { "tls" } else { "   " },
                direction(m.kind),
                self.text(i)
            ));
        }
        out
    }

    /// Every line as JSON (JSON export).
    pub fn export_json(&self) -> serde_json::Value {
        let lines: Vec<serde_json::Value> = self
            .meta
            .iter()
            .enumerate()
            .map(|(i, m)| {
                serde_json::json!({
                    "ms": m.ms,
                    "tls": m.tls,
                    "direction": match m.kind {
                        LineKind::Sent => "sent",
                        LineKind::Received => "received",
                        LineKind::Violation => "violation",
                        LineKind::Error => "error",
                        LineKind::Event => "event",
                    },
                    "text": self.text(i),
                    "raw": self.raw(i),
                    "code": m.code.map(|(c, _)| c),
                    "enhanced": m.code.and_then(|(_, e)| e).map(|e| e.to_string()),
                    "latency_ms": m.latency_ms,
                })
            })
            .collect();
        serde_json::json!({ "lines": lines })
    }
}

pub fn direction(kind: LineKind) -> &'static str {
    match kind {
        LineKind::Sent => "C:",
        LineKind::Received => "S:",
        LineKind::Violation => "!!",
        LineKind::Event | LineKind::Error => "--",
    }
}

/// Byte ranges of every occurrence of `needle` in `hay`, ASCII case ignored, not overlapping:
/// what the transcript pane highlights.
pub fn match_ranges(hay: &str, needle: &str) -> Vec<(usize, usize)> {
    let (h, n) = (hay.as_bytes(), needle.as_bytes());
    let mut out = Vec::new();
    if n.is_empty() {
        return out;
    }
    let mut at = 0;
    while let Some(p) = find_ci(&h[at..], n) {
        let start = at + p;
        let end = start + n.len();
        // A match of UTF-8 in UTF-8 starts and ends on character boundaries; checked anyway.
        if hay.is_char_boundary(start) && hay.is_char_boundary(end) {
            out.push((start, end));
        }
        at = end;
    }
    out
}

/// ASCII-case-insensitive substring search: SIMD scan for the first byte in either case, then a
/// comparison at each candidate.
fn find_ci(hay: &[u8], needle: &[u8]) -> Option<usize> {
    let first = needle[0];
    let (lo, up) = (first.to_ascii_lowercase(), first.to_ascii_uppercase());
    memchr::memchr2_iter(lo, up, hay).find(|&i| {
        hay.len() - i >= needle.len() && hay[i..i + needle.len()].eq_ignore_ascii_case(needle)
    })
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::smtp::reply::ReplyParser;
    use std::time::Duration;

    fn entry(kind: EntryKind) -> Entry {
        Entry {
            at: Duration::from_millis(5),
            tls: false,
            kind,
        }
    }

    #[test]
    fn text_raw_and_search() {
        let mut l = Lines::default();
        l.push_entry(&entry(EntryKind::Sent {
            bytes: b"EHLO x\r\n".to_vec(),
            redacted: false,
        }));
        let reply = ReplyParser::default()
            .feed(b"250-a\r\n250 Bare\n")
            .reply
            .expect("reply");
        l.push_entry(&entry(EntryKind::Received {
            reply,
            latency: Some(Duration::from_millis(3)),
        }));
        assert_eq!(l.len(), 4);
        assert_eq!(l.text(0), "EHLO x");
        assert_eq!(l.raw(0), "EHLO x\\r\\n");
        assert_eq!(l.text(2), "250 Bare\\n");
        assert_eq!(l.raw(2), "250 Bare\\n");
        assert_eq!(l.meta(2).and_then(|m| m.latency_ms), Some(3));
        assert!(l.text(3).starts_with("protocol violation"));
        assert_eq!(l.find("bare", 0), Some(2));
        assert_eq!(l.find("EHLO", 1), Some(0), "wraps around");
        assert_eq!(l.find("nothing", 0), None);
        assert!(l.export_text().contains("C: EHLO x"));
        assert_eq!(l.export_json()["lines"][1]["code"], 250);
    }

    fn sent(l: &mut Lines, text: &str) {
        l.push_entry(&entry(EntryKind::Sent {
            bytes: format!("{text}\r\n").into_bytes(),
            redacted: false,
        }));
    }

    #[test]
    fn the_search_index_counts_wraps_and_follows_new_lines() {
        let mut l = Lines::default();
        for i in 0..10 {
            sent(&mut l, &format!("RCPT TO:<user{i}@example.org> rcpt again"));
            sent(&mut l, &format!("NOOP {i}"));
        }
        l.set_search("rcpt");
        // One entry per line, however many hits the line holds; ASCII case ignored.
        assert_eq!(
            l.matches("rcpt"),
            Some(&[0, 2, 4, 6, 8, 10, 12, 14, 16, 18][..])
        );
        assert_eq!(l.matches("RCPT"), None, "only the query set is indexed");
        assert_eq!(l.next_match("rcpt", 0), Some(0));
        assert_eq!(l.next_match("rcpt", 1), Some(2));
        assert_eq!(l.next_match("rcpt", 19), Some(0), "wraps around to the top");
        assert_eq!(l.match_position("rcpt", 4), Some((3, 10)));
        assert_eq!(l.match_position("rcpt", 5), None, "not a match");
        // Lines that arrive later are indexed as they come.
        sent(&mut l, "NOOP late");
        sent(&mut l, "rcpt late");
        assert_eq!(l.match_position("rcpt", 21), Some((11, 11)));
        assert_eq!(l.next_match("rcpt", 19), Some(21));
        // The same answers as the scan, from every line.
        for from in 0..l.len() {
            assert_eq!(l.next_match("rcpt", from), l.find("rcpt", from), "{from}");
        }
        // A new query is indexed afresh; one with no match has none.
        l.set_search("noop 1");
        assert_eq!(l.matches("noop 1"), Some(&[3][..]));
        l.set_search("nowhere");
        assert_eq!(l.matches("nowhere"), Some(&[][..]));
        assert_eq!(l.next_match("nowhere", 0), None);
    }

    #[test]
    fn match_ranges_mark_every_occurrence_in_a_line() {
        assert_eq!(
            match_ranges("RCPT to rcpt, Rcpt", "rcpt"),
            vec![(0, 4), (8, 12), (14, 18)]
        );
        assert_eq!(
            match_ranges("aaaa", "aa"),
            vec![(0, 2), (2, 4)],
            "no overlaps"
        );
        assert_eq!(match_ranges("abc", ""), Vec::<(usize, usize)>::new());
        // Non-ASCII text: ranges stay on character boundaries.
        assert_eq!(match_ranges("é250 é250", "é25"), vec![(0, 4), (6, 10)]);
    }

    #[test]
    fn a_proxy_v2_header_is_one_line() {
        let source = "192.0.2.7:4000".parse().expect("addr");
        let dest = "127.0.0.1:25".parse().expect("addr");
        let header = crate::smtp::proxy::header(crate::smtp::proxy::ProxyVersion::V2, source, dest)
            .expect("header");
        let mut l = Lines::default();
        l.push_entry(&entry(EntryKind::Sent {
            bytes: header,
            redacted: false,
        }));
        assert_eq!(l.len(), 1);
        assert_eq!(
            l.text(0),
            "[PROXY v2 header, 28 bytes: PROXY TCP4 192.0.2.7:4000 → 127.0.0.1:25]"
        );
    }

    #[test]
    fn unprintable_bytes_are_escaped_for_display() {
        let mut l = Lines::default();
        let reply = ReplyParser::default()
            .feed(b"250 a\x1b[2Jb\xff\r\n")
            .reply
            .expect("reply");
        l.push_entry(&entry(EntryKind::Received {
            reply,
            latency: None,
        }));
        assert!(
            !l.text(0).contains('\x1b'),
            "no terminal control sequences reach the screen"
        );
        assert!(l.text(0).contains("\\x1b"));
    }
}
