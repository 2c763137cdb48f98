//! What flows into `update` (messages) and out of it (effects for the runtime to carry out).

use std::path::PathBuf;

use ratatui::crossterm::event::{KeyEvent, MouseEvent};
use secrecy::SecretString;

use super::state::{ConnInfo, Toggles};
use crate::profile::Profile;
use crate::scenario::runner::StepKind;
use crate::scenario::{Scenario, StepResult, Verdict};
use crate::smtp::auth::Mechanism;
use crate::transcript::Entry;

/// Reports from the network side.
#[derive(Debug, Clone)]
pub enum NetEvent {
    Entry(Entry),
    /// The step waiting for the operator: a command pre-fills the editor; an exchange or a
    /// local check is shown as what it is, and Enter runs it.
    Preview {
        index: usize,
        step: StepKind,
    },
    Step {
        index: usize,
        result: StepResult,
    },
    Conn(ConnInfo),
    Done {
        verdict: Verdict,
        reason: String,
        /// What the operator changed: not empty, the run is no verdict of the scenario.
        edited: Vec<String>,
    },
    /// The local-delivery control starts, to qualify the verdict of scenario `of`: the
    /// sessions that follow are the control's.
    ControlStarted {
        of: String,
    },
    /// The network side is idle again.
    Idle,
    /// A command to offer in the editor, for the operator to edit or send: the EHLO that
    /// RFC 3207 requires after a STARTTLS typed by hand.
    Suggest {
        command: String,
        why: String,
    },
    Info(String),
    /// What the followed mail log says now (the watch pane).
    Watch(Box<crate::watch::snapshot::Snapshot>),
    /// The server closed the connection while no command waited for a reply: its last words
    /// (one line), and how long the connection had been idle when it spoke or closed.
    ServerClosed {
        last: Option<String>,
        code: Option<u16>,
        idle: std::time::Duration,
        /// A scenario run was waiting at a step on that connection.
        during_run: bool,
    },
    /// Shared, so the event stays cheap to clone while the error keeps its type.
    Error(std::sync::Arc<super::worker::WorkerError>),
    /// The session records written (none when there was no session yet).
    Exported(Vec<PathBuf>),
    /// A profile came back from the trash folder.
    ProfileRestored {
        name: String,
    },
    /// A copy of the whole run was written to this file.
    RunWritten(PathBuf),
    ProfileSaved {
        name: String,
        path: PathBuf,
        profile: Box<Profile>,
    },
    ProfileDeleted {
        name: String,
        /// Where the file went: the trash folder of the data directory, for `u` to restore.
        trashed: PathBuf,
    },
    /// A profile's run history as the history pane shows it.
    History {
        profile: String,
        lines: Vec<String>,
    },
    /// The config directory read again: its profiles, and those that did not load.
    ProfilesListed {
        profiles: Vec<(String, Profile)>,
        errors: Vec<std::sync::Arc<crate::profile::ProfileError>>,
    },
    ProfileRenamed {
        from: String,
        to: String,
        path: PathBuf,
    },
}

#[derive(Debug)]
pub enum Message {
    Key(KeyEvent),
    Mouse(MouseEvent),
    Resize,
    Net(Box<NetEvent>),
    /// SIGTERM or SIGHUP: quit cleanly, restoring the terminal.
    Terminate(&'static str),
    /// Start the selected scenario, as Enter in the scenario list does; `run_all` plays it
    /// through without stopping at each step (`tui --scenario X --run`).
    StartScenario {
        run_all: bool,
    },
}

/// Everything needed to connect, decided by the UI and carried out by the runtime.
#[derive(Debug, Clone)]
pub struct Target {
    pub profile_name: String,
    pub profile: Profile,
    pub toggles: Toggles,
    pub password: Option<SecretString>,
}

#[derive(Debug)]
pub enum Effect {
    StartScenario {
        target: Box<Target>,
        scenario: Box<Scenario>,
        /// The local-delivery control, for scenarios whose rejections mean nothing without it.
        control: Option<Box<Scenario>>,
        run_all: bool,
    },
    /// A domain check (posture, MTA-STS, DANE) of the profile's domain.
    StartDomainCheck {
        target: Box<Target>,
        check: crate::run::DomainCheck,
    },
    Advance {
        edited: Option<String>,
    },
    Skip,
    RunRest,
    Rset,
    Reconnect {
        target: Box<Target>,
    },
    Abort,
    /// A command typed by hand, escapes decoded, sent as given.
    Manual {
        target: Box<Target>,
        bytes: Vec<u8>,
    },
    ManualAuth {
        target: Box<Target>,
        mechanism: Mechanism,
    },
    /// Write every session as a record (text or JSON), one file each.
    Export {
        json: bool,
    },
    /// Write a copy of the whole run (the transcript as the text export writes it) to a file
    /// where the profile's exports go.
    WriteRun {
        export_dir: Option<std::path::PathBuf>,
        profile: String,
        text: String,
    },
    SaveProfile {
        name: String,
        text: String,
    },
    DeleteProfile {
        name: String,
    },
    /// Move a deleted profile back from the trash folder.
    RestoreProfile {
        name: String,
        from: PathBuf,
    },
    /// Read the profiles in the config directory again (profiles written by hand appear).
    ListProfiles,
    /// Read the profile's run history and say what changed between runs.
    ShowHistory {
        profile: String,
    },
    /// Follow the profile's mail log for the watch pane (the one followed before stops).
    WatchLog {
        path: std::path::PathBuf,
    },
    /// The watch pane closed: stop following.
    StopWatch,
    RenameProfile {
        from: String,
        to: String,
    },
}
