//! The EHLO inside TLS is answered in the server's own time (issue 25). Postfix (OpenSSL)
//! sends its TLS 1.3 session tickets just after the handshake; a client that sends EHLO
//! before they arrive leaves them to the kernel's delayed ACK (about 40 ms), and Postfix's
//! EHLO reply waits behind them (Nagle on the server side). That showed up as a
//! `250 CHUNKING [43 ms]` in one session of two or three.
//!
//! This is a count of slow replies, not a timing benchmark: 20 STARTTLS sessions against the
//! Postfix fixture on loopback, and at most 2 post-TLS EHLO replies may take 30 ms or more (a
//! stall is 40 ms; a loaded 2-core CI machine may delay a reply or two for other reasons).

#![allow(clippy::expect_used, clippy::unwrap_used)] // test code: a failed setup should panic loudly

mod common;

use std::time::Duration;

use common::postfix::shared;
use smtpscope::net::{ConnectOptions, Connection, Target};
use smtpscope::smtp::command::Command;
use smtpscope::transcript::{EntryKind, Transcript};

const SESSIONS: usize = 20;
const SLOW: Duration = Duration::from_millis(30);
const SLOW_ALLOWED: usize = 2;

/// The latency of the EHLO reply inside TLS, from one STARTTLS session, and the session, still
/// open.
async fn post_tls_ehlo_latency(opts: ConnectOptions) -> (Duration, Connection) {
    let mut conn = Connection::new(opts, Transcript::new());
    conn.open().await.expect("banner");
    conn.command(&Command::Ehlo("probe.test".into()))
        .await
        .expect("EHLO");
    conn.starttls().await.expect("STARTTLS");
    conn.command(&Command::Ehlo("probe.test".into()))
        .await
        .expect("EHLO inside TLS");
    let latency = conn
        .transcript()
        .entries()
        .iter()
        .filter(|e| e.tls)
        .find_map(|e| match &e.kind {
            EntryKind::Received { latency, .. } => *latency,
            _ => None,
        });
    (
        latency.expect("the EHLO reply inside TLS was recorded with its latency"),
        conn,
    )
}

#[test]
fn the_ehlo_reply_inside_tls_is_not_held_up_by_session_tickets() {
    let Some(pf) = shared("the_ehlo_reply_inside_tls_is_not_held_up_by_session_tickets") else {
        return;
    };
    let rt = tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
        .expect("runtime");
    let mut opts = ConnectOptions::new(
        Target::parse(&format!("127.0.0.1:{}", pf.starttls_port), 25).expect("target"),
    );
    opts.tls.ca_file = Some(pf.ca_pem_path.clone());
    opts.tls.tls_name = Some("localhost".into());
    opts.timeouts.connect = Duration::from_secs(10);
    opts.timeouts.reply = Duration::from_secs(10);
    opts.timeouts.session = Duration::from_secs(20);
    // The sessions stay open until the last one is done, so each one meets a freshly started
    // smtpd, as the first sessions of a busy server or of a parallel audit do (a warm smtpd
    // process answers so fast that its tickets often arrive before the EHLO is sent).
    let mut latencies = Vec::with_capacity(SESSIONS);
    let mut open = Vec::with_capacity(SESSIONS);
    for _ in 0..SESSIONS {
        let (latency, conn) = rt.block_on(post_tls_ehlo_latency(opts.clone()));
        latencies.push(latency);
        open.push(conn);
    }
    for mut conn in open {
        rt.block_on(async {
            let _ = conn.quit().await;
            conn.close().await;
        });
    }
    let slow = latencies.iter().filter(|l| **l >= SLOW).count();
    let shown: Vec<String> = latencies
        .iter()
        .map(|l| format!("{:.1}", l.as_secs_f64() * 1000.0))
        .collect();
    eprintln!(
        "post-TLS EHLO reply latencies (ms): {}; {slow} of {SESSIONS} at {} ms or more",
        shown.join(" "),
        SLOW.as_millis()
    );
    assert!(
        slow <= SLOW_ALLOWED,
        "{slow} of {SESSIONS} EHLO replies inside TLS took {} ms or more (at most {SLOW_ALLOWED} may): {}",
        SLOW.as_millis(),
        shown.join(" ")
    );
}
