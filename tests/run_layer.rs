//! The run layer under `check` and the explorer: what either front end runs, and how it ends,
//! is decided once. Each test here is an observed failure of the explorer or `check` before
//! the run layer existed (issue 22), against scripted servers for the faults and the practice
//! lab for the rest.

#![allow(clippy::expect_used, clippy::unwrap_used)] // test code: a failed setup should panic loudly

mod common;
#[allow(dead_code)]
#[path = "common/hostile_server.rs"]
mod hostile_server;

use std::collections::HashMap;
use std::sync::{Arc, Mutex};
use std::time::Duration;

use assert_cmd::Command;
use common::stepping::Stepping;
use hostile_server::{Flow, HostileServer, Stage, Tls, self_signed_config};
use ratatui::crossterm::event::{KeyCode, KeyModifiers};
use serde_json::Value;
use smtpscope::profile::Profile;
use smtpscope::tui::message::NetEvent;

fn smtpscope(args: &[&str]) -> (Option<i32>, String, String) {
    let config = tempfile::tempdir().unwrap();
    let out = Command::cargo_bin("smtpscope")
        .unwrap()
        .env("SMTPSCOPE_CONFIG_DIR", config.path())
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

fn profile(toml: &str) -> Profile {
    Profile::parse(toml, std::path::Path::new("test.toml")).expect("profile")
}

/// Exim's way with a client that keeps sending odd addresses: on a connection's third RCPT it
/// answers `501 Too many syntax or protocol errors` and closes at once, inside TLS without a
/// close_notify. Every other RCPT is refused as Exim refuses relay.
fn exim_like() -> HostileServer {
    let rcpts: Arc<Mutex<HashMap<usize, usize>>> = Arc::default();
    HostileServer::start(
        Tls::Starttls(self_signed_config()),
        Arc::new(move |peer: &mut hostile_server::Peer, stage, _: &[u8]| {
            if stage != Stage::Rcpt {
                return Flow::Normal;
            }
            let n = {
                let mut map = rcpts.lock().unwrap();
                let n = map.entry(peer.id).or_insert(0);
                *n += 1;
                *n
            };
            if n == 3 {
                peer.reply_line(501, false, "Too many syntax or protocol errors");
                return Flow::Close;
            }
            peer.reply_line(550, false, "relay not permitted");
            Flow::Handled
        }),
    )
}

/// Relay-tricks against an Exim that hangs up after an answered probe: the rest goes on in a
/// fresh session, so every probe gets an answer, in `check` and in the explorer alike, and no
/// reason quotes a library's internals.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_hang_up_after_an_answered_probe_goes_on_in_a_fresh_session() {
    let server = exim_like();
    let addr = server.addr();
    let (code, out, err) = tokio::task::spawn_blocking({
        let addr = addr.clone();
        move || {
            smtpscope(&[
                "check",
                "--server",
                &addr,
                "--insecure",
                "--helo",
                "probe.test",
                "--timeout",
                "5",
                "--scenario",
                "relay-tricks",
                "--format",
                "json",
                "--transcripts",
            ])
        }
    })
    .await
    .unwrap();
    let doc: Value = serde_json::from_str(&out).unwrap_or_else(|e| panic!("{e}: {out} {err}"));
    let result = &doc["results"][0];
    let transcripts = result["transcripts"]
        .as_array()
        .map(|t| {
            t.iter()
                .filter_map(Value::as_str)
                .collect::<Vec<_>>()
                .join("\n----\n")
        })
        .unwrap_or_default();
    let steps = result["steps"].as_array().expect("steps");
    let rcpts: Vec<&Value> = steps
        .iter()
        .filter(|s| s["command"].as_str().unwrap_or("").starts_with("RCPT"))
        .collect();
    assert_eq!(rcpts.len(), 16, "every trick's RCPT: {result:#}");
    for s in &rcpts {
        assert!(
            s["reply"]["code"].is_u64(),
            "every RCPT answered, none 'not reached': {s:#}\n{transcripts}"
        );
    }
    let text = result.to_string();
    for internal in ["close_notify", "http", "docs.rs"] {
        assert!(!text.contains(internal), "{internal} in {result:#}");
    }
    // Three RCPTs a connection at most: 16 probes took at least six connections, not the two
    // the scenario plans.
    assert!(
        server.connections() >= 6,
        "{} connections",
        server.connections()
    );
    assert_eq!(
        code,
        Some(0),
        "all refused: PASS, exit 0: {result:#}\n{err}\n{transcripts}"
    );
    let check_verdict = result["verdict"].as_str().unwrap().to_ascii_uppercase();

    // The explorer, stepped with Enter, gets as far and to the same verdict.
    let mut app = Stepping::new(
        "exim",
        profile(&format!(
            "server = \"{addr}\"\ntls = \"starttls\"\nverify = \"insecure\"\nhelo = \"probe.test\"\n"
        )),
    );
    let stepped = app
        .step_through("relay-tricks", &[], 80, Duration::from_secs(60))
        .await;
    let screen = app.screen();
    assert!(
        app.said
            .iter()
            .any(|s| s.starts_with(&format!("{check_verdict}: "))),
        "explorer ended {} with {:?}, check said {check_verdict}:\n{screen}",
        stepped.ended,
        app.said
    );
    assert!(
        app.said
            .iter()
            .any(|s| s.contains("goes on in a fresh session")),
        "the hang-up is said: {:?}",
        app.said
    );
    assert!(!screen.contains("not reached"), "{screen}");
    assert!(!screen.contains("close_notify"), "{screen}");
}

/// A scenario that needs TLS on a target whose TLS mode is none does not quietly turn TLS on:
/// `check` and the explorer both skip it, in the same words, and nothing is sent.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_scenario_that_needs_tls_is_skipped_on_a_tls_none_target() {
    let server = HostileServer::start(
        Tls::Starttls(self_signed_config()),
        Arc::new(|_: &mut hostile_server::Peer, _, _: &[u8]| Flow::Normal),
    );
    let addr = server.addr();
    let user = "alice@lab.test";
    let (code, out, err) = tokio::task::spawn_blocking({
        let addr = addr.clone();
        move || {
            let config = tempfile::tempdir().unwrap();
            let out = Command::cargo_bin("smtpscope")
                .unwrap()
                .env("SMTPSCOPE_CONFIG_DIR", config.path())
                .env("PW", "not-sent")
                .args([
                    "check",
                    "--server",
                    &addr,
                    "--tls",
                    "none",
                    "--auth",
                    "plain",
                    "--user",
                    user,
                    "--password-env",
                    "PW",
                    "--approved-recipient",
                    "someone@partner.test",
                    "--scenario",
                    "B",
                    "--format",
                    "json",
                ])
                .timeout(Duration::from_secs(30))
                .output()
                .unwrap();
            (
                out.status.code(),
                String::from_utf8_lossy(&out.stdout).into_owned(),
                String::from_utf8_lossy(&out.stderr).into_owned(),
            )
        }
    })
    .await
    .unwrap();
    let doc: Value = serde_json::from_str(&out).unwrap_or_else(|e| panic!("{e}: {out} {err}"));
    let result = &doc["results"][0];
    assert_eq!(result["verdict"], "skipped", "{result:#}");
    assert_eq!(server.connections(), 0, "nothing sent: {result:#}");
    let check_reason = result["reason"].as_str().unwrap().to_string();
    assert!(
        check_reason.starts_with("needs TLS (this scenario logs in"),
        "{check_reason}"
    );
    assert!(check_reason.contains("--tls starttls"), "{check_reason}");
    // Nothing could be tested: exit 3, as the exit-code table says.
    assert_eq!(code, Some(3), "{err}");

    let mut app = Stepping::new(
        "plain",
        profile(&format!(
            "server = \"{addr}\"\ntls = \"none\"\n\n[auth]\nmechanism = \"plain\"\nusername = \"{user}\"\n\n[relay]\napproved_recipient = \"someone@partner.test\"\n"
        )),
    );
    // Typed at the prompt, as the explorer asks when the profile names no source.
    app.state.password = Some("not-sent".into());
    let stepped = app
        .step_through("auth-relay-approved", &[], 5, Duration::from_secs(20))
        .await;
    let said = app.said.join("\n");
    // The same sentence up to the control, which each front end names its own way.
    let common = check_reason
        .split(": set ")
        .next()
        .expect("a reason with advice");
    assert!(
        said.contains(&format!("SKIPPED: {common}: set F2")),
        "explorer ended {}: {said}",
        stepped.ended
    );
    assert_eq!(
        server.connections(),
        0,
        "a skipped scenario opens no connection"
    );
}

/// A tarpit answers one command a second: commands typed by hand queue up behind the one in
/// flight. Esc cancels all of them, not only the first.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn esc_cancels_every_queued_typed_command() {
    let server = HostileServer::start(
        Tls::None,
        Arc::new(|_: &mut hostile_server::Peer, stage, _: &[u8]| {
            if stage == Stage::Other {
                std::thread::sleep(Duration::from_millis(800));
            }
            Flow::Normal
        }),
    );
    let addr = server.addr();
    let mut app = Stepping::new(
        "tarpit",
        profile(&format!(
            "server = \"{addr}\"\ntls = \"none\"\nhelo = \"probe.test\"\n"
        )),
    );
    // Connect first, so that every typed command queues behind a live connection.
    app.press(KeyCode::Tab);
    app.press(KeyCode::Tab);
    app.type_text("NOOP");
    app.press(KeyCode::Enter);
    app.wait_for(|ev| matches!(ev, NetEvent::Idle), Duration::from_secs(15))
        .await;
    for i in 0..5 {
        app.type_text(&format!("NOOP {i}"));
        app.press(KeyCode::Enter);
    }
    // The first is in flight (the tarpit holds its reply); the rest wait in the queue.
    let mut in_flight = false;
    for _ in 0..300 {
        app.drain_events().await;
        if server_log_has(&server, "NOOP 0") {
            in_flight = true;
            break;
        }
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
    assert!(in_flight, "the first typed NOOP never reached the server");
    let sent = app.press(KeyCode::Esc);
    assert_eq!(sent, 1, "Esc aborts while typed commands are queued");
    // An event, not a time window: once the server has seen the connection end, nothing
    // queued can still go out on it.
    for _ in 0..300 {
        app.drain_events().await;
        if server.ended() == server.connections() {
            break;
        }
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
    assert_eq!(
        server.ended(),
        server.connections(),
        "after Esc the connection was never closed"
    );
    let received: Vec<String> = server
        .received()
        .into_iter()
        .flatten()
        .map(|(_, l)| l)
        .filter(|l| l.starts_with("NOOP "))
        .collect();
    assert!(
        received.len() <= 1,
        "after Esc, queued commands still went out: {received:?}"
    );
    let notice = app.state.notice.as_ref().map(|(_, n)| n.clone());
    assert!(
        notice
            .as_deref()
            .is_some_and(|n| n.contains("4 queued commands were not sent")),
        "Esc says the queued commands were not sent: {notice:?}"
    );
}

/// A server that answers normally until `held` (a stage), then answers nothing, logs whatever
/// arrives and records whether the client closed the connection (`closed`, the number of
/// connections that did). A generous bound so that only a client that never closes ends it.
fn holds_at(held: Stage, closed: Arc<Mutex<usize>>) -> HostileServer {
    HostileServer::start(
        Tls::None,
        Arc::new(move |peer: &mut hostile_server::Peer, stage, _: &[u8]| {
            if stage != held {
                return Flow::Normal;
            }
            if peer.wait_for_close(Duration::from_secs(60)) {
                *closed.lock().expect("closed") += 1;
            }
            Flow::Close
        }),
    )
}

/// Waits (a bounded number of 100 ms polls, feeding the app) until the server has seen the
/// client close; false if it never did.
async fn server_saw_close(app: &mut Stepping, closed: &Arc<Mutex<usize>>) -> bool {
    for _ in 0..300 {
        app.drain_events().await;
        if *closed.lock().expect("closed") > 0 {
            return true;
        }
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
    false
}

/// README's Esc: "the connection is closed at once, QUIT not sent", on the wire. A command
/// typed by hand waits on a server that holds its reply; after Esc the server sees the
/// connection closed and, of everything after the NOOP, no QUIT (or anything else). "At once"
/// without a clock: the profile's reply timeout is 300 s, longer than the test waits for the
/// close, so a client that waited for any reply (a QUIT's, or the NOOP's owed one) before
/// closing never closes in time.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn esc_on_a_typed_command_closes_the_connection_without_quit() {
    let closed = Arc::new(Mutex::new(0));
    let server = holds_at(Stage::Other, Arc::clone(&closed));
    let addr = server.addr();
    let mut app = Stepping::new(
        "held",
        profile(&format!(
            "server = \"{addr}\"\ntls = \"none\"\nhelo = \"probe.test\"\ntimeout_secs = 300\n"
        )),
    );
    app.press(KeyCode::Tab);
    app.press(KeyCode::Tab);
    app.type_text("NOOP");
    app.press(KeyCode::Enter);
    // The NOOP reached the server (it is logged when read), and its reply is held.
    let mut arrived = false;
    for _ in 0..300 {
        app.drain_events().await;
        if server.connections() == 1 && server_log_has(&server, "NOOP") {
            arrived = true;
            break;
        }
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
    assert!(arrived, "the typed NOOP never reached the server");
    assert_eq!(app.press(KeyCode::Esc), 1, "Esc aborts the typed command");
    assert!(
        server_saw_close(&mut app, &closed).await,
        "after Esc the server never saw the connection closed"
    );
    let got: Vec<String> = server
        .received()
        .into_iter()
        .flatten()
        .map(|(_, l)| l)
        .collect();
    let after: Vec<&String> = got
        .iter()
        .skip_while(|l| !l.starts_with("NOOP"))
        .skip(1)
        .collect();
    assert!(after.is_empty(), "sent after Esc: {after:?} (all: {got:?})");
    assert!(!got.iter().any(|l| l.starts_with("QUIT")), "{got:?}");
    assert_eq!(server.connections(), 1, "{got:?}");
}

/// The same for a scenario run: scenario A, stepped with Enter, waits on a server that holds
/// its reply to MAIL FROM; Esc closes the connection and no QUIT follows the MAIL.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn esc_on_a_scenario_run_closes_the_connection_without_quit() {
    let closed = Arc::new(Mutex::new(0));
    let server = holds_at(Stage::Mail, Arc::clone(&closed));
    let addr = server.addr();
    let mut app = Stepping::new(
        "held",
        profile(&format!(
            "server = \"{addr}\"\ntls = \"none\"\nhelo = \"probe.test\"\ntimeout_secs = 300\n\n[relay]\nlocal_recipient = \"postmaster@x.test\"\n"
        )),
    );
    app.state.selected = app
        .state
        .catalogue
        .iter()
        .position(|s| s.answers_to("A"))
        .expect("scenario A");
    app.press(KeyCode::Enter);
    // At the first step offered, Ctrl-R runs the rest, until MAIL FROM is held.
    let mut held = false;
    let mut ran = false;
    for _ in 0..300 {
        app.drain_events().await;
        if server_log_has(&server, "MAIL FROM") {
            held = true;
            break;
        }
        if !ran && !app.state.editor.text().trim().is_empty() {
            app.press_with(KeyCode::Char('r'), KeyModifiers::CONTROL);
            ran = true;
        }
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
    assert!(held, "scenario A never sent MAIL FROM: {}", app.screen());
    app.press(KeyCode::Esc);
    assert!(
        server_saw_close(&mut app, &closed).await,
        "after Esc the server never saw the connection closed"
    );
    let got = server.received();
    for conn in &got {
        let after: Vec<&String> = conn
            .iter()
            .map(|(_, l)| l)
            .skip_while(|l| !l.starts_with("MAIL FROM"))
            .skip(1)
            .collect();
        assert!(after.is_empty(), "sent after Esc: {after:?} (all: {got:?})");
    }
}

fn server_log_has(server: &HostileServer, start: &str) -> bool {
    server
        .received_now()
        .iter()
        .flatten()
        .any(|(_, l)| l.starts_with(start))
}
