//! The texts a reader sees are finished: every verdict, step and error of the whole built-in
//! catalogue is filled in (no `{variable}`), in plain words (no Rust Debug form), and names the
//! control of the front end in use (a flag in `check`, a key in the explorer). Run against the
//! practice lab on every policy, a closed port, a wrong certificate name and implicit TLS
//! against a plain-SMTP port.

#![allow(clippy::expect_used, clippy::unwrap_used)] // test code: a failed setup should panic loudly

mod common;

use std::time::Duration;

use assert_cmd::Command;
use common::explorer::Explorer;
use serde_json::Value;
use smtpscope::lab::{Lab, LabConfig, Policy};
use smtpscope::net::TlsMode;
use smtpscope::tui::lab_profile;

fn runtime() -> tokio::runtime::Runtime {
    tokio::runtime::Builder::new_multi_thread()
        .worker_threads(2)
        .enable_all()
        .build()
        .expect("runtime")
}

async fn start_lab(policy: Policy) -> Lab {
    Lab::start(
        LabConfig {
            listen: "127.0.0.1:0".parse().unwrap(),
            policy,
            misbehave: vec![],
            store_dir: None,
        },
        None,
    )
    .await
    .expect("lab starts")
}

fn smtpscope() -> Command {
    let mut cmd = Command::cargo_bin("smtpscope").expect("binary");
    cmd.timeout(Duration::from_secs(90));
    cmd.env(
        "SMTPSCOPE_CONFIG_DIR",
        std::env::temp_dir().join("smtpscope-texts-tests-empty-config"),
    );
    cmd.env("LAB_PW", "bob-lab-password");
    cmd
}

const RELAY_FLAGS: &[&str] = &[
    "--helo",
    "probe.test",
    "--auth",
    "plain",
    "--user",
    "bob",
    "--password-env",
    "LAB_PW",
    "--auth-sender",
    "bob@lab.example",
    "--local-recipient",
    "postmaster@lab.example",
    "--approved-recipient",
    "someone@partner.example",
    "--disallowed-recipient",
    "someone@elsewhere.example.org",
    "--other-local-sender",
    "alice@lab.example",
];

/// `check --all --format json` with `extra`; the report's text and the parsed document.
fn check_json(server: &str, extra: &[&str]) -> (String, Value) {
    let out = smtpscope()
        .args(["check", "--server", server, "--all", "--format", "json"])
        .args(extra)
        .output()
        .expect("run check");
    let text = String::from_utf8_lossy(&out.stdout).into_owned();
    let err = String::from_utf8_lossy(&out.stderr);
    let doc: Value = serde_json::from_str(&text).unwrap_or_else(|e| panic!("{e}: {text} {err}"));
    (text, doc)
}

fn assert_finished_texts(what: &str, text: &str) {
    assert_eq!(
        common::placeholders(text),
        Vec::<String>::new(),
        "{what}: {text}"
    );
    assert_eq!(
        common::debug_forms(text),
        Vec::<&str>::new(),
        "{what}: {text}"
    );
}

fn all_reasons(doc: &Value) -> Vec<String> {
    let mut out = Vec::new();
    for r in doc["results"].as_array().expect("results") {
        out.push(r["reason"].as_str().unwrap_or("").to_string());
        for s in r["steps"].as_array().into_iter().flatten() {
            out.push(format!(
                "{} — {}",
                s["command"].as_str().unwrap_or(""),
                s["reason"].as_str().unwrap_or("")
            ));
        }
    }
    out
}

#[test]
fn check_texts_are_filled_in_on_every_lab_policy() {
    let rt = runtime();
    for policy in [
        Policy::OpenRelay,
        Policy::Secure,
        Policy::AuthCleartext,
        Policy::NoTls,
    ] {
        let lab = rt.block_on(start_lab(policy));
        let server = lab.addr.to_string();
        let ca = lab.ca_path.display().to_string();
        let mut flags = vec!["--ca-file", ca.as_str(), "--tls-name", "localhost"];
        flags.extend_from_slice(RELAY_FLAGS);
        let (text, doc) = check_json(&server, &flags);
        assert_finished_texts(&format!("{policy:?}"), &text);
        assert!(all_reasons(&doc).len() > 20, "{policy:?}: {text}");
        // With no [relay] addresses at all: skipped, with the setting to give, in words.
        let (text, doc) = check_json(&server, &["--ca-file", &ca, "--tls-name", "localhost"]);
        assert_finished_texts(&format!("{policy:?}, no addresses"), &text);
        let vrfy = doc["results"]
            .as_array()
            .unwrap()
            .iter()
            .find(|r| r["id"] == "vrfy-expn")
            .unwrap();
        assert_eq!(vrfy["verdict"], "skipped", "{text}");
        assert_eq!(
            vrfy["reason"],
            "the variable local_recipient is not set: set [relay] local_recipient (or --local-recipient)",
            "{text}"
        );
    }
}

#[test]
fn failed_connections_leave_no_template_and_say_what_to_do() {
    let rt = runtime();
    let lab = rt.block_on(start_lab(Policy::OpenRelay));
    let server = lab.addr.to_string();
    let ca = lab.ca_path.display().to_string();

    // Implicit TLS against the lab's plain-SMTP port: the steps are not reached, and the reason
    // says what the port speaks and what to try.
    let mut flags = vec![
        "--tls",
        "implicit",
        "--ca-file",
        &ca,
        "--tls-name",
        "localhost",
    ];
    flags.extend_from_slice(RELAY_FLAGS);
    let (text, doc) = check_json(&server, &flags);
    assert_finished_texts("implicit TLS on a plain port", &text);
    let a = &doc["results"][0];
    assert_eq!(a["id"], "unauth-relay");
    let reason = a["reason"].as_str().unwrap();
    assert!(
        reason.contains("this port speaks plain SMTP; try STARTTLS (--tls starttls)"),
        "{reason}"
    );
    // The steps not reached still show their commands, filled in as far as known.
    let mail = a["steps"][0]["command"].as_str().unwrap();
    assert_eq!(mail, "MAIL FROM:<relay-test@outside.example.net>");
    let tricks = doc["results"]
        .as_array()
        .unwrap()
        .iter()
        .find(|r| r["id"] == "relay-tricks")
        .unwrap();
    let commands: Vec<&str> = tricks["steps"]
        .as_array()
        .unwrap()
        .iter()
        .map(|s| s["command"].as_str().unwrap())
        .collect();
    assert!(
        commands.contains(&"MAIL FROM:<relay-test@(the server's address literal)>"),
        "{commands:?}"
    );

    // A certificate for other names: both sides named plainly, and the flags to use.
    let mut flags = vec!["--ca-file", ca.as_str(), "--tls-name", "wrong.host.invalid"];
    flags.extend_from_slice(RELAY_FLAGS);
    let (text, doc) = check_json(&server, &flags);
    assert_finished_texts("wrong certificate name", &text);
    let starttls = doc["results"]
        .as_array()
        .unwrap()
        .iter()
        .find(|r| r["id"] == "starttls")
        .unwrap();
    let reason = starttls["reason"].as_str().unwrap();
    assert!(
        reason.contains("wanted wrong.host.invalid, the certificate is for localhost, mail.lab.example, 127.0.0.1"),
        "{reason}"
    );
    // Only the flags that get past a wrong name: a CA file cannot.
    assert!(
        reason.contains("use --tls-name to check another name, or --insecure to continue anyway"),
        "{reason}"
    );

    // Nobody listening at all.
    let closed = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
    let port = closed.local_addr().unwrap().port();
    drop(closed);
    let (text, _) = check_json(&format!("127.0.0.1:{port}"), RELAY_FLAGS);
    assert_finished_texts("closed port", &text);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_explorer_shows_every_scenario_filled_in() {
    for policy in [Policy::OpenRelay, Policy::Secure] {
        let lab = start_lab(policy).await;
        let mut app = Explorer::new("lab", lab_profile(&lab));
        let n = app.state.catalogue.len();
        for i in 0..n {
            let id = app.state.catalogue[i].id.clone();
            let screen = app.run(i).await;
            assert_finished_texts(&format!("{policy:?} {id}"), &screen);
        }
        let said = app.said.join("\n");
        assert_finished_texts(&format!("{policy:?} notices"), &said);
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_explorer_names_keys_not_flags() {
    let lab = start_lab(Policy::Secure).await;
    // A certificate for other names: the explorer says F4, not --insecure.
    let mut wrong_name = lab_profile(&lab);
    wrong_name.tls_name = Some("wrong.host.invalid".into());
    let mut app = Explorer::new("lab", wrong_name);
    let starttls = app
        .state
        .catalogue
        .iter()
        .position(|s| s.id == "starttls")
        .unwrap();
    let screen = app.run(starttls).await;
    let all = format!("{screen}\n{}", app.said.join("\n"));
    assert!(all.contains("F4 (verification: insecure)"), "{all}");
    assert!(!all.contains("--insecure"), "{all}");
    assert!(!all.contains("--ca-file"), "{all}");
    assert_finished_texts("wrong name", &all);

    // Implicit TLS on the lab's plain port: "try STARTTLS", with the key that sets it.
    let mut implicit = lab_profile(&lab);
    implicit.tls = TlsMode::Implicit;
    let mut app = Explorer::new("lab", implicit);
    let screen = app.run(0).await;
    let all = format!("{screen}\n{}", app.said.join("\n"));
    assert!(
        all.contains("this port speaks plain SMTP; try STARTTLS (F2 (TLS mode: starttls))"),
        "{all}"
    );
    assert!(!all.contains("--tls"), "{all}");
    assert_finished_texts("implicit", &all);
}

/// A step with no reply says what it was instead of "no reply": a local check sent nothing, a
/// step skipped or never reached did not run; only a step that went out and got nothing back
/// says "no reply" (issue 27).
#[test]
fn steps_without_a_reply_say_what_they_were() {
    use smtpscope::scenario::{StepResult, Verdict};
    let step = |command: &str, verdict: Verdict, reason: &str| StepResult {
        name: None,
        command: command.into(),
        expected: String::new(),
        reply: None,
        verdict,
        reason: reason.into(),
        elapsed_ms: 0,
        role: smtpscope::scenario::model::Role::Probe,
        note: None,
        edited: false,
    };
    assert_eq!(
        step("check: certificate name", Verdict::Pass, "ok").reply_text(),
        "local check, nothing sent"
    );
    assert_eq!(
        step("probe TLS 1.0", Verdict::Pass, "refused").reply_text(),
        "local check, nothing sent"
    );
    assert_eq!(
        step("RCPT TO:<a@b.example>", Verdict::Skipped, "needs TLS").reply_text(),
        "not run"
    );
    assert_eq!(
        step(
            "DATA",
            Verdict::Inconclusive,
            "not reached: the server closed"
        )
        .reply_text(),
        "not run"
    );
    assert_eq!(
        step("NOOP", Verdict::Inconclusive, "timed out").reply_text(),
        "no reply"
    );
}
