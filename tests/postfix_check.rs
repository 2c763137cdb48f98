//! `smtpscope check` against a real Postfix in three configurations: an open relay, a secure
//! server (relay only after TLS + AUTH, a user restricted to a partner domain, sender-login
//! checks) and the same secure server with Postfix's default tarpit. Every built-in scenario's
//! verdict is asserted on each, with the exit codes, and the JSON and JUnit are parsed back.

#![allow(clippy::expect_used, clippy::unwrap_used)] // test code: a failed setup should panic loudly

mod common;

use std::collections::BTreeMap;
use std::path::Path;
use std::time::Duration;

use assert_cmd::Command;
use common::postfix::{Postfix, shared};
use serde_json::Value;

/// Writes a profile for `port` into a fresh config dir; `with_auth` adds bob's [auth].
fn config_dir(pf: &Postfix, port: u16, with_auth: bool) -> tempfile::TempDir {
    let dir = tempfile::tempdir().expect("config dir");
    let auth = if with_auth {
        format!(
            "[auth]\nmechanism = \"plain\"\nusername = \"{}\"\npassword_env = \"SMTPSCOPE_TEST_BOB_PW\"\n\n",
            pf.restricted_user
        )
    } else {
        String::new()
    };
    let profile = format!(
        r#"server = "127.0.0.1:{port}"
tls = "starttls"
verify = "platform"
ca_file = "{ca}"
tls_name = "localhost"
helo = "probe.test"
timeout_secs = 20

{auth}[relay]
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
    );
    std::fs::create_dir_all(dir.path().join("profiles")).expect("mkdir");
    std::fs::write(dir.path().join("profiles/target.toml"), profile).expect("write profile");
    dir
}

fn check(pf: &Postfix, cfg: &Path, extra: &[&str]) -> (i32, String, String) {
    let mut cmd = Command::cargo_bin("smtpscope").expect("binary");
    cmd.timeout(Duration::from_secs(120));
    cmd.env("SMTPSCOPE_CONFIG_DIR", cfg);
    cmd.env("SMTPSCOPE_TEST_BOB_PW", &pf.restricted_password);
    cmd.args(["check", "--profile", "target"]);
    cmd.args(extra);
    let out = cmd.output().expect("run check");
    (
        out.status.code().unwrap_or(-1),
        String::from_utf8_lossy(&out.stdout).into_owned(),
        String::from_utf8_lossy(&out.stderr).into_owned(),
    )
}

fn verdicts(doc: &Value) -> BTreeMap<String, String> {
    doc["results"]
        .as_array()
        .expect("results")
        .iter()
        .map(|r| {
            (
                r["id"].as_str().expect("id").to_string(),
                r["verdict"].as_str().expect("verdict").to_string(),
            )
        })
        .collect()
}

fn expected(pairs: &[(&str, &str)]) -> BTreeMap<String, String> {
    pairs
        .iter()
        .map(|(a, b)| (a.to_string(), b.to_string()))
        .collect()
}

/// The table in README.md.
const SECURE: &[(&str, &str)] = &[
    ("unauth-relay", "pass"),
    ("auth-relay-approved", "pass"),
    ("auth-relay-disallowed", "pass"),
    ("local-delivery", "pass"),
    ("relay-tricks", "pass"),
    ("starttls", "pass"),
    ("auth-needs-tls", "pass"),
    ("sender-spoofing", "pass"),
    ("vrfy-expn", "warn"),
];

const OPEN: &[(&str, &str)] = &[
    ("unauth-relay", "fail"),
    ("auth-relay-approved", "pass"),
    ("auth-relay-disallowed", "fail"),
    ("local-delivery", "pass"),
    ("relay-tricks", "fail"),
    ("starttls", "pass"),
    ("auth-needs-tls", "pass"),
    ("sender-spoofing", "fail"),
    ("vrfy-expn", "warn"),
];

#[test]
fn secure_postfix_passes_every_scenario() {
    let Some(pf) = shared("secure_postfix_passes_every_scenario") else {
        return;
    };
    let cfg = config_dir(pf, pf.relaxed_port, true);
    let (code, out, err) = check(pf, cfg.path(), &["--all", "--format", "json"]);
    let doc: Value = serde_json::from_str(&out).unwrap_or_else(|e| panic!("{e}: {out} {err}"));
    assert_eq!(verdicts(&doc), expected(SECURE), "{doc:#}");
    assert_eq!(code, 0, "{err}");
    // Every text a reader sees is filled in: no `{variable}` left, no Rust Debug form.
    assert_eq!(common::placeholders(&out), Vec::<String>::new(), "{out}");
    assert_eq!(common::debug_forms(&out), Vec::<&str>::new(), "{out}");
    let vrfy = doc["results"]
        .as_array()
        .expect("results")
        .iter()
        .find(|r| r["id"] == "vrfy-expn")
        .expect("vrfy-expn");
    let why = vrfy["reason"].as_str().expect("reason");
    // Postfix answers 252 for a real user and 550 for a made-up one: the WARN says so, and
    // does not call them the same answer in the same breath.
    assert!(why.contains("different answers"), "{why}");
    assert!(!why.contains("same answer for both"), "{why}");
    let a = doc["results"]
        .as_array()
        .expect("results")
        .iter()
        .find(|r| r["scenario"] == "A")
        .expect("A");
    assert!(
        a["reason"]
            .as_str()
            .is_some_and(|r| r.contains("554 5.7.1")),
        "{a:#}"
    );
    let rcpt = a["steps"]
        .as_array()
        .expect("steps")
        .iter()
        .find(|s| s["command"].as_str().is_some_and(|c| c.starts_with("RCPT")))
        .expect("RCPT step");
    assert_eq!(rcpt["reply"]["code"], 554);
    assert_eq!(rcpt["reply"]["enhanced"], "5.7.1");
    assert_eq!(doc["summary"]["pass"], 8);
    assert_eq!(doc["summary"]["warn"], 1);
    let c = doc["results"]
        .as_array()
        .expect("results")
        .iter()
        .find(|r| r["scenario"] == "C")
        .expect("C");
    assert!(
        c["reason"]
            .as_str()
            .is_some_and(|r| r.contains("Recipient address rejected")),
        "{c:#}"
    );
}

#[test]
fn open_relay_fails_and_exits_1() {
    let Some(pf) = shared("open_relay_fails_and_exits_1") else {
        return;
    };
    let cfg = config_dir(pf, pf.open_relay_port, true);
    let (code, out, err) = check(pf, cfg.path(), &["--all", "--format", "json"]);
    let doc: Value = serde_json::from_str(&out).unwrap_or_else(|e| panic!("{e}: {out} {err}"));
    assert_eq!(verdicts(&doc), expected(OPEN), "{doc:#}");
    assert_eq!(code, 1);
    assert_eq!(common::placeholders(&out), Vec::<String>::new(), "{out}");
    assert_eq!(common::debug_forms(&out), Vec::<&str>::new(), "{out}");
    // Relay tests stop before DATA: no transcript of any session shows DATA being sent.
    let (_, out, _) = check(
        pf,
        cfg.path(),
        &["--all", "--transcripts", "--format", "json"],
    );
    let doc: Value = serde_json::from_str(&out).expect("json");
    let transcripts: Vec<&str> = doc["results"]
        .as_array()
        .expect("results")
        .iter()
        .flat_map(|r| r["transcripts"].as_array().into_iter().flatten())
        .filter_map(|t| t.as_str())
        .collect();
    assert!(transcripts.len() >= 9, "one or more per scenario");
    for t in transcripts {
        assert!(
            !t.contains("C: DATA"),
            "a relay probe sent DATA without --send-data: {t}"
        );
        assert!(t.contains("C: QUIT"), "{t}");
    }
}

/// README: relay probes stop after RCPT with RSET, then QUIT. Postfix counts each session's
/// commands in its log (`disconnect from … mail=1 rcpt=1 rset=1 quit=1`): every session of
/// this run (from its own source address, 127.0.0.9) must show the RSET it received.
#[test]
fn relay_probes_send_rset_before_quit_as_postfix_saw() {
    let Some(pf) = shared("relay_probes_send_rset_before_quit_as_postfix_saw") else {
        return;
    };
    for port in [pf.open_relay_port, pf.relaxed_port] {
        let cfg = config_dir(pf, port, true);
        let (_, out, err) = check(
            pf,
            cfg.path(),
            &[
                "--scenario",
                "A",
                "--scenario",
                "C",
                "--local-address",
                "127.0.0.9",
                "--format",
                "json",
            ],
        );
        let doc: Value = serde_json::from_str(&out).unwrap_or_else(|e| panic!("{e}: {out} {err}"));
        assert_eq!(doc["results"].as_array().expect("results").len(), 2);
    }
    // Postfix writes the disconnect line as the session ends; allow it a moment to land.
    // A, C and the local-delivery control on each of the two ports.
    let sessions = log_lines_once(pf, 6, |l| {
        l.contains("disconnect from") && l.contains("[127.0.0.9]")
    });
    assert!(sessions.len() >= 6, "{sessions:#?}");
    for line in &sessions {
        if line.contains(" mail=") {
            assert!(line.contains(" rset=1"), "no RSET before QUIT: {line}");
            assert!(!line.contains(" data="), "DATA sent: {line}");
        }
        assert!(line.contains(" quit=1"), "{line}");
    }
}

/// Before and after a config change, as CI would gate it: the secure Postfix as the baseline,
/// then the same profile pointing at the open relay exits 5 naming the scenarios that got
/// worse; the secure server twice exits 0 with "no change".
#[test]
fn a_baseline_catches_the_config_change_that_opened_the_relay() {
    let Some(pf) = shared("a_baseline_catches_the_config_change_that_opened_the_relay") else {
        return;
    };
    let work = tempfile::tempdir().expect("tempdir");
    let baseline = work.path().join("previous.json");
    let secure = config_dir(pf, pf.relaxed_port, true);
    let (code, out, err) = check(pf, secure.path(), &["--all", "--format", "json"]);
    assert_eq!(code, 0, "{err}");
    std::fs::write(&baseline, &out).expect("write baseline");
    let b = baseline.to_str().expect("utf-8 path");

    let (code, out, err) = check(pf, secure.path(), &["--all", "--baseline", b]);
    assert_eq!(code, 0, "{out}{err}");
    assert!(
        out.contains("no change: 9 scenarios with the same verdicts and replies"),
        "{out}"
    );

    let open = config_dir(pf, pf.open_relay_port, true);
    let (code, out, err) = check(pf, open.path(), &["--all", "--baseline", b]);
    assert_eq!(code, 5, "{out}{err}");
    for id in [
        "A unauth-relay: PASS → FAIL",
        "C auth-relay-disallowed: PASS → FAIL",
        "relay-tricks: PASS → FAIL",
        "sender-spoofing: PASS → FAIL",
    ] {
        assert!(out.contains(&format!("worse   {id}")), "{id}: {out}");
    }
    assert!(out.contains("4 worse, 0 better"), "{out}");
}

#[test]
fn tarpitting_postfix_gives_the_same_verdicts_quickly() {
    let Some(pf) = shared("tarpitting_postfix_gives_the_same_verdicts_quickly") else {
        return;
    };
    let cfg = config_dir(pf, pf.starttls_port, true);
    let (code, out, err) = check(
        pf,
        cfg.path(),
        &["--all", "--format", "json", "--transcripts"],
    );
    let doc: Value = serde_json::from_str(&out).unwrap_or_else(|e| panic!("{e}: {out} {err}"));
    assert_eq!(verdicts(&doc), expected(SECURE), "{doc:#}");
    assert_eq!(code, 0);
    // Its speed is scripts/bench-check.sh's business. What would make it slow is the tarpit,
    // which Postfix starts after smtpd_soft_error_limit (10) errors in one session: counted,
    // no session of the audit comes near it.
    let mut sessions = 0;
    let mut all_errors = 0;
    for r in doc["results"].as_array().unwrap() {
        for t in r["transcripts"].as_array().into_iter().flatten() {
            let text = t.as_str().unwrap();
            // "    12 ms     S: 554 5.7.1 …": the last line of a 4xx or 5xx reply.
            let errors = text
                .lines()
                .filter_map(|l| l.split_once("S: ").map(|(_, reply)| reply.as_bytes()))
                .filter(|b| b.len() > 3 && (b[0] == b'4' || b[0] == b'5') && b[3] == b' ')
                .count();
            all_errors += errors;
            sessions += 1;
            assert!(
                errors <= 10,
                "{}: a session drew {errors} errors, enough for the tarpit:\n{text}",
                r["id"]
            );
        }
    }
    assert!(sessions > 5, "the transcripts were kept: {doc:#}");
    assert!(
        all_errors > 10,
        "the refusals the audit draws are counted ({all_errors}): {doc:#}"
    );
}

#[test]
fn without_credentials_auth_scenarios_are_skipped() {
    let Some(pf) = shared("without_credentials_auth_scenarios_are_skipped") else {
        return;
    };
    let cfg = config_dir(pf, pf.relaxed_port, false);
    let (code, out, err) = check(pf, cfg.path(), &["--format", "json"]);
    let doc: Value = serde_json::from_str(&out).unwrap_or_else(|e| panic!("{e}: {out} {err}"));
    let v = verdicts(&doc);
    for id in [
        "auth-relay-approved",
        "auth-relay-disallowed",
        "sender-spoofing",
    ] {
        assert_eq!(v[id], "skipped", "{id}: {doc:#}");
    }
    assert_eq!(v["unauth-relay"], "pass");
    assert_eq!(code, 0);
    let b = doc["results"]
        .as_array()
        .expect("results")
        .iter()
        .find(|r| r["scenario"] == "B")
        .expect("B");
    assert!(
        b["reason"]
            .as_str()
            .is_some_and(|r| r.contains("credentials")),
        "{b:#}"
    );
}

#[test]
fn a_control_that_fails_makes_relay_rejections_inconclusive() {
    let Some(pf) = shared("a_control_that_fails_makes_relay_rejections_inconclusive") else {
        return;
    };
    let cfg = config_dir(pf, pf.relaxed_port, false);
    // A "local" recipient this server does not accept: the control fails, so A proves nothing.
    let (code, out, err) = check(
        pf,
        cfg.path(),
        &[
            "--scenario",
            "A",
            "--local-recipient",
            "nobody@not-local.example",
            "--format",
            "json",
        ],
    );
    let doc: Value = serde_json::from_str(&out).unwrap_or_else(|e| panic!("{e}: {out} {err}"));
    let v = verdicts(&doc);
    assert_eq!(v.len(), 1, "only A is reported: {doc:#}");
    assert_eq!(v["unauth-relay"], "inconclusive", "{doc:#}");
    assert_eq!(code, 3);
}

#[test]
fn junit_has_a_case_per_step_and_failures_carry_the_reply() {
    let Some(pf) = shared("junit_has_a_case_per_step_and_failures_carry_the_reply") else {
        return;
    };
    let cfg = config_dir(pf, pf.open_relay_port, true);
    let report = cfg.path().join("report.xml");
    let (code, _, err) = check(
        pf,
        cfg.path(),
        &[
            "--scenario",
            "A",
            "--scenario",
            "B",
            "--format",
            "junit",
            "--output",
            &report.display().to_string(),
        ],
    );
    assert_eq!(code, 1, "{err}");
    assert!(err.contains("report written to"), "{err}");
    let xml = std::fs::read_to_string(&report).expect("report");
    let doc = roxmltree::Document::parse(&xml).expect("valid XML");
    let cases: Vec<_> = doc
        .descendants()
        .filter(|n| n.has_tag_name("testcase"))
        .collect();
    assert_eq!(cases.len(), 4, "MAIL and RCPT for A and B: {xml}");
    let failures: Vec<_> = doc
        .descendants()
        .filter(|n| n.has_tag_name("failure"))
        .collect();
    assert_eq!(failures.len(), 1, "{xml}");
    let text = failures[0].text().unwrap_or_default();
    assert!(
        text.contains("250 2.1.5"),
        "the failure carries the reply: {xml}"
    );
    assert!(xml.contains("testsuite"), "{xml}");
}

#[test]
fn human_output_and_secrets() {
    let Some(pf) = shared("human_output_and_secrets") else {
        return;
    };
    let cfg = config_dir(pf, pf.relaxed_port, true);
    let needles = secret_needles(&pf.restricted_user, &pf.restricted_password);
    for format in ["human", "json", "junit"] {
        let (_, out, err) = check(
            pf,
            cfg.path(),
            &[
                "--scenario",
                "B",
                "--transcripts",
                "--verbose",
                "--format",
                format,
            ],
        );
        let all = format!("{out}{err}");
        for n in &needles {
            assert!(!all.contains(n.as_str()), "{format} leaked {n:?}: {all}");
        }
        // No leak proves nothing unless the transcript, with its AUTH line, is in the report.
        let transcript = match format {
            "junit" => {
                let doc = roxmltree::Document::parse(&out).expect("valid XML");
                doc.descendants()
                    .filter(|n| n.has_tag_name("system-out"))
                    .filter_map(|n| n.text())
                    .collect::<Vec<_>>()
                    .join("\n")
            }
            "json" => {
                let doc: Value = serde_json::from_str(&out).expect("json");
                doc["results"][0]["transcripts"]
                    .as_array()
                    .map(|t| {
                        t.iter()
                            .filter_map(Value::as_str)
                            .collect::<Vec<_>>()
                            .join("\n")
                    })
                    .unwrap_or_default()
            }
            _ => all.clone(),
        };
        assert!(
            transcript.contains("C: AUTH PLAIN <redacted>"),
            "{format}: transcript shown, redacted: {all}"
        );
        assert!(transcript.contains("S: 235 2.7.0"), "{format}: {all}");
        if format == "human" {
            assert!(all.contains("PASS"), "{all}");
        }
    }
}

/// The password as it could leak: plain, base64 alone, inside PLAIN's `\0user\0pass` (with and
/// without the realm Cyrus adds), at each base64 alignment inside a longer string, and every
/// mechanism's own encodings.
fn secret_needles(user: &str, pw: &str) -> Vec<String> {
    use base64::Engine;
    use base64::engine::general_purpose::STANDARD as B64;
    let mut needles = vec![pw.to_string(), B64.encode(pw)];
    for u in [user.to_string(), format!("{user}@lab.example")] {
        needles.push(B64.encode(format!("\0{u}\0{pw}")));
        needles.push(B64.encode(format!("{u}\0{pw}")));
    }
    for pad in 0..3 {
        let enc = B64.encode(format!("{}{pw}", "x".repeat(pad)));
        needles.push(enc[4..enc.len() - 4].to_string());
    }
    for mech in smtpscope::smtp::auth::Mechanism::ALL {
        let creds = smtpscope::smtp::auth::Credentials {
            username: user.into(),
            secret: pw.to_string().into(),
            authzid: None,
        };
        needles.extend(smtpscope::smtp::auth::secret_needles(mech, &creds));
    }
    needles
}

#[test]
fn smuggling_is_opt_in_and_catches_bare_lf_end_of_data() {
    let Some(pf) = shared("smuggling_is_opt_in_and_catches_bare_lf_end_of_data") else {
        return;
    };
    let cfg = config_dir(pf, pf.relaxed_port, false);
    let (_, out, err) = check(pf, cfg.path(), &["--all", "--format", "json"]);
    let doc: Value = serde_json::from_str(&out).unwrap_or_else(|e| panic!("{e}: {out} {err}"));
    assert!(
        !verdicts(&doc).contains_key("smuggling"),
        "never part of --all"
    );
    let (code, out, err) = check(
        pf,
        cfg.path(),
        &["--scenario", "smuggling", "--format", "json"],
    );
    let doc: Value = serde_json::from_str(&out).unwrap_or_else(|e| panic!("{e}: {out} {err}"));
    // Debian 12's Postfix 3.7 takes a bare "\n.\n" as the end of data unless
    // smtpd_forbid_bare_newline is set (CVE-2023-51764): the probe must say so.
    assert_eq!(verdicts(&doc)["smuggling"], "fail", "{doc:#}");
    assert_eq!(code, 1);
    let steps = doc["results"][0]["steps"].as_array().expect("steps");
    let lf = steps
        .iter()
        .find(|s| {
            s["command"]
                .as_str()
                .is_some_and(|c| c.ends_with("ending in \\n.\\n"))
        })
        .expect("the \\n.\\n probe");
    assert_eq!(lf["verdict"], "fail", "{lf:#}");
    let nul = steps
        .iter()
        .find(|s| {
            s["command"]
                .as_str()
                .is_some_and(|c| c.contains("\\r\\n\\0.\\r\\n") || c.contains("\\r\\n\\x00.\\r\\n"))
        })
        .expect("the NUL probe");
    assert_eq!(
        nul["verdict"], "pass",
        "a NUL before the dot is not an end of data: {nul:#}"
    );
}

#[test]
fn send_data_confirms_relay_and_delivery() {
    let Some(pf) = shared("send_data_confirms_relay_and_delivery") else {
        return;
    };
    let open = config_dir(pf, pf.open_relay_port, false);
    let (code, out, err) = check(
        pf,
        open.path(),
        &["--scenario", "A", "--send-data", "--format", "json"],
    );
    let doc: Value = serde_json::from_str(&out).unwrap_or_else(|e| panic!("{e}: {out} {err}"));
    assert_eq!(code, 1);
    let steps = doc["results"][0]["steps"].as_array().expect("steps");
    let data = steps.last().expect("end-of-DATA step");
    assert_eq!(data["command"], "DATA + test message", "{doc:#}");
    assert_eq!(data["verdict"], "fail");
    assert!(
        data["reason"]
            .as_str()
            .is_some_and(|r| r.contains("accepted for relay")),
        "{data:#}"
    );
    let relayed = pf
        .wait_for_relayed_message_containing(b"X-Smtpscope-Test:", Duration::from_secs(15))
        .expect("the test message reached the local sink");
    assert!(String::from_utf8_lossy(&relayed).contains("Subject: smtpscope relay test"));

    let secure = config_dir(pf, pf.relaxed_port, true);
    let (code, out, err) = check(
        pf,
        secure.path(),
        &["--scenario", "B", "--send-data", "--format", "json"],
    );
    let doc: Value = serde_json::from_str(&out).unwrap_or_else(|e| panic!("{e}: {out} {err}"));
    assert_eq!(code, 0, "{doc:#}");
    let steps = doc["results"][0]["steps"].as_array().expect("steps");
    assert_eq!(
        steps.last().map(|s| s["verdict"].clone()),
        Some(Value::from("pass")),
        "{doc:#}"
    );
}

/// SECURITY.md §4, against the open relay: without --send-data a relay probe stops after
/// RCPT, so no session sends DATA and no message is stored, though the server accepted the
/// recipient. The control, the same run with --send-data, stores a message for that
/// recipient (so the search would have found one), labelled with a unique id that the
/// transcript shows and a second run does not repeat.
#[test]
fn an_open_relay_test_relays_nothing_unless_asked() {
    let Some(pf) = shared("an_open_relay_test_relays_nothing_unless_asked") else {
        return;
    };
    let cfg = config_dir(pf, pf.open_relay_port, false);
    let nanos = std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map(|d| d.subsec_nanos())
        .unwrap_or_default();
    let rcpt = |tag: &str| {
        format!(
            "probe-{tag}-{}-{nanos}@elsewhere.example.org",
            std::process::id()
        )
    };
    let run = |rcpt: &str, send_data: bool| {
        let mut args = vec![
            "--scenario",
            "A",
            "--external-recipient",
            rcpt,
            "--transcripts",
            "--format",
            "json",
        ];
        if send_data {
            args.push("--send-data");
        }
        let (code, out, err) = check(pf, cfg.path(), &args);
        let doc: Value = serde_json::from_str(&out).unwrap_or_else(|e| panic!("{e}: {out} {err}"));
        assert_eq!(code, 1, "an open relay fails A: {doc:#}");
        assert_eq!(verdicts(&doc)["unauth-relay"], "fail", "{doc:#}");
        let transcripts: Vec<String> = doc["results"][0]["transcripts"]
            .as_array()
            .expect("transcripts")
            .iter()
            .filter_map(|t| t.as_str().map(String::from))
            .collect();
        transcripts.join("\n")
    };

    let quiet = rcpt("quiet");
    let t = run(&quiet, false);
    assert!(t.contains(&format!("C: RCPT TO:<{quiet}>")), "{t}");
    assert!(t.contains("S: 250 2.1.5 Ok"), "the server accepted it: {t}");
    assert!(!t.contains("C: DATA"), "DATA sent without --send-data: {t}");
    assert!(t.contains("C: QUIT"), "{t}");

    let sent = rcpt("sent");
    let t = run(&sent, true);
    let id = t
        .lines()
        .find_map(|l| {
            l.split_once("C: X-Smtpscope-Test: ")
                .map(|(_, id)| id.trim())
        })
        .unwrap_or_else(|| panic!("no test id in the transcript: {t}"))
        .to_string();
    let stored = pf
        .wait_for_relayed_message_containing(sent.as_bytes(), Duration::from_secs(15))
        .expect("the control's message reached the sink");
    let stored = String::from_utf8_lossy(&stored);
    assert!(
        stored.contains(&format!("X-Smtpscope-Test: {id}\n")),
        "{stored}"
    );
    assert!(
        stored.contains(&format!("Subject: smtpscope relay test {id}\n")),
        "{stored}"
    );
    assert!(stored.contains(&format!("Message-ID: <{id}@")), "{stored}");
    assert!(
        stored.contains("This message was sent by smtpscope"),
        "{stored}"
    );
    // By now the control's message was delivered; had the quiet run sent one, it would be
    // in the sink too.
    assert!(
        pf.wait_for_relayed_message_containing(quiet.as_bytes(), Duration::from_secs(2))
            .is_err(),
        "a message for {quiet} was stored without --send-data"
    );

    let again = run(&rcpt("again"), true);
    assert!(
        !again.contains(&format!("X-Smtpscope-Test: {id}")),
        "the test id is not unique: {again}"
    );
}

/// `check --xclient`, and a profile's `xclient`: relay policy as Postfix applies it to another
/// client. The xclient listener trusts 192.0.2.0/24: from 127.0.0.1 it refuses to relay (A
/// passes); as 192.0.2.8 it relays (A fails) — how an admin sees, from a trusted host, what
/// an outside client would get, and the reverse.
#[test]
fn check_with_xclient_judges_as_if_from_another_client() {
    let Some(pf) = shared("check_with_xclient_judges_as_if_from_another_client") else {
        return;
    };
    let cfg = config_dir(pf, pf.xclient_port, false);
    let verdict_of_a = |extra: &[&str]| {
        let mut args = vec!["--scenario", "A", "--format", "json"];
        args.extend_from_slice(extra);
        let (code, out, err) = check(pf, cfg.path(), &args);
        let doc: Value = serde_json::from_str(&out).unwrap_or_else(|e| panic!("{e}: {out}{err}"));
        (code, verdicts(&doc)["unauth-relay"].clone(), out)
    };
    let (code, a, out) = verdict_of_a(&[]);
    assert_eq!((code, a.as_str()), (0, "pass"), "{out}");
    let (code, a, out) = verdict_of_a(&["--xclient", "ADDR=192.0.2.8"]);
    assert_eq!((code, a.as_str()), (1, "fail"), "{out}");

    let path = cfg.path().join("profiles/target.toml");
    let profile = std::fs::read_to_string(&path).unwrap();
    std::fs::write(&path, format!("xclient = [\"ADDR=192.0.2.9\"]\n{profile}")).unwrap();
    let (code, a, out) = verdict_of_a(&[]);
    assert_eq!(
        (code, a.as_str()),
        (1, "fail"),
        "the profile's xclient: {out}"
    );
}

/// Issue 25: one run, one TLS session store. After a full handshake the run's other sessions
/// resume (the transcript says "TLS resumed"), while the starttls scenario's certificate
/// checks still judge a full handshake, verified in that session.
#[test]
fn later_sessions_resume_tls_and_the_certificate_checks_do_not() {
    let Some(pf) = shared("later_sessions_resume_tls_and_the_certificate_checks_do_not") else {
        return;
    };
    let cfg = config_dir(pf, pf.relaxed_port, true);
    let (code, out, err) = check(
        pf,
        cfg.path(),
        &[
            "--all",
            "--transcripts",
            "--concurrency",
            "1",
            "--format",
            "json",
        ],
    );
    let doc: Value = serde_json::from_str(&out).unwrap_or_else(|e| panic!("{e}: {out} {err}"));
    assert_eq!(verdicts(&doc), expected(SECURE), "{doc:#}");
    assert_eq!(code, 0, "{err}");
    let results = doc["results"].as_array().expect("results");
    let transcripts_of = |r: &Value| -> Vec<String> {
        r["transcripts"]
            .as_array()
            .into_iter()
            .flatten()
            .filter_map(|t| t.as_str().map(str::to_string))
            .collect()
    };
    let established = |t: &str| -> Vec<String> {
        t.lines()
            .filter(|l| l.contains("TLS established"))
            .map(str::to_string)
            .collect()
    };
    let starttls = results
        .iter()
        .find(|r| r["id"] == "starttls")
        .expect("starttls");
    assert_eq!(starttls["verdict"], "pass", "{starttls:#}");
    let starttls_lines: Vec<String> = transcripts_of(starttls)
        .iter()
        .flat_map(|t| established(t))
        .collect();
    assert!(!starttls_lines.is_empty(), "{starttls:#}");
    for l in &starttls_lines {
        assert!(!l.contains("resumed"), "a certificate check resumed: {l}");
        assert!(l.contains("certificate verified for localhost"), "{l}");
    }
    let others: Vec<String> = results
        .iter()
        .filter(|r| r["id"] != "starttls")
        .flat_map(transcripts_of)
        .flat_map(|t| established(&t))
        .collect();
    let resumed: Vec<&String> = others
        .iter()
        .filter(|l| l.contains("TLS resumed"))
        .collect();
    assert!(
        resumed.len() >= 2,
        "later sessions resume their TLS session: {others:#?}"
    );
    for l in resumed {
        // The full handshake's verdict on the certificate goes with the resumed session.
        assert!(l.contains("certificate verified for localhost"), "{l}");
    }
}

/// `check --scenario relay-tricks` from `local` (a loopback address of its own, so Postfix's
/// log lines of this run can be told apart), which must pass; its result in the JSON report.
fn relay_tricks_from(pf: &Postfix, local: &str, extra: &[&str]) -> Value {
    let cfg = config_dir(pf, pf.starttls_port, false);
    let mut args = vec!["--scenario", "relay-tricks", "--local-address", local];
    args.extend_from_slice(extra);
    args.extend_from_slice(&["--format", "json"]);
    let (code, out, err) = check(pf, cfg.path(), &args);
    let doc: Value = serde_json::from_str(&out).unwrap_or_else(|e| panic!("{e}: {out} {err}"));
    assert_eq!(code, 0, "{doc:#} {err}");
    let tricks = doc["results"]
        .as_array()
        .expect("results")
        .iter()
        .find(|r| r["id"] == "relay-tricks")
        .cloned()
        .expect("relay-tricks ran");
    assert_eq!(tricks["verdict"], "pass", "{tricks:#}");
    tricks
}

/// Postfix's log lines that `wanted` picks, once there are `count` of them or 10 s have
/// passed (its lines land a moment after the replies they tell of).
fn log_lines_once(pf: &Postfix, count: usize, wanted: impl Fn(&str) -> bool) -> Vec<String> {
    let deadline = std::time::Instant::now() + Duration::from_secs(10);
    loop {
        let lines: Vec<String> = pf
            .log()
            .lines()
            .filter(|l| wanted(l))
            .map(str::to_string)
            .collect();
        if lines.len() >= count || std::time::Instant::now() > deadline {
            return lines;
        }
        std::thread::sleep(Duration::from_millis(100));
    }
}

/// Relay tricks against the tarpitting listener, as Postfix itself counted them: four sessions
/// of at most four refused probes each, side by side (issue 25: two sessions of eight, one after
/// the other, were the audit's longest path), so no session comes near smtpd_soft_error_limit
/// (10) and Postfix never says "too many errors".
#[test]
fn relay_tricks_split_into_four_sessions_far_from_the_tarpit() {
    let Some(pf) = shared("relay_tricks_split_into_four_sessions_far_from_the_tarpit") else {
        return;
    };
    relay_tricks_from(pf, "127.0.0.25", &[]);
    // Postfix writes the disconnect line as the session ends; allow it a moment to land.
    let sessions = log_lines_once(pf, 4, |l| {
        l.contains("disconnect from") && l.contains("[127.0.0.25]") && l.contains(" mail=")
    });
    assert_eq!(
        sessions.len(),
        4,
        "four relay-trick sessions: {sessions:#?}"
    );
    let mut refused = 0;
    for line in &sessions {
        // "... commands=12/16": 16 commands, 12 of them accepted.
        let counts = line
            .rsplit_once("commands=")
            .map(|(_, c)| c.trim())
            .expect("a command count");
        let (ok, all) = counts.split_once('/').unwrap_or((counts, counts));
        let errors = all.parse::<usize>().expect("count") - ok.parse::<usize>().expect("count");
        assert!(errors <= 4, "a session drew {errors} errors: {line}");
        refused += errors;
    }
    assert!(
        refused >= 12,
        "the probes were refused, as Postfix counted: {sessions:#?}"
    );
    assert!(
        !pf.log()
            .lines()
            .any(|l| l.contains("[127.0.0.25]") && l.contains("too many errors")),
        "the tarpit engaged"
    );
}

/// The relay probes of one session go out as one pipelined batch (RFC 2920), and Postfix takes
/// them as a well-behaved client's: every probe refused by Postfix itself, no "improper command
/// pipelining" in its log (it logs that for commands sent ahead where the protocol does not
/// allow it).
#[test]
fn relay_probes_go_out_pipelined_and_postfix_takes_them() {
    let Some(pf) = shared("relay_probes_go_out_pipelined_and_postfix_takes_them") else {
        return;
    };
    let tricks = relay_tricks_from(pf, "127.0.0.26", &["--transcripts"]);
    let transcripts = tricks["transcripts"].as_array().expect("transcripts");
    assert_eq!(transcripts.len(), 4, "{tricks:#}");
    for t in transcripts {
        let t = t.as_str().expect("text");
        // From the first MAIL on, the client's lines come in a run before any reply: the
        // session's four probes (MAIL, RCPT, RSET between them) were written before Postfix
        // answered the first.
        let lines: Vec<&str> = t
            .lines()
            .skip_while(|l| !l.contains("C: MAIL FROM"))
            .collect();
        let batch = lines.iter().take_while(|l| l.contains(" C: ")).count();
        assert_eq!(batch, 11, "four probes with three RSETs in one batch:\n{t}");
        assert_eq!(
            t.matches("S: 554 5.7.1").count(),
            4,
            "each probe refused by Postfix's relay check:\n{t}"
        );
        assert!(t.contains("S: 221"), "QUIT answered:\n{t}");
    }
    // Postfix's log lines land a moment after the replies; wait for the 16 refusals.
    let refusals = log_lines_once(pf, 16, |l| {
        l.contains("[127.0.0.26]") && l.contains("NOQUEUE: reject: RCPT")
    });
    assert_eq!(
        refusals.len(),
        16,
        "Postfix logged each probe's refusal: {refusals:#?}"
    );
    let log = pf.log();
    assert!(
        !log.lines()
            .any(|l| l.contains("[127.0.0.26]") && l.contains("improper command pipelining")),
        "{log}"
    );
}
