//! What changed between two runs of the same target: which verdicts got worse or better, and
//! which replies changed. Pure: two records in, a typed diff out; `check --baseline` prints it
//! and the explorer can show it.

use std::collections::BTreeMap;
use std::fmt::Write;

use super::run::{RunRecord, RunResult, RunStep};
use crate::scenario::Verdict;

/// Which way a verdict moved.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Direction {
    Worse,
    Better,
    /// A different verdict of the same weight (INCONCLUSIVE ↔ SKIPPED), or the same verdict.
    Level,
}

/// One step whose verdict or reply changed.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct StepChange {
    /// The step's name, else its command.
    pub step: String,
    pub before: Option<StepSide>,
    pub after: Option<StepSide>,
}

/// A step as one run saw it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct StepSide {
    pub verdict: Verdict,
    /// The reply in one line, or "no reply".
    pub reply: String,
}

/// A scenario present in both runs whose verdict or replies changed.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ScenarioChange {
    /// The scenario's key: its id (with the MX host when several were tested).
    pub key: String,
    pub label: String,
    pub before: Verdict,
    pub after: Verdict,
    pub direction: Direction,
    pub reason: String,
    pub steps: Vec<StepChange>,
}

/// Everything that changed from `before` to `after`.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct RunDiff {
    pub changed: Vec<ScenarioChange>,
    /// Scenarios in both runs with the same verdict and the same replies.
    pub unchanged: usize,
    /// Run now, not before: (key, verdict).
    pub added: Vec<(String, Verdict)>,
    /// Run before, not now: (key, verdict then).
    pub removed: Vec<(String, Verdict)>,
    /// Scenarios left out because the operator edited one side's run: an edited run is no
    /// verdict of its scenario, so there is nothing to compare.
    pub not_compared: Vec<String>,
}

impl RunDiff {
    pub fn regressions(&self) -> impl Iterator<Item = &ScenarioChange> {
        self.changed
            .iter()
            .filter(|c| c.direction == Direction::Worse)
    }

    pub fn improvements(&self) -> impl Iterator<Item = &ScenarioChange> {
        self.changed
            .iter()
            .filter(|c| c.direction == Direction::Better)
    }

    pub fn has_regression(&self) -> bool {
        self.regressions().next().is_some()
    }

    pub fn is_empty(&self) -> bool {
        self.changed.is_empty() && self.added.is_empty() && self.removed.is_empty()
    }

    /// The diff in one line, for a notice: each changed scenario with its verdicts and how
    /// many of its replies changed.
    pub fn one_line(&self) -> String {
        if self.is_empty() {
            return "no change".into();
        }
        let mut parts: Vec<String> = self
            .changed
            .iter()
            .map(|c| {
                let how = match c.direction {
                    Direction::Worse => "worse",
                    Direction::Better => "better",
                    Direction::Level => "changed",
                };
                let replies = c
                    .steps
                    .iter()
                    .filter(|s| match (&s.before, &s.after) {
                        (Some(b), Some(a)) => comparable(&b.reply) != comparable(&a.reply),
                        _ => true,
                    })
                    .count();
                let replies = match replies {
                    0 => String::new(),
                    1 => ", 1 reply changed".into(),
                    n => format!(", {n} replies changed"),
                };
                if c.before == c.after {
                    format!("{}: {}{replies}", c.label, c.after)
                } else {
                    format!("{}: {} → {} ({how}){replies}", c.label, c.before, c.after)
                }
            })
            .collect();
        parts.extend(self.added.iter().map(|(k, v)| format!("{k}: {v} (new)")));
        parts.extend(
            self.removed
                .iter()
                .map(|(k, v)| format!("{k}: was {v} (not run)")),
        );
        parts.join("; ")
    }

    /// The diff for people: worse first, then better, then other changes.
    pub fn render(&self) -> String {
        let mut out = String::new();
        for key in &self.not_compared {
            let _ = writeln!(
                out,
                "  edited  {key}: not compared (the operator edited the run, so it is no verdict of {key})"
            );
        }
        if self.is_empty() {
            let _ = writeln!(
                out,
                "no change: {} scenario{} with the same verdicts and replies",
                self.unchanged,
                if self.unchanged == 1 { "" } else { "s" }
            );
            return out;
        }
        let groups = [
            (Direction::Worse, "worse"),
            (Direction::Better, "better"),
            (Direction::Level, "changed"),
        ];
        for (direction, word) in groups {
            for c in self.changed.iter().filter(|c| c.direction == direction) {
                let verdicts = if c.before == c.after {
                    format!("{} (replies changed)", c.after)
                } else {
                    format!("{} → {}", c.before, c.after)
                };
                let _ = writeln!(out, "  {word:<7} {}: {verdicts}", c.label);
                if c.before != c.after {
                    let _ = writeln!(out, "            now: {}", c.reason);
                }
                for s in &c.steps {
                    let side = |x: &Option<StepSide>| {
                        x.as_ref().map_or("not run".to_string(), |s| {
                            format!("{} {}", s.verdict, s.reply)
                        })
                    };
                    let _ = writeln!(
                        out,
                        "            {}: {} → {}",
                        s.step,
                        side(&s.before),
                        side(&s.after)
                    );
                }
            }
        }
        for (key, v) in &self.added {
            let _ = writeln!(out, "  new     {key}: {v} (not in the baseline)");
        }
        for (key, v) in &self.removed {
            let _ = writeln!(out, "  not run {key}: was {v} (not run this time)");
        }
        let _ = writeln!(
            out,
            "{} worse, {} better, {} changed otherwise, {} unchanged",
            self.regressions().count(),
            self.improvements().count(),
            self.changed
                .iter()
                .filter(|c| c.direction == Direction::Level)
                .count(),
            self.unchanged
        );
        out
    }
}

/// A result's key: the id, with the MX host when the title names one (`--all-mx`).
fn key(r: &RunResult) -> String {
    match r.title.rsplit_once(" [") {
        Some((_, host)) if host.ends_with(']') => format!("{} [{host}", r.id),
        _ => r.id.clone(),
    }
}

fn label(r: &RunResult) -> String {
    let k = key(r);
    if r.scenario.is_empty() || r.scenario == r.id {
        k
    } else {
        format!("{} {k}", r.scenario)
    }
}

/// A reply for comparing: what varies from run to run for the same answer (a queue id after
/// "queued as") is left out.
fn comparable(reply: &str) -> &str {
    match reply.find("queued as") {
        Some(at) => &reply[..at],
        None => reply,
    }
}

fn side(s: &RunStep) -> StepSide {
    StepSide {
        verdict: s.verdict,
        reply: s
            .reply
            .as_ref()
            .map_or_else(|| "no reply".to_string(), |r| r.text.clone()),
    }
}

/// Steps keyed by name (or command) and the how-manieth of that name, so a step added in the
/// middle does not shift every comparison after it; in the run's order.
fn keyed_steps(steps: &[RunStep]) -> Vec<((String, usize), &RunStep)> {
    let mut seen: BTreeMap<String, usize> = BTreeMap::new();
    let mut out = Vec::new();
    for s in steps {
        let name = s.name.clone().unwrap_or_else(|| s.command.clone());
        let n = seen.entry(name.clone()).or_default();
        out.push(((name, *n), s));
        *n += 1;
    }
    out
}

fn step_changes(before: &[RunStep], after: &[RunStep]) -> Vec<StepChange> {
    let b_list = keyed_steps(before);
    let a_list = keyed_steps(after);
    let b: BTreeMap<_, _> = b_list.iter().cloned().collect();
    let a: BTreeMap<_, _> = a_list.iter().cloned().collect();
    // The later run's order, then the steps only the earlier one had.
    let keys: Vec<&(String, usize)> = a_list
        .iter()
        .map(|(k, _)| k)
        .chain(
            b_list
                .iter()
                .map(|(k, _)| k)
                .filter(|k| !a.contains_key(*k)),
        )
        .collect();
    let mut out = Vec::new();
    for k in keys {
        let (x, y) = (b.get(k).map(|s| side(s)), a.get(k).map(|s| side(s)));
        let same = match (&x, &y) {
            (Some(x), Some(y)) => {
                x.verdict == y.verdict && comparable(&x.reply) == comparable(&y.reply)
            }
            _ => false,
        };
        if !same {
            out.push(StepChange {
                step: k.0.clone(),
                before: x,
                after: y,
            });
        }
    }
    out
}

/// What changed from `before` to `after`, scenario by scenario, in `after`'s order.
pub fn diff(before: &RunRecord, after: &RunRecord) -> RunDiff {
    let old: BTreeMap<String, &RunResult> = before.results.iter().map(|r| (key(r), r)).collect();
    let mut d = RunDiff::default();
    let mut matched = std::collections::BTreeSet::new();
    for now in &after.results {
        let k = key(now);
        if now.is_edited() || old.get(&k).is_some_and(|r| r.is_edited()) {
            matched.insert(k.clone());
            d.not_compared.push(k);
            continue;
        }
        let Some(then) = old.get(&k) else {
            d.added.push((k, now.verdict));
            continue;
        };
        matched.insert(k.clone());
        let steps = step_changes(&then.steps, &now.steps);
        if then.verdict == now.verdict && steps.is_empty() {
            d.unchanged += 1;
            continue;
        }
        let direction = match now.verdict.badness().cmp(&then.verdict.badness()) {
            std::cmp::Ordering::Greater => Direction::Worse,
            std::cmp::Ordering::Less => Direction::Better,
            std::cmp::Ordering::Equal => Direction::Level,
        };
        d.changed.push(ScenarioChange {
            key: k,
            label: label(now),
            before: then.verdict,
            after: now.verdict,
            direction,
            reason: now.reason.clone(),
            steps,
        });
    }
    for r in &before.results {
        let k = key(r);
        if r.is_edited() && !matched.contains(&k) {
            d.not_compared.push(k);
            continue;
        }
        if !matched.contains(&k) {
            d.removed.push((k, r.verdict));
        }
    }
    d
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::scenario::runner::ReplySummary;

    fn step(name: &str, verdict: Verdict, code: u16, text: &str) -> RunStep {
        RunStep {
            name: Some(name.into()),
            command: format!("CMD {name}"),
            reply: Some(ReplySummary {
                code: Some(code),
                enhanced: None,
                text: text.into(),
            }),
            verdict,
            reason: String::new(),
        }
    }

    fn result(id: &str, alias: &str, verdict: Verdict, steps: Vec<RunStep>) -> RunResult {
        RunResult {
            id: id.into(),
            scenario: alias.into(),
            title: "t".into(),
            verdict,
            reason: format!("{id} is {verdict}"),
            steps,
            edited: Vec::new(),
        }
    }

    fn run(results: Vec<RunResult>) -> RunRecord {
        RunRecord {
            record: None,
            target: Default::default(),
            results,
        }
    }

    fn secure() -> RunRecord {
        run(vec![
            result(
                "unauth-relay",
                "A",
                Verdict::Pass,
                vec![
                    step("outside sender", Verdict::Pass, 250, "250 2.1.0 Ok"),
                    step(
                        "outside recipient",
                        Verdict::Pass,
                        554,
                        "554 5.7.1 Relay access denied",
                    ),
                ],
            ),
            result(
                "vrfy-expn",
                "vrfy-expn",
                Verdict::Warn,
                vec![step("VRFY", Verdict::Pass, 252, "252 2.0.0 x")],
            ),
            result("starttls", "starttls", Verdict::Pass, vec![]),
        ])
    }

    #[test]
    fn the_same_run_twice_is_no_change() {
        let d = diff(&secure(), &secure());
        assert!(d.is_empty());
        assert!(!d.has_regression());
        assert_eq!(d.unchanged, 3);
        assert_eq!(
            d.render(),
            "no change: 3 scenarios with the same verdicts and replies\n"
        );
    }

    #[test]
    fn a_relay_opened_is_worse_and_names_the_reply_that_changed() {
        let mut open = secure();
        open.results[0].verdict = Verdict::Fail;
        open.results[0].steps[1] = step("outside recipient", Verdict::Fail, 250, "250 2.1.5 Ok");
        let d = diff(&secure(), &open);
        assert!(d.has_regression());
        let c: Vec<&ScenarioChange> = d.regressions().collect();
        assert_eq!(c.len(), 1);
        assert_eq!(c[0].key, "unauth-relay");
        assert_eq!((c[0].before, c[0].after), (Verdict::Pass, Verdict::Fail));
        assert_eq!(c[0].steps.len(), 1, "only the step that changed");
        assert_eq!(
            d.one_line(),
            "A unauth-relay: PASS → FAIL (worse), 1 reply changed"
        );
        let text = d.render();
        assert!(
            text.contains("worse   A unauth-relay: PASS → FAIL"),
            "{text}"
        );
        assert!(
            text.contains(
                "outside recipient: PASS 554 5.7.1 Relay access denied → FAIL 250 2.1.5 Ok"
            ),
            "{text}"
        );
        assert!(
            text.ends_with("1 worse, 0 better, 0 changed otherwise, 2 unchanged\n"),
            "{text}"
        );
        // The other way round is an improvement, not a regression.
        let back = diff(&open, &secure());
        assert!(!back.has_regression());
        assert_eq!(back.improvements().count(), 1);
    }

    #[test]
    fn every_step_up_in_badness_is_worse() {
        use Verdict::*;
        let order = [Pass, Warn, Inconclusive, Fail];
        for (i, from) in order.iter().enumerate() {
            for (j, to) in order.iter().enumerate() {
                let mut a = secure();
                a.results[2].verdict = *from;
                let mut b = secure();
                b.results[2].verdict = *to;
                let d = diff(&a, &b);
                assert_eq!(d.has_regression(), j > i, "{from} → {to}");
                assert_eq!(d.improvements().count() == 1, j < i, "{from} → {to}");
            }
        }
        // PASS → SKIPPED: the evidence is gone, which is worse; INCONCLUSIVE ↔ SKIPPED is level.
        let mut a = secure();
        a.results[2].verdict = Skipped;
        assert!(diff(&secure(), &a).has_regression());
        let mut b = secure();
        b.results[2].verdict = Inconclusive;
        let d = diff(&b, &a);
        assert!(!d.has_regression());
        assert_eq!(d.changed[0].direction, Direction::Level);
    }

    #[test]
    fn steps_are_listed_in_the_runs_order() {
        let steps = |v: Verdict| -> Vec<RunStep> {
            ["2 b", "10 a", "1 c"]
                .iter()
                .map(|n| step(n, v, 250, "250 ok"))
                .collect()
        };
        let mut a = secure();
        a.results[2].steps = steps(Verdict::Pass);
        let mut b = secure();
        b.results[2].steps = steps(Verdict::Fail);
        let d = diff(&a, &b);
        let order: Vec<&str> = d.changed[0].steps.iter().map(|s| s.step.as_str()).collect();
        assert_eq!(order, ["2 b", "10 a", "1 c"]);
    }

    #[test]
    fn a_reply_that_changed_under_the_same_verdict_is_reported() {
        let mut later = secure();
        later.results[1].steps[0] = step("VRFY", Verdict::Pass, 502, "502 5.5.1 VRFY disabled");
        let d = diff(&secure(), &later);
        assert!(!d.has_regression());
        assert_eq!(d.changed.len(), 1);
        assert_eq!(d.changed[0].direction, Direction::Level);
        assert!(
            d.render().contains("WARN (replies changed)"),
            "{}",
            d.render()
        );
        // A queue id is not a change.
        let mut q1 = secure();
        q1.results[2].steps = vec![step(
            "data",
            Verdict::Pass,
            250,
            "250 2.0.0 Ok: queued as ABC",
        )];
        let mut q2 = secure();
        q2.results[2].steps = vec![step(
            "data",
            Verdict::Pass,
            250,
            "250 2.0.0 Ok: queued as XYZ",
        )];
        assert!(diff(&q1, &q2).is_empty());
    }

    #[test]
    fn scenarios_run_only_once_are_listed_not_judged() {
        let mut fewer = secure();
        fewer.results.remove(1);
        fewer.results.push(result(
            "relay-tricks",
            "relay-tricks",
            Verdict::Fail,
            vec![],
        ));
        let d = diff(&secure(), &fewer);
        assert!(
            !d.has_regression(),
            "a scenario not run again is not a regression"
        );
        assert_eq!(d.removed, vec![("vrfy-expn".to_string(), Verdict::Warn)]);
        assert_eq!(d.added, vec![("relay-tricks".to_string(), Verdict::Fail)]);
        let text = d.render();
        assert!(text.contains("not run vrfy-expn: was WARN"), "{text}");
        assert!(text.contains("new     relay-tricks: FAIL"), "{text}");
    }

    #[test]
    fn each_mx_host_is_compared_with_itself() {
        let mut a = secure();
        a.results[0].title = "Unauthenticated relay [mx1.example]".into();
        a.results[1] = result("unauth-relay", "A", Verdict::Pass, vec![]);
        a.results[1].title = "Unauthenticated relay [mx2.example]".into();
        let mut b = a.clone();
        b.results[1].verdict = Verdict::Fail;
        let d = diff(&a, &b);
        let worse: Vec<&str> = d.regressions().map(|c| c.key.as_str()).collect();
        assert_eq!(worse, ["unauth-relay [mx2.example]"]);
    }
}
