//! Everything the screen shows, and nothing that does I/O: `update` changes it, `view` draws
//! it, and tests drive it with no terminal at all.

use std::path::PathBuf;

use ratatui_textarea::TextArea;
use secrecy::SecretString;

mod editor;
mod profiles;
mod run;
mod scroll;
mod toggles;
mod transcript_view;
mod verdicts;

pub use super::lines::{LineKind, LineMeta, Lines};
use super::masked::MaskedInput;
use crate::net::tls::TlsInfo;
use crate::profile::Profile;
use crate::run::DomainCheck;
use crate::scenario::Scenario;
use crate::smtp::auth::Mechanism;
use crate::transcript::Entry;
pub use editor::Editor;
pub use profiles::{NameFor, Naming, ProfileEntry, ProfilePicker, Profiles};
pub use run::{Phase, Refusal, Run, StepView};
pub use scroll::Scroll;
pub use toggles::{TOGGLES, Toggle, ToggleSpec, Toggles};
pub use transcript_view::TranscriptView;
pub use verdicts::{LastRun, Verdicts};

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Focus {
    Picker,
    Transcript,
    Editor,
}

/// Modal panes over the main screen.
#[derive(Debug)]
pub enum Overlay {
    Help {
        scroll: Scroll,
    },
    Teaching {
        scroll: Scroll,
    },
    Capabilities {
        scroll: Scroll,
    },
    /// The TLS session and the certificate chain as sent.
    Tls {
        scroll: Scroll,
    },
    /// A profile's runs, newest first, and what changed between them.
    History {
        profile: String,
        lines: Vec<String>,
        scroll: Scroll,
    },
    Password {
        field: MaskedInput,
        then: PendingAfterPassword,
        /// Why it is asked when the profile does name a source: that source failed.
        why: Option<String>,
    },
    ProfileEditor {
        name: String,
        field: Box<TextArea<'static>>,
        error: Option<String>,
    },
    ConfirmDelete {
        name: String,
    },
    /// The profiles: pick one, create, rename, duplicate, edit, delete.
    Profiles(ProfilePicker),
    /// The profile's mail log, followed: relay denials and AUTH failures per minute, the top
    /// offenders (`selected` among them) and their lines, beside the scenarios that test the
    /// same policy from outside.
    Watch {
        selected: usize,
    },
    /// The selected scenario's last run on two profiles, step by step, side by side: the
    /// current profile on the left, `other` on the right.
    Compare {
        other: String,
        scroll: Scroll,
    },
    /// Starting another scenario would abort the run in progress: asked first.
    ConfirmRestart {
        running: String,
        next: String,
        run_all: bool,
    },
    /// Switching profile would abort the run in progress: asked first.
    ConfirmSwitch {
        from: String,
        to: String,
    },
    /// The command palette (Ctrl-P).
    Palette(crate::tui::palette::Palette),
}

impl Overlay {
    /// The pane's scroll position, for a pane of text that scrolls with the transcript's keys.
    pub fn scroll_mut(&mut self) -> Option<&mut Scroll> {
        match self {
            Overlay::Help { scroll }
            | Overlay::Teaching { scroll }
            | Overlay::Capabilities { scroll }
            | Overlay::Tls { scroll }
            | Overlay::History { scroll, .. }
            | Overlay::Compare { scroll, .. } => Some(scroll),
            _ => None,
        }
    }

    pub fn scrolls(&self) -> bool {
        matches!(
            self,
            Overlay::Help { .. }
                | Overlay::Teaching { .. }
                | Overlay::Capabilities { .. }
                | Overlay::Tls { .. }
                | Overlay::History { .. }
                | Overlay::Compare { .. }
        )
    }
}

/// What to do once the operator has typed a password.
#[derive(Debug, Clone)]
pub enum PendingAfterPassword {
    /// The scenario by id: the selection may have moved while the password was asked for.
    StartScenario {
        scenario: String,
        run_all: bool,
    },
    ManualAuth {
        mechanism: Mechanism,
    },
}

/// A domain check as an entry of the scenario list: no steps (its results arrive as rows of
/// the verdict panel), its id the name `check --scenario` takes.
fn domain_entry(d: DomainCheck) -> Scenario {
    Scenario {
        id: d.id().to_string(),
        aliases: Vec::new(),
        title: d.title().to_string(),
        tests: format!(
            "{}: looked up in DNS for the profile's domain, as `check --domain` does.",
            d.title()
        ),
        why: crate::run::domain::teaching(),
        default: false,
        opt_in: true,
        severity: crate::scenario::model::Severity::Fail,
        needs_control: false,
        requires: Vec::new(),
        tls: crate::scenario::model::TlsUse::Profile,
        authenticate: false,
        groups_per_session: None,
        fix: crate::scenario::model::Fix::default(),
        steps: Vec::new(),
    }
}

/// The domain check an entry of the scenario list stands for.
pub fn domain_check_of(s: &Scenario) -> Option<DomainCheck> {
    DomainCheck::parse(&s.id).filter(|_| s.steps.is_empty())
}

/// What the app as a whole is doing.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub enum Mode {
    #[default]
    Normal,
    /// An abort is on its way to the worker. Until it reports idle, what it reports is about
    /// the run or connection being aborted (a step, a preview, the connection's state), and
    /// showing it would bring back what the abort ended.
    Aborting,
    /// Leaving; by Ctrl-C the process exits 130 (128 + SIGINT), as an interrupted program
    /// does.
    Quitting { interrupted: bool },
}

impl Mode {
    pub fn quitting(self) -> bool {
        matches!(self, Mode::Quitting { .. })
    }

    pub fn interrupted(self) -> bool {
        matches!(self, Mode::Quitting { interrupted: true })
    }

    /// An abort was asked for (quitting stays quitting).
    pub fn aborting(self) -> Mode {
        match self {
            Mode::Quitting { .. } => self,
            _ => Mode::Aborting,
        }
    }

    /// The worker went idle: an abort is complete.
    pub fn idle(self) -> Mode {
        match self {
            Mode::Aborting => Mode::Normal,
            other => other,
        }
    }
}

/// Why the connection shown is closed.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum CloseReason {
    /// The scenario's session ended (QUIT, or the server closed it).
    SessionComplete,
    /// Closed by the server, or after an error.
    Ended,
    /// The operator aborted: closed at once, QUIT not sent.
    Aborted,
}

/// Where the connection is, from the protocol core's own phase.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub enum ConnPhase {
    /// No connection yet.
    #[default]
    None,
    Open(crate::smtp::session::Phase),
    Closed(CloseReason),
}

impl std::fmt::Display for ConnPhase {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            ConnPhase::None => f.write_str("not connected"),
            ConnPhase::Open(p) => write!(f, "{p}"),
            ConnPhase::Closed(CloseReason::SessionComplete) => {
                f.write_str("closed (session complete)")
            }
            ConnPhase::Closed(CloseReason::Ended) => f.write_str("closed"),
            ConnPhase::Closed(CloseReason::Aborted) => f.write_str("closed (aborted)"),
        }
    }
}

/// The connection as the status bar shows it.
#[derive(Debug, Clone, Default)]
pub struct ConnInfo {
    pub phase: ConnPhase,
    /// Boxed: the chain details make it large, and it travels in every connection event.
    pub tls: Option<Box<TlsInfo>>,
    /// The certificate of a handshake that stopped at verification, and why.
    pub tls_rejected: Option<Box<TlsInfo>>,
    pub auth: Option<String>,
    pub caps_before: Vec<(String, String)>,
    pub caps_after: Vec<(String, String)>,
}

impl ConnInfo {
    /// True while the worker holds a connection open.
    pub fn is_open(&self) -> bool {
        matches!(self.phase, ConnPhase::Open(_))
    }
}

pub struct State {
    pub profiles: Profiles,
    pub catalogue: Vec<Scenario>,
    pub selected: usize,
    pub verdicts: Verdicts,
    /// Profiles whose verdicts the scenario list shows side by side, each under a short tag,
    /// while one of them is current: the practice labs of a first run, so that the welcome
    /// line's comparison is on the screen.
    pub compare: Vec<(String, String)>,
    pub focus: Focus,
    pub toggles: Toggles,
    /// The toggles in force on the current connection, to say when a change is pending.
    pub toggles_in_use: Option<Toggles>,
    pub transcript: TranscriptView,
    pub run: Option<Run>,
    pub editor: Editor,
    pub conn: ConnInfo,
    /// The latest notice for the status line: (is_error, text). How long one lasts is
    /// `update`'s rule, written where notices are set.
    pub notice: Option<(bool, String)>,
    /// The notice announces work in progress and ends when the worker goes idle.
    pub notice_until_idle: bool,
    pub overlay: Option<Overlay>,
    /// Kept in memory only, never written anywhere.
    pub password: Option<SecretString>,
    pub log_path: Option<PathBuf>,
    pub relay_101: &'static str,
    pub mode: Mode,
    pub welcome: Option<String>,
    /// Commands typed by hand that the worker has not finished yet: Esc cancels them all.
    pub typed_in_flight: usize,
    /// What to retry with a typed password if the worker reports that it could not read the
    /// profile's (an unset environment variable, a failing password_command): set when a run
    /// that authenticates or a hand-typed AUTH goes out, and cleared when something that does
    /// not read the password goes out instead, so that a failure elsewhere opens no prompt.
    pub secret_retry: Option<PendingAfterPassword>,
    /// What the profile's mail log says, while the watch pane follows it.
    pub watch: Option<Box<crate::watch::snapshot::Snapshot>>,
    /// Text copied and not yet handed to the terminal's clipboard (OSC 52): the app loop
    /// takes it after each update.
    pub clipboard: Option<String>,
    /// The first transcript line of the current profile's sessions: the "last reply" strip
    /// looks no further back, so it never explains another profile's reply after a switch.
    pub profile_start: usize,
    /// The reply-code strip shows its whole explanation (`m`), not two rows of it.
    pub strip_expanded: bool,
    /// The profile deleted last and where its file went, for `u` in the profile list.
    pub trashed: Option<(String, PathBuf)>,
    /// Where the panes were last drawn, for a click to focus one: set by the view.
    pub panes: std::cell::Cell<PaneAreas>,
    /// The local-delivery control is running for this scenario (its id): the sessions that
    /// open now are the control's, and their marks say so.
    pub control_of: Option<String>,
    /// The pane the command palette was opened over, for Esc to come back to.
    pub under_palette: Option<Box<Overlay>>,
}

/// The main screen's panes as last drawn.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct PaneAreas {
    pub picker: ratatui::layout::Rect,
    pub verdict: ratatui::layout::Rect,
    pub transcript: ratatui::layout::Rect,
    pub editor: ratatui::layout::Rect,
}

impl PaneAreas {
    /// The pane a click at (`column`, `row`) lands in: the verdict panel belongs to the
    /// scenario list.
    pub fn focus_at(&self, column: u16, row: u16) -> Option<Focus> {
        let at = ratatui::layout::Position::new(column, row);
        if self.picker.contains(at) || self.verdict.contains(at) {
            Some(Focus::Picker)
        } else if self.transcript.contains(at) {
            Some(Focus::Transcript)
        } else if self.editor.contains(at) {
            Some(Focus::Editor)
        } else {
            None
        }
    }
}

impl State {
    pub fn new(profiles: Vec<ProfileEntry>, catalogue: Vec<Scenario>) -> State {
        let mut state = State::bare(profiles, catalogue);
        state.sync_domain_checks();
        state
    }

    fn bare(profiles: Vec<ProfileEntry>, catalogue: Vec<Scenario>) -> State {
        let profiles = Profiles::new(profiles);
        let toggles = profiles
            .current()
            .map_or(Toggles::from_profile(&Profile::default()), |p| {
                Toggles::from_profile(&p.profile)
            });
        State {
            profiles,
            catalogue,
            selected: 0,
            verdicts: Verdicts::default(),
            compare: Vec::new(),
            focus: Focus::Picker,
            toggles,
            toggles_in_use: None,
            transcript: TranscriptView::default(),
            run: None,
            editor: Editor::default(),
            conn: ConnInfo::default(),
            notice: None,
            notice_until_idle: false,
            overlay: None,
            password: None,
            log_path: None,
            relay_101: crate::scenario::teaching::RELAY_101,
            mode: Mode::Normal,
            welcome: None,
            typed_in_flight: 0,
            secret_retry: None,
            watch: None,
            clipboard: None,
            profile_start: 0,
            strip_expanded: false,
            trashed: None,
            panes: std::cell::Cell::new(PaneAreas::default()),
            control_of: None,
            under_palette: None,
        }
    }

    /// Makes the `i`th profile current: its settings become the toggles, a password typed
    /// for another profile is forgotten, and nothing of the old profile's connection or run
    /// is shown as if it were the new one's. Closing that connection is the caller's effect.
    pub fn switch_profile(&mut self, i: usize) {
        self.profiles.select(i);
        self.password = None;
        if let Some(p) = self.profiles.current() {
            self.toggles = Toggles::from_profile(&p.profile);
        }
        self.toggles_in_use = None;
        self.conn = ConnInfo::default();
        self.run = None;
        self.profile_start = self.transcript.lines.len();
        self.secret_retry = None;
        self.sync_domain_checks();
    }

    pub fn selected_scenario(&self) -> Option<&Scenario> {
        self.catalogue.get(self.selected)
    }

    /// The domain check selected, if the selection is one (not a scenario of the catalogue).
    pub fn selected_domain_check(&self) -> Option<DomainCheck> {
        self.selected_scenario().and_then(domain_check_of)
    }

    /// Lists the domain checks after the scenarios while the current profile names a domain,
    /// as `check` runs them for a domain target; drops them otherwise.
    pub fn sync_domain_checks(&mut self) {
        self.catalogue.retain(|s| domain_check_of(s).is_none());
        let has_domain = self
            .profiles
            .current()
            .is_some_and(|p| p.profile.domain.is_some());
        if has_domain {
            self.catalogue
                .extend(DomainCheck::ALL.into_iter().map(domain_entry));
        }
        self.selected = self.selected.min(self.catalogue.len().saturating_sub(1));
    }

    /// True when the toggles differ from the connection in use.
    pub fn toggles_pending(&self) -> bool {
        self.toggles_in_use.is_some_and(|t| t != self.toggles)
    }

    /// Adds a transcript entry as display lines.
    pub fn push_entry(&mut self, e: &Entry) {
        self.transcript.push_entry(e);
    }
}
