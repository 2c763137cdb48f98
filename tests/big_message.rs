//! A large message goes out streamed, in bounded memory; the transcript keeps its head, tail,
//! length and SHA-256; the advertised SIZE is respected unless forced; and a server that
//! refuses mid-message is heard.

#![allow(clippy::expect_used, clippy::unwrap_used)] // test code: a failed setup should panic loudly

mod common;

use std::time::Duration;

use assert_cmd::Command;
use common::fake_server::{FakeServer, Peer, greet};
use smtpscope::lab::{Lab, LabConfig, Policy};

fn session(args: &[&str]) -> (Option<i32>, String) {
    let config = tempfile::tempdir().unwrap();
    let out = Command::cargo_bin("smtpscope")
        .unwrap()
        .env("SMTPSCOPE_CONFIG_DIR", config.path())
        .arg("session")
        .args(["--tls", "none", "--helo", "probe.test", "--timeout", "10"])
        .args(args)
        .timeout(Duration::from_secs(60))
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

fn sha256_hex(bytes: &[u8]) -> String {
    ring::digest::digest(&ring::digest::SHA256, bytes)
        .as_ref()
        .iter()
        .map(|b| format!("{b:02x}"))
        .collect()
}

#[test]
fn a_large_message_is_summarised_in_the_transcript_and_arrives_whole() {
    let rt = tokio::runtime::Builder::new_multi_thread()
        .worker_threads(2)
        .enable_all()
        .build()
        .unwrap();
    let lab = rt
        .block_on(Lab::start(
            LabConfig {
                listen: "127.0.0.1:0".parse().unwrap(),
                policy: Policy::OpenRelay,
                misbehave: vec![],
                store_dir: None,
            },
            None,
        ))
        .unwrap();
    // 3 MB of lines, some starting with a dot, with bare LFs to be made CRLF.
    let mut body = Vec::new();
    for i in 0..60_000 {
        if i % 7 == 0 {
            body.extend_from_slice(b".dot line that must be stuffed\n");
        } else {
            body.extend_from_slice(format!("line {i} of a large test message\n").as_bytes());
        }
    }
    let dir = tempfile::tempdir().unwrap();
    let file = dir.path().join("big.eml");
    std::fs::write(&file, &body).unwrap();
    let (code, out) = session(&[
        "--server",
        &lab.addr.to_string(),
        "--from",
        "a@outside.example",
        "--to",
        "b@elsewhere.example",
        "--data-file",
        file.to_str().unwrap(),
    ]);
    assert_eq!(code, Some(0), "{}", &out[out.len().saturating_sub(2000)..]);
    let wire = smtpscope::smtp::data::encode_data(&body);
    assert!(
        out.contains(&format!(
            "message body: {} octets on the wire, SHA-256 {}",
            wire.len(),
            sha256_hex(&wire)
        )),
        "{}",
        &out[out.len().saturating_sub(3000)..]
    );
    assert!(
        out.len() < 100_000,
        "the transcript printed {} bytes",
        out.len()
    );
    let stored = lab.messages();
    assert_eq!(stored.len(), 1);
    assert!(
        stored[0].raw == wire,
        "the lab received exactly the encoded message"
    );
}

/// Greets with `SIZE 1000`, takes MAIL and RCPT, and records whether DATA came.
fn size_server() -> FakeServer {
    FakeServer::start(None, false, |peer: &mut Peer| {
        greet(peer, &["SIZE 1000"]);
        while let Some(line) = peer.line() {
            let upper = String::from_utf8_lossy(&line).to_ascii_uppercase();
            if upper.starts_with("QUIT") {
                peer.send(b"221 2.0.0 Bye\r\n");
                break;
            }
            if upper.starts_with("DATA") {
                peer.send(b"354 go ahead\r\n");
                while let Some(l) = peer.line() {
                    if l == b".\r\n" {
                        break;
                    }
                }
                peer.send(b"552 5.3.4 Message size exceeds fixed limit\r\n");
                continue;
            }
            peer.send(b"250 2.0.0 Ok\r\n");
        }
        peer.close();
    })
}

#[test]
fn the_advertised_size_is_respected_unless_forced() {
    let dir = tempfile::tempdir().unwrap();
    let file = dir.path().join("m.eml");
    std::fs::write(&file, "x".repeat(5000)).unwrap();
    let server = size_server();
    let addr = server.addr();
    let args = [
        "--server",
        addr.as_str(),
        "--from",
        "a@b.example",
        "--to",
        "c@d.example",
        "--data-file",
        file.to_str().unwrap(),
    ];
    let (code, out) = session(&args);
    // Decided from the EHLO answer, before MAIL: exit 12, not "DATA rejected".
    assert_eq!(code, Some(12), "{out}");
    assert!(
        out.contains("the message is 5000 octets and the server takes at most 1000 (SIZE)"),
        "{out}"
    );
    let received = server.finish();
    assert!(
        !received
            .iter()
            .any(|(_, l)| l.starts_with("DATA") || l.starts_with("MAIL")),
        "{received:?}"
    );

    let server = size_server();
    let addr = server.addr();
    let mut forced = args.to_vec();
    forced[1] = addr.as_str();
    forced.push("--force");
    let (code, out) = session(&forced);
    assert_eq!(code, Some(8), "{out}");
    assert!(out.contains("552 5.3.4"), "{out}");
    let received = server.finish();
    assert!(
        received.iter().any(|(_, l)| l.starts_with("DATA")),
        "{received:?}"
    );
}

/// A server that answers 552 partway through a large message and closes: its answer, not the
/// broken pipe, decides the outcome (exit 8, DATA rejected).
#[test]
fn a_refusal_mid_message_is_heard() {
    let server = FakeServer::start(None, false, |peer: &mut Peer| {
        greet(peer, &[]);
        peer.expect("MAIL");
        peer.send(b"250 2.1.0 Ok\r\n");
        peer.expect("RCPT");
        peer.send(b"250 2.1.5 Ok\r\n");
        peer.expect("DATA");
        peer.send(b"354 go ahead\r\n");
        for _ in 0..200 {
            if peer.line().is_none() {
                break;
            }
        }
        peer.send(b"552 5.3.4 Message size exceeds fixed limit\r\n");
        peer.close();
    });
    let dir = tempfile::tempdir().unwrap();
    let file = dir.path().join("huge.eml");
    std::fs::write(
        &file,
        "a line of a message that is far too big\n".repeat(500_000),
    )
    .unwrap();
    let (code, out) = session(&[
        "--server",
        &server.addr(),
        "--from",
        "a@b.example",
        "--to",
        "c@d.example",
        "--data-file",
        file.to_str().unwrap(),
    ]);
    assert!(
        out.contains("552 5.3.4 Message size exceeds fixed limit"),
        "{out}"
    );
    assert_eq!(code, Some(8), "{out}");
}
