//! `check --domain` against a real DNS server (dnsmasq on 127.0.0.1, started by the fixture)
//! serving good, missing, duplicated and broken records: MX targets and posture verdicts.

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

#[test]
fn a_well_configured_domain_passes() {
    let Some(dns) = shared("a_well_configured_domain_passes") else {
        return;
    };
    let v = posture(dns, "good.example", &["--dkim-selector", "sel1"]);
    assert_verdict(&v, "posture-mx", "pass", "mx1.good.example");
    assert_verdict(&v, "posture-spf", "pass", "-all");
    assert_verdict(&v, "posture-dmarc", "pass", "p=reject");
    assert_verdict(&v, "posture-mta-sts", "pass", "MTA-STS announced");
    assert_verdict(&v, "posture-tls-rpt", "pass", "tlsrpt@good.example");
    assert_verdict(&v, "posture-dkim", "pass", "rsa key");
}

#[test]
fn missing_records_fail_or_warn() {
    let Some(dns) = shared("missing_records_fail_or_warn") else {
        return;
    };
    let v = posture(dns, "missing.example", &[]);
    assert_verdict(&v, "posture-mx", "warn", "no MX record");
    assert_verdict(&v, "posture-spf", "fail", "no SPF record");
    assert_verdict(&v, "posture-dmarc", "fail", "no DMARC record");
    assert_verdict(&v, "posture-mta-sts", "warn", "no MTA-STS");
    assert_verdict(&v, "posture-tls-rpt", "warn", "no TLS-RPT");
    assert_verdict(&v, "posture-dkim", "skipped", "--dkim-selector");
}

#[test]
fn duplicated_and_broken_records_fail() {
    let Some(dns) = shared("duplicated_and_broken_records_fail") else {
        return;
    };
    let v = posture(dns, "dup.example", &[]);
    assert_eq!(v["posture-spf"].0, "fail", "{v:?}");
    assert_eq!(v["posture-dmarc"].0, "fail", "{v:?}");
    assert_eq!(v["posture-mta-sts"].0, "fail", "{v:?}");
    let v = posture(dns, "broken.example", &[]);
    assert_eq!(v["posture-spf"].0, "fail", "{v:?}");
    assert_verdict(&v, "posture-dmarc", "fail", "maybe");
    assert_eq!(v["posture-tls-rpt"].0, "fail", "{v:?}");
    let v = posture(dns, "toomany.example", &[]);
    assert_verdict(&v, "posture-spf", "fail", "over the limit of 10");
    let v = posture(dns, "softfail.example", &[]);
    assert_verdict(&v, "posture-spf", "pass", "~all");
    assert_verdict(&v, "posture-dmarc", "warn", "p=none");
    let v = posture(dns, "nullmx.example", &[]);
    assert_verdict(&v, "posture-mx", "pass", "null MX");
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
    assert_eq!(code, 0, "{doc:#}");

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
