//! The content of the DATA command: line-ending normalisation, dot-stuffing
//! and the end-of-data marker (RFC 5321 §4.1.1.4 and §4.5.2), plus the
//! deliberately non-standard terminators used to probe for SMTP smuggling.
//!
//! Everything here is a pure function of bytes, so the client, the practice
//! lab server and the tests share one definition of what goes on the wire.
//!
//! Conventions chosen here, following RFC 5321:
//! * Lines end in CRLF only (§2.3.8). On the sending side a bare LF or a bare
//!   CR in the body becomes CRLF, because servers disagree about what bare
//!   line endings mean and that disagreement is exactly what smuggling
//!   exploits. On the receiving side only CRLF ends a line.
//! * A non-empty body that does not end with CRLF gets one, since the
//!   terminator's leading CRLF is "actually the terminator of the previous
//!   line" (§4.1.1.4) and cannot also be part of the content.
//! * An empty body has no lines, so after the 354 reply the data is just
//!   ".\r\n": the server is at the start of a line, where a lone "." ends the
//!   data.

use std::fmt::Write as _;

/// The standard end-of-data sequence (RFC 5321 §4.1.1.4).
const TERMINATOR: &[u8] = b"\r\n.\r\n";

/// Rewrites bare LF and bare CR as CRLF, leaving existing CRLF pairs alone.
/// A CR directly followed by LF is one line ending, not two.
pub fn normalise_to_crlf(body: &[u8]) -> Vec<u8> {
    let mut out = Vec::with_capacity(body.len() + body.len() / 16 + 2);
    let mut bytes = body.iter().copied().peekable();
    while let Some(b) = bytes.next() {
        match b {
            b'\r' => {
                if bytes.peek() == Some(&b'\n') {
                    bytes.next();
                }
                out.extend_from_slice(b"\r\n");
            }
            b'\n' => out.extend_from_slice(b"\r\n"),
            _ => out.push(b),
        }
    }
    out
}

/// What a conforming receiver reconstructs from [`encode_data`]`(body)`: the
/// body with CRLF line endings and, unless empty, a final CRLF.
pub fn canonical_content(body: &[u8]) -> Vec<u8> {
    let mut content = normalise_to_crlf(body);
    if !content.is_empty() && !content.ends_with(b"\r\n") {
        content.extend_from_slice(b"\r\n");
    }
    content
}

/// Encodes `body` for transmission after the 354 reply: CRLF line endings,
/// a final CRLF, a '.' added in front of every line that starts with '.'
/// (RFC 5321 §4.5.2), and the ".\r\n" that completes the end-of-data
/// sequence. The result always ends with "\r\n.\r\n", except for an empty
/// body, which is sent as ".\r\n" (see the module documentation).
pub fn encode_data(body: &[u8]) -> Vec<u8> {
    let content = canonical_content(body);
    let mut out = Vec::with_capacity(content.len() + content.len() / 32 + 4);
    let mut at_line_start = true;
    for &b in &content {
        if at_line_start && b == b'.' {
            out.push(b'.');
        }
        out.push(b);
        // `content` is normalised, so every LF ends a CRLF line.
        at_line_start = b == b'\n';
    }
    out.extend_from_slice(b".\r\n");
    out
}

/// [`encode_data`] a chunk at a time, so a message of any size goes out in bounded memory.
/// Feeding a body in any split and then finishing gives exactly `encode_data(body)`.
#[derive(Debug, Clone)]
pub struct DataEncoder {
    /// DATA: dot-stuffing and the end marker. BDAT (RFC 3030) sends the content as it is,
    /// its length saying where it ends.
    for_data: bool,
    /// BODY=BINARYMIME (RFC 3030 §3): the bytes go as they are, line ends included.
    binary: bool,
    at_line_start: bool,
    /// A CR ended the last chunk: whether it was a bare CR depends on the next byte.
    pending_cr: bool,
    /// Content was written and the last line has no line ending yet.
    open_line: bool,
}

impl Default for DataEncoder {
    fn default() -> Self {
        DataEncoder {
            for_data: true,
            binary: false,
            at_line_start: true,
            pending_cr: false,
            open_line: false,
        }
    }
}

impl DataEncoder {
    pub fn new() -> Self {
        Self::default()
    }

    /// For BDAT: CRLF line ends and a final CRLF, no dot-stuffing, no end marker, so the
    /// content is [`canonical_content`] of the body.
    pub fn for_bdat() -> Self {
        DataEncoder {
            for_data: false,
            ..Self::default()
        }
    }

    /// For BDAT with BODY=BINARYMIME: every byte as it is, nothing added.
    pub fn binary() -> Self {
        DataEncoder {
            for_data: false,
            binary: true,
            ..Self::default()
        }
    }

    fn push(&mut self, b: u8, out: &mut Vec<u8>) {
        if self.for_data && self.at_line_start && b == b'.' {
            out.push(b'.');
        }
        out.push(b);
        self.at_line_start = false;
        self.open_line = true;
    }

    fn end_line(&mut self, out: &mut Vec<u8>) {
        out.extend_from_slice(b"\r\n");
        self.at_line_start = true;
        self.open_line = false;
    }

    /// Appends the encoding of `chunk` to `out`.
    pub fn feed(&mut self, chunk: &[u8], out: &mut Vec<u8>) {
        if self.binary {
            out.extend_from_slice(chunk);
            return;
        }
        out.reserve(chunk.len() + chunk.len() / 32 + 2);
        for &b in chunk {
            if self.pending_cr {
                self.pending_cr = false;
                self.end_line(out);
                if b == b'\n' {
                    continue;
                }
            }
            match b {
                b'\r' => self.pending_cr = true,
                b'\n' => self.end_line(out),
                _ => self.push(b, out),
            }
        }
    }

    /// Appends what completes the message: the last line's CRLF if it has none, and the
    /// end-of-data marker.
    pub fn finish(&mut self, out: &mut Vec<u8>) {
        if self.binary {
            return;
        }
        if self.pending_cr {
            self.pending_cr = false;
            self.end_line(out);
        }
        if self.open_line {
            self.end_line(out);
        }
        if self.for_data {
            out.extend_from_slice(b".\r\n");
        }
        *self = DataEncoder {
            for_data: self.for_data,
            ..DataEncoder::default()
        };
    }
}

/// Decodes DATA as a receiving server does: the content runs up to the first
/// standard terminator ("\r\n.\r\n", or ".\r\n" at the very start) and keeps
/// the CRLF ending its last line; bytes after the terminator (pipelined
/// commands) are ignored. Per RFC 5321 §4.5.2, a line that starts with '.'
/// and has other characters loses that first '.', so "..x" becomes ".x" and
/// an unstuffed ".x" becomes "x". Only CRLF ends a line: a '.' after a bare
/// LF is ordinary content. Without a terminator the whole input is decoded.
pub fn decode_data(wire: &[u8]) -> Vec<u8> {
    let mut scanner = DataTerminatorScanner::new();
    // The terminator's first CRLF belongs to the content's last line, so the
    // content stops three bytes before the end of the terminator.
    let content_end = scanner
        .feed(wire)
        .map_or(wire.len(), |end| end.saturating_sub(3));
    let content = wire.get(..content_end).unwrap_or(wire);

    let mut out = Vec::with_capacity(content.len());
    let mut at_line_start = true;
    for (i, &b) in content.iter().enumerate() {
        let rest = content.get(i + 1..).unwrap_or_default();
        let lone_dot = rest.is_empty() || rest.starts_with(b"\r\n");
        if !(at_line_start && b == b'.' && !lone_dot) {
            out.push(b);
        }
        at_line_start = b == b'\n' && i > 0 && content.get(i - 1) == Some(&b'\r');
    }
    out
}

/// An end-of-data sequence to send after a verbatim body.
///
/// Every variant other than [`Standard`](Self::Standard) is a probe from SEC
/// Consult's 2023 SMTP smuggling research: a server (or a relay in front of
/// it) that wrongly accepts one as the end of data lets the bytes after it be
/// read as new SMTP commands, for instance a second, spoofed message.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum EndOfData {
    /// "\r\n.\r\n", the only terminator RFC 5321 §4.1.1.4 allows.
    Standard,
    /// "\n.\n": bare LF on both sides of the dot.
    BareLf,
    /// "\n.\r": bare LF before, bare CR after.
    LfThenCr,
    /// "\r.\n": bare CR before, bare LF after.
    CrThenLf,
    /// "\r.\r": bare CR on both sides.
    BareCr,
    /// "\n.\r\n": bare LF before, proper CRLF after (the variant that
    /// smuggled through several large providers).
    LfThenCrLf,
    /// "\r.\r\n": bare CR before, proper CRLF after.
    CrThenCrLf,
    /// "\r\n\0.\r\n": a NUL before the dot, for parsers that drop NULs.
    NulBeforeDot,
    /// "\r\n.\0\r\n": a NUL after the dot, for parsers that drop NULs.
    NulAfterDot,
    /// "\r\n.\r\r\n": a doubled CR, for parsers that collapse CR runs.
    CrCrLf,
    /// Any other sequence.
    Custom(Vec<u8>),
}

impl EndOfData {
    /// The bytes that end the data.
    pub fn bytes(&self) -> &[u8] {
        match self {
            EndOfData::Standard => TERMINATOR,
            EndOfData::BareLf => b"\n.\n",
            EndOfData::LfThenCr => b"\n.\r",
            EndOfData::CrThenLf => b"\r.\n",
            EndOfData::BareCr => b"\r.\r",
            EndOfData::LfThenCrLf => b"\n.\r\n",
            EndOfData::CrThenCrLf => b"\r.\r\n",
            EndOfData::NulBeforeDot => b"\r\n\0.\r\n",
            EndOfData::NulAfterDot => b"\r\n.\0\r\n",
            EndOfData::CrCrLf => b"\r\n.\r\r\n",
            EndOfData::Custom(bytes) => bytes,
        }
    }

    /// The bytes as an escaped string, e.g. `\r\n.\r\n`, so a report can
    /// show exactly which sequence was tried.
    pub fn name(&self) -> String {
        escape_bytes(self.bytes())
    }

    /// Every built-in non-standard sequence, for a smuggling sweep.
    pub fn smuggling_variants() -> Vec<EndOfData> {
        vec![
            EndOfData::BareLf,
            EndOfData::LfThenCr,
            EndOfData::CrThenLf,
            EndOfData::BareCr,
            EndOfData::LfThenCrLf,
            EndOfData::CrThenCrLf,
            EndOfData::NulBeforeDot,
            EndOfData::NulAfterDot,
            EndOfData::CrCrLf,
        ]
    }
}

fn escape_bytes(bytes: &[u8]) -> String {
    let mut out = String::with_capacity(bytes.len() * 2);
    for &b in bytes {
        match b {
            b'\r' => out.push_str("\\r"),
            b'\n' => out.push_str("\\n"),
            b'\t' => out.push_str("\\t"),
            b'\0' => out.push_str("\\0"),
            b'\\' => out.push_str("\\\\"),
            0x20..=0x7e => out.push(char::from(b)),
            _ => {
                // Writing to a String cannot fail.
                let _ = write!(out, "\\x{b:02x}");
            }
        }
    }
    out
}

/// `body` byte for byte, without normalisation or dot-stuffing, followed by
/// `end`. Experiments need exact control of the wire; note that the standard
/// sequence supplies the CRLF ending the body's last line, so a body that
/// already ends in CRLF gains an empty line.
pub fn verbatim_with_end(body: &[u8], end: &EndOfData) -> Vec<u8> {
    let end = end.bytes();
    let mut out = Vec::with_capacity(body.len() + end.len());
    out.extend_from_slice(body);
    out.extend_from_slice(end);
    out
}

/// Finds the standard end of data in a stream of received bytes, however
/// the stream is split into chunks. Only the RFC 5321 terminator counts; the
/// smuggling variants are deliberately not recognised.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct DataTerminatorScanner {
    /// How many bytes of "\r\n.\r\n" the input currently ends with.
    matched: usize,
    done: bool,
}

/// Before any byte arrives the receiver is at the start of a line, which is
/// the same as having just seen the terminator's leading CRLF; that is what
/// lets a lone ".\r\n" end empty data.
const START_OF_DATA: usize = 2;

impl DataTerminatorScanner {
    pub fn new() -> Self {
        Self {
            matched: START_OF_DATA,
            done: false,
        }
    }

    /// Consumes the next chunk. Returns the index in `chunk` just past the
    /// terminator when it completes there; bytes from that index on follow
    /// the data. Once the terminator has been found, further chunks are not
    /// data and always yield `None`.
    pub fn feed(&mut self, chunk: &[u8]) -> Option<usize> {
        if self.done {
            return None;
        }
        for (i, &b) in chunk.iter().enumerate() {
            self.matched = advance(self.matched, b);
            if self.matched == TERMINATOR.len() {
                self.done = true;
                return Some(i + 1);
            }
        }
        None
    }

    /// Whether the terminator has been seen.
    pub fn is_done(&self) -> bool {
        self.done
    }

    /// Prepares for the next DATA transaction on the same connection.
    pub fn reset(&mut self) {
        *self = Self::new();
    }
}

impl Default for DataTerminatorScanner {
    fn default() -> Self {
        Self::new()
    }
}

/// One step of the matching automaton for "\r\n.\r\n". On a mismatch the
/// state falls back to the longest prefix of the terminator that the input
/// still ends with, which for this pattern is "\r" after a CR and nothing
/// otherwise (the KMP failure function, worked out by hand).
fn advance(matched: usize, b: u8) -> usize {
    match (matched, b) {
        (0 | 1 | 2 | 4, b'\r') => 1,
        (3, b'\r') => 4,
        (1, b'\n') => 2,
        (4, b'\n') => 5,
        (2, b'.') => 3,
        _ => 0,
    }
}

#[cfg(test)]
#[allow(clippy::unwrap_used, clippy::expect_used)]
mod tests {
    use super::*;
    use proptest::prelude::*;

    /// Reference: where a receiver's data ends, by plain searching rather
    /// than an automaton. The wire is prefixed with CRLF so that ".\r\n" at
    /// the start is found like any other terminator.
    fn naive_end(wire: &[u8]) -> Option<usize> {
        let mut framed = b"\r\n".to_vec();
        framed.extend_from_slice(wire);
        framed
            .windows(TERMINATOR.len())
            .position(|w| w == TERMINATOR)
            .map(|p| p + TERMINATOR.len() - 2)
    }

    fn scan_in_pieces(wire: &[u8], cuts: &[usize]) -> Option<usize> {
        let mut scanner = DataTerminatorScanner::new();
        let mut start = 0;
        for &cut in cuts.iter().chain(std::iter::once(&wire.len())) {
            if let Some(end) = scanner.feed(&wire[start..cut]) {
                return Some(start + end);
            }
            start = cut;
        }
        None
    }

    fn body_bytes() -> impl Strategy<Value = Vec<u8>> {
        prop::collection::vec(
            prop_oneof![
                3 => Just(b'\r'),
                3 => Just(b'\n'),
                3 => Just(b'.'),
                1 => Just(0u8),
                4 => any::<u8>(),
            ],
            0..64,
        )
    }

    // --- normalisation ---

    #[test]
    fn normalise_line_endings() {
        let cases: &[(&[u8], &[u8])] = &[
            (b"", b""),
            (b"abc", b"abc"),
            (b"a\nb", b"a\r\nb"),
            (b"a\rb", b"a\r\nb"),
            (b"a\r\nb", b"a\r\nb"),
            (b"a\r\r\nb", b"a\r\n\r\nb"),
            (b"a\n\rb", b"a\r\n\r\nb"),
            (b"a\n\nb", b"a\r\n\r\nb"),
            (b"\r", b"\r\n"),
            (b"\n", b"\r\n"),
            (b"\r\n\r", b"\r\n\r\n"),
        ];
        for &(input, want) in cases {
            assert_eq!(normalise_to_crlf(input), want, "{}", escape_bytes(input));
        }
    }

    #[test]
    fn canonical_content_adds_final_crlf_only_when_needed() {
        assert_eq!(canonical_content(b""), b"");
        assert_eq!(canonical_content(b"x"), b"x\r\n");
        assert_eq!(canonical_content(b"x\r\n"), b"x\r\n");
        assert_eq!(canonical_content(b"x\n"), b"x\r\n");
        assert_eq!(canonical_content(b"x\r"), b"x\r\n");
    }

    // --- encode_data ---

    #[test]
    fn encode_simple_bodies() {
        let cases: &[(&[u8], &[u8])] = &[
            (b"", b".\r\n"),
            (b"hello", b"hello\r\n.\r\n"),
            (b"hello\r\n", b"hello\r\n.\r\n"),
            (b"hello\n", b"hello\r\n.\r\n"),
            (b"\n", b"\r\n.\r\n"),
            (b"\r\n", b"\r\n.\r\n"),
            (b"a\nb", b"a\r\nb\r\n.\r\n"),
            (b"a\rb", b"a\r\nb\r\n.\r\n"),
            (b"a\n\rb", b"a\r\n\r\nb\r\n.\r\n"),
            (b"Subject: x\n\nbody", b"Subject: x\r\n\r\nbody\r\n.\r\n"),
        ];
        for &(input, want) in cases {
            assert_eq!(
                encode_data(input),
                want,
                "{} -> {}",
                escape_bytes(input),
                escape_bytes(&encode_data(input))
            );
        }
    }

    #[test]
    fn encode_dot_stuffs_every_leading_dot() {
        let cases: &[(&[u8], &[u8])] = &[
            (b".", b"..\r\n.\r\n"),
            (b"..", b"...\r\n.\r\n"),
            (b".\r\n", b"..\r\n.\r\n"),
            (b".foo\n.\nbar", b"..foo\r\n..\r\nbar\r\n.\r\n"),
            (b"a.b\n.c.", b"a.b\r\n..c.\r\n.\r\n"),
            (b"x\n..\n...", b"x\r\n...\r\n....\r\n.\r\n"),
            // A terminator inside the body must not end the data early.
            (b"a\r\n.\r\nb", b"a\r\n..\r\nb\r\n.\r\n"),
            // Bare line endings are normalised before stuffing, so these
            // dots start lines too.
            (b"a\n.b", b"a\r\n..b\r\n.\r\n"),
            (b"a\r.b", b"a\r\n..b\r\n.\r\n"),
        ];
        for &(input, want) in cases {
            assert_eq!(
                encode_data(input),
                want,
                "{} -> {}",
                escape_bytes(input),
                escape_bytes(&encode_data(input))
            );
        }
    }

    #[test]
    fn encode_leaves_non_leading_dots_and_binary_alone() {
        let body = b"v1.2.3 \x00\xff.";
        let mut want = body.to_vec();
        want.extend_from_slice(b"\r\n.\r\n");
        assert_eq!(encode_data(body), want);
    }

    // --- decode_data ---

    #[test]
    fn decode_strips_terminator_and_unstuffs() {
        let cases: &[(&[u8], &[u8])] = &[
            (b".\r\n", b""),
            (b"hello\r\n.\r\n", b"hello\r\n"),
            (b"\r\n.\r\n", b"\r\n"),
            (b"..\r\n.\r\n", b".\r\n"),
            (b"...\r\n.\r\n", b"..\r\n"),
            (b"..foo\r\n..\r\nbar\r\n.\r\n", b".foo\r\n.\r\nbar\r\n"),
            (b"a..b\r\n.\r\n", b"a..b\r\n"),
        ];
        for &(wire, want) in cases {
            assert_eq!(decode_data(wire), want, "{}", escape_bytes(wire));
        }
    }

    #[test]
    fn decode_removes_single_leading_dot_per_rfc5321() {
        // RFC 5321 §4.5.2 removes the first '.' of any line with more
        // characters, stuffed or not.
        assert_eq!(decode_data(b".foo\r\n.\r\n"), b"foo\r\n");
        assert_eq!(decode_data(b"x\r\n.bar\r\n.\r\n"), b"x\r\nbar\r\n");
    }

    #[test]
    fn decode_ignores_bytes_after_terminator() {
        assert_eq!(decode_data(b"msg\r\n.\r\nQUIT\r\n"), b"msg\r\n");
        assert_eq!(decode_data(b".\r\nRSET\r\n"), b"");
        // The first terminator wins, as it does for a real server.
        assert_eq!(decode_data(b"a\r\n.\r\nb\r\n.\r\n"), b"a\r\n");
    }

    #[test]
    fn decode_only_crlf_ends_lines() {
        // After a bare LF the receiver is not at a line start, so the dot
        // stays and the bare-LF "terminator" is content.
        assert_eq!(decode_data(b"a\n.b\r\n.\r\n"), b"a\n.b\r\n");
        assert_eq!(decode_data(b"a\n.\nb\r\n.\r\n"), b"a\n.\nb\r\n");
        assert_eq!(decode_data(b"a\r.\rb\r\n.\r\n"), b"a\r.\rb\r\n");
    }

    #[test]
    fn decode_without_terminator_decodes_everything() {
        assert_eq!(decode_data(b""), b"");
        assert_eq!(decode_data(b"abc"), b"abc");
        assert_eq!(decode_data(b"..abc\r\n..d"), b".abc\r\n.d");
        // A lone trailing '.' has no other characters, so it stays.
        assert_eq!(decode_data(b"abc\r\n."), b"abc\r\n.");
        assert_eq!(decode_data(b"abc\r\n.\r"), b"abc\r\n\r");
    }

    #[test]
    fn decode_reverses_encode_for_dot_lines() {
        for body in [&b"."[..], b"..", b"...", b".\n.", b"\n.\n", b".x\n..y\n"] {
            assert_eq!(decode_data(&encode_data(body)), canonical_content(body));
        }
    }

    proptest! {
        #[test]
        fn round_trip(body in body_bytes()) {
            prop_assert_eq!(decode_data(&encode_data(&body)), canonical_content(&body));
        }

        #[test]
        fn round_trip_any_bytes(body in prop::collection::vec(any::<u8>(), 0..256)) {
            prop_assert_eq!(decode_data(&encode_data(&body)), canonical_content(&body));
        }

        #[test]
        fn encoded_data_is_well_formed(body in body_bytes()) {
            let wire = encode_data(&body);
            // Terminated, and the terminator is found only at the very end.
            prop_assert!(wire.ends_with(b".\r\n"));
            prop_assert_eq!(naive_end(&wire), Some(wire.len()));
            let mut scanner = DataTerminatorScanner::new();
            prop_assert_eq!(scanner.feed(&wire), Some(wire.len()));
            // No bare CR or LF survives.
            for (i, &b) in wire.iter().enumerate() {
                if b == b'\r' {
                    prop_assert_eq!(wire.get(i + 1), Some(&b'\n'));
                }
                if b == b'\n' {
                    prop_assert!(i > 0 && wire[i - 1] == b'\r');
                }
            }
        }

        #[test]
        fn normalise_is_idempotent(body in body_bytes()) {
            let once = normalise_to_crlf(&body);
            prop_assert_eq!(normalise_to_crlf(&once), once.clone());
        }

        #[test]
        fn scanner_matches_reference(
            wire in body_bytes(),
            cuts in prop::collection::vec(any::<prop::sample::Index>(), 0..4),
        ) {
            let mut cuts: Vec<usize> = cuts.iter().map(|c| c.index(wire.len() + 1)).collect();
            cuts.sort_unstable();
            prop_assert_eq!(scan_in_pieces(&wire, &cuts), naive_end(&wire));
        }
    }

    // --- DataTerminatorScanner ---

    #[test]
    fn scanner_split_at_every_boundary() {
        let wires: &[&[u8]] = &[
            b".\r\n",
            b"hello\r\n.\r\n",
            b"a\r\n..\r\n.\r\nQUIT\r\n",
            b"\r\r\n\r\n.\r\n",
            b"x\r\n.\r\r\n.\r\n",
            b"\r\n.\r\n",
            b"..\r\n.\r\n",
        ];
        for &wire in wires {
            let want = naive_end(wire);
            assert!(want.is_some(), "{}", escape_bytes(wire));
            for a in 0..=wire.len() {
                assert_eq!(
                    scan_in_pieces(wire, &[a]),
                    want,
                    "{} cut {a}",
                    escape_bytes(wire)
                );
                for b in a..=wire.len() {
                    assert_eq!(
                        scan_in_pieces(wire, &[a, b]),
                        want,
                        "{} cuts {a},{b}",
                        escape_bytes(wire)
                    );
                }
            }
            let mut scanner = DataTerminatorScanner::new();
            let byte_at_a_time = wire
                .iter()
                .enumerate()
                .find_map(|(i, b)| scanner.feed(std::slice::from_ref(b)).map(|_| i + 1));
            assert_eq!(byte_at_a_time, want);
        }
    }

    #[test]
    fn scanner_reports_index_within_chunk() {
        let mut s = DataTerminatorScanner::new();
        assert_eq!(s.feed(b"hello\r\n."), None);
        assert!(!s.is_done());
        assert_eq!(s.feed(b"\r\nQUIT\r\n"), Some(2));
        assert!(s.is_done());
    }

    #[test]
    fn scanner_dot_only_at_start_of_data() {
        assert_eq!(DataTerminatorScanner::new().feed(b".\r\nQUIT"), Some(3));
        // Mid-line ".\r\n" is not a terminator.
        assert_eq!(DataTerminatorScanner::new().feed(b"x.\r\n"), None);
        // A stuffed dot line is not one either.
        assert_eq!(DataTerminatorScanner::new().feed(b"..\r\n"), None);
        assert_eq!(DataTerminatorScanner::new().feed(b"\r\n..\r\n"), None);
        // Empty chunks change nothing.
        let mut s = DataTerminatorScanner::new();
        assert_eq!(s.feed(b""), None);
        assert_eq!(s.feed(b".\r\n"), Some(3));
    }

    #[test]
    fn scanner_recovers_from_partial_matches() {
        let mut s = DataTerminatorScanner::new();
        assert_eq!(s.feed(b"a\r\n.\r"), None);
        assert_eq!(s.feed(b"\r\n.\r\n"), Some(5));
        let mut s = DataTerminatorScanner::new();
        assert_eq!(s.feed(b"a\r\r\r\n"), None);
        assert_eq!(s.feed(b".\r\n"), Some(3));
    }

    #[test]
    fn scanner_is_inert_after_terminator_until_reset() {
        let mut s = DataTerminatorScanner::new();
        assert_eq!(s.feed(b"a\r\n.\r\n"), Some(6));
        assert_eq!(s.feed(b"b\r\n.\r\n"), None);
        assert_eq!(s.feed(b".\r\n"), None);
        s.reset();
        assert!(!s.is_done());
        assert_eq!(s, DataTerminatorScanner::default());
        assert_eq!(s.feed(b".\r\n"), Some(3));
    }

    // --- EndOfData ---

    #[test]
    fn end_of_data_bytes() {
        let cases: &[(EndOfData, &[u8])] = &[
            (EndOfData::Standard, b"\r\n.\r\n"),
            (EndOfData::BareLf, b"\n.\n"),
            (EndOfData::LfThenCr, b"\n.\r"),
            (EndOfData::CrThenLf, b"\r.\n"),
            (EndOfData::BareCr, b"\r.\r"),
            (EndOfData::LfThenCrLf, b"\n.\r\n"),
            (EndOfData::CrThenCrLf, b"\r.\r\n"),
            (EndOfData::NulBeforeDot, b"\r\n\x00.\r\n"),
            (EndOfData::NulAfterDot, b"\r\n.\x00\r\n"),
            (EndOfData::CrCrLf, b"\r\n.\r\r\n"),
            (
                EndOfData::Custom(b"\r\n.\r\n\r\n".to_vec()),
                b"\r\n.\r\n\r\n",
            ),
            (EndOfData::Custom(Vec::new()), b""),
        ];
        for (end, want) in cases {
            assert_eq!(end.bytes(), *want, "{end:?}");
        }
    }

    #[test]
    fn end_of_data_names_are_escaped() {
        assert_eq!(EndOfData::Standard.name(), "\\r\\n.\\r\\n");
        assert_eq!(EndOfData::BareLf.name(), "\\n.\\n");
        assert_eq!(EndOfData::LfThenCr.name(), "\\n.\\r");
        assert_eq!(EndOfData::CrThenLf.name(), "\\r.\\n");
        assert_eq!(EndOfData::BareCr.name(), "\\r.\\r");
        assert_eq!(EndOfData::LfThenCrLf.name(), "\\n.\\r\\n");
        assert_eq!(EndOfData::CrThenCrLf.name(), "\\r.\\r\\n");
        assert_eq!(EndOfData::NulBeforeDot.name(), "\\r\\n\\0.\\r\\n");
        assert_eq!(EndOfData::NulAfterDot.name(), "\\r\\n.\\0\\r\\n");
        assert_eq!(EndOfData::CrCrLf.name(), "\\r\\n.\\r\\r\\n");
        assert_eq!(
            EndOfData::Custom(b"\t.\\\x1b\xffA".to_vec()).name(),
            "\\t.\\\\\\x1b\\xffA"
        );
    }

    #[test]
    fn smuggling_variants_are_the_nine_non_standard_sequences() {
        let variants = EndOfData::smuggling_variants();
        assert_eq!(variants.len(), 9);
        assert!(!variants.contains(&EndOfData::Standard));
        assert!(variants.iter().all(|v| !matches!(v, EndOfData::Custom(_))));
        let mut bytes: Vec<&[u8]> = variants.iter().map(EndOfData::bytes).collect();
        bytes.sort_unstable();
        bytes.dedup();
        assert_eq!(bytes.len(), 9, "variants must be distinct");
        for v in &variants {
            assert_ne!(v.bytes(), TERMINATOR);
            assert!(v.bytes().contains(&b'.'), "{}", v.name());
        }
    }

    #[test]
    fn scanner_rejects_every_smuggling_variant() {
        for v in EndOfData::smuggling_variants() {
            for body in [&b"x"[..], b"x\r\n", b""] {
                let wire = verbatim_with_end(body, &v);
                assert_eq!(
                    DataTerminatorScanner::new().feed(&wire),
                    None,
                    "{} after {}",
                    v.name(),
                    escape_bytes(body)
                );
            }
        }
        let wire = verbatim_with_end(b"x", &EndOfData::Standard);
        assert_eq!(DataTerminatorScanner::new().feed(&wire), Some(wire.len()));
    }

    #[test]
    fn verbatim_does_not_normalise_or_stuff() {
        let body = b".a\nb\r.c\r\n..";
        let wire = verbatim_with_end(body, &EndOfData::LfThenCrLf);
        assert_eq!(wire, b".a\nb\r.c\r\n..\n.\r\n");
        assert_eq!(
            verbatim_with_end(b"", &EndOfData::Custom(b"END".to_vec())),
            b"END"
        );
        assert_eq!(
            verbatim_with_end(b"hi", &EndOfData::Standard),
            b"hi\r\n.\r\n"
        );
    }
}

#[cfg(test)]
mod streaming_tests {
    use super::*;
    use proptest::prelude::*;

    fn streamed(body: &[u8], cuts: &[usize]) -> Vec<u8> {
        let mut enc = DataEncoder::new();
        let mut out = Vec::new();
        let mut last = 0;
        for &cut in cuts {
            let cut = cut.min(body.len()).max(last);
            enc.feed(&body[last..cut], &mut out);
            last = cut;
        }
        enc.feed(&body[last..], &mut out);
        enc.finish(&mut out);
        out
    }

    #[test]
    fn known_bodies_encode_as_encode_data_does_at_every_split() {
        for body in [
            &b""[..],
            b"x",
            b".",
            b"a\r\n.b\r\n",
            b"a\rb\nc\r\n",
            b"line\r",
            b"\r\n\r\n",
            b".\r\n..\n.x\r.",
        ] {
            for at in 0..=body.len() {
                assert_eq!(
                    streamed(body, &[at]),
                    encode_data(body),
                    "{:?} split at {at}",
                    String::from_utf8_lossy(body)
                );
            }
        }
    }

    proptest! {
        #[test]
        fn any_body_in_any_chunks_encodes_for_bdat_as_canonical_content(
            body in prop::collection::vec(prop_oneof![Just(b'\r'), Just(b'\n'), Just(b'.'), any::<u8>()], 0..300),
            cut in 0usize..300,
        ) {
            let mut enc = DataEncoder::for_bdat();
            let mut out = Vec::new();
            let cut = cut.min(body.len());
            enc.feed(&body[..cut], &mut out);
            enc.feed(&body[cut..], &mut out);
            enc.finish(&mut out);
            prop_assert_eq!(out, canonical_content(&body));
        }

        #[test]
        fn a_binary_body_in_any_chunks_goes_unchanged(
            body in prop::collection::vec(prop_oneof![Just(b'\r'), Just(b'\n'), Just(b'.'), any::<u8>()], 0..300),
            cut in 0usize..300,
        ) {
            let mut enc = DataEncoder::binary();
            let mut out = Vec::new();
            let cut = cut.min(body.len());
            enc.feed(&body[..cut], &mut out);
            enc.feed(&body[cut..], &mut out);
            enc.finish(&mut out);
            prop_assert_eq!(out, body);
        }

        #[test]
        fn any_body_in_any_chunks_encodes_as_encode_data(
            body in prop::collection::vec(prop_oneof![Just(b'\r'), Just(b'\n'), Just(b'.'), any::<u8>()], 0..300),
            mut cuts in prop::collection::vec(0usize..300, 0..6),
        ) {
            cuts.sort_unstable();
            prop_assert_eq!(streamed(&body, &cuts), encode_data(&body));
        }
    }
}
