#![allow(clippy::expect_used, clippy::unwrap_used)]
//! Smoke tests of the real-DNS-server fixture (tests/common/dns_server.rs): dnsmasq
//! on 127.0.0.1 serving the posture test zones. Checked with the fixture's own
//! std-only DNS client, and with `dig` (Debian package `bind9-dnsutils`).

mod common;

use std::collections::BTreeSet;
use std::net::Ipv4Addr;
use std::process::{Command, Stdio};
use std::time::{Duration, Instant};

use base64::Engine as _;
use common::dns_server::{
    self, DnsServer, QType, RData, RECORDS, Rcode, Record, query_tcp, query_udp, shared,
};

fn is_ci() -> bool {
    std::env::var("CI").is_ok_and(|v| v == "true")
}

#[test]
fn serves_every_record_of_the_table_over_udp_and_tcp() {
    let Some(dns) = shared("serves_every_record_of_the_table_over_udp_and_tcp") else {
        return;
    };
    eprintln!("DNS fixture start-up took {:?}", dns.startup_time);
    let mut names_and_types: BTreeSet<(&str, &str)> = BTreeSet::new();
    for record in RECORDS {
        names_and_types.insert(match record {
            Record::Mx(name, ..) => (name, "MX"),
            Record::Txt(name, _) => (name, "TXT"),
            Record::A(name, _) => (name, "A"),
        });
    }
    for (name, kind) in names_and_types {
        let qtype = match kind {
            "MX" => QType::Mx,
            "TXT" => QType::Txt,
            _ => QType::A,
        };
        for tcp in [false, true] {
            let answer = if tcp {
                query_tcp(dns.addr, name, qtype, Duration::from_secs(3))
            } else {
                query_udp(dns.addr, name, qtype, Duration::from_secs(3))
            }
            .unwrap_or_else(|e| panic!("{kind} {name} (tcp: {tcp}): {e}"));
            let what = format!("{kind} {name} (tcp: {tcp}): {answer:?}");
            assert_eq!(answer.rcode, Rcode::NoError, "{what}");
            assert!(answer.authoritative, "{what}");
            assert!(!answer.truncated, "{what}");
            assert!(
                answer
                    .records
                    .iter()
                    .all(|rr| rr.name.eq_ignore_ascii_case(name)),
                "{what}"
            );
            match qtype {
                QType::Mx => {
                    let mut expected: Vec<(u16, String)> = dns_server::mx_records(name)
                        .into_iter()
                        .map(|(p, x)| (p, x.to_owned()))
                        .collect();
                    expected.sort();
                    assert_eq!(answer.mx(), expected, "{what}");
                }
                QType::Txt => {
                    let mut expected: Vec<String> = dns_server::txt_records(name)
                        .into_iter()
                        .map(str::to_owned)
                        .collect();
                    expected.sort();
                    assert_eq!(answer.txt(), expected, "{what}");
                }
                _ => assert_eq!(answer.a(), dns_server::a_records(name), "{what}"),
            }
            assert_eq!(
                answer.records.len(),
                answer.mx().len() + answer.txt().len() + answer.a().len(),
                "{what}"
            );
        }
    }
}

#[test]
fn good_example_has_two_mx_and_one_spf_record() {
    let Some(dns) = shared("good_example_has_two_mx_and_one_spf_record") else {
        return;
    };
    let mx = dns.query("good.example", QType::Mx).unwrap();
    assert_eq!(
        mx.mx(),
        vec![
            (10, "mx1.good.example".to_owned()),
            (20, "mx2.good.example".to_owned())
        ],
        "{mx:?}"
    );
    for (_, host) in mx.mx() {
        let a = dns.query(&host, QType::A).unwrap();
        assert_eq!(a.a(), vec![Ipv4Addr::LOCALHOST], "{host}: {a:?}");
        assert!(dns.query(&host, QType::Aaaa).unwrap().is_nodata());
    }
    let txt = dns.query("good.example", QType::Txt).unwrap();
    let spf: Vec<String> = txt
        .txt()
        .into_iter()
        .filter(|t| t.starts_with("v=spf1"))
        .collect();
    assert_eq!(
        spf,
        vec!["v=spf1 ip4:192.0.2.0/24 include:_spf.good.example -all".to_owned()]
    );
    for (name, prefix) in [
        ("_spf.good.example", "v=spf1 "),
        ("_dmarc.good.example", "v=DMARC1; p=reject;"),
        ("_mta-sts.good.example", "v=STSv1; id="),
        ("_smtp._tls.good.example", "v=TLSRPTv1; rua=mailto:"),
    ] {
        let txt = dns.query(name, QType::Txt).unwrap().txt();
        assert_eq!(txt.len(), 1, "{name}: {txt:?}");
        assert!(txt[0].starts_with(prefix), "{name}: {txt:?}");
    }
}

#[test]
fn dup_example_has_two_dmarc_and_two_spf_records() {
    let Some(dns) = shared("dup_example_has_two_dmarc_and_two_spf_records") else {
        return;
    };
    let dmarc = dns.query("_dmarc.dup.example", QType::Txt).unwrap();
    assert_eq!(
        dmarc.txt(),
        vec![
            "v=DMARC1; p=none".to_owned(),
            "v=DMARC1; p=reject".to_owned()
        ],
        "{dmarc:?}"
    );
    assert_eq!(dmarc.records.len(), 2);
    let spf = dns.query("dup.example", QType::Txt).unwrap();
    assert_eq!(
        spf.txt(),
        vec!["v=spf1 -all".to_owned(), "v=spf1 ~all".to_owned()]
    );
    let sts = dns.query("_mta-sts.dup.example", QType::Txt).unwrap();
    assert_eq!(
        sts.txt(),
        vec!["v=STSv1; id=1;".to_owned(), "v=STSv1; id=2;".to_owned()]
    );
    let dkim = dns
        .query("sel1._domainkey.dup.example", QType::Txt)
        .unwrap();
    assert_eq!(dkim.records.len(), 2, "{dkim:?}");
}

#[test]
fn dkim_record_is_split_into_strings_and_reassembles() {
    let Some(dns) = shared("dkim_record_is_split_into_strings_and_reassembles") else {
        return;
    };
    let answer = dns
        .query("sel1._domainkey.good.example", QType::Txt)
        .unwrap();
    assert_eq!(answer.records.len(), 1, "{answer:?}");
    let RData::Txt(strings) = &answer.records[0].data else {
        panic!("not a TXT record: {answer:?}");
    };
    let lengths: Vec<usize> = strings.iter().map(Vec::len).collect();
    assert_eq!(lengths, vec![255, 155], "character-string lengths");
    let record = String::from_utf8(strings.concat()).unwrap();
    assert!(record.starts_with("v=DKIM1; k=rsa; p="), "{record}");
    assert_eq!(record, dns_server::DKIM_RECORD);

    // p= is a real 2048-bit RSA public key (DER SubjectPublicKeyInfo).
    let p = record.rsplit_once("p=").unwrap().1;
    let der = base64::engine::general_purpose::STANDARD
        .decode(p)
        .expect("p= is base64");
    use x509_parser::prelude::FromDer as _;
    let (rest, spki) = x509_parser::x509::SubjectPublicKeyInfo::from_der(&der).expect("SPKI");
    assert!(rest.is_empty());
    match spki.parsed().expect("RSA key") {
        x509_parser::public_key::PublicKey::RSA(rsa) => assert_eq!(rsa.key_size(), 2048),
        other => panic!("not an RSA key: {other:?}"),
    }
}

#[test]
fn nullmx_example_has_a_null_mx() {
    let Some(dns) = shared("nullmx_example_has_a_null_mx") else {
        return;
    };
    let answer = dns.query("nullmx.example", QType::Mx).unwrap();
    assert_eq!(answer.records.len(), 1, "{answer:?}");
    assert_eq!(
        answer.records[0].data,
        RData::Mx {
            preference: 0,
            exchange: ".".to_owned()
        }
    );
    assert!(dns.query("nullmx.example", QType::A).unwrap().is_nodata());
}

#[test]
fn missing_example_has_only_an_address() {
    let Some(dns) = shared("missing_example_has_only_an_address") else {
        return;
    };
    let a = dns.query("missing.example", QType::A).unwrap();
    assert_eq!(a.a(), vec![Ipv4Addr::LOCALHOST]);
    for qtype in [QType::Mx, QType::Txt, QType::Aaaa] {
        let answer = dns.query("missing.example", qtype).unwrap();
        assert!(answer.is_nodata(), "{qtype:?}: {answer:?}");
    }
    for name in [
        "_dmarc.missing.example",
        "_mta-sts.missing.example",
        "_smtp._tls.missing.example",
    ] {
        let answer = dns.query(name, QType::Txt).unwrap();
        assert_eq!(answer.rcode, Rcode::NxDomain, "{name}: {answer:?}");
    }
}

#[test]
fn broken_and_softfail_records() {
    let Some(dns) = shared("broken_and_softfail_records") else {
        return;
    };
    let txt = |name: &str| dns.query(name, QType::Txt).unwrap().txt();
    assert_eq!(txt("broken.example"), vec!["v=spf1 ip4: +all"]);
    assert_eq!(txt("_dmarc.broken.example"), vec!["v=DMARC1; p=maybe"]);
    assert_eq!(txt("_mta-sts.broken.example"), vec!["v=STSv1; id=bad id!;"]);
    assert_eq!(txt("_smtp._tls.broken.example"), vec!["v=TLSRPTv1;"]);
    assert_eq!(txt("softfail.example"), vec!["v=spf1 mx ~all"]);
    assert_eq!(txt("_dmarc.softfail.example"), vec!["v=DMARC1; p=none"]);
    assert!(
        dns.query("softfail.example", QType::Mx)
            .unwrap()
            .is_nodata()
    );
}

#[test]
fn toomany_example_spf_includes_eleven_records() {
    let Some(dns) = shared("toomany_example_spf_includes_eleven_records") else {
        return;
    };
    let spf = dns.query("toomany.example", QType::Txt).unwrap().txt();
    assert_eq!(spf.len(), 1, "{spf:?}");
    let includes: Vec<&str> = spf[0]
        .split_whitespace()
        .filter_map(|term| term.strip_prefix("include:"))
        .collect();
    assert_eq!(includes.len(), 11, "{spf:?}");
    for name in includes {
        assert_eq!(
            dns.query(name, QType::Txt).unwrap().txt(),
            vec!["v=spf1 a mx -all"],
            "{name}"
        );
        assert_eq!(
            dns.query(name, QType::A).unwrap().a(),
            vec![Ipv4Addr::LOCALHOST]
        );
        assert_eq!(
            dns.query(name, QType::Mx).unwrap().mx(),
            vec![(10, name.to_owned())]
        );
    }
}

#[test]
fn unknown_names_get_nxdomain_and_nothing_is_forwarded() {
    let Some(dns) = shared("unknown_names_get_nxdomain_and_nothing_is_forwarded") else {
        return;
    };
    let answer = dns.query("nothere.example", QType::A).unwrap();
    assert_eq!(answer.rcode, Rcode::NxDomain, "{answer:?}");
    // Outside .example: refused, not forwarded (there is no upstream at all).
    let answer = dns.query("smtpscope.invalid", QType::A).unwrap();
    assert_eq!(answer.rcode, Rcode::Refused, "{answer:?}");
    let config = std::fs::read_to_string(dns.config_path()).unwrap();
    assert!(
        !config.lines().any(|l| l.starts_with("server=")),
        "{config}"
    );
    let log = dns.log();
    assert!(
        log.contains("warning: no upstream servers configured"),
        "{log}"
    );
    assert!(
        log.contains("query[A] smtpscope.invalid from 127.0.0.1"),
        "{log}"
    );
    assert!(!log.contains("forwarded"), "{log}");
}

#[test]
fn dig_sees_the_same_records() {
    let test = "dig_sees_the_same_records";
    let Some(dns) = shared(test) else {
        return;
    };
    if Command::new("dig")
        .arg("-v")
        .stdout(Stdio::null())
        .stderr(Stdio::null())
        .status()
        .is_err()
    {
        assert!(!is_ci(), "CI requires dig: apt-get install bind9-dnsutils");
        common::skips::skipped(test, "dig not installed (apt-get install bind9-dnsutils)");
        return;
    }
    let dig = |name: &str, qtype: &str, extra: &[&str]| -> String {
        let out = Command::new("dig")
            .args(["+short", "+time=2", "+tries=1"])
            .arg(format!("@{}", dns.addr.ip()))
            .args(["-p", &dns.addr.port().to_string(), name, qtype])
            .args(extra)
            .stdin(Stdio::null())
            .output()
            .unwrap();
        assert!(out.status.success(), "dig {name} {qtype}: {out:?}");
        String::from_utf8(out.stdout).unwrap()
    };
    let mut mx: Vec<String> = dig("good.example", "MX", &[])
        .lines()
        .map(str::to_owned)
        .collect();
    mx.sort();
    assert_eq!(mx, ["10 mx1.good.example.", "20 mx2.good.example."]);
    assert_eq!(dig("nullmx.example", "MX", &[]).trim(), "0 .");
    assert_eq!(dig("_dmarc.dup.example", "TXT", &[]).lines().count(), 2);
    for transport in [&[][..], &["+tcp"][..]] {
        let dkim = dig("sel1._domainkey.good.example", "TXT", transport);
        // dig prints the character-strings quoted, separated by a space.
        let strings: Vec<&str> = dkim.trim().split("\" \"").collect();
        assert_eq!(strings.len(), 2, "{dkim}");
        assert_eq!(
            dkim.trim().trim_matches('"').replace("\" \"", ""),
            dns_server::DKIM_RECORD
        );
    }
}

#[test]
fn own_instance_stops_and_cleans_up_on_drop() {
    let test = "own_instance_stops_and_cleans_up_on_drop";
    let Some(shared_dns) = shared(test) else {
        return;
    };
    let dns = DnsServer::start().unwrap().expect("dnsmasq vanished");
    assert_ne!(dns.addr, shared_dns.addr, "two servers on the same port");
    let answer = dns.query("good.example", QType::Mx).unwrap();
    assert_eq!(answer.mx().len(), 2);
    let (dir, addr, proc_dir) = (
        dns.dir().to_path_buf(),
        dns.addr,
        std::path::PathBuf::from(format!("/proc/{}", dns.pid())),
    );
    assert!(proc_dir.exists());
    drop(dns);
    assert!(!dir.exists(), "{} left behind", dir.display());
    assert!(!proc_dir.exists(), "dnsmasq still running");
    let deadline = Instant::now() + Duration::from_secs(5);
    while query_udp(addr, "good.example", QType::Mx, Duration::from_millis(200)).is_ok() {
        assert!(Instant::now() < deadline, "{addr} still answers after drop");
    }
    // The shared one is unaffected.
    assert!(shared_dns.query("good.example", QType::Mx).is_ok());
}

/// Not a test: keeps a private DNS server running for trying smtpscope by hand.
/// `SMTPSCOPE_HOLD_SECS=600 cargo test --test dns_fixture -- --ignored --nocapture hold_dns_for_manual_use`
#[test]
#[ignore = "manual use only"]
fn hold_dns_for_manual_use() {
    let dns = DnsServer::start()
        .unwrap()
        .expect("dnsmasq is not installed");
    let secs: u64 = std::env::var("SMTPSCOPE_HOLD_SECS")
        .ok()
        .and_then(|s| s.parse().ok())
        .unwrap_or(300)
        .min(3600);
    println!(
        "dnsmasq on {} (try: dig @{} -p {} MX good.example); config {}; holding {secs} s",
        dns.addr,
        dns.addr.ip(),
        dns.addr.port(),
        dns.config_path().display()
    );
    std::thread::sleep(Duration::from_secs(secs));
}
