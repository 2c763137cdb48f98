//! A server that limits connections per client answers the one too many with 421 in its
//! banner. `check` runs its sessions side by side (`--concurrency`, 16 by default): a session
//! turned away that way waits for one of the run's others to end and tries again, under the
//! limit it learned, instead of counting the server as unreachable and leaving every later
//! scenario "not tried". The TLS version probe's connections of their own, beside the
//! sessions, likewise try again as the run's sessions end. Against the built-in lab with
//! `--max-connections 3`.

#![allow(clippy::expect_used, clippy::unwrap_used)] // test code: a failed setup should panic loudly

use std::io::{BufRead, BufReader};
use std::time::Duration;

use serde_json::Value;

struct LabChild {
    child: std::process::Child,
    addr: String,
    ca: String,
    _tmp: tempfile::TempDir,
}

impl Drop for LabChild {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

fn lab(max_connections: &str) -> LabChild {
    let tmp = tempfile::tempdir().expect("tmp");
    let mut child = std::process::Command::new(env!("CARGO_BIN_EXE_smtpscope"))
        .args([
            "lab",
            "--policy",
            "secure",
            "--max-connections",
            max_connections,
            "--duration",
            "120",
        ])
        .env("TMPDIR", tmp.path())
        .env("SMTPSCOPE_CONFIG_DIR", tmp.path().join("config"))
        .stdout(std::process::Stdio::piped())
        .stderr(std::process::Stdio::null())
        .spawn()
        .expect("spawn lab");
    let stdout = child.stdout.take().expect("stdout");
    // Read in a thread, so a lab that never prints its banner fails in 10 s, not hangs.
    let (tx, rx) = std::sync::mpsc::channel();
    std::thread::spawn(move || {
        let mut found = None;
        for line in BufReader::new(stdout).lines().map_while(Result::ok) {
            let words: Vec<&str> = line.split_whitespace().collect();
            if words.len() >= 4 && words[2] == "CA" {
                found = Some((words[1].to_string(), words[3].to_string()));
            }
            if line.contains("Press Ctrl-C to stop") {
                break;
            }
        }
        let _ = tx.send(found);
    });
    let (addr, ca) = rx
        .recv_timeout(Duration::from_secs(10))
        .ok()
        .flatten()
        .expect("the lab printed its address and CA");
    LabChild {
        child,
        addr,
        ca,
        _tmp: tmp,
    }
}

/// The full audit against `lab`, as JSON with transcripts.
fn audit(lab: &LabChild) -> Value {
    let config = tempfile::tempdir().unwrap();
    let out = assert_cmd::Command::cargo_bin("smtpscope")
        .unwrap()
        .env("SMTPSCOPE_CONFIG_DIR", config.path())
        .env("LAB_PW", "bob-lab-password")
        .args([
            "check",
            "--server",
            &lab.addr,
            "--ca-file",
            &lab.ca,
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
            "--all",
            "--transcripts",
            "--format",
            "json",
        ])
        .timeout(Duration::from_secs(60))
        .output()
        .unwrap();
    let text = String::from_utf8_lossy(&out.stdout);
    serde_json::from_str(&text).unwrap_or_else(|e| panic!("{e}: {text}"))
}

#[test]
fn sessions_turned_away_with_421_wait_their_turn() {
    let lab = lab("3");
    let doc = audit(&lab);
    let results = doc["results"].as_array().expect("results");
    assert_eq!(results.len(), 9, "{doc:#}");
    let mut turned_away = 0;
    for r in results {
        let id = r["id"].as_str().expect("id");
        turned_away += r["transcripts"].as_array().map_or(0, |ts| {
            ts.iter()
                .filter(|t| {
                    t.as_str()
                        .is_some_and(|t| t.contains("421 4.7.0 too many connections"))
                })
                .count()
        });
        assert_eq!(r["verdict"], "pass", "{id}: {r:#}");
        let steps = r["steps"].as_array().expect("steps");
        assert!(
            steps
                .iter()
                .all(|s| !s["reason"].as_str().unwrap_or("").contains("421")),
            "{id}: {r:#}"
        );
    }
    // The lab did turn sessions away (eight wanted to open at once), and they were tried
    // again: the limit was met, not avoided.
    assert!(turned_away > 0, "no session met the limit: {doc:#}");
}

/// At a limit of one connection per client the version probe cannot run beside its session:
/// its step, the session's last, comes after the session's QUIT, and the probe's connections
/// get their turn (before, they were turned away until the probe gave up after a reply
/// timeout, "not determined"). Every scenario passes.
#[test]
fn at_a_limit_of_one_the_version_probe_runs_after_its_session() {
    let lab = lab("1");
    let doc = audit(&lab);
    let results = doc["results"].as_array().expect("results");
    assert_eq!(results.len(), 9, "{doc:#}");
    for r in results {
        assert_eq!(r["verdict"], "pass", "{}: {r:#}", r["id"]);
    }
    let starttls = results
        .iter()
        .find(|r| r["id"] == "starttls")
        .expect("starttls");
    let probe = starttls["steps"]
        .as_array()
        .expect("steps")
        .iter()
        .find(|s| s["name"] == "TLS versions accepted")
        .expect("the version step");
    let why = probe["reason"].as_str().unwrap_or_default();
    assert!(!why.contains("not determined"), "{why}");
    assert!(
        why.contains("TLSv1.0 refused") && why.contains("TLSv1.2 accepted: TLS_"),
        "{why}"
    );
}
