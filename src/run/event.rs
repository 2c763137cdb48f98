//! What a run reports as it goes: the explorer shows each event at once; `check` needs only
//! the result at the end.

use std::sync::Arc;

use crate::scenario::StepResult;
use crate::scenario::runner::StepKind;

#[derive(Debug, Clone)]
pub enum RunEvent {
    /// A session is connected and prepared (EHLO, TLS, AUTH as the scenario says).
    SessionOpened,
    /// The step waiting for the operator, at `index` among the run's results.
    StepOffered { index: usize, kind: StepKind },
    /// A step's result, at `index` among the run's results.
    StepJudged { index: usize, result: StepResult },
    /// A session ended (or could not start); its connection is kept for its record.
    SessionClosed,
    /// Something worth saying that is not a step: a session that could not start, a hang-up
    /// that moves the rest of the scenario to a fresh session.
    Note(String),
}

/// Where a run's events go.
pub type Sink = Arc<dyn Fn(RunEvent) + Send + Sync>;
