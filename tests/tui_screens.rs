//! Every TUI screen drawn on a TestBackend at 80x24 and 160x48 and compared with a reviewed
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
        },
    );
    s
}

fn draw(s: &State, w: u16, h: u16) -> Terminal<TestBackend> {
    let mut t = Terminal::new(TestBackend::new(w, h)).expect("terminal");
    t.draw(|f| view(s, f, Theme { color: true })).expect("draw");
    t
}

macro_rules! both_sizes {
    ($name:literal, $state:expr) => {{
        let s = $state;
        insta::assert_snapshot!(concat!($name, "_80x24"), draw(&s, 80, 24).backend());
        insta::assert_snapshot!(concat!($name, "_160x48"), draw(&s, 160, 48).backend());
    }};
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
            },
        );
        key(&mut s, KeyCode::Char('p'));
    }
    // Back on lab-secure, as after running A on each in turn.
    key(&mut s, KeyCode::Char('p'));
    s
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
            text: "MAIL FROM:<relay-test@outside.example.net>".into(),
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
    key(&mut s, KeyCode::Char('a'));
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

/// The capabilities pane (c) lists the TLS chain as sent, with its warnings.
#[test]
fn capabilities_overlay_shows_the_chain() {
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
            accepted_insecurely: false,
            name: "mx.example.com".into(),
            trust: "platform trust store".into(),
        },
        chain_check: ChainCheck::of(&chain, None),
        chain,
        ocsp: OcspStaple::default(),
        chain_der: Vec::new(),
    }));
    let mut rejected = s.conn.tls.clone().unwrap();
    key(&mut s, KeyCode::Char('c'));
    let t = draw(&s, 160, 48);
    let text: String = t
        .backend()
        .buffer()
        .content()
        .iter()
        .map(|c| c.symbol())
        .collect();
    for want in [
        "TLSv1.3, TLS13_AES_256_GCM_SHA384, X25519",
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
