//! One session of a scenario, step by step, and the rules that decide its verdicts. The run
//! layer (`crate::run`) drives it for `check` and the explorer alike; neither holds relay logic
//! of its own.
//!
//! Each scenario's steps are split into sessions (`groups_per_session`) so that failing probes
//! never trip a tarpit.

use std::sync::Arc;
use std::time::{Duration, Instant};

use serde::Serialize;

use super::model::{Action, Assertion, Expect, Role, Scenario, Severity, Step, TlsUse, unescape};
use super::vars::{Vars, setting_of};
use super::verdict::{Judgement, Verdict, describe, expect_text, judge};
use crate::advice::Control;
use crate::net::crowd::Crowd;
use crate::net::{ConnectOptions, Connection, NetError, TlsMode};
use crate::smtp::auth::{Credentials, Mechanism};
use crate::smtp::capabilities::Capabilities;
use crate::smtp::command::{Command, Verb, classify_raw};
use crate::smtp::flow;
use crate::smtp::reply::Reply;
use crate::transcript::Transcript;

/// The most commands one pipelined write holds: a session's four relay probes with the RSETs
/// between them (11) fit, a scenario file with more groups in one session goes out in
/// batches.
const MAX_PIPELINED: usize = 16;

/// The line a MAIL or RCPT step sends, CRLF ended, when it can go out pipelined (RFC 2920
/// §3.1: MAIL and RCPT may appear anywhere in a group; RSET too).
fn pipelinable_line(step: &Step, vars: &Vars) -> Option<Vec<u8>> {
    if step.action.is_some() {
        return None;
    }
    let line = vars.expand(step.send.as_deref()?).ok()?;
    crate::smtp::validate::line("the filled-in command", &line).ok()?;
    let mut wire = line.into_bytes();
    wire.extend_from_slice(b"\r\n");
    matches!(classify_raw(&wire), Verb::Mail | Verb::Rcpt).then_some(wire)
}

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
    /// Nobody steps through these sessions (`check`): a session's TLS version probe starts
    /// when the session opens, beside its other steps, and MAIL, RCPT and the RSET between
    /// probes go out pipelined when the server offers PIPELINING. The explorer, stepping by
    /// hand, sends each command when its step is reached.
    pub unattended: bool,
    /// Whether an unattended run may pipeline when the server offers PIPELINING; off, each
    /// command waits for the reply before it (`check --no-pipelining`, for a server or a
    /// middlebox that mishandles what it offers).
    pub pipelining: bool,
    /// The run's connections open at once, shared by its sessions and their TLS version
    /// probes (a clone of the context shares it).
    pub crowd: Arc<Crowd>,
}

#[derive(Debug, Clone, PartialEq, Eq, Serialize, serde::Deserialize)]
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
    /// The operator changed this step's command: its reply answers another question than the
    /// scenario's, so it is shown but is no verdict of the scenario.
    #[serde(skip_serializing_if = "std::ops::Not::not")]
    pub edited: bool,
}

impl StepResult {
    /// The reply in one line, or, for a step with none, what the step was: a local check sends
    /// nothing, and a step that never ran was not answered, not unanswered.
    pub fn reply_text(&self) -> &str {
        match &self.reply {
            Some(r) => &r.text,
            None if self.command.starts_with("check: ") || self.command.starts_with("probe ") => {
                "local check, nothing sent"
            }
            None if self.verdict == Verdict::Skipped || self.reason.starts_with("not reached") => {
                "not run"
            }
            None => "no reply",
        }
    }
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
    /// What the operator changed during the run (a step's command edited, a command typed on
    /// the scenario's connection). Not empty: the run is "edited", never the scenario's
    /// verdict, whatever `verdict` says.
    #[serde(skip_serializing_if = "Vec::is_empty")]
    pub edited: Vec<String>,
}

impl ScenarioResult {
    /// True when the operator changed the run: its verdict is not the scenario's.
    pub fn is_edited(&self) -> bool {
        !self.edited.is_empty()
    }

    pub fn skipped(s: &Scenario, reason: String) -> Self {
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
            edited: Vec::new(),
        }
    }
}

/// Why a scenario cannot run with this configuration, if it cannot.
pub fn unmet_requirement(s: &Scenario, ctx: &Context) -> Option<String> {
    use super::model::Requirement;
    for r in &s.requires {
        match r {
            Requirement::Auth if ctx.credentials.is_none() => {
                return Some(format!(
                    "needs credentials: configure {}",
                    ctx.opts.front_end.any_of(&[Control::Auth])
                ));
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
    // Over a pipe with TLS off, STARTTLS is not tried at all: the operator said the program
    // does not do TLS (exim -bh answers 220 to STARTTLS but never completes a handshake).
    if ctx.opts.route.is_pipe()
        && ctx.opts.tls_mode == TlsMode::None
        && s.steps
            .iter()
            .any(|st| matches!(st.action, Some(Action::Starttls | Action::TlsVersions)))
    {
        return Some(format!(
            "needs TLS, and this pipe's TLS mode is none (exim -bh does no TLS); if the program does STARTTLS, set {}",
            ctx.opts.front_end.any_of(&[Control::Starttls])
        ));
    }
    // The target's TLS mode is the operator's word: a scenario that needs TLS does not
    // quietly turn it on, it says why it cannot run.
    if s.tls == TlsUse::Required && ctx.opts.tls_mode == TlsMode::None {
        return Some(format!(
            "needs TLS (this scenario {}), and the target's TLS mode is none: set {}",
            if s.authenticate {
                "logs in, which smtpscope does only inside TLS"
            } else {
                "runs inside TLS"
            },
            ctx.opts
                .front_end
                .any_of(&[Control::Starttls, Control::ImplicitTls])
        ));
    }
    if s.authenticate && ctx.credentials.is_none() {
        return Some(format!(
            "needs credentials: configure {}",
            ctx.opts.front_end.any_of(&[Control::Auth])
        ));
    }
    let mut missing: Vec<String> = s
        .steps
        .iter()
        .filter_map(|st| st.send.as_deref())
        .flat_map(|t| ctx.vars.missing(t))
        .collect();
    missing.dedup();
    missing.first().map(|v| {
        format!(
            "the variable {v} is not set: set {}",
            ctx.opts.front_end.name(setting_of(v))
        )
    })
}

/// True when the step's command names the server's address, learned from the connection.
fn uses_server_address(step: &Step) -> bool {
    step.send
        .as_deref()
        .is_some_and(|t| t.contains("{server_ip}") || t.contains("{server_literal}"))
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
pub fn sessions(s: &Scenario) -> Vec<Vec<Vec<Step>>> {
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

/// What one session produced.
pub struct SessionRun {
    pub steps: Vec<StepResult>,
    pub transcript: Option<String>,
}

fn not_reached(step: &Step, vars: &Vars, why: &str) -> StepResult {
    StepResult {
        name: step.name.clone(),
        command: step_command(step, vars),
        expected: expect_text(step.expect).into(),
        reply: None,
        verdict: Verdict::Inconclusive,
        reason: format!("not reached: {why}"),
        elapsed_ms: 0,
        role: step.role,
        note: step.note.clone(),
        edited: false,
    }
}

/// The step's command for a person to read: variables filled in as far as they are known.
fn step_command(step: &Step, vars: &Vars) -> String {
    if let Some(line) = &step.send {
        return vars.display(line);
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
        Some(Action::TlsVersions) => "probe TLS 1.0, 1.1, 1.2 and 1.3 (1.3 from this session's handshake if it negotiated it)".into(),
        None => String::new(),
    }
}

fn assertion_text(a: Option<Assertion>) -> &'static str {
    match a {
        Some(Assertion::StarttlsAdvertised) => "STARTTLS advertised",
        Some(Assertion::TlsVerified) => "certificate verified for the server name",
        Some(Assertion::Tls12OrNewer) => "TLS 1.2 or newer",
        Some(Assertion::AuthNotAdvertisedBeforeTls) => "AUTH not advertised before TLS",
        Some(Assertion::SameAnswerTwice) => "do the last two replies have the same code?",
        Some(Assertion::ChainComplete) => "certificate chain complete and in order",
        Some(Assertion::CertNotExpiring) => "no certificate expires within 14 days",
        None => "?",
    }
}

/// A relay probe's RCPT accepted where the scenario wants a refusal: the server would relay.
fn opens_relay(step: &Step, verb: Verb, reply: &Reply) -> bool {
    step.role == Role::Probe
        && verb == Verb::Rcpt
        && matches!(
            step.expect,
            Expect::Reject | Expect::RejectPolicy | Expect::Refuse
        )
        && reply.is_positive()
}

/// The verdict of one reply against a step.
fn verdict_for(step: &Step, severity: Severity, verb: Verb, reply: &Reply) -> (Verdict, String) {
    let shown = describe(reply);
    let mismatch = || match (step.role, severity) {
        (Role::Setup, _) => Verdict::Inconclusive,
        (Role::Probe, Severity::Fail) => Verdict::Fail,
        (Role::Probe, Severity::Warn) => Verdict::Warn,
    };
    match judge(step.expect, &step.fail_on, verb, reply) {
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
        Judgement::Mismatch if opens_relay(step, verb, reply) => (
            mismatch(),
            format!(
                "{shown}: open relay: the server accepted a recipient it should refuse (expected {})",
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
        Judgement::OutOfOrder => (
            Verdict::Inconclusive,
            format!(
                "{shown}: the server says the dialogue is out of order (a step skipped or repeated), which is no evidence about its policy"
            ),
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
        edited: false,
    }
}

/// Why a session could not be brought to its first step.
#[derive(Debug, thiserror::Error)]
pub enum SetupError {
    /// No SMTP greeting at all: refused, timed out, closed, or refused in the banner. Every
    /// other connection to this server would end the same way.
    #[error(transparent)]
    Unreachable(NetError),
    #[error(transparent)]
    Net(#[from] NetError),
    #[error("TLS is needed first, but the server does not offer STARTTLS")]
    TlsNotOffered,
    #[error("TLS could not be established: {0}")]
    Tls(NetError),
    #[error("TLS is required, but STARTTLS was not used")]
    TlsNotUsed,
    #[error("TLS is required, but the server does not advertise STARTTLS")]
    TlsRequiredNotAdvertised,
    #[error("no credentials")]
    NoCredentials,
    #[error("{0}")]
    Xclient(NetError),
    #[error("AUTH failed: {0}")]
    AuthError(NetError),
    #[error("AUTH {mechanism} failed: {reply}")]
    AuthRejected {
        mechanism: &'static str,
        reply: String,
    },
}

impl SetupError {
    /// The server turned the session away with 421 in its banner: "not now" (RFC 5321 §3.8,
    /// and what a per-client connection limit answers), unlike a 554 there.
    pub fn is_busy(&self) -> bool {
        matches!(self, SetupError::Unreachable(e) if e.is_busy())
    }

    /// Why every other session to this server would fail the same way in the part all
    /// sessions share (banner, EHLO, STARTTLS, the handshake), if it would: no greeting at
    /// all, or a wait that ran out. Then the others are not tried, and the run costs one
    /// timeout, not one per session. A certificate the client refused is not among them: it
    /// fails at once, and the certificate checks still judge it.
    pub fn shared_failure(&self, tls_rejected: bool) -> Option<String> {
        match self {
            SetupError::Unreachable(e) if !tls_rejected => Some(e.to_string()),
            SetupError::Net(e) | SetupError::Tls(e) if e.is_timeout() => Some(e.to_string()),
            _ => None,
        }
    }
}

/// Connects and brings the session to where the steps start. Errors say why it could not.
async fn prepare(s: &Scenario, ctx: &Context, conn: &mut Connection) -> Result<Vars, SetupError> {
    let banner = conn.open_checked().await.map_err(SetupError::Unreachable)?;
    let vars = ctx
        .vars
        .with_server(&flow::server_name(&banner), conn.peer().map(|p| p.ip()));
    conn.greet(&ctx.helo).await?;
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
            return Err(SetupError::TlsNotOffered);
        }
        match conn.starttls_and_greet(&ctx.helo).await {
            Ok(_) => {}
            // Refused in plain words (e.g. 454): when TLS is optional, test the policy the
            // plaintext session gets, as a sending MTA would fall back.
            Err(NetError::StartTlsRefused { reply })
                if s.tls == TlsUse::Profile && !ctx.opts.effective_policy().require_tls =>
            {
                conn.note(crate::transcript::Event::Info(format!(
                    "STARTTLS refused ({reply}): continuing without TLS"
                )));
            }
            Err(e) => return Err(SetupError::Tls(e)),
        }
    }
    // Scenarios that start in plaintext handle STARTTLS as a step of their own.
    if s.tls != TlsUse::Plaintext
        && ctx.opts.effective_policy().require_tls
        && !conn.session().tls_active()
    {
        return Err(if offered {
            SetupError::TlsNotUsed
        } else {
            SetupError::TlsRequiredNotAdvertised
        });
    }
    conn.xclient(&ctx.helo).await.map_err(SetupError::Xclient)?;
    if s.authenticate {
        let Some((mech, creds)) = &ctx.credentials else {
            return Err(SetupError::NoCredentials);
        };
        let reply = conn
            .authenticate(*mech, creds.clone(), true)
            .await
            .map_err(SetupError::AuthError)?;
        if reply.code() != Some(235) {
            return Err(SetupError::AuthRejected {
                mechanism: mech.name(),
                reply: describe(&reply),
            });
        }
    }
    Ok(vars)
}

/// Runs one step. `Err` means the connection is no longer usable.
async fn run_step(
    step: &Step,
    literal: Option<String>,
    s: &Scenario,
    ctx: &Context,
    vars: &Vars,
    conn: &mut Connection,
    replies: &mut Vec<Reply>,
) -> Result<StepResult, StepResult> {
    let started = Instant::now();
    let mut command = step_command(step, vars);
    let mut edited = false;
    let reply = match (&step.send, step.action) {
        (Some(template), _) => {
            // A line the operator edited goes out exactly as typed.
            let line = match literal {
                Some(l) => {
                    edited = vars.expand(template).ok().as_deref() != Some(l.as_str());
                    l
                }
                None => {
                    let line = vars
                        .expand(template)
                        .map_err(|e| failed_step(step, command.clone(), started, e.to_string()))?;
                    // The variables were checked where they entered; this guards the join.
                    if let Err(e) = crate::smtp::validate::line("the filled-in command", &line) {
                        return Ok(failed_step(step, command, started, e.to_string()));
                    }
                    line
                }
            };
            command = line.clone();
            let mut wire = line.into_bytes();
            wire.extend_from_slice(b"\r\n");
            conn.command(&Command::Raw(wire)).await
        }
        (None, Some(Action::Starttls)) => match conn.starttls().await {
            Ok(r) => {
                if let Err(e) = conn.greet(&ctx.helo).await {
                    return Err(failed_step(step, command, started, e.to_string()));
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
        (None, Some(Action::Data)) => send_test_message(conn, &ctx.helo).await,
        (None, Some(Action::Smuggle)) => return smuggle(step, s, conn, started, command).await,
        (None, Some(Action::Check)) => return Ok(check_step(step, s, conn, replies, command)),
        (None, Some(Action::TlsVersions)) => {
            // This session's handshake, if it made one, already answers for TLS 1.3.
            let own = conn.tls_info().map(crate::net::probe::SessionHandshake::of);
            let report = crate::net::probe::versions(
                &ctx.opts,
                &ctx.helo,
                &ctx.crowd,
                std::future::ready(own),
            )
            .await;
            return Ok(versions_step(step, s, report, command, started));
        }
        (None, None) => return Ok(failed_step(step, command, started, "empty step".into())),
    };
    match reply {
        Ok(reply) => {
            let verb = classify_raw(command.as_bytes());
            let (verdict, mut reason) = verdict_for(step, s.severity, verb, &reply);
            if edited {
                reason.push_str(" (the command was edited by the operator)");
            }
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
                edited,
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

/// What a check found: a warning is never a failure, whatever the scenario's severity.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Finding {
    Pass,
    Warn,
    Fail,
    Inconclusive,
}

/// How the version probe's finding begins when the server speaks only TLS 1.0 or 1.1: that
/// one fact explains every other TLS step's failure (the handshake, the certificate checks),
/// so the scenario's headline leads with it.
const ONLY_OLD_TLS: &str = "accepts only";

/// The version probe's step, judged from its report.
fn versions_step(
    step: &Step,
    s: &Scenario,
    report: crate::net::probe::VersionReport,
    command: String,
    started: Instant,
) -> StepResult {
    let (finding, detail) = judge_versions(&report);
    StepResult {
        verdict: finding_verdict(finding, step.role, s.severity),
        reason: detail,
        ..failed_step(step, command, started, String::new())
    }
}

/// TLS 1.2 or newer is required (RFC 8996 deprecates 1.0 and 1.1); accepting an old version
/// as well only warns, since old senders still use it opportunistically.
pub fn judge_versions(report: &crate::net::probe::VersionReport) -> (Finding, String) {
    let accepted = report.accepted();
    let modern = accepted.iter().any(|v| *v == "TLSv1.2" || *v == "TLSv1.3");
    let old: Vec<String> = accepted
        .iter()
        .filter(|v| **v == "TLSv1.0" || **v == "TLSv1.1")
        .map(|v| v.replace("TLSv", "TLS "))
        .collect();
    let unknown = report
        .probes
        .iter()
        .any(|p| matches!(p.outcome, crate::net::probe::ProbeOutcome::Unknown { .. }));
    let detail = report.lines().join("; ");
    match (modern, old.is_empty()) {
        (false, false) => (
            Finding::Fail,
            format!(
                "{ONLY_OLD_TLS} {}; smtpscope requires 1.2 or newer ({detail})",
                old.join(" and ")
            ),
        ),
        (true, false) => (
            Finding::Warn,
            format!(
                "also accepts deprecated {} (RFC 8996) ({detail})",
                old.join(" and ")
            ),
        ),
        (true, true) => (Finding::Pass, detail),
        (false, true) if unknown => (Finding::Inconclusive, detail),
        (false, true) => (
            Finding::Fail,
            format!("no TLS version was accepted ({detail})"),
        ),
    }
}

fn finding_verdict(finding: Finding, role: Role, severity: Severity) -> Verdict {
    match (finding, role, severity) {
        (Finding::Pass, _, _) => Verdict::Pass,
        (_, Role::Setup, _) | (Finding::Inconclusive, _, _) => Verdict::Inconclusive,
        (Finding::Warn, _, _) | (Finding::Fail, _, Severity::Warn) => Verdict::Warn,
        (Finding::Fail, _, Severity::Fail) => Verdict::Fail,
    }
}

fn check_step(
    step: &Step,
    s: &Scenario,
    conn: &Connection,
    replies: &[Reply],
    command: String,
) -> StepResult {
    let started = Instant::now();
    // The chain step carries the chain itself, certificate by certificate, as s_client
    // -showcerts would list it: reports show it with --verbose, JSON always.
    let shown_chain = (step.assert == Some(Assertion::ChainComplete))
        .then(|| conn.tls_seen())
        .flatten()
        .map(|t| ReplySummary {
            code: None,
            enhanced: None,
            text: t.detail_lines().join("\n"),
        });
    let (finding, detail) = match step.assert {
        Some(Assertion::ChainComplete) => chain_finding(conn),
        Some(Assertion::CertNotExpiring) => expiry_finding(conn),
        other => {
            let (ok, detail) = check(other, conn, replies);
            (if ok { Finding::Pass } else { Finding::Fail }, detail)
        }
    };
    let (finding, detail) = dane_ee_eases(step, conn, finding, detail);
    StepResult {
        verdict: finding_verdict(finding, step.role, s.severity),
        reason: detail,
        reply: shown_chain,
        ..failed_step(step, command, started, String::new())
    }
}

/// Whether a check step can still say something once the session is over: the certificate
/// checks can, from a handshake that stopped at verification.
fn judges_certificate(step: &Step) -> bool {
    step.action == Some(Action::Check)
        && matches!(
            step.assert,
            Some(Assertion::TlsVerified | Assertion::ChainComplete | Assertion::CertNotExpiring)
        )
}

/// A certificate check that failed by PKIX on a certificate a DNSSEC-validated DANE-EE record
/// vouches for: DANE senders deliver (names, dates and issuer do not count for DANE-EE, RFC
/// 7672 §3.1.1), senders that check PKIX (MTA-STS, mail clients) do not. A warning, not a
/// failure, and the reason says both.
fn dane_ee_eases(
    step: &Step,
    conn: &Connection,
    finding: Finding,
    detail: String,
) -> (Finding, String) {
    let record = conn
        .tls_seen()
        .and_then(|t| t.verification.dane_ee.as_deref());
    match record {
        Some(record) if finding == Finding::Fail && judges_certificate(step) => (
            Finding::Warn,
            format!(
                "{detail}; but the DNSSEC-validated DANE-EE record {record} matches this certificate, and DANE-EE ignores names, dates and issuer (RFC 7672 §3.1.1): DANE senders deliver, senders that check the certificate by PKIX (MTA-STS, mail clients) do not"
            ),
        ),
        _ => (finding, detail),
    }
}

/// A check that judges the TLS handshake itself (certificate, chain, expiry, version).
fn judges_tls(step: &Step) -> bool {
    judges_certificate(step)
        || (step.action == Some(Action::Check) && step.assert == Some(Assertion::Tls12OrNewer))
}

fn chain_finding(conn: &Connection) -> (Finding, String) {
    let Some(t) = conn.tls_seen() else {
        return (
            Finding::Fail,
            "no certificate was seen (TLS not reached)".into(),
        );
    };
    let cc = &t.chain_check;
    if cc.in_order && cc.complete {
        (
            Finding::Pass,
            format!(
                "{} certificate(s) sent, in order, leading to a CA in the {}",
                t.chain.len(),
                t.verification.trust
            ),
        )
    } else {
        (
            Finding::Fail,
            format!(
                "{} certificate(s) sent: {}",
                t.chain.len(),
                cc.problems.join("; ")
            ),
        )
    }
}

fn expiry_finding(conn: &Connection) -> (Finding, String) {
    let Some(t) = conn.tls_seen() else {
        return (
            Finding::Fail,
            "no certificate was seen (TLS not reached)".into(),
        );
    };
    let worst = t
        .chain
        .iter()
        .enumerate()
        .filter_map(|(i, c)| c.days_left.map(|d| (d, i, c)))
        .min_by_key(|(d, _, _)| *d);
    match worst {
        None => (
            Finding::Fail,
            "no certificate with a readable validity".into(),
        ),
        Some((d, i, c)) if d < 0 => (
            Finding::Fail,
            format!(
                "certificate {} ({}) expired on {}, {} days ago",
                i + 1,
                c.subject,
                c.not_after,
                -d
            ),
        ),
        Some((d, i, c)) if c.expires_soon() => (
            Finding::Warn,
            format!(
                "certificate {} ({}) expires on {}: only {d} days left (renew before {} days)",
                i + 1,
                c.subject,
                c.not_after,
                crate::tls_info::EXPIRY_WARN_DAYS
            ),
        ),
        Some((d, _, _)) => (
            Finding::Pass,
            format!("every certificate is valid for at least {d} more days"),
        ),
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
        Some(Assertion::TlsVerified) => match conn.tls_seen() {
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
                    "certificate not valid for {} ({}): {}",
                    t.verification.name,
                    t.verification.trust,
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
        Some(Assertion::ChainComplete | Assertion::CertNotExpiring) => {
            (false, "judged by check_step".into())
        }
        Some(Assertion::SameAnswerTwice) => match replies {
            [.., a, b] if a.code() == b.code() => (
                true,
                format!(
                    "yes: both answered {}, which tells nothing about who exists",
                    a.code().map_or("?".into(), |c| c.to_string())
                ),
            ),
            [.., a, b] => (
                false,
                format!(
                    "no: {} vs {}; different answers tell which users exist",
                    a.summary(),
                    b.summary()
                ),
            ),
            _ => (false, "fewer than two replies to compare".into()),
        },
        None => (false, "no assertion given".into()),
    }
}

/// DATA and the test message; the reply that decides (DATA's refusal, or the message's).
async fn send_test_message(conn: &mut Connection, id_domain: &str) -> Result<Reply, NetError> {
    let message = crate::net::exchange::test_message(None, &[], id_domain, "relay test");
    Ok(conn.data(&message[..], true).await?.last().clone())
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
        edited: false,
    })
}

/// What the next step is, for an operator stepping through it: only a command line is ever
/// put in front of them to edit; the rest is shown as what it is.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum StepKind {
    /// A command line, sent as shown with CRLF; the operator may edit it first.
    Command(String),
    /// An exchange smtpscope carries out itself (STARTTLS and the handshake, AUTH with the
    /// profile's credentials, DATA with a test message, RSET): run as described, not edited.
    Exchange(String),
    /// Judged here from what was already seen, or by connections of its own (the
    /// TLS-version probe): nothing is sent on the session.
    Local(String),
}

impl StepKind {
    pub fn text(&self) -> &str {
        match self {
            StepKind::Command(t) | StepKind::Exchange(t) | StepKind::Local(t) => t,
        }
    }
}

/// One session of a scenario, run a step at a time. [`crate::scenario`]'s callers never loop
/// over it themselves: the run layer's `ScenarioRun` drives it, to the end for `check`, one
/// step per Enter for the explorer, so both get the same steps and verdicts.
pub struct Stepper {
    scenario: Scenario,
    ctx: Context,
    conn: Connection,
    vars: Option<Vars>,
    units: Vec<Vec<Step>>,
    unit: usize,
    step: usize,
    /// Where the current unit's results start, and how many units this session finished.
    unit_start: usize,
    units_done: usize,
    skip_rest: Option<String>,
    /// A setup step the operator skipped: the replies after it in its group answer a dialogue
    /// out of order, so they are no evidence.
    tainted: Option<String>,
    dead: Option<String>,
    rcpt_accepted: bool,
    replies: Vec<Reply>,
    results: Vec<StepResult>,
    /// What the operator changed on this session, in words.
    edits: Vec<String>,
    /// Units the server's hang-up left untried, and why: they go on in a fresh session.
    leftover: Option<(Vec<Vec<Step>>, String)>,
    /// The TLS handshake ran past its deadline (the server answered 220 and then nothing).
    handshake_timed_out: bool,
    /// The TLS version probe, started when the session opened (`Context::unattended`).
    versions: Option<EarlyProbe>,
    /// Tells that probe what this session's own handshake negotiated, once it has made one,
    /// or that it will not (sent `None`, or dropped).
    handshake_for_probe:
        Option<tokio::sync::oneshot::Sender<Option<crate::net::probe::SessionHandshake>>>,
}

/// A version probe started ahead of its step; stopped if the step never takes its report.
struct EarlyProbe(tokio::task::JoinHandle<crate::net::probe::VersionReport>);

impl Drop for EarlyProbe {
    fn drop(&mut self) {
        self.0.abort();
    }
}

/// Typed commands that ask the server something without changing the dialogue: sending them
/// between steps leaves the scenario's evidence as it was.
fn leaves_dialogue_alone(line: &[u8]) -> bool {
    let upper = String::from_utf8_lossy(line).trim().to_ascii_uppercase();
    let verb = upper.split_whitespace().next().unwrap_or("");
    matches!(verb, "NOOP" | "HELP")
}

impl Stepper {
    pub fn new(
        scenario: Scenario,
        ctx: Context,
        units: Vec<Vec<Step>>,
        transcript: Transcript,
    ) -> Self {
        let mut opts = ctx.opts.clone();
        // The certificate and version checks judge a full handshake, verified here and now.
        if units.iter().flatten().any(judges_tls) {
            opts.resumption = None;
        }
        let conn = Connection::new(opts, transcript);
        Stepper {
            scenario,
            ctx,
            conn,
            vars: None,
            units,
            unit: 0,
            step: 0,
            unit_start: 0,
            units_done: 0,
            skip_rest: None,
            tainted: None,
            dead: None,
            rcpt_accepted: false,
            replies: Vec::new(),
            results: Vec::new(),
            edits: Vec::new(),
            leftover: None,
            handshake_timed_out: false,
            versions: None,
            handshake_for_probe: None,
        }
    }

    /// With `Context::unattended`, starts the session's TLS version probe now, beside the
    /// steps before it: its own connections need nothing from this one. Only once this session
    /// was greeted and prepared without a stall and the server offers TLS, so a server that
    /// stalls, floods or has no STARTTLS costs no more connections than before (the probe
    /// then runs at its step, after the steps that find out).
    fn start_version_probe(&mut self) {
        let tls_on_offer = self.ctx.opts.tls_mode == TlsMode::Implicit
            || self.conn.session().tls_active()
            || self
                .conn
                .session()
                .capabilities()
                .is_some_and(|c| c.starttls());
        if self.ctx.unattended
            && self.versions.is_none()
            && tls_on_offer
            && !self.server_stalled()
            && self
                .units
                .iter()
                .flatten()
                .any(|st| st.action == Some(Action::TlsVersions))
        {
            let opts = self.ctx.opts.clone();
            let helo = self.ctx.helo.clone();
            let crowd = Arc::clone(&self.ctx.crowd);
            let (tell, handshake) = tokio::sync::oneshot::channel();
            self.handshake_for_probe = Some(tell);
            self.versions = Some(EarlyProbe(tokio::spawn(async move {
                let session = async move { handshake.await.ok().flatten() };
                crate::net::probe::versions(&opts, &helo, &crowd, session).await
            })));
            // Implicit TLS: the handshake came with the connection.
            self.tell_probe_handshake(false);
        }
    }

    /// The TLS version probe's step, when it is the session's last, comes after the session's
    /// QUIT: a server that takes one connection at a time from this client (a per-client limit
    /// of one) then has room for the probe's, instead of turning them away until the probe
    /// gives up. Nothing is lost: the session had nothing more to send.
    async fn quit_before_probe(&mut self, step: &Step) {
        let last = self.unit + 1 >= self.units.len()
            && self.step + 1 >= self.units.get(self.unit).map_or(0, Vec::len);
        if step.action != Some(Action::TlsVersions)
            || !last
            || !self.conn.is_open()
            || self.conn.awaiting_reply()
        {
            return;
        }
        let _ = self.conn.quit().await;
        self.ctx.crowd.connection_ended();
    }

    /// Hands the early version probe this session's handshake once there is one; with `last`,
    /// whatever there is (the probe's step is due: its 1.3 question must not wait on a step
    /// that waits on it).
    fn tell_probe_handshake(&mut self, last: bool) {
        let own = self
            .conn
            .tls_info()
            .map(crate::net::probe::SessionHandshake::of);
        if (own.is_some() || last)
            && let Some(tell) = self.handshake_for_probe.take()
        {
            let _ = tell.send(own);
        }
    }

    /// Connects and prepares (EHLO, TLS, AUTH as the scenario says). On failure every step is
    /// recorded as not reached, with the reason.
    pub async fn open(&mut self) -> Result<(), SetupError> {
        match prepare(&self.scenario, &self.ctx, &mut self.conn).await {
            Ok(v) => {
                self.vars = Some(v);
                self.start_version_probe();
                Ok(())
            }
            // Implicit TLS whose certificate was refused: nothing else can run, but the
            // certificate checks judge the handshake that stopped at verification.
            Err(why)
                if self.ctx.opts.tls_mode == TlsMode::Implicit
                    && self.conn.tls_rejected().is_some()
                    && self.units.iter().flatten().any(judges_certificate) =>
            {
                self.vars = Some(self.ctx.vars.clone());
                self.dead = Some(format!("the session ended: {why}"));
                self.conn.close().await;
                Ok(())
            }
            Err(why) => {
                self.handshake_timed_out |= self.conn.handshake_timed_out();
                let reason = why.to_string();
                let steps: Vec<Step> = self.remaining().cloned().collect();
                self.results.extend(
                    steps
                        .iter()
                        .map(|st| not_reached(st, &self.ctx.vars, &reason)),
                );
                self.unit = self.units.len();
                self.conn.close().await;
                Err(why)
            }
        }
    }

    /// Every step as not tried, for a session that is not opened at all.
    pub fn not_tried(&self, reason: &str) -> Vec<StepResult> {
        self.units
            .iter()
            .flatten()
            .map(|st| StepResult {
                reason: reason.to_string(),
                ..not_reached(st, &self.ctx.vars, "")
            })
            .collect()
    }

    fn remaining(&self) -> impl Iterator<Item = &Step> {
        let (u, st) = (self.unit, self.step);
        self.units
            .iter()
            .enumerate()
            .skip(u)
            .flat_map(move |(i, unit)| unit.iter().skip(if i == u { st } else { 0 }))
    }

    /// The variables as far as known: the server's own only once it has greeted.
    fn shown_vars(&self) -> &Vars {
        self.vars.as_ref().unwrap_or(&self.ctx.vars)
    }

    /// The step that runs next, if any.
    pub fn current(&self) -> Option<&Step> {
        self.units.get(self.unit).and_then(|u| u.get(self.step))
    }

    /// The next step as the operator sees it: the command as it will be sent (variables filled
    /// in), or what smtpscope will do; `None` at the end.
    pub fn offer(&self) -> Option<StepKind> {
        let step = self.current()?;
        if let Some(t) = &step.send {
            let line = match &self.vars {
                Some(v) => v.expand(t).unwrap_or_else(|e| format!("({e})")),
                None => self.shown_vars().display(t),
            };
            return Some(StepKind::Command(line));
        }
        let text = step_command(step, self.shown_vars());
        Some(match step.action {
            Some(Action::Check | Action::TlsVersions) => StepKind::Local(text),
            _ => StepKind::Exchange(text),
        })
    }

    /// True when the next step will not run whatever the operator does (the session ended,
    /// an earlier refusal made it moot, or it does not apply to this target): it is recorded
    /// without waiting for them.
    pub fn next_is_settled(&self) -> bool {
        let Some(step) = self.current() else {
            return false;
        };
        (self.dead.is_some() && !self.runs_anyway(step))
            || self.skip_rest.is_some()
            || self.not_applicable(step).is_some()
    }

    /// Steps that still have evidence once the session is over: the certificate checks (from
    /// a handshake stopped at verification) and the version probe (its own connections) —
    /// unless the handshake itself ran out of time, which the probe would only wait out again.
    fn runs_anyway(&self, step: &Step) -> bool {
        (judges_certificate(step) && self.conn.tls_rejected().is_some())
            || (step.action == Some(Action::TlsVersions) && !self.server_stalled())
    }

    /// The server stopped answering on this session (a reply or the handshake ran out of
    /// time): what would only wait again is not tried.
    fn server_stalled(&self) -> bool {
        self.handshake_timed_out || self.conn.is_stalled()
    }

    /// Why `step` means nothing on this target, if it does not: STARTTLS on a connection
    /// that is TLS from its first byte; the TLS version probes (hand-built ClientHellos on
    /// connections of their own, to an address) over a pipe to a program.
    fn not_applicable(&self, step: &Step) -> Option<&'static str> {
        if step.action == Some(Action::TlsVersions) && self.ctx.opts.route.is_pipe() {
            return Some(
                "not applicable over a pipe: the TLS version probes need a server address to open connections of their own",
            );
        }
        // A group that writes the server's address (an address literal) is skipped whole
        // over a pipe, its MAIL with its RCPT: a program has no address to write.
        if self.ctx.opts.route.is_pipe()
            && self
                .units
                .get(self.unit)
                .is_some_and(|u| u.iter().any(uses_server_address))
        {
            return Some(
                "not applicable over a pipe: the probe writes the server's address literal, and a program on a pipe has no address",
            );
        }
        let starttls = step.action == Some(Action::Starttls)
            || step.assert == Some(Assertion::StarttlsAdvertised);
        (starttls && self.ctx.opts.tls_mode == TlsMode::Implicit).then_some(
            "does not apply: this target uses implicit TLS (TLS from the first byte, no STARTTLS)",
        )
    }

    pub fn connection(&self) -> &Connection {
        &self.conn
    }

    /// The session's connection, to read what the server says while the step waits for the
    /// operator (the explorer's idle read).
    pub fn connection_mut(&mut self) -> &mut Connection {
        &mut self.conn
    }

    /// Whether `line` may stand in for the current step: it is the same command (same verb),
    /// perhaps with other arguments. Anything else is not this step's evidence.
    pub fn accepts_edit(&self, line: &str) -> bool {
        let Some(step) = self.current() else {
            return false;
        };
        let Some(template) = &step.send else {
            return false;
        };
        let expected = self
            .vars
            .as_ref()
            .and_then(|v| v.expand(template).ok())
            .unwrap_or_else(|| template.clone());
        classify_raw(expected.as_bytes()) == classify_raw(line.as_bytes())
    }

    /// Sends a command the operator typed that is not the current step, on the scenario's
    /// connection: it is recorded in the transcript and never graded; the step stays next.
    /// Anything but NOOP or HELP changes the dialogue the steps after it answer, so the run
    /// becomes "edited".
    pub async fn send_aside(&mut self, bytes: Vec<u8>) -> Result<Reply, NetError> {
        if !leaves_dialogue_alone(&bytes) {
            let shown = String::from_utf8_lossy(&bytes).trim_end().to_string();
            self.edits.push(format!(
                "`{shown}` typed on the scenario's connection before {}",
                self.step_label()
            ));
        }
        self.conn.command(&Command::Raw(bytes)).await
    }

    /// RSET on the scenario's connection (an operator's reset between steps): the envelope
    /// the next steps answer is not the scenario's any more.
    pub async fn rset(&mut self) -> Result<Reply, NetError> {
        self.edits.push(format!(
            "RSET sent by the operator before {}",
            self.step_label()
        ));
        self.conn.command(&Command::Rset).await
    }

    /// The current step as the edits name it.
    fn step_label(&self) -> String {
        match self.offer() {
            Some(k) => format!("`{}`", k.text()),
            None => "the end of the session".into(),
        }
    }

    pub fn results(&self) -> &[StepResult] {
        &self.results
    }

    /// What the operator changed on this session, in words.
    pub fn edits(&self) -> &[String] {
        &self.edits
    }

    pub fn scenario(&self) -> &Scenario {
        &self.scenario
    }

    /// The units a hang-up left untried, and why: the caller goes on with them in a fresh
    /// session.
    pub fn take_leftover(&mut self) -> Option<(Vec<Vec<Step>>, String)> {
        self.leftover.take()
    }

    /// Runs the current step (with `edited` replacing its command line, for a `send` step) and
    /// moves on. At the end of a group, sends the test message (with --send-data) and RSET.
    pub async fn advance(&mut self, edited: Option<String>) -> Option<StepResult> {
        let step = self.current()?.clone();
        let runs_anyway = self.runs_anyway(&step);
        let was_dead = self.dead.is_some();
        let result = if let Some(why) = self.not_applicable(&step) {
            StepResult {
                verdict: Verdict::Skipped,
                reason: why.to_string(),
                ..not_reached(&step, self.shown_vars(), "")
            }
        } else if self.server_stalled() && step.action == Some(Action::TlsVersions) {
            not_reached(
                &step,
                self.shown_vars(),
                if self.handshake_timed_out {
                    "not tried: the TLS handshake already ran out of time on this server, and each probe would wait as long again"
                } else {
                    "not tried: the server already stopped answering on this session, and each probe would wait as long again"
                },
            )
        } else if let Some(why) = self.dead.as_ref().filter(|_| !runs_anyway) {
            not_reached(&step, self.shown_vars(), why)
        } else if let Some(why) = &self.skip_rest {
            StepResult {
                verdict: Verdict::Skipped,
                reason: why.clone(),
                ..not_reached(&step, self.shown_vars(), "")
            }
        } else if let Some(mut probe) = self
            .versions
            .take_if(|_| step.action == Some(Action::TlsVersions))
        {
            self.tell_probe_handshake(true);
            self.quit_before_probe(&step).await;
            let started = Instant::now();
            let command = step_command(&step, self.shown_vars());
            match (&mut probe.0).await {
                Ok(report) => versions_step(&step, &self.scenario, report, command, started),
                Err(e) => failed_step(
                    &step,
                    command,
                    started,
                    format!("internal error: the TLS version probe failed: {e}"),
                ),
            }
        } else {
            let vars = self.vars.clone().unwrap_or_default();
            let literal = edited.filter(|_| step.send.is_some());
            if literal.is_none() {
                self.pipeline_ahead().await;
            }
            self.quit_before_probe(&step).await;
            let outcome = run_step(
                &step,
                literal,
                &self.scenario,
                &self.ctx,
                &vars,
                &mut self.conn,
                &mut self.replies,
            )
            .await;
            self.handshake_timed_out |= self.conn.handshake_timed_out();
            self.tell_probe_handshake(false);
            self.judge_outcome(&step, outcome)
        };
        if result.edited {
            let expected = self
                .vars
                .as_ref()
                .and_then(|v| step.send.as_deref().and_then(|t| v.expand(t).ok()))
                .unwrap_or_default();
            self.edits.push(format!(
                "`{}` sent instead of the scenario's `{expected}`",
                result.command
            ));
        }
        self.results.push(result.clone());
        self.step += 1;
        let hung_up = !was_dead
            && step.action != Some(Action::Starttls)
            && (result.reply.as_ref().and_then(|r| r.code) == Some(421)
                || (self.dead.is_some() && !self.conn.is_open()));
        if hung_up {
            let why = match result.reply.as_ref().filter(|r| r.code == Some(421)) {
                Some(r) => format!("the server ended the session: {}", r.text),
                None => format!("the server hung up ({})", result.reason),
            };
            self.hang_up(why).await;
        } else if self.step >= self.units.get(self.unit).map_or(0, Vec::len) {
            self.end_unit().await;
        }
        Some(result)
    }

    /// The server closed the session (a close, a reset, a 421) after answering: what it did
    /// not get to answer goes on in a fresh session. The unit it hung up in is tried again
    /// there if nothing of it was answered and this session finished a unit before it (so
    /// every fresh session gets further than the last); otherwise the rest of that unit is
    /// not reached.
    async fn hang_up(&mut self, why: String) {
        self.conn.close().await;
        let answered = self.results[self.unit_start.min(self.results.len())..]
            .iter()
            .any(|r| r.reply.as_ref().is_some_and(|x| x.code != Some(421)));
        let from = if !answered && self.units_done > 0 {
            self.results.truncate(self.unit_start);
            self.unit
        } else {
            let rest: Vec<Step> = self
                .units
                .get(self.unit)
                .map(|u| u.iter().skip(self.step).cloned().collect())
                .unwrap_or_default();
            for st in rest {
                let r = not_reached(&st, self.shown_vars(), &why);
                self.results.push(r);
            }
            self.unit + 1
        };
        let left: Vec<Vec<Step>> = self.units.iter().skip(from).cloned().collect();
        if !left.is_empty() {
            self.leftover = Some((left, why));
        }
        self.unit = self.units.len();
        self.step = 0;
        self.dead = Some("the server closed the session".into());
    }

    /// In a run nobody steps through, writes in one go the commands from the current step on
    /// that RFC 2920 lets travel together: MAIL and RCPT steps and the RSET between groups, up
    /// to the first step of another kind. Their replies are still read and judged step by step,
    /// so the steps and verdicts are the explorer's; only the waiting is shared. A command
    /// whose step turns out not to be needed (its MAIL was refused) has its reply read and set
    /// aside. Not with `--send-data` (DATA would have to come before the RSET) nor over a pipe.
    async fn pipeline_ahead(&mut self) {
        if !self.ctx.unattended
            || !self.ctx.pipelining
            || self.ctx.send_data
            || self.ctx.opts.route.is_pipe()
            || self.conn.awaiting_reply()
            || self.dead.is_some()
        {
            return;
        }
        let Some(vars) = &self.vars else {
            return;
        };
        let mut cmds = Vec::new();
        let (mut unit, mut from) = (self.unit, self.step);
        'units: while let Some(steps) = self.units.get(unit) {
            for st in steps.iter().skip(from) {
                match pipelinable_line(st, vars) {
                    Some(line) if cmds.len() < MAX_PIPELINED => cmds.push(Command::Raw(line)),
                    _ => break 'units,
                }
            }
            if unit + 1 >= self.units.len() {
                break;
            }
            // The RSET `end_unit` sends after a group, when another unit follows.
            if steps.first().is_some_and(|st| st.group.is_some()) {
                cmds.push(Command::Rset);
            }
            unit += 1;
            from = 0;
        }
        if cmds.len() < 2 {
            return;
        }
        if let Err(e) = self.conn.send_ahead(&cmds).await {
            // Refused by the gate or the write failed: the step's own exchange finds out again
            // and says so in its result.
            self.conn.note(crate::transcript::Event::Info(format!(
                "commands not pipelined: {e}"
            )));
        }
    }

    /// Records the current step as skipped by the operator and moves on.
    pub async fn skip(&mut self) -> Option<StepResult> {
        let step = self.current()?.clone();
        let result = StepResult {
            verdict: Verdict::Skipped,
            reason: "skipped by the operator".into(),
            ..not_reached(&step, self.shown_vars(), "")
        };
        if step.role == Role::Setup {
            self.tainted = Some(format!(
                "{} was skipped by the operator",
                self.offer().map_or_else(
                    || step_command(&step, self.shown_vars()),
                    |k| k.text().to_string()
                )
            ));
        }
        self.results.push(result.clone());
        self.step += 1;
        if self.step >= self.units.get(self.unit).map_or(0, Vec::len) {
            self.end_unit().await;
        }
        Some(result)
    }

    fn judge_outcome(
        &mut self,
        step: &Step,
        outcome: Result<StepResult, StepResult>,
    ) -> StepResult {
        let outcome = match (outcome, &self.tainted) {
            (Ok(r), Some(why)) if r.reply.is_some() => Ok(StepResult {
                verdict: Verdict::Inconclusive,
                reason: format!("{}; but {why}, so this is no evidence", r.reason),
                ..r
            }),
            (other, _) => other,
        };
        match outcome {
            Ok(r) => {
                let code = r.reply.as_ref().and_then(|x| x.code);
                let rejected = code.is_some_and(|c| c >= 400);
                if step.reject_passes && code.is_some_and(|c| c >= 500) {
                    self.skip_rest = Some(format!(
                        "not needed: {} was refused, so nothing could be relayed",
                        r.command
                    ));
                    return StepResult {
                        verdict: Verdict::Pass,
                        reason: format!(
                            "{}: refused, which is the safe outcome",
                            r.reply.as_ref().map_or(String::new(), |x| x.text.clone())
                        ),
                        ..r
                    };
                }
                if r.command.to_ascii_uppercase().starts_with("RCPT")
                    && code.is_some_and(|c| c / 100 == 2)
                {
                    self.rcpt_accepted = true;
                }
                if (r.verdict == Verdict::Inconclusive && step.role == Role::Setup)
                    || (step.group.is_some() && rejected && step.role == Role::Setup)
                {
                    self.skip_rest = Some(format!("not reached: {} was not accepted", r.command));
                }
                r
            }
            Err(r) => {
                self.dead = Some(format!("the session ended: {}", r.reason));
                r
            }
        }
    }

    async fn end_unit(&mut self) {
        let unit = self.units.get(self.unit).cloned().unwrap_or_default();
        self.unit += 1;
        self.units_done += 1;
        self.step = 0;
        self.skip_rest = None;
        self.tainted = None;
        let rcpt_accepted = std::mem::take(&mut self.rcpt_accepted);
        if self.dead.is_some() {
            self.unit_start = self.results.len();
            return;
        }
        if self.ctx.send_data
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
            match send_test_message(&mut self.conn, &self.ctx.helo).await {
                Ok(reply) => {
                    let data = {
                        let mut rcpt = results_probe_fix(&mut self.results);
                        data_result(reply, expect_accept, started, &mut rcpt)
                    };
                    self.results.push(data);
                }
                Err(e) => self.dead = Some(format!("the session ended: {e}")),
            }
        }
        self.unit_start = self.results.len();
        if unit.first().is_some_and(|st| st.group.is_some())
            && self.dead.is_none()
            && self.conn.is_open()
            && self.current().is_some()
            && let Err(e) = self.conn.command(&Command::Rset).await
        {
            self.dead = Some(format!("the session ended: {e}"));
        }
        // Closed between units (the RSET, or the test message, found the server gone): the
        // units after it go on in a fresh session.
        if self.dead.is_some() && !self.conn.is_open() && self.current().is_some() {
            let why = self
                .dead
                .clone()
                .unwrap_or_else(|| "the server closed the session".into());
            self.hang_up(why).await;
        }
    }

    /// Ends the session politely and hands back its results (and transcript if asked).
    pub async fn finish(self) -> SessionRun {
        self.finish_keeping().await.0
    }

    /// The connection, as it is (a run dropped half-way), for its record.
    pub fn into_connection(self) -> Connection {
        self.conn
    }

    /// [`Stepper::finish`], keeping the closed connection for its record.
    pub async fn finish_keeping(mut self) -> (SessionRun, Connection) {
        if self.conn.is_open() {
            // A probe that stopped after MAIL or RCPT withdraws its envelope before leaving
            // (RSET, then QUIT), so the server's log shows a transaction abandoned on
            // purpose, not a client that vanished mid-transaction.
            if matches!(
                self.conn.session().phase(),
                crate::smtp::session::Phase::Mail | crate::smtp::session::Phase::Rcpt
            ) {
                // Unattended, RSET and QUIT travel together (QUIT may end a pipelined group):
                // the RSET's reply is read below, QUIT's by `quit`.
                if self.ctx.unattended && self.ctx.pipelining && !self.conn.awaiting_reply() {
                    let _ = self.conn.send_ahead(&[Command::Rset, Command::Quit]).await;
                }
                let _ = self.conn.command(&Command::Rset).await;
            }
            let _ = self.conn.quit().await;
        }
        let run = SessionRun {
            transcript: self
                .ctx
                .keep_transcripts
                .then(|| self.conn.transcript().to_text()),
            steps: self.results,
        };
        (run, self.conn)
    }
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
        name: Some("end of DATA (the test message was sent)".into()),
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
        edited: false,
    }
}

/// Adds up step verdicts: any failed probe fails the scenario (or warns); a setup that did not
/// work, a temporary answer or a step not reached makes it inconclusive; otherwise it passes.
pub fn aggregate(steps: &[StepResult]) -> (Verdict, String) {
    let describe_step = |s: &StepResult| format!("{} — {}", s.command, s.reason);
    let probes = steps.iter().filter(|s| s.role == Role::Probe).count();
    let count = |v: Verdict| steps.iter().filter(|s| s.verdict == v).count();
    for v in [Verdict::Fail, Verdict::Inconclusive, Verdict::Warn] {
        // The root cause first when one step explains the others.
        let root = steps
            .iter()
            .find(|s| s.verdict == v && s.reason.starts_with(ONLY_OLD_TLS));
        if let Some(first) = root.or_else(|| steps.iter().find(|s| s.verdict == v)) {
            let n = count(v);
            let lead = if n > 1 {
                let which = if root.is_some() { "the cause" } else { "first" };
                format!("{n} of {} steps {v}; {which}: ", steps.len())
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
    // Probes that did not apply (over a pipe, on implicit TLS) are not "as expected": the pass
    // says how many were tried, and a scenario with none tried is itself skipped.
    let skipped: Vec<&StepResult> = steps
        .iter()
        .filter(|s| s.role == Role::Probe && s.verdict == Verdict::Skipped)
        .collect();
    let tried = probes - skipped.len();
    match (decisive, skipped.first()) {
        (_, Some(first)) if tried == 0 && steps.iter().all(|s| s.verdict == Verdict::Skipped) => {
            (Verdict::Skipped, first.reason.clone())
        }
        (Some(s), Some(first)) if tried > 0 => (
            Verdict::Pass,
            format!(
                "the {tried} probe{} tried as expected, {} SKIPPED ({}); last: {}",
                if tried == 1 { "" } else { "s" },
                skipped.len(),
                first.reason,
                describe_step(s)
            ),
        ),
        _ => aggregate_pass(decisive, probes, describe_step),
    }
}

fn aggregate_pass(
    decisive: Option<&StepResult>,
    probes: usize,
    describe_step: impl Fn(&StepResult) -> String,
) -> (Verdict, String) {
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

#[cfg(test)]
mod tests {
    use super::*;
    use crate::scenario::catalogue::Catalogue;

    fn report(outcomes: [&str; 4]) -> crate::net::probe::VersionReport {
        use crate::net::probe::{ProbeOutcome, VersionProbe, VersionReport};
        let probes = ["TLSv1.0", "TLSv1.1", "TLSv1.2", "TLSv1.3"]
            .into_iter()
            .zip(outcomes)
            .map(|(v, o)| VersionProbe {
                version: v.into(),
                outcome: match o {
                    "yes" => ProbeOutcome::Accepted {
                        cipher_suite: "S".into(),
                        key_exchange: None,
                        in_session: false,
                    },
                    "no" => ProbeOutcome::Refused {
                        why: "alert protocol_version".into(),
                    },
                    _ => ProbeOutcome::Unknown {
                        why: "timeout".into(),
                    },
                },
            })
            .collect();
        VersionReport {
            probes,
            elapsed_ms: 1,
        }
    }

    #[test]
    fn version_verdicts() {
        let (f, why) = judge_versions(&report(["yes", "no", "no", "no"]));
        assert_eq!(f, Finding::Fail);
        assert!(why.starts_with("accepts only TLS 1.0; smtpscope requires 1.2 or newer"));
        let (f, why) = judge_versions(&report(["yes", "yes", "no", "no"]));
        assert_eq!(f, Finding::Fail);
        assert!(
            why.starts_with("accepts only TLS 1.0 and TLS 1.1;"),
            "{why}"
        );
        let (f, why) = judge_versions(&report(["no", "yes", "yes", "yes"]));
        assert_eq!(f, Finding::Warn);
        assert!(
            why.starts_with("also accepts deprecated TLS 1.1 (RFC 8996)"),
            "{why}"
        );
        assert_eq!(
            judge_versions(&report(["no", "no", "no", "yes"])).0,
            Finding::Pass
        );
        assert_eq!(
            judge_versions(&report(["no", "no", "?", "?"])).0,
            Finding::Inconclusive
        );
        let (f, why) = judge_versions(&report(["no", "no", "no", "no"]));
        assert_eq!(f, Finding::Fail);
        assert!(why.starts_with("no TLS version was accepted"), "{why}");
        // A warning never fails, whatever the scenario's severity; setup mismatches are
        // inconclusive.
        assert_eq!(
            finding_verdict(Finding::Warn, Role::Probe, Severity::Fail),
            Verdict::Warn
        );
        assert_eq!(
            finding_verdict(Finding::Fail, Role::Probe, Severity::Warn),
            Verdict::Warn
        );
        assert_eq!(
            finding_verdict(Finding::Fail, Role::Setup, Severity::Fail),
            Verdict::Inconclusive
        );
    }

    #[test]
    fn relay_tricks_spread_over_four_sessions_of_at_most_four_probes() {
        let cat = Catalogue::built_in();
        let tricks = cat.find("relay-tricks").expect("built in");
        let sessions = sessions(tricks);
        assert_eq!(sessions.len(), 4);
        for s in &sessions {
            assert!(s.len() <= 4);
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
            edited: false,
        }
    }

    #[test]
    fn the_headline_leads_with_a_server_that_speaks_only_old_tls() {
        let mut handshake = step(Verdict::Fail, Role::Probe);
        handshake.command = "STARTTLS".into();
        handshake.reason = "TLS handshake failed: the server closed the connection".into();
        let mut probe = step(Verdict::Fail, Role::Probe);
        probe.command = "probe TLS 1.0, 1.1, 1.2 and 1.3".into();
        probe.reason = judge_versions(&report(["yes", "no", "no", "no"])).1;
        let (v, why) = aggregate(&[handshake, probe]);
        assert_eq!(v, Verdict::Fail);
        assert!(
            why.starts_with(
                "2 of 2 steps FAIL; the cause: probe TLS 1.0, 1.1, 1.2 and 1.3 — accepts only TLS 1.0"
            ),
            "{why}"
        );
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
    fn a_pass_counts_only_the_probes_tried() {
        use Verdict::*;
        let mut skip = step(Skipped, Role::Probe);
        skip.reason = "not applicable over a pipe".into();
        let (v, why) = aggregate(&[
            step(Pass, Role::Setup),
            step(Pass, Role::Probe),
            skip.clone(),
            skip.clone(),
        ]);
        assert_eq!(v, Pass);
        assert!(
            why.starts_with(
                "the 1 probe tried as expected, 2 SKIPPED (not applicable over a pipe); last:"
            ),
            "{why}"
        );
        let (v, why) = aggregate(&[skip.clone(), skip]);
        assert_eq!((v, why.as_str()), (Skipped, "not applicable over a pipe"));
        let (_, why) = aggregate(&vec![step(Pass, Role::Probe); 3]);
        assert!(why.starts_with("all 3 probes as expected"), "{why}");
    }
}
