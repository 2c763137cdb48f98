//! `smtpscope session`: one scripted session, start to finish, the way swaks runs one.
//!
//! The steps are banner, EHLO, STARTTLS (+ EHLO), AUTH, MAIL, RCPT, DATA, QUIT; each may be the
//! last (`--quit-after`). Every failure maps to its own exit code.

use std::time::Duration;

use serde_json::{Value, json};

use crate::cli::QuitAfter;
use crate::exit::Failure;
use crate::net::{Connection, NetError, TlsMode};
use crate::smtp::auth::{Credentials, Mechanism};
use crate::smtp::capabilities::Capabilities;
use crate::smtp::command::{Command, MailParams, RcptParams};
use crate::smtp::reply::Reply;
use crate::transcript::Event;

/// What to do in the session.
pub struct Plan {
    pub helo: String,
    pub auth: Option<(Mechanism, Credentials)>,
    pub from: String,
    pub to: Vec<String>,
    /// The message as it goes on the wire (dot-stuffed, terminated).
    pub message: Vec<u8>,
    pub quit_after: QuitAfter,
}

/// How the session ended.
#[derive(Debug)]
pub struct Outcome {
    pub failure: Option<(Failure, String)>,
    /// The step reached last.
    pub reached: QuitAfter,
}

impl Outcome {
    pub fn exit_code(&self) -> u8 {
        self.failure.as_ref().map_or(0, |(f, _)| f.code())
    }
}

struct Stop(Failure, String);

fn classify(e: &NetError) -> Failure {
    match e {
        NetError::Injection { .. } => Failure::ProtocolViolation,
        e if e.is_connect() => Failure::Connect,
        e if e.is_tls() => Failure::Tls,
        NetError::Sasl(_) => Failure::Auth,
        _ => Failure::Session,
    }
}

fn net(e: NetError) -> Stop {
    Stop(classify(&e), e.to_string())
}

/// Runs the plan on a fresh connection. The transcript inside `conn` holds everything that
/// happened, whatever the outcome.
pub async fn run(plan: &Plan, conn: &mut Connection) -> Outcome {
    let mut reached = QuitAfter::Connect;
    let result = steps(plan, conn, &mut reached).await;
    let failure = match result {
        Ok(()) => {
            let malformed = conn.session().malformed_replies();
            if malformed > 0 {
                Some((
                    Failure::ProtocolViolation,
                    format!("the server sent {malformed} malformed replies (see the transcript)"),
                ))
            } else {
                None
            }
        }
        Err(Stop(kind, message)) => Some((kind, message)),
    };
    if conn.is_open() {
        // TLS failures stop here without another word: when TLS was required, nothing more
        // may go out in plaintext.
        let tls_failed = matches!(failure, Some((Failure::Tls, _)));
        if tls_failed || reached == QuitAfter::Connect && plan.quit_after == QuitAfter::Connect {
            conn.close().await;
        } else {
            let _ = conn.quit().await;
        }
    }
    Outcome { failure, reached }
}

async fn steps(plan: &Plan, conn: &mut Connection, reached: &mut QuitAfter) -> Result<(), Stop> {
    let quit_after = plan.quit_after;
    if quit_after == QuitAfter::Connect {
        conn.open_without_banner().await.map_err(net)?;
        return Ok(());
    }
    let banner = conn.open().await.map_err(net)?;
    *reached = QuitAfter::Banner;
    if !banner.has_valid_code() {
        return Err(Stop(
            Failure::ProtocolViolation,
            format!("the banner is not an SMTP reply: {}", banner.summary()),
        ));
    }
    if !banner.is_positive() {
        return Err(Stop(
            Failure::Session,
            format!(
                "the server refused the session in its banner: {}",
                banner.summary()
            ),
        ));
    }
    if quit_after == QuitAfter::Banner {
        return Ok(());
    }

    greet(plan, conn).await?;
    *reached = QuitAfter::Ehlo;
    if quit_after == QuitAfter::Ehlo {
        return Ok(());
    }

    let policy = conn.session().policy();
    if conn.options().tls_mode == TlsMode::Starttls {
        let offered = conn
            .session()
            .capabilities()
            .is_some_and(Capabilities::starttls);
        if !offered {
            if policy.require_tls {
                let e = NetError::StartTlsNotOffered;
                conn_event_error(conn, &e);
                return Err(net(e));
            }
            info(conn, "STARTTLS not offered: continuing without TLS");
        } else {
            match conn.starttls().await {
                Ok(_) => greet(plan, conn).await?,
                Err(NetError::StartTlsRefused { reply }) if !policy.require_tls => {
                    info(
                        conn,
                        &format!("STARTTLS refused ({reply}): continuing without TLS"),
                    );
                }
                Err(e) => return Err(net(e)),
            }
        }
    }
    *reached = QuitAfter::Tls;
    if quit_after == QuitAfter::Tls {
        return Ok(());
    }

    if let Some((mech, creds)) = &plan.auth {
        let offered = conn
            .session()
            .capabilities()
            .map(|c| c.auth_mechanisms())
            .unwrap_or_default();
        if !offered.iter().any(|m| m == mech.name()) {
            info(
                conn,
                &format!(
                    "the server does not advertise AUTH {} (offers: {}); trying anyway",
                    mech.name(),
                    if offered.is_empty() {
                        "none".to_string()
                    } else {
                        offered.join(" ")
                    }
                ),
            );
        }
        let creds = Credentials {
            username: creds.username.clone(),
            secret: creds.secret.clone(),
            authzid: creds.authzid.clone(),
        };
        let reply = conn
            .authenticate(*mech, creds, true)
            .await
            .map_err(|e| match e {
                NetError::Refusal(r) => Stop(Failure::Auth, r.to_string()),
                other => net(other),
            })?;
        if reply.code() != Some(235) {
            return Err(rejected(Failure::Auth, "AUTH", &reply));
        }
    }
    *reached = QuitAfter::Auth;
    if quit_after == QuitAfter::Auth || plan.to.is_empty() {
        if plan.to.is_empty() && quit_after > QuitAfter::Auth {
            info(conn, "no --to given: ending the session before MAIL FROM");
        }
        return Ok(());
    }

    let reply = command(
        conn,
        Command::MailFrom(plan.from.clone(), MailParams::default()),
    )
    .await?;
    if !reply.is_positive() {
        return Err(rejected(Failure::SenderRejected, "MAIL FROM", &reply));
    }
    *reached = QuitAfter::Mail;
    if quit_after == QuitAfter::Mail {
        return Ok(());
    }

    let mut refused = Vec::new();
    for rcpt in &plan.to {
        let reply = command(conn, Command::RcptTo(rcpt.clone(), RcptParams::default())).await?;
        if !reply.is_positive() {
            refused.push(format!("<{rcpt}>: {}", reply.summary()));
        }
    }
    if conn.session().accepted_recipients() == 0 {
        return Err(Stop(
            Failure::NoRecipient,
            format!("no recipient accepted: {}", refused.join("; ")),
        ));
    }
    *reached = QuitAfter::Rcpt;
    if quit_after == QuitAfter::Rcpt {
        return Ok(());
    }

    let reply = command(conn, Command::Data).await?;
    if reply.code() != Some(354) {
        return Err(rejected(Failure::DataRejected, "DATA", &reply));
    }
    let reply = conn.send_message(&plan.message).await.map_err(net)?;
    if !reply.is_positive() {
        return Err(rejected(Failure::DataRejected, "the message", &reply));
    }
    *reached = QuitAfter::Data;
    Ok(())
}

/// EHLO, falling back to HELO for a server that does not speak ESMTP (RFC 5321 §4.1.4).
async fn greet(plan: &Plan, conn: &mut Connection) -> Result<(), Stop> {
    let reply = command(conn, Command::Ehlo(plan.helo.clone())).await?;
    if reply.is_positive() {
        return Ok(());
    }
    if matches!(reply.code(), Some(500..=502)) {
        let helo = command(conn, Command::Helo(plan.helo.clone())).await?;
        if helo.is_positive() {
            return Ok(());
        }
        return Err(rejected(Failure::Session, "HELO", &helo));
    }
    Err(rejected(Failure::Session, "EHLO", &reply))
}

async fn command(conn: &mut Connection, cmd: Command) -> Result<Reply, Stop> {
    let verb = cmd.verb();
    let reply = conn.command(&cmd).await.map_err(net)?;
    if !reply.has_valid_code() {
        return Err(Stop(
            Failure::ProtocolViolation,
            format!(
                "{verb} was answered with something that is not an SMTP reply: {}",
                reply.summary()
            ),
        ));
    }
    Ok(reply)
}

fn rejected(kind: Failure, what: &str, reply: &Reply) -> Stop {
    Stop(kind, format!("{what} rejected: {}", reply.summary()))
}

fn info(conn: &mut Connection, text: &str) {
    conn.note(Event::Info(text.to_string()));
}

fn conn_event_error(conn: &mut Connection, e: &NetError) {
    conn.note(Event::Error(e.to_string()));
}

/// A short test message: RFC 5322 headers and a line of text.
pub fn test_message(from: &str, to: &[String], helo: &str) -> Vec<u8> {
    let now = jiff::Timestamp::now();
    let date = now
        .to_zoned_datetime(jiff::tz::TimeZone::UTC)
        .strftime("%a, %d %b %Y %H:%M:%S +0000")
        .to_string();
    let id = format!("{}.{}@{}", now.as_second(), now.subsec_nanosecond(), helo);
    format!(
        "Date: {date}\r\nFrom: <{from}>\r\nTo: {}\r\nSubject: smtpscope test {date}\r\nMessage-ID: <{id}>\r\nX-Mailer: smtpscope {}\r\n\r\nThis is a test message sent by smtpscope.\r\n",
        to.iter().map(|t| format!("<{t}>")).collect::<Vec<_>>().join(", "),
        env!("CARGO_PKG_VERSION"),
    )
    .into_bytes()
}

/// The one JSON document `--format json` prints.
pub fn json_report(conn: &Connection, outcome: &Outcome, elapsed: Duration) -> Value {
    let session = conn.session();
    json!({
        "target": conn.options().target.to_string(),
        "tls_mode": conn.options().tls_mode,
        "result": {
            "ok": outcome.failure.is_none(),
            "exit_code": outcome.exit_code(),
            "failure": outcome.failure.as_ref().map(|(f, _)| f),
            "error": outcome.failure.as_ref().map(|(_, m)| m),
            "reached": format!("{:?}", outcome.reached).to_lowercase(),
            "elapsed_ms": elapsed.as_millis() as u64,
        },
        "tls": conn.tls_info(),
        "authenticated": session.authenticated(),
        "capabilities": {
            "before_tls": session.capabilities_before_tls().map(caps_json),
            "after_tls": session.capabilities_after_tls().map(caps_json),
        },
        "transcript": conn.transcript().to_json(),
    })
}

fn caps_json(caps: &Capabilities) -> Value {
    json!({
        "greeting": caps.greeting,
        "keywords": caps.entries.iter().map(|c| json!({
            "keyword": c.keyword,
            "params": c.params,
            "meaning": c.meaning(),
        })).collect::<Vec<_>>(),
    })
}
