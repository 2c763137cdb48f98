//! Capabilities::from_ehlo_lines on arbitrary lines, then every accessor.
//!
//! Input layout: byte 0 is the line separator, the rest is split on it into lines (so any
//! byte, CR and LF included, can appear inside a line for some separator). The first line is
//! the greeting.

#![no_main]

use libfuzzer_sys::fuzz_target;
use smtpscope::smtp::capabilities::{Capabilities, keyword_meaning};

fuzz_target!(|data: &[u8]| {
    let Some((&sep, rest)) = data.split_first() else {
        return;
    };
    let lines: Vec<&[u8]> = if rest.is_empty() {
        Vec::new()
    } else {
        rest.split(|&b| b == sep).collect()
    };
    let c = Capabilities::from_ehlo_lines(lines.iter().copied());

    // Every line is kept: the greeting plus one entry per further line.
    assert_eq!(c.entries.len(), lines.len().saturating_sub(1));
    assert_eq!(c.greeting, c.greeting.trim());
    if lines.is_empty() {
        assert_eq!(c, Capabilities::default());
    }

    for (i, e) in c.entries.iter().enumerate() {
        let tokens: Vec<&str> = e.raw.split_ascii_whitespace().collect();
        assert_eq!(tokens.first().copied().unwrap_or(""), e.keyword);
        assert_eq!(tokens.get(1..).unwrap_or(&[]), e.params.as_slice());
        assert!(!e.raw.ends_with('\n') && !e.raw.ends_with('\r'));
        // The raw text is the line, lossily decoded, minus trailing CR/LF.
        let mut line = lines[i + 1];
        while let [head @ .., b'\r' | b'\n'] = line {
            line = head;
        }
        assert_eq!(e.raw, String::from_utf8_lossy(line));

        let meaning = e.meaning();
        assert_eq!(e.is_known(), meaning.is_some());
        assert_eq!(meaning, keyword_meaning(&e.keyword));
        assert_eq!(meaning, keyword_meaning(&e.keyword.to_ascii_lowercase()));
        assert_eq!(meaning, keyword_meaning(&e.keyword.to_ascii_uppercase()));
        if e.is_well_formed() {
            // RFC 5321 §4.1.1.1: keyword and params separated by single SPs (fuzz finding F1,
            // fixed in 2ef30c9: TAB, LF, FF and CR were taken as separators).
            assert!(!e.keyword.is_empty());
            assert!(e.raw.bytes().all(|b| (32..=126).contains(&b)));
            assert!(!e.raw.contains("  ") && !e.raw.starts_with(' ') && !e.raw.ends_with(' '));
        }
        // The first entry with a keyword is the one `get` finds.
        assert!(c.has(&e.keyword));
        let first = c.get(&e.keyword).map(|f| f as *const _);
        let expected = c
            .entries
            .iter()
            .find(|f| f.keyword.eq_ignore_ascii_case(&e.keyword))
            .map(|f| f as *const _);
        assert_eq!(first, expected);
        for p in &e.params {
            if let Some((key, _)) = p.split_once('=') {
                let _ = c.limit(key);
            }
        }
    }

    let mechanisms = c.auth_mechanisms();
    for (i, m) in mechanisms.iter().enumerate() {
        assert!(!m.is_empty());
        assert_eq!(&m.to_ascii_uppercase(), m);
        assert!(!mechanisms[i + 1..].contains(m));
        assert!(!m.contains(|ch: char| ch.is_ascii_whitespace()));
    }
    let size = c.size_limit();
    assert_ne!(size, Some(0));
    if size.is_some() {
        assert!(c.has("SIZE"));
    }
    for name in ["RCPTMAX", "MAILMAX", "RCPTDOMAINMAX", ""] {
        if c.limit(name).is_some() {
            assert!(c.has("LIMITS"));
        }
    }
    assert_eq!(c.starttls(), c.has("STARTTLS"));
    assert_eq!(c.pipelining(), c.has("PIPELINING"));
    assert_eq!(c.chunking(), c.has("CHUNKING"));
    assert_eq!(c.smtputf8(), c.has("SMTPUTF8"));
    assert_eq!(c.eight_bit_mime(), c.has("8BITMIME"));
    assert_eq!(c.dsn(), c.has("DSN"));
    assert_eq!(c.requiretls(), c.has("REQUIRETLS"));
    assert_eq!(c.enhanced_status_codes(), c.has("ENHANCEDSTATUSCODES"));
    let _ = c.clone() == c;
});
