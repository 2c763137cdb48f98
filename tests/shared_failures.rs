//! What every session to a server shares — the banner, EHLO, STARTTLS, the handshake — fails
//! once per run: a server that stalls there costs one timeout, not one per session or probe.
//! And an implicit-TLS server's certificate is judged, not skipped.

#![allow(clippy::expect_used, clippy::unwrap_used)] // test code: a failed setup should panic loudly

mod common;
#[allow(dead_code)]
#[path = "common/hostile_server.rs"]
mod hostile_server;

use std::sync::Arc;
use std::time::{Duration, Instant};

use assert_cmd::Command;
use common::fake_server::TestPki;
use hostile_server::{Flow, HostileServer, Stage, Tls};
use serde_json::Value;

fn check(args: &[&str]) -> (Option<i32>, Value, Duration, String) {
    let config = tempfile::tempdir().unwrap();
    let started = Instant::now();
    let out = Command::cargo_bin("smtpscope")
        .unwrap()
        .env("SMTPSCOPE_CONFIG_DIR", config.path())
        .arg("check")
        .args(args)
        .args(["--format", "json", "--timeout", "2"])
        .timeout(Duration::from_secs(120))
        .output()
        .unwrap();
    let elapsed = started.elapsed();
    let stdout = String::from_utf8_lossy(&out.stdout).into_owned();
    let err = String::from_utf8_lossy(&out.stderr).into_owned();
    let doc = serde_json::from_str(&stdout).unwrap_or_else(|e| panic!("{e}: {stdout} {err}"));
    (out.status.code(), doc, elapsed, err)
}

fn result<'a>(doc: &'a Value, id: &str) -> &'a Value {
    doc["results"]
        .as_array()
        .unwrap()
        .iter()
        .find(|r| r["id"] == id)
        .unwrap_or_else(|| panic!("no {id} in {doc:#}"))
}

/// `check --tls implicit` against a port-465 style server whose certificate expired: the
/// starttls scenario judges the handshake the connection opened with (FAIL: expired), its
/// STARTTLS steps do not apply, and the run fails instead of exiting 3 with only
/// INCONCLUSIVE results.
#[test]
fn an_implicit_tls_certificate_is_judged() {
    let pki = TestPki::new(&["localhost"], true);
    let server = HostileServer::start(
        Tls::Implicit(pki.server_config()),
        Arc::new(|_: &mut hostile_server::Peer, _, _: &[u8]| Flow::Normal),
    );
    let ca = pki.ca_path();
    let (code, doc, _, err) = check(&[
        "--server",
        &server.addr(),
        "--tls",
        "implicit",
        "--ca-file",
        &ca,
        "--tls-name",
        "localhost",
        "--all",
    ]);
    let starttls = result(&doc, "starttls");
    assert_eq!(starttls["verdict"], "fail", "{starttls:#}\n{err}");
    let steps = starttls["steps"].as_array().unwrap();
    let step = |name: &str| {
        steps
            .iter()
            .find(|s| s["name"] == name)
            .unwrap_or_else(|| panic!("no step {name}: {starttls:#}"))
    };
    assert_eq!(step("STARTTLS handshake")["verdict"], "skipped");
    assert!(
        step("STARTTLS handshake")["reason"]
            .as_str()
            .unwrap()
            .contains("implicit TLS"),
        "{starttls:#}"
    );
    let expiry = step("certificate not about to expire");
    assert_eq!(expiry["verdict"], "fail", "{expiry:#}");
    assert!(
        expiry["reason"].as_str().unwrap().contains("expired"),
        "{expiry:#}"
    );
    assert_eq!(step("certificate verifies")["verdict"], "fail");
    assert_eq!(
        code,
        Some(1),
        "a FAIL, not 'nothing could be tested'\n{err}"
    );
}

/// A server that greets and then never answers EHLO: `check --all` waits one timeout (the
/// sessions already under way wait theirs side by side), and every session after them says
/// it was not tried and why.
#[test]
fn a_server_that_stalls_after_the_banner_costs_one_timeout() {
    let server = HostileServer::start(
        Tls::None,
        Arc::new(
            |peer: &mut hostile_server::Peer, stage, _: &[u8]| match stage {
                Stage::Ehlo => {
                    peer.wait_for_close(Duration::from_secs(20));
                    Flow::Close
                }
                _ => Flow::Normal,
            },
        ),
    );
    // Fewer at once than there are sessions (the default, 8, runs all of this target's 8 at
    // once), so that some are left to be not tried.
    let (code, doc, elapsed, err) = check(&[
        "--server",
        &server.addr(),
        "--tls",
        "none",
        "--all",
        "--concurrency",
        "4",
    ]);
    assert_eq!(code, Some(3), "{doc:#}\n{err}");
    let text = doc.to_string();
    assert!(
        text.contains("not tried: an earlier connection to this server already failed"),
        "{doc:#}"
    );
    // At most the sessions under way at once (check's concurrency, 4) waited; the rest did
    // not connect at all.
    assert!(
        server.connections() <= 4,
        "{} connections to a server that never answers EHLO",
        server.connections()
    );
    // Counted, not timed: the sessions that waited were all open at once, so their timeouts
    // ran side by side (one wait), and none came after another had timed out.
    assert!(
        server.all_open_at_once(),
        "the {} connections waited one after another (took {elapsed:?})",
        server.connections()
    );
}

/// STARTTLS answered 220, then the ClientHello never answered: the handshake times out once,
/// and the version probe does not wait four more times for the same silence.
#[test]
fn a_stalled_handshake_is_waited_for_once() {
    let server = HostileServer::start(
        Tls::Starttls(hostile_server::self_signed_config()),
        Arc::new(
            |peer: &mut hostile_server::Peer, stage, _: &[u8]| match stage {
                Stage::Starttls => {
                    peer.reply_line(220, false, "2.0.0 Ready to start TLS");
                    peer.wait_for_close(Duration::from_secs(20));
                    Flow::Close
                }
                _ => Flow::Normal,
            },
        ),
    );
    let (_, doc, elapsed, err) = check(&[
        "--server",
        &server.addr(),
        "--insecure",
        "--scenario",
        "starttls",
    ]);
    let starttls = result(&doc, "starttls");
    let probe = starttls["steps"]
        .as_array()
        .unwrap()
        .iter()
        .find(|s| s["name"] == "TLS versions accepted")
        .unwrap_or_else(|| panic!("{starttls:#}"));
    assert!(
        probe["reason"]
            .as_str()
            .unwrap()
            .contains("the TLS handshake already ran out of time"),
        "{probe:#}\n{err}"
    );
    // Counted, not timed: every connection (the scenario's session, and the version probe's
    // if it started before the handshake ran out) was open at once, so one timeout was waited;
    // a probe that waited its own would have connected after the first ended.
    assert!(
        server.all_open_at_once(),
        "{} connections, not all at once: a second wait (took {elapsed:?})",
        server.connections()
    );
}

/// The two other ways to stall after the banner: an EHLO reply that never ends (a line that
/// goes on for ever, arriving as fast as it is read, so no read ever waits) and one dripped a
/// byte at a time. Each costs one timeout, not one per wave of sessions.
#[test]
fn an_endless_or_dripped_ehlo_reply_costs_one_timeout() {
    let endless = HostileServer::start(
        Tls::None,
        Arc::new(
            |peer: &mut hostile_server::Peer, stage, _: &[u8]| match stage {
                Stage::Ehlo => {
                    peer.send(b"250-");
                    peer.flood(b"x", Duration::from_secs(10), 8 * 1024 * 1024 * 1024);
                    Flow::Close
                }
                _ => Flow::Normal,
            },
        ),
    );
    let dripped = HostileServer::start(
        Tls::None,
        Arc::new(
            |peer: &mut hostile_server::Peer, stage, _: &[u8]| match stage {
                Stage::Ehlo => {
                    peer.drip(
                        &b"250-hostile.example\r\n".repeat(200),
                        Duration::from_millis(50),
                    );
                    Flow::Close
                }
                _ => Flow::Normal,
            },
        ),
    );
    for (what, server) in [("endless line", &endless), ("dripped reply", &dripped)] {
        // Fewer at once than there are sessions, so that some are left to be not tried.
        let (code, doc, elapsed, err) = check(&[
            "--server",
            &server.addr(),
            "--tls",
            "none",
            "--all",
            "--concurrency",
            "4",
        ]);
        // The endless line's cut first line stands as EHLO's answer (no STARTTLS in it: the
        // starttls scenario FAILs); the dripped reply never ends (all INCONCLUSIVE).
        assert!(matches!(code, Some(1 | 3)), "{what}: {doc:#}\n{err}");
        assert!(
            doc.to_string()
                .contains("not tried: an earlier connection to this server already failed"),
            "{what}: {doc:#}"
        );
        assert!(
            server.connections() <= 4,
            "{what}: {} connections",
            server.connections()
        );
        assert!(
            server.all_open_at_once(),
            "{what}: the {} connections waited one after another (took {elapsed:?})",
            server.connections()
        );
    }
}
