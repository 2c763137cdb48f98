//! The lab speaks what swaks-style sessions need to practise offline, as Postfix does: BDAT
//! (CHUNKING), DSN, SMTPUTF8, enforced PIPELINING, LMTP and the PROXY header. Each is checked
//! twice: by `smtpscope session` (the client a student uses) and by a hand-driven client that
//! breaks the rules on purpose.

#![allow(clippy::expect_used, clippy::unwrap_used)] // test code: a failed setup should panic loudly

mod common;

use std::time::Duration;

use assert_cmd::Command;
use common::smtp_client::Client;
use smtpscope::lab::{Dialect, Lab, LabConfig, LabEvent, Limits, Policy};
use tokio::sync::mpsc;

fn runtime() -> tokio::runtime::Runtime {
    tokio::runtime::Builder::new_multi_thread()
        .worker_threads(2)
        .enable_all()
        .build()
        .unwrap()
}

fn start(
    rt: &tokio::runtime::Runtime,
    dialect: Dialect,
) -> (Lab, mpsc::UnboundedReceiver<LabEvent>) {
    let (tx, rx) = mpsc::unbounded_channel();
    let config = LabConfig {
        listen: "127.0.0.1:0".parse().unwrap(),
        policy: Policy::OpenRelay,
        misbehave: vec![],
        store_dir: None,
    };
    let lab = rt
        .block_on(Lab::start_speaking(
            config,
            Limits::default(),
            dialect,
            Some(tx),
        ))
        .expect("lab starts");
    (lab, rx)
}

fn session(lab: &Lab, extra: &[&str]) -> (i32, String) {
    let out = Command::cargo_bin("smtpscope")
        .unwrap()
        .env("SMTPSCOPE_CONFIG_DIR", tempfile::tempdir().unwrap().path())
        .args([
            "session",
            "--server",
            &lab.addr.to_string(),
            "--tls",
            "none",
            "--helo",
            "probe.test",
            "--timeout",
            "10",
        ])
        .args(extra)
        .timeout(Duration::from_secs(30))
        .output()
        .unwrap();
    let text =
        String::from_utf8_lossy(&out.stdout).into_owned() + &String::from_utf8_lossy(&out.stderr);
    (out.status.code().unwrap_or(-1), text)
}

#[test]
fn bdat_chunks_are_stored_unstuffed_and_out_of_order_bdat_is_refused() {
    let rt = runtime();
    let (lab, _events) = start(&rt, Dialect::default());
    let dir = tempfile::tempdir().unwrap();
    let file = dir.path().join("m.eml");
    let body = "Subject: chunks\r\n\r\n.leading dot\r\n".repeat(20);
    std::fs::write(&file, &body).unwrap();
    let (code, out) = session(
        &lab,
        &[
            "--from",
            "a@outside.example.net",
            "--to",
            "postmaster@lab.example",
            "--bdat",
            "100",
            "--data-file",
            &file.display().to_string(),
        ],
    );
    assert_eq!(code, 0, "{out}");
    assert!(
        out.contains("S: 250-CHUNKING") || out.contains("S: 250 CHUNKING"),
        "{out}"
    );
    let m = lab.messages().pop().expect("a message");
    assert!(m.chunked);
    assert_eq!(m.content(), body.as_bytes(), "exactly as sent, no stuffing");

    // By hand: BDAT before MAIL is refused, yet its octets are read, so the session goes on.
    let mut c = Client::greeted(lab.addr);
    assert!(c.cmd("EHLO probe.test").starts_with("250"));
    c.send(b"BDAT 5\r\nNOOP\n");
    assert_eq!(c.reply(), "503 5.5.1 Error: need MAIL command");
    assert_eq!(
        c.cmd("NOOP"),
        "250 2.0.0 Ok",
        "the 5 octets were not a command"
    );
    // DATA in the middle of a BDAT transfer is refused; LAST completes it.
    assert_eq!(c.cmd("MAIL FROM:<a@b.test>"), "250 2.1.0 Ok");
    assert!(
        c.cmd("RCPT TO:<postmaster@lab.example>")
            .starts_with("250 ")
    );
    c.send(b"BDAT 3\r\nabc");
    assert_eq!(c.reply(), "250 2.0.0 Ok: 3 octets received");
    assert_eq!(c.cmd("DATA"), "503 5.5.1 Error: DATA after BDAT");
    c.send(b"BDAT 4 LAST\r\ndef\n");
    assert!(c.reply().starts_with("250 2.0.0 Ok: queued as LAB"));
    assert_eq!(lab.messages().pop().unwrap().content(), b"abcdef\n");
    // A binary body may not come by DATA.
    assert_eq!(
        c.cmd("MAIL FROM:<a@b.test> BODY=BINARYMIME"),
        "250 2.1.0 Ok"
    );
    assert!(
        c.cmd("RCPT TO:<postmaster@lab.example>")
            .starts_with("250 ")
    );
    assert_eq!(
        c.cmd("DATA"),
        "503 5.5.1 Error: BODY=BINARYMIME needs BDAT, not DATA"
    );
    assert_eq!(c.cmd("RSET"), "250 2.0.0 Ok");
    // A BDAT the lab cannot size ends the session: the rest cannot be told from commands.
    assert_eq!(c.cmd("BDAT lots"), "501 5.5.4 Syntax: BDAT size [LAST]");
    assert!(c.is_closed());
}

#[test]
fn dsn_smtputf8_and_unknown_parameters() {
    let rt = runtime();
    let (lab, _events) = start(&rt, Dialect::default());
    let (code, out) = session(
        &lab,
        &[
            "--from",
            "jürgen@outside.example.net",
            "--to",
            "postmaster@lab.example",
            "--dsn-ret",
            "hdrs",
            "--dsn-envid",
            "QQ123",
            "--dsn-notify",
            "success,failure",
        ],
    );
    assert_eq!(code, 0, "{out}");
    let m = lab.messages().pop().expect("a message");
    assert_eq!(m.from, "jürgen@outside.example.net");
    for p in ["SMTPUTF8", "RET=HDRS", "ENVID=QQ123"] {
        assert!(m.mail_params.contains(p), "{p}: {:?}", m.mail_params);
    }
    assert_eq!(m.rcpt_params.len(), 1);
    assert!(m.rcpt_params[0].contains("NOTIFY=SUCCESS,FAILURE"), "{m:?}");

    // A parameter the lab never offered is refused as Postfix does, and session says so.
    let (code, out) = session(
        &lab,
        &[
            "--to",
            "postmaster@lab.example",
            "--mail-param",
            "MT-PRIORITY=3",
        ],
    );
    assert_eq!(code, 6, "sender rejected: {out}");
    assert!(out.contains("555 5.5.4 Unsupported option"), "{out}");

    let mut c = Client::greeted(lab.addr);
    assert!(c.cmd("EHLO probe.test").contains("250-DSN"));
    assert_eq!(
        c.cmd("MAIL FROM:<jürgen@outside.example.net>"),
        "553 5.6.7 Must declare SMTPUTF8 to send unicode address"
    );
    assert_eq!(
        c.cmd("MAIL FROM:<a@b.test> RET=EVERYTHING"),
        "501 5.5.4 Bad RET parameter syntax"
    );
    assert_eq!(c.cmd("MAIL FROM:<a@b.test>"), "250 2.1.0 Ok");
    assert_eq!(
        c.cmd("RCPT TO:<postmaster@lab.example> NOTIFY=NEVER,DELAY"),
        "501 5.5.4 Error: Bad NOTIFY parameter syntax"
    );
}

#[test]
fn pipelining_is_enforced_and_a_proper_batch_is_fine() {
    let rt = runtime();
    let (lab, _events) = start(&rt, Dialect::default());
    // A proper batch: MAIL, RCPT, DATA last.
    let (code, out) = session(
        &lab,
        &[
            "--pipeline",
            "--to",
            "postmaster@lab.example",
            "--to",
            "x@lab.example",
        ],
    );
    assert_eq!(code, 0, "{out}");
    assert!(!out.contains("improper"), "{out}");

    // EHLO must end its group: a NOOP sent with it is dropped and the misuse answered.
    let mut c = Client::greeted(lab.addr);
    c.send(b"EHLO probe.test\r\nNOOP\r\n");
    assert_eq!(
        c.reply(),
        "554 5.5.0 Error: improper use of SMTP command pipelining"
    );
    assert!(
        c.cmd("EHLO probe.test").starts_with("250"),
        "the session goes on"
    );
    // The message text may not ride along with DATA before the 354.
    assert_eq!(c.cmd("MAIL FROM:<a@b.test>"), "250 2.1.0 Ok");
    assert!(
        c.cmd("RCPT TO:<postmaster@lab.example>")
            .starts_with("250 ")
    );
    c.send(b"DATA\r\nSubject: early\r\n");
    assert_eq!(
        c.reply(),
        "554 5.5.0 Error: improper use of SMTP command pipelining"
    );
    assert!(
        lab.messages().len() == 1,
        "only session's message was taken"
    );
}

#[test]
fn an_lmtp_lab_answers_per_recipient_and_wants_lhlo() {
    let rt = runtime();
    let (lab, _events) = start(
        &rt,
        Dialect {
            lmtp: true,
            ..Dialect::default()
        },
    );
    let (code, out) = session(
        &lab,
        &[
            "--protocol",
            "lmtp",
            "--to",
            "postmaster@lab.example",
            "--to",
            "alice@lab.example",
        ],
    );
    assert_eq!(code, 0, "{out}");
    assert!(out.contains("LMTP smtpscope practice lab"), "{out}");
    assert!(out.contains("C: LHLO probe.test"), "{out}");
    let first = out
        .find("S: 250 2.1.5 <postmaster@lab.example> delivered")
        .expect(&out);
    let second = out
        .find("S: 250 2.1.5 <alice@lab.example> delivered")
        .expect(&out);
    assert!(first < second, "in RCPT order: {out}");

    let mut c = Client::greeted(lab.addr);
    assert_eq!(
        c.cmd("EHLO probe.test"),
        "500 5.5.1 Error: this is LMTP: say LHLO"
    );
    assert!(c.cmd("LHLO probe.test").starts_with("250"));
}

#[test]
fn a_proxy_protocol_lab_reads_the_header_and_refuses_a_connection_without_one() {
    let rt = runtime();
    let (lab, mut events) = start(
        &rt,
        Dialect {
            proxy_protocol: true,
            ..Dialect::default()
        },
    );
    for version in ["v1", "v2"] {
        let (code, out) = session(
            &lab,
            &[
                "--proxy",
                version,
                "--proxy-source",
                "192.0.2.9:5555",
                "--quit-after",
                "ehlo",
            ],
        );
        assert_eq!(code, 0, "{version}: {out}");
    }
    // Without the header: no banner, and after Postfix's 5 s the connection is closed.
    let (code, out) = session(&lab, &["--quit-after", "banner"]);
    assert_ne!(code, 0, "{out}");
    assert!(!out.contains("S: 220"), "{out}");
    let mut proxied = 0;
    let mut refused = 0;
    while let Ok(e) = events.try_recv() {
        match e {
            LabEvent::Proxied { client, .. } => {
                assert_eq!(client, Some("192.0.2.9:5555".parse().unwrap()));
                proxied += 1;
            }
            LabEvent::ProxyRefused { reason, .. } => {
                assert_eq!(reason, "no PROXY header within 5 s");
                refused += 1;
            }
            _ => {}
        }
    }
    assert_eq!((proxied, refused), (2, 1));
}

#[test]
fn a_binary_body_goes_by_bdat_byte_for_byte() {
    let rt = runtime();
    let (lab, _events) = start(&rt, Dialect::default());
    let dir = tempfile::tempdir().unwrap();
    let file = dir.path().join("blob.bin");
    // Bare CR, bare LF, NUL and a lone dot line: what only BINARYMIME may carry unchanged.
    let body: Vec<u8> = b"Subject: blob\r\n\r\n\x00\x01\rbare CR\nbare LF\n.\n\xff".to_vec();
    std::fs::write(&file, &body).unwrap();
    let (code, out) = session(
        &lab,
        &[
            "--to",
            "postmaster@lab.example",
            "--bdat",
            "7",
            "--binarymime",
            "--data-file",
            &file.display().to_string(),
        ],
    );
    assert_eq!(code, 0, "{out}");
    assert!(out.contains("BODY=BINARYMIME"), "{out}");
    let m = lab.messages().pop().expect("a message");
    assert!(m.mail_params.contains("BODY=BINARYMIME"), "{m:?}");
    assert_eq!(m.content(), body, "not a byte changed");

    // Without --bdat the flag is a usage error: DATA cannot carry a binary body.
    let (code, out) = session(&lab, &["--to", "postmaster@lab.example", "--binarymime"]);
    assert_eq!(code, 2, "{out}");
    assert!(out.contains("--bdat"), "{out}");
}
