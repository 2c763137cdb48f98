//! The swaks-style transports and extensions of `session` against a real Postfix: a PROXY
//! header (v1 and v2) and XCLIENT change the client address Postfix logs and applies its
//! relay policy to; BDAT delivers a message of several chunks byte for byte; an SMTPUTF8
//! sender is accepted and delivered; DSN parameters reach Postfix's delivery reports;
//! PIPELINING's batch gets its replies in order.
//!
//! The fixture's `proxy_port` and `xclient_port` trust 192.0.2.0/24 (TEST-NET-1) to relay:
//! that address is only ever named in a header or an XCLIENT command, never connected to.

#![allow(clippy::expect_used, clippy::unwrap_used)] // test code: a failed setup should panic loudly

mod common;

use std::time::Duration;

use assert_cmd::Command;
use common::postfix::{Postfix, shared};

const OUTSIDE_SENDER: &str = "relay-test@outside.example.net";
const OUTSIDE_RCPT: &str = "relay-test@elsewhere.example.org";

fn session(pf: &Postfix, port: u16, extra: &[&str]) -> (i32, String) {
    let mut cmd = Command::cargo_bin("smtpscope").expect("binary");
    cmd.timeout(Duration::from_secs(60));
    cmd.env("SMTPSCOPE_CONFIG_DIR", tempfile::tempdir().unwrap().path());
    cmd.args([
        "session",
        "--server",
        &format!("127.0.0.1:{port}"),
        "--helo",
        "probe.test",
        "--timeout",
        "20",
        "--ca-file",
        &pf.ca_pem_path.display().to_string(),
        "--tls-name",
        "localhost",
    ]);
    cmd.args(extra);
    let out = cmd.output().expect("run smtpscope");
    let text = format!(
        "{}{}",
        String::from_utf8_lossy(&out.stdout),
        String::from_utf8_lossy(&out.stderr)
    );
    (out.status.code().unwrap_or(-1), text)
}

/// Polls Postfix's log (bounded) for a line containing every one of `needles`.
fn wait_for_log(pf: &Postfix, needles: &[&str]) -> String {
    let deadline = std::time::Instant::now() + Duration::from_secs(10);
    loop {
        let log = pf.log();
        if let Some(line) = log.lines().find(|l| needles.iter().all(|n| l.contains(n))) {
            return line.to_string();
        }
        assert!(
            std::time::Instant::now() < deadline,
            "no log line with {needles:?}; log tail:\n{}",
            pf.log_tail(30)
        );
        std::thread::sleep(Duration::from_millis(50));
    }
}

/// MAIL from and RCPT to outside addresses, stopping after RCPT: relayed or refused.
fn relay_probe() -> Vec<&'static str> {
    vec![
        "--from",
        OUTSIDE_SENDER,
        "--to",
        OUTSIDE_RCPT,
        "--quit-after",
        "rcpt",
    ]
}

#[test]
fn a_proxy_header_sets_the_client_postfix_logs_and_judges() {
    let Some(pf) = shared("a_proxy_header_sets_the_client_postfix_logs_and_judges") else {
        return;
    };
    for (version, source, port) in [("v1", "192.0.2.7", 40001), ("v2", "192.0.2.17", 40002)] {
        let from = format!("{source}:{port}");
        let mut args = relay_probe();
        args.extend(["--proxy", version, "--proxy-source", &from]);
        let (code, out) = session(pf, pf.proxy_port, &args);
        assert_eq!(code, 0, "{version}: {out}");
        assert!(
            out.contains("250 2.1.5"),
            "{version}: a trusted client per the header may relay: {out}"
        );
        wait_for_log(pf, &["connect from unknown[", source]);
    }
    // The control: the same probe from an untrusted address in the header is refused, so
    // the 250 above was the header's doing.
    let mut args = relay_probe();
    args.extend(["--proxy", "v2", "--proxy-source", "198.51.100.9:40003"]);
    let (_, out) = session(pf, pf.proxy_port, &args);
    assert!(out.contains("554 5.7.1"), "{out}");
    wait_for_log(pf, &["connect from unknown[", "198.51.100.9"]);
}

#[test]
fn xclient_makes_postfix_judge_another_client_address() {
    let Some(pf) = shared("xclient_makes_postfix_judge_another_client_address") else {
        return;
    };
    // From 127.0.0.1 itself the relay is refused...
    let (_, out) = session(pf, pf.xclient_port, &relay_probe());
    assert!(out.contains("554 5.7.1"), "{out}");
    // ...and as 192.0.2.8 (XCLIENT after EHLO, then EHLO again) it is allowed.
    let mut args = relay_probe();
    args.extend([
        "--xclient",
        "ADDR=192.0.2.8",
        "--xclient",
        "NAME=[UNAVAILABLE]",
    ]);
    let (code, out) = session(pf, pf.xclient_port, &args);
    assert_eq!(code, 0, "{out}");
    assert!(out.contains("XCLIENT ADDR=192.0.2.8"), "{out}");
    assert!(out.contains("250 2.1.5"), "{out}");
}

/// Attributes too long for one line go in two XCLIENT commands, and Postfix applies both.
/// ADDR is given first, yet goes in the last: Postfix authorises each XCLIENT by the client
/// address the one before set, and refuses a second XCLIENT from 192.0.2.9 (550 5.7.0).
#[test]
fn postfix_applies_an_xclient_split_over_two_lines() {
    let Some(pf) = shared("postfix_applies_an_xclient_split_over_two_lines") else {
        return;
    };
    // Valid host names of 243 octets each: NAME and HELO fill the first line.
    let name = vec!["n".repeat(60); 4].join(".");
    let helo = vec!["h".repeat(60); 4].join(".");
    let name_attr = format!("NAME={name}");
    let helo_attr = format!("HELO={helo}");
    let mut args = relay_probe();
    args.extend([
        "--xclient",
        "ADDR=192.0.2.9",
        "--xclient",
        &name_attr,
        "--xclient",
        &helo_attr,
    ]);
    let (code, out) = session(pf, pf.xclient_port, &args);
    assert_eq!(code, 0, "{out}");
    let lines: Vec<&str> = out
        .lines()
        .filter(|l| l.contains("XCLIENT "))
        .filter(|l| !l.contains("250-XCLIENT") && !l.contains("250 XCLIENT"))
        .collect();
    assert_eq!(lines.len(), 2, "two XCLIENT commands: {out}");
    assert!(lines[0].contains("XCLIENT HELO=hhh"), "{out}");
    assert!(
        lines[1].contains("XCLIENT ADDR=192.0.2.9 NAME=nnn"),
        "{out}"
    );
    assert!(out.contains("250 2.1.5"), "relayed as 192.0.2.9: {out}");
    wait_for_log(pf, &[&name[..60], "192.0.2.9"]);
}

/// A message with a unique marker, long enough for several BDAT chunks, with lines that
/// DATA would have to dot-stuff.
fn message(marker: &str) -> Vec<u8> {
    let mut m = format!(
        "From: <sender@outside.example.net>\r\nTo: <postmaster@lab.example>\r\nSubject: {marker}\r\nMessage-ID: <{marker}@probe.test>\r\n\r\n"
    )
    .into_bytes();
    for i in 0..40 {
        m.extend_from_slice(format!(".line {i} starts with a dot\r\n").as_bytes());
    }
    m.extend_from_slice(b".\r\nthe end\r\n");
    m
}

fn unique(tag: &str) -> String {
    let nanos = std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .unwrap()
        .as_nanos();
    format!("{tag}-{nanos}")
}

#[test]
fn bdat_delivers_a_message_of_several_chunks_byte_for_byte() {
    let Some(pf) = shared("bdat_delivers_a_message_of_several_chunks_byte_for_byte") else {
        return;
    };
    let marker = unique("bdat");
    let body = message(&marker);
    let dir = tempfile::tempdir().unwrap();
    let file = dir.path().join("m.eml");
    std::fs::write(&file, &body).unwrap();
    let (code, out) = session(
        pf,
        pf.relaxed_port,
        &[
            "--from",
            "sender@outside.example.net",
            "--to",
            "postmaster@lab.example",
            "--bdat",
            "400",
            "--data-file",
            &file.display().to_string(),
        ],
    );
    assert_eq!(code, 0, "{out}");
    let chunks = out.matches("C: BDAT ").count();
    assert!(
        chunks >= 3,
        "{} bytes in 400-byte chunks: {out}",
        body.len()
    );
    assert!(out.contains(" LAST"), "{out}");
    let got = pf
        .wait_for_message_containing("postmaster", marker.as_bytes(), Duration::from_secs(10))
        .unwrap();
    // Below Postfix's own trace headers, the message exactly as sent (Maildir stores LF line
    // ends): no dot-stuffing added or lost.
    let lf = String::from_utf8(body).unwrap().replace("\r\n", "\n");
    assert!(
        got.ends_with(lf.as_bytes()),
        "delivered:\n{}",
        String::from_utf8_lossy(&got)
    );
}

#[test]
fn an_smtputf8_sender_is_accepted_and_delivered() {
    let Some(pf) = shared("an_smtputf8_sender_is_accepted_and_delivered") else {
        return;
    };
    let marker = unique("utf8");
    let subject = format!("--header=Subject: {marker}");
    let (code, out) = session(
        pf,
        pf.relaxed_port,
        &[
            "--from",
            "jürgen@outside.example.net",
            "--to",
            "postmaster@lab.example",
            &subject,
        ],
    );
    assert_eq!(code, 0, "{out}");
    assert!(out.contains("SMTPUTF8"), "{out}");
    let got = pf
        .wait_for_message_containing("postmaster", marker.as_bytes(), Duration::from_secs(10))
        .unwrap();
    let got = String::from_utf8_lossy(&got);
    assert!(
        got.contains("Return-Path: <jürgen@outside.example.net>"),
        "{got}"
    );
}

#[test]
fn dsn_parameters_reach_postfix_delivery_report() {
    let Some(pf) = shared("dsn_parameters_reach_postfix_delivery_report") else {
        return;
    };
    let envid = unique("envid");
    let (code, out) = session(
        pf,
        pf.relaxed_port,
        &[
            "--from",
            "dsn-sender@outside.example.net",
            "--to",
            "postmaster@lab.example",
            "--dsn-notify",
            "success",
            "--dsn-ret",
            "hdrs",
            "--dsn-envid",
            &envid,
        ],
    );
    assert_eq!(code, 0, "{out}");
    assert!(out.contains(&format!("ENVID={envid}")), "{out}");
    assert!(out.contains("NOTIFY=SUCCESS"), "{out}");
    // NOTIFY=SUCCESS: Postfix reports the delivery to the sender, which lands in the
    // fixture's sink for outside addresses, carrying our ENVID.
    let report = pf
        .wait_for_relayed_message_containing(envid.as_bytes(), Duration::from_secs(20))
        .unwrap();
    let report = String::from_utf8_lossy(&report);
    assert!(
        report.contains(&format!("Original-Envelope-Id: {envid}")),
        "{report}"
    );
    assert!(report.contains("Action: delivered"), "{report}");
}

#[test]
fn a_pipelined_envelope_gets_its_replies_in_order() {
    let Some(pf) = shared("a_pipelined_envelope_gets_its_replies_in_order") else {
        return;
    };
    // A local recipient (accepted) and an outside one (refused) in one batch with MAIL and
    // DATA: each reply must be matched to its own command, and the message delivered.
    let marker = unique("pipelined");
    let subject = format!("--header=Subject: {marker}");
    let (code, out) = session(
        pf,
        pf.relaxed_port,
        &[
            "--pipeline",
            "--from",
            OUTSIDE_SENDER,
            "--to",
            "postmaster@lab.example",
            "--to",
            OUTSIDE_RCPT,
            &subject,
        ],
    );
    assert_eq!(code, 0, "{out}");
    // One batch: DATA went out before the first reply came back...
    let pos = |needle: &str| {
        out.find(needle)
            .unwrap_or_else(|| panic!("{needle:?}: {out}"))
    };
    assert!(pos("C: DATA") < pos("S: 250 2.1.0 Ok"), "{out}");
    // ...and the replies are matched in order: MAIL, the local RCPT, the outside RCPT, DATA.
    assert!(
        pos("S: 250 2.1.0 Ok") < pos("S: 250 2.1.5 Ok")
            && pos("S: 250 2.1.5 Ok") < pos("S: 554 5.7.1 <relay-test@elsewhere.example.org>")
            && pos("S: 554 5.7.1") < pos("S: 354 "),
        "{out}"
    );
    assert_eq!(
        out.matches(&format!("Subject: {marker}")).count(),
        1,
        "{out}"
    );
    assert!(
        !out.contains("Subject: smtpscope"),
        "--header replaces the Subject: {out}"
    );
    pf.wait_for_message_containing("postmaster", marker.as_bytes(), Duration::from_secs(10))
        .unwrap();
    assert!(
        !pf.log().contains("improper command pipelining"),
        "{}",
        pf.log_tail(20)
    );
}

#[test]
fn a_session_over_postfix_unix_socket() {
    let Some(pf) = shared("a_session_over_postfix_unix_socket") else {
        return;
    };
    let socket = pf.unix_socket().display().to_string();
    let marker = unique("unix");
    let subject = format!("--header=Subject: {marker}");
    // No --server: the socket is the way, "localhost" the name for TLS.
    let mut cmd = Command::cargo_bin("smtpscope").expect("binary");
    cmd.timeout(Duration::from_secs(60));
    cmd.env("SMTPSCOPE_CONFIG_DIR", tempfile::tempdir().unwrap().path());
    let out = cmd
        .args([
            "session",
            "--socket",
            &socket,
            "--helo",
            "probe.test",
            "--timeout",
            "20",
            "--ca-file",
            &pf.ca_pem_path.display().to_string(),
            "--from",
            "sender@outside.example.net",
            "--to",
            "postmaster@lab.example",
            &subject,
        ])
        .output()
        .expect("run");
    let text =
        String::from_utf8_lossy(&out.stdout).into_owned() + &String::from_utf8_lossy(&out.stderr);
    assert_eq!(out.status.code(), Some(0), "{text}");
    assert!(text.contains(&format!("connected to {socket}")), "{text}");
    assert!(
        text.contains("certificate verified for localhost"),
        "{text}"
    );
    pf.wait_for_message_containing("postmaster", marker.as_bytes(), Duration::from_secs(10))
        .unwrap();
}

/// Postfix offers CHUNKING but not BINARYMIME: a binary body is refused before MAIL with the
/// reason, nothing sent, unless --force breaks the rule on purpose.
#[test]
fn binarymime_is_refused_where_postfix_does_not_offer_it() {
    let Some(pf) = shared("binarymime_is_refused_where_postfix_does_not_offer_it") else {
        return;
    };
    let (code, out) = session(
        pf,
        pf.relaxed_port,
        &["--to", "postmaster@lab.example", "--bdat", "--binarymime"],
    );
    assert_eq!(code, 12, "{out}");
    assert!(
        out.contains(
            "the server does not advertise BINARYMIME: not sending BODY=BINARYMIME (--force sends it anyway)"
        ),
        "{out}"
    );
    assert!(!out.contains("C: MAIL FROM"), "{out}");
}

/// The message options against Postfix: BODY=8BITMIME accepted, a MIME attachment delivered
/// intact, and `--drop-after rcpt` leaving Postfix to log the lost connection (no QUIT).
#[test]
fn eightbitmime_attachments_and_drop_after_against_postfix() {
    let Some(pf) = shared("eightbitmime_attachments_and_drop_after_against_postfix") else {
        return;
    };
    let marker = unique("attach");
    let dir = tempfile::tempdir().unwrap();
    let file = dir.path().join("report.csv");
    std::fs::write(&file, format!("id,value\n{marker},42\n")).unwrap();
    let subject = format!("--header=Subject: {marker}");
    let (code, out) = session(
        pf,
        pf.relaxed_port,
        &[
            "--from",
            "sender@outside.example.net",
            "--to",
            "postmaster@lab.example",
            "--8bitmime",
            &subject,
            "--body",
            "Grüße, the report is attached.",
            "--attach",
            &file.display().to_string(),
        ],
    );
    assert_eq!(code, 0, "{out}");
    assert!(out.contains("BODY=8BITMIME"), "{out}");
    let got = pf
        .wait_for_message_containing("postmaster", marker.as_bytes(), Duration::from_secs(10))
        .unwrap();
    let got = String::from_utf8_lossy(&got);
    assert!(got.contains("multipart/mixed"), "{got}");
    assert!(got.contains("report.csv"), "{got}");

    let (code, out) = session(
        pf,
        pf.relaxed_port,
        &[
            "--from",
            "dropper@outside.example.net",
            "--to",
            "postmaster@lab.example",
            "--drop-after",
            "rcpt",
        ],
    );
    assert_eq!(code, 0, "{out}");
    assert!(!out.contains("C: QUIT"), "{out}");
    wait_for_log(pf, &["lost connection after RCPT from"]);
}
