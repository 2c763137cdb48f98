//! Stepping through a scenario as the TUI does (its worker, driven by effects) against a real
//! Postfix: the verdict must rest only on replies to each step's own command. A skipped step
//! or a command typed in between must never turn into a PASS or a FAIL; pipelined replies are
//! all recorded; an unset password variable stops only what needs the password.

#![allow(clippy::expect_used, clippy::unwrap_used)] // test code: a failed setup should panic loudly

mod common;

use std::time::Duration;

use common::postfix::{Postfix, shared};
use secrecy::SecretString;
use smtpscope::profile::Profile;
use smtpscope::scenario::{Catalogue, Verdict};
use smtpscope::tui::message::{Effect, NetEvent, Target};
use smtpscope::tui::state::Toggles;
use smtpscope::tui::worker::Worker;
use tokio::sync::mpsc;

struct Tui {
    effects: mpsc::UnboundedSender<Effect>,
    events: mpsc::UnboundedReceiver<NetEvent>,
    /// Every transcript line seen so far.
    transcript: Vec<String>,
    _abort: tokio::sync::watch::Sender<u64>,
}

/// What one effect led to: step verdicts, the verdict when the run ended, notices.
#[derive(Debug, Default)]
struct Seen {
    steps: Vec<(Verdict, String)>,
    done: Option<(Verdict, String)>,
    info: Vec<String>,
    errors: Vec<String>,
}

impl Tui {
    fn new() -> Tui {
        let (effects, effect_rx) = mpsc::unbounded_channel();
        let (net_tx, events) = mpsc::unbounded_channel();
        let (abort, abort_rx) = tokio::sync::watch::channel(0u64);
        tokio::spawn(Worker::new(net_tx, std::env::temp_dir()).run(effect_rx, abort_rx));
        Tui {
            effects,
            events,
            transcript: Vec::new(),
            _abort: abort,
        }
    }

    /// Sends an effect and collects events until the worker offers the next step, finishes,
    /// or goes idle.
    async fn run(&mut self, effect: Effect) -> Seen {
        self.effects.send(effect).unwrap();
        let mut seen = Seen::default();
        let deadline = tokio::time::Instant::now() + Duration::from_secs(30);
        while let Ok(Some(ev)) = tokio::time::timeout_at(deadline, self.events.recv()).await {
            match ev {
                NetEvent::Entry(e) => self
                    .transcript
                    .extend(smtpscope::transcript::render_entry(&e)),
                NetEvent::Step { result, .. } => seen.steps.push((result.verdict, result.reason)),
                NetEvent::Done {
                    verdict, reason, ..
                } => {
                    seen.done = Some((verdict, reason));
                    return seen;
                }
                NetEvent::Info(t) => seen.info.push(t),
                NetEvent::Error(e) => {
                    seen.errors.push(e.to_string());
                    return seen;
                }
                NetEvent::Preview { .. } | NetEvent::Idle => return seen,
                _ => {}
            }
        }
        panic!(
            "no answer within 30 s; transcript:\n{}",
            self.transcript.join("\n")
        );
    }
}

fn target(pf: &Postfix, port: u16, auth: Option<(&str, &str)>) -> Box<Target> {
    let auth_toml = auth.map_or(String::new(), |(user, _)| {
        format!("[auth]\nmechanism = \"plain\"\nusername = \"{user}\"\n")
    });
    let text = format!(
        "server = \"127.0.0.1:{port}\"\nca_file = \"{}\"\ntls_name = \"localhost\"\nhelo = \"probe.test\"\ntimeout_secs = 20\n{auth_toml}[relay]\nlocal_recipient = \"postmaster@{d}\"\nexternal_sender = \"relay-test@outside.example.net\"\nexternal_recipient = \"relay-test@elsewhere.example.org\"\napproved_recipient = \"someone@{p}\"\ndisallowed_recipient = \"someone@not-approved.example\"\nauth_sender = \"{u}@{d}\"\n",
        pf.ca_pem_path.display(),
        d = pf.domain,
        p = pf.partner_domain,
        u = pf.user,
    );
    let profile = Profile::parse(&text, std::path::Path::new("pf.toml")).unwrap();
    Box::new(Target {
        profile_name: "pf".into(),
        toggles: Toggles::from_profile(&profile),
        profile,
        password: auth.map(|(_, pw)| SecretString::from(pw.to_string())),
    })
}

fn scenario(id: &str) -> Box<smtpscope::scenario::Scenario> {
    Box::new(Catalogue::built_in().find(id).cloned().unwrap())
}

fn start(t: Box<Target>, id: &str) -> Effect {
    Effect::StartScenario {
        target: t,
        scenario: scenario(id),
        control: None,
        run_all: false,
    }
}

/// Case 1: skipping MAIL makes RCPT's `503 5.5.1 Error: need MAIL command` no evidence. On a
/// user who may relay anywhere (alice), C must not PASS; on the open relay, A must not PASS.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_skipped_step_never_makes_a_verdict() {
    let Some(pf) = shared("a_skipped_step_never_makes_a_verdict") else {
        return;
    };
    for (port, auth, id) in [
        (
            pf.relaxed_port,
            Some((pf.user.as_str(), pf.password.as_str())),
            "C",
        ),
        (pf.open_relay_port, None, "A"),
    ] {
        let mut tui = Tui::new();
        let first = tui.run(start(target(pf, port, auth), id)).await;
        eprintln!("{id} start: {first:?}");
        let skipped = tui.run(Effect::Skip).await;
        assert_eq!(skipped.steps[0].0, Verdict::Skipped, "{skipped:?}");
        let rcpt = tui.run(Effect::Advance { edited: None }).await;
        let text = tui.transcript.join("\n");
        assert!(
            text.contains("S: 503 5.5.1 Error: need MAIL command"),
            "{text}"
        );
        assert_eq!(rcpt.steps[0].0, Verdict::Inconclusive, "{id}: {rcpt:?}");
        let (verdict, reason) = rcpt.done.expect("the run ends after RCPT");
        assert_eq!(verdict, Verdict::Inconclusive, "{id}: {reason}");
    }
}

/// Case 2: NOOP and VRFY typed while MAIL is the step are sent, recorded and never graded;
/// the steps that follow are graded on their own replies. On the secure server A passes.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn typed_commands_of_another_verb_are_not_graded_as_the_step() {
    let Some(pf) = shared("typed_commands_of_another_verb_are_not_graded_as_the_step") else {
        return;
    };
    let mut tui = Tui::new();
    tui.run(start(target(pf, pf.relaxed_port, None), "A")).await;
    for typed in ["NOOP", "VRFY postmaster"] {
        let seen = tui
            .run(Effect::Advance {
                edited: Some(typed.to_string()),
            })
            .await;
        assert!(seen.steps.is_empty(), "{typed} graded: {seen:?}");
        assert!(
            seen.info.iter().any(|i| i.contains("not graded")),
            "{typed}: {seen:?}"
        );
    }
    let mail = tui.run(Effect::Advance { edited: None }).await;
    assert_eq!(mail.steps[0].0, Verdict::Pass, "{mail:?}");
    let rcpt = tui.run(Effect::Advance { edited: None }).await;
    let (verdict, reason) = rcpt.done.expect("done");
    assert_eq!(verdict, Verdict::Pass, "{reason}");
    let text = tui.transcript.join("\n");
    assert!(
        text.contains("C: NOOP") && text.contains("C: VRFY postmaster"),
        "{text}"
    );
    assert!(text.contains("Relay access denied"), "{text}");

    // An edit of the same command is graded, and says it was edited.
    let mut tui = Tui::new();
    tui.run(start(target(pf, pf.relaxed_port, None), "A")).await;
    let mail = tui
        .run(Effect::Advance {
            edited: Some("MAIL FROM:<someone-else@outside.example.net>".into()),
        })
        .await;
    assert_eq!(mail.steps[0].0, Verdict::Pass, "{mail:?}");
    assert!(mail.steps[0].1.contains("edited"), "{mail:?}");
}

/// Case 5: three NOOPs in one typed line get three replies, all in the transcript.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn pipelined_replies_are_all_recorded() {
    let Some(pf) = shared("pipelined_replies_are_all_recorded") else {
        return;
    };
    let mut tui = Tui::new();
    tui.run(Effect::Manual {
        target: target(pf, pf.relaxed_port, None),
        bytes: b"EHLO probe.test\r\n".to_vec(),
    })
    .await;
    tui.run(Effect::Manual {
        target: target(pf, pf.relaxed_port, None),
        bytes: b"NOOP\r\nNOOP\r\nNOOP\r\n".to_vec(),
    })
    .await;
    let text = tui.transcript.join("\n");
    assert_eq!(text.matches("C: NOOP").count(), 3, "{text}");
    assert_eq!(text.matches("S: 250 2.0.0 Ok").count(), 3, "{text}");
}

/// Case 7 (the worker's part): with `password_env` unset, a scenario that needs no AUTH runs;
/// one that does is stopped with the typed error that lets the TUI ask for the password.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn an_unset_password_variable_stops_only_what_needs_it() {
    let Some(pf) = shared("an_unset_password_variable_stops_only_what_needs_it") else {
        return;
    };
    let mut t = target(pf, pf.relaxed_port, None);
    t.profile.auth = Some(smtpscope::profile::AuthConfig {
        mechanism: smtpscope::smtp::auth::Mechanism::Plain,
        username: pf.user.clone(),
        password_env: Some("SMTPSCOPE_TEST_STEPPING_UNSET_PW".into()),
        password_command: None,
        password: None,
    });
    t.toggles = Toggles::from_profile(&t.profile);
    let mut tui = Tui::new();
    let a = tui.run(start(t.clone(), "A")).await;
    assert!(a.errors.is_empty(), "A needs no password: {a:?}");
    let mut tui = Tui::new();
    let c = tui.run(start(t, "C")).await;
    assert!(
        c.errors
            .iter()
            .any(|e| e.contains("SMTPSCOPE_TEST_STEPPING_UNSET_PW is not set")),
        "{c:?}"
    );
}
