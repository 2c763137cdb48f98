//! `session --protocol lmtp`: LHLO instead of EHLO, and after the message one reply per
//! accepted recipient, in RCPT order (RFC 2033 §4.2); a refusal for any recipient is exit 8.

#![allow(clippy::expect_used, clippy::unwrap_used)] // test code: a failed setup should panic loudly

mod common;

use std::time::Duration;

use assert_cmd::Command;
use common::fake_server::{FakeServer, Peer};

fn lmtp_server(second: &'static [u8]) -> FakeServer {
    FakeServer::start(None, false, move |peer: &mut Peer| {
        peer.send(b"220 lmtp.test LMTP ready\r\n");
        peer.expect("LHLO");
        peer.send(b"250-lmtp.test\r\n250 PIPELINING\r\n");
        peer.expect("MAIL");
        peer.send(b"250 2.1.0 Ok\r\n");
        peer.expect("RCPT");
        peer.send(b"250 2.1.5 Ok\r\n");
        peer.expect("RCPT");
        peer.send(b"250 2.1.5 Ok\r\n");
        peer.expect("DATA");
        peer.send(b"354 go ahead\r\n");
        while let Some(l) = peer.line() {
            if l == b".\r\n" {
                break;
            }
        }
        // One reply per recipient, in one write as many LMTP servers do.
        let mut replies = b"250 2.0.0 <a@lmtp.test> delivered\r\n".to_vec();
        replies.extend_from_slice(second);
        peer.send(&replies);
        peer.expect("QUIT");
        peer.send(b"221 bye\r\n");
        peer.close();
    })
}

fn session(addr: &str) -> (Option<i32>, String) {
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
            "--protocol",
            "lmtp",
            "--from",
            "s@x.test",
            "--to",
            "a@lmtp.test",
            "--to",
            "b@lmtp.test",
        ])
        .timeout(Duration::from_secs(30))
        .output()
        .unwrap();
    (
        out.status.code(),
        String::from_utf8_lossy(&out.stdout).into_owned(),
    )
}

#[test]
fn every_recipient_gets_its_reply() {
    let server = lmtp_server(b"250 2.0.0 <b@lmtp.test> delivered\r\n");
    let (code, out) = session(&server.addr());
    let received = server.finish();
    assert_eq!(code, Some(0), "{out}");
    assert!(
        received
            .iter()
            .any(|(_, l)| l.starts_with("LHLO probe.test"))
    );
    assert!(!received.iter().any(|(_, l)| l.starts_with("EHLO")));
    assert!(
        out.contains("S: 250 2.0.0 <b@lmtp.test> delivered"),
        "{out}"
    );
    assert!(
        !out.contains("unsolicited"),
        "both replies answered the message: {out}"
    );
}

#[test]
fn a_refusal_for_one_recipient_is_exit_8() {
    let server = lmtp_server(b"552 5.2.2 <b@lmtp.test> mailbox full\r\n");
    let (code, out) = session(&server.addr());
    server.finish();
    assert!(
        out.contains("refused for some recipients: 552 5.2.2 <b@lmtp.test> mailbox full"),
        "{out}"
    );
    assert_eq!(code, Some(8), "{out}");
}
