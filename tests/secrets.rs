//! A real AUTH with PLAIN, LOGIN, CRAM-MD5 and XOAUTH2 against the practice lab, through
//! `session` (text, JSON), `check` (human, JSON, JUnit, with transcripts), the TUI's exports
//! and its log file: neither the password nor any base64 form containing it appears anywhere.

#![allow(clippy::expect_used, clippy::unwrap_used)] // test code: a failed setup should panic loudly

mod common;

use std::time::Duration;

use assert_cmd::Command;
use base64::Engine;
use base64::engine::general_purpose::STANDARD as B64;
use common::pty::{ENTER, Tui};
use smtpscope::lab::{Lab, LabConfig, Policy};
use smtpscope::smtp::auth::{Credentials, Mechanism, secret_needles};

/// A test on the status bar's text.
type StatusCheck = fn(&str) -> bool;

const MECHS: [&str; 4] = ["plain", "login", "cram-md5", "xoauth2"];

fn needles(user: &str, password: &str) -> Vec<String> {
    let mut out = vec![password.to_string(), B64.encode(password)];
    // The password's base64 inside any longer encoding, at each of the three alignments.
    for pad in 0..3 {
        let enc = B64.encode(format!("{}{password}", "x".repeat(pad)));
        out.push(enc[4..enc.len() - 4].to_string());
    }
    for mech in Mechanism::ALL {
        let creds = Credentials {
            username: user.into(),
            secret: password.to_string().into(),
            authzid: None,
        };
        out.extend(secret_needles(mech, &creds));
    }
    out
}

fn assert_clean(what: &str, text: &str, needles: &[String]) {
    for n in needles {
        assert!(!text.contains(n.as_str()), "{what} leaked {n:?}:\n{text}");
    }
}

/// The transcript's AUTH exchange, redacted: `AUTH <MECH>` was sent and its secret part shows
/// as `<redacted>` (PLAIN and XOAUTH2 on the AUTH line itself).
fn assert_has_auth_transcript(what: &str, text: &str, mech: &str) {
    let verb = format!("AUTH {}", mech.to_ascii_uppercase());
    let want = match mech {
        "plain" | "xoauth2" => format!("C: {verb} <redacted>"),
        _ => format!("C: {verb}"),
    };
    assert!(text.contains(&want), "{what}: no {want:?} in:\n{text}");
    assert!(
        text.contains("C: <redacted>") || text.contains(&format!("{verb} <redacted>")),
        "{what}: no redacted secret line in:\n{text}"
    );
}

/// The `<system-out>` texts of a JUnit report (XML entities decoded), where `--transcripts`
/// puts the sessions.
fn junit_system_out(xml: &str) -> String {
    let start = xml.find("<?xml").unwrap_or(0);
    let doc = roxmltree::Document::parse(&xml[start..]).expect("valid JUnit XML");
    doc.descendants()
        .filter(|n| n.has_tag_name("system-out"))
        .filter_map(|n| n.text())
        .collect::<Vec<_>>()
        .join("\n")
}

fn lab(rt: &tokio::runtime::Runtime) -> Lab {
    rt.block_on(Lab::start(
        LabConfig {
            listen: "127.0.0.1:0".parse().unwrap(),
            policy: Policy::Secure,
            misbehave: vec![],
            store_dir: None,
        },
        None,
    ))
    .expect("lab")
}

fn run(args: &[&str], pw: &str) -> (i32, String) {
    let mut cmd = Command::cargo_bin("smtpscope").expect("binary");
    cmd.timeout(Duration::from_secs(60));
    cmd.env(
        "SMTPSCOPE_CONFIG_DIR",
        std::env::temp_dir().join("smtpscope-secrets-empty"),
    );
    cmd.env("PW", pw);
    let out = cmd.args(args).output().expect("run");
    let text = format!(
        "{}{}",
        String::from_utf8_lossy(&out.stdout),
        String::from_utf8_lossy(&out.stderr)
    );
    (out.status.code().unwrap_or(-1), text)
}

#[test]
fn session_and_check_outputs_never_contain_the_password() {
    let rt = tokio::runtime::Builder::new_multi_thread()
        .worker_threads(2)
        .enable_all()
        .build()
        .unwrap();
    let lab = lab(&rt);
    let server = lab.addr.to_string();
    let ca = lab.ca_path.display().to_string();
    let alice = needles("alice", "alice-lab-password");
    let bob = needles("bob", "bob-lab-password");
    for mech in MECHS {
        for format in ["text", "json"] {
            let (code, out) = run(
                &[
                    "session",
                    "--server",
                    &server,
                    "--ca-file",
                    &ca,
                    "--tls-name",
                    "localhost",
                    "--auth",
                    mech,
                    "--user",
                    "alice",
                    "--password-env",
                    "PW",
                    "--quit-after",
                    "auth",
                    "--format",
                    format,
                ],
                "alice-lab-password",
            );
            assert_eq!(code, 0, "{mech}/{format}: {out}");
            assert_clean(&format!("session {mech} {format}"), &out, &alice);
            assert!(out.contains("<redacted>"), "{mech}/{format}: {out}");
        }
        for format in ["human", "json", "junit"] {
            let (code, out) = run(
                &[
                    "check",
                    "--server",
                    &server,
                    "--ca-file",
                    &ca,
                    "--tls-name",
                    "localhost",
                    "--auth",
                    mech,
                    "--user",
                    "bob",
                    "--password-env",
                    "PW",
                    "--auth-sender",
                    "bob@lab.example",
                    "--approved-recipient",
                    "someone@partner.example",
                    "--scenario",
                    "B",
                    "--transcripts",
                    "--verbose",
                    "--format",
                    format,
                ],
                "bob-lab-password",
            );
            assert_eq!(code, 0, "{mech}/{format}: {out}");
            assert_clean(&format!("check {mech} {format}"), &out, &bob);
            // A clean report proves nothing unless the transcript, AUTH included, is in it.
            let shown = if format == "junit" {
                junit_system_out(&out)
            } else {
                out.clone()
            };
            assert_has_auth_transcript(&format!("check {mech} {format}"), &shown, mech);
        }
    }
    // A wrong XOAUTH2 token gets the error challenge, an empty answer, then 535.
    let (code, out) = run(
        &[
            "session",
            "--server",
            &server,
            "--ca-file",
            &ca,
            "--tls-name",
            "localhost",
            "--auth",
            "xoauth2",
            "--user",
            "alice",
            "--password-env",
            "PW",
            "--quit-after",
            "auth",
        ],
        "not-the-token",
    );
    assert_eq!(code, 5, "{out}");
    assert!(out.contains("535 5.7.8"), "{out}");
    assert_clean("xoauth2 failure", &out, &needles("alice", "not-the-token"));
}

/// The TUI on the practice lab (its in-memory lab-open profile holds bob's password): AUTH by
/// hand with each mechanism, then both exports; the exports and the log stay clean.
#[test]
fn tui_exports_and_log_never_contain_the_password() {
    let cfg = tempfile::tempdir().expect("config dir");
    let mut tui = Tui::spawn(cfg.path(), &["tui"]);
    tui.wait_for("lab-open");
    tui.press("\t\t");
    for (i, mech) in ["PLAIN", "LOGIN", "CRAM-MD5", "XOAUTH2"].iter().enumerate() {
        if i > 0 {
            tui.press("\x0c"); // Ctrl-L: a fresh connection
            tui.wait_until("the new connection's banner", |t| {
                t.rows()[0].contains("│ greeted │") && t.rows()[0].contains("no TLS")
            });
        }
        let steps: [(&str, StatusCheck); 3] = [
            ("EHLO probe.test", |bar| {
                bar.contains("│ ready │") && bar.contains("no TLS")
            }),
            ("STARTTLS", |bar| {
                bar.contains("│ greeted │") && bar.contains("✓cert")
            }),
            ("EHLO probe.test", |bar| {
                bar.contains("│ ready │") && bar.contains("✓cert")
            }),
        ];
        for (line, done) in steps {
            tui.press(line);
            tui.press(ENTER);
            tui.wait_until(&format!("{line} answered"), |t| done(&t.rows()[0]));
        }
        tui.wait_until("a fresh, unauthenticated session", |t| {
            t.rows()[0].contains("not authenticated") && t.rows()[0].contains("✓cert")
        });
        tui.press(&format!("AUTH {mech}"));
        tui.press(ENTER);
        tui.wait_until(&format!("AUTH {mech} accepted"), |t| {
            t.rows()[0].contains("AUTH bob")
        });
    }
    tui.press("\x1b[19~"); // F8: text export
    tui.wait_for("session records written to");
    tui.press("\x1b[20~"); // F9: JSON export
    let dir = tui.data_dir().join("exports");
    // One record per session (one per mechanism, Ctrl-L between them), text and JSON.
    tui.wait_until("eight records", |_| {
        std::fs::read_dir(&dir).map_or(0, |d| d.count()) >= 8
    });
    let bob = needles("bob", "bob-lab-password");
    let mut exports = 0;
    for e in std::fs::read_dir(&dir).expect("exports").flatten() {
        let text = std::fs::read_to_string(e.path()).expect("export");
        assert!(text.contains("AUTH"), "{text}");
        assert_clean(&e.path().display().to_string(), &text, &bob);
        exports += 1;
    }
    assert_eq!(exports, 8);
    assert_clean("the screen", &tui.output(), &bob);
    tui.press("\x03");
    tui.wait_exit();
    let log = std::fs::read_to_string(tui.data_dir().join("smtpscope.log")).expect("log file");
    assert!(log.contains("smtpscope tui"), "{log}");
    assert_clean("the log", &log, &bob);
}

/// AUTH hidden behind another command in one raw line (`RSET\r\nAUTH PLAIN …`), and a LOGIN
/// whose password is typed at the 334 prompt: what is sent decides the redaction, not the
/// first verb of the line, in the screen and in every export.
#[test]
fn tui_raw_lines_with_auth_inside_are_redacted() {
    let cfg = tempfile::tempdir().expect("config dir");
    let mut tui = Tui::spawn(cfg.path(), &["tui"]);
    tui.wait_for("lab-open");
    tui.press("\t\t");
    let steps: [(&str, StatusCheck); 3] = [
        ("EHLO probe.test", |bar| {
            bar.contains("│ ready │") && bar.contains("no TLS")
        }),
        ("STARTTLS", |bar| {
            bar.contains("│ greeted │") && bar.contains("✓cert")
        }),
        ("EHLO probe.test", |bar| {
            bar.contains("│ ready │") && bar.contains("✓cert")
        }),
    ];
    for (i, (line, done)) in steps.into_iter().enumerate() {
        // After STARTTLS the explorer offers the EHLO RFC 3207 requires: Enter sends it.
        if i < 2 {
            tui.press(line);
        } else {
            tui.wait_for_editor(line);
        }
        tui.press(ENTER);
        tui.wait_until(&format!("{line} answered"), |t| done(&t.rows()[0]));
    }
    let plain = B64.encode("\0bob\0bob-lab-password");
    tui.press(&format!("RSET\\r\\nAUTH PLAIN {plain}\\r\\n"));
    tui.press(ENTER);
    tui.wait_for("235");
    tui.press("\x0c"); // Ctrl-L: a fresh connection for LOGIN
    tui.wait_until("the new connection's banner", |t| {
        t.rows()[0].contains("│ greeted │") && t.rows()[0].contains("no TLS")
    });
    for (i, (line, done)) in steps.into_iter().enumerate() {
        // After STARTTLS the explorer offers the EHLO RFC 3207 requires: Enter sends it.
        if i < 2 {
            tui.press(line);
        } else {
            tui.wait_for_editor(line);
        }
        tui.press(ENTER);
        tui.wait_until(&format!("{line} answered"), |t| done(&t.rows()[0]));
    }
    tui.press(&format!("RSET\\r\\nAUTH LOGIN {}\\r\\n", B64.encode("bob")));
    tui.press(ENTER);
    tui.wait_for("334 UGFzc3dvcmQ6");
    tui.press(&B64.encode("bob-lab-password"));
    tui.press(ENTER);
    tui.wait_until("the second 235", |t| t.screen().matches("235").count() >= 1);
    tui.press("\x1b[19~"); // F8: text export
    tui.wait_for("session records written to");
    tui.press("\x1b[20~"); // F9: JSON export
    let dir = tui.data_dir().join("exports");
    tui.wait_until("four records", |_| {
        std::fs::read_dir(&dir).map_or(0, |d| d.count()) >= 4
    });
    let mut bob = needles("bob", "bob-lab-password");
    bob.push(plain);
    for e in std::fs::read_dir(&dir).expect("exports").flatten() {
        let text = std::fs::read_to_string(e.path()).expect("export");
        assert!(text.contains("AUTH"), "{text}");
        assert_clean(&e.path().display().to_string(), &text, &bob);
    }
    assert_clean("the screen", &tui.output(), &bob);
    tui.press("\x03");
    tui.wait_exit();
}
