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
        // The data directory and everything smtpscope creates in it are the user's alone.
        crate::private_write::create_private_dir_all(&dir).map_err(|source| {
            HistoryError::CreateDir {
                path: dir.clone(),
                source,
            }
        })?;
        let stem = format!(
            "{}.{:03}",
            started.strftime("%Y%m%d-%H%M%S"),
            started.subsec_millisecond()
        );
        let text = serde_json::to_string_pretty(doc).map_err(|e| HistoryError::Render {
            path: dir.join(format!("{stem}-000.json")),
            reason: e.to_string(),
        })?;
        // Two runs in the same millisecond (the explorer's control and its scenario) both stay.
        // The counter keeps names in time order when sorted as text. A name is taken only if
        // nothing is there (O_EXCL), so no file, and no symlink, is ever written through.
        let mut n = 0u32;
        let path = loop {
            let path = dir.join(format!("{stem}-{n:03}.json"));
            match crate::private_write::create_new(&path, text.as_bytes()) {
                Ok(()) => break path,
                Err(e) if e.kind() == std::io::ErrorKind::AlreadyExists && n < MAX_SAME_MILLI => {
                    n += 1;
                }
                Err(source) => return Err(HistoryError::Write { path, source }),
            }
        };
        self.prune(&dir)?;
        Ok(path)
    }

    /// Drops the oldest runs beyond [`KEEP_RUNS`]. Only runs `save` wrote are counted and
    /// removed: regular files named as it names them, never anything else a user keeps there.
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

    /// Each scenario's last verdict in the profile's newest runs (at most `runs` of them read),
    /// edited runs passed over, as the explorer's scenario and profile lists show them after a
    /// restart. Files that cannot be read are passed over too.
    pub fn last_verdicts(
        &self,
        profile: &str,
        runs: usize,
    ) -> Result<Vec<(String, crate::scenario::Verdict)>, HistoryError> {
        let mut out: Vec<(String, crate::scenario::Verdict)> = Vec::new();
        for path in self.runs(profile)?.iter().rev().take(runs) {
            let Ok(run) = RunRecord::load(path) else {
                continue;
            };
            for r in run.results.iter().filter(|r| !r.is_edited()) {
                if !out.iter().any(|(id, _)| *id == r.id) {
                    out.push((r.id.clone(), r.verdict));
                }
            }
        }
        Ok(out)
    }

    /// The last two runs of the profile that include `scenario` (by id), older first: the
    /// "before and after" of the explorer. A run file that cannot be read (cut short by a
    /// crash, edited by hand) is passed over and named in `skipped`, so one bad file never
    /// hides the good runs around it.
    pub fn last_two_with(&self, profile: &str, scenario: &str) -> Result<LastTwo, HistoryError> {
        let mut found = Vec::new();
        let mut skipped = Vec::new();
        for path in self.runs(profile)?.iter().rev() {
            let run = match RunRecord::load(path) {
                Ok(run) => run,
                Err(e) => {
                    skipped.push(e);
                    continue;
                }
            };
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
        let pair = match (found.pop(), found.pop()) {
            (Some(older), Some(newer)) => Some((older, newer)),
            _ => None,
        };
        Ok(LastTwo { pair, skipped })
    }
}

/// What [`History::last_two_with`] found.
#[derive(Debug)]
pub struct LastTwo {
    /// Before and after, older first; `None` until two readable runs include the scenario.
    pub pair: Option<(RunRecord, RunRecord)>,
    /// Run files passed over because they could not be read, newest first.
    pub skipped: Vec<RunReadError>,
}

/// How many runs may share one millisecond before `save` gives up: more than three digits
/// would no longer sort in time order.
const MAX_SAME_MILLI: u32 = 999;

/// `20261201-101500.250-000.json`: the names `save` gives, and the only files the history
/// counts as its own.
fn is_run_file_name(name: &str) -> bool {
    let b = name.as_bytes();
    let digits = |r: std::ops::Range<usize>| b[r].iter().all(u8::is_ascii_digit);
    b.len() == "20261201-101500.250-000.json".len()
        && digits(0..8)
        && b[8] == b'-'
        && digits(9..15)
        && b[15] == b'.'
        && digits(16..19)
        && b[19] == b'-'
        && digits(20..23)
        && name.ends_with(".json")
}

/// The runs `save` wrote in `dir`, oldest first: regular files (a symlink, FIFO or directory is
/// never ours, whatever its name) with a run's name.
fn list_dir(dir: &Path) -> Result<Vec<PathBuf>, HistoryError> {
    let entries = std::fs::read_dir(dir).map_err(|source| HistoryError::List {
        path: dir.to_path_buf(),
        source,
    })?;
    let mut runs: Vec<PathBuf> = entries
        .flatten()
        // The entry's own type: a symlink is a symlink here, not what it points at.
        .filter(|e| e.file_type().is_ok_and(|t| t.is_file()))
        .filter(|e| e.file_name().to_str().is_some_and(is_run_file_name))
        .map(|e| e.path())
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
        assert!(
            h.last_two_with("mx", "unauth-relay")
                .expect("ok")
                .pair
                .is_none()
        );
        h.save("mx", t, &doc("pass")).expect("saved");
        // The same millisecond twice: both kept.
        h.save("mx", t, &doc("fail")).expect("saved");
        assert_eq!(h.runs("mx").expect("runs").len(), 2);
        let (before, after) = h
            .last_two_with("mx", "unauth-relay")
            .expect("ok")
            .pair
            .expect("two runs");
        let d = diff(&before, &after);
        assert!(d.has_regression(), "{}", d.render());
        assert!(
            h.last_two_with("mx", "starttls")
                .expect("ok")
                .pair
                .is_none()
        );
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
            h.last_two_with("mx", "unauth-relay")
                .expect("ok")
                .pair
                .is_none(),
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
            .pair
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
    fn only_the_names_save_gives_are_runs() {
        assert!(is_run_file_name("20261201-101500.250-000.json"));
        assert!(is_run_file_name("20261201-101500.250-999.json"));
        for foreign in [
            "notes.json",
            "20261201-101500.250-000.json.bak",
            "20261201-101500.250-000.JSON",
            "20261201-101500-250-000.json",
            "2026120a-101500.250-000.json",
            "x20261201-101500.250-000.json",
            ".20261201-101500.250-000.json.tmp-1-0",
        ] {
            assert!(!is_run_file_name(foreign), "{foreign}");
        }
    }

    #[test]
    fn a_run_that_cannot_be_read_is_skipped_named_and_never_blocks() {
        let dir = tempfile::tempdir().expect("tempdir");
        let h = History::new(dir.path());
        let t = jiff::Timestamp::from_second(1_800_000_000).expect("time");
        h.save("mx", t, &doc("pass")).expect("saved");
        // Newer than every run: cut short, as by a crash or a full disk.
        let broken = dir.path().join("mx/29991231-235959.999-000.json");
        std::fs::write(
            &broken,
            r#"{"target": {"server": "mx:25"}, "results": [{"id""#,
        )
        .expect("write");
        h.save("mx", t, &doc("fail"))
            .expect("a new run is kept beside it");
        let found = h.last_two_with("mx", "unauth-relay").expect("listed");
        let (before, after) = found.pair.expect("the two good runs");
        assert!(diff(&before, &after).has_regression());
        assert_eq!(found.skipped.len(), 1, "{:?}", found.skipped);
        let said = found.skipped[0].to_string();
        assert!(said.contains(&*broken.display().to_string()), "{said}");
    }

    #[cfg(unix)]
    #[test]
    fn pruning_removes_only_the_runs_it_wrote() {
        let dir = tempfile::tempdir().expect("tempdir");
        let h = History::new(dir.path().join("history"));
        let start = jiff::Timestamp::from_second(1_800_000_000).expect("time");
        h.save("mx", start, &doc("pass")).expect("saved");
        let runs_dir = dir.path().join("history/mx");
        // Named like the oldest runs, so pruning by name alone would take them first.
        let outside = dir.path().join("precious.json");
        std::fs::write(&outside, "keep").expect("write");
        let link = runs_dir.join("20000101-000000.000-000.json");
        std::os::unix::fs::symlink(&outside, &link).expect("symlink");
        let fifo = runs_dir.join("20000101-000000.000-001.json");
        nix::unistd::mkfifo(&fifo, nix::sys::stat::Mode::from_bits_truncate(0o600))
            .expect("mkfifo");
        let foreign = runs_dir.join("notes.json");
        std::fs::write(&foreign, "mine").expect("write");
        for i in 1..=KEEP_RUNS + 3 {
            let at = start
                .checked_add(jiff::SignedDuration::from_secs(i as i64))
                .expect("time");
            h.save("mx", at, &doc("pass")).expect("saved");
        }
        assert_eq!(h.runs("mx").expect("runs").len(), KEEP_RUNS);
        assert!(
            std::fs::symlink_metadata(&link).is_ok(),
            "the symlink stays"
        );
        assert_eq!(std::fs::read_to_string(&outside).expect("read"), "keep");
        assert!(std::fs::symlink_metadata(&fifo).is_ok(), "the FIFO stays");
        assert_eq!(std::fs::read_to_string(&foreign).expect("read"), "mine");
    }

    #[cfg(unix)]
    #[test]
    fn runs_are_private() {
        use std::os::unix::fs::PermissionsExt;
        let dir = tempfile::tempdir().expect("tempdir");
        let h = History::new(dir.path().join("history"));
        let t = jiff::Timestamp::from_second(1_800_000_000).expect("time");
        let path = h.save("mx", t, &doc("pass")).expect("saved");
        let mode = |p: &Path| std::fs::metadata(p).expect("stat").permissions().mode() & 0o777;
        assert_eq!(mode(&path), 0o600);
        assert_eq!(mode(&dir.path().join("history")), 0o700);
        assert_eq!(mode(&dir.path().join("history/mx")), 0o700);
    }

    #[test]
    fn a_profile_name_cannot_leave_the_history_directory() {
        let h = History::new("/nonexistent");
        for bad in ["../x", "", ".hidden", "a/b"] {
            assert!(matches!(h.runs(bad), Err(HistoryError::BadProfile(_))));
        }
    }
}
