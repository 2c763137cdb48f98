//! `--xclient NAME=VALUE`: Postfix's XCLIENT after EHLO, its values xtext-encoded, then EHLO
//! again on the new greeting; a refusal ends the session with the server's reason.

#![allow(clippy::expect_used, clippy::unwrap_used)] // test code: a failed setup should panic loudly

mod common;

use std::time::Duration;

use assert_cmd::Command;
use common::fake_server::{FakeServer, Peer, greet, send_ehlo};

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
fn xclient_is_sent_and_followed_by_a_new_ehlo() {
    let server = FakeServer::start(None, false, |peer: &mut Peer| {
        greet(peer, &["XCLIENT NAME ADDR PROTO HELO"]);
        let line = peer.expect("XCLIENT");
        assert_eq!(
            String::from_utf8_lossy(&line).trim_end(),
            "XCLIENT ADDR=192.0.2.7 NAME=[UNAVAILABLE] HELO=spoofed+20name"
        );
        peer.send(b"220 mail.test ESMTP\r\n");
        peer.expect("EHLO");
        send_ehlo(peer, &["XCLIENT NAME ADDR PROTO HELO"]);
        peer.expect("QUIT");
        peer.send(b"221 bye\r\n");
        peer.close();
    });
    let (code, out) = session(
        &server.addr(),
        &[
            "--xclient",
            "addr=192.0.2.7",
            "--xclient",
            "NAME=[UNAVAILABLE]",
            "--xclient",
            "HELO=spoofed name",
            "--quit-after",
            "ehlo",
        ],
    );
    let received = server.finish();
    assert_eq!(code, Some(0), "{out}");
    let ehlos = received
        .iter()
        .filter(|(_, l)| l.starts_with("EHLO"))
        .count();
    assert_eq!(ehlos, 2, "EHLO again after XCLIENT: {received:?}");
}

/// Attributes that together would make a line over 512 octets go over several XCLIENT
/// commands (Postfix applies each), every one answered 220 before the next, every attribute
/// sent once; NAME and ADDR in the last, since Postfix authorises each XCLIENT by the client
/// the one before made; one EHLO follows the last. (A 23.9 KB line went out before.)
#[test]
fn long_attributes_are_split_over_xclient_lines_of_at_most_512() {
    let name = vec!["n".repeat(60); 4].join(".");
    let helo = vec!["h".repeat(60); 4].join(".");
    let login = "l".repeat(200);
    let server = FakeServer::start(None, false, |peer: &mut Peer| {
        greet(peer, &["XCLIENT NAME ADDR HELO LOGIN"]);
        while peer.line().is_some_and(|l| l.starts_with(b"XCLIENT ")) {
            peer.send(b"220 mail.test ESMTP\r\n");
        }
        // The line that ended the loop was the EHLO after the last XCLIENT.
        send_ehlo(peer, &["XCLIENT NAME ADDR HELO LOGIN"]);
        peer.expect("QUIT");
        peer.send(b"221 bye\r\n");
        peer.close();
    });
    let attrs = [
        format!("NAME={name}"),
        format!("HELO={helo}"),
        "ADDR=192.0.2.8".to_string(),
        format!("LOGIN={login}"),
    ];
    let mut args = vec!["--quit-after", "ehlo"];
    for a in &attrs {
        args.extend(["--xclient", a.as_str()]);
    }
    let (code, out) = session(&server.addr(), &args);
    let received = server.finish();
    assert_eq!(code, Some(0), "{out}");
    let xclients: Vec<&str> = received
        .iter()
        .map(|(_, l)| l.as_str())
        .filter(|l| l.starts_with("XCLIENT "))
        .collect();
    assert_eq!(xclients.len(), 2, "{xclients:?}");
    let mut carried = Vec::new();
    for line in &xclients {
        assert!(line.len() <= 512, "{} octets: {line}", line.len());
        assert!(line.ends_with("\r\n"), "{line:?}");
        carried.extend(
            line.trim_end()["XCLIENT ".len()..]
                .split(' ')
                .map(str::to_string),
        );
    }
    // HELO alone first; LOGIN, then NAME and ADDR, fill the last line.
    let [name, helo, addr, login] = attrs;
    assert_eq!(carried, [helo.clone(), login, name.clone(), addr.clone()]);
    assert!(xclients[0].starts_with(&format!("XCLIENT {helo}")));
    assert!(xclients[1].trim_end().ends_with(&format!("{name} {addr}")));
    let after: Vec<&str> = received
        .iter()
        .map(|(_, l)| l.as_str())
        .skip_while(|l| !l.starts_with("XCLIENT "))
        .filter(|l| l.starts_with("EHLO"))
        .collect();
    assert_eq!(
        after.len(),
        1,
        "one EHLO, after the last XCLIENT: {received:?}"
    );
}

#[test]
fn a_refused_xclient_ends_the_session_with_the_reason() {
    let server = FakeServer::start(None, false, |peer: &mut Peer| {
        greet(peer, &["XCLIENT NAME ADDR"]);
        peer.expect("XCLIENT");
        peer.send(b"550 5.7.0 Error: insufficient authorization\r\n");
        peer.expect("QUIT");
        peer.send(b"221 bye\r\n");
        peer.close();
    });
    let (code, out) = session(&server.addr(), &["--xclient", "ADDR=192.0.2.7"]);
    server.finish();
    assert!(
        out.contains("XCLIENT refused: 550 5.7.0 Error: insufficient authorization"),
        "{out}"
    );
    assert_eq!(code, Some(10), "{out}");
}

#[test]
fn bad_attributes_are_usage_errors() {
    for (given, says) in [
        ("ADDR", "give NAME=VALUE"),
        ("COLOUR=blue", "not an XCLIENT attribute"),
        ("ADDR=1.2.3.4\r\nRSET", "a CR (\\r)"),
    ] {
        let (code, out) = session("127.0.0.1:9", &["--xclient", given]);
        assert_eq!(code, Some(2), "{given:?}: {out}");
        assert!(out.contains(says), "{given:?}: {out}");
    }
}
