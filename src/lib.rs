//! smtpscope: explore SMTP sessions and test mail relay policy.
//!
//! Layers, each using only those below it (a test enforces it):
//!
//! - front ends: `main.rs`, [`cli`] and [`commands`], [`tui`]; [`exit`] maps outcomes to codes;
//! - [`target`]: a profile plus overrides become one resolved target;
//! - [`dns`] (MX and posture), [`scenario`], [`report`], [`oneshot`] (one scripted session);
//! - [`profile`], [`lab`], [`secret`];
//! - [`net`]: the tokio shell, connecting, TLS, moving bytes, the shared exchanges;
//! - [`transcript`] and [`tls_info`]: what happened on the wire, the source of truth;
//!   [`private_write`]: files written private (0600) and whole, never through a symlink;
//! - [`advice`]: how each front end names a control (a flag, or a key) in advice;
//! - [`bounded_read`]: every file the user names is read through it (regular files only,
//!   size-capped);
//! - [`smtp`]: the protocol core and client flow, with no I/O at all.

pub mod advice;
pub mod bounded_read;
pub mod cli;
pub mod commands;
pub mod compose;
pub mod data_dir;
#[cfg(feature = "dns")]
pub mod dns;
pub mod exit;
pub mod export;
pub mod history;
pub mod lab;
pub mod net;
pub mod oneshot;
pub mod private_write;
pub mod profile;
pub mod report;
pub mod run;
pub mod scenario;
pub mod secret;
/// The protocol core, a crate of its own (`crates/smtp`) so the compiler keeps I/O out of it.
pub use smtpscope_smtp as smtp;
pub mod target;
pub mod terminal_text;
pub mod tls_info;
pub mod transcript;
pub mod tui;
pub mod watch;
