//! `session --pipeline`: MAIL, every RCPT and DATA go out in one batch when the server offers
//! PIPELINING (RFC 2920), and the replies are matched in order. The test server reads the
//! whole batch before answering anything, so a client that waited for each reply would stall.

#![allow(clippy::expect_used, clippy::unwrap_used)] // test code: a failed setup should panic loudly

mod common;

use std::time::Duration;

use assert_cmd::Command;
use common::fake_server::{FakeServer, Peer, greet};

/// Runs smtpscope with `config` as its configuration directory: exit code, stdout, stderr.
fn smtpscope(config: &std::path::Path, args: &[&str]) -> (Option<i32>, String, String) {
    let out = Command::cargo_bin("smtpscope")
        .unwrap()
        .env("SMTPSCOPE_CONFIG_DIR", config)
        .args(args)
        .timeout(Duration::from_secs(30))
        .output()
        .unwrap();
    (
        out.status.code(),
        String::from_utf8_lossy(&out.stdout).into_owned(),
        String::from_utf8_lossy(&out.stderr).into_owned(),
    )
}

fn session(addr: &str, extra: &[&str]) -> (Option<i32>, String) {
    let config = tempfile::tempdir().unwrap();
    let mut args = vec![
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
    ];
    args.extend_from_slice(extra);
    let (code, out, _) = smtpscope(config.path(), &args);
    (code, out)
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

/// A scenario of two relay probes in one session, in the user's scenario directory.
fn two_probe_scenario(config: &std::path::Path) {
    std::fs::create_dir_all(config.join("scenarios")).unwrap();
    let group = |n: &str, from: &str| {
        format!(
            "[[steps]]\nname = \"{n}: MAIL\"\ngroup = \"{n}\"\nsend = \"MAIL FROM:<{from}>\"\nexpect = \"accept\"\nrole = \"setup\"\nreject_passes = true\n\n\
             [[steps]]\nname = \"{n}: RCPT\"\ngroup = \"{n}\"\nsend = \"RCPT TO:<x@elsewhere.test>\"\nexpect = \"reject\"\n\n"
        )
    };
    let text = format!(
        "id = \"two-probes\"\ntitle = \"two probes\"\ntests = \"t\"\nwhy = \"w\"\ntls = \"plaintext\"\n[fix]\nsummary = \"s\"\n\n{}{}",
        group("one", "a@outside.test"),
        group("two", "b@outside.test")
    );
    std::fs::write(config.join("scenarios/two-probes.toml"), text).unwrap();
}

fn check_two_probes(addr: &str, extra: &[&str]) -> (Option<i32>, String) {
    let config = tempfile::tempdir().unwrap();
    two_probe_scenario(config.path());
    let mut args = vec![
        "check",
        "--server",
        addr,
        "--tls",
        "none",
        "--helo",
        "probe.test",
        "--timeout",
        "5",
        "--scenario",
        "two-probes",
        "--transcripts",
    ];
    args.extend_from_slice(extra);
    let (code, out, err) = smtpscope(config.path(), &args);
    (code, out + &err)
}

/// The two-probe session answered one command at a time; each command must arrive alone (the
/// client waited for the reply before it), or the server panics naming the one that did not.
fn answer_one_at_a_time(peer: &mut Peer) {
    for (prefix, reply) in [
        ("MAIL", &b"250 2.1.0 Ok\r\n"[..]),
        ("RCPT", b"554 5.7.1 denied\r\n"),
        ("RSET", b"250 2.0.0 Ok\r\n"),
        ("MAIL", b"250 2.1.0 Ok\r\n"),
        ("RCPT", b"554 5.7.1 denied\r\n"),
        ("RSET", b"250 2.0.0 Ok\r\n"),
        ("QUIT", b"221 2.0.0 Bye\r\n"),
    ] {
        peer.expect(prefix);
        assert_eq!(
            peer.pending(),
            0,
            "more arrived with {prefix}, before its reply"
        );
        peer.send(reply);
    }
    peer.close();
}

/// `check` (nobody steps through it) sends a session's probes as one batch when PIPELINING is
/// offered: MAIL, RCPT, RSET, MAIL, RCPT, and at the end RSET with QUIT. The server reads each
/// batch whole before it answers, so a client that waited for a reply between them would run
/// into its 5 s timeout and the scenario would not pass. The first MAIL is refused: its RCPT,
/// already sent, draws a 503 that is read, shown as set aside, and judged as nothing.
#[test]
fn check_pipelines_a_sessions_probes_and_sets_aside_a_refused_senders_rcpt() {
    let server = FakeServer::start(None, false, |peer: &mut Peer| {
        greet(peer, &["PIPELINING"]);
        for prefix in ["MAIL FROM:<a@", "RCPT", "RSET", "MAIL FROM:<b@", "RCPT"] {
            peer.expect(prefix);
        }
        peer.send(
            b"550 5.7.1 sender refused\r\n503 5.5.1 Error: need MAIL command\r\n250 2.0.0 Ok\r\n250 2.1.0 Ok\r\n554 5.7.1 <x@elsewhere.test>: Relay access denied\r\n",
        );
        peer.expect("RSET");
        peer.expect("QUIT");
        peer.send(b"250 2.0.0 Ok\r\n221 2.0.0 Bye\r\n");
        peer.close();
    });
    let (code, out) = check_two_probes(&server.addr(), &[]);
    let got = server.finish();
    assert_eq!(code, Some(0), "{out}");
    assert!(out.contains("PASS"), "{out}");
    assert!(!out.to_lowercase().contains("timed out"), "{out}");
    assert!(
        out.contains("reply set aside: `RCPT TO:<x@elsewhere.test>` went out pipelined"),
        "{out}"
    );
    // The refused MAIL's RCPT is no evidence either way: not counted as a refusal.
    assert!(
        out.contains(
            "the 1 probe tried as expected, 1 SKIPPED (not needed: MAIL FROM:<a@outside.test> was refused"
        ),
        "{out}"
    );
    let sent: Vec<String> = got
        .iter()
        .map(|(_, l)| l.split(':').next().unwrap_or("").trim().to_string())
        .collect();
    assert_eq!(
        sent,
        [
            "EHLO probe.test",
            "MAIL FROM",
            "RCPT TO",
            "RSET",
            "MAIL FROM",
            "RCPT TO",
            "RSET",
            "QUIT"
        ],
        "{got:?}"
    );
}

/// Without PIPELINING in the EHLO answer, `check` waits for each reply before the next
/// command: a server that answers line by line and would be confused by a batch is fine.
#[test]
fn check_waits_for_each_reply_when_pipelining_is_not_offered() {
    let server = FakeServer::start(None, false, |peer: &mut Peer| {
        greet(peer, &[]);
        answer_one_at_a_time(peer);
    });
    let (code, out) = check_two_probes(&server.addr(), &[]);
    server.finish();
    assert_eq!(code, Some(0), "{out}");
    assert!(!out.contains("set aside"), "{out}");
}

/// `check --no-pipelining`: PIPELINING is offered, and still each command waits for the reply
/// to the one before (for a server, or a firewall's SMTP inspection, that mishandles it).
#[test]
fn check_no_pipelining_waits_for_each_reply_though_pipelining_is_offered() {
    let server = FakeServer::start(None, false, |peer: &mut Peer| {
        greet(peer, &["PIPELINING"]);
        answer_one_at_a_time(peer);
    });
    let (code, out) = check_two_probes(&server.addr(), &["--no-pipelining"]);
    server.finish();
    assert_eq!(code, Some(0), "{out}");
    assert!(!out.contains("set aside"), "{out}");
}
