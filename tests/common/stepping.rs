//! The explorer stepped through a scenario the way an operator does: Enter on the scenario in
//! the picker, then Enter in the editor each time the run waits at a step, without typing
//! (never Ctrl-R, never `StartScenario { run_all: true }`). No terminal: the worker runs
//! against a server, its events go through `update`, and the screen is drawn on a test
//! backend on demand (as in [`super::explorer`]).
//!
//! What went over the wire is kept per session, rendered as `check --transcripts` renders it
//! (`smtpscope::transcript::render_entry`), from the worker's `NetEvent::Entry` events: a
//! session starts at each "connecting to" event.

use std::time::Duration;

use ratatui::Terminal;
use ratatui::backend::TestBackend;
use ratatui::crossterm::event::{KeyCode, KeyEvent, KeyModifiers};
use smtpscope::profile::Profile;
use smtpscope::scenario::{Catalogue, Verdict};
use smtpscope::transcript::{EntryKind, Event, render_entry};
use smtpscope::tui::message::{Effect, Message, NetEvent};
use smtpscope::tui::state::{Focus, ProfileEntry, State};
use smtpscope::tui::update::update;
use smtpscope::tui::view::{Theme, view};
use smtpscope::tui::worker::{ExportDirs, Worker};
use tokio::sync::{mpsc, watch};

/// How a stepped run ended.
#[derive(Debug, Clone, PartialEq)]
pub enum Ended {
    /// `NetEvent::Done`: the run's verdict, as the verdict panel and the picker get it.
    Verdict(Verdict, String),
    /// The worker reported an error and the run stopped without a verdict.
    Error(String),
    /// Still waiting at a step after the budget of Enter presses: the run does not advance
    /// (e.g. the same step offered again after each Enter).
    Stuck {
        presses: usize,
        /// What the editor held at the last step offered.
        at: String,
    },
    /// Enter at a step did not run it: the run offered the same step again, with no result
    /// for it in between. Stopped there, as pressing again would only repeat it.
    NotRun { presses: usize, at: String },
    /// Enter at a step produced nothing for the worker (the notice says why).
    EnterIgnored { at: String, notice: String },
    /// No verdict before the deadline.
    TimedOut { waiting: String },
}

impl std::fmt::Display for Ended {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            Ended::Verdict(v, why) => write!(f, "{v}: {why}"),
            Ended::Error(e) => write!(f, "stopped on an error without a verdict: {e}"),
            Ended::Stuck { presses, at } => write!(
                f,
                "no verdict after {presses} Enter presses: the run keeps waiting at the step showing {at:?}"
            ),
            Ended::NotRun { presses, at } => write!(
                f,
                "Enter at the step showing {at:?} did not run it: the same step was offered again (after {presses} Enter presses)"
            ),
            Ended::EnterIgnored { at, notice } => write!(
                f,
                "Enter at the step showing {at:?} did nothing (notice: {notice:?})"
            ),
            Ended::TimedOut { waiting } => write!(f, "no verdict in time ({waiting})"),
        }
    }
}

/// An edit the operator makes at one step: when the editor offers a line starting with
/// `at` (ASCII case ignored), clear it (Ctrl-U) and type `typed` instead; then Enter.
#[derive(Debug, Clone)]
pub struct Edit {
    pub at: String,
    pub typed: String,
}

/// What one stepped run did.
#[derive(Debug)]
pub struct Stepped {
    pub ended: Ended,
    /// Enter presses in the editor (the one in the picker not counted).
    pub presses: usize,
    /// The editor's text at each step offered, in order.
    pub offered: Vec<String>,
}

/// The explorer with one profile and the built-in catalogue, driven by keys.
pub struct Stepping {
    pub state: State,
    effects: mpsc::UnboundedSender<Effect>,
    net: mpsc::UnboundedReceiver<NetEvent>,
    /// The transcript, one entry per session (a new one at each "connecting to"), each line
    /// as `render_entry` renders it.
    pub sessions: Vec<Vec<String>>,
    /// The sessions of the local-delivery control run after the scenario (they are shown and
    /// exported, but are not the scenario's), as `sessions`.
    pub control_sessions: Vec<Vec<String>>,
    /// The control is running: its sessions go to `control_sessions`.
    in_control: bool,
    /// Every notice and error the run produced, in order.
    pub said: Vec<String>,
    abort: watch::Sender<u64>,
    _exports: tempfile::TempDir,
}

impl Stepping {
    /// Needs a Tokio runtime (the worker is spawned on it).
    pub fn new(name: &str, profile: Profile) -> Stepping {
        let catalogue = Catalogue::built_in()
            .entries
            .into_iter()
            .map(|e| e.scenario)
            .collect();
        let state = State::new(
            vec![ProfileEntry {
                name: name.into(),
                profile,
                saved: false,
            }],
            catalogue,
        );
        let exports = tempfile::tempdir().expect("export dir");
        let (effects, effect_rx) = mpsc::unbounded_channel();
        let (net_tx, net) = mpsc::unbounded_channel();
        let (abort, abort_rx) = watch::channel(0u64);
        let worker = Worker::new(net_tx, ExportDirs::from(exports.path().to_path_buf()));
        tokio::spawn(worker.run(effect_rx, abort_rx));
        Stepping {
            state,
            effects,
            net,
            sessions: Vec::new(),
            control_sessions: Vec::new(),
            in_control: false,
            said: Vec::new(),
            abort,
            _exports: exports,
        }
    }

    /// A key as the terminal delivers it; returns how many effects it handed to the worker.
    pub fn press_with(&mut self, code: KeyCode, mods: KeyModifiers) -> usize {
        let effects = update(&mut self.state, Message::Key(KeyEvent::new(code, mods)));
        let n = effects.len();
        for e in effects {
            self.hand_over(e);
        }
        n
    }

    /// Hands an effect to the worker as the app loop does: an abort also interrupts what the
    /// worker is doing now.
    fn hand_over(&mut self, e: Effect) {
        if matches!(e, Effect::Abort) {
            self.abort.send_modify(|n| *n += 1);
        }
        self.effects.send(e).expect("worker alive");
    }

    pub fn press(&mut self, code: KeyCode) -> usize {
        self.press_with(code, KeyModifiers::NONE)
    }

    pub fn type_text(&mut self, text: &str) {
        for c in text.chars() {
            self.press(KeyCode::Char(c));
        }
    }

    /// Empties the editor as an operator does: Ctrl-U, then Backspace for whatever is left.
    pub fn clear_editor(&mut self) {
        self.press_with(KeyCode::Char('u'), KeyModifiers::CONTROL);
        let left = self.state.editor.text().chars().count();
        self.press(KeyCode::End);
        for _ in 0..left {
            self.press(KeyCode::Backspace);
        }
        assert_eq!(
            self.state.editor.text(),
            "",
            "Ctrl-U and Backspace leave the editor empty"
        );
    }

    fn net(&mut self, ev: NetEvent) {
        match &ev {
            NetEvent::Entry(e) => {
                let sessions = if self.in_control {
                    &mut self.control_sessions
                } else {
                    &mut self.sessions
                };
                if matches!(e.kind, EntryKind::Event(Event::Connecting { .. }))
                    || sessions.is_empty()
                {
                    sessions.push(Vec::new());
                }
                if let Some(s) = sessions.last_mut() {
                    s.extend(render_entry(e));
                }
            }
            NetEvent::ControlStarted { .. } => self.in_control = true,
            NetEvent::Done {
                verdict, reason, ..
            } => {
                self.in_control = false;
                self.said.push(format!("{verdict}: {reason}"));
            }
            NetEvent::Info(t) => self.said.push(t.clone()),
            NetEvent::Error(e) => self.said.push(e.to_string()),
            _ => {}
        }
        for e in update(&mut self.state, Message::Net(Box::new(ev))) {
            self.hand_over(e);
        }
    }

    /// Selects scenario `id` in the picker, presses Enter there, then Enter in the editor at
    /// every step the run waits at (after `edits`, where one applies), at most `budget`
    /// times, until the verdict arrives or `within` has passed.
    pub async fn step_through(
        &mut self,
        id: &str,
        edits: &[Edit],
        budget: usize,
        within: Duration,
    ) -> Stepped {
        let index = self
            .state
            .catalogue
            .iter()
            .position(|s| s.id == id)
            .unwrap_or_else(|| panic!("no scenario {id}"));
        assert_eq!(
            self.state.focus,
            Focus::Picker,
            "{id}: the picker has the focus"
        );
        // Up to the top of the list, then down to the scenario.
        for _ in 0..self.state.catalogue.len() {
            self.press(KeyCode::Up);
        }
        for _ in 0..index {
            self.press(KeyCode::Down);
        }
        assert_eq!(self.state.selected, index, "{id}: selected in the picker");
        let started = self.press(KeyCode::Enter);
        assert_eq!(
            started, 1,
            "{id}: Enter in the picker starts the scenario (notice: {:?})",
            self.state.notice
        );
        let deadline = tokio::time::Instant::now() + within;
        let mut presses = 0;
        let mut offered = Vec::new();
        let mut pending_edits: Vec<Edit> = edits.to_vec();
        // The step offered last, and whether a step result came since.
        let mut last_offered: Option<usize> = None;
        let mut graded_since = false;
        let ended = loop {
            let ev = match tokio::time::timeout_at(deadline, self.net.recv()).await {
                Ok(Some(ev)) => ev,
                Ok(None) => break Ended::Error("the worker stopped".into()),
                Err(_) => {
                    break Ended::TimedOut {
                        waiting: format!(
                            "{presses} Enter presses; last step offered: {:?}; said: {:?}",
                            offered.last(),
                            self.said
                        ),
                    };
                }
            };
            let preview = match &ev {
                NetEvent::Preview { index, .. } => Some(*index),
                _ => None,
            };
            graded_since |= matches!(ev, NetEvent::Step { .. });
            let done = match &ev {
                NetEvent::Done {
                    verdict, reason, ..
                } => Some(Ended::Verdict(*verdict, reason.clone())),
                NetEvent::Error(e) => Some(Ended::Error(e.to_string())),
                _ => None,
            };
            self.net(ev);
            if let Some(end) = done {
                break end;
            }
            let Some(index) = preview else {
                continue;
            };
            // The run waits at a step: what the editor holds is what the operator sees.
            let shown = self.state.editor.text();
            offered.push(shown.clone());
            if last_offered == Some(index) && !graded_since {
                break Ended::NotRun { presses, at: shown };
            }
            last_offered = Some(index);
            graded_since = false;
            if presses >= budget {
                break Ended::Stuck { presses, at: shown };
            }
            assert_eq!(
                self.state.focus,
                Focus::Editor,
                "{id}: a step waiting puts the focus in the editor"
            );
            if let Some(i) = pending_edits.iter().position(|e| {
                shown
                    .get(..e.at.len())
                    .is_some_and(|p| p.eq_ignore_ascii_case(&e.at))
            }) {
                let edit = pending_edits.remove(i);
                self.clear_editor();
                self.type_text(&edit.typed);
            }
            presses += 1;
            if self.press(KeyCode::Enter) == 0 {
                break Ended::EnterIgnored {
                    at: shown,
                    notice: self
                        .state
                        .notice
                        .as_ref()
                        .map(|(_, n)| n.clone())
                        .unwrap_or_default(),
                };
            }
        };
        Stepped {
            ended,
            presses,
            offered,
        }
    }

    /// Feeds the worker's events to the app until one matches `until` (true), or `within`
    /// has passed (false).
    pub async fn wait_for(&mut self, until: impl Fn(&NetEvent) -> bool, within: Duration) -> bool {
        let deadline = tokio::time::Instant::now() + within;
        loop {
            let Ok(Some(ev)) = tokio::time::timeout_at(deadline, self.net.recv()).await else {
                return false;
            };
            let hit = until(&ev);
            self.net(ev);
            if hit {
                return true;
            }
        }
    }

    /// Feeds what the worker has reported so far to the app.
    pub async fn drain_events(&mut self) {
        while let Ok(ev) = self.net.try_recv() {
            self.net(ev);
        }
    }

    /// F9, as the operator exports the transcript: one JSON record per session. The files
    /// written, or `None` when the worker did not answer within 30 s or failed.
    pub async fn export_json(&mut self) -> Option<Vec<std::path::PathBuf>> {
        self.press(KeyCode::F(9));
        let deadline = tokio::time::Instant::now() + Duration::from_secs(30);
        loop {
            let ev = tokio::time::timeout_at(deadline, self.net.recv())
                .await
                .ok()??;
            let answer = match &ev {
                NetEvent::Exported(paths) => Some(Some(paths.clone())),
                NetEvent::Error(_) => Some(None),
                _ => None,
            };
            self.net(ev);
            if let Some(a) = answer {
                return a;
            }
        }
    }

    /// The screen as text, drawn tall and wide so nothing is cut.
    pub fn screen(&self) -> String {
        let mut terminal = Terminal::new(TestBackend::new(220, 120)).expect("terminal");
        terminal
            .draw(|f| view(&self.state, f, Theme { color: false }))
            .expect("draw");
        let buf = terminal.backend().buffer();
        let mut text = String::new();
        for y in 0..buf.area.height {
            for x in 0..buf.area.width {
                text.push_str(buf[(x, y)].symbol());
            }
            text.push('\n');
        }
        text
    }
}
