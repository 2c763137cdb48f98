//! Why a profile plus overrides does not make a target: each error names the setting and where
//! it came from.

use crate::profile::ProfileError;
use crate::secret::SecretError;

#[derive(Debug, thiserror::Error)]
pub enum TargetError {
    #[error(transparent)]
    Profile(#[from] ProfileError),
    #[error("no server: give --server HOST[:PORT], --domain DOMAIN or --profile NAME")]
    NoServer,
    #[error("server: {0}")]
    Address(#[from] crate::net::connect::AddressError),
    #[error("require-tls contradicts TLS mode none")]
    RequireTlsWithoutTls,
    #[error("{setting} must be more than 0 and at most {max} seconds, not {value}", max = super::MAX_TIMEOUT_SECS)]
    Timeout { setting: &'static str, value: f64 },
    /// Read at start, so a broken trust file or client key is the user's error (exit 2),
    /// never the server's. `setting` is the flag or the profile key that named the file.
    #[error("{}", tls_file(setting, source))]
    TlsFile {
        setting: &'static str,
        #[source]
        source: crate::net::tls::TlsSetupError,
    },
    #[error("tls-min {min} is newer than tls-max {max}")]
    TlsVersions {
        min: &'static str,
        max: &'static str,
    },
    #[error("{given} was given alone: a client certificate needs both --tls-cert and --tls-key")]
    ClientCertHalf { given: &'static str },
    #[error("dns_server {value:?} is not IP:PORT")]
    DnsServer { value: String },
    #[error("--local-address {value:?} is not IP or IP:PORT")]
    LocalAddress { value: String },
    #[error("{setting} {value:?} is not IP:PORT")]
    ProxySource { setting: String, value: String },
    /// A PROXY header names the client and the server in one family (TCP4 or TCP6).
    #[error(
        "{setting} {client} is {}, and the server {server} is {}: a PROXY header names both in one family; give an {} source",
        family(client.ip()), family(*server), family(*server)
    )]
    ProxyFamily {
        setting: String,
        client: std::net::SocketAddr,
        server: std::net::IpAddr,
    },
    #[error(
        "{proxy} cannot be used with {via}: the PROXY header names the server's address, which is only known on a direct connection"
    )]
    ProxyOverRoute { proxy: String, via: String },
    #[error(
        "a PROXY header needs the client address it names: give --proxy-source (or proxy_source)"
    )]
    ProxyWithoutSource,
    /// Boxed: the error names the attribute three ways, and every target error carries it.
    #[error("{setting} {source}")]
    Xclient {
        setting: String,
        #[source]
        source: Box<crate::smtp::validate::XclientError>,
    },
    #[error("SOCKS5 proxy: {0}")]
    Socks5Address(crate::net::connect::AddressError),
    #[error("a SOCKS5 user needs a password source: give --socks5-password-env VAR")]
    Socks5UserWithoutPassword,
    #[error("a SOCKS5 password needs a user: give --socks5-user NAME")]
    Socks5PasswordWithoutUser,
    #[error("a SOCKS5 user or password was given without --socks5 HOST:PORT")]
    Socks5LoginWithoutProxy,
    #[error("--socket and --socks5 cannot both be used: a UNIX socket is reached directly")]
    SocketAndSocks5,
    #[error("--socket reaches one server; --domain looks up several: give --server or nothing")]
    SocketWithDomain,
    #[error("{setting}: {source}")]
    Pipe {
        setting: String,
        #[source]
        source: crate::net::pipe::PipeCommandError,
    },
    #[error(
        "{pipe} speaks to a program; {other} reaches a server over the network: give one of them"
    )]
    PipeAndRoute { pipe: String, other: String },
    #[error(
        "{pipe} speaks to one program; --domain looks up several servers: give --server (the name used for TLS) or nothing"
    )]
    PipeWithDomain { pipe: String },
    #[error("--user or a password source was given without --auth")]
    UserWithoutAuth,
    #[error("AUTH {mechanism} needs a user name: give --user")]
    NoUser { mechanism: &'static str },
    #[error("no password source: give --password-env VAR or --password-file FILE")]
    NoPasswordFlag,
    #[error("no password source for {user}: set password_env or password_command in [auth]")]
    NoPasswordInProfile { user: String },
    #[error(transparent)]
    Secret(#[from] SecretError),
    #[error("{domain}: {reason}")]
    Lookup { domain: String, reason: String },
    #[error("{domain} has a null MX (RFC 7505): it accepts no mail")]
    NullMx { domain: String },
    #[error("{domain} has no MX and no address")]
    NoMailHost { domain: String },
    #[error("MX host {host} has no address")]
    MxWithoutAddress { host: String },
    #[error(transparent)]
    Field(#[from] crate::smtp::validate::FieldError),
    #[error("--domain {domain} needs smtpscope built with the `dns` feature")]
    NoDnsSupport { domain: String },
}

fn family(ip: std::net::IpAddr) -> &'static str {
    if ip.is_ipv4() { "IPv4" } else { "IPv6" }
}

/// "--ca-file /x/ca.pem: holds no PEM certificate"; an error about no one file (a certificate
/// and key that do not fit) as the TLS layer says it, after the setting.
fn tls_file(setting: &str, e: &crate::net::tls::TlsSetupError) -> String {
    match e.file_and_reason() {
        Some((path, reason)) => format!("{setting} {}: {reason}", path.display()),
        None => format!("{setting}: {e}"),
    }
}

impl TargetError {
    /// The error as `fe` should say it: the explorer names keys and profile fields where the
    /// command line names flags.
    pub fn explain(&self, fe: crate::advice::FrontEnd) -> String {
        use crate::advice::FrontEnd;
        match (fe, self) {
            (FrontEnd::Tui, TargetError::NoServer) => {
                "no server: set server (or domain) in the profile (e)".into()
            }
            (FrontEnd::Tui, TargetError::RequireTlsWithoutTls) => {
                "require-tls contradicts TLS mode none: F3 turns require TLS off, F2 changes the mode"
                    .into()
            }
            (FrontEnd::Tui, TargetError::ProxyWithoutSource) => {
                "a PROXY header needs the client address it names: set proxy_source in the profile (e)"
                    .into()
            }
            _ => self.to_string(),
        }
    }

    /// True when the configuration was fine but DNS could not say where to connect: a failure
    /// to reach the server, not a usage error.
    pub fn is_lookup(&self) -> bool {
        matches!(
            self,
            TargetError::Lookup { .. }
                | TargetError::NullMx { .. }
                | TargetError::NoMailHost { .. }
                | TargetError::MxWithoutAddress { .. }
        )
    }
}
