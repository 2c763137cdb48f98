//! The practice lab: `check` against every policy, the client engine against every
//! misbehaviour, stored messages byte for byte, and swaks as an independent client.

#![allow(clippy::expect_used, clippy::unwrap_used)] // test code: a failed setup should panic loudly

mod common;

use std::collections::BTreeMap;
use std::time::{Duration, Instant};

use assert_cmd::Command;
use serde_json::Value;
use smtpscope::lab::{Lab, LabConfig, Misbehaviour, Policy};

fn runtime() -> tokio::runtime::Runtime {
    tokio::runtime::Builder::new_multi_thread()
        .worker_threads(2)
        .enable_all()
        .build()
        .expect("runtime")
}

fn start(rt: &tokio::runtime::Runtime, policy: Policy, misbehave: &[Misbehaviour]) -> Lab {
    rt.block_on(Lab::start(
        LabConfig {
            listen: "127.0.0.1:0".parse().expect("addr"),
            policy,
            misbehave: misbehave.to_vec(),
            store_dir: None,
        },
        None,
    ))
    .expect("lab starts")
}

fn smtpscope() -> Command {
    let mut cmd = Command::cargo_bin("smtpscope").expect("binary");
    cmd.timeout(Duration::from_secs(60));
    cmd.env(
        "SMTPSCOPE_CONFIG_DIR",
        std::env::temp_dir().join("smtpscope-lab-tests-empty-config"),
    );
    cmd
}

fn run(cmd: &mut Command) -> (i32, String) {
    let out = cmd.output().expect("run");
    let text = format!(
        "{}{}",
        String::from_utf8_lossy(&out.stdout),
        String::from_utf8_lossy(&out.stderr)
    );
    assert!(!text.contains("panicked"), "{text}");
    (out.status.code().unwrap_or(-1), text)
}

fn check(lab: &Lab, extra: &[&str]) -> (i32, BTreeMap<String, String>, Value) {
    let mut cmd = smtpscope();
    cmd.env("LAB_PW", "bob-lab-password");
    cmd.args([
        "check",
        "--server",
        &lab.addr.to_string(),
        "--ca-file",
        &lab.ca_path.display().to_string(),
        "--tls-name",
        "localhost",
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
        "--format",
        "json",
    ]);
    cmd.args(extra);
    let (code, out) = run(&mut cmd);
    let doc: Value = serde_json::from_str(&out).unwrap_or_else(|e| panic!("{e}: {out}"));
    let verdicts = doc["results"]
        .as_array()
        .expect("results")
        .iter()
        .map(|r| {
            (
                r["id"].as_str().unwrap_or("").to_string(),
                r["verdict"].as_str().unwrap_or("").to_string(),
            )
        })
        .collect();
    (code, verdicts, doc)
}

fn session(lab: &Lab, extra: &[&str]) -> (i32, String) {
    let mut cmd = smtpscope();
    cmd.args([
        "session",
        "--server",
        &lab.addr.to_string(),
        "--ca-file",
        &lab.ca_path.display().to_string(),
        "--tls-name",
        "localhost",
        "--helo",
        "probe.test",
    ]);
    if !extra.contains(&"--timeout") {
        cmd.args(["--timeout", "5"]);
    }
    cmd.args(extra);
    run(&mut cmd)
}

#[test]
fn check_against_each_policy() {
    let rt = runtime();
    let open = start(&rt, Policy::OpenRelay, &[]);
    let (code, v, _) = check(&open, &[]);
    assert_eq!(v["unauth-relay"], "fail");
    assert_eq!(v["auth-relay-disallowed"], "fail");
    assert_eq!(v["relay-tricks"], "fail");
    assert_eq!(code, 1);
    // The relay was open, yet nothing was relayed: every probe stops after RCPT.
    assert!(
        open.messages().is_empty(),
        "a message reached the open relay: {:?}",
        open.messages()
            .first()
            .map(|m| String::from_utf8_lossy(&m.raw).into_owned())
    );

    let secure = start(&rt, Policy::Secure, &[]);
    let (code, v, doc) = check(&secure, &[]);
    for id in [
        "unauth-relay",
        "auth-relay-approved",
        "auth-relay-disallowed",
        "auth-needs-tls",
        "local-delivery",
        "relay-tricks",
        "starttls",
        "sender-spoofing",
        "vrfy-expn",
    ] {
        assert_eq!(v[id], "pass", "{id}: {doc:#}");
    }
    assert_eq!(code, 0);

    let cleartext = start(&rt, Policy::AuthCleartext, &[]);
    let (code, v, doc) = check(&cleartext, &["--scenario", "auth-needs-tls"]);
    assert_eq!(v["auth-needs-tls"], "fail", "{doc:#}");
    assert_eq!(code, 1);

    let no_tls = start(&rt, Policy::NoTls, &[]);
    let (_, v, doc) = check(&no_tls, &["--scenario", "starttls", "--scenario", "B"]);
    assert_eq!(v["starttls"], "fail", "{doc:#}");
    assert_eq!(
        v["auth-relay-approved"], "inconclusive",
        "no TLS, so no AUTH: {doc:#}"
    );
}

/// `--send-data` is the one way a probe sends a message: one per probe (A, and the
/// local-delivery control A needs), each with its own id in Message-ID and X-Smtpscope-Test,
/// so an admin can find it in the logs.
#[test]
fn send_data_sends_one_test_message_per_probe_with_a_unique_id() {
    let rt = runtime();
    let open = start(&rt, Policy::OpenRelay, &[]);
    for _ in 0..2 {
        let (code, v, doc) = check(&open, &["--scenario", "A", "--send-data"]);
        assert_eq!(v["unauth-relay"], "fail", "{doc:#}");
        assert_eq!(code, 1);
    }
    let messages = open.messages();
    assert_eq!(messages.len(), 4, "the control and A, twice");
    let mut ids = Vec::new();
    for m in &messages {
        let text = String::from_utf8_lossy(&m.content()).into_owned();
        let id = text
            .lines()
            .find_map(|l| l.strip_prefix("X-Smtpscope-Test: "))
            .unwrap_or_else(|| panic!("no X-Smtpscope-Test header: {text}"))
            .to_string();
        assert!(
            text.contains(&format!("Message-ID: <{id}@")),
            "the same id in Message-ID: {text}"
        );
        ids.push(id);
    }
    let outside = messages
        .iter()
        .filter(|m| m.to.iter().any(|t| t == "relay-test@elsewhere.example.org"))
        .count();
    assert_eq!(outside, 2, "A's message, once per run");
    ids.sort();
    ids.dedup();
    assert_eq!(ids.len(), 4, "every message has its own id");
}

#[test]
fn smuggling_probes_pass_on_the_lab() {
    let rt = runtime();
    let secure = start(&rt, Policy::Secure, &[]);
    let (_, v, doc) = check(&secure, &["--scenario", "smuggling", "--concurrency", "8"]);
    assert_eq!(
        v["smuggling"], "pass",
        "the lab ends data only at CRLF.CRLF: {doc:#}"
    );
}

#[test]
fn tarpit_lab_keeps_verdicts_and_speed() {
    let rt = runtime();
    let lab = start(&rt, Policy::Secure, &[Misbehaviour::Tarpit]);
    let (code, v, doc) = check(&lab, &[]);
    assert_eq!(code, 0, "{doc:#}");
    assert_eq!(v["relay-tricks"], "pass");
    // Counted by the lab, not timed: no session of the audit drew enough errors to be slowed.
    assert_eq!(lab.tarpit_delays(), 0, "a tarpit was hit: {doc:#}");

    // One session with many errors does get slowed, then cut off, as Postfix would.
    let (code, out) = session(
        &lab,
        &[
            "--to",
            "a@elsewhere.example.org",
            "--to",
            "b@elsewhere.example.org",
            "--to",
            "c@elsewhere.example.org",
            "--to",
            "d@elsewhere.example.org",
            "--to",
            "e@elsewhere.example.org",
            "--to",
            "f@elsewhere.example.org",
            "--to",
            "g@elsewhere.example.org",
            "--to",
            "h@elsewhere.example.org",
            "--to",
            "i@elsewhere.example.org",
            "--to",
            "j@elsewhere.example.org",
            "--to",
            "k@elsewhere.example.org",
            "--to",
            "l@elsewhere.example.org",
        ],
    );
    assert_eq!(code, 7, "{out}");
    // Errors 11 and 12 (and the QUIT after them) were each held back a second.
    assert!(
        lab.tarpit_delays() >= 2,
        "the 11th error on was slowed: {} delays; {out}",
        lab.tarpit_delays()
    );
}

#[test]
fn misbehaviours_give_clear_errors() {
    let rt = runtime();
    let cases: &[(Misbehaviour, &[&str], i32, &str)] = &[
        (
            Misbehaviour::SlowBanner,
            &["--timeout", "1"],
            10,
            "no reply within 1.0 s while waiting for the banner",
        ),
        (
            Misbehaviour::DropMidReply,
            &[],
            10,
            "connection closed by the server while waiting for the reply to EHLO",
        ),
        (
            Misbehaviour::BadMultiline,
            &["--quit-after", "ehlo"],
            9,
            "differs from 250 on the line before",
        ),
        (
            Misbehaviour::BareLf,
            &["--quit-after", "ehlo"],
            9,
            "ends with a bare LF",
        ),
        (
            Misbehaviour::StarttlsInjection,
            &[],
            9,
            "STARTTLS response injection",
        ),
        (
            Misbehaviour::StripStarttls,
            &["--require-tls"],
            4,
            "does not advertise STARTTLS",
        ),
        (
            Misbehaviour::ExpiredCert,
            &["--require-tls"],
            4,
            "expired on 2021-01-01",
        ),
        (
            Misbehaviour::WrongNameCert,
            &["--require-tls"],
            4,
            "name mismatch: wanted localhost, the certificate is for",
        ),
    ];
    for (m, args, want, text) in cases {
        let lab = start(&rt, Policy::Secure, &[*m]);
        // No wall-clock bound: the text names the wait that ended it (the banner's at
        // `--timeout 1`), and the command itself is killed at 60 s.
        let (code, out) = session(&lab, args);
        assert_eq!(code, *want, "{m:?}: {out}");
        assert!(out.contains(text), "{m:?}: {out}");
    }
    let lab = start(&rt, Policy::Secure, &[Misbehaviour::ExpiredCert]);
    let (code, out) = session(&lab, &["--insecure", "--quit-after", "tls"]);
    assert_eq!(code, 0, "{out}");
    assert!(
        out.contains("certificate NOT verified (expired on"),
        "{out}"
    );
}

#[test]
fn messages_are_kept_byte_for_byte() {
    let rt = runtime();
    let lab = start(&rt, Policy::Secure, &[]);
    let dir = tempfile::tempdir().expect("tempdir");
    let file = dir.path().join("m.eml");
    let body = "Subject: dots\r\n\r\n.one\r\n..two\r\n.\r\nend\r\n";
    std::fs::write(&file, body).expect("write");
    let (code, out) = session(
        &lab,
        &[
            "--to",
            "postmaster@lab.example",
            "--from",
            "x@outside.example.net",
            "--data-file",
            &file.display().to_string(),
        ],
    );
    assert_eq!(code, 0, "{out}");
    let messages = lab.messages();
    assert_eq!(messages.len(), 1);
    let m = &messages[0];
    assert_eq!(
        m.raw, b"Subject: dots\r\n\r\n..one\r\n...two\r\n..\r\nend\r\n.\r\n",
        "as it arrived"
    );
    assert_eq!(m.content(), body.as_bytes(), "unstuffed");
    assert!(m.tls);
    assert!(!m.relayed);
}

#[test]
fn lab_listens_on_loopback_only() {
    let rt = runtime();
    let err = rt
        .block_on(Lab::start(
            LabConfig {
                listen: "0.0.0.0:0".parse().expect("addr"),
                policy: Policy::OpenRelay,
                misbehave: vec![],
                store_dir: None,
            },
            None,
        ))
        .err()
        .expect("refused");
    assert!(
        matches!(err, smtpscope::lab::LabError::NotLoopback(ip) if ip.is_unspecified()),
        "{err}"
    );
    assert!(err.to_string().contains("loopback only"), "{err}");
}

fn swaks_ready(test: &str) -> bool {
    let ok = std::process::Command::new("swaks")
        .arg("--version")
        .output()
        .is_ok_and(|o| o.status.success())
        && std::process::Command::new("perl")
            .args(["-MNet::SSLeay", "-e", "1"])
            .status()
            .is_ok_and(|s| s.success());
    if !ok {
        assert!(
            std::env::var("CI").as_deref() != Ok("true"),
            "CI requires swaks with TLS (apt-get install swaks libnet-ssleay-perl)"
        );
        common::skips::skipped(
            test,
            "swaks with TLS support is not installed (apt-get install swaks libnet-ssleay-perl)",
        );
    }
    ok
}

/// An independent client: swaks completes STARTTLS + AUTH against the secure lab, and is
/// refused relay without AUTH.
#[test]
fn swaks_against_the_secure_lab() {
    if !swaks_ready("swaks_against_the_secure_lab") {
        return;
    }
    let rt = runtime();
    let lab = start(&rt, Policy::Secure, &[]);
    let server = lab.addr.to_string();
    let ca = lab.ca_path.display().to_string();
    let out = std::process::Command::new("swaks")
        .args([
            "--server",
            &server,
            "-tls",
            "--tls-verify",
            "--tls-ca-path",
            &ca,
            "--tls-sni",
            "localhost",
            "--ehlo",
            "swaks.test",
            "--auth",
            "PLAIN",
            "--auth-user",
            "alice",
            "--auth-password",
            "alice-lab-password",
            "--from",
            "alice@lab.example",
            "--to",
            "someone@elsewhere.example.org",
            "--timeout",
            "10",
        ])
        .output()
        .expect("swaks");
    let text = String::from_utf8_lossy(&out.stdout);
    assert!(
        out.status.success(),
        "{text}{}",
        String::from_utf8_lossy(&out.stderr)
    );
    assert!(
        text.contains("235 2.7.0 Authentication successful"),
        "{text}"
    );
    assert!(
        lab.messages()
            .iter()
            .any(|m| m.relayed && m.auth_user.as_deref() == Some("alice"))
    );

    let out = std::process::Command::new("swaks")
        .args([
            "--server",
            &server,
            "--ehlo",
            "swaks.test",
            "--from",
            "x@outside.example.net",
            "--to",
            "someone@elsewhere.example.org",
            "--timeout",
            "10",
        ])
        .output()
        .expect("swaks");
    let text = String::from_utf8_lossy(&out.stdout);
    assert_eq!(
        out.status.code(),
        Some(24),
        "swaks: no recipient accepted: {text}"
    );
    assert!(
        text.contains("554 5.7.1 <someone@elsewhere.example.org>: Relay access denied"),
        "{text}"
    );
}

#[test]
fn cram_md5_and_login_work_and_wrong_passwords_do_not() {
    let rt = runtime();
    let lab = start(&rt, Policy::Secure, &[]);
    for mech in ["plain", "login", "cram-md5"] {
        let mut cmd = smtpscope();
        cmd.env("PW", "alice-lab-password");
        cmd.args([
            "session",
            "--server",
            &lab.addr.to_string(),
            "--ca-file",
            &lab.ca_path.display().to_string(),
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
        ]);
        let (code, out) = run(&mut cmd);
        assert_eq!(code, 0, "{mech}: {out}");
        let mut cmd = smtpscope();
        cmd.env("PW", "wrong");
        cmd.args([
            "session",
            "--server",
            &lab.addr.to_string(),
            "--ca-file",
            &lab.ca_path.display().to_string(),
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
        ]);
        let (code, out) = run(&mut cmd);
        assert_eq!(code, 5, "{mech}: {out}");
        assert!(out.contains("535 5.7.8"), "{mech}: {out}");
    }
}

#[test]
fn the_lab_command_cleans_up_on_ctrl_c_sigterm_and_sighup() {
    use std::io::{BufRead, BufReader};
    // INT is Ctrl-C at the lab's terminal.
    for sig in ["-INT", "-TERM", "-HUP"] {
        let tmp = tempfile::tempdir().expect("tmp");
        let mut child = std::process::Command::new(env!("CARGO_BIN_EXE_smtpscope"))
            // --duration bounds the lab even if the signal were lost.
            .args(["lab", "--duration", "60"])
            .env("TMPDIR", tmp.path())
            .env(
                "SMTPSCOPE_CONFIG_DIR",
                std::env::temp_dir().join("smtpscope-lab-tests-empty-config"),
            )
            .stdout(std::process::Stdio::piped())
            .stderr(std::process::Stdio::null())
            .spawn()
            .expect("spawn lab");
        let stdout = child.stdout.take().expect("stdout");
        // The banner ends with the stop hint, printed once both servers listen. Read in a
        // thread, so a lab that never prints it fails the test in 10 s instead of hanging it.
        let (tx, rx) = std::sync::mpsc::channel();
        std::thread::spawn(move || {
            let ready = BufReader::new(stdout)
                .lines()
                .map_while(Result::ok)
                .any(|l| l.contains("Press Ctrl-C to stop"));
            let _ = tx.send(ready);
        });
        let ready = rx.recv_timeout(Duration::from_secs(10)).unwrap_or(false);
        if !ready {
            let _ = child.kill();
        }
        assert!(ready, "{sig}: the lab printed its banner");
        assert!(
            std::fs::read_dir(tmp.path()).expect("tmp").next().is_some(),
            "{sig}: the lab wrote its CA under TMPDIR"
        );
        let pid = child.id().to_string();
        let sent = std::process::Command::new("kill")
            .args([sig, &pid])
            .status()
            .expect("kill");
        assert!(sent.success());
        let deadline = Instant::now() + Duration::from_secs(10);
        let status = loop {
            if let Some(s) = child.try_wait().expect("try_wait") {
                break s;
            }
            if Instant::now() >= deadline {
                let _ = child.kill();
                panic!("{sig}: the lab did not stop within 10 s");
            }
            std::thread::sleep(Duration::from_millis(20));
        };
        assert_eq!(status.code(), Some(0), "{sig}: a clean stop");
        let left: Vec<_> = std::fs::read_dir(tmp.path())
            .expect("tmp")
            .map(|e| e.expect("entry").file_name())
            .collect();
        assert!(
            left.is_empty(),
            "{sig}: the lab left files behind: {left:?}"
        );
    }
}

/// README: without `--to`, a session that logs in ends after AUTH; no MAIL is sent.
#[test]
fn without_to_a_session_ends_after_auth() {
    let rt = runtime();
    let lab = start(&rt, Policy::Secure, &[]);
    let mut cmd = smtpscope();
    cmd.env("LAB_PW", "bob-lab-password");
    cmd.args([
        "session",
        "--server",
        &lab.addr.to_string(),
        "--ca-file",
        &lab.ca_path.display().to_string(),
        "--tls-name",
        "localhost",
        "--helo",
        "probe.test",
        "--auth",
        "plain",
        "--user",
        "bob",
        "--password-env",
        "LAB_PW",
    ]);
    let (code, out) = run(&mut cmd);
    assert_eq!(code, 0, "{out}");
    assert!(out.contains("C: AUTH PLAIN"), "{out}");
    assert!(out.contains("S: 235"), "{out}");
    assert!(!out.contains("C: MAIL"), "no MAIL without --to: {out}");
    assert!(
        out.contains("no --to given: ending the session before MAIL FROM"),
        "{out}"
    );
    assert!(out.contains("C: QUIT"), "{out}");
}
