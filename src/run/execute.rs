//! `check`'s way of driving runs: every scenario to the end, sessions side by side up to the
//! concurrency limit, then the local-delivery control applied.

use std::sync::Arc;

use tokio::sync::{OwnedSemaphorePermit, Semaphore, oneshot};

use super::scenario_run::{NewTranscript, ScenarioRun, Unreachable, apply_control, conclude};
use crate::scenario::model::{Action, Role, Step};
use crate::scenario::runner::{sessions, unmet_requirement};
use crate::scenario::{Context, Scenario, ScenarioResult, StepResult, Verdict};

/// How long a session will keep its connection busy, in round trips, roughly: each step is
/// one, a group's RSET another, the TLS version probe's connections (beside the session)
/// two or three more. Only the order sessions start in depends on it.
fn round_trips(units: &[Vec<Step>]) -> usize {
    units
        .iter()
        .map(|unit| {
            let rset = usize::from(unit.first().is_some_and(|st| st.group.is_some()));
            let probe: usize = unit
                .iter()
                .filter(|st| st.action == Some(Action::TlsVersions))
                .map(|_| 2)
                .sum();
            unit.len() + rset + probe
        })
        .sum()
}

/// One planned session: it starts when the dispatcher hands it a permit.
struct Planned {
    weight: usize,
    go: oneshot::Sender<OwnedSemaphorePermit>,
}

/// A scenario's sessions, each waiting for its permit; the scenario's result once they end.
fn plan(
    s: Scenario,
    ctx: &Arc<Context>,
    unreachable: &Arc<Unreachable>,
    planned: &mut Vec<Planned>,
) -> tokio::task::JoinHandle<ScenarioResult> {
    if let Some(why) = unmet_requirement(&s, ctx) {
        return tokio::spawn(async move { ScenarioResult::skipped(&s, why) });
    }
    let started = std::time::Instant::now();
    let mut handles = Vec::new();
    for units in sessions(&s) {
        let weight = round_trips(&units);
        let run = ScenarioRun::for_session(s.clone(), (**ctx).clone(), units)
            .sharing_unreachable(Arc::clone(unreachable));
        let (go, permit) = oneshot::channel();
        planned.push(Planned { weight, go });
        handles.push(tokio::spawn(async move {
            // A dispatcher that went away (the run is being dropped) starts nothing.
            let _permit = permit.await.ok()?;
            Some(run.to_end().await.0)
        }));
    }
    tokio::spawn(async move {
        let mut steps = Vec::new();
        let mut transcripts = Vec::new();
        let mut edits = Vec::new();
        for h in handles {
            match h.await {
                Ok(Some(r)) => {
                    steps.extend(r.steps);
                    transcripts.extend(r.transcripts);
                    edits.extend(r.edited);
                }
                Ok(None) => steps.push(internal_error("a session was never started".into())),
                Err(e) => {
                    steps.push(internal_error(format!("a session task failed: {e}")));
                }
            }
        }
        conclude(
            &s,
            steps,
            edits,
            transcripts,
            started.elapsed().as_millis() as u64,
        )
    })
}

fn internal_error(what: String) -> StepResult {
    StepResult {
        name: None,
        command: String::new(),
        expected: String::new(),
        reply: None,
        verdict: Verdict::Inconclusive,
        reason: format!("internal error: {what}"),
        elapsed_ms: 0,
        role: Role::Probe,
        note: None,
        edited: false,
    }
}

/// Starts the planned sessions up to `limit` at a time, the longest first (ties in the order
/// planned): the run lasts at least as long as its longest session, so that one must not
/// wait behind a wave of short ones.
fn dispatch(mut planned: Vec<Planned>, limit: Arc<Semaphore>) -> tokio::task::JoinHandle<()> {
    planned.sort_by_key(|p| std::cmp::Reverse(p.weight));
    tokio::spawn(async move {
        for p in planned {
            let Ok(permit) = Arc::clone(&limit).acquire_owned().await else {
                return;
            };
            // A session whose task is gone gives the permit straight back.
            let _ = p.go.send(permit);
        }
    })
}

/// Runs scenarios concurrently and returns results in the order given. Scenarios that need the
/// local-delivery control get it (run even if not asked for), and turn INCONCLUSIVE when it
/// fails.
pub async fn scenarios(
    scenarios: Vec<Scenario>,
    control: Option<Scenario>,
    ctx: Context,
) -> Vec<ScenarioResult> {
    let limit = Arc::new(Semaphore::new(ctx.concurrency.max(1)));
    let unreachable = Arc::new(Unreachable::new());
    let mut ctx = ctx;
    // One run, one TLS session store: after a full handshake the other sessions resume.
    if ctx.opts.resumption.is_none() {
        ctx.opts.resumption = Some(crate::net::tls::Resumption::new());
    }
    // Nobody steps through these sessions: the version probe starts with its session.
    ctx.unattended = true;
    let ctx = Arc::new(ctx);
    let control_needed = scenarios.iter().any(|s| s.needs_control);
    let control_selected = control
        .as_ref()
        .is_some_and(|c| scenarios.iter().any(|s| s.id == c.id));
    let mut planned = Vec::new();
    let mut handles = Vec::new();
    for s in scenarios {
        handles.push(plan(s, &ctx, &unreachable, &mut planned));
    }
    let hidden_control = match control {
        Some(c) if control_needed && !control_selected => {
            Some(plan(c, &ctx, &unreachable, &mut planned))
        }
        _ => None,
    };
    let dispatcher = dispatch(planned, limit);
    let mut results = Vec::new();
    for h in handles {
        if let Ok(r) = h.await {
            results.push(r);
        }
    }
    let control_result = match hidden_control {
        Some(h) => h.await.ok(),
        None => results.iter().find(|r| r.id == "local-delivery").cloned(),
    };
    dispatcher.abort();
    apply_control(&mut results, control_result.as_ref());
    results
}

/// The control for one scenario run by hand (the explorer), applied exactly as `check` does;
/// its sessions one after the other, each transcript made by `transcripts` (the explorer shows
/// them as they are recorded). Returns the control's result and its sessions, for their
/// records.
pub async fn control_for(
    result: &mut ScenarioResult,
    control: Scenario,
    ctx: Context,
    transcripts: NewTranscript,
) -> (ScenarioResult, Vec<crate::net::Connection>) {
    let (c, conns) = match unmet_requirement(&control, &ctx) {
        Some(why) => (ScenarioResult::skipped(&control, why), Vec::new()),
        // On the heap: a whole run's future is large, and the explorer's worker awaits this
        // inside its own.
        None => {
            Box::pin(
                ScenarioRun::new(control, ctx)
                    .with_transcripts(transcripts)
                    .to_end(),
            )
            .await
        }
    };
    apply_control(std::slice::from_mut(result), Some(&c));
    (c, conns)
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::scenario::Catalogue;

    #[test]
    fn the_longest_sessions_are_weighed_heaviest() {
        let cat = Catalogue::built_in();
        let weight = |id: &str| -> Vec<usize> {
            let s = cat.find(id).expect("scenario");
            sessions(s).iter().map(|u| round_trips(u)).collect()
        };
        let tricks = weight("relay-tricks");
        let unauth = weight("unauth-relay");
        assert!(
            tricks.iter().all(|w| *w > unauth[0]),
            "{tricks:?} {unauth:?}"
        );
        assert!(weight("starttls")[0] > unauth[0]);
    }

    /// With one permit, sessions start strictly one after another: the heaviest first, equal
    /// weights in the order planned.
    #[tokio::test]
    async fn sessions_start_longest_first() {
        let started = Arc::new(std::sync::Mutex::new(Vec::new()));
        let mut planned = Vec::new();
        let mut tasks = Vec::new();
        for (name, weight) in [("a", 8), ("b", 30), ("c", 12), ("d", 30), ("e", 1)] {
            let (go, permit) = oneshot::channel();
            planned.push(Planned { weight, go });
            let started = Arc::clone(&started);
            tasks.push(tokio::spawn(async move {
                let _permit = permit.await.expect("a permit");
                started.lock().expect("not poisoned").push(name);
                tokio::task::yield_now().await;
            }));
        }
        let dispatcher = dispatch(planned, Arc::new(Semaphore::new(1)));
        for t in tasks {
            t.await.expect("task");
        }
        dispatcher.await.expect("dispatcher");
        assert_eq!(
            *started.lock().expect("not poisoned"),
            vec!["b", "d", "c", "a", "e"]
        );
    }
}
