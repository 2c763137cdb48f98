//! Turning `--profile` plus the target and auth flags into connection options and credentials.
//! A flag given on the command line wins over the profile's value.

use std::time::Duration;

use secrecy::SecretString;

use crate::cli::{AuthArg, AuthArgs, RelayArgs, TargetArgs, TlsArg, TrustArg};
use crate::net::tls::{TlsOptions, Trust};
use crate::net::{ConnectOptions, Target, Timeouts, TlsMode};
use crate::profile::{Profile, ProfileStore, RelayAddresses, Verify};
use crate::smtp::auth::{Credentials, Mechanism};
use crate::smtp::session::SecurityPolicy;

/// A usage or configuration error: what is wrong, and where.
#[derive(Debug)]
pub struct UsageError(pub String);

/// What the flags and profile resolve to.
pub struct Resolved {
    pub opts: ConnectOptions,
    pub helo: String,
    pub profile: Option<(String, Profile)>,
    /// Set when the servers come from this domain's MX records (no --server given).
    pub mx_domain: Option<String>,
    pub domain: Option<String>,
}

fn secs(value: f64, flag: &str) -> Result<Duration, UsageError> {
    if value.is_finite() && value > 0.0 && value <= 86_400.0 {
        Ok(Duration::from_secs_f64(value))
    } else {
        Err(UsageError(format!(
            "{flag} must be a number of seconds between 0 and 86400, not {value}"
        )))
    }
}

pub fn load_profile(name: &str) -> Result<Profile, UsageError> {
    let store = ProfileStore::from_env().map_err(|e| UsageError(e.to_string()))?;
    let profile = store.load(name).map_err(|e| UsageError(e.to_string()))?;
    for w in profile.warnings() {
        eprintln!("smtpscope: warning: profile {name}: {w}");
    }
    Ok(profile)
}

/// The name to announce: the machine's host name, as swaks does.
pub fn default_helo() -> String {
    std::fs::read_to_string("/etc/hostname")
        .ok()
        .map(|s| s.trim().to_string())
        .filter(|s| {
            !s.is_empty()
                && s.chars()
                    .all(|c| c.is_ascii_alphanumeric() || c == '-' || c == '.')
        })
        .unwrap_or_else(|| "localhost".to_string())
}

pub fn resolve(t: &TargetArgs, allow_cleartext_auth: bool) -> Result<Resolved, UsageError> {
    let profile = match &t.profile {
        Some(name) => Some((name.clone(), load_profile(name)?)),
        None => None,
    };
    let p = profile.as_ref().map(|(_, p)| p);
    let tls_mode = match t.tls {
        Some(TlsArg::None) => TlsMode::None,
        Some(TlsArg::Starttls) => TlsMode::Starttls,
        Some(TlsArg::Implicit) => TlsMode::Implicit,
        None => p.map_or(TlsMode::Starttls, |p| p.tls),
    };
    let require_tls = t.require_tls || p.is_some_and(|p| p.require_tls);
    if tls_mode == TlsMode::None && require_tls {
        return Err(UsageError("require-tls contradicts TLS mode none".into()));
    }
    let domain = t
        .domain
        .clone()
        .or_else(|| p.and_then(|p| p.domain.clone()));
    let server = t
        .server
        .clone()
        .or_else(|| p.map(|p| p.server.clone()).filter(|s| !s.trim().is_empty()))
        // Replaced by the MX hosts once DNS has answered (see `mx_targets`).
        .or_else(|| domain.clone())
        .ok_or_else(|| {
            UsageError(
                "no server: give --server HOST[:PORT], --domain DOMAIN or --profile NAME".into(),
            )
        })?;
    let default_port = if tls_mode == TlsMode::Implicit {
        465
    } else {
        25
    };
    let target =
        Target::parse(&server, default_port).map_err(|e| UsageError(format!("server: {e}")))?;
    let ca_file = t
        .ca_file
        .clone()
        .or_else(|| p.and_then(|p| p.ca_file.clone()));
    if let Some(path) = &ca_file
        && !path.is_file()
    {
        return Err(UsageError(format!(
            "CA file {}: no such file",
            path.display()
        )));
    }
    let verify = p.map_or(Verify::Platform, |p| p.verify);
    let trust = match t.trust {
        Some(TrustArg::Platform) => Trust::Platform,
        Some(TrustArg::Mozilla) => Trust::Mozilla,
        None if verify == Verify::Mozilla => Trust::Mozilla,
        None => Trust::Platform,
    };
    let mut opts = ConnectOptions::new(target);
    opts.tls_mode = tls_mode;
    opts.tls = TlsOptions {
        trust,
        ca_file,
        insecure: t.insecure || verify == Verify::Insecure,
        tls_name: t
            .tls_name
            .clone()
            .or_else(|| p.and_then(|p| p.tls_name.clone())),
    };
    opts.policy = SecurityPolicy {
        require_tls,
        allow_cleartext_auth,
    };
    let per_step = secs(
        t.timeout
            .or_else(|| p.and_then(|p| p.timeout_secs))
            .unwrap_or(30.0),
        "timeout",
    )?;
    opts.timeouts = Timeouts {
        connect: per_step,
        reply: per_step,
        session: secs(t.session_timeout.unwrap_or(600.0), "--session-timeout")?,
    };
    let helo = t
        .helo
        .clone()
        .or_else(|| p.and_then(|p| p.helo.clone()))
        .unwrap_or_else(default_helo);
    let mx_domain = domain
        .clone()
        .filter(|_| t.server.is_none() && p.is_none_or(|p| p.server.trim().is_empty()));
    Ok(Resolved {
        opts,
        helo,
        profile,
        mx_domain,
        domain,
    })
}

pub fn mechanism(arg: AuthArg) -> Mechanism {
    match arg {
        AuthArg::Plain => Mechanism::Plain,
        AuthArg::Login => Mechanism::Login,
        AuthArg::CramMd5 => Mechanism::CramMd5,
        AuthArg::Xoauth2 => Mechanism::Xoauth2,
    }
}

/// Credentials from the flags, else the profile's [auth]. `may_prompt` allows a no-echo
/// prompt on a terminal when no source is given (never for `check`).
pub fn credentials(
    a: &AuthArgs,
    profile: Option<&Profile>,
    may_prompt: bool,
) -> Result<Option<(Mechanism, Credentials)>, UsageError> {
    let pauth = profile.and_then(|p| p.auth.as_ref());
    let flag_source = a.password_env.is_some() || a.password_file.is_some();
    let mech = match (a.auth, pauth) {
        (Some(m), _) => mechanism(m),
        (None, Some(pa)) => pa.mechanism,
        (None, None) => {
            if flag_source || a.user.is_some() {
                return Err(UsageError(
                    "--user or a password source was given without --auth".into(),
                ));
            }
            return Ok(None);
        }
    };
    let user = a
        .user
        .clone()
        .or_else(|| pauth.map(|pa| pa.username.clone()))
        .ok_or_else(|| {
            UsageError(format!(
                "AUTH {} needs a user name: give --user",
                mech.name()
            ))
        })?;
    let secret: SecretString = if flag_source || pauth.is_none() {
        let label = format!("Password for {user}: ");
        match (&a.password_env, &a.password_file, may_prompt) {
            (Some(var), _, _) => crate::secret::from_env(var),
            (None, Some(file), _) => crate::secret::from_file(file),
            (None, None, true) => crate::secret::prompt(&label),
            (None, None, false) => {
                Err("no password source: give --password-env VAR or --password-file FILE".into())
            }
        }
        .map_err(UsageError)?
    } else {
        let pa = pauth.ok_or_else(|| UsageError("no [auth] in the profile".into()))?;
        crate::profile::resolve_password(pa).map_err(UsageError)?
    };
    Ok(Some((
        mech,
        Credentials {
            username: user,
            secret,
            authzid: None,
        },
    )))
}

/// The relay addresses: flags over the profile's [relay].
pub fn relay_addresses(r: &RelayArgs, profile: Option<&Profile>) -> RelayAddresses {
    let base = profile.map(|p| p.relay.clone()).unwrap_or_default();
    let pick = |flag: &Option<String>, from: Option<String>| flag.clone().or(from);
    RelayAddresses {
        local_recipient: pick(&r.local_recipient, base.local_recipient),
        external_sender: pick(&r.external_sender, base.external_sender)
            .or_else(|| Some("relay-test@outside.example.net".into())),
        external_recipient: pick(&r.external_recipient, base.external_recipient)
            .or_else(|| Some("relay-test@elsewhere.example.org".into())),
        approved_recipient: pick(&r.approved_recipient, base.approved_recipient),
        disallowed_recipient: pick(&r.disallowed_recipient, base.disallowed_recipient),
        other_local_sender: pick(&r.other_local_sender, base.other_local_sender),
        auth_sender: pick(&r.auth_sender, base.auth_sender),
    }
}

/// One connection target per MX host (only the first unless `all`), resolved through `dns`, so
/// the names resolve on the same server the MX records came from. The certificate is checked
/// against the MX host's name unless --tls-name says otherwise.
#[cfg(feature = "dns")]
pub async fn mx_targets(
    dns: &crate::dns::resolve::Dns,
    domain: &str,
    base: &ConnectOptions,
    port: u16,
    all: bool,
) -> Result<Vec<(String, ConnectOptions)>, String> {
    use crate::dns::resolve::MailHosts;
    let hosts: Vec<String> = match dns.mail_hosts(domain).await.map_err(|e| e.to_string())? {
        MailHosts::Mx { hosts } => hosts.into_iter().map(|(_, h)| h).collect(),
        MailHosts::Implicit { .. } => vec![domain.to_string()],
        MailHosts::NullMx => {
            return Err(format!(
                "{domain} has a null MX (RFC 7505): it accepts no mail"
            ));
        }
        MailHosts::Nothing => return Err(format!("{domain} has no MX and no address")),
    };
    let mut out = Vec::new();
    for host in hosts.iter().take(if all { usize::MAX } else { 1 }) {
        let ip = dns
            .addresses(host)
            .await
            .map_err(|e| e.to_string())?
            .into_iter()
            .next()
            .ok_or_else(|| format!("MX host {host} has no address"))?;
        let mut opts = base.clone();
        opts.target = Target {
            host: ip.to_string(),
            port,
        };
        if opts.tls.tls_name.is_none() {
            opts.tls.tls_name = Some(host.clone());
        }
        out.push((host.clone(), opts));
    }
    Ok(out)
}
