//! Every TUI screen drawn on a TestBackend at 80x24, 120x35 and 200x60 and compared with a reviewed
//! snapshot (tests/snapshots/). The state is built by hand, so the pictures are stable.

#![allow(clippy::expect_used, clippy::unwrap_used)] // test code: a failed setup should panic loudly

use std::time::Duration;

use ratatui::Terminal;
use ratatui::backend::TestBackend;
use ratatui::crossterm::event::{KeyCode, KeyEvent, KeyModifiers};
use smtpscope::profile::Profile;
use smtpscope::scenario::Catalogue;
use smtpscope::smtp::reply::ReplyParser;
use smtpscope::transcript::{Entry, EntryKind, Event};
use smtpscope::tui::message::{Message, NetEvent};
use smtpscope::tui::state::{ProfileEntry, State};
use smtpscope::tui::update::update;
use smtpscope::tui::view::{Theme, view};

#[path = "common/svg.rs"]
mod svg;

fn base() -> State {
    let profile = Profile::parse(
        "server = \"mx.example.com:25\"\nhelo = \"probe.test\"\n[auth]\nmechanism = \"plain\"\nusername = \"bob\"\npassword_env = \"PW\"\n[relay]\nlocal_recipient = \"postmaster@example.com\"\n",
        std::path::Path::new("mx.toml"),
    )
    .expect("profile");
    let cat = Catalogue::built_in()
        .entries
        .into_iter()
        .map(|e| e.scenario)
        .collect();
    let mut s = State::new(
        vec![ProfileEntry {
            name: "mx".into(),
            profile,
            saved: true,
        }],
        cat,
    );
    s.log_path = Some("/home/user/.local/share/smtpscope/smtpscope.log".into());
    s
}

fn entry(ms: u64, tls: bool, kind: EntryKind) -> Entry {
    Entry {
        at: Duration::from_millis(ms),
        tls,
        kind,
    }
}

fn received(ms: u64, tls: bool, wire: &[u8]) -> Entry {
    let reply = ReplyParser::default().feed(wire).reply.expect("reply");
    entry(
        ms,
        tls,
        EntryKind::Received {
            reply,
            latency: Some(Duration::from_millis(1)),
        },
    )
}

fn sent(ms: u64, tls: bool, line: &str) -> Entry {
    entry(
        ms,
        tls,
        EntryKind::Sent {
            bytes: format!("{line}\r\n").into_bytes(),
            redacted: false,
        },
    )
}

fn net(s: &mut State, ev: NetEvent) {
    update(s, Message::Net(Box::new(ev)));
}

fn key(s: &mut State, code: KeyCode) {
    update(s, Message::Key(KeyEvent::new(code, KeyModifiers::NONE)));
}

/// Scenario A stepped through against a server that refuses relay.
fn stepped() -> State {
    let mut s = base();
    key(&mut s, KeyCode::Enter);
    for e in [
        entry(
            0,
            false,
            EntryKind::Event(Event::Connected {
                peer: "192.0.2.25:25".into(),
            }),
        ),
        received(12, false, b"220 mx.example.com ESMTP Postfix\r\n"),
        sent(12, false, "EHLO probe.test"),
        received(
            13,
            false,
            b"250-mx.example.com\r\n250-PIPELINING\r\n250-STARTTLS\r\n250 8BITMIME\r\n",
        ),
        sent(13, false, "STARTTLS"),
        received(14, false, b"220 2.0.0 Ready to start TLS\r\n"),
        entry(
            20,
            true,
            EntryKind::Event(Event::Info(
                "TLS established: TLSv1.3, TLS13_AES_256_GCM_SHA384".into(),
            )),
        ),
        sent(20, true, "EHLO probe.test"),
        received(21, true, b"250-mx.example.com\r\n250 AUTH PLAIN LOGIN\r\n"),
        sent(900, true, "MAIL FROM:<relay-test@outside.example.net>"),
        received(901, true, b"250 2.1.0 Ok\r\n"),
        sent(1500, true, "RCPT TO:<relay-test@elsewhere.example.org>"),
        received(
            1502,
            true,
            b"554 5.7.1 <relay-test@elsewhere.example.org>: Relay access denied\r\n",
        ),
        received(1503, true, b"250 bare lf\n"),
    ] {
        net(&mut s, NetEvent::Entry(e));
    }
    let step = |cmd: &str, code: u16, text: &str, reason: &str| smtpscope::scenario::StepResult {
        name: None,
        command: cmd.into(),
        expected: "x".into(),
        reply: Some(smtpscope::scenario::runner::ReplySummary {
            code: Some(code),
            enhanced: None,
            text: text.into(),
        }),
        verdict: smtpscope::scenario::Verdict::Pass,
        reason: reason.into(),
        elapsed_ms: 1,
        role: smtpscope::scenario::model::Role::Probe,
        note: None,
        edited: false,
    };
    net(
        &mut s,
        NetEvent::Step {
            index: 0,
            result: step(
                "MAIL FROM:<relay-test@outside.example.net>",
                250,
                "250 2.1.0 Ok",
                "accepted as expected",
            ),
        },
    );
    net(
        &mut s,
        NetEvent::Step {
            index: 1,
            result: step(
                "RCPT TO:<relay-test@elsewhere.example.org>",
                554,
                "554 5.7.1 <relay-test@elsewhere.example.org>: Relay access denied",
                "rejected by policy as expected",
            ),
        },
    );
    net(
        &mut s,
        NetEvent::Done {
            verdict: smtpscope::scenario::Verdict::Pass,
            reason: "RCPT TO:<relay-test@elsewhere.example.org> — 554 5.7.1 Relay access denied"
                .into(),
            edited: Vec::new(),
        },
    );
    s
}

fn draw(s: &State, w: u16, h: u16) -> Terminal<TestBackend> {
    let mut t = Terminal::new(TestBackend::new(w, h)).expect("terminal");
    t.draw(|f| view(s, f, Theme { color: true })).expect("draw");
    t
}

/// Every screen at the sizes people use: a small split pane (60x20), a classic terminal, a laptop's half screen,
/// a wide monitor.
macro_rules! both_sizes {
    ($name:literal, $state:expr) => {{
        let s = &$state;
        insta::assert_snapshot!(concat!($name, "_60x20"), draw(s, 60, 20).backend());
        insta::assert_snapshot!(concat!($name, "_80x24"), draw(s, 80, 24).backend());
        insta::assert_snapshot!(concat!($name, "_120x35"), draw(s, 120, 35).backend());
        insta::assert_snapshot!(concat!($name, "_200x60"), draw(s, 200, 60).backend());
    }};
}

/// The screen as text, row by row.
fn rows(t: &Terminal<TestBackend>) -> Vec<String> {
    let buf = t.backend().buffer();
    (0..buf.area.height)
        .map(|y| {
            (0..buf.area.width)
                .map(|x| buf[(x, y)].symbol())
                .collect::<String>()
        })
        .collect()
}

fn tls_info() -> smtpscope::tls_info::TlsInfo {
    smtpscope::tls_info::TlsInfo {
        version: "TLSv1.3".into(),
        cipher_suite: "TLS13_AES_256_GCM_SHA384".into(),
        key_exchange: Some("X25519".into()),
        verification: smtpscope::tls_info::Verification {
            verified: true,
            failure: None,
            problem: None,
            also: Vec::new(),
            accepted_insecurely: false,
            dane_ee: None,
            name: "mx.example.com".into(),
            trust: "platform".into(),
        },
        chain: Vec::new(),
        chain_check: smtpscope::tls_info::ChainCheck::of(&[], None),
        ocsp: smtpscope::tls_info::OcspStaple::default(),
        chain_der: Vec::new(),
        resumed: false,
    }
}

/// A session where the server injected plaintext after STARTTLS's 220, then a TLS session on
/// a second connection: the two long lines people need to read whole.
fn injected() -> State {
    let mut s = base();
    for e in [
        received(0, false, b"220 mx.example.com ESMTP\r\n"),
        sent(1, false, "EHLO probe.test"),
        received(2, false, b"250-mx.example.com\r\n250 STARTTLS\r\n"),
        sent(3, false, "STARTTLS"),
        received(4, false, b"220 2.0.0 Ready to start TLS\r\n"),
        entry(
            5,
            false,
            EntryKind::Event(Event::Discarded {
                bytes: b"250-injected.example.com\r\n250 AUTH PLAIN\r\n".to_vec(),
                reason: "plaintext after the 220 to STARTTLS, before the TLS handshake".into(),
            }),
        ),
        entry(
            6,
            false,
            EntryKind::Event(Event::Error(
                "the server sent 2 lines after its 220 to STARTTLS and before the handshake (STARTTLS command injection, CVE-2011-0411): the connection was closed".into(),
            )),
        ),
        entry(
            40,
            true,
            EntryKind::Event(Event::TlsEstablished(Box::new(tls_info()))),
        ),
        sent(41, true, "EHLO probe.test"),
        received(42, true, b"250-mx.example.com\r\n250 AUTH PLAIN LOGIN\r\n"),
    ] {
        net(&mut s, NetEvent::Entry(e));
    }
    s
}

#[test]
fn long_lines_wrap_with_their_text_indented() {
    let s = injected();
    both_sizes!("injection_wrapped", s);
    // At 80 columns the injection line is readable to its end.
    let t = draw(&s, 80, 24);
    let screen = rows(&t).join("\n");
    assert!(screen.contains("CVE-2011-0411"), "{screen}");
    assert!(screen.contains("X25519"), "{screen}");
}

#[test]
fn cut_lines_scroll_sideways() {
    let mut s = injected();
    key(&mut s, KeyCode::Tab);
    key(&mut s, KeyCode::Char('z'));
    for _ in 0..6 {
        key(&mut s, KeyCode::Right);
    }
    both_sizes!("injection_cut_scrolled", s);
}

/// Connected with TLS and logged in: the longest status bar.
fn connected() -> State {
    let mut s = stepped();
    s.profiles.entries[0].name = "lab-secure-staging".into();
    s.profiles.entries[0].saved = false;
    net(
        &mut s,
        NetEvent::Conn(smtpscope::tui::state::ConnInfo {
            phase: smtpscope::tui::state::ConnPhase::Open(smtpscope::smtp::session::Phase::Mail),
            tls: Some(Box::new(tls_info())),
            tls_rejected: None,
            auth: Some("bob@lab.example".into()),
            caps_before: vec![
                ("PIPELINING".into(), "commands may be sent in batches".into()),
                ("SIZE 10240000".into(), "largest message accepted, in bytes".into()),
                ("STARTTLS".into(), "the connection can be upgraded to TLS".into()),
                ("ENHANCEDSTATUSCODES".into(), "replies carry RFC 3463 codes like 5.7.1".into()),
                ("8BITMIME".into(), "8-bit message bodies accepted".into()),
            ],
            caps_after: vec![
                ("PIPELINING".into(), "commands may be sent in batches".into()),
                ("SIZE 20480000".into(), "largest message accepted, in bytes".into()),
                ("AUTH PLAIN LOGIN".into(), "logging in is possible with these SASL mechanisms; over TLS only, as it should be".into()),
                ("ENHANCEDSTATUSCODES".into(), "replies carry RFC 3463 codes like 5.7.1".into()),
                ("8BITMIME".into(), "8-bit message bodies accepted".into()),
            ],
        }),
    );
    s
}

#[test]
fn status_bar_and_footer_give_way_by_priority() {
    let s = connected();
    both_sizes!("status_compressed", s);
    for (w, h) in [(80, 24), (120, 35), (200, 60)] {
        let r = rows(&draw(&s, w, h));
        let (top, footer) = (r[0].trim_end(), r[r.len() - 1].trim_end());
        assert!(top.starts_with(" lab-secure-staging"), "{w}: {top}");
        assert!(top.contains("✓cert"), "TLS is kept longest: {w}: {top}");
        for bar in [top, footer] {
            let last = bar.split_whitespace().last().unwrap_or("");
            assert!(
                !["│", "/", "not", "a", "ho", "i"].contains(&last),
                "{w}: ends mid-phrase: {bar:?}"
            );
        }
        assert!(footer.contains("F1 help"), "{w}: {footer}");
    }
}

#[test]
fn capabilities_scroll_to_after_tls_with_changes_marked() {
    let mut s = connected();
    key(&mut s, KeyCode::Char('c'));
    // Drawn once so the pane knows its height, then scrolled to the end.
    draw(&s, 80, 24);
    key(&mut s, KeyCode::End);
    both_sizes!("capabilities_after_tls", s);
    let screen = rows(&draw(&s, 80, 24)).join("\n");
    assert!(screen.contains("+ AUTH PLAIN LOGIN"), "{screen}");
    assert!(screen.contains("- STARTTLS"), "{screen}");
    assert!(screen.contains("~ SIZE 20480000"), "{screen}");
}

#[test]
fn tls_details_wrap_under_their_field() {
    let mut s = connected();
    if let Some(t) = s.conn.tls.as_mut() {
        t.chain = vec![smtpscope::tls_info::CertSummary {
            subject: "CN=mx.example.com".into(),
            issuer: "CN=Example Issuing CA, O=Example Trust Services, C=US".into(),
            sans: vec![
                "mx.example.com".into(),
                "mail.example.com".into(),
                "smtp.example.com".into(),
            ],
            not_before: "2026-01-01T00:00:00Z".into(),
            not_after: "2027-01-01T00:00:00Z".into(),
            days_left: Some(31),
            key: "EC P-256".into(),
            signature_algorithm: "ecdsa-with-SHA256".into(),
            is_ca: false,
            self_signed: false,
            sha256: "3f:a1:5c:0e:91:22:7b:4d:aa:10:fe:2c:88:61:d3:05:77:e4:19:b6:2a:c9:5f:70:13:8e:d2:4b:60:af:39:c1".into(),
        }];
    }
    key(&mut s, KeyCode::Char('t'));
    both_sizes!("tls_details", s);
    let screen = rows(&draw(&s, 80, 24)).join("\n");
    assert!(screen.contains("TLS13_AES_256_GCM_SHA384"), "{screen}");
    assert!(screen.contains("verified for mx.example.com"), "{screen}");
}

#[test]
fn help_scrolled_down_stays_open() {
    let mut s = base();
    key(&mut s, KeyCode::F(1));
    draw(&s, 80, 24);
    for _ in 0..3 {
        key(&mut s, KeyCode::PageDown);
    }
    both_sizes!("help_scrolled", s);
}

#[test]
fn start_screen() {
    let mut s = base();
    s.welcome = Some("Welcome! lab-open is an open relay, lab-secure is not.".into());
    both_sizes!("start", s);
}

/// A first run: the two labs, A on both, and each lab's verdicts side by side.
fn compared() -> State {
    let mut s = base();
    let mut secure = s.profiles.entries[0].clone();
    s.profiles.entries[0].name = "lab-open".into();
    s.profiles.entries[0].saved = false;
    secure.name = "lab-secure".into();
    secure.saved = false;
    secure.profile.server = "mx2.example.com:25".into();
    s.profiles.entries.push(secure);
    s.compare = vec![
        ("lab-open".into(), "open".into()),
        ("lab-secure".into(), "secure".into()),
    ];
    s.welcome = Some("Welcome! lab-open is an open relay, lab-secure is not.".into());
    for (verdict, reason) in [
        (
            smtpscope::scenario::Verdict::Fail,
            "RCPT TO:<relay-test@elsewhere.example.org> — 250 2.1.5 Ok",
        ),
        (
            smtpscope::scenario::Verdict::Pass,
            "RCPT TO:<relay-test@elsewhere.example.org> — 554 5.7.1 Relay access denied",
        ),
    ] {
        // The worker is idle again after the abort a switch of profile asks for.
        net(&mut s, NetEvent::Idle);
        key(&mut s, KeyCode::Enter);
        net(
            &mut s,
            NetEvent::Done {
                verdict,
                reason: reason.into(),
                edited: Vec::new(),
            },
        );
        next_profile(&mut s);
    }
    // Back on lab-secure, as after running A on each in turn.
    next_profile(&mut s);
    s
}

/// The other of two profiles, picked in the profile list.
fn next_profile(s: &mut State) {
    key(s, KeyCode::Char('p'));
    if s.profiles.current_index() == 0 {
        key(s, KeyCode::Down);
    } else {
        key(s, KeyCode::Up);
    }
    key(s, KeyCode::Enter);
}

#[test]
fn the_profile_list_with_names_servers_and_verdicts() {
    let mut s = compared();
    let mut staging = s.profiles.entries[0].clone();
    staging.name = "staging".into();
    staging.saved = true;
    staging.profile.server = "staging.example.net:587".into();
    s.profiles.entries.push(staging);
    key(&mut s, KeyCode::Char('p'));
    both_sizes!("profile_list", s);
    let screen = rows(&draw(&s, 120, 35)).join("\n");
    assert!(screen.contains("lab-open (in memory)"), "{screen}");
    assert!(screen.contains("A:FAIL"), "{screen}");
    assert!(screen.contains("A:PASS"), "{screen}");
    assert!(screen.contains("staging.example.net:587"), "{screen}");
    // Renaming asks for the name in the list.
    key(&mut s, KeyCode::Down);
    key(&mut s, KeyCode::Char('r'));
    both_sizes!("profile_rename", s);
}

#[test]
fn the_labs_verdicts_side_by_side() {
    both_sizes!("compared", compared());
}

#[test]
fn after_stepping_scenario_a() {
    both_sizes!("stepped", stepped());
}

#[test]
fn a_step_waiting_in_the_editor() {
    let mut s = base();
    key(&mut s, KeyCode::Enter);
    net(
        &mut s,
        NetEvent::Preview {
            index: 0,
            step: smtpscope::scenario::runner::StepKind::Command(
                "MAIL FROM:<relay-test@outside.example.net>".into(),
            ),
        },
    );
    both_sizes!("editor", s);
}

#[test]
fn selected_reply_shows_its_meaning_and_raw_view_escapes() {
    let mut s = stepped();
    key(&mut s, KeyCode::Tab);
    key(&mut s, KeyCode::Up);
    key(&mut s, KeyCode::Up);
    key(&mut s, KeyCode::Char('w'));
    both_sizes!("selected_raw", s);
}

#[test]
fn help_overlay() {
    let mut s = base();
    key(&mut s, KeyCode::F(1));
    both_sizes!("help", s);
}

/// The command palette (Ctrl-P) from the editor, filtered by what is typed, at 60x20 too.
#[test]
fn command_palette() {
    let mut s = base();
    s.focus = smtpscope::tui::state::Focus::Editor;
    update(
        &mut s,
        Message::Key(KeyEvent::new(KeyCode::Char('p'), KeyModifiers::CONTROL)),
    );
    both_sizes!("palette", s);
    for c in "copy".chars() {
        key(&mut s, KeyCode::Char(c));
    }
    both_sizes!("palette_copy", s);
}

/// Every verdict in the scenario list, whole where it fits and in a short form where it does
/// not (INCONCLUSIVE used to be cut to "INCONCL", SKIPPED to "SKIPP"); a profile with its own
/// CA file says `cert:ca-file`, not `cert:platform`.
#[test]
fn verdict_forms_fit_the_scenario_list() {
    use smtpscope::scenario::Verdict;
    let mut s = base();
    s.profiles.entries[0].profile.ca_file = Some("/etc/ssl/lab-ca.pem".into());
    s.toggles = smtpscope::tui::state::Toggles::from_profile(&s.profiles.entries[0].profile);
    let ids: Vec<String> = s.catalogue.iter().map(|c| c.id.clone()).collect();
    let verdicts = [
        Verdict::Pass,
        Verdict::Fail,
        Verdict::Warn,
        Verdict::Inconclusive,
        Verdict::Skipped,
        Verdict::Inconclusive,
    ];
    for (id, v) in ids.iter().zip(verdicts) {
        s.verdicts.record("mx", id, v);
    }
    for (w, h) in [(60, 20), (80, 24), (120, 35)] {
        let screen = rows(&draw(&s, w, h)).join("\n");
        assert!(!screen.contains("INCONCL "), "{w}x{h}: {screen}");
        assert!(!screen.contains("SKIPP "), "{w}x{h}: {screen}");
        assert!(screen.contains("cert:ca-file"), "{w}x{h}: {screen}");
    }
    both_sizes!("verdict_forms", s);
}

#[test]
fn teaching_overlay() {
    let mut s = base();
    key(&mut s, KeyCode::Char('i'));
    both_sizes!("teaching", s);
}

#[test]
fn password_prompt_masks() {
    let mut s = base();
    s.focus = smtpscope::tui::state::Focus::Editor;
    for c in "AUTH PLAIN".chars() {
        key(&mut s, KeyCode::Char(c));
    }
    s.profiles.entries[0]
        .profile
        .auth
        .as_mut()
        .expect("auth")
        .password_env = None;
    key(&mut s, KeyCode::Enter);
    for c in "hunter2".chars() {
        key(&mut s, KeyCode::Char(c));
    }
    let t = draw(&s, 80, 24);
    let screen = format!("{:?}", t.backend());
    assert!(!screen.contains("hunter2"), "the password is masked");
    both_sizes!("password", s);
}

#[test]
fn password_prompt_after_an_unset_variable() {
    let mut s = base();
    s.selected = 1; // B logs in
    key(&mut s, KeyCode::Enter);
    net(
        &mut s,
        NetEvent::Error(std::sync::Arc::new(
            smtpscope::tui::worker::WorkerError::Target {
                profile: "mx".into(),
                source: smtpscope::target::TargetError::Secret(
                    smtpscope::secret::SecretError::EnvUnset { var: "PW".into() },
                ),
            },
        )),
    );
    for c in "hunter2".chars() {
        key(&mut s, KeyCode::Char(c));
    }
    let t = draw(&s, 80, 24);
    let screen = format!("{:?}", t.backend());
    assert!(!screen.contains("hunter2"), "the password is masked");
    both_sizes!("password_env_unset", s);
}

#[test]
fn profile_editor_with_an_error() {
    let mut s = base();
    key(&mut s, KeyCode::Char('p'));
    key(&mut s, KeyCode::Char('n'));
    for c in "staging".chars() {
        key(&mut s, KeyCode::Char(c));
    }
    key(&mut s, KeyCode::Enter);
    for c in "junk = ".chars() {
        key(&mut s, KeyCode::Char(c));
    }
    update(
        &mut s,
        Message::Key(KeyEvent::new(KeyCode::Char('s'), KeyModifiers::CONTROL)),
    );
    both_sizes!("profile_editor", s);
}

#[test]
fn no_color_draws_without_colours() {
    let s = stepped();
    let mut t = Terminal::new(TestBackend::new(80, 24)).expect("terminal");
    t.draw(|f| view(&s, f, Theme { color: false }))
        .expect("draw");
    let buf = t.backend().buffer();
    for cell in buf.content() {
        assert_eq!(
            cell.fg,
            ratatui::style::Color::Reset,
            "NO_COLOR: {:?}",
            cell
        );
    }
}

/// The TLS pane (t) lists the chain as sent, with its warnings.
#[test]
fn tls_pane_shows_the_chain() {
    use smtpscope::tls_info::{CertSummary, ChainCheck, OcspStaple, TlsInfo, Verification};
    let mut s = base();
    let cert = |subject: &str, issuer: &str, days: i64, ca: bool| CertSummary {
        subject: subject.into(),
        issuer: issuer.into(),
        sans: if ca {
            vec![]
        } else {
            vec!["DNS:mx.example.com".into()]
        },
        not_before: "Jan  1 00:00:00 2020 +00:00".into(),
        not_after: "Dec  4 00:00:00 2026 +00:00".into(),
        days_left: Some(days),
        key: "EC P-256".into(),
        signature_algorithm: "ecdsa-with-SHA256".into(),
        sha256: "AB:CD".into(),
        is_ca: ca,
        self_signed: false,
    };
    let chain = vec![
        cert("CN=mx.example.com", "CN=Inter", 2, false),
        cert("CN=Inter", "CN=Root", 900, true),
    ];
    s.conn.tls = Some(Box::new(TlsInfo {
        version: "TLSv1.3".into(),
        cipher_suite: "TLS13_AES_256_GCM_SHA384".into(),
        key_exchange: Some("X25519".into()),
        verification: Verification {
            verified: true,
            failure: None,
            problem: None,
            also: Vec::new(),
            accepted_insecurely: false,
            dane_ee: None,
            name: "mx.example.com".into(),
            trust: "platform trust store".into(),
        },
        chain_check: ChainCheck::of(&chain, None),
        chain,
        ocsp: OcspStaple::default(),
        chain_der: Vec::new(),
        resumed: false,
    }));
    let mut rejected = s.conn.tls.clone().unwrap();
    key(&mut s, KeyCode::Char('t'));
    let t = draw(&s, 160, 48);
    let text: String = t
        .backend()
        .buffer()
        .content()
        .iter()
        .map(|c| c.symbol())
        .collect();
    for want in [
        "TLSv1.3",
        "TLS13_AES_256_GCM_SHA384",
        "X25519",
        "verified for mx.example.com against the platform trust store",
        "#1 server certificate",
        "WARN only 2 days left",
        "#2 CA certificate",
        "chain: 2 certificate(s), in order, complete",
        "no OCSP response stapled",
    ] {
        assert!(
            text.contains(want),
            "{want:?} not on screen:\n{}",
            t.backend()
        );
    }

    // A handshake that stopped at the certificate still shows the chain, and why.
    rejected.verification.verified = false;
    rejected.verification.failure = Some("name mismatch: wanted \"mx.example.com\"".into());
    s.conn.tls = None;
    s.conn.tls_rejected = Some(rejected);
    let t = draw(&s, 160, 48);
    let text: String = t
        .backend()
        .buffer()
        .content()
        .iter()
        .map(|c| c.symbol())
        .collect();
    for want in [
        "handshake stopped at the certificate:",
        "NOT verified for mx.example.com against the platform trust store: name mismatch",
        "#1 server certificate",
    ] {
        assert!(
            text.contains(want),
            "{want:?} not on screen:\n{}",
            t.backend()
        );
    }
}
/// A on an open relay: the verdict says why once, and both steps stay in view.
fn failed() -> State {
    let mut s = base();
    key(&mut s, KeyCode::Enter);
    let reason = "expected rejected by policy (5xx, not 5.1.x)";
    for (index, verdict, reply, why) in [
        (
            0,
            smtpscope::scenario::Verdict::Pass,
            "250 2.1.0 Ok",
            "accepted as expected",
        ),
        (
            1,
            smtpscope::scenario::Verdict::Fail,
            "250 2.1.5 Ok",
            reason,
        ),
    ] {
        net(
            &mut s,
            NetEvent::Step {
                index,
                result: smtpscope::scenario::StepResult {
                    name: None,
                    command: "X".into(),
                    expected: "x".into(),
                    reply: Some(smtpscope::scenario::runner::ReplySummary {
                        code: Some(250),
                        enhanced: None,
                        text: reply.into(),
                    }),
                    verdict,
                    reason: why.into(),
                    elapsed_ms: 1,
                    role: smtpscope::scenario::model::Role::Probe,
                    note: None,
                    edited: false,
                },
            },
        );
    }
    net(
        &mut s,
        NetEvent::Done {
            verdict: smtpscope::scenario::Verdict::Fail,
            reason: format!("RCPT TO:<relay-test@elsewhere.example.org> — 250 2.1.5 Ok: {reason}"),
            edited: Vec::new(),
        },
    );
    s
}

#[test]
fn the_verdict_says_why_once_and_keeps_the_steps_in_view() {
    let s = failed();
    both_sizes!("verdict_failed", s);
    for (w, h) in [(80, 24), (120, 35)] {
        let screen = rows(&draw(&s, w, h));
        // The verdict panel: the left column, under the scenario list.
        let left = if w >= 120 { 44 } else { usize::from(w * 2 / 5) };
        let panel: String = screen
            .iter()
            .map(|r| r.chars().take(left).collect::<String>() + "\n")
            .collect();
        assert!(panel.contains("✓ outside sender"), "{w}x{h}:\n{panel}");
        assert!(panel.contains("✗ outside recipient"), "{w}x{h}:\n{panel}");
        assert!(
            panel.matches("expected rejected").count() <= 1,
            "{w}x{h}:\n{panel}"
        );
    }
}

/// The first run as a class would do it: A stepped on lab-open, then on lab-secure.
fn first_run() -> State {
    let mut s = compared();
    s.verdicts = Default::default();
    for (replies, verdict, reason) in [
        (
            ["250 2.1.0 Ok", "250 2.1.5 Ok"],
            smtpscope::scenario::Verdict::Fail,
            "RCPT TO:<relay-test@elsewhere.example.org> — 250 2.1.5 Ok: expected rejected by policy (5xx, not 5.1.x)",
        ),
        (
            [
                "250 2.1.0 Ok",
                "554 5.7.1 <relay-test@elsewhere.example.org>: Relay access denied",
            ],
            smtpscope::scenario::Verdict::Pass,
            "RCPT TO:<relay-test@elsewhere.example.org> — 554 5.7.1 Relay access denied",
        ),
    ] {
        next_profile(&mut s);
        net(&mut s, NetEvent::Idle);
        key(&mut s, KeyCode::Enter);
        for (index, reply) in replies.into_iter().enumerate() {
            let v = if index == 1 {
                verdict
            } else {
                smtpscope::scenario::Verdict::Pass
            };
            net(
                &mut s,
                NetEvent::Step {
                    index,
                    result: smtpscope::scenario::StepResult {
                        name: None,
                        command: "X".into(),
                        expected: "x".into(),
                        reply: Some(smtpscope::scenario::runner::ReplySummary {
                            code: None,
                            enhanced: None,
                            text: reply.into(),
                        }),
                        verdict: v,
                        reason: String::new(),
                        elapsed_ms: 1,
                        role: smtpscope::scenario::model::Role::Probe,
                        note: None,
                        edited: false,
                    },
                },
            );
        }
        net(
            &mut s,
            NetEvent::Done {
                verdict,
                reason: reason.into(),
                edited: Vec::new(),
            },
        );
    }
    s
}

#[test]
fn compare_view_puts_the_two_labs_side_by_side() {
    let mut s = first_run();
    key(&mut s, KeyCode::Char('v'));
    both_sizes!("compare_view", s);
    // At 60x20 (above) the border's hint keeps its start (it used to lose it to the right
    // alignment).
    let screen = rows(&draw(&s, 120, 35)).join("\n");
    assert!(
        screen.contains("lab-secure —") && screen.contains("lab-open —"),
        "{screen}"
    );
    assert!(screen.contains("≠"), "{screen}");
}

/// The README's pictures, drawn from the same buffers as the snapshots. With
/// `UPDATE_SCREENSHOTS=1` they are written to docs/screenshots/; otherwise the test fails when
/// a file differs from what the code draws now, so the README never shows an old screen.
#[test]
fn readme_screenshots() {
    // A on an open relay: the transcript, the verdict and the reply code explained.
    let mut stepped_fail = failed();
    stepped_fail.profiles.entries[0].name = "lab-open".into();
    stepped_fail.profiles.entries[0].saved = false;
    stepped_fail.profiles.entries[0].profile.server = "127.0.0.1:40539".into();
    for e in [
        received(
            0,
            false,
            b"220 mail.lab.example ESMTP smtpscope practice lab (open relay)\r\n",
        ),
        sent(1, false, "EHLO probe.test"),
        received(
            2,
            false,
            b"250-mail.lab.example\r\n250-PIPELINING\r\n250 STARTTLS\r\n",
        ),
        sent(3, false, "STARTTLS"),
        received(4, false, b"220 2.0.0 Ready to start TLS\r\n"),
        entry(
            9,
            true,
            EntryKind::Event(Event::TlsEstablished(Box::new(tls_info()))),
        ),
        sent(10, true, "EHLO probe.test"),
        received(
            11,
            true,
            b"250-mail.lab.example\r\n250 AUTH PLAIN LOGIN\r\n",
        ),
        sent(900, true, "MAIL FROM:<relay-test@outside.example.net>"),
        received(901, true, b"250 2.1.0 Ok\r\n"),
        sent(1500, true, "RCPT TO:<relay-test@elsewhere.example.org>"),
        received(1501, true, b"250 2.1.5 Ok\r\n"),
        sent(1502, true, "QUIT"),
        received(1503, true, b"221 2.0.0 Bye\r\n"),
    ] {
        net(&mut stepped_fail, NetEvent::Entry(e));
    }
    stepped_fail.verdicts.record(
        "lab-open",
        "unauth-relay",
        smtpscope::scenario::Verdict::Fail,
    );
    key(&mut stepped_fail, KeyCode::Tab);
    // The RCPT's reply, explained in the strip above the editor.
    for _ in 0..2 {
        key(&mut stepped_fail, KeyCode::Up);
    }
    let mut compare = first_run();
    key(&mut compare, KeyCode::Char('v'));
    let mut caps = connected();
    key(&mut caps, KeyCode::Char('c'));
    let mut profiles = first_run();
    key(&mut profiles, KeyCode::Char('p'));
    let shots: Vec<(&str, &str, State)> = vec![
        (
            "first-run",
            "The first run: scenario A on lab-open and lab-secure, side by side",
            first_run(),
        ),
        (
            "session",
            "Scenario A stepped on the open relay: transcript, verdict, reply code explained",
            stepped_fail,
        ),
        (
            "compare",
            "The compare view: one scenario's steps on two profiles",
            compare,
        ),
        (
            "capabilities",
            "Capabilities before and after TLS, with what TLS changed marked",
            caps,
        ),
        (
            "profiles",
            "The profile list: name, server and last verdicts",
            profiles,
        ),
    ];
    let dir = std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join("docs/screenshots");
    let update = std::env::var_os("UPDATE_SCREENSHOTS").is_some_and(|v| v == "1");
    let mut stale = Vec::new();
    for (name, title, state) in &shots {
        let t = draw(state, 120, 35);
        let picture = svg::render(t.backend().buffer(), title);
        let path = dir.join(format!("{name}.svg"));
        if update {
            std::fs::create_dir_all(&dir).expect("mkdir docs/screenshots");
            std::fs::write(&path, &picture).expect("write screenshot");
        } else if std::fs::read_to_string(&path).ok().as_deref() != Some(picture.as_str()) {
            stale.push(path.display().to_string());
        }
    }
    assert!(
        stale.is_empty(),
        "README screenshots differ from what the code draws: {stale:?}\n\
         regenerate them with: UPDATE_SCREENSHOTS=1 cargo test --test tui_screens readme_screenshots"
    );
}

/// A long session: Home shows its first lines, and a selection moved far up stays on screen.
#[test]
fn home_and_a_selection_far_up_stay_in_view() {
    let mut s = base();
    for i in 0..200u64 {
        net(
            &mut s,
            NetEvent::Entry(sent(i, false, &format!("NOOP {i}"))),
        );
    }
    key(&mut s, KeyCode::Tab);
    key(&mut s, KeyCode::Home);
    let screen = rows(&draw(&s, 80, 24)).join("\n");
    assert!(
        screen.contains("C: NOOP 0 ") || screen.contains("C: NOOP 0│"),
        "{screen}"
    );
    key(&mut s, KeyCode::End);
    for _ in 0..120 {
        key(&mut s, KeyCode::Up);
    }
    assert_eq!(s.transcript.selected_line, Some(79));
    let screen = rows(&draw(&s, 80, 24)).join("\n");
    assert!(screen.contains("C: NOOP 79 "), "{screen}");
    assert!(
        screen.contains("selected: a command smtpscope sent"),
        "{screen}"
    );
}
