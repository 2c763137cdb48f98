//! From a mail domain to connection targets, through the DNS server the target names, so the
//! host names resolve on the same server the MX records came from.

use std::net::SocketAddr;

use super::TargetError;
use crate::dns::resolve::{Dns, MailHosts};
use crate::net::{ConnectOptions, Target};

pub async fn targets(
    domain: &str,
    dns_server: Option<SocketAddr>,
    base: &ConnectOptions,
    port: u16,
    all: bool,
) -> Result<Vec<(String, ConnectOptions)>, TargetError> {
    let lookup = |e: &dyn std::fmt::Display| TargetError::Lookup {
        domain: domain.to_string(),
        reason: e.to_string(),
    };
    let dns = Dns::new(dns_server).map_err(|e| lookup(&e))?;
    let hosts: Vec<String> = match dns.mail_hosts(domain).await.map_err(|e| lookup(&e))? {
        MailHosts::Mx { hosts, .. } => hosts.into_iter().map(|(_, h)| h).collect(),
        MailHosts::Implicit { .. } => vec![domain.to_string()],
        MailHosts::NullMx => {
            return Err(TargetError::NullMx {
                domain: domain.to_string(),
            });
        }
        MailHosts::Nothing => {
            return Err(TargetError::NoMailHost {
                domain: domain.to_string(),
            });
        }
    };
    let mut out = Vec::new();
    for host in hosts.iter().take(if all { usize::MAX } else { 1 }) {
        let ip = dns
            .addresses_if_any(host)
            .await
            .map_err(|e| lookup(&e))?
            .into_iter()
            .next()
            .ok_or_else(|| TargetError::MxWithoutAddress { host: host.clone() })?;
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
    if out.is_empty() {
        return Err(TargetError::NoMailHost {
            domain: domain.to_string(),
        });
    }
    Ok(out)
}
