//! One module per subcommand: turning parsed arguments into work and printing the result.

pub mod catalog;
pub mod check;
pub mod lab;
pub mod profiles;
pub mod session;
pub mod target;

/// `smtpscope` with no arguments: on a terminal, the TUI (on the practice lab when there are no
/// profiles); without a terminal, the practice lab in text form when there are no profiles,
/// otherwise the overview of commands.
pub fn first_run(help: impl FnOnce()) -> u8 {
    use std::io::IsTerminal;
    if std::io::stdout().is_terminal() && std::io::stdin().is_terminal() {
        return crate::tui::run(crate::tui::TuiOptions::default());
    }
    let has_profiles = crate::profile::ProfileStore::from_env()
        .ok()
        .and_then(|s| s.list().ok())
        .is_some_and(|l| !l.is_empty());
    if has_profiles {
        help();
        return 0;
    }
    println!(
        "No saved profiles yet: starting the practice lab. (`smtpscope --help` lists every command.)\n"
    );
    lab::run(crate::cli::LabArgs {
        listen: std::net::SocketAddr::from(([127, 0, 0, 1], 0)),
        policies: Vec::new(),
        misbehave: Vec::new(),
        store: None,
        show_messages: false,
        duration: None,
    })
}
