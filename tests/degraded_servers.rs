//! Servers that degrade rather than attack: STARTTLS refused with 454 on an open relay, and a
//! server that never greets. The verdicts must still be right, and quick.

#![allow(clippy::expect_used, clippy::unwrap_used)] // test code: a failed setup should panic loudly

mod common;
#[allow(dead_code)]
#[path = "common/hostile_server.rs"]
mod hostile_server;

use std::sync::Arc;
use std::time::Duration;

use assert_cmd::Command;
use hostile_server::{Flow, HostileServer, Stage, Tls, self_signed_config};
use serde_json::Value;

fn smtpscope(args: &[&str]) -> (Option<i32>, String, String) {
    let config = tempfile::tempdir().unwrap();
    let out = Command::cargo_bin("smtpscope")
        .unwrap()
        .env("SMTPSCOPE_CONFIG_DIR", config.path())
        .env("NO_COLOR", "1")
        .args(args)
        .timeout(Duration::from_secs(60))
        .output()
        .unwrap();
    (
        out.status.code(),
        String::from_utf8_lossy(&out.stdout).into_owned(),
        String::from_utf8_lossy(&out.stderr).into_owned(),
    )
}

/// Advertises STARTTLS, answers it `454 4.7.0 TLS not available`, and relays for anyone.
fn open_relay_refusing_tls() -> HostileServer {
    HostileServer::start(
        Tls::Starttls(self_signed_config()),
        Arc::new(
            |peer: &mut hostile_server::Peer, stage, _line: &[u8]| match stage {
                Stage::Starttls => {
                    peer.reply_line(454, false, "4.7.0 TLS not available due to local problem");
                    Flow::Handled
                }
                Stage::Rcpt => {
                    peer.reply_line(250, false, "2.1.5 Ok");
                    Flow::Handled
                }
                _ => Flow::Normal,
            },
        ),
    )
}

#[test]
fn an_open_relay_that_refuses_starttls_still_fails() {
    let server = open_relay_refusing_tls();
    let addr = server.addr();
    let (code, out, err) = smtpscope(&[
        "check",
        "--server",
        &addr,
        "--helo",
        "probe.test",
        "--timeout",
        "5",
        "--scenario",
        "A",
        "--scenario",
        "starttls",
        "--format",
        "json",
    ]);
    let doc: Value = serde_json::from_str(&out).unwrap_or_else(|e| panic!("{e}: {out} {err}"));
    let verdict = |id: &str| {
        doc["results"]
            .as_array()
            .unwrap()
            .iter()
            .find(|r| r["id"] == id)
            .map(|r| {
                (
                    r["verdict"].as_str().unwrap_or("").to_string(),
                    r.to_string(),
                )
            })
            .unwrap()
    };
    let (a, a_doc) = verdict("unauth-relay");
    assert_eq!(a, "fail", "relayed in plaintext after the 454: {a_doc}");
    let (tls, tls_doc) = verdict("starttls");
    assert_eq!(tls, "fail", "{tls_doc}");
    assert!(tls_doc.contains("454"), "{tls_doc}");
    assert_eq!(code, Some(1), "{doc:#}");

    let (code, out, err) = smtpscope(&[
        "session",
        "--server",
        &addr,
        "--helo",
        "probe.test",
        "--timeout",
        "5",
        "--to",
        "x@elsewhere.example",
        "--quit-after",
        "rcpt",
    ]);
    let all = format!("{out}{err}");
    assert!(all.contains("continuing without TLS"), "{all}");
    assert!(
        !all.contains("TLS is required"),
        "not required, so not said: {all}"
    );
    assert_eq!(code, Some(0), "{all}");

    // With TLS required, the same refusal stops the session before MAIL.
    let (code, out, err) = smtpscope(&[
        "session",
        "--server",
        &addr,
        "--helo",
        "probe.test",
        "--timeout",
        "5",
        "--to",
        "x@elsewhere.example",
        "--require-tls",
    ]);
    let all = format!("{out}{err}");
    assert!(
        all.contains("TLS is required but the server refused STARTTLS"),
        "{all}"
    );
    assert!(!all.contains("C: MAIL"), "{all}");
    assert_eq!(code, Some(4), "{all}");
}

/// A server that accepts connections and never greets costs one timeout, not one per
/// scenario: once the first session shows it, the rest are INCONCLUSIVE at once.
#[test]
fn a_server_that_never_greets_costs_one_timeout() {
    let server = HostileServer::start(
        Tls::None,
        Arc::new(|peer: &mut hostile_server::Peer, stage, _line: &[u8]| {
            if stage == Stage::Banner {
                peer.wait_for_close(Duration::from_secs(30));
                return Flow::Close;
            }
            Flow::Normal
        }),
    );
    let started = std::time::Instant::now();
    // One session at a time, so that each would wait out its own timeout.
    let (code, out, err) = smtpscope(&[
        "check",
        "--server",
        &server.addr(),
        "--tls",
        "none",
        "--helo",
        "probe.test",
        "--timeout",
        "2",
        "--all",
        "--concurrency",
        "1",
        "--format",
        "json",
    ]);
    let elapsed = started.elapsed();
    eprintln!(
        "[never greets, --timeout 2, --concurrency 1] check --all took {:.2} s",
        elapsed.as_secs_f64()
    );
    let doc: Value = serde_json::from_str(&out).unwrap_or_else(|e| panic!("{e}: {out} {err}"));
    let results = doc["results"].as_array().unwrap();
    let ran: Vec<&Value> = results
        .iter()
        .filter(|r| r["verdict"] != "skipped")
        .collect();
    assert!(ran.len() >= 3, "{doc:#}");
    for r in &ran {
        assert_eq!(r["verdict"], "inconclusive", "{r:#}");
    }
    let step_reasons: Vec<&str> = ran
        .iter()
        .flat_map(|r| r["steps"].as_array().unwrap().iter())
        .filter_map(|s| s["reason"].as_str())
        .collect();
    assert!(
        step_reasons
            .iter()
            .any(|t| t.contains("waiting for the banner")),
        "the first says what happened: {doc:#}"
    );
    assert!(
        step_reasons
            .iter()
            .any(|t| t.contains("not tried: an earlier connection to this server already failed where every session starts")),
        "the rest say why they were not tried: {doc:#}"
    );
    // One connection found it out; nobody waited again.
    assert_eq!(server.connections(), 1, "{doc:#}");
    assert_eq!(code, Some(3), "{doc:#}");
}
