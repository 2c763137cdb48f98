//! `smtpscope lab`: practice servers in the foreground, with the commands to try against them.

use std::fmt::Write;
use std::time::Duration;

use tokio::sync::mpsc;

use crate::cli::{LabArgs, LabLimitArgs, LabPolicyArg, MisbehaveArg};
use crate::commands::session::escape_for_terminal;
use crate::lab::limits::MIB;
use crate::lab::policy::{DOMAIN, PARTNER_DOMAIN, USERS};
use crate::lab::{CapKind, Dialect, Lab, LabConfig, LabEvent, Limits, Misbehaviour, Policy};

pub fn policy(arg: LabPolicyArg) -> Policy {
    match arg {
        LabPolicyArg::OpenRelay => Policy::OpenRelay,
        LabPolicyArg::Secure => Policy::Secure,
        LabPolicyArg::AuthCleartext => Policy::AuthCleartext,
        LabPolicyArg::NoTls => Policy::NoTls,
    }
}

pub fn misbehaviour(arg: MisbehaveArg) -> Misbehaviour {
    match arg {
        MisbehaveArg::Tarpit => Misbehaviour::Tarpit,
        MisbehaveArg::SlowBanner => Misbehaviour::SlowBanner,
        MisbehaveArg::DropMidReply => Misbehaviour::DropMidReply,
        MisbehaveArg::BadMultiline => Misbehaviour::BadMultiline,
        MisbehaveArg::BareLf => Misbehaviour::BareLf,
        MisbehaveArg::StarttlsInjection => Misbehaviour::StarttlsInjection,
        MisbehaveArg::StripStarttls => Misbehaviour::StripStarttls,
        MisbehaveArg::BadCertExpired => Misbehaviour::ExpiredCert,
        MisbehaveArg::BadCertName => Misbehaviour::WrongNameCert,
    }
}

pub fn limits(args: &LabLimitArgs) -> Limits {
    Limits {
        max_connections: args.max_connections,
        max_recipients: args.max_recipients,
        command_timeout: Duration::from_secs(args.command_timeout),
        session_timeout: Duration::from_secs(args.session_timeout),
        error_limit: args.error_limit,
        auth_failure_delay: Duration::from_secs(args.auth_failure_delay),
        keep_messages: args.keep_messages,
        keep_bytes: args.keep_mib.saturating_mul(MIB),
        data_budget: args.data_budget_mib.saturating_mul(MIB),
        max_message_size: args.max_message_size,
        listen_backlog: args.listen_backlog,
    }
}

/// The lab's own lines, through the terminal-safe printer: a closed stdout (`smtpscope lab |
/// head`) must not skip the clean-up that removes the CA files.
macro_rules! say {
    ($($arg:tt)*) => {
        crate::outln!($($arg)*)
    };
}

/// The flags a client needs for what this lab speaks (`session` only has `--protocol`).
fn dialect_flags(lab: &Lab, session: bool) -> String {
    let d = lab.dialect();
    let mut flags = String::new();
    if d.lmtp && session {
        flags.push_str(" --protocol lmtp");
    }
    if d.proxy_protocol {
        flags.push_str(" --proxy v2 --proxy-source 192.0.2.1:40000");
    }
    flags
}

/// The `check` command that exercises every default scenario against a lab server.
pub fn check_command(lab: &Lab) -> String {
    let bob = USERS
        .iter()
        .find(|u| u.scope.is_some())
        .map_or("bob", |u| u.name);
    let pw = USERS
        .iter()
        .find(|u| u.name == bob)
        .map_or("", |u| u.password);
    format!(
        "LAB_PW={pw} smtpscope check --server {} --ca-file {} --tls-name localhost --helo probe.test{} \\\n      --auth plain --user {bob} --password-env LAB_PW --auth-sender {bob}@{DOMAIN} \\\n      --local-recipient postmaster@{DOMAIN} --approved-recipient someone@{PARTNER_DOMAIN} \\\n      --disallowed-recipient someone@elsewhere.example.org --other-local-sender alice@{DOMAIN}",
        lab.addr,
        lab.ca_path.display(),
        dialect_flags(lab, false),
    )
}

pub fn banner(labs: &[Lab]) -> String {
    let mut out = String::new();
    let _ = writeln!(
        out,
        "smtpscope practice lab: loopback only; mail is stored here, never sent on."
    );
    let _ = writeln!(out, "Test accounts:");
    for u in USERS {
        let scope = u
            .scope
            .map_or("may relay anywhere after AUTH".to_string(), |s| {
                format!("may relay only to {s}")
            });
        let _ = writeln!(out, "  {} / {}  ({scope})", u.name, u.password);
    }
    let _ = writeln!(out, "Mailboxes: postmaster, alice, bob @{DOMAIN}\n");
    for lab in labs {
        let _ = writeln!(
            out,
            "  {:<15} {}   CA {}",
            lab.policy.name(),
            lab.addr,
            lab.ca_path.display()
        );
    }
    let _ = writeln!(
        out,
        "\nTry, in another terminal (scenario A against both, then compare):"
    );
    for lab in labs {
        if lab.dialect().lmtp {
            // LMTP is final delivery, not relay: the relay scenarios speak SMTP.
            let _ = writeln!(
                out,
                "\n  # {}: LMTP, so no relay check; the session below speaks it",
                lab.policy.name()
            );
            continue;
        }
        let _ = writeln!(out, "\n  # {}\n  {}", lab.policy.name(), check_command(lab));
    }
    if let Some(first) = labs.first() {
        let _ = writeln!(
            out,
            "\n  # watch one session by hand\n  smtpscope session --server {} --ca-file {} --tls-name localhost{} --to someone@elsewhere.example.org --quit-after rcpt",
            first.addr,
            first.ca_path.display(),
            dialect_flags(first, true),
        );
    }
    let _ = writeln!(
        out,
        "\n  smtpscope scenarios explain relay    # Relay 101\n\nPress Ctrl-C to stop."
    );
    out
}

pub fn run(args: LabArgs) -> u8 {
    let policies: Vec<Policy> = if args.policies.is_empty() {
        vec![Policy::OpenRelay, Policy::Secure]
    } else {
        args.policies.iter().copied().map(policy).collect()
    };
    if args.listen.port() != 0 && policies.len() > 1 {
        crate::errln!(
            "smtpscope lab: a fixed port serves one policy; give one --policy, or port 0"
        );
        return 2;
    }
    let runtime = match tokio::runtime::Builder::new_multi_thread()
        .worker_threads(2)
        .enable_all()
        .build()
    {
        Ok(rt) => rt,
        Err(e) => {
            crate::errln!("smtpscope lab: cannot start the async runtime: {e}");
            return 1;
        }
    };
    runtime.block_on(async move {
        let (tx, mut rx) = mpsc::unbounded_channel();
        let mut labs = Vec::new();
        for p in policies {
            let config = LabConfig {
                listen: args.listen,
                policy: p,
                misbehave: args.misbehave.iter().copied().map(misbehaviour).collect(),
                store_dir: args.store.clone(),
            };
            let dialect = Dialect {
                lmtp: args.lmtp,
                proxy_protocol: args.proxy_protocol,
            };
            let started =
                Lab::start_speaking(config, limits(&args.limits), dialect, Some(tx.clone())).await;
            match started {
                Ok(lab) => labs.push(lab),
                Err(e) => {
                    crate::errln!("smtpscope lab: {e}");
                    return 2;
                }
            }
        }
        // Listen before the banner: a signal sent as soon as it is read must not kill us.
        let stopper = stop_signal();
        say!("{}", banner(&labs).trim_end_matches('\n'));
        let deadline = args.duration.map(Duration::from_secs);
        // A signal ends a lab with --duration too: the handlers are installed either way, so
        // ignoring them would leave SIGTERM caught and without effect.
        let stop = async {
            match deadline {
                Some(d) => {
                    tokio::select! {
                        _ = tokio::time::sleep(d) => {}
                        _ = stopper => {}
                    }
                }
                None => stopper.await,
            }
        };
        tokio::pin!(stop);
        loop {
            tokio::select! {
                _ = &mut stop => break,
                event = rx.recv() => match event {
                    Some(event) => show(&event, args.show_messages),
                    None => break,
                },
            }
        }
        for lab in &labs {
            let failing = lab.accept_failures_now();
            if failing > 0 {
                say!(
                    "--- {}: still cannot accept connections at stop, after {failing} failed attempt(s)",
                    lab.addr
                );
            }
            let dropped = lab.dropped_messages();
            if dropped > 0 {
                say!(
                    "--- {}: {dropped} older message(s) were not kept (the newest {} are)",
                    lab.addr,
                    lab.messages().len()
                );
            }
        }
        say!("--- stopped");
        0
    })
}

/// One event as a log line. Every byte a client chose (addresses, message text) is escaped:
/// a MAIL FROM carrying an OSC or CSI sequence must not retitle or repaint the operator's
/// terminal.
fn show(event: &LabEvent, show_messages: bool) {
    match event {
        LabEvent::Connection { peer } => say!("--- connection from {peer}"),
        LabEvent::Proxied {
            peer,
            client: Some(client),
        } => say!("--- {peer}: PROXY header names the client {client}"),
        LabEvent::Proxied { peer, client: None } => {
            say!("--- {peer}: PROXY header names no client (a health check)")
        }
        LabEvent::ProxyRefused { peer, reason } => {
            say!("--- {peer}: closed without a banner: {reason}")
        }
        LabEvent::Message(m) => {
            let params = std::iter::once(m.mail_params.as_str())
                .chain(m.rcpt_params.iter().map(String::as_str))
                .filter(|p| !p.is_empty())
                .collect::<Vec<_>>()
                .join("; ");
            say!(
                "--- message {} accepted: from <{}> to {} ({} bytes{}{}{}{}{})",
                m.id,
                escape_for_terminal(m.from.as_bytes()),
                m.to.iter()
                    .map(|t| format!("<{}>", escape_for_terminal(t.as_bytes())))
                    .collect::<Vec<_>>()
                    .join(", "),
                m.raw.len(),
                if m.chunked { " in BDAT chunks" } else { "" },
                if params.is_empty() {
                    String::new()
                } else {
                    format!(", parameters {}", escape_for_terminal(params.as_bytes()))
                },
                if m.tls { ", TLS" } else { "" },
                m.auth_user
                    .as_deref()
                    .map(|u| format!(", AUTH {u}"))
                    .unwrap_or_default(),
                if m.relayed {
                    ", RELAYED (kept here)"
                } else {
                    ""
                },
            );
            if show_messages {
                for line in m.raw.split_inclusive(|&b| b == b'\n') {
                    say!("    {}", escape_for_terminal(line));
                }
            }
        }
        LabEvent::Overloaded { server, cap, kind } => {
            let why = match kind {
                CapKind::Connections => "--max-connections",
                CapKind::OpenFiles => "the open-file limit, ulimit -n",
            };
            say!("--- {server}: {cap} sessions open ({why}): new clients get 421 until one ends");
        }
        LabEvent::OverloadEnded { server, refused } => {
            say!("--- {server}: taking clients again; {refused} got 421 meanwhile");
        }
        LabEvent::AcceptFailing { server, error } => {
            say!("--- {server}: cannot accept connections ({error}); retrying with pauses");
        }
        LabEvent::AcceptRecovered { server, failures } => {
            say!("--- {server}: accepting again after {failures} failed attempt(s)");
        }
        LabEvent::SessionCut { peer, cut } => say!("--- {peer}: 421 and closed: {cut}"),
        LabEvent::MessagesDropping { server, kept } => {
            say!(
                "--- {server}: message store full; keeping the newest (at most {kept}), dropping older ones"
            );
        }
    }
}

/// Ctrl-C, SIGTERM or SIGHUP: each ends the lab through its normal path, so the servers stop
/// and their CA files are removed (a closed terminal or `kill` would otherwise leave them).
fn stop_signal() -> impl std::future::Future<Output = ()> {
    #[cfg(unix)]
    let signals = {
        use tokio::signal::unix::{SignalKind, signal};
        (
            signal(SignalKind::interrupt()).ok(),
            signal(SignalKind::terminate()).ok(),
            signal(SignalKind::hangup()).ok(),
        )
    };
    async move {
        #[cfg(unix)]
        if let (Some(mut int), Some(mut term), Some(mut hup)) = signals {
            tokio::select! {
                _ = int.recv() => {}
                _ = term.recv() => {}
                _ = hup.recv() => {}
            }
            return;
        }
        let _ = tokio::signal::ctrl_c().await;
    }
}
