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
    #[error("--data-file -: standard input {0}")]
    Stdin(#[source] crate::bounded_read::ReadError),
    #[error("{option} {}: {why}", path.display())]
    OutputPath {
        option: &'static str,
        path: std::path::PathBuf,
        why: String,
    },
}

impl PrepareError {
    fn failure(&self) -> Failure {
        match self {
            PrepareError::Target(e) => Failure::of_target(e),
            PrepareError::DataFile(_)
            | PrepareError::Option { .. }
            | PrepareError::Compose(_)
            | PrepareError::Stdin(_)
            | PrepareError::OutputPath { .. } => Failure::Usage,
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
        // QUIT cannot follow DATA's 354 (it would be read as the message): --quit-after data
        // is the whole message; only --drop-after stops at the 354.
        QuitAfterArg::Data | QuitAfterArg::Dot => QuitAfter::Dot,
    }
}

fn drop_after(arg: QuitAfterArg) -> QuitAfter {
    match arg {
        QuitAfterArg::Data => QuitAfter::Data,
        other => quit_after(other),
    }
}

/// The message from standard input, for `--data-file -`: read whole, as large as a generated
/// message may be, so a pipe that never ends is cut off rather than filling memory.
const STDIN_LIMIT: crate::bounded_read::Limit = crate::bounded_read::Limit {
    bytes: crate::compose::MESSAGE_FILES_LIMIT.bytes,
    what: "a message on standard input",
};

/// Where the output goes: standard output as it happens, or a buffer written to
/// `--output-file` at the end.
#[derive(Clone)]
enum Sink {
    Stdout,
    File(std::sync::Arc<std::sync::Mutex<String>>),
}

impl Sink {
    fn line(&self, text: &str) {
        match self {
            Sink::Stdout => crate::outln!("{text}"),
            Sink::File(buf) => {
                let mut b = buf.lock().unwrap_or_else(|p| p.into_inner());
                b.push_str(&crate::terminal_text::for_terminal(text));
                b.push('\n');
            }
        }
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
    if args.dump_mail {
        return dump_mail(&args);
    }
    for (option, path) in [
        ("--output-file", &args.output_file),
        ("--tls-get-peer-cert", &args.tls_get_peer_cert),
    ] {
        if let Some(path) = path
            && let Err(e) = crate::private_write::check_replaceable(path)
        {
            return fail(
                &PrepareError::OutputPath {
                    option,
                    path: path.clone(),
                    why: e.to_string(),
                },
                Failure::Usage,
            );
        }
    }
    let resolved = match target::resolve(&args.target, &args.auth, &RelayArgs::default(), true) {
        Ok(r) => r,
        Err(e) => return fail(&e, Failure::of_target(&e)),
    };
    let plan = match plan(&args, &resolved, true) {
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
    if args.tls_optional {
        if opts.tls_mode == crate::net::TlsMode::Implicit {
            return fail(
                &"--tls-optional tries STARTTLS; it does not go with implicit TLS",
                Failure::Usage,
            );
        }
        if opts.policy.require_tls {
            return fail(
                &"--tls-optional goes on without TLS when STARTTLS fails, but TLS is required (the profile's require_tls)",
                Failure::Usage,
            );
        }
        opts.tls_mode = crate::net::TlsMode::Starttls;
    }
    let sink = match args.output_file {
        Some(_) => Sink::File(Default::default()),
        None => Sink::Stdout,
    };
    let mut transcript = Transcript::new();
    if args.format == Format::Text {
        let sink = sink.clone();
        transcript.observe(move |entry| {
            for line in render_entry(entry) {
                sink.line(&line);
            }
        });
    }
    let started = Instant::now();
    let mut conn = Connection::new(opts, transcript);
    let outcome = runtime.block_on(oneshot::run(&plan, &mut conn));
    let mut code = outcome.failure.as_ref().map_or(0, |(f, _)| f.code());
    if args.format == Format::Text {
        print_chain(&sink, &conn, args.show_certs);
    }
    if let Some(path) = &args.tls_get_peer_cert {
        match write_peer_chain(path, &conn) {
            Ok(Some(n)) => {
                if args.format == Format::Text {
                    sink.line(&format!(
                        "=== {n} certificates as sent written to {} (PEM)",
                        path.display()
                    ));
                }
            }
            Ok(None) => crate::errln!(
                "smtpscope session: --tls-get-peer-cert {}: no certificate was received (no TLS handshake got that far); nothing written",
                path.display()
            ),
            Err(e) => {
                crate::errln!(
                    "smtpscope session: --tls-get-peer-cert {}: {e}",
                    path.display()
                );
                code = code.max(Failure::Usage.code());
            }
        }
    }
    match args.format {
        Format::Text => match &outcome.failure {
            None => sink.line("=== session complete (exit 0)"),
            Some((kind, msg)) => sink.line(&format!("*** {msg} (exit {})", kind.code())),
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
                Ok(text) => sink.line(&crate::terminal_text::json_text(&text)),
                Err(e) => crate::errln!("smtpscope session: cannot render JSON: {e}"),
            }
        }
    }
    if let (Some(path), Sink::File(buf)) = (&args.output_file, &sink) {
        let text = buf.lock().unwrap_or_else(|p| p.into_inner()).clone();
        if let Err(e) = crate::private_write::replace(path, text.as_bytes()) {
            crate::errln!("smtpscope session: --output-file {}: {e}", path.display());
            return Failure::Session.code().max(code);
        }
    }
    code
}

/// The chain the server sent, leaf first, as PEM; `None` when no certificate arrived.
fn write_peer_chain(path: &std::path::Path, conn: &Connection) -> std::io::Result<Option<usize>> {
    use base64::Engine;
    let Some(info) = conn.tls_seen() else {
        return Ok(None);
    };
    if info.chain_der.is_empty() {
        return Ok(None);
    }
    let mut pem = String::new();
    for der in &info.chain_der {
        let b64 = base64::engine::general_purpose::STANDARD.encode(der);
        pem.push_str("-----BEGIN CERTIFICATE-----\n");
        for chunk in b64.as_bytes().chunks(64) {
            pem.push_str(&String::from_utf8_lossy(chunk));
            pem.push('\n');
        }
        pem.push_str("-----END CERTIFICATE-----\n");
    }
    crate::private_write::replace(path, pem.as_bytes())?;
    Ok(Some(info.chain_der.len()))
}

/// `--dump-mail`: the message as it would go after DATA (dot-stuffed, with the final dot),
/// and no connection. The target is resolved only for the names the message carries (HELO,
/// the default sender), so no --server is needed; no password is read.
fn dump_mail(args: &SessionArgs) -> u8 {
    let fail = |e: &dyn std::fmt::Display, kind: Failure| {
        crate::errln!("smtpscope session: {e}");
        kind.code()
    };
    let mut target_args = args.target.clone();
    let named = target_args.server.is_some()
        || target_args.domain.is_some()
        || target_args.profile.is_some()
        || target_args.socket.is_some();
    if !named {
        // Only the message is wanted: any name resolves the rest.
        target_args.server = Some("localhost".into());
    }
    let no_auth = crate::cli::AuthArgs {
        auth: None,
        user: None,
        password_env: None,
        password_file: None,
        allow_cleartext_auth: false,
    };
    let resolved = match target::resolve(&target_args, &no_auth, &RelayArgs::default(), false) {
        Ok(r) => r,
        Err(e) => return fail(&e, Failure::of_target(&e)),
    };
    let plan = match plan(args, &resolved, false) {
        Ok(p) => p,
        Err(e) => return fail(&e, e.failure()),
    };
    let mut encoder = crate::smtp::data::DataEncoder::new();
    let mut wire = Vec::new();
    let print_lines = |wire: &mut Vec<u8>, all: bool| {
        let cut = if all {
            wire.len()
        } else {
            wire.iter().rposition(|&b| b == b'\n').map_or(0, |i| i + 1)
        };
        for line in wire[..cut].split_inclusive(|&b| b == b'\n') {
            let body = line.strip_suffix(b"\r\n").unwrap_or(line);
            match std::str::from_utf8(body) {
                Ok(text) => crate::outln!("{text}"),
                Err(_) => crate::outln!("{}", escape_for_terminal(body)),
            }
        }
        wire.drain(..cut);
    };
    match &plan.body {
        Body::Text(text) => encoder.feed(text, &mut wire),
        Body::File(path) => {
            use std::io::Read;
            let mut file = match crate::bounded_read::open_regular(path) {
                Ok((f, _)) => f,
                Err(e) => return fail(&PrepareError::DataFile(e), Failure::Usage),
            };
            let mut buf = vec![0u8; 64 * 1024];
            loop {
                match file.read(&mut buf) {
                    Ok(0) => break,
                    Ok(n) => {
                        encoder.feed(&buf[..n], &mut wire);
                        print_lines(&mut wire, false);
                    }
                    Err(e) => {
                        return fail(
                            &format!("--data-file {}: cannot read: {e}", path.display()),
                            Failure::Usage,
                        );
                    }
                }
            }
        }
    }
    encoder.finish(&mut wire);
    print_lines(&mut wire, true);
    crate::terminal_text::exit_status(0)
}

/// The chain as sent, when asked for or when it did not verify (when it is needed most).
/// Every string in it came from the server, so it is escaped like the transcript.
fn print_chain(sink: &Sink, conn: &Connection, asked: bool) {
    let info = match (conn.tls_info(), conn.tls_rejected()) {
        (Some(t), _) if asked || !t.verification.verified => t,
        (None, Some(t)) => t,
        _ => return,
    };
    sink.line("=== certificate chain as sent");
    for line in info.detail_lines() {
        sink.line(&format!("    {}", escape_for_terminal(line.as_bytes())));
    }
}

/// The plan, with the secret read once (only when the session authenticates and `connect`
/// says the session will happen: --dump-mail reads none).
fn plan(
    args: &SessionArgs,
    resolved: &ResolvedTarget,
    connect: bool,
) -> Result<Plan, PrepareError> {
    let helo = resolved.helo.clone();
    let from = args
        .from
        .clone()
        .unwrap_or_else(|| format!("smtpscope@{helo}"));
    validate::mailbox("--from", &from, true).map_err(TargetError::from)?;
    for (option, list) in [("--to", &args.to), ("--cc", &args.cc), ("--bcc", &args.bcc)] {
        for to in list {
            validate::mailbox(option, to, false).map_err(TargetError::from)?;
        }
    }
    let recipients: Vec<String> = args
        .to
        .iter()
        .chain(&args.cc)
        .chain(&args.bcc)
        .cloned()
        .collect();
    crate::compose::check_attachments(&args.attachments)?;
    let body = match &args.data_file {
        Some(path) if path.as_os_str() == "-" => {
            let bytes =
                crate::bounded_read::read_stream(std::io::stdin().lock(), path, STDIN_LIMIT)
                    .map_err(PrepareError::Stdin)?;
            if bytes.is_empty() {
                crate::errln!(
                    "smtpscope session: warning: --data-file -: standard input was empty: the message will be empty"
                );
            }
            Body::Text(bytes)
        }
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
            // main fills `attachments` from the command line's order; a caller that did not
            // (a test building SessionArgs) gets the files with their own names and types.
            let attachments: Vec<crate::compose::AttachSpec> = if args.attachments.is_empty() {
                args.attach
                    .iter()
                    .map(|p| crate::compose::AttachSpec {
                        path: p.clone(),
                        ..Default::default()
                    })
                    .collect()
            } else {
                args.attachments.clone()
            };
            if attachments.is_empty() {
                Body::Text(crate::net::exchange::custom_test_message(
                    Some(&from),
                    &args.to,
                    &args.cc,
                    &helo,
                    "test",
                    &args.headers,
                    text.as_deref(),
                ))
            } else {
                let mime = crate::compose::build(&crate::compose::MimeMessage {
                    from: &from,
                    to: &args.to,
                    cc: &args.cc,
                    id_domain: &helo,
                    headers: &args.headers,
                    body: text.as_deref(),
                    attachments: &attachments,
                })?;
                Body::Text(mime)
            }
        }
    };
    let eight_bit = match &body {
        Body::Text(t) => !t.is_ascii(),
        Body::File(path) => file_has_8bit(path)?,
    };
    let auth = if connect {
        resolved.read_credentials()?
    } else {
        None
    };
    // RFC 6531 §3.3: UTF-8 in a parameter's value only in an SMTPUTF8 transaction, which
    // a non-ASCII address makes one by itself (see `oneshot::extensions`).
    let utf8 = args.smtputf8
        || !from.is_ascii()
        || recipients.iter().any(|t| !t.is_ascii())
        || args
            .mail_param
            .iter()
            .any(|p| p.eq_ignore_ascii_case("SMTPUTF8"));
    let (mail_params, rcpt_params) = extension_params(args, utf8)?;
    Ok(Plan {
        helo,
        auth,
        from,
        to: recipients,
        body,
        eight_bit,
        tls_optional: args.tls_optional,
        show_data_full: args.show_data == ShowData::Full,
        force: args.force,
        pipeline: args.pipeline,
        bdat: args.bdat,
        quit_after: match args.drop_after {
            Some(point) => drop_after(point),
            None => quit_after(args.quit_after),
        },
        drop: args.drop_after.is_some(),
        mail_params,
        rcpt_params,
    })
}

/// Whether a message file holds a byte above 127 (it then needs BODY=8BITMIME), read through
/// once in chunks: the file is streamed when sent, so it is never held whole here either.
fn file_has_8bit(path: &std::path::Path) -> Result<bool, PrepareError> {
    use std::io::Read;
    let (mut file, _) = crate::bounded_read::open_regular(path).map_err(PrepareError::DataFile)?;
    let mut buf = vec![0u8; 64 * 1024];
    loop {
        match file.read(&mut buf) {
            Ok(0) => return Ok(false),
            Ok(n) if !buf[..n].is_ascii() => return Ok(true),
            Ok(_) => {}
            Err(source) => {
                return Err(PrepareError::DataFile(
                    crate::bounded_read::ReadError::Read {
                        path: path.to_path_buf(),
                        source,
                    },
                ));
            }
        }
    }
}

/// A header line "Name: value": a field name RFC 5322 allows and nothing that ends the line.
/// A TAB is folding white space in a value (RFC 5322 §3.2.2), so it is allowed there.
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
    // Checked with each TAB as a space: every other control byte is still refused.
    validate::line("the header", &given.replace('\t', " ")).map_err(|e| bad(&e.to_string()))
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
