//! Where the AUTH identity and secret come from. Resolving a target only records the source;
//! the secret is read when a connection needs it, once, so a `password_command` runs once per
//! use and a secret never sits in memory longer than it must.

use std::path::PathBuf;

use secrecy::SecretString;

use super::TargetError;
use crate::smtp::auth::{Credentials, Mechanism};

/// Where the password (or XOAUTH2 token) comes from.
#[derive(Debug, Clone)]
pub enum PasswordSource {
    Env(String),
    File(PathBuf),
    Command(Vec<String>),
    /// Already in memory: a profile's plain `password`, or one typed at a prompt.
    Given(SecretString),
    /// A no-echo prompt on the terminal (the `session` command on a terminal).
    Prompt,
}

/// The mechanism, the user and where the secret comes from.
#[derive(Debug, Clone)]
pub struct CredentialSource {
    pub mechanism: Mechanism,
    pub username: String,
    pub password: PasswordSource,
}

impl CredentialSource {
    /// Reads the secret. Call once per connection (or run) that authenticates.
    pub fn read(&self) -> Result<Credentials, TargetError> {
        let secret = match &self.password {
            PasswordSource::Env(var) => crate::secret::from_env(var)?,
            PasswordSource::File(path) => crate::secret::from_file(path)?,
            PasswordSource::Command(argv) => crate::secret::from_command(argv)?,
            PasswordSource::Given(s) => s.clone(),
            PasswordSource::Prompt => {
                crate::secret::prompt(&format!("Password for {}: ", self.username))?
            }
        };
        Ok(Credentials {
            username: self.username.clone(),
            secret,
            authzid: None,
        })
    }

    /// True when reading the secret cannot prompt or run anything: it is already known.
    pub fn is_in_memory(&self) -> bool {
        matches!(self.password, PasswordSource::Given(_))
    }
}
