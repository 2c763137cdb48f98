//! `smtpscope profiles list|show|path` and `smtpscope scenarios list|show|explain`: what they
//! print and how they exit, errors included (README "Profiles" and `--help`).

#![allow(clippy::expect_used, clippy::unwrap_used)] // test code: a failed setup should panic loudly

use std::path::Path;
use std::time::Duration;

use assert_cmd::Command;

fn run(config: &Path, args: &[&str]) -> (Option<i32>, String, String) {
    let out = Command::cargo_bin("smtpscope")
        .unwrap()
        .env("SMTPSCOPE_CONFIG_DIR", config)
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

fn config_with_profiles() -> tempfile::TempDir {
    let cfg = tempfile::tempdir().unwrap();
    let dir = cfg.path().join("profiles");
    std::fs::create_dir_all(&dir).unwrap();
    std::fs::write(
        dir.join("mx.toml"),
        "server = \"mx.example.com:25\"\ntls = \"implicit\"\n[auth]\nmechanism = \"cram-md5\"\nusername = \"alice@example.com\"\npassword = \"plain-secret-7\"\n",
    )
    .unwrap();
    std::fs::write(
        dir.join("plain.toml"),
        "server = \"relay.example.net:2525\"\n",
    )
    .unwrap();
    std::fs::write(dir.join("broken.toml"), "server = \"x\"\ntls = 5\n").unwrap();
    cfg
}

#[test]
fn profiles_path_names_the_directory() {
    let cfg = tempfile::tempdir().unwrap();
    let (code, out, err) = run(cfg.path(), &["profiles", "path"]);
    assert_eq!(code, Some(0), "{err}");
    assert_eq!(
        out.trim_end(),
        cfg.path().join("profiles").display().to_string()
    );
}

#[test]
fn profiles_list_shows_each_profile_and_each_broken_file() {
    let empty = tempfile::tempdir().unwrap();
    let (code, out, _) = run(empty.path(), &["profiles", "list"]);
    assert_eq!(code, Some(0));
    assert_eq!(
        out.trim_end(),
        format!("no profiles in {}", empty.path().join("profiles").display())
    );

    let cfg = config_with_profiles();
    let (code, out, err) = run(cfg.path(), &["profiles", "list"]);
    // A broken file is listed with its error, and makes the listing exit 2.
    assert_eq!(code, Some(2), "{out}{err}");
    let lines: Vec<&str> = out.lines().collect();
    assert_eq!(lines.len(), 3, "one line per file, sorted: {out}");
    assert!(lines[0].starts_with("broken "), "{out}");
    assert!(
        lines[0].contains(&format!(
            "BROKEN: {}:2:7: ",
            cfg.path().join("profiles/broken.toml").display()
        )),
        "{out}"
    );
    assert!(lines[1].starts_with("mx "), "{out}");
    for want in [
        "mx.example.com:25",
        "tls=implicit",
        "auth=alice@example.com (CRAM-MD5)",
    ] {
        assert!(lines[1].contains(want), "{want}: {out}");
    }
    assert!(lines[2].starts_with("plain "), "{out}");
    assert!(
        lines[2].contains("relay.example.net:2525") && lines[2].contains("auth=-"),
        "{out}"
    );
    assert!(!out.contains("plain-secret-7"), "{out}");

    // Without the broken file, the same listing exits 0.
    std::fs::remove_file(cfg.path().join("profiles/broken.toml")).unwrap();
    let (code, _, _) = run(cfg.path(), &["profiles", "list"]);
    assert_eq!(code, Some(0));
}

#[test]
fn profiles_show_prints_the_profile_never_its_password() {
    let cfg = config_with_profiles();
    let (code, out, err) = run(cfg.path(), &["profiles", "show", "mx"]);
    assert_eq!(code, Some(0), "{err}");
    assert!(
        out.starts_with("# this profile's file holds a plain password (not shown)\n"),
        "{out}"
    );
    assert!(
        out.contains("# warning: the profile holds a plain `password`"),
        "{out}"
    );
    for want in [
        "server = \"mx.example.com:25\"",
        "tls = \"implicit\"",
        "[auth]",
        "mechanism = \"cram-md5\"",
        "username = \"alice@example.com\"",
    ] {
        assert!(out.contains(want), "{want}: {out}");
    }
    assert!(!out.contains("plain-secret-7"), "{out}");
    assert!(!out.contains("password ="), "{out}");
    // What show prints is a profile: it parses back.
    let body: String = out
        .lines()
        .filter(|l| !l.starts_with('#'))
        .collect::<Vec<_>>()
        .join("\n");
    smtpscope::profile::Profile::parse(&body, Path::new("shown.toml")).expect("parses back");
}

#[test]
fn profiles_show_errors_exit_2_and_say_why() {
    let cfg = config_with_profiles();
    let profiles = cfg.path().join("profiles");
    for (name, says) in [
        (
            "nosuch",
            format!(
                "no profile \"nosuch\" (looked for {})",
                profiles.join("nosuch.toml").display()
            ),
        ),
        (
            "broken",
            format!("{}:2:7: ", profiles.join("broken.toml").display()),
        ),
        (
            "../etc",
            "\"../etc\" is not a valid profile name".to_string(),
        ),
    ] {
        let (code, out, err) = run(cfg.path(), &["profiles", "show", name]);
        assert_eq!(code, Some(2), "{name}: {out}{err}");
        assert!(err.contains(&says), "{name}: {err}");
        assert!(out.is_empty(), "{name}: {out}");
    }
}

/// Every scenario of README's table is listed by id, A/B/C by alias, with what runs by
/// default and what is opt-in; the posture checks and the user's own scenarios too.
#[test]
fn scenarios_list_shows_the_catalogue() {
    let cfg = tempfile::tempdir().unwrap();
    std::fs::create_dir_all(cfg.path().join("scenarios")).unwrap();
    std::fs::write(
        cfg.path().join("scenarios/mine.toml"),
        r#"id = "my-check"
title = "My own check"
tests = "Whether NOOP works."
why = "Because."
[fix]
summary = "Answer NOOP."
[[steps]]
send = "NOOP"
expect = "accept"
"#,
    )
    .unwrap();
    let (code, out, err) = run(cfg.path(), &["scenarios", "list"]);
    assert_eq!(code, Some(0), "{err}");
    let row = |id: &str| {
        out.lines()
            .find(|l| l.split_whitespace().any(|w| w == id))
            .unwrap_or_else(|| panic!("{id} not listed: {out}"))
            .to_string()
    };
    for (alias, id) in [
        ("A", "unauth-relay"),
        ("B", "auth-relay-approved"),
        ("C", "auth-relay-disallowed"),
    ] {
        assert!(row(id).starts_with(&format!("{alias} ")), "{out}");
        assert!(row(id).contains(" default "), "{out}");
    }
    for id in [
        "local-delivery",
        "relay-tricks",
        "starttls",
        "auth-needs-tls",
        "sender-spoofing",
        "vrfy-expn",
    ] {
        assert!(row(id).contains(" default "), "{id}: {out}");
    }
    assert!(row("smuggling").contains(" opt-in "), "{out}");
    assert!(row("posture").contains("(with --domain)"), "{out}");
    assert!(
        row("my-check").contains(" user ") && row("my-check").contains("My own check"),
        "{out}"
    );
}

#[test]
fn scenarios_show_explains_a_scenario_by_id_or_alias() {
    let cfg = tempfile::tempdir().unwrap();
    let (code, by_alias, err) = run(cfg.path(), &["scenarios", "show", "a"]);
    assert_eq!(code, Some(0), "{err}");
    for want in [
        "unauth-relay (A): Unauthenticated relay to an outside domain",
        "What it tests",
        "Why it matters",
        "Steps",
        "RCPT TO:<{external_recipient}>",
        "How to fix a failure",
        "Postfix:",
        "Exim:",
        "OpenSMTPD:",
    ] {
        assert!(by_alias.contains(want), "{want}: {by_alias}");
    }
    let (code, by_id, _) = run(cfg.path(), &["scenarios", "show", "unauth-relay"]);
    assert_eq!(code, Some(0));
    assert_eq!(by_alias, by_id);

    let (code, posture, _) = run(cfg.path(), &["scenarios", "show", "posture"]);
    assert_eq!(code, Some(0));
    for title in ["MX: ", "SPF: ", "DMARC: ", "MTA-STS", "TLS-RPT", "DKIM"] {
        assert!(posture.contains(title), "{title}: {posture}");
    }
}

#[test]
fn scenarios_explain_relay_is_relay_101() {
    let cfg = tempfile::tempdir().unwrap();
    for topic in ["relay", "RELAY", "relay-101"] {
        let (code, out, err) = run(cfg.path(), &["scenarios", "explain", topic]);
        assert_eq!(code, Some(0), "{topic}: {err}");
        assert!(out.starts_with("Relay 101"), "{topic}: {out}");
        // README: what relay is, why AUTH + TLS + scope, 554 5.7.1 vs 530 5.7.0 vs a 4xx,
        // and why a test stops before DATA.
        for want in [
            "What relay is",
            "AUTH, TLS and scope work together",
            "554 5.7.1",
            "530 5.7.0 Must issue a STARTTLS command first",
            "4xx",
            "Why a relay test stops before DATA",
        ] {
            assert!(out.contains(want), "{topic}: {want}: {out}");
        }
    }
}

#[test]
fn unknown_scenarios_and_topics_exit_2_naming_what_exists() {
    let cfg = tempfile::tempdir().unwrap();
    let (code, out, err) = run(cfg.path(), &["scenarios", "show", "Z"]);
    assert_eq!(code, Some(2), "{out}{err}");
    assert!(
        err.contains("no scenario \"Z\"; known: unauth-relay, auth-relay-approved"),
        "{err}"
    );
    assert!(out.is_empty(), "{out}");
    let (code, out, err) = run(cfg.path(), &["scenarios", "explain", "dkim"]);
    assert_eq!(code, Some(2), "{out}{err}");
    assert!(err.contains("no topic \"dkim\"; known: relay"), "{err}");
    assert!(out.is_empty(), "{out}");
}
