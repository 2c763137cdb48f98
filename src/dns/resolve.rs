//! DNS lookups for targets and posture: a resolver (the system's, or one given as
//! `--dns-server IP:PORT`), MX with RFC 7505 null MX and the RFC 5321 §5.1 fallback to A/AAAA,
//! and TXT records with their character-strings joined.

use std::net::{IpAddr, SocketAddr};
use std::time::Duration;

use hickory_resolver::config::{ConnectionConfig, NameServerConfig, ResolverConfig, ResolverOpts};
use hickory_resolver::net::runtime::TokioRuntimeProvider;
use hickory_resolver::{Resolver, TokioResolver};

pub struct Dns {
    resolver: TokioResolver,
    pub server: String,
}

/// Where a domain's mail goes.
#[derive(Debug, Clone, PartialEq, Eq, serde::Serialize)]
#[serde(tag = "kind", rename_all = "kebab-case")]
pub enum MailHosts {
    /// MX hosts in preference order.
    Mx { hosts: Vec<(u16, String)> },
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
    pub fn new(server: Option<SocketAddr>) -> Result<Dns, String> {
        let mut opts = ResolverOpts::default();
        opts.timeout = Duration::from_secs(5);
        opts.attempts = 2;
        opts.cache_size = 256;
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
                    .map_err(|e| format!("cannot read the system's DNS configuration: {e}"))?,
                "the system resolver".to_string(),
            ),
        };
        let resolver = builder
            .with_options(opts)
            .build()
            .map_err(|e| format!("cannot build a DNS resolver: {e}"))?;
        Ok(Dns {
            resolver,
            server: label,
        })
    }

    /// The TXT records at `name`, each one's strings joined (RFC 7208 §3.3); none is empty.
    pub async fn txt(&self, name: &str) -> Result<Vec<String>, String> {
        match self.resolver.txt_lookup(fqdn(name)).await {
            Ok(lookup) => Ok(lookup
                .answers()
                .iter()
                .filter_map(|r| match &r.data {
                    hickory_resolver::proto::rr::RData::TXT(txt) => Some(
                        txt.txt_data
                            .iter()
                            .map(|s| String::from_utf8_lossy(s).into_owned())
                            .collect::<String>(),
                    ),
                    _ => None,
                })
                .collect()),
            Err(e) if e.is_no_records_found() || e.is_nx_domain() => Ok(Vec::new()),
            Err(e) => Err(format!("TXT {name} via {}: {e}", self.server)),
        }
    }

    pub async fn mail_hosts(&self, domain: &str) -> Result<MailHosts, String> {
        let mx = match self.resolver.mx_lookup(fqdn(domain)).await {
            Ok(lookup) => lookup
                .answers()
                .iter()
                .filter_map(|r| match &r.data {
                    hickory_resolver::proto::rr::RData::MX(mx) => {
                        Some((mx.preference, mx.exchange.to_ascii()))
                    }
                    _ => None,
                })
                .collect::<Vec<_>>(),
            Err(e) if e.is_no_records_found() || e.is_nx_domain() => Vec::new(),
            Err(e) => return Err(format!("MX {domain} via {}: {e}", self.server)),
        };
        if mx.len() == 1 && (mx[0].1 == "." || mx[0].1.is_empty()) {
            return Ok(MailHosts::NullMx);
        }
        if mx.is_empty() {
            let addresses = match self.resolver.lookup_ip(fqdn(domain)).await {
                Ok(ips) => ips.iter().collect(),
                Err(e) if e.is_no_records_found() || e.is_nx_domain() => Vec::new(),
                Err(e) => return Err(format!("A/AAAA {domain} via {}: {e}", self.server)),
            };
            return Ok(if addresses.is_empty() {
                MailHosts::Nothing
            } else {
                MailHosts::Implicit { addresses }
            });
        }
        let mut hosts: Vec<(u16, String)> = mx
            .into_iter()
            .map(|(p, h)| (p, h.trim_end_matches('.').to_string()))
            .collect();
        hosts.sort();
        Ok(MailHosts::Mx { hosts })
    }

    /// The addresses of a host, for connecting to an MX on a resolver of our choosing.
    pub async fn addresses(&self, host: &str) -> Result<Vec<IpAddr>, String> {
        self.resolver
            .lookup_ip(fqdn(host))
            .await
            .map(|ips| ips.iter().collect())
            .map_err(|e| format!("A/AAAA {host} via {}: {e}", self.server))
    }
}
