//! The stepper driven as the explorer and `check` drive it, against the built-in lab on
//! loopback and against servers that never greet or stop answering: every step offered and
//! judged once, at its index, across sessions; the run's own bookkeeping (connections,
//! transcripts, edits, skips) as the front ends read it.

use std::sync::{Arc, Mutex};

use super::*;
use crate::lab::{Lab, LabConfig, Policy};
use crate::profile::Profile;
use crate::scenario::Catalogue;
use crate::scenario::model::Role;
use crate::target::lab::lab_profile;
use crate::target::{Overrides, RunOptions};

async fn lab(policy: Policy) -> Lab {
    let config = LabConfig {
        listen: std::net::SocketAddr::from(([127, 0, 0, 1], 0)),
        policy,
        misbehave: Vec::new(),
        store_dir: None,
    };
    Lab::start(config, None).await.expect("the lab starts")
}

/// The explorer's context for `profile` (one session at a time, transcripts kept).
async fn context(profile: Profile, needs_auth: bool) -> Context {
    let resolved =
        crate::target::resolve(Some(("lab", &profile)), &Overrides::default()).expect("resolves");
    let (_, opts) = resolved
        .endpoints(false)
        .await
        .expect("an endpoint")
        .remove(0);
    let credentials = if needs_auth {
        resolved.read_credentials().expect("credentials")
    } else {
        None
    };
    resolved.context(
        opts,
        credentials,
        RunOptions {
            send_data: false,
            keep_transcripts: true,
            concurrency: 1,
            pipelining: true,
        },
    )
}

fn scenario(id: &str) -> Scenario {
    Catalogue::built_in().find(id).expect("built in").clone()
}

/// A sink that keeps every event.
fn recorder() -> (Sink, Arc<Mutex<Vec<RunEvent>>>) {
    let seen = Arc::new(Mutex::new(Vec::new()));
    let keep = Arc::clone(&seen);
    let sink: Sink = Arc::new(move |ev| keep.lock().expect("not poisoned").push(ev));
    (sink, seen)
}

fn judged(events: &[RunEvent]) -> Vec<usize> {
    events
        .iter()
        .filter_map(|e| match e {
            RunEvent::StepJudged { index, .. } => Some(*index),
            _ => None,
        })
        .collect()
}

fn count(events: &[RunEvent], want: fn(&RunEvent) -> bool) -> usize {
    events.iter().filter(|e| want(e)).count()
}

/// Relay tricks on the open relay: four sessions of four probes, stepped one Enter at a time.
/// Each offer's index is the number of results so far (the earlier sessions' and this one's),
/// every step is judged once at its own index, each session is opened, closed and handed back
/// for its record, and the result holds every step and transcript.
#[tokio::test]
async fn stepping_offers_and_judges_each_step_once_at_its_index_across_sessions() {
    let lab = lab(Policy::OpenRelay).await;
    let ctx = context(lab_profile(&lab), false).await;
    let (sink, seen) = recorder();
    let mut run = ScenarioRun::new(scenario("relay-tricks"), ctx).with_events(sink);
    assert!(run.connection().is_none(), "nothing is open before start");
    assert!(run.results().is_empty());
    run.start().await;
    let mut offers = Vec::new();
    let mut closed = 0;
    let mut first_closed_at = None;
    while !run.is_done() {
        let (index, _) = run
            .offer()
            .expect("a step is offered while the run is not done");
        assert_eq!(index, run.results().len(), "offer {index} after {offers:?}");
        assert!(run.connection().is_some(), "a session is open at an offer");
        assert!(run.connection_mut().is_some());
        offers.push(index);
        run.advance(Input::AsOffered).await;
        let now = run.take_closed().len();
        if now > 0 && first_closed_at.is_none() {
            first_closed_at = Some(run.results().len());
        }
        closed += now;
    }
    assert!(run.offer().is_none());
    assert!(run.connection().is_none(), "the last session was closed");
    // Each session is handed back as it ends, the first after its eight steps.
    assert_eq!(first_closed_at, Some(8));
    assert_eq!(closed, 4, "four sessions, each handed back as it ended");
    let (result, rest) = run.finish().await;
    assert!(rest.is_empty(), "nothing handed back twice");
    let steps = 32;
    assert_eq!(result.steps.len(), steps);
    assert_eq!(result.verdict, Verdict::Fail, "{}", result.reason);
    assert!(!result.reason.is_empty());
    assert_eq!(result.transcripts.len(), 4);
    assert!(result.edited.is_empty());
    // Every step of an open relay runs: offered at 0, 1, 2, … in order.
    assert_eq!(offers, (0..steps).collect::<Vec<_>>());
    let events = seen.lock().expect("not poisoned").clone();
    assert_eq!(judged(&events), (0..steps).collect::<Vec<_>>());
    assert_eq!(count(&events, |e| matches!(e, RunEvent::SessionOpened)), 4);
    assert_eq!(count(&events, |e| matches!(e, RunEvent::SessionClosed)), 4);
    assert_eq!(
        count(&events, |e| matches!(e, RunEvent::StepOffered { .. })),
        steps
    );
}

/// `to_end` gives the steps and verdict that stepping gives; a refused MAIL on the secure lab
/// settles the steps after it without an offer.
#[tokio::test]
async fn to_end_is_stepping_to_the_end() {
    let lab = lab(Policy::Secure).await;
    let ctx = context(lab_profile(&lab), false).await;
    let (result, conns) = ScenarioRun::new(scenario("unauth-relay"), ctx.clone())
        .to_end()
        .await;
    assert_eq!(conns.len(), 1);
    assert_eq!(result.verdict, Verdict::Pass, "{}", result.reason);
    assert_eq!(result.steps.len(), 2);
    assert_eq!(result.transcripts.len(), 1);
    let mut stepped = ScenarioRun::new(scenario("unauth-relay"), ctx);
    stepped.start().await;
    while !stepped.is_done() {
        stepped.advance(Input::AsOffered).await;
    }
    let (by_hand, _) = stepped.finish().await;
    assert_eq!(by_hand.verdict, result.verdict);
    assert_eq!(
        by_hand.steps.iter().map(|s| &s.command).collect::<Vec<_>>(),
        result.steps.iter().map(|s| &s.command).collect::<Vec<_>>()
    );
}

/// The operator's hand: an edit of the same verb is accepted and named in the result, another
/// verb is not; a skipped step is recorded as such; NOOP and RSET typed between steps reach the
/// server on the scenario's connection (RSET is named as the operator's), and nothing does
/// without a connection.
#[tokio::test]
async fn edits_skips_and_commands_aside_are_the_operators() {
    let lab = lab(Policy::Secure).await;
    let ctx = context(lab_profile(&lab), false).await;
    let mut run = ScenarioRun::new(scenario("unauth-relay"), ctx);
    assert!(matches!(
        run.aside(b"NOOP\r\n".to_vec()).await,
        Err(NetError::NotConnected)
    ));
    run.start().await;
    assert!(run.accepts_edit("MAIL FROM:<someone@outside.example.net>"));
    assert!(!run.accepts_edit("RCPT TO:<someone@elsewhere.example.org>"));
    let noop = run
        .aside(b"NOOP\r\n".to_vec())
        .await
        .expect("NOOP answered");
    assert_eq!(noop.code(), Some(250));
    let rset = run.rset().await.expect("RSET answered");
    assert_eq!(rset.code(), Some(250));
    run.advance(Input::Edited(
        "MAIL FROM:<someone@outside.example.net>".into(),
    ))
    .await;
    let (index, _) = run.offer().expect("RCPT offered");
    assert_eq!(index, 1);
    run.advance(Input::Skip).await;
    assert!(run.is_done());
    let (result, _) = run.finish().await;
    // Both hands are named: the RSET typed between steps and the edited MAIL.
    assert_eq!(result.edited.len(), 2, "{:?}", result.edited);
    assert!(result.edited[0].starts_with("RSET sent by the operator"));
    assert!(result.edited[1].contains("`MAIL FROM:<someone@outside.example.net>` sent instead"));
    assert_eq!(result.steps[1].verdict, Verdict::Skipped);
    assert_eq!(result.steps[1].reason, "skipped by the operator");
    let mut done = ScenarioRun::new(scenario("unauth-relay"), context_for_nothing());
    assert!(matches!(done.rset().await, Err(NetError::NotConnected)));
}

fn context_for_nothing() -> Context {
    let opts = crate::net::ConnectOptions::new(crate::net::connect::Target {
        host: "127.0.0.1".into(),
        port: 9,
    });
    Context {
        opts,
        helo: "probe.test".into(),
        credentials: None,
        vars: crate::scenario::vars::Vars::default(),
        send_data: false,
        keep_transcripts: false,
        concurrency: 1,
        unattended: false,
        pipelining: true,
        crowd: Default::default(),
    }
}

/// Esc in the explorer: the open session's connection comes back for its record.
#[tokio::test]
async fn abandon_hands_back_the_open_session() {
    let lab = lab(Policy::Secure).await;
    let ctx = context(lab_profile(&lab), false).await;
    let mut run = ScenarioRun::new(scenario("unauth-relay"), ctx);
    run.start().await;
    let conns = run.abandon();
    assert_eq!(conns.len(), 1);
    assert!(
        conns[0].is_open(),
        "handed back as it was, not closed politely"
    );
}

/// A listener that takes each connection and says nothing: a server that never greets.
async fn silent_server() -> (std::net::SocketAddr, tokio::task::JoinHandle<()>) {
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0")
        .await
        .expect("bind loopback");
    let addr = listener.local_addr().expect("addr");
    let task = tokio::spawn(async move {
        let mut held = Vec::new();
        while let Ok((s, _)) = listener.accept().await {
            held.push(s);
        }
    });
    (addr, task)
}

/// A server that never greets costs one timeout: the first session records its steps as not
/// reached, and the three after it are not tried (each step judged, at its own index), with a
/// note of why.
#[tokio::test]
async fn a_server_that_never_greets_is_waited_for_once() {
    let (addr, task) = silent_server().await;
    let lab = lab(Policy::Secure).await;
    let mut profile = lab_profile(&lab);
    profile.server = addr.to_string();
    profile.timeout_secs = Some(0.5);
    let ctx = context(profile, false).await;
    let (sink, seen) = recorder();
    let run = ScenarioRun::new(scenario("relay-tricks"), ctx).with_events(sink);
    let (result, conns) = run.to_end().await;
    task.abort();
    assert_eq!(conns.len(), 1, "only the first session connected");
    assert_eq!(result.steps.len(), 32);
    assert_eq!(result.verdict, Verdict::Inconclusive, "{}", result.reason);
    let not_tried = result
        .steps
        .iter()
        .filter(|s| s.reason.starts_with("not tried: an earlier connection"))
        .count();
    assert_eq!(not_tried, 24, "{:#?}", result.steps);
    let events = seen.lock().expect("not poisoned").clone();
    assert_eq!(judged(&events), (0..32).collect::<Vec<_>>());
    assert!(
        events
            .iter()
            .any(|e| matches!(e, RunEvent::Note(n) if n.starts_with("session could not start")))
    );
    assert_eq!(count(&events, |e| matches!(e, RunEvent::SessionOpened)), 0);
}

/// A server that greets, answers EHLO, then stops answering at MAIL: the session that met it
/// says so at once, so the sessions after it are not tried rather than each waiting as long.
#[tokio::test]
async fn a_server_that_stops_answering_stops_the_later_sessions() {
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0")
        .await
        .expect("bind loopback");
    let addr = listener.local_addr().expect("addr");
    let task = tokio::spawn(async move {
        use tokio::io::{AsyncBufReadExt, AsyncWriteExt, BufReader};
        let mut held = Vec::new();
        while let Ok((s, _)) = listener.accept().await {
            let (r, mut w) = s.into_split();
            let mut lines = BufReader::new(r).lines();
            let _ = w.write_all(b"220 stall.test ESMTP\r\n").await;
            if let Ok(Some(_ehlo)) = lines.next_line().await {
                let _ = w.write_all(b"250 stall.test\r\n").await;
            }
            // MAIL and whatever follows: read, never answered.
            held.push((lines, w));
        }
    });
    let lab = lab(Policy::Secure).await;
    let mut profile = lab_profile(&lab);
    profile.server = addr.to_string();
    profile.tls = crate::net::TlsMode::None;
    profile.timeout_secs = Some(0.5);
    let ctx = context(profile, false).await;
    let (result, conns) = ScenarioRun::new(scenario("relay-tricks"), ctx)
        .to_end()
        .await;
    task.abort();
    assert_eq!(conns.len(), 1, "one session met the stall; none after it");
    let later: Vec<&StepResult> = result.steps.iter().skip(8).collect();
    assert_eq!(later.len(), 24);
    assert!(
        later.iter().all(|s| s
            .reason
            .contains("the server stopped answering within the reply timeout")),
        "{later:#?}"
    );
}

/// The one rule for a scenario's result: the aggregate of its steps, with what the run kept.
#[test]
fn conclude_keeps_what_the_run_gathered() {
    let s = scenario("unauth-relay");
    let step = StepResult {
        name: Some("outside recipient".into()),
        command: "RCPT TO:<x@elsewhere.example.org>".into(),
        expected: "reject".into(),
        reply: None,
        verdict: Verdict::Fail,
        reason: "accepted".into(),
        elapsed_ms: 3,
        role: Role::Probe,
        note: None,
        edited: false,
    };
    let r = conclude(
        &s,
        vec![step],
        vec!["an edit".into()],
        vec!["a transcript".into()],
        42,
    );
    assert_eq!(r.verdict, Verdict::Fail);
    assert!(r.reason.contains("accepted"), "{}", r.reason);
    assert_eq!(r.steps.len(), 1);
    assert_eq!(r.elapsed_ms, 42);
    assert_eq!(r.transcripts, vec!["a transcript".to_string()]);
    assert_eq!(r.edited, vec!["an edit".to_string()]);
    assert_eq!(r.id, "unauth-relay");
    assert!(r.needs_control);
}

fn result(id: &str, verdict: Verdict, needs_control: bool) -> ScenarioResult {
    ScenarioResult {
        scenario: id.into(),
        id: id.into(),
        title: String::new(),
        verdict,
        reason: "r".into(),
        steps: vec![],
        elapsed_ms: 0,
        transcripts: vec![],
        needs_control,
        edited: vec![],
    }
}

/// Only a relay PASS depends on the control: a passed control leaves it, a skipped one is
/// named in its reason, any other makes it INCONCLUSIVE; other verdicts and scenarios that do
/// not need the control are never touched.
#[test]
fn the_control_touches_only_relay_passes() {
    let runs = || {
        vec![
            result("unauth-relay", Verdict::Pass, true),
            result("relay-tricks", Verdict::Fail, true),
            result("starttls", Verdict::Pass, false),
        ]
    };
    let mut passed = runs();
    apply_control(
        &mut passed,
        Some(&result("local-delivery", Verdict::Pass, false)),
    );
    assert_eq!(
        passed
            .iter()
            .map(|r| (r.verdict, r.reason.as_str()))
            .collect::<Vec<_>>(),
        vec![
            (Verdict::Pass, "r"),
            (Verdict::Fail, "r"),
            (Verdict::Pass, "r")
        ]
    );
    let mut skipped = runs();
    let mut c = result("local-delivery", Verdict::Skipped, false);
    c.reason = "no local recipient".into();
    apply_control(&mut skipped, Some(&c));
    assert_eq!(skipped[0].verdict, Verdict::Pass);
    assert_eq!(
        skipped[0].reason,
        "r (the local-delivery control did not run: no local recipient)"
    );
    assert_eq!(skipped[1].reason, "r");
    assert_eq!(skipped[2].reason, "r");
    let mut failed = runs();
    apply_control(
        &mut failed,
        Some(&result("local-delivery", Verdict::Fail, false)),
    );
    assert_eq!(failed[0].verdict, Verdict::Inconclusive);
    assert_eq!(failed[1].verdict, Verdict::Fail);
    assert_eq!(failed[1].reason, "r");
    assert_eq!(failed[2].verdict, Verdict::Pass);
    let mut none = runs();
    apply_control(&mut none, None);
    assert_eq!(none[0].verdict, Verdict::Pass);
    assert_eq!(none[0].reason, "r");
}

/// A listener that answers the connections `refuse` picks (by their number, from 0) with
/// `first_words` and closes them, and hands every other to `lab`; counts the connections.
async fn turning_away(
    lab: std::net::SocketAddr,
    refuse: fn(usize) -> bool,
    first_words: &'static [u8],
) -> (
    std::net::SocketAddr,
    Arc<std::sync::atomic::AtomicUsize>,
    tokio::task::JoinHandle<()>,
) {
    use std::sync::atomic::Ordering;
    use tokio::io::AsyncWriteExt;
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0")
        .await
        .expect("bind loopback");
    let addr = listener.local_addr().expect("addr");
    let seen = Arc::new(std::sync::atomic::AtomicUsize::new(0));
    let count = Arc::clone(&seen);
    let task = tokio::spawn(async move {
        while let Ok((mut s, _)) = listener.accept().await {
            let n = count.fetch_add(1, Ordering::SeqCst);
            if refuse(n) {
                let _ = s.write_all(first_words).await;
                let _ = s.shutdown().await;
                continue;
            }
            tokio::spawn(async move {
                if let Ok(mut up) = tokio::net::TcpStream::connect(lab).await {
                    let _ = tokio::io::copy_bidirectional(&mut s, &mut up).await;
                }
            });
        }
    });
    (addr, seen, task)
}

const TOO_MANY: &[u8] = b"421 4.7.0 too many connections, try again later\r\n";

/// Another session of the run was greeted (a crowd): a 421 in the banner is "not now", and
/// the session tries again, with the turned-away attempt's transcript kept and a note of why.
#[tokio::test]
async fn a_session_turned_away_with_421_in_a_crowd_tries_again() {
    let lab = lab(Policy::Secure).await;
    let (addr, seen, task) = turning_away(lab.addr, |n| n < 1, TOO_MANY).await;
    let mut profile = lab_profile(&lab);
    profile.server = addr.to_string();
    let ctx = context(profile, false).await;
    ctx.crowd.greeted();
    let (sink, events) = recorder();
    let (result, conns) = ScenarioRun::new(scenario("unauth-relay"), ctx)
        .with_events(sink)
        .to_end()
        .await;
    task.abort();
    assert_eq!(result.verdict, Verdict::Pass, "{}", result.reason);
    assert_eq!(seen.load(std::sync::atomic::Ordering::SeqCst), 2);
    assert_eq!(
        conns.len(),
        2,
        "the turned-away attempt is kept for its record"
    );
    assert_eq!(result.transcripts.len(), 2);
    assert!(result.transcripts[0].contains("421 4.7.0 too many connections"));
    let events = events.lock().expect("not poisoned").clone();
    assert!(
        events
            .iter()
            .any(|e| matches!(e, RunEvent::Note(n) if n.contains("tries again")))
    );
}

/// Tries again at most eight times when the server keeps answering 421; a failure that is not
/// a 421 (no greeting at all) is not tried again even in a crowd; and with no session of the
/// run ever greeted, a 421 is the server refusing this client: no second try.
#[tokio::test]
async fn tries_after_a_421_are_bounded_and_only_for_a_421_in_a_crowd() {
    let lab = lab(Policy::Secure).await;
    for (words, greeted, attempts) in [
        (TOO_MANY, true, 1 + 8),
        (&b""[..], true, 1),
        (TOO_MANY, false, 1),
    ] {
        let (addr, seen, task) = turning_away(lab.addr, |_| true, words).await;
        let mut profile = lab_profile(&lab);
        profile.server = addr.to_string();
        profile.timeout_secs = Some(1.0);
        let ctx = context(profile, false).await;
        if greeted {
            ctx.crowd.greeted();
        }
        let started = std::time::Instant::now();
        let (result, _) = ScenarioRun::new(scenario("unauth-relay"), ctx)
            .to_end()
            .await;
        let took = started.elapsed();
        task.abort();
        if attempts > 1 {
            // With nothing open to wait for, each try again comes after a growing pause
            // (50, 100, 200, 400, then 500 ms): a server that keeps answering 421 is not
            // hammered. A lower bound only: sleeps never end early.
            assert!(
                took >= std::time::Duration::from_millis(2750),
                "eight tries again in {took:?}"
            );
        }
        assert_eq!(result.verdict, Verdict::Inconclusive, "{}", result.reason);
        assert_eq!(
            seen.load(std::sync::atomic::Ordering::SeqCst),
            attempts,
            "{words:?} greeted before: {greeted}"
        );
    }
}

/// The version probe's TLS 1.3 line comes from the session's own handshake, whether the probe
/// runs at its step (the explorer) or starts with the session and waits for that handshake
/// (`check`): the same report either way, and no connection of the probe's for 1.3.
#[tokio::test]
async fn the_version_probe_takes_tls13_from_the_sessions_own_handshake() {
    let lab = lab(Policy::Secure).await;
    for unattended in [false, true] {
        let mut ctx = context(lab_profile(&lab), false).await;
        ctx.unattended = unattended;
        let (result, _) = ScenarioRun::new(scenario("starttls"), ctx).to_end().await;
        let step = result
            .steps
            .iter()
            .find(|s| s.name.as_deref() == Some("TLS versions accepted"))
            .expect("the version step");
        assert_eq!(step.verdict, Verdict::Pass, "{}", step.reason);
        assert!(
            step.reason.contains(
                "TLSv1.3 accepted: TLS13_AES_256_GCM_SHA384, X25519 (the session's own handshake)"
            ),
            "unattended {unattended}: {}",
            step.reason
        );
        assert!(
            step.reason.contains("TLSv1.2 accepted: TLS_"),
            "unattended {unattended}: {}",
            step.reason
        );
    }
}

/// A server that admits one connection (handed to `lab`) and answers 421 to every other, for
/// good: the whole run tries again at most [`crate::net::crowd::RUN_RETRIES`] times, not eight
/// times per session (about a hundred connections for the full audit before the run's budget).
#[tokio::test]
async fn a_server_that_keeps_answering_421_gets_a_bounded_number_of_tries_per_run() {
    use std::sync::atomic::Ordering;
    let lab = lab(Policy::Secure).await;
    let (addr, seen, task) = turning_away(lab.addr, |n| n > 0, TOO_MANY).await;
    let mut profile = lab_profile(&lab);
    profile.server = addr.to_string();
    profile.timeout_secs = Some(2.0);
    let mut ctx = context(profile, true).await;
    ctx.concurrency = 16;
    let cat = Catalogue::built_in();
    let scenarios: Vec<Scenario> = cat.defaults().into_iter().cloned().collect();
    let sessions: usize = scenarios
        .iter()
        .map(|s| crate::scenario::runner::sessions(s).len())
        .sum();
    let results = crate::run::execute::scenarios(scenarios, None, ctx).await;
    task.abort();
    let connections = seen.load(Ordering::SeqCst);
    eprintln!("{connections} connections for {sessions} sessions");
    assert!(
        connections <= sessions + crate::net::crowd::RUN_RETRIES,
        "{connections} connections for {sessions} sessions"
    );
    assert!(
        connections > sessions,
        "the run did try again: {connections}"
    );
    assert!(
        results.iter().any(|r| r.verdict == Verdict::Inconclusive),
        "the sessions turned away for good say so"
    );
}
