//! The built-in practice lab: SMTP servers in-process on loopback, with a chosen relay policy
//! and optional misbehaviours, so smtpscope works — and teaches — with no mail server at hand.
//! Mail it accepts is kept (in memory, optionally on disk), never sent on.

mod accept;
mod budget;
mod ca_file;
pub mod certs;
mod dialect;
pub mod limits;
mod params;
pub mod policy;
pub mod server;
mod session;
mod store;
mod stream;

pub use accept::CapKind;
pub use dialect::Dialect;
pub use limits::Limits;
pub use policy::Policy;
pub use server::{Cut, Lab, LabConfig, LabError, LabEvent, Misbehaviour};
pub use store::StoredMessage;
