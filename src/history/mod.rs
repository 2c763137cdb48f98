//! Run history: each run of a profile kept as its `check --format json` document in
//! `history/<profile>/` in the data directory, the last [`KEEP_RUNS`] per profile (the oldest
//! go first), and the diff of two runs. The explorer records every scenario run it finishes;
//! `check` records a run with `--history`.

pub mod diff;
pub mod run;
pub mod timeline;

use std::path::{Path, PathBuf};

use serde_json::Value;

pub use diff::{Direction, RunDiff, ScenarioChange, StepChange, diff};
pub use run::{RunReadError, RunRecord};
pub use timeline::timeline;

/// Runs kept per profile.
pub const KEEP_RUNS: usize = 50;

#[derive(Debug, thiserror::Error)]
pub enum HistoryError {
    #[error("{0:?} cannot name a history directory (letters, digits, '.', '_' and '-')")]
    BadProfile(String),
    #[error("cannot create {}: {source}", path.display())]
    CreateDir {
        path: PathBuf,
        source: std::io::Error,
    },
    #[error("cannot write {}: {source}", path.display())]
    Write {
        path: PathBuf,
        source: std::io::Error,
    },
    #[error("cannot read {}: {source}", path.display())]
    List {
        path: PathBuf,
        source: std::io::Error,
    },
    #[error("cannot render a run for {}: {reason}", path.display())]
    Render { path: PathBuf, reason: String },
    #[error(transparent)]
    Read(#[from] RunReadError),
}

/// The history of every profile, under one directory.
#[derive(Debug, Clone)]
pub struct History {
    root: PathBuf,
}

impl History {
    pub fn new(root: impl Into<PathBuf>) -> History {
        History { root: root.into() }
    }

    /// `history/` in the data directory.
    pub fn in_data_dir() -> Result<History, crate::data_dir::DataDirError> {
        Ok(History::new(crate::data_dir::history_dir()?))
    }

    fn dir(&self, profile: &str) -> Result<PathBuf, HistoryError> {
        let ok = !profile.is_empty()
            && !profile.starts_with('.')
            && profile
                .chars()
                .all(|c| c.is_ascii_alphanumeric() || matches!(c, '.' | '_' | '-'));
        if !ok {
            return Err(HistoryError::BadProfile(profile.to_string()));
        }
        Ok(self.root.join(profile))
    }

    /// Keeps `doc` (a `check --format json` document) as the profile's latest run, then drops
    /// the oldest beyond [`KEEP_RUNS`]. `started` names the file, so files sort by time.
    pub fn save(
        &self,
        profile: &str,
        started: jiff::Timestamp,
        doc: &Value,
    ) -> Result<PathBuf, HistoryError> {
        let dir = self.dir(profile)?;
        std::fs::create_dir_all(&dir).map_err(|source| HistoryError::CreateDir {
            path: dir.clone(),
            source,
        })?;
        let stem = format!(
            "{}.{:03}",
            started.strftime("%Y%m%d-%H%M%S"),
            started.subsec_millisecond()
        );
        // Two runs in the same millisecond (the explorer's control and its scenario) both stay.
        // The counter keeps names in time order when sorted as text.
        let mut n = 0u32;
        let mut path = dir.join(format!("{stem}-{n:03}.json"));
        while path.exists() {
            n += 1;
            path = dir.join(format!("{stem}-{n:03}.json"));
        }
        let text = serde_json::to_string_pretty(doc).map_err(|e| HistoryError::Render {
            path: path.clone(),
            reason: e.to_string(),
        })?;
        std::fs::write(&path, text).map_err(|source| HistoryError::Write {
            path: path.clone(),
            source,
        })?;
        self.prune(&dir)?;
        Ok(path)
    }

    fn prune(&self, dir: &Path) -> Result<(), HistoryError> {
        let runs = list_dir(dir)?;
        if runs.len() > KEEP_RUNS {
            for old in &runs[..runs.len() - KEEP_RUNS] {
                // One that cannot be removed now is removed by a later run.
                let _ = std::fs::remove_file(old);
            }
        }
        Ok(())
    }

    /// The profile's runs, oldest first (none yet: empty).
    pub fn runs(&self, profile: &str) -> Result<Vec<PathBuf>, HistoryError> {
        let dir = self.dir(profile)?;
        if !dir.exists() {
            return Ok(Vec::new());
        }
        list_dir(&dir)
    }

    /// The last two runs of the profile that include `scenario` (by id), older first: the
    /// "before and after" of the explorer.
    pub fn last_two_with(
        &self,
        profile: &str,
        scenario: &str,
    ) -> Result<Option<(RunRecord, RunRecord)>, HistoryError> {
        let mut found = Vec::new();
        for path in self.runs(profile)?.iter().rev() {
            let run = RunRecord::load(path)?;
            // An edited run is no verdict of its scenario: before and after skip it.
            if run
                .results
                .iter()
                .any(|r| r.id == scenario && !r.is_edited())
            {
                found.push(run);
                if found.len() == 2 {
                    break;
                }
            }
        }
        Ok(match (found.pop(), found.pop()) {
            (Some(older), Some(newer)) => Some((older, newer)),
            _ => None,
        })
    }
}

fn list_dir(dir: &Path) -> Result<Vec<PathBuf>, HistoryError> {
    let entries = std::fs::read_dir(dir).map_err(|source| HistoryError::List {
        path: dir.to_path_buf(),
        source,
    })?;
    let mut runs: Vec<PathBuf> = entries
        .flatten()
        .map(|e| e.path())
        .filter(|p| p.extension().is_some_and(|e| e == "json"))
        .collect();
    runs.sort();
    Ok(runs)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn doc(verdict: &str) -> Value {
        serde_json::json!({
            "target": {"server": "mx:25", "tls": "starttls"},
            "results": [{"id": "unauth-relay", "scenario": "A", "title": "t",
                         "verdict": verdict, "reason": "r", "steps": []}],
        })
    }

    #[test]
    fn history_is_bounded_and_the_oldest_go_first() {
        let dir = tempfile::tempdir().expect("tempdir");
        let h = History::new(dir.path());
        let start = jiff::Timestamp::from_second(1_800_000_000).expect("time");
        let total = KEEP_RUNS + 7;
        for i in 0..total {
            let at = start
                .checked_add(jiff::SignedDuration::from_secs(i as i64))
                .expect("time");
            h.save("mx", at, &doc("pass")).expect("saved");
        }
        let runs = h.runs("mx").expect("runs");
        assert_eq!(runs.len(), KEEP_RUNS);
        // The first 7 are gone; the newest is still there.
        let first_kept = start
            .checked_add(jiff::SignedDuration::from_secs(7))
            .expect("time")
            .strftime("%Y%m%d-%H%M%S")
            .to_string();
        let name = runs[0]
            .file_name()
            .expect("name")
            .to_string_lossy()
            .to_string();
        assert!(name.starts_with(&first_kept), "{name} vs {first_kept}");
        assert!(h.runs("other").expect("none").is_empty());
    }

    #[test]
    fn the_last_two_runs_of_a_scenario_diff_before_and_after() {
        let dir = tempfile::tempdir().expect("tempdir");
        let h = History::new(dir.path());
        let t = jiff::Timestamp::from_second(1_800_000_000).expect("time");
        assert!(h.last_two_with("mx", "unauth-relay").expect("ok").is_none());
        h.save("mx", t, &doc("pass")).expect("saved");
        // The same millisecond twice: both kept.
        h.save("mx", t, &doc("fail")).expect("saved");
        assert_eq!(h.runs("mx").expect("runs").len(), 2);
        let (before, after) = h
            .last_two_with("mx", "unauth-relay")
            .expect("ok")
            .expect("two runs");
        let d = diff(&before, &after);
        assert!(d.has_regression(), "{}", d.render());
        assert!(h.last_two_with("mx", "starttls").expect("ok").is_none());
    }

    #[test]
    fn an_edited_run_is_kept_but_never_compared() {
        let dir = tempfile::tempdir().expect("tempdir");
        let h = History::new(dir.path());
        let t = jiff::Timestamp::from_second(1_800_000_000).expect("time");
        h.save("mx", t, &doc("pass")).expect("saved");
        let mut edited = doc("fail");
        edited["results"][0]["edited"] = serde_json::json!(["`RCPT TO:<postmaster@x>` sent"]);
        h.save("mx", t, &edited).expect("saved");
        assert_eq!(h.runs("mx").expect("runs").len(), 2, "kept");
        assert!(
            h.last_two_with("mx", "unauth-relay").expect("ok").is_none(),
            "the edited run is no 'after' of the pass before it"
        );
        let two: Vec<RunRecord> = h
            .runs("mx")
            .expect("runs")
            .iter()
            .map(|p| RunRecord::load(p).expect("readable"))
            .collect();
        let lines = timeline::timeline(&two).join("\n");
        assert!(lines.contains("nothing to compare yet"), "{lines}");
        h.save("mx", t, &doc("pass")).expect("saved");
        let (before, after) = h
            .last_two_with("mx", "unauth-relay")
            .expect("ok")
            .expect("the two unedited runs");
        assert!(diff(&before, &after).is_empty(), "pass, then pass again");
        let runs: Vec<RunRecord> = h
            .runs("mx")
            .expect("runs")
            .iter()
            .map(|p| RunRecord::load(p).expect("readable"))
            .collect();
        let lines = timeline::timeline(&runs).join("\n");
        assert!(
            lines.contains("unauth-relay edited (not a verdict; FAIL as run)"),
            "{lines}"
        );
        assert!(
            !lines.contains("PASS → FAIL") && !lines.contains("FAIL → PASS"),
            "{lines}"
        );
        // A diff with an edited side says it compared nothing there.
        let d = diff(&runs[0], &runs[1]);
        assert!(d.is_empty() && !d.has_regression());
        assert!(
            d.render().contains("edited  unauth-relay: not compared"),
            "{}",
            d.render()
        );
    }

    #[test]
    fn a_profile_name_cannot_leave_the_history_directory() {
        let h = History::new("/nonexistent");
        for bad in ["../x", "", ".hidden", "a/b"] {
            assert!(matches!(h.runs(bad), Err(HistoryError::BadProfile(_))));
        }
    }
}
