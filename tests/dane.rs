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

fn dane_result(dns: std::net::SocketAddr, domain: &str, port: u16) -> Value {
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
        &dns.to_string(),
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

    let r = dane_result(dns.addr, "match.dane.example", port);
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

    let r = dane_result(dns.addr, "nomatch.dane.example", port);
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

    let r = dane_result(dns.addr, "none.dane.example", port);
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

/// A root CA and a leaf for `names` it signs, as PEM; the leaf's file carries the root after
/// it, so the server sends the trust anchor as DANE-TA needs (RFC 7672 §3.1.2). Returns the
/// leaf's and the root's SPKI SHA-256, the chain file and the key file.
fn chain_with_anchor(dir: &std::path::Path, names: &[&str]) -> (String, String, String, String) {
    use rcgen::{
        BasicConstraints, CertificateParams, DnType, ExtendedKeyUsagePurpose, IsCa, Issuer,
        KeyPair, KeyUsagePurpose,
    };
    let root_key = KeyPair::generate().unwrap();
    let mut root_params = CertificateParams::new(Vec::<String>::new()).unwrap();
    root_params
        .distinguished_name
        .push(DnType::CommonName, "smtpscope DANE-TA root");
    root_params.is_ca = IsCa::Ca(BasicConstraints::Unconstrained);
    root_params.key_usages = vec![KeyUsagePurpose::KeyCertSign, KeyUsagePurpose::CrlSign];
    let root_cert = root_params.self_signed(&root_key).unwrap();
    let root = Issuer::new(root_params, root_key);
    let leaf_key = KeyPair::generate().unwrap();
    let mut leaf_params =
        CertificateParams::new(names.iter().map(|s| s.to_string()).collect::<Vec<_>>()).unwrap();
    leaf_params
        .distinguished_name
        .push(DnType::CommonName, names[0]);
    leaf_params.is_ca = IsCa::ExplicitNoCa;
    leaf_params.key_usages = vec![KeyUsagePurpose::DigitalSignature];
    leaf_params.extended_key_usages = vec![ExtendedKeyUsagePurpose::ServerAuth];
    leaf_params.use_authority_key_identifier_extension = true;
    let leaf_cert = leaf_params.signed_by(&leaf_key, &root).unwrap();
    let chain = dir.join("chain.pem");
    std::fs::write(&chain, format!("{}{}", leaf_cert.pem(), root_cert.pem())).unwrap();
    let key = dir.join("key.pem");
    std::fs::write(&key, leaf_key.serialize_pem()).unwrap();
    (
        hex(&spki_sha256(&leaf_cert.pem())),
        hex(&spki_sha256(&root_cert.pem())),
        chain.display().to_string(),
        key.display().to_string(),
    )
}

/// README's DANE row as verdicts, through `check --domain` with validated answers: a DANE-TA
/// record whose anchor the server sends passes when the chain from it verifies for the MX and
/// FAILs when it does not (the MX's name is not in the certificate); PKIX usages 0 and 1 are
/// each a WARN step ("not used for SMTP") and do not fail an MX that a usable record covers.
#[test]
fn dane_ta_that_does_not_verify_fails_and_pkix_usages_warn() {
    let dir = tempfile::tempdir().unwrap();
    let (leaf, root, chain, key) = chain_with_anchor(
        dir.path(),
        &[
            "localhost",
            "mx-ta-good.dane.example",
            "mx-pkix.dane.example",
        ],
    );
    let pf = match common::postfix::Postfix::start_with(vec![vec![
        format!("smtpd_tls_cert_file={chain}"),
        format!("smtpd_tls_key_file={key}"),
    ]]) {
        Ok(Some(p)) => p,
        Ok(None) => {
            let why = common::postfix::missing_requirements()
                .unwrap_or_else(|| "postfix not installed".into());
            if std::env::var("CI").is_ok_and(|v| v == "true") {
                panic!("CI requires Postfix: {why}");
            }
            common::skips::skipped("dane_ta_verdicts", &why);
            return;
        }
        Err(e) => panic!("starting Postfix: {e}"),
    };
    let port = pf.extra_ports[0];
    let mut extra = Vec::new();
    for (domain, mx, records) in [
        (
            "ta-good.dane.example",
            "mx-ta-good.dane.example",
            vec![format!("020101{root}")],
        ),
        // The same anchor, but this MX's name is not in the certificate.
        (
            "ta-bad.dane.example",
            "mx-ta-bad.dane.example",
            vec![format!("020101{root}")],
        ),
        (
            "pkix.dane.example",
            "mx-pkix.dane.example",
            vec![
                format!("030101{leaf}"),
                format!("000101{root}"),
                format!("010101{leaf}"),
            ],
        ),
    ] {
        extra.push(format!("mx-host={domain},{mx},10"));
        extra.push(format!("host-record={mx},127.0.0.1"));
        for rdata in records {
            extra.push(format!("dns-rr=_25._tcp.{mx},52,{rdata}"));
        }
    }
    let dns = match DnsServer::start_with(&extra) {
        Ok(Some(d)) => d,
        Ok(None) => {
            if std::env::var("CI").is_ok_and(|v| v == "true") {
                panic!("CI requires dnsmasq");
            }
            common::skips::skipped("dane_ta_verdicts", "dnsmasq not installed");
            return;
        }
        Err(e) => panic!("dnsmasq: {e}"),
    };
    let front = validating_front(dns.addr, 200);
    let record_step = |r: &Value, prefix: &str| -> Value {
        r["steps"]
            .as_array()
            .unwrap()
            .iter()
            .find(|s| s["command"].as_str().unwrap_or("").starts_with(prefix))
            .cloned()
            .unwrap_or_else(|| panic!("no step {prefix}… in {r:#}"))
    };

    let good = dane_result(front, "ta-good.dane.example", port);
    assert_eq!(good["verdict"], "pass", "{good:#}");
    let ta = record_step(&good, "TLSA 2 1 1 ");
    assert_eq!(ta["verdict"], "pass", "{ta:#}");
    assert!(
        ta["reason"]
            .as_str()
            .unwrap()
            .contains("matches certificate 2 of the chain, and the chain from it verifies"),
        "{ta:#}"
    );

    let bad = dane_result(front, "ta-bad.dane.example", port);
    assert_eq!(bad["verdict"], "fail", "{bad:#}");
    let ta = record_step(&bad, "TLSA 2 1 1 ");
    assert_eq!(ta["verdict"], "fail", "{ta:#}");
    assert!(
        ta["reason"]
            .as_str()
            .unwrap()
            .contains("matches certificate 2 of the chain, but the chain from it does not verify"),
        "{ta:#}"
    );

    let pkix = dane_result(front, "pkix.dane.example", port);
    assert_eq!(
        pkix["verdict"], "pass",
        "usages 0 and 1 do not fail an MX a DANE-EE record covers: {pkix:#}"
    );
    assert_eq!(
        record_step(&pkix, "TLSA 3 1 1 ")["verdict"],
        "pass",
        "{pkix:#}"
    );
    for (usage, kind) in [("0", "TA"), ("1", "EE")] {
        let st = record_step(&pkix, &format!("TLSA {usage} 1 1 "));
        assert_eq!(st["verdict"], "warn", "{st:#}");
        assert!(
            st["reason"].as_str().unwrap().contains(&format!(
                "usage {usage} (PKIX-{kind}) is not used for SMTP (RFC 7672 §3.1.3)"
            )),
            "{st:#}"
        );
    }
}
