//! DNS lookups for targets and posture: a resolver (the system's, or one given as
//! `--dns-server IP:PORT`), MX with RFC 7505 null MX and the RFC 5321 §5.1 fallback to A/AAAA,
//! and TXT records with their character-strings joined.

use std::net::{IpAddr, SocketAddr};
use std::time::Duration;

use hickory_resolver::config::{ConnectionConfig, NameServerConfig, ResolverConfig, ResolverOpts};
use hickory_resolver::net::NetError;
use hickory_resolver::net::runtime::TokioRuntimeProvider;
use hickory_resolver::proto::op::ResponseCode;
use hickory_resolver::proto::rr::{RData, RecordType};
use hickory_resolver::{Resolver, TokioResolver};

/// Why a DNS lookup could not be made or answered. "No such record" and NXDOMAIN are answers,
/// not errors: they come back as empty results.
///
/// The resolver's error is part of each message, so it is kept as a field rather than offered
/// again as `source()`, which would print it twice in a chained report. It is boxed because
/// it is large, and every `Result` returned here would otherwise carry its size.
#[derive(Debug, Clone, thiserror::Error)]
pub enum DnsError {
    #[error("cannot read the system's DNS configuration: {cause}")]
    SystemConfig { cause: Box<NetError> },
    #[error("cannot build a DNS resolver: {cause}")]
    Build { cause: Box<NetError> },
    /// A query failed or timed out; `server` is the resolver's label, as in [`Dns::server`].
    /// The cause is worded by [`describe`]: the resolver's own text for "no records" is a Rust
    /// Debug form of the query, never shown.
    #[error("{query} {name} via {server}: {}", describe(cause))]
    Lookup {
        query: Query,
        name: String,
        server: String,
        cause: Box<NetError>,
    },
    /// A question asked directly (not through the resolver library) failed.
    #[error("{query} {name} via {server}: {reason}")]
    Raw {
        query: Query,
        name: String,
        server: String,
        reason: String,
    },
}

/// A resolver error in words: "no records" answers name the response, not the query's Debug form.
fn describe(cause: &NetError) -> String {
    if cause.is_nx_domain() {
        "no such name (NXDOMAIN)".to_string()
    } else if cause.is_no_records_found() {
        "no records of that type".to_string()
    } else {
        cause.to_string()
    }
}

/// The kind of query that failed, written as the record types asked for.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Query {
    Txt,
    Mx,
    Tlsa,
    /// A and AAAA together, as one address lookup.
    Address,
    Cname,
}

impl std::fmt::Display for Query {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(match self {
            Query::Txt => "TXT",
            Query::Mx => "MX",
            Query::Tlsa => "TLSA",
            Query::Address => "A/AAAA",
            Query::Cname => "CNAME",
        })
    }
}

/// One TLSA record (RFC 6698 §2.1), its fields as numbers.
#[derive(Debug, Clone, PartialEq, Eq, serde::Serialize)]
pub struct TlsaRecord {
    pub usage: u8,
    pub selector: u8,
    pub matching: u8,
    pub data: Vec<u8>,
}

impl std::fmt::Display for TlsaRecord {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "{} {} {} ", self.usage, self.selector, self.matching)?;
        for b in &self.data {
            write!(f, "{b:02x}")?;
        }
        Ok(())
    }
}

pub struct Dns {
    resolver: TokioResolver,
    pub server: String,
    /// Where TLSA questions go (asked directly, to request the AD bit).
    direct: Option<SocketAddr>,
}

/// Where a domain's mail goes.
#[derive(Debug, Clone, PartialEq, Eq, serde::Serialize)]
#[serde(tag = "kind", rename_all = "kebab-case")]
pub enum MailHosts {
    /// MX hosts in preference order, without the root: a null MX ("0 .") published beside
    /// other MX records (against RFC 7505 §3) is left out of `hosts` and flagged in `null_mx_too`.
    Mx {
        hosts: Vec<(u16, String)>,
        #[serde(skip_serializing_if = "std::ops::Not::not")]
        null_mx_too: bool,
    },
    /// RFC 7505: the domain accepts no mail.
    NullMx,
    /// No MX: mail goes to the domain's own address (RFC 5321 §5.1).
    Implicit { addresses: Vec<IpAddr> },
    /// Neither MX nor an address.
    Nothing,
}

fn fqdn(name: &str) -> String {
    if name.ends_with('.') {
        name.to_string()
    } else {
        format!("{name}.")
    }
}

impl Dns {
    /// A resolver for `server`, or the system's when `None`.
    pub fn new(server: Option<SocketAddr>) -> Result<Dns, DnsError> {
        let mut opts = ResolverOpts::default();
        opts.timeout = Duration::from_secs(5);
        opts.attempts = 2;
        opts.cache_size = 256;
        let direct = server.or_else(|| {
            hickory_resolver::system_conf::read_system_conf()
                .ok()
                .and_then(|(conf, _)| {
                    conf.name_servers().first().map(|ns| {
                        let port = ns.connections.first().map_or(53, |c| c.port);
                        SocketAddr::new(ns.ip, port)
                    })
                })
        });
        let (builder, label) = match server {
            Some(addr) => {
                let mut ns = NameServerConfig::udp_and_tcp(addr.ip());
                let mut udp = ConnectionConfig::udp();
                udp.port = addr.port();
                let mut tcp = ConnectionConfig::tcp();
                tcp.port = addr.port();
                ns.connections = vec![udp, tcp];
                (
                    Resolver::builder_with_config(
                        ResolverConfig::from_name_servers(vec![ns]),
                        TokioRuntimeProvider::default(),
                    ),
                    addr.to_string(),
                )
            }
            None => (
                Resolver::builder_tokio()
                    .map_err(|e| DnsError::SystemConfig { cause: Box::new(e) })?,
                "the system resolver".to_string(),
            ),
        };
        let resolver = builder
            .with_options(opts)
            .build()
            .map_err(|e| DnsError::Build { cause: Box::new(e) })?;
        Ok(Dns {
            resolver,
            server: label,
            direct,
        })
    }

    /// The TXT records at `name`, each one's strings joined (RFC 7208 §3.3); none is empty.
    pub async fn txt(&self, name: &str) -> Result<Vec<String>, DnsError> {
        match self.resolver.txt_lookup(fqdn(name)).await {
            Ok(lookup) => Ok(lookup
                .answers()
                .iter()
                .filter_map(|r| match &r.data {
                    RData::TXT(txt) => Some(
                        txt.txt_data
                            .iter()
                            .map(|s| String::from_utf8_lossy(s).into_owned())
                            .collect::<String>(),
                    ),
                    _ => None,
                })
                .collect()),
            Err(e) if e.is_no_records_found() || e.is_nx_domain() => Ok(Vec::new()),
            Err(e) => Err(self.lookup_error(Query::Txt, name, e)),
        }
    }

    /// The TLSA records at `name` as (usage, selector, matching type, data), and whether the
    /// resolver marked the answer as DNSSEC-validated (the AD bit). Asked directly, with AD
    /// and DO set in the query: a validating resolver sets AD in its answer only when asked
    /// (RFC 6840 §5.7), and the resolver library would not ask.
    pub async fn tlsa(&self, name: &str) -> Result<(Vec<TlsaRecord>, bool), DnsError> {
        let raw = |reason: String| DnsError::Raw {
            query: Query::Tlsa,
            name: name.to_string(),
            server: self.server.clone(),
            reason,
        };
        let server = self
            .direct
            .ok_or_else(|| raw("no DNS server address to ask".into()))?;
        let answer = super::direct::query(server, &fqdn(name), RecordType::TLSA)
            .await
            .map_err(|e| raw(e.to_string()))?;
        match answer.metadata.response_code {
            ResponseCode::NoError => {}
            ResponseCode::NXDomain => return Ok((Vec::new(), answer.metadata.authentic_data)),
            other => return Err(raw(format!("answered {other}"))),
        }
        let records = answer
            .answers
            .iter()
            .filter_map(|r| match &r.data {
                RData::TLSA(t) => Some(TlsaRecord {
                    usage: t.cert_usage.into(),
                    selector: t.selector.into(),
                    matching: t.matching.into(),
                    data: t.cert_data.clone(),
                }),
                _ => None,
            })
            .collect();
        Ok((records, answer.metadata.authentic_data))
    }

    /// The MX records at `domain` as (preference, exchange), the exchange without its final
    /// dot and the root written "."; empty for NXDOMAIN or no MX.
    pub async fn mx(&self, domain: &str) -> Result<Vec<(u16, String)>, DnsError> {
        match self.resolver.mx_lookup(fqdn(domain)).await {
            Ok(lookup) => Ok(lookup
                .answers()
                .iter()
                .filter_map(|r| match &r.data {
                    RData::MX(mx) => {
                        let name = mx.exchange.to_ascii();
                        let name = name.trim_end_matches('.');
                        Some((
                            mx.preference,
                            if name.is_empty() {
                                ".".to_string()
                            } else {
                                name.to_string()
                            },
                        ))
                    }
                    _ => None,
                })
                .collect()),
            Err(e) if e.is_no_records_found() || e.is_nx_domain() => Ok(Vec::new()),
            Err(e) => Err(self.lookup_error(Query::Mx, domain, e)),
        }
    }

    pub async fn mail_hosts(&self, domain: &str) -> Result<MailHosts, DnsError> {
        let mx = self.mx(domain).await?;
        let null_mx_too = mx.iter().any(|(_, h)| h == ".");
        if null_mx_too && mx.len() == 1 {
            return Ok(MailHosts::NullMx);
        }
        if mx.is_empty() {
            let addresses = self.addresses_if_any(domain).await?;
            return Ok(if addresses.is_empty() {
                MailHosts::Nothing
            } else {
                MailHosts::Implicit { addresses }
            });
        }
        // The root is no host: senders skip it (RFC 7505 §3 forbids publishing it here).
        let mut hosts: Vec<(u16, String)> = mx.into_iter().filter(|(_, h)| h != ".").collect();
        hosts.sort();
        Ok(MailHosts::Mx { hosts, null_mx_too })
    }

    /// The addresses (A and AAAA) of `name`; empty for NXDOMAIN or no address records, which
    /// SPF counts as a void lookup (RFC 7208 §4.6.4).
    pub async fn addresses_if_any(&self, name: &str) -> Result<Vec<IpAddr>, DnsError> {
        match self.resolver.lookup_ip(fqdn(name)).await {
            Ok(ips) => Ok(ips.iter().collect()),
            Err(e) if e.is_no_records_found() || e.is_nx_domain() => Ok(Vec::new()),
            Err(e) => Err(self.lookup_error(Query::Address, name, e)),
        }
    }

    /// The target of a CNAME record at `name`, if it has one (an alias, not a host's own name).
    pub async fn cname(&self, name: &str) -> Result<Option<String>, DnsError> {
        match self.resolver.lookup(fqdn(name), RecordType::CNAME).await {
            Ok(lookup) => Ok(lookup.answers().iter().find_map(|r| match &r.data {
                RData::CNAME(target) => Some(target.0.to_ascii().trim_end_matches('.').to_string()),
                _ => None,
            })),
            Err(e) if e.is_no_records_found() || e.is_nx_domain() => Ok(None),
            Err(e) => Err(self.lookup_error(Query::Cname, name, e)),
        }
    }

    /// The addresses of a host, for connecting to an MX on a resolver of our choosing.
    pub async fn addresses(&self, host: &str) -> Result<Vec<IpAddr>, DnsError> {
        self.resolver
            .lookup_ip(fqdn(host))
            .await
            .map(|ips| ips.iter().collect())
            .map_err(|e| self.lookup_error(Query::Address, host, e))
    }

    fn lookup_error(&self, query: Query, name: &str, cause: NetError) -> DnsError {
        DnsError::Lookup {
            query,
            name: name.to_string(),
            server: self.server.clone(),
            cause: Box::new(cause),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn lookup_error_names_the_query_and_keeps_the_cause() {
        let e = DnsError::Lookup {
            query: Query::Address,
            name: "mx.example.com".into(),
            server: "127.0.0.1:5353".into(),
            cause: Box::new(NetError::Timeout),
        };
        assert_eq!(
            e.to_string(),
            "A/AAAA mx.example.com via 127.0.0.1:5353: request timed out"
        );
        let DnsError::Lookup { query, cause, .. } = e else {
            panic!("not a lookup error: {e:?}");
        };
        assert_eq!(query, Query::Address);
        assert!(matches!(*cause, NetError::Timeout));
    }
}
