//! The swaks-style message and envelope options of `session`: DSN, 8BITMIME, SMTPUTF8,
//! REQUIRETLS and free parameters (refused when not advertised, unless --force), --header and
//! --body for the generated message, and --drop-after (close without QUIT). Each is checked by
//! what a scripted server received.

#![allow(clippy::expect_used, clippy::unwrap_used)] // test code: a failed setup should panic loudly

mod common;

use std::time::Duration;

use assert_cmd::Command;
use common::fake_server::{FakeServer, Peer, greet};

fn session(addr: &str, extra: &[&str]) -> (Option<i32>, String) {
    let out = Command::cargo_bin("smtpscope")
        .unwrap()
        .env("SMTPSCOPE_CONFIG_DIR", tempfile::tempdir().unwrap().path())
        .args([
            "session",
            "--server",
            addr,
            "--tls",
            "none",
            "--helo",
            "probe.test",
            "--timeout",
            "5",
            "--from",
            "s@x.test",
            "--to",
            "a@y.test",
        ])
        .args(extra)
        .timeout(Duration::from_secs(30))
        .output()
        .unwrap();
    (
        out.status.code(),
        format!(
            "{}{}",
            String::from_utf8_lossy(&out.stdout),
            String::from_utf8_lossy(&out.stderr)
        ),
    )
}

/// Answers 250 to everything until QUIT, 354 to DATA; records what came.
fn server(caps: &'static [&'static str]) -> FakeServer {
    FakeServer::start(None, false, move |peer: &mut Peer| {
        greet(peer, caps);
        while let Some(line) = peer.line() {
            let upper = String::from_utf8_lossy(&line).to_ascii_uppercase();
            if upper.starts_with("QUIT") {
                peer.send(b"221 bye\r\n");
                break;
            }
            if upper.starts_with("DATA") {
                peer.send(b"354 go\r\n");
                while let Some(l) = peer.line() {
                    if l == b".\r\n" {
                        break;
                    }
                }
            }
            peer.send(b"250 ok\r\n");
        }
        peer.close();
    })
}

fn lines(received: &[(bool, String)], prefix: &str) -> Vec<String> {
    received
        .iter()
        .filter(|(_, l)| l.starts_with(prefix))
        .map(|(_, l)| l.trim_end().to_string())
        .collect()
}

#[test]
fn extension_parameters_go_on_mail_and_rcpt_when_advertised() {
    let s = server(&["DSN", "8BITMIME"]);
    let (code, out) = session(
        &s.addr(),
        &[
            "--dsn-ret",
            "hdrs",
            "--dsn-envid",
            "id 1",
            "--dsn-notify",
            "success,failure",
            "--8bitmime",
            "--mail-param",
            "X-FOO=1",
            "--rcpt-param",
            "X-BAR",
            "--quit-after",
            "rcpt",
        ],
    );
    let received = s.finish();
    assert_eq!(code, Some(0), "{out}");
    assert_eq!(
        lines(&received, "MAIL"),
        ["MAIL FROM:<s@x.test> BODY=8BITMIME RET=HDRS ENVID=id+201 X-FOO=1"]
    );
    assert_eq!(
        lines(&received, "RCPT"),
        ["RCPT TO:<a@y.test> NOTIFY=SUCCESS,FAILURE X-BAR"]
    );
}

#[test]
fn an_extension_the_server_does_not_offer_is_refused_unless_forced() {
    for (flag, keyword) in [
        (&["--dsn-ret", "full"][..], "DSN"),
        (&["--smtputf8"][..], "SMTPUTF8"),
        (&["--8bitmime"][..], "8BITMIME"),
    ] {
        let s = server(&[]);
        let (code, out) = session(&s.addr(), flag);
        let received = s.finish();
        assert_eq!(code, Some(12), "{flag:?}: {out}");
        assert!(
            out.contains(&format!("does not advertise {keyword}")),
            "{out}"
        );
        assert!(lines(&received, "MAIL").is_empty(), "{received:?}");
    }
    let s = server(&[]);
    let mut forced = vec!["--dsn-ret", "full", "--force", "--quit-after", "mail"];
    let (code, out) = session(&s.addr(), &forced);
    let received = s.finish();
    assert_eq!(code, Some(0), "{out}");
    assert_eq!(lines(&received, "MAIL"), ["MAIL FROM:<s@x.test> RET=FULL"]);
    // REQUIRETLS outside TLS is refused even when advertised.
    let s = server(&["REQUIRETLS"]);
    forced = vec!["--requiretls"];
    let (code, out) = session(&s.addr(), &forced);
    s.finish();
    assert_eq!(code, Some(4), "{out}");
    assert!(
        out.contains("REQUIRETLS needs this session to be inside TLS"),
        "{out}"
    );
}

#[test]
fn a_non_ascii_address_brings_smtputf8() {
    let s = server(&["SMTPUTF8"]);
    let out = Command::cargo_bin("smtpscope")
        .unwrap()
        .env("SMTPSCOPE_CONFIG_DIR", tempfile::tempdir().unwrap().path())
        .args([
            "session",
            "--server",
            &s.addr(),
            "--tls",
            "none",
            "--helo",
            "probe.test",
            "--from",
            "jürgen@x.test",
            "--to",
            "a@y.test",
            "--quit-after",
            "mail",
        ])
        .timeout(Duration::from_secs(30))
        .output()
        .unwrap();
    let received = s.finish();
    assert_eq!(out.status.code(), Some(0));
    assert_eq!(
        lines(&received, "MAIL"),
        ["MAIL FROM:<jürgen@x.test> SMTPUTF8"]
    );
}

#[test]
fn headers_and_body_shape_the_generated_message() {
    let s = FakeServer::start(None, false, |peer: &mut Peer| {
        greet(peer, &[]);
        peer.expect("MAIL");
        peer.send(b"250 ok\r\n");
        peer.expect("RCPT");
        peer.send(b"250 ok\r\n");
        peer.expect("DATA");
        peer.send(b"354 go\r\n");
        let mut message = Vec::new();
        while let Some(l) = peer.line() {
            if l == b".\r\n" {
                break;
            }
            message.extend(l);
        }
        let text = String::from_utf8(message).unwrap();
        assert!(
            text.contains("\r\nX-Ticket: 42\r\nX-Other: two words\r\n\r\n"),
            "{text}"
        );
        assert!(text.ends_with("\r\n\r\nhello from the test\r\n"), "{text}");
        peer.send(b"250 queued\r\n");
        peer.expect("QUIT");
        peer.send(b"221 bye\r\n");
        peer.close();
    });
    let (code, out) = session(
        &s.addr(),
        &[
            "--header",
            "X-Ticket: 42",
            "--header",
            "X-Other: two words",
            "--body",
            "hello from the test",
        ],
    );
    s.finish();
    assert_eq!(code, Some(0), "{out}");
    let (code, out) = session("127.0.0.1:9", &["--header", "Bad Name: x"]);
    assert_eq!(code, Some(2), "{out}");
    assert!(out.contains("--header"), "{out}");
}

#[test]
fn drop_after_closes_without_quit() {
    let s = FakeServer::start(None, false, |peer: &mut Peer| {
        greet(peer, &[]);
        peer.expect("MAIL");
        peer.send(b"250 ok\r\n");
        // The client must now go away without another word.
        let rest = peer.drain();
        assert!(
            rest.is_empty(),
            "sent after MAIL: {:?}",
            String::from_utf8_lossy(&rest)
        );
    });
    let (code, out) = session(&s.addr(), &["--drop-after", "mail"]);
    let received = s.finish();
    assert_eq!(code, Some(0), "{out}");
    assert!(lines(&received, "QUIT").is_empty(), "{received:?}");
    assert!(out.contains("closing without QUIT after mail"), "{out}");
}

#[test]
fn attachments_make_a_mime_message() {
    let dir = tempfile::tempdir().unwrap();
    let pdf = dir.path().join("report.pdf");
    std::fs::write(&pdf, b"%PDF-1.4 not really\n").unwrap();
    let s = FakeServer::start(None, false, |peer: &mut Peer| {
        greet(peer, &[]);
        peer.expect("MAIL");
        peer.send(b"250 ok\r\n");
        peer.expect("RCPT");
        peer.send(b"250 ok\r\n");
        peer.expect("DATA");
        peer.send(b"354 go\r\n");
        let mut message = Vec::new();
        while let Some(l) = peer.line() {
            if l == b".\r\n" {
                break;
            }
            message.extend(l);
        }
        let text = String::from_utf8(message).unwrap();
        assert!(text.contains("multipart/mixed"), "{text}");
        assert!(text.contains("application/pdf"), "{text}");
        assert!(text.contains("report.pdf"), "{text}");
        assert!(text.contains("X-Smtpscope-Test: "), "{text}");
        assert!(text.contains("X-Ticket: 7"), "{text}");
        peer.send(b"250 queued\r\n");
        peer.expect("QUIT");
        peer.send(b"221 bye\r\n");
        peer.close();
    });
    let (code, out) = session(
        &s.addr(),
        &["--attach", pdf.to_str().unwrap(), "--header", "X-Ticket: 7"],
    );
    s.finish();
    assert_eq!(code, Some(0), "{out}");
    let missing = dir.path().join("missing.bin");
    let (code, out) = session("127.0.0.1:9", &["--attach", missing.to_str().unwrap()]);
    assert_eq!(code, Some(2), "{out}");
    assert!(out.contains("missing.bin"), "{out}");
}
