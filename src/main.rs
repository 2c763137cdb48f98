use std::process::ExitCode;

use clap::{CommandFactory, Parser};
use smtpscope::cli::{Cli, Cmd};
use smtpscope::commands;

fn main() -> ExitCode {
    let cli = Cli::parse();
    let code = match cli.command {
        None => commands::first_run(|| {
            let _ = Cli::command().print_help();
        }),
        Some(Cmd::Session(args)) => commands::session::run(args),
        Some(Cmd::Check(args)) => commands::check::run(args),
        Some(Cmd::Profiles(cmd)) => commands::profiles::run(cmd),
        Some(Cmd::Scenarios(cmd)) => commands::catalog::run(cmd),
        Some(Cmd::Lab(args)) => commands::lab::run(args),
        Some(Cmd::Tui(args)) => smtpscope::tui::run(smtpscope::tui::TuiOptions {
            profile: args.profile,
            scenario: args.scenario,
            run: args.run,
        }),
    };
    ExitCode::from(code)
}
