//! README's figures asserted by what a server sees, not by the constants that hold them: the
//! 16 relay tricks counted as RCPT commands on the wire, `check`'s default `--concurrency` of
//! 4 counted as connections open at once, and `--bdat`'s default of 65536 octets read as the
//! chunk sizes in the BDAT commands. (History's 50 runs are counted on disk by
//! `file_writes.rs::pruning_removes_only_the_runs_smtpscope_wrote`.)

#![allow(clippy::expect_used, clippy::unwrap_used)] // test code: a failed setup should panic loudly

mod common;
#[allow(dead_code)]
#[path = "common/hostile_server.rs"]
mod hostile_server;

use std::collections::BTreeSet;
use std::sync::Arc;
use std::time::Duration;

use assert_cmd::Command;
use common::fake_server::{FakeServer, Peer, greet};
use hostile_server::{Flow, HostileServer, Stage, Tls};

fn smtpscope(args: &[&str]) -> (Option<i32>, String, String) {
    let config = tempfile::tempdir().unwrap();
    smtpscope_in(config.path(), args)
}

fn smtpscope_in(config: &std::path::Path, args: &[&str]) -> (Option<i32>, String, String) {
    let out = Command::cargo_bin("smtpscope")
        .unwrap()
        .env("SMTPSCOPE_CONFIG_DIR", config)
        .env("FIGURES_TEST_PASSWORD", "not-a-secret")
        .args(args)
        .timeout(Duration::from_secs(120))
        .output()
        .unwrap();
    (
        out.status.code(),
        String::from_utf8_lossy(&out.stdout).into_owned(),
        String::from_utf8_lossy(&out.stderr).into_owned(),
    )
}

/// README: "`relay-tricks` | nmap's 16 address tricks". A server that refuses every relay
/// attempt receives 16 RCPT commands, 16 different sender and recipient pairs, whatever
/// sessions they come in.
#[test]
fn relay_tricks_sends_sixteen_recipients() {
    let server = HostileServer::start(
        Tls::None,
        Arc::new(|_: &mut hostile_server::Peer, _, _: &[u8]| Flow::Normal),
    );
    let addr = server.addr();
    let (code, out, err) = smtpscope(&[
        "check",
        "--server",
        &addr,
        "--tls",
        "none",
        "--helo",
        "probe.test",
        "--timeout",
        "10",
        "--scenario",
        "relay-tricks",
        "--format",
        "json",
    ]);
    assert_eq!(code, Some(0), "every trick refused is a PASS: {out}{err}");
    // A trick is a sender and a recipient: each RCPT with the MAIL before it in its session.
    let mut tricks = Vec::new();
    for session in server.received() {
        let mut mail = String::new();
        for (_, line) in session {
            let upper = line.to_ascii_uppercase();
            if upper.starts_with("MAIL FROM:") {
                mail = line;
            } else if upper.starts_with("RCPT TO:") {
                tricks.push((mail.clone(), line));
            }
        }
    }
    let distinct: BTreeSet<&(String, String)> = tricks.iter().collect();
    assert_eq!(tricks.len(), 16, "{tricks:#?}");
    assert_eq!(distinct.len(), 16, "16 different tricks: {tricks:#?}");
}

/// A server that greets and then never answers EHLO: every session that connects waits there
/// until smtpscope gives up, and after the first timeout the sessions not yet started are not
/// tried (shared_failures.rs). So the connections counted are exactly the sessions that were
/// under way at once.
fn count_connections_of_check_all(extra: &[&str]) -> usize {
    let server = HostileServer::start(
        Tls::None,
        Arc::new(
            |peer: &mut hostile_server::Peer, stage, _: &[u8]| match stage {
                Stage::Ehlo => {
                    peer.wait_for_close(Duration::from_secs(30));
                    Flow::Close
                }
                _ => Flow::Normal,
            },
        ),
    );
    let addr = server.addr();
    let mut args = vec![
        "check",
        "--server",
        &addr,
        // STARTTLS, credentials and a local recipient: every scenario has its sessions, so
        // there are more of them than the default lets run at once (with `--tls none` and no
        // credentials there are eight or fewer).
        "--tls",
        "starttls",
        "--auth",
        "plain",
        "--user",
        "alice@x.test",
        "--password-env",
        "FIGURES_TEST_PASSWORD",
        "--local-recipient",
        "postmaster@x.test",
        "--helo",
        "probe.test",
        "--timeout",
        "5",
        "--all",
        "--format",
        "json",
    ];
    args.extend_from_slice(extra);
    // The built-in audit has 12 sessions; a scenario of 20 one-probe sessions makes more of
    // them than the default lets run at once.
    let config = tempfile::tempdir().unwrap();
    std::fs::create_dir_all(config.path().join("scenarios")).unwrap();
    let mut text = String::from(
        "id = \"many-sessions\"\ntitle = \"t\"\ntests = \"t\"\nwhy = \"w\"\ngroups_per_session = 1\n[fix]\nsummary = \"s\"\n",
    );
    for n in 0..20 {
        text.push_str(&format!(
            "[[steps]]\ngroup = \"g{n}\"\nsend = \"MAIL FROM:<a{n}@outside.test>\"\nexpect = \"accept\"\nrole = \"setup\"\n"
        ));
    }
    std::fs::write(config.path().join("scenarios/many-sessions.toml"), text).unwrap();
    args.extend_from_slice(&["--scenario", "many-sessions"]);
    let (code, out, err) = smtpscope_in(config.path(), &args);
    assert_eq!(code, Some(3), "nothing could be tested: {out}{err}");
    assert!(
        out.contains("not tried: an earlier connection to this server already failed"),
        "{out}"
    );
    server.connections()
}

/// README: "`--concurrency N` (default 16; …)".
#[test]
fn check_runs_sixteen_sessions_at_once_by_default() {
    assert_eq!(count_connections_of_check_all(&[]), 16);
    assert_eq!(
        count_connections_of_check_all(&["--concurrency", "2"]),
        2,
        "the count follows the flag"
    );
}

/// README: "`--bdat [SIZE]` … in chunks of SIZE octets (default 65536)". A 150,000-octet
/// message goes as BDAT 65536, BDAT 65536, BDAT 18928 LAST.
#[test]
fn bdat_chunks_are_65536_octets_by_default() {
    let dir = tempfile::tempdir().unwrap();
    let file = dir.path().join("m.eml");
    // 1,500 lines of 100 octets, CRLF already: the content is exactly 150,000 octets.
    let line = format!("{}\r\n", "x".repeat(98));
    std::fs::write(&file, line.repeat(1500)).unwrap();
    let server = FakeServer::start(None, false, |peer: &mut Peer| {
        greet(peer, &["CHUNKING"]);
        peer.expect("MAIL");
        peer.send(b"250 ok\r\n");
        peer.expect("RCPT");
        peer.send(b"250 ok\r\n");
        // Bounded: a message of 150,000 octets in chunks of at least one octet would still
        // need fewer commands than this.
        for _ in 0..200_000 {
            let text = String::from_utf8(peer.line().unwrap()).unwrap();
            let mut words = text.split_whitespace();
            assert_eq!(words.next(), Some("BDAT"), "{text}");
            let size: usize = words.next().unwrap().parse().unwrap();
            let mut chunk = vec![0u8; size];
            peer.read_exact(&mut chunk);
            if words.next() == Some("LAST") {
                peer.send(b"250 2.0.0 queued\r\n");
                break;
            }
            peer.send(b"250 2.0.0 chunk ok\r\n");
        }
        peer.expect("QUIT");
        peer.send(b"221 bye\r\n");
        peer.close();
    });
    let addr = server.addr();
    let (code, out, err) = smtpscope(&[
        "session",
        "--server",
        &addr,
        "--tls",
        "none",
        "--helo",
        "probe.test",
        "--timeout",
        "10",
        "--from",
        "s@x.test",
        "--to",
        "a@y.test",
        "--data-file",
        file.to_str().unwrap(),
        "--bdat",
    ]);
    let received = server.finish();
    assert_eq!(code, Some(0), "{out}{err}");
    let bdats: Vec<&str> = received
        .iter()
        .map(|(_, l)| l.trim_end())
        .filter(|l| l.starts_with("BDAT"))
        .collect();
    assert_eq!(
        bdats,
        ["BDAT 65536", "BDAT 65536", "BDAT 18928 LAST"],
        "{received:?}"
    );
}
