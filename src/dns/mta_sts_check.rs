//! MTA-STS end to end (RFC 8461): the TXT record's id, the policy fetched over HTTPS from
//! `mta-sts.<domain>`, and every MX checked against the policy's patterns and for a
//! certificate valid for its name. `mode: enforce` with an MX that fails is FAIL.

use std::net::SocketAddr;
use std::time::{Duration, Instant};

use super::mta_sts::{self, Mode, Policy};
use super::posture::{result_with, step};
use super::resolve::Dns;
use crate::net::exchange::reach_tls;
use crate::net::https::{self, Limits};
use crate::net::tls::TlsOptions;
use crate::net::{ConnectOptions, NetError};
use crate::scenario::Verdict;
use crate::scenario::runner::{ScenarioResult, StepResult};

/// Policy bodies are a few hundred bytes; 64 KiB is generous and still bounded.
pub const MAX_POLICY_BYTES: usize = 64 * 1024;
/// The whole fetch: connect, handshake, request, answer.
pub const FETCH_TIMEOUT: Duration = Duration::from_secs(10);
pub const POLICY_PATH: &str = "/.well-known/mta-sts.txt";
/// A max_age under a day makes senders refetch constantly and protects little.
const SHORT_MAX_AGE: u64 = 86_400;

/// The TXT record's id, if a `v=STSv1` record is there.
fn txt_id(records: &[String]) -> Option<String> {
    records
        .iter()
        .find(|r| r.trim_start().starts_with("v=STSv1"))
        .map(|r| {
            r.split(';')
                .filter_map(|kv| kv.trim().strip_prefix("id="))
                .next()
                .unwrap_or("")
                .to_string()
        })
}

/// Why the policy could not be fetched.
#[derive(Debug, thiserror::Error)]
enum FetchFailure {
    #[error(transparent)]
    Resolve(#[from] super::resolve::DnsError),
    #[error("{0} has no address")]
    NoAddress(String),
    #[error(transparent)]
    Fetch(#[from] https::FetchError),
}

/// Why an MX does not show MTA-STS senders a certificate valid for its name.
#[derive(Debug, thiserror::Error)]
enum MxCertFailure {
    #[error("certificate not valid: {0}")]
    Invalid(String),
    #[error(transparent)]
    Net(#[from] NetError),
    #[error("no TLS session")]
    NoTls,
}

async fn fetch(
    dns: &Dns,
    host: &str,
    port: u16,
    trust: &TlsOptions,
) -> Result<https::Response, FetchFailure> {
    let ip = dns
        .addresses(host)
        .await?
        .into_iter()
        .next()
        .ok_or_else(|| FetchFailure::NoAddress(host.to_string()))?;
    https::get(
        host,
        SocketAddr::new(ip, port),
        POLICY_PATH,
        trust,
        Limits {
            max_body: MAX_POLICY_BYTES,
            timeout: FETCH_TIMEOUT,
        },
    )
    .await
    .map_err(FetchFailure::from)
}

/// Whether `host` presents a certificate valid for its name (verification on, whatever the
/// run's `--insecure`: MTA-STS senders always verify).
///
/// The name is always the MX host name from DNS, never the run's `--tls-name`: RFC 8461 §4.1
/// has senders check the certificate against the MX host they are delivering to (and send it
/// as SNI), so an override would make this check pass a server every sender refuses. An
/// override that differs is said in the result, so the operator sees it was not used here.
async fn mx_certificate(
    host: &str,
    opts: &ConnectOptions,
    helo: &str,
) -> Result<String, MxCertFailure> {
    let mut opts = opts.clone();
    // `host` is an MX name from DNS, or "address:port" for a server given directly, which
    // has no MX name to check: then the name the run verifies is all there is.
    let is_mx_name = matches!(
        crate::net::tls::server_name(host),
        Ok(rustls::pki_types::ServerName::DnsName(_))
    );
    let overridden = if is_mx_name {
        opts.tls
            .tls_name
            .replace(host.to_string())
            .filter(|given| !given.eq_ignore_ascii_case(host))
    } else {
        None
    };
    let not_used = overridden
        .map(|given| {
            format!(
                " (the MX name, as RFC 8461 checks it; the name {given} set by {} is not used here)",
                opts.front_end.name(crate::advice::Control::TlsName)
            )
        })
        .unwrap_or_default();
    let reached = reach_tls(&opts, helo, false).await;
    let rejected = reached.rejected.and_then(|t| t.verification.failure);
    match (reached.result, reached.info, rejected) {
        (Ok(()), Some(t), _) => Ok(format!(
            "certificate valid for {}{not_used}",
            t.verification.name
        )),
        (_, _, Some(f)) => Err(MxCertFailure::Invalid(format!("{f}{not_used}"))),
        (Err(e), _, None) => Err(e.into()),
        (Ok(()), None, None) => Err(MxCertFailure::NoTls),
    }
}

fn policy_text(id: &str, p: &Policy) -> String {
    format!(
        "TXT id={id}; policy: mode: {}; mx: {}; max_age: {}",
        p.mode.as_str(),
        p.mx.join(", "),
        p.max_age
    )
}

/// The MTA-STS check of `domain`; `mx` are its MX hosts with how to reach each, `port` where
/// the policy server listens (443; other values only in tests).
pub async fn check(
    dns: &Dns,
    domain: &str,
    mx: &[(String, ConnectOptions)],
    trust: &TlsOptions,
    helo: &str,
    port: u16,
) -> ScenarioResult {
    let started = Instant::now();
    let label = "MTA-STS policy";
    let id = "posture-mta-sts-policy";
    let txt_name = format!("_mta-sts.{domain}");
    let policy_host = format!("mta-sts.{domain}");
    let url = format!("https://{policy_host}{POLICY_PATH}");
    let txt = match dns.txt(&txt_name).await {
        Ok(t) => t,
        Err(e) => {
            let st = step(
                format!("TXT {txt_name}"),
                None,
                Verdict::Inconclusive,
                e.to_string(),
                started,
            );
            return result_with(id, label, vec![st], None);
        }
    };
    let Some(txt_id) = txt_id(&txt) else {
        let st = step(
            format!("TXT {txt_name}"),
            None,
            Verdict::Warn,
            format!("no v=STSv1 record at {txt_name}: senders do not look for a policy"),
            started,
        );
        return result_with(id, label, vec![st], None);
    };
    let fail = |reason: String, found: Option<String>| {
        let st = step(format!("GET {url}"), found, Verdict::Fail, reason, started);
        result_with(id, label, vec![st], None)
    };
    let response = match fetch(dns, &policy_host, port, trust).await {
        Ok(r) => r,
        Err(e) => {
            return fail(
                format!(
                    "TXT id={txt_id} announces a policy, but it cannot be fetched: {e} (senders then skip MTA-STS)"
                ),
                None,
            );
        }
    };
    if (300..400).contains(&response.status) {
        return fail(
            format!(
                "HTTP {} redirect to {}: refused, RFC 8461 §3.3 forbids following redirects; serve the policy at {url} itself",
                response.status,
                response.header("location").unwrap_or("(no Location)")
            ),
            None,
        );
    }
    if response.status != 200 {
        return fail(
            format!(
                "HTTP {}: the policy must be served with 200",
                response.status
            ),
            None,
        );
    }
    let policy = match mta_sts::parse(&response.body) {
        Ok(p) => p,
        Err(e) => {
            return fail(
                format!("the policy does not parse: {e}"),
                Some(
                    String::from_utf8_lossy(&response.body)
                        .chars()
                        .take(200)
                        .collect(),
                ),
            );
        }
    };
    let mut steps: Vec<StepResult> = Vec::new();
    let content_type = response.header("content-type").unwrap_or("");
    let (v, why) = if !content_type.to_ascii_lowercase().starts_with("text/plain") {
        (
            Verdict::Warn,
            format!("served as {content_type:?}; RFC 8461 §3.2 wants text/plain"),
        )
    } else if policy.max_age < SHORT_MAX_AGE {
        (
            Verdict::Warn,
            format!(
                "max_age {} s is under a day: senders refetch constantly and cache it briefly",
                policy.max_age
            ),
        )
    } else {
        (
            Verdict::Pass,
            format!("policy fetched and valid (mode {})", policy.mode.as_str()),
        )
    };
    steps.push(step(
        format!("GET {url}"),
        Some(policy_text(&txt_id, &policy)),
        v,
        why,
        started,
    ));
    // In enforce mode a failing MX loses mail; in testing it is only reported.
    let miss = match policy.mode {
        Mode::Enforce => Verdict::Fail,
        Mode::Testing | Mode::None => Verdict::Warn,
    };
    for (host, opts) in mx {
        let cover = policy.covering(host).map(str::to_string);
        let cert = mx_certificate(host, opts, helo).await;
        let (verdict, reason) = match (&cover, &cert) {
            (Some(p), Ok(c)) => (Verdict::Pass, format!("matches mx: {p}; {c}")),
            (None, _) => (
                miss,
                format!(
                    "{host} matches no mx: pattern ({}){}",
                    policy.mx.join(", "),
                    if policy.mode == Mode::Enforce {
                        ": enforcing senders will not deliver to it"
                    } else {
                        ""
                    }
                ),
            ),
            (Some(p), Err(e)) => (
                miss,
                format!(
                    "matches mx: {p}, but {e}{}",
                    if policy.mode == Mode::Enforce {
                        ": enforcing senders will not deliver to it"
                    } else {
                        ""
                    }
                ),
            ),
        };
        steps.push(step(format!("MX {host}"), None, verdict, reason, started));
    }
    let overall = if policy.mode == Mode::None {
        Some((
            Verdict::Warn,
            "mode none: the policy is withdrawn, senders stop applying it".to_string(),
        ))
    } else if policy.mode == Mode::Testing && steps.iter().all(|s| s.verdict == Verdict::Pass) {
        Some((
            Verdict::Warn,
            "mode testing: every MX passes; failures would only be reported, switch to enforce"
                .to_string(),
        ))
    } else {
        None
    };
    result_with(id, label, steps, overall)
}

#[cfg(test)]
#[allow(clippy::unwrap_used, clippy::expect_used)] // test code
mod tests {
    use super::*;

    #[test]
    fn the_new_checks_have_teaching_texts_with_fixes() {
        let text = super::super::posture::explain();
        for want in [
            "DANE: the MX certificate pinned in DNSSEC",
            "smtp_tls_security_level = dane",
            "hosts_try_dane",
            "MTA-STS policy: the HTTPS half",
            "mode: testing",
        ] {
            assert!(
                text.contains(want),
                "{want:?} missing from the posture teaching"
            );
        }
    }

    #[test]
    fn the_txt_id_is_found() {
        assert_eq!(
            txt_id(&["v=STSv1; id=20260101T0000".into()]).as_deref(),
            Some("20260101T0000")
        );
        assert_eq!(txt_id(&["v=spf1 -all".into()]), None);
    }
}
