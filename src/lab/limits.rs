//! How much one practice server lets its clients take: connections, time, recipients, errors,
//! memory. The lab listens on a socket like any MTA, so a careless or hostile client must not
//! be able to pin it; the defaults follow Postfix where Postfix has a setting.

use std::time::Duration;

/// Postfix's `default_process_limit` is 100; the lab's sessions are cheap tasks, and a load test
/// with 1,000 concurrent clients should not see 421s.
pub const DEFAULT_MAX_CONNECTIONS: usize = 1000;
/// Postfix `smtpd_recipient_limit`.
pub const DEFAULT_MAX_RECIPIENTS: usize = 1000;
/// Postfix `smtpd_timeout`.
pub const DEFAULT_COMMAND_TIMEOUT_SECS: u64 = 300;
/// Postfix has no whole-session limit; half an hour leaves room for a person typing by hand.
pub const DEFAULT_SESSION_TIMEOUT_SECS: u64 = 1800;
/// Postfix `smtpd_hard_error_limit`.
pub const DEFAULT_ERROR_LIMIT: u32 = 20;
/// Postfix has `smtpd_error_sleep_time = 1s`; Dovecot's `auth_failure_delay` is 2 s.
pub const DEFAULT_AUTH_FAILURE_DELAY_SECS: u64 = 1;
pub const DEFAULT_KEEP_MESSAGES: usize = 1000;
pub const DEFAULT_KEEP_MIB: usize = 256;
pub const DEFAULT_DATA_BUDGET_MIB: usize = 256;
/// Postfix `message_size_limit` (10,240,000) rounded to 10 MiB; advertised as SIZE.
pub const DEFAULT_MAX_MESSAGE_SIZE: usize = 10 * 1024 * 1024;
/// Linux's default `net.core.somaxconn` since 5.4; the kernel caps a larger request there.
pub const DEFAULT_LISTEN_BACKLOG: u32 = 4096;

pub const MIB: usize = 1024 * 1024;

/// One server's limits. Each has a `smtpscope lab` flag; see [`Limits::default`].
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Limits {
    /// Open sessions at once; the next client is answered 421 and closed.
    pub max_connections: usize,
    /// Accepted recipients per message; more are answered 452, each counted as an error.
    pub max_recipients: usize,
    /// To send one whole command line (or a chunk of DATA, or to take a reply).
    pub command_timeout: Duration,
    /// For a whole session, however busy.
    pub session_timeout: Duration,
    /// Error replies (5xx, and 452 for a recipient over the limit) before 421 and close.
    pub error_limit: u32,
    /// Held before each failed-AUTH reply, so passwords cannot be tried at wire speed.
    pub auth_failure_delay: Duration,
    /// Stored messages kept; the oldest go first.
    pub keep_messages: usize,
    /// Bytes of stored messages kept; the oldest go first.
    pub keep_bytes: usize,
    /// Bytes of DATA being received, over all sessions of the server; above it, 452.
    pub data_budget: usize,
    /// Largest message; advertised as SIZE and enforced.
    pub max_message_size: usize,
    pub listen_backlog: u32,
}

impl Default for Limits {
    fn default() -> Self {
        Limits {
            max_connections: DEFAULT_MAX_CONNECTIONS,
            max_recipients: DEFAULT_MAX_RECIPIENTS,
            command_timeout: Duration::from_secs(DEFAULT_COMMAND_TIMEOUT_SECS),
            session_timeout: Duration::from_secs(DEFAULT_SESSION_TIMEOUT_SECS),
            error_limit: DEFAULT_ERROR_LIMIT,
            auth_failure_delay: Duration::from_secs(DEFAULT_AUTH_FAILURE_DELAY_SECS),
            keep_messages: DEFAULT_KEEP_MESSAGES,
            keep_bytes: DEFAULT_KEEP_MIB * MIB,
            data_budget: DEFAULT_DATA_BUDGET_MIB * MIB,
            max_message_size: DEFAULT_MAX_MESSAGE_SIZE,
            listen_backlog: DEFAULT_LISTEN_BACKLOG,
        }
    }
}
