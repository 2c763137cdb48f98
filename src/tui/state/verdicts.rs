//! The last verdict of each scenario on each profile: what a server did is not what another
//! server did, so one list for all of them would show one server's verdict under another's name.

use std::collections::BTreeMap;

use crate::scenario::Verdict;

#[derive(Debug, Default)]
pub struct Verdicts {
    /// Keyed by (profile name, scenario id).
    last: BTreeMap<(String, String), Verdict>,
}

impl Verdicts {
    pub fn record(&mut self, profile: &str, scenario: &str, verdict: Verdict) {
        self.last
            .insert((profile.to_string(), scenario.to_string()), verdict);
    }

    pub fn get(&self, profile: &str, scenario: &str) -> Option<Verdict> {
        self.last
            .get(&(profile.to_string(), scenario.to_string()))
            .copied()
    }

    /// The profile was renamed: its verdicts are still its own.
    pub fn rename(&mut self, from: &str, to: &str) {
        let moved: Vec<_> = self
            .last
            .iter()
            .filter(|((p, _), _)| p == from)
            .map(|((_, s), v)| (s.clone(), *v))
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
