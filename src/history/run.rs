//! One run as a record: the document `check --format json` prints (and the history keeps),
//! read back typed. Only what a comparison needs is read; anything else in the file is
//! ignored, so reports from older and newer versions still compare.

use std::path::{Path, PathBuf};

use serde::Deserialize;

use crate::scenario::Verdict;
use crate::scenario::runner::ReplySummary;

/// What was tested, as the report's `target` says.
#[derive(Debug, Clone, Default, Deserialize)]
pub struct RunTarget {
    #[serde(default)]
    pub server: String,
    #[serde(default)]
    pub profile: Option<String>,
}

/// One step of a scenario as reported.
#[derive(Debug, Clone, Deserialize)]
pub struct RunStep {
    #[serde(default)]
    pub name: Option<String>,
    #[serde(default)]
    pub command: String,
    #[serde(default)]
    pub reply: Option<ReplySummary>,
    pub verdict: Verdict,
    #[serde(default)]
    pub reason: String,
}

/// One scenario's result as reported.
#[derive(Debug, Clone, Deserialize)]
pub struct RunResult {
    pub id: String,
    #[serde(default)]
    pub scenario: String,
    #[serde(default)]
    pub title: String,
    pub verdict: Verdict,
    #[serde(default)]
    pub reason: String,
    #[serde(default)]
    pub steps: Vec<RunStep>,
    /// What the operator changed in an explorer run: not empty, the result is no verdict of
    /// the scenario and is never compared as one.
    #[serde(default)]
    pub edited: Vec<String>,
}

impl RunResult {
    pub fn is_edited(&self) -> bool {
        !self.edited.is_empty()
    }
}

/// When the run was made and by what, if the report says (reports before 0.1 do not).
#[derive(Debug, Clone, Default, Deserialize)]
pub struct RunHeader {
    #[serde(default)]
    pub started_at: Option<String>,
    #[serde(default)]
    pub version: Option<String>,
}

/// A whole run.
#[derive(Debug, Clone, Deserialize)]
pub struct RunRecord {
    #[serde(default)]
    pub record: Option<RunHeader>,
    #[serde(default)]
    pub target: RunTarget,
    pub results: Vec<RunResult>,
}

/// A report of every built-in scenario with its transcripts is well under 1 MB; this leaves
/// room for many more and keeps a wrong file (`--baseline /dev/zero`) from filling memory.
pub const RUN_RECORD_LIMIT: crate::bounded_read::Limit = crate::bounded_read::Limit {
    bytes: 16 * crate::bounded_read::MIB,
    what: "a run report",
};

#[derive(Debug, thiserror::Error)]
pub enum RunReadError {
    #[error("cannot read {}: {}", .0.path().display(), .0)]
    Read(#[source] crate::bounded_read::ReadError),
    #[error(
        "{}:{line}:{column}: not a `check --format json` report: {reason}",
        path.display()
    )]
    Parse {
        path: PathBuf,
        line: usize,
        column: usize,
        reason: String,
    },
}

impl RunRecord {
    /// Reads a `check --format json` report (or a history file, which is one).
    pub fn load(path: &Path) -> Result<RunRecord, RunReadError> {
        let text = crate::bounded_read::read_regular_to_string(path, RUN_RECORD_LIMIT)
            .map_err(RunReadError::Read)?;
        RunRecord::parse(&text, path)
    }

    /// Parses a report's text; `path` is only for the error.
    pub fn parse(text: &str, path: &Path) -> Result<RunRecord, RunReadError> {
        serde_json::from_str(text).map_err(|e| RunReadError::Parse {
            path: path.to_path_buf(),
            line: e.line(),
            column: e.column(),
            reason: e.to_string(),
        })
    }

    /// A document already in memory (the run just made).
    pub fn from_value(doc: serde_json::Value) -> Result<RunRecord, serde_json::Error> {
        serde_json::from_value(doc)
    }

    /// When the run started, as the report says, or "an unknown time".
    pub fn when(&self) -> &str {
        self.record
            .as_ref()
            .and_then(|h| h.started_at.as_deref())
            .unwrap_or("an unknown time")
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_report_reads_back_and_a_bad_one_says_where() {
        let ok = r#"{"target":{"server":"mx:25","tls":"starttls"},"results":[
            {"id":"unauth-relay","scenario":"A","title":"t","verdict":"pass","reason":"r",
             "steps":[{"name":"n","command":"RCPT TO:<x>","expected":"e",
                       "reply":{"code":554,"enhanced":"5.7.1","text":"554 5.7.1 no"},
                       "verdict":"pass","reason":"r","elapsed_ms":3}],
             "elapsed_ms":5}],
            "summary":{},"elapsed_ms":9}"#;
        let run = RunRecord::parse(ok, Path::new("r.json")).expect("parses");
        assert_eq!(run.results[0].verdict, Verdict::Pass);
        assert_eq!(
            run.results[0].steps[0].reply.as_ref().and_then(|r| r.code),
            Some(554)
        );
        assert_eq!(run.when(), "an unknown time");

        let e = RunRecord::parse("{\"results\": 3}", Path::new("/x/prev.json"))
            .expect_err("not a report");
        let text = e.to_string();
        assert!(text.starts_with("/x/prev.json:1:"), "{text}");
        assert!(
            text.contains("not a `check --format json` report"),
            "{text}"
        );
        let e = RunRecord::parse("{\"target\": {}}", Path::new("p.json")).expect_err("no results");
        assert!(e.to_string().contains("missing field `results`"), "{e}");
        let e = RunRecord::parse(
            r#"{"results":[{"id":"a","verdict":"great"}]}"#,
            Path::new("p.json"),
        )
        .expect_err("unknown verdict");
        assert!(e.to_string().contains("great"), "{e}");
    }
}
