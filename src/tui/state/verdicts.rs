//! The last verdict of each scenario on each profile: what a server did is not what another
//! server did, so one list for all of them would show one server's verdict under another's name.

use std::collections::BTreeMap;

use super::StepView;
use crate::scenario::Verdict;

/// A scenario's last run on a profile: the verdict, why, and each step as it went.
#[derive(Debug, Clone)]
pub struct LastRun {
    pub verdict: Verdict,
    pub reason: String,
    pub steps: Vec<StepView>,
}

#[derive(Debug, Default)]
pub struct Verdicts {
    /// Keyed by (profile name, scenario id).
    last: BTreeMap<(String, String), LastRun>,
}

impl Verdicts {
    pub fn record(&mut self, profile: &str, scenario: &str, verdict: Verdict) {
        self.record_run(
            profile,
            scenario,
            LastRun {
                verdict,
                reason: String::new(),
                steps: Vec::new(),
            },
        );
    }

    /// The run with its steps, for the compare view.
    pub fn record_run(&mut self, profile: &str, scenario: &str, run: LastRun) {
        self.last
            .insert((profile.to_string(), scenario.to_string()), run);
    }

    pub fn get(&self, profile: &str, scenario: &str) -> Option<Verdict> {
        self.run(profile, scenario).map(|r| r.verdict)
    }

    pub fn run(&self, profile: &str, scenario: &str) -> Option<&LastRun> {
        self.last.get(&(profile.to_string(), scenario.to_string()))
    }

    /// The profile was renamed: its verdicts are still its own.
    pub fn rename(&mut self, from: &str, to: &str) {
        let moved: Vec<_> = self
            .last
            .iter()
            .filter(|((p, _), _)| p == from)
            .map(|((_, s), v)| (s.clone(), v.clone()))
            .collect();
        self.forget(from);
        for (scenario, v) in moved {
            self.last.insert((to.to_string(), scenario), v);
        }
    }

    /// Drops the profile's verdicts: it was deleted, or now points somewhere else, and a
    /// profile of that name made later starts with none.
    pub fn forget(&mut self, profile: &str) {
        self.last.retain(|(p, _), _| p != profile);
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn each_profile_keeps_its_own_and_forgetting_one_keeps_the_rest() {
        let mut v = Verdicts::default();
        v.record("lab-open", "unauth-relay", Verdict::Fail);
        v.record("lab-secure", "unauth-relay", Verdict::Pass);
        v.record("lab-open", "unauth-relay", Verdict::Inconclusive);
        assert_eq!(
            v.get("lab-open", "unauth-relay"),
            Some(Verdict::Inconclusive)
        );
        assert_eq!(v.get("lab-secure", "unauth-relay"), Some(Verdict::Pass));
        assert_eq!(v.get("lab-secure", "starttls"), None);
        v.forget("lab-open");
        assert_eq!(v.get("lab-open", "unauth-relay"), None);
        assert_eq!(v.get("lab-secure", "unauth-relay"), Some(Verdict::Pass));
    }
}
