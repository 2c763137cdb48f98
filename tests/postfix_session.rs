//! `smtpscope session` against a real Postfix (private instance on loopback, started by the
//! fixture): STARTTLS and implicit TLS with a CA generated at test time, Cyrus SASL, relay
//! only for authenticated clients, and a local domain whose Maildir the tests read.
//!
//! Without Postfix these tests say they were skipped; with CI=true they fail instead.

#![allow(clippy::expect_used, clippy::unwrap_used)] // test code: a failed setup should panic loudly

mod common;

use std::time::Duration;

use assert_cmd::Command;
use base64::Engine;
use base64::engine::general_purpose::STANDARD as B64;
use common::postfix::{Postfix, shared};
use serde_json::Value;

fn session(pf: &Postfix, port: u16) -> Command {
    let mut cmd = Command::cargo_bin("smtpscope").expect("binary");
    cmd.timeout(Duration::from_secs(60));
    cmd.args([
        "session",
        "--server",
        &format!("127.0.0.1:{port}"),
        "--helo",
        "probe.test",
        "--timeout",
        "20",
    ]);
    cmd.env("SMTPSCOPE_TEST_PW", &pf.password);
    cmd
}

fn with_ca(cmd: &mut Command, pf: &Postfix) {
    cmd.args([
        "--ca-file",
        &pf.ca_pem_path.display().to_string(),
        "--tls-name",
        "localhost",
    ]);
}

fn run(cmd: &mut Command) -> (i32, String) {
    let out = cmd.output().expect("run smtpscope");
    let text = format!(
        "{}{}",
        String::from_utf8_lossy(&out.stdout),
        String::from_utf8_lossy(&out.stderr)
    );
    (out.status.code().unwrap_or(-1), text)
}

fn json(cmd: &mut Command) -> (i32, Value) {
    cmd.args(["--format", "json"]);
    let (code, text) = run(cmd);
    let doc = serde_json::from_str(&text).unwrap_or_else(|e| panic!("{e}: {text}"));
    (code, doc)
}

fn keywords(doc: &Value, which: &str) -> Vec<String> {
    doc["capabilities"][which]["keywords"]
        .as_array()
        .map(|a| {
            a.iter()
                .map(|k| {
                    let params: Vec<&str> = k["params"]
                        .as_array()
                        .map(|p| p.iter().filter_map(|s| s.as_str()).collect())
                        .unwrap_or_default();
                    format!(
                        "{} {}",
                        k["keyword"].as_str().unwrap_or(""),
                        params.join(" ")
                    )
                    .trim()
                    .to_string()
                })
                .collect()
        })
        .unwrap_or_default()
}

#[test]
fn banner_and_ehlo_before_and_after_starttls() {
    let Some(pf) = shared("banner_and_ehlo_before_and_after_starttls") else {
        return;
    };
    let mut cmd = session(pf, pf.starttls_port);
    with_ca(&mut cmd, pf);
    cmd.args(["--quit-after", "ehlo"]);
    let (code, doc) = json(&mut cmd);
    assert_eq!(code, 0, "{doc:#}");
    let before = keywords(&doc, "before_tls");
    let after = keywords(&doc, "after_tls");
    assert!(before.iter().any(|k| k == "STARTTLS"), "{before:?}");
    assert!(
        !before.iter().any(|k| k.starts_with("AUTH")),
        "smtpd_tls_auth_only: {before:?}"
    );
    assert!(
        after
            .iter()
            .any(|k| k.starts_with("AUTH") && k.contains("PLAIN") && k.contains("LOGIN")),
        "{after:?}"
    );
    assert!(!after.iter().any(|k| k == "STARTTLS"), "{after:?}");
    let tls = &doc["tls"];
    assert_eq!(tls["verification"]["verified"], true, "{tls:#}");
    assert!(
        tls["version"]
            .as_str()
            .is_some_and(|v| v.starts_with("TLSv1")),
        "{tls:#}"
    );
    assert!(
        tls["chain"][0]["sans"].to_string().contains("localhost"),
        "{tls:#}"
    );
    assert_eq!(tls["chain"][0]["sha256"].as_str().map(str::len), Some(95));
    let entries = doc["transcript"]["entries"].as_array().expect("entries");
    let banner = entries
        .iter()
        .find(|e| e["direction"] == "received")
        .expect("banner");
    assert_eq!(banner["code"], 220);
    assert!(
        banner["lines"][0]["text"]
            .as_str()
            .is_some_and(|t| t.contains(&pf.hostname))
    );
    let ehlo_in_tls = entries
        .iter()
        .filter(|e| e["direction"] == "sent" && e["text"] == "EHLO probe.test")
        .map(|e| e["tls"].as_bool())
        .collect::<Vec<_>>();
    assert_eq!(ehlo_in_tls, vec![Some(false), Some(true)]);
}

#[test]
fn auth_plain_and_login_are_accepted_and_a_wrong_password_gets_535() {
    let Some(pf) = shared("auth_plain_and_login_are_accepted_and_a_wrong_password_gets_535") else {
        return;
    };
    for mech in ["plain", "login"] {
        let mut cmd = session(pf, pf.starttls_port);
        with_ca(&mut cmd, pf);
        cmd.args([
            "--auth",
            mech,
            "--user",
            &pf.user,
            "--password-env",
            "SMTPSCOPE_TEST_PW",
            "--quit-after",
            "auth",
        ]);
        let (code, out) = run(&mut cmd);
        assert_eq!(code, 0, "{mech}: {out}");
        assert!(
            out.contains("S: 235 2.7.0 Authentication successful"),
            "{mech}: {out}"
        );
    }
    let mut cmd = session(pf, pf.starttls_port);
    with_ca(&mut cmd, pf);
    cmd.args([
        "--auth",
        "plain",
        "--user",
        &pf.user,
        "--password-env",
        "WRONG_PW",
        "--quit-after",
        "auth",
    ]);
    cmd.env("WRONG_PW", "not-the-password");
    let (code, out) = run(&mut cmd);
    assert_eq!(code, 5, "{out}");
    assert!(out.contains("535 5.7.8"), "{out}");
}

#[test]
fn local_recipient_is_accepted_and_unauthenticated_relay_is_denied() {
    let Some(pf) = shared("local_recipient_is_accepted_and_unauthenticated_relay_is_denied") else {
        return;
    };
    let local = format!("postmaster@{}", pf.domain);
    let mut cmd = session(pf, pf.relaxed_port);
    with_ca(&mut cmd, pf);
    cmd.args([
        "--from",
        "someone@outside.example.net",
        "--to",
        &local,
        "--quit-after",
        "rcpt",
    ]);
    let (code, out) = run(&mut cmd);
    assert_eq!(code, 0, "{out}");
    assert!(out.contains("S: 250 2.1.5 Ok"), "{out}");

    let mut cmd = session(pf, pf.relaxed_port);
    with_ca(&mut cmd, pf);
    cmd.args([
        "--from",
        "relay-test@outside.example.net",
        "--to",
        "relay-test@elsewhere.example.org",
        "--quit-after",
        "rcpt",
    ]);
    let (code, out) = run(&mut cmd);
    assert_eq!(code, 7, "{out}");
    assert!(
        out.contains("554 5.7.1 <relay-test@elsewhere.example.org>: Relay access denied"),
        "{out}"
    );
}

#[test]
fn data_with_leading_dots_is_delivered_exactly() {
    let Some(pf) = shared("data_with_leading_dots_is_delivered_exactly") else {
        return;
    };
    let marker = format!("smtpscope-dots-{}", std::process::id());
    let body = format!(
        "Subject: dots\r\nMessage-ID: <{marker}@probe.test>\r\n\r\n.leading dot\r\n..two dots\r\n.\r\nnot the end\r\n. \r\nlast line\r\n"
    );
    let dir = tempfile::tempdir().expect("tempdir");
    let file = dir.path().join("msg.eml");
    std::fs::write(&file, &body).expect("write message");
    let mut cmd = session(pf, pf.relaxed_port);
    with_ca(&mut cmd, pf);
    cmd.args([
        "--auth",
        "plain",
        "--user",
        &pf.user,
        "--password-env",
        "SMTPSCOPE_TEST_PW",
        "--from",
        &format!("{}@{}", pf.user, pf.domain),
        "--to",
        &format!("postmaster@{}", pf.domain),
        "--data-file",
        &file.display().to_string(),
    ]);
    let (code, out) = run(&mut cmd);
    assert_eq!(code, 0, "{out}");
    assert!(
        out.contains("C: ..leading dot"),
        "dot-stuffed on the wire: {out}"
    );
    assert!(out.contains("C: ...two dots"), "{out}");
    // The body's lone "." line must go out as "..": a display line that is exactly "C: ..".
    // (Not implied by the "..leading dot" line above, which merely starts with it.)
    assert!(
        out.lines().any(|l| l.ends_with(" C: ..")),
        "a lone dot is stuffed: {out}"
    );
    assert!(
        out.lines().any(|l| l.ends_with(" C: .. ")),
        "a dot then a space is stuffed: {out}"
    );
    let delivered = wait_for_message_containing(pf, "postmaster", &marker);
    // Postfix stores messages with LF line ends and adds Return-Path, Delivered-To and
    // Received above ours; below them the message must be exactly what we sent, unstuffed.
    let expected = body.replace("\r\n", "\n");
    let text = String::from_utf8_lossy(&delivered);
    let start = text.find("Subject: dots").expect("our headers");
    assert_eq!(&text[start..], expected, "delivered: {text}");
}

/// The shared instance's mailbox may hold other tests' mail: find ours by its marker.
fn wait_for_message_containing(pf: &Postfix, mailbox: &str, marker: &str) -> Vec<u8> {
    let new = pf.maildir(mailbox).join("new");
    let deadline = std::time::Instant::now() + Duration::from_secs(15);
    loop {
        if let Ok(entries) = std::fs::read_dir(&new) {
            for e in entries.flatten() {
                if let Ok(bytes) = std::fs::read(e.path())
                    && String::from_utf8_lossy(&bytes).contains(marker)
                {
                    return bytes;
                }
            }
        }
        assert!(
            std::time::Instant::now() < deadline,
            "no message with {marker} in {} after 15 s; log:\n{}",
            new.display(),
            pf.log()
        );
        std::thread::sleep(Duration::from_millis(100));
    }
}

#[test]
fn implicit_tls_session() {
    let Some(pf) = shared("implicit_tls_session") else {
        return;
    };
    let mut cmd = session(pf, pf.implicit_port);
    with_ca(&mut cmd, pf);
    cmd.args(["--tls", "implicit", "--quit-after", "ehlo"]);
    let (code, out) = run(&mut cmd);
    assert_eq!(code, 0, "{out}");
    let tls_at = out.find("TLS established").expect("TLS first");
    let banner_at = out.find("tls S: 220").expect("banner inside TLS");
    assert!(tls_at < banner_at, "{out}");
    assert!(!out.contains("C: STARTTLS"), "{out}");
}

#[test]
fn verification_against_the_test_ca_without_it_and_insecure() {
    let Some(pf) = shared("verification_against_the_test_ca_without_it_and_insecure") else {
        return;
    };
    // Without the CA: the platform store does not know it.
    let mut cmd = session(pf, pf.starttls_port);
    cmd.args([
        "--tls-name",
        "localhost",
        "--require-tls",
        "--quit-after",
        "tls",
    ]);
    let (code, out) = run(&mut cmd);
    assert_eq!(code, 4, "{out}");
    assert!(out.contains("unknown issuer"), "{out}");

    // Wrong name, right CA: both names in the error.
    let mut cmd = session(pf, pf.starttls_port);
    cmd.args([
        "--ca-file",
        &pf.ca_pem_path.display().to_string(),
        "--tls-name",
        "wrong.example",
        "--require-tls",
        "--quit-after",
        "tls",
    ]);
    let (code, out) = run(&mut cmd);
    assert_eq!(code, 4, "{out}");
    assert!(
        out.contains("name mismatch: wanted wrong.example,"),
        "{out}"
    );
    assert!(out.contains("localhost"), "{out}");

    // --insecure: accepted, and the record says exactly why it would have failed.
    let mut cmd = session(pf, pf.starttls_port);
    cmd.args([
        "--tls-name",
        "localhost",
        "--insecure",
        "--quit-after",
        "tls",
    ]);
    let (code, doc) = json(&mut cmd);
    assert_eq!(code, 0, "{doc:#}");
    let v = &doc["tls"]["verification"];
    assert_eq!(v["verified"], false, "{v}");
    assert_eq!(v["accepted_insecurely"], true, "{v}");
    assert!(
        v["failure"]
            .as_str()
            .is_some_and(|f| f.contains("unknown issuer")),
        "{v}"
    );
}

/// A real AUTH with every mechanism Postfix offers here, in every output format: neither the
/// password nor any base64 form containing it may appear anywhere.
#[test]
fn secrets_never_appear_in_any_output() {
    let Some(pf) = shared("secrets_never_appear_in_any_output") else {
        return;
    };
    let pw = pf.password.as_str();
    let mut needles = vec![
        pw.to_string(),
        B64.encode(pw),
        B64.encode(format!("\0{}\0{pw}", pf.user)),
        B64.encode(format!("{}\0{pw}", pf.user)),
    ];
    // base64 of the password at each alignment inside a longer encoded string.
    for pad in 0..3 {
        let enc = B64.encode(format!("{}{pw}", "x".repeat(pad)));
        needles.push(enc[4..enc.len() - 4].to_string());
    }
    for mech in ["plain", "login", "cram-md5"] {
        for format in ["text", "json"] {
            let mut cmd = session(pf, pf.starttls_port);
            with_ca(&mut cmd, pf);
            cmd.args([
                "--auth",
                mech,
                "--user",
                &pf.user,
                "--password-env",
                "SMTPSCOPE_TEST_PW",
                "--quit-after",
                "auth",
                "--format",
                format,
            ]);
            let (code, out) = run(&mut cmd);
            assert_eq!(code, 0, "{mech}/{format}: {out}");
            for n in &needles {
                assert!(
                    !out.contains(n.as_str()),
                    "{mech}/{format} leaked {n:?}: {out}"
                );
            }
            assert!(out.contains("<redacted>"), "{mech}/{format}: {out}");
        }
    }
}
