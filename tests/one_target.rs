//! One profile, three front ends, one answer: `check`, `session` and the TUI resolve the same
//! profile to the same target, or fail with the same error.

#![allow(clippy::expect_used, clippy::unwrap_used)] // test code: a failed setup should panic loudly

use std::path::Path;
use std::time::Duration;

use assert_cmd::Command;
use clap::Parser;
use smtpscope::cli::{Cli, Cmd};
use smtpscope::profile::Profile;
use smtpscope::target::{PasswordSource, ResolvedTarget, TargetError};
use smtpscope::tui::message::{Effect, NetEvent, Target};
use smtpscope::tui::state::Toggles;

/// The profiles of the table, by name.
const PROFILES: &[(&str, &str)] = &[
    (
        "plain",
        "server = \"127.0.0.1:2525\"\nhelo = \"probe.test\"\ntimeout_secs = 5000\n",
    ),
    (
        "domain",
        "domain = \"good.example\"\ndns_server = \"127.0.0.1:5399\"\nmx_port = 2526\ntls_name = \"localhost\"\n",
    ),
    (
        "require-tls-none",
        "server = \"127.0.0.1:2525\"\ntls = \"none\"\nrequire_tls = true\n",
    ),
    (
        "timeout-too-long",
        "server = \"127.0.0.1:2525\"\ntimeout_secs = 100000\n",
    ),
    (
        "timeout-negative",
        "server = \"127.0.0.1:2525\"\ntimeout_secs = -1\n",
    ),
    (
        "tls-pinning",
        "server = \"127.0.0.1:2525\"\ntls_min = \"1.3\"\ntls_max = \"1.3\"\nno_sni = true\ntls_name = \"mx.test\"\n",
    ),
    (
        "tls-min-over-max",
        "server = \"127.0.0.1:2525\"\ntls_min = \"1.3\"\ntls_max = \"1.2\"\n",
    ),
    (
        "client-cert-alone",
        "server = \"127.0.0.1:2525\"\ntls_cert = \"/nonexistent/client.pem\"\n",
    ),
    (
        "client-cert-missing",
        "server = \"127.0.0.1:2525\"\ntls_cert = \"/nonexistent/client.pem\"\ntls_key = \"/nonexistent/client.key\"\n",
    ),
    (
        "password-env-unset",
        "server = \"127.0.0.1:2525\"\n[auth]\nmechanism = \"plain\"\nusername = \"alice\"\npassword_env = \"SMTPSCOPE_TEST_ONE_TARGET_UNSET\"\n",
    ),
];

fn profile(name: &str) -> Profile {
    let text = PROFILES.iter().find(|(n, _)| *n == name).unwrap().1;
    Profile::parse(text, Path::new(name)).unwrap()
}

/// What a resolution decided, in a form that compares, secrets left out; or the error. The
/// secret is read as the front end would before connecting.
fn fingerprint(r: Result<ResolvedTarget, TargetError>) -> String {
    match r {
        Err(e) => format!("error: {e}"),
        Ok(r) => {
            let creds = r.credentials.as_ref().map(|c| {
                let source = match &c.password {
                    PasswordSource::Env(v) => format!("env {v}"),
                    PasswordSource::File(p) => format!("file {}", p.display()),
                    PasswordSource::Command(a) => format!("command {a:?}"),
                    PasswordSource::Given(_) => "given".into(),
                    PasswordSource::Prompt => "prompt".into(),
                };
                (c.mechanism, c.username.clone(), source)
            });
            let read = match r.read_credentials() {
                Ok(c) => format!("read ok: {}", c.is_some()),
                Err(e) => format!("read error: {e}"),
            };
            format!(
                "{:?}\n{:?}\n{:?}\n{:?}\n{:?}\nhelo {}\ndomain {:?} dns {:?}\ncreds {creds:?} {read}\n{:?}",
                r.endpoint,
                r.opts.target,
                r.opts.tls_mode,
                r.opts.tls,
                r.opts.timeouts,
                r.helo,
                r.domain,
                r.dns_server,
                r.relay
            )
        }
    }
}

fn cli(argv: &[&str], profile_name: &str, p: &Profile) -> String {
    let cli = Cli::try_parse_from(argv).expect("flags parse");
    let (t, a, r, may_prompt) = match cli.command {
        Some(Cmd::Check(args)) => (args.target, args.auth, args.relay, false),
        Some(Cmd::Session(args)) => (
            args.target,
            args.auth,
            smtpscope::cli::RelayArgs::default(),
            true,
        ),
        other => panic!("{other:?}"),
    };
    let o = smtpscope::commands::target::overrides(&t, &a, &r, may_prompt).expect("flags");
    fingerprint(smtpscope::target::resolve(Some((profile_name, p)), &o))
}

fn tui(profile_name: &str, p: &Profile) -> String {
    let target = Target {
        profile_name: profile_name.into(),
        toggles: Toggles::from_profile(p),
        profile: p.clone(),
        password: None,
    };
    fingerprint(smtpscope::tui::worker::resolve(&target))
}

#[test]
fn every_front_end_resolves_a_profile_the_same_way() {
    for (name, _) in PROFILES {
        let p = profile(name);
        let check = cli(&["smtpscope", "check", "--profile", name], name, &p);
        let session = cli(&["smtpscope", "session", "--profile", name], name, &p);
        let tui = tui(name, &p);
        assert_eq!(check, session, "{name}: check vs session");
        assert_eq!(check, tui, "{name}: check vs the TUI");
    }
    // The table is not vacuous: it holds successes and each kind of error.
    let plain = tui("plain", &profile("plain"));
    assert!(plain.contains("port: 2525"), "{plain}");
    assert!(plain.contains("reply: 5000s"), "{plain}");
    assert!(plain.contains("session: 600s"), "{plain}");
    let domain = tui("domain", &profile("domain"));
    assert!(domain.contains("Mx { domain: \"good.example\""), "{domain}");
    assert!(domain.contains("port: 2526"), "{domain}");
    assert!(domain.contains("127.0.0.1:5399"), "{domain}");
    let pinned = tui("tls-pinning", &profile("tls-pinning"));
    assert!(pinned.contains("no_sni: true"), "{pinned}");
    assert!(
        pinned.contains("min_version: Some(Tls13), max_version: Some(Tls13)"),
        "{pinned}"
    );
    for (name, error) in [
        (
            "tls-min-over-max",
            "error: tls-min TLSv1.3 is newer than tls-max TLSv1.2",
        ),
        (
            "client-cert-alone",
            "error: tls-cert was given alone: a client certificate needs both --tls-cert and --tls-key",
        ),
        (
            "client-cert-missing",
            "error: tls_cert /nonexistent/client.pem: no such file",
        ),
        (
            "require-tls-none",
            "error: require-tls contradicts TLS mode none",
        ),
        (
            "timeout-too-long",
            "error: timeout must be more than 0 and at most 86400 seconds, not 100000",
        ),
        (
            "timeout-negative",
            "error: timeout must be more than 0 and at most 86400 seconds, not -1",
        ),
    ] {
        assert_eq!(tui(name, &profile(name)), error);
    }
    assert!(
        tui("password-env-unset", &profile("password-env-unset")).contains(
            "read error: environment variable SMTPSCOPE_TEST_ONE_TARGET_UNSET is not set"
        )
    );
}

/// The same errors, end to end: the binaries' messages and exit codes, and the TUI's worker.
#[test]
fn errors_read_the_same_from_every_front_end() {
    let config = tempfile::tempdir().unwrap();
    let dir = config.path().join("profiles");
    std::fs::create_dir_all(&dir).unwrap();
    for (name, text) in PROFILES {
        std::fs::write(dir.join(format!("{name}.toml")), text).unwrap();
    }
    let rt = tokio::runtime::Builder::new_multi_thread()
        .worker_threads(2)
        .enable_all()
        .build()
        .unwrap();
    for (name, message) in [
        ("require-tls-none", "require-tls contradicts TLS mode none"),
        (
            "timeout-too-long",
            "timeout must be more than 0 and at most 86400 seconds, not 100000",
        ),
        (
            "password-env-unset",
            "environment variable SMTPSCOPE_TEST_ONE_TARGET_UNSET is not set",
        ),
    ] {
        for sub in ["check", "session"] {
            let out = Command::cargo_bin("smtpscope")
                .unwrap()
                .env("SMTPSCOPE_CONFIG_DIR", config.path())
                .env_remove("SMTPSCOPE_TEST_ONE_TARGET_UNSET")
                .args([sub, "--profile", name])
                .timeout(Duration::from_secs(30))
                .output()
                .unwrap();
            let stderr = String::from_utf8_lossy(&out.stderr);
            assert!(stderr.contains(message), "{sub} {name}: {stderr}");
            assert_eq!(out.status.code(), Some(2), "{sub} {name}: {stderr}");
        }
        let p = profile(name);
        let target = Target {
            profile_name: name.to_string(),
            toggles: Toggles::from_profile(&p),
            profile: p,
            password: None,
        };
        let error = rt.block_on(async {
            let (effect_tx, effect_rx) = tokio::sync::mpsc::unbounded_channel();
            let (net_tx, mut net_rx) = tokio::sync::mpsc::unbounded_channel();
            let (_abort_tx, abort_rx) = tokio::sync::watch::channel(0u64);
            tokio::spawn(
                smtpscope::tui::worker::Worker::new(net_tx, std::env::temp_dir())
                    .run(effect_rx, abort_rx),
            );
            let scenario = smtpscope::scenario::Catalogue::built_in()
                .find("C")
                .cloned()
                .unwrap();
            effect_tx
                .send(Effect::StartScenario {
                    target: Box::new(target),
                    scenario: Box::new(scenario),
                    control: None,
                    run_all: false,
                })
                .unwrap();
            let deadline = tokio::time::Instant::now() + Duration::from_secs(10);
            while let Ok(Some(ev)) = tokio::time::timeout_at(deadline, net_rx.recv()).await {
                if let NetEvent::Error(e) = ev {
                    return e.to_string();
                }
            }
            String::from("no error reported")
        });
        assert!(error.contains(message), "TUI {name}: {error}");
    }
}

/// A hand-typed AUTH in the TUI runs `password_command` once, not once per check along the way.
#[test]
fn a_typed_auth_reads_the_password_once() {
    use smtpscope::lab::{Lab, LabConfig, Policy};
    let rt = tokio::runtime::Builder::new_multi_thread()
        .worker_threads(2)
        .enable_all()
        .build()
        .unwrap();
    let lab = rt
        .block_on(Lab::start(
            LabConfig {
                listen: "127.0.0.1:0".parse().unwrap(),
                policy: Policy::Secure,
                misbehave: vec![],
                store_dir: None,
            },
            None,
        ))
        .expect("lab");
    let dir = tempfile::tempdir().unwrap();
    let counter = dir.path().join("reads");
    let text = format!(
        "server = \"{}\"\nca_file = \"{}\"\ntls_name = \"localhost\"\nhelo = \"probe.test\"\n[auth]\nmechanism = \"plain\"\nusername = \"alice\"\npassword_command = [\"sh\", \"-c\", \"echo read >> '{}'; echo alice-lab-password\"]\n",
        lab.addr,
        lab.ca_path.display(),
        counter.display()
    );
    let p = Profile::parse(&text, Path::new("counted.toml")).unwrap();
    let target = || {
        Box::new(Target {
            profile_name: "counted".into(),
            toggles: Toggles::from_profile(&p),
            profile: p.clone(),
            password: None,
        })
    };
    let seen = rt.block_on(async {
        let (effect_tx, effect_rx) = tokio::sync::mpsc::unbounded_channel();
        let (net_tx, mut net_rx) = tokio::sync::mpsc::unbounded_channel();
        let (_abort_tx, abort_rx) = tokio::sync::watch::channel(0u64);
        tokio::spawn(
            smtpscope::tui::worker::Worker::new(net_tx, std::env::temp_dir())
                .run(effect_rx, abort_rx),
        );
        let mut seen = Vec::new();
        for bytes in [
            &b"EHLO probe.test\r\n"[..],
            b"STARTTLS\r\n",
            b"EHLO probe.test\r\n",
        ] {
            effect_tx
                .send(Effect::Manual {
                    target: target(),
                    bytes: bytes.to_vec(),
                })
                .unwrap();
        }
        effect_tx
            .send(Effect::ManualAuth {
                target: target(),
                mechanism: smtpscope::smtp::auth::Mechanism::Plain,
            })
            .unwrap();
        let deadline = tokio::time::Instant::now() + Duration::from_secs(15);
        let mut idles = 0;
        while let Ok(Some(ev)) = tokio::time::timeout_at(deadline, net_rx.recv()).await {
            match ev {
                NetEvent::Entry(e) => seen.extend(smtpscope::transcript::render_entry(&e)),
                NetEvent::Error(e) => seen.push(format!("error: {e}")),
                NetEvent::Idle => {
                    idles += 1;
                    if idles == 4 {
                        break;
                    }
                }
                _ => {}
            }
        }
        seen.join("\n")
    });
    assert!(seen.contains("S: 235"), "AUTH succeeded: {seen}");
    let reads = std::fs::read_to_string(&counter).unwrap_or_default();
    assert_eq!(
        reads.lines().count(),
        1,
        "password_command runs: {reads:?}\n{seen}"
    );
}
