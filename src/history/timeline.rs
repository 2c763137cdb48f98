//! A profile's history as people read it: the runs kept, newest first, then what changed
//! between each run and the one before it with the same scenario ("before and after the
//! config change"), worst first within each pair as [`RunDiff::render`] orders it.

use super::diff::diff;
use super::run::RunRecord;

/// The lines of the history pane for `runs` (oldest first, as [`super::History::runs`] lists
/// them).
pub fn timeline(runs: &[RunRecord]) -> Vec<String> {
    if runs.is_empty() {
        return vec!["No runs kept for this profile yet: each scenario run is kept here.".into()];
    }
    let mut out = vec![format!(
        "{} run{} kept (at most {}), newest first:",
        runs.len(),
        if runs.len() == 1 { "" } else { "s" },
        super::KEEP_RUNS
    )];
    for run in runs.iter().rev() {
        let verdicts: Vec<String> = run
            .results
            .iter()
            .map(|r| {
                if r.is_edited() {
                    format!("{} edited (not a verdict; {} as run)", r.id, r.verdict)
                } else {
                    format!("{} {}", r.id, r.verdict)
                }
            })
            .collect();
        out.push(format!(
            "  {}  {}",
            to_the_second(run.when()),
            verdicts.join(", ")
        ));
    }
    out.push(String::new());
    out.push("What changed, each run against the one before it with the same scenario:".into());
    let mut ids: Vec<&str> = Vec::new();
    for r in runs.iter().flat_map(|run| &run.results) {
        if !ids.contains(&r.id.as_str()) {
            ids.push(&r.id);
        }
    }
    let mut changes = 0;
    let mut pairs = 0;
    for id in ids {
        // Each run cut down to this scenario, so other scenarios of a run do not show as
        // "added" or "removed".
        let of_id: Vec<RunRecord> = runs
            .iter()
            .filter(|run| run.results.iter().any(|r| r.id == id && !r.is_edited()))
            .map(|run| RunRecord {
                results: run
                    .results
                    .iter()
                    .filter(|r| r.id == id && !r.is_edited())
                    .cloned()
                    .collect(),
                ..run.clone()
            })
            .collect();
        for pair in of_id.windows(2).rev() {
            let [before, after] = pair else { continue };
            pairs += 1;
            let d = diff(before, after);
            if d.is_empty() {
                continue;
            }
            changes += 1;
            out.push(format!(
                "  {} → {}:",
                to_the_second(before.when()),
                to_the_second(after.when())
            ));
            out.extend(d.render().lines().map(|l| format!("    {l}")));
        }
    }
    // Edited runs are never compared, so "one run" means one that can be.
    if changes == 0 && pairs == 0 {
        out.push("  nothing to compare yet: run a scenario again to see what changed".into());
    } else if changes == 0 {
        out.push("  nothing: every scenario got the same verdict and replies each time".into());
    }
    out
}

/// An RFC 3339 time without its fraction of a second: "2026-12-01T03:37:22Z".
fn to_the_second(when: &str) -> String {
    match (when.find('.'), when.strip_suffix('Z')) {
        (Some(dot), Some(_)) => format!("{}Z", &when[..dot]),
        _ => when.to_string(),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn run(when: &str, results: &[(&str, &str, &str)]) -> RunRecord {
        let results: Vec<serde_json::Value> = results
            .iter()
            .map(|(id, verdict, reply)| {
                serde_json::json!({
                    "id": id,
                    "title": id,
                    "verdict": verdict,
                    "reason": "",
                    "steps": [{
                        "command": "RCPT TO:<x@elsewhere.example.org>",
                        "reply": {"code": reply.get(..3).and_then(|c| c.parse::<u16>().ok()), "text": reply},
                        "verdict": verdict,
                        "reason": ""
                    }]
                })
            })
            .collect();
        RunRecord::from_value(serde_json::json!({
            "record": {"started_at": when, "version": "0.1.0"},
            "target": {"server": "mx.test:25"},
            "results": results,
        }))
        .expect("a run")
    }

    #[test]
    fn runs_newest_first_then_each_change_against_the_run_before() {
        let runs = [
            run(
                "2026-12-01T08:00:00Z",
                &[("unauth-relay", "pass", "554 5.7.1 denied")],
            ),
            run("2026-12-01T09:00:00Z", &[("starttls", "pass", "220 ready")]),
            run(
                "2026-12-01T10:00:00Z",
                &[("unauth-relay", "fail", "250 2.1.5 Ok")],
            ),
        ];
        let text = timeline(&runs).join("\n");
        let newest = text
            .find("2026-12-01T10:00:00Z  unauth-relay FAIL")
            .expect(&text);
        let oldest = text
            .find("2026-12-01T08:00:00Z  unauth-relay PASS")
            .expect(&text);
        assert!(newest < oldest, "{text}");
        // A is compared with its own previous run, across the STARTTLS run in between.
        assert!(
            text.contains("2026-12-01T08:00:00Z → 2026-12-01T10:00:00Z:"),
            "{text}"
        );
        assert!(text.contains("PASS → FAIL"), "{text}");
        assert!(
            text.contains("250 2.1.5 Ok"),
            "the reply that changed: {text}"
        );
        assert!(
            !text.contains("(new)") && !text.contains("not run"),
            "other scenarios are not changes: {text}"
        );
    }

    #[test]
    fn the_same_answers_each_time_say_so() {
        let runs = [
            run("t1", &[("unauth-relay", "pass", "554 5.7.1 denied")]),
            run("t2", &[("unauth-relay", "pass", "554 5.7.1 denied")]),
        ];
        let text = timeline(&runs).join("\n");
        assert!(text.contains("2 runs kept"), "{text}");
        assert!(
            text.contains("nothing: every scenario got the same"),
            "{text}"
        );
        assert!(timeline(&[])[0].starts_with("No runs kept"));
    }
}
