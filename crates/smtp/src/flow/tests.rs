use super::*;
use crate::reply::{ReplyLimits, ReplyParser};

/// Every reply in `wire`, parsed from the bytes split in two at `at`.
fn replies_split_at(wire: &[u8], at: usize) -> Vec<Reply> {
    let mut parser = ReplyParser::new(ReplyLimits::default());
    let mut out = Vec::new();
    for chunk in [&wire[..at], &wire[at..]] {
        let mut rest = chunk;
        while !rest.is_empty() {
            let fed = parser.feed(rest);
            rest = &rest[fed.consumed..];
            out.extend(fed.reply);
        }
    }
    out
}

/// Drives a greeting with the server's bytes, split at every position; each split must give
/// the same commands and the same end.
fn greet_over_wire(server: &[u8]) -> (Vec<Command>, GreetStep) {
    let mut seen: Option<(Vec<Command>, GreetStep)> = None;
    for at in 0..=server.len() {
        let replies = replies_split_at(server, at);
        let mut g = Greeting::new("probe.test");
        let mut sent = vec![g.start()];
        let mut end = None;
        for reply in &replies {
            match g.on_reply(reply) {
                GreetStep::Send(c) => sent.push(c),
                other => {
                    end = Some(other);
                    break;
                }
            }
        }
        let end = end.unwrap_or_else(|| panic!("no end at split {at}"));
        match &seen {
            Some(first) => assert_eq!(first, &(sent.clone(), end.clone()), "split at {at}"),
            None => seen = Some((sent, end)),
        }
    }
    seen.expect("at least one split")
}

#[test]
fn ehlo_accepted_needs_nothing_more() {
    let (sent, end) = greet_over_wire(b"250-mail.test\r\n250-PIPELINING\r\n250 STARTTLS\r\n");
    assert_eq!(sent, vec![Command::Ehlo("probe.test".into())]);
    assert_eq!(end, GreetStep::Done);
}

#[test]
fn helo_follows_the_refusals_rfc_5321_names() {
    for code in ["500", "501", "502", "550"] {
        let wire = format!("{code} 5.5.1 EHLO not understood\r\n250 mail.test\r\n");
        let (sent, end) = greet_over_wire(wire.as_bytes());
        assert_eq!(
            sent,
            vec![
                Command::Ehlo("probe.test".into()),
                Command::Helo("probe.test".into())
            ],
            "{code}"
        );
        assert_eq!(end, GreetStep::Done, "{code}");
    }
}

#[test]
fn other_refusals_do_not_fall_back() {
    for code in ["421", "451", "554"] {
        let wire = format!("{code} go away\r\n");
        let (sent, end) = greet_over_wire(wire.as_bytes());
        assert_eq!(sent.len(), 1, "{code}: only EHLO");
        assert_eq!(
            end,
            GreetStep::Failed(GreetProblem::Rejected {
                verb: "EHLO",
                summary: format!("{code} go away"),
            })
        );
    }
}

#[test]
fn helo_refused_too_ends_with_helo_named() {
    let (sent, end) = greet_over_wire(b"502 no EHLO\r\n554 no HELO either\r\n");
    assert_eq!(sent.len(), 2);
    assert_eq!(
        end,
        GreetStep::Failed(GreetProblem::Rejected {
            verb: "HELO",
            summary: "554 no HELO either".into(),
        })
    );
}

#[test]
fn a_reply_that_is_not_smtp_stops_the_greeting() {
    let (_, end) = greet_over_wire(b"HTTP/1.1 400 Bad Request\r\n");
    assert!(
        matches!(
            end,
            GreetStep::Failed(GreetProblem::NotSmtp { verb: "EHLO", .. })
        ),
        "{end:?}"
    );
}

#[test]
fn banners_are_checked_at_every_split() {
    let cases: [(&[u8], Result<(), &str>); 4] = [
        (b"220 mail.test ESMTP\r\n", Ok(())),
        (b"220-mail.test\r\n220 ESMTP ready\r\n", Ok(())),
        (b"554 5.7.1 no service for you\r\n", Err("refused")),
        (b"SSH-2.0-OpenSSH_9.2\r\n", Err("not SMTP")),
    ];
    for (wire, want) in cases {
        for at in 0..=wire.len() {
            let replies = replies_split_at(wire, at);
            let got = check_banner(&replies[0]);
            match (want, &got) {
                (Ok(()), Ok(())) => {}
                (Err("refused"), Err(BannerProblem::Refused(_))) => {}
                (Err("not SMTP"), Err(BannerProblem::NotSmtp(_))) => {}
                _ => panic!("{:?} split at {at}: {got:?}", String::from_utf8_lossy(wire)),
            }
        }
    }
    let banner = replies_split_at(b"220 mx1.example.org ESMTP Postfix\r\n", 7);
    assert_eq!(server_name(&banner[0]), "mx1.example.org");
}

/// The banner's name goes into relay probes as an address's domain: only a DNS name or an
/// address (as a domain literal) may; anything a server could use to shape our commands gives
/// `localhost`.
#[test]
fn only_a_domain_or_an_address_from_the_banner_is_used_as_the_servers_name() {
    for (banner, want) in [
        ("220 mx1.example.org ESMTP", "mx1.example.org"),
        ("220 MX1.Example.ORG. ready", "MX1.Example.ORG."),
        ("220 192.0.2.7 ESMTP Exim", "[192.0.2.7]"),
        ("220 [192.0.2.7] ESMTP", "[192.0.2.7]"),
        ("220 2001:db8::1 ESMTP", "[IPv6:2001:db8::1]"),
        ("220 [IPv6:2001:db8::1] ESMTP", "[IPv6:2001:db8::1]"),
        ("220 evil>:<x@y.example ESMTP", "localhost"),
        ("220 a@b.example ESMTP", "localhost"),
        ("220 evil%name.example ESMTP", "localhost"),
        ("220 ev\"il.example ESMTP", "localhost"),
        ("220 <evil.example> ESMTP", "localhost"),
        ("220 evil:name.example ESMTP", "localhost"),
        ("220 [192.0.2.300] ESMTP", "localhost"),
        ("220 [IPv6:192.0.2.7] ESMTP", "localhost"),
        ("220 -evil.example ESMTP", "localhost"),
        ("220 b\u{e4}r.example ESMTP", "localhost"),
        ("220", "localhost"),
    ] {
        let wire = format!("{banner}\r\n");
        let replies = replies_split_at(wire.as_bytes(), 0);
        assert_eq!(server_name(&replies[0]), want, "{banner:?}");
    }
}

#[test]
fn the_test_message_names_itself_and_its_envelope() {
    let to = vec!["a@x.test".to_string(), "b@y.test".to_string()];
    let text = test_message(&TestMessage {
        cc: &[],
        from: Some("me@z.test"),
        to: &to,
        date: "Mon, 30 Nov 2026 22:42:50 +0000",
        unique: "1796.42",
        id_domain: "probe.test",
        purpose: "relay test",
        headers: &["X-Extra: yes".to_string()],
        body: None,
    });
    let text = String::from_utf8(text).expect("ASCII");
    assert_eq!(
        text.split("\r\n").take(4).collect::<Vec<_>>(),
        [
            "Date: Mon, 30 Nov 2026 22:42:50 +0000",
            "From: <me@z.test>",
            "To: <a@x.test>, <b@y.test>",
            "Subject: smtpscope relay test 1796.42",
        ]
    );
    assert!(text.contains("\r\nMessage-ID: <1796.42@probe.test>\r\n"));
    assert!(text.contains("\r\nX-Smtpscope-Test: 1796.42\r\n"));
    assert!(
        text.contains("\r\nX-Extra: yes\r\n\r\n"),
        "extra headers end the header"
    );
    assert!(text.contains("\r\n\r\nThis message was sent by smtpscope"));
    assert!(!text.replace("\r\n", "").contains('\n'), "CRLF only");
}

/// A header named like a standard one replaces it in place (case-insensitively, once per
/// standard header); the rest are added; the unique id survives a replaced Message-ID.
#[test]
fn an_operator_header_replaces_the_standard_one_of_its_name() {
    let to = vec!["a@x.test".to_string()];
    let headers = [
        "subject: mine".to_string(),
        "Message-ID: <own@id>".to_string(),
        "Subject: a second one".to_string(),
        "X-Extra: yes".to_string(),
    ];
    let text = test_message(&TestMessage {
        cc: &[],
        from: Some("me@z.test"),
        to: &to,
        date: "Mon, 30 Nov 2026 22:42:50 +0000",
        unique: "1796.42",
        id_domain: "probe.test",
        purpose: "relay test",
        headers: &headers,
        body: None,
    });
    let text = String::from_utf8(text).expect("ASCII");
    let head: Vec<&str> = text
        .split("\r\n\r\n")
        .next()
        .unwrap_or("")
        .split("\r\n")
        .collect();
    assert_eq!(
        head,
        [
            "Date: Mon, 30 Nov 2026 22:42:50 +0000",
            "From: <me@z.test>",
            "To: <a@x.test>",
            "subject: mine",
            "Message-ID: <own@id>",
            "X-Smtpscope-Test: 1796.42",
            &format!("X-Mailer: smtpscope {}", env!("CARGO_PKG_VERSION")),
            "Subject: a second one",
            "X-Extra: yes",
        ]
    );
}

/// The reply to STARTTLS and whatever follows it, split at every byte: the parser stops right
/// after the 220, so injected bytes are never taken as part of it and always counted.
#[test]
fn starttls_injection_is_seen_at_every_split() {
    let clean: &[u8] = b"220 2.0.0 Ready to start TLS\r\n";
    let injected: &[u8] =
        b"220 2.0.0 Ready to start TLS\r\n250-mail.test\r\n250 AUTH PLAIN LOGIN\r\n";
    for (wire, want_injection) in [(clean, false), (injected, true)] {
        for at in 0..=wire.len() {
            let mut parser = ReplyParser::new(ReplyLimits::default());
            let mut reply = None;
            let mut after = 0;
            for chunk in [&wire[..at], &wire[at..]] {
                if reply.is_some() {
                    after += chunk.len();
                    continue;
                }
                let fed = parser.feed(chunk);
                if fed.reply.is_some() {
                    reply = fed.reply;
                    after += chunk.len() - fed.consumed;
                }
            }
            let reply = reply.expect("the 220 is complete");
            match flow_after(&reply, after) {
                StartTlsStep::Injection { count } if want_injection => {
                    assert_eq!(count, injected.len() - clean.len(), "split {at}")
                }
                StartTlsStep::Handshake if !want_injection => {}
                other => panic!("split {at}: {other:?}"),
            }
        }
    }
    let refused = replies_split_at(b"454 4.7.0 TLS not available\r\n", 3);
    assert_eq!(
        flow_after(&refused[0], 0),
        StartTlsStep::Refused("454 4.7.0 TLS not available".into())
    );
}

fn flow_after(reply: &Reply, after: usize) -> StartTlsStep {
    after_starttls(reply, after)
}

/// One AUTH exchange per mechanism against the server's bytes, split at every position.
#[test]
fn each_auth_mechanism_runs_to_its_end_at_every_split() {
    use crate::auth::{Credentials, Mechanism};
    use base64::Engine;
    let b64 = |s: &str| base64::engine::general_purpose::STANDARD.encode(s);
    let cram = format!(
        "334 {}\r\n235 2.7.0 ok\r\n",
        b64("<1896.697170952@postoffice.example.net>")
    );
    let login = format!(
        "334 {}\r\n334 {}\r\n235 2.7.0 ok\r\n",
        b64("Username:"),
        b64("Password:")
    );
    let cases: Vec<(Mechanism, bool, String, usize)> = vec![
        (Mechanism::Plain, true, "235 2.7.0 ok\r\n".into(), 0),
        (
            Mechanism::Plain,
            false,
            "334 \r\n235 2.7.0 ok\r\n".into(),
            1,
        ),
        (Mechanism::Login, true, login, 2),
        (Mechanism::CramMd5, true, cram, 1),
        (Mechanism::Xoauth2, true, "235 2.7.0 ok\r\n".into(), 0),
    ];
    for (mech, initial, server, responses) in cases {
        let wire = server.as_bytes();
        for at in 0..=wire.len() {
            let mut ex = AuthExchange::new(mech, Credentials::new("alice", "s3cret"));
            let first = ex.start(initial);
            assert!(first.expose().starts_with(&format!("AUTH {}", mech.name())));
            let mut sent = 0;
            let mut done = false;
            for reply in replies_split_at(wire, at) {
                match ex.on_reply(&reply) {
                    AuthStep::Respond(_) => sent += 1,
                    AuthStep::Done => {
                        assert_eq!(reply.code(), Some(235));
                        done = true;
                        break;
                    }
                    other => panic!("{mech:?} split {at}: {other:?}"),
                }
            }
            assert!(done, "{mech:?} split {at}");
            assert_eq!(sent, responses, "{mech:?} split {at}");
        }
    }
}

#[test]
fn an_auth_exchange_that_cannot_answer_is_cancelled_and_an_endless_one_cut_off() {
    use crate::auth::{Credentials, Mechanism};
    let mut ex = AuthExchange::new(Mechanism::CramMd5, Credentials::new("a", "b"));
    ex.start(true);
    let bad = replies_split_at(b"334 !!not base64!!\r\n", 0);
    assert!(matches!(ex.on_reply(&bad[0]), AuthStep::Cancel(_)));
    let mut ex = AuthExchange::new(Mechanism::Login, Credentials::new("a", "b"));
    ex.start(true);
    let challenge = replies_split_at(b"334 VXNlcm5hbWU6\r\n", 0);
    let mut steps = Vec::new();
    for _ in 0..12 {
        steps.push(ex.on_reply(&challenge[0]));
    }
    // LOGIN has two steps; a third challenge is refused, never answered.
    assert!(matches!(steps[0], AuthStep::Respond(_)));
    assert!(matches!(steps[1], AuthStep::Respond(_)));
    assert!(matches!(steps[2], AuthStep::Cancel(_)), "{:?}", steps[2]);
    assert!(
        matches!(steps[11], AuthStep::TooManyChallenges),
        "{:?}",
        steps[11]
    );
    // The cut-off is after the eighth challenge: the eighth still gets its answer (here a
    // cancel), the ninth is too many.
    assert!(matches!(steps[7], AuthStep::Cancel(_)), "{:?}", steps[7]);
    assert!(
        matches!(steps[8], AuthStep::TooManyChallenges),
        "{:?}",
        steps[8]
    );
    assert_eq!(AUTH_CANCEL, b"*\r\n");
}

#[test]
fn lmtp_greets_with_lhlo_and_never_falls_back() {
    let mut g = Greeting::lmtp("probe.test");
    assert_eq!(g.start(), Command::Lhlo("probe.test".into()));
    let refused = replies_split_at(b"500 5.5.1 unknown command\r\n", 0);
    assert_eq!(
        g.on_reply(&refused[0]),
        GreetStep::Failed(GreetProblem::Rejected {
            verb: "LHLO",
            summary: "500 5.5.1 unknown command".into(),
        })
    );
}
