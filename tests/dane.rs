//! DANE (RFC 7672) against the real Postfix and a dnsmasq serving TLSA records made from the
//! Postfix certificate at test time: a record that matches, one that does not (with the
//! rollover hint), none at all. dnsmasq does not validate DNSSEC, so every answer comes
//! without the AD bit and the check must say "not validated". TLSA is looked up at
//! `_25._tcp.<mx>` whatever `--mx-port` says: the test's Postfix listens on a free port.

#![allow(clippy::expect_used, clippy::unwrap_used)] // test code: a failed setup should panic loudly

mod common;

use std::time::Duration;

use assert_cmd::Command;
use common::dns_server::DnsServer;
use serde_json::Value;

fn hex(bytes: &[u8]) -> String {
    bytes.iter().map(|b| format!("{b:02x}")).collect()
}

/// SHA-256 of the SubjectPublicKeyInfo of the first certificate in `pem`: "3 1 1" data.
fn spki_sha256(pem: &str) -> Vec<u8> {
    let (_, block) = x509_parser::pem::parse_x509_pem(pem.as_bytes()).unwrap();
    let cert = block.parse_x509().unwrap();
    ring::digest::digest(&ring::digest::SHA256, cert.public_key().raw)
        .as_ref()
        .to_vec()
}

fn dane_result(dns: &DnsServer, domain: &str, port: u16) -> Value {
    let mut cmd = Command::cargo_bin("smtpscope").unwrap();
    cmd.timeout(Duration::from_secs(60));
    cmd.env(
        "SMTPSCOPE_CONFIG_DIR",
        std::env::temp_dir().join("smtpscope-dane-empty"),
    );
    cmd.args([
        "check",
        "--domain",
        domain,
        "--dns-server",
        &dns.addr.to_string(),
        "--mx-port",
        &port.to_string(),
        "--helo",
        "probe.test",
        "--scenario",
        "dane",
        "--format",
        "json",
    ]);
    let out = cmd.output().unwrap();
    let doc: Value = serde_json::from_slice(&out.stdout).unwrap_or_else(|e| {
        panic!(
            "{e}: {} {}",
            String::from_utf8_lossy(&out.stdout),
            String::from_utf8_lossy(&out.stderr)
        )
    });
    let results = doc["results"].as_array().unwrap();
    assert_eq!(
        results.len(),
        1,
        "only the DANE check was asked for: {doc:#}"
    );
    assert_eq!(results[0]["id"], "posture-dane");
    results[0].clone()
}

#[test]
fn tlsa_records_are_matched_against_the_served_chain() {
    let Some(pf) = common::postfix::shared("dane") else {
        return;
    };
    let cert_pem = std::fs::read_to_string(pf.config_dir().join("cert.pem")).unwrap();
    let good = hex(&spki_sha256(&cert_pem));
    let wrong = "00".repeat(32);
    let mut extra = Vec::new();
    for (label, tlsa) in [
        ("match", Some(format!("030101{good}"))),
        ("nomatch", Some(format!("030101{wrong}"))),
        ("none", None),
    ] {
        let mx = format!("mx-{label}.dane.example");
        extra.push(format!("mx-host={label}.dane.example,{mx},10"));
        extra.push(format!("host-record={mx},127.0.0.1"));
        if let Some(rdata) = tlsa {
            // TLSA is RR type 52; usage 3, selector 1, matching type 1, then the hash.
            extra.push(format!("dns-rr=_25._tcp.{mx},52,{rdata}"));
        }
    }
    let dns = match DnsServer::start_with(&extra) {
        Ok(Some(d)) => d,
        Ok(None) => {
            if std::env::var("CI").is_ok_and(|v| v == "true") {
                panic!("CI requires dnsmasq");
            }
            common::skips::skipped("dane", "dnsmasq not installed");
            return;
        }
        Err(e) => panic!("dnsmasq: {e}"),
    };
    let port = pf.relaxed_port;

    let r = dane_result(&dns, "match.dane.example", port);
    assert_eq!(r["verdict"], "warn", "{r:#}");
    let reason = r["reason"].as_str().unwrap();
    assert!(
        reason.contains("a TLSA record matches mx-match.dane.example's chain"),
        "{reason}"
    );
    assert!(reason.contains("not DNSSEC-validated"), "{reason}");
    let steps = r["steps"].as_array().unwrap();
    assert!(
        steps[0]["reason"]
            .as_str()
            .unwrap()
            .contains("not validated"),
        "{r:#}"
    );
    assert_eq!(
        steps[0]["reply"]["text"].as_str().unwrap(),
        format!("3 1 1 {good}"),
        "the record as found"
    );
    assert_eq!(steps[1]["verdict"], "pass", "{r:#}");
    assert!(
        steps[1]["reason"]
            .as_str()
            .unwrap()
            .contains("matches the server certificate")
    );

    let r = dane_result(&dns, "nomatch.dane.example", port);
    assert_eq!(r["verdict"], "warn", "not validated, so a warning: {r:#}");
    let reason = r["reason"].as_str().unwrap();
    assert!(reason.contains("no usable TLSA record matches"), "{reason}");
    assert!(
        reason.contains("publish the new record next to the old one"),
        "{reason}"
    );
    let steps = r["steps"].as_array().unwrap();
    assert_eq!(steps[1]["verdict"], "fail", "{r:#}");
    assert!(
        steps[1]["reason"]
            .as_str()
            .unwrap()
            .contains("matches no certificate")
    );

    let r = dane_result(&dns, "none.dane.example", port);
    assert_eq!(r["verdict"], "warn", "{r:#}");
    assert!(
        r["reason"]
            .as_str()
            .unwrap()
            .contains("no TLSA records at _25._tcp.mx-none.dane.example"),
        "{r:#}"
    );
}

/// A validating resolver's answer: a stand-in DNS server that sets the AD bit and serves one
/// TLSA record, so that the check's "DANE-protected" verdict is reached. (dnsmasq above does
/// not validate; this is the only double in the file, and only for the AD bit.)
#[test]
fn a_validated_matching_record_is_dane_protected() {
    use hickory_resolver::proto::op::{Message, OpCode};
    use hickory_resolver::proto::rr::rdata::TLSA;
    use hickory_resolver::proto::rr::rdata::tlsa::{CertUsage, Matching, Selector};
    use hickory_resolver::proto::rr::{RData, Record};

    let Some(pf) = common::postfix::shared("dane_validated") else {
        return;
    };
    let cert_pem = std::fs::read_to_string(pf.config_dir().join("cert.pem")).unwrap();
    let digest = spki_sha256(&cert_pem);
    let socket = std::net::UdpSocket::bind("127.0.0.1:0").unwrap();
    let addr = socket.local_addr().unwrap();
    std::thread::spawn(move || {
        let mut buf = [0u8; 4096];
        // Bounded: a handful of questions is all the test asks.
        for _ in 0..20 {
            let Ok((n, from)) = socket.recv_from(&mut buf) else {
                return;
            };
            let q = Message::from_vec(&buf[..n]).unwrap();
            assert!(q.metadata.authentic_data, "the question must ask for AD");
            assert!(
                q.edns.as_ref().is_some_and(|e| e.flags().dnssec_ok),
                "and set DO"
            );
            let mut r = Message::response(q.metadata.id, OpCode::Query);
            r.metadata.authentic_data = true;
            r.metadata.recursion_available = true;
            let query = q.queries[0].clone();
            let name = query.name().clone();
            r.add_query(query);
            r.add_answer(Record::from_rdata(
                name,
                60,
                RData::TLSA(TLSA::new(
                    CertUsage::from(3),
                    Selector::from(1),
                    Matching::from(1),
                    digest.clone(),
                )),
            ));
            socket.send_to(&r.to_vec().unwrap(), from).unwrap();
        }
    });
    let dns = smtpscope::dns::resolve::Dns::new(Some(addr)).unwrap();
    let mut opts = smtpscope::net::ConnectOptions::new(smtpscope::net::Target {
        host: "127.0.0.1".into(),
        port: pf.relaxed_port,
    });
    opts.tls.tls_name = Some("mail.lab.example".into());
    let rt = tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
        .unwrap();
    let r = rt.block_on(smtpscope::dns::dane::check(
        &dns,
        "mail.lab.example",
        &opts,
        "probe.test",
    ));
    assert_eq!(r.verdict, smtpscope::scenario::Verdict::Pass, "{r:#?}");
    assert!(r.reason.contains("is DANE-protected"), "{}", r.reason);
    assert!(
        r.steps[0].reason.contains("DNSSEC-validated (AD bit set"),
        "{r:#?}"
    );
}

/// A validating resolver in front of `upstream` (dnsmasq): every answer is dnsmasq's, passed on
/// with the AD bit set, as a validating resolver marks a signed zone's answers. Only the AD bit
/// is made up here; dnsmasq serves the data. Serves at most `questions` questions, then stops.
fn validating_front(upstream: std::net::SocketAddr, questions: usize) -> std::net::SocketAddr {
    let socket = std::net::UdpSocket::bind("127.0.0.1:0").unwrap();
    let addr = socket.local_addr().unwrap();
    socket
        .set_read_timeout(Some(Duration::from_secs(60)))
        .unwrap();
    std::thread::spawn(move || {
        let up = std::net::UdpSocket::bind("127.0.0.1:0").unwrap();
        up.set_read_timeout(Some(Duration::from_secs(5))).unwrap();
        let mut buf = [0u8; 4096];
        for _ in 0..questions {
            let Ok((n, from)) = socket.recv_from(&mut buf) else {
                return;
            };
            up.send_to(&buf[..n], upstream).unwrap();
            let mut answer = [0u8; 4096];
            let Ok(m) = up.recv(&mut answer) else {
                continue;
            };
            if m > 3 {
                answer[3] |= 0x20; // AD: "authentic data"
            }
            let _ = socket.send_to(&answer[..m], from);
        }
    });
    addr
}

/// An MX whose certificate does not name it, vouched for by a DNSSEC-validated DANE-EE
/// record: a DANE sender delivers (RFC 7672 §3.1.1: DANE-EE ignores names), so `check`
/// reaches it as one does. The certificate steps warn, saying why, instead of failing; the
/// handshake goes on and the later steps run. The same record without the AD bit changes
/// nothing: the name mismatch fails as before.
#[test]
fn a_validated_dane_ee_record_vouches_for_a_certificate_with_other_names() {
    let Some(pf) = common::postfix::shared("dane_ee_names") else {
        return;
    };
    let cert_pem = std::fs::read_to_string(pf.config_dir().join("cert.pem")).unwrap();
    let good = hex(&spki_sha256(&cert_pem));
    // The certificate names localhost and mail.lab.example, not this MX.
    let mx = "mx.dane-ee.example";
    let extra = vec![
        format!("mx-host=dane-ee.example,{mx},10"),
        format!("host-record={mx},127.0.0.1"),
        format!("dns-rr=_25._tcp.{mx},52,030101{good}"),
    ];
    let dns = match DnsServer::start_with(&extra) {
        Ok(Some(d)) => d,
        Ok(None) => {
            if std::env::var("CI").is_ok_and(|v| v == "true") {
                panic!("CI requires dnsmasq");
            }
            common::skips::skipped("dane_ee_names", "dnsmasq not installed");
            return;
        }
        Err(e) => panic!("dnsmasq: {e}"),
    };
    let run = |resolver: std::net::SocketAddr| -> Value {
        let mut cmd = Command::cargo_bin("smtpscope").unwrap();
        cmd.timeout(Duration::from_secs(60));
        cmd.env(
            "SMTPSCOPE_CONFIG_DIR",
            std::env::temp_dir().join("smtpscope-dane-empty"),
        );
        cmd.args([
            "check",
            "--domain",
            "dane-ee.example",
            "--dns-server",
            &resolver.to_string(),
            "--mx-port",
            &pf.relaxed_port.to_string(),
            "--ca-file",
            &pf.ca_pem_path.display().to_string(),
            "--helo",
            "probe.test",
            "--scenario",
            "dane",
            "--scenario",
            "starttls",
            "--format",
            "json",
        ]);
        let out = cmd.output().unwrap();
        serde_json::from_slice(&out.stdout).unwrap_or_else(|e| {
            panic!(
                "{e}: {} {}",
                String::from_utf8_lossy(&out.stdout),
                String::from_utf8_lossy(&out.stderr)
            )
        })
    };
    let by_id = |doc: &Value, id: &str| -> Value {
        doc["results"]
            .as_array()
            .unwrap()
            .iter()
            .find(|r| r["id"] == id)
            .cloned()
            .unwrap_or_else(|| panic!("no {id} in {doc:#}"))
    };
    let step = |r: &Value, name: &str| -> Value {
        r["steps"]
            .as_array()
            .unwrap()
            .iter()
            .find(|s| s["name"] == name)
            .cloned()
            .unwrap_or_else(|| panic!("no step {name} in {r:#}"))
    };

    // Validated: the DANE check passes, and the STARTTLS session goes on by the record.
    let doc = run(validating_front(dns.addr, 100));
    let dane = by_id(&doc, "posture-dane");
    assert_eq!(dane["verdict"], "pass", "{dane:#}");
    let starttls = by_id(&doc, "starttls");
    assert_eq!(
        step(&starttls, "STARTTLS handshake")["verdict"],
        "pass",
        "{starttls:#}"
    );
    let verifies = step(&starttls, "certificate verifies");
    assert_eq!(verifies["verdict"], "warn", "{starttls:#}");
    let reason = verifies["reason"].as_str().unwrap();
    assert!(
        reason.contains(&format!("name mismatch: wanted {mx}")),
        "the PKIX defect is still named: {reason}"
    );
    assert!(
        reason.contains("DNSSEC-validated DANE-EE record 3 1 1 matches this certificate"),
        "{reason}"
    );
    assert!(reason.contains("RFC 7672 §3.1.1"), "{reason}");
    assert_eq!(
        step(&starttls, "TLS 1.2 or newer")["verdict"],
        "pass",
        "the session went on inside TLS: {starttls:#}"
    );
    assert_eq!(starttls["verdict"], "warn", "{starttls:#}");

    // Not validated (dnsmasq itself): the record vouches for nothing, the mismatch fails.
    let doc = run(dns.addr);
    let starttls = by_id(&doc, "starttls");
    let verifies = step(&starttls, "certificate verifies");
    assert_eq!(verifies["verdict"], "fail", "{starttls:#}");
    assert!(
        !verifies["reason"].as_str().unwrap().contains("DANE-EE"),
        "{verifies:#}"
    );
    assert_eq!(starttls["verdict"], "fail", "{starttls:#}");
}
