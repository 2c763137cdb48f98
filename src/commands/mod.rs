//! One module per subcommand: turning parsed arguments into work and printing the result.

pub mod catalog;
pub mod check;
pub mod profiles;
pub mod session;
pub mod target;
