//! The security invariants of the engine, each against a scripted local server that tries to
//! make the client break it. Every test checks what the server actually received, so it fails
//! if the invariant is removed.

#![allow(clippy::expect_used, clippy::unwrap_used)] // test code: a failed setup should panic loudly

mod common;

use std::time::Duration;

use assert_cmd::Command;
use common::fake_server::{FakeServer, Peer, TestPki, greet, send_ehlo};

fn smtpscope() -> Command {
    let mut cmd = Command::cargo_bin("smtpscope").expect("binary");
    cmd.timeout(Duration::from_secs(30));
    cmd
}

fn output(cmd: &mut Command) -> (i32, String) {
    let out = cmd.output().expect("run smtpscope");
    let text = format!(
        "{}{}",
        String::from_utf8_lossy(&out.stdout),
        String::from_utf8_lossy(&out.stderr)
    );
    (out.status.code().unwrap_or(-1), text)
}

fn lines_after<'a>(received: &'a [(bool, String)], verb: &str) -> &'a [(bool, String)] {
    match received
        .iter()
        .position(|(_, l)| l.to_ascii_uppercase().starts_with(verb))
    {
        Some(i) => &received[i + 1..],
        None => &[],
    }
}

/// Invariant a: plaintext that follows STARTTLS's 220 is never parsed as a reply; the client
/// stops before the handshake and shows the bytes as discarded.
#[test]
fn starttls_response_injection_stops_the_session() {
    let pki = TestPki::new(&["localhost"], false);
    let server = FakeServer::start(Some(pki.server_config()), false, |peer: &mut Peer| {
        greet(peer, &["STARTTLS", "AUTH PLAIN"]);
        peer.expect("STARTTLS");
        // Poddebniak et al. 2021, case B_1: the forged post-TLS EHLO answer rides along.
        peer.send(b"220 Ready to start TLS\r\n250-evil.example\r\n250 AUTH LOGIN\r\n");
        peer.drain();
    });
    let (code, out) = output(smtpscope().args([
        "session",
        "--server",
        &server.addr(),
        "--ca-file",
        &pki.ca_path(),
        "--tls-name",
        "localhost",
        "--helo",
        "probe.test",
        "--timeout",
        "5",
    ]));
    let received = server.finish();
    assert_eq!(code, 9, "{out}");
    assert!(out.contains("STARTTLS response injection"), "{out}");
    assert!(out.contains("bytes discarded"), "{out}");
    assert!(
        out.contains("250-evil.example"),
        "the discarded bytes are shown: {out}"
    );
    assert!(
        lines_after(&received, "STARTTLS").is_empty(),
        "nothing, not even a ClientHello, may follow: {received:?}"
    );
    assert!(!out.contains("TLS established"), "{out}");
}

fn require_tls_args(addr: &str, ca: &str) -> Vec<String> {
    [
        "session",
        "--server",
        addr,
        "--require-tls",
        "--ca-file",
        ca,
        "--tls-name",
        "localhost",
        "--auth",
        "plain",
        "--user",
        "alice",
        "--password-env",
        "SMTPSCOPE_TEST_PW",
        "--to",
        "bob@elsewhere.example",
        "--timeout",
        "5",
    ]
    .iter()
    .map(|s| s.to_string())
    .collect()
}

/// Invariant b: TLS required but STARTTLS not advertised — nothing more is sent.
#[test]
fn required_tls_not_offered_sends_nothing_more() {
    let pki = TestPki::new(&["localhost"], false);
    let server = FakeServer::start(None, false, |peer: &mut Peer| {
        greet(peer, &["AUTH PLAIN LOGIN", "PIPELINING"]);
        peer.drain();
    });
    let (code, out) = output(
        smtpscope()
            .args(require_tls_args(&server.addr(), &pki.ca_path()))
            .env("SMTPSCOPE_TEST_PW", "s3cret-pw"),
    );
    let received = server.finish();
    assert_eq!(code, 4, "{out}");
    assert!(out.contains("does not advertise STARTTLS"), "{out}");
    assert!(lines_after(&received, "EHLO").is_empty(), "{received:?}");
}

/// Invariant b: STARTTLS refused (454, 502, or an odd 354) — nothing more is sent.
#[test]
fn required_tls_refused_sends_nothing_more() {
    for refusal in [
        "454 4.7.0 TLS not available due to local problem\r\n",
        "502 5.5.1 no\r\n",
        "354 go on\r\n",
    ] {
        let pki = TestPki::new(&["localhost"], false);
        let server = FakeServer::start(None, false, move |peer: &mut Peer| {
            greet(peer, &["STARTTLS", "AUTH PLAIN"]);
            peer.expect("STARTTLS");
            peer.send(refusal.as_bytes());
            peer.drain();
        });
        let (code, out) = output(
            smtpscope()
                .args(require_tls_args(&server.addr(), &pki.ca_path()))
                .env("SMTPSCOPE_TEST_PW", "s3cret-pw"),
        );
        let received = server.finish();
        assert_eq!(code, 4, "{refusal}: {out}");
        assert!(out.contains("refused STARTTLS"), "{out}");
        assert!(
            lines_after(&received, "STARTTLS").is_empty(),
            "{refusal}: {received:?}"
        );
    }
}

/// Invariant b: the handshake fails (untrusted certificate) — no AUTH, no MAIL, exit 4, and the
/// error says why.
#[test]
fn required_tls_handshake_failure_sends_nothing_more() {
    let pki = TestPki::new(&["localhost"], false);
    let server = FakeServer::start(Some(pki.server_config()), false, |peer: &mut Peer| {
        greet(peer, &["STARTTLS", "AUTH PLAIN"]);
        peer.expect("STARTTLS");
        peer.send(b"220 2.0.0 Ready to start TLS\r\n");
        assert!(!peer.start_tls(), "the client must reject the certificate");
        // The connection stays open: anything the client sends now is logged.
        peer.drain();
    });
    // No --ca-file: the test CA is not in the platform store.
    let (code, out) = output(
        smtpscope()
            .args([
                "session",
                "--server",
                &server.addr(),
                "--require-tls",
                "--tls-name",
                "localhost",
                "--auth",
                "plain",
                "--user",
                "alice",
                "--password-env",
                "SMTPSCOPE_TEST_PW",
                "--to",
                "bob@elsewhere.example",
                "--timeout",
                "5",
            ])
            .env("SMTPSCOPE_TEST_PW", "s3cret-pw"),
    );
    let received = server.finish();
    assert_eq!(code, 4, "{out}");
    assert!(out.contains("unknown issuer"), "{out}");
    // The handshake's own bytes were consumed by the server's TLS stack; a stray alert record
    // is allowed, nothing else: no AUTH, no MAIL, not even a QUIT.
    let after: Vec<_> = lines_after(&received, "STARTTLS")
        .iter()
        .filter(|(_, l)| !is_tls_record(l))
        .collect();
    assert!(after.is_empty(), "sent after a failed handshake: {after:?}");
}

/// A TLS record (handshake, alert, ...) rather than a command: content type 20-23, version 3.x.
fn is_tls_record(line: &str) -> bool {
    let b = line.as_bytes();
    b.len() >= 2 && (0x14..=0x17).contains(&b[0]) && b[1] == 0x03
}

/// Invariant b, implicit TLS: a certificate for the wrong name fails the session before any
/// SMTP, and the error names both names.
#[test]
fn implicit_tls_with_wrong_name_fails_with_both_names() {
    let pki = TestPki::new(&["other.example"], false);
    let server = FakeServer::start(Some(pki.server_config()), true, |peer: &mut Peer| {
        peer.send(b"220 fake ESMTP\r\n");
        peer.drain();
    });
    let (code, out) = output(smtpscope().args([
        "session",
        "--server",
        &server.addr(),
        "--tls",
        "implicit",
        "--ca-file",
        &pki.ca_path(),
        "--tls-name",
        "localhost",
        "--timeout",
        "5",
    ]));
    let received = server.finish();
    assert_eq!(code, 4, "{out}");
    assert!(out.contains("name mismatch"), "{out}");
    assert!(
        out.contains("localhost") && out.contains("other.example"),
        "{out}"
    );
    // The fake server reads on after the failed handshake (see FakeServer::start), so a
    // client that sent anything, even a plaintext QUIT, would show here.
    let sent: Vec<_> = received.iter().filter(|(_, l)| !is_tls_record(l)).collect();
    assert!(sent.is_empty(), "{sent:?}");
}

/// Invariant c: AUTH is never sent on a cleartext connection unless explicitly allowed. The
/// allowed run is the control: it shows the server would have seen the AUTH line.
#[test]
fn auth_is_never_sent_in_cleartext_unless_allowed() {
    for allow in [false, true] {
        let server = FakeServer::start(None, false, |peer: &mut Peer| {
            greet(peer, &["AUTH PLAIN LOGIN"]);
            while let Some(line) = peer.line() {
                let upper = String::from_utf8_lossy(&line).to_ascii_uppercase();
                if upper.starts_with("AUTH") {
                    peer.send(b"535 5.7.8 no\r\n");
                } else if upper.starts_with("QUIT") {
                    peer.send(b"221 bye\r\n");
                    break;
                } else {
                    peer.send(b"250 ok\r\n");
                }
            }
        });
        let addr = server.addr();
        let mut args = vec![
            "session",
            "--server",
            &addr,
            "--tls",
            "none",
            "--auth",
            "plain",
            "--user",
            "alice",
            "--password-env",
            "SMTPSCOPE_TEST_PW",
            "--timeout",
            "5",
        ];
        if allow {
            args.push("--allow-cleartext-auth");
        }
        let (code, out) = output(
            smtpscope()
                .args(&args)
                .env("SMTPSCOPE_TEST_PW", "s3cret-pw"),
        );
        let received = server.finish();
        let auth_lines: Vec<_> = received
            .iter()
            .filter(|(_, l)| l.to_ascii_uppercase().starts_with("AUTH"))
            .collect();
        assert_eq!(code, 5, "{out}");
        if allow {
            assert_eq!(auth_lines.len(), 1, "control run: {received:?}");
        } else {
            assert!(auth_lines.is_empty(), "{received:?}");
            assert!(out.contains("refusing to send AUTH without TLS"), "{out}");
        }
        assert!(!out.contains("s3cret-pw"), "{out}");
    }
}

/// Invariant d: after STARTTLS, EHLO is sent again inside TLS and only its capabilities count.
#[test]
fn ehlo_is_repeated_inside_tls_and_only_its_capabilities_count() {
    let pki = TestPki::new(&["localhost"], false);
    let server = FakeServer::start(Some(pki.server_config()), false, |peer: &mut Peer| {
        greet(peer, &["STARTTLS", "SIZE 1000", "AUTH PLAIN"]);
        peer.expect("STARTTLS");
        peer.send(b"220 2.0.0 Ready\r\n");
        assert!(peer.start_tls(), "handshake");
        peer.expect("EHLO");
        send_ehlo(peer, &["SIZE 2000", "AUTH LOGIN"]);
        peer.expect("QUIT");
        peer.send(b"221 bye\r\n");
        peer.close();
    });
    let rt = tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
        .expect("runtime");
    let mut opts = smtpscope::net::ConnectOptions::new(
        smtpscope::net::Target::parse(&server.addr(), 25).expect("target"),
    );
    opts.tls.ca_file = Some(pki.ca_file.path().to_path_buf());
    opts.tls.tls_name = Some("localhost".into());
    opts.timeouts.reply = Duration::from_secs(5);
    let mut conn = smtpscope::net::Connection::new(opts, smtpscope::transcript::Transcript::new());
    let plan = smtpscope::oneshot::Plan {
        helo: "probe.test".into(),
        auth: None,
        from: "a@b.example".into(),
        to: vec![],
        body: smtpscope::oneshot::Body::Text(vec![]),
        eight_bit: false,
        tls_optional: false,
        show_data_full: false,
        force: false,
        pipeline: false,
        bdat: None,
        drop: false,
        mail_params: Default::default(),
        rcpt_params: Default::default(),
        // The last EHLO: `Tls` now stops right after the handshake, as swaks's tls does.
        quit_after: smtpscope::oneshot::QuitAfter::Ehlo,
    };
    let outcome = rt.block_on(smtpscope::oneshot::run(&plan, &mut conn));
    let received = server.finish();
    assert_eq!(outcome.failure.as_ref().map(|f| &f.1), None);
    let ehlos: Vec<bool> = received
        .iter()
        .filter(|(_, l)| l.starts_with("EHLO"))
        .map(|(tls, _)| *tls)
        .collect();
    assert_eq!(
        ehlos,
        vec![false, true],
        "one EHLO before TLS, one inside: {received:?}"
    );
    let caps = conn
        .session()
        .capabilities()
        .expect("post-TLS capabilities");
    assert_eq!(caps.size_limit(), Some(2000));
    assert_eq!(caps.auth_mechanisms(), vec!["LOGIN".to_string()]);
    assert!(conn.tls_info().is_some_and(|t| t.verification.verified));
    let text = conn.transcript().to_text();
    assert!(text.contains("tls C: EHLO probe.test"), "{text}");
}

/// SECURITY.md §2: `--insecure` accepts a bad certificate but still runs the real verifier
/// and records exactly why it failed: unknown issuer; name mismatch with both names; expiry
/// with the date.
#[test]
fn insecure_still_records_the_exact_verification_failure() {
    let untrusted = TestPki::new(&["localhost"], false);
    let other_name = TestPki::new(&["other.example"], false);
    let expired = TestPki::new(&["localhost"], true);
    let cases: [(&TestPki, bool, &[&str]); 3] = [
        // No --ca-file: the test CA is in no trust store.
        (&untrusted, false, &["unknown issuer"]),
        (
            &other_name,
            true,
            &["name mismatch: wanted localhost,", "other.example"],
        ),
        (&expired, true, &["expired on 2002-01-01"]),
    ];
    for (pki, with_ca, says) in cases {
        let server = FakeServer::start(Some(pki.server_config()), false, |peer: &mut Peer| {
            greet(peer, &["STARTTLS"]);
            peer.expect("STARTTLS");
            peer.send(b"220 2.0.0 Ready\r\n");
            assert!(peer.start_tls(), "--insecure completes the handshake");
            peer.expect("EHLO");
            send_ehlo(peer, &["SIZE 1000"]);
            peer.expect("QUIT");
            peer.send(b"221 bye\r\n");
            peer.close();
        });
        let mut args = vec![
            "session".to_string(),
            "--server".into(),
            server.addr(),
            "--tls-name".into(),
            "localhost".into(),
            "--helo".into(),
            "probe.test".into(),
            "--insecure".into(),
            // The EHLO inside TLS too, as the scripted server expects (`tls` stops right
            // after the handshake).
            "--quit-after".into(),
            "ehlo".into(),
            "--timeout".into(),
            "5".into(),
            "--format".into(),
            "json".into(),
        ];
        if with_ca {
            args.extend(["--ca-file".to_string(), pki.ca_path()]);
        }
        let (code, out) = output(smtpscope().args(&args));
        server.finish();
        assert_eq!(code, 0, "{says:?}: {out}");
        let doc: serde_json::Value = serde_json::from_str(&out).expect("json");
        let v = &doc["tls"]["verification"];
        assert_eq!(v["verified"], false, "{v}");
        assert_eq!(v["accepted_insecurely"], true, "{v}");
        let failure = v["failure"].as_str().unwrap_or_default();
        for want in says {
            assert!(failure.contains(want), "{want:?} missing from {failure:?}");
        }
    }
}

/// SECURITY.md §3: `check` never prompts, even on a terminal: with no password source it is
/// a usage error (exit 2) before any connection. The control, `session` on the same terminal,
/// does prompt, so a prompt would be seen.
#[test]
fn check_never_prompts_even_on_a_terminal() {
    use common::pty::Tui;
    let listener = std::net::TcpListener::bind("127.0.0.1:0").expect("bind");
    listener.set_nonblocking(true).expect("nonblocking");
    let addr = listener.local_addr().expect("addr").to_string();
    let cfg = tempfile::tempdir().expect("config dir");
    let auth = ["--auth", "plain", "--user", "alice"];

    let mut args = vec!["check", "--server", &addr, "--scenario", "B"];
    args.extend(auth);
    let mut check = Tui::spawn(cfg.path(), &args);
    assert_eq!(check.wait_exit(), 2, "{}", check.output());
    // The pty's reader may still be catching up with what the child wrote before exiting.
    check.wait_until("check's usage error", |t| {
        t.output()
            .contains("no password source: give --password-env VAR or --password-file FILE")
    });
    let said = check.output();
    assert!(!said.contains("Password for"), "check prompted: {said}");
    assert!(
        matches!(listener.accept(), Err(e) if e.kind() == std::io::ErrorKind::WouldBlock),
        "check connected"
    );

    let mut args = vec!["session", "--server", &addr, "--quit-after", "auth"];
    args.extend(auth);
    let session = Tui::spawn(cfg.path(), &args);
    session.wait_until("session's password prompt", |t| {
        t.output().contains("Password for alice: ")
    });
    // Dropping the harness kills the prompting session.
}

/// SECURITY.md §2: `--insecure` still checks the handshake signatures. A server presents a
/// certificate but signs the handshake with a key that is not the certificate's (what a
/// machine-in-the-middle replaying someone else's certificate would do): the handshake fails
/// on TLS 1.2 and 1.3 alike, and nothing is sent over it.
#[test]
fn insecure_still_refuses_a_handshake_signed_with_another_key() {
    let pki = TestPki::new(&["localhost"], false);
    for version in [&rustls::version::TLS12, &rustls::version::TLS13] {
        let config = pki.server_config_without_the_key(version);
        let server = FakeServer::start(Some(config), false, |peer: &mut Peer| {
            greet(peer, &["STARTTLS"]);
            peer.expect("STARTTLS");
            peer.send(b"220 2.0.0 Ready\r\n");
            assert!(!peer.start_tls(), "the client must reject the handshake");
        });
        let (code, out) = output(smtpscope().args([
            "session",
            "--server",
            &server.addr(),
            "--tls-name",
            "localhost",
            "--ca-file",
            &pki.ca_path(),
            "--helo",
            "probe.test",
            "--insecure",
            "--quit-after",
            "tls",
            "--timeout",
            "5",
        ]));
        let received = server.finish();
        assert_ne!(code, 0, "{version:?}: {out}");
        assert!(
            out.contains(
                "the server's handshake signature does not verify with its certificate's key"
            ) && out.contains("no setting gets past this"),
            "{version:?}: the error names the bad signature, and --insecure is no way past it: {out}"
        );
        assert!(
            received.iter().all(|(tls, _)| !tls),
            "{version:?}: nothing sent inside the forged session: {received:?}"
        );
    }
}
