//! A structured value (an address, a HELO name, a scenario step) never becomes SMTP commands:
//! every field, from the command line, a profile or a scenario file, with every kind of
//! control byte or an overlong value, is refused before connecting (exit 2), naming the field.

#![allow(clippy::expect_used, clippy::unwrap_used)] // test code: a failed setup should panic loudly

use std::net::TcpListener;
use std::time::Duration;

use assert_cmd::Command;

/// A listener that must stay untouched: the value is refused before any connection.
fn untouched() -> TcpListener {
    let l = TcpListener::bind("127.0.0.1:0").unwrap();
    l.set_nonblocking(true).unwrap();
    l
}

fn assert_nothing_sent(l: &TcpListener, what: &str) {
    match l.accept() {
        Err(e) if e.kind() == std::io::ErrorKind::WouldBlock => {}
        Ok(_) => panic!("{what}: smtpscope connected although the value was refused"),
        Err(e) => panic!("{what}: {e}"),
    }
}

fn run(config: &std::path::Path, args: &[&str]) -> (Option<i32>, String) {
    let out = Command::cargo_bin("smtpscope")
        .unwrap()
        .env("SMTPSCOPE_CONFIG_DIR", config)
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

/// Payloads that would inject, or break a limit; the expected words in the error.
fn payloads() -> Vec<(String, &'static str)> {
    vec![
        (
            "x@y.example>\r\nRSET\r\nMAIL FROM:<x@y".into(),
            "a CR (\\r)",
        ),
        ("x@y.example\nRSET".into(), "an LF (\\n)"),
        ("x@y.exa\u{1b}]0;title\u{7}mple".into(), "an ESC (\\x1b)"),
        (format!("{}@y.example", "l".repeat(65)), "at most 64"),
    ]
}

#[test]
fn command_line_fields_are_refused_naming_the_flag() {
    let config = tempfile::tempdir().unwrap();
    let l = untouched();
    let server = l.local_addr().unwrap().to_string();
    let base = ["--server", server.as_str(), "--tls", "none"];
    let session_flags = ["--from", "--to", "--helo"];
    let check_flags = [
        "--helo",
        "--local-recipient",
        "--external-sender",
        "--external-recipient",
        "--approved-recipient",
        "--disallowed-recipient",
        "--other-local-sender",
        "--auth-sender",
    ];
    let mut cases = 0;
    for (value, says) in payloads() {
        for (sub, flags) in [("session", &session_flags[..]), ("check", &check_flags[..])] {
            for flag in flags {
                // A HELO name has no local part: its limit is the domain's.
                let value = if *flag == "--helo" && says == "at most 64" {
                    "h".repeat(256)
                } else {
                    value.clone()
                };
                let says = if *flag == "--helo" && says == "at most 64" {
                    "at most 255"
                } else {
                    says
                };
                let mut args = vec![sub];
                args.extend(base);
                args.extend([*flag, value.as_str()]);
                let (code, out) = run(config.path(), &args);
                assert_eq!(code, Some(2), "{sub} {flag} {value:?}: {out}");
                assert!(
                    out.contains(&format!("{flag} ")),
                    "{sub} {flag}: names the flag: {out}"
                );
                assert!(out.contains(says), "{sub} {flag} {value:?}: {out}");
                cases += 1;
            }
        }
    }
    assert_eq!(cases, 4 * 11);
    assert_nothing_sent(&l, "flags");
}

#[test]
fn profile_fields_are_refused_naming_the_setting() {
    let config = tempfile::tempdir().unwrap();
    std::fs::create_dir_all(config.path().join("profiles")).unwrap();
    let l = untouched();
    let server = l.local_addr().unwrap().to_string();
    // TOML escapes carry each control byte into the profile, NUL included.
    for (escaped, says) in [
        ("x@y.example\\r\\nRSET", "a CR (\\r)"),
        ("x@y.example\\nRSET", "an LF (\\n)"),
        ("x@y\\u0000.example", "a NUL (\\0)"),
        ("x@y\\u001b.example", "an ESC (\\x1b)"),
    ] {
        for (setting, toml) in [
            ("helo", format!("helo = \"{escaped}\"\n")),
            (
                "[relay] external_recipient",
                format!("[relay]\nexternal_recipient = \"{escaped}\"\n"),
            ),
            (
                "[relay] local_recipient",
                format!("[relay]\nlocal_recipient = \"{escaped}\"\n"),
            ),
        ] {
            std::fs::write(
                config.path().join("profiles/p.toml"),
                format!("server = \"{server}\"\ntls = \"none\"\n{toml}"),
            )
            .unwrap();
            for sub in ["check", "session"] {
                let (code, out) = run(config.path(), &[sub, "--profile", "p"]);
                assert_eq!(code, Some(2), "{sub} {setting}: {out}");
                assert!(
                    out.contains(&format!("profile p: {setting} ")),
                    "{sub}: {out}"
                );
                assert!(out.contains(says), "{sub} {setting}: {out}");
            }
        }
    }
    assert_nothing_sent(&l, "profile");
}

#[test]
fn a_scenario_step_with_a_control_byte_does_not_load() {
    let config = tempfile::tempdir().unwrap();
    std::fs::create_dir_all(config.path().join("scenarios")).unwrap();
    std::fs::write(
        config.path().join("scenarios/bad.toml"),
        "id = \"bad-step\"\ntitle = \"x\"\ntests = \"t\"\nwhy = \"w\"\n[fix]\nsummary = \"s\"\n[[steps]]\nsend = \"NOOP\\u0000RSET\"\nexpect = \"accept\"\n",
    )
    .unwrap();
    let l = untouched();
    let server = l.local_addr().unwrap().to_string();
    let (code, out) = run(
        config.path(),
        &[
            "check",
            "--server",
            &server,
            "--tls",
            "none",
            "--scenario",
            "bad-step",
        ],
    );
    assert_eq!(code, Some(2), "{out}");
    assert!(
        out.contains("bad.toml: step 1: `send` holds a NUL (\\0)"),
        "{out}"
    );
    assert_nothing_sent(&l, "scenario");
}

/// A domain or a name to verify the certificate against is checked before anything connects
/// (it used to go through EHLO and STARTTLS first, then fail without naming the flag), from
/// the command line and from a profile alike.
#[test]
fn domain_and_tls_names_are_refused_before_connecting() {
    let config = tempfile::tempdir().unwrap();
    let bad_names = [
        ("", "is empty"),
        (".", "only the root"),
        ("a b.example", "is not allowed"),
        ("bücher.example", "A-label"),
        ("x\u{1b}]0;t\u{7}.example", "an ESC (\\x1b)"),
    ];
    for (value, says) in bad_names {
        let l = untouched();
        let server = l.local_addr().unwrap().to_string();
        let (code, out) = run(
            config.path(),
            &[
                "session",
                "--server",
                &server,
                "--tls-name",
                value,
                "--to",
                "a@b.example",
            ],
        );
        assert_eq!(code, Some(2), "--tls-name {value:?}: {out}");
        assert!(
            out.contains("--tls-name") && out.contains(says),
            "--tls-name {value:?}: {out}"
        );
        assert_nothing_sent(&l, &format!("--tls-name {value:?}"));
        let (code, out) = run(config.path(), &["check", "--domain", value]);
        assert_eq!(code, Some(2), "--domain {value:?}: {out}");
        assert!(
            out.contains("--domain") && out.contains(says),
            "--domain {value:?}: {out}"
        );
        // Never echoed raw.
        assert!(!out.contains('\u{1b}'), "{out}");
    }
    let l = untouched();
    std::fs::create_dir_all(config.path().join("profiles")).unwrap();
    std::fs::write(
        config.path().join("profiles/bad.toml"),
        format!(
            "server = \"{}\"\ntls_name = \"a b\"\n",
            l.local_addr().unwrap()
        ),
    )
    .unwrap();
    let (code, out) = run(
        config.path(),
        &["check", "--profile", "bad", "--scenario", "A"],
    );
    assert_eq!(code, Some(2), "{out}");
    assert!(out.contains("profile bad: tls_name"), "{out}");
    assert_nothing_sent(&l, "profile tls_name");
}
