//! Every deadline, exactly, on tokio's paused clock: the reply timeout, the whole-session
//! deadline and the TLS-handshake timeout each end the wait at their limit (not before, not a
//! second later) and say which limit it was. Virtual time, so a 30 s timeout costs nothing.

#![allow(clippy::expect_used, clippy::unwrap_used)] // test code: a failed setup should panic loudly

use std::time::Duration;

use smtpscope::net::{ConnectOptions, Connection, NetError, Target, TlsMode};
use smtpscope::transcript::Transcript;
use tokio::io::AsyncWriteExt;
use tokio::net::TcpListener;
use tokio::time::Instant;

/// A server that accepts, optionally writes `greeting`, then holds the connection silently.
async fn silent_server(greeting: &'static [u8]) -> String {
    let listener = TcpListener::bind("127.0.0.1:0").await.unwrap();
    let addr = listener.local_addr().unwrap().to_string();
    tokio::spawn(async move {
        let (mut sock, _) = listener.accept().await.unwrap();
        sock.write_all(greeting).await.unwrap();
        // Hold the socket open and say nothing more.
        std::future::pending::<()>().await;
        drop(sock);
    });
    addr
}

fn options(addr: &str, reply: u64, session: u64) -> ConnectOptions {
    let mut opts = ConnectOptions::new(Target::parse(addr, 25).unwrap());
    opts.tls_mode = TlsMode::None;
    opts.timeouts.connect = Duration::from_secs(reply);
    opts.timeouts.reply = Duration::from_secs(reply);
    opts.timeouts.session = Duration::from_secs(session);
    opts
}

/// Within a tenth of a second of `limit`, on the virtual clock.
fn at_limit(elapsed: Duration, limit: u64) {
    let limit = Duration::from_secs(limit);
    assert!(
        elapsed >= limit && elapsed < limit + Duration::from_millis(100),
        "ended after {elapsed:?}, the limit was {limit:?}"
    );
}

#[tokio::test(start_paused = true)]
async fn a_reply_timeout_ends_the_wait_at_its_limit() {
    let addr = silent_server(b"").await;
    let mut conn = Connection::new(options(&addr, 30, 600), Transcript::new());
    let started = Instant::now();
    let err = conn.open().await.unwrap_err();
    at_limit(started.elapsed(), 30);
    match &err {
        NetError::Timeout {
            waiting_for, secs, ..
        } => {
            assert_eq!(waiting_for, "the banner");
            assert_eq!(*secs, 30.0);
        }
        other => panic!("{other}"),
    }
    assert!(
        conn.transcript()
            .to_text()
            .contains("timeout: no complete reply within 30.0 s")
    );
}

#[tokio::test(start_paused = true)]
async fn the_session_deadline_cuts_a_reply_wait_short() {
    let addr = silent_server(b"220 slow.test ESMTP\r\n").await;
    let mut conn = Connection::new(options(&addr, 30, 12), Transcript::new());
    let started = Instant::now();
    conn.open().await.unwrap();
    let err = conn.greet("probe.test").await.unwrap_err();
    // 12 s of session, not 30 s of reply timeout.
    at_limit(started.elapsed(), 12);
    assert!(
        matches!(&err, NetError::SessionTimeout { secs, .. } if *secs == 12.0),
        "{err}"
    );
    assert!(err.to_string().contains("overall limit of 12.0 s"), "{err}");
}

#[tokio::test(start_paused = true)]
async fn a_tls_handshake_that_never_completes_times_out() {
    // Implicit TLS to a server that never answers the ClientHello.
    let addr = silent_server(b"").await;
    let mut opts = options(&addr, 20, 600);
    opts.tls_mode = TlsMode::Implicit;
    let mut conn = Connection::new(opts, Transcript::new());
    let started = Instant::now();
    let err = conn.open().await.unwrap_err();
    at_limit(started.elapsed(), 20);
    assert!(
        matches!(&err, NetError::Timeout { waiting_for, .. } if waiting_for == "the TLS handshake"),
        "{err}"
    );
}

/// A loopback port whose accept queue is full, so a further connect stays in SYN-SENT: Linux
/// drops SYNs to a listener whose queue is full. Returns the port and what must stay open.
fn port_that_never_accepts() -> (u16, Vec<std::net::TcpStream>, tokio::net::TcpListener) {
    let socket = tokio::net::TcpSocket::new_v4().unwrap();
    socket.bind("127.0.0.1:0".parse().unwrap()).unwrap();
    let listener = socket.listen(1).unwrap();
    let addr = listener.local_addr().unwrap();
    let mut held = Vec::new();
    // Real time here: fill the queue until a connect of our own hangs, which proves it is full.
    for _ in 0..16 {
        match std::net::TcpStream::connect_timeout(&addr, std::time::Duration::from_millis(300)) {
            Ok(s) => held.push(s),
            Err(e) if e.kind() == std::io::ErrorKind::TimedOut => {
                return (addr.port(), held, listener);
            }
            Err(e) => panic!("filling the accept queue: {e}"),
        }
    }
    panic!(
        "the accept queue never filled after {} connections",
        held.len()
    );
}

#[tokio::test(start_paused = true)]
async fn a_connect_that_never_completes_times_out() {
    let (port, _held, _listener) = port_that_never_accepts();
    let addr = format!("127.0.0.1:{port}");
    let mut opts = options(&addr, 30, 600);
    opts.timeouts.connect = Duration::from_secs(7);
    let mut conn = Connection::new(opts, Transcript::new());
    let started = Instant::now();
    let err = conn.open().await.unwrap_err();
    // The connect limit, not the 30 s reply timeout.
    at_limit(started.elapsed(), 7);
    assert!(
        matches!(&err, NetError::ConnectTimeout { secs, .. } if *secs == 7.0),
        "{err}"
    );
    assert!(err.to_string().contains(&addr), "names the target: {err}");
}
