//! Where to connect: parsing `HOST[:PORT]`, resolving, and connecting with a timeout.

use std::fmt;
use std::net::SocketAddr;
use std::time::Duration;

use tokio::net::TcpStream;

use super::error::NetError;

/// Why a `HOST[:PORT]` could not be parsed.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum AddressError {
    #[error("the server address is empty")]
    Empty,
    #[error("{spec:?}: '[' without a closing ']'")]
    UnclosedBracket { spec: String },
    #[error("{spec:?}: unexpected {after:?} after ']'")]
    AfterBracket { spec: String, after: String },
    #[error("{spec:?}: no host before the port")]
    NoHost { spec: String },
    #[error("{spec:?}: {port:?} is not a port number (1-65535)")]
    BadPort { spec: String, port: String },
    #[error("{spec:?}: not a host name, and not an IPv6 address (write [::1]:25 for a port)")]
    BadIpv6 { spec: String },
}

/// A server to connect to.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Target {
    /// Host name or IP address (IPv6 without brackets).
    pub host: String,
    pub port: u16,
}

impl fmt::Display for Target {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        if self.host.contains(':') {
            write!(f, "[{}]:{}", self.host, self.port)
        } else {
            write!(f, "{}:{}", self.host, self.port)
        }
    }
}

impl Target {
    /// Parses `host`, `host:port`, `1.2.3.4:port`, `[::1]:port` or a bare `::1`.
    pub fn parse(spec: &str, default_port: u16) -> Result<Target, AddressError> {
        let spec = spec.trim();
        if spec.is_empty() {
            return Err(AddressError::Empty);
        }
        if let Some(rest) = spec.strip_prefix('[') {
            let (host, after) = rest
                .split_once(']')
                .ok_or_else(|| AddressError::UnclosedBracket { spec: spec.into() })?;
            let port = match after.strip_prefix(':') {
                Some(p) => parse_port(p, spec)?,
                None if after.is_empty() => default_port,
                None => {
                    return Err(AddressError::AfterBracket {
                        spec: spec.into(),
                        after: after.into(),
                    });
                }
            };
            return Ok(Target {
                host: host.to_string(),
                port,
            });
        }
        // More than one colon and no brackets: a bare IPv6 address, or nothing usable.
        if spec.matches(':').count() > 1 {
            if spec.parse::<std::net::Ipv6Addr>().is_err() {
                return Err(AddressError::BadIpv6 { spec: spec.into() });
            }
            return Ok(Target {
                host: spec.to_string(),
                port: default_port,
            });
        }
        match spec.split_once(':') {
            Some((host, port)) if !host.is_empty() => Ok(Target {
                host: host.to_string(),
                port: parse_port(port, spec)?,
            }),
            Some(_) => Err(AddressError::NoHost { spec: spec.into() }),
            None => Ok(Target {
                host: spec.to_string(),
                port: default_port,
            }),
        }
    }
}

fn parse_port(p: &str, spec: &str) -> Result<u16, AddressError> {
    match p.parse::<u16>() {
        Ok(0) | Err(_) => Err(AddressError::BadPort {
            spec: spec.into(),
            port: p.into(),
        }),
        Ok(n) => Ok(n),
    }
}

/// Which addresses of a name to try (`-4`, `-6`), and where to connect from.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct Origin {
    pub family: Family,
    /// Bind to this local address (port 0: any) before connecting (`--local-address`).
    pub local: Option<SocketAddr>,
}

#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub enum Family {
    #[default]
    Any,
    V4,
    V6,
}

impl Family {
    fn admits(self, addr: &SocketAddr) -> bool {
        match self {
            Family::Any => true,
            Family::V4 => addr.is_ipv4(),
            Family::V6 => addr.is_ipv6(),
        }
    }
}

async fn connect_one(addr: SocketAddr, local: Option<SocketAddr>) -> std::io::Result<TcpStream> {
    let Some(local) = local else {
        return TcpStream::connect(addr).await;
    };
    let socket = if addr.is_ipv4() {
        tokio::net::TcpSocket::new_v4()?
    } else {
        tokio::net::TcpSocket::new_v6()?
    };
    socket.bind(local)?;
    socket.connect(addr).await
}

/// Resolves and connects, trying each address in turn within `timeout` overall.
pub async fn connect(
    target: &Target,
    timeout: Duration,
) -> Result<(TcpStream, SocketAddr), NetError> {
    connect_from(target, timeout, Origin::default()).await
}

/// [`connect`], limited to one address family and bound to a local address if asked.
pub async fn connect_from(
    target: &Target,
    timeout: Duration,
    origin: Origin,
) -> Result<(TcpStream, SocketAddr), NetError> {
    let deadline = tokio::time::Instant::now() + timeout;
    let addrs: Vec<SocketAddr> = match tokio::time::timeout_at(
        deadline,
        tokio::net::lookup_host((target.host.as_str(), target.port)),
    )
    .await
    {
        Err(_) => {
            return Err(NetError::ConnectTimeout {
                target: target.to_string(),
                secs: timeout.as_secs_f64(),
            });
        }
        Ok(Err(source)) => {
            return Err(NetError::Resolve {
                host: target.host.clone(),
                reason: source.to_string(),
            });
        }
        Ok(Ok(addrs)) => addrs.collect(),
    };
    if addrs.is_empty() {
        return Err(NetError::Resolve {
            host: target.host.clone(),
            reason: "no addresses".into(),
        });
    }
    // The local address decides the family too: a v4 source cannot reach a v6 server.
    let local_family = match origin.local {
        Some(SocketAddr::V4(_)) => Family::V4,
        Some(SocketAddr::V6(_)) => Family::V6,
        None => Family::Any,
    };
    let addrs: Vec<SocketAddr> = addrs
        .into_iter()
        .filter(|a| origin.family.admits(a) && local_family.admits(a))
        .collect();
    if addrs.is_empty() {
        return Err(NetError::Resolve {
            host: target.host.clone(),
            reason: match (origin.family, local_family) {
                (Family::V4, _) | (_, Family::V4) => {
                    "no IPv4 address (-4 or an IPv4 --local-address)"
                }
                _ => "no IPv6 address (-6 or an IPv6 --local-address)",
            }
            .into(),
        });
    }
    let mut last = None;
    for addr in addrs {
        match tokio::time::timeout_at(deadline, connect_one(addr, origin.local)).await {
            Err(_) => {
                return Err(NetError::ConnectTimeout {
                    target: format!("{target} ({addr})"),
                    secs: timeout.as_secs_f64(),
                });
            }
            Ok(Ok(stream)) => {
                // Commands are small and interactive; Nagle would only add latency.
                let _ = stream.set_nodelay(true);
                return Ok((stream, addr));
            }
            Ok(Err(e)) => last = Some((addr, e)),
        }
    }
    Err(match last {
        Some((addr, e)) if e.kind() == std::io::ErrorKind::ConnectionRefused => NetError::Refused {
            target: format!("{target} ({addr})"),
        },
        Some((addr, e)) => NetError::Connect {
            target: format!("{target} ({addr})"),
            reason: e.to_string(),
        },
        None => NetError::Resolve {
            host: target.host.clone(),
            reason: "no addresses".into(),
        },
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn parses_every_address_form() {
        let t = |s: &str| Target::parse(s, 25);
        assert_eq!(
            t("mx.example.com"),
            Ok(Target {
                host: "mx.example.com".into(),
                port: 25
            })
        );
        assert_eq!(
            t("mx.example.com:587"),
            Ok(Target {
                host: "mx.example.com".into(),
                port: 587
            })
        );
        assert_eq!(
            t("127.0.0.1:2525"),
            Ok(Target {
                host: "127.0.0.1".into(),
                port: 2525
            })
        );
        assert_eq!(
            t("[::1]:2525"),
            Ok(Target {
                host: "::1".into(),
                port: 2525
            })
        );
        assert_eq!(
            t("[::1]"),
            Ok(Target {
                host: "::1".into(),
                port: 25
            })
        );
        assert_eq!(
            t("::1"),
            Ok(Target {
                host: "::1".into(),
                port: 25
            })
        );
        assert!(t("").is_err());
        assert!(t("host:0").is_err());
        assert!(t("host:99999").is_err());
        assert!(t(":25").is_err());
        assert!(t("[::1").is_err());
        // Not an address at all: a usage error now, not a failed lookup later.
        assert!(matches!(t(":::"), Err(AddressError::BadIpv6 { .. })));
        assert!(matches!(t("a:b:c"), Err(AddressError::BadIpv6 { .. })));
        assert_eq!(
            Target {
                host: "::1".into(),
                port: 25
            }
            .to_string(),
            "[::1]:25"
        );
    }

    #[tokio::test]
    async fn refused_connection_is_named() {
        let listener = std::net::TcpListener::bind("127.0.0.1:0").expect("bind");
        let port = listener.local_addr().expect("addr").port();
        drop(listener);
        let target = Target {
            host: "127.0.0.1".into(),
            port,
        };
        let err = connect(&target, Duration::from_secs(5))
            .await
            .expect_err("nothing listens");
        assert!(matches!(err, NetError::Refused { .. }), "{err}");
        assert!(err.to_string().contains("refused"), "{err}");
    }
}
