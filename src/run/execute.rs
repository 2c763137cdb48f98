//! `check`'s way of driving runs: every scenario to the end, sessions side by side up to the
//! concurrency limit, then the local-delivery control applied.

use std::sync::Arc;

use tokio::sync::Semaphore;

use super::scenario_run::{NewTranscript, ScenarioRun, Unreachable, apply_control, conclude};
use crate::scenario::model::Role;
use crate::scenario::runner::{sessions, unmet_requirement};
use crate::scenario::{Context, Scenario, ScenarioResult, StepResult, Verdict};

/// One scenario to the end: its sessions side by side (each with its own fresh sessions
/// after a hang-up), then one verdict from all their steps.
async fn scenario(
    s: Scenario,
    ctx: Arc<Context>,
    limit: Arc<Semaphore>,
    unreachable: Arc<Unreachable>,
) -> ScenarioResult {
    if let Some(why) = unmet_requirement(&s, &ctx) {
        return ScenarioResult::skipped(&s, why);
    }
    let started = std::time::Instant::now();
    let mut handles = Vec::new();
    for units in sessions(&s) {
        let run = ScenarioRun::for_session(s.clone(), (*ctx).clone(), units)
            .sharing_unreachable(Arc::clone(&unreachable));
        let limit = Arc::clone(&limit);
        handles.push(tokio::spawn(async move {
            let _permit = limit.acquire_owned().await;
            run.to_end().await.0
        }));
    }
    let mut steps = Vec::new();
    let mut transcripts = Vec::new();
    let mut edits = Vec::new();
    for h in handles {
        match h.await {
            Ok(r) => {
                steps.extend(r.steps);
                transcripts.extend(r.transcripts);
                edits.extend(r.edited);
            }
            Err(e) => steps.push(StepResult {
                name: None,
                command: String::new(),
                expected: String::new(),
                reply: None,
                verdict: Verdict::Inconclusive,
                reason: format!("internal error: a session task failed: {e}"),
                elapsed_ms: 0,
                role: Role::Probe,
                note: None,
                edited: false,
            }),
        }
    }
    conclude(
        &s,
        steps,
        edits,
        transcripts,
        started.elapsed().as_millis() as u64,
    )
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
    ctx.probe_early = true;
    let ctx = Arc::new(ctx);
    let control_needed = scenarios.iter().any(|s| s.needs_control);
    let control_selected = control
        .as_ref()
        .is_some_and(|c| scenarios.iter().any(|s| s.id == c.id));
    let mut handles = Vec::new();
    for s in scenarios {
        handles.push(tokio::spawn(scenario(
            s,
            Arc::clone(&ctx),
            Arc::clone(&limit),
            Arc::clone(&unreachable),
        )));
    }
    let hidden_control = match control {
        Some(c) if control_needed && !control_selected => Some(tokio::spawn(scenario(
            c,
            Arc::clone(&ctx),
            Arc::clone(&limit),
            Arc::clone(&unreachable),
        ))),
        _ => None,
    };
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
