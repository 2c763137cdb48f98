//! What a run is made of: catalogue scenarios and the domain checks, side by side, chosen once
//! from the names asked for and the target.

use crate::scenario::{Catalogue, Scenario};

/// A check of the domain's DNS and TLS posture rather than of an SMTP dialogue.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum DomainCheck {
    /// MX, SPF, DMARC, MTA-STS (TXT), TLS-RPT and DKIM records.
    Posture,
    /// The MTA-STS policy fetched and held against every MX host's certificate.
    MtaSts,
    /// TLSA records held against every MX host's certificate.
    Dane,
}

impl DomainCheck {
    pub const ALL: [DomainCheck; 3] =
        [DomainCheck::Posture, DomainCheck::MtaSts, DomainCheck::Dane];

    /// The name `check --scenario` and the explorer's list use.
    pub fn id(self) -> &'static str {
        match self {
            DomainCheck::Posture => "posture",
            DomainCheck::MtaSts => "mta-sts",
            DomainCheck::Dane => "dane",
        }
    }

    pub fn title(self) -> &'static str {
        match self {
            DomainCheck::Posture => "Domain posture: MX, SPF, DMARC, MTA-STS, TLS-RPT, DKIM",
            DomainCheck::MtaSts => "MTA-STS policy against every MX host's certificate",
            DomainCheck::Dane => "DANE: TLSA records against every MX host's certificate",
        }
    }

    pub fn parse(name: &str) -> Option<DomainCheck> {
        DomainCheck::ALL
            .into_iter()
            .find(|c| c.id().eq_ignore_ascii_case(name))
    }
}

/// One check of a run.
#[derive(Debug, Clone)]
pub enum Check {
    Scenario(Box<Scenario>),
    Domain(DomainCheck),
}

#[derive(Debug, thiserror::Error)]
pub enum PlanError {
    #[error("no scenario {name:?}; known: {known} (aliases A, B, C)")]
    UnknownScenario { name: String, known: String },
}

/// The checks of one run, in the order they report.
#[derive(Debug, Clone, Default)]
pub struct Plan {
    pub checks: Vec<Check>,
}

impl Plan {
    /// `check`'s selection. No names, or `all`: the default scenarios, and every domain check
    /// when the target names a domain. Names: those (scenarios by id or alias, and `posture`,
    /// `mta-sts`, `dane`), added to the defaults with `all`. Domain checks need a domain.
    pub fn select(
        cat: &Catalogue,
        names: &[String],
        all: bool,
        has_domain: bool,
    ) -> Result<Plan, PlanError> {
        let (domain_names, scenario_names): (Vec<&String>, Vec<&String>) =
            names.iter().partition(|n| DomainCheck::parse(n).is_some());
        let mut checks = Vec::new();
        let only_domain = scenario_names.is_empty() && !domain_names.is_empty() && !all;
        if !only_domain {
            let mut chosen: Vec<Scenario> = if scenario_names.is_empty() || all {
                cat.defaults().into_iter().cloned().collect()
            } else {
                Vec::new()
            };
            for name in scenario_names {
                let s = cat.find(name).ok_or_else(|| PlanError::UnknownScenario {
                    name: name.clone(),
                    known: cat.ids().join(", "),
                })?;
                if !chosen.iter().any(|c| c.id == s.id) {
                    chosen.push(s.clone());
                }
            }
            checks.extend(chosen.into_iter().map(|s| Check::Scenario(Box::new(s))));
        }
        if has_domain {
            let every = names.is_empty() || all;
            for d in DomainCheck::ALL {
                if every
                    || domain_names
                        .iter()
                        .any(|n| DomainCheck::parse(n) == Some(d))
                {
                    checks.push(Check::Domain(d));
                }
            }
        }
        Ok(Plan { checks })
    }

    pub fn scenarios(&self) -> Vec<Scenario> {
        self.checks
            .iter()
            .filter_map(|c| match c {
                Check::Scenario(s) => Some((**s).clone()),
                Check::Domain(_) => None,
            })
            .collect()
    }

    pub fn domain_checks(&self) -> Vec<DomainCheck> {
        self.checks
            .iter()
            .filter_map(|c| match c {
                Check::Domain(d) => Some(*d),
                Check::Scenario(_) => None,
            })
            .collect()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn ids(p: &Plan) -> Vec<String> {
        p.checks
            .iter()
            .map(|c| match c {
                Check::Scenario(s) => s.id.clone(),
                Check::Domain(d) => d.id().to_string(),
            })
            .collect()
    }

    #[test]
    fn names_defaults_and_the_domain_checks() {
        let cat = Catalogue::built_in();
        let defaults: Vec<String> = cat.defaults().iter().map(|s| s.id.clone()).collect();
        let none = Plan::select(&cat, &[], false, false).expect("plan");
        assert_eq!(ids(&none), defaults);
        let with_domain = Plan::select(&cat, &[], false, true).expect("plan");
        let mut want = defaults.clone();
        want.extend(["posture", "mta-sts", "dane"].map(String::from));
        assert_eq!(ids(&with_domain), want);
        let only = Plan::select(&cat, &["dane".into()], false, true).expect("plan");
        assert_eq!(ids(&only), vec!["dane".to_string()]);
        // Without a domain there is nothing for a domain check to look at.
        let nothing = Plan::select(&cat, &["posture".into()], false, false).expect("plan");
        assert!(nothing.checks.is_empty());
        let named = Plan::select(&cat, &["A".into(), "posture".into()], false, true).expect("plan");
        assert_eq!(
            ids(&named),
            vec!["unauth-relay".to_string(), "posture".into()]
        );
        let e = Plan::select(&cat, &["nope".into()], false, false).expect_err("unknown");
        assert!(e.to_string().contains("no scenario \"nope\""), "{e}");
    }
}
