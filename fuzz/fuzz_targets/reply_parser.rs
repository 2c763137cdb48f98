//! ReplyParser: arbitrary bytes, fed in arbitrary chunks.
//!
//! Input layout: byte 0 = N (low 4 bits: how many chunk-size bytes follow; 0 means 1-byte
//! chunks), bit 4 = use small limits; byte 1 = the small limits (max_line 1..=128 and
//! max_lines 1..=8, both raised by the parser to its own minimums); then N chunk sizes
//! (0..=255, cycled, 0 = an empty feed); the rest is what the server sent.
//!
//! Invariants: no panic; every feed makes progress; kept bytes + discarded bytes == input
//! length (and kept == input when nothing was discarded); no line longer than max_line + 2 and
//! no reply with more than max_lines lines; line endings match the raw bytes; the replies and
//! the discard count are the same whatever the chunking (compared with one-shot feeding and
//! with 1-byte feeding).

#![no_main]

use libfuzzer_sys::fuzz_target;
use smtpscope::smtp::reply::{
    EnhancedCode, LineEnding, Reply, ReplyLimits, ReplyParser, Violation,
};

struct Run {
    replies: Vec<Reply>,
    discarded: u64,
}

/// Feeds `input` in pieces whose sizes cycle through `sizes`, then finishes.
fn run(input: &[u8], sizes: &[usize], limits: ReplyLimits) -> Run {
    let mut parser = ReplyParser::new(limits);
    let mut replies = Vec::new();
    let mut discarded = 0u64;
    let mut pos = 0;
    let mut turn = 0;
    while pos < input.len() {
        let size = sizes[turn % sizes.len()];
        turn += 1;
        let piece = &input[pos..(pos + size).min(input.len())];
        pos += piece.len();
        let mut rest = piece;
        // An empty piece must be a no-op.
        if rest.is_empty() {
            let fed = parser.feed(rest);
            assert_eq!(fed.consumed, 0, "an empty feed consumed bytes");
            assert!(fed.reply.is_none(), "an empty feed produced a reply");
            assert_eq!(fed.discarded, 0, "an empty feed discarded bytes");
            continue;
        }
        let mut stalls = 0;
        while !rest.is_empty() {
            let fed = parser.feed(rest);
            assert!(
                fed.consumed <= rest.len(),
                "consumed more than it was given"
            );
            assert!(
                fed.discarded <= fed.consumed as u64,
                "discarded {} of {} consumed bytes",
                fed.discarded,
                fed.consumed
            );
            if fed.consumed == 0 {
                // Allowed once, only when a bare CR ended the reply and the next byte was left
                // for the next reply.
                assert!(
                    fed.reply.is_some(),
                    "feed consumed nothing and returned no reply"
                );
                stalls += 1;
                assert!(stalls < 2, "feed made no progress twice in a row");
            } else {
                stalls = 0;
            }
            if fed.reply.is_none() {
                assert_eq!(fed.consumed, rest.len(), "stopped early without a reply");
            }
            discarded += fed.discarded;
            replies.extend(fed.reply);
            rest = &rest[fed.consumed..];
        }
        assert_eq!(
            parser.discarded_total(),
            discarded,
            "discarded_total disagrees"
        );
    }
    replies.extend(parser.finish());
    assert!(!parser.in_progress(), "in progress after finish");
    assert!(
        parser.finish().is_none(),
        "a second finish returned a reply"
    );
    Run { replies, discarded }
}

fn check_reply(reply: &Reply, limits: ReplyLimits) {
    // The parser raises limits to these minimums.
    let max_line = limits.max_line.max(8);
    let max_lines = limits.max_lines.max(1);
    assert!(!reply.lines.is_empty(), "a reply without lines");
    assert!(
        reply.lines.len() <= max_lines,
        "{} lines > {max_lines}",
        reply.lines.len()
    );
    let last = reply.lines.len() - 1;
    let ended_by_limit_or_eof = reply
        .violations
        .iter()
        .any(|v| matches!(v, Violation::TooManyLines { .. } | Violation::Incomplete));
    for (i, line) in reply.lines.iter().enumerate() {
        assert!(
            line.raw.len() <= max_line + 2,
            "line of {} bytes, limit {max_line}",
            line.raw.len()
        );
        assert!(!line.raw.is_empty(), "an empty line");
        match line.ending {
            LineEnding::CrLf => assert!(line.raw.ends_with(b"\r\n")),
            LineEnding::Lf => assert!(line.raw.ends_with(b"\n") && !line.raw.ends_with(b"\r\n")),
            LineEnding::Cr => assert!(line.raw.ends_with(b"\r")),
            LineEnding::None => assert!(!line.raw.ends_with(b"\n")),
        }
        let content = line.content();
        assert!(!content.contains(&b'\n'), "LF inside a line's content");
        // A CR inside the content is only possible as the last byte of a line cut by the end
        // of input (finish() with a CR pending).
        if let Some(at) = content.iter().position(|&b| b == b'\r') {
            assert!(
                line.ending == LineEnding::None && at + 1 == content.len() && i == last,
                "CR inside a line's content"
            );
        }
        if let Some(code) = line.code {
            assert!(content.len() >= 3 && content[..3].iter().all(u8::is_ascii_digit));
            let digits = std::str::from_utf8(&content[..3])
                .ok()
                .and_then(|s| s.parse().ok());
            assert_eq!(digits, Some(code));
            assert!(line.text_bytes().len() <= content.len());
        } else {
            assert!(
                line.enhanced.is_none(),
                "an enhanced code without a reply code"
            );
            assert!(!line.continues, "a continuation line without a code");
        }
        if let Some(e) = line.enhanced {
            let shown = e.to_string();
            assert_eq!(
                EnhancedCode::parse(&shown),
                Some(e),
                "enhanced code {shown}"
            );
            assert!(matches!(e.class, 2 | 4 | 5) && e.subject <= 999 && e.detail <= 999);
        }
        if i < last {
            assert!(
                line.continues,
                "line {} of {} does not continue",
                i + 1,
                last + 1
            );
        } else if line.continues {
            assert!(ended_by_limit_or_eof, "the last line continues");
        }
        let _ = line.text();
    }
    // Accessors must not panic and must agree with each other.
    let code = reply.code();
    assert_eq!(code, reply.lines[last].code);
    assert_eq!(reply.class(), code.map_or(0, |c| (c / 100) as u8));
    assert_eq!(reply.is_positive(), reply.class() == 2);
    assert_eq!(reply.is_intermediate(), reply.class() == 3);
    assert_eq!(reply.is_malformed(), !reply.violations.is_empty());
    let _ = reply.enhanced();
    let _ = reply.text();
    let _ = reply.summary();
    for v in &reply.violations {
        assert!(!v.to_string().is_empty());
    }
}

fuzz_target!(|data: &[u8]| {
    let Some((&head, rest)) = data.split_first() else {
        return;
    };
    let Some((&limit_byte, rest)) = rest.split_first() else {
        return;
    };
    let n = usize::from(head & 0x0f);
    if rest.len() < n {
        return;
    }
    let (size_bytes, input) = rest.split_at(n);
    let mut sizes: Vec<usize> = size_bytes.iter().map(|&b| usize::from(b)).collect();
    if sizes.iter().all(|&s| s == 0) {
        // Only empty feeds would never get anywhere; add a real one.
        sizes.push(1);
    }
    let limits = if head & 0x10 != 0 {
        ReplyLimits {
            max_line: usize::from(limit_byte & 0x7f) + 1,
            max_lines: usize::from(limit_byte >> 5) + 1,
        }
    } else {
        ReplyLimits::default()
    };

    let chunked = run(input, &sizes, limits);
    let whole = run(input, &[input.len().max(1)], limits);
    let bytewise = run(input, &[1], limits);

    for reply in &whole.replies {
        check_reply(reply, limits);
    }
    let kept: Vec<u8> = whole.replies.iter().flat_map(Reply::raw).collect();
    assert_eq!(
        kept.len() as u64 + whole.discarded,
        input.len() as u64,
        "kept {} + discarded {} != input {}",
        kept.len(),
        whole.discarded,
        input.len()
    );
    if whole.discarded == 0 {
        assert_eq!(
            kept, input,
            "nothing discarded, but the kept bytes differ from the input"
        );
    }
    assert_eq!(
        chunked.replies, whole.replies,
        "chunking {sizes:?} changed the replies"
    );
    assert_eq!(
        chunked.discarded, whole.discarded,
        "chunking changed the discard count"
    );
    assert_eq!(
        bytewise.replies, whole.replies,
        "1-byte feeding changed the replies"
    );
    assert_eq!(
        bytewise.discarded, whole.discarded,
        "1-byte feeding changed the discard count"
    );
});
