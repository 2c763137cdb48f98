//! Test support shared by the integration tests.
#![allow(dead_code, clippy::expect_used, clippy::unwrap_used)] // test code: a failed setup should panic loudly

pub mod dns_server;
pub mod fake_server;
pub mod postfix;
pub mod pty;
pub mod skips;
pub mod smtp_client;
