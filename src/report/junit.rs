//! JUnit XML for CI: one test suite per target, one test case per scenario step, so a CI page
//! shows exactly which probe failed and what the server answered.

use quick_junit::{NonSuccessKind, Report, TestCase, TestCaseStatus, TestSuite};
use std::time::Duration;

use super::TargetInfo;
use crate::scenario::{ScenarioResult, Verdict};

pub fn render(
    target: &TargetInfo,
    results: &[ScenarioResult],
) -> Result<String, quick_junit::SerializeError> {
    let mut report = Report::new("smtpscope");
    let mut suite = TestSuite::new(format!("smtpscope check {}", target.server));
    for r in results {
        let class = format!("{}.{}", target.server, r.id);
        // `--transcripts`: the scenario's sessions go with its first test case, once.
        let mut transcripts = (!r.transcripts.is_empty()).then(|| transcripts_text(r));
        if r.steps.is_empty() {
            let mut case = TestCase::new(
                format!("{} {}", r.scenario, r.title),
                status(r.verdict, &r.reason, ""),
            );
            case.set_classname(class.clone());
            if let Some(t) = transcripts.take() {
                case.set_system_out(t);
            }
            suite.add_test_case(case);
            continue;
        }
        for (i, s) in r.steps.iter().enumerate() {
            let name = format!(
                "{} step {}: {}",
                r.scenario,
                i + 1,
                s.name
                    .as_deref()
                    .map_or(s.command.clone(), |n| format!("{n}: {}", s.command))
            );
            let reply = s.reply.as_ref().map_or_else(
                || s.reply_text().to_string(),
                |x| format!("reply: {}", x.text),
            );
            let mut case = TestCase::new(name, status(s.verdict, &s.reason, &reply));
            case.set_classname(class.clone());
            case.set_time(Duration::from_millis(s.elapsed_ms));
            if let Some(t) = transcripts.take() {
                case.set_system_out(t);
            }
            suite.add_test_case(case);
        }
    }
    report.add_test_suite(suite);
    report.to_string()
}

fn transcripts_text(r: &ScenarioResult) -> String {
    let mut out = String::new();
    for t in &r.transcripts {
        out.push_str(&format!("transcript of {}:\n{t}", r.id));
        if !t.ends_with('\n') {
            out.push('\n');
        }
    }
    out
}

fn status(verdict: Verdict, reason: &str, reply: &str) -> TestCaseStatus {
    match verdict {
        Verdict::Pass | Verdict::Warn => TestCaseStatus::success(),
        Verdict::Skipped => {
            let mut s = TestCaseStatus::skipped();
            s.set_message(reason.to_string());
            s
        }
        Verdict::Fail | Verdict::Inconclusive => {
            let kind = if verdict == Verdict::Fail {
                NonSuccessKind::Failure
            } else {
                NonSuccessKind::Error
            };
            let mut s = TestCaseStatus::non_success(kind);
            s.set_message(format!("{verdict}: {reason}"));
            s.set_type(verdict.to_string());
            s.set_description(format!("{reason}\n{reply}"));
            s
        }
    }
}
