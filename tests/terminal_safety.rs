//! A hostile server cannot write to the operator's terminal: escape sequences (a title, a
//! clear screen, an OSC 52 clipboard write), BEL, bidi overrides and zero-width characters in
//! its banner, EHLO, replies and certificate names reach `session`, `check` (human,
//! `--verbose`, JSON, a `--baseline` diff) and the explorer only as visible escapes.

#![allow(clippy::expect_used, clippy::unwrap_used)] // test code: a failed setup should panic loudly

mod common;
#[allow(dead_code)]
#[path = "common/hostile_server.rs"]
mod hostile_server;

use std::sync::Arc;
use std::time::Duration;

use assert_cmd::Command;
use hostile_server::{Flow, HostileServer, Stage, Tls};
use rcgen::{CertificateParams, DnType, KeyPair};
use rustls::pki_types::{CertificateDer, PrivateKeyDer, PrivatePkcs8KeyDer};
use serde_json::Value;

/// What no output may carry raw: ESC, BEL, C1 CSI, bidi overrides and isolates, zero-width.
const FORBIDDEN: [char; 7] = [
    '\x1b', '\x07', '\u{9b}', '\u{202e}', '\u{2066}', '\u{200b}', '\u{feff}',
];

const TITLE: &str = "\x1b]0;owned-title\x07";
const CLIPBOARD: &str = "\x1b]52;c;b3duZWQ=\x07";

/// A certificate whose names carry the same payloads.
fn hostile_cert() -> Arc<rustls::ServerConfig> {
    let mut params =
        CertificateParams::new(vec![format!("evil{TITLE}.localhost")]).expect("params");
    params
        .distinguished_name
        .push(DnType::CommonName, format!("cn{TITLE}\u{2066}x"));
    params
        .distinguished_name
        .push(DnType::OrganizationName, format!("org{CLIPBOARD}"));
    let key = KeyPair::generate().expect("key");
    let cert = params.self_signed(&key).expect("cert");
    let der: CertificateDer<'static> = cert.der().clone();
    let key = PrivateKeyDer::Pkcs8(PrivatePkcs8KeyDer::from(key.serialize_der()));
    Arc::new(
        rustls::ServerConfig::builder_with_provider(Arc::new(
            rustls::crypto::ring::default_provider(),
        ))
        .with_safe_default_protocol_versions()
        .expect("versions")
        .with_no_client_auth()
        .with_single_cert(vec![der], key)
        .expect("config"),
    )
}

fn hostile_server() -> HostileServer {
    HostileServer::start(
        Tls::Starttls(hostile_cert()),
        Arc::new(
            |peer: &mut hostile_server::Peer, stage, _: &[u8]| match stage {
                Stage::Banner => {
                    peer.reply_line(220, false, &format!("hostile{TITLE} \u{202e}ESMTP\u{200b}"));
                    Flow::Handled
                }
                Stage::Rcpt => {
                    peer.reply_line(
                        554,
                        false,
                        &format!("5.7.1 {CLIPBOARD} relay \x1b[2J denied \u{2066}\u{feff}"),
                    );
                    Flow::Handled
                }
                Stage::Ehlo if !peer.tls_active() => {
                    peer.reply_line(250, true, &format!("hostile{TITLE}"));
                    peer.reply_line(250, true, "X-\x1b[2JCLEAR");
                    peer.reply_line(250, false, "STARTTLS");
                    Flow::Handled
                }
                _ => Flow::Normal,
            },
        ),
    )
}

fn run(args: &[&str]) -> (Option<i32>, String, String) {
    let config = tempfile::tempdir().unwrap();
    let out = Command::cargo_bin("smtpscope")
        .unwrap()
        .env("SMTPSCOPE_CONFIG_DIR", config.path())
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

fn assert_clean(what: &str, text: &str) {
    for bad in FORBIDDEN {
        assert!(
            !text.contains(bad),
            "{what}: {bad:?} reached the terminal:\n{text}"
        );
    }
}

#[test]
fn session_prints_hostile_text_only_as_escapes() {
    let server = hostile_server();
    let addr = server.addr();
    // Verified (the default), so the handshake fails on the certificate and the error quotes
    // its names; then in cleartext with the TLS mode none, to reach RCPT.
    let (_, out, err) = run(&[
        "session",
        "--server",
        &addr,
        "--to",
        "someone@elsewhere.example.org",
        "--quit-after",
        "rcpt",
        "--show-certs",
    ]);
    assert_clean("session (TLS refused)", &format!("{out}{err}"));
    assert!(
        out.contains("\\x1b]0;owned-title\\x07") || err.contains("\\x1b]0;owned-title\\x07"),
        "shown as escapes, not dropped:\n{out}\n{err}"
    );
    let (_, out, err) = run(&[
        "session",
        "--server",
        &addr,
        "--tls",
        "none",
        "--to",
        "someone@elsewhere.example.org",
        "--quit-after",
        "rcpt",
    ]);
    assert_clean("session (plaintext)", &format!("{out}{err}"));
    assert!(
        format!("{out}{err}").contains("\\x1b]52;c;b3duZWQ=\\x07"),
        "{out}\n{err}"
    );
}

#[test]
fn check_prints_hostile_text_only_as_escapes_in_every_format() {
    let server = hostile_server();
    let addr = server.addr();
    for tls in ["starttls", "none"] {
        let (_, out, err) = run(&[
            "check",
            "--server",
            &addr,
            "--tls",
            tls,
            "--scenario",
            "A",
            "--scenario",
            "starttls",
            "--verbose",
        ]);
        assert_clean(
            &format!("check --verbose, tls {tls}"),
            &format!("{out}{err}"),
        );
        let (_, out, err) = run(&[
            "check",
            "--server",
            &addr,
            "--tls",
            tls,
            "--scenario",
            "A",
            "--format",
            "json",
        ]);
        assert_clean(
            &format!("check --format json, tls {tls}"),
            &format!("{out}{err}"),
        );
        // Still the same document to a parser: the payload is there, escaped the JSON way.
        let doc: Value = serde_json::from_str(&out).unwrap_or_else(|e| panic!("{e}: {out}"));
        if tls == "none" {
            assert!(doc.to_string().contains("b3duZWQ="), "{doc}");
        }
        let (_, out, err) = run(&[
            "check",
            "--server",
            &addr,
            "--tls",
            tls,
            "--scenario",
            "A",
            "--format",
            "junit",
        ]);
        assert_clean(
            &format!("check --format junit, tls {tls}"),
            &format!("{out}{err}"),
        );
    }
    // A baseline is a file anyone may have written: its text is printed in the diff.
    let dir = tempfile::tempdir().unwrap();
    let baseline = dir.path().join("baseline.json");
    std::fs::write(
        &baseline,
        serde_json::json!({
            "target": {"server": addr},
            "results": [{"id": "unauth-relay", "scenario": format!("A{TITLE}"),
                         "title": format!("t{CLIPBOARD}"), "verdict": "fail",
                         "reason": format!("r\u{202e}{TITLE}"),
                         "steps": [{"command": "RCPT TO:<x>", "verdict": "fail",
                                    "reply": {"code": 250, "text": format!("250 ok{CLIPBOARD}")},
                                    "reason": "x"}]}]
        })
        .to_string(),
    )
    .unwrap();
    let (_, out, err) = run(&[
        "check",
        "--server",
        &addr,
        "--tls",
        "none",
        "--scenario",
        "A",
        "--baseline",
        baseline.to_str().unwrap(),
    ]);
    assert_clean("check --baseline", &format!("{out}{err}"));
    assert!(out.contains("compared with the baseline"), "{out}\n{err}");
}

/// The explorer in a real pseudo-terminal: none of the payloads appears in the bytes it
/// writes to the terminal (its own escape sequences aside, which draw the screen).
#[test]
fn the_explorer_writes_no_hostile_sequence_to_the_terminal() {
    let server = hostile_server();
    let config = tempfile::tempdir().unwrap();
    std::fs::create_dir_all(config.path().join("profiles")).unwrap();
    std::fs::write(
        config.path().join("profiles/hostile.toml"),
        format!(
            "server = \"{}\"\ntls = \"none\"\nhelo = \"probe.test\"\ntimeout_secs = 5\n",
            server.addr()
        ),
    )
    .unwrap();
    let mut tui = common::pty::Tui::spawn(
        config.path(),
        &["tui", "--profile", "hostile", "--scenario", "A", "--run"],
    );
    tui.wait_for("unauth-relay");
    tui.wait_until("the verdict", |t| {
        let s = t.screen();
        s.contains("PASS") || s.contains("FAIL") || s.contains("INCONCLUSIVE")
    });
    tui.quit_and_check_restored();
    let raw = tui.output();
    for payload in ["\x1b]0;owned-title", "\x1b]52;", "\x07"] {
        assert!(
            !raw.contains(payload),
            "{payload:?} was written to the terminal"
        );
    }
    for bad in ['\u{202e}', '\u{2066}', '\u{200b}', '\u{feff}'] {
        assert!(!raw.contains(bad), "{bad:?} was written to the terminal");
    }
}

/// `| head -1`: the reader goes away after one line. The run still ends properly (the
/// session is closed with QUIT), nothing panics, and the status is a broken pipe's.
#[test]
fn a_closed_stdout_ends_quietly_after_the_session_is_closed() {
    let server = HostileServer::start(
        Tls::None,
        Arc::new(|_: &mut hostile_server::Peer, _, _: &[u8]| Flow::Normal),
    );
    let bin = assert_cmd::cargo::cargo_bin("smtpscope");
    let config = tempfile::tempdir().unwrap();
    for args in [
        format!(
            "session --server {} --tls none --to someone@x.test --quit-after rcpt",
            server.addr()
        ),
        format!("check --server {} --tls none --scenario A", server.addr()),
    ] {
        let out = std::process::Command::new("bash")
            .arg("-c")
            .arg(format!(
                "'{}' {args} | head -1 >/dev/null; echo \"status=${{PIPESTATUS[0]}}\" >&2",
                bin.display()
            ))
            .env("SMTPSCOPE_CONFIG_DIR", config.path())
            .output()
            .unwrap();
        let err = String::from_utf8_lossy(&out.stderr);
        assert!(!err.contains("panicked"), "{args}: {err}");
        assert!(!err.contains("Broken pipe"), "{args}: {err}");
        // 141 when a write found the pipe closed; 0 when everything fitted in the pipe
        // before the reader left (check writes its report at once).
        assert!(
            err.contains("status=141") || err.contains("status=0"),
            "{args}: {err}"
        );
    }
    let quits = server
        .received()
        .into_iter()
        .filter(|conn| conn.iter().any(|(_, l)| l.starts_with("QUIT")))
        .count();
    assert!(
        quits >= 2,
        "every session ended with QUIT: {:?}",
        server.received()
    );
}
