//! One module per subcommand: turning parsed arguments into work and printing the result.

pub mod catalog;
pub mod check;
pub mod completions;
pub mod lab;
pub mod profiles;
pub mod session;
pub mod target;
pub mod watch;

/// The user's catalogue; broken user files are reported on stderr and skipped.
pub fn catalogue() -> crate::scenario::Catalogue {
    let cat = crate::scenario::Catalogue::for_user();
    for e in &cat.errors {
        crate::errln!("smtpscope: warning: scenario not loaded: {e}");
    }
    cat
}
