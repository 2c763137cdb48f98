//! The scenario being run, step by step, as the verdict panel and the editor show it.

use crate::scenario::model::Action;
use crate::scenario::runner::StepKind;
use crate::scenario::vars::Vars;
use crate::scenario::verdict::expect_text;
use crate::scenario::{Scenario, StepResult, Verdict};

/// One step of the scenario being run, as the verdict panel shows it.
#[derive(Debug, Clone)]
pub struct StepView {
    /// The step's name, or its command as far as it is known (variables filled in).
    pub label: String,
    /// The label is the step's name: it stays when the command is filled in.
    named: bool,
    pub expected: String,
    pub result: Option<StepResult>,
}

/// Where a run is, and so whose move it is.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Phase {
    /// Waiting for the server before any step has reached the editor: connecting (or, after
    /// [`Phase::Stopped`], a request that the server answers with nothing more to run).
    Starting,
    /// Step `n` is in the editor, waiting for the operator.
    AtStep(usize),
    /// Step `n` went out (sent, skipped, or the rest of the run asked for): waiting for the
    /// server.
    Waiting(usize),
    /// Nobody is waiting and no step is in the editor: aborted, or failed or gone idle before
    /// the first step. The worker holds no run then, so there is nothing to ask it.
    Stopped,
    /// The verdict and why.
    Finished(Verdict, String),
}

/// Why a run cannot ask the server for anything now.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Refusal {
    /// It is already waiting for the server.
    Waiting,
    Finished,
    /// Aborted or failed: the worker dropped it.
    Stopped,
}

#[derive(Debug, Clone)]
pub struct Run {
    pub scenario: Scenario,
    /// The profile it runs on: its verdict is that profile's, whichever is current when the
    /// verdict arrives.
    pub profile: String,
    pub steps: Vec<StepView>,
    /// Changed only by the transitions below, so no path can leave a stale phase behind.
    phase: Phase,
    /// The step waiting for the operator, as the worker offered it.
    offer: Option<StepKind>,
    /// What the operator changed: not empty once finished, the run is no verdict of the
    /// scenario.
    edited: Vec<String>,
}

impl Run {
    /// A run about to connect: every step still to come, commands filled in with `vars` as
    /// far as they are known before the server greets.
    pub fn new(scenario: Scenario, profile: String, vars: &Vars) -> Run {
        let steps = scenario
            .steps
            .iter()
            .map(|s| StepView {
                label: s.name.clone().unwrap_or_else(|| {
                    s.send.as_deref().map_or_else(
                        || format!("{:?}", s.action.unwrap_or(Action::Check)).to_lowercase(),
                        |t| vars.display(t),
                    )
                }),
                named: s.name.is_some(),
                expected: expect_text(s.expect).to_string(),
                result: None,
            })
            .collect();
        Run {
            scenario,
            profile,
            steps,
            phase: Phase::Starting,
            offer: None,
            edited: Vec::new(),
        }
    }

    pub fn phase(&self) -> &Phase {
        &self.phase
    }

    /// True while the server has the next move.
    pub fn is_waiting(&self) -> bool {
        matches!(self.phase, Phase::Starting | Phase::Waiting(_))
    }

    /// True while the run goes on: connecting, at a step, or waiting for a step's reply.
    pub fn is_active(&self) -> bool {
        matches!(
            self.phase,
            Phase::Starting | Phase::AtStep(_) | Phase::Waiting(_)
        )
    }

    pub fn is_finished(&self) -> bool {
        matches!(self.phase, Phase::Finished(..))
    }

    pub fn verdict(&self) -> Option<(Verdict, &str)> {
        match &self.phase {
            Phase::Finished(v, reason) => Some((*v, reason)),
            _ => None,
        }
    }

    /// The step the run is on: in the editor, or sent and waiting for its reply.
    pub fn step(&self) -> Option<usize> {
        match self.phase {
            Phase::AtStep(n) | Phase::Waiting(n) => Some(n),
            _ => None,
        }
    }

    /// The worker offered step `n`: a command (in the editor), an exchange or a local check.
    /// A finished run stays finished.
    pub fn offered(&mut self, n: usize, step: &StepKind) {
        if let Some(s) = self.steps.get_mut(n).filter(|s| !s.named) {
            s.label = step.text().to_string();
        }
        if !self.is_finished() {
            self.phase = Phase::AtStep(n);
            self.offer = Some(step.clone());
        }
    }

    /// The step waiting for the operator, if one is.
    pub fn offer(&self) -> Option<&StepKind> {
        self.offer.as_ref().filter(|_| self.step().is_some())
    }

    /// What the operator changed in a finished run (none: the scenario's own verdict).
    pub fn edited(&self) -> &[String] {
        &self.edited
    }

    /// The operator asks the server for something (the step, a skip, the rest, RSET).
    pub fn ask(&mut self) -> Result<(), Refusal> {
        self.phase = match self.phase {
            Phase::AtStep(n) => Phase::Waiting(n),
            Phase::Starting | Phase::Waiting(_) => return Err(Refusal::Waiting),
            // Asking a worker that holds no run gets no answer at all (the rest of the run
            // is an empty loop there), and the run would wait for ever.
            Phase::Stopped => return Err(Refusal::Stopped),
            Phase::Finished(..) => return Err(Refusal::Finished),
        };
        Ok(())
    }

    /// The operator aborts the run: the worker drops it, so no step stays in the editor to
    /// be sent to a run that is gone. True if the run was going on.
    pub fn abort(&mut self) -> bool {
        if !self.is_active() {
            return false;
        }
        self.phase = Phase::Stopped;
        true
    }

    /// Stops waiting for the server (aborted, or the network side went idle or failed); a
    /// step already in the editor stays there. True if it was waiting.
    pub fn stop_waiting(&mut self) -> bool {
        let next = match self.phase {
            Phase::Starting => Phase::Stopped,
            Phase::Waiting(n) => Phase::AtStep(n),
            _ => return false,
        };
        self.phase = next;
        true
    }

    pub fn finish(&mut self, verdict: Verdict, reason: String, edited: Vec<String>) {
        self.phase = Phase::Finished(verdict, reason);
        self.offer = None;
        self.edited = edited;
    }

    /// A step's result. The runner may report steps the scenario does not list (a second
    /// session's), which are added as they come.
    pub fn record(&mut self, index: usize, result: StepResult) {
        if let Some(s) = self.steps.get_mut(index) {
            if !s.named && !result.command.is_empty() {
                s.label = result.command.clone();
            }
            s.result = Some(result);
        } else {
            self.steps.push(StepView {
                named: result.name.is_some(),
                label: result
                    .name
                    .clone()
                    .unwrap_or_else(|| result.command.clone()),
                expected: result.expected.clone(),
                result: Some(result),
            });
        }
    }

    /// What the status line says while step `index` waits in the editor.
    pub fn hint(&self, index: usize) -> Option<String> {
        let what = match self.offer {
            Some(StepKind::Exchange(_)) => "smtpscope carries it out: Enter runs it, Ctrl-N skips",
            Some(StepKind::Local(_)) => {
                "a local check, nothing is sent: Enter evaluates it, Ctrl-N skips"
            }
            _ => "edit if you like, Enter sends, Ctrl-N skips",
        };
        self.steps.get(index).map(|s| {
            format!(
                "step {} of {}: {} — {what}",
                index + 1,
                self.steps.len(),
                s.label
            )
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn run() -> Run {
        let scenario = crate::scenario::Catalogue::built_in()
            .entries
            .into_iter()
            .next()
            .map(|e| e.scenario)
            .expect("a built-in scenario");
        Run::new(scenario, "p".into(), &Vars::default())
    }

    #[test]
    fn a_run_waits_for_the_server_then_the_operator_in_turn() {
        let mut r = run();
        assert_eq!(r.phase(), &Phase::Starting);
        assert_eq!(r.ask(), Err(Refusal::Waiting));
        r.offered(
            0,
            &crate::scenario::runner::StepKind::Command("MAIL FROM:<a@b>".into()),
        );
        assert_eq!(r.phase(), &Phase::AtStep(0));
        assert_eq!(r.ask(), Ok(()));
        assert_eq!(r.phase(), &Phase::Waiting(0));
        assert_eq!(r.step(), Some(0));
        assert_eq!(r.ask(), Err(Refusal::Waiting));
        // An abort, an error or an idle worker hands the step back to the operator.
        assert!(r.stop_waiting());
        assert_eq!(r.phase(), &Phase::AtStep(0));
        assert!(!r.stop_waiting());
        r.finish(Verdict::Pass, "554".into(), Vec::new());
        assert_eq!(r.verdict(), Some((Verdict::Pass, "554")));
        assert_eq!(r.step(), None);
        assert_eq!(r.ask(), Err(Refusal::Finished));
        r.offered(1, &crate::scenario::runner::StepKind::Command("x".into()));
        assert!(
            r.is_finished(),
            "a late preview does not reopen a finished run"
        );
    }

    /// Before the server greets, no step of any built-in scenario shows a `{variable}`:
    /// what the profile knows is filled in, the rest is said in words.
    #[test]
    fn no_built_in_step_label_shows_a_template() {
        let relay = crate::profile::RelayAddresses {
            local_recipient: Some("postmaster@lab.example".into()),
            external_sender: Some("relay-test@outside.example".into()),
            ..Default::default()
        };
        for vars in [
            Vars::default(),
            Vars::new("probe.test", &relay, Some("bob")),
        ] {
            for e in crate::scenario::Catalogue::built_in().entries {
                let r = Run::new(e.scenario, "p".into(), &vars);
                for s in &r.steps {
                    assert!(
                        !crate::scenario::vars::has_placeholder(&s.label),
                        "{}: {}",
                        r.scenario.id,
                        s.label
                    );
                }
            }
        }
    }

    #[test]
    fn an_unnamed_step_shows_the_command_as_sent() {
        let mut r = run();
        let unnamed = r.steps.iter().position(|s| !s.named);
        if let Some(i) = unnamed {
            r.offered(
                i,
                &crate::scenario::runner::StepKind::Command("RCPT TO:<x@y.example>".into()),
            );
            assert_eq!(r.steps[i].label, "RCPT TO:<x@y.example>");
        }
        let named = r.steps.iter().position(|s| s.named).expect("a named step");
        let before = r.steps[named].label.clone();
        r.offered(
            named,
            &crate::scenario::runner::StepKind::Command("MAIL FROM:<a@b.example>".into()),
        );
        assert_eq!(r.steps[named].label, before, "a name stays");
    }

    #[test]
    fn a_run_stopped_before_its_first_step_has_no_step() {
        let mut r = run();
        assert!(r.stop_waiting());
        assert_eq!(r.phase(), &Phase::Stopped);
        assert_eq!(r.step(), None);
        assert!(!r.is_waiting());
        assert_eq!(r.ask(), Err(Refusal::Stopped));
        assert!(!r.is_waiting());
        // A late preview still brings the step (the worker was slower than an old Idle).
        r.offered(
            0,
            &crate::scenario::runner::StepKind::Command("MAIL FROM:<a@b>".into()),
        );
        assert_eq!(r.phase(), &Phase::AtStep(0));
    }

    #[test]
    fn an_aborted_run_has_no_step_and_asks_nothing() {
        let mut r = run();
        r.offered(
            0,
            &crate::scenario::runner::StepKind::Command("MAIL FROM:<a@b>".into()),
        );
        assert!(r.abort());
        assert_eq!(r.phase(), &Phase::Stopped);
        assert_eq!(r.step(), None);
        assert!(!r.is_active());
        assert_eq!(r.ask(), Err(Refusal::Stopped));
        assert!(!r.abort(), "only once");
        let mut r = run();
        assert!(r.abort(), "connecting is aborted too");
        r.finish(Verdict::Pass, "554".into(), Vec::new());
        assert!(!r.abort(), "a finished run is left as it is");
        assert!(r.is_finished());
    }
}
