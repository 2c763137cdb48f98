#![allow(clippy::expect_used, clippy::unwrap_used)] // test code: a broken property should panic loudly

//! Property tests for the parsers that take untrusted input: the reply parser, EHLO
//! capabilities, profile TOML and the raw-escape parser of the TUI's manual mode. They mirror
//! the fuzz targets in fuzz/ (see FUZZING.md) with bounded sizes, so the file runs in seconds.
//! The unit tests next to the code already cover plain round trips and uniform random bytes;
//! these add enhanced codes, back-to-back replies, arbitrary chunk sequences, structured
//! garbage, the EHLO path through the reply parser, generated profiles and escapes.

use std::path::Path;

use proptest::prelude::*;
use smtpscope::net::TlsMode;
use smtpscope::profile::{AuthConfig, Profile, RelayAddresses, Verify};
use smtpscope::scenario::model::unescape;
use smtpscope::smtp::auth::Mechanism;
use smtpscope::smtp::capabilities::Capabilities;
use smtpscope::smtp::command::escape_bytes;
use smtpscope::smtp::reply::{EnhancedCode, LineEnding, Reply, ReplyLimits, ReplyParser};

// ---------------------------------------------------------------------------------------------
// Reply parser

/// Feeds `input` in pieces whose sizes cycle through `sizes` (0 = an empty feed), then finishes.
/// Returns the replies and the bytes discarded.
fn feed_in_pieces(input: &[u8], sizes: &[usize], limits: ReplyLimits) -> (Vec<Reply>, u64) {
    assert!(sizes.iter().any(|&s| s > 0));
    let mut parser = ReplyParser::new(limits);
    let mut replies = Vec::new();
    let mut discarded = 0;
    let mut pos = 0;
    for &size in sizes.iter().cycle() {
        if pos >= input.len() {
            break;
        }
        let end = (pos + size).min(input.len());
        let mut rest = &input[pos..end];
        pos = end;
        if rest.is_empty() {
            let fed = parser.feed(rest);
            assert_eq!(fed.consumed, 0);
            assert!(fed.reply.is_none());
            continue;
        }
        let mut stalled = false;
        while !rest.is_empty() {
            let fed = parser.feed(rest);
            assert!(fed.consumed <= rest.len());
            if fed.consumed == 0 {
                // Only a reply ended by a bare CR leaves the next byte unconsumed, and only once.
                assert!(fed.reply.is_some() && !stalled, "feed made no progress");
                stalled = true;
            } else {
                stalled = false;
            }
            discarded += fed.discarded;
            replies.extend(fed.reply);
            rest = &rest[fed.consumed..];
        }
    }
    replies.extend(parser.finish());
    assert!(!parser.in_progress());
    assert_eq!(parser.discarded_total(), discarded);
    (replies, discarded)
}

fn chunk_sizes() -> impl Strategy<Value = Vec<usize>> {
    prop::collection::vec(0usize..48, 1..8).prop_map(|mut v| {
        if v.iter().all(|&s| s == 0) {
            v.push(1);
        }
        v
    })
}

/// A reply code RFC 5321 §4.2 allows: first digit 2-5, second 0-5.
fn reply_code() -> impl Strategy<Value = u16> {
    (2u16..=5, 0u16..=5, 0u16..=9).prop_map(|(a, b, c)| a * 100 + b * 10 + c)
}

#[derive(Debug, Clone)]
struct GenLine {
    /// Subject and detail of the line's enhanced code, if it has one (the class follows the
    /// reply code).
    enhanced: Option<(u16, u16)>,
    /// Starts with a letter so it can never be read as an enhanced code.
    text: String,
}

fn gen_line() -> impl Strategy<Value = GenLine> {
    (
        prop::option::of((0u16..=999, 0u16..=999)),
        "[A-Za-z<][ -~]{0,60}",
    )
        .prop_map(|(enhanced, text)| GenLine { enhanced, text })
}

#[derive(Debug, Clone)]
struct GenReply {
    code: u16,
    lines: Vec<GenLine>,
}

fn gen_reply() -> impl Strategy<Value = GenReply> {
    (reply_code(), prop::collection::vec(gen_line(), 1..6))
        .prop_map(|(code, lines)| GenReply { code, lines })
}

impl GenReply {
    /// RFC 3463 §2: enhanced codes have class 2, 4 or 5, so 3xx lines get none.
    fn enhanced(&self, line: &GenLine) -> Option<EnhancedCode> {
        let class = self.code / 100;
        line.enhanced
            .filter(|_| class != 3)
            .map(|(subject, detail)| EnhancedCode {
                class: class as u8,
                subject,
                detail,
            })
    }

    /// The text after "NNN-" / "NNN " on each line.
    fn texts(&self) -> Vec<String> {
        self.lines
            .iter()
            .map(|l| match self.enhanced(l) {
                Some(e) => format!("{e} {}", l.text),
                None => l.text.clone(),
            })
            .collect()
    }

    fn wire(&self) -> Vec<u8> {
        let texts = self.texts();
        let mut wire = Vec::new();
        for (i, t) in texts.iter().enumerate() {
            let sep = if i + 1 == texts.len() { ' ' } else { '-' };
            wire.extend(format!("{}{sep}{t}\r\n", self.code).into_bytes());
        }
        wire
    }
}

/// Bytes that matter to the reply grammar, often, plus anything else now and then.
fn structured_garbage() -> impl Strategy<Value = Vec<u8>> {
    let byte = prop_oneof![
        4 => b'0'..=b'9',
        2 => Just(b'-'),
        2 => Just(b' '),
        3 => Just(b'\r'),
        3 => Just(b'\n'),
        1 => Just(b'.'),
        1 => Just(0u8),
        2 => any::<u8>(),
    ];
    prop::collection::vec(byte, 0..300)
}

proptest! {
    #![proptest_config(ProptestConfig::with_cases(64))]

    /// Back-to-back valid multi-line replies with random enhanced codes come out exactly as sent,
    /// whatever the chunking: code, every line's enhanced code and text, the raw bytes, and no
    /// violations.
    #[test]
    fn valid_replies_with_enhanced_codes_round_trip(
        generated in prop::collection::vec(gen_reply(), 1..4),
        sizes in chunk_sizes(),
    ) {
        let wire: Vec<u8> = generated.iter().flat_map(GenReply::wire).collect();
        let (replies, discarded) = feed_in_pieces(&wire, &sizes, ReplyLimits::default());
        prop_assert_eq!(discarded, 0);
        prop_assert_eq!(replies.len(), generated.len());
        for (r, g) in replies.iter().zip(&generated) {
            prop_assert!(r.violations.is_empty(), "{:?}", r.violations);
            prop_assert_eq!(r.code(), Some(g.code));
            prop_assert_eq!(r.class(), (g.code / 100) as u8);
            prop_assert_eq!(r.raw(), g.wire());
            prop_assert_eq!(r.lines.len(), g.lines.len());
            let texts: Vec<String> = r.lines.iter().map(|l| l.text()).collect();
            prop_assert_eq!(texts, g.texts());
            for (line, gl) in r.lines.iter().zip(&g.lines) {
                prop_assert_eq!(line.ending, LineEnding::CrLf);
                prop_assert_eq!(line.code, Some(g.code));
                prop_assert_eq!(line.enhanced, g.enhanced(gl));
            }
            let first_enhanced = g.lines.iter().find_map(|l| g.enhanced(l));
            prop_assert_eq!(r.enhanced(), first_enhanced);
            if let Some(e) = first_enhanced {
                prop_assert_eq!(EnhancedCode::parse(&e.to_string()), Some(e));
            }
        }
    }

    /// Structured garbage under small, random limits: no panic, every byte kept or counted,
    /// lines and replies bounded, endings consistent with the bytes, and the same replies
    /// whatever the chunk sequence (compared with one-shot and 1-byte feeding).
    #[test]
    fn garbage_is_bounded_accounted_and_split_invariant(
        input in structured_garbage(),
        sizes in chunk_sizes(),
        max_line in 1usize..80,
        max_lines in 1usize..6,
    ) {
        let limits = ReplyLimits { max_line, max_lines };
        let (replies, discarded) = feed_in_pieces(&input, &sizes, limits);
        let kept: Vec<u8> = replies.iter().flat_map(Reply::raw).collect();
        prop_assert_eq!(kept.len() as u64 + discarded, input.len() as u64);
        if discarded == 0 {
            prop_assert_eq!(&kept, &input);
        }
        let (max_line, max_lines) = (max_line.max(8), max_lines.max(1));
        for r in &replies {
            prop_assert!(!r.lines.is_empty());
            prop_assert!(r.lines.len() <= max_lines);
            prop_assert_eq!(r.is_malformed(), !r.violations.is_empty());
            for (i, l) in r.lines.iter().enumerate() {
                prop_assert!(l.raw.len() <= max_line + 2, "{} > {}", l.raw.len(), max_line + 2);
                prop_assert!(!l.content().contains(&b'\n'));
                match l.ending {
                    LineEnding::CrLf => prop_assert!(l.raw.ends_with(b"\r\n")),
                    LineEnding::Lf => prop_assert!(l.raw.ends_with(b"\n") && !l.raw.ends_with(b"\r\n")),
                    LineEnding::Cr => prop_assert!(l.raw.ends_with(b"\r")),
                    LineEnding::None => prop_assert!(!l.raw.ends_with(b"\n")),
                }
                if i + 1 < r.lines.len() {
                    prop_assert!(l.continues);
                }
            }
            let _ = (r.summary(), r.text(), r.enhanced());
            for v in &r.violations {
                prop_assert!(!v.to_string().is_empty());
            }
        }
        let (whole, whole_discarded) = feed_in_pieces(&input, &[input.len().max(1)], limits);
        prop_assert_eq!(&replies, &whole);
        prop_assert_eq!(discarded, whole_discarded);
        let (bytewise, _) = feed_in_pieces(&input, &[1], limits);
        prop_assert_eq!(&replies, &bytewise);
    }
}

// ---------------------------------------------------------------------------------------------
// EHLO capabilities, through the reply parser as the session sees them

fn ehlo_line() -> impl Strategy<Value = String> {
    prop_oneof![
        3 => "[A-Z0-9][A-Z0-9-]{0,12}( [!-~]{1,10}){0,3}",
        1 => "[ -~]{0,40}",
        1 => "(AUTH|auth|AUTH=[A-Z]{0,6})( [A-Za-z0-9-]{0,10}){0,4}",
        1 => "(SIZE|size|LIMITS)( [0-9A-Z=+-]{0,22}){0,2}",
    ]
}

proptest! {
    #![proptest_config(ProptestConfig::with_cases(96))]

    /// An EHLO reply on the wire, parsed by the reply parser and then into capabilities, keeps
    /// every line: one entry per line after the greeting, each entry's raw text exactly that
    /// line's text, keyword and params its whitespace-separated tokens, and every entry found
    /// by its own keyword.
    #[test]
    fn ehlo_through_the_reply_parser_keeps_every_line(
        greeting in "[a-z0-9.-]{1,20}( [ -~]{0,20})?",
        lines in prop::collection::vec(ehlo_line(), 0..12),
        sizes in chunk_sizes(),
    ) {
        let mut wire = Vec::new();
        let all: Vec<&str> = std::iter::once(greeting.as_str()).chain(lines.iter().map(String::as_str)).collect();
        for (i, l) in all.iter().enumerate() {
            let sep = if i + 1 == all.len() { ' ' } else { '-' };
            wire.extend(format!("250{sep}{l}\r\n").into_bytes());
        }
        let (replies, _) = feed_in_pieces(&wire, &sizes, ReplyLimits::default());
        prop_assert_eq!(replies.len(), 1);
        let reply = &replies[0];
        prop_assert_eq!(reply.lines.len(), all.len());
        let caps = Capabilities::from_ehlo_lines(reply.lines.iter().map(|l| l.text_bytes()));
        prop_assert_eq!(caps.greeting.as_str(), greeting.trim());
        prop_assert_eq!(caps.entries.len(), lines.len());
        for (entry, line) in caps.entries.iter().zip(&lines) {
            prop_assert_eq!(&entry.raw, line);
            let tokens: Vec<&str> = line.split_ascii_whitespace().collect();
            prop_assert_eq!(entry.keyword.as_str(), tokens.first().copied().unwrap_or(""));
            prop_assert_eq!(entry.params.iter().map(String::as_str).collect::<Vec<_>>(), tokens.get(1..).unwrap_or(&[]).to_vec());
            prop_assert!(caps.has(&entry.keyword));
            prop_assert_eq!(entry.is_known(), entry.meaning().is_some());
        }
        let mechanisms = caps.auth_mechanisms();
        for (i, m) in mechanisms.iter().enumerate() {
            prop_assert!(!m.is_empty() && m.to_ascii_uppercase() == *m);
            prop_assert!(!mechanisms[i + 1..].contains(m));
        }
        prop_assert_ne!(caps.size_limit(), Some(0));
        let _ = (caps.starttls(), caps.pipelining(), caps.chunking(), caps.smtputf8(),
            caps.eight_bit_mime(), caps.dsn(), caps.requiretls(), caps.enhanced_status_codes(),
            caps.limit("RCPTMAX"));
    }
}

/// Regression for fuzz finding F1 (FUZZING.md): RFC 5321 §4.1.1.1 separates an EHLO keyword
/// from its parameters with single SPs, and `Capability::is_well_formed` says it insists on
/// them, but it takes any single ASCII whitespace byte. Fails until that is fixed.
#[test]
fn fuzz_f1_is_well_formed_rejects_non_space_separators() {
    // Minimised fuzz input: separator '|', then the lines "" (greeting) and "8\nA".
    let fuzz_input: &[u8] = b"||8\nA";
    let (&sep, rest) = fuzz_input.split_first().unwrap();
    let c = Capabilities::from_ehlo_lines(rest.split(|&b| b == sep));
    assert_eq!(c.entries[0].raw, "8\nA");
    assert!(
        !c.entries[0].is_well_formed(),
        "\"8\\nA\" is called well-formed"
    );
    // What a server can really send (a TAB survives the reply parser; so does a form feed).
    for line in [
        &b"SIZE\t100"[..],
        b"AUTH PLAIN\x0cLOGIN",
        b"8\nA",
        b"SIZE\r100",
    ] {
        let c = Capabilities::from_ehlo_lines([&b"mx.example"[..], line]);
        assert!(
            !c.entries[0].is_well_formed(),
            "{:?} is called well-formed, but its separator is not a single SP",
            c.entries[0].raw
        );
    }
    let c = Capabilities::from_ehlo_lines([&b"mx.example"[..], b"SIZE 100"]);
    assert!(c.entries[0].is_well_formed());
}

// ---------------------------------------------------------------------------------------------
// Profiles

/// Any text at all, control characters, quotes, backslashes and newlines included.
fn any_text() -> impl Strategy<Value = String> {
    prop_oneof![
        3 => "[ -~]{0,30}",
        1 => "\\PC{0,20}",
        1 => ".{0,20}",
        1 => "[\"'\\\\\n\r\t\u{0}\u{7f}#=\\[\\] ]{0,12}",
    ]
}

fn opt_text() -> impl Strategy<Value = Option<String>> {
    prop::option::of(any_text())
}

fn auth_config() -> impl Strategy<Value = AuthConfig> {
    (
        prop_oneof![
            Just(Mechanism::Plain),
            Just(Mechanism::Login),
            Just(Mechanism::CramMd5),
            Just(Mechanism::Xoauth2),
        ],
        any_text(),
        opt_text(),
        prop::option::of(prop::collection::vec(any_text(), 0..4)),
        opt_text(),
    )
        .prop_map(
            |(mechanism, username, password_env, password_command, password)| AuthConfig {
                mechanism,
                username,
                password_env,
                password_command,
                password,
            },
        )
}

fn relay_addresses() -> impl Strategy<Value = RelayAddresses> {
    (
        opt_text(),
        opt_text(),
        opt_text(),
        opt_text(),
        opt_text(),
        opt_text(),
        opt_text(),
    )
        .prop_map(|(a, b, c, d, e, f, g)| RelayAddresses {
            local_recipient: a,
            external_sender: b,
            external_recipient: c,
            approved_recipient: d,
            disallowed_recipient: e,
            other_local_sender: f,
            auth_sender: g,
        })
}

// `..Profile::default()` keeps this compiling when fields are added to Profile; until then
// clippy calls the update needless.
#[allow(clippy::needless_update)]
fn profile() -> impl Strategy<Value = Profile> {
    let head = (
        any_text().prop_filter("server must not be blank", |s| !s.trim().is_empty()),
        prop_oneof![
            Just(TlsMode::None),
            Just(TlsMode::Starttls),
            Just(TlsMode::Implicit)
        ],
        any::<bool>(),
        prop_oneof![
            Just(Verify::Platform),
            Just(Verify::Mozilla),
            Just(Verify::Insecure)
        ],
        prop::option::of(any_text()),
    );
    let tail = (
        opt_text(),
        opt_text(),
        prop::option::of(prop_oneof![
            0.001f64..100_000.0,
            Just(0.0),
            Just(-1.5),
            Just(f64::INFINITY),
            Just(1e300),
            Just(5e-324),
        ]),
        prop::option::of(auth_config()),
        relay_addresses(),
    );
    (head, tail).prop_map(
        |(
            (server, tls, require_tls, verify, ca_file),
            (tls_name, helo, timeout_secs, auth, relay),
        )| {
            Profile {
                server,
                tls,
                require_tls,
                verify,
                ca_file: ca_file.map(Into::into),
                tls_name,
                helo,
                timeout_secs,
                auth,
                relay,
                ..Profile::default()
            }
        },
    )
}

proptest! {
    #![proptest_config(ProptestConfig::with_cases(128))]

    /// A profile written with to_toml parses back to itself, less the plain `password`, which
    /// is read but never written; writing it again gives the same text.
    #[test]
    fn generated_profiles_round_trip_through_toml(p in profile()) {
        let path = Path::new("profiles/prop.toml");
        let text = p.to_toml().expect("a profile serialises");
        let back = Profile::parse(&text, path)
            .unwrap_or_else(|e| panic!("written profile does not parse: {e}\n{text}"));
        let mut expected = p.clone();
        if let Some(a) = expected.auth.as_mut() {
            a.password = None;
        }
        prop_assert_eq!(&back, &expected, "written:\n{}", text);
        prop_assert_eq!(back.to_toml().expect("serialises again"), text);
    }
}

// ---------------------------------------------------------------------------------------------
// Raw escapes (TUI manual mode, smuggling sequences)

proptest! {
    #![proptest_config(ProptestConfig::with_cases(256))]

    /// Whatever bytes the operator needs, escaping them with `escape_bytes` and typing the
    /// result gives exactly those bytes back; the escaped form is plain ASCII without CR, LF
    /// or NUL.
    #[test]
    fn unescape_inverts_escape_bytes(bytes in prop::collection::vec(any::<u8>(), 0..200)) {
        let escaped = escape_bytes(&bytes);
        prop_assert!(escaped.is_ascii());
        prop_assert!(!escaped.contains(['\r', '\n', '\0']));
        prop_assert_eq!(unescape(&escaped).expect("escape_bytes output unescapes"), bytes);
    }

    /// `unescape` never panics, even with multi-byte characters right after `\x`; without a
    /// backslash the text comes back unchanged, and the output is never longer than the text.
    #[test]
    fn unescape_never_panics(text in prop_oneof![
        "(\\\\(x[0-9a-fA-F+-]{0,2}|[rnt0\\\\q])|[a-z é€😀]){0,24}",
        "\\PC{0,40}",
    ]) {
        match unescape(&text) {
            Ok(out) => {
                prop_assert!(out.len() <= text.len());
                if !text.contains('\\') {
                    prop_assert_eq!(out, text.as_bytes());
                }
            }
            Err(e) => prop_assert!(!e.to_string().is_empty()),
        }
    }
}
