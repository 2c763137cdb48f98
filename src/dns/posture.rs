//! Domain posture: where mail for a domain goes, and its SPF, DMARC, MTA-STS, TLS-RPT and DKIM
//! records — each judged PASS / WARN / FAIL with the record as found and a reason.

use std::time::Instant;

use super::resolve::{Dns, MailHosts};
use super::{dmarc, spf, spf_eval, txt_records};
use crate::scenario::Verdict;
use crate::scenario::model::Role;
use crate::scenario::runner::{ReplySummary, ScenarioResult, StepResult};

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

/// At most this many MX hosts are looked up for the address and CNAME checks.
const MX_HOSTS_CHECKED: usize = 20;

/// Where the domain's mail goes: reported, and the targets to test.
pub async fn mail_hosts(dns: &Dns, domain: &str) -> (ScenarioResult, MailHosts) {
    let started = Instant::now();
    let (hosts, st) = match dns.mail_hosts(domain).await {
        Ok(h) => {
            let (v, reason, found) = match &h {
                MailHosts::Mx { hosts, null_mx_too } => {
                    let (v, reason) = mx_findings(dns, hosts, *null_mx_too).await;
                    let mut found: Vec<String> =
                        hosts.iter().map(|(p, n)| format!("MX {p} {n}")).collect();
                    if *null_mx_too {
                        found.insert(0, "MX 0 .".to_string());
                    }
                    (v, reason, found.join("; "))
                }
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

/// The verdict on a domain's MX hosts: a null MX beside them (RFC 7505 §3), hosts that are
/// aliases (RFC 2181 §10.3) or have no address.
async fn mx_findings(dns: &Dns, hosts: &[(u16, String)], null_mx_too: bool) -> (Verdict, String) {
    let mut verdict = Verdict::Pass;
    let raise = |v: Verdict, to: &mut Verdict| {
        let rank = |v: &Verdict| match v {
            Verdict::Fail => 4,
            Verdict::Inconclusive => 3,
            Verdict::Warn => 2,
            _ => 1,
        };
        if rank(&v) > rank(to) {
            *to = v;
        }
    };
    let mut notes = vec![format!(
        "{} MX host(s) in preference order: {}",
        hosts.len(),
        hosts
            .iter()
            .map(|(p, n)| format!("{n} ({p})"))
            .collect::<Vec<_>>()
            .join(", ")
    )];
    if null_mx_too {
        raise(Verdict::Fail, &mut verdict);
        notes.push(
            "a null MX (0 .) is published beside other MX records, which RFC 7505 §3 forbids: senders may treat the domain as accepting no mail, or skip the null MX"
                .to_string(),
        );
    }
    let mut without_address = Vec::new();
    for (_, host) in hosts.iter().take(MX_HOSTS_CHECKED) {
        match dns.cname(host).await {
            Ok(Some(target)) => {
                raise(Verdict::Warn, &mut verdict);
                notes.push(format!(
                    "MX host {host} is an alias (CNAME to {target}): an MX must name the host itself (RFC 2181 §10.3, RFC 5321 §5.1)"
                ));
            }
            Ok(None) => {}
            Err(e) => {
                raise(Verdict::Inconclusive, &mut verdict);
                notes.push(e.to_string());
            }
        }
        match dns.addresses_if_any(host).await {
            Ok(addresses) if addresses.is_empty() => without_address.push(host.clone()),
            Ok(_) => {}
            Err(e) => {
                raise(Verdict::Inconclusive, &mut verdict);
                notes.push(e.to_string());
            }
        }
    }
    if !without_address.is_empty() {
        let all = without_address.len() == hosts.len();
        raise(
            if all { Verdict::Fail } else { Verdict::Warn },
            &mut verdict,
        );
        notes.push(format!(
            "MX host(s) without an address (no A or AAAA): {}{}",
            without_address.join(", "),
            if all {
                ": mail to this domain cannot be delivered"
            } else {
                ": senders skip them, and retry if the others fail"
            }
        ));
    }
    // The findings first, then the hosts they are about.
    notes.rotate_left(1);
    (verdict, notes.join("; "))
}

pub async fn spf_check(dns: &Dns, domain: &str) -> ScenarioResult {
    let started = Instant::now();
    let cmd = format!("TXT {domain} (v=spf1)");
    let txts = match dns.txt(domain).await {
        Err(e) => {
            let st = step(cmd, None, Verdict::Inconclusive, e.to_string(), started);
            return result("posture-spf", "SPF", vec![st]);
        }
        Ok(txts) => txts,
    };
    let st = match spf::select(&txts) {
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
        Ok(Some(text)) => match spf::parse(&text) {
            Err(e) => step(
                cmd,
                Some(text),
                Verdict::Fail,
                format!("the record does not parse: {e}"),
                started,
            ),
            Ok(record) => {
                let eval = spf_eval::evaluate(dns, domain, &text, &record).await;
                let (v, reason) = spf_verdict(&record, &eval);
                step(cmd, Some(text), v, reason, started)
            }
        },
    };
    result("posture-spf", "SPF", vec![st])
}

/// The verdict on a record that parses, from how its evaluation ended: a permerror anywhere is
/// FAIL and a temperror INCONCLUSIVE, whatever the record ends in; then the `all` term decides,
/// and `ptr` terms and oversized records add a warning or a note.
fn spf_verdict(record: &spf::SpfRecord, eval: &spf_eval::Evaluation) -> (Verdict, String) {
    let lookups = eval.lookups;
    let (v, mut reason) = match &eval.outcome {
        spf_eval::Outcome::PermError(stop) => (
            Verdict::Fail,
            format!(
                "permerror {stop}: receivers fail SPF for every server not matched before it, so SPF never passes for DMARC (RFC 7208 §2.6.7)"
            ),
        ),
        spf_eval::Outcome::TempError(stop) => (
            Verdict::Inconclusive,
            format!(
                "temperror {stop}: receivers cannot evaluate SPF until the lookup works (RFC 7208 §2.6.6)"
            ),
        ),
        spf_eval::Outcome::Completed => match record.all_qualifier() {
            Some(spf::Qualifier::Fail) => (
                Verdict::Pass,
                format!("ends in -all (others are rejected); {lookups} lookups"),
            ),
            Some(spf::Qualifier::SoftFail) => (
                Verdict::Pass,
                format!("ends in ~all (others are marked, not rejected); {lookups} lookups"),
            ),
            Some(spf::Qualifier::Pass) => (
                Verdict::Fail,
                "+all lets every server on the internet send as this domain".into(),
            ),
            Some(spf::Qualifier::Neutral) => (
                Verdict::Warn,
                "?all says nothing about other servers".into(),
            ),
            None if record.redirect.is_some() => (
                Verdict::Pass,
                format!(
                    "redirects to {}; {lookups} lookups",
                    record.redirect.clone().unwrap_or_default()
                ),
            ),
            None => (
                Verdict::Warn,
                "no 'all' term: other servers get a neutral result".into(),
            ),
        },
    };
    let mut v = v;
    if !eval.ptr_terms.is_empty() {
        if v == Verdict::Pass {
            v = Verdict::Warn;
        }
        reason.push_str(&format!(
            "; uses ptr ({}): slow, unreliable, and RFC 7208 §5.5 says it SHOULD NOT be used",
            eval.ptr_terms.join(", ")
        ));
    }
    for (name, len) in &eval.oversized {
        reason.push_str(&format!(
            "; the record of {name} is {len} bytes, over {} (RFC 7208 §3.4): its answer may need TCP, which some receivers do not try",
            spf_eval::SIZE_NOTE_BYTES
        ));
    }
    if !eval.macro_terms.is_empty() {
        reason.push_str(&format!(
            "; not followed (macros expand per message): {}",
            eval.macro_terms.join(", ")
        ));
    }
    (v, reason)
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
    let started = Instant::now();
    let own = format!("_dmarc.{domain}");
    let txts = match dns.txt(&own).await {
        Err(e) => {
            let st = step(
                format!("TXT {own}"),
                None,
                Verdict::Inconclusive,
                e.to_string(),
                started,
            );
            return result("posture-dmarc", "DMARC", vec![st]);
        }
        Ok(txts) => txts,
    };
    // RFC 7489 §6.6.3: no DMARC record at the domain itself sends receivers to the
    // organisational domain's (found with the Public Suffix List).
    let org = dmarc::organizational_domain(domain);
    let (name, txts, from_org) = match dmarc::select(&txts) {
        Ok(None) if org != domain.trim_end_matches('.').to_ascii_lowercase() => {
            let name = format!("_dmarc.{org}");
            match dns.txt(&name).await {
                Err(e) => {
                    let st = step(
                        format!("TXT {own}, then {name}"),
                        None,
                        Verdict::Inconclusive,
                        e.to_string(),
                        started,
                    );
                    return result("posture-dmarc", "DMARC", vec![st]);
                }
                Ok(t) => (name, t, true),
            }
        }
        _ => (own.clone(), txts, false),
    };
    let cmd = if from_org {
        format!("TXT {own}, then {name}")
    } else {
        format!("TXT {name}")
    };
    let st = match dmarc::select(&txts) {
        Err(e) => step(
            cmd,
            Some(txts.join(" | ")),
            Verdict::Fail,
            e.to_string(),
            started,
        ),
        Ok(None) => step(
            cmd,
            None,
            Verdict::Fail,
            if from_org {
                format!(
                    "no DMARC record at {own} nor at the organisational domain's {name}: receivers get no policy for mail that fails SPF and DKIM"
                )
            } else {
                "no DMARC record: receivers get no policy for mail that fails SPF and DKIM".into()
            },
            started,
        ),
        Ok(Some(text)) => match dmarc::parse(&text) {
            Err(e) => step(
                cmd,
                Some(text),
                Verdict::Fail,
                format!("the record does not parse: {e}"),
                started,
            ),
            Ok(record) => {
                let policy_domain = if from_org { org.as_str() } else { domain };
                let (v, mut reason) = dmarc_verdict(dns, &record, policy_domain, from_org).await;
                if from_org {
                    reason = format!(
                        "no record at {own}: the organisational domain {org}'s policy applies (RFC 7489 §6.6.3); {reason}"
                    );
                }
                step(cmd, Some(text), v, reason, started)
            }
        },
    };
    result("posture-dmarc", "DMARC", vec![st])
}

/// At most this many report addresses are checked for their authorisation record.
const DMARC_REPORT_URIS_CHECKED: usize = 10;

/// The verdict on a DMARC record published at `_dmarc.<policy_domain>`; `for_subdomain` when
/// it was found through the organisational-domain fallback, so `sp=` governs.
async fn dmarc_verdict(
    dns: &Dns,
    r: &dmarc::DmarcRecord,
    policy_domain: &str,
    for_subdomain: bool,
) -> (Verdict, String) {
    let (policy, tag) = match (for_subdomain, r.subdomain_policy) {
        (true, Some(sp)) => (sp, "sp"),
        _ => (r.policy, "p"),
    };
    let (mut v, what) = match policy {
        dmarc::Policy::Reject => (
            Verdict::Pass,
            format!("{tag}=reject: failing mail is rejected"),
        ),
        dmarc::Policy::Quarantine => (
            Verdict::Pass,
            format!("{tag}=quarantine: failing mail goes to spam"),
        ),
        dmarc::Policy::None => (
            Verdict::Warn,
            format!("{tag}=none: monitoring only, failing mail is delivered"),
        ),
    };
    let mut notes = vec![what];
    if r.pct < 100 && policy != dmarc::Policy::None {
        v = Verdict::Warn;
        notes.push(format!(
            "pct={}: the policy applies to {}% of failing mail only, the rest is handled as one step weaker (RFC 7489 §6.6.4)",
            r.pct, r.pct
        ));
    }
    if !for_subdomain
        && r.subdomain_policy == Some(dmarc::Policy::None)
        && r.policy != dmarc::Policy::None
    {
        v = Verdict::Warn;
        notes.push(
            "sp=none: mail from subdomains that fails DMARC is delivered, so subdomains stay open to spoofing (RFC 7489 §6.3)"
                .to_string(),
        );
    }
    let mut authorised = 0;
    let mut unauthorised = Vec::new();
    let uris: Vec<(&str, &String)> = r
        .rua
        .iter()
        .map(|u| ("rua", u))
        .chain(r.ruf.iter().map(|u| ("ruf", u)))
        .collect();
    let own_org = dmarc::organizational_domain(policy_domain);
    for (tag, uri) in uris.iter().take(DMARC_REPORT_URIS_CHECKED) {
        let Some(host) = dmarc::mailto_domain(uri) else {
            authorised += 1; // not mailto: nothing to verify here
            continue;
        };
        if dmarc::organizational_domain(&host) == own_org {
            authorised += 1;
            continue;
        }
        let name = format!("{policy_domain}._report._dmarc.{host}");
        match dns.txt(&name).await {
            Ok(txts) if txts.iter().any(|t| dmarc::is_dmarc(t)) => authorised += 1,
            Ok(_) => unauthorised.push(format!(
                "{tag} {uri}: {host} has not authorised reports for {policy_domain} (no v=DMARC1 record at {name}), so no reports will be sent there (RFC 7489 §7.1)"
            )),
            Err(e) => {
                authorised += 1;
                notes.push(format!("{tag} {uri}: cannot check its authorisation: {e}"));
            }
        }
    }
    if !unauthorised.is_empty() {
        v = if v == Verdict::Fail { v } else { Verdict::Warn };
    }
    notes.push(if authorised > 0 {
        "reports requested".to_string()
    } else if unauthorised.is_empty() {
        "no reports requested (add rua=mailto:...)".to_string()
    } else {
        "no report address will receive reports".to_string()
    });
    notes.extend(unauthorised);
    (v, notes.join("; "))
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
                    Ok(k) => {
                        let (v, reason) = dkim_verdict(&k, &name);
                        step(cmd, Some((*one).clone()), v, reason, started)
                    }
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

/// RFC 8301 §3.2: verifiers MUST NOT accept RSA keys under 1024 bits; signers SHOULD use 2048.
const DKIM_RSA_MINIMUM_BITS: usize = 1024;
const DKIM_RSA_ADVISED_BITS: usize = 2048;

/// The verdict on a DKIM key that parses: revoked warns, RSA by its size.
fn dkim_verdict(k: &txt_records::DkimKey, name: &str) -> (Verdict, String) {
    if k.revoked {
        return (
            Verdict::Warn,
            format!(
                "the key at {name} is revoked (empty p=): mail signed with this selector fails DKIM (RFC 6376 §3.6.1)"
            ),
        );
    }
    let testing = if k.testing {
        ", testing mode (t=y)"
    } else {
        ""
    };
    let what = format!("{} key, {} bits{testing}", k.key_type, k.bits);
    if k.key_type != "rsa" {
        (Verdict::Pass, what)
    } else if k.bits < DKIM_RSA_MINIMUM_BITS {
        (
            Verdict::Fail,
            format!(
                "{what}: verifiers MUST NOT accept RSA keys under {DKIM_RSA_MINIMUM_BITS} bits (RFC 8301 §3.2), so every signature fails"
            ),
        )
    } else if k.bits < DKIM_RSA_ADVISED_BITS {
        (
            Verdict::Warn,
            format!(
                "{what}: signers SHOULD use at least {DKIM_RSA_ADVISED_BITS} bits (RFC 8301 §3.2)"
            ),
        )
    } else {
        (Verdict::Pass, what)
    }
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

#[cfg(test)]
mod tests {
    use super::*;
    use spf_eval::{Evaluation, Outcome, Stop};

    fn eval(outcome: Outcome) -> Evaluation {
        Evaluation {
            outcome,
            lookups: 1,
            voids: 0,
            ptr_terms: Vec::new(),
            oversized: Vec::new(),
            macro_terms: Vec::new(),
        }
    }

    fn stop() -> Stop {
        Stop {
            record: "d.example".into(),
            term: Some("include:x.example".into()),
            why: "x.example has no SPF record".into(),
        }
    }

    fn steps(verdicts: &[(Verdict, &str)]) -> Vec<StepResult> {
        verdicts
            .iter()
            .map(|(v, why)| step("TXT x".into(), None, *v, (*why).to_string(), Instant::now()))
            .collect()
    }

    /// The overall verdict of a check without one of its own: the worst step's, in the order
    /// FAIL > INCONCLUSIVE > WARN > SKIPPED > PASS, with the reason of the first step that has
    /// it; no step at all is INCONCLUSIVE, never a PASS.
    #[test]
    fn worst_takes_the_worst_verdict_and_its_first_reason() {
        use Verdict::*;
        let order = [Fail, Inconclusive, Warn, Skipped, Pass];
        for (i, worse) in order.iter().enumerate() {
            for better in &order[i + 1..] {
                for list in [
                    [(*better, "better"), (*worse, "worse")],
                    [(*worse, "worse"), (*better, "better")],
                ] {
                    assert_eq!(
                        worst(&steps(&list)),
                        (*worse, "worse".to_string()),
                        "{list:?}"
                    );
                }
            }
        }
        assert_eq!(
            worst(&steps(&[(Pass, "a"), (Warn, "first"), (Warn, "second")])),
            (Warn, "first".to_string())
        );
        assert_eq!(worst(&[]), (Inconclusive, "nothing checked".to_string()));
        let r = result(
            "posture-spf",
            "SPF",
            steps(&[(Pass, "ok"), (Fail, "broken")]),
        );
        assert_eq!((r.verdict, r.reason.as_str()), (Fail, "broken"));
        let given = result_with(
            "posture-spf",
            "SPF",
            steps(&[(Fail, "broken")]),
            Some((Warn, "said".into())),
        );
        assert_eq!(
            (given.verdict, given.reason.as_str()),
            (Warn, "said"),
            "an overall verdict given wins"
        );
    }

    #[test]
    fn an_spf_permerror_fails_whatever_the_record_ends_in() {
        let record = spf::parse("v=spf1 include:x.example -all").unwrap();
        let (v, reason) = spf_verdict(&record, &eval(Outcome::PermError(stop())));
        assert_eq!(v, Verdict::Fail);
        assert!(
            reason.starts_with("permerror in the record of d.example, term 'include:x.example'"),
            "{reason}"
        );
        assert!(!reason.contains("ends in -all"), "{reason}");
    }

    #[test]
    fn an_spf_temperror_is_inconclusive() {
        let record = spf::parse("v=spf1 include:x.example -all").unwrap();
        let (v, reason) = spf_verdict(&record, &eval(Outcome::TempError(stop())));
        assert_eq!(v, Verdict::Inconclusive);
        assert!(reason.starts_with("temperror"), "{reason}");
    }

    #[test]
    fn spf_ptr_turns_a_pass_into_a_warning_and_size_is_noted() {
        let record = spf::parse("v=spf1 ptr -all").unwrap();
        let mut e = eval(Outcome::Completed);
        e.ptr_terms.push("d.example: ptr".into());
        e.oversized.push(("d.example".into(), 600));
        let (v, reason) = spf_verdict(&record, &e);
        assert_eq!(v, Verdict::Warn);
        assert!(reason.contains("RFC 7208 §5.5"), "{reason}");
        assert!(
            reason.contains("600 bytes, over 512 (RFC 7208 §3.4)"),
            "{reason}"
        );
    }

    fn key(key_type: &str, bits: usize) -> txt_records::DkimKey {
        txt_records::DkimKey {
            key_type: key_type.into(),
            public_key_bytes: 0,
            bits,
            revoked: false,
            testing: false,
        }
    }

    #[test]
    fn dkim_rsa_sizes_by_rfc8301() {
        let name = "s._domainkey.d.example";
        assert_eq!(dkim_verdict(&key("rsa", 512), name).0, Verdict::Fail);
        assert_eq!(dkim_verdict(&key("rsa", 1023), name).0, Verdict::Fail);
        assert_eq!(dkim_verdict(&key("rsa", 1024), name).0, Verdict::Warn);
        assert_eq!(dkim_verdict(&key("rsa", 2047), name).0, Verdict::Warn);
        assert_eq!(dkim_verdict(&key("rsa", 2048), name).0, Verdict::Pass);
        assert_eq!(dkim_verdict(&key("ed25519", 256), name).0, Verdict::Pass);
        let mut revoked = key("rsa", 0);
        revoked.revoked = true;
        let (v, reason) = dkim_verdict(&revoked, name);
        assert_eq!(v, Verdict::Warn);
        assert!(reason.contains(name), "{reason}");
    }
}
