//! `session --bdat [SIZE]`: the message in BDAT chunks (RFC 3030), no dot-stuffing, each chunk
//! answered, the last marked LAST; refused when CHUNKING is not advertised unless --force.

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

#[test]
fn the_message_goes_in_chunks_without_dot_stuffing() {
    let dir = tempfile::tempdir().unwrap();
    let file = dir.path().join("m.eml");
    // 25 octets of content once made CRLF: chunks of 10, 10 and 5.
    std::fs::write(&file, "Subject: x\n\n.dot\nend\n").unwrap();
    let server = FakeServer::start(None, false, |peer: &mut Peer| {
        greet(peer, &["CHUNKING"]);
        peer.expect("MAIL");
        peer.send(b"250 ok\r\n");
        peer.expect("RCPT");
        peer.send(b"250 ok\r\n");
        let mut content = Vec::new();
        loop {
            let line = peer.line().unwrap();
            let text = String::from_utf8(line).unwrap();
            let mut words = text.split_whitespace();
            assert_eq!(words.next(), Some("BDAT"), "{text}");
            let size: usize = words.next().unwrap().parse().unwrap();
            let last = words.next() == Some("LAST");
            let mut chunk = vec![0u8; size];
            peer.read_exact(&mut chunk);
            content.extend(chunk);
            if last {
                peer.send(b"250 2.0.0 queued\r\n");
                break;
            }
            peer.send(b"250 2.0.0 chunk ok\r\n");
        }
        assert_eq!(
            content, b"Subject: x\r\n\r\n.dot\r\nend\r\n",
            "no stuffing, CRLF"
        );
        peer.expect("QUIT");
        peer.send(b"221 bye\r\n");
        peer.close();
    });
    let (code, out) = session(
        &server.addr(),
        &["--bdat", "10", "--data-file", file.to_str().unwrap()],
    );
    let received = server.finish();
    assert_eq!(code, Some(0), "{out}");
    let bdats: Vec<&String> = received
        .iter()
        .map(|(_, l)| l)
        .filter(|l| l.starts_with("BDAT"))
        .collect();
    assert_eq!(bdats.len(), 3, "{received:?}");
    assert!(out.contains("C: BDAT 5 LAST"), "{out}");
    assert!(!received.iter().any(|(_, l)| l.starts_with("DATA")));
}

#[test]
/// Decided from the EHLO answer: nothing but QUIT follows it, and the exit code is the one for
/// a refusal by smtpscope (12), not "DATA rejected" (8): the server rejected nothing.
fn without_chunking_offered_bdat_is_refused() {
    let server = FakeServer::start(None, false, |peer: &mut Peer| {
        greet(peer, &[]);
        peer.expect("QUIT");
        peer.send(b"221 bye\r\n");
        peer.close();
    });
    let (code, out) = session(&server.addr(), &["--bdat"]);
    server.finish();
    assert_eq!(code, Some(12), "{out}");
    assert!(out.contains("does not advertise CHUNKING"), "{out}");
    assert!(!out.contains("C: MAIL"), "{out}");
}
