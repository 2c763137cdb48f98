//! The domain checks of a plan: DNS posture, MTA-STS and DANE, each a result like a
//! scenario's, for `check` and the explorer alike.

use super::plan::DomainCheck;
use crate::net::tlsa::DaneEe;
use crate::scenario::ScenarioResult;
use crate::target::{ResolvedTarget, TargetError};

/// Where MTA-STS policy servers listen: 443. Tests run theirs on a free loopback port and say
/// so in `SMTPSCOPE_TEST_MTA_STS_PORT`; it is deliberately not a flag or a profile key, and
/// not documented for users.
#[cfg(feature = "dns")]
fn mta_sts_port() -> u16 {
    std::env::var("SMTPSCOPE_TEST_MTA_STS_PORT")
        .ok()
        .and_then(|p| p.parse().ok())
        .unwrap_or(443)
}

/// What the domain checks found: their results, and what the run's connections to each MX
/// need from them.
#[derive(Debug, Default)]
pub struct DomainOutcome {
    pub results: Vec<ScenarioResult>,
    /// Each MX host's DNSSEC-validated DANE-EE records (hosts without any are left out).
    pub dane_ee: Vec<(String, Vec<DaneEe>)>,
}

impl DomainOutcome {
    /// The validated DANE-EE records for `host`, if the DANE check found any.
    pub fn dane_ee_for(&self, host: &str) -> Vec<DaneEe> {
        self.dane_ee
            .iter()
            .find(|(h, _)| h.eq_ignore_ascii_case(host))
            .map(|(_, ee)| ee.clone())
            .unwrap_or_default()
    }
}

/// Runs `checks` for the target's domain (none without one); DANE gives one result per MX
/// host, the others one each (posture several: one per record kind).
#[cfg(feature = "dns")]
pub async fn run(
    checks: &[DomainCheck],
    target: &ResolvedTarget,
    dkim_selector: Option<&str>,
) -> Result<DomainOutcome, TargetError> {
    let Some(domain) = &target.domain else {
        return Ok(DomainOutcome::default());
    };
    if checks.is_empty() {
        return Ok(DomainOutcome::default());
    }
    let dns =
        crate::dns::resolve::Dns::new(target.dns_server).map_err(|e| TargetError::Lookup {
            domain: domain.clone(),
            reason: e.to_string(),
        })?;
    let mut results = Vec::new();
    let mut dane_ee = Vec::new();
    if checks.contains(&DomainCheck::Posture) {
        let (posture, _) = crate::dns::posture::all(&dns, domain, dkim_selector).await;
        results.extend(posture);
    }
    let want_sts = checks.contains(&DomainCheck::MtaSts);
    let want_dane = checks.contains(&DomainCheck::Dane);
    // Every MX, each on its own connection (DANE and MTA-STS judge each host).
    let hosts = if want_dane || want_sts {
        target.endpoints(true).await.unwrap_or_default()
    } else {
        Vec::new()
    };
    if want_sts {
        results.push(
            crate::dns::mta_sts_check::check(
                &dns,
                domain,
                &hosts,
                &target.opts.tls,
                &target.helo,
                mta_sts_port(),
            )
            .await,
        );
    }
    if want_dane {
        for (host, opts) in &hosts {
            let (result, ee) =
                crate::dns::dane::check_and_keep(&dns, host, opts, &target.helo).await;
            results.push(result);
            if !ee.is_empty() {
                dane_ee.push((host.clone(), ee));
            }
        }
    }
    Ok(DomainOutcome { results, dane_ee })
}

/// Without DNS support there is nothing to check.
#[cfg(not(feature = "dns"))]
pub async fn run(
    _checks: &[DomainCheck],
    _target: &ResolvedTarget,
    _dkim_selector: Option<&str>,
) -> Result<DomainOutcome, TargetError> {
    Ok(DomainOutcome::default())
}

/// One domain check's result as one row of a list of results (the explorer's verdict panel):
/// its label, what was found, its verdict and why.
pub fn as_row(r: &ScenarioResult) -> crate::scenario::StepResult {
    let found: Vec<&str> = r
        .steps
        .iter()
        .filter_map(|s| s.reply.as_ref().map(|x| x.text.as_str()))
        .collect();
    crate::scenario::StepResult {
        name: Some(r.title.clone()),
        command: r.scenario.clone(),
        expected: String::new(),
        reply: (!found.is_empty()).then(|| crate::scenario::runner::ReplySummary {
            code: None,
            enhanced: None,
            text: found.join(" | "),
        }),
        verdict: r.verdict,
        reason: r.reason.clone(),
        elapsed_ms: r.elapsed_ms,
        role: crate::scenario::model::Role::Probe,
        note: None,
        edited: false,
    }
}

/// What the domain checks look at and why it matters, for `i` in the explorer.
pub fn teaching() -> String {
    #[cfg(feature = "dns")]
    return crate::dns::posture::explain();
    #[cfg(not(feature = "dns"))]
    return "This build has no DNS support (the `dns` feature), so it cannot check a domain."
        .into();
}
