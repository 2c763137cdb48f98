//! The last test binary `cargo test` runs (integration tests run in name order): it reports
//! the tests of this run that skipped their fixture, recorded by `common::skips::skipped`, in
//! one line at the end of the output, so that a run without Postfix or dnsmasq does not look
//! like a full pass. Under `CI=true` fixtures are required, so any skip fails it.

#![allow(clippy::expect_used, clippy::unwrap_used)] // test code: a failed setup should panic loudly

mod common;

use std::collections::BTreeMap;
use std::io::Write as _;

use common::skips::ledger;

struct Skip {
    cargo: u32,
    binary: String,
    test: String,
    why: String,
}

fn parse(line: &str) -> Option<Skip> {
    let mut f = line.splitn(4, '\t');
    Some(Skip {
        cargo: f.next()?.parse().ok()?,
        binary: f.next()?.to_string(),
        test: f.next()?.to_string(),
        why: f.next()?.to_string(),
    })
}

fn alive(pid: u32) -> bool {
    std::path::Path::new(&format!("/proc/{pid}")).exists()
}

/// The summary: "N tests skipped their fixture: a, b, ...", then one line per reason.
fn summary(skips: &[&Skip]) -> String {
    if skips.is_empty() {
        return "0 tests skipped their fixture: every fixture-gated test ran".into();
    }
    let mut names: Vec<String> = skips
        .iter()
        .map(|s| format!("{}::{}", s.binary, s.test))
        .collect();
    names.sort();
    names.dedup();
    let mut by_reason: BTreeMap<&str, usize> = BTreeMap::new();
    for s in skips {
        *by_reason.entry(s.why.as_str()).or_default() += 1;
    }
    let mut out = format!(
        "{} {} skipped their fixture: {}",
        names.len(),
        if names.len() == 1 { "test" } else { "tests" },
        names.join(", ")
    );
    for (why, n) in by_reason {
        out.push_str(&format!("\n    {n} because {why}"));
    }
    out
}

#[test]
fn tests_that_skipped_their_fixture() {
    let me = std::os::unix::process::parent_id();
    let text = std::fs::read_to_string(ledger()).unwrap_or_default();
    let all: Vec<Skip> = text.lines().filter_map(parse).collect();
    let ours: Vec<&Skip> = all.iter().filter(|s| s.cargo == me).collect();
    // Written straight to the process's stderr, not through eprintln!, which the test
    // harness captures and shows only for failing tests.
    let _ = writeln!(std::io::stderr(), "\n{}\n", summary(&ours));
    // This run's lines are reported; those of runs that are over are dropped. A run still
    // going (another cargo test in the same target directory) keeps its own.
    let keep: String = all
        .iter()
        .filter(|s| s.cargo != me && alive(s.cargo))
        .map(|s| format!("{}\t{}\t{}\t{}\n", s.cargo, s.binary, s.test, s.why))
        .collect();
    std::fs::write(ledger(), keep).expect("rewrite the skip ledger");
    if std::env::var("CI").is_ok_and(|v| v == "true") {
        assert!(
            ours.is_empty(),
            "CI requires every fixture: {}",
            summary(&ours)
        );
    }
}

#[test]
fn the_summary_names_each_test_and_counts_each_reason() {
    let skip = |test: &str, why: &str| Skip {
        cargo: 1,
        binary: "postfix_check".into(),
        test: test.into(),
        why: why.into(),
    };
    let (a, b) = (skip("a", "no postfix"), skip("b", "no postfix"));
    assert_eq!(
        summary(&[&a, &b]),
        "2 tests skipped their fixture: postfix_check::a, postfix_check::b\n    2 because no postfix"
    );
    assert!(summary(&[]).starts_with("0 tests skipped"));
    let line = "42\tdns_posture\tevery_cell\tdnsmasq not installed (apt-get install x)";
    let parsed = parse(line).expect("a ledger line");
    assert_eq!(
        (parsed.cargo, parsed.binary.as_str(), parsed.test.as_str()),
        (42, "dns_posture", "every_cell")
    );
    assert!(parse("not a ledger line").is_none());
}
