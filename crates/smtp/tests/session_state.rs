//! The session's bookkeeping, which the security gate and every front end rely on: phases after
//! each reply (positive or not), what a reply answers, recipients counted, AUTH remembered
//! only on 235, 421 and QUIT closing, and the commands offered next. Written for the mutants
//! that survived the protocol core's own tests (see TESTING.md, "Mutation testing").

#![allow(clippy::expect_used, clippy::unwrap_used)] // test code

use smtpscope_smtp::session::Awaiting;
use smtpscope_smtp::{Phase, Reply, ReplyParser, SecurityPolicy, Session, Verb};

fn reply(wire: &str) -> Reply {
    let fed = ReplyParser::default().feed(wire.as_bytes());
    fed.reply.unwrap_or_else(|| panic!("no reply in {wire:?}"))
}

const EHLO: &str = "250-mail.lab.example\r\n250-STARTTLS\r\n250-AUTH PLAIN\r\n250 CHUNKING\r\n";

/// Banner and EHLO answered, on a plaintext (or implicit-TLS) connection.
fn ready(policy: SecurityPolicy, tls: bool) -> Session {
    let mut s = Session::new(policy, tls);
    s.received(&reply("220 mail.lab.example ESMTP\r\n"));
    s.sent(Verb::Ehlo);
    s.received(&reply(EHLO));
    s
}

/// Sends `verb` and feeds `answer`; returns what the reply answered.
fn exchange(s: &mut Session, verb: Verb, answer: &str) -> Option<Awaiting> {
    s.sent(verb);
    s.received(&reply(answer))
}

#[test]
fn a_new_session_reports_what_it_knows() {
    let policy = SecurityPolicy {
        require_tls: true,
        allow_cleartext_auth: false,
    };
    let s = Session::new(policy, false);
    assert_eq!(s.policy(), policy);
    assert!(!s.tls_active());
    assert!(Session::new(policy, true).tls_active());
    assert_eq!(s.awaiting(), Some(Awaiting::Banner));
    assert!(s.banner().is_none());
    assert_eq!(s.malformed_replies(), 0);
    assert_eq!(s.accepted_recipients(), 0);
}

#[test]
fn the_banner_is_kept_and_replies_are_matched_to_their_commands() {
    let mut s = Session::new(SecurityPolicy::default(), false);
    assert_eq!(
        s.received(&reply("220 mail.lab.example ESMTP\r\n")),
        Some(Awaiting::Banner)
    );
    assert_eq!(
        s.banner().map(|b| b.code()),
        Some(Some(220)),
        "the banner is remembered"
    );
    s.sent(Verb::Ehlo);
    s.sent(Verb::Noop);
    assert_eq!(s.awaiting(), Some(Awaiting::Command(Verb::Ehlo)));
    assert_eq!(
        s.received(&reply(EHLO)),
        Some(Awaiting::Command(Verb::Ehlo))
    );
    assert_eq!(s.awaiting(), Some(Awaiting::Command(Verb::Noop)));
    assert_eq!(
        s.received(&reply("250 ok\r\n")),
        Some(Awaiting::Command(Verb::Noop))
    );
    assert_eq!(s.awaiting(), None);
    assert_eq!(s.received(&reply("250 unasked\r\n")), None, "unsolicited");
}

/// A success that cannot answer what is awaited is counted as a surplus reply, one by one.
#[test]
fn surplus_replies_are_counted() {
    let mut s = ready(SecurityPolicy::default(), false);
    assert_eq!(s.surplus(), 0);
    exchange(&mut s, Verb::Mail, "250 ok\r\n");
    exchange(&mut s, Verb::Rcpt, "250 ok\r\n");
    s.sent(Verb::Data);
    assert_eq!(s.received(&reply("250 again\r\n")), None);
    assert_eq!(s.surplus(), 1);
    assert_eq!(s.received(&reply("250 and again\r\n")), None);
    assert_eq!(s.surplus(), 2);
    assert_eq!(
        s.received(&reply("354 go ahead\r\n")),
        Some(Awaiting::Command(Verb::Data))
    );
    assert_eq!(s.surplus(), 2);
}

#[test]
fn malformed_replies_are_counted() {
    let mut s = ready(SecurityPolicy::default(), false);
    exchange(&mut s, Verb::Noop, "250 ok\r\n");
    assert_eq!(s.malformed_replies(), 0);
    exchange(&mut s, Verb::Noop, "999 what\r\n");
    exchange(&mut s, Verb::Noop, "250 ok\n");
    assert_eq!(s.malformed_replies(), 2);
}

#[test]
fn capabilities_inside_tls_replace_those_before() {
    let mut s = ready(SecurityPolicy::default(), false);
    assert!(s.capabilities_after_tls().is_none());
    exchange(&mut s, Verb::StartTls, "220 2.0.0 Ready\r\n");
    assert_eq!(s.phase(), Phase::TlsHandshake);
    s.tls_established();
    assert!(s.tls_active());
    assert_eq!(s.phase(), Phase::Greeted);
    assert!(s.capabilities().is_none(), "nothing from before TLS counts");
    exchange(
        &mut s,
        Verb::Ehlo,
        "250-mail.lab.example\r\n250 SIZE 2000\r\n",
    );
    let after = s.capabilities_after_tls().expect("post-TLS capabilities");
    assert_eq!(after.size_limit(), Some(2000));
    assert!(s.capabilities_before_tls().is_some_and(|c| c.starttls()));
}

#[test]
fn a_refused_starttls_leaves_the_session_ready() {
    let mut s = ready(SecurityPolicy::default(), false);
    exchange(&mut s, Verb::StartTls, "454 4.7.0 TLS not available\r\n");
    assert_eq!(s.phase(), Phase::Ready);
}

#[test]
fn each_transaction_step_moves_the_phase_only_when_accepted() {
    let mut s = ready(SecurityPolicy::default(), false);
    exchange(&mut s, Verb::Mail, "550 5.1.0 no\r\n");
    assert_eq!(s.phase(), Phase::Ready, "a refused MAIL changes nothing");
    exchange(&mut s, Verb::Mail, "250 2.1.0 Ok\r\n");
    assert_eq!(s.phase(), Phase::Mail);
    exchange(&mut s, Verb::Rcpt, "554 5.7.1 Relay access denied\r\n");
    assert_eq!(s.phase(), Phase::Mail, "a refused RCPT changes nothing");
    assert_eq!(s.accepted_recipients(), 0);
    exchange(&mut s, Verb::Rcpt, "250 2.1.5 Ok\r\n");
    exchange(&mut s, Verb::Rcpt, "250 2.1.5 Ok\r\n");
    exchange(&mut s, Verb::Rcpt, "250 2.1.5 Ok\r\n");
    assert_eq!(s.phase(), Phase::Rcpt);
    assert_eq!(s.accepted_recipients(), 3, "each accepted RCPT counts once");
    exchange(&mut s, Verb::Data, "554 5.5.1 no\r\n");
    assert_eq!(s.phase(), Phase::Rcpt, "only 354 starts the message");
    s.sent(Verb::Data);
    assert_eq!(
        s.received(&reply("250 odd\r\n")),
        None,
        "a 250 cannot answer DATA: a surplus reply to something earlier"
    );
    assert_eq!(
        s.phase(),
        Phase::Rcpt,
        "it does not start the message either"
    );
    assert_eq!(
        s.awaiting(),
        Some(Awaiting::Command(Verb::Data)),
        "DATA still waits"
    );
    assert_eq!(s.surplus(), 1);
    s.received(&reply("354 go ahead\r\n"));
    assert_eq!(s.phase(), Phase::Data);
    s.message_sent();
    assert_eq!(s.awaiting(), Some(Awaiting::MessageEnd));
    s.received(&reply("250 2.0.0 queued\r\n"));
    assert_eq!(s.phase(), Phase::Ready);
    assert_eq!(s.accepted_recipients(), 0, "the transaction is over");
}

#[test]
fn rset_resets_only_when_accepted() {
    let mut s = ready(SecurityPolicy::default(), false);
    exchange(&mut s, Verb::Mail, "250 Ok\r\n");
    exchange(&mut s, Verb::Rcpt, "250 Ok\r\n");
    exchange(&mut s, Verb::Rset, "500 no\r\n");
    assert_eq!(
        (s.phase(), s.accepted_recipients()),
        (Phase::Rcpt, 1),
        "a refused RSET keeps the transaction"
    );
    exchange(&mut s, Verb::Rset, "250 Ok\r\n");
    assert_eq!((s.phase(), s.accepted_recipients()), (Phase::Ready, 0));
}

#[test]
fn a_failed_ehlo_or_helo_does_not_make_the_session_ready() {
    let mut s = Session::new(SecurityPolicy::default(), false);
    s.received(&reply("220 hi\r\n"));
    exchange(&mut s, Verb::Ehlo, "502 5.5.2 no EHLO\r\n");
    assert_eq!(s.phase(), Phase::Greeted);
    assert!(s.capabilities().is_none());
    exchange(&mut s, Verb::Helo, "501 no\r\n");
    assert_eq!(s.phase(), Phase::Greeted);
    exchange(&mut s, Verb::Helo, "250 hi\r\n");
    assert_eq!(s.phase(), Phase::Ready);
    assert!(s.capabilities().is_some_and(|c| !c.starttls()));
}

#[test]
fn auth_is_remembered_only_when_the_server_says_235() {
    let mut s = ready(SecurityPolicy::default(), true);
    s.auth_sent("alice");
    s.received(&reply("535 5.7.8 failed\r\n"));
    assert_eq!(s.authenticated(), None);
    s.auth_sent("alice");
    s.received(&reply("334 \r\n"));
    assert_eq!(s.authenticated(), None, "a challenge is not a login");
    s.auth_step_sent();
    assert_eq!(s.awaiting(), Some(Awaiting::AuthStep));
    s.received(&reply("235 2.7.0 ok\r\n"));
    assert_eq!(s.authenticated(), Some("alice"));
    // After a login, AUTH is no longer offered.
    assert!(!s.next_commands().contains(&Verb::Auth));

    // PLAIN with an initial response: the 235 answers the AUTH command itself.
    let mut s = ready(SecurityPolicy::default(), true);
    s.auth_sent("bob");
    assert_eq!(
        s.received(&reply("235 2.7.0 ok\r\n")),
        Some(Awaiting::Command(Verb::Auth))
    );
    assert_eq!(s.authenticated(), Some("bob"));
}

#[test]
fn quit_and_421_and_a_close_end_the_session() {
    let mut s = ready(SecurityPolicy::default(), false);
    exchange(&mut s, Verb::Quit, "221 bye\r\n");
    assert_eq!(s.phase(), Phase::Closing);
    assert!(s.next_commands().is_empty());

    let mut s = ready(SecurityPolicy::default(), false);
    exchange(&mut s, Verb::Quit, "500 what\r\n");
    assert_eq!(
        s.phase(),
        Phase::Closing,
        "QUIT sent is closing, whatever the answer"
    );

    let mut s = ready(SecurityPolicy::default(), false);
    exchange(&mut s, Verb::Mail, "421 4.7.0 too many errors\r\n");
    assert_eq!(s.phase(), Phase::Closing);

    let mut s = ready(SecurityPolicy::default(), false);
    s.sent(Verb::Noop);
    s.closed();
    assert_eq!(s.phase(), Phase::Closing);
    assert_eq!(
        s.awaiting(),
        None,
        "nothing is awaited from a closed connection"
    );
}

#[test]
fn next_commands_follow_the_phase_and_the_capabilities() {
    let plain = ready(SecurityPolicy::default(), false);
    let offered = plain.next_commands();
    assert!(offered.contains(&Verb::StartTls), "{offered:?}");
    assert!(
        !offered.contains(&Verb::Auth),
        "no AUTH in cleartext: {offered:?}"
    );
    assert!(offered.contains(&Verb::Mail));

    let tls = ready(SecurityPolicy::default(), true);
    let offered = tls.next_commands();
    assert!(!offered.contains(&Verb::StartTls), "{offered:?}");
    assert!(offered.contains(&Verb::Auth), "{offered:?}");

    // No AUTH advertised: AUTH is not offered even inside TLS.
    let mut bare = Session::new(SecurityPolicy::default(), true);
    bare.received(&reply("220 hi\r\n"));
    exchange(&mut bare, Verb::Ehlo, "250-hi\r\n250 SIZE 10\r\n");
    assert!(!bare.next_commands().contains(&Verb::Auth));
    assert!(!bare.next_commands().contains(&Verb::StartTls));
    // STARTTLS not advertised on a plaintext connection: not offered either.
    let mut stripped = Session::new(SecurityPolicy::default(), false);
    stripped.received(&reply("220 hi\r\n"));
    exchange(&mut stripped, Verb::Ehlo, "250-hi\r\n250 SIZE 10\r\n");
    assert!(!stripped.next_commands().contains(&Verb::StartTls));

    let mut s = ready(SecurityPolicy::default(), false);
    exchange(&mut s, Verb::Mail, "250 Ok\r\n");
    assert_eq!(
        s.next_commands(),
        [Verb::Rcpt, Verb::Rset, Verb::Noop, Verb::Quit]
    );
    exchange(&mut s, Verb::Rcpt, "250 Ok\r\n");
    assert_eq!(
        s.next_commands(),
        [
            Verb::Rcpt,
            Verb::Data,
            Verb::Bdat,
            Verb::Rset,
            Verb::Noop,
            Verb::Quit
        ],
        "CHUNKING was advertised"
    );
    exchange(&mut s, Verb::Data, "354 go\r\n");
    assert!(s.next_commands().is_empty(), "the message goes next");

    let waiting = Session::new(SecurityPolicy::default(), false);
    assert!(waiting.next_commands().is_empty(), "the banner comes first");

    let mut greeted = Session::new(SecurityPolicy::default(), false);
    greeted.received(&reply("220 hi\r\n"));
    assert_eq!(
        greeted.next_commands(),
        [Verb::Ehlo, Verb::Helo, Verb::Rset, Verb::Noop, Verb::Quit]
    );
}

#[test]
fn phases_and_awaited_replies_read_as_words() {
    assert_eq!(Phase::Mail.to_string(), "sender accepted");
    assert_eq!(Phase::TlsHandshake.to_string(), "TLS handshake");
    assert_eq!(Awaiting::Banner.to_string(), "the banner");
    assert_eq!(
        Awaiting::Command(Verb::Rcpt).to_string(),
        "the reply to RCPT TO"
    );
    assert_eq!(
        Awaiting::MessageEnd.to_string(),
        "the reply to the end of the message"
    );
}

/// XCLIENT accepted (220): the server greets again as for a new client, so what was learnt
/// and authenticated before no longer holds and EHLO is due (Postfix's XCLIENT_README). A
/// refusal changes nothing. Plain and inside TLS.
#[test]
fn an_accepted_xclient_forgets_capabilities_and_login_and_wants_ehlo() {
    for tls in [false, true] {
        let mut s = ready(SecurityPolicy::default(), tls);
        s.auth_sent("alice");
        s.received(&reply("235 2.7.0 ok\r\n"));
        assert_eq!(s.authenticated(), Some("alice"));
        exchange(&mut s, Verb::Xclient, "550 5.7.0 not authorized\r\n");
        assert_eq!(
            s.phase(),
            Phase::Ready,
            "a refusal changes nothing (tls {tls})"
        );
        assert!(s.capabilities().is_some());
        assert_eq!(s.authenticated(), Some("alice"));

        assert_eq!(
            exchange(&mut s, Verb::Xclient, "220 mail.lab.example ESMTP\r\n"),
            Some(Awaiting::Command(Verb::Xclient))
        );
        assert_eq!(s.phase(), Phase::Greeted, "EHLO is due (tls {tls})");
        assert_eq!(s.authenticated(), None, "the login no longer holds");
        assert!(s.capabilities().is_none(), "nothing learnt before holds");
        let next = s.next_commands();
        assert!(next.starts_with(&[Verb::Ehlo, Verb::Helo]), "{next:?}");
        assert!(
            !next.contains(&Verb::Mail) && !next.contains(&Verb::Auth),
            "{next:?}"
        );
        if tls {
            assert!(s.capabilities_after_tls().is_none());
            assert!(
                s.capabilities_before_tls().is_none(),
                "never had any: implicit TLS"
            );
            assert!(s.tls_active(), "TLS itself is still up");
        } else {
            assert!(s.capabilities_before_tls().is_none());
        }
        s.sent(Verb::Ehlo);
        s.received(&reply(EHLO));
        assert_eq!(s.phase(), Phase::Ready);
        assert_eq!(s.authenticated(), None);
    }

    // An AUTH exchange under way (334 answered) is forgotten too: its late 235 logs no one in.
    let mut s = ready(SecurityPolicy::default(), true);
    s.auth_sent("bob");
    s.received(&reply("334 \r\n"));
    exchange(&mut s, Verb::Xclient, "220 mail.lab.example ESMTP\r\n");
    s.auth_step_sent();
    s.received(&reply("235 2.7.0 ok\r\n"));
    assert_eq!(
        s.authenticated(),
        None,
        "the AUTH before XCLIENT does not hold after it"
    );
}

/// A banner that refuses (554, RFC 5321 §3.1) is kept, but the session is not greeted: only
/// QUIT makes sense then. A 421 banner closes.
#[test]
fn a_refused_banner_leaves_the_session_ungreeted() {
    let mut s = Session::new(SecurityPolicy::default(), false);
    assert_eq!(
        s.received(&reply("554 5.7.1 no service for you\r\n")),
        Some(Awaiting::Banner)
    );
    assert_eq!(s.banner().and_then(Reply::code), Some(554));
    assert_eq!(s.phase(), Phase::AwaitingBanner);
    assert!(s.next_commands().is_empty(), "{:?}", s.next_commands());
    assert_eq!(s.awaiting(), None);

    let mut s = Session::new(SecurityPolicy::default(), false);
    s.received(&reply("421 4.3.2 shutting down\r\n"));
    assert_eq!(s.phase(), Phase::Closing);
    assert!(s.check(Verb::Ehlo).is_err(), "nothing but QUIT after a 421");
    assert!(s.check(Verb::Quit).is_ok());
}

/// TLS established after AUTH (a client that logged in on a cleartext connection it was
/// allowed to, then upgraded): the login, the capabilities and the phase are reset as RFC 3207
/// §4.2 says, and STARTTLS is refused from then on.
#[test]
fn tls_after_auth_forgets_the_login() {
    let policy = SecurityPolicy {
        require_tls: false,
        allow_cleartext_auth: true,
    };
    let mut s = ready(policy, false);
    s.auth_sent("alice");
    s.received(&reply("235 2.7.0 ok\r\n"));
    assert_eq!(s.authenticated(), Some("alice"));
    exchange(&mut s, Verb::StartTls, "220 2.0.0 go ahead\r\n");
    assert_eq!(s.phase(), Phase::TlsHandshake);
    s.auth_sent("bob");
    s.tls_established();
    assert!(s.tls_active());
    assert_eq!(
        s.authenticated(),
        None,
        "a login before TLS does not hold inside it"
    );
    assert_eq!(s.phase(), Phase::Greeted);
    assert!(s.capabilities_after_tls().is_none());
    assert!(s.capabilities_before_tls().is_some(), "kept for comparison");
    assert!(s.capabilities().is_none(), "only the post-TLS EHLO counts");
    s.sent(Verb::Ehlo);
    s.received(&reply(EHLO));
    assert_eq!(
        s.authenticated(),
        None,
        "the AUTH pending before TLS is not taken"
    );
    assert!(s.check(Verb::StartTls).is_err());
    assert!(!s.next_commands().contains(&Verb::StartTls));
}
