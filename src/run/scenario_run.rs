//! One scenario's run, session by session and step by step: the only session loop there is.
//! `check` drives it to the end (its sessions side by side); the explorer drives it one step
//! per Enter. Both get the same steps on the wire and the same verdict.

use std::collections::VecDeque;
use std::sync::Arc;
use std::time::{Duration, Instant};

use super::event::{RunEvent, Sink};
use crate::net::{Connection, NetError};
use crate::scenario::model::Step;
use crate::scenario::runner::{StepKind, Stepper, aggregate, sessions};
use crate::scenario::{Context, Scenario, ScenarioResult, StepResult, Verdict};
use crate::smtp::reply::Reply;
use crate::transcript::Transcript;

/// Set by the first session that finds the server gives no SMTP greeting at all; the sessions
/// after it (of this scenario or another of the same run) do not wait out the same timeout.
pub type Unreachable = std::sync::OnceLock<String>;

/// What the operator does with the step offered.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Input {
    /// Run it as the scenario says.
    AsOffered,
    /// Send this line instead of the step's command (same verb): the run becomes "edited".
    Edited(String),
    /// Record it as skipped.
    Skip,
}

/// Makes each session's transcript: the explorer's report every entry as it is recorded.
pub type NewTranscript = Arc<dyn Fn() -> Transcript + Send + Sync>;

/// A scenario being run.
pub struct ScenarioRun {
    scenario: Scenario,
    ctx: Context,
    /// Sessions not opened yet, each a list of units (a group's steps, or one step).
    queue: VecDeque<Vec<Vec<Step>>>,
    stepper: Option<Stepper>,
    results: Vec<StepResult>,
    edits: Vec<String>,
    unreachable: Arc<Unreachable>,
    new_transcript: NewTranscript,
    /// Sessions that ended, for their records; the caller takes them.
    closed: Vec<Connection>,
    transcripts: Vec<String>,
    started: Instant,
    events: Option<Sink>,
    /// Sessions tried again after a 421 in the banner: bounded, whatever the server does.
    retries: usize,
}

/// The most times one scenario run opens a session again after a 421 in the banner.
const BUSY_RETRIES: usize = 8;

impl ScenarioRun {
    /// All of the scenario's sessions, one after the other.
    pub fn new(scenario: Scenario, ctx: Context) -> ScenarioRun {
        let queue = sessions(&scenario).into();
        ScenarioRun::with_queue(scenario, ctx, queue)
    }

    /// Only these units, as one session (and the fresh sessions a hang-up needs): `check`
    /// runs a scenario's sessions side by side this way.
    pub fn for_session(scenario: Scenario, ctx: Context, units: Vec<Vec<Step>>) -> ScenarioRun {
        ScenarioRun::with_queue(scenario, ctx, VecDeque::from([units]))
    }

    fn with_queue(
        scenario: Scenario,
        ctx: Context,
        queue: VecDeque<Vec<Vec<Step>>>,
    ) -> ScenarioRun {
        ScenarioRun {
            scenario,
            ctx,
            queue,
            stepper: None,
            results: Vec::new(),
            edits: Vec::new(),
            unreachable: Arc::new(Unreachable::new()),
            new_transcript: Arc::new(Transcript::new),
            closed: Vec::new(),
            transcripts: Vec::new(),
            started: Instant::now(),
            events: None,
            retries: 0,
        }
    }

    /// Shares "the server never greeted" with the other runs against the same server.
    pub fn sharing_unreachable(mut self, unreachable: Arc<Unreachable>) -> ScenarioRun {
        self.unreachable = unreachable;
        self
    }

    pub fn with_transcripts(mut self, new_transcript: NewTranscript) -> ScenarioRun {
        self.new_transcript = new_transcript;
        self
    }

    pub fn with_events(mut self, sink: Sink) -> ScenarioRun {
        self.events = Some(sink);
        self
    }

    pub fn scenario(&self) -> &Scenario {
        &self.scenario
    }

    pub fn context(&self) -> &Context {
        &self.ctx
    }

    fn emit(&self, ev: RunEvent) {
        if let Some(sink) = &self.events {
            sink(ev);
        }
    }

    /// The steps recorded so far, in order.
    pub fn results(&self) -> Vec<StepResult> {
        let mut all = self.results.clone();
        if let Some(st) = &self.stepper {
            all.extend(st.results().iter().cloned());
        }
        all
    }

    /// The connection of the session in progress.
    pub fn connection(&self) -> Option<&Connection> {
        self.stepper.as_ref().map(Stepper::connection)
    }

    /// The current session's connection, for reading what the server sends while the run
    /// waits for the operator.
    pub fn connection_mut(&mut self) -> Option<&mut Connection> {
        self.stepper.as_mut().map(Stepper::connection_mut)
    }

    /// Sessions that ended since the last call, for their records.
    pub fn take_closed(&mut self) -> Vec<Connection> {
        std::mem::take(&mut self.closed)
    }

    /// True once every step has its result.
    pub fn is_done(&self) -> bool {
        self.stepper.is_none() && self.queue.is_empty()
    }

    /// The step waiting for the operator, and its index among the run's results.
    pub fn offer(&self) -> Option<(usize, StepKind)> {
        let st = self.stepper.as_ref()?;
        let kind = st.offer()?;
        Some((self.results.len() + st.results().len(), kind))
    }

    /// Opens sessions until one is ready at a step, or none are left. A session that cannot
    /// start records its steps as not reached, with why.
    pub async fn start(&mut self) {
        while self.stepper.is_none() {
            let Some(units) = self.queue.pop_front() else {
                return;
            };
            let base = self.results.len();
            let mut st = Stepper::new(
                self.scenario.clone(),
                self.ctx.clone(),
                units.clone(),
                (self.new_transcript)(),
            );
            if let Some(why) = self.unreachable.get() {
                let reason = format!(
                    "not tried: an earlier connection to this server already failed where every session starts ({why})"
                );
                let steps = st.not_tried(&reason);
                self.record(base, steps);
                continue;
            }
            self.ctx.crowd.enter().await;
            match st.open().await {
                Ok(()) => {
                    self.ctx.crowd.greeted();
                    self.emit(RunEvent::SessionOpened);
                    self.stepper = Some(st);
                    self.settle().await;
                }
                Err(why) => {
                    self.ctx.crowd.leave();
                    if why.is_busy()
                        && self.retries < BUSY_RETRIES
                        && let Some(open) = self.ctx.crowd.turned_away()
                    {
                        self.retries += 1;
                        self.emit(RunEvent::Note(format!(
                            "{why} while {open} other session(s) of this run were open: it waits for one to end and tries again"
                        )));
                        let conn = st.into_connection();
                        if self.ctx.keep_transcripts {
                            self.transcripts.push(conn.transcript().to_text());
                        }
                        self.closed.push(conn);
                        self.queue.push_front(units);
                        if open == 0 {
                            // Nothing to wait for: the one that was open has ended. A pause,
                            // growing, so a server that keeps answering 421 is not hammered.
                            tokio::time::sleep(Duration::from_millis(
                                (50 << self.retries).min(500),
                            ))
                            .await;
                        }
                        continue;
                    }
                    // A failure every session would meet again (no greeting, a wait that ran
                    // out in the opening they share) is met once per run.
                    if let Some(shared) =
                        why.shared_failure(st.connection().tls_rejected().is_some())
                    {
                        let _ = self.unreachable.set(shared);
                    }
                    self.emit(RunEvent::Note(format!("session could not start: {why}")));
                    let steps = st.results().to_vec();
                    self.record(base, steps);
                    let conn = st.into_connection();
                    // What the server said before it failed is the evidence of why.
                    if self.ctx.keep_transcripts {
                        self.transcripts.push(conn.transcript().to_text());
                    }
                    self.closed.push(conn);
                    self.emit(RunEvent::SessionClosed);
                }
            }
        }
        if let Some((index, kind)) = self.offer() {
            self.emit(RunEvent::StepOffered { index, kind });
        }
    }

    fn record(&mut self, base: usize, steps: Vec<StepResult>) {
        for (i, r) in steps.iter().enumerate() {
            self.emit(RunEvent::StepJudged {
                index: base + i,
                result: r.clone(),
            });
        }
        self.results.extend(steps);
    }

    /// Runs (or skips) the step offered, then records, without asking, the steps that cannot
    /// run any more (the session ended, or an earlier refusal made them moot), closes a
    /// finished session and opens the next.
    pub async fn advance(&mut self, input: Input) {
        let Some(st) = self.stepper.as_mut() else {
            self.start().await;
            return;
        };
        let before = st.results().len();
        match input {
            Input::Skip => {
                st.skip().await;
            }
            Input::AsOffered => {
                st.advance(None).await;
            }
            Input::Edited(line) => {
                st.advance(Some(line)).await;
            }
        }
        self.report_new(before);
        self.note_stall();
        self.settle().await;
        if self.stepper.is_none() {
            self.start().await;
        } else if let Some((index, kind)) = self.offer() {
            self.emit(RunEvent::StepOffered { index, kind });
        }
    }

    /// Emits the current session's results from `before` on.
    fn report_new(&self, before: usize) {
        if let Some(st) = &self.stepper {
            let base = self.results.len();
            for (i, r) in st.results().iter().enumerate().skip(before) {
                self.emit(RunEvent::StepJudged {
                    index: base + i,
                    result: r.clone(),
                });
            }
        }
    }

    /// A server that stopped answering in one session would keep the next ones waiting as
    /// long: said at once, so that the sessions that start after it are not tried.
    fn note_stall(&self) {
        if self
            .stepper
            .as_ref()
            .is_some_and(|st| st.connection().is_stalled())
        {
            let _ = self
                .unreachable
                .set("the server stopped answering within the reply timeout".into());
        }
    }

    /// Records the steps that will not run whatever the operator does, and ends the session
    /// once it has no step left: a hang-up's untried units go on in a fresh session, first.
    async fn settle(&mut self) {
        loop {
            let Some(st) = self.stepper.as_mut() else {
                return;
            };
            if st.next_is_settled() {
                let before = st.results().len();
                st.advance(None).await;
                self.report_new(before);
                self.note_stall();
                continue;
            }
            if st.current().is_some() {
                return;
            }
            let Some(mut st) = self.stepper.take() else {
                return;
            };
            if let Some((units, why)) = st.take_leftover() {
                self.emit(RunEvent::Note(format!(
                    "{why}: the rest of {} goes on in a fresh session",
                    self.scenario.id
                )));
                self.queue.push_front(units);
            }
            self.end_session(st).await;
            self.emit(RunEvent::SessionClosed);
            return;
        }
    }

    /// Ends a session politely and keeps what it produced: its steps, edits, transcript
    /// and connection.
    async fn end_session(&mut self, st: Stepper) {
        self.ctx.crowd.leave();
        self.edits.extend(st.edits().iter().cloned());
        let (run, conn) = st.finish_keeping().await;
        self.results.extend(run.steps);
        self.transcripts.extend(run.transcript);
        self.closed.push(conn);
    }

    /// A command the operator typed that is not the step's, on the scenario's connection.
    pub async fn aside(&mut self, bytes: Vec<u8>) -> Result<Reply, NetError> {
        match self.stepper.as_mut() {
            Some(st) => st.send_aside(bytes).await,
            None => Err(NetError::NotConnected),
        }
    }

    /// RSET between steps, by the operator.
    pub async fn rset(&mut self) -> Result<Reply, NetError> {
        match self.stepper.as_mut() {
            Some(st) => st.rset().await,
            None => Err(NetError::NotConnected),
        }
    }

    /// Whether `line` may stand in for the step offered (a command of the same verb).
    pub fn accepts_edit(&self, line: &str) -> bool {
        self.stepper
            .as_ref()
            .is_some_and(|st| st.accepts_edit(line))
    }

    /// Drops the run as it is (an abort): the open session's connection, for its record.
    pub fn abandon(mut self) -> Vec<Connection> {
        if let Some(st) = self.stepper.take() {
            self.ctx.crowd.leave();
            self.closed.push(st.into_connection());
        }
        self.closed
    }

    /// The scenario's result from every step: aggregated, edits named. Sessions still open
    /// are ended politely first.
    pub async fn finish(mut self) -> (ScenarioResult, Vec<Connection>) {
        if let Some(st) = self.stepper.take() {
            self.end_session(st).await;
        }
        let result = conclude(
            &self.scenario,
            self.results,
            self.edits,
            self.transcripts,
            self.started.elapsed().as_millis() as u64,
        );
        (result, self.closed)
    }

    /// Runs every step as the scenario says, to the end.
    pub async fn to_end(mut self) -> (ScenarioResult, Vec<Connection>) {
        self.start().await;
        while !self.is_done() {
            self.advance(Input::AsOffered).await;
        }
        self.finish().await
    }
}

/// A scenario's result from its steps: the one rule for `check` and the explorer.
pub fn conclude(
    s: &Scenario,
    steps: Vec<StepResult>,
    edits: Vec<String>,
    transcripts: Vec<String>,
    elapsed_ms: u64,
) -> ScenarioResult {
    let (verdict, reason) = aggregate(&steps);
    ScenarioResult {
        verdict,
        reason,
        steps,
        elapsed_ms,
        transcripts,
        edited: edits,
        ..ScenarioResult::skipped(s, String::new())
    }
}

/// Downgrades the verdicts of scenarios that depend on the local-delivery control: a server
/// that refuses its own mail refuses everything, so its rejections prove nothing about relay.
pub fn apply_control(results: &mut [ScenarioResult], control: Option<&ScenarioResult>) {
    for r in results.iter_mut() {
        if !r.needs_control || r.verdict != Verdict::Pass {
            continue;
        }
        match control {
            Some(c) if c.verdict == Verdict::Pass => {}
            Some(c) if c.verdict == Verdict::Skipped => {
                r.reason = format!(
                    "{} (the local-delivery control did not run: {})",
                    r.reason, c.reason
                );
            }
            Some(c) => {
                r.verdict = Verdict::Inconclusive;
                r.reason = format!(
                    "the rejection proves nothing: the local-delivery control did not pass ({}: {})",
                    c.verdict, c.reason
                );
            }
            None => {}
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_failed_control_makes_relay_passes_inconclusive() {
        let mk = |id: &str, v: Verdict| ScenarioResult {
            scenario: id.into(),
            id: id.into(),
            title: String::new(),
            verdict: v,
            reason: "r".into(),
            steps: vec![],
            elapsed_ms: 0,
            transcripts: vec![],
            needs_control: id == "unauth-relay",
            edited: vec![],
        };
        let mut results = vec![
            mk("unauth-relay", Verdict::Pass),
            mk("starttls", Verdict::Pass),
        ];
        apply_control(&mut results, Some(&mk("local-delivery", Verdict::Fail)));
        assert_eq!(results[0].verdict, Verdict::Inconclusive);
        assert!(results[0].reason.contains("proves nothing"));
        assert_eq!(results[1].verdict, Verdict::Pass);
    }
}

#[cfg(test)]
#[path = "scenario_run_tests.rs"]
mod driven;
