//! `smtpscope session`: arguments to a plan, the live transcript, the exit code.

use std::time::Instant;

use super::target;
use crate::cli::{
    DsnNotifyArg, DsnRetArg, Format, ProtocolArg, QuitAfter as QuitAfterArg, RelayArgs,
    SessionArgs, ShowData,
};
use crate::exit::Failure;
use crate::net::Connection;
use crate::oneshot::{self, Body, Plan, QuitAfter};
use crate::smtp::command::{Body as BodyType, MailParams, Notify, RcptParams, Ret};
use crate::smtp::validate;
use crate::target::{Endpoint, ResolvedTarget, TargetError};
use crate::transcript::{Transcript, render_entry};

/// Why the session could not start: each kind has its exit code (see [`crate::exit`]).
#[derive(Debug, thiserror::Error)]
enum PrepareError {
    #[error(transparent)]
    Target(#[from] TargetError),
    #[error("--data-file {}: {}", .0.path().display(), .0)]
    DataFile(#[source] crate::bounded_read::ReadError),
    #[error(transparent)]
    Compose(#[from] crate::compose::ComposeError),
    #[error("{option} {given:?}: {why}")]
    Option {
        option: &'static str,
        given: String,
        why: String,
    },
}

impl PrepareError {
    fn failure(&self) -> Failure {
        match self {
            PrepareError::Target(e) => Failure::of_target(e),
            PrepareError::DataFile(_) | PrepareError::Option { .. } | PrepareError::Compose(_) => {
                Failure::Usage
            }
        }
    }
}

fn quit_after(arg: QuitAfterArg) -> QuitAfter {
    match arg {
        QuitAfterArg::Connect => QuitAfter::Connect,
        QuitAfterArg::Banner => QuitAfter::Banner,
        QuitAfterArg::FirstEhlo => QuitAfter::FirstEhlo,
        QuitAfterArg::Tls => QuitAfter::Tls,
        QuitAfterArg::Ehlo => QuitAfter::Ehlo,
        QuitAfterArg::Auth => QuitAfter::Auth,
        QuitAfterArg::Mail => QuitAfter::Mail,
        QuitAfterArg::Rcpt => QuitAfter::Rcpt,
        QuitAfterArg::Data => QuitAfter::Data,
    }
}

/// Runs the subcommand; returns the process exit code.
pub fn run(args: SessionArgs) -> u8 {
    // A reader that went away (`| head`) ends the run as a broken pipe does, quietly, after
    // the session was closed properly.
    crate::terminal_text::exit_status(run_session(args))
}

fn run_session(args: SessionArgs) -> u8 {
    let fail = |e: &dyn std::fmt::Display, kind: Failure| {
        crate::errln!("smtpscope session: {e}");
        kind.code()
    };
    let resolved = match target::resolve(&args.target, &args.auth, &RelayArgs::default(), true) {
        Ok(r) => r,
        Err(e) => return fail(&e, Failure::of_target(&e)),
    };
    let plan = match plan(&args, &resolved) {
        Ok(p) => p,
        Err(e) => return fail(&e, e.failure()),
    };
    // Installed after the password prompt (if any): during it, Ctrl-C keeps its default.
    crate::exit::exit_130_on_ctrl_c("session");
    let runtime = match tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
    {
        Ok(rt) => rt,
        Err(e) => {
            return fail(
                &format!("cannot start the async runtime: {e}"),
                Failure::Session,
            );
        }
    };
    let endpoint = runtime.block_on(resolved.endpoints(false));
    let mut opts = match endpoint {
        Ok(mut list) if !list.is_empty() => {
            let (host, opts) = list.remove(0);
            if let (Format::Text, Endpoint::Mx { domain, .. }) = (args.format, &resolved.endpoint) {
                crate::outln!("=== {domain}: MX {host} ({})", opts.target);
            }
            opts
        }
        Ok(_) => return fail(&"no SMTP target", Failure::Connect),
        Err(e) => return fail(&e, Failure::of_target(&e)),
    };
    opts.lmtp = args.protocol == ProtocolArg::Lmtp;
    let mut transcript = Transcript::new();
    if args.format == Format::Text {
        transcript.observe(|entry| {
            for line in render_entry(entry) {
                crate::outln!("{line}");
            }
        });
    }
    let started = Instant::now();
    let mut conn = Connection::new(opts, transcript);
    let outcome = runtime.block_on(oneshot::run(&plan, &mut conn));
    let code = outcome.failure.as_ref().map_or(0, |(f, _)| f.code());
    if args.format == Format::Text {
        print_chain(&conn, args.show_certs);
    }
    match args.format {
        Format::Text => match &outcome.failure {
            None => crate::outln!("=== session complete (exit 0)"),
            Some((kind, msg)) => crate::outln!("*** {msg} (exit {})", kind.code()),
        },
        Format::Json => {
            let doc = oneshot::json_report(
                &conn,
                resolved.profile_name.as_deref(),
                &outcome,
                code,
                started.elapsed(),
            );
            match serde_json::to_string_pretty(&doc) {
                Ok(text) => crate::outln!("{}", crate::terminal_text::json_text(&text)),
                Err(e) => crate::errln!("smtpscope session: cannot render JSON: {e}"),
            }
        }
    }
    code
}

/// The chain as sent, when asked for or when it did not verify (when it is needed most).
/// Every string in it came from the server, so it is escaped like the transcript.
fn print_chain(conn: &Connection, asked: bool) {
    let info = match (conn.tls_info(), conn.tls_rejected()) {
        (Some(t), _) if asked || !t.verification.verified => t,
        (None, Some(t)) => t,
        _ => return,
    };
    crate::outln!("=== certificate chain as sent");
    for line in info.detail_lines() {
        crate::outln!("    {}", escape_for_terminal(line.as_bytes()));
    }
}

/// The plan, with the secret read once (only when the session authenticates).
fn plan(args: &SessionArgs, resolved: &ResolvedTarget) -> Result<Plan, PrepareError> {
    let auth = resolved.read_credentials()?;
    let helo = resolved.helo.clone();
    let from = args
        .from
        .clone()
        .unwrap_or_else(|| format!("smtpscope@{helo}"));
    validate::mailbox("--from", &from, true).map_err(TargetError::from)?;
    for to in &args.to {
        validate::mailbox("--to", to, false).map_err(TargetError::from)?;
    }
    let body = match &args.data_file {
        Some(path) => {
            // Read as it is sent, so of any size; only checked here, so a mistake is a usage
            // error up front.
            let (_, len) =
                crate::bounded_read::open_regular(path).map_err(PrepareError::DataFile)?;
            if len == 0 {
                crate::errln!(
                    "smtpscope session: warning: --data-file {} is empty: the message will be empty",
                    path.display()
                );
            }
            Body::File(path.clone())
        }
        None => {
            for h in &args.headers {
                header_line(h)?;
            }
            let text = match args.body.as_deref() {
                Some(b) => Some(match b.strip_prefix('@') {
                    Some(path) => crate::compose::read_body_file(std::path::Path::new(path))?,
                    None => b.as_bytes().to_vec(),
                }),
                None => None,
            };
            if args.attach.is_empty() {
                Body::Text(crate::net::exchange::custom_test_message(
                    Some(&from),
                    &args.to,
                    &helo,
                    "test",
                    &args.headers,
                    text.as_deref(),
                ))
            } else {
                let mime = crate::compose::build(&crate::compose::MimeMessage {
                    from: &from,
                    to: &args.to,
                    id_domain: &helo,
                    headers: &args.headers,
                    body: text.as_deref(),
                    attachments: &args.attach,
                })?;
                Body::Text(mime)
            }
        }
    };
    // RFC 6531 §3.3: UTF-8 in a parameter's value only in an SMTPUTF8 transaction, which
    // a non-ASCII address makes one by itself (see `oneshot::extensions`).
    let utf8 = args.smtputf8
        || !from.is_ascii()
        || args.to.iter().any(|t| !t.is_ascii())
        || args
            .mail_param
            .iter()
            .any(|p| p.eq_ignore_ascii_case("SMTPUTF8"));
    let (mail_params, rcpt_params) = extension_params(args, utf8)?;
    Ok(Plan {
        helo,
        auth,
        from,
        to: args.to.clone(),
        body,
        show_data_full: args.show_data == ShowData::Full,
        force: args.force,
        pipeline: args.pipeline,
        bdat: args.bdat,
        quit_after: quit_after(args.drop_after.unwrap_or(args.quit_after)),
        drop: args.drop_after.is_some(),
        mail_params,
        rcpt_params,
    })
}

/// A header line "Name: value": a field name RFC 5322 allows and nothing that ends the line.
fn header_line(given: &str) -> Result<(), PrepareError> {
    let bad = |why: &str| PrepareError::Option {
        option: "--header",
        given: given.to_string(),
        why: why.to_string(),
    };
    let (name, _) = given
        .split_once(':')
        .ok_or_else(|| bad("give \"Name: value\""))?;
    // RFC 5322 §3.6.8: printable ASCII except the colon, no spaces.
    if name.is_empty() || !name.bytes().all(|b| (33..=126).contains(&b) && b != b':') {
        return Err(bad("the field name must be printable ASCII with no spaces"));
    }
    validate::line("the header", given).map_err(|e| bad(&e.to_string()))
}

/// MAIL and RCPT parameters from the DSN, REQUIRETLS, SMTPUTF8, BODY and free flags. Each
/// free parameter is one RFC 5321 esmtp-param; `utf8` says whether the transaction is SMTPUTF8.
fn extension_params(
    args: &SessionArgs,
    utf8: bool,
) -> Result<(MailParams, RcptParams), PrepareError> {
    for (option, list) in [
        ("--mail-param", &args.mail_param),
        ("--rcpt-param", &args.rcpt_param),
    ] {
        for p in list {
            validate::esmtp_param(option, p, utf8).map_err(TargetError::from)?;
        }
    }
    // RFC 3030 §3: a BINARYMIME body can only go by BDAT (--binarymime itself requires --bdat).
    if args.bdat.is_none()
        && let Some(p) = args
            .mail_param
            .iter()
            .find(|p| validate::declares_binarymime(p))
    {
        return Err(PrepareError::Option {
            option: "--mail-param",
            given: p.clone(),
            why: "BODY=BINARYMIME needs --bdat: RFC 3030 §3 lets only BDAT carry a binary body, never DATA".into(),
        });
    }
    if let Some(id) = &args.dsn_envid {
        validate::line("the envelope id", id).map_err(|e| PrepareError::Option {
            option: "--dsn-envid",
            given: id.clone(),
            why: e.to_string(),
        })?;
    }
    let mail = MailParams {
        body: if args.binarymime {
            Some(BodyType::BinaryMime)
        } else {
            args.eight_bit_mime.then_some(BodyType::EightBitMime)
        },
        smtputf8: args.smtputf8,
        requiretls: args.requiretls,
        ret: args.dsn_ret.map(|r| match r {
            DsnRetArg::Full => Ret::Full,
            DsnRetArg::Hdrs => Ret::Hdrs,
        }),
        envid: args.dsn_envid.clone(),
        extra: args.mail_param.clone(),
        ..MailParams::default()
    };
    let rcpt = RcptParams {
        notify: args
            .dsn_notify
            .iter()
            .map(|n| match n {
                DsnNotifyArg::Never => Notify::Never,
                DsnNotifyArg::Success => Notify::Success,
                DsnNotifyArg::Failure => Notify::Failure,
                DsnNotifyArg::Delay => Notify::Delay,
            })
            .collect(),
        orcpt: None,
        extra: args.rcpt_param.clone(),
    };
    Ok((mail, rcpt))
}

/// Shows wire bytes on a terminal: printable ASCII as is, everything else escaped, so control
/// characters from a server can never drive the operator's terminal.
pub fn escape_for_terminal(bytes: &[u8]) -> String {
    crate::smtp::command::escape_bytes(bytes)
}
