//! MTA-STS (RFC 8461) end to end: dnsmasq serves the TXT records, MX records and the address
//! of `mta-sts.<domain>`; a local rustls HTTPS server with a test CA serves the policies; the
//! MX is the real test Postfix. Covered: enforce with a matching MX (PASS), enforce with the
//! MX not covered (FAIL), enforce with an MX whose certificate does not fit its name (FAIL),
//! testing (WARN), a redirect (FAIL), an oversize policy (FAIL); README's other cells: `max_age`
//! under a day, not `text/plain`, `mode: none`, no TXT record (WARN), a policy host with no
//! address, an HTTP 404 and a body that is no policy (FAIL).
//!
//! Port 443 needs root, so the policy server listens on a free loopback port and the check
//! is told so through `SMTPSCOPE_TEST_MTA_STS_PORT`, a test-only override that is neither a
//! flag nor a profile key and is not documented for users.

#![allow(clippy::expect_used, clippy::unwrap_used)] // test code: a failed setup should panic loudly

mod common;

use std::sync::Arc;
use std::time::Duration;

use assert_cmd::Command;
use common::dns_server::DnsServer;
use rcgen::{BasicConstraints, CertificateParams, DnType, IsCa, Issuer, KeyPair};
use serde_json::Value;
use tokio::io::{AsyncReadExt, AsyncWriteExt};

const DOMAINS: [&str; 13] = [
    "enforce.sts.example",
    "uncovered.sts.example",
    "badcert.sts.example",
    "testing.sts.example",
    "redirect.sts.example",
    "big.sts.example",
    "brief.sts.example",
    "html.sts.example",
    "none.sts.example",
    "notxt.sts.example",
    "gone.sts.example",
    "garbled.sts.example",
    "nohost.sts.example",
];

/// The domains with no `_mta-sts` TXT record.
const NO_TXT: [&str; 1] = ["notxt.sts.example"];
/// The domains whose `mta-sts.` host has no address: the policy cannot be fetched at all.
const NO_HOST: [&str; 1] = ["nohost.sts.example"];

fn policy(mode: &str, mx: &str) -> String {
    format!("version: STSv1\r\nmode: {mode}\r\nmx: {mx}\r\nmax_age: 604800\r\n")
}

/// The answer for a request to `host`.
fn answer(host: &str) -> Vec<u8> {
    let ok = |body: String| {
        format!(
            "HTTP/1.1 200 OK\r\nContent-Type: text/plain\r\nContent-Length: {}\r\nConnection: close\r\n\r\n{body}",
            body.len()
        )
        .into_bytes()
    };
    match host.strip_prefix("mta-sts.").unwrap_or(host) {
        "enforce.sts.example" => ok(policy("enforce", "mail.lab.example")),
        "uncovered.sts.example" => ok(policy("enforce", "*.other.example")),
        "badcert.sts.example" => ok(policy("enforce", "mx-badcert.sts.example")),
        "testing.sts.example" => ok(policy("testing", "*.other.example")),
        "redirect.sts.example" => b"HTTP/1.1 301 Moved Permanently\r\nLocation: https://policy.elsewhere.example/mta-sts.txt\r\nContent-Length: 0\r\n\r\n".to_vec(),
        "big.sts.example" => ok(format!("{}{}", policy("enforce", "mail.lab.example"), "#".repeat(100_000))),
        "brief.sts.example" => ok("version: STSv1\r\nmode: enforce\r\nmx: mail.lab.example\r\nmax_age: 3600\r\n".into()),
        "html.sts.example" => {
            let body = policy("enforce", "mail.lab.example");
            format!(
                "HTTP/1.1 200 OK\r\nContent-Type: text/html\r\nContent-Length: {}\r\nConnection: close\r\n\r\n{body}",
                body.len()
            )
            .into_bytes()
        }
        "none.sts.example" => ok(policy("none", "mail.lab.example")),
        "notxt.sts.example" => ok(policy("enforce", "mail.lab.example")),
        "garbled.sts.example" => ok("<html><body>It works!</body></html>\r\n".into()),
        // gone.sts.example: 404, below.
        _ => b"HTTP/1.1 404 Not Found\r\nContent-Length: 0\r\n\r\n".to_vec(),
    }
}

/// Starts the HTTPS policy server on a free loopback port, serving every `mta-sts.<domain>`
/// with one certificate from a test CA. Returns the port and the CA's PEM.
fn policy_server() -> (u16, String) {
    let ca_key = KeyPair::generate().unwrap();
    let mut ca_params = CertificateParams::new(Vec::<String>::new()).unwrap();
    ca_params
        .distinguished_name
        .push(DnType::CommonName, "smtpscope MTA-STS test CA");
    ca_params.is_ca = IsCa::Ca(BasicConstraints::Unconstrained);
    let ca_cert = ca_params.self_signed(&ca_key).unwrap();
    let ca = Issuer::new(ca_params, ca_key);
    let key = KeyPair::generate().unwrap();
    let names: Vec<String> = DOMAINS.iter().map(|d| format!("mta-sts.{d}")).collect();
    let cert = CertificateParams::new(names)
        .unwrap()
        .signed_by(&key, &ca)
        .unwrap();
    let config = rustls::ServerConfig::builder_with_provider(Arc::new(
        rustls::crypto::ring::default_provider(),
    ))
    .with_safe_default_protocol_versions()
    .unwrap()
    .with_no_client_auth()
    .with_single_cert(
        vec![cert.der().clone()],
        rustls::pki_types::PrivateKeyDer::try_from(key.serialize_der()).unwrap(),
    )
    .unwrap();
    let acceptor = tokio_rustls::TlsAcceptor::from(Arc::new(config));
    let listener = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
    listener.set_nonblocking(true).unwrap();
    let port = listener.local_addr().unwrap().port();
    std::thread::spawn(move || {
        let rt = tokio::runtime::Builder::new_current_thread()
            .enable_all()
            .build()
            .unwrap();
        rt.block_on(async move {
            let listener = tokio::net::TcpListener::from_std(listener).unwrap();
            loop {
                let Ok((tcp, _)) = listener.accept().await else {
                    continue;
                };
                let acceptor = acceptor.clone();
                tokio::spawn(async move {
                    let Ok(mut tls) = acceptor.accept(tcp).await else {
                        return;
                    };
                    let mut req = Vec::new();
                    let mut buf = [0u8; 1024];
                    while !req.windows(4).any(|w| w == b"\r\n\r\n") && req.len() < 16_384 {
                        match tls.read(&mut buf).await {
                            Ok(0) | Err(_) => return,
                            Ok(n) => req.extend_from_slice(&buf[..n]),
                        }
                    }
                    let text = String::from_utf8_lossy(&req);
                    let host = text
                        .lines()
                        .find_map(|l| l.strip_prefix("Host: "))
                        .unwrap_or("")
                        .trim()
                        .to_string();
                    let wanted_path = text.starts_with("GET /.well-known/mta-sts.txt HTTP/1.1");
                    let reply = if wanted_path {
                        answer(&host)
                    } else {
                        b"HTTP/1.1 400 Bad Request\r\nContent-Length: 0\r\n\r\n".to_vec()
                    };
                    let _ = tls.write_all(&reply).await;
                    let _ = tls.shutdown().await;
                });
            }
        });
    });
    (port, ca_cert.pem())
}

fn check_json(sts_port: u16, args: &[&str]) -> (Value, Duration) {
    let mut cmd = Command::cargo_bin("smtpscope").unwrap();
    cmd.timeout(Duration::from_secs(60));
    cmd.env(
        "SMTPSCOPE_CONFIG_DIR",
        std::env::temp_dir().join("smtpscope-sts-empty"),
    );
    cmd.env("SMTPSCOPE_TEST_MTA_STS_PORT", sts_port.to_string());
    cmd.args(["check", "--format", "json"]);
    cmd.args(args);
    let started = std::time::Instant::now();
    let out = cmd.output().unwrap();
    let took = started.elapsed();
    let doc: Value = serde_json::from_slice(&out.stdout).unwrap_or_else(|e| {
        panic!(
            "{e}: {} {}",
            String::from_utf8_lossy(&out.stdout),
            String::from_utf8_lossy(&out.stderr)
        )
    });
    (doc, took)
}

fn sts_result(
    dns: &DnsServer,
    domain: &str,
    mx_port: u16,
    ca: &str,
    sts_port: u16,
    extra: &[&str],
) -> Value {
    let mut cmd = Command::cargo_bin("smtpscope").unwrap();
    cmd.timeout(Duration::from_secs(60));
    cmd.env(
        "SMTPSCOPE_CONFIG_DIR",
        std::env::temp_dir().join("smtpscope-sts-empty"),
    );
    cmd.env("SMTPSCOPE_TEST_MTA_STS_PORT", sts_port.to_string());
    cmd.args([
        "check",
        "--domain",
        domain,
        "--dns-server",
        &dns.addr.to_string(),
        "--mx-port",
        &mx_port.to_string(),
        "--ca-file",
        ca,
        "--helo",
        "probe.test",
        "--scenario",
        "mta-sts",
        "--format",
        "json",
    ]);
    cmd.args(extra);
    let out = cmd.output().unwrap();
    let doc: Value = serde_json::from_slice(&out.stdout).unwrap_or_else(|e| {
        panic!(
            "{e}: {} {}",
            String::from_utf8_lossy(&out.stdout),
            String::from_utf8_lossy(&out.stderr)
        )
    });
    let results = doc["results"].as_array().unwrap();
    assert_eq!(results.len(), 1, "{doc:#}");
    assert_eq!(results[0]["id"], "posture-mta-sts-policy");
    results[0].clone()
}

#[test]
fn policies_are_fetched_parsed_and_held_against_each_mx() {
    let Some(pf) = common::postfix::shared("mta_sts") else {
        return;
    };
    let (sts_port, sts_ca) = policy_server();
    let mut extra = vec!["host-record=mail.lab.example,127.0.0.1".to_string()];
    extra.push("host-record=mx-badcert.sts.example,127.0.0.1".into());
    for d in DOMAINS {
        let mx = if d == "badcert.sts.example" {
            "mx-badcert.sts.example"
        } else {
            "mail.lab.example"
        };
        extra.push(format!("mx-host={d},{mx},10"));
        if !NO_TXT.contains(&d) {
            extra.push(format!("txt-record=_mta-sts.{d},\"v=STSv1; id=20261201\""));
        }
        if !NO_HOST.contains(&d) {
            extra.push(format!("host-record=mta-sts.{d},127.0.0.1"));
        }
    }
    let dns = match DnsServer::start_with(&extra) {
        Ok(Some(d)) => d,
        Ok(None) => {
            if std::env::var("CI").is_ok_and(|v| v == "true") {
                panic!("CI requires dnsmasq");
            }
            common::skips::skipped("mta_sts", "dnsmasq not installed");
            return;
        }
        Err(e) => panic!("dnsmasq: {e}"),
    };
    // One CA file: the Postfix CA (for the MX) and the policy server's.
    let dir = tempfile::tempdir().unwrap();
    let ca = dir.path().join("cas.pem");
    let postfix_ca = std::fs::read_to_string(&pf.ca_pem_path).unwrap();
    std::fs::write(&ca, format!("{postfix_ca}{sts_ca}")).unwrap();
    let ca = ca.display().to_string();
    let run = |domain: &str| sts_result(&dns, domain, pf.relaxed_port, &ca, sts_port, &[]);
    let steps = |r: &Value| r["steps"].as_array().unwrap().clone();

    // The whole domain in one run: every scenario against the MX, the posture records, the
    // certificate chain and TLS versions, DANE and the MTA-STS policy.
    let (doc, took) = check_json(
        sts_port,
        &[
            "--domain",
            "enforce.sts.example",
            "--dns-server",
            &dns.addr.to_string(),
            "--mx-port",
            &pf.relaxed_port.to_string(),
            "--ca-file",
            &ca,
            "--helo",
            "probe.test",
            "--local-recipient",
            "postmaster@lab.example",
            "--all",
        ],
    );
    let ids: Vec<&str> = doc["results"]
        .as_array()
        .unwrap()
        .iter()
        .map(|r| r["id"].as_str().unwrap())
        .collect();
    for want in [
        "starttls",
        "unauth-relay",
        "posture-mx",
        "posture-mta-sts",
        "posture-mta-sts-policy",
        "posture-dane",
    ] {
        assert!(ids.contains(&want), "{want} missing from --all: {ids:?}");
    }
    let starttls = doc["results"]
        .as_array()
        .unwrap()
        .iter()
        .find(|r| r["id"] == "starttls")
        .unwrap();
    assert_eq!(starttls["verdict"], "pass", "{starttls:#}");
    eprintln!("check --domain --all took {} ms", took.as_millis());
    // Its speed is a benchmark's business (BENCHMARKS.md); what would make it slow is a wait
    // that ran out, and no step of the run may end in one.
    let text = doc.to_string();
    for waited in ["no reply within", "timed out", "not tried"] {
        assert!(!text.contains(waited), "a step waited ({waited}): {doc:#}");
    }

    let r = run("enforce.sts.example");
    assert_eq!(r["verdict"], "pass", "{r:#}");
    let s = steps(&r);
    assert_eq!(
        s[0]["reply"]["text"],
        "TXT id=20261201; policy: mode: enforce; mx: mail.lab.example; max_age: 604800",
        "the TXT id and the policy together: {r:#}"
    );
    assert!(
        s[1]["reason"]
            .as_str()
            .unwrap()
            .contains("matches mx: mail.lab.example; certificate valid for mail.lab.example"),
        "{r:#}"
    );

    let r = run("uncovered.sts.example");
    assert_eq!(r["verdict"], "fail", "{r:#}");
    let reason = r["reason"].as_str().unwrap();
    assert!(
        reason.contains("mail.lab.example matches no mx: pattern (*.other.example)")
            && reason.contains("enforcing senders will not deliver"),
        "{reason}"
    );

    let r = run("badcert.sts.example");
    assert_eq!(r["verdict"], "fail", "{r:#}");
    let reason = r["reason"].as_str().unwrap();
    assert!(
        reason.contains("certificate not valid") && reason.contains("name mismatch"),
        "{reason}"
    );

    // `--tls-name` names what `session` and the scenarios verify; MTA-STS senders check the
    // MX host name (RFC 8461 §4.1), so the policy check does too, and says the override was
    // not used. Before, `--tls-name localhost` made this MX pass.
    let r = sts_result(
        &dns,
        "badcert.sts.example",
        pf.relaxed_port,
        &ca,
        sts_port,
        &["--tls-name", "localhost"],
    );
    assert_eq!(r["verdict"], "fail", "{r:#}");
    let reason = r["reason"].as_str().unwrap();
    assert!(
        reason.contains("name mismatch: wanted mx-badcert.sts.example")
            && reason.contains("the name localhost set by --tls-name is not used here"),
        "{reason}"
    );
    let r = sts_result(
        &dns,
        "enforce.sts.example",
        pf.relaxed_port,
        &ca,
        sts_port,
        &["--tls-name", "localhost"],
    );
    assert_eq!(r["verdict"], "pass", "{r:#}");
    assert!(
        r.to_string()
            .contains("certificate valid for mail.lab.example (the MX name"),
        "{r:#}"
    );

    let r = run("testing.sts.example");
    assert_eq!(r["verdict"], "warn", "testing mode only reports: {r:#}");
    assert!(
        r["reason"].as_str().unwrap().contains("matches no mx"),
        "{r:#}"
    );

    let r = run("redirect.sts.example");
    assert_eq!(r["verdict"], "fail", "{r:#}");
    let reason = r["reason"].as_str().unwrap();
    assert!(
        reason.contains("HTTP 301 redirect") && reason.contains("refused"),
        "{reason}"
    );

    let r = run("big.sts.example");
    assert_eq!(r["verdict"], "fail", "{r:#}");
    assert!(
        r["reason"]
            .as_str()
            .unwrap()
            .contains("the body is larger than 65536 bytes"),
        "{r:#}"
    );

    // README's table, the WARN column: max_age under a day, not text/plain, mode none, no TXT.
    let r = run("brief.sts.example");
    assert_eq!(r["verdict"], "warn", "max_age 3600: {r:#}");
    assert!(
        r.to_string().contains("max_age 3600 s is under a day"),
        "{r:#}"
    );
    let r = run("html.sts.example");
    assert_eq!(r["verdict"], "warn", "text/html: {r:#}");
    assert!(
        r.to_string()
            .contains("served as \\\"text/html\\\"; RFC 8461 §3.2 wants text/plain"),
        "{r:#}"
    );
    let r = run("none.sts.example");
    assert_eq!(r["verdict"], "warn", "mode none: {r:#}");
    assert!(
        r.to_string().contains("mode none: the policy is withdrawn"),
        "{r:#}"
    );
    let r = run("notxt.sts.example");
    assert_eq!(r["verdict"], "warn", "no TXT record: {r:#}");
    assert!(
        r.to_string()
            .contains("no v=STSv1 record at _mta-sts.notxt.sts.example"),
        "{r:#}"
    );

    // The FAIL column: unfetchable (no address; HTTP 404) and unparsable.
    let r = run("nohost.sts.example");
    assert_eq!(r["verdict"], "fail", "no policy host: {r:#}");
    assert!(
        r.to_string()
            .contains("TXT id=20261201 announces a policy, but it cannot be fetched"),
        "{r:#}"
    );
    let r = run("gone.sts.example");
    assert_eq!(r["verdict"], "fail", "HTTP 404: {r:#}");
    assert!(
        r.to_string()
            .contains("HTTP 404: the policy must be served with 200"),
        "{r:#}"
    );
    let r = run("garbled.sts.example");
    assert_eq!(r["verdict"], "fail", "not a policy: {r:#}");
    assert!(r.to_string().contains("the policy does not parse"), "{r:#}");
}
