//! Stepping a scenario in the explorer with Enter is the same run as `smtpscope check`
//! (issue 22). For every scenario of the built-in catalogue (a new one is covered without
//! touching this file) and each server (the practice lab's open relay and secure server,
//! started in-process, and the Postfix fixture), the explorer is stepped the way an operator
//! does it: Enter on the scenario in the picker, then Enter in the editor, typing nothing,
//! each time the run waits at a step, until its verdict arrives. Then `check --scenario X
//! --format json --transcripts` runs on the same profile against the same server, and:
//!
//! - every line the explorer sent equals what check sent, session by session (lines whose
//!   value changes on every run, such as the Date and Message-ID of a test message, are
//!   compared by name only; TLS handshakes are not lines of the transcript);
//! - in particular the explorer never sends a step's description as a command: a local
//!   check's (`check: ...`), the TLS version probe's (`probe TLS ...`), an action's
//!   (`DATA + ...`, `AUTH (profile credentials)`);
//! - the explorer's verdict is check's.
//!
//! A failure names the server, the scenario and the first line that differs. Each run has a
//! budget of Enter presses (the scenario's steps and a few more) and a deadline, so a run that
//! offers the same step again after each Enter is reported, not waited on for ever.

#![allow(clippy::expect_used, clippy::unwrap_used)] // test code: a failed setup should panic loudly

mod common;

use std::path::Path;
use std::time::Duration;

use assert_cmd::Command;
use common::postfix::{Postfix, shared};
use common::stepping::{Edit, Ended, Stepping};
use serde_json::Value;
use smtpscope::lab::{Lab, LabConfig, Policy};
use smtpscope::profile::Profile;
use smtpscope::scenario::{Catalogue, Verdict};
use smtpscope::tui::lab_profile;

/// The variable `check` reads the profile's password from; the explorer's copy of the profile
/// holds the password itself, as the lab's profile does.
const PASSWORD_ENV: &str = "SMTPSCOPE_PARITY_PASSWORD";
/// A stepped run's deadline, and check's.
const RUN_DEADLINE: Duration = Duration::from_secs(150);
/// Enter presses allowed beyond one per step.
const SPARE_PRESSES: usize = 5;

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

/// The Postfix fixture as a profile: bob (limited to the partner domain) logs in, as in
/// tests/postfix_check.rs, so that every scenario has something to say.
fn postfix_profile(pf: &Postfix, port: u16) -> Profile {
    let text = format!(
        r#"server = "127.0.0.1:{port}"
tls = "starttls"
verify = "platform"
ca_file = "{ca}"
tls_name = "localhost"
helo = "probe.test"
timeout_secs = 20

[auth]
mechanism = "plain"
username = "{bob}"
password = "{bob_pw}"

[relay]
local_recipient = "postmaster@{domain}"
external_sender = "relay-test@outside.example.net"
external_recipient = "relay-test@elsewhere.example.org"
approved_recipient = "someone@{partner}"
disallowed_recipient = "someone@not-approved.example"
other_local_sender = "{user}@{domain}"
auth_sender = "{bob}@{domain}"
"#,
        ca = pf.ca_pem_path.display(),
        domain = pf.domain,
        partner = pf.partner_domain,
        user = pf.user,
        bob = pf.restricted_user,
        bob_pw = pf.restricted_password,
    );
    Profile::parse(&text, Path::new("postfix.toml")).expect("the Postfix profile parses")
}

/// What `check --scenario X --format json --transcripts` said about X.
struct Checked {
    verdict: Option<Verdict>,
    reason: String,
    /// Each session's transcript, one display line each.
    sessions: Vec<Vec<String>>,
}

/// Runs `check` for scenario `id` with `profile` saved as `name` in a config directory of its
/// own; the password goes through [`PASSWORD_ENV`].
fn run_check(name: &str, profile: &Profile, id: &str) -> Checked {
    let config = tempfile::tempdir().expect("config dir");
    let data = tempfile::tempdir().expect("data dir");
    let mut saved = profile.clone();
    let password = saved.auth.as_mut().and_then(|a| {
        a.password_env = Some(PASSWORD_ENV.into());
        a.password.take()
    });
    let text = saved.to_toml().expect("the profile as TOML");
    std::fs::create_dir_all(config.path().join("profiles")).expect("mkdir");
    std::fs::write(config.path().join(format!("profiles/{name}.toml")), text).expect("write");
    let mut cmd = Command::cargo_bin("smtpscope").expect("binary");
    cmd.timeout(RUN_DEADLINE)
        .env("SMTPSCOPE_CONFIG_DIR", config.path())
        .env("SMTPSCOPE_DATA_DIR", data.path())
        .env(PASSWORD_ENV, password.unwrap_or_default())
        .args(["check", "--profile", name, "--scenario", id])
        .args(["--format", "json", "--transcripts"]);
    let out = cmd.output().expect("run check");
    let stdout = String::from_utf8_lossy(&out.stdout);
    let stderr = String::from_utf8_lossy(&out.stderr);
    let doc: Value = serde_json::from_str(&stdout)
        .unwrap_or_else(|e| panic!("{name} {id}: check printed no JSON ({e}): {stdout} {stderr}"));
    let result = doc["results"]
        .as_array()
        .and_then(|rs| rs.iter().find(|r| r["id"] == id))
        .unwrap_or_else(|| panic!("{name} {id}: no result for {id} in {doc:#}"));
    Checked {
        verdict: serde_json::from_value(result["verdict"].clone()).ok(),
        reason: result["reason"].as_str().unwrap_or_default().to_string(),
        sessions: result["transcripts"]
            .as_array()
            .map(|ts| {
                ts.iter()
                    .map(|t| {
                        t.as_str()
                            .unwrap_or_default()
                            .lines()
                            .map(str::to_string)
                            .collect()
                    })
                    .collect()
            })
            .unwrap_or_default(),
    }
}

/// Header lines of a test message whose value is new on every run.
const VARYING: [&str; 4] = [
    "Date:",
    "Message-ID:",
    "X-Smtpscope-Test:",
    "Subject: smtpscope test ",
];

/// The client's lines of a transcript (`  12 ms tls C: EHLO x` gives `tls C: EHLO x`), with
/// the values that change on every run taken out.
fn sent_lines(transcript: &[String]) -> Vec<String> {
    transcript
        .iter()
        .filter_map(|line| {
            let (_, rest) = line.split_once(" ms ")?;
            let tls = rest.starts_with("tls");
            let text = rest.get(3..)?.strip_prefix(" C: ")?;
            let text = VARYING
                .iter()
                .find(|v| {
                    text.get(..v.len())
                        .is_some_and(|p| p.eq_ignore_ascii_case(v))
                })
                .map_or_else(|| text.to_string(), |v| format!("{v} <differs per run>"));
            Some(format!("{}C: {text}", if tls { "tls " } else { "" }))
        })
        .collect()
}

/// How the explorer describes a step that is not a command line (a local check, the TLS
/// version probe, an action): never something to send.
const DESCRIPTIONS: [&str; 5] = [
    "check:",
    "DATA + ",
    "AUTH (profile credentials)",
    "AUTH PLAIN <dummy credentials>",
    "probe TLS",
];

/// Lines the explorer must never send: a step's description, above all a local check's
/// (`check: ...`) or the version probe's (`probe TLS ...`).
fn forbidden(line: &str) -> bool {
    let text = line.split_once("C: ").map_or(line, |(_, t)| t);
    text.contains("probe TLS")
        || DESCRIPTIONS.iter().any(|d| {
            text.get(..d.len())
                .is_some_and(|p| p.eq_ignore_ascii_case(d))
        })
}

fn shown(line: Option<&String>) -> String {
    line.map_or_else(|| "nothing more".into(), |l| format!("`{l}`"))
}

/// The first line sent differently, session by session, if any.
fn first_difference(explorer: &[Vec<String>], check: &[Vec<String>]) -> Option<String> {
    for i in 0..explorer.len().max(check.len()) {
        match (explorer.get(i), check.get(i)) {
            (Some(e), Some(c)) => {
                for j in 0..e.len().max(c.len()) {
                    if e.get(j) != c.get(j) {
                        return Some(format!(
                            "session {}, client line {}: the explorer sent {}, check sent {}",
                            i + 1,
                            j + 1,
                            shown(e.get(j)),
                            shown(c.get(j))
                        ));
                    }
                }
            }
            (Some(e), None) => {
                return Some(format!(
                    "the explorer opened a session {} that check did not (first line {})",
                    i + 1,
                    shown(e.first())
                ));
            }
            (None, Some(c)) => {
                return Some(format!(
                    "check opened a session {} that the explorer did not (first line {})",
                    i + 1,
                    shown(c.first())
                ));
            }
            (None, None) => {}
        }
    }
    None
}

/// Steps `id` in the explorer and runs check for it on `profile`; what differs, first
/// difference first (empty: the same run).
async fn compare(server: &str, profile: &Profile, id: &str, steps: usize) -> Vec<String> {
    let mut app = Stepping::new(server, profile.clone());
    let stepped = app
        .step_through(id, &[], steps + SPARE_PRESSES, RUN_DEADLINE)
        .await;
    let explorer: Vec<Vec<String>> = app.sessions.iter().map(|s| sent_lines(s)).collect();
    // The local-delivery control that qualifies a relay verdict is shown and exported too,
    // under its own session mark; check runs it as well, reported apart from the scenario.
    let controls = app.control_sessions.len();
    // The sessions told apart above are the explorer's own session records (F9).
    let records = app.export_json().await.map(|paths| paths.len());
    drop(app);
    let (name, p, scenario) = (server.to_string(), profile.clone(), id.to_string());
    let checked = tokio::task::spawn_blocking(move || run_check(&name, &p, &scenario))
        .await
        .expect("check ran");
    let check: Vec<Vec<String>> = checked.sessions.iter().map(|s| sent_lines(s)).collect();

    let mut problems = Vec::new();
    for (i, session) in explorer.iter().enumerate() {
        if let Some((j, line)) = session.iter().enumerate().find(|(_, l)| forbidden(l)) {
            problems.push(format!(
                "the explorer sent a step's description as a command: `{line}` (session {}, client line {})",
                i + 1,
                j + 1
            ));
            break;
        }
    }
    if let Some(d) = first_difference(&explorer, &check) {
        problems.push(d);
    }
    if records != Some(explorer.len() + controls) {
        problems.push(format!(
            "the explorer's F9 export wrote {records:?} session records for the {} sessions of its transcript ({controls} of them the control's)",
            explorer.len() + controls
        ));
    }
    let check_verdict = checked.verdict.map_or_else(
        || format!("no verdict ({})", checked.reason),
        |v| format!("{v}: {}", checked.reason),
    );
    match &stepped.ended {
        Ended::Verdict(v, _) if Some(*v) == checked.verdict => {}
        Ended::Verdict(..) => problems.push(format!(
            "verdicts differ: the explorer {}; check {check_verdict}",
            stepped.ended
        )),
        other => problems.push(format!(
            "the explorer reached no verdict ({other}); check {check_verdict}"
        )),
    }
    if !problems.is_empty() {
        problems.push(format!(
            "(Enter pressed {} times; steps offered: {:?})",
            stepped.presses, stepped.offered
        ));
    }
    problems
}

/// The table: every built-in scenario on `server`. Every scenario runs, then the test fails
/// listing each one that differs.
async fn parity(server: &str, profile: Profile) {
    let catalogue = Catalogue::built_in();
    assert!(catalogue.errors.is_empty(), "{:?}", catalogue.errors);
    let mut failures = Vec::new();
    for entry in &catalogue.entries {
        let id = &entry.scenario.id;
        let problems = compare(server, &profile, id, entry.scenario.steps.len()).await;
        if problems.is_empty() {
            eprintln!("parity {server} {id}: same lines, same verdict");
        } else {
            eprintln!("parity {server} {id}: DIFFERS: {}", problems.join("; "));
            failures.push(format!(
                "{server}, scenario {id}: {}",
                problems.join("\n    ")
            ));
        }
    }
    assert!(
        failures.is_empty(),
        "stepping with Enter is not the run check makes, on {} of {} scenarios:\n  {}",
        failures.len(),
        catalogue.entries.len(),
        failures.join("\n  ")
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn stepping_with_enter_is_the_check_run_on_the_open_relay_lab() {
    let lab = start_lab(Policy::OpenRelay).await;
    parity("lab-open", lab_profile(&lab)).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn stepping_with_enter_is_the_check_run_on_the_secure_lab() {
    let lab = start_lab(Policy::Secure).await;
    parity("lab-secure", lab_profile(&lab)).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn stepping_with_enter_is_the_check_run_on_postfix() {
    let Some(pf) = shared("stepping_with_enter_is_the_check_run_on_postfix") else {
        return;
    };
    // The relaxed listener: the same policy as `starttls_port` without Postfix's tarpit. A
    // run that goes wrong (a step's description sent as a command, again after each Enter)
    // makes errors, and with the tarpit every reply after the tenth error takes a second and
    // the twentieth drops the session: the test would be slow, and the first difference
    // would drown in tarpit delays and 421s that have nothing to do with stepping.
    parity("postfix", postfix_profile(pf, pf.relaxed_port)).await;
}

/// An edited step is the operator's experiment, not the scenario's evidence: A on the secure
/// lab, with RCPT replaced by a local recipient (which the server accepts), must not end as
/// "unauth-relay PASS" or "unauth-relay FAIL", and the screen says the run was edited.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn an_edited_step_is_never_a_scenario_verdict() {
    let lab = start_lab(Policy::Secure).await;
    let profile = lab_profile(&lab);
    let local = profile
        .relay
        .local_recipient
        .clone()
        .expect("the lab's local recipient");
    let typed = format!("RCPT TO:<{local}>");
    let mut app = Stepping::new("lab-secure", profile);
    let stepped = app
        .step_through(
            "unauth-relay",
            &[Edit {
                at: "RCPT TO:".into(),
                typed: typed.clone(),
            }],
            10,
            Duration::from_secs(60),
        )
        .await;
    let screen = app.screen();
    assert!(
        matches!(stepped.ended, Ended::Verdict(..)),
        "the run ends: {}; said {:?}\n{screen}",
        stepped.ended,
        app.said
    );
    assert!(
        app.sessions
            .iter()
            .flatten()
            .any(|l| l.ends_with(&format!(" C: {typed}"))),
        "the edited line went out: {:?}",
        app.sessions
    );
    for verdict in ["unauth-relay PASS", "unauth-relay FAIL"] {
        assert!(
            !screen.contains(verdict),
            "lab-secure, unauth-relay with RCPT edited to {typed:?}: the screen shows {verdict:?} \
             (the run ended {}):\n{screen}",
            stepped.ended
        );
    }
    assert!(
        screen.contains("EDITED — not a verdict of unauth-relay"),
        "lab-secure, unauth-relay with RCPT edited: the verdict panel does not say the run was edited:\n{screen}"
    );
    assert!(
        screen.contains(&format!(
            "`{typed}` sent instead of the scenario's `RCPT TO:<relay-test@"
        )),
        "the panel says what was edited:\n{screen}"
    );
    // Nothing is kept as the scenario's verdict: the list and the compare view read these.
    assert_eq!(
        app.state.verdicts.get("lab-secure", "unauth-relay"),
        None,
        "an edited run is kept as the scenario's last verdict"
    );
}
