//! Certificate defects, one per server, named as an operator fixes them (issue 24): a
//! self-signed certificate, an RSA 1024-bit key, a SHA-1 signature, a name only in the CN, a
//! complete chain to a private root, and a missing intermediate.
//!
//! The certificates are made here by the `openssl` command line, as an admin makes them, and
//! served by OpenSSL (Python's `ssl`, tests/common/starttls_server.py) behind STARTTLS on
//! 127.0.0.1: rustls cannot even serve an RSA 1024-bit key, and a certificate rustls made
//! and rustls reads would prove less. Each test asserts the named defect in `session`'s JSON
//! (`tls_rejected`, with the chain as sent) and, with `openssl s_client -verify_return_error`,
//! that OpenSSL 3.0 sees the same defect (its verify code is named in each test).

#![allow(clippy::expect_used, clippy::unwrap_used)] // test code: a failed setup should panic loudly

mod common;

use std::io::{BufRead, BufReader};
use std::path::{Path, PathBuf};
use std::process::{Child, Command as StdCommand, Stdio};
use std::sync::OnceLock;
use std::time::{Duration, Instant};

use assert_cmd::Command;
use serde_json::Value;

/// The certificates, made once per test binary.
struct Pki {
    dir: tempfile::TempDir,
}

impl Pki {
    fn path(&self, name: &str) -> PathBuf {
        self.dir.path().join(name)
    }

    fn arg(&self, name: &str) -> String {
        self.path(name).display().to_string()
    }
}

/// Runs `openssl` with `args` in `dir`; a failure is a broken fixture.
fn openssl(dir: &Path, args: &[&str]) {
    let out = StdCommand::new("openssl")
        .args(args)
        .current_dir(dir)
        .output()
        .expect("openssl");
    assert!(
        out.status.success(),
        "openssl {args:?}: {}",
        String::from_utf8_lossy(&out.stderr)
    );
}

/// Whether the tools this file needs are here; if not, the tests skip (and fail on CI).
fn tools_present(test: &str) -> bool {
    for (tool, version) in [("openssl", "version"), ("python3", "--version")] {
        let found = StdCommand::new(tool)
            .arg(version)
            .stdout(Stdio::null())
            .stderr(Stdio::null())
            .status()
            .is_ok_and(|s| s.success());
        if !found {
            if std::env::var("CI").is_ok_and(|v| v == "true") {
                panic!("CI requires {tool}");
            }
            common::skips::skipped(test, &format!("{tool} not installed"));
            return false;
        }
    }
    true
}

const LEAF_EXT: &str = "subjectAltName=DNS:localhost\nbasicConstraints=CA:FALSE\nextendedKeyUsage=serverAuth\nkeyUsage=critical,digitalSignature,keyEncipherment\nauthorityKeyIdentifier=keyid\n";
/// The same without subjectAltName: the name is only in the subject CN.
const CN_ONLY_EXT: &str = "basicConstraints=CA:FALSE\nextendedKeyUsage=serverAuth\nkeyUsage=critical,digitalSignature,keyEncipherment\nauthorityKeyIdentifier=keyid\n";
const CA_EXT: &str = "basicConstraints=critical,CA:TRUE\nkeyUsage=critical,keyCertSign,cRLSign\nsubjectKeyIdentifier=hash\nauthorityKeyIdentifier=keyid\n";

fn pki() -> &'static Pki {
    static PKI: OnceLock<Pki> = OnceLock::new();
    PKI.get_or_init(|| {
        let dir = tempfile::tempdir().unwrap();
        let d = dir.path();
        for (name, text) in [
            ("leaf.ext", LEAF_EXT),
            ("cn.ext", CN_ONLY_EXT),
            ("ca.ext", CA_EXT),
        ] {
            std::fs::write(d.join(name), text).unwrap();
        }
        // A private root, an intermediate under it, and an unrelated root (trusted by nothing
        // the servers send), all RSA 2048 and SHA-256.
        for (root, cn) in [
            ("root", "smtpscope test root"),
            ("other", "smtpscope unrelated root"),
        ] {
            openssl(
                d,
                &[
                    "req",
                    "-x509",
                    "-newkey",
                    "rsa:2048",
                    "-nodes",
                    "-keyout",
                    &format!("{root}.key"),
                    "-out",
                    &format!("{root}.pem"),
                    "-days",
                    "3650",
                    "-subj",
                    &format!("/CN={cn}"),
                ],
            );
        }
        issue(
            d,
            "inter",
            "rsa:2048",
            "sha256",
            "ca.ext",
            "root",
            "/CN=smtpscope test intermediate",
        );
        // One defect each; the rest of each certificate as a CA would issue it.
        issue(
            d,
            "weak",
            "rsa:1024",
            "sha256",
            "leaf.ext",
            "root",
            "/CN=localhost",
        );
        issue(
            d,
            "sha1",
            "rsa:2048",
            "sha1",
            "leaf.ext",
            "root",
            "/CN=localhost",
        );
        issue(
            d,
            "cnonly",
            "rsa:2048",
            "sha256",
            "cn.ext",
            "root",
            "/CN=localhost",
        );
        issue(
            d,
            "good",
            "rsa:2048",
            "sha256",
            "leaf.ext",
            "inter",
            "/CN=localhost",
        );
        // What `openssl req -x509` makes by default: CA:TRUE, as most self-signed
        // certificates on mail servers are.
        openssl(
            d,
            &[
                "req",
                "-x509",
                "-newkey",
                "rsa:2048",
                "-nodes",
                "-keyout",
                "selfsigned.key",
                "-out",
                "selfsigned.pem",
                "-days",
                "365",
                "-subj",
                "/CN=localhost",
                "-addext",
                "subjectAltName=DNS:localhost",
            ],
        );
        let read = |n: &str| std::fs::read_to_string(d.join(n)).unwrap();
        // The whole chain up to the private root, as a server with a private CA sends it.
        std::fs::write(
            d.join("private.chain"),
            format!(
                "{}{}{}",
                read("good.pem"),
                read("inter.pem"),
                read("root.pem")
            ),
        )
        .unwrap();
        Pki { dir }
    })
}

/// Issues `name`.pem (and .key, a new `key` such as "rsa:1024") for `subject`, signed by
/// `issuer` with `digest`, with the extensions in `ext`.
fn issue(d: &Path, name: &str, key: &str, digest: &str, ext: &str, issuer: &str, subject: &str) {
    let (key_file, csr, pem) = (
        format!("{name}.key"),
        format!("{name}.csr"),
        format!("{name}.pem"),
    );
    openssl(
        d,
        &[
            "req", "-newkey", key, "-nodes", "-keyout", &key_file, "-out", &csr, "-subj", subject,
        ],
    );
    openssl(
        d,
        &[
            "x509",
            "-req",
            "-in",
            &csr,
            "-CA",
            &format!("{issuer}.pem"),
            "-CAkey",
            &format!("{issuer}.key"),
            "-set_serial",
            &format!("{}", name.len() * 1000 + subject.len()),
            "-out",
            &pem,
            "-days",
            "365",
            &format!("-{digest}"),
            "-extfile",
            ext,
        ],
    );
}

/// A STARTTLS server on 127.0.0.1 serving `chain` with `key`; stopped when dropped (and by
/// itself after two minutes).
struct Server {
    port: u16,
    child: Child,
}

impl Drop for Server {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

fn serve(chain: &Path, key: &Path) -> Server {
    let script = Path::new(env!("CARGO_MANIFEST_DIR")).join("tests/common/starttls_server.py");
    let mut child = StdCommand::new("python3")
        .arg(script)
        .arg("--chain")
        .arg(chain)
        .arg("--key")
        .arg(key)
        .args(["--lifetime", "120"])
        .stdin(Stdio::null())
        .stdout(Stdio::piped())
        .stderr(Stdio::inherit())
        .spawn()
        .expect("python3");
    let stdout = child.stdout.take().unwrap();
    let (tx, rx) = std::sync::mpsc::channel();
    std::thread::spawn(move || {
        let mut line = String::new();
        let _ = BufReader::new(stdout).read_line(&mut line);
        let _ = tx.send(line);
    });
    let line = rx
        .recv_timeout(Duration::from_secs(15))
        .expect("the test server did not say its port");
    let port = line.trim().parse().expect("a port");
    Server { port, child }
}

/// `smtpscope session … --quit-after tls` in JSON: the exit code and the document.
fn session_json(port: u16, extra: &[&str]) -> (i32, Value) {
    let out = smtpscope(port, &[&["--format", "json"], extra].concat());
    let doc: Value = serde_json::from_slice(&out.stdout).unwrap_or_else(|e| {
        panic!(
            "{e}: {} {}",
            String::from_utf8_lossy(&out.stdout),
            String::from_utf8_lossy(&out.stderr)
        )
    });
    (out.status.code().unwrap_or(-1), doc)
}

/// The same in text.
fn session_text(port: u16, extra: &[&str]) -> String {
    let out = smtpscope(port, extra);
    String::from_utf8_lossy(&out.stdout).into_owned()
}

fn smtpscope(port: u16, extra: &[&str]) -> std::process::Output {
    let srv = format!("127.0.0.1:{port}");
    Command::cargo_bin("smtpscope")
        .unwrap()
        .timeout(Duration::from_secs(60))
        .env("SMTPSCOPE_CONFIG_DIR", pki().path("config"))
        .args([
            "session",
            "--server",
            &srv,
            "--tls-name",
            "localhost",
            "--helo",
            "probe.test",
            "--quit-after",
            "tls",
        ])
        .args(extra)
        .output()
        .unwrap()
}

/// `openssl s_client -starttls smtp -verify_return_error` against `port`, trusting only
/// `ca` (no default paths, so the answer is the same on every machine) and checking the name
/// localhost: the verify code OpenSSL reports and its words.
fn s_client_verify(port: u16, ca: &Path) -> (u32, String) {
    let mut child = StdCommand::new("openssl")
        .args([
            "s_client",
            "-starttls",
            "smtp",
            "-verify_return_error",
            "-verify_hostname",
            "localhost",
            "-no-CApath",
            "-no-CAstore",
            "-CAfile",
        ])
        .arg(ca)
        .arg("-connect")
        .arg(format!("127.0.0.1:{port}"))
        .stdin(Stdio::null())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .expect("openssl s_client");
    // s_client ends by itself (the handshake fails, or its stdin is empty); bounded anyway.
    let deadline = Instant::now() + Duration::from_secs(30);
    while child.try_wait().unwrap().is_none() {
        if Instant::now() > deadline {
            let _ = child.kill();
            panic!("openssl s_client did not finish");
        }
        std::thread::sleep(Duration::from_millis(50));
    }
    let out = child.wait_with_output().unwrap();
    let text = format!(
        "{}{}",
        String::from_utf8_lossy(&out.stdout),
        String::from_utf8_lossy(&out.stderr)
    );
    // "Verify return code: 18 (self-signed certificate)", or on a stopped handshake
    // "verify error:num=18:self-signed certificate".
    let code = text
        .lines()
        .find_map(|l| {
            l.trim()
                .strip_prefix("Verify return code: ")
                .or_else(|| l.trim().strip_prefix("verify error:num="))
        })
        .and_then(|rest| rest.split([' ', ':']).next())
        .and_then(|n| n.parse().ok())
        .unwrap_or_else(|| panic!("no verify code from s_client:\n{text}"));
    (code, text)
}

/// What every rejected certificate must show: the chain as sent, a verification that
/// failed with this defect's `kind`, words without a TLS library's own names.
fn rejected<'a>(doc: &'a Value, kind: &str) -> &'a Value {
    let rejected = &doc["tls_rejected"];
    assert!(rejected.is_object(), "tls_rejected missing: {doc:#}");
    assert!(
        !rejected["chain"].as_array().unwrap().is_empty(),
        "the chain as sent: {rejected:#}"
    );
    let v = &rejected["verification"];
    assert_eq!(v["verified"], false, "{v:#}");
    assert_eq!(v["problem"]["kind"], kind, "{v:#}");
    let text = doc.to_string();
    for library_word in [
        "BadSignature",
        "UnknownIssuer",
        "CaUsedAsEndEntity",
        "invalid certificate: other",
        "signature algorithm context",
        "invalid peer certificate",
    ] {
        assert!(!text.contains(library_word), "{library_word}: {doc:#}");
    }
    rejected
}

fn failure(rejected: &Value) -> &str {
    rejected["verification"]["failure"].as_str().unwrap()
}

/// `check --scenario starttls`: the chain step's verdict and reason.
fn chain_step(port: u16, extra: &[&str]) -> (String, String) {
    let srv = format!("127.0.0.1:{port}");
    let out = Command::cargo_bin("smtpscope")
        .unwrap()
        .timeout(Duration::from_secs(90))
        .env("SMTPSCOPE_CONFIG_DIR", pki().path("config"))
        .args([
            "check",
            "--server",
            &srv,
            "--tls-name",
            "localhost",
            "--helo",
            "probe.test",
            "--scenario",
            "starttls",
            "--format",
            "json",
        ])
        .args(extra)
        .output()
        .unwrap();
    let doc: Value = serde_json::from_slice(&out.stdout).unwrap();
    let step = doc["results"][0]["steps"]
        .as_array()
        .unwrap()
        .iter()
        .find(|s| s["name"] == "certificate chain complete and in order")
        .unwrap_or_else(|| panic!("no chain step: {doc:#}"))
        .clone();
    (
        step["verdict"].as_str().unwrap().to_string(),
        step["reason"].as_str().unwrap().to_string(),
    )
}

/// s_client 18 "self-signed certificate". Before: "invalid certificate: other", and the
/// chain step passed ("leading to a CA in the CA file").
#[test]
fn a_self_signed_certificate_is_called_self_signed_and_the_chain_fails() {
    if !tools_present("tls_defects::self_signed") {
        return;
    }
    let p = pki();
    let server = serve(&p.path("selfsigned.pem"), &p.path("selfsigned.key"));
    let (code, doc) = session_json(server.port, &["--ca-file", &p.arg("root.pem")]);
    assert_eq!(code, 4, "{doc:#}");
    let r = rejected(&doc, "self-signed");
    assert!(
        failure(r).starts_with("self-signed certificate (not issued by any CA"),
        "{r:#}"
    );
    assert_eq!(r["chain_check"]["complete"], false, "{r:#}");
    let (verdict, why) = chain_step(server.port, &["--ca-file", &p.arg("root.pem")]);
    assert_eq!(verdict, "fail", "{why}");
    assert!(why.contains("is self-signed"), "{why}");

    let (code, text) = s_client_verify(server.port, &p.path("root.pem"));
    assert_eq!(code, 18, "OpenSSL: self-signed certificate\n{text}");
}

/// s_client 66 "EE certificate key too weak". Before: "BadSignature", no chain shown, both
/// `tls` and `tls_rejected` null, and `--insecure` no help in seeing why.
#[test]
fn an_rsa_1024_key_is_named_with_its_size_and_the_chain_is_shown() {
    if !tools_present("tls_defects::rsa_1024") {
        return;
    }
    let p = pki();
    let server = serve(&p.path("weak.pem"), &p.path("weak.key"));
    let (code, doc) = session_json(server.port, &["--ca-file", &p.arg("root.pem")]);
    assert_eq!(code, 4, "{doc:#}");
    let r = rejected(&doc, "weak-key");
    let problem = &r["verification"]["problem"];
    assert_eq!(problem["bits"], 1024, "{problem:#}");
    assert_eq!(problem["algorithm"], "RSA");
    assert_eq!(r["chain"][0]["key"], "RSA 1024");
    assert!(
        failure(r).starts_with("key too weak: RSA 1024 bits (at least 2048 needed)"),
        "{r:#}"
    );

    // Verification off: the handshake signature itself is refused, and that is what it says.
    let (code, doc) = session_json(server.port, &["--insecure"]);
    assert_eq!(code, 4, "{doc:#}");
    let r = rejected(&doc, "weak-key");
    assert_eq!(r["verification"]["problem"]["handshake"], true, "{r:#}");
    assert!(
        failure(r).contains("too weak for the TLS handshake itself"),
        "{r:#}"
    );
    let error = doc["result"]["error"].as_str().unwrap_or_default();
    assert!(
        error.contains("no setting gets past this") && !error.contains("use --insecure"),
        "no advice that cannot help: {doc:#}"
    );

    // In text, the chain is printed, as for every certificate that failed.
    let text = session_text(server.port, &["--ca-file", &p.arg("root.pem")]);
    let at = text.find("=== certificate chain as sent").expect(&text);
    assert!(text[at..].contains("key       RSA 1024"), "{text}");

    let (code, text) = s_client_verify(server.port, &p.path("root.pem"));
    assert_eq!(code, 66, "OpenSSL: EE certificate key too weak\n{text}");
}

/// s_client 68 "CA signature digest algorithm too weak" (OpenSSL 3.0's words for a SHA-1
/// signature at its default security level). Before: "unsupported signature algorithm
/// context".
#[test]
fn a_sha1_signature_is_named() {
    if !tools_present("tls_defects::sha1") {
        return;
    }
    let p = pki();
    let server = serve(&p.path("sha1.pem"), &p.path("sha1.key"));
    let (code, doc) = session_json(server.port, &["--ca-file", &p.arg("root.pem")]);
    assert_eq!(code, 4, "{doc:#}");
    let r = rejected(&doc, "weak-signature");
    assert_eq!(
        failure(r),
        "signed with SHA-1 (sha1WithRSAEncryption), which verifiers reject",
        "{r:#}"
    );

    let (code, text) = s_client_verify(server.port, &p.path("root.pem"));
    assert_eq!(
        code, 68,
        "OpenSSL: CA signature digest algorithm too weak\n{text}"
    );
}

/// No subjectAltName, the name only in the subject CN. Before: "the certificate is for no
/// names". Here smtpscope and s_client disagree on purpose: OpenSSL's host check still falls
/// back to the CN (verify code 0, "ok"), while rustls, Chrome and Firefox do not (RFC 6125
/// §6.4.4, CA/Browser Forum): the operator learns why modern clients refuse it.
#[test]
fn a_name_only_in_the_cn_says_so() {
    if !tools_present("tls_defects::cn_only") {
        return;
    }
    let p = pki();
    let server = serve(&p.path("cnonly.pem"), &p.path("cnonly.key"));
    let (code, doc) = session_json(server.port, &["--ca-file", &p.arg("root.pem")]);
    assert_eq!(code, 4, "{doc:#}");
    let r = rejected(&doc, "name-only-in-cn");
    assert!(
        failure(r).starts_with(
            "the name localhost is only in the subject CN; modern clients require it in subjectAltName"
        ),
        "{r:#}"
    );

    let (code, text) = s_client_verify(server.port, &p.path("root.pem"));
    assert_eq!(code, 0, "OpenSSL still reads the CN\n{text}");
}

/// Leaf, intermediate and a private root, sent complete, checked without the root: s_client
/// 19 "self-signed certificate in certificate chain". Before: "missing intermediate" and
/// "serve the intermediate certificates".
#[test]
fn a_complete_chain_to_a_private_root_asks_for_the_ca_file() {
    if !tools_present("tls_defects::private_root") {
        return;
    }
    let p = pki();
    let server = serve(&p.path("private.chain"), &p.path("good.key"));
    // The Mozilla roots: a trust store that is the same everywhere and lacks this root.
    let (code, doc) = session_json(server.port, &["--trust", "mozilla"]);
    assert_eq!(code, 4, "{doc:#}");
    let r = rejected(&doc, "untrusted-root");
    assert_eq!(r["chain"].as_array().unwrap().len(), 3, "{r:#}");
    assert!(
        failure(r).starts_with(
            "the chain ends at a root the trust store does not hold (a private CA?): CN=smtpscope test root"
        ),
        "{r:#}"
    );
    let error = doc["result"]["error"].as_str().unwrap_or_default();
    assert!(
        error.contains("pass the root with --ca-file"),
        "the advice names the flag: {doc:#}"
    );
    assert!(
        !doc.to_string().contains("intermediate certificates"),
        "{doc:#}"
    );
    let problems = r["chain_check"]["problems"].to_string();
    assert!(problems.contains("trust store does not hold"), "{problems}");
    // And the advice works.
    let (code, doc) = session_json(server.port, &["--ca-file", &p.arg("root.pem")]);
    assert_eq!(code, 0, "{doc:#}");

    let (code, text) = s_client_verify(server.port, &p.path("other.pem"));
    assert_eq!(
        code, 19,
        "OpenSSL: self-signed certificate in certificate chain\n{text}"
    );
}

/// The leaf alone, its intermediate not sent: s_client 20 "unable to get local issuer
/// certificate"; here, a missing intermediate (not a private root).
#[test]
fn a_missing_intermediate_is_told_from_a_private_root() {
    if !tools_present("tls_defects::missing_intermediate") {
        return;
    }
    let p = pki();
    let server = serve(&p.path("good.pem"), &p.path("good.key"));
    let (code, doc) = session_json(server.port, &["--ca-file", &p.arg("root.pem")]);
    assert_eq!(code, 4, "{doc:#}");
    let r = rejected(&doc, "missing-intermediate");
    assert!(
        r["verification"]["problem"]["issuer"]
            .as_str()
            .unwrap()
            .contains("smtpscope test intermediate"),
        "{r:#}"
    );
    let problems = r["chain_check"]["problems"].to_string();
    assert!(problems.contains("was not sent"), "{problems}");
    let (verdict, why) = chain_step(server.port, &["--ca-file", &p.arg("root.pem")]);
    assert_eq!(verdict, "fail", "{why}");

    let (code, text) = s_client_verify(server.port, &p.path("root.pem"));
    assert_eq!(
        code, 20,
        "OpenSSL: unable to get local issuer certificate\n{text}"
    );
}
