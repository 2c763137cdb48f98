//! Runs compared: `check --baseline previous.json` prints what changed and exits 5 when a
//! verdict got worse (0 when nothing did), a bad baseline is a usage error naming the file,
//! `check --history` keeps the run in the profile's history, and the explorer keeps every
//! finished run and says what changed since the last one. Against the practice lab; the same
//! against a real Postfix is in postfix_check.rs.

#![allow(clippy::expect_used, clippy::unwrap_used)] // test code: a failed setup should panic loudly

mod common;

use std::path::Path;
use std::time::Duration;

use assert_cmd::Command;
use common::explorer::Explorer;
use serde_json::Value;
use smtpscope::lab::{Lab, LabConfig, Policy};
use smtpscope::tui::lab_profile;
use smtpscope::tui::message::NetEvent;
use smtpscope::tui::worker::ExportDirs;

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

struct Out {
    code: i32,
    stdout: String,
    stderr: String,
}

/// `check` on `lab` with bob's account and every relay address, plus `extra`.
fn check(lab: &Lab, data: &Path, extra: &[&str]) -> Out {
    let out = Command::cargo_bin("smtpscope")
        .expect("binary")
        .timeout(Duration::from_secs(60))
        .env(
            "SMTPSCOPE_CONFIG_DIR",
            std::env::temp_dir().join("smtpscope-history-tests-empty-config"),
        )
        .env("SMTPSCOPE_DATA_DIR", data)
        .env("LAB_PW", "bob-lab-password")
        .args(["check", "--server", &lab.addr.to_string()])
        .args(["--ca-file", &lab.ca_path.display().to_string()])
        .args(["--tls-name", "localhost", "--helo", "probe.test"])
        .args([
            "--auth",
            "plain",
            "--user",
            "bob",
            "--password-env",
            "LAB_PW",
        ])
        .args(["--auth-sender", "bob@lab.example"])
        .args(["--local-recipient", "postmaster@lab.example"])
        .args(["--approved-recipient", "someone@partner.example"])
        .args(["--disallowed-recipient", "someone@elsewhere.example.org"])
        .args(["--other-local-sender", "alice@lab.example"])
        .args(extra)
        .output()
        .expect("run check");
    let out = Out {
        code: out.status.code().unwrap_or(-1),
        stdout: String::from_utf8_lossy(&out.stdout).into_owned(),
        stderr: String::from_utf8_lossy(&out.stderr).into_owned(),
    };
    assert!(!out.stderr.contains("panicked"), "{}", out.stderr);
    out
}

#[test]
fn a_regression_exits_5_naming_it_and_an_improvement_exits_0() {
    let rt = runtime();
    let secure = rt.block_on(start_lab(Policy::Secure));
    let open = rt.block_on(start_lab(Policy::OpenRelay));
    let data = tempfile::tempdir().unwrap();
    let dir = tempfile::tempdir().unwrap();

    // "Before": the secure server, saved as a JSON report.
    let before = dir.path().join("secure.json");
    let first = check(&secure, data.path(), &["--format", "json"]);
    assert_eq!(first.code, 0, "{}{}", first.stdout, first.stderr);
    std::fs::write(&before, &first.stdout).unwrap();
    let doc: Value = serde_json::from_str(&first.stdout).unwrap();
    assert_eq!(doc["record"]["tool"], "smtpscope");
    assert!(doc["record"]["started_at"].as_str().is_some(), "{doc:#}");

    // The same server again: no change, exit 0.
    let same = check(
        &secure,
        data.path(),
        &["--baseline", before.to_str().unwrap()],
    );
    assert_eq!(same.code, 0, "{}{}", same.stdout, same.stderr);
    assert!(
        same.stdout
            .contains("no change: 9 scenarios with the same verdicts and replies"),
        "{}",
        same.stdout
    );

    // "After" the config change: the open relay. Exit 5, naming what got worse and the reply.
    let worse = check(
        &open,
        data.path(),
        &["--baseline", before.to_str().unwrap()],
    );
    assert_eq!(worse.code, 5, "{}{}", worse.stdout, worse.stderr);
    for regressed in [
        "worse   A unauth-relay: PASS → FAIL",
        "worse   C auth-relay-disallowed: PASS → FAIL",
        "worse   relay-tricks: PASS → FAIL",
        "worse   sender-spoofing: PASS → FAIL",
    ] {
        assert!(
            worse.stdout.contains(regressed),
            "{regressed}: {}",
            worse.stdout
        );
    }
    assert!(
        worse.stdout.contains("554 5.7.1") && worse.stdout.contains("→ FAIL 250 2.1.5 Ok"),
        "the reply that changed: {}",
        worse.stdout
    );
    assert!(
        worse
            .stdout
            .contains(&format!("compared with the baseline {}", before.display())),
        "{}",
        worse.stdout
    );
    assert!(
        worse.stdout.contains("4 worse, 0 better"),
        "{}",
        worse.stdout
    );

    // JSON on standard output stays one document; the comparison goes to standard error.
    let open_json = dir.path().join("open.json");
    let as_json = check(
        &open,
        data.path(),
        &["--format", "json", "--baseline", before.to_str().unwrap()],
    );
    assert_eq!(as_json.code, 5);
    std::fs::write(&open_json, &as_json.stdout).unwrap();
    serde_json::from_str::<Value>(&as_json.stdout).expect("stdout is only the report");
    assert!(
        as_json.stderr.contains("worse   A unauth-relay"),
        "{}",
        as_json.stderr
    );

    // The other way round: every change is better, and the run is clean, so exit 0.
    let better = check(
        &secure,
        data.path(),
        &["--baseline", open_json.to_str().unwrap()],
    );
    assert_eq!(better.code, 0, "{}{}", better.stdout, better.stderr);
    assert!(
        better
            .stdout
            .contains("better  A unauth-relay: FAIL → PASS"),
        "{}",
        better.stdout
    );
    assert!(
        better.stdout.contains("0 worse, 4 better"),
        "{}",
        better.stdout
    );
}

/// README: "The comparison is printed after a human report, or on standard error with
/// `--format json|junit` or `--output`, so standard output stays one document." JSON is
/// above; here JUnit, and a human report written with `--output`.
#[test]
fn with_junit_or_output_the_comparison_goes_to_standard_error() {
    let rt = runtime();
    let secure = rt.block_on(start_lab(Policy::Secure));
    let open = rt.block_on(start_lab(Policy::OpenRelay));
    let data = tempfile::tempdir().unwrap();
    let dir = tempfile::tempdir().unwrap();
    let before = dir.path().join("secure.json");
    let first = check(&secure, data.path(), &["--format", "json"]);
    assert_eq!(first.code, 0, "{}{}", first.stdout, first.stderr);
    std::fs::write(&before, &first.stdout).unwrap();
    let baseline = before.to_str().unwrap();
    let compared = format!(
        "smtpscope check: compared with the baseline {}",
        before.display()
    );

    let junit = check(
        &open,
        data.path(),
        &["--format", "junit", "--baseline", baseline],
    );
    assert_eq!(junit.code, 5, "{}{}", junit.stdout, junit.stderr);
    let xml = junit.stdout.as_str();
    let parsed = roxmltree::Document::parse(xml)
        .unwrap_or_else(|e| panic!("standard output is one XML document, not {e}: {xml}"));
    assert_eq!(parsed.root_element().tag_name().name(), "testsuites");
    assert!(!xml.contains("compared with the baseline"), "{xml}");
    assert!(!xml.contains("worse   "), "{xml}");
    assert!(junit.stderr.contains(&compared), "{}", junit.stderr);
    assert!(
        junit.stderr.contains("worse   A unauth-relay: PASS → FAIL")
            && junit.stderr.contains("4 worse, 0 better"),
        "{}",
        junit.stderr
    );

    let report = dir.path().join("report.txt");
    let to_file = check(
        &open,
        data.path(),
        &["--output", report.to_str().unwrap(), "--baseline", baseline],
    );
    assert_eq!(to_file.code, 5, "{}{}", to_file.stdout, to_file.stderr);
    assert!(
        !to_file.stdout.contains("compared with the baseline") && !to_file.stdout.contains("worse"),
        "nothing of the comparison on standard output: {}",
        to_file.stdout
    );
    assert!(to_file.stderr.contains(&compared), "{}", to_file.stderr);
    assert!(
        to_file
            .stderr
            .contains("worse   A unauth-relay: PASS → FAIL"),
        "{}",
        to_file.stderr
    );
    let written = std::fs::read_to_string(&report).unwrap();
    assert!(
        written.contains("unauth-relay"),
        "the report itself: {written}"
    );
    assert!(
        !written.contains("compared with the baseline"),
        "the report file is the report alone: {written}"
    );
}

#[test]
fn a_bad_baseline_is_a_usage_error_naming_the_file() {
    let rt = runtime();
    let lab = rt.block_on(start_lab(Policy::Secure));
    let data = tempfile::tempdir().unwrap();
    let dir = tempfile::tempdir().unwrap();

    let missing = dir.path().join("no-such.json");
    let out = check(
        &lab,
        data.path(),
        &["--baseline", missing.to_str().unwrap()],
    );
    assert_eq!(out.code, 2, "{}", out.stderr);
    assert!(
        out.stderr
            .contains(&format!("--baseline cannot read {}", missing.display())),
        "{}",
        out.stderr
    );
    assert!(out.stdout.is_empty(), "nothing ran: {}", out.stdout);

    let junk = dir.path().join("junk.json");
    std::fs::write(&junk, "<testsuites/>").unwrap();
    let out = check(&lab, data.path(), &["--baseline", junk.to_str().unwrap()]);
    assert_eq!(out.code, 2);
    assert!(
        out.stderr.contains(&format!(
            "{}:1:1: not a `check --format json` report",
            junk.display()
        )),
        "{}",
        out.stderr
    );

    let wrong = dir.path().join("session.json");
    std::fs::write(&wrong, r#"{"target": "127.0.0.1:25", "transcript": {}}"#).unwrap();
    let out = check(&lab, data.path(), &["--baseline", wrong.to_str().unwrap()]);
    assert_eq!(out.code, 2);
    assert!(
        out.stderr.contains(&*wrong.display().to_string()),
        "{}",
        out.stderr
    );
}

#[test]
fn check_history_keeps_the_run_under_the_profile() {
    let rt = runtime();
    let lab = rt.block_on(start_lab(Policy::Secure));
    let data = tempfile::tempdir().unwrap();
    let cfg = tempfile::tempdir().unwrap();
    std::fs::create_dir_all(cfg.path().join("profiles")).unwrap();
    std::fs::write(
        cfg.path().join("profiles/lab.toml"),
        format!(
            "server = \"{}\"\nca_file = \"{}\"\ntls_name = \"localhost\"\nhelo = \"probe.test\"\n\n[relay]\nlocal_recipient = \"postmaster@lab.example\"\n",
            lab.addr,
            lab.ca_path.display()
        ),
    )
    .unwrap();
    let run = |extra: &[&str]| {
        Command::cargo_bin("smtpscope")
            .unwrap()
            .timeout(Duration::from_secs(60))
            .env("SMTPSCOPE_CONFIG_DIR", cfg.path())
            .env("SMTPSCOPE_DATA_DIR", data.path())
            .args(["check", "--profile", "lab", "--scenario", "A"])
            .args(extra)
            .output()
            .unwrap()
    };
    // Without --history nothing is written.
    let out = run(&[]);
    assert_eq!(
        out.status.code(),
        Some(0),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    assert!(!data.path().join("history").exists());
    let out = run(&["--history"]);
    assert_eq!(out.status.code(), Some(0));
    let kept: Vec<_> = std::fs::read_dir(data.path().join("history/lab"))
        .unwrap()
        .map(|e| e.unwrap().path())
        .collect();
    assert_eq!(kept.len(), 1, "{kept:?}");
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert!(stderr.contains("run kept in"), "{stderr}");
    // A history file is a report, so it serves as a baseline.
    let out = run(&["--baseline", kept[0].to_str().unwrap()]);
    assert_eq!(out.status.code(), Some(0));
    assert!(String::from_utf8_lossy(&out.stdout).contains("no change"));
    // --history needs a profile to file the run under.
    let out = Command::cargo_bin("smtpscope")
        .unwrap()
        .args(["check", "--server", "127.0.0.1:1", "--history"])
        .output()
        .unwrap();
    assert_eq!(out.status.code(), Some(2));
}

/// The explorer keeps each finished run, and after a "config change" (the profile now names
/// the open relay) says what changed since the last run of that scenario.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_explorer_keeps_runs_and_says_what_changed_since_the_last() {
    let secure = start_lab(Policy::Secure).await;
    let open = start_lab(Policy::OpenRelay).await;
    let history = tempfile::tempdir().unwrap();
    let mut app = Explorer::full(
        "mx",
        lab_profile(&secure),
        ExportDirs::from(std::env::temp_dir().join("smtpscope-history-test-exports")),
        Some(history.path().to_path_buf()),
    );
    let a = app.scenario("unauth-relay");
    app.run(a).await;
    assert_eq!(
        std::fs::read_dir(history.path().join("mx"))
            .unwrap()
            .count(),
        1
    );
    app.state.profiles.entries[0].profile = lab_profile(&open);
    app.run(a).await;
    let ev = app
        .next_until(|e| matches!(e, NetEvent::Info(t) if t.starts_with("since the last run")))
        .await;
    let NetEvent::Info(said) = ev else {
        unreachable!()
    };
    assert!(
        said.contains("A unauth-relay: PASS → FAIL (worse), 1 reply changed"),
        "{said}"
    );
    let runs = std::fs::read_dir(history.path().join("mx"))
        .unwrap()
        .count();
    assert_eq!(runs, 2);
}
