//! The user's own mistakes are usage errors (exit 2) that name the file or flag, found before
//! any connection: never a failed server (check's 1) or a failed connection (3).

#![allow(clippy::expect_used, clippy::unwrap_used)] // test code: a failed setup should panic loudly

use std::time::Duration;

use assert_cmd::Command;

fn run(args: &[&str]) -> (Option<i32>, String) {
    let config = tempfile::tempdir().unwrap();
    let out = Command::cargo_bin("smtpscope")
        .unwrap()
        .env("SMTPSCOPE_CONFIG_DIR", config.path())
        .args(args)
        .timeout(Duration::from_secs(30))
        .output()
        .unwrap();
    (
        out.status.code(),
        format!(
            "{}{}",
            String::from_utf8_lossy(&out.stdout),
            String::from_utf8_lossy(&out.stderr)
        ),
    )
}

#[test]
fn trust_inputs_are_read_at_start() {
    let dir = tempfile::tempdir().unwrap();
    let broken = dir.path().join("broken.pem");
    std::fs::write(
        &broken,
        "-----BEGIN CERTIFICATE-----\nnot base64 at all\n-----END CERTIFICATE-----\n",
    )
    .unwrap();
    let empty = dir.path().join("empty.pem");
    std::fs::write(&empty, "").unwrap();
    let as_dir = dir.path().display().to_string();
    for (file, says) in [
        (as_dir.as_str(), "is a directory"),
        (broken.to_str().unwrap(), "broken.pem"),
        (empty.to_str().unwrap(), "empty.pem"),
    ] {
        for sub in ["check", "session"] {
            // Port 9 on loopback: nothing should ever try to reach it.
            let (code, out) = run(&[sub, "--server", "127.0.0.1:9", "--ca-file", file]);
            assert_eq!(code, Some(2), "{sub} {file}: {out}");
            assert!(out.contains(says), "{sub} {file}: {out}");
            assert!(!out.contains("connecting"), "{sub}: {out}");
        }
    }
}

#[test]
fn a_server_that_is_no_address_is_a_usage_error() {
    for sub in ["check", "session"] {
        let (code, out) = run(&[sub, "--server", ":::"]);
        assert_eq!(code, Some(2), "{sub}: {out}");
        assert!(out.contains("not an IPv6 address"), "{sub}: {out}");
    }
}

#[test]
fn a_timeout_of_zero_says_what_is_allowed() {
    let (code, out) = run(&["check", "--server", "127.0.0.1:9", "--timeout", "0"]);
    assert_eq!(code, Some(2), "{out}");
    assert!(
        out.contains("timeout must be more than 0 and at most 86400 seconds, not 0"),
        "{out}"
    );
}
