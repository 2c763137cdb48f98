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

/// A listener smtpscope must never reach: every error below is found before connecting.
fn untouched() -> std::net::TcpListener {
    let l = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
    l.set_nonblocking(true).unwrap();
    l
}

fn assert_untouched(l: &std::net::TcpListener, what: &str) {
    match l.accept() {
        Err(e) if e.kind() == std::io::ErrorKind::WouldBlock => {}
        Ok(_) => panic!("{what}: smtpscope connected although the run was a usage error"),
        Err(e) => panic!("{what}: {e}"),
    }
}

fn run_in(config: &std::path::Path, args: &[&str]) -> (Option<i32>, String, String) {
    let out = Command::cargo_bin("smtpscope")
        .unwrap()
        .env("SMTPSCOPE_CONFIG_DIR", config)
        .env_remove("SMTPSCOPE_TEST_BOB_PW")
        .args(args)
        .timeout(Duration::from_secs(30))
        .output()
        .unwrap();
    (
        out.status.code(),
        String::from_utf8_lossy(&out.stdout).into_owned(),
        String::from_utf8_lossy(&out.stderr).into_owned(),
    )
}

/// A missing secret names its variable, an unknown scenario is named, and a broken profile is
/// reported as `file:line:col`: all exit 2, before any connection. (Moved here from
/// postfix_check.rs: it never needed a server.)
#[test]
fn usage_errors_exit_2_and_name_the_problem() {
    let server = untouched();
    let addr = server.local_addr().unwrap();
    let cfg = tempfile::tempdir().unwrap();
    std::fs::create_dir_all(cfg.path().join("profiles")).unwrap();
    std::fs::write(
        cfg.path().join("profiles/target.toml"),
        format!(
            "server = \"{addr}\"\n[auth]\nmechanism = \"plain\"\nusername = \"bob\"\npassword_env = \"SMTPSCOPE_TEST_BOB_PW\"\n"
        ),
    )
    .unwrap();

    let (code, _, err) = run_in(cfg.path(), &["check", "--profile", "target"]);
    assert_eq!(code, Some(2), "{err}");
    assert!(err.contains("SMTPSCOPE_TEST_BOB_PW"), "{err}");
    assert_untouched(&server, "missing secret");

    let (code, _, err) = run_in(
        cfg.path(),
        &["check", "--profile", "target", "--scenario", "Z"],
    );
    assert_eq!(code, Some(2), "{err}");
    assert!(err.contains("no scenario \"Z\""), "{err}");
    assert_untouched(&server, "unknown scenario");

    std::fs::write(
        cfg.path().join("profiles/broken.toml"),
        "server = \"x\"\ntls = 5\n",
    )
    .unwrap();
    for sub in ["check", "session"] {
        let (code, _, err) = run_in(cfg.path(), &[sub, "--profile", "broken"]);
        assert_eq!(code, Some(2), "{sub}: {err}");
        assert!(err.contains("broken.toml:2:7"), "{sub}: {err}");
    }
}

/// SECURITY.md: passwords never come from the command line. There is no `--password` flag to
/// misuse: clap refuses it as a usage error, and nothing is sent.
#[test]
fn there_is_no_password_flag() {
    let server = untouched();
    let addr = server.local_addr().unwrap().to_string();
    let cfg = tempfile::tempdir().unwrap();
    for sub in ["check", "session"] {
        for flag in [
            vec!["--password", "hunter2"],
            vec!["--password=hunter2"],
            vec!["--pass", "hunter2"],
        ] {
            let mut args = vec![sub, "--server", &addr, "--auth", "plain", "--user", "u"];
            args.extend(flag.iter().copied());
            let (code, out, err) = run_in(cfg.path(), &args);
            assert_eq!(code, Some(2), "{sub} {flag:?}: {out}{err}");
            assert!(
                err.contains("unexpected argument '--pass"),
                "{sub} {flag:?}: {err}"
            );
            assert_untouched(&server, &format!("{sub} {flag:?}"));
        }
    }
}

/// `tui`'s relay flags shape a `--server` target; with `--profile` (or no target at all) they
/// would be quietly ignored, so the combination is refused, naming the flag and where the
/// address belongs instead (issue 27).
#[test]
fn tui_relay_flags_without_server_are_refused() {
    let (code, out) = run(&[
        "tui",
        "--profile",
        "mx",
        "--local-recipient",
        "postmaster@lab.test",
    ]);
    assert_eq!(code, Some(2), "{out}");
    assert!(
        out.contains("--local-recipient applies to a --server target only"),
        "{out}"
    );
    assert!(out.contains("[relay]"), "{out}");
    assert!(out.contains("smtpscope check --profile mx"), "{out}");
    let (code, out) = run(&["tui", "--approved-recipient", "a@partner.test"]);
    assert_eq!(code, Some(2), "{out}");
    assert!(
        out.contains("--approved-recipient applies to a --server target only"),
        "{out}"
    );
}
