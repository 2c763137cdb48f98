//! `check --domain` against a real DNS server (dnsmasq on 127.0.0.1, started by the fixture)
//! serving good, missing, weak, duplicated and broken records: MX targets, and every cell of
//! README's posture table with its reason.

#![allow(clippy::expect_used, clippy::unwrap_used)] // test code: a failed setup should panic loudly

mod common;

use std::collections::BTreeMap;
use std::time::Duration;

use assert_cmd::Command;
use common::dns_server::{DnsServer, shared};
use serde_json::Value;
use smtpscope::lab::{Lab, LabConfig, Policy};

fn check(dns: &DnsServer, args: &[&str]) -> (i32, Value, String) {
    let mut cmd = Command::cargo_bin("smtpscope").expect("binary");
    cmd.timeout(Duration::from_secs(60));
    cmd.env(
        "SMTPSCOPE_CONFIG_DIR",
        std::env::temp_dir().join("smtpscope-dns-empty"),
    );
    cmd.args([
        "check",
        "--dns-server",
        &dns.addr.to_string(),
        "--format",
        "json",
    ]);
    cmd.args(args);
    let out = cmd.output().expect("run");
    let stdout = String::from_utf8_lossy(&out.stdout).into_owned();
    let stderr = String::from_utf8_lossy(&out.stderr).into_owned();
    let doc = serde_json::from_str(&stdout).unwrap_or_else(|e| panic!("{e}: {stdout} {stderr}"));
    (out.status.code().unwrap_or(-1), doc, stderr)
}

fn verdicts(doc: &Value) -> BTreeMap<String, (String, String)> {
    doc["results"]
        .as_array()
        .expect("results")
        .iter()
        .map(|r| {
            (
                r["id"].as_str().unwrap_or("").to_string(),
                (
                    r["verdict"].as_str().unwrap_or("").to_string(),
                    r["reason"].as_str().unwrap_or("").to_string(),
                ),
            )
        })
        .collect()
}

fn posture(dns: &DnsServer, domain: &str, extra: &[&str]) -> BTreeMap<String, (String, String)> {
    let mut args = vec!["--domain", domain, "--scenario", "posture"];
    args.extend_from_slice(extra);
    let (_, doc, err) = check(dns, &args);
    let v = verdicts(&doc);
    assert!(
        v.keys().all(|k| k.starts_with("posture-")),
        "only posture ran: {v:?} {err}"
    );
    v
}

fn assert_verdict(v: &BTreeMap<String, (String, String)>, id: &str, want: &str, reason_has: &str) {
    let (got, reason) = v.get(id).unwrap_or_else(|| panic!("{id} missing: {v:?}"));
    assert_eq!(got, want, "{id}: {reason}");
    assert!(
        reason.contains(reason_has),
        "{id}: {reason:?} should mention {reason_has:?}"
    );
}

/// One cell of README's posture table: a fixture domain, a check, the verdict it must get and
/// words its reason must hold (each row of the table gets every one of its cells).
const CELLS: &[(&str, &str, &str, &str)] = &[
    // MX: hosts or a null MX pass; no MX (A fallback) warns; nothing at all fails.
    (
        "good.example",
        "posture-mx",
        "pass",
        "mx1.good.example (10), mx2.good.example (20)",
    ),
    ("nullmx.example", "posture-mx", "pass", "null MX (RFC 7505)"),
    (
        "missing.example",
        "posture-mx",
        "warn",
        "no MX record: mail falls back",
    ),
    (
        "nomail.example",
        "posture-mx",
        "fail",
        "no MX and no address",
    ),
    // SPF: -all or ~all pass; ?all or no all warn; none, two, unparsable, +all, >10 fail.
    ("good.example", "posture-spf", "pass", "ends in -all"),
    ("softfail.example", "posture-spf", "pass", "ends in ~all"),
    (
        "neutral.example",
        "posture-spf",
        "warn",
        "?all says nothing",
    ),
    ("noall.example", "posture-spf", "warn", "no 'all' term"),
    ("missing.example", "posture-spf", "fail", "no SPF record"),
    (
        "dup.example",
        "posture-spf",
        "fail",
        "2 SPF records (v=spf1) found",
    ),
    (
        "broken.example",
        "posture-spf",
        "fail",
        "the record does not parse: term 1 'ip4:' has no address",
    ),
    (
        "open.example",
        "posture-spf",
        "fail",
        "+all lets every server",
    ),
    (
        "toomany.example",
        "posture-spf",
        "fail",
        "over the limit of 10",
    ),
    // DMARC: reject or quarantine pass; none warns; none at all, two, unparsable fail.
    ("good.example", "posture-dmarc", "pass", "p=reject"),
    ("open.example", "posture-dmarc", "pass", "p=quarantine"),
    ("softfail.example", "posture-dmarc", "warn", "p=none"),
    (
        "missing.example",
        "posture-dmarc",
        "fail",
        "no DMARC record",
    ),
    (
        "dup.example",
        "posture-dmarc",
        "fail",
        "2 DMARC records found",
    ),
    (
        "broken.example",
        "posture-dmarc",
        "fail",
        "p=maybe is not none, quarantine or reject",
    ),
    // MTA-STS: announced passes; none warns; two or unparsable fail.
    (
        "good.example",
        "posture-mta-sts",
        "pass",
        "MTA-STS announced (id 20261128T000000)",
    ),
    ("missing.example", "posture-mta-sts", "warn", "no MTA-STS"),
    (
        "dup.example",
        "posture-mta-sts",
        "fail",
        "2 MTA-STS (v=STSv1) records found",
    ),
    (
        "broken.example",
        "posture-mta-sts",
        "fail",
        "id=bad id! must be 1 to 32 letters",
    ),
    // TLS-RPT: with rua passes; none warns; unparsable fails.
    (
        "good.example",
        "posture-tls-rpt",
        "pass",
        "TLS reports go to mailto:tlsrpt@good.example",
    ),
    ("missing.example", "posture-tls-rpt", "warn", "no TLS-RPT"),
    ("broken.example", "posture-tls-rpt", "fail", "no rua= tag"),
    // DKIM (--dkim-selector sel1): a key passes; revoked warns; missing or unparsable fail.
    ("good.example", "posture-dkim", "pass", "rsa key, 2048 bits"),
    (
        "softfail.example",
        "posture-dkim",
        "warn",
        "the key at sel1._domainkey.softfail.example is revoked (empty p=)",
    ),
    (
        "missing.example",
        "posture-dkim",
        "fail",
        "no DKIM key at selector sel1",
    ),
    (
        "broken.example",
        "posture-dkim",
        "fail",
        "the key record does not parse: p= is not valid base64",
    ),
    (
        "dup.example",
        "posture-dkim",
        "fail",
        "more than one key record",
    ),
];

/// Every cell of README's posture table, each with its reason.
#[test]
fn every_cell_of_the_posture_table() {
    let Some(dns) = shared("every_cell_of_the_posture_table") else {
        return;
    };
    let mut domains: Vec<&str> = CELLS.iter().map(|c| c.0).collect();
    domains.dedup();
    domains.sort_unstable();
    domains.dedup();
    let mut failures = Vec::new();
    for domain in domains {
        let v = posture(dns, domain, &["--dkim-selector", "sel1"]);
        for &(_, id, want, reason_has) in CELLS.iter().filter(|c| c.0 == domain) {
            match v.get(id) {
                Some((got, reason)) if got == want && reason.contains(reason_has) => {}
                Some((got, reason)) => failures.push(format!(
                    "{domain} {id}: {got} ({reason:?}), want {want} mentioning {reason_has:?}"
                )),
                None => failures.push(format!("{domain} {id}: missing from {v:?}")),
            }
        }
    }
    assert!(failures.is_empty(), "{}", failures.join("\n"));
}

/// The table's columns, checked against itself: every check has a PASS, a WARN and a FAIL row
/// (TLS-RPT, MTA-STS and DKIM included), so a cell cannot go missing unnoticed.
#[test]
fn the_cell_table_covers_every_verdict_of_every_check() {
    for id in [
        "posture-mx",
        "posture-spf",
        "posture-dmarc",
        "posture-mta-sts",
        "posture-tls-rpt",
        "posture-dkim",
    ] {
        for verdict in ["pass", "warn", "fail"] {
            assert!(
                CELLS.iter().any(|c| c.1 == id && c.2 == verdict),
                "{id} has no {verdict} cell"
            );
        }
    }
}

/// Without --dkim-selector, DKIM is skipped and says how to check it.
#[test]
fn dkim_without_a_selector_is_skipped() {
    let Some(dns) = shared("dkim_without_a_selector_is_skipped") else {
        return;
    };
    let v = posture(dns, "good.example", &[]);
    assert_verdict(&v, "posture-dkim", "skipped", "--dkim-selector");
}

/// The whole run: MX targets from DNS, relay scenarios against the practice lab they point
/// to (the MX hosts resolve to 127.0.0.1), posture in the same report.
#[test]
fn check_all_from_a_domain_tests_its_mx_hosts() {
    let Some(dns) = shared("check_all_from_a_domain_tests_its_mx_hosts") else {
        return;
    };
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
    let port = lab.addr.port().to_string();
    let ca = lab.ca_path.display().to_string();
    let common = [
        "--domain",
        "good.example",
        "--mx-port",
        &port,
        "--ca-file",
        &ca,
        "--tls-name",
        "localhost",
        "--local-recipient",
        "postmaster@lab.example",
        "--all",
    ];
    let (code, doc, err) = check(dns, &common);
    let v = verdicts(&doc);
    assert_eq!(v["unauth-relay"].0, "pass", "{doc:#} {err}");
    assert_eq!(v["posture-spf"].0, "pass");
    assert!(
        doc["target"]["server"]
            .as_str()
            .is_some_and(|s| s.starts_with("mx1.good.example")),
        "{doc:#}"
    );
    // good.example announces MTA-STS in TXT but no policy server answers for it (the
    // policy half is tested in tests/mta_sts.rs): that is the one failure of --all.
    let (sts, why) = &v["posture-mta-sts-policy"];
    assert_eq!(sts, "fail", "{doc:#}");
    assert!(why.contains("cannot be fetched"), "{why}");
    let failed: Vec<&String> = v
        .iter()
        .filter(|(_, (verdict, _))| verdict == "fail")
        .map(|(id, _)| id)
        .collect();
    assert_eq!(failed, ["posture-mta-sts-policy"], "{doc:#}");
    assert_eq!(code, 1, "{doc:#}");

    let mut all_mx = common.to_vec();
    all_mx.extend(["--all-mx", "--scenario", "A"]);
    let (_, doc, err) = check(dns, &all_mx);
    let a: Vec<&Value> = doc["results"]
        .as_array()
        .unwrap()
        .iter()
        .filter(|r| r["id"] == "unauth-relay")
        .collect();
    assert_eq!(a.len(), 2, "both MX hosts tested: {doc:#} {err}");
    assert!(
        a[1]["title"]
            .as_str()
            .is_some_and(|t| t.contains("mx2.good.example"))
    );

    // A run that could test nothing says why in the report and never exits 0.
    let (code, doc, err) = check(dns, &["--domain", "nullmx.example", "--scenario", "A"]);
    assert!(err.contains("null MX"), "{err}");
    let results = doc["results"].as_array().unwrap();
    assert_eq!(results.len(), 1, "{doc:#}");
    assert_eq!(results[0]["verdict"], "inconclusive", "{doc:#}");
    assert!(
        results[0]["reason"]
            .as_str()
            .is_some_and(|r| r.contains("no SMTP target") && r.contains("null MX")),
        "{doc:#}"
    );
    assert_eq!(code, 3, "{doc:#}");
}

/// The TUI starts a session from a domain: a profile with `domain` and no `server` connects to
/// the most preferred MX host found through the profile's DNS server.
#[test]
fn the_tui_connects_to_a_domain_through_its_mx() {
    use smtpscope::tui::message::{Effect, NetEvent, Target};
    use smtpscope::tui::state::Toggles;
    let Some(dns) = shared("the_tui_connects_to_a_domain_through_its_mx") else {
        return;
    };
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
    let profile = smtpscope::profile::Profile::parse(
        &format!(
            "domain = \"good.example\"\ndns_server = \"{}\"\nmx_port = {}\nca_file = \"{}\"\ntls_name = \"localhost\"\n",
            dns.addr,
            lab.addr.port(),
            lab.ca_path.display()
        ),
        std::path::Path::new("domain.toml"),
    )
    .expect("a profile with only a domain");
    let target = Target {
        profile_name: "domain".into(),
        toggles: Toggles::from_profile(&profile),
        profile,
        password: None,
    };
    let (effect_tx, effect_rx) = tokio::sync::mpsc::unbounded_channel();
    let (net_tx, mut net_rx) = tokio::sync::mpsc::unbounded_channel();
    let (_abort_tx, abort_rx) = tokio::sync::watch::channel(0u64);
    rt.spawn(
        smtpscope::tui::worker::Worker::new(net_tx, std::env::temp_dir()).run(effect_rx, abort_rx),
    );
    effect_tx
        .send(Effect::Manual {
            target: Box::new(target),
            bytes: b"NOOP\r\n".to_vec(),
        })
        .expect("worker alive");
    let seen = rt.block_on(async {
        let mut seen = Vec::new();
        let deadline = tokio::time::Instant::now() + Duration::from_secs(10);
        while let Ok(Some(ev)) = tokio::time::timeout_at(deadline, net_rx.recv()).await {
            if let NetEvent::Entry(e) = &ev {
                seen.extend(smtpscope::transcript::render_entry(e));
            }
            if matches!(ev, NetEvent::Idle) {
                break;
            }
        }
        seen.join("\n")
    });
    assert!(
        seen.contains(&format!("connecting to 127.0.0.1:{}", lab.addr.port())),
        "{seen}"
    );
    assert!(seen.contains("S: 220 mail.lab.example"), "{seen}");
    assert!(seen.contains("S: 250 2.0.0 Ok"), "{seen}");
}

/// `check --profile` and `session --profile` honour the profile's `dns_server` and `mx_port`,
/// as the TUI does: all three test the same MX host.
#[test]
fn a_domain_profile_means_the_same_mx_in_check_and_session() {
    let Some(dns) = shared("a_domain_profile_means_the_same_mx_in_check_and_session") else {
        return;
    };
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
    let config = tempfile::tempdir().unwrap();
    std::fs::create_dir_all(config.path().join("profiles")).unwrap();
    std::fs::write(
        config.path().join("profiles/d.toml"),
        format!(
            "domain = \"good.example\"\ndns_server = \"{}\"\nmx_port = {}\nca_file = \"{}\"\ntls_name = \"localhost\"\n[relay]\nlocal_recipient = \"postmaster@lab.example\"\n",
            dns.addr,
            lab.addr.port(),
            lab.ca_path.display()
        ),
    )
    .unwrap();
    let run = |args: &[&str]| {
        let out = Command::cargo_bin("smtpscope")
            .unwrap()
            .env("SMTPSCOPE_CONFIG_DIR", config.path())
            .args(args)
            .timeout(Duration::from_secs(60))
            .output()
            .unwrap();
        (
            out.status.code(),
            String::from_utf8_lossy(&out.stdout).into_owned(),
            String::from_utf8_lossy(&out.stderr).into_owned(),
        )
    };
    let (code, out, err) = run(&[
        "check",
        "--profile",
        "d",
        "--scenario",
        "A",
        "--format",
        "json",
    ]);
    let doc: Value = serde_json::from_str(&out).unwrap_or_else(|e| panic!("{e}: {out} {err}"));
    assert!(
        doc["target"]["server"]
            .as_str()
            .is_some_and(|s| s.starts_with("mx1.good.example")),
        "{doc:#} {err}"
    );
    assert_eq!(verdicts(&doc)["unauth-relay"].0, "pass", "{doc:#}");
    assert_eq!(code, Some(0), "{doc:#} {err}");
    let (code, out, err) = run(&["session", "--profile", "d", "--quit-after", "banner"]);
    assert!(
        out.contains(&format!(
            "=== good.example: MX mx1.good.example (127.0.0.1:{})",
            lab.addr.port()
        )),
        "{out} {err}"
    );
    assert_eq!(code, Some(0), "{out} {err}");
}

/// A domain profile's explorer lists the domain checks with the scenarios, and running one
/// gives, row for row, the verdicts `check --domain` gives: the same plan entry, the same
/// code.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_explorer_runs_the_posture_checks_as_check_does() {
    let Some(dns) = shared("the_explorer_runs_the_posture_checks_as_check_does") else {
        return;
    };
    for domain in [
        "good.example",
        "broken.example",
        "softfail.example",
        "missing.example",
    ] {
        let from_check: BTreeMap<String, String> = {
            let addr = dns.addr;
            let domain = domain.to_string();
            let doc = tokio::task::spawn_blocking(move || {
                let mut cmd = Command::cargo_bin("smtpscope").expect("binary");
                cmd.timeout(Duration::from_secs(60));
                cmd.env(
                    "SMTPSCOPE_CONFIG_DIR",
                    std::env::temp_dir().join("smtpscope-dns-empty"),
                );
                cmd.args([
                    "check",
                    "--dns-server",
                    &addr.to_string(),
                    "--format",
                    "json",
                    "--domain",
                    &domain,
                    "--scenario",
                    "posture",
                ]);
                let out = cmd.output().expect("run");
                serde_json::from_slice::<Value>(&out.stdout).expect("a JSON report")
            })
            .await
            .expect("check ran");
            doc["results"]
                .as_array()
                .expect("results")
                .iter()
                .map(|r| {
                    (
                        r["scenario"].as_str().unwrap_or("").to_string(),
                        r["verdict"].as_str().unwrap_or("").to_ascii_lowercase(),
                    )
                })
                .collect()
        };
        assert!(from_check.len() >= 5, "{domain}: {from_check:?}");
        let profile = smtpscope::profile::Profile::parse(
            &format!("domain = \"{domain}\"\ndns_server = \"{}\"\n", dns.addr),
            std::path::Path::new("domain.toml"),
        )
        .expect("a domain profile");
        let mut app = common::stepping::Stepping::new("domain", profile);
        for id in ["posture", "mta-sts", "dane"] {
            assert!(
                app.state.catalogue.iter().any(|s| s.id == id),
                "{domain}: {id} is listed with the scenarios"
            );
        }
        let stepped = app
            .step_through("posture", &[], 2, Duration::from_secs(30))
            .await;
        let run = app.state.run.as_ref().expect("the posture run");
        let from_explorer: BTreeMap<String, String> = run
            .steps
            .iter()
            .filter_map(|s| s.result.as_ref())
            .map(|r| {
                (
                    r.command.clone(),
                    r.verdict.to_string().to_ascii_lowercase(),
                )
            })
            .collect();
        assert_eq!(
            from_explorer,
            from_check,
            "{domain}: the explorer's rows against check's results (explorer ended {})\n{}",
            stepped.ended,
            app.screen()
        );
    }
}

// ---------------------------------------------------------------------------------------------
// Issue #31: one zone per finding, served by a second dnsmasq with the zones below added to the
// fixture's; names under `servfail.example` are forwarded to a scripted server that answers
// every question with SERVFAIL (the one fault dnsmasq cannot make by itself).

/// A dnsmasq.conf `txt-record=` line, the text split into character-strings of 255 bytes.
fn txt_line(name: &str, text: &str) -> String {
    let strings: Vec<String> = text
        .as_bytes()
        .chunks(255)
        .map(|c| format!("\"{}\"", String::from_utf8_lossy(c)))
        .collect();
    format!("txt-record={name},{}", strings.join(","))
}

/// Runs a shell pipeline of `openssl` commands and returns its standard output.
fn openssl(pipeline: &str) -> Vec<u8> {
    let out = std::process::Command::new("/bin/sh")
        .arg("-c")
        .arg(pipeline)
        .output()
        .expect("sh");
    assert!(
        out.status.success(),
        "{pipeline}: {}",
        String::from_utf8_lossy(&out.stderr)
    );
    out.stdout
}

fn b64(bytes: &[u8]) -> String {
    use base64::Engine as _;
    base64::engine::general_purpose::STANDARD.encode(bytes)
}

/// The public key of a new `bits`-bit RSA key as a DER SubjectPublicKeyInfo, or as a PKCS#1
/// RSAPublicKey; the private key is never written anywhere.
fn rsa_public_der(bits: u32, pkcs1: bool) -> Vec<u8> {
    let out = if pkcs1 {
        "openssl rsa -pubin -RSAPublicKey_out -outform DER 2>/dev/null"
    } else {
        "openssl pkey -pubin -outform DER"
    };
    openssl(&format!(
        "openssl genpkey -algorithm RSA -pkeyopt rsa_keygen_bits:{bits} 2>/dev/null | openssl pkey -pubout | {out}"
    ))
}

/// The bare 32-byte public key of a new Ed25519 key (the DER SubjectPublicKeyInfo's last 32
/// bytes, RFC 8463 §4.2).
fn ed25519_public_raw() -> Vec<u8> {
    let der = openssl("openssl genpkey -algorithm ed25519 | openssl pkey -pubout -outform DER");
    der[der.len() - 32..].to_vec()
}

/// A UDP DNS server on 127.0.0.1 that answers every question with SERVFAIL, on a thread that
/// lives as long as the test process.
fn servfail_server() -> std::net::SocketAddr {
    let socket = std::net::UdpSocket::bind("127.0.0.1:0").expect("bind");
    let addr = socket.local_addr().expect("addr");
    std::thread::spawn(move || {
        let mut buf = [0u8; 1500];
        while let Ok((n, from)) = socket.recv_from(&mut buf) {
            let query = &buf[..n];
            // The question: the name's labels from byte 12, then type and class.
            let mut end = 12;
            while end < n && query[end] != 0 {
                end += 1 + usize::from(query[end]);
            }
            let end = (end + 5).min(n);
            let mut reply = query[..end].to_vec();
            if reply.len() < 12 {
                continue;
            }
            reply[2] = 0x80 | (query[2] & 0x01); // QR, opcode QUERY, RD copied
            reply[3] = 0x82; // RA, SERVFAIL
            reply[6..12].fill(0); // no answer, authority or additional records
            let _ = socket.send_to(&reply, from);
        }
    });
    addr
}

/// The zones of the findings, as dnsmasq.conf lines.
fn finding_zones(servfail: std::net::SocketAddr) -> Vec<String> {
    let mut lines = vec![
        // Void reverse lookups (for spfquery's ptr) instead of REFUSED.
        "local=/in-addr.arpa/".to_string(),
        format!(
            "server=/servfail.example/{}#{}",
            servfail.ip(),
            servfail.port()
        ),
        // SPF
        txt_line("spf-noinclude.example", "v=spf1 include:nospf.example -all"),
        "host-record=nospf.example,127.0.0.1".to_string(),
        txt_line(
            "spf-brokeninclude.example",
            "v=spf1 include:_spf.spf-brokeninclude.example -all",
        ),
        txt_line(
            "_spf.spf-brokeninclude.example",
            "v=spf1 ip4:999.1.1.1 -all",
        ),
        txt_line("spf-mx11.example", "v=spf1 mx:many.spf-mx11.example -all"),
        txt_line(
            "spf-void.example",
            "v=spf1 a:v1.spf-void.example a:v2.spf-void.example a:v3.spf-void.example -all",
        ),
        txt_line(
            "spf-servfail.example",
            "v=spf1 include:spf.servfail.example -all",
        ),
        txt_line("spf-ptr.example", "v=spf1 ptr -all"),
        txt_line("spf-gate.example", "v=spf1 include:nospf.example -all"),
        "mx-host=spf-gate.example,mx.spf-gate.example,10".to_string(),
        "host-record=mx.spf-gate.example,127.0.0.1".to_string(),
        txt_line(
            "_dmarc.spf-gate.example",
            "v=DMARC1; p=reject; rua=mailto:dmarc@spf-gate.example",
        ),
        txt_line(
            "spf-long.example",
            &format!(
                "v=spf1 {} -all",
                (1..=40)
                    .map(|i| format!("ip4:192.0.2.{i}"))
                    .collect::<Vec<_>>()
                    .join(" ")
            ),
        ),
        txt_line(
            "spf-redirect-nospf.example",
            "v=spf1 redirect=nospf.example",
        ),
        // DMARC
        txt_line(
            "_dmarc.orgpolicy.example",
            "v=DMARC1; p=reject; sp=quarantine",
        ),
        "host-record=sub.orgpolicy.example,127.0.0.1".to_string(),
        txt_line("_dmarc.pct.example", "v=DMARC1; p=reject; pct=20"),
        txt_line("_dmarc.spnone.example", "v=DMARC1; p=reject; sp=none"),
        txt_line(
            "_dmarc.rua-ext.example",
            "v=DMARC1; p=reject; rua=mailto:d@reports.other.example",
        ),
        txt_line(
            "_dmarc.rua-ok.example",
            "v=DMARC1; p=reject; rua=mailto:d@reports.other.example",
        ),
        txt_line(
            "rua-ok.example._report._dmarc.reports.other.example",
            "v=DMARC1",
        ),
        // MX
        "mx-host=mixnull.example,.,0".to_string(),
        "mx-host=mixnull.example,mx.mixnull.example,10".to_string(),
        "host-record=mx.mixnull.example,127.0.0.1".to_string(),
        "mx-host=mxcname.example,alias.mxcname.example,10".to_string(),
        "host-record=real.mxcname.example,127.0.0.1".to_string(),
        "cname=alias.mxcname.example,real.mxcname.example".to_string(),
        "mx-host=mxnoaddr.example,ghost.mxnoaddr.example,10".to_string(),
        "mx-host=mxpartial.example,mx1.mxpartial.example,10".to_string(),
        "mx-host=mxpartial.example,ghost.mxpartial.example,20".to_string(),
        "host-record=mx1.mxpartial.example,127.0.0.1".to_string(),
    ];
    for i in 1..=11 {
        lines.push(format!(
            "mx-host=many.spf-mx11.example,m{i}.spf-mx11.example,{i}"
        ));
        lines.push(format!("host-record=m{i}.spf-mx11.example,127.0.0.1"));
    }
    // DKIM, selector sel1: keys made now with openssl, never stored.
    let rsa = |bits| b64(&rsa_public_der(bits, false));
    lines.push(txt_line(
        "sel1._domainkey.dkim512.example",
        &format!("v=DKIM1; k=rsa; p={}", rsa(512)),
    ));
    lines.push(txt_line(
        "sel1._domainkey.dkim1024.example",
        &format!("v=DKIM1; k=rsa; p={}", rsa(1024)),
    ));
    lines.push(txt_line(
        "sel1._domainkey.dkim2048.example",
        &format!("v=DKIM1; k=rsa; p={}", rsa(2048)),
    ));
    lines.push(txt_line(
        "sel1._domainkey.dkimpkcs1.example",
        &format!("v=DKIM1; k=rsa; p={}", b64(&rsa_public_der(2048, true))),
    ));
    lines.push(txt_line(
        "sel1._domainkey.dkimed.example",
        &format!("v=DKIM1; k=ed25519; p={}", b64(&ed25519_public_raw())),
    ));
    lines.push(txt_line(
        "sel1._domainkey.dkimgarbage.example",
        &format!(
            "v=DKIM1; k=rsa; p={}",
            b64(b"this is text, not a public key at all")
        ),
    ));
    lines
}

/// The dnsmasq serving the findings' zones (and the fixture's), started once per process.
fn findings(test: &str) -> Option<&'static DnsServer> {
    static SERVER: std::sync::OnceLock<Option<DnsServer>> = std::sync::OnceLock::new();
    let server = SERVER.get_or_init(|| {
        if common::dns_server::missing_requirements().is_some() {
            return None;
        }
        let zones = finding_zones(servfail_server());
        Some(
            DnsServer::start_with(&zones)
                .expect("dnsmasq with the findings' zones")
                .expect("dnsmasq"),
        )
    });
    match server {
        Some(s) => Some(s),
        None => {
            // The shared fixture decides: skip here, fail under CI.
            let _ = shared(test);
            None
        }
    }
}

/// `check --domain D` with only the posture checks, DKIM at selector sel1.
fn finding(test: &str, domain: &str) -> Option<BTreeMap<String, (String, String)>> {
    let dns = findings(test)?;
    Some(posture(dns, domain, &["--dkim-selector", "sel1"]))
}

// ---- DKIM (RFC 8301 §3.2, RFC 6376 §3.6.1, RFC 8463) ----

#[test]
fn dkim_rsa_512_bits_fails_rfc8301_s3_2() {
    let Some(v) = finding("dkim_rsa_512_bits_fails_rfc8301_s3_2", "dkim512.example") else {
        return;
    };
    assert_verdict(&v, "posture-dkim", "fail", "rsa key, 512 bits");
    assert_verdict(&v, "posture-dkim", "fail", "RFC 8301 §3.2");
}

#[test]
fn dkim_rsa_1024_bits_warns_rfc8301_s3_2() {
    let Some(v) = finding("dkim_rsa_1024_bits_warns_rfc8301_s3_2", "dkim1024.example") else {
        return;
    };
    assert_verdict(&v, "posture-dkim", "warn", "rsa key, 1024 bits");
    assert_verdict(&v, "posture-dkim", "warn", "SHOULD use at least 2048");
}

#[test]
fn dkim_rsa_2048_bits_passes_with_its_size_in_bits_rfc8301_s3_2() {
    let Some(v) = finding(
        "dkim_rsa_2048_bits_passes_with_its_size_in_bits_rfc8301_s3_2",
        "dkim2048.example",
    ) else {
        return;
    };
    assert_verdict(&v, "posture-dkim", "pass", "rsa key, 2048 bits");
}

#[test]
fn dkim_pkcs1_rsa_key_is_read_as_verifiers_read_it_rfc6376_s3_6_1() {
    let Some(v) = finding(
        "dkim_pkcs1_rsa_key_is_read_as_verifiers_read_it_rfc6376_s3_6_1",
        "dkimpkcs1.example",
    ) else {
        return;
    };
    assert_verdict(&v, "posture-dkim", "pass", "rsa key, 2048 bits");
}

#[test]
fn dkim_ed25519_key_passes_with_256_bits_rfc8463_s4_2() {
    let Some(v) = finding(
        "dkim_ed25519_key_passes_with_256_bits_rfc8463_s4_2",
        "dkimed.example",
    ) else {
        return;
    };
    assert_verdict(&v, "posture-dkim", "pass", "ed25519 key, 256 bits");
}

#[test]
fn dkim_text_that_is_no_key_fails_naming_why_rfc6376_s3_6_1() {
    let Some(v) = finding(
        "dkim_text_that_is_no_key_fails_naming_why_rfc6376_s3_6_1",
        "dkimgarbage.example",
    ) else {
        return;
    };
    assert_verdict(
        &v,
        "posture-dkim",
        "fail",
        "37 bytes that are not an RSA public key",
    );
}

#[test]
fn dkim_revoked_key_warns_naming_the_selector_rfc6376_s3_6_1() {
    let Some(v) = finding(
        "dkim_revoked_key_warns_naming_the_selector_rfc6376_s3_6_1",
        "softfail.example",
    ) else {
        return;
    };
    assert_verdict(
        &v,
        "posture-dkim",
        "warn",
        "sel1._domainkey.softfail.example is revoked",
    );
}

// ---- SPF (RFC 7208) ----

#[test]
fn spf_include_without_an_spf_record_is_a_permerror_rfc7208_s5_2() {
    let Some(v) = finding(
        "spf_include_without_an_spf_record_is_a_permerror_rfc7208_s5_2",
        "spf-noinclude.example",
    ) else {
        return;
    };
    assert_verdict(
        &v,
        "posture-spf",
        "fail",
        "permerror in the record of spf-noinclude.example, term 'include:nospf.example': nospf.example has no SPF record",
    );
}

#[test]
fn spf_include_of_a_broken_record_is_a_permerror_rfc7208_s5_2() {
    let Some(v) = finding(
        "spf_include_of_a_broken_record_is_a_permerror_rfc7208_s5_2",
        "spf-brokeninclude.example",
    ) else {
        return;
    };
    assert_verdict(
        &v,
        "posture-spf",
        "fail",
        "_spf.spf-brokeninclude.example's SPF record does not parse",
    );
    assert_verdict(&v, "posture-spf", "fail", "999.1.1.1");
}

#[test]
fn spf_redirect_without_an_spf_record_is_a_permerror_rfc7208_s6_1() {
    let Some(v) = finding(
        "spf_redirect_without_an_spf_record_is_a_permerror_rfc7208_s6_1",
        "spf-redirect-nospf.example",
    ) else {
        return;
    };
    assert_verdict(&v, "posture-spf", "fail", "term 'redirect=nospf.example'");
}

#[test]
fn spf_mx_with_eleven_names_is_a_permerror_rfc7208_s4_6_4() {
    let Some(v) = finding(
        "spf_mx_with_eleven_names_is_a_permerror_rfc7208_s4_6_4",
        "spf-mx11.example",
    ) else {
        return;
    };
    assert_verdict(
        &v,
        "posture-spf",
        "fail",
        "many.spf-mx11.example has 11 MX names",
    );
}

#[test]
fn spf_three_void_lookups_are_a_permerror_rfc7208_s4_6_4() {
    let Some(v) = finding(
        "spf_three_void_lookups_are_a_permerror_rfc7208_s4_6_4",
        "spf-void.example",
    ) else {
        return;
    };
    assert_verdict(&v, "posture-spf", "fail", "term 'a:v3.spf-void.example'");
    assert_verdict(
        &v,
        "posture-spf",
        "fail",
        "over the limit of 2 void lookups",
    );
}

#[test]
fn spf_include_answered_servfail_is_a_temperror_rfc7208_s5_2() {
    let Some(v) = finding(
        "spf_include_answered_servfail_is_a_temperror_rfc7208_s5_2",
        "spf-servfail.example",
    ) else {
        return;
    };
    assert_verdict(
        &v,
        "posture-spf",
        "inconclusive",
        "temperror in the record of spf-servfail.example, term 'include:spf.servfail.example'",
    );
}

#[test]
fn spf_ptr_warns_rfc7208_s5_5() {
    let Some(v) = finding("spf_ptr_warns_rfc7208_s5_5", "spf-ptr.example") else {
        return;
    };
    assert_verdict(&v, "posture-spf", "warn", "RFC 7208 §5.5");
}

#[test]
fn spf_record_over_512_bytes_gets_a_size_note_rfc7208_s3_4() {
    let Some(v) = finding(
        "spf_record_over_512_bytes_gets_a_size_note_rfc7208_s3_4",
        "spf-long.example",
    ) else {
        return;
    };
    assert_verdict(&v, "posture-spf", "pass", "over 512 (RFC 7208 §3.4)");
}

/// The exit code follows: a permerror below the top record is no longer a green CI gate. The
/// domain is sound otherwise (MX, DMARC), so SPF alone decides the code.
#[test]
fn spf_permerror_below_the_top_record_fails_the_exit_code_rfc7208_s5_2() {
    let Some(dns) = findings("spf_permerror_below_the_top_record_fails_the_exit_code_rfc7208_s5_2")
    else {
        return;
    };
    let (code, doc, _) = check(
        dns,
        &["--domain", "spf-gate.example", "--scenario", "posture"],
    );
    let v = verdicts(&doc);
    let failing: Vec<&String> = v
        .iter()
        .filter(|(_, (verdict, _))| verdict == "fail" || verdict == "inconclusive")
        .map(|(id, _)| id)
        .collect();
    assert_eq!(failing, ["posture-spf"], "{doc:#}");
    assert_eq!(code, 1, "{doc:#}");
}

// ---- DMARC (RFC 7489) ----

#[test]
fn dmarc_subdomain_gets_the_organisational_domain_policy_rfc7489_s6_6_3() {
    let Some(v) = finding(
        "dmarc_subdomain_gets_the_organisational_domain_policy_rfc7489_s6_6_3",
        "sub.orgpolicy.example",
    ) else {
        return;
    };
    assert_verdict(
        &v,
        "posture-dmarc",
        "pass",
        "the organisational domain orgpolicy.example's policy applies",
    );
    assert_verdict(&v, "posture-dmarc", "pass", "sp=quarantine");
}

#[test]
fn dmarc_pct_under_100_warns_rfc7489_s6_6_4() {
    let Some(v) = finding("dmarc_pct_under_100_warns_rfc7489_s6_6_4", "pct.example") else {
        return;
    };
    assert_verdict(
        &v,
        "posture-dmarc",
        "warn",
        "applies to 20% of failing mail only",
    );
}

#[test]
fn dmarc_sp_none_under_reject_warns_rfc7489_s6_3() {
    let Some(v) = finding(
        "dmarc_sp_none_under_reject_warns_rfc7489_s6_3",
        "spnone.example",
    ) else {
        return;
    };
    assert_verdict(&v, "posture-dmarc", "warn", "sp=none");
}

#[test]
fn dmarc_unauthorised_external_rua_warns_rfc7489_s7_1() {
    let Some(v) = finding(
        "dmarc_unauthorised_external_rua_warns_rfc7489_s7_1",
        "rua-ext.example",
    ) else {
        return;
    };
    assert_verdict(
        &v,
        "posture-dmarc",
        "warn",
        "no v=DMARC1 record at rua-ext.example._report._dmarc.reports.other.example",
    );
}

#[test]
fn dmarc_authorised_external_rua_passes_rfc7489_s7_1() {
    let Some(v) = finding(
        "dmarc_authorised_external_rua_passes_rfc7489_s7_1",
        "rua-ok.example",
    ) else {
        return;
    };
    assert_verdict(&v, "posture-dmarc", "pass", "reports requested");
}

// ---- MX (RFC 7505, RFC 2181) ----

#[test]
fn mx_null_beside_other_mx_fails_rfc7505_s3() {
    let Some(v) = finding(
        "mx_null_beside_other_mx_fails_rfc7505_s3",
        "mixnull.example",
    ) else {
        return;
    };
    assert_verdict(&v, "posture-mx", "fail", "RFC 7505 §3");
    assert_verdict(
        &v,
        "posture-mx",
        "fail",
        "1 MX host(s) in preference order: mx.mixnull.example (10)",
    );
}

#[test]
fn mx_target_that_is_a_cname_warns_rfc2181_s10_3() {
    let Some(v) = finding(
        "mx_target_that_is_a_cname_warns_rfc2181_s10_3",
        "mxcname.example",
    ) else {
        return;
    };
    assert_verdict(
        &v,
        "posture-mx",
        "warn",
        "alias.mxcname.example is an alias (CNAME to real.mxcname.example)",
    );
}

#[test]
fn mx_host_without_an_address_fails_rfc5321_s5_1() {
    let Some(v) = finding(
        "mx_host_without_an_address_fails_rfc5321_s5_1",
        "mxnoaddr.example",
    ) else {
        return;
    };
    assert_verdict(
        &v,
        "posture-mx",
        "fail",
        "without an address (no A or AAAA): ghost.mxnoaddr.example",
    );
}

#[test]
fn mx_one_host_without_an_address_warns_rfc5321_s5_1() {
    let Some(v) = finding(
        "mx_one_host_without_an_address_warns_rfc5321_s5_1",
        "mxpartial.example",
    ) else {
        return;
    };
    assert_verdict(&v, "posture-mx", "warn", "ghost.mxpartial.example");
}

/// The SMTP path for a domain with a null MX beside a real one goes to the real one, and no
/// resolver Debug text (`Query { name: Name(".") … }`) reaches the output.
#[test]
fn mx_null_beside_other_mx_is_skipped_on_the_smtp_path_rfc7505_s3() {
    let Some(dns) = findings("mx_null_beside_other_mx_is_skipped_on_the_smtp_path_rfc7505_s3")
    else {
        return;
    };
    // A port with nothing listening: the connection is refused at once.
    let closed = std::net::TcpListener::bind("127.0.0.1:0")
        .unwrap()
        .local_addr()
        .unwrap()
        .port()
        .to_string();
    let (_, doc, err) = check(
        dns,
        &[
            "--domain",
            "mixnull.example",
            "--mx-port",
            &closed,
            "--scenario",
            "A",
        ],
    );
    let all = format!("{doc}{err}");
    assert!(!all.contains("Query {") && !all.contains("Name("), "{all}");
    assert!(all.contains("mx.mixnull.example"), "{all}");
}

/// `--version`'s long form names the Public Suffix List compiled in, which decides DMARC's
/// organisational domains (RFC 7489 §3.2); the short form stays one line.
#[test]
fn version_names_the_public_suffix_list_rfc7489_s3_2() {
    let long = Command::cargo_bin("smtpscope")
        .expect("binary")
        .arg("--version")
        .output()
        .expect("run");
    let text = String::from_utf8_lossy(&long.stdout);
    assert!(
        text.contains("Public Suffix List") && text.contains("psl crate 2."),
        "{text}"
    );
    let short = Command::cargo_bin("smtpscope")
        .expect("binary")
        .arg("-V")
        .output()
        .expect("run");
    assert_eq!(String::from_utf8_lossy(&short.stdout).lines().count(), 1);
}

// ---- pyspf (RFC 7208 check_host) agrees ----

/// smtpscope's SPF verdict against pyspf's `check_host` result for a sender address no zone
/// lists, for every SPF zone of these tests: permerror is FAIL, temperror INCONCLUSIVE, and a
/// record that evaluates ends in the qualifier of its `all`.
#[test]
fn spf_verdicts_agree_with_pyspf_rfc7208_s4() {
    let test = "spf_verdicts_agree_with_pyspf_rfc7208_s4";
    let Some(dns) = findings(test) else {
        return;
    };
    // The distribution's python3 has the distribution's python3-spf; a python3 earlier on PATH
    // (pyenv, a venv) may not.
    let python = ["python3", "/usr/bin/python3"].into_iter().find(|python| {
        std::process::Command::new(python)
            .args(["-c", "import spf, DNS"])
            .output()
            .is_ok_and(|o| o.status.success())
    });
    let Some(python) = python else {
        if std::env::var("CI").is_ok_and(|v| v == "true") {
            panic!("CI requires pyspf: apt-get install python3-spf");
        }
        common::skips::skipped(test, "pyspf not installed (apt-get install python3-spf)");
        return;
    };
    const SCRIPT: &str = r#"
import sys, DNS, spf
DNS.defaults['server'] = ['127.0.0.1']
DNS.defaults['port'] = int(sys.argv[1])
for domain in sys.argv[2:]:
    result, _ = spf.check2(i='203.0.113.99', s='postmaster@' + domain, h=domain, timeout=10)
    print(domain, result)
"#;
    let zones = [
        ("good.example", "pass", "fail"),
        ("softfail.example", "pass", "softfail"),
        ("neutral.example", "warn", "neutral"),
        ("noall.example", "warn", "neutral"),
        ("open.example", "fail", "pass"),
        ("toomany.example", "fail", "permerror"),
        ("broken.example", "fail", "permerror"),
        ("dup.example", "fail", "permerror"),
        ("spf-noinclude.example", "fail", "permerror"),
        ("spf-brokeninclude.example", "fail", "permerror"),
        ("spf-redirect-nospf.example", "fail", "permerror"),
        ("spf-mx11.example", "fail", "permerror"),
        ("spf-void.example", "fail", "permerror"),
        // A known pyspf difference: its py3dns driver (spf.py DNSLookup_pydns) checks the
        // RCODE only after a TCP fallback, so a SERVFAIL over UDP reads as an empty answer and
        // the include as "no SPF record". RFC 7208 §4.4 makes RCODE 2 a temperror, as we do.
        ("spf-servfail.example", "inconclusive", "permerror"),
        ("spf-ptr.example", "warn", "fail"),
        ("spf-long.example", "pass", "fail"),
    ];
    let out = std::process::Command::new(python)
        .arg("-c")
        .arg(SCRIPT)
        .arg(dns.addr.port().to_string())
        .args(zones.iter().map(|z| z.0))
        .output()
        .expect("python3");
    let stdout = String::from_utf8_lossy(&out.stdout);
    assert!(
        out.status.success(),
        "{stdout} {}",
        String::from_utf8_lossy(&out.stderr)
    );
    let pyspf: BTreeMap<&str, &str> = stdout.lines().filter_map(|l| l.split_once(' ')).collect();
    let mut failures = Vec::new();
    for (domain, ours_want, pyspf_want) in zones {
        let v = posture(dns, domain, &[]);
        let (ours, reason) = &v["posture-spf"];
        let theirs = pyspf.get(domain).copied().unwrap_or("(none)");
        if ours != ours_want || theirs != pyspf_want {
            failures.push(format!("{domain}: smtpscope {ours} ({reason}), pyspf {theirs}; want {ours_want} / {pyspf_want}"));
        }
    }
    assert!(failures.is_empty(), "{}", failures.join("\n"));
}
