//! Runs scenarios against a server and decides their verdicts. The TUI and `check` both use
//! this; neither holds relay logic of its own.
//!
//! Each scenario's steps are split into sessions (`groups_per_session`) so that failing probes
//! never trip a tarpit, and sessions run concurrently up to a limit.

use std::sync::Arc;
use std::time::{Duration, Instant};

use serde::Serialize;
use tokio::sync::Semaphore;

use super::model::{Action, Assertion, Expect, Role, Scenario, Severity, Step, TlsUse, unescape};
use super::vars::{Vars, source_of};
use super::verdict::{Judgement, Verdict, describe, expect_text, judge};
use crate::net::{ConnectOptions, Connection, NetError, TlsMode};
use crate::smtp::auth::{Credentials, Mechanism};
use crate::smtp::capabilities::Capabilities;
use crate::smtp::command::Command;
use crate::smtp::data::encode_data;
use crate::smtp::reply::Reply;
use crate::transcript::Transcript;

/// How long a smuggling probe waits for a reply that should not come.
const SMUGGLE_WAIT: Duration = Duration::from_secs(2);

/// Everything a run needs besides the scenarios.
#[derive(Clone)]
pub struct Context {
    pub opts: ConnectOptions,
    pub helo: String,
    pub credentials: Option<(Mechanism, Credentials)>,
    pub vars: Vars,
    /// Send a short test message after an accepted RCPT (off: stop before DATA).
    pub send_data: bool,
    /// Keep each session's transcript in the result.
    pub keep_transcripts: bool,
    pub concurrency: usize,
}

#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct ReplySummary {
    pub code: Option<u16>,
    pub enhanced: Option<String>,
    pub text: String,
}

impl ReplySummary {
    fn of(reply: &Reply) -> Self {
        ReplySummary {
            code: reply.code(),
            enhanced: reply.enhanced().map(|e| e.to_string()),
            text: reply.summary(),
        }
    }
}

#[derive(Debug, Clone, Serialize)]
pub struct StepResult {
    pub name: Option<String>,
    /// What was sent (credentials redacted), or the action taken.
    pub command: String,
    pub expected: String,
    pub reply: Option<ReplySummary>,
    pub verdict: Verdict,
    pub reason: String,
    pub elapsed_ms: u64,
    #[serde(skip)]
    pub role: Role,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub note: Option<String>,
}

#[derive(Debug, Clone, Serialize)]
pub struct ScenarioResult {
    pub scenario: String,
    pub id: String,
    pub title: String,
    pub verdict: Verdict,
    pub reason: String,
    pub steps: Vec<StepResult>,
    pub elapsed_ms: u64,
    #[serde(skip_serializing_if = "Vec::is_empty")]
    pub transcripts: Vec<String>,
    #[serde(skip)]
    pub needs_control: bool,
}

impl ScenarioResult {
    fn skipped(s: &Scenario, reason: String) -> Self {
        ScenarioResult {
            scenario: s.label().to_string(),
            id: s.id.clone(),
            title: s.title.clone(),
            verdict: Verdict::Skipped,
            reason,
            steps: Vec::new(),
            elapsed_ms: 0,
            transcripts: Vec::new(),
            needs_control: s.needs_control,
        }
    }
}

/// Why a scenario cannot run with this configuration, if it cannot.
pub fn unmet_requirement(s: &Scenario, ctx: &Context) -> Option<String> {
    use super::model::Requirement;
    for r in &s.requires {
        match r {
            Requirement::Auth if ctx.credentials.is_none() => {
                return Some(
                    "needs credentials: configure [auth] in the profile or give --auth and --user"
                        .into(),
                );
            }
            Requirement::Plaintext if ctx.opts.tls_mode == TlsMode::Implicit => {
                return Some(
                    "needs a connection that starts in plaintext; this target uses implicit TLS"
                        .into(),
                );
            }
            _ => {}
        }
    }
    if s.authenticate && ctx.credentials.is_none() {
        return Some("needs credentials: configure [auth] in the profile".into());
    }
    let mut missing: Vec<String> = s
        .steps
        .iter()
        .filter_map(|st| st.send.as_deref())
        .flat_map(|t| ctx.vars.missing(t))
        .collect();
    missing.dedup();
    missing
        .first()
        .map(|v| format!("{{{v}}} is not set: set {}", source_of(v)))
}

/// Steps split into units: a group's steps together, ungrouped steps alone.
fn units(steps: &[Step]) -> Vec<Vec<Step>> {
    let mut out: Vec<Vec<Step>> = Vec::new();
    for step in steps {
        match (&step.group, out.last_mut()) {
            (Some(g), Some(last)) if last.first().and_then(|s| s.group.as_ref()) == Some(g) => {
                last.push(step.clone());
            }
            _ => out.push(vec![step.clone()]),
        }
    }
    out
}

/// Units split into sessions of at most `groups_per_session` groups.
fn sessions(s: &Scenario) -> Vec<Vec<Vec<Step>>> {
    let all = units(&s.steps);
    let Some(per) = s.groups_per_session else {
        return vec![all];
    };
    let mut out: Vec<Vec<Vec<Step>>> = vec![Vec::new()];
    let mut groups = 0;
    for unit in all {
        let is_group = unit.first().is_some_and(|st| st.group.is_some());
        if is_group && groups == per {
            out.push(Vec::new());
            groups = 0;
        }
        if is_group {
            groups += 1;
        }
        if let Some(last) = out.last_mut() {
            last.push(unit);
        }
    }
    out
}

struct SessionRun {
    steps: Vec<StepResult>,
    transcript: Option<String>,
}

fn not_reached(step: &Step, why: &str) -> StepResult {
    StepResult {
        name: step.name.clone(),
        command: step_command(step),
        expected: expect_text(step.expect).into(),
        reply: None,
        verdict: Verdict::Inconclusive,
        reason: format!("not reached: {why}"),
        elapsed_ms: 0,
        role: step.role,
        note: step.note.clone(),
    }
}

fn step_command(step: &Step) -> String {
    if let Some(line) = &step.send {
        return line.clone();
    }
    match step.action {
        Some(Action::Starttls) => "STARTTLS".into(),
        Some(Action::Auth) => "AUTH (profile credentials)".into(),
        Some(Action::AuthDummy) => "AUTH PLAIN <dummy credentials> (before TLS)".into(),
        Some(Action::Rset) => "RSET".into(),
        Some(Action::Data) => "DATA + test message".into(),
        Some(Action::Smuggle) => format!(
            "DATA + body ending in {}",
            step.sequence.as_deref().unwrap_or("?")
        ),
        Some(Action::Check) => format!("check: {}", assertion_text(step.assert)),
        None => String::new(),
    }
}

fn assertion_text(a: Option<Assertion>) -> &'static str {
    match a {
        Some(Assertion::StarttlsAdvertised) => "STARTTLS advertised",
        Some(Assertion::TlsVerified) => "certificate verified for the server name",
        Some(Assertion::Tls12OrNewer) => "TLS 1.2 or newer",
        Some(Assertion::AuthNotAdvertisedBeforeTls) => "AUTH not advertised before TLS",
        Some(Assertion::SameAnswerTwice) => "the last two replies have the same code",
        None => "?",
    }
}

/// The verdict of one reply against a step.
fn verdict_for(step: &Step, severity: Severity, reply: &Reply) -> (Verdict, String) {
    let shown = describe(reply);
    let mismatch = || match (step.role, severity) {
        (Role::Setup, _) => Verdict::Inconclusive,
        (Role::Probe, Severity::Fail) => Verdict::Fail,
        (Role::Probe, Severity::Warn) => Verdict::Warn,
    };
    match judge(step.expect, &step.fail_on, reply) {
        Judgement::Match => (
            Verdict::Pass,
            format!("{shown}: {} as expected", expect_text(step.expect)),
        ),
        Judgement::Mismatch if step.role == Role::Setup => (
            Verdict::Inconclusive,
            format!(
                "{shown}: expected {}, so the probe could not be made",
                expect_text(step.expect)
            ),
        ),
        Judgement::Mismatch => (
            mismatch(),
            format!("{shown}: expected {}", expect_text(step.expect)),
        ),
        Judgement::Temporary => (
            Verdict::Inconclusive,
            format!(
                "{shown}: a temporary (4xx) answer, e.g. greylisting or a tarpit, proves nothing; try again later"
            ),
        ),
        Judgement::Unrelated => (
            Verdict::Inconclusive,
            format!(
                "{shown}: rejected for an unrelated reason (the address itself), which is no relay evidence; choose an external recipient whose domain exists"
            ),
        ),
        Judgement::Malformed => (
            Verdict::Inconclusive,
            format!("{shown}: not a valid SMTP reply"),
        ),
    }
}

fn failed_step(step: &Step, command: String, started: Instant, reason: String) -> StepResult {
    StepResult {
        name: step.name.clone(),
        command,
        expected: expect_text(step.expect).into(),
        reply: None,
        verdict: Verdict::Inconclusive,
        reason,
        elapsed_ms: started.elapsed().as_millis() as u64,
        role: step.role,
        note: step.note.clone(),
    }
}

/// The server's name from its banner (`220 mail.example.com ESMTP ...`).
fn server_name(banner: &Reply) -> String {
    banner
        .lines
        .first()
        .map(|l| l.text())
        .and_then(|t| t.split_whitespace().next().map(str::to_string))
        .unwrap_or_else(|| "localhost".into())
}

async fn greet(conn: &mut Connection, helo: &str) -> Result<(), String> {
    let reply = conn
        .command(&Command::Ehlo(helo.to_string()))
        .await
        .map_err(|e| e.to_string())?;
    if reply.is_positive() {
        return Ok(());
    }
    let reply = conn
        .command(&Command::Helo(helo.to_string()))
        .await
        .map_err(|e| e.to_string())?;
    if reply.is_positive() {
        Ok(())
    } else {
        Err(format!("EHLO and HELO rejected: {}", describe(&reply)))
    }
}

async fn starttls(conn: &mut Connection, helo: &str) -> Result<Reply, String> {
    let reply = conn.starttls().await.map_err(|e| e.to_string())?;
    greet(conn, helo).await?;
    Ok(reply)
}

/// Connects and brings the session to where the steps start. Errors say why it could not.
async fn prepare(s: &Scenario, ctx: &Context, conn: &mut Connection) -> Result<Vars, String> {
    let banner = conn.open().await.map_err(|e| e.to_string())?;
    if !banner.is_positive() {
        return Err(format!(
            "the server refused the session: {}",
            describe(&banner)
        ));
    }
    let vars = ctx
        .vars
        .with_server(&server_name(&banner), conn.peer().map(|p| p.ip()));
    greet(conn, &ctx.helo).await?;
    let offered = conn
        .session()
        .capabilities()
        .is_some_and(Capabilities::starttls);
    let want_tls = match s.tls {
        TlsUse::Plaintext => false,
        TlsUse::Required => true,
        TlsUse::Profile => ctx.opts.tls_mode == TlsMode::Starttls && offered,
    };
    if want_tls && !conn.session().tls_active() {
        if !offered {
            return Err("TLS is needed first, but the server does not offer STARTTLS".into());
        }
        starttls(conn, &ctx.helo)
            .await
            .map_err(|e| format!("TLS could not be established: {e}"))?;
    }
    if s.authenticate {
        let Some((mech, creds)) = &ctx.credentials else {
            return Err("no credentials".into());
        };
        let reply = conn
            .authenticate(*mech, creds.clone(), true)
            .await
            .map_err(|e| format!("AUTH failed: {e}"))?;
        if reply.code() != Some(235) {
            return Err(format!("AUTH {} failed: {}", mech.name(), describe(&reply)));
        }
    }
    Ok(vars)
}

/// Runs one step. `Err` means the connection is no longer usable.
async fn run_step(
    step: &Step,
    s: &Scenario,
    ctx: &Context,
    vars: &Vars,
    conn: &mut Connection,
    replies: &mut Vec<Reply>,
) -> Result<StepResult, StepResult> {
    let started = Instant::now();
    let mut command = step_command(step);
    let reply = match (&step.send, step.action) {
        (Some(template), _) => {
            let line = vars
                .expand(template)
                .map_err(|e| failed_step(step, command.clone(), started, e))?;
            command = line.clone();
            let mut wire = line.into_bytes();
            wire.extend_from_slice(b"\r\n");
            conn.command(&Command::Raw(wire)).await
        }
        (None, Some(Action::Starttls)) => match conn.starttls().await {
            Ok(r) => {
                if let Err(e) = greet(conn, &ctx.helo).await {
                    return Err(failed_step(step, command, started, e));
                }
                Ok(r)
            }
            Err(NetError::StartTlsRefused { reply }) => {
                return Ok(StepResult {
                    reply: None,
                    verdict: if step.role == Role::Setup {
                        Verdict::Inconclusive
                    } else {
                        Verdict::Fail
                    },
                    reason: format!("STARTTLS refused: {reply}"),
                    ..failed_step(step, command, started, String::new())
                });
            }
            Err(e) => {
                let verdict = if e.is_tls() {
                    Verdict::Fail
                } else {
                    Verdict::Inconclusive
                };
                return Err(StepResult {
                    verdict,
                    ..failed_step(step, command, started, e.to_string())
                });
            }
        },
        (None, Some(Action::Auth)) => match &ctx.credentials {
            Some((mech, creds)) => {
                command = format!("AUTH {} <redacted>", mech.name());
                conn.authenticate(*mech, creds.clone(), true).await
            }
            None => {
                return Ok(failed_step(
                    step,
                    command,
                    started,
                    "no credentials configured".into(),
                ));
            }
        },
        (None, Some(Action::AuthDummy)) => conn.probe_cleartext_auth().await,
        (None, Some(Action::Rset)) => conn.command(&Command::Rset).await,
        (None, Some(Action::Data)) => send_test_message(conn).await,
        (None, Some(Action::Smuggle)) => return smuggle(step, s, conn, started, command).await,
        (None, Some(Action::Check)) => {
            let (ok, detail) = check(step.assert, conn, replies);
            let verdict = if ok {
                Verdict::Pass
            } else {
                match (step.role, s.severity) {
                    (Role::Setup, _) => Verdict::Inconclusive,
                    (_, Severity::Fail) => Verdict::Fail,
                    (_, Severity::Warn) => Verdict::Warn,
                }
            };
            return Ok(StepResult {
                verdict,
                reason: detail,
                ..failed_step(step, command, started, String::new())
            });
        }
        (None, None) => return Ok(failed_step(step, command, started, "empty step".into())),
    };
    match reply {
        Ok(reply) => {
            let (verdict, reason) = verdict_for(step, s.severity, &reply);
            let result = StepResult {
                name: step.name.clone(),
                command,
                expected: expect_text(step.expect).into(),
                reply: Some(ReplySummary::of(&reply)),
                verdict,
                reason,
                elapsed_ms: started.elapsed().as_millis() as u64,
                role: step.role,
                note: step.note.clone(),
            };
            replies.push(reply);
            Ok(result)
        }
        Err(NetError::Refusal(r)) => Ok(failed_step(
            step,
            command,
            started,
            format!("not sent: {r}"),
        )),
        Err(e) => Err(failed_step(step, command, started, e.to_string())),
    }
}

fn check(assert: Option<Assertion>, conn: &Connection, replies: &[Reply]) -> (bool, String) {
    let session = conn.session();
    match assert {
        Some(Assertion::StarttlsAdvertised) => {
            let ok = session
                .capabilities_before_tls()
                .is_some_and(Capabilities::starttls);
            (
                ok,
                if ok {
                    "STARTTLS is advertised".into()
                } else {
                    "STARTTLS is not advertised: mail to this server travels in cleartext".into()
                },
            )
        }
        Some(Assertion::TlsVerified) => match conn.tls_info() {
            Some(t) if t.verification.verified => (
                true,
                format!(
                    "certificate verified for {} ({})",
                    t.verification.name, t.verification.trust
                ),
            ),
            Some(t) => (
                false,
                format!(
                    "certificate not valid: {}",
                    t.verification
                        .failure
                        .as_deref()
                        .unwrap_or("unknown reason")
                ),
            ),
            None => (false, "TLS is not active".into()),
        },
        Some(Assertion::Tls12OrNewer) => match conn.tls_info() {
            Some(t) => {
                let ok = t.version.contains("1.2") || t.version.contains("1.3");
                (ok, format!("negotiated {}", t.version))
            }
            None => (false, "TLS is not active".into()),
        },
        Some(Assertion::AuthNotAdvertisedBeforeTls) => {
            let mechs = session
                .capabilities_before_tls()
                .map(|c| c.auth_mechanisms())
                .unwrap_or_default();
            if mechs.is_empty() {
                (true, "AUTH is not offered before TLS".into())
            } else {
                (
                    false,
                    format!(
                        "AUTH {} is offered before TLS: clients may send passwords in cleartext",
                        mechs.join(" ")
                    ),
                )
            }
        }
        Some(Assertion::SameAnswerTwice) => match replies {
            [.., a, b] if a.code() == b.code() => (
                true,
                format!(
                    "both answered {}",
                    a.code().map_or("?".into(), |c| c.to_string())
                ),
            ),
            [.., a, b] => (
                false,
                format!(
                    "different answers ({} vs {}) tell which users exist",
                    a.summary(),
                    b.summary()
                ),
            ),
            _ => (false, "fewer than two replies to compare".into()),
        },
        None => (false, "no assertion given".into()),
    }
}

async fn send_test_message(conn: &mut Connection) -> Result<Reply, NetError> {
    let reply = conn.command(&Command::Data).await?;
    if reply.code() != Some(354) {
        return Ok(reply);
    }
    conn.send_message(&encode_data(&test_message())).await
}

/// A short message that names itself as a smtpscope test, with a unique id.
pub fn test_message() -> Vec<u8> {
    let now = jiff::Timestamp::now();
    let id = format!("{}.{}", now.as_second(), now.subsec_nanosecond());
    format!(
        "Subject: smtpscope relay test {id}\r\nX-Smtpscope-Test: {id}\r\nMessage-ID: <{id}@smtpscope.invalid>\r\n\r\nThis message was sent by smtpscope to test relay policy. It can be deleted.\r\n"
    )
    .into_bytes()
}

/// SEC Consult's rule: a reply straight after a bare end-of-data sequence means the server
/// took it as the end of the message. Silence means it did not; then the message is finished
/// properly.
async fn smuggle(
    step: &Step,
    s: &Scenario,
    conn: &mut Connection,
    started: Instant,
    command: String,
) -> Result<StepResult, StepResult> {
    let sequence = match step.sequence.as_deref().map(unescape) {
        Some(Ok(seq)) => seq,
        Some(Err(e)) => {
            return Ok(failed_step(
                step,
                command,
                started,
                format!("bad sequence: {e}"),
            ));
        }
        None => return Ok(failed_step(step, command, started, "no sequence".into())),
    };
    let fail = |e: NetError| failed_step(step, command.clone(), started, e.to_string());
    let data = conn.command(&Command::Data).await.map_err(fail)?;
    if data.code() != Some(354) {
        return Ok(StepResult {
            reply: Some(ReplySummary::of(&data)),
            ..failed_step(
                step,
                command.clone(),
                started,
                format!("DATA refused: {}", describe(&data)),
            )
        });
    }
    let mut body = b"Subject: smtpscope smuggling probe\r\n\r\nprobe".to_vec();
    body.extend_from_slice(&sequence);
    conn.send_message_part(&body, true).await.map_err(fail)?;
    let early = conn.read_reply_for(SMUGGLE_WAIT).await.map_err(fail)?;
    let (verdict, reason, reply) = match early {
        Some(r) if r.is_positive() => (
            if s.severity == Severity::Warn {
                Verdict::Warn
            } else {
                Verdict::Fail
            },
            format!(
                "{}: the server took {} as the end of the message (SMTP smuggling possible)",
                describe(&r),
                step.sequence.as_deref().unwrap_or("")
            ),
            Some(r),
        ),
        Some(r) => (
            Verdict::Pass,
            format!("{}: answered, but not as an accepted message", describe(&r)),
            Some(r),
        ),
        None => {
            conn.send_message_part(b"\r\n.\r\n", false)
                .await
                .map_err(fail)?;
            let end = conn.read_reply().await.map_err(fail)?;
            (
                Verdict::Pass,
                format!(
                    "no reply within {} s: the sequence was not taken as the end of data (then {})",
                    SMUGGLE_WAIT.as_secs(),
                    end.summary()
                ),
                Some(end),
            )
        }
    };
    Ok(StepResult {
        name: step.name.clone(),
        command,
        expected: "no reply until a proper <CRLF>.<CRLF>".into(),
        reply: reply.as_ref().map(ReplySummary::of),
        verdict,
        reason,
        elapsed_ms: started.elapsed().as_millis() as u64,
        role: step.role,
        note: step.note.clone(),
    })
}

async fn run_session(s: &Scenario, ctx: &Context, units: &[Vec<Step>]) -> SessionRun {
    let mut conn = Connection::new(ctx.opts.clone(), Transcript::new());
    let mut results = Vec::new();
    let mut replies = Vec::new();
    let all_steps = || units.iter().flatten();
    let vars = match prepare(s, ctx, &mut conn).await {
        Ok(v) => v,
        Err(why) => {
            results.extend(all_steps().map(|st| not_reached(st, &why)));
            conn.close().await;
            return finish(conn, results, ctx);
        }
    };
    let mut dead: Option<String> = None;
    for unit in units {
        let mut skip_rest: Option<String> = None;
        let mut rcpt_accepted = false;
        for step in unit {
            if let Some(why) = &dead {
                results.push(not_reached(step, why));
                continue;
            }
            if let Some(why) = &skip_rest {
                results.push(StepResult {
                    verdict: Verdict::Skipped,
                    reason: why.clone(),
                    ..not_reached(step, "")
                });
                continue;
            }
            match run_step(step, s, ctx, &vars, &mut conn, &mut replies).await {
                Ok(r) => {
                    let code = r.reply.as_ref().and_then(|x| x.code);
                    let rejected = code.is_some_and(|c| c >= 400);
                    if step.reject_passes && rejected && code.is_some_and(|c| c >= 500) {
                        skip_rest = Some(format!(
                            "not needed: {} was refused, so nothing could be relayed",
                            r.command
                        ));
                        results.push(StepResult {
                            verdict: Verdict::Pass,
                            reason: format!(
                                "{}: refused, which is the safe outcome",
                                r.reply.as_ref().map_or(String::new(), |x| x.text.clone())
                            ),
                            ..r
                        });
                        continue;
                    }
                    if r.command.to_ascii_uppercase().starts_with("RCPT")
                        && code.is_some_and(|c| c / 100 == 2)
                    {
                        rcpt_accepted = true;
                    }
                    if (r.verdict == Verdict::Inconclusive && step.role == Role::Setup)
                        || (step.group.is_some() && rejected && step.role == Role::Setup)
                    {
                        skip_rest = Some(format!("not reached: {} was not accepted", r.command));
                    }
                    results.push(r);
                }
                Err(r) => {
                    dead = Some(format!("the session ended: {}", r.reason));
                    results.push(r);
                }
            }
        }
        if dead.is_some() {
            continue;
        }
        if ctx.send_data
            && rcpt_accepted
            && unit.iter().all(|st| st.action != Some(Action::Smuggle))
        {
            let expect_accept = unit.iter().any(|st| {
                st.send
                    .as_deref()
                    .is_some_and(|l| l.to_ascii_uppercase().starts_with("RCPT"))
                    && st.expect == Expect::Accept
            });
            let started = Instant::now();
            match send_test_message(&mut conn).await {
                Ok(reply) => {
                    let data = {
                        let mut rcpt = results_probe_fix(&mut results);
                        data_result(reply, expect_accept, started, &mut rcpt)
                    };
                    results.push(data);
                }
                Err(e) => {
                    dead = Some(format!("the session ended: {e}"));
                }
            }
        }
        if unit.first().is_some_and(|st| st.group.is_some()) && dead.is_none() && conn.is_open() {
            if let Err(e) = conn.command(&Command::Rset).await {
                dead = Some(format!("the session ended: {e}"));
            }
        }
    }
    if conn.is_open() {
        let _ = conn.quit().await;
    }
    finish(conn, results, ctx)
}

/// Hands back the last RCPT probe result of the group so the DATA outcome can refine it.
fn results_probe_fix(results: &mut [StepResult]) -> Option<&mut StepResult> {
    results
        .iter_mut()
        .rev()
        .find(|r| r.command.to_ascii_uppercase().starts_with("RCPT") && r.role == Role::Probe)
}

/// The end-of-DATA step added by `--send-data`. A relay accepted at RCPT but refused at the
/// end of DATA did not relay: the RCPT failure becomes a warning.
fn data_result(
    reply: Reply,
    expect_accept: bool,
    started: Instant,
    rcpt: &mut Option<&mut StepResult>,
) -> StepResult {
    let accepted = reply.is_positive();
    let verdict = match (expect_accept, accepted) {
        (true, true) | (false, false) => Verdict::Pass,
        (true, false) => Verdict::Fail,
        (false, true) => Verdict::Fail,
    };
    if !expect_accept
        && !accepted
        && let Some(r) = rcpt.as_deref_mut()
        && r.verdict == Verdict::Fail
    {
        r.verdict = Verdict::Warn;
        r.reason = format!(
            "{}; but the message was refused at the end of DATA ({}), so nothing was relayed",
            r.reason,
            reply.summary()
        );
    }
    let reason = match (expect_accept, accepted) {
        (true, true) => format!("{}: message accepted as expected", describe(&reply)),
        (true, false) => format!(
            "{}: accepted at RCPT but rejected at the end of DATA",
            describe(&reply)
        ),
        (false, true) => format!("{}: the message was accepted for relay", describe(&reply)),
        (false, false) => format!("{}: refused at the end of DATA", describe(&reply)),
    };
    StepResult {
        name: Some("end of DATA (--send-data)".into()),
        command: "DATA + test message".into(),
        expected: if expect_accept {
            "accepted"
        } else {
            "rejected"
        }
        .into(),
        reply: Some(ReplySummary::of(&reply)),
        verdict,
        reason,
        elapsed_ms: started.elapsed().as_millis() as u64,
        role: Role::Probe,
        note: None,
    }
}

fn finish(conn: Connection, steps: Vec<StepResult>, ctx: &Context) -> SessionRun {
    SessionRun {
        steps,
        transcript: ctx.keep_transcripts.then(|| conn.transcript().to_text()),
    }
}

/// Adds up step verdicts: any failed probe fails the scenario (or warns); a setup that did not
/// work, a temporary answer or a step not reached makes it inconclusive; otherwise it passes.
fn aggregate(steps: &[StepResult]) -> (Verdict, String) {
    let describe_step = |s: &StepResult| format!("{} — {}", s.command, s.reason);
    let probes = steps.iter().filter(|s| s.role == Role::Probe).count();
    let count = |v: Verdict| steps.iter().filter(|s| s.verdict == v).count();
    for v in [Verdict::Fail, Verdict::Inconclusive, Verdict::Warn] {
        if let Some(first) = steps.iter().find(|s| s.verdict == v) {
            let n = count(v);
            let lead = if n > 1 {
                format!("{n} of {} steps {v}; first: ", steps.len())
            } else {
                String::new()
            };
            return (v, format!("{lead}{}", describe_step(first)));
        }
    }
    let decisive = steps
        .iter()
        .rev()
        .find(|s| s.role == Role::Probe && s.verdict == Verdict::Pass)
        .or_else(|| steps.last());
    match decisive {
        Some(s) if probes > 2 => (
            Verdict::Pass,
            format!(
                "all {probes} probes as expected; last: {}",
                describe_step(s)
            ),
        ),
        Some(s) => (Verdict::Pass, describe_step(s)),
        None => (Verdict::Inconclusive, "no step ran".into()),
    }
}

async fn run_scenario(s: Scenario, ctx: Arc<Context>, limit: Arc<Semaphore>) -> ScenarioResult {
    if let Some(why) = unmet_requirement(&s, &ctx) {
        return ScenarioResult::skipped(&s, why);
    }
    let started = Instant::now();
    let mut handles = Vec::new();
    for units in sessions(&s) {
        let s = s.clone();
        let ctx = Arc::clone(&ctx);
        let limit = Arc::clone(&limit);
        handles.push(tokio::spawn(async move {
            let _permit = limit.acquire_owned().await;
            run_session(&s, &ctx, &units).await
        }));
    }
    let mut steps = Vec::new();
    let mut transcripts = Vec::new();
    for h in handles {
        match h.await {
            Ok(run) => {
                steps.extend(run.steps);
                transcripts.extend(run.transcript);
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
            }),
        }
    }
    let (verdict, reason) = aggregate(&steps);
    ScenarioResult {
        scenario: s.label().to_string(),
        id: s.id.clone(),
        title: s.title.clone(),
        verdict,
        reason,
        steps,
        elapsed_ms: started.elapsed().as_millis() as u64,
        transcripts,
        needs_control: s.needs_control,
    }
}

/// Runs scenarios concurrently and returns results in the order given. Scenarios that need the
/// local-delivery control get it (run even if not asked for), and turn INCONCLUSIVE when it
/// fails: a server that refuses its own mail refuses everything, so its rejections prove
/// nothing about relay.
pub async fn run(
    scenarios: Vec<Scenario>,
    control: Option<Scenario>,
    ctx: Context,
) -> Vec<ScenarioResult> {
    let limit = Arc::new(Semaphore::new(ctx.concurrency.max(1)));
    let ctx = Arc::new(ctx);
    let control_needed = scenarios.iter().any(|s| s.needs_control);
    let control_selected = control
        .as_ref()
        .is_some_and(|c| scenarios.iter().any(|s| s.id == c.id));
    let mut handles = Vec::new();
    for s in scenarios {
        handles.push(tokio::spawn(run_scenario(
            s,
            Arc::clone(&ctx),
            Arc::clone(&limit),
        )));
    }
    let hidden_control = match control {
        Some(c) if control_needed && !control_selected => Some(tokio::spawn(run_scenario(
            c,
            Arc::clone(&ctx),
            Arc::clone(&limit),
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

/// Downgrades the verdicts of scenarios that depend on the control.
fn apply_control(results: &mut [ScenarioResult], control: Option<&ScenarioResult>) {
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
    use crate::scenario::catalogue::Catalogue;

    #[test]
    fn relay_tricks_spread_over_sessions_of_at_most_eight_probes() {
        let cat = Catalogue::built_in();
        let tricks = cat.find("relay-tricks").expect("built in");
        let sessions = sessions(tricks);
        assert_eq!(sessions.len(), 2);
        for s in &sessions {
            assert!(s.len() <= 8);
            for unit in s {
                assert!(unit.len() >= 2, "MAIL and RCPT stay together");
            }
        }
    }

    fn step(verdict: Verdict, role: Role) -> StepResult {
        StepResult {
            name: None,
            command: "RCPT TO:<x>".into(),
            expected: String::new(),
            reply: None,
            verdict,
            reason: "r".into(),
            elapsed_ms: 0,
            role,
            note: None,
        }
    }

    #[test]
    fn aggregate_orders_fail_then_inconclusive_then_warn() {
        use Verdict::*;
        assert_eq!(
            aggregate(&[step(Pass, Role::Setup), step(Pass, Role::Probe)]).0,
            Pass
        );
        assert_eq!(
            aggregate(&[step(Inconclusive, Role::Setup), step(Fail, Role::Probe)]).0,
            Fail
        );
        assert_eq!(
            aggregate(&[step(Warn, Role::Probe), step(Inconclusive, Role::Probe)]).0,
            Inconclusive
        );
        assert_eq!(
            aggregate(&[step(Pass, Role::Probe), step(Warn, Role::Probe)]).0,
            Warn
        );
        assert_eq!(aggregate(&[]).0, Inconclusive);
    }

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
