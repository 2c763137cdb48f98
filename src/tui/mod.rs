//! The interactive explorer (ratatui). Elm-style: terminal and network events become
//! [`message::Message`]s; [`update::update`] changes [`state::State`] and returns effects that
//! the [`worker::Worker`] carries out; [`view::view`] draws. No relay logic lives here: the
//! worker drives the same [`crate::scenario::runner::Stepper`] as `check`.

pub mod copy;
pub mod hangup;
pub mod keymap;
pub mod lines;
pub mod masked;
pub mod message;
pub mod palette;
pub mod state;
pub mod update;
pub mod view;
pub mod worker;
pub mod wrap;

use std::io::Write;
use std::path::PathBuf;

use futures::{Stream, StreamExt};
use ratatui::Terminal;
use ratatui::backend::Backend;
use ratatui::crossterm::event::Event as TermEvent;
use tokio::sync::{mpsc, watch};

use message::{Effect, Message};
use state::{ProfileEntry, State};
use view::Theme;

use crate::lab::{Lab, LabConfig, Policy};
use crate::profile::{Profile, ProfileStore};
pub use crate::target::lab::lab_profile;

/// How the TUI was asked to start.
#[derive(Debug, Clone, Default)]
pub struct TuiOptions {
    pub profile: Option<String>,
    pub scenario: Option<String>,
    /// Play the scenario through on its own (demos, teaching).
    pub run: bool,
    /// `--export-dir`: where every export goes, whatever the profile says.
    pub export_dir: Option<PathBuf>,
    /// `--server` and its flags: a target without a profile, explored in memory (the
    /// explorer offers to save it), named after the server.
    pub quick: Option<(String, Profile)>,
}

/// Where the log goes: the platform's data directory (never the terminal), created 0700.
pub fn log_path() -> Option<PathBuf> {
    let dir = crate::data_dir::data_dir().ok()?;
    crate::private_write::create_private_dir_all(&dir).ok()?;
    Some(dir.join("smtpscope.log"))
}

/// Appends one line to the log file (created 0600: it names servers, users and errors);
/// logging must never disturb the screen or fail the app.
pub fn log(path: Option<&PathBuf>, line: &str) {
    if let Some(p) = path
        && let Ok(mut f) = crate::private_write::open_append(p)
    {
        let _ = writeln!(f, "{} {line}", jiff::Timestamp::now());
    }
}

/// The channels between the app loop and the worker.
pub struct AppIo {
    pub effects: mpsc::UnboundedSender<Effect>,
    pub abort: watch::Sender<u64>,
    pub net: mpsc::UnboundedReceiver<message::NetEvent>,
    /// Receives the screen text after each draw (tests wait on it).
    pub on_draw: Option<watch::Sender<String>>,
    /// Where a copy's OSC 52 sequence goes: the terminal (written between frames, so it never
    /// splits a frame's escapes), or `None` where there is no terminal.
    pub clipboard: Option<Box<dyn Write + Send>>,
}

/// Why the app loop stopped short, with the backend's own error.
#[derive(Debug, thiserror::Error)]
pub enum AppError<E> {
    /// A frame could not be drawn: the terminal failed or went away. The cause is in the
    /// message rather than `source()`, so that a report walking the chain says it once.
    #[error("cannot draw: {0}")]
    Draw(E),
}

/// Runs the app loop on any backend: draws, waits for the next message (no ticks, so an idle
/// app sleeps), updates, and hands effects to the worker. `on_draw` receives the screen text
/// after each draw (tests wait on it).
pub async fn run_app<B: Backend>(
    terminal: &mut Terminal<B>,
    state: &mut State,
    mut events: impl Stream<Item = Message> + Unpin,
    io: AppIo,
    theme: Theme,
    initial: Vec<Effect>,
) -> Result<(), AppError<B::Error>> {
    let AppIo {
        effects,
        abort,
        mut net,
        on_draw,
        mut clipboard,
    } = io;
    for e in initial {
        let _ = effects.send(e);
    }
    loop {
        let completed = terminal
            .draw(|f| view::view(state, f, theme))
            .map_err(AppError::Draw)?;
        if let Some(tx) = &on_draw {
            let buf = completed.buffer;
            let mut text = String::new();
            for y in 0..buf.area.height {
                for x in 0..buf.area.width {
                    text.push_str(buf[(x, y)].symbol());
                }
                text.push('\n');
            }
            let _ = tx.send(text);
        }
        let mut batch = Vec::new();
        tokio::select! {
            ev = events.next() => match ev {
                Some(m) => batch.push(m),
                None => return Ok(()),
            },
            ev = net.recv() => match ev {
                Some(n) => batch.push(Message::Net(Box::new(n))),
                None => return Ok(()),
            },
        }
        // Drain what else has arrived before drawing again: one frame for a burst.
        while batch.len() < 512 {
            match net.try_recv() {
                Ok(n) => batch.push(Message::Net(Box::new(n))),
                Err(_) => break,
            }
        }
        for msg in batch {
            if let Message::Terminate(why) = &msg {
                log(state.log_path.as_ref(), &format!("quitting: {why}"));
            }
            if let Message::Net(ev) = &msg {
                match ev.as_ref() {
                    message::NetEvent::Info(t) => log(state.log_path.as_ref(), t),
                    message::NetEvent::Error(e) => log(state.log_path.as_ref(), &e.to_string()),
                    _ => {}
                }
            }
            for effect in update::update(state, msg) {
                if matches!(effect, Effect::Abort) {
                    abort.send_modify(|n| *n += 1);
                }
                let _ = effects.send(effect);
            }
            if let Some(text) = state.clipboard.take()
                && let Some(out) = clipboard.as_mut()
            {
                let _ = out
                    .write_all(copy::osc52(&text).as_bytes())
                    .and_then(|()| out.flush());
            }
        }
        if state.mode.quitting() {
            return Ok(());
        }
    }
}

/// Keys, mouse and resizes from the terminal, and SIGTERM, SIGHUP and a terminal hang-up as
/// messages, so the app quits through its normal path and restores the terminal instead of
/// dying mid-screen.
fn outside_events() -> impl Stream<Item = Message> {
    let (tx, rx) = mpsc::unbounded_channel();
    // Not crossterm's EventStream: on a terminal that hung up, its reader loops on end-of-file
    // inside poll_next, on the executor's own thread, and then nothing else (not even SIGHUP)
    // is ever handled. In a thread of its own that loop cannot stop the app, which quits on
    // the hang-up; the thread dies with the process.
    let input_tx = tx.clone();
    let _ = std::thread::Builder::new()
        .name("terminal-input".into())
        .spawn(move || {
            // A read error is retried (an interrupted read is no reason to go deaf) unless the
            // terminal hung up; a run of errors with no event between them ends the thread, so
            // a permanent failure costs a bounded number of tries, not a spinning core.
            let mut failures = 0u32;
            loop {
                let ev = match ratatui::crossterm::event::read() {
                    Ok(ev) => {
                        failures = 0;
                        ev
                    }
                    Err(_) if hangup::is_hung_up() || failures >= 50 => break,
                    Err(_) => {
                        failures += 1;
                        std::thread::sleep(std::time::Duration::from_millis(20));
                        continue;
                    }
                };
                let msg = match ev {
                    TermEvent::Key(k) => Message::Key(k),
                    TermEvent::Mouse(m) => Message::Mouse(m),
                    TermEvent::Resize(..) => Message::Resize,
                    _ => continue,
                };
                if input_tx.send(msg).is_err() {
                    break;
                }
            }
        });
    #[cfg(unix)]
    {
        use tokio::signal::unix::{SignalKind, signal};
        for (kind, name) in [
            (SignalKind::terminate(), "SIGTERM"),
            (SignalKind::hangup(), "SIGHUP"),
        ] {
            if let Ok(mut sig) = signal(kind) {
                let tx = tx.clone();
                tokio::spawn(async move {
                    if sig.recv().await.is_some() {
                        let _ = tx.send(Message::Terminate(name));
                    }
                });
            }
        }
    }
    // A plain thread: it blocks in poll(2) for the life of the app and is never joined. It
    // watches the terminal crossterm reads: standard input, or /dev/tty when input is not one.
    {
        let hangup_tx = tx.clone();
        let _ = std::thread::Builder::new()
            .name("hangup-watch".into())
            .spawn(move || {
                if hangup::wait_for_hangup() {
                    let _ = hangup_tx.send(Message::Terminate("terminal hang-up"));
                }
            });
    }
    futures::stream::unfold(rx, |mut rx| async move { rx.recv().await.map(|m| (m, rx)) })
}

/// How many of a profile's newest runs the lists' verdicts are read from at start.
const RECALLED_RUNS: usize = 10;

/// Each saved profile's last verdicts from its run history, so that after a restart the
/// scenario and profile lists show what `H` shows rather than "none yet".
fn recall_verdicts(state: &mut State) {
    let Ok(history) = crate::history::History::in_data_dir() else {
        return;
    };
    recall_verdicts_from(state, &history);
}

/// [`recall_verdicts`] from the given history.
pub fn recall_verdicts_from(state: &mut State, history: &crate::history::History) {
    let saved: Vec<String> = state
        .profiles
        .entries
        .iter()
        .filter(|p| p.saved)
        .map(|p| p.name.clone())
        .collect();
    for name in saved {
        if let Ok(found) = history.last_verdicts(&name, RECALLED_RUNS) {
            for (id, verdict) in found {
                if state.verdicts.get(&name, &id).is_none() {
                    state.verdicts.record(&name, &id, verdict);
                }
            }
        }
    }
}

fn load_profiles(notices: &mut Vec<String>) -> Vec<ProfileEntry> {
    match ProfileStore::from_env().and_then(|s| s.list()) {
        Ok(list) => list
            .into_iter()
            .filter_map(|(name, p)| match p {
                Ok(profile) => Some(ProfileEntry {
                    name,
                    profile,
                    saved: true,
                }),
                Err(e) => {
                    notices.push(format!("profile not loaded (file left untouched): {e}"));
                    None
                }
            })
            .collect(),
        Err(e) => {
            notices.push(e.to_string());
            Vec::new()
        }
    }
}

/// The TUI's entry point; returns the process exit code.
pub fn run(opts: TuiOptions) -> u8 {
    let runtime = match tokio::runtime::Builder::new_multi_thread()
        .worker_threads(2)
        .enable_all()
        .build()
    {
        Ok(rt) => rt,
        Err(e) => {
            crate::errln!("smtpscope: cannot start the async runtime: {e}");
            return 1;
        }
    };
    let mut notices = Vec::new();
    let mut profiles = load_profiles(&mut notices);
    let loaded = crate::scenario::Catalogue::for_user();
    notices.extend(
        loaded
            .errors
            .iter()
            .map(|e| format!("scenario not loaded: {e}")),
    );
    let catalogue: Vec<_> = loaded.entries.into_iter().map(|e| e.scenario).collect();
    let log_file = log_path();
    log(log_file.as_ref(), "smtpscope tui starting");

    // A new user with no profiles lands on two practice servers, side by side.
    let mut labs = Vec::new();
    let mut welcome = None;
    let mut compare = Vec::new();
    let quick_name = opts.quick.as_ref().map(|(name, _)| name.clone());
    if let Some((name, profile)) = opts.quick.clone() {
        // A saved profile of the same name stays; the quick target is the one in use.
        profiles.retain(|p| p.name != name);
        profiles.push(ProfileEntry {
            name: name.clone(),
            profile,
            saved: false,
        });
        welcome = Some(format!(
            "{name} is a quick target, not saved: e then Ctrl-S saves it as profile {name}"
        ));
    } else if profiles.is_empty() {
        for (policy, name, tag) in [
            (Policy::OpenRelay, "lab-open", "open"),
            (Policy::Secure, "lab-secure", "secure"),
        ] {
            let config = LabConfig {
                listen: std::net::SocketAddr::from(([127, 0, 0, 1], 0)),
                policy,
                misbehave: Vec::new(),
                store_dir: None,
            };
            match runtime.block_on(Lab::start(config, None)) {
                Ok(lab) => {
                    profiles.push(ProfileEntry {
                        name: name.into(),
                        profile: lab_profile(&lab),
                        saved: false,
                    });
                    compare.push((name.to_string(), tag.to_string()));
                    labs.push(lab);
                }
                Err(e) => notices.push(format!("practice lab did not start: {e}")),
            }
        }
        welcome = Some(
            "Welcome! lab-open is an open relay, lab-secure is not. Run A on both, v compares"
                .to_string(),
        );
    }
    let mut state = State::new(profiles, catalogue);
    recall_verdicts(&mut state);
    if let Some(i) = quick_name.and_then(|n| state.profiles.position(&n)) {
        state.switch_profile(i);
    }
    if let Some(name) = &opts.profile {
        match state.profiles.position(name) {
            Some(i) => state.switch_profile(i),
            None => {
                crate::errln!("smtpscope tui: no profile {name:?} (see `smtpscope profiles list`)");
                return 2;
            }
        }
    }
    state.log_path = log_file.clone();
    state.welcome = welcome;
    state.compare = compare;
    if let Some(n) = notices.first() {
        state.notice = Some((true, n.clone()));
    }
    let mut initial = Vec::new();
    if let Some(id) = &opts.scenario {
        match state.catalogue.iter().position(|s| s.answers_to(id)) {
            Some(i) => {
                state.selected = i;
                initial = update::update(&mut state, Message::StartScenario { run_all: opts.run });
            }
            None => {
                crate::errln!("smtpscope tui: no scenario {id:?} (see `smtpscope scenarios list`)");
                return 2;
            }
        }
    }
    let theme = Theme {
        color: std::env::var_os("NO_COLOR").is_none_or(|v| v.is_empty()),
    };

    // Exports go to the data directory, never to wherever smtpscope was started from.
    let export_dirs = worker::ExportDirs {
        forced: opts.export_dir.clone(),
        default: crate::data_dir::exports_dir()
            .unwrap_or_else(|_| std::env::temp_dir().join("smtpscope-exports")),
    };
    let restore_log = log_file.clone();
    let result = runtime.block_on(async move {
        let (effect_tx, effect_rx) = mpsc::unbounded_channel();
        let (net_tx, net_rx) = mpsc::unbounded_channel();
        let (abort_tx, abort_rx) = watch::channel(0u64);
        let mut worker = worker::Worker::new(net_tx, export_dirs);
        // Every finished scenario run is kept, so a run can be compared with the last one.
        if let Ok(h) = crate::history::History::in_data_dir() {
            worker = worker.with_history(h);
        }
        tokio::spawn(worker.run(effect_rx, abort_rx));
        // ratatui::init sets raw mode and the alternate screen, and installs a panic hook
        // that restores the terminal before the panic message is printed.
        let mut terminal = ratatui::init();
        let _ = ratatui::crossterm::execute!(
            std::io::stdout(),
            ratatui::crossterm::event::EnableMouseCapture
        );
        let events = outside_events();
        if std::env::var_os("SMTPSCOPE_TEST_PANIC").is_some() {
            let _ = terminal.draw(|f| view::view(&state, f, theme));
            // Lets the test suite prove the panic hook restores the terminal.
            panic!("SMTPSCOPE_TEST_PANIC is set: panicking on purpose after the first frame");
        }
        let io = AppIo {
            effects: effect_tx,
            abort: abort_tx,
            net: net_rx,
            on_draw: None,
            clipboard: Some(Box::new(std::io::stdout())),
        };
        let out = run_app(
            &mut terminal,
            &mut state,
            Box::pin(events),
            io,
            theme,
            initial,
        )
        .await;
        let _ = ratatui::crossterm::execute!(
            std::io::stdout(),
            ratatui::crossterm::event::DisableMouseCapture
        );
        // Not ratatui::restore(): it reports failure with eprintln!, which panics when the
        // terminal is gone (a hang-up), and a panic here would skip the clean-up below.
        if let Err(e) = ratatui::try_restore() {
            log(restore_log.as_ref(), &format!("terminal not restored: {e}"));
        }
        if terminal.show_cursor().is_err() {
            // The terminal is gone; Terminal's Drop would eprintln! the same failure and
            // panic, so skip it. It holds no resource that outlives the process.
            std::mem::forget(terminal);
        }
        drop(labs);
        out.map(|()| state.mode.interrupted())
    });
    match result {
        Ok(interrupted) => {
            log(log_file.as_ref(), "smtpscope tui stopped");
            if interrupted {
                crate::exit::Exit::Interrupted.code()
            } else {
                0
            }
        }
        // A frame drawn between the hang-up and its message fails; that is a quit, not an
        // error, and there is no terminal left to tell.
        Err(e) if hangup::is_hung_up() => {
            log(log_file.as_ref(), &format!("terminal hung up ({e})"));
            log(log_file.as_ref(), "smtpscope tui stopped");
            0
        }
        Err(e) => {
            log(log_file.as_ref(), &format!("error: {e}"));
            // Not eprintln!: it panics when stderr is a terminal that has gone away.
            let _ = writeln!(std::io::stderr(), "smtpscope: {e}");
            1
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_frame_that_cannot_be_drawn_says_so_with_its_cause() {
        let e = AppError::Draw(std::io::Error::other("terminal gone"));
        assert_eq!(e.to_string(), "cannot draw: terminal gone");
        assert!(std::error::Error::source(&e).is_none());
    }
}
