//! Copy as command (issue 27): `C` in the explorer copies the `smtpscope check …` command for
//! the selected scenario on the current profile with the toggles as they are. Run as copied,
//! it reaches the verdict the explorer reached, against both practice labs.

#![allow(clippy::expect_used, clippy::unwrap_used)] // test code: a failed setup should panic loudly

mod common;

use std::time::Duration;

use assert_cmd::Command;
use common::explorer::Explorer;
use ratatui::crossterm::event::{KeyCode, KeyEvent, KeyModifiers};
use serde_json::Value;
use smtpscope::lab::policy::USERS;
use smtpscope::lab::{Lab, LabConfig, Policy};
use smtpscope::tui::message::Message;
use smtpscope::tui::state::Focus;
use smtpscope::tui::update::update;

async fn lab(policy: Policy) -> Lab {
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
    .expect("lab")
}

/// Splits a command line as a POSIX shell would for the words `copy::shell_word` writes:
/// bare words and single-quoted ones.
fn shell_split(line: &str) -> Vec<String> {
    let mut words = Vec::new();
    let mut word = String::new();
    let mut quoted = false;
    let mut in_word = false;
    for c in line.chars() {
        match c {
            '\'' => {
                quoted = !quoted;
                in_word = true;
            }
            ' ' if !quoted => {
                if in_word {
                    words.push(std::mem::take(&mut word));
                }
                in_word = false;
            }
            c => {
                word.push(c);
                in_word = true;
            }
        }
    }
    if in_word {
        words.push(word);
    }
    words
}

/// What `C` copies with scenario `index` selected in the picker.
fn copied_command(app: &mut Explorer, index: usize) -> String {
    app.state.selected = index;
    app.state.focus = Focus::Picker;
    let _ = update(
        &mut app.state,
        Message::Key(KeyEvent::new(KeyCode::Char('C'), KeyModifiers::SHIFT)),
    );
    app.state.clipboard.take().expect("C copies something")
}

fn run_copied(command: &str, password: &str) -> Value {
    let first = command.lines().next().unwrap();
    let words = shell_split(first);
    assert_eq!(words[..2], ["smtpscope", "check"], "{first}");
    let config = tempfile::tempdir().unwrap();
    let data = tempfile::tempdir().unwrap();
    let out = Command::cargo_bin("smtpscope")
        .unwrap()
        .env("SMTPSCOPE_CONFIG_DIR", config.path())
        .env("SMTPSCOPE_DATA_DIR", data.path())
        .env("SMTPSCOPE_PASSWORD", password)
        .args(&words[1..])
        .args(["--format", "json"])
        .timeout(Duration::from_secs(90))
        .output()
        .unwrap();
    let stdout = String::from_utf8_lossy(&out.stdout);
    serde_json::from_str(&stdout).unwrap_or_else(|e| {
        panic!(
            "{e}: {first}\n{stdout}\n{}",
            String::from_utf8_lossy(&out.stderr)
        )
    })
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_copied_check_command_reaches_the_explorers_verdicts_on_both_labs() {
    let bob = USERS.iter().find(|u| u.scope.is_some()).unwrap();
    for policy in [Policy::OpenRelay, Policy::Secure] {
        let lab = lab(policy).await;
        let mut app = Explorer::new(policy.name(), smtpscope::tui::lab_profile(&lab));
        for id in ["unauth-relay", "auth-relay-approved", "starttls"] {
            let index = app.scenario(id);
            app.run(index).await;
            let said = app.said.last().cloned().unwrap_or_default();
            let explorer = said.split(':').next().unwrap_or_default().to_string();
            let command = copied_command(&mut app, index);
            assert!(
                !command.contains(bob.password),
                "no password in a copied command: {command}"
            );
            let doc = run_copied(&command, bob.password);
            let check = doc["results"][0]["verdict"]
                .as_str()
                .unwrap_or_default()
                .to_ascii_uppercase();
            assert_eq!(
                check,
                explorer,
                "{} {id}: explorer said {said:?}; `{}` said {}",
                policy.name(),
                command.trim(),
                doc["results"][0]
            );
        }
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_copied_command_follows_the_toggles_and_offers_swaks_for_a() {
    let lab = lab(Policy::OpenRelay).await;
    let mut app = Explorer::new("lab-open", smtpscope::tui::lab_profile(&lab));
    let a = app.scenario("unauth-relay");
    let plain = copied_command(&mut app, a);
    assert!(plain.contains("--tls starttls"), "{plain}");
    assert!(!plain.contains("--send-data"), "{plain}");
    assert!(plain.contains("\n# swaks --server "), "{plain}");
    assert!(plain.contains("--quit-after RCPT"), "{plain}");
    // F2 (TLS mode) and F7 (send data) change what is copied.
    for key in [KeyCode::F(2), KeyCode::F(7)] {
        let _ = update(
            &mut app.state,
            Message::Key(KeyEvent::new(key, KeyModifiers::NONE)),
        );
    }
    let toggled = copied_command(&mut app, a);
    assert_ne!(plain, toggled);
    assert!(toggled.contains("--send-data"), "{toggled}");
}
