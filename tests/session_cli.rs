//! `smtpscope session`'s documented promises that need no real mail server, each against a
//! scripted local server that records what it received: exit codes 3 (connect failed) and 8
//! (DATA rejected), every `--quit-after` point, `--session-timeout`, `--trust mozilla` and
//! `--password-file`.

#![allow(clippy::expect_used, clippy::unwrap_used)] // test code: a failed setup should panic loudly

mod common;

use std::time::{Duration, Instant};

use assert_cmd::Command;
use base64::Engine;
use base64::engine::general_purpose::STANDARD as B64;
use common::fake_server::{FakeServer, Peer, TestPki, greet, send_ehlo};
use serde_json::Value;

fn smtpscope() -> Command {
    let mut cmd = Command::cargo_bin("smtpscope").expect("binary");
    cmd.timeout(Duration::from_secs(30));
    cmd.env(
        "SMTPSCOPE_CONFIG_DIR",
        std::env::temp_dir().join("smtpscope-session-cli-empty"),
    );
    cmd
}

fn output(cmd: &mut Command) -> (i32, String, String) {
    let out = cmd.output().expect("run smtpscope");
    (
        out.status.code().unwrap_or(-1),
        String::from_utf8_lossy(&out.stdout).into_owned(),
        String::from_utf8_lossy(&out.stderr).into_owned(),
    )
}

/// The commands the server received, as (verb, inside TLS), the message's own lines left out.
fn verbs(received: &[(bool, String)]) -> Vec<(String, bool)> {
    let mut out = Vec::new();
    let mut in_message = false;
    for (tls, line) in received {
        if in_message {
            in_message = line != ".\r\n";
            continue;
        }
        let verb = line
            .split_whitespace()
            .next()
            .unwrap_or("")
            .to_ascii_uppercase();
        in_message = verb == "DATA";
        out.push((verb, *tls));
    }
    out
}

/// A well-behaved submission server: STARTTLS, then AUTH PLAIN (checked against `password`),
/// MAIL, RCPT, DATA and QUIT, answering until the client leaves.
fn full_server(pki: &TestPki, password: &'static str) -> FakeServer {
    FakeServer::start(Some(pki.server_config()), false, move |peer: &mut Peer| {
        peer.send(b"220 fake.test ESMTP\r\n");
        let mut tls = false;
        while let Some(line) = peer.line() {
            let text = String::from_utf8_lossy(&line).trim_end().to_string();
            let verb = text
                .split_whitespace()
                .next()
                .unwrap_or("")
                .to_ascii_uppercase();
            match verb.as_str() {
                "EHLO" if tls => send_ehlo(peer, &["AUTH PLAIN", "SIZE 100000"]),
                "EHLO" => send_ehlo(peer, &["STARTTLS", "SIZE 100000"]),
                "STARTTLS" => {
                    peer.send(b"220 2.0.0 Ready to start TLS\r\n");
                    tls = peer.start_tls();
                    if !tls {
                        return;
                    }
                }
                "AUTH" => {
                    let ok = text
                        .split_whitespace()
                        .nth(2)
                        .and_then(|b| B64.decode(b).ok())
                        .is_some_and(|p| p == format!("\0alice\0{password}").as_bytes());
                    peer.send(if ok {
                        b"235 2.7.0 Authentication successful\r\n"
                    } else {
                        b"535 5.7.8 Authentication failed\r\n"
                    });
                }
                "MAIL" => peer.send(b"250 2.1.0 Ok\r\n"),
                "RCPT" => peer.send(b"250 2.1.5 Ok\r\n"),
                "DATA" => {
                    peer.send(b"354 End data with <CR><LF>.<CR><LF>\r\n");
                    while let Some(l) = peer.line() {
                        if l == b".\r\n" {
                            break;
                        }
                    }
                    peer.send(b"250 2.0.0 Ok: queued\r\n");
                }
                "QUIT" => {
                    peer.send(b"221 2.0.0 Bye\r\n");
                    peer.close();
                    return;
                }
                _ => peer.send(b"502 5.5.2 Error: command not recognized\r\n"),
            }
        }
    })
}

fn session_args(server: &FakeServer, pki: &TestPki) -> Vec<String> {
    [
        "session",
        "--server",
        &server.addr(),
        "--ca-file",
        &pki.ca_path(),
        "--tls-name",
        "localhost",
        "--helo",
        "probe.test",
        "--timeout",
        "5",
        "--from",
        "alice@probe.test",
        "--to",
        "bob@fake.test",
    ]
    .map(String::from)
    .to_vec()
}

/// `--quit-after` stops at each point of the session, then QUITs (after `connect` too, once
/// the banner is read, as swaks does; `tls` right after the handshake, with no EHLO inside
/// TLS): what the server received says exactly where.
#[test]
fn quit_after_stops_at_each_point() {
    let plain = |v: &str| (v.to_string(), false);
    let tls = |v: &str| (v.to_string(), true);
    let up_to_tls = vec![plain("EHLO"), plain("STARTTLS"), tls("EHLO")];
    let with = |base: &[(String, bool)], more: &[&str]| {
        let mut v = base.to_vec();
        v.extend(more.iter().map(|m| tls(m)));
        v
    };
    let cases: Vec<(&str, Vec<(String, bool)>)> = vec![
        ("connect", vec![plain("QUIT")]),
        ("banner", vec![plain("QUIT")]),
        ("first-ehlo", vec![plain("EHLO"), plain("QUIT")]),
        ("tls", vec![plain("EHLO"), plain("STARTTLS"), tls("QUIT")]),
        ("ehlo", with(&up_to_tls, &["QUIT"])),
        ("auth", with(&up_to_tls, &["AUTH", "QUIT"])),
        ("mail", with(&up_to_tls, &["AUTH", "MAIL", "QUIT"])),
        ("rcpt", with(&up_to_tls, &["AUTH", "MAIL", "RCPT", "QUIT"])),
        (
            "data",
            with(&up_to_tls, &["AUTH", "MAIL", "RCPT", "DATA", "QUIT"]),
        ),
        (
            "dot",
            with(&up_to_tls, &["AUTH", "MAIL", "RCPT", "DATA", "QUIT"]),
        ),
    ];
    for (point, expected) in cases {
        let pki = TestPki::new(&["localhost"], false);
        let server = full_server(&pki, "s3cret-pw");
        let mut args = session_args(&server, &pki);
        args.extend(
            [
                "--auth",
                "plain",
                "--user",
                "alice",
                "--password-env",
                "PW",
                "--quit-after",
                point,
            ]
            .map(String::from),
        );
        let (code, out, err) = output(smtpscope().args(&args).env("PW", "s3cret-pw"));
        let received = server.finish();
        assert_eq!(code, 0, "--quit-after {point}: {out}{err}");
        assert!(
            out.contains("=== session complete (exit 0)"),
            "--quit-after {point}: {out}"
        );
        assert_eq!(
            verbs(&received),
            expected,
            "--quit-after {point}: the server received {received:?}"
        );
        if point == "connect" {
            assert!(out.contains("S: 220"), "the banner is read: {out}");
            assert!(
                out.contains("stopping after connect (--quit-after): QUIT"),
                "the transcript says where it stopped: {out}"
            );
        }
    }
}

/// Exit 3: nothing listens on the port, so the connection is refused.
#[test]
fn a_refused_connection_exits_3() {
    let port = {
        let l = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
        l.local_addr().unwrap().port()
    };
    let addr = format!("127.0.0.1:{port}");
    let (code, out, err) = output(smtpscope().args([
        "session",
        "--server",
        &addr,
        "--tls",
        "none",
        "--timeout",
        "5",
    ]));
    assert_eq!(code, 3, "{out}{err}");
    assert!(
        out.contains(&format!("connection to {addr}")) && out.contains("refused (exit 3)"),
        "{out}{err}"
    );
    assert!(out.contains("(exit 3)"), "{out}");
    let (code, json, _) = output(smtpscope().args([
        "session", "--server", &addr, "--tls", "none", "--format", "json",
    ]));
    assert_eq!(code, 3);
    let doc: Value = serde_json::from_str(&json).expect("one JSON document");
    assert_eq!(doc["result"]["failure"], "connect", "{doc:#}");
    assert_eq!(doc["result"]["exit_code"], 3, "{doc:#}");
}

/// Exit 8: DATA itself refused, or the message refused at its end.
#[test]
fn a_rejected_message_exits_8() {
    for (at_data, reply, says) in [
        (
            true,
            "554 5.5.1 Error: no valid recipients\r\n",
            "DATA rejected: 554 5.5.1",
        ),
        (
            false,
            "550 5.7.1 Message content rejected\r\n",
            "the message rejected: 550 5.7.1",
        ),
    ] {
        let server = FakeServer::start(None, false, move |peer: &mut Peer| {
            greet(peer, &["SIZE 100000"]);
            peer.expect("MAIL");
            peer.send(b"250 2.1.0 Ok\r\n");
            peer.expect("RCPT");
            peer.send(b"250 2.1.5 Ok\r\n");
            peer.expect("DATA");
            if at_data {
                peer.send(reply.as_bytes());
            } else {
                peer.send(b"354 go ahead\r\n");
                while let Some(l) = peer.line() {
                    if l == b".\r\n" {
                        break;
                    }
                }
                peer.send(reply.as_bytes());
            }
            if peer.line().is_some_and(|l| l.starts_with(b"QUIT")) {
                peer.send(b"221 bye\r\n");
            }
        });
        let (code, out, err) = output(smtpscope().args([
            "session",
            "--server",
            &server.addr(),
            "--tls",
            "none",
            "--helo",
            "probe.test",
            "--to",
            "bob@fake.test",
            "--timeout",
            "5",
        ]));
        server.finish();
        assert_eq!(code, 8, "{reply}: {out}{err}");
        assert!(out.contains(says), "{reply}: {out}");
        assert!(out.contains("(exit 8)"), "{out}");
    }
}

/// `--session-timeout`: a server that answers each byte well within the reply timeout but
/// drips its banner slowly ends at the session limit, with the session's message, not the
/// reply timeout's.
#[test]
fn the_session_timeout_ends_a_slow_drip() {
    let server = FakeServer::start(None, false, |peer: &mut Peer| {
        for b in b"220 slow.example ESMTP at one byte every 300 ms\r\n" {
            peer.send(std::slice::from_ref(b));
            if peer.is_gone() {
                return;
            }
            std::thread::sleep(Duration::from_millis(300));
        }
    });
    let started = Instant::now();
    let (code, out, err) = output(smtpscope().args([
        "session",
        "--server",
        &server.addr(),
        "--tls",
        "none",
        "--timeout",
        "20",
        "--session-timeout",
        "1.5",
    ]));
    let took = started.elapsed();
    assert_eq!(code, 10, "{out}{err}");
    assert!(
        out.contains(
            "the session ran past its overall limit of 1.5 s while waiting for the banner"
        ),
        "{out}"
    );
    assert!(
        out.contains("S: 220 s"),
        "the part that arrived is kept: {out}"
    );
    // The message names the session limit, not the 20 s reply timeout; and the limit was
    // waited for (a lower bound cannot flake on a loaded machine; an upper one could).
    assert!(
        took >= Duration::from_millis(1500),
        "took {took:?} with --session-timeout 1.5 and --timeout 20"
    );
}

/// `--trust mozilla`: the roots built into smtpscope do not include a private test CA, so a
/// certificate it signed fails with "unknown issuer" (exit 4) unless `--ca-file` names it;
/// with `--insecure` the record says which roots were used and why verification failed.
#[test]
fn trust_mozilla_does_not_trust_a_private_ca() {
    let pki = TestPki::new(&["localhost"], false);
    let base = |server: &FakeServer| {
        [
            "session",
            "--server",
            &server.addr(),
            "--tls-name",
            "localhost",
            "--helo",
            "probe.test",
            "--timeout",
            "5",
            "--quit-after",
            "tls",
        ]
        .map(String::from)
        .to_vec()
    };
    let server = full_server(&pki, "unused");
    let mut args = base(&server);
    args.extend(["--trust", "mozilla", "--require-tls"].map(String::from));
    let (code, out, err) = output(smtpscope().args(&args));
    server.finish();
    assert_eq!(code, 4, "{out}{err}");
    assert!(out.contains("TLS handshake failed"), "{out}");
    assert!(out.contains("unknown issuer"), "{out}");

    // The control: the same certificate with its CA named is fine.
    let server = full_server(&pki, "unused");
    let mut args = base(&server);
    args.extend(["--trust", "mozilla", "--ca-file", &pki.ca_path()].map(String::from));
    let (code, out, err) = output(smtpscope().args(&args));
    server.finish();
    assert_eq!(code, 0, "{out}{err}");

    let server = full_server(&pki, "unused");
    let mut args = base(&server);
    args.extend(["--trust", "mozilla", "--insecure", "--format", "json"].map(String::from));
    let (code, json, err) = output(smtpscope().args(&args));
    server.finish();
    assert_eq!(code, 0, "{json}{err}");
    let doc: Value = serde_json::from_str(&json).expect("json");
    let v = &doc["tls"]["verification"];
    assert_eq!(v["trust"], "Mozilla roots", "{v}");
    assert_eq!(v["verified"], false, "{v}");
    assert!(
        v["failure"]
            .as_str()
            .is_some_and(|f| f.contains("unknown issuer")),
        "{v}"
    );
}

/// `--password-file`: the first line is the password (the server checks what AUTH PLAIN
/// carried); a file others can read works but warns, as ssh does for a private key.
#[test]
fn password_file_is_read_and_a_readable_one_warns() {
    use std::os::unix::fs::PermissionsExt;
    let dir = tempfile::tempdir().unwrap();
    let file = dir.path().join("pw");
    std::fs::write(&file, "file-pw-1234\nnot the password\n").unwrap();
    for mode in [0o600, 0o644] {
        std::fs::set_permissions(&file, std::fs::Permissions::from_mode(mode)).unwrap();
        let pki = TestPki::new(&["localhost"], false);
        let server = full_server(&pki, "file-pw-1234");
        let mut args = session_args(&server, &pki);
        args.extend(
            [
                "--auth",
                "plain",
                "--user",
                "alice",
                "--password-file",
                file.to_str().unwrap(),
                "--quit-after",
                "auth",
            ]
            .map(String::from),
        );
        let (code, out, err) = output(smtpscope().args(&args));
        server.finish();
        assert_eq!(code, 0, "mode {mode:o}: {out}{err}");
        assert!(
            out.contains("S: 235 2.7.0 Authentication successful"),
            "{out}"
        );
        assert!(
            !format!("{out}{err}").contains("file-pw-1234"),
            "{out}{err}"
        );
        let warning = format!(
            "warning: password file {} is readable by others (mode 644); chmod 600 it",
            file.display()
        );
        assert_eq!(
            err.contains(&warning),
            mode == 0o644,
            "mode {mode:o}: {err}"
        );
    }
    // The control: a wrong first line is refused by the server (exit 5).
    std::fs::write(&file, "wrong\n").unwrap();
    std::fs::set_permissions(&file, std::fs::Permissions::from_mode(0o600)).unwrap();
    let pki = TestPki::new(&["localhost"], false);
    let server = full_server(&pki, "file-pw-1234");
    let mut args = session_args(&server, &pki);
    args.extend(
        [
            "--auth",
            "plain",
            "--user",
            "alice",
            "--password-file",
            file.to_str().unwrap(),
            "--quit-after",
            "auth",
        ]
        .map(String::from),
    );
    let (code, out, _) = output(smtpscope().args(&args));
    server.finish();
    assert_eq!(code, 5, "{out}");
}
