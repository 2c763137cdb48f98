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
    ("good.example", "posture-dkim", "pass", "rsa key, 294 bytes"),
    (
        "softfail.example",
        "posture-dkim",
        "warn",
        "the key is revoked (empty p=)",
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
