//! Session records: one file per session, text or JSON, each with a header saying which
//! profile, which server, when, with what TLS and which smtpscope made it. The JSON is the
//! document `session --format json` prints, so one reader reads both, with one key more when
//! the session belonged to a scenario run: `scenario` (its id, verdict, reason and steps, as
//! `check --format json` reports them), and the same in the text record's header. Secrets
//! never reach a record: the transcript redacted them as it recorded.

use std::path::{Path, PathBuf};

use serde_json::Value;

use crate::net::Connection;
use crate::oneshot::{RecordHeader, SessionResult, session_json};
use crate::scenario::{StepResult, Verdict};

/// The scenario run a session belonged to: its id, its verdict (none while the run goes on,
/// or when it was stopped before one), why, and every step of the run so far.
#[derive(Debug, Clone, serde::Serialize)]
pub struct ScenarioPart {
    pub id: String,
    pub verdict: Option<Verdict>,
    pub reason: String,
    pub steps: Vec<StepResult>,
    /// For the local-delivery control: the scenario whose verdict it qualifies.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub control_for: Option<String>,
}

impl ScenarioPart {
    /// The part as comment lines after the text record's header.
    pub fn text(&self) -> String {
        let verdict = self
            .verdict
            .map_or_else(|| "no verdict".to_string(), |v| v.to_string());
        let mut out = format!("# scenario: {} · {verdict}", self.id);
        if let Some(of) = &self.control_for {
            out.push_str(&format!(" (the local-delivery control for {of})"));
        }
        out.push('\n');
        if !self.reason.is_empty() {
            out.push_str(&format!("# reason: {}\n", one_line(&self.reason)));
        }
        for (i, step) in self.steps.iter().enumerate() {
            out.push_str(&format!(
                "# step {}: {} → {} · {}{}\n",
                i + 1,
                one_line(&step.command),
                one_line(step.reply_text()),
                step.verdict,
                if step.reason.is_empty() {
                    String::new()
                } else {
                    format!(": {}", one_line(&step.reason))
                }
            ));
        }
        out
    }
}

/// A value on one comment line: line breaks become " / ".
fn one_line(s: &str) -> String {
    s.lines().collect::<Vec<_>>().join(" / ")
}

/// One session, ready to be written.
#[derive(Debug, Clone)]
pub struct SessionRecord {
    pub header: RecordHeader,
    /// `session --format json`'s document.
    pub json: Value,
    /// The header's comment lines.
    pub head: String,
    /// The transcript as text.
    pub body: String,
    /// The scenario run the session belonged to, if any.
    pub scenario: Option<ScenarioPart>,
}

impl SessionRecord {
    /// The record of the session on `conn` so far.
    pub fn of(conn: &Connection, profile: &str) -> SessionRecord {
        let header = RecordHeader::of_session(conn, Some(profile));
        let result = SessionResult {
            elapsed: conn.transcript().elapsed(),
            ..SessionResult::default()
        };
        let json = session_json(conn, &header, &result);
        SessionRecord {
            head: header.text(),
            body: conn.transcript().to_text(),
            header,
            json,
            scenario: None,
        }
    }

    /// The JSON record: `session --format json`'s document, and `scenario` when the session
    /// belonged to a scenario run.
    pub fn json(&self) -> Value {
        let mut doc = self.json.clone();
        if let (Some(part), Value::Object(m)) = (&self.scenario, &mut doc) {
            m.insert("scenario".into(), serde_json::json!(part));
        }
        doc
    }

    /// The text record: the header (with the scenario's lines), a blank line, the transcript.
    pub fn text(&self) -> String {
        let part = self.scenario.as_ref().map(ScenarioPart::text);
        format!("{}{}\n{}", self.head, part.unwrap_or_default(), self.body)
    }

    /// `smtpscope-20261201-101500.250123-lab-open.json`: sorts by time (to the microsecond:
    /// two sessions on loopback can start in the same millisecond, never in the same
    /// microsecond, as one starts after the other's connect), says whose it is, and is the same each time the
    /// same session is exported (a later export of a session still open overwrites the
    /// earlier, shorter one).
    pub fn file_name(&self, json: bool) -> String {
        let stamp = self
            .header
            .started_at
            .parse::<jiff::Timestamp>()
            .map(|t| {
                format!(
                    "{}.{:06}",
                    t.strftime("%Y%m%d-%H%M%S"),
                    t.subsec_microsecond()
                )
            })
            .unwrap_or_else(|_| "unknown-time".into());
        let profile = safe_name(self.header.profile.as_deref().unwrap_or("no-profile"));
        let ext = if json { "json" } else { "txt" };
        format!("smtpscope-{stamp}-{profile}.{ext}")
    }
}

/// A profile's name as part of a file name: anything but ASCII letters, digits, `-`, `_` and
/// `.` becomes `_`, so no name can reach outside the export directory.
fn safe_name(profile: &str) -> String {
    profile
        .chars()
        .map(|c| {
            if c.is_ascii_alphanumeric() || c == '-' || c == '_' || c == '.' {
                c
            } else {
                '_'
            }
        })
        .collect()
}

/// Writes a copy of the explorer's whole run (`text`, the transcript as the text export writes
/// it) into `dir` as `smtpscope-STAMP-PROFILE-run.txt`, 0600; returns the file's path.
pub fn write_run(dir: &Path, profile: &str, text: &str) -> Result<PathBuf, ExportError> {
    crate::private_write::create_private_dir_all(dir).map_err(|source| ExportError::CreateDir {
        path: dir.to_path_buf(),
        source,
    })?;
    let now = jiff::Timestamp::now();
    let stamp = format!(
        "{}.{:03}",
        now.strftime("%Y%m%d-%H%M%S"),
        now.subsec_millisecond()
    );
    let profile = safe_name(profile);
    let path = dir.join(format!("smtpscope-{stamp}-{profile}-run.txt"));
    crate::private_write::replace(&path, text.as_bytes()).map_err(|source| ExportError::Write {
        path: path.clone(),
        source,
    })?;
    Ok(path)
}

#[derive(Debug, thiserror::Error)]
pub enum ExportError {
    #[error("cannot create the export directory {}: {source}", path.display())]
    CreateDir {
        path: PathBuf,
        source: std::io::Error,
    },
    #[error("cannot write {}: {source}", path.display())]
    Write {
        path: PathBuf,
        source: std::io::Error,
    },
    #[error("cannot render {}: {reason}", path.display())]
    Render { path: PathBuf, reason: String },
}

/// Writes `record` into `dir` (created 0700 if missing) as text or JSON, 0600, replacing an
/// earlier export of the same session whole; returns the file's path.
pub fn write(dir: &Path, record: &SessionRecord, json: bool) -> Result<PathBuf, ExportError> {
    write_distinct(dir, record, json, &mut std::collections::HashSet::new())
}

/// [`write`] for one of several records exported together: a name already `taken` by this
/// export gets `-2`, `-3`… before its extension, so no record of the batch overwrites another
/// (two sessions can never share a name by their times, but a clock stepping back could).
pub fn write_distinct(
    dir: &Path,
    record: &SessionRecord,
    json: bool,
    taken: &mut std::collections::HashSet<PathBuf>,
) -> Result<PathBuf, ExportError> {
    crate::private_write::create_private_dir_all(dir).map_err(|source| ExportError::CreateDir {
        path: dir.to_path_buf(),
        source,
    })?;
    let name = record.file_name(json);
    let mut path = dir.join(&name);
    let mut n = 2;
    while taken.contains(&path) {
        let (stem, ext) = name.rsplit_once('.').unwrap_or((name.as_str(), ""));
        path = dir.join(format!("{stem}-{n}.{ext}"));
        n += 1;
    }
    taken.insert(path.clone());
    let contents = if json {
        let mut text =
            serde_json::to_string_pretty(&record.json()).map_err(|e| ExportError::Render {
                path: path.clone(),
                reason: e.to_string(),
            })?;
        text.push('\n');
        text
    } else {
        record.text()
    };
    crate::private_write::replace(&path, contents.as_bytes()).map_err(|source| {
        ExportError::Write {
            path: path.clone(),
            source,
        }
    })?;
    Ok(path)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn record(profile: Option<&str>, started_at: &str) -> SessionRecord {
        SessionRecord {
            header: RecordHeader {
                tool: "smtpscope".into(),
                version: "0.1.0".into(),
                profile: profile.map(str::to_string),
                server: "127.0.0.1:25".into(),
                started_at: started_at.into(),
                tls: "starttls: not established".into(),
            },
            json: serde_json::json!({"record": {}}),
            head: "# header\n".into(),
            body: String::new(),
            scenario: None,
        }
    }

    #[test]
    fn file_names_sort_by_time_and_name_the_profile_safely() {
        let r = record(Some("lab-open"), "2026-12-01T10:15:00.25Z");
        assert_eq!(
            r.file_name(true),
            "smtpscope-20261201-101500.250000-lab-open.json"
        );
        assert_eq!(
            r.file_name(false),
            "smtpscope-20261201-101500.250000-lab-open.txt"
        );
        let odd = record(Some("../x y"), "garbage");
        assert_eq!(odd.file_name(false), "smtpscope-unknown-time-.._x_y.txt");
        assert!(!odd.file_name(false).contains('/'));
        let none = record(None, "2026-12-01T10:15:00Z");
        assert!(none.file_name(true).ends_with("-no-profile.json"));
    }

    #[test]
    fn sessions_a_microsecond_apart_or_sharing_a_time_keep_their_own_files() {
        let dir = tempfile::tempdir().expect("tempdir");
        let a = record(Some("p"), "2026-12-01T10:15:00.250001Z");
        let b = record(Some("p"), "2026-12-01T10:15:00.250002Z");
        assert_ne!(a.file_name(true), b.file_name(true));
        let mut taken = std::collections::HashSet::new();
        let first = write_distinct(dir.path(), &a, true, &mut taken).expect("written");
        let same_time = write_distinct(dir.path(), &a, true, &mut taken).expect("written");
        assert_ne!(first, same_time);
        assert!(
            same_time.to_string_lossy().ends_with("-p-2.json"),
            "{same_time:?}"
        );
        assert_eq!(std::fs::read_dir(dir.path()).expect("dir").count(), 2);
    }

    #[test]
    fn writing_creates_the_directory_and_says_where_it_failed() {
        let dir = tempfile::tempdir().expect("tempdir");
        let target = dir.path().join("a/b");
        let r = record(Some("p"), "2026-12-01T10:15:00Z");
        let path = write(&target, &r, false).expect("written");
        assert_eq!(
            std::fs::read_to_string(&path).expect("read"),
            "# header\n\n"
        );
        let json = write(&target, &r, true).expect("written");
        let back: Value =
            serde_json::from_str(&std::fs::read_to_string(json).expect("read")).expect("json");
        assert_eq!(back, serde_json::json!({"record": {}}));
        // A file where the directory should be: the error names the path.
        let blocked = dir.path().join("file");
        std::fs::write(&blocked, "x").expect("write");
        let e = write(&blocked.join("sub"), &r, false).expect_err("cannot create");
        assert!(
            e.to_string().contains(&*blocked.display().to_string()),
            "{e}"
        );
    }

    #[cfg(unix)]
    #[test]
    fn exports_are_private() {
        use std::os::unix::fs::PermissionsExt;
        let dir = tempfile::tempdir().expect("tempdir");
        let target = dir.path().join("exports");
        let path = write(&target, &record(Some("p"), "2026-12-01T10:15:00Z"), true).expect("ok");
        let mode = |p: &Path| std::fs::metadata(p).expect("stat").permissions().mode() & 0o777;
        assert_eq!(mode(&path), 0o600);
        assert_eq!(mode(&target), 0o700);
    }
}
