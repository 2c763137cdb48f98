//! `smtpscope session`: arguments to a plan, the live transcript, the exit code.

use std::io::Write;
use std::time::{Duration, Instant};

use crate::cli::{AuthArg, Format, SessionArgs, TargetArgs, TlsArg, TrustArg};
use crate::exit::Failure;
use crate::net::tls::{TlsOptions, Trust};
use crate::net::{ConnectOptions, Connection, Target, Timeouts, TlsMode};
use crate::oneshot::{self, Plan};
use crate::smtp::auth::{Credentials, Mechanism};
use crate::smtp::data::encode_data;
use crate::smtp::session::SecurityPolicy;
use crate::transcript::{Transcript, render_entry};

/// A usage error: what is wrong with the invocation.
pub struct UsageError(pub String);

/// Runs the subcommand; returns the process exit code.
pub fn run(args: SessionArgs) -> u8 {
    let (opts, plan) = match prepare(&args) {
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

fn secs(value: f64, flag: &str) -> Result<Duration, UsageError> {
    if value.is_finite() && value > 0.0 && value <= 86_400.0 {
        Ok(Duration::from_secs_f64(value))
    } else {
        Err(UsageError(format!(
            "{flag} must be a number of seconds between 0 and 86400, not {value}"
        )))
    }
}

/// Connection options from the target flags; shared by every subcommand that connects.
pub fn connect_options(
    t: &TargetArgs,
    allow_cleartext_auth: bool,
) -> Result<ConnectOptions, UsageError> {
    let tls_mode = match t.tls {
        TlsArg::None => TlsMode::None,
        TlsArg::Starttls => TlsMode::Starttls,
        TlsArg::Implicit => TlsMode::Implicit,
    };
    if tls_mode == TlsMode::None && t.require_tls {
        return Err(UsageError("--require-tls contradicts --tls none".into()));
    }
    let default_port = if tls_mode == TlsMode::Implicit {
        465
    } else {
        25
    };
    let target =
        Target::parse(&t.server, default_port).map_err(|e| UsageError(format!("--server: {e}")))?;
    if let Some(path) = &t.ca_file
        && !path.is_file()
    {
        return Err(UsageError(format!(
            "--ca-file {}: no such file",
            path.display()
        )));
    }
    let mut opts = ConnectOptions::new(target);
    opts.tls_mode = tls_mode;
    opts.tls = TlsOptions {
        trust: match t.trust {
            TrustArg::Platform => Trust::Platform,
            TrustArg::Mozilla => Trust::Mozilla,
        },
        ca_file: t.ca_file.clone(),
        insecure: t.insecure,
        tls_name: t.tls_name.clone(),
    };
    opts.policy = SecurityPolicy {
        require_tls: t.require_tls,
        allow_cleartext_auth,
    };
    let per_step = secs(t.timeout, "--timeout")?;
    opts.timeouts = Timeouts {
        connect: per_step,
        reply: per_step,
        session: secs(t.session_timeout, "--session-timeout")?,
    };
    Ok(opts)
}

/// The name to announce: the machine's host name, as swaks does.
pub fn default_helo() -> String {
    std::fs::read_to_string("/etc/hostname")
        .ok()
        .map(|s| s.trim().to_string())
        .filter(|s| {
            !s.is_empty()
                && s.chars()
                    .all(|c| c.is_ascii_alphanumeric() || c == '-' || c == '.')
        })
        .unwrap_or_else(|| "localhost".to_string())
}

pub fn mechanism(arg: AuthArg) -> Mechanism {
    match arg {
        AuthArg::Plain => Mechanism::Plain,
        AuthArg::Login => Mechanism::Login,
        AuthArg::CramMd5 => Mechanism::CramMd5,
        AuthArg::Xoauth2 => Mechanism::Xoauth2,
    }
}

fn prepare(args: &SessionArgs) -> Result<(ConnectOptions, Plan), UsageError> {
    let opts = connect_options(&args.target, args.auth.allow_cleartext_auth)?;
    let helo = args.target.helo.clone().unwrap_or_else(default_helo);
    let auth = match args.auth.auth {
        None => {
            if args.auth.password_env.is_some() || args.auth.password_file.is_some() {
                return Err(UsageError(
                    "a password source was given without --auth".into(),
                ));
            }
            None
        }
        Some(arg) => {
            let mech = mechanism(arg);
            let user = args
                .auth
                .user
                .clone()
                .ok_or_else(|| UsageError(format!("--auth {} needs --user", mech.name())))?;
            let secret = crate::secret::resolve(
                args.auth.password_env.as_deref(),
                args.auth.password_file.as_deref(),
                &format!("Password for {user}: "),
            )
            .map_err(UsageError)?;
            Some((
                mech,
                Credentials {
                    username: user,
                    secret,
                    authzid: None,
                },
            ))
        }
    };
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
        opts,
        Plan {
            helo,
            auth,
            from,
            to: args.to.clone(),
            message,
            quit_after: args.quit_after,
        },
    ))
}
