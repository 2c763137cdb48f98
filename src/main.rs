use std::io::IsTerminal;
use std::process::ExitCode;

use clap::{CommandFactory, FromArgMatches};
use smtpscope::cli::{Cli, Cmd, LabArgs};
use smtpscope::commands;
use smtpscope::exit::Exit;

fn main() -> ExitCode {
    let matches = match Cli::command().try_get_matches() {
        Ok(m) => m,
        Err(e) => return ExitCode::from(smtpscope::cli::parse_error(e)),
    };
    let mut cli = match Cli::from_arg_matches(&matches) {
        Ok(c) => c,
        Err(e) => return ExitCode::from(smtpscope::cli::parse_error(e)),
    };
    if let (Some(Cmd::Session(args)), Some(("session", sub))) =
        (cli.command.as_mut(), matches.subcommand())
    {
        args.attachments = smtpscope::cli::attachments_in_order(sub);
    }
    let code = match cli.command {
        None => first_run(),
        Some(Cmd::Session(args)) => commands::session::run(args),
        Some(Cmd::Check(args)) => commands::check::run(args),
        Some(Cmd::Profiles(cmd)) => commands::profiles::run(cmd),
        Some(Cmd::Scenarios(cmd)) => commands::catalog::run(cmd),
        Some(Cmd::Lab(args)) => commands::lab::run(args),
        Some(Cmd::Watch(args)) => commands::watch::run(args),
        Some(Cmd::Completions { shell }) => commands::completions::completions(shell),
        Some(Cmd::Man) => commands::completions::man(),
        Some(Cmd::Tui(args)) => {
            // The relay addresses shape a quick target only: a saved profile keeps its own
            // `[relay]` (the explorer would not keep an override past the next reading of the
            // profile directory), so the combination is refused rather than quietly ignored.
            if args.quick.server.is_none()
                && let Some(flag) = args.relay.given().first()
            {
                let how = match &args.profile {
                    Some(name) => format!(
                        "with --profile, set it in the profile's [relay] section (e in the \
                         explorer edits {name}), or give it to `smtpscope check --profile {name}` \
                         for one run"
                    ),
                    None => "give it with --server, or set it in a profile's [relay] section"
                        .to_string(),
                };
                smtpscope::errln!("smtpscope tui: {flag} applies to a --server target only; {how}");
                return ExitCode::from(smtpscope::exit::Failure::Usage.code());
            }
            let quick = match smtpscope::commands::target::quick_profile(&args.quick, &args.relay) {
                Ok(q) => q,
                Err(e) => {
                    smtpscope::errln!(
                        "smtpscope tui: {}",
                        e.explain(smtpscope::advice::FrontEnd::Cli)
                    );
                    return ExitCode::from(smtpscope::exit::Failure::Usage.code());
                }
            };
            smtpscope::tui::run(smtpscope::tui::TuiOptions {
                profile: args.profile,
                scenario: args.scenario,
                run: args.run,
                export_dir: args.export_dir,
                quick,
            })
        }
    };
    ExitCode::from(code)
}

/// `smtpscope` with no arguments: on a terminal, the TUI (on the practice lab when there are no
/// profiles); without a terminal, the practice lab in text form when there are no profiles,
/// otherwise the overview of commands.
fn first_run() -> u8 {
    if std::io::stdout().is_terminal() && std::io::stdin().is_terminal() {
        return smtpscope::tui::run(smtpscope::tui::TuiOptions::default());
    }
    let has_profiles = smtpscope::profile::ProfileStore::from_env()
        .ok()
        .and_then(|s| s.list().ok())
        .is_some_and(|l| !l.is_empty());
    if has_profiles {
        let _ = Cli::command().print_help();
        return Exit::Ok.code();
    }
    smtpscope::outln!(
        "No saved profiles yet: starting the practice lab. (`smtpscope --help` lists every command.)\n"
    );
    commands::lab::run(LabArgs {
        listen: std::net::SocketAddr::from(([127, 0, 0, 1], 0)),
        policies: Vec::new(),
        misbehave: Vec::new(),
        store: None,
        show_messages: false,
        lmtp: false,
        proxy_protocol: false,
        duration: None,
        limits: Default::default(),
    })
}
