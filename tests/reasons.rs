//! Reasons that quote the server (issue 27): a verdict's reason quotes a multi-line reply
//! whole, in `check` (human, JSON, JUnit) and the explorer alike, and an open relay's FAIL
//! says "open relay". Each test failed on the code before: the reason quoted only the last
//! line (`550 policy: partner.test only): rejected by policy …`), losing the 5.7.1 and the
//! real reason, and an open relay read "expected rejected by policy (5xx, not 5.1.x)".

#![allow(clippy::expect_used, clippy::unwrap_used)] // test code: a failed setup should panic loudly

mod common;
#[allow(dead_code)]
#[path = "common/hostile_server.rs"]
mod hostile_server;

use std::sync::Arc;
use std::time::Duration;

use assert_cmd::Command;
use common::stepping::Stepping;
use hostile_server::{Flow, HostileServer, Stage, Tls};
use serde_json::Value;
use smtpscope::profile::Profile;

/// Exim's refusal, cut over two lines as Exim cuts a long message.
const EXIM_FIRST: &str = "5.7.1 Relaying to <evil.test> is not permitted for alice@lab.test (lab";
const EXIM_LAST: &str = "policy: partner.test only)";
/// How a reason quotes it: whole, the code once.
const QUOTED: &str = "550 5.7.1 Relaying to <evil.test> is not permitted for alice@lab.test \
                      (lab policy: partner.test only)";

fn smtpscope(args: &[&str]) -> (Option<i32>, String, String) {
    let config = tempfile::tempdir().unwrap();
    let data = tempfile::tempdir().unwrap();
    let out = Command::cargo_bin("smtpscope")
        .unwrap()
        .env("SMTPSCOPE_CONFIG_DIR", config.path())
        .env("SMTPSCOPE_DATA_DIR", data.path())
        .env("NO_COLOR", "1")
        .args(args)
        .timeout(Duration::from_secs(90))
        .output()
        .unwrap();
    (
        out.status.code(),
        String::from_utf8_lossy(&out.stdout).into_owned(),
        String::from_utf8_lossy(&out.stderr).into_owned(),
    )
}

/// A server that refuses every outside recipient in Exim's two-line form; mailboxes at
/// `x.test` are its own.
fn exim_refusing() -> HostileServer {
    HostileServer::start(
        Tls::None,
        Arc::new(|peer: &mut hostile_server::Peer, stage, line: &[u8]| {
            if stage != Stage::Rcpt || String::from_utf8_lossy(line).contains("@x.test>") {
                return Flow::Normal;
            }
            peer.reply_line(550, true, EXIM_FIRST);
            peer.reply_line(550, false, EXIM_LAST);
            Flow::Handled
        }),
    )
}

fn check(addr: &str, format: &str) -> (Option<i32>, String, String) {
    smtpscope(&[
        "check",
        "--server",
        addr,
        "--tls",
        "none",
        "--helo",
        "probe.test",
        "--timeout",
        "5",
        "--local-recipient",
        "postmaster@x.test",
        "--external-recipient",
        "someone@evil.test",
        "--scenario",
        "A",
        "--verbose",
        "--format",
        format,
    ])
}

#[test]
fn a_multi_line_refusal_is_quoted_whole_in_every_check_format() {
    let server = exim_refusing();
    let addr = server.addr();

    let (code, human, err) = check(&addr, "human");
    assert_eq!(code, Some(0), "{human}\n{err}");
    assert!(human.contains(QUOTED), "human report:\n{human}");
    assert!(!human.contains("550 policy:"), "{human}");

    let (_, json, err) = check(&addr, "json");
    let doc: Value = serde_json::from_str(&json).unwrap_or_else(|e| panic!("{e}: {json} {err}"));
    let steps = doc["results"][0]["steps"].as_array().expect("steps");
    let rcpt = steps
        .iter()
        .find(|s| s["command"].as_str().unwrap_or("").contains("evil.test"))
        .expect("the relay probe");
    let reason = rcpt["reason"].as_str().unwrap_or_default();
    assert!(reason.starts_with(QUOTED), "JSON reason: {reason}");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_multi_line_refusal_is_quoted_whole_in_the_explorer() {
    let server = exim_refusing();
    let addr = server.addr();
    let profile = Profile::parse(
        &format!(
            "server = \"{addr}\"\ntls = \"none\"\nhelo = \"probe.test\"\n[relay]\n\
             local_recipient = \"postmaster@x.test\"\nexternal_recipient = \"someone@evil.test\"\n"
        ),
        std::path::Path::new("exim.toml"),
    )
    .expect("profile");
    let mut app = Stepping::new("exim", profile);
    app.step_through("unauth-relay", &[], 40, Duration::from_secs(30))
        .await;
    let screen = app.screen();
    assert!(screen.contains(QUOTED), "{screen}");

    // i explains the selected reply in the scenario's context, not only the scenario.
    let lines = &app.state.transcript.lines;
    let at = (0..lines.len())
        .find(|&i| lines.text(i).starts_with("550 policy:"))
        .expect("the refusal's last line");
    app.state.transcript.selected_line = Some(at);
    app.state.focus = smtpscope::tui::state::Focus::Picker;
    app.press(ratatui::crossterm::event::KeyCode::Char('i'));
    let screen = app.screen();
    for said in [
        "The reply you selected",
        "answers C: RCPT TO:<someone@evil.test>",
        "means: 550 5.7.1: requested action not taken",
        "S: 550-5.7.1 Relaying to <evil.test>",
        "it answers step 2, outside recipient: expected rejected by policy",
        "About this step: Wanted: a 5xx policy refusal",
    ] {
        assert!(screen.contains(said), "{said:?} missing:\n{screen}");
    }
}

/// An open relay that says so in two lines: the FAIL says "open relay" and quotes it whole, in
/// the human report and in JUnit's failure message.
#[test]
fn an_open_relays_fail_says_open_relay_and_quotes_the_reply_whole() {
    let server = HostileServer::start(
        Tls::None,
        Arc::new(|peer: &mut hostile_server::Peer, stage, _: &[u8]| {
            if stage != Stage::Rcpt {
                return Flow::Normal;
            }
            peer.reply_line(250, true, "2.1.5 Recipient ok: relaying for 127.0.0.1 (lab");
            peer.reply_line(250, false, "mynetworks)");
            Flow::Handled
        }),
    );
    let whole = "250 2.1.5 Recipient ok: relaying for 127.0.0.1 (lab mynetworks)";
    let (code, out, err) = check(&server.addr(), "human");
    assert_eq!(code, Some(1), "an open relay fails: {out}\n{err}");
    assert!(out.contains("open relay"), "{out}");
    assert!(out.contains(whole), "{out}");
    let (_, junit, err) = check(&server.addr(), "junit");
    assert!(junit.contains("open relay"), "{junit}\n{err}");
    assert!(junit.contains(whole), "{junit}\n{err}");
}
