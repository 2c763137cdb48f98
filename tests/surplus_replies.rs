//! A server that sends more replies than commands (an LMTP server answering twice for one
//! recipient, a repeated 250): the extra replies are recorded as surplus (`!!`) and never
//! taken as the answer to a later command, with and without pipelining.

#![allow(clippy::expect_used, clippy::unwrap_used)] // test code: a failed setup should panic loudly

mod common;
#[allow(dead_code)]
#[path = "common/hostile_server.rs"]
mod hostile_server;

use std::sync::Arc;
use std::time::Duration;

use assert_cmd::Command;
use hostile_server::{Flow, HostileServer, Stage, Tls};

fn twice_for_each_recipient() -> HostileServer {
    HostileServer::start(
        Tls::None,
        Arc::new(
            |peer: &mut hostile_server::Peer, stage, _: &[u8]| match stage {
                Stage::Rcpt => {
                    for _ in 0..3 {
                        peer.reply_line(250, false, "2.1.5 Ok");
                    }
                    Flow::Handled
                }
                _ => Flow::Normal,
            },
        ),
    )
}

fn session(extra: &[&str], addr: &str) -> (Option<i32>, String) {
    let config = tempfile::tempdir().unwrap();
    let out = Command::cargo_bin("smtpscope")
        .unwrap()
        .env("SMTPSCOPE_CONFIG_DIR", config.path())
        .args([
            "session",
            "--server",
            addr,
            "--tls",
            "none",
            "--to",
            "someone@x.test",
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
fn surplus_replies_answer_nothing() {
    for extra in [&[][..], &["--pipeline"][..]] {
        let server = twice_for_each_recipient();
        let (code, out) = session(extra, &server.addr());
        assert_eq!(
            code,
            Some(0),
            "{extra:?}: delivered, QUIT answered 221:\n{out}"
        );
        assert!(!out.contains("DATA rejected"), "{extra:?}:\n{out}");
        // Read before DATA went out they answered nothing at all ("unsolicited"); read while
        // DATA waited they cannot be its answer ("surplus"): either way marked, never taken.
        let marked =
            out.matches("!! surplus reply").count() + out.matches("!! unsolicited reply").count();
        assert!(marked >= 2, "{extra:?}: each extra 250 is named:\n{out}");
        assert!(
            out.contains("S: 354"),
            "{extra:?}: DATA got its own answer:\n{out}"
        );
        assert!(
            out.contains("S: 221"),
            "{extra:?}: QUIT got its own answer:\n{out}"
        );
    }
}

/// A flood of replies costs one bounded wait and a clear error, not a hang.
#[test]
fn a_flood_of_surplus_replies_is_given_up_on() {
    let server = HostileServer::start(
        Tls::None,
        Arc::new(
            |peer: &mut hostile_server::Peer, stage, _: &[u8]| match stage {
                Stage::Data => {
                    for _ in 0..500 {
                        if !peer.reply_line(250, false, "2.0.0 Ok") {
                            break;
                        }
                    }
                    Flow::Close
                }
                _ => Flow::Normal,
            },
        ),
    );
    let (code, out) = session(&[], &server.addr());
    assert_ne!(code, Some(0), "{out}");
    assert!(
        out.contains("replies that cannot be the reply to DATA"),
        "{out}"
    );
}
