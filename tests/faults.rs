//! Servers that stall, flood, drop the connection or send garbage: each gets a clear error
//! within the configured timeout, the transcript so far is kept and printed, and nothing
//! panics or hangs.

#![allow(clippy::expect_used, clippy::unwrap_used)] // test code: a failed setup should panic loudly

mod common;

use std::time::{Duration, Instant};

use assert_cmd::Command;
use common::fake_server::{FakeServer, Peer, greet};

fn run(server: &FakeServer, extra: &[&str]) -> (i32, String, Duration) {
    let mut cmd = Command::cargo_bin("smtpscope").expect("binary");
    cmd.timeout(Duration::from_secs(30));
    cmd.args([
        "session",
        "--server",
        &server.addr(),
        "--tls",
        "none",
        "--helo",
        "probe.test",
    ]);
    cmd.args(extra);
    let started = Instant::now();
    let out = cmd.output().expect("run smtpscope");
    let text = format!(
        "{}{}",
        String::from_utf8_lossy(&out.stdout),
        String::from_utf8_lossy(&out.stderr)
    );
    assert!(!text.contains("panicked"), "{text}");
    (out.status.code().unwrap_or(-1), text, started.elapsed())
}

#[test]
fn no_banner_times_out_with_a_clear_error() {
    let server = FakeServer::start(None, false, |peer: &mut Peer| {
        std::thread::sleep(Duration::from_secs(4));
        peer.close();
    });
    // The server holds the connection longer than the timeout: "no reply within 1.0 s" (not
    // "closed by the server") shows the timeout ended the wait.
    let (code, out, _) = run(&server, &["--timeout", "1"]);
    assert_eq!(code, 10, "{out}");
    assert!(
        out.contains("no reply within 1.0 s while waiting for the banner"),
        "{out}"
    );
    drop(server);
}

#[test]
fn disconnect_mid_reply_keeps_what_arrived() {
    let server = FakeServer::start(None, false, |peer: &mut Peer| {
        greet(peer, &["PIPELINING"]);
        peer.expect("MAIL");
        peer.send(b"250-first line of a reply\r\n250-sec");
        peer.close();
    });
    let (code, out, _) = run(&server, &["--to", "a@b.example", "--timeout", "5"]);
    server.finish();
    assert_eq!(code, 10, "{out}");
    assert!(
        out.contains("connection closed by the server while waiting for the reply to MAIL FROM"),
        "{out}"
    );
    assert!(out.contains("S: 250-first line of a reply"), "{out}");
    assert!(
        out.contains("S: 250-sec"),
        "the partial line is kept: {out}"
    );
    assert!(
        out.contains("the reply ended before its last line"),
        "{out}"
    );
}

#[test]
fn a_megabyte_line_is_cut_counted_and_times_out() {
    let server = FakeServer::start(None, false, |peer: &mut Peer| {
        let mut flood = b"220 ".to_vec();
        flood.extend(std::iter::repeat_n(b'A', 1024 * 1024));
        peer.send(&flood);
        std::thread::sleep(Duration::from_secs(3));
        peer.close();
    });
    // The server holds the connection longer than the timeout: "no reply within 1.0 s" (not
    // "closed by the server") shows the timeout ended the wait.
    let (code, out, _) = run(&server, &["--timeout", "1"]);
    assert_eq!(code, 10, "{out}");
    assert!(
        out.contains("longer than 65536 bytes; the rest was discarded"),
        "{out}"
    );
    assert!(
        out.contains("bytes dropped (over the reply size limits)"),
        "{out}"
    );
    assert!(
        out.contains("no reply within 1.0 s while waiting for the reply to EHLO"),
        "{out}"
    );
}

#[test]
fn garbage_banner_is_a_protocol_violation() {
    let server = FakeServer::start(None, false, |peer: &mut Peer| {
        peer.send(b"\x00\xffHELLO? not smtp\r\n");
        peer.drain();
    });
    let (code, out, _) = run(&server, &["--timeout", "5"]);
    server.finish();
    assert_eq!(code, 9, "{out}");
    assert!(
        out.contains("S: \\0\\xffHELLO? not smtp"),
        "shown escaped, as it arrived: {out}"
    );
    assert!(out.contains("reply code is not three digits"), "{out}");
}

#[test]
fn bare_lf_replies_complete_but_exit_as_violations() {
    let server = FakeServer::start(None, false, |peer: &mut Peer| {
        peer.send(b"220 lf.test ESMTP\n");
        peer.expect("EHLO");
        peer.send(b"250-lf.test\n250 8BITMIME\n");
        peer.expect("MAIL");
        peer.send(b"250 ok\n");
        peer.expect("RCPT");
        peer.send(b"250 ok\n");
        peer.expect("DATA");
        peer.send(b"354 go\n");
        while let Some(l) = peer.line() {
            if l == b".\r\n" {
                break;
            }
        }
        peer.send(b"250 queued\n");
        peer.expect("QUIT");
        peer.send(b"221 bye\n");
    });
    let (code, out, _) = run(&server, &["--to", "a@b.example", "--timeout", "5"]);
    server.finish();
    assert_eq!(code, 9, "{out}");
    assert!(out.contains("ends with a bare LF"), "{out}");
    assert!(out.contains("malformed replies"), "{out}");
}

#[test]
fn a_421_mid_session_is_reported_with_its_text() {
    let server = FakeServer::start(None, false, |peer: &mut Peer| {
        greet(peer, &["PIPELINING"]);
        peer.expect("MAIL");
        peer.send(b"421 4.7.0 Error: too many errors\r\n");
        peer.close();
    });
    let (code, out, _) = run(&server, &["--to", "a@b.example", "--timeout", "5"]);
    server.finish();
    assert_eq!(code, 6, "{out}");
    assert!(
        out.contains("MAIL FROM rejected: 421 4.7.0 Error: too many errors"),
        "{out}"
    );
}

#[test]
fn rejected_recipients_give_exit_7_and_name_each() {
    let server = FakeServer::start(None, false, |peer: &mut Peer| {
        greet(peer, &["PIPELINING"]);
        peer.expect("MAIL");
        peer.send(b"250 2.1.0 Ok\r\n");
        peer.expect("RCPT");
        peer.send(b"554 5.7.1 <x@far.example>: Relay access denied\r\n");
        peer.expect("QUIT");
        peer.send(b"221 bye\r\n");
    });
    let (code, out, _) = run(&server, &["--to", "x@far.example", "--timeout", "5"]);
    server.finish();
    assert_eq!(code, 7, "{out}");
    assert!(
        out.contains("no recipient accepted: <x@far.example>: 554 5.7.1"),
        "{out}"
    );
}

#[test]
fn json_output_is_one_document_with_the_transcript() {
    let server = FakeServer::start(None, false, |peer: &mut Peer| {
        greet(peer, &["SIZE 1000", "X-UNKNOWN-THING yes"]);
        peer.expect("QUIT");
        peer.send(b"221 bye\r\n");
    });
    let (code, out, _) = run(
        &server,
        &["--quit-after", "ehlo", "--format", "json", "--timeout", "5"],
    );
    server.finish();
    assert_eq!(code, 0, "{out}");
    let doc: serde_json::Value = serde_json::from_str(&out).expect("one JSON document");
    assert_eq!(doc["result"]["ok"], true);
    assert_eq!(doc["result"]["exit_code"], 0);
    let kws: Vec<&str> = doc["capabilities"]["before_tls"]["keywords"]
        .as_array()
        .expect("keywords")
        .iter()
        .filter_map(|k| k["keyword"].as_str())
        .collect();
    assert_eq!(kws, ["SIZE", "X-UNKNOWN-THING"]);
    let entries = doc["transcript"]["entries"].as_array().expect("entries");
    assert!(
        entries
            .iter()
            .any(|e| e["direction"] == "sent" && e["text"] == "EHLO probe.test")
    );
    assert!(
        entries
            .iter()
            .any(|e| e["direction"] == "received" && e["code"] == 221)
    );
}
