//! smtpscope: explore SMTP sessions and test mail relay policy.
//!
//! The protocol core ([`smtp`]) does no I/O; [`net`] drives it over TCP and TLS and records
//! everything in a [`transcript::Transcript`]; front ends (the `session` command now, `check`
//! and the TUI later) drive [`net::Connection`].

pub mod cli;
pub mod commands;
#[cfg(feature = "dns")]
pub mod dns;
pub mod exit;
pub mod lab;
pub mod net;
pub mod oneshot;
pub mod profile;
pub mod report;
pub mod scenario;
pub mod secret;
pub mod smtp;
pub mod transcript;
pub mod tui;
