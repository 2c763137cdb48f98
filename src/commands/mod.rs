//! One module per subcommand: turning parsed arguments into work and printing the result.

pub mod session;
