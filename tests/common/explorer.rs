//! The explorer driven with no terminal: the worker runs scenarios against a server, its
//! events go through `update`, and the screen is drawn on a test backend on demand.

use std::path::PathBuf;
use std::time::Duration;

use ratatui::Terminal;
use ratatui::backend::TestBackend;
use smtpscope::profile::Profile;
use smtpscope::scenario::Catalogue;
use smtpscope::tui::message::{Effect, Message, NetEvent};
use smtpscope::tui::state::{ProfileEntry, State};
use smtpscope::tui::update::update;
use smtpscope::tui::view::{Theme, view};
use smtpscope::tui::worker::{ExportDirs, Worker};
use tokio::sync::{mpsc, watch};

/// The explorer, driven with no terminal: the worker runs each scenario through against a
/// lab, its events go through `update`, and the verdict panel is drawn on a tall test screen.
pub struct Explorer {
    pub state: State,
    effects: mpsc::UnboundedSender<Effect>,
    net: mpsc::UnboundedReceiver<NetEvent>,
    /// Every notice and error the run produced, in order.
    pub said: Vec<String>,
    _abort: watch::Sender<u64>,
}

impl Explorer {
    pub fn new(name: &str, profile: Profile) -> Explorer {
        Explorer::with_exports(
            name,
            profile,
            ExportDirs::from(std::env::temp_dir().join("smtpscope-explorer-exports")),
        )
    }

    pub fn with_exports(name: &str, profile: Profile, exports: ExportDirs) -> Explorer {
        Explorer::full(name, profile, exports, None)
    }

    /// With the run history kept in `history` as well.
    pub fn full(
        name: &str,
        profile: Profile,
        exports: ExportDirs,
        history: Option<PathBuf>,
    ) -> Explorer {
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
        let (effects, effect_rx) = mpsc::unbounded_channel();
        let (net_tx, net) = mpsc::unbounded_channel();
        let (abort, abort_rx) = watch::channel(0u64);
        let mut worker = Worker::new(net_tx, exports);
        if let Some(dir) = history {
            worker = worker.with_history(smtpscope::history::History::new(dir));
        }
        tokio::spawn(worker.run(effect_rx, abort_rx));
        Explorer {
            state,
            effects,
            net,
            said: Vec::new(),
            _abort: abort,
        }
    }

    /// Runs the scenario at `index` through (as `tui --run` does); returns the screen.
    pub async fn run(&mut self, index: usize) -> String {
        self.state.selected = index;
        for e in update(&mut self.state, Message::StartScenario { run_all: true }) {
            self.effects.send(e).unwrap();
        }
        let deadline = tokio::time::Instant::now() + Duration::from_secs(60);
        let mut done = false;
        while !done {
            let ev = tokio::time::timeout_at(deadline, self.net.recv())
                .await
                .expect("the run ends in time")
                .expect("worker alive");
            match &ev {
                NetEvent::Done {
                    verdict, reason, ..
                } => {
                    self.said.push(format!("{verdict}: {reason}"));
                    done = true;
                }
                NetEvent::Info(t) => self.said.push(t.clone()),
                NetEvent::Error(e) => self.said.push(e.to_string()),
                _ => {}
            }
            for e in update(&mut self.state, Message::Net(Box::new(ev))) {
                self.effects.send(e).unwrap();
            }
        }
        self.screen()
    }

    /// The screen as text, drawn tall and wide so nothing is cut.
    pub fn screen(&self) -> String {
        let mut terminal = Terminal::new(TestBackend::new(220, 120)).unwrap();
        terminal
            .draw(|f| view(&self.state, f, Theme { color: false }))
            .unwrap();
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

impl Explorer {
    /// The index of the scenario with `id` in the catalogue.
    pub fn scenario(&self, id: &str) -> usize {
        self.state
            .catalogue
            .iter()
            .position(|s| s.id == id)
            .unwrap_or_else(|| panic!("no scenario {id}"))
    }

    /// Hands `effect` to the worker and feeds its events to `update` until one matches
    /// `until` (returned), within 30 s.
    pub async fn effect_until(
        &mut self,
        effect: Effect,
        until: impl Fn(&NetEvent) -> bool,
    ) -> NetEvent {
        self.effects.send(effect).unwrap();
        self.next_until(until).await
    }

    /// Feeds the worker's events to `update` until one matches `until` (returned).
    pub async fn next_until(&mut self, until: impl Fn(&NetEvent) -> bool) -> NetEvent {
        let deadline = tokio::time::Instant::now() + Duration::from_secs(30);
        loop {
            let ev = tokio::time::timeout_at(deadline, self.net.recv())
                .await
                .expect("the awaited event in time")
                .expect("worker alive");
            let hit = until(&ev);
            for e in update(&mut self.state, Message::Net(Box::new(ev.clone()))) {
                self.effects.send(e).unwrap();
            }
            if hit {
                return ev;
            }
        }
    }

    /// Exports every session (F8, or F9 for JSON); the files written.
    pub async fn export(&mut self, json: bool) -> Vec<PathBuf> {
        match self
            .effect_until(Effect::Export { json }, |e| {
                matches!(e, NetEvent::Exported(_) | NetEvent::Error(_))
            })
            .await
        {
            NetEvent::Exported(paths) => paths,
            other => panic!("export failed: {other:?}"),
        }
    }
}
