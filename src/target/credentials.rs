//! Where the AUTH identity and secret come from. Resolving a target only records the source;
//! the secret is read when a connection needs it, once, so a `password_command` runs once per
//! use and a secret never sits in memory longer than it must. Both are checked before anything
//! is sent: a NUL in a PLAIN identity or password would shift its fields, a line end would
//! split a LOGIN step.

use std::path::PathBuf;

use secrecy::{ExposeSecret, SecretString};

use super::{AuthOverrides, Origin, TargetError, pick};
use crate::profile::Profile;
use crate::smtp::auth::{Credentials, Mechanism};
use crate::smtp::validate;

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

impl PasswordSource {
    /// Reads the secret; `label` is the prompt's, if it comes to one.
    pub fn read(&self, label: &str) -> Result<SecretString, TargetError> {
        Ok(match self {
            PasswordSource::Env(var) => crate::secret::from_env(var)?,
            PasswordSource::File(path) => crate::secret::from_file(path)?,
            PasswordSource::Command(argv) => crate::secret::from_command(argv)?,
            PasswordSource::Given(s) => s.clone(),
            PasswordSource::Prompt => crate::secret::prompt(label)?,
        })
    }
}

/// The mechanism, the user and where the secret comes from.
#[derive(Debug, Clone)]
pub struct CredentialSource {
    pub mechanism: Mechanism,
    pub username: String,
    pub password: PasswordSource,
    /// How an error about the secret names its source ("--password-env PW: the password",
    /// "profile p: [auth] password"); never the secret itself.
    pub password_setting: String,
}

impl CredentialSource {
    /// Reads the secret. Call once per connection (or run) that authenticates.
    pub fn read(&self) -> Result<Credentials, TargetError> {
        let secret = self
            .password
            .read(&format!("Password for {}: ", self.username))?;
        validate::sasl_secret(&self.password_setting, secret.expose_secret())?;
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

/// The credentials' source: overrides over the profile's `[auth]`, with the user name checked
/// now and the secret when it is read.
pub(super) fn credential_source(
    p: Option<&Profile>,
    o: &AuthOverrides,
    origin: &Origin,
) -> Result<Option<CredentialSource>, TargetError> {
    if o.enabled == Some(false) {
        return Ok(None);
    }
    let pauth = p.and_then(|p| p.auth.as_ref());
    let mechanism = match (o.mechanism, pauth) {
        (Some(m), _) => m,
        (None, Some(pa)) => pa.mechanism,
        (None, None) => {
            if o.password.is_some() || o.user.is_some() {
                return Err(TargetError::UserWithoutAuth);
            }
            return Ok(None);
        }
    };
    let username = pick(&o.user, pauth.map(|pa| &pa.username)).ok_or(TargetError::NoUser {
        mechanism: mechanism.name(),
    })?;
    validate::sasl_identity(
        &origin.name(o.user.is_some(), "--user", "[auth] username"),
        &username,
    )?;
    let from_profile = pauth.and_then(|pa| {
        if let Some(var) = &pa.password_env {
            Some(PasswordSource::Env(var.clone()))
        } else if let Some(argv) = &pa.password_command {
            Some(PasswordSource::Command(argv.clone()))
        } else {
            pa.password
                .as_ref()
                .map(|pw| PasswordSource::Given(pw.clone().into()))
        }
    });
    // A user named on the command line is not the profile's user: its password is not the
    // profile's either.
    let profile_applies =
        o.user.is_none() || pauth.is_some_and(|pa| Some(&pa.username) == o.user.as_ref());
    let (password, overridden) = match (&o.password, from_profile.filter(|_| profile_applies)) {
        (Some(src), _) => (src.clone(), true),
        (None, Some(src)) => (src, false),
        (None, None) if o.may_prompt => (PasswordSource::Prompt, true),
        (None, None) => match pauth {
            Some(_) if profile_applies => {
                return Err(TargetError::NoPasswordInProfile { user: username });
            }
            _ => return Err(TargetError::NoPasswordFlag),
        },
    };
    let password_setting = password_setting(&password, overridden, origin);
    Ok(Some(CredentialSource {
        mechanism,
        username,
        password,
        password_setting,
    }))
}

/// Names the secret's source in the words of where it was set, without the secret.
fn password_setting(source: &PasswordSource, overridden: bool, origin: &Origin) -> String {
    let (flag, key) = match source {
        PasswordSource::Env(var) => (
            format!("--password-env {var}"),
            format!("[auth] password_env {var}"),
        ),
        PasswordSource::File(path) => (
            format!("--password-file {}", path.display()),
            "[auth] password_file".to_string(),
        ),
        PasswordSource::Command(_) => (
            "password_command".to_string(),
            "[auth] password_command".to_string(),
        ),
        // A profile's plain `password` key is the value itself; an override is one typed.
        PasswordSource::Given(_) if overridden => return "the typed password".into(),
        PasswordSource::Given(_) => {
            return origin.name(false, "the password", "[auth] password");
        }
        PasswordSource::Prompt => return "the password typed at the prompt".into(),
    };
    format!("{}: the password", origin.name(overridden, &flag, &key))
}
