//! The explorer's exports are records: one file per session, a header saying profile, server,
//! time, TLS and version, JSON with exactly the schema of `session --format json`, written to
//! the chosen directory, and never a password, even after a real AUTH.

#![allow(clippy::expect_used, clippy::unwrap_used)] // test code: a failed setup should panic loudly

mod common;

use std::collections::BTreeSet;
use std::path::PathBuf;
use std::time::Duration;

use assert_cmd::Command;
use base64::Engine;
use common::explorer::Explorer;
use serde_json::Value;
use smtpscope::lab::{Lab, LabConfig, Policy};
use smtpscope::tui::lab_profile;
use smtpscope::tui::message::{Effect, NetEvent};
use smtpscope::tui::worker::ExportDirs;

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

/// Every key path in a JSON document (arrays contribute their elements' keys), so two
/// documents can be compared by shape.
fn shape(v: &Value, at: &str, out: &mut BTreeSet<String>) {
    match v {
        Value::Object(m) => {
            for (k, child) in m {
                let path = format!("{at}.{k}");
                out.insert(path.clone());
                shape(child, &path, out);
            }
        }
        Value::Array(items) => {
            for item in items {
                shape(item, &format!("{at}[]"), out);
            }
        }
        _ => {}
    }
}

fn keys(v: &Value) -> BTreeSet<String> {
    let mut out = BTreeSet::new();
    shape(v, "", &mut out);
    out
}

/// `session --format json` against the lab with bob's real password, as the reference shape.
fn session_json(lab: &Lab) -> Value {
    let out = Command::cargo_bin("smtpscope")
        .expect("binary")
        .timeout(Duration::from_secs(30))
        .env(
            "SMTPSCOPE_CONFIG_DIR",
            std::env::temp_dir().join("smtpscope-exports-tests-empty-config"),
        )
        .env("LAB_PW", "bob-lab-password")
        .args(["session", "--server", &lab.addr.to_string()])
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
        .args(["--quit-after", "auth", "--format", "json"])
        .output()
        .expect("run session");
    serde_json::from_slice(&out.stdout).unwrap_or_else(|e| {
        panic!(
            "{e}: {}{}",
            String::from_utf8_lossy(&out.stdout),
            String::from_utf8_lossy(&out.stderr)
        )
    })
}

/// What must never be in a record: bob's password, and the AUTH PLAIN blob that carries it.
fn secrets() -> Vec<String> {
    let plain = base64::engine::general_purpose::STANDARD.encode(b"\0bob\0bob-lab-password");
    vec!["bob-lab-password".into(), plain]
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn each_session_is_a_record_with_a_header_and_the_session_schema() {
    let lab = start_lab(Policy::Secure).await;
    let dir = tempfile::tempdir().unwrap();
    let mut app = Explorer::with_exports(
        "lab-secure",
        lab_profile(&lab),
        ExportDirs::from(dir.path().to_path_buf()),
    );
    // Nothing yet: said so, nothing written.
    assert!(app.export(false).await.is_empty());
    assert!(
        app.state
            .notice
            .as_ref()
            .is_some_and(|(_, n)| n.contains("nothing to export yet")),
        "{:?}",
        app.state.notice
    );

    // B logs in with bob's real password over TLS, in one session.
    let b = app.scenario("auth-relay-approved");
    app.run(b).await;
    // And a session typed by hand, which is a second record.
    let target = smtpscope::tui::message::Target {
        profile_name: "lab-secure".into(),
        profile: lab_profile(&lab),
        toggles: smtpscope::tui::state::Toggles::from_profile(&lab_profile(&lab)),
        password: None,
    };
    app.effect_until(
        Effect::Manual {
            target: Box::new(target),
            bytes: b"NOOP\r\n".to_vec(),
        },
        |e| matches!(e, NetEvent::Idle),
    )
    .await;

    let texts = app.export(false).await;
    let jsons = app.export(true).await;
    assert_eq!(texts.len(), 2, "one file per session: {texts:?}");
    assert_eq!(jsons.len(), 2, "{jsons:?}");
    let notice = app.state.notice.clone().unwrap().1;
    assert!(
        notice.contains(&format!(
            "2 session records written to {}",
            dir.path().display()
        )),
        "the notice shows where: {notice}"
    );
    for p in texts.iter().chain(&jsons) {
        assert_eq!(p.parent(), Some(dir.path()), "{p:?}");
    }

    let reference = keys(&session_json(&lab));
    for path in &jsons {
        let text = std::fs::read_to_string(path).unwrap();
        for s in secrets() {
            assert!(!text.contains(&s), "{path:?} holds a secret");
        }
        let doc: Value = serde_json::from_str(&text).unwrap();
        let header = &doc["record"];
        assert_eq!(header["tool"], "smtpscope");
        assert_eq!(header["version"], env!("CARGO_PKG_VERSION"));
        assert_eq!(header["profile"], "lab-secure");
        assert_eq!(header["server"], lab.addr.to_string());
        assert!(
            header["started_at"]
                .as_str()
                .unwrap()
                .parse::<jiff::Timestamp>()
                .is_ok(),
            "{header}"
        );
        // No key `session --format json` lacks but `scenario` (the run the session belonged
        // to); a session that never reached TLS has `null` where the TLS details would be, as
        // `session` has then.
        let got = keys(&doc);
        let extra: Vec<_> = got
            .difference(&reference)
            .filter(|k| !k.starts_with(".scenario"))
            .collect();
        assert!(extra.is_empty(), "{path:?}: extra {extra:?}");
        if doc["authenticated"] == "bob" {
            // The same kind of session (TLS, AUTH): exactly the same keys.
            let missing: Vec<_> = reference.difference(&got).collect();
            assert!(missing.is_empty(), "{path:?}: missing {missing:?}");
        }
    }
    // The scenario's session went through TLS and AUTH, and the record says so.
    let scenario_json: Vec<Value> = jsons
        .iter()
        .map(|p| serde_json::from_str(&std::fs::read_to_string(p).unwrap()).unwrap())
        .collect();
    let authed = scenario_json
        .iter()
        .find(|d| d["authenticated"] == "bob")
        .expect("the B session, authenticated as bob");
    assert!(
        authed["record"]["tls"]
            .as_str()
            .unwrap()
            .starts_with("starttls: TLSv1."),
        "{authed:#}"
    );
    let entries = authed["transcript"]["entries"].as_array().unwrap();
    assert!(
        entries
            .iter()
            .any(|e| e["text"].as_str() == Some("AUTH PLAIN <redacted>")),
        "{authed:#}"
    );
    for path in &texts {
        let text = std::fs::read_to_string(path).unwrap();
        assert!(text.starts_with("# smtpscope "), "{text}");
        assert!(text.contains("# profile: lab-secure\n"), "{text}");
        assert!(
            text.contains(&format!("# server: {}\n", lab.addr)),
            "{text}"
        );
        assert!(text.contains("# started: "), "{text}");
        assert!(text.contains("# TLS: "), "{text}");
        for s in secrets() {
            assert!(!text.contains(&s), "{path:?} holds a secret");
        }
    }
    // Exporting again writes the same files, not new ones.
    let again = app.export(false).await;
    let names = |v: &[PathBuf]| v.iter().cloned().collect::<BTreeSet<_>>();
    assert_eq!(names(&again), names(&texts));
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_profiles_export_dir_is_used_unless_the_flag_says_otherwise() {
    let lab = start_lab(Policy::OpenRelay).await;
    let root = tempfile::tempdir().unwrap();
    let default = root.path().join("data/exports");
    let own = root.path().join("own");
    let forced = root.path().join("forced");
    let mut profile = lab_profile(&lab);
    profile.export_dir = Some(own.clone());

    let mut app = Explorer::with_exports(
        "mine",
        profile.clone(),
        ExportDirs {
            forced: None,
            default: default.clone(),
        },
    );
    app.run(0).await;
    let written = app.export(false).await;
    assert!(!written.is_empty());
    assert!(
        written.iter().all(|p| p.parent() == Some(own.as_path())),
        "{written:?}"
    );
    assert!(!default.exists(), "nothing in the default directory");

    let mut app = Explorer::with_exports(
        "mine",
        profile,
        ExportDirs {
            forced: Some(forced.clone()),
            default,
        },
    );
    app.run(0).await;
    let written = app.export(true).await;
    assert!(
        written.iter().all(|p| p.parent() == Some(forced.as_path())),
        "{written:?}"
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn an_unwritable_directory_is_an_error_naming_it() {
    let lab = start_lab(Policy::OpenRelay).await;
    let root = tempfile::tempdir().unwrap();
    let blocked = root.path().join("a-file");
    std::fs::write(&blocked, "not a directory").unwrap();
    let mut app = Explorer::with_exports(
        "lab",
        lab_profile(&lab),
        ExportDirs::from(blocked.join("exports")),
    );
    app.run(0).await;
    let ev = app
        .effect_until(Effect::Export { json: false }, |e| {
            matches!(e, NetEvent::Exported(_) | NetEvent::Error(_))
        })
        .await;
    let NetEvent::Error(e) = ev else {
        panic!("expected an error, got {ev:?}");
    };
    assert!(
        e.to_string().contains(&blocked.display().to_string()),
        "{e}"
    );
}

/// The real binary in a pty: F8 writes to `exports/` in the data directory (not the working
/// directory) and the notice says where.
#[test]
fn f8_writes_to_the_data_directory_and_says_where() {
    use common::pty::Tui;
    let cfg = tempfile::tempdir().unwrap();
    let mut tui = Tui::spawn(cfg.path(), &["tui", "--scenario", "A", "--run"]);
    tui.wait_for("FAIL");
    tui.press("\x1b[19~"); // F8
    let exports = tui.data_dir().join("exports");
    tui.wait_for(&format!("written to {}", exports.display()));
    let files: Vec<_> = std::fs::read_dir(&exports)
        .unwrap()
        .map(|e| e.unwrap().file_name().to_string_lossy().into_owned())
        .collect();
    assert!(
        !files.is_empty() && files.iter().all(|f| f.ends_with("-lab-open.txt")),
        "{files:?}"
    );
    assert_eq!(
        std::fs::read_dir(tui.cwd()).unwrap().count(),
        0,
        "nothing in the working directory"
    );
}

/// An export after a scenario run carries the run's id, verdict, reason and steps (the JSON's
/// `scenario` key, the text record's header); the local-delivery control that qualifies A's
/// verdict is shown in the transcript with its own session mark and exported like the run's
/// sessions; a hand-typed session's record has no scenario at all (issue 27).
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn exports_carry_the_scenario_and_the_control_session() {
    let lab = start_lab(Policy::Secure).await;
    let dir = tempfile::tempdir().unwrap();
    let mut app = Explorer::with_exports(
        "lab-secure",
        lab_profile(&lab),
        ExportDirs::from(dir.path().to_path_buf()),
    );
    let a = app.scenario("unauth-relay");
    app.run(a).await;
    assert!(
        app.said.iter().any(|s| s.starts_with("PASS")),
        "A passes on the secure lab, the control with it: {:?}",
        app.said
    );
    // The status bar followed the control's connection, and says it is closed now.
    assert_eq!(
        app.state.conn.phase.to_string(),
        "closed (session complete)",
        "{}",
        app.screen()
    );
    // The control's session is in the transcript, marked as the control's.
    let lines = &app.state.transcript.lines;
    let marks: Vec<String> = (0..lines.len())
        .map(|i| lines.text(i).to_string())
        .filter(|t| t.starts_with("── session:"))
        .collect();
    assert!(
        marks
            .iter()
            .any(|m| m.ends_with("· the local-delivery control for scenario A unauth-relay")),
        "{marks:#?}"
    );
    assert!(
        marks
            .iter()
            .any(|m| m.ends_with("· scenario A unauth-relay")),
        "{marks:#?}"
    );
    // And a session typed by hand.
    let target = smtpscope::tui::message::Target {
        profile_name: "lab-secure".into(),
        profile: lab_profile(&lab),
        toggles: smtpscope::tui::state::Toggles::from_profile(&lab_profile(&lab)),
        password: None,
    };
    app.effect_until(
        Effect::Manual {
            target: Box::new(target),
            bytes: b"NOOP\r\n".to_vec(),
        },
        |e| matches!(e, NetEvent::Idle),
    )
    .await;

    let jsons = app.export(true).await;
    let docs: Vec<Value> = jsons
        .iter()
        .map(|p| serde_json::from_str(&std::fs::read_to_string(p).unwrap()).unwrap())
        .collect();
    let of =
        |id: &str| -> Vec<&Value> { docs.iter().filter(|d| d["scenario"]["id"] == id).collect() };
    let runs = of("unauth-relay");
    assert!(!runs.is_empty(), "{docs:#?}");
    for d in &runs {
        let s = &d["scenario"];
        assert_eq!(s["verdict"], "pass", "{s:#}");
        assert!(s["reason"].as_str().is_some_and(|r| !r.is_empty()), "{s:#}");
        let steps = s["steps"].as_array().unwrap();
        assert!(!steps.is_empty(), "{s:#}");
        assert!(
            steps
                .iter()
                .all(|st| st["verdict"].is_string() && st["command"].is_string()),
            "{s:#}"
        );
        assert!(s.get("control_for").is_none(), "{s:#}");
    }
    let controls = of("local-delivery");
    assert!(
        !controls.is_empty(),
        "the control's session is exported: {docs:#?}"
    );
    for d in &controls {
        assert_eq!(d["scenario"]["control_for"], "unauth-relay", "{d:#}");
        assert_eq!(d["scenario"]["verdict"], "pass", "{d:#}");
        assert!(
            d["transcript"]["entries"]
                .as_array()
                .unwrap()
                .iter()
                .any(|e| e["text"]
                    .as_str()
                    .is_some_and(|t| t.starts_with("RCPT TO:"))),
            "{d:#}"
        );
    }
    let by_hand: Vec<&Value> = docs
        .iter()
        .filter(|d| {
            d["transcript"]["entries"]
                .as_array()
                .unwrap()
                .iter()
                .any(|e| e["text"] == "NOOP")
        })
        .collect();
    assert_eq!(by_hand.len(), 1, "{docs:#?}");
    assert!(by_hand[0].get("scenario").is_none(), "{:#}", by_hand[0]);

    let texts = app.export(false).await;
    let texts: Vec<String> = texts
        .iter()
        .map(|p| std::fs::read_to_string(p).unwrap())
        .collect();
    let head = |t: &str| -> String {
        t.lines()
            .take_while(|l| l.starts_with('#'))
            .collect::<Vec<_>>()
            .join("\n")
    };
    assert!(
        texts.iter().any(|t| {
            let h = head(t);
            h.contains("# scenario: unauth-relay · PASS") && h.contains("# step 1: ")
        }),
        "{texts:#?}"
    );
    assert!(
        texts.iter().any(|t| head(t).contains(
            "# scenario: local-delivery · PASS (the local-delivery control for unauth-relay)"
        )),
        "{texts:#?}"
    );
    let hand = texts.iter().find(|t| t.contains("NOOP")).unwrap();
    assert!(!head(hand).contains("# scenario"), "{hand}");
}

/// README: "The explorer keeps the last 100 sessions of its run for export (the oldest go
/// first)." 105 sessions typed by hand, each `NOOP i` then Esc (which closes it and keeps its
/// record): the export holds 100 records, those of sessions 5 to 104.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_last_100_sessions_are_kept_for_export() {
    let lab = start_lab(Policy::OpenRelay).await;
    let dir = tempfile::tempdir().unwrap();
    let mut app = Explorer::with_exports(
        "lab-open",
        lab_profile(&lab),
        ExportDirs::from(dir.path().to_path_buf()),
    );
    let target = || smtpscope::tui::message::Target {
        profile_name: "lab-open".into(),
        profile: lab_profile(&lab),
        toggles: smtpscope::tui::state::Toggles::from_profile(&lab_profile(&lab)),
        password: None,
    };
    for i in 0..105 {
        app.effect_until(
            Effect::Manual {
                target: Box::new(target()),
                bytes: format!("NOOP {i}\r\n").into_bytes(),
            },
            |e| matches!(e, NetEvent::Idle),
        )
        .await;
        app.effect_until(Effect::Abort, |e| matches!(e, NetEvent::Idle))
            .await;
    }
    let jsons = app.export(true).await;
    assert_eq!(
        jsons.len(),
        100,
        "the last 100 sessions: {} files",
        jsons.len()
    );
    let mut kept: Vec<usize> = jsons
        .iter()
        .map(|p| {
            let text = std::fs::read_to_string(p).unwrap();
            let doc: Value = serde_json::from_str(&text).unwrap();
            let entries = doc["transcript"]["entries"].as_array().unwrap();
            entries
                .iter()
                .find_map(|e| {
                    e["text"]
                        .as_str()
                        .and_then(|t| t.strip_prefix("NOOP "))
                        .and_then(|n| n.trim().parse().ok())
                })
                .unwrap_or_else(|| panic!("{p:?}: no NOOP in {doc:#}"))
        })
        .collect();
    kept.sort_unstable();
    assert_eq!(kept, (5..105).collect::<Vec<_>>(), "the oldest went first");
}
