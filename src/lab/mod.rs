//! The built-in practice lab: SMTP servers in-process on loopback, with a chosen relay policy
//! and optional misbehaviours, so smtpscope works — and teaches — with no mail server at hand.
//! Mail it accepts is kept (in memory, optionally on disk), never sent on.

pub mod certs;
pub mod policy;
pub mod server;

pub use policy::Policy;
pub use server::{Lab, LabConfig, LabError, LabEvent, Misbehaviour, StoredMessage};
