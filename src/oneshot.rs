//! `smtpscope session`: one scripted session, start to finish, the way swaks runs one.
//!
//! The steps are banner, EHLO, STARTTLS (+ EHLO), AUTH, MAIL, RCPT, DATA, QUIT; each may be the
//! last (`--quit-after`). Every failure maps to its own exit code.

use std::time::Duration;

use serde_json::{Value, json};

use crate::net::{Connection, NetError, TlsMode};
use crate::smtp::auth::{Credentials, Mechanism};
use crate::smtp::capabilities::Capabilities;
use crate::smtp::command::{Command, MailParams, RcptParams};
use crate::smtp::reply::Reply;
use crate::transcript::Event;

/// Where a session may stop (then QUIT, or close with --drop-after), in the order a session
/// passes them; swaks's `--quit-after` and `--drop-after` points.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord)]
pub enum QuitAfter {
    /// The TCP (and implicit TLS) connection and the banner, whatever it says.
    Connect,
    /// The banner, checked to be a 2xx SMTP greeting.
    Banner,
    /// The first EHLO, before STARTTLS.
    FirstEhlo,
    /// The STARTTLS handshake, before the EHLO inside TLS.
    Tls,
    /// The last EHLO: inside TLS when TLS is used.
    Ehlo,
    Auth,
    Mail,
    Rcpt,
    /// DATA's 354, before any of the message (only --drop-after stops here: QUIT would be
    /// read as the message).
    Data,
    /// The message's final reply: the whole session.
    Dot,
}

impl QuitAfter {
    pub fn name(self) -> &'static str {
        match self {
            QuitAfter::Connect => "connect",
            QuitAfter::Banner => "banner",
            QuitAfter::FirstEhlo => "first-ehlo",
            QuitAfter::Tls => "tls",
            QuitAfter::Ehlo => "ehlo",
            QuitAfter::Auth => "auth",
            QuitAfter::Mail => "mail",
            QuitAfter::Rcpt => "rcpt",
            QuitAfter::Data => "data",
            QuitAfter::Dot => "dot",
        }
    }
}

/// Where the message comes from. A file is read as it is sent, never whole into memory.
#[derive(Debug, Clone)]
pub enum Body {
    Text(Vec<u8>),
    File(std::path::PathBuf),
}

impl Body {
    /// Its length before encoding: what RFC 1870 lets a client compare with SIZE.
    fn len(&self) -> Option<u64> {
        match self {
            Body::Text(t) => Some(t.len() as u64),
            Body::File(p) => std::fs::metadata(p).ok().map(|m| m.len()),
        }
    }
}

/// What to do in the session.
pub struct Plan {
    pub helo: String,
    pub auth: Option<(Mechanism, Credentials)>,
    pub from: String,
    /// The envelope's recipients: --to, --cc and --bcc, in that order.
    pub to: Vec<String>,
    /// The message, encoded for the wire as it is sent.
    pub body: Body,
    /// The message holds a byte above 127: RFC 6152 wants BODY=8BITMIME for it.
    pub eight_bit: bool,
    /// Opportunistic TLS (swaks's -tlso): when STARTTLS fails, go on in cleartext.
    pub tls_optional: bool,
    /// Keep every byte of a large message in the transcript, not its head, tail and digest.
    pub show_data_full: bool,
    /// Send even when the server's advertised SIZE says it will refuse.
    pub force: bool,
    /// Send MAIL, RCPT… and DATA as one batch when the server offers PIPELINING (RFC 2920).
    pub pipeline: bool,
    /// Send the message with BDAT (RFC 3030) in chunks of this many octets instead of DATA.
    pub bdat: Option<usize>,
    pub quit_after: QuitAfter,
    /// Close without QUIT at the quit-after point (swaks's --drop-after), to see how the server
    /// cleans up after a client that vanishes.
    pub drop: bool,
    /// MAIL FROM parameters (DSN, REQUIRETLS, SMTPUTF8, BODY, free ones).
    pub mail_params: MailParams,
    pub rcpt_params: RcptParams,
}

/// Why a session did not reach its end; [`crate::exit`] gives each its exit code.
#[derive(Debug, Clone, Copy, PartialEq, Eq, serde::Serialize)]
#[serde(rename_all = "kebab-case")]
pub enum Failure {
    Usage,
    Connect,
    Tls,
    Auth,
    SenderRejected,
    NoRecipient,
    DataRejected,
    ProtocolViolation,
    Session,
    /// The server does not offer the AUTH mechanism asked for: no credentials were sent.
    AuthNotOffered,
    /// The server's EHLO answer rules out what the session would send (an extension it does
    /// not advertise, a message over its SIZE): refused before MAIL.
    NotOffered,
}

impl Failure {
    /// A network error that ended the session.
    pub fn of_net(e: &NetError) -> Failure {
        use crate::smtp::flow::{BannerProblem, GreetProblem};
        match e {
            NetError::Injection { .. }
            | NetError::Banner(BannerProblem::NotSmtp(_))
            | NetError::Greeting(GreetProblem::NotSmtp { .. }) => Failure::ProtocolViolation,
            // The operator's own mismatch, found once the server's address is known.
            NetError::Proxy { .. } | NetError::ProxyWithoutPeer { .. } => Failure::Usage,
            e if e.is_connect() => Failure::Connect,
            e if e.is_tls() => Failure::Tls,
            NetError::Sasl(_) => Failure::Auth,
            _ => Failure::Session,
        }
    }
}

/// How the session ended.
#[derive(Debug)]
pub struct Outcome {
    pub failure: Option<(Failure, String)>,
    /// The step reached last.
    pub reached: QuitAfter,
}

struct Stop(Failure, String);

fn net(e: NetError) -> Stop {
    Stop(Failure::of_net(&e), e.to_string())
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
        let dropped = plan.drop && failure.is_none();
        if dropped {
            conn.note(Event::Info(format!(
                "closing without QUIT after {} (--drop-after)",
                reached.name()
            )));
        } else if failure.is_none() && reached == plan.quit_after && reached != QuitAfter::Dot {
            conn.note(Event::Info(format!(
                "stopping after {} (--quit-after): QUIT",
                reached.name()
            )));
        }
        if tls_failed || dropped {
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
        // swaks's connect: the banner is read (so QUIT is not sent over it), not judged.
        conn.open().await.map_err(net)?;
        return Ok(());
    }
    conn.open_checked().await.map_err(net)?;
    *reached = QuitAfter::Banner;
    if quit_after == QuitAfter::Banner {
        return Ok(());
    }

    conn.greet(&plan.helo).await.map_err(net)?;
    *reached = QuitAfter::FirstEhlo;
    if quit_after == QuitAfter::FirstEhlo {
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
                Ok(_) => {
                    *reached = QuitAfter::Tls;
                    // swaks's tls: right after the handshake, no EHLO inside TLS.
                    if quit_after == QuitAfter::Tls {
                        return Ok(());
                    }
                    conn.greet(&plan.helo).await.map_err(net)?;
                }
                Err(NetError::StartTlsRefused { reply }) if !policy.require_tls => {
                    info(
                        conn,
                        &format!("STARTTLS refused ({reply}): continuing without TLS"),
                    );
                }
                Err(e @ NetError::StartTlsRefused { .. }) => {
                    return Err(Stop(Failure::Tls, format!("TLS is required but {e}")));
                }
                // Opportunistic TLS: the handshake failed and this connection is spent; a
                // new one goes on in cleartext. A response injection is an attack, not a
                // failure to fall back from: it still ends the session.
                Err(e)
                    if plan.tls_optional
                        && !policy.require_tls
                        && e.is_tls()
                        && !matches!(e, NetError::Injection { .. }) =>
                {
                    conn.close().await;
                    info(
                        conn,
                        &format!(
                            "STARTTLS failed ({e}): going on in cleartext on a new connection (--tls-optional)"
                        ),
                    );
                    conn.set_tls_mode(TlsMode::None);
                    conn.open_checked().await.map_err(net)?;
                    conn.greet(&plan.helo).await.map_err(net)?;
                }
                Err(e) => return Err(net(e)),
            }
        }
    }
    *reached = QuitAfter::Tls;
    if quit_after == QuitAfter::Tls {
        return Ok(());
    }
    match conn.xclient(&plan.helo).await {
        Ok(_) => {}
        Err(e @ NetError::XclientRefused { .. }) => {
            return Err(Stop(Failure::Session, e.to_string()));
        }
        Err(e) => return Err(net(e)),
    }
    *reached = QuitAfter::Ehlo;
    if quit_after == QuitAfter::Ehlo {
        return Ok(());
    }

    // Everything the EHLO answer rules out is refused here, before AUTH and MAIL: nothing
    // goes out that the server said it would not take.
    if let Some((mech, _)) = &plan.auth {
        auth_offered(plan, conn, *mech)?;
    }
    let goes_to_mail = quit_after > QuitAfter::Auth && !plan.to.is_empty();
    let mail_params = if goes_to_mail {
        Some(extensions(plan, conn)?)
    } else {
        None
    };

    if let Some((mech, creds)) = &plan.auth {
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

    let mail = Command::MailFrom(plan.from.clone(), mail_params.unwrap_or_default());
    let rcpts: Vec<Command> = plan
        .to
        .iter()
        .map(|r| Command::RcptTo(r.clone(), plan.rcpt_params.clone()))
        .collect();
    let pipelined = plan.pipeline && pipelining_offered(plan, conn);
    if pipelined {
        // RFC 2920: MAIL, every RCPT and DATA in one write; the replies come back in order.
        let mut batch = mail.to_wire();
        if quit_after > QuitAfter::Mail {
            rcpts.iter().for_each(|r| batch.extend(r.to_wire()));
        }
        if quit_after > QuitAfter::Rcpt && plan.bdat.is_none() {
            batch.extend(Command::Data.to_wire());
        }
        conn.send(&Command::Raw(batch)).await.map_err(net)?;
    }
    let reply = answer(conn, mail, pipelined).await?;
    if !reply.is_positive() {
        return Err(rejected(Failure::SenderRejected, "MAIL FROM", &reply));
    }
    *reached = QuitAfter::Mail;
    if quit_after == QuitAfter::Mail {
        return Ok(());
    }

    let mut refused = Vec::new();
    for (rcpt, cmd) in plan.to.iter().zip(rcpts) {
        let reply = answer(conn, cmd, pipelined).await?;
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

    let recipients = conn.session().accepted_recipients();
    let end = match plan.bdat {
        Some(chunk) => {
            // BDAT has no 354: the data point is before the first chunk.
            *reached = QuitAfter::Data;
            if quit_after == QuitAfter::Data {
                return Ok(());
            }
            send_body(plan, conn, Some(chunk)).await?
        }
        None => {
            let data = answer(conn, Command::Data, pipelined).await?;
            if data.code() != Some(354) {
                return Err(rejected(Failure::DataRejected, "DATA", &data));
            }
            // swaks's --drop-after data: the server waits for a message that never comes.
            *reached = QuitAfter::Data;
            if quit_after == QuitAfter::Data {
                return Ok(());
            }
            send_body(plan, conn, None).await?
        }
    };
    if !end.is_positive() {
        return Err(rejected(Failure::DataRejected, "the message", &end));
    }
    // LMTP answers for each recipient (RFC 2033 §4.2): a refusal means that one did not get it.
    let mut refused = Vec::new();
    if conn.options().lmtp {
        for _ in 1..recipients {
            let reply = conn.read_reply_after_message().await.map_err(net)?;
            if !reply.is_positive() {
                refused.push(reply.summary());
            }
        }
    }
    if !refused.is_empty() {
        return Err(Stop(
            Failure::DataRejected,
            format!(
                "the message was refused for some recipients: {}",
                refused.join("; ")
            ),
        ));
    }
    *reached = QuitAfter::Dot;
    Ok(())
}

/// AUTH only with a mechanism the server offers (as swaks, which exits 28 otherwise): the
/// credentials never go to a server that did not ask for them that way, unless --force.
fn auth_offered(plan: &Plan, conn: &mut Connection, mech: Mechanism) -> Result<(), Stop> {
    let offered = conn
        .session()
        .capabilities()
        .map(|c| c.auth_mechanisms())
        .unwrap_or_default();
    if offered.iter().any(|m| m.eq_ignore_ascii_case(mech.name())) {
        return Ok(());
    }
    let offers = if offered.is_empty() {
        "none".to_string()
    } else {
        offered.join(" ")
    };
    if plan.force {
        info(
            conn,
            &format!(
                "the server does not offer AUTH {} (offers: {offers}); sending it anyway (--force)",
                mech.name()
            ),
        );
        return Ok(());
    }
    let hint = if conn.session().tls_active() {
        ""
    } else {
        " (many servers offer AUTH only inside TLS)"
    };
    Err(Stop(
        Failure::AuthNotOffered,
        format!(
            "the server does not offer AUTH {} (offers: {offers}){hint}: no credentials sent (--force sends them anyway)",
            mech.name()
        ),
    ))
}

/// The MAIL parameters, each checked against what the server advertises: an extension it does
/// not offer is refused before MAIL with a clear reason, unless --force breaks the rule on
/// purpose. SMTPUTF8 is added when an address is not ASCII (RFC 6531).
fn extensions(plan: &Plan, conn: &mut Connection) -> Result<MailParams, Stop> {
    let mut p = plan.mail_params.clone();
    let non_ascii = !plan.from.is_ascii() || plan.to.iter().any(|t| !t.is_ascii());
    p.smtputf8 |= non_ascii;
    let caps = conn.session().capabilities().cloned().unwrap_or_default();
    let dsn = p.ret.is_some()
        || p.envid.is_some()
        || !plan.rcpt_params.notify.is_empty()
        || plan.rcpt_params.orcpt.is_some();
    let mut wanted: Vec<(&str, &str)> = Vec::new();
    if dsn {
        wanted.push(("DSN", "RET/ENVID/NOTIFY/ORCPT"));
    }
    if p.requiretls {
        wanted.push(("REQUIRETLS", "REQUIRETLS"));
    }
    if p.smtputf8 {
        wanted.push(("SMTPUTF8", "SMTPUTF8"));
    }
    match p.body {
        Some(crate::smtp::command::Body::EightBitMime) => {
            wanted.push(("8BITMIME", "BODY=8BITMIME"))
        }
        Some(crate::smtp::command::Body::BinaryMime) => {
            wanted.push(("BINARYMIME", "BODY=BINARYMIME"))
        }
        _ => {}
    }
    for (keyword, what) in wanted {
        if caps.get(keyword).is_none() {
            if !plan.force {
                return Err(Stop(
                    Failure::NotOffered,
                    format!(
                        "the server does not advertise {keyword}: not sending {what} (--force sends it anyway)"
                    ),
                ));
            }
            info(
                conn,
                &format!(
                    "the server does not advertise {keyword}; sending {what} anyway (--force)"
                ),
            );
        }
    }
    // RFC 8689 §4.1: REQUIRETLS only on a session that is itself protected by TLS.
    if p.requiretls && !conn.session().tls_active() && !plan.force {
        return Err(Stop(
            Failure::Tls,
            "REQUIRETLS needs this session to be inside TLS (RFC 8689): not sending it".into(),
        ));
    }
    if plan.quit_after > QuitAfter::Rcpt {
        message_fits(plan, conn, &caps, &mut p)?;
    }
    Ok(p)
}

/// What the message itself needs of the server, from its EHLO answer: CHUNKING for BDAT,
/// 8BITMIME for a body with 8-bit bytes (RFC 6152: BODY=8BITMIME is then declared), and a
/// SIZE it fits in (RFC 1870). Each is refused before MAIL unless --force.
fn message_fits(
    plan: &Plan,
    conn: &mut Connection,
    caps: &Capabilities,
    p: &mut MailParams,
) -> Result<(), Stop> {
    let refuse = |what: String| {
        Stop(
            Failure::NotOffered,
            format!("{what}: not sent (--force sends it anyway)"),
        )
    };
    if plan.bdat.is_some() && caps.get("CHUNKING").is_none() {
        if !plan.force {
            return Err(refuse(
                "the server does not advertise CHUNKING, which --bdat needs".into(),
            ));
        }
        info(
            conn,
            "the server does not advertise CHUNKING; sending BDAT anyway (--force)",
        );
    }
    let declared = p.body.is_some()
        || p.extra
            .iter()
            .any(|e| e.get(..5).is_some_and(|k| k.eq_ignore_ascii_case("BODY=")));
    if plan.eight_bit && !declared {
        if caps.get("8BITMIME").is_some() {
            p.body = Some(crate::smtp::command::Body::EightBitMime);
            info(
                conn,
                "the message holds 8-bit bytes: declaring BODY=8BITMIME (RFC 6152)",
            );
        } else if !plan.force {
            return Err(refuse(
                "the message holds 8-bit bytes and the server does not advertise 8BITMIME (RFC 6152)"
                    .into(),
            ));
        } else {
            info(
                conn,
                "the message holds 8-bit bytes and the server does not advertise 8BITMIME; sending it anyway (--force)",
            );
        }
    }
    if let (Some(limit), Some(len)) = (caps.size_limit(), plan.body.len())
        && len > limit
    {
        if !plan.force {
            return Err(refuse(format!(
                "the message is {len} octets and the server takes at most {limit} (SIZE)"
            )));
        }
        info(
            conn,
            &format!(
                "the message is {len} octets, over the server's SIZE {limit}; sending it anyway (--force)"
            ),
        );
    }
    Ok(())
}

/// Whether to batch the envelope: asked for, and advertised (or forced).
fn pipelining_offered(plan: &Plan, conn: &mut Connection) -> bool {
    let offered = conn
        .session()
        .capabilities()
        .is_some_and(|c| c.get("PIPELINING").is_some());
    if !offered && !plan.force {
        info(
            conn,
            "the server does not advertise PIPELINING: sending one command at a time (--force batches anyway)",
        );
    }
    offered || plan.force
}

/// The reply to `cmd`: already sent in the pipelined batch, or sent now.
async fn answer(conn: &mut Connection, cmd: Command, pipelined: bool) -> Result<Reply, Stop> {
    if !pipelined {
        return command(conn, cmd).await;
    }
    let reply = conn.read_reply().await.map_err(net)?;
    if !reply.has_valid_code() {
        return Err(not_smtp(&cmd.verb().to_string(), &reply));
    }
    Ok(reply)
}

/// The message, streamed from the text or the file: after DATA's 354, or in BDAT chunks.
async fn send_body(plan: &Plan, conn: &mut Connection, bdat: Option<usize>) -> Result<Reply, Stop> {
    let keep = plan.show_data_full;
    let transfer = match bdat {
        None => Transfer::Data,
        Some(chunk) => Transfer::Bdat {
            chunk,
            binary: plan.mail_params.body == Some(crate::smtp::command::Body::BinaryMime),
        },
    };
    match &plan.body {
        Body::Text(text) => send_from(conn, &text[..], transfer, keep).await,
        Body::File(path) => {
            // Opened as checked before connecting: a regular file, so a FIFO put in its place
            // since then is refused rather than waited on.
            let (file, _) = crate::bounded_read::open_regular(path).map_err(|e| {
                Stop(
                    Failure::Usage,
                    format!("--data-file {}: {e}", path.display()),
                )
            })?;
            let file = tokio::fs::File::from_std(file);
            send_from(conn, tokio::io::BufReader::new(file), transfer, keep).await
        }
    }
}

/// How the message goes: after DATA's 354, or in BDAT chunks, binary ones sent untouched.
#[derive(Debug, Clone, Copy)]
enum Transfer {
    Data,
    Bdat { chunk: usize, binary: bool },
}

async fn send_from<R: tokio::io::AsyncRead + Unpin>(
    conn: &mut Connection,
    source: R,
    transfer: Transfer,
    keep: bool,
) -> Result<Reply, Stop> {
    match transfer {
        Transfer::Bdat { chunk, binary } => conn.send_bdat_from(source, chunk, keep, binary).await,
        Transfer::Data => conn.send_message_from(source, keep).await,
    }
    .map_err(net)
}

async fn command(conn: &mut Connection, cmd: Command) -> Result<Reply, Stop> {
    let verb = cmd.verb();
    let reply = conn.command(&cmd).await.map_err(net)?;
    if !reply.has_valid_code() {
        return Err(not_smtp(&verb.to_string(), &reply));
    }
    Ok(reply)
}

fn not_smtp(verb: &str, reply: &Reply) -> Stop {
    Stop(
        Failure::ProtocolViolation,
        format!(
            "{verb} was answered with something that is not an SMTP reply: {}",
            reply.summary()
        ),
    )
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

/// Who made a record, of what, and when: the header of `session --format json`, of the
/// explorer's exports, and of run history.
#[derive(Debug, Clone, PartialEq, Eq, serde::Serialize, serde::Deserialize)]
pub struct RecordHeader {
    pub tool: String,
    pub version: String,
    /// `null` when no profile was used: always present, so every record has one shape.
    #[serde(default)]
    pub profile: Option<String>,
    pub server: String,
    /// When the session (or run) started, RFC 3339 in UTC.
    pub started_at: String,
    /// The TLS mode asked for, and what came of it (`starttls: TLSv1.3, verified`).
    pub tls: String,
}

impl RecordHeader {
    /// The header of one session on `conn`.
    pub fn of_session(conn: &Connection, profile: Option<&str>) -> RecordHeader {
        let mode = match conn.options().tls_mode {
            TlsMode::None => "none",
            TlsMode::Starttls => "starttls",
            TlsMode::Implicit => "implicit",
        };
        let tls = match conn.tls_info() {
            Some(t) => format!(
                "{mode}: {}, certificate {}",
                t.version,
                if t.verification.verified {
                    "verified"
                } else if t.verification.dane_ee.is_some() {
                    "verified by DANE-EE"
                } else {
                    "NOT verified"
                }
            ),
            None => format!("{mode}: not established"),
        };
        RecordHeader {
            tool: "smtpscope".into(),
            version: env!("CARGO_PKG_VERSION").into(),
            profile: profile.map(str::to_string),
            server: conn.options().target.to_string(),
            started_at: conn.transcript().started_at().to_string(),
            tls,
        }
    }

    /// The header as comment lines, for a text record.
    pub fn text(&self) -> String {
        format!(
            "# {} {} session record\n# profile: {}\n# server: {}\n# started: {}\n# TLS: {}\n",
            self.tool,
            self.version,
            self.profile.as_deref().unwrap_or("(none)"),
            self.server,
            self.started_at,
            self.tls
        )
    }
}

/// How a session ended, as `session --format json` reports it. A session driven by hand (the
/// explorer) has no plan: no exit code and no planned step reached.
#[derive(Debug, Clone, Default)]
pub struct SessionResult {
    pub failure: Option<(Failure, String)>,
    pub exit_code: Option<u8>,
    pub reached: Option<&'static str>,
    pub elapsed: Duration,
}

/// The one JSON document `session --format json` prints; the explorer's JSON export is the
/// same document, so one reader reads both.
pub fn session_json(conn: &Connection, header: &RecordHeader, result: &SessionResult) -> Value {
    let session = conn.session();
    json!({
        "record": header,
        "target": conn.options().target.to_string(),
        "tls_mode": conn.options().tls_mode,
        "result": {
            "ok": result.failure.is_none(),
            "exit_code": result.exit_code,
            "failure": result.failure.as_ref().map(|(f, _)| f),
            "error": result.failure.as_ref().map(|(_, m)| m),
            "reached": result.reached,
            "elapsed_ms": result.elapsed.as_millis() as u64,
        },
        "tls": conn.tls_info(),
        "tls_rejected": conn.tls_rejected(),
        "authenticated": session.authenticated(),
        "capabilities": {
            "before_tls": session.capabilities_before_tls().map(caps_json),
            "after_tls": session.capabilities_after_tls().map(caps_json),
        },
        "transcript": conn.transcript().to_json(),
    })
}

/// [`session_json`] for a planned session.
pub fn json_report(
    conn: &Connection,
    profile: Option<&str>,
    outcome: &Outcome,
    exit_code: u8,
    elapsed: Duration,
) -> Value {
    let result = SessionResult {
        failure: outcome.failure.clone(),
        exit_code: Some(exit_code),
        reached: Some(outcome.reached.name()),
        elapsed,
    };
    session_json(conn, &RecordHeader::of_session(conn, profile), &result)
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
