//! A resumable, lenient SMTP reply parser.
//!
//! Bytes may arrive in any chunks; the parser produces exactly the same replies whatever the
//! split. It never rejects what a server sent: every byte of a malformed reply is kept and the
//! problems are listed as [`Violation`]s. Memory is bounded by [`ReplyLimits`]: an over-long line
//! or an endless multi-line reply ends the reply, and the bytes beyond are counted, not stored.

use std::fmt;

/// An RFC 3463 enhanced status code such as `5.7.1`.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, serde::Serialize)]
pub struct EnhancedCode {
    pub class: u8,
    pub subject: u16,
    pub detail: u16,
}

impl fmt::Display for EnhancedCode {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{}.{}.{}", self.class, self.subject, self.detail)
    }
}

impl EnhancedCode {
    /// Parses an enhanced code at the start of `text`, which must be followed by a space or the
    /// end of the text. RFC 3463 §2: class is 2, 4 or 5; subject and detail are 1-3 digits.
    pub fn parse_prefix(text: &[u8]) -> Option<EnhancedCode> {
        let end = text.iter().position(|&b| b == b' ').unwrap_or(text.len());
        let mut parts = text[..end].split(|&b| b == b'.');
        let class = parse_digits(parts.next()?, 1)?;
        let subject = parse_digits(parts.next()?, 3)?;
        let detail = parse_digits(parts.next()?, 3)?;
        if parts.next().is_some() || !matches!(class, 2 | 4 | 5) {
            return None;
        }
        Some(EnhancedCode {
            class: class as u8,
            subject,
            detail,
        })
    }

    /// Parses a whole string such as "5.7.1" (used for expectations in scenario files).
    pub fn parse(text: &str) -> Option<EnhancedCode> {
        let code = Self::parse_prefix(text.as_bytes())?;
        (code.to_string().len() <= text.len() && !text.contains(' ')).then_some(code)
    }
}

fn parse_digits(part: &[u8], max_len: usize) -> Option<u16> {
    if part.is_empty() || part.len() > max_len || !part.iter().all(u8::is_ascii_digit) {
        return None;
    }
    Some(part.iter().fold(0u16, |n, &d| n * 10 + u16::from(d - b'0')))
}

/// How a reply line was terminated on the wire.
#[derive(Debug, Clone, Copy, PartialEq, Eq, serde::Serialize)]
#[serde(rename_all = "kebab-case")]
pub enum LineEnding {
    CrLf,
    /// A bare LF (RFC 5321 §2.3.8 forbids it).
    Lf,
    /// A bare CR followed by something other than LF.
    Cr,
    /// The line was cut: it hit the length limit, or the connection ended mid-line.
    None,
}

/// Something about a reply that RFC 5321 does not allow. The reply is kept anyway.
#[derive(Debug, Clone, PartialEq, Eq, serde::Serialize)]
#[serde(tag = "kind", rename_all = "kebab-case")]
pub enum Violation {
    /// The first three bytes of the line are not digits.
    NonDigitCode {
        line: usize,
    },
    /// Three digits, but not a reply code RFC 5321 §4.2 allows (first digit 2-5, second 0-5).
    CodeOutOfRange {
        line: usize,
        code: u16,
    },
    /// A line of a multi-line reply carries a different code from the line before it.
    CodeChanged {
        line: usize,
        expected: u16,
        found: u16,
    },
    /// After the code comes neither a space nor a hyphen.
    MissingSeparator {
        line: usize,
        found: u8,
    },
    /// The line is shorter than a reply code.
    TooShort {
        line: usize,
    },
    BareLf {
        line: usize,
    },
    BareCr {
        line: usize,
    },
    InvalidUtf8 {
        line: usize,
    },
    Nul {
        line: usize,
    },
    /// RFC 5321 §4.5.3.1.5: a reply line is at most 512 octets including CRLF.
    LineOver512 {
        line: usize,
        length: usize,
    },
    /// The line hit the parser's length limit; the rest of it was counted, not kept.
    LineLimit {
        line: usize,
        limit: usize,
    },
    /// The reply hit the parser's line-count limit; further lines were counted, not kept.
    TooManyLines {
        limit: usize,
    },
    /// The enhanced status code's class differs from the reply code's first digit (RFC 3463 §2).
    EnhancedClassMismatch {
        line: usize,
    },
    /// The connection ended or timed out before the reply was complete.
    Incomplete,
}

impl fmt::Display for Violation {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Violation::NonDigitCode { line } => {
                write!(f, "line {line}: reply code is not three digits")
            }
            Violation::CodeOutOfRange { line, code } => {
                write!(f, "line {line}: {code} is not a valid SMTP reply code")
            }
            Violation::CodeChanged {
                line,
                expected,
                found,
            } => write!(
                f,
                "line {line}: code {found} differs from {expected} on the line before"
            ),
            Violation::MissingSeparator { line, found } => write!(
                f,
                "line {line}: expected a space or '-' after the code, found {}",
                escape_byte(*found)
            ),
            Violation::TooShort { line } => write!(f, "line {line}: shorter than a reply code"),
            Violation::BareLf { line } => write!(f, "line {line}: ends with a bare LF, not CRLF"),
            Violation::BareCr { line } => write!(f, "line {line}: ends with a bare CR, not CRLF"),
            Violation::InvalidUtf8 { line } => write!(f, "line {line}: invalid UTF-8"),
            Violation::Nul { line } => write!(f, "line {line}: contains a NUL byte"),
            Violation::LineOver512 { line, length } => write!(
                f,
                "line {line}: {length} octets, over the 512 that RFC 5321 allows"
            ),
            Violation::LineLimit { line, limit } => write!(
                f,
                "line {line}: longer than {limit} bytes; the rest was discarded"
            ),
            Violation::TooManyLines { limit } => write!(
                f,
                "more than {limit} lines in one reply; the rest was discarded"
            ),
            Violation::EnhancedClassMismatch { line } => write!(
                f,
                "line {line}: enhanced status class differs from the reply code"
            ),
            Violation::Incomplete => write!(f, "the reply ended before its last line"),
        }
    }
}

fn escape_byte(b: u8) -> String {
    match b {
        b'\r' => "CR".into(),
        b'\n' => "LF".into(),
        0x21..=0x7e => format!("'{}'", b as char),
        _ => format!("0x{b:02x}"),
    }
}

/// One line of a reply, byte for byte as received.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ReplyLine {
    /// The bytes as received, including the line ending.
    pub raw: Vec<u8>,
    pub ending: LineEnding,
    /// The three-digit code, when the line starts with three digits.
    pub code: Option<u16>,
    pub enhanced: Option<EnhancedCode>,
    /// Whether the line says more lines follow (`250-`).
    pub continues: bool,
}

impl ReplyLine {
    /// The content without the line ending.
    pub fn content(&self) -> &[u8] {
        let cut = match self.ending {
            LineEnding::CrLf => 2,
            LineEnding::Lf | LineEnding::Cr => 1,
            LineEnding::None => 0,
        };
        &self.raw[..self.raw.len() - cut]
    }

    /// The text after the code and separator, as raw bytes.
    pub fn text_bytes(&self) -> &[u8] {
        let content = self.content();
        if self.code.is_some() {
            content.get(4..).unwrap_or(&[])
        } else {
            content
        }
    }

    /// The text after the code and separator, decoded lossily for display.
    pub fn text(&self) -> String {
        String::from_utf8_lossy(self.text_bytes()).into_owned()
    }
}

/// A complete reply: one or more lines, and everything wrong with them.
/// How long [`Reply::summary`] grows before it leaves the rest out: a reason quotes a reply
/// whole, but a hostile server's thousand-line reply is not a reason.
pub const SUMMARY_MAX: usize = 2000;

#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Reply {
    pub lines: Vec<ReplyLine>,
    pub violations: Vec<Violation>,
}

impl Reply {
    /// The reply's code: the code of its last line, as most clients read it (Python's smtplib
    /// and Postfix's smtp client both keep the last). `None` when that line has no valid code.
    pub fn code(&self) -> Option<u16> {
        self.lines.last().and_then(|l| l.code)
    }

    /// The enhanced status code of the first line that has one.
    pub fn enhanced(&self) -> Option<EnhancedCode> {
        self.lines.iter().find_map(|l| l.enhanced)
    }

    /// The first digit of the code (2, 3, 4, 5), or 0 when there is no code.
    pub fn class(&self) -> u8 {
        self.code().map_or(0, |c| (c / 100) as u8)
    }

    pub fn is_positive(&self) -> bool {
        self.class() == 2
    }

    pub fn is_intermediate(&self) -> bool {
        self.class() == 3
    }

    /// Every byte of the reply as received.
    pub fn raw(&self) -> Vec<u8> {
        self.lines
            .iter()
            .flat_map(|l| l.raw.iter().copied())
            .collect()
    }

    /// The texts of all lines, joined with spaces, for one-line display.
    pub fn text(&self) -> String {
        self.lines
            .iter()
            .map(ReplyLine::text)
            .collect::<Vec<_>>()
            .join(" ")
    }

    /// The whole reply on one line, for reasons and messages: "554 5.7.1 <x>: Relay access
    /// denied". A multi-line reply is quoted whole, its code (and an enhanced code repeated on
    /// every line) once: Exim's `550-5.7.1 Relaying to <evil.test> is not permitted (lab` /
    /// `550 policy: partner.test only)` reads "550 5.7.1 Relaying to <evil.test> is not
    /// permitted (lab policy: partner.test only)". Past [`SUMMARY_MAX`] characters the rest is
    /// left out and "…" says so; front ends cut it further only to fit their width.
    pub fn summary(&self) -> String {
        let Some(first) = self.lines.first() else {
            return String::new();
        };
        let mut out = String::from_utf8_lossy(first.content()).into_owned();
        if self.lines.len() == 1 {
            return out;
        }
        // "550-5.7.1 …" is quoted as "550 5.7.1 …": the hyphen only said more lines follow.
        if first.code.is_some() && first.continues && out.is_char_boundary(3) {
            out.replace_range(3..4, " ");
        }
        let repeated = first.enhanced.map(|e| e.to_string());
        for line in &self.lines[1..] {
            let text = line.text();
            let text = match &repeated {
                Some(e) => text
                    .strip_prefix(e.as_str())
                    .filter(|rest| rest.is_empty() || rest.starts_with(' '))
                    .map_or(text.as_str(), str::trim_start),
                None => text.as_str(),
            };
            if text.is_empty() {
                continue;
            }
            if out.chars().count() + 1 + text.chars().count() > SUMMARY_MAX {
                out.push_str(" …");
                break;
            }
            out.push(' ');
            out.push_str(text);
        }
        out
    }

    pub fn is_malformed(&self) -> bool {
        !self.violations.is_empty()
    }

    /// True when the reply has a code a client may act on: three digits in the RFC 5321
    /// range, followed by a space or hyphen. `999`, `abc` and `2500` are not.
    pub fn has_valid_code(&self) -> bool {
        self.code().is_some()
            && !self.violations.iter().any(|v| {
                matches!(
                    v,
                    Violation::NonDigitCode { .. }
                        | Violation::CodeOutOfRange { .. }
                        | Violation::MissingSeparator { .. }
                        | Violation::TooShort { .. }
                )
            })
    }

    /// True when some line ended with a bare CR.
    pub fn has_bare_cr(&self) -> bool {
        self.violations
            .iter()
            .any(|v| matches!(v, Violation::BareCr { .. }))
    }
}

/// Bounds that keep a hostile server from exhausting memory.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct ReplyLimits {
    pub max_line: usize,
    pub max_lines: usize,
}

impl Default for ReplyLimits {
    fn default() -> Self {
        ReplyLimits {
            max_line: 64 * 1024,
            max_lines: 1000,
        }
    }
}

/// What one call to [`ReplyParser::feed`] did.
#[derive(Debug, Default, PartialEq, Eq)]
pub struct Fed {
    /// Input bytes consumed. Feeding stops right after a reply completes, so the caller knows
    /// exactly which bytes followed it (the STARTTLS injection check depends on this).
    pub consumed: usize,
    pub reply: Option<Reply>,
    /// Bytes consumed but not kept, because a limit had been hit.
    pub discarded: u64,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Discard {
    /// Keep bytes.
    Off,
    /// Drop the rest of the current line, then resume.
    RestOfLine,
    /// Drop whole lines until one that does not continue the reply has ended.
    UntilFinalLine,
}

/// The resumable parser. Feed it bytes; it hands back replies.
#[derive(Debug)]
pub struct ReplyParser {
    limits: ReplyLimits,
    line: Vec<u8>,
    /// A CR was the last byte seen; whether it ends the line depends on the next byte.
    pending_cr: bool,
    lines: Vec<ReplyLine>,
    violations: Vec<Violation>,
    discard: Discard,
    /// While discarding whole lines: bytes of the current discarded line seen so far, and the
    /// fourth byte, which says whether that line continues the reply.
    discard_pos: usize,
    discard_continues: bool,
    discarded_total: u64,
}

impl Default for ReplyParser {
    fn default() -> Self {
        Self::new(ReplyLimits::default())
    }
}

impl ReplyParser {
    pub fn new(limits: ReplyLimits) -> Self {
        ReplyParser {
            limits: ReplyLimits {
                max_line: limits.max_line.max(8),
                max_lines: limits.max_lines.max(1),
            },
            line: Vec::new(),
            pending_cr: false,
            lines: Vec::new(),
            violations: Vec::new(),
            discard: Discard::Off,
            discard_pos: 0,
            discard_continues: false,
            discarded_total: 0,
        }
    }

    /// Total bytes discarded over the parser's life.
    pub fn discarded_total(&self) -> u64 {
        self.discarded_total
    }

    /// True while bytes past a limit are being counted and dropped.
    pub fn discarding(&self) -> bool {
        self.discard != Discard::Off
    }

    /// True when part of a reply has arrived but not all of it.
    pub fn in_progress(&self) -> bool {
        !self.line.is_empty() || self.pending_cr || !self.lines.is_empty()
    }

    /// Consumes bytes until one reply is complete or the input runs out.
    pub fn feed(&mut self, input: &[u8]) -> Fed {
        let mut fed = Fed::default();
        for (i, &b) in input.iter().enumerate() {
            if self.discard != Discard::Off {
                fed.consumed = i + 1;
                fed.discarded += 1;
                self.discarded_total += 1;
                self.discard_byte(b);
                continue;
            }
            if self.pending_cr {
                self.pending_cr = false;
                if b == b'\n' {
                    self.line.push(b'\n');
                    fed.consumed = i + 1;
                    if let Some(reply) = self.end_line(LineEnding::CrLf) {
                        fed.reply = Some(reply);
                        return fed;
                    }
                    continue;
                }
                // The CR ended the line on its own; this byte starts the next one, so it is
                // not consumed if the reply is now complete.
                if let Some(reply) = self.end_line(LineEnding::Cr) {
                    fed.consumed = i;
                    fed.reply = Some(reply);
                    return fed;
                }
            }
            fed.consumed = i + 1;
            match b {
                b'\r' => {
                    self.line.push(b);
                    self.pending_cr = true;
                }
                b'\n' => {
                    self.line.push(b);
                    if let Some(reply) = self.end_line(LineEnding::Lf) {
                        fed.reply = Some(reply);
                        return fed;
                    }
                }
                _ => {
                    self.line.push(b);
                    if self.line.len() >= self.limits.max_line {
                        let line_no = self.lines.len() + 1;
                        self.violations.push(Violation::LineLimit {
                            line: line_no,
                            limit: self.limits.max_line,
                        });
                        self.discard = Discard::RestOfLine;
                        let reply = self.close_line(LineEnding::None, true);
                        fed.reply = Some(reply);
                        return fed;
                    }
                }
            }
        }
        fed
    }

    /// Ends the reply in progress because the input ended (connection closed, timeout). Returns
    /// what had arrived, marked incomplete, or `None` if nothing had.
    pub fn finish(&mut self) -> Option<Reply> {
        if self.line.is_empty() && !self.pending_cr && self.lines.is_empty() {
            return None;
        }
        // A CR with nothing after it: the server may end its lines with CR alone. Say so, and
        // if that line was the last of its reply, the reply itself is complete.
        let ending = if self.pending_cr {
            LineEnding::Cr
        } else {
            LineEnding::None
        };
        self.pending_cr = false;
        let mut complete = false;
        if !self.line.is_empty() {
            let line_no = self.lines.len() + 1;
            let line = self.build_line(line_no, ending);
            complete = ending == LineEnding::Cr && !line.continues;
            self.lines.push(line);
        }
        if !complete {
            self.violations.push(Violation::Incomplete);
        }
        Some(self.take_reply())
    }

    fn discard_byte(&mut self, b: u8) {
        match self.discard {
            Discard::Off => {}
            Discard::RestOfLine => {
                if b == b'\n' {
                    self.discard = Discard::Off;
                }
            }
            Discard::UntilFinalLine => {
                if self.discard_pos == 3 {
                    self.discard_continues = b == b'-';
                }
                if b == b'\n' {
                    if !self.discard_continues {
                        self.discard = Discard::Off;
                    }
                    self.discard_pos = 0;
                    self.discard_continues = false;
                } else {
                    self.discard_pos = self.discard_pos.saturating_add(1);
                }
            }
        }
    }

    /// Ends the current line; returns the reply if that line was its last.
    fn end_line(&mut self, ending: LineEnding) -> Option<Reply> {
        let line_no = self.lines.len() + 1;
        let line = self.build_line(line_no, ending);
        let continues = line.continues;
        self.lines.push(line);
        if !continues {
            return Some(self.take_reply());
        }
        if self.lines.len() >= self.limits.max_lines {
            self.violations.push(Violation::TooManyLines {
                limit: self.limits.max_lines,
            });
            self.discard = Discard::UntilFinalLine;
            self.discard_pos = 0;
            self.discard_continues = false;
            return Some(self.take_reply());
        }
        None
    }

    /// Ends the current line and, with it, the reply (used when a limit is hit).
    fn close_line(&mut self, ending: LineEnding, force_end: bool) -> Reply {
        let line_no = self.lines.len() + 1;
        let mut line = self.build_line(line_no, ending);
        if force_end {
            line.continues = false;
        }
        self.lines.push(line);
        self.take_reply()
    }

    fn take_reply(&mut self) -> Reply {
        Reply {
            lines: std::mem::take(&mut self.lines),
            violations: std::mem::take(&mut self.violations),
        }
    }

    fn build_line(&mut self, line_no: usize, ending: LineEnding) -> ReplyLine {
        let raw = std::mem::take(&mut self.line);
        let content_len = raw.len()
            - match ending {
                LineEnding::CrLf => 2,
                LineEnding::Lf | LineEnding::Cr => 1,
                LineEnding::None => 0,
            };
        let content = &raw[..content_len];
        let v = &mut self.violations;
        match ending {
            LineEnding::Lf => v.push(Violation::BareLf { line: line_no }),
            LineEnding::Cr => v.push(Violation::BareCr { line: line_no }),
            LineEnding::CrLf | LineEnding::None => {}
        }
        if raw.len() > 512 {
            v.push(Violation::LineOver512 {
                line: line_no,
                length: raw.len(),
            });
        }
        if content.contains(&0) {
            v.push(Violation::Nul { line: line_no });
        }
        if std::str::from_utf8(content).is_err() {
            v.push(Violation::InvalidUtf8 { line: line_no });
        }

        let mut code = None;
        let mut continues = false;
        let mut enhanced = None;
        if content.len() < 3 {
            v.push(Violation::TooShort { line: line_no });
        } else if !content[..3].iter().all(u8::is_ascii_digit) {
            v.push(Violation::NonDigitCode { line: line_no });
        } else {
            let n = content[..3]
                .iter()
                .fold(0u16, |n, &d| n * 10 + u16::from(d - b'0'));
            if !(2..=5).contains(&(n / 100)) || (n / 10) % 10 > 5 {
                v.push(Violation::CodeOutOfRange {
                    line: line_no,
                    code: n,
                });
            }
            if let Some(prev) = self.lines.last().and_then(|l| l.code)
                && prev != n
            {
                v.push(Violation::CodeChanged {
                    line: line_no,
                    expected: prev,
                    found: n,
                });
            }
            match content.get(3) {
                None | Some(b' ') => {}
                Some(b'-') => continues = true,
                Some(&other) => v.push(Violation::MissingSeparator {
                    line: line_no,
                    found: other,
                }),
            }
            code = Some(n);
            if let Some(text) = content.get(4..) {
                enhanced = EnhancedCode::parse_prefix(text);
                if let Some(e) = enhanced
                    && u16::from(e.class) != n / 100
                {
                    v.push(Violation::EnhancedClassMismatch { line: line_no });
                }
            }
        }
        // A line cut at the length limit cannot say whether more lines follow; ending the
        // reply there keeps memory bounded and the session moving.
        if ending == LineEnding::None {
            continues = false;
        }
        ReplyLine {
            raw,
            ending,
            code,
            enhanced,
            continues,
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// Feeds `input` in chunks of the given sizes (cycled) and collects every reply plus the
    /// bytes left after the last complete reply.
    fn parse_chunked(input: &[u8], chunk: usize, limits: ReplyLimits) -> (Vec<Reply>, u64) {
        let mut parser = ReplyParser::new(limits);
        let mut replies = Vec::new();
        let mut discarded = 0;
        for piece in input.chunks(chunk.max(1)) {
            let mut rest = piece;
            loop {
                let fed = parser.feed(rest);
                discarded += fed.discarded;
                if let Some(r) = fed.reply {
                    replies.push(r);
                }
                rest = &rest[fed.consumed..];
                if rest.is_empty() {
                    break;
                }
            }
        }
        if let Some(r) = parser.finish() {
            replies.push(r);
        }
        (replies, discarded)
    }

    fn parse_all(input: &[u8]) -> Vec<Reply> {
        parse_chunked(input, input.len().max(1), ReplyLimits::default()).0
    }

    struct Case {
        input: &'static [u8],
        codes: &'static [Option<u16>],
        lines: &'static [usize],
        violations: &'static [&'static [&'static str]],
    }

    fn kinds(r: &Reply) -> Vec<String> {
        r.violations
            .iter()
            .map(|v| {
                serde_json::to_value(v)
                    .ok()
                    .and_then(|j| j.get("kind").and_then(|k| k.as_str()).map(String::from))
                    .unwrap_or_default()
            })
            .collect()
    }

    const CASES: &[Case] = &[
        Case {
            input: b"220 mail.example ESMTP\r\n",
            codes: &[Some(220)],
            lines: &[1],
            violations: &[&[]],
        },
        Case {
            input: b"250-mail.example\r\n250-PIPELINING\r\n250 8BITMIME\r\n",
            codes: &[Some(250)],
            lines: &[3],
            violations: &[&[]],
        },
        Case {
            input: b"250 ok\r\n554 5.7.1 <x@y>: Relay access denied\r\n",
            codes: &[Some(250), Some(554)],
            lines: &[1, 1],
            violations: &[&[], &[]],
        },
        Case {
            input: b"250\r\n",
            codes: &[Some(250)],
            lines: &[1],
            violations: &[&[]],
        },
        Case {
            input: b"250-first\r\n550 second\r\n",
            codes: &[Some(550)],
            lines: &[2],
            violations: &[&["code-changed"]],
        },
        Case {
            input: b"abc hello\r\n",
            codes: &[None],
            lines: &[1],
            violations: &[&["non-digit-code"]],
        },
        Case {
            input: b"999 what\r\n",
            codes: &[Some(999)],
            lines: &[1],
            violations: &[&["code-out-of-range"]],
        },
        Case {
            input: b"2500 ok\r\n",
            codes: &[Some(250)],
            lines: &[1],
            violations: &[&["missing-separator"]],
        },
        Case {
            input: b"250 ok\n250 again\r\n",
            codes: &[Some(250), Some(250)],
            lines: &[1, 1],
            violations: &[&["bare-lf"], &[]],
        },
        Case {
            input: b"250 ok\r250 again\r\n",
            codes: &[Some(250), Some(250)],
            lines: &[1, 1],
            violations: &[&["bare-cr"], &[]],
        },
        Case {
            input: b"250 caf\xe9\r\n",
            codes: &[Some(250)],
            lines: &[1],
            violations: &[&["invalid-utf8"]],
        },
        Case {
            input: b"250 a\x00b\r\n",
            codes: &[Some(250)],
            lines: &[1],
            violations: &[&["nul"]],
        },
        Case {
            input: b"25\r\n",
            codes: &[None],
            lines: &[1],
            violations: &[&["too-short"]],
        },
        Case {
            input: b"250 2.1.0 Ok\r\n",
            codes: &[Some(250)],
            lines: &[1],
            violations: &[&[]],
        },
        Case {
            input: b"250 5.7.1 odd\r\n",
            codes: &[Some(250)],
            lines: &[1],
            violations: &[&["enhanced-class-mismatch"]],
        },
        Case {
            input: b"250-unterminated",
            codes: &[Some(250)],
            lines: &[1],
            violations: &[&["incomplete"]],
        },
    ];

    #[test]
    fn a_multi_line_reply_is_quoted_whole() {
        let exim = parse_all(
            b"550-5.7.1 Relaying to <evil.test> is not permitted for alice@lab.test (lab\r\n\
              550 policy: partner.test only)\r\n",
        );
        assert_eq!(
            exim[0].summary(),
            "550 5.7.1 Relaying to <evil.test> is not permitted for alice@lab.test \
             (lab policy: partner.test only)"
        );
        // An enhanced code repeated on every line is quoted once.
        let repeated = parse_all(b"550-5.7.1 first part\r\n550 5.7.1 second part\r\n");
        assert_eq!(repeated[0].summary(), "550 5.7.1 first part second part");
        let single = parse_all(b"554 5.7.1 <x@y>: Relay access denied\r\n");
        assert_eq!(single[0].summary(), "554 5.7.1 <x@y>: Relay access denied");
        let mut long = Vec::new();
        for _ in 0..100 {
            long.extend_from_slice(b"550-");
            long.extend_from_slice(&[b'x'; 60]);
            long.extend_from_slice(b"\r\n");
        }
        long.extend_from_slice(b"550 end\r\n");
        let long = parse_all(&long);
        let s = long[0].summary();
        assert!(s.chars().count() <= SUMMARY_MAX + 2, "{}", s.len());
        assert!(s.ends_with(" …"));
    }

    #[test]
    fn table_parses_identically_at_every_chunk_size() {
        for case in CASES {
            let whole = parse_all(case.input);
            assert_eq!(
                whole.len(),
                case.codes.len(),
                "{:?}",
                case.input.escape_ascii().to_string()
            );
            for (i, r) in whole.iter().enumerate() {
                assert_eq!(
                    r.code(),
                    case.codes[i],
                    "case {}",
                    case.input.escape_ascii()
                );
                assert_eq!(
                    r.lines.len(),
                    case.lines[i],
                    "case {}",
                    case.input.escape_ascii()
                );
                assert_eq!(
                    kinds(r),
                    case.violations[i],
                    "case {}",
                    case.input.escape_ascii()
                );
            }
            let raw: Vec<u8> = whole.iter().flat_map(Reply::raw).collect();
            assert_eq!(raw, case.input, "bytes are kept exactly");
            for chunk in 1..=case.input.len() {
                let (split, _) = parse_chunked(case.input, chunk, ReplyLimits::default());
                assert_eq!(
                    split,
                    whole,
                    "chunk size {chunk} for {}",
                    case.input.escape_ascii()
                );
            }
        }
    }

    #[test]
    fn every_split_point_gives_the_same_replies() {
        let input = b"220 hi\r\n250-a\r\n250-b\n250 c\r\n334 VXNlcm5hbWU6\r\n";
        let whole = parse_all(input);
        for cut in 0..=input.len() {
            let mut parser = ReplyParser::default();
            let mut replies = Vec::new();
            for part in [&input[..cut], &input[cut..]] {
                let mut rest = part;
                while !rest.is_empty() {
                    let fed = parser.feed(rest);
                    replies.extend(fed.reply);
                    rest = &rest[fed.consumed..];
                }
            }
            assert_eq!(replies, whole, "cut at {cut}");
        }
    }

    #[test]
    fn enhanced_codes_are_parsed_per_line() {
        let r = &parse_all(b"554 5.7.1 <a@b>: Relay access denied\r\n")[0];
        assert_eq!(
            r.enhanced(),
            Some(EnhancedCode {
                class: 5,
                subject: 7,
                detail: 1
            })
        );
        assert_eq!(r.text(), "5.7.1 <a@b>: Relay access denied");
        assert_eq!(parse_all(b"250 1.2.3 x\r\n")[0].enhanced(), None);
        assert_eq!(parse_all(b"250 2.1234.0 x\r\n")[0].enhanced(), None);
        assert_eq!(
            parse_all(b"250 2.0.0\r\n")[0]
                .enhanced()
                .map(|e| e.to_string()),
            Some("2.0.0".into())
        );
        assert_eq!(EnhancedCode::parse("5.7.1").map(|e| e.subject), Some(7));
        assert_eq!(EnhancedCode::parse("5.7"), None);
    }

    #[test]
    fn stops_right_after_a_reply_so_trailing_bytes_are_visible() {
        let mut parser = ReplyParser::default();
        let input = b"220 Ready to start TLS\r\n250-evil\r\n250 AUTH LOGIN\r\n";
        let fed = parser.feed(input);
        assert_eq!(fed.reply.map(|r| r.code()), Some(Some(220)));
        assert_eq!(&input[fed.consumed..], b"250-evil\r\n250 AUTH LOGIN\r\n");
        assert!(!parser.in_progress());
    }

    #[test]
    fn bare_cr_reply_does_not_consume_the_next_byte() {
        let mut parser = ReplyParser::default();
        let fed = parser.feed(b"220 x\rZ");
        assert_eq!(fed.consumed, 6);
        assert!(fed.reply.is_some());
    }

    #[test]
    fn over_long_line_ends_the_reply_and_counts_the_rest() {
        let limits = ReplyLimits {
            max_line: 100,
            max_lines: 10,
        };
        let mut input = b"250 ".to_vec();
        input.extend(std::iter::repeat_n(b'x', 1000));
        input.extend(b"\r\n221 bye\r\n");
        for chunk in [1, 7, 100, 2000] {
            let (replies, discarded) = parse_chunked(&input, chunk, limits);
            assert_eq!(replies.len(), 2, "chunk {chunk}");
            assert_eq!(replies[0].raw().len(), 100);
            assert_eq!(kinds(&replies[0]), ["line-limit"]);
            assert_eq!(discarded, 1004 + 2 - 100);
            assert_eq!(replies[1].code(), Some(221));
        }
    }

    #[test]
    fn endless_continuation_lines_stay_bounded() {
        let limits = ReplyLimits {
            max_line: 1000,
            max_lines: 5,
        };
        let mut input = Vec::new();
        for _ in 0..50 {
            input.extend(b"250-more\r\n");
        }
        input.extend(b"250 end\r\n220 next\r\n");
        let (replies, discarded) = parse_chunked(&input, 3, limits);
        assert_eq!(replies.len(), 2);
        assert_eq!(replies[0].lines.len(), 5);
        assert_eq!(kinds(&replies[0]), ["too-many-lines"]);
        assert_eq!(discarded, 45 * 10 + 9);
        assert_eq!(replies[1].code(), Some(220));
    }

    #[test]
    fn a_final_line_ending_in_cr_then_silence_is_a_complete_reply_with_a_bare_cr() {
        let mut p = ReplyParser::default();
        assert!(
            p.feed(b"220 hi\r").reply.is_none(),
            "the CR alone cannot decide yet"
        );
        let r = p.finish().expect("reply");
        assert_eq!(r.code(), Some(220));
        assert!(r.has_bare_cr());
        assert!(!r.violations.contains(&Violation::Incomplete));
        let mut p = ReplyParser::default();
        p.feed(b"250-more\r");
        let r = p.finish().expect("reply");
        assert!(
            r.violations.contains(&Violation::Incomplete),
            "a continuation line is not an end"
        );
    }

    #[test]
    fn invalid_codes_are_not_actionable() {
        for wire in [
            &b"999 what\r\n"[..],
            b"abc x\r\n",
            b"2500 ok\r\n",
            b"25\r\n",
        ] {
            let r = ReplyParser::default().feed(wire).reply.expect("reply");
            assert!(!r.has_valid_code(), "{}", wire.escape_ascii());
        }
        let ok = ReplyParser::default()
            .feed(b"250 ok\n")
            .reply
            .expect("reply");
        assert!(
            ok.has_valid_code(),
            "a bare LF is a violation, but the code is fine"
        );
    }

    #[test]
    fn finish_without_data_is_none() {
        assert!(ReplyParser::default().finish().is_none());
    }

    #[test]
    fn line_over_512_is_flagged_but_kept() {
        let mut input = b"250 ".to_vec();
        input.extend(std::iter::repeat_n(b'a', 600));
        input.extend(b"\r\n");
        let r = &parse_all(&input)[0];
        assert_eq!(r.raw(), input);
        assert_eq!(kinds(r), ["line-over512"]);
    }

    mod props {
        use super::*;
        use proptest::prelude::*;

        fn line_text() -> impl Strategy<Value = String> {
            "[ -~]{0,80}"
        }

        proptest! {
            /// Well-formed replies survive serialisation and any chunking unchanged.
            #[test]
            fn round_trip(code in 200u16..=559, texts in prop::collection::vec(line_text(), 1..6), chunk in 1usize..40) {
                prop_assume!((code / 10) % 10 <= 5);
                let mut wire = Vec::new();
                for (i, t) in texts.iter().enumerate() {
                    let sep = if i + 1 == texts.len() { ' ' } else { '-' };
                    wire.extend(format!("{code}{sep}{t}\r\n").into_bytes());
                }
                let (replies, _) = parse_chunked(&wire, chunk, ReplyLimits::default());
                prop_assert_eq!(replies.len(), 1);
                let r = &replies[0];
                prop_assert_eq!(r.code(), Some(code));
                prop_assert!(r.violations.is_empty());
                let got: Vec<String> = r.lines.iter().map(ReplyLine::text).collect();
                prop_assert_eq!(got, texts);
                prop_assert_eq!(r.raw(), wire);
            }

            /// Arbitrary bytes never panic, are never lost and never grow memory past the limits.
            #[test]
            fn arbitrary_bytes_are_kept_or_counted(input in prop::collection::vec(any::<u8>(), 0..600), chunk in 1usize..64) {
                let limits = ReplyLimits { max_line: 64, max_lines: 4 };
                let (replies, discarded) = parse_chunked(&input, chunk, limits);
                let kept: usize = replies.iter().map(|r| r.raw().len()).sum();
                prop_assert_eq!(kept as u64 + discarded, input.len() as u64);
                for r in &replies {
                    prop_assert!(r.lines.len() <= 4);
                    for l in &r.lines { prop_assert!(l.raw.len() <= 64 + 2); }
                }
                let (whole, _) = parse_chunked(&input, input.len().max(1), limits);
                prop_assert_eq!(replies, whole);
            }
        }
    }
}
