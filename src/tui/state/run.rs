//! The scenario being run, step by step, as the verdict panel and the editor show it.

use crate::scenario::model::Action;
use crate::scenario::verdict::expect_text;
use crate::scenario::{Scenario, StepResult, Verdict};

/// One step of the scenario being run, as the verdict panel shows it.
#[derive(Debug, Clone)]
pub struct StepView {
    pub label: String,
    pub expected: String,
    pub result: Option<StepResult>,
}

#[derive(Debug, Clone)]
pub struct Run {
    pub scenario: Scenario,
    pub steps: Vec<StepView>,
    /// Index of the step the editor holds.
    pub current: Option<usize>,
    pub busy: bool,
    pub verdict: Option<(Verdict, String)>,
}

impl Run {
    /// A run about to connect: every step still to come.
    pub fn new(scenario: Scenario) -> Run {
        let steps = scenario
            .steps
            .iter()
            .map(|s| StepView {
                label: s.name.clone().unwrap_or_else(|| {
                    s.send.clone().unwrap_or_else(|| {
                        format!("{:?}", s.action.unwrap_or(Action::Check)).to_lowercase()
                    })
                }),
                expected: expect_text(s.expect).to_string(),
                result: None,
            })
            .collect();
        Run {
            scenario,
            steps,
            current: None,
            busy: true,
            verdict: None,
        }
    }

    /// A step's result. The runner may report steps the scenario does not list (a second
    /// session's), which are added as they come.
    pub fn record(&mut self, index: usize, result: StepResult) {
        if let Some(s) = self.steps.get_mut(index) {
            s.result = Some(result);
        } else {
            self.steps.push(StepView {
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
        self.steps.get(index).map(|s| {
            format!(
                "step {} of {}: {} — edit if you like, Enter sends, Ctrl-N skips",
                index + 1,
                self.steps.len(),
                s.label
            )
        })
    }
}
