//! A raw line may hold several commands. Each one is gated, so a line cannot smuggle AUTH past
//! the cleartext rule or MAIL past require-TLS, and each one's reply is read and recorded.
//! Checked by what a scripted local server received.

#![allow(clippy::expect_used, clippy::unwrap_used)] // test code: a failed setup should panic loudly

mod common;

use std::time::Duration;

use common::fake_server::{FakeServer, Peer, greet};
use smtpscope::net::{ConnectOptions, Connection, NetError, Target};
use smtpscope::smtp::command::Command;
use smtpscope::transcript::Transcript;

fn connect(addr: &str, require_tls: bool) -> (tokio::runtime::Runtime, Connection) {
    let rt = tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
        .unwrap();
    let mut opts = ConnectOptions::new(Target::parse(addr, 25).unwrap());
    opts.tls_mode = smtpscope::net::TlsMode::None;
    opts.policy.require_tls = require_tls;
    opts.timeouts.reply = Duration::from_secs(5);
    let conn = Connection::new(opts, Transcript::new());
    (rt, conn)
}

/// Greets, then answers whatever comes with 250 until QUIT.
fn answering_server() -> FakeServer {
    FakeServer::start(None, false, |peer: &mut Peer| {
        greet(peer, &["PIPELINING", "AUTH PLAIN"]);
        while let Some(line) = peer.line() {
            if line.to_ascii_uppercase().starts_with(b"QUIT") {
                peer.send(b"221 2.0.0 Bye\r\n");
                break;
            }
            peer.send(b"250 2.0.0 Ok\r\n");
        }
        peer.close();
    })
}

fn refused_line(line: &[u8], require_tls: bool) -> (NetError, Vec<String>) {
    let server = answering_server();
    let (rt, mut conn) = connect(&server.addr(), require_tls);
    let err = rt.block_on(async {
        conn.open().await.unwrap();
        conn.greet("probe.test").await.unwrap();
        let err = conn
            .command(&Command::Raw(line.to_vec()))
            .await
            .unwrap_err();
        let _ = conn.quit().await;
        err
    });
    let received = server.finish().into_iter().map(|(_, l)| l).collect();
    (err, received)
}

#[test]
fn auth_hidden_behind_noop_is_refused_without_tls_and_nothing_goes_out() {
    let (err, received) = refused_line(b"NOOP\r\nAUTH PLAIN AGFsaWNlAHNlY3JldA==\r\n", false);
    assert!(matches!(err, NetError::Refusal(_)), "{err}");
    assert!(err.to_string().contains("AUTH without TLS"), "{err}");
    assert!(
        !received
            .iter()
            .any(|l| l.starts_with("NOOP") || l.starts_with("AUTH")),
        "nothing of the line was sent: {received:?}"
    );
}

#[test]
fn mail_hidden_behind_noop_is_refused_when_tls_is_required() {
    let (err, received) = refused_line(b"NOOP\r\nMAIL FROM:<x@y.example>\r\n", true);
    assert!(err.to_string().contains("refusing to send MAIL"), "{err}");
    assert!(
        !received.iter().any(|l| l.starts_with("MAIL")),
        "{received:?}"
    );
}

#[test]
fn every_reply_to_a_pipelined_line_is_read_and_recorded() {
    let server = answering_server();
    let (rt, mut conn) = connect(&server.addr(), false);
    let last = rt.block_on(async {
        conn.open().await.unwrap();
        conn.greet("probe.test").await.unwrap();
        let last = conn
            .command(&Command::Raw(b"NOOP\r\nNOOP\r\nNOOP\r\n".to_vec()))
            .await
            .unwrap();
        conn.quit().await.unwrap();
        last
    });
    assert_eq!(last.code(), Some(250));
    let received = server.finish();
    assert_eq!(
        received
            .iter()
            .filter(|(_, l)| l.starts_with("NOOP"))
            .count(),
        3
    );
    let text = conn.transcript().to_text();
    assert_eq!(text.matches("C: NOOP").count(), 3, "{text}");
    // Three replies to the NOOPs, then QUIT's own: nothing answered the wrong command.
    assert_eq!(text.matches("S: 250 2.0.0 Ok").count(), 3, "{text}");
    assert!(text.contains("S: 221 2.0.0 Bye"), "{text}");
}

/// A server that answers one command twice: the extra reply is recorded and flagged, and the
/// next command gets its own reply rather than the extra one.
#[test]
fn an_unsolicited_reply_is_flagged_and_not_taken_for_the_next_answer() {
    let server = FakeServer::start(None, false, |peer: &mut Peer| {
        greet(peer, &[]);
        peer.expect("NOOP");
        peer.send(b"250 2.0.0 Ok\r\n250 2.0.0 Ok again, unasked\r\n");
        peer.expect("RSET");
        peer.send(b"250 2.0.0 Reset\r\n");
        peer.expect("QUIT");
        peer.send(b"221 2.0.0 Bye\r\n");
        peer.close();
    });
    let (rt, mut conn) = connect(&server.addr(), false);
    let rset = rt.block_on(async {
        conn.open().await.unwrap();
        conn.greet("probe.test").await.unwrap();
        conn.command(&Command::Noop(None)).await.unwrap();
        let rset = conn.command(&Command::Rset).await.unwrap();
        conn.quit().await.unwrap();
        rset
    });
    server.finish();
    assert_eq!(rset.summary(), "250 2.0.0 Reset");
    let text = conn.transcript().to_text();
    assert!(text.contains("S: 250 2.0.0 Ok again, unasked"), "{text}");
    assert!(text.contains("!! unsolicited reply"), "{text}");
}
