//! `check --no-require-tls` (issue 27): what F3 does in the explorer, the command line can do
//! too, so a profile that requires TLS can be checked without it, and a copied command can say
//! so.

#![allow(clippy::expect_used, clippy::unwrap_used)] // test code: a failed setup should panic loudly

mod common;
#[allow(dead_code)]
#[path = "common/hostile_server.rs"]
mod hostile_server;

use std::sync::Arc;
use std::time::Duration;

use assert_cmd::Command;
use hostile_server::{Flow, HostileServer, Tls};

fn check(config: &std::path::Path, extra: &[&str]) -> (Option<i32>, String, String) {
    let data = tempfile::tempdir().unwrap();
    let out = Command::cargo_bin("smtpscope")
        .unwrap()
        .env("SMTPSCOPE_CONFIG_DIR", config)
        .env("SMTPSCOPE_DATA_DIR", data.path())
        .env("NO_COLOR", "1")
        .args(["check", "--profile", "strict", "--scenario", "A"])
        .args(extra)
        .timeout(Duration::from_secs(60))
        .output()
        .unwrap();
    (
        out.status.code(),
        String::from_utf8_lossy(&out.stdout).into_owned(),
        String::from_utf8_lossy(&out.stderr).into_owned(),
    )
}

#[test]
fn no_require_tls_turns_off_a_profiles_require_tls() {
    let server = HostileServer::start(
        Tls::None,
        Arc::new(|_: &mut hostile_server::Peer, _, _: &[u8]| Flow::Normal),
    );
    let cfg = tempfile::tempdir().unwrap();
    std::fs::create_dir_all(cfg.path().join("profiles")).unwrap();
    std::fs::write(
        cfg.path().join("profiles/strict.toml"),
        format!(
            "server = \"{}\"\ntls = \"starttls\"\nrequire_tls = true\nhelo = \"probe.test\"\ntimeout_secs = 5\n\n[relay]\nlocal_recipient = \"postmaster@x.test\"\n",
            server.addr()
        ),
    )
    .unwrap();
    // The server offers no STARTTLS: with the profile's require_tls, nothing is tested.
    let (code, out, err) = check(cfg.path(), &[]);
    assert_ne!(code, Some(0), "{out}\n{err}");
    assert!(!out.contains("PASS         A"), "{out}");
    // --no-require-tls goes on in the clear and reaches A's verdict.
    let (code, out, err) = check(cfg.path(), &["--no-require-tls"]);
    assert_eq!(code, Some(0), "{out}\n{err}");
    assert!(
        out.contains("PASS") && out.contains("unauth-relay"),
        "{out}"
    );
    // Both at once is a usage error.
    let (code, _, err) = check(cfg.path(), &["--no-require-tls", "--require-tls"]);
    assert_eq!(code, Some(2), "{err}");
}
