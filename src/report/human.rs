//! The report a person reads in a terminal or a CI log.

use std::fmt::Write;
use std::time::Duration;

use super::{Summary, TargetInfo};
use crate::scenario::{ScenarioResult, StepResult, Verdict};

pub fn render(
    target: &TargetInfo,
    results: &[ScenarioResult],
    elapsed: Duration,
    verbose: bool,
) -> String {
    let mut out = String::new();
    let _ = writeln!(
        out,
        "smtpscope check: {} (TLS {}{})",
        target.server,
        target.tls,
        target
            .profile
            .as_deref()
            .map(|p| format!(", profile {p}"))
            .unwrap_or_default()
    );
    let width = results.iter().map(|r| r.id.len()).max().unwrap_or(0);
    for r in results {
        let _ = writeln!(
            out,
            "  {:<12} {:<3} {:<width$}  {}",
            r.verdict.to_string(),
            if r.scenario.len() <= 3 {
                r.scenario.as_str()
            } else {
                ""
            },
            r.id,
            r.reason
        );
        let show_steps = verbose
            || matches!(
                r.verdict,
                Verdict::Fail | Verdict::Inconclusive | Verdict::Warn
            );
        if show_steps {
            let shown: Vec<&StepResult> = r
                .steps
                .iter()
                .filter(|s| verbose || s.verdict != Verdict::Pass)
                .collect();
            let limit = if verbose { shown.len() } else { 5 };
            for s in shown.iter().take(limit) {
                let _ = writeln!(
                    out,
                    "      {:<12} {} — {}",
                    s.verdict.to_string(),
                    step_label(s),
                    s.reason
                );
                // Multi-line findings (the certificate chain) under their step.
                if verbose
                    && let Some(found) = s.reply.as_ref().filter(|r| r.code.is_none())
                    && found.text.contains('\n')
                {
                    for line in found.text.lines() {
                        let _ = writeln!(out, "        | {line}");
                    }
                }
            }
            if shown.len() > limit {
                let _ = writeln!(
                    out,
                    "      ... and {} more (--verbose shows all)",
                    shown.len() - limit
                );
            }
        }
        for t in &r.transcripts {
            let _ = writeln!(out, "    transcript of {}:", r.id);
            for line in t.lines() {
                let _ = writeln!(out, "    | {line}");
            }
        }
    }
    let s = Summary::of(results);
    let _ = writeln!(
        out,
        "{} pass, {} fail, {} warn, {} inconclusive, {} skipped in {:.2} s",
        s.pass,
        s.fail,
        s.warn,
        s.inconclusive,
        s.skipped,
        elapsed.as_secs_f64()
    );
    out
}

/// "name: command", without repeating the verb when the name already ends with it.
fn step_label(s: &StepResult) -> String {
    match s.name.as_deref() {
        None => s.command.clone(),
        Some(name) => {
            let trimmed = name
                .rsplit_once(": ")
                .filter(|(_, verb)| {
                    s.command
                        .to_ascii_uppercase()
                        .starts_with(&verb.to_ascii_uppercase())
                })
                .map_or(name, |(head, _)| head);
            format!("{trimmed}: {}", s.command)
        }
    }
}
