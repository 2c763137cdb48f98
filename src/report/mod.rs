//! Renderings of `check` results: for people, for programs (JSON) and for CI (JUnit).

pub mod human;
pub mod json;
pub mod junit;

use serde::Serialize;

use crate::scenario::{ScenarioResult, Verdict};

/// What was tested, for report headers.
#[derive(Debug, Clone, Serialize)]
pub struct TargetInfo {
    pub server: String,
    pub tls: String,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub profile: Option<String>,
    pub helo: String,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub auth_user: Option<String>,
}

#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Serialize)]
pub struct Summary {
    pub pass: usize,
    pub fail: usize,
    pub warn: usize,
    pub inconclusive: usize,
    pub skipped: usize,
}

impl Summary {
    pub fn of(results: &[ScenarioResult]) -> Summary {
        let mut s = Summary::default();
        for r in results {
            match r.verdict {
                Verdict::Pass => s.pass += 1,
                Verdict::Fail => s.fail += 1,
                Verdict::Warn => s.warn += 1,
                Verdict::Inconclusive => s.inconclusive += 1,
                Verdict::Skipped => s.skipped += 1,
            }
        }
        s
    }
}

#[cfg(test)]
mod tests;
