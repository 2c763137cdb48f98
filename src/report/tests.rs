//! The three renderings from hand-made results, so their structure is pinned without a
//! server: JUnit's suites, cases, failures, errors and skips with their counts; the JSON
//! document's shape; the human text's lines.

#![allow(clippy::unwrap_used, clippy::expect_used)] // test code

use std::time::Duration;

use super::{Summary, TargetInfo, human, json, junit};
use crate::scenario::Verdict;
use crate::scenario::model::Role;
use crate::scenario::runner::{ReplySummary, ScenarioResult, StepResult};

fn target() -> TargetInfo {
    TargetInfo {
        server: "mx.example.com:25".into(),
        tls: "starttls".into(),
        profile: Some("mx".into()),
        helo: "probe.example".into(),
        auth_user: None,
    }
}

fn step(name: Option<&str>, command: &str, verdict: Verdict, reply: Option<&str>) -> StepResult {
    StepResult {
        name: name.map(String::from),
        command: command.into(),
        expected: "rejected by policy (5xx, not 5.1.x)".into(),
        reply: reply.map(|text| ReplySummary {
            code: text.get(..3).and_then(|c| c.parse().ok()),
            enhanced: None,
            text: text.into(),
        }),
        verdict,
        reason: format!("{verdict} because of {command}"),
        elapsed_ms: 1500,
        role: Role::Probe,
        note: None,
        edited: false,
    }
}

fn result(
    label: &str,
    id: &str,
    verdict: Verdict,
    steps: Vec<StepResult>,
    transcripts: Vec<String>,
) -> ScenarioResult {
    ScenarioResult {
        scenario: label.into(),
        id: id.into(),
        title: format!("title of {id}"),
        verdict,
        reason: format!("{id} is {verdict}"),
        steps,
        elapsed_ms: 42,
        transcripts,
        needs_control: true,
        edited: Vec::new(),
    }
}

/// One of each: a PASS with two steps (and a transcript), a FAIL whose RCPT was accepted, an
/// INCONCLUSIVE step, a WARN, and a SKIPPED scenario with no steps.
fn results() -> Vec<ScenarioResult> {
    vec![
        result(
            "A",
            "unauth-relay",
            Verdict::Pass,
            vec![
                step(
                    None,
                    "MAIL FROM:<x@out.example>",
                    Verdict::Pass,
                    Some("250 2.1.0 Ok"),
                ),
                step(
                    Some("relay probe: RCPT"),
                    "RCPT TO:<y@else.example>",
                    Verdict::Pass,
                    Some("554 5.7.1 <y@else.example>: Relay access denied"),
                ),
            ],
            vec!["C: EHLO probe.example\nS: 250 ok\n".into()],
        ),
        result(
            "C",
            "auth-relay-disallowed",
            Verdict::Fail,
            vec![step(
                None,
                "RCPT TO:<z@not-approved.example>",
                Verdict::Fail,
                Some("250 2.1.5 Ok"),
            )],
            vec![],
        ),
        result(
            "starttls",
            "starttls",
            Verdict::Inconclusive,
            vec![step(None, "STARTTLS", Verdict::Inconclusive, None)],
            vec![],
        ),
        result(
            "vrfy-expn",
            "vrfy-expn",
            Verdict::Warn,
            vec![step(
                None,
                "VRFY postmaster",
                Verdict::Warn,
                Some("252 2.0.0 postmaster"),
            )],
            vec![],
        ),
        result("B", "auth-relay-approved", Verdict::Skipped, vec![], vec![]),
    ]
}

fn attr<'a>(node: roxmltree::Node<'a, 'a>, name: &str) -> &'a str {
    node.attribute(name)
        .unwrap_or_else(|| panic!("no {name} on <{}>", node.tag_name().name()))
}

#[test]
fn summary_counts_each_verdict() {
    assert_eq!(
        Summary::of(&results()),
        Summary {
            pass: 1,
            fail: 1,
            warn: 1,
            inconclusive: 1,
            skipped: 1
        }
    );
}

#[test]
fn junit_has_one_suite_one_case_per_step_and_the_counts() {
    let xml = junit::render(&target(), &results()).expect("renders");
    let doc = roxmltree::Document::parse(&xml).expect("valid XML");
    let root = doc.root_element();
    assert_eq!(root.tag_name().name(), "testsuites");
    assert_eq!(attr(root, "name"), "smtpscope");
    let suites: Vec<_> = root.children().filter(|n| n.is_element()).collect();
    assert_eq!(suites.len(), 1, "{xml}");
    let suite = suites[0];
    assert_eq!(suite.tag_name().name(), "testsuite");
    assert_eq!(attr(suite, "name"), "smtpscope check mx.example.com:25");
    // Two steps of A, one each of C, starttls and vrfy-expn, and B (no steps) as one case.
    for node in [root, suite] {
        assert_eq!(attr(node, "tests"), "6", "{xml}");
        assert_eq!(attr(node, "failures"), "1", "{xml}");
        assert_eq!(attr(node, "errors"), "1", "{xml}");
        assert_eq!(attr(node, "skipped"), "1", "{xml}");
    }
    let cases: Vec<_> = suite
        .children()
        .filter(|n| n.has_tag_name("testcase"))
        .collect();
    let names: Vec<&str> = cases.iter().map(|c| attr(*c, "name")).collect();
    assert_eq!(
        names,
        [
            "A step 1: MAIL FROM:<x@out.example>",
            "A step 2: relay probe: RCPT: RCPT TO:<y@else.example>",
            "C step 1: RCPT TO:<z@not-approved.example>",
            "starttls step 1: STARTTLS",
            "vrfy-expn step 1: VRFY postmaster",
            "B title of auth-relay-approved",
        ]
    );
    assert_eq!(
        attr(cases[0], "classname"),
        "mx.example.com:25.unauth-relay"
    );
    assert_eq!(attr(cases[0], "time"), "1.500");
    let children = |c: roxmltree::Node| -> Vec<String> {
        c.children()
            .filter(|n| n.is_element())
            .map(|n| n.tag_name().name().to_string())
            .collect()
    };
    // PASS and WARN are successes; the transcript rides on the scenario's first case only.
    assert_eq!(children(cases[0]), ["system-out"]);
    assert!(children(cases[1]).is_empty());
    assert!(children(cases[4]).is_empty(), "WARN is no failure");
    let out = cases[0]
        .children()
        .find(|n| n.has_tag_name("system-out"))
        .and_then(|n| n.text())
        .unwrap_or_default();
    assert!(
        out.starts_with("transcript of unauth-relay:\nC: EHLO probe.example"),
        "{out}"
    );

    let failure = cases[2]
        .children()
        .find(|n| n.has_tag_name("failure"))
        .expect("FAIL is a failure");
    assert_eq!(attr(failure, "type"), "FAIL");
    assert_eq!(
        attr(failure, "message"),
        "FAIL: FAIL because of RCPT TO:<z@not-approved.example>"
    );
    assert!(
        failure
            .text()
            .unwrap_or_default()
            .ends_with("\nreply: 250 2.1.5 Ok"),
        "the failure carries the reply: {xml}"
    );
    let error = cases[3]
        .children()
        .find(|n| n.has_tag_name("error"))
        .expect("INCONCLUSIVE is an error");
    assert_eq!(attr(error, "type"), "INCONCLUSIVE");
    assert!(
        error.text().unwrap_or_default().ends_with("\nno reply"),
        "{xml}"
    );
    let skipped = cases[5]
        .children()
        .find(|n| n.has_tag_name("skipped"))
        .expect("SKIPPED is skipped");
    assert_eq!(attr(skipped, "message"), "auth-relay-approved is SKIPPED");
}

#[test]
fn junit_of_nothing_is_an_empty_suite() {
    let xml = junit::render(&target(), &[]).expect("renders");
    let doc = roxmltree::Document::parse(&xml).expect("valid XML");
    let suite = doc
        .descendants()
        .find(|n| n.has_tag_name("testsuite"))
        .expect("one suite");
    assert_eq!(attr(suite, "tests"), "0");
    assert_eq!(suite.children().filter(|n| n.is_element()).count(), 0);
}

#[test]
fn json_has_the_documented_shape() {
    let doc = json::render(&target(), &results(), 1234);
    let keys = |v: &serde_json::Value| -> Vec<String> {
        let mut k: Vec<String> = v.as_object().expect("object").keys().cloned().collect();
        k.sort();
        k
    };
    assert_eq!(keys(&doc), ["elapsed_ms", "results", "summary", "target"]);
    assert_eq!(doc["elapsed_ms"], 1234);
    assert_eq!(
        doc["target"],
        serde_json::json!({
            "server": "mx.example.com:25",
            "tls": "starttls",
            "profile": "mx",
            "helo": "probe.example",
        }),
        "auth_user is left out when there is none"
    );
    assert_eq!(
        doc["summary"],
        serde_json::json!({"pass": 1, "fail": 1, "warn": 1, "inconclusive": 1, "skipped": 1})
    );
    let results = doc["results"].as_array().expect("results");
    assert_eq!(results.len(), 5);
    let a = &results[0];
    // needs_control and each step's role are internal: not part of the document.
    assert_eq!(
        keys(a),
        [
            "elapsed_ms",
            "id",
            "reason",
            "scenario",
            "steps",
            "title",
            "transcripts",
            "verdict"
        ]
    );
    assert_eq!(a["verdict"], "pass");
    assert_eq!(a["scenario"], "A");
    assert_eq!(a["transcripts"][0], "C: EHLO probe.example\nS: 250 ok\n");
    assert_eq!(
        keys(&a["steps"][1]),
        [
            "command",
            "elapsed_ms",
            "expected",
            "name",
            "reason",
            "reply",
            "verdict"
        ]
    );
    assert_eq!(a["steps"][1]["name"], "relay probe: RCPT");
    assert_eq!(
        a["steps"][1]["reply"],
        serde_json::json!({
            "code": 554,
            "enhanced": null,
            "text": "554 5.7.1 <y@else.example>: Relay access denied",
        })
    );
    assert!(
        !keys(&results[1]).contains(&"transcripts".to_string()),
        "no transcripts key when there are none"
    );
    let verdicts: Vec<&str> = results
        .iter()
        .map(|r| r["verdict"].as_str().unwrap_or_default())
        .collect();
    assert_eq!(
        verdicts,
        ["pass", "fail", "inconclusive", "warn", "skipped"]
    );
    assert!(results[2]["steps"][0]["reply"].is_null());
}

#[test]
fn human_text_shows_verdicts_failing_steps_and_the_summary() {
    let text = human::render(&target(), &results(), Duration::from_millis(2500), false);
    let lines: Vec<&str> = text.lines().collect();
    assert_eq!(
        lines[0],
        "smtpscope check: mx.example.com:25 (TLS starttls, profile mx)"
    );
    assert!(
        lines
            .iter()
            .any(|l| l.starts_with("  PASS         A   unauth-relay")),
        "{text}"
    );
    // Steps are shown for FAIL, INCONCLUSIVE and WARN, not for PASS (without --verbose).
    assert!(text.contains("      FAIL         RCPT TO:<z@not-approved.example> — FAIL because"));
    assert!(text.contains("      INCONCLUSIVE STARTTLS — "), "{text}");
    assert!(
        text.contains("      WARN         VRFY postmaster — "),
        "{text}"
    );
    assert!(!text.contains("MAIL FROM:<x@out.example>"), "{text}");
    assert!(text.contains("    transcript of unauth-relay:\n    | C: EHLO probe.example\n"));
    assert_eq!(
        lines.last().copied(),
        Some("1 pass, 1 fail, 1 warn, 1 inconclusive, 1 skipped in 2.50 s")
    );

    let verbose = human::render(&target(), &results(), Duration::ZERO, true);
    // A step name ending in its verb is not repeated: "relay probe: RCPT TO:<...>".
    assert!(
        verbose.contains("      PASS         relay probe: RCPT TO:<y@else.example> — "),
        "{verbose}"
    );
    assert!(verbose.contains("MAIL FROM:<x@out.example>"), "{verbose}");
}

#[test]
fn human_text_cuts_long_step_lists_unless_verbose() {
    let steps: Vec<StepResult> = (0..8)
        .map(|i| {
            step(
                None,
                &format!("RCPT TO:<t{i}@x.example>"),
                Verdict::Fail,
                None,
            )
        })
        .collect();
    let many = vec![result(
        "relay-tricks",
        "relay-tricks",
        Verdict::Fail,
        steps,
        vec![],
    )];
    let text = human::render(&target(), &many, Duration::ZERO, false);
    assert_eq!(text.matches("      FAIL ").count(), 5, "{text}");
    assert!(
        text.contains("      ... and 3 more (--verbose shows all)"),
        "{text}"
    );
    let verbose = human::render(&target(), &many, Duration::ZERO, true);
    assert_eq!(verbose.matches("      FAIL ").count(), 8, "{verbose}");
    assert!(!verbose.contains("more (--verbose"), "{verbose}");
}
