//! TLS diagnostics against a real Postfix serving certificates made here with rcgen: the
//! chain as sent (complete, missing intermediate, expired, wrong name, two days left), the
//! verification reason, which TLS versions are accepted (Postfix limited to TLS 1.3; a
//! loopback `openssl s_server -tls1` behind a STARTTLS shim that speaks only TLS 1.0), and a
//! client certificate that Postfix verifies.

#![allow(clippy::expect_used, clippy::unwrap_used)] // test code: a failed setup should panic loudly

mod common;

use std::io::{BufRead, BufReader, Read, Write};
use std::net::{TcpListener, TcpStream};
use std::path::{Path, PathBuf};
use std::process::{Child, Command as StdCommand, Stdio};
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::{Arc, OnceLock};
use std::time::{Duration, Instant};

use assert_cmd::Command;
use common::postfix::Postfix;
use rcgen::{
    BasicConstraints, CertificateParams, DnType, ExtendedKeyUsagePurpose, IsCa, Issuer, KeyPair,
    KeyUsagePurpose,
};
use serde_json::Value;

/// Listener indexes in [`Fixture::postfix`]'s `extra_ports`.
const GOOD: usize = 0;
const MISSING_INTERMEDIATE: usize = 1;
const EXPIRED: usize = 2;
const WRONG_NAME: usize = 3;
const TWO_DAYS: usize = 4;
const TLS13_ONLY: usize = 5;
const ASK_CLIENT_CERT: usize = 6;
/// Postfix's default `smtpd_tls_protocols` (`!SSLv2, !SSLv3`): TLS 1.0 and 1.1 not excluded.
const DEFAULT_PROTOCOLS: usize = 7;

struct Fixture {
    postfix: Postfix,
    /// Holds every PEM below; removed after Postfix (declared after it).
    dir: tempfile::TempDir,
    root_ca: PathBuf,
    good_leaf_der: Vec<u8>,
    client_cert: PathBuf,
    client_key: PathBuf,
}

fn ca_params(cn: &str) -> CertificateParams {
    let mut p = CertificateParams::new(Vec::<String>::new()).unwrap();
    p.distinguished_name.push(DnType::CommonName, cn);
    p.is_ca = IsCa::Ca(BasicConstraints::Unconstrained);
    p.key_usages = vec![
        KeyUsagePurpose::KeyCertSign,
        KeyUsagePurpose::CrlSign,
        KeyUsagePurpose::DigitalSignature,
    ];
    p.not_before = rcgen::date_time_ymd(2020, 1, 1);
    p.not_after = rcgen::date_time_ymd(2100, 1, 1);
    p
}

fn leaf_params(
    names: &[&str],
    until: (i32, u8, u8),
    purpose: ExtendedKeyUsagePurpose,
) -> CertificateParams {
    let mut p =
        CertificateParams::new(names.iter().map(|s| s.to_string()).collect::<Vec<_>>()).unwrap();
    p.distinguished_name.push(DnType::CommonName, names[0]);
    p.is_ca = IsCa::ExplicitNoCa;
    p.key_usages = vec![KeyUsagePurpose::DigitalSignature];
    p.extended_key_usages = vec![purpose];
    p.use_authority_key_identifier_extension = true;
    p.not_before = rcgen::date_time_ymd(2020, 1, 1);
    p.not_after = rcgen::date_time_ymd(until.0, until.1, until.2);
    p
}

fn write(dir: &Path, name: &str, text: &str) -> PathBuf {
    let path = dir.join(name);
    std::fs::write(&path, text).unwrap();
    path
}

/// A midnight `days` from today (UTC), as rcgen wants it.
fn days_from_now(days: i64) -> (i32, u8, u8) {
    let d = jiff::Timestamp::now()
        .checked_add(jiff::SignedDuration::from_hours(24 * days))
        .unwrap()
        .to_zoned_datetime(jiff::tz::TimeZone::UTC)
        .date();
    (i32::from(d.year()), d.month() as u8, d.day() as u8)
}

fn fixture() -> Option<&'static Fixture> {
    static FIXTURE: OnceLock<Option<Fixture>> = OnceLock::new();
    FIXTURE
        .get_or_init(|| {
            let dir = tempfile::tempdir().unwrap();
            let d = dir.path();
            let root_key = KeyPair::generate().unwrap();
            let root_params = ca_params("smtpscope diag root");
            let root_cert = root_params.self_signed(&root_key).unwrap();
            let root = Issuer::new(root_params, root_key);
            let inter_key = KeyPair::generate().unwrap();
            let inter_params = ca_params("smtpscope diag intermediate");
            let inter_cert = inter_params.signed_by(&inter_key, &root).unwrap();
            let inter = Issuer::new(inter_params, inter_key);
            let root_ca = write(d, "root.pem", &root_cert.pem());

            let server = ExtendedKeyUsagePurpose::ServerAuth;
            let leaf = |name: &str, names: &[&str], until, chain: bool| {
                let key = KeyPair::generate().unwrap();
                let cert = leaf_params(names, until, server.clone())
                    .signed_by(&key, &inter)
                    .unwrap();
                let mut pem = cert.pem();
                if chain {
                    pem.push_str(&inter_cert.pem());
                }
                let cert_path = write(d, &format!("{name}.pem"), &pem);
                let key_path = write(d, &format!("{name}.key"), &key.serialize_pem());
                (cert_path, key_path, cert.der().to_vec())
            };
            let names = ["localhost", "mail.lab.example"];
            let good = leaf("good", &names, (2100, 1, 1), true);
            let missing = leaf("missing", &names, (2100, 1, 1), false);
            let expired = leaf("expired", &names, (2021, 1, 1), true);
            let wrong = leaf("wrong", &["other.example"], (2100, 1, 1), true);
            // Midnight three days ahead: two whole days and some hours left.
            let soon = leaf("soon", &names, days_from_now(3), true);

            // The client certificate, from its own CA, which Postfix is told to trust.
            let client_ca_key = KeyPair::generate().unwrap();
            let client_ca_params = ca_params("smtpscope diag client CA");
            let client_ca_cert = client_ca_params.self_signed(&client_ca_key).unwrap();
            let client_ca = Issuer::new(client_ca_params, client_ca_key);
            let client_key = KeyPair::generate().unwrap();
            let client_cert = leaf_params(
                &["probe.client.test"],
                (2100, 1, 1),
                ExtendedKeyUsagePurpose::ClientAuth,
            )
            .signed_by(&client_key, &client_ca)
            .unwrap();
            let client_ca_path = write(d, "client-ca.pem", &client_ca_cert.pem());
            let client_cert_path = write(d, "client.pem", &client_cert.pem());
            let client_key_path = write(d, "client.key", &client_key.serialize_pem());

            let tls = |(cert, key, _): &(PathBuf, PathBuf, Vec<u8>)| {
                vec![
                    format!("smtpd_tls_cert_file={}", cert.display()),
                    format!("smtpd_tls_key_file={}", key.display()),
                ]
            };
            let mut tls13 = tls(&good);
            tls13.push("smtpd_tls_protocols=>=TLSv1.3".into());
            let mut ccert = tls(&good);
            ccert.extend([
                "smtpd_tls_ask_ccert=yes".to_string(),
                format!("smtpd_tls_CAfile={}", client_ca_path.display()),
                "smtpd_tls_loglevel=1".into(),
                "syslog_name=postfix/ccert".into(),
            ]);
            // The fixture's main.cf says >=TLSv1.2; this listener goes back to the default.
            let mut legacy = tls(&good);
            legacy.push("smtpd_tls_protocols=!SSLv2,!SSLv3".into());
            let mut modern = tls(&good);
            modern.push("smtpd_tls_protocols=>=TLSv1.2".into());
            let listeners = vec![
                modern,
                tls(&missing),
                tls(&expired),
                tls(&wrong),
                tls(&soon),
                tls13,
                ccert,
                legacy,
            ];
            let postfix = match Postfix::start_with(listeners) {
                Ok(Some(p)) => p,
                Ok(None) => {
                    let why = common::postfix::missing_requirements()
                        .unwrap_or_else(|| "postfix not installed".into());
                    if std::env::var("CI").is_ok_and(|v| v == "true") {
                        panic!("CI requires Postfix: {why}");
                    }
                    common::skips::skipped("tls_diagnostics", &why);
                    return None;
                }
                Err(e) => panic!("starting Postfix: {e}"),
            };
            Some(Fixture {
                postfix,
                dir,
                root_ca,
                good_leaf_der: good.2,
                client_cert: client_cert_path,
                client_key: client_key_path,
            })
        })
        .as_ref()
}

fn smtpscope(fx: &Fixture, args: &[&str]) -> (i32, Value, String) {
    let cfg = fx.dir.path().join("config");
    let mut cmd = Command::cargo_bin("smtpscope").unwrap();
    cmd.timeout(Duration::from_secs(90));
    cmd.env("SMTPSCOPE_CONFIG_DIR", &cfg);
    cmd.args(args);
    let out = cmd.output().unwrap();
    let stdout = String::from_utf8_lossy(&out.stdout).into_owned();
    let stderr = String::from_utf8_lossy(&out.stderr).into_owned();
    let doc = serde_json::from_str(&stdout)
        .unwrap_or_else(|e| panic!("{e}: stdout {stdout:?} stderr {stderr:?}"));
    (out.status.code().unwrap_or(-1), doc, stderr)
}

fn server(port: u16) -> String {
    format!("127.0.0.1:{port}")
}

/// `check --scenario starttls` on a port: the scenario's result.
fn check_starttls(fx: &Fixture, port: u16, extra: &[&str]) -> Value {
    let srv = server(port);
    let ca = fx.root_ca.display().to_string();
    let mut args = vec![
        "check",
        "--server",
        &srv,
        "--tls-name",
        "localhost",
        "--ca-file",
        &ca,
        "--helo",
        "probe.test",
        "--scenario",
        "starttls",
        "--format",
        "json",
    ];
    args.extend_from_slice(extra);
    let (_, doc, err) = smtpscope(fx, &args);
    let result = doc["results"]
        .as_array()
        .unwrap()
        .iter()
        .find(|r| r["id"] == "starttls")
        .unwrap_or_else(|| panic!("no starttls result: {doc} {err}"));
    result.clone()
}

fn step<'a>(result: &'a Value, name: &str) -> &'a Value {
    result["steps"]
        .as_array()
        .unwrap()
        .iter()
        .find(|s| s["name"] == name)
        .unwrap_or_else(|| panic!("no step {name:?} in {result:#}"))
}

fn verdict_and_reason(result: &Value, name: &str) -> (String, String) {
    let s = step(result, name);
    (
        s["verdict"].as_str().unwrap().to_string(),
        s["reason"].as_str().unwrap().to_string(),
    )
}

/// `session --quit-after tls --format json` on a port.
fn session_tls(fx: &Fixture, port: u16, extra: &[&str]) -> (i32, Value) {
    let srv = server(port);
    let ca = fx.root_ca.display().to_string();
    let mut args = vec![
        "session",
        "--server",
        &srv,
        "--tls-name",
        "localhost",
        "--ca-file",
        &ca,
        "--helo",
        "probe.test",
        "--quit-after",
        "tls",
        "--format",
        "json",
    ];
    args.extend_from_slice(extra);
    let (code, doc, _) = smtpscope(fx, &args);
    (code, doc)
}

#[test]
fn complete_chain_is_listed_certificate_by_certificate() {
    let Some(fx) = fixture() else { return };
    let port = fx.postfix.extra_ports[GOOD];
    let (code, doc) = session_tls(fx, port, &[]);
    assert_eq!(code, 0, "{doc:#}");
    let tls = &doc["tls"];
    let chain = tls["chain"].as_array().unwrap();
    assert_eq!(chain.len(), 2, "leaf and intermediate: {tls:#}");
    let leaf = &chain[0];
    assert!(leaf["subject"].as_str().unwrap().contains("localhost"));
    assert!(
        leaf["issuer"]
            .as_str()
            .unwrap()
            .contains("smtpscope diag intermediate")
    );
    let sans: Vec<&str> = leaf["sans"]
        .as_array()
        .unwrap()
        .iter()
        .map(|s| s.as_str().unwrap())
        .collect();
    assert_eq!(sans, ["DNS:localhost", "DNS:mail.lab.example"]);
    assert_eq!(leaf["key"], "EC P-256");
    assert_eq!(leaf["signature_algorithm"], "ecdsa-with-SHA256");
    assert_eq!(leaf["is_ca"], false);
    assert!(leaf["days_left"].as_i64().unwrap() > 365 * 50, "{leaf:#}");
    let digest = ring::digest::digest(&ring::digest::SHA256, &fx.good_leaf_der);
    let want: Vec<String> = digest.as_ref().iter().map(|b| format!("{b:02X}")).collect();
    assert_eq!(leaf["sha256"], want.join(":"));
    assert_eq!(chain[1]["is_ca"], true);
    assert!(
        chain[1]["subject"]
            .as_str()
            .unwrap()
            .contains("intermediate")
    );
    assert!(chain[1]["issuer"].as_str().unwrap().contains("diag root"));
    assert_eq!(tls["chain_check"]["in_order"], true);
    assert_eq!(tls["chain_check"]["complete"], true);
    assert_eq!(tls["verification"]["verified"], true);
    assert!(
        tls["verification"]["trust"]
            .as_str()
            .unwrap()
            .contains(&fx.root_ca.display().to_string()),
        "the CA file that verified it is named: {tls:#}"
    );
    // Postfix does not staple OCSP.
    assert_eq!(tls["ocsp"]["present"], false);

    let result = check_starttls(fx, port, &[]);
    assert_eq!(result["verdict"], "pass", "{result:#}");
    let (v, why) = verdict_and_reason(&result, "certificate chain complete and in order");
    assert_eq!(v, "pass");
    assert!(why.contains("2 certificate(s) sent, in order"), "{why}");
    let (v, why) = verdict_and_reason(&result, "certificate not about to expire");
    assert_eq!(v, "pass", "{why}");
    // The chain itself travels with its step, and --verbose prints it.
    let shown = step(&result, "certificate chain complete and in order")["reply"]["text"]
        .as_str()
        .unwrap()
        .to_string();
    assert!(shown.contains("#2 CA certificate"), "{shown}");
    let srv = server(port);
    let ca = fx.root_ca.display().to_string();
    let mut cmd = Command::cargo_bin("smtpscope").unwrap();
    cmd.timeout(Duration::from_secs(90));
    cmd.env("SMTPSCOPE_CONFIG_DIR", fx.dir.path().join("config"));
    cmd.args([
        "check",
        "--server",
        &srv,
        "--tls-name",
        "localhost",
        "--ca-file",
        &ca,
    ]);
    cmd.args([
        "--helo",
        "probe.test",
        "--scenario",
        "starttls",
        "--verbose",
    ]);
    let out = cmd.output().unwrap();
    let text = String::from_utf8_lossy(&out.stdout);
    for want in [
        "| #1 server certificate",
        "|    names     DNS:localhost, DNS:mail.lab.example",
        "|    key       EC P-256, signed with ecdsa-with-SHA256",
        &format!("|    sha256    {}", want.join(":")),
        "| chain: 2 certificate(s), in order, complete",
        "| no OCSP response stapled",
    ] {
        assert!(text.contains(want), "{want:?} in:\n{text}");
    }
}

#[test]
fn missing_intermediate_is_named() {
    let Some(fx) = fixture() else { return };
    let port = fx.postfix.extra_ports[MISSING_INTERMEDIATE];
    let (code, doc) = session_tls(fx, port, &[]);
    assert_eq!(code, 4, "TLS failed: {doc:#}");
    let rejected = &doc["tls_rejected"];
    assert_eq!(
        rejected["chain"].as_array().unwrap().len(),
        1,
        "{rejected:#}"
    );
    let problem = &rejected["verification"]["problem"];
    assert_eq!(problem["kind"], "missing-intermediate", "{rejected:#}");
    assert!(problem["issuer"].as_str().unwrap().contains("intermediate"));
    assert_eq!(rejected["chain_check"]["complete"], false);

    let result = check_starttls(fx, port, &[]);
    assert_eq!(result["verdict"], "fail");
    let (v, why) = verdict_and_reason(&result, "certificate verifies");
    assert_eq!(v, "fail");
    assert!(why.contains("missing intermediate"), "{why}");
    let (v, why) = verdict_and_reason(&result, "certificate chain complete and in order");
    assert_eq!(v, "fail");
    assert!(why.contains("was not sent"), "{why}");
}

#[test]
fn expired_certificate_gives_its_dates() {
    let Some(fx) = fixture() else { return };
    let port = fx.postfix.extra_ports[EXPIRED];
    let (code, doc) = session_tls(fx, port, &[]);
    assert_eq!(code, 4);
    let problem = &doc["tls_rejected"]["verification"]["problem"];
    assert_eq!(problem["kind"], "expired", "{doc:#}");
    assert!(
        problem["not_after"]
            .as_str()
            .unwrap()
            .starts_with("2021-01-01")
    );
    assert!(
        doc["tls_rejected"]["chain"][0]["days_left"]
            .as_i64()
            .unwrap()
            < 0
    );

    let result = check_starttls(fx, port, &[]);
    let (v, why) = verdict_and_reason(&result, "certificate verifies");
    assert_eq!(v, "fail");
    assert!(why.contains("expired on 2021-01-01"), "{why}");
    let (v, why) = verdict_and_reason(&result, "certificate not about to expire");
    assert_eq!(v, "fail");
    assert!(
        why.contains("expired on") && why.contains("days ago"),
        "{why}"
    );
    // The chain itself is fine: only the date is wrong.
    let (v, _) = verdict_and_reason(&result, "certificate chain complete and in order");
    assert_eq!(v, "pass");
}

#[test]
fn wrong_name_shows_wanted_and_present_names() {
    let Some(fx) = fixture() else { return };
    let port = fx.postfix.extra_ports[WRONG_NAME];
    let (code, doc) = session_tls(fx, port, &[]);
    assert_eq!(code, 4);
    let problem = &doc["tls_rejected"]["verification"]["problem"];
    assert_eq!(problem["kind"], "name-mismatch", "{doc:#}");
    assert_eq!(problem["wanted"], "localhost");
    assert!(
        problem["present"].to_string().contains("other.example"),
        "{problem}"
    );

    let result = check_starttls(fx, port, &[]);
    let (v, why) = verdict_and_reason(&result, "certificate verifies");
    assert_eq!(v, "fail");
    assert!(
        why.contains("name mismatch: wanted localhost,") && why.contains("other.example"),
        "{why}"
    );
}

#[test]
fn two_days_left_warns() {
    let Some(fx) = fixture() else { return };
    let port = fx.postfix.extra_ports[TWO_DAYS];
    let (code, doc) = session_tls(fx, port, &[]);
    assert_eq!(code, 0, "still valid: {doc:#}");
    assert_eq!(doc["tls"]["chain"][0]["days_left"], 2);
    let result = check_starttls(fx, port, &[]);
    let (v, why) = verdict_and_reason(&result, "certificate not about to expire");
    assert_eq!(v, "warn", "{why}");
    assert!(why.contains("only 2 days left"), "{why}");
    assert_eq!(
        result["verdict"], "warn",
        "a warning, not a failure: {result:#}"
    );
}

#[test]
fn versions_are_probed_and_a_tls13_only_server_refuses_12() {
    let Some(fx) = fixture() else { return };
    let result = check_starttls(fx, fx.postfix.extra_ports[GOOD], &[]);
    let (v, why) = verdict_and_reason(&result, "TLS versions accepted");
    assert_eq!(v, "pass", "{why}");
    for want in [
        "TLSv1.0 refused",
        "TLSv1.1 refused",
        "TLSv1.2 accepted: TLS_ECDHE_ECDSA_WITH_",
        "TLSv1.3 accepted: TLS13_",
    ] {
        assert!(why.contains(want), "{want:?} in {why}");
    }
    // Its speed is a benchmark's (BENCHMARKS.md: a full probe under 2 s on an idle machine);
    // what would make it slow is a probe that waited out a timeout, and none may have.
    let ms = step(&result, "TLS versions accepted")["elapsed_ms"]
        .as_u64()
        .unwrap();
    eprintln!("version probe took {ms} ms");
    for waited in ["timed out", "no reply within", "timeout"] {
        assert!(
            !why.contains(waited),
            "a version probe waited ({waited}): {why}"
        );
    }

    let result = check_starttls(fx, fx.postfix.extra_ports[TLS13_ONLY], &[]);
    let (v, why) = verdict_and_reason(&result, "TLS versions accepted");
    assert_eq!(v, "pass", "{why}");
    assert!(why.contains("TLSv1.2 refused"), "{why}");
    assert!(why.contains("TLSv1.3 accepted"), "{why}");
    // The refusal is the finding; it does not send the reader to the check they are in.
    assert!(!why.contains("--scenario starttls"), "{why}");
}

/// Whether `openssl s_client` completes a STARTTLS handshake at this version: the reference
/// the hand-built probe is compared with.
fn openssl_completes(port: u16, flag: &str) -> bool {
    let out = StdCommand::new("openssl")
        .args([
            "s_client",
            "-starttls",
            "smtp",
            "-cipher",
            "DEFAULT@SECLEVEL=0",
            flag,
        ])
        .arg("-connect")
        .arg(format!("127.0.0.1:{port}"))
        .stdin(Stdio::null())
        .output()
        .expect("openssl s_client");
    let text = String::from_utf8_lossy(&out.stdout);
    // A finished handshake prints the negotiated session.
    text.contains("Cipher is ") && !text.contains("Cipher is (NONE)")
}

#[test]
fn old_versions_on_postfix_defaults_match_openssl() {
    let Some(fx) = fixture() else { return };
    let port = fx.postfix.extra_ports[DEFAULT_PROTOCOLS];
    let result = check_starttls(fx, port, &[]);
    let (v, why) = verdict_and_reason(&result, "TLS versions accepted");
    eprintln!("Postfix defaults: {v}: {why}");
    let mut old = Vec::new();
    for (flag, name) in [("-tls1", "TLSv1.0"), ("-tls1_1", "TLSv1.1")] {
        let accepted = openssl_completes(port, flag);
        let said = if accepted {
            format!("{name} accepted")
        } else {
            format!("{name} refused")
        };
        assert!(why.contains(&said), "openssl says {said}; smtpscope: {why}");
        if accepted {
            old.push(name);
        }
    }
    if old.is_empty() {
        assert_eq!(v, "pass", "{why}");
    } else {
        assert_eq!(v, "warn", "{why}");
        assert!(why.starts_with("also accepts deprecated TLS 1."), "{why}");
    }
}

#[test]
fn tls_min_and_max_pin_the_version() {
    let Some(fx) = fixture() else { return };
    let port = fx.postfix.extra_ports[GOOD];
    let (code, doc) = session_tls(fx, port, &["--tls-max", "1.2"]);
    assert_eq!(code, 0);
    assert_eq!(doc["tls"]["version"], "TLSv1.2");
    let (code, doc) = session_tls(fx, port, &["--tls-min", "1.3"]);
    assert_eq!(code, 0);
    assert_eq!(doc["tls"]["version"], "TLSv1.3");
    // 1.2 only against a server that speaks only 1.3: the handshake fails.
    let (code, doc) = session_tls(
        fx,
        fx.postfix.extra_ports[TLS13_ONLY],
        &["--tls-max", "1.2"],
    );
    assert_eq!(code, 4, "{doc:#}");
}

#[test]
fn client_certificate_is_presented_and_verified_by_postfix() {
    let Some(fx) = fixture() else { return };
    let port = fx.postfix.extra_ports[ASK_CLIENT_CERT];
    let cert = fx.client_cert.display().to_string();
    let key = fx.client_key.display().to_string();
    let (code, doc) = session_tls(fx, port, &["--tls-cert", &cert, "--tls-key", &key]);
    assert_eq!(code, 0, "{doc:#}");
    let (code, _) = session_tls(fx, port, &[]);
    assert_eq!(code, 0);
    // Postfix logs "Trusted" only when the client certificate verified against
    // smtpd_tls_CAfile; without one it is "Anonymous".
    let deadline = Instant::now() + Duration::from_secs(10);
    loop {
        let log = fx.postfix.log();
        let ours: Vec<&str> = log
            .lines()
            .filter(|l| l.contains("postfix/ccert"))
            .collect();
        let trusted = ours
            .iter()
            .any(|l| l.contains("Trusted TLS connection established"));
        let anonymous = ours
            .iter()
            .any(|l| l.contains("Anonymous TLS connection established"));
        if trusted && anonymous {
            break;
        }
        assert!(
            Instant::now() < deadline,
            "want one Trusted (with --tls-cert) and one Anonymous connection:\n{}",
            ours.join("\n")
        );
        std::thread::sleep(Duration::from_millis(100));
    }
}

/// A loopback server that speaks the TLS versions `flags` give `openssl s_server` (`-tls1`:
/// only TLS 1.0; OpenSSL 3 allows 1.0 and 1.1 only at security level 0), behind a STARTTLS
/// shim that counts the connections it hands over to TLS.
struct Tls10Server {
    port: u16,
    children: Vec<Child>,
    handovers: Arc<AtomicUsize>,
}

impl Drop for Tls10Server {
    fn drop(&mut self) {
        for child in &mut self.children {
            let _ = child.kill();
            let _ = child.wait();
        }
    }
}

/// s_server serves one connection at a time; this many, taken in turn, serve a session and its
/// version probe's connections at once.
const BACKENDS: usize = 4;

fn tls10_server(dir: &Path) -> Option<Tls10Server> {
    old_tls_server(dir, &["-tls1"])
}

fn old_tls_server(dir: &Path, flags: &[&str]) -> Option<Tls10Server> {
    // Signed by a CA written beside it (`ca.pem`), so a session given `--ca-file` verifies it.
    let ca_key = KeyPair::generate().unwrap();
    let ca_params = ca_params("smtpscope old-TLS test CA");
    let ca_cert = ca_params.self_signed(&ca_key).unwrap();
    write(dir, "ca.pem", &ca_cert.pem());
    let ca = Issuer::new(ca_params, ca_key);
    let key = KeyPair::generate().unwrap();
    let cert = leaf_params(
        &["localhost"],
        (2100, 1, 1),
        ExtendedKeyUsagePurpose::ServerAuth,
    )
    .signed_by(&key, &ca)
    .unwrap();
    let cert_path = write(dir, "tls10.pem", &cert.pem());
    let key_path = write(dir, "tls10.key", &key.serialize_pem());
    let mut children = Vec::new();
    let mut backends = Vec::new();
    for _ in 0..BACKENDS {
        let backend = TcpListener::bind("127.0.0.1:0").unwrap();
        let backend_port = backend.local_addr().unwrap().port();
        drop(backend);
        match StdCommand::new("openssl")
            .args(["s_server", "-quiet", "-cipher", "DEFAULT@SECLEVEL=0"])
            .args(flags)
            .arg("-accept")
            .arg(format!("127.0.0.1:{backend_port}"))
            .arg("-cert")
            .arg(&cert_path)
            .arg("-key")
            .arg(&key_path)
            .stdin(Stdio::piped())
            .stdout(Stdio::null())
            .stderr(Stdio::null())
            .spawn()
        {
            Ok(c) => children.push(c),
            Err(e) => {
                if std::env::var("CI").is_ok_and(|v| v == "true") {
                    panic!("CI requires openssl: {e}");
                }
                common::skips::skipped("tls_diagnostics::tls10", &format!("openssl: {e}"));
                return None;
            }
        }
        let deadline = Instant::now() + Duration::from_secs(10);
        while TcpStream::connect(("127.0.0.1", backend_port)).is_err() {
            assert!(Instant::now() < deadline, "openssl s_server did not listen");
            std::thread::sleep(Duration::from_millis(50));
        }
        backends.push(backend_port);
    }
    let front = TcpListener::bind("127.0.0.1:0").unwrap();
    let port = front.local_addr().unwrap().port();
    let handovers = Arc::new(AtomicUsize::new(0));
    let counted = Arc::clone(&handovers);
    std::thread::spawn(move || {
        for (n, conn) in front.incoming().flatten().enumerate() {
            let counted = Arc::clone(&counted);
            let backend_port = backends[n % BACKENDS];
            std::thread::spawn(move || shim(conn, backend_port, &counted));
        }
    });
    Some(Tls10Server {
        port,
        children,
        handovers,
    })
}

/// Banner, EHLO with STARTTLS, 220 to STARTTLS, then the bytes both ways to s_server.
fn shim(client: TcpStream, backend_port: u16, handovers: &AtomicUsize) {
    client.set_read_timeout(Some(Duration::from_secs(20))).ok();
    let mut w = client.try_clone().unwrap();
    let mut r = BufReader::new(client.try_clone().unwrap());
    w.write_all(b"220 tls10.test ESMTP shim\r\n").ok();
    let mut line = String::new();
    loop {
        line.clear();
        if r.read_line(&mut line).unwrap_or(0) == 0 {
            return;
        }
        let upper = line.to_ascii_uppercase();
        if upper.starts_with("EHLO") {
            w.write_all(b"250-tls10.test\r\n250 STARTTLS\r\n").ok();
        } else if upper.starts_with("STARTTLS") {
            w.write_all(b"220 2.0.0 Ready to start TLS\r\n").ok();
            handovers.fetch_add(1, Ordering::SeqCst);
            break;
        } else if upper.starts_with("QUIT") {
            w.write_all(b"221 bye\r\n").ok();
            return;
        } else {
            w.write_all(b"502 5.5.2 not here\r\n").ok();
        }
    }
    let Ok(backend) = TcpStream::connect(("127.0.0.1", backend_port)) else {
        return;
    };
    let mut to_backend = backend.try_clone().unwrap();
    let mut from_backend = backend;
    let mut client_w = w;
    // Whatever the reader buffered already belongs to the TLS stream.
    let buffered = r.buffer().to_vec();
    to_backend.write_all(&buffered).ok();
    let mut client_r = r.into_inner();
    let up = std::thread::spawn(move || {
        let mut buf = [0u8; 4096];
        while let Ok(n) = client_r.read(&mut buf) {
            if n == 0 || to_backend.write_all(&buf[..n]).is_err() {
                break;
            }
        }
        let _ = to_backend.shutdown(std::net::Shutdown::Write);
    });
    let mut buf = [0u8; 4096];
    while let Ok(n) = from_backend.read(&mut buf) {
        if n == 0 || client_w.write_all(&buf[..n]).is_err() {
            break;
        }
    }
    let _ = client_w.shutdown(std::net::Shutdown::Both);
    let _ = up.join();
}

/// `check --scenario starttls` against an [`old_tls_server`] (its CA given): the one result,
/// the exit code, and how many connections reached STARTTLS's 220 (the session's and the
/// version probe's).
fn check_old_tls(server: &Tls10Server, dir: &Path) -> (Value, Option<i32>, usize) {
    let srv = format!("127.0.0.1:{}", server.port);
    let mut cmd = Command::cargo_bin("smtpscope").unwrap();
    cmd.timeout(Duration::from_secs(90));
    cmd.env("SMTPSCOPE_CONFIG_DIR", dir.join("config"));
    cmd.args([
        "check",
        "--server",
        &srv,
        "--tls-name",
        "localhost",
        "--helo",
        "probe.test",
        "--timeout",
        "10",
        "--scenario",
        "starttls",
        "--format",
        "json",
    ]);
    cmd.arg("--ca-file").arg(dir.join("ca.pem"));
    let out = cmd.output().unwrap();
    let doc: Value = serde_json::from_slice(&out.stdout)
        .unwrap_or_else(|e| panic!("{e}: {}", String::from_utf8_lossy(&out.stderr)));
    let handovers = server.handovers.load(Ordering::SeqCst);
    (doc["results"][0].clone(), out.status.code(), handovers)
}

#[test]
fn a_tls10_only_server_gets_a_named_fail() {
    let dir = tempfile::tempdir().unwrap();
    let Some(server) = tls10_server(dir.path()) else {
        return;
    };
    let (result, code, handovers) = check_old_tls(&server, dir.path());
    assert_eq!(result["verdict"], "fail", "{result:#}");
    let (_, why) = verdict_and_reason(&result, "STARTTLS handshake");
    assert!(
        why.contains("accepts none of the TLS versions offered (TLSv1.2 and TLSv1.3)"),
        "{why}"
    );
    let (v, why) = verdict_and_reason(&result, "TLS versions accepted");
    assert_eq!(v, "fail", "{why}");
    assert!(
        why.starts_with("accepts only TLS 1.0; smtpscope requires 1.2 or newer"),
        "{why}"
    );
    assert!(why.contains("TLSv1.0 accepted: TLS_"), "{why}");
    // Learnt from the same hello: offered up to 1.1, it chose 1.0.
    assert!(
        why.contains("TLSv1.1 refused (the server answered with TLSv1.0 instead)"),
        "{why}"
    );
    assert!(why.contains("TLSv1.2 refused"), "{why}");
    assert!(why.contains("TLSv1.3 refused"), "{why}");
    assert_eq!(code, Some(1));
    // The session's handshake, one hello for 1.0 and 1.1, one each for 1.2 and 1.3.
    assert_eq!(handovers, 4, "connections handed over to TLS");
}

/// 1.0 and 1.1 share a hello offering up to 1.1; a server that picks 1.1 is asked about 1.0
/// alone; 1.3 comes from the session's own handshake when that negotiated it. Each old
/// version's verdict agrees with `openssl s_client` pinned to that version.
#[test]
fn old_versions_share_a_hello_unless_the_server_picks_11() {
    // (s_server flags, 1.0 accepted, 1.1 accepted, connections handed over to TLS). s_server
    // serves one connection at a time; `-rev` answers a finished probe's QUIT with a line, so
    // the probe does not hold it for a reply timeout while the others wait.
    let cases: [(&[&str], bool, bool, usize); 3] = [
        (&["-no_tls1_2", "-no_tls1_3"], true, true, 5),
        (&["-tls1_1"], false, true, 5),
        // The session's TLS 1.3 handshake, the hello for 1.0/1.1, the handshake pinned to 1.2.
        (&["-no_tls1", "-no_tls1_1", "-rev"], false, false, 3),
    ];
    for (flags, v10, v11, want_handovers) in cases {
        let dir = tempfile::tempdir().unwrap();
        let Some(server) = old_tls_server(dir.path(), flags) else {
            return;
        };
        let (result, _, handovers) = check_old_tls(&server, dir.path());
        let (_, why) = verdict_and_reason(&result, "TLS versions accepted");
        eprintln!("{flags:?}: {why}");
        assert!(!why.contains("not determined"), "{flags:?}: {why}");
        for (name, accepted, openssl_flag) in
            [("TLSv1.0", v10, "-tls1"), ("TLSv1.1", v11, "-tls1_1")]
        {
            let said = if accepted {
                format!("{name} accepted: TLS_")
            } else {
                format!("{name} refused")
            };
            assert!(why.contains(&said), "{flags:?}: want {said:?} in {why}");
            assert_eq!(
                openssl_completes(server.port, openssl_flag),
                accepted,
                "{flags:?}: openssl s_client {openssl_flag} disagrees with {said:?}"
            );
        }
        assert_eq!(
            handovers, want_handovers,
            "{flags:?}: connections handed over to TLS ({why})"
        );
        if want_handovers == 3 {
            assert!(
                why.contains("TLSv1.2 accepted: TLS_")
                    && why.contains("TLSv1.3 accepted: TLS13_")
                    && why.contains("(the session's own handshake)"),
                "{why}"
            );
        }
    }
}

/// A one-connection STARTTLS server (rustls) that staples `ocsp` to its handshake and reports
/// the SNI it received.
fn stapling_server(
    dir: &Path,
    ocsp: Vec<u8>,
) -> (u16, PathBuf, std::sync::mpsc::Receiver<Option<String>>) {
    let (sni_tx, sni_rx) = std::sync::mpsc::channel();
    let ca_key = KeyPair::generate().unwrap();
    let ca_params = ca_params("smtpscope OCSP test CA");
    let ca_cert = ca_params.self_signed(&ca_key).unwrap();
    let ca = Issuer::new(ca_params, ca_key);
    let key = KeyPair::generate().unwrap();
    let cert = leaf_params(
        &["localhost"],
        (2100, 1, 1),
        ExtendedKeyUsagePurpose::ServerAuth,
    )
    .signed_by(&key, &ca)
    .unwrap();
    let ca_path = write(dir, "ocsp-ca.pem", &ca_cert.pem());
    let config = rustls::ServerConfig::builder_with_provider(std::sync::Arc::new(
        rustls::crypto::ring::default_provider(),
    ))
    .with_safe_default_protocol_versions()
    .unwrap()
    .with_no_client_auth()
    .with_single_cert_with_ocsp(
        vec![cert.der().clone()],
        rustls::pki_types::PrivateKeyDer::try_from(key.serialize_der()).unwrap(),
        ocsp,
    )
    .unwrap();
    let listener = TcpListener::bind("127.0.0.1:0").unwrap();
    let port = listener.local_addr().unwrap().port();
    std::thread::spawn(move || {
        let Ok((tcp, _)) = listener.accept() else {
            return;
        };
        tcp.set_read_timeout(Some(Duration::from_secs(20))).ok();
        let mut w = tcp.try_clone().unwrap();
        let mut r = BufReader::new(tcp.try_clone().unwrap());
        w.write_all(b"220 ocsp.test ESMTP\r\n").unwrap();
        let mut line = String::new();
        loop {
            line.clear();
            if r.read_line(&mut line).unwrap_or(0) == 0 {
                return;
            }
            if line.to_ascii_uppercase().starts_with("STARTTLS") {
                w.write_all(b"220 2.0.0 go ahead\r\n").unwrap();
                break;
            }
            w.write_all(b"250-ocsp.test\r\n250 STARTTLS\r\n").unwrap();
        }
        let conn = rustls::ServerConnection::new(std::sync::Arc::new(config)).unwrap();
        let mut tls = rustls::StreamOwned::new(conn, tcp);
        let mut buf = [0u8; 1024];
        // EHLO inside TLS, then QUIT.
        for (i, answer) in [&b"250 ocsp.test\r\n"[..], b"221 bye\r\n"]
            .into_iter()
            .enumerate()
        {
            let read = tls.read(&mut buf);
            if i == 0 {
                let _ = sni_tx.send(tls.conn.server_name().map(str::to_string));
            }
            match read {
                Ok(n) if n > 0 => {
                    let _ = tls.write_all(answer);
                    let _ = tls.flush();
                }
                _ => return,
            }
        }
    });
    (port, ca_path, sni_rx)
}

#[test]
fn a_stapled_ocsp_response_is_reported_with_its_status() {
    let dir = tempfile::tempdir().unwrap();
    let ocsp = smtpscope::net::ocsp::build::response(
        &[0x80, 0],
        "20261201120000Z",
        Some("20261208120000Z"),
    );
    let (port, ca, _) = stapling_server(dir.path(), ocsp.clone());
    let srv = format!("127.0.0.1:{port}");
    let mut cmd = Command::cargo_bin("smtpscope").unwrap();
    cmd.timeout(Duration::from_secs(60));
    cmd.env("SMTPSCOPE_CONFIG_DIR", dir.path().join("config"));
    cmd.args([
        "session",
        "--server",
        &srv,
        "--tls-name",
        "localhost",
        "--ca-file",
    ]);
    cmd.arg(&ca);
    cmd.args([
        "--helo",
        "probe.test",
        "--quit-after",
        "tls",
        "--format",
        "json",
    ]);
    let out = cmd.output().unwrap();
    let doc: Value = serde_json::from_slice(&out.stdout)
        .unwrap_or_else(|e| panic!("{e}: {}", String::from_utf8_lossy(&out.stderr)));
    let staple = &doc["tls"]["ocsp"];
    assert_eq!(staple["present"], true, "{doc:#}");
    assert_eq!(staple["bytes"], ocsp.len());
    assert_eq!(
        staple["status"],
        "successful, certificate good, this update 2026-12-01 12:00:00Z, next update 2026-12-08 12:00:00Z"
    );
}

#[test]
fn sni_is_sent_unless_no_sni() {
    let dir = tempfile::tempdir().unwrap();
    for (extra, want) in [
        (None, Some("localhost".to_string())),
        (Some("--no-sni"), None),
    ] {
        let (port, ca, sni) = stapling_server(dir.path(), Vec::new());
        let srv = format!("127.0.0.1:{port}");
        let mut cmd = Command::cargo_bin("smtpscope").unwrap();
        cmd.timeout(Duration::from_secs(60));
        cmd.env("SMTPSCOPE_CONFIG_DIR", dir.path().join("config"));
        cmd.args([
            "session",
            "--server",
            &srv,
            "--tls-name",
            "localhost",
            "--ca-file",
        ]);
        cmd.arg(&ca);
        cmd.args([
            "--helo",
            "probe.test",
            "--quit-after",
            "tls",
            "--format",
            "json",
        ]);
        cmd.args(extra);
        let out = cmd.output().unwrap();
        assert_eq!(
            out.status.code(),
            Some(0),
            "{}",
            String::from_utf8_lossy(&out.stdout)
        );
        let got = sni.recv_timeout(Duration::from_secs(10)).unwrap();
        assert_eq!(got, want, "with {extra:?}");
    }
}

/// `session` in text: the chain as sent, as `openssl s_client -showcerts` lists it, with
/// `--show-certs`; without the flag only when the certificate did not verify.
#[test]
fn session_text_shows_the_chain_when_asked_or_when_it_failed() {
    let Some(fx) = fixture() else { return };
    let text = |port: u16, extra: &[&str]| {
        let srv = server(port);
        let ca = fx.root_ca.display().to_string();
        let out = Command::cargo_bin("smtpscope")
            .unwrap()
            .timeout(Duration::from_secs(90))
            .env("SMTPSCOPE_CONFIG_DIR", fx.dir.path().join("config"))
            .args([
                "session",
                "--server",
                &srv,
                "--tls-name",
                "localhost",
                "--ca-file",
                &ca,
                "--helo",
                "probe.test",
                "--quit-after",
                "tls",
            ])
            .args(extra)
            .output()
            .unwrap();
        String::from_utf8_lossy(&out.stdout).into_owned()
    };
    let good = fx.postfix.extra_ports[GOOD];
    let plain = text(good, &[]);
    assert!(!plain.contains("=== certificate chain as sent"), "{plain}");
    let shown = text(good, &["--show-certs"]);
    let at = shown.find("=== certificate chain as sent").expect(&shown);
    let chain = &shown[at..];
    for want in [
        "verified for localhost",
        "#1 server certificate",
        "#2 ",
        "days left",
    ] {
        assert!(chain.contains(want), "{want:?}: {chain}");
    }
    assert!(
        at < shown.find("=== session complete").expect(&shown),
        "before the end line: {shown}"
    );
    let wrong = text(fx.postfix.extra_ports[WRONG_NAME], &[]);
    let at = wrong.find("=== certificate chain as sent").expect(&wrong);
    assert!(
        wrong[at..].contains("NOT verified for localhost"),
        "{wrong}"
    );
    assert!(wrong[at..].contains("other.example"), "{wrong}");
}
