//! `smtpscope session`: arguments to a plan, the live transcript, the exit code.

use std::io::Write;
use std::time::Instant;

use super::target::{self, UsageError};
use crate::cli::{Format, SessionArgs};
use crate::exit::Failure;
use crate::net::{ConnectOptions, Connection};
use crate::oneshot::{self, Plan};
use crate::smtp::data::encode_data;
use crate::transcript::{Transcript, render_entry};

/// Runs the subcommand; returns the process exit code.
pub fn run(args: SessionArgs) -> u8 {
    #[cfg_attr(not(feature = "dns"), allow(unused_mut))]
    let (mut opts, plan, mx_domain) = match prepare(&args) {
        Ok(ok) => ok,
        Err(UsageError(msg)) => {
            eprintln!("smtpscope session: {msg}");
            return Failure::Usage.code();
        }
    };
    let runtime = match tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
    {
        Ok(rt) => rt,
        Err(e) => {
            eprintln!("smtpscope session: cannot start the async runtime: {e}");
            return Failure::Session.code();
        }
    };
    if let Some(domain) = mx_domain {
        #[cfg(feature = "dns")]
        {
            let dns =
                crate::dns::resolve::Dns::new(args.target.dns_server).map_err(|e| e.to_string());
            let found = dns.and_then(|dns| {
                runtime.block_on(target::mx_targets(
                    &dns,
                    &domain,
                    &opts,
                    args.target.mx_port,
                    false,
                ))
            });
            match found {
                Ok(mut t) if !t.is_empty() => {
                    let (host, o) = t.remove(0);
                    if args.format == Format::Text {
                        println!("=== {domain}: MX {host} ({})", o.target);
                    }
                    opts = o;
                }
                Ok(_) => {
                    eprintln!("smtpscope session: {domain}: no MX host");
                    return Failure::Connect.code();
                }
                Err(e) => {
                    eprintln!("smtpscope session: {e}");
                    return Failure::Connect.code();
                }
            }
        }
        #[cfg(not(feature = "dns"))]
        {
            eprintln!("smtpscope session: --domain {domain} needs the `dns` feature");
            return Failure::Usage.code();
        }
    }
    let mut transcript = Transcript::new();
    if args.format == Format::Text {
        transcript.observe(|entry| {
            let mut out = std::io::stdout().lock();
            for line in render_entry(entry) {
                let _ = writeln!(out, "{line}");
            }
            let _ = out.flush();
        });
    }
    let started = Instant::now();
    let mut conn = Connection::new(opts, transcript);
    let outcome = runtime.block_on(oneshot::run(&plan, &mut conn));
    match args.format {
        Format::Text => match &outcome.failure {
            None => println!("=== session complete (exit 0)"),
            Some((kind, msg)) => println!("*** {msg} (exit {})", kind.code()),
        },
        Format::Json => {
            let doc = oneshot::json_report(&conn, &outcome, started.elapsed());
            match serde_json::to_string_pretty(&doc) {
                Ok(text) => println!("{text}"),
                Err(e) => eprintln!("smtpscope session: cannot render JSON: {e}"),
            }
        }
    }
    outcome.exit_code()
}

fn prepare(args: &SessionArgs) -> Result<(ConnectOptions, Plan, Option<String>), UsageError> {
    let resolved = target::resolve(&args.target, args.auth.allow_cleartext_auth)?;
    let profile = resolved.profile.as_ref().map(|(_, p)| p);
    let auth = target::credentials(&args.auth, profile, true)?;
    let helo = resolved.helo;
    let from = args
        .from
        .clone()
        .unwrap_or_else(|| format!("smtpscope@{helo}"));
    let message = match &args.data_file {
        Some(path) => {
            let body = std::fs::read(path)
                .map_err(|e| UsageError(format!("--data-file {}: {e}", path.display())))?;
            encode_data(&body)
        }
        None => encode_data(&oneshot::test_message(&from, &args.to, &helo)),
    };
    Ok((
        resolved.opts,
        Plan {
            helo,
            auth,
            from,
            to: args.to.clone(),
            message,
            quit_after: args.quit_after,
        },
        resolved.mx_domain,
    ))
}

/// Shows wire bytes on a terminal: printable ASCII as is, everything else escaped, so control
/// characters from a server can never drive the operator's terminal.
pub fn escape_for_terminal(bytes: &[u8]) -> String {
    crate::smtp::command::escape_bytes(bytes)
}
