//! A relay probe ends as README says: after RCPT (accepted or not) it sends RSET, then QUIT,
//! and never DATA unless asked. Proved by what a server received: a scripted loopback server
//! that checks each line in order, and (in postfix_check.rs) Postfix's own per-session
//! command counts.

#![allow(clippy::expect_used, clippy::unwrap_used)] // test code: a failed setup should panic loudly

mod common;

use std::time::Duration;

use assert_cmd::Command;
use common::fake_server::{FakeServer, Peer, greet};

fn check(server: &FakeServer, scenario: &str) -> (i32, String) {
    let out = Command::cargo_bin("smtpscope")
        .expect("binary")
        .timeout(Duration::from_secs(30))
        .env(
            "SMTPSCOPE_CONFIG_DIR",
            std::env::temp_dir().join("smtpscope-probe-ending-empty-config"),
        )
        .args(["check", "--server", &server.addr(), "--tls", "none"])
        .args(["--helo", "probe.test", "--scenario", scenario])
        .args(["--local-recipient", "postmaster@fake.test"])
        .output()
        .expect("run check");
    (
        out.status.code().unwrap_or(-1),
        format!(
            "{}{}",
            String::from_utf8_lossy(&out.stdout),
            String::from_utf8_lossy(&out.stderr)
        ),
    )
}

/// The commands the server received, verbs only, in order.
fn verbs(received: &[(bool, String)]) -> Vec<String> {
    received
        .iter()
        .map(|(_, l)| {
            l.split([' ', ':', '\r', '\n'])
                .next()
                .unwrap_or("")
                .to_ascii_uppercase()
        })
        .collect()
}

#[test]
fn an_accepted_probe_withdraws_its_envelope_before_quit() {
    let server = FakeServer::start(None, false, |peer: &mut Peer| {
        greet(peer, &["PIPELINING"]);
        peer.expect("MAIL FROM:");
        peer.send(b"250 2.1.0 Ok\r\n");
        peer.expect("RCPT TO:<postmaster@fake.test>");
        peer.send(b"250 2.1.5 Ok\r\n");
        peer.expect("RSET");
        peer.send(b"250 2.0.0 Ok\r\n");
        peer.expect("QUIT");
        peer.send(b"221 2.0.0 Bye\r\n");
        peer.close();
    });
    let (code, out) = check(&server, "local-delivery");
    let received = server.finish();
    assert_eq!(
        verbs(&received),
        ["EHLO", "MAIL", "RCPT", "RSET", "QUIT"],
        "{out}"
    );
    assert_eq!(code, 0, "{out}");
}

#[test]
fn a_refused_recipient_still_gets_rset_before_quit() {
    let server = FakeServer::start(None, false, |peer: &mut Peer| {
        greet(peer, &[]);
        peer.expect("MAIL FROM:");
        peer.send(b"250 2.1.0 Ok\r\n");
        peer.expect("RCPT TO:");
        peer.send(b"550 5.1.1 no such user\r\n");
        peer.expect("RSET");
        peer.send(b"250 2.0.0 Ok\r\n");
        peer.expect("QUIT");
        peer.send(b"221 2.0.0 Bye\r\n");
        peer.close();
    });
    let (_, out) = check(&server, "local-delivery");
    let received = server.finish();
    assert_eq!(
        verbs(&received),
        ["EHLO", "MAIL", "RCPT", "RSET", "QUIT"],
        "{out}"
    );
}

#[test]
fn a_refused_sender_has_nothing_to_withdraw() {
    let server = FakeServer::start(None, false, |peer: &mut Peer| {
        greet(peer, &[]);
        peer.expect("MAIL FROM:");
        peer.send(b"553 5.7.1 sender refused\r\n");
        peer.expect("QUIT");
        peer.send(b"221 2.0.0 Bye\r\n");
        peer.close();
    });
    let (_, out) = check(&server, "local-delivery");
    let received = server.finish();
    assert_eq!(verbs(&received), ["EHLO", "MAIL", "QUIT"], "{out}");
}
