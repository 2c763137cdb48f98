//! Domain posture: where mail for a domain goes, and its SPF, DMARC, MTA-STS, TLS-RPT and DKIM
//! records — each judged PASS / WARN / FAIL with the record as found and a reason.

use std::time::Instant;

use super::resolve::{Dns, MailHosts};
use super::{dmarc, spf, txt_records};
use crate::scenario::Verdict;
use crate::scenario::model::Role;
use crate::scenario::runner::{ReplySummary, ScenarioResult, StepResult};

/// RFC 7208 §4.6.4: at most 10 DNS-querying terms per SPF evaluation.
const SPF_LOOKUP_LIMIT: usize = 10;

/// Teaching text per check, embedded from assets/teaching/posture.toml.
#[derive(Debug, serde::Deserialize)]
struct Teaching {
    title: String,
    what: String,
}

fn teaching(id: &str) -> (String, String) {
    let table: std::collections::BTreeMap<String, Teaching> =
        toml::from_str(include_str!("../../assets/teaching/posture.toml")).unwrap_or_default();
    table.get(id).map_or((id.to_string(), String::new()), |t| {
        (t.title.clone(), t.what.clone())
    })
}

pub(crate) fn step(
    command: String,
    found: Option<String>,
    verdict: Verdict,
    reason: String,
    started: Instant,
) -> StepResult {
    StepResult {
        name: None,
        command,
        expected: String::new(),
        reply: found.map(|text| ReplySummary {
            code: None,
            enhanced: None,
            text,
        }),
        verdict,
        reason,
        elapsed_ms: started.elapsed().as_millis() as u64,
        role: Role::Probe,
        note: None,
        edited: false,
    }
}

fn result(id: &str, label: &str, steps: Vec<StepResult>) -> ScenarioResult {
    result_with(id, label, steps, None)
}

/// A result whose verdict is `overall` when given, else the worst step's.
pub(crate) fn result_with(
    id: &str,
    label: &str,
    steps: Vec<StepResult>,
    overall: Option<(Verdict, String)>,
) -> ScenarioResult {
    let (title, _) = teaching(id);
    let (verdict, reason) = overall.unwrap_or_else(|| worst(&steps));
    ScenarioResult {
        scenario: label.to_string(),
        id: id.to_string(),
        title,
        verdict,
        reason,
        steps,
        elapsed_ms: 0,
        transcripts: Vec::new(),
        needs_control: false,
        edited: Vec::new(),
    }
}

fn worst(steps: &[StepResult]) -> (Verdict, String) {
    for v in [
        Verdict::Fail,
        Verdict::Inconclusive,
        Verdict::Warn,
        Verdict::Skipped,
        Verdict::Pass,
    ] {
        if let Some(s) = steps.iter().find(|s| s.verdict == v) {
            return (v, s.reason.clone());
        }
    }
    (Verdict::Inconclusive, "nothing checked".into())
}

/// Where the domain's mail goes: reported, and the targets to test.
pub async fn mail_hosts(dns: &Dns, domain: &str) -> (ScenarioResult, MailHosts) {
    let started = Instant::now();
    let (hosts, st) = match dns.mail_hosts(domain).await {
        Ok(h) => {
            let (v, reason, found) = match &h {
                MailHosts::Mx { hosts } => (
                    Verdict::Pass,
                    format!(
                        "{} MX host(s) in preference order: {}",
                        hosts.len(),
                        hosts
                            .iter()
                            .map(|(p, n)| format!("{n} ({p})"))
                            .collect::<Vec<_>>()
                            .join(", ")
                    ),
                    hosts
                        .iter()
                        .map(|(p, n)| format!("MX {p} {n}"))
                        .collect::<Vec<_>>()
                        .join("; "),
                ),
                MailHosts::NullMx => (
                    Verdict::Pass,
                    "null MX (RFC 7505): the domain says it accepts no mail".to_string(),
                    "MX 0 .".to_string(),
                ),
                MailHosts::Implicit { addresses } => (
                    Verdict::Warn,
                    format!(
                        "no MX record: mail falls back to the domain's own address (RFC 5321 §5.1): {}",
                        addresses
                            .iter()
                            .map(|a| a.to_string())
                            .collect::<Vec<_>>()
                            .join(", ")
                    ),
                    String::from("(no MX)"),
                ),
                MailHosts::Nothing => (
                    Verdict::Fail,
                    "no MX and no address: mail to this domain cannot be delivered".to_string(),
                    "(nothing)".to_string(),
                ),
            };
            (
                h,
                step(format!("MX {domain}"), Some(found), v, reason, started),
            )
        }
        Err(e) => (
            MailHosts::Nothing,
            step(
                format!("MX {domain}"),
                None,
                Verdict::Inconclusive,
                e.to_string(),
                started,
            ),
        ),
    };
    (result("posture-mx", "MX", vec![st]), hosts)
}

/// Counts SPF's DNS-querying terms across includes and redirects, as an evaluator would.
async fn spf_lookups(
    dns: &Dns,
    record: &spf::SpfRecord,
    depth: usize,
    notes: &mut Vec<String>,
) -> usize {
    let mut total = record.lookup_terms();
    if depth >= 10 {
        return total;
    }
    for target in record.includes() {
        if target.contains('%') {
            continue; // macros expand per message; they cannot be followed here
        }
        match dns.txt(&target).await.map(|t| spf::select(&t)) {
            Ok(Ok(Some(text))) => match spf::parse(&text) {
                Ok(inner) => total += Box::pin(spf_lookups(dns, &inner, depth + 1, notes)).await,
                Err(e) => notes.push(format!("{target}: {e}")),
            },
            Ok(Ok(None)) => notes.push(format!(
                "{target} has no SPF record (a permerror for include)"
            )),
            Ok(Err(e)) => notes.push(format!("{target}: {e}")),
            Err(e) => notes.push(format!("{target}: {e}")),
        }
        if total > SPF_LOOKUP_LIMIT {
            break;
        }
    }
    total
}

pub async fn spf_check(dns: &Dns, domain: &str) -> ScenarioResult {
    let started = Instant::now();
    let cmd = format!("TXT {domain} (v=spf1)");
    let st = match dns.txt(domain).await {
        Err(e) => step(cmd, None, Verdict::Inconclusive, e.to_string(), started),
        Ok(txts) => {
            match spf::select(&txts) {
                Err(e) => step(
                    cmd,
                    Some(
                        txts.iter()
                            .filter(|t| spf::is_spf(t))
                            .cloned()
                            .collect::<Vec<_>>()
                            .join(" | "),
                    ),
                    Verdict::Fail,
                    e.to_string(),
                    started,
                ),
                Ok(None) => step(
                    cmd,
                    None,
                    Verdict::Fail,
                    "no SPF record: any server may send mail as this domain".into(),
                    started,
                ),
                Ok(Some(text)) => {
                    match spf::parse(&text) {
                        Err(e) => step(
                            cmd,
                            Some(text),
                            Verdict::Fail,
                            format!("the record does not parse: {e}"),
                            started,
                        ),
                        Ok(record) => {
                            let mut notes = Vec::new();
                            let lookups = spf_lookups(dns, &record, 0, &mut notes).await;
                            let (v, reason) = if lookups > SPF_LOOKUP_LIMIT {
                                (
                                    Verdict::Fail,
                                    format!(
                                        "{lookups} DNS lookups when evaluated, over the limit of {SPF_LOOKUP_LIMIT} (RFC 7208 §4.6.4): receivers treat it as a permerror"
                                    ),
                                )
                            } else {
                                match record.all_qualifier() {
                            Some(spf::Qualifier::Fail) => (Verdict::Pass, format!("ends in -all (others are rejected); {lookups} lookups")),
                            Some(spf::Qualifier::SoftFail) => (Verdict::Pass, format!("ends in ~all (others are marked, not rejected); {lookups} lookups")),
                            Some(spf::Qualifier::Pass) => (Verdict::Fail, "+all lets every server on the internet send as this domain".into()),
                            Some(spf::Qualifier::Neutral) => (Verdict::Warn, "?all says nothing about other servers".into()),
                            None if record.redirect.is_some() => (Verdict::Pass, format!("redirects to {}; {lookups} lookups", record.redirect.clone().unwrap_or_default())),
                            None => (Verdict::Warn, "no 'all' term: other servers get a neutral result".into()),
                        }
                            };
                            let reason = if notes.is_empty() {
                                reason
                            } else {
                                format!("{reason}; {}", notes.join("; "))
                            };
                            step(cmd, Some(text), v, reason, started)
                        }
                    }
                }
            }
        }
    };
    result("posture-spf", "SPF", vec![st])
}

/// One TXT record checked the usual way: found at `name`, selected (two is an error), parsed,
/// then judged; `missing` says what its absence means. `E` is the record module's error type,
/// which only ends up as a reason's text.
async fn record_check<T, E: std::fmt::Display>(
    dns: &Dns,
    name: String,
    select: fn(&[String]) -> Result<Option<String>, E>,
    parse: fn(&str) -> Result<T, E>,
    missing: (Verdict, &str),
    judge: impl Fn(&T) -> (Verdict, String),
) -> StepResult {
    let started = Instant::now();
    let cmd = format!("TXT {name}");
    match dns.txt(&name).await {
        Err(e) => step(cmd, None, Verdict::Inconclusive, e.to_string(), started),
        Ok(txts) => match select(&txts) {
            Err(e) => step(
                cmd,
                Some(txts.join(" | ")),
                Verdict::Fail,
                e.to_string(),
                started,
            ),
            Ok(None) => step(cmd, None, missing.0, missing.1.to_string(), started),
            Ok(Some(text)) => match parse(&text) {
                Err(e) => step(
                    cmd,
                    Some(text),
                    Verdict::Fail,
                    format!("the record does not parse: {e}"),
                    started,
                ),
                Ok(record) => {
                    let (v, reason) = judge(&record);
                    step(cmd, Some(text), v, reason, started)
                }
            },
        },
    }
}

pub async fn dmarc_check(dns: &Dns, domain: &str) -> ScenarioResult {
    let st = record_check(
        dns,
        format!("_dmarc.{domain}"),
        dmarc::select,
        dmarc::parse,
        (
            Verdict::Fail,
            "no DMARC record: receivers get no policy for mail that fails SPF and DKIM",
        ),
        |r: &dmarc::DmarcRecord| {
            let reports = if r.reports_requested() {
                "reports requested"
            } else {
                "no reports requested (add rua=mailto:...)"
            };
            let (v, what) = match r.policy {
                dmarc::Policy::Reject => (Verdict::Pass, "p=reject: failing mail is rejected"),
                dmarc::Policy::Quarantine => {
                    (Verdict::Pass, "p=quarantine: failing mail goes to spam")
                }
                dmarc::Policy::None => (
                    Verdict::Warn,
                    "p=none: monitoring only, failing mail is delivered",
                ),
            };
            (v, format!("{what}; {reports}"))
        },
    )
    .await;
    result("posture-dmarc", "DMARC", vec![st])
}

pub async fn mta_sts_check(dns: &Dns, domain: &str) -> ScenarioResult {
    let st = record_check(
        dns,
        format!("_mta-sts.{domain}"),
        txt_records::select_mta_sts,
        txt_records::parse_mta_sts,
        (Verdict::Warn, "no MTA-STS: senders may deliver over an unauthenticated or stripped connection"),
        |r: &txt_records::MtaSts| {
            (
                Verdict::Pass,
                format!("MTA-STS announced (id {}); the policy itself is at https://mta-sts.{domain}/.well-known/mta-sts.txt", r.id),
            )
        },
    )
    .await;
    result("posture-mta-sts", "MTA-STS", vec![st])
}

pub async fn tls_rpt_check(dns: &Dns, domain: &str) -> ScenarioResult {
    let st = record_check(
        dns,
        format!("_smtp._tls.{domain}"),
        txt_records::select_tls_rpt,
        txt_records::parse_tls_rpt,
        (
            Verdict::Warn,
            "no TLS-RPT: you will not hear about failed TLS deliveries",
        ),
        |r: &txt_records::TlsRpt| {
            (
                Verdict::Pass,
                format!("TLS reports go to {}", r.rua.join(", ")),
            )
        },
    )
    .await;
    result("posture-tls-rpt", "TLS-RPT", vec![st])
}

pub async fn dkim_check(dns: &Dns, domain: &str, selector: Option<&str>) -> ScenarioResult {
    let started = Instant::now();
    let Some(sel) = selector else {
        let st = step(
            format!("TXT <selector>._domainkey.{domain}"),
            None,
            Verdict::Skipped,
            "give --dkim-selector to check a DKIM key (selectors cannot be discovered)".into(),
            started,
        );
        return result("posture-dkim", "DKIM", vec![st]);
    };
    let name = format!("{sel}._domainkey.{domain}");
    let cmd = format!("TXT {name}");
    let st = match dns.txt(&name).await {
        Err(e) => step(cmd, None, Verdict::Inconclusive, e.to_string(), started),
        Ok(txts) => {
            let keys: Vec<&String> = txts.iter().filter(|t| t.contains("p=")).collect();
            match keys.as_slice() {
                [] => step(
                    cmd,
                    None,
                    Verdict::Fail,
                    format!("no DKIM key at selector {sel}"),
                    started,
                ),
                [one] => match txt_records::parse_dkim(one) {
                    Ok(k) if k.revoked => step(
                        cmd,
                        Some((*one).clone()),
                        Verdict::Warn,
                        "the key is revoked (empty p=)".into(),
                        started,
                    ),
                    Ok(k) => step(
                        cmd,
                        Some((*one).clone()),
                        Verdict::Pass,
                        format!(
                            "{} key, {} bytes{}",
                            k.key_type,
                            k.public_key_bytes,
                            if k.testing {
                                ", testing mode (t=y)"
                            } else {
                                ""
                            }
                        ),
                        started,
                    ),
                    Err(e) => step(
                        cmd,
                        Some((*one).clone()),
                        Verdict::Fail,
                        format!("the key record does not parse: {e}"),
                        started,
                    ),
                },
                _ => step(
                    cmd,
                    Some(txts.join(" | ")),
                    Verdict::Fail,
                    "more than one key record at this selector".into(),
                    started,
                ),
            }
        }
    };
    result("posture-dkim", "DKIM", vec![st])
}

/// Every posture check for a domain.
pub async fn all(
    dns: &Dns,
    domain: &str,
    dkim_selector: Option<&str>,
) -> (Vec<ScenarioResult>, MailHosts) {
    let (mx, hosts) = mail_hosts(dns, domain).await;
    let (spf, dmarc, sts, rpt, dkim) = tokio::join!(
        spf_check(dns, domain),
        dmarc_check(dns, domain),
        mta_sts_check(dns, domain),
        tls_rpt_check(dns, domain),
        dkim_check(dns, domain, dkim_selector),
    );
    (vec![mx, spf, dmarc, sts, rpt, dkim], hosts)
}

/// The teaching text for `scenarios show posture`.
pub fn explain() -> String {
    let mut out = String::new();
    for id in [
        "posture-mx",
        "posture-spf",
        "posture-dmarc",
        "posture-mta-sts",
        "posture-tls-rpt",
        "posture-dkim",
        "posture-dane",
        "posture-mta-sts-policy",
    ] {
        let (title, what) = teaching(id);
        out.push_str(&format!(
            "{title}\n{}\n{}\n\n",
            "-".repeat(title.chars().count()),
            what.trim()
        ));
    }
    out
}
