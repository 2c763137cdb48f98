//! `session --pipeline`: MAIL, every RCPT and DATA go out in one batch when the server offers
//! PIPELINING (RFC 2920), and the replies are matched in order. The test server reads the
//! whole batch before answering anything, so a client that waited for each reply would stall.

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
            "--to",
            "b@y.test",
            "--pipeline",
        ])
        .args(extra)
        .timeout(Duration::from_secs(30))
        .output()
        .unwrap();
    (
        out.status.code(),
        String::from_utf8_lossy(&out.stdout).into_owned(),
    )
}

#[test]
fn the_envelope_goes_out_as_one_batch_and_replies_match_in_order() {
    let server = FakeServer::start(None, false, |peer: &mut Peer| {
        greet(peer, &["PIPELINING"]);
        // The whole batch first: a client waiting for MAIL's reply would hang here.
        for prefix in ["MAIL", "RCPT", "RCPT", "DATA"] {
            peer.expect(prefix);
        }
        peer.send(b"250 2.1.0 Ok\r\n250 2.1.5 Ok\r\n550 5.1.1 <b@y.test>: unknown\r\n354 go\r\n");
        while let Some(l) = peer.line() {
            if l == b".\r\n" {
                break;
            }
        }
        peer.send(b"250 2.0.0 queued\r\n");
        peer.expect("QUIT");
        peer.send(b"221 bye\r\n");
        peer.close();
    });
    let (code, out) = session(&server.addr(), &[]);
    server.finish();
    assert_eq!(code, Some(0), "{out}");
    assert!(out.contains("S: 550 5.1.1 <b@y.test>: unknown"), "{out}");
    assert!(out.contains("S: 250 2.0.0 queued"), "{out}");
    assert!(!out.contains("unsolicited"), "{out}");
}

#[test]
fn a_refused_sender_in_a_batch_leaves_no_reply_behind() {
    let server = FakeServer::start(None, false, |peer: &mut Peer| {
        greet(peer, &["PIPELINING"]);
        for prefix in ["MAIL", "RCPT", "RCPT", "DATA"] {
            peer.expect(prefix);
        }
        peer.send(
            b"553 5.7.1 sender refused\r\n503 5.5.1 need MAIL\r\n503 5.5.1 need MAIL\r\n503 5.5.1 need MAIL\r\n",
        );
        peer.expect("QUIT");
        peer.send(b"221 2.0.0 Bye\r\n");
        peer.close();
    });
    let (code, out) = session(&server.addr(), &[]);
    server.finish();
    assert_eq!(code, Some(6), "sender rejected: {out}");
    // QUIT got its own reply, not one of the batch's.
    assert!(out.contains("S: 221 2.0.0 Bye"), "{out}");
}

#[test]
fn without_pipelining_offered_commands_go_one_at_a_time() {
    let server = FakeServer::start(None, false, |peer: &mut Peer| {
        greet(peer, &[]);
        for (prefix, reply) in [
            ("MAIL", &b"250 ok\r\n"[..]),
            ("RCPT", b"250 ok\r\n"),
            ("RCPT", b"250 ok\r\n"),
        ] {
            peer.expect(prefix);
            peer.send(reply);
        }
        peer.expect("QUIT");
        peer.send(b"221 bye\r\n");
        peer.close();
    });
    let (code, out) = session(&server.addr(), &["--quit-after", "rcpt"]);
    server.finish();
    assert_eq!(code, Some(0), "{out}");
    assert!(out.contains("does not advertise PIPELINING"), "{out}");
}
