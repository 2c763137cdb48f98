//! The tokio shell around the protocol core: connecting, TLS, and moving bytes between the
//! socket and [`crate::smtp`], recording everything in the transcript.

pub mod cert_defects;
pub mod connect;
pub mod crowd;
pub mod driver;
pub mod error;
pub mod exchange;
pub mod https;
pub mod message;
pub mod ocsp;
pub mod pipe;
pub mod probe;
pub mod tls;
pub mod tlsa;
pub mod transport;

pub use connect::Target;
pub use driver::{ConnectOptions, Connection, Idle, Timeouts, TlsMode};
pub use error::NetError;
pub use exchange::DataOutcome;
pub use pipe::PipeCommand;
pub use transport::{Route, Socks5Route};
