use std::process::ExitCode;

use clap::{CommandFactory, Parser};
use smtpscope::cli::{Cli, Cmd};

fn main() -> ExitCode {
    let cli = Cli::parse();
    match cli.command {
        None => {
            let _ = Cli::command().print_help();
            ExitCode::SUCCESS
        }
        Some(Cmd::Session(args)) => ExitCode::from(smtpscope::commands::session::run(args)),
    }
}
