//! One resolution of "what to connect to and how", below every front end: a profile plus
//! overrides (command-line flags, or the TUI's toggles) become one [`ResolvedTarget`], with one
//! set of rules, defaults and limits. A profile therefore means the same thing in `check`,
//! `session` and the TUI.

mod credentials;
mod error;
pub mod lab;
#[cfg(feature = "dns")]
mod mx;
mod route;

use std::net::SocketAddr;
use std::path::PathBuf;
use std::time::Duration;

pub use credentials::{CredentialSource, PasswordSource};
pub use error::TargetError;

use crate::net::tls::{ClientCert, TlsOptions, TlsVersion, Trust};
use crate::net::{ConnectOptions, Target, Timeouts, TlsMode};
use crate::profile::{Profile, ProfileStore, RelayAddresses, Verify};
use crate::scenario::Context;
use crate::scenario::vars::Vars;
use crate::smtp::auth::{Credentials, Mechanism};
use crate::smtp::session::SecurityPolicy;
use crate::smtp::validate;

/// The longest timeout accepted anywhere (a day): longer is a typo, not a plan.
pub const MAX_TIMEOUT_SECS: f64 = 86_400.0;
/// Per connection attempt and per reply.
pub const DEFAULT_TIMEOUT_SECS: f64 = 30.0;
/// For a whole session, start to QUIT.
pub const DEFAULT_SESSION_TIMEOUT_SECS: f64 = 600.0;
/// SMTP submission over implicit TLS (RFC 8314), and plain SMTP.
const IMPLICIT_TLS_PORT: u16 = 465;
const SMTP_PORT: u16 = 25;

/// Settings that win over the profile's. The CLI fills them from flags, the TUI from its
/// toggles; `None` means "as the profile says, else the default".
#[derive(Debug, Clone, Default)]
pub struct Overrides {
    pub server: Option<String>,
    pub domain: Option<String>,
    pub dns_server: Option<SocketAddr>,
    pub mx_port: Option<u16>,
    pub tls: Option<TlsMode>,
    pub require_tls: Option<bool>,
    pub trust: Option<Trust>,
    pub insecure: Option<bool>,
    pub ca_file: Option<PathBuf>,
    pub tls_name: Option<String>,
    pub no_sni: Option<bool>,
    pub tls_min: Option<TlsVersion>,
    pub tls_max: Option<TlsVersion>,
    pub tls_cert: Option<PathBuf>,
    pub tls_key: Option<PathBuf>,
    pub helo: Option<String>,
    pub timeout: Option<f64>,
    pub session_timeout: Option<f64>,
    pub proxy: Option<crate::smtp::proxy::ProxyVersion>,
    pub proxy_source: Option<SocketAddr>,
    /// A SOCKS5 proxy, HOST:PORT, to reach the server through.
    pub socks5: Option<String>,
    pub socks5_user: Option<String>,
    /// The SOCKS5 password: an environment variable or a file, never a flag.
    pub socks5_password: Option<PasswordSource>,
    /// A UNIX domain socket to connect to instead of a TCP address.
    pub socket: Option<PathBuf>,
    /// A program to speak SMTP to over its standard input and output (`exim -bh 192.0.2.9`).
    pub pipe: Option<String>,
    /// XCLIENT attributes, NAME=VALUE; any given replace the profile's.
    pub xclient: Vec<String>,
    pub origin: crate::net::connect::Origin,
    pub allow_cleartext_auth: bool,
    pub auth: AuthOverrides,
    /// Each address set here replaces the profile's.
    pub relay: RelayAddresses,
}

#[derive(Debug, Clone, Default)]
pub struct AuthOverrides {
    /// `Some(false)`: do not authenticate even though the profile has `[auth]`.
    pub enabled: Option<bool>,
    pub mechanism: Option<Mechanism>,
    pub user: Option<String>,
    pub password: Option<PasswordSource>,
    /// With no password source anywhere, prompt on the terminal instead of failing.
    pub may_prompt: bool,
}

/// Where to connect: one server, or the MX hosts of a domain (looked up when connecting).
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Endpoint {
    Server(Target),
    Mx {
        domain: String,
        dns_server: Option<SocketAddr>,
        port: u16,
    },
}

/// Everything a front end needs to connect and run scenarios.
#[derive(Debug, Clone)]
pub struct ResolvedTarget {
    pub profile_name: Option<String>,
    pub endpoint: Endpoint,
    /// Connection settings; for [`Endpoint::Mx`] the target is filled in per MX host.
    pub opts: ConnectOptions,
    /// The mail domain (for MX lookups and the posture checks), if any.
    pub domain: Option<String>,
    pub dns_server: Option<SocketAddr>,
    pub helo: String,
    pub credentials: Option<CredentialSource>,
    pub relay: RelayAddresses,
}

/// How a run of scenarios behaves, beyond the target.
#[derive(Debug, Clone, Copy)]
pub struct RunOptions {
    pub send_data: bool,
    pub keep_transcripts: bool,
    pub concurrency: usize,
    /// Unattended runs may pipeline (`check --no-pipelining` turns it off).
    pub pipelining: bool,
}

/// Loads a saved profile by name from the user's config directory.
pub fn load_profile(name: &str) -> Result<Profile, TargetError> {
    Ok(ProfileStore::from_env()?.load(name)?)
}

/// The name to announce: the machine's host name, as swaks does.
pub fn default_helo() -> String {
    crate::bounded_read::read_regular_to_string(
        std::path::Path::new("/etc/hostname"),
        crate::bounded_read::Limit {
            bytes: 4 * crate::bounded_read::KIB,
            what: "/etc/hostname",
        },
    )
    .ok()
    .map(|s| s.trim().to_string())
    .filter(|s| {
        !s.is_empty()
            && s.chars()
                .all(|c| c.is_ascii_alphanumeric() || c == '-' || c == '.')
    })
    .unwrap_or_else(|| "localhost".to_string())
}

fn seconds(value: f64, setting: &'static str) -> Result<Duration, TargetError> {
    if value.is_finite() && value > 0.0 && value <= MAX_TIMEOUT_SECS {
        Ok(Duration::from_secs_f64(value))
    } else {
        Err(TargetError::Timeout { setting, value })
    }
}

/// How an error names a setting: by the flag when one was given, else by the profile's key.
fn setting(from_flag: bool, flag: &'static str, key: &'static str) -> &'static str {
    if from_flag { flag } else { key }
}

fn pick<T: Clone>(over: &Option<T>, profile: Option<&T>) -> Option<T> {
    over.clone().or_else(|| profile.cloned())
}

/// The one set of rules: `o` over `profile` over the defaults.
pub fn resolve(
    profile: Option<(&str, &Profile)>,
    o: &Overrides,
) -> Result<ResolvedTarget, TargetError> {
    let p = profile.map(|(_, p)| p);
    let tls_mode = o.tls.or(p.map(|p| p.tls)).unwrap_or_default();
    let require_tls = o
        .require_tls
        .unwrap_or_else(|| p.is_some_and(|p| p.require_tls));
    if tls_mode == TlsMode::None && require_tls {
        return Err(TargetError::RequireTlsWithoutTls);
    }
    let domain = pick(&o.domain, p.and_then(|p| p.domain.as_ref()));
    let dns_server = match (o.dns_server, p.and_then(|p| p.dns_server.as_deref())) {
        (Some(s), _) => Some(s),
        (None, Some(text)) => Some(text.trim().parse().map_err(|_| TargetError::DnsServer {
            value: text.to_string(),
        })?),
        (None, None) => None,
    };
    let default_port = if tls_mode == TlsMode::Implicit {
        IMPLICIT_TLS_PORT
    } else {
        SMTP_PORT
    };
    let server = o
        .server
        .clone()
        .or_else(|| p.map(|p| p.server.clone()).filter(|s| !s.trim().is_empty()));
    let (endpoint, target) = match (server, &domain) {
        (Some(server), _) => {
            let t = Target::parse(&server, default_port)?;
            (Endpoint::Server(t.clone()), t)
        }
        (None, Some(domain)) => {
            let port = o.mx_port.or(p.and_then(|p| p.mx_port)).unwrap_or(SMTP_PORT);
            let endpoint = Endpoint::Mx {
                domain: domain.clone(),
                dns_server,
                port,
            };
            // A stand-in until DNS names the hosts; shown as what was asked for.
            let t = Target {
                host: domain.clone(),
                port,
            };
            (endpoint, t)
        }
        // Over a UNIX socket or a pipe the server needs no address, only a name for TLS.
        (None, None)
            if o.socket.is_some()
                || o.pipe.is_some()
                || p.is_some_and(|p| p.socket.is_some() || p.pipe.is_some()) =>
        {
            let t = Target {
                host: "localhost".into(),
                port: SMTP_PORT,
            };
            (Endpoint::Server(t.clone()), t)
        }
        (None, None) => return Err(TargetError::NoServer),
    };
    // Each TLS file is named in errors by what gave it: the flag, or the profile's key.
    let ca_setting = setting(o.ca_file.is_some(), "--ca-file", "ca_file");
    let cert_setting = setting(o.tls_cert.is_some(), "--tls-cert", "tls_cert");
    let key_setting = setting(o.tls_key.is_some(), "--tls-key", "tls_key");
    let ca_file = pick(&o.ca_file, p.and_then(|p| p.ca_file.as_ref()));
    if let Some(path) = &ca_file {
        crate::net::tls::load_ca_file(path).map_err(|source| TargetError::TlsFile {
            setting: ca_setting,
            source,
        })?;
    }
    let verify = p.map_or(Verify::Platform, |p| p.verify);
    let trust = o.trust.unwrap_or(if verify == Verify::Mozilla {
        Trust::Mozilla
    } else {
        Trust::Platform
    });
    let mut opts = ConnectOptions::new(target);
    opts.tls_mode = tls_mode;
    let min_version = pick(&o.tls_min, p.and_then(|p| p.tls_min.as_ref()));
    let max_version = pick(&o.tls_max, p.and_then(|p| p.tls_max.as_ref()));
    if let (Some(min), Some(max)) = (min_version, max_version)
        && min > max
    {
        return Err(TargetError::TlsVersions {
            min: min.label(),
            max: max.label(),
        });
    }
    let client_cert = match (
        pick(&o.tls_cert, p.and_then(|p| p.tls_cert.as_ref())),
        pick(&o.tls_key, p.and_then(|p| p.tls_key.as_ref())),
    ) {
        (None, None) => None,
        (Some(cert_file), Some(key_file)) => Some(ClientCert {
            cert_file,
            key_file,
        }),
        (Some(_), None) => return Err(TargetError::ClientCertHalf { given: "tls-cert" }),
        (None, Some(_)) => return Err(TargetError::ClientCertHalf { given: "tls-key" }),
    };
    opts.tls = TlsOptions {
        trust,
        ca_file,
        insecure: o.insecure.unwrap_or(verify == Verify::Insecure),
        tls_name: pick(&o.tls_name, p.and_then(|p| p.tls_name.as_ref())),
        no_sni: o.no_sni.unwrap_or_else(|| p.is_some_and(|p| p.no_sni)),
        min_version,
        max_version,
        client_cert,
        // Set per MX by a run that looked the records up (`check --domain` with DANE).
        dane_ee: Vec::new(),
    };
    // Read now, so a broken key is the user's error (exit 2), not the server's.
    if opts.tls.client_cert.is_some() {
        crate::net::tls::client_config(&opts.tls).map_err(|source| {
            use crate::net::tls::TlsSetupError as E;
            let setting = match &source {
                E::ClientKey { .. } | E::ClientKeyRead { .. } => key_setting,
                E::CaFileRead { .. } | E::CaFileEmpty { .. } | E::CaFileBad { .. } => ca_setting,
                _ => cert_setting,
            };
            TargetError::TlsFile { setting, source }
        })?;
    }
    opts.policy = SecurityPolicy {
        require_tls,
        allow_cleartext_auth: o.allow_cleartext_auth,
    };
    opts.origin = o.origin;
    let origin = Origin {
        profile: profile.map(|(n, _)| n),
    };
    opts.route = route::route(p, o, &endpoint, &origin)?;
    opts.proxy = route::proxy(p, o, &endpoint, &opts.route, &origin)?;
    let xclient = if o.xclient.is_empty() {
        p.map(|p| p.xclient.clone()).unwrap_or_default()
    } else {
        o.xclient.clone()
    };
    let xclient_setting = origin.name(!o.xclient.is_empty(), "--xclient", "xclient");
    opts.xclient = xclient
        .iter()
        .map(|a| {
            validate::xclient_attribute(a).map_err(|source| TargetError::Xclient {
                setting: xclient_setting.clone(),
                source: Box::new(source),
            })
        })
        .collect::<Result<_, _>>()?;
    let per_step = seconds(
        o.timeout
            .or(p.and_then(|p| p.timeout_secs))
            .unwrap_or(DEFAULT_TIMEOUT_SECS),
        "timeout",
    )?;
    opts.timeouts = Timeouts {
        connect: per_step,
        reply: per_step,
        session: seconds(
            o.session_timeout
                .or(p.and_then(|p| p.session_timeout_secs))
                .unwrap_or(DEFAULT_SESSION_TIMEOUT_SECS),
            "session timeout",
        )?,
    };
    let helo = pick(&o.helo, p.and_then(|p| p.helo.as_ref())).unwrap_or_else(default_helo);
    validate::helo(&origin.name(o.helo.is_some(), "--helo", "helo"), &helo)?;
    // Checked here, before anything connects, and named where they came from: a bad name
    // would otherwise surface after EHLO and STARTTLS, or be echoed raw.
    if let Some(d) = &domain {
        validate::dns_name(&origin.name(o.domain.is_some(), "--domain", "domain"), d)?;
    }
    if let Some(n) = &opts.tls.tls_name {
        validate::tls_name(
            &origin.name(o.tls_name.is_some(), "--tls-name", "tls_name"),
            n,
        )?;
    }
    let relay = relay_addresses(p, &o.relay);
    check_relay(&relay, &o.relay, &origin)?;
    Ok(ResolvedTarget {
        profile_name: profile.map(|(n, _)| n.to_string()),
        endpoint,
        opts,
        domain,
        dns_server,
        helo,
        credentials: credentials::credential_source(p, &o.auth, &origin)?,
        relay,
    })
}

/// Where a value came from, to name it in an error: a flag, or a profile's setting.
struct Origin<'a> {
    profile: Option<&'a str>,
}

impl Origin<'_> {
    fn name(&self, overridden: bool, flag: &str, setting: &str) -> String {
        match (overridden, self.profile) {
            (true, _) | (false, None) => flag.to_string(),
            (false, Some(p)) => format!("profile {p}: {setting}"),
        }
    }
}

/// Every relay address goes into MAIL FROM or RCPT TO: none may carry a control character or
/// exceed RFC 5321's lengths.
fn check_relay(r: &RelayAddresses, o: &RelayAddresses, origin: &Origin) -> Result<(), TargetError> {
    let fields = [
        (
            &r.local_recipient,
            &o.local_recipient,
            "local-recipient",
            "local_recipient",
        ),
        (
            &r.external_sender,
            &o.external_sender,
            "external-sender",
            "external_sender",
        ),
        (
            &r.external_recipient,
            &o.external_recipient,
            "external-recipient",
            "external_recipient",
        ),
        (
            &r.approved_recipient,
            &o.approved_recipient,
            "approved-recipient",
            "approved_recipient",
        ),
        (
            &r.disallowed_recipient,
            &o.disallowed_recipient,
            "disallowed-recipient",
            "disallowed_recipient",
        ),
        (
            &r.other_local_sender,
            &o.other_local_sender,
            "other-local-sender",
            "other_local_sender",
        ),
        (&r.auth_sender, &o.auth_sender, "auth-sender", "auth_sender"),
    ];
    for (value, over, flag, setting) in fields {
        if let Some(v) = value {
            let name = origin.name(
                over.is_some(),
                &format!("--{flag}"),
                &format!("[relay] {setting}"),
            );
            validate::mailbox(&name, v, false)?;
        }
    }
    Ok(())
}

/// The relay scenarios' addresses: overrides over the profile's `[relay]`, with outside
/// addresses that exist nowhere as the defaults.
fn relay_addresses(p: Option<&Profile>, o: &RelayAddresses) -> RelayAddresses {
    let base = p.map(|p| p.relay.clone()).unwrap_or_default();
    let or = |over: &Option<String>, from: Option<String>| over.clone().or(from);
    RelayAddresses {
        local_recipient: or(&o.local_recipient, base.local_recipient),
        external_sender: or(&o.external_sender, base.external_sender)
            .or_else(|| Some("relay-test@outside.example.net".into())),
        external_recipient: or(&o.external_recipient, base.external_recipient)
            .or_else(|| Some("relay-test@elsewhere.example.org".into())),
        approved_recipient: or(&o.approved_recipient, base.approved_recipient),
        disallowed_recipient: or(&o.disallowed_recipient, base.disallowed_recipient),
        other_local_sender: or(&o.other_local_sender, base.other_local_sender),
        auth_sender: or(&o.auth_sender, base.auth_sender),
    }
}

impl ResolvedTarget {
    /// The scenario variables known before connecting.
    pub fn vars(&self) -> Vars {
        let user = self.credentials.as_ref().map(|c| c.username.as_str());
        Vars::new(&self.helo, &self.relay, user)
    }

    /// Reads the secret, if AUTH is configured. Once per run or connection that needs it.
    pub fn read_credentials(&self) -> Result<Option<(Mechanism, Credentials)>, TargetError> {
        self.credentials
            .as_ref()
            .map(|c| Ok((c.mechanism, c.read()?)))
            .transpose()
    }

    /// What the scenario runner needs for one connection target.
    pub fn context(
        &self,
        opts: ConnectOptions,
        credentials: Option<(Mechanism, Credentials)>,
        run: RunOptions,
    ) -> Context {
        Context {
            opts,
            helo: self.helo.clone(),
            credentials,
            vars: self.vars(),
            send_data: run.send_data,
            keep_transcripts: run.keep_transcripts,
            concurrency: run.concurrency,
            unattended: false,
            pipelining: run.pipelining,
            crowd: Default::default(),
        }
    }

    /// The connection targets: the server, or the MX hosts in preference order (only the
    /// first unless `all_mx`), each with the certificate checked against the MX host's name
    /// unless a TLS name was given.
    pub async fn endpoints(
        &self,
        all_mx: bool,
    ) -> Result<Vec<(String, ConnectOptions)>, TargetError> {
        match &self.endpoint {
            Endpoint::Server(t) => Ok(vec![(t.to_string(), self.opts.clone())]),
            #[cfg(feature = "dns")]
            Endpoint::Mx {
                domain,
                dns_server,
                port,
            } => mx::targets(domain, *dns_server, &self.opts, *port, all_mx).await,
            #[cfg(not(feature = "dns"))]
            Endpoint::Mx { domain, .. } => {
                let _ = all_mx;
                Err(TargetError::NoDnsSupport {
                    domain: domain.clone(),
                })
            }
        }
    }
}

#[cfg(test)]
mod tests;
